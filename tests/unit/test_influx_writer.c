/*
 * Unit tests of the influx module without a server: connection configuration
 * (defaults, validation, environment), endpoint URLs and Authorization
 * headers per API, error texts and status mapping, writer options and the
 * writer's behaviour when nothing listens (spooling, EFULL, close deadline).
 * Tests with the fault server and a real influxd are in tests/integration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common_int.h"
#include "fleet/influx.h"
#include "influx_int.h"

/* Helpers ---------------------------------------------------------------- */

static fleet_influx_config_t base_cfg(void)
{
  fleet_influx_config_t c;
  assert_int_equal(fleet_influx_config_init(&c, FLEET_INFLUX_CONFIG_VERSION), 0);
  snprintf(c.database, sizeof c.database, "fleet");
  return c;
}

static void assert_valid_fails(const fleet_influx_config_t *c, int code, const char *needle)
{
  assert_int_equal(fleet_influx_config_validate(c), code);
  if (!strstr(fleet_error_last(), needle))
    fail_msg("error '%s' does not mention '%s'", fleet_error_last(), needle);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

typedef struct tmp {
  char dir[256];
  char path[300];
} tmp_t;

static int tmp_setup(void **state)
{
  tmp_t *t = calloc(1, sizeof *t);
  const char *base = getenv("TMPDIR");
  snprintf(t->dir, sizeof t->dir, "%s/fleet-influx-unit-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(t->dir))
    return -1;
  *state = t;
  return 0;
}

static int tmp_teardown(void **state)
{
  tmp_t *t = *state;
  nftw(t->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
  free(t);
  return 0;
}

/* A loopback port where nothing listens: connections are refused at once. */
static int dead_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* Configuration ---------------------------------------------------------- */

static void test_config_defaults(void **state)
{
  (void)state;
  fleet_influx_config_t c;
  memset(&c, 0x55, sizeof c);
  assert_int_equal(fleet_influx_config_init(&c, FLEET_INFLUX_CONFIG_VERSION), 0);
  assert_int_equal(c.version, FLEET_INFLUX_CONFIG_VERSION);
  assert_string_equal(c.url, "http://127.0.0.1:8086");
  assert_int_equal(c.api, FLEET_INFLUX_API_V1);
  assert_int_equal(c.auth, FLEET_INFLUX_AUTH_AUTO);
  assert_string_equal(c.database, "");
  assert_string_equal(c.token, "");
  assert_int_equal(c.insecure, 0);
  assert_int_equal(c.timeout_ms, 10000);
  assert_int_equal(c.connect_timeout_ms, 3000);
  fleet_influx_config_t s = FLEET_INFLUX_CONFIG_INIT;
  assert_memory_equal(&s, &c, sizeof c);

  assert_int_equal(fleet_influx_config_init(NULL, FLEET_INFLUX_CONFIG_VERSION), FLEET_EINVAL);
  assert_int_equal(fleet_influx_config_init(&c, 99), FLEET_EVERSION);
  assert_string_equal(fleet_influx_api_name(FLEET_INFLUX_API_V1), "v1");
  assert_string_equal(fleet_influx_api_name(FLEET_INFLUX_API_V2), "v2");
  assert_string_equal(fleet_influx_api_name(FLEET_INFLUX_API_V3), "v3");
  assert_null(fleet_influx_api_name((fleet_influx_api_t)7));
}

static void test_config_validate(void **state)
{
  (void)state;
  fleet_influx_config_t c = base_cfg();
  assert_int_equal(fleet_influx_config_validate(&c), 0);
  snprintf(c.url, sizeof c.url, "https://influx.example:8086/prefix/");
  assert_int_equal(fleet_influx_config_validate(&c), 0);

  assert_int_equal(fleet_influx_config_validate(NULL), FLEET_EINVAL);
  c = base_cfg();
  c.version = 2;
  assert_valid_fails(&c, FLEET_EVERSION, "version");
  c = base_cfg();
  c.url[0] = '\0';
  assert_valid_fails(&c, FLEET_EMISSING, "url");
  c = base_cfg();
  snprintf(c.url, sizeof c.url, "ftp://h");
  assert_valid_fails(&c, FLEET_EINVAL, "http:// or https://");
  c = base_cfg();
  snprintf(c.url, sizeof c.url, "http://");
  assert_valid_fails(&c, FLEET_EINVAL, "no host");
  c = base_cfg();
  snprintf(c.url, sizeof c.url, "http://h:1/?db=x");
  assert_valid_fails(&c, FLEET_EINVAL, "query");
  c = base_cfg();
  c.api = (fleet_influx_api_t)4;
  assert_valid_fails(&c, FLEET_EINVAL, "api");
  c = base_cfg();
  c.database[0] = '\0';
  assert_valid_fails(&c, FLEET_EMISSING, "database");
  c = base_cfg();
  c.api = FLEET_INFLUX_API_V2;
  assert_valid_fails(&c, FLEET_EMISSING, "org");
  c = base_cfg();
  c.auth = FLEET_INFLUX_AUTH_TOKEN;
  assert_valid_fails(&c, FLEET_EMISSING, "token");
  c.auth = FLEET_INFLUX_AUTH_BEARER;
  assert_valid_fails(&c, FLEET_EMISSING, "bearer");
  c.auth = FLEET_INFLUX_AUTH_BASIC;
  assert_valid_fails(&c, FLEET_EMISSING, "username");
  snprintf(c.username, sizeof c.username, "a:b");
  assert_valid_fails(&c, FLEET_EINVAL, "':'");
  c = base_cfg();
  c.auth = (fleet_influx_auth_t)9;
  assert_valid_fails(&c, FLEET_EINVAL, "auth");
  c = base_cfg();
  c.timeout_ms = 0;
  assert_valid_fails(&c, FLEET_EINVAL, "timeout_ms");
  c = base_cfg();
  c.connect_timeout_ms = 0;
  assert_valid_fails(&c, FLEET_EINVAL, "connect_timeout_ms");
  c = base_cfg();
  memset(c.org, 'o', sizeof c.org);
  assert_valid_fails(&c, FLEET_EINVAL, "org: not NUL-terminated");
  c = base_cfg();
  snprintf(c.token, sizeof c.token, "abc\ndef");
  assert_valid_fails(&c, FLEET_EINVAL, "token: contains a control character");
}

static const char *const env_names[] = {
  "TFX_URL", "TFX_API", "TFX_DB", "TFX_BUCKET", "TFX_RP", "TFX_ORG", "TFX_TOKEN",
  "TFX_TOKEN_FILE", "TFX_USERNAME", "TFX_PASSWORD", "TFX_PASSWORD_FILE", "TFX_AUTH",
  "TFX_CA_FILE", "TFX_INSECURE", "TFX_TIMEOUT_MS", "TFX_CONNECT_TIMEOUT_MS",
};

static void env_clear(void)
{
  for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++)
    unsetenv(env_names[i]);
}

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_config_from_env(void **state)
{
  tmp_t *t = *state;
  env_clear();
  fleet_influx_config_t c = base_cfg();
  /* Nothing set: nothing changes. */
  fleet_influx_config_t before = c;
  assert_int_equal(fleet_influx_config_from_env(&c, "TFX_"), 0);
  assert_memory_equal(&before, &c, sizeof c);

  snprintf(t->path, sizeof t->path, "%s/token", t->dir);
  write_file(t->path, "s3cret-token\n\n");
  setenv("TFX_URL", "https://db.example:8181", 1);
  setenv("TFX_API", "v3", 1);
  setenv("TFX_DB", "telemetry_raw", 1);
  setenv("TFX_RP", "week", 1);
  setenv("TFX_ORG", "acme", 1);
  setenv("TFX_TOKEN_FILE", t->path, 1);
  setenv("TFX_USERNAME", "bob", 1);
  setenv("TFX_PASSWORD", "pw", 1);
  setenv("TFX_AUTH", "Bearer", 1);
  setenv("TFX_CA_FILE", "/etc/ca.pem", 1);
  setenv("TFX_INSECURE", "yes", 1);
  setenv("TFX_TIMEOUT_MS", "2500", 1);
  setenv("TFX_CONNECT_TIMEOUT_MS", "700", 1);
  assert_int_equal(fleet_influx_config_from_env(&c, "TFX_"), 0);
  assert_string_equal(c.url, "https://db.example:8181");
  assert_int_equal(c.api, FLEET_INFLUX_API_V3);
  assert_string_equal(c.database, "telemetry_raw");
  assert_string_equal(c.retention_policy, "week");
  assert_string_equal(c.org, "acme");
  assert_string_equal(c.token, "s3cret-token");
  assert_string_equal(c.username, "bob");
  assert_string_equal(c.password, "pw");
  assert_int_equal(c.auth, FLEET_INFLUX_AUTH_BEARER);
  assert_string_equal(c.ca_file, "/etc/ca.pem");
  assert_int_equal(c.insecure, 1);
  assert_int_equal(c.timeout_ms, 2500);
  assert_int_equal(c.connect_timeout_ms, 700);
  assert_int_equal(fleet_influx_config_validate(&c), 0);

  /* Default prefix; API "1"; BUCKET alias. */
  setenv("FLEET_INFLUX_API", "1", 1);
  c = base_cfg();
  c.api = FLEET_INFLUX_API_V3;
  assert_int_equal(fleet_influx_config_from_env(&c, NULL), 0);
  assert_int_equal(c.api, FLEET_INFLUX_API_V1);
  unsetenv("FLEET_INFLUX_API");
  env_clear();
  setenv("TFX_BUCKET", "b1", 1);
  setenv("TFX_INSECURE", "0", 1);
  c = base_cfg();
  c.insecure = 1;
  assert_int_equal(fleet_influx_config_from_env(&c, "TFX_"), 0);
  assert_string_equal(c.database, "b1");
  assert_int_equal(c.insecure, 0);

  struct {
    const char *name, *value, *needle;
    int code;
  } bad[] = {
    {"TFX_API", "v4", "TFX_API", FLEET_EINVAL},
    {"TFX_AUTH", "digest", "TFX_AUTH", FLEET_EINVAL},
    {"TFX_INSECURE", "maybe", "TFX_INSECURE", FLEET_EINVAL},
    {"TFX_TIMEOUT_MS", "10s", "TFX_TIMEOUT_MS", FLEET_EINVAL},
    {"TFX_TIMEOUT_MS", "0", "TFX_TIMEOUT_MS", FLEET_EINVAL},
    {"TFX_CONNECT_TIMEOUT_MS", "-5", "TFX_CONNECT_TIMEOUT_MS", FLEET_EINVAL},
    {"TFX_TOKEN_FILE", "/nonexistent/token", "TFX_TOKEN_FILE", FLEET_EIO},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    env_clear();
    setenv(bad[i].name, bad[i].value, 1);
    c = base_cfg();
    assert_int_equal(fleet_influx_config_from_env(&c, "TFX_"), bad[i].code);
    assert_non_null(strstr(fleet_error_last(), bad[i].needle));
  }

  /* Both forms of one setting, an over-long value, an empty secret file. */
  env_clear();
  setenv("TFX_TOKEN", "a", 1);
  setenv("TFX_TOKEN_FILE", t->path, 1);
  c = base_cfg();
  assert_int_equal(fleet_influx_config_from_env(&c, "TFX_"), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "only one"));
  env_clear();
  setenv("TFX_DB", "a", 1);
  setenv("TFX_BUCKET", "b", 1);
  assert_int_equal(fleet_influx_config_from_env(&c, "TFX_"), FLEET_EINVAL);
  env_clear();
  char longv[FLEET_INFLUX_NAME_MAX + 10];
  memset(longv, 'x', sizeof longv - 1);
  longv[sizeof longv - 1] = '\0';
  setenv("TFX_ORG", longv, 1);
  assert_int_equal(fleet_influx_config_from_env(&c, "TFX_"), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "longer than 255"));
  env_clear();
  write_file(t->path, " \n");
  setenv("TFX_PASSWORD_FILE", t->path, 1);
  assert_int_equal(fleet_influx_config_from_env(&c, "TFX_"), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "empty"));
  /* The message names the variable, never the secret. */
  env_clear();
  setenv("TFX_TOKEN", "a", 1);
  setenv("TFX_TOKEN_FILE", t->path, 1);
  assert_int_equal(fleet_influx_config_from_env(&c, "TFX_"), FLEET_EINVAL);
  env_clear();

  assert_int_equal(fleet_influx_config_from_env(NULL, NULL), FLEET_EINVAL);
  c.version = 5;
  assert_int_equal(fleet_influx_config_from_env(&c, NULL), FLEET_EVERSION);
}

/* URLs and headers ------------------------------------------------------- */

static void test_write_and_query_urls(void **state)
{
  (void)state;
  fleet_buf_t b = FLEET_BUF_INIT;
  fleet_influx_config_t c = base_cfg();
  assert_int_equal(fleet_influx__write_url(&b, &c), 0);
  assert_string_equal(b.ptr, "http://127.0.0.1:8086/write?db=fleet&precision=ns");
  snprintf(c.url, sizeof c.url, "http://h:1/proxy//");
  snprintf(c.database, sizeof c.database, "my db&x=1");
  snprintf(c.retention_policy, sizeof c.retention_policy, "r/p");
  assert_int_equal(fleet_influx__write_url(&b, &c), 0);
  assert_string_equal(b.ptr, "http://h:1/proxy/write?db=my%20db%26x%3D1&rp=r%2Fp&precision=ns");
  assert_int_equal(fleet_influx__query_url(&b, &c), 0);
  assert_string_equal(b.ptr, "http://h:1/proxy/query?rp=r%2Fp");

  c = base_cfg();
  c.api = FLEET_INFLUX_API_V2;
  snprintf(c.org, sizeof c.org, "Acme Inc");
  snprintf(c.retention_policy, sizeof c.retention_policy, "ignored");
  assert_int_equal(fleet_influx__write_url(&b, &c), 0);
  assert_string_equal(b.ptr,
                      "http://127.0.0.1:8086/api/v2/write?org=Acme%20Inc&bucket=fleet&precision=ns");
  assert_int_equal(fleet_influx__query_url(&b, &c), 0);
  assert_string_equal(b.ptr, "http://127.0.0.1:8086/query");

  c = base_cfg();
  c.api = FLEET_INFLUX_API_V3;
  assert_int_equal(fleet_influx__write_url(&b, &c), 0);
  assert_string_equal(
    b.ptr,
    "http://127.0.0.1:8086/api/v3/write_lp?db=fleet&precision=nanosecond&accept_partial=true");
  assert_int_equal(fleet_influx__query_url(&b, &c), 0);
  assert_string_equal(b.ptr, "http://127.0.0.1:8086/query");

  c.database[0] = '\0';
  assert_int_equal(fleet_influx__write_url(&b, &c), FLEET_EMISSING);
  assert_int_equal(fleet_influx__query_url(&b, &c), FLEET_EMISSING);

  fleet_buf_clear(&b);
  assert_int_equal(fleet_influx__url_escape(&b, "aZ09-._~ /?é"), 0);
  assert_string_equal(b.ptr, "aZ09-._~%20%2F%3F%C3%A9");
  fleet_buf_dispose(&b);
}

static void assert_auth(const fleet_influx_config_t *c, const char *want)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  assert_int_equal(fleet_influx__auth_header(&b, c), 0);
  assert_string_equal(b.ptr ? b.ptr : "", want);
  fleet_buf_dispose(&b);
}

static void test_auth_headers(void **state)
{
  (void)state;
  fleet_influx_config_t c = base_cfg();
  assert_auth(&c, "");
  snprintf(c.token, sizeof c.token, "T0k");
  assert_auth(&c, "Authorization: Token T0k");
  snprintf(c.username, sizeof c.username, "Aladdin");
  snprintf(c.password, sizeof c.password, "open sesame");
  /* RFC 7617's example. */
  assert_auth(&c, "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  c.auth = FLEET_INFLUX_AUTH_BEARER;
  assert_auth(&c, "Authorization: Bearer T0k");
  c.auth = FLEET_INFLUX_AUTH_NONE;
  assert_auth(&c, "");

  c = base_cfg();
  c.api = FLEET_INFLUX_API_V2;
  snprintf(c.org, sizeof c.org, "o");
  assert_auth(&c, "");
  snprintf(c.token, sizeof c.token, "v2tok");
  assert_auth(&c, "Authorization: Token v2tok");

  c = base_cfg();
  c.api = FLEET_INFLUX_API_V3;
  snprintf(c.token, sizeof c.token, "apiv3_x");
  assert_auth(&c, "Authorization: Bearer apiv3_x");
  c.auth = FLEET_INFLUX_AUTH_TOKEN;
  assert_auth(&c, "Authorization: Token apiv3_x");
  c.auth = FLEET_INFLUX_AUTH_BASIC;
  /* base64(":apiv3_x") */
  assert_auth(&c, "Authorization: Basic OmFwaXYzX3g=");
  snprintf(c.username, sizeof c.username, "ab");
  c.password[0] = '\0';
  /* base64("ab:"), one padding character */
  assert_auth(&c, "Authorization: Basic YWI6");

  c.auth = FLEET_INFLUX_AUTH_BEARER;
  c.token[0] = '\0';
  fleet_buf_t b = FLEET_BUF_INIT;
  assert_int_equal(fleet_influx__auth_header(&b, &c), FLEET_EMISSING);
  fleet_buf_dispose(&b);
}

static void test_error_text_and_codes(void **state)
{
  (void)state;
  char t[32];
  const char *v1 = "{\"error\":\"database not found: \\\"x\\\"\"}\n";
  fleet_influx__error_text(t, sizeof t, v1, strlen(v1));
  assert_string_equal(t, "database not found: \"x\"");
  const char *v2 = "{\"code\":\"unauthorized\",\"message\":\"unauthorized access\"}";
  fleet_influx__error_text(t, sizeof t, v2, strlen(v2));
  assert_string_equal(t, "unauthorized access");
  const char *plain = "Bad\tGateway\r\n";
  fleet_influx__error_text(t, sizeof t, plain, strlen(plain));
  assert_string_equal(t, "Bad Gateway");
  const char *lng = "0123456789012345678901234567890123456789";
  fleet_influx__error_text(t, sizeof t, lng, strlen(lng));
  assert_int_equal(strlen(t), sizeof t - 1);
  fleet_influx__error_text(t, sizeof t, NULL, 0);
  assert_string_equal(t, "");
  const char *multi = "{\"error\":\"a\\nb\"}";
  fleet_influx__error_text(t, sizeof t, multi, strlen(multi));
  assert_string_equal(t, "a b");

  assert_int_equal(fleet_influx__http_status_code(204), 0);
  assert_int_equal(fleet_influx__http_status_code(200), 0);
  assert_int_equal(fleet_influx__http_status_code(400), FLEET_EPARSE);
  assert_int_equal(fleet_influx__http_status_code(401), FLEET_EAUTH);
  assert_int_equal(fleet_influx__http_status_code(403), FLEET_EPERM);
  assert_int_equal(fleet_influx__http_status_code(404), FLEET_ENOTFOUND);
  assert_int_equal(fleet_influx__http_status_code(413), FLEET_ETOOBIG);
  assert_int_equal(fleet_influx__http_status_code(429), FLEET_ESERVER);
  assert_int_equal(fleet_influx__http_status_code(503), FLEET_ESERVER);
  assert_int_equal(fleet_influx__curl_code(CURLE_OPERATION_TIMEDOUT), FLEET_ETIMEOUT);
  assert_int_equal(fleet_influx__curl_code(CURLE_COULDNT_CONNECT), FLEET_ENET);
  assert_int_equal(fleet_influx__curl_code(CURLE_PEER_FAILED_VERIFICATION), FLEET_EAUTH);
  assert_int_equal(fleet_influx__curl_code(CURLE_OUT_OF_MEMORY), FLEET_ENOMEM);
}

static void test_curl_setup(void **state)
{
  (void)state;
  assert_int_equal(fleet_influx__curl_global_init(), 0);
  assert_int_equal(fleet_influx__curl_global_init(), 0);
  CURL *h = curl_easy_init();
  assert_non_null(h);
  fleet_influx_config_t c = base_cfg();
  snprintf(c.ca_file, sizeof c.ca_file, "/etc/ssl/certs/ca-certificates.crt");
  c.insecure = 1;
  assert_int_equal(fleet_influx__curl_setup(h, &c), 0);
  curl_easy_cleanup(h);
}

/* Writer ----------------------------------------------------------------- */

static void test_writer_opts(void **state)
{
  (void)state;
  fleet_influx_writer_opts_t o;
  assert_int_equal(fleet_influx_writer_opts_init(&o, FLEET_INFLUX_WRITER_OPTS_VERSION), 0);
  assert_int_equal(o.batch_max_points, 5000);
  assert_int_equal(o.batch_max_bytes, 1024 * 1024);
  assert_int_equal(o.flush_interval_ms, 1000);
  assert_int_equal(o.gzip_level, 1);
  assert_int_equal(o.log_level, FLEET_INFLUX_LOG_INFO);
  assert_null(o.spool_dir);
  assert_int_equal(fleet_influx_writer_opts_init(NULL, 1), FLEET_EINVAL);
  assert_int_equal(fleet_influx_writer_opts_init(&o, 0), FLEET_EVERSION);

  fleet_influx_config_t c = base_cfg();
  fleet_influx_writer_t *w = (fleet_influx_writer_t *)&c;
#define BAD(expr, code, needle)                                                  \
  do {                                                                           \
    fleet_influx_writer_opts_t b_ = FLEET_INFLUX_WRITER_OPTS_INIT;               \
    expr;                                                                        \
    w = (fleet_influx_writer_t *)&c;                                             \
    assert_int_equal(fleet_influx_writer_new(&w, &c, &b_), code);                \
    assert_null(w);                                                              \
    assert_non_null(strstr(fleet_error_last(), needle));                         \
  } while (0)
  BAD(b_.version = 9, FLEET_EVERSION, "version");
  BAD(b_.batch_max_points = 0, FLEET_EINVAL, "batch_max_points");
  BAD(b_.batch_max_bytes = 10, FLEET_EINVAL, "batch_max_bytes");
  BAD(b_.flush_interval_ms = 0, FLEET_EINVAL, "flush_interval_ms");
  BAD(b_.queue_max_bytes = 100, FLEET_EINVAL, "queue_max_bytes");
  BAD(b_.gzip_level = 10, FLEET_EINVAL, "gzip_level");
  BAD(b_.retry_initial_ms = 0, FLEET_EINVAL, "retry_initial_ms");
  BAD(b_.retry_max_ms = 1, FLEET_EINVAL, "retry_initial_ms");
  BAD(b_.config_retry_ms = 0, FLEET_EINVAL, "config_retry_ms");
  BAD(b_.durable = 1, FLEET_EINVAL, "durable");
  BAD(b_.log_level = 0, FLEET_EINVAL, "log_level");
  BAD(b_.dead_letter_path = "/nonexistent-dir/dl.jsonl", FLEET_EIO, "dead_letter_path");
#undef BAD
  c.database[0] = '\0';
  assert_int_equal(fleet_influx_writer_new(&w, &c, NULL), FLEET_EMISSING);
  assert_null(w);
  assert_int_equal(fleet_influx_writer_new(NULL, &c, NULL), FLEET_EINVAL);
  fleet_influx_writer_free(NULL);
  fleet_influx_writer_stats_t st = FLEET_INFLUX_WRITER_STATS_INIT;
  assert_int_equal(fleet_influx_writer_get_stats(&st, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_influx_writer_write_lines(NULL, "x", 1), FLEET_EINVAL);
  assert_int_equal(fleet_influx_writer_flush(NULL, 1), FLEET_EINVAL);
  assert_int_equal(fleet_influx_writer_close(NULL, 1), FLEET_EINVAL);
}

typedef struct logcount {
  int warnings, errors;
} logcount_t;

static void count_log(int level, const char *message, void *userdata)
{
  logcount_t *lc = userdata;
  assert_non_null(message);
  if (level == FLEET_INFLUX_LOG_WARNING)
    lc->warnings++;
  if (level == FLEET_INFLUX_LOG_ERROR)
    lc->errors++;
}

static fleet_influx_writer_stats_t stats(fleet_influx_writer_t *w)
{
  fleet_influx_writer_stats_t st = FLEET_INFLUX_WRITER_STATS_INIT;
  assert_int_equal(fleet_influx_writer_get_stats(&st, w), 0);
  return st;
}

/* No spool and nobody listening: memory fills, then EFULL without taking
 * anything; close() reports the lines it had to drop. */
static void test_writer_no_spool_efull(void **state)
{
  (void)state;
  fleet_influx_config_t c = base_cfg();
  snprintf(c.url, sizeof c.url, "http://127.0.0.1:%d", dead_port());
  fleet_influx_writer_opts_t o = FLEET_INFLUX_WRITER_OPTS_INIT;
  o.batch_max_bytes = 100;
  o.queue_max_bytes = 400;
  o.flush_interval_ms = 10;
  o.retry_initial_ms = 20;
  o.retry_max_ms = 40;
  logcount_t lc = {0, 0};
  o.log_cb = count_log;
  o.log_userdata = &lc;
  fleet_influx_writer_t *w = NULL;
  assert_int_equal(fleet_influx_writer_new(&w, &c, &o), 0);

  const char *line = "m,k=v value=1.5 1700000000000000000\n"; /* 37 bytes */
  int accepted = 0, rc = 0;
  for (int i = 0; i < 100 && rc == 0; i++) {
    rc = fleet_influx_writer_write_lines(w, line, strlen(line));
    if (rc == 0)
      accepted++;
  }
  assert_int_equal(rc, FLEET_EFULL);
  assert_non_null(strstr(fleet_error_last(), "no spool"));
  fleet_influx_writer_stats_t st = stats(w);
  assert_int_equal(st.points_enqueued, (uint64_t)accepted);
  assert_true(accepted >= 10 && accepted <= 13); /* 400 bytes / 37, plus one in flight */
  assert_int_equal(fleet_influx_writer_write_lines(w, "", 0), 0);

  /* Wait for a failed attempt, then close without waiting. */
  for (int i = 0; i < 300 && stats(w).net_errors == 0; i++)
    usleep(10000);
  st = stats(w);
  assert_true(st.net_errors >= 1);
  assert_int_equal(st.last_error_code, FLEET_ENET);
  assert_int_equal(st.healthy, 0);
  assert_true(lc.warnings >= 1);
  assert_int_equal(fleet_influx_writer_close(w, 0), FLEET_ETIMEOUT);
  st = stats(w);
  assert_int_equal(st.points_lost, (uint64_t)accepted);
  assert_true(lc.errors >= 1);
  assert_int_equal(fleet_influx_writer_write_lines(w, line, strlen(line)), FLEET_ECLOSED);
  fleet_influx_writer_free(w);
}

/* With a spool nothing is refused: memory overflow and failed batches go to
 * disk, and close() leaves them there for the next writer. */
static void test_writer_spools_when_down(void **state)
{
  tmp_t *t = *state;
  fleet_influx_config_t c = base_cfg();
  snprintf(c.url, sizeof c.url, "http://127.0.0.1:%d", dead_port());
  snprintf(t->path, sizeof t->path, "%s/spool", t->dir);
  fleet_influx_writer_opts_t o = FLEET_INFLUX_WRITER_OPTS_INIT;
  o.batch_max_bytes = 100;
  o.queue_max_bytes = 400;
  o.flush_interval_ms = 10;
  o.retry_initial_ms = 5000;
  o.retry_max_ms = 5000;
  o.spool_dir = t->path;
  fleet_influx_writer_t *w = NULL;
  assert_int_equal(fleet_influx_writer_new(&w, &c, &o), 0);

  /* A second writer cannot share the spool. */
  fleet_influx_writer_t *w2 = NULL;
  assert_int_equal(fleet_influx_writer_new(&w2, &c, &o), FLEET_ESTATE);
  assert_null(w2);

  const char *line = "m,k=v value=1.5 1700000000000000000\n";
  for (int i = 0; i < 100; i++)
    assert_int_equal(fleet_influx_writer_write_lines(w, line, strlen(line)), 0);
  /* One write bigger than the whole memory queue goes straight to the spool. */
  char big[1000];
  size_t n = 0;
  while (n + strlen(line) < sizeof big) {
    memcpy(big + n, line, strlen(line));
    n += strlen(line);
  }
  assert_int_equal(fleet_influx_writer_write_lines(w, big, n), 0);
  fleet_influx_writer_stats_t st = stats(w);
  assert_int_equal(st.points_enqueued, 100 + n / strlen(line));
  assert_true(st.batches_spooled >= 1);
  assert_true(st.queue_bytes <= 400 + 100);
  assert_int_equal(fleet_influx_writer_flush(w, 50), FLEET_ETIMEOUT);
  assert_int_equal(fleet_influx_writer_close(w, 0), 0);
  st = stats(w);
  assert_int_equal(st.points_lost, 0);
  assert_int_equal(st.queue_points, 0);
  assert_true(st.spool_records >= 1);
  assert_true(st.spool_bytes > 0);
  assert_int_equal(fleet_influx_writer_close(w, 0), 0);
  fleet_influx_writer_free(w);

  /* The spool is free again and still holds everything. */
  o.durable = 1;
  assert_int_equal(fleet_influx_writer_new(&w, &c, &o), 0);
  st = stats(w);
  assert_true(st.spool_records >= 1);
  fleet_influx_writer_free(w);
}

static void test_writer_input_checks(void **state)
{
  (void)state;
  fleet_influx_config_t c = base_cfg();
  snprintf(c.url, sizeof c.url, "http://127.0.0.1:%d", dead_port());
  fleet_influx_writer_opts_t o = FLEET_INFLUX_WRITER_OPTS_INIT;
  o.flush_interval_ms = 60000;
  fleet_influx_writer_t *w = NULL;
  assert_int_equal(fleet_influx_writer_new(&w, &c, &o), 0);
  assert_int_equal(fleet_influx_writer_write_lines(w, "a v=1 1\0x", 9), FLEET_EINVAL);
  assert_int_equal(fleet_influx_writer_write_lines(w, NULL, 3), FLEET_EINVAL);
  assert_int_equal(fleet_influx_writer_write_lines(w, "\n\n# only a comment\n  \n", 22), 0);
  fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
  rec.lat = 1;
  assert_int_equal(fleet_influx_writer_write_telemetry(w, &rec, NULL, NULL, 0), FLEET_EINVAL);
  assert_int_equal(fleet_influx_writer_write_telemetry(w, NULL, NULL, NULL, 0), FLEET_EINVAL);
  snprintf(rec.vehicle_id, sizeof rec.vehicle_id, "v1");
  assert_int_equal(fleet_influx_writer_write_telemetry(w, &rec, NULL, NULL, 0), 0);
  fleet_influx_writer_stats_t st = stats(w);
  assert_int_equal(st.points_enqueued, 1);
  assert_int_equal(st.queue_points, 1);
  st.version = 77;
  assert_int_equal(fleet_influx_writer_get_stats(&st, w), FLEET_EVERSION);
  fleet_influx_writer_free(w);
}

typedef struct flush_arg {
  fleet_influx_writer_t *w;
  int rc;
} flush_arg_t;

static void *flush_thread(void *arg)
{
  flush_arg_t *a = arg;
  a->rc = fleet_influx_writer_flush(a->w, 20000);
  return NULL;
}

/* A flush waiting for an unreachable server returns FLEET_ECLOSED as soon as
 * another thread closes the writer. */
static void test_writer_close_wakes_flush(void **state)
{
  (void)state;
  fleet_influx_config_t c = base_cfg();
  snprintf(c.url, sizeof c.url, "http://127.0.0.1:%d", dead_port());
  fleet_influx_writer_t *w = NULL;
  assert_int_equal(fleet_influx_writer_new(&w, &c, NULL), 0);
  assert_int_equal(fleet_influx_writer_write_lines(w, "m v=1 1\n", 8), 0);
  flush_arg_t a = {w, 1};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, flush_thread, &a), 0);
  usleep(100000);
  assert_int_equal(a.rc, 1); /* still waiting */
  assert_int_equal(fleet_influx_writer_close(w, 0), FLEET_ETIMEOUT); /* no spool: lost */
  pthread_join(th, NULL);
  assert_int_equal(a.rc, FLEET_ECLOSED);
  assert_int_equal(stats(w).points_lost, 1);
  fleet_influx_writer_free(w);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_config_defaults),
    cmocka_unit_test(test_config_validate),
    cmocka_unit_test_setup_teardown(test_config_from_env, tmp_setup, tmp_teardown),
    cmocka_unit_test(test_write_and_query_urls),
    cmocka_unit_test(test_auth_headers),
    cmocka_unit_test(test_error_text_and_codes),
    cmocka_unit_test(test_curl_setup),
    cmocka_unit_test(test_writer_opts),
    cmocka_unit_test(test_writer_no_spool_efull),
    cmocka_unit_test_setup_teardown(test_writer_spools_when_down, tmp_setup, tmp_teardown),
    cmocka_unit_test(test_writer_input_checks),
    cmocka_unit_test(test_writer_close_wakes_flush),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
