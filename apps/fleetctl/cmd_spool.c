/*
 * fleetctl spool status|replay: look into the InfluxDB writer's disk spool,
 * or push it to InfluxDB now. The spool is locked while a process has it open,
 * so both refuse to run beside a fleetd that uses the same directory.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <fleet/fleet.h>

#include "fleetctl.h"
#include "influxopts.h"

static void usage(FILE *out)
{
  fprintf(out,
          "usage: fleetctl spool status --spool-dir DIR\n"
          "       fleetctl spool replay --spool-dir DIR [--timeout-ms N] [--dead-letter FILE] "
          "[OPTIONS]\n\n"
          "status: unacknowledged records, bytes on disk, segments, and the oldest record\n"
          "        (its sequence number and earliest point time).\n"
          "replay: send the spooled line protocol to InfluxDB now (oldest first) and wait\n"
          "        until it is delivered (default at most 60000 ms). Exit status 1 when\n"
          "        something is left or was refused.\n\n");
  influxopts_usage(out);
}

/* The earliest timestamp among the lines of a line-protocol payload. */
static int earliest_point(int64_t *out, const char *p, size_t len)
{
  int found = 0;
  for (size_t s = 0; s < len;) {
    const char *nl = memchr(p + s, '\n', len - s);
    size_t e = nl ? (size_t)(nl - p) : len;
    size_t k = e;
    while (k > s && p[k - 1] >= '0' && p[k - 1] <= '9')
      k--;
    if (k < e && k > s && (p[k - 1] == ' ' || p[k - 1] == '-')) {
      char num[24];
      size_t start = p[k - 1] == '-' ? k - 1 : k;
      if (e - start < sizeof num) {
        memcpy(num, p + start, e - start);
        num[e - start] = '\0';
        errno = 0;
        long long v = strtoll(num, NULL, 10);
        if (!errno && (!found || v < *out)) {
          *out = v;
          found = 1;
        }
      }
    }
    s = e + 1;
  }
  return found;
}

static int status_cmd(const char *dir)
{
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    fprintf(stderr, "fleetctl spool status: no spool directory at %s\n", dir);
    return FLEETCTL_FAIL;
  }
  fleet_spool_t *sp;
  if (fleet_spool_open(&sp, dir, NULL)) {
    fprintf(stderr, "fleetctl spool status: %s%s\n", fleet_error_last(),
            fleet_error_last_code() == FLEET_ESTATE ? " (is fleetd running on it?)" : "");
    return FLEETCTL_FAIL;
  }
  if (fleet_error_last_code() == FLEET_ECORRUPT)
    fprintf(stderr, "fleetctl spool status: repaired: %s\n", fleet_error_last());
  fleet_spool_stats_t st;
  memset(&st, 0, sizeof st);
  st.version = FLEET_SPOOL_STATS_VERSION;
  fleet_spool_get_stats(&st, sp);
  printf("spool: %s\nrecords: %" PRIu64 "\nbytes: %" PRIu64 "\nsegments: %" PRIu64 "\n", dir,
         st.records, st.bytes, st.segments);
  fleet_buf_t rec = FLEET_BUF_INIT;
  uint64_t seq = 0;
  int rc = fleet_spool_peek(&rec, &seq, sp);
  int status = FLEETCTL_OK;
  if (rc == 0) {
    int64_t ts = 0;
    size_t lines = 0;
    for (size_t i = 0; i < rec.len; i++)
      lines += rec.ptr[i] == '\n';
    if (rec.len && rec.ptr[rec.len - 1] != '\n')
      lines++;
    printf("oldest: record %" PRIu64 " (%zu bytes, %zu lines)", seq, rec.len, lines);
    if (earliest_point(&ts, rec.ptr, rec.len)) {
      char t[FLEET_TIME_STRLEN];
      fleet_time_format(t, ts);
      printf(", earliest point %s", t);
    }
    printf("\n");
  } else if (rc == FLEET_ENOTFOUND) {
    printf("oldest: none (empty)\n");
  } else {
    fprintf(stderr, "fleetctl spool status: %s\n", fleet_error_last());
    status = FLEETCTL_FAIL;
  }
  fleet_buf_dispose(&rec);
  fleet_spool_free(sp);
  return status;
}

static void on_log(int level, const char *message, void *ud)
{
  (void)ud;
  fprintf(stderr, "fleetctl spool replay: %s%s\n",
          level == FLEET_INFLUX_LOG_ERROR ? "error: " : "", message);
}

static int replay_cmd(influxopts_t *o, const char *dir, unsigned long timeout_ms,
                      const char *dead_letter)
{
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    fprintf(stderr, "fleetctl spool replay: no spool directory at %s\n", dir);
    return FLEETCTL_FAIL;
  }
  fleet_influx_writer_opts_t wo;
  fleet_influx_writer_opts_init(&wo, FLEET_INFLUX_WRITER_OPTS_VERSION);
  wo.spool_dir = dir;
  wo.dead_letter_path = dead_letter;
  wo.log_cb = on_log;
  wo.log_level = FLEET_INFLUX_LOG_WARNING;
  fleet_influx_writer_t *w;
  if (fleet_influx_writer_new(&w, &o->cfg, &wo)) {
    fprintf(stderr, "fleetctl spool replay: %s%s\n", fleet_error_last(),
            fleet_error_last_code() == FLEET_ESTATE ? " (is fleetd running on it?)" : "");
    return FLEETCTL_FAIL;
  }
  int flush_rc = fleet_influx_writer_flush(w, (unsigned int)timeout_ms);
  int close_rc = fleet_influx_writer_close(w, 0);
  fleet_influx_writer_stats_t st;
  memset(&st, 0, sizeof st);
  st.version = FLEET_INFLUX_WRITER_STATS_VERSION;
  fleet_influx_writer_get_stats(&st, w);
  fleet_influx_writer_free(w);
  /* What is left: reopen the spool (the writer has released it). */
  uint64_t left = 0;
  fleet_spool_t *sp;
  if (fleet_spool_open(&sp, dir, NULL) == 0) {
    fleet_spool_stats_t ss;
    memset(&ss, 0, sizeof ss);
    ss.version = FLEET_SPOOL_STATS_VERSION;
    fleet_spool_get_stats(&ss, sp);
    left = ss.records;
    fleet_spool_free(sp);
  }
  printf("replay: %" PRIu64 " batches replayed, %" PRIu64 " points stored, %" PRIu64
         " refused by InfluxDB, %" PRIu64 " records left in the spool\n",
         st.batches_replayed, st.points_written, st.points_dead_lettered, left);
  if (flush_rc)
    fprintf(stderr, "fleetctl spool replay: not everything was delivered: %s\n",
            st.last_error[0] ? st.last_error : fleet_strerror(flush_rc));
  return (flush_rc || close_rc || left || st.points_dead_lettered) ? FLEETCTL_FAIL
                                                                   : FLEETCTL_OK;
}

int cmd_spool(int argc, char **argv)
{
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? FLEETCTL_USAGE : FLEETCTL_OK;
  }
  const char *sub = argv[1];
  int replay = !strcmp(sub, "replay");
  if (!replay && strcmp(sub, "status")) {
    fprintf(stderr, "fleetctl spool: unknown subcommand '%s' (expected status or replay)\n",
            sub);
    return FLEETCTL_USAGE;
  }
  const char *cmd = replay ? "spool replay" : "spool status";
  influxopts_t o;
  if (influxopts_init(&o, cmd))
    return FLEETCTL_USAGE;
  const char *dir = getenv("FLEET_SPOOL_DIR");
  const char *dead_letter = NULL;
  unsigned long timeout_ms = 60000;
  for (int i = 2; i < argc; i++) {
    int r = replay ? influxopts_parse(&o, cmd, argc, argv, &i) : 0;
    if (r < 0)
      return FLEETCTL_USAGE;
    if (r > 0)
      continue;
    const char *opt = argv[i];
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
      usage(stdout);
      return FLEETCTL_OK;
    } else if (!strcmp(opt, "--spool-dir") && i + 1 < argc) {
      dir = argv[++i];
    } else if (replay && !strcmp(opt, "--dead-letter") && i + 1 < argc) {
      dead_letter = argv[++i];
    } else if (replay && !strcmp(opt, "--timeout-ms") && i + 1 < argc) {
      if (parse_timeout_ms(&timeout_ms, argv[++i], cmd))
        return FLEETCTL_USAGE;
    } else {
      fprintf(stderr, "fleetctl %s: unknown or incomplete option '%s'\n", cmd, opt);
      usage(stderr);
      return FLEETCTL_USAGE;
    }
  }
  if (!dir || !*dir) {
    fprintf(stderr, "fleetctl %s: --spool-dir DIR is required (or FLEET_SPOOL_DIR)\n", cmd);
    return FLEETCTL_USAGE;
  }
  if (!replay)
    return status_cmd(dir);
  if (influxopts_finish(&o, cmd))
    return FLEETCTL_USAGE;
  return replay_cmd(&o, dir, timeout_ms, dead_letter);
}
