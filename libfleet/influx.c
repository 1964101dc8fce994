/* influx: connection configuration, shared HTTP helpers, the batched writer. */
#include "common_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "influx_int.h"

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

int fleet_influx_config_init(fleet_influx_config_t *cfg, unsigned int version)
{
  if (!cfg)
    return fleet_error__set(FLEET_EINVAL, "cfg: NULL");
  if (version != FLEET_INFLUX_CONFIG_VERSION)
    return fleet_error__set(FLEET_EVERSION, "cfg: version %u is not %d", version,
                            FLEET_INFLUX_CONFIG_VERSION);
  const fleet_influx_config_t def = FLEET_INFLUX_CONFIG_INIT;
  *cfg = def;
  return 0;
}

const char *fleet_influx_api_name(fleet_influx_api_t api)
{
  switch (api) {
  case FLEET_INFLUX_API_V1: return "v1";
  case FLEET_INFLUX_API_V2: return "v2";
  case FLEET_INFLUX_API_V3: return "v3";
  }
  return NULL;
}

static size_t field_len(const char *field, size_t cap)
{
  const char *nul = memchr(field, '\0', cap);
  return nul ? (size_t)(nul - field) : cap;
}

#define FIELD_SET(cfg, f) (field_len((cfg)->f, sizeof((cfg)->f)) > 0)

int fleet_influx_config_validate(const fleet_influx_config_t *cfg)
{
  if (!cfg)
    return fleet_error__set(FLEET_EINVAL, "cfg: NULL");
  if (cfg->version != FLEET_INFLUX_CONFIG_VERSION)
    return fleet_error__set(FLEET_EVERSION, "cfg: version %u is not %d", cfg->version,
                            FLEET_INFLUX_CONFIG_VERSION);
  /* Every string must be terminated inside its array: the struct is plain data
   * that callers fill themselves. */
  struct {
    const char *name;
    const char *p;
    size_t cap;
  } strs[] = {
    {"url", cfg->url, sizeof cfg->url},
    {"database", cfg->database, sizeof cfg->database},
    {"retention_policy", cfg->retention_policy, sizeof cfg->retention_policy},
    {"org", cfg->org, sizeof cfg->org},
    {"token", cfg->token, sizeof cfg->token},
    {"username", cfg->username, sizeof cfg->username},
    {"password", cfg->password, sizeof cfg->password},
    {"ca_file", cfg->ca_file, sizeof cfg->ca_file},
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(strs); i++) {
    if (field_len(strs[i].p, strs[i].cap) == strs[i].cap)
      return fleet_error__set(FLEET_EINVAL, "%s: not NUL-terminated", strs[i].name);
    for (const char *c = strs[i].p; *c; c++)
      if ((unsigned char)*c < 0x20 || *c == 0x7f)
        return fleet_error__set(FLEET_EINVAL, "%s: contains a control character",
                                strs[i].name);
  }

  const char *rest;
  if (strncasecmp(cfg->url, "http://", 7) == 0)
    rest = cfg->url + 7;
  else if (strncasecmp(cfg->url, "https://", 8) == 0)
    rest = cfg->url + 8;
  else if (!cfg->url[0])
    return fleet_error__set(FLEET_EMISSING, "url: not set");
  else
    return fleet_error__set(FLEET_EINVAL, "url: '%.200s' must start with http:// or https://",
                            cfg->url);
  if (!*rest || *rest == '/' || *rest == ':')
    return fleet_error__set(FLEET_EINVAL, "url: '%.200s' has no host", cfg->url);
  if (strpbrk(cfg->url, "?# "))
    return fleet_error__set(FLEET_EINVAL,
                            "url: '%.200s' must not contain a query, fragment or space",
                            cfg->url);

  if (!fleet_influx_api_name(cfg->api))
    return fleet_error__set(FLEET_EINVAL, "api: %d is not 1, 2 or 3", (int)cfg->api);
  if (!cfg->database[0])
    return fleet_error__set(FLEET_EMISSING, "%s: not set",
                            cfg->api == FLEET_INFLUX_API_V2 ? "database (bucket)" : "database");
  if (cfg->api == FLEET_INFLUX_API_V2 && !cfg->org[0])
    return fleet_error__set(FLEET_EMISSING, "org: required by the v2 API");

  switch (cfg->auth) {
  case FLEET_INFLUX_AUTH_AUTO:
  case FLEET_INFLUX_AUTH_NONE:
    break;
  case FLEET_INFLUX_AUTH_TOKEN:
  case FLEET_INFLUX_AUTH_BEARER:
    if (!cfg->token[0])
      return fleet_error__set(FLEET_EMISSING, "token: required by auth %s",
                              cfg->auth == FLEET_INFLUX_AUTH_TOKEN ? "token" : "bearer");
    break;
  case FLEET_INFLUX_AUTH_BASIC:
    if (!cfg->username[0] && !cfg->token[0])
      return fleet_error__set(FLEET_EMISSING, "username: basic auth needs a username or a token");
    if (strchr(cfg->username, ':'))
      return fleet_error__set(FLEET_EINVAL, "username: ':' cannot be sent with basic auth");
    break;
  default:
    return fleet_error__set(FLEET_EINVAL, "auth: %d is not a fleet_influx_auth_t value",
                            (int)cfg->auth);
  }
  if (cfg->timeout_ms == 0)
    return fleet_error__set(FLEET_EINVAL, "timeout_ms: must be > 0");
  if (cfg->connect_timeout_ms == 0)
    return fleet_error__set(FLEET_EINVAL, "connect_timeout_ms: must be > 0");
  return 0;
}

/* Environment ------------------------------------------------------------ */

static const char *env_get(char *name, size_t cap, const char *prefix, const char *suffix)
{
  snprintf(name, cap, "%s%s", prefix, suffix);
  const char *v = getenv(name);
  return (v && *v) ? v : NULL;
}

static int env_copy(char *field, size_t cap, const char *name, const char *value)
{
  size_t n = strlen(value);
  if (n >= cap)
    return fleet_error__set(FLEET_EINVAL, "%s: value of %zu bytes is longer than %zu", name,
                            n, cap - 1);
  memcpy(field, value, n + 1);
  return 0;
}

/* Secrets in files (Docker/Kubernetes secrets) end with a newline that is not
 * part of the token. */
static int env_read_file(char *field, size_t cap, const char *name, const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return fleet_error__set(FLEET_EIO, "%s: cannot open '%.300s': %s", name, path,
                            strerror(errno));
  size_t n = fread(field, 1, cap, f);
  int err = ferror(f);
  fclose(f);
  if (err)
    return fleet_error__set(FLEET_EIO, "%s: cannot read '%.300s'", name, path);
  if (n == cap)
    return fleet_error__set(FLEET_EINVAL, "%s: '%.300s' is longer than %zu bytes", name, path,
                            cap - 1);
  while (n > 0 && isspace((unsigned char)field[n - 1]))
    n--;
  field[n] = '\0';
  if (memchr(field, '\0', n))
    return fleet_error__set(FLEET_EINVAL, "%s: '%.300s' contains a NUL byte", name, path);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)field[i] < 0x20)
      return fleet_error__set(FLEET_EINVAL, "%s: '%.300s' contains a control character",
                              name, path);
  if (n == 0)
    return fleet_error__set(FLEET_EINVAL, "%s: '%.300s' is empty", name, path);
  return 0;
}

static int env_uint(unsigned int *out, const char *name, const char *v)
{
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || end == v || *end || v[0] == '-' || x == 0 || x > 86400000ULL)
    return fleet_error__set(FLEET_EINVAL,
                            "%s: '%.40s' is not a whole number of milliseconds in [1, 86400000]",
                            name, v);
  *out = (unsigned int)x;
  return 0;
}

static int env_secret(char *field, size_t cap, const char *prefix, const char *var,
                      const char *file_var)
{
  char name[128], fname[128];
  const char *v = env_get(name, sizeof name, prefix, var);
  const char *f = env_get(fname, sizeof fname, prefix, file_var);
  if (v && f)
    return fleet_error__set(FLEET_EINVAL, "%s and %s: set only one of them", name, fname);
  if (v) {
    size_t n = strlen(v);
    if (n >= cap)
      return fleet_error__set(FLEET_EINVAL, "%s: value is longer than %zu bytes", name,
                              cap - 1);
    memcpy(field, v, n + 1);
  }
  if (f)
    return env_read_file(field, cap, fname, f);
  return 0;
}

int fleet_influx_config_from_env(fleet_influx_config_t *cfg, const char *prefix)
{
  if (!cfg)
    return fleet_error__set(FLEET_EINVAL, "cfg: NULL");
  if (cfg->version != FLEET_INFLUX_CONFIG_VERSION)
    return fleet_error__set(FLEET_EVERSION, "cfg: version %u is not %d", cfg->version,
                            FLEET_INFLUX_CONFIG_VERSION);
  if (!prefix)
    prefix = "FLEET_INFLUX_";
  if (strlen(prefix) > 64)
    return fleet_error__set(FLEET_EINVAL, "prefix: longer than 64 bytes");

  char name[128];
  const char *v;
  int rc;

  if ((v = env_get(name, sizeof name, prefix, "URL")) &&
      (rc = env_copy(cfg->url, sizeof cfg->url, name, v)))
    return rc;

  if ((v = env_get(name, sizeof name, prefix, "API"))) {
    const char *p = (v[0] == 'v' || v[0] == 'V') ? v + 1 : v;
    if (strcmp(p, "1") == 0)
      cfg->api = FLEET_INFLUX_API_V1;
    else if (strcmp(p, "2") == 0)
      cfg->api = FLEET_INFLUX_API_V2;
    else if (strcmp(p, "3") == 0)
      cfg->api = FLEET_INFLUX_API_V3;
    else
      return fleet_error__set(FLEET_EINVAL, "%s: '%.40s' is not v1, v2 or v3", name, v);
  }

  char bname[128];
  v = env_get(name, sizeof name, prefix, "DB");
  const char *b = env_get(bname, sizeof bname, prefix, "BUCKET");
  if (v && b)
    return fleet_error__set(FLEET_EINVAL, "%s and %s: set only one of them", name, bname);
  if (b) {
    v = b;
    memcpy(name, bname, sizeof name);
  }
  if (v && (rc = env_copy(cfg->database, sizeof cfg->database, name, v)))
    return rc;

  if ((v = env_get(name, sizeof name, prefix, "RP")) &&
      (rc = env_copy(cfg->retention_policy, sizeof cfg->retention_policy, name, v)))
    return rc;
  if ((v = env_get(name, sizeof name, prefix, "ORG")) &&
      (rc = env_copy(cfg->org, sizeof cfg->org, name, v)))
    return rc;
  if ((v = env_get(name, sizeof name, prefix, "USERNAME")) &&
      (rc = env_copy(cfg->username, sizeof cfg->username, name, v)))
    return rc;
  if ((rc = env_secret(cfg->token, sizeof cfg->token, prefix, "TOKEN", "TOKEN_FILE")))
    return rc;
  if ((rc = env_secret(cfg->password, sizeof cfg->password, prefix, "PASSWORD",
                       "PASSWORD_FILE")))
    return rc;

  if ((v = env_get(name, sizeof name, prefix, "AUTH"))) {
    static const struct {
      const char *s;
      fleet_influx_auth_t a;
    } forms[] = {
      {"auto", FLEET_INFLUX_AUTH_AUTO},     {"none", FLEET_INFLUX_AUTH_NONE},
      {"token", FLEET_INFLUX_AUTH_TOKEN},   {"bearer", FLEET_INFLUX_AUTH_BEARER},
      {"basic", FLEET_INFLUX_AUTH_BASIC},
    };
    size_t i;
    for (i = 0; i < FLEET_ARRAY_LEN(forms); i++)
      if (strcasecmp(v, forms[i].s) == 0)
        break;
    if (i == FLEET_ARRAY_LEN(forms))
      return fleet_error__set(FLEET_EINVAL,
                              "%s: '%.40s' is not auto, none, token, bearer or basic", name, v);
    cfg->auth = forms[i].a;
  }

  if ((v = env_get(name, sizeof name, prefix, "CA_FILE")) &&
      (rc = env_copy(cfg->ca_file, sizeof cfg->ca_file, name, v)))
    return rc;

  if ((v = env_get(name, sizeof name, prefix, "INSECURE"))) {
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"))
      cfg->insecure = 1;
    else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no"))
      cfg->insecure = 0;
    else
      return fleet_error__set(FLEET_EINVAL, "%s: '%.40s' is not 1/true/yes or 0/false/no",
                              name, v);
  }

  if ((v = env_get(name, sizeof name, prefix, "TIMEOUT_MS")) &&
      (rc = env_uint(&cfg->timeout_ms, name, v)))
    return rc;
  if ((v = env_get(name, sizeof name, prefix, "CONNECT_TIMEOUT_MS")) &&
      (rc = env_uint(&cfg->connect_timeout_ms, name, v)))
    return rc;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Shared HTTP helpers (influx_int.h)                                       */
/* ------------------------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
  curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int fleet_influx__curl_global_init(void)
{
  pthread_once(&curl_once, curl_init_once);
  if (curl_init_rc != CURLE_OK)
    return fleet_error__set(FLEET_EINTERNAL, "curl_global_init: %s",
                            curl_easy_strerror(curl_init_rc));
  return 0;
}

int fleet_influx__url_escape(fleet_buf_t *out, const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    int rc;
    if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
      rc = fleet_buf__putc(out, (char)*p);
    } else {
      char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      rc = fleet_buf_append(out, enc, 3);
    }
    if (rc)
      return rc;
  }
  return 0;
}

int fleet_influx__url_param(fleet_buf_t *out, int first, const char *key, const char *value)
{
  int rc;
  if ((rc = fleet_buf__putc(out, first ? '?' : '&')) || (rc = fleet_buf__puts(out, key)) ||
      (rc = fleet_buf__putc(out, '=')) || (rc = fleet_influx__url_escape(out, value)))
    return rc;
  return 0;
}

int fleet_influx__url_path(fleet_buf_t *out, const fleet_influx_config_t *cfg,
                           const char *path)
{
  size_t n = strlen(cfg->url);
  while (n > 0 && cfg->url[n - 1] == '/')
    n--;
  int rc;
  if ((rc = fleet_buf_append(out, cfg->url, n)) || (rc = fleet_buf__puts(out, path)))
    return rc;
  return 0;
}

int fleet_influx__write_url(fleet_buf_t *out, const fleet_influx_config_t *cfg)
{
  int rc = fleet_influx_config_validate(cfg);
  if (rc)
    return rc;
  fleet_buf_clear(out);
  switch (cfg->api) {
  case FLEET_INFLUX_API_V1:
    if ((rc = fleet_influx__url_path(out, cfg, "/write")) ||
        (rc = fleet_influx__url_param(out, 1, "db", cfg->database)) ||
        (cfg->retention_policy[0] &&
         (rc = fleet_influx__url_param(out, 0, "rp", cfg->retention_policy))) ||
        (rc = fleet_influx__url_param(out, 0, "precision", "ns")))
      return rc;
    break;
  case FLEET_INFLUX_API_V2:
    if ((rc = fleet_influx__url_path(out, cfg, "/api/v2/write")) ||
        (rc = fleet_influx__url_param(out, 1, "org", cfg->org)) ||
        (rc = fleet_influx__url_param(out, 0, "bucket", cfg->database)) ||
        (rc = fleet_influx__url_param(out, 0, "precision", "ns")))
      return rc;
    break;
  case FLEET_INFLUX_API_V3:
    /* "nanosecond" is the spelling every 3.x release accepts; the short forms
     * came later. */
    if ((rc = fleet_influx__url_path(out, cfg, "/api/v3/write_lp")) ||
        (rc = fleet_influx__url_param(out, 1, "db", cfg->database)) ||
        (rc = fleet_influx__url_param(out, 0, "precision", "nanosecond")) ||
        (rc = fleet_influx__url_param(out, 0, "accept_partial", "true")))
      return rc;
    break;
  }
  return 0;
}

int fleet_influx__query_url(fleet_buf_t *out, const fleet_influx_config_t *cfg)
{
  int rc = fleet_influx_config_validate(cfg);
  if (rc)
    return rc;
  fleet_buf_clear(out);
  if ((rc = fleet_influx__url_path(out, cfg, "/query")))
    return rc;
  if (cfg->api == FLEET_INFLUX_API_V1 && cfg->retention_policy[0])
    return fleet_influx__url_param(out, 1, "rp", cfg->retention_policy);
  return 0;
}

static int base64_append(fleet_buf_t *out, const unsigned char *in, size_t n)
{
  static const char tab[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int rc = fleet_buf_reserve(out, (n + 2) / 3 * 4);
  if (rc)
    return rc;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)in[i] << 16;
    if (i + 1 < n)
      v |= (unsigned)in[i + 1] << 8;
    if (i + 2 < n)
      v |= in[i + 2];
    char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63],
                 i + 1 < n ? tab[(v >> 6) & 63] : '=', i + 2 < n ? tab[v & 63] : '='};
    if ((rc = fleet_buf_append(out, q, 4)))
      return rc;
  }
  return 0;
}

int fleet_influx__auth_header(fleet_buf_t *out, const fleet_influx_config_t *cfg)
{
  int rc = fleet_influx_config_validate(cfg);
  if (rc)
    return rc;
  fleet_buf_clear(out);
  fleet_influx_auth_t form = cfg->auth;
  if (form == FLEET_INFLUX_AUTH_AUTO) {
    switch (cfg->api) {
    case FLEET_INFLUX_API_V1:
      form = cfg->username[0] ? FLEET_INFLUX_AUTH_BASIC
             : cfg->token[0]  ? FLEET_INFLUX_AUTH_TOKEN
                              : FLEET_INFLUX_AUTH_NONE;
      break;
    case FLEET_INFLUX_API_V2:
      form = cfg->token[0] ? FLEET_INFLUX_AUTH_TOKEN : FLEET_INFLUX_AUTH_NONE;
      break;
    case FLEET_INFLUX_API_V3:
      form = cfg->token[0] ? FLEET_INFLUX_AUTH_BEARER : FLEET_INFLUX_AUTH_NONE;
      break;
    }
  }
  switch (form) {
  case FLEET_INFLUX_AUTH_TOKEN:
    return fleet_buf__printf(out, "Authorization: Token %s", cfg->token);
  case FLEET_INFLUX_AUTH_BEARER:
    return fleet_buf__printf(out, "Authorization: Bearer %s", cfg->token);
  case FLEET_INFLUX_AUTH_BASIC: {
    fleet_buf_t cred = FLEET_BUF_INIT;
    if (cfg->username[0])
      rc = fleet_buf__printf(&cred, "%s:%s", cfg->username, cfg->password);
    else
      rc = fleet_buf__printf(&cred, ":%s", cfg->token);
    if (!rc)
      rc = fleet_buf__puts(out, "Authorization: Basic ");
    if (!rc)
      rc = base64_append(out, (const unsigned char *)cred.ptr, cred.len);
    /* The credentials must not linger in freed heap memory. */
    if (cred.ptr)
      memset(cred.ptr, 0, cred.cap);
    fleet_buf_dispose(&cred);
    return rc;
  }
  default:
    return 0;
  }
}

int fleet_influx__curl_setup(CURL *curl, const fleet_influx_config_t *cfg)
{
  CURLcode c = CURLE_OK;
#define SETOPT(opt, val)                                                              \
  do {                                                                                \
    if (c == CURLE_OK)                                                                \
      c = curl_easy_setopt(curl, opt, val);                                           \
  } while (0)
  SETOPT(CURLOPT_NOSIGNAL, 1L);
  SETOPT(CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
  SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->connect_timeout_ms);
  SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
  SETOPT(CURLOPT_TCP_NODELAY, 1L);
  SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
  SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(CURLOPT_USERAGENT, "libfleet/" FLEET_VERSION_STRING);
  if (cfg->ca_file[0])
    SETOPT(CURLOPT_CAINFO, cfg->ca_file);
  if (cfg->insecure) {
    SETOPT(CURLOPT_SSL_VERIFYPEER, 0L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
  }
#undef SETOPT
  if (c != CURLE_OK)
    return fleet_error__set(FLEET_EINTERNAL, "libcurl option: %s", curl_easy_strerror(c));
  return 0;
}

void fleet_influx__curl_message(char *out, size_t cap, CURLcode rc, const char *detail)
{
  if (!cap)
    return;
  const char *base = curl_easy_strerror(rc);
  size_t n = detail ? strlen(detail) : 0;
  while (n > 0 && (detail[n - 1] == '\n' || detail[n - 1] == '\r' || detail[n - 1] == ' '))
    n--;
  if (n == 0 || (strlen(base) == n && memcmp(base, detail, n) == 0))
    snprintf(out, cap, "%s", base);
  else
    snprintf(out, cap, "%s (%.*s)", base, (int)n, detail);
}

void fleet_influx__error_text(char *out, size_t cap, const char *body, size_t len)
{
  if (!cap)
    return;
  out[0] = '\0';
  if (!body || !len)
    return;
  const char *text = NULL;
  size_t tlen = 0;
  json_t *root = json_loadb(body, len, JSON_DECODE_ANY, NULL);
  if (root && json_is_object(root)) {
    json_t *msg = json_object_get(root, "message");
    json_t *err = json_object_get(root, "error");
    json_t *pick = json_is_string(msg) ? msg : json_is_string(err) ? err : NULL;
    if (pick) {
      text = json_string_value(pick);
      tlen = json_string_length(pick);
    }
  }
  if (!text) {
    text = body;
    tlen = len;
  }
  while (tlen > 0 && isspace((unsigned char)text[tlen - 1]))
    tlen--;
  if (tlen >= cap)
    tlen = cap - 1;
  for (size_t i = 0; i < tlen; i++) {
    unsigned char ch = (unsigned char)text[i];
    out[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
  }
  out[tlen] = '\0';
  json_decref(root);
}

int fleet_influx__http_status_code(long http_status)
{
  if (http_status >= 200 && http_status < 300)
    return 0;
  switch (http_status) {
  case 400: return FLEET_EPARSE;
  case 401: return FLEET_EAUTH;
  case 403: return FLEET_EPERM;
  case 404: return FLEET_ENOTFOUND;
  case 413: return FLEET_ETOOBIG;
  default: return FLEET_ESERVER;
  }
}

int fleet_influx__curl_code(CURLcode rc)
{
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT: return FLEET_ETIMEOUT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM: return FLEET_EAUTH;
  case CURLE_OUT_OF_MEMORY: return FLEET_ENOMEM;
  default: return FLEET_ENET;
  }
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

enum { SRC_NONE = 0, SRC_MEM = 1, SRC_SPOOL = 2 };

/* What became of one delivery attempt. */
enum { OUT_DONE = 0, OUT_RETRY = 1, OUT_REFUSED = 2, OUT_ABORT = 3 };

/* Response bodies beyond this are not kept: error texts are short, and a
 * partial-write answer naming thousands of lines is cut (see handle_400). */
#define RESP_MAX (1024u * 1024u)

typedef struct batch {
  struct batch *next;
  fleet_buf_t data; /* complete lines, each ending in '\n' */
  uint64_t points;
  uint64_t first_seq, last_seq; /* durable mode: the spool records it mirrors */
  int64_t born_ms;
  uint64_t id; /* unique per writer: names the batch for pre-compression */
} batch_t;

/* Byte range [a, b) of line-aligned data still to deliver. */
typedef struct range {
  size_t a, b;
} range_t;

/* The batch the writer thread is delivering. Ranges form a stack whose top is
 * the leftmost: splitting a range pushes its right half first, so data is
 * always delivered left to right and the stack holds exactly what is left. */
typedef struct inflight {
  int source;
  fleet_buf_t buf;
  range_t *stack;
  size_t n, cap;
  uint64_t seq; /* SRC_SPOOL: the record; SRC_MEM durable: last record mirrored */
  uint64_t batch_id; /* SRC_MEM: the batch's id */
} inflight_t;

struct fleet_influx_writer {
  fleet_influx_config_t cfg;
  fleet_influx_writer_opts_t opts; /* pointers cleared after new() */
  int dl_fd;                       /* dead-letter file, -1 for none */
  fleet_spool_t *spool;
  fleet_spool_fsync_t spool_fsync;
  unsigned int spool_sync_ms;
  int durable;

  pthread_mutex_t mu;
  pthread_cond_t cv_work; /* the writer thread waits on it */
  pthread_cond_t cv_idle; /* flush() waits on it */
  pthread_t thread;
  int thread_running;

  /* Under mu. */
  batch_t *cur;        /* being filled */
  batch_t *head, *tail; /* sealed, oldest first */
  uint64_t mem_bytes, mem_points; /* cur + sealed */
  uint64_t inf_bytes, inf_points; /* in flight from memory */
  uint64_t next_batch_id;
  inflight_t inf; /* the writer thread's; `source` changes under mu only */
  fleet_buf_t scratch;
  uint64_t delivered_seq;  /* durable: every record <= this is acknowledged */
  uint64_t spool_last_seq; /* durable: newest record appended */
  int closing, closed, close_rc;
  int64_t close_deadline_ms;
  int down;
  unsigned int attempts;
  int64_t retry_at_ms;
  int prefer_spool;
  int64_t spool_pause_until_ms;
  int64_t last_sync_ms;
  fleet_influx_writer_stats_t st;
  uint64_t lat_sum_us, lat_n;
  fleet_spool_stats_t spool_final;

  _Atomic int64_t abort_at_ms; /* a transfer in progress is aborted after this */

  /* Writer thread only. */
  CURL *curl;
  CURLM *multi;
  char curl_err[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER: why a transfer failed */
  struct curl_slist *hdrs;
  z_stream z;
  int z_ready;
  fleet_buf_t gz, resp, dl;
  int resp_truncated;
  int64_t retry_after_ms;
  uint64_t rng;
  /* The next memory batch, gzip'ed while the current request is in flight. */
  fleet_buf_t pre_src, pre_gz;
  uint64_t pre_id;
};

static int64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void abs_timespec(struct timespec *ts, int64_t at_ms)
{
  ts->tv_sec = (time_t)(at_ms / 1000);
  ts->tv_nsec = (long)(at_ms % 1000) * 1000000L;
}

static void wlog(fleet_influx_writer_t *w, int level, const char *fmt, ...) FLEET_PRINTF(3, 4);

static void wlog(fleet_influx_writer_t *w, int level, const char *fmt, ...)
{
  if (!w->opts.log_cb || level > w->opts.log_level)
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  w->opts.log_cb(level, msg, w->opts.log_userdata);
}

/* Remember the last failure for the stats (under mu). */
static void note_error_locked(fleet_influx_writer_t *w, int code, long http, const char *fmt,
                              ...) FLEET_PRINTF(4, 5);

static void note_error_locked(fleet_influx_writer_t *w, int code, long http, const char *fmt,
                              ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->st.last_error, sizeof w->st.last_error, fmt, ap);
  va_end(ap);
  w->st.last_error_code = code;
  if (http)
    w->st.last_http_status = http;
}

static uint64_t rng_next(fleet_influx_writer_t *w)
{
  uint64_t x = w->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  w->rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t count_lines(const char *p, size_t len)
{
  uint64_t n = 0;
  const char *end = p + len;
  while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
    n++;
    p++;
  }
  return n;
}

/* Batches ---------------------------------------------------------------- */

static void batch_free(batch_t *b)
{
  if (!b)
    return;
  fleet_buf_dispose(&b->data);
  free(b);
}

static void seal_locked(fleet_influx_writer_t *w)
{
  batch_t *b = w->cur;
  if (!b || b->points == 0)
    return;
  w->cur = NULL;
  b->next = NULL;
  if (w->tail)
    w->tail->next = b;
  else
    w->head = b;
  w->tail = b;
  pthread_cond_signal(&w->cv_work);
}

static batch_t *pop_head_locked(fleet_influx_writer_t *w)
{
  batch_t *b = w->head;
  if (b) {
    w->head = b->next;
    if (!w->head)
      w->tail = NULL;
    w->mem_bytes -= b->data.len;
    w->mem_points -= b->points;
  }
  return b;
}

static batch_t *cur_batch_locked(fleet_influx_writer_t *w)
{
  if (w->cur)
    return w->cur;
  batch_t *b = calloc(1, sizeof *b);
  if (!b) {
    fleet_error__oom();
    return NULL;
  }
  b->born_ms = mono_ms();
  b->id = ++w->next_batch_id;
  w->cur = b;
  /* The writer must arm its flush timer for the new batch. */
  pthread_cond_signal(&w->cv_work);
  return b;
}

/* Spool ------------------------------------------------------------------ */

static int spool_put_locked(fleet_influx_writer_t *w, const char *p, size_t len,
                            uint64_t *out_seq)
{
  int rc = fleet_spool_append(out_seq, w->spool, p, len);
  if (rc) {
    note_error_locked(w, rc, 0, "spool: %s", fleet_error_last());
    return rc;
  }
  w->st.batches_spooled++;
  return 0;
}

/* Memory-first mode, memory full: move the oldest batches to the spool until
 * `need` more bytes fit. When they still do not (a write bigger than the
 * whole queue), *direct is set: the caller spools its data itself. */
static int make_room_locked(fleet_influx_writer_t *w, size_t need, int *direct)
{
  *direct = 0;
  if (!w->spool)
    return fleet_error__set(FLEET_EFULL,
                            "influx writer: memory queue full (%" PRIu64 " of %zu bytes) and "
                            "no spool configured",
                            w->mem_bytes, w->opts.queue_max_bytes);
  seal_locked(w);
  while (w->head && w->mem_bytes + need > w->opts.queue_max_bytes) {
    int rc = spool_put_locked(w, w->head->data.ptr, w->head->data.len, NULL);
    if (rc)
      return fleet_error__set(rc,
                              "influx writer: memory queue full and the spool refused a "
                              "batch: %s",
                              w->st.last_error);
    batch_free(pop_head_locked(w));
  }
  if (w->mem_bytes + need > w->opts.queue_max_bytes)
    *direct = 1;
  return 0;
}

/* Enqueue ---------------------------------------------------------------- */

static int append_lines_locked(fleet_influx_writer_t *w, const char *p, size_t len,
                               uint64_t points)
{
  const fleet_influx_writer_opts_t *o = &w->opts;
  while (len > 0) {
    batch_t *b = cur_batch_locked(w);
    if (!b)
      return FLEET_ENOMEM;
    size_t take = len;
    uint64_t take_points = points;
    if (b->points + points > o->batch_max_points || b->data.len + len > o->batch_max_bytes) {
      /* Fill this batch line by line; a line longer than a batch goes alone. */
      take = 0;
      take_points = 0;
      while (take < len) {
        const char *nl = memchr(p + take, '\n', len - take);
        size_t l = (size_t)(nl - (p + take)) + 1;
        if ((b->points + take_points > 0) &&
            (b->points + take_points + 1 > o->batch_max_points ||
             b->data.len + take + l > o->batch_max_bytes))
          break;
        take += l;
        take_points++;
      }
    }
    if (take > 0) {
      int rc = fleet_buf_append(&b->data, p, take);
      if (rc)
        return rc;
      b->points += take_points;
      w->mem_bytes += take;
      w->mem_points += take_points;
      w->st.points_enqueued += take_points;
      p += take;
      len -= take;
      points -= take_points;
    }
    if (b->points >= o->batch_max_points || b->data.len >= o->batch_max_bytes || len > 0)
      seal_locked(w);
  }
  return 0;
}

static int enqueue_durable_locked(fleet_influx_writer_t *w, const char *p, size_t len,
                                  uint64_t points)
{
  uint64_t seq = 0;
  int rc = spool_put_locked(w, p, len, &seq);
  if (rc)
    return fleet_error__set(rc, "influx writer: %s", w->st.last_error);
  w->spool_last_seq = seq;
  w->st.points_enqueued += points;

  /* Mirror the record in memory so that delivery needs no disk read. A record
   * stays within one batch (acknowledgements are per record), and a batch
   * covers consecutive records only. */
  if (w->mem_bytes + len <= w->opts.queue_max_bytes) {
    batch_t *b = w->cur;
    if (b && (b->last_seq + 1 != seq || b->points + points > w->opts.batch_max_points ||
              b->data.len + len > w->opts.batch_max_bytes)) {
      seal_locked(w);
      b = NULL;
    }
    if (!b && (b = cur_batch_locked(w)))
      b->first_seq = seq;
    if (b && fleet_buf_append(&b->data, p, len) == 0) {
      b->last_seq = seq;
      b->points += points;
      w->mem_bytes += len;
      w->mem_points += points;
      if (b->points >= w->opts.batch_max_points || b->data.len >= w->opts.batch_max_bytes)
        seal_locked(w);
      return 0;
    }
    if (b && b->points == 0) {
      /* Out of memory for a new batch: not fatal, the record is on disk. */
      w->cur = NULL;
      batch_free(b);
    }
  }
  seal_locked(w);
  pthread_cond_signal(&w->cv_work);
  return 0;
}

static int enqueue_locked(fleet_influx_writer_t *w, const char *p, size_t len, uint64_t points)
{
  if (w->closing)
    return fleet_error__set(FLEET_ECLOSED, "influx writer: closed");
  if (points == 0)
    return 0;
  if (w->durable)
    return enqueue_durable_locked(w, p, len, points);
  if (w->mem_bytes + len > w->opts.queue_max_bytes) {
    int direct;
    int rc = make_room_locked(w, len, &direct);
    if (rc)
      return rc;
    if (direct) {
      rc = spool_put_locked(w, p, len, NULL);
      if (rc)
        return fleet_error__set(rc, "influx writer: memory queue full and the spool "
                                    "refused the data: %s",
                                w->st.last_error);
      w->st.points_enqueued += points;
      pthread_cond_signal(&w->cv_work);
      return 0;
    }
  }
  return append_lines_locked(w, p, len, points);
}

static int blank_or_comment(const char *s, size_t n)
{
  size_t i = 0;
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
    i++;
  return i == n || s[i] == '#';
}

int fleet_influx_writer_write_lines(fleet_influx_writer_t *w, const char *data, size_t len)
{
  if (!w || (!data && len))
    return fleet_error__set(FLEET_EINVAL, "influx writer: NULL argument");
  if (len && memchr(data, '\0', len))
    return fleet_error__set(FLEET_EINVAL, "lines: contain a NUL byte");

  /* Count lines and see whether the data can be taken as is: every line
   * non-blank and newline-terminated. */
  uint64_t points = 0;
  int as_is = len > 0 && data[len - 1] == '\n';
  for (size_t s = 0; s < len;) {
    const char *nl = memchr(data + s, '\n', len - s);
    size_t e = nl ? (size_t)(nl - data) : len;
    if (blank_or_comment(data + s, e - s))
      as_is = 0;
    else
      points++;
    s = e + 1;
  }

  pthread_mutex_lock(&w->mu);
  int rc;
  if (as_is || points == 0) {
    rc = enqueue_locked(w, data, len, points);
  } else {
    fleet_buf_t *sb = &w->scratch;
    fleet_buf_clear(sb);
    rc = 0;
    for (size_t s = 0; s < len && !rc;) {
      const char *nl = memchr(data + s, '\n', len - s);
      size_t e = nl ? (size_t)(nl - data) : len;
      if (!blank_or_comment(data + s, e - s)) {
        rc = fleet_buf_append(sb, data + s, e - s);
        if (!rc)
          rc = fleet_buf__putc(sb, '\n');
      }
      s = e + 1;
    }
    if (!rc)
      rc = enqueue_locked(w, sb->ptr, sb->len, points);
  }
  pthread_mutex_unlock(&w->mu);
  return rc;
}

int fleet_influx_writer_write_telemetry(fleet_influx_writer_t *w, const fleet_telemetry_t *rec,
                                        const char *measurement, const fleet_lp_tag_t *tags,
                                        size_t ntags)
{
  if (!w || !rec)
    return fleet_error__set(FLEET_EINVAL, "influx writer: NULL argument");
  pthread_mutex_lock(&w->mu);
  fleet_buf_clear(&w->scratch);
  int rc = fleet_lp_encode_telemetry(&w->scratch, rec, measurement, tags, ntags);
  if (!rc)
    rc = enqueue_locked(w, w->scratch.ptr, w->scratch.len, 1);
  pthread_mutex_unlock(&w->mu);
  return rc;
}

/* HTTP ------------------------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
  fleet_influx_writer_t *w = ud;
  size_t n = size * nmemb;
  size_t room = w->resp.len < RESP_MAX ? RESP_MAX - w->resp.len : 0;
  if (n > room)
    w->resp_truncated = 1;
  if (room && fleet_buf_append(&w->resp, ptr, n < room ? n : room))
    w->resp_truncated = 1;
  return n;
}

/* Retry-After is either delta-seconds or an HTTP date (RFC 9110 10.2.3). */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
  fleet_influx_writer_t *w = ud;
  size_t n = size * nmemb;
  static const char name[] = "retry-after:";
  if (n > sizeof name - 1 && n < 256 && strncasecmp(ptr, name, sizeof name - 1) == 0) {
    char v[256];
    size_t vl = n - (sizeof name - 1);
    memcpy(v, ptr + sizeof name - 1, vl);
    v[vl] = '\0';
    char *s = v;
    while (*s == ' ' || *s == '\t')
      s++;
    size_t e = strlen(s);
    while (e > 0 && isspace((unsigned char)s[e - 1]))
      s[--e] = '\0';
    if (*s && strspn(s, "0123456789") == e) {
      unsigned long long secs = strtoull(s, NULL, 10);
      if (secs > 3600)
        secs = 3600;
      w->retry_after_ms = (int64_t)secs * 1000;
    } else if (*s) {
      time_t t = curl_getdate(s, NULL);
      if (t != (time_t)-1) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t d = (int64_t)t * 1000 - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
        w->retry_after_ms = d < 0 ? 0 : d > 3600000 ? 3600000 : d;
      }
    }
  }
  return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
  (void)dltotal;
  (void)dlnow;
  (void)ultotal;
  (void)ulnow;
  fleet_influx_writer_t *w = ud;
  return mono_ms() >= atomic_load(&w->abort_at_ms) ? 1 : 0;
}

typedef struct post_result {
  CURLcode cc;
  long status;
  int64_t retry_after_ms;
  char text[FLEET_INFLUX_ERROR_TEXT_MAX]; /* error text for logs and the stats */
} post_result_t;

static int gzip_into(fleet_influx_writer_t *w, fleet_buf_t *out, const char *p, size_t len)
{
  fleet_buf_clear(out);
  /* Reset first: a finished gzip stream has dropped its wrapper, and
   * deflateBound() would leave out the header and trailer. */
  if (deflateReset(&w->z) != Z_OK)
    return fleet_error__set(FLEET_EINTERNAL, "zlib: deflateReset failed");
  uLong bound = deflateBound(&w->z, (uLong)len);
  int rc = fleet_buf_reserve(out, (size_t)bound);
  if (rc)
    return rc;
  w->z.next_in = (Bytef *)(uintptr_t)p;
  w->z.avail_in = (uInt)len;
  w->z.next_out = (Bytef *)out->ptr;
  w->z.avail_out = (uInt)bound;
  if (deflate(&w->z, Z_FINISH) != Z_STREAM_END)
    return fleet_error__set(FLEET_EINTERNAL, "zlib: deflate did not finish");
  out->len = (size_t)w->z.total_out;
  return 0;
}

/* While a request is in flight, gzip the batch most likely to go next (the
 * oldest in memory), so that compressing it does not delay its own request.
 * The bytes are copied under the lock: a producer may spill that batch to the
 * spool and free it meanwhile, and then the work is just thrown away. */
static void precompress_next(fleet_influx_writer_t *w)
{
  pthread_mutex_lock(&w->mu);
  batch_t *b = w->head;
  fleet_buf_clear(&w->pre_src);
  if (!b || b->id == w->pre_id || fleet_buf_append(&w->pre_src, b->data.ptr, b->data.len)) {
    pthread_mutex_unlock(&w->mu);
    return;
  }
  uint64_t id = b->id;
  pthread_mutex_unlock(&w->mu);
  w->pre_id = gzip_into(w, &w->pre_gz, w->pre_src.ptr, w->pre_src.len) ? 0 : id;
}

/* Run the prepared request on the multi handle, pre-compressing the next
 * batch while the server works. */
static CURLcode perform(fleet_influx_writer_t *w)
{
  if (curl_multi_add_handle(w->multi, w->curl) != CURLM_OK)
    return CURLE_FAILED_INIT;
  int running = 1, pre_done = w->opts.gzip_level == 0;
  CURLcode result = CURLE_FAILED_INIT;
  while (running) {
    if (curl_multi_perform(w->multi, &running) != CURLM_OK)
      break;
    if (!running)
      break;
    if (!pre_done) {
      precompress_next(w);
      pre_done = 1;
      continue;
    }
    if (curl_multi_poll(w->multi, NULL, 0, 200, NULL) != CURLM_OK)
      break;
  }
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(w->multi, &left)))
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == w->curl)
      result = msg->data.result;
  curl_multi_remove_handle(w->multi, w->curl);
  return result;
}

/* POST one line-aligned piece of data; `batch_id` names the whole memory
 * batch it is (0 otherwise), whose gzip'ed form may be ready. Counters are
 * updated under mu. */
static int post(fleet_influx_writer_t *w, const char *p, size_t len, uint64_t points,
                uint64_t batch_id, post_result_t *res)
{
  const char *body = p;
  size_t blen = len;
  if (w->opts.gzip_level > 0) {
    if (batch_id && batch_id == w->pre_id) {
      fleet_buf_t t = w->gz;
      w->gz = w->pre_gz;
      w->pre_gz = t;
    } else {
      int rc = gzip_into(w, &w->gz, p, len);
      if (rc)
        return rc;
    }
    w->pre_id = 0;
    body = w->gz.ptr;
    blen = w->gz.len;
  }

  fleet_buf_clear(&w->resp);
  w->resp_truncated = 0;
  w->retry_after_ms = -1;
  curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
  curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, body);
  res->cc = perform(w);
  res->status = 0;
  res->retry_after_ms = w->retry_after_ms;
  res->text[0] = '\0';
  curl_off_t total_us = 0;
  if (res->cc == CURLE_OK) {
    curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &res->status);
    curl_easy_getinfo(w->curl, CURLINFO_TOTAL_TIME_T, &total_us);
    if (res->status < 200 || res->status >= 300)
      fleet_influx__error_text(res->text, sizeof res->text, w->resp.ptr, w->resp.len);
  } else {
    fleet_influx__curl_message(res->text, sizeof res->text, res->cc, w->curl_err);
  }

  pthread_mutex_lock(&w->mu);
  w->st.requests++;
  w->st.points_sent += points;
  w->st.bytes_sent += blen;
  w->st.bytes_raw += len;
  if (res->status)
    w->st.last_http_status = res->status;
  if (res->cc == CURLE_OK && res->status >= 200 && res->status < 300) {
    w->st.last_latency_us = (uint64_t)total_us;
    w->lat_sum_us += (uint64_t)total_us;
    w->lat_n++;
  }
  pthread_mutex_unlock(&w->mu);
  wlog(w, FLEET_INFLUX_LOG_DEBUG, "influx: POST %" PRIu64 " lines, %zu bytes (%zu sent): %s %ld",
       points, len, blen, res->cc == CURLE_OK ? "HTTP" : "failed", res->status);
  return 0;
}

/* Dead letters ----------------------------------------------------------- */

static int utf8_valid(const unsigned char *s, size_t n)
{
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t k;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      k = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      k = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      k = 3;
      cp = c & 0x07;
    } else {
      return 0;
    }
    for (size_t j = 1; j <= k; j++) {
      if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + j] & 0x3F);
    }
    if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += k + 1;
  }
  return 1;
}

static int json_str(fleet_buf_t *b, const char *s, size_t n)
{
  int rc = fleet_buf__putc(b, '"');
  for (size_t i = 0; i < n && !rc; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      rc = fleet_buf_append(b, e, 2);
    } else if (c < 0x20 || c == 0x7f) {
      rc = fleet_buf__printf(b, "\\u%04x", c);
    } else {
      rc = fleet_buf__putc(b, (char)c);
    }
  }
  return rc ? rc : fleet_buf__putc(b, '"');
}

/* Queue one dead-letter entry in w->dl; dl_flush() writes them. The line is
 * kept byte for byte: as a JSON string when it is UTF-8, else in base64. */
static int dl_add(fleet_influx_writer_t *w, const char *line, size_t len, long status,
                  const char *reason, size_t rlen)
{
  char ts[40];
  struct timespec now;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", now.tv_nsec / 1000000L);

  fleet_buf_t *b = &w->dl;
  int rc = fleet_buf__printf(b, "{\"ts\":\"%s\",\"status\":%ld,\"reason\":", ts, status);
  if (!rc)
    rc = json_str(b, reason, rlen);
  if (!rc && utf8_valid((const unsigned char *)line, len)) {
    rc = fleet_buf__puts(b, ",\"line\":");
    if (!rc)
      rc = json_str(b, line, len);
  } else if (!rc) {
    rc = fleet_buf__puts(b, ",\"line_base64\":\"");
    if (!rc)
      rc = base64_append(b, (const unsigned char *)line, len);
    if (!rc)
      rc = fleet_buf__putc(b, '"');
  }
  if (!rc)
    rc = fleet_buf__puts(b, "}\n");
  return rc;
}

static void dl_flush(fleet_influx_writer_t *w, uint64_t lines)
{
  fleet_buf_t *b = &w->dl;
  if (!b->len)
    return;
  int ok = 0;
  if (w->dl_fd >= 0) {
    size_t off = 0;
    while (off < b->len) {
      ssize_t k = write(w->dl_fd, b->ptr + off, b->len - off);
      if (k < 0 && errno == EINTR)
        continue;
      if (k <= 0)
        break;
      off += (size_t)k;
    }
    ok = off == b->len && fdatasync(w->dl_fd) == 0;
  }
  if (!ok) {
    /* No file, or it failed: the log is the last place the lines can go. */
    for (char *s = b->ptr, *e; s < b->ptr + b->len; s = e + 1) {
      e = memchr(s, '\n', (size_t)(b->ptr + b->len - s));
      wlog(w, FLEET_INFLUX_LOG_ERROR, "influx: dead letter: %.*s", (int)(e - s), s);
    }
  }
  pthread_mutex_lock(&w->mu);
  w->st.points_dead_lettered += lines;
  if (!ok && w->dl_fd >= 0)
    w->st.dead_letter_errors += lines;
  pthread_mutex_unlock(&w->mu);
  fleet_buf_clear(b);
}

/* Dead-letter every line of [a, b) with one reason. */
static void dl_range(fleet_influx_writer_t *w, const char *base, range_t r, long status,
                     const char *reason)
{
  uint64_t n = 0;
  for (size_t s = r.a; s < r.b;) {
    const char *nl = memchr(base + s, '\n', r.b - s);
    size_t e = (size_t)(nl - base);
    if (dl_add(w, base + s, e - s, status, reason, strlen(reason)))
      wlog(w, FLEET_INFLUX_LOG_ERROR, "influx: dead letter (HTTP %ld, %s): %.*s", status,
           reason, (int)(e - s), base + s);
    n++;
    s = e + 1;
  }
  dl_flush(w, n);
}

/* Delivery --------------------------------------------------------------- */

static int stack_reserve(inflight_t *f, size_t extra)
{
  if (f->cap - f->n >= extra)
    return 0;
  size_t cap = f->cap ? f->cap : 16;
  while (cap - f->n < extra)
    cap *= 2;
  range_t *s = realloc(f->stack, cap * sizeof *s);
  if (!s)
    return fleet_error__oom();
  f->stack = s;
  f->cap = cap;
  return 0;
}

/* Callers reserved room first (see deliver()). */
static void push(inflight_t *f, size_t a, size_t b)
{
  if (a < b)
    f->stack[f->n++] = (range_t){a, b};
}

typedef struct line_info {
  size_t a, e;        /* the line, without its '\n' */
  const char *reason; /* set when the server named this line */
  size_t rlen;
} line_info_t;

/* Mark line `i` as rejected with `reason`; returns 1 when it was new. */
static int name_line(line_info_t *l, const char *reason, size_t rlen)
{
  if (l->reason)
    return 0;
  l->reason = reason;
  l->rlen = rlen;
  return 1;
}

/* InfluxDB 1.x (and 2.x): "unable to parse 'LINE': reason", separated by
 * newlines, in line order; a partial write ends in " dropped=N". */
static size_t parse_unable(line_info_t *lines, size_t n, const char *base, const char *t,
                           size_t tl, const char *tail)
{
  static const char pre[] = "unable to parse '";
  const char *end = t + tl;
  size_t named = 0, cursor = 0;
  for (const char *q = t; q < end && (q = strstr(q, pre)); q++) {
    const char *s = q + sizeof pre - 1;
    for (size_t k = 0; k < n; k++) {
      size_t i = (cursor + k) % n;
      size_t ll = lines[i].e - lines[i].a;
      if (lines[i].reason || (size_t)(end - s) < ll + 3 || memcmp(s, base + lines[i].a, ll) ||
          memcmp(s + ll, "': ", 3))
        continue;
      const char *r = s + ll + 3;
      const char *re = memchr(r, '\n', (size_t)(end - r));
      if (!re)
        re = end;
      if (tail && tail >= r && tail < re)
        re = tail;
      named += (size_t)name_line(&lines[i], r, (size_t)(re - r));
      cursor = i + 1;
      break;
    }
  }
  return named;
}

/* InfluxDB 2.x: "line N: reason" (1-based line numbers of the request). */
static size_t parse_line_numbers(line_info_t *lines, size_t n, const char *t, size_t tl)
{
  size_t named = 0;
  const char *end = t + tl;
  for (const char *q = t; q < end && (q = strstr(q, "line ")); q++) {
    if (q != t && q[-1] != '\n' && q[-1] != ' ' && q[-1] != ':')
      continue;
    char *num_end;
    unsigned long long ln = strtoull(q + 5, &num_end, 10);
    if (num_end == q + 5 || num_end[0] != ':' || num_end[1] != ' ' || ln == 0 || ln > n)
      continue;
    const char *r = num_end + 2;
    const char *re = memchr(r, '\n', (size_t)(end - r));
    if (!re)
      re = end;
    named += (size_t)name_line(&lines[ln - 1], r, (size_t)(re - r));
  }
  return named;
}

/* InfluxDB 3: {"error": "...", "data": [{"original_line", "line_number",
 * "error_message"}]}. */
static size_t parse_v3_data(line_info_t *lines, size_t n, const char *base, json_t *data)
{
  size_t named = 0, idx;
  json_t *item;
  json_array_foreach(data, idx, item) {
    json_t *jl = json_object_get(item, "line_number");
    json_t *jo = json_object_get(item, "original_line");
    json_t *jm = json_object_get(item, "error_message");
    const char *msg = json_is_string(jm) ? json_string_value(jm) : "rejected";
    size_t mlen = json_is_string(jm) ? json_string_length(jm) : strlen(msg);
    size_t hit = SIZE_MAX;
    if (json_is_integer(jl) && json_integer_value(jl) >= 1 &&
        (uint64_t)json_integer_value(jl) <= n) {
      size_t i = (size_t)json_integer_value(jl) - 1;
      if (!json_is_string(jo) ||
          (json_string_length(jo) == lines[i].e - lines[i].a &&
           !memcmp(json_string_value(jo), base + lines[i].a, lines[i].e - lines[i].a)))
        hit = i;
    }
    if (hit == SIZE_MAX && json_is_string(jo)) {
      for (size_t i = 0; i < n; i++)
        if (!lines[i].reason && json_string_length(jo) == lines[i].e - lines[i].a &&
            !memcmp(json_string_value(jo), base + lines[i].a, lines[i].e - lines[i].a)) {
          hit = i;
          break;
        }
    }
    if (hit != SIZE_MAX)
      named += (size_t)name_line(&lines[hit], msg, mlen);
  }
  return named;
}

/* A 400 (or 422) for range r. The stack has room for one range per line. */
static void handle_400(fleet_influx_writer_t *w, range_t r, uint64_t pts, long status)
{
  inflight_t *f = &w->inf;
  const char *base = f->buf.ptr;
  line_info_t *lines = calloc((size_t)pts ? (size_t)pts : 1, sizeof *lines);
  json_t *root = json_loadb(w->resp.ptr ? w->resp.ptr : "", w->resp.len, JSON_DECODE_ANY, NULL);
  const char *t = w->resp.ptr ? w->resp.ptr : "";
  size_t tl = w->resp.len;
  json_t *data = NULL;
  if (json_is_object(root)) {
    json_t *e = json_object_get(root, "error");
    json_t *m = json_object_get(root, "message");
    json_t *pick = json_is_string(e) ? e : json_is_string(m) ? m : NULL;
    if (pick) {
      t = json_string_value(pick);
      tl = json_string_length(pick);
    }
    data = json_object_get(root, "data");
    if (!json_is_array(data))
      data = NULL;
  }
  if (!lines) {
    /* Cannot analyse: keep every line, with the whole answer as reason. */
    dl_range(w, base, r, status, t);
    json_decref(root);
    return;
  }

  size_t n = 0;
  for (size_t s = r.a; s < r.b && n < pts; n++) {
    const char *nl = memchr(base + s, '\n', r.b - s);
    lines[n].a = s;
    lines[n].e = (size_t)(nl - base);
    s = lines[n].e + 1;
  }

  int partial = strstr(t, "partial write") != NULL;
  long long dropped = -1;
  const char *tail = NULL;
  for (const char *q = t; (q = strstr(q, " dropped=")); q++)
    tail = q;
  if (tail) {
    char *de;
    dropped = strtoll(tail + 9, &de, 10);
    if (de == tail + 9)
      dropped = -1, tail = NULL;
  }

  size_t named = 0;
  if (data)
    named += parse_v3_data(lines, n, base, data);
  named += parse_unable(lines, n, base, t, tl, tail);
  named += parse_line_numbers(lines, n, t, tl);

  /* Dead-letter the named lines with their reasons. */
  uint64_t dead = 0;
  for (size_t i = 0; i < n; i++)
    if (lines[i].reason) {
      if (dl_add(w, base + lines[i].a, lines[i].e - lines[i].a, status, lines[i].reason,
                 lines[i].rlen))
        wlog(w, FLEET_INFLUX_LOG_ERROR, "influx: dead letter (HTTP %ld, %.*s): %.*s", status,
             (int)lines[i].rlen, lines[i].reason, (int)(lines[i].e - lines[i].a),
             base + lines[i].a);
      dead++;
    }
  dl_flush(w, dead);

  uint64_t rest = n - named;
  if (named > 0 && rest > 0 && partial && !w->resp_truncated && (data || dropped == 0)) {
    /* A partial write the server fully explained: the other lines are stored. */
    pthread_mutex_lock(&w->mu);
    w->st.points_written += rest;
    pthread_mutex_unlock(&w->mu);
  } else if (named > 0 && rest > 0) {
    /* Unsure whether the rest was stored (whole batch refused, some drops
     * unexplained, answer cut): send it again, which is idempotent. */
    for (size_t i = n; i-- > 0;) {
      if (lines[i].reason)
        continue;
      size_t j = i;
      while (j > 0 && !lines[j - 1].reason)
        j--;
      push(f, lines[j].a, lines[i].e + 1);
      i = j;
    }
  } else if (named == 0 && partial && dropped > 0 && n > 1) {
    /* Dropped without naming the lines (type conflict, retention): bisect. */
    size_t mid = lines[n / 2].a;
    push(f, mid, r.b);
    push(f, r.a, mid);
    pthread_mutex_lock(&w->mu);
    w->st.splits++;
    pthread_mutex_unlock(&w->mu);
  } else if (named == 0 && partial && dropped == 0 && !w->resp_truncated) {
    /* "partial write ... dropped=0" naming nothing we sent: all stored. */
    pthread_mutex_lock(&w->mu);
    w->st.points_written += rest;
    pthread_mutex_unlock(&w->mu);
  } else if (named == 0) {
    char reason[FLEET_INFLUX_ERROR_TEXT_MAX * 4];
    fleet_influx__error_text(reason, sizeof reason, w->resp.ptr, w->resp.len);
    if (!reason[0])
      snprintf(reason, sizeof reason, "HTTP %ld with no explanation", status);
    dl_range(w, base, r, status, reason);
  }
  free(lines);
  json_decref(root);
}

/* Deliver what the in-flight batch has left, range by range. Returns an
 * OUT_* value; `res` describes the last request. */
static int deliver(fleet_influx_writer_t *w, post_result_t *res)
{
  inflight_t *f = &w->inf;
  memset(res, 0, sizeof *res);
  res->retry_after_ms = -1;
  while (f->n > 0) {
    if (mono_ms() >= atomic_load(&w->abort_at_ms))
      return OUT_ABORT;
    range_t r = f->stack[f->n - 1];
    const char *base = f->buf.ptr;
    uint64_t pts = count_lines(base + r.a, r.b - r.a);
    int rc = stack_reserve(f, (size_t)pts + 2);
    if (!rc)
      rc = post(w, base + r.a, r.b - r.a, pts,
                (f->n == 1 && r.a == 0 && r.b == f->buf.len) ? f->batch_id : 0, res);
    if (rc) {
      res->cc = CURLE_OK;
      res->status = 0;
      snprintf(res->text, sizeof res->text, "%s", fleet_error_last());
      return OUT_RETRY;
    }
    if (res->cc == CURLE_ABORTED_BY_CALLBACK)
      return OUT_ABORT;
    long s = res->status;
    int outcome = -1;
    pthread_mutex_lock(&w->mu);
    if (res->cc != CURLE_OK) {
      w->st.net_errors++;
      outcome = OUT_RETRY;
    } else if (s >= 200 && s < 300) {
      w->st.points_written += pts;
    } else if (s == 408 || s == 429 || s >= 500) {
      w->st.server_errors++;
      outcome = OUT_RETRY;
    } else if (s != 400 && s != 413 && s != 422) {
      w->st.config_errors++;
      outcome = OUT_REFUSED;
    }
    if (outcome >= 0)
      w->st.points_retried += pts;
    pthread_mutex_unlock(&w->mu);
    if (outcome >= 0)
      return outcome;

    f->n--;
    if (s == 413) {
      if (pts > 1) {
        const char *mid = base + r.a;
        for (uint64_t i = 0; i < pts / 2; i++)
          mid = (const char *)memchr(mid, '\n', (size_t)(base + r.b - mid)) + 1;
        push(f, (size_t)(mid - base), r.b);
        push(f, r.a, (size_t)(mid - base));
        pthread_mutex_lock(&w->mu);
        w->st.splits++;
        pthread_mutex_unlock(&w->mu);
      } else {
        char reason[FLEET_INFLUX_ERROR_TEXT_MAX + 64];
        snprintf(reason, sizeof reason, "line too large for the server (HTTP 413)%s%s",
                 res->text[0] ? ": " : "", res->text);
        dl_range(w, base, r, s, reason);
      }
    } else if (s == 400 || s == 422) {
      handle_400(w, r, pts, s);
    }
  }
  return OUT_DONE;
}

/* Writer thread ---------------------------------------------------------- */

static uint64_t spool_records_locked(fleet_influx_writer_t *w)
{
  fleet_spool_stats_t s;
  memset(&s, 0, sizeof s);
  s.version = FLEET_SPOOL_STATS_VERSION;
  if (!w->spool || fleet_spool_get_stats(&s, w->spool))
    return 0;
  return s.records;
}

static void inflight_clear(fleet_influx_writer_t *w)
{
  w->inf.source = SRC_NONE;
  w->inf.n = 0;
  w->inf.seq = 0;
  w->inf.batch_id = 0;
  fleet_buf_clear(&w->inf.buf);
  w->inf_bytes = 0;
  w->inf_points = 0;
}

static int take_mem_locked(fleet_influx_writer_t *w)
{
  inflight_t *f = &w->inf;
  batch_t *b = pop_head_locked(w);
  fleet_buf_dispose(&f->buf);
  f->buf = b->data;
  b->data = (fleet_buf_t)FLEET_BUF_INIT;
  f->n = 0;
  if (stack_reserve(f, 1)) {
    /* Put it back: the batch is retried when memory allows. */
    b->data = f->buf;
    f->buf = (fleet_buf_t)FLEET_BUF_INIT;
    b->next = w->head;
    w->head = b;
    if (!w->tail)
      w->tail = b;
    w->mem_bytes += b->data.len;
    w->mem_points += b->points;
    return 0;
  }
  push(f, 0, f->buf.len);
  f->source = SRC_MEM;
  f->seq = b->last_seq;
  f->batch_id = b->id;
  w->inf_bytes = f->buf.len;
  w->inf_points = b->points;
  batch_free(b);
  return 1;
}

static int take_spool_locked(fleet_influx_writer_t *w, int64_t now)
{
  inflight_t *f = &w->inf;
  uint64_t seq = 0;
  int rc = fleet_spool_peek(&f->buf, &seq, w->spool);
  if (rc == FLEET_ENOTFOUND)
    return 0;
  if (!rc && f->buf.len && f->buf.ptr[f->buf.len - 1] != '\n')
    rc = fleet_buf__putc(&f->buf, '\n');
  if (!rc)
    rc = stack_reserve(f, 1);
  if (rc) {
    note_error_locked(w, rc, 0, "spool: %s", fleet_error_last());
    wlog(w, FLEET_INFLUX_LOG_ERROR, "influx: cannot read the spool: %s", w->st.last_error);
    w->spool_pause_until_ms = now + 1000;
    fleet_buf_clear(&f->buf);
    return 0;
  }
  f->n = 0;
  push(f, 0, f->buf.len);
  f->source = SRC_SPOOL;
  f->seq = seq;
  f->batch_id = 0;
  return 1;
}

/* Choose the next thing to send into w->inf. Returns 1 when there is one. */
static int pick_locked(fleet_influx_writer_t *w, int64_t now)
{
  inflight_t *f = &w->inf;
  if (f->source == SRC_SPOOL && w->closing)
    inflight_clear(w); /* still in the spool; the next writer replays it */
  if (f->source != SRC_NONE)
    return 1;
  if (w->durable) {
    while (w->head && w->head->last_seq <= w->delivered_seq)
      batch_free(pop_head_locked(w));
    uint64_t next = w->delivered_seq + 1;
    if (next > w->spool_last_seq)
      return 0;
    if (w->head && w->head->first_seq == next)
      return take_mem_locked(w);
    if (w->closing || (!w->head && w->cur && w->cur->first_seq == next))
      return 0; /* shutting down, or the next record still fills the open batch */
    return now >= w->spool_pause_until_ms && take_spool_locked(w, now);
  }
  if (w->closing)
    return w->head ? take_mem_locked(w) : 0;
  int spool_has =
    w->spool && now >= w->spool_pause_until_ms && spool_records_locked(w) > 0;
  if (spool_has && (!w->head || w->prefer_spool || w->down) && take_spool_locked(w, now))
    return 1;
  return w->head ? take_mem_locked(w) : 0;
}

/* Concatenate what the in-flight batch has left (top of stack first). */
static int inflight_rest(fleet_influx_writer_t *w, fleet_buf_t *out, uint64_t *points)
{
  inflight_t *f = &w->inf;
  fleet_buf_clear(out);
  for (size_t i = f->n; i-- > 0;) {
    int rc = fleet_buf_append(out, f->buf.ptr + f->stack[i].a, f->stack[i].b - f->stack[i].a);
    if (rc)
      return rc;
  }
  *points = count_lines(out->ptr ? out->ptr : "", out->len);
  return 0;
}

static void finish_locked(fleet_influx_writer_t *w, int outcome, const post_result_t *res)
{
  inflight_t *f = &w->inf;
  int64_t now = mono_ms();
  if (outcome == OUT_ABORT)
    return;
  if (outcome == OUT_DONE) {
    if (f->source == SRC_SPOOL || (f->source == SRC_MEM && w->durable)) {
      int rc = fleet_spool_ack(w->spool, f->seq);
      if (rc)
        wlog(w, FLEET_INFLUX_LOG_WARNING,
             "influx: spool acknowledgement failed (the batch may be sent again "
             "after a restart): %s",
             fleet_error_last());
      if (w->durable && f->seq > w->delivered_seq)
        w->delivered_seq = f->seq;
    }
    if (f->source == SRC_SPOOL)
      w->st.batches_replayed++;
    w->st.batches_written++;
    if (w->down)
      wlog(w, FLEET_INFLUX_LOG_INFO, "influx: %s answers again; delivering%s", w->cfg.url,
           spool_records_locked(w) ? " and replaying the spool" : "");
    w->down = 0;
    w->attempts = 0;
    w->st.healthy = 1;
    w->prefer_spool = f->source == SRC_MEM;
    inflight_clear(w);
    return;
  }

  /* A failed attempt: schedule the retry. */
  w->st.retries++;
  w->attempts++;
  w->down = 1;
  w->st.healthy = 0;
  int64_t delay;
  int code;
  if (outcome == OUT_REFUSED) {
    delay = (int64_t)w->opts.config_retry_ms;
    delay += (int64_t)(rng_next(w) % ((uint64_t)delay / 10 + 1));
    code = fleet_influx__http_status_code(res->status);
  } else if (res->retry_after_ms >= 0) {
    /* Never sooner than the server asked, nor than our own first backoff
     * step (a "Retry-After: 0" must not become a busy loop). */
    delay = res->retry_after_ms > (int64_t)w->opts.retry_initial_ms
              ? res->retry_after_ms
              : (int64_t)w->opts.retry_initial_ms;
    delay += (int64_t)(rng_next(w) % ((uint64_t)delay / 10 + 1));
    code = res->status ? FLEET_ESERVER : FLEET_ENET;
  } else {
    unsigned int shift = w->attempts - 1 < 20 ? w->attempts - 1 : 20;
    uint64_t d = (uint64_t)w->opts.retry_initial_ms << shift;
    if (d > w->opts.retry_max_ms)
      d = w->opts.retry_max_ms;
    delay = (int64_t)(d / 2 + rng_next(w) % (d / 2 + 1));
    code = res->status ? FLEET_ESERVER : fleet_influx__curl_code(res->cc);
  }
  w->retry_at_ms = now + delay;
  if (res->status)
    note_error_locked(w, code, res->status, "HTTP %ld from %s: %s", res->status, w->cfg.url,
                      res->text[0] ? res->text : "no error text");
  else
    note_error_locked(w, code, 0, "%s: %s", w->cfg.url, res->text);

  /* Memory-first: what failed goes to the spool, so memory stays free and a
   * crash during the outage loses nothing more. */
  const char *kept = w->spool ? "kept in the spool" : "kept in memory";
  if (f->source == SRC_MEM && !w->durable && w->spool) {
    uint64_t pts = 0;
    if (inflight_rest(w, &w->scratch, &pts) == 0 &&
        spool_put_locked(w, w->scratch.ptr, w->scratch.len, NULL) == 0)
      inflight_clear(w);
    else
      kept = "kept in memory (the spool refused it)";
  }
  wlog(w, outcome == OUT_REFUSED ? FLEET_INFLUX_LOG_ERROR : FLEET_INFLUX_LOG_WARNING,
       "influx: write failed (attempt %u): %s; data %s, retrying in %" PRId64 " ms",
       w->attempts, w->st.last_error, kept, delay);
}

/* Memory-first, server down: move sealed batches to the spool. */
static void spill_locked(fleet_influx_writer_t *w)
{
  while (w->head) {
    if (spool_put_locked(w, w->head->data.ptr, w->head->data.len, NULL))
      return;
    batch_free(pop_head_locked(w));
  }
}

/* Thread exit: whatever is still in memory goes to the spool. */
static void shutdown_locked(fleet_influx_writer_t *w)
{
  inflight_t *f = &w->inf;
  uint64_t lost = 0;
  int rc = 0;
  if (f->source == SRC_MEM && !w->durable) {
    uint64_t pts = 0;
    int r = inflight_rest(w, &w->scratch, &pts);
    if (!r && !w->spool)
      r = fleet_error__set(FLEET_ETIMEOUT, "not delivered before the close deadline and no "
                                           "spool configured");
    if (!r)
      r = spool_put_locked(w, w->scratch.ptr, w->scratch.len, NULL);
    if (r) {
      lost += pts;
      rc = r;
    }
  }
  inflight_clear(w);
  seal_locked(w);
  while (w->head) {
    batch_t *b = pop_head_locked(w);
    if (!w->durable) {
      int r = w->spool ? spool_put_locked(w, b->data.ptr, b->data.len, NULL)
                       : FLEET_ETIMEOUT;
      if (r) {
        lost += b->points;
        rc = r;
      }
    }
    batch_free(b);
  }
  batch_free(w->cur);
  w->cur = NULL;
  w->mem_bytes = w->mem_points = 0;
  if (lost) {
    w->st.points_lost += lost;
    note_error_locked(w, rc, 0, "%" PRIu64 " lines lost at close: %s", lost,
                      w->spool ? "the spool refused them" : "no spool configured");
    wlog(w, FLEET_INFLUX_LOG_ERROR, "influx: %s", w->st.last_error);
    w->close_rc = rc;
  }
}

static void *writer_main(void *arg)
{
  fleet_influx_writer_t *w = arg;
  pthread_setname_np(pthread_self(), "fleet-influx");
  pthread_mutex_lock(&w->mu);
  for (;;) {
    int64_t now = mono_ms();
    if (w->closing) {
      seal_locked(w);
      if (now >= w->close_deadline_ms || (w->down && w->retry_at_ms >= w->close_deadline_ms))
        break;
    }
    int64_t interval = (int64_t)w->opts.flush_interval_ms;
    if (w->cur && w->cur->points && now - w->cur->born_ms >= interval)
      seal_locked(w);
    if (w->spool && !w->durable && w->down)
      spill_locked(w);
    if (w->spool && w->spool_fsync == FLEET_SPOOL_FSYNC_INTERVAL &&
        now - w->last_sync_ms >= (int64_t)w->spool_sync_ms) {
      if (fleet_spool_sync(w->spool))
        wlog(w, FLEET_INFLUX_LOG_ERROR, "influx: spool sync failed: %s", fleet_error_last());
      w->last_sync_ms = now;
    }

    int64_t wake = now + 1000;
    if (w->cur && w->cur->points && w->cur->born_ms + interval < wake)
      wake = w->cur->born_ms + interval;
    if (w->closing && w->close_deadline_ms < wake)
      wake = w->close_deadline_ms;
    int work = 0;
    if (w->down && now < w->retry_at_ms) {
      if (w->retry_at_ms < wake)
        wake = w->retry_at_ms;
    } else {
      work = pick_locked(w, now);
      if (!work && w->closing)
        break;
    }
    if (!work) {
      pthread_cond_broadcast(&w->cv_idle);
      struct timespec ts;
      abs_timespec(&ts, wake);
      pthread_cond_timedwait(&w->cv_work, &w->mu, &ts);
      continue;
    }

    pthread_mutex_unlock(&w->mu);
    post_result_t res;
    int outcome = deliver(w, &res);
    pthread_mutex_lock(&w->mu);
    finish_locked(w, outcome, &res);
    pthread_cond_broadcast(&w->cv_idle);
    if (outcome == OUT_ABORT)
      break;
  }
  shutdown_locked(w);
  pthread_cond_broadcast(&w->cv_idle);
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* Public writer API ------------------------------------------------------ */

int fleet_influx_writer_opts_init(fleet_influx_writer_opts_t *opts, unsigned int version)
{
  if (!opts)
    return fleet_error__set(FLEET_EINVAL, "opts: NULL");
  if (version != FLEET_INFLUX_WRITER_OPTS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "opts: version %u is not %d", version,
                            FLEET_INFLUX_WRITER_OPTS_VERSION);
  const fleet_influx_writer_opts_t def = FLEET_INFLUX_WRITER_OPTS_INIT;
  *opts = def;
  return 0;
}

static int check_opts(const fleet_influx_writer_opts_t *o)
{
  if (o->version != FLEET_INFLUX_WRITER_OPTS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "opts: version %u is not %d", o->version,
                            FLEET_INFLUX_WRITER_OPTS_VERSION);
  if (o->batch_max_points == 0)
    return fleet_error__set(FLEET_EINVAL, "batch_max_points: must be > 0");
  if (o->batch_max_bytes < 64)
    return fleet_error__set(FLEET_EINVAL, "batch_max_bytes: %zu is below 64",
                            o->batch_max_bytes);
  if (o->flush_interval_ms == 0)
    return fleet_error__set(FLEET_EINVAL, "flush_interval_ms: must be > 0");
  if (o->queue_max_bytes < o->batch_max_bytes)
    return fleet_error__set(FLEET_EINVAL,
                            "queue_max_bytes: %zu is smaller than batch_max_bytes (%zu)",
                            o->queue_max_bytes, o->batch_max_bytes);
  if (o->gzip_level < 0 || o->gzip_level > 9)
    return fleet_error__set(FLEET_EINVAL, "gzip_level: %d is not in [0, 9]", o->gzip_level);
  if (o->retry_initial_ms == 0 || o->retry_max_ms < o->retry_initial_ms)
    return fleet_error__set(FLEET_EINVAL,
                            "retry_initial_ms/retry_max_ms: need 0 < initial (%u) <= max (%u)",
                            o->retry_initial_ms, o->retry_max_ms);
  if (o->config_retry_ms == 0)
    return fleet_error__set(FLEET_EINVAL, "config_retry_ms: must be > 0");
  if (o->durable && (!o->spool_dir || !o->spool_dir[0]))
    return fleet_error__set(FLEET_EINVAL, "durable: needs spool_dir");
  if (o->log_level < FLEET_INFLUX_LOG_ERROR || o->log_level > FLEET_INFLUX_LOG_DEBUG)
    return fleet_error__set(FLEET_EINVAL, "log_level: %d is not a fleet_influx_log_level_t",
                            o->log_level);
  return 0;
}

static void on_spool_event(int event, uint64_t records, const char *message, void *userdata)
{
  (void)records;
  fleet_influx_writer_t *w = userdata;
  wlog(w,
       event == FLEET_SPOOL_EVENT_DROPPED ? FLEET_INFLUX_LOG_ERROR : FLEET_INFLUX_LOG_WARNING,
       "influx: %s", message);
}

static void writer_destroy(fleet_influx_writer_t *w)
{
  if (w->curl)
    curl_easy_cleanup(w->curl);
  if (w->multi)
    curl_multi_cleanup(w->multi);
  curl_slist_free_all(w->hdrs);
  if (w->z_ready)
    deflateEnd(&w->z);
  fleet_spool_free(w->spool);
  if (w->dl_fd >= 0)
    close(w->dl_fd);
  fleet_buf_dispose(&w->gz);
  fleet_buf_dispose(&w->pre_src);
  fleet_buf_dispose(&w->pre_gz);
  fleet_buf_dispose(&w->resp);
  fleet_buf_dispose(&w->dl);
  fleet_buf_dispose(&w->scratch);
  fleet_buf_dispose(&w->inf.buf);
  free(w->inf.stack);
  while (w->head)
    batch_free(pop_head_locked(w));
  batch_free(w->cur);
  pthread_cond_destroy(&w->cv_work);
  pthread_cond_destroy(&w->cv_idle);
  pthread_mutex_destroy(&w->mu);
  /* The configuration holds credentials. */
  memset(&w->cfg, 0, sizeof w->cfg);
  free(w);
}

static int writer_http_init(fleet_influx_writer_t *w)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  int rc = fleet_influx__curl_global_init();
  if (rc)
    return rc;
  if (!(w->curl = curl_easy_init()) || !(w->multi = curl_multi_init()))
    return fleet_error__set(FLEET_EINTERNAL, "curl_easy_init failed");
  if ((rc = fleet_influx__curl_setup(w->curl, &w->cfg)))
    return rc;
  if ((rc = fleet_influx__write_url(&b, &w->cfg)))
    goto out;
  CURLcode c = curl_easy_setopt(w->curl, CURLOPT_URL, b.ptr);
  if (c == CURLE_OK)
    c = curl_easy_setopt(w->curl, CURLOPT_ERRORBUFFER, w->curl_err);
#define ADD_HDR(s)                                                                      \
  do {                                                                                  \
    struct curl_slist *n_ = curl_slist_append(w->hdrs, (s));                            \
    if (!n_) {                                                                          \
      rc = fleet_error__oom();                                                          \
      goto out;                                                                         \
    }                                                                                   \
    w->hdrs = n_;                                                                       \
  } while (0)
  ADD_HDR("Content-Type: text/plain; charset=utf-8");
  ADD_HDR("Expect:");
  if (w->opts.gzip_level > 0)
    ADD_HDR("Content-Encoding: gzip");
  if ((rc = fleet_influx__auth_header(&b, &w->cfg)))
    goto out;
  if (b.len)
    ADD_HDR(b.ptr);
#undef ADD_HDR
  if (c == CURLE_OK)
    c = curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, w->hdrs);
  if (c == CURLE_OK)
    c = curl_easy_setopt(w->curl, CURLOPT_POST, 1L);
  if (c == CURLE_OK)
    c = curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, on_body);
  if (c == CURLE_OK)
    c = curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, w);
  if (c == CURLE_OK)
    c = curl_easy_setopt(w->curl, CURLOPT_HEADERFUNCTION, on_header);
  if (c == CURLE_OK)
    c = curl_easy_setopt(w->curl, CURLOPT_HEADERDATA, w);
  if (c == CURLE_OK)
    c = curl_easy_setopt(w->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  if (c == CURLE_OK)
    c = curl_easy_setopt(w->curl, CURLOPT_XFERINFODATA, w);
  if (c == CURLE_OK)
    c = curl_easy_setopt(w->curl, CURLOPT_NOPROGRESS, 0L);
  if (c != CURLE_OK)
    rc = fleet_error__set(FLEET_EINTERNAL, "libcurl option: %s", curl_easy_strerror(c));
out:
  if (b.ptr)
    memset(b.ptr, 0, b.cap);
  fleet_buf_dispose(&b);
  return rc;
}

int fleet_influx_writer_new(fleet_influx_writer_t **out, const fleet_influx_config_t *cfg,
                            const fleet_influx_writer_opts_t *opts)
{
  if (!out)
    return fleet_error__set(FLEET_EINVAL, "out: NULL");
  *out = NULL;
  int rc = fleet_influx_config_validate(cfg);
  if (rc)
    return rc;
  fleet_influx_writer_opts_t o = FLEET_INFLUX_WRITER_OPTS_INIT;
  if (opts)
    o = *opts;
  if ((rc = check_opts(&o)))
    return rc;

  fleet_influx_writer_t *w = calloc(1, sizeof *w);
  if (!w)
    return fleet_error__oom();
  w->cfg = *cfg;
  w->opts = o;
  w->opts.spool_dir = NULL;
  w->opts.spool_opts = NULL;
  w->opts.dead_letter_path = NULL;
  w->durable = o.durable != 0;
  w->dl_fd = -1;
  w->st.version = FLEET_INFLUX_WRITER_STATS_VERSION;
  w->st.healthy = 1;
  atomic_init(&w->abort_at_ms, INT64_MAX);
  w->rng = (uint64_t)mono_ms() ^ ((uint64_t)(uintptr_t)w << 16) ^ 0x9E3779B97F4A7C15ULL;
  if (!w->rng)
    w->rng = 1;

  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv_work, &ca);
  pthread_cond_init(&w->cv_idle, &ca);
  pthread_condattr_destroy(&ca);

  if (o.dead_letter_path && o.dead_letter_path[0]) {
    w->dl_fd = open(o.dead_letter_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (w->dl_fd < 0) {
      rc = fleet_error__set(FLEET_EIO, "dead_letter_path: cannot open '%.300s': %s",
                            o.dead_letter_path, strerror(errno));
      goto fail;
    }
  }

  if (o.spool_dir && o.spool_dir[0]) {
    fleet_spool_options_t so = FLEET_SPOOL_OPTIONS_INIT;
    if (o.spool_opts)
      so = *o.spool_opts;
    if (!so.on_event) {
      so.on_event = on_spool_event;
      so.event_userdata = w;
    }
    rc = fleet_spool_open(&w->spool, o.spool_dir, &so);
    if (rc)
      goto fail;
    if (fleet_error_last_code() == FLEET_ECORRUPT)
      wlog(w, FLEET_INFLUX_LOG_WARNING, "influx: spool repaired: %s", fleet_error_last());
    w->spool_fsync = so.fsync_policy;
    w->spool_sync_ms = so.fsync_interval_ms ? so.fsync_interval_ms : 1000;
    fleet_spool_stats_t ss;
    memset(&ss, 0, sizeof ss);
    ss.version = FLEET_SPOOL_STATS_VERSION;
    if ((rc = fleet_spool_get_stats(&ss, w->spool)))
      goto fail;
    w->delivered_seq = ss.acked_seq;
    w->spool_last_seq = ss.next_seq ? ss.next_seq - 1 : 0;
    if (ss.records)
      wlog(w, FLEET_INFLUX_LOG_INFO, "influx: spool %s holds %" PRIu64
           " undelivered records; replaying", o.spool_dir, ss.records);
  }
  w->last_sync_ms = mono_ms();

  if ((rc = writer_http_init(w)))
    goto fail;
  if (o.gzip_level > 0) {
    if (deflateInit2(&w->z, o.gzip_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      rc = fleet_error__set(FLEET_EINTERNAL, "zlib: deflateInit2 failed");
      goto fail;
    }
    w->z_ready = 1;
  }

  if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
    rc = fleet_error__set(FLEET_EINTERNAL, "influx writer: cannot start its thread");
    goto fail;
  }
  w->thread_running = 1;
  *out = w;
  return 0;

fail:
  writer_destroy(w);
  return rc;
}

static int idle_locked(fleet_influx_writer_t *w)
{
  if ((w->cur && w->cur->points) || w->head || w->inf.source != SRC_NONE)
    return 0;
  if (!w->spool)
    return 1;
  if (w->durable)
    return w->delivered_seq >= w->spool_last_seq;
  return spool_records_locked(w) == 0;
}

int fleet_influx_writer_flush(fleet_influx_writer_t *w, unsigned int timeout_ms)
{
  if (!w)
    return fleet_error__set(FLEET_EINVAL, "influx writer: NULL");
  pthread_mutex_lock(&w->mu);
  if (w->closing) {
    pthread_mutex_unlock(&w->mu);
    return fleet_error__set(FLEET_ECLOSED, "influx writer: closed");
  }
  seal_locked(w);
  pthread_cond_signal(&w->cv_work);
  int64_t deadline = mono_ms() + (int64_t)timeout_ms;
  int rc = 0;
  for (;;) {
    /* Closing empties the queues whether or not the data was delivered: it
     * must not pass for a completed flush. */
    if (w->closing) {
      rc = fleet_error__set(FLEET_ECLOSED, "influx writer: closed while flushing");
      break;
    }
    if (idle_locked(w))
      break;
    if (mono_ms() >= deadline) {
      rc = fleet_error__set(FLEET_ETIMEOUT,
                            "influx writer: not everything delivered within %u ms "
                            "(last error: %s)",
                            timeout_ms, w->st.last_error[0] ? w->st.last_error : "none");
      break;
    }
    struct timespec ts;
    abs_timespec(&ts, deadline);
    pthread_cond_timedwait(&w->cv_idle, &w->mu, &ts);
  }
  pthread_mutex_unlock(&w->mu);
  return rc;
}

int fleet_influx_writer_close(fleet_influx_writer_t *w, unsigned int timeout_ms)
{
  if (!w)
    return fleet_error__set(FLEET_EINVAL, "influx writer: NULL");
  pthread_mutex_lock(&w->mu);
  if (w->closing) {
    pthread_mutex_unlock(&w->mu);
    return 0;
  }
  w->closing = 1;
  w->close_deadline_ms = mono_ms() + (int64_t)timeout_ms;
  atomic_store(&w->abort_at_ms, w->close_deadline_ms);
  seal_locked(w);
  pthread_cond_broadcast(&w->cv_work);
  pthread_cond_broadcast(&w->cv_idle);
  pthread_mutex_unlock(&w->mu);

  if (w->thread_running) {
    pthread_join(w->thread, NULL);
    w->thread_running = 0;
  }

  pthread_mutex_lock(&w->mu);
  int rc = w->close_rc;
  if (w->spool) {
    if (fleet_spool_sync(w->spool))
      wlog(w, FLEET_INFLUX_LOG_ERROR, "influx: spool sync at close failed: %s",
           fleet_error_last());
    w->spool_final.version = FLEET_SPOOL_STATS_VERSION;
    fleet_spool_get_stats(&w->spool_final, w->spool);
    fleet_spool_free(w->spool);
    w->spool = NULL;
  }
  w->closed = 1;
  pthread_mutex_unlock(&w->mu);
  if (rc)
    return fleet_error__set(rc, "influx writer: %s", w->st.last_error);
  return 0;
}

void fleet_influx_writer_free(fleet_influx_writer_t *w)
{
  if (!w)
    return;
  if (!w->closed)
    fleet_influx_writer_close(w, 0);
  writer_destroy(w);
}

int fleet_influx_writer_get_stats(fleet_influx_writer_stats_t *out, fleet_influx_writer_t *w)
{
  if (!out || !w)
    return fleet_error__set(FLEET_EINVAL, "influx writer stats: NULL argument");
  if (out->version != FLEET_INFLUX_WRITER_STATS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "stats: version %u is not %d", out->version,
                            FLEET_INFLUX_WRITER_STATS_VERSION);
  pthread_mutex_lock(&w->mu);
  *out = w->st;
  out->queue_points = w->mem_points + w->inf_points;
  out->queue_bytes = w->mem_bytes + w->inf_bytes;
  fleet_spool_stats_t ss;
  memset(&ss, 0, sizeof ss);
  ss.version = FLEET_SPOOL_STATS_VERSION;
  if (w->spool)
    fleet_spool_get_stats(&ss, w->spool);
  else if (w->closed)
    ss = w->spool_final;
  out->spool_records = ss.records;
  out->spool_bytes = ss.bytes;
  out->avg_latency_us = w->lat_n ? w->lat_sum_us / w->lat_n : 0;
  pthread_mutex_unlock(&w->mu);
  return 0;
}
