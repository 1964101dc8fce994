/* spool: crash-safe on-disk FIFO of opaque records (see include/fleet/spool.h).
 *
 * State: the segments on disk, oldest first; the read cursor always lies in
 * segs[0] (segments before it are deleted as soon as the cursor leaves them);
 * appends go to the last segment with pwritev. Everything is guarded by one
 * mutex. */
#include "common_int.h"

#include "fleet/spool.h"
#include "segment_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

typedef struct spool_seg {
  uint64_t base;
  uint64_t size;    /* bytes of valid data in the file, file header included */
  uint64_t unacked; /* records in it with seq > acked_seq */
} spool_seg_t;

/* Damage found at open, so reading past it later neither re-reports nor re-counts it. */
typedef struct bad_region {
  uint64_t base, start, end;
} bad_region_t;

struct fleet_spool {
  pthread_mutex_t mu;
  fleet_segdir_t dir;
  fleet_spool_options_t opts;
  spool_seg_t *segs;
  size_t nsegs, capsegs;
  bad_region_t *bad;
  size_t nbad, capbad;
  int wfd; /* newest segment, read-write */
  int rfd; /* segs[0] for reading, -1 until needed */
  uint64_t rpos;  /* cursor: offset in segs[0] of the oldest unacked record, or its end */
  uint64_t rlast; /* the sequence number the cursor's record must exceed */
  int rhdr_ok;    /* rhdr holds the checked header of the record at rpos */
  fleet_seg_hdr_t rhdr;
  uint64_t next_seq, acked_seq, persisted_seq;
  int persisted_durable;
  int data_dirty;
  uint64_t last_sync_ns, last_ckpt_ns;
  uint64_t bytes;
  fleet_buf_t *open_warnings; /* set during fleet_spool_open() only */
  fleet_spool_stats_t st;     /* the "since open" counters */
};

int fleet_spool_options_init(fleet_spool_options_t *opts, unsigned int version)
{
  fleet_spool_options_t def = FLEET_SPOOL_OPTIONS_INIT;
  if (opts == NULL)
    return fleet_error__set(FLEET_EINVAL, "opts: NULL");
  if (version != FLEET_SPOOL_OPTIONS_VERSION)
    return fleet_error__set(FLEET_EINVAL, "version: %u is not a known options version (%u)",
                            version, FLEET_SPOOL_OPTIONS_VERSION);
  *opts = def;
  return 0;
}

/* ---- reporting ------------------------------------------------------------ */

FLEET_PRINTF(4, 5)
static void report(fleet_spool_t *sp, int event, uint64_t records, const char *fmt, ...)
{
  char msg[FLEET_ERROR_MAX];
  va_list ap;

  va_start(ap, fmt);
  fleet_seg__vreport(msg, sizeof msg, sp->open_warnings, &sp->dir, fmt, ap);
  va_end(ap);
  if (sp->opts.on_event != NULL)
    sp->opts.on_event(event, records, msg, sp->opts.event_userdata);
}

static int sys_error(const fleet_spool_t *sp, const char *op, uint64_t base, int err)
{
  return fleet_seg__io_error(&sp->dir, op, base, err);
}

static void add_bad(fleet_spool_t *sp, uint64_t base, uint64_t start, uint64_t end)
{
  if (sp->nbad == sp->capbad) {
    size_t ncap = sp->capbad ? sp->capbad * 2 : 4;
    bad_region_t *nb = realloc(sp->bad, ncap * sizeof *nb);
    if (nb == NULL)
      return; /* only costs a second report when the cursor reaches it */
    sp->bad = nb;
    sp->capbad = ncap;
  }
  sp->bad[sp->nbad++] = (bad_region_t){base, start, end};
}

static const bad_region_t *find_bad(const fleet_spool_t *sp, uint64_t base, uint64_t pos)
{
  for (size_t i = 0; i < sp->nbad; i++)
    if (sp->bad[i].base == base && sp->bad[i].start == pos)
      return &sp->bad[i];
  return NULL;
}

static void forget_bad(fleet_spool_t *sp, uint64_t base)
{
  size_t j = 0;
  for (size_t i = 0; i < sp->nbad; i++)
    if (sp->bad[i].base != base)
      sp->bad[j++] = sp->bad[i];
  sp->nbad = j;
}

/* ---- segment list --------------------------------------------------------- */

static int push_seg(fleet_spool_t *sp, uint64_t base, uint64_t size, uint64_t unacked)
{
  if (sp->nsegs == sp->capsegs) {
    size_t ncap = sp->capsegs ? sp->capsegs * 2 : 8;
    spool_seg_t *ns = realloc(sp->segs, ncap * sizeof *ns);
    if (ns == NULL)
      return fleet_error__oom();
    sp->segs = ns;
    sp->capsegs = ncap;
  }
  sp->segs[sp->nsegs++] = (spool_seg_t){base, size, unacked};
  sp->bytes += size;
  return 0;
}

/* Remove segs[0] from disk and from the list; the cursor moves to the new segs[0]. */
static int pop_front(fleet_spool_t *sp)
{
  spool_seg_t old = sp->segs[0];
  int rc;

  if (sp->rfd >= 0) {
    close(sp->rfd);
    sp->rfd = -1;
  }
  rc = fleet_seg__unlink(&sp->dir, old.base);
  forget_bad(sp, old.base);
  sp->bytes -= old.size;
  memmove(sp->segs, sp->segs + 1, (sp->nsegs - 1) * sizeof *sp->segs);
  sp->nsegs--;
  sp->rpos = FLEET_SEG_FILE_HDR;
  sp->rhdr_ok = 0;
  if (sp->segs[0].base > 0 && sp->rlast < sp->segs[0].base - 1)
    sp->rlast = sp->segs[0].base - 1;
  return rc;
}

static int data_sync(fleet_spool_t *sp)
{
  if (fdatasync(sp->wfd) != 0)
    return sys_error(sp, "fdatasync", sp->segs[sp->nsegs - 1].base, errno);
  sp->st.syncs++;
  sp->data_dirty = 0;
  sp->last_sync_ns = fleet_seg__mono_ns();
  return 0;
}

static int persist_ckpt(fleet_spool_t *sp, int durable)
{
  int rc = fleet_seg__ckpt_write(&sp->dir, sp->acked_seq, durable);
  if (rc != 0)
    return rc;
  sp->persisted_seq = sp->acked_seq;
  sp->persisted_durable = durable;
  sp->last_ckpt_ns = fleet_seg__mono_ns();
  return 0;
}

/* Start a new segment at next_seq. The old one is made durable first (unless the
 * policy is NEVER) because later syncs only cover the newest segment. */
static int roll(fleet_spool_t *sp)
{
  int fd, rc, durable = sp->opts.fsync_policy != FLEET_SPOOL_FSYNC_NEVER;

  if (durable && sp->data_dirty && (rc = data_sync(sp)) != 0)
    return rc;
  rc = fleet_seg__create(&fd, &sp->dir, sp->next_seq, durable);
  if (rc != 0)
    return rc;
  rc = push_seg(sp, sp->next_seq, FLEET_SEG_FILE_HDR, 0);
  if (rc != 0) {
    close(fd);
    fleet_seg__unlink(&sp->dir, sp->next_seq);
    return rc;
  }
  close(sp->wfd);
  sp->wfd = fd;
  return 0;
}

static uint64_t unacked_total(const fleet_spool_t *sp)
{
  uint64_t n = 0;
  for (size_t i = 0; i < sp->nsegs; i++)
    n += sp->segs[i].unacked;
  return n;
}

/* FLEET_SPOOL_FULL_DROP_OLDEST: delete segs[0] whatever it holds. */
static int drop_oldest(fleet_spool_t *sp)
{
  spool_seg_t old = sp->segs[0];
  char name[FLEET_SEG_NAME_LEN + 1];
  int rc = pop_front(sp);

  sp->st.dropped_records += old.unacked;
  sp->st.dropped_segments++;
  if (sp->acked_seq < sp->segs[0].base - 1)
    sp->acked_seq = sp->segs[0].base - 1;
  fleet_seg__name(name, old.base);
  report(sp, FLEET_SPOOL_EVENT_DROPPED, old.unacked,
         "full (max_bytes %" PRIu64 "): dropped segment %s with %" PRIu64
         " unacknowledged records (%" PRIu64 " bytes)",
         sp->opts.max_bytes, name, old.unacked, old.size);
  return rc;
}

/* ---- the read cursor ------------------------------------------------------ */

/* The header at the cursor failed a check, or its payload did: find where the
 * next good record starts with the scanner, report the damage and move on. */
static int cursor_resync(fleet_spool_t *sp)
{
  spool_seg_t *s = &sp->segs[0];
  const uint8_t *map;
  fleet_seg_scan_t scan;
  fleet_seg_rec_t rec;
  char name[FLEET_SEG_NAME_LEN + 1];
  int rc = fleet_seg__map(&map, sp->rfd, s->size);

  if (rc != 0)
    return rc;
  fleet_seg__name(name, s->base);
  fleet_seg__scan_init(&scan, map, s->size, sp->rpos, sp->rlast);
  switch (fleet_seg__scan_next(&scan, &rec)) {
  case FLEET_SEG_RECORD:
    /* It reads fine through the mapping: the failed read was transient. */
    sp->rhdr = (fleet_seg_hdr_t){rec.seq, rec.len, fleet_seg__get32(map + rec.off + 16)};
    sp->rhdr_ok = 1;
    break;
  case FLEET_SEG_CORRUPT:
    sp->st.corrupt_skipped++;
    report(sp, FLEET_SPOOL_EVENT_CORRUPT, 0,
           "%s: corrupt data at offsets %" PRIu64 "-%" PRIu64 " skipped", name,
           scan.bad_start, scan.bad_end);
    sp->rpos = scan.bad_end;
    break;
  default:
    sp->st.corrupt_skipped++;
    report(sp, FLEET_SPOOL_EVENT_CORRUPT, 0,
           "%s: corrupt data from offset %" PRIu64 " to the end (%" PRIu64 ") skipped",
           name, sp->rpos, s->size);
    sp->rpos = s->size;
    break;
  }
  fleet_seg__unmap(map, s->size);
  return 0;
}

/* Make rhdr describe the record at the cursor. Returns 1 when there is one,
 * 0 when every record is acknowledged, or an error. */
static int cursor_load(fleet_spool_t *sp)
{
  for (;;) {
    spool_seg_t *s = &sp->segs[0];
    uint8_t h[FLEET_SEG_REC_HDR];
    const bad_region_t *bad;
    int rc;

    if (sp->rhdr_ok)
      return 1;
    if (sp->rpos >= s->size) {
      if (sp->nsegs == 1) {
        /* Damage found after open may have hidden records counted as unacked. */
        s->unacked = 0;
        return 0;
      }
      if ((rc = pop_front(sp)) != 0)
        return rc;
      continue;
    }
    if ((bad = find_bad(sp, s->base, sp->rpos)) != NULL) {
      sp->rpos = bad->end;
      continue;
    }
    if (sp->rfd < 0 && (rc = fleet_seg__open(&sp->rfd, &sp->dir, s->base, O_RDONLY)) != 0)
      return rc;
    if (s->size - sp->rpos >= FLEET_SEG_REC_HDR &&
        pread(sp->rfd, h, sizeof h, (off_t)sp->rpos) == (ssize_t)sizeof h &&
        fleet_seg__parse_rec_header(&sp->rhdr, h) == 0 && sp->rhdr.seq > sp->rlast &&
        s->size - sp->rpos - FLEET_SEG_REC_HDR >= sp->rhdr.len) {
      sp->rhdr_ok = 1;
      return 1;
    }
    if ((rc = cursor_resync(sp)) != 0)
      return rc;
  }
}

static void cursor_advance(fleet_spool_t *sp)
{
  sp->rpos += FLEET_SEG_REC_HDR + sp->rhdr.len;
  sp->rlast = sp->rhdr.seq;
  sp->rhdr_ok = 0;
  if (sp->segs[0].unacked > 0)
    sp->segs[0].unacked--;
}

/* ---- open ----------------------------------------------------------------- */

static int check_options(const fleet_spool_options_t *o)
{
  if (o->version != FLEET_SPOOL_OPTIONS_VERSION)
    return fleet_error__set(FLEET_EINVAL, "opts.version: %u is not a known version (%u)",
                            o->version, FLEET_SPOOL_OPTIONS_VERSION);
  if (o->segment_bytes < FLEET_SPOOL_SEGMENT_MIN)
    return fleet_error__set(FLEET_EINVAL, "opts.segment_bytes: %" PRIu64 " is below %u",
                            o->segment_bytes, FLEET_SPOOL_SEGMENT_MIN);
  if (o->max_bytes != 0 && o->max_bytes < o->segment_bytes)
    return fleet_error__set(FLEET_EINVAL,
                            "opts.max_bytes: %" PRIu64 " is below segment_bytes (%" PRIu64 ")",
                            o->max_bytes, o->segment_bytes);
  if ((unsigned int)o->fsync_policy > FLEET_SPOOL_FSYNC_NEVER)
    return fleet_error__set(FLEET_EINVAL, "opts.fsync_policy: %d is not a policy",
                            (int)o->fsync_policy);
  if ((unsigned int)o->full_policy > FLEET_SPOOL_FULL_DROP_OLDEST)
    return fleet_error__set(FLEET_EINVAL, "opts.full_policy: %d is not a policy",
                            (int)o->full_policy);
  return 0;
}

/* Where the consumer starts in a segment, found while scanning it. */
typedef struct seg_scan_result {
  uint64_t size, unacked, last_seq;
  uint64_t first_off;  /* offset of the first unacked record (or the end) */
  uint64_t first_prev; /* sequence number that record must exceed */
  int has_records;
} seg_scan_result_t;

/* Scan one segment at open: count, skip damage, truncate a torn tail in the newest. */
static int scan_segment(fleet_spool_t *sp, uint64_t base, int newest, uint64_t prev_seq,
                        seg_scan_result_t *r)
{
  char name[FLEET_SEG_NAME_LEN + 1];
  struct stat stt;
  const uint8_t *map = NULL;
  fleet_seg_scan_t scan;
  fleet_seg_rec_t rec;
  uint64_t size, end;
  int fd, rc, res, first_found = 0;

  memset(r, 0, sizeof *r);
  fleet_seg__name(name, base);
  if ((rc = fleet_seg__open(&fd, &sp->dir, base, O_RDWR)) != 0)
    return rc;
  if (fstat(fd, &stt) != 0) {
    rc = sys_error(sp, "fstat", base, errno);
    goto out;
  }
  size = (uint64_t)stt.st_size;
  if ((rc = fleet_seg__map(&map, fd, size)) != 0)
    goto out;
  rc = fleet_seg__check_file_header(map, (size_t)(size < FLEET_SEG_FILE_HDR ? size : FLEET_SEG_FILE_HDR),
                                    FLEET_SEG_KIND_SPOOL);
  if (rc == FLEET_EVERSION) {
    rc = fleet_error__set(FLEET_EVERSION,
                          "spool %s: %s is not a spool segment of format %u (another "
                          "version, or an ingest log)",
                          sp->dir.path, name, FLEET_SEG_FORMAT_VERSION);
    goto out;
  }
  if (rc != 0) {
    uint8_t hdr[FLEET_SEG_FILE_HDR];
    /* The records carry their own checks, so a damaged file header costs
     * nothing but itself; the newest segment gets a fresh one. */
    if (newest && size < FLEET_SEG_FILE_HDR) {
      sp->st.torn_truncated++;
      report(sp, FLEET_SPOOL_EVENT_TORN_TAIL, 0, "%s: torn file header (%" PRIu64
             " bytes) rewritten", name, size);
    } else {
      sp->st.corrupt_skipped++;
      report(sp, FLEET_SPOOL_EVENT_CORRUPT, 0, "%s: corrupt file header", name);
    }
    if (newest) {
      fleet_seg__file_header(hdr, FLEET_SEG_KIND_SPOOL, base);
      if (pwrite(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr) {
        rc = sys_error(sp, "write", base, errno ? errno : EIO);
        goto out;
      }
    }
    rc = 0;
  }
  r->first_off = size > FLEET_SEG_FILE_HDR ? size : FLEET_SEG_FILE_HDR;
  r->last_seq = prev_seq > base - 1 || base == 0 ? prev_seq : base - 1;
  end = FLEET_SEG_FILE_HDR;
  fleet_seg__scan_init(&scan, map, size, FLEET_SEG_FILE_HDR, r->last_seq);
  while ((res = fleet_seg__scan_next(&scan, &rec)) != FLEET_SEG_END) {
    if (res == FLEET_SEG_RECORD) {
      r->has_records = 1;
      if (rec.seq > sp->acked_seq) {
        r->unacked++;
        if (!first_found) {
          first_found = 1;
          r->first_off = rec.off;
          r->first_prev = r->last_seq;
        }
      }
      r->last_seq = rec.seq;
      end = scan.pos;
    } else if (res == FLEET_SEG_CORRUPT) {
      sp->st.corrupt_skipped++;
      add_bad(sp, base, scan.bad_start, scan.bad_end);
      report(sp, FLEET_SPOOL_EVENT_CORRUPT, 0,
             "%s: corrupt data at offsets %" PRIu64 "-%" PRIu64 " skipped", name,
             scan.bad_start, scan.bad_end);
    } else if (!newest) {
      sp->st.corrupt_skipped++;
      add_bad(sp, base, scan.bad_start, scan.bad_end);
      report(sp, FLEET_SPOOL_EVENT_CORRUPT, 0,
             "%s: corrupt data from offset %" PRIu64 " to the end (%" PRIu64 ") skipped",
             name, scan.bad_start, size);
      end = size;
    }
  }
  if (res == FLEET_SEG_END && scan.pos > end)
    end = scan.pos;
  if (newest && size > FLEET_SEG_FILE_HDR && end < size) {
    /* A torn record, or zeros where a crash left a grown file without its data. */
    sp->st.torn_truncated++;
    report(sp, FLEET_SPOOL_EVENT_TORN_TAIL, 0,
           "%s: torn tail of %" PRIu64 " bytes at offset %" PRIu64 " truncated", name,
           size - end, end);
    if (ftruncate(fd, (off_t)end) != 0) {
      rc = sys_error(sp, "ftruncate", base, errno);
      goto out;
    }
    if (sp->opts.fsync_policy != FLEET_SPOOL_FSYNC_NEVER && fdatasync(fd) != 0) {
      rc = sys_error(sp, "fdatasync", base, errno);
      goto out;
    }
    size = end;
  } else if (!newest && end < size) {
    end = size; /* zeros after the last record of a sealed segment: harmless */
  }
  if (size < FLEET_SEG_FILE_HDR)
    size = FLEET_SEG_FILE_HDR;
  r->size = size;
  if (!first_found) {
    r->first_off = size;
    r->first_prev = r->last_seq;
  }
out:
  fleet_seg__unmap(map, (uint64_t)(map ? stt.st_size : 0));
  if (rc == 0 && newest) {
    sp->wfd = fd;
    return 0;
  }
  close(fd);
  return rc;
}

static int load(fleet_spool_t *sp)
{
  uint64_t *bases = NULL, prev_seq = 0;
  size_t n = 0;
  int reset = 0, rc, have_cursor = 0;

  if ((rc = fleet_seg__ckpt_read(&sp->acked_seq, &reset, &sp->dir)) != 0)
    return rc;
  if (reset)
    report(sp, FLEET_SPOOL_EVENT_CHECKPOINT_RESET, 0,
           "checkpoint unreadable; delivering every stored record again");
  sp->persisted_seq = sp->acked_seq;
  sp->persisted_durable = !reset;
  if ((rc = fleet_seg__dir_list(&bases, &n, &sp->dir)) != 0)
    return rc;
  for (size_t i = 0; i < n && rc == 0; i++) {
    int newest = i + 1 == n;
    seg_scan_result_t r;
    /* Segments wholly below the checkpoint are gone without being read. */
    if (!newest && bases[i + 1] - 1 <= sp->acked_seq) {
      rc = fleet_seg__unlink(&sp->dir, bases[i]);
      continue;
    }
    if ((rc = scan_segment(sp, bases[i], newest, prev_seq, &r)) != 0)
      break;
    if (r.last_seq > prev_seq)
      prev_seq = r.last_seq;
    if (!newest && r.unacked == 0) {
      forget_bad(sp, bases[i]);
      rc = fleet_seg__unlink(&sp->dir, bases[i]);
      continue;
    }
    if ((rc = push_seg(sp, bases[i], r.size, r.unacked)) != 0)
      break;
    if (!have_cursor) {
      have_cursor = 1;
      sp->rpos = r.first_off;
      sp->rlast = r.first_prev;
    }
  }
  free(bases);
  if (rc != 0)
    return rc;
  sp->next_seq = prev_seq + 1;
  if (sp->acked_seq + 1 > sp->next_seq)
    sp->next_seq = sp->acked_seq + 1;
  if (sp->nsegs > 0 && sp->segs[sp->nsegs - 1].base > sp->next_seq)
    sp->next_seq = sp->segs[sp->nsegs - 1].base;
  if (sp->nsegs == 0) {
    int durable = sp->opts.fsync_policy != FLEET_SPOOL_FSYNC_NEVER;
    if ((rc = fleet_seg__create(&sp->wfd, &sp->dir, sp->next_seq, durable)) != 0)
      return rc;
    if ((rc = push_seg(sp, sp->next_seq, FLEET_SEG_FILE_HDR, 0)) != 0)
      return rc;
    sp->rpos = FLEET_SEG_FILE_HDR;
    sp->rlast = sp->next_seq - 1;
  }
  return 0;
}

int fleet_spool_open(fleet_spool_t **out, const char *dir, const fleet_spool_options_t *opts)
{
  fleet_spool_options_t def = FLEET_SPOOL_OPTIONS_INIT;
  fleet_buf_t warnings = FLEET_BUF_INIT;
  fleet_spool_t *sp;
  int rc;

  if (out == NULL)
    return fleet_error__set(FLEET_EINVAL, "out: NULL");
  *out = NULL;
  if (dir == NULL || dir[0] == '\0')
    return fleet_error__set(FLEET_EINVAL, "dir: NULL or empty");
  if (opts == NULL)
    opts = &def;
  if ((rc = check_options(opts)) != 0)
    return rc;
  sp = calloc(1, sizeof *sp);
  if (sp == NULL)
    return fleet_error__oom();
  sp->opts = *opts;
  sp->wfd = sp->rfd = -1;
  sp->dir.dirfd = sp->dir.lockfd = -1;
  sp->st.version = FLEET_SPOOL_STATS_VERSION;
  if (pthread_mutex_init(&sp->mu, NULL) != 0) {
    free(sp);
    return fleet_error__oom();
  }
  sp->open_warnings = &warnings;
  rc = fleet_seg__dir_open(&sp->dir, dir, FLEET_SEG_KIND_SPOOL, "spool");
  if (rc == 0)
    rc = load(sp);
  sp->open_warnings = NULL;
  if (rc != 0) {
    fleet_buf_dispose(&warnings);
    if (sp->wfd >= 0)
      close(sp->wfd);
    fleet_seg__dir_close(&sp->dir);
    pthread_mutex_destroy(&sp->mu);
    free(sp->segs);
    free(sp->bad);
    free(sp);
    return rc;
  }
  sp->last_sync_ns = sp->last_ckpt_ns = fleet_seg__mono_ns();
  fleet_seg__open_warnings_done(&warnings);
  *out = sp;
  return 0;
}

void fleet_spool_free(fleet_spool_t *sp)
{
  int durable;
  if (sp == NULL)
    return;
  durable = sp->opts.fsync_policy != FLEET_SPOOL_FSYNC_NEVER;
  pthread_mutex_lock(&sp->mu);
  if (durable && sp->data_dirty)
    data_sync(sp);
  if (sp->acked_seq != sp->persisted_seq || (durable && !sp->persisted_durable))
    persist_ckpt(sp, durable);
  pthread_mutex_unlock(&sp->mu);
  if (sp->wfd >= 0)
    close(sp->wfd);
  if (sp->rfd >= 0)
    close(sp->rfd);
  fleet_seg__dir_close(&sp->dir);
  pthread_mutex_destroy(&sp->mu);
  free(sp->segs);
  free(sp->bad);
  free(sp);
}

/* ---- periodic durability -------------------------------------------------- */

static int maybe_sync(fleet_spool_t *sp)
{
  uint64_t now, interval = (uint64_t)sp->opts.fsync_interval_ms * 1000000u;
  int rc = 0;

  if (sp->opts.fsync_policy == FLEET_SPOOL_FSYNC_ALWAYS)
    return 0;
  now = fleet_seg__mono_ns();
  if (sp->opts.fsync_policy == FLEET_SPOOL_FSYNC_INTERVAL && sp->data_dirty &&
      now - sp->last_sync_ns >= interval)
    rc = data_sync(sp);
  if (rc == 0 && sp->acked_seq != sp->persisted_seq && now - sp->last_ckpt_ns >= interval)
    rc = persist_ckpt(sp, sp->opts.fsync_policy == FLEET_SPOOL_FSYNC_INTERVAL);
  return rc;
}

int fleet_spool_sync(fleet_spool_t *sp)
{
  int rc = 0;
  if (sp == NULL)
    return fleet_error__set(FLEET_EINVAL, "spool: NULL");
  pthread_mutex_lock(&sp->mu);
  if (sp->data_dirty)
    rc = data_sync(sp);
  if (rc == 0 && (sp->acked_seq != sp->persisted_seq || !sp->persisted_durable))
    rc = persist_ckpt(sp, 1);
  pthread_mutex_unlock(&sp->mu);
  return rc;
}

/* ---- append --------------------------------------------------------------- */

/* Make room for `need` more bytes (plus a segment header when rolling) under max_bytes. */
static int make_room(fleet_spool_t *sp, uint64_t need, int *roll_needed)
{
  uint64_t max = sp->opts.max_bytes;
  int rc;

  if (max == 0 || sp->bytes + need + (*roll_needed ? FLEET_SEG_FILE_HDR : 0) <= max)
    return 0;
  /* Everything acknowledged: the newest segment holds only delivered records. */
  if (unacked_total(sp) == 0 && sp->segs[sp->nsegs - 1].size > FLEET_SEG_FILE_HDR) {
    if ((rc = roll(sp)) != 0)
      return rc;
    while (sp->nsegs > 1)
      if ((rc = pop_front(sp)) != 0)
        return rc;
    *roll_needed = 0;
    if (sp->bytes + need <= max)
      return 0;
  }
  if (sp->opts.full_policy == FLEET_SPOOL_FULL_REJECT) {
    sp->st.rejected_full++;
    return fleet_error__set(FLEET_EFULL,
                            "spool %s: full: %" PRIu64 " of max_bytes %" PRIu64
                            " used, a %" PRIu64 "-byte record does not fit",
                            sp->dir.path, sp->bytes, max, need);
  }
  while (sp->bytes + need + (*roll_needed ? FLEET_SEG_FILE_HDR : 0) > max) {
    if (sp->nsegs == 1) {
      /* Only the newest segment is left: seal it so it can go too. */
      if ((rc = roll(sp)) != 0)
        return rc;
      *roll_needed = 0;
    }
    if ((rc = drop_oldest(sp)) != 0)
      return rc;
  }
  return 0;
}

int fleet_spool_append(uint64_t *out_seq, fleet_spool_t *sp, const void *data, size_t len)
{
  uint8_t hdr[FLEET_SEG_REC_HDR];
  struct iovec iov[2];
  spool_seg_t *act;
  uint64_t need;
  ssize_t wrote;
  int rc, roll_needed;

  if (sp == NULL || data == NULL)
    return fleet_error__set(FLEET_EINVAL, "%s: NULL", sp == NULL ? "spool" : "data");
  if (len == 0)
    return fleet_error__set(FLEET_EINVAL, "len: 0; a record holds at least one byte");
  if (len > FLEET_SPOOL_RECORD_MAX)
    return fleet_error__set(FLEET_ETOOBIG, "len: %zu is over FLEET_SPOOL_RECORD_MAX (%u)",
                            len, FLEET_SPOOL_RECORD_MAX);
  need = FLEET_SEG_REC_HDR + (uint64_t)len;
  if (sp->opts.max_bytes != 0 && need + FLEET_SEG_FILE_HDR > sp->opts.max_bytes)
    return fleet_error__set(FLEET_ETOOBIG,
                            "len: a %zu-byte record cannot fit in max_bytes (%" PRIu64 ")",
                            len, sp->opts.max_bytes);
  fleet_seg__rec_header(hdr, 0, (uint32_t)len, fleet_seg__crc32c(0, data, len));

  pthread_mutex_lock(&sp->mu);
  act = &sp->segs[sp->nsegs - 1];
  roll_needed = act->size > FLEET_SEG_FILE_HDR && act->size + need > sp->opts.segment_bytes;
  if ((rc = make_room(sp, need, &roll_needed)) != 0)
    goto out;
  if (roll_needed && (rc = roll(sp)) != 0)
    goto out;
  act = &sp->segs[sp->nsegs - 1];
  /* The header went through the CRC once already; only its seq and CRC change. */
  fleet_seg__rec_header(hdr, sp->next_seq, (uint32_t)len, fleet_seg__get32(hdr + 16));
  iov[0] = (struct iovec){hdr, sizeof hdr};
  iov[1] = (struct iovec){(void *)(uintptr_t)data, len};
  wrote = pwritev(sp->wfd, iov, 2, (off_t)act->size);
  if (wrote != (ssize_t)need) {
    int err = wrote < 0 ? errno : ENOSPC;
    /* Cut the partial record off so the file ends on a record boundary. */
    if (ftruncate(sp->wfd, (off_t)act->size) != 0) {
      /* The torn bytes stay; the next open truncates them. */
    }
    rc = sys_error(sp, "write", act->base, err);
    goto out;
  }
  act->size += need;
  act->unacked++;
  sp->bytes += need;
  if (out_seq != NULL)
    *out_seq = sp->next_seq;
  sp->next_seq++;
  sp->st.appended++;
  sp->st.appended_bytes += len;
  sp->data_dirty = 1;
  if (sp->opts.fsync_policy == FLEET_SPOOL_FSYNC_ALWAYS)
    rc = data_sync(sp);
  else
    rc = maybe_sync(sp);
out:
  pthread_mutex_unlock(&sp->mu);
  return rc;
}

/* ---- consume -------------------------------------------------------------- */

int fleet_spool_peek(fleet_buf_t *out, uint64_t *out_seq, fleet_spool_t *sp)
{
  int rc;

  if (out == NULL || sp == NULL)
    return fleet_error__set(FLEET_EINVAL, "%s: NULL", out == NULL ? "out" : "spool");
  fleet_buf_clear(out);
  pthread_mutex_lock(&sp->mu);
  for (;;) {
    ssize_t got;
    if ((rc = cursor_load(sp)) <= 0) {
      if (rc == 0)
        rc = fleet_error__set(FLEET_ENOTFOUND, "spool %s: empty (every record acknowledged)",
                              sp->dir.path);
      break;
    }
    if ((rc = fleet_buf_reserve(out, sp->rhdr.len)) != 0)
      break;
    got = pread(sp->rfd, out->ptr, sp->rhdr.len, (off_t)(sp->rpos + FLEET_SEG_REC_HDR));
    if (got == (ssize_t)sp->rhdr.len &&
        fleet_seg__crc32c(0, out->ptr, sp->rhdr.len) == sp->rhdr.payload_crc) {
      out->len = sp->rhdr.len;
      out->ptr[out->len] = '\0';
      if (out_seq != NULL)
        *out_seq = sp->rhdr.seq;
      rc = 0;
      break;
    }
    if (got < 0) {
      rc = sys_error(sp, "read", sp->segs[0].base, errno);
      break;
    }
    sp->rhdr_ok = 0;
    if ((rc = cursor_resync(sp)) != 0)
      break;
  }
  pthread_mutex_unlock(&sp->mu);
  if (rc != 0)
    fleet_buf_clear(out);
  return rc;
}

int fleet_spool_ack(fleet_spool_t *sp, uint64_t seq)
{
  int rc = 0;

  if (sp == NULL)
    return fleet_error__set(FLEET_EINVAL, "spool: NULL");
  pthread_mutex_lock(&sp->mu);
  if (seq >= sp->next_seq) {
    rc = fleet_error__set(FLEET_EINVAL,
                          "seq: %" PRIu64 " was never appended (next is %" PRIu64 ")", seq,
                          sp->next_seq);
    goto out;
  }
  if (seq <= sp->acked_seq)
    goto out;
  while ((rc = cursor_load(sp)) == 1 && sp->rhdr.seq <= seq) {
    cursor_advance(sp);
    sp->st.acked++;
  }
  if (rc > 0)
    rc = 0;
  sp->acked_seq = seq;
  if (sp->opts.fsync_policy == FLEET_SPOOL_FSYNC_ALWAYS) {
    int rc2 = persist_ckpt(sp, 1);
    if (rc == 0)
      rc = rc2;
  } else if (rc == 0) {
    rc = maybe_sync(sp);
  }
out:
  pthread_mutex_unlock(&sp->mu);
  return rc;
}

int fleet_spool_get_stats(fleet_spool_stats_t *out, fleet_spool_t *sp)
{
  if (out == NULL || sp == NULL)
    return fleet_error__set(FLEET_EINVAL, "%s: NULL", out == NULL ? "out" : "spool");
  if (out->version != FLEET_SPOOL_STATS_VERSION)
    return fleet_error__set(FLEET_EINVAL, "out->version: %u is not a known version (%u)",
                            out->version, FLEET_SPOOL_STATS_VERSION);
  pthread_mutex_lock(&sp->mu);
  *out = sp->st;
  out->records = unacked_total(sp);
  out->bytes = sp->bytes;
  out->segments = sp->nsegs;
  out->next_seq = sp->next_seq;
  out->acked_seq = sp->acked_seq;
  pthread_mutex_unlock(&sp->mu);
  return 0;
}
