/* files: the files fleetd shares with other replicas and with operators
 * (zones, rules): identity, reading, atomic replacement, an exclusive lock. */
#include "fleetd.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void fleetd_file_id(fleetd_file_id_t *out, const char *path)
{
  struct stat st;
  memset(out, 0, sizeof *out);
  if (stat(path, &st) != 0)
    return;
  out->present = true;
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  out->size = st.st_size;
  out->mtim = st.st_mtim;
}

bool fleetd_same_file(const fleetd_file_id_t *a, const fleetd_file_id_t *b)
{
  if (a->present != b->present)
    return false;
  return !a->present || (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
                         a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec);
}

/* Largest zones file read. */
#define ZONES_FILE_MAX (256u * 1024u * 1024u)

/* Append the file to `out`: 0, or -errno (-EFBIG past `max` bytes). */
static int read_file(fleet_buf_t *out, const char *path, size_t max)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return -errno;
  char chunk[65536];
  size_t n;
  int rc = 0;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (out->len + n > max) {
      rc = -EFBIG;
      break;
    }
    if (fleet_buf_append(out, chunk, n)) {
      rc = -ENOMEM;
      break;
    }
  }
  if (!rc && ferror(f))
    rc = -EIO;
  fclose(f);
  return rc;
}

int fleetd_zones_load_file(fleet_zoneset_t *set, const char *path)
{
  fleet_buf_t buf = FLEET_BUF_INIT;
  int rc = read_file(&buf, path, ZONES_FILE_MAX);
  if (!rc && fleet_zoneset_load_geojson(set, buf.ptr ? buf.ptr : "", buf.len,
                                        FLEET_ZONESET_LOAD_REPLACE_ALL) != 0)
    rc = 1;
  fleet_buf_dispose(&buf);
  return rc;
}

int fleetd_write_atomic(const char *path, const char *data, size_t len)
{
  /* The process id in the name: two replicas writing at once never share a
   * temporary file (the lock orders them, this keeps a writer without it safe). */
  char tmp[FLEETD_PATH_MAX + 32];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int e = w < 0 ? errno : EIO;
      close(fd);
      unlink(tmp);
      errno = e;
      return -1;
    }
    off += (size_t)w;
  }
  if (fsync(fd) || close(fd) || rename(tmp, path)) {
    int e = errno;
    unlink(tmp);
    errno = e;
    return -1;
  }
  char dir[FLEETD_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  int dfd = open(slash ? (*dir ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

int fleetd_file_lock(const char *path)
{
  char lp[FLEETD_PATH_MAX + 16];
  snprintf(lp, sizeof lp, "%s.lock", path);
  int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
  }
  return fd;
}

void fleetd_file_unlock(int fd)
{
  if (fd >= 0)
    close(fd); /* releases the lock */
}
