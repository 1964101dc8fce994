/* Unit tests for the ingest log: append/replay round trips, checkpoints and
 * segment deletion, crashes simulated with fork(), torn tails at every offset,
 * bit flips, sync policies, concurrent appends with syncs and checkpoints. */
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
  char last[FLEET_ERROR_MAX];
} events_t;

static void on_event(int event, const char *message, void *userdata)
{
  events_t *e = userdata;
  if (event >= 0 && event < 8)
    e->n[event]++;
  snprintf(e->last, sizeof e->last, "%s", message);
}

static fleet_ingestlog_options_t small_opts(events_t *ev)
{
  fleet_ingestlog_options_t o = FLEET_INGESTLOG_OPTIONS_INIT;
  o.segment_bytes = 4096;
  o.sync_interval_ms = 0;
  if (ev != NULL) {
    memset(ev, 0, sizeof *ev);
    o.on_event = on_event;
    o.event_userdata = ev;
  }
  return o;
}

static int64_t realtime_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Message i: topic fleet/v-<i mod 7>/telemetry, payload of `min`..min+spread-1 bytes. */
static void message(char *topic, size_t tcap, uint8_t *payload, size_t pcap, size_t *len,
                    uint64_t i, size_t min, size_t spread)
{
  snprintf(topic, tcap, "fleet/v-%03u/telemetry", (unsigned int)(i % 7));
  *len = segtest_payload(payload, pcap, i, min, spread);
}

static void append_msgs(fleet_ingestlog_t *lg, uint64_t first, uint64_t last, size_t min,
                        size_t spread)
{
  char topic[64];
  uint8_t payload[8192];
  for (uint64_t i = first; i <= last; i++) {
    size_t len;
    uint64_t seq = 0;
    message(topic, sizeof topic, payload, sizeof payload, &len, i, min, spread);
    assert_int_equal(fleet_ingestlog_append(&seq, lg, topic, payload, len), 0);
    assert_int_equal(seq, i);
  }
}

/* What replay delivered, checked against message(i) for each seq. */
typedef struct collected {
  uint64_t n, first, last;
  uint64_t skip; /* a seq expected to be missing (0: none) */
  size_t min, spread;
  int64_t t_lo, t_hi; /* bounds on the receive time (0: unchecked) */
  int bad;
  char why[256];
  int stop_after; /* return 42 after this many records (0: never) */
} collected_t;

static int collect(const fleet_ingestlog_record_t *r, void *userdata)
{
  collected_t *c = userdata;
  char topic[64];
  uint8_t want[8192];
  size_t len;
  uint64_t expect = c->n == 0 ? c->first : c->last + 1;

  if (expect == c->skip)
    expect++;
  message(topic, sizeof topic, want, sizeof want, &len, r->seq, c->min, c->spread);
  if (!c->bad && (r->seq != expect || strcmp(r->topic, topic) != 0 ||
                  r->topic_len != strlen(topic) || r->payload_len != len ||
                  (len > 0 && memcmp(r->payload, want, len) != 0) ||
                  (c->t_lo != 0 && (r->recv_time_ns < c->t_lo || r->recv_time_ns > c->t_hi)))) {
    c->bad = 1;
    snprintf(c->why, sizeof c->why, "seq %llu (expected %llu) topic %s len %zu",
             (unsigned long long)r->seq, (unsigned long long)expect, r->topic, r->payload_len);
  }
  c->last = r->seq;
  c->n++;
  return c->stop_after != 0 && c->n == (uint64_t)c->stop_after ? 42 : 0;
}

/* Replay and require exactly first..last (minus skip) with message() contents. */
static void replay_expect(fleet_ingestlog_t *lg, uint64_t first, uint64_t last, uint64_t skip,
                          size_t min, size_t spread)
{
  collected_t c = {0};
  c.first = first;
  c.skip = skip;
  c.min = min;
  c.spread = spread;
  assert_int_equal(fleet_ingestlog_replay(lg, collect, &c), 0);
  if (c.bad)
    fail_msg("replay: %s", c.why);
  if (first > last) {
    assert_int_equal(c.n, 0);
    return;
  }
  assert_int_equal(c.n, last - first + 1 - (skip >= first && skip <= last ? 1 : 0));
  assert_int_equal(c.last, last);
}

static fleet_ingestlog_stats_t stats_of(fleet_ingestlog_t *lg)
{
  fleet_ingestlog_stats_t st = FLEET_INGESTLOG_STATS_INIT;
  assert_int_equal(fleet_ingestlog_get_stats(&st, lg), 0);
  return st;
}

/* ---- arguments ------------------------------------------------------------ */

static void test_options_and_bad_arguments(void **state)
{
  segtest_dir_t *d = *state;
  fleet_ingestlog_options_t o;
  fleet_ingestlog_t *lg = (fleet_ingestlog_t *)&o;
  fleet_ingestlog_stats_t st = {0};
  char path[256], *topic;
  uint8_t one = 1;
  uint64_t seq;

  assert_int_equal(fleet_ingestlog_options_init(NULL, FLEET_INGESTLOG_OPTIONS_VERSION),
                   FLEET_EINVAL);
  assert_int_equal(fleet_ingestlog_options_init(&o, 7), FLEET_EINVAL);
  assert_int_equal(fleet_ingestlog_options_init(&o, FLEET_INGESTLOG_OPTIONS_VERSION), 0);
  assert_int_equal(o.segment_bytes, 64u * 1024 * 1024);
  assert_int_equal(o.sync_every, 0);
  assert_int_equal(o.sync_interval_ms, 1000);

  assert_int_equal(fleet_ingestlog_open(NULL, d->path, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_ingestlog_open(&lg, NULL, NULL), FLEET_EINVAL);
  assert_null(lg);
  assert_int_equal(fleet_ingestlog_open(&lg, "", NULL), FLEET_EINVAL);
  o.version = 0;
  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), FLEET_EINVAL);
  o = small_opts(NULL);
  o.segment_bytes = 1000;
  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "segment_bytes"));
  snprintf(path, sizeof path, "%s/file", d->root);
  assert_int_equal(segtest_write(path, &one, 1), 0);
  snprintf(path, sizeof path, "%s/file/log", d->root);
  assert_int_equal(fleet_ingestlog_open(&lg, path, NULL), FLEET_EIO);
  assert_null(lg);

  o = small_opts(NULL);
  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  assert_int_equal(fleet_ingestlog_append(NULL, NULL, "t", &one, 1), FLEET_EINVAL);
  assert_int_equal(fleet_ingestlog_append(NULL, lg, NULL, &one, 1), FLEET_EINVAL);
  assert_int_equal(fleet_ingestlog_append(NULL, lg, "t", NULL, 1), FLEET_EINVAL);
  assert_int_equal(fleet_ingestlog_append(NULL, lg, "t", &one, (size_t)FLEET_INGESTLOG_PAYLOAD_MAX + 1),
                   FLEET_ETOOBIG);
  topic = malloc(FLEET_INGESTLOG_TOPIC_MAX + 2);
  assert_non_null(topic);
  memset(topic, 'a', FLEET_INGESTLOG_TOPIC_MAX + 1);
  topic[FLEET_INGESTLOG_TOPIC_MAX + 1] = '\0';
  assert_int_equal(fleet_ingestlog_append(NULL, lg, topic, &one, 1), FLEET_ETOOBIG);
  assert_non_null(strstr(fleet_error_last(), "topic"));
  /* The longest topic fits, as does an empty payload (a retained-message clear). */
  topic[FLEET_INGESTLOG_TOPIC_MAX] = '\0';
  assert_int_equal(fleet_ingestlog_append(&seq, lg, topic, NULL, 0), 0);
  assert_int_equal(seq, 1);
  free(topic);
  assert_int_equal(fleet_ingestlog_checkpoint(NULL, 1), FLEET_EINVAL);
  assert_int_equal(fleet_ingestlog_checkpoint(lg, 2), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "never appended"));
  assert_int_equal(fleet_ingestlog_replay(lg, NULL, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_ingestlog_replay(NULL, collect, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_ingestlog_sync(NULL), FLEET_EINVAL);
  assert_int_equal(fleet_ingestlog_get_stats(&st, lg), FLEET_EINVAL);
  assert_int_equal(fleet_ingestlog_get_stats(NULL, lg), FLEET_EINVAL);
  fleet_ingestlog_free(lg);
  fleet_ingestlog_free(NULL);
}

/* ---- round trip, checkpoints ---------------------------------------------- */

static void test_append_replay_roundtrip(void **state)
{
  segtest_dir_t *d = *state;
  fleet_ingestlog_options_t o = small_opts(NULL);
  fleet_ingestlog_t *lg;
  fleet_ingestlog_stats_t st;
  collected_t c = {0};
  int64_t t0, t1;

  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  assert_int_equal(fleet_error_last_code(), 0);
  t0 = realtime_ns();
  append_msgs(lg, 1, 300, 0, 400); /* payloads of 0..399 bytes, over many segments */
  t1 = realtime_ns();
  st = stats_of(lg);
  assert_int_equal(st.next_seq, 301);
  assert_int_equal(st.appended, 300);
  assert_true(st.segments > 10);
  assert_int_equal(st.segments, segtest_seg_count(d->path));
  /* Visible to replay at once, and after a restart with receive times kept. */
  replay_expect(lg, 1, 300, 0, 0, 400);
  fleet_ingestlog_free(lg);

  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  c.first = 1;
  c.spread = 400;
  c.t_lo = t0;
  c.t_hi = t1;
  assert_int_equal(fleet_ingestlog_replay(lg, collect, &c), 0);
  if (c.bad)
    fail_msg("replay: %s", c.why);
  assert_int_equal(c.n, 300);
  st = stats_of(lg);
  assert_int_equal(st.replayed, 300);
  assert_int_equal(st.torn_truncated, 0);
  assert_int_equal(st.corrupt_skipped, 0);
  assert_int_equal(st.next_seq, 301);
  append_msgs(lg, 301, 310, 0, 400);
  fleet_ingestlog_free(lg);
}

static void test_checkpoint_deletes_segments(void **state)
{
  segtest_dir_t *d = *state;
  fleet_ingestlog_options_t o = small_opts(NULL);
  fleet_ingestlog_t *lg;
  fleet_ingestlog_stats_t st;
  char ckpt[300];

  snprintf(ckpt, sizeof ckpt, "%s/checkpoint", d->path);
  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  /* 24 + 10 + 22 (topic and NUL) + 200 = 256 bytes a record: 15 per segment. */
  append_msgs(lg, 1, 200, 200, 0);
  assert_int_equal(stats_of(lg).segments, 14);
  assert_int_equal(fleet_ingestlog_checkpoint(lg, 100), 0);
  assert_int_equal(segtest_file_size(ckpt), 32);
  st = stats_of(lg);
  assert_int_equal(st.checkpoint_seq, 100);
  /* Segments 1-15 ... 76-90 are gone; 91-105 holds records after the checkpoint. */
  assert_int_equal(st.segments, 8);
  assert_int_equal(segtest_seg_count(d->path), 8);
  replay_expect(lg, 101, 200, 0, 200, 0);
  assert_int_equal(fleet_ingestlog_checkpoint(lg, 50), 0); /* older: no effect */
  assert_int_equal(stats_of(lg).checkpoint_seq, 100);
  assert_int_equal(fleet_ingestlog_checkpoint(lg, 201), FLEET_EINVAL);
  fleet_ingestlog_free(lg);

  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  assert_int_equal(stats_of(lg).checkpoint_seq, 100);
  replay_expect(lg, 101, 200, 0, 200, 0);
  assert_int_equal(fleet_ingestlog_checkpoint(lg, 200), 0);
  assert_int_equal(stats_of(lg).segments, 1); /* the newest always stays */
  replay_expect(lg, 1, 0, 0, 200, 0);
  fleet_ingestlog_free(lg);

  /* Sequence numbers go on after a restart with everything checkpointed. */
  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  assert_int_equal(stats_of(lg).next_seq, 201);
  append_msgs(lg, 201, 202, 200, 0);
  replay_expect(lg, 201, 202, 0, 200, 0);
  fleet_ingestlog_free(lg);
}

static void test_replay_stops_on_callback(void **state)
{
  segtest_dir_t *d = *state;
  fleet_ingestlog_options_t o = small_opts(NULL);
  fleet_ingestlog_t *lg;
  collected_t c = {0};

  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  append_msgs(lg, 1, 10, 50, 0);
  c.first = 1;
  c.min = 50;
  c.stop_after = 3;
  assert_int_equal(fleet_ingestlog_replay(lg, collect, &c), 42);
  assert_int_equal(c.n, 3);
  assert_int_equal(stats_of(lg).replayed, 3);
  fleet_ingestlog_free(lg);
}

static void test_record_larger_than_segment(void **state)
{
  segtest_dir_t *d = *state;
  fleet_ingestlog_options_t o = small_opts(NULL);
  fleet_ingestlog_t *lg;

  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  append_msgs(lg, 1, 2, 100, 0);
  append_msgs(lg, 3, 3, 8000, 0); /* gets a segment of its own */
  append_msgs(lg, 4, 5, 100, 0);
  assert_int_equal(stats_of(lg).segments, 3);
  fleet_ingestlog_free(lg);
  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  {
    collected_t c = {0};
    c.first = 1;
    c.min = 100;
    assert_int_equal(fleet_ingestlog_replay(lg, collect, &c), 0);
    /* Record 3 differs in size from message(3, 100); only the sequence is checked. */
    assert_int_equal(c.n, 5);
    assert_int_equal(c.last, 5);
  }
  fleet_ingestlog_free(lg);
}

/* ---- crashes ------------------------------------------------------------ */

typedef struct crash_arg {
  const char *path;
} crash_arg_t;

/* Reachable, so leak checkers do not flag the deliberately missing close. */
static fleet_ingestlog_t *volatile crash_handle;

/* Child process: no cmocka here; failures become exit codes. */
static int crash_child(void *arg)
{
  const crash_arg_t *a = arg;
  fleet_ingestlog_options_t o = FLEET_INGESTLOG_OPTIONS_INIT;
  fleet_ingestlog_t *lg;
  char topic[64];
  uint8_t payload[512];

  o.segment_bytes = 64 * 1024;
  o.sync_interval_ms = 0;
  if (fleet_ingestlog_open(&lg, a->path, &o) != 0)
    return 10;
  crash_handle = lg;
  for (uint64_t i = 1; i <= 1500; i++) {
    size_t len;
    uint64_t seq;
    message(topic, sizeof topic, payload, sizeof payload, &len, i, 100, 200);
    if (fleet_ingestlog_append(&seq, lg, topic, payload, len) != 0 || seq != i)
      return 11;
    if (i == 1000 && fleet_ingestlog_checkpoint(lg, 300) != 0)
      return 12;
  }
  return 0; /* no sync, no close: only the page cache holds the records */
}

static void test_crash_by_fork(void **state)
{
  segtest_dir_t *d = *state;
  fleet_ingestlog_options_t o = small_opts(NULL);
  fleet_ingestlog_t *lg;
  char path[256];
  crash_arg_t a;
  int status;

  for (int kill_self = 0; kill_self <= 1; kill_self++) {
    snprintf(path, sizeof path, "%s/crash%d", d->root, kill_self);
    a.path = path;
    status = segtest_fork(crash_child, &a, kill_self);
    if (kill_self)
      assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    else
      assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    o.segment_bytes = 64 * 1024;
    assert_int_equal(fleet_ingestlog_open(&lg, path, &o), 0);
    assert_int_equal(fleet_error_last_code(), 0);
    assert_int_equal(stats_of(lg).torn_truncated, 0);
    assert_int_equal(stats_of(lg).checkpoint_seq, 300);
    assert_int_equal(stats_of(lg).next_seq, 1501);
    replay_expect(lg, 301, 1500, 0, 100, 200);
    fleet_ingestlog_free(lg);
  }
}

/* Topic "t", 100-byte payload: 24 + 10 + 2 + 100 = 136 bytes a record. */
#define REC136 136

static void append_t(fleet_ingestlog_t *lg, uint64_t first, uint64_t last, size_t len)
{
  uint8_t p[200];
  for (uint64_t i = first; i <= last; i++) {
    uint64_t seq;
    memset(p, (int)(i & 0xff), sizeof p);
    assert_int_equal(fleet_ingestlog_append(&seq, lg, "t", p, len), 0);
    assert_int_equal(seq, i);
  }
}

typedef struct seqs {
  uint64_t n, last, sum;
  size_t last_len;
} seqs_t;

static int collect_seqs(const fleet_ingestlog_record_t *r, void *userdata)
{
  seqs_t *s = userdata;
  const uint8_t *p = r->payload;
  /* Every byte of append_t's payload is the low byte of its sequence number. */
  for (size_t k = 0; k < r->payload_len; k++)
    if (p[k] != (uint8_t)(r->seq & 0xff))
      return -100;
  s->n++;
  s->sum += r->seq;
  s->last = r->seq;
  s->last_len = r->payload_len;
  return 0;
}

static void test_torn_tail_every_offset(void **state)
{
  segtest_dir_t *d = *state;
  events_t ev;
  fleet_ingestlog_options_t o = small_opts(&ev);
  fleet_ingestlog_t *lg;
  segtest_snapshot_t snap;
  char seg[512];
  const long long start = 32 + 4 * REC136, end = start + REC136;

  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  append_t(lg, 1, 5, 100);
  fleet_ingestlog_free(lg);
  assert_int_equal(segtest_seg_path(seg, sizeof seg, d->path, 0), 0);
  assert_int_equal(segtest_file_size(seg), 4096); /* preallocated */
  assert_int_equal(segtest_snapshot_take(&snap, d->path), 0);

  for (int truncated = 0; truncated <= 1; truncated++) {
    for (long long cut = start; cut < end; cut++) {
      int torn = cut > start;
      seqs_t s = {0};
      assert_int_equal(segtest_snapshot_restore(&snap, d->path), 0);
      if (truncated) {
        /* The file lost its end (the crash came before the size was stored). */
        assert_int_equal(truncate(seg, (off_t)cut), 0);
      } else {
        /* The mapping's pages after `cut` never reached the disk: zeros. */
        assert_int_equal(truncate(seg, (off_t)cut), 0);
        assert_int_equal(truncate(seg, 4096), 0);
      }
      memset(&ev, 0, sizeof ev);
      assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
      assert_int_equal(stats_of(lg).torn_truncated, torn);
      assert_int_equal(ev.n[FLEET_INGESTLOG_EVENT_TORN_TAIL], torn);
      assert_int_equal(fleet_error_last_code(), torn ? FLEET_ECORRUPT : 0);
      assert_int_equal(stats_of(lg).next_seq, 5);
      assert_int_equal(fleet_ingestlog_replay(lg, collect_seqs, &s), 0);
      assert_int_equal(s.n, 4);
      assert_int_equal(s.last, 4);
      /* A shorter record 5 now: stale bytes of the torn one must not survive it. */
      append_t(lg, 5, 5, 10);
      fleet_ingestlog_free(lg);
      assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
      assert_int_equal(stats_of(lg).torn_truncated, 0);
      memset(&s, 0, sizeof s);
      assert_int_equal(fleet_ingestlog_replay(lg, collect_seqs, &s), 0);
      assert_int_equal(s.n, 5);
      assert_int_equal(s.sum, 15);
      assert_int_equal(s.last_len, 10);
      fleet_ingestlog_free(lg);
    }
  }
  segtest_snapshot_free(&snap);
}

static void test_torn_newest_segment_header(void **state)
{
  segtest_dir_t *d = *state;
  fleet_ingestlog_options_t o = small_opts(NULL);
  fleet_ingestlog_t *lg;
  seqs_t s = {0};
  char seg[512];

  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  append_t(lg, 1, 31, 100); /* 29 records fill the first segment; 30 and 31 roll */
  fleet_ingestlog_free(lg);
  assert_int_equal(segtest_seg_count(d->path), 2);
  assert_int_equal(segtest_seg_path(seg, sizeof seg, d->path, 1), 0);
  assert_non_null(strstr(seg, "00000000000000000030.seg"));
  assert_int_equal(truncate(seg, 10), 0);
  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  assert_int_equal(stats_of(lg).torn_truncated, 1);
  assert_int_equal(stats_of(lg).next_seq, 30);
  assert_int_equal(fleet_ingestlog_replay(lg, collect_seqs, &s), 0);
  assert_int_equal(s.n, 29);
  append_t(lg, 30, 30, 100);
  fleet_ingestlog_free(lg);
}

static void test_bit_flips(void **state)
{
  segtest_dir_t *d = *state;
  events_t ev;
  fleet_ingestlog_options_t o = small_opts(&ev);
  fleet_ingestlog_t *lg;
  segtest_snapshot_t snap;
  char seg[512];
  const long long rec7 = 32 + 6 * REC136;
  long long offs[FLEET_SEG_REC_HDR + 3];
  size_t n = 0;

  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  append_t(lg, 1, 20, 100);
  fleet_ingestlog_free(lg);
  assert_int_equal(segtest_seg_path(seg, sizeof seg, d->path, 0), 0);
  assert_int_equal(segtest_snapshot_take(&snap, d->path), 0);
  for (long long b = 0; b < FLEET_SEG_REC_HDR; b++)
    offs[n++] = rec7 + b;
  offs[n++] = rec7 + FLEET_SEG_REC_HDR + 3;  /* receive time */
  offs[n++] = rec7 + FLEET_SEG_REC_HDR + 8;  /* topic length */
  offs[n++] = rec7 + FLEET_SEG_REC_HDR + 60; /* payload */

  for (size_t i = 0; i < n; i++) {
    seqs_t s = {0};
    assert_int_equal(segtest_snapshot_restore(&snap, d->path), 0);
    assert_int_equal(segtest_flip(seg, offs[i], 0x10), 0);
    memset(&ev, 0, sizeof ev);
    assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
    assert_int_equal(stats_of(lg).torn_truncated, 0);
    assert_int_equal(stats_of(lg).next_seq, 21);
    assert_int_equal(fleet_ingestlog_replay(lg, collect_seqs, &s), 0);
    assert_int_equal(s.n, 19);
    assert_int_equal(s.sum, 210 - 7);
    assert_int_equal(stats_of(lg).corrupt_skipped, 1);
    assert_int_equal(ev.n[FLEET_INGESTLOG_EVENT_CORRUPT], 1);
    assert_non_null(strstr(ev.last, "corrupt data at offsets 848-984"));
    fleet_ingestlog_free(lg);
  }
  segtest_snapshot_free(&snap);
}

static void test_damaged_checkpoint_and_foreign_dirs(void **state)
{
  segtest_dir_t *d = *state;
  events_t ev;
  fleet_ingestlog_options_t o = small_opts(&ev);
  fleet_spool_options_t so = FLEET_SPOOL_OPTIONS_INIT;
  fleet_ingestlog_t *lg, *lg2 = NULL;
  fleet_spool_t *sp;
  seqs_t s = {0};
  char ckpt[300], path[256];
  const uint8_t junk[7] = "garbage";

  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  assert_int_equal(fleet_ingestlog_open(&lg2, d->path, &o), FLEET_ESTATE);
  assert_null(lg2);
  append_t(lg, 1, 6, 100);
  assert_int_equal(fleet_ingestlog_checkpoint(lg, 4), 0);
  fleet_ingestlog_free(lg);
  snprintf(ckpt, sizeof ckpt, "%s/checkpoint", d->path);
  assert_int_equal(segtest_write(ckpt, junk, sizeof junk), 0);
  memset(&ev, 0, sizeof ev);
  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  assert_int_equal(fleet_error_last_code(), FLEET_ECORRUPT);
  assert_int_equal(ev.n[FLEET_INGESTLOG_EVENT_CHECKPOINT_RESET], 1);
  assert_int_equal(fleet_ingestlog_replay(lg, collect_seqs, &s), 0);
  assert_int_equal(s.n, 6); /* at least once: from the oldest stored record */
  fleet_ingestlog_free(lg);

  /* A spool directory is not an ingest log. */
  snprintf(path, sizeof path, "%s/spool", d->root);
  so.segment_bytes = 4096;
  assert_int_equal(fleet_spool_open(&sp, path, &so), 0);
  assert_int_equal(fleet_spool_append(NULL, sp, "x", 1), 0);
  fleet_spool_free(sp);
  assert_int_equal(fleet_ingestlog_open(&lg, path, &o), FLEET_EVERSION);
  assert_non_null(strstr(fleet_error_last(), "not an ingest log segment"));
}

/* ---- sync ----------------------------------------------------------------- */

static void test_sync(void **state)
{
  segtest_dir_t *d = *state;
  fleet_ingestlog_options_t o = small_opts(NULL);
  fleet_ingestlog_t *lg;
  fleet_ingestlog_stats_t st;
  char path[256];

  /* Manual: nothing syncs until asked; asking twice flushes once. */
  snprintf(path, sizeof path, "%s/manual", d->root);
  assert_int_equal(fleet_ingestlog_open(&lg, path, &o), 0);
  append_t(lg, 1, 3, 100);
  st = stats_of(lg);
  assert_int_equal(st.synced_seq, 0);
  assert_int_equal(st.syncs, 0);
  assert_int_equal(fleet_ingestlog_sync(lg), 0);
  assert_int_equal(fleet_ingestlog_sync(lg), 0);
  st = stats_of(lg);
  assert_int_equal(st.synced_seq, 3);
  assert_int_equal(st.syncs, 1);
  /* Across a roll, the sealed segment is flushed too. */
  append_t(lg, 4, 40, 100);
  assert_int_equal(stats_of(lg).segments, 2);
  assert_int_equal(fleet_ingestlog_sync(lg), 0);
  assert_int_equal(stats_of(lg).synced_seq, 40);
  fleet_ingestlog_free(lg);

  /* Every second append. */
  snprintf(path, sizeof path, "%s/every2", d->root);
  o.sync_every = 2;
  assert_int_equal(fleet_ingestlog_open(&lg, path, &o), 0);
  append_t(lg, 1, 1, 100);
  assert_int_equal(stats_of(lg).synced_seq, 0);
  append_t(lg, 2, 2, 100);
  assert_int_equal(stats_of(lg).synced_seq, 2);
  append_t(lg, 3, 3, 100);
  assert_int_equal(stats_of(lg).synced_seq, 2);
  append_t(lg, 4, 4, 100);
  assert_int_equal(stats_of(lg).synced_seq, 4);
  assert_int_equal(stats_of(lg).syncs, 2);
  fleet_ingestlog_free(lg);

  /* On an interval, measured from the last sync. */
  snprintf(path, sizeof path, "%s/interval", d->root);
  o.sync_every = 0;
  o.sync_interval_ms = 20;
  assert_int_equal(fleet_ingestlog_open(&lg, path, &o), 0);
  append_t(lg, 1, 1, 100);
  assert_int_equal(stats_of(lg).syncs, 0);
  {
    struct timespec ts = {0, 60 * 1000000};
    nanosleep(&ts, NULL);
  }
  append_t(lg, 2, 2, 100);
  assert_int_equal(stats_of(lg).syncs, 1);
  assert_int_equal(stats_of(lg).synced_seq, 2);
  fleet_ingestlog_free(lg);
}

static void test_io_errors(void **state)
{
  segtest_dir_t *d = *state;
  fleet_ingestlog_options_t o = small_opts(NULL);
  fleet_ingestlog_t *lg;
  struct rlimit old, lim;
  void (*old_handler)(int);
  uint8_t p[100] = {0};
  seqs_t s = {0};

  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  append_t(lg, 1, 29, 100); /* the first segment is full */
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  old_handler = signal(SIGXFSZ, SIG_IGN);
  lim = old;
  lim.rlim_cur = 2048; /* a new segment cannot be preallocated */
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  assert_int_equal(fleet_ingestlog_append(NULL, lg, "t", p, sizeof p), FLEET_EIO);
  assert_non_null(strstr(fleet_error_last(), "fallocate"));
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, old_handler);
  assert_int_equal(segtest_seg_count(d->path), 1);
  /* Nothing was logged and no sequence number was used up. */
  append_t(lg, 30, 30, 100);
  assert_int_equal(fleet_ingestlog_replay(lg, collect_seqs, &s), 0);
  assert_int_equal(s.n, 30);
  fleet_ingestlog_free(lg);
}

/* ---- concurrency ---------------------------------------------------------- */

#define CONC_PER_THREAD 4000

typedef struct conc {
  fleet_ingestlog_t *lg;
  int id;
  volatile int *stop;
  int err;
  char msg[200];
} conc_t;

static void *appender(void *arg)
{
  conc_t *c = arg;
  char topic[32];
  uint8_t payload[64];
  snprintf(topic, sizeof topic, "fleet/t%d/telemetry", c->id);
  for (uint32_t i = 1; i <= CONC_PER_THREAD; i++) {
    int rc;
    memset(payload, 0, sizeof payload);
    memcpy(payload, &i, sizeof i);
    rc = fleet_ingestlog_append(NULL, c->lg, topic, payload, 40 + (i % 24));
    if (rc != 0) {
      c->err = 1;
      snprintf(c->msg, sizeof c->msg, "append %u: %s", i, fleet_error_last());
      break;
    }
  }
  return NULL;
}

static void *syncer(void *arg)
{
  conc_t *c = arg;
  while (!*c->stop) {
    struct timespec ts = {0, 200000};
    if (fleet_ingestlog_sync(c->lg) != 0) {
      c->err = 1;
      snprintf(c->msg, sizeof c->msg, "sync: %s", fleet_error_last());
      break;
    }
    nanosleep(&ts, NULL);
  }
  return NULL;
}

static void *checkpointer(void *arg)
{
  conc_t *c = arg;
  while (!*c->stop) {
    struct timespec ts = {0, 300000};
    fleet_ingestlog_stats_t st = FLEET_INGESTLOG_STATS_INIT;
    fleet_ingestlog_get_stats(&st, c->lg);
    if (st.next_seq > 2 && fleet_ingestlog_checkpoint(c->lg, (st.next_seq - 1) / 2) != 0) {
      c->err = 1;
      snprintf(c->msg, sizeof c->msg, "checkpoint: %s", fleet_error_last());
      break;
    }
    nanosleep(&ts, NULL);
  }
  return NULL;
}

typedef struct order {
  uint64_t expect_seq;
  uint32_t last[2];
  uint64_t n;
  int bad;
} order_t;

static int check_order(const fleet_ingestlog_record_t *r, void *userdata)
{
  order_t *o = userdata;
  uint32_t i;
  int id = r->topic[7] - '0';
  if (r->seq != o->expect_seq || (id != 0 && id != 1) || r->payload_len < 4) {
    o->bad = 1;
    return 1;
  }
  memcpy(&i, r->payload, sizeof i);
  /* Per thread, the counters are consecutive after the first one seen. */
  if (o->last[id] != 0 && i != o->last[id] + 1) {
    o->bad = 2;
    return 1;
  }
  o->last[id] = i;
  o->expect_seq++;
  o->n++;
  return 0;
}

static void test_concurrent_append_sync_checkpoint(void **state)
{
  segtest_dir_t *d = *state;
  fleet_ingestlog_options_t o = small_opts(NULL);
  fleet_ingestlog_t *lg;
  fleet_ingestlog_stats_t st;
  volatile int stop = 0;
  conc_t a[2], s, k;
  pthread_t ta[2], ts, tk;
  order_t ord = {0};

  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  for (int i = 0; i < 2; i++) {
    a[i] = (conc_t){lg, i, &stop, 0, ""};
    assert_int_equal(pthread_create(&ta[i], NULL, appender, &a[i]), 0);
  }
  s = (conc_t){lg, 0, &stop, 0, ""};
  k = (conc_t){lg, 0, &stop, 0, ""};
  assert_int_equal(pthread_create(&ts, NULL, syncer, &s), 0);
  assert_int_equal(pthread_create(&tk, NULL, checkpointer, &k), 0);
  pthread_join(ta[0], NULL);
  pthread_join(ta[1], NULL);
  stop = 1;
  pthread_join(ts, NULL);
  pthread_join(tk, NULL);
  for (int i = 0; i < 2; i++)
    if (a[i].err)
      fail_msg("appender %d: %s", i, a[i].msg);
  if (s.err)
    fail_msg("%s", s.msg);
  if (k.err)
    fail_msg("%s", k.msg);
  st = stats_of(lg);
  assert_int_equal(st.appended, 2 * CONC_PER_THREAD);
  assert_int_equal(st.next_seq, 2 * CONC_PER_THREAD + 1);
  assert_true(st.checkpoint_seq >= 1);
  assert_int_equal(st.segments, segtest_seg_count(d->path));
  fleet_ingestlog_free(lg);

  /* After a restart: exactly the records after the checkpoint, gap-free and
   * in each thread's order. */
  assert_int_equal(fleet_ingestlog_open(&lg, d->path, &o), 0);
  ord.expect_seq = st.checkpoint_seq + 1;
  assert_int_equal(fleet_ingestlog_replay(lg, check_order, &ord), 0);
  assert_int_equal(ord.bad, 0);
  assert_int_equal(ord.n, 2 * CONC_PER_THREAD - st.checkpoint_seq);
  assert_int_equal(ord.last[0], CONC_PER_THREAD);
  assert_int_equal(ord.last[1], CONC_PER_THREAD);
  fleet_ingestlog_free(lg);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      SEGTEST(test_options_and_bad_arguments),
      SEGTEST(test_append_replay_roundtrip),
      SEGTEST(test_checkpoint_deletes_segments),
      SEGTEST(test_replay_stops_on_callback),
      SEGTEST(test_record_larger_than_segment),
      SEGTEST(test_crash_by_fork),
      SEGTEST(test_torn_tail_every_offset),
      SEGTEST(test_torn_newest_segment_header),
      SEGTEST(test_bit_flips),
      SEGTEST(test_damaged_checkpoint_and_foreign_dirs),
      SEGTEST(test_sync),
      SEGTEST(test_io_errors),
      SEGTEST(test_concurrent_append_sync_checkpoint),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
