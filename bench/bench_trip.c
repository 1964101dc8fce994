/*
 * Trip detection and hourly downsampling cost per fix, at fleet scale.
 *
 * A synthetic fleet (default 100,000 vehicles x 24 fixes, 30 s apart, fed
 * interleaved as an ingest loop sees them; each vehicle alternates 5 minutes
 * of driving and 5 minutes parked) is fed to
 *   (a) the baseline: building the record and one fleet_geo_distance_m() per fix
 *       (the geometric work any trip logic needs);
 *   (b) fleet_trip__feed() on a plain array of per-vehicle states (how the
 *       tracker embeds it);
 *   (c) fleet_tripdet_feed() (the public detector: hash lookup by vehicle id);
 *   (d) fleet_downsampler_feed().
 * It prints ns per fix (best of three passes, each on fresh state), the same
 * less the cost of building the record, and the memory held per vehicle
 * (glibc mallinfo2 before and after).
 *
 * Usage: bench_trip [vehicles, default 100000] [fixes per vehicle, default 24]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fleet/fleet.h>

#include "trip_int.h"

#define NS 1000000000LL
#define T0 (1779343200LL * NS)

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t heap_used(void)
{
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd; /* large blocks are mmapped */
}

/* Fix k of vehicle v: drive 10 fixes north at 48 km/h, park 10 fixes, repeat. */
static void make_fix(fleet_telemetry_t *r, unsigned int v, unsigned int k)
{
  unsigned int phase = k / 10, in_phase = k % 10;
  int driving = phase % 2 == 0;
  unsigned int driven = (phase + 1) / 2 * 10 + (driving ? in_phase : 0);
  snprintf(r->vehicle_id, sizeof r->vehicle_id, "veh-%06u", v);
  r->ts_ns = T0 + (int64_t)k * 30 * NS + (int64_t)v * 1000;
  r->lat = 40.0 + (double)(v % 1000) * 0.01 + driven * 0.0036;
  r->lng = -3.0 + (double)(v / 1000) * 0.01;
  r->present = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_IGNITION | FLEET_TELEMETRY_FUEL_LEVEL;
  r->speed_kmh = driving ? 48.0 : 0.0;
  r->ignition = driving;
  r->fuel_level_pct = 80.0 - driven * 0.01;
}

static unsigned long events;

static int count_trip(const fleet_trip_event_t *ev, void *ud)
{
  (void)ev;
  (void)ud;
  events++;
  return 0;
}

static int count_hour(const fleet_hourly_t *h, void *ud)
{
  (void)h;
  (void)ud;
  events++;
  return 0;
}

enum mode { RECORD, BASELINE, STATES, TRIPDET, DOWNSAMPLE };

static void die(const char *what)
{
  fprintf(stderr, "bench_trip: %s: %s\n", what, fleet_error_last());
  exit(1);
}

/* One pass over the fleet; returns seconds spent feeding, sets *bytes to the memory held. */
static double pass(enum mode mode, unsigned int nv, unsigned int nk, size_t *bytes,
                   double *sink)
{
  fleet_trip_params_t params = FLEET_TRIP_PARAMS_INIT;
  fleet_telemetry_t rec;
  fleet_telemetry_init(&rec, FLEET_TELEMETRY_VERSION);
  size_t before = heap_used();
  fleet_trip__state_t *states = NULL;
  fleet_tripdet_t *det = NULL;
  fleet_downsampler_t *ds = NULL;
  double *last = NULL;
  if (mode == BASELINE && !(last = calloc((size_t)nv * 2, sizeof(*last))))
    die("calloc");
  if (mode == STATES) {
    if (!(states = malloc((size_t)nv * sizeof(*states))))
      die("malloc");
    for (unsigned int v = 0; v < nv; v++)
      fleet_trip__init(&states[v]);
  }
  if (mode == TRIPDET && fleet_tripdet_new(&det, &params, count_trip, NULL))
    die("fleet_tripdet_new");
  if (mode == DOWNSAMPLE && fleet_downsampler_new(&ds, NULL, count_hour, NULL))
    die("fleet_downsampler_new");

  double start = now_s();
  for (unsigned int k = 0; k < nk; k++) {
    for (unsigned int v = 0; v < nv; v++) {
      make_fix(&rec, v, k);
      int rc = 0;
      switch (mode) {
      case RECORD: *sink += rec.lat; break;
      case BASELINE:
        *sink += fleet_geo_distance_m(last[2 * v], last[2 * v + 1], rec.lat, rec.lng);
        last[2 * v] = rec.lat;
        last[2 * v + 1] = rec.lng;
        break;
      case STATES:
        rc = fleet_trip__feed(NULL, &states[v], &params, &rec, count_trip, NULL);
        break;
      case TRIPDET: rc = fleet_tripdet_feed(NULL, det, &rec); break;
      case DOWNSAMPLE: rc = fleet_downsampler_feed(NULL, ds, &rec); break;
      }
      if (rc)
        die("feed");
    }
  }
  double elapsed = now_s() - start;
  *bytes = heap_used() - before;

  if (det && fleet_tripdet_flush(det, NULL))
    die("flush");
  if (ds && fleet_downsampler_flush(ds, NULL))
    die("flush");
  free(last);
  free(states);
  fleet_tripdet_free(det);
  fleet_downsampler_free(ds);
  return elapsed;
}

int main(int argc, char **argv)
{
  unsigned int nv = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 10) : 100000;
  unsigned int nk = argc > 2 ? (unsigned int)strtoul(argv[2], NULL, 10) : 24;
  if (nv == 0 || nk == 0) {
    fprintf(stderr, "usage: bench_trip [vehicles] [fixes per vehicle]\n");
    return 2;
  }
  const char *names[] = {"building the record alone", "baseline: record + haversine",
                         "fleet_trip__feed (state array)",
                         "fleet_tripdet_feed (keyed)", "fleet_downsampler_feed"};
  double fixes = (double)nv * nk, sink = 0, base = 0, record = 0;
  printf("%u vehicles x %u fixes = %.0f fixes; sizeof(fleet_trip__state_t) = %zu bytes\n", nv,
         nk, fixes, sizeof(fleet_trip__state_t));
  printf("  ns/fix are totals; 'net' subtracts building the record (an snprintf of the id)\n");
  for (int m = RECORD; m <= DOWNSAMPLE; m++) {
    double best = 1e300;
    size_t bytes = 0;
    unsigned long ev = 0;
    for (int round = 0; round < 3; round++) {
      events = 0;
      double t = pass((enum mode)m, nv, nk, &bytes, &sink);
      ev = events;
      if (t < best)
        best = t;
    }
    double ns = best / fixes * 1e9;
    if (m == RECORD) {
      record = ns;
      printf("  %-32s %7.1f ns/fix\n", names[m], ns);
      continue;
    }
    if (m == BASELINE)
      base = ns - record;
    printf("  %-32s %7.1f ns/fix, net %6.1f (%5.2fx baseline) %9.0f fixes/s  %6.0f B/vehicle"
           "  %lu events\n",
           names[m], ns, ns - record, (ns - record) / base, fixes / best, (double)bytes / nv, ev);
  }
  return sink < 0 ? 1 : 0;
}
