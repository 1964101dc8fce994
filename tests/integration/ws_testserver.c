/*
 * ws_testserver: a gateway (fleet/ws.h) with a few REST routes and a
 * synthetic feed, for the integration tests (test_ws.py) and for trying the
 * dashboard by hand. Uses only the public API, like an application would.
 *
 *   ws_testserver --secret-file FILE [--listen 127.0.0.1:0] [--static DIR]
 *                 [--origin URL]... [--tls-cert F --tls-key F] [--leeway S]
 *                 [--users FILE --user NAME:PASSWORD:ROLE:VEHICLES]...
 *                 [--vehicles N --rate-hz R [--stagger]] [--option NAME=VALUE]...
 *
 * The feed thread publishes vehicles v-001.. R times a second, all at once,
 * or with --stagger one after the other spread evenly over each period.
 *
 * It prints "PORT <n>" on stdout once listening, then runs until SIGTERM or
 * SIGINT, and prints the counters as one JSON line ("STATS {...}") on exit.
 *
 * Routes (besides the gateway's /ws and /healthz):
 *   GET  /api/me                   viewer  the token's claims
 *   GET  /api/echo[/...]           viewer  method, path, subpath, query
 *   POST /api/admin/echo           admin   the body back
 *   GET  /api/stats                viewer  fleet_ws_stats() as JSON
 *   GET  /api/slow?ms=N            viewer  a deferred response finished by another thread
 *   GET  /api/fail                 viewer  a handler error (500)
 *   GET  /api/block?ms=N           viewer  sleeps N ms on the service thread
 *   POST /api/publish/telemetry    admin   body: a telemetry payload with vehicle_id;
 *                                          ?extra=JSON merged into the update
 *   POST /api/publish/state?vehicle=ID  admin  body: a data object
 *   POST /api/publish/alert?vehicle=ID  admin  body: the alert object
 *   POST /api/publish/burst?vehicle=ID&count=N&size=B  admin  N alerts of about B bytes
 *   POST /api/auth/login           public  {"username","password"} -> tokens and the cookie
 */
#include <fleet/fleet.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define MAX_USERS 16
#define MAX_ORIGINS 8

typedef struct app {
  fleet_ws_t *gw;
  fleet_auth_verifier_t *verifier;
  fleet_auth_signer_t *signer;
  fleet_auth_users_t *users;
  int vehicles;
  int stagger; /* spread each round's publishes over its period */
  double rate_hz;
  volatile sig_atomic_t stop;
  pthread_mutex_t slow_lock;
  pthread_cond_t slow_cond;
  fleet_ws_response_t *slow[64];
  int64_t slow_due[64];
  int n_slow;
} app_t;

static app_t app_state = {.slow_lock = PTHREAD_MUTEX_INITIALIZER,
                          .slow_cond = PTHREAD_COND_INITIALIZER};

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
  (void)sig;
  app_state.stop = 1;
}

static void log_cb(int level, const char *message, void *userdata)
{
  (void)userdata;
  static const char *const names[] = {"?", "error", "warning", "info", "debug"};
  fprintf(stderr, "ws_testserver: %s: %s\n", names[level >= 1 && level <= 4 ? level : 0],
          message);
}

static int die(const char *what)
{
  fprintf(stderr, "ws_testserver: %s: %s (%s)\n", what, fleet_error_last(),
          fleet_strerror(fleet_error_last_code()));
  return 2;
}

/* ---- routes ---- */

static int json_reply(fleet_ws_response_t *resp, json_t *j)
{
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!s)
    return FLEET_ENOMEM;
  int rc = fleet_buf_append(fleet_ws_response_body(resp), s, strlen(s));
  free(s);
  return rc;
}

static int on_me(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  (void)ud;
  return fleet_auth_claims_to_json(fleet_ws_response_body(resp), fleet_ws_request_claims(req));
}

static int on_echo(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  (void)ud;
  json_t *q = json_object();
  for (size_t i = 0; i < fleet_ws_request_query_count(req); i++) {
    const char *n, *v;
    fleet_ws_request_query_at(&n, &v, req, i);
    json_object_set_new(q, n, json_string(v));
  }
  const char *ua = fleet_ws_request_header(req, "User-Agent");
  const char *xt = fleet_ws_request_header(req, "X-Test");
  const char *auth = fleet_ws_request_header(req, "Authorization");
  json_t *j = json_pack("{s:s,s:s,s:s,s:o,s:s?,s:s?,s:b,s:s}", "method",
                        fleet_ws_request_method(req), "path", fleet_ws_request_path(req),
                        "subpath", fleet_ws_request_subpath(req), "query", q, "user_agent", ua,
                        "x_test", xt, "authorization_visible", auth != NULL, "peer",
                        fleet_ws_request_peer(req));
  return json_reply(resp, j);
}

static int on_admin_echo(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  (void)ud;
  size_t n;
  const char *body = fleet_ws_request_body(req, &n);
  const char *ct = fleet_ws_request_header(req, "Content-Type");
  fleet_ws_response_set_content_type(resp, ct ? ct : "application/octet-stream");
  return fleet_buf_append(fleet_ws_response_body(resp), body, n);
}

static int on_stats(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  (void)req;
  app_t *a = ud;
  fleet_ws_stats_t st = FLEET_WS_STATS_INIT;
  int rc = fleet_ws_stats(&st, a->gw);
  if (rc)
    return rc;
  json_t *j = json_object();
#define F(n) json_object_set_new(j, #n, json_integer((json_int_t)st.n))
  F(clients); F(connections); F(disconnects); F(auth_failures); F(forbidden);
  F(messages_sent); F(bytes_sent); F(telemetry_sent); F(telemetry_coalesced);
  F(alerts_sent); F(snapshots_sent); F(errors_sent); F(messages_received);
  F(slow_disconnects); F(oversize_closes); F(expired_closes); F(http_requests);
  F(http_4xx); F(http_5xx); F(handler_errors); F(static_served); F(telemetry_published);
  F(telemetry_stale); F(alerts_published); F(publish_refused); F(vehicles); F(queued_bytes);
  F(batches_built); F(batches_shared);
#undef F
  return json_reply(resp, j);
}

static int on_slow(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  app_t *a = ud;
  const char *ms = fleet_ws_request_query(req, "ms");
  long delay = ms ? strtol(ms, NULL, 10) : 200;
  int rc = fleet_buf_append(fleet_ws_response_body(resp), "{\"deferred\":true}", 17);
  if (rc)
    return rc;
  pthread_mutex_lock(&a->slow_lock);
  if (a->n_slow == 64) {
    pthread_mutex_unlock(&a->slow_lock);
    return FLEET_EFULL;
  }
  a->slow[a->n_slow] = resp;
  a->slow_due[a->n_slow] = now_ms() + delay;
  a->n_slow++;
  pthread_cond_signal(&a->slow_cond);
  pthread_mutex_unlock(&a->slow_lock);
  return FLEET_WS_DEFER;
}

static int bad_request(fleet_ws_response_t *resp, const char *detail);

/* Sleeps on the service thread: stands in for a long service pass. */
static int on_block(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  (void)ud;
  const char *ms = fleet_ws_request_query(req, "ms");
  long delay = ms ? strtol(ms, NULL, 10) : 20;
  if (delay < 0 || delay > 1000)
    return bad_request(resp, "ms: 0-1000");
  usleep((useconds_t)delay * 1000u);
  return fleet_buf_append(fleet_ws_response_body(resp), "{\"blocked\":true}", 16);
}

static int on_fail(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  (void)resp;
  (void)req;
  (void)ud;
  return FLEET_EINTERNAL;
}

static int bad_request(fleet_ws_response_t *resp, const char *detail)
{
  return fleet_ws_response_error(resp, 400, "bad request", detail);
}

static int on_publish_telemetry(fleet_ws_response_t *resp, const fleet_ws_request_t *req,
                                void *ud)
{
  app_t *a = ud;
  size_t n;
  const char *body = fleet_ws_request_body(req, &n);
  fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
  if (fleet_telemetry_parse(&rec, NULL, body, n) != 0)
    return bad_request(resp, fleet_error_last());
  const char *extra = fleet_ws_request_query(req, "extra");
  if (fleet_ws_publish_telemetry(a->gw, &rec, extra, extra ? strlen(extra) : 0) != 0)
    return bad_request(resp, fleet_error_last());
  fleet_ws_response_set_status(resp, 204);
  return 0;
}

static int on_publish_state(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  app_t *a = ud;
  size_t n;
  const char *body = fleet_ws_request_body(req, &n);
  const char *v = fleet_ws_request_query(req, "vehicle");
  if (!v || fleet_ws_publish_state(a->gw, v, body, n) != 0)
    return bad_request(resp, v ? fleet_error_last() : "vehicle= is required");
  fleet_ws_response_set_status(resp, 204);
  return 0;
}

static int on_publish_alert(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  app_t *a = ud;
  size_t n;
  const char *body = fleet_ws_request_body(req, &n);
  const char *v = fleet_ws_request_query(req, "vehicle");
  if (!v || fleet_ws_publish_alert(a->gw, v, body, n) != 0)
    return bad_request(resp, v ? fleet_error_last() : "vehicle= is required");
  fleet_ws_response_set_status(resp, 204);
  return 0;
}

static int on_publish_burst(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  app_t *a = ud;
  const char *v = fleet_ws_request_query(req, "vehicle");
  const char *cs = fleet_ws_request_query(req, "count");
  const char *ss = fleet_ws_request_query(req, "size");
  long count = cs ? strtol(cs, NULL, 10) : 0, size = ss ? strtol(ss, NULL, 10) : 100;
  if (!v || count <= 0 || count > 100000 || size < 0 || size > 60000)
    return bad_request(resp, "vehicle=, count=1..100000 and size=0..60000 are required");
  char *pad = malloc((size_t)size + 1);
  fleet_buf_t b = FLEET_BUF_INIT;
  if (!pad)
    return FLEET_ENOMEM;
  memset(pad, 'x', (size_t)size);
  pad[size] = '\0';
  long accepted = 0;
  for (long i = 0; i < count; i++) {
    fleet_buf_clear(&b);
    char head[96];
    snprintf(head, sizeof head, "{\"rule\":\"burst\",\"seq\":%ld,\"pad\":\"", i);
    fleet_buf_append(&b, head, strlen(head));
    fleet_buf_append(&b, pad, (size_t)size);
    fleet_buf_append(&b, "\"}", 2);
    if (fleet_ws_publish_alert(a->gw, v, b.ptr, b.len) == 0)
      accepted++;
  }
  free(pad);
  fleet_buf_dispose(&b);
  json_t *j = json_pack("{s:I}", "accepted", (json_int_t)accepted);
  return json_reply(resp, j);
}

static int on_login(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  app_t *a = ud;
  if (!a->users || !a->signer)
    return fleet_ws_response_error(resp, 404, "not found", NULL);
  size_t n;
  const char *body = fleet_ws_request_body(req, &n);
  json_t *j = json_loadb(body, n, 0, NULL);
  const char *user = json_string_value(json_object_get(j, "username"));
  const char *pw = json_string_value(json_object_get(j, "password"));
  if (!user || !pw) {
    json_decref(j);
    return bad_request(resp, "username and password are required");
  }
  fleet_auth_claims_t *who = NULL;
  char *tok = NULL;
  int64_t exp = 0;
  int rc = fleet_auth_users_authenticate(&who, a->users, user, pw);
  json_decref(j);
  if (rc == FLEET_EAUTH)
    return fleet_ws_response_error(resp, 401, "invalid credentials", NULL);
  if (!rc)
    rc = fleet_auth_signer_issue(&tok, &exp, a->signer, who, FLEET_AUTH_TOKEN_ACCESS, 0);
  fleet_auth_claims_free(who);
  if (rc)
    return rc;
  char cookie[FLEET_AUTH_TOKEN_MAX + 128];
  snprintf(cookie, sizeof cookie, "fleet_token=%s; Path=/; HttpOnly; SameSite=Strict", tok);
  rc = fleet_ws_response_add_header(resp, "Set-Cookie", cookie);
  if (!rc)
    rc = json_reply(resp, json_pack("{s:s,s:s,s:I}", "access_token", tok, "token_type", "Bearer",
                                    "expires_in", (json_int_t)fleet_auth_signer_ttl(
                                                      a->signer, FLEET_AUTH_TOKEN_ACCESS)));
  fleet_free(tok);
  return rc;
}

/* ---- threads: deferred responses and the synthetic feed ---- */

static void *slow_main(void *arg)
{
  app_t *a = arg;
  pthread_mutex_lock(&a->slow_lock);
  while (!a->stop) {
    int64_t now = now_ms();
    for (int i = 0; i < a->n_slow;) {
      if (a->slow_due[i] <= now) {
        fleet_ws_response_finish(a->slow[i]);
        a->slow[i] = a->slow[--a->n_slow];
        a->slow_due[i] = a->slow_due[a->n_slow];
      } else {
        i++;
      }
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 10 * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&a->slow_cond, &a->slow_lock, &ts);
  }
  for (int i = 0; i < a->n_slow; i++)
    fleet_ws_response_finish(a->slow[i]);
  a->n_slow = 0;
  pthread_mutex_unlock(&a->slow_lock);
  return NULL;
}

static void *feed_main(void *arg)
{
  app_t *a = arg;
  long tick = 0;
  while (!a->stop) {
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    for (int i = 0; i < a->vehicles; i++) {
      fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
      snprintf(rec.vehicle_id, sizeof rec.vehicle_id, "v-%03d", i + 1);
      double ang = (double)tick * 0.01 + i;
      rec.ts_ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec / 1000000 * 1000000;
      rec.lat = 23.81 + 0.01 * sin(ang);
      rec.lng = 90.41 + 0.01 * cos(ang);
      rec.present = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_HEADING;
      rec.speed_kmh = 40.0 + (double)(i % 5);
      rec.heading_deg = fmod(ang * 57.29577951308232 + 90.0, 360.0);
      if (rec.heading_deg < 0)
        rec.heading_deg += 360.0;
      fleet_ws_publish_telemetry(a->gw, &rec, "{\"status\":\"moving\"}", 19);
      if (a->stagger) {
        usleep((useconds_t)(1e6 / a->rate_hz / a->vehicles));
        clock_gettime(CLOCK_REALTIME, &wall);
      }
    }
    tick++;
    if (!a->stagger)
      usleep((useconds_t)(1e6 / a->rate_hz));
  }
  return NULL;
}

/* ---- setup ---- */

static int read_file(fleet_buf_t *out, const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "ws_testserver: %s: %s\n", path, strerror(errno));
    return -1;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    fleet_buf_append(out, buf, n);
  fclose(f);
  return 0;
}

static int set_option(fleet_ws_options_t *o, const char *kv)
{
  const char *eq = strchr(kv, '=');
  if (!eq)
    return -1;
  size_t nl = (size_t)(eq - kv);
  unsigned long v = strtoul(eq + 1, NULL, 10);
#define OPT(name, field, type)                                   \
  if (nl == strlen(name) && strncmp(kv, name, nl) == 0) {        \
    o->field = (type)v;                                          \
    return 0;                                                    \
  }
  OPT("max_message_bytes", max_message_bytes, size_t)
  OPT("send_buffer_bytes", send_buffer_bytes, size_t)
  OPT("tcp_send_buffer_bytes", tcp_send_buffer_bytes, size_t)
  OPT("alert_queue_max", alert_queue_max, unsigned int)
  OPT("stuck_timeout_ms", stuck_timeout_ms, unsigned int)
  OPT("interval_min_ms", interval_min_ms, unsigned int)
  OPT("interval_max_ms", interval_max_ms, unsigned int)
  OPT("interval_default_ms", interval_default_ms, unsigned int)
  OPT("flush_ms", flush_ms, unsigned int)
  OPT("ping_interval_s", ping_interval_s, unsigned int)
  OPT("idle_timeout_s", idle_timeout_s, unsigned int)
  OPT("max_clients", max_clients, unsigned int)
  OPT("max_vehicles", max_vehicles, size_t)
  OPT("max_body_bytes", max_body_bytes, size_t)
  OPT("max_header_bytes", max_header_bytes, size_t)
  OPT("log_level", log_level, int)
#undef OPT
  return -1;
}

static void usage(void)
{
  fprintf(stderr,
          "usage: ws_testserver --secret-file FILE [--listen ADDR:PORT] [--static DIR]\n"
          "       [--origin URL]... [--tls-cert FILE --tls-key FILE] [--leeway S]\n"
          "       [--users FILE [--user NAME:PASSWORD:ROLE:VEHICLES]...]\n"
          "       [--vehicles N] [--rate-hz R] [--stagger] [--option NAME=VALUE]...\n");
}

int main(int argc, char **argv)
{
  app_t *a = &app_state;
  fleet_ws_options_t o = FLEET_WS_OPTIONS_INIT;
  const char *secret_file = NULL, *users_file = NULL;
  const char *origins[MAX_ORIGINS];
  const char *user_specs[MAX_USERS];
  size_t n_origins = 0, n_users = 0;
  unsigned int leeway = 0;
  a->vehicles = 0;
  a->rate_hz = 1.0;
  o.listen = "127.0.0.1:0";
  o.log_cb = log_cb;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(arg, "--stagger") == 0) {
      a->stagger = 1;
      continue;
    }
    if (!val) {
      usage();
      return 2;
    }
    i++;
    if (strcmp(arg, "--secret-file") == 0) secret_file = val;
    else if (strcmp(arg, "--listen") == 0) o.listen = val;
    else if (strcmp(arg, "--static") == 0) o.static_root = val;
    else if (strcmp(arg, "--origin") == 0 && n_origins < MAX_ORIGINS) origins[n_origins++] = val;
    else if (strcmp(arg, "--tls-cert") == 0) o.tls_cert_file = val;
    else if (strcmp(arg, "--tls-key") == 0) o.tls_key_file = val;
    else if (strcmp(arg, "--leeway") == 0) leeway = (unsigned int)strtoul(val, NULL, 10);
    else if (strcmp(arg, "--users") == 0) users_file = val;
    else if (strcmp(arg, "--user") == 0 && n_users < MAX_USERS) user_specs[n_users++] = val;
    else if (strcmp(arg, "--vehicles") == 0) a->vehicles = atoi(val);
    else if (strcmp(arg, "--rate-hz") == 0) a->rate_hz = atof(val);
    else if (strcmp(arg, "--option") == 0) {
      if (set_option(&o, val) != 0) {
        fprintf(stderr, "ws_testserver: unknown option '%s'\n", val);
        return 2;
      }
    } else {
      usage();
      return 2;
    }
  }
  if (!secret_file || a->rate_hz <= 0) {
    usage();
    return 2;
  }
  fleet_buf_t secret = FLEET_BUF_INIT;
  int rc = 2;
  if (read_file(&secret, secret_file) != 0)
    goto out;
  fleet_auth_verifier_options_t vo = FLEET_AUTH_VERIFIER_OPTIONS_INIT;
  vo.leeway_s = leeway;
  if (fleet_auth_verifier_new(&a->verifier, &vo) != 0 ||
      fleet_auth_verifier_add_key(a->verifier, FLEET_AUTH_ALG_HS256, NULL, secret.ptr,
                                  secret.len) != 0)
    {
    rc = die("verifier");
    goto out;
  }
  fleet_auth_signer_options_t so = FLEET_AUTH_SIGNER_OPTIONS_INIT;
  so.key = secret.ptr;
  so.key_len = secret.len;
  if (fleet_auth_signer_new(&a->signer, &so) != 0)
    {
    rc = die("signer");
    goto out;
  }
  if (users_file) {
    if (fleet_auth_users_open(&a->users, users_file) != 0)
      {
    rc = die("users");
    goto out;
  }
    for (size_t i = 0; i < n_users; i++) {
      char spec[512];
      snprintf(spec, sizeof spec, "%s", user_specs[i]);
      char *name = spec, *pw = strchr(name, ':');
      char *role = pw ? strchr(pw + 1, ':') : NULL;
      char *veh = role ? strchr(role + 1, ':') : NULL;
      if (!veh) {
        fprintf(stderr, "ws_testserver: --user wants NAME:PASSWORD:ROLE:VEHICLES\n");
        goto out;
      }
      *pw++ = '\0';
      *role++ = '\0';
      *veh++ = '\0';
      fleet_auth_role_t r;
      if (fleet_auth_role_parse(&r, role) != 0 ||
          fleet_auth_users_add(a->users, name, pw, r, veh) != 0)
        {
    rc = die("--user");
    goto out;
  }
    }
  }
  o.verifier = a->verifier;
  o.allowed_origins = origins;
  o.n_allowed_origins = n_origins;
  if (fleet_ws_new(&a->gw, &o) != 0)
    {
    rc = die("fleet_ws_new");
    goto out;
  }

  struct {
    const char *method, *prefix;
    int role;
    fleet_ws_route_cb cb;
  } routes[] = {
    {"GET", "/api/me", FLEET_AUTH_ROLE_VIEWER, on_me},
    {"GET", "/api/echo", FLEET_AUTH_ROLE_VIEWER, on_echo},
    {"POST", "/api/admin/echo", FLEET_AUTH_ROLE_ADMIN, on_admin_echo},
    {"GET", "/api/stats", FLEET_AUTH_ROLE_VIEWER, on_stats},
    {"GET", "/api/slow", FLEET_AUTH_ROLE_VIEWER, on_slow},
    {"GET", "/api/fail", FLEET_AUTH_ROLE_VIEWER, on_fail},
    {"GET", "/api/block", FLEET_AUTH_ROLE_VIEWER, on_block},
    {"POST", "/api/publish/telemetry", FLEET_AUTH_ROLE_ADMIN, on_publish_telemetry},
    {"POST", "/api/publish/state", FLEET_AUTH_ROLE_ADMIN, on_publish_state},
    {"POST", "/api/publish/alert", FLEET_AUTH_ROLE_ADMIN, on_publish_alert},
    {"POST", "/api/publish/burst", FLEET_AUTH_ROLE_ADMIN, on_publish_burst},
    {"POST", "/api/auth/login", FLEET_WS_ROLE_PUBLIC, on_login},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    if (fleet_ws_route_add(a->gw, routes[i].method, routes[i].prefix, routes[i].role,
                           routes[i].cb, a) != 0)
      {
    rc = die("fleet_ws_route_add");
    goto out;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (fleet_ws_start(a->gw) != 0)
    {
    rc = die("fleet_ws_start");
    goto out;
  }
  printf("PORT %d\n", fleet_ws_port(a->gw));
  fflush(stdout);

  pthread_t slow_thread, feed_thread;
  pthread_create(&slow_thread, NULL, slow_main, a);
  if (a->vehicles > 0)
    pthread_create(&feed_thread, NULL, feed_main, a);
  while (!a->stop)
    pause();
  pthread_mutex_lock(&a->slow_lock);
  pthread_cond_signal(&a->slow_cond);
  pthread_mutex_unlock(&a->slow_lock);
  if (a->vehicles > 0)
    pthread_join(feed_thread, NULL);
  fleet_ws_stop(a->gw);
  pthread_join(slow_thread, NULL);

  fleet_ws_stats_t st = FLEET_WS_STATS_INIT;
  fleet_ws_stats(&st, a->gw);
  printf("STATS {\"connections\":%llu,\"disconnects\":%llu,\"clients\":%llu,"
         "\"slow_disconnects\":%llu,\"queued_bytes\":%llu}\n",
         (unsigned long long)st.connections, (unsigned long long)st.disconnects,
         (unsigned long long)st.clients, (unsigned long long)st.slow_disconnects,
         (unsigned long long)st.queued_bytes);
  fflush(stdout);
  rc = 0;
out:
  fleet_ws_free(a->gw);
  fleet_auth_users_free(a->users);
  fleet_auth_signer_free(a->signer);
  fleet_auth_verifier_free(a->verifier);
  fleet_buf_dispose(&secret);
  return rc;
}
