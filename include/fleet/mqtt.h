/*
 * mqtt: the MQTT client of libfleet, an adaptor over libmosquitto (2.0.x).
 *
 * It connects to a broker (mqtt:// or mqtts:// with CA, client certificate
 * and key), keeps a persistent session (fixed client id, clean_session off,
 * QoS 1 by default), subscribes to the telemetry topic `fleet/+/telemetry`
 * (or an MQTT 5 shared subscription `$share/GROUP/fleet/+/telemetry`),
 * reconnects by itself with exponential backoff, hands every message to the
 * application with the vehicle id already taken from the topic and checked,
 * and publishes alerts (`fleet/{id}/alerts`), statuses (`fleet/{id}/status`)
 * and anything else, from any thread.
 *
 *     fleet_mqtt_options_t o = FLEET_MQTT_OPTIONS_INIT;
 *     o.url = "mqtt://broker.example:1883";
 *     o.client_id = "fleetd-1";          // fixed: the broker keeps the session
 *     o.on_message = on_message;         // runs on the client's thread
 *     o.userdata = app;
 *     fleet_mqtt_t *m;
 *     if (fleet_mqtt_new(&m, &o) == 0 && fleet_mqtt_start(m) == 0) { ... }
 *     ...
 *     fleet_mqtt_free(m);                // stops cleanly, then frees
 *
 * Delivery guarantee (read this before relying on QoS 1):
 *   - With a persistent session (client_id set, clean_session 0) the broker
 *     keeps the subscriptions and queues QoS 1 messages while the client is
 *     away, and redelivers those it sent but saw no PUBACK for. The broker's
 *     `max_queued_messages` (mosquitto's default: 1000) caps that queue and
 *     silently drops the excess: raise it for fleets.
 *   - libmosquitto 2.0.11 sends the PUBACK of a QoS 1 message *before* it
 *     calls the message callback. If the process dies between the two, the
 *     broker considers the message delivered and it is lost. The application
 *     must therefore make the message durable first thing in its on_message
 *     callback (fleetd appends it to its ingest log, fleet/ingestlog.h) and do
 *     the rest afterwards; the window is then a few microseconds. It cannot be
 *     closed from the client side with this libmosquitto.
 *   - Brokers may deliver a message more than once (a broker restored from
 *     its periodic snapshot, a redelivery after a reconnect): processing must
 *     be idempotent. Order is kept per topic on one connection only.
 *   - Messages for another partition (see `partition_count`), messages on
 *     topics that are not `fleet/{valid id}/{kind}` and oversize messages are
 *     acknowledged by libmosquitto like every other, counted, and not
 *     delivered.
 *
 * Threads: one handle may be driven in one of two ways.
 *   - fleet_mqtt_start(): the handle runs its own network thread, which
 *     connects, reconnects, reads and writes, and runs every callback
 *     (on_message, on_connect, on_disconnect, log). Callbacks run one at a
 *     time, never concurrently with each other.
 *   - fleet_mqtt_connect() + fleet_mqtt_loop(): the caller's thread does the
 *     network work and runs the callbacks inside fleet_mqtt_loop().
 * In both modes fleet_mqtt_publish*(), fleet_mqtt_stats(),
 * fleet_mqtt_is_connected() and fleet_mqtt_wait_published() may be called
 * from any thread, callbacks included. fleet_mqtt_start(), fleet_mqtt_stop(),
 * fleet_mqtt_connect(), fleet_mqtt_loop() and fleet_mqtt_free() belong to one
 * controlling thread and must not be called from a callback.
 *
 * Connection attempts block the thread that makes them (the network thread,
 * or the caller of fleet_mqtt_connect()/fleet_mqtt_loop()) for the name
 * lookup and the TCP and TLS handshakes: libmosquitto sends the MQTT 5
 * CONNECT properties (the session expiry) only from its blocking connect.
 * Against an unreachable address that can take as long as the system's TCP
 * connect timeout, and fleet_mqtt_stop() waits for it.
 *
 * The network loop uses poll(), so descriptors above FD_SETSIZE are fine
 * (libmosquitto's own mosquitto_loop() uses select()). Writing to a TLS
 * connection the broker closed may raise SIGPIPE (OpenSSL writes with
 * write()): programs using mqtts:// should ignore SIGPIPE.
 */
#ifndef FLEET_MQTT_H
#define FLEET_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "telemetry.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An MQTT client (opaque). */
typedef struct fleet_mqtt fleet_mqtt_t;

/** The broker used when `url` is NULL. */
#define FLEET_MQTT_URL_DEFAULT "mqtt://127.0.0.1:1883"
/** The subscription used when `topics` is NULL. */
#define FLEET_MQTT_TOPIC_TELEMETRY "fleet/+/telemetry"
/** Longest host name in a URL, in bytes. */
#define FLEET_MQTT_HOST_MAX 255
/** Longest client id, in bytes. */
#define FLEET_MQTT_CLIENT_ID_MAX 256
/** Longest share group name, in bytes. */
#define FLEET_MQTT_SHARE_GROUP_MAX 128
/** Most subscription filters one client takes. */
#define FLEET_MQTT_TOPICS_MAX 64
/** Session expiry meaning "never" (MQTT 5). */
#define FLEET_MQTT_SESSION_NEVER_EXPIRES UINT32_MAX

/** MQTT protocol versions (the values of the protocol level byte). */
typedef enum fleet_mqtt_protocol {
  FLEET_MQTT_PROTOCOL_V311 = 4, /**< MQTT 3.1.1 (default) */
  FLEET_MQTT_PROTOCOL_V5 = 5    /**< MQTT 5.0 */
} fleet_mqtt_protocol_t;

/** Levels passed to fleet_mqtt_log_cb (same values as the influx module's). */
typedef enum fleet_mqtt_log_level {
  FLEET_MQTT_LOG_ERROR = 1,  /**< the connection or a call failed */
  FLEET_MQTT_LOG_WARNING = 2, /**< a message was refused (bad topic, oversize) */
  FLEET_MQTT_LOG_INFO = 3,   /**< connects, disconnects, subscriptions */
  FLEET_MQTT_LOG_DEBUG = 4   /**< libmosquitto's packet-level messages */
} fleet_mqtt_log_level_t;

/**
 * A parsed broker URL: `mqtt://host[:port]` (default port 1883) or
 * `mqtts://host[:port]` (TLS, default port 8883). IPv6 literals go in
 * brackets (`mqtt://[::1]:1883`). No user info, path, query or fragment.
 * Plain data.
 */
typedef struct fleet_mqtt_url {
  unsigned int version;                 /**< FLEET_MQTT_URL_VERSION */
  int tls;                              /**< 1 for mqtts:// */
  char host[FLEET_MQTT_HOST_MAX + 1];   /**< without brackets */
  unsigned int port;                    /**< 1-65535 */
} fleet_mqtt_url_t;

#define FLEET_MQTT_URL_VERSION 1
#define FLEET_MQTT_URL_INIT {FLEET_MQTT_URL_VERSION, 0, "", 0}

/**
 * Parse a broker URL. The scheme is case-insensitive.
 *
 * @param out  receives the parts (its `version` must be set); written only on
 *             success.
 * @param url  NUL-terminated; borrowed.
 * @return 0, or FLEET_EINVAL (NULL, another scheme, an empty or over-long
 *   host, a port that is not 1-65535, anything after the port, user info)
 *   or FLEET_EVERSION (unknown `out->version`), with fleet_error_last()
 *   quoting the URL and saying what is wrong.
 */
FLEET_API int fleet_mqtt_url_parse(fleet_mqtt_url_t *out, const char *url);

/**
 * The partition of a vehicle among `count` instances: FNV-1a 32-bit hash of
 * the id bytes (offset basis 2166136261, prime 16777619) modulo `count`.
 * Stable across versions and platforms, so another program (or a broker
 * rule) can compute it too. Returns 0 when `count` is 0 or 1, or `id` NULL.
 */
FLEET_API uint32_t fleet_mqtt_partition_of(const char *id, size_t len, uint32_t count);

/**
 * One received message, as passed to fleet_mqtt_message_cb. Every pointer is
 * borrowed and valid only during the callback: copy what you keep.
 */
typedef struct fleet_mqtt_message {
  unsigned int version;   /**< FLEET_MQTT_MESSAGE_VERSION (of this library) */
  const char *topic;      /**< full topic, e.g. "fleet/v-001/telemetry" */
  const char *vehicle_id; /**< validated id from the topic, e.g. "v-001" */
  const char *kind;       /**< the topic's last level, e.g. "telemetry" */
  const void *payload;    /**< `len` bytes, followed by a NUL byte not counted
                               in `len` (libmosquitto adds it), so text parsers
                               may read it as a string; may hold NULs itself */
  size_t len;             /**< payload length in bytes */
  int qos;                /**< QoS the broker delivered it with (0, 1, 2) */
  int retained;           /**< 1: a retained message sent because we subscribed
                               (a last-known state, possibly old); 0: live */
  int mid;                /**< MQTT packet id (0 for QoS 0) */
} fleet_mqtt_message_t;

#define FLEET_MQTT_MESSAGE_VERSION 1

/**
 * Message callback. Runs on the thread that drives the client (see the top
 * of this header); the PUBACK has already been sent (see "Delivery guarantee").
 *
 * @param msg      the message; borrowed, valid during the call.
 * @param userdata the options' `userdata`.
 * @return 0 normally. A non-zero value is counted in `handler_errors`; in
 *   fleet_mqtt_loop() mode the first one is also returned by that call. It
 *   cannot refuse the message: the broker has its acknowledgement already.
 */
typedef int (*fleet_mqtt_message_cb)(const fleet_mqtt_message_t *msg, void *userdata);

/**
 * Connection attempt outcome. Called after every attempt, successful or not.
 *
 * @param status   0 when connected (CONNACK accepted); otherwise FLEET_ENET
 *                 (TCP or TLS failure, connection refused, DNS), FLEET_EAUTH
 *                 (bad user name or password, not authorised),
 *                 FLEET_EVERSION (protocol version refused), FLEET_ESERVER
 *                 (any other refusal). The client retries by itself after
 *                 the backoff delay in every case.
 * @param session_present 1 when the broker resumed a stored session (queued
 *                 messages will follow), 0 otherwise.
 * @param detail   human-readable reason ("connection refused",
 *                 "CONNACK: not authorized"); borrowed, valid during the call.
 * @param userdata the options' `userdata`.
 */
typedef void (*fleet_mqtt_connect_cb)(int status, int session_present, const char *detail,
                                      void *userdata);

/**
 * The connection ended.
 *
 * @param status   0 when the application asked for it (fleet_mqtt_stop());
 *                 FLEET_ENET when the connection was lost (the client will
 *                 reconnect); FLEET_ESERVER when the broker disconnected us
 *                 (MQTT 5 DISCONNECT with a reason, e.g. session taken over).
 * @param detail   human-readable reason; borrowed, valid during the call.
 * @param userdata the options' `userdata`.
 */
typedef void (*fleet_mqtt_disconnect_cb)(int status, const char *detail, void *userdata);

/**
 * Log hook: the library never prints. Receives this module's messages and
 * libmosquitto's own (at FLEET_MQTT_LOG_DEBUG unless they are errors or
 * warnings). Runs on the thread driving the client, or on the thread calling
 * a fleet_mqtt_* function. Must return quickly and must not call
 * fleet_mqtt_stop() or fleet_mqtt_free().
 *
 * @param level    a fleet_mqtt_log_level_t value.
 * @param message  one line without a newline; borrowed. Never holds passwords.
 * @param userdata the options' `userdata`.
 */
typedef void (*fleet_mqtt_log_cb)(int level, const char *message, void *userdata);

/** Version of fleet_mqtt_options_t this header describes. */
#define FLEET_MQTT_OPTIONS_VERSION 1

/**
 * Client options. Initialise with FLEET_MQTT_OPTIONS_INIT or
 * fleet_mqtt_options_init(). Strings and arrays are borrowed for the duration
 * of fleet_mqtt_new() only (copied); `userdata` is kept.
 */
typedef struct fleet_mqtt_options {
  unsigned int version; /**< FLEET_MQTT_OPTIONS_VERSION */

  /* --- connection --- */
  const char *url;       /**< broker URL (fleet_mqtt_url_parse()); NULL for
                              FLEET_MQTT_URL_DEFAULT */
  const char *client_id; /**< 1-256 bytes of printable ASCII. Required unless
                              `clean_session` is set (then NULL lets the
                              library pick a random one). Two live clients
                              with one id keep taking the session from each
                              other: give each instance its own. */
  int clean_session;     /**< 0 (default): persistent session (MQTT 5: clean
                              start off and `session_expiry_s`); 1: the broker
                              forgets the session at disconnect */
  int protocol;          /**< fleet_mqtt_protocol_t, default V311 */
  unsigned int keepalive_s; /**< keepalive, 5-65535 s, default 30 */
  uint32_t session_expiry_s; /**< MQTT 5 persistent sessions only: how long the
                              broker keeps the session after a disconnect;
                              default FLEET_MQTT_SESSION_NEVER_EXPIRES */
  const char *username;  /**< optional */
  const char *password;  /**< optional, needs `username` */

  /* --- TLS (used with mqtts:// URLs; setting any of these with mqtt:// is
   *     an error) --- */
  const char *ca_file;   /**< PEM CA bundle; NULL with `ca_path` NULL: the
                              system's trusted CAs */
  const char *ca_path;   /**< directory of hashed CA certificates, optional */
  const char *cert_file; /**< client certificate (PEM), needs `key_file` and a
                              CA (`ca_file` or `ca_path`), a libmosquitto rule */
  const char *key_file;  /**< client private key (PEM, unencrypted) */
  int tls_insecure;      /**< non-zero: do not check that the server
                              certificate names the host (the chain is still
                              verified). For tests only. */
  const char *tls_version; /**< "tlsv1.2" or "tlsv1.3"; NULL: the library's
                              default (TLS 1.2 and up) */

  /* --- subscription --- */
  int qos;               /**< subscription QoS 0-2, default 1 */
  const char *const *topics; /**< filters to subscribe to; NULL for
                              FLEET_MQTT_TOPIC_TELEMETRY */
  size_t n_topics;       /**< entries in `topics` (1-FLEET_MQTT_TOPICS_MAX
                              when `topics` is set) */
  const char *share_group; /**< non-NULL: subscribe to `$share/GROUP/filter`
                              instead of each filter, so the broker spreads
                              the messages over every member of the group
                              (each message goes to one member). An MQTT 5
                              feature that mosquitto and EMQX also honour for
                              3.1.1 clients. mosquitto spreads round-robin
                              with no per-vehicle affinity: use partitions
                              where a vehicle must stay on one instance. */
  uint32_t partition_index; /**< this instance, 0 .. partition_count-1 */
  uint32_t partition_count; /**< 0 or 1 (default): no partitioning. n > 1:
                              deliver only messages whose vehicle id has
                              fleet_mqtt_partition_of(id, n) == partition_index;
                              the others are acked, counted in
                              `ignored_partition` and dropped. Meant for plain
                              (not shared) subscriptions: each of n instances
                              then sees all traffic and keeps its own share. */

  /* --- reconnection, limits --- */
  unsigned int reconnect_min_ms; /**< first delay before reconnecting, default
                              500; doubles after each failed attempt */
  unsigned int reconnect_max_ms; /**< delay cap, default 30000 (>= min) */
  uint32_t max_packet_size; /**< 0 (default): no limit. Otherwise messages whose
                              payload plus topic exceed it are dropped (counted
                              in `oversize`); with MQTT 5 the broker is also told
                              not to send larger packets (Maximum Packet Size),
                              which it then drops on its side. */
  unsigned int max_inflight; /**< QoS 1/2 messages this client publishes that
                              may await their acknowledgement at once (more
                              wait in libmosquitto's queue); 0 for no limit;
                              default 100 */

  /* --- own status (birth and last will) --- */
  const char *status_topic; /**< non-NULL, e.g. "fleetd/fleetd-1/status": the
                              broker publishes "offline" there (retained, QoS 1)
                              if the connection dies without a DISCONNECT (the
                              last will); the client publishes "online"
                              (retained, QoS 1) after every connect and
                              "offline" at fleet_mqtt_stop(). */

  /* --- callbacks (all optional) --- */
  fleet_mqtt_message_cb on_message; /**< NULL: the client subscribes to nothing
                              (a publish-only client) */
  fleet_mqtt_connect_cb on_connect;
  fleet_mqtt_disconnect_cb on_disconnect;
  fleet_mqtt_log_cb log_cb;
  int log_level;         /**< most verbose level passed to `log_cb`, default
                              FLEET_MQTT_LOG_INFO */
  void *userdata;        /**< passed to every callback; borrowed, kept */
} fleet_mqtt_options_t;

#define FLEET_MQTT_OPTIONS_INIT                                                         \
  {FLEET_MQTT_OPTIONS_VERSION, NULL, NULL, 0, FLEET_MQTT_PROTOCOL_V311, 30,             \
   FLEET_MQTT_SESSION_NEVER_EXPIRES, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, 1,    \
   NULL, 0, NULL, 0, 0, 500, 30000, 0, 100, NULL, NULL, NULL, NULL, NULL,               \
   FLEET_MQTT_LOG_INFO, NULL}

/**
 * Initialise options to the defaults of FLEET_MQTT_OPTIONS_INIT.
 * Returns 0, FLEET_EINVAL (NULL) or FLEET_EVERSION (unknown version).
 */
FLEET_API int fleet_mqtt_options_init(fleet_mqtt_options_t *opts, unsigned int version);

/** Version of fleet_mqtt_stats_t this header describes. */
#define FLEET_MQTT_STATS_VERSION 1

/**
 * Counters since fleet_mqtt_new(). Plain data owned by the caller: set
 * `version` (FLEET_MQTT_STATS_INIT) before fleet_mqtt_stats().
 * received == delivered + ignored_partition + bad_topic + oversize.
 */
typedef struct fleet_mqtt_stats {
  unsigned int version;       /**< FLEET_MQTT_STATS_VERSION */
  uint64_t received;          /**< messages received (retained ones included) */
  uint64_t delivered;         /**< passed to on_message */
  uint64_t retained;          /**< of those delivered, with the retained flag */
  uint64_t ignored_partition; /**< for another partition: acked and dropped */
  uint64_t bad_topic;         /**< topic not `fleet/{valid id}/{kind}`: dropped */
  uint64_t oversize;          /**< over `max_packet_size`: dropped */
  uint64_t handler_errors;    /**< on_message returned non-zero */
  uint64_t connects;          /**< successful connections (CONNACK accepted) */
  uint64_t reconnects;        /**< successful connections after the first */
  uint64_t connect_failures;  /**< attempts that failed */
  uint64_t connection_losses; /**< connections that ended without our asking */
  uint64_t published;         /**< publish calls accepted */
  uint64_t publish_failures;  /**< publish calls refused */
  uint64_t publish_completed; /**< publishes finished: QoS 0 written to the
                                   socket, QoS 1 PUBACK, QoS 2 PUBCOMP received */
  int connected;              /**< 1 while connected */
  int session_present;        /**< the last CONNACK's session-present flag */
} fleet_mqtt_stats_t;

#define FLEET_MQTT_STATS_INIT \
  {FLEET_MQTT_STATS_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

/**
 * Create a client: check the options, parse the URL and set up libmosquitto.
 * Does not connect (fleet_mqtt_start() or fleet_mqtt_connect() do).
 *
 * @param out  receives the handle (owned: fleet_mqtt_free()); NULL on failure.
 * @param opts options; borrowed. NULL is refused (FLEET_EINVAL): the defaults
 *             need at least a client id or `clean_session`.
 * @return 0, FLEET_EINVAL (a bad option, with fleet_error_last() naming it:
 *   "url: ...", "client_id: required for a persistent session",
 *   "partition_index: 2 is not below partition_count 2", "share_group: ...",
 *   "topics[1]: ...", TLS files with mqtt://, a client certificate without
 *   its key or a CA), FLEET_EVERSION, FLEET_EIO (a TLS file cannot be read),
 *   FLEET_ENOMEM.
 */
FLEET_API int fleet_mqtt_new(fleet_mqtt_t **out, const fleet_mqtt_options_t *opts);

/**
 * Start the client's network thread: it connects (the first attempt runs at
 * once, in the thread), subscribes after every connect, reconnects with
 * backoff, and runs the callbacks. Returns at once, whether or not the broker
 * is reachable: watch on_connect, or use fleet_mqtt_wait_connected().
 * Returns 0, FLEET_ESTATE (already started, or fleet_mqtt_connect() was used),
 * FLEET_ENOMEM or FLEET_EINTERNAL (no thread).
 */
FLEET_API int fleet_mqtt_start(fleet_mqtt_t *m);

/**
 * Caller-thread mode: make one connection attempt now (blocking for the TCP
 * and TLS handshakes; the CONNACK is processed by fleet_mqtt_loop()).
 * Returns 0, FLEET_ENET (with the reason), FLEET_ESTATE (started, or already
 * connected).
 */
FLEET_API int fleet_mqtt_connect(fleet_mqtt_t *m);

/**
 * Caller-thread mode: do the network work for up to `timeout_ms` (waiting for
 * traffic, reading, writing, keepalive) and run the callbacks. When the
 * connection is down it reconnects once the backoff delay has passed (that
 * attempt blocks like fleet_mqtt_connect()). Call it in a loop.
 * Returns 0 (also while disconnected: reconnection is automatic), the first
 * non-zero on_message return of this call, FLEET_ESTATE (the thread of
 * fleet_mqtt_start() owns the client) or FLEET_EINVAL.
 */
FLEET_API int fleet_mqtt_loop(fleet_mqtt_t *m, int timeout_ms);

/**
 * Wait until the client is connected (CONNACK accepted and subscriptions
 * sent), at most `timeout_ms`. In caller-thread mode it drives
 * fleet_mqtt_loop() itself. Returns 0, FLEET_ETIMEOUT (with the last
 * connection error in the message), FLEET_ESTATE (neither started nor
 * connect called) or the error of fleet_mqtt_loop().
 */
FLEET_API int fleet_mqtt_wait_connected(fleet_mqtt_t *m, int timeout_ms);

/** 1 while connected, 0 otherwise (also for NULL). Any thread. */
FLEET_API int fleet_mqtt_is_connected(const fleet_mqtt_t *m);

/**
 * Publish a message. Thread-safe: any thread, callbacks included.
 * QoS 1 and 2 messages published while disconnected wait in libmosquitto's
 * memory queue and go out after the reconnect (and are re-sent after a
 * connection loss until acknowledged); QoS 0 messages need a connection.
 *
 * @param m       the client.
 * @param topic   NUL-terminated topic without wildcards; borrowed.
 * @param payload `len` bytes (NULL when `len` is 0); borrowed (copied).
 * @param len     at most 268435455 bytes (the MQTT limit).
 * @param qos     0, 1 or 2.
 * @param retain  non-zero: the broker keeps it as the topic's retained message.
 * @return 0 (queued or sent), FLEET_EINVAL (bad topic, QoS, size), FLEET_ENET
 *   (QoS 0 while disconnected, or a socket error), FLEET_ECLOSED (the client
 *   is being freed), FLEET_ENOMEM.
 */
FLEET_API int fleet_mqtt_publish(fleet_mqtt_t *m, const char *topic, const void *payload,
                                 size_t len, int qos, int retain);

/**
 * Publish an alert (JSON) to `fleet/{vehicle_id}/alerts`, QoS 1, not retained.
 * Thread-safe. Returns as fleet_mqtt_publish(), or FLEET_EINVAL for a bad id.
 */
FLEET_API int fleet_mqtt_publish_alert(fleet_mqtt_t *m, const char *vehicle_id,
                                       const char *json, size_t len);

/**
 * Publish a vehicle's status, "online" or "offline", to
 * `fleet/{vehicle_id}/status`, QoS 1, retained. Thread-safe. Returns as
 * fleet_mqtt_publish(), or FLEET_EINVAL for a bad id.
 */
FLEET_API int fleet_mqtt_publish_status(fleet_mqtt_t *m, const char *vehicle_id, int online);

/**
 * Wait until every QoS 1/2 message published so far is acknowledged (and
 * every QoS 0 message written), at most `timeout_ms`. Thread-safe, but in
 * caller-thread mode only the thread that calls fleet_mqtt_loop() may wait
 * (it drives the loop). Returns 0, FLEET_ETIMEOUT (with the count still
 * pending) or FLEET_ESTATE.
 */
FLEET_API int fleet_mqtt_wait_published(fleet_mqtt_t *m, int timeout_ms);

/**
 * Snapshot of the counters into `out` (whose `version` the caller set).
 * Any thread. Returns 0, FLEET_EINVAL or FLEET_EVERSION.
 */
FLEET_API int fleet_mqtt_stats(fleet_mqtt_stats_t *out, const fleet_mqtt_t *m);

/**
 * Disconnect cleanly and stop: publishes "offline" to `status_topic` when
 * set, waits up to `timeout_ms` for the acknowledgements of messages still in
 * flight (0: don't wait), sends DISCONNECT (the broker then keeps the
 * persistent session and does not publish the last will), stops the network
 * thread, and calls on_disconnect with status 0 (when it was connected).
 * A connection attempt in progress is waited for (see the top of this
 * header). Messages still unacknowledged
 * afterwards are lost with the handle (they stay queued inside it until then,
 * and a later fleet_mqtt_start() sends them). The handle may be started (or
 * connected) again. Returns 0, or FLEET_ETIMEOUT when messages were still
 * pending (the client is stopped anyway). No-op on a stopped client.
 */
FLEET_API int fleet_mqtt_stop(fleet_mqtt_t *m, int timeout_ms);

/**
 * Stop (as fleet_mqtt_stop(m, 1000)) and free the client. NULL-safe. No other
 * call on this handle, from any thread, may overlap with this one or follow
 * it: stop the threads that publish first.
 */
FLEET_API void fleet_mqtt_free(fleet_mqtt_t *m);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_MQTT_H */
