/*
 * fleetctl import: bulk backfill of telemetry files through the InfluxDB
 * writer. Input: JSON lines (the device payload plus vehicle_id and optional
 * fleet_id / device_type, as `fleetctl export` writes them) or CSV with a
 * header line (the columns of `fleetctl export --format csv`). The format is
 * told apart per file by its first non-blank line.
 *
 * Every record is validated like a device payload. Invalid records are
 * reported with their file and line number and not sent; records the server
 * refuses (a type conflict, older than the retention) come back through the
 * writer's dead-letter file and are reported with their line number too.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <fleet/fleet.h>

#include "fleetctl.h"
#include "influxopts.h"
#include "input.h"
#include "records.h"

/* Where each sent line came from, found again by the hash of its text. */
typedef struct origin {
  uint64_t hash;
  size_t file;
  unsigned long line;
} origin_t;

typedef struct import_ctx {
  const char *cmd;
  fleet_influx_writer_t *w;
  fleet_buf_t lp;
  origin_t *origins;
  size_t norigins, cap;
  unsigned long records, invalid;
  const char **names; /* display name per input file */
  size_t nfiles;
} import_ctx_t;

static uint64_t fnv1a(const char *s, size_t n)
{
  uint64_t h = UINT64_C(14695981039346656037);
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= UINT64_C(1099511628211);
  }
  return h;
}

static void on_log(int level, const char *message, void *ud)
{
  const char *cmd = ud;
  /* Dead letters are reported from the file, with their line numbers. */
  if (strstr(message, "dead letter"))
    return;
  fprintf(stderr, "fleetctl %s: %s%s\n", cmd, level == FLEET_INFLUX_LOG_ERROR ? "error: " : "",
          message);
}

static void reject(import_ctx_t *c, const fleetctl_input_t *in, const char *why)
{
  c->invalid++;
  fprintf(stderr, "%s:%lu: rejected: %s\n", in->name, in->lineno, why);
}

static int remember(import_ctx_t *c, const char *line, size_t len, size_t file,
                    unsigned long lineno)
{
  if (c->norigins == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 1024;
    origin_t *o = realloc(c->origins, cap * sizeof *o);
    if (!o)
      return -1;
    c->origins = o;
    c->cap = cap;
  }
  c->origins[c->norigins++] = (origin_t){fnv1a(line, len), file, lineno};
  return 0;
}

/* Encode and enqueue one valid record; returns 0, or -1 after a fatal error. */
static int send_record(import_ctx_t *c, const fleetctl_input_t *in, size_t file,
                       const fleet_telemetry_t *rec, const char *fleet_id,
                       const char *device_type)
{
  fleet_lp_tag_t tags[2];
  size_t ntags = 0;
  if (fleet_id && *fleet_id)
    tags[ntags++] = (fleet_lp_tag_t){FLEET_HISTORY_TAG_FLEET_ID, fleet_id};
  if (device_type && *device_type)
    tags[ntags++] = (fleet_lp_tag_t){FLEET_HISTORY_TAG_DEVICE_TYPE, device_type};
  fleet_buf_clear(&c->lp);
  if (fleet_lp_encode_telemetry(&c->lp, rec, FLEET_HISTORY_M_TELEMETRY, tags, ntags)) {
    reject(c, in, fleet_error_last());
    return 0;
  }
  size_t len = c->lp.len;
  while (len && c->lp.ptr[len - 1] == '\n')
    len--;
  if (remember(c, c->lp.ptr, len, file, in->lineno)) {
    fprintf(stderr, "fleetctl %s: out of memory\n", c->cmd);
    return -1;
  }
  int rc = fleet_influx_writer_write_lines(c->w, c->lp.ptr, c->lp.len);
  if (rc == FLEET_EFULL) {
    /* The memory queue is full: let the writer catch up, then try again. */
    fleet_influx_writer_flush(c->w, 60000);
    rc = fleet_influx_writer_write_lines(c->w, c->lp.ptr, c->lp.len);
  }
  if (rc) {
    fprintf(stderr, "fleetctl %s: %s:%lu: %s\n", c->cmd, in->name, in->lineno,
            fleet_error_last());
    c->norigins--;
    return -1;
  }
  return 0;
}

static int cmp_origin(const void *a, const void *b)
{
  uint64_t x = ((const origin_t *)a)->hash, y = ((const origin_t *)b)->hash;
  return x < y ? -1 : x > y;
}

/* Report each dead-lettered line with where it came from. Returns how many. */
static unsigned long report_dead_letters(import_ctx_t *c, const char *path)
{
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  qsort(c->origins, c->norigins, sizeof *c->origins, cmp_origin);
  unsigned long n = 0;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, f)) > 0) {
    json_t *e = json_loadb(line, (size_t)len, 0, NULL);
    const char *lp = json_string_value(json_object_get(e, "line"));
    const char *reason = json_string_value(json_object_get(e, "reason"));
    if (lp) {
      origin_t key = {fnv1a(lp, strlen(lp)), 0, 0};
      origin_t *o = bsearch(&key, c->origins, c->norigins, sizeof key, cmp_origin);
      if (o)
        fprintf(stderr, "%s:%lu: rejected by InfluxDB: %s\n", c->names[o->file], o->line,
                reason ? reason : "(no reason given)");
      else
        fprintf(stderr, "fleetctl %s: rejected by InfluxDB: %s: %s\n", c->cmd,
                reason ? reason : "(no reason given)", lp);
      n++;
    }
    json_decref(e);
  }
  free(line);
  fclose(f);
  return n;
}

static void usage(FILE *out)
{
  fprintf(out,
          "usage: fleetctl import [--timeout-ms N] [--dead-letter FILE] [OPTIONS] FILE...\n\n"
          "Store telemetry files in the raw database through the batching writer.\n"
          "FILE is JSON lines (as `fleetctl export` writes: payload + vehicle_id, optional\n"
          "fleet_id and device_type) or CSV with a header (vehicle_id,ts,lat,lng and any of\n"
          "speed,heading,ignition,odometer,battery_v,engine_temp,fuel_level,driver_id,\n"
          "fleet_id,device_type,extras); '-' reads standard input. Reports how many\n"
          "records were stored and rejected; each rejected record is named on stderr with\n"
          "its file and line. Exit status 1 when any record was rejected.\n"
          "  --timeout-ms N      wait at most this long for the server at the end "
          "(default 60000)\n"
          "  --dead-letter FILE  also keep the records the server refused in FILE\n\n");
  influxopts_usage(out);
}

int cmd_import(int argc, char **argv)
{
  const char *cmd = "import";
  influxopts_t o;
  if (influxopts_init(&o, cmd))
    return FLEETCTL_USAGE;
  unsigned long timeout_ms = 60000;
  const char *dead_letter = NULL;
  char **files = calloc((size_t)argc + 1, sizeof *files);
  const char **names = calloc((size_t)argc + 1, sizeof *names);
  size_t nfiles = 0;
  if (!files || !names) {
    free(files);
    free(names);
    return FLEETCTL_FAIL;
  }
  int status = FLEETCTL_USAGE;
  for (int i = 1; i < argc; i++) {
    int r = influxopts_parse(&o, cmd, argc, argv, &i);
    if (r < 0)
      goto out;
    if (r > 0)
      continue;
    const char *opt = argv[i];
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
      usage(stdout);
      status = FLEETCTL_OK;
      goto out;
    } else if (!strcmp(opt, "--timeout-ms") && i + 1 < argc) {
      if (parse_timeout_ms(&timeout_ms, argv[++i], cmd))
        goto out;
    } else if (!strcmp(opt, "--dead-letter") && i + 1 < argc) {
      dead_letter = argv[++i];
    } else if (opt[0] == '-' && opt[1]) {
      fprintf(stderr, "fleetctl %s: unknown or incomplete option '%s'\n", cmd, opt);
      usage(stderr);
      goto out;
    } else {
      files[nfiles++] = argv[i];
    }
  }
  if (!nfiles) {
    fprintf(stderr, "fleetctl %s: no input files ('-' for standard input)\n", cmd);
    goto out;
  }
  if (influxopts_finish(&o, cmd))
    goto out;
  status = FLEETCTL_FAIL;
  if (!fleetctl_input_check("fleetctl import", files, nfiles))
    goto out;

  for (size_t i = 0; i < nfiles; i++)
    names[i] = strcmp(files[i], "-") ? files[i] : FLEETCTL_STDIN_NAME;
  /* The server's refusals come back through a dead-letter file, so that they
   * can be matched to their input lines. */
  char path[4096];
  const char *dl_path = dead_letter;
  if (!dl_path) {
    const char *tmpdir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/fleetctl-import-XXXXXX",
             tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
      fprintf(stderr, "fleetctl %s: cannot create a temporary file: %s\n", cmd,
              strerror(errno));
      goto out;
    }
    close(fd);
    dl_path = path;
  }

  fleet_influx_writer_opts_t wo;
  fleet_influx_writer_opts_init(&wo, FLEET_INFLUX_WRITER_OPTS_VERSION);
  wo.dead_letter_path = dl_path;
  wo.log_cb = on_log;
  wo.log_userdata = (void *)cmd;
  wo.log_level = FLEET_INFLUX_LOG_WARNING;
  import_ctx_t c;
  memset(&c, 0, sizeof c);
  c.cmd = cmd;
  c.names = names;
  c.nfiles = nfiles;
  if (fleet_influx_writer_new(&c.w, &o.cfg, &wo)) {
    fprintf(stderr, "fleetctl %s: %s\n", cmd, fleet_error_last());
    if (!dead_letter)
      unlink(dl_path);
    goto out;
  }

  fleetctl_records_t rd;
  fleetctl_records_init(&rd, "fleetctl import", files, nfiles, FLEETCTL_RECORDS_EXPORT, NULL);
  fleet_telemetry_t rec;
  fleetctl_record_status_t got;
  int fatal = 0;
  while (!fatal && (got = fleetctl_records_read(&rd, &rec)) != FLEETCTL_RECORD_END) {
    if (got == FLEETCTL_RECORD_FATAL) {
      fatal = 1;
      break;
    }
    c.records++;
    if (got == FLEETCTL_RECORD_INVALID) {
      reject(&c, &rd.in, rd.why);
      continue;
    }
    for (unsigned int i = 0; i < rd.warn.count; i++)
      fprintf(stderr, "%s:%lu: warning: %s\n", rd.in.name, rd.in.lineno, rd.warn.msg[i]);
    if (send_record(&c, &rd.in, rd.in.next - 1, &rec, rd.fleet_id, rd.device_type) < 0)
      fatal = 1;
  }
  int io_error = !fleetctl_records_close(&rd);

  int flush_rc = fleet_influx_writer_flush(c.w, (unsigned int)timeout_ms);
  int close_rc = fleet_influx_writer_close(c.w, flush_rc ? 0 : (unsigned int)timeout_ms);
  fleet_influx_writer_stats_t st;
  memset(&st, 0, sizeof st);
  st.version = FLEET_INFLUX_WRITER_STATS_VERSION;
  fleet_influx_writer_get_stats(&st, c.w);
  fleet_influx_writer_free(c.w);
  report_dead_letters(&c, dl_path);
  if (!dead_letter)
    unlink(dl_path);
  uint64_t pending = st.points_enqueued - st.points_written - st.points_dead_lettered;
  printf("import: %lu records: %llu stored, %llu rejected (%lu invalid, %llu refused by "
         "InfluxDB)",
         c.records, (unsigned long long)st.points_written,
         (unsigned long long)(c.invalid + st.points_dead_lettered), c.invalid,
         (unsigned long long)st.points_dead_lettered);
  if (pending)
    printf(", %llu not delivered", (unsigned long long)pending);
  printf("\n");
  if (flush_rc || close_rc)
    fprintf(stderr, "fleetctl %s: InfluxDB did not take everything in time: %s\n", cmd,
            st.last_error[0] ? st.last_error : fleet_strerror(flush_rc ? flush_rc : close_rc));
  status = (fatal || io_error || c.invalid || st.points_dead_lettered || pending || flush_rc ||
            close_rc)
             ? FLEETCTL_FAIL
             : FLEETCTL_OK;
  fleet_buf_dispose(&c.lp);
  free(c.origins);
out:
  free(files);
  free(names);
  return status;
}
