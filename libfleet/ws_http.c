/*
 * ws_http: the HTTP side of the gateway and the libwebsockets callback.
 * Upgrade checks (path, Origin, client limit, token) before the 101, REST
 * routing with token, role and body-size checks, the static mount, /healthz,
 * and response writing: headers in one write, then the body one chunk per
 * WRITEABLE callback.
 *
 * Every HTTP request ends in exactly one fleet_ws_response_t: an error made
 * here, a handler's, or a static file. A response made while a request body
 * is still arriving waits for the body to end (it is read and discarded) so
 * the connection stays usable; a handler's response may also be deferred and
 * finished from another thread, in which case it reaches the service thread
 * through gw->finished and is written from the next WRITEABLE callback.
 */
#include "common_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ws_int.h"

typedef struct fleet_ws__arg {
  char *name;
  char *value;
} fleet_ws__arg_t;

struct fleet_ws_request {
  struct fleet_ws__http *txn;
};

struct fleet_ws_response {
  fleet_ws_t *gw;
  struct fleet_ws__http *txn; /**< NULL once abandoned */
  fleet_ws_response_t *next;  /**< in gw->finished */
  int status;
  char *content_type;
  char **hnames, **hvalues;
  size_t n_headers, cap_headers;
  int has_cache_control;
  fleet_buf_t body;
  int fd; /**< a static file to send instead of `body`, or -1 */
  uint64_t file_size;
  int deferred, finished, abandoned; /**< under gw->lock once deferred */
  int in_handler; /**< under gw->lock: the route handler is still running */
};

typedef struct fleet_ws__http {
  int kind; /**< FLEET_WS__CONN_HTTP */
  fleet_ws_t *gw;
  struct lws *wsi;
  char peer[FLEET_WS__PEER_MAX];

  /* the request */
  int meth;
  char method[8];
  char *path;
  const fleet_ws__route_t *route;
  const char *subpath;
  fleet_ws__arg_t *args;
  size_t n_args;
  char *query_token;
  fleet_auth_claims_t *claims;
  fleet_buf_t body;
  int has_body, body_done, discard_body, dispatch_on_body;
  char **hvals; /**< header values handed to the handler */
  size_t n_hvals;
  fleet_ws_request_t req;
  int is_static;

  /* the response */
  fleet_ws_response_t *resp;
  int resp_ready;
  int headers_sent;
  int head_only;
  int close_after;
  uint64_t out_off;

  /* an accepted upgrade, waiting for LWS_CALLBACK_ESTABLISHED */
  fleet_auth_claims_t *up_claims;
  char *up_token;
  size_t up_token_len;
} fleet_ws__http_t;

static const char *const method_names[] = {"GET",   "POST",   "OPTIONS", "PUT",
                                           "PATCH", "DELETE", "CONNECT", "HEAD"};

/* ------------------------------------------------------------------------ */
/* Pure helpers                                                             */
/* ------------------------------------------------------------------------ */

int fleet_ws__cookie_value(const char **out, size_t *out_len, const char *header,
                           const char *name)
{
  if (!header || !name)
    return 0;
  size_t nl = strlen(name);
  const char *p = header;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ';')
      p++;
    const char *eq = p;
    while (*eq && *eq != '=' && *eq != ';')
      eq++;
    const char *end = eq;
    while (*end && *end != ';')
      end++;
    if (*eq == '=' && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0) {
      const char *v = eq + 1;
      size_t vl = (size_t)(end - v);
      while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
      if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
        v++;
        vl -= 2;
      }
      *out = v;
      *out_len = vl;
      return 1;
    }
    p = end;
  }
  return 0;
}

int fleet_ws__bearer(const char **out, size_t *out_len, const char *header)
{
  if (!header)
    return 0;
  while (*header == ' ' || *header == '\t')
    header++;
  if (strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
    return 0;
  const char *t = header + 7;
  while (*t == ' ' || *t == '\t')
    t++;
  size_t n = strlen(t);
  while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
    n--;
  if (!n)
    return 0;
  *out = t;
  *out_len = n;
  return 1;
}

int fleet_ws__origin_allowed(const fleet_ws_t *gw, const char *origin, const char *host, int tls)
{
  if (!origin || !*origin)
    return 0;
  for (size_t i = 0; i < gw->n_origins; i++)
    if (strcasecmp(origin, gw->origins[i]) == 0)
      return 1;
  if (!host || !*host)
    return 0;
  const char *scheme = tls ? "https://" : "http://";
  size_t sl = strlen(scheme);
  return strncasecmp(origin, scheme, sl) == 0 && strcasecmp(origin + sl, host) == 0;
}

static const struct {
  const char *ext;
  const char *type;
} mime_table[] = {
  {"html", "text/html; charset=utf-8"},
  {"htm", "text/html; charset=utf-8"},
  {"js", "text/javascript; charset=utf-8"},
  {"mjs", "text/javascript; charset=utf-8"},
  {"css", "text/css; charset=utf-8"},
  {"json", "application/json"},
  {"map", "application/json"},
  {"geojson", "application/geo+json"},
  {"webmanifest", "application/manifest+json"},
  {"svg", "image/svg+xml"},
  {"png", "image/png"},
  {"jpg", "image/jpeg"},
  {"jpeg", "image/jpeg"},
  {"gif", "image/gif"},
  {"webp", "image/webp"},
  {"avif", "image/avif"},
  {"ico", "image/x-icon"},
  {"wasm", "application/wasm"},
  {"woff2", "font/woff2"},
  {"woff", "font/woff"},
  {"ttf", "font/ttf"},
  {"otf", "font/otf"},
  {"pbf", "application/x-protobuf"},
  {"mvt", "application/vnd.mapbox-vector-tile"},
  {"txt", "text/plain; charset=utf-8"},
  {"csv", "text/csv; charset=utf-8"},
  {"xml", "application/xml"},
  {"pdf", "application/pdf"},
};

const char *fleet_ws__mime_type(const char *path)
{
  const char *slash = strrchr(path, '/');
  const char *dot = strrchr(slash ? slash : path, '.');
  if (dot && dot[1])
    for (size_t i = 0; i < FLEET_ARRAY_LEN(mime_table); i++)
      if (strcasecmp(dot + 1, mime_table[i].ext) == 0)
        return mime_table[i].type;
  return "application/octet-stream";
}

const char *fleet_ws__cache_control(const char *path)
{
  if (strncmp(path, "/assets/", 8) == 0)
    return "public, max-age=31536000, immutable";
  return "no-cache";
}

int fleet_ws__static_path_ok(const char *path)
{
  if (!path || path[0] != '/')
    return 0;
  for (const char *p = path; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch < 0x20 || ch == 0x7f || ch == '\\')
      return 0;
    if (ch == '/' && p[1] == '.')
      return 0;
  }
  return 1;
}

int fleet_ws__spa_fallback(const char *path, const char *accept)
{
  if (!path || !accept || !strstr(accept, "text/html"))
    return 0;
  if (strcmp(path, "/api") == 0 || strncmp(path, "/api/", 5) == 0)
    return 0;
  const char *last = strrchr(path, '/');
  return !strchr(last ? last : path, '.');
}

int fleet_ws__prefix_check(const char *prefix)
{
  if (!prefix || prefix[0] != '/')
    return fleet_error__set(FLEET_EINVAL, "prefix: must start with '/'");
  size_t n = strlen(prefix);
  if (n > 255)
    return fleet_error__set(FLEET_EINVAL, "prefix: over 255 bytes");
  if (n > 1 && prefix[n - 1] == '/')
    return fleet_error__set(FLEET_EINVAL, "prefix: '%s' must not end with '/'", prefix);
  for (const char *p = prefix; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch <= 0x20 || ch >= 0x7f || ch == '?' || ch == '#' || ch == '\\' || ch == '%')
      return fleet_error__set(FLEET_EINVAL, "prefix: '%.80s' has a character not allowed in a path",
                              prefix);
    if (ch == '/') {
      if (p[1] == '/')
        return fleet_error__set(FLEET_EINVAL, "prefix: '%s' has an empty segment", prefix);
      if (p[1] == '.' && (p[2] == '/' || !p[2] || (p[2] == '.' && (p[3] == '/' || !p[3]))))
        return fleet_error__set(FLEET_EINVAL, "prefix: '%s' has a '.' or '..' segment", prefix);
    }
  }
  return 0;
}

int fleet_ws__prefix_match(const char *prefix, size_t prefix_len, const char *path)
{
  if (prefix_len == 1)
    return 1;
  return strncmp(path, prefix, prefix_len) == 0 &&
         (path[prefix_len] == '\0' || path[prefix_len] == '/');
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                */
/* ------------------------------------------------------------------------ */

static fleet_ws_response_t *resp_new(fleet_ws_t *gw)
{
  fleet_ws_response_t *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->gw = gw;
  r->status = 200;
  r->fd = -1;
  r->content_type = malloc(sizeof "application/json");
  if (!r->content_type) {
    free(r);
    return NULL;
  }
  memcpy(r->content_type, "application/json", sizeof "application/json");
  return r;
}

void fleet_ws__response_free(fleet_ws_response_t *r)
{
  if (!r)
    return;
  for (size_t i = 0; i < r->n_headers; i++) {
    free(r->hnames[i]);
    free(r->hvalues[i]);
  }
  free(r->hnames);
  free(r->hvalues);
  free(r->content_type);
  fleet_buf_dispose(&r->body);
  if (r->fd >= 0)
    close(r->fd);
  free(r);
}

static int header_name_ok(const char *n)
{
  if (!*n)
    return 0;
  for (; *n; n++)
    if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
          strchr("!#$%&'*+.^_`|~-", *n)))
      return 0;
  return 1;
}

static int header_value_ok(const char *v, size_t max)
{
  size_t n = 0;
  for (; *v; v++, n++)
    if (((unsigned char)*v < 0x20 && *v != '\t') || (unsigned char)*v == 0x7f)
      return 0;
  return n <= max;
}

int fleet_ws_response_set_status(fleet_ws_response_t *resp, int status)
{
  if (!resp || status < 100 || status > 599)
    return fleet_error__set(FLEET_EINVAL, "status: %d is not an HTTP status (100-599)", status);
  resp->status = status;
  return 0;
}

int fleet_ws_response_set_content_type(fleet_ws_response_t *resp, const char *type)
{
  if (!resp)
    return fleet_error__set(FLEET_EINVAL, "resp: NULL");
  if (!type) {
    free(resp->content_type);
    resp->content_type = NULL;
    return 0;
  }
  if (!*type || !header_value_ok(type, 255))
    return fleet_error__set(FLEET_EINVAL, "content type: must be 1-255 printable bytes");
  size_t n = strlen(type) + 1;
  char *c = malloc(n);
  if (!c)
    return fleet_error__oom();
  memcpy(c, type, n);
  free(resp->content_type);
  resp->content_type = c;
  return 0;
}

int fleet_ws_response_add_header(fleet_ws_response_t *resp, const char *name, const char *value)
{
  if (!resp || !name || !value)
    return fleet_error__set(FLEET_EINVAL, "add_header: NULL argument");
  if (!header_name_ok(name) || strlen(name) > 64)
    return fleet_error__set(FLEET_EINVAL, "header name '%.64s' is not an HTTP token", name);
  static const char *const reserved[] = {"content-length", "content-type", "connection",
                                         "transfer-encoding", "date"};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(reserved); i++)
    if (strcasecmp(name, reserved[i]) == 0)
      return fleet_error__set(FLEET_EINVAL, "header '%s' is set by the gateway", name);
  if (!header_value_ok(value, 8192))
    return fleet_error__set(FLEET_EINVAL,
                            "header '%s': value must be printable, without CR/LF, at most 8 KiB",
                            name);
  if (resp->n_headers == resp->cap_headers) {
    size_t nc = resp->cap_headers ? resp->cap_headers * 2 : 4;
    char **nn = realloc(resp->hnames, nc * sizeof *nn);
    if (!nn)
      return fleet_error__oom();
    resp->hnames = nn;
    char **nv = realloc(resp->hvalues, nc * sizeof *nv);
    if (!nv)
      return fleet_error__oom();
    resp->hvalues = nv;
    resp->cap_headers = nc;
  }
  size_t nl = strlen(name), vl = strlen(value);
  char *n = malloc(nl + 2), *v = malloc(vl + 1);
  if (!n || !v) {
    free(n);
    free(v);
    return fleet_error__oom();
  }
  for (size_t i = 0; i < nl; i++)
    n[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] - 'A' + 'a' : name[i]);
  n[nl] = ':';
  n[nl + 1] = '\0';
  memcpy(v, value, vl + 1);
  if (strcmp(n, "cache-control:") == 0)
    resp->has_cache_control = 1;
  resp->hnames[resp->n_headers] = n;
  resp->hvalues[resp->n_headers] = v;
  resp->n_headers++;
  return 0;
}

fleet_buf_t *fleet_ws_response_body(fleet_ws_response_t *resp)
{
  return resp ? &resp->body : NULL;
}

static void put_json_text(fleet_buf_t *b, const char *s)
{
  fleet_buf__putc(b, '"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      fleet_buf__putc(b, '\\');
      fleet_buf__putc(b, (char)ch);
    } else if (ch < 0x20) {
      fleet_buf__printf(b, "\\u%04x", ch);
    } else {
      fleet_buf__putc(b, (char)ch);
    }
  }
  fleet_buf__putc(b, '"');
}

int fleet_ws_response_error(fleet_ws_response_t *resp, int status, const char *error,
                            const char *detail)
{
  if (!resp || !error)
    return fleet_error__set(FLEET_EINVAL, "response_error: NULL argument");
  int rc = fleet_ws_response_set_status(resp, status);
  if (!rc)
    rc = fleet_ws_response_set_content_type(resp, "application/json");
  if (rc)
    return rc;
  fleet_buf_clear(&resp->body);
  fleet_buf__puts(&resp->body, "{\"error\":");
  put_json_text(&resp->body, error);
  if (detail) {
    fleet_buf__puts(&resp->body, ",\"detail\":");
    put_json_text(&resp->body, detail);
  }
  if (fleet_buf__putc(&resp->body, '}'))
    return fleet_error__oom();
  return 0;
}

int fleet_ws_response_finish(fleet_ws_response_t *resp)
{
  if (!resp)
    return fleet_error__set(FLEET_EINVAL, "resp: NULL");
  fleet_ws_t *gw = resp->gw;
  pthread_mutex_lock(&gw->lock);
  /* A worker thread may finish before the handler that handed it the response
   * has returned FLEET_WS_DEFER: that counts as deferred. The handler itself
   * (on the service thread) cannot finish its own response. */
  int early = resp->in_handler && !pthread_equal(pthread_self(), gw->thread);
  if (!(resp->deferred || early) || resp->finished) {
    pthread_mutex_unlock(&gw->lock);
    return fleet_error__set(FLEET_EINVAL, "resp: not a deferred response, or finished already");
  }
  resp->deferred = 1;
  resp->finished = 1;
  if (resp->abandoned) {
    pthread_mutex_unlock(&gw->lock);
    fleet_ws__response_free(resp);
    return 0;
  }
  resp->next = gw->finished;
  gw->finished = resp;
  if (gw->ctx && !gw->wake_pending) {
    gw->wake_pending = 1;
    lws_cancel_service(gw->ctx);
  }
  pthread_mutex_unlock(&gw->lock);
  return 0;
}

int fleet_ws_response_abandoned(const fleet_ws_response_t *resp)
{
  if (!resp)
    return 0;
  pthread_mutex_lock(&resp->gw->lock);
  int a = resp->abandoned;
  pthread_mutex_unlock(&resp->gw->lock);
  return a;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

const char *fleet_ws_request_method(const fleet_ws_request_t *req)
{
  return req ? req->txn->method : "";
}

const char *fleet_ws_request_path(const fleet_ws_request_t *req)
{
  return req && req->txn->path ? req->txn->path : "";
}

const char *fleet_ws_request_subpath(const fleet_ws_request_t *req)
{
  return req && req->txn->subpath ? req->txn->subpath : "";
}

const char *fleet_ws_request_query(const fleet_ws_request_t *req, const char *name)
{
  if (!req || !name)
    return NULL;
  for (size_t i = 0; i < req->txn->n_args; i++)
    if (strcmp(req->txn->args[i].name, name) == 0)
      return req->txn->args[i].value;
  return NULL;
}

size_t fleet_ws_request_query_count(const fleet_ws_request_t *req)
{
  return req ? req->txn->n_args : 0;
}

int fleet_ws_request_query_at(const char **out_name, const char **out_value,
                              const fleet_ws_request_t *req, size_t index)
{
  if (!out_name || !out_value || !req || index >= req->txn->n_args)
    return fleet_error__set(FLEET_EINVAL, "query_at: NULL argument or index out of range");
  *out_name = req->txn->args[index].name;
  *out_value = req->txn->args[index].value;
  return 0;
}

const char *fleet_ws_request_body(const fleet_ws_request_t *req, size_t *out_len)
{
  if (out_len)
    *out_len = req ? req->txn->body.len : 0;
  return req && req->txn->body.ptr ? req->txn->body.ptr : "";
}

const fleet_auth_claims_t *fleet_ws_request_claims(const fleet_ws_request_t *req)
{
  return req ? req->txn->claims : NULL;
}

const char *fleet_ws_request_peer(const fleet_ws_request_t *req)
{
  return req ? req->txn->peer : "";
}

/* Copy a header (by lws token) into a malloc'ed string; NULL when absent. */
static char *hdr_dup(struct lws *wsi, enum lws_token_indexes t)
{
  int n = lws_hdr_total_length(wsi, t);
  if (n <= 0)
    return NULL;
  char *s = malloc((size_t)n + 1);
  if (!s)
    return NULL;
  if (lws_hdr_copy(wsi, s, n + 1, t) < 0) {
    free(s);
    return NULL;
  }
  return s;
}

const char *fleet_ws_request_header(const fleet_ws_request_t *req, const char *name)
{
  if (!req || !name)
    return NULL;
  fleet_ws__http_t *txn = req->txn;
  char key[80];
  size_t nl = strlen(name);
  if (nl == 0 || nl > 64)
    return NULL;
  for (size_t i = 0; i < nl; i++)
    key[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] - 'A' + 'a' : name[i]);
  key[nl] = ':';
  key[nl + 1] = '\0';
  if (strcmp(key, "authorization:") == 0 || strcmp(key, "cookie:") == 0)
    return NULL;
  char *val = NULL;
  int known = 0;
  for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
    const unsigned char *tn = lws_token_to_string((enum lws_token_indexes)t);
    if (tn && strcmp((const char *)tn, key) == 0) {
      known = 1;
      val = hdr_dup(txn->wsi, (enum lws_token_indexes)t);
      break;
    }
  }
  if (!known) {
    int n = lws_hdr_custom_length(txn->wsi, key, (int)nl + 1);
    if (n < 0)
      return NULL;
    val = malloc((size_t)n + 1);
    if (val && lws_hdr_custom_copy(txn->wsi, val, n + 1, key, (int)nl + 1) < 0) {
      free(val);
      val = NULL;
    }
  }
  if (!val)
    return NULL;
  char **nv = realloc(txn->hvals, (txn->n_hvals + 1) * sizeof *nv);
  if (!nv) {
    free(val);
    return NULL;
  }
  txn->hvals = nv;
  txn->hvals[txn->n_hvals++] = val;
  return val;
}

/* ------------------------------------------------------------------------ */
/* Transactions                                                             */
/* ------------------------------------------------------------------------ */

/* Let go of the response: free it, or mark a deferred one abandoned. */
static void txn_drop_resp(fleet_ws__http_t *txn)
{
  fleet_ws_response_t *r = txn->resp;
  txn->resp = NULL;
  if (!r)
    return;
  pthread_mutex_lock(&txn->gw->lock);
  int deferred = r->deferred;
  if (deferred) {
    r->abandoned = 1;
    r->txn = NULL;
  }
  pthread_mutex_unlock(&txn->gw->lock);
  if (!deferred)
    fleet_ws__response_free(r);
}

static void txn_reset(fleet_ws__http_t *txn)
{
  txn_drop_resp(txn);
  free(txn->path);
  txn->path = NULL;
  for (size_t i = 0; i < txn->n_args; i++) {
    free(txn->args[i].name);
    free(txn->args[i].value);
  }
  free(txn->args);
  txn->args = NULL;
  txn->n_args = 0;
  if (txn->query_token) {
    memset(txn->query_token, 0, strlen(txn->query_token));
    free(txn->query_token);
    txn->query_token = NULL;
  }
  fleet_auth_claims_free(txn->claims);
  txn->claims = NULL;
  fleet_buf_dispose(&txn->body);
  for (size_t i = 0; i < txn->n_hvals; i++)
    free(txn->hvals[i]);
  free(txn->hvals);
  txn->hvals = NULL;
  txn->n_hvals = 0;
  fleet_auth_claims_free(txn->up_claims);
  txn->up_claims = NULL;
  free(txn->up_token);
  txn->up_token = NULL;
  txn->route = NULL;
  txn->subpath = NULL;
  txn->has_body = txn->body_done = txn->discard_body = txn->dispatch_on_body = 0;
  txn->resp_ready = txn->headers_sent = txn->head_only = txn->close_after = 0;
  txn->is_static = 0;
  txn->out_off = 0;
  txn->method[0] = '\0';
}

static void txn_free(fleet_ws__http_t *txn)
{
  txn_reset(txn);
  free(txn);
}

static fleet_ws__http_t *txn_get(fleet_ws_t *gw, struct lws *wsi)
{
  fleet_ws__http_t *txn = lws_get_opaque_user_data(wsi);
  if (txn && txn->kind == FLEET_WS__CONN_HTTP) {
    txn_reset(txn);
  } else if (!txn) {
    txn = calloc(1, sizeof *txn);
    if (!txn)
      return NULL;
    txn->kind = FLEET_WS__CONN_HTTP;
    txn->gw = gw;
    txn->wsi = wsi;
    txn->req.txn = txn;
    lws_set_opaque_user_data(wsi, txn);
  } else {
    return NULL;
  }
  txn->peer[0] = '\0';
  lws_get_peer_simple(wsi, txn->peer, sizeof txn->peer);
  if (!txn->peer[0])
    snprintf(txn->peer, sizeof txn->peer, "?");
  return txn;
}

/* The query: decoded name=value fragments; access_token is set aside. */
static int parse_args(fleet_ws__http_t *txn)
{
  char frag[4096];
  for (int i = 0;; i++) {
    int n = lws_hdr_copy_fragment(txn->wsi, frag, (int)sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0)
      break;
    const char *eq = strchr(frag, '=');
    size_t nl = eq ? (size_t)(eq - frag) : strlen(frag);
    const char *val = eq ? eq + 1 : "";
    if (nl == 12 && memcmp(frag, "access_token", 12) == 0) {
      if (!txn->query_token) {
        size_t vl = strlen(val) + 1;
        txn->query_token = malloc(vl);
        if (!txn->query_token)
          return FLEET_ENOMEM;
        memcpy(txn->query_token, val, vl);
      }
      memset(frag, 0, sizeof frag);
      continue;
    }
    fleet_ws__arg_t *na = realloc(txn->args, (txn->n_args + 1) * sizeof *na);
    if (!na)
      return FLEET_ENOMEM;
    txn->args = na;
    char *name = malloc(nl + 1);
    size_t vl = strlen(val);
    char *value = malloc(vl + 1);
    if (!name || !value) {
      free(name);
      free(value);
      return FLEET_ENOMEM;
    }
    memcpy(name, frag, nl);
    name[nl] = '\0';
    memcpy(value, val, vl + 1);
    txn->args[txn->n_args].name = name;
    txn->args[txn->n_args].value = value;
    txn->n_args++;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Writing responses                                                        */
/* ------------------------------------------------------------------------ */

static const char *status_text(int status)
{
  switch (status) {
  case 200: return "OK";
  case 204: return "No Content";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 411: return "Length Required";
  case 413: return "Payload Too Large";
  case 426: return "Upgrade Required";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  default: return "";
  }
}

static int add_hdr(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                   unsigned char *end)
{
  return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                     (const unsigned char *)value, (int)strlen(value), p, end);
}

static void count_status(fleet_ws_t *gw, int status)
{
  if (status >= 400 && status < 500)
    FLEET_WS__INC(gw, st_http_4xx);
  else if (status >= 500)
    FLEET_WS__INC(gw, st_http_5xx);
  if (status == 401)
    FLEET_WS__INC(gw, st_auth_failures);
  else if (status == 403)
    FLEET_WS__INC(gw, st_forbidden);
}

/*
 * Write the status line and headers. `manual_status`: write the status line
 * ourselves (inside LWS_CALLBACK_HTTP_CONFIRM_UPGRADE lws does not know the
 * request's HTTP version yet and would answer HTTP/1.0).
 */
static int write_headers(fleet_ws__http_t *txn, fleet_ws_response_t *r, uint64_t body_len,
                         int manual_status)
{
  size_t need = 1024;
  for (size_t i = 0; i < r->n_headers; i++)
    need += strlen(r->hnames[i]) + strlen(r->hvalues[i]) + 4;
  unsigned char *buf = malloc(LWS_PRE + need);
  if (!buf)
    return -1;
  unsigned char *start = buf + LWS_PRE, *p = start, *end = start + need;
  int rc = 0;
  if (manual_status) {
    int n = snprintf((char *)p, (size_t)(end - p), "HTTP/1.1 %d %s\r\n", r->status,
                     status_text(r->status));
    p += n;
  } else {
    rc = lws_add_http_header_status(txn->wsi, (unsigned int)r->status, &p, end);
  }
  if (!rc) {
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    rc = add_hdr(txn->wsi, "date:", date, &p, end);
  }
  if (!rc && r->content_type && r->status != 204 && r->status != 304)
    rc = add_hdr(txn->wsi, "content-type:", r->content_type, &p, end);
  if (!rc && r->status != 204 && r->status != 304) {
    char cl[32];
    snprintf(cl, sizeof cl, "%llu", (unsigned long long)body_len);
    rc = add_hdr(txn->wsi, "content-length:", cl, &p, end);
  }
  for (size_t i = 0; !rc && i < r->n_headers; i++)
    rc = add_hdr(txn->wsi, r->hnames[i], r->hvalues[i], &p, end);
  if (!rc && !r->has_cache_control)
    rc = add_hdr(txn->wsi, "cache-control:", "no-store", &p, end);
  if (!rc)
    rc = add_hdr(txn->wsi, "x-content-type-options:", "nosniff", &p, end);
  if (!rc && txn->close_after)
    rc = add_hdr(txn->wsi, "connection:", "close", &p, end);
  if (!rc)
    rc = lws_finalize_write_http_header(txn->wsi, start, &p, end);
  free(buf);
  return rc ? -1 : 0;
}

static uint64_t resp_body_len(const fleet_ws_response_t *r)
{
  if (r->status == 204 || r->status == 304)
    return 0;
  return r->fd >= 0 ? r->file_size : r->body.len;
}

/* Done with this request: next one on the connection, or close. */
static int txn_complete(fleet_ws__http_t *txn)
{
  int close_after = txn->close_after;
  struct lws *wsi = txn->wsi;
  txn_reset(txn);
  if (close_after)
    return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int send_body_chunk(fleet_ws__http_t *txn)
{
  fleet_ws_t *gw = txn->gw;
  fleet_ws_response_t *r = txn->resp;
  uint64_t total = resp_body_len(r);
  uint64_t left = total - txn->out_off;
  size_t n = left > FLEET_WS__CHUNK ? FLEET_WS__CHUNK : (size_t)left;
  unsigned char *dst = gw->wbuf + LWS_PRE;
  if (r->fd >= 0) {
    ssize_t got = pread(r->fd, dst, n, (off_t)txn->out_off);
    if (got != (ssize_t)n) {
      fleet_ws__log(gw, FLEET_WS_LOG_WARNING, "%s: static file changed while being sent",
                    txn->path ? txn->path : "?");
      return -1;
    }
  } else {
    memcpy(dst, r->body.ptr + txn->out_off, n);
  }
  int final = txn->out_off + n == total;
  if (lws_write(txn->wsi, dst, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
    return -1;
  txn->out_off += n;
  if (final)
    return txn_complete(txn);
  lws_callback_on_writable(txn->wsi);
  return 0;
}

/* Write the headers of txn->resp; the body follows from WRITEABLE callbacks. */
static int start_response(fleet_ws__http_t *txn)
{
  fleet_ws_t *gw = txn->gw;
  fleet_ws_response_t *r = txn->resp;
  txn->resp_ready = 1;
  count_status(gw, r->status);
  if (txn->is_static && (r->status == 200 || r->status == 304))
    FLEET_WS__INC(gw, st_static_served);
  uint64_t len = resp_body_len(r);
  fleet_ws__log(gw, FLEET_WS_LOG_DEBUG, "%s %s %s -> %d (%llu bytes)", txn->peer, txn->method,
                txn->path ? txn->path : "?", r->status, (unsigned long long)len);
  if (write_headers(txn, r, len, 0) < 0)
    return -1;
  txn->headers_sent = 1;
  if (txn->head_only || len == 0)
    return txn_complete(txn);
  lws_callback_on_writable(txn->wsi);
  return 0;
}

/* Send `r` for this request (now, or once the request body has been read). */
static int respond(fleet_ws__http_t *txn, fleet_ws_response_t *r)
{
  txn->resp = r;
  r->txn = txn;
  if (txn->has_body && !txn->body_done) {
    txn->discard_body = 1;
    txn->dispatch_on_body = 0;
    txn->resp_ready = 1;
    return 0;
  }
  return start_response(txn);
}

static int respond_error(fleet_ws__http_t *txn, int status, const char *error,
                         const char *detail)
{
  fleet_ws_response_t *r = resp_new(txn->gw);
  if (!r || fleet_ws_response_error(r, status, error, detail) != 0) {
    fleet_ws__response_free(r);
    return -1;
  }
  if (status == 401)
    fleet_ws_response_add_header(r, "WWW-Authenticate", "Bearer");
  return respond(txn, r);
}

/* ------------------------------------------------------------------------ */
/* Tokens                                                                   */
/* ------------------------------------------------------------------------ */

enum { TOKEN_NONE = 0, TOKEN_FOUND = 1, TOKEN_ERROR = -1 };

/*
 * Find the request's token: Authorization header (exclusive), else the
 * access_token query parameter, else the cookie when `cookie_ok`.
 * *out is malloc'ed (TOKEN_FOUND); *src names where it came from.
 */
static int find_token(char **out, size_t *out_len, const char **src, fleet_ws_t *gw,
                      struct lws *wsi, const char *query_token, int cookie_ok)
{
  const char *t = NULL;
  size_t tl = 0;
  char *hdr = hdr_dup(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
  if (hdr) {
    *src = "Authorization header";
    if (!fleet_ws__bearer(&t, &tl, hdr)) {
      free(hdr);
      return TOKEN_NONE;
    }
  } else if (query_token && *query_token) {
    *src = "access_token parameter";
    t = query_token;
    tl = strlen(query_token);
  } else if (cookie_ok) {
    hdr = hdr_dup(wsi, WSI_TOKEN_HTTP_COOKIE);
    *src = "cookie";
    if (!hdr || !fleet_ws__cookie_value(&t, &tl, hdr, gw->cookie_name) || !tl) {
      free(hdr);
      return TOKEN_NONE;
    }
  } else {
    *src = "nothing";
    return TOKEN_NONE;
  }
  char *copy = malloc(tl + 1);
  if (copy) {
    memcpy(copy, t, tl);
    copy[tl] = '\0';
  }
  if (hdr) {
    memset(hdr, 0, strlen(hdr));
    free(hdr);
  }
  if (!copy)
    return TOKEN_ERROR;
  *out = copy;
  *out_len = tl;
  return TOKEN_FOUND;
}

/*
 * Verify the request's token. Returns 0 with *claims set (and, when
 * `keep_token`, the token in *token), 401 when there is no valid token, -1
 * on out of memory.
 */
static int check_token(fleet_auth_claims_t **claims, char **token, size_t *token_len,
                       fleet_ws__http_t *txn, int cookie_ok, const char *what)
{
  fleet_ws_t *gw = txn->gw;
  char *tok = NULL;
  size_t tl = 0;
  const char *src = "";
  int f = find_token(&tok, &tl, &src, gw, txn->wsi, txn->query_token, cookie_ok);
  if (f == TOKEN_ERROR)
    return -1;
  if (f == TOKEN_NONE) {
    fleet_ws__log(gw, FLEET_WS_LOG_WARNING, "%s %s: 401: no bearer token (%s)", txn->peer, what,
                  src);
    return 401;
  }
  int rc = fleet_auth_verify(claims, gw->verifier, tok, tl, FLEET_AUTH_TOKEN_ACCESS);
  if (rc != 0) {
    memset(tok, 0, tl);
    free(tok);
    if (rc == FLEET_ENOMEM)
      return -1;
    fleet_ws__log(gw, FLEET_WS_LOG_WARNING, "%s %s: 401: token from the %s refused: %s",
                  txn->peer, what, src, fleet_error_last());
    return 401;
  }
  if (token) {
    *token = tok;
    *token_len = tl;
  } else {
    memset(tok, 0, tl);
    free(tok);
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The upgrade                                                              */
/* ------------------------------------------------------------------------ */

/* Refuse an upgrade with a JSON body (inside LWS_CALLBACK_HTTP_CONFIRM_UPGRADE). */
static int refuse_upgrade(fleet_ws__http_t *txn, int status, const char *error)
{
  fleet_ws_response_t *r = resp_new(txn->gw);
  if (!r || fleet_ws_response_error(r, status, error, NULL) != 0) {
    fleet_ws__response_free(r);
    return -1;
  }
  if (status == 401)
    fleet_ws_response_add_header(r, "WWW-Authenticate", "Bearer");
  if (status == 503)
    fleet_ws_response_add_header(r, "Retry-After", "5");
  count_status(txn->gw, status);
  fleet_ws__log(txn->gw, FLEET_WS_LOG_DEBUG, "%s GET %s (upgrade) -> %d", txn->peer,
                txn->path ? txn->path : "?", status);
  int rc = write_headers(txn, r, r->body.len, 1);
  if (!rc) {
    memcpy(txn->gw->wbuf + LWS_PRE, r->body.ptr, r->body.len);
    if (lws_write(txn->wsi, txn->gw->wbuf + LWS_PRE, r->body.len, LWS_WRITE_HTTP_FINAL) < 0)
      rc = -1;
  }
  fleet_ws__response_free(r);
  txn_reset(txn);
  return rc ? -1 : 1;
}

static int confirm_upgrade(fleet_ws_t *gw, struct lws *wsi, const char *proto)
{
  fleet_ws__http_t *txn = txn_get(gw, wsi);
  if (!txn)
    return -1;
  strcpy(txn->method, "GET");
  txn->path = hdr_dup(wsi, WSI_TOKEN_GET_URI);
  /*
   * Only WebSocket. An h2c upgrade cannot be ignored from here (lws would
   * switch protocols), and lws 4.1 loses the body of a POST upgraded to h2c.
   */
  if (!proto || strcmp(proto, "websocket") != 0)
    return refuse_upgrade(txn, 400, "unsupported upgrade");
  if (!txn->path || strcmp(txn->path, FLEET_WS_PATH) != 0)
    return refuse_upgrade(txn, 404, "not found");
  char *origin = hdr_dup(wsi, WSI_TOKEN_ORIGIN);
  char *host = hdr_dup(wsi, WSI_TOKEN_HOST);
  int origin_ok = origin && fleet_ws__origin_allowed(gw, origin, host, gw->tls_cert != NULL);
  if (origin && !origin_ok)
    fleet_ws__log(gw, FLEET_WS_LOG_WARNING, "%s GET %s: 403: origin '%.100s' is not allowed",
                  txn->peer, FLEET_WS_PATH, origin);
  int had_origin = origin != NULL;
  free(origin);
  free(host);
  if (had_origin && !origin_ok)
    return refuse_upgrade(txn, 403, "forbidden");
  if (gw->draining || gw->n_clients >= gw->max_clients) {
    fleet_ws__log(gw, FLEET_WS_LOG_WARNING, "%s GET %s: 503: %s", txn->peer, FLEET_WS_PATH,
                  gw->draining ? "stopping" : "max_clients reached");
    return refuse_upgrade(txn, 503, "unavailable");
  }
  if (parse_args(txn))
    return -1;
  fleet_auth_claims_t *claims = NULL;
  char *tok = NULL;
  size_t tl = 0;
  int rc = check_token(&claims, &tok, &tl, txn, origin_ok, "GET " FLEET_WS_PATH);
  if (rc < 0)
    return -1;
  if (rc == 401)
    return refuse_upgrade(txn, 401, "unauthorized");
  txn->up_claims = claims;
  txn->up_token = tok;
  txn->up_token_len = tl;
  return 0;
}

static int established(fleet_ws_t *gw, struct lws *wsi)
{
  fleet_ws__http_t *txn = lws_get_opaque_user_data(wsi);
  if (!txn || txn->kind != FLEET_WS__CONN_HTTP || !txn->up_claims)
    return -1;
  char peer[FLEET_WS__PEER_MAX];
  memcpy(peer, txn->peer, sizeof peer);
  fleet_auth_claims_t *claims = txn->up_claims;
  char *tok = txn->up_token;
  size_t tl = txn->up_token_len;
  txn->up_claims = NULL;
  txn->up_token = NULL;
  lws_set_opaque_user_data(wsi, NULL);
  txn_free(txn);
  if (fleet_ws__client_open(gw, wsi, claims, tok, tl, peer) != 0) {
    fleet_auth_claims_free(claims);
    free(tok);
    fleet_ws__log(gw, FLEET_WS_LOG_ERROR, "%s: out of memory accepting a WebSocket client", peer);
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Static files                                                             */
/* ------------------------------------------------------------------------ */

/*
 * Open `rel` under the root. Returns an fd (and fills *st), -1 when there is no
 * such regular file inside the root, -2 when the path resolves outside it.
 */
static int static_open(fleet_ws_t *gw, const char *rel, struct stat *st)
{
  size_t rl = strlen(rel);
  char *full = malloc(gw->static_root_len + rl + 1);
  if (!full)
    return -1;
  memcpy(full, gw->static_root, gw->static_root_len);
  memcpy(full + gw->static_root_len, rel, rl + 1);
  char *real = realpath(full, NULL);
  free(full);
  if (!real)
    return -1;
  if (strncmp(real, gw->static_root, gw->static_root_len) != 0 ||
      real[gw->static_root_len] != '/') {
    free(real);
    return -2;
  }
  int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  free(real);
  if (fd < 0)
    return -1;
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
    close(fd);
    return -1;
  }
  return fd;
}

static int serve_file(fleet_ws__http_t *txn, int fd, const struct stat *st, const char *name)
{
  fleet_ws_response_t *r = resp_new(txn->gw);
  if (!r) {
    close(fd);
    return -1;
  }
  char etag[64];
  snprintf(etag, sizeof etag, "W/\"%llx-%llx\"", (unsigned long long)st->st_size,
           (unsigned long long)st->st_mtim.tv_sec * 1000000000ull +
               (unsigned long long)st->st_mtim.tv_nsec);
  char *inm = hdr_dup(txn->wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH);
  int not_modified = inm && (strstr(inm, etag + 2) != NULL || strcmp(inm, "*") == 0);
  free(inm);
  int rc = fleet_ws_response_set_content_type(r, fleet_ws__mime_type(name));
  if (!rc)
    rc = fleet_ws_response_add_header(r, "Cache-Control", fleet_ws__cache_control(name));
  if (!rc)
    rc = fleet_ws_response_add_header(r, "ETag", etag);
  if (rc) {
    close(fd);
    fleet_ws__response_free(r);
    return -1;
  }
  if (not_modified) {
    r->status = 304;
    close(fd);
  } else {
    r->fd = fd;
    r->file_size = (uint64_t)st->st_size;
  }
  return respond(txn, r);
}

static int serve_static(fleet_ws__http_t *txn)
{
  fleet_ws_t *gw = txn->gw;
  const char *path = txn->path;
  txn->is_static = 1;
  if (!gw->static_root)
    return respond_error(txn, 404, "not found", NULL);
  if (txn->meth != LWSHUMETH_GET && txn->meth != LWSHUMETH_HEAD) {
    fleet_ws_response_t *r = resp_new(gw);
    if (!r || fleet_ws_response_error(r, 405, "method not allowed", NULL) ||
        fleet_ws_response_add_header(r, "Allow", "GET, HEAD")) {
      fleet_ws__response_free(r);
      return -1;
    }
    return respond(txn, r);
  }
  if (!fleet_ws__static_path_ok(path))
    return respond_error(txn, 404, "not found", NULL);
  struct stat st;
  const char *rel = strcmp(path, "/") == 0 ? "/index.html" : path;
  int fd = static_open(gw, rel, &st);
  if (fd >= 0)
    return serve_file(txn, fd, &st, rel);
  if (fd == -2) {
    fleet_ws__log(gw, FLEET_WS_LOG_WARNING, "%s %s: 404: resolves outside static_root",
                  txn->peer, path);
    return respond_error(txn, 404, "not found", NULL);
  }
  char *accept = hdr_dup(txn->wsi, WSI_TOKEN_HTTP_ACCEPT);
  int spa = fleet_ws__spa_fallback(path, accept);
  free(accept);
  if (spa && (fd = static_open(gw, "/index.html", &st)) >= 0)
    return serve_file(txn, fd, &st, "/index.html");
  return respond_error(txn, 404, "not found", NULL);
}

/* ------------------------------------------------------------------------ */
/* Routes                                                                   */
/* ------------------------------------------------------------------------ */

int fleet_ws_route_add(fleet_ws_t *gw, const char *method, const char *prefix, int min_role,
                       fleet_ws_route_cb cb, void *userdata)
{
  if (!gw || !method || !cb)
    return fleet_error__set(FLEET_EINVAL, "route_add: NULL argument");
  if (gw->running)
    return fleet_error__set(FLEET_ESTATE, "route_add: stop the gateway first");
  int ok = strcmp(method, "*") == 0;
  for (size_t i = 0; !ok && i < FLEET_ARRAY_LEN(method_names); i++)
    ok = strcmp(method, method_names[i]) == 0 && strcmp(method, "CONNECT") != 0;
  if (!ok)
    return fleet_error__set(FLEET_EINVAL,
                            "method: '%.16s' is not GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS "
                            "or *",
                            method);
  int rc = fleet_ws__prefix_check(prefix);
  if (rc)
    return rc;
  if (min_role != FLEET_WS_ROLE_PUBLIC && min_role != FLEET_AUTH_ROLE_VIEWER &&
      min_role != FLEET_AUTH_ROLE_ADMIN)
    return fleet_error__set(FLEET_EINVAL, "min_role: %d is not public, viewer or admin", min_role);
  if (strcmp(prefix, FLEET_WS_PATH) == 0 || strcmp(prefix, FLEET_WS_HEALTH_PATH) == 0)
    return fleet_error__set(FLEET_EEXISTS, "prefix: '%s' is built into the gateway", prefix);
  for (size_t i = 0; i < gw->n_routes; i++)
    if (strcmp(gw->routes[i].prefix, prefix) == 0 && strcmp(gw->routes[i].method, method) == 0)
      return fleet_error__set(FLEET_EEXISTS, "route %s %s exists already", method, prefix);
  if (gw->n_routes == gw->cap_routes) {
    size_t nc = gw->cap_routes ? gw->cap_routes * 2 : 8;
    fleet_ws__route_t *nr = realloc(gw->routes, nc * sizeof *nr);
    if (!nr)
      return fleet_error__oom();
    gw->routes = nr;
    gw->cap_routes = nc;
  }
  fleet_ws__route_t *r = &gw->routes[gw->n_routes];
  memset(r, 0, sizeof *r);
  r->prefix_len = strlen(prefix);
  r->prefix = malloc(r->prefix_len + 1);
  if (!r->prefix)
    return fleet_error__oom();
  memcpy(r->prefix, prefix, r->prefix_len + 1);
  snprintf(r->method, sizeof r->method, "%s", method);
  r->min_role = min_role;
  r->cb = cb;
  r->userdata = userdata;
  gw->n_routes++;
  return 0;
}

static int method_matches(const char *route_method, const char *method)
{
  return strcmp(route_method, "*") == 0 || strcmp(route_method, method) == 0 ||
         (strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/*
 * Find the route: longest matching prefix, then the method. Returns the
 * route, or NULL with *prefix_hit set when some route's prefix matched but
 * not its method (then `allow` lists the methods of that prefix).
 */
static const fleet_ws__route_t *route_find(const fleet_ws_t *gw, const char *path,
                                           const char *method, int *prefix_hit, char *allow,
                                           size_t allow_len)
{
  size_t best = 0;
  int found = 0;
  for (size_t i = 0; i < gw->n_routes; i++) {
    const fleet_ws__route_t *r = &gw->routes[i];
    if (r->prefix_len >= best && fleet_ws__prefix_match(r->prefix, r->prefix_len, path)) {
      best = r->prefix_len;
      found = 1;
    }
  }
  *prefix_hit = found;
  if (!found)
    return NULL;
  allow[0] = '\0';
  for (size_t i = 0; i < gw->n_routes; i++) {
    const fleet_ws__route_t *r = &gw->routes[i];
    if (r->prefix_len != best || !fleet_ws__prefix_match(r->prefix, r->prefix_len, path))
      continue;
    if (method_matches(r->method, method))
      return r;
    size_t al = strlen(allow);
    snprintf(allow + al, allow_len - al, "%s%s", al ? ", " : "", r->method);
  }
  return NULL;
}

static int dispatch(fleet_ws__http_t *txn)
{
  fleet_ws_t *gw = txn->gw;
  fleet_ws_response_t *r = resp_new(gw);
  if (!r)
    return -1;
  txn->resp = r;
  r->txn = txn;
  fleet_error_clear();
  pthread_mutex_lock(&gw->lock);
  r->in_handler = 1;
  pthread_mutex_unlock(&gw->lock);
  int rc = txn->route->cb(r, &txn->req, txn->route->userdata);
  pthread_mutex_lock(&gw->lock);
  r->in_handler = 0;
  /* Finished from another thread already: it is queued for this (service)
   * thread, which sends it on its next turn. */
  int finished_early = r->finished;
  if (rc == FLEET_WS_DEFER || finished_early)
    r->deferred = 1;
  pthread_mutex_unlock(&gw->lock);
  if (rc == FLEET_WS_DEFER || finished_early) {
    txn->resp_ready = 0;
    lws_set_timeout(txn->wsi, NO_PENDING_TIMEOUT, 0);
    return 0;
  }
  if (rc != 0) {
    FLEET_WS__INC(gw, st_handler_errors);
    fleet_ws__log(gw, FLEET_WS_LOG_WARNING, "%s %s %s: handler failed: %s (%s)", txn->peer,
                  txn->method, txn->path, fleet_status_name(rc) ? fleet_status_name(rc) : "?",
                  fleet_error_last());
    if (fleet_ws_response_error(r, 500, "internal error", NULL) != 0)
      return -1;
    for (size_t i = 0; i < r->n_headers; i++) {
      free(r->hnames[i]);
      free(r->hvalues[i]);
    }
    r->n_headers = 0;
    r->has_cache_control = 0;
  }
  return start_response(txn);
}

void fleet_ws__http_finished(fleet_ws_t *gw, fleet_ws_response_t *list)
{
  while (list) {
    fleet_ws_response_t *r = list;
    list = r->next;
    r->next = NULL;
    pthread_mutex_lock(&gw->lock);
    int abandoned = r->abandoned;
    if (!abandoned)
      r->deferred = 0;
    pthread_mutex_unlock(&gw->lock);
    if (abandoned) {
      fleet_ws__response_free(r);
      continue;
    }
    fleet_ws__http_t *txn = r->txn;
    txn->resp_ready = 1;
    lws_callback_on_writable(txn->wsi);
  }
}

static int http_request(fleet_ws_t *gw, struct lws *wsi)
{
  fleet_ws__http_t *txn = txn_get(gw, wsi);
  if (!txn)
    return -1;
  FLEET_WS__INC(gw, st_http_requests);
  char *uri = NULL;
  int ulen = 0;
  int meth = lws_http_get_uri_and_method(wsi, &uri, &ulen);
  if (meth < 0 || meth > LWSHUMETH_HEAD || meth == LWSHUMETH_CONNECT || !uri || ulen <= 0) {
    strcpy(txn->method, "?");
    txn->close_after = 1;
    return respond_error(txn, 400, "bad request", NULL);
  }
  txn->meth = meth;
  snprintf(txn->method, sizeof txn->method, "%s", method_names[meth]);
  txn->head_only = meth == LWSHUMETH_HEAD;
  txn->path = malloc((size_t)ulen + 1);
  if (!txn->path)
    return -1;
  memcpy(txn->path, uri, (size_t)ulen);
  txn->path[ulen] = '\0';
  if (txn->path[0] != '/' || strlen(txn->path) != (size_t)ulen) {
    txn->close_after = 1;
    return respond_error(txn, 400, "bad request", NULL);
  }
  if (parse_args(txn))
    return -1;

  /* The body: only Content-Length framing (lws 4.1 reads no chunked request bodies). */
  char *te = hdr_dup(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING);
  if (te) {
    free(te);
    txn->close_after = 1;
    return respond_error(txn, 411, "length required", "send the body with a Content-Length");
  }
  uint64_t clen = 0;
  char *cl = hdr_dup(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
  if (cl) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(cl, &end, 10);
    /* Digits only (RFC 9110): "+5", " 5" or "5 " parse elsewhere too, and a
     * proxy in front that reads them otherwise would frame the body differently. */
    int bad = errno || end == cl || *end || cl[strspn(cl, "0123456789")] != '\0';
    free(cl);
    if (bad) {
      txn->close_after = 1;
      return respond_error(txn, 400, "bad request", "malformed Content-Length");
    }
    clen = v;
  } else if (meth == LWSHUMETH_POST || meth == LWSHUMETH_PUT || meth == LWSHUMETH_PATCH) {
    /*
     * lws 4.1 waits for a body after these methods when no Content-Length
     * came, so the connection would hang until its timeout: answer, then close.
     */
    txn->close_after = 1;
  }
  txn->has_body = clen > 0;
  if (clen > gw->max_body) {
    /* Read and drop a moderately large body to keep the connection; close on a huge one. */
    if (clen > (uint64_t)gw->max_body * 16 + 1048576)
      txn->close_after = 1;
    if (txn->close_after)
      txn->has_body = 0;
    char detail[96];
    snprintf(detail, sizeof detail, "the limit is %zu bytes", gw->max_body);
    return respond_error(txn, 413, "payload too large", detail);
  }

  const char *path = txn->path;
  if (strcmp(path, FLEET_WS_HEALTH_PATH) == 0) {
    if (meth != LWSHUMETH_GET && meth != LWSHUMETH_HEAD)
      return respond_error(txn, 405, "method not allowed", NULL);
    fleet_ws_response_t *r = resp_new(gw);
    if (!r || fleet_ws_response_set_content_type(r, "text/plain; charset=utf-8") ||
        fleet_buf__puts(&r->body, "ok\n")) {
      fleet_ws__response_free(r);
      return -1;
    }
    return respond(txn, r);
  }
  if (strcmp(path, FLEET_WS_PATH) == 0) {
    fleet_ws_response_t *r = resp_new(gw);
    if (!r || fleet_ws_response_error(r, 426, "upgrade required", "open a WebSocket here") ||
        fleet_ws_response_add_header(r, "Upgrade", "websocket")) {
      fleet_ws__response_free(r);
      return -1;
    }
    return respond(txn, r);
  }

  int prefix_hit = 0;
  char allow[128];
  const fleet_ws__route_t *route =
      route_find(gw, path, txn->method, &prefix_hit, allow, sizeof allow);
  if (!route && prefix_hit) {
    fleet_ws_response_t *r = resp_new(gw);
    if (!r || fleet_ws_response_error(r, 405, "method not allowed", NULL) ||
        fleet_ws_response_add_header(r, "Allow", allow)) {
      fleet_ws__response_free(r);
      return -1;
    }
    return respond(txn, r);
  }
  if (!route) {
    if (strcmp(path, "/api") == 0 || strncmp(path, "/api/", 5) == 0)
      return respond_error(txn, 404, "not found", NULL);
    return serve_static(txn);
  }

  txn->route = route;
  txn->subpath = path + (route->prefix_len == 1 ? 0 : route->prefix_len);
  char *origin = hdr_dup(wsi, WSI_TOKEN_ORIGIN);
  char *host = origin ? hdr_dup(wsi, WSI_TOKEN_HOST) : NULL;
  int cookie_ok = origin ? fleet_ws__origin_allowed(gw, origin, host, gw->tls_cert != NULL)
                         : (meth == LWSHUMETH_GET || meth == LWSHUMETH_HEAD);
  free(origin);
  free(host);
  char what[300];
  snprintf(what, sizeof what, "%s %.255s", txn->method, path);
  if (route->min_role == FLEET_WS_ROLE_PUBLIC) {
    /* A valid token is passed on; a missing or bad one does not matter here. */
    char *tok = NULL;
    size_t tl = 0;
    const char *src;
    if (find_token(&tok, &tl, &src, gw, wsi, txn->query_token, cookie_ok) == TOKEN_FOUND) {
      if (fleet_auth_verify(&txn->claims, gw->verifier, tok, tl, FLEET_AUTH_TOKEN_ACCESS) != 0)
        txn->claims = NULL;
      memset(tok, 0, tl);
      free(tok);
    }
  } else {
    int rc = check_token(&txn->claims, NULL, NULL, txn, cookie_ok, what);
    if (rc < 0)
      return -1;
    if (rc == 401)
      return respond_error(txn, 401, "unauthorized", NULL);
    if ((int)fleet_auth_claims_role(txn->claims) < route->min_role) {
      fleet_ws__log(gw, FLEET_WS_LOG_WARNING, "%s %s: 403: '%s' is %s, the route needs %s",
                    txn->peer, what, fleet_auth_claims_subject(txn->claims),
                    fleet_auth_role_name(fleet_auth_claims_role(txn->claims)),
                    fleet_auth_role_name((fleet_auth_role_t)route->min_role));
      return respond_error(txn, 403, "forbidden", NULL);
    }
  }
  if (txn->has_body) {
    txn->dispatch_on_body = 1;
    return 0;
  }
  return dispatch(txn);
}

static int http_body(fleet_ws__http_t *txn, const void *in, size_t len)
{
  if (txn->discard_body || !txn->dispatch_on_body)
    return 0;
  if (txn->body.len + len > txn->gw->max_body)
    return -1; /* cannot happen with Content-Length framing; never buffer past the limit */
  return fleet_buf_append(&txn->body, in, len) ? -1 : 0;
}

static int http_body_done(fleet_ws__http_t *txn)
{
  txn->body_done = 1;
  if (txn->resp && txn->resp_ready && !txn->headers_sent)
    return start_response(txn);
  if (txn->dispatch_on_body) {
    txn->dispatch_on_body = 0;
    return dispatch(txn);
  }
  return 0;
}

static int http_writeable(fleet_ws__http_t *txn)
{
  if (!txn->resp || !txn->resp_ready)
    return 0;
  if (!txn->headers_sent)
    return start_response(txn);
  return send_body_chunk(txn);
}

/* ------------------------------------------------------------------------ */
/* The callback                                                             */
/* ------------------------------------------------------------------------ */

int fleet_ws__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
  (void)user;
  if (!wsi)
    return 0;
  struct lws_context *ctx = lws_get_context(wsi);
  fleet_ws_t *gw = ctx ? lws_context_user(ctx) : NULL;
  if (!gw)
    return 0;
  void *op = wsi ? lws_get_opaque_user_data(wsi) : NULL;
  int kind = op ? *(int *)op : 0;
  fleet_ws__http_t *txn = kind == FLEET_WS__CONN_HTTP ? op : NULL;
  fleet_ws__client_t *client = kind == FLEET_WS__CONN_CLIENT ? op : NULL;

  switch (reason) {
  case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
    if (gw->tcp_sndbuf) {
      int fd = (int)lws_get_socket_fd(wsi);
      if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &gw->tcp_sndbuf, sizeof gw->tcp_sndbuf);
    }
    return 0;
  case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
    fleet_ws__drain(gw);
    return 0;
  case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    return confirm_upgrade(gw, wsi, in);
  case LWS_CALLBACK_ESTABLISHED:
    return established(gw, wsi);
  case LWS_CALLBACK_RECEIVE:
    return client ? fleet_ws__client_receive(client, in, len) : -1;
  case LWS_CALLBACK_SERVER_WRITEABLE:
    return client ? fleet_ws__client_writeable(client) : 0;
  case LWS_CALLBACK_CLOSED:
    if (client)
      fleet_ws__client_close(client);
    return 0;
  case LWS_CALLBACK_HTTP:
    return http_request(gw, wsi);
  case LWS_CALLBACK_HTTP_BODY:
    return txn ? http_body(txn, in, len) : -1;
  case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    return txn ? http_body_done(txn) : -1;
  case LWS_CALLBACK_HTTP_WRITEABLE:
    return txn ? http_writeable(txn) : 0;
  case LWS_CALLBACK_CLOSED_HTTP:
  case LWS_CALLBACK_WSI_DESTROY:
    if (txn) {
      lws_set_opaque_user_data(wsi, NULL);
      txn_free(txn);
    } else if (client) {
      fleet_ws__client_close(client);
    }
    return 0;
  default:
    return 0;
  }
}
