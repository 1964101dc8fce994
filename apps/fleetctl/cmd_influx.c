/* fleetctl influx init: create the retention tiers (DESIGN.md "InfluxDB schema"). */
#include <stdio.h>
#include <string.h>

#include <fleet/fleet.h>

#include "fleetctl.h"
#include "influxopts.h"

static void usage(FILE *out)
{
  fprintf(out,
          "usage: fleetctl influx init [--raw-duration D] [--downsampled-duration D] "
          "[--apply] [OPTIONS]\n\n"
          "Create the raw (default 7d) and downsampled (default 365d) databases with their\n"
          "retention. Running it again changes nothing, or only what differs.\n"
          "  v1: applied through InfluxQL (CREATE DATABASE / RETENTION POLICY).\n"
          "  v3: prints the influxdb3 commands; --apply creates the databases through\n"
          "      /api/v3/configure/database (a retention cannot be changed later).\n"
          "  v2: prints the influx bucket create commands.\n"
          "Durations: N followed by s, m, h, d or w, or INF.\n\n");
  influxopts_usage(out);
}

static const char *result_text(fleet_history_ensure_result_t r)
{
  switch (r) {
  case FLEET_HISTORY_ENSURE_CREATED: return "created";
  case FLEET_HISTORY_ENSURE_ALTERED: return "retention changed";
  case FLEET_HISTORY_ENSURE_EXISTS: return "exists already";
  default: return "unchanged";
  }
}

static int parse_duration_opt(int64_t *out, const char *v, const char *opt)
{
  if (fleet_history_parse_duration(out, v)) {
    fprintf(stderr, "fleetctl influx init: %s: %s\n", opt, fleet_error_last());
    return -1;
  }
  if (*out != 0 && *out < 3600) {
    fprintf(stderr, "fleetctl influx init: %s: InfluxDB keeps data at least 1h\n", opt);
    return -1;
  }
  return 0;
}

/* Print a word for a POSIX shell, quoted when it needs to be. */
static void shell_word(const char *s)
{
  if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:/") ==
              strlen(s)) {
    fputs(s, stdout);
    return;
  }
  putchar('\'');
  for (; *s; s++) {
    if (*s == '\'')
      fputs("'\\''", stdout);
    else
      putchar(*s);
  }
  putchar('\'');
}

static int init_cmd(int argc, char **argv)
{
  const char *cmd = "influx init";
  influxopts_t o;
  int rc = influxopts_init(&o, cmd);
  if (rc)
    return rc;
  int64_t raw_s = FLEET_HISTORY_RAW_RETENTION_S;
  int64_t ds_s = FLEET_HISTORY_DOWNSAMPLED_RETENTION_S;
  int apply = 0;
  for (int i = 1; i < argc; i++) {
    int r = influxopts_parse(&o, cmd, argc, argv, &i);
    if (r < 0)
      return FLEETCTL_USAGE;
    if (r > 0)
      continue;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return FLEETCTL_OK;
    } else if (!strcmp(argv[i], "--apply")) {
      apply = 1;
    } else if ((!strcmp(argv[i], "--raw-duration") ||
                !strcmp(argv[i], "--downsampled-duration")) && i + 1 < argc) {
      int64_t *dst = argv[i][2] == 'r' ? &raw_s : &ds_s;
      if (parse_duration_opt(dst, argv[i + 1], argv[i]))
        return FLEETCTL_USAGE;
      i++;
    } else {
      fprintf(stderr, "fleetctl %s: unknown or incomplete option '%s'\n", cmd, argv[i]);
      usage(stderr);
      return FLEETCTL_USAGE;
    }
  }
  if (influxopts_finish(&o, cmd))
    return FLEETCTL_USAGE;
  if (!strcmp(o.raw_db, o.downsampled_db)) {
    fprintf(stderr, "fleetctl %s: the raw and downsampled databases must differ\n", cmd);
    return FLEETCTL_USAGE;
  }
  struct {
    const char *db;
    const char *rp;
    int64_t seconds;
  } tiers[2] = {{o.raw_db, o.raw_rp, raw_s}, {o.downsampled_db, o.downsampled_rp, ds_s}};

  if (o.cfg.api == FLEET_INFLUX_API_V2 || (o.cfg.api == FLEET_INFLUX_API_V3 && !apply)) {
    if (o.cfg.api == FLEET_INFLUX_API_V2 && apply) {
      fprintf(stderr, "fleetctl %s: --apply is not supported for InfluxDB 2; run these "
                      "commands instead:\n", cmd);
    }
    for (int t = 0; t < 2; t++) {
      char dur[32];
      fleet_history_format_duration(dur, tiers[t].seconds);
      if (o.cfg.api == FLEET_INFLUX_API_V2) {
        fputs("influx bucket create --host ", stdout);
        shell_word(o.cfg.url);
        fputs(" --org ", stdout);
        shell_word(o.cfg.org[0] ? o.cfg.org : "ORG");
        fputs(" --name ", stdout);
        shell_word(tiers[t].db);
        printf(" --retention %s\n", tiers[t].seconds ? dur : "0");
        /* /query (InfluxQL) reaches a bucket only through a DBRP mapping. */
        fputs("influx v1 dbrp create --host ", stdout);
        shell_word(o.cfg.url);
        fputs(" --org ", stdout);
        shell_word(o.cfg.org[0] ? o.cfg.org : "ORG");
        fputs(" --db ", stdout);
        shell_word(tiers[t].db);
        fputs(" --rp autogen --default --bucket-id BUCKET_ID_OF_", stdout);
        shell_word(tiers[t].db);
        putchar('\n');
      } else {
        fputs("influxdb3 create database --host ", stdout);
        shell_word(o.cfg.url);
        if (tiers[t].seconds)
          printf(" --retention-period %s", dur);
        putchar(' ');
        shell_word(tiers[t].db);
        putchar('\n');
      }
    }
    return apply ? FLEETCTL_FAIL : FLEETCTL_OK;
  }

  if (o.cfg.api == FLEET_INFLUX_API_V3) {
    for (int t = 0; t < 2; t++)
      if (tiers[t].rp[0]) {
        fprintf(stderr, "fleetctl %s: InfluxDB 3 has no retention policies (drop --*-rp)\n",
                cmd);
        return FLEETCTL_USAGE;
      }
  }
  fleet_history_t *h;
  if (influxopts_history(&h, &o, cmd))
    return FLEETCTL_FAIL;
  int status = FLEETCTL_OK;
  for (int t = 0; t < 2; t++) {
    fleet_history_ensure_result_t res;
    char dur[32];
    fleet_history_format_duration(dur, tiers[t].seconds);
    if (fleet_history_ensure_database(&res, h, tiers[t].db, tiers[t].rp, tiers[t].seconds)) {
      fprintf(stderr, "fleetctl %s: %s: %s\n", cmd, tiers[t].db, fleet_error_last());
      status = FLEETCTL_FAIL;
      break;
    }
    if (o.cfg.api == FLEET_INFLUX_API_V1)
      printf("%s: %s (retention policy %s, duration %s, default)\n", tiers[t].db,
             result_text(res), tiers[t].rp[0] ? tiers[t].rp : "autogen", dur);
    else if (res == FLEET_HISTORY_ENSURE_EXISTS)
      printf("%s: exists already (InfluxDB 3 cannot change its retention; asked for %s)\n",
             tiers[t].db, dur);
    else
      printf("%s: %s (retention %s)\n", tiers[t].db, result_text(res), dur);
  }
  fleet_history_free(h);
  return status;
}

int cmd_influx(int argc, char **argv)
{
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? FLEETCTL_USAGE : FLEETCTL_OK;
  }
  if (!strcmp(argv[1], "init"))
    return init_cmd(argc - 1, argv + 1);
  fprintf(stderr, "fleetctl influx: unknown subcommand '%s' (expected init)\n", argv[1]);
  return FLEETCTL_USAGE;
}
