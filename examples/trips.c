/*
 * trips: the trips and stops of a recorded trace.
 *
 *   trips TRACE.jsonl [MIN_TRIP_DURATION_S]
 *
 * Reads one telemetry payload per line (records of any number of vehicles,
 * each vehicle's in time order), feeds them to a trip detector and prints
 * each stop and trip as it completes: times, duration, distance (odometer
 * when it is sane, else GPS), speeds and why the trip ended. Invalid lines
 * are reported on stderr and skipped (exit status 1). trips.py does the
 * same in Python.
 */
#include <fleet/fleet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Called by the detector for each completed stop and trip (and when a trip
 * qualifies, which we skip: its final summary comes at TRIP_END). The event
 * is borrowed: copy what you keep. Returning non-zero would stop the feed. */
static int on_event(const fleet_trip_event_t *ev, void *userdata)
{
  char start[FLEET_TIME_STRLEN], end[FLEET_TIME_STRLEN];
  (void)userdata;
  if (ev->type == FLEET_TRIP_EVENT_STOP) {
    const fleet_stop_t *s = &ev->stop;
    fleet_time_format(start, s->start_ns);
    fleet_time_format(end, s->end_ns);
    printf("stop  %s  %s -> %s  %6.0f s  at %.6f,%.6f%s\n", s->vehicle_id, start, end,
           s->duration_s, s->lat, s->lng, (s->flags & FLEET_STOP_OPEN) ? "  (open)" : "");
  } else if (ev->type == FLEET_TRIP_EVENT_TRIP_END) {
    const fleet_trip_t *t = &ev->trip;
    fleet_time_format(start, t->start_ns);
    fleet_time_format(end, t->end_ns);
    printf("trip  %s  %s -> %s  %6.0f s  %7.3f km (%s)  max %.1f km/h  avg %.1f km/h  %s\n",
           t->vehicle_id, start, end, t->duration_s, t->distance_m / 1000.0,
           (t->flags & FLEET_TRIP_DISTANCE_ODOMETER) ? "odometer" : "gps", t->max_speed_kmh,
           t->avg_speed_kmh, fleet_trip_end_reason_name((int)t->end_reason));
  }
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s TRACE.jsonl [MIN_TRIP_DURATION_S]\n", argv[0]);
    return 2;
  }
  FILE *in = fopen(argv[1], "r");
  if (!in) {
    perror(argv[1]);
    return 1;
  }
  /* Options structs start from their defaults; set only what you change. */
  fleet_trip_params_t params = FLEET_TRIP_PARAMS_INIT;
  if (argc == 3)
    params.min_trip_duration_s = atof(argv[2]);
  fleet_tripdet_t *det = NULL;
  if (fleet_tripdet_new(&det, &params, on_event, NULL) != 0) {
    fprintf(stderr, "%s\n", fleet_error_last());
    fclose(in);
    return 1;
  }

  int status = 0;
  unsigned lineno = 0;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
  while ((len = getline(&line, &cap, in)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    if (len == 0)
      continue;
    if (fleet_telemetry_parse(&rec, NULL, line, (size_t)len) != 0 ||
        fleet_tripdet_feed(NULL, det, &rec) != 0) {
      fprintf(stderr, "%s:%u: %s\n", argv[1], lineno, fleet_error_last());
      status = 1;
    }
  }
  free(line);
  fclose(in);
  /* End of input: the trip (or stop) in progress is reported now. */
  fleet_tripdet_flush(det, NULL);
  fleet_tripdet_free(det);
  return status;
}
