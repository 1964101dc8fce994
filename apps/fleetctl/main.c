/* fleetctl: validate payloads, run the tracking engine offline, manage storage and users. */
#include <stdio.h>
#include <string.h>

#include <fleet/fleet.h>

#include "fleetctl.h"

static const fleetctl_cmd_t commands[] = {
  {"validate", "check device payloads, one JSON object per line", cmd_validate},
  {"lp", "print InfluxDB line protocol for valid payloads", cmd_lp},
  {"influx", "set up the InfluxDB databases and retention (influx init)", cmd_influx},
  {"history", "one vehicle's stored positions as CSV, JSON lines or GPX", cmd_history},
  {"export", "raw telemetry of a time range as JSON lines or CSV", cmd_export},
  {"import", "store JSON-lines or CSV telemetry files in InfluxDB", cmd_import},
  {"spool", "show or replay the InfluxDB writer's disk spool", cmd_spool},
  {"user", "manage the gateway's users (add, passwd, set, del, list, check)", cmd_user},
  {"token", "issue a token for a user, or verify one", cmd_token},
  {"trips", "trips and stops of each vehicle in telemetry files", cmd_trips},
  {"zones", "zone enter/exit events of telemetry files (zones check)", cmd_zones},
  {"events", "every tracker event (zones, trips, alerts) as JSON lines", cmd_events},
};

static void usage(FILE *out)
{
  fprintf(out, "usage: fleetctl [--help] [--version] COMMAND [ARGS...]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\nRun 'fleetctl COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return FLEETCTL_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return FLEETCTL_OK;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("fleetctl %s (libfleet %s)\n", FLEET_VERSION_STRING, fleet_version_string());
    return FLEETCTL_OK;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name))
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "fleetctl: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return FLEETCTL_USAGE;
}
