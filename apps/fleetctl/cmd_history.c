/*
 * fleetctl history: one vehicle's positions as CSV, JSON lines or GPX.
 * fleetctl export: every (or some) vehicle's raw telemetry of a time range as
 * JSON lines (re-importable with `fleetctl import`) or CSV.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <fleet/fleet.h>

#include "fleetctl.h"
#include "influxopts.h"

enum format { FMT_CSV, FMT_JSON, FMT_GPX };

typedef struct out_ctx {
  FILE *out;
  enum format fmt;
  fleet_buf_t buf;
  unsigned long points;
  unsigned long skipped;
  const char *cmd;
} out_ctx_t;

/* The CSV columns; import reads the same header. */
static const char csv_header[] = "vehicle_id,ts,lat,lng,speed,heading,ignition,odometer,"
                                 "battery_v,engine_temp,fuel_level,driver_id,fleet_id,"
                                 "device_type,extras\n";
static const char csv_hourly_header[] =
  "vehicle_id,ts,lat,lng,samples,last_ts,speed_mean,speed_max,distance_m,moving_s,idle_s,"
  "fuel_min,fuel_max,battery_min,battery_max,fleet_id,device_type\n";

static int put(fleet_buf_t *b, const char *s)
{
  return fleet_buf_append(b, s, strlen(s));
}

static int put_num(fleet_buf_t *b, double v)
{
  char num[32];
  format_double(num, v);
  return put(b, num);
}

/* A JSON string literal (jansson does the escaping). */
static int put_json_string(fleet_buf_t *b, const char *s)
{
  json_t *j = json_string(s);
  char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
  json_decref(j);
  if (!text)
    return FLEET_ENOMEM;
  int rc = put(b, text);
  free(text);
  return rc;
}

/* RFC 4180: quote a field holding a comma, quote, CR or LF; double the quotes. */
static int put_csv_field(fleet_buf_t *b, const char *s)
{
  if (!strpbrk(s, ",\"\r\n"))
    return put(b, s);
  int rc = fleet_buf_append(b, "\"", 1);
  for (const char *p = s; !rc && *p; p++)
    rc = *p == '"' ? fleet_buf_append(b, "\"\"", 2) : fleet_buf_append(b, p, 1);
  return rc ? rc : fleet_buf_append(b, "\"", 1);
}

static int put_time(fleet_buf_t *b, int64_t ns)
{
  char ts[FLEET_TIME_STRLEN];
  fleet_time_format(ts, ns);
  return put(b, ts);
}

static int json_point(fleet_buf_t *b, const fleet_history_point_t *pt)
{
  fleet_telemetry_json_opts_t jo = FLEET_TELEMETRY_JSON_OPTS_INIT;
  size_t start = b->len;
  int rc = fleet_telemetry_encode_json(b, pt->rec, &jo);
  if (rc)
    return rc;
  /* Splice the tags (and hourly aggregates) in before the closing brace. */
  if (b->len == start || b->ptr[b->len - 1] != '}')
    return FLEET_EINTERNAL;
  b->len--;
  if (pt->fleet_id[0] &&
      ((rc = put(b, ",\"fleet_id\":")) || (rc = put_json_string(b, pt->fleet_id))))
    return rc;
  if (pt->device_type[0] &&
      ((rc = put(b, ",\"device_type\":")) || (rc = put_json_string(b, pt->device_type))))
    return rc;
  const fleet_history_hourly_t *hr = pt->hourly;
  if (hr) {
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)hr->samples);
    if ((rc = put(b, ",\"hourly\":{\"samples\":")) || (rc = put(b, num)))
      return rc;
    if (hr->last_ts_ns && ((rc = put(b, ",\"last_ts\":\"")) ||
                           (rc = put_time(b, hr->last_ts_ns)) || (rc = put(b, "\""))))
      return rc;
    struct {
      unsigned bit;
      const char *name;
      double v;
    } f[] = {
      {FLEET_HISTORY_HOURLY_SPEED_MEAN, "speed_mean", hr->speed_mean_kmh},
      {FLEET_HISTORY_HOURLY_SPEED_MAX, "speed_max", hr->speed_max_kmh},
      {FLEET_HISTORY_HOURLY_DISTANCE, "distance_m", hr->distance_m},
      {FLEET_HISTORY_HOURLY_MOVING, "moving_s", hr->moving_s},
      {FLEET_HISTORY_HOURLY_IDLE, "idle_s", hr->idle_s},
      {FLEET_HISTORY_HOURLY_FUEL, "fuel_min", hr->fuel_min_pct},
      {FLEET_HISTORY_HOURLY_FUEL, "fuel_max", hr->fuel_max_pct},
      {FLEET_HISTORY_HOURLY_BATTERY, "battery_min", hr->battery_min_v},
      {FLEET_HISTORY_HOURLY_BATTERY, "battery_max", hr->battery_max_v},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
      if (!(hr->present & f[i].bit))
        continue;
      if ((rc = put(b, ",\"")) || (rc = put(b, f[i].name)) || (rc = put(b, "\":")) ||
          (rc = put_num(b, f[i].v)))
        return rc;
    }
    if ((rc = put(b, "}")))
      return rc;
  }
  return put(b, "}\n");
}

static int csv_opt(fleet_buf_t *b, const fleet_telemetry_t *r, unsigned bit, double v)
{
  int rc = (r->present & bit) ? put_num(b, v) : 0;
  return rc ? rc : put(b, ",");
}

static int csv_point(fleet_buf_t *b, const fleet_history_point_t *pt)
{
  const fleet_telemetry_t *r = pt->rec;
  int rc;
  if ((rc = put_csv_field(b, r->vehicle_id)) || (rc = put(b, ",")) ||
      (rc = put_time(b, r->ts_ns)) || (rc = put(b, ",")) || (rc = put_num(b, r->lat)) ||
      (rc = put(b, ",")) || (rc = put_num(b, r->lng)) || (rc = put(b, ",")))
    return rc;
  const fleet_history_hourly_t *hr = pt->hourly;
  if (hr) {
    char num[32];
    snprintf(num, sizeof num, "%lld,", (long long)hr->samples);
    if ((rc = put(b, num)))
      return rc;
    if (hr->last_ts_ns && (rc = put_time(b, hr->last_ts_ns)))
      return rc;
    struct {
      unsigned bit;
      double v;
    } f[] = {
      {FLEET_HISTORY_HOURLY_SPEED_MEAN, hr->speed_mean_kmh},
      {FLEET_HISTORY_HOURLY_SPEED_MAX, hr->speed_max_kmh},
      {FLEET_HISTORY_HOURLY_DISTANCE, hr->distance_m},
      {FLEET_HISTORY_HOURLY_MOVING, hr->moving_s},
      {FLEET_HISTORY_HOURLY_IDLE, hr->idle_s},
      {FLEET_HISTORY_HOURLY_FUEL, hr->fuel_min_pct},
      {FLEET_HISTORY_HOURLY_FUEL, hr->fuel_max_pct},
      {FLEET_HISTORY_HOURLY_BATTERY, hr->battery_min_v},
      {FLEET_HISTORY_HOURLY_BATTERY, hr->battery_max_v},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
      if ((rc = put(b, ",")) || ((hr->present & f[i].bit) && (rc = put_num(b, f[i].v))))
        return rc;
    if ((rc = put(b, ",")))
      return rc;
  } else {
    if ((rc = csv_opt(b, r, FLEET_TELEMETRY_SPEED, r->speed_kmh)) ||
        (rc = csv_opt(b, r, FLEET_TELEMETRY_HEADING, r->heading_deg)))
      return rc;
    if ((r->present & FLEET_TELEMETRY_IGNITION) && (rc = put(b, r->ignition ? "true" : "false")))
      return rc;
    if ((rc = put(b, ",")) || (rc = csv_opt(b, r, FLEET_TELEMETRY_ODOMETER, r->odometer_km)) ||
        (rc = csv_opt(b, r, FLEET_TELEMETRY_BATTERY_V, r->battery_v)) ||
        (rc = csv_opt(b, r, FLEET_TELEMETRY_ENGINE_TEMP, r->engine_temp_c)) ||
        (rc = csv_opt(b, r, FLEET_TELEMETRY_FUEL_LEVEL, r->fuel_level_pct)))
      return rc;
    if ((r->present & FLEET_TELEMETRY_DRIVER_ID) && (rc = put_csv_field(b, r->driver_id)))
      return rc;
    if ((rc = put(b, ",")))
      return rc;
  }
  if ((rc = put_csv_field(b, pt->fleet_id)) || (rc = put(b, ",")) ||
      (rc = put_csv_field(b, pt->device_type)))
    return rc;
  if (!hr) {
    if ((rc = put(b, ",")))
      return rc;
    if (pt->rec->n_extras) {
      /* The extras as one JSON object, e.g. {"rpm":2100,"pto":true}. */
      fleet_buf_t x = FLEET_BUF_INIT;
      rc = put(&x, "{");
      for (unsigned i = 0; !rc && i < r->n_extras; i++) {
        const fleet_extra_field_t *e = &r->extras[i];
        if ((i && (rc = put(&x, ","))) || (rc = put_json_string(&x, e->name)) ||
            (rc = put(&x, ":")))
          break;
        rc = e->type == FLEET_EXTRA_BOOL ? put(&x, e->value != 0 ? "true" : "false")
                                         : put_num(&x, e->value);
      }
      if (!rc && !(rc = put(&x, "}")))
        rc = put_csv_field(b, x.ptr);
      fleet_buf_dispose(&x);
      if (rc)
        return rc;
    }
  }
  return put(b, "\n");
}

static int gpx_point(fleet_buf_t *b, const fleet_history_point_t *pt)
{
  int rc;
  if ((rc = put(b, "      <trkpt lat=\"")) || (rc = put_num(b, pt->rec->lat)) ||
      (rc = put(b, "\" lon=\"")) || (rc = put_num(b, pt->rec->lng)) ||
      (rc = put(b, "\"><time>")) || (rc = put_time(b, pt->rec->ts_ns)) ||
      (rc = put(b, "</time></trkpt>\n")))
    return rc;
  return 0;
}

static int on_point(const fleet_history_point_t *pt, void *ud)
{
  out_ctx_t *c = ud;
  fleet_buf_clear(&c->buf);
  int rc;
  switch (c->fmt) {
  case FMT_JSON: rc = json_point(&c->buf, pt); break;
  case FMT_GPX: rc = gpx_point(&c->buf, pt); break;
  default: rc = csv_point(&c->buf, pt); break;
  }
  if (rc == FLEET_ENOMEM)
    return rc;
  if (rc) {
    /* A stored point the encoder refuses (a value out of the payload's range). */
    char ts[FLEET_TIME_STRLEN];
    fleet_time_format(ts, pt->rec->ts_ns);
    fprintf(stderr, "fleetctl %s: skipping the point of %s at %s: %s\n", c->cmd,
            pt->rec->vehicle_id, ts, fleet_error_last());
    c->skipped++;
    return 0;
  }
  if (fwrite(c->buf.ptr, 1, c->buf.len, c->out) != c->buf.len)
    return FLEET_EIO;
  c->points++;
  return 0;
}

/* XML text: escape &, <, > and quotes. */
static void xml_text(FILE *out, const char *s)
{
  for (; *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", out); break;
    case '<': fputs("&lt;", out); break;
    case '>': fputs("&gt;", out); break;
    case '"': fputs("&quot;", out); break;
    default: fputc(*s, out); break;
    }
  }
}

static const char *tier_name(fleet_history_tier_t t)
{
  return t == FLEET_HISTORY_TIER_HOURLY ? "hourly" : "raw";
}

typedef struct common_args {
  influxopts_t o;
  int64_t from_ns, to_ns;
  int have_from, have_to;
  const char *output;
  uint64_t limit;
} common_args_t;

/* Options shared by history and export; 1 consumed, 0 not ours, -1 error. */
static int parse_common(common_args_t *a, const char *cmd, int argc, char **argv, int *i,
                        int64_t now)
{
  int r = influxopts_parse(&a->o, cmd, argc, argv, i);
  if (r)
    return r;
  const char *opt = argv[*i];
  int is_from = !strcmp(opt, "--from"), is_to = !strcmp(opt, "--to");
  if (is_from || is_to || !strcmp(opt, "--output") || !strcmp(opt, "-o") ||
      !strcmp(opt, "--limit")) {
    if (*i + 1 >= argc) {
      fprintf(stderr, "fleetctl %s: %s needs a value\n", cmd, opt);
      return -1;
    }
    const char *v = argv[++*i];
    if (is_from) {
      a->have_from = 1;
      return parse_time_arg(&a->from_ns, v, now, cmd, opt) ? -1 : 1;
    }
    if (is_to) {
      a->have_to = 1;
      return parse_time_arg(&a->to_ns, v, now, cmd, opt) ? -1 : 1;
    }
    if (!strcmp(opt, "--limit")) {
      char *end;
      errno = 0;
      unsigned long long n = strtoull(v, &end, 10);
      if (errno || *end || !*v || v[0] == '-') {
        fprintf(stderr, "fleetctl %s: --limit: '%s' is not a count\n", cmd, v);
        return -1;
      }
      a->limit = n;
      return 1;
    }
    a->output = v;
    return 1;
  }
  return 0;
}

static int finish_common(common_args_t *a, const char *cmd, int64_t now, int64_t def_span)
{
  if (!a->have_to)
    a->to_ns = now;
  if (!a->have_from)
    a->from_ns = a->to_ns - def_span;
  if (a->to_ns <= a->from_ns) {
    fprintf(stderr, "fleetctl %s: --to must be later than --from\n", cmd);
    return -1;
  }
  return influxopts_finish(&a->o, cmd);
}

static FILE *open_output(const char *path, const char *cmd)
{
  if (!path || !strcmp(path, "-"))
    return stdout;
  FILE *f = fopen(path, "w");
  if (!f)
    fprintf(stderr, "fleetctl %s: cannot write %s: %s\n", cmd, path, strerror(errno));
  return f;
}

static int close_output(FILE *f, const char *path, const char *cmd)
{
  int bad = fflush(f) != 0 || ferror(f);
  if (f != stdout)
    bad |= fclose(f) != 0;
  if (bad) {
    fprintf(stderr, "fleetctl %s: writing %s failed\n", cmd, path ? path : "standard output");
    return -1;
  }
  return 0;
}

static void history_usage(FILE *out)
{
  fprintf(out,
          "usage: fleetctl history VEHICLE [--from T] [--to T] [--csv|--json|--gpx]\n"
          "                        [--tier auto|raw|hourly] [--limit N] [--output FILE] "
          "[OPTIONS]\n\n"
          "One vehicle's stored positions, oldest first (default: the last 24 hours, CSV).\n"
          "T is RFC 3339 (2026-05-21T10:30:00Z), now, or relative (-2h, -7d, -1h30m).\n"
          "--tier auto reads the raw tier for ranges up to 2 days within its 7-day\n"
          "retention and the hourly tier otherwise. --json prints one object per point\n"
          "(the device payload format with vehicle_id, fleet_id, device_type); --gpx a\n"
          "GPX 1.1 track.\n\n");
  influxopts_usage(out);
}

int cmd_history(int argc, char **argv)
{
  const char *cmd = "history";
  common_args_t a;
  memset(&a, 0, sizeof a);
  if (influxopts_init(&a.o, cmd))
    return FLEETCTL_USAGE;
  int64_t now = now_ns();
  enum format fmt = FMT_CSV;
  fleet_history_tier_t tier = FLEET_HISTORY_TIER_AUTO;
  const char *vehicle = NULL;
  for (int i = 1; i < argc; i++) {
    int r = parse_common(&a, cmd, argc, argv, &i, now);
    if (r < 0)
      return FLEETCTL_USAGE;
    if (r > 0)
      continue;
    const char *opt = argv[i];
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
      history_usage(stdout);
      return FLEETCTL_OK;
    } else if (!strcmp(opt, "--csv")) {
      fmt = FMT_CSV;
    } else if (!strcmp(opt, "--json")) {
      fmt = FMT_JSON;
    } else if (!strcmp(opt, "--gpx")) {
      fmt = FMT_GPX;
    } else if (!strcmp(opt, "--tier") && i + 1 < argc) {
      const char *v = argv[++i];
      if (!strcmp(v, "auto"))
        tier = FLEET_HISTORY_TIER_AUTO;
      else if (!strcmp(v, "raw"))
        tier = FLEET_HISTORY_TIER_RAW;
      else if (!strcmp(v, "hourly"))
        tier = FLEET_HISTORY_TIER_HOURLY;
      else {
        fprintf(stderr, "fleetctl %s: --tier: '%s' is not auto, raw or hourly\n", cmd, v);
        return FLEETCTL_USAGE;
      }
    } else if (opt[0] == '-' && opt[1]) {
      fprintf(stderr, "fleetctl %s: unknown or incomplete option '%s'\n", cmd, opt);
      history_usage(stderr);
      return FLEETCTL_USAGE;
    } else if (!vehicle) {
      vehicle = opt;
    } else {
      fprintf(stderr, "fleetctl %s: one vehicle at a time ('%s' is extra)\n", cmd, opt);
      return FLEETCTL_USAGE;
    }
  }
  if (!vehicle) {
    fprintf(stderr, "fleetctl %s: which vehicle?\n", cmd);
    history_usage(stderr);
    return FLEETCTL_USAGE;
  }
  if (fleet_vehicle_id_validate(vehicle, strlen(vehicle))) {
    fprintf(stderr, "fleetctl %s: %s\n", cmd, fleet_error_last());
    return FLEETCTL_USAGE;
  }
  if (finish_common(&a, cmd, now, 86400 * INT64_C(1000000000)))
    return FLEETCTL_USAGE;
  fleet_history_t *h;
  if (influxopts_history(&h, &a.o, cmd))
    return FLEETCTL_FAIL;
  /* Decide the tier here, so the CSV header matches the rows. */
  tier = fleet_history_pick_tier(h, tier, a.from_ns, a.to_ns, now);
  FILE *out = open_output(a.output, cmd);
  if (!out) {
    fleet_history_free(h);
    return FLEETCTL_FAIL;
  }
  out_ctx_t c = {out, fmt, FLEET_BUF_INIT, 0, 0, cmd};
  if (fmt == FMT_CSV)
    fputs(tier == FLEET_HISTORY_TIER_HOURLY ? csv_hourly_header : csv_header, out);
  if (fmt == FMT_GPX) {
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<gpx version=\"1.1\" creator=\"fleetctl\" "
          "xmlns=\"http://www.topografix.com/GPX/1/1\">\n  <trk>\n    <name>",
          out);
    xml_text(out, vehicle);
    fputs("</name>\n    <trkseg>\n", out);
  }
  const char *ids[1] = {vehicle};
  fleet_history_filter_t f = FLEET_HISTORY_FILTER_INIT;
  f.from_ns = a.from_ns;
  f.to_ns = a.to_ns;
  f.vehicle_ids = ids;
  f.n_vehicle_ids = 1;
  f.tier = tier;
  f.limit = a.limit;
  int rc = fleet_history_positions(h, &f, on_point, &c);
  if (fmt == FMT_GPX)
    fputs("    </trkseg>\n  </trk>\n</gpx>\n", out);
  int status = FLEETCTL_OK;
  if (rc) {
    fprintf(stderr, "fleetctl %s: %s\n", cmd,
            rc == FLEET_EIO ? "writing the output failed" : fleet_error_last());
    status = FLEETCTL_FAIL;
  }
  if (close_output(out, a.output, cmd))
    status = FLEETCTL_FAIL;
  fprintf(stderr, "history: %lu points of %s from the %s tier%s\n", c.points, vehicle,
          tier_name(tier), c.skipped ? " (some skipped)" : "");
  if (c.skipped)
    status = FLEETCTL_FAIL;
  fleet_buf_dispose(&c.buf);
  fleet_history_free(h);
  return status;
}

static void export_usage(FILE *out)
{
  fprintf(out,
          "usage: fleetctl export [--from T] [--to T] [--vehicle ID]... "
          "[--format jsonl|csv]\n"
          "                       [--limit N] [--output FILE] [OPTIONS]\n\n"
          "The raw telemetry of a time range (default: the last 24 hours), all vehicles\n"
          "or the ones named, oldest first. JSON lines (the default) are the device\n"
          "payload with vehicle_id, fleet_id and device_type: `fleetctl import` reads\n"
          "them back. CSV has a header line.\n\n");
  influxopts_usage(out);
}

int cmd_export(int argc, char **argv)
{
  const char *cmd = "export";
  common_args_t a;
  memset(&a, 0, sizeof a);
  if (influxopts_init(&a.o, cmd))
    return FLEETCTL_USAGE;
  int64_t now = now_ns();
  enum format fmt = FMT_JSON;
  const char **ids = calloc((size_t)argc, sizeof *ids);
  size_t nids = 0;
  int status = FLEETCTL_USAGE;
  if (!ids) {
    fprintf(stderr, "fleetctl %s: out of memory\n", cmd);
    return FLEETCTL_FAIL;
  }
  for (int i = 1; i < argc; i++) {
    int r = parse_common(&a, cmd, argc, argv, &i, now);
    if (r < 0)
      goto out;
    if (r > 0)
      continue;
    const char *opt = argv[i];
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
      export_usage(stdout);
      status = FLEETCTL_OK;
      goto out;
    } else if (!strcmp(opt, "--vehicle") && i + 1 < argc) {
      const char *v = argv[++i];
      if (fleet_vehicle_id_validate(v, strlen(v))) {
        fprintf(stderr, "fleetctl %s: --vehicle: %s\n", cmd, fleet_error_last());
        goto out;
      }
      ids[nids++] = v;
    } else if (!strcmp(opt, "--format") && i + 1 < argc) {
      const char *v = argv[++i];
      if (!strcmp(v, "jsonl") || !strcmp(v, "json"))
        fmt = FMT_JSON;
      else if (!strcmp(v, "csv"))
        fmt = FMT_CSV;
      else {
        fprintf(stderr, "fleetctl %s: --format: '%s' is not jsonl or csv\n", cmd, v);
        goto out;
      }
    } else {
      fprintf(stderr, "fleetctl %s: unknown or incomplete option '%s'\n", cmd, opt);
      export_usage(stderr);
      goto out;
    }
  }
  if (nids > FLEET_HISTORY_MAX_VEHICLES) {
    fprintf(stderr, "fleetctl %s: at most %d vehicles\n", cmd, FLEET_HISTORY_MAX_VEHICLES);
    goto out;
  }
  if (finish_common(&a, cmd, now, 86400 * INT64_C(1000000000)))
    goto out;
  status = FLEETCTL_FAIL;
  fleet_history_t *h;
  if (influxopts_history(&h, &a.o, cmd))
    goto out;
  FILE *outf = open_output(a.output, cmd);
  if (!outf) {
    fleet_history_free(h);
    goto out;
  }
  out_ctx_t c = {outf, fmt, FLEET_BUF_INIT, 0, 0, cmd};
  if (fmt == FMT_CSV)
    fputs(csv_header, outf);
  fleet_history_filter_t f = FLEET_HISTORY_FILTER_INIT;
  f.from_ns = a.from_ns;
  f.to_ns = a.to_ns;
  f.vehicle_ids = nids ? ids : NULL;
  f.n_vehicle_ids = nids;
  f.tier = FLEET_HISTORY_TIER_RAW;
  f.limit = a.limit;
  int rc = fleet_history_positions(h, &f, on_point, &c);
  status = FLEETCTL_OK;
  if (rc) {
    fprintf(stderr, "fleetctl %s: %s\n", cmd,
            rc == FLEET_EIO ? "writing the output failed" : fleet_error_last());
    status = FLEETCTL_FAIL;
  }
  if (close_output(outf, a.output, cmd))
    status = FLEETCTL_FAIL;
  fprintf(stderr, "export: %lu points%s\n", c.points, c.skipped ? " (some skipped)" : "");
  if (c.skipped)
    status = FLEETCTL_FAIL;
  fleet_buf_dispose(&c.buf);
  fleet_history_free(h);
out:
  free(ids);
  return status;
}
