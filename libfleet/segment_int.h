/*
 * segment: the on-disk record format shared by the spool and the ingest log.
 *
 * One implementation of what both logs need: CRC32C, the segment file header,
 * the record header, scanning a segment (with resynchronisation after damage
 * and torn-tail detection), the directory of segments (names, lock file) and
 * the atomic checkpoint file. Writing strategy (write() for the spool, a shared
 * memory mapping for the ingest log) stays with each module.
 *
 * Segment file:  [file header, 32 bytes][record][record]...
 *   file header: "FLEETSEG" | u32 format version (1) | u32 kind | u64 base seq
 *                | u32 reserved (0) | u32 CRC32C of the preceding 28 bytes
 * Record:        [record header, 24 bytes][payload]
 *   header:      u32 magic | u32 payload length | u64 seq | u32 CRC32C(payload)
 *                | u32 CRC32C of the preceding 20 bytes of the header
 * All integers little-endian. A segment is named after its base sequence number
 * (%020llu.seg); its records carry sequence numbers >= base, strictly rising.
 * Bytes after the last record may be zeros (a preallocated ingest log segment);
 * zeros are a clean end, anything else is damage.
 *
 * Checkpoint file "checkpoint": "FLEETCKP" | u32 version (1) | u32 kind | u64 seq
 *                | u32 CRC32C of the preceding 24 bytes | u32 reserved (0).
 */
#ifndef FLEET_SEGMENT_INT_H
#define FLEET_SEGMENT_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common_int.h"

#define FLEET_SEG_FILE_HDR 32u
#define FLEET_SEG_REC_HDR 24u
/** "FLRC" read as a little-endian u32. */
#define FLEET_SEG_REC_MAGIC 0x43524c46u
#define FLEET_SEG_FORMAT_VERSION 1u
/** Largest payload the record format accepts (both logs cap lower or equal). */
#define FLEET_SEG_PAYLOAD_MAX (256u * 1024u * 1024u)
#define FLEET_SEG_CKPT_SIZE 32u
#define FLEET_SEG_NAME_LEN 24 /* 20 digits + ".seg" */

/** What a directory of segments holds; a log refuses segments of the other kind. */
enum fleet_seg_kind { FLEET_SEG_KIND_SPOOL = 1, FLEET_SEG_KIND_INGESTLOG = 2 };

static inline void fleet_seg__put32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static inline void fleet_seg__put64(uint8_t *p, uint64_t v)
{
  fleet_seg__put32(p, (uint32_t)v);
  fleet_seg__put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t fleet_seg__get32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static inline uint64_t fleet_seg__get64(const uint8_t *p)
{
  return (uint64_t)fleet_seg__get32(p) | (uint64_t)fleet_seg__get32(p + 4) << 32;
}

/** CRC32C (Castagnoli) continuing from `crc` (0 to start). SSE4.2 when available. */
uint32_t fleet_seg__crc32c(uint32_t crc, const void *data, size_t len);

/** Fill a segment file header. */
void fleet_seg__file_header(uint8_t out[FLEET_SEG_FILE_HDR], uint32_t kind, uint64_t base);

/**
 * Check a segment file header of `len` available bytes. Returns 0, FLEET_ECORRUPT
 * (short, bad magic or CRC) or FLEET_EVERSION (a valid header of another format
 * version or kind). Sets no error message.
 */
int fleet_seg__check_file_header(const uint8_t *p, size_t len, uint32_t kind);

/** Fill a record header for a payload of `len` bytes whose CRC32C is `payload_crc`. */
void fleet_seg__rec_header(uint8_t out[FLEET_SEG_REC_HDR], uint64_t seq, uint32_t len,
                           uint32_t payload_crc);

/** A decoded, header-checked record header. */
typedef struct fleet_seg_hdr {
  uint64_t seq;
  uint32_t len;
  uint32_t payload_crc;
} fleet_seg_hdr_t;

/** Decode and check a record header (magic, header CRC, length limit). 0 or -1. */
int fleet_seg__parse_rec_header(fleet_seg_hdr_t *out, const uint8_t p[FLEET_SEG_REC_HDR]);

/** Outcomes of fleet_seg__scan_next(). */
enum fleet_seg_scan_result {
  FLEET_SEG_END = 0,     /**< no more records; the rest is empty or zeros */
  FLEET_SEG_RECORD = 1,  /**< a valid record */
  FLEET_SEG_CORRUPT = 2, /**< a damaged region [bad_start, bad_end) was skipped;
                              a valid record starts at bad_end */
  FLEET_SEG_TORN = 3     /**< damage from bad_start to the end with no valid
                              record after it (a torn tail, when in the newest
                              segment); further calls return END */
};

/** A record found by the scanner: points into the scanned memory. */
typedef struct fleet_seg_rec {
  uint64_t seq;
  uint64_t off; /**< offset of the record header */
  uint32_t len;
  const uint8_t *payload;
} fleet_seg_rec_t;

/** Scanner over the bytes of one segment held in memory (usually mapped). */
typedef struct fleet_seg_scan {
  const uint8_t *data;
  uint64_t size;
  uint64_t pos;      /**< next offset to read; after TORN or END, the clean end */
  uint64_t last_seq; /**< records must have seq > last_seq */
  uint64_t bad_start, bad_end;
  int done;
} fleet_seg_scan_t;

/** Start scanning `size` bytes at offset `pos`, accepting records with seq > last_seq. */
void fleet_seg__scan_init(fleet_seg_scan_t *s, const uint8_t *data, uint64_t size,
                          uint64_t pos, uint64_t last_seq);

/** Step to the next record; see fleet_seg_scan_result. */
int fleet_seg__scan_next(fleet_seg_scan_t *s, fleet_seg_rec_t *rec);

/** Whether a complete valid record with seq > last_seq starts at `pos`. */
int fleet_seg__valid_at(const uint8_t *data, uint64_t size, uint64_t pos,
                        uint64_t last_seq, fleet_seg_hdr_t *out);

/** A directory of segments, locked for the lifetime of the handle. */
typedef struct fleet_segdir {
  char *path;
  int dirfd;
  int lockfd;
  uint32_t kind;
  const char *what; /**< "spool" or "ingest log", for messages */
} fleet_segdir_t;

/**
 * Open (mkdir 0700 when missing) and lock `path`. Returns 0, FLEET_EIO,
 * FLEET_ESTATE (locked elsewhere) or FLEET_ENOMEM, with the error message set.
 * Removes a stale temporary checkpoint.
 */
int fleet_seg__dir_open(fleet_segdir_t *d, const char *path, uint32_t kind,
                        const char *what);

/** Unlock and close. Safe on a zeroed or partially opened struct (fds -1). */
void fleet_seg__dir_close(fleet_segdir_t *d);

/** The base sequence numbers of the segments in the directory, ascending (malloc'd). */
int fleet_seg__dir_list(uint64_t **out, size_t *out_n, const fleet_segdir_t *d);

/** "%020llu.seg" into `out`. */
void fleet_seg__name(char out[FLEET_SEG_NAME_LEN + 1], uint64_t base);

/**
 * Set the message of a failed system call on segment `base`, "<what> <path>:
 * <op> <segment name>: <strerror(err)>", the form of every I/O error of both
 * logs. Returns FLEET_EIO.
 */
int fleet_seg__io_error(const fleet_segdir_t *d, const char *op, uint64_t base, int err);

/**
 * Format an event report of the log in `d` into `msg` (at most `cap` bytes):
 * "<what> <path>: " then `fmt`. While the log is being opened (`warnings`
 * non-NULL) the report is also appended to `warnings`, "; "-separated, with the
 * "<what> <path>: " prefix on the first report only.
 */
void fleet_seg__vreport(char *msg, size_t cap, fleet_buf_t *warnings, const fleet_segdir_t *d,
                        const char *fmt, va_list ap) FLEET_PRINTF(5, 0);

/**
 * End of a successful open: the warnings gathered by fleet_seg__vreport()
 * become the detailed message (code FLEET_ECORRUPT, though the open returns
 * 0), or the message is cleared when there were none; `warnings` is disposed.
 */
void fleet_seg__open_warnings_done(fleet_buf_t *warnings);

/**
 * Create segment `base` (O_EXCL) holding just its file header, open read-write.
 * With `durable`, the file and the directory are fsync'ed. Returns 0 or FLEET_EIO.
 */
int fleet_seg__create(int *out_fd, const fleet_segdir_t *d, uint64_t base, int durable);

/** Open segment `base` with `flags` (O_CLOEXEC added). 0 or FLEET_EIO, with errno
 * kept from the failed open (ENOENT: the segment is gone). */
int fleet_seg__open(int *out_fd, const fleet_segdir_t *d, uint64_t base, int flags);

/** Delete segment `base`. 0 or FLEET_EIO (a missing file is not an error). */
int fleet_seg__unlink(const fleet_segdir_t *d, uint64_t base);

/** fsync the directory itself (after creating, renaming or deleting entries). */
int fleet_seg__fsync_dir(const fleet_segdir_t *d);

/**
 * Map `size` bytes of `fd` read-only (`*out` NULL when size is 0). 0 or FLEET_EIO.
 * Release with fleet_seg__unmap().
 */
int fleet_seg__map(const uint8_t **out, int fd, uint64_t size);
void fleet_seg__unmap(const uint8_t *p, uint64_t size);

/**
 * Read the checkpoint. A missing file gives 0 and *out_reset = 0; an
 * unreadable or damaged one gives 0 and *out_reset = 1 (the caller reports it).
 * Returns 0, or FLEET_EVERSION (another version or kind of log).
 */
int fleet_seg__ckpt_read(uint64_t *out, int *out_reset, const fleet_segdir_t *d);

/**
 * Replace the checkpoint atomically: write "checkpoint.tmp", fsync it when
 * `durable`, rename it over "checkpoint", fsync the directory when `durable`.
 * Returns 0 or FLEET_EIO with the message set.
 */
int fleet_seg__ckpt_write(const fleet_segdir_t *d, uint64_t seq, int durable);

/** CLOCK_MONOTONIC in nanoseconds. */
uint64_t fleet_seg__mono_ns(void);

#endif /* FLEET_SEGMENT_INT_H */
