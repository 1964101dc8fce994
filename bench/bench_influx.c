/*
 * bench_influx: points per second the InfluxDB writer delivers into a real
 * influxd, against the ceiling measured in the same run: the libcurl easy API
 * in a tight loop (one kept-alive connection) POSTing the same line protocol,
 * cut into the same 5,000-point batches and gzip'ed at the same level
 * beforehand, so the ceiling pays neither for batching nor for compression.
 *
 * The writer is fed the way fleetd feeds it: one write call per point
 * (pre-encoded telemetry lines from fleet_lp_encode_telemetry()), and the
 * clock stops when fleet_influx_writer_flush() confirms that everything is
 * stored. Runs alternate (curl, writer, curl, writer, ...), each into a fresh
 * database, and every run's point count is checked with SELECT count(*).
 *
 * Usage: bench_influx [--url URL] [--points N (200000)] [--runs R (5)]
 *                     [--gzip-level L (1)] [--influxd-script PATH]
 * Without --url an influxd is started with tests/integration/influxd.sh in a
 * temporary directory (FLEET_SOURCE_DIR or --influxd-script locate it).
 */
#include "common_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <zlib.h>

#include <jansson.h>

#include "fleet/influx.h"
#include "fleet/lineproto.h"

#define BATCH_POINTS 5000

/* The influxd this program started, stopped at exit whatever happens. */
static char g_script[1024], g_dir[512];

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
  fprintf(stderr, "bench_influx: %s\n", what);
  exit(1);
}

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
  (void)p;
  (void)ud;
  return size * n;
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
  fleet_buf_append(ud, p, size * n);
  return size * n;
}

/* POST form data to URL/query; returns the answer body (caller disposes). */
static long query(fleet_buf_t *out, const char *url, const char *db, const char *q)
{
  CURL *c = curl_easy_init();
  char *eq = curl_easy_escape(c, q, 0);
  fleet_buf_t form = FLEET_BUF_INIT, u = FLEET_BUF_INIT;
  fleet_buf__printf(&u, "%s/query", url);
  fleet_buf__printf(&form, "q=%s%s%s", eq, db ? "&db=" : "", db ? db : "");
  curl_free(eq);
  fleet_buf_clear(out);
  curl_easy_setopt(c, CURLOPT_URL, u.ptr);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.ptr);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  long status = -1;
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  fleet_buf_dispose(&form);
  fleet_buf_dispose(&u);
  return status;
}

static int64_t count_points(const char *url, const char *db)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  int64_t n = -1;
  if (query(&b, url, db, "SELECT count(lat) FROM telemetry") == 200) {
    json_t *j = json_loadb(b.ptr, b.len, 0, NULL);
    json_t *v = json_array_get(
      json_array_get(
        json_object_get(json_array_get(json_object_get(json_array_get(json_object_get(j,
                                                                                      "results"),
                                                                        0),
                                                       "series"),
                                       0),
                        "values"),
        0),
      1);
    if (json_is_integer(v))
      n = json_integer_value(v);
    json_decref(j);
  }
  fleet_buf_dispose(&b);
  return n;
}

static void create_db(const char *url, const char *db)
{
  char q[128];
  fleet_buf_t b = FLEET_BUF_INIT;
  snprintf(q, sizeof q, "CREATE DATABASE %s", db);
  if (query(&b, url, NULL, q) != 200)
    die("CREATE DATABASE failed");
  fleet_buf_dispose(&b);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static void stop_influxd(void)
{
  if (!g_dir[0])
    return;
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' stop '%s/influxd'", g_script, g_dir);
  if (system(cmd) != 0)
    fprintf(stderr, "bench_influx: stopping influxd failed\n");
  nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  g_dir[0] = '\0';
}

/* The test harness script, from --influxd-script, FLEET_SOURCE_DIR, or this
 * file's location in the source tree. */
static void script_path(char *out, size_t cap, const char *given)
{
  if (given) {
    snprintf(out, cap, "%s", given);
    return;
  }
  const char *src = getenv("FLEET_SOURCE_DIR");
  if (src && *src) {
    snprintf(out, cap, "%s/tests/integration/influxd.sh", src);
    return;
  }
  snprintf(out, cap, "%s", __FILE__);
  char *slash = strrchr(out, '/');
  if (slash)
    snprintf(slash, cap - (size_t)(slash - out), "/../tests/integration/influxd.sh");
  else
    snprintf(out, cap, "../tests/integration/influxd.sh");
}

/* Synthetic fleet: 1,000 vehicles, one fix per second each, every field set. */
static void make_lines(fleet_buf_t *all, size_t *offsets, size_t n)
{
  const fleet_lp_tag_t tags[] = {{"fleet_id", "acme"}, {"device_type", "obd2"}};
  fleet_telemetry_t rec;
  for (size_t i = 0; i < n; i++) {
    memset(&rec, 0, sizeof rec);
    rec.version = FLEET_TELEMETRY_VERSION;
    snprintf(rec.vehicle_id, sizeof rec.vehicle_id, "v-%04zu", i % 1000);
    rec.ts_ns = INT64_C(1779359400000000000) + (int64_t)(i / 1000) * 1000000000 +
                (int64_t)(i % 1000) * 1000;
    rec.lat = 23.8103 + (double)(i % 1000) * 1e-4;
    rec.lng = 90.4125 - (double)(i / 1000) * 1e-5;
    rec.present = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_HEADING | FLEET_TELEMETRY_IGNITION |
                  FLEET_TELEMETRY_ODOMETER | FLEET_TELEMETRY_BATTERY_V |
                  FLEET_TELEMETRY_ENGINE_TEMP | FLEET_TELEMETRY_FUEL_LEVEL;
    rec.speed_kmh = (double)(i % 120) + 0.5;
    rec.heading_deg = (double)(i % 360);
    rec.ignition = 1;
    rec.odometer_km = 100000.0 + (double)i * 0.01;
    rec.battery_v = 12.4;
    rec.engine_temp_c = 88.5;
    rec.fuel_level_pct = 63.0;
    offsets[i] = all->len;
    if (fleet_lp_encode_telemetry(all, &rec, NULL, tags, 2))
      die(fleet_error_last());
  }
  offsets[n] = all->len;
}

typedef struct gzbatch {
  unsigned char *data;
  size_t len;
} gzbatch_t;

static double run_curl(const char *url, const char *db, const gzbatch_t *b, size_t nb)
{
  CURL *c = curl_easy_init();
  char u[512];
  snprintf(u, sizeof u, "%s/write?db=%s&precision=ns", url, db);
  struct curl_slist *h = NULL;
  h = curl_slist_append(h, "Content-Encoding: gzip");
  h = curl_slist_append(h, "Content-Type: text/plain; charset=utf-8");
  h = curl_slist_append(h, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, u);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  double t0 = now_s();
  for (size_t i = 0; i < nb; i++) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b[i].len);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, b[i].data);
    long status = 0;
    if (curl_easy_perform(c) != CURLE_OK)
      die("curl: request failed");
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 204)
      die("curl: server did not answer 204");
  }
  double dt = now_s() - t0;
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return dt;
}

static double run_writer(const char *url, const char *db, const fleet_buf_t *all,
                         const size_t *off, size_t n, int level,
                         fleet_influx_writer_stats_t *st)
{
  fleet_influx_config_t cfg = FLEET_INFLUX_CONFIG_INIT;
  snprintf(cfg.url, sizeof cfg.url, "%s", url);
  snprintf(cfg.database, sizeof cfg.database, "%s", db);
  fleet_influx_writer_opts_t o = FLEET_INFLUX_WRITER_OPTS_INIT;
  o.gzip_level = level;
  /* Batches of exactly BATCH_POINTS, as the ceiling sends (a telemetry line
   * is ~210 bytes, so 5,000 of them exceed the default 1 MiB). */
  o.batch_max_bytes = 4u << 20;
  fleet_influx_writer_t *w = NULL;
  if (fleet_influx_writer_new(&w, &cfg, &o))
    die(fleet_error_last());
  double t0 = now_s();
  for (size_t i = 0; i < n; i++) {
    int rc;
    /* Without a spool, a full memory queue pushes back: wait for room. */
    while ((rc = fleet_influx_writer_write_lines(w, all->ptr + off[i], off[i + 1] - off[i])) ==
           FLEET_EFULL) {
      struct timespec pause = {0, 200000};
      nanosleep(&pause, NULL);
    }
    if (rc)
      die(fleet_error_last());
  }
  if (fleet_influx_writer_flush(w, 600000))
    die(fleet_error_last());
  double dt = now_s() - t0;
  st->version = FLEET_INFLUX_WRITER_STATS_VERSION;
  fleet_influx_writer_get_stats(st, w);
  fleet_influx_writer_free(w);
  return dt;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
  const char *url_arg = NULL, *script_arg = NULL;
  size_t n = 200000;
  int runs = 5, level = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--url") && i + 1 < argc)
      url_arg = argv[++i];
    else if (!strcmp(argv[i], "--points") && i + 1 < argc)
      n = (size_t)strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--gzip-level") && i + 1 < argc)
      level = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--influxd-script") && i + 1 < argc)
      script_arg = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--url URL] [--points N] [--runs R] [--gzip-level 1-9] "
                      "[--influxd-script PATH]\n", argv[0]);
      return 2;
    }
  }
  if (n < BATCH_POINTS || runs < 1 || runs > 20 || level < 1 || level > 9)
    die("bad arguments: points >= 5000, runs 1-20, gzip level 1-9");

  printf("command:");
  for (int i = 0; i < argc; i++)
    printf(" %s", argv[i]);
  printf("\n");
  curl_global_init(CURL_GLOBAL_DEFAULT);

  char url[256], cmd[2048];
  if (url_arg) {
    snprintf(url, sizeof url, "%s", url_arg);
  } else {
    script_path(g_script, sizeof g_script, script_arg);
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/fleet-bench-influx-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir))
      die("mkdtemp failed");
    atexit(stop_influxd);
    snprintf(cmd, sizeof cmd, "'%s' start '%s/influxd'", g_script, g_dir);
    FILE *p = popen(cmd, "r");
    int ok = p && fgets(url, sizeof url, p);
    if (p && pclose(p) != 0)
      ok = 0;
    if (!ok)
      die("could not start influxd with the harness script");
    url[strcspn(url, "\r\n")] = '\0';
    printf("influxd: started with %s in %s\n", g_script, g_dir);
  }
  printf("server: %s\n", url);

  /* Data: n telemetry lines, then the ceiling's gzip'ed 5,000-line batches. */
  fleet_buf_t all = FLEET_BUF_INIT;
  size_t *off = malloc((n + 1) * sizeof *off);
  if (!off)
    die("out of memory");
  make_lines(&all, off, n);
  size_t nb = (n + BATCH_POINTS - 1) / BATCH_POINTS;
  gzbatch_t *gb = calloc(nb, sizeof *gb);
  size_t gz_total = 0;
  for (size_t i = 0; i < nb; i++) {
    size_t a = off[i * BATCH_POINTS], e = off[(i + 1) * BATCH_POINTS < n ? (i + 1) * BATCH_POINTS : n];
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    uLong bound = deflateBound(&z, (uLong)(e - a));
    gb[i].data = malloc(bound);
    z.next_in = (Bytef *)(all.ptr + a);
    z.avail_in = (uInt)(e - a);
    z.next_out = gb[i].data;
    z.avail_out = (uInt)bound;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
      die("deflate failed");
    gb[i].len = z.total_out;
    gz_total += gb[i].len;
    deflateEnd(&z);
  }
  printf("data: %zu points, %zu bytes of line protocol (%.0f bytes/point), %zu batches of "
         "%d points, gzip level %d: %zu bytes\n",
         n, all.len, (double)all.len / (double)n, nb, BATCH_POINTS, level, gz_total);

  double *tc = calloc((size_t)runs, sizeof *tc), *tw = calloc((size_t)runs, sizeof *tw);
  fleet_influx_writer_stats_t st;
  memset(&st, 0, sizeof st);
  for (int r = 0; r < runs; r++) {
    char db[64];
    snprintf(db, sizeof db, "bench_curl_%d", r);
    create_db(url, db);
    tc[r] = run_curl(url, db, gb, nb);
    int64_t cc = count_points(url, db);
    snprintf(db, sizeof db, "bench_writer_%d", r);
    create_db(url, db);
    tw[r] = run_writer(url, db, &all, off, n, level, &st);
    int64_t cw = count_points(url, db);
    printf("run %d: curl %.0f points/s (%.3f s, count %" PRId64 "), writer %.0f points/s "
           "(%.3f s, count %" PRId64 ", %" PRIu64 " requests, %" PRIu64 " retries)\n",
           r + 1, (double)n / tc[r], tc[r], cc, (double)n / tw[r], tw[r], cw, st.requests,
           st.retries);
    if (cc != (int64_t)n || cw != (int64_t)n)
      die("a run did not store every point");
  }
  /* Each pair ran back to back, under the same load: the median of the
   * pairs' ratios is the steadiest figure on a shared machine. */
  double *ratio = calloc((size_t)runs, sizeof *ratio);
  for (int r = 0; r < runs; r++)
    ratio[r] = tc[r] / tw[r];
  qsort(ratio, (size_t)runs, sizeof *ratio, cmp_double);
  qsort(tc, (size_t)runs, sizeof *tc, cmp_double);
  qsort(tw, (size_t)runs, sizeof *tw, cmp_double);
  double c_med = (double)n / tc[runs / 2], w_med = (double)n / tw[runs / 2];
  double c_best = (double)n / tc[0], w_best = (double)n / tw[0];
  printf("ceiling (libcurl easy loop, pre-gzip'ed batches): median %.0f points/s, best %.0f\n",
         c_med, c_best);
  printf("fleet_influx_writer (one write call per point):   median %.0f points/s, best %.0f\n",
         w_med, w_best);
  printf("ratio writer/ceiling: median of per-run ratios %.2fx (range %.2f-%.2f); "
         "medians %.2fx, bests %.2fx (target >= 0.9x)\n",
         ratio[runs / 2], ratio[0], ratio[runs - 1], w_med / c_med, w_best / c_best);
  free(ratio);

  stop_influxd();
  for (size_t i = 0; i < nb; i++)
    free(gb[i].data);
  free(gb);
  free(off);
  free(tc);
  free(tw);
  fleet_buf_dispose(&all);
  curl_global_cleanup();
  return 0;
}
