/*
 * spool: a crash-safe, bounded, on-disk FIFO of opaque records.
 *
 * The InfluxDB writer spools every batch it could not deliver (server down,
 * 5xx, throttled) and replays the spool, oldest first, once the server answers
 * again, so an outage loses nothing. Telegraf keeps that buffer in memory and
 * overwrites the oldest metrics when it is full; the spool keeps it on disk and,
 * by default, refuses new records when full so the caller can push back.
 *
 * Layout: one directory holding
 *   - append-only segment files named after the sequence number of their first
 *     record, e.g. 00000000000000000001.seg, rolled at `segment_bytes`;
 *   - `checkpoint`, the highest acknowledged sequence number, rewritten
 *     atomically (write a temporary file, fsync, rename, fsync the directory);
 *   - `LOCK`, held with flock() while a handle is open, so two processes (or
 *     two handles) cannot use one spool at once.
 * Each record is a header (magic, payload length, sequence number, CRC32C of
 * the payload, CRC32C of the header) followed by the payload. The payload is
 * opaque: line protocol, gzip'ed line protocol, anything.
 *
 * Sequence numbers start at 1, increase by one per appended record and are
 * never reused, across restarts too (except the number of a record lost in a
 * crash, a torn tail, which the next append takes again). Records are
 * delivered in append order across segments.
 *
 * Consumer protocol:
 *     while (fleet_spool_peek(&buf, &seq, spool) == 0) {
 *       if (send(buf.ptr, buf.len) != 0) break;     // retry later
 *       fleet_spool_ack(spool, seq);
 *     }
 * peek returns the oldest unacknowledged record again and again until it is
 * acknowledged. Segments whose records are all acknowledged are deleted.
 *
 * Delivery guarantee: at least once. The acknowledged position reaches the
 * disk at every ack with FLEET_SPOOL_FSYNC_ALWAYS, otherwise at most
 * `fsync_interval_ms` after the ack (and at fleet_spool_sync() and
 * fleet_spool_free()). After a crash, records acknowledged in that last window
 * are delivered again. That is harmless for InfluxDB: a point with the same
 * series and timestamp overwrites itself, so replaying a batch is idempotent.
 * What is lost in a crash depends on the fsync policy (see fleet_spool_fsync_t).
 *
 * Damage found when opening (and when reading):
 *   - a torn tail (the process or the machine died in the middle of an append:
 *     a short header, a short payload or a CRC mismatch in the last record of
 *     the newest segment, with no valid record after it) is truncated away;
 *     every record before it is kept. Counted in `torn_truncated`.
 *   - corruption in the middle (a header or payload CRC mismatch followed by
 *     valid records) is skipped: the reader resynchronises on the next header
 *     whose magic and CRCs check out, and delivery goes on with it. Each damaged
 *     region counts once in `corrupt_skipped`.
 * Both are reported through the `on_event` callback and, for fleet_spool_open(),
 * through fleet_error_last() (see there).
 *
 * Thread safety: one handle may be used from several threads at once; every
 * function takes the handle's mutex (typically producers append while the
 * writer thread peeks and acks). fleet_spool_free() must not race with any
 * other call on the handle. File I/O, including fsync with
 * FLEET_SPOOL_FSYNC_ALWAYS, happens under the mutex, so a slow disk delays
 * the other threads' calls too.
 */
#ifndef FLEET_SPOOL_H
#define FLEET_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An open spool directory (opaque). */
typedef struct fleet_spool fleet_spool_t;

/** Largest record payload fleet_spool_append() accepts, in bytes (256 MiB). */
#define FLEET_SPOOL_RECORD_MAX (256u * 1024u * 1024u)
/** Smallest accepted `segment_bytes` (4 KiB). */
#define FLEET_SPOOL_SEGMENT_MIN 4096u
/** Default `segment_bytes` (16 MiB). */
#define FLEET_SPOOL_SEGMENT_DEFAULT (16u * 1024u * 1024u)
/** Default `max_bytes` (1 GiB). */
#define FLEET_SPOOL_MAX_BYTES_DEFAULT (1024ull * 1024u * 1024u)
/** Default `fsync_interval_ms`. */
#define FLEET_SPOOL_FSYNC_INTERVAL_DEFAULT 1000u

/** When appended data and acknowledgements are forced to stable storage. */
typedef enum fleet_spool_fsync {
  /** fdatasync before fleet_spool_append() returns, and the checkpoint is
   *  persisted at every ack. Survives power loss; the slowest. */
  FLEET_SPOOL_FSYNC_ALWAYS = 0,
  /** fdatasync at most every `fsync_interval_ms`: from fleet_spool_append()
   *  or fleet_spool_ack() when that much time has passed since the last one,
   *  and from fleet_spool_sync(). A process crash loses nothing that append
   *  accepted (it is in the page cache); a power loss loses at most the
   *  records appended since the last fdatasync. With no further calls nothing
   *  syncs, so to keep that bound when appends stop, call fleet_spool_sync()
   *  from a timer (the InfluxDB writer does so from its loop). The default. */
  FLEET_SPOOL_FSYNC_INTERVAL = 1,
  /** Never fsync; leave write-back to the kernel. Survives a process crash,
   *  not a power loss. The checkpoint is still replaced atomically (rename),
   *  at most every `fsync_interval_ms`. */
  FLEET_SPOOL_FSYNC_NEVER = 2
} fleet_spool_fsync_t;

/** What fleet_spool_append() does when the spool holds `max_bytes`. */
typedef enum fleet_spool_full {
  /** Refuse the new record with FLEET_EFULL (counted in `rejected_full`); the
   *  caller keeps it in memory or pushes back. Nothing stored is lost.
   *  The default. */
  FLEET_SPOOL_FULL_REJECT = 0,
  /** Delete the oldest segment(s), acknowledged or not, until the record fits
   *  (counted in `dropped_records` / `dropped_segments`, and reported through
   *  `on_event` with FLEET_SPOOL_EVENT_DROPPED every time). Keeps the newest
   *  data, like Telegraf, but on disk. */
  FLEET_SPOOL_FULL_DROP_OLDEST = 1
} fleet_spool_full_t;

/** Kinds of events passed to fleet_spool_event_cb. */
typedef enum fleet_spool_event {
  /** A torn record at the end of the newest segment was truncated (open). */
  FLEET_SPOOL_EVENT_TORN_TAIL = 1,
  /** A corrupt region was skipped (open, or a read that found damage). */
  FLEET_SPOOL_EVENT_CORRUPT = 2,
  /** Unacknowledged records were deleted by FLEET_SPOOL_FULL_DROP_OLDEST. */
  FLEET_SPOOL_EVENT_DROPPED = 3,
  /** The checkpoint file was unreadable; delivery restarts at the oldest
   *  stored record (at-least-once still holds). */
  FLEET_SPOOL_EVENT_CHECKPOINT_RESET = 4
} fleet_spool_event_t;

/**
 * Notification of data loss or repair, for logs and metrics.
 *
 * @param event    a fleet_spool_event_t value.
 * @param records  records affected (dropped records; 0 when unknown, e.g. for
 *                 a corrupt region or a torn tail).
 * @param message  what happened, with file names and offsets ("spool
 *                 /var/lib/fleetd/spool: dropped segment 00000000000000000001.seg
 *                 with 212 unacknowledged records (spool full)"); borrowed, valid
 *                 during the call.
 * @param userdata the options' `event_userdata`.
 *
 * Runs on the thread of the call that found the event (fleet_spool_open(),
 * fleet_spool_append(), fleet_spool_peek() or fleet_spool_ack()), with the
 * spool's mutex held: it must not call fleet_spool_* functions on the same
 * handle.
 */
typedef void (*fleet_spool_event_cb)(int event, uint64_t records,
                                     const char *message, void *userdata);

/** Options for fleet_spool_open(). */
typedef struct fleet_spool_options {
  unsigned int version;      /**< FLEET_SPOOL_OPTIONS_VERSION */
  /** Roll to a new segment once the current one reaches this size.
   *  At least FLEET_SPOOL_SEGMENT_MIN; default FLEET_SPOOL_SEGMENT_DEFAULT.
   *  A record larger than this gets a segment of its own. */
  uint64_t segment_bytes;
  /** Cap on the bytes the spool holds on disk (segment files, headers
   *  included); 0 for no cap. When non-zero, at least `segment_bytes`.
   *  Default FLEET_SPOOL_MAX_BYTES_DEFAULT. */
  uint64_t max_bytes;
  fleet_spool_fsync_t fsync_policy; /**< default FLEET_SPOOL_FSYNC_INTERVAL */
  /** Interval for FLEET_SPOOL_FSYNC_INTERVAL, and the longest delay before an
   *  ack is persisted under INTERVAL and NEVER. Default 1000 ms. */
  unsigned int fsync_interval_ms;
  fleet_spool_full_t full_policy;   /**< default FLEET_SPOOL_FULL_REJECT */
  fleet_spool_event_cb on_event;    /**< optional, NULL for none */
  void *event_userdata;             /**< passed to `on_event`; borrowed */
} fleet_spool_options_t;

#define FLEET_SPOOL_OPTIONS_VERSION 1
#define FLEET_SPOOL_OPTIONS_INIT                                                  \
  {FLEET_SPOOL_OPTIONS_VERSION, FLEET_SPOOL_SEGMENT_DEFAULT,                      \
   FLEET_SPOOL_MAX_BYTES_DEFAULT, FLEET_SPOOL_FSYNC_INTERVAL,                     \
   FLEET_SPOOL_FSYNC_INTERVAL_DEFAULT, FLEET_SPOOL_FULL_REJECT, NULL, NULL}

/**
 * Initialise options to their defaults.
 * Returns 0, or FLEET_EINVAL when `opts` is NULL or `version` is unknown.
 */
FLEET_API int fleet_spool_options_init(fleet_spool_options_t *opts,
                                       unsigned int version);

/**
 * Counters and sizes of a spool. Plain data owned by the caller; set `version`
 * (FLEET_SPOOL_STATS_INIT) before calling fleet_spool_get_stats(). "Since
 * open" counters start at 0 for every handle; the others describe the disk.
 */
typedef struct fleet_spool_stats {
  unsigned int version;      /**< FLEET_SPOOL_STATS_VERSION */
  uint64_t records;          /**< unacknowledged records stored */
  uint64_t bytes;            /**< bytes of all segment files on disk */
  uint64_t segments;         /**< segment files on disk */
  uint64_t next_seq;         /**< sequence number the next append gets */
  uint64_t acked_seq;        /**< highest acknowledged sequence number (0: none) */
  uint64_t appended;         /**< records appended since open */
  uint64_t appended_bytes;   /**< payload bytes appended since open */
  uint64_t acked;            /**< records acknowledged since open */
  uint64_t rejected_full;    /**< appends refused with FLEET_EFULL since open */
  uint64_t dropped_records;  /**< unacked records deleted by DROP_OLDEST since open */
  uint64_t dropped_segments; /**< segments deleted by DROP_OLDEST since open */
  uint64_t corrupt_skipped;  /**< corrupt regions skipped since open (open included) */
  uint64_t torn_truncated;   /**< torn tails truncated by open */
  uint64_t syncs;            /**< fdatasync calls on segments since open */
} fleet_spool_stats_t;

#define FLEET_SPOOL_STATS_VERSION 1
/* Every field spelled out, so -Wmissing-field-initializers stays quiet in callers. */
#define FLEET_SPOOL_STATS_INIT {FLEET_SPOOL_STATS_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

/**
 * Open (creating it when missing, mode 0700) the spool directory `dir`, scan
 * its segments, repair a torn tail, skip corrupt regions and position the
 * consumer after the checkpoint. Every stored record not below the checkpoint
 * is read and CRC-checked once, so opening a large spool takes as long as
 * reading it (segments wholly acknowledged are deleted unread).
 *
 * @param out  receives the handle (owned: release with fleet_spool_free()).
 *             Set to NULL on failure.
 * @param dir  directory path; borrowed (copied). Its parent must exist.
 * @param opts options, or NULL for the defaults; borrowed (copied).
 * @return 0 on success. When the open repaired damage it still returns 0, and
 *   then fleet_error_last_code() is FLEET_ECORRUPT and fleet_error_last()
 *   describes the repairs; after a clean open the thread's last error is
 *   cleared. Failures: FLEET_EINVAL (NULL arguments, bad options), FLEET_EIO
 *   (cannot create, lock, read or write the directory), FLEET_ESTATE (another
 *   handle or process has the spool open), FLEET_EVERSION (a segment of an
 *   unknown format or of another kind of log), FLEET_ENOMEM.
 */
FLEET_API int fleet_spool_open(fleet_spool_t **out, const char *dir,
                               const fleet_spool_options_t *opts);

/**
 * Close the spool: persist the acknowledged position (fsync'ed unless the
 * policy is FLEET_SPOOL_FSYNC_NEVER), fdatasync appended data (same rule),
 * release the lock and free the handle. NULL-safe. Errors at this point cannot
 * be reported; call fleet_spool_sync() first to see them.
 */
FLEET_API void fleet_spool_free(fleet_spool_t *spool);

/**
 * Append one record.
 *
 * @param out_seq optional (NULL to ignore): receives the record's sequence number.
 * @param spool   the spool.
 * @param data    payload bytes; borrowed (written out before the call returns).
 * @param len     payload length, 1 to FLEET_SPOOL_RECORD_MAX.
 * @return 0 once the record is written per the fsync policy, or:
 *   FLEET_EFULL (policy FLEET_SPOOL_FULL_REJECT and the record would take the
 *   spool over `max_bytes`; nothing was written), FLEET_ETOOBIG (`len` over
 *   FLEET_SPOOL_RECORD_MAX or over `max_bytes` on its own), FLEET_EINVAL,
 *   FLEET_EIO (write or fsync failed, e.g. disk full: the partial record is
 *   cut off again so the spool stays consistent).
 * Thread-safe.
 */
FLEET_API int fleet_spool_append(uint64_t *out_seq, fleet_spool_t *spool,
                                 const void *data, size_t len);

/**
 * Copy the oldest unacknowledged record into `out`. Calling it again without
 * an ack returns the same record.
 *
 * @param out     caller-owned buffer; its previous contents are replaced (it
 *                is cleared, then the payload is appended; reuse it across
 *                calls to avoid allocation). `out->ptr` is NUL-terminated.
 * @param out_seq optional (NULL to ignore): the record's sequence number, to
 *                pass to fleet_spool_ack().
 * @param spool   the spool.
 * @return 0, FLEET_ENOTFOUND when every stored record is acknowledged (the
 *   spool is empty; `out` is cleared), FLEET_EINVAL, FLEET_ENOMEM, FLEET_EIO.
 *   A record found damaged on the way is skipped (counted and reported through
 *   `on_event`) and the next good one is returned.
 * Thread-safe; the copy is the caller's, so appends and acks from other
 * threads do not affect it.
 */
FLEET_API int fleet_spool_peek(fleet_buf_t *out, uint64_t *out_seq,
                               fleet_spool_t *spool);

/**
 * Acknowledge every record up to and including `seq`: they will not be
 * delivered again (except after a crash, within the window described at the
 * top of this file). Segments left without unacknowledged records are deleted.
 * Acknowledging an already acknowledged sequence number does nothing.
 *
 * @return 0, FLEET_EINVAL (`seq` was never appended: it is >= next_seq),
 *   FLEET_EIO (persisting the checkpoint or deleting a segment failed; the ack
 *   itself is kept in memory and persisted by a later call).
 * Thread-safe.
 */
FLEET_API int fleet_spool_ack(fleet_spool_t *spool, uint64_t seq);

/**
 * Force appended records and the acknowledged position to stable storage now
 * (fdatasync of the current segment, then write-temp + fsync + rename of the
 * checkpoint), whatever the fsync policy. Cheap when there is nothing new.
 * Returns 0, FLEET_EINVAL or FLEET_EIO. Thread-safe.
 */
FLEET_API int fleet_spool_sync(fleet_spool_t *spool);

/**
 * Fill `out` (whose `version` the caller set, FLEET_SPOOL_STATS_INIT) with the
 * spool's counters. Returns 0 or FLEET_EINVAL (NULL, unknown version).
 * Thread-safe.
 */
FLEET_API int fleet_spool_get_stats(fleet_spool_stats_t *out, fleet_spool_t *spool);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_SPOOL_H */
