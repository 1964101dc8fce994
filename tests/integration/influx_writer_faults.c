/*
 * The InfluxDB writer against the scripted fault server (faultserver.py):
 * batching and gzip, retries with Retry-After and backoff, 413 splitting,
 * partial writes and dead letters, 401/403/404 refusals, a server that is not
 * there yet, a server that hangs at close, durable mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet/influx.h"
#include "influx_harness.h"

/* Log capture ------------------------------------------------------------ */

typedef struct logcap {
  pthread_mutex_t mu;
  fleet_buf_t text; /* "LEVEL message\n" lines */
  int errors;
} logcap_t;

static void log_cb(int level, const char *message, void *userdata)
{
  logcap_t *lc = userdata;
  pthread_mutex_lock(&lc->mu);
  char head[8];
  snprintf(head, sizeof head, "%d ", level);
  fleet_buf_append(&lc->text, head, strlen(head));
  fleet_buf_append(&lc->text, message, strlen(message));
  fleet_buf_append(&lc->text, "\n", 1);
  if (level == FLEET_INFLUX_LOG_ERROR)
    lc->errors++;
  pthread_mutex_unlock(&lc->mu);
}

static int log_has(logcap_t *lc, const char *needle)
{
  pthread_mutex_lock(&lc->mu);
  int found = lc->text.ptr && strstr(lc->text.ptr, needle) != NULL;
  pthread_mutex_unlock(&lc->mu);
  return found;
}

/* Fixture ---------------------------------------------------------------- */

typedef struct fx {
  char dir[512];
  char spool[600];
  char dead[600];
  ih_server_t srv;
  fleet_influx_config_t cfg;
  fleet_influx_writer_opts_t opts;
  logcap_t log;
  fleet_influx_writer_t *w;
} fx_t;

static int fx_setup(void **state)
{
  fx_t *fx = calloc(1, sizeof *fx);
  if (!fx || ih_tmpdir(fx->dir, sizeof fx->dir, "faults"))
    return -1;
  snprintf(fx->spool, sizeof fx->spool, "%s/spool", fx->dir);
  snprintf(fx->dead, sizeof fx->dead, "%s/dead.jsonl", fx->dir);
  pthread_mutex_init(&fx->log.mu, NULL);
  fleet_influx_config_init(&fx->cfg, FLEET_INFLUX_CONFIG_VERSION);
  snprintf(fx->cfg.database, sizeof fx->cfg.database, "fleet");
  fleet_influx_writer_opts_init(&fx->opts, FLEET_INFLUX_WRITER_OPTS_VERSION);
  fx->opts.flush_interval_ms = 50;
  fx->opts.retry_initial_ms = 50;
  fx->opts.retry_max_ms = 200;
  fx->opts.config_retry_ms = 300;
  fx->opts.spool_dir = fx->spool;
  fx->opts.dead_letter_path = fx->dead;
  fx->opts.log_cb = log_cb;
  fx->opts.log_userdata = &fx->log;
  fx->opts.log_level = FLEET_INFLUX_LOG_DEBUG;
  *state = fx;
  return 0;
}

static int fx_teardown(void **state)
{
  fx_t *fx = *state;
  fleet_influx_writer_free(fx->w);
  const char *verbose = getenv("FLEET_TEST_VERBOSE");
  if (verbose && *verbose && fx->log.text.ptr)
    fprintf(stderr, "--- writer log ---\n%s", fx->log.text.ptr);
  ih_fault_stop(&fx->srv);
  ih_rmrf(fx->dir);
  fleet_buf_dispose(&fx->log.text);
  pthread_mutex_destroy(&fx->log.mu);
  free(fx);
  return 0;
}

/* Start the fault server with `script` and a writer pointed at it. */
static void fx_start(fx_t *fx, const char *script)
{
  char sdir[600];
  snprintf(sdir, sizeof sdir, "%s/server", fx->dir);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", sdir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(ih_fault_start(&fx->srv, sdir, 0, script), 0);
  snprintf(fx->cfg.url, sizeof fx->cfg.url, "%s", fx->srv.url);
  assert_int_equal(fleet_influx_writer_new(&fx->w, &fx->cfg, &fx->opts), 0);
}

static fleet_influx_writer_stats_t stats(fleet_influx_writer_t *w)
{
  fleet_influx_writer_stats_t st = FLEET_INFLUX_WRITER_STATS_INIT;
  assert_int_equal(fleet_influx_writer_get_stats(&st, w), 0);
  return st;
}

/* Wait (bounded) until `cond(stats)` holds. */
typedef int (*stat_pred)(const fleet_influx_writer_stats_t *st);
static void wait_for(fleet_influx_writer_t *w, stat_pred pred, int64_t timeout_ms)
{
  int64_t end = ih_now_ms() + timeout_ms;
  while (ih_now_ms() < end) {
    fleet_influx_writer_stats_t st = stats(w);
    if (pred(&st))
      return;
    ih_sleep_ms(10);
  }
  fail_msg("condition not reached within %lld ms", (long long)timeout_ms);
}

/* Lines "m,k=<tag> v=<i>i <i>" for i in [from, to). */
static void make_lines(fleet_buf_t *b, const char *tag, int from, int to)
{
  fleet_buf_clear(b);
  for (int i = from; i < to; i++) {
    char line[128];
    int n = snprintf(line, sizeof line, "m,k=%s v=%di %d\n", tag, i, i + 1);
    assert_int_equal(fleet_buf_append(b, line, (size_t)n), 0);
  }
}

/* The body of request i as the fault server logged it. */
static const char *req_body(json_t *reqs, size_t i)
{
  return json_string_value(json_object_get(json_array_get(reqs, i), "body"));
}

/* Seconds from request a to request b, by the fault server's clock. */
static double req_gap(json_t *reqs, size_t a, size_t b)
{
  return json_real_value(json_object_get(json_array_get(reqs, b), "time")) -
         json_real_value(json_object_get(json_array_get(reqs, a), "time"));
}

/* Every line the server stored, in arrival order, joined with '\n'. */
static void written_lines(fleet_buf_t *out, json_t *reqs)
{
  fleet_buf_clear(out);
  size_t i;
  json_t *r;
  json_array_foreach(reqs, i, r) {
    size_t k;
    json_t *l;
    json_array_foreach(json_object_get(r, "written"), k, l) {
      fleet_buf_append(out, json_string_value(l), json_string_length(l));
      fleet_buf_append(out, "\n", 1);
    }
  }
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Same set of lines, each exactly once (order ignored). */
static void assert_same_lines(const char *got, const char *want)
{
  char *g = strdup(got ? got : ""), *wn = strdup(want ? want : "");
  enum { MAXL = 20000 };
  static char *gv[MAXL], *wv[MAXL];
  size_t gn = 0, wnn = 0;
  for (char *s = strtok(g, "\n"); s && gn < MAXL; s = strtok(NULL, "\n"))
    gv[gn++] = s;
  for (char *s = strtok(wn, "\n"); s && wnn < MAXL; s = strtok(NULL, "\n"))
    wv[wnn++] = s;
  qsort(gv, gn, sizeof *gv, cmp_str);
  qsort(wv, wnn, sizeof *wv, cmp_str);
  assert_int_equal(gn, wnn);
  for (size_t i = 0; i < gn; i++)
    assert_string_equal(gv[i], wv[i]);
  free(g);
  free(wn);
}

/* The dead-letter file as a JSON array of its entries. */
static json_t *dead_letters(const char *path)
{
  json_t *arr = json_array();
  FILE *f = fopen(path, "r");
  if (!f)
    return arr;
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    if (!j)
      fail_msg("dead-letter line is not JSON: %s (%s)", line, err.text);
    json_array_append_new(arr, j);
  }
  fclose(f);
  return arr;
}

static int pred_config_error(const fleet_influx_writer_stats_t *st)
{
  return st->config_errors >= 1 && st->spool_records >= 1;
}

static int pred_net_error(const fleet_influx_writer_stats_t *st)
{
  return st->net_errors >= 2 && st->spool_records >= 1;
}

/* Tests ------------------------------------------------------------------ */

/* One batch: POST /write?db=fleet&precision=ns, gzip, the exact lines. */
static void test_batch_gzip_and_url(void **state)
{
  fx_t *fx = *state;
  snprintf(fx->cfg.username, sizeof fx->cfg.username, "user");
  snprintf(fx->cfg.password, sizeof fx->cfg.password, "pass");
  snprintf(fx->cfg.retention_policy, sizeof fx->cfg.retention_policy, "a b");
  fx_start(fx, NULL);
  fleet_buf_t b = FLEET_BUF_INIT;
  make_lines(&b, "a", 0, 10);
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, b.ptr, b.len), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 5000), 0);

  json_t *reqs = ih_fault_requests(&fx->srv);
  assert_int_equal(json_array_size(reqs), 1);
  json_t *r = json_array_get(reqs, 0);
  assert_string_equal(json_string_value(json_object_get(r, "method")), "POST");
  assert_string_equal(json_string_value(json_object_get(r, "path")), "/write");
  json_t *q = json_object_get(r, "query");
  assert_string_equal(json_string_value(json_object_get(q, "db")), "fleet");
  assert_string_equal(json_string_value(json_object_get(q, "rp")), "a b");
  assert_string_equal(json_string_value(json_object_get(q, "precision")), "ns");
  json_t *h = json_object_get(r, "headers");
  assert_string_equal(json_string_value(json_object_get(h, "content-encoding")), "gzip");
  /* base64("user:pass") */
  assert_string_equal(json_string_value(json_object_get(h, "authorization")),
                      "Basic dXNlcjpwYXNz");
  assert_string_equal(json_string_value(json_object_get(r, "body")), b.ptr);

  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.points_enqueued, 10);
  assert_int_equal(st.points_written, 10);
  assert_int_equal(st.points_sent, 10);
  assert_int_equal(st.batches_written, 1);
  assert_int_equal(st.requests, 1);
  assert_int_equal(st.retries, 0);
  assert_int_equal(st.bytes_raw, b.len);
  assert_true(st.bytes_sent > 0 && st.bytes_sent != st.bytes_raw);
  assert_int_equal(st.last_http_status, 204);
  assert_int_equal(st.queue_points, 0);
  assert_int_equal(st.healthy, 1);
  json_decref(reqs);
  fleet_buf_dispose(&b);
}

/* Batches close at batch_max_points; blank and comment lines are not points;
 * a partly filled batch goes after flush_interval_ms without any flush call. */
static void test_batch_size_and_time(void **state)
{
  fx_t *fx = *state;
  fx->opts.batch_max_points = 4;
  fx->opts.flush_interval_ms = 200;
  fx->opts.gzip_level = 0;
  fx_start(fx, NULL);
  const char *in = "m v=1i 1\n\n# comment\nm v=2i 2\n  \nm v=3i 3\nm v=4i 4\nm v=5i 5\n"
                   "m v=6i 6";
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, in, strlen(in)), 0);
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.points_enqueued, 6);

  int64_t t0 = ih_now_ms();
  json_t *reqs = NULL;
  while (ih_now_ms() - t0 < 3000) {
    json_decref(reqs);
    reqs = ih_fault_requests(&fx->srv);
    if (json_array_size(reqs) == 2)
      break;
    ih_sleep_ms(20);
  }
  assert_int_equal(json_array_size(reqs), 2);
  assert_string_equal(req_body(reqs, 0), "m v=1i 1\nm v=2i 2\nm v=3i 3\nm v=4i 4\n");
  assert_string_equal(req_body(reqs, 1), "m v=5i 5\nm v=6i 6\n");
  json_t *h = json_object_get(json_array_get(reqs, 0), "headers");
  assert_null(json_object_get(h, "content-encoding"));
  assert_null(json_object_get(h, "authorization"));
  /* The second batch waited for the timer (200 ms), not much longer. */
  double dt = req_gap(reqs, 0, 1);
  assert_true(dt >= 0.15 && dt < 1.5);
  json_decref(reqs);
}

/* 429 with Retry-After: 1 is retried after at least one second. */
static void test_429_retry_after_seconds(void **state)
{
  fx_t *fx = *state;
  fx_start(fx, "{\"actions\":[{\"status\":429,\"headers\":{\"Retry-After\":\"1\"},"
               "\"body\":\"{\\\"error\\\":\\\"slow down\\\"}\"}]}");
  fleet_buf_t b = FLEET_BUF_INIT;
  make_lines(&b, "r", 0, 5);
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, b.ptr, b.len), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 10000), 0);
  json_t *reqs = ih_fault_requests(&fx->srv);
  assert_int_equal(json_array_size(reqs), 2);
  json_t *r0 = json_array_get(reqs, 0), *r1 = json_array_get(reqs, 1);
  assert_int_equal(json_integer_value(json_object_get(r0, "status")), 429);
  assert_int_equal(json_integer_value(json_object_get(r1, "status")), 204);
  double dt = req_gap(reqs, 0, 1);
  assert_true(dt >= 1.0);
  assert_true(dt < 3.0);
  assert_string_equal(json_string_value(json_object_get(r1, "body")), b.ptr);
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.retries, 1);
  assert_int_equal(st.server_errors, 1);
  assert_int_equal(st.points_written, 5);
  assert_int_equal(st.points_sent, 10);
  assert_int_equal(st.points_retried, 5);
  assert_true(log_has(&fx->log, "HTTP 429"));
  assert_true(log_has(&fx->log, "slow down"));
  json_decref(reqs);
  fleet_buf_dispose(&b);
}

/* Retry-After as an HTTP date: the retry comes at that date, not before and not
 * much after. The date is three seconds ahead when the script is written, which
 * leaves room for a slow server start. */
static void test_429_retry_after_date(void **state)
{
  fx_t *fx = *state;
  char date[64], script[256];
  time_t t = time(NULL) + 3;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  snprintf(script, sizeof script,
           "{\"actions\":[{\"status\":503,\"headers\":{\"Retry-After\":\"%s\"}}]}", date);
  fx_start(fx, script);
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, "m v=1 1\n", 8), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 10000), 0);
  json_t *reqs = ih_fault_requests(&fx->srv);
  assert_int_equal(json_array_size(reqs), 2);
  double first = json_real_value(json_object_get(json_array_get(reqs, 0), "wall"));
  double retry = json_real_value(json_object_get(json_array_get(reqs, 1), "wall"));
  assert_true(first < (double)t);
  /* 50 ms of slack for clock reads in two processes. */
  assert_true(retry >= (double)t - 0.05);
  assert_true(retry < (double)t + 1.5);
  json_decref(reqs);
}

/* 500, then 503 without Retry-After (InfluxDB 1.x throttling), then 204. */
static void test_5xx_then_ok(void **state)
{
  fx_t *fx = *state;
  fx_start(fx, "{\"actions\":[{\"status\":500,\"body\":\"{\\\"error\\\":\\\"engine: "
               "boom\\\"}\"},{\"status\":503}]}");
  fleet_buf_t b = FLEET_BUF_INIT;
  make_lines(&b, "five", 0, 7);
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, b.ptr, b.len), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 10000), 0);
  json_t *reqs = ih_fault_requests(&fx->srv);
  assert_int_equal(json_array_size(reqs), 3);
  for (size_t i = 0; i < 3; i++)
    assert_string_equal(req_body(reqs, i), b.ptr);
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.retries, 2);
  assert_int_equal(st.server_errors, 2);
  assert_int_equal(st.points_written, 7);
  assert_int_equal(st.points_retried, 14);
  assert_int_equal(st.batches_spooled, 1); /* the failed batch went to the spool */
  assert_int_equal(st.batches_replayed, 1);
  assert_int_equal(st.spool_records, 0);
  assert_true(log_has(&fx->log, "engine: boom"));
  json_decref(reqs);
  fleet_buf_dispose(&b);
}

/* 413: split in halves until the pieces fit (at most 3 lines here). */
static void test_413_split(void **state)
{
  fx_t *fx = *state;
  fx_start(fx, "{\"default\":{\"max_lines\":3}}");
  fleet_buf_t b = FLEET_BUF_INIT, got = FLEET_BUF_INIT;
  make_lines(&b, "big", 0, 10);
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, b.ptr, b.len), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 10000), 0);
  json_t *reqs = ih_fault_requests(&fx->srv);
  /* 10 -> 5 + 5; each 5 -> 2 + 3: 1 + 2 + 4 requests. */
  assert_int_equal(json_array_size(reqs), 7);
  written_lines(&got, reqs);
  assert_same_lines(got.ptr, b.ptr);
  assert_string_equal(got.ptr, b.ptr); /* and in order */
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.splits, 3);
  assert_int_equal(st.points_written, 10);
  assert_int_equal(st.points_dead_lettered, 0);
  assert_int_equal(st.retries, 0);
  json_decref(reqs);
  fleet_buf_dispose(&b);
  fleet_buf_dispose(&got);
}

/* A single line the server still refuses as too large is dead-lettered. */
static void test_413_single_line_dead_letter(void **state)
{
  fx_t *fx = *state;
  fx_start(fx, "{\"default\":{\"max_lines\":0}}");
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, "m v=1 1\nm v=2 2\n", 16), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 10000), 0);
  json_t *dl = dead_letters(fx->dead);
  assert_int_equal(json_array_size(dl), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 0), "line")),
                      "m v=1 1");
  assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 1), "line")),
                      "m v=2 2");
  assert_non_null(strstr(json_string_value(json_object_get(json_array_get(dl, 0), "reason")),
                         "413"));
  assert_int_equal(json_integer_value(json_object_get(json_array_get(dl, 0), "status")), 413);
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.points_dead_lettered, 2);
  assert_int_equal(st.points_written, 0);
  json_decref(dl);
}

/* 400 partial write (InfluxDB 1.x): the good lines are stored, exactly the
 * bad ones reach the dead-letter file with the server's reason; no resend. */
static void test_400_partial_v1(void **state)
{
  fx_t *fx = *state;
  fx_start(fx, "{\"actions\":[{\"partial\":{\"match\":\"bad\",\"reason\":\"invalid number\"}}]}");
  const char *in = "m,k=ok v=1 1\nm,k=bad v=x 2\nm,k=ok v=3 3\nm,k=ok2 v=4 4\n"
                   "m,k=bad2 v=' q\\\\ \\\"x\\\" 5\nm,k=ok v=6 6\n";
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, in, strlen(in)), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 10000), 0);
  json_t *reqs = ih_fault_requests(&fx->srv);
  assert_int_equal(json_array_size(reqs), 1);
  json_t *dl = dead_letters(fx->dead);
  assert_int_equal(json_array_size(dl), 2);
  json_t *d0 = json_array_get(dl, 0), *d1 = json_array_get(dl, 1);
  assert_string_equal(json_string_value(json_object_get(d0, "line")), "m,k=bad v=x 2");
  assert_string_equal(json_string_value(json_object_get(d1, "line")),
                      "m,k=bad2 v=' q\\\\ \\\"x\\\" 5");
  assert_string_equal(json_string_value(json_object_get(d0, "reason")), "invalid number");
  assert_string_equal(json_string_value(json_object_get(d1, "reason")), "invalid number");
  assert_int_equal(json_integer_value(json_object_get(d0, "status")), 400);
  assert_true(json_is_string(json_object_get(d0, "ts")));
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.points_written, 4);
  assert_int_equal(st.points_dead_lettered, 2);
  assert_int_equal(st.points_sent, 6);
  json_decref(dl);
  json_decref(reqs);
}

/* InfluxDB 3: write_lp URL, Bearer token, partial write with a data array. */
static void test_400_partial_v3(void **state)
{
  fx_t *fx = *state;
  fx->cfg.api = FLEET_INFLUX_API_V3;
  snprintf(fx->cfg.token, sizeof fx->cfg.token, "apiv3_secret");
  fx_start(fx, "{\"actions\":[{\"partial_v3\":{\"match\":\"nope\",\"reason\":\"invalid "
               "column type\"}}]}");
  const char *in = "m v=1 1\nm,t=nope v=2 2\nm v=3 3\n";
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, in, strlen(in)), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 10000), 0);
  json_t *reqs = ih_fault_requests(&fx->srv);
  json_t *r = json_array_get(reqs, 0);
  assert_string_equal(json_string_value(json_object_get(r, "path")), "/api/v3/write_lp");
  json_t *q = json_object_get(r, "query");
  assert_string_equal(json_string_value(json_object_get(q, "db")), "fleet");
  assert_string_equal(json_string_value(json_object_get(q, "precision")), "nanosecond");
  assert_string_equal(json_string_value(json_object_get(q, "accept_partial")), "true");
  assert_string_equal(
    json_string_value(json_object_get(json_object_get(r, "headers"), "authorization")),
    "Bearer apiv3_secret");
  json_t *dl = dead_letters(fx->dead);
  assert_int_equal(json_array_size(dl), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 0), "line")),
                      "m,t=nope v=2 2");
  assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 0), "reason")),
                      "invalid column type");
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.points_written, 2);
  assert_int_equal(st.points_dead_lettered, 1);
  assert_false(log_has(&fx->log, "apiv3_secret"));
  json_decref(dl);
  json_decref(reqs);
}

/* InfluxDB 2: /api/v2/write with org and bucket, Token auth. */
static void test_v2_url(void **state)
{
  fx_t *fx = *state;
  fx->cfg.api = FLEET_INFLUX_API_V2;
  snprintf(fx->cfg.org, sizeof fx->cfg.org, "acme & co");
  snprintf(fx->cfg.token, sizeof fx->cfg.token, "tok2");
  fx_start(fx, NULL);
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, "m v=1 1", 7), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 5000), 0);
  json_t *reqs = ih_fault_requests(&fx->srv);
  json_t *r = json_array_get(reqs, 0);
  assert_string_equal(json_string_value(json_object_get(r, "path")), "/api/v2/write");
  json_t *q = json_object_get(r, "query");
  assert_string_equal(json_string_value(json_object_get(q, "org")), "acme & co");
  assert_string_equal(json_string_value(json_object_get(q, "bucket")), "fleet");
  assert_string_equal(json_string_value(json_object_get(q, "precision")), "ns");
  assert_string_equal(
    json_string_value(json_object_get(json_object_get(r, "headers"), "authorization")),
    "Token tok2");
  assert_string_equal(json_string_value(json_object_get(r, "body")), "m v=1 1\n");
  json_decref(reqs);
}

/* A 400 that names no line rejects the whole batch: all of it dead-lettered. */
static void test_400_whole_batch(void **state)
{
  fx_t *fx = *state;
  fx_start(fx, "{\"actions\":[{\"status\":400,\"body\":\"{\\\"error\\\":\\\"invalid "
               "precision\\\"}\"}]}");
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, "a v=1 1\nb v=2 2\n", 16), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 10000), 0);
  json_t *dl = dead_letters(fx->dead);
  assert_int_equal(json_array_size(dl), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 0), "line")),
                      "a v=1 1");
  assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 1), "line")),
                      "b v=2 2");
  assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 1), "reason")),
                      "invalid precision");
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.points_dead_lettered, 2);
  assert_int_equal(st.points_written, 0);
  json_decref(dl);
}

/* "partial write: field type conflict ... dropped=1" names no line: the
 * writer bisects until it finds the one line, and dead-letters just it. */
static void test_400_dropped_bisect(void **state)
{
  fx_t *fx = *state;
  fx_start(fx, "{\"default\":{\"drop\":{\"match\":\"v=\\\"s\\\"\",\"reason\":\"field type "
               "conflict\"}}}");
  fleet_buf_t b = FLEET_BUF_INIT, got = FLEET_BUF_INIT, want = FLEET_BUF_INIT;
  make_lines(&b, "x", 0, 8);
  const char *bad = "m,k=x v=\"s\" 99\n";
  fleet_buf_append(&want, b.ptr, b.len);
  fleet_buf_append(&b, bad, strlen(bad));
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, b.ptr, b.len), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 10000), 0);
  json_t *dl = dead_letters(fx->dead);
  assert_int_equal(json_array_size(dl), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 0), "line")),
                      "m,k=x v=\"s\" 99");
  assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 0), "reason")),
                      "partial write: field type conflict dropped=1");
  /* Every good line was stored; resends while bisecting are idempotent. */
  json_t *reqs = ih_fault_requests(&fx->srv);
  written_lines(&got, reqs);
  char *g = strdup(got.ptr);
  size_t n = 0;
  for (char *s = strtok(g, "\n"); s; s = strtok(NULL, "\n"))
    n++;
  free(g);
  assert_true(n >= 8);
  for (int i = 0; i < 8; i++) {
    char line[64];
    snprintf(line, sizeof line, "m,k=x v=%di %d", i, i + 1);
    assert_non_null(strstr(got.ptr, line));
  }
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.points_dead_lettered, 1);
  assert_int_equal(st.points_written, 8);
  assert_true(st.splits >= 1);
  json_decref(dl);
  json_decref(reqs);
  fleet_buf_dispose(&b);
  fleet_buf_dispose(&got);
  fleet_buf_dispose(&want);
}

/* 401/403/404: loud error, counters, data kept in the spool, retried slowly,
 * delivered once the server accepts again. */
static void refused_case(fx_t *fx, int status, const char *text)
{
  char script[256];
  snprintf(script, sizeof script,
           "{\"default\":{\"status\":%d,\"body\":\"{\\\"error\\\":\\\"%s\\\"}\"}}", status, text);
  fx_start(fx, script);
  fleet_buf_t b = FLEET_BUF_INIT;
  make_lines(&b, "auth", 0, 5);
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, b.ptr, b.len), 0);
  wait_for(fx->w, pred_config_error, 5000);
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.last_http_status, status);
  assert_non_null(strstr(st.last_error, text));
  assert_int_equal(st.healthy, 0);
  assert_int_equal(st.points_written, 0);
  assert_int_equal(st.spool_records, 1);
  assert_true(fx->log.errors >= 1);
  char needle[32];
  snprintf(needle, sizeof needle, "1 influx: write failed");
  assert_true(log_has(&fx->log, needle));
  snprintf(needle, sizeof needle, "HTTP %d", status);
  assert_true(log_has(&fx->log, needle));
  assert_int_equal(fleet_influx_writer_flush(fx->w, 100), FLEET_ETIMEOUT);

  assert_int_equal(ih_fault_script(&fx->srv, "{\"default\":{\"status\":204}}"), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 10000), 0);
  st = stats(fx->w);
  assert_int_equal(st.points_written, 5);
  assert_int_equal(st.spool_records, 0);
  assert_int_equal(st.healthy, 1);
  json_t *reqs = ih_fault_requests(&fx->srv);
  json_t *last = json_array_get(reqs, json_array_size(reqs) - 1);
  assert_int_equal(json_integer_value(json_object_get(last, "status")), 204);
  assert_string_equal(json_string_value(json_object_get(last, "body")), b.ptr);
  json_decref(reqs);
  fleet_buf_dispose(&b);
}

static void test_401_kept_and_retried(void **state)
{
  refused_case(*state, 401, "authorization failed");
}

static void test_403_kept_and_retried(void **state)
{
  refused_case(*state, 403, "forbidden");
}

static void test_404_kept_and_retried(void **state)
{
  refused_case(*state, 404, "database not found: fleet");
}

/* Nobody listens yet: batches go to the spool; once a server appears on the
 * port everything arrives, exactly once. */
static void test_connection_refused_then_server(void **state)
{
  fx_t *fx = *state;
  int port = ih_free_port();
  assert_true(port > 0);
  snprintf(fx->cfg.url, sizeof fx->cfg.url, "http://127.0.0.1:%d", port);
  fx->opts.batch_max_points = 10;
  assert_int_equal(fleet_influx_writer_new(&fx->w, &fx->cfg, &fx->opts), 0);
  fleet_buf_t b = FLEET_BUF_INIT, all = FLEET_BUF_INIT, got = FLEET_BUF_INIT;
  for (int k = 0; k < 5; k++) {
    make_lines(&b, "down", k * 10, k * 10 + 10);
    fleet_buf_append(&all, b.ptr, b.len);
    assert_int_equal(fleet_influx_writer_write_lines(fx->w, b.ptr, b.len), 0);
  }
  wait_for(fx->w, pred_net_error, 5000);
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.points_written, 0);
  assert_int_equal(st.last_error_code, FLEET_ENET);
  assert_true(st.spool_records >= 1);

  char sdir[600];
  snprintf(sdir, sizeof sdir, "%s", fx->dir);
  assert_int_equal(ih_fault_start(&fx->srv, sdir, port, NULL), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 10000), 0);
  json_t *reqs = ih_fault_requests(&fx->srv);
  written_lines(&got, reqs);
  assert_same_lines(got.ptr, all.ptr);
  st = stats(fx->w);
  assert_int_equal(st.points_written, 50);
  assert_int_equal(st.spool_records, 0);
  assert_true(log_has(&fx->log, "answers again"));
  json_decref(reqs);
  fleet_buf_dispose(&b);
  fleet_buf_dispose(&all);
  fleet_buf_dispose(&got);
}

/* A server that never answers: close() keeps its deadline, the batch goes to
 * the spool, and the next writer on that spool delivers it. */
static void test_hang_close_spools_then_replay(void **state)
{
  fx_t *fx = *state;
  fx_start(fx, "{\"default\":{\"hang\":true}}");
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, "h v=1 1\nh v=2 2\n", 16), 0);
  int64_t t0 = ih_now_ms();
  while (ih_now_ms() - t0 < 3000) { /* the request is under way */
    json_t *reqs = ih_fault_requests(&fx->srv);
    size_t n = json_array_size(reqs);
    json_decref(reqs);
    if (n)
      break;
    ih_sleep_ms(10);
  }
  t0 = ih_now_ms();
  assert_int_equal(fleet_influx_writer_close(fx->w, 300), 0);
  int64_t took = ih_now_ms() - t0;
  assert_true(took >= 250 && took < 2500);
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.spool_records, 1);
  assert_int_equal(st.points_written, 0);
  assert_int_equal(st.points_lost, 0);
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, "x v=1 1\n", 8), FLEET_ECLOSED);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 10), FLEET_ECLOSED);
  assert_int_equal(fleet_influx_writer_close(fx->w, 10), 0);
  fleet_influx_writer_free(fx->w);
  fx->w = NULL;

  assert_int_equal(ih_fault_script(&fx->srv, "{\"default\":{\"status\":204}}"), 0);
  assert_int_equal(fleet_influx_writer_new(&fx->w, &fx->cfg, &fx->opts), 0);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 10000), 0);
  st = stats(fx->w);
  assert_int_equal(st.points_written, 2);
  assert_int_equal(st.batches_replayed, 1);
  assert_int_equal(st.points_enqueued, 0);
  json_t *reqs = ih_fault_requests(&fx->srv);
  json_t *last = json_array_get(reqs, json_array_size(reqs) - 1);
  assert_string_equal(json_string_value(json_object_get(last, "body")), "h v=1 1\nh v=2 2\n");
  json_decref(reqs);
}

/* Durable mode: every write call is in the spool before it returns, and the
 * spool is acknowledged as batches are delivered. */
static void test_durable_write_ahead(void **state)
{
  fx_t *fx = *state;
  fx->opts.durable = 1;
  fx->opts.flush_interval_ms = 60000; /* only flush() sends */
  fx_start(fx, NULL);
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, "d v=1 1\n", 8), 0);
  assert_int_equal(fleet_influx_writer_write_lines(fx->w, "d v=2 2\nd v=3 3\n", 16), 0);
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.spool_records, 2);
  assert_int_equal(st.batches_spooled, 2);
  assert_int_equal(st.queue_points, 3);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 5000), 0);
  st = stats(fx->w);
  assert_int_equal(st.spool_records, 0);
  assert_int_equal(st.points_written, 3);
  assert_int_equal(st.requests, 1); /* both records in one batch */
  json_t *reqs = ih_fault_requests(&fx->srv);
  assert_string_equal(req_body(reqs, 0), "d v=1 1\nd v=2 2\nd v=3 3\n");
  json_decref(reqs);
}

/* Durable mode with a memory mirror too small for the data: the records
 * beyond it are read back from the spool, and everything arrives once. */
static void test_durable_memory_full_reads_spool(void **state)
{
  fx_t *fx = *state;
  fx->opts.durable = 1;
  fx->opts.batch_max_bytes = 64;
  fx->opts.queue_max_bytes = 128;
  fx->opts.flush_interval_ms = 20;
  fx_start(fx, "{\"default\":{\"status\":204,\"delay\":0.02}}");
  fleet_buf_t b = FLEET_BUF_INIT, all = FLEET_BUF_INIT, got = FLEET_BUF_INIT;
  for (int k = 0; k < 40; k++) {
    make_lines(&b, "gap", k * 2, k * 2 + 2);
    fleet_buf_append(&all, b.ptr, b.len);
    assert_int_equal(fleet_influx_writer_write_lines(fx->w, b.ptr, b.len), 0);
  }
  assert_int_equal(fleet_influx_writer_flush(fx->w, 20000), 0);
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.points_written, 80);
  assert_int_equal(st.points_sent, 80);
  assert_int_equal(st.spool_records, 0);
  assert_true(st.batches_replayed >= 1); /* some records came from disk */
  json_t *reqs = ih_fault_requests(&fx->srv);
  written_lines(&got, reqs);
  assert_string_equal(got.ptr, all.ptr); /* each once, in order */
  json_decref(reqs);
  fleet_buf_dispose(&b);
  fleet_buf_dispose(&all);
  fleet_buf_dispose(&got);
}

typedef struct producer {
  fleet_influx_writer_t *w;
  int id;
} producer_t;

static void *produce(void *arg)
{
  producer_t *p = arg;
  fleet_buf_t b = FLEET_BUF_INIT;
  char tag[16];
  snprintf(tag, sizeof tag, "p%d", p->id);
  for (int i = 0; i < 2500; i += 50) {
    make_lines(&b, tag, i, i + 50);
    if (fleet_influx_writer_write_lines(p->w, b.ptr, b.len))
      break;
  }
  fleet_buf_dispose(&b);
  return NULL;
}

/* Four threads enqueue at once: every line arrives exactly once. */
static void test_concurrent_producers(void **state)
{
  fx_t *fx = *state;
  fx->opts.batch_max_points = 700;
  fx_start(fx, NULL);
  pthread_t th[4];
  producer_t p[4];
  for (int i = 0; i < 4; i++) {
    p[i] = (producer_t){fx->w, i};
    assert_int_equal(pthread_create(&th[i], NULL, produce, &p[i]), 0);
  }
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(fleet_influx_writer_flush(fx->w, 20000), 0);
  fleet_influx_writer_stats_t st = stats(fx->w);
  assert_int_equal(st.points_enqueued, 10000);
  assert_int_equal(st.points_written, 10000);
  fleet_buf_t got = FLEET_BUF_INIT, want = FLEET_BUF_INIT, b = FLEET_BUF_INIT;
  for (int i = 0; i < 4; i++) {
    char tag[16];
    snprintf(tag, sizeof tag, "p%d", i);
    make_lines(&b, tag, 0, 2500);
    fleet_buf_append(&want, b.ptr, b.len);
  }
  json_t *reqs = ih_fault_requests(&fx->srv);
  written_lines(&got, reqs);
  assert_same_lines(got.ptr, want.ptr);
  size_t i;
  json_t *r;
  json_array_foreach(reqs, i, r) {
    size_t n = json_array_size(json_object_get(r, "written"));
    assert_true(n >= 1 && n <= 700);
  }
  json_decref(reqs);
  fleet_buf_dispose(&got);
  fleet_buf_dispose(&want);
  fleet_buf_dispose(&b);
}

int main(void)
{
  if (getenv("FLEET_TEST_FILTER"))
    cmocka_set_test_filter(getenv("FLEET_TEST_FILTER"));
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_batch_gzip_and_url, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_batch_size_and_time, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_429_retry_after_seconds, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_429_retry_after_date, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_5xx_then_ok, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_413_split, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_413_single_line_dead_letter, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_400_partial_v1, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_400_partial_v3, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_v2_url, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_400_whole_batch, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_400_dropped_bisect, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_401_kept_and_retried, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_403_kept_and_retried, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_404_kept_and_retried, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_connection_refused_then_server, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(test_hang_close_spools_then_replay, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(test_durable_write_ahead, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_durable_memory_full_reads_spool, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(test_concurrent_producers, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
