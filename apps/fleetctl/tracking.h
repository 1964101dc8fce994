/*
 * tracking: what `fleetctl trips`, `fleetctl zones check` and `fleetctl events`
 * share: reading telemetry records from JSON lines or CSV files, the trip
 * parameter options, and writing tracker events as JSON or text.
 */
#ifndef FLEETCTL_TRACKING_H
#define FLEETCTL_TRACKING_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include <fleet/fleet.h>

#include "input.h"

/* ---- records -------------------------------------------------------------- */

enum { FLEETCTL_CSV_MAX_COLS = 64 };

/**
 * A reader of telemetry records over the FILE operands. Each input is JSON
 * lines (its first non-blank line starts with '{') or CSV whose first non-blank
 * line is a header naming the columns (vehicle_id, ts, lat, lng and any of
 * speed, heading, ignition, odometer, battery_v, engine_temp, fuel_level,
 * driver_id; other columns are ignored with a warning). A CSV `ts` is RFC 3339
 * or a number of seconds since the epoch.
 */
typedef struct fleetctl_records {
  fleetctl_input_t in;
  const char *prog;
  const char *default_vehicle; /* for records without a vehicle_id, or NULL */
  size_t input;                /* in.next of the input whose format is known */
  int format;                  /* 0 unknown, 1 JSON lines, 2 CSV */
  size_t ncols;
  int cols[FLEETCTL_CSV_MAX_COLS]; /* column kind, -1 ignored */
  bool bad_header;             /* the current CSV input has an unusable header */
  unsigned long rejected;      /* lines refused so far */
} fleetctl_records_t;

/** Set up `r` over `paths` (borrowed; none: standard input). */
void fleetctl_records_init(fleetctl_records_t *r, const char *prog, char *const *paths,
                           size_t npaths, const char *default_vehicle);

/**
 * The next valid record, in input order. Blank lines are skipped; invalid
 * lines are reported on stderr ("PROG: FILE:LINE: REASON"), counted and
 * skipped. Returns false when every input is read.
 */
bool fleetctl_records_next(fleetctl_records_t *r, fleet_telemetry_t *rec);

/** Report the current line as rejected (after the tracker refused it). */
void fleetctl_records_reject(fleetctl_records_t *r, const char *why);

/** Print "PROG: FILE:LINE: " for the current line on stderr. */
void fleetctl_records_where(const fleetctl_records_t *r);

/** Release the reader. Returns false when an input could not be read. */
bool fleetctl_records_close(fleetctl_records_t *r);

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

/**
 * Apply trip option `c` (a FLEETCTL_OPT_* code) with argument `arg`.
 * Returns 1 when `c` is a trip option (applied), 0 when it is not one,
 * -1 for a bad value (reported on stderr).
 */
int fleetctl_trip_option(fleet_trip_params_t *p, const char *prog, int c, const char *arg);

/** Parse a finite number; false (reported) otherwise. */
bool fleetctl_parse_number(double *out, const char *prog, const char *opt, const char *arg);

/* ---- output ----------------------------------------------------------------- */

/** Write `s` as a JSON string (quoted, escaped). */
void fleetctl_json_str(FILE *out, const char *s);

/** Write `v` with at most `decimals` decimals, without trailing zeros ("null"
 *  when not finite). */
void fleetctl_json_num(FILE *out, double v, int decimals);

/** Write an RFC 3339 time ("2026-05-21T08:00:00Z"), quoted. */
void fleetctl_json_time(FILE *out, int64_t ns);

/**
 * Write one tracker event as a JSON object on one line: every object has
 * "type" and "vehicle_id", and "ts" (instant events) or "start"/"end". A
 * TRIP_END is written as type "trip" with the summary.
 */
void fleetctl_event_json(FILE *out, const fleet_tracker_event_t *ev);

/** Write a trip summary as a JSON object (type "trip") on one line. */
void fleetctl_trip_json(FILE *out, const fleet_trip_t *t);

/** Write a stop as a JSON object (type "stop") on one line. */
void fleetctl_stop_json(FILE *out, const fleet_stop_t *s);

/** "1:02:03" for a duration in seconds (rounded to the second). */
void fleetctl_hms(char *out, size_t cap, double secs);

#endif
