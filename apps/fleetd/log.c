/* fleetd logging: logfmt lines on stderr. */
#include "fleetd.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int min_level = FLEETD_INFO;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

int64_t fleetd_mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fleetd_wall_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int fleetd_log_level_parse(const char *s)
{
  if (!s)
    return -1;
  for (int i = 0; i < 4; i++)
    if (strcmp(s, level_names[i]) == 0)
      return i;
  if (strcmp(s, "warning") == 0)
    return FLEETD_WARN;
  return -1;
}

const char *fleetd_log_level_name(int level)
{
  return level >= 0 && level < 4 ? level_names[level] : "info";
}

void fleetd_log_set_level(int level)
{
  atomic_store(&min_level, level);
}

bool fleetd_log_enabled(int level)
{
  return level >= atomic_load(&min_level);
}

static void put(fleetd_logline_t *l, const char *s, size_t n)
{
  /* Keep room for "...\n". */
  size_t room = sizeof l->buf - 5 - l->len;
  if (n > room)
    n = room;
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

static void putc_(fleetd_logline_t *l, char c)
{
  put(l, &c, 1);
}

static bool needs_quotes(const char *v)
{
  if (!*v)
    return true;
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p == 0x7f)
      return true;
  return false;
}

static void put_value(fleetd_logline_t *l, const char *v)
{
  if (!v)
    v = "";
  if (!needs_quotes(v)) {
    put(l, v, strlen(v));
    return;
  }
  putc_(l, '"');
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    char esc[8];
    switch (*p) {
    case '"': put(l, "\\\"", 2); break;
    case '\\': put(l, "\\\\", 2); break;
    case '\n': put(l, "\\n", 2); break;
    case '\r': put(l, "\\r", 2); break;
    case '\t': put(l, "\\t", 2); break;
    default:
      if (*p < ' ' || *p == 0x7f) {
        snprintf(esc, sizeof esc, "\\x%02x", *p);
        put(l, esc, 4);
      } else {
        putc_(l, (char)*p);
      }
    }
  }
  putc_(l, '"');
}

void fleetd_ll_begin(fleetd_logline_t *l, int level, const char *msg)
{
  l->level = level;
  l->len = 0;
  l->on = fleetd_log_enabled(level);
  if (!l->on)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char head[64];
  int n = snprintf(head, sizeof head, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, ts.tv_nsec / 1000000);
  put(l, head, (size_t)n);
  const char *ln = fleetd_log_level_name(level);
  put(l, ln, strlen(ln));
  put(l, " msg=", 5);
  put_value(l, msg);
}

void fleetd_ll_str(fleetd_logline_t *l, const char *key, const char *value)
{
  if (!l->on)
    return;
  putc_(l, ' ');
  put(l, key, strlen(key));
  putc_(l, '=');
  put_value(l, value);
}

void fleetd_ll_u64(fleetd_logline_t *l, const char *key, uint64_t value)
{
  char v[32];
  snprintf(v, sizeof v, "%" PRIu64, value);
  fleetd_ll_str(l, key, v);
}

void fleetd_ll_i64(fleetd_logline_t *l, const char *key, int64_t value)
{
  char v[32];
  snprintf(v, sizeof v, "%" PRId64, value);
  fleetd_ll_str(l, key, v);
}

void fleetd_ll_dbl(fleetd_logline_t *l, const char *key, double value)
{
  char v[40];
  if (isfinite(value))
    snprintf(v, sizeof v, "%.6g", value);
  else
    snprintf(v, sizeof v, "%s", isnan(value) ? "nan" : value > 0 ? "inf" : "-inf");
  fleetd_ll_str(l, key, v);
}

void fleetd_ll_end(fleetd_logline_t *l)
{
  if (!l->on)
    return;
  if (l->len >= sizeof l->buf - 5) {
    memcpy(l->buf + l->len, "...", 3);
    l->len += 3;
  }
  l->buf[l->len++] = '\n';
  pthread_mutex_lock(&out_lock);
  size_t off = 0;
  while (off < l->len) {
    ssize_t w = write(STDERR_FILENO, l->buf + off, l->len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    off += (size_t)w;
  }
  pthread_mutex_unlock(&out_lock);
  l->on = false;
}

void fleetd_log(int level, const char *msg, ...)
{
  if (!fleetd_log_enabled(level))
    return;
  fleetd_logline_t l;
  fleetd_ll_begin(&l, level, msg);
  va_list ap;
  va_start(ap, msg);
  for (;;) {
    const char *k = va_arg(ap, const char *);
    if (!k)
      break;
    const char *v = va_arg(ap, const char *);
    fleetd_ll_str(&l, k, v);
  }
  va_end(ap);
  fleetd_ll_end(&l);
}

bool fleetd_ratelimit_allow(fleetd_ratelimit_t *rl, int64_t now_ms, uint64_t *suppressed)
{
  *suppressed = 0;
  if (now_ms - rl->window_ms >= 1000) {
    rl->window_ms = now_ms;
    rl->used = 0;
  }
  if (rl->used >= rl->per_s) {
    rl->suppressed++;
    return false;
  }
  rl->used++;
  *suppressed = rl->suppressed;
  rl->suppressed = 0;
  return true;
}

uint64_t fleetd_ratelimit_take_suppressed(fleetd_ratelimit_t *rl, int64_t now_ms)
{
  if (!rl->suppressed || now_ms - rl->window_ms < 1000)
    return 0;
  uint64_t n = rl->suppressed;
  rl->suppressed = 0;
  return n;
}
