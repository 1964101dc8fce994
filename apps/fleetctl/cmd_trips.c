/* fleetctl trips: trips and stops of each vehicle in telemetry files. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fleet/fleet.h>

#include "fleetctl.h"
#include "tracking.h"

#define PROG "fleetctl trips"

static void trips_usage(FILE *out)
{
  fprintf(out,
          "usage: fleetctl trips [--json | --csv] [--vehicle-id ID] [trip options] [FILE...]\n"
          "\n"
          "Cut each vehicle's fixes into trips and the stops between them, as the tracker\n"
          "does, and print them per vehicle (vehicles in id order, then by time).\n"
          "Each FILE (or standard input, also as \"-\") holds JSON lines (telemetry v1\n"
          "payloads with a vehicle_id) or CSV with a header line naming the columns:\n"
          "vehicle_id, ts, lat, lng and any of speed, heading, ignition, odometer,\n"
          "battery_v, engine_temp, fuel_level, driver_id (ts: RFC 3339 or Unix seconds).\n"
          "Each vehicle's fixes must come in time order; older ones are ignored with a\n"
          "warning. Lines that fail validation are reported on stderr and skipped.\n"
          "\n"
          "output:\n"
          "  (default)   aligned text, one trip or stop per line\n"
          "  --json      one object per line: {\"type\":\"trip\"|\"stop\",\"vehicle_id\",\"start\",\n"
          "              \"end\",...}; trips carry distance_m, duration_s, moving_s, idle_s,\n"
          "              max_speed_kmh, avg_speed_kmh, fuel_l, positions and end_reason\n"
          "  --csv       trips only: a header and one row per trip\n"
          "  --vehicle-id ID  the vehicle of records that carry none\n"
          "\n"
          "%s"
          "\n"
          "exit status: 0 every line accepted, 1 some line rejected, 2 bad command line\n"
          "or an input that cannot be read.\n",
          fleetctl_trip_options_help);
}

typedef struct item {
  size_t seq;
  int is_trip;
  fleet_trip_t trip; /* trips */
  fleet_stop_t stop; /* stops */
} item_t;

typedef struct trips_ctx {
  fleetctl_records_t *records;
  item_t *items;
  size_t n;
  size_t cap;
  bool oom;
} trips_ctx_t;

static int on_event(const fleet_tracker_event_t *ev, void *ud)
{
  trips_ctx_t *c = ud;
  if (ev->type == FLEET_TRACKER_EVENT_LATE) {
    fleetctl_records_late(c->records, ev->vehicle_id);
    return 0;
  }
  if (ev->type != FLEET_TRACKER_EVENT_TRIP_END && ev->type != FLEET_TRACKER_EVENT_STOP)
    return 0;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 64;
    item_t *p = realloc(c->items, cap * sizeof *p);
    if (!p) {
      c->oom = true;
      return 1;
    }
    c->items = p;
    c->cap = cap;
  }
  item_t *it = &c->items[c->n];
  memset(it, 0, sizeof *it);
  it->seq = c->n++;
  it->is_trip = ev->type == FLEET_TRACKER_EVENT_TRIP_END;
  if (it->is_trip)
    it->trip = *ev->trip;
  else
    it->stop = *ev->stop;
  return 0;
}

static const char *item_vehicle(const item_t *it)
{
  return it->is_trip ? it->trip.vehicle_id : it->stop.vehicle_id;
}

static int cmp_item(const void *a, const void *b)
{
  const item_t *x = a, *y = b;
  int c = strcmp(item_vehicle(x), item_vehicle(y));
  if (c)
    return c;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* printf() into a line, then write it without trailing blanks. */
static void row(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void row(const char *fmt, ...)
{
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  size_t n = strlen(line);
  while (n && line[n - 1] == ' ')
    n--;
  printf("%.*s\n", (int)n, line);
}

static void print_text(const item_t *items, size_t n)
{
  int w = 7;
  for (size_t i = 0; i < n; i++)
    if ((int)strlen(item_vehicle(&items[i])) > w)
      w = (int)strlen(item_vehicle(&items[i]));
  row("%-*s  KIND  %-20s  %-20s  %9s  %11s  %9s  %9s  %7s  %7s  %7s  %s", w, "VEHICLE",
         "START", "END", "DURATION", "DISTANCE_KM", "MOVING", "IDLE", "MAX_KMH", "AVG_KMH",
         "FUEL_L", "NOTE");
  for (size_t i = 0; i < n; i++) {
    const item_t *it = &items[i];
    char start[FLEET_TIME_STRLEN], end[FLEET_TIME_STRLEN], dur[32];
    if (it->is_trip) {
      const fleet_trip_t *t = &it->trip;
      char mov[32], idle[32];
      fleet_time_format(start, t->start_ns);
      fleet_time_format(end, t->end_ns);
      fleetctl_hms(dur, sizeof dur, t->duration_s);
      fleetctl_hms(mov, sizeof mov, t->moving_s);
      fleetctl_hms(idle, sizeof idle, t->idle_s);
      row("%-*s  trip  %-20s  %-20s  %9s  %11.3f  %9s  %9s  %7.1f  %7.1f  %7.2f  %s", w,
             t->vehicle_id, start, end, dur, t->distance_m / 1000.0, mov, idle,
             t->max_speed_kmh, t->avg_speed_kmh, t->fuel_l,
             fleet_trip_end_reason_name(t->end_reason));
    } else {
      const fleet_stop_t *s = &it->stop;
      fleet_time_format(start, s->start_ns);
      fleet_time_format(end, s->end_ns);
      fleetctl_hms(dur, sizeof dur, s->duration_s);
      const char *note = (s->flags & FLEET_STOP_OPEN)       ? "open"
                         : (s->flags & FLEET_STOP_DATA_GAP) ? "after data gap"
                                                            : "";
      row("%-*s  stop  %-20s  %-20s  %9s  %11s  %9s  %9s  %7s  %7s  %7s  %s", w,
             s->vehicle_id, start, end, dur, "", "", "", "", "", "", note);
    }
  }
}

static void print_csv(const item_t *items, size_t n)
{
  puts("vehicle_id,start,end,duration_s,distance_m,moving_s,idle_s,max_speed_kmh,"
       "avg_speed_kmh,fuel_l,start_lat,start_lng,end_lat,end_lng,end_reason,fixes");
  for (size_t i = 0; i < n; i++) {
    if (!items[i].is_trip)
      continue;
    const fleet_trip_t *t = &items[i].trip;
    char start[FLEET_TIME_STRLEN], end[FLEET_TIME_STRLEN];
    fleet_time_format(start, t->start_ns);
    fleet_time_format(end, t->end_ns);
    printf("%s,%s,%s,", t->vehicle_id, start, end);
    const double v[] = {t->duration_s,    t->distance_m,    t->moving_s, t->idle_s,
                        t->max_speed_kmh, t->avg_speed_kmh, t->fuel_l,   t->start_lat,
                        t->start_lng,     t->end_lat,       t->end_lng};
    const int dec[] = {3, 1, 3, 3, 2, 2, 3, 7, 7, 7, 7};
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
      fleetctl_json_num(stdout, v[k], dec[k]);
      putchar(',');
    }
    printf("%s,%u\n", fleet_trip_end_reason_name(t->end_reason), t->n_fixes);
  }
}

int cmd_trips(int argc, char **argv)
{
  static const struct option options[] = {
    {"json", no_argument, NULL, 'j'},
    {"csv", no_argument, NULL, 'c'},
    FLEETCTL_VEHICLE_OPTION,
    {"help", no_argument, NULL, 'h'},
    FLEETCTL_TRIP_OPTIONS,
    {NULL, 0, NULL, 0},
  };
  fleet_trip_params_t params;
  fleet_trip_params_init(&params, FLEET_TRIP_PARAMS_VERSION);
  fleet_tracker_opts_t opts = FLEET_TRACKER_OPTS_INIT;
  int format = 0; /* 0 text, 1 json, 2 csv */
  const char *vehicle = NULL;
  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
    case 'j':
      format = 1;
      break;
    case 'c':
      format = 2;
      break;
    case 'h':
      trips_usage(stdout);
      return FLEETCTL_OK;
    default:
      if (!fleetctl_tracking_option(&opts, &params, &vehicle, PROG, argv, c, optarg))
        return FLEETCTL_USAGE;
      break;
    }
  }
  if (fleet_trip_params_validate(&params)) {
    fprintf(stderr, "%s: %s\n", PROG, fleet_error_last());
    return FLEETCTL_USAGE;
  }
  char *const *paths = argv + optind;
  size_t npaths = (size_t)(argc - optind);
  if (!fleetctl_input_check(PROG, paths, npaths))
    return FLEETCTL_USAGE;

  fleetctl_records_t records;
  fleetctl_records_init(&records, PROG, paths, npaths, FLEETCTL_RECORDS_TRACKING, vehicle);
  trips_ctx_t ctx = {&records, NULL, 0, 0, false};
  opts.trip_params = &params;
  fleet_tracker_t *tracker = NULL;
  if (fleet_tracker_new(&tracker, &opts, on_event, &ctx)) {
    fprintf(stderr, "%s: %s\n", PROG, fleet_error_last());
    return FLEETCTL_USAGE;
  }
  fleet_telemetry_t *rec = malloc(sizeof *rec);
  int rc = rec ? 0 : 1;
  while (!rc && fleetctl_records_next(&records, rec)) {
    int frc = fleet_tracker_feed(tracker, rec);
    if (ctx.oom)
      rc = 1;
    else if (frc)
      fleetctl_records_reject(&records, fleet_error_last());
  }
  if (!rc && fleet_tracker_flush(tracker, NULL))
    rc = 1;
  bool inputs_ok = fleetctl_records_close(&records);
  fleet_tracker_free(tracker);
  free(rec);
  if (rc) {
    fprintf(stderr, "%s: out of memory\n", PROG);
    free(ctx.items);
    return FLEETCTL_FAIL;
  }
  if (ctx.n) /* items is NULL when there are none, which qsort() may not be given */
    qsort(ctx.items, ctx.n, sizeof *ctx.items, cmp_item);
  if (format == 0) {
    print_text(ctx.items, ctx.n);
  } else if (format == 2) {
    print_csv(ctx.items, ctx.n);
  } else {
    for (size_t i = 0; i < ctx.n; i++) {
      if (ctx.items[i].is_trip)
        fleetctl_trip_json(stdout, &ctx.items[i].trip);
      else
        fleetctl_stop_json(stdout, &ctx.items[i].stop);
    }
  }
  free(ctx.items);
  if (!fleetctl_flush_stdout(PROG) || !inputs_ok)
    return FLEETCTL_USAGE;
  return records.rejected ? FLEETCTL_FAIL : FLEETCTL_OK;
}
