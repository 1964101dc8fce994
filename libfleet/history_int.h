/*
 * Internals of the history reader (history.c) exposed to its unit tests: the
 * streaming parser of chunked /query answers, the InfluxQL builders and the
 * row conversions. Nothing here is exported.
 */
#ifndef FLEET_HISTORY_INT_H
#define FLEET_HISTORY_INT_H

#include "fleet/history.h"

/**
 * Incremental parser of an InfluxDB /query body: a sequence of JSON documents
 * separated by newlines (chunked=true), or a single document. Bytes go in with
 * fleet_history__stream_feed() as they arrive, in pieces of any size; each
 * complete line is parsed on its own and its rows handed to `cb`, so memory is
 * bounded by the longest line. Statement and top-level errors in a document
 * stop the stream with the matching status code.
 */
typedef struct fleet_history__stream {
  fleet_buf_t line;              /* bytes of the unfinished line */
  size_t max_line;               /* longest line allowed */
  fleet_history_row_cb cb;
  void *userdata;
  fleet_history_stats_t *stats;  /* counters to update (rows, chunks, max line) */
  int status;                    /* first failure or callback abort, sticky */
  /* Scratch arrays reused across series, grown as needed. */
  const char **cols;
  fleet_history_value_t *vals;
  size_t cap;
  const char **tag_keys;
  const char **tag_values;
  size_t tag_cap;
} fleet_history__stream_t;

/** Prepare a stream; `stats` must outlive it. */
void fleet_history__stream_init(fleet_history__stream_t *s, size_t max_line,
                                fleet_history_row_cb cb, void *userdata,
                                fleet_history_stats_t *stats);

/** Feed body bytes. Returns 0 or the stream's sticky status. */
int fleet_history__stream_feed(fleet_history__stream_t *s, const char *data, size_t len);

/** End of body: parse a last line without a newline. Returns the status. */
int fleet_history__stream_finish(fleet_history__stream_t *s);

/** Free the stream's memory. */
void fleet_history__stream_dispose(fleet_history__stream_t *s);

/**
 * Status code for an error message InfluxDB put in a result ("database not
 * found: x" FLEET_ENOTFOUND, "error parsing query" FLEET_EPARSE,
 * authorization failures FLEET_EAUTH / FLEET_EPERM, else FLEET_ESERVER).
 */
int fleet_history__error_code(const char *msg);

/** Where a query reads from: database, retention policy ("" default), measurement. */
typedef struct fleet_history__source {
  const char *db;
  const char *rp;
  const char *measurement;
} fleet_history__source_t;

/**
 * Append `SELECT * FROM <src> WHERE <range and vehicles>[ LIMIT n]` to `q`.
 * Validates the filter (range, ids). Returns 0, FLEET_EINVAL or FLEET_ENOMEM.
 */
int fleet_history__build_select(fleet_buf_t *q, const fleet_history__source_t *src,
                                const fleet_history_filter_t *filter);

/**
 * Append the last-position query: SELECT last(lat) AS "__fleet_last", * FROM
 * <src> [WHERE ...] GROUP BY "vehicle_id". A zero range leaves time open.
 */
int fleet_history__build_last(fleet_buf_t *q, const fleet_history__source_t *src,
                              const fleet_history_filter_t *filter);

/** Append the WHERE conditions (time range, vehicle ids) without "WHERE". */
int fleet_history__build_conditions(fleet_buf_t *q, const fleet_history_filter_t *filter,
                                    int time_required);

/**
 * Fill a telemetry record and tags from a row of `telemetry` (tier RAW) or
 * `telemetry_hourly` (tier HOURLY). `hourly` is filled for HOURLY. The tag
 * strings point into the row. Returns 0 or FLEET_EPARSE (lat/lng missing or
 * not numbers, a known field with a wrong type).
 */
int fleet_history__row_to_point(fleet_telemetry_t *rec, fleet_history_hourly_t *hourly,
                                const char **fleet_id, const char **device_type,
                                const fleet_history_row_t *row, fleet_history_tier_t tier);

#endif /* FLEET_HISTORY_INT_H */
