/* fleetctl zones check: the geofence enter/exit events of each vehicle's fixes. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fleet/fleet.h>

#include "fleetctl.h"
#include "tracking.h"

#define PROG "fleetctl zones"

static void zones_usage(FILE *out)
{
  fputs("usage: fleetctl zones check [--json] [--debounce-fixes N] [--debounce-s S]\n"
        "                            [--vehicle-id ID] ZONES.geojson [FILE...]\n"
        "\n"
        "Load the zones of ZONES.geojson (a FeatureCollection of Polygon/MultiPolygon,\n"
        "Point + radius_m circles and LineString + width_m corridors, each with an id)\n"
        "and print, per vehicle (in id order, then by time), where the fixes of each\n"
        "FILE enter and leave them. Inputs are JSON lines or CSV as for\n"
        "'fleetctl trips'; each vehicle's fixes must come in time order. Lines that\n"
        "fail validation are reported on stderr and skipped.\n"
        "\n"
        "options:\n"
        "  --json               one object per line: {\"type\":\"zone_enter\"|\"zone_exit\",\n"
        "                       \"vehicle_id\",\"ts\",\"zone_id\",\"zone_name\",\"lat\",\"lng\"}\n"
        "                       (exits add dwell_s, the seconds since the entry)\n"
        "  --debounce-fixes N   a change counts once seen on N consecutive fixes [1]\n"
        "  --debounce-s S       ... and once it has lasted S seconds [0]; the event keeps\n"
        "                       the time of the first fix on the new side\n"
        "  --vehicle-id ID      the vehicle of records that carry none\n"
        "\n"
        "exit status: 0 every line accepted, 1 some line rejected, 2 bad command line,\n"
        "zones that cannot be loaded, or an input that cannot be read.\n",
        out);
}

typedef struct zitem {
  size_t seq;
  fleet_tracker_event_type_t type;
  char vehicle_id[FLEET_VEHICLE_ID_MAX + 1];
  int64_t ts_ns;
  double lat;
  double lng;
  double dwell_s;
  char *zone_id;
  char *zone_name;
} zitem_t;

typedef struct zones_ctx {
  fleetctl_records_t *records;
  zitem_t *items;
  size_t n;
  size_t cap;
  bool oom;
} zones_ctx_t;

static int on_event(const fleet_tracker_event_t *ev, void *ud)
{
  zones_ctx_t *c = ud;
  if (ev->type == FLEET_TRACKER_EVENT_LATE) {
    fleetctl_records_late(c->records, ev->vehicle_id);
    return 0;
  }
  if (ev->type != FLEET_TRACKER_EVENT_ZONE_ENTER && ev->type != FLEET_TRACKER_EVENT_ZONE_EXIT)
    return 0;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 64;
    zitem_t *p = realloc(c->items, cap * sizeof *p);
    if (!p) {
      c->oom = true;
      return 1;
    }
    c->items = p;
    c->cap = cap;
  }
  zitem_t *it = &c->items[c->n];
  memset(it, 0, sizeof *it);
  it->zone_id = strdup(ev->zone_id);
  it->zone_name = strdup(ev->zone_name);
  if (!it->zone_id || !it->zone_name) {
    free(it->zone_id);
    free(it->zone_name);
    c->oom = true;
    return 1;
  }
  it->seq = c->n++;
  it->type = ev->type;
  snprintf(it->vehicle_id, sizeof it->vehicle_id, "%s", ev->vehicle_id);
  it->ts_ns = ev->ts_ns;
  it->lat = ev->lat;
  it->lng = ev->lng;
  it->dwell_s = ev->dwell_s;
  return 0;
}

static int cmp_zitem(const void *a, const void *b)
{
  const zitem_t *x = a, *y = b;
  int c = strcmp(x->vehicle_id, y->vehicle_id);
  if (c)
    return c;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void print_text(const zitem_t *items, size_t n)
{
  int w = 7, wz = 4, wn = 4;
  for (size_t i = 0; i < n; i++) {
    if ((int)strlen(items[i].vehicle_id) > w)
      w = (int)strlen(items[i].vehicle_id);
    if ((int)strlen(items[i].zone_id) > wz)
      wz = (int)strlen(items[i].zone_id);
    if ((int)strlen(items[i].zone_name) > wn)
      wn = (int)strlen(items[i].zone_name);
  }
  printf("%-*s  %-10s  %-20s  %-*s  %-*s  DWELL\n", w, "VEHICLE", "EVENT", "TIME", wz, "ZONE",
         wn, "NAME");
  for (size_t i = 0; i < n; i++) {
    const zitem_t *it = &items[i];
    char ts[FLEET_TIME_STRLEN], dwell[32] = "";
    fleet_time_format(ts, it->ts_ns);
    if (it->type == FLEET_TRACKER_EVENT_ZONE_EXIT)
      fleetctl_hms(dwell, sizeof dwell, it->dwell_s);
    if (*dwell)
      printf("%-*s  %-10s  %-20s  %-*s  %-*s  %s\n", w, it->vehicle_id,
             fleet_tracker_event_type_name(it->type), ts, wz, it->zone_id, wn, it->zone_name,
             dwell);
    else
      printf("%-*s  %-10s  %-20s  %-*s  %s\n", w, it->vehicle_id,
             fleet_tracker_event_type_name(it->type), ts, wz, it->zone_id, it->zone_name);
  }
}

static void print_json(const zitem_t *items, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    const zitem_t *it = &items[i];
    fleet_tracker_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = it->type;
    ev.vehicle_id = it->vehicle_id;
    ev.ts_ns = it->ts_ns;
    ev.lat = it->lat;
    ev.lng = it->lng;
    ev.zone_id = it->zone_id;
    ev.zone_name = it->zone_name;
    ev.dwell_s = it->dwell_s;
    fleetctl_event_json(stdout, &ev);
  }
}

static int zones_check(int argc, char **argv)
{
  static const struct option options[] = {
    {"json", no_argument, NULL, 'j'},
    FLEETCTL_DEBOUNCE_OPTIONS,
    FLEETCTL_VEHICLE_OPTION,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  bool json = false;
  const char *vehicle = NULL;
  fleet_tracker_opts_t opts = FLEET_TRACKER_OPTS_INIT;
  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
    case 'j':
      json = true;
      break;
    case 'h':
      zones_usage(stdout);
      return FLEETCTL_OK;
    default:
      if (!fleetctl_tracking_option(&opts, NULL, &vehicle, PROG, argv, c, optarg))
        return FLEETCTL_USAGE;
      break;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "%s: the zones file is missing\nTry '%s --help'.\n", PROG, PROG);
    return FLEETCTL_USAGE;
  }
  const char *zones_path = argv[optind++];
  char *const *paths = argv + optind;
  size_t npaths = (size_t)(argc - optind);
  if (!fleetctl_input_check(PROG, paths, npaths))
    return FLEETCTL_USAGE;

  fleet_zoneset_t *zones = fleetctl_load_zones(PROG, zones_path);
  if (!zones)
    return FLEETCTL_USAGE;

  fleetctl_records_t records;
  fleetctl_records_init(&records, PROG, paths, npaths, FLEETCTL_RECORDS_TRACKING, vehicle);
  zones_ctx_t ctx = {&records, NULL, 0, 0, false};
  opts.zones = zones;
  fleet_tracker_t *tracker = NULL;
  if (fleet_tracker_new(&tracker, &opts, on_event, &ctx)) {
    fprintf(stderr, "%s: %s\n", PROG, fleet_error_last());
    fleet_zoneset_free(zones);
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
  bool inputs_ok = fleetctl_records_close(&records);
  fleet_tracker_free(tracker);
  fleet_zoneset_free(zones);
  free(rec);
  if (!rc) {
    if (ctx.n) /* items is NULL when there are none, which qsort() may not be given */
      qsort(ctx.items, ctx.n, sizeof *ctx.items, cmp_zitem);
    if (json)
      print_json(ctx.items, ctx.n);
    else
      print_text(ctx.items, ctx.n);
  } else {
    fprintf(stderr, "%s: out of memory\n", PROG);
  }
  for (size_t i = 0; i < ctx.n; i++) {
    free(ctx.items[i].zone_id);
    free(ctx.items[i].zone_name);
  }
  free(ctx.items);
  fleet_zone_thread_cleanup();
  if (rc)
    return FLEETCTL_FAIL;
  if (!fleetctl_flush_stdout(PROG) || !inputs_ok)
    return FLEETCTL_USAGE;
  return records.rejected ? FLEETCTL_FAIL : FLEETCTL_OK;
}

int cmd_zones(int argc, char **argv)
{
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    zones_usage(stdout);
    return FLEETCTL_OK;
  }
  if (argc < 2 || strcmp(argv[1], "check")) {
    if (argc < 2)
      fprintf(stderr, "%s: a subcommand is needed\n", PROG);
    else
      fprintf(stderr, "%s: unknown subcommand '%s'\n", PROG, argv[1]);
    fprintf(stderr, "Try '%s --help'.\n", PROG);
    return FLEETCTL_USAGE;
  }
  return zones_check(argc - 1, argv + 1);
}
