/* history: InfluxQL reads over /query with a streaming parser, and retention setup. */
#include "common_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "fleet/history.h"
#include "history_int.h"
#include "influx_int.h"

#define NS_PER_S INT64_C(1000000000)
/* Bytes of an error answer kept for the message; the rest is dropped. */
#define ERROR_BODY_MAX 65536
/* The alias of last(lat) in the last-position query: a name no writer uses. */
#define LAST_ALIAS "__fleet_last"

struct fleet_history {
  fleet_influx_config_t cfg;
  char raw_db[FLEET_INFLUX_NAME_MAX];
  char raw_rp[FLEET_INFLUX_NAME_MAX];
  char ds_db[FLEET_INFLUX_NAME_MAX];
  char ds_rp[FLEET_INFLUX_NAME_MAX];
  char ev_db[FLEET_INFLUX_NAME_MAX];
  char ev_rp[FLEET_INFLUX_NAME_MAX];
  unsigned int chunk_size;
  int64_t raw_max_span_ns;
  int64_t raw_retention_ns; /* negative: no retention check */
  size_t max_chunk_bytes;
  CURL *curl;
  char curl_err[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER: why a transfer failed */
  fleet_buf_t auth; /* "Authorization: ..." or empty; a secret */
  fleet_history_stats_t stats;
};

/* ---- Quoting ---------------------------------------------------------- */

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n)
{
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t need;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      cp = c & 0x07u;
    } else {
      return 0;
    }
    if (n - i <= need)
      return 0;
    for (size_t k = 1; k <= need; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += need + 1;
  }
  return 1;
}

static int quote(fleet_buf_t *buf, const char *s, char q, const char *what)
{
  if (!buf || !s)
    return fleet_error__set(FLEET_EINVAL, "%s: NULL argument", what);
  size_t n = strlen(s);
  if (!utf8_valid((const unsigned char *)s, n))
    return fleet_error__set(FLEET_EINVAL, "%s: not valid UTF-8", what);
  if (memchr(s, '\r', n))
    return fleet_error__set(FLEET_EINVAL,
                            "%s: a carriage return cannot be represented in InfluxQL", what);
  int rc = fleet_buf_reserve(buf, 2 * n + 2);
  if (rc)
    return rc;
  char *p = buf->ptr + buf->len;
  *p++ = q;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '\\' || c == '\'' || c == '"') {
      *p++ = '\\';
      *p++ = c;
    } else if (c == '\n') {
      *p++ = '\\';
      *p++ = 'n';
    } else {
      *p++ = c;
    }
  }
  *p++ = q;
  *p = '\0';
  buf->len = (size_t)(p - buf->ptr);
  return 0;
}

int fleet_history_quote_string(fleet_buf_t *buf, const char *s)
{
  return quote(buf, s, '\'', "string literal");
}

int fleet_history_quote_ident(fleet_buf_t *buf, const char *s)
{
  if (s && !*s)
    return fleet_error__set(FLEET_EINVAL, "identifier: empty");
  return quote(buf, s, '"', "identifier");
}

/* ---- Durations --------------------------------------------------------- */

int fleet_history_format_duration(char out[32], int64_t seconds)
{
  if (!out || seconds < 0)
    return fleet_error__set(FLEET_EINVAL, "duration: %" PRId64 " is negative", seconds);
  if (seconds == 0)
    return snprintf(out, 32, "INF");
  static const struct {
    int64_t unit;
    char suffix;
  } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(units); i++)
    if (seconds % units[i].unit == 0)
      return snprintf(out, 32, "%" PRId64 "%c", seconds / units[i].unit, units[i].suffix);
  return fleet_error__set(FLEET_EINTERNAL, "duration: no unit");
}

int fleet_history_parse_duration(int64_t *out_seconds, const char *s)
{
  if (!out_seconds || !s)
    return fleet_error__set(FLEET_EINVAL, "duration: NULL argument");
  if (!strcmp(s, "INF") || !strcmp(s, "inf") || !strcmp(s, "0")) {
    *out_seconds = 0;
    return 0;
  }
  if (!*s)
    return fleet_error__set(FLEET_EPARSE, "duration: empty");
  int64_t total = 0;
  const char *p = s;
  while (*p) {
    if (!isdigit((unsigned char)*p))
      return fleet_error__set(FLEET_EPARSE, "duration '%s': expected a number at '%s'", s, p);
    int64_t v = 0;
    while (isdigit((unsigned char)*p)) {
      if (v > (INT64_MAX - 9) / 10)
        return fleet_error__set(FLEET_ERANGE, "duration '%s': too large", s);
      v = v * 10 + (*p++ - '0');
    }
    int64_t unit;
    switch (*p) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default:
      return fleet_error__set(FLEET_EPARSE,
                              "duration '%s': unit must be s, m, h, d or w", s);
    }
    p++;
    if (v > (INT64_MAX / NS_PER_S) / unit || total > INT64_MAX / NS_PER_S - v * unit)
      return fleet_error__set(FLEET_ERANGE, "duration '%s': too large", s);
    total += v * unit;
  }
  *out_seconds = total;
  return 0;
}

/* ---- Options and handle ------------------------------------------------ */

int fleet_history_opts_init(fleet_history_opts_t *opts, unsigned int version)
{
  if (!opts)
    return fleet_error__set(FLEET_EINVAL, "opts: NULL");
  if (version != FLEET_HISTORY_OPTS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "opts: version %u is not %u", version,
                            FLEET_HISTORY_OPTS_VERSION);
  fleet_history_opts_t def = FLEET_HISTORY_OPTS_INIT;
  *opts = def;
  return 0;
}

int fleet_history_filter_init(fleet_history_filter_t *filter, unsigned int version)
{
  if (!filter)
    return fleet_error__set(FLEET_EINVAL, "filter: NULL");
  if (version != FLEET_HISTORY_FILTER_VERSION)
    return fleet_error__set(FLEET_EVERSION, "filter: version %u is not %u", version,
                            FLEET_HISTORY_FILTER_VERSION);
  fleet_history_filter_t def = FLEET_HISTORY_FILTER_INIT;
  *filter = def;
  return 0;
}

/* A database or policy name: something we can quote and that fits. */
static int copy_name(char dst[FLEET_INFLUX_NAME_MAX], const char *src, const char *def,
                     const char *what)
{
  const char *v = (src && *src) ? src : def;
  size_t n = strlen(v);
  if (n >= FLEET_INFLUX_NAME_MAX)
    return fleet_error__set(FLEET_EINVAL, "%s: longer than %d bytes", what,
                            FLEET_INFLUX_NAME_MAX - 1);
  if (!utf8_valid((const unsigned char *)v, n) || memchr(v, '\r', n) || memchr(v, '\n', n))
    return fleet_error__set(FLEET_EINVAL, "%s: not valid UTF-8 or has a line break", what);
  memcpy(dst, v, n + 1);
  return 0;
}

int fleet_history_new(fleet_history_t **out, const fleet_influx_config_t *cfg,
                      const fleet_history_opts_t *opts)
{
  if (!out || !cfg)
    return fleet_error__set(FLEET_EINVAL, "history: NULL argument");
  *out = NULL;
  if (cfg->version != FLEET_INFLUX_CONFIG_VERSION)
    return fleet_error__set(FLEET_EVERSION, "cfg: version %u is not %u", cfg->version,
                            FLEET_INFLUX_CONFIG_VERSION);
  fleet_history_opts_t def = FLEET_HISTORY_OPTS_INIT;
  if (!opts)
    opts = &def;
  if (opts->version != FLEET_HISTORY_OPTS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "opts: version %u is not %u", opts->version,
                            FLEET_HISTORY_OPTS_VERSION);
  if (opts->chunk_size > FLEET_HISTORY_MAX_CHUNK_SIZE)
    return fleet_error__set(FLEET_EINVAL, "chunk_size: %u is over %d", opts->chunk_size,
                            FLEET_HISTORY_MAX_CHUNK_SIZE);
  if (opts->raw_max_span_ns < 0)
    return fleet_error__set(FLEET_EINVAL, "raw_max_span_ns: %" PRId64 " is negative",
                            opts->raw_max_span_ns);

  fleet_history_t *h = calloc(1, sizeof *h);
  if (!h)
    return fleet_error__oom();
  h->cfg = *cfg;
  int rc;
  const char *raw_def = cfg->database[0] ? cfg->database : FLEET_HISTORY_DB_RAW;
  if ((rc = copy_name(h->raw_db, opts->raw_db, raw_def, "raw_db")) ||
      (rc = copy_name(h->raw_rp, opts->raw_rp, "", "raw_rp")) ||
      (rc = copy_name(h->ds_db, opts->downsampled_db, FLEET_HISTORY_DB_DOWNSAMPLED,
                      "downsampled_db")) ||
      (rc = copy_name(h->ds_rp, opts->downsampled_rp, "", "downsampled_rp")) ||
      (rc = copy_name(h->ev_db, opts->events_db, h->ds_db, "events_db")) ||
      (rc = copy_name(h->ev_rp, opts->events_rp, h->ds_rp, "events_rp")))
    goto fail;
  /* The connection checks want a database; the reader names its own per query. */
  if (!h->cfg.database[0])
    memcpy(h->cfg.database, h->raw_db, strlen(h->raw_db) + 1);
  if ((rc = fleet_influx_config_validate(&h->cfg)))
    goto fail;
  h->chunk_size = opts->chunk_size ? opts->chunk_size : FLEET_HISTORY_DEFAULT_CHUNK_SIZE;
  h->raw_max_span_ns =
    opts->raw_max_span_ns ? opts->raw_max_span_ns : FLEET_HISTORY_DEFAULT_RAW_MAX_SPAN_NS;
  h->raw_retention_ns = opts->raw_retention_ns == 0
                          ? (int64_t)FLEET_HISTORY_RAW_RETENTION_S * NS_PER_S
                          : opts->raw_retention_ns;
  h->max_chunk_bytes =
    opts->max_chunk_bytes ? opts->max_chunk_bytes : FLEET_HISTORY_DEFAULT_MAX_CHUNK_BYTES;
  if ((rc = fleet_influx__auth_header(&h->auth, &h->cfg)))
    goto fail;
  if ((rc = fleet_influx__curl_global_init()))
    goto fail;
  h->curl = curl_easy_init();
  if (!h->curl) {
    rc = fleet_error__set(FLEET_EINTERNAL, "curl_easy_init failed");
    goto fail;
  }
  *out = h;
  return 0;
fail:
  fleet_history_free(h);
  return rc;
}

void fleet_history_free(fleet_history_t *h)
{
  if (!h)
    return;
  if (h->curl)
    curl_easy_cleanup(h->curl);
  if (h->auth.ptr)
    memset(h->auth.ptr, 0, h->auth.cap);
  fleet_buf_dispose(&h->auth);
  /* The configuration may hold a token or password. */
  volatile unsigned char *p = (volatile unsigned char *)&h->cfg;
  for (size_t i = 0; i < sizeof h->cfg; i++)
    p[i] = 0;
  free(h);
}

int fleet_history_stats(fleet_history_stats_t *out, const fleet_history_t *h)
{
  if (!out || !h)
    return fleet_error__set(FLEET_EINVAL, "stats: NULL argument");
  *out = h->stats;
  return 0;
}

/* ---- Streaming parser ---------------------------------------------------- */

void fleet_history__stream_init(fleet_history__stream_t *s, size_t max_line,
                                fleet_history_row_cb cb, void *userdata,
                                fleet_history_stats_t *stats)
{
  memset(s, 0, sizeof *s);
  s->max_line = max_line;
  s->cb = cb;
  s->userdata = userdata;
  s->stats = stats;
}

void fleet_history__stream_dispose(fleet_history__stream_t *s)
{
  if (!s)
    return;
  fleet_buf_dispose(&s->line);
  free(s->cols);
  free(s->vals);
  free(s->tag_keys);
  free(s->tag_values);
  s->cols = NULL;
  s->vals = NULL;
  s->tag_keys = NULL;
  s->tag_values = NULL;
  s->cap = 0;
  s->tag_cap = 0;
}

int fleet_history__error_code(const char *msg)
{
  if (!msg)
    return FLEET_ESERVER;
  if (strstr(msg, "database not found") || strstr(msg, "retention policy not found"))
    return FLEET_ENOTFOUND;
  if (strstr(msg, "error parsing query"))
    return FLEET_EPARSE;
  if (strstr(msg, "authorization failed") || strstr(msg, "unable to parse authentication"))
    return FLEET_EAUTH;
  if (strstr(msg, "not authorized") || strstr(msg, "requires admin privilege"))
    return FLEET_EPERM;
  return FLEET_ESERVER;
}

static int server_error(const char *msg)
{
  return fleet_error__set(fleet_history__error_code(msg), "influxdb: %s", msg);
}

static int grow_scratch(fleet_history__stream_t *s, size_t ncols, size_t ntags)
{
  if (ncols > s->cap) {
    size_t cap = s->cap ? s->cap : 16;
    while (cap < ncols)
      cap *= 2;
    const char **c = realloc(s->cols, cap * sizeof *c);
    if (!c)
      return fleet_error__oom();
    s->cols = c;
    fleet_history_value_t *v = realloc(s->vals, cap * sizeof *v);
    if (!v)
      return fleet_error__oom();
    s->vals = v;
    s->cap = cap;
  }
  if (ntags > s->tag_cap) {
    size_t cap = s->tag_cap ? s->tag_cap : 4;
    while (cap < ntags)
      cap *= 2;
    const char **k = realloc(s->tag_keys, cap * sizeof *k);
    if (!k)
      return fleet_error__oom();
    s->tag_keys = k;
    const char **v = realloc(s->tag_values, cap * sizeof *v);
    if (!v)
      return fleet_error__oom();
    s->tag_values = v;
    s->tag_cap = cap;
  }
  return 0;
}

static int to_value(fleet_history_value_t *v, json_t *j, const char *column)
{
  memset(v, 0, sizeof *v);
  switch (json_typeof(j)) {
  case JSON_NULL:
    v->type = FLEET_HISTORY_NULL;
    return 0;
  case JSON_INTEGER:
    v->type = FLEET_HISTORY_INT;
    v->i = (int64_t)json_integer_value(j);
    v->f = (double)v->i;
    return 0;
  case JSON_REAL:
    v->type = FLEET_HISTORY_FLOAT;
    v->f = json_real_value(j);
    return 0;
  case JSON_STRING:
    v->type = FLEET_HISTORY_STRING;
    v->s = json_string_value(j);
    v->len = json_string_length(j);
    return 0;
  case JSON_TRUE:
  case JSON_FALSE:
    v->type = FLEET_HISTORY_BOOL;
    v->i = json_is_true(j) ? 1 : 0;
    v->f = (double)v->i;
    return 0;
  default:
    return fleet_error__set(FLEET_EPARSE, "query response: column %s holds an array or object",
                            column);
  }
}

static int emit_series(fleet_history__stream_t *s, unsigned int statement, json_t *series)
{
  if (!json_is_object(series))
    return fleet_error__set(FLEET_EPARSE, "query response: a series is not an object");
  json_t *name = json_object_get(series, "name");
  json_t *tags = json_object_get(series, "tags");
  json_t *columns = json_object_get(series, "columns");
  json_t *values = json_object_get(series, "values");
  if (!json_is_array(columns))
    return fleet_error__set(FLEET_EPARSE, "query response: a series has no columns");
  if (values && !json_is_array(values))
    return fleet_error__set(FLEET_EPARSE, "query response: series values is not an array");
  if (tags && !json_is_null(tags) && !json_is_object(tags))
    return fleet_error__set(FLEET_EPARSE, "query response: series tags is not an object");
  size_t ncols = json_array_size(columns);
  size_t ntags = json_is_object(tags) ? json_object_size(tags) : 0;
  int rc = grow_scratch(s, ncols, ntags);
  if (rc)
    return rc;
  size_t time_col = SIZE_MAX;
  for (size_t i = 0; i < ncols; i++) {
    json_t *c = json_array_get(columns, i);
    if (!json_is_string(c))
      return fleet_error__set(FLEET_EPARSE, "query response: column %zu is not a string", i);
    s->cols[i] = json_string_value(c);
    if (time_col == SIZE_MAX && !strcmp(s->cols[i], "time"))
      time_col = i;
  }
  size_t t = 0;
  if (ntags) {
    const char *key;
    json_t *val;
    json_object_foreach(tags, key, val) {
      s->tag_keys[t] = key;
      s->tag_values[t] = json_is_string(val) ? json_string_value(val) : "";
      t++;
    }
  }
  fleet_history_row_t row;
  memset(&row, 0, sizeof row);
  row.statement = statement;
  row.measurement = json_is_string(name) ? json_string_value(name) : "";
  row.ntags = t;
  row.tag_keys = s->tag_keys;
  row.tag_values = s->tag_values;
  row.ncolumns = ncols;
  row.columns = s->cols;
  row.values = s->vals;
  size_t nrows = json_array_size(values);
  for (size_t r = 0; r < nrows; r++) {
    json_t *vals = json_array_get(values, r);
    if (!json_is_array(vals) || json_array_size(vals) != ncols)
      return fleet_error__set(FLEET_EPARSE,
                              "query response: row %zu does not have %zu values", r, ncols);
    for (size_t i = 0; i < ncols; i++)
      if ((rc = to_value(&s->vals[i], json_array_get(vals, i), s->cols[i])))
        return rc;
    row.time_ns = 0;
    if (time_col != SIZE_MAX) {
      const fleet_history_value_t *tv = &s->vals[time_col];
      if (tv->type == FLEET_HISTORY_INT) {
        row.time_ns = tv->i;
      } else if (tv->type == FLEET_HISTORY_STRING) {
        if ((rc = fleet_time_parse(&row.time_ns, tv->s, tv->len)))
          return rc;
      }
    }
    if (s->stats)
      s->stats->rows++;
    if (s->cb && (rc = s->cb(&row, s->userdata)) != 0)
      return rc;
  }
  return 0;
}

static int process_document(fleet_history__stream_t *s, const char *p, size_t n)
{
  size_t a = 0;
  while (a < n && isspace((unsigned char)p[a]))
    a++;
  if (a == n)
    return 0;
  json_error_t err;
  json_t *root = json_loadb(p + a, n - a, 0, &err);
  if (!root)
    return fleet_error__set(FLEET_EPARSE, "query response: not JSON (%s, at byte %d)",
                            err.text, err.position);
  if (s->stats)
    s->stats->chunks++;
  int rc = 0;
  if (!json_is_object(root)) {
    rc = fleet_error__set(FLEET_EPARSE, "query response: a document is not an object");
    goto out;
  }
  json_t *top_err = json_object_get(root, "error");
  if (json_is_string(top_err)) {
    rc = server_error(json_string_value(top_err));
    goto out;
  }
  json_t *results = json_object_get(root, "results");
  if (!json_is_array(results)) {
    rc = fleet_error__set(FLEET_EPARSE, "query response: no results array");
    goto out;
  }
  size_t i;
  json_t *res;
  json_array_foreach(results, i, res) {
    if (!json_is_object(res)) {
      rc = fleet_error__set(FLEET_EPARSE, "query response: a result is not an object");
      goto out;
    }
    json_t *e = json_object_get(res, "error");
    if (json_is_string(e)) {
      rc = server_error(json_string_value(e));
      goto out;
    }
    json_t *sid = json_object_get(res, "statement_id");
    json_int_t stmt = json_is_integer(sid) ? json_integer_value(sid) : (json_int_t)i;
    if (stmt < 0 || stmt > (json_int_t)UINT32_MAX)
      stmt = 0;
    json_t *series = json_object_get(res, "series");
    if (!series || json_is_null(series))
      continue;
    if (!json_is_array(series)) {
      rc = fleet_error__set(FLEET_EPARSE, "query response: series is not an array");
      goto out;
    }
    size_t k;
    json_t *ser;
    json_array_foreach(series, k, ser) {
      if ((rc = emit_series(s, (unsigned int)stmt, ser)) != 0)
        goto out;
    }
  }
out:
  json_decref(root);
  return rc;
}

static void note_line(fleet_history__stream_t *s, size_t len)
{
  if (s->stats && len > s->stats->max_chunk_bytes)
    s->stats->max_chunk_bytes = len;
}

int fleet_history__stream_feed(fleet_history__stream_t *s, const char *data, size_t len)
{
  if (s->status)
    return s->status;
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) : len;
    if (take > s->max_line || s->line.len > s->max_line - take) {
      s->status = fleet_error__set(FLEET_ETOOBIG,
                                   "query response: a chunk is longer than %zu bytes; "
                                   "lower chunk_size", s->max_line);
      return s->status;
    }
    if (nl && s->line.len == 0) {
      /* A whole line inside this piece: parse it in place, no copy. */
      note_line(s, take);
      if ((s->status = process_document(s, data, take)) != 0)
        return s->status;
    } else {
      if ((s->status = fleet_buf_append(&s->line, data, take)) != 0)
        return s->status;
      if (nl) {
        note_line(s, s->line.len);
        s->status = process_document(s, s->line.ptr, s->line.len);
        fleet_buf_clear(&s->line);
        if (s->status)
          return s->status;
      }
    }
    data += take;
    len -= take;
    if (nl) {
      data++;
      len--;
    }
  }
  return 0;
}

int fleet_history__stream_finish(fleet_history__stream_t *s)
{
  if (s->status)
    return s->status;
  if (s->line.len) {
    note_line(s, s->line.len);
    s->status = process_document(s, s->line.ptr, s->line.len);
    fleet_buf_clear(&s->line);
  }
  return s->status;
}

/* ---- HTTP ----------------------------------------------------------------- */

typedef struct xfer {
  fleet_history_t *h;
  fleet_history__stream_t *stream; /* NULL: keep the body in `body` */
  long http;
  int checked;
  fleet_buf_t body; /* error answers, and bodies when there is no stream */
} xfer_t;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
  xfer_t *x = ud;
  size_t len = size * nmemb;
  if (!x->checked) {
    curl_easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &x->http);
    x->checked = 1;
  }
  if (x->http < 200 || x->http >= 300 || !x->stream) {
    size_t room = ERROR_BODY_MAX > x->body.len ? ERROR_BODY_MAX - x->body.len : 0;
    if (fleet_buf_append(&x->body, p, len < room ? len : room))
      return 0;
    return len;
  }
  x->h->stats.bytes += len;
  if (fleet_history__stream_feed(x->stream, p, len))
    return 0;
  return len;
}

/*
 * One request on the reused handle. The transfer's body goes to `stream` (or
 * is kept in x->body). Returns a transport failure, the stream's status, or 0
 * with x->http set; HTTP errors are left to the caller.
 */
static int perform(fleet_history_t *h, xfer_t *x, const char *url, const char *post_body,
                   const char *content_type)
{
  CURL *c = h->curl;
  curl_easy_reset(c);
  int rc = fleet_influx__curl_setup(c, &h->cfg);
  if (rc)
    return rc;
  h->curl_err[0] = '\0';
  if (curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curl_err) != CURLE_OK)
    return fleet_error__set(FLEET_EINTERNAL, "libcurl option: CURLOPT_ERRORBUFFER");
  /* A long range streams for longer than any fixed request timeout: bound
   * silence instead (no byte for timeout_ms fails the transfer). */
  long idle_s = (long)((h->cfg.timeout_ms + 999u) / 1000u);
  struct curl_slist *headers = NULL, *tmp;
  CURLcode cc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 0L);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, idle_s > 0 ? idle_s : 1L);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(c, CURLOPT_URL, url);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
  if (cc == CURLE_OK && post_body) {
    cc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(post_body));
  }
  if (cc == CURLE_OK && h->auth.len) {
    if (!(tmp = curl_slist_append(headers, h->auth.ptr)))
      goto oom;
    headers = tmp;
  }
  if (cc == CURLE_OK && content_type) {
    char line[128];
    snprintf(line, sizeof line, "Content-Type: %s", content_type);
    if (!(tmp = curl_slist_append(headers, line)))
      goto oom;
    headers = tmp;
  }
  if (cc == CURLE_OK && headers)
    cc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (cc != CURLE_OK) {
    curl_slist_free_all(headers);
    return fleet_error__set(FLEET_EINTERNAL, "libcurl option: %s", curl_easy_strerror(cc));
  }
  cc = curl_easy_perform(c);
  if (!x->checked)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->http);
  /* The header list holds the Authorization secret. */
  for (struct curl_slist *l = headers; l; l = l->next)
    memset(l->data, 0, strlen(l->data));
  curl_slist_free_all(headers);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
  if (cc != CURLE_OK) {
    if (x->stream && x->stream->status)
      return x->stream->status;
    if (cc == CURLE_WRITE_ERROR)
      return fleet_error__oom();
    char why[FLEET_INFLUX_ERROR_TEXT_MAX];
    fleet_influx__curl_message(why, sizeof why, cc, h->curl_err);
    return fleet_error__set(fleet_influx__curl_code(cc), "influxdb %s: %s", h->cfg.url, why);
  }
  return 0;
oom:
  curl_slist_free_all(headers);
  return fleet_error__oom();
}

static int http_error(const xfer_t *x)
{
  char text[512];
  fleet_influx__error_text(text, sizeof text, x->body.ptr, x->body.len);
  int code = fleet_influx__http_status_code(x->http);
  if (code == FLEET_EPARSE || code == FLEET_ESERVER) {
    int c2 = fleet_history__error_code(text);
    if (c2 != FLEET_ESERVER)
      code = c2;
  }
  return fleet_error__set(code, "influxdb: HTTP %ld: %s", x->http,
                          text[0] ? text : "(no message)");
}

/* SELECT and SHOW are reads (GET); everything else must be POSTed to 1.x. */
static int is_read_query(const char *q)
{
  while (isspace((unsigned char)*q))
    q++;
  return !strncasecmp(q, "SELECT", 6) || !strncasecmp(q, "SHOW", 4);
}

int fleet_history_query(fleet_history_t *h, const char *db, const char *influxql,
                        fleet_history_row_cb cb, void *userdata)
{
  if (!h || !influxql)
    return fleet_error__set(FLEET_EINVAL, "query: NULL argument");
  if (!*influxql)
    return fleet_error__set(FLEET_EINVAL, "query: empty");
  memset(&h->stats, 0, sizeof h->stats);
  int read = is_read_query(influxql);
  char chunk[16];
  snprintf(chunk, sizeof chunk, "%u", h->chunk_size);
  fleet_buf_t url = FLEET_BUF_INIT, body = FLEET_BUF_INIT;
  int rc;
  int first = 1;
  if ((rc = fleet_influx__url_path(&url, &h->cfg, "/query")))
    goto out;
  if (db && *db) {
    if ((rc = fleet_influx__url_param(&url, first, "db", db)))
      goto out;
    first = 0;
  }
  if ((rc = fleet_influx__url_param(&url, first, "epoch", "ns")) ||
      (rc = fleet_influx__url_param(&url, 0, "chunked", "true")) ||
      (rc = fleet_influx__url_param(&url, 0, "chunk_size", chunk)))
    goto out;
  if (read) {
    if ((rc = fleet_influx__url_param(&url, 0, "q", influxql)))
      goto out;
  } else {
    if ((rc = fleet_buf__puts(&body, "q=")) ||
        (rc = fleet_influx__url_escape(&body, influxql)))
      goto out;
  }
  fleet_history__stream_t stream;
  fleet_history__stream_init(&stream, h->max_chunk_bytes, cb, userdata, &h->stats);
  xfer_t x = {h, &stream, 0, 0, FLEET_BUF_INIT};
  rc = perform(h, &x, url.ptr, read ? NULL : (body.ptr ? body.ptr : ""),
               read ? NULL : "application/x-www-form-urlencoded");
  if (!rc) {
    if (x.http < 200 || x.http >= 300)
      rc = http_error(&x);
    else
      rc = fleet_history__stream_finish(&stream);
  }
  fleet_history__stream_dispose(&stream);
  fleet_buf_dispose(&x.body);
out:
  fleet_buf_dispose(&url);
  fleet_buf_dispose(&body);
  return rc;
}

const fleet_history_value_t *fleet_history_row_get(const fleet_history_row_t *row,
                                                   const char *column)
{
  if (!row || !column)
    return NULL;
  for (size_t i = 0; i < row->ncolumns; i++)
    if (!strcmp(row->columns[i], column))
      return &row->values[i];
  return NULL;
}

/* ---- Query building --------------------------------------------------------- */

static int check_filter(const fleet_history_filter_t *f, int time_required)
{
  if (!f)
    return fleet_error__set(FLEET_EINVAL, "filter: NULL");
  if (f->version != FLEET_HISTORY_FILTER_VERSION)
    return fleet_error__set(FLEET_EVERSION, "filter: version %u is not %u", f->version,
                            FLEET_HISTORY_FILTER_VERSION);
  int open = !time_required && f->from_ns == 0 && f->to_ns == 0;
  if (!open && f->to_ns <= f->from_ns)
    return fleet_error__set(FLEET_EINVAL,
                            "filter: range end %" PRId64 " is not after its start %" PRId64,
                            f->to_ns, f->from_ns);
  if (f->n_vehicle_ids > FLEET_HISTORY_MAX_VEHICLES)
    return fleet_error__set(FLEET_EINVAL, "filter: %zu vehicle ids, at most %d",
                            f->n_vehicle_ids, FLEET_HISTORY_MAX_VEHICLES);
  if (f->n_vehicle_ids && !f->vehicle_ids)
    return fleet_error__set(FLEET_EINVAL, "filter: vehicle_ids is NULL");
  if (f->tier != FLEET_HISTORY_TIER_AUTO && f->tier != FLEET_HISTORY_TIER_RAW &&
      f->tier != FLEET_HISTORY_TIER_HOURLY)
    return fleet_error__set(FLEET_EINVAL, "filter: unknown tier %d", (int)f->tier);
  for (size_t i = 0; i < f->n_vehicle_ids; i++) {
    const char *id = f->vehicle_ids[i];
    if (!id)
      return fleet_error__set(FLEET_EINVAL, "filter: vehicle id %zu is NULL", i);
    int rc = fleet_vehicle_id_validate(id, strlen(id));
    if (rc)
      return rc;
  }
  return 0;
}

int fleet_history__build_conditions(fleet_buf_t *q, const fleet_history_filter_t *f,
                                    int time_required)
{
  int rc = check_filter(f, time_required);
  if (rc)
    return rc;
  int open = !time_required && f->from_ns == 0 && f->to_ns == 0;
  int any = 0;
  if (!open) {
    if ((rc = fleet_buf__printf(q, "time >= %" PRId64 " AND time < %" PRId64, f->from_ns,
                                f->to_ns)))
      return rc;
    any = 1;
  }
  if (f->n_vehicle_ids) {
    if ((rc = fleet_buf__puts(q, any ? " AND (" : "(")))
      return rc;
    for (size_t i = 0; i < f->n_vehicle_ids; i++) {
      if ((i && (rc = fleet_buf__puts(q, " OR "))) ||
          (rc = fleet_history_quote_ident(q, FLEET_HISTORY_TAG_VEHICLE_ID)) ||
          (rc = fleet_buf__puts(q, " = ")) ||
          (rc = fleet_history_quote_string(q, f->vehicle_ids[i])))
        return rc;
    }
    if ((rc = fleet_buf__putc(q, ')')))
      return rc;
  }
  return 0;
}

static int put_source(fleet_buf_t *q, const fleet_history__source_t *src)
{
  int rc;
  if (src->rp && *src->rp &&
      ((rc = fleet_history_quote_ident(q, src->rp)) || (rc = fleet_buf__putc(q, '.'))))
    return rc;
  return fleet_history_quote_ident(q, src->measurement);
}

int fleet_history__build_select(fleet_buf_t *q, const fleet_history__source_t *src,
                                const fleet_history_filter_t *f)
{
  int rc = check_filter(f, 1);
  if (rc)
    return rc;
  if ((rc = fleet_buf__puts(q, "SELECT * FROM ")) || (rc = put_source(q, src)) ||
      (rc = fleet_buf__puts(q, " WHERE ")) ||
      (rc = fleet_history__build_conditions(q, f, 1)))
    return rc;
  if (f->limit && (rc = fleet_buf__printf(q, " LIMIT %" PRIu64, f->limit)))
    return rc;
  return 0;
}

int fleet_history__build_last(fleet_buf_t *q, const fleet_history__source_t *src,
                              const fleet_history_filter_t *f)
{
  int rc = check_filter(f, 0);
  if (rc)
    return rc;
  int where = !(f->from_ns == 0 && f->to_ns == 0) || f->n_vehicle_ids;
  if ((rc = fleet_buf__puts(q, "SELECT last(\"" FLEET_HISTORY_F_LAT "\") AS \"" LAST_ALIAS
                               "\", * FROM ")) ||
      (rc = put_source(q, src)))
    return rc;
  if (where && ((rc = fleet_buf__puts(q, " WHERE ")) ||
                (rc = fleet_history__build_conditions(q, f, 0))))
    return rc;
  return fleet_buf__puts(q, " GROUP BY \"" FLEET_HISTORY_TAG_VEHICLE_ID "\"");
}

/* ---- Row conversion ------------------------------------------------------------ */

static const char *row_tag(const fleet_history_row_t *row, const char *key)
{
  for (size_t i = 0; i < row->ntags; i++)
    if (!strcmp(row->tag_keys[i], key))
      return row->tag_values[i];
  return NULL;
}

/* A tag may come as a column (plain SELECT *) or a series tag (GROUP BY). */
static const char *get_tag(const fleet_history_row_t *row, const char *key)
{
  const fleet_history_value_t *v = fleet_history_row_get(row, key);
  if (v && v->type == FLEET_HISTORY_STRING)
    return v->s;
  const char *t = row_tag(row, key);
  return t ? t : "";
}

static int is_number(const fleet_history_value_t *v)
{
  return v && (v->type == FLEET_HISTORY_INT || v->type == FLEET_HISTORY_FLOAT);
}

/* An optional number: 1 when present, 0 when absent or of another type. */
static int opt_num(const fleet_history_row_t *row, const char *name, double *out)
{
  const fleet_history_value_t *v = fleet_history_row_get(row, name);
  if (!is_number(v))
    return 0;
  *out = v->f;
  return 1;
}

static int req_num(const fleet_history_row_t *row, const char *name, double *out,
                   const char *what)
{
  const fleet_history_value_t *v = fleet_history_row_get(row, name);
  if (!is_number(v))
    return fleet_error__set(FLEET_EPARSE, "%s at %" PRId64 ": %s is %s", what, row->time_ns,
                            name, v && v->type != FLEET_HISTORY_NULL ? "not a number"
                                                                      : "missing");
  *out = v->f;
  return 0;
}

/* An optional integer (a float with an integral value is accepted): 1 when set. */
static int opt_int(const fleet_history_row_t *row, const char *name, int64_t *out)
{
  const fleet_history_value_t *v = fleet_history_row_get(row, name);
  if (v && v->type == FLEET_HISTORY_INT) {
    *out = v->i;
    return 1;
  }
  if (v && v->type == FLEET_HISTORY_FLOAT && v->f >= -9.2e18 && v->f <= 9.2e18) {
    *out = (int64_t)v->f;
    return 1;
  }
  return 0;
}

static int req_int(const fleet_history_row_t *row, const char *name, int64_t *out,
                   const char *what)
{
  if (opt_int(row, name, out))
    return 0;
  return fleet_error__set(FLEET_EPARSE, "%s at %" PRId64 ": %s is missing or not an integer",
                          what, row->time_ns, name);
}

static const char *opt_str(const fleet_history_row_t *row, const char *name)
{
  const fleet_history_value_t *v = fleet_history_row_get(row, name);
  return v && v->type == FLEET_HISTORY_STRING ? v->s : NULL;
}

/* Copy text, truncated at a character boundary to fit. */
static void copy_text(char *dst, size_t cap, const char *src)
{
  size_t n = src ? strlen(src) : 0;
  if (n >= cap) {
    n = cap - 1;
    while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
      n--;
  }
  if (n)
    memcpy(dst, src, n);
  dst[n] = '\0';
}

static int row_vehicle(char dst[FLEET_VEHICLE_ID_MAX + 1], const fleet_history_row_t *row,
                       const char *what)
{
  const char *id = get_tag(row, FLEET_HISTORY_TAG_VEHICLE_ID);
  size_t n = strlen(id);
  if (fleet_vehicle_id_validate(id, n))
    return fleet_error__set(FLEET_EPARSE, "%s at %" PRId64 ": stored vehicle_id is invalid",
                            what, row->time_ns);
  memcpy(dst, id, n + 1);
  return 0;
}

static int valid_extra_name(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > FLEET_TELEMETRY_EXTRA_NAME_MAX || isdigit((unsigned char)s[0]))
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_')
      return 0;
  return 1;
}

static int known_raw_column(const char *c)
{
  static const char *const known[] = {
    "time", LAST_ALIAS, FLEET_HISTORY_TAG_VEHICLE_ID, FLEET_HISTORY_TAG_FLEET_ID,
    FLEET_HISTORY_TAG_DEVICE_TYPE, FLEET_HISTORY_F_LAT, FLEET_HISTORY_F_LNG,
    FLEET_HISTORY_F_SPEED, FLEET_HISTORY_F_HEADING, FLEET_HISTORY_F_IGNITION,
    FLEET_HISTORY_F_ODOMETER, FLEET_HISTORY_F_BATTERY_V, FLEET_HISTORY_F_ENGINE_TEMP,
    FLEET_HISTORY_F_FUEL_LEVEL, FLEET_HISTORY_F_DRIVER_ID,
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(known); i++)
    if (!strcmp(c, known[i]))
      return 1;
  return 0;
}

int fleet_history__row_to_point(fleet_telemetry_t *rec, fleet_history_hourly_t *hourly,
                                const char **fleet_id, const char **device_type,
                                const fleet_history_row_t *row, fleet_history_tier_t tier)
{
  const char *what = tier == FLEET_HISTORY_TIER_HOURLY ? "hourly point" : "point";
  fleet_telemetry_init(rec, FLEET_TELEMETRY_VERSION);
  int rc = row_vehicle(rec->vehicle_id, row, what);
  if (rc)
    return rc;
  rec->ts_ns = row->time_ns;
  if ((rc = req_num(row, FLEET_HISTORY_F_LAT, &rec->lat, what)) ||
      (rc = req_num(row, FLEET_HISTORY_F_LNG, &rec->lng, what)))
    return rc;
  *fleet_id = get_tag(row, FLEET_HISTORY_TAG_FLEET_ID);
  *device_type = get_tag(row, FLEET_HISTORY_TAG_DEVICE_TYPE);
  if (tier == FLEET_HISTORY_TIER_HOURLY) {
    memset(hourly, 0, sizeof *hourly);
    opt_int(row, FLEET_HISTORY_F_SAMPLES, &hourly->samples);
    opt_int(row, FLEET_HISTORY_F_LAST_TS, &hourly->last_ts_ns);
    if (opt_num(row, FLEET_HISTORY_F_SPEED_MEAN, &hourly->speed_mean_kmh)) {
      hourly->present |= FLEET_HISTORY_HOURLY_SPEED_MEAN;
      rec->speed_kmh = hourly->speed_mean_kmh;
      rec->present |= FLEET_TELEMETRY_SPEED;
    }
    if (opt_num(row, FLEET_HISTORY_F_SPEED_MAX, &hourly->speed_max_kmh))
      hourly->present |= FLEET_HISTORY_HOURLY_SPEED_MAX;
    if (opt_num(row, FLEET_HISTORY_F_DISTANCE_M, &hourly->distance_m))
      hourly->present |= FLEET_HISTORY_HOURLY_DISTANCE;
    if (opt_num(row, FLEET_HISTORY_F_MOVING_S, &hourly->moving_s))
      hourly->present |= FLEET_HISTORY_HOURLY_MOVING;
    if (opt_num(row, FLEET_HISTORY_F_IDLE_S, &hourly->idle_s))
      hourly->present |= FLEET_HISTORY_HOURLY_IDLE;
    if (opt_num(row, FLEET_HISTORY_F_FUEL_MIN, &hourly->fuel_min_pct) &&
        opt_num(row, FLEET_HISTORY_F_FUEL_MAX, &hourly->fuel_max_pct)) {
      hourly->present |= FLEET_HISTORY_HOURLY_FUEL;
      rec->fuel_level_pct = hourly->fuel_min_pct;
      rec->present |= FLEET_TELEMETRY_FUEL_LEVEL;
    }
    if (opt_num(row, FLEET_HISTORY_F_BATTERY_MIN, &hourly->battery_min_v) &&
        opt_num(row, FLEET_HISTORY_F_BATTERY_MAX, &hourly->battery_max_v)) {
      hourly->present |= FLEET_HISTORY_HOURLY_BATTERY;
      rec->battery_v = hourly->battery_min_v;
      rec->present |= FLEET_TELEMETRY_BATTERY_V;
    }
    return 0;
  }

  if (opt_num(row, FLEET_HISTORY_F_SPEED, &rec->speed_kmh))
    rec->present |= FLEET_TELEMETRY_SPEED;
  if (opt_num(row, FLEET_HISTORY_F_HEADING, &rec->heading_deg))
    rec->present |= FLEET_TELEMETRY_HEADING;
  if (opt_num(row, FLEET_HISTORY_F_ODOMETER, &rec->odometer_km))
    rec->present |= FLEET_TELEMETRY_ODOMETER;
  if (opt_num(row, FLEET_HISTORY_F_BATTERY_V, &rec->battery_v))
    rec->present |= FLEET_TELEMETRY_BATTERY_V;
  if (opt_num(row, FLEET_HISTORY_F_ENGINE_TEMP, &rec->engine_temp_c))
    rec->present |= FLEET_TELEMETRY_ENGINE_TEMP;
  if (opt_num(row, FLEET_HISTORY_F_FUEL_LEVEL, &rec->fuel_level_pct))
    rec->present |= FLEET_TELEMETRY_FUEL_LEVEL;
  const fleet_history_value_t *ign = fleet_history_row_get(row, FLEET_HISTORY_F_IGNITION);
  if (ign && ign->type == FLEET_HISTORY_BOOL) {
    rec->ignition = (int)ign->i;
    rec->present |= FLEET_TELEMETRY_IGNITION;
  }
  const char *drv = opt_str(row, FLEET_HISTORY_F_DRIVER_ID);
  if (drv && strlen(drv) <= FLEET_DRIVER_ID_MAX) {
    memcpy(rec->driver_id, drv, strlen(drv) + 1);
    rec->present |= FLEET_TELEMETRY_DRIVER_ID;
  }
  for (size_t i = 0; i < row->ncolumns && rec->n_extras < FLEET_TELEMETRY_MAX_EXTRAS; i++) {
    const fleet_history_value_t *v = &row->values[i];
    const char *c = row->columns[i];
    if (known_raw_column(c) || !valid_extra_name(c))
      continue;
    if (!is_number(v) && v->type != FLEET_HISTORY_BOOL)
      continue;
    fleet_extra_field_t *x = &rec->extras[rec->n_extras++];
    memcpy(x->name, c, strlen(c) + 1);
    x->type = v->type == FLEET_HISTORY_BOOL ? FLEET_EXTRA_BOOL : FLEET_EXTRA_NUMBER;
    x->value = v->f;
  }
  return 0;
}

int fleet_history_row_to_trip(fleet_history_trip_t *t, const fleet_history_row_t *row)
{
  if (!t || !row)
    return fleet_error__set(FLEET_EINVAL, "fleet_history_row_to_trip: NULL argument");
  memset(t, 0, sizeof *t);
  int rc;
  if ((rc = row_vehicle(t->vehicle_id, row, "trip")) ||
      (rc = req_int(row, FLEET_HISTORY_F_START_NS, &t->start_ns, "trip")) ||
      (rc = req_int(row, FLEET_HISTORY_F_END_NS, &t->end_ns, "trip")))
    return rc;
  opt_num(row, FLEET_HISTORY_F_DISTANCE_M, &t->distance_m);
  opt_num(row, FLEET_HISTORY_F_DURATION_S, &t->duration_s);
  opt_num(row, FLEET_HISTORY_F_MOVING_S, &t->moving_s);
  opt_num(row, FLEET_HISTORY_F_IDLE_S, &t->idle_s);
  opt_num(row, FLEET_HISTORY_F_MAX_SPEED_KMH, &t->max_speed_kmh);
  opt_num(row, FLEET_HISTORY_F_AVG_SPEED_KMH, &t->avg_speed_kmh);
  t->has_fuel = opt_num(row, FLEET_HISTORY_F_FUEL_L, &t->fuel_l);
  opt_num(row, FLEET_HISTORY_F_START_LAT, &t->start_lat);
  opt_num(row, FLEET_HISTORY_F_START_LNG, &t->start_lng);
  opt_num(row, FLEET_HISTORY_F_END_LAT, &t->end_lat);
  opt_num(row, FLEET_HISTORY_F_END_LNG, &t->end_lng);
  return 0;
}

static int opt_position(const fleet_history_row_t *row, double *lat, double *lng)
{
  double a, b;
  if (opt_num(row, FLEET_HISTORY_F_LAT, &a) && opt_num(row, FLEET_HISTORY_F_LNG, &b)) {
    *lat = a;
    *lng = b;
    return 1;
  }
  return 0;
}

int fleet_history_row_to_zone_event(fleet_history_zone_event_t *e,
                                    const fleet_history_row_t *row)
{
  if (!e || !row)
    return fleet_error__set(FLEET_EINVAL, "fleet_history_row_to_zone_event: NULL argument");
  memset(e, 0, sizeof *e);
  int rc = row_vehicle(e->vehicle_id, row, "geofence event");
  if (rc)
    return rc;
  e->ts_ns = row->time_ns;
  const char *zone = opt_str(row, FLEET_HISTORY_F_ZONE_ID);
  const char *ev = opt_str(row, FLEET_HISTORY_F_EVENT);
  if (!zone)
    return fleet_error__set(FLEET_EPARSE, "geofence event at %" PRId64 ": zone_id missing",
                            row->time_ns);
  if (!ev || (strcmp(ev, FLEET_HISTORY_EVENT_ENTER) && strcmp(ev, FLEET_HISTORY_EVENT_EXIT)))
    return fleet_error__set(FLEET_EPARSE,
                            "geofence event at %" PRId64 ": event is not enter or exit",
                            row->time_ns);
  copy_text(e->zone_id, sizeof e->zone_id, zone);
  copy_text(e->zone_name, sizeof e->zone_name, opt_str(row, FLEET_HISTORY_F_ZONE_NAME));
  e->enter = !strcmp(ev, FLEET_HISTORY_EVENT_ENTER);
  opt_num(row, FLEET_HISTORY_F_DWELL_S, &e->dwell_s);
  e->has_position = opt_position(row, &e->lat, &e->lng);
  return 0;
}

int fleet_history_row_to_alert(fleet_history_alert_t *a, const fleet_history_row_t *row)
{
  if (!a || !row)
    return fleet_error__set(FLEET_EINVAL, "fleet_history_row_to_alert: NULL argument");
  memset(a, 0, sizeof *a);
  int rc = row_vehicle(a->vehicle_id, row, "alert");
  if (rc)
    return rc;
  a->ts_ns = row->time_ns;
  const char *rule = opt_str(row, FLEET_HISTORY_F_RULE);
  if (!rule)
    return fleet_error__set(FLEET_EPARSE, "alert at %" PRId64 ": rule missing", row->time_ns);
  copy_text(a->rule, sizeof a->rule, rule);
  copy_text(a->type, sizeof a->type, opt_str(row, FLEET_HISTORY_F_TYPE));
  copy_text(a->severity, sizeof a->severity, opt_str(row, FLEET_HISTORY_F_SEVERITY));
  copy_text(a->message, sizeof a->message, opt_str(row, FLEET_HISTORY_F_MESSAGE));
  copy_text(a->zone_id, sizeof a->zone_id, opt_str(row, FLEET_HISTORY_F_ZONE_ID));
  copy_text(a->zone_name, sizeof a->zone_name, opt_str(row, FLEET_HISTORY_F_ZONE_NAME));
  opt_num(row, FLEET_HISTORY_F_VALUE, &a->value);
  opt_num(row, FLEET_HISTORY_F_LIMIT, &a->limit);
  a->has_position = opt_position(row, &a->lat, &a->lng);
  return 0;
}

/* ---- Typed queries ---------------------------------------------------------------- */

fleet_history_tier_t fleet_history_pick_tier(const fleet_history_t *h,
                                             fleet_history_tier_t tier, int64_t from_ns,
                                             int64_t to_ns, int64_t now_ns)
{
  if (tier == FLEET_HISTORY_TIER_RAW || tier == FLEET_HISTORY_TIER_HOURLY)
    return tier;
  int64_t span_max = h ? h->raw_max_span_ns : FLEET_HISTORY_DEFAULT_RAW_MAX_SPAN_NS;
  int64_t keep = h ? h->raw_retention_ns : (int64_t)FLEET_HISTORY_RAW_RETENTION_S * NS_PER_S;
  int64_t span;
  if (__builtin_sub_overflow(to_ns, from_ns, &span) || span > span_max)
    return FLEET_HISTORY_TIER_HOURLY;
  int64_t oldest;
  if (keep > 0 && !__builtin_sub_overflow(now_ns, keep, &oldest) && from_ns < oldest)
    return FLEET_HISTORY_TIER_HOURLY;
  return FLEET_HISTORY_TIER_RAW;
}

static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

typedef struct typed_ctx {
  fleet_history_tier_t tier;
  uint64_t limit;
  uint64_t count;
  union {
    fleet_history_point_cb point;
    fleet_history_trip_cb trip;
    fleet_history_zone_event_cb zone;
    fleet_history_alert_cb alert;
  } cb;
  void *userdata;
} typed_ctx_t;

static int on_point_row(const fleet_history_row_t *row, void *ud)
{
  typed_ctx_t *c = ud;
  if (c->limit && c->count >= c->limit)
    return 0;
  fleet_telemetry_t rec;
  fleet_history_hourly_t hourly;
  fleet_history_point_t pt;
  memset(&pt, 0, sizeof pt);
  int rc = fleet_history__row_to_point(&rec, &hourly, &pt.fleet_id, &pt.device_type, row,
                                       c->tier);
  if (rc)
    return rc;
  pt.tier = c->tier;
  pt.rec = &rec;
  pt.hourly = c->tier == FLEET_HISTORY_TIER_HOURLY ? &hourly : NULL;
  c->count++;
  return c->cb.point(&pt, c->userdata);
}

static int on_trip_row(const fleet_history_row_t *row, void *ud)
{
  typed_ctx_t *c = ud;
  if (c->limit && c->count >= c->limit)
    return 0;
  fleet_history_trip_t t;
  int rc = fleet_history_row_to_trip(&t, row);
  if (rc)
    return rc;
  c->count++;
  return c->cb.trip(&t, c->userdata);
}

static int on_zone_row(const fleet_history_row_t *row, void *ud)
{
  typed_ctx_t *c = ud;
  if (c->limit && c->count >= c->limit)
    return 0;
  fleet_history_zone_event_t e;
  int rc = fleet_history_row_to_zone_event(&e, row);
  if (rc)
    return rc;
  c->count++;
  return c->cb.zone(&e, c->userdata);
}

static int on_alert_row(const fleet_history_row_t *row, void *ud)
{
  typed_ctx_t *c = ud;
  if (c->limit && c->count >= c->limit)
    return 0;
  fleet_history_alert_t a;
  int rc = fleet_history_row_to_alert(&a, row);
  if (rc)
    return rc;
  c->count++;
  return c->cb.alert(&a, c->userdata);
}

static int run_select(fleet_history_t *h, const fleet_history__source_t *src,
                      const fleet_history_filter_t *f, fleet_history_row_cb cb, void *ctx)
{
  fleet_buf_t q = FLEET_BUF_INIT;
  int rc = fleet_history__build_select(&q, src, f);
  if (!rc)
    rc = fleet_history_query(h, src->db, q.ptr, cb, ctx);
  fleet_buf_dispose(&q);
  return rc;
}

int fleet_history_positions(fleet_history_t *h, const fleet_history_filter_t *f,
                            fleet_history_point_cb cb, void *userdata)
{
  if (!h || !f || !cb)
    return fleet_error__set(FLEET_EINVAL, "positions: NULL argument");
  int rc = check_filter(f, 1);
  if (rc)
    return rc;
  typed_ctx_t c;
  memset(&c, 0, sizeof c);
  c.tier = fleet_history_pick_tier(h, f->tier, f->from_ns, f->to_ns, now_ns());
  c.limit = f->limit;
  c.cb.point = cb;
  c.userdata = userdata;
  fleet_history__source_t src =
    c.tier == FLEET_HISTORY_TIER_RAW
      ? (fleet_history__source_t){h->raw_db, h->raw_rp, FLEET_HISTORY_M_TELEMETRY}
      : (fleet_history__source_t){h->ds_db, h->ds_rp, FLEET_HISTORY_M_HOURLY};
  return run_select(h, &src, f, on_point_row, &c);
}

int fleet_history_last_positions(fleet_history_t *h, const fleet_history_filter_t *f,
                                 fleet_history_point_cb cb, void *userdata)
{
  if (!h || !f || !cb)
    return fleet_error__set(FLEET_EINVAL, "last positions: NULL argument");
  typed_ctx_t c;
  memset(&c, 0, sizeof c);
  c.tier = FLEET_HISTORY_TIER_RAW;
  c.limit = f->limit;
  c.cb.point = cb;
  c.userdata = userdata;
  fleet_history__source_t src = {h->raw_db, h->raw_rp, FLEET_HISTORY_M_TELEMETRY};
  fleet_buf_t q = FLEET_BUF_INIT;
  int rc = fleet_history__build_last(&q, &src, f);
  if (!rc)
    rc = fleet_history_query(h, src.db, q.ptr, on_point_row, &c);
  fleet_buf_dispose(&q);
  return rc;
}

int fleet_history_trips(fleet_history_t *h, const fleet_history_filter_t *f,
                        fleet_history_trip_cb cb, void *userdata)
{
  if (!h || !f || !cb)
    return fleet_error__set(FLEET_EINVAL, "trips: NULL argument");
  typed_ctx_t c;
  memset(&c, 0, sizeof c);
  c.limit = f->limit;
  c.cb.trip = cb;
  c.userdata = userdata;
  fleet_history__source_t src = {h->ev_db, h->ev_rp, FLEET_HISTORY_M_TRIPS};
  return run_select(h, &src, f, on_trip_row, &c);
}

int fleet_history_zone_events(fleet_history_t *h, const fleet_history_filter_t *f,
                              fleet_history_zone_event_cb cb, void *userdata)
{
  if (!h || !f || !cb)
    return fleet_error__set(FLEET_EINVAL, "zone events: NULL argument");
  typed_ctx_t c;
  memset(&c, 0, sizeof c);
  c.limit = f->limit;
  c.cb.zone = cb;
  c.userdata = userdata;
  fleet_history__source_t src = {h->ev_db, h->ev_rp, FLEET_HISTORY_M_GEOFENCE};
  return run_select(h, &src, f, on_zone_row, &c);
}

int fleet_history_alerts(fleet_history_t *h, const fleet_history_filter_t *f,
                         fleet_history_alert_cb cb, void *userdata)
{
  if (!h || !f || !cb)
    return fleet_error__set(FLEET_EINVAL, "alerts: NULL argument");
  typed_ctx_t c;
  memset(&c, 0, sizeof c);
  c.limit = f->limit;
  c.cb.alert = cb;
  c.userdata = userdata;
  fleet_history__source_t src = {h->ev_db, h->ev_rp, FLEET_HISTORY_M_ALERTS};
  return run_select(h, &src, f, on_alert_row, &c);
}

/* ---- Retention ---------------------------------------------------------------------- */

/* InfluxDB's own choice of shard group duration for a retention duration. */
static int64_t shard_duration_s(int64_t retention_s)
{
  if (retention_s == 0 || retention_s >= 180 * 86400)
    return 7 * 86400;
  if (retention_s >= 2 * 86400)
    return 86400;
  return 3600;
}

typedef struct rp_scan {
  const char *want_db; /* SHOW DATABASES: the name looked for */
  const char *want_rp; /* SHOW RETENTION POLICIES: the policy looked for */
  int found;
  int is_default;
  int64_t duration_s;
  int status;
} rp_scan_t;

static int on_database_row(const fleet_history_row_t *row, void *ud)
{
  rp_scan_t *s = ud;
  const fleet_history_value_t *v = fleet_history_row_get(row, "name");
  if (v && v->type == FLEET_HISTORY_STRING && !strcmp(v->s, s->want_db))
    s->found = 1;
  return 0;
}

static int on_policy_row(const fleet_history_row_t *row, void *ud)
{
  rp_scan_t *s = ud;
  const fleet_history_value_t *name = fleet_history_row_get(row, "name");
  if (!name || name->type != FLEET_HISTORY_STRING || strcmp(name->s, s->want_rp))
    return 0;
  const fleet_history_value_t *dur = fleet_history_row_get(row, "duration");
  const fleet_history_value_t *def = fleet_history_row_get(row, "default");
  s->found = 1;
  s->is_default = def && def->type == FLEET_HISTORY_BOOL && def->i;
  if (!dur || dur->type != FLEET_HISTORY_STRING ||
      fleet_history_parse_duration(&s->duration_s, dur->s))
    s->duration_s = -1; /* unknown: rewrite it */
  return 0;
}

static int exec_statement(fleet_history_t *h, const char *db, fleet_buf_t *q)
{
  return fleet_history_query(h, db, q->ptr, NULL, NULL);
}

static int ensure_v1(fleet_history_ensure_result_t *res, fleet_history_t *h, const char *db,
                     const char *rp, int64_t retention_s)
{
  fleet_buf_t q = FLEET_BUF_INIT;
  rp_scan_t scan;
  memset(&scan, 0, sizeof scan);
  scan.want_db = db;
  scan.want_rp = rp;
  char dur[32], shard[32];
  fleet_history_format_duration(dur, retention_s);
  fleet_history_format_duration(shard, shard_duration_s(retention_s));
  int created = 0;
  int rc = fleet_history_query(h, NULL, "SHOW DATABASES", on_database_row, &scan);
  if (rc)
    goto out;
  if (!scan.found) {
    if ((rc = fleet_buf__puts(&q, "CREATE DATABASE ")) ||
        (rc = fleet_history_quote_ident(&q, db)) || (rc = exec_statement(h, NULL, &q)))
      goto out;
    created = 1;
  }
  fleet_buf_clear(&q);
  scan.found = 0;
  if ((rc = fleet_buf__puts(&q, "SHOW RETENTION POLICIES ON ")) ||
      (rc = fleet_history_quote_ident(&q, db)) ||
      (rc = fleet_history_query(h, db, q.ptr, on_policy_row, &scan)))
    goto out;
  fleet_buf_clear(&q);
  if (!scan.found) {
    if ((rc = fleet_buf__puts(&q, "CREATE RETENTION POLICY ")) ||
        (rc = fleet_history_quote_ident(&q, rp)) || (rc = fleet_buf__puts(&q, " ON ")) ||
        (rc = fleet_history_quote_ident(&q, db)) ||
        (rc = fleet_buf__printf(&q, " DURATION %s REPLICATION 1 SHARD DURATION %s DEFAULT",
                                dur, shard)) ||
        (rc = exec_statement(h, db, &q)))
      goto out;
    *res = FLEET_HISTORY_ENSURE_CREATED;
  } else if (scan.duration_s != retention_s || !scan.is_default) {
    if ((rc = fleet_buf__puts(&q, "ALTER RETENTION POLICY ")) ||
        (rc = fleet_history_quote_ident(&q, rp)) || (rc = fleet_buf__puts(&q, " ON ")) ||
        (rc = fleet_history_quote_ident(&q, db)) ||
        (rc = fleet_buf__printf(&q, " DURATION %s SHARD DURATION %s DEFAULT", dur, shard)) ||
        (rc = exec_statement(h, db, &q)))
      goto out;
    *res = created ? FLEET_HISTORY_ENSURE_CREATED : FLEET_HISTORY_ENSURE_ALTERED;
  } else {
    *res = created ? FLEET_HISTORY_ENSURE_CREATED : FLEET_HISTORY_ENSURE_UNCHANGED;
  }
out:
  fleet_buf_dispose(&q);
  return rc;
}

static int ensure_v3(fleet_history_ensure_result_t *res, fleet_history_t *h, const char *db,
                     int64_t retention_s)
{
  json_t *obj = json_object();
  if (!obj || json_object_set_new(obj, "db", json_string(db)))
    goto oom;
  if (retention_s > 0) {
    char dur[32];
    fleet_history_format_duration(dur, retention_s);
    if (json_object_set_new(obj, "retention_period", json_string(dur)))
      goto oom;
  }
  char *body = json_dumps(obj, JSON_COMPACT);
  json_decref(obj);
  if (!body)
    return fleet_error__oom();
  fleet_buf_t url = FLEET_BUF_INIT;
  xfer_t x = {h, NULL, 0, 0, FLEET_BUF_INIT};
  int rc = fleet_influx__url_path(&url, &h->cfg, "/api/v3/configure/database");
  if (!rc)
    rc = perform(h, &x, url.ptr, body, "application/json");
  if (!rc) {
    char text[512];
    fleet_influx__error_text(text, sizeof text, x.body.ptr, x.body.len);
    if (x.http >= 200 && x.http < 300)
      *res = FLEET_HISTORY_ENSURE_CREATED;
    else if (x.http == 409 || strstr(text, "already exists"))
      *res = FLEET_HISTORY_ENSURE_EXISTS;
    else
      rc = http_error(&x);
  }
  free(body);
  fleet_buf_dispose(&url);
  fleet_buf_dispose(&x.body);
  return rc;
oom:
  json_decref(obj);
  return fleet_error__oom();
}

int fleet_history_ensure_database(fleet_history_ensure_result_t *out_result,
                                  fleet_history_t *h, const char *db, const char *rp,
                                  int64_t retention_s)
{
  if (!h || !db)
    return fleet_error__set(FLEET_EINVAL, "ensure database: NULL argument");
  if (!*db)
    return fleet_error__set(FLEET_EINVAL, "ensure database: empty name");
  if (retention_s < 0 || retention_s > INT64_MAX / NS_PER_S)
    return fleet_error__set(FLEET_EINVAL, "retention: %" PRId64 " s is out of range",
                            retention_s);
  fleet_history_ensure_result_t res = FLEET_HISTORY_ENSURE_UNCHANGED;
  int rc;
  switch (h->cfg.api) {
  case FLEET_INFLUX_API_V1:
    rc = ensure_v1(&res, h, db, rp && *rp ? rp : "autogen", retention_s);
    break;
  case FLEET_INFLUX_API_V3:
    if (rp && *rp)
      return fleet_error__set(FLEET_EINVAL,
                              "InfluxDB 3 has no retention policies; leave rp empty");
    rc = ensure_v3(&res, h, db, retention_s);
    break;
  default:
    return fleet_error__set(FLEET_EINVAL,
                            "InfluxDB 2 buckets are created with `influx bucket create "
                            "--retention` or /api/v2/buckets, not through /query");
  }
  if (!rc && out_result)
    *out_result = res;
  return rc;
}
