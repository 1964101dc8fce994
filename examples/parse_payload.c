/*
 * parse_payload: parse and validate telemetry payloads (the v1 JSON of
 * DESIGN.md) and print what they hold.
 *
 *   parse_payload '{"v":1,"ts":"2026-05-21T10:30:00Z","lat":23.8103,"lng":90.4125}'
 *   parse_payload < payloads.jsonl          (one payload per line)
 *
 * For each payload: its fields, the optional fields the parser had to drop
 * (warnings) and the record as InfluxDB line protocol; or why it was
 * rejected. Exit status 0 when every payload was accepted, 1 when one was
 * rejected, 2 for a usage error. parse_payload.py does the same in Python.
 */
#include <fleet/fleet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_number(const char *name, double value, const char *unit)
{
  printf("  %-12s %.10g%s%s\n", name, value, *unit ? " " : "", unit);
}

/* Parse one payload and print the result; returns 0 when accepted. */
static int show(int n, const char *payload, size_t len)
{
  /* A record is plain data: a stack variable, initialised once. */
  fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
  fleet_telemetry_warnings_t warnings;
  char ts[FLEET_TIME_STRLEN];

  int rc = fleet_telemetry_parse(&rec, &warnings, payload, len);
  if (rc != 0) {
    /* The code says what kind of failure; the message says exactly why. */
    printf("payload %d: rejected: %s (%s)\n", n, fleet_error_last(), fleet_status_name(rc));
    return 1;
  }
  printf("payload %d: accepted\n", n);
  printf("  %-12s %s\n", "vehicle_id", rec.vehicle_id[0] ? rec.vehicle_id : "(none)");
  fleet_time_format(ts, rec.ts_ns);
  printf("  %-12s %s\n", "ts", ts);
  print_number("lat", rec.lat, "");
  print_number("lng", rec.lng, "");
  /* Optional fields are valid only when their bit is set in `present`. */
  if (rec.present & FLEET_TELEMETRY_SPEED)
    print_number("speed", rec.speed_kmh, "km/h");
  if (rec.present & FLEET_TELEMETRY_HEADING)
    print_number("heading", rec.heading_deg, "deg");
  if (rec.present & FLEET_TELEMETRY_IGNITION)
    printf("  %-12s %s\n", "ignition", rec.ignition ? "on" : "off");
  if (rec.present & FLEET_TELEMETRY_ODOMETER)
    print_number("odometer", rec.odometer_km, "km");
  if (rec.present & FLEET_TELEMETRY_BATTERY_V)
    print_number("battery_v", rec.battery_v, "V");
  if (rec.present & FLEET_TELEMETRY_ENGINE_TEMP)
    print_number("engine_temp", rec.engine_temp_c, "C");
  if (rec.present & FLEET_TELEMETRY_FUEL_LEVEL)
    print_number("fuel_level", rec.fuel_level_pct, "%");
  if (rec.present & FLEET_TELEMETRY_DRIVER_ID)
    printf("  %-12s %s\n", "driver_id", rec.driver_id);
  /* Further numeric and boolean members of the payload (CAN data). */
  for (unsigned i = 0; i < rec.n_extras; i++) {
    const fleet_extra_field_t *x = &rec.extras[i];
    if (x->type == FLEET_EXTRA_BOOL)
      printf("  %-12s %s (extra)\n", x->name, x->value != 0.0 ? "true" : "false");
    else
      printf("  %-12s %.10g (extra)\n", x->name, x->value);
  }
  for (unsigned i = 0; i < warnings.count; i++)
    printf("  warning      %s\n", warnings.msg[i]);

  /* Line protocol needs a vehicle id (a tag); MQTT ingest takes it from the topic. */
  if (!rec.vehicle_id[0])
    strcpy(rec.vehicle_id, "unknown");
  fleet_buf_t line = FLEET_BUF_INIT;
  if (fleet_lp_encode_telemetry(&line, &rec, NULL, NULL, 0) == 0)
    printf("  line         %s", line.ptr);
  fleet_buf_dispose(&line);
  return 0;
}

int main(int argc, char **argv)
{
  int failed = 0, n = 0;
  if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    fprintf(stderr, "usage: %s [PAYLOAD...]   (without arguments: one payload per line on stdin)\n",
            argv[0]);
    return 2;
  }
  if (argc > 1) {
    for (int i = 1; i < argc; i++)
      failed |= show(++n, argv[i], strlen(argv[i]));
    return failed;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, stdin)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    if (len == 0)
      continue;
    failed |= show(++n, line, (size_t)len);
  }
  free(line);
  return failed;
}
