/*
 * ws: gateway lifecycle (options, start/stop, the service thread), the
 * vehicle table fed by the publish calls, the hand-over of published state
 * to the service thread, counters and the libwebsockets log bridge.
 *
 * Publishing is a producer/consumer hand-over: a publisher formats its JSON
 * on its own thread, then under gw->lock replaces the vehicle's pending data
 * (latest wins), puts the vehicle on the `changed` list once, and wakes the
 * service thread with lws_cancel_service() -- only when no wake-up is pending
 * yet, so a burst of publishes costs one wake-up. The service thread swaps the
 * lists out under the lock (fleet_ws__drain()) and does the fan-out without it.
 */
#include "common_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ws_int.h"

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

int64_t fleet_ws__now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fleet_ws__log(fleet_ws_t *gw, int level, const char *fmt, ...)
{
  if (!gw || !gw->log_cb || level > gw->log_level)
    return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  gw->log_cb(level, line, gw->userdata);
}

static char *dup_str(const char *s)
{
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

/* Grow an array of `elem`-byte items so that one more fits. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
  if (n < *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : 16;
  if (nc > SIZE_MAX / elem)
    return FLEET_ENOMEM;
  void *p = realloc(*arr, nc * elem);
  if (!p)
    return FLEET_ENOMEM;
  *arr = p;
  *cap = nc;
  return 0;
}

fleet_ws__msg_t *fleet_ws__msg_new(uint32_t kind, const char *data, size_t len)
{
  if (len > SIZE_MAX - sizeof(fleet_ws__msg_t) - 1)
    return NULL;
  fleet_ws__msg_t *m = malloc(sizeof *m + len + 1);
  if (!m)
    return NULL;
  m->refs = 1;
  m->kind = kind;
  m->items = 1;
  m->len = len;
  if (data && len)
    memcpy(m->data, data, len);
  m->data[len] = '\0';
  return m;
}

void fleet_ws__msg_unref(fleet_ws__msg_t *m)
{
  if (m && --m->refs == 0)
    free(m);
}

char *fleet_ws__redact(char *s)
{
  static const char key[] = "access_token=";
  char *p = s;
  while (p && (p = strstr(p, key)) != NULL) {
    char *v = p + sizeof key - 1;
    char *e = v;
    while (*e && *e != '&' && *e != ' ' && *e != '"' && *e != '\'' && *e != '\n')
      e++;
    if (e - v > 3) {
      memcpy(v, "***", 3);
      memmove(v + 3, e, strlen(e) + 1);
    } else if (e > v) {
      memset(v, '*', (size_t)(e - v));
    }
    p = v;
  }
  return s;
}

/* ------------------------------------------------------------------------ */
/* libwebsockets log bridge                                                 */
/* ------------------------------------------------------------------------ */

/*
 * lws logging is process-wide with no context pointer (4.1), so its lines go
 * to every running gateway's hook. Without this, lws writes to stderr.
 */
static pthread_mutex_t lwslog_lock = PTHREAD_MUTEX_INITIALIZER;
static fleet_ws_t *lwslog_gws[32];
static size_t lwslog_n;

static void lwslog_emit(int level, const char *line)
{
  char buf[512];
  snprintf(buf, sizeof buf, "libwebsockets: %s", line);
  size_t n = strlen(buf);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  fleet_ws__redact(buf);
  int our = (level & LLL_ERR) ? FLEET_WS_LOG_ERROR : FLEET_WS_LOG_WARNING;
  pthread_mutex_lock(&lwslog_lock);
  for (size_t i = 0; i < lwslog_n; i++)
    fleet_ws__log(lwslog_gws[i], our, "%s", buf);
  pthread_mutex_unlock(&lwslog_lock);
}

static void lwslog_register(fleet_ws_t *gw)
{
  pthread_mutex_lock(&lwslog_lock);
  if (lwslog_n < FLEET_ARRAY_LEN(lwslog_gws))
    lwslog_gws[lwslog_n++] = gw;
  lws_set_log_level(LLL_ERR | LLL_WARN, lwslog_emit);
  pthread_mutex_unlock(&lwslog_lock);
}

static void lwslog_unregister(fleet_ws_t *gw)
{
  pthread_mutex_lock(&lwslog_lock);
  for (size_t i = 0; i < lwslog_n; i++)
    if (lwslog_gws[i] == gw) {
      lwslog_gws[i] = lwslog_gws[--lwslog_n];
      break;
    }
  pthread_mutex_unlock(&lwslog_lock);
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

int fleet_ws_options_init(fleet_ws_options_t *opts, unsigned int version)
{
  if (!opts)
    return fleet_error__set(FLEET_EINVAL, "opts: NULL");
  if (version < 1 || version > FLEET_WS_OPTIONS_VERSION)
    return fleet_error__set(FLEET_EVERSION,
                            "fleet_ws_options_t version %u is not supported (1 to %u are)",
                            version, FLEET_WS_OPTIONS_VERSION);
  fleet_ws_options_t d = FLEET_WS_OPTIONS_INIT;
  d.version = version;
  /* A version 1 caller's struct ends before flush_ms. */
  memcpy(opts, &d, version == 1 ? offsetof(fleet_ws_options_t, flush_ms) : sizeof d);
  return 0;
}

int fleet_ws__parse_listen(char host[FLEET_WS__HOST_MAX], int *out_port, int *out_ipv6,
                           const char *listen)
{
  if (!listen || !*listen)
    return fleet_error__set(FLEET_EINVAL, "listen: empty address");
  const char *colon;
  char h[FLEET_WS__HOST_MAX];
  int ipv6 = 0;
  if (listen[0] == '[') {
    const char *rb = strchr(listen, ']');
    if (!rb || rb[1] != ':')
      return fleet_error__set(FLEET_EINVAL,
                              "listen: '%.80s' is not [IPv6]:port (missing ']:')", listen);
    size_t n = (size_t)(rb - listen - 1);
    if (n == 0 || n >= sizeof h)
      return fleet_error__set(FLEET_EINVAL, "listen: '%.80s' has a bad IPv6 address", listen);
    memcpy(h, listen + 1, n);
    h[n] = '\0';
    colon = rb + 1;
    ipv6 = 1;
  } else {
    colon = strrchr(listen, ':');
    if (!colon)
      return fleet_error__set(FLEET_EINVAL, "listen: '%.80s' has no ':port'", listen);
    size_t n = (size_t)(colon - listen);
    if (n == 0 || n >= sizeof h)
      return fleet_error__set(FLEET_EINVAL, "listen: '%.80s' has no address before ':'",
                              listen);
    memcpy(h, listen, n);
    h[n] = '\0';
    if (strchr(h, ':'))
      return fleet_error__set(FLEET_EINVAL,
                              "listen: '%.80s': put an IPv6 address in brackets, [::1]:8080",
                              listen);
  }
  unsigned char sa[sizeof(struct in6_addr)];
  if (inet_pton(ipv6 ? AF_INET6 : AF_INET, h, sa) != 1)
    return fleet_error__set(FLEET_EINVAL,
                            "listen: '%s' is not a numeric %s address (host names are not "
                            "resolved)",
                            h, ipv6 ? "IPv6" : "IPv4");
  const char *p = colon + 1;
  if (!*p)
    return fleet_error__set(FLEET_EINVAL, "listen: '%.80s' has no port after ':'", listen);
  long port = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9' || port > 65535)
      return fleet_error__set(FLEET_EINVAL, "listen: port in '%.80s' is not 0-65535", listen);
    port = port * 10 + (*p - '0');
  }
  if (port > 65535)
    return fleet_error__set(FLEET_EINVAL, "listen: port in '%.80s' is not 0-65535", listen);
  memcpy(host, h, strlen(h) + 1);
  *out_port = (int)port;
  *out_ipv6 = ipv6;
  return 0;
}

static int origin_check(const char *o, size_t i)
{
  size_t n = strlen(o);
  const char *rest;
  if (strncasecmp(o, "http://", 7) == 0)
    rest = o + 7;
  else if (strncasecmp(o, "https://", 8) == 0)
    rest = o + 8;
  else
    return fleet_error__set(FLEET_EINVAL,
                            "allowed_origins[%zu]: '%.80s' must start with http:// or https://",
                            i, o);
  if (n > 255 || !*rest)
    return fleet_error__set(FLEET_EINVAL,
                            "allowed_origins[%zu]: '%.80s' has no host or is over 255 bytes", i,
                            o);
  for (const char *p = rest; *p; p++)
    if (*p == '/' || *p == '?' || *p == '#' || *p == '@' || *p <= ' ' || *p == 0x7f)
      return fleet_error__set(FLEET_EINVAL,
                              "allowed_origins[%zu]: '%.80s' must be scheme://host[:port] "
                              "without a path",
                              i, o);
  return 0;
}

static int cookie_name_check(const char *name)
{
  size_t n = strlen(name);
  if (n == 0 || n > 64)
    return fleet_error__set(FLEET_EINVAL, "cookie_name: must be 1-64 bytes");
  for (const char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '-'))
      return fleet_error__set(FLEET_EINVAL, "cookie_name: '%.64s' must be [A-Za-z0-9_-]", name);
  return 0;
}

static int file_readable(const char *path, const char *what)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return fleet_error__set(FLEET_EIO, "%s: cannot read '%s': %s", what, path, strerror(errno));
  fclose(f);
  return 0;
}

static int check_options(const fleet_ws_options_t *o)
{
  if (!o->verifier)
    return fleet_error__set(FLEET_EINVAL, "verifier: required (every feed and route needs tokens)");
  if (!o->tls_cert_file != !o->tls_key_file)
    return fleet_error__set(FLEET_EINVAL,
                            "tls_cert_file, tls_key_file: give both for HTTPS, or neither");
  if (o->n_allowed_origins && !o->allowed_origins)
    return fleet_error__set(FLEET_EINVAL, "allowed_origins: NULL with n_allowed_origins %zu",
                            o->n_allowed_origins);
  if (o->max_message_bytes < 128 || o->max_message_bytes > 16u * 1024 * 1024)
    return fleet_error__set(FLEET_EINVAL, "max_message_bytes: %zu is outside [128, 16 MiB]",
                            o->max_message_bytes);
  if (o->send_buffer_bytes < 4096 || o->send_buffer_bytes > (size_t)1 << 30)
    return fleet_error__set(FLEET_EINVAL, "send_buffer_bytes: %zu is outside [4 KiB, 1 GiB]",
                            o->send_buffer_bytes);
  if (o->tcp_send_buffer_bytes &&
      (o->tcp_send_buffer_bytes < 4096 || o->tcp_send_buffer_bytes > 64u * 1024 * 1024))
    return fleet_error__set(FLEET_EINVAL,
                            "tcp_send_buffer_bytes: %zu is neither 0 nor within [4 KiB, 64 MiB]",
                            o->tcp_send_buffer_bytes);
  if (o->alert_queue_max < 1 || o->alert_queue_max > 1000000)
    return fleet_error__set(FLEET_EINVAL, "alert_queue_max: %u is outside [1, 1000000]",
                            o->alert_queue_max);
  if (o->stuck_timeout_ms < 100 || o->stuck_timeout_ms > 3600000)
    return fleet_error__set(FLEET_EINVAL, "stuck_timeout_ms: %u is outside [100, 3600000]",
                            o->stuck_timeout_ms);
  if (o->interval_min_ms < 10)
    return fleet_error__set(FLEET_EINVAL, "interval_min_ms: %u is below 10", o->interval_min_ms);
  if (o->interval_max_ms > 3600000 || o->interval_max_ms < o->interval_min_ms)
    return fleet_error__set(FLEET_EINVAL,
                            "interval_max_ms: %u must be within [interval_min_ms %u, 3600000]",
                            o->interval_max_ms, o->interval_min_ms);
  if (o->interval_default_ms < o->interval_min_ms || o->interval_default_ms > o->interval_max_ms)
    return fleet_error__set(FLEET_EINVAL, "interval_default_ms: %u is outside [%u, %u]",
                            o->interval_default_ms, o->interval_min_ms, o->interval_max_ms);
  if (o->flush_ms < 5 || o->flush_ms > 1000)
    return fleet_error__set(FLEET_EINVAL, "flush_ms: %u is outside [5, 1000]", o->flush_ms);
  if (o->ping_interval_s < 1 || o->ping_interval_s > 65535)
    return fleet_error__set(FLEET_EINVAL, "ping_interval_s: %u is outside [1, 65535]",
                            o->ping_interval_s);
  if (o->idle_timeout_s <= o->ping_interval_s || o->idle_timeout_s > 65535)
    return fleet_error__set(FLEET_EINVAL,
                            "idle_timeout_s: %u must be above ping_interval_s (%u) and at most "
                            "65535",
                            o->idle_timeout_s, o->ping_interval_s);
  if (o->max_clients < 1 || o->max_clients > 1000000)
    return fleet_error__set(FLEET_EINVAL, "max_clients: %u is outside [1, 1000000]",
                            o->max_clients);
  if (o->max_vehicles < 1 || o->max_vehicles > UINT32_MAX - 1)
    return fleet_error__set(FLEET_EINVAL, "max_vehicles: %zu is outside [1, 2^32 - 2]",
                            o->max_vehicles);
  if (o->max_body_bytes > (size_t)1 << 30)
    return fleet_error__set(FLEET_EINVAL, "max_body_bytes: %zu is over 1 GiB", o->max_body_bytes);
  if (o->max_header_bytes < 4096 || o->max_header_bytes > 65535)
    return fleet_error__set(FLEET_EINVAL, "max_header_bytes: %zu is outside [4096, 65535]",
                            o->max_header_bytes);
  if (o->log_level < FLEET_WS_LOG_ERROR || o->log_level > FLEET_WS_LOG_DEBUG)
    return fleet_error__set(FLEET_EINVAL, "log_level: %d is not a fleet_ws_log_level_t",
                            o->log_level);
  return 0;
}

const char *fleet_ws__vehicle_key(const void *ctx, uint32_t idx)
{
  const fleet_ws_t *gw = ctx;
  return gw->vehicles[idx]->id;
}

void fleet_ws_free(fleet_ws_t *gw)
{
  if (!gw)
    return;
  fleet_ws_stop(gw);
  for (size_t i = 0; i < gw->n_vehicles; i++) {
    fleet_ws__vehicle_t *v = gw->vehicles[i];
    free(v->pend_data);
    free(v->data);
    fleet_ws__msg_unref(v->msg);
    free(v->subs);
    free(v);
  }
  free(gw->vehicles);
  fleet_idmap__dispose(&gw->map);
  free(gw->changed);
  for (size_t i = 0; i < gw->n_alerts; i++)
    fleet_ws__msg_unref(gw->alerts[i].msg);
  free(gw->alerts);
  fleet_ws__http_finished(gw, gw->finished);
  free(gw->clients);
  free(gw->all_clients);
  free(gw->svc_list);
  for (size_t i = 0; i < gw->n_routes; i++)
    free(gw->routes[i].prefix);
  free(gw->routes);
  for (size_t i = 0; i < gw->n_origins; i++)
    free(gw->origins[i]);
  free(gw->origins);
  free(gw->tls_cert);
  free(gw->tls_key);
  free(gw->static_root);
  free(gw->cookie_name);
  pthread_mutex_destroy(&gw->lock);
  free(gw);
}

int fleet_ws_new(fleet_ws_t **out, const fleet_ws_options_t *opts)
{
  if (!out)
    return fleet_error__set(FLEET_EINVAL, "out: NULL");
  *out = NULL;
  if (!opts)
    return fleet_error__set(FLEET_EINVAL, "opts: NULL (the verifier is required)");
  if (opts->version < 1 || opts->version > FLEET_WS_OPTIONS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "fleet_ws_options_t version %u is not supported",
                            opts->version);
  /* Read only the members the caller's version has; later ones keep their defaults. */
  fleet_ws_options_t full = FLEET_WS_OPTIONS_INIT;
  memcpy(&full, opts,
         opts->version == 1 ? offsetof(fleet_ws_options_t, flush_ms) : sizeof full);
  opts = &full;
  int rc = check_options(opts);
  if (rc)
    return rc;
  char host[FLEET_WS__HOST_MAX];
  int port = 0, ipv6 = 0;
  rc = fleet_ws__parse_listen(host, &port, &ipv6,
                              opts->listen ? opts->listen : FLEET_WS_LISTEN_DEFAULT);
  if (rc)
    return rc;
  if (opts->cookie_name && (rc = cookie_name_check(opts->cookie_name)) != 0)
    return rc;
  for (size_t i = 0; i < opts->n_allowed_origins; i++) {
    if (!opts->allowed_origins[i])
      return fleet_error__set(FLEET_EINVAL, "allowed_origins[%zu]: NULL", i);
    if ((rc = origin_check(opts->allowed_origins[i], i)) != 0)
      return rc;
  }
  if (opts->tls_cert_file) {
    if ((rc = file_readable(opts->tls_cert_file, "tls_cert_file")) != 0 ||
        (rc = file_readable(opts->tls_key_file, "tls_key_file")) != 0)
      return rc;
  }
  char *root = NULL;
  if (opts->static_root) {
    root = realpath(opts->static_root, NULL);
    struct stat st;
    if (!root || stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
      int e = errno;
      free(root);
      return fleet_error__set(FLEET_EIO, "static_root: '%s' is not a readable directory: %s",
                              opts->static_root, root ? "not a directory" : strerror(e));
    }
  }

  fleet_ws_t *gw = calloc(1, sizeof *gw);
  if (!gw) {
    free(root);
    return fleet_error__oom();
  }
  if (pthread_mutex_init(&gw->lock, NULL) != 0) {
    free(root);
    free(gw);
    return fleet_error__set(FLEET_EINTERNAL, "pthread_mutex_init failed");
  }
  memcpy(gw->host, host, sizeof host);
  gw->port = port;
  gw->ipv6 = ipv6;
  gw->static_root = root;
  if (root) {
    gw->static_root_len = strlen(root);
    if (gw->static_root_len == 1) /* "/": keep the prefix test simple */
      gw->static_root_len = 0;
  }
  gw->verifier = opts->verifier;
  gw->max_message = opts->max_message_bytes;
  gw->send_buffer = opts->send_buffer_bytes;
  gw->tcp_sndbuf = (int)opts->tcp_send_buffer_bytes;
  gw->alert_queue_max = opts->alert_queue_max;
  gw->stuck_ms = opts->stuck_timeout_ms;
  gw->interval_min = opts->interval_min_ms;
  gw->interval_max = opts->interval_max_ms;
  gw->interval_default = opts->interval_default_ms;
  gw->flush_ms = opts->flush_ms;
  gw->ping_s = opts->ping_interval_s;
  gw->idle_s = opts->idle_timeout_s;
  gw->max_clients = opts->max_clients;
  gw->max_vehicles = opts->max_vehicles;
  gw->max_body = opts->max_body_bytes;
  gw->max_header = opts->max_header_bytes;
  gw->log_cb = opts->log_cb;
  gw->log_level = opts->log_level;
  gw->userdata = opts->userdata;
  gw->cookie_name = dup_str(opts->cookie_name ? opts->cookie_name : FLEET_WS_COOKIE_DEFAULT);
  if (!gw->cookie_name)
    goto oom;
  if (opts->tls_cert_file) {
    gw->tls_cert = dup_str(opts->tls_cert_file);
    gw->tls_key = dup_str(opts->tls_key_file);
    if (!gw->tls_cert || !gw->tls_key)
      goto oom;
  }
  if (opts->n_allowed_origins) {
    gw->origins = calloc(opts->n_allowed_origins, sizeof *gw->origins);
    if (!gw->origins)
      goto oom;
    for (size_t i = 0; i < opts->n_allowed_origins; i++) {
      gw->origins[i] = dup_str(opts->allowed_origins[i]);
      if (!gw->origins[i])
        goto oom;
      gw->n_origins++;
    }
  }
  *out = gw;
  return 0;
oom:
  fleet_ws_free(gw);
  return fleet_error__oom();
}

/* ------------------------------------------------------------------------ */
/* Vehicle table and publishing                                             */
/* ------------------------------------------------------------------------ */

/* gw->lock held. */
static int vehicle_get(fleet_ws__vehicle_t **out, fleet_ws_t *gw, const char *id)
{
  uint32_t idx;
  if (fleet_idmap__find(&idx, &gw->map, id, fleet_ws__vehicle_key, gw)) {
    *out = gw->vehicles[idx];
    return 0;
  }
  if (gw->n_vehicles >= gw->max_vehicles)
    return fleet_error__set(FLEET_EFULL,
                            "vehicle '%s': the gateway already tracks max_vehicles (%zu)", id,
                            gw->max_vehicles);
  if (grow((void **)&gw->vehicles, &gw->cap_vehicles, gw->n_vehicles, sizeof *gw->vehicles))
    return fleet_error__oom();
  fleet_ws__vehicle_t *v = calloc(1, sizeof *v);
  if (!v)
    return fleet_error__oom();
  size_t n = strlen(id);
  memcpy(v->id, id, n + 1);
  v->idx = (uint32_t)gw->n_vehicles;
  if (fleet_idmap__insert(&gw->map, v->id, v->idx) != 0) {
    free(v);
    return fleet_error__oom();
  }
  gw->vehicles[gw->n_vehicles++] = v;
  *out = v;
  return 0;
}

/* gw->lock held: wake the service thread once per drain. */
static void wake(fleet_ws_t *gw)
{
  if (gw->ctx && !gw->wake_pending) {
    gw->wake_pending = 1;
    lws_cancel_service(gw->ctx);
  }
}

/* Trim JSON whitespace around `*s`/`*len`. */
static void trim_json(const char **s, size_t *len)
{
  while (*len && (**s == ' ' || **s == '\t' || **s == '\n' || **s == '\r')) {
    (*s)++;
    (*len)--;
  }
  while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\n' ||
                  (*s)[*len - 1] == '\r'))
    (*len)--;
}

/*
 * Parse `json` as one object (duplicate names refused). On success *out holds
 * the parsed object (caller decrefs).
 */
static int parse_object(json_t **out, const char *json, size_t len, size_t max, const char *what)
{
  if (len > max)
    return fleet_error__set(FLEET_ETOOBIG, "%s: %zu bytes is over the limit of %zu", what, len,
                            max);
  json_error_t err;
  json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
  if (!j)
    return fleet_error__set(FLEET_EPARSE, "%s: not JSON: %s (at byte %d)", what, err.text,
                            err.position);
  if (!json_is_object(j)) {
    json_decref(j);
    return fleet_error__set(FLEET_EINVAL, "%s: must be a JSON object", what);
  }
  *out = j;
  return 0;
}

/* Append the members of a validated object text ("{...}", trimmed) after a comma. */
static int append_members(fleet_buf_t *out, const char *obj, size_t len)
{
  const char *p = obj + 1;
  size_t n = len - 1; /* up to and including the closing brace */
  trim_json(&p, &n);
  if (n <= 1) /* "}" alone: no members */
    return fleet_buf__putc(out, '}');
  int rc = fleet_buf__putc(out, ',');
  return rc ? rc : fleet_buf_append(out, p, n);
}

static const char *const std_names[] = {"v",           "vehicle_id", "ts",        "lat",
                                        "lng",         "speed",      "heading",   "ignition",
                                        "odometer",    "battery_v",  "engine_temp", "fuel_level",
                                        "driver_id"};

int fleet_ws__render_data(fleet_buf_t *out, const fleet_telemetry_t *rec, const char *extra,
                          size_t extra_len)
{
  if (!out || !rec || (extra_len && !extra))
    return fleet_error__set(FLEET_EINVAL, "render: NULL argument");
  json_t *ej = NULL;
  int rc;
  if (extra) {
    trim_json(&extra, &extra_len);
    rc = parse_object(&ej, extra, extra_len, FLEET_WS_EXTRA_MAX, "extra_json");
    if (rc)
      return rc;
    const char *key;
    json_t *val;
    rc = 0;
    json_object_foreach(ej, key, val) {
      (void)val;
      for (size_t i = 0; !rc && i < FLEET_ARRAY_LEN(std_names); i++)
        if (strcmp(key, std_names[i]) == 0)
          rc = fleet_error__set(FLEET_EINVAL,
                                "extra_json: member '%.64s' clashes with a telemetry field", key);
      for (unsigned int i = 0; !rc && i < rec->n_extras && i < FLEET_TELEMETRY_MAX_EXTRAS; i++)
        if (strcmp(key, rec->extras[i].name) == 0)
          rc = fleet_error__set(FLEET_EINVAL,
                                "extra_json: member '%.64s' clashes with the record's extra "
                                "field",
                                key);
      if (rc)
        break;
    }
    json_decref(ej);
    if (rc)
      return rc;
  }
  fleet_telemetry_json_opts_t jo = FLEET_TELEMETRY_JSON_OPTS_INIT;
  jo.include_vehicle_id = 0;
  fleet_buf_t tb = FLEET_BUF_INIT;
  rc = fleet_telemetry_encode_json(&tb, rec, &jo);
  if (rc) {
    fleet_buf_dispose(&tb);
    return rc;
  }
  /* The encoder always starts with the payload version, which is not state. */
  static const char vpre[] = "{\"v\":1,";
  size_t skip = 0;
  if (tb.len > sizeof vpre - 1 && memcmp(tb.ptr, vpre, sizeof vpre - 1) == 0)
    skip = sizeof vpre - 1;
  size_t start = out->len;
  rc = fleet_buf__putc(out, '{');
  if (!rc)
    rc = fleet_buf_append(out, tb.ptr + skip, tb.len - skip - 1); /* without the '}' */
  fleet_buf_dispose(&tb);
  if (!rc)
    rc = extra ? append_members(out, extra, extra_len) : fleet_buf__putc(out, '}');
  if (rc) {
    out->len = start;
    if (out->ptr)
      out->ptr[start] = '\0';
  }
  return rc;
}

int fleet_ws__render_alert(fleet_buf_t *out, const char *vehicle_id, const char *json,
                           size_t len)
{
  if (!out || !vehicle_id || !json)
    return fleet_error__set(FLEET_EINVAL, "alert: NULL argument");
  trim_json(&json, &len);
  json_t *j;
  int rc = parse_object(&j, json, len, FLEET_WS_JSON_MAX, "alert");
  if (rc)
    return rc;
  if (json_object_get(j, "type")) {
    json_decref(j);
    return fleet_error__set(FLEET_EINVAL,
                            "alert: member 'type' is the gateway's (\"alert\"); rename it");
  }
  json_t *vid = json_object_get(j, "vehicle_id");
  int has_vid = vid != NULL;
  if (vid && (!json_is_string(vid) || strcmp(json_string_value(vid), vehicle_id) != 0)) {
    json_decref(j);
    return fleet_error__set(FLEET_EINVAL, "alert: member 'vehicle_id' differs from '%s'",
                            vehicle_id);
  }
  json_decref(j);
  size_t start = out->len;
  if (has_vid)
    rc = fleet_buf__puts(out, "{\"type\":\"alert\"");
  else
    rc = fleet_buf__printf(out, "{\"type\":\"alert\",\"vehicle_id\":\"%s\"", vehicle_id);
  if (!rc)
    rc = append_members(out, json, len);
  if (rc) {
    out->len = start;
    if (out->ptr)
      out->ptr[start] = '\0';
  }
  return rc;
}

/* Store `data` (owned, malloc'ed) as the vehicle's pending state. */
static int publish_data(fleet_ws_t *gw, const char *id, char *data, size_t len, int has_ts,
                        int64_t ts)
{
  pthread_mutex_lock(&gw->lock);
  fleet_ws__vehicle_t *v;
  int rc = vehicle_get(&v, gw, id);
  if (rc) {
    pthread_mutex_unlock(&gw->lock);
    free(data);
    if (rc == FLEET_EFULL)
      FLEET_WS__INC(gw, st_publish_refused);
    return rc;
  }
  if (has_ts && v->has_ts && ts < v->last_ts) {
    pthread_mutex_unlock(&gw->lock);
    free(data);
    FLEET_WS__INC(gw, st_telemetry_stale);
    return 0;
  }
  if (!v->pend_changed &&
      grow((void **)&gw->changed, &gw->cap_changed, gw->n_changed, sizeof *gw->changed)) {
    pthread_mutex_unlock(&gw->lock);
    free(data);
    return fleet_error__oom();
  }
  if (has_ts) {
    v->has_ts = 1;
    v->last_ts = ts;
  }
  char *old = v->pend_data;
  v->pend_data = data;
  v->pend_len = len;
  v->pend_ms = fleet_ws__now_ms();
  if (!v->pend_changed) {
    v->pend_changed = 1;
    gw->changed[gw->n_changed++] = v;
  }
  /* While the flush tick runs it takes the changes itself: waking the service
   * thread per update would cost a poll over every connection each time. */
  if (!gw->ticking)
    wake(gw);
  pthread_mutex_unlock(&gw->lock);
  free(old);
  FLEET_WS__INC(gw, st_telemetry_published);
  return 0;
}

int fleet_ws_publish_telemetry(fleet_ws_t *gw, const fleet_telemetry_t *rec,
                               const char *extra_json, size_t extra_len)
{
  if (!gw || !rec)
    return fleet_error__set(FLEET_EINVAL, "publish_telemetry: NULL argument");
  if (extra_len && !extra_json)
    return fleet_error__set(FLEET_EINVAL, "extra_json: NULL with extra_len %zu", extra_len);
  int rc = fleet_vehicle_id_validate(rec->vehicle_id, strnlen(rec->vehicle_id,
                                                             sizeof rec->vehicle_id));
  if (rc)
    return rc;
  fleet_buf_t b = FLEET_BUF_INIT;
  rc = fleet_ws__render_data(&b, rec, extra_json, extra_json ? extra_len : 0);
  if (rc) {
    fleet_buf_dispose(&b);
    return rc;
  }
  return publish_data(gw, rec->vehicle_id, b.ptr, b.len, 1, rec->ts_ns);
}

int fleet_ws_publish_state(fleet_ws_t *gw, const char *vehicle_id, const char *json, size_t len)
{
  if (!gw || !vehicle_id || !json)
    return fleet_error__set(FLEET_EINVAL, "publish_state: NULL argument");
  int rc = fleet_vehicle_id_validate(vehicle_id, strlen(vehicle_id));
  if (rc)
    return rc;
  trim_json(&json, &len);
  json_t *j;
  rc = parse_object(&j, json, len, FLEET_WS_JSON_MAX, "state");
  if (rc)
    return rc;
  /* Snapshots flatten the state after their own "vehicle_id": a second one
   * would make a duplicate key, naming another vehicle for most parsers. */
  int has_id = json_object_get(j, "vehicle_id") != NULL;
  json_decref(j);
  if (has_id)
    return fleet_error__set(FLEET_EINVAL,
                            "state: member 'vehicle_id' is not allowed (the gateway adds it)");
  char *data = malloc(len + 1);
  if (!data)
    return fleet_error__oom();
  memcpy(data, json, len);
  data[len] = '\0';
  return publish_data(gw, vehicle_id, data, len, 0, 0);
}

int fleet_ws_publish_alert(fleet_ws_t *gw, const char *vehicle_id, const char *json, size_t len)
{
  if (!gw || !vehicle_id || !json)
    return fleet_error__set(FLEET_EINVAL, "publish_alert: NULL argument");
  int rc = fleet_vehicle_id_validate(vehicle_id, strlen(vehicle_id));
  if (rc)
    return rc;
  fleet_buf_t b = FLEET_BUF_INIT;
  rc = fleet_ws__render_alert(&b, vehicle_id, json, len);
  if (rc) {
    fleet_buf_dispose(&b);
    return rc;
  }
  fleet_ws__msg_t *m = fleet_ws__msg_new(FLEET_WS__MSG_ALERT, b.ptr, b.len);
  fleet_buf_dispose(&b);
  if (!m)
    return fleet_error__oom();
  pthread_mutex_lock(&gw->lock);
  if (!gw->ctx) {
    /* Stopped: no client can be subscribed. */
    pthread_mutex_unlock(&gw->lock);
    fleet_ws__msg_unref(m);
    FLEET_WS__INC(gw, st_alerts_published);
    return 0;
  }
  if (gw->n_alerts >= FLEET_WS_ALERT_BACKLOG_MAX) {
    pthread_mutex_unlock(&gw->lock);
    fleet_ws__msg_unref(m);
    FLEET_WS__INC(gw, st_publish_refused);
    return fleet_error__set(FLEET_EFULL,
                            "alert for '%s': %u alerts already wait for the gateway's thread",
                            vehicle_id, FLEET_WS_ALERT_BACKLOG_MAX);
  }
  fleet_ws__vehicle_t *v;
  rc = vehicle_get(&v, gw, vehicle_id);
  if (!rc && grow((void **)&gw->alerts, &gw->cap_alerts, gw->n_alerts, sizeof *gw->alerts))
    rc = fleet_error__oom();
  if (rc) {
    pthread_mutex_unlock(&gw->lock);
    fleet_ws__msg_unref(m);
    if (rc == FLEET_EFULL)
      FLEET_WS__INC(gw, st_publish_refused);
    return rc;
  }
  gw->alerts[gw->n_alerts].v = v;
  gw->alerts[gw->n_alerts].msg = m;
  gw->n_alerts++;
  wake(gw);
  pthread_mutex_unlock(&gw->lock);
  FLEET_WS__INC(gw, st_alerts_published);
  return 0;
}

/* Service thread: first sight of a vehicle. */
static void vehicle_seen(fleet_ws_t *gw, fleet_ws__vehicle_t *v)
{
  if (v->svc_seen)
    return;
  if (grow((void **)&gw->svc_list, &gw->cap_svc, gw->n_svc, sizeof *gw->svc_list)) {
    fleet_ws__log(gw, FLEET_WS_LOG_ERROR, "out of memory: vehicle '%s' not served yet", v->id);
    return;
  }
  gw->svc_list[gw->n_svc++] = v;
  v->svc_seen = 1;
  fleet_ws__feed_vehicle_seen(gw, v);
}

void fleet_ws__drain(fleet_ws_t *gw)
{
  pthread_mutex_lock(&gw->lock);
  gw->wake_pending = 0;
  fleet_ws__vehicle_t **changed = gw->changed;
  size_t n_changed = gw->n_changed;
  gw->changed = NULL;
  gw->n_changed = gw->cap_changed = 0;
  fleet_ws__alert_t *alerts = gw->alerts;
  size_t n_alerts = gw->n_alerts;
  gw->alerts = NULL;
  gw->n_alerts = gw->cap_alerts = 0;
  fleet_ws_response_t *finished = gw->finished;
  gw->finished = NULL;
  for (size_t i = 0; i < n_changed; i++) {
    fleet_ws__vehicle_t *v = changed[i];
    if (!v->data)
      FLEET_WS__INC(gw, st_vehicles);
    free(v->data);
    v->data = v->pend_data;
    v->data_len = v->pend_len;
    v->arrived_ms = v->pend_ms;
    v->pend_data = NULL;
    v->pend_changed = 0;
  }
  pthread_mutex_unlock(&gw->lock);

  for (size_t i = 0; i < n_changed; i++) {
    fleet_ws__vehicle_t *v = changed[i];
    v->seq++;
    vehicle_seen(gw, v);
    if (v->svc_seen)
      fleet_ws__feed_vehicle_updated(gw, v);
  }
  free(changed);
  for (size_t i = 0; i < n_alerts; i++) {
    vehicle_seen(gw, alerts[i].v);
    if (alerts[i].v->svc_seen)
      fleet_ws__feed_alert(gw, alerts[i].v, alerts[i].msg);
    fleet_ws__msg_unref(alerts[i].msg);
  }
  free(alerts);
  fleet_ws__http_finished(gw, finished);
}

/* ------------------------------------------------------------------------ */
/* Service thread                                                           */
/* ------------------------------------------------------------------------ */

static void sweep_cb(lws_sorted_usec_list_t *sul)
{
  fleet_ws_t *gw = FLEET_WS__CONTAINER(sul, fleet_ws_t, sul_sweep);
  fleet_ws__feed_sweep(gw);
  lws_sul_schedule(gw->svc_ctx, 0, &gw->sul_sweep, sweep_cb, 250 * LWS_US_PER_MS);
}

static void *service_main(void *arg)
{
  fleet_ws_t *gw = arg;
  pthread_setname_np(pthread_self(), "fleet-ws");
  struct lws_context *ctx = gw->svc_ctx;
  lws_sul_schedule(ctx, 0, &gw->sul_sweep, sweep_cb, 250 * LWS_US_PER_MS);
  gw->tick_t0 = fleet_ws__now_ms();
  fleet_ws__drain(gw);
  while (!atomic_load(&gw->stop_requested))
    if (lws_service(ctx, 0) < 0)
      break;

  /* Let the clients see a close frame (1001) before the sockets go. */
  gw->draining = 1;
  fleet_ws__feed_close_all(gw, FLEET_WS_CLOSE_GOING_AWAY, "server stopping");
  int64_t deadline = fleet_ws__now_ms() + 1000;
  while (gw->n_clients && fleet_ws__now_ms() < deadline)
    if (lws_service(ctx, 0) < 0)
      break;

  pthread_mutex_lock(&gw->lock);
  gw->ctx = NULL;
  pthread_mutex_unlock(&gw->lock);
  lws_sul_cancel(&gw->sul_sweep);
  fleet_ws__feed_stop(gw);
  lws_context_destroy(ctx);
  gw->svc_ctx = NULL;
  /* Nothing is connected now: queued alerts and finished responses go nowhere. */
  fleet_ws__drain(gw);
  gw->draining = 0;
  return NULL;
}

/*
 * Try the bind ourselves first: lws only says "failed" (TLS problems look
 * alike), and lws 4.1.6 leaks a little on a failed context creation. Port 0
 * still checks that the address is local.
 */
static int probe_bind(const fleet_ws_t *gw)
{
  int fd = socket(gw->ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fleet_error__set(FLEET_ENET, "listen: socket(): %s", strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (gw->ipv6) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((uint16_t)gw->port);
    inet_pton(AF_INET6, gw->host, &a.sin6_addr);
    rc = bind(fd, (struct sockaddr *)&a, sizeof a);
  } else {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)gw->port);
    inet_pton(AF_INET, gw->host, &a.sin_addr);
    rc = bind(fd, (struct sockaddr *)&a, sizeof a);
  }
  int e = errno;
  close(fd);
  if (rc != 0)
    return fleet_error__set(FLEET_ENET, "listen: cannot bind %s%s%s:%d: %s", gw->ipv6 ? "[" : "",
                            gw->host, gw->ipv6 ? "]" : "", gw->port, strerror(e));
  return 0;
}

int fleet_ws_start(fleet_ws_t *gw)
{
  if (!gw)
    return fleet_error__set(FLEET_EINVAL, "gw: NULL");
  if (gw->running)
    return fleet_error__set(FLEET_ESTATE, "the gateway is running already");
  int rc = probe_bind(gw);
  if (rc)
    return rc;
  gw->wbuf = malloc(LWS_PRE + FLEET_WS__CHUNK);
  if (!gw->wbuf)
    return fleet_error__oom();

  gw->retry.secs_since_valid_ping = (uint16_t)gw->ping_s;
  gw->retry.secs_since_valid_hangup = (uint16_t)gw->idle_s;
  memset(gw->protocols, 0, sizeof gw->protocols);
  gw->protocols[0].name = "fleet";
  gw->protocols[0].callback = fleet_ws__callback;
  gw->protocols[0].rx_buffer_size = 4096;
  /*
   * Without it lws 4.1 caps every send() at rx_buffer_size: a 120 KiB batch
   * frame went out in thirty 4 KiB sends, each after another poll, and the
   * kernel's per-send cost was most of the gateway's CPU. A whole chunk plus
   * the largest frame header now goes to the socket in one send().
   */
  gw->protocols[0].tx_packet_size = FLEET_WS__CHUNK + 16;

  lwslog_register(gw);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = gw->port;
  /* The wildcard addresses bind every interface; lws wants NULL for that. */
  int wildcard = strcmp(gw->host, "0.0.0.0") == 0 || strcmp(gw->host, "::") == 0;
  info.iface = wildcard ? NULL : gw->host;
  info.protocols = gw->protocols;
  /*
   * With IPv6 enabled, lws 4.1 binds an IPv4 iface on an IPv6 wildcard socket,
   * i.e. on every interface: disable IPv6 for IPv4 addresses.
   */
  info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                 (gw->ipv6 ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6);
  if (gw->tls_cert) {
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = gw->tls_cert;
    info.ssl_private_key_filepath = gw->tls_key;
  }
  /* HTTP/1.1 only: no h2, so no WebSocket over h2 that would bypass the upgrade checks. */
  info.alpn = "http/1.1";
  info.max_http_header_data = (unsigned short)gw->max_header;
  info.retry_and_idle_policy = &gw->retry;
  info.server_string = "libfleet";
  info.vhost_name = "default";
  info.user = gw;
  info.keepalive_timeout = 30;
  info.timeout_secs = 20;

  atomic_store(&gw->stop_requested, 0);
  struct lws_context *ctx = lws_create_context(&info);
  if (!ctx) {
    lwslog_unregister(gw);
    free(gw->wbuf);
    gw->wbuf = NULL;
    if (gw->tls_cert)
      return fleet_error__set(FLEET_EIO,
                              "cannot start on %s:%d: the TLS certificate or key is unusable "
                              "(see the log)",
                              gw->host, gw->port);
    return fleet_error__set(FLEET_ENET, "cannot start on %s:%d (see the log)", gw->host,
                            gw->port);
  }
  struct lws_vhost *vh = lws_get_vhost_by_name(ctx, "default");
  int port = vh ? lws_get_vhost_listen_port(vh) : gw->port;
  atomic_store(&gw->bound_port, port);
  gw->svc_ctx = ctx;
  pthread_mutex_lock(&gw->lock);
  gw->ctx = ctx;
  gw->wake_pending = 0;
  pthread_mutex_unlock(&gw->lock);
  if (pthread_create(&gw->thread, NULL, service_main, gw) != 0) {
    pthread_mutex_lock(&gw->lock);
    gw->ctx = NULL;
    pthread_mutex_unlock(&gw->lock);
    lws_context_destroy(ctx);
    gw->svc_ctx = NULL;
    atomic_store(&gw->bound_port, 0);
    lwslog_unregister(gw);
    free(gw->wbuf);
    gw->wbuf = NULL;
    return fleet_error__set(FLEET_EINTERNAL, "cannot start the gateway's thread");
  }
  gw->running = 1;
  fleet_ws__log(gw, FLEET_WS_LOG_INFO, "listening on %s://%s%s%s:%d",
                gw->tls_cert ? "https" : "http", gw->ipv6 ? "[" : "", gw->host,
                gw->ipv6 ? "]" : "", port);
  return 0;
}

int fleet_ws_stop(fleet_ws_t *gw)
{
  if (!gw || !gw->running)
    return 0;
  atomic_store(&gw->stop_requested, 1);
  pthread_mutex_lock(&gw->lock);
  if (gw->ctx)
    lws_cancel_service(gw->ctx);
  pthread_mutex_unlock(&gw->lock);
  pthread_join(gw->thread, NULL);
  gw->running = 0;
  atomic_store(&gw->bound_port, 0);
  free(gw->wbuf);
  gw->wbuf = NULL;
  fleet_ws__log(gw, FLEET_WS_LOG_INFO, "stopped");
  lwslog_unregister(gw);
  return 0;
}

int fleet_ws_port(const fleet_ws_t *gw)
{
  return gw ? atomic_load(&((fleet_ws_t *)gw)->bound_port) : 0;
}

int fleet_ws_stats(fleet_ws_stats_t *out, const fleet_ws_t *cgw)
{
  if (!out || !cgw)
    return fleet_error__set(FLEET_EINVAL, "stats: NULL argument");
  if (out->version < 1 || out->version > FLEET_WS_STATS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "fleet_ws_stats_t version %u is not supported",
                            out->version);
  fleet_ws_t *gw = (fleet_ws_t *)cgw;
#define LOAD(n) (uint64_t) atomic_load_explicit(&gw->st_##n, memory_order_relaxed)
  out->clients = LOAD(clients);
  out->connections = LOAD(connections);
  out->disconnects = LOAD(disconnects);
  out->auth_failures = LOAD(auth_failures);
  out->forbidden = LOAD(forbidden);
  out->messages_sent = LOAD(messages_sent);
  out->bytes_sent = LOAD(bytes_sent);
  out->telemetry_sent = LOAD(telemetry_sent);
  out->telemetry_coalesced = LOAD(telemetry_coalesced);
  out->alerts_sent = LOAD(alerts_sent);
  out->snapshots_sent = LOAD(snapshots_sent);
  out->errors_sent = LOAD(errors_sent);
  out->messages_received = LOAD(messages_received);
  out->slow_disconnects = LOAD(slow_disconnects);
  out->oversize_closes = LOAD(oversize_closes);
  out->expired_closes = LOAD(expired_closes);
  out->http_requests = LOAD(http_requests);
  out->http_4xx = LOAD(http_4xx);
  out->http_5xx = LOAD(http_5xx);
  out->handler_errors = LOAD(handler_errors);
  out->static_served = LOAD(static_served);
  out->telemetry_published = LOAD(telemetry_published);
  out->telemetry_stale = LOAD(telemetry_stale);
  out->alerts_published = LOAD(alerts_published);
  out->publish_refused = LOAD(publish_refused);
  out->vehicles = LOAD(vehicles);
  out->queued_bytes = LOAD(queued_bytes);
  if (out->version >= 2) {
    out->batches_built = LOAD(batches_built);
    out->batches_shared = LOAD(batches_shared);
  }
#undef LOAD
  return 0;
}
