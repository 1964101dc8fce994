/*
 * fleetd: MQTT telemetry -> ingest log -> tracker -> InfluxDB, alerts back
 * to MQTT. See fleetd.h for the parts and pipeline.c for the threads.
 */
#include "fleetd.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile int stop_flag;
static volatile int hup_flag;

static void on_stop(int sig)
{
  (void)sig;
  stop_flag = 1;
}

static void on_hup(int sig)
{
  (void)sig;
  hup_flag = 1;
}

static void usage(FILE *out)
{
  fprintf(out,
          "usage: fleetd [OPTIONS]\n"
          "\n"
          "Ingests vehicle telemetry from MQTT (fleet/+/telemetry, QoS 1, persistent\n"
          "session) into InfluxDB, with geofences, trips, alerts and hourly aggregates.\n"
          "Every message is appended to an ingest log before anything else and replayed\n"
          "at the next start until InfluxDB has confirmed it.\n"
          "\n"
          "Options (they override the environment, which overrides the file):\n"
          "  --config FILE         JSON configuration file (also FLEETD_CONFIG)\n"
          "  --mqtt URL            broker, mqtt://HOST[:PORT] or mqtts://HOST[:PORT]\n"
          "                        (default %s)\n"
          "  --influx URL          InfluxDB base URL (default http://127.0.0.1:8086)\n"
          "  --state-dir DIR       ingest log, spools, dead letters, zones.geojson,\n"
          "                        rules.json (default $STATE_DIRECTORY or ./fleetd-state)\n"
          "  --zones FILE          geofences (default STATE_DIR/zones.geojson)\n"
          "  --rules FILE          alert rules (default STATE_DIR/rules.json)\n"
          "  --log-level LEVEL     debug | info | warn | error (default info)\n"
          "  --client-id ID        MQTT client id of the persistent session\n"
          "  --partition I/N       keep only the vehicles of partition I of N\n"
          "                        (run N instances, each with its own I)\n"
          "  --share-group G       subscribe through $share/G/fleet/+/telemetry\n"
          "  --stats-interval S    log every counter each S seconds (0: at exit only)\n"
          "  --http ADDR:PORT      serve the dashboard, REST API and WebSocket feed there\n"
          "  --role ROLE           all (default) | ingest | gateway: see docs/fleetd.md\n"
          "  --set NAME=VALUE      any option of the table below\n"
          "  --check-config        print the effective configuration (secrets\n"
          "                        redacted) and exit: 0 valid, 1 invalid\n"
          "  --help, --version\n"
          "\n"
          "Signals: SIGTERM/SIGINT stop (intake first, then the tracker and the writers\n"
          "are flushed within shutdown_timeout_ms); SIGHUP reloads zones and rules (a bad\n"
          "file keeps the current set), as a change of either file seen within\n"
          "reload_interval_s does.\n"
          "\n"
          "Configuration options (file keys are \"section\": {\"key\": ...}), with their\n"
          "environment variables:\n",
          FLEET_MQTT_URL_DEFAULT);
  fleetd_config_print_reference(out);
}

enum {
  OPT_CONFIG = 256,
  OPT_MQTT,
  OPT_INFLUX,
  OPT_STATE_DIR,
  OPT_ZONES,
  OPT_RULES,
  OPT_LOG_LEVEL,
  OPT_CLIENT_ID,
  OPT_PARTITION,
  OPT_SHARE_GROUP,
  OPT_STATS,
  OPT_HTTP,
  OPT_ROLE,
  OPT_SET,
  OPT_CHECK,
  OPT_HELP,
  OPT_VERSION
};

typedef struct cli_set {
  const char *name;
  const char *value;
} cli_set_t;

int main(int argc, char **argv)
{
  static const struct option longopts[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"mqtt", required_argument, NULL, OPT_MQTT},
    {"influx", required_argument, NULL, OPT_INFLUX},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"zones", required_argument, NULL, OPT_ZONES},
    {"rules", required_argument, NULL, OPT_RULES},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"client-id", required_argument, NULL, OPT_CLIENT_ID},
    {"partition", required_argument, NULL, OPT_PARTITION},
    {"share-group", required_argument, NULL, OPT_SHARE_GROUP},
    {"stats-interval", required_argument, NULL, OPT_STATS},
    {"http", required_argument, NULL, OPT_HTTP},
    {"role", required_argument, NULL, OPT_ROLE},
    {"set", required_argument, NULL, OPT_SET},
    {"check-config", no_argument, NULL, OPT_CHECK},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0}};

  const char *config_path = getenv("FLEETD_CONFIG");
  if (config_path && !*config_path)
    config_path = NULL;
  bool check = false;
  /* Command-line options apply last, in their order, after file and environment. */
  cli_set_t *sets = calloc((size_t)argc + 1, sizeof *sets);
  size_t nsets = 0;
  char **set_copies = calloc((size_t)argc + 1, sizeof *set_copies);
  size_t ncopies = 0;
  if (!sets || !set_copies) {
    fprintf(stderr, "fleetd: out of memory\n");
    return 1;
  }
  int c;
  int status = 0;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    const char *name = NULL;
    switch (c) {
    case OPT_CONFIG: config_path = optarg; continue;
    case OPT_MQTT: name = "mqtt.url"; break;
    case OPT_INFLUX: name = "influx.url"; break;
    case OPT_STATE_DIR: name = "state_dir"; break;
    case OPT_ZONES: name = "zones_file"; break;
    case OPT_RULES: name = "rules_file"; break;
    case OPT_LOG_LEVEL: name = "log_level"; break;
    case OPT_CLIENT_ID: name = "mqtt.client_id"; break;
    case OPT_PARTITION: name = "mqtt.partition"; break;
    case OPT_SHARE_GROUP: name = "mqtt.share_group"; break;
    case OPT_STATS: name = "stats_interval_s"; break;
    case OPT_HTTP: name = "http"; break;
    case OPT_ROLE: name = "role"; break;
    case OPT_SET: {
      char *eq = strchr(optarg, '=');
      if (!eq || eq == optarg) {
        fprintf(stderr, "fleetd: --set: expected NAME=VALUE, got '%s'\n", optarg);
        status = 2;
        goto out;
      }
      char *copy = strdup(optarg);
      if (!copy) {
        status = 1;
        goto out;
      }
      set_copies[ncopies++] = copy;
      copy[eq - optarg] = '\0';
      sets[nsets++] = (cli_set_t){copy, copy + (eq - optarg) + 1};
      continue;
    }
    case OPT_CHECK: check = true; continue;
    case OPT_HELP:
      usage(stdout);
      goto out;
    case OPT_VERSION:
      printf("fleetd %s (libfleet %s)\n", FLEET_VERSION_STRING, fleet_version_string());
      goto out;
    default:
      fprintf(stderr, "Try 'fleetd --help'.\n");
      status = 2;
      goto out;
    }
    sets[nsets++] = (cli_set_t){name, optarg};
  }
  if (optind < argc) {
    fprintf(stderr, "fleetd: unexpected argument '%s'\nTry 'fleetd --help'.\n", argv[optind]);
    status = 2;
    goto out;
  }

  {
    static fleetd_config_t cfg;
    char err[1024];
    fleetd_config_defaults(&cfg);
    if (config_path && fleetd_config_load_file(&cfg, config_path, err, sizeof err)) {
      fprintf(stderr, "fleetd: %s\n", err);
      status = 1;
      goto out;
    }
    if (fleetd_config_load_env(&cfg, err, sizeof err)) {
      fprintf(stderr, "fleetd: %s\n", err);
      status = 1;
      goto out;
    }
    for (size_t i = 0; i < nsets; i++)
      if (fleetd_config_set(&cfg, sets[i].name, sets[i].value, err, sizeof err)) {
        fprintf(stderr, "fleetd: %s\n", err);
        status = check ? 1 : 2;
        goto out;
      }
    if (fleetd_config_finish(&cfg, err, sizeof err)) {
      fprintf(stderr, "fleetd: %s\n", err);
      status = 1;
      goto out;
    }
    if (check) {
      if (fleetd_config_check_files(&cfg, err, sizeof err)) {
        fprintf(stderr, "fleetd: %s\n", err);
        status = 1;
        goto out;
      }
      fleetd_config_print(&cfg, stdout);
      goto out;
    }

    fleetd_log_set_level(cfg.log_level);
    char partition[32] = "";
    if (cfg.partition_count > 1)
      snprintf(partition, sizeof partition, "%u/%u", cfg.partition_index, cfg.partition_count);
    fleetd_log(FLEETD_INFO, "fleetd starting", "version", FLEET_VERSION_STRING, "role",
               cfg.role, "mqtt", cfg.mqtt_url, "client_id", cfg.client_id, "influx",
               cfg.influx.url, "state_dir", cfg.state_dir, "partition", partition,
               "share_group", cfg.share_group, NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    /* The threads started below (InfluxDB writers, ingest log sync) inherit
     * a mask without these, so every signal interrupts the main thread's
     * poll() and is seen at once. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    fleetd_t *d = NULL;
    int rc = fleetd_new(&d, &cfg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
      fleetd_free(d);
      status = 1;
      goto out;
    }
    if (fleetd_replay(d, &stop_flag)) {
      fleetd_shutdown(d);
      fleetd_free(d);
      status = 1;
      goto out;
    }
    if (!stop_flag)
      fleetd_run(d, &stop_flag, &hup_flag);
    fleetd_shutdown(d);
    fleetd_free(d);
    fleetd_log(FLEETD_INFO, "fleetd stopped", NULL);
  }
out:
  for (size_t i = 0; i < ncopies; i++)
    free(set_copies[i]);
  free(set_copies);
  free(sets);
  return status;
}
