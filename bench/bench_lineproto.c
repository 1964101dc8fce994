/*
 * bench_lineproto: line-protocol encoding rate of fleet_lp_encode_telemetry().
 *
 * Cases: DESIGN.md's example payload with every optional field, the minimal
 * payload (lat/lng only), and the fixes of a real trace when
 * ../shared/data/real-traces is present; all with the tags vehicle_id,
 * fleet_id and device_type. Baseline, measured in the same run: the naive
 * encoder, one snprintf() per line with "%.17g" for the doubles (the shortest
 * printf format that always reads back exactly) and no escaping at all.
 *
 * Lines are appended to one buffer that is emptied at 1 MiB, as the InfluxDB
 * writer batches them. Each figure is the best of several timed rounds.
 *
 * Usage: bench_lineproto [seconds per round, default 0.3]
 */
#include "common_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet/lineproto.h"

#define ROUNDS 5
#define BATCH_BYTES (1u << 20)

static const fleet_lp_tag_t tags[] = {{"fleet_id", "acme"}, {"device_type", "obd2"}};

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void base_record(fleet_telemetry_t *rec)
{
  memset(rec, 0, sizeof *rec);
  rec->version = FLEET_TELEMETRY_VERSION;
  strcpy(rec->vehicle_id, "v-001");
  rec->ts_ns = INT64_C(1779359400000000000); /* 2026-05-21T10:30:00Z */
  rec->lat = 23.8103;
  rec->lng = 90.4125;
}

static void full_record(fleet_telemetry_t *rec)
{
  base_record(rec);
  rec->present = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_HEADING | FLEET_TELEMETRY_IGNITION |
                 FLEET_TELEMETRY_ODOMETER | FLEET_TELEMETRY_BATTERY_V |
                 FLEET_TELEMETRY_ENGINE_TEMP | FLEET_TELEMETRY_FUEL_LEVEL |
                 FLEET_TELEMETRY_DRIVER_ID;
  rec->speed_kmh = 45.2;
  rec->heading_deg = 180;
  rec->ignition = 1;
  rec->odometer_km = 123456.7;
  rec->battery_v = 12.4;
  rec->engine_temp_c = 88.5;
  rec->fuel_level_pct = 63.0;
  strcpy(rec->driver_id, "drv-042");
}

/* The naive encoder: what a first version usually looks like. */
static int naive_encode(char *out, size_t cap, const fleet_telemetry_t *r)
{
  unsigned int p = r->present;
  int n = snprintf(out, cap, "telemetry,device_type=%s,fleet_id=%s,vehicle_id=%s lat=%.17g,lng=%.17g",
                   tags[1].value, tags[0].value, r->vehicle_id, r->lat, r->lng);
  if (p & FLEET_TELEMETRY_SPEED)
    n += snprintf(out + n, cap - (size_t)n, ",speed=%.17g", r->speed_kmh);
  if (p & FLEET_TELEMETRY_HEADING)
    n += snprintf(out + n, cap - (size_t)n, ",heading=%.17g", r->heading_deg);
  if (p & FLEET_TELEMETRY_IGNITION)
    n += snprintf(out + n, cap - (size_t)n, ",ignition=%s", r->ignition ? "true" : "false");
  if (p & FLEET_TELEMETRY_ODOMETER)
    n += snprintf(out + n, cap - (size_t)n, ",odometer=%.17g", r->odometer_km);
  if (p & FLEET_TELEMETRY_BATTERY_V)
    n += snprintf(out + n, cap - (size_t)n, ",battery_v=%.17g", r->battery_v);
  if (p & FLEET_TELEMETRY_ENGINE_TEMP)
    n += snprintf(out + n, cap - (size_t)n, ",engine_temp=%.17g", r->engine_temp_c);
  if (p & FLEET_TELEMETRY_FUEL_LEVEL)
    n += snprintf(out + n, cap - (size_t)n, ",fuel_level=%.17g", r->fuel_level_pct);
  if (p & FLEET_TELEMETRY_DRIVER_ID)
    n += snprintf(out + n, cap - (size_t)n, ",driver_id=\"%s\"", r->driver_id);
  n += snprintf(out + n, cap - (size_t)n, " %lld\n", (long long)r->ts_ns);
  return n;
}

typedef struct result {
  double rate; /* records per second */
  double mbps; /* output MB (10^6 bytes) per second */
} result_t;

/* Encodes recs[0..n) round-robin for `seconds`; best of ROUNDS. */
static result_t run(const fleet_telemetry_t *recs, size_t n, double seconds, int naive)
{
  result_t best = {0, 0};
  fleet_buf_t buf = FLEET_BUF_INIT;
  char *raw = malloc(BATCH_BYTES + 4096);
  if (!raw || fleet_buf_reserve(&buf, BATCH_BYTES + 4096)) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  for (int round = 0; round < ROUNDS; round++) {
    size_t records = 0, bytes = 0, used = 0, i = 0;
    fleet_buf_clear(&buf);
    double t0 = now_s(), t1 = t0;
    while (t1 - t0 < seconds) {
      for (int k = 0; k < 1024; k++) {
        if (naive) {
          int len = naive_encode(raw + used, 4096, &recs[i]);
          used += (size_t)len;
          if (used > BATCH_BYTES) {
            bytes += used;
            used = 0;
          }
        } else {
          if (fleet_lp_encode_telemetry(&buf, &recs[i], NULL, tags, 2)) {
            fprintf(stderr, "encode failed: %s\n", fleet_error_last());
            exit(1);
          }
          if (buf.len > BATCH_BYTES) {
            bytes += buf.len;
            fleet_buf_clear(&buf);
          }
        }
        if (++i == n)
          i = 0;
      }
      records += 1024;
      t1 = now_s();
    }
    bytes += naive ? used : buf.len;
    double rate = (double)records / (t1 - t0);
    if (rate > best.rate) {
      best.rate = rate;
      best.mbps = (double)bytes / (t1 - t0) / 1e6;
    }
  }
  free(raw);
  fleet_buf_dispose(&buf);
  return best;
}

/* Loads the fixes of a real trace (v1 payloads with vehicle_id) with jansson,
 * so the figures include coordinates and speeds as devices send them. */
static size_t load_trace(const char *path, fleet_telemetry_t **out)
{
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  size_t n = 0, cap = 0;
  fleet_telemetry_t *recs = NULL;
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    json_t *o = json_loads(line, 0, NULL);
    const char *vid = json_string_value(json_object_get(o, "vehicle_id"));
    const char *ts = json_string_value(json_object_get(o, "ts"));
    struct tm tm = {0};
    if (!o || !vid || !ts || strlen(vid) > FLEET_VEHICLE_ID_MAX ||
        sscanf(ts, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6) {
      json_decref(o);
      continue;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 1024;
      fleet_telemetry_t *grown = realloc(recs, cap * sizeof *recs);
      if (!grown)
        break;
      recs = grown;
    }
    fleet_telemetry_t *r = &recs[n++];
    base_record(r);
    strcpy(r->vehicle_id, vid);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    r->ts_ns = (int64_t)timegm(&tm) * 1000000000;
    r->lat = json_number_value(json_object_get(o, "lat"));
    r->lng = json_number_value(json_object_get(o, "lng"));
    if (json_is_number(json_object_get(o, "speed"))) {
      r->present |= FLEET_TELEMETRY_SPEED;
      r->speed_kmh = json_number_value(json_object_get(o, "speed"));
    }
    if (json_is_number(json_object_get(o, "heading"))) {
      r->present |= FLEET_TELEMETRY_HEADING;
      r->heading_deg = json_number_value(json_object_get(o, "heading"));
    }
    json_decref(o);
  }
  fclose(f);
  *out = recs;
  return n;
}

static void report(const char *name, const fleet_telemetry_t *recs, size_t n, double seconds)
{
  fleet_buf_t line = FLEET_BUF_INIT;
  char naive_line[4096];
  if (fleet_lp_encode_telemetry(&line, &recs[0], NULL, tags, 2)) {
    fprintf(stderr, "%s: %s\n", name, fleet_error_last());
    exit(1);
  }
  naive_encode(naive_line, sizeof naive_line, &recs[0]);
  printf("%s (%zu record%s)\n  libfleet: %s  snprintf: %s", name, n, n == 1 ? "" : "s",
         line.ptr, naive_line);
  result_t lp = run(recs, n, seconds, 0);
  result_t sn = run(recs, n, seconds, 1);
  printf("  %-34s %12.0f records/s %8.1f MB/s\n", "fleet_lp_encode_telemetry", lp.rate,
         lp.mbps);
  printf("  %-34s %12.0f records/s %8.1f MB/s\n", "baseline snprintf(\"%.17g\")", sn.rate,
         sn.mbps);
  printf("  speed-up %.1fx\n\n", lp.rate / sn.rate);
  fleet_buf_dispose(&line);
}

int main(int argc, char **argv)
{
  double seconds = argc > 1 ? atof(argv[1]) : 0.3;
  if (seconds <= 0) {
    fprintf(stderr, "usage: %s [seconds per round]\n", argv[0]);
    return 2;
  }
  printf("bench_lineproto: best of %d rounds of %.2f s, tags vehicle_id, fleet_id, "
         "device_type\n\n",
         ROUNDS, seconds);
  fleet_telemetry_t rec;
  full_record(&rec);
  report("full record (DESIGN.md payload, every optional field)", &rec, 1, seconds);
  base_record(&rec);
  report("minimal record (lat, lng)", &rec, 1, seconds);

  fleet_telemetry_t *trace = NULL;
  size_t n = load_trace(FLEET_SHARED_DATA_DIR "/real-traces/sf-cab-1.jsonl", &trace);
  if (n)
    report("real trace sf-cab-1 (lat, lng, speed, heading)", trace, n, seconds);
  else
    printf("real trace: %s/real-traces/sf-cab-1.jsonl not found, skipped\n",
           FLEET_SHARED_DATA_DIR);
  free(trace);
  return 0;
}
