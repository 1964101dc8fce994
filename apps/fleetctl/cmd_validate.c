/* fleetctl validate: check device payloads, one JSON object per line. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fleet/fleet.h>
#include <jansson.h>

#include "fleetctl.h"
#include "input.h"

#define PROG "fleetctl validate"

static void validate_usage(FILE *out)
{
  fputs("usage: fleetctl validate [--json] [FILE...]\n"
        "\n"
        "Check device payloads (telemetry v1, one JSON object per line) the way fleetd\n"
        "does. Reads each FILE in turn, or standard input when there is no FILE or a\n"
        "FILE is \"-\". Lines may be of any length: a payload over 4 KiB is rejected.\n"
        "\n"
        "Prints one result per payload, in input order:\n"
        "  LINE: ok\n"
        "  LINE: ok (warning: W1; W2)   accepted; the optional fields named were dropped\n"
        "  LINE: error: REASON          rejected\n"
        "LINE counts the lines of each input from 1. A blank line (nothing but spaces,\n"
        "tabs or CR) is not a payload: it gets no result, but it is counted. With\n"
        "several inputs each result starts with FILE:LINE: (standard input is\n"
        "\"" FLEETCTL_STDIN_NAME "\").\n"
        "\n"
        "options:\n"
        "  --json      print one JSON object per payload instead:\n"
        "                {\"line\":N,\"ok\":true,\"warnings\":[\"W1\",...]}\n"
        "                {\"line\":N,\"ok\":false,\"error\":\"REASON\",\"warnings\":[]}\n"
        "              with \"file\":\"NAME\" first when there are several inputs\n"
        "  -h, --help  show this help\n"
        "\n"
        "exit status: 0 every payload accepted (warnings allowed), 1 some payload\n"
        "rejected, 2 bad command line or an input that cannot be read.\n",
        out);
}

/* A JSON string for a message; bytes that are not UTF-8 become '?' so that the
 * output stays valid JSON whatever the message quotes. */
static json_t *json_text(const char *s)
{
  json_t *j = json_string(s);
  if (j)
    return j;
  char *copy = strdup(s);
  if (!copy)
    return NULL;
  for (char *p = copy; *p; p++)
    if ((unsigned char)*p >= 0x80)
      *p = '?';
  j = json_string(copy);
  free(copy);
  return j;
}

static bool print_json(const fleetctl_input_t *in, bool ok, const char *error,
                       const fleet_telemetry_warnings_t *w)
{
  json_t *o = json_object();
  json_t *warnings = json_array();
  bool done = false;
  if (o && warnings) {
    if (in->npaths > 1)
      json_object_set_new(o, "file", json_text(in->name));
    json_object_set_new(o, "line", json_integer((json_int_t)in->lineno));
    json_object_set_new(o, "ok", json_boolean(ok));
    if (!ok)
      json_object_set_new(o, "error", json_text(error));
    for (unsigned int i = 0; ok && i < w->count; i++)
      json_array_append_new(warnings, json_text(w->msg[i]));
    if (ok && w->dropped) {
      char more[64];
      snprintf(more, sizeof more, "%u more warnings not shown", w->dropped);
      json_array_append_new(warnings, json_string(more));
    }
    json_object_set(o, "warnings", warnings);
    char *text = json_dumps(o, JSON_COMPACT);
    if (text) {
      puts(text);
      free(text);
      done = true;
    }
  }
  json_decref(warnings);
  json_decref(o);
  if (!done)
    fprintf(stderr, "%s: out of memory\n", PROG);
  return done;
}

static void print_text(const fleetctl_input_t *in, bool ok, const char *error,
                       const fleet_telemetry_warnings_t *w)
{
  fleetctl_input_where(stdout, in);
  if (!ok) {
    printf("error: %s\n", error);
    return;
  }
  if (!w->count) {
    puts("ok");
    return;
  }
  fputs("ok (warning: ", stdout);
  for (unsigned int i = 0; i < w->count; i++)
    printf("%s%s", i ? "; " : "", w->msg[i]);
  if (w->dropped)
    printf("; %u more not shown", w->dropped);
  puts(")");
}

int cmd_validate(int argc, char **argv)
{
  static const struct option options[] = {
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  bool json = false;
  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
    case 'j':
      json = true;
      break;
    case 'h':
      validate_usage(stdout);
      return FLEETCTL_OK;
    default:
      fleetctl_bad_option(PROG, argv, c);
      return FLEETCTL_USAGE;
    }
  }
  char *const *paths = argv + optind;
  size_t npaths = (size_t)(argc - optind);
  if (!fleetctl_input_check(PROG, paths, npaths))
    return FLEETCTL_USAGE;

  fleetctl_input_t in;
  fleetctl_input_init(&in, PROG, paths, npaths);
  unsigned long rejected = 0;
  bool out_failed = false;
  while (fleetctl_input_next(&in)) {
    if (fleetctl_line_blank(in.line, in.len))
      continue;
    fleet_telemetry_t rec;
    fleet_telemetry_warnings_t warnings;
    fleet_telemetry_init(&rec, FLEET_TELEMETRY_VERSION);
    bool ok = fleet_telemetry_parse(&rec, &warnings, in.line, in.len) == 0;
    const char *error = ok ? NULL : fleet_error_last();
    if (!ok) {
      rejected++;
      warnings.count = warnings.dropped = 0;
    }
    if (json)
      out_failed |= !print_json(&in, ok, error, &warnings);
    else
      print_text(&in, ok, error, &warnings);
  }
  bool io_error = in.io_error;
  fleetctl_input_close(&in);
  /* An output or input failure is an operational error: it outranks rejections. */
  if (!fleetctl_flush_stdout(PROG) || out_failed || io_error)
    return FLEETCTL_USAGE;
  return rejected ? FLEETCTL_FAIL : FLEETCTL_OK;
}
