/*
 * mqtt_sub: an exact-count telemetry subscriber for the integration tests,
 * built on the mqtt module (persistent session, QoS 1, fleet/+/telemetry).
 *
 *   mqtt_sub URL CLIENT_ID --create
 *       create the session (subscribe, disconnect) so that the broker queues
 *       what is published from now on
 *   mqtt_sub URL CLIENT_ID COUNT OUT_FILE [TIMEOUT_S]
 *       receive until COUNT messages arrived (at most TIMEOUT_S, default 30),
 *       then keep listening for half a second to catch any extra; write each
 *       message as "TOPIC PAYLOAD" lines to OUT_FILE. Exit 0 when exactly
 *       COUNT arrived, 1 otherwise.
 *
 * mosquitto_sub -C N is no substitute: it closes its socket before the
 * PUBACKs of the last messages it read have left, so the broker delivers them
 * again to the next session user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fleet/fleet.h>

typedef struct {
  FILE *out;
  unsigned long n;
} sink_t;

static int on_message(const fleet_mqtt_message_t *msg, void *ud)
{
  sink_t *s = ud;
  s->n++;
  if (s->out) {
    fprintf(s->out, "%s ", msg->topic);
    fwrite(msg->payload, 1, msg->len, s->out);
    fputc('\n', s->out);
  }
  return 0;
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
  int create = argc == 4 && strcmp(argv[3], "--create") == 0;
  if (!create && argc != 5 && argc != 6) {
    fprintf(stderr, "usage: mqtt_sub URL CLIENT_ID (--create | COUNT OUT_FILE [TIMEOUT_S])\n");
    return 2;
  }
  sink_t sink = {NULL, 0};
  unsigned long want = 0;
  long long timeout_ms = 30000;
  if (!create) {
    want = strtoul(argv[3], NULL, 10);
    if (!(sink.out = fopen(argv[4], "w"))) {
      perror(argv[4]);
      return 2;
    }
    if (argc == 6)
      timeout_ms = atoll(argv[5]) * 1000;
  }
  fleet_mqtt_options_t o = FLEET_MQTT_OPTIONS_INIT;
  o.url = argv[1];
  o.client_id = argv[2];
  o.on_message = on_message;
  o.userdata = &sink;
  o.reconnect_min_ms = 100;
  o.reconnect_max_ms = 1000;
  fleet_mqtt_t *m = NULL;
  if (fleet_mqtt_new(&m, &o) || fleet_mqtt_connect(m) || fleet_mqtt_wait_connected(m, 10000)) {
    fprintf(stderr, "mqtt_sub: %s\n", fleet_error_last());
    fleet_mqtt_free(m);
    return 1;
  }
  long long end = now_ms() + timeout_ms, idle_end = 0;
  while (!create) {
    long long t = now_ms();
    if (sink.n >= want && !idle_end)
      idle_end = t + 500;
    if ((idle_end && t >= idle_end) || t >= end)
      break;
    if (fleet_mqtt_loop(m, 50) != 0)
      break;
  }
  fleet_mqtt_stop(m, 2000);
  fleet_mqtt_free(m);
  if (sink.out && fclose(sink.out) != 0) {
    perror(argv[4]);
    return 1;
  }
  if (!create && sink.n != want) {
    fprintf(stderr, "mqtt_sub: %lu messages, expected %lu\n", sink.n, want);
    return 1;
  }
  return 0;
}
