/*
 * dbcheck: do the InfluxDB databases fleetd writes to exist? For /readyz,
 * which must not say ready while every write would be refused with 404
 * "database not found" (an InfluxDB on which `fleetctl influx init` has not
 * run yet, or whose database was dropped).
 *
 * A thread of its own asks SHOW DATABASES (its own InfluxDB connection):
 * once at start; every DBCHECK_RETRY_MS while a database is missing or
 * InfluxDB does not answer; and when a writer reports a 404, the answer of a
 * database that is gone. Nothing is asked per /readyz request, and nothing
 * while every database exists and the writers are not refused.
 *
 * The first answer is also fleetd's start-up check of InfluxDB: credentials
 * or a certificate refused are logged as an error naming the settings,
 * a server not answering as a warning (the writers spool meanwhile).
 *
 * InfluxDB 2.x writes to buckets, which SHOW DATABASES (DBRP mappings) does
 * not list: there only that first question is asked, for the log, and the
 * writers' health decides readiness.
 * Bad credentials or a TLS certificate that does not verify hold readiness
 * back like a server that does not answer; a server that refuses the
 * question itself (403: a user without the right to list, an old version)
 * makes the check unknown, which does not block readiness.
 */
#ifndef FLEETD_DBCHECK_H
#define FLEETD_DBCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "fleetd.h"

/** Re-check interval while a database is missing or InfluxDB is down. */
#define DBCHECK_RETRY_MS 2000
/** Re-check interval while the server refuses SHOW DATABASES. */
#define DBCHECK_UNKNOWN_RETRY_MS 60000

typedef struct fleetd_dbcheck fleetd_dbcheck_t;

/**
 * Start checking the databases of `cfg` (influx.database and
 * downsampled_database), watching the writers `raw` and `events` (borrowed,
 * must outlive the checker) for 404 answers. Returns 0 or -1 (logged).
 */
int fleetd_dbcheck_new(fleetd_dbcheck_t **out, const fleetd_config_t *cfg,
                       fleet_influx_writer_t *raw, fleet_influx_writer_t *events);

/**
 * true when the last check found every database (or could not tell); false
 * with the reason in `why` (cap bytes, e.g. "InfluxDB database
 * 'telemetry_raw' does not exist (fleetctl influx init creates it)") when one
 * is missing, InfluxDB did not answer or refused fleetd's credentials, or no
 * check has finished yet. Any
 * thread; answers at once.
 */
bool fleetd_dbcheck_ready(fleetd_dbcheck_t *c, char *why, size_t cap);

/** Stop the thread (waiting for a check in flight) and free. NULL-safe. */
void fleetd_dbcheck_free(fleetd_dbcheck_t *c);

#endif
