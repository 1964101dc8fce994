/*
 * idmap: a small open-addressing hash index from a vehicle id (a NUL-terminated
 * string) to a uint32 slot number in the owner's own array of records; and
 * idtable, such an array with its index.
 *
 * The map stores only hashes and slot numbers; the owner keeps the keys (in
 * its records) and lends them through a key function, so records may live in
 * a growable array and the index stays 8 bytes per entry. Iteration order is
 * the owner's business (trip and downsample keep records in order of first
 * appearance, which makes their output deterministic).
 *
 * Thread safety: one map per thread at a time; no global state.
 */
#ifndef FLEET_IDMAP_INT_H
#define FLEET_IDMAP_INT_H

#include <stddef.h>
#include <stdint.h>

/** Returns the key of slot `idx` (borrowed), for comparisons. */
typedef const char *(*fleet_idmap__key_fn)(const void *ctx, uint32_t idx);

/** One bucket; hash and slot side by side so that a probe touches one cache line. */
typedef struct fleet_idmap__bucket {
  uint32_t hash; /**< 32-bit hash of the key */
  uint32_t slot; /**< slot number + 1, 0 for an empty bucket */
} fleet_idmap__bucket_t;

typedef struct fleet_idmap {
  fleet_idmap__bucket_t *b; /**< the buckets */
  size_t cap;               /**< buckets, 0 or a power of two */
  size_t n;                 /**< entries */
} fleet_idmap__t;

#define FLEET_IDMAP__INIT {NULL, 0, 0}

/**
 * Find `key`. Returns 1 and sets *out_idx when present, else 0.
 * `key_of(ctx, idx)` gives the key stored for a slot.
 */
int fleet_idmap__find(uint32_t *out_idx, const fleet_idmap__t *map, const char *key,
                      fleet_idmap__key_fn key_of, const void *ctx);

/**
 * Add `key` -> `idx`; the key must not be present. Grows the table as needed
 * (load factor at most 1/2). Returns 0, or FLEET_ENOMEM with the map unchanged.
 */
int fleet_idmap__insert(fleet_idmap__t *map, const char *key, uint32_t idx);

/** Free the table and reset to FLEET_IDMAP__INIT. NULL-safe. */
void fleet_idmap__dispose(fleet_idmap__t *map);

/**
 * A growable array of fixed-size records, each holding its own key in a char
 * array member, kept in order of first appearance and indexed by an idmap
 * (the per-vehicle slots of trip and downsample). Records move when the array
 * grows: pointers to them are valid until the next fleet_idtable__add().
 */
typedef struct fleet_idtable {
  void *items;        /**< n records of `size` bytes */
  size_t n;           /**< records */
  size_t cap;         /**< records allocated */
  size_t size;        /**< bytes of a record */
  size_t key_off;     /**< offset of the key array in a record */
  size_t key_cap;     /**< bytes of the key array, its NUL included */
  fleet_idmap__t map; /**< key -> index in items */
} fleet_idtable__t;

/** An empty table of `type` records keyed by their char array `member`. */
#define FLEET_IDTABLE__INIT(type, member)                                              \
  {NULL, 0, 0, sizeof(type), offsetof(type, member), sizeof(((type *)0)->member),      \
   FLEET_IDMAP__INIT}

/** Record `i` (< t->n). */
static inline void *fleet_idtable__at(const fleet_idtable__t *t, size_t i)
{
  return (char *)t->items + i * t->size;
}

/** The record whose key is `key`, or NULL. */
void *fleet_idtable__find(const fleet_idtable__t *t, const char *key);

/**
 * Append a zeroed record holding a copy of `key` (absent from the table; cut
 * to key_cap - 1 bytes, so callers check the length first). Returns the
 * record, or NULL with FLEET_ENOMEM set and the table's records unchanged.
 */
void *fleet_idtable__add(fleet_idtable__t *t, const char *key);

/** Free the records and the index; the table is empty afterwards. NULL-safe. */
void fleet_idtable__dispose(fleet_idtable__t *t);

#endif /* FLEET_IDMAP_INT_H */
