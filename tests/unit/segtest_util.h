/* Helpers for the spool and ingest log tests: temporary directories under /tmp,
 * whole-file reads and writes, segment listings, fork-based crash children. */
#ifndef FLEET_SEGTEST_UTIL_H
#define FLEET_SEGTEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct segtest_dir {
  char root[64];  /* the mkdtemp directory */
  char path[128]; /* root/log: the directory under test (created by open) */
} segtest_dir_t;

static int segtest_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static segtest_dir_t *segtest_dir_new(void)
{
  segtest_dir_t *d = calloc(1, sizeof *d);
  if (d == NULL)
    return NULL;
  strcpy(d->root, "/tmp/fleet-segtest-XXXXXX");
  if (mkdtemp(d->root) == NULL) {
    free(d);
    return NULL;
  }
  snprintf(d->path, sizeof d->path, "%s/log", d->root);
  return d;
}

static void segtest_dir_free(segtest_dir_t *d)
{
  if (d == NULL)
    return;
  nftw(d->root, segtest_rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(d);
}

/* CMocka setup and teardown: a fresh segtest_dir_t as the test's state
 * (SEGTEST(fn) in a CMUnitTest table). */
#define SEGTEST(fn) cmocka_unit_test_setup_teardown(fn, segtest_setup, segtest_teardown)

static int segtest_setup(void **state)
{
  *state = segtest_dir_new();
  return *state == NULL ? -1 : 0;
}

static int segtest_teardown(void **state)
{
  segtest_dir_free(*state);
  return 0;
}

static int segtest_cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the *.seg files in `dir` (each malloc'd); returns the count. */
static size_t segtest_list(const char *dir, char ***out)
{
  DIR *dp = opendir(dir);
  struct dirent *e;
  char **v = NULL;
  size_t n = 0;
  *out = NULL;
  if (dp == NULL)
    return 0;
  while ((e = readdir(dp)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len > 4 && strcmp(e->d_name + len - 4, ".seg") == 0) {
      char **nv = realloc(v, (n + 1) * sizeof *v);
      if (nv == NULL)
        break;
      v = nv;
      v[n++] = strdup(e->d_name);
    }
  }
  closedir(dp);
  if (n > 1)
    qsort(v, n, sizeof *v, segtest_cmp_str);
  *out = v;
  return n;
}

static void segtest_list_free(char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

/* How many *.seg files `dir` holds. */
static size_t segtest_seg_count(const char *dir)
{
  char **v;
  size_t n = segtest_list(dir, &v);
  segtest_list_free(v, n);
  return n;
}

/* Path of the i-th segment file (sorted), or of the last one when i == (size_t)-1. */
static int segtest_seg_path(char *out, size_t cap, const char *dir, size_t i)
{
  char **v;
  size_t n = segtest_list(dir, &v);
  int rc = -1;
  if (n > 0) {
    size_t k = i == (size_t)-1 ? n - 1 : i;
    if (k < n) {
      snprintf(out, cap, "%s/%s", dir, v[k]);
      rc = 0;
    }
  }
  segtest_list_free(v, n);
  return rc;
}

static uint8_t *segtest_read(const char *path, size_t *len)
{
  struct stat st;
  uint8_t *buf;
  int fd = open(path, O_RDONLY);
  *len = 0;
  if (fd < 0)
    return NULL;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return NULL;
  }
  buf = malloc((size_t)st.st_size + 1);
  if (buf != NULL && pread(fd, buf, (size_t)st.st_size, 0) != (ssize_t)st.st_size) {
    free(buf);
    buf = NULL;
  }
  close(fd);
  if (buf != NULL)
    *len = (size_t)st.st_size;
  return buf;
}

static int segtest_write(const char *path, const uint8_t *data, size_t len)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int ok;
  if (fd < 0)
    return -1;
  ok = len == 0 || write(fd, data, len) == (ssize_t)len;
  close(fd);
  return ok ? 0 : -1;
}

static long long segtest_file_size(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Deterministic test payload number i: length and bytes depend on i. */
static size_t segtest_payload(uint8_t *buf, size_t cap, uint64_t i, size_t min, size_t spread)
{
  size_t len = min + (size_t)((i * 2654435761u) % (spread ? spread : 1));
  if (len > cap)
    len = cap;
  for (size_t k = 0; k < len; k++)
    buf[k] = (uint8_t)((i * 31u + k * 7u) ^ (k >> 3));
  if (len >= 8)
    memcpy(buf, &i, sizeof i); /* the number itself, for diagnostics */
  return len;
}

/* Run fn(arg) in a child process that ends with _exit(code) or, when
 * `kill_self`, with SIGKILL; return the child's wait status. */
static int segtest_fork(int (*fn)(void *), void *arg, int kill_self)
{
  int status = -1;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    int code = fn(arg);
    if (kill_self && code == 0)
      kill(getpid(), SIGKILL);
    _exit(code);
  }
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

/* Every regular file of a directory, to put it back exactly (crash simulations). */
typedef struct segtest_snapshot {
  size_t n;
  char *names[64];
  uint8_t *data[64];
  size_t len[64];
} segtest_snapshot_t;

static int segtest_snapshot_take(segtest_snapshot_t *s, const char *dir)
{
  DIR *dp = opendir(dir);
  struct dirent *e;
  memset(s, 0, sizeof *s);
  if (dp == NULL)
    return -1;
  while ((e = readdir(dp)) != NULL && s->n < 64) {
    char p[512];
    if (e->d_name[0] == '.')
      continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    s->names[s->n] = strdup(e->d_name);
    s->data[s->n] = segtest_read(p, &s->len[s->n]);
    s->n++;
  }
  closedir(dp);
  return 0;
}

/* Delete every file in `dir`, then write the snapshot back. */
static int segtest_snapshot_restore(const segtest_snapshot_t *s, const char *dir)
{
  DIR *dp = opendir(dir);
  struct dirent *e;
  if (dp == NULL)
    return -1;
  while ((e = readdir(dp)) != NULL) {
    char p[512];
    if (e->d_name[0] == '.')
      continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(dp);
  for (size_t i = 0; i < s->n; i++) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, s->names[i]);
    if (segtest_write(p, s->data[i], s->len[i]) != 0)
      return -1;
  }
  return 0;
}

static void segtest_snapshot_free(segtest_snapshot_t *s)
{
  for (size_t i = 0; i < s->n; i++) {
    free(s->names[i]);
    free(s->data[i]);
  }
  s->n = 0;
}

/* XOR one byte of a file in place. */
static int segtest_flip(const char *path, long long off, uint8_t mask)
{
  uint8_t b;
  int ok, fd = open(path, O_RDWR);
  if (fd < 0)
    return -1;
  ok = pread(fd, &b, 1, (off_t)off) == 1;
  b ^= mask;
  ok = ok && pwrite(fd, &b, 1, (off_t)off) == 1;
  close(fd);
  return ok ? 0 : -1;
}

#endif /* FLEET_SEGTEST_UTIL_H */
