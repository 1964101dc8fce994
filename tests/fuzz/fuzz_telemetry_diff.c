/*
 * Differential libFuzzer target for the telemetry payload parser: every input
 * goes through fleet_telemetry_parse() (the single-pass parser, with jansson
 * behind it for what it hands off) and through the jansson-tree parser it
 * replaced (telemetry_reference.c, kept as the oracle). Both must give the
 * same return code, the same error message, the same warnings and the same
 * record, field by field, doubles compared bit for bit (so -0.0 differs from
 * 0.0). Any difference aborts, which libFuzzer reports as a crash.
 *
 * Each input is tried as it is and, when it fits, in a buffer that has
 * nothing after it (ASan catches a read past the payload's end).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry_reference.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *a, const char *b)
{
  fprintf(stderr, "fuzz_telemetry_diff: %s differs\n  new:       %s\n  reference: %s\n", what, a,
          b);
  abort();
}

static void same_double(const char *what, double a, double b)
{
  if (memcmp(&a, &b, sizeof a) != 0) {
    char x[64], y[64];
    snprintf(x, sizeof x, "%a", a);
    snprintf(y, sizeof y, "%a", b);
    die(what, x, y);
  }
}

static void same_string(const char *what, const char *a, const char *b, size_t cap)
{
  if (!memchr(a, '\0', cap) || !memchr(b, '\0', cap) || strcmp(a, b) != 0)
    die(what, a, b);
}

static void same_int(const char *what, long long a, long long b)
{
  if (a != b) {
    char x[32], y[32];
    snprintf(x, sizeof x, "%lld", a);
    snprintf(y, sizeof y, "%lld", b);
    die(what, x, y);
  }
}

static void same_record(const fleet_telemetry_t *a, const fleet_telemetry_t *b)
{
  same_int("version", a->version, b->version);
  same_string("vehicle_id", a->vehicle_id, b->vehicle_id, sizeof a->vehicle_id);
  same_int("ts_ns", a->ts_ns, b->ts_ns);
  same_double("lat", a->lat, b->lat);
  same_double("lng", a->lng, b->lng);
  same_int("present", a->present, b->present);
  same_double("speed_kmh", a->speed_kmh, b->speed_kmh);
  same_double("heading_deg", a->heading_deg, b->heading_deg);
  same_int("ignition", a->ignition, b->ignition);
  same_double("odometer_km", a->odometer_km, b->odometer_km);
  same_double("battery_v", a->battery_v, b->battery_v);
  same_double("engine_temp_c", a->engine_temp_c, b->engine_temp_c);
  same_double("fuel_level_pct", a->fuel_level_pct, b->fuel_level_pct);
  same_string("driver_id", a->driver_id, b->driver_id, sizeof a->driver_id);
  same_int("n_extras", a->n_extras, b->n_extras);
  for (unsigned int i = 0; i < a->n_extras && i < FLEET_TELEMETRY_MAX_EXTRAS; i++) {
    same_string("extra name", a->extras[i].name, b->extras[i].name, sizeof a->extras[i].name);
    same_int("extra type", a->extras[i].type, b->extras[i].type);
    same_double("extra value", a->extras[i].value, b->extras[i].value);
  }
}

static void check(const char *json, size_t len)
{
  /* Different garbage in the two records: nothing may depend on it. */
  fleet_telemetry_t a, b;
  memset(&a, 0x5a, sizeof a);
  memset(&b, 0xa5, sizeof b);
  a.version = b.version = FLEET_TELEMETRY_VERSION;
  fleet_telemetry_warnings_t wa, wb;
  memset(&wa, 0x5a, sizeof wa);
  memset(&wb, 0xa5, sizeof wb);

  int ra = fleet_telemetry_parse(&a, &wa, json, len);
  char msg_a[FLEET_ERROR_MAX];
  snprintf(msg_a, sizeof msg_a, "%s", ra ? fleet_error_last() : "");
  int rb = reference_telemetry_parse(&b, &wb, json, len);
  const char *msg_b = rb ? fleet_error_last() : "";

  if (ra != rb) {
    char x[FLEET_ERROR_MAX + 16], y[FLEET_ERROR_MAX + 16];
    snprintf(x, sizeof x, "%d %s", ra, msg_a);
    snprintf(y, sizeof y, "%d %s", rb, msg_b);
    die("return code", x, y);
  }
  if (strcmp(msg_a, msg_b) != 0)
    die("error message", msg_a, msg_b);
  same_int("warning count", wa.count, wb.count);
  same_int("warnings dropped", wa.dropped, wb.dropped);
  for (unsigned int i = 0; i < wa.count && i < FLEET_TELEMETRY_MAX_WARNINGS; i++)
    same_string("warning", wa.msg[i], wb.msg[i], sizeof wa.msg[i]);
  if (ra == 0)
    same_record(&a, &b);

  /* Without warnings the parser takes the same path: it must agree too. */
  fleet_telemetry_t c;
  memset(&c, 0x33, sizeof c);
  c.version = FLEET_TELEMETRY_VERSION;
  int rc = fleet_telemetry_parse(&c, NULL, json, len);
  same_int("return code without warnings", rc, ra);
  if (rc == 0)
    same_record(&c, &a);
  else if (strcmp(fleet_error_last(), msg_a) != 0)
    die("error message without warnings", fleet_error_last(), msg_a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  check((const char *)data, size);
  if (size <= FLEET_TELEMETRY_MAX_BYTES) {
    char *copy = malloc(size ? size : 1);
    if (!copy)
      return 0;
    memcpy(copy, data, size);
    check(copy, size);
    free(copy);
  }
  return 0;
}
