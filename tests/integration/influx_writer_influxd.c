/*
 * The InfluxDB writer against a real influxd 1.x (Debian's), started by
 * influxd.sh in a temporary directory on free loopback ports:
 * - 100,000 points written and counted back exactly;
 * - every field type and hostile names and values read back exactly;
 * - influxd stopped in the middle of a stream and started again: every point
 *   arrives, and the counters show no sends beyond the retries;
 * - a durable writer process killed with SIGKILL, and a new writer on the
 *   same spool replaying: exact count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fleet/influx.h"
#include "fleet/lineproto.h"
#include "fleet/spool.h"
#include "influx_harness.h"

typedef struct group {
  char dir[512];
  char idir[600];
  ih_server_t srv;
} group_t;

static group_t G;

static int group_setup(void **state)
{
  (void)state;
  if (ih_tmpdir(G.dir, sizeof G.dir, "influxd"))
    return -1;
  snprintf(G.idir, sizeof G.idir, "%s/influxd", G.dir);
  if (ih_influxd_start(&G.srv, G.idir))
    return -1;
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  ih_influxd_stop(&G.srv);
  if (!getenv("FLEET_TEST_KEEP"))
    ih_rmrf(G.dir);
  return 0;
}

static void create_db(const char *db)
{
  char q[128];
  snprintf(q, sizeof q, "CREATE DATABASE \"%s\"", db);
  json_t *j = ih_influx_query(G.srv.url, NULL, q);
  assert_non_null(j);
  json_decref(j);
}

static void writer_cfg(fleet_influx_config_t *cfg, const char *db)
{
  fleet_influx_config_init(cfg, FLEET_INFLUX_CONFIG_VERSION);
  snprintf(cfg->url, sizeof cfg->url, "%s", G.srv.url);
  snprintf(cfg->database, sizeof cfg->database, "%s", db);
}

static fleet_influx_writer_stats_t stats(fleet_influx_writer_t *w)
{
  fleet_influx_writer_stats_t st = FLEET_INFLUX_WRITER_STATS_INIT;
  assert_int_equal(fleet_influx_writer_get_stats(&st, w), 0);
  return st;
}

/* Lines m,vehicle_id=v<i%50> speed=<i>,seq=<i>i <base+i> for i in [from, to). */
static void make_lines(fleet_buf_t *b, int64_t base, int from, int to)
{
  fleet_buf_clear(b);
  for (int i = from; i < to; i++) {
    char line[160];
    int n = snprintf(line, sizeof line, "m,vehicle_id=v%d speed=%d.5,seq=%di %" PRId64 "\n",
                     i % 50, i, i, base + i);
    assert_int_equal(fleet_buf_append(b, line, (size_t)n), 0);
  }
}

/* 1700000000 s: a fixed, recent epoch; the database has no retention limit. */
#define T0 INT64_C(1700000000000000000)

static void test_100k_points_counted_back(void **state)
{
  (void)state;
  create_db("hundredk");
  fleet_influx_config_t cfg;
  writer_cfg(&cfg, "hundredk");
  fleet_influx_writer_opts_t o = FLEET_INFLUX_WRITER_OPTS_INIT;
  o.flush_interval_ms = 100;
  fleet_influx_writer_t *w = NULL;
  assert_int_equal(fleet_influx_writer_new(&w, &cfg, &o), 0);
  fleet_buf_t b = FLEET_BUF_INIT;
  for (int k = 0; k < 100; k++) {
    make_lines(&b, T0, k * 1000, k * 1000 + 1000);
    assert_int_equal(fleet_influx_writer_write_lines(w, b.ptr, b.len), 0);
  }
  assert_int_equal(fleet_influx_writer_flush(w, 60000), 0);
  fleet_influx_writer_stats_t st = stats(w);
  assert_int_equal(st.points_enqueued, 100000);
  assert_int_equal(st.points_written, 100000);
  assert_int_equal(st.points_sent, 100000);
  assert_int_equal(st.batches_written, 20); /* 5,000 points per batch */
  assert_int_equal(st.retries, 0);
  assert_int_equal(st.points_dead_lettered, 0);
  assert_true(st.bytes_sent < st.bytes_raw / 3); /* gzip */
  assert_int_equal(fleet_influx_writer_close(w, 5000), 0);
  fleet_influx_writer_free(w);
  assert_int_equal(ih_influx_count(G.srv.url, "hundredk", "seq", "m", NULL), 100000);
  assert_int_equal(ih_influx_count(G.srv.url, "hundredk", "seq", "m", "vehicle_id = 'v7'"),
                   2000);
  fleet_buf_dispose(&b);
}

/* Column `name` of row `row` in a /query answer's first series. */
static json_t *cell(json_t *answer, size_t row, const char *name)
{
  json_t *series = json_array_get(
    json_object_get(json_array_get(json_object_get(answer, "results"), 0), "series"), 0);
  json_t *cols = json_object_get(series, "columns");
  size_t i;
  json_t *c;
  json_array_foreach(cols, i, c) {
    if (strcmp(json_string_value(c), name) == 0)
      return json_array_get(json_array_get(json_object_get(series, "values"), row), i);
  }
  return NULL;
}

static size_t rows(json_t *answer)
{
  json_t *series = json_array_get(
    json_object_get(json_array_get(json_object_get(answer, "results"), 0), "series"), 0);
  return json_array_size(json_object_get(series, "values"));
}

static const char *const hostile[] = {
  "plain",
  "with space",
  "comma,inside",
  "equals=sign",
  "quote\"double",
  "quote'single",
  "back\\slash",
  "all of , = \" ' \\x at once",
  "unicode \xc3\xbcn\xc3\xaf\xc3\xa7\xc3\xb8" "d\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x9a\x9a",
};

/* Every field type, hostile measurement/tag/field names and values, exact
 * nanosecond timestamps: what InfluxDB returns is what was written. */
static void test_round_trip_types_and_hostile_values(void **state)
{
  (void)state;
  create_db("roundtrip");
  fleet_influx_config_t cfg;
  writer_cfg(&cfg, "roundtrip");
  fleet_influx_writer_opts_t o = FLEET_INFLUX_WRITER_OPTS_INIT;
  o.flush_interval_ms = 50;
  fleet_influx_writer_t *w = NULL;
  assert_int_equal(fleet_influx_writer_new(&w, &cfg, &o), 0);

  const char *meas = "hostile meas,x";
  const double floats[] = {0.1, -1e-300, 1.7976931348623157e308, 123456.789, -0.0, 5e-324};
  const int64_t ints[] = {INT64_MIN, INT64_MAX, 0, -1, 42, 1};
  const size_t n = sizeof hostile / sizeof hostile[0];
  fleet_buf_t b = FLEET_BUF_INIT;
  for (size_t i = 0; i < n; i++) {
    fleet_lp_point_t pt;
    fleet_buf_clear(&b);
    fleet_lp_begin(&pt, &b, meas);
    fleet_lp_add_tag(&pt, "case", hostile[i]);
    fleet_lp_add_tag(&pt, "tag key,= x", hostile[(i + 1) % n]);
    fleet_lp_add_float(&pt, "f", floats[i % 6]);
    fleet_lp_add_int(&pt, "i", ints[i % 6]);
    fleet_lp_add_bool(&pt, "b", (int)(i % 2));
    fleet_lp_add_string(&pt, "s", hostile[(i + 2) % n]);
    fleet_lp_add_string(&pt, "field key,= x", hostile[i]);
    if (fleet_lp_end(&pt, T0 + (int64_t)i * 1000 + 7))
      fail_msg("point %zu: %s", i, fleet_error_last());
    assert_int_equal(fleet_influx_writer_write_lines(w, b.ptr, b.len), 0);
  }

  /* A telemetry record through the writer's own encoder call. */
  fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
  snprintf(rec.vehicle_id, sizeof rec.vehicle_id, "v-001");
  rec.ts_ns = T0 + 123456789;
  rec.lat = 23.8103;
  rec.lng = 90.4125;
  rec.present = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_IGNITION | FLEET_TELEMETRY_DRIVER_ID |
                FLEET_TELEMETRY_FUEL_LEVEL;
  rec.speed_kmh = 45.2;
  rec.ignition = 1;
  rec.fuel_level_pct = 63;
  snprintf(rec.driver_id, sizeof rec.driver_id, "driver \"7\", \\ok");
  const fleet_lp_tag_t tags[] = {{"fleet_id", "fleet one"}, {"device_type", "gps,can"}};
  assert_int_equal(fleet_influx_writer_write_telemetry(w, &rec, NULL, tags, 2), 0);

  assert_int_equal(fleet_influx_writer_flush(w, 10000), 0);
  fleet_influx_writer_stats_t st = stats(w);
  assert_int_equal(st.points_written, n + 1);
  assert_int_equal(st.points_dead_lettered, 0);
  fleet_influx_writer_free(w);

  json_t *a = ih_influx_query(G.srv.url, "roundtrip",
                              "SELECT * FROM \"hostile meas,x\" ORDER BY time");
  assert_non_null(a);
  assert_int_equal(rows(a), n);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(json_integer_value(cell(a, i, "time")), T0 + (int64_t)i * 1000 + 7);
    assert_string_equal(json_string_value(cell(a, i, "case")), hostile[i]);
    assert_string_equal(json_string_value(cell(a, i, "tag key,= x")), hostile[(i + 1) % n]);
    json_t *f = cell(a, i, "f");
    assert_true(json_is_number(f));
    double want = floats[i % 6];
    assert_true(json_number_value(f) == want);
    assert_true(json_is_integer(cell(a, i, "i")));
    assert_true(json_integer_value(cell(a, i, "i")) == ints[i % 6]);
    assert_true(json_is_boolean(cell(a, i, "b")));
    assert_int_equal(json_is_true(cell(a, i, "b")), (int)(i % 2));
    assert_string_equal(json_string_value(cell(a, i, "s")), hostile[(i + 2) % n]);
    assert_string_equal(json_string_value(cell(a, i, "field key,= x")), hostile[i]);
  }
  json_decref(a);

  a = ih_influx_query(G.srv.url, "roundtrip", "SELECT * FROM telemetry");
  assert_non_null(a);
  assert_int_equal(rows(a), 1);
  assert_int_equal(json_integer_value(cell(a, 0, "time")), T0 + 123456789);
  assert_string_equal(json_string_value(cell(a, 0, "vehicle_id")), "v-001");
  assert_string_equal(json_string_value(cell(a, 0, "fleet_id")), "fleet one");
  assert_string_equal(json_string_value(cell(a, 0, "device_type")), "gps,can");
  assert_true(json_number_value(cell(a, 0, "lat")) == 23.8103);
  assert_true(json_number_value(cell(a, 0, "lng")) == 90.4125);
  assert_true(json_number_value(cell(a, 0, "speed")) == 45.2);
  assert_true(json_number_value(cell(a, 0, "fuel_level")) == 63.0);
  assert_true(json_is_true(cell(a, 0, "ignition")));
  assert_string_equal(json_string_value(cell(a, 0, "driver_id")), "driver \"7\", \\ok");
  assert_true(json_is_null(cell(a, 0, "heading")) || !cell(a, 0, "heading"));
  json_decref(a);
  fleet_buf_dispose(&b);
}

/* influxd goes away in the middle of a stream and comes back on the same
 * port: every point arrives; nothing was sent more often than the retries
 * explain. */
static void test_influxd_restart_midstream(void **state)
{
  (void)state;
  create_db("restart");
  char spool[700];
  snprintf(spool, sizeof spool, "%s/spool-restart", G.dir);
  fleet_influx_config_t cfg;
  writer_cfg(&cfg, "restart");
  cfg.timeout_ms = 2000;
  fleet_influx_writer_opts_t o = FLEET_INFLUX_WRITER_OPTS_INIT;
  o.batch_max_points = 1000;
  o.flush_interval_ms = 50;
  o.retry_initial_ms = 100;
  o.retry_max_ms = 400;
  o.spool_dir = spool;
  fleet_influx_writer_t *w = NULL;
  assert_int_equal(fleet_influx_writer_new(&w, &cfg, &o), 0);

  const int total = 30000, chunk = 500;
  fleet_buf_t b = FLEET_BUF_INIT;
  int stopped = 0, restarted = 0;
  for (int i = 0; i < total; i += chunk) {
    make_lines(&b, T0, i, i + chunk);
    assert_int_equal(fleet_influx_writer_write_lines(w, b.ptr, b.len), 0);
    ih_sleep_ms(20);
    if (i == 8000) {
      ih_influxd_stop(&G.srv);
      stopped = 1;
    }
    if (i == 20000) {
      fleet_influx_writer_stats_t st = stats(w);
      assert_true(st.net_errors >= 1);
      assert_true(st.spool_records >= 1);
      assert_int_equal(ih_influxd_start(&G.srv, G.idir), 0);
      restarted = 1;
    }
  }
  assert_true(stopped && restarted);
  assert_int_equal(fleet_influx_writer_flush(w, 60000), 0);
  fleet_influx_writer_stats_t st = stats(w);
  assert_int_equal(st.points_enqueued, total);
  assert_int_equal(st.points_written, total);
  assert_int_equal(st.points_dead_lettered, 0);
  assert_true(st.retries >= 1);
  assert_true(st.batches_replayed >= 1);
  /* Each point was sent once, plus once per failed attempt that carried it. */
  assert_int_equal(st.points_sent, st.points_written + st.points_retried);
  assert_int_equal(st.spool_records, 0);
  fleet_influx_writer_free(w);
  assert_int_equal(ih_influx_count(G.srv.url, "restart", "seq", "m", NULL), total);
  fleet_buf_dispose(&b);
}

/* A durable writer (write-ahead, fsync always) in a child process is killed
 * with SIGKILL right after its last write call returned, with data still
 * undelivered; a new writer on the same spool delivers all of it. */
static void test_sigkill_durable_replay(void **state)
{
  (void)state;
  create_db("killed");
  char spool[700];
  snprintf(spool, sizeof spool, "%s/spool-killed", G.dir);
  fleet_influx_config_t cfg;
  writer_cfg(&cfg, "killed");
  const int total = 21234, chunk = 200;

  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(pfd[0]);
    fleet_spool_options_t so = FLEET_SPOOL_OPTIONS_INIT;
    so.fsync_policy = FLEET_SPOOL_FSYNC_ALWAYS;
    fleet_influx_writer_opts_t o = FLEET_INFLUX_WRITER_OPTS_INIT;
    o.durable = 1;
    o.spool_dir = spool;
    o.spool_opts = &so;
    o.flush_interval_ms = 10000; /* the last, partial batch waits: undelivered at the kill */
    fleet_influx_writer_t *w = NULL;
    if (fleet_influx_writer_new(&w, &cfg, &o))
      _exit(2);
    fleet_buf_t b = FLEET_BUF_INIT;
    for (int i = 0; i < total; i += chunk) {
      make_lines(&b, T0, i, i + chunk < total ? i + chunk : total);
      if (fleet_influx_writer_write_lines(w, b.ptr, b.len))
        _exit(3);
    }
    if (write(pfd[1], "done", 4) != 4)
      _exit(4);
    for (;;)
      pause();
  }
  close(pfd[1]);
  char msg[8] = {0};
  ssize_t got = read(pfd[0], msg, 4);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  close(pfd[0]);
  assert_int_equal(got, 4);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  /* Undelivered records are on disk. */
  fleet_spool_t *sp = NULL;
  assert_int_equal(fleet_spool_open(&sp, spool, NULL), 0);
  fleet_spool_stats_t ss = FLEET_SPOOL_STATS_INIT;
  assert_int_equal(fleet_spool_get_stats(&ss, sp), 0);
  fleet_spool_free(sp);
  assert_true(ss.records >= 1);
  int64_t before = ih_influx_count(G.srv.url, "killed", "seq", "m", NULL);
  assert_true(before >= 0 && before < total);

  fleet_influx_writer_opts_t o = FLEET_INFLUX_WRITER_OPTS_INIT;
  o.durable = 1;
  o.spool_dir = spool;
  fleet_influx_writer_t *w = NULL;
  assert_int_equal(fleet_influx_writer_new(&w, &cfg, &o), 0);
  assert_int_equal(fleet_influx_writer_flush(w, 60000), 0);
  fleet_influx_writer_stats_t st = stats(w);
  assert_true(st.batches_replayed >= 1);
  assert_int_equal(st.spool_records, 0);
  assert_int_equal(st.points_dead_lettered, 0);
  fleet_influx_writer_free(w);
  assert_int_equal(ih_influx_count(G.srv.url, "killed", "seq", "m", NULL), total);
}

int main(void)
{
  if (getenv("FLEET_TEST_FILTER"))
    cmocka_set_test_filter(getenv("FLEET_TEST_FILTER"));
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_100k_points_counted_back),
    cmocka_unit_test(test_round_trip_types_and_hostile_values),
    cmocka_unit_test(test_influxd_restart_midstream),
    cmocka_unit_test(test_sigkill_durable_replay),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
