/* idmap: open addressing with linear probing over FNV-1a hashes; idtable (idmap_int.h). */
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

static const char *idtable_key(const void *ctx, uint32_t idx)
{
  const fleet_idtable__t *t = ctx;
  return (const char *)fleet_idtable__at(t, idx) + t->key_off;
}

void *fleet_idtable__find(const fleet_idtable__t *t, const char *key)
{
  uint32_t idx;
  if (!fleet_idmap__find(&idx, &t->map, key, idtable_key, t))
    return NULL;
  return fleet_idtable__at(t, idx);
}

void *fleet_idtable__add(fleet_idtable__t *t, const char *key)
{
  if (t->n == t->cap) {
    size_t ncap = t->cap ? t->cap * 2 : 16;
    void *ni = realloc(t->items, ncap * t->size);
    if (!ni) {
      fleet_error__oom();
      return NULL;
    }
    t->items = ni;
    t->cap = ncap;
  }
  if (fleet_idmap__insert(&t->map, key, (uint32_t)t->n))
    return NULL;
  char *rec = fleet_idtable__at(t, t->n++);
  memset(rec, 0, t->size);
  size_t len = strnlen(key, t->key_cap - 1);
  memcpy(rec + t->key_off, key, len);
  return rec;
}

void fleet_idtable__dispose(fleet_idtable__t *t)
{
  if (!t)
    return;
  free(t->items);
  t->items = NULL;
  t->n = 0;
  t->cap = 0;
  fleet_idmap__dispose(&t->map);
}
