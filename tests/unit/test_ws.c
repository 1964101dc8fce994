/*
 * Unit tests for the ws gateway: options and their errors, the listen
 * address, route registration, the pure helpers (cookies, bearer tokens,
 * origins, MIME types, cache headers, static paths, SPA fallback, log
 * redaction), the JSON built for updates and alerts, publishing while stopped
 * (state, staleness, limits), start/stop/restart, and the request/response
 * API through an in-process gateway and a plain socket. The protocol itself
 * is tested end to end by tests/integration/test_ws.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common_int.h"
#include "fleet/ws.h"
#include "ws_int.h"

/*
 * libwebsockets 4.1.6 leaks its first SMD registration (72 bytes, allocated
 * inside lws_smd_register()) when lws_create_context() fails, which the
 * unusable-TLS-key case provokes. The library is built without frame
 * pointers, so LeakSanitizer only sees an lws frame: suppress leaks allocated
 * there for this program. The integration tests run the gateway under
 * LeakSanitizer without any suppression.
 */
const char *__lsan_default_suppressions(void);
__attribute__((visibility("default"))) const char *__lsan_default_suppressions(void)
{
  return "leak:libwebsockets.so\n";
}

static const char SECRET[] = "0123456789abcdef0123456789abcdef-unit-test";

typedef struct fixture {
  fleet_auth_verifier_t *verifier;
  fleet_auth_signer_t *signer;
  char dir[64];
} fixture_t;

static int setup(void **state)
{
  fixture_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(fleet_auth_verifier_new(&f->verifier, NULL), 0);
  assert_int_equal(fleet_auth_verifier_add_key(f->verifier, FLEET_AUTH_ALG_HS256, NULL, SECRET,
                                               strlen(SECRET)),
                   0);
  fleet_auth_signer_options_t so = FLEET_AUTH_SIGNER_OPTIONS_INIT;
  so.key = SECRET;
  so.key_len = strlen(SECRET);
  assert_int_equal(fleet_auth_signer_new(&f->signer, &so), 0);
  snprintf(f->dir, sizeof f->dir, "/tmp/test_ws.XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  fixture_t *f = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  assert_int_equal(system(cmd), 0);
  fleet_auth_signer_free(f->signer);
  fleet_auth_verifier_free(f->verifier);
  free(f);
  return 0;
}

static fleet_ws_options_t opts_for(const fixture_t *f)
{
  fleet_ws_options_t o = FLEET_WS_OPTIONS_INIT;
  o.verifier = f->verifier;
  o.listen = "127.0.0.1:0";
  return o;
}

/* fleet_ws_new() with `o` must fail with `code` and a message containing `msg`. */
static void expect_new_fails(const fleet_ws_options_t *o, int code, const char *msg)
{
  fleet_ws_t *gw = (fleet_ws_t *)1;
  assert_int_equal(fleet_ws_new(&gw, o), code);
  assert_null(gw);
  if (!strstr(fleet_error_last(), msg))
    fail_msg("message '%s' lacks '%s'", fleet_error_last(), msg);
}

/* ---- options ---- */

static void test_options_init(void **state)
{
  (void)state;
  fleet_ws_options_t o, d = FLEET_WS_OPTIONS_INIT;
  memset(&o, 0x5a, sizeof o);
  assert_int_equal(fleet_ws_options_init(&o, FLEET_WS_OPTIONS_VERSION), 0);
  assert_int_equal(o.version, FLEET_WS_OPTIONS_VERSION);
  assert_null(o.listen);
  assert_null(o.verifier);
  assert_int_equal(o.max_message_bytes, 65536);
  assert_int_equal(o.send_buffer_bytes, 1048576);
  assert_int_equal(o.tcp_send_buffer_bytes, 0);
  assert_int_equal(o.alert_queue_max, 1000);
  assert_int_equal(o.interval_min_ms, 100);
  assert_int_equal(o.interval_max_ms, 60000);
  assert_int_equal(o.interval_default_ms, 1000);
  assert_int_equal(o.max_body_bytes, 1048576);
  assert_int_equal(o.max_header_bytes, 16384);
  assert_int_equal(o.log_level, FLEET_WS_LOG_INFO);
  assert_int_equal(o.max_vehicles, d.max_vehicles);
  assert_int_equal(o.flush_ms, 50);
  assert_int_equal(fleet_ws_options_init(NULL, FLEET_WS_OPTIONS_VERSION), FLEET_EINVAL);
  assert_int_equal(fleet_ws_options_init(&o, 99), FLEET_EVERSION);
  assert_int_equal(fleet_ws_options_init(&o, 0), FLEET_EVERSION);
  /* A version 1 caller's struct ends before flush_ms: nothing is written there. */
  memset(&o, 0x5a, sizeof o);
  assert_int_equal(fleet_ws_options_init(&o, 1), 0);
  assert_int_equal(o.version, 1);
  assert_int_equal(o.interval_default_ms, 1000);
  assert_int_equal(o.flush_ms, 0x5a5a5a5au);
}

/* A version 1 struct is read without its missing flush_ms (which gets the default). */
static void test_new_accepts_version_1(void **state)
{
  fixture_t *f = *state;
  fleet_ws_options_t o = opts_for(f);
  o.version = 1;
  o.flush_ms = 1; /* out of range, but not part of a version 1 struct */
  fleet_ws_t *gw = NULL;
  assert_int_equal(fleet_ws_new(&gw, &o), 0);
  assert_non_null(gw);
  fleet_ws_free(gw);
}

static void test_new_rejects_bad_options(void **state)
{
  fixture_t *f = *state;
  fleet_ws_t *gw;
  assert_int_equal(fleet_ws_new(NULL, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_ws_new(&gw, NULL), FLEET_EINVAL);
  fleet_ws_options_t o = opts_for(f);
  o.version = 7;
  expect_new_fails(&o, FLEET_EVERSION, "version 7");

#define BAD(field, value, code, msg)     \
  do {                                   \
    fleet_ws_options_t b = opts_for(f);  \
    b.field = value;                     \
    expect_new_fails(&b, code, msg);     \
  } while (0)
  BAD(verifier, NULL, FLEET_EINVAL, "verifier: required");
  BAD(listen, "", FLEET_EINVAL, "listen: empty");
  BAD(listen, "127.0.0.1", FLEET_EINVAL, "has no ':port'");
  BAD(listen, "127.0.0.1:", FLEET_EINVAL, "no port after");
  BAD(listen, "127.0.0.1:65536", FLEET_EINVAL, "not 0-65535");
  BAD(listen, "127.0.0.1:80x", FLEET_EINVAL, "not 0-65535");
  BAD(listen, "localhost:8080", FLEET_EINVAL, "not a numeric IPv4");
  BAD(listen, "::1:8080", FLEET_EINVAL, "in brackets");
  BAD(listen, "[::1]8080", FLEET_EINVAL, "missing ']:'");
  BAD(listen, "[127.0.0.1]:80", FLEET_EINVAL, "not a numeric IPv6");
  BAD(listen, ":8080", FLEET_EINVAL, "no address before");
  BAD(cookie_name, "", FLEET_EINVAL, "cookie_name: must be 1-64");
  BAD(cookie_name, "a;b", FLEET_EINVAL, "[A-Za-z0-9_-]");
  BAD(tls_cert_file, "/nonexistent/cert.pem", FLEET_EINVAL, "give both");
  BAD(max_message_bytes, 127, FLEET_EINVAL, "max_message_bytes: 127");
  BAD(send_buffer_bytes, 4095, FLEET_EINVAL, "send_buffer_bytes: 4095");
  BAD(tcp_send_buffer_bytes, 100, FLEET_EINVAL, "tcp_send_buffer_bytes: 100");
  BAD(alert_queue_max, 0, FLEET_EINVAL, "alert_queue_max: 0");
  BAD(stuck_timeout_ms, 99, FLEET_EINVAL, "stuck_timeout_ms: 99");
  BAD(interval_min_ms, 9, FLEET_EINVAL, "interval_min_ms: 9");
  BAD(interval_max_ms, 99, FLEET_EINVAL, "interval_max_ms: 99");
  BAD(interval_default_ms, 99, FLEET_EINVAL, "interval_default_ms: 99");
  BAD(interval_default_ms, 60001, FLEET_EINVAL, "interval_default_ms: 60001");
  BAD(flush_ms, 4, FLEET_EINVAL, "flush_ms: 4");
  BAD(flush_ms, 1001, FLEET_EINVAL, "flush_ms: 1001");
  BAD(ping_interval_s, 0, FLEET_EINVAL, "ping_interval_s: 0");
  BAD(idle_timeout_s, 30, FLEET_EINVAL, "idle_timeout_s: 30");
  BAD(max_clients, 0, FLEET_EINVAL, "max_clients: 0");
  BAD(max_vehicles, 0, FLEET_EINVAL, "max_vehicles: 0");
  BAD(max_body_bytes, ((size_t)1 << 30) + 1, FLEET_EINVAL, "max_body_bytes");
  BAD(max_header_bytes, 4095, FLEET_EINVAL, "max_header_bytes: 4095");
  BAD(max_header_bytes, 65536, FLEET_EINVAL, "max_header_bytes: 65536");
  BAD(log_level, 0, FLEET_EINVAL, "log_level: 0");
  BAD(log_level, 5, FLEET_EINVAL, "log_level: 5");
#undef BAD

  const char *origins[] = {"https://ok.example", "ftp://x"};
  o = opts_for(f);
  o.allowed_origins = origins;
  o.n_allowed_origins = 2;
  expect_new_fails(&o, FLEET_EINVAL, "allowed_origins[1]");
  const char *with_path[] = {"https://ok.example/app"};
  o.allowed_origins = with_path;
  o.n_allowed_origins = 1;
  expect_new_fails(&o, FLEET_EINVAL, "without a path");
  const char *null_entry[] = {NULL};
  o.allowed_origins = null_entry;
  expect_new_fails(&o, FLEET_EINVAL, "allowed_origins[0]: NULL");
  o.allowed_origins = NULL;
  expect_new_fails(&o, FLEET_EINVAL, "allowed_origins: NULL");

  o = opts_for(f);
  o.tls_cert_file = "/nonexistent/cert.pem";
  o.tls_key_file = "/nonexistent/key.pem";
  expect_new_fails(&o, FLEET_EIO, "tls_cert_file: cannot read");
  o = opts_for(f);
  o.static_root = "/nonexistent/www";
  expect_new_fails(&o, FLEET_EIO, "static_root");
  char file[128];
  snprintf(file, sizeof file, "%s/plain", f->dir);
  FILE *fp = fopen(file, "w");
  assert_non_null(fp);
  fclose(fp);
  o.static_root = file;
  expect_new_fails(&o, FLEET_EIO, "not a directory");
}

static void test_new_accepts_good_options(void **state)
{
  fixture_t *f = *state;
  const char *origins[] = {"https://fleet.example.com", "http://localhost:5173"};
  fleet_ws_options_t o = opts_for(f);
  o.listen = "[::1]:0";
  o.allowed_origins = origins;
  o.n_allowed_origins = 2;
  o.static_root = f->dir;
  o.cookie_name = "my_cookie-1";
  o.tcp_send_buffer_bytes = 65536;
  fleet_ws_t *gw = NULL;
  assert_int_equal(fleet_ws_new(&gw, &o), 0);
  assert_non_null(gw);
  assert_int_equal(fleet_ws_port(gw), 0);
  fleet_ws_free(gw);
  fleet_ws_free(NULL);
}

static void test_parse_listen(void **state)
{
  (void)state;
  char host[FLEET_WS__HOST_MAX];
  int port, v6;
  assert_int_equal(fleet_ws__parse_listen(host, &port, &v6, "127.0.0.1:8080"), 0);
  assert_string_equal(host, "127.0.0.1");
  assert_int_equal(port, 8080);
  assert_int_equal(v6, 0);
  assert_int_equal(fleet_ws__parse_listen(host, &port, &v6, "[::]:0"), 0);
  assert_string_equal(host, "::");
  assert_int_equal(port, 0);
  assert_int_equal(v6, 1);
  assert_int_equal(fleet_ws__parse_listen(host, &port, &v6, "[fe80::1:2]:65535"), 0);
  assert_string_equal(host, "fe80::1:2");
  assert_int_equal(port, 65535);
  assert_int_equal(fleet_ws__parse_listen(host, &port, &v6, "0.0.0.0:1"), 0);
  assert_string_equal(host, "0.0.0.0");
  assert_int_equal(fleet_ws__parse_listen(host, &port, &v6, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_ws__parse_listen(host, &port, &v6, "1.2.3.4:99999999999"), FLEET_EINVAL);
  assert_int_equal(fleet_ws__parse_listen(host, &port, &v6, "[]:80"), FLEET_EINVAL);
  assert_int_equal(fleet_ws__parse_listen(host, &port, &v6, "1.2.3:80"), FLEET_EINVAL);
}

/* ---- routes ---- */

static int nop_route(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  (void)resp;
  (void)req;
  (void)ud;
  return 0;
}

static void test_route_add(void **state)
{
  fixture_t *f = *state;
  fleet_ws_options_t o = opts_for(f);
  fleet_ws_t *gw;
  assert_int_equal(fleet_ws_new(&gw, &o), 0);
  assert_int_equal(fleet_ws_route_add(gw, "GET", "/api/vehicles", FLEET_AUTH_ROLE_VIEWER,
                                      nop_route, NULL),
                   0);
  assert_int_equal(fleet_ws_route_add(gw, "POST", "/api/vehicles", FLEET_AUTH_ROLE_ADMIN,
                                      nop_route, NULL),
                   0);
  assert_int_equal(fleet_ws_route_add(gw, "*", "/metrics", FLEET_WS_ROLE_PUBLIC, nop_route,
                                      NULL),
                   0);
  assert_int_equal(fleet_ws_route_add(gw, "GET", "/", FLEET_WS_ROLE_PUBLIC, nop_route, NULL), 0);
  assert_int_equal(fleet_ws_route_add(gw, "GET", "/api/vehicles", FLEET_AUTH_ROLE_ADMIN,
                                      nop_route, NULL),
                   FLEET_EEXISTS);
  assert_int_equal(fleet_ws_route_add(gw, "GET", "/ws", 0, nop_route, NULL), FLEET_EEXISTS);
  assert_int_equal(fleet_ws_route_add(gw, "GET", "/healthz", 0, nop_route, NULL), FLEET_EEXISTS);
  const char *bad_prefix[] = {"api", "/api/", "/api//x", "/api/./x", "/api/..", "/a?b",
                              "/a#b", "/a b", "/a%2f", "/a\\b", ""};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(bad_prefix); i++)
    if (fleet_ws_route_add(gw, "GET", bad_prefix[i], 0, nop_route, NULL) != FLEET_EINVAL)
      fail_msg("prefix '%s' accepted", bad_prefix[i]);
  assert_int_equal(fleet_ws_route_add(gw, "GET", "/api/.well", 0, nop_route, NULL), 0);
  assert_int_equal(fleet_ws_route_add(gw, "get", "/x", 0, nop_route, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_ws_route_add(gw, "CONNECT", "/x", 0, nop_route, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_ws_route_add(gw, "GET", "/x", 3, nop_route, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_ws_route_add(gw, "GET", "/x", 0, NULL, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_ws_route_add(gw, NULL, "/x", 0, nop_route, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_ws_route_add(gw, "GET", NULL, 0, nop_route, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_ws_start(gw), 0);
  assert_int_equal(fleet_ws_route_add(gw, "GET", "/late", 0, nop_route, NULL), FLEET_ESTATE);
  fleet_ws_free(gw);
}

static void test_prefix_match(void **state)
{
  (void)state;
  assert_true(fleet_ws__prefix_match("/", 1, "/anything/at/all"));
  assert_true(fleet_ws__prefix_match("/api/vehicles", 13, "/api/vehicles"));
  assert_true(fleet_ws__prefix_match("/api/vehicles", 13, "/api/vehicles/v-1/history"));
  assert_false(fleet_ws__prefix_match("/api/vehicles", 13, "/api/vehiclesX"));
  assert_false(fleet_ws__prefix_match("/api/vehicles", 13, "/api/vehicle"));
  assert_false(fleet_ws__prefix_match("/api/vehicles", 13, "/api"));
}

/* ---- helpers ---- */

static void expect_cookie(const char *header, const char *name, const char *want)
{
  const char *v = NULL;
  size_t n = 0;
  int found = fleet_ws__cookie_value(&v, &n, header, name);
  if (!want) {
    assert_false(found);
    return;
  }
  assert_true(found);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(v, want, n);
}

static void test_cookie_value(void **state)
{
  (void)state;
  expect_cookie("fleet_token=abc", "fleet_token", "abc");
  expect_cookie("a=1; fleet_token=abc.def-_; b=2", "fleet_token", "abc.def-_");
  expect_cookie("xfleet_token=1; fleet_token=2", "fleet_token", "2");
  expect_cookie("fleet_tokenx=1;fleet_token=3", "fleet_token", "3");
  expect_cookie("fleet_token=\"quoted\"", "fleet_token", "quoted");
  expect_cookie("fleet_token=", "fleet_token", "");
  expect_cookie("fleet_token=abc ; x=1", "fleet_token", "abc");
  expect_cookie("a=1; b=2", "fleet_token", NULL);
  expect_cookie("fleet_token", "fleet_token", NULL);
  expect_cookie("", "fleet_token", NULL);
  expect_cookie(NULL, "fleet_token", NULL);
}

static void expect_bearer(const char *header, const char *want)
{
  const char *t = NULL;
  size_t n = 0;
  int found = fleet_ws__bearer(&t, &n, header);
  if (!want) {
    assert_false(found);
    return;
  }
  assert_true(found);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(t, want, n);
}

static void test_bearer(void **state)
{
  (void)state;
  expect_bearer("Bearer abc.def.ghi", "abc.def.ghi");
  expect_bearer("bearer   abc  ", "abc");
  expect_bearer("  BEARER\tx", "x");
  expect_bearer("Basic YWxpY2U6cHc=", NULL);
  expect_bearer("Bearer", NULL);
  expect_bearer("Bearer   ", NULL);
  expect_bearer("Bearerabc", NULL);
  expect_bearer(NULL, NULL);
}

static void test_origin_allowed(void **state)
{
  fixture_t *f = *state;
  const char *origins[] = {"https://fleet.example.com", "http://localhost:5173"};
  fleet_ws_options_t o = opts_for(f);
  o.allowed_origins = origins;
  o.n_allowed_origins = 2;
  fleet_ws_t *gw;
  assert_int_equal(fleet_ws_new(&gw, &o), 0);
  assert_true(fleet_ws__origin_allowed(gw, "https://fleet.example.com", "other:1", 0));
  assert_true(fleet_ws__origin_allowed(gw, "HTTPS://FLEET.EXAMPLE.COM", NULL, 0));
  assert_true(fleet_ws__origin_allowed(gw, "http://localhost:5173", NULL, 0));
  assert_false(fleet_ws__origin_allowed(gw, "http://localhost:5174", NULL, 0));
  assert_false(fleet_ws__origin_allowed(gw, "https://fleet.example.com.evil", NULL, 0));
  /* the gateway's own origin: scheme by TLS, host from the Host header */
  assert_true(fleet_ws__origin_allowed(gw, "http://127.0.0.1:8080", "127.0.0.1:8080", 0));
  assert_false(fleet_ws__origin_allowed(gw, "https://127.0.0.1:8080", "127.0.0.1:8080", 0));
  assert_true(fleet_ws__origin_allowed(gw, "https://Fleet.Local", "fleet.local", 1));
  assert_false(fleet_ws__origin_allowed(gw, "http://fleet.local", "fleet.local", 1));
  assert_false(fleet_ws__origin_allowed(gw, "http://evil", "127.0.0.1:8080", 0));
  assert_false(fleet_ws__origin_allowed(gw, "null", "127.0.0.1:8080", 0));
  assert_false(fleet_ws__origin_allowed(gw, "", "", 0));
  assert_false(fleet_ws__origin_allowed(gw, NULL, "x", 0));
  fleet_ws_free(gw);
}

static void test_mime_and_cache(void **state)
{
  (void)state;
  const char *cases[][2] = {
    {"/index.html", "text/html; charset=utf-8"},
    {"/assets/a-1f.js", "text/javascript; charset=utf-8"},
    {"/assets/w.mjs", "text/javascript; charset=utf-8"},
    {"/s.CSS", "text/css; charset=utf-8"},
    {"/c.json", "application/json"},
    {"/m.svg", "image/svg+xml"},
    {"/i.png", "image/png"},
    {"/x.wasm", "application/wasm"},
    {"/f.woff2", "font/woff2"},
    {"/world.geojson", "application/geo+json"},
    {"/0/0/0.pbf", "application/x-protobuf"},
    {"/README", "application/octet-stream"},
    {"/dir.v2/README", "application/octet-stream"},
    {"/trailing.", "application/octet-stream"},
    {"/a.tar.gz", "application/octet-stream"},
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(cases); i++)
    assert_string_equal(fleet_ws__mime_type(cases[i][0]), cases[i][1]);
  assert_string_equal(fleet_ws__cache_control("/assets/index-abc.js"),
                      "public, max-age=31536000, immutable");
  assert_string_equal(fleet_ws__cache_control("/index.html"), "no-cache");
  assert_string_equal(fleet_ws__cache_control("/assets"), "no-cache");
  assert_string_equal(fleet_ws__cache_control("/x/assets/y.js"), "no-cache");
}

static void test_static_path_and_fallback(void **state)
{
  (void)state;
  assert_true(fleet_ws__static_path_ok("/"));
  assert_true(fleet_ws__static_path_ok("/assets/a.b.c.js"));
  assert_true(fleet_ws__static_path_ok("/a..b"));
  assert_false(fleet_ws__static_path_ok("/.env"));
  assert_false(fleet_ws__static_path_ok("/a/.git/config"));
  assert_false(fleet_ws__static_path_ok("/a/../b"));
  assert_false(fleet_ws__static_path_ok("/a\\b"));
  assert_false(fleet_ws__static_path_ok("/a\x01"));
  assert_false(fleet_ws__static_path_ok("/a\x7f"));
  assert_false(fleet_ws__static_path_ok("relative"));
  assert_false(fleet_ws__static_path_ok(NULL));

  const char *html = "text/html,application/xhtml+xml,*/*;q=0.8";
  assert_true(fleet_ws__spa_fallback("/vehicles/v-001", html));
  assert_true(fleet_ws__spa_fallback("/", html));
  assert_true(fleet_ws__spa_fallback("/v1.2/trips", html)); /* only the last segment counts */
  assert_false(fleet_ws__spa_fallback("/vehicles/v-001", "*/*"));
  assert_false(fleet_ws__spa_fallback("/vehicles/v-001", NULL));
  assert_false(fleet_ws__spa_fallback("/assets/x.js", html));
  assert_false(fleet_ws__spa_fallback("/api", html));
  assert_false(fleet_ws__spa_fallback("/api/vehicles", html));
  assert_true(fleet_ws__spa_fallback("/apis", html));
}

static void expect_redact(const char *in, const char *want)
{
  char buf[256];
  snprintf(buf, sizeof buf, "%s", in);
  assert_string_equal(fleet_ws__redact(buf), want);
}

static void test_redact(void **state)
{
  (void)state;
  expect_redact("GET /ws?access_token=eyJabc.def.ghi&x=1 HTTP/1.1",
                "GET /ws?access_token=***&x=1 HTTP/1.1");
  expect_redact("access_token=ab", "access_token=**");
  expect_redact("access_token=", "access_token=");
  expect_redact("a access_token=12345 b access_token=abcdef",
                "a access_token=*** b access_token=***");
  expect_redact("nothing to hide", "nothing to hide");
}

/* ---- JSON built for the feed ---- */

static fleet_telemetry_t sample_record(void)
{
  fleet_telemetry_t r = FLEET_TELEMETRY_INIT;
  snprintf(r.vehicle_id, sizeof r.vehicle_id, "v-001");
  assert_int_equal(fleet_time_parse(&r.ts_ns, "2026-05-21T10:30:00Z", 20), 0);
  r.lat = 23.8103;
  r.lng = 90.4125;
  r.present = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_HEADING;
  r.speed_kmh = 45.2;
  r.heading_deg = 180;
  return r;
}

static void expect_data(const fleet_telemetry_t *r, const char *extra, const char *want)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  fleet_buf__puts(&b, "prefix:");
  assert_int_equal(fleet_ws__render_data(&b, r, extra, extra ? strlen(extra) : 0), 0);
  assert_string_equal(b.ptr + 7, want);
  fleet_buf_dispose(&b);
}

static void expect_data_fails(const fleet_telemetry_t *r, const char *extra, int code,
                              const char *msg)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  fleet_buf__puts(&b, "keep");
  assert_int_equal(fleet_ws__render_data(&b, r, extra, strlen(extra)), code);
  assert_string_equal(b.ptr, "keep");
  if (!strstr(fleet_error_last(), msg))
    fail_msg("message '%s' lacks '%s'", fleet_error_last(), msg);
  fleet_buf_dispose(&b);
}

static void test_render_data(void **state)
{
  (void)state;
  fleet_telemetry_t r = sample_record();
  const char *base =
      "{\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":23.8103,\"lng\":90.4125,\"speed\":45.2,"
      "\"heading\":180";
  char want[512];
  snprintf(want, sizeof want, "%s}", base);
  expect_data(&r, NULL, want);
  snprintf(want, sizeof want, "%s,\"status\":\"moving\",\"zones\":[\"depot\"]}", base);
  expect_data(&r, "{\"status\":\"moving\",\"zones\":[\"depot\"]}", want);
  snprintf(want, sizeof want, "%s}", base);
  expect_data(&r, " { } ", want);
  snprintf(want, sizeof want, "%s,\"a\" : 1 }", base);
  expect_data(&r, "\n { \"a\" : 1 }\n", want);
  r.present = 0;
  r.n_extras = 1;
  snprintf(r.extras[0].name, sizeof r.extras[0].name, "rpm");
  r.extras[0].type = FLEET_EXTRA_NUMBER;
  r.extras[0].value = 2100;
  expect_data(&r, NULL,
              "{\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":23.8103,\"lng\":90.4125,\"rpm\":2100}");
  expect_data_fails(&r, "{\"rpm\":1}", FLEET_EINVAL, "'rpm' clashes with the record's extra");
  expect_data_fails(&r, "{\"lat\":1}", FLEET_EINVAL, "'lat' clashes with a telemetry field");
  expect_data_fails(&r, "{\"speed\":1}", FLEET_EINVAL, "'speed' clashes");
  expect_data_fails(&r, "{\"v\":2}", FLEET_EINVAL, "'v' clashes");
  expect_data_fails(&r, "[1]", FLEET_EINVAL, "must be a JSON object");
  expect_data_fails(&r, "{nope", FLEET_EPARSE, "extra_json: not JSON");
  expect_data_fails(&r, "{\"a\":1,\"a\":2}", FLEET_EPARSE, "not JSON");
  char big[FLEET_WS_EXTRA_MAX + 16];
  memset(big, ' ', sizeof big - 1);
  big[0] = '{';
  big[sizeof big - 3] = '}';
  big[sizeof big - 2] = 'x';
  big[sizeof big - 1] = '\0';
  expect_data_fails(&r, big, FLEET_ETOOBIG, "over the limit");
  r.lat = 91;
  expect_data_fails(&r, "{}", FLEET_EINVAL, "lat");
}

static void expect_alert(const char *json, const char *want)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  assert_int_equal(fleet_ws__render_alert(&b, "v-001", json, strlen(json)), 0);
  assert_string_equal(b.ptr, want);
  fleet_buf_dispose(&b);
}

static void expect_alert_fails(const char *json, int code, const char *msg)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  assert_int_equal(fleet_ws__render_alert(&b, "v-001", json, strlen(json)), code);
  assert_null(b.ptr);
  if (!strstr(fleet_error_last(), msg))
    fail_msg("message '%s' lacks '%s'", fleet_error_last(), msg);
}

static void test_render_alert(void **state)
{
  (void)state;
  expect_alert("{\"rule\":\"overspeed\",\"value\":120}",
               "{\"type\":\"alert\",\"vehicle_id\":\"v-001\",\"rule\":\"overspeed\","
               "\"value\":120}");
  expect_alert("{\"vehicle_id\":\"v-001\",\"rule\":\"x\"}",
               "{\"type\":\"alert\",\"vehicle_id\":\"v-001\",\"rule\":\"x\"}");
  expect_alert("{}", "{\"type\":\"alert\",\"vehicle_id\":\"v-001\"}");
  expect_alert("  {\"a\":{\"b\":[1,2]}}\n",
               "{\"type\":\"alert\",\"vehicle_id\":\"v-001\",\"a\":{\"b\":[1,2]}}");
  expect_alert_fails("{\"type\":\"overspeed\"}", FLEET_EINVAL, "'type' is the gateway's");
  expect_alert_fails("{\"vehicle_id\":\"v-002\"}", FLEET_EINVAL, "differs from 'v-001'");
  expect_alert_fails("{\"vehicle_id\":1}", FLEET_EINVAL, "differs");
  expect_alert_fails("\"x\"", FLEET_EPARSE, "not JSON");
  expect_alert_fails("[]", FLEET_EINVAL, "must be a JSON object");
  expect_alert_fails("{\"a\":1,\"a\":1}", FLEET_EPARSE, "not JSON");
  expect_alert_fails("", FLEET_EPARSE, "not JSON");
}

/* ---- publishing while stopped ---- */

static fleet_ws_stats_t stats_of(const fleet_ws_t *gw)
{
  fleet_ws_stats_t st = FLEET_WS_STATS_INIT;
  assert_int_equal(fleet_ws_stats(&st, gw), 0);
  return st;
}

static void test_publish_while_stopped(void **state)
{
  fixture_t *f = *state;
  fleet_ws_options_t o = opts_for(f);
  o.max_vehicles = 2;
  fleet_ws_t *gw;
  assert_int_equal(fleet_ws_new(&gw, &o), 0);
  fleet_telemetry_t r = sample_record();
  assert_int_equal(fleet_ws_publish_telemetry(gw, &r, NULL, 0), 0);
  assert_int_equal(fleet_ws_publish_telemetry(gw, &r, "{\"status\":\"idle\"}", 17), 0);
  r.ts_ns -= 1000000000; /* a second older: ignored */
  assert_int_equal(fleet_ws_publish_telemetry(gw, &r, NULL, 0), 0);
  fleet_ws_stats_t st = stats_of(gw);
  assert_int_equal(st.telemetry_published, 2);
  assert_int_equal(st.telemetry_stale, 1);
  /* pending state is applied by the service thread: none yet */
  assert_int_equal(st.vehicles, 0);

  assert_int_equal(fleet_ws_publish_state(gw, "v-002", "{\"lat\":1,\"lng\":2}", 17), 0);
  assert_int_equal(fleet_ws_publish_state(gw, "v-003", "{}", 2), FLEET_EFULL);
  assert_int_equal(stats_of(gw).publish_refused, 1);
  assert_int_equal(fleet_ws_publish_alert(gw, "v-001", "{\"rule\":\"x\"}", 12), 0);
  assert_int_equal(stats_of(gw).alerts_published, 1);

  assert_int_equal(fleet_ws_publish_telemetry(NULL, &r, NULL, 0), FLEET_EINVAL);
  assert_int_equal(fleet_ws_publish_telemetry(gw, NULL, NULL, 0), FLEET_EINVAL);
  assert_int_equal(fleet_ws_publish_telemetry(gw, &r, NULL, 3), FLEET_EINVAL);
  fleet_telemetry_t anon = sample_record();
  anon.vehicle_id[0] = '\0';
  assert_int_equal(fleet_ws_publish_telemetry(gw, &anon, NULL, 0), FLEET_EINVAL);
  assert_int_equal(fleet_ws_publish_telemetry(gw, &r, "{\"lat\":0}", 9), FLEET_EINVAL);
  assert_int_equal(fleet_ws_publish_state(gw, "bad id", "{}", 2), FLEET_EINVAL);
  assert_int_equal(fleet_ws_publish_state(gw, "v-001", "[]", 2), FLEET_EINVAL);
  assert_int_equal(fleet_ws_publish_state(gw, "v-001", "{", 1), FLEET_EPARSE);
  /* A snapshot would carry two "vehicle_id" keys (found by fuzz_ws_message). */
  assert_int_equal(fleet_ws_publish_state(gw, "v-001", "{\"vehicle_id\":\"v-009\"}", 22),
                   FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "vehicle_id"));
  assert_int_equal(fleet_ws_publish_state(gw, "v-001", NULL, 0), FLEET_EINVAL);
  char *big = malloc(FLEET_WS_JSON_MAX + 8);
  assert_non_null(big);
  memset(big, ' ', FLEET_WS_JSON_MAX + 8);
  big[0] = '{';
  big[FLEET_WS_JSON_MAX + 6] = 'x';
  big[FLEET_WS_JSON_MAX + 7] = '}';
  assert_int_equal(fleet_ws_publish_state(gw, "v-001", big, FLEET_WS_JSON_MAX + 8), FLEET_ETOOBIG);
  assert_int_equal(fleet_ws_publish_alert(gw, "v-001", big, FLEET_WS_JSON_MAX + 8), FLEET_ETOOBIG);
  free(big);
  assert_int_equal(fleet_ws_publish_alert(gw, "v 1", "{}", 2), FLEET_EINVAL);
  assert_int_equal(fleet_ws_publish_alert(gw, "v-001", "{\"type\":1}", 10), FLEET_EINVAL);
  assert_int_equal(fleet_ws_publish_alert(gw, "v-001", NULL, 0), FLEET_EINVAL);

  fleet_ws_stats_t bad = FLEET_WS_STATS_INIT;
  bad.version = 99;
  assert_int_equal(fleet_ws_stats(&bad, gw), FLEET_EVERSION);
  assert_int_equal(fleet_ws_stats(NULL, gw), FLEET_EINVAL);
  assert_int_equal(fleet_ws_stats(&bad, NULL), FLEET_EINVAL);
  bad.version = 0;
  assert_int_equal(fleet_ws_stats(&bad, gw), FLEET_EVERSION);
  /* A version 1 caller's struct ends before batches_built: nothing is written there. */
  fleet_ws_stats_t v1 = FLEET_WS_STATS_INIT;
  v1.version = 1;
  v1.batches_built = v1.batches_shared = 0xdeadbeef;
  v1.telemetry_published = 77;
  assert_int_equal(fleet_ws_stats(&v1, gw), 0);
  assert_int_equal(v1.telemetry_published, 3); /* two records and a state */
  assert_int_equal(v1.batches_built, 0xdeadbeef);
  assert_int_equal(v1.batches_shared, 0xdeadbeef);

  /* Starting serves what was published before (applied on the first drain). */
  assert_int_equal(fleet_ws_start(gw), 0);
  for (int i = 0; i < 200 && stats_of(gw).vehicles < 2; i++)
    usleep(5000);
  assert_int_equal(stats_of(gw).vehicles, 2);
  fleet_ws_free(gw);
}

/* ---- lifecycle ---- */

static void test_start_stop_restart(void **state)
{
  fixture_t *f = *state;
  fleet_ws_options_t o = opts_for(f);
  fleet_ws_t *gw;
  assert_int_equal(fleet_ws_new(&gw, &o), 0);
  assert_int_equal(fleet_ws_stop(gw), 0); /* not running: no-op */
  assert_int_equal(fleet_ws_start(gw), 0);
  int port = fleet_ws_port(gw);
  assert_true(port > 0);
  assert_int_equal(fleet_ws_start(gw), FLEET_ESTATE);

  /* A second gateway on the same port cannot bind, and says why. */
  char listen[64];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  fleet_ws_options_t o2 = opts_for(f);
  o2.listen = listen;
  fleet_ws_t *gw2;
  assert_int_equal(fleet_ws_new(&gw2, &o2), 0);
  assert_int_equal(fleet_ws_start(gw2), FLEET_ENET);
  assert_non_null(strstr(fleet_error_last(), "in use"));
  assert_int_equal(fleet_ws_port(gw2), 0);
  fleet_ws_free(gw2);

  assert_int_equal(fleet_ws_stop(gw), 0);
  assert_int_equal(fleet_ws_port(gw), 0);
  assert_int_equal(fleet_ws_stop(gw), 0);
  assert_int_equal(fleet_ws_start(gw), 0);
  assert_true(fleet_ws_port(gw) > 0);
  fleet_ws_free(gw);

  /* An address this machine does not have (TEST-NET-3). */
  o.listen = "203.0.113.7:0";
  assert_int_equal(fleet_ws_new(&gw, &o), 0);
  assert_int_equal(fleet_ws_start(gw), FLEET_ENET);
  assert_non_null(strstr(fleet_error_last(), "cannot bind 203.0.113.7:0"));
  fleet_ws_free(gw);

  /* A TLS key that is not a key. */
  char cert[128];
  snprintf(cert, sizeof cert, "%s/junk.pem", f->dir);
  FILE *fp = fopen(cert, "w");
  assert_non_null(fp);
  fputs("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", fp);
  fclose(fp);
  o = opts_for(f);
  o.tls_cert_file = cert;
  o.tls_key_file = cert;
  assert_int_equal(fleet_ws_new(&gw, &o), 0);
  assert_int_equal(fleet_ws_start(gw), FLEET_EIO);
  fleet_ws_free(gw);
}

/* ---- requests and responses through a real gateway ---- */

typedef struct probe {
  int checks_failed;
  char failures[512];
  fleet_ws_t *gw;
} probe_t;

#define PROBE(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      p->checks_failed++;                                                              \
      size_t l_ = strlen(p->failures);                                                 \
      snprintf(p->failures + l_, sizeof p->failures - l_, "%s; ", #cond);              \
    }                                                                                  \
  } while (0)

static int probe_route(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  probe_t *p = ud;
  const char *n, *v;
  PROBE(strcmp(fleet_ws_request_method(req), "GET") == 0);
  PROBE(strcmp(fleet_ws_request_path(req), "/api/probe/x/y") == 0);
  PROBE(strcmp(fleet_ws_request_subpath(req), "/x/y") == 0);
  PROBE(fleet_ws_request_query_count(req) == 3);
  PROBE(strcmp(fleet_ws_request_query(req, "a"), "1") == 0);
  PROBE(strcmp(fleet_ws_request_query(req, "flag"), "") == 0);
  PROBE(strcmp(fleet_ws_request_query(req, "sp"), "x y") == 0);
  PROBE(fleet_ws_request_query(req, "access_token") == NULL);
  PROBE(fleet_ws_request_query(req, "zz") == NULL);
  PROBE(fleet_ws_request_query(req, NULL) == NULL);
  PROBE(fleet_ws_request_query_at(&n, &v, req, 2) == 0 && strcmp(n, "sp") == 0);
  PROBE(fleet_ws_request_query_at(&n, &v, req, 3) == FLEET_EINVAL);
  PROBE(strcmp(fleet_ws_request_header(req, "x-probe"), "yes") == 0);
  PROBE(strcmp(fleet_ws_request_header(req, "Host"), "unit") == 0);
  PROBE(fleet_ws_request_header(req, "Authorization") == NULL);
  PROBE(fleet_ws_request_header(req, "cookie") == NULL);
  PROBE(fleet_ws_request_header(req, "X-Absent") == NULL);
  size_t bl = 99;
  PROBE(strcmp(fleet_ws_request_body(req, &bl), "") == 0 && bl == 0);
  PROBE(strcmp(fleet_ws_request_peer(req), "127.0.0.1") == 0);
  const fleet_auth_claims_t *c = fleet_ws_request_claims(req);
  PROBE(c && strcmp(fleet_auth_claims_subject(c), "unit") == 0);

  PROBE(fleet_ws_response_set_status(resp, 99) == FLEET_EINVAL);
  PROBE(fleet_ws_response_set_status(resp, 600) == FLEET_EINVAL);
  PROBE(fleet_ws_response_set_content_type(resp, "text/x\r\nEvil: 1") == FLEET_EINVAL);
  PROBE(fleet_ws_response_set_content_type(resp, "") == FLEET_EINVAL);
  PROBE(fleet_ws_response_add_header(resp, "Bad Name", "x") == FLEET_EINVAL);
  PROBE(fleet_ws_response_add_header(resp, "", "x") == FLEET_EINVAL);
  PROBE(fleet_ws_response_add_header(resp, "Content-Length", "1") == FLEET_EINVAL);
  PROBE(fleet_ws_response_add_header(resp, "Connection", "close") == FLEET_EINVAL);
  PROBE(fleet_ws_response_add_header(resp, "X-A", "a\r\nInjected: 1") == FLEET_EINVAL);
  PROBE(fleet_ws_response_add_header(resp, "X-A", NULL) == FLEET_EINVAL);
  char *longv = malloc(8194);
  memset(longv, 'v', 8193);
  longv[8193] = '\0';
  PROBE(fleet_ws_response_add_header(resp, "X-Long", longv) == FLEET_EINVAL);
  free(longv);
  PROBE(fleet_ws_response_finish(resp) == FLEET_EINVAL); /* not deferred */
  PROBE(fleet_ws_response_abandoned(resp) == 0);
  PROBE(fleet_ws_response_error(resp, 42, "x", NULL) == FLEET_EINVAL);

  PROBE(fleet_ws_response_set_status(resp, 201) == 0);
  PROBE(fleet_ws_response_set_content_type(resp, "text/csv; charset=utf-8") == 0);
  PROBE(fleet_ws_response_add_header(resp, "X-Multi", "one") == 0);
  PROBE(fleet_ws_response_add_header(resp, "X-Multi", "two") == 0);
  PROBE(fleet_ws_response_add_header(resp, "Cache-Control", "max-age=5") == 0);
  fleet_buf_t *b = fleet_ws_response_body(resp);
  return fleet_buf_append(b, "a,b\n1,2\n", 8);
}

/* A worker that finishes the response before its handler returns FLEET_WS_DEFER
 * (joined here, so the early finish always happens). */
static void *early_finisher(void *arg)
{
  fleet_ws_response_t *resp = arg;
  fleet_ws_response_set_status(resp, 202);
  fleet_buf_append(fleet_ws_response_body(resp), "early", 5);
  return (void *)(intptr_t)fleet_ws_response_finish(resp);
}

static int early_route(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  (void)req;
  int *finish_rc = ud;
  pthread_t t;
  void *rc = NULL;
  if (pthread_create(&t, NULL, early_finisher, resp) != 0)
    return FLEET_EINTERNAL;
  pthread_join(t, &rc);
  *finish_rc = (int)(intptr_t)rc;
  return FLEET_WS_DEFER;
}

static int error_route(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  (void)req;
  (void)ud;
  fleet_buf_append(fleet_ws_response_body(resp), "replaced", 8);
  return fleet_ws_response_error(resp, 409, "conflict", "zone \"z1\" exists\n");
}

static int failing_route(fleet_ws_response_t *resp, const fleet_ws_request_t *req, void *ud)
{
  (void)req;
  (void)ud;
  fleet_ws_response_add_header(resp, "X-Leak", "should not be sent");
  return fleet_error__set(FLEET_EIO, "disk on fire");
}

/* One HTTP/1.1 request with Connection: close; returns the whole response. */
static char *http(int port, const char *request)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  struct timeval tv = {5, 0};
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  size_t n = strlen(request);
  assert_int_equal(write(fd, request, n), (ssize_t)n);
  fleet_buf_t b = FLEET_BUF_INIT;
  char chunk[4096];
  ssize_t got;
  while ((got = read(fd, chunk, sizeof chunk)) > 0)
    fleet_buf_append(&b, chunk, (size_t)got);
  /* The gateway closes after the response: a timeout here means it did not. */
  assert_int_equal(got, 0);
  close(fd);
  char *out = NULL;
  size_t len;
  assert_int_equal(fleet_buf__detach(&out, &len, &b), 0);
  return out;
}

static void test_request_response_api(void **state)
{
  fixture_t *f = *state;
  fleet_ws_options_t o = opts_for(f);
  fleet_ws_t *gw;
  assert_int_equal(fleet_ws_new(&gw, &o), 0);
  probe_t p = {0, "", gw};
  assert_int_equal(fleet_ws_route_add(gw, "GET", "/api/probe", FLEET_AUTH_ROLE_VIEWER,
                                      probe_route, &p),
                   0);
  assert_int_equal(fleet_ws_route_add(gw, "PUT", "/api/conflict", FLEET_WS_ROLE_PUBLIC,
                                      error_route, NULL),
                   0);
  assert_int_equal(fleet_ws_route_add(gw, "GET", "/api/fails", FLEET_WS_ROLE_PUBLIC,
                                      failing_route, NULL),
                   0);
  int early_rc = 99;
  assert_int_equal(fleet_ws_route_add(gw, "GET", "/api/early", FLEET_WS_ROLE_PUBLIC,
                                      early_route, &early_rc),
                   0);
  assert_int_equal(fleet_ws_start(gw), 0);
  int port = fleet_ws_port(gw);

  fleet_auth_claims_t *who;
  assert_int_equal(fleet_auth_claims_new(&who, "unit", FLEET_AUTH_ROLE_VIEWER), 0);
  char *tok;
  assert_int_equal(fleet_auth_signer_issue(&tok, NULL, f->signer, who, FLEET_AUTH_TOKEN_ACCESS,
                                           60),
                   0);
  fleet_auth_claims_free(who);
  char req[2048];
  snprintf(req, sizeof req,
           "GET /api/probe/x/y?a=1&flag&access_token=zzz&sp=x+y HTTP/1.1\r\nHost: unit\r\n"
           "Authorization: Bearer %s\r\nX-Probe: yes\r\nConnection: close\r\n\r\n",
           tok);
  fleet_free(tok);
  char *resp = http(port, req);
  if (p.checks_failed)
    fail_msg("%d checks failed in the handler: %s", p.checks_failed, p.failures);
  assert_non_null(strstr(resp, "HTTP/1.1 201 "));
  assert_non_null(strstr(resp, "\r\ncontent-type: text/csv; charset=utf-8\r\n"));
  assert_non_null(strstr(resp, "\r\nx-multi: one\r\nx-multi: two\r\n"));
  assert_non_null(strstr(resp, "\r\ncache-control: max-age=5\r\n"));
  assert_null(strstr(resp, "no-store"));
  assert_non_null(strstr(resp, "\r\ncontent-length: 8\r\n"));
  const char *date = strstr(resp, "\r\ndate: ");
  assert_non_null(date);
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *end = strptime(date + 8, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  assert_non_null(end);
  assert_memory_equal(end, "\r\n", 2);
  time_t sent = timegm(&tm);
  assert_true(sent >= time(NULL) - 5 && sent <= time(NULL));
  assert_non_null(strstr(resp, "\r\n\r\na,b\n1,2\n"));
  free(resp);

  /* No Content-Length on a PUT: answered, then closed (lws would wait for a body). */
  resp = http(port, "PUT /api/conflict HTTP/1.1\r\nHost: unit\r\n\r\n");
  assert_non_null(strstr(resp, "HTTP/1.1 409 "));
  assert_non_null(strstr(resp, "\r\nconnection: close\r\n"));
  assert_non_null(strstr(resp, "\r\n\r\n{\"error\":\"conflict\",\"detail\":\"zone \\\"z1\\\" "
                               "exists\\u000a\"}"));
  free(resp);

  resp = http(port, "GET /api/fails HTTP/1.1\r\nHost: unit\r\nConnection: close\r\n\r\n");
  assert_non_null(strstr(resp, "HTTP/1.1 500 "));
  assert_null(strstr(resp, "X-Leak"));
  assert_null(strstr(resp, "x-leak"));
  assert_non_null(strstr(resp, "\r\n\r\n{\"error\":\"internal error\"}"));
  free(resp);

  /* Finished by a worker before the handler returned: still sent. */
  resp = http(port, "GET /api/early HTTP/1.1\r\nHost: unit\r\nConnection: close\r\n\r\n");
  assert_int_equal(early_rc, 0);
  assert_non_null(strstr(resp, "HTTP/1.1 202 "));
  assert_non_null(strstr(resp, "\r\n\r\nearly"));
  free(resp);

  fleet_ws_stats_t st = stats_of(gw);
  assert_int_equal(st.http_requests, 4);
  assert_int_equal(st.http_4xx, 1);
  assert_int_equal(st.http_5xx, 1);
  assert_int_equal(st.handler_errors, 1);
  assert_int_equal(fleet_ws_response_abandoned(NULL), 0);
  assert_int_equal(fleet_ws_response_finish(NULL), FLEET_EINVAL);
  fleet_ws_free(gw);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_options_init),
    cmocka_unit_test(test_new_rejects_bad_options),
    cmocka_unit_test(test_new_accepts_version_1),
    cmocka_unit_test(test_new_accepts_good_options),
    cmocka_unit_test(test_parse_listen),
    cmocka_unit_test(test_route_add),
    cmocka_unit_test(test_prefix_match),
    cmocka_unit_test(test_cookie_value),
    cmocka_unit_test(test_bearer),
    cmocka_unit_test(test_origin_allowed),
    cmocka_unit_test(test_mime_and_cache),
    cmocka_unit_test(test_static_path_and_fallback),
    cmocka_unit_test(test_redact),
    cmocka_unit_test(test_render_data),
    cmocka_unit_test(test_render_alert),
    cmocka_unit_test(test_publish_while_stopped),
    cmocka_unit_test(test_start_stop_restart),
    cmocka_unit_test(test_request_response_api),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
