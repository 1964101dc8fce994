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

static void reject(import_ctx_t *c, const fleetctl_input_t *in, const char *why,
                   const char *detail)
{
  c->invalid++;
  fprintf(stderr, "%s:%lu: rejected: %s%s\n", in->name, in->lineno, why, detail);
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
    reject(c, in, fleet_error_last(), "");
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

static const char *tag_member(json_t *obj, const char *key, int *bad)
{
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v))
    return NULL;
  if (!json_is_string(v)) {
    *bad = 1;
    return NULL;
  }
  return json_string_value(v);
}

/* Parse a JSON-lines record and send it; -1 only on a fatal error. */
static int import_json(import_ctx_t *c, const fleetctl_input_t *in, size_t file)
{
  json_error_t err;
  json_t *obj = json_loadb(in->line, in->len, 0, &err);
  if (!obj || !json_is_object(obj)) {
    json_decref(obj);
    reject(c, in, "not a JSON object: ", obj ? "another JSON value" : err.text);
    return 0;
  }
  int bad = 0;
  const char *fleet_id = tag_member(obj, FLEET_HISTORY_TAG_FLEET_ID, &bad);
  const char *device_type = tag_member(obj, FLEET_HISTORY_TAG_DEVICE_TYPE, &bad);
  int rc = 0;
  fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
  fleet_telemetry_warnings_t warn;
  if (bad) {
    reject(c, in, "fleet_id and device_type must be strings", "");
  } else if (fleet_telemetry_parse(&rec, &warn, in->line, in->len)) {
    reject(c, in, fleet_error_last(), "");
  } else if (!rec.vehicle_id[0]) {
    reject(c, in, "vehicle_id: missing (each record must name its vehicle)", "");
  } else {
    for (unsigned i = 0; i < warn.count; i++) {
      /* The tags are not payload fields: the parser's notes about them are noise. */
      const char *m = warn.msg[i] + (warn.msg[i][0] == '"');
      if (!strncmp(m, "fleet_id", 8) || !strncmp(m, "device_type", 11))
        continue;
      fprintf(stderr, "%s:%lu: warning: %s\n", in->name, in->lineno, warn.msg[i]);
    }
    rc = send_record(c, in, file, &rec, fleet_id, device_type);
  }
  json_decref(obj);
  return rc;
}

/* ---- CSV ---- */

enum { MAX_COLS = 64 };

typedef struct csv_layout {
  size_t ncols;
  char *names[MAX_COLS];
} csv_layout_t;

static void layout_clear(csv_layout_t *l)
{
  for (size_t i = 0; i < l->ncols; i++)
    free(l->names[i]);
  l->ncols = 0;
}

/* Split one RFC 4180 line in place; returns the field count or -1 (bad quoting / too many). */
static int csv_split(char *line, size_t len, char **fields, int max)
{
  int n = 0;
  size_t i = 0;
  char *w = line;
  for (;;) {
    if (n == max)
      return -1;
    fields[n++] = w;
    if (i < len && line[i] == '"') {
      i++;
      for (;;) {
        if (i >= len)
          return -1;
        if (line[i] == '"') {
          if (i + 1 < len && line[i + 1] == '"') {
            *w++ = '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        *w++ = line[i++];
      }
      if (i < len && line[i] != ',')
        return -1;
    } else {
      while (i < len && line[i] != ',') {
        if (line[i] == '"')
          return -1;
        *w++ = line[i++];
      }
    }
    if (i >= len) {
      *w = '\0';
      return n;
    }
    *w++ = '\0';
    i++; /* the comma */
  }
}

static const char *const known_cols[] = {
  "vehicle_id", "ts", "lat", "lng", "speed", "heading", "ignition", "odometer", "battery_v",
  "engine_temp", "fuel_level", "driver_id", "fleet_id", "device_type", "extras",
};

static int csv_header(csv_layout_t *l, fleetctl_input_t *in, const char *cmd)
{
  char *fields[MAX_COLS];
  int n = csv_split(in->line, in->len, fields, MAX_COLS);
  if (n < 0) {
    fprintf(stderr, "fleetctl %s: %s:%lu: malformed CSV header\n", cmd, in->name, in->lineno);
    return -1;
  }
  int seen_required = 0;
  for (int i = 0; i < n; i++) {
    size_t k;
    for (k = 0; k < sizeof known_cols / sizeof known_cols[0]; k++)
      if (!strcmp(fields[i], known_cols[k]))
        break;
    if (k == sizeof known_cols / sizeof known_cols[0]) {
      fprintf(stderr, "fleetctl %s: %s:%lu: unknown CSV column '%s'\n", cmd, in->name,
              in->lineno, fields[i]);
      return -1;
    }
    for (int j = 0; j < i; j++)
      if (!strcmp(fields[i], fields[j])) {
        fprintf(stderr, "fleetctl %s: %s:%lu: column '%s' appears twice\n", cmd, in->name,
                in->lineno, fields[i]);
        return -1;
      }
    if (k < 4)
      seen_required++;
  }
  if (seen_required != 4) {
    fprintf(stderr, "fleetctl %s: %s:%lu: the CSV header needs vehicle_id, ts, lat and lng\n",
            cmd, in->name, in->lineno);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    l->names[i] = strdup(fields[i]);
    if (!l->names[i]) {
      l->ncols = (size_t)i;
      return -1;
    }
  }
  l->ncols = (size_t)n;
  return 0;
}

/* Build the payload object of a CSV row; returns NULL with *why set. */
static json_t *csv_object(const csv_layout_t *l, char **fields, const char **why,
                          const char **fleet_id, const char **device_type)
{
  json_t *obj = json_object();
  if (!obj || json_object_set_new(obj, "v", json_integer(1))) {
    *why = "out of memory";
    json_decref(obj);
    return NULL;
  }
  for (size_t i = 0; i < l->ncols; i++) {
    const char *name = l->names[i];
    const char *cell = fields[i];
    if (!*cell)
      continue; /* absent */
    json_t *v = NULL;
    if (!strcmp(name, "fleet_id")) {
      *fleet_id = cell;
      continue;
    } else if (!strcmp(name, "device_type")) {
      *device_type = cell;
      continue;
    } else if (!strcmp(name, "vehicle_id") || !strcmp(name, "ts") ||
               !strcmp(name, "driver_id")) {
      v = json_string(cell);
    } else if (!strcmp(name, "ignition")) {
      if (!strcmp(cell, "true") || !strcmp(cell, "1"))
        v = json_true();
      else if (!strcmp(cell, "false") || !strcmp(cell, "0"))
        v = json_false();
      else {
        *why = "ignition: expected true or false";
        json_decref(obj);
        return NULL;
      }
    } else if (!strcmp(name, "extras")) {
      json_t *x = json_loads(cell, 0, NULL);
      if (!json_is_object(x)) {
        json_decref(x);
        *why = "extras: expected a JSON object such as {\"rpm\":2100}";
        json_decref(obj);
        return NULL;
      }
      const char *k;
      json_t *xv;
      json_object_foreach(x, k, xv) {
        if (json_object_get(obj, k)) {
          json_decref(x);
          *why = "extras: a name repeats a column";
          json_decref(obj);
          return NULL;
        }
        json_object_set(obj, k, xv);
      }
      json_decref(x);
      continue;
    } else {
      /* A number column: the cell must be a JSON number. */
      v = json_loads(cell, JSON_DECODE_ANY, NULL);
      if (!json_is_number(v)) {
        json_decref(v);
        *why = name;
        json_decref(obj);
        return NULL;
      }
    }
    if (!v || json_object_set_new(obj, name, v)) {
      *why = "out of memory";
      json_decref(obj);
      return NULL;
    }
  }
  return obj;
}

static int import_csv_row(import_ctx_t *c, const csv_layout_t *l, fleetctl_input_t *in,
                          size_t file)
{
  char *fields[MAX_COLS];
  int n = csv_split(in->line, in->len, fields, MAX_COLS);
  if (n < 0) {
    reject(c, in, "malformed CSV (quotes)", "");
    return 0;
  }
  if ((size_t)n != l->ncols) {
    char why[64];
    snprintf(why, sizeof why, "%d fields, the header has %zu", n, l->ncols);
    reject(c, in, why, "");
    return 0;
  }
  const char *why = NULL, *fleet_id = NULL, *device_type = NULL;
  json_t *obj = csv_object(l, fields, &why, &fleet_id, &device_type);
  if (!obj) {
    if (why && strchr(why, ':'))
      reject(c, in, why, "");
    else
      reject(c, in, why, ": not a number");
    return 0;
  }
  char *text = json_dumps(obj, JSON_COMPACT);
  json_decref(obj);
  if (!text) {
    fprintf(stderr, "fleetctl %s: out of memory\n", c->cmd);
    return -1;
  }
  fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
  fleet_telemetry_warnings_t warn;
  int rc = 0;
  if (fleet_telemetry_parse(&rec, &warn, text, strlen(text))) {
    reject(c, in, fleet_error_last(), "");
  } else {
    for (unsigned i = 0; i < warn.count; i++)
      fprintf(stderr, "%s:%lu: warning: %s\n", in->name, in->lineno, warn.msg[i]);
    rc = send_record(c, in, file, &rec, fleet_id, device_type);
  }
  free(text);
  return rc;
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
      char *end;
      errno = 0;
      timeout_ms = strtoul(argv[++i], &end, 10);
      if (errno || *end || timeout_ms == 0 || timeout_ms > 86400000UL) {
        fprintf(stderr, "fleetctl %s: --timeout-ms: '%s' is not in 1..86400000\n", cmd,
                argv[i]);
        goto out;
      }
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

  fleetctl_input_t in;
  fleetctl_input_init(&in, "fleetctl import", files, nfiles);
  csv_layout_t layout = {0, {NULL}};
  size_t cur = SIZE_MAX;
  int is_csv = 0, have_header = 0, fatal = 0;
  while (!fatal && fleetctl_input_next(&in)) {
    size_t file = in.next - 1;
    if (file != cur) {
      cur = file;
      have_header = 0;
      is_csv = -1;
      layout_clear(&layout);
    }
    if (fleetctl_line_blank(in.line, in.len))
      continue;
    if (memchr(in.line, '\0', in.len)) {
      c.records++;
      reject(&c, &in, "a NUL byte in the line", "");
      continue;
    }
    if (is_csv < 0)
      is_csv = in.line[strspn(in.line, " \t")] != '{';
    if (is_csv && !have_header) {
      if (csv_header(&layout, &in, cmd)) {
        fatal = 1;
        break;
      }
      have_header = 1;
      continue;
    }
    c.records++;
    if ((is_csv ? import_csv_row(&c, &layout, &in, file) : import_json(&c, &in, file)) < 0)
      fatal = 1;
  }
  layout_clear(&layout);
  int io_error = in.io_error;
  fleetctl_input_close(&in);

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
