/* fleetctl: the command-line tool. Each subcommand lives in its own cmd_*.c. */
#ifndef FLEETCTL_H
#define FLEETCTL_H

#include <stdio.h>

/** Exit codes shared by every subcommand. */
enum {
  FLEETCTL_OK = 0,    /* everything accepted / done */
  FLEETCTL_FAIL = 1,  /* the command ran, but some input was rejected or an operation failed */
  FLEETCTL_USAGE = 2  /* bad command line */
};

/** A subcommand: argv[0] is the subcommand's name. Returns an exit code. */
typedef int (*fleetctl_cmd_fn)(int argc, char **argv);

typedef struct fleetctl_cmd {
  const char *name;
  const char *summary;
  fleetctl_cmd_fn run;
} fleetctl_cmd_t;

int cmd_validate(int argc, char **argv);
int cmd_lp(int argc, char **argv);
int cmd_influx(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_spool(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_trips(int argc, char **argv);
int cmd_zones(int argc, char **argv);
int cmd_events(int argc, char **argv);

#endif
