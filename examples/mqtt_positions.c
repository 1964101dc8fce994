/*
 * mqtt_positions: subscribe to a broker and print live positions.
 *
 *   mqtt_positions [--url mqtt://127.0.0.1:1883] [--count N] [--timeout S]
 *
 * Subscribes to fleet/+/telemetry and prints one line per message: the
 * vehicle (taken from the topic), its time, position and speed, or why the
 * payload was rejected. Stops after N messages or S seconds (exit status 1
 * when --count was not reached in time). The client runs on this thread
 * (fleet_mqtt_connect + fleet_mqtt_loop), so the callback needs no locking.
 * mqtt_positions.py does the same in Python.
 */
#include <fleet/fleet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct app {
  long seen;
} app_t;

/* Runs inside fleet_mqtt_loop(). Everything in msg is borrowed. */
static int on_message(const fleet_mqtt_message_t *msg, void *userdata)
{
  app_t *app = userdata;
  fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
  char ts[FLEET_TIME_STRLEN];
  app->seen++;
  if (fleet_telemetry_parse(&rec, NULL, msg->payload, msg->len) != 0) {
    printf("%s: rejected: %s\n", msg->vehicle_id, fleet_error_last());
  } else {
    fleet_time_format(ts, rec.ts_ns);
    printf("%s  %s  %.6f,%.6f", msg->vehicle_id, ts, rec.lat, rec.lng);
    if (rec.present & FLEET_TELEMETRY_SPEED)
      printf("  %.1f km/h", rec.speed_kmh);
    printf("%s\n", msg->retained ? "  (retained)" : "");
  }
  fflush(stdout);
  return 0;
}

static double now_s(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
  const char *url = "mqtt://127.0.0.1:1883";
  long count = -1;
  double timeout = -1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
      url = argv[++i];
    } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
      count = atol(argv[++i]);
    } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
      timeout = atof(argv[++i]);
    } else {
      fprintf(stderr, "usage: %s [--url URL] [--count N] [--timeout S]\n", argv[0]);
      return 2;
    }
  }

  app_t app = {0};
  fleet_mqtt_options_t o = FLEET_MQTT_OPTIONS_INIT;
  o.url = url;
  o.clean_session = 1;         /* no client id: a throw-away session */
  o.on_message = on_message;   /* topics NULL: fleet/+/telemetry */
  o.userdata = &app;
  fleet_mqtt_t *m = NULL;
  if (fleet_mqtt_new(&m, &o) != 0) {
    fprintf(stderr, "%s\n", fleet_error_last());
    return 1;
  }
  double deadline = timeout >= 0 ? now_s() + timeout : 0;
  int connect_ms = timeout >= 0 ? (int)(timeout * 1000) : 10000;
  if (fleet_mqtt_connect(m) != 0 || fleet_mqtt_wait_connected(m, connect_ms) != 0) {
    fprintf(stderr, "%s: %s\n", url, fleet_error_last());
    fleet_mqtt_free(m);
    return 1;
  }
  fprintf(stderr, "listening on %s\n", url);
  int status = 0;
  while (count < 0 || app.seen < count) {
    if (timeout >= 0 && now_s() >= deadline) {
      if (count >= 0)
        status = 1;
      break;
    }
    /* Network work and callbacks, for at most 100 ms; reconnects by itself. */
    fleet_mqtt_loop(m, 100);
  }
  fleet_mqtt_free(m); /* disconnects cleanly first */
  if (status)
    fprintf(stderr, "timed out after %ld of %ld messages\n", app.seen, count);
  return status;
}
