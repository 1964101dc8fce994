/* fleetctl events: run the tracker over telemetry files and print every event. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fleet/fleet.h>

#include "fleetctl.h"
#include "tracking.h"

#define PROG "fleetctl events"

static void events_usage(FILE *out)
{
  fprintf(out,
          "usage: fleetctl events [--zones ZONES.geojson] [--rules RULES.json] [--hourly]\n"
          "                       [--tick S] [--debounce-fixes N] [--debounce-s S]\n"
          "                       [--vehicle-id ID] [trip options] [FILE...]\n"
          "\n"
          "Run the tracking engine over the fixes of each FILE (JSON lines or CSV, as for\n"
          "'fleetctl trips'), in input order, and print every event it raises as one JSON\n"
          "object per line, in the order raised:\n"
          "  zone_enter, zone_exit   ts, zone_id, zone_name, lat, lng (exits: dwell_s)\n"
          "  trip_start              ts (the trip's start), lat, lng\n"
          "  trip                    a finished trip: start, end and its summary\n"
          "  stop                    start, end, duration_s, lat, lng, open\n"
          "  alert                   ts, rule, rule_type, severity, message, value, limit\n"
          "  late                    ts of a fix older than the vehicle's newest (ignored)\n"
          "  hourly                  start, end and the hour's aggregates (--hourly)\n"
          "The stream's clock is its newest ts: before a fix that moves it on by at least\n"
          "the tick interval, the tracker is ticked (offline alerts, trips ended by\n"
          "silence, hours closed). At the end, open trips, stops and hours are flushed.\n"
          "Lines that fail validation are reported on stderr and skipped.\n"
          "\n"
          "options:\n"
          "  --zones FILE         geofences (GeoJSON FeatureCollection)\n"
          "  --rules FILE         alert rules ({\"rules\":[...]}, see fleet/rules.h)\n"
          "  --hourly             also print hourly aggregates\n"
          "  --tick S             tick interval in stream seconds; 0 never [1]\n"
          "  --debounce-fixes N   zone changes need N consecutive fixes [1]\n"
          "  --debounce-s S       ... and S seconds [0]\n"
          "  --vehicle-id ID      the vehicle of records that carry none\n"
          "\n"
          "%s"
          "\n"
          "exit status: 0 every line accepted, 1 some line rejected, 2 bad command line,\n"
          "zones or rules that cannot be loaded, or an input that cannot be read.\n",
          fleetctl_trip_options_help);
}

static int on_event(const fleet_tracker_event_t *ev, void *ud)
{
  (void)ud;
  fleetctl_event_json(stdout, ev);
  return 0;
}

int cmd_events(int argc, char **argv)
{
  static const struct option options[] = {
    {"zones", required_argument, NULL, 'z'},
    {"rules", required_argument, NULL, 'r'},
    {"hourly", no_argument, NULL, 'H'},
    {"tick", required_argument, NULL, 't'},
    FLEETCTL_DEBOUNCE_OPTIONS,
    FLEETCTL_VEHICLE_OPTION,
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    FLEETCTL_TRIP_OPTIONS,
    {NULL, 0, NULL, 0},
  };
  fleet_trip_params_t params;
  fleet_trip_params_init(&params, FLEET_TRIP_PARAMS_VERSION);
  fleet_downsample_params_t hourly;
  fleet_downsample_params_init(&hourly, FLEET_DOWNSAMPLE_PARAMS_VERSION);
  fleet_tracker_opts_t opts = FLEET_TRACKER_OPTS_INIT;
  const char *zones_path = NULL, *rules_path = NULL, *vehicle = NULL;
  bool with_hourly = false;
  double tick_s = 1;
  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
    case 'z':
      zones_path = optarg;
      break;
    case 'r':
      rules_path = optarg;
      break;
    case 'H':
      with_hourly = true;
      break;
    case 'j':
      break; /* JSON is the only output */
    case 't':
      if (!fleetctl_parse_number(&tick_s, PROG, "tick", optarg))
        return FLEETCTL_USAGE;
      if (tick_s < 0 || tick_s > 1e9) {
        fprintf(stderr, "%s: --tick: %s is outside [0, 1e9]\n", PROG, optarg);
        return FLEETCTL_USAGE;
      }
      break;
    case 'h':
      events_usage(stdout);
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

  int status = FLEETCTL_USAGE;
  fleet_zoneset_t *zones = NULL;
  fleet_ruleset_t *rules = NULL;
  fleet_tracker_t *tracker = NULL;
  fleet_telemetry_t *rec = NULL;
  if (zones_path && !(zones = fleetctl_load_zones(PROG, zones_path)))
    goto out;
  if (rules_path && fleet_ruleset_load_file(&rules, rules_path)) {
    fprintf(stderr, "%s: %s\n", PROG, fleet_error_last());
    goto out;
  }
  opts.zones = zones;
  opts.rules = rules;
  opts.trip_params = &params;
  opts.hourly = with_hourly ? &hourly : NULL;
  if (fleet_tracker_new(&tracker, &opts, on_event, NULL)) {
    fprintf(stderr, "%s: %s\n", PROG, fleet_error_last());
    goto out;
  }
  if (!(rec = malloc(sizeof *rec))) {
    fprintf(stderr, "%s: out of memory\n", PROG);
    goto out;
  }

  fleetctl_records_t records;
  fleetctl_records_init(&records, PROG, paths, npaths, FLEETCTL_RECORDS_TRACKING, vehicle);
  int64_t tick_ns = (int64_t)(tick_s * 1e9);
  bool have_clock = false;
  int64_t clock_ns = 0, last_tick_ns = 0;
  bool failed = false;
  while (!failed && fleetctl_records_next(&records, rec)) {
    /* The clock reaches this fix's time before the fix itself is seen. */
    if (tick_ns > 0 && have_clock && rec->ts_ns > clock_ns &&
        rec->ts_ns - last_tick_ns >= tick_ns) {
      if (fleet_tracker_tick(tracker, rec->ts_ns)) {
        fprintf(stderr, "%s: %s\n", PROG, fleet_error_last());
        failed = true;
        break;
      }
      last_tick_ns = rec->ts_ns;
    }
    if (!have_clock || rec->ts_ns > clock_ns) {
      if (!have_clock)
        last_tick_ns = rec->ts_ns;
      clock_ns = rec->ts_ns;
      have_clock = true;
    }
    int rc = fleet_tracker_feed(tracker, rec);
    if (rc == FLEET_ENOMEM || rc == FLEET_EINTERNAL) {
      fprintf(stderr, "%s: %s\n", PROG, fleet_error_last());
      failed = true;
    } else if (rc) {
      fleetctl_records_reject(&records, fleet_error_last());
    }
  }
  if (!failed && fleet_tracker_flush(tracker, NULL)) {
    fprintf(stderr, "%s: %s\n", PROG, fleet_error_last());
    failed = true;
  }
  bool inputs_ok = fleetctl_records_close(&records);
  if (!fleetctl_flush_stdout(PROG) || !inputs_ok)
    status = FLEETCTL_USAGE;
  else if (failed || records.rejected)
    status = FLEETCTL_FAIL;
  else
    status = FLEETCTL_OK;
out:
  free(rec);
  fleet_tracker_free(tracker);
  fleet_ruleset_free(rules);
  fleet_zoneset_free(zones);
  fleet_zone_thread_cleanup();
  return status;
}
