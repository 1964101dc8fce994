/*
 * fleetd_pub: publish a prepared file of MQTT messages, one per line as
 * "TOPIC<TAB>PAYLOAD", at QoS 0/1 over one libmosquitto connection, and wait
 * for every acknowledgement. The load for the fleetd tests and benchmark
 * (tests/integration/fleetd_load.py writes such files).
 *
 *   fleetd_pub --url mqtt://127.0.0.1:PORT [--qos 1] [--client-id ID]
 *              [--retain] [--rate MSG_PER_S] [--window N] [--timeout S]
 *              [--from N] [--count N] FILE
 *
 * With a fixed --client-id the session is persistent. libmosquitto 2.0.11
 * does not reliably resume sending after the broker restarts under a full
 * in-flight window, so tests that restart the broker publish with fleet-sim
 * instead. Prints
 * "published=N acked=N seconds=S rate=R" and exits 0 when every message was
 * acknowledged within --timeout (default 120 s).
 */
#include <errno.h>
#include <getopt.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_uint_fast64_t acked;
static atomic_int connected;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
  (void)m;
  (void)ud;
  (void)mid;
  atomic_fetch_add(&acked, 1);
  pthread_mutex_lock(&mu);
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
  (void)m;
  (void)ud;
  atomic_store(&connected, rc == 0);
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
  (void)m;
  (void)ud;
  (void)rc;
  atomic_store(&connected, 0);
}

typedef struct line {
  char *topic;
  char *payload;
  size_t len;
} line_t;

static int read_lines(const char *path, line_t **out, size_t *n)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "fleetd_pub: %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 1024, cnt = 0;
  line_t *v = malloc(cap * sizeof *v);
  char *buf = NULL;
  size_t bcap = 0;
  ssize_t r;
  while (v && (r = getline(&buf, &bcap, f)) >= 0) {
    size_t len = (size_t)r;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
      buf[--len] = '\0';
    if (!len)
      continue;
    char *tab = memchr(buf, '\t', len);
    if (!tab) {
      fprintf(stderr, "fleetd_pub: %s:%zu: no TAB between topic and payload\n", path, cnt + 1);
      free(buf);
      fclose(f);
      return -1;
    }
    if (cnt == cap) {
      cap *= 2;
      line_t *nv = realloc(v, cap * sizeof *v);
      if (!nv)
        break;
      v = nv;
    }
    *tab = '\0';
    v[cnt].topic = strdup(buf);
    v[cnt].len = len - (size_t)(tab + 1 - buf);
    v[cnt].payload = malloc(v[cnt].len + 1);
    if (!v[cnt].topic || !v[cnt].payload)
      break;
    memcpy(v[cnt].payload, tab + 1, v[cnt].len + 1);
    cnt++;
  }
  free(buf);
  fclose(f);
  *out = v;
  *n = cnt;
  return v ? 0 : -1;
}

int main(int argc, char **argv)
{
  static const struct option lo[] = {{"url", required_argument, NULL, 'u'},
                                     {"qos", required_argument, NULL, 'q'},
                                     {"client-id", required_argument, NULL, 'i'},
                                     {"retain", no_argument, NULL, 'r'},
                                     {"rate", required_argument, NULL, 'R'},
                                     {"window", required_argument, NULL, 'w'},
                                     {"timeout", required_argument, NULL, 't'},
                                     {"from", required_argument, NULL, 'f'},
                                     {"count", required_argument, NULL, 'c'},
                                     {NULL, 0, NULL, 0}};
  const char *url = "mqtt://127.0.0.1:1883", *client_id = NULL;
  int qos = 1, retain = 0;
  double rate = 0, timeout = 120;
  unsigned long window = 1000, from = 0, count = (unsigned long)-1;
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'u': url = optarg; break;
    case 'q': qos = atoi(optarg); break;
    case 'i': client_id = optarg; break;
    case 'r': retain = 1; break;
    case 'R': rate = atof(optarg); break;
    case 'w': window = strtoul(optarg, NULL, 10); break;
    case 't': timeout = atof(optarg); break;
    case 'f': from = strtoul(optarg, NULL, 10); break;
    case 'c': count = strtoul(optarg, NULL, 10); break;
    default: return 2;
    }
  }
  if (optind != argc - 1 || qos < 0 || qos > 1 || window < 1) {
    fprintf(stderr, "usage: fleetd_pub --url mqtt://HOST:PORT [--qos 0|1] [--client-id ID] "
                    "[--retain] [--rate N] [--window N] [--timeout S] [--from N] [--count N] "
                    "FILE\n");
    return 2;
  }
  char host[256];
  int port = 1883;
  if (sscanf(url, "mqtt://%255[^:]:%d", host, &port) < 1) {
    fprintf(stderr, "fleetd_pub: bad URL %s\n", url);
    return 2;
  }
  line_t *lines;
  size_t n;
  if (read_lines(argv[optind], &lines, &n))
    return 1;
  if (from > n)
    from = n;
  size_t end = count < n - from ? from + count : n;

  mosquitto_lib_init();
  struct mosquitto *m = mosquitto_new(client_id, client_id == NULL, NULL);
  if (!m) {
    fprintf(stderr, "fleetd_pub: mosquitto_new failed\n");
    return 1;
  }
  /* libmosquitto walks its whole outgoing queue at every acknowledgement:
   * keep the queue at `window` messages so a large file stays linear. */
  mosquitto_max_inflight_messages_set(m, (unsigned int)window);
  mosquitto_reconnect_delay_set(m, 1, 2, false);
  mosquitto_publish_callback_set(m, on_publish);
  mosquitto_connect_callback_set(m, on_connect);
  mosquitto_disconnect_callback_set(m, on_disconnect);
  double t0 = now_s();
  int rc;
  while ((rc = mosquitto_connect(m, host, port, 30)) != MOSQ_ERR_SUCCESS) {
    if (now_s() - t0 > timeout) {
      fprintf(stderr, "fleetd_pub: cannot connect to %s: %s\n", url, mosquitto_strerror(rc));
      return 1;
    }
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
  }
  mosquitto_loop_start(m);
  t0 = now_s();
  uint64_t published = 0;
  int status = 0;
  for (size_t i = from; i < end; i++) {
    if (rate > 0) {
      double due = t0 + (double)published / rate;
      double wait = due - now_s();
      if (wait > 0) {
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
      }
    }
    if (qos > 0) {
      pthread_mutex_lock(&mu);
      while (published - atomic_load(&acked) >= window && now_s() - t0 < timeout) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000;
        if (ts.tv_nsec >= 1000000000) {
          ts.tv_sec++;
          ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&cv, &mu, &ts);
      }
      pthread_mutex_unlock(&mu);
    }
    rc = mosquitto_publish(m, NULL, lines[i].topic, (int)lines[i].len, lines[i].payload, qos,
                           retain);
    /* While the broker is away libmosquitto queues a QoS 1 message (and
     * says NO_CONN); a QoS 0 one is refused: try it again. */
    if (rc == MOSQ_ERR_NO_CONN && qos > 0)
      rc = MOSQ_ERR_SUCCESS;
    if (rc == MOSQ_ERR_NO_CONN && now_s() - t0 < timeout) {
      struct timespec ts = {0, 100000000};
      nanosleep(&ts, NULL);
      i--;
      continue;
    }
    if (rc != MOSQ_ERR_SUCCESS) {
      fprintf(stderr, "fleetd_pub: publish %zu: %s\n", i, mosquitto_strerror(rc));
      status = 1;
      break;
    }
    published++;
  }
  if (qos == 0)
    atomic_store(&acked, published);
  while (atomic_load(&acked) < published && now_s() - t0 < timeout) {
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
  }
  double secs = now_s() - t0;
  uint64_t a = atomic_load(&acked);
  if (a < published)
    status = 1;
  /* QoS 0 has no acknowledgement: give the loop a moment to write it out. */
  if (qos == 0) {
    struct timespec ts = {0, 300000000};
    nanosleep(&ts, NULL);
  }
  mosquitto_disconnect(m);
  mosquitto_loop_stop(m, false);
  mosquitto_destroy(m);
  mosquitto_lib_cleanup();
  printf("published=%llu acked=%llu seconds=%.3f rate=%.0f\n", (unsigned long long)published,
         (unsigned long long)a, secs, secs > 0 ? (double)published / secs : 0.0);
  for (size_t i = 0; i < n; i++) {
    free(lines[i].topic);
    free(lines[i].payload);
  }
  free(lines);
  return status;
}
