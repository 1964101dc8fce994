/*
 * ws: the gateway of libfleet. One HTTP(S) port (libwebsockets 4.1) that
 * serves
 *   - the live feed over WebSocket at `/ws`: positions pushed within a
 *     short flush tick, at most one per vehicle per client interval (faster
 *     updates coalesced, latest wins), alerts at once, a snapshot of the
 *     last-known positions on subscribe;
 *   - REST routes the application registers (fleet_ws_route_add()), with the
 *     token checked and the role enforced before the handler runs;
 *   - the built dashboard from a directory (MIME types, cache headers,
 *     ETags, SPA fallback, no way out of the directory);
 *   - `/healthz` (200 "ok").
 * Every request that needs a user carries a JWT access token, checked with a
 * verifier of the auth module (fleet/auth.h).
 *
 *     fleet_ws_options_t o = FLEET_WS_OPTIONS_INIT;
 *     o.listen = "127.0.0.1:8080";
 *     o.verifier = fleet_auth_verifier(auth);   // borrowed
 *     o.static_root = "/usr/share/fleetd/web";
 *     fleet_ws_t *gw;
 *     if (fleet_ws_new(&gw, &o) != 0) ...;
 *     fleet_ws_route_add(gw, "GET", "/api/vehicles", FLEET_AUTH_ROLE_VIEWER,
 *                        on_vehicles, app);
 *     if (fleet_ws_start(gw) != 0) ...;        // binds, starts the thread
 *     ...                                        // any thread:
 *     fleet_ws_publish_telemetry(gw, &rec, "{\"status\":\"moving\"}", 19);
 *     fleet_ws_publish_alert(gw, "v-001", alert_json, alert_len);
 *     ...
 *     fleet_ws_free(gw);                         // stops, then frees
 *
 * Tokens. A WebSocket upgrade or a REST request presents its access token in
 * one of three ways, tried in this order:
 *   1. `Authorization: Bearer TOKEN` (scripts, the dashboard's fetch calls).
 *      When this header is present it is the only credential looked at.
 *   2. the query parameter `access_token=TOKEN` (browsers that cannot set a
 *      header on a WebSocket). The query string is never logged and is
 *      removed from what route handlers see.
 *   3. the HttpOnly cookie named `cookie_name` (default "fleet_token"), but
 *      only when the request's `Origin` is allowed (see below). A REST GET or
 *      HEAD without an `Origin` header (a same-origin navigation or fetch)
 *      may also use the cookie; a WebSocket upgrade never does without an
 *      allowed Origin.
 * A missing, malformed, forged, expired or `alg:none` token gets 401 with the
 * body {"error":"unauthorized"} and a `WWW-Authenticate: Bearer` header, before
 * any upgrade; the reason goes to the log hook only. A valid token whose role
 * is below the route's gets 403 {"error":"forbidden"}.
 *
 * Origins. An upgrade request that carries an `Origin` header is refused with
 * 403 unless the origin is in `allowed_origins` (exact, case-insensitive
 * "scheme://host[:port]") or is the gateway's own origin (scheme and the
 * request's Host header: the dashboard served from this port). Browsers
 * always send Origin on a WebSocket, so a page of another site can never use
 * a visitor's cookie; non-browser clients (scripts, fleetctl) send no Origin
 * and use the Authorization header or the query parameter.
 *
 * WebSocket protocol (JSON text frames) at FLEET_WS_PATH. No subprotocol is
 * needed; a client that sends Sec-WebSocket-Protocol must offer "fleet"
 * (tokens never travel in that header). Client to server:
 *   {"type":"subscribe","vehicles":["v-001",...] | "*","interval_ms":1000,
 *    "batch":true}
 *   {"type":"unsubscribe","vehicles":[...] | "*"}
 *   {"type":"ping"}
 * Server to client:
 *   {"type":"snapshot","interval_ms":N,"vehicles":[{"vehicle_id":..,"ts":..,
 *     "lat":..,"lng":..,...},...]}  after every subscribe: the last-known
 *     state of the vehicles it added that have one (possibly "vehicles":[]).
 *   {"type":"telemetry_update","vehicle_id":"v-001","data":{"ts":..,"lat":..,
 *     "lng":..,"speed":..,"heading":..,...}}  at most one per vehicle per
 *     interval: updates published in between are coalesced, latest wins.
 *   {"type":"telemetry_batch","updates":[{"vehicle_id":"v-001","data":{...}},
 *     ...]}  the same updates, many per frame (up to 1000 or ~256 KiB), for
 *     a connection that subscribed with "batch":true.
 *   {"type":"alert",...}  as soon as published, never coalesced or dropped.
 *   {"type":"pong"}
 *   {"type":"error","message":"..."}  for a message that is not JSON, not an
 *     object, of unknown type, or has bad members; the connection stays.
 * Semantics:
 *   - A client only ever sees vehicles its token allows: an admin sees all;
 *     a viewer sees the token's allow-list ("*" = all). "vehicles":"*"
 *     subscribes to every allowed vehicle, present and future. Ids outside
 *     the allow-list are reported in an error message and skipped; the rest
 *     of the subscription applies.
 *   - `interval_ms` (an integer) sets the connection's push interval: the
 *     least time between two updates of the same vehicle to this
 *     connection. Values outside [interval_min_ms, interval_max_ms] are
 *     clamped (the snapshot says which value applies); absent keeps the
 *     current one (initially interval_default_ms). A non-integer is an
 *     error. `batch` (true/false, absent keeps the current choice, initially
 *     false) selects telemetry_batch frames; anything else is an error.
 *   - Timing. The gateway flushes on a gateway-wide tick every `flush_ms`
 *     (a fixed grid, running only while updates wait). At each tick a
 *     connection gets every subscribed vehicle that changed since it was
 *     last sent, unless that vehicle was sent to it less than the interval
 *     ago: such a vehicle waits (further updates replace the waiting one,
 *     latest wins) and goes out at the first tick one interval after its
 *     previous send. So an update of a vehicle that was quiet for an
 *     interval reaches the client within one tick (plus the time to write
 *     it), a vehicle updated faster than the interval reaches it once per
 *     interval with its latest state, and vehicles never wait for each
 *     other. An update is due at the first tick after it was published (a
 *     tick that runs late still sends it, it does not wait for the next
 *     one). The interval is counted in ticks, rounded up (1000 ms at a 50
 *     ms tick: 20 ticks), and from one update's due tick to the next, not
 *     from when it was written: a late write does not delay later updates.
 *     Two updates of one vehicle are due at least ceil(interval_ms /
 *     flush_ms) ticks apart, one tick less when that is 10 ticks or more:
 *     the tolerance lets a vehicle reporting exactly once per interval catch
 *     up after a burst instead of staying an interval late (1000 ms at 50 ms
 *     ticks: at least 950 ms apart). A connection
 *     still writing the previous tick's updates skips ticks until it is done
 *     (its updates coalesce meanwhile). Alerts follow the subscriptions too:
 *     a connection gets the alerts of the vehicles it is subscribed to, at
 *     once, never coalesced.
 *   - Unsubscribing single vehicles from a "*" subscription is an error
 *     (unsubscribe "*" first).
 *   - Messages larger than `max_message_bytes` (fragments counted together)
 *     close the connection with 1009. Binary frames get an error message.
 *     Invalid UTF-8 closes with 1007.
 *   - Backpressure: the gateway writes one frame at a time per client and
 *     never blocks on a slow one. Per client it holds at most the latest
 *     position of each subscribed vehicle (pointers to the shared state: per
 *     vehicle index 1 bit + 4 bytes of bookkeeping, and room for up to 16
 *     bytes in its lists of waiting and outgoing vehicles, kept at their
 *     largest size) plus a queue of alerts and replies
 *     bounded by `alert_queue_max` messages and `send_buffer_bytes` bytes. A
 *     client that overflows that queue, or that has had output waiting
 *     without any progress for `stuck_timeout_ms`, is disconnected with 1008
 *     (counted in `slow_disconnects`): alerts are never dropped silently.
 *   - When the token expires the connection is closed with 4001.
 *   - The gateway pings idle connections every `ping_interval_s` and drops
 *     those silent for `idle_timeout_s` (libwebsockets' validity policy).
 *
 * Static files (when `static_root` is set): GET and HEAD of any path that no
 * route claims. `/` serves index.html. Files under `/assets/` (Vite's hashed
 * bundles) are sent with `Cache-Control: public, max-age=31536000,
 * immutable`, everything else with `no-cache` plus an ETag (If-None-Match ->
 * 304). A path that names no file gets index.html (SPA fallback) when it is
 * outside `/api/`, its last segment has no '.', and the request accepts
 * text/html (a browser navigation); otherwise 404. libwebsockets resolves
 * "." and ".." segments and percent-escapes (also %2e and %2f) before the
 * gateway sees a path, so nothing climbs out of the root that way; path
 * segments starting with '.' and files whose real path (symlinks resolved)
 * lies outside the root get 404. No Range requests.
 *
 * HTTP/1.1 only: TLS offers no h2 (ALPN "http/1.1"), and a cleartext
 * `Upgrade: h2c` request gets 400 (curl: use --http1.1, its default).
 *
 * Threads. fleet_ws_start() runs the gateway on its own service thread, which
 * runs every route handler and the log hook. fleet_ws_publish_*(),
 * fleet_ws_stats(), fleet_ws_port() and fleet_ws_response_finish() may be
 * called from any thread, at any time between fleet_ws_new() and
 * fleet_ws_free() (route handlers included); they take a short lock and wake
 * the service thread, never wait for the network. fleet_ws_route_add(),
 * fleet_ws_start(), fleet_ws_stop() and fleet_ws_free() belong to one
 * controlling thread and must not be called from a handler or the log hook.
 *
 * Process-wide effect: libwebsockets' logging is global. fleet_ws_start()
 * routes its errors and warnings to the log hooks of the running gateways
 * (with any access_token value masked) instead of stderr.
 */
#ifndef FLEET_WS_H
#define FLEET_WS_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "common.h"
#include "telemetry.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A gateway (opaque). */
typedef struct fleet_ws fleet_ws_t;

/** The address used when `listen` is NULL. */
#define FLEET_WS_LISTEN_DEFAULT "127.0.0.1:8080"
/** The WebSocket endpoint. */
#define FLEET_WS_PATH "/ws"
/** The health endpoint (built in: GET/HEAD -> 200 "ok\n"). */
#define FLEET_WS_HEALTH_PATH "/healthz"
/** The cookie read when `cookie_name` is NULL. */
#define FLEET_WS_COOKIE_DEFAULT "fleet_token"
/** Default largest WebSocket message accepted from a client, in bytes. */
#define FLEET_WS_MESSAGE_MAX_DEFAULT 65536u
/** Default bound of a client's queue of alerts and replies, in bytes. */
#define FLEET_WS_SEND_BUFFER_DEFAULT 1048576u
/** Default bound of a client's queue, in messages. */
#define FLEET_WS_ALERT_QUEUE_DEFAULT 1000u
/** Default time a client may leave output waiting without progress, in ms. */
#define FLEET_WS_STUCK_TIMEOUT_DEFAULT 10000u
/** Default flush tick, in ms (see "Timing" above). */
#define FLEET_WS_FLUSH_DEFAULT 50u
/** Push interval bounds and default, in ms. */
#define FLEET_WS_INTERVAL_MIN_DEFAULT 100u
#define FLEET_WS_INTERVAL_MAX_DEFAULT 60000u
#define FLEET_WS_INTERVAL_DEFAULT 1000u
/** Default seconds of silence before the gateway pings a WebSocket client. */
#define FLEET_WS_PING_INTERVAL_DEFAULT 30u
/** Default seconds of silence (no pong, no message) before it hangs up. */
#define FLEET_WS_IDLE_TIMEOUT_DEFAULT 75u
/** Default largest REST request body, in bytes. */
#define FLEET_WS_BODY_MAX_DEFAULT 1048576u
/** Default room for the request line and headers, in bytes (a cookie with a JWT fits). */
#define FLEET_WS_HEADER_MAX_DEFAULT 16384u
/** Default most WebSocket clients at once (further upgrades get 503). */
#define FLEET_WS_CLIENTS_MAX_DEFAULT 10000u
/** Default most vehicles the gateway keeps a last-known state for. */
#define FLEET_WS_VEHICLES_MAX_DEFAULT 1000000u
/** Most vehicle ids one connection may subscribe to individually. */
#define FLEET_WS_SUBSCRIBE_MAX 10000u
/** Alerts that may wait for the service thread before publishing fails with FLEET_EFULL. */
#define FLEET_WS_ALERT_BACKLOG_MAX 65536u
/** Longest extra JSON object merged into a telemetry update, in bytes. */
#define FLEET_WS_EXTRA_MAX 4096u
/** Longest alert or state JSON object, in bytes. */
#define FLEET_WS_JSON_MAX 65536u

/** WebSocket close codes the gateway sends. */
#define FLEET_WS_CLOSE_GOING_AWAY 1001   /**< the gateway is stopping */
#define FLEET_WS_CLOSE_SLOW 1008         /**< the client could not keep up */
#define FLEET_WS_CLOSE_TOO_BIG 1009      /**< a message over max_message_bytes */
#define FLEET_WS_CLOSE_TOKEN_EXPIRED 4001 /**< the token expired */

/** Route role meaning "no token needed". Other values are fleet_auth_role_t. */
#define FLEET_WS_ROLE_PUBLIC 0

/** Levels passed to fleet_ws_log_cb (same values as the other modules'). */
typedef enum fleet_ws_log_level {
  FLEET_WS_LOG_ERROR = 1,   /**< the gateway cannot do its job (bind failed, out of memory) */
  FLEET_WS_LOG_WARNING = 2, /**< refused requests (401, 403), slow clients, handler failures */
  FLEET_WS_LOG_INFO = 3,    /**< start, stop, WebSocket connects and disconnects */
  FLEET_WS_LOG_DEBUG = 4    /**< every HTTP request and subscription */
} fleet_ws_log_level_t;

/**
 * Log hook: the library never prints. Runs on the service thread (or on the
 * controlling thread inside fleet_ws_start()/fleet_ws_stop()), possibly while
 * the gateway holds an internal lock: it must return quickly and must not
 * call any fleet_ws_* function but fleet_ws_stats(). Messages
 * never contain tokens, cookies or query strings; refused tokens are logged
 * with the verifier's reason ("token expired at ...") and the peer address.
 *
 * @param level    a fleet_ws_log_level_t value.
 * @param message  one line without a newline; borrowed, valid during the call.
 * @param userdata the options' `userdata`.
 */
typedef void (*fleet_ws_log_cb)(int level, const char *message, void *userdata);

/** Version of fleet_ws_options_t this header describes. */
#define FLEET_WS_OPTIONS_VERSION 2

/**
 * Gateway options. Initialise with FLEET_WS_OPTIONS_INIT or
 * fleet_ws_options_init(). Strings and arrays are copied by fleet_ws_new();
 * `verifier` and `userdata` are borrowed and kept.
 */
typedef struct fleet_ws_options {
  unsigned int version; /**< FLEET_WS_OPTIONS_VERSION */

  /* --- listening --- */
  const char *listen;   /**< "IPv4:port" or "[IPv6]:port" with a numeric
                             address ("0.0.0.0" / "[::]" for every interface);
                             port 0 picks a free port (fleet_ws_port()).
                             NULL: FLEET_WS_LISTEN_DEFAULT */
  const char *tls_cert_file; /**< PEM certificate (chain): serve HTTPS and
                             WSS only. Needs `tls_key_file`. NULL: plain HTTP */
  const char *tls_key_file;  /**< PEM private key of the certificate */

  /* --- authentication --- */
  const fleet_auth_verifier_t *verifier; /**< required; borrowed: must outlive
                             the gateway and not change while it runs */
  const char *cookie_name;   /**< NULL: FLEET_WS_COOKIE_DEFAULT; 1-64 of
                             [A-Za-z0-9_-] */
  const char *const *allowed_origins; /**< "https://fleet.example.com", ...;
                             besides the gateway's own origin */
  size_t n_allowed_origins;  /**< entries in `allowed_origins` */

  /* --- static files --- */
  const char *static_root;   /**< directory with index.html (the built
                             dashboard), or NULL for none. Must exist. */

  /* --- WebSocket limits --- */
  size_t max_message_bytes;  /**< largest client message, 128 B - 16 MiB;
                             default FLEET_WS_MESSAGE_MAX_DEFAULT */
  size_t send_buffer_bytes;  /**< per-client queue bound, 4 KiB - 1 GiB;
                             default FLEET_WS_SEND_BUFFER_DEFAULT */
  size_t tcp_send_buffer_bytes; /**< SO_SNDBUF of accepted connections. 0
                             (default): the kernel's autotuning, which may
                             hold up to net.ipv4.tcp_wmem's maximum (4 MiB
                             on Linux) per connection before the gateway's
                             own queue even starts to fill. 4 KiB - 64 MiB:
                             that cap, so slow readers are found sooner and
                             cost less kernel memory (throughput per client
                             is then at most this much per round trip). */
  unsigned int alert_queue_max; /**< per-client queue bound in messages,
                             1-1000000; default FLEET_WS_ALERT_QUEUE_DEFAULT */
  unsigned int stuck_timeout_ms; /**< 100-3600000; default
                             FLEET_WS_STUCK_TIMEOUT_DEFAULT */
  unsigned int interval_min_ms;     /**< >= 10; default 100 */
  unsigned int interval_max_ms;     /**< <= 3600000; default 60000 */
  unsigned int interval_default_ms; /**< within [min, max]; default 1000 */
  unsigned int ping_interval_s; /**< 1-65535; default FLEET_WS_PING_INTERVAL_DEFAULT */
  unsigned int idle_timeout_s;  /**< > ping_interval_s, <= 65535; default
                             FLEET_WS_IDLE_TIMEOUT_DEFAULT */
  unsigned int max_clients;  /**< 1-1000000; default FLEET_WS_CLIENTS_MAX_DEFAULT */
  size_t max_vehicles;       /**< vehicles kept, >= 1; default
                             FLEET_WS_VEHICLES_MAX_DEFAULT */

  /* --- HTTP limits --- */
  size_t max_body_bytes;     /**< largest REST body (413 above), 0 - 1 GiB;
                             default FLEET_WS_BODY_MAX_DEFAULT */
  size_t max_header_bytes;   /**< request line + headers, 4096 - 65535;
                             default FLEET_WS_HEADER_MAX_DEFAULT */

  /* --- logging --- */
  fleet_ws_log_cb log_cb;    /**< NULL: no logging */
  int log_level;             /**< most verbose level passed, default
                             FLEET_WS_LOG_INFO */
  void *userdata;            /**< passed to log_cb; borrowed, kept */

  /* --- since version 2 --- */
  unsigned int flush_ms;     /**< the flush tick: the longest an update of a
                             vehicle that is due waits before it is taken
                             for sending, 5-1000; default
                             FLEET_WS_FLUSH_DEFAULT. Intervals are rounded
                             up to whole ticks. Shorter: lower latency, more
                             (smaller) frames. Version 1 callers get the
                             default. */
} fleet_ws_options_t;

#define FLEET_WS_OPTIONS_INIT                                                        \
  {FLEET_WS_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL,            \
   FLEET_WS_MESSAGE_MAX_DEFAULT, FLEET_WS_SEND_BUFFER_DEFAULT, 0,                   \
   FLEET_WS_ALERT_QUEUE_DEFAULT, FLEET_WS_STUCK_TIMEOUT_DEFAULT,                    \
   FLEET_WS_INTERVAL_MIN_DEFAULT, FLEET_WS_INTERVAL_MAX_DEFAULT,                    \
   FLEET_WS_INTERVAL_DEFAULT, FLEET_WS_PING_INTERVAL_DEFAULT,                       \
   FLEET_WS_IDLE_TIMEOUT_DEFAULT, FLEET_WS_CLIENTS_MAX_DEFAULT,                     \
   FLEET_WS_VEHICLES_MAX_DEFAULT, FLEET_WS_BODY_MAX_DEFAULT,                        \
   FLEET_WS_HEADER_MAX_DEFAULT, NULL, FLEET_WS_LOG_INFO, NULL, FLEET_WS_FLUSH_DEFAULT}

/**
 * Fill `opts` with the defaults of `version` (1 or 2; a version 1 struct ends
 * before `flush_ms`, which is not written).
 * @return 0, FLEET_EINVAL (NULL) or FLEET_EVERSION (unknown version).
 */
FLEET_API int fleet_ws_options_init(fleet_ws_options_t *opts, unsigned int version);

/**
 * Create a gateway: check and copy the options. Does not bind
 * (fleet_ws_start() does).
 *
 * @param out  receives the gateway (owned: fleet_ws_free()); NULL on failure.
 * @param opts the options; borrowed.
 * @return 0, FLEET_EINVAL (a bad option, named in fleet_error_last():
 *   "listen: ...", "verifier: required", "interval_default_ms: ...",
 *   "allowed_origins[1]: ..."), FLEET_EVERSION, FLEET_EIO (static_root or a
 *   TLS file cannot be read), FLEET_ENOMEM.
 */
FLEET_API int fleet_ws_new(fleet_ws_t **out, const fleet_ws_options_t *opts);

/**
 * Stop the gateway (as fleet_ws_stop()) and free it. NULL-safe. Every
 * deferred response must have been finished before (fleet_ws_response_finish()).
 */
FLEET_API void fleet_ws_free(fleet_ws_t *gw);

/* ------------------------------------------------------------------------ */
/* REST routes                                                              */
/* ------------------------------------------------------------------------ */

/**
 * An HTTP request as a route handler sees it (opaque; borrowed, valid only
 * during the handler call: copy what a deferred response needs).
 */
typedef struct fleet_ws_request fleet_ws_request_t;

/**
 * The response a route handler fills in (opaque). Starts as 200 with
 * Content-Type application/json and an empty body. Unless the handler sets
 * its own, `Cache-Control: no-store` is added; `X-Content-Type-Options:
 * nosniff` always is.
 */
typedef struct fleet_ws_response fleet_ws_response_t;

/** Route handler return value: the response will be finished later. */
#define FLEET_WS_DEFER 1

/**
 * Route handler. Runs on the service thread, where every WebSocket client
 * waits while it runs: it must be quick (in-memory work). Slow work (a
 * database query) returns FLEET_WS_DEFER and finishes the response later
 * from another thread with fleet_ws_response_finish().
 *
 * @param resp     the response to fill; borrowed until the handler returns,
 *                 or until fleet_ws_response_finish() after FLEET_WS_DEFER.
 * @param req      the request; borrowed, valid during the call.
 * @param userdata the route's userdata.
 * @return 0 (send `resp` now), FLEET_WS_DEFER, or a negative code: the
 *   client gets 500 {"error":"internal error"}, the code and
 *   fleet_error_last() go to the log, `handler_errors` counts it.
 */
typedef int (*fleet_ws_route_cb)(fleet_ws_response_t *resp, const fleet_ws_request_t *req,
                                 void *userdata);

/**
 * Register a route. A request matches the route with the longest `prefix`
 * that equals its path or is followed in it by '/'; then the method must
 * match (else 405 with an Allow header). GET routes also answer HEAD (the
 * body is dropped). Routes take precedence over static files. Before the
 * handler runs the gateway checks the token (401), the role (403) and the
 * body size (413).
 *
 * @param gw       the gateway, stopped (routes are fixed while it runs).
 * @param method   "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"
 *                 or "*" (any); borrowed (copied).
 * @param prefix   "/api/vehicles": starts with '/', no trailing '/' (except
 *                 "/" alone), no '?', '#', "//", "." or ".." segments, at most
 *                 255 bytes; borrowed (copied). FLEET_WS_PATH and
 *                 FLEET_WS_HEALTH_PATH are reserved.
 * @param min_role FLEET_WS_ROLE_PUBLIC (no token needed; a valid token, when
 *                 sent, is still passed on), FLEET_AUTH_ROLE_VIEWER or
 *                 FLEET_AUTH_ROLE_ADMIN.
 * @param cb       the handler.
 * @param userdata passed to `cb`; borrowed, kept.
 * @return 0, FLEET_EINVAL (bad method, prefix or role, NULL), FLEET_EEXISTS
 *   (same method and prefix, or a reserved path), FLEET_ESTATE (running),
 *   FLEET_ENOMEM.
 */
FLEET_API int fleet_ws_route_add(fleet_ws_t *gw, const char *method, const char *prefix,
                                 int min_role, fleet_ws_route_cb cb, void *userdata);

/** The method, upper case ("GET"). Borrowed; never NULL. */
FLEET_API const char *fleet_ws_request_method(const fleet_ws_request_t *req);

/** The decoded path ("/api/vehicles/v-001"), without the query. Borrowed; never NULL. */
FLEET_API const char *fleet_ws_request_path(const fleet_ws_request_t *req);

/**
 * The part of the path after the route's prefix: "" or "/v-001/history".
 * Borrowed; never NULL.
 */
FLEET_API const char *fleet_ws_request_subpath(const fleet_ws_request_t *req);

/**
 * The decoded value of the first query parameter `name` ("from" in
 * ?from=2026-05-21T10:00:00Z), "" for a parameter without '=', or NULL when
 * absent. `access_token` is never visible here. '+' reads as a space.
 * Borrowed; valid during the handler call.
 */
FLEET_API const char *fleet_ws_request_query(const fleet_ws_request_t *req, const char *name);

/** Number of query parameters (access_token not counted). */
FLEET_API size_t fleet_ws_request_query_count(const fleet_ws_request_t *req);

/**
 * The query parameter at `index` (< query_count), or -1 out of range.
 * @param out_name  receives its decoded name; borrowed.
 * @param out_value receives its decoded value ("" without '='); borrowed.
 * @return 0 or FLEET_EINVAL.
 */
FLEET_API int fleet_ws_request_query_at(const char **out_name, const char **out_value,
                                        const fleet_ws_request_t *req, size_t index);

/**
 * A request header by name (case-insensitive, "If-None-Match"), or NULL when
 * absent. Authorization and Cookie read as NULL: credentials stay inside the
 * gateway. Borrowed; valid during the handler call.
 */
FLEET_API const char *fleet_ws_request_header(const fleet_ws_request_t *req, const char *name);

/**
 * The request body (all of it, at most max_body_bytes), NUL-terminated (the
 * terminator is not counted). Never NULL ("" when there is none).
 * @param out_len receives its length; may be NULL.
 */
FLEET_API const char *fleet_ws_request_body(const fleet_ws_request_t *req, size_t *out_len);

/**
 * The verified token's claims: always set on routes with a role; on public
 * routes only when a valid token came along (else NULL). Borrowed; valid
 * during the handler call (copy with fleet_auth_claims_to_json() or the
 * getters).
 */
FLEET_API const fleet_auth_claims_t *fleet_ws_request_claims(const fleet_ws_request_t *req);

/** The peer's address ("127.0.0.1", "::1"). Borrowed; never NULL. */
FLEET_API const char *fleet_ws_request_peer(const fleet_ws_request_t *req);

/**
 * Set the status code (100-599; default 200). Returns 0 or FLEET_EINVAL.
 */
FLEET_API int fleet_ws_response_set_status(fleet_ws_response_t *resp, int status);

/**
 * Set the Content-Type ("text/csv; charset=utf-8"); NULL sends none. Printable
 * ASCII, at most 255 bytes. Returns 0, FLEET_EINVAL or FLEET_ENOMEM.
 */
FLEET_API int fleet_ws_response_set_content_type(fleet_ws_response_t *resp, const char *type);

/**
 * Add a response header ("Set-Cookie", "fleet_token=...; HttpOnly; ...").
 * May be called several times with one name. The name is a token of
 * [A-Za-z0-9!#$%&'*+.^_`|~-]; the value printable ASCII or tabs, no CR or LF,
 * at most 8 KiB. Content-Length, Content-Type, Connection, Transfer-Encoding
 * and Date are the gateway's. Returns 0, FLEET_EINVAL or FLEET_ENOMEM.
 */
FLEET_API int fleet_ws_response_add_header(fleet_ws_response_t *resp, const char *name,
                                           const char *value);

/**
 * The response body, for appending (fleet_buf_append(), or the library's
 * encoders). Borrowed from `resp`; never NULL.
 */
FLEET_API fleet_buf_t *fleet_ws_response_body(fleet_ws_response_t *resp);

/**
 * Make the response an error: status, Content-Type application/json and the
 * body {"error":"<error>"} or {"error":"<error>","detail":"<detail>"}
 * (replacing any body). `detail` may be NULL. Returns 0, FLEET_EINVAL or
 * FLEET_ENOMEM.
 */
FLEET_API int fleet_ws_response_error(fleet_ws_response_t *resp, int status, const char *error,
                                      const char *detail);

/**
 * Send a deferred response (the handler returned FLEET_WS_DEFER). Any thread;
 * exactly once per deferred response, after which `resp` must not be used.
 * A worker that the handler started may finish before the handler returns.
 * When the client went away meanwhile the response is simply freed.
 * Returns 0, or FLEET_EINVAL (NULL, or the response was not deferred).
 */
FLEET_API int fleet_ws_response_finish(fleet_ws_response_t *resp);

/**
 * 1 when the client of a deferred response has gone (the work may stop; the
 * response must still be finished), else 0. Any thread.
 */
FLEET_API int fleet_ws_response_abandoned(const fleet_ws_response_t *resp);

/* ------------------------------------------------------------------------ */
/* Running                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * Bind the listening socket, set up TLS when configured and start the
 * service thread. Returns once the port is listening.
 * @return 0, FLEET_ENET (the address cannot be bound: in use, not local),
 *   FLEET_EIO (TLS certificate or key unusable), FLEET_ESTATE (running),
 *   FLEET_ENOMEM, FLEET_EINTERNAL (no thread).
 */
FLEET_API int fleet_ws_start(fleet_ws_t *gw);

/**
 * Stop: close WebSocket clients with 1001 (waiting up to about one second
 * for the close frames to go out), close every connection, stop the thread.
 * Deferred responses still out are abandoned (they must still be finished).
 * The last-known vehicle table is kept: a later fleet_ws_start() serves it.
 * No-op on a stopped gateway. Returns 0.
 */
FLEET_API int fleet_ws_stop(fleet_ws_t *gw);

/** The port listened on while running (useful with port 0), else 0. Any thread. */
FLEET_API int fleet_ws_port(const fleet_ws_t *gw);

/* ------------------------------------------------------------------------ */
/* Publishing                                                               */
/* ------------------------------------------------------------------------ */

/**
 * Publish a vehicle's position: it becomes the vehicle's last-known state
 * (for snapshots) and is pushed to the subscribed clients at their
 * intervals. Any thread; cheap (formats the JSON, takes a short lock, wakes
 * the service thread). Works while stopped too (the state is kept).
 *
 * The update's `data` object holds the record's fields under their payload
 * names (ts, lat, lng, speed, heading, ignition, odometer, battery_v,
 * engine_temp, fuel_level, driver_id, the extra CAN fields) followed by the
 * members of `extra_json`.
 *
 * @param gw         the gateway.
 * @param rec        the record; its `vehicle_id` must be set. Borrowed.
 * @param extra_json a JSON object whose members are added to `data`
 *                   ({"status":"moving","zones":["depot"]}), or NULL. Its
 *                   names must differ from the record's. Borrowed.
 * @param extra_len  bytes of `extra_json` (at most FLEET_WS_EXTRA_MAX).
 * @return 0 (also when the record is older than the vehicle's last published
 *   one: it is then ignored and counted in `telemetry_stale`);
 *   FLEET_EINVAL (NULL, invalid record or vehicle id, extra not an object or
 *   with a clashing name); FLEET_EPARSE (extra is not JSON); FLEET_ETOOBIG;
 *   FLEET_EFULL (max_vehicles reached for a new vehicle); FLEET_ENOMEM.
 */
FLEET_API int fleet_ws_publish_telemetry(fleet_ws_t *gw, const fleet_telemetry_t *rec,
                                         const char *extra_json, size_t extra_len);

/**
 * Publish a vehicle's state as a ready JSON object (what fleet_ws_publish_telemetry()
 * builds from a record), e.g. {"ts":"..","lat":..,"lng":..,"status":"idle"}.
 * It replaces the vehicle's last-known state and is pushed like a position.
 * The object must not have a "vehicle_id" member (the gateway adds the id).
 * Any thread. Returns 0, FLEET_EINVAL (bad id, not an object, a "vehicle_id"
 * member), FLEET_EPARSE,
 * FLEET_ETOOBIG (over FLEET_WS_JSON_MAX), FLEET_EFULL, FLEET_ENOMEM.
 */
FLEET_API int fleet_ws_publish_state(fleet_ws_t *gw, const char *vehicle_id, const char *json,
                                     size_t len);

/**
 * Publish an alert: every connected client subscribed to `vehicle_id` (and
 * allowed to see it) gets {"type":"alert","vehicle_id":..,<members of
 * json>} as soon as possible. Never coalesced or dropped for a connected
 * client (a client that cannot take it is disconnected, see Backpressure).
 * While the gateway is stopped nobody is connected and the alert goes nowhere.
 * Any thread.
 *
 * @param gw         the gateway.
 * @param vehicle_id valid vehicle id; borrowed.
 * @param json       a JSON object without a "type" member; a "vehicle_id"
 *                   member, when present, must equal `vehicle_id`. Borrowed.
 * @param len        its length (at most FLEET_WS_JSON_MAX).
 * @return 0, FLEET_EINVAL, FLEET_EPARSE, FLEET_ETOOBIG, FLEET_EFULL (more
 *   than FLEET_WS_ALERT_BACKLOG_MAX alerts wait for the service thread, or
 *   max_vehicles reached), FLEET_ENOMEM.
 */
FLEET_API int fleet_ws_publish_alert(fleet_ws_t *gw, const char *vehicle_id, const char *json,
                                     size_t len);

/* ------------------------------------------------------------------------ */
/* Counters                                                                 */
/* ------------------------------------------------------------------------ */

/**
 * Version of fleet_ws_stats_t this header describes. Version 1 ends at
 * `queued_bytes`; version 2 adds `batches_built` and `batches_shared`.
 */
#define FLEET_WS_STATS_VERSION 2

/**
 * Counters since fleet_ws_new() (gauges marked as such). Plain data owned by
 * the caller: set `version` (FLEET_WS_STATS_INIT) before fleet_ws_stats().
 */
typedef struct fleet_ws_stats {
  unsigned int version;         /**< FLEET_WS_STATS_VERSION */
  uint64_t clients;             /**< gauge: WebSocket clients connected */
  uint64_t connections;         /**< upgrades accepted */
  uint64_t disconnects;         /**< WebSocket connections ended, any reason */
  uint64_t auth_failures;       /**< 401s (upgrades and REST) */
  uint64_t forbidden;           /**< 403s (origin, role) */
  uint64_t messages_sent;       /**< WebSocket messages written, every type */
  uint64_t bytes_sent;          /**< their payload bytes */
  uint64_t telemetry_sent;      /**< telemetry_update messages written */
  uint64_t telemetry_coalesced; /**< updates a client never got because a
                                     newer one replaced them first */
  uint64_t alerts_sent;         /**< alert messages written */
  uint64_t snapshots_sent;      /**< snapshot messages written */
  uint64_t errors_sent;         /**< error messages written */
  uint64_t messages_received;   /**< client messages read */
  uint64_t slow_disconnects;    /**< clients dropped for not keeping up (1008) */
  uint64_t oversize_closes;     /**< clients closed with 1009 */
  uint64_t expired_closes;      /**< clients closed with 4001 */
  uint64_t http_requests;       /**< HTTP requests (upgrades not counted) */
  uint64_t http_4xx;            /**< HTTP responses 400-499 (upgrade refusals included) */
  uint64_t http_5xx;            /**< HTTP responses 500-599 */
  uint64_t handler_errors;      /**< route handlers that returned an error */
  uint64_t static_served;       /**< static files sent (200 and 304) */
  uint64_t telemetry_published; /**< positions and states accepted */
  uint64_t telemetry_stale;     /**< records ignored as older than the last */
  uint64_t alerts_published;    /**< alerts accepted */
  uint64_t publish_refused;     /**< publish calls refused with FLEET_EFULL */
  uint64_t vehicles;            /**< gauge: vehicles with a last-known state */
  uint64_t queued_bytes;        /**< gauge: bytes waiting in client queues */
  /* version 2 */
  uint64_t batches_built;       /**< telemetry_batch frames built */
  uint64_t batches_shared;      /**< telemetry_batch frames a client got as built for
                                     another client (the same updates), not built again */
} fleet_ws_stats_t;

#define FLEET_WS_STATS_INIT                                                             \
  {FLEET_WS_STATS_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, \
   0, 0, 0, 0, 0, 0, 0, 0}

/**
 * Copy the counters into `out` (whose `version` the caller set: 1 or 2; a
 * version 1 struct ends before `batches_built`, which is then not written).
 * Any thread.
 * @return 0, FLEET_EINVAL or FLEET_EVERSION.
 */
FLEET_API int fleet_ws_stats(fleet_ws_stats_t *out, const fleet_ws_t *gw);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_WS_H */
