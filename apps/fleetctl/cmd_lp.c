/* fleetctl lp: print InfluxDB line protocol for valid payloads. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <fleet/fleet.h>

#include "fleetctl.h"
#include "input.h"

#define PROG "fleetctl lp"

static void lp_usage(FILE *out)
{
  fputs("usage: fleetctl lp [--vehicle ID] [--measurement NAME] [--tag KEY=VALUE]... [FILE...]\n"
        "\n"
        "Print the InfluxDB line protocol of each valid payload (telemetry v1, one JSON\n"
        "object per line), as fleetd writes it: measurement \"telemetry\", tag vehicle_id\n"
        "and the --tag tags sorted by key, every field of the payload, the payload's time\n"
        "in nanoseconds. Reads each FILE in turn, or standard input when there is no\n"
        "FILE or a FILE is \"-\".\n"
        "\n"
        "options:\n"
        "  --vehicle ID        the vehicle id of every payload (as fleetd takes it from\n"
        "                      the MQTT topic); without it, each payload's own\n"
        "                      \"vehicle_id\" member is used, and a payload with neither\n"
        "                      is an error\n"
        "  --measurement NAME  measurement name (default \"telemetry\")\n"
        "  --tag KEY=VALUE     add a tag to every line (repeatable; with an empty VALUE\n"
        "                      the tag is left out, as for a fleet without that tag)\n"
        "  -h, --help          show this help\n"
        "\n"
        "Rejected payloads are reported on standard error as LINE: error: REASON and\n"
        "dropped optional fields as LINE: warning: W1; W2 (FILE:LINE: with several\n"
        "inputs). Blank lines are skipped but counted.\n"
        "\n"
        "exit status: 0 every payload written, 1 some payload rejected, 2 bad command\n"
        "line or an input that cannot be read.\n",
        out);
}

static void report_warnings(const fleetctl_input_t *in, const fleet_telemetry_warnings_t *w)
{
  if (!w->count)
    return;
  fleetctl_input_where(stderr, in);
  fputs("warning: ", stderr);
  for (unsigned int i = 0; i < w->count; i++)
    fprintf(stderr, "%s%s", i ? "; " : "", w->msg[i]);
  if (w->dropped)
    fprintf(stderr, "; %u more not shown", w->dropped);
  fputc('\n', stderr);
}

int cmd_lp(int argc, char **argv)
{
  static const struct option options[] = {
    {"vehicle", required_argument, NULL, 'V'},
    {"measurement", required_argument, NULL, 'm'},
    {"tag", required_argument, NULL, 't'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  const char *vehicle = NULL, *measurement = NULL;
  fleet_lp_tag_t tags[FLEET_LP_MAX_TAGS - 1];
  size_t ntags = 0;
  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
    case 'V':
      vehicle = optarg;
      break;
    case 'm':
      measurement = optarg;
      break;
    case 't': {
      char *eq = strchr(optarg, '=');
      if (!eq || eq == optarg) {
        fprintf(stderr, "%s: --tag '%s' is not KEY=VALUE\n", PROG, optarg);
        return FLEETCTL_USAGE;
      }
      if (ntags == sizeof tags / sizeof tags[0]) {
        fprintf(stderr, "%s: more than %d --tag options\n", PROG, FLEET_LP_MAX_TAGS - 1);
        return FLEETCTL_USAGE;
      }
      *eq = '\0';
      tags[ntags++] = (fleet_lp_tag_t){optarg, eq + 1};
      break;
    }
    case 'h':
      lp_usage(stdout);
      return FLEETCTL_OK;
    default:
      fleetctl_bad_option(PROG, argv, c);
      return FLEETCTL_USAGE;
    }
  }
  if (vehicle && fleet_vehicle_id_validate(vehicle, strlen(vehicle))) {
    fprintf(stderr, "%s: --vehicle: %s\n", PROG, fleet_error_last());
    return FLEETCTL_USAGE;
  }

  /* Refuse a bad measurement or tag once, up front, rather than on every line. */
  fleet_telemetry_t rec;
  fleet_buf_t buf = FLEET_BUF_INIT;
  fleet_telemetry_init(&rec, FLEET_TELEMETRY_VERSION);
  strcpy(rec.vehicle_id, vehicle ? vehicle : "v");
  if (fleet_lp_encode_telemetry(&buf, &rec, measurement, tags, ntags)) {
    fprintf(stderr, "%s: %s\n", PROG, fleet_error_last());
    fleet_buf_dispose(&buf);
    return FLEETCTL_USAGE;
  }

  char *const *paths = argv + optind;
  size_t npaths = (size_t)(argc - optind);
  if (!fleetctl_input_check(PROG, paths, npaths)) {
    fleet_buf_dispose(&buf);
    return FLEETCTL_USAGE;
  }
  fleetctl_input_t in;
  fleetctl_input_init(&in, PROG, paths, npaths);
  unsigned long rejected = 0;
  while (fleetctl_input_next(&in)) {
    if (fleetctl_line_blank(in.line, in.len))
      continue;
    fleet_telemetry_warnings_t warnings;
    fleet_telemetry_init(&rec, FLEET_TELEMETRY_VERSION);
    const char *error = NULL;
    if (fleet_telemetry_parse(&rec, &warnings, in.line, in.len)) {
      error = fleet_error_last();
    } else {
      report_warnings(&in, &warnings);
      if (vehicle)
        strcpy(rec.vehicle_id, vehicle);
      fleet_buf_clear(&buf);
      if (!rec.vehicle_id[0])
        error = "no vehicle id: the payload has no vehicle_id member and --vehicle "
                "was not given";
      else if (fleet_lp_encode_telemetry(&buf, &rec, measurement, tags, ntags))
        error = fleet_error_last();
    }
    if (error) {
      fleetctl_input_where(stderr, &in);
      fprintf(stderr, "error: %s\n", error);
      rejected++;
    } else {
      fwrite(buf.ptr, 1, buf.len, stdout);
    }
  }
  bool io_error = in.io_error;
  fleetctl_input_close(&in);
  fleet_buf_dispose(&buf);
  if (!fleetctl_flush_stdout(PROG) || io_error)
    return FLEETCTL_USAGE;
  return rejected ? FLEETCTL_FAIL : FLEETCTL_OK;
}
