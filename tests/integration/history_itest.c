/*
 * The history reader against a real influxd, driven by test_fleetctl_storage.sh,
 * which starts the server, loads the data and passes, in the environment:
 *   FLEET_INFLUX_URL   the server
 *   HX_FX_DB           database holding the imported fixture (history_fixture.*)
 *   HX_STREAM_DB       database holding HX_STREAM_N points of vehicle stream-v,
 *   HX_STREAM_T0       the first at T0 ns, then one per millisecond, lat = i/1000 - 10
 *   HX_EVENTS_DB       database holding the trips, geofence events and alerts
 *                      written by the script (see expectations below)
 * With arguments `mkspool DIR` it instead fills a spool directory with two
 * records of line protocol for `fleetctl spool status|replay`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fleet/fleet.h>

#define NS INT64_C(1000000000)

static const char *env(const char *name)
{
  const char *v = getenv(name);
  if (!v || !*v) {
    fprintf(stderr, "history_itest: %s is not set\n", name);
    exit(2);
  }
  return v;
}

static fleet_history_t *open_reader(const char *raw_db, const char *events_db,
                                    unsigned int chunk_size)
{
  fleet_influx_config_t cfg = FLEET_INFLUX_CONFIG_INIT;
  snprintf(cfg.url, sizeof cfg.url, "%s", env("FLEET_INFLUX_URL"));
  fleet_history_opts_t o;
  assert_int_equal(fleet_history_opts_init(&o, FLEET_HISTORY_OPTS_VERSION), 0);
  o.raw_db = raw_db;
  o.events_db = events_db;
  o.chunk_size = chunk_size;
  fleet_history_t *h = NULL;
  assert_int_equal(fleet_history_new(&h, &cfg, &o), 0);
  return h;
}

/* ---- Streaming a range of many chunks ---- */

typedef struct stream_ctx {
  fleet_history_t *h;
  uint64_t rows;
  int64_t t0;
  fleet_history_stats_t at_first; /* progress when the first row arrived */
  uint64_t bad;
} stream_ctx_t;

static int on_stream_point(const fleet_history_point_t *pt, void *ud)
{
  stream_ctx_t *c = ud;
  if (c->rows == 0)
    fleet_history_stats(&c->at_first, c->h);
  double want = (double)c->rows / 1000.0 - 10.0;
  if (pt->rec->ts_ns != c->t0 + (int64_t)c->rows * 1000000 || pt->rec->lat != want ||
      strcmp(pt->rec->vehicle_id, "stream-v") != 0 || pt->tier != FLEET_HISTORY_TIER_RAW)
    c->bad++;
  c->rows++;
  return 0;
}

static void test_stream_many_chunks(void **state)
{
  (void)state;
  uint64_t n = strtoull(env("HX_STREAM_N"), NULL, 10);
  int64_t t0 = strtoll(env("HX_STREAM_T0"), NULL, 10);
  fleet_history_t *h = open_reader(env("HX_STREAM_DB"), NULL, 1000);
  const char *ids[] = {"stream-v"};
  fleet_history_filter_t f = FLEET_HISTORY_FILTER_INIT;
  f.from_ns = t0;
  f.to_ns = t0 + (int64_t)n * 1000000;
  f.vehicle_ids = ids;
  f.n_vehicle_ids = 1;
  f.tier = FLEET_HISTORY_TIER_RAW;
  stream_ctx_t c;
  memset(&c, 0, sizeof c);
  c.h = h;
  c.t0 = t0;
  assert_int_equal(fleet_history_positions(h, &f, on_stream_point, &c), 0);
  fleet_history_stats_t end;
  fleet_history_stats(&end, h);
  assert_int_equal(c.rows, n);
  assert_int_equal(c.bad, 0);
  assert_int_equal(end.rows, n);
  /* chunk_size 1000: the server sent one JSON document per 1000 rows. */
  assert_int_equal(end.chunks, (n + 999) / 1000);
  /* Rows reached the callback while the answer was still arriving: after the
   * first document, with a small part of the body read. */
  assert_int_equal(c.at_first.chunks, 1);
  assert_true(c.at_first.bytes < end.bytes / 4);
  /* Memory stayed bounded by one chunk, not the whole answer. */
  assert_true(end.max_chunk_bytes * 10 < end.bytes);
  printf("# streamed %" PRIu64 " rows in %" PRIu64 " chunks, %" PRIu64
         " bytes, largest chunk %" PRIu64 " bytes\n",
         end.rows, end.chunks, end.bytes, end.max_chunk_bytes);

  /* A limit stops the server early. */
  f.limit = 1500;
  memset(&c, 0, sizeof c);
  c.h = h;
  c.t0 = t0;
  assert_int_equal(fleet_history_positions(h, &f, on_stream_point, &c), 0);
  assert_int_equal(c.rows, 1500);
  assert_int_equal(c.bad, 0);
  fleet_history_free(h);
}

/* ---- Injection ---- */

static int count_row(const fleet_history_row_t *row, void *ud)
{
  (void)row;
  (*(int *)ud)++;
  return 0;
}

static int count_in(fleet_history_t *h, const char *db, const char *prefix, const char *tail,
                    const char *literal, int ident)
{
  fleet_buf_t q = FLEET_BUF_INIT;
  assert_int_equal(fleet_buf_append(&q, prefix, strlen(prefix)), 0);
  if (ident)
    assert_int_equal(fleet_history_quote_ident(&q, literal), 0);
  else
    assert_int_equal(fleet_history_quote_string(&q, literal), 0);
  assert_int_equal(fleet_buf_append(&q, tail, strlen(tail)), 0);
  int n = 0;
  int rc = fleet_history_query(h, db, q.ptr, count_row, &n);
  fleet_buf_dispose(&q);
  assert_int_equal(rc, 0);
  return n;
}

static int never(const fleet_history_point_t *pt, void *ud)
{
  (void)pt;
  (void)ud;
  fail();
  return 0;
}

static void test_injection(void **state)
{
  (void)state;
  const char *db = env("HX_FX_DB");
  fleet_history_t *h = open_reader(db, NULL, 0);
  const char *sel = "SELECT * FROM \"telemetry\" WHERE \"fleet_id\" = ";
  /* The hostile value stored by the import matches itself exactly, once. */
  assert_int_equal(count_in(h, db, sel, "", "fleet, one=1 \"q\" a\\b 'x'", 0), 1);
  /* Classic breakouts are just strings that match nothing. */
  static const char *const attacks[] = {
    "x' OR '1'='1",
    "x' OR \"fleet_id\" =~ /.*/ OR 'a'='a",
    "x'; DROP DATABASE \"fx\"; --",
    "\\' OR 1=1 --",
    "fleet, one=1 \"q\" a\\b 'x",
  };
  for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++)
    assert_int_equal(count_in(h, db, sel, "", attacks[i], 0), 0);
  /* Identifiers too: a measurement named like an attack simply does not exist. */
  assert_int_equal(count_in(h, db, "SELECT * FROM ", "", "telemetry\" WHERE 1=1 --", 1), 0);
  assert_int_equal(count_in(h, db, "SELECT * FROM ", " WHERE \"fleet_id\" = 'f2'",
                            "telemetry", 1),
                   1);
  /* The database survived all of it. */
  assert_int_equal(count_in(h, db, "SELECT * FROM \"telemetry\" WHERE \"vehicle_id\" = ", "",
                            "v-001", 0),
                   2);
  /* Hostile vehicle ids never reach the server. */
  static const char *const bad_ids[] = {"v-001' OR '1'='1", "v-001\" OR 1=1", "v 1", "v\\"};
  for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
    const char *ids[] = {bad_ids[i]};
    fleet_history_filter_t f = FLEET_HISTORY_FILTER_INIT;
    f.from_ns = 0;
    f.to_ns = INT64_MAX;
    f.vehicle_ids = ids;
    f.n_vehicle_ids = 1;
    assert_int_equal(fleet_history_positions(h, &f, never, NULL), FLEET_EINVAL);
  }
  fleet_history_free(h);
}

/* ---- Last known positions ---- */

typedef struct last_ctx {
  char text[2048];
  size_t len;
} last_ctx_t;

static int on_last(const fleet_history_point_t *pt, void *ud)
{
  last_ctx_t *c = ud;
  char ts[FLEET_TIME_STRLEN];
  fleet_time_format(ts, pt->rec->ts_ns);
  c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len, "%s %s %.10g %s|%s\n",
                             pt->rec->vehicle_id, ts, pt->rec->lat, pt->fleet_id,
                             pt->device_type);
  return 0;
}

static void test_last_positions(void **state)
{
  (void)state;
  fleet_history_t *h = open_reader(env("HX_FX_DB"), NULL, 0);
  fleet_history_filter_t f = FLEET_HISTORY_FILTER_INIT;
  last_ctx_t c;
  memset(&c, 0, sizeof c);
  assert_int_equal(fleet_history_last_positions(h, &f, on_last, &c), 0);
  assert_string_equal(c.text, "csv-1 2026-05-21T11:01:00Z 10.6 |\n"
                              "truck_7.A 2026-05-21T10:33:00.123456789Z 0 |a=b,c d\n"
                              "v-001 2026-05-21T10:31:00.500Z -0.5 |\n"
                              "v-002 2026-05-21T10:34:00Z 1e-07 |\n");
  /* Restricted to some vehicles and to a range. */
  const char *ids[] = {"v-002", "v-001"};
  f.vehicle_ids = ids;
  f.n_vehicle_ids = 2;
  assert_int_equal(fleet_time_parse(&f.from_ns, "2026-05-21T10:00:00Z", 20), 0);
  assert_int_equal(fleet_time_parse(&f.to_ns, "2026-05-21T10:33:00Z", 20), 0);
  memset(&c, 0, sizeof c);
  assert_int_equal(fleet_history_last_positions(h, &f, on_last, &c), 0);
  assert_string_equal(c.text, "v-001 2026-05-21T10:31:00.500Z -0.5 |\n"
                              "v-002 2026-05-21T10:32:00.000001Z -89.999999 f2|obd\n");
  fleet_history_free(h);
}

/* ---- Events ---- */

typedef struct ev_ctx {
  char text[4096];
  size_t len;
} ev_ctx_t;

static int on_trip(const fleet_history_trip_t *t, void *ud)
{
  ev_ctx_t *c = ud;
  c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len,
                             "%s %" PRId64 "-%" PRId64 " %g m %g s mv %g idle %g max %g avg %g "
                             "fuel %d:%g (%g,%g)->(%g,%g)\n",
                             t->vehicle_id, t->start_ns, t->end_ns, t->distance_m, t->duration_s,
                             t->moving_s, t->idle_s, t->max_speed_kmh, t->avg_speed_kmh,
                             t->has_fuel, t->fuel_l, t->start_lat, t->start_lng, t->end_lat,
                             t->end_lng);
  return 0;
}

static int on_zone(const fleet_history_zone_event_t *e, void *ud)
{
  ev_ctx_t *c = ud;
  c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len,
                             "%s %" PRId64 " %s [%s] [%s] dwell %g pos %d\n", e->vehicle_id,
                             e->ts_ns, e->enter ? "enter" : "exit", e->zone_id, e->zone_name,
                             e->dwell_s, e->has_position);
  return 0;
}

static int on_alert(const fleet_history_alert_t *a, void *ud)
{
  ev_ctx_t *c = ud;
  c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len,
                             "%s %" PRId64 " %s %s %s [%s] %g/%g zone [%s] pos %d\n",
                             a->vehicle_id, a->ts_ns, a->rule, a->type, a->severity, a->message,
                             a->value, a->limit, a->zone_id, a->has_position);
  return 0;
}

static int abort_trip(const fleet_history_trip_t *t, void *ud)
{
  (void)t;
  (*(int *)ud)++;
  return -77;
}

static void test_events(void **state)
{
  (void)state;
  fleet_history_t *h = open_reader(NULL, env("HX_EVENTS_DB"), 0);
  fleet_history_filter_t f = FLEET_HISTORY_FILTER_INIT;
  f.from_ns = 1000 * NS;
  f.to_ns = 2000 * NS;
  ev_ctx_t c;
  memset(&c, 0, sizeof c);
  assert_int_equal(fleet_history_trips(h, &f, on_trip, &c), 0);
  assert_string_equal(c.text,
                      "v-001 1000000000000-1600000000000 5400.5 m 600 s mv 540 idle 60 max 92.5 "
                      "avg 32.403 fuel 1:0.75 (23.8,90.4)->(23.9,90.5)\n"
                      "v-002 1500000000000-1700000000000 100 m 200 s mv 20 idle 180 max 10 avg "
                      "1.8 fuel 0:0 (1,2)->(1.001,2.001)\n");
  const char *only[] = {"v-002"};
  f.vehicle_ids = only;
  f.n_vehicle_ids = 1;
  memset(&c, 0, sizeof c);
  assert_int_equal(fleet_history_trips(h, &f, on_trip, &c), 0);
  assert_int_equal(strncmp(c.text, "v-002 ", 6), 0);
  assert_null(strstr(c.text, "v-001"));
  f.vehicle_ids = NULL;
  f.n_vehicle_ids = 0;

  memset(&c, 0, sizeof c);
  assert_int_equal(fleet_history_zone_events(h, &f, on_zone, &c), 0);
  assert_string_equal(c.text, "v-001 1100000000000 enter [depot-1] [Depot \"North\", gate 2] "
                              "dwell 0 pos 1\n"
                              "v-001 1400000000000 exit [depot-1] [Depot \"North\", gate 2] "
                              "dwell 300 pos 1\n");
  memset(&c, 0, sizeof c);
  assert_int_equal(fleet_history_alerts(h, &f, on_alert, &c), 0);
  assert_string_equal(c.text,
                      "v-001 1200000000000 speed-80 overspeed critical [speed 96.5 km/h over "
                      "limit 80 km/h] 96.5/80 zone [] pos 1\n"
                      "v-002 1300000000000 zone-watch zone_exit info [left 'yard'] 0/0 zone "
                      "[yard] pos 0\n");
  /* A callback's non-zero return stops the stream and comes back unchanged. */
  int calls = 0;
  assert_int_equal(fleet_history_trips(h, &f, abort_trip, &calls), -77);
  assert_int_equal(calls, 1);
  fleet_history_free(h);
}

/* ---- Errors from the server ---- */

static void test_server_errors(void **state)
{
  (void)state;
  fleet_history_t *h = open_reader(NULL, NULL, 0);
  assert_int_equal(fleet_history_query(h, "no_such_db", "SELECT * FROM \"x\"", NULL, NULL),
                   FLEET_ENOTFOUND);
  assert_string_equal(fleet_error_last(), "influxdb: database not found: no_such_db");
  assert_int_equal(fleet_history_query(h, env("HX_FX_DB"), "SELECT * FROM", NULL, NULL),
                   FLEET_EPARSE);
  assert_non_null(strstr(fleet_error_last(), "error parsing query"));
  fleet_history_free(h);
}

/* ---- Retention setup through the library ---- */

static void test_ensure_database(void **state)
{
  (void)state;
  fleet_history_t *h = open_reader(NULL, NULL, 0);
  fleet_history_ensure_result_t r = (fleet_history_ensure_result_t)-1;
  assert_int_equal(fleet_history_ensure_database(&r, h, "hx ensure \"db\"", "keep_2d",
                                                 2 * 86400),
                   0);
  assert_int_equal(r, FLEET_HISTORY_ENSURE_CREATED);
  assert_int_equal(fleet_history_ensure_database(&r, h, "hx ensure \"db\"", "keep_2d",
                                                 2 * 86400),
                   0);
  assert_int_equal(r, FLEET_HISTORY_ENSURE_UNCHANGED);
  assert_int_equal(fleet_history_ensure_database(&r, h, "hx ensure \"db\"", "keep_2d", 3600),
                   0);
  assert_int_equal(r, FLEET_HISTORY_ENSURE_ALTERED);
  /* Read it back: SHOW RETENTION POLICIES lists the policy as the default, 1h. */
  fleet_buf_t q = FLEET_BUF_INIT;
  assert_int_equal(fleet_buf_append(&q, "SHOW RETENTION POLICIES ON ", 27), 0);
  assert_int_equal(fleet_history_quote_ident(&q, "hx ensure \"db\""), 0);
  int n = 0;
  assert_int_equal(fleet_history_query(h, "hx ensure \"db\"", q.ptr, count_row, &n), 0);
  assert_int_equal(n, 2); /* autogen and keep_2d */
  fleet_buf_dispose(&q);
  fleet_history_free(h);
}

static int make_spool(const char *dir)
{
  fleet_spool_t *sp;
  if (fleet_spool_open(&sp, dir, NULL)) {
    fprintf(stderr, "mkspool: %s\n", fleet_error_last());
    return 1;
  }
  static const char *const recs[] = {
    "telemetry,vehicle_id=spool-v lat=1.5,lng=2.5 1779359400000000000\n"
    "telemetry,vehicle_id=spool-v lat=1.6,lng=2.6 1779359300000000000\n",
    "telemetry,vehicle_id=spool-v lat=1.7,lng=2.7 1779359500000000000\n",
  };
  int rc = 0;
  for (size_t i = 0; i < 2 && !rc; i++)
    rc = fleet_spool_append(NULL, sp, recs[i], strlen(recs[i]));
  if (!rc)
    rc = fleet_spool_sync(sp);
  if (rc)
    fprintf(stderr, "mkspool: %s\n", fleet_error_last());
  fleet_spool_free(sp);
  return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
  if (argc == 3 && !strcmp(argv[1], "mkspool"))
    return make_spool(argv[2]);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_stream_many_chunks),
    cmocka_unit_test(test_injection),
    cmocka_unit_test(test_last_positions),
    cmocka_unit_test(test_events),
    cmocka_unit_test(test_server_errors),
    cmocka_unit_test(test_ensure_database),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
