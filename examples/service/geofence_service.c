/*
 * fleet-geofenced: a small custom service on top of the installed libfleet.
 *
 *   fleet-geofenced ZONES.geojson < telemetry.jsonl > events.jsonl
 *
 * Reads telemetry payloads (one JSON object per line, each with its
 * "vehicle_id") on stdin, tracks every vehicle against the zones and one
 * rule, and writes an event per line on stdout as JSON:
 *   {"event":"enter","vehicle_id":"van-7","ts":"...","zone":"depot"}
 *   {"event":"exit",...,"zone":"depot","dwell_s":330}
 *   {"event":"alert",...,"rule":"speeding","message":"..."}
 * The rule is built in code: overspeed above 80 km/h, or above a zone's
 * "speed_limit" property while the vehicle is inside it. Invalid lines are
 * reported on stderr and skipped. It is built outside the libfleet tree, with
 * the Makefile here (pkg-config) or the CMakeLists.txt (find_package).
 */
#include <fleet/fleet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Write s as a JSON string (zone and rule ids may hold quotes). */
static void json_str(const char *s)
{
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

static void event_head(const char *kind, const fleet_tracker_event_t *ev)
{
  char ts[FLEET_TIME_STRLEN];
  fleet_time_format(ts, ev->ts_ns);
  printf("{\"event\":\"%s\",\"vehicle_id\":", kind);
  json_str(ev->vehicle_id);
  printf(",\"ts\":\"%s\"", ts);
}

/* The tracker's callback: runs on the thread that feeds, for every event.
 * The event is borrowed; we print it and forget it. */
static int on_event(const fleet_tracker_event_t *ev, void *userdata)
{
  (void)userdata;
  switch (ev->type) {
  case FLEET_TRACKER_EVENT_ZONE_ENTER:
  case FLEET_TRACKER_EVENT_ZONE_EXIT:
    event_head(ev->type == FLEET_TRACKER_EVENT_ZONE_ENTER ? "enter" : "exit", ev);
    printf(",\"zone\":");
    json_str(ev->zone_id);
    if (ev->type == FLEET_TRACKER_EVENT_ZONE_EXIT)
      printf(",\"dwell_s\":%.0f", ev->dwell_s);
    printf("}\n");
    break;
  case FLEET_TRACKER_EVENT_ALERT:
    event_head("alert", ev);
    printf(",\"rule\":");
    json_str(ev->alert->rule_id);
    printf(",\"message\":");
    json_str(ev->alert->message);
    printf("}\n");
    break;
  default: /* trips, stops, late fixes: not this service's business */
    break;
  }
  return 0;
}

static char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *text = NULL;
  if (!f)
    return NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long size = ftell(f);
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)size + 1))) {
      *len = fread(text, 1, (size_t)size, f);
      text[*len] = '\0';
    }
  }
  fclose(f);
  return text;
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s ZONES.geojson < telemetry.jsonl\n", argv[0]);
    return 2;
  }
  int status = 1;
  fleet_zoneset_t *zones = NULL;
  fleet_ruleset_t *rules = NULL;
  fleet_tracker_t *tracker = NULL;
  size_t len = 0;
  char *text = read_file(argv[1], &len);
  if (!text) {
    perror(argv[1]);
    return 1;
  }
  if (fleet_zoneset_new(&zones) != 0 ||
      fleet_zoneset_load_geojson(zones, text, len, FLEET_ZONESET_LOAD_REPLACE_ALL) != 0) {
    fprintf(stderr, "%s: %s\n", argv[1], fleet_error_last());
    goto out;
  }

  /* One rule, built in code: options structs start from their defaults. */
  fleet_rule_t speeding = FLEET_RULE_INIT;
  speeding.id = "speeding";
  speeding.type = FLEET_RULE_OVERSPEED;
  speeding.threshold = 80.0; /* km/h; zones with a speed_limit property lower it */
  if (fleet_ruleset_new(&rules) != 0 || fleet_ruleset_add(rules, &speeding) != 0) {
    fprintf(stderr, "rules: %s\n", fleet_error_last());
    goto out;
  }

  fleet_tracker_opts_t opts = FLEET_TRACKER_OPTS_INIT;
  opts.zones = zones; /* borrowed: must outlive the tracker */
  opts.rules = rules; /* the tracker takes its own reference */
  if (fleet_tracker_new(&tracker, &opts, on_event, NULL) != 0) {
    fprintf(stderr, "tracker: %s\n", fleet_error_last());
    goto out;
  }

  status = 0;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  unsigned lineno = 0;
  fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
  while ((n = getline(&line, &cap, stdin)) >= 0) {
    lineno++;
    if (n <= 1)
      continue;
    if (fleet_telemetry_parse(&rec, NULL, line, (size_t)n) != 0 ||
        fleet_tracker_feed(tracker, &rec) != 0) {
      fprintf(stderr, "stdin:%u: %s\n", lineno, fleet_error_last());
      status = 1;
    }
  }
  free(line);
  fleet_tracker_flush(tracker, NULL);

out:
  free(text);
  fleet_tracker_free(tracker);
  fleet_ruleset_free(rules);
  fleet_zoneset_free(zones);
  fleet_zone_thread_cleanup();
  return status;
}
