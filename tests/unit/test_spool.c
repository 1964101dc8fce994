/* Unit tests for the segment layer (CRC32C, scanner) and the disk spool:
 * ordering across segment rolls, restart, crash recovery (torn tails at every
 * offset, bit flips), full policies, fsync policies and concurrent use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common_int.h"
#include "fleet/ingestlog.h"
#include "fleet/spool.h"
#include "segment_int.h"
#include "segtest_util.h"

/* ---- helpers -------------------------------------------------------------- */

typedef struct events {
  int n[8];
  uint64_t records[8];
  char last[FLEET_ERROR_MAX];
} events_t;

static void on_event(int event, uint64_t records, const char *message, void *userdata)
{
  events_t *e = userdata;
  if (event >= 0 && event < 8) {
    e->n[event]++;
    e->records[event] += records;
  }
  snprintf(e->last, sizeof e->last, "%s", message);
}

static fleet_spool_options_t small_opts(events_t *ev)
{
  fleet_spool_options_t o = FLEET_SPOOL_OPTIONS_INIT;
  o.segment_bytes = 4096;
  o.max_bytes = 0;
  o.fsync_policy = FLEET_SPOOL_FSYNC_NEVER;
  if (ev != NULL) {
    memset(ev, 0, sizeof *ev);
    o.on_event = on_event;
    o.event_userdata = ev;
  }
  return o;
}

/* Append payloads first..last of a fixed size; their sequence numbers must equal i. */
static void append_fixed(fleet_spool_t *sp, uint64_t first, uint64_t last, size_t size)
{
  uint8_t buf[8192];
  assert_true(size <= sizeof buf);
  for (uint64_t i = first; i <= last; i++) {
    uint64_t seq = 0;
    size_t len = segtest_payload(buf, sizeof buf, i, size, 0);
    assert_int_equal(fleet_spool_append(&seq, sp, buf, len), 0);
    assert_int_equal(seq, i);
  }
}

/* Peek and ack records first..last in order, minus `skip` (0 for none), with the
 * payloads append_fixed() wrote. With `then_empty`, nothing may follow. */
static void take_expect(fleet_spool_t *sp, uint64_t first, uint64_t last, size_t size,
                        uint64_t skip, int then_empty)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  uint8_t want[8192];
  assert_true(size <= sizeof want);
  for (uint64_t i = first; i <= last; i++) {
    uint64_t seq = 0;
    size_t len;
    if (i == skip)
      continue;
    len = segtest_payload(want, sizeof want, i, size, 0);
    assert_int_equal(fleet_spool_peek(&b, &seq, sp), 0);
    assert_int_equal(seq, i);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.ptr, want, len);
    assert_int_equal(fleet_spool_ack(sp, seq), 0);
  }
  if (then_empty) {
    assert_int_equal(fleet_spool_peek(&b, NULL, sp), FLEET_ENOTFOUND);
    assert_int_equal(b.len, 0);
  }
  fleet_buf_dispose(&b);
}

static void drain_expect(fleet_spool_t *sp, uint64_t first, uint64_t last, size_t size,
                         uint64_t skip)
{
  take_expect(sp, first, last, size, skip, 1);
}

static fleet_spool_stats_t stats_of(fleet_spool_t *sp)
{
  fleet_spool_stats_t st = FLEET_SPOOL_STATS_INIT;
  assert_int_equal(fleet_spool_get_stats(&st, sp), 0);
  return st;
}

static long long dir_seg_bytes(const char *dir)
{
  char **v, p[512];
  long long total = 0;
  size_t n = segtest_list(dir, &v);
  for (size_t i = 0; i < n; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, v[i]);
    total += segtest_file_size(p);
  }
  segtest_list_free(v, n);
  return total;
}

/* ---- segment layer -------------------------------------------------------- */

static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c & 1u) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
  }
  return ~c;
}

static void test_crc32c(void **state)
{
  uint8_t buf[1000];
  (void)state;
  /* The standard check value of CRC-32C (RFC 3720 appendix B.4 lists more). */
  assert_int_equal(fleet_seg__crc32c(0, "123456789", 9), 0xe3069283u);
  assert_int_equal(fleet_seg__crc32c(0, "", 0), 0);
  memset(buf, 0, 32);
  assert_int_equal(fleet_seg__crc32c(0, buf, 32), 0x8a9136aau); /* RFC 3720: 32 zeros */
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (uint8_t)(i * 13 + 7);
  for (size_t off = 0; off < 9; off++)
    for (size_t len = 0; len + off <= 40; len++)
      assert_int_equal(fleet_seg__crc32c(0, buf + off, len), crc32c_bitwise(buf + off, len));
  /* Continuing a CRC over pieces gives the CRC of the whole. */
  assert_int_equal(fleet_seg__crc32c(fleet_seg__crc32c(0, buf, 333), buf + 333, 667),
                   crc32c_bitwise(buf, 1000));
}

/* Build a segment image: file header then records with seqs 1..n and payload k*10+5 bytes. */
static size_t build_segment(uint8_t *img, size_t n, uint64_t *offs)
{
  size_t pos = FLEET_SEG_FILE_HDR;
  fleet_seg__file_header(img, FLEET_SEG_KIND_SPOOL, 1);
  for (size_t k = 0; k < n; k++) {
    uint32_t len = (uint32_t)(k * 10 + 5);
    uint8_t *payload = img + pos + FLEET_SEG_REC_HDR;
    for (uint32_t j = 0; j < len; j++)
      payload[j] = (uint8_t)(k + j);
    fleet_seg__rec_header(img + pos, k + 1, len, fleet_seg__crc32c(0, payload, len));
    offs[k] = pos;
    pos += FLEET_SEG_REC_HDR + len;
  }
  return pos;
}

FLEET_PRINTF(4, 5)
static void report_into(char *msg, fleet_buf_t *warnings, const fleet_segdir_t *d,
                        const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fleet_seg__vreport(msg, FLEET_ERROR_MAX, warnings, d, fmt, ap);
  va_end(ap);
}

/* The message forms both logs share: event reports, open warnings, I/O errors. */
static void test_reports(void **state)
{
  char msg[FLEET_ERROR_MAX], path[600];
  fleet_segdir_t d = {0};
  fleet_buf_t w = FLEET_BUF_INIT;
  (void)state;

  d.what = "spool";
  d.path = path;
  strcpy(path, "/var/spool/x");
  report_into(msg, NULL, &d, "%s: %d bad bytes", "a.seg", 7);
  assert_string_equal(msg, "spool /var/spool/x: a.seg: 7 bad bytes");
  assert_int_equal(fleet_error__set(FLEET_EINVAL, "before"), FLEET_EINVAL);
  fleet_seg__open_warnings_done(&w); /* no warnings: the message is cleared */
  assert_int_equal(fleet_error_last_code(), 0);

  report_into(msg, &w, &d, "first");
  assert_string_equal(msg, "spool /var/spool/x: first");
  report_into(msg, &w, &d, "second %u", 2u);
  assert_string_equal(msg, "spool /var/spool/x: second 2");
  assert_string_equal(w.ptr, "spool /var/spool/x: first; second 2");
  fleet_seg__open_warnings_done(&w);
  assert_int_equal(fleet_error_last_code(), FLEET_ECORRUPT);
  assert_string_equal(fleet_error_last(), "spool /var/spool/x: first; second 2");
  assert_null(w.ptr);

  d.what = "ingest log";
  assert_int_equal(fleet_seg__io_error(&d, "fdatasync", 42, ENOSPC), FLEET_EIO);
  assert_string_equal(fleet_error_last(),
                      "ingest log /var/spool/x: fdatasync 00000000000000000042.seg: "
                      "No space left on device");

  /* A path longer than a message: the prefix is cut and nothing follows it. */
  memset(path, 'p', sizeof path - 1);
  path[sizeof path - 1] = '\0';
  report_into(msg, &w, &d, "first");
  report_into(msg, &w, &d, "second");
  assert_int_equal(strlen(msg), FLEET_ERROR_MAX - 1);
  assert_memory_equal(msg, "ingest log ppp", 14);
  assert_int_equal(w.len, FLEET_ERROR_MAX - 1 + 2);
  assert_memory_equal(w.ptr + w.len - 3, "p; ", 3);
  fleet_buf_dispose(&w);
}

static void test_scanner(void **state)
{
  uint8_t img[1024];
  uint64_t offs[4];
  fleet_seg_scan_t s;
  fleet_seg_rec_t r;
  size_t end;
  (void)state;

  memset(img, 0, sizeof img);
  end = build_segment(img, 4, offs);
  assert_int_equal(fleet_seg__check_file_header(img, FLEET_SEG_FILE_HDR, FLEET_SEG_KIND_SPOOL), 0);
  assert_int_equal(fleet_seg__check_file_header(img, FLEET_SEG_FILE_HDR, FLEET_SEG_KIND_INGESTLOG),
                   FLEET_EVERSION);
  assert_int_equal(fleet_seg__check_file_header(img, 31, FLEET_SEG_KIND_SPOOL), FLEET_ECORRUPT);

  /* Clean: four records, then END exactly at the end. */
  fleet_seg__scan_init(&s, img, end, FLEET_SEG_FILE_HDR, 0);
  for (uint64_t k = 0; k < 4; k++) {
    assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_RECORD);
    assert_int_equal(r.seq, k + 1);
    assert_int_equal(r.off, offs[k]);
    assert_int_equal(r.len, k * 10 + 5);
    assert_int_equal(r.payload[0], (uint8_t)k);
  }
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_END);
  assert_int_equal(s.pos, end);

  /* Zeros after the records (a preallocated file) are a clean end. */
  fleet_seg__scan_init(&s, img, sizeof img, FLEET_SEG_FILE_HDR, 0);
  for (int k = 0; k < 4; k++)
    assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_RECORD);
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_END);
  assert_int_equal(s.pos, end);

  /* Garbage after the records: torn, from the end of record 4. */
  img[end + 7] = 0x55;
  fleet_seg__scan_init(&s, img, sizeof img, FLEET_SEG_FILE_HDR, 0);
  for (int k = 0; k < 4; k++)
    assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_RECORD);
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_TORN);
  assert_int_equal(s.bad_start, end);
  assert_int_equal(s.bad_end, sizeof img);
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_END);
  img[end + 7] = 0;

  /* A flipped payload byte in record 2: corrupt region = record 2, then 3 and 4. */
  img[offs[1] + FLEET_SEG_REC_HDR + 3] ^= 1;
  fleet_seg__scan_init(&s, img, end, FLEET_SEG_FILE_HDR, 0);
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_RECORD);
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_CORRUPT);
  assert_int_equal(s.bad_start, offs[1]);
  assert_int_equal(s.bad_end, offs[2]);
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_RECORD);
  assert_int_equal(r.seq, 3);
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_RECORD);
  assert_int_equal(r.seq, 4);
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_END);
  img[offs[1] + FLEET_SEG_REC_HDR + 3] ^= 1;

  /* A flipped length byte: found by resynchronising on record 3's magic. */
  img[offs[1] + 4] ^= 0x80;
  fleet_seg__scan_init(&s, img, end, FLEET_SEG_FILE_HDR, 0);
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_RECORD);
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_CORRUPT);
  assert_int_equal(s.bad_end, offs[2]);
  img[offs[1] + 4] ^= 0x80;

  /* Records must rise: accepting seq > 2 skips records 1 and 2 as one region. */
  fleet_seg__scan_init(&s, img, end, FLEET_SEG_FILE_HDR, 2);
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_CORRUPT);
  assert_int_equal(s.bad_start, FLEET_SEG_FILE_HDR);
  assert_int_equal(s.bad_end, offs[2]);
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_RECORD);
  assert_int_equal(r.seq, 3);

  /* Truncated inside record 4: torn at its start. */
  fleet_seg__scan_init(&s, img, end - 1, FLEET_SEG_FILE_HDR, 0);
  for (int k = 0; k < 3; k++)
    assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_RECORD);
  assert_int_equal(fleet_seg__scan_next(&s, &r), FLEET_SEG_TORN);
  assert_int_equal(s.bad_start, offs[3]);
}

/* ---- spool: arguments ----------------------------------------------------- */

static void test_options_and_bad_arguments(void **state)
{
  segtest_dir_t *d = *state;
  fleet_spool_options_t o;
  fleet_spool_t *sp = (fleet_spool_t *)&o;
  char path[256];
  uint8_t one = 1;

  assert_int_equal(fleet_spool_options_init(NULL, FLEET_SPOOL_OPTIONS_VERSION), FLEET_EINVAL);
  assert_int_equal(fleet_spool_options_init(&o, 99), FLEET_EINVAL);
  assert_int_equal(fleet_spool_options_init(&o, FLEET_SPOOL_OPTIONS_VERSION), 0);
  assert_int_equal(o.segment_bytes, 16u * 1024 * 1024);
  assert_int_equal(o.max_bytes, 1024ull * 1024 * 1024);
  assert_int_equal(o.fsync_policy, FLEET_SPOOL_FSYNC_INTERVAL);
  assert_int_equal(o.fsync_interval_ms, 1000);
  assert_int_equal(o.full_policy, FLEET_SPOOL_FULL_REJECT);

  assert_int_equal(fleet_spool_open(NULL, d->path, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_spool_open(&sp, NULL, NULL), FLEET_EINVAL);
  assert_null(sp);
  assert_int_equal(fleet_spool_open(&sp, "", NULL), FLEET_EINVAL);
  o.version = 2;
  assert_int_equal(fleet_spool_open(&sp, d->path, &o), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "opts.version"));
  fleet_spool_options_init(&o, FLEET_SPOOL_OPTIONS_VERSION);
  o.segment_bytes = 4095;
  assert_int_equal(fleet_spool_open(&sp, d->path, &o), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "segment_bytes"));
  o.segment_bytes = 8192;
  o.max_bytes = 8191;
  assert_int_equal(fleet_spool_open(&sp, d->path, &o), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "max_bytes"));
  o.max_bytes = 0;
  o.fsync_policy = (fleet_spool_fsync_t)3;
  assert_int_equal(fleet_spool_open(&sp, d->path, &o), FLEET_EINVAL);
  o.fsync_policy = FLEET_SPOOL_FSYNC_NEVER;
  o.full_policy = (fleet_spool_full_t)2;
  assert_int_equal(fleet_spool_open(&sp, d->path, &o), FLEET_EINVAL);
  assert_null(sp);

  /* The parent must exist; a regular file is no directory. */
  snprintf(path, sizeof path, "%s/missing/spool", d->root);
  assert_int_equal(fleet_spool_open(&sp, path, NULL), FLEET_EIO);
  assert_non_null(strstr(fleet_error_last(), "mkdir"));
  snprintf(path, sizeof path, "%s/file", d->root);
  assert_int_equal(segtest_write(path, &one, 1), 0);
  assert_int_equal(fleet_spool_open(&sp, path, NULL), FLEET_EIO);
  assert_null(sp);

  /* Calls on a valid handle with bad arguments. */
  assert_int_equal(fleet_spool_open(&sp, d->path, NULL), 0);
  assert_int_equal(fleet_spool_append(NULL, NULL, &one, 1), FLEET_EINVAL);
  assert_int_equal(fleet_spool_append(NULL, sp, NULL, 1), FLEET_EINVAL);
  assert_int_equal(fleet_spool_append(NULL, sp, &one, 0), FLEET_EINVAL);
  /* The length is checked before the data is read, so a short buffer is safe here. */
  assert_int_equal(fleet_spool_append(NULL, sp, &one, (size_t)FLEET_SPOOL_RECORD_MAX + 1),
                   FLEET_ETOOBIG);
  assert_int_equal(fleet_spool_peek(NULL, NULL, sp), FLEET_EINVAL);
  assert_int_equal(fleet_spool_ack(NULL, 1), FLEET_EINVAL);
  assert_int_equal(fleet_spool_sync(NULL), FLEET_EINVAL);
  {
    fleet_spool_stats_t st = {0};
    assert_int_equal(fleet_spool_get_stats(&st, sp), FLEET_EINVAL);
    assert_int_equal(fleet_spool_get_stats(NULL, sp), FLEET_EINVAL);
  }
  fleet_spool_free(sp);
  fleet_spool_free(NULL);
}

/* ---- spool: order, acks, restart ------------------------------------------ */

static void test_order_across_rolls(void **state)
{
  segtest_dir_t *d = *state;
  fleet_spool_options_t o = small_opts(NULL);
  fleet_spool_t *sp;
  fleet_spool_stats_t st;
  fleet_buf_t b = FLEET_BUF_INIT;
  uint8_t buf[2000], want[2000];
  uint64_t seq;

  assert_int_equal(fleet_spool_open(&sp, d->path, &o), 0);
  assert_int_equal(fleet_error_last_code(), 0);
  /* 60 records of 100..1099 bytes in 4 KiB segments. */
  for (uint64_t i = 1; i <= 60; i++) {
    size_t len = segtest_payload(buf, sizeof buf, i, 100, 1000);
    assert_int_equal(fleet_spool_append(&seq, sp, buf, len), 0);
    assert_int_equal(seq, i);
  }
  st = stats_of(sp);
  assert_int_equal(st.records, 60);
  assert_int_equal(st.appended, 60);
  assert_int_equal(st.next_seq, 61);
  assert_true(st.segments >= 8);
  assert_int_equal(st.segments, segtest_seg_count(d->path));
  assert_int_equal(st.bytes, dir_seg_bytes(d->path));

  for (uint64_t i = 1; i <= 60; i++) {
    size_t len = segtest_payload(want, sizeof want, i, 100, 1000);
    /* Peeking again without an ack gives the same record. */
    for (int again = 0; again < 2; again++) {
      assert_int_equal(fleet_spool_peek(&b, &seq, sp), 0);
      assert_int_equal(seq, i);
      assert_int_equal(b.len, len);
      assert_memory_equal(b.ptr, want, len);
      assert_int_equal(b.ptr[b.len], '\0');
    }
    assert_int_equal(fleet_spool_ack(sp, seq), 0);
    st = stats_of(sp);
    assert_int_equal(st.records, 60 - i);
    /* Segments are deleted as soon as the cursor leaves them. */
    assert_int_equal(st.segments, segtest_seg_count(d->path));
    assert_int_equal(st.bytes, dir_seg_bytes(d->path));
  }
  assert_int_equal(fleet_spool_peek(&b, &seq, sp), FLEET_ENOTFOUND);
  st = stats_of(sp);
  assert_int_equal(st.records, 0);
  assert_int_equal(st.acked, 60);
  assert_int_equal(st.acked_seq, 60);
  assert_int_equal(st.segments, 1);
  fleet_buf_dispose(&b);
  fleet_spool_free(sp);
}

static void test_ack_semantics(void **state)
{
  segtest_dir_t *d = *state;
  fleet_spool_options_t o = small_opts(NULL);
  fleet_spool_t *sp;
  fleet_buf_t b = FLEET_BUF_INIT;
  uint64_t seq;

  assert_int_equal(fleet_spool_open(&sp, d->path, &o), 0);
  assert_int_equal(fleet_spool_peek(&b, &seq, sp), FLEET_ENOTFOUND);
  assert_int_equal(fleet_spool_ack(sp, 1), FLEET_EINVAL); /* nothing appended yet */
  append_fixed(sp, 1, 30, 500);
  assert_int_equal(fleet_spool_ack(sp, 31), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "never appended"));
  /* One ack covers everything up to it, across segment boundaries. */
  assert_int_equal(fleet_spool_ack(sp, 17), 0);
  assert_int_equal(stats_of(sp).records, 13);
  assert_int_equal(stats_of(sp).acked, 17);
  assert_int_equal(fleet_spool_peek(&b, &seq, sp), 0);
  assert_int_equal(seq, 18);
  /* Acknowledging an older number changes nothing. */
  assert_int_equal(fleet_spool_ack(sp, 3), 0);
  assert_int_equal(fleet_spool_ack(sp, 17), 0);
  assert_int_equal(stats_of(sp).acked, 17);
  assert_int_equal(stats_of(sp).acked_seq, 17);
  drain_expect(sp, 18, 30, 500, 0);
  fleet_buf_dispose(&b);
  fleet_spool_free(sp);
}


static void test_restart_resumes_at_checkpoint(void **state)
{
  segtest_dir_t *d = *state;
  static const fleet_spool_fsync_t policies[] = {
      FLEET_SPOOL_FSYNC_ALWAYS, FLEET_SPOOL_FSYNC_INTERVAL, FLEET_SPOOL_FSYNC_NEVER};

  for (size_t p = 0; p < FLEET_ARRAY_LEN(policies); p++) {
    fleet_spool_options_t o = small_opts(NULL);
    fleet_spool_t *sp;
    fleet_spool_stats_t st;
    char path[256];

    snprintf(path, sizeof path, "%s/p%zu", d->root, p);
    o.fsync_policy = policies[p];
    o.fsync_interval_ms = 3600 * 1000; /* for INTERVAL and NEVER only close persists */
    assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
    /* 724-byte records: 5 per 4 KiB segment (32 + 5 * 724 = 3652). */
    append_fixed(sp, 1, 30, 700);
    assert_int_equal(stats_of(sp).segments, 6);
    take_expect(sp, 1, 12, 700, 0, 0);
    fleet_spool_free(sp);

    assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
    st = stats_of(sp);
    assert_int_equal(st.records, 18);
    assert_int_equal(st.acked_seq, 12);
    assert_int_equal(st.next_seq, 31);
    assert_int_equal(st.segments, 4); /* 1-5 and 6-10 were deleted; 11-15 holds 13-15 */
    assert_int_equal(st.appended, 0);
    take_expect(sp, 13, 20, 700, 0, 0);
    append_fixed(sp, 31, 35, 700);
    fleet_spool_free(sp);

    assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
    drain_expect(sp, 21, 35, 700, 0);
    fleet_spool_free(sp);
  }
}

/* ---- spool: crashes --------------------------------------------------------- */

typedef struct crash_arg {
  const char *path;
  int sync_before_death;
} crash_arg_t;

/* The crashing child's handle stays reachable, so leak checkers do not flag
 * the deliberate missing close. */
static fleet_spool_t *volatile crash_handle;

/* Runs in a child process: no cmocka asserts here, failures become exit codes. */
static int crash_child(void *arg)
{
  const crash_arg_t *a = arg;
  fleet_spool_options_t o = small_opts(NULL);
  fleet_spool_t *sp;
  fleet_buf_t b = FLEET_BUF_INIT;
  uint8_t buf[300];
  uint64_t seq;

  o.fsync_policy = FLEET_SPOOL_FSYNC_INTERVAL;
  o.fsync_interval_ms = 3600 * 1000;
  if (fleet_spool_open(&sp, a->path, &o) != 0)
    return 10;
  crash_handle = sp;
  for (uint64_t i = 1; i <= 10; i++) {
    size_t len = segtest_payload(buf, sizeof buf, i, 300, 0);
    if (fleet_spool_append(&seq, sp, buf, len) != 0 || seq != i)
      return 11;
  }
  for (uint64_t i = 1; i <= 4; i++)
    if (fleet_spool_peek(&b, &seq, sp) != 0 || seq != i || fleet_spool_ack(sp, seq) != 0)
      return 12;
  fleet_buf_dispose(&b);
  if (a->sync_before_death && fleet_spool_sync(sp) != 0)
    return 13;
  return 0; /* dies without fleet_spool_free() */
}

static void test_crash_at_least_once(void **state)
{
  segtest_dir_t *d = *state;
  char path[256];
  fleet_spool_options_t o = small_opts(NULL);
  fleet_spool_t *sp;
  crash_arg_t a;
  int status;

  /* Killed before the acks were persisted: everything is delivered again. */
  snprintf(path, sizeof path, "%s/nosync", d->root);
  a = (crash_arg_t){path, 0};
  status = segtest_fork(crash_child, &a, 1);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
  assert_int_equal(stats_of(sp).torn_truncated, 0);
  drain_expect(sp, 1, 10, 300, 0);
  fleet_spool_free(sp);

  /* Synced before dying (_exit, no close): delivery resumes after the acks. */
  snprintf(path, sizeof path, "%s/sync", d->root);
  a = (crash_arg_t){path, 1};
  status = segtest_fork(crash_child, &a, 0);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
  assert_int_equal(stats_of(sp).records, 6);
  drain_expect(sp, 5, 10, 300, 0);
  fleet_spool_free(sp);
}

/* Records of 300 bytes take 324 on disk: 12 per 4 KiB segment (32 + 12 * 324 = 3920). */
#define REC300 324

static void torn_variant(const segtest_dir_t *d, uint64_t n)
{
  char path[256], last[512];
  events_t ev;
  fleet_spool_options_t o = small_opts(&ev);
  fleet_spool_t *sp;
  segtest_snapshot_t snap;
  long long size, rec_start;

  snprintf(path, sizeof path, "%s/torn%llu", d->root, (unsigned long long)n);
  assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
  append_fixed(sp, 1, n, 300);
  fleet_spool_free(sp);
  assert_int_equal(segtest_seg_path(last, sizeof last, path, (size_t)-1), 0);
  size = segtest_file_size(last);
  rec_start = size - REC300;
  assert_int_equal(rec_start, 32 + (long long)(n - 13) * REC300);
  assert_int_equal(segtest_snapshot_take(&snap, path), 0);

  for (long long cut = rec_start; cut < size; cut++) {
    int torn = cut > rec_start;
    fleet_spool_stats_t st;
    assert_int_equal(segtest_snapshot_restore(&snap, path), 0);
    assert_int_equal(truncate(last, (off_t)cut), 0);
    memset(&ev, 0, sizeof ev);
    assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
    st = stats_of(sp);
    assert_int_equal(st.torn_truncated, torn);
    assert_int_equal(st.corrupt_skipped, 0);
    assert_int_equal(ev.n[FLEET_SPOOL_EVENT_TORN_TAIL], torn);
    assert_int_equal(fleet_error_last_code(), torn ? FLEET_ECORRUPT : 0);
    if (torn)
      assert_non_null(strstr(fleet_error_last(), "torn tail"));
    assert_int_equal(st.records, n - 1);
    assert_int_equal(st.next_seq, n);
    assert_int_equal(segtest_file_size(last), rec_start);
    take_expect(sp, 1, n - 1, 300, 0, 1);
    /* The spool goes on where the last whole record ended. */
    append_fixed(sp, n, n, 300);
    drain_expect(sp, n, n, 300, 0);
    fleet_spool_free(sp);
  }

  if (n == 13) {
    /* The newest segment holds only the torn record: cut into its file header too. */
    for (long long cut = 0; cut < 32; cut++) {
      assert_int_equal(segtest_snapshot_restore(&snap, path), 0);
      assert_int_equal(truncate(last, (off_t)cut), 0);
      assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
      assert_int_equal(stats_of(sp).torn_truncated, 1);
      assert_int_equal(fleet_error_last_code(), FLEET_ECORRUPT);
      take_expect(sp, 1, 12, 300, 0, 1);
      append_fixed(sp, 13, 13, 300);
      fleet_spool_free(sp);
      assert_int_equal(segtest_file_size(last), 32 + REC300);
    }
  }
  segtest_snapshot_free(&snap);
}

static void test_torn_tail_every_offset(void **state)
{
  torn_variant(*state, 14); /* the torn record follows another in its segment */
  torn_variant(*state, 13); /* the torn record is alone in the newest segment */
}

static void flip_case(const char *path, const segtest_snapshot_t *snap, const char *file,
                      long long off, uint64_t k, int expect_torn)
{
  events_t ev;
  fleet_spool_options_t o = small_opts(&ev);
  fleet_spool_t *sp;
  fleet_spool_stats_t st;

  assert_int_equal(segtest_snapshot_restore(snap, path), 0);
  assert_int_equal(segtest_flip(file, off, 0x40), 0);
  assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
  assert_int_equal(fleet_error_last_code(), FLEET_ECORRUPT);
  st = stats_of(sp);
  assert_int_equal(st.corrupt_skipped, expect_torn ? 0 : 1);
  assert_int_equal(st.torn_truncated, expect_torn ? 1 : 0);
  assert_int_equal(ev.n[FLEET_SPOOL_EVENT_CORRUPT], expect_torn ? 0 : 1);
  assert_int_equal(st.records, 19);
  if (!expect_torn)
    assert_non_null(strstr(ev.last, "corrupt data"));
  drain_expect(sp, 1, 20, 300, k);
  /* Reported once: reading past the damage does not count it again. */
  assert_int_equal(stats_of(sp).corrupt_skipped, expect_torn ? 0 : 1);
  fleet_spool_free(sp);
}

static void test_bit_flips(void **state)
{
  segtest_dir_t *d = *state;
  fleet_spool_options_t o = small_opts(NULL);
  fleet_spool_t *sp;
  segtest_snapshot_t snap;
  char first[512], last[512];
  const long long rec5 = 32 + 4 * REC300, rec12 = 32 + 11 * REC300, rec20 = 32 + 7 * REC300;

  assert_int_equal(fleet_spool_open(&sp, d->path, &o), 0);
  append_fixed(sp, 1, 20, 300); /* segment 1: records 1-12; segment 2: 13-20 */
  fleet_spool_free(sp);
  assert_int_equal(segtest_seg_count(d->path), 2);
  assert_int_equal(segtest_seg_path(first, sizeof first, d->path, 0), 0);
  assert_int_equal(segtest_seg_path(last, sizeof last, d->path, 1), 0);
  assert_int_equal(segtest_file_size(last), rec20 + REC300);
  assert_int_equal(segtest_snapshot_take(&snap, d->path), 0);

  /* Record 5, every header byte (magic, length, seq, both CRCs). */
  for (long long b = 0; b < FLEET_SEG_REC_HDR; b++)
    flip_case(d->path, &snap, first, rec5 + b, 5, 0);
  /* Record 5's payload: first, middle and last byte. */
  flip_case(d->path, &snap, first, rec5 + FLEET_SEG_REC_HDR, 5, 0);
  flip_case(d->path, &snap, first, rec5 + FLEET_SEG_REC_HDR + 150, 5, 0);
  flip_case(d->path, &snap, first, rec5 + FLEET_SEG_REC_HDR + 299, 5, 0);
  /* The last record of a sealed segment: corrupt, the next segment carries on. */
  flip_case(d->path, &snap, first, rec12 + FLEET_SEG_REC_HDR + 10, 12, 0);
  flip_case(d->path, &snap, first, rec12 + 2, 12, 0);
  /* The last record of the newest segment is indistinguishable from a torn write. */
  flip_case(d->path, &snap, last, rec20 + FLEET_SEG_REC_HDR + 10, 20, 1);
  segtest_snapshot_free(&snap);
}

static void test_damage_found_while_reading(void **state)
{
  segtest_dir_t *d = *state;
  events_t ev;
  fleet_spool_options_t o = small_opts(&ev);
  fleet_spool_t *sp;
  char first[512];

  assert_int_equal(fleet_spool_open(&sp, d->path, &o), 0);
  append_fixed(sp, 1, 20, 300);
  assert_int_equal(segtest_seg_path(first, sizeof first, d->path, 0), 0);
  /* Damage after open: record 7's payload and record 9's header. */
  assert_int_equal(segtest_flip(first, 32 + 6 * REC300 + FLEET_SEG_REC_HDR + 100, 1), 0);
  assert_int_equal(segtest_flip(first, 32 + 8 * REC300 + 9, 1), 0);
  take_expect(sp, 1, 6, 300, 0, 0);
  take_expect(sp, 8, 8, 300, 0, 0);
  take_expect(sp, 10, 20, 300, 0, 1);
  assert_int_equal(ev.n[FLEET_SPOOL_EVENT_CORRUPT], 2);
  assert_int_equal(stats_of(sp).corrupt_skipped, 2);
  assert_int_equal(stats_of(sp).records, 0);
  fleet_spool_free(sp);
}

/* ---- spool: full policies ------------------------------------------------- */

/* 1000-byte records take 1024 bytes: 3 per 4 KiB segment (32 + 3 * 1024 = 3104). */
static void test_full_reject(void **state)
{
  segtest_dir_t *d = *state;
  fleet_spool_options_t o = small_opts(NULL);
  fleet_spool_t *sp;
  fleet_spool_stats_t st;
  uint8_t buf[8192];
  char path[256];
  size_t len;

  o.max_bytes = 8192;
  o.full_policy = FLEET_SPOOL_FULL_REJECT;
  assert_int_equal(fleet_spool_open(&sp, d->path, &o), 0);
  /* 3104 + 3104 + (32 + 1024) = 7264 fits; one more record would make 8288. */
  append_fixed(sp, 1, 7, 1000);
  len = segtest_payload(buf, sizeof buf, 8, 1000, 0);
  assert_int_equal(fleet_spool_append(NULL, sp, buf, len), FLEET_EFULL);
  assert_non_null(strstr(fleet_error_last(), "full"));
  assert_int_equal(fleet_spool_append(NULL, sp, buf, len), FLEET_EFULL);
  st = stats_of(sp);
  assert_int_equal(st.rejected_full, 2);
  assert_int_equal(st.records, 7);
  assert_int_equal(st.bytes, 7264);
  assert_int_equal(st.bytes, dir_seg_bytes(d->path));
  assert_int_equal(st.next_seq, 8);
  /* Delivering the first segment makes room. */
  take_expect(sp, 1, 3, 1000, 0, 0);
  assert_int_equal(stats_of(sp).bytes, 4160);
  append_fixed(sp, 8, 8, 1000);
  assert_int_equal(stats_of(sp).segments, 2);
  drain_expect(sp, 4, 8, 1000, 0);
  fleet_spool_free(sp);

  /* max_bytes == segment_bytes: once everything is acknowledged the newest
   * segment is recycled instead of refusing forever. */
  snprintf(path, sizeof path, "%s/one", d->root);
  o.max_bytes = 4096;
  assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
  append_fixed(sp, 1, 3, 1000);
  len = segtest_payload(buf, sizeof buf, 4, 1000, 0);
  assert_int_equal(fleet_spool_append(NULL, sp, buf, len), FLEET_EFULL);
  take_expect(sp, 1, 3, 1000, 0, 1);
  append_fixed(sp, 4, 4, 1000);
  st = stats_of(sp);
  assert_int_equal(st.segments, 1);
  assert_int_equal(st.bytes, 32 + 1024);
  assert_int_equal(st.rejected_full, 1);
  drain_expect(sp, 4, 4, 1000, 0);
  fleet_spool_free(sp);

  /* A record that can never fit, and the largest that can (in a segment of its own). */
  snprintf(path, sizeof path, "%s/big", d->root);
  o.max_bytes = 8192;
  assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
  len = segtest_payload(buf, sizeof buf, 1, 8192 - 24 - 32 + 1, 0);
  assert_int_equal(fleet_spool_append(NULL, sp, buf, len), FLEET_ETOOBIG);
  append_fixed(sp, 1, 1, 8192 - 24 - 32);
  assert_int_equal(stats_of(sp).bytes, 8192);
  drain_expect(sp, 1, 1, 8192 - 24 - 32, 0);
  fleet_spool_free(sp);
}

static void test_full_drop_oldest(void **state)
{
  segtest_dir_t *d = *state;
  events_t ev;
  fleet_spool_options_t o = small_opts(&ev);
  fleet_spool_t *sp;
  fleet_spool_stats_t st;
  fleet_buf_t b = FLEET_BUF_INIT;
  char path[256];
  uint64_t seq;

  o.max_bytes = 8192;
  o.full_policy = FLEET_SPOOL_FULL_DROP_OLDEST;
  assert_int_equal(fleet_spool_open(&sp, d->path, &o), 0);
  /* Segments of 3 records; the 8th, 11th, 14th, 17th and 20th appends each
   * push out the oldest segment (see test_full_reject for the arithmetic). */
  append_fixed(sp, 1, 20, 1000);
  st = stats_of(sp);
  assert_int_equal(st.dropped_segments, 5);
  assert_int_equal(st.dropped_records, 15);
  assert_int_equal(st.rejected_full, 0);
  assert_int_equal(ev.n[FLEET_SPOOL_EVENT_DROPPED], 5);
  assert_int_equal(ev.records[FLEET_SPOOL_EVENT_DROPPED], 15);
  assert_non_null(strstr(ev.last, "dropped segment 00000000000000000013.seg with 3 unacknowledged"));
  assert_int_equal(st.records, 5);
  assert_true(st.bytes <= 8192);
  assert_int_equal(st.bytes, dir_seg_bytes(d->path));
  drain_expect(sp, 16, 20, 1000, 0);
  fleet_spool_free(sp);

  /* A partly acknowledged oldest segment: only its unacknowledged records count. */
  snprintf(path, sizeof path, "%s/partial", d->root);
  assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
  append_fixed(sp, 1, 7, 1000);
  assert_int_equal(fleet_spool_ack(sp, 2), 0);
  append_fixed(sp, 8, 8, 1000);
  st = stats_of(sp);
  assert_int_equal(st.dropped_records, 1);
  assert_int_equal(st.dropped_segments, 1);
  assert_int_equal(fleet_spool_peek(&b, &seq, sp), 0);
  assert_int_equal(seq, 4);
  drain_expect(sp, 4, 8, 1000, 0);
  fleet_spool_free(sp);

  /* Only one segment: it is sealed and dropped so the new record fits. */
  snprintf(path, sizeof path, "%s/single", d->root);
  o.max_bytes = 4096;
  assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
  append_fixed(sp, 1, 4, 1000);
  st = stats_of(sp);
  assert_int_equal(st.dropped_segments, 1);
  assert_int_equal(st.dropped_records, 3);
  assert_int_equal(st.segments, 1);
  drain_expect(sp, 4, 4, 1000, 0);
  fleet_spool_free(sp);
  fleet_buf_dispose(&b);
}

/* ---- spool: fsync policies, lock, checkpoint, I/O errors --------------------- */

static void test_fsync_policies(void **state)
{
  segtest_dir_t *d = *state;
  char path[256], ckpt[300];
  fleet_spool_options_t o = small_opts(NULL);
  fleet_spool_t *sp;

  /* ALWAYS: one fdatasync per append; every ack rewrites the checkpoint. */
  snprintf(path, sizeof path, "%s/always", d->root);
  snprintf(ckpt, sizeof ckpt, "%s/checkpoint", path);
  o.fsync_policy = FLEET_SPOOL_FSYNC_ALWAYS;
  assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
  append_fixed(sp, 1, 3, 100);
  assert_int_equal(stats_of(sp).syncs, 3);
  assert_int_equal(segtest_file_size(ckpt), -1);
  assert_int_equal(fleet_spool_ack(sp, 1), 0);
  assert_int_equal(segtest_file_size(ckpt), 32);
  fleet_spool_free(sp);

  /* NEVER: no fdatasync, the ack waits for the interval; sync forces both. */
  snprintf(path, sizeof path, "%s/never", d->root);
  snprintf(ckpt, sizeof ckpt, "%s/checkpoint", path);
  o.fsync_policy = FLEET_SPOOL_FSYNC_NEVER;
  o.fsync_interval_ms = 3600 * 1000;
  assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
  append_fixed(sp, 1, 3, 100);
  assert_int_equal(fleet_spool_ack(sp, 1), 0);
  assert_int_equal(stats_of(sp).syncs, 0);
  assert_int_equal(segtest_file_size(ckpt), -1);
  assert_int_equal(fleet_spool_sync(sp), 0);
  assert_int_equal(stats_of(sp).syncs, 1);
  assert_int_equal(segtest_file_size(ckpt), 32);
  assert_int_equal(fleet_spool_sync(sp), 0);
  assert_int_equal(stats_of(sp).syncs, 1); /* nothing new */
  fleet_spool_free(sp);

  /* INTERVAL of 0 ms: every append is due; of an hour: none until sync. */
  snprintf(path, sizeof path, "%s/interval0", d->root);
  o.fsync_policy = FLEET_SPOOL_FSYNC_INTERVAL;
  o.fsync_interval_ms = 0;
  assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
  append_fixed(sp, 1, 3, 100);
  assert_int_equal(stats_of(sp).syncs, 3);
  fleet_spool_free(sp);
  snprintf(path, sizeof path, "%s/interval1h", d->root);
  o.fsync_interval_ms = 3600 * 1000;
  assert_int_equal(fleet_spool_open(&sp, path, &o), 0);
  append_fixed(sp, 1, 3, 100);
  assert_int_equal(stats_of(sp).syncs, 0);
  assert_int_equal(fleet_spool_sync(sp), 0);
  assert_int_equal(stats_of(sp).syncs, 1);
  fleet_spool_free(sp);
}

static void test_lock_and_foreign_directories(void **state)
{
  segtest_dir_t *d = *state;
  fleet_spool_options_t o = small_opts(NULL);
  fleet_ingestlog_options_t lo = FLEET_INGESTLOG_OPTIONS_INIT;
  fleet_spool_t *sp, *sp2 = NULL;
  fleet_ingestlog_t *lg;
  char path[256], from[300], to[300];
  size_t len;
  uint8_t *data;

  assert_int_equal(fleet_spool_open(&sp, d->path, &o), 0);
  assert_int_equal(fleet_spool_open(&sp2, d->path, &o), FLEET_ESTATE);
  assert_null(sp2);
  assert_non_null(strstr(fleet_error_last(), "in use"));
  fleet_spool_free(sp);
  assert_int_equal(fleet_spool_open(&sp2, d->path, &o), 0);
  append_fixed(sp2, 1, 1, 10);
  fleet_spool_free(sp2);

  /* An ingest log directory is not a spool, nor is its checkpoint. */
  snprintf(path, sizeof path, "%s/wal", d->root);
  lo.segment_bytes = 4096;
  assert_int_equal(fleet_ingestlog_open(&lg, path, &lo), 0);
  assert_int_equal(fleet_ingestlog_append(NULL, lg, "fleet/v1/telemetry", "{}", 2), 0);
  assert_int_equal(fleet_ingestlog_checkpoint(lg, 1), 0);
  fleet_ingestlog_free(lg);
  /* Its checkpoint is refused first, then (without it) its segments. */
  assert_int_equal(fleet_spool_open(&sp, path, &o), FLEET_EVERSION);
  assert_non_null(strstr(fleet_error_last(), "checkpoint has format 1, kind 2"));
  snprintf(from, sizeof from, "%s/checkpoint", path);
  snprintf(to, sizeof to, "%s/checkpoint", d->path);
  data = segtest_read(from, &len);
  assert_non_null(data);
  assert_int_equal(segtest_write(to, data, len), 0);
  free(data);
  assert_int_equal(unlink(from), 0);
  assert_int_equal(fleet_spool_open(&sp, path, &o), FLEET_EVERSION);
  assert_non_null(strstr(fleet_error_last(), "not a spool segment"));
  /* The ingest log's checkpoint copied into a spool. */
  assert_int_equal(fleet_spool_open(&sp, d->path, &o), FLEET_EVERSION);
  assert_non_null(strstr(fleet_error_last(), "checkpoint"));
}

static void test_damaged_checkpoint(void **state)
{
  segtest_dir_t *d = *state;
  events_t ev;
  fleet_spool_options_t o = small_opts(&ev);
  fleet_spool_t *sp;
  char ckpt[300];
  const uint8_t junk[32] = "this is not a checkpoint file..";

  assert_int_equal(fleet_spool_open(&sp, d->path, &o), 0);
  append_fixed(sp, 1, 5, 100);
  take_expect(sp, 1, 2, 100, 0, 0);
  fleet_spool_free(sp);
  snprintf(ckpt, sizeof ckpt, "%s/checkpoint", d->path);
  assert_int_equal(segtest_write(ckpt, junk, sizeof junk), 0);
  memset(&ev, 0, sizeof ev);
  assert_int_equal(fleet_spool_open(&sp, d->path, &o), 0);
  assert_int_equal(ev.n[FLEET_SPOOL_EVENT_CHECKPOINT_RESET], 1);
  assert_int_equal(fleet_error_last_code(), FLEET_ECORRUPT);
  assert_non_null(strstr(fleet_error_last(), "checkpoint unreadable"));
  /* At least once: the acknowledged records come again. */
  drain_expect(sp, 1, 5, 100, 0);
  fleet_spool_free(sp);
}

static void test_io_errors(void **state)
{
  segtest_dir_t *d = *state;
  fleet_spool_options_t o = small_opts(NULL);
  fleet_spool_t *sp;
  struct rlimit old, lim;
  void (*old_handler)(int);
  uint8_t buf[4096];
  char seg[512];
  size_t len;

  assert_int_equal(fleet_spool_open(&sp, d->path, &o), 0);
  append_fixed(sp, 1, 1, 100); /* segment file: 32 + 124 = 156 bytes */
  assert_int_equal(segtest_seg_path(seg, sizeof seg, d->path, 0), 0);
  assert_int_equal(segtest_file_size(seg), 156);

  /* A file size limit makes the write come up short, like a full disk. */
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  old_handler = signal(SIGXFSZ, SIG_IGN);
  lim = old;
  lim.rlim_cur = 200;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  len = segtest_payload(buf, sizeof buf, 2, 100, 0);
  assert_int_equal(fleet_spool_append(NULL, sp, buf, len), FLEET_EIO);
  assert_non_null(strstr(fleet_error_last(), "write"));
  assert_int_equal(segtest_file_size(seg), 156); /* the partial record was cut off */
  /* A new segment cannot be created either (its header alone is over the limit). */
  lim.rlim_cur = 16;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  len = segtest_payload(buf, sizeof buf, 2, 4000, 0);
  assert_int_equal(fleet_spool_append(NULL, sp, buf, len), FLEET_EIO);
  assert_int_equal(segtest_seg_count(d->path), 1);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, old_handler);

  /* Nothing was lost and no sequence number was used up. */
  append_fixed(sp, 2, 2, 100);
  assert_int_equal(stats_of(sp).appended, 2);
  drain_expect(sp, 1, 2, 100, 0);
  fleet_spool_free(sp);
}

/* ---- spool: concurrency --------------------------------------------------- */

#define CONC_N 5000

typedef struct conc {
  fleet_spool_t *sp;
  uint64_t deadline_ns;
  uint64_t done;
  int err;
  char msg[256];
} conc_t;

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void nap(void)
{
  struct timespec ts = {0, 20000};
  nanosleep(&ts, NULL);
}

static void *producer(void *arg)
{
  conc_t *c = arg;
  uint8_t buf[300];
  for (uint64_t i = 1; i <= CONC_N && now_ns() < c->deadline_ns; i++) {
    size_t len = segtest_payload(buf, sizeof buf, i, 50, 200);
    uint64_t seq = 0;
    int rc;
    while ((rc = fleet_spool_append(&seq, c->sp, buf, len)) == FLEET_EFULL &&
           now_ns() < c->deadline_ns)
      nap();
    if (rc != 0 || seq != i) {
      c->err = 1;
      snprintf(c->msg, sizeof c->msg, "append %llu: rc %d seq %llu: %s",
               (unsigned long long)i, rc, (unsigned long long)seq, fleet_error_last());
      return NULL;
    }
    c->done = i;
  }
  return NULL;
}

static void *consumer(void *arg)
{
  conc_t *c = arg;
  fleet_buf_t b = FLEET_BUF_INIT;
  uint8_t want[300];
  uint64_t got = 0;
  while (got < CONC_N && now_ns() < c->deadline_ns) {
    uint64_t seq = 0;
    size_t len;
    int rc = fleet_spool_peek(&b, &seq, c->sp);
    if (rc == FLEET_ENOTFOUND) {
      nap();
      continue;
    }
    len = segtest_payload(want, sizeof want, got + 1, 50, 200);
    if (rc != 0 || seq != got + 1 || b.len != len || memcmp(b.ptr, want, len) != 0 ||
        fleet_spool_ack(c->sp, seq) != 0) {
      c->err = 1;
      snprintf(c->msg, sizeof c->msg, "record %llu: rc %d seq %llu len %zu",
               (unsigned long long)(got + 1), rc, (unsigned long long)seq, b.len);
      break;
    }
    got++;
    c->done = got;
  }
  fleet_buf_dispose(&b);
  return NULL;
}

static void test_concurrent_producer_consumer(void **state)
{
  segtest_dir_t *d = *state;
  fleet_spool_options_t o = small_opts(NULL);
  fleet_spool_t *sp;
  fleet_spool_stats_t st;
  pthread_t tp, tc;
  conc_t p = {0}, c = {0};

  o.max_bytes = 16384; /* small, so the producer meets FLEET_EFULL and waits */
  assert_int_equal(fleet_spool_open(&sp, d->path, &o), 0);
  p.sp = c.sp = sp;
  p.deadline_ns = c.deadline_ns = now_ns() + 60ull * 1000000000u;
  assert_int_equal(pthread_create(&tp, NULL, producer, &p), 0);
  assert_int_equal(pthread_create(&tc, NULL, consumer, &c), 0);
  pthread_join(tp, NULL);
  pthread_join(tc, NULL);
  if (p.err)
    fail_msg("producer: %s", p.msg);
  if (c.err)
    fail_msg("consumer: %s", c.msg);
  assert_int_equal(p.done, CONC_N);
  assert_int_equal(c.done, CONC_N);
  st = stats_of(sp);
  assert_int_equal(st.appended, CONC_N);
  assert_int_equal(st.acked, CONC_N);
  assert_int_equal(st.records, 0);
  assert_int_equal(st.segments, segtest_seg_count(d->path));
  fleet_spool_free(sp);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc32c),
      cmocka_unit_test(test_scanner),
      cmocka_unit_test(test_reports),
      SEGTEST(test_options_and_bad_arguments),
      SEGTEST(test_order_across_rolls),
      SEGTEST(test_ack_semantics),
      SEGTEST(test_restart_resumes_at_checkpoint),
      SEGTEST(test_crash_at_least_once),
      SEGTEST(test_torn_tail_every_offset),
      SEGTEST(test_bit_flips),
      SEGTEST(test_damage_found_while_reading),
      SEGTEST(test_full_reject),
      SEGTEST(test_full_drop_oldest),
      SEGTEST(test_fsync_policies),
      SEGTEST(test_lock_and_foreign_directories),
      SEGTEST(test_damaged_checkpoint),
      SEGTEST(test_io_errors),
      SEGTEST(test_concurrent_producer_consumer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
