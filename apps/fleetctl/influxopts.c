/* fleetctl: shared InfluxDB options, time arguments and number formatting. */
#include "influxopts.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleetctl.h"

static int set_field(char *dst, size_t cap, const char *value, const char *cmd,
                     const char *opt)
{
  size_t n = strlen(value);
  if (n >= cap) {
    fprintf(stderr, "fleetctl %s: %s: value longer than %zu bytes\n", cmd, opt, cap - 1);
    return -1;
  }
  memcpy(dst, value, n + 1);
  return 0;
}

int read_secret_file(char *out, size_t cap, const char *path, const char *cmd)
{
  FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!f) {
    fprintf(stderr, "fleetctl %s: cannot open %s: %s\n", cmd, path, strerror(errno));
    return -1;
  }
  size_t n = fread(out, 1, cap - 1, f);
  int more = fgetc(f) != EOF;
  int err = ferror(f);
  if (f != stdin)
    fclose(f);
  if (err || more) {
    fprintf(stderr, "fleetctl %s: %s: %s\n", cmd, path,
            err ? "read error" : "file too long for a secret");
    memset(out, 0, cap);
    return -1;
  }
  while (n > 0 && isspace((unsigned char)out[n - 1]))
    n--;
  out[n] = '\0';
  if (memchr(out, '\0', n) || strpbrk(out, "\r\n")) {
    fprintf(stderr, "fleetctl %s: %s: must hold one line\n", cmd, path);
    memset(out, 0, cap);
    return -1;
  }
  return 0;
}

int influxopts_init(influxopts_t *o, const char *cmd)
{
  memset(o, 0, sizeof *o);
  fleet_influx_config_init(&o->cfg, FLEET_INFLUX_CONFIG_VERSION);
  if (fleet_influx_config_from_env(&o->cfg, NULL)) {
    fprintf(stderr, "fleetctl %s: environment: %s\n", cmd, fleet_error_last());
    return FLEETCTL_USAGE;
  }
  return 0;
}

static const char *next_arg(int argc, char **argv, int *i, const char *cmd)
{
  if (*i + 1 >= argc) {
    fprintf(stderr, "fleetctl %s: %s needs a value\n", cmd, argv[*i]);
    return NULL;
  }
  return argv[++*i];
}

int influxopts_parse(influxopts_t *o, const char *cmd, int argc, char **argv, int *i)
{
  const char *opt = argv[*i];
  const char *v;
#define NAME(s) (!strcmp(opt, s))
  if (NAME("--influx")) {
    if (!(v = next_arg(argc, argv, i, cmd)))
      return -1;
    return set_field(o->cfg.url, sizeof o->cfg.url, v, cmd, opt) ? -1 : 1;
  }
  if (NAME("--influx-api")) {
    if (!(v = next_arg(argc, argv, i, cmd)))
      return -1;
    if (!strcmp(v, "v1") || !strcmp(v, "1"))
      o->cfg.api = FLEET_INFLUX_API_V1;
    else if (!strcmp(v, "v2") || !strcmp(v, "2"))
      o->cfg.api = FLEET_INFLUX_API_V2;
    else if (!strcmp(v, "v3") || !strcmp(v, "3"))
      o->cfg.api = FLEET_INFLUX_API_V3;
    else {
      fprintf(stderr, "fleetctl %s: --influx-api: '%s' is not v1, v2 or v3\n", cmd, v);
      return -1;
    }
    return 1;
  }
  if (NAME("--db") || NAME("--bucket") || NAME("--raw-db")) {
    if (!(v = next_arg(argc, argv, i, cmd)))
      return -1;
    return set_field(o->raw_db, sizeof o->raw_db, v, cmd, opt) ? -1 : 1;
  }
  if (NAME("--downsampled-db")) {
    if (!(v = next_arg(argc, argv, i, cmd)))
      return -1;
    return set_field(o->downsampled_db, sizeof o->downsampled_db, v, cmd, opt) ? -1 : 1;
  }
  if (NAME("--raw-rp") || NAME("--rp")) {
    if (!(v = next_arg(argc, argv, i, cmd)))
      return -1;
    return set_field(o->raw_rp, sizeof o->raw_rp, v, cmd, opt) ? -1 : 1;
  }
  if (NAME("--downsampled-rp")) {
    if (!(v = next_arg(argc, argv, i, cmd)))
      return -1;
    return set_field(o->downsampled_rp, sizeof o->downsampled_rp, v, cmd, opt) ? -1 : 1;
  }
  if (NAME("--org")) {
    if (!(v = next_arg(argc, argv, i, cmd)))
      return -1;
    return set_field(o->cfg.org, sizeof o->cfg.org, v, cmd, opt) ? -1 : 1;
  }
  if (NAME("--username")) {
    if (!(v = next_arg(argc, argv, i, cmd)))
      return -1;
    return set_field(o->cfg.username, sizeof o->cfg.username, v, cmd, opt) ? -1 : 1;
  }
  if (NAME("--token-file")) {
    if (!(v = next_arg(argc, argv, i, cmd)))
      return -1;
    return read_secret_file(o->cfg.token, sizeof o->cfg.token, v, cmd) ? -1 : 1;
  }
  if (NAME("--password-file")) {
    if (!(v = next_arg(argc, argv, i, cmd)))
      return -1;
    return read_secret_file(o->cfg.password, sizeof o->cfg.password, v, cmd) ? -1 : 1;
  }
  if (NAME("--ca-file")) {
    if (!(v = next_arg(argc, argv, i, cmd)))
      return -1;
    return set_field(o->cfg.ca_file, sizeof o->cfg.ca_file, v, cmd, opt) ? -1 : 1;
  }
  if (NAME("--chunk-size")) {
    if (!(v = next_arg(argc, argv, i, cmd)))
      return -1;
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || *end || !*v || n == 0 || n > FLEET_HISTORY_MAX_CHUNK_SIZE) {
      fprintf(stderr, "fleetctl %s: --chunk-size: '%s' is not in 1..%d\n", cmd, v,
              FLEET_HISTORY_MAX_CHUNK_SIZE);
      return -1;
    }
    o->chunk_size = (unsigned int)n;
    return 1;
  }
  if (NAME("--token")) {
    fprintf(stderr, "fleetctl %s: --token is not accepted (command lines are visible to "
                    "other users); use FLEET_INFLUX_TOKEN or --token-file FILE\n", cmd);
    return -1;
  }
#undef NAME
  return 0;
}

int influxopts_finish(influxopts_t *o, const char *cmd)
{
  if (!o->raw_db[0])
    snprintf(o->raw_db, sizeof o->raw_db, "%s",
             o->cfg.database[0] ? o->cfg.database : FLEET_HISTORY_DB_RAW);
  if (!o->downsampled_db[0])
    snprintf(o->downsampled_db, sizeof o->downsampled_db, "%s", FLEET_HISTORY_DB_DOWNSAMPLED);
  if (!o->raw_rp[0] && o->cfg.retention_policy[0])
    snprintf(o->raw_rp, sizeof o->raw_rp, "%s", o->cfg.retention_policy);
  /* Writes (import, spool replay) go to the raw tier. */
  snprintf(o->cfg.database, sizeof o->cfg.database, "%s", o->raw_db);
  snprintf(o->cfg.retention_policy, sizeof o->cfg.retention_policy, "%s",
           o->cfg.api == FLEET_INFLUX_API_V1 ? o->raw_rp : "");
  if (fleet_influx_config_validate(&o->cfg)) {
    fprintf(stderr, "fleetctl %s: %s\n", cmd, fleet_error_last());
    return -1;
  }
  return 0;
}

void influxopts_usage(FILE *out)
{
  fprintf(out,
          "InfluxDB options (defaults from FLEET_INFLUX_* environment variables):\n"
          "  --influx URL           server base URL (FLEET_INFLUX_URL, default "
          "http://127.0.0.1:8086)\n"
          "  --influx-api v1|v2|v3  HTTP API (FLEET_INFLUX_API, default v1)\n"
          "  --db, --bucket NAME    raw telemetry database or bucket (FLEET_INFLUX_DB, "
          "default " FLEET_HISTORY_DB_RAW ")\n"
          "  --raw-db NAME          same as --db\n"
          "  --downsampled-db NAME  hourly and event database (default "
          FLEET_HISTORY_DB_DOWNSAMPLED ")\n"
          "  --raw-rp, --downsampled-rp NAME  v1 retention policies (default: the "
          "database's default)\n"
          "  --org ORG              v2 organisation (FLEET_INFLUX_ORG)\n"
          "  --username USER        v1 user; password from FLEET_INFLUX_PASSWORD or "
          "--password-file\n"
          "  --token-file FILE      API token file (or FLEET_INFLUX_TOKEN; never on the "
          "command line)\n"
          "  --ca-file FILE         CA bundle for https\n"
          "  --chunk-size N         rows per streamed chunk of a query (default %d)\n",
          FLEET_HISTORY_DEFAULT_CHUNK_SIZE);
}

int influxopts_history(fleet_history_t **out, const influxopts_t *o, const char *cmd)
{
  fleet_history_opts_t ho;
  fleet_history_opts_init(&ho, FLEET_HISTORY_OPTS_VERSION);
  ho.raw_db = o->raw_db;
  ho.raw_rp = o->raw_rp;
  ho.downsampled_db = o->downsampled_db;
  ho.downsampled_rp = o->downsampled_rp;
  ho.chunk_size = o->chunk_size;
  if (fleet_history_new(out, &o->cfg, &ho)) {
    fprintf(stderr, "fleetctl %s: %s\n", cmd, fleet_error_last());
    return -1;
  }
  return 0;
}

int parse_timeout_ms(unsigned long *out, const char *arg, const char *cmd)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul(arg, &end, 10);
  if (errno || *end || v == 0 || v > 86400000UL) {
    fprintf(stderr, "fleetctl %s: --timeout-ms: '%s' is not in 1..86400000\n", cmd, arg);
    return -1;
  }
  *out = v;
  return 0;
}

int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int parse_time_arg(int64_t *out_ns, const char *s, int64_t now, const char *cmd,
                   const char *opt)
{
  if (!strcmp(s, "now")) {
    *out_ns = now;
    return 0;
  }
  if (s[0] == '-' || s[0] == '+') {
    int64_t secs;
    if (fleet_history_parse_duration(&secs, s + 1) || secs == 0 ||
        secs > INT64_MAX / 1000000000) {
      fprintf(stderr, "fleetctl %s: %s: '%s' is not a relative time such as -2h or -7d\n",
              cmd, opt, s);
      return -1;
    }
    int64_t d = secs * 1000000000;
    if ((s[0] == '-' && __builtin_sub_overflow(now, d, out_ns)) ||
        (s[0] == '+' && __builtin_add_overflow(now, d, out_ns))) {
      fprintf(stderr, "fleetctl %s: %s: '%s' is out of range\n", cmd, opt, s);
      return -1;
    }
    return 0;
  }
  if (fleet_time_parse(out_ns, s, strlen(s))) {
    fprintf(stderr, "fleetctl %s: %s: '%s': %s (use RFC 3339, now, or -2h / -7d)\n", cmd,
            opt, s, fleet_error_last());
    return -1;
  }
  return 0;
}

void format_double(char out[32], double v)
{
  /* Whole numbers as integers: -40, not -4e+01. */
  if (v == (double)(long long)v && v > -9007199254740992.0 && v < 9007199254740992.0) {
    snprintf(out, 32, "%lld", (long long)v);
    if (v == 0 && signbit(v))
      snprintf(out, 32, "-0");
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, 32, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      return;
  }
}
