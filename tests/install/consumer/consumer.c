/* A program outside the project that uses the installed libfleet. */
#include <fleet/fleet.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
  if (fleet_version() != FLEET_VERSION_NUMBER) {
    fprintf(stderr, "header %s, library %s\n", FLEET_VERSION_STRING, fleet_version_string());
    return 1;
  }
  const char *json = "{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":23.8103,"
                     "\"lng\":90.4125,\"speed\":45.2}";
  fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
  if (fleet_telemetry_parse(&rec, NULL, json, strlen(json)) != 0) {
    fprintf(stderr, "parse: %s\n", fleet_error_last());
    return 1;
  }
  strcpy(rec.vehicle_id, "v-001");
  fleet_buf_t buf = FLEET_BUF_INIT;
  if (fleet_lp_encode_telemetry(&buf, &rec, NULL, NULL, 0) != 0) {
    fprintf(stderr, "encode: %s\n", fleet_error_last());
    return 1;
  }
  fputs(buf.ptr, stdout);
  fleet_buf_dispose(&buf);
  return 0;
}
