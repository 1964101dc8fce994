/* idmap: open addressing with linear probing over FNV-1a hashes (idmap_int.h). */
#include "common_int.h"

#include <stdlib.h>
#include <string.h>

#include "idmap_int.h"

static uint32_t idmap_hash(const char *key)
{
  /* FNV-1a, 64-bit, folded: ids are short and a fixed seed keeps output deterministic. */
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
    h ^= *p;
    h *= 1099511628211ULL;
  }
  return (uint32_t)(h ^ (h >> 32));
}

int fleet_idmap__find(uint32_t *out_idx, const fleet_idmap__t *map, const char *key,
                      fleet_idmap__key_fn key_of, const void *ctx)
{
  if (map->cap == 0)
    return 0;
  uint32_t h = idmap_hash(key);
  size_t mask = map->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const fleet_idmap__bucket_t *b = &map->b[i];
    if (b->slot == 0)
      return 0;
    if (b->hash == h && strcmp(key_of(ctx, b->slot - 1), key) == 0) {
      *out_idx = b->slot - 1;
      return 1;
    }
  }
}

static void idmap_place(fleet_idmap__bucket_t *buckets, size_t cap, uint32_t h, uint32_t slot)
{
  size_t mask = cap - 1;
  size_t i = h & mask;
  while (buckets[i].slot != 0)
    i = (i + 1) & mask;
  buckets[i].hash = h;
  buckets[i].slot = slot;
}

int fleet_idmap__insert(fleet_idmap__t *map, const char *key, uint32_t idx)
{
  if (idx == UINT32_MAX)
    return fleet_error__set(FLEET_ENOMEM, "idmap: more than %u entries", UINT32_MAX - 1u);
  if ((map->n + 1) * 2 > map->cap) {
    size_t ncap = map->cap ? map->cap * 2 : 16;
    fleet_idmap__bucket_t *nb = calloc(ncap, sizeof(*nb));
    if (!nb)
      return fleet_error__oom();
    for (size_t i = 0; i < map->cap; i++)
      if (map->b[i].slot)
        idmap_place(nb, ncap, map->b[i].hash, map->b[i].slot);
    free(map->b);
    map->b = nb;
    map->cap = ncap;
  }
  idmap_place(map->b, map->cap, idmap_hash(key), idx + 1);
  map->n++;
  return 0;
}

void fleet_idmap__dispose(fleet_idmap__t *map)
{
  if (!map)
    return;
  free(map->b);
  map->b = NULL;
  map->cap = 0;
  map->n = 0;
}
