/* fleetd configuration: one table of options read from a JSON file, the
 * environment and the command line, in that order of precedence. */
#include "fleetd.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kind {
  K_STR,         /* char[size] */
  K_SECRET,      /* char[size], printed redacted */
  K_SECRET_FILE, /* reads a file into the K_SECRET at `off`; not printed */
  K_UINT,        /* unsigned int in [min, max] */
  K_U64,         /* uint64_t in [min, max] */
  K_DOUBLE,      /* double in [min, max] */
  K_BOOL,        /* bool */
  K_INTBOOL,     /* int 0/1 */
  K_LEVEL,       /* int log level */
  K_PARTITION,   /* "i/n" -> partition_index, partition_count */
  K_PROTOCOL,    /* "3.1.1" / "5" -> 4 / 5 */
  K_API,         /* "v1" | "v2" | "v3" */
  K_AUTH         /* "auto" | "none" | "token" | "bearer" | "basic" */
};

typedef struct opt {
  const char *name; /* dotted: section.key */
  const char *env;  /* overriding environment variable, or NULL */
  enum kind kind;
  size_t off;
  size_t size;
  double min, max;
  const char *help;
} opt_t;

#define OFF(f) offsetof(fleetd_config_t, f)
#define SZ(f) sizeof(((fleetd_config_t *)0)->f)
#define STR(n, e, f, h) {n, e, K_STR, OFF(f), SZ(f), 0, 0, h}
#define SECRET(n, e, f, h) {n, e, K_SECRET, OFF(f), SZ(f), 0, 0, h}
#define SECRET_FILE(n, e, f, h) {n, e, K_SECRET_FILE, OFF(f), SZ(f), 0, 0, h}
#define UINT(n, e, f, lo, hi, h) {n, e, K_UINT, OFF(f), SZ(f), lo, hi, h}
#define U64(n, e, f, lo, hi, h) {n, e, K_U64, OFF(f), SZ(f), lo, hi, h}
#define DBL(n, e, f, lo, hi, h) {n, e, K_DOUBLE, OFF(f), SZ(f), lo, hi, h}
#define BOOL(n, e, f, h) {n, e, K_BOOL, OFF(f), SZ(f), 0, 1, h}
#define INTBOOL(n, e, f, h) {n, e, K_INTBOOL, OFF(f), SZ(f), 0, 1, h}
#define SPECIAL(n, e, k, f, h) {n, e, k, OFF(f), SZ(f), 0, 0, h}

/* Environment variables of the influx section are read by
 * fleet_influx_config_from_env() (FLEET_INFLUX_URL, _TOKEN, _TOKEN_FILE, ...);
 * they are listed here for --help and the dump only. */
static const opt_t opts[] = {
  STR("role", "FLEET_ROLE", role,
      "all: ingest (+ gateway with http) | ingest: no dashboard, REST or WebSocket feed "
      "(http serves /healthz, /readyz, /metrics) | gateway: dashboard, REST and WebSocket "
      "feed of every vehicle, alerts from fleet/+/alerts, nothing written to InfluxDB"),
  UINT("reload_interval_s", "FLEET_RELOAD_INTERVAL", reload_interval_s, 0, 3600,
       "check the zones and rules files for changes this often (0: on SIGHUP only)"),
  STR("state_dir", "FLEET_STATE_DIR", state_dir,
      "ingest log, spools, dead letters, default zones and rules"),
  STR("zones_file", "FLEET_ZONES_FILE", zones_file,
      "GeoJSON geofences (default STATE_DIR/zones.geojson; absent: no zones)"),
  STR("rules_file", "FLEET_RULES_FILE", rules_file,
      "alert rules (default STATE_DIR/rules.json; absent: no rules)"),
  SPECIAL("log_level", "FLEET_LOG_LEVEL", K_LEVEL, log_level, "debug | info | warn | error"),
  UINT("stats_interval_s", "FLEET_STATS_INTERVAL", stats_interval_s, 0, 86400,
       "log every counter this often (0: only at exit)"),
  UINT("reject_log_per_s", NULL, reject_log_per_s, 0, 100000,
       "most rejected-payload log lines per second (the rest are counted)"),
  UINT("shutdown_timeout_ms", NULL, shutdown_timeout_ms, 0, 600000,
       "deadline for delivering what is left at SIGTERM"),
  STR("http", "FLEET_HTTP", http,
      "ADDR:PORT of the WebSocket/REST gateway and dashboard (\"\": none); users and "
      "token keys in STATE_DIR (fleetctl user)"),
  STR("web_root", "FLEET_WEB_ROOT", web_root, "the built dashboard (web/dist) to serve"),
  STR("http_tls_cert", NULL, http_tls_cert, "PEM certificate: serve HTTPS/WSS"),
  STR("http_tls_key", NULL, http_tls_key, "its PEM key"),
  STR("http_allowed_origins", NULL, http_allowed_origins,
      "other origins whose pages may use the WebSocket (comma-separated)"),
  UINT("ws_flush_ms", NULL, ws_flush_ms, 5, 1000,
       "WebSocket flush tick: the longest a due position waits before it is sent"),
  STR("dashboard.style_url", NULL, dashboard_style_url, "MapLibre style URL (\"\": offline)"),
  STR("dashboard.basemap", NULL, dashboard_basemap, "offline basemap GeoJSON path"),
  DBL("dashboard.center_lat", NULL, dashboard_center_lat, -90, 90, "initial map centre"),
  DBL("dashboard.center_lng", NULL, dashboard_center_lng, -180, 180, ""),
  DBL("dashboard.zoom", NULL, dashboard_zoom, 0, 22, "initial zoom"),
  STR("auth.issuer", NULL, auth_issuer, "iss written to and required in tokens (\"\": none)"),
  STR("auth.audience", NULL, auth_audience,
      "aud written to and required in tokens (\"\": none)"),
  UINT("auth.leeway_s", NULL, auth_leeway_s, 0, 3600, "clock skew allowed for exp, nbf, iat"),
  UINT("auth.access_ttl_s", NULL, auth_access_ttl_s, 1, 31536000,
       "lifetime of the access tokens of the login endpoint"),
  STR("auth.keys", NULL, auth_keys,
      "more token verification keys: ALG:KID:FILE,... (RS256/ES256 PEM public key or HS256 "
      "secret file; empty KID: tokens without kid)"),

  STR("mqtt.url", "FLEET_MQTT_URL", mqtt_url, "mqtt://HOST[:PORT] or mqtts://HOST[:PORT]"),
  STR("mqtt.client_id", "FLEET_MQTT_CLIENT_ID", client_id,
      "fixed client id of the persistent session (default fleetd, fleetd-pIofN with a "
      "partition, fleetd-HOSTNAME with a share group, fleetd-gw-HOSTNAME in role gateway)"),
  STR("mqtt.username", "FLEET_MQTT_USERNAME", mqtt_username, "broker user name"),
  SECRET("mqtt.password", "FLEET_MQTT_PASSWORD", mqtt_password, "broker password"),
  SECRET_FILE("mqtt.password_file", "FLEET_MQTT_PASSWORD_FILE", mqtt_password,
              "file holding the broker password"),
  STR("mqtt.ca_file", "FLEET_MQTT_CA_FILE", mqtt_ca_file, "PEM CA bundle (mqtts)"),
  STR("mqtt.ca_path", NULL, mqtt_ca_path, "directory of hashed CA certificates (mqtts)"),
  STR("mqtt.cert_file", "FLEET_MQTT_CERT_FILE", mqtt_cert_file, "client certificate (mqtts)"),
  STR("mqtt.key_file", "FLEET_MQTT_KEY_FILE", mqtt_key_file, "client key (mqtts)"),
  BOOL("mqtt.tls_insecure", NULL, mqtt_tls_insecure, "skip the server host name check"),
  STR("mqtt.tls_version", NULL, mqtt_tls_version, "tlsv1.2 | tlsv1.3 (default: 1.2 and up)"),
  UINT("mqtt.qos", NULL, mqtt_qos, 0, 2, "subscription QoS"),
  SPECIAL("mqtt.protocol", "FLEET_MQTT_PROTOCOL", K_PROTOCOL, mqtt_protocol, "3.1.1 | 5"),
  UINT("mqtt.keepalive_s", NULL, mqtt_keepalive_s, 5, 65535, "keepalive"),
  STR("mqtt.share_group", "FLEET_MQTT_SHARE_GROUP", share_group,
      "subscribe as a member of $share/GROUP/fleet/+/telemetry"),
  SPECIAL("mqtt.partition", "FLEET_MQTT_PARTITION", K_PARTITION, partition_index,
          "I/N: keep only the vehicles of partition I of N"),
  UINT("mqtt.reconnect_min_ms", NULL, reconnect_min_ms, 10, 3600000, "first reconnect delay"),
  UINT("mqtt.reconnect_max_ms", NULL, reconnect_max_ms, 10, 3600000, "reconnect delay cap"),
  UINT("mqtt.max_packet_size", NULL, max_packet_size, 0, 268435455,
       "drop larger messages (0: no limit)"),
  BOOL("mqtt.publish_alerts", NULL, publish_alerts, "publish alerts to fleet/ID/alerts"),

  STR("influx.url", "FLEET_INFLUX_URL", influx.url, "InfluxDB base URL"),
  SPECIAL("influx.api", "FLEET_INFLUX_API", K_API, influx.api, "v1 | v2 | v3"),
  STR("influx.database", "FLEET_INFLUX_DB", influx.database,
      "raw tier database (v2: bucket)"),
  STR("influx.retention_policy", "FLEET_INFLUX_RP", influx.retention_policy,
      "raw tier retention policy (v1)"),
  STR("influx.downsampled_database", "FLEET_INFLUX_DOWNSAMPLED_DB", downsampled_db,
      "hourly aggregates, trips, geofence events and alerts"),
  STR("influx.downsampled_retention_policy", "FLEET_INFLUX_DOWNSAMPLED_RP", downsampled_rp,
      "its retention policy (v1)"),
  STR("influx.org", "FLEET_INFLUX_ORG", influx.org, "organisation (v2)"),
  SECRET("influx.token", "FLEET_INFLUX_TOKEN", influx.token, "API token"),
  SECRET_FILE("influx.token_file", "FLEET_INFLUX_TOKEN_FILE", influx.token,
              "file holding the API token"),
  STR("influx.username", "FLEET_INFLUX_USERNAME", influx.username, "user (v1)"),
  SECRET("influx.password", "FLEET_INFLUX_PASSWORD", influx.password, "password (v1)"),
  SECRET_FILE("influx.password_file", "FLEET_INFLUX_PASSWORD_FILE", influx.password,
              "file holding the password"),
  SPECIAL("influx.auth", "FLEET_INFLUX_AUTH", K_AUTH, influx.auth,
          "auto | none | token | bearer | basic"),
  STR("influx.ca_file", "FLEET_INFLUX_CA_FILE", influx.ca_file, "PEM CA bundle (https)"),
  INTBOOL("influx.insecure", "FLEET_INFLUX_INSECURE", influx.insecure,
          "skip TLS certificate checks"),
  UINT("influx.timeout_ms", "FLEET_INFLUX_TIMEOUT_MS", influx.timeout_ms, 1, 3600000,
       "whole-request timeout"),
  UINT("influx.connect_timeout_ms", "FLEET_INFLUX_CONNECT_TIMEOUT_MS",
       influx.connect_timeout_ms, 1, 3600000, "connect timeout"),
  UINT("influx.batch_max_points", NULL, batch_max_points, 1, 1000000, "lines per request"),
  UINT("influx.flush_interval_ms", NULL, flush_interval_ms, 1, 3600000,
       "longest wait of a line before it is sent"),
  U64("influx.queue_max_bytes", NULL, queue_max_bytes, 65536, 1e12,
      "line protocol held in memory per writer before spooling"),
  UINT("influx.gzip_level", NULL, gzip_level, 0, 9, "request compression (0: none)"),
  U64("influx.spool_max_bytes", NULL, spool_max_bytes, 0, 1e15,
      "disk cap of each writer's spool (0: no cap)"),

  STR("tags.fleet_id", "FLEET_FLEET_ID", fleet_id, "fleet_id tag on every point"),
  STR("tags.device_type", "FLEET_DEVICE_TYPE", device_type, "device_type tag on every point"),

  DBL("tracker.offline_after_s", NULL, offline_after_s, 0, 1e9,
      "silence after which a vehicle is offline (0: never)"),
  UINT("tracker.tick_interval_ms", NULL, tick_interval_ms, 0, 3600000,
       "clock tick: offline alerts, parked trips, hourly closing (0: off)"),
  UINT("tracker.zone_debounce_fixes", NULL, zone_debounce_fixes, 1, 1000,
       "fixes that confirm a zone change"),
  DBL("tracker.zone_debounce_s", NULL, zone_debounce_s, 0, 86400,
      "seconds a zone change must last"),
  BOOL("tracker.hourly", NULL, hourly, "write hourly aggregates"),
  DBL("tracker.hourly_grace_s", NULL, hourly_grace_s, 0, 86400,
      "wait for late fixes before closing an hour"),
  UINT("tracker.hourly_history_hours", NULL, hourly_history_hours, 0, 168,
       "closed hours kept per vehicle to correct them with late fixes"),
  DBL("trip.min_trip_distance_m", NULL, trip.min_trip_distance_m, 0, 1e9,
      "shortest GPS path of a reported trip"),
  DBL("trip.min_trip_duration_s", NULL, trip.min_trip_duration_s, 0, 2592000,
      "shortest reported trip"),
  DBL("trip.min_parking_s", NULL, trip.min_parking_s, 0, 2592000,
      "inactivity that ends a trip"),
  DBL("trip.max_gap_s", NULL, trip.max_gap_s, 0, 2592000,
      "silence that ends a trip (0: never)"),
  DBL("trip.speed_threshold_kmh", NULL, trip.speed_threshold_kmh, 0, 1000,
      "above it a fix is moving"),
  INTBOOL("trip.use_ignition", NULL, trip.use_ignition, "ignition decides activity"),
  INTBOOL("trip.use_odometer", NULL, trip.use_odometer, "prefer a sane odometer distance"),
  DBL("trip.tank_l", NULL, trip.tank_l, 0, 1e6, "tank size for fuel-level estimates"),
  DBL("trip.consumption_l_per_100km", NULL, trip.consumption_l_per_100km, 0, 1e4,
      "fuel estimate while driving"),
  DBL("trip.idle_l_per_h", NULL, trip.idle_l_per_h, 0, 1e4, "fuel estimate while idling"),

  STR("ingest_log.checkpoint", NULL, checkpoint_mode,
      "durable: checkpoint what the writers hold in their write-ahead spools; flush: "
      "only what InfluxDB confirmed (pauses intake while the writers flush)"),
  UINT("ingest_log.sync_interval_ms", NULL, sync_interval_ms, 1, 3600000,
       "fdatasync of the ingest log (bounds the loss at an OS crash)"),
  UINT("ingest_log.checkpoint_interval_ms", NULL, checkpoint_interval_ms, 100, 3600000,
       "how often confirmed records are checkpointed"),
  UINT("ingest_log.checkpoint_timeout_ms", NULL, checkpoint_timeout_ms, 10, 600000,
       "flush mode: longest intake pause while InfluxDB confirms a checkpoint"),
  U64("ingest_log.segment_bytes", NULL, segment_bytes, 4096, 1e12, "segment file size"),
};

#define NOPTS (sizeof opts / sizeof opts[0])

static void *field(fleetd_config_t *c, const opt_t *o)
{
  return (char *)c + o->off;
}

static const void *cfield(const fleetd_config_t *c, const opt_t *o)
{
  return (const char *)c + o->off;
}

void fleetd_config_defaults(fleetd_config_t *c)
{
  memset(c, 0, sizeof *c);
  snprintf(c->role, sizeof c->role, "all");
  c->reload_interval_s = 2;
  snprintf(c->mqtt_url, sizeof c->mqtt_url, "%s", FLEET_MQTT_URL_DEFAULT);
  c->mqtt_qos = 1;
  c->mqtt_protocol = FLEET_MQTT_PROTOCOL_V311;
  c->mqtt_keepalive_s = 30;
  c->reconnect_min_ms = 500;
  c->reconnect_max_ms = 30000;
  c->publish_alerts = true;

  fleet_influx_config_init(&c->influx, FLEET_INFLUX_CONFIG_VERSION);
  snprintf(c->influx.database, sizeof c->influx.database, "%s", FLEET_HISTORY_DB_RAW);
  snprintf(c->downsampled_db, sizeof c->downsampled_db, "%s", FLEET_HISTORY_DB_DOWNSAMPLED);
  c->batch_max_points = 5000;
  c->flush_interval_ms = 1000;
  c->queue_max_bytes = 64u * 1024u * 1024u;
  c->gzip_level = 1;
  c->spool_max_bytes = FLEET_SPOOL_MAX_BYTES_DEFAULT;

  /* systemd's StateDirectory= tells a service where its state goes; a user
   * running fleetd by hand gets a directory beside them. */
  const char *sd = getenv("STATE_DIRECTORY");
  if (sd && *sd) {
    size_t n = strcspn(sd, ":");
    snprintf(c->state_dir, sizeof c->state_dir, "%.*s", (int)n, sd);
  } else {
    snprintf(c->state_dir, sizeof c->state_dir, "fleetd-state");
  }

  c->offline_after_s = FLEET_TRACKER_DEFAULT_OFFLINE_AFTER_S;
  c->tick_interval_ms = 1000;
  c->zone_debounce_fixes = 1;
  c->hourly = true;
  c->hourly_grace_s = FLEET_DOWNSAMPLE_DEFAULT_GRACE_S;
  c->hourly_history_hours = FLEET_DOWNSAMPLE_DEFAULT_HISTORY_HOURS;
  fleet_trip_params_init(&c->trip, FLEET_TRIP_PARAMS_VERSION);

  snprintf(c->checkpoint_mode, sizeof c->checkpoint_mode, "durable");
  c->sync_interval_ms = FLEET_INGESTLOG_SYNC_INTERVAL_DEFAULT;
  c->checkpoint_interval_ms = 5000;
  c->checkpoint_timeout_ms = 3000;
  /* Smaller than the library's 64 MiB: the segment being written is mapped,
   * so its pages count in fleetd's resident memory until the segment is
   * checkpointed and deleted. */
  c->segment_bytes = 16u * 1024u * 1024u;

  snprintf(c->dashboard_basemap, sizeof c->dashboard_basemap, "/basemap/world.geojson");
  c->dashboard_center_lat = 23.8103;
  c->dashboard_center_lng = 90.4125;
  c->dashboard_zoom = 11;
  c->auth_leeway_s = FLEET_AUTH_LEEWAY_DEFAULT;
  c->auth_access_ttl_s = FLEET_AUTH_ACCESS_TTL_DEFAULT;
  c->log_level = FLEETD_INFO;
  c->stats_interval_s = 60;
  c->reject_log_per_s = 10;
  c->shutdown_timeout_ms = 10000;
  c->ws_flush_ms = FLEET_WS_FLUSH_DEFAULT;
}

static const opt_t *find_opt(const char *name)
{
  for (size_t i = 0; i < NOPTS; i++)
    if (strcmp(opts[i].name, name) == 0)
      return &opts[i];
  return NULL;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

static int read_secret_file(char *dst, size_t cap, const char *path, const char *name, char *err,
                            size_t errlen)
{
  FILE *f = fopen(path, "r");
  if (!f)
    return fail(err, errlen, "%s: cannot open '%s': %s", name, path, strerror(errno));
  size_t n = fread(dst, 1, cap, f);
  int bad = ferror(f);
  fclose(f);
  if (bad)
    return fail(err, errlen, "%s: cannot read '%s'", name, path);
  if (n >= cap)
    return fail(err, errlen, "%s: '%s' is longer than %zu bytes", name, path, cap - 1);
  while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == '\r' || dst[n - 1] == ' ' ||
                   dst[n - 1] == '\t'))
    n--;
  dst[n] = '\0';
  if (memchr(dst, '\0', n))
    return fail(err, errlen, "%s: '%s' holds a NUL byte", name, path);
  return 0;
}

static int parse_number(double *out, const char *s)
{
  if (!*s)
    return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !isfinite(v))
    return -1;
  *out = v;
  return 0;
}

static int parse_bool(bool *out, const char *s)
{
  static const char *const t[] = {"1", "true", "yes", "on"};
  static const char *const f[] = {"0", "false", "no", "off"};
  for (size_t i = 0; i < 4; i++) {
    if (strcmp(s, t[i]) == 0) {
      *out = true;
      return 0;
    }
    if (strcmp(s, f[i]) == 0) {
      *out = false;
      return 0;
    }
  }
  return -1;
}

static int parse_partition(unsigned int *idx, unsigned int *cnt, const char *s)
{
  if (!*s) {
    *idx = 0;
    *cnt = 0;
    return 0;
  }
  char *end;
  errno = 0;
  unsigned long i = strtoul(s, &end, 10);
  if (errno || end == s || *end != '/' || s[0] == '-')
    return -1;
  const char *p = end + 1;
  unsigned long n = strtoul(p, &end, 10);
  if (errno || end == p || *end || *p == '-' || n < 1 || n > 65536 || i >= n)
    return -1;
  *idx = (unsigned int)i;
  *cnt = n == 1 ? 0 : (unsigned int)n;
  return 0;
}

/* Set an option from text (environment, command line, or a file's scalar). */
static int set_text(fleetd_config_t *c, const opt_t *o, const char *v, const char *src, char *err,
                    size_t errlen)
{
  void *f = field(c, o);
  double d;
  bool b;
  switch (o->kind) {
  case K_STR:
  case K_SECRET:
    if (strlen(v) >= o->size)
      return fail(err, errlen, "%s (%s): longer than %zu bytes", o->name, src, o->size - 1);
    memcpy(f, v, strlen(v) + 1);
    return 0;
  case K_SECRET_FILE:
    return read_secret_file(f, o->size, v, o->name, err, errlen);
  case K_UINT:
  case K_U64:
    if (parse_number(&d, v) || d != floor(d) || d < o->min || d > o->max)
      return fail(err, errlen, "%s (%s): '%s' is not an integer in [%.0f, %.0f]", o->name, src, v,
                  o->min, o->max);
    if (o->kind == K_UINT)
      *(unsigned int *)f = (unsigned int)d;
    else
      *(uint64_t *)f = (uint64_t)d;
    return 0;
  case K_DOUBLE:
    if (parse_number(&d, v) || d < o->min || d > o->max)
      return fail(err, errlen, "%s (%s): '%s' is not a number in [%g, %g]", o->name, src, v,
                  o->min, o->max);
    *(double *)f = d;
    return 0;
  case K_BOOL:
  case K_INTBOOL:
    if (parse_bool(&b, v))
      return fail(err, errlen, "%s (%s): '%s' is not true/false", o->name, src, v);
    if (o->kind == K_BOOL)
      *(bool *)f = b;
    else
      *(int *)f = b;
    return 0;
  case K_LEVEL: {
    int l = fleetd_log_level_parse(v);
    if (l < 0)
      return fail(err, errlen, "%s (%s): '%s' is not debug, info, warn or error", o->name, src,
                  v);
    *(int *)f = l;
    return 0;
  }
  case K_PARTITION:
    if (parse_partition(&c->partition_index, &c->partition_count, v))
      return fail(err, errlen, "%s (%s): '%s' is not I/N with 0 <= I < N", o->name, src, v);
    return 0;
  case K_PROTOCOL:
    if (strcmp(v, "3.1.1") == 0 || strcmp(v, "4") == 0 || strcmp(v, "311") == 0)
      c->mqtt_protocol = FLEET_MQTT_PROTOCOL_V311;
    else if (strcmp(v, "5") == 0 || strcmp(v, "5.0") == 0)
      c->mqtt_protocol = FLEET_MQTT_PROTOCOL_V5;
    else
      return fail(err, errlen, "%s (%s): '%s' is not 3.1.1 or 5", o->name, src, v);
    return 0;
  case K_API:
    if (strcmp(v, "v1") == 0 || strcmp(v, "1") == 0)
      c->influx.api = FLEET_INFLUX_API_V1;
    else if (strcmp(v, "v2") == 0 || strcmp(v, "2") == 0)
      c->influx.api = FLEET_INFLUX_API_V2;
    else if (strcmp(v, "v3") == 0 || strcmp(v, "3") == 0)
      c->influx.api = FLEET_INFLUX_API_V3;
    else
      return fail(err, errlen, "%s (%s): '%s' is not v1, v2 or v3", o->name, src, v);
    return 0;
  case K_AUTH: {
    static const char *const names[] = {"auto", "none", "token", "bearer", "basic"};
    static const fleet_influx_auth_t vals[] = {FLEET_INFLUX_AUTH_AUTO, FLEET_INFLUX_AUTH_NONE,
                                               FLEET_INFLUX_AUTH_TOKEN, FLEET_INFLUX_AUTH_BEARER,
                                               FLEET_INFLUX_AUTH_BASIC};
    for (size_t i = 0; i < 5; i++)
      if (strcmp(v, names[i]) == 0) {
        c->influx.auth = vals[i];
        return 0;
      }
    return fail(err, errlen, "%s (%s): '%s' is not auto, none, token, bearer or basic", o->name,
                src, v);
  }
  }
  return fail(err, errlen, "%s: unknown option kind", o->name);
}

int fleetd_config_set(fleetd_config_t *c, const char *name, const char *value, char *err,
                      size_t errlen)
{
  const opt_t *o = find_opt(name);
  if (!o)
    return fail(err, errlen, "unknown option '%s' (fleetd --help lists them)", name);
  return set_text(c, o, value, "command line", err, errlen);
}

static int set_json(fleetd_config_t *c, const opt_t *o, json_t *v, const char *path, char *err,
                    size_t errlen)
{
  char num[64];
  switch (o->kind) {
  case K_UINT:
  case K_U64:
  case K_DOUBLE:
    if (!json_is_number(v))
      return fail(err, errlen, "%s: %s must be a number", path, o->name);
    snprintf(num, sizeof num, "%.17g", json_number_value(v));
    return set_text(c, o, num, path, err, errlen);
  case K_BOOL:
  case K_INTBOOL:
    if (!json_is_boolean(v))
      return fail(err, errlen, "%s: %s must be true or false", path, o->name);
    return set_text(c, o, json_is_true(v) ? "true" : "false", path, err, errlen);
  case K_PROTOCOL:
    if (json_is_integer(v)) {
      snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
      return set_text(c, o, num, path, err, errlen);
    }
    break;
  case K_PARTITION:
    if (json_is_null(v))
      return set_text(c, o, "", path, err, errlen);
    break;
  default:
    break;
  }
  if (!json_is_string(v))
    return fail(err, errlen, "%s: %s must be a string", path, o->name);
  if (strlen(json_string_value(v)) != json_string_length(v))
    return fail(err, errlen, "%s: %s holds a NUL byte", path, o->name);
  return set_text(c, o, json_string_value(v), path, err, errlen);
}

static int load_object(fleetd_config_t *c, json_t *obj, const char *prefix, const char *path,
                       char *err, size_t errlen)
{
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    char name[128];
    snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
    if (json_is_object(v) && !*prefix) {
      if (load_object(c, v, key, path, err, errlen))
        return -1;
      continue;
    }
    const opt_t *o = find_opt(name);
    if (!o)
      return fail(err, errlen, "%s: unknown option '%s'", path, name);
    if (set_json(c, o, v, path, err, errlen))
      return -1;
  }
  return 0;
}

int fleetd_config_load_file(fleetd_config_t *c, const char *path, char *err, size_t errlen)
{
  json_error_t je;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return fail(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
  int rc = 0;
  if (!json_is_object(root))
    rc = fail(err, errlen, "%s: the configuration must be a JSON object", path);
  else
    rc = load_object(c, root, "", path, err, errlen);
  json_decref(root);
  return rc;
}

int fleetd_config_load_env(fleetd_config_t *c, char *err, size_t errlen)
{
  /* The influx connection variables, with the library's own rules. */
  if (fleet_influx_config_from_env(&c->influx, NULL))
    return fail(err, errlen, "environment: %s", fleet_error_last());
  for (size_t i = 0; i < NOPTS; i++) {
    const opt_t *o = &opts[i];
    if (!o->env || strncmp(o->name, "influx.", 7) == 0)
      continue;
    const char *v = getenv(o->env);
    if (!v || !*v)
      continue;
    char src[96];
    snprintf(src, sizeof src, "environment %s", o->env);
    if (set_text(c, o, v, src, err, errlen))
      return -1;
  }
  /* Ours, not the library's: the second database. */
  static const char *const own[] = {"influx.downsampled_database",
                                    "influx.downsampled_retention_policy"};
  for (size_t i = 0; i < 2; i++) {
    const opt_t *o = find_opt(own[i]);
    const char *v = getenv(o->env);
    if (v && *v && set_text(c, o, v, o->env, err, errlen))
      return -1;
  }
  return 0;
}

static bool valid_hostport(const char *s)
{
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s)
    return false;
  char *end;
  errno = 0;
  unsigned long p = strtoul(colon + 1, &end, 10);
  return !errno && end != colon + 1 && !*end && p <= 65535;
}

int fleetd_config_finish(fleetd_config_t *c, char *err, size_t errlen)
{
  fleet_mqtt_url_t url = FLEET_MQTT_URL_INIT;
  if (fleet_mqtt_url_parse(&url, c->mqtt_url))
    return fail(err, errlen, "mqtt.url: %s", fleet_error_last());
  if (!url.tls && (c->mqtt_ca_file[0] || c->mqtt_ca_path[0] || c->mqtt_cert_file[0] ||
                   c->mqtt_key_file[0] || c->mqtt_tls_version[0]))
    return fail(err, errlen, "mqtt: TLS files and versions need an mqtts:// URL (got %s)",
                c->mqtt_url);
  if (c->mqtt_password[0] && !c->mqtt_username[0])
    return fail(err, errlen, "mqtt.password: needs mqtt.username");
  if (c->reconnect_min_ms > c->reconnect_max_ms)
    return fail(err, errlen, "mqtt.reconnect_min_ms %u is above mqtt.reconnect_max_ms %u",
                c->reconnect_min_ms, c->reconnect_max_ms);
  if (strcmp(c->role, "all") == 0)
    c->role_id = FLEETD_ROLE_ALL;
  else if (strcmp(c->role, "ingest") == 0)
    c->role_id = FLEETD_ROLE_INGEST;
  else if (strcmp(c->role, "gateway") == 0)
    c->role_id = FLEETD_ROLE_GATEWAY;
  else
    return fail(err, errlen, "role: '%s' is not all, ingest or gateway", c->role);
  if (c->role_id == FLEETD_ROLE_GATEWAY) {
    /* A gateway serves every vehicle: a shared subscription or a partition
     * would hand it a part of them, and its clients would miss the rest. */
    if (c->share_group[0])
      return fail(err, errlen,
                  "mqtt.share_group: role gateway subscribes to every vehicle; a share "
                  "group would hand it only a part of them (the share group is for role "
                  "ingest)");
    if (c->partition_count > 1)
      return fail(err, errlen,
                  "mqtt.partition: role gateway subscribes to every vehicle; a partition "
                  "would drop the others (partitions are for role ingest)");
    if (!c->http[0])
      return fail(err, errlen, "http: role gateway needs http (ADDR:PORT) to serve anything");
  } else if (c->web_root[0] && c->role_id == FLEETD_ROLE_INGEST) {
    return fail(err, errlen,
                "web_root: role ingest serves no dashboard (only /healthz, /readyz and "
                "/metrics); run role gateway or all for it");
  }
  if (c->share_group[0] && c->partition_count > 1)
    return fail(err, errlen,
                "mqtt.share_group and mqtt.partition exclude each other: a shared "
                "subscription hands each instance a part of the messages, and a partition "
                "would then drop most of that part");
  if (!c->client_id[0]) {
    if (c->role_id == FLEETD_ROLE_GATEWAY) {
      /* Every gateway replica has its own (clean) session. */
      char host[128] = "localhost";
      gethostname(host, sizeof host - 1);
      host[sizeof host - 1] = '\0';
      snprintf(c->client_id, sizeof c->client_id, "fleetd-gw-%.100s", host);
    } else if (c->partition_count > 1)
      snprintf(c->client_id, sizeof c->client_id, "fleetd-p%uof%u", c->partition_index,
               c->partition_count);
    else if (c->share_group[0]) {
      char host[128] = "localhost";
      gethostname(host, sizeof host - 1);
      host[sizeof host - 1] = '\0';
      snprintf(c->client_id, sizeof c->client_id, "fleetd-%.100s", host);
    } else
      snprintf(c->client_id, sizeof c->client_id, "fleetd");
  }
  if (!c->state_dir[0])
    return fail(err, errlen, "state_dir: must not be empty");
  if (!c->zones_file[0] &&
      snprintf(c->zones_file, sizeof c->zones_file, "%s/zones.geojson", c->state_dir) >=
          (int)sizeof c->zones_file)
    return fail(err, errlen, "state_dir: too long");
  if (!c->rules_file[0] &&
      snprintf(c->rules_file, sizeof c->rules_file, "%s/rules.json", c->state_dir) >=
          (int)sizeof c->rules_file)
    return fail(err, errlen, "state_dir: too long");
  if (fleet_influx_config_validate(&c->influx))
    return fail(err, errlen, "influx: %s", fleet_error_last());
  if (!c->downsampled_db[0])
    return fail(err, errlen, "influx.downsampled_database: must not be empty");
  if (strcmp(c->downsampled_db, c->influx.database) == 0 &&
      strcmp(c->downsampled_rp, c->influx.retention_policy) == 0)
    return fail(err, errlen,
                "influx.downsampled_database: '%s' is the raw tier's database too; the tiers "
                "need their own retention",
                c->downsampled_db);
  if (strcmp(c->checkpoint_mode, "durable") == 0)
    c->checkpoint_flush = false;
  else if (strcmp(c->checkpoint_mode, "flush") == 0)
    c->checkpoint_flush = true;
  else
    return fail(err, errlen, "ingest_log.checkpoint: '%s' is not durable or flush",
                c->checkpoint_mode);
  if (fleet_trip_params_validate(&c->trip))
    return fail(err, errlen, "trip: %s", fleet_error_last());
  const struct {
    const char *name, *key, *value;
  } tags[] = {{"tags.fleet_id", FLEET_HISTORY_TAG_FLEET_ID, c->fleet_id},
              {"tags.device_type", FLEET_HISTORY_TAG_DEVICE_TYPE, c->device_type}};
  for (size_t i = 0; i < 2; i++) {
    if (!tags[i].value[0])
      continue;
    fleet_buf_t b = FLEET_BUF_INIT;
    fleet_lp_point_t pt;
    fleet_lp_begin(&pt, &b, "m");
    fleet_lp_add_tag(&pt, tags[i].key, tags[i].value);
    fleet_lp_add_int(&pt, "f", 1);
    int rc = fleet_lp_end(&pt, 0);
    fleet_buf_dispose(&b);
    if (rc)
      return fail(err, errlen, "%s: not usable as an InfluxDB tag value: %s", tags[i].name,
                  fleet_error_last());
  }
  if (c->http[0] && !valid_hostport(c->http))
    return fail(err, errlen, "http: '%s' is not ADDR:PORT", c->http);
  if (!c->http_tls_cert[0] != !c->http_tls_key[0])
    return fail(err, errlen, "http_tls_cert and http_tls_key go together");
  if (fleetd_auth_keys_check(c->auth_keys, false, err, errlen))
    return -1;
  if (c->web_root[0]) {
    char index[FLEETD_PATH_MAX + 16];
    snprintf(index, sizeof index, "%s/index.html", c->web_root);
    if (access(index, R_OK) != 0)
      return fail(err, errlen, "web_root: %s has no readable index.html (build web/ first)",
                  c->web_root);
  }
  return 0;
}

static json_t *value_json(const fleetd_config_t *c, const opt_t *o)
{
  const void *f = cfield(c, o);
  char buf[32];
  switch (o->kind) {
  case K_STR:
    return json_string(f);
  case K_SECRET:
    return json_string(*(const char *)f ? "(redacted)" : "");
  case K_SECRET_FILE:
    return NULL;
  case K_UINT:
    return json_integer(*(const unsigned int *)f);
  case K_U64:
    return json_integer((json_int_t) * (const uint64_t *)f);
  case K_DOUBLE:
    return json_real(*(const double *)f);
  case K_BOOL:
    return json_boolean(*(const bool *)f);
  case K_INTBOOL:
    return json_boolean(*(const int *)f);
  case K_LEVEL:
    return json_string(fleetd_log_level_name(*(const int *)f));
  case K_PARTITION:
    if (c->partition_count < 2)
      return json_null();
    snprintf(buf, sizeof buf, "%u/%u", c->partition_index, c->partition_count);
    return json_string(buf);
  case K_PROTOCOL:
    return json_string(c->mqtt_protocol == FLEET_MQTT_PROTOCOL_V5 ? "5" : "3.1.1");
  case K_API:
    return json_string(fleet_influx_api_name(c->influx.api));
  case K_AUTH: {
    static const char *const names[] = {"auto", "none", "token", "bearer", "basic"};
    unsigned int a = (unsigned int)c->influx.auth;
    return json_string(a < 5 ? names[a] : "?");
  }
  }
  return NULL;
}

void fleetd_config_print(const fleetd_config_t *c, FILE *out)
{
  json_t *root = json_object();
  for (size_t i = 0; i < NOPTS; i++) {
    const opt_t *o = &opts[i];
    json_t *v = value_json(c, o);
    if (!v)
      continue;
    const char *dot = strchr(o->name, '.');
    if (!dot) {
      json_object_set_new(root, o->name, v);
      continue;
    }
    char section[64];
    snprintf(section, sizeof section, "%.*s", (int)(dot - o->name), o->name);
    json_t *sec = json_object_get(root, section);
    if (!sec) {
      sec = json_object();
      json_object_set_new(root, section, sec);
    }
    json_object_set_new(sec, dot + 1, v);
  }
  char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
  if (s) {
    fputs(s, out);
    fputc('\n', out);
    free(s);
  }
  json_decref(root);
}

void fleetd_config_print_reference(FILE *out)
{
  for (size_t i = 0; i < NOPTS; i++) {
    const opt_t *o = &opts[i];
    fprintf(out, "  %-36s %s%s%s\n", o->name, o->env ? o->env : "", o->env ? "  " : "",
            o->help);
  }
}

int fleetd_config_check_files(const fleetd_config_t *c, char *err, size_t errlen)
{
  FILE *f = fopen(c->zones_file, "rb");
  if (f) {
    fleet_buf_t buf = FLEET_BUF_INIT;
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && !rc)
      rc = fleet_buf_append(&buf, chunk, n);
    fclose(f);
    fleet_zoneset_t *zs = NULL;
    if (!rc && (rc = fleet_zoneset_new(&zs)) == 0)
      rc = fleet_zoneset_load_geojson(zs, buf.ptr ? buf.ptr : "", buf.len,
                                      FLEET_ZONESET_LOAD_REPLACE_ALL);
    fleet_zoneset_free(zs);
    fleet_buf_dispose(&buf);
    if (rc)
      return fail(err, errlen, "zones_file %s: %s", c->zones_file, fleet_error_last());
  } else if (errno != ENOENT) {
    return fail(err, errlen, "zones_file %s: %s", c->zones_file, strerror(errno));
  }
  if (access(c->rules_file, F_OK) == 0) {
    fleet_ruleset_t *rs = NULL;
    if (fleet_ruleset_load_file(&rs, c->rules_file))
      return fail(err, errlen, "rules_file %s: %s", c->rules_file, fleet_error_last());
    fleet_ruleset_free(rs);
  }
  if (c->http[0] && fleetd_auth_keys_check(c->auth_keys, true, err, errlen))
    return -1;
  return 0;
}
