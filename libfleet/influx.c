/* influx: connection configuration, shared HTTP helpers, the batched writer. */
#include "common_int.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

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
