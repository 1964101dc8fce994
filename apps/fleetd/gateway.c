/*
 * fleetd's HTTP side (docs/API.md): the WebSocket feed, the REST API, the
 * dashboard's files, /metrics and /readyz, on the libwebsockets gateway of
 * fleet/ws.h.
 *
 * Threads. The gateway's service thread runs the route handlers: they only
 * touch in-memory state (the vehicle table, the zone set, the rules) and
 * answer at once. Work that waits (InfluxDB queries, password hashing) is
 * handed to one worker thread of ours as a deferred response. The pipeline
 * thread feeds the vehicle table and the live feed (fleetd_gw_telemetry),
 * alerts, and a copy of its counters once a second; rules changed through
 * PUT /api/rules travel back to it through fleetd_gw_take_rules().
 */
#include "fleetd.h"
#include "rest_body.h"
#include "dbcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DAY_NS (86400 * INT64_C(1000000000))

/* ---- JSON output helpers ------------------------------------------------------ */

static void jw(fleet_buf_t *b, const char *s)
{
  fleet_buf_append(b, s, strlen(s));
}

static void jw_str(fleet_buf_t *b, const char *s)
{
  fleet_buf_append(b, "\"", 1);
  const char *run = s;
  for (const char *p = s; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch >= 0x20 && ch != '"' && ch != '\\')
      continue;
    fleet_buf_append(b, run, (size_t)(p - run));
    char esc[8];
    if (ch == '"' || ch == '\\')
      snprintf(esc, sizeof esc, "\\%c", ch);
    else if (ch == '\n')
      snprintf(esc, sizeof esc, "\\n");
    else
      snprintf(esc, sizeof esc, "\\u%04x", ch);
    jw(b, esc);
    run = p + 1;
  }
  jw(b, run);
  fleet_buf_append(b, "\"", 1);
}

static void jw_num(fleet_buf_t *b, double v)
{
  char n[40];
  if (!isfinite(v))
    snprintf(n, sizeof n, "null");
  else if (v == floor(v) && fabs(v) < 1e15)
    snprintf(n, sizeof n, "%.0f", v);
  else
    snprintf(n, sizeof n, "%.10g", v);
  jw(b, n);
}

static void jw_time(fleet_buf_t *b, int64_t ns)
{
  char t[FLEET_TIME_STRLEN];
  fleet_time_format(t, ns);
  jw_str(b, t);
}

/* `"key":` with a leading comma unless first. */
static void jw_key(fleet_buf_t *b, bool *first, const char *key)
{
  if (!*first)
    fleet_buf_append(b, ",", 1);
  *first = false;
  jw_str(b, key);
  fleet_buf_append(b, ":", 1);
}

/* ---- the vehicle table ------------------------------------------------------------ */

typedef struct vrec {
  char id[FLEET_VEHICLE_ID_MAX + 1];
  char driver[FLEET_DRIVER_ID_MAX + 1];
  int64_t ts_ns;
  int64_t seen_ns; /* wall clock of the last message */
  double lat, lng, speed, heading, odometer, battery, temp, fuel;
  unsigned int present;
  uint8_t ignition;
  uint8_t status;
  uint8_t nzones;
  uint32_t zones[4];
} vrec_t;

typedef struct vtab {
  vrec_t *v;
  size_t n, cap;
  uint32_t *slots; /* index + 1, 0 = empty */
  size_t nslots;   /* power of two */
} vtab_t;

static uint32_t vhash(const char *id)
{
  uint32_t h = 2166136261u;
  for (; *id; id++)
    h = (h ^ (uint8_t)*id) * 16777619u;
  return h;
}

static vrec_t *vt_find(vtab_t *t, const char *id)
{
  if (!t->nslots)
    return NULL;
  for (size_t i = vhash(id) & (t->nslots - 1);; i = (i + 1) & (t->nslots - 1)) {
    uint32_t s = t->slots[i];
    if (!s)
      return NULL;
    if (strcmp(t->v[s - 1].id, id) == 0)
      return &t->v[s - 1];
  }
}

static int vt_rehash(vtab_t *t, size_t nslots)
{
  uint32_t *slots = calloc(nslots, sizeof *slots);
  if (!slots)
    return -1;
  for (size_t k = 0; k < t->n; k++) {
    size_t i = vhash(t->v[k].id) & (nslots - 1);
    while (slots[i])
      i = (i + 1) & (nslots - 1);
    slots[i] = (uint32_t)(k + 1);
  }
  free(t->slots);
  t->slots = slots;
  t->nslots = nslots;
  return 0;
}

static vrec_t *vt_get(vtab_t *t, const char *id)
{
  vrec_t *r = vt_find(t, id);
  if (r)
    return r;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 1024;
    vrec_t *v = realloc(t->v, cap * sizeof *v);
    if (!v)
      return NULL;
    t->v = v;
    t->cap = cap;
  }
  if ((t->n + 1) * 2 > t->nslots && vt_rehash(t, t->nslots ? t->nslots * 2 : 2048))
    return NULL;
  r = &t->v[t->n++];
  memset(r, 0, sizeof *r);
  snprintf(r->id, sizeof r->id, "%s", id);
  size_t i = vhash(id) & (t->nslots - 1);
  while (t->slots[i])
    i = (i + 1) & (t->nslots - 1);
  t->slots[i] = (uint32_t)t->n;
  return r;
}

/* ---- the gateway ------------------------------------------------------------------ */

enum job_kind { J_LOGIN, J_REFRESH, J_HISTORY, J_TRIPS, J_EVENTS, J_REPORT, J_ALERTS };

typedef struct job {
  struct job *next;
  enum job_kind kind;
  fleet_ws_response_t *resp;
  char vehicle[FLEET_VEHICLE_ID_MAX + 1];
  int64_t from_ns, to_ns;
  uint64_t limit;
  fleet_history_tier_t tier;
  bool csv;
  bool all;       /* reports and alerts: every vehicle */
  char **ids;     /* reports and alerts: the vehicles otherwise */
  size_t nids;
  char *a, *b;    /* login: user, password; refresh: token */
} job_t;

struct fleetd_gw {
  fleetd_config_t cfg;
  fleetd_gw_parts_t parts;
  fleet_auth_t *auth;
  fleet_ws_t *ws;
  bool tls;

  pthread_mutex_t vmu;
  vtab_t vt;

  pthread_mutex_t rmu;
  fleet_ruleset_t *rules;   /* what GET /api/rules shows */
  fleet_ruleset_t *pending; /* from PUT /api/rules, for the pipeline thread */
  atomic_int has_pending;

  pthread_mutex_t zmu; /* REST changes of the zones file, one at a time */
  fleetd_file_id_t zones_seen; /* the zones file as this process last read or wrote it
                                  (not present at first: an existing file is read) */

  pthread_mutex_t mmu;
  fleetd_counters_t counters;
  fleet_tracker_stats_t tstats;

  /* pipeline thread only */
  fleet_zoneset_snapshot_t *snap;
  fleet_buf_t extra;

  pthread_t worker;
  bool worker_running;
  pthread_mutex_t qmu;
  pthread_cond_t qcv;
  job_t *head, *tail;
  unsigned int logins_queued; /* J_LOGIN jobs queued or running */
  bool stop;
  fleet_history_t *hist; /* worker thread only */
  fleetd_dbcheck_t *dbcheck; /* do the InfluxDB databases exist (/readyz); borrowed */
};

static void ws_log(int level, const char *message, void *userdata)
{
  (void)userdata;
  int l = level == FLEET_WS_LOG_ERROR     ? FLEETD_ERROR
          : level == FLEET_WS_LOG_WARNING ? FLEETD_WARN
          : level == FLEET_WS_LOG_INFO    ? FLEETD_INFO
                                          : FLEETD_DEBUG;
  fleetd_log(l, message, "component", "http", NULL);
}

/* ---- small request helpers -------------------------------------------------------- */

static bool allowed(const fleet_ws_request_t *req, const char *vehicle)
{
  return fleet_auth_claims_allows(fleet_ws_request_claims(req), vehicle) == 1;
}

/* Parse an optional RFC 3339 query parameter. */
static int query_time(int64_t *out, fleet_ws_response_t *resp, const fleet_ws_request_t *req,
                      const char *name, int64_t def)
{
  const char *v = fleet_ws_request_query(req, name);
  if (!v || !*v) {
    *out = def;
    return 0;
  }
  if (strcmp(v, "now") == 0) {
    *out = fleetd_wall_ns();
    return 0;
  }
  if (fleet_time_parse(out, v, strlen(v))) {
    char d[160];
    snprintf(d, sizeof d, "%s: not an RFC 3339 time", name);
    fleet_ws_response_error(resp, 400, "bad parameter", d);
    return -1;
  }
  return 0;
}

static int query_uint(uint64_t *out, fleet_ws_response_t *resp, const fleet_ws_request_t *req,
                      const char *name, uint64_t def, uint64_t max)
{
  const char *v = fleet_ws_request_query(req, name);
  if (!v || !*v) {
    *out = def;
    return 0;
  }
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (errno || *end || *v == '-' || n > max) {
    char d[160];
    snprintf(d, sizeof d, "%s: not a whole number up to %" PRIu64, name, max);
    fleet_ws_response_error(resp, 400, "bad parameter", d);
    return -1;
  }
  *out = n;
  return 0;
}

/* ---- jobs ------------------------------------------------------------------------- */

static void job_free(job_t *j)
{
  if (!j)
    return;
  for (size_t i = 0; i < j->nids; i++)
    free(j->ids[i]);
  free(j->ids);
  if (j->b) {
    /* A password or a refresh token: do not leave it in freed memory. */
    memset(j->b, 0, strlen(j->b));
    free(j->b);
  }
  free(j->a);
  free(j);
}

/* Logins waiting for the worker at once; more get 503 (see h_login). */
#define LOGINS_QUEUED_MAX 8u

static int defer(fleetd_gw_t *gw, job_t *j)
{
  pthread_mutex_lock(&gw->qmu);
  if (gw->tail)
    gw->tail->next = j;
  else
    gw->head = j;
  gw->tail = j;
  pthread_cond_signal(&gw->qcv);
  pthread_mutex_unlock(&gw->qmu);
  return FLEET_WS_DEFER;
}

static job_t *new_job(enum job_kind kind, fleet_ws_response_t *resp)
{
  job_t *j = calloc(1, sizeof *j);
  if (!j) {
    fleet_ws_response_error(resp, 500, "out of memory", NULL);
    return NULL;
  }
  j->kind = kind;
  j->resp = resp;
  return j;
}

/* The vehicles a viewer may see, for queries over several of them. */
static int copy_allow_list(job_t *j, const fleet_auth_claims_t *claims)
{
  if (fleet_auth_claims_all_vehicles(claims)) {
    j->all = true;
    return 0;
  }
  size_t n = fleet_auth_claims_vehicle_count(claims);
  j->ids = calloc(n ? n : 1, sizeof *j->ids);
  if (!j->ids)
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (!(j->ids[i] = strdup(fleet_auth_claims_vehicle_at(claims, i))))
      return -1;
    j->nids++;
  }
  return 0;
}

/* ---- auth routes ------------------------------------------------------------------ */

static void user_json(fleet_buf_t *b, const fleet_auth_claims_t *c)
{
  jw(b, "{\"username\":");
  jw_str(b, fleet_auth_claims_subject(c));
  jw(b, ",\"role\":");
  const char *role = fleet_auth_role_name(fleet_auth_claims_role(c));
  jw_str(b, role ? role : "viewer");
  jw(b, ",\"vehicles\":");
  if (fleet_auth_claims_all_vehicles(c)) {
    jw(b, "\"*\"");
  } else {
    jw(b, "[");
    for (size_t i = 0; i < fleet_auth_claims_vehicle_count(c); i++) {
      if (i)
        jw(b, ",");
      jw_str(b, fleet_auth_claims_vehicle_at(c, i));
    }
    jw(b, "]");
  }
  jw(b, "}");
}

static int h_login(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  fleetd_gw_t *gw = ud;
  if (fleetd_form_body(req))
    return fleet_ws_response_error(resp, 415, "unsupported media type",
                                   "send the body as application/json");
  size_t len;
  const char *body = fleet_ws_request_body(req, &len);
  bool refresh = strcmp(fleet_ws_request_path(req), "/api/auth/refresh") == 0;
  fleetd_credentials_t cr;
  fleetd_body_error_t e;
  if (fleetd_body_credentials(&cr, &e, body, len, refresh))
    return fleet_ws_response_error(resp, e.status, e.error, e.detail);
  job_t *j = new_job(refresh ? J_REFRESH : J_LOGIN, resp);
  if (!j) {
    fleetd_credentials_dispose(&cr);
    return fleet_ws_response_error(resp, 500, "out of memory", NULL);
  }
  j->a = cr.username;
  j->b = cr.secret;
  if (!refresh) {
    /* A password check costs the one worker about 0.1 s and needs no token: a
     * flood of logins would hold every history, report and alert query back. */
    pthread_mutex_lock(&gw->qmu);
    bool busy = gw->logins_queued >= LOGINS_QUEUED_MAX;
    if (!busy)
      gw->logins_queued++;
    pthread_mutex_unlock(&gw->qmu);
    if (busy) {
      job_free(j);
      fleetd_log(FLEETD_WARN, "login refused: too many at once", "component", "http", NULL);
      fleet_ws_response_add_header(resp, "Retry-After", "1");
      return fleet_ws_response_error(resp, 503, "busy", "too many logins at once; retry");
    }
  }
  return defer(gw, j);
}

static void run_login(fleetd_gw_t *gw, job_t *j)
{
  char *access = NULL, *refresh = NULL;
  int rc;
  if (j->kind == J_LOGIN) {
    /* See users added or changed by `fleetctl user` meanwhile. */
    fleet_auth_users_reload(NULL, fleet_auth_users(gw->auth));
    rc = fleet_auth_login(&access, &refresh, gw->auth, j->a, j->b);
  } else {
    rc = fleet_auth_refresh(&access, &refresh, gw->auth, j->b, strlen(j->b));
  }
  fleet_auth_claims_t *claims = NULL;
  if (!rc)
    rc = fleet_auth_verify(&claims, fleet_auth_verifier(gw->auth), access, strlen(access),
                           FLEET_AUTH_TOKEN_ACCESS);
  if (rc) {
    fleetd_log(FLEETD_WARN, j->kind == J_LOGIN ? "login refused" : "refresh refused",
               "component", "http", "user", j->a, "reason", fleet_error_last(), NULL);
    if (rc == FLEET_EAUTH)
      fleet_ws_response_error(j->resp, 401, "invalid credentials", NULL);
    else
      fleet_ws_response_error(j->resp, 500, "internal error", NULL);
  } else {
    int64_t ttl = fleet_auth_signer_ttl(fleet_auth_signer(gw->auth), FLEET_AUTH_TOKEN_ACCESS);
    fleet_buf_t *b = fleet_ws_response_body(j->resp);
    fleet_buf_clear(b);
    jw(b, "{\"access_token\":");
    jw_str(b, access);
    jw(b, ",\"refresh_token\":");
    jw_str(b, refresh);
    char n[64];
    snprintf(n, sizeof n, ",\"token_type\":\"Bearer\",\"expires_in\":%" PRId64 ",\"user\":", ttl);
    jw(b, n);
    user_json(b, claims);
    jw(b, "}");
    fleet_buf_t cookie = FLEET_BUF_INIT;
    jw(&cookie, "fleet_token=");
    jw(&cookie, access);
    snprintf(n, sizeof n, "; HttpOnly; SameSite=Strict; Path=/; Max-Age=%" PRId64, ttl);
    jw(&cookie, n);
    if (gw->tls)
      jw(&cookie, "; Secure");
    fleet_ws_response_add_header(j->resp, "Set-Cookie", cookie.ptr);
    fleet_buf_dispose(&cookie);
  }
  fleet_auth_claims_free(claims);
  if (access)
    memset(access, 0, strlen(access));
  if (refresh)
    memset(refresh, 0, strlen(refresh));
  fleet_free(access);
  fleet_free(refresh);
}

static int h_logout(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  fleetd_gw_t *gw = ud;
  (void)req;
  fleet_ws_response_set_status(resp, 204);
  fleet_ws_response_set_content_type(resp, NULL);
  fleet_ws_response_add_header(resp, "Set-Cookie",
                               gw->tls ? "fleet_token=; HttpOnly; SameSite=Strict; Path=/; "
                                         "Max-Age=0; Secure"
                                       : "fleet_token=; HttpOnly; SameSite=Strict; Path=/; "
                                         "Max-Age=0");
  return 0;
}

static int h_me(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  (void)ud;
  user_json(fleet_ws_response_body(resp), fleet_ws_request_claims(req));
  return 0;
}

static int h_config(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  fleetd_gw_t *gw = ud;
  (void)req;
  fleet_buf_t *b = fleet_ws_response_body(resp);
  jw(b, "{\"style_url\":");
  if (gw->cfg.dashboard_style_url[0])
    jw_str(b, gw->cfg.dashboard_style_url);
  else
    jw(b, "null");
  jw(b, ",\"basemap\":");
  jw_str(b, gw->cfg.dashboard_basemap);
  jw(b, ",\"center\":[");
  jw_num(b, gw->cfg.dashboard_center_lng);
  jw(b, ",");
  jw_num(b, gw->cfg.dashboard_center_lat);
  jw(b, "],\"zoom\":");
  jw_num(b, gw->cfg.dashboard_zoom);
  jw(b, "}");
  return 0;
}

/* ---- vehicles --------------------------------------------------------------------- */

static const char *status_of(const fleetd_gw_t *gw, const vrec_t *r, int64_t now_ns)
{
  if (gw->cfg.offline_after_s > 0 &&
      (double)(now_ns - r->ts_ns) / 1e9 >= gw->cfg.offline_after_s)
    return "offline";
  const char *s = fleet_vehicle_status_name((fleet_vehicle_status_t)r->status);
  return s ? s : "stopped";
}

static void vehicle_json(fleet_buf_t *b, const fleetd_gw_t *gw, const vrec_t *r,
                         const fleet_zoneset_snapshot_t *snap, int64_t now_ns)
{
  bool first = true;
  jw(b, "{");
  jw_key(b, &first, "vehicle_id");
  jw_str(b, r->id);
  jw_key(b, &first, "ts");
  jw_time(b, r->ts_ns);
  jw_key(b, &first, "lat");
  jw_num(b, r->lat);
  jw_key(b, &first, "lng");
  jw_num(b, r->lng);
  static const struct {
    unsigned int bit;
    const char *name;
    size_t off;
  } opt[] = {{FLEET_TELEMETRY_SPEED, "speed", offsetof(vrec_t, speed)},
             {FLEET_TELEMETRY_HEADING, "heading", offsetof(vrec_t, heading)},
             {FLEET_TELEMETRY_ODOMETER, "odometer", offsetof(vrec_t, odometer)},
             {FLEET_TELEMETRY_BATTERY_V, "battery_v", offsetof(vrec_t, battery)},
             {FLEET_TELEMETRY_FUEL_LEVEL, "fuel_level", offsetof(vrec_t, fuel)},
             {FLEET_TELEMETRY_ENGINE_TEMP, "engine_temp", offsetof(vrec_t, temp)}};
  for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
    if (r->present & opt[i].bit) {
      jw_key(b, &first, opt[i].name);
      jw_num(b, *(const double *)(const void *)((const char *)r + opt[i].off));
    }
  jw_key(b, &first, "status");
  jw_str(b, status_of(gw, r, now_ns));
  if (r->present & FLEET_TELEMETRY_IGNITION) {
    jw_key(b, &first, "ignition");
    jw(b, r->ignition ? "true" : "false");
  }
  if (r->present & FLEET_TELEMETRY_DRIVER_ID) {
    jw_key(b, &first, "driver_id");
    jw_str(b, r->driver);
  }
  jw_key(b, &first, "zones");
  jw(b, "[");
  bool zfirst = true;
  for (unsigned int i = 0; i < r->nzones; i++) {
    const fleet_zone_t *z = snap ? fleet_zoneset_snapshot_get(snap, r->zones[i]) : NULL;
    if (!z)
      continue;
    if (!zfirst)
      jw(b, ",");
    zfirst = false;
    jw_str(b, fleet_zone_id(z));
  }
  jw(b, "]");
  jw_key(b, &first, "last_seen");
  jw_time(b, r->seen_ns);
  jw(b, "}");
}

static int cmp_vrec(const void *a, const void *b)
{
  return strcmp((*(const vrec_t *const *)a)->id, (*(const vrec_t *const *)b)->id);
}

/* Does the status filter (repeatable, comma-separated) accept `status`? */
static bool status_wanted(const fleet_ws_request_t *req, const char *status, bool *any)
{
  *any = false;
  bool hit = false;
  for (size_t i = 0; i < fleet_ws_request_query_count(req); i++) {
    const char *name, *value;
    if (fleet_ws_request_query_at(&name, &value, req, i) || strcmp(name, "status") != 0)
      continue;
    for (const char *p = value; *p;) {
      size_t n = strcspn(p, ",");
      if (n) {
        *any = true;
        if (n == strlen(status) && strncmp(p, status, n) == 0)
          hit = true;
      }
      p += n + (p[n] == ',');
    }
  }
  return hit || !*any;
}

static int vehicles_list(fleetd_gw_t *gw, fleet_ws_response_t *resp,
                         const fleet_ws_request_t *req)
{
  uint64_t limit, offset;
  if (query_uint(&limit, resp, req, "limit", 1000, 10000) ||
      query_uint(&offset, resp, req, "offset", 0, UINT32_MAX))
    return 0;
  const char *q = fleet_ws_request_query(req, "q");
  int64_t now = fleetd_wall_ns();
  fleet_zoneset_snapshot_t *snap = NULL;
  fleet_zoneset_snapshot(&snap, gw->parts.zones);
  pthread_mutex_lock(&gw->vmu);
  const vrec_t **sel = malloc((gw->vt.n ? gw->vt.n : 1) * sizeof *sel);
  size_t n = 0;
  for (size_t i = 0; sel && i < gw->vt.n; i++) {
    const vrec_t *r = &gw->vt.v[i];
    bool any;
    if ((q && *q && !strstr(r->id, q)) || !allowed(req, r->id) ||
        !status_wanted(req, status_of(gw, r, now), &any))
      continue;
    sel[n++] = r;
  }
  int rc = 0;
  if (!sel) {
    rc = fleet_ws_response_error(resp, 500, "out of memory", NULL);
  } else {
    qsort(sel, n, sizeof *sel, cmp_vrec);
    fleet_buf_t *b = fleet_ws_response_body(resp);
    char head[64];
    snprintf(head, sizeof head, "{\"total\":%zu,\"vehicles\":[", n);
    jw(b, head);
    for (size_t i = offset; i < n && i < offset + limit; i++) {
      if (i > offset)
        jw(b, ",");
      vehicle_json(b, gw, sel[i], snap, now);
    }
    jw(b, "]}");
  }
  pthread_mutex_unlock(&gw->vmu);
  free(sel);
  fleet_zoneset_snapshot_free(snap);
  return rc;
}

static int h_vehicles(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  fleetd_gw_t *gw = ud;
  const char *sub = fleet_ws_request_subpath(req);
  if (!*sub)
    return vehicles_list(gw, resp, req);
  char id[FLEET_VEHICLE_ID_MAX + 1];
  size_t n = strcspn(sub + 1, "/");
  if (n == 0 || n > FLEET_VEHICLE_ID_MAX)
    return fleet_ws_response_error(resp, 404, "not found", NULL);
  memcpy(id, sub + 1, n);
  id[n] = '\0';
  const char *rest = sub + 1 + n;
  if (fleet_vehicle_id_validate(id, n))
    return fleet_ws_response_error(resp, 404, "not found", "no such vehicle");
  if (!allowed(req, id))
    return fleet_ws_response_error(resp, 403, "forbidden", NULL);
  if (!*rest) {
    fleet_zoneset_snapshot_t *snap = NULL;
    fleet_zoneset_snapshot(&snap, gw->parts.zones);
    pthread_mutex_lock(&gw->vmu);
    vrec_t *r = vt_find(&gw->vt, id);
    if (r)
      vehicle_json(fleet_ws_response_body(resp), gw, r, snap, fleetd_wall_ns());
    pthread_mutex_unlock(&gw->vmu);
    fleet_zoneset_snapshot_free(snap);
    return r ? 0 : fleet_ws_response_error(resp, 404, "not found", "no such vehicle");
  }
  enum job_kind kind;
  if (strcmp(rest, "/history") == 0)
    kind = J_HISTORY;
  else if (strcmp(rest, "/trips") == 0)
    kind = J_TRIPS;
  else if (strcmp(rest, "/events") == 0)
    kind = J_EVENTS;
  else
    return fleet_ws_response_error(resp, 404, "not found", NULL);
  int64_t now = fleetd_wall_ns();
  int64_t from, to;
  uint64_t limit = 0;
  if (query_time(&from, resp, req, "from", now - DAY_NS) ||
      query_time(&to, resp, req, "to", now))
    return 0;
  if (to <= from)
    return fleet_ws_response_error(resp, 400, "bad parameter", "to: must be after from");
  fleet_history_tier_t tier = FLEET_HISTORY_TIER_AUTO;
  if (kind == J_HISTORY) {
    if (query_uint(&limit, resp, req, "limit", 10000, 100000))
      return 0;
    const char *t = fleet_ws_request_query(req, "tier");
    if (t && strcmp(t, "raw") == 0)
      tier = FLEET_HISTORY_TIER_RAW;
    else if (t && strcmp(t, "hourly") == 0)
      tier = FLEET_HISTORY_TIER_HOURLY;
    else if (t && *t && strcmp(t, "auto") != 0)
      return fleet_ws_response_error(resp, 400, "bad parameter", "tier: auto, raw or hourly");
  }
  job_t *j = new_job(kind, resp);
  if (!j)
    return 0;
  snprintf(j->vehicle, sizeof j->vehicle, "%s", id);
  j->from_ns = from;
  j->to_ns = to;
  j->limit = limit;
  j->tier = tier;
  return defer(gw, j);
}

/* ---- history jobs ---------------------------------------------------------------------- */

typedef struct hist_ctx {
  fleet_buf_t *b;
  uint64_t n, limit;
  bool truncated;
  fleet_history_tier_t tier;
} hist_ctx_t;

static int on_point(const fleet_history_point_t *pt, void *ud)
{
  hist_ctx_t *c = ud;
  if (c->n == c->limit) {
    c->truncated = true;
    return 1;
  }
  c->tier = pt->tier;
  fleet_buf_t *b = c->b;
  const fleet_telemetry_t *r = pt->rec;
  if (c->n++)
    jw(b, ",");
  bool first = true;
  jw(b, "{");
  jw_key(b, &first, "ts");
  jw_time(b, r->ts_ns);
  jw_key(b, &first, "lat");
  jw_num(b, r->lat);
  jw_key(b, &first, "lng");
  jw_num(b, r->lng);
  if (r->present & FLEET_TELEMETRY_SPEED) {
    jw_key(b, &first, "speed");
    jw_num(b, r->speed_kmh);
  }
  if (r->present & FLEET_TELEMETRY_HEADING) {
    jw_key(b, &first, "heading");
    jw_num(b, r->heading_deg);
  }
  if (r->present & FLEET_TELEMETRY_IGNITION) {
    jw_key(b, &first, "ignition");
    jw(b, r->ignition ? "true" : "false");
  }
  if (r->present & FLEET_TELEMETRY_FUEL_LEVEL) {
    jw_key(b, &first, "fuel_level");
    jw_num(b, r->fuel_level_pct);
  }
  if (r->present & FLEET_TELEMETRY_BATTERY_V) {
    jw_key(b, &first, "battery_v");
    jw_num(b, r->battery_v);
  }
  if (pt->hourly) {
    jw_key(b, &first, "samples");
    jw_num(b, (double)pt->hourly->samples);
    jw_key(b, &first, "distance_m");
    jw_num(b, pt->hourly->distance_m);
  }
  jw(b, "}");
  return 0;
}

typedef struct trips_ctx {
  fleet_history_trip_t *v;
  size_t n, cap;
} trips_ctx_t;

static int on_trip(const fleet_history_trip_t *t, void *ud)
{
  trips_ctx_t *c = ud;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    fleet_history_trip_t *v = realloc(c->v, cap * sizeof *v);
    if (!v)
      return FLEET_ENOMEM;
    c->v = v;
    c->cap = cap;
  }
  c->v[c->n++] = *t;
  return 0;
}

typedef struct ev {
  int64_t ts;
  size_t seq; /* order of arrival: zone events before alerts at one instant */
  fleet_buf_t json;
} ev_t;

typedef struct events_ctx {
  ev_t *v;
  size_t n, cap;
} events_ctx_t;

static fleet_buf_t *ev_add(events_ctx_t *c, int64_t ts)
{
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    ev_t *v = realloc(c->v, cap * sizeof *v);
    if (!v)
      return NULL;
    c->v = v;
    c->cap = cap;
  }
  ev_t *e = &c->v[c->n];
  e->seq = c->n++;
  e->ts = ts;
  e->json = (fleet_buf_t)FLEET_BUF_INIT;
  return &e->json;
}

static int on_zone_event(const fleet_history_zone_event_t *z, void *ud)
{
  fleet_buf_t *b = ev_add(ud, z->ts_ns);
  if (!b)
    return FLEET_ENOMEM;
  return fleet_history_zone_event_encode_json(b, z, FLEET_EVENTJSON_TYPE);
}

static int on_event_alert(const fleet_history_alert_t *a, void *ud)
{
  fleet_buf_t *b = ev_add(ud, a->ts_ns);
  if (!b)
    return FLEET_ENOMEM;
  return fleet_history_alert_encode_json(b, a, FLEET_EVENTJSON_TYPE);
}

static int cmp_ev(const void *a, const void *b)
{
  const ev_t *x = a, *y = b;
  if (x->ts != y->ts)
    return (x->ts > y->ts) - (x->ts < y->ts);
  return (x->seq > y->seq) - (x->seq < y->seq);
}

/* /api/alerts: the rows of `alerts`, newest first, as ALERT objects; rows that
 * are not alerts (written by something else) are counted and left out. */
typedef struct alert_rows {
  fleet_buf_t *b;
  size_t n;
  size_t skipped;
  char first_error[256];
} alert_rows_t;

static int on_alert_row(const fleet_history_row_t *row, void *ud)
{
  alert_rows_t *c = ud;
  fleet_history_alert_t a;
  int rc = fleet_history_row_to_alert(&a, row);
  if (rc == FLEET_EPARSE) {
    if (!c->skipped++)
      snprintf(c->first_error, sizeof c->first_error, "%s", fleet_error_last());
    return 0;
  }
  if (rc)
    return rc;
  if (c->n++)
    jw(c->b, ",");
  return fleet_history_alert_encode_json(c->b, &a, 0);
}

/* A failed InfluxDB query as an HTTP error. */
static void query_failed(fleet_ws_response_t *resp, int rc)
{
  fleetd_log(FLEETD_WARN, "history query failed", "component", "http", "error",
             fleet_error_last(), NULL);
  if (rc == FLEET_ENET || rc == FLEET_ETIMEOUT || rc == FLEET_ENOTFOUND)
    fleet_ws_response_error(resp, 503, "InfluxDB unavailable", fleet_error_last());
  else
    fleet_ws_response_error(resp, 500, "query failed", fleet_error_last());
}

static void run_history(fleetd_gw_t *gw, job_t *j)
{
  fleet_history_filter_t f = FLEET_HISTORY_FILTER_INIT;
  const char *ids[1] = {j->vehicle};
  f.from_ns = j->from_ns;
  f.to_ns = j->to_ns;
  f.vehicle_ids = ids;
  f.n_vehicle_ids = 1;
  fleet_buf_t *b = fleet_ws_response_body(j->resp);
  int rc = 0;
  if (j->kind == J_HISTORY) {
    f.tier = j->tier;
    f.limit = j->limit + 1;
    hist_ctx_t c = {NULL, 0, j->limit, false, FLEET_HISTORY_TIER_RAW};
    fleet_buf_t pts = FLEET_BUF_INIT;
    c.b = &pts;
    rc = fleet_history_positions(gw->hist, &f, on_point, &c);
    if (rc == 1)
      rc = 0;
    if (!rc) {
      jw(b, "{\"vehicle_id\":");
      jw_str(b, j->vehicle);
      fleet_history_tier_t tier = fleet_history_pick_tier(gw->hist, j->tier, j->from_ns,
                                                          j->to_ns, fleetd_wall_ns());
      jw(b, tier == FLEET_HISTORY_TIER_HOURLY ? ",\"tier\":\"hourly\",\"points\":["
                                              : ",\"tier\":\"raw\",\"points\":[");
      if (pts.len)
        fleet_buf_append(b, pts.ptr, pts.len);
      jw(b, c.truncated ? "],\"truncated\":true}" : "],\"truncated\":false}");
    }
    fleet_buf_dispose(&pts);
  } else if (j->kind == J_TRIPS) {
    trips_ctx_t c = {NULL, 0, 0};
    rc = fleet_history_trips(gw->hist, &f, on_trip, &c);
    if (!rc) {
      jw(b, "{\"trips\":[");
      for (size_t i = 0; i < c.n; i++) {
        if (i)
          jw(b, ",");
        fleet_history_trip_encode_json(b, &c.v[i], 0);
      }
      /* Stops are not stored: they are the gaps between consecutive trips. */
      jw(b, "],\"stops\":[");
      bool first = true;
      for (size_t i = 1; i < c.n; i++) {
        const fleet_history_trip_t *p = &c.v[i - 1], *t = &c.v[i];
        if (t->start_ns <= p->end_ns)
          continue;
        if (!first)
          jw(b, ",");
        first = false;
        fleet_stop_t s;
        memset(&s, 0, sizeof s);
        snprintf(s.vehicle_id, sizeof s.vehicle_id, "%s", t->vehicle_id);
        s.start_ns = p->end_ns;
        s.end_ns = t->start_ns;
        s.duration_s = (double)(t->start_ns - p->end_ns) / 1e9;
        s.lat = p->end_lat;
        s.lng = p->end_lng;
        fleet_stop_encode_json(b, &s, 0);
      }
      jw(b, "]}");
    }
    free(c.v);
  } else {
    events_ctx_t c = {NULL, 0, 0};
    rc = fleet_history_zone_events(gw->hist, &f, on_zone_event, &c);
    if (!rc)
      rc = fleet_history_alerts(gw->hist, &f, on_event_alert, &c);
    if (!rc) {
      if (c.n > 1) /* c.v is NULL without events: qsort(NULL, 0, ...) is undefined */
        qsort(c.v, c.n, sizeof *c.v, cmp_ev);
      jw(b, "{\"events\":[");
      for (size_t i = 0; i < c.n; i++) {
        if (i)
          jw(b, ",");
        fleet_buf_append(b, c.v[i].json.ptr, c.v[i].json.len);
      }
      jw(b, "]}");
    }
    for (size_t i = 0; i < c.n; i++)
      fleet_buf_dispose(&c.v[i].json);
    free(c.v);
  }
  if (rc)
    query_failed(j->resp, rc);
}

static int h_report(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  fleetd_gw_t *gw = ud;
  int64_t now = fleetd_wall_ns(), from, to;
  if (query_time(&from, resp, req, "from", now - 7 * DAY_NS) ||
      query_time(&to, resp, req, "to", now))
    return 0;
  if (to <= from)
    return fleet_ws_response_error(resp, 400, "bad parameter", "to: must be after from");
  const char *fmt = fleet_ws_request_query(req, "format");
  if (fmt && *fmt && strcmp(fmt, "json") != 0 && strcmp(fmt, "csv") != 0)
    return fleet_ws_response_error(resp, 400, "bad parameter", "format: json or csv");
  const char *list = fleet_ws_request_query(req, "vehicles");
  job_t *j = new_job(J_REPORT, resp);
  if (!j)
    return 0;
  j->from_ns = from;
  j->to_ns = to;
  j->csv = fmt && strcmp(fmt, "csv") == 0;
  const fleet_auth_claims_t *claims = fleet_ws_request_claims(req);
  int rc = 0;
  if (!list || !*list || strcmp(list, "*") == 0) {
    rc = copy_allow_list(j, claims);
  } else {
    size_t cap = 1;
    for (const char *p = list; *p; p++)
      cap += *p == ',';
    if (!(j->ids = calloc(cap, sizeof *j->ids)))
      rc = -1;
    for (const char *p = list; !rc && *p;) {
      size_t n = strcspn(p, ",");
      char id[FLEET_VEHICLE_ID_MAX + 1];
      if (n == 0 || n > FLEET_VEHICLE_ID_MAX || fleet_vehicle_id_validate(p, n)) {
        job_free(j);
        return fleet_ws_response_error(resp, 400, "bad parameter", "vehicles: bad vehicle id");
      }
      memcpy(id, p, n);
      id[n] = '\0';
      if (!fleet_auth_claims_allows(claims, id)) {
        job_free(j);
        return fleet_ws_response_error(resp, 403, "forbidden", id);
      }
      if (!(j->ids[j->nids++] = strdup(id)))
        rc = -1;
      p += n + (p[n] == ',');
    }
  }
  if (!rc && !j->all && j->nids > FLEET_HISTORY_MAX_VEHICLES) {
    job_free(j);
    return fleet_ws_response_error(resp, 400, "bad parameter", "vehicles: at most 1000");
  }
  if (rc) {
    job_free(j);
    return fleet_ws_response_error(resp, 500, "out of memory", NULL);
  }
  return defer(gw, j);
}

static void run_report(fleetd_gw_t *gw, job_t *j)
{
  fleet_history_filter_t f = FLEET_HISTORY_FILTER_INIT;
  f.from_ns = j->from_ns;
  f.to_ns = j->to_ns;
  f.vehicle_ids = j->all ? NULL : (const char *const *)j->ids;
  f.n_vehicle_ids = j->all ? 0 : j->nids;
  trips_ctx_t c = {NULL, 0, 0};
  int rc = 0;
  if (j->all || j->nids)
    rc = fleet_history_trips(gw->hist, &f, on_trip, &c);
  if (rc) {
    query_failed(j->resp, rc);
    free(c.v);
    return;
  }
  fleet_buf_t *b = fleet_ws_response_body(j->resp);
  double dist = 0, dur = 0, mov = 0, idle = 0, fuel = 0, vmax = 0;
  for (size_t i = 0; i < c.n; i++) {
    dist += c.v[i].distance_m;
    dur += c.v[i].duration_s;
    mov += c.v[i].moving_s;
    idle += c.v[i].idle_s;
    fuel += c.v[i].has_fuel ? c.v[i].fuel_l : 0;
    vmax = fmax(vmax, c.v[i].max_speed_kmh);
  }
  if (j->csv) {
    fleet_ws_response_set_content_type(j->resp, "text/csv; charset=utf-8");
    fleet_ws_response_add_header(j->resp, "Content-Disposition",
                                 "attachment; filename=\"trips.csv\"");
    jw(b, "vehicle_id,start,end,duration_s,distance_m,idle_s,max_speed_kmh,avg_speed_kmh,"
          "fuel_l\n");
    for (size_t i = 0; i < c.n; i++) {
      const fleet_history_trip_t *t = &c.v[i];
      char s[FLEET_TIME_STRLEN], e[FLEET_TIME_STRLEN], line[512];
      fleet_time_format(s, t->start_ns);
      fleet_time_format(e, t->end_ns);
      char fuel_s[32] = "";
      if (t->has_fuel)
        snprintf(fuel_s, sizeof fuel_s, "%.3f", t->fuel_l);
      snprintf(line, sizeof line, "%s,%s,%s,%.0f,%.1f,%.0f,%.1f,%.1f,%s\n", t->vehicle_id, s, e,
               t->duration_s, t->distance_m, t->idle_s, t->max_speed_kmh, t->avg_speed_kmh,
               fuel_s);
      jw(b, line);
    }
  } else {
    jw(b, "{\"trips\":[");
    for (size_t i = 0; i < c.n; i++) {
      if (i)
        jw(b, ",");
      fleet_history_trip_encode_json(b, &c.v[i], 0);
    }
    char tail[512];
    snprintf(tail, sizeof tail,
             "],\"totals\":{\"trips\":%zu,\"distance_m\":%.1f,\"duration_s\":%.0f,"
             "\"moving_s\":%.0f,\"idle_s\":%.0f,\"fuel_l\":%.3f,\"max_speed_kmh\":%.1f}}",
             c.n, dist, dur, mov, idle, fuel, vmax);
    jw(b, tail);
  }
  free(c.v);
}

static int h_alerts(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  fleetd_gw_t *gw = ud;
  uint64_t limit;
  int64_t since;
  if (query_uint(&limit, resp, req, "limit", 100, 1000) ||
      query_time(&since, resp, req, "since", 0))
    return 0;
  job_t *j = new_job(J_ALERTS, resp);
  if (!j)
    return 0;
  j->limit = limit;
  j->from_ns = since;
  if (copy_allow_list(j, fleet_ws_request_claims(req))) {
    job_free(j);
    return fleet_ws_response_error(resp, 500, "out of memory", NULL);
  }
  return defer(gw, j);
}

static void run_alerts(fleetd_gw_t *gw, job_t *j)
{
  fleet_buf_t *b = fleet_ws_response_body(j->resp);
  jw(b, "{\"alerts\":[");
  if (!j->all && !j->nids) {
    jw(b, "]}");
    return;
  }
  fleet_buf_t q = FLEET_BUF_INIT;
  char head[160];
  snprintf(head, sizeof head, "SELECT * FROM %s WHERE time > %" PRId64,
           FLEET_HISTORY_M_ALERTS, j->from_ns);
  jw(&q, head);
  for (size_t i = 0; i < j->nids; i++) {
    jw(&q, i ? " OR " : " AND (");
    jw(&q, FLEET_HISTORY_TAG_VEHICLE_ID " = ");
    fleet_history_quote_string(&q, j->ids[i]);
  }
  if (j->nids)
    jw(&q, ")");
  snprintf(head, sizeof head, " ORDER BY time DESC LIMIT %" PRIu64, j->limit);
  jw(&q, head);
  alert_rows_t c = {.b = b};
  int rc = fleet_history_query(gw->hist, gw->cfg.downsampled_db, q.ptr, on_alert_row, &c);
  fleet_buf_dispose(&q);
  if (rc) {
    query_failed(j->resp, rc);
    return;
  }
  jw(b, "]");
  if (c.skipped) {
    char n[32];
    snprintf(n, sizeof n, "%zu", c.skipped);
    fleetd_log(FLEETD_WARN, "alert rows left out: they are not alerts", "component", "http",
               "rows", n, "first_error", c.first_error, NULL);
    jw(b, ",\"skipped\":");
    jw(b, n);
  }
  jw(b, "}");
}

/* ---- zones and rules --------------------------------------------------------------------- */

/* Write the zone set to the zones file (the caller holds its lock) and note
 * what the file is now. */
static int save_zones(fleetd_gw_t *gw)
{
  fleet_zoneset_snapshot_t *snap = NULL;
  fleet_buf_t b = FLEET_BUF_INIT;
  int rc = fleet_zoneset_snapshot(&snap, gw->parts.zones);
  if (!rc)
    rc = fleet_zoneset_snapshot_encode_geojson(&b, snap);
  if (!rc && fleetd_write_atomic(gw->cfg.zones_file, b.ptr, b.len) != 0) {
    fleetd_log(FLEETD_ERROR, "cannot save the zones", "file", gw->cfg.zones_file, "error",
               strerror(errno), NULL);
    rc = FLEET_EIO;
  }
  if (!rc)
    fleetd_file_id(&gw->zones_seen, gw->cfg.zones_file);
  fleet_buf_dispose(&b);
  fleet_zoneset_snapshot_free(snap);
  return rc;
}

/*
 * A zone change is a read-modify-write of the zones file, which replicas on a
 * shared volume all write: under the file's lock, a file that changed since
 * this process last read or wrote it (another replica's change, or one by
 * hand) is loaded first, so that this change keeps it. 0; or -1 with the
 * error response set (the file cannot be read or is invalid: nothing is
 * changed, so nothing in it is lost).
 */
static int zones_catch_up(fleetd_gw_t *gw, fleet_ws_response_t *resp)
{
  fleetd_file_id_t now;
  fleetd_file_id(&now, gw->cfg.zones_file);
  if (!now.present || fleetd_same_file(&now, &gw->zones_seen))
    return 0; /* no file yet, or the one this process last read or wrote */
  int rc = fleetd_zones_load_file(gw->parts.zones, gw->cfg.zones_file);
  if (rc) {
    const char *why = rc < 0 ? strerror(-rc) : fleet_error_last();
    fleetd_log(FLEETD_ERROR, "zones file unreadable: zone change refused", "file",
               gw->cfg.zones_file, "error", why, NULL);
    fleet_ws_response_error(resp, 500, "zones file unreadable", why);
    return -1;
  }
  gw->zones_seen = now;
  return 0;
}

static int h_zones_get(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  fleetd_gw_t *gw = ud;
  fleet_zoneset_snapshot_t *snap = NULL;
  if (*fleet_ws_request_subpath(req))
    return fleet_ws_response_error(resp, 404, "not found", NULL);
  int rc = fleet_zoneset_snapshot(&snap, gw->parts.zones);
  if (!rc) {
    fleet_ws_response_set_content_type(resp, "application/geo+json");
    rc = fleet_zoneset_snapshot_encode_geojson(fleet_ws_response_body(resp), snap);
  }
  fleet_zoneset_snapshot_free(snap);
  return rc;
}

static int h_zones_change(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  fleetd_gw_t *gw = ud;
  if (fleetd_form_body(req))
    return fleet_ws_response_error(resp, 415, "unsupported media type",
                                   "send the body as application/json");
  const char *method = fleet_ws_request_method(req);
  const char *sub = fleet_ws_request_subpath(req);
  const char *id = *sub ? sub + 1 : "";
  bool post = strcmp(method, "POST") == 0, del = strcmp(method, "DELETE") == 0;
  if (post ? *sub != '\0' : (!*id || strchr(id, '/')))
    return fleet_ws_response_error(resp, 404, "not found", NULL);
  pthread_mutex_lock(&gw->zmu);
  int rc = 0;
  bool changed = false;
  fleet_zone_t *z = NULL;
  int lock = fleetd_file_lock(gw->cfg.zones_file);
  if (lock < 0) {
    fleetd_log(FLEETD_ERROR, "cannot lock the zones file", "file", gw->cfg.zones_file, "error",
               strerror(errno), NULL);
    rc = FLEET_EIO;
  } else if (zones_catch_up(gw, resp)) {
    /* answered */
  } else if (del) {
    rc = fleet_zoneset_remove(gw->parts.zones, id);
    if (rc == FLEET_ENOTFOUND) {
      fleet_ws_response_error(resp, 404, "not found", "no such zone");
      rc = 0;
    } else if (!rc && !(rc = save_zones(gw))) {
      changed = true;
      fleet_ws_response_set_status(resp, 204);
      fleet_ws_response_set_content_type(resp, NULL);
    }
  } else {
    size_t len;
    const char *body = fleet_ws_request_body(req, &len);
    fleetd_body_error_t e;
    if (fleetd_body_zone(&z, &e, body, len, post ? NULL : id)) {
      fleet_ws_response_error(resp, e.status, e.error, e.detail);
    } else {
      rc = post ? fleet_zoneset_add(NULL, gw->parts.zones, z)
                : fleet_zoneset_put(NULL, gw->parts.zones, z);
      if (rc == FLEET_EEXISTS) {
        fleet_ws_response_error(resp, 409, "zone exists", fleet_zone_id(z));
        rc = 0;
      } else if (!rc && !(rc = save_zones(gw))) {
        changed = true;
        fleet_ws_response_set_status(resp, post ? 201 : 200);
        fleet_ws_response_set_content_type(resp, "application/geo+json");
        rc = fleet_zone_encode_geojson(fleet_ws_response_body(resp), z);
      }
    }
  }
  fleetd_file_unlock(lock);
  pthread_mutex_unlock(&gw->zmu);
  if (changed)
    fleetd_log(FLEETD_INFO, "zones changed", "component", "http", "method", method, "zone",
               post ? fleet_zone_id(z) : id, NULL);
  fleet_zone_free(z);
  return rc;
}

static int h_rules_get(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  fleetd_gw_t *gw = ud;
  (void)req;
  pthread_mutex_lock(&gw->rmu);
  fleet_ruleset_t *rs = fleet_ruleset_ref(gw->rules);
  pthread_mutex_unlock(&gw->rmu);
  int rc;
  if (rs)
    rc = fleet_ruleset_encode_json(fleet_ws_response_body(resp), rs);
  else {
    jw(fleet_ws_response_body(resp), "{\"rules\":[]}");
    rc = 0;
  }
  fleet_ruleset_free(rs);
  return rc;
}

static int h_rules_put(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  fleetd_gw_t *gw = ud;
  if (fleetd_form_body(req))
    return fleet_ws_response_error(resp, 415, "unsupported media type",
                                   "send the body as application/json");
  size_t len;
  const char *body = fleet_ws_request_body(req, &len);
  fleet_ruleset_t *rs = NULL;
  fleetd_body_error_t e;
  if (fleetd_body_rules(&rs, &e, body, len))
    return fleet_ws_response_error(resp, e.status, e.error, e.detail);
  fleet_buf_t *b = fleet_ws_response_body(resp);
  int rc = fleet_ruleset_encode_json(b, rs);
  pthread_mutex_lock(&gw->zmu);
  int lock = rc ? -1 : fleetd_file_lock(gw->cfg.rules_file);
  if (!rc && (lock < 0 || fleetd_write_atomic(gw->cfg.rules_file, b->ptr, b->len))) {
    fleetd_log(FLEETD_ERROR, "cannot save the rules", "file", gw->cfg.rules_file, "error",
               strerror(errno), NULL);
    rc = FLEET_EIO;
  }
  fleetd_file_unlock(lock);
  pthread_mutex_unlock(&gw->zmu);
  if (rc) {
    fleet_ruleset_free(rs);
    return rc;
  }
  pthread_mutex_lock(&gw->rmu);
  fleet_ruleset_free(gw->pending);
  gw->pending = rs;
  fleet_ruleset_free(gw->rules);
  gw->rules = fleet_ruleset_ref(rs);
  atomic_store(&gw->has_pending, 1);
  pthread_mutex_unlock(&gw->rmu);
  fleetd_log(FLEETD_INFO, "rules changed", "component", "http", NULL);
  return 0;
}

/* ---- operations ------------------------------------------------------------------------ */

static void metric(fleet_buf_t *b, const char *name, const char *labels, uint64_t v)
{
  char line[256];
  snprintf(line, sizeof line, "%s%s%s%s %" PRIu64 "\n", name, labels ? "{" : "",
           labels ? labels : "", labels ? "}" : "", v);
  jw(b, line);
}

static void metric_help(fleet_buf_t *b, const char *name, const char *type, const char *help)
{
  char line[320];
  snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
  jw(b, line);
}

static int h_metrics(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  fleetd_gw_t *gw = ud;
  (void)req;
  fleetd_counters_t c;
  fleet_tracker_stats_t ts;
  pthread_mutex_lock(&gw->mmu);
  c = gw->counters;
  ts = gw->tstats;
  pthread_mutex_unlock(&gw->mmu);
  fleet_buf_t *b = fleet_ws_response_body(resp);
  fleet_ws_response_set_content_type(resp, "text/plain; version=0.0.4; charset=utf-8");
  metric_help(b, "fleetd_messages_received_total", "counter", "MQTT messages received");
  metric(b, "fleetd_messages_received_total", NULL, c.received);
  metric_help(b, "fleetd_messages_accepted_total", "counter", "payloads stored and tracked");
  metric(b, "fleetd_messages_accepted_total", NULL, c.accepted);
  metric_help(b, "fleetd_messages_rejected_total", "counter", "payloads refused, by reason");
  for (int i = 0; i < FLEETD_REJECT_COUNT; i++) {
    char l[64];
    snprintf(l, sizeof l, "reason=\"%s\"", fleetd_reject_name(i));
    metric(b, "fleetd_messages_rejected_total", l, c.rejected_by[i]);
  }
  metric_help(b, "fleetd_messages_replayed_total", "counter", "ingest log records replayed");
  metric(b, "fleetd_messages_replayed_total", NULL, c.replayed);
  metric_help(b, "fleetd_fixes_late_total", "counter", "fixes older than the vehicle's newest");
  metric(b, "fleetd_fixes_late_total", NULL, ts.late);
  metric_help(b, "fleetd_fixes_duplicate_total", "counter", "re-delivered fixes ignored");
  metric(b, "fleetd_fixes_duplicate_total", NULL, ts.duplicates);
  metric_help(b, "fleetd_vehicles", "gauge", "vehicles known");
  metric(b, "fleetd_vehicles", NULL, ts.vehicles);
  metric_help(b, "fleetd_events_total", "counter", "tracker events, by type");
  for (unsigned int t = 1; t < sizeof c.events / sizeof c.events[0]; t++) {
    const char *n = fleet_tracker_event_type_name((fleet_tracker_event_type_t)t);
    char l[64];
    snprintf(l, sizeof l, "type=\"%s\"", n ? n : "unknown");
    metric(b, "fleetd_events_total", l, c.events[t]);
  }
  metric_help(b, "fleetd_alerts_published_total", "counter", "alerts published to MQTT");
  metric(b, "fleetd_alerts_published_total", NULL, c.alerts_published);
  metric_help(b, "fleetd_alerts_forwarded_total", "counter",
              "role gateway: alerts of fleet/+/alerts sent to the WebSocket clients");
  metric(b, "fleetd_alerts_forwarded_total", NULL, c.alerts_forwarded);
  const struct {
    const char *tier;
    fleet_influx_writer_t *w;
  } tiers[2] = {{"raw", gw->parts.raw}, {"downsampled", gw->parts.events}};
  metric_help(b, "fleetd_influx_points_written_total", "counter", "points stored, by tier");
  for (int i = 0; i < 2; i++) {
    fleet_influx_writer_stats_t s = FLEET_INFLUX_WRITER_STATS_INIT;
    char l[64];
    snprintf(l, sizeof l, "tier=\"%s\"", tiers[i].tier);
    if (fleet_influx_writer_get_stats(&s, tiers[i].w))
      continue;
    metric(b, "fleetd_influx_points_written_total", l, s.points_written);
    metric(b, "fleetd_influx_points_dead_lettered_total", l, s.points_dead_lettered);
    metric(b, "fleetd_influx_queue_points", l, s.queue_points);
    metric(b, "fleetd_influx_spool_bytes", l, s.spool_bytes);
    metric(b, "fleetd_influx_spool_records", l, s.spool_records);
    metric(b, "fleetd_influx_request_latency_microseconds", l, s.avg_latency_us);
    metric(b, "fleetd_influx_healthy", l, (uint64_t)s.healthy);
  }
  fleet_ingestlog_stats_t ls = FLEET_INGESTLOG_STATS_INIT;
  if (!fleet_ingestlog_get_stats(&ls, gw->parts.log)) {
    metric_help(b, "fleetd_ingest_log_bytes", "gauge", "ingest log size on disk");
    metric(b, "fleetd_ingest_log_bytes", NULL, ls.bytes);
    metric_help(b, "fleetd_ingest_log_unconfirmed", "gauge",
                "records after the checkpoint (replayed after a crash)");
    metric(b, "fleetd_ingest_log_unconfirmed", NULL,
           ls.next_seq > ls.checkpoint_seq + 1 ? ls.next_seq - ls.checkpoint_seq - 1 : 0);
  }
  fleet_mqtt_stats_t ms = FLEET_MQTT_STATS_INIT;
  if (!fleet_mqtt_stats(&ms, gw->parts.mqtt)) {
    metric_help(b, "fleetd_mqtt_connected", "gauge", "1 while connected to the broker");
    metric(b, "fleetd_mqtt_connected", NULL, (uint64_t)ms.connected);
    metric(b, "fleetd_mqtt_reconnects_total", NULL, ms.reconnects);
  }
  fleet_ws_stats_t ws = FLEET_WS_STATS_INIT;
  if (!fleet_ws_stats(&ws, gw->ws)) {
    metric_help(b, "fleetd_ws_clients", "gauge", "WebSocket clients connected");
    metric(b, "fleetd_ws_clients", NULL, ws.clients);
    metric(b, "fleetd_ws_messages_sent_total", NULL, ws.messages_sent);
    metric(b, "fleetd_ws_slow_disconnects_total", NULL, ws.slow_disconnects);
    metric(b, "fleetd_ws_batches_built_total", NULL, ws.batches_built);
    metric(b, "fleetd_ws_batches_shared_total", NULL, ws.batches_shared);
    metric(b, "fleetd_http_requests_total", NULL, ws.http_requests);
  }
  return 0;
}

static int h_readyz(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  fleetd_gw_t *gw = ud;
  (void)req;
  const char *why = NULL;
  char db_why[512];
  fleet_influx_writer_stats_t r = FLEET_INFLUX_WRITER_STATS_INIT;
  fleet_influx_writer_stats_t e = FLEET_INFLUX_WRITER_STATS_INIT;
  if (!fleet_mqtt_is_connected(gw->parts.mqtt))
    why = "not connected to the broker";
  else if (gw->dbcheck && !fleetd_dbcheck_ready(gw->dbcheck, db_why, sizeof db_why))
    why = db_why;
  else if (gw->parts.raw &&
           (fleet_influx_writer_get_stats(&r, gw->parts.raw) || !r.healthy ||
            fleet_influx_writer_get_stats(&e, gw->parts.events) || !e.healthy)) {
    /* The writer's own words: a refused write (404 until its retry after a
     * database came back, 401, ...) is not a server that does not answer. */
    const char *err = !r.healthy ? r.last_error : e.last_error;
    snprintf(db_why, sizeof db_why, "InfluxDB writes are failing%s%s", *err ? ": " : "", err);
    why = db_why;
  }
  if (why)
    return fleet_ws_response_error(resp, 503, "not ready", why);
  fleet_ws_response_set_content_type(resp, "text/plain; charset=utf-8");
  jw(fleet_ws_response_body(resp), "ok\n");
  return 0;
}

/* ---- worker ------------------------------------------------------------------------------ */

/* The gateway marks a response deferred only once the handler has returned,
 * and refuses (FLEET_EINVAL) to finish one that is not marked yet: a job done
 * before its handler returned must wait for that, which takes microseconds. */
static void finish(fleet_ws_response_t *resp)
{
  for (int i = 0; i < 10000; i++) {
    if (fleet_ws_response_finish(resp) == 0)
      return;
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  fleetd_log(FLEETD_ERROR, "a deferred HTTP response could not be finished", "component",
             "http", "error", fleet_error_last(), NULL);
}

static void *worker_main(void *arg)
{
  fleetd_gw_t *gw = arg;
  pthread_setname_np(pthread_self(), "fleetd-worker");
  for (;;) {
    pthread_mutex_lock(&gw->qmu);
    while (!gw->head && !gw->stop)
      pthread_cond_wait(&gw->qcv, &gw->qmu);
    job_t *j = gw->head;
    if (j) {
      gw->head = j->next;
      if (!gw->head)
        gw->tail = NULL;
    }
    bool stop = gw->stop;
    pthread_mutex_unlock(&gw->qmu);
    if (!j) {
      if (stop)
        break;
      continue;
    }
    if (stop || fleet_ws_response_abandoned(j->resp)) {
      fleet_ws_response_error(j->resp, 503, "shutting down", NULL);
    } else {
      switch (j->kind) {
      case J_LOGIN:
      case J_REFRESH: run_login(gw, j); break;
      case J_REPORT: run_report(gw, j); break;
      case J_ALERTS: run_alerts(gw, j); break;
      default: run_history(gw, j); break;
      }
    }
    finish(j->resp);
    if (j->kind == J_LOGIN) {
      pthread_mutex_lock(&gw->qmu);
      gw->logins_queued--;
      pthread_mutex_unlock(&gw->qmu);
    }
    job_free(j);
  }
  return NULL;
}

/* ---- life cycle -------------------------------------------------------------------------- */

int fleetd_gw_new(fleetd_gw_t **out, const fleetd_config_t *cfg, const fleetd_gw_parts_t *parts)
{
  *out = NULL;
  fleetd_gw_t *gw = calloc(1, sizeof *gw);
  if (!gw)
    return -1;
  gw->cfg = *cfg;
  gw->parts = *parts;
  gw->tls = cfg->http_tls_cert[0] != '\0';
  gw->rules = fleet_ruleset_ref(parts->rules);
  pthread_mutex_init(&gw->vmu, NULL);
  pthread_mutex_init(&gw->rmu, NULL);
  pthread_mutex_init(&gw->zmu, NULL);
  pthread_mutex_init(&gw->mmu, NULL);
  pthread_mutex_init(&gw->qmu, NULL);
  pthread_cond_init(&gw->qcv, NULL);
  atomic_init(&gw->has_pending, 0);
  *out = gw;

  char aerr[512];
  if (fleetd_auth_open(&gw->auth, cfg, aerr, sizeof aerr)) {
    fleetd_log(FLEETD_ERROR, "cannot open the users and token keys", "dir", cfg->state_dir,
               "error", aerr, NULL);
    return -1;
  }
  fleet_history_opts_t ho = FLEET_HISTORY_OPTS_INIT;
  ho.raw_db = cfg->influx.database;
  ho.raw_rp = cfg->influx.retention_policy;
  ho.downsampled_db = cfg->downsampled_db;
  ho.downsampled_rp = cfg->downsampled_rp;
  if (fleet_history_new(&gw->hist, &cfg->influx, &ho)) {
    fleetd_log(FLEETD_ERROR, "cannot create the history reader", "error", fleet_error_last(),
               NULL);
    return -1;
  }
  /* NULL in role gateway, which writes nothing: its readiness does not wait
   * for writable databases (history reads of a missing one answer empty). */
  gw->dbcheck = parts->dbcheck;
  /* Comma-separated origins in the configuration. */
  char origins_buf[FLEETD_PATH_MAX];
  const char *origins[32];
  size_t norigins = 0;
  snprintf(origins_buf, sizeof origins_buf, "%s", cfg->http_allowed_origins);
  for (char *save = NULL, *o = strtok_r(origins_buf, ", ", &save); o && norigins < 32;
       o = strtok_r(NULL, ", ", &save))
    origins[norigins++] = o;

  fleet_ws_options_t wo = FLEET_WS_OPTIONS_INIT;
  wo.listen = cfg->http;
  wo.tls_cert_file = gw->tls ? cfg->http_tls_cert : NULL;
  wo.tls_key_file = gw->tls ? cfg->http_tls_key : NULL;
  wo.verifier = fleet_auth_verifier(gw->auth);
  wo.allowed_origins = norigins ? origins : NULL;
  wo.n_allowed_origins = norigins;
  bool ops_only = cfg->role_id == FLEETD_ROLE_INGEST;
  wo.static_root = cfg->web_root[0] && !ops_only ? cfg->web_root : NULL;
  wo.flush_ms = cfg->ws_flush_ms;
  wo.log_cb = ws_log;
  wo.log_level = cfg->log_level == FLEETD_DEBUG  ? FLEET_WS_LOG_DEBUG
                 : cfg->log_level == FLEETD_INFO ? FLEET_WS_LOG_INFO
                 : cfg->log_level == FLEETD_WARN ? FLEET_WS_LOG_WARNING
                                                 : FLEET_WS_LOG_ERROR;
  if (fleet_ws_new(&gw->ws, &wo)) {
    fleetd_log(FLEETD_ERROR, "cannot create the HTTP gateway", "error", fleet_error_last(),
               NULL);
    return -1;
  }
  const struct {
    const char *method, *prefix;
    int role;
    fleet_ws_route_cb cb;
  } routes[] = {
    {"POST", "/api/auth/login", FLEET_WS_ROLE_PUBLIC, h_login},
    {"POST", "/api/auth/refresh", FLEET_WS_ROLE_PUBLIC, h_login},
    {"POST", "/api/auth/logout", FLEET_WS_ROLE_PUBLIC, h_logout},
    {"GET", "/api/me", FLEET_AUTH_ROLE_VIEWER, h_me},
    {"GET", "/api/config", FLEET_WS_ROLE_PUBLIC, h_config},
    {"GET", "/api/vehicles", FLEET_AUTH_ROLE_VIEWER, h_vehicles},
    {"GET", "/api/reports/trips", FLEET_AUTH_ROLE_VIEWER, h_report},
    {"GET", "/api/zones", FLEET_AUTH_ROLE_VIEWER, h_zones_get},
    {"POST", "/api/zones", FLEET_AUTH_ROLE_ADMIN, h_zones_change},
    {"PUT", "/api/zones", FLEET_AUTH_ROLE_ADMIN, h_zones_change},
    {"DELETE", "/api/zones", FLEET_AUTH_ROLE_ADMIN, h_zones_change},
    {"GET", "/api/rules", FLEET_AUTH_ROLE_VIEWER, h_rules_get},
    {"PUT", "/api/rules", FLEET_AUTH_ROLE_ADMIN, h_rules_put},
    {"GET", "/api/alerts", FLEET_AUTH_ROLE_VIEWER, h_alerts},
    {"GET", "/metrics", FLEET_WS_ROLE_PUBLIC, h_metrics},
    {"GET", "/readyz", FLEET_WS_ROLE_PUBLIC, h_readyz},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    if ((!ops_only || strcmp(routes[i].prefix, "/metrics") == 0 ||
         strcmp(routes[i].prefix, "/readyz") == 0) &&
        fleet_ws_route_add(gw->ws, routes[i].method, routes[i].prefix, routes[i].role,
                           routes[i].cb, gw)) {
      fleetd_log(FLEETD_ERROR, "cannot add a route", "route", routes[i].prefix, "error",
                 fleet_error_last(), NULL);
      return -1;
    }
  int e = pthread_create(&gw->worker, NULL, worker_main, gw);
  if (e) {
    fleetd_log(FLEETD_ERROR, "cannot start the HTTP worker", "error", strerror(e), NULL);
    return -1;
  }
  gw->worker_running = true;
  return 0;
}

int fleetd_gw_start(fleetd_gw_t *gw)
{
  if (fleet_ws_start(gw->ws)) {
    fleetd_log(FLEETD_ERROR, "cannot listen", "component", "http", "listen", gw->cfg.http,
               "error", fleet_error_last(), NULL);
    return -1;
  }
  char port[16];
  snprintf(port, sizeof port, "%d", fleet_ws_port(gw->ws));
  fleetd_log(FLEETD_INFO, "HTTP gateway listening", "component", "http", "listen",
             gw->cfg.http, "port", port, "web_root", gw->cfg.web_root, NULL);
  return 0;
}

void fleetd_gw_free(fleetd_gw_t *gw)
{
  if (!gw)
    return;
  /* Stop taking requests, then let the worker finish what it holds. */
  if (gw->ws)
    fleet_ws_stop(gw->ws);
  if (gw->worker_running) {
    pthread_mutex_lock(&gw->qmu);
    gw->stop = true;
    pthread_cond_signal(&gw->qcv);
    pthread_mutex_unlock(&gw->qmu);
    pthread_join(gw->worker, NULL);
  }
  fleet_ws_free(gw->ws);
  fleet_history_free(gw->hist);
  fleet_auth_free(gw->auth);
  fleet_ruleset_free(gw->rules);
  fleet_ruleset_free(gw->pending);
  fleet_zoneset_snapshot_free(gw->snap);
  fleet_buf_dispose(&gw->extra);
  free(gw->vt.v);
  free(gw->vt.slots);
  pthread_mutex_destroy(&gw->vmu);
  pthread_mutex_destroy(&gw->rmu);
  pthread_mutex_destroy(&gw->zmu);
  pthread_mutex_destroy(&gw->mmu);
  pthread_mutex_destroy(&gw->qmu);
  pthread_cond_destroy(&gw->qcv);
  free(gw);
}

/* ---- the pipeline's side ----------------------------------------------------------------- */

void fleetd_gw_telemetry(fleetd_gw_t *gw, const fleet_telemetry_t *rec,
                         const fleet_vehicle_state_t *st, const uint32_t *zones, size_t nzones)
{
  if (!gw->snap ||
      fleet_zoneset_generation(gw->parts.zones) != fleet_zoneset_snapshot_generation(gw->snap)) {
    fleet_zoneset_snapshot_free(gw->snap);
    gw->snap = NULL;
    fleet_zoneset_snapshot(&gw->snap, gw->parts.zones);
  }
  fleet_buf_t *x = &gw->extra;
  fleet_buf_clear(x);
  const char *status = fleet_vehicle_status_name(st->status);
  jw(x, "{\"status\":");
  jw_str(x, status ? status : "stopped");
  jw(x, ",\"zones\":[");
  for (size_t i = 0; i < nzones; i++) {
    const fleet_zone_t *z = gw->snap ? fleet_zoneset_snapshot_get(gw->snap, zones[i]) : NULL;
    if (!z)
      continue;
    if (x->ptr[x->len - 1] != '[')
      jw(x, ",");
    jw_str(x, fleet_zone_id(z));
  }
  jw(x, "]}");
  fleet_ws_publish_telemetry(gw->ws, rec, x->ptr, x->len);

  pthread_mutex_lock(&gw->vmu);
  vrec_t *r = vt_get(&gw->vt, rec->vehicle_id);
  if (r && rec->ts_ns >= r->ts_ns) {
    r->ts_ns = rec->ts_ns;
    r->seen_ns = fleetd_wall_ns();
    r->lat = rec->lat;
    r->lng = rec->lng;
    r->present = rec->present;
    r->speed = rec->speed_kmh;
    r->heading = rec->heading_deg;
    r->odometer = rec->odometer_km;
    r->battery = rec->battery_v;
    r->temp = rec->engine_temp_c;
    r->fuel = rec->fuel_level_pct;
    r->ignition = (uint8_t)(rec->ignition != 0);
    snprintf(r->driver, sizeof r->driver, "%s", rec->driver_id);
    r->status = (uint8_t)st->status;
    r->nzones = (uint8_t)(nzones < 4 ? nzones : 4);
    memcpy(r->zones, zones, r->nzones * sizeof *zones);
  }
  pthread_mutex_unlock(&gw->vmu);
}

void fleetd_gw_alert(fleetd_gw_t *gw, const char *vehicle_id, const char *json, size_t len)
{
  fleet_ws_publish_alert(gw->ws, vehicle_id, json, len);
}

void fleetd_gw_counters(fleetd_gw_t *gw, const fleetd_counters_t *c,
                        const fleet_tracker_stats_t *ts)
{
  pthread_mutex_lock(&gw->mmu);
  gw->counters = *c;
  gw->tstats = *ts;
  pthread_mutex_unlock(&gw->mmu);
}

fleet_ruleset_t *fleetd_gw_take_rules(fleetd_gw_t *gw)
{
  if (!atomic_load(&gw->has_pending))
    return NULL;
  pthread_mutex_lock(&gw->rmu);
  fleet_ruleset_t *rs = gw->pending;
  gw->pending = NULL;
  atomic_store(&gw->has_pending, 0);
  pthread_mutex_unlock(&gw->rmu);
  return rs;
}

void fleetd_gw_set_rules(fleetd_gw_t *gw, fleet_ruleset_t *rules)
{
  pthread_mutex_lock(&gw->rmu);
  fleet_ruleset_free(gw->rules);
  gw->rules = fleet_ruleset_ref(rules);
  pthread_mutex_unlock(&gw->rmu);
}

void fleetd_gw_reload_users(fleetd_gw_t *gw)
{
  int changed = 0;
  if (fleet_auth_users_reload(&changed, fleet_auth_users(gw->auth)))
    fleetd_log(FLEETD_ERROR, "cannot reload the users file; keeping the current users",
               "error", fleet_error_last(), NULL);
  else if (changed)
    fleetd_log(FLEETD_INFO, "users reloaded", "component", "http", NULL);
}
