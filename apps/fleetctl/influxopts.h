/* fleetctl: options shared by the commands that talk to InfluxDB, and time arguments. */
#ifndef FLEETCTL_INFLUXOPTS_H
#define FLEETCTL_INFLUXOPTS_H

#include <stdint.h>
#include <stdio.h>

#include <fleet/fleet.h>

/*
 * Connection settings: defaults, then the FLEET_INFLUX_* environment
 * (fleet_influx_config_from_env), then the command line. Secrets (token,
 * password) come only from the environment or from files: a command line is
 * visible to every user of the machine in ps and /proc.
 */
typedef struct influxopts {
  fleet_influx_config_t cfg;
  char raw_db[FLEET_INFLUX_NAME_MAX];         /* raw tier (and write target) */
  char downsampled_db[FLEET_INFLUX_NAME_MAX]; /* hourly tier and events */
  char raw_rp[FLEET_INFLUX_NAME_MAX];         /* "" for the database's default */
  char downsampled_rp[FLEET_INFLUX_NAME_MAX];
  unsigned int chunk_size;                    /* 0 for the library default */
} influxopts_t;

/* Defaults plus the environment. Returns 0, or FLEETCTL_USAGE after printing why. */
int influxopts_init(influxopts_t *o, const char *cmd);

/*
 * Try argv[*i] as a shared option; on success *i points at its last word.
 * Returns 1 when consumed, 0 when the option is not one of these, or -1 after
 * printing an error (bad value, missing argument).
 */
int influxopts_parse(influxopts_t *o, const char *cmd, int argc, char **argv, int *i);

/* Check the final configuration (fleet_influx_config_validate). 0 or -1 with a message. */
int influxopts_finish(influxopts_t *o, const char *cmd);

/* Help text for the shared options. */
void influxopts_usage(FILE *out);

/* A reader for the configured databases. 0 or -1 with a message. */
int influxopts_history(fleet_history_t **out, const influxopts_t *o, const char *cmd);

/*
 * A time argument: RFC 3339 ("2026-05-21T10:30:00Z"), "now", or relative to
 * now: "-2h", "-30m", "-7d", "-1h30m", "+15m". Returns 0 or -1 with a message.
 */
int parse_time_arg(int64_t *out_ns, const char *s, int64_t now_ns, const char *cmd,
                   const char *opt);

/*
 * The value of --timeout-ms (how long to wait for the server at the end): a
 * whole number in 1..86400000. Returns 0 or -1 with a message.
 */
int parse_timeout_ms(unsigned long *out, const char *arg, const char *cmd);

/* Current time, ns since the epoch. */
int64_t now_ns(void);

/* Shortest decimal text that reads back as exactly `v` (C locale). */
void format_double(char out[32], double v);

/* Read a whole file ("-" for stdin) into memory; NUL-terminated. 0 or -1. */
int read_secret_file(char *out, size_t cap, const char *path, const char *cmd);

#endif
