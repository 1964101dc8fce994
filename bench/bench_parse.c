/*
 * Telemetry parse and encode throughput, against jansson itself as baseline.
 *
 * For the full DESIGN.md sample (every optional field plus two extras) and the
 * minimal payload, measures records/s of
 *   (a) json_loadb + json_decref, flags 0      (the bare jansson baseline)
 *   (b) fleet_telemetry_parse                  (single-pass parse + validation)
 *   (c) the former parser, a jansson tree walked (tests/fuzz/telemetry_reference.c)
 * and prints b/a, c/a and b/c, then fleet_telemetry_encode_json records/s.
 *
 * Usage: bench_parse [seconds per measurement, default 1.5]
 *        bench_parse --count N [full|minimal]   (each operation exactly N times
 *        per payload, or on the one named, no timing: for instruction counts
 *        under valgrind --tool=callgrind, read as the inclusive cost of
 *        op_jansson, op_parse and op_reference divided by the calls)
 * Baseline and parser run in alternating short slices and each keeps its best
 * slice, so a neighbour on a shared machine disturbs the ratio less.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fleet/telemetry.h>

/* The jansson-tree parser fleet_telemetry_parse() replaced, kept as the fuzz
 * oracle: reference_telemetry_parse(). */
#include "../tests/fuzz/telemetry_reference.c"

static const char full_payload[] =
  "{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":23.8103,\"lng\":90.4125,\"speed\":45.2,"
  "\"heading\":180,\"ignition\":true,\"odometer\":123456.7,\"battery_v\":12.4,"
  "\"engine_temp\":88.5,\"fuel_level\":63.0,\"driver_id\":\"d-0042\",\"rpm\":2100,"
  "\"door_open\":false}";

static const char minimal_payload[] =
  "{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":23.8103,\"lng\":90.4125}";

typedef int (*op_fn)(const char *json, size_t len, void *ctx);

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Records per second of `op` over about `seconds`. */
static double rate_of(op_fn op, const char *json, size_t len, void *ctx, double seconds)
{
  unsigned long n = 0;
  double start = now_s(), elapsed;
  do {
    for (int i = 0; i < 500; i++) {
      if (op(json, len, ctx) != 0) {
        fprintf(stderr, "bench_parse: operation failed: %s\n", fleet_error_last());
        exit(1);
      }
    }
    n += 500;
    elapsed = now_s() - start;
  } while (elapsed < seconds);
  return (double)n / elapsed;
}

#define ROUNDS 10

/*
 * Measures `a` and `b` in alternating slices (ROUNDS of each, `seconds` in
 * all per operation) and keeps each one's best slice: both see the same
 * neighbours on a shared machine, and the best slice is the least disturbed.
 */
static void measure_pair(double *rate_a, op_fn a, void *ctx_a, double *rate_b, op_fn b,
                         void *ctx_b, const char *json, size_t len, double seconds)
{
  *rate_a = *rate_b = 0;
  for (int r = 0; r < ROUNDS; r++) {
    double ra = rate_of(a, json, len, ctx_a, seconds / ROUNDS);
    double rb = rate_of(b, json, len, ctx_b, seconds / ROUNDS);
    if (ra > *rate_a)
      *rate_a = ra;
    if (rb > *rate_b)
      *rate_b = rb;
  }
}

/* ctx: NULL for flags 0, else a size_t with the flags. */
__attribute__((noinline)) static int op_jansson(const char *json, size_t len, void *ctx)
{
  json_error_t err;
  json_t *root = json_loadb(json, len, ctx ? *(const size_t *)ctx : 0, &err);
  if (!root)
    return -1;
  json_decref(root);
  return 0;
}

__attribute__((noinline)) static int op_parse(const char *json, size_t len, void *ctx)
{
  fleet_telemetry_t *rec = ctx;
  return fleet_telemetry_parse(rec, NULL, json, len);
}

__attribute__((noinline)) static int op_reference(const char *json, size_t len, void *ctx)
{
  fleet_telemetry_t *rec = ctx;
  return reference_telemetry_parse(rec, NULL, json, len);
}

static int op_encode(const char *json, size_t len, void *ctx)
{
  (void)json;
  (void)len;
  void **pair = ctx;
  fleet_buf_t *buf = pair[0];
  fleet_buf_clear(buf);
  return fleet_telemetry_encode_json(buf, pair[1], NULL);
}

static void run(const char *name, const char *json, double seconds)
{
  size_t len = strlen(json);
  fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
  double base, parse, loads_flags, encode, old, old_base, unused;
  measure_pair(&base, op_jansson, NULL, &parse, op_parse, &rec, json, len, seconds);
  fleet_telemetry_t old_rec = FLEET_TELEMETRY_INIT;
  measure_pair(&old_base, op_jansson, NULL, &old, op_reference, &old_rec, json, len,
               seconds / 2);
  size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;
  measure_pair(&loads_flags, op_jansson, &flags, &unused, op_parse, &rec, json, len,
               seconds / 4);

  fleet_buf_t buf = FLEET_BUF_INIT;
  void *pair[2] = {&buf, &rec};
  measure_pair(&encode, op_encode, pair, &unused, op_encode, pair, NULL, 0, seconds / 2);

  printf("%s payload (%zu bytes, %u extras):\n", name, len, rec.n_extras);
  printf("  jansson json_loadb+json_decref  %12.0f records/s  (baseline)\n", base);
  printf("  (jansson with the parser's flags %12.0f records/s, shorter run)\n", loads_flags);
  printf("  fleet_telemetry_parse           %12.0f records/s  ratio %.2f\n", parse,
         parse / base);
  printf("  former jansson-tree parser      %12.0f records/s  ratio %.2f (its own baseline "
         "%.0f, shorter run)\n",
         old, old / old_base, old_base);
  printf("  speed-up over the former parser %12.2fx\n", (parse / base) / (old / old_base));
  printf("  fleet_telemetry_encode_json     %12.0f records/s  (%zu bytes out)\n", encode,
         buf.len);
  fleet_buf_dispose(&buf);
}

/* Each operation `n` times on both payloads or the one named, for callgrind. */
static int run_count(long n, const char *only)
{
  static const char *const names[] = {"full", "minimal"};
  static const char *const payloads[] = {full_payload, minimal_payload};
  fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
  for (size_t p = 0; p < sizeof payloads / sizeof payloads[0]; p++) {
    if (only && strcmp(only, names[p]) != 0)
      continue;
    size_t len = strlen(payloads[p]);
    for (long i = 0; i < n; i++)
      if (op_jansson(payloads[p], len, NULL) || op_parse(payloads[p], len, &rec) ||
          op_reference(payloads[p], len, &rec)) {
        fprintf(stderr, "bench_parse: operation failed: %s\n", fleet_error_last());
        return 1;
      }
  }
  printf("bench_parse: each operation %ld times per payload\n", n);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc > 2 && strcmp(argv[1], "--count") == 0)
    return run_count(atol(argv[2]), argc > 3 ? argv[3] : NULL);
  double seconds = argc > 1 ? atof(argv[1]) : 1.5;
  if (seconds <= 0) {
    fprintf(stderr, "usage: bench_parse [seconds per measurement]\n");
    return 2;
  }
  printf("bench_parse: libfleet %s, jansson %s, %.1f s per measurement\n",
         fleet_version_string(), JANSSON_VERSION, seconds);
  run("full", full_payload, seconds);
  run("minimal", minimal_payload, seconds);
  return 0;
}
