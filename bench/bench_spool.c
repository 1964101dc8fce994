/*
 * bench_spool: throughput of the disk spool and cost of an ingest-log append,
 * against dd on the same disk in the same run.
 *
 * Spool: 64 KiB batches appended (fsync never; fsync every 100 ms plus a final
 * fleet_spool_sync(); fsync always on a smaller run), then replayed with
 * peek + ack. Baselines: `dd if=/dev/zero of=F bs=64k count=N` with and without
 * conv=fdatasync, and `dd if=F of=/dev/null bs=64k` for reading, run with
 * posix_spawn and their own reports parsed. Ratios are spool / dd.
 *
 * Ingest log: 200-byte payloads on a 22-byte topic, no sync in the loop
 * (fleetd syncs from a timer): appends per second, CPU ns per append (process
 * CPU time, page faults included), latency percentiles, and a baseline of one
 * write() of the same record per message, the design the log does not use.
 *
 * Everything runs in a fresh directory under $TMPDIR (default /tmp); the
 * program prints which device that is and whether /work is on the same one.
 * Each figure is the best of the runs (shortest time, lowest cost). CPU times
 * come from getrusage, so a busy machine (other builds) shows up in them;
 * compare figures of one run with each other.
 *
 * Usage: bench_spool [MiB per spool run, default 256] [runs, default 3]
 *                    [ingest log messages, default 1000000]
 */
#include "common_int.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fleet/ingestlog.h"
#include "fleet/spool.h"

extern char **environ;

#define BATCH (64u * 1024u)

/* posix_spawn takes char *const argv[]: writable copies of the literal arguments. */
static char a_dd[] = "dd", a_zero[] = "if=/dev/zero", a_bs[] = "bs=64k",
            a_fdatasync[] = "conv=fdatasync", a_devnull[] = "of=/dev/null", a_df[] = "df",
            a_hp[] = "-hP";
#define MAX_RUNS 9

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User and kernel CPU time of the process so far. */
static void cpu_s(double *user, double *sys)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
  *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The smallest of the runs' times or costs: the run least disturbed by the rest
 * of the machine (this benchmark shares its disk and cores with other work). */
static double best(const double *v, int n)
{
  double m = v[0];
  for (int i = 1; i < n; i++)
    if (v[i] < m)
      m = v[i];
  return m;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static void rm_rf(const char *path)
{
  nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void die(const char *what)
{
  fprintf(stderr, "bench_spool: %s: %s (%s)\n", what, fleet_error_last(), strerror(errno));
  exit(1);
}

/* Run a command, capturing stdout+stderr into out (NUL-terminated). 0 on exit 0. */
static int run_capture(char *const argv[], char *out, size_t cap)
{
  posix_spawn_file_actions_t fa;
  int fds[2], status = 0;
  size_t len = 0;
  ssize_t got;
  pid_t pid;

  out[0] = '\0';
  if (pipe(fds) != 0)
    return -1;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  while (len + 1 < cap && (got = read(fds[0], out + len, cap - 1 - len)) > 0)
    len += (size_t)got;
  out[len] = '\0';
  close(fds[0]);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* dd's last line: "268435456 bytes (268 MB, 256 MiB) copied, 0.52 s, 516 MB/s". */
static int run_dd(char *const argv[], double *secs)
{
  char out[2048], *line, *copied;
  if (run_capture(argv, out, sizeof out) != 0) {
    fprintf(stderr, "bench_spool: dd failed: %s\n", out);
    return -1;
  }
  line = strstr(out, " bytes");
  copied = strstr(out, "copied, ");
  if (line == NULL || copied == NULL)
    return -1;
  *secs = strtod(copied + 8, NULL);
  return *secs > 0 ? 0 : -1;
}

/* ---- spool ---------------------------------------------------------------- */

typedef struct spool_run {
  double append_s; /* until the last append returned */
  double synced_s; /* plus a final fleet_spool_sync() */
  double replay_s; /* peek + ack of everything */
  uint64_t syncs;
} spool_run_t;

static void spool_run(spool_run_t *r, const char *dir, fleet_spool_fsync_t policy,
                      unsigned int interval_ms, uint64_t batches, const uint8_t *batch)
{
  fleet_spool_options_t o = FLEET_SPOOL_OPTIONS_INIT;
  fleet_spool_stats_t st = FLEET_SPOOL_STATS_INIT;
  fleet_buf_t b = FLEET_BUF_INIT;
  fleet_spool_t *sp;
  uint64_t seq, n = 0;
  double t0, t1, t2, t3;

  o.max_bytes = 0;
  o.fsync_policy = policy;
  o.fsync_interval_ms = interval_ms;
  if (fleet_spool_open(&sp, dir, &o) != 0)
    die("fleet_spool_open");
  t0 = now_s();
  for (uint64_t i = 0; i < batches; i++)
    if (fleet_spool_append(NULL, sp, batch, BATCH) != 0)
      die("fleet_spool_append");
  t1 = now_s();
  if (fleet_spool_sync(sp) != 0)
    die("fleet_spool_sync");
  t2 = now_s();
  fleet_spool_get_stats(&st, sp);
  t3 = now_s();
  while (fleet_spool_peek(&b, &seq, sp) == 0) {
    if (b.len != BATCH || fleet_spool_ack(sp, seq) != 0)
      die("replay");
    n++;
  }
  r->replay_s = now_s() - t3;
  if (n != batches)
    die("replay count");
  r->append_s = t1 - t0;
  r->synced_s = t2 - t0;
  r->syncs = st.syncs;
  fleet_buf_dispose(&b);
  fleet_spool_free(sp);
  rm_rf(dir);
}

/* ---- ingest log ----------------------------------------------------------- */

typedef struct log_run {
  double wall_s, user_s, sys_s;
  double p50, p99, p999, pmax; /* ns, from the timed pass */
  double replay_s;
  double write_wall_s, write_user_s, write_sys_s; /* write() per message baseline */
} log_run_t;

static int count_cb(const fleet_ingestlog_record_t *rec, void *userdata)
{
  (void)rec;
  (*(uint64_t *)userdata)++;
  return 0;
}

static int cmp_u32(const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static void log_run(log_run_t *r, const char *dir, uint64_t n)
{
  static const char topic[] = "fleet/v-000123/telemetry";
  fleet_ingestlog_options_t o = FLEET_INGESTLOG_OPTIONS_INIT;
  fleet_ingestlog_t *lg;
  uint8_t payload[200], rec[24 + 10 + sizeof topic + sizeof payload];
  uint32_t *lat;
  uint64_t count = 0, lat_n = n < 200000 ? n : 200000;
  char path[512];
  double t0, u0, s0, u1, s1, t;
  int fd;

  for (size_t i = 0; i < sizeof payload; i++)
    payload[i] = (uint8_t)('a' + i % 26);
  o.sync_interval_ms = 0;

  /* Throughput pass: nothing but appends. */
  if (fleet_ingestlog_open(&lg, dir, &o) != 0)
    die("fleet_ingestlog_open");
  t0 = now_s();
  cpu_s(&u0, &s0);
  for (uint64_t i = 0; i < n; i++)
    if (fleet_ingestlog_append(NULL, lg, topic, payload, sizeof payload) != 0)
      die("fleet_ingestlog_append");
  cpu_s(&u1, &s1);
  r->wall_s = now_s() - t0;
  r->user_s = u1 - u0;
  r->sys_s = s1 - s0;
  t = now_s();
  if (fleet_ingestlog_replay(lg, count_cb, &count) != 0 || count != n)
    die("fleet_ingestlog_replay");
  r->replay_s = now_s() - t;
  fleet_ingestlog_free(lg);
  rm_rf(dir);

  /* Latency pass: each append timed (the clock reads add ~20 ns each). */
  lat = malloc(lat_n * sizeof *lat);
  if (lat == NULL || fleet_ingestlog_open(&lg, dir, &o) != 0)
    die("latency pass");
  for (uint64_t i = 0; i < lat_n; i++) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (fleet_ingestlog_append(NULL, lg, topic, payload, sizeof payload) != 0)
      die("fleet_ingestlog_append");
    clock_gettime(CLOCK_MONOTONIC, &b);
    lat[i] = (uint32_t)((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec));
  }
  fleet_ingestlog_free(lg);
  rm_rf(dir);
  qsort(lat, lat_n, sizeof *lat, cmp_u32);
  r->p50 = lat[lat_n / 2];
  r->p99 = lat[lat_n * 99 / 100];
  r->p999 = lat[lat_n * 999 / 1000];
  r->pmax = lat[lat_n - 1];
  free(lat);

  /* Baseline: one write() per message of a record of the same size. */
  memset(rec, 'r', sizeof rec);
  if (mkdir(dir, 0700) != 0)
    die("mkdir");
  snprintf(path, sizeof path, "%s/write-baseline", dir);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    die("open baseline");
  t0 = now_s();
  cpu_s(&u0, &s0);
  for (uint64_t i = 0; i < n; i++)
    if (write(fd, rec, sizeof rec) != (ssize_t)sizeof rec)
      die("write baseline");
  cpu_s(&u1, &s1);
  r->write_wall_s = now_s() - t0;
  r->write_user_s = u1 - u0;
  r->write_sys_s = s1 - s0;
  close(fd);
  rm_rf(dir);
}

/* ---- main ----------------------------------------------------------------- */

int main(int argc, char **argv)
{
  uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 256;
  int runs = argc > 2 ? atoi(argv[2]) : 3;
  uint64_t msgs = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000;
  const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  char root[256], spooldir[300], ddfile[300], count_arg[64], of_arg[320], if_arg[320];
  char dfout[1024];
  uint8_t *batch;
  uint64_t batches, always_batches, bytes;
  struct stat st_tmp, st_work;
  double dd_cache[MAX_RUNS], dd_sync[MAX_RUNS], dd_read[MAX_RUNS];
  double sp_never[MAX_RUNS], sp_never_rd[MAX_RUNS], sp_int[MAX_RUNS], sp_int_rd[MAX_RUNS];
  double sp_always[MAX_RUNS];
  double lg_cpu[MAX_RUNS], lg_user[MAX_RUNS], lg_sys[MAX_RUNS], lg_wall[MAX_RUNS];
  double lg_p50[MAX_RUNS], lg_p99[MAX_RUNS], lg_p999[MAX_RUNS], lg_max[MAX_RUNS];
  double lg_replay[MAX_RUNS], wr_cpu[MAX_RUNS], wr_user[MAX_RUNS], wr_sys[MAX_RUNS];
  double wr_wall[MAX_RUNS];
  uint64_t int_syncs = 0;

  if (mib < 1 || runs < 1 || runs > MAX_RUNS || msgs < 1000) {
    fprintf(stderr, "usage: bench_spool [MiB >= 1] [runs 1-%d] [messages >= 1000]\n", MAX_RUNS);
    return 2;
  }
  batches = mib * 1024 * 1024 / BATCH;
  always_batches = batches / 16 > 0 ? batches / 16 : 1;
  bytes = batches * BATCH;
  snprintf(root, sizeof root, "%s/fleet-bench-spool-XXXXXX", tmp);
  if (mkdtemp(root) == NULL)
    die("mkdtemp");
  snprintf(spooldir, sizeof spooldir, "%s/spool", root);
  snprintf(ddfile, sizeof ddfile, "%s/dd.out", root);
  snprintf(count_arg, sizeof count_arg, "count=%" PRIu64, batches);
  snprintf(of_arg, sizeof of_arg, "of=%s", ddfile);
  snprintf(if_arg, sizeof if_arg, "if=%s", ddfile);
  batch = malloc(BATCH);
  if (batch == NULL)
    die("malloc");
  for (size_t i = 0; i < BATCH; i++)
    batch[i] = (uint8_t)(i * 2654435761u >> 13);

  printf("bench_spool: disk spool and ingest log against dd, same disk, same run\n");
  if (stat(root, &st_tmp) == 0 && stat(FLEET_SHARED_DATA_DIR "/..", &st_work) == 0)
    printf("directory %s: device %u:%u; %s is %s\n", root, major(st_tmp.st_dev),
           minor(st_tmp.st_dev), FLEET_SHARED_DATA_DIR "/..",
           st_tmp.st_dev == st_work.st_dev ? "on the same device"
                                            : "on a DIFFERENT device");
  {
    char *dfargv[] = {a_df, a_hp, root, NULL};
    if (run_capture(dfargv, dfout, sizeof dfout) == 0)
      printf("%s", dfout);
  }
  printf("spool: %" PRIu64 " batches of 64 KiB (%" PRIu64 " MiB) per run, 16 MiB segments; "
         "best of %d runs\n\n",
         batches, mib, runs);
  fflush(stdout);

  for (int k = 0; k < runs; k++) {
    char *dd1[] = {a_dd, a_zero, of_arg, a_bs, count_arg, NULL};
    char *dd2[] = {a_dd, a_zero, of_arg, a_bs, count_arg, a_fdatasync, NULL};
    char *dd3[] = {a_dd, if_arg, a_devnull, a_bs, NULL};
    spool_run_t r;

    if (run_dd(dd1, &dd_cache[k]) != 0 || run_dd(dd3, &dd_read[k]) != 0)
      die("dd");
    unlink(ddfile);
    if (run_dd(dd2, &dd_sync[k]) != 0)
      die("dd conv=fdatasync");
    unlink(ddfile);

    spool_run(&r, spooldir, FLEET_SPOOL_FSYNC_NEVER, 1000, batches, batch);
    sp_never[k] = r.append_s;
    sp_never_rd[k] = r.replay_s;
    spool_run(&r, spooldir, FLEET_SPOOL_FSYNC_INTERVAL, 100, batches, batch);
    sp_int[k] = r.synced_s;
    sp_int_rd[k] = r.replay_s;
    int_syncs = r.syncs;
    spool_run(&r, spooldir, FLEET_SPOOL_FSYNC_ALWAYS, 1000, always_batches, batch);
    sp_always[k] = r.synced_s;
  }
  {
    double ddc = (double)bytes / best(dd_cache, runs) / 1e6;
    double dds = (double)bytes / best(dd_sync, runs) / 1e6;
    double ddr = (double)bytes / best(dd_read, runs) / 1e6;
    double nev = (double)bytes / best(sp_never, runs) / 1e6;
    double itv = (double)bytes / best(sp_int, runs) / 1e6;
    double alw = (double)(always_batches * BATCH) / best(sp_always, runs) / 1e6;
    double nrd = (double)bytes / best(sp_never_rd, runs) / 1e6;
    double ird = (double)bytes / best(sp_int_rd, runs) / 1e6;

    printf("%-58s %9s %9s\n", "write", "MB/s", "ratio");
    printf("%-58s %9.0f %9s\n", "dd bs=64k (page cache, no sync)", ddc, "1.00");
    printf("%-58s %9.0f %9.2f\n", "spool append, fsync never", nev, nev / ddc);
    printf("%-58s %9.0f %9s\n", "dd bs=64k conv=fdatasync", dds, "1.00");
    printf("%-58s %9.0f %9.2f\n", "spool append, fsync every 100 ms, + final sync", itv,
           itv / dds);
    printf("  (%" PRIu64 " fdatasyncs in the last run)\n", int_syncs);
    printf("%-58s %9.0f %9.2f\n", "spool append, fsync always (1/16 of the data)", alw,
           alw / dds);
    printf("\n%-58s %9s %9s\n", "replay", "MB/s", "ratio");
    printf("%-58s %9.0f %9s\n", "dd if=file of=/dev/null bs=64k (page cache)", ddr, "1.00");
    printf("%-58s %9.0f %9.2f\n", "spool peek + ack, after fsync never", nrd, nrd / ddr);
    printf("%-58s %9.0f %9.2f\n", "spool peek + ack, after fsync every 100 ms", ird,
           ird / ddr);
    fflush(stdout);
  }

  printf("\ningest log: %" PRIu64 " appends of 200-byte payloads, topic of 24 bytes, no sync "
         "in the loop; best of %d runs\n",
         msgs, runs);
  for (int k = 0; k < runs; k++) {
    log_run_t r;
    log_run(&r, spooldir, msgs);
    lg_cpu[k] = r.user_s + r.sys_s;
    lg_user[k] = r.user_s;
    lg_sys[k] = r.sys_s;
    lg_wall[k] = r.wall_s;
    lg_p50[k] = r.p50;
    lg_p99[k] = r.p99;
    lg_p999[k] = r.p999;
    lg_max[k] = r.pmax;
    lg_replay[k] = r.replay_s;
    wr_cpu[k] = r.write_user_s + r.write_sys_s;
    wr_user[k] = r.write_user_s;
    wr_sys[k] = r.write_sys_s;
    wr_wall[k] = r.write_wall_s;
  }
  {
    double cpu_ns = best(lg_cpu, runs) / (double)msgs * 1e9;
    double wall = best(lg_wall, runs);
    double wcpu_ns = best(wr_cpu, runs) / (double)msgs * 1e9;
    double wwall = best(wr_wall, runs);
    printf("%-58s %12.0f\n", "fleet_ingestlog_append: appends/s", (double)msgs / wall);
    printf("%-58s %12.0f\n", "fleet_ingestlog_append: CPU ns per append", cpu_ns);
    printf("%-58s %12.0f %.0f\n", "  of which user, kernel (page-cache pages on first touch)",
           best(lg_user, runs) / (double)msgs * 1e9, best(lg_sys, runs) / (double)msgs * 1e9);
    printf("%-58s %12.0f %.0f %.0f %.0f\n", "  latency ns p50 p99 p99.9 max", best(lg_p50, runs),
           best(lg_p99, runs), best(lg_p999, runs), best(lg_max, runs));
    printf("%-58s %12.0f\n", "baseline write() per message: appends/s", (double)msgs / wwall);
    printf("%-58s %12.0f\n", "baseline write() per message: CPU ns per append", wcpu_ns);
    printf("%-58s %12.0f %.0f\n", "  of which user, kernel",
           best(wr_user, runs) / (double)msgs * 1e9, best(wr_sys, runs) / (double)msgs * 1e9);
    printf("%-58s %12.2f\n", "CPU per append, ingest log / write() baseline", cpu_ns / wcpu_ns);
    printf("%-58s %12.0f\n", "fleet_ingestlog_replay: records/s",
           (double)msgs / best(lg_replay, runs));
  }
  free(batch);
  rm_rf(root);
  return 0;
}
