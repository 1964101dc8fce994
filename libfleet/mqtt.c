/* mqtt: the libmosquitto adaptor (see fleet/mqtt.h). */
#include "common_int.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "fleet/mqtt.h"
#include "telemetry_int.h"

/* Longest excerpt of user input quoted in an error message. */
#define SHOW_MAX 80
#define SHOW_BUF (SHOW_MAX * 4 + 8)

/* The largest MQTT payload (the remaining-length limit). */
#define MQTT_PAYLOAD_MAX 268435455u

/* How long one poll() waits at most, so that keepalive (mosquitto_loop_misc)
 * and the reconnect timer run even without traffic. */
#define LOOP_SLICE_MS 1000

/* How long a clean disconnect may take to write its DISCONNECT packet. */
#define DISCONNECT_FLUSH_MS 1000

enum mode { MODE_NONE = 0, MODE_THREAD, MODE_CALLER };

struct fleet_mqtt {
  struct mosquitto *mosq;
  fleet_mqtt_url_t url;

  /* Copied options. */
  char *client_id;
  int clean_session;
  int protocol;
  int client_cert; /* mqtts:// with a client certificate */
  int keepalive_s;
  int qos;
  char **filters; /* with the $share/GROUP/ prefix applied */
  int n_filters;
  uint32_t partition_index, partition_count;
  unsigned int reconnect_min_ms, reconnect_max_ms;
  uint32_t max_packet_size;
  char *status_topic;
  mosquitto_property *connect_props; /* MQTT 5 CONNECT properties */
  fleet_mqtt_message_cb on_message;
  fleet_mqtt_connect_cb on_connect;
  fleet_mqtt_disconnect_cb on_disconnect;
  fleet_mqtt_log_cb log_cb;
  int log_level;
  void *userdata;

  /* Driving state: touched by the controlling thread and the network thread,
   * never by both at once (start/stop hand the client over with join). */
  enum mode mode;
  pthread_t thread;
  int thread_started;
  int ever_connected;
  unsigned int failures;    /* consecutive failed attempts */
  int64_t next_attempt_ms;  /* monotonic time of the next connect attempt */
  int socket_up;            /* a TCP (and TLS) connection exists */
  int attempt_reported;     /* the outcome of the current attempt was reported */
  int loop_rc;              /* first non-zero on_message return in this loop call */
  uint64_t rng;             /* backoff jitter */
  int64_t last_warn_ms;     /* rate limit for refused-message warnings */
  uint64_t warn_suppressed;

  /* Shared with publishers and waiters. */
  int wake_fd;             /* eventfd: wakes poll() for new output or stop */
  atomic_int wake_pending;
  atomic_int stop;
  atomic_int closing;
  pthread_mutex_t lock;    /* guards the fields below and the condition */
  pthread_cond_t cond;
  int connected;
  int session_present;
  char last_error[1024];
  uint8_t *pending_mids;   /* bitmap of QoS 1/2 message ids awaiting their ack */
  uint64_t pending;        /* bits set in pending_mids */

  /* Counters. */
  atomic_uint_fast64_t received, delivered, retained, ignored_partition, bad_topic,
      oversize, handler_errors, connects, reconnects, connect_failures, connection_losses,
      published, publish_failures, publish_completed;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count(atomic_uint_fast64_t *c)
{
  atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t load(const atomic_uint_fast64_t *c)
{
  return atomic_load_explicit(c, memory_order_relaxed);
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

static const char *quote(char *buf, const char *s)
{
  return fleet_telemetry__quote(buf, SHOW_BUF, s, strlen(s), SHOW_MAX);
}

static void logf_(fleet_mqtt_t *m, int level, const char *fmt, ...) FLEET_PRINTF(3, 4);

static void logf_(fleet_mqtt_t *m, int level, const char *fmt, ...)
{
  if (!m->log_cb || level > m->log_level)
    return;
  char line[FLEET_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  m->log_cb(level, line, m->userdata);
}

/* A refused message is worth a warning, but a flood of them must not flood
 * the log: at most one per second, with the number left out since. */
static void warn_refused(fleet_mqtt_t *m, const char *what)
{
  int64_t t = now_ms();
  if (m->last_warn_ms && t - m->last_warn_ms < 1000) {
    m->warn_suppressed++;
    return;
  }
  if (m->warn_suppressed)
    logf_(m, FLEET_MQTT_LOG_WARNING, "%s (%llu similar messages not logged)", what,
          (unsigned long long)m->warn_suppressed);
  else
    logf_(m, FLEET_MQTT_LOG_WARNING, "%s", what);
  m->last_warn_ms = t;
  m->warn_suppressed = 0;
}

static void wake(fleet_mqtt_t *m)
{
  if (atomic_exchange(&m->wake_pending, 1) == 0) {
    uint64_t one = 1;
    ssize_t w = write(m->wake_fd, &one, sizeof one);
    (void)w; /* a full counter still wakes poll() */
  }
}

static void drain_wake(fleet_mqtt_t *m)
{
  uint64_t v;
  atomic_store(&m->wake_pending, 0);
  ssize_t r = read(m->wake_fd, &v, sizeof v);
  (void)r; /* EAGAIN: nothing to drain */
}

static void set_last_error(fleet_mqtt_t *m, const char *text)
{
  pthread_mutex_lock(&m->lock);
  snprintf(m->last_error, sizeof m->last_error, "%s", text);
  pthread_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------------------ */
/* URL, partition, options                                                  */

static int ascii_ieq(const char *a, const char *b, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z')
      x = (char)(x - 'A' + 'a');
    if (x != y)
      return 0;
  }
  return 1;
}

int fleet_mqtt_url_parse(fleet_mqtt_url_t *out, const char *url)
{
  if (!out || !url)
    return fleet_error__set(FLEET_EINVAL, "url: NULL argument");
  if (out->version != FLEET_MQTT_URL_VERSION)
    return fleet_error__set(FLEET_EVERSION, "url: unknown fleet_mqtt_url_t version %u",
                            out->version);
  char q[SHOW_BUF];
  fleet_mqtt_url_t u = FLEET_MQTT_URL_INIT;
  const char *p;
  size_t ul = strlen(url);
  if (ul >= 7 && ascii_ieq(url, "mqtt://", 7)) {
    p = url + 7;
    u.port = 1883;
  } else if (ul >= 8 && ascii_ieq(url, "mqtts://", 8)) {
    p = url + 8;
    u.tls = 1;
    u.port = 8883;
  } else {
    return fleet_error__set(FLEET_EINVAL,
                            "url: %s: the scheme must be mqtt:// or mqtts:// (TLS)",
                            quote(q, url));
  }
  size_t authority = strcspn(p, "/");
  if (memchr(p, '@', authority))
    return fleet_error__set(FLEET_EINVAL,
                            "url: %s: user info is not supported in the URL (use the "
                            "username and password options)",
                            quote(q, url));
  const char *host = p, *host_end;
  if (*p == '[') {
    host = ++p;
    while (*p && *p != ']') {
      char c = *p;
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
            c == ':' || c == '.'))
        return fleet_error__set(FLEET_EINVAL, "url: %s: invalid character in IPv6 address",
                                quote(q, url));
      p++;
    }
    if (*p != ']')
      return fleet_error__set(FLEET_EINVAL, "url: %s: missing ']' after the IPv6 address",
                              quote(q, url));
    host_end = p++;
  } else {
    while (*p && *p != ':' && *p != '/') {
      char c = *p;
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            c == '.' || c == '-' || c == '_'))
        return fleet_error__set(FLEET_EINVAL, "url: %s: invalid character in the host name",
                                quote(q, url));
      p++;
    }
    host_end = p;
  }
  size_t hl = (size_t)(host_end - host);
  if (hl == 0)
    return fleet_error__set(FLEET_EINVAL, "url: %s: the host is empty", quote(q, url));
  if (hl > FLEET_MQTT_HOST_MAX)
    return fleet_error__set(FLEET_EINVAL, "url: %s: the host is longer than %d bytes",
                            quote(q, url), FLEET_MQTT_HOST_MAX);
  memcpy(u.host, host, hl);
  u.host[hl] = '\0';
  if (*p == ':') {
    p++;
    unsigned long port = 0;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9') {
      port = port * 10 + (unsigned long)(*p - '0');
      if (port > 65535)
        break;
      p++;
      digits++;
    }
    if (digits == 0 || port < 1 || port > 65535 || (*p && *p != '/'))
      return fleet_error__set(FLEET_EINVAL, "url: %s: the port must be a number in 1-65535",
                              quote(q, url));
    u.port = (unsigned int)port;
  }
  /* A trailing slash is harmless; a path is not something MQTT has. */
  if (*p == '/')
    p++;
  if (*p)
    return fleet_error__set(FLEET_EINVAL, "url: %s: unexpected %s after the host and port",
                            quote(q, url), *(p - 1) == '/' ? "path" : "text");
  *out = u;
  return 0;
}

uint32_t fleet_mqtt_partition_of(const char *id, size_t len, uint32_t count)
{
  if (!id || count <= 1)
    return 0;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) {
    h ^= (uint8_t)id[i];
    h *= 16777619u;
  }
  return h % count;
}

int fleet_mqtt_options_init(fleet_mqtt_options_t *opts, unsigned int version)
{
  if (!opts)
    return fleet_error__set(FLEET_EINVAL, "options: NULL argument");
  if (version != FLEET_MQTT_OPTIONS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "options: unknown version %u (this library: %u)",
                            version, FLEET_MQTT_OPTIONS_VERSION);
  fleet_mqtt_options_t d = FLEET_MQTT_OPTIONS_INIT;
  *opts = d;
  return 0;
}

static int check_printable(const char *what, const char *s, size_t max)
{
  char q[SHOW_BUF];
  size_t n = strlen(s);
  if (n == 0 || n > max)
    return fleet_error__set(FLEET_EINVAL, "%s: %s must be 1-%zu bytes long", what, quote(q, s),
                            max);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
      return fleet_error__set(FLEET_EINVAL, "%s: %s holds a byte outside printable ASCII", what,
                              quote(q, s));
  return 0;
}

static int check_file(const char *what, const char *path)
{
  if (!path)
    return 0;
  if (access(path, R_OK) != 0) {
    char q[SHOW_BUF];
    return fleet_error__set(FLEET_EIO, "%s: cannot read %s: %s", what, quote(q, path),
                            strerror(errno));
  }
  return 0;
}

static int check_options(const fleet_mqtt_options_t *o, const fleet_mqtt_url_t *url)
{
  char q[SHOW_BUF];
  int rc;
  if (!o->client_id && !o->clean_session)
    return fleet_error__set(FLEET_EINVAL,
                            "client_id: required for a persistent session (or set "
                            "clean_session)");
  if (o->client_id && (rc = check_printable("client_id", o->client_id,
                                            FLEET_MQTT_CLIENT_ID_MAX)))
    return rc;
  if (o->protocol != FLEET_MQTT_PROTOCOL_V311 && o->protocol != FLEET_MQTT_PROTOCOL_V5)
    return fleet_error__set(FLEET_EINVAL, "protocol: %d is neither 4 (MQTT 3.1.1) nor 5",
                            o->protocol);
  if (o->keepalive_s < 5 || o->keepalive_s > 65535)
    return fleet_error__set(FLEET_EINVAL, "keepalive_s: %u is outside [5, 65535]",
                            o->keepalive_s);
  if (o->password && !o->username)
    return fleet_error__set(FLEET_EINVAL, "password: set without a username");
  if (!url->tls && (o->ca_file || o->ca_path || o->cert_file || o->key_file ||
                    o->tls_insecure || o->tls_version))
    return fleet_error__set(FLEET_EINVAL,
                            "url: TLS options are set but the URL is mqtt://; use mqtts://");
  if (!o->cert_file != !o->key_file)
    return fleet_error__set(FLEET_EINVAL, "%s: set without %s",
                            o->cert_file ? "cert_file" : "key_file",
                            o->cert_file ? "key_file" : "cert_file");
  if (o->cert_file && !o->ca_file && !o->ca_path)
    return fleet_error__set(FLEET_EINVAL,
                            "cert_file: a client certificate needs ca_file or ca_path "
                            "(libmosquitto cannot combine it with the system CAs)");
  if (o->tls_version && strcmp(o->tls_version, "tlsv1.2") != 0 &&
      strcmp(o->tls_version, "tlsv1.3") != 0)
    return fleet_error__set(FLEET_EINVAL, "tls_version: %s is neither \"tlsv1.2\" nor \"tlsv1.3\"",
                            quote(q, o->tls_version));
  if ((rc = check_file("ca_file", o->ca_file)) || (rc = check_file("cert_file", o->cert_file)) ||
      (rc = check_file("key_file", o->key_file)))
    return rc;
  if (o->ca_path && access(o->ca_path, R_OK | X_OK) != 0)
    return fleet_error__set(FLEET_EIO, "ca_path: cannot read directory %s: %s",
                            quote(q, o->ca_path), strerror(errno));
  if (o->qos < 0 || o->qos > 2)
    return fleet_error__set(FLEET_EINVAL, "qos: %d is not 0, 1 or 2", o->qos);
  if (!o->topics && o->n_topics)
    return fleet_error__set(FLEET_EINVAL, "topics: NULL with n_topics %zu", o->n_topics);
  if (o->topics && (o->n_topics < 1 || o->n_topics > FLEET_MQTT_TOPICS_MAX))
    return fleet_error__set(FLEET_EINVAL, "n_topics: %zu is outside [1, %d]", o->n_topics,
                            FLEET_MQTT_TOPICS_MAX);
  for (size_t i = 0; o->topics && i < o->n_topics; i++) {
    const char *t = o->topics[i];
    if (!t)
      return fleet_error__set(FLEET_EINVAL, "topics[%zu]: NULL", i);
    if (mosquitto_sub_topic_check(t) != MOSQ_ERR_SUCCESS ||
        mosquitto_validate_utf8(t, (int)strnlen(t, 65536)) != MOSQ_ERR_SUCCESS ||
        strlen(t) > 65535)
      return fleet_error__set(FLEET_EINVAL, "topics[%zu]: %s is not a valid subscription filter",
                              i, quote(q, t));
    if (o->share_group && strncmp(t, "$share/", 7) == 0)
      return fleet_error__set(FLEET_EINVAL,
                              "topics[%zu]: %s is a shared subscription already; with "
                              "share_group give the plain filter",
                              i, quote(q, t));
  }
  if (o->share_group) {
    if ((rc = check_printable("share_group", o->share_group, FLEET_MQTT_SHARE_GROUP_MAX)))
      return rc;
    if (strpbrk(o->share_group, "/+#"))
      return fleet_error__set(FLEET_EINVAL, "share_group: %s must not contain '/', '+' or '#'",
                              quote(q, o->share_group));
  }
  if (o->partition_count <= 1 && o->partition_index != 0)
    return fleet_error__set(FLEET_EINVAL,
                            "partition_index: %u is set but partition_count is %u",
                            o->partition_index, o->partition_count);
  if (o->partition_count > 1 && o->partition_index >= o->partition_count)
    return fleet_error__set(FLEET_EINVAL, "partition_index: %u is not below partition_count %u",
                            o->partition_index, o->partition_count);
  if (o->reconnect_min_ms < 1 || o->reconnect_min_ms > 3600000)
    return fleet_error__set(FLEET_EINVAL, "reconnect_min_ms: %u is outside [1, 3600000]",
                            o->reconnect_min_ms);
  if (o->reconnect_max_ms < o->reconnect_min_ms || o->reconnect_max_ms > 3600000)
    return fleet_error__set(FLEET_EINVAL,
                            "reconnect_max_ms: %u is outside [reconnect_min_ms (%u), 3600000]",
                            o->reconnect_max_ms, o->reconnect_min_ms);
  if (o->max_inflight > 65535)
    return fleet_error__set(FLEET_EINVAL, "max_inflight: %u is over 65535", o->max_inflight);
  if (o->status_topic && (mosquitto_pub_topic_check(o->status_topic) != MOSQ_ERR_SUCCESS ||
                          o->status_topic[0] == '\0'))
    return fleet_error__set(FLEET_EINVAL, "status_topic: %s is not a valid topic name",
                            quote(q, o->status_topic));
  return 0;
}

/* ------------------------------------------------------------------------ */
/* libmosquitto callbacks (run on the thread driving the client)            */

static int connack_status(int rc)
{
  switch (rc) {
  case CONNACK_REFUSED_PROTOCOL_VERSION:
  case MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION:
    return FLEET_EVERSION;
  case CONNACK_REFUSED_BAD_USERNAME_PASSWORD:
  case CONNACK_REFUSED_NOT_AUTHORIZED:
  case MQTT_RC_BAD_USERNAME_OR_PASSWORD:
  case MQTT_RC_NOT_AUTHORIZED:
  case MQTT_RC_BANNED:
  case MQTT_RC_BAD_AUTHENTICATION_METHOD:
    return FLEET_EAUTH;
  default:
    return FLEET_ESERVER;
  }
}

static unsigned int backoff_ms(fleet_mqtt_t *m)
{
  uint64_t d = m->reconnect_min_ms;
  for (unsigned int i = 0; i < m->failures && d < m->reconnect_max_ms; i++)
    d *= 2;
  if (d > m->reconnect_max_ms)
    d = m->reconnect_max_ms;
  /* Up to 20% of jitter, so that a fleet of instances does not reconnect in
   * lockstep after a broker restart. */
  m->rng ^= m->rng << 13;
  m->rng ^= m->rng >> 7;
  m->rng ^= m->rng << 17;
  uint64_t j = d / 5;
  if (j)
    d = d - j + m->rng % (j + 1);
  return (unsigned int)d;
}

/* A connection attempt failed (no TCP/TLS connection, a refused CONNACK, or
 * the broker hung up before its CONNACK): count it, schedule the next attempt
 * and tell the application. */
static void attempt_failed(fleet_mqtt_t *m, int status, const char *detail)
{
  m->attempt_reported = 1;
  count(&m->connect_failures);
  unsigned int delay = backoff_ms(m);
  m->failures++;
  m->next_attempt_ms = now_ms() + delay;
  set_last_error(m, detail);
  logf_(m, status == FLEET_ENET ? FLEET_MQTT_LOG_WARNING : FLEET_MQTT_LOG_ERROR,
        "%s; retrying in %u ms", detail, delay);
  if (m->on_connect)
    m->on_connect(status, 0, detail, m->userdata);
}

static void handle_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                           const mosquitto_property *props)
{
  (void)props;
  fleet_mqtt_t *m = obj;
  char detail[1024];
  if (rc != 0) {
    const char *why = m->protocol == FLEET_MQTT_PROTOCOL_V5 ? mosquitto_reason_string(rc)
                                                            : mosquitto_connack_string(rc);
    snprintf(detail, sizeof detail, "CONNACK from %s:%u refused: %s", m->url.host, m->url.port,
             why);
    attempt_failed(m, connack_status(rc), detail);
    return;
  }
  m->attempt_reported = 1;
  int session = (flags & 1) != 0;
  if (m->on_message && m->n_filters > 0) {
    int src;
    if (m->protocol == FLEET_MQTT_PROTOCOL_V5) {
      /* Retained messages only for new subscriptions: a resumed session does
       * not get every last-known position again at each reconnect. */
      src = mosquitto_subscribe_multiple(mosq, NULL, m->n_filters, m->filters, m->qos,
                                         MQTT_SUB_OPT_SEND_RETAIN_NEW, NULL);
    } else {
      src = mosquitto_subscribe_multiple(mosq, NULL, m->n_filters, m->filters, m->qos, 0, NULL);
    }
    if (src != MOSQ_ERR_SUCCESS)
      logf_(m, FLEET_MQTT_LOG_ERROR, "subscribe failed: %s", mosquitto_strerror(src));
    else
      for (int i = 0; i < m->n_filters; i++)
        logf_(m, FLEET_MQTT_LOG_INFO, "subscribed to %s (QoS %d)", m->filters[i], m->qos);
  }
  if (m->status_topic) {
    int prc = mosquitto_publish(mosq, NULL, m->status_topic, 6, "online", 1, true);
    if (prc != MOSQ_ERR_SUCCESS)
      logf_(m, FLEET_MQTT_LOG_ERROR, "publishing \"online\" to %s failed: %s", m->status_topic,
            mosquitto_strerror(prc));
  }
  m->failures = 0;
  count(&m->connects);
  if (m->ever_connected)
    count(&m->reconnects);
  m->ever_connected = 1;
  pthread_mutex_lock(&m->lock);
  m->connected = 1;
  m->session_present = session;
  m->last_error[0] = '\0';
  pthread_cond_broadcast(&m->cond);
  pthread_mutex_unlock(&m->lock);
  snprintf(detail, sizeof detail, "connected to %s:%u as %s (%s session)", m->url.host,
           m->url.port, m->client_id ? m->client_id : "(random id)",
           session ? "resumed" : "new");
  logf_(m, FLEET_MQTT_LOG_INFO, "%s", detail);
  if (m->on_connect)
    m->on_connect(0, session, detail, m->userdata);
}

static void handle_disconnect(struct mosquitto *mosq, void *obj, int rc,
                              const mosquitto_property *props)
{
  (void)mosq;
  (void)props;
  fleet_mqtt_t *m = obj;
  m->socket_up = 0;
  pthread_mutex_lock(&m->lock);
  int was_connected = m->connected;
  m->connected = 0;
  pthread_cond_broadcast(&m->cond);
  pthread_mutex_unlock(&m->lock);
  char detail[1024];
  if (!was_connected) {
    /* The TCP (and TLS) connection was up but no CONNACK came: a TLS
     * handshake the broker rejected after all (a missing client
     * certificate), or a broker that hangs up on us. A refused CONNACK was
     * reported by handle_connect already. */
    if (!m->attempt_reported && !atomic_load(&m->stop)) {
      /* Over TLS 1.3 the broker's "certificate required" alert comes after
       * the client's handshake has finished, and often only this hang-up
       * reaches us: say what is the likely cause. */
      snprintf(detail, sizeof detail, "connection to %s:%u closed before the CONNACK: %s%s",
               m->url.host, m->url.port,
               rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc),
               m->url.tls && !m->client_cert
                   ? " (no client certificate was offered: a broker that requires one "
                     "(cert_file, key_file) closes the connection)"
                   : "");
      attempt_failed(m, FLEET_ENET, detail);
    }
    return;
  }
  int status;
  if (rc == 0 || atomic_load(&m->stop)) {
    status = 0;
    snprintf(detail, sizeof detail, "disconnected from %s:%u", m->url.host, m->url.port);
  } else if (rc >= 128) {
    status = FLEET_ESERVER;
    snprintf(detail, sizeof detail, "the broker %s:%u disconnected us: %s", m->url.host,
             m->url.port, mosquitto_reason_string(rc));
  } else {
    status = FLEET_ENET;
    snprintf(detail, sizeof detail, "connection to %s:%u lost: %s", m->url.host, m->url.port,
             rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
  }
  if (status) {
    count(&m->connection_losses);
    set_last_error(m, detail);
    m->failures = 0;
    m->next_attempt_ms = now_ms() + m->reconnect_min_ms;
  }
  logf_(m, status ? FLEET_MQTT_LOG_WARNING : FLEET_MQTT_LOG_INFO, "%s", detail);
  if (m->on_disconnect)
    m->on_disconnect(status, detail, m->userdata);
}

static void handle_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *mm,
                           const mosquitto_property *props)
{
  (void)mosq;
  (void)props;
  fleet_mqtt_t *m = obj;
  count(&m->received);
  char what[FLEET_ERROR_MAX];
  size_t tl = strlen(mm->topic);
  size_t plen = mm->payloadlen > 0 ? (size_t)mm->payloadlen : 0;
  if (m->max_packet_size && plen + tl > m->max_packet_size) {
    count(&m->oversize);
    char q[SHOW_BUF];
    snprintf(what, sizeof what, "message on %s dropped: %zu bytes of payload and topic exceed "
             "max_packet_size %u", quote(q, mm->topic), plen + tl, m->max_packet_size);
    warn_refused(m, what);
    return;
  }
  char id[FLEET_VEHICLE_ID_MAX + 1];
  if (fleet_topic_vehicle_id(id, mm->topic, NULL) != 0) {
    count(&m->bad_topic);
    snprintf(what, sizeof what, "message dropped: %s", fleet_error_last());
    warn_refused(m, what);
    return;
  }
  if (m->partition_count > 1 &&
      fleet_mqtt_partition_of(id, strlen(id), m->partition_count) != m->partition_index) {
    count(&m->ignored_partition);
    return;
  }
  fleet_mqtt_message_t msg = {
    .version = FLEET_MQTT_MESSAGE_VERSION,
    .topic = mm->topic,
    .vehicle_id = id,
    .kind = strrchr(mm->topic, '/') + 1,
    .payload = mm->payload ? mm->payload : "",
    .len = plen,
    .qos = mm->qos,
    .retained = mm->retain ? 1 : 0,
    .mid = mm->mid,
  };
  count(&m->delivered);
  if (msg.retained)
    count(&m->retained);
  if (!m->on_message)
    return;
  int rc = m->on_message(&msg, m->userdata);
  if (rc) {
    count(&m->handler_errors);
    if (!m->loop_rc)
      m->loop_rc = rc;
    snprintf(what, sizeof what, "on_message returned %d for a message on %s", rc, mm->topic);
    warn_refused(m, what);
  }
}

static void handle_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
                           const mosquitto_property *props)
{
  (void)mosq;
  (void)reason;
  (void)props;
  fleet_mqtt_t *m = obj;
  count(&m->publish_completed);
  pthread_mutex_lock(&m->lock);
  size_t i = (size_t)(uint16_t)mid;
  if (m->pending_mids[i / 8] & (1u << (i % 8))) {
    m->pending_mids[i / 8] &= (uint8_t)~(1u << (i % 8));
    m->pending--;
    if (m->pending == 0)
      pthread_cond_broadcast(&m->cond);
  }
  pthread_mutex_unlock(&m->lock);
}

static void handle_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
  (void)mosq;
  fleet_mqtt_t *m = obj;
  int l = FLEET_MQTT_LOG_DEBUG;
  if (level == MOSQ_LOG_ERR)
    l = FLEET_MQTT_LOG_ERROR;
  else if (level == MOSQ_LOG_WARNING)
    l = FLEET_MQTT_LOG_WARNING;
  logf_(m, l, "libmosquitto: %s", str);
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                 */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_rc;

static void lib_init(void)
{
  lib_rc = mosquitto_lib_init();
}

static int mosq_error(int rc, const char *what)
{
  if (rc == MOSQ_ERR_NOMEM)
    return fleet_error__oom();
  return fleet_error__set(FLEET_EINVAL, "%s: %s", what, mosquitto_strerror(rc));
}

static int setup_mosquitto(fleet_mqtt_t *m, const fleet_mqtt_options_t *o)
{
  int rc;
  m->mosq = mosquitto_new(m->client_id, m->clean_session ? true : false, m);
  if (!m->mosq)
    return errno == ENOMEM ? fleet_error__oom()
                           : fleet_error__set(FLEET_EINTERNAL, "mosquitto_new: %s",
                                              strerror(errno));
  /* Publishers on other threads only queue packets; our loop writes them. */
  mosquitto_threaded_set(m->mosq, true);
  if (m->protocol == FLEET_MQTT_PROTOCOL_V5) {
    rc = mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (rc)
      return mosq_error(rc, "protocol");
    if (!m->clean_session) {
      rc = mosquitto_property_add_int32(&m->connect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                        o->session_expiry_s);
      if (rc)
        return mosq_error(rc, "session_expiry_s");
    }
    if (m->max_packet_size) {
      rc = mosquitto_property_add_int32(&m->connect_props, MQTT_PROP_MAXIMUM_PACKET_SIZE,
                                        m->max_packet_size);
      if (rc)
        return mosq_error(rc, "max_packet_size");
    }
  }
  rc = mosquitto_max_inflight_messages_set(m->mosq, o->max_inflight);
  if (rc)
    return mosq_error(rc, "max_inflight");
  if (o->username) {
    rc = mosquitto_username_pw_set(m->mosq, o->username, o->password);
    if (rc)
      return mosq_error(rc, "username");
  }
  if (m->url.tls) {
    m->client_cert = o->cert_file != NULL;
    if (o->ca_file || o->ca_path) {
      rc = mosquitto_tls_set(m->mosq, o->ca_file, o->ca_path, o->cert_file, o->key_file, NULL);
      if (rc)
        return rc == MOSQ_ERR_NOMEM ? fleet_error__oom()
                                    : fleet_error__set(FLEET_EIO,
                                                       "TLS files: libmosquitto refused them: %s",
                                                       mosquitto_strerror(rc));
    } else {
      rc = mosquitto_int_option(m->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
      if (rc)
        return mosq_error(rc, "TLS");
    }
    rc = mosquitto_tls_opts_set(m->mosq, 1, o->tls_version, NULL);
    if (rc)
      return mosq_error(rc, "tls_version");
    rc = mosquitto_tls_insecure_set(m->mosq, o->tls_insecure ? true : false);
    if (rc)
      return mosq_error(rc, "tls_insecure");
  }
  if (m->status_topic) {
    rc = mosquitto_will_set(m->mosq, m->status_topic, 7, "offline", 1, true);
    if (rc)
      return mosq_error(rc, "status_topic");
  }
  mosquitto_connect_v5_callback_set(m->mosq, handle_connect);
  mosquitto_disconnect_v5_callback_set(m->mosq, handle_disconnect);
  mosquitto_message_v5_callback_set(m->mosq, handle_message);
  mosquitto_publish_v5_callback_set(m->mosq, handle_publish);
  if (m->log_cb)
    mosquitto_log_callback_set(m->mosq, handle_log);
  return 0;
}

static int copy_filters(fleet_mqtt_t *m, const fleet_mqtt_options_t *o)
{
  static const char *const default_topics[] = {FLEET_MQTT_TOPIC_TELEMETRY};
  const char *const *topics = o->topics ? o->topics : default_topics;
  size_t n = o->topics ? o->n_topics : 1;
  m->filters = calloc(n, sizeof *m->filters);
  if (!m->filters)
    return fleet_error__oom();
  m->n_filters = (int)n;
  for (size_t i = 0; i < n; i++) {
    fleet_buf_t b = FLEET_BUF_INIT;
    int rc = o->share_group ? fleet_buf__printf(&b, "$share/%s/%s", o->share_group, topics[i])
                            : fleet_buf__puts(&b, topics[i]);
    if (rc) {
      fleet_buf_dispose(&b);
      return fleet_error__oom();
    }
    m->filters[i] = b.ptr;
  }
  return 0;
}

int fleet_mqtt_new(fleet_mqtt_t **out, const fleet_mqtt_options_t *opts)
{
  if (out)
    *out = NULL;
  if (!out || !opts)
    return fleet_error__set(FLEET_EINVAL, "mqtt: NULL argument");
  if (opts->version != FLEET_MQTT_OPTIONS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "options: unknown version %u (this library: %u)",
                            opts->version, FLEET_MQTT_OPTIONS_VERSION);
  fleet_mqtt_url_t url = FLEET_MQTT_URL_INIT;
  int rc = fleet_mqtt_url_parse(&url, opts->url ? opts->url : FLEET_MQTT_URL_DEFAULT);
  if (rc)
    return rc;
  if ((rc = check_options(opts, &url)))
    return rc;
  pthread_once(&lib_once, lib_init);
  if (lib_rc != MOSQ_ERR_SUCCESS)
    return fleet_error__set(FLEET_EINTERNAL, "mosquitto_lib_init: %s", mosquitto_strerror(lib_rc));

  fleet_mqtt_t *m = calloc(1, sizeof *m);
  if (!m)
    return fleet_error__oom();
  m->wake_fd = -1;
  if (pthread_mutex_init(&m->lock, NULL) != 0) {
    free(m);
    return fleet_error__set(FLEET_EINTERNAL, "pthread_mutex_init failed");
  }
  if (pthread_cond_init(&m->cond, NULL) != 0) {
    pthread_mutex_destroy(&m->lock);
    free(m);
    return fleet_error__set(FLEET_EINTERNAL, "pthread_cond_init failed");
  }
  m->url = url;
  m->clean_session = opts->clean_session ? 1 : 0;
  m->protocol = opts->protocol;
  m->keepalive_s = (int)opts->keepalive_s;
  m->qos = opts->qos;
  m->partition_index = opts->partition_index;
  m->partition_count = opts->partition_count;
  m->reconnect_min_ms = opts->reconnect_min_ms;
  m->reconnect_max_ms = opts->reconnect_max_ms;
  m->max_packet_size = opts->max_packet_size;
  m->on_message = opts->on_message;
  m->on_connect = opts->on_connect;
  m->on_disconnect = opts->on_disconnect;
  m->log_cb = opts->log_cb;
  m->log_level = opts->log_level;
  m->userdata = opts->userdata;
  m->rng = (uint64_t)now_ms() ^ (uint64_t)(uintptr_t)m ^ 0x9e3779b97f4a7c15ull;
  m->pending_mids = calloc(65536 / 8, 1);
  m->client_id = dup_str(opts->client_id);
  m->status_topic = dup_str(opts->status_topic);
  if (!m->pending_mids || (opts->client_id && !m->client_id) ||
      (opts->status_topic && !m->status_topic)) {
    rc = fleet_error__oom();
    goto fail;
  }
  if ((rc = copy_filters(m, opts)))
    goto fail;
  m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m->wake_fd < 0) {
    rc = fleet_error__set(FLEET_EIO, "eventfd: %s", strerror(errno));
    goto fail;
  }
  if ((rc = setup_mosquitto(m, opts)))
    goto fail;
  *out = m;
  return 0;
fail:
  fleet_mqtt_free(m);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Driving the connection                                                   */

/* One connection attempt (blocking for the TCP and TLS handshakes: libmosquitto
 * sends MQTT 5 CONNECT properties only from its blocking connect call, and the
 * session expiry must go with every reconnect or the session dies with the
 * connection). Returns 0 or FLEET_ENET. */
static int attempt_connect(fleet_mqtt_t *m)
{
  int rc = mosquitto_connect_bind_v5(m->mosq, m->url.host, (int)m->url.port, m->keepalive_s,
                                     NULL, m->connect_props);
  if (rc == MOSQ_ERR_SUCCESS) {
    m->socket_up = 1;
    m->attempt_reported = 0;
    /* A CONNACK that never comes is caught by the keepalive check. */
    m->next_attempt_ms = now_ms() + m->reconnect_min_ms;
    return 0;
  }
  int err = errno;
  char detail[1024];
  const char *why = rc == MOSQ_ERR_ERRNO ? strerror(err)
                    : rc == MOSQ_ERR_EAI ? "host name not resolved"
                                         : mosquitto_strerror(rc);
  m->socket_up = 0;
  snprintf(detail, sizeof detail, "cannot connect to %s:%u: %s", m->url.host, m->url.port, why);
  attempt_failed(m, FLEET_ENET, detail);
  return fleet_error__set(FLEET_ENET, "%s", detail);
}

/* Wait for traffic (at most `timeout_ms`) and do the I/O it calls for. */
static void run_io(fleet_mqtt_t *m, int timeout_ms)
{
  struct pollfd pfd[2];
  int sock = mosquitto_socket(m->mosq);
  nfds_t n = 0;
  pfd[n].fd = m->wake_fd;
  pfd[n].events = POLLIN;
  n++;
  if (sock >= 0) {
    pfd[n].fd = sock;
    pfd[n].events = (short)(POLLIN | (mosquitto_want_write(m->mosq) ? POLLOUT : 0));
    n++;
  }
  if (timeout_ms > LOOP_SLICE_MS || timeout_ms < 0)
    timeout_ms = LOOP_SLICE_MS;
  int pr = poll(pfd, n, timeout_ms);
  if (pr < 0)
    return; /* EINTR: the caller loops */
  if (pfd[0].revents)
    drain_wake(m);
  if (sock < 0)
    return;
  if (pfd[1].revents & (POLLIN | POLLERR | POLLHUP)) {
    if (mosquitto_loop_read(m->mosq, 1) != MOSQ_ERR_SUCCESS)
      return; /* libmosquitto closed the socket and reported it */
  }
  if (mosquitto_socket(m->mosq) >= 0 && mosquitto_want_write(m->mosq)) {
    if (mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS)
      return;
  }
  if (mosquitto_socket(m->mosq) >= 0)
    mosquitto_loop_misc(m->mosq);
}

/* One step of the driving loop: reconnect when due, else do I/O. */
static void step(fleet_mqtt_t *m, int timeout_ms)
{
  if (mosquitto_socket(m->mosq) < 0) {
    m->socket_up = 0;
    int64_t wait = m->next_attempt_ms - now_ms();
    if (wait <= 0) {
      attempt_connect(m);
      return;
    }
    if (timeout_ms >= 0 && wait > timeout_ms)
      wait = timeout_ms;
    if (wait > LOOP_SLICE_MS)
      wait = LOOP_SLICE_MS;
    struct pollfd p = {.fd = m->wake_fd, .events = POLLIN};
    if (poll(&p, 1, (int)wait) > 0)
      drain_wake(m);
    return;
  }
  run_io(m, timeout_ms);
}

/* Send DISCONNECT and give it a moment to leave. */
static void graceful_disconnect(fleet_mqtt_t *m)
{
  if (mosquitto_socket(m->mosq) < 0)
    return;
  mosquitto_disconnect(m->mosq);
  int64_t end = now_ms() + DISCONNECT_FLUSH_MS;
  while (mosquitto_socket(m->mosq) >= 0 && now_ms() < end) {
    struct pollfd p = {.fd = mosquitto_socket(m->mosq), .events = POLLOUT};
    if (poll(&p, 1, 50) > 0 && mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS)
      break;
  }
  /* Whatever happened, we are no longer connected. */
  pthread_mutex_lock(&m->lock);
  int was = m->connected;
  m->connected = 0;
  pthread_cond_broadcast(&m->cond);
  pthread_mutex_unlock(&m->lock);
  if (was && m->on_disconnect) {
    char detail[1024];
    snprintf(detail, sizeof detail, "disconnected from %s:%u", m->url.host, m->url.port);
    m->on_disconnect(0, detail, m->userdata);
  }
}

static void *thread_main(void *arg)
{
  fleet_mqtt_t *m = arg;
  pthread_setname_np(pthread_self(), "fleet-mqtt");
  while (!atomic_load(&m->stop))
    step(m, LOOP_SLICE_MS);
  graceful_disconnect(m);
  return NULL;
}

int fleet_mqtt_start(fleet_mqtt_t *m)
{
  if (!m)
    return fleet_error__set(FLEET_EINVAL, "mqtt: NULL handle");
  if (m->mode != MODE_NONE)
    return fleet_error__set(FLEET_ESTATE, "mqtt: the client is already %s",
                            m->mode == MODE_THREAD ? "started" : "driven by fleet_mqtt_loop()");
  atomic_store(&m->stop, 0);
  m->next_attempt_ms = 0;
  m->failures = 0;
  m->mode = MODE_THREAD;
  int e = pthread_create(&m->thread, NULL, thread_main, m);
  if (e) {
    m->mode = MODE_NONE;
    return e == EAGAIN ? fleet_error__set(FLEET_ENOMEM, "mqtt: cannot create a thread")
                       : fleet_error__set(FLEET_EINTERNAL, "pthread_create: %s", strerror(e));
  }
  m->thread_started = 1;
  return 0;
}

int fleet_mqtt_connect(fleet_mqtt_t *m)
{
  if (!m)
    return fleet_error__set(FLEET_EINVAL, "mqtt: NULL handle");
  if (m->mode == MODE_THREAD)
    return fleet_error__set(FLEET_ESTATE, "mqtt: the client's thread drives it already");
  if (mosquitto_socket(m->mosq) >= 0)
    return fleet_error__set(FLEET_ESTATE, "mqtt: already connected");
  m->mode = MODE_CALLER;
  atomic_store(&m->stop, 0);
  return attempt_connect(m);
}

int fleet_mqtt_loop(fleet_mqtt_t *m, int timeout_ms)
{
  if (!m)
    return fleet_error__set(FLEET_EINVAL, "mqtt: NULL handle");
  if (m->mode == MODE_THREAD)
    return fleet_error__set(FLEET_ESTATE, "mqtt: the client's thread drives it");
  if (m->mode == MODE_NONE) {
    m->mode = MODE_CALLER;
    atomic_store(&m->stop, 0);
  }
  m->loop_rc = 0;
  step(m, timeout_ms);
  int rc = m->loop_rc;
  m->loop_rc = 0;
  return rc;
}

int fleet_mqtt_is_connected(const fleet_mqtt_t *m)
{
  if (!m)
    return 0;
  fleet_mqtt_t *mm = (fleet_mqtt_t *)m;
  pthread_mutex_lock(&mm->lock);
  int c = mm->connected;
  pthread_mutex_unlock(&mm->lock);
  return c;
}

static void deadline_ts(struct timespec *ts, int64_t end_ms)
{
  /* Condition variables use CLOCK_REALTIME by default: convert. */
  int64_t left = end_ms - now_ms();
  if (left < 0)
    left = 0;
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += (time_t)(left / 1000);
  ts->tv_nsec += (long)(left % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

int fleet_mqtt_wait_connected(fleet_mqtt_t *m, int timeout_ms)
{
  if (!m)
    return fleet_error__set(FLEET_EINVAL, "mqtt: NULL handle");
  if (m->mode == MODE_NONE)
    return fleet_error__set(FLEET_ESTATE, "mqtt: neither started nor connecting");
  int64_t end = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  if (m->mode == MODE_CALLER) {
    while (!fleet_mqtt_is_connected(m)) {
      int64_t left = end - now_ms();
      if (left <= 0)
        break;
      int rc = fleet_mqtt_loop(m, (int)left);
      if (rc)
        return rc;
    }
  } else {
    pthread_mutex_lock(&m->lock);
    while (!m->connected) {
      struct timespec ts;
      deadline_ts(&ts, end);
      if (now_ms() >= end ||
          (pthread_cond_timedwait(&m->cond, &m->lock, &ts) == ETIMEDOUT && !m->connected))
        break;
    }
    pthread_mutex_unlock(&m->lock);
  }
  pthread_mutex_lock(&m->lock);
  int ok = m->connected;
  char why[1024];
  snprintf(why, sizeof why, "%s", m->last_error[0] ? m->last_error : "no CONNACK yet");
  pthread_mutex_unlock(&m->lock);
  if (ok)
    return 0;
  return fleet_error__set(FLEET_ETIMEOUT, "mqtt: not connected after %d ms (%s)", timeout_ms,
                          why);
}

/* ------------------------------------------------------------------------ */
/* Publishing                                                               */

static int publish_impl(fleet_mqtt_t *m, const char *topic, const void *payload, size_t len,
                        int qos, int retain)
{
  char q[SHOW_BUF];
  if (!m || !topic || (!payload && len))
    return fleet_error__set(FLEET_EINVAL, "publish: NULL argument");
  if (atomic_load(&m->closing))
    return fleet_error__set(FLEET_ECLOSED, "publish: the client is being freed");
  if (qos < 0 || qos > 2) {
    count(&m->publish_failures);
    return fleet_error__set(FLEET_EINVAL, "publish: qos %d is not 0, 1 or 2", qos);
  }
  if (len > MQTT_PAYLOAD_MAX) {
    count(&m->publish_failures);
    return fleet_error__set(FLEET_EINVAL, "publish: %zu bytes is over the MQTT limit of %u", len,
                            MQTT_PAYLOAD_MAX);
  }
  int mid = 0;
  /* The lock spans the call so that the PUBACK (handled on the loop thread)
   * cannot be seen before the message id is marked pending. */
  pthread_mutex_lock(&m->lock);
  int rc = mosquitto_publish(m->mosq, &mid, topic, (int)len, payload, qos, retain ? true : false);
  /* libmosquitto keeps a QoS 1/2 message queued when it is not connected (and
   * sends it after the reconnect), but still answers "no connection". */
  int queued = rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && qos > 0);
  if (queued && qos > 0) {
    size_t i = (size_t)(uint16_t)mid;
    if (!(m->pending_mids[i / 8] & (1u << (i % 8)))) {
      m->pending_mids[i / 8] |= (uint8_t)(1u << (i % 8));
      m->pending++;
    }
  }
  pthread_mutex_unlock(&m->lock);
  if (queued) {
    count(&m->published);
    wake(m);
    return 0;
  }
  count(&m->publish_failures);
  switch (rc) {
  case MOSQ_ERR_NOMEM:
    return fleet_error__oom();
  case MOSQ_ERR_NO_CONN:
    return fleet_error__set(FLEET_ENET, "publish to %s: not connected (QoS 0 is not queued)",
                            quote(q, topic));
  case MOSQ_ERR_INVAL:
  case MOSQ_ERR_MALFORMED_UTF8:
    return fleet_error__set(FLEET_EINVAL, "publish: %s is not a valid topic name",
                            quote(q, topic));
  case MOSQ_ERR_PAYLOAD_SIZE:
  case MOSQ_ERR_OVERSIZE_PACKET:
    return fleet_error__set(FLEET_EINVAL, "publish to %s: %zu bytes is more than the broker takes",
                            quote(q, topic), len);
  case MOSQ_ERR_QOS_NOT_SUPPORTED:
    return fleet_error__set(FLEET_EINVAL, "publish to %s: the broker does not support QoS %d",
                            quote(q, topic), qos);
  case MOSQ_ERR_ERRNO:
    return fleet_error__set(FLEET_ENET, "publish to %s: %s", quote(q, topic), strerror(errno));
  default:
    return fleet_error__set(FLEET_ENET, "publish to %s: %s", quote(q, topic),
                            mosquitto_strerror(rc));
  }
}

int fleet_mqtt_publish(fleet_mqtt_t *m, const char *topic, const void *payload, size_t len,
                       int qos, int retain)
{
  return publish_impl(m, topic, payload, len, qos, retain);
}

static int vehicle_topic(char *out, size_t cap, const char *id, const char *kind)
{
  if (!id)
    return fleet_error__set(FLEET_EINVAL, "vehicle_id: NULL");
  int rc = fleet_vehicle_id_validate(id, strlen(id));
  if (rc)
    return rc;
  snprintf(out, cap, "fleet/%s/%s", id, kind);
  return 0;
}

int fleet_mqtt_publish_alert(fleet_mqtt_t *m, const char *vehicle_id, const char *json,
                             size_t len)
{
  char topic[FLEET_VEHICLE_ID_MAX + 32];
  int rc = vehicle_topic(topic, sizeof topic, vehicle_id, "alerts");
  if (rc)
    return rc;
  return publish_impl(m, topic, json, len, 1, 0);
}

int fleet_mqtt_publish_status(fleet_mqtt_t *m, const char *vehicle_id, int online)
{
  char topic[FLEET_VEHICLE_ID_MAX + 32];
  int rc = vehicle_topic(topic, sizeof topic, vehicle_id, "status");
  if (rc)
    return rc;
  const char *s = online ? "online" : "offline";
  return publish_impl(m, topic, s, strlen(s), 1, 1);
}

int fleet_mqtt_wait_published(fleet_mqtt_t *m, int timeout_ms)
{
  if (!m)
    return fleet_error__set(FLEET_EINVAL, "mqtt: NULL handle");
  int64_t end = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  uint64_t left_msgs;
  if (m->mode == MODE_CALLER) {
    for (;;) {
      pthread_mutex_lock(&m->lock);
      left_msgs = m->pending;
      pthread_mutex_unlock(&m->lock);
      int64_t left = end - now_ms();
      if (!left_msgs || left <= 0)
        break;
      int rc = fleet_mqtt_loop(m, (int)left);
      if (rc)
        return rc;
    }
  } else if (m->mode == MODE_THREAD) {
    pthread_mutex_lock(&m->lock);
    while (m->pending && now_ms() < end) {
      struct timespec ts;
      deadline_ts(&ts, end);
      pthread_cond_timedwait(&m->cond, &m->lock, &ts);
    }
    left_msgs = m->pending;
    pthread_mutex_unlock(&m->lock);
  } else {
    pthread_mutex_lock(&m->lock);
    left_msgs = m->pending;
    pthread_mutex_unlock(&m->lock);
    if (left_msgs)
      return fleet_error__set(FLEET_ESTATE,
                              "mqtt: %llu messages wait but the client is not running",
                              (unsigned long long)left_msgs);
  }
  if (left_msgs)
    return fleet_error__set(FLEET_ETIMEOUT, "mqtt: %llu messages still unacknowledged after %d ms",
                            (unsigned long long)left_msgs, timeout_ms);
  return 0;
}

int fleet_mqtt_stats(fleet_mqtt_stats_t *out, const fleet_mqtt_t *m)
{
  if (!out || !m)
    return fleet_error__set(FLEET_EINVAL, "stats: NULL argument");
  if (out->version != FLEET_MQTT_STATS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "stats: unknown version %u (this library: %u)",
                            out->version, FLEET_MQTT_STATS_VERSION);
  fleet_mqtt_t *mm = (fleet_mqtt_t *)m;
  fleet_mqtt_stats_t s = FLEET_MQTT_STATS_INIT;
  s.received = load(&m->received);
  s.delivered = load(&m->delivered);
  s.retained = load(&m->retained);
  s.ignored_partition = load(&m->ignored_partition);
  s.bad_topic = load(&m->bad_topic);
  s.oversize = load(&m->oversize);
  s.handler_errors = load(&m->handler_errors);
  s.connects = load(&m->connects);
  s.reconnects = load(&m->reconnects);
  s.connect_failures = load(&m->connect_failures);
  s.connection_losses = load(&m->connection_losses);
  s.published = load(&m->published);
  s.publish_failures = load(&m->publish_failures);
  s.publish_completed = load(&m->publish_completed);
  pthread_mutex_lock(&mm->lock);
  s.connected = mm->connected;
  s.session_present = mm->session_present;
  pthread_mutex_unlock(&mm->lock);
  *out = s;
  return 0;
}

int fleet_mqtt_stop(fleet_mqtt_t *m, int timeout_ms)
{
  if (!m)
    return fleet_error__set(FLEET_EINVAL, "mqtt: NULL handle");
  if (m->mode == MODE_NONE)
    return 0;
  int rc = 0;
  if (m->status_topic && fleet_mqtt_is_connected(m))
    publish_impl(m, m->status_topic, "offline", 7, 1, 1);
  if (timeout_ms > 0 && fleet_mqtt_is_connected(m))
    rc = fleet_mqtt_wait_published(m, timeout_ms);
  else {
    pthread_mutex_lock(&m->lock);
    uint64_t left = m->pending;
    pthread_mutex_unlock(&m->lock);
    if (left)
      rc = fleet_error__set(FLEET_ETIMEOUT, "mqtt: %llu messages still unacknowledged at stop",
                            (unsigned long long)left);
  }
  atomic_store(&m->stop, 1);
  if (m->mode == MODE_THREAD) {
    wake(m);
    if (m->thread_started)
      pthread_join(m->thread, NULL);
    m->thread_started = 0;
  } else {
    graceful_disconnect(m);
  }
  m->mode = MODE_NONE;
  m->socket_up = 0;
  return rc;
}

void fleet_mqtt_free(fleet_mqtt_t *m)
{
  if (!m)
    return;
  if (m->mosq) {
    fleet_mqtt_stop(m, 1000);
    atomic_store(&m->closing, 1);
    mosquitto_destroy(m->mosq);
  }
  mosquitto_property_free_all(&m->connect_props);
  for (int i = 0; m->filters && i < m->n_filters; i++)
    free(m->filters[i]);
  free(m->filters);
  free(m->client_id);
  free(m->status_topic);
  free(m->pending_mids);
  if (m->wake_fd >= 0)
    close(m->wake_fd);
  pthread_cond_destroy(&m->cond);
  pthread_mutex_destroy(&m->lock);
  free(m);
}
