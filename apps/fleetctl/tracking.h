/*
 * tracking: what `fleetctl trips`, `fleetctl zones check` and `fleetctl events`
 * share besides the records reader (records.h): the trip parameter options,
 * and writing tracker events as JSON or text.
 */
#ifndef FLEETCTL_TRACKING_H
#define FLEETCTL_TRACKING_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include <fleet/fleet.h>

#include "input.h"
#include "records.h"

/* ---- trip options ----------------------------------------------------------- */

/** Option codes of the trip parameters, for getopt_long() tables. */
enum {
  FLEETCTL_OPT_MIN_DISTANCE = 1000,
  FLEETCTL_OPT_MIN_DURATION,
  FLEETCTL_OPT_MIN_PARKING,
  FLEETCTL_OPT_MAX_GAP,
  FLEETCTL_OPT_USE_IGNITION,
  FLEETCTL_OPT_SPEED_THRESHOLD,
  FLEETCTL_OPT_TANK,
  FLEETCTL_OPT_CONSUMPTION,
  FLEETCTL_OPT_IDLE_CONSUMPTION,
  FLEETCTL_OPT_NO_ODOMETER
};

#define FLEETCTL_TRIP_OPTIONS                                               \
  {"min-trip-distance", required_argument, NULL, FLEETCTL_OPT_MIN_DISTANCE}, \
  {"min-trip-duration", required_argument, NULL, FLEETCTL_OPT_MIN_DURATION}, \
  {"min-parking", required_argument, NULL, FLEETCTL_OPT_MIN_PARKING},        \
  {"max-gap", required_argument, NULL, FLEETCTL_OPT_MAX_GAP},                \
  {"use-ignition", no_argument, NULL, FLEETCTL_OPT_USE_IGNITION},            \
  {"speed-threshold", required_argument, NULL, FLEETCTL_OPT_SPEED_THRESHOLD}, \
  {"tank-l", required_argument, NULL, FLEETCTL_OPT_TANK},                    \
  {"consumption", required_argument, NULL, FLEETCTL_OPT_CONSUMPTION},        \
  {"idle-consumption", required_argument, NULL, FLEETCTL_OPT_IDLE_CONSUMPTION}, \
  {"no-odometer", no_argument, NULL, FLEETCTL_OPT_NO_ODOMETER}

/** The help text of the trip options. */
extern const char fleetctl_trip_options_help[];

/** Parse a finite number; false (reported) otherwise. */
bool fleetctl_parse_number(double *out, const char *prog, const char *opt, const char *arg);

/* ---- tracker options and inputs ---------------------------------------------- */

/** The vehicle of records that carry none: option code 'V'. */
#define FLEETCTL_VEHICLE_OPTION {"vehicle-id", required_argument, NULL, 'V'}

/** Zone debounce: option codes 'n' (--debounce-fixes) and 's' (--debounce-s). */
#define FLEETCTL_DEBOUNCE_OPTIONS                                 \
  {"debounce-fixes", required_argument, NULL, 'n'},               \
  {"debounce-s", required_argument, NULL, 's'}

/**
 * Apply what getopt_long() returned for an option the command does not handle
 * itself: FLEETCTL_VEHICLE_OPTION (to *vehicle, after checking the id),
 * FLEETCTL_DEBOUNCE_OPTIONS (to `o`) and, when `p` is not NULL,
 * FLEETCTL_TRIP_OPTIONS (to `p`), with argument `arg`. Anything else is
 * reported with fleetctl_bad_option(). Returns false after reporting a bad
 * option or value.
 */
bool fleetctl_tracking_option(fleet_tracker_opts_t *o, fleet_trip_params_t *p,
                              const char **vehicle, const char *prog, char *const *argv, int c,
                              const char *arg);

/**
 * Load the GeoJSON zones file `path` into a new zone set; NULL after reporting
 * why on stderr ("PROG: cannot read 'PATH': ...", "PROG: PATH: REASON", ...).
 */
fleet_zoneset_t *fleetctl_load_zones(const char *prog, const char *path);

/** Warn that the current line is older than its vehicle's newest fix (a LATE event). */
void fleetctl_records_late(const fleetctl_records_t *r, const char *vehicle_id);

/* ---- output ----------------------------------------------------------------- */

/** Write `v` with at most `decimals` decimals, without trailing zeros ("null"
 *  when not finite). */
void fleetctl_json_num(FILE *out, double v, int decimals);

/**
 * Write one tracker event as a JSON object on one line, in the library's form
 * (fleet/eventjson.h) with the "type" member and the detector's details: every
 * object has "type" and "vehicle_id", and "ts" (instant events) or
 * "start"/"end". A TRIP_END is written as type "trip" with the summary.
 */
void fleetctl_event_json(FILE *out, const fleet_tracker_event_t *ev);

/** Write a trip summary as a JSON object (type "trip") on one line. */
void fleetctl_trip_json(FILE *out, const fleet_trip_t *t);

/** Write a stop as a JSON object (type "stop") on one line. */
void fleetctl_stop_json(FILE *out, const fleet_stop_t *s);

/** "1:02:03" for a duration in seconds (rounded to the second). */
void fleetctl_hms(char *out, size_t cap, double secs);

#endif
