/* Unit tests for history: quoting, durations, query building, the streaming
 * parser of chunked /query answers, row conversions and tier selection. The
 * tests against a real influxd are in tests/integration/test_fleetctl_storage.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common_int.h"
#include "history_int.h"

#define NS INT64_C(1000000000)
#define HOUR_NS (3600 * NS)
#define DAY_NS (86400 * NS)

/*
 * Decode an InfluxQL quoted token the way influxql's ScanString does: the
 * first byte is the quote, a backslash may only precede n, \, " or ', and a
 * raw newline or the end of input is an error. Returns the number of bytes
 * consumed (0 on error) and writes the decoded text to `out`.
 */
static size_t scan_quoted(char *out, size_t cap, const char *in)
{
  char q = in[0];
  size_t o = 0;
  for (size_t i = 1; in[i]; i++) {
    char c = in[i];
    if (c == q) {
      out[o] = '\0';
      return i + 1;
    }
    if (c == '\n' || c == '\r')
      return 0;
    if (c == '\\') {
      char d = in[++i];
      if (d == 'n')
        c = '\n';
      else if (d == '\\' || d == '"' || d == '\'')
        c = d;
      else
        return 0;
    }
    if (o + 1 >= cap)
      return 0;
    out[o++] = c;
  }
  return 0;
}

static void test_quote_exact(void **state)
{
  (void)state;
  fleet_buf_t b = FLEET_BUF_INIT;
  assert_int_equal(fleet_history_quote_string(&b, "abc"), 0);
  assert_string_equal(b.ptr, "'abc'");
  fleet_buf_clear(&b);
  assert_int_equal(fleet_history_quote_string(&b, ""), 0);
  assert_string_equal(b.ptr, "''");
  fleet_buf_clear(&b);
  assert_int_equal(fleet_history_quote_string(&b, "a'b\\c\"d\ne"), 0);
  assert_string_equal(b.ptr, "'a\\'b\\\\c\\\"d\\ne'");
  fleet_buf_clear(&b);
  assert_int_equal(fleet_history_quote_string(&b, "x' OR '1'='1"), 0);
  assert_string_equal(b.ptr, "'x\\' OR \\'1\\'=\\'1'");
  fleet_buf_clear(&b);
  assert_int_equal(fleet_history_quote_ident(&b, "my \"db\""), 0);
  assert_string_equal(b.ptr, "\"my \\\"db\\\"\"");
  fleet_buf_clear(&b);
  assert_int_equal(fleet_history_quote_ident(&b, "Fahrzeug\xc3\xbc\xe2\x9c\x93"), 0);
  assert_string_equal(b.ptr, "\"Fahrzeug\xc3\xbc\xe2\x9c\x93\"");
  fleet_buf_dispose(&b);
}

static void test_quote_round_trip_hostile(void **state)
{
  (void)state;
  static const char *const hostile[] = {
    "'", "\\", "\\'", "'\\", "\"", "a'; DROP DATABASE telemetry_raw; --",
    "v1' OR vehicle_id =~ /.*/ OR 'a'='a", "\\\\'\\\\", "tab\there", "new\nline",
    "x\" OR \"y", "/* comment */", "-- comment", "\xe2\x80\x8b zero width", "=,;() {}",
    "trailing backslash \\",
  };
  fleet_buf_t b = FLEET_BUF_INIT;
  char dec[256];
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
    for (int ident = 0; ident < 2; ident++) {
      fleet_buf_clear(&b);
      int rc = ident ? fleet_history_quote_ident(&b, hostile[i])
                     : fleet_history_quote_string(&b, hostile[i]);
      assert_int_equal(rc, 0);
      /* The token decodes back to the input and ends exactly at the end of
       * the output: nothing can leak into the surrounding query. */
      size_t used = scan_quoted(dec, sizeof dec, b.ptr);
      assert_int_equal(used, b.len);
      assert_string_equal(dec, hostile[i]);
      assert_null(strchr(b.ptr, '\n'));
    }
  }
  fleet_buf_dispose(&b);
}

static void test_quote_rejects(void **state)
{
  (void)state;
  static const char *const bad[] = {
    "\xff", "a\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80", "cr\rhere",
  };
  fleet_buf_t b = FLEET_BUF_INIT;
  assert_int_equal(fleet_buf_append(&b, "keep", 4), 0);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(fleet_history_quote_string(&b, bad[i]), FLEET_EINVAL);
    assert_int_equal(fleet_history_quote_ident(&b, bad[i]), FLEET_EINVAL);
    assert_string_equal(b.ptr, "keep");
  }
  assert_int_equal(fleet_history_quote_ident(&b, ""), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "identifier: empty");
  assert_int_equal(fleet_history_quote_string(&b, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_history_quote_string(NULL, "x"), FLEET_EINVAL);
  assert_string_equal(b.ptr, "keep");
  fleet_buf_dispose(&b);
}

static void test_durations(void **state)
{
  (void)state;
  char out[32];
  assert_int_equal(fleet_history_format_duration(out, 7 * 86400), 2);
  assert_string_equal(out, "7d");
  fleet_history_format_duration(out, 365 * 86400);
  assert_string_equal(out, "365d");
  fleet_history_format_duration(out, 5400);
  assert_string_equal(out, "90m");
  fleet_history_format_duration(out, 7200);
  assert_string_equal(out, "2h");
  fleet_history_format_duration(out, 61);
  assert_string_equal(out, "61s");
  fleet_history_format_duration(out, 0);
  assert_string_equal(out, "INF");
  assert_int_equal(fleet_history_format_duration(out, -1), FLEET_EINVAL);

  int64_t s = -1;
  assert_int_equal(fleet_history_parse_duration(&s, "7d"), 0);
  assert_int_equal(s, 604800);
  assert_int_equal(fleet_history_parse_duration(&s, "168h0m0s"), 0);
  assert_int_equal(s, 604800);
  assert_int_equal(fleet_history_parse_duration(&s, "1h30m"), 0);
  assert_int_equal(s, 5400);
  assert_int_equal(fleet_history_parse_duration(&s, "52w"), 0);
  assert_int_equal(s, 52 * 7 * 86400);
  assert_int_equal(fleet_history_parse_duration(&s, "0s"), 0);
  assert_int_equal(s, 0);
  s = 5;
  assert_int_equal(fleet_history_parse_duration(&s, "INF"), 0);
  assert_int_equal(s, 0);
  assert_int_equal(fleet_history_parse_duration(&s, ""), FLEET_EPARSE);
  assert_int_equal(fleet_history_parse_duration(&s, "7x"), FLEET_EPARSE);
  assert_int_equal(fleet_history_parse_duration(&s, "d"), FLEET_EPARSE);
  assert_int_equal(fleet_history_parse_duration(&s, "7"), FLEET_EPARSE);
  assert_int_equal(fleet_history_parse_duration(&s, "1.5h"), FLEET_EPARSE);
  assert_int_equal(fleet_history_parse_duration(&s, "99999999999999999999d"), FLEET_ERANGE);
  assert_int_equal(fleet_history_parse_duration(&s, "300000w"), FLEET_ERANGE);
  assert_int_equal(fleet_history_parse_duration(NULL, "1d"), FLEET_EINVAL);
}

static void test_build_select(void **state)
{
  (void)state;
  const char *ids[] = {"v-1", "a.b_C"};
  fleet_history_filter_t f = FLEET_HISTORY_FILTER_INIT;
  f.from_ns = 1;
  f.to_ns = 2;
  f.vehicle_ids = ids;
  f.n_vehicle_ids = 2;
  f.limit = 5;
  fleet_history__source_t src = {"db", "rp\"x", "telemetry"};
  fleet_buf_t q = FLEET_BUF_INIT;
  assert_int_equal(fleet_history__build_select(&q, &src, &f), 0);
  assert_string_equal(q.ptr, "SELECT * FROM \"rp\\\"x\".\"telemetry\" WHERE time >= 1 AND "
                             "time < 2 AND (\"vehicle_id\" = 'v-1' OR \"vehicle_id\" = "
                             "'a.b_C') LIMIT 5");
  fleet_buf_clear(&q);
  fleet_history_filter_t all = FLEET_HISTORY_FILTER_INIT;
  all.from_ns = -5 * NS;
  all.to_ns = INT64_MAX;
  fleet_history__source_t plain = {"db", "", "trips"};
  assert_int_equal(fleet_history__build_select(&q, &plain, &all), 0);
  assert_string_equal(q.ptr, "SELECT * FROM \"trips\" WHERE time >= -5000000000 AND "
                             "time < 9223372036854775807");
  fleet_buf_dispose(&q);
}

static void test_build_select_rejects(void **state)
{
  (void)state;
  fleet_buf_t q = FLEET_BUF_INIT;
  fleet_history__source_t src = {"db", NULL, "telemetry"};
  fleet_history_filter_t f = FLEET_HISTORY_FILTER_INIT;
  f.from_ns = 10;
  f.to_ns = 10;
  assert_int_equal(fleet_history__build_select(&q, &src, &f), FLEET_EINVAL);
  f.to_ns = 5;
  assert_int_equal(fleet_history__build_select(&q, &src, &f), FLEET_EINVAL);
  f.to_ns = 20;
  static const char *const hostile[] = {
    "v1' OR '1'='1", "v1\"", "v 1", "", "v1\\", "v1;DROP", "\xc3\xbc",
    "01234567890123456789012345678901234567890123456789012345678901234",
  };
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
    const char *ids[] = {"ok", hostile[i]};
    f.vehicle_ids = ids;
    f.n_vehicle_ids = 2;
    assert_int_equal(fleet_history__build_select(&q, &src, &f), FLEET_EINVAL);
  }
  const char *nul_ids[] = {NULL};
  f.vehicle_ids = nul_ids;
  f.n_vehicle_ids = 1;
  assert_int_equal(fleet_history__build_select(&q, &src, &f), FLEET_EINVAL);
  f.vehicle_ids = NULL;
  assert_int_equal(fleet_history__build_select(&q, &src, &f), FLEET_EINVAL);
  f.n_vehicle_ids = FLEET_HISTORY_MAX_VEHICLES + 1;
  f.vehicle_ids = nul_ids;
  assert_int_equal(fleet_history__build_select(&q, &src, &f), FLEET_EINVAL);
  f.n_vehicle_ids = 0;
  f.tier = (fleet_history_tier_t)7;
  assert_int_equal(fleet_history__build_select(&q, &src, &f), FLEET_EINVAL);
  f.tier = FLEET_HISTORY_TIER_AUTO;
  f.version = 99;
  assert_int_equal(fleet_history__build_select(&q, &src, &f), FLEET_EVERSION);
  /* Nothing was written by the failures. */
  assert_int_equal(q.len, 0);
  fleet_buf_dispose(&q);
}

static void test_build_last(void **state)
{
  (void)state;
  fleet_buf_t q = FLEET_BUF_INIT;
  fleet_history__source_t src = {"db", NULL, "telemetry"};
  fleet_history_filter_t f = FLEET_HISTORY_FILTER_INIT;
  assert_int_equal(fleet_history__build_last(&q, &src, &f), 0);
  assert_string_equal(q.ptr, "SELECT last(\"lat\") AS \"__fleet_last\", * FROM \"telemetry\" "
                             "GROUP BY \"vehicle_id\"");
  fleet_buf_clear(&q);
  const char *ids[] = {"v9"};
  f.vehicle_ids = ids;
  f.n_vehicle_ids = 1;
  assert_int_equal(fleet_history__build_last(&q, &src, &f), 0);
  assert_string_equal(q.ptr, "SELECT last(\"lat\") AS \"__fleet_last\", * FROM \"telemetry\" "
                             "WHERE (\"vehicle_id\" = 'v9') GROUP BY \"vehicle_id\"");
  fleet_buf_clear(&q);
  f.from_ns = 100;
  f.to_ns = 200;
  assert_int_equal(fleet_history__build_last(&q, &src, &f), 0);
  assert_string_equal(q.ptr, "SELECT last(\"lat\") AS \"__fleet_last\", * FROM \"telemetry\" "
                             "WHERE time >= 100 AND time < 200 AND (\"vehicle_id\" = 'v9') "
                             "GROUP BY \"vehicle_id\"");
  fleet_buf_dispose(&q);
}

/* ---- Streaming parser ---- */

typedef struct collected {
  fleet_buf_t text; /* one line per row: stmt|measurement|tags|col=type:value... */
  int rows;
  int abort_after;  /* return 42 from this row on (0: never) */
} collected_t;

static int collect_row(const fleet_history_row_t *row, void *ud)
{
  collected_t *c = ud;
  c->rows++;
  fleet_buf__printf(&c->text, "%u|%s|", row->statement, row->measurement);
  for (size_t i = 0; i < row->ntags; i++)
    fleet_buf__printf(&c->text, "%s=%s;", row->tag_keys[i], row->tag_values[i]);
  fleet_buf__printf(&c->text, "|t=%" PRId64, row->time_ns);
  for (size_t i = 0; i < row->ncolumns; i++) {
    const fleet_history_value_t *v = &row->values[i];
    switch (v->type) {
    case FLEET_HISTORY_NULL: fleet_buf__printf(&c->text, " %s=null", row->columns[i]); break;
    case FLEET_HISTORY_INT:
      fleet_buf__printf(&c->text, " %s=i%" PRId64, row->columns[i], v->i);
      break;
    case FLEET_HISTORY_FLOAT: fleet_buf__printf(&c->text, " %s=f%g", row->columns[i], v->f); break;
    case FLEET_HISTORY_STRING:
      fleet_buf__printf(&c->text, " %s=s[%s]%zu", row->columns[i], v->s, v->len);
      break;
    case FLEET_HISTORY_BOOL:
      fleet_buf__printf(&c->text, " %s=b%" PRId64, row->columns[i], v->i);
      break;
    }
  }
  fleet_buf__putc(&c->text, '\n');
  if (c->abort_after && c->rows >= c->abort_after)
    return 42;
  return 0;
}

static const char two_chunks[] =
  "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"telemetry\",\"columns\":"
  "[\"time\",\"driver_id\",\"lat\",\"ignition\",\"odometer\"],\"values\":[[10,\"d\\\"x\","
  "1.5,true,null],[20,null,2,false,5]],\"partial\":true}],\"partial\":true}]}\n"
  "\n"
  "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"telemetry\",\"tags\":"
  "{\"vehicle_id\":\"v1\"},\"columns\":[\"time\",\"lat\"],\"values\":[[30,-0.25]]}]},"
  "{\"statement_id\":1,\"series\":[{\"columns\":[\"name\"],\"values\":[[\"x\"]]}]}]}\n";

static const char two_chunks_expected[] =
  "0|telemetry||t=10 time=i10 driver_id=s[d\"x]3 lat=f1.5 ignition=b1 odometer=null\n"
  "0|telemetry||t=20 time=i20 driver_id=null lat=i2 ignition=b0 odometer=i5\n"
  "0|telemetry|vehicle_id=v1;|t=30 time=i30 lat=f-0.25\n"
  "1|||t=0 name=s[x]1\n";

static int feed_all(collected_t *c, fleet_history_stats_t *st, const char *body, size_t len,
                    size_t piece, size_t max_line)
{
  fleet_history__stream_t s;
  fleet_history__stream_init(&s, max_line, collect_row, c, st);
  int rc = 0;
  for (size_t off = 0; off < len && !rc; off += piece) {
    size_t n = len - off < piece ? len - off : piece;
    rc = fleet_history__stream_feed(&s, body + off, n);
  }
  if (!rc)
    rc = fleet_history__stream_finish(&s);
  fleet_history__stream_dispose(&s);
  return rc;
}

static void test_stream_any_split(void **state)
{
  (void)state;
  size_t len = strlen(two_chunks);
  static const size_t pieces[] = {1, 2, 3, 7, 64, 100000};
  for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
    collected_t c = {FLEET_BUF_INIT, 0, 0};
    fleet_history_stats_t st;
    memset(&st, 0, sizeof st);
    assert_int_equal(feed_all(&c, &st, two_chunks, len, pieces[p], 1 << 20), 0);
    assert_string_equal(c.text.ptr, two_chunks_expected);
    assert_int_equal(st.rows, 4);
    assert_int_equal(st.chunks, 2);
    assert_int_equal(st.max_chunk_bytes, strchr(two_chunks, '\n') - two_chunks);
    fleet_buf_dispose(&c.text);
  }
}

static void test_stream_last_line_without_newline(void **state)
{
  (void)state;
  const char *body = "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\","
                     "\"columns\":[\"time\",\"v\"],\"values\":[[\"2026-05-21T10:30:00Z\",1]]}]}]}";
  collected_t c = {FLEET_BUF_INIT, 0, 0};
  fleet_history_stats_t st;
  memset(&st, 0, sizeof st);
  assert_int_equal(feed_all(&c, &st, body, strlen(body), 5, 4096), 0);
  assert_string_equal(c.text.ptr,
                      "0|m||t=1779359400000000000 time=s[2026-05-21T10:30:00Z]20 v=i1\n");
  assert_int_equal(st.chunks, 1);
  fleet_buf_dispose(&c.text);
}

static void test_stream_errors(void **state)
{
  (void)state;
  static const struct {
    const char *body;
    int code;
    const char *msg;
  } cases[] = {
    {"{\"results\":[{\"statement_id\":0,\"error\":\"database not found: nodb\"}]}\n",
     FLEET_ENOTFOUND, "influxdb: database not found: nodb"},
    {"{\"results\":[{\"statement_id\":0,\"error\":\"retention policy conflicts with an "
     "existing policy\"}]}\n",
     FLEET_ESERVER, "influxdb: retention policy conflicts with an existing policy"},
    {"{\"error\":\"error parsing query: found EOF\"}\n", FLEET_EPARSE,
     "influxdb: error parsing query: found EOF"},
    {"{\"error\":\"authorization failed\"}", FLEET_EAUTH, "influxdb: authorization failed"},
    {"not json\n", FLEET_EPARSE, NULL},
    {"[1,2]\n", FLEET_EPARSE, "query response: a document is not an object"},
    {"{\"foo\":1}\n", FLEET_EPARSE, "query response: no results array"},
    {"{\"results\":[{\"series\":[{\"name\":\"m\"}]}]}\n", FLEET_EPARSE,
     "query response: a series has no columns"},
    {"{\"results\":[{\"series\":[{\"columns\":[\"a\",\"b\"],\"values\":[[1]]}]}]}\n",
     FLEET_EPARSE, "query response: row 0 does not have 2 values"},
    {"{\"results\":[{\"series\":[{\"columns\":[\"a\"],\"values\":[[[1]]]}]}]}\n",
     FLEET_EPARSE, "query response: column a holds an array or object"},
    {"{\"results\":[{\"series\":[{\"columns\":[1],\"values\":[]}]}]}\n", FLEET_EPARSE,
     "query response: column 0 is not a string"},
    {"{\"results\":[{\"series\":{}}]}\n", FLEET_EPARSE,
     "query response: series is not an array"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    collected_t c = {FLEET_BUF_INIT, 0, 0};
    fleet_history_stats_t st;
    memset(&st, 0, sizeof st);
    int rc = feed_all(&c, &st, cases[i].body, strlen(cases[i].body), 4, 4096);
    assert_int_equal(rc, cases[i].code);
    if (cases[i].msg)
      assert_string_equal(fleet_error_last(), cases[i].msg);
    assert_int_equal(c.rows, 0);
    fleet_buf_dispose(&c.text);
  }
}

static void test_stream_error_after_rows_and_sticky(void **state)
{
  (void)state;
  const char *body = "{\"results\":[{\"series\":[{\"columns\":[\"a\"],\"values\":[[1],[2]]}]}]}\n"
                     "{\"results\":[{\"error\":\"query interrupted\"}]}\n"
                     "{\"results\":[{\"series\":[{\"columns\":[\"a\"],\"values\":[[3]]}]}]}\n";
  collected_t c = {FLEET_BUF_INIT, 0, 0};
  fleet_history_stats_t st;
  memset(&st, 0, sizeof st);
  fleet_history__stream_t s;
  fleet_history__stream_init(&s, 4096, collect_row, &c, &st);
  assert_int_equal(fleet_history__stream_feed(&s, body, strlen(body)), FLEET_ESERVER);
  /* Rows before the error stay delivered; nothing after it is. */
  assert_int_equal(c.rows, 2);
  assert_int_equal(fleet_history__stream_feed(&s, "{}\n", 3), FLEET_ESERVER);
  assert_int_equal(fleet_history__stream_finish(&s), FLEET_ESERVER);
  assert_int_equal(c.rows, 2);
  fleet_history__stream_dispose(&s);
  fleet_buf_dispose(&c.text);
}

static void test_stream_callback_abort(void **state)
{
  (void)state;
  collected_t c = {FLEET_BUF_INIT, 0, 2};
  fleet_history_stats_t st;
  memset(&st, 0, sizeof st);
  assert_int_equal(feed_all(&c, &st, two_chunks, strlen(two_chunks), 9, 4096), 42);
  assert_int_equal(c.rows, 2);
  fleet_buf_dispose(&c.text);
}

static void test_stream_line_limit(void **state)
{
  (void)state;
  size_t first = (size_t)(strchr(two_chunks, '\n') - two_chunks);
  /* A limit of exactly the longest line passes, one byte less fails. */
  size_t longest = first;
  const char *second = two_chunks + first + 2;
  if ((size_t)(strchr(second, '\n') - second) > longest)
    longest = (size_t)(strchr(second, '\n') - second);
  for (size_t piece = 1; piece <= 4096; piece *= 8) {
    collected_t c = {FLEET_BUF_INIT, 0, 0};
    fleet_history_stats_t st;
    memset(&st, 0, sizeof st);
    assert_int_equal(feed_all(&c, &st, two_chunks, strlen(two_chunks), piece, longest), 0);
    fleet_buf_clear(&c.text);
    c.rows = 0;
    assert_int_equal(feed_all(&c, &st, two_chunks, strlen(two_chunks), piece, longest - 1),
                     FLEET_ETOOBIG);
    fleet_buf_dispose(&c.text);
  }
}

static void test_error_codes(void **state)
{
  (void)state;
  assert_int_equal(fleet_history__error_code("database not found: x"), FLEET_ENOTFOUND);
  assert_int_equal(fleet_history__error_code("retention policy not found: r"), FLEET_ENOTFOUND);
  assert_int_equal(fleet_history__error_code("error parsing query: x"), FLEET_EPARSE);
  assert_int_equal(fleet_history__error_code("authorization failed"), FLEET_EAUTH);
  assert_int_equal(fleet_history__error_code("user is not authorized to read"), FLEET_EPERM);
  assert_int_equal(fleet_history__error_code("something else"), FLEET_ESERVER);
  assert_int_equal(fleet_history__error_code(NULL), FLEET_ESERVER);
}

/* ---- Row conversions: parse one JSON document and convert its rows ---- */

typedef struct convert {
  int kind; /* 0 raw point, 1 hourly, 2 trip, 3 zone, 4 alert */
  int rc;
  int rows;
  fleet_telemetry_t rec;
  fleet_history_hourly_t hourly;
  char fleet_id[64];
  char device_type[64];
  fleet_history_trip_t trip;
  fleet_history_zone_event_t zone;
  fleet_history_alert_t alert;
} convert_t;

static int convert_row(const fleet_history_row_t *row, void *ud)
{
  convert_t *c = ud;
  c->rows++;
  const char *fid = NULL, *dt = NULL;
  switch (c->kind) {
  case 0:
  case 1:
    c->rc = fleet_history__row_to_point(&c->rec, &c->hourly, &fid, &dt, row,
                                        c->kind ? FLEET_HISTORY_TIER_HOURLY
                                                : FLEET_HISTORY_TIER_RAW);
    if (!c->rc) {
      snprintf(c->fleet_id, sizeof c->fleet_id, "%s", fid);
      snprintf(c->device_type, sizeof c->device_type, "%s", dt);
    }
    break;
  case 2: c->rc = fleet_history_row_to_trip(&c->trip, row); break;
  case 3: c->rc = fleet_history_row_to_zone_event(&c->zone, row); break;
  default: c->rc = fleet_history_row_to_alert(&c->alert, row); break;
  }
  return 0;
}

static int convert_doc(convert_t *c, int kind, const char *doc)
{
  memset(c, 0, sizeof *c);
  c->kind = kind;
  fleet_history_stats_t st;
  memset(&st, 0, sizeof st);
  fleet_history__stream_t s;
  fleet_history__stream_init(&s, 1 << 20, convert_row, c, &st);
  int rc = fleet_history__stream_feed(&s, doc, strlen(doc));
  if (!rc)
    rc = fleet_history__stream_finish(&s);
  fleet_history__stream_dispose(&s);
  assert_int_equal(rc, 0);
  assert_int_equal(c->rows, 1);
  return c->rc;
}

static void test_row_to_point_raw(void **state)
{
  (void)state;
  convert_t c;
  const char *doc =
    "{\"results\":[{\"series\":[{\"name\":\"telemetry\",\"columns\":[\"time\",\"battery_v\","
    "\"device_type\",\"driver_id\",\"engine_temp\",\"fleet_id\",\"fuel_level\",\"heading\","
    "\"ignition\",\"lat\",\"lng\",\"odometer\",\"pto\",\"rpm\",\"speed\",\"vehicle_id\","
    "\"bad-name\",\"note\"],\"values\":[[1779359400000000000,12.4,\"tracker, \\\"X\\\"\","
    "\"dr\\\\iver \\u00fc\",88.5,\"f=1 \\\\,\",63,180,true,23.8103,90.4125,123456.7,false,2100,"
    "45.2,\"v-001\",7,\"text\"]]}]}]}";
  assert_int_equal(convert_doc(&c, 0, doc), 0);
  assert_string_equal(c.rec.vehicle_id, "v-001");
  assert_int_equal(c.rec.ts_ns, INT64_C(1779359400000000000));
  assert_true(c.rec.lat == 23.8103 && c.rec.lng == 90.4125);
  unsigned all = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_HEADING | FLEET_TELEMETRY_IGNITION |
                 FLEET_TELEMETRY_ODOMETER | FLEET_TELEMETRY_BATTERY_V |
                 FLEET_TELEMETRY_ENGINE_TEMP | FLEET_TELEMETRY_FUEL_LEVEL |
                 FLEET_TELEMETRY_DRIVER_ID;
  assert_int_equal(c.rec.present, all);
  assert_true(c.rec.speed_kmh == 45.2 && c.rec.heading_deg == 180.0);
  assert_int_equal(c.rec.ignition, 1);
  assert_true(c.rec.odometer_km == 123456.7 && c.rec.battery_v == 12.4);
  assert_true(c.rec.engine_temp_c == 88.5 && c.rec.fuel_level_pct == 63.0);
  assert_string_equal(c.rec.driver_id, "dr\\iver \xc3\xbc");
  assert_string_equal(c.fleet_id, "f=1 \\,");
  assert_string_equal(c.device_type, "tracker, \"X\"");
  /* Extras: numeric and bool columns with valid names, in column order; the
   * string column and the invalid name are skipped. */
  assert_int_equal(c.rec.n_extras, 2);
  assert_string_equal(c.rec.extras[0].name, "pto");
  assert_int_equal(c.rec.extras[0].type, FLEET_EXTRA_BOOL);
  assert_true(c.rec.extras[0].value == 0.0);
  assert_string_equal(c.rec.extras[1].name, "rpm");
  assert_int_equal(c.rec.extras[1].type, FLEET_EXTRA_NUMBER);
  assert_true(c.rec.extras[1].value == 2100.0);
}

static void test_row_to_point_minimal_and_errors(void **state)
{
  (void)state;
  convert_t c;
  /* GROUP BY vehicle_id: the id comes from the series tags; nulls are absent. */
  const char *doc = "{\"results\":[{\"series\":[{\"name\":\"telemetry\",\"tags\":{\"vehicle_id\":"
                    "\"v2\"},\"columns\":[\"time\",\"lat\",\"lng\",\"speed\",\"ignition\"],"
                    "\"values\":[[5,-1,2,null,\"yes\"]]}]}]}";
  assert_int_equal(convert_doc(&c, 0, doc), 0);
  assert_string_equal(c.rec.vehicle_id, "v2");
  assert_int_equal(c.rec.present, 0);
  assert_int_equal(c.rec.n_extras, 0);
  assert_string_equal(c.fleet_id, "");

  const char *no_lat = "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"vehicle_id\","
                       "\"lng\"],\"values\":[[5,\"v2\",2]]}]}]}";
  assert_int_equal(convert_doc(&c, 0, no_lat), FLEET_EPARSE);
  assert_string_equal(fleet_error_last(), "point at 5: lat is missing");
  const char *str_lat = "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"vehicle_id\","
                        "\"lat\",\"lng\"],\"values\":[[5,\"v2\",\"1\",2]]}]}]}";
  assert_int_equal(convert_doc(&c, 0, str_lat), FLEET_EPARSE);
  assert_string_equal(fleet_error_last(), "point at 5: lat is not a number");
  const char *bad_id = "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"vehicle_id\","
                       "\"lat\",\"lng\"],\"values\":[[5,\"v 2\",1,2]]}]}]}";
  assert_int_equal(convert_doc(&c, 0, bad_id), FLEET_EPARSE);
  const char *no_id = "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"lat\",\"lng\"],"
                      "\"values\":[[5,1,2]]}]}]}";
  assert_int_equal(convert_doc(&c, 0, no_id), FLEET_EPARSE);
}

static void test_row_to_point_hourly(void **state)
{
  (void)state;
  convert_t c;
  const char *doc =
    "{\"results\":[{\"series\":[{\"name\":\"telemetry_hourly\",\"columns\":[\"time\","
    "\"battery_max\",\"battery_min\",\"distance_m\",\"fuel_max\",\"fuel_min\",\"idle_s\","
    "\"last_ts\",\"lat\",\"lng\",\"moving_s\",\"samples\",\"speed_max\",\"speed_mean\","
    "\"vehicle_id\"],\"values\":[[3600000000000,12.8,12.1,5400.5,60,55.5,120,"
    "3599000000000,10,20,3000,360,90.5,40.25,\"v3\"]]}]}]}";
  assert_int_equal(convert_doc(&c, 1, doc), 0);
  assert_int_equal(c.rec.ts_ns, 3600 * NS);
  assert_true(c.rec.lat == 10.0 && c.rec.lng == 20.0);
  assert_int_equal(c.rec.present, FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_FUEL_LEVEL |
                                    FLEET_TELEMETRY_BATTERY_V);
  assert_true(c.rec.speed_kmh == 40.25 && c.rec.fuel_level_pct == 55.5 &&
              c.rec.battery_v == 12.1);
  assert_int_equal(c.hourly.samples, 360);
  assert_int_equal(c.hourly.last_ts_ns, INT64_C(3599000000000));
  assert_int_equal(c.hourly.present, 0x7f);
  assert_true(c.hourly.speed_max_kmh == 90.5 && c.hourly.distance_m == 5400.5);
  assert_true(c.hourly.moving_s == 3000.0 && c.hourly.idle_s == 120.0);
  assert_true(c.hourly.fuel_max_pct == 60.0 && c.hourly.battery_max_v == 12.8);

  /* Only a fuel minimum: the pair is incomplete and left out. */
  const char *partial = "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"fuel_min\","
                        "\"lat\",\"lng\",\"vehicle_id\"],\"values\":[[0,5,1,2,\"v3\"]]}]}]}";
  assert_int_equal(convert_doc(&c, 1, partial), 0);
  assert_int_equal(c.hourly.present, 0);
  assert_int_equal(c.rec.present, 0);
  assert_int_equal(c.hourly.samples, 0);
}

static void test_row_to_events(void **state)
{
  (void)state;
  convert_t c;
  const char *trip =
    "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"avg_speed_kmh\",\"distance_m\","
    "\"duration_s\",\"end_lat\",\"end_lng\",\"end_ns\",\"fuel_l\",\"idle_s\",\"max_speed_kmh\","
    "\"moving_s\",\"start_lat\",\"start_lng\",\"start_ns\",\"vehicle_id\"],\"values\":[[100,"
    "36.5,1000,100,1.5,2.5,200,0.25,10,80,90,3.5,4.5,100,\"t1\"]]}]}]}";
  assert_int_equal(convert_doc(&c, 2, trip), 0);
  assert_string_equal(c.trip.vehicle_id, "t1");
  assert_int_equal(c.trip.start_ns, 100);
  assert_int_equal(c.trip.end_ns, 200);
  assert_true(c.trip.distance_m == 1000 && c.trip.duration_s == 100 && c.trip.moving_s == 90);
  assert_true(c.trip.idle_s == 10 && c.trip.max_speed_kmh == 80 && c.trip.avg_speed_kmh == 36.5);
  assert_int_equal(c.trip.has_fuel, 1);
  assert_true(c.trip.fuel_l == 0.25);
  assert_true(c.trip.start_lat == 3.5 && c.trip.start_lng == 4.5 && c.trip.end_lat == 1.5 &&
              c.trip.end_lng == 2.5);
  const char *trip_bad = "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"start_ns\","
                         "\"vehicle_id\"],\"values\":[[1,1,\"t1\"]]}]}]}";
  assert_int_equal(convert_doc(&c, 2, trip_bad), FLEET_EPARSE);

  const char *zone = "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"dwell_s\",\"event\","
                     "\"zone_id\",\"zone_name\",\"vehicle_id\"],\"values\":[[7,61.5,\"exit\","
                     "\"z'1\",\"Depot \\\"North\\\"\",\"t2\"]]}]}]}";
  assert_int_equal(convert_doc(&c, 3, zone), 0);
  assert_int_equal(c.zone.ts_ns, 7);
  assert_int_equal(c.zone.enter, 0);
  assert_string_equal(c.zone.zone_id, "z'1");
  assert_string_equal(c.zone.zone_name, "Depot \"North\"");
  assert_true(c.zone.dwell_s == 61.5);
  assert_int_equal(c.zone.has_position, 0);
  const char *zone_bad = "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"event\","
                         "\"zone_id\",\"vehicle_id\"],\"values\":[[7,\"leave\",\"z\",\"t2\"]]}]}]}";
  assert_int_equal(convert_doc(&c, 3, zone_bad), FLEET_EPARSE);

  char longmsg[400];
  memset(longmsg, 'm', sizeof longmsg - 1);
  longmsg[sizeof longmsg - 1] = '\0';
  char alert[1024];
  snprintf(alert, sizeof alert,
           "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"lat\",\"limit\",\"lng\","
           "\"message\",\"rule\",\"severity\",\"type\",\"value\",\"vehicle_id\"],\"values\":"
           "[[9,1,80,2,\"%s\",\"speed-80\",\"critical\",\"overspeed\",96.5,\"t3\"]]}]}]}",
           longmsg);
  assert_int_equal(convert_doc(&c, 4, alert), 0);
  assert_string_equal(c.alert.rule, "speed-80");
  assert_string_equal(c.alert.type, "overspeed");
  assert_string_equal(c.alert.severity, "critical");
  assert_int_equal(strlen(c.alert.message), FLEET_HISTORY_TEXT_MAX - 1);
  assert_true(c.alert.value == 96.5 && c.alert.limit == 80);
  assert_int_equal(c.alert.has_position, 1);
  assert_string_equal(c.alert.zone_id, "");
  const char *alert_bad = "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"vehicle_id\"],"
                          "\"values\":[[9,\"t3\"]]}]}]}";
  assert_int_equal(convert_doc(&c, 4, alert_bad), FLEET_EPARSE);
  assert_non_null(strstr(fleet_error_last(), "rule missing"));
  const char *zone_alert =
    "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"rule\",\"zone_id\",\"zone_name\","
    "\"vehicle_id\"],\"values\":[[9,\"no-entry\",\"z1\",\"Yard\",\"t3\"]]}]}]}";
  assert_int_equal(convert_doc(&c, 4, zone_alert), 0);
  assert_string_equal(c.alert.zone_id, "z1");
  assert_string_equal(c.alert.zone_name, "Yard");
  assert_int_equal(c.alert.has_position, 0);
  const char *no_vehicle = "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"rule\"],"
                           "\"values\":[[9,\"r\"]]}]}]}";
  assert_int_equal(convert_doc(&c, 4, no_vehicle), FLEET_EPARSE);

  fleet_history_row_t row;
  memset(&row, 0, sizeof row);
  assert_int_equal(fleet_history_row_to_trip(NULL, &row), FLEET_EINVAL);
  assert_int_equal(fleet_history_row_to_trip(&c.trip, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_history_row_to_zone_event(NULL, &row), FLEET_EINVAL);
  assert_int_equal(fleet_history_row_to_zone_event(&c.zone, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_history_row_to_alert(NULL, &row), FLEET_EINVAL);
  assert_int_equal(fleet_history_row_to_alert(&c.alert, NULL), FLEET_EINVAL);
  /* A row without columns is not an alert. */
  assert_int_equal(fleet_history_row_to_alert(&c.alert, &row), FLEET_EPARSE);
}

/* ---- Handle, options, tier selection ---- */

static fleet_history_t *new_handle(const fleet_history_opts_t *opts)
{
  fleet_influx_config_t cfg = FLEET_INFLUX_CONFIG_INIT;
  snprintf(cfg.url, sizeof cfg.url, "http://127.0.0.1:1");
  cfg.connect_timeout_ms = 500;
  fleet_history_t *h = NULL;
  assert_int_equal(fleet_history_new(&h, &cfg, opts), 0);
  assert_non_null(h);
  return h;
}

static void test_pick_tier(void **state)
{
  (void)state;
  fleet_history_t *h = new_handle(NULL);
  int64_t now = 1000 * DAY_NS;
  assert_int_equal(fleet_history_pick_tier(h, FLEET_HISTORY_TIER_AUTO, now - HOUR_NS, now, now),
                   FLEET_HISTORY_TIER_RAW);
  assert_int_equal(fleet_history_pick_tier(h, FLEET_HISTORY_TIER_AUTO, now - 2 * DAY_NS, now,
                                           now),
                   FLEET_HISTORY_TIER_RAW);
  assert_int_equal(fleet_history_pick_tier(h, FLEET_HISTORY_TIER_AUTO, now - 2 * DAY_NS - 1,
                                           now, now),
                   FLEET_HISTORY_TIER_HOURLY);
  /* Short but older than the raw retention (7 days). */
  assert_int_equal(fleet_history_pick_tier(h, FLEET_HISTORY_TIER_AUTO, now - 8 * DAY_NS,
                                           now - 8 * DAY_NS + HOUR_NS, now),
                   FLEET_HISTORY_TIER_HOURLY);
  assert_int_equal(fleet_history_pick_tier(h, FLEET_HISTORY_TIER_RAW, now - 30 * DAY_NS, now,
                                           now),
                   FLEET_HISTORY_TIER_RAW);
  assert_int_equal(fleet_history_pick_tier(h, FLEET_HISTORY_TIER_HOURLY, now - HOUR_NS, now,
                                           now),
                   FLEET_HISTORY_TIER_HOURLY);
  assert_int_equal(fleet_history_pick_tier(h, FLEET_HISTORY_TIER_AUTO, INT64_MIN, INT64_MAX,
                                           now),
                   FLEET_HISTORY_TIER_HOURLY);
  fleet_history_free(h);

  fleet_history_opts_t o;
  assert_int_equal(fleet_history_opts_init(&o, FLEET_HISTORY_OPTS_VERSION), 0);
  o.raw_max_span_ns = HOUR_NS;
  o.raw_retention_ns = -1;
  h = new_handle(&o);
  assert_int_equal(fleet_history_pick_tier(h, FLEET_HISTORY_TIER_AUTO, 0, HOUR_NS, now),
                   FLEET_HISTORY_TIER_RAW);
  assert_int_equal(fleet_history_pick_tier(h, FLEET_HISTORY_TIER_AUTO, 0, HOUR_NS + 1, now),
                   FLEET_HISTORY_TIER_HOURLY);
  fleet_history_free(h);
}

static void test_new_errors(void **state)
{
  (void)state;
  fleet_influx_config_t cfg = FLEET_INFLUX_CONFIG_INIT;
  fleet_history_t *h = (fleet_history_t *)&cfg;
  assert_int_equal(fleet_history_new(&h, NULL, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_history_new(NULL, &cfg, NULL), FLEET_EINVAL);
  fleet_history_opts_t o = FLEET_HISTORY_OPTS_INIT;
  o.chunk_size = FLEET_HISTORY_MAX_CHUNK_SIZE + 1;
  assert_int_equal(fleet_history_new(&h, &cfg, &o), FLEET_EINVAL);
  assert_null(h);
  o.chunk_size = 0;
  o.version = 9;
  assert_int_equal(fleet_history_new(&h, &cfg, &o), FLEET_EVERSION);
  o.version = FLEET_HISTORY_OPTS_VERSION;
  o.raw_max_span_ns = -1;
  assert_int_equal(fleet_history_new(&h, &cfg, &o), FLEET_EINVAL);
  o.raw_max_span_ns = 0;
  char longname[FLEET_INFLUX_NAME_MAX + 10];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  o.downsampled_db = longname;
  assert_int_equal(fleet_history_new(&h, &cfg, &o), FLEET_EINVAL);
  o.downsampled_db = "bad\xff";
  assert_int_equal(fleet_history_new(&h, &cfg, &o), FLEET_EINVAL);
  o.downsampled_db = NULL;
  fleet_influx_config_t bad = cfg;
  snprintf(bad.url, sizeof bad.url, "ftp://x");
  assert_int_equal(fleet_history_new(&h, &bad, &o), FLEET_EINVAL);
  bad = cfg;
  bad.version = 7;
  assert_int_equal(fleet_history_new(&h, &bad, &o), FLEET_EVERSION);
  assert_null(h);
  assert_int_equal(fleet_history_opts_init(NULL, FLEET_HISTORY_OPTS_VERSION), FLEET_EINVAL);
  assert_int_equal(fleet_history_opts_init(&o, 2), FLEET_EVERSION);
  fleet_history_filter_t f;
  assert_int_equal(fleet_history_filter_init(&f, FLEET_HISTORY_FILTER_VERSION), 0);
  assert_int_equal(f.tier, FLEET_HISTORY_TIER_AUTO);
  assert_int_equal(fleet_history_filter_init(&f, 0), FLEET_EVERSION);
  fleet_history_free(NULL);
}

static int never_called(const fleet_history_point_t *pt, void *ud)
{
  (void)pt;
  (void)ud;
  fail();
  return 0;
}

static void test_calls_without_server(void **state)
{
  (void)state;
  fleet_history_t *h = new_handle(NULL);
  fleet_history_filter_t f = FLEET_HISTORY_FILTER_INIT;
  /* Invalid filters fail before any network traffic. */
  assert_int_equal(fleet_history_positions(h, &f, never_called, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_history_positions(h, NULL, never_called, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_history_positions(h, &f, NULL, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_history_query(h, "db", "", NULL, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_history_query(NULL, "db", "SHOW DATABASES", NULL, NULL), FLEET_EINVAL);
  /* Nothing listens on port 1: a transport error, not a crash or a hang. */
  f.from_ns = 0;
  f.to_ns = 10;
  assert_int_equal(fleet_history_positions(h, &f, never_called, NULL), FLEET_ENET);
  assert_int_equal(fleet_history_last_positions(h, &f, never_called, NULL), FLEET_ENET);
  fleet_history_stats_t st;
  assert_int_equal(fleet_history_stats(&st, h), 0);
  assert_int_equal(st.rows, 0);
  assert_int_equal(fleet_history_stats(NULL, h), FLEET_EINVAL);
  assert_int_equal(fleet_history_ensure_database(NULL, h, "", NULL, 0), FLEET_EINVAL);
  assert_int_equal(fleet_history_ensure_database(NULL, h, "db", NULL, -1), FLEET_EINVAL);
  fleet_history_free(h);

  fleet_influx_config_t v2 = FLEET_INFLUX_CONFIG_INIT;
  v2.api = FLEET_INFLUX_API_V2;
  snprintf(v2.org, sizeof v2.org, "acme");
  assert_int_equal(fleet_history_new(&h, &v2, NULL), 0);
  assert_int_equal(fleet_history_ensure_database(NULL, h, "b", NULL, 3600), FLEET_EINVAL);
  fleet_history_free(h);
  fleet_influx_config_t v3 = FLEET_INFLUX_CONFIG_INIT;
  v3.api = FLEET_INFLUX_API_V3;
  assert_int_equal(fleet_history_new(&h, &v3, NULL), 0);
  assert_int_equal(fleet_history_ensure_database(NULL, h, "b", "rp", 3600), FLEET_EINVAL);
  fleet_history_free(h);
}

static void test_row_get(void **state)
{
  (void)state;
  const char *cols[] = {"time", "a"};
  fleet_history_value_t vals[2];
  memset(vals, 0, sizeof vals);
  vals[1].type = FLEET_HISTORY_INT;
  vals[1].i = 3;
  fleet_history_row_t row;
  memset(&row, 0, sizeof row);
  row.ncolumns = 2;
  row.columns = cols;
  row.values = vals;
  assert_ptr_equal(fleet_history_row_get(&row, "a"), &vals[1]);
  assert_null(fleet_history_row_get(&row, "b"));
  assert_null(fleet_history_row_get(NULL, "a"));
  assert_null(fleet_history_row_get(&row, NULL));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_quote_exact),
    cmocka_unit_test(test_quote_round_trip_hostile),
    cmocka_unit_test(test_quote_rejects),
    cmocka_unit_test(test_durations),
    cmocka_unit_test(test_build_select),
    cmocka_unit_test(test_build_select_rejects),
    cmocka_unit_test(test_build_last),
    cmocka_unit_test(test_stream_any_split),
    cmocka_unit_test(test_stream_last_line_without_newline),
    cmocka_unit_test(test_stream_errors),
    cmocka_unit_test(test_stream_error_after_rows_and_sticky),
    cmocka_unit_test(test_stream_callback_abort),
    cmocka_unit_test(test_stream_line_limit),
    cmocka_unit_test(test_error_codes),
    cmocka_unit_test(test_row_to_point_raw),
    cmocka_unit_test(test_row_to_point_minimal_and_errors),
    cmocka_unit_test(test_row_to_point_hourly),
    cmocka_unit_test(test_row_to_events),
    cmocka_unit_test(test_pick_tier),
    cmocka_unit_test(test_new_errors),
    cmocka_unit_test(test_calls_without_server),
    cmocka_unit_test(test_row_get),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
