/*
 * bench_bare_sub: the baseline of bench/fleetd_pipeline.sh. A bare
 * libmosquitto subscriber that only counts: persistent session, QoS 1,
 * fleet/+/telemetry, one thread (mosquitto_loop), exactly what fleetd's MQTT
 * side does before any work of its own. It reports the CPU time of its
 * process per message, so fleetd's figure can be put beside it.
 *
 *   bench_bare_sub --url mqtt://127.0.0.1:PORT --client-id ID --setup
 *       connect, subscribe and disconnect: the broker keeps the session and
 *       queues what is published meanwhile
 *   bench_bare_sub --url mqtt://127.0.0.1:PORT --client-id ID --count N
 *       receive N messages (timeout --timeout S, default 300) and print
 *       "messages=N seconds=S cpu_s=C cpu_us_per_msg=U rate=R"
 */
#include <getopt.h>
#include <mosquitto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static uint64_t received;
static int subscribed;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
  (void)ud;
  if (rc == 0)
    mosquitto_subscribe(m, NULL, "fleet/+/telemetry", 1);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
  (void)m;
  (void)ud;
  (void)mid;
  (void)n;
  (void)granted;
  subscribed = 1;
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
  (void)m;
  (void)ud;
  (void)msg;
  received++;
}

int main(int argc, char **argv)
{
  static const struct option lo[] = {{"url", required_argument, NULL, 'u'},
                                     {"client-id", required_argument, NULL, 'i'},
                                     {"setup", no_argument, NULL, 's'},
                                     {"count", required_argument, NULL, 'c'},
                                     {"timeout", required_argument, NULL, 't'},
                                     {NULL, 0, NULL, 0}};
  const char *url = "mqtt://127.0.0.1:1883", *id = "bench-bare-sub";
  int setup = 0;
  uint64_t count = 0;
  double timeout = 300;
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'u': url = optarg; break;
    case 'i': id = optarg; break;
    case 's': setup = 1; break;
    case 'c': count = strtoull(optarg, NULL, 10); break;
    case 't': timeout = atof(optarg); break;
    default: return 2;
    }
  }
  char host[256];
  int port = 1883;
  if (sscanf(url, "mqtt://%255[^:]:%d", host, &port) < 1 || (!setup && !count)) {
    fprintf(stderr, "usage: bench_bare_sub --url mqtt://HOST:PORT --client-id ID "
                    "(--setup | --count N) [--timeout S]\n");
    return 2;
  }
  mosquitto_lib_init();
  struct mosquitto *m = mosquitto_new(id, false, NULL);
  if (!m)
    return 1;
  mosquitto_connect_callback_set(m, on_connect);
  mosquitto_subscribe_callback_set(m, on_subscribe);
  mosquitto_message_callback_set(m, on_message);
  if (mosquitto_connect(m, host, port, 30) != MOSQ_ERR_SUCCESS) {
    fprintf(stderr, "bench_bare_sub: cannot connect to %s\n", url);
    return 1;
  }
  double t0 = now_s(), c0 = cpu_s();
  double first = 0;
  int status = 0;
  while (setup ? !subscribed : received < count) {
    if (now_s() - t0 > timeout) {
      fprintf(stderr, "bench_bare_sub: timeout after %llu messages\n",
              (unsigned long long)received);
      status = 1;
      break;
    }
    int rc = mosquitto_loop(m, 100, 1);
    if (rc != MOSQ_ERR_SUCCESS)
      mosquitto_reconnect(m);
    if (received && first == 0)
      first = now_s();
  }
  double t1 = now_s(), c1 = cpu_s();
  mosquitto_disconnect(m);
  mosquitto_loop(m, 100, 1);
  mosquitto_destroy(m);
  mosquitto_lib_cleanup();
  if (!setup) {
    double secs = t1 - t0, cpu = c1 - c0;
    printf("messages=%llu seconds=%.3f cpu_s=%.3f cpu_us_per_msg=%.3f rate=%.0f\n",
           (unsigned long long)received, secs, cpu,
           received ? cpu * 1e6 / (double)received : 0.0,
           secs > 0 ? (double)received / secs : 0.0);
  }
  return status;
}
