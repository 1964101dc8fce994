/* segment: record format, CRC32C, scanning and directory helpers shared by the
 * spool and the ingest log (see segment_int.h for the format). */
#include "common_int.h"

#include "segment_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char ckpt_name[] = "checkpoint";
static const char ckpt_tmp_name[] = "checkpoint.tmp";
static const char lock_name[] = "LOCK";
static const uint8_t file_magic[8] = {'F', 'L', 'E', 'E', 'T', 'S', 'E', 'G'};
static const uint8_t ckpt_magic[8] = {'F', 'L', 'E', 'E', 'T', 'C', 'K', 'P'};

/* ---- CRC32C ------------------------------------------------------------- */

/* Reflected Castagnoli polynomial; the software path uses slicing-by-8. */
#define CRC32C_POLY 0x82f63b78u

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static uint32_t (*crc_impl)(uint32_t, const uint8_t *, size_t);

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t n)
{
  crc = ~crc;
  while (n > 0 && ((uintptr_t)p & 7u) != 0) {
    crc = crc_table[0][(crc ^ *p++) & 0xffu] ^ (crc >> 8);
    n--;
  }
  while (n >= 8) {
    uint32_t lo = crc ^ fleet_seg__get32(p);
    uint32_t hi = fleet_seg__get32(p + 4);
    crc = crc_table[7][lo & 0xffu] ^ crc_table[6][(lo >> 8) & 0xffu] ^
          crc_table[5][(lo >> 16) & 0xffu] ^ crc_table[4][lo >> 24] ^
          crc_table[3][hi & 0xffu] ^ crc_table[2][(hi >> 8) & 0xffu] ^
          crc_table[1][(hi >> 16) & 0xffu] ^ crc_table[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0)
    crc = crc_table[0][(crc ^ *p++) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc,
                                                            const uint8_t *p, size_t n)
{
  uint64_t c = ~crc;
  while (n > 0 && ((uintptr_t)p & 7u) != 0) {
    c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    n--;
  }
  while (n >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  while (n-- > 0)
    c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
  return ~(uint32_t)c;
}
#endif

static void crc_init(void)
{
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = (c & 1u) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
    crc_table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++)
      crc_table[t][i] =
          crc_table[0][crc_table[t - 1][i] & 0xffu] ^ (crc_table[t - 1][i] >> 8);
  crc_impl = crc32c_sw;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2"))
    crc_impl = crc32c_hw;
#endif
}

uint32_t fleet_seg__crc32c(uint32_t crc, const void *data, size_t len)
{
  pthread_once(&crc_once, crc_init);
  return crc_impl(crc, (const uint8_t *)data, len);
}

/* ---- headers -------------------------------------------------------------- */

void fleet_seg__file_header(uint8_t out[FLEET_SEG_FILE_HDR], uint32_t kind, uint64_t base)
{
  memcpy(out, file_magic, 8);
  fleet_seg__put32(out + 8, FLEET_SEG_FORMAT_VERSION);
  fleet_seg__put32(out + 12, kind);
  fleet_seg__put64(out + 16, base);
  fleet_seg__put32(out + 24, 0);
  fleet_seg__put32(out + 28, fleet_seg__crc32c(0, out, 28));
}

int fleet_seg__check_file_header(const uint8_t *p, size_t len, uint32_t kind)
{
  if (len < FLEET_SEG_FILE_HDR || memcmp(p, file_magic, 8) != 0 ||
      fleet_seg__get32(p + 28) != fleet_seg__crc32c(0, p, 28))
    return FLEET_ECORRUPT;
  if (fleet_seg__get32(p + 8) != FLEET_SEG_FORMAT_VERSION || fleet_seg__get32(p + 12) != kind)
    return FLEET_EVERSION;
  return 0;
}

void fleet_seg__rec_header(uint8_t out[FLEET_SEG_REC_HDR], uint64_t seq, uint32_t len,
                           uint32_t payload_crc)
{
  fleet_seg__put32(out, FLEET_SEG_REC_MAGIC);
  fleet_seg__put32(out + 4, len);
  fleet_seg__put64(out + 8, seq);
  fleet_seg__put32(out + 16, payload_crc);
  fleet_seg__put32(out + 20, fleet_seg__crc32c(0, out, 20));
}

int fleet_seg__parse_rec_header(fleet_seg_hdr_t *out, const uint8_t p[FLEET_SEG_REC_HDR])
{
  if (fleet_seg__get32(p) != FLEET_SEG_REC_MAGIC ||
      fleet_seg__get32(p + 20) != fleet_seg__crc32c(0, p, 20))
    return -1;
  out->len = fleet_seg__get32(p + 4);
  out->seq = fleet_seg__get64(p + 8);
  out->payload_crc = fleet_seg__get32(p + 16);
  return out->len > FLEET_SEG_PAYLOAD_MAX ? -1 : 0;
}

/* ---- scanning ------------------------------------------------------------- */

int fleet_seg__valid_at(const uint8_t *data, uint64_t size, uint64_t pos,
                        uint64_t last_seq, fleet_seg_hdr_t *out)
{
  fleet_seg_hdr_t h;
  if (pos > size || size - pos < FLEET_SEG_REC_HDR)
    return 0;
  if (fleet_seg__parse_rec_header(&h, data + pos) != 0 || h.seq <= last_seq)
    return 0;
  if (size - pos - FLEET_SEG_REC_HDR < h.len)
    return 0;
  if (fleet_seg__crc32c(0, data + pos + FLEET_SEG_REC_HDR, h.len) != h.payload_crc)
    return 0;
  *out = h;
  return 1;
}

void fleet_seg__scan_init(fleet_seg_scan_t *s, const uint8_t *data, uint64_t size,
                          uint64_t pos, uint64_t last_seq)
{
  memset(s, 0, sizeof *s);
  s->data = data;
  s->size = size;
  s->pos = pos;
  s->last_seq = last_seq;
}

static int all_zero(const uint8_t *p, uint64_t n)
{
  static const uint8_t zeros[4096];
  while (n > 0) {
    size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
    if (memcmp(p, zeros, k) != 0)
      return 0;
    p += k;
    n -= k;
  }
  return 1;
}

/* The next offset at or after `from` where a whole valid record starts. */
static int resync(const fleet_seg_scan_t *s, uint64_t from, uint64_t *out)
{
  uint8_t magic[4];
  fleet_seg__put32(magic, FLEET_SEG_REC_MAGIC);
  while (from < s->size && s->size - from >= FLEET_SEG_REC_HDR) {
    const uint8_t *hit = memmem(s->data + from, (size_t)(s->size - from), magic, 4);
    fleet_seg_hdr_t h;
    if (hit == NULL)
      return 0;
    uint64_t at = (uint64_t)(hit - s->data);
    if (fleet_seg__valid_at(s->data, s->size, at, s->last_seq, &h)) {
      *out = at;
      return 1;
    }
    from = at + 1;
  }
  return 0;
}

int fleet_seg__scan_next(fleet_seg_scan_t *s, fleet_seg_rec_t *rec)
{
  fleet_seg_hdr_t h;
  uint64_t start, next = 0;
  int found = 0;

  if (s->done)
    return FLEET_SEG_END;
  if (s->pos >= s->size) {
    s->done = 1;
    return FLEET_SEG_END;
  }
  start = s->pos;
  if (fleet_seg__valid_at(s->data, s->size, start, s->last_seq, &h)) {
    rec->seq = h.seq;
    rec->off = start;
    rec->len = h.len;
    rec->payload = s->data + start + FLEET_SEG_REC_HDR;
    s->pos = start + FLEET_SEG_REC_HDR + h.len;
    s->last_seq = h.seq;
    return FLEET_SEG_RECORD;
  }
  /* A sound header with a damaged payload tells where the next record is;
   * trusting it avoids resynchronising on a record image inside the payload. */
  if (s->size - start >= FLEET_SEG_REC_HDR &&
      fleet_seg__parse_rec_header(&h, s->data + start) == 0 && h.seq > s->last_seq &&
      s->size - start - FLEET_SEG_REC_HDR >= h.len) {
    uint64_t cand = start + FLEET_SEG_REC_HDR + h.len;
    fleet_seg_hdr_t h2;
    if (fleet_seg__valid_at(s->data, s->size, cand, s->last_seq, &h2)) {
      next = cand;
      found = 1;
    }
  }
  if (!found)
    found = resync(s, start + 1, &next);
  if (found) {
    s->bad_start = start;
    s->bad_end = next;
    s->pos = next;
    return FLEET_SEG_CORRUPT;
  }
  s->done = 1;
  if (all_zero(s->data + start, s->size - start))
    return FLEET_SEG_END;
  s->bad_start = start;
  s->bad_end = s->size;
  return FLEET_SEG_TORN;
}

/* ---- directory ------------------------------------------------------------ */

static int io_error(const fleet_segdir_t *d, const char *op, const char *name, int err)
{
  char buf[128];
  const char *msg = strerror_r(err, buf, sizeof buf);
  return fleet_error__set(FLEET_EIO, "%s %s: %s %s: %s", d->what, d->path, op, name, msg);
}

int fleet_seg__io_error(const fleet_segdir_t *d, const char *op, uint64_t base, int err)
{
  char name[FLEET_SEG_NAME_LEN + 1];
  fleet_seg__name(name, base);
  return io_error(d, op, name, err);
}

void fleet_seg__vreport(char *msg, size_t cap, fleet_buf_t *warnings, const fleet_segdir_t *d,
                        const char *fmt, va_list ap)
{
  int n = snprintf(msg, cap, "%s %s: ", d->what, d->path);
  size_t prefix;
  if (n > 0 && (size_t)n < cap) {
    prefix = (size_t)n;
    vsnprintf(msg + prefix, cap - prefix, fmt, ap);
  } else {
    prefix = strlen(msg); /* a path too long for msg: the cut prefix and nothing else */
  }
  if (warnings != NULL) {
    if (warnings->len > 0)
      fleet_buf__puts(warnings, "; ");
    fleet_buf__puts(warnings, warnings->len > 0 ? msg + prefix : msg);
  }
}

void fleet_seg__open_warnings_done(fleet_buf_t *warnings)
{
  if (warnings->len > 0)
    fleet_error__set(FLEET_ECORRUPT, "%s", warnings->ptr);
  else
    fleet_error_clear();
  fleet_buf_dispose(warnings);
}

int fleet_seg__dir_open(fleet_segdir_t *d, const char *path, uint32_t kind,
                        const char *what)
{
  memset(d, 0, sizeof *d);
  d->dirfd = -1;
  d->lockfd = -1;
  d->kind = kind;
  d->what = what;
  d->path = strdup(path);
  if (d->path == NULL)
    return fleet_error__oom();
  if (mkdir(path, 0700) != 0 && errno != EEXIST)
    return io_error(d, "mkdir", "", errno);
  d->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d->dirfd < 0)
    return io_error(d, "open", "", errno);
  d->lockfd = openat(d->dirfd, lock_name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (d->lockfd < 0)
    return io_error(d, "open", lock_name, errno);
  if (flock(d->lockfd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return fleet_error__set(FLEET_ESTATE,
                              "%s %s: in use by another handle or process (LOCK is held)",
                              what, path);
    return io_error(d, "flock", lock_name, errno);
  }
  if (unlinkat(d->dirfd, ckpt_tmp_name, 0) != 0 && errno != ENOENT)
    return io_error(d, "unlink", ckpt_tmp_name, errno);
  return 0;
}

void fleet_seg__dir_close(fleet_segdir_t *d)
{
  if (d->lockfd >= 0)
    close(d->lockfd); /* closing the last descriptor releases the flock */
  if (d->dirfd >= 0)
    close(d->dirfd);
  free(d->path);
  d->path = NULL;
  d->lockfd = d->dirfd = -1;
}

void fleet_seg__name(char out[FLEET_SEG_NAME_LEN + 1], uint64_t base)
{
  snprintf(out, FLEET_SEG_NAME_LEN + 1, "%020" PRIu64 ".seg", base);
}

static int parse_name(uint64_t *out, const char *name)
{
  uint64_t v = 0;
  if (strlen(name) != FLEET_SEG_NAME_LEN || strcmp(name + 20, ".seg") != 0)
    return -1;
  for (int i = 0; i < 20; i++) {
    unsigned int digit = (unsigned int)(name[i] - '0');
    if (digit > 9 || v > (UINT64_MAX - digit) / 10)
      return -1;
    v = v * 10 + digit;
  }
  *out = v;
  return 0;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

int fleet_seg__dir_list(uint64_t **out, size_t *out_n, const fleet_segdir_t *d)
{
  uint64_t *v = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  int fd = openat(d->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dp;

  *out = NULL;
  *out_n = 0;
  if (fd < 0)
    return io_error(d, "open", ".", errno);
  dp = fdopendir(fd);
  if (dp == NULL) {
    int err = errno;
    close(fd);
    return io_error(d, "opendir", "", err);
  }
  errno = 0;
  while ((e = readdir(dp)) != NULL) {
    uint64_t base;
    if (parse_name(&base, e->d_name) != 0)
      continue;
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      uint64_t *nv = realloc(v, ncap * sizeof *nv);
      if (nv == NULL) {
        free(v);
        closedir(dp);
        return fleet_error__oom();
      }
      v = nv;
      cap = ncap;
    }
    v[n++] = base;
  }
  closedir(dp);
  if (n > 1)
    qsort(v, n, sizeof *v, cmp_u64);
  *out = v;
  *out_n = n;
  return 0;
}

int fleet_seg__fsync_dir(const fleet_segdir_t *d)
{
  if (fsync(d->dirfd) != 0)
    return io_error(d, "fsync", "directory", errno);
  return 0;
}

int fleet_seg__create(int *out_fd, const fleet_segdir_t *d, uint64_t base, int durable)
{
  char name[FLEET_SEG_NAME_LEN + 1];
  uint8_t hdr[FLEET_SEG_FILE_HDR];
  int fd, err;

  *out_fd = -1;
  fleet_seg__name(name, base);
  fd = openat(d->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return io_error(d, "create", name, errno);
  fleet_seg__file_header(hdr, d->kind, base);
  if (pwrite(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr) {
    err = errno ? errno : EIO;
    goto fail;
  }
  if (durable && fdatasync(fd) != 0) {
    err = errno;
    goto fail;
  }
  if (durable && fsync(d->dirfd) != 0) {
    err = errno;
    goto fail;
  }
  *out_fd = fd;
  return 0;
fail:
  close(fd);
  unlinkat(d->dirfd, name, 0);
  return io_error(d, "write", name, err);
}

int fleet_seg__open(int *out_fd, const fleet_segdir_t *d, uint64_t base, int flags)
{
  char name[FLEET_SEG_NAME_LEN + 1];
  fleet_seg__name(name, base);
  *out_fd = openat(d->dirfd, name, flags | O_CLOEXEC);
  if (*out_fd < 0) {
    int err = errno;
    int rc = io_error(d, "open", name, err);
    errno = err; /* callers tell a missing segment from other failures */
    return rc;
  }
  return 0;
}

int fleet_seg__unlink(const fleet_segdir_t *d, uint64_t base)
{
  char name[FLEET_SEG_NAME_LEN + 1];
  fleet_seg__name(name, base);
  if (unlinkat(d->dirfd, name, 0) != 0 && errno != ENOENT)
    return io_error(d, "unlink", name, errno);
  return 0;
}

int fleet_seg__map(const uint8_t **out, int fd, uint64_t size)
{
  void *p;
  *out = NULL;
  if (size == 0)
    return 0;
  if (size > SIZE_MAX)
    return fleet_error__set(FLEET_EIO, "segment of %" PRIu64 " bytes cannot be mapped", size);
  p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    char buf[128];
    return fleet_error__set(FLEET_EIO, "mmap of a %" PRIu64 "-byte segment: %s", size,
                            strerror_r(errno, buf, sizeof buf));
  }
  *out = p;
  return 0;
}

void fleet_seg__unmap(const uint8_t *p, uint64_t size)
{
  if (p != NULL)
    munmap((void *)(uintptr_t)p, (size_t)size);
}

/* ---- checkpoint ----------------------------------------------------------- */

int fleet_seg__ckpt_read(uint64_t *out, int *out_reset, const fleet_segdir_t *d)
{
  uint8_t b[FLEET_SEG_CKPT_SIZE];
  ssize_t got;
  int fd = openat(d->dirfd, ckpt_name, O_RDONLY | O_CLOEXEC);

  *out = 0;
  *out_reset = 0;
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    *out_reset = 1;
    return 0;
  }
  got = pread(fd, b, sizeof b, 0);
  close(fd);
  if (got != (ssize_t)sizeof b || memcmp(b, ckpt_magic, 8) != 0 ||
      fleet_seg__get32(b + 24) != fleet_seg__crc32c(0, b, 24)) {
    *out_reset = 1;
    return 0;
  }
  if (fleet_seg__get32(b + 8) != FLEET_SEG_FORMAT_VERSION || fleet_seg__get32(b + 12) != d->kind)
    return fleet_error__set(FLEET_EVERSION,
                            "%s %s: checkpoint has format %" PRIu32 ", kind %" PRIu32
                            "; expected format %u, kind %" PRIu32,
                            d->what, d->path, fleet_seg__get32(b + 8),
                            fleet_seg__get32(b + 12), FLEET_SEG_FORMAT_VERSION, d->kind);
  *out = fleet_seg__get64(b + 16);
  return 0;
}

int fleet_seg__ckpt_write(const fleet_segdir_t *d, uint64_t seq, int durable)
{
  uint8_t b[FLEET_SEG_CKPT_SIZE];
  int fd, err;

  memcpy(b, ckpt_magic, 8);
  fleet_seg__put32(b + 8, FLEET_SEG_FORMAT_VERSION);
  fleet_seg__put32(b + 12, d->kind);
  fleet_seg__put64(b + 16, seq);
  fleet_seg__put32(b + 24, fleet_seg__crc32c(0, b, 24));
  fleet_seg__put32(b + 28, 0);
  fd = openat(d->dirfd, ckpt_tmp_name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return io_error(d, "create", ckpt_tmp_name, errno);
  if (pwrite(fd, b, sizeof b, 0) != (ssize_t)sizeof b) {
    err = errno ? errno : EIO;
    close(fd);
    return io_error(d, "write", ckpt_tmp_name, err);
  }
  if (durable && fsync(fd) != 0) {
    err = errno;
    close(fd);
    return io_error(d, "fsync", ckpt_tmp_name, err);
  }
  if (close(fd) != 0)
    return io_error(d, "close", ckpt_tmp_name, errno);
  if (renameat(d->dirfd, ckpt_tmp_name, d->dirfd, ckpt_name) != 0)
    return io_error(d, "rename", ckpt_tmp_name, errno);
  if (durable)
    return fleet_seg__fsync_dir(d);
  return 0;
}

uint64_t fleet_seg__mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
