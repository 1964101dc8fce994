/*
 * Internals of the ws gateway, shared by ws.c (lifecycle, service thread,
 * vehicle table, publishing, counters), ws_feed.c (WebSocket clients:
 * protocol, subscriptions, coalescing, sending) and ws_http.c (HTTP: routes,
 * tokens, origins, static files, responses).
 *
 * Ownership of the state, which is what keeps the gateway lock-light:
 *   - gw->lock guards the vehicle table's shape (vehicles, map) and each
 *     vehicle's `pend_*` members, the alert and finished-response backlogs,
 *     `ctx` as seen by other threads and `wake_pending`. Publishers only ever
 *     touch those.
 *   - Everything else (clients, subscriptions, each vehicle's `svc_*`
 *     members, routes while running) belongs to the service thread. Vehicle
 *     records are never freed while the gateway lives, so the service thread
 *     keeps plain pointers to them.
 */
#ifndef FLEET_WS_INT_H
#define FLEET_WS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "fleet/ws.h"
#include "idmap_int.h"

/** The struct holding `ptr` as its `member` (lws_container_of() upsets -Wcast-align). */
#define FLEET_WS__CONTAINER(ptr, type, member) \
  ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/**
 * Bytes of a message written per WRITEABLE callback (larger ones go in
 * fragments). Large enough that a batch or a snapshot of thousands of
 * vehicles takes a few service passes, not hundreds (each pass costs a poll
 * over every connection); what the socket does not take at once libwebsockets
 * keeps and sends before the next WRITEABLE, so a client holds at most this
 * much beyond its queue.
 */
#define FLEET_WS__CHUNK 262144u
/** Largest listen host string (an IPv6 literal), terminator included. */
#define FLEET_WS__HOST_MAX 64
/** Room for a peer address, terminator included. */
#define FLEET_WS__PEER_MAX 64
/** Most updates in one telemetry_batch frame, and its size past which no update is added. */
#define FLEET_WS__BATCH_ITEMS 1000u
#define FLEET_WS__BATCH_BYTES 262144u

/** A message shared by every client it goes to (service thread only). */
typedef struct fleet_ws__msg {
  uint32_t refs;
  uint32_t kind;  /**< FLEET_WS__MSG_* (for the counters) */
  uint32_t items; /**< telemetry updates carried (a batch has many); 1 otherwise */
  size_t len;
  /* Room for the frame header: a message sent in one piece is written in
   * place, without a copy (lws_write() puts the header in front of `data`;
   * for a message shared by clients that is the same header each time). */
  unsigned char pre[LWS_PRE];
  char data[];
} fleet_ws__msg_t;

enum {
  FLEET_WS__MSG_TELEMETRY = 1,
  FLEET_WS__MSG_ALERT = 2,
  FLEET_WS__MSG_SNAPSHOT = 3,
  FLEET_WS__MSG_ERROR = 4,
  FLEET_WS__MSG_PONG = 5
};

struct fleet_ws__client;

/** One vehicle: pending state (gw->lock) and served state (service thread). */
typedef struct fleet_ws__vehicle {
  char id[FLEET_VEHICLE_ID_MAX + 1];
  uint32_t idx; /**< position in gw->vehicles, never changes */

  /* gw->lock */
  char *pend_data;      /**< latest published data object, not yet served */
  size_t pend_len;
  int64_t pend_ms;      /**< monotonic ms it was published */
  int pend_changed;     /**< on gw->changed */
  int has_ts;           /**< last_ts is set */
  int64_t last_ts;      /**< ts of the last published record, for staleness */

  /* service thread */
  int svc_seen;         /**< in gw->svc_list, subscribers attached */
  char *data;           /**< served data object ("{...}") or NULL */
  size_t data_len;
  /* When `data` was published (not when the service thread took it): a
   * vehicle's due tick counts from there, so a tick that runs late (a busy
   * service thread) does not make the updates it takes due a tick later. */
  int64_t arrived_ms;
  uint64_t seq;         /**< bumped on every served update */
  fleet_ws__msg_t *msg; /**< cached telemetry_update of `msg_seq` */
  uint64_t msg_seq;
  struct fleet_ws__client **subs; /**< clients subscribed to it by id */
  size_t n_subs, cap_subs;
} fleet_ws__vehicle_t;

/** One update of a telemetry_batch frame: the vehicle and the seq of its data. */
typedef struct fleet_ws__batch_item {
  const fleet_ws__vehicle_t *v;
  uint64_t seq;
} fleet_ws__batch_item_t;

/** An alert waiting for the service thread. */
typedef struct fleet_ws__alert {
  fleet_ws__vehicle_t *v;
  fleet_ws__msg_t *msg; /**< the whole message; the backlog holds its one reference */
} fleet_ws__alert_t;

/** What a wsi's opaque user data points to. */
enum { FLEET_WS__CONN_HTTP = 1, FLEET_WS__CONN_CLIENT = 2 };

/** A WebSocket client (service thread only). */
typedef struct fleet_ws__client {
  int kind; /**< FLEET_WS__CONN_CLIENT */
  fleet_ws_t *gw;
  struct lws *wsi;
  size_t pos; /**< index in gw->clients */
  char peer[FLEET_WS__PEER_MAX];

  fleet_auth_claims_t *claims;
  int admin;
  char *token; /**< kept to re-verify at expiry (the verifier knows the leeway) */
  size_t token_len;
  lws_sorted_usec_list_t sul_expiry;

  /* subscriptions */
  int all;                 /**< subscribed to "*" */
  size_t all_pos;          /**< index in gw->all_clients when `all` */
  char **subs;             /**< explicit ids, sorted */
  size_t n_subs, cap_subs;
  unsigned int interval_ms;
  uint32_t interval_ticks; /**< interval_ms in flush ticks, rounded up, >= 1 */
  int batch;               /**< send telemetry_batch frames */

  /* coalescing: a vehicle is "queued" (bit set) while on `dirty` or `flush` */
  uint64_t *qbits;
  size_t qwords;
  uint32_t *sent;          /**< by vehicle idx: flush tick of the last update taken
                                for sending, 0 = never (see ws_feed.c) */
  size_t n_sent;
  fleet_ws__vehicle_t **dirty; /**< updated, waiting for a tick at which they are due */
  size_t n_dirty, cap_dirty;
  fleet_ws__vehicle_t **flush; /**< taken at a tick, being written now */
  size_t n_flush, flush_pos, cap_flush;
  int flushing;

  /* queue of alerts and replies, ring */
  fleet_ws__msg_t **q;
  size_t q_head, q_len, q_cap;
  size_t q_bytes;

  /* message being written */
  fleet_ws__msg_t *cur;
  size_t cur_off;

  /* stuck detection: output waiting since `pending_since`, last write at `last_progress` */
  int64_t pending_since;
  int64_t last_progress;

  /* receiving */
  char *rx;
  size_t rx_len, rx_cap;
  int rx_binary;

  /* closing */
  int closing;
  int close_code;
  const char *close_reason;
} fleet_ws__client_t;

/** A registered route. */
typedef struct fleet_ws__route {
  char method[8];   /**< "GET" ... or "*" */
  char *prefix;
  size_t prefix_len;
  int min_role;
  fleet_ws_route_cb cb;
  void *userdata;
} fleet_ws__route_t;

struct fleet_ws__http;

struct fleet_ws {
  /* configuration, fixed after fleet_ws_new() */
  char host[FLEET_WS__HOST_MAX];
  int port;
  int ipv6;
  char *tls_cert;
  char *tls_key;
  char *static_root; /**< real path, no trailing '/' */
  size_t static_root_len;
  char *cookie_name;
  char **origins;
  size_t n_origins;
  const fleet_auth_verifier_t *verifier;
  size_t max_message;
  size_t send_buffer;
  int tcp_sndbuf; /**< SO_SNDBUF for accepted sockets, 0 for the kernel's choice */
  unsigned int alert_queue_max;
  unsigned int stuck_ms;
  unsigned int interval_min, interval_max, interval_default;
  unsigned int flush_ms;
  unsigned int ping_s, idle_s;
  unsigned int max_clients;
  size_t max_vehicles;
  size_t max_body;
  size_t max_header;
  fleet_ws_log_cb log_cb;
  int log_level;
  void *userdata;

  /* routes: changed only while stopped */
  fleet_ws__route_t *routes;
  size_t n_routes, cap_routes;

  /* lifecycle (controlling thread) */
  pthread_t thread;
  int running;
  atomic_int stop_requested;
  atomic_int bound_port;
  lws_retry_bo_t retry;
  struct lws_protocols protocols[2];

  /* guarded by lock */
  pthread_mutex_t lock;
  struct lws_context *ctx; /**< non-NULL while the service thread may be woken */
  int wake_pending;
  fleet_ws__vehicle_t **vehicles;
  size_t n_vehicles, cap_vehicles;
  fleet_idmap__t map;
  fleet_ws__vehicle_t **changed;
  size_t n_changed, cap_changed;
  fleet_ws__alert_t *alerts;
  size_t n_alerts, cap_alerts;
  fleet_ws_response_t *finished; /**< deferred responses finished, linked by `next` */
  int ticking;          /**< the flush tick is armed: it drains telemetry, so
                             publishing telemetry need not wake the service thread */

  /* service thread */
  struct lws_context *svc_ctx;
  fleet_ws__client_t **clients;
  size_t n_clients, cap_clients;
  fleet_ws__client_t **all_clients;
  size_t n_all, cap_all;
  fleet_ws__vehicle_t **svc_list; /**< vehicles seen by the service thread */
  size_t n_svc, cap_svc;
  unsigned char *wbuf;  /**< LWS_PRE + FLEET_WS__CHUNK scratch for writes */
  lws_sorted_usec_list_t sul_sweep;
  int draining;         /**< stopping: clients are being closed */
  lws_sorted_usec_list_t sul_flush; /**< the flush tick, armed while updates wait */
  int flush_armed;
  int64_t tick_t0;      /**< monotonic ms of tick 1 */
  /*
   * The last telemetry_batch built and the updates it carries (vehicle and
   * seq, in order). Clients whose flush selects the same updates, as every
   * client subscribed to the same vehicles at the same interval does, share
   * the frame instead of building their own copy.
   */
  fleet_ws__msg_t *batch_msg;
  fleet_ws__batch_item_t *batch_key, *batch_sel; /* FLEET_WS__BATCH_ITEMS each, or NULL */
  size_t n_batch_key;

  /* counters (relaxed atomics) */
  atomic_uint_fast64_t st_clients, st_connections, st_disconnects, st_auth_failures,
      st_forbidden, st_messages_sent, st_bytes_sent, st_telemetry_sent,
      st_telemetry_coalesced, st_alerts_sent, st_snapshots_sent, st_errors_sent,
      st_messages_received, st_slow_disconnects, st_oversize_closes, st_expired_closes,
      st_http_requests, st_http_4xx, st_http_5xx, st_handler_errors, st_static_served,
      st_telemetry_published, st_telemetry_stale, st_alerts_published, st_publish_refused,
      st_vehicles, st_queued_bytes, st_batches_built, st_batches_shared;
};

#define FLEET_WS__INC(gw, name) atomic_fetch_add_explicit(&(gw)->name, 1, memory_order_relaxed)
#define FLEET_WS__ADD(gw, name, n) \
  atomic_fetch_add_explicit(&(gw)->name, (uint_fast64_t)(n), memory_order_relaxed)
#define FLEET_WS__SUB(gw, name, n) \
  atomic_fetch_sub_explicit(&(gw)->name, (uint_fast64_t)(n), memory_order_relaxed)

/* ---- ws.c ---- */

/** Log through the gateway's hook when `level` passes its filter. */
void fleet_ws__log(fleet_ws_t *gw, int level, const char *fmt, ...) FLEET_PRINTF(3, 4);

/** Key function of gw->map (a vehicle's id by its index); gw->lock held. */
const char *fleet_ws__vehicle_key(const void *ctx, uint32_t idx);

/** Monotonic milliseconds. */
int64_t fleet_ws__now_ms(void);

/**
 * Parse a listen address: "1.2.3.4:80" or "[::1]:80", numeric only, port
 * 0-65535. Writes the host without brackets (FLEET_WS__HOST_MAX bytes).
 * Returns 0 or FLEET_EINVAL with the reason.
 */
int fleet_ws__parse_listen(char host[FLEET_WS__HOST_MAX], int *out_port, int *out_ipv6,
                           const char *listen);

/**
 * Replace the value of every "access_token=" in `s` (up to '&', ' ', '"' or
 * the end) by "***", in place (never longer). Returns `s`.
 */
char *fleet_ws__redact(char *s);

/**
 * Build the data object of a telemetry update: the record's fields without
 * "v" and "vehicle_id", then the members of `extra` (a JSON object or NULL).
 * Appends "{...}" to `out`. Returns 0, FLEET_EINVAL, FLEET_EPARSE,
 * FLEET_ETOOBIG or FLEET_ENOMEM.
 */
int fleet_ws__render_data(fleet_buf_t *out, const fleet_telemetry_t *rec, const char *extra,
                          size_t extra_len);

/**
 * Build an alert message {"type":"alert","vehicle_id":"<id>",<members of json
 * but vehicle_id>}. Returns 0, FLEET_EINVAL, FLEET_EPARSE, FLEET_ETOOBIG or
 * FLEET_ENOMEM.
 */
int fleet_ws__render_alert(fleet_buf_t *out, const char *vehicle_id, const char *json,
                           size_t len);

/**
 * Move the publishers' backlog into the served state and hand it to the
 * clients (service thread; on every wake-up).
 */
void fleet_ws__drain(fleet_ws_t *gw);

/**
 * A new shared message of `len` bytes, a copy of `data`, or left for the
 * caller to fill when `data` is NULL (terminated either way); NULL on ENOMEM.
 */
fleet_ws__msg_t *fleet_ws__msg_new(uint32_t kind, const char *data, size_t len);
/** Drop a reference (NULL-safe). */
void fleet_ws__msg_unref(fleet_ws__msg_t *m);

/* ---- ws_feed.c ---- */

/** Create the client of an accepted upgrade (takes the claims and token). 0 or ENOMEM. */
int fleet_ws__client_open(fleet_ws_t *gw, struct lws *wsi, fleet_auth_claims_t *claims,
                          char *token, size_t token_len, const char *peer);
/** Tear a client down (on LWS_CALLBACK_CLOSED or WSI_DESTROY). */
void fleet_ws__client_close(fleet_ws__client_t *c);
/** LWS_CALLBACK_RECEIVE. Returns 0, or -1 to close. */
int fleet_ws__client_receive(fleet_ws__client_t *c, const void *in, size_t len);
/** LWS_CALLBACK_SERVER_WRITEABLE. Returns 0, or -1 to close. */
int fleet_ws__client_writeable(fleet_ws__client_t *c);
/** A vehicle's served state changed: mark it for its subscribers. */
void fleet_ws__feed_vehicle_updated(fleet_ws_t *gw, fleet_ws__vehicle_t *v);
/** The service thread saw a vehicle for the first time: attach explicit subscribers. */
void fleet_ws__feed_vehicle_seen(fleet_ws_t *gw, fleet_ws__vehicle_t *v);
/** Queue an alert message for the subscribers of `v`. */
void fleet_ws__feed_alert(fleet_ws_t *gw, fleet_ws__vehicle_t *v, fleet_ws__msg_t *m);
/** Stop the flush tick and release its scratch (service thread, before the context goes). */
void fleet_ws__feed_stop(fleet_ws_t *gw);
/** Once a second: drop stuck clients. */
void fleet_ws__feed_sweep(fleet_ws_t *gw);
/** Start closing every client with `code` (stopping). */
void fleet_ws__feed_close_all(fleet_ws_t *gw, int code, const char *reason);
/** 1 when the client may see `id` (admin, or in the token's allow-list). */
int fleet_ws__client_allows(const fleet_ws__client_t *c, const char *id);

/* ---- ws_http.c ---- */

/** The protocol callback (HTTP and WebSocket reasons). */
int fleet_ws__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len);
/** Send the deferred responses finished by other threads (a list linked by `next`). */
void fleet_ws__http_finished(fleet_ws_t *gw, fleet_ws_response_t *list);
/** Free a response that will never be sent. */
void fleet_ws__response_free(fleet_ws_response_t *resp);

/**
 * Find the value of cookie `name` in a Cookie header ("a=1; fleet_token=xyz").
 * Returns 1 and sets `*out` and `*out_len` (pointing into `header`), else 0.
 */
int fleet_ws__cookie_value(const char **out, size_t *out_len, const char *header,
                           const char *name);

/**
 * Take the token out of an Authorization header value "Bearer TOKEN" (scheme
 * case-insensitive, spaces around trimmed). Returns 1 and sets `*out` and `*out_len`,
 * else 0 (another scheme, or empty).
 */
int fleet_ws__bearer(const char **out, size_t *out_len, const char *header);

/**
 * 1 when `origin` may use the gateway: in the allow-list (case-insensitive)
 * or equal to "http[s]://" + `host` (the request's Host header). NULL host or
 * origin gives 0.
 */
int fleet_ws__origin_allowed(const fleet_ws_t *gw, const char *origin, const char *host,
                             int tls);

/** MIME type of a file name by its extension ("application/octet-stream" when unknown). */
const char *fleet_ws__mime_type(const char *path);

/** Cache-Control value for a static path ("/assets/..." immutable, else no-cache). */
const char *fleet_ws__cache_control(const char *path);

/**
 * 1 when a path is acceptable for the static mount: starts with '/', no
 * segment starting with '.', no backslash, no control characters.
 */
int fleet_ws__static_path_ok(const char *path);

/**
 * 1 when a missing static path should get index.html: not /api or under it,
 * last segment without '.', and `accept` (may be NULL) mentions text/html.
 */
int fleet_ws__spa_fallback(const char *path, const char *accept);

/**
 * Check a route prefix (see fleet_ws_route_add()). Returns 0 or FLEET_EINVAL
 * with the reason.
 */
int fleet_ws__prefix_check(const char *prefix);

/**
 * 1 when `path` falls under `prefix` (equal, or followed by '/'; "/" matches
 * everything).
 */
int fleet_ws__prefix_match(const char *prefix, size_t prefix_len, const char *path);

#endif /* FLEET_WS_INT_H */
