/*
 * libFuzzer target for the telemetry module. Every input is
 * - parsed as a payload; when accepted, the record must validate, encode,
 *   parse back without warnings and compare equal, and the encoding must be
 *   stable (encoding the re-parsed record gives the same bytes);
 * - parsed as an RFC 3339 timestamp; when accepted, formatting and parsing
 *   again must give the same instant;
 * - checked as a vehicle id and, NUL-terminated, as a topic.
 * Any mismatch aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common_int.h"
#include "fleet/telemetry.h"
#include "telemetry_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *detail)
{
  fprintf(stderr, "fuzz_telemetry: %s: %s\n", what, detail);
  abort();
}

static void check_payload(const char *json, size_t len)
{
  fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
  fleet_telemetry_warnings_t w;
  int rc = fleet_telemetry_parse(&rec, &w, json, len);
  if (rc > 0 || (rc && fleet_error_last()[0] == '\0'))
    die("parse", "failure without a message");
  if (w.count > FLEET_TELEMETRY_MAX_WARNINGS)
    die("parse", "warning count out of bounds");
  for (unsigned int i = 0; i < w.count; i++)
    if (!memchr(w.msg[i], '\0', sizeof w.msg[i]) || w.msg[i][0] == '\0')
      die("parse", "bad warning message");
  if (rc)
    return;
  if (fleet_telemetry_validate(&rec) != 0)
    die("validate of a parsed record", fleet_error_last());

  fleet_buf_t a = FLEET_BUF_INIT, b = FLEET_BUF_INIT;
  if (fleet_telemetry_encode_json(&a, &rec, NULL) != 0)
    die("encode", fleet_error_last());
  fleet_telemetry_t back = FLEET_TELEMETRY_INIT;
  if (fleet_telemetry_parse(&back, &w, a.ptr, a.len) != 0)
    die(a.ptr, fleet_error_last());
  if (w.count || w.dropped)
    die(a.ptr, w.msg[0]);
  char why[64];
  if (!fleet_telemetry__equal(&rec, &back, why, sizeof why))
    die(a.ptr, why);
  if (fleet_telemetry_encode_json(&b, &back, NULL) != 0)
    die("re-encode", fleet_error_last());
  if (a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0)
    die(a.ptr, b.ptr);
  fleet_buf_dispose(&a);
  fleet_buf_dispose(&b);
}

static void check_time(const char *s, size_t len)
{
  int64_t ns;
  if (fleet_time_parse(&ns, s, len) != 0)
    return;
  char out[FLEET_TIME_STRLEN];
  int n = fleet_time_format(out, ns);
  if (n < 20 || n >= FLEET_TIME_STRLEN)
    die("time format length", out);
  int64_t back;
  if (fleet_time_parse(&back, out, (size_t)n) != 0)
    die(out, fleet_error_last());
  if (back != ns)
    die("time round trip", out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *s = (const char *)data;
  check_payload(s, size);
  check_time(s, size);
  (void)fleet_vehicle_id_validate(s, size);
  if (size <= 512) {
    char topic[513], id[FLEET_VEHICLE_ID_MAX + 1];
    memcpy(topic, data, size);
    topic[size] = '\0';
    if (fleet_topic_vehicle_id(id, topic, NULL) == 0 &&
        fleet_vehicle_id_validate(id, strlen(id)) != 0)
      die("topic gave an invalid id", id);
  }
  return 0;
}
