/*
 * ingestlog: the write-ahead log of received MQTT messages, for fleetd.
 *
 * fleetd appends every telemetry message to the log first thing in its MQTT
 * message callback, then parses and processes it. Once InfluxDB has confirmed
 * the points of everything up to a sequence number, fleetd checkpoints that
 * number; at start it replays every message after the checkpoint, so a crash
 * between receiving a message and storing its point loses nothing.
 *
 *     fleet_ingestlog_open(&log, "/var/lib/fleetd/wal", NULL);
 *     fleet_ingestlog_replay(log, reprocess, ctx);      // at start
 *     ... in on_message: fleet_ingestlog_append(&seq, log, topic, payload, len);
 *     ... timer:         fleet_ingestlog_sync(log);
 *     ... writer:        fleet_ingestlog_checkpoint(log, confirmed_seq);
 *
 * What survives what (the honest guarantee):
 *   - An append copies the record into the page cache (the segment file is
 *     mapped shared; no system call, no fsync) and returns. From then on the
 *     message survives a crash of the process, whatever kills it.
 *   - A crash of the operating system or a power loss can lose what was
 *     appended after the last fleet_ingestlog_sync() (or automatic sync, see
 *     the options): the loss is bounded by the sync interval. A record torn by
 *     such a crash is detected by its CRC and cut off at the next open; every
 *     record before it is kept.
 *   - The MQTT acknowledgement happens outside this log. libmosquitto 2.0.11
 *     sends the QoS 1 PUBACK *before* it calls on_message, so a process crash
 *     between the PUBACK and the append loses that one message: the broker
 *     considers it delivered. Appending first thing in the callback keeps that
 *     window to a few microseconds; it cannot be closed from this side.
 *   - Replay is at least once: the messages between the last persisted
 *     checkpoint and the crash are processed again. InfluxDB makes that
 *     harmless (same series and timestamp overwrite the same point).
 *
 * Layout and format: a directory of segment files named after their first
 * sequence number (00000000000000000001.seg), preallocated to `segment_bytes`
 * and filled by a shared memory mapping, a `checkpoint` file replaced
 * atomically (write temporary, fsync, rename, fsync directory) and a `LOCK`
 * file held with flock(). The record format (header with magic, length,
 * sequence number, CRC32C of the payload and of the header) and the repair
 * rules are the spool's (see fleet/spool.h): torn tails are truncated at open
 * (counted in `torn_truncated`), corrupt regions in the middle are skipped by
 * replay (counted in `corrupt_skipped`). Each record stores the topic, the
 * payload and the receive time (CLOCK_REALTIME at append).
 *
 * Sequence numbers start at 1, rise by one per append and are never reused,
 * across restarts too (except the numbers of records lost to an OS crash before
 * their sync, which later appends take again; never below the checkpoint).
 *
 * Disk use: the log grows until checkpointed; segments whose records are all
 * at or below the checkpoint are deleted. Watch `bytes` in the stats.
 *
 * Thread safety: one handle may be used from several threads at once
 * (typically the MQTT thread appends, a timer syncs, the InfluxDB writer
 * checkpoints). Appends take a mutex for the copy (and, once per segment, to
 * create and preallocate the next segment); sync and checkpoint do their
 * fsyncs without holding it, so they never stall appends for a disk flush.
 * fleet_ingestlog_free() must not race with any other call.
 */
#ifndef FLEET_INGESTLOG_H
#define FLEET_INGESTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An open ingest log (opaque). */
typedef struct fleet_ingestlog fleet_ingestlog_t;

/** Longest topic, in bytes (the MQTT limit). */
#define FLEET_INGESTLOG_TOPIC_MAX 65535u
/** Largest payload, in bytes (64 MiB). */
#define FLEET_INGESTLOG_PAYLOAD_MAX (64u * 1024u * 1024u)
/** Smallest accepted `segment_bytes` (4 KiB). */
#define FLEET_INGESTLOG_SEGMENT_MIN 4096u
/** Default `segment_bytes` (64 MiB). */
#define FLEET_INGESTLOG_SEGMENT_DEFAULT (64u * 1024u * 1024u)
/** Default `sync_interval_ms`. */
#define FLEET_INGESTLOG_SYNC_INTERVAL_DEFAULT 1000u

/** Kinds of events passed to fleet_ingestlog_event_cb (same values as the spool's). */
typedef enum fleet_ingestlog_event {
  /** A torn record at the end of the newest segment was truncated (open). */
  FLEET_INGESTLOG_EVENT_TORN_TAIL = 1,
  /** A corrupt region was skipped (replay). */
  FLEET_INGESTLOG_EVENT_CORRUPT = 2,
  /** The checkpoint file was unreadable; replay starts at the oldest record. */
  FLEET_INGESTLOG_EVENT_CHECKPOINT_RESET = 4
} fleet_ingestlog_event_t;

/**
 * Notification of repairs, for logs and metrics.
 *
 * @param event    a fleet_ingestlog_event_t value.
 * @param message  what happened, with the file and offsets; borrowed, valid
 *                 during the call.
 * @param userdata the options' `event_userdata`.
 *
 * Runs on the thread calling fleet_ingestlog_open() or fleet_ingestlog_replay(),
 * without the handle's mutex held; during open the handle is not yet usable.
 */
typedef void (*fleet_ingestlog_event_cb)(int event, const char *message, void *userdata);

/** Options for fleet_ingestlog_open(). */
typedef struct fleet_ingestlog_options {
  unsigned int version;  /**< FLEET_INGESTLOG_OPTIONS_VERSION */
  /** Size each segment file is preallocated to, and rolled at. At least
   *  FLEET_INGESTLOG_SEGMENT_MIN; default FLEET_INGESTLOG_SEGMENT_DEFAULT. A
   *  record larger than this gets a segment of its own. */
  uint64_t segment_bytes;
  /** Sync from fleet_ingestlog_append() once this many records were appended
   *  since the last sync (1: every append). 0 (the default): off. */
  unsigned int sync_every;
  /** Sync from fleet_ingestlog_append() when this many milliseconds passed since
   *  the last sync. 0: off. Default FLEET_INGESTLOG_SYNC_INTERVAL_DEFAULT.
   *  An automatic sync runs in the appending thread and makes that append wait
   *  for the disk; fleetd sets this to 0 and calls fleet_ingestlog_sync() from
   *  its own timer instead, so the MQTT thread never waits for an fsync. */
  unsigned int sync_interval_ms;
  fleet_ingestlog_event_cb on_event; /**< optional, NULL for none */
  void *event_userdata;              /**< passed to `on_event`; borrowed */
} fleet_ingestlog_options_t;

#define FLEET_INGESTLOG_OPTIONS_VERSION 1
#define FLEET_INGESTLOG_OPTIONS_INIT                                              \
  {FLEET_INGESTLOG_OPTIONS_VERSION, FLEET_INGESTLOG_SEGMENT_DEFAULT, 0,           \
   FLEET_INGESTLOG_SYNC_INTERVAL_DEFAULT, NULL, NULL}

/**
 * Initialise options to their defaults.
 * Returns 0, or FLEET_EINVAL when `opts` is NULL or `version` is unknown.
 */
FLEET_API int fleet_ingestlog_options_init(fleet_ingestlog_options_t *opts,
                                           unsigned int version);

/** One logged message, as replay delivers it. Plain data; every pointer is
 *  borrowed and valid only during the callback. */
typedef struct fleet_ingestlog_record {
  uint64_t seq;          /**< sequence number given by fleet_ingestlog_append() */
  int64_t recv_time_ns;  /**< CLOCK_REALTIME at append, ns since the Unix epoch */
  const char *topic;     /**< NUL-terminated */
  size_t topic_len;      /**< strlen(topic) */
  const void *payload;   /**< `payload_len` bytes (not NUL-terminated) */
  size_t payload_len;
} fleet_ingestlog_record_t;

/**
 * Called by fleet_ingestlog_replay() once per record, in sequence order.
 * Return 0 to go on; any other value stops the replay and is returned by it.
 */
typedef int (*fleet_ingestlog_replay_cb)(const fleet_ingestlog_record_t *rec,
                                         void *userdata);

/** Counters and sizes. Set `version` (FLEET_INGESTLOG_STATS_INIT) before the call. */
typedef struct fleet_ingestlog_stats {
  unsigned int version;     /**< FLEET_INGESTLOG_STATS_VERSION */
  uint64_t next_seq;        /**< sequence number the next append gets */
  uint64_t checkpoint_seq;  /**< the checkpoint (0: none yet) */
  uint64_t synced_seq;      /**< every record up to this one has been fsync'ed
                                 (0: none since open) */
  uint64_t segments;        /**< segment files on disk */
  uint64_t bytes;           /**< their size on disk (the newest is preallocated) */
  uint64_t appended;        /**< records appended since open */
  uint64_t appended_bytes;  /**< payload bytes appended since open */
  uint64_t syncs;           /**< syncs that flushed something, since open */
  uint64_t replayed;        /**< records delivered by replay since open */
  uint64_t corrupt_skipped; /**< corrupt regions skipped by replay since open */
  uint64_t torn_truncated;  /**< torn tails truncated by open */
} fleet_ingestlog_stats_t;

#define FLEET_INGESTLOG_STATS_VERSION 1
/* Every field spelled out, so -Wmissing-field-initializers stays quiet in callers. */
#define FLEET_INGESTLOG_STATS_INIT {FLEET_INGESTLOG_STATS_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

/**
 * Open (creating it when missing, mode 0700) the log directory `dir`. Repairs
 * a torn tail in the newest segment and deletes segments wholly below the
 * checkpoint.
 *
 * @param out  receives the handle (owned: fleet_ingestlog_free()); NULL on failure.
 * @param dir  directory path; borrowed (copied). Its parent must exist.
 * @param opts options, or NULL for the defaults; borrowed (copied).
 * @return 0 on success; when it repaired damage, still 0, with
 *   fleet_error_last_code() FLEET_ECORRUPT and fleet_error_last() describing
 *   the repair (after a clean open the thread's last error is cleared).
 *   Failures: FLEET_EINVAL, FLEET_EIO (cannot create, lock, read, preallocate
 *   or map), FLEET_ESTATE (open in another handle or process), FLEET_EVERSION
 *   (a segment or checkpoint of another format or kind), FLEET_ENOMEM.
 */
FLEET_API int fleet_ingestlog_open(fleet_ingestlog_t **out, const char *dir,
                                   const fleet_ingestlog_options_t *opts);

/**
 * Sync everything appended, close the log and free the handle. NULL-safe.
 * Errors cannot be reported here; call fleet_ingestlog_sync() first to see them.
 */
FLEET_API void fleet_ingestlog_free(fleet_ingestlog_t *log);

/**
 * Append one message. Copies it into the page cache and returns without a
 * system call (unless a new segment is due, or an automatic sync per the
 * options). For a 200-byte message that is about 0.1 µs of CPU in user space
 * plus the kernel's cost of supplying fresh page-cache pages on first touch:
 * 0.15-0.4 µs in all on the test machine depending on its load, a fifth to a
 * third of the cost of one write() per message (bench_spool measures both).
 *
 * @param out_seq optional (NULL to ignore): the record's sequence number.
 * @param log     the log.
 * @param topic   NUL-terminated MQTT topic, at most FLEET_INGESTLOG_TOPIC_MAX
 *                bytes; borrowed.
 * @param payload `len` bytes; borrowed; may be NULL when `len` is 0.
 * @param len     at most FLEET_INGESTLOG_PAYLOAD_MAX.
 * @return 0, FLEET_EINVAL (NULL arguments), FLEET_ETOOBIG (topic or payload
 *   too long), FLEET_EIO (a new segment could not be created, preallocated or
 *   mapped, e.g. the disk is full: the message is not logged; or an automatic
 *   sync failed: the message is logged, its durability unknown).
 * Thread-safe.
 */
FLEET_API int fleet_ingestlog_append(uint64_t *out_seq, fleet_ingestlog_t *log,
                                     const char *topic, const void *payload, size_t len);

/**
 * fdatasync every record appended before the call (and the directory when a
 * segment was created). Concurrent appends go on meanwhile; they are covered by
 * the next sync. Returns immediately when there is nothing new.
 * Returns 0, FLEET_EINVAL or FLEET_EIO. Thread-safe.
 */
FLEET_API int fleet_ingestlog_sync(fleet_ingestlog_t *log);

/**
 * Record that every message up to and including `seq` is safely stored
 * downstream: persist the checkpoint atomically and durably, then delete the
 * segments whose records are all at or below it. A `seq` at or below the
 * current checkpoint does nothing.
 * Returns 0, FLEET_EINVAL (NULL, or `seq` was never appended), FLEET_EIO
 * (the checkpoint could not be written: the old one stays in force).
 * Thread-safe; does not block appends while it writes.
 */
FLEET_API int fleet_ingestlog_checkpoint(fleet_ingestlog_t *log, uint64_t seq);

/**
 * Deliver every record after the checkpoint, oldest first, to `cb` on the
 * calling thread. Meant for start-up, before the first append; records
 * appended during a replay are not included. Corrupt regions are skipped,
 * counted and reported through `on_event`. The callback may call
 * fleet_ingestlog_checkpoint() and fleet_ingestlog_sync(), and other threads
 * may, since no lock is held while it runs.
 *
 * @return 0 after the last record, the callback's non-zero value when it
 *   stopped the replay, FLEET_EINVAL, FLEET_EIO, FLEET_ENOMEM.
 */
FLEET_API int fleet_ingestlog_replay(fleet_ingestlog_t *log,
                                     fleet_ingestlog_replay_cb cb, void *userdata);

/**
 * Fill `out` (whose `version` the caller set) with the log's counters.
 * Returns 0 or FLEET_EINVAL. Thread-safe.
 */
FLEET_API int fleet_ingestlog_get_stats(fleet_ingestlog_stats_t *out,
                                        fleet_ingestlog_t *log);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_INGESTLOG_H */
