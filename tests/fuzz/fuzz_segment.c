/* Fuzz the segment scanner that the spool and the ingest log run over whatever
 * they find on disk after a crash: any bytes must give records inside the
 * buffer with matching CRCs, rising sequence numbers, damage regions that move
 * forward, and an end. */
#include "common_int.h"

#include <stdlib.h>
#include <string.h>

#include "segment_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fleet_seg_scan_t s;
  fleet_seg_rec_t r;
  uint64_t last = 0, floor = 0, steps = 0;
  uint64_t start = size >= FLEET_SEG_FILE_HDR ? FLEET_SEG_FILE_HDR : 0;
  int res;

  (void)fleet_seg__check_file_header(data, size, FLEET_SEG_KIND_SPOOL);
  fleet_seg__scan_init(&s, data, size, start, 0);
  while ((res = fleet_seg__scan_next(&s, &r)) != FLEET_SEG_END) {
    if (++steps > size + 2)
      abort(); /* every step consumes at least one byte */
    switch (res) {
    case FLEET_SEG_RECORD:
      if (r.off < floor || r.off + FLEET_SEG_REC_HDR + r.len > size || r.seq <= last ||
          r.payload != data + r.off + FLEET_SEG_REC_HDR ||
          fleet_seg__crc32c(0, r.payload, r.len) != fleet_seg__get32(data + r.off + 16))
        abort();
      last = r.seq;
      floor = r.off + FLEET_SEG_REC_HDR + r.len;
      break;
    case FLEET_SEG_CORRUPT:
      if (s.bad_start < floor || s.bad_end <= s.bad_start || s.bad_end > size ||
          s.pos != s.bad_end)
        abort();
      floor = s.bad_end;
      break;
    case FLEET_SEG_TORN:
      if (s.bad_start < floor || s.bad_end != size || s.bad_start >= size)
        abort();
      floor = size;
      break;
    default:
      abort();
    }
  }
  if (s.pos > size)
    abort();
  return 0;
}
