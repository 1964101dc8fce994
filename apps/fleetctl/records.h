/*
 * records: telemetry records from fleetctl's FILE operands, the one reader of
 * every subcommand that takes telemetry files (import, trips, zones, events).
 *
 * Each input is JSON lines (its first non-blank line starts with '{') or CSV
 * whose first non-blank line is a header naming the columns. Blank lines are
 * skipped. A record is the payload of a line (for CSV, the row turned into a
 * payload object) validated by fleet_telemetry_parse(). Two dialects:
 *
 * - FLEETCTL_RECORDS_TRACKING (trips, zones, events): CSV columns vehicle_id,
 *   ts, lat, lng and any of speed, heading, ignition, odometer, battery_v,
 *   engine_temp, fuel_level, driver_id; other columns are ignored with a
 *   warning. Names and cells are trimmed of spaces and tabs, `ts` is RFC 3339
 *   or a number of seconds since the epoch, numbers are what strtod() reads
 *   in full, ignition is true/false, 1/0 or on/off. A header that cannot be
 *   used is reported and its input's lines are refused (counted, not shown).
 *
 * - FLEETCTL_RECORDS_EXPORT (import): what `fleetctl export` writes. CSV: the
 *   columns above, vehicle_id required, plus fleet_id and device_type (tags)
 *   and extras (a JSON object of extra fields); any other column, or a header
 *   that cannot be used, is fatal. Cells are taken as they are, numbers must
 *   be JSON numbers, ignition is true/false or 1/0, a quote inside an unquoted
 *   cell is malformed. JSON lines may carry fleet_id and device_type (strings)
 *   besides the payload. A line holding a NUL byte is invalid. A JSON line
 *   without a vehicle_id is invalid; a CSV row with an empty one is returned
 *   as it is (the line-protocol encoder of import refuses it).
 *
 * Header problems are reported on stderr as "PROG: FILE:LINE: REASON"; what
 * to say about data lines is the caller's (see fleetctl_records_read()).
 */
#ifndef FLEETCTL_RECORDS_H
#define FLEETCTL_RECORDS_H

#include <stdbool.h>
#include <stddef.h>

#include <fleet/fleet.h>

#include "input.h"

enum { FLEETCTL_CSV_MAX_COLS = 64 };

typedef enum fleetctl_records_dialect {
  FLEETCTL_RECORDS_TRACKING,
  FLEETCTL_RECORDS_EXPORT
} fleetctl_records_dialect_t;

/** What fleetctl_records_read() found. */
typedef enum fleetctl_record_status {
  FLEETCTL_RECORD_END,     /* every input is read */
  FLEETCTL_RECORD_OK,      /* a valid record; its parser warnings in `warn` */
  FLEETCTL_RECORD_INVALID, /* an invalid line; `why` says why */
  FLEETCTL_RECORD_FATAL    /* EXPORT: a CSV header that cannot be used (reported) */
} fleetctl_record_status_t;

/** A reader of telemetry records over the FILE operands. */
typedef struct fleetctl_records {
  fleetctl_input_t in;
  const char *prog;            /* "fleetctl trips", for messages */
  fleetctl_records_dialect_t dialect;
  const char *default_vehicle; /* for records without a vehicle_id, or NULL */
  size_t input;                /* in.next of the input whose format is known */
  int format;                  /* 0 unknown, 1 JSON lines, 2 CSV */
  size_t ncols;
  int cols[FLEETCTL_CSV_MAX_COLS]; /* column kind, -1 ignored */
  bool bad_header;             /* the current CSV input has an unusable header */
  unsigned long rejected;      /* lines refused so far (read and reject) */
  char why[1024];              /* INVALID: the reason */
  fleet_telemetry_warnings_t warn; /* OK: the parser's warnings worth showing */
  const char *fleet_id;        /* EXPORT, OK: the record's tags or NULL; valid */
  const char *device_type;     /*   until the next read */
  void *json;                  /* the JSON line behind fleet_id and device_type */
} fleetctl_records_t;

/** Set up `r` over `paths` (borrowed; none: standard input). */
void fleetctl_records_init(fleetctl_records_t *r, const char *prog, char *const *paths,
                           size_t npaths, fleetctl_records_dialect_t dialect,
                           const char *default_vehicle);

/**
 * The next non-blank data line, in input order: a record (OK), or an invalid
 * line (INVALID, counted in `rejected`); END when every input is read; FATAL
 * (EXPORT only) after an unusable CSV header, when reading must stop. `in`
 * holds the line's input name and number.
 */
fleetctl_record_status_t fleetctl_records_read(fleetctl_records_t *r, fleet_telemetry_t *rec);

/**
 * The next valid record, the reports made: invalid lines and warnings go to
 * stderr as "PROG: FILE:LINE: REASON" and "PROG: FILE:LINE: warning: TEXT".
 * Returns false when every input is read (or reading had to stop).
 */
bool fleetctl_records_next(fleetctl_records_t *r, fleet_telemetry_t *rec);

/** Report the current line as rejected (after the tracker refused it). */
void fleetctl_records_reject(fleetctl_records_t *r, const char *why);

/** Print "PROG: FILE:LINE: " for the current line on stderr. */
void fleetctl_records_where(const fleetctl_records_t *r);

/** Release the reader. Returns false when an input could not be read. */
bool fleetctl_records_close(fleetctl_records_t *r);

#endif
