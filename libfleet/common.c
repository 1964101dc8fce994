/* common: status codes, the per-thread last error, version, memory, byte buffer. */
#include "common_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/version.h"

static _Thread_local struct {
  int code;
  char msg[FLEET_ERROR_MAX];
} last_error;

static const struct {
  int code;
  const char *name;
  const char *text;
} status_table[] = {
  {FLEET_OK, "FLEET_OK", "success"},
  {FLEET_EINVAL, "FLEET_EINVAL", "invalid argument"},
  {FLEET_ENOMEM, "FLEET_ENOMEM", "out of memory"},
  {FLEET_EPARSE, "FLEET_EPARSE", "malformed input"},
  {FLEET_ERANGE, "FLEET_ERANGE", "value out of range"},
  {FLEET_ETYPE, "FLEET_ETYPE", "wrong type"},
  {FLEET_EMISSING, "FLEET_EMISSING", "required value missing"},
  {FLEET_ETOOBIG, "FLEET_ETOOBIG", "input too large"},
  {FLEET_EVERSION, "FLEET_EVERSION", "unsupported version"},
  {FLEET_EIO, "FLEET_EIO", "input/output error"},
  {FLEET_ENOTFOUND, "FLEET_ENOTFOUND", "not found"},
  {FLEET_EEXISTS, "FLEET_EEXISTS", "already exists"},
  {FLEET_EGEOMETRY, "FLEET_EGEOMETRY", "invalid geometry"},
  {FLEET_ENET, "FLEET_ENET", "network error"},
  {FLEET_EAUTH, "FLEET_EAUTH", "authentication failed"},
  {FLEET_EPERM, "FLEET_EPERM", "permission denied"},
  {FLEET_ESERVER, "FLEET_ESERVER", "server error"},
  {FLEET_ETIMEOUT, "FLEET_ETIMEOUT", "timed out"},
  {FLEET_ECLOSED, "FLEET_ECLOSED", "handle closed"},
  {FLEET_EFULL, "FLEET_EFULL", "full"},
  {FLEET_ECORRUPT, "FLEET_ECORRUPT", "data corrupt"},
  {FLEET_ESTATE, "FLEET_ESTATE", "invalid state for this call"},
  {FLEET_EINTERNAL, "FLEET_EINTERNAL", "internal error"},
};

const char *fleet_strerror(int code)
{
  for (size_t i = 0; i < FLEET_ARRAY_LEN(status_table); i++)
    if (status_table[i].code == code)
      return status_table[i].text;
  return "unknown error";
}

const char *fleet_status_name(int code)
{
  for (size_t i = 0; i < FLEET_ARRAY_LEN(status_table); i++)
    if (status_table[i].code == code)
      return status_table[i].name;
  return NULL;
}

int fleet_error__vset(int code, const char *fmt, va_list ap)
{
  last_error.code = code;
  if (vsnprintf(last_error.msg, sizeof last_error.msg, fmt, ap) < 0)
    snprintf(last_error.msg, sizeof last_error.msg, "%s", fleet_strerror(code));
  return code;
}

int fleet_error__set(int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fleet_error__vset(code, fmt, ap);
  va_end(ap);
  return code;
}

int fleet_error__oom(void)
{
  return fleet_error__set(FLEET_ENOMEM, "out of memory");
}

const char *fleet_error_last(void)
{
  return last_error.msg;
}

int fleet_error_last_code(void)
{
  return last_error.code;
}

void fleet_error_clear(void)
{
  last_error.code = 0;
  last_error.msg[0] = '\0';
}

int fleet_version(void)
{
  return FLEET_VERSION_NUMBER;
}

const char *fleet_version_string(void)
{
  return FLEET_VERSION_STRING;
}

void fleet_free(void *ptr)
{
  free(ptr);
}

void fleet_buf_clear(fleet_buf_t *buf)
{
  if (!buf)
    return;
  buf->len = 0;
  if (buf->ptr)
    buf->ptr[0] = '\0';
}

void fleet_buf_dispose(fleet_buf_t *buf)
{
  if (!buf)
    return;
  free(buf->ptr);
  buf->ptr = NULL;
  buf->len = 0;
  buf->cap = 0;
}

int fleet_buf_reserve(fleet_buf_t *buf, size_t extra)
{
  if (!buf)
    return fleet_error__set(FLEET_EINVAL, "buffer is NULL");
  if (FLEET_LIKELY(buf->cap - buf->len > extra))
    return 0;
  if (extra > SIZE_MAX / 2 - buf->len - 1)
    return fleet_error__oom();
  size_t need = buf->len + extra + 1;
  size_t cap = buf->cap ? buf->cap : 64;
  while (cap < need)
    cap *= 2;
  char *p = realloc(buf->ptr, cap);
  if (!p)
    return fleet_error__oom();
  if (!buf->ptr)
    p[0] = '\0';
  buf->ptr = p;
  buf->cap = cap;
  return 0;
}

int fleet_buf_append(fleet_buf_t *buf, const char *data, size_t len)
{
  if (!buf || (!data && len))
    return fleet_error__set(FLEET_EINVAL, "buffer or data is NULL");
  int rc = fleet_buf_reserve(buf, len);
  if (rc)
    return rc;
  if (len)
    memcpy(buf->ptr + buf->len, data, len);
  buf->len += len;
  buf->ptr[buf->len] = '\0';
  return 0;
}

int fleet_buf__putc(fleet_buf_t *buf, char c)
{
  int rc = fleet_buf_reserve(buf, 1);
  if (rc)
    return rc;
  buf->ptr[buf->len++] = c;
  buf->ptr[buf->len] = '\0';
  return 0;
}

int fleet_buf__puts(fleet_buf_t *buf, const char *s)
{
  return fleet_buf_append(buf, s, strlen(s));
}

int fleet_buf__printf(fleet_buf_t *buf, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return fleet_error__set(FLEET_EINVAL, "bad format string");
  if ((size_t)n < sizeof small)
    return fleet_buf_append(buf, small, (size_t)n);
  int rc = fleet_buf_reserve(buf, (size_t)n);
  if (rc)
    return rc;
  va_start(ap, fmt);
  vsnprintf(buf->ptr + buf->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  buf->len += (size_t)n;
  return 0;
}

int fleet_buf__detach(char **out, size_t *out_len, fleet_buf_t *buf)
{
  if (!buf->ptr) {
    char *empty = malloc(1);
    if (!empty)
      return fleet_error__oom();
    empty[0] = '\0';
    *out = empty;
    if (out_len)
      *out_len = 0;
    return 0;
  }
  *out = buf->ptr;
  if (out_len)
    *out_len = buf->len;
  buf->ptr = NULL;
  buf->len = 0;
  buf->cap = 0;
  return 0;
}
