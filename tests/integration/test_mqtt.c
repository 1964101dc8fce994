/*
 * The mqtt module against a real mosquitto broker (started by mosquitto.sh on
 * a free loopback port in a temporary directory): QoS 1 delivery, persistent
 * sessions across a disconnect and across a broker restart, partitions,
 * MQTT 5 shared subscriptions, retained messages, refused topics, oversize
 * messages, the caller-thread mode, connection failures, the status topic,
 * TLS with client certificates; and the URL parser, the partition hash and
 * the option checks, which need no broker.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fleet/fleet.h>

#ifndef FLEET_INTEGRATION_DIR
#  error "FLEET_INTEGRATION_DIR must point at tests/integration"
#endif

#define HARNESS FLEET_INTEGRATION_DIR "/mosquitto.sh"

/* ------------------------------------------------------------------------ */
/* Broker                                                                   */

static char broker_dir[256];
static char broker_url[64];
static char tls_dir[256];
static unsigned int tls_port;

static int run_cmd(char *out, size_t cap, const char *cmd)
{
  FILE *p = popen(cmd, "r");
  if (!p)
    return -1;
  size_t n = out ? fread(out, 1, cap - 1, p) : 0;
  if (out)
    out[n] = '\0';
  char sink[256];
  while (fread(sink, 1, sizeof sink, p) > 0)
    ;
  return pclose(p);
}

static int broker(const char *verb, const char *dir, const char *extra)
{
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s %s %s %s", HARNESS, verb, dir, extra ? extra : "");
  return run_cmd(NULL, 0, cmd);
}

static int start_broker(char *dir, size_t cap, const char *extra)
{
  snprintf(dir, cap, "/tmp/fleet-mqtt-test.XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  char cmd[1024], out[64];
  snprintf(cmd, sizeof cmd, "%s start %s %s", HARNESS, dir, extra ? extra : "");
  if (run_cmd(out, sizeof out, cmd) != 0)
    return -1;
  return atoi(out);
}

static void remove_dir(const char *dir)
{
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", dir);
}

static int group_setup(void **state)
{
  (void)state;
  int port = start_broker(broker_dir, sizeof broker_dir, NULL);
  if (port <= 0) {
    fprintf(stderr, "cannot start mosquitto (see %s)\n", broker_dir);
    return -1;
  }
  snprintf(broker_url, sizeof broker_url, "mqtt://127.0.0.1:%d", port);
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  broker("stop", broker_dir, NULL);
  remove_dir(broker_dir);
  if (tls_dir[0]) {
    broker("stop", tls_dir, NULL);
    remove_dir(tls_dir);
  }
  return 0;
}

static int64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------ */
/* A message collector                                                      */

#define MAX_MSGS 8192

typedef struct {
  char topic[128];
  char vehicle_id[FLEET_VEHICLE_ID_MAX + 1];
  char kind[32];
  char payload[256];
  size_t len;
  int qos;
  int retained;
} rec_t;

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  rec_t *recs;
  size_t n;
  int handler_rc; /* returned by on_message */
  int connects, connect_errors, disconnects;
  int last_connect_status, last_disconnect_status, last_session_present;
  char last_detail[512];
  int warnings;
  char last_warning[512];
} coll_t;

static void coll_init(coll_t *c)
{
  memset(c, 0, sizeof *c);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->cond, NULL);
  c->recs = calloc(MAX_MSGS, sizeof *c->recs);
  assert_non_null(c->recs);
}

static void coll_free(coll_t *c)
{
  free(c->recs);
  pthread_cond_destroy(&c->cond);
  pthread_mutex_destroy(&c->lock);
}

static int on_message(const fleet_mqtt_message_t *msg, void *ud)
{
  coll_t *c = ud;
  pthread_mutex_lock(&c->lock);
  if (c->n < MAX_MSGS) {
    rec_t *r = &c->recs[c->n];
    snprintf(r->topic, sizeof r->topic, "%s", msg->topic);
    snprintf(r->vehicle_id, sizeof r->vehicle_id, "%s", msg->vehicle_id);
    snprintf(r->kind, sizeof r->kind, "%s", msg->kind);
    r->len = msg->len < sizeof r->payload - 1 ? msg->len : sizeof r->payload - 1;
    memcpy(r->payload, msg->payload, r->len);
    r->payload[r->len] = '\0';
    r->qos = msg->qos;
    r->retained = msg->retained;
  }
  c->n++;
  pthread_cond_broadcast(&c->cond);
  int rc = c->handler_rc;
  pthread_mutex_unlock(&c->lock);
  return rc;
}

static void on_connect(int status, int session_present, const char *detail, void *ud)
{
  coll_t *c = ud;
  pthread_mutex_lock(&c->lock);
  if (status == 0)
    c->connects++;
  else
    c->connect_errors++;
  c->last_connect_status = status;
  c->last_session_present = session_present;
  snprintf(c->last_detail, sizeof c->last_detail, "%s", detail);
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);
}

static void on_disconnect(int status, const char *detail, void *ud)
{
  coll_t *c = ud;
  pthread_mutex_lock(&c->lock);
  c->disconnects++;
  c->last_disconnect_status = status;
  snprintf(c->last_detail, sizeof c->last_detail, "%s", detail);
  pthread_mutex_unlock(&c->lock);
}

static void on_log(int level, const char *message, void *ud)
{
  coll_t *c = ud;
  if (level != FLEET_MQTT_LOG_WARNING)
    return;
  pthread_mutex_lock(&c->lock);
  c->warnings++;
  snprintf(c->last_warning, sizeof c->last_warning, "%s", message);
  pthread_mutex_unlock(&c->lock);
}

/* Wait until the collector holds at least `n` messages (bounded). */
static size_t coll_wait(coll_t *c, size_t n, int timeout_ms)
{
  int64_t end = mono_ms() + timeout_ms;
  pthread_mutex_lock(&c->lock);
  while (c->n < n && mono_ms() < end) {
    pthread_mutex_unlock(&c->lock);
    sleep_ms(10);
    pthread_mutex_lock(&c->lock);
  }
  size_t got = c->n;
  pthread_mutex_unlock(&c->lock);
  return got;
}

static size_t coll_count(coll_t *c)
{
  pthread_mutex_lock(&c->lock);
  size_t n = c->n;
  pthread_mutex_unlock(&c->lock);
  return n;
}

static fleet_mqtt_options_t sub_opts(coll_t *c, const char *client_id)
{
  fleet_mqtt_options_t o = FLEET_MQTT_OPTIONS_INIT;
  o.url = broker_url;
  o.client_id = client_id;
  o.clean_session = client_id ? 0 : 1;
  o.on_message = on_message;
  o.on_connect = on_connect;
  o.on_disconnect = on_disconnect;
  o.log_cb = on_log;
  o.userdata = c;
  o.reconnect_min_ms = 100;
  o.reconnect_max_ms = 400;
  return o;
}

static fleet_mqtt_t *new_started(const fleet_mqtt_options_t *o)
{
  fleet_mqtt_t *m = NULL;
  int rc = fleet_mqtt_new(&m, o);
  if (rc)
    fail_msg("fleet_mqtt_new: %s", fleet_error_last());
  assert_int_equal(fleet_mqtt_start(m), 0);
  rc = fleet_mqtt_wait_connected(m, 5000);
  if (rc)
    fail_msg("wait_connected: %s", fleet_error_last());
  return m;
}

/* A publish-only client with a clean session. */
static fleet_mqtt_t *new_publisher(void)
{
  fleet_mqtt_options_t o = FLEET_MQTT_OPTIONS_INIT;
  o.url = broker_url;
  o.clean_session = 1;
  o.max_inflight = 0;
  return new_started(&o);
}

/* Wait until every subscription of a fresh connection is in place: publish a
 * marker to a topic the subscriber sees and wait for it. */
static void sync_marker(fleet_mqtt_t *pub, coll_t *c, const char *topic)
{
  size_t before = coll_count(c);
  int64_t end = mono_ms() + 5000;
  while (coll_count(c) == before && mono_ms() < end) {
    assert_int_equal(fleet_mqtt_publish(pub, topic, "{}", 2, 1, 0), 0);
    coll_wait(c, before + 1, 200);
  }
  assert_true(coll_count(c) > before);
  sleep_ms(100); /* let extra markers arrive before the test resets */
  pthread_mutex_lock(&c->lock);
  c->n = 0;
  pthread_mutex_unlock(&c->lock);
}

static fleet_mqtt_stats_t stats_of(const fleet_mqtt_t *m)
{
  fleet_mqtt_stats_t s = FLEET_MQTT_STATS_INIT;
  assert_int_equal(fleet_mqtt_stats(&s, m), 0);
  return s;
}

/* ------------------------------------------------------------------------ */
/* No broker needed                                                         */

static void test_url_parse(void **state)
{
  (void)state;
  fleet_mqtt_url_t u = FLEET_MQTT_URL_INIT;
  assert_int_equal(fleet_mqtt_url_parse(&u, "mqtt://broker.example"), 0);
  assert_string_equal(u.host, "broker.example");
  assert_int_equal(u.port, 1883);
  assert_int_equal(u.tls, 0);
  assert_int_equal(fleet_mqtt_url_parse(&u, "MQTTS://10.0.0.7"), 0);
  assert_string_equal(u.host, "10.0.0.7");
  assert_int_equal(u.port, 8883);
  assert_int_equal(u.tls, 1);
  assert_int_equal(fleet_mqtt_url_parse(&u, "mqtt://[::1]:1884/"), 0);
  assert_string_equal(u.host, "::1");
  assert_int_equal(u.port, 1884);
  assert_int_equal(fleet_mqtt_url_parse(&u, "mqtts://my_host-1.local:65535"), 0);
  assert_int_equal(u.port, 65535);
  assert_int_equal(fleet_mqtt_url_parse(&u, "mqtt://h:1"), 0);
  assert_int_equal(u.port, 1);

  static const struct {
    const char *url, *msg;
  } bad[] = {
    {"tcp://localhost:1883", "scheme must be mqtt:// or mqtts://"},
    {"mqtt:/localhost", "scheme must be"},
    {"localhost:1883", "scheme must be"},
    {"mqtt://", "host is empty"},
    {"mqtt://:1883", "host is empty"},
    {"mqtt://h:0", "port must be a number in 1-65535"},
    {"mqtt://h:65536", "port must be"},
    {"mqtt://h:99999999999999999999", "port must be"},
    {"mqtt://h:", "port must be"},
    {"mqtt://h:12ab", "port must be"},
    {"mqtt://h:-1", "port must be"},
    {"mqtt://user:pw@h:1883", "user info is not supported"},
    {"mqtt://h:1883/path", "unexpected path"},
    {"mqtt://h//", "unexpected path"},
    {"mqtt://h w", "invalid character in the host name"},
    {"mqtt://[::1", "missing ']'"},
    {"mqtt://[::g]:1", "invalid character in IPv6"},
    {"mqtt://[::1]x", "unexpected text"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fleet_mqtt_url_t v = FLEET_MQTT_URL_INIT;
    int rc = fleet_mqtt_url_parse(&v, bad[i].url);
    if (rc != FLEET_EINVAL || !strstr(fleet_error_last(), bad[i].msg))
      fail_msg("%s: rc %d, message \"%s\", expected \"%s\"", bad[i].url, rc,
               fleet_error_last(), bad[i].msg);
    assert_string_equal(v.host, ""); /* untouched on failure */
  }
  char longhost[300] = "mqtt://";
  memset(longhost + 7, 'a', 256);
  longhost[263] = '\0';
  assert_int_equal(fleet_mqtt_url_parse(&u, longhost), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "longer than 255"));
  assert_int_equal(fleet_mqtt_url_parse(NULL, "mqtt://h"), FLEET_EINVAL);
  assert_int_equal(fleet_mqtt_url_parse(&u, NULL), FLEET_EINVAL);
  fleet_mqtt_url_t w = FLEET_MQTT_URL_INIT;
  w.version = 99;
  assert_int_equal(fleet_mqtt_url_parse(&w, "mqtt://h"), FLEET_EVERSION);
}

static void test_partition_hash(void **state)
{
  (void)state;
  /* FNV-1a 32 test vectors: "" -> 0x811c9dc5, "a" -> 0xe40c292c,
   * "foobar" -> 0xbf9cf968. */
  assert_int_equal(fleet_mqtt_partition_of("", 0, 1000), 0x811c9dc5u % 1000);
  assert_int_equal(fleet_mqtt_partition_of("a", 1, 1000), 0xe40c292cu % 1000);
  assert_int_equal(fleet_mqtt_partition_of("foobar", 6, 7), 0xbf9cf968u % 7);
  assert_int_equal(fleet_mqtt_partition_of("foobar", 6, 1), 0);
  assert_int_equal(fleet_mqtt_partition_of("foobar", 6, 0), 0);
  assert_int_equal(fleet_mqtt_partition_of(NULL, 6, 7), 0);
  /* Only the given bytes count. */
  assert_int_equal(fleet_mqtt_partition_of("ab", 1, 1000), 0xe40c292cu % 1000);
}

static void expect_new_fails(const fleet_mqtt_options_t *o, int code, const char *msg)
{
  fleet_mqtt_t *m = (fleet_mqtt_t *)(uintptr_t)1;
  int rc = fleet_mqtt_new(&m, o);
  if (rc != code || !strstr(fleet_error_last(), msg))
    fail_msg("rc %d (expected %d), message \"%s\", expected \"%s\"", rc, code,
             fleet_error_last(), msg);
  assert_null(m);
}

static void test_options(void **state)
{
  (void)state;
  fleet_mqtt_options_t d;
  assert_int_equal(fleet_mqtt_options_init(&d, FLEET_MQTT_OPTIONS_VERSION), 0);
  assert_null(d.url);
  assert_int_equal(d.clean_session, 0);
  assert_int_equal(d.qos, 1);
  assert_int_equal(d.protocol, FLEET_MQTT_PROTOCOL_V311);
  assert_int_equal(d.keepalive_s, 30);
  assert_int_equal(d.reconnect_min_ms, 500);
  assert_int_equal(d.reconnect_max_ms, 30000);
  assert_int_equal(d.max_inflight, 100);
  assert_int_equal(d.log_level, FLEET_MQTT_LOG_INFO);
  assert_int_equal(fleet_mqtt_options_init(&d, 2), FLEET_EVERSION);
  assert_int_equal(fleet_mqtt_options_init(NULL, 1), FLEET_EINVAL);

  fleet_mqtt_t *m = NULL;
  assert_int_equal(fleet_mqtt_new(&m, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_mqtt_new(NULL, &d), FLEET_EINVAL);

  fleet_mqtt_options_t o = FLEET_MQTT_OPTIONS_INIT;
  expect_new_fails(&o, FLEET_EINVAL, "client_id: required for a persistent session");
  o.version = 7;
  expect_new_fails(&o, FLEET_EVERSION, "unknown version 7");

#define BAD(field, value, code, msg)                   \
  do {                                                 \
    fleet_mqtt_options_t b = FLEET_MQTT_OPTIONS_INIT;  \
    b.client_id = "t";                                 \
    b.field = value;                                   \
    expect_new_fails(&b, code, msg);                   \
  } while (0)

  BAD(url, "http://h", FLEET_EINVAL, "url: \"http://h\": the scheme");
  BAD(client_id, "", FLEET_EINVAL, "client_id: \"\" must be 1-256 bytes");
  BAD(client_id, "a\tb", FLEET_EINVAL, "outside printable ASCII");
  BAD(protocol, 3, FLEET_EINVAL, "protocol: 3 is neither");
  BAD(keepalive_s, 4, FLEET_EINVAL, "keepalive_s: 4 is outside [5, 65535]");
  BAD(password, "pw", FLEET_EINVAL, "password: set without a username");
  BAD(ca_file, "/etc/hostname", FLEET_EINVAL, "TLS options are set but the URL is mqtt://");
  BAD(tls_insecure, 1, FLEET_EINVAL, "use mqtts://");
  BAD(qos, 3, FLEET_EINVAL, "qos: 3 is not 0, 1 or 2");
  BAD(n_topics, 2, FLEET_EINVAL, "topics: NULL with n_topics 2");
  BAD(share_group, "a/b", FLEET_EINVAL, "share_group: \"a/b\" must not contain");
  BAD(share_group, "", FLEET_EINVAL, "share_group: \"\" must be 1-128 bytes");
  BAD(partition_index, 1, FLEET_EINVAL, "partition_index: 1 is set but partition_count is 0");
  BAD(reconnect_min_ms, 0, FLEET_EINVAL, "reconnect_min_ms: 0 is outside");
  BAD(reconnect_max_ms, 100, FLEET_EINVAL, "reconnect_max_ms: 100 is outside");
  BAD(max_inflight, 70000, FLEET_EINVAL, "max_inflight: 70000 is over 65535");
  BAD(status_topic, "a/+/b", FLEET_EINVAL, "status_topic: \"a/+/b\" is not a valid topic");
  {
    fleet_mqtt_options_t b = FLEET_MQTT_OPTIONS_INIT;
    b.client_id = "t";
    b.partition_count = 2;
    b.partition_index = 2;
    expect_new_fails(&b, FLEET_EINVAL, "partition_index: 2 is not below partition_count 2");
  }
  {
    static const char *const topics[] = {"fleet/+/telemetry", "fleet/#/x"};
    fleet_mqtt_options_t b = FLEET_MQTT_OPTIONS_INIT;
    b.client_id = "t";
    b.topics = topics;
    b.n_topics = 2;
    expect_new_fails(&b, FLEET_EINVAL, "topics[1]: \"fleet/#/x\" is not a valid subscription");
    b.n_topics = 0;
    expect_new_fails(&b, FLEET_EINVAL, "n_topics: 0 is outside [1, 64]");
  }
  {
    static const char *const topics[] = {"$share/g/fleet/+/telemetry"};
    fleet_mqtt_options_t b = FLEET_MQTT_OPTIONS_INIT;
    b.client_id = "t";
    b.topics = topics;
    b.n_topics = 1;
    b.share_group = "g";
    expect_new_fails(&b, FLEET_EINVAL, "is a shared subscription already");
  }
  {
    fleet_mqtt_options_t b = FLEET_MQTT_OPTIONS_INIT;
    b.client_id = "t";
    b.url = "mqtts://localhost";
    b.cert_file = "/etc/hostname";
    expect_new_fails(&b, FLEET_EINVAL, "cert_file: set without key_file");
    b.key_file = "/etc/hostname";
    expect_new_fails(&b, FLEET_EINVAL, "cert_file: a client certificate needs ca_file");
    b.ca_file = "/nonexistent/ca.pem";
    expect_new_fails(&b, FLEET_EIO, "ca_file: cannot read \"/nonexistent/ca.pem\"");
    b.cert_file = b.key_file = NULL;
    b.ca_file = NULL;
    b.tls_version = "sslv3";
    expect_new_fails(&b, FLEET_EINVAL, "tls_version: \"sslv3\" is neither");
  }
#undef BAD

  /* A valid configuration needs no broker to be created, and frees cleanly
   * without ever being started. */
  fleet_mqtt_options_t ok = FLEET_MQTT_OPTIONS_INIT;
  ok.client_id = "t";
  ok.protocol = FLEET_MQTT_PROTOCOL_V5;
  ok.max_packet_size = 8192;
  ok.status_topic = "fleetd/t/status";
  assert_int_equal(fleet_mqtt_new(&m, &ok), 0);
  assert_int_equal(fleet_mqtt_is_connected(m), 0);
  assert_int_equal(fleet_mqtt_wait_connected(m, 10), FLEET_ESTATE);
  assert_int_equal(fleet_mqtt_stop(m, 0), 0);
  fleet_mqtt_stats_t s = FLEET_MQTT_STATS_INIT;
  s.version = 5;
  assert_int_equal(fleet_mqtt_stats(&s, m), FLEET_EVERSION);
  assert_int_equal(fleet_mqtt_publish(m, "a/+", "x", 1, 1, 0), FLEET_EINVAL);
  assert_int_equal(fleet_mqtt_publish(m, "a/b", "x", 1, 3, 0), FLEET_EINVAL);
  assert_int_equal(fleet_mqtt_publish(m, "a/b", NULL, 1, 1, 0), FLEET_EINVAL);
  assert_int_equal(fleet_mqtt_publish(m, "a/b", "x", 1, 0, 0), FLEET_ENET);
  assert_non_null(strstr(fleet_error_last(), "not connected"));
  assert_int_equal(fleet_mqtt_publish_alert(m, "bad id", "{}", 2), FLEET_EINVAL);
  assert_int_equal(fleet_mqtt_publish_status(m, NULL, 1), FLEET_EINVAL);
  /* QoS 1 is queued inside the client even with no connection. */
  assert_int_equal(fleet_mqtt_publish(m, "a/b", "x", 1, 1, 0), 0);
  assert_int_equal(fleet_mqtt_wait_published(m, 10), FLEET_ESTATE);
  s = stats_of(m);
  assert_int_equal(s.published, 1);
  assert_int_equal(s.publish_failures, 3); /* bad qos, topic, QoS 0 offline */
  fleet_mqtt_free(m);
  fleet_mqtt_free(NULL);
  assert_int_equal(fleet_mqtt_start(NULL), FLEET_EINVAL);
  assert_int_equal(fleet_mqtt_is_connected(NULL), 0);
}

/* ------------------------------------------------------------------------ */
/* Against the broker                                                       */

static void test_qos1_receive(void **state)
{
  (void)state;
  coll_t c;
  coll_init(&c);
  fleet_mqtt_options_t o = sub_opts(&c, "t-qos1");
  fleet_mqtt_t *sub = new_started(&o);
  fleet_mqtt_t *pub = new_publisher();
  sync_marker(pub, &c, "fleet/marker/telemetry");

  const char *p = "{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":23.8,\"lng\":90.4}";
  assert_int_equal(fleet_mqtt_publish(pub, "fleet/v-001/telemetry", p, strlen(p), 1, 0), 0);
  assert_int_equal(fleet_mqtt_wait_published(pub, 5000), 0);
  assert_int_equal(coll_wait(&c, 1, 5000), 1);
  rec_t *r = &c.recs[0];
  assert_string_equal(r->topic, "fleet/v-001/telemetry");
  assert_string_equal(r->vehicle_id, "v-001");
  assert_string_equal(r->kind, "telemetry");
  assert_string_equal(r->payload, p);
  assert_int_equal(r->len, strlen(p));
  assert_int_equal(r->qos, 1);
  assert_int_equal(r->retained, 0);

  /* Alerts and statuses go to their topics; the default subscription (telemetry)
   * does not see them. */
  assert_int_equal(fleet_mqtt_publish_alert(pub, "v-001", "{\"a\":1}", 7), 0);
  assert_int_equal(fleet_mqtt_wait_published(pub, 5000), 0);
  sleep_ms(200);
  assert_int_equal(coll_count(&c), 1);

  fleet_mqtt_stats_t s = stats_of(sub);
  assert_int_equal(s.connected, 1);
  assert_int_equal(s.connects, 1);
  assert_int_equal(s.reconnects, 0);
  assert_int_equal(s.received, s.delivered);
  fleet_mqtt_stats_t ps = stats_of(pub);
  assert_int_equal(ps.publish_completed, ps.published);

  assert_int_equal(fleet_mqtt_start(sub), FLEET_ESTATE);
  assert_int_equal(fleet_mqtt_loop(sub, 10), FLEET_ESTATE);
  assert_int_equal(fleet_mqtt_stop(sub, 1000), 0);
  assert_int_equal(c.disconnects, 1);
  assert_int_equal(c.last_disconnect_status, 0);
  assert_int_equal(fleet_mqtt_is_connected(sub), 0);
  fleet_mqtt_free(sub);
  fleet_mqtt_free(pub);
  coll_free(&c);
}

/* Count distinct sequence numbers ("seq":N in the payload) in [0, n). */
static size_t distinct_seqs(coll_t *c, size_t n, size_t *dups)
{
  unsigned char *seen = calloc(n, 1);
  assert_non_null(seen);
  size_t distinct = 0;
  *dups = 0;
  pthread_mutex_lock(&c->lock);
  for (size_t i = 0; i < c->n && i < MAX_MSGS; i++) {
    const char *s = strstr(c->recs[i].payload, "\"seq\":");
    if (!s)
      continue;
    size_t k = (size_t)strtoul(s + 6, NULL, 10);
    if (k >= n)
      continue;
    if (seen[k])
      (*dups)++;
    else
      distinct++;
    seen[k] = 1;
  }
  pthread_mutex_unlock(&c->lock);
  free(seen);
  return distinct;
}

static void publish_seq(fleet_mqtt_t *pub, size_t from, size_t to)
{
  for (size_t i = from; i < to; i++) {
    char topic[64], payload[64];
    snprintf(topic, sizeof topic, "fleet/v-%03zu/telemetry", i % 50);
    int n = snprintf(payload, sizeof payload, "{\"seq\":%zu}", i);
    int rc = fleet_mqtt_publish(pub, topic, payload, (size_t)n, 1, 0);
    if (rc)
      fail_msg("publish %zu: %s", i, fleet_error_last());
  }
}

static void test_persistent_session(void **state)
{
  (void)state;
  enum { N = 1000 };
  coll_t c;
  coll_init(&c);
  fleet_mqtt_options_t o = sub_opts(&c, "t-persist");
  fleet_mqtt_t *sub = new_started(&o);
  fleet_mqtt_t *pub = new_publisher();
  sync_marker(pub, &c, "fleet/marker/telemetry");
  assert_int_equal(fleet_mqtt_stop(sub, 1000), 0);

  /* Published while the subscriber is away: the broker queues them. */
  publish_seq(pub, 0, N);
  assert_int_equal(fleet_mqtt_wait_published(pub, 10000), 0);

  assert_int_equal(fleet_mqtt_start(sub), 0);
  assert_int_equal(fleet_mqtt_wait_connected(sub, 5000), 0);
  assert_int_equal(coll_wait(&c, N, 10000), N);
  sleep_ms(200);
  assert_int_equal(coll_count(&c), N); /* exactly: nothing lost, nothing doubled */
  size_t dups;
  assert_int_equal(distinct_seqs(&c, N, &dups), N);
  assert_int_equal(dups, 0);
  fleet_mqtt_stats_t s = stats_of(sub);
  assert_int_equal(s.session_present, 1);
  assert_int_equal(s.connects, 2);
  assert_int_equal(s.reconnects, 1);
  assert_int_equal(c.last_session_present, 1);

  /* The same with a new handle (a restarted process) and the same id, on MQTT 5,
   * whose session must carry an expiry interval to outlive the connection. */
  fleet_mqtt_free(sub);
  pthread_mutex_lock(&c.lock);
  c.n = 0;
  pthread_mutex_unlock(&c.lock);
  o = sub_opts(&c, "t-persist5");
  o.protocol = FLEET_MQTT_PROTOCOL_V5;
  sub = new_started(&o);
  sync_marker(pub, &c, "fleet/marker/telemetry");
  fleet_mqtt_free(sub);
  publish_seq(pub, 0, 300);
  assert_int_equal(fleet_mqtt_wait_published(pub, 10000), 0);
  sub = new_started(&o);
  assert_int_equal(coll_wait(&c, 300, 10000), 300);
  sleep_ms(200);
  assert_int_equal(coll_count(&c), 300);
  assert_int_equal(distinct_seqs(&c, 300, &dups), 300);
  assert_int_equal(stats_of(sub).session_present, 1);

  fleet_mqtt_free(sub);
  fleet_mqtt_free(pub);
  coll_free(&c);
}

static void test_broker_restart(void **state)
{
  (void)state;
  enum { N = 2000 };
  coll_t c;
  coll_init(&c);
  fleet_mqtt_options_t o = sub_opts(&c, "t-restart-sub");
  fleet_mqtt_t *sub = new_started(&o);
  /* The publisher is persistent too, so that what it sent before the broker
   * went down but saw no PUBACK for is sent again. */
  fleet_mqtt_options_t po = FLEET_MQTT_OPTIONS_INIT;
  po.url = broker_url;
  po.client_id = "t-restart-pub";
  po.reconnect_min_ms = 100;
  po.reconnect_max_ms = 400;
  po.max_inflight = 0;
  fleet_mqtt_t *pub = new_started(&po);
  sync_marker(pub, &c, "fleet/marker/telemetry");

  publish_seq(pub, 0, N / 4);
  assert_int_equal(broker("stop", broker_dir, NULL), 0);
  /* Published while the broker is down: held by libmosquitto. */
  publish_seq(pub, N / 4, N / 2);
  assert_int_equal(broker("start", broker_dir, NULL), 0);
  publish_seq(pub, N / 2, N);
  if (fleet_mqtt_wait_published(pub, 20000) != 0)
    fail_msg("publisher: %s", fleet_error_last());
  int64_t end = mono_ms() + 20000;
  size_t dups = 0;
  while (distinct_seqs(&c, N, &dups) < N && mono_ms() < end)
    sleep_ms(50);
  size_t got = distinct_seqs(&c, N, &dups);
  if (got != N)
    fail_msg("%zu of %d distinct messages arrived (%zu duplicates)", got, N, dups);
  fleet_mqtt_stats_t s = stats_of(sub), ps = stats_of(pub);
  assert_true(s.reconnects >= 1);
  assert_true(s.connection_losses >= 1);
  assert_true(ps.reconnects >= 1);
  assert_int_equal(s.session_present, 1);
  assert_int_equal(ps.publish_failures, 0);
  pthread_mutex_lock(&c.lock);
  assert_true(c.disconnects >= 1);
  pthread_mutex_unlock(&c.lock);
  fleet_mqtt_free(sub);
  fleet_mqtt_free(pub);
  coll_free(&c);
}

static void test_partitions(void **state)
{
  (void)state;
  enum { V = 200 };
  coll_t c[2];
  fleet_mqtt_t *sub[2];
  fleet_mqtt_t *pub = new_publisher();
  for (int i = 0; i < 2; i++) {
    coll_init(&c[i]);
    fleet_mqtt_options_t o = sub_opts(&c[i], NULL);
    o.partition_index = (uint32_t)i;
    o.partition_count = 2;
    sub[i] = new_started(&o);
  }
  /* Markers for both partitions: vehicles "a" (partition 0) and "v-001" (1). */
  sync_marker(pub, &c[0], "fleet/a/telemetry");
  sync_marker(pub, &c[1], "fleet/v-001/telemetry");
  sleep_ms(200);
  for (int i = 0; i < 2; i++) {
    pthread_mutex_lock(&c[i].lock);
    c[i].n = 0;
    pthread_mutex_unlock(&c[i].lock);
  }
  fleet_mqtt_stats_t before[2] = {stats_of(sub[0]), stats_of(sub[1])};

  int expect[2] = {0, 0};
  for (int v = 0; v < V; v++) {
    char id[32], topic[64];
    snprintf(id, sizeof id, "veh-%d", v);
    snprintf(topic, sizeof topic, "fleet/%s/telemetry", id);
    assert_int_equal(fleet_mqtt_publish(pub, topic, id, strlen(id), 1, 0), 0);
    expect[fleet_mqtt_partition_of(id, strlen(id), 2)]++;
  }
  assert_int_equal(fleet_mqtt_wait_published(pub, 5000), 0);
  assert_true(expect[0] > 0 && expect[1] > 0);
  for (int i = 0; i < 2; i++)
    assert_int_equal(coll_wait(&c[i], (size_t)expect[i], 5000), expect[i]);
  sleep_ms(200);
  unsigned char seen[V] = {0};
  for (int i = 0; i < 2; i++) {
    assert_int_equal(coll_count(&c[i]), expect[i]);
    for (size_t k = 0; k < c[i].n; k++) {
      const char *id = c[i].recs[k].vehicle_id;
      assert_int_equal(fleet_mqtt_partition_of(id, strlen(id), 2), i);
      int v = atoi(id + 4);
      assert_int_equal(seen[v], 0); /* disjoint */
      seen[v] = 1;
    }
    fleet_mqtt_stats_t s = stats_of(sub[i]);
    assert_int_equal(s.ignored_partition - before[i].ignored_partition, expect[1 - i]);
    assert_int_equal(s.delivered - before[i].delivered, expect[i]);
    assert_int_equal(s.received - before[i].received, V);
  }
  for (int v = 0; v < V; v++)
    assert_int_equal(seen[v], 1); /* the union is everything */
  for (int i = 0; i < 2; i++) {
    fleet_mqtt_free(sub[i]);
    coll_free(&c[i]);
  }
  fleet_mqtt_free(pub);
}

static void test_shared_subscription(void **state)
{
  (void)state;
  enum { N = 400 };
  coll_t c[2];
  fleet_mqtt_t *sub[2];
  char ids[2][32];
  for (int i = 0; i < 2; i++) {
    coll_init(&c[i]);
    snprintf(ids[i], sizeof ids[i], "t-share-%d", i);
    fleet_mqtt_options_t o = sub_opts(&c[i], ids[i]);
    o.protocol = FLEET_MQTT_PROTOCOL_V5;
    o.clean_session = 1;
    o.share_group = "ingest";
    sub[i] = new_started(&o);
  }
  fleet_mqtt_t *pub = new_publisher();
  /* Subscriptions are in place once a marker reached one member. */
  size_t before = 0;
  int64_t end = mono_ms() + 5000;
  while (before == 0 && mono_ms() < end) {
    assert_int_equal(fleet_mqtt_publish(pub, "fleet/marker/telemetry", "{}", 2, 1, 0), 0);
    sleep_ms(100);
    before = coll_count(&c[0]) + coll_count(&c[1]);
  }
  sleep_ms(300);
  /* Both members must be subscribed: a few more markers reach both. */
  for (int k = 0; k < 4; k++)
    assert_int_equal(fleet_mqtt_publish(pub, "fleet/marker/telemetry", "{}", 2, 1, 0), 0);
  sleep_ms(300);
  for (int i = 0; i < 2; i++) {
    pthread_mutex_lock(&c[i].lock);
    c[i].n = 0;
    pthread_mutex_unlock(&c[i].lock);
  }
  publish_seq(pub, 0, N);
  assert_int_equal(fleet_mqtt_wait_published(pub, 5000), 0);
  end = mono_ms() + 5000;
  while (coll_count(&c[0]) + coll_count(&c[1]) < N && mono_ms() < end)
    sleep_ms(20);
  sleep_ms(200);
  size_t n0 = coll_count(&c[0]), n1 = coll_count(&c[1]);
  assert_int_equal(n0 + n1, N); /* each message to exactly one member */
  assert_true(n0 > 0 && n1 > 0);
  unsigned char seen[N] = {0};
  for (int i = 0; i < 2; i++)
    for (size_t k = 0; k < c[i].n; k++) {
      const char *s = strstr(c[i].recs[k].payload, "\"seq\":");
      assert_non_null(s);
      long q = strtol(s + 6, NULL, 10);
      assert_true(q >= 0 && q < N);
      assert_int_equal(seen[q], 0);
      seen[q] = 1;
    }
  for (int i = 0; i < 2; i++) {
    fleet_mqtt_free(sub[i]);
    coll_free(&c[i]);
  }
  fleet_mqtt_free(pub);
}

static void test_retained(void **state)
{
  (void)state;
  fleet_mqtt_t *pub = new_publisher();
  const char *last = "{\"v\":1,\"ts\":\"2026-05-21T10:00:00Z\",\"lat\":1,\"lng\":2}";
  assert_int_equal(
    fleet_mqtt_publish(pub, "fleet/v-ret/telemetry", last, strlen(last), 1, 1), 0);
  assert_int_equal(fleet_mqtt_publish_status(pub, "v-ret", 1), 0);
  assert_int_equal(fleet_mqtt_wait_published(pub, 5000), 0);

  coll_t c;
  coll_init(&c);
  static const char *const topics[] = {"fleet/v-ret/telemetry", "fleet/v-ret/status"};
  fleet_mqtt_options_t o = sub_opts(&c, NULL);
  o.topics = topics;
  o.n_topics = 2;
  fleet_mqtt_t *sub = new_started(&o);
  assert_int_equal(coll_wait(&c, 2, 5000), 2);
  int tele = -1, status = -1;
  for (int i = 0; i < 2; i++) {
    if (strcmp(c.recs[i].kind, "telemetry") == 0)
      tele = i;
    if (strcmp(c.recs[i].kind, "status") == 0)
      status = i;
  }
  assert_true(tele >= 0 && status >= 0);
  assert_int_equal(c.recs[tele].retained, 1);
  assert_string_equal(c.recs[tele].payload, last);
  assert_string_equal(c.recs[tele].vehicle_id, "v-ret");
  assert_int_equal(c.recs[status].retained, 1);
  assert_string_equal(c.recs[status].payload, "online");

  /* A live message carries no retained flag, even when published retained. */
  assert_int_equal(fleet_mqtt_publish(pub, "fleet/v-ret/telemetry", "{}", 2, 1, 1), 0);
  assert_int_equal(coll_wait(&c, 3, 5000), 3);
  assert_int_equal(c.recs[2].retained, 0);
  assert_int_equal(stats_of(sub).retained, 2);

  /* Clear the retained messages (empty retained payloads). */
  assert_int_equal(fleet_mqtt_publish(pub, "fleet/v-ret/telemetry", NULL, 0, 1, 1), 0);
  assert_int_equal(fleet_mqtt_publish(pub, "fleet/v-ret/status", NULL, 0, 1, 1), 0);
  assert_int_equal(fleet_mqtt_wait_published(pub, 5000), 0);
  fleet_mqtt_free(sub);
  fleet_mqtt_free(pub);
  coll_free(&c);
}

static void test_bad_topics_and_oversize(void **state)
{
  (void)state;
  coll_t c;
  coll_init(&c);
  static const char *const topics[] = {"fleet/#", "other/#"};
  fleet_mqtt_options_t o = sub_opts(&c, NULL);
  o.topics = topics;
  o.n_topics = 2;
  o.max_packet_size = 100;
  fleet_mqtt_t *sub = new_started(&o);
  fleet_mqtt_t *pub = new_publisher();
  sync_marker(pub, &c, "fleet/marker/telemetry");
  fleet_mqtt_stats_t before = stats_of(sub);

  static const char *const bad[] = {
    "fleet/bad id!/telemetry", "fleet/v1/telemetry/extra", "fleet//telemetry",
    "other/v1/telemetry",      "fleet/v1",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(fleet_mqtt_publish(pub, bad[i], "{}", 2, 1, 0), 0);
  char big[200];
  memset(big, 'x', sizeof big);
  assert_int_equal(fleet_mqtt_publish(pub, "fleet/v-big/telemetry", big, sizeof big, 1, 0), 0);
  /* 100 bytes of payload + 21 of topic: over the limit too. */
  assert_int_equal(fleet_mqtt_publish(pub, "fleet/v-big/telemetry", big, 100, 1, 0), 0);
  /* 79 + 21 = 100: at the limit, delivered. */
  assert_int_equal(fleet_mqtt_publish(pub, "fleet/v-big/telemetry", big, 79, 1, 0), 0);
  assert_int_equal(fleet_mqtt_publish(pub, "fleet/v-ok/telemetry", "{}", 2, 1, 0), 0);
  assert_int_equal(fleet_mqtt_wait_published(pub, 5000), 0);
  assert_int_equal(coll_wait(&c, 2, 5000), 2);
  sleep_ms(300);
  assert_int_equal(coll_count(&c), 2);
  assert_string_equal(c.recs[0].vehicle_id, "v-big");
  assert_int_equal(c.recs[0].len, 79);
  assert_string_equal(c.recs[1].vehicle_id, "v-ok");
  fleet_mqtt_stats_t s = stats_of(sub);
  assert_int_equal(s.received - before.received, 9);
  assert_int_equal(s.bad_topic - before.bad_topic, 5);
  assert_int_equal(s.oversize - before.oversize, 2);
  assert_int_equal(s.delivered - before.delivered, 2);
  /* Reported, but rate-limited: the first refusal is logged with its reason. */
  pthread_mutex_lock(&c.lock);
  assert_true(c.warnings >= 1);
  if (!strstr(c.last_warning, "\"fleet/bad id!/telemetry\""))
    fail_msg("warning: %s", c.last_warning);
  pthread_mutex_unlock(&c.lock);
  fleet_mqtt_free(sub);
  fleet_mqtt_free(pub);
  coll_free(&c);
}

static void test_caller_thread_mode(void **state)
{
  (void)state;
  coll_t c;
  coll_init(&c);
  fleet_mqtt_options_t o = sub_opts(&c, "t-caller");
  fleet_mqtt_t *sub = NULL;
  assert_int_equal(fleet_mqtt_new(&sub, &o), 0);
  assert_int_equal(fleet_mqtt_connect(sub), 0);
  assert_int_equal(fleet_mqtt_connect(sub), FLEET_ESTATE);
  assert_int_equal(fleet_mqtt_start(sub), FLEET_ESTATE);
  assert_int_equal(fleet_mqtt_wait_connected(sub, 5000), 0);
  fleet_mqtt_t *pub = new_publisher();
  /* Drive the loop until the subscription works. */
  int64_t end = mono_ms() + 5000;
  while (coll_count(&c) == 0 && mono_ms() < end) {
    assert_int_equal(fleet_mqtt_publish(pub, "fleet/marker/telemetry", "{}", 2, 1, 0), 0);
    for (int k = 0; k < 10; k++)
      assert_int_equal(fleet_mqtt_loop(sub, 20), 0);
  }
  assert_true(coll_count(&c) > 0);

  /* A non-zero on_message return comes back from fleet_mqtt_loop(). */
  pthread_mutex_lock(&c.lock);
  c.handler_rc = 42;
  pthread_mutex_unlock(&c.lock);
  fleet_mqtt_stats_t before = stats_of(sub);
  assert_int_equal(fleet_mqtt_publish(pub, "fleet/v-9/telemetry", "{}", 2, 1, 0), 0);
  int got = 0;
  end = mono_ms() + 5000;
  while (!got && mono_ms() < end) {
    int rc = fleet_mqtt_loop(sub, 50);
    if (rc) {
      assert_int_equal(rc, 42);
      got = 1;
    }
  }
  assert_true(got);
  assert_int_equal(stats_of(sub).handler_errors - before.handler_errors, 1);

  /* Publishing from the caller-driven client. */
  pthread_mutex_lock(&c.lock);
  c.handler_rc = 0;
  pthread_mutex_unlock(&c.lock);
  assert_int_equal(fleet_mqtt_publish(sub, "fleet/v-self/telemetry", "{}", 2, 1, 0), 0);
  assert_int_equal(fleet_mqtt_wait_published(sub, 5000), 0);
  assert_int_equal(fleet_mqtt_stop(sub, 1000), 0);
  assert_int_equal(c.last_disconnect_status, 0);
  fleet_mqtt_free(sub);
  fleet_mqtt_free(pub);
  coll_free(&c);
}

static void test_connect_failure(void **state)
{
  (void)state;
  /* A port nobody listens on: take a free one and keep it unbound. */
  char out[16];
  assert_int_equal(run_cmd(out, sizeof out,
                           "/usr/bin/python3 -c 'import socket; s=socket.socket(); "
                           "s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'"),
                   0);
  char url[64];
  snprintf(url, sizeof url, "mqtt://127.0.0.1:%d", atoi(out));
  coll_t c;
  coll_init(&c);
  fleet_mqtt_options_t o = sub_opts(&c, "t-fail");
  o.url = url;
  o.reconnect_min_ms = 50;
  o.reconnect_max_ms = 200;
  fleet_mqtt_t *m = NULL;
  assert_int_equal(fleet_mqtt_new(&m, &o), 0);
  assert_int_equal(fleet_mqtt_connect(m), FLEET_ENET);
  assert_non_null(strstr(fleet_error_last(), "cannot connect to 127.0.0.1:"));
  assert_non_null(strstr(fleet_error_last(), "refused"));
  assert_int_equal(fleet_mqtt_stop(m, 0), 0);

  assert_int_equal(fleet_mqtt_start(m), 0);
  int64_t t0 = mono_ms();
  assert_int_equal(fleet_mqtt_wait_connected(m, 700), FLEET_ETIMEOUT);
  assert_true(mono_ms() - t0 >= 650);
  assert_non_null(strstr(fleet_error_last(), "refused"));
  /* Stopping a client that waits for its next attempt is immediate. */
  t0 = mono_ms();
  assert_int_equal(fleet_mqtt_stop(m, 0), 0);
  assert_true(mono_ms() - t0 < 500);
  fleet_mqtt_stats_t s = stats_of(m);
  /* One attempt from fleet_mqtt_connect(), then backoff 50, 100, 200, 200 ms
   * (+-20%): a handful of attempts in 700 ms, not hundreds. */
  assert_true(s.connect_failures >= 4 && s.connect_failures <= 9);
  assert_int_equal(s.connects, 0);
  pthread_mutex_lock(&c.lock);
  assert_int_equal(c.connect_errors, (int)s.connect_failures);
  assert_int_equal(c.last_connect_status, FLEET_ENET);
  assert_int_equal(c.disconnects, 0);
  pthread_mutex_unlock(&c.lock);
  fleet_mqtt_free(m);
  coll_free(&c);
}

static void test_status_topic(void **state)
{
  (void)state;
  coll_t c, d;
  coll_init(&c);
  coll_init(&d);
  static const char *const topics[] = {"fleet/fleetd-t/status"};
  fleet_mqtt_options_t o = sub_opts(&c, NULL);
  o.topics = topics;
  o.n_topics = 1;
  fleet_mqtt_t *watch = new_started(&o);

  fleet_mqtt_options_t so = sub_opts(&d, "fleetd-t");
  so.status_topic = "fleet/fleetd-t/status";
  so.on_message = NULL; /* publish-only */
  fleet_mqtt_t *svc = new_started(&so);
  assert_int_equal(coll_wait(&c, 1, 5000), 1);
  assert_string_equal(c.recs[0].payload, "online");
  assert_int_equal(fleet_mqtt_stop(svc, 1000), 0);
  assert_int_equal(coll_wait(&c, 2, 5000), 2);
  assert_string_equal(c.recs[1].payload, "offline");
  assert_int_equal(c.recs[1].retained, 0);
  fleet_mqtt_free(svc);
  fleet_mqtt_free(watch);

  /* The retained "offline" is what a newcomer sees. */
  coll_t e;
  coll_init(&e);
  o.userdata = &e;
  watch = new_started(&o);
  assert_int_equal(coll_wait(&e, 1, 5000), 1);
  assert_string_equal(e.recs[0].payload, "offline");
  assert_int_equal(e.recs[0].retained, 1);
  fleet_mqtt_free(watch);
  coll_free(&c);
  coll_free(&d);
  coll_free(&e);
}

static void test_authentication(void **state)
{
  (void)state;
  char dir[64], cmd[1024], url[64];
  snprintf(dir, sizeof dir, "/tmp/fleet-mqtt-auth.XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(cmd, sizeof cmd,
           "mosquitto_passwd -c -b %s/passwd fleetd 's3cret' && "
           "printf 'allow_anonymous false\\npassword_file %s/passwd\\n' >%s/extra.conf && "
           "%s start %s",
           dir, dir, dir, HARNESS, dir);
  char out[32];
  if (run_cmd(out, sizeof out, cmd) != 0)
    fail_msg("cannot start mosquitto with a password file in %s", dir);
  snprintf(url, sizeof url, "mqtt://127.0.0.1:%d", atoi(out));

  static const int protocols[] = {FLEET_MQTT_PROTOCOL_V311, FLEET_MQTT_PROTOCOL_V5};
  for (int p = 0; p < 2; p++) {
    coll_t c;
    coll_init(&c);
    fleet_mqtt_options_t o = sub_opts(&c, "t-auth");
    o.url = url;
    o.protocol = protocols[p];
    o.username = "fleetd";
    o.password = "s3cret";
    fleet_mqtt_t *m = new_started(&o);
    fleet_mqtt_free(m);

    o.password = "wrong";
    o.reconnect_min_ms = 200;
    o.reconnect_max_ms = 200;
    assert_int_equal(fleet_mqtt_new(&m, &o), 0);
    assert_int_equal(fleet_mqtt_start(m), 0);
    assert_int_equal(fleet_mqtt_wait_connected(m, 700), FLEET_ETIMEOUT);
    assert_non_null(strstr(fleet_error_last(), "refused"));
    assert_int_equal(fleet_mqtt_stop(m, 0), 0);
    fleet_mqtt_stats_t s = stats_of(m);
    assert_int_equal(s.connects, 0);
    /* Refusals back off like connection failures: 200 ms (+-20%) apart. */
    assert_true(s.connect_failures >= 2 && s.connect_failures <= 5);
    pthread_mutex_lock(&c.lock);
    assert_int_equal(c.connects, 1); /* the first client's */
    assert_int_equal(c.connect_errors, (int)s.connect_failures);
    assert_int_equal(c.last_connect_status, FLEET_EAUTH);
    assert_non_null(strstr(c.last_detail, "CONNACK from 127.0.0.1:"));
    assert_int_equal(c.disconnects, 1); /* again the first client's, at free */
    pthread_mutex_unlock(&c.lock);
    fleet_mqtt_free(m);
    coll_free(&c);
  }
  broker("stop", dir, NULL);
  remove_dir(dir);
}

static void test_tls_client_certificates(void **state)
{
  (void)state;
  if (!tls_dir[0]) {
    if (start_broker(tls_dir, sizeof tls_dir, "--tls") <= 0)
      fail_msg("cannot start mosquitto with TLS (see %s)", tls_dir);
    char cmd[512], out[16];
    snprintf(cmd, sizeof cmd, "%s tls-port %s", HARNESS, tls_dir);
    assert_int_equal(run_cmd(out, sizeof out, cmd), 0);
    tls_port = (unsigned int)atoi(out);
    assert_int_equal(broker("cert", tls_dir, "v-tls"), 0);
  }
  char url[64], ca[320], cert[320], key[320], dcert[320], dkey[320];
  snprintf(url, sizeof url, "mqtts://localhost:%u", tls_port);
  snprintf(ca, sizeof ca, "%s/pki/ca.crt", tls_dir);
  snprintf(cert, sizeof cert, "%s/pki/fleetd.crt", tls_dir);
  snprintf(key, sizeof key, "%s/pki/fleetd.key", tls_dir);
  snprintf(dcert, sizeof dcert, "%s/pki/v-tls.crt", tls_dir);
  snprintf(dkey, sizeof dkey, "%s/pki/v-tls.key", tls_dir);

  coll_t c;
  coll_init(&c);
  fleet_mqtt_options_t o = sub_opts(&c, "fleetd-tls");
  o.url = url;
  o.ca_file = ca;
  o.cert_file = cert;
  o.key_file = key;
  o.tls_version = "tlsv1.2";
  fleet_mqtt_t *sub = new_started(&o);

  /* A device with its own certificate (CN = vehicle id). */
  fleet_mqtt_options_t po = FLEET_MQTT_OPTIONS_INIT;
  po.url = url;
  po.client_id = "v-tls";
  po.clean_session = 1;
  po.ca_file = ca;
  po.cert_file = dcert;
  po.key_file = dkey;
  fleet_mqtt_t *dev = new_started(&po);
  int64_t end = mono_ms() + 5000;
  while (coll_count(&c) == 0 && mono_ms() < end) {
    assert_int_equal(fleet_mqtt_publish(dev, "fleet/v-tls/telemetry", "{}", 2, 1, 0), 0);
    coll_wait(&c, 1, 200);
  }
  assert_true(coll_count(&c) >= 1);
  assert_string_equal(c.recs[0].vehicle_id, "v-tls");
  fleet_mqtt_free(dev);
  fleet_mqtt_free(sub);

  /* Without a client certificate the broker refuses the handshake. */
  coll_t d;
  coll_init(&d);
  fleet_mqtt_options_t no = sub_opts(&d, "nocert");
  no.url = url;
  no.ca_file = ca;
  no.reconnect_min_ms = 1000;
  no.reconnect_max_ms = 1000;
  fleet_mqtt_t *m = NULL;
  assert_int_equal(fleet_mqtt_new(&m, &no), 0);
  assert_int_equal(fleet_mqtt_start(m), 0);
  assert_int_equal(fleet_mqtt_wait_connected(m, 1500), FLEET_ETIMEOUT);
  fleet_mqtt_stats_t s = stats_of(m);
  assert_int_equal(s.connects, 0);
  assert_true(s.connect_failures >= 1);
  fleet_mqtt_free(m);

  /* A server whose certificate does not chain to the CA we trust: the system
   * CAs do not know the test CA. */
  no.ca_file = NULL;
  no.cert_file = NULL;
  no.key_file = NULL;
  assert_int_equal(fleet_mqtt_new(&m, &no), 0);
  assert_int_equal(fleet_mqtt_start(m), 0);
  assert_int_equal(fleet_mqtt_wait_connected(m, 1500), FLEET_ETIMEOUT);
  assert_int_equal(stats_of(m).connects, 0);
  fleet_mqtt_free(m);
  coll_free(&c);
  coll_free(&d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_url_parse),
    cmocka_unit_test(test_partition_hash),
    cmocka_unit_test(test_options),
    cmocka_unit_test(test_qos1_receive),
    cmocka_unit_test(test_persistent_session),
    cmocka_unit_test(test_broker_restart),
    cmocka_unit_test(test_partitions),
    cmocka_unit_test(test_shared_subscription),
    cmocka_unit_test(test_retained),
    cmocka_unit_test(test_bad_topics_and_oversize),
    cmocka_unit_test(test_caller_thread_mode),
    cmocka_unit_test(test_connect_failure),
    cmocka_unit_test(test_status_topic),
    cmocka_unit_test(test_authentication),
    cmocka_unit_test(test_tls_client_certificates),
  };
  return cmocka_run_group_tests_name("mqtt", tests, group_setup, group_teardown);
}
