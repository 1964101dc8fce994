/* fleet-sim: simulate a fleet of vehicles publishing telemetry over MQTT. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "sim.h"

#define EXIT_RUN_FAILED 1
#define EXIT_USAGE 2

/* Pause generating while this much waits for the network. */
#define MAX_QUEUED_MSGS 200000u
#define MAX_QUEUED_BYTES (64u * 1024u * 1024u)

typedef struct options {
  const char *mqtt;
  unsigned long vehicles;
  unsigned long connections; /* 0: one per vehicle */
  const char *prefix;
  double interval_s, interval_min_s, interval_max_s;
  int qos, retain;
  unsigned long long count;
  double duration_s;
  double rate;
  int fast;
  const char *start;
  double time_scale;
  unsigned long long seed;
  double center_lat, center_lng, radius_km;
  double bad_ratio;
  const char *report, *dump, *status_file;
  const char *cafile, *cert, *key, *cert_dir;
  int insecure;
  const char *username, *password;
  unsigned int keepalive_s, max_inflight, connect_burst;
  double ack_timeout_s, connect_timeout_s;
  int quiet, verbose;
} options_t;

static volatile sig_atomic_t stop_signals;

static void on_signal(int sig)
{
  (void)sig;
  stop_signals++;
  if (stop_signals > 1)
    _exit(130);
}

static void usage(FILE *out)
{
  fprintf(out,
    "usage: fleet-sim [OPTIONS]\n"
    "\n"
    "Simulate vehicles that publish v1 telemetry to fleet/{id}/telemetry over MQTT:\n"
    "plausible trips around a city centre (acceleration, turns, traffic stops,\n"
    "parking with the ignition off, idling, occasional overspeed, fuel, battery,\n"
    "engine temperature, odometer). Same --seed, same payloads.\n"
    "\n"
    "Broker and connections:\n"
    "  --mqtt URL            mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (default\n"
    "                        mqtt://127.0.0.1:1883)\n"
    "  --connections K       share K connections among the vehicles (default: one\n"
    "                        connection per vehicle, client id fleet-sim-<id>)\n"
    "  --username U, --password P\n"
    "  --cafile FILE         CA bundle for mqtts:// (default: the system's CAs)\n"
    "  --cert FILE --key FILE   one client certificate for every connection\n"
    "  --cert-dir DIR        per-vehicle certificates DIR/<id>.crt and DIR/<id>.key\n"
    "  --insecure            do not check the broker's host name\n"
    "  --keepalive S         MQTT keepalive (default 60)\n"
    "  --max-inflight N      QoS 1 messages awaiting PUBACK per connection (default 100)\n"
    "  --connect-burst N     connection attempts in progress at once (default 256)\n"
    "\n"
    "Vehicles and messages:\n"
    "  --vehicles N          number of vehicles (default 10)\n"
    "  --vehicle-prefix P    ids are P followed by a zero-padded number (default sim-)\n"
    "  --interval S          seconds between a vehicle's messages (default 5)\n"
    "  --interval-min S --interval-max S   a random interval per vehicle instead\n"
    "  --qos 0|1             (default 1)\n"
    "  --retain              publish retained (the broker keeps the last position)\n"
    "  --center LAT,LNG      city centre (default 23.8103,90.4125)\n"
    "  --radius-km R         how far from the centre trips go (default 10)\n"
    "  --bad-ratio R         fraction of malformed payloads, 0-1 (default 0): invalid\n"
    "                        JSON, latitude out of range, missing ts, wrong types\n"
    "  --seed N              random seed (default 1)\n"
    "\n"
    "Time and load:\n"
    "  --start TIME          simulated start time, RFC 3339 (default: the moment the\n"
    "                        connections are up, so payload ts is the publish time)\n"
    "  --time-scale X        simulated seconds per real second (default 1)\n"
    "  --fast                publish as fast as --rate allows; timestamps still\n"
    "                        advance by each vehicle's interval\n"
    "  --rate R              at most R messages per second overall (default: no cap)\n"
    "  --count N             stop after N messages\n"
    "  --duration S          stop after S seconds of publishing\n"
    "                        (without --count or --duration: until SIGINT/SIGTERM)\n"
    "  --ack-timeout S       at the end, wait this long for PUBACKs (default 30)\n"
    "  --connect-timeout S   wait this long for the first connections (default 30)\n"
    "\n"
    "Output:\n"
    "  --report FILE         JSON: published, bad_published, acked, errors,\n"
    "                        elapsed_s, rate, per_vehicle counts, ...\n"
    "  --dump FILE           every payload as \"<vehicle id>\\t<payload>\" lines\n"
    "  --status-file FILE    JSON rewritten every second (atomically): phase, connections\n"
    "                        up now and ever, failures, losses, published, acked,\n"
    "                        resent, queued, in flight; follow a run, or time reconnects;\n"
    "                        written at once when the phase changes (connecting,\n"
    "                        publishing, draining, done)\n"
    "  --quiet, --verbose\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 when every message was sent (and, with QoS 1, acknowledged),\n"
    "1 when not, 2 on a usage error.\n");
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
    fprintf(stderr, "fleet-sim: %s: '%s' is not a number in [%g, %g]\n", opt, s, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_ulong(const char *opt, const char *s, unsigned long long lo,
                       unsigned long long hi, unsigned long long *out)
{
  char *end;
  errno = 0;
  if (*s == '-' || *s == '+') {
    fprintf(stderr, "fleet-sim: %s: '%s' is not a whole number in [%llu, %llu]\n", opt, s, lo,
            hi);
    return -1;
  }
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "fleet-sim: %s: '%s' is not a whole number in [%llu, %llu]\n", opt, s, lo,
            hi);
    return -1;
  }
  *out = v;
  return 0;
}

enum {
  O_MQTT = 256, O_VEHICLES, O_PREFIX, O_CONNS, O_INTERVAL, O_IMIN, O_IMAX, O_QOS, O_RETAIN,
  O_COUNT, O_DURATION, O_RATE, O_FAST, O_START, O_SCALE, O_SEED, O_CENTER, O_RADIUS, O_BAD,
  O_REPORT, O_DUMP, O_STATUS, O_CAFILE, O_CERT, O_KEY, O_CERTDIR, O_INSECURE, O_USER, O_PASS,
  O_KEEPALIVE, O_INFLIGHT, O_BURST, O_ACKTO, O_CONNTO, O_QUIET, O_VERBOSE, O_HELP, O_VERSION
};

static const struct option longopts[] = {
  {"mqtt", required_argument, NULL, O_MQTT},
  {"vehicles", required_argument, NULL, O_VEHICLES},
  {"vehicle-prefix", required_argument, NULL, O_PREFIX},
  {"connections", required_argument, NULL, O_CONNS},
  {"interval", required_argument, NULL, O_INTERVAL},
  {"interval-min", required_argument, NULL, O_IMIN},
  {"interval-max", required_argument, NULL, O_IMAX},
  {"qos", required_argument, NULL, O_QOS},
  {"retain", no_argument, NULL, O_RETAIN},
  {"count", required_argument, NULL, O_COUNT},
  {"duration", required_argument, NULL, O_DURATION},
  {"rate", required_argument, NULL, O_RATE},
  {"fast", no_argument, NULL, O_FAST},
  {"start", required_argument, NULL, O_START},
  {"time-scale", required_argument, NULL, O_SCALE},
  {"seed", required_argument, NULL, O_SEED},
  {"center", required_argument, NULL, O_CENTER},
  {"radius-km", required_argument, NULL, O_RADIUS},
  {"bad-ratio", required_argument, NULL, O_BAD},
  {"report", required_argument, NULL, O_REPORT},
  {"dump", required_argument, NULL, O_DUMP},
  {"status-file", required_argument, NULL, O_STATUS},
  {"cafile", required_argument, NULL, O_CAFILE},
  {"cert", required_argument, NULL, O_CERT},
  {"key", required_argument, NULL, O_KEY},
  {"cert-dir", required_argument, NULL, O_CERTDIR},
  {"insecure", no_argument, NULL, O_INSECURE},
  {"username", required_argument, NULL, O_USER},
  {"password", required_argument, NULL, O_PASS},
  {"keepalive", required_argument, NULL, O_KEEPALIVE},
  {"max-inflight", required_argument, NULL, O_INFLIGHT},
  {"connect-burst", required_argument, NULL, O_BURST},
  {"ack-timeout", required_argument, NULL, O_ACKTO},
  {"connect-timeout", required_argument, NULL, O_CONNTO},
  {"quiet", no_argument, NULL, O_QUIET},
  {"verbose", no_argument, NULL, O_VERBOSE},
  {"help", no_argument, NULL, O_HELP},
  {"version", no_argument, NULL, O_VERSION},
  {NULL, 0, NULL, 0},
};

/* Returns 0 to run, 1 after --help/--version, -1 on a usage error. */
static int parse_args(options_t *o, int argc, char **argv)
{
  *o = (options_t){
    .mqtt = FLEET_MQTT_URL_DEFAULT, .vehicles = 10, .prefix = "sim-", .interval_s = 5.0,
    .qos = 1, .time_scale = 1.0, .seed = 1, .center_lat = 23.8103, .center_lng = 90.4125,
    .radius_km = 10.0, .keepalive_s = 60, .max_inflight = 100, .connect_burst = 256,
    .ack_timeout_s = 30.0, .connect_timeout_s = 30.0,
  };
  int have_interval = 0;
  unsigned long long u;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "option";
    switch (ch) {
    case O_MQTT: o->mqtt = optarg; break;
    case O_VEHICLES:
      if (parse_ulong("--vehicles", optarg, 1, 10000000, &u)) return -1;
      o->vehicles = (unsigned long)u;
      break;
    case O_PREFIX: o->prefix = optarg; break;
    case O_CONNS:
      if (parse_ulong("--connections", optarg, 1, 10000000, &u)) return -1;
      o->connections = (unsigned long)u;
      break;
    case O_INTERVAL:
      if (parse_double("--interval", optarg, 0.001, 86400, &o->interval_s)) return -1;
      have_interval = 1;
      break;
    case O_IMIN:
      if (parse_double("--interval-min", optarg, 0.001, 86400, &o->interval_min_s)) return -1;
      break;
    case O_IMAX:
      if (parse_double("--interval-max", optarg, 0.001, 86400, &o->interval_max_s)) return -1;
      break;
    case O_QOS:
      if (parse_ulong("--qos", optarg, 0, 1, &u)) return -1;
      o->qos = (int)u;
      break;
    case O_RETAIN: o->retain = 1; break;
    case O_COUNT:
      if (parse_ulong("--count", optarg, 1, (unsigned long long)1e15, &o->count)) return -1;
      break;
    case O_DURATION:
      if (parse_double("--duration", optarg, 0.001, 1e9, &o->duration_s)) return -1;
      break;
    case O_RATE:
      if (parse_double("--rate", optarg, 0.001, 1e9, &o->rate)) return -1;
      break;
    case O_FAST: o->fast = 1; break;
    case O_START: o->start = optarg; break;
    case O_SCALE:
      if (parse_double("--time-scale", optarg, 1e-6, 1e9, &o->time_scale)) return -1;
      break;
    case O_SEED:
      if (parse_ulong("--seed", optarg, 0, UINT64_MAX, &o->seed)) return -1;
      break;
    case O_CENTER: {
      char *comma = strchr(optarg, ',');
      if (!comma) {
        fprintf(stderr, "fleet-sim: --center: '%s' is not LAT,LNG\n", optarg);
        return -1;
      }
      *comma = '\0';
      if (parse_double("--center latitude", optarg, -85, 85, &o->center_lat) ||
          parse_double("--center longitude", comma + 1, -180, 180, &o->center_lng))
        return -1;
      break;
    }
    case O_RADIUS:
      if (parse_double("--radius-km", optarg, 0.05, 2000, &o->radius_km)) return -1;
      break;
    case O_BAD:
      if (parse_double("--bad-ratio", optarg, 0, 1, &o->bad_ratio)) return -1;
      break;
    case O_REPORT: o->report = optarg; break;
    case O_DUMP: o->dump = optarg; break;
    case O_STATUS: o->status_file = optarg; break;
    case O_CAFILE: o->cafile = optarg; break;
    case O_CERT: o->cert = optarg; break;
    case O_KEY: o->key = optarg; break;
    case O_CERTDIR: o->cert_dir = optarg; break;
    case O_INSECURE: o->insecure = 1; break;
    case O_USER: o->username = optarg; break;
    case O_PASS: o->password = optarg; break;
    case O_KEEPALIVE:
      if (parse_ulong("--keepalive", optarg, 5, 65535, &u)) return -1;
      o->keepalive_s = (unsigned int)u;
      break;
    case O_INFLIGHT:
      if (parse_ulong("--max-inflight", optarg, 1, 65535, &u)) return -1;
      o->max_inflight = (unsigned int)u;
      break;
    case O_BURST:
      if (parse_ulong("--connect-burst", optarg, 1, 100000, &u)) return -1;
      o->connect_burst = (unsigned int)u;
      break;
    case O_ACKTO:
      if (parse_double("--ack-timeout", optarg, 0, 86400, &o->ack_timeout_s)) return -1;
      break;
    case O_CONNTO:
      if (parse_double("--connect-timeout", optarg, 0, 86400, &o->connect_timeout_s)) return -1;
      break;
    case O_QUIET: o->quiet = 1; break;
    case O_VERBOSE: o->verbose = 1; break;
    case O_HELP: usage(stdout); return 1;
    case O_VERSION:
      printf("fleet-sim %s (libfleet %s)\n", FLEET_VERSION_STRING, fleet_version_string());
      return 1;
    default:
      if (optopt)
        fprintf(stderr, "fleet-sim: %s needs a value\n", name);
      else
        fprintf(stderr, "fleet-sim: unknown option '%s'\n", name);
      fprintf(stderr, "Run 'fleet-sim --help' for the options.\n");
      return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "fleet-sim: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  if (o->interval_min_s || o->interval_max_s) {
    if (have_interval) {
      fprintf(stderr, "fleet-sim: give --interval or --interval-min/--interval-max, not both\n");
      return -1;
    }
    if (!o->interval_min_s || !o->interval_max_s || o->interval_min_s > o->interval_max_s) {
      fprintf(stderr, "fleet-sim: --interval-min and --interval-max go together, min <= max\n");
      return -1;
    }
  } else {
    o->interval_min_s = o->interval_max_s = o->interval_s;
  }
  if (o->connections > o->vehicles) {
    fprintf(stderr, "fleet-sim: --connections %lu is more than --vehicles %lu\n",
            o->connections, o->vehicles);
    return -1;
  }
  if (!o->cert != !o->key) {
    fprintf(stderr, "fleet-sim: --cert and --key go together\n");
    return -1;
  }
  if (o->cert && o->cert_dir) {
    fprintf(stderr, "fleet-sim: give --cert/--key or --cert-dir, not both\n");
    return -1;
  }
  if (o->cert_dir && o->connections && o->connections != o->vehicles) {
    fprintf(stderr, "fleet-sim: --cert-dir needs one connection per vehicle\n");
    return -1;
  }
  if (o->password && !o->username) {
    fprintf(stderr, "fleet-sim: --password needs --username\n");
    return -1;
  }
  return 0;
}

/* ---- scheduling: a binary heap of vehicles by next message time ---------- */

typedef struct heap {
  uint32_t *a;
  size_t n;
  const sim_vehicle_t *v;
} heap_t;

static int earlier(const heap_t *h, uint32_t x, uint32_t y)
{
  int64_t tx = h->v[x].next_ns, ty = h->v[y].next_ns;
  return tx < ty || (tx == ty && x < y);
}

static void sift_down(heap_t *h, size_t i)
{
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->n && earlier(h, h->a[l], h->a[m]))
      m = l;
    if (r < h->n && earlier(h, h->a[r], h->a[m]))
      m = r;
    if (m == i)
      return;
    uint32_t t = h->a[i];
    h->a[i] = h->a[m];
    h->a[m] = t;
    i = m;
  }
}

static int raise_fd_limit(size_t need, int quiet)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      rl.rlim_cur = old;
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    /* Privileged users may raise the hard limit too. */
    struct rlimit more = {need, need};
    if (setrlimit(RLIMIT_NOFILE, &more) == 0)
      return 0;
    fprintf(stderr,
            "fleet-sim: %zu connections need about %zu file descriptors but the limit is "
            "%llu; use --connections, or raise the limit (ulimit -Hn)\n",
            need - 64, need, (unsigned long long)rl.rlim_cur);
    return -1;
  }
  (void)quiet;
  return 0;
}

static int file_readable(const char *what, const char *path)
{
  if (access(path, R_OK) == 0)
    return 0;
  fprintf(stderr, "fleet-sim: %s %s: %s\n", what, path, strerror(errno));
  return -1;
}

static int write_report(const options_t *o, const net_t *net, const sim_vehicle_t *veh,
                        size_t nveh, size_t nconn, const net_stats_t *s, uint64_t generated,
                        uint64_t bad, uint64_t errors, double elapsed)
{
  json_t *per = json_object();
  for (size_t i = 0; i < nveh; i++)
    json_object_set_new(per, veh[i].id, json_integer((json_int_t)veh[i].generated));
  /* Acknowledgements are counted per connection: per vehicle only when each
   * vehicle has its own. */
  json_t *per_acked = json_object();
  for (size_t i = 0; o->qos && nconn == nveh && i < nveh; i++)
    json_object_set_new(per_acked, veh[i].id,
                        json_integer((json_int_t)net_conn_acked(net, veh[i].conn)));
  json_t *r = json_pack(
    "{s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:o, s:I, s:I, s:i, s:I, s:I, s:I, s:I, s:I}",
    "published", (json_int_t)s->published, "generated", (json_int_t)generated, "bad_published",
    (json_int_t)bad, "acked", (json_int_t)(o->qos ? s->acked : 0), "errors", (json_int_t)errors,
    "elapsed_s", elapsed, "rate", elapsed > 0 ? (double)s->published / elapsed : 0.0,
    "per_vehicle", per, "vehicles", (json_int_t)nveh, "connections", (json_int_t)nconn, "qos",
    o->qos, "seed", (json_int_t)o->seed, "resent", (json_int_t)s->resent, "connect_failures",
    (json_int_t)s->connect_failures, "connection_losses", (json_int_t)s->connection_losses,
    "unsent", (json_int_t)(generated - s->published));
  if (r && json_object_size(per_acked))
    json_object_set(r, "per_vehicle_acked", per_acked);
  json_decref(per_acked);
  if (!r) {
    fprintf(stderr, "fleet-sim: cannot build the report\n");
    return -1;
  }
  int rc = json_dump_file(r, o->report, JSON_INDENT(1) | JSON_SORT_KEYS);
  json_decref(r);
  if (rc) {
    fprintf(stderr, "fleet-sim: cannot write %s: %s\n", o->report, strerror(errno));
    return -1;
  }
  return 0;
}

/* --status-file: a one-line JSON object, replaced by rename so that a reader
 * never sees half of it. */
typedef struct status {
  const char *path;
  const net_t *net;
  size_t nconn;
  int64_t t_start_ms; /* when the process began connecting */
  int64_t next_ms;
  const char *last_phase;
  int warned;
} status_t;

static void status_write(status_t *st, const char *phase, uint64_t generated, int force)
{
  if (!st->path)
    return;
  int64_t now = sim_mono_ms();
  /* A new phase is written at once: its first elapsed_s dates the change
   * (the end of the connect phase, of publishing). */
  if (!force && now < st->next_ms && st->last_phase && strcmp(phase, st->last_phase) == 0)
    return;
  st->next_ms = now + 1000;
  st->last_phase = phase;
  net_stats_t s;
  net_get_stats(st->net, &s);
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", st->path);
  FILE *f = fopen(tmp, "w");
  int ok = f != NULL;
  if (f) {
    ok = fprintf(f,
                 "{\"phase\":\"%s\",\"time_ms\":%lld,\"elapsed_s\":%.3f,\"connections\":%zu,"
                 "\"connected\":%llu,\"ever_connected\":%llu,\"connect_failures\":%llu,"
                 "\"connection_losses\":%llu,\"generated\":%llu,\"published\":%llu,"
                 "\"acked\":%llu,\"resent\":%llu,\"queued\":%llu,\"inflight\":%llu}\n",
                 phase, (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000,
                 (double)(now - st->t_start_ms) / 1000.0, st->nconn,
                 (unsigned long long)s.connected, (unsigned long long)s.ever_connected,
                 (unsigned long long)s.connect_failures, (unsigned long long)s.connection_losses,
                 (unsigned long long)generated, (unsigned long long)s.published,
                 (unsigned long long)s.acked, (unsigned long long)s.resent,
                 (unsigned long long)s.queued, (unsigned long long)s.inflight) > 0;
    ok = fclose(f) == 0 && ok;
  }
  if (ok && rename(tmp, st->path) != 0)
    ok = 0;
  if (!ok && !st->warned) {
    fprintf(stderr, "fleet-sim: --status-file %s: %s\n", st->path, strerror(errno));
    st->warned = 1;
  }
}

int main(int argc, char **argv)
{
  options_t o;
  int pr = parse_args(&o, argc, argv);
  if (pr)
    return pr > 0 ? 0 : EXIT_USAGE;

  fleet_mqtt_url_t url = FLEET_MQTT_URL_INIT;
  if (fleet_mqtt_url_parse(&url, o.mqtt)) {
    fprintf(stderr, "fleet-sim: --mqtt: %s\n", fleet_error_last());
    return EXIT_USAGE;
  }
  if (!url.tls && (o.cafile || o.cert || o.cert_dir || o.insecure)) {
    fprintf(stderr, "fleet-sim: TLS options need an mqtts:// URL\n");
    return EXIT_USAGE;
  }
  int64_t start_ns;
  if (o.start) {
    if (fleet_time_parse(&start_ns, o.start, strlen(o.start))) {
      fprintf(stderr, "fleet-sim: --start: %s\n", fleet_error_last());
      return EXIT_USAGE;
    }
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    start_ns = (int64_t)ts.tv_sec * 1000000000;
  }
  unsigned int width = 5;
  for (unsigned long x = o.vehicles - 1; x >= 100000; x /= 10)
    width++;
  {
    char last[128];
    snprintf(last, sizeof last, "%s%0*lu", o.prefix, (int)width, o.vehicles - 1);
    if (fleet_vehicle_id_validate(last, strlen(last))) {
      fprintf(stderr, "fleet-sim: --vehicle-prefix: %s\n", fleet_error_last());
      return EXIT_USAGE;
    }
  }
  if ((o.cafile && file_readable("--cafile", o.cafile)) ||
      (o.cert && (file_readable("--cert", o.cert) || file_readable("--key", o.key))))
    return EXIT_USAGE;

  size_t nveh = o.vehicles;
  size_t nconn = o.connections ? o.connections : nveh;
  if (raise_fd_limit(nconn + 64, o.quiet))
    return EXIT_USAGE;

  sim_area_t area = {o.center_lat, o.center_lng, o.radius_km * 1000.0};
  sim_vehicle_t *veh = calloc(nveh, sizeof *veh);
  uint32_t *order = calloc(nveh, sizeof *order);
  char **ids = calloc(nconn, sizeof *ids);
  char **certs = o.cert_dir ? calloc(nconn, sizeof *certs) : NULL;
  if (!veh || !order || !ids || (o.cert_dir && !certs)) {
    fprintf(stderr, "fleet-sim: out of memory\n");
    return EXIT_RUN_FAILED;
  }
  int64_t imin = (int64_t)llround(o.interval_min_s * 1e9);
  int64_t imax = (int64_t)llround(o.interval_max_s * 1e9);
  for (size_t i = 0; i < nveh; i++) {
    sim_vehicle_init(&veh[i], o.prefix, width, (uint32_t)i, o.seed, &area, start_ns, imin, imax);
    veh[i].conn = (uint32_t)(i % nconn);
    order[i] = (uint32_t)i;
  }
  char idbuf[256];
  for (size_t k = 0; k < nconn; k++) {
    if (nconn == nveh)
      snprintf(idbuf, sizeof idbuf, "fleet-sim-%s", veh[k].id);
    else
      snprintf(idbuf, sizeof idbuf, "fleet-sim-%s-c%zu-%ld", o.prefix, k, (long)getpid());
    ids[k] = strdup(idbuf);
    if (certs) {
      certs[k] = strdup(veh[k].id);
      char path[4096];
      snprintf(path, sizeof path, "%s/%s.crt", o.cert_dir, veh[k].id);
      if (file_readable("--cert-dir certificate", path))
        return EXIT_USAGE;
      snprintf(path, sizeof path, "%s/%s.key", o.cert_dir, veh[k].id);
      if (file_readable("--cert-dir key", path))
        return EXIT_USAGE;
    }
    if (!ids[k] || (certs && !certs[k])) {
      fprintf(stderr, "fleet-sim: out of memory\n");
      return EXIT_RUN_FAILED;
    }
  }

  FILE *dump = NULL;
  if (o.dump && !(dump = fopen(o.dump, "w"))) {
    fprintf(stderr, "fleet-sim: --dump %s: %s\n", o.dump, strerror(errno));
    return EXIT_USAGE;
  }

  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  net_opts_t no = {
    .url = url, .username = o.username, .password = o.password, .keepalive_s = o.keepalive_s,
    .max_inflight = o.max_inflight, .connect_burst = o.connect_burst,
    .reconnect_min_ms = 500, .reconnect_max_ms = 10000, .cafile = o.cafile, .cert = o.cert,
    .key = o.key, .cert_dir = o.cert_dir, .insecure = o.insecure, .verbose = o.verbose,
  };
  net_t *net = NULL;
  if (net_new(&net, &no, nconn, (const char *const *)ids, (const char *const *)certs))
    return EXIT_RUN_FAILED;
  for (size_t k = 0; k < nconn; k++) {
    free(ids[k]);
    if (certs)
      free(certs[k]);
  }
  free(ids);
  free(certs);

  /* Connect everything first, so that the clock starts with the fleet online. */
  int64_t t_connect = sim_mono_ms();
  status_t st = {.path = o.status_file, .net = net, .nconn = nconn, .t_start_ms = t_connect};
  net_stats_t s;
  for (;;) {
    net_run(net, 20);
    status_write(&st, "connecting", 0, 0);
    net_get_stats(net, &s);
    if (s.ever_connected + s.connect_failures >= nconn && s.ever_connected >= nconn)
      break;
    if (stop_signals || sim_mono_ms() - t_connect > (int64_t)(o.connect_timeout_s * 1000))
      break;
  }
  if (!o.quiet && s.ever_connected < nconn)
    fprintf(stderr, "fleet-sim: %llu of %zu connections up after %.1f s (%s); going on\n",
            (unsigned long long)s.ever_connected, nconn,
            (double)(sim_mono_ms() - t_connect) / 1000.0, net_last_error(net));
  if (o.verbose)
    fprintf(stderr, "fleet-sim: %zu connections up in %.2f s\n", (size_t)s.ever_connected,
            (double)(sim_mono_ms() - t_connect) / 1000.0);

  if (!o.start) {
    /* Without --start the simulated clock starts now, to the millisecond, not
     * when the process began: a payload's ts is then the moment it is due to
     * be published, whatever the connections took, and a receiver can measure
     * its latency from ts. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec / 1000000 * 1000000;
    for (size_t i = 0; i < nveh; i++) {
      veh[i].t_ns += now_ns - start_ns;
      veh[i].next_ns += now_ns - start_ns;
    }
    start_ns = now_ns;
  }

  heap_t h = {order, nveh, veh};
  for (size_t i = nveh / 2 + 1; i-- > 0;)
    sift_down(&h, i);

  fleet_buf_t payload = FLEET_BUF_INIT;
  char topic[FLEET_VEHICLE_ID_MAX + 32];
  uint64_t generated = 0, bad = 0;
  int failed = 0;
  int64_t t0 = sim_mono_ms();
  int64_t last_tokens_ms = t0;
  double tokens = 1.0;
  double burst = o.rate > 0 ? fmax(1.0, o.rate / 20.0) : 0.0;
  int generating = 1;
  while (generating) {
    int64_t now = sim_mono_ms();
    if (stop_signals || (o.duration_s > 0 && now - t0 >= (int64_t)(o.duration_s * 1000)))
      break;
    if (o.rate > 0) {
      tokens = fmin(burst, tokens + (double)(now - last_tokens_ms) * o.rate / 1000.0);
      last_tokens_ms = now;
    }
    int wait_ms = 50;
    net_get_stats(net, &s);
    int room = s.queued < MAX_QUEUED_MSGS && s.queued_bytes < MAX_QUEUED_BYTES;
    for (int batch = 0; room && batch < 4096; batch++) {
      sim_vehicle_t *v = &veh[h.a[0]];
      if (!o.fast) {
        double due = (double)t0 + (double)(v->next_ns - start_ns) / 1e6 / o.time_scale;
        if (due > (double)now) {
          double d = due - (double)now;
          wait_ms = d < 50.0 ? (int)ceil(d) : 50;
          break;
        }
      }
      if (o.rate > 0 && tokens < 1.0) {
        int d = (int)ceil((1.0 - tokens) * 1000.0 / o.rate);
        wait_ms = d < wait_ms ? d : wait_ms;
        break;
      }
      int is_bad = 0;
      if (sim_vehicle_next(v, &area, o.bad_ratio, &payload, &is_bad)) {
        fprintf(stderr, "fleet-sim: %s: %s\n", v->id, fleet_error_last());
        failed = 1;
        generating = 0;
        break;
      }
      snprintf(topic, sizeof topic, "fleet/%s/telemetry", v->id);
      if (net_publish(net, v->conn, topic, payload.ptr, payload.len, o.qos, o.retain)) {
        fprintf(stderr, "fleet-sim: out of memory\n");
        failed = 1;
        generating = 0;
        break;
      }
      if (dump)
        fprintf(dump, "%s\t%s\n", v->id, payload.ptr);
      generated++;
      bad += (uint64_t)is_bad;
      tokens -= 1.0;
      sift_down(&h, 0);
      if (o.count && generated >= o.count) {
        generating = 0;
        break;
      }
      if ((batch & 255) == 255) {
        net_get_stats(net, &s);
        room = s.queued < MAX_QUEUED_MSGS && s.queued_bytes < MAX_QUEUED_BYTES;
      }
    }
    if (!room)
      wait_ms = 5;
    status_write(&st, "publishing", generated, 0);
    net_run(net, generating && (o.fast && room && (o.rate <= 0 || tokens >= 1.0)) ? 0 : wait_ms);
  }

  /* Drain: everything sent, every QoS 1 message acknowledged. */
  int64_t t_drain = sim_mono_ms();
  for (;;) {
    net_get_stats(net, &s);
    int done = s.queued == 0 && s.out_bytes == 0 && (o.qos == 0 || s.inflight == 0);
    if (done || stop_signals > 1 ||
        sim_mono_ms() - t_drain > (int64_t)(o.ack_timeout_s * 1000))
      break;
    net_run(net, 20);
    status_write(&st, "draining", generated, 0);
  }
  int64_t t_end = sim_mono_ms();
  net_get_stats(net, &s);
  net_close_all(net, 2000);
  status_write(&st, "done", generated, 1);
  double elapsed = (double)(t_end - t0) / 1000.0;
  if (dump && fclose(dump) != 0) {
    fprintf(stderr, "fleet-sim: --dump %s: %s\n", o.dump, strerror(errno));
    failed = 1;
  }

  uint64_t unsent = generated - s.published;
  uint64_t unacked = o.qos ? s.published - s.acked : 0;
  uint64_t errors =
    s.connect_failures + s.connection_losses + s.protocol_errors + unsent + unacked;
  if (unsent || unacked)
    failed = 1;
  if (o.report && write_report(&o, net, veh, nveh, nconn, &s, generated, bad, errors, elapsed))
    failed = 1;
  if (!o.quiet) {
    printf("fleet-sim: %llu messages (%llu malformed) from %zu vehicles over %zu connections in "
           "%.2f s: %.0f msg/s",
           (unsigned long long)s.published, (unsigned long long)bad, nveh, nconn, elapsed,
           elapsed > 0 ? (double)s.published / elapsed : 0.0);
    if (o.qos)
      printf("; QoS 1 acked %llu/%llu", (unsigned long long)s.acked,
             (unsigned long long)s.published);
    printf("; %llu errors", (unsigned long long)errors);
    if (unsent)
      printf(" (%llu not sent)", (unsigned long long)unsent);
    printf("\n");
    if (errors && net_last_error(net)[0])
      fprintf(stderr, "fleet-sim: last error: %s\n", net_last_error(net));
  }
  fleet_buf_dispose(&payload);
  net_free(net);
  free(veh);
  free(order);
  return failed ? EXIT_RUN_FAILED : 0;
}
