/* tracker: per-vehicle state, zone membership with debounce, and the event pipeline
 * (trips, zones, rules, hourly aggregates). */
#include "common_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/geo.h"
#include "fleet/tracker.h"
#include "idmap_int.h"
#include "rules_int.h"
#include "telemetry_int.h"
#include "trip_int.h"

#define NS_PER_S 1000000000.0
/* Vehicles live in fixed chunks: stable addresses, no realloc copies, and
 * memory that grows in steps of CHUNK records rather than by doubling. */
#define CHUNK_SHIFT 8
#define CHUNK (1u << CHUNK_SHIFT)
#define LOOKUP_STACK 32

/* A zone the vehicle is in, since when. */
typedef struct zin {
  uint32_t key;
  uint32_t reserved;
  int64_t since_ns;
} zin_t;

/* A zone change seen but not yet confirmed by the debounce. */
typedef struct zpend {
  uint32_t key;
  uint16_t count; /* consecutive fixes showing the change */
  uint8_t enter;  /* 1: entering, 0: leaving */
  uint8_t reserved;
  int64_t first_ns; /* first fix on the new side */
  double lat;
  double lng;
} zpend_t;

/* A confirmed zone change, to deliver once the membership is committed. */
typedef struct zev {
  uint32_t key;
  int enter;
  int64_t ts_ns;
  double lat;
  double lng;
  double dwell_s;
} zev_t;

enum vehicle_flag { V_MOVING = 1u << 0, V_OFFLINE = 1u << 1 };

typedef struct vehicle {
  char id[FLEET_VEHICLE_ID_MAX + 1];
  int8_t ign; /* last reported ignition, -1 never */
  uint8_t flags;
  uint8_t reserved;
  uint32_t present; /* FLEET_TELEMETRY_SPEED / _HEADING bits of the newest fix */
  int64_t ts_ns;
  double lat;
  double lng;
  float speed_kmh;
  float heading_deg;
  uint32_t fixes;
  uint32_t zone_epoch; /* snapshot epoch of the last zone lookup, 0 never */
  uint32_t n_in;
  uint32_t cap_in;
  uint32_t n_pend;
  uint32_t cap_pend;
  zin_t *zin;
  zpend_t *zpend;
  fleet_rules__vstate_t *rules;
  const fleet_trip_params_t *params;
  fleet_trip__state_t trip;
} vehicle_t;

typedef struct override {
  char id[FLEET_VEHICLE_ID_MAX + 1];
  int active;
  fleet_trip_params_t params;
} override_t;

typedef struct zinfo {
  char *id;
  char *name;
  double limit_kmh; /* NAN when the zone has no speed_limit */
  uint64_t gen;     /* snapshot generation it was read from */
  int read;         /* gen is meaningful */
} zinfo_t;

struct fleet_tracker {
  fleet_tracker_event_cb cb;
  void *ud;
  const fleet_zoneset_t *zones;
  fleet_zoneset_snapshot_t *snap;
  uint64_t snap_gen;
  uint32_t snap_epoch;
  fleet_ruleset_t *rules;
  fleet_trip_params_t params;
  unsigned int debounce_fixes;
  int64_t debounce_ns;
  int64_t offline_ns;
  fleet_downsampler_t *ds;

  vehicle_t **chunks;
  size_t n_chunks;
  size_t n;
  fleet_idmap__t map;

  override_t **ovr;
  size_t n_ovr;
  size_t cap_ovr;
  fleet_idmap__t ovr_map;

  zinfo_t *zinfo;
  size_t n_zinfo;

  /* Scratch space reused by every fix. */
  uint32_t *keys;
  size_t cap_keys;
  zin_t *s_in;
  size_t cap_s_in;
  zpend_t *s_pend;
  size_t cap_s_pend;
  zev_t *s_ev;
  size_t cap_s_ev;

  fleet_tracker_stats_t stats;
};

/* What the relays need to turn module events into tracker events. */
typedef struct relay {
  fleet_tracker_t *t;
  const char *vehicle_id;
  double lat;
  double lng;
  uint32_t zone_key;
  const char *zone_id;
  const char *zone_name;
} relay_t;

/* later - earlier, saturated (see rules.c): record times span 1678-2261 and the
 * tick clock is any int64. */
static int64_t span_ns(int64_t later, int64_t earlier)
{
  int64_t d;
  if (__builtin_sub_overflow(later, earlier, &d))
    return later > earlier ? INT64_MAX : INT64_MIN;
  return d;
}

static vehicle_t *vat(const fleet_tracker_t *t, size_t i)
{
  return &t->chunks[i >> CHUNK_SHIFT][i & (CHUNK - 1)];
}

static const char *vehicle_key(const void *ctx, uint32_t idx)
{
  return vat(ctx, idx)->id;
}

static const char *override_key(const void *ctx, uint32_t idx)
{
  const fleet_tracker_t *t = ctx;
  return t->ovr[idx]->id;
}

static vehicle_t *vfind(const fleet_tracker_t *t, const char *id)
{
  uint32_t idx;
  if (!fleet_idmap__find(&idx, &t->map, id, vehicle_key, t))
    return NULL;
  return vat(t, idx);
}

static override_t *ofind(const fleet_tracker_t *t, const char *id)
{
  uint32_t idx;
  if (!t->n_ovr || !fleet_idmap__find(&idx, &t->ovr_map, id, override_key, t))
    return NULL;
  return t->ovr[idx];
}

/* Grow a scratch or per-vehicle array to hold at least `need` elements. */
static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
  if (need <= *cap)
    return 0;
  size_t c = *cap ? *cap : 4;
  while (c < need)
    c *= 2;
  void *q = realloc(*p, c * elem);
  if (!q)
    return fleet_error__oom();
  *p = q;
  *cap = c;
  return 0;
}

/* ---- options, lifecycle ---------------------------------------------------- */

int fleet_tracker_opts_init(fleet_tracker_opts_t *opts, unsigned int version)
{
  if (!opts)
    return fleet_error__set(FLEET_EINVAL, "opts is NULL");
  if (version != FLEET_TRACKER_OPTS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "fleet_tracker_opts_t version %u is not supported",
                            version);
  const fleet_tracker_opts_t def = FLEET_TRACKER_OPTS_INIT;
  *opts = def;
  return 0;
}

static int emit(fleet_tracker_t *t, const fleet_tracker_event_t *ev)
{
  t->stats.events++;
  if (ev->type == FLEET_TRACKER_EVENT_ALERT)
    t->stats.alerts++;
  return t->cb(ev, t->ud);
}

static int hourly_relay(const fleet_hourly_t *agg, void *ud)
{
  fleet_tracker_t *t = ud;
  fleet_tracker_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = FLEET_TRACKER_EVENT_HOURLY;
  ev.vehicle_id = agg->vehicle_id;
  ev.ts_ns = agg->hour_ns;
  ev.lat = agg->last_lat;
  ev.lng = agg->last_lng;
  ev.hourly = agg;
  return emit(t, &ev);
}

int fleet_tracker_new(fleet_tracker_t **out, const fleet_tracker_opts_t *opts,
                      fleet_tracker_event_cb cb, void *userdata)
{
  if (!out)
    return fleet_error__set(FLEET_EINVAL, "out is NULL");
  *out = NULL;
  if (!cb)
    return fleet_error__set(FLEET_EINVAL, "an event callback is required");
  fleet_tracker_opts_t def = FLEET_TRACKER_OPTS_INIT;
  if (!opts)
    opts = &def;
  if (opts->version != FLEET_TRACKER_OPTS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "fleet_tracker_opts_t version %u is not supported",
                            opts->version);
  if (opts->zone_debounce_fixes < 1 ||
      opts->zone_debounce_fixes > FLEET_TRACKER_MAX_DEBOUNCE_FIXES)
    return fleet_error__set(FLEET_ERANGE, "zone_debounce_fixes: %u is outside [1, %u]",
                            opts->zone_debounce_fixes, FLEET_TRACKER_MAX_DEBOUNCE_FIXES);
  if (!(opts->zone_debounce_s >= 0 && opts->zone_debounce_s <= 86400))
    return fleet_error__set(FLEET_ERANGE, "zone_debounce_s: %g is outside [0, 86400]",
                            opts->zone_debounce_s);
  if (!(opts->offline_after_s >= 0 && opts->offline_after_s <= 1e9))
    return fleet_error__set(FLEET_ERANGE, "offline_after_s: %g is outside [0, 1e9]",
                            opts->offline_after_s);
  int rc;
  if (opts->trip_params && (rc = fleet_trip_params_validate(opts->trip_params)))
    return rc;
  fleet_tracker_t *t = calloc(1, sizeof *t);
  if (!t)
    return fleet_error__oom();
  t->cb = cb;
  t->ud = userdata;
  t->zones = opts->zones;
  if (opts->trip_params)
    t->params = *opts->trip_params;
  else
    fleet_trip_params_init(&t->params, FLEET_TRIP_PARAMS_VERSION);
  t->debounce_fixes = opts->zone_debounce_fixes;
  t->debounce_ns = (int64_t)llround(opts->zone_debounce_s * NS_PER_S);
  t->offline_ns = (int64_t)llround(opts->offline_after_s * NS_PER_S);
  t->stats.version = FLEET_TRACKER_STATS_VERSION;
  if (opts->hourly && (rc = fleet_downsampler_new(&t->ds, opts->hourly, hourly_relay, t))) {
    free(t);
    return rc;
  }
  if (opts->rules)
    t->rules = fleet_ruleset_ref(opts->rules);
  *out = t;
  return 0;
}

void fleet_tracker_free(fleet_tracker_t *t)
{
  if (!t)
    return;
  for (size_t i = 0; i < t->n; i++) {
    vehicle_t *v = vat(t, i);
    free(v->zin);
    free(v->zpend);
    fleet_rules__state_free(v->rules);
  }
  for (size_t c = 0; c < t->n_chunks; c++)
    free(t->chunks[c]);
  free(t->chunks);
  fleet_idmap__dispose(&t->map);
  for (size_t i = 0; i < t->n_ovr; i++)
    free(t->ovr[i]);
  free(t->ovr);
  fleet_idmap__dispose(&t->ovr_map);
  for (size_t i = 0; i < t->n_zinfo; i++) {
    free(t->zinfo[i].id);
    free(t->zinfo[i].name);
  }
  free(t->zinfo);
  free(t->keys);
  free(t->s_in);
  free(t->s_pend);
  free(t->s_ev);
  fleet_zoneset_snapshot_free(t->snap);
  fleet_downsampler_free(t->ds);
  fleet_ruleset_free(t->rules);
  free(t);
}

/* ---- vehicles -------------------------------------------------------------- */

static int vehicle_create(vehicle_t **out, fleet_tracker_t *t, const char *id)
{
  if (t->n >= UINT32_MAX - 1)
    return fleet_error__set(FLEET_ETOOBIG, "the tracker holds %zu vehicles already", t->n);
  size_t c = t->n >> CHUNK_SHIFT;
  if (c >= t->n_chunks) {
    vehicle_t **chunks = realloc(t->chunks, (c + 1) * sizeof *chunks);
    if (!chunks)
      return fleet_error__oom();
    t->chunks = chunks;
    t->chunks[c] = malloc(CHUNK * sizeof(vehicle_t));
    if (!t->chunks[c])
      return fleet_error__oom();
    t->n_chunks = c + 1;
  }
  vehicle_t *v = vat(t, t->n);
  memset(v, 0, sizeof *v);
  snprintf(v->id, sizeof v->id, "%s", id);
  v->ign = -1;
  fleet_trip__init(&v->trip);
  override_t *o = ofind(t, id);
  v->params = o && o->active ? &o->params : &t->params;
  int rc = fleet_rules__state_build(&v->rules, t->rules, id, NULL, NULL);
  if (rc)
    return rc;
  if ((rc = fleet_idmap__insert(&t->map, v->id, (uint32_t)t->n))) {
    fleet_rules__state_free(v->rules);
    return rc;
  }
  t->n++;
  t->stats.vehicles = t->n;
  *out = v;
  return 0;
}

static int check_record(const fleet_telemetry_t *rec)
{
  size_t len = strnlen(rec->vehicle_id, sizeof rec->vehicle_id);
  if (len == 0)
    return fleet_error__set(FLEET_EINVAL, "vehicle_id: missing (the tracker keys state by it)");
  int rc = fleet_vehicle_id_validate(rec->vehicle_id, len);
  if (rc)
    return rc;
  /* Every optional number: the rules read battery, temperature and fuel too. */
  return fleet_telemetry__check_fix(
      rec, FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_HEADING | FLEET_TELEMETRY_ODOMETER |
               FLEET_TELEMETRY_BATTERY_V | FLEET_TELEMETRY_ENGINE_TEMP |
               FLEET_TELEMETRY_FUEL_LEVEL);
}

/* ---- relays ---------------------------------------------------------------- */

static int trip_relay(const fleet_trip_event_t *tev, void *ud)
{
  const relay_t *r = ud;
  fleet_tracker_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.vehicle_id = r->vehicle_id;
  switch (tev->type) {
  case FLEET_TRIP_EVENT_TRIP_START:
    ev.type = FLEET_TRACKER_EVENT_TRIP_START;
    ev.ts_ns = tev->trip.start_ns;
    ev.lat = tev->trip.start_lat;
    ev.lng = tev->trip.start_lng;
    ev.trip = &tev->trip;
    break;
  case FLEET_TRIP_EVENT_TRIP_END:
    ev.type = FLEET_TRACKER_EVENT_TRIP_END;
    ev.ts_ns = tev->trip.end_ns;
    ev.lat = tev->trip.end_lat;
    ev.lng = tev->trip.end_lng;
    ev.trip = &tev->trip;
    break;
  default:
    ev.type = FLEET_TRACKER_EVENT_STOP;
    ev.ts_ns = tev->stop.start_ns;
    ev.lat = tev->stop.lat;
    ev.lng = tev->stop.lng;
    ev.stop = &tev->stop;
    break;
  }
  return emit(r->t, &ev);
}

static int alert_relay(void *ud, int64_t ts, const fleet_alert_t *a)
{
  const relay_t *r = ud;
  fleet_tracker_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = FLEET_TRACKER_EVENT_ALERT;
  ev.vehicle_id = r->vehicle_id;
  ev.ts_ns = ts;
  ev.lat = r->lat;
  ev.lng = r->lng;
  ev.zone_key = r->zone_key;
  ev.zone_id = r->zone_id;
  ev.zone_name = r->zone_name;
  ev.alert = a;
  return emit(r->t, &ev);
}

/* ---- zones ----------------------------------------------------------------- */

static int snap_refresh(fleet_tracker_t *t)
{
  uint64_t gen = fleet_zoneset_generation(t->zones);
  if (t->snap && gen == t->snap_gen)
    return 0;
  fleet_zoneset_snapshot_t *s = NULL;
  int rc = fleet_zoneset_snapshot(&s, t->zones);
  if (rc)
    return rc;
  fleet_zoneset_snapshot_free(t->snap);
  t->snap = s;
  t->snap_gen = fleet_zoneset_snapshot_generation(s);
  if (++t->snap_epoch == 0)
    t->snap_epoch = 1;
  return 0;
}

static int replace_str(char **dst, const char *src)
{
  if (*dst && !strcmp(*dst, src))
    return 0;
  char *s = strdup(src);
  if (!s)
    return fleet_error__oom();
  free(*dst);
  *dst = s;
  return 0;
}

/* The id, name and speed limit of a zone, as of the current snapshot or, for a
 * zone that has since been removed, as last seen. */
static int zinfo_get(const zinfo_t **out, fleet_tracker_t *t, uint32_t key)
{
  if (key >= t->n_zinfo) {
    size_t n = t->n_zinfo ? t->n_zinfo : 16;
    while (n <= key)
      n *= 2;
    zinfo_t *p = realloc(t->zinfo, n * sizeof *p);
    if (!p)
      return fleet_error__oom();
    memset(p + t->n_zinfo, 0, (n - t->n_zinfo) * sizeof *p);
    t->zinfo = p;
    t->n_zinfo = n;
  }
  zinfo_t *zi = &t->zinfo[key];
  if (!zi->read || zi->gen != t->snap_gen) {
    const fleet_zone_t *z = t->snap ? fleet_zoneset_snapshot_get(t->snap, key) : NULL;
    if (z) {
      int rc = replace_str(&zi->id, fleet_zone_id(z));
      if (!rc)
        rc = replace_str(&zi->name, fleet_zone_name(z));
      if (rc)
        return rc;
      double lim;
      zi->limit_kmh = fleet_zone_property_number(&lim, z, "speed_limit") == 0 &&
                          isfinite(lim) && lim > 0
                        ? lim
                        : NAN;
    } else if (!zi->id) {
      char tmp[16];
      snprintf(tmp, sizeof tmp, "#%u", key);
      if (replace_str(&zi->id, tmp))
        return FLEET_ENOMEM;
      zi->limit_kmh = NAN;
    }
    zi->gen = t->snap_gen;
    zi->read = 1;
  }
  *out = zi;
  return 0;
}

/* The zones containing the fix, sorted, into t->keys. When neither the position
 * nor the zone set changed since the vehicle's last lookup, the answer is the
 * one that lookup gave, which the membership lists still encode: the zones the
 * vehicle is in and not leaving, plus those it is entering. */
static int zones_lookup(size_t *out_n, fleet_tracker_t *t, vehicle_t *v, bool same_place)
{
  size_t n = 0;
  if (same_place && v->zone_epoch == t->snap_epoch) {
    int rc = grow((void **)&t->keys, &t->cap_keys, (size_t)v->n_in + v->n_pend, sizeof *t->keys);
    if (rc)
      return rc;
    uint32_t i = 0, p = 0;
    while (i < v->n_in || p < v->n_pend) {
      if (p >= v->n_pend || (i < v->n_in && v->zin[i].key < v->zpend[p].key)) {
        t->keys[n++] = v->zin[i++].key;
      } else if (i >= v->n_in || v->zpend[p].key < v->zin[i].key) {
        if (v->zpend[p].enter)
          t->keys[n++] = v->zpend[p].key;
        p++;
      } else {
        if (v->zpend[p].enter)
          t->keys[n++] = v->zin[i].key;
        i++;
        p++;
      }
    }
    *out_n = n;
    return 0;
  }
  if (t->cap_keys < LOOKUP_STACK) {
    int rc = grow((void **)&t->keys, &t->cap_keys, LOOKUP_STACK, sizeof *t->keys);
    if (rc)
      return rc;
  }
  for (;;) {
    int rc = fleet_zoneset_snapshot_lookup(t->keys, t->cap_keys, &n, t->snap, v->lat, v->lng);
    if (rc == FLEET_ETOOBIG) {
      if ((rc = grow((void **)&t->keys, &t->cap_keys, n, sizeof *t->keys)))
        return rc;
      continue;
    }
    if (rc)
      return rc;
    break;
  }
  v->zone_epoch = t->snap_epoch;
  *out_n = n;
  return 0;
}

static int push_in(fleet_tracker_t *t, size_t *n, zin_t z)
{
  int rc = grow((void **)&t->s_in, &t->cap_s_in, *n + 1, sizeof z);
  if (!rc)
    t->s_in[(*n)++] = z;
  return rc;
}

static int push_pend(fleet_tracker_t *t, size_t *n, zpend_t z)
{
  int rc = grow((void **)&t->s_pend, &t->cap_s_pend, *n + 1, sizeof z);
  if (!rc)
    t->s_pend[(*n)++] = z;
  return rc;
}

static int push_ev(fleet_tracker_t *t, size_t *n, zev_t z)
{
  int rc = grow((void **)&t->s_ev, &t->cap_s_ev, *n + 1, sizeof z);
  if (!rc)
    t->s_ev[(*n)++] = z;
  return rc;
}

/* Replace a vehicle's list with the scratch one; an empty list holds no memory. */
static int commit_list(void **list, uint32_t *n, uint32_t *cap, const void *src, size_t count,
                       size_t elem)
{
  if (!count) {
    free(*list);
    *list = NULL;
    *n = 0;
    *cap = 0;
    return 0;
  }
  if (count > *cap) {
    void *p = realloc(*list, count * elem);
    if (!p)
      return fleet_error__oom();
    *list = p;
    *cap = (uint32_t)count;
  }
  memcpy(*list, src, count * elem);
  *n = (uint32_t)count;
  return 0;
}

static int deliver_zone_event(fleet_tracker_t *t, vehicle_t *v, const zev_t *z)
{
  const zinfo_t *zi;
  int rc = zinfo_get(&zi, t, z->key);
  if (rc)
    return rc;
  fleet_tracker_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = z->enter ? FLEET_TRACKER_EVENT_ZONE_ENTER : FLEET_TRACKER_EVENT_ZONE_EXIT;
  ev.vehicle_id = v->id;
  ev.ts_ns = z->ts_ns;
  ev.lat = z->lat;
  ev.lng = z->lng;
  ev.zone_key = z->key;
  ev.zone_id = zi->id;
  ev.zone_name = zi->name ? zi->name : zi->id;
  ev.dwell_s = z->dwell_s;
  if ((rc = emit(t, &ev)))
    return rc;
  if (!fleet_rules__has_zone_rules(t->rules))
    return 0;
  relay_t r = {t, v->id, z->lat, z->lng, z->key, ev.zone_id, ev.zone_name};
  return fleet_rules__eval_zone(v->rules, t->rules, z->ts_ns, z->enter, ev.zone_id,
                                ev.zone_name, z->dwell_s, alert_relay, &r);
}

static int zones_update(fleet_tracker_t *t, vehicle_t *v, bool same_place)
{
  int rc = snap_refresh(t);
  if (rc)
    return rc;
  size_t n_l;
  if ((rc = zones_lookup(&n_l, t, v, same_place)))
    return rc;
  const uint32_t *l = t->keys;
  int64_t ts = v->ts_ns;
  size_t i = 0, n_in = 0, n_pend = 0, n_ev = 0;
  uint32_t j = 0, p = 0;
  while (i < n_l || j < v->n_in || p < v->n_pend) {
    uint32_t k = UINT32_MAX;
    if (i < n_l && l[i] < k)
      k = l[i];
    if (j < v->n_in && v->zin[j].key < k)
      k = v->zin[j].key;
    if (p < v->n_pend && v->zpend[p].key < k)
      k = v->zpend[p].key;
    bool in_l = i < n_l && l[i] == k;
    const zin_t *cur = j < v->n_in && v->zin[j].key == k ? &v->zin[j] : NULL;
    const zpend_t *pend = p < v->n_pend && v->zpend[p].key == k ? &v->zpend[p] : NULL;
    i += in_l;
    j += cur != NULL;
    p += pend != NULL;
    if (in_l == (cur != NULL)) {
      /* No change (a pending one is cancelled by this fix). */
      if (cur && (rc = push_in(t, &n_in, *cur)))
        return rc;
      continue;
    }
    zpend_t np;
    if (pend && pend->enter == in_l) {
      np = *pend;
      if (np.count < UINT16_MAX)
        np.count++;
    } else {
      memset(&np, 0, sizeof np);
      np.key = k;
      np.count = 1;
      np.enter = in_l;
      np.first_ns = ts;
      np.lat = v->lat;
      np.lng = v->lng;
    }
    if (np.count >= t->debounce_fixes && span_ns(ts, np.first_ns) >= t->debounce_ns) {
      zev_t z = {k, in_l, np.first_ns, np.lat, np.lng, 0};
      if (in_l) {
        zin_t zi = {k, 0, np.first_ns};
        rc = push_in(t, &n_in, zi);
      } else {
        z.dwell_s = ((double)np.first_ns - (double)cur->since_ns) / NS_PER_S;
      }
      if (rc || (rc = push_ev(t, &n_ev, z)))
        return rc;
    } else {
      if ((rc = push_pend(t, &n_pend, np)) || (cur && (rc = push_in(t, &n_in, *cur))))
        return rc;
    }
  }
  if ((rc = commit_list((void **)&v->zin, &v->n_in, &v->cap_in, t->s_in, n_in, sizeof(zin_t))) ||
      (rc = commit_list((void **)&v->zpend, &v->n_pend, &v->cap_pend, t->s_pend, n_pend,
                        sizeof(zpend_t))))
    return rc;
  /* Leaving comes before entering: exits first, then enters, each by key. */
  for (int pass = 0; pass < 2; pass++)
    for (size_t e = 0; e < n_ev; e++)
      if (t->s_ev[e].enter == pass && (rc = deliver_zone_event(t, v, &t->s_ev[e])))
        return rc;
  return 0;
}

/* The lowest speed_limit among the zones the vehicle is in, NAN for none. */
static int zone_limit(double *out, fleet_tracker_t *t, const vehicle_t *v)
{
  double lim = NAN;
  for (uint32_t i = 0; i < v->n_in; i++) {
    const zinfo_t *zi;
    int rc = zinfo_get(&zi, t, v->zin[i].key);
    if (rc)
      return rc;
    if (!isnan(zi->limit_kmh) && (isnan(lim) || zi->limit_kmh < lim))
      lim = zi->limit_kmh;
  }
  *out = lim;
  return 0;
}

/* ---- feed, tick, flush ----------------------------------------------------- */

static int deliver_late(fleet_tracker_t *t, vehicle_t *v, const fleet_telemetry_t *rec)
{
  t->stats.late++;
  fleet_tracker_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = FLEET_TRACKER_EVENT_LATE;
  ev.vehicle_id = v->id;
  ev.ts_ns = rec->ts_ns;
  ev.lat = rec->lat;
  ev.lng = rec->lng;
  ev.record = rec;
  int rc = emit(t, &ev);
  if (rc)
    return rc;
  /* Hourly figures do not depend on order: let the downsampler correct its hour. */
  return t->ds ? fleet_downsampler_feed(NULL, t->ds, rec) : 0;
}

int fleet_tracker_feed(fleet_tracker_t *t, const fleet_telemetry_t *rec)
{
  if (!t || !rec)
    return fleet_error__set(FLEET_EINVAL, "tracker or record is NULL");
  int rc = check_record(rec);
  if (rc) {
    t->stats.rejected++;
    return rc;
  }
  vehicle_t *v = vfind(t, rec->vehicle_id);
  if (!v && (rc = vehicle_create(&v, t, rec->vehicle_id)))
    return rc;
  bool had = v->fixes > 0;
  if (had && rec->ts_ns == v->ts_ns) {
    t->stats.duplicates++;
    return 0;
  }
  if (had && rec->ts_ns < v->ts_ns)
    return deliver_late(t, v, rec);

  const fleet_trip_params_t *params = v->params;
  bool same_place = had && rec->lat == v->lat && rec->lng == v->lng;
  int prev_ign = v->ign;
  bool moving;
  if (rec->present & FLEET_TELEMETRY_SPEED) {
    moving = rec->speed_kmh > params->speed_threshold_kmh;
  } else if (had) {
    double dt = ((double)rec->ts_ns - (double)v->ts_ns) / NS_PER_S;
    double d = fleet_geo_distance_m(v->lat, v->lng, rec->lat, rec->lng);
    moving = d / dt * 3.6 > params->speed_threshold_kmh;
  } else {
    moving = false;
  }
  /* The vehicle's record is up to date before any event, so callbacks that read
   * it see this fix. */
  v->ts_ns = rec->ts_ns;
  v->lat = rec->lat;
  v->lng = rec->lng;
  v->present = rec->present & (FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_HEADING);
  v->speed_kmh = (rec->present & FLEET_TELEMETRY_SPEED) ? (float)rec->speed_kmh : 0.0f;
  v->heading_deg = (rec->present & FLEET_TELEMETRY_HEADING) ? (float)rec->heading_deg : 0.0f;
  if (rec->present & FLEET_TELEMETRY_IGNITION)
    v->ign = rec->ignition ? 1 : 0;
  v->flags = (uint8_t)((v->flags & ~(V_MOVING | V_OFFLINE)) | (moving ? V_MOVING : 0));
  if (v->fixes < UINT32_MAX)
    v->fixes++;
  t->stats.fixes++;

  relay_t r = {t, v->id, rec->lat, rec->lng, 0, NULL, NULL};
  if ((rc = fleet_trip__feed(NULL, &v->trip, params, rec, trip_relay, &r)))
    return rc;
  if (t->zones && (rc = zones_update(t, v, same_place)))
    return rc;
  if (t->rules) {
    fleet_rules__fix_t fx;
    fx.ts_ns = rec->ts_ns;
    fx.present = rec->present;
    fx.speed_kmh = rec->speed_kmh;
    fx.battery_v = rec->battery_v;
    fx.engine_temp_c = rec->engine_temp_c;
    fx.fuel_level_pct = rec->fuel_level_pct;
    fx.ignition = rec->ignition ? 1 : 0;
    fx.prev_ignition = prev_ign;
    fx.zone_limit_kmh = NAN;
    if (v->n_in && fleet_rules__uses_zone_limits(t->rules) &&
        (rc = zone_limit(&fx.zone_limit_kmh, t, v)))
      return rc;
    if ((rc = fleet_rules__eval_fix(v->rules, t->rules, &fx, alert_relay, &r)))
      return rc;
  }
  return t->ds ? fleet_downsampler_feed(NULL, t->ds, rec) : 0;
}

int fleet_tracker_tick(fleet_tracker_t *t, int64_t now_ns)
{
  if (!t)
    return fleet_error__set(FLEET_EINVAL, "tracker is NULL");
  bool offline_rules = fleet_rules__has_offline(t->rules);
  for (size_t i = 0; i < t->n; i++) {
    vehicle_t *v = vat(t, i);
    relay_t r = {t, v->id, v->lat, v->lng, 0, NULL, NULL};
    int rc = fleet_trip__tick(&v->trip, v->params, v->id, now_ns, trip_relay, &r);
    if (!rc && offline_rules)
      rc = fleet_rules__eval_tick(v->rules, t->rules, v->ts_ns, now_ns, alert_relay, &r);
    if (rc)
      return rc;
    if (t->offline_ns > 0 && span_ns(now_ns, v->ts_ns) >= t->offline_ns)
      v->flags |= V_OFFLINE;
  }
  return t->ds ? fleet_downsampler_tick(t->ds, now_ns) : 0;
}

static int flush_one(fleet_tracker_t *t, vehicle_t *v)
{
  relay_t r = {t, v->id, v->lat, v->lng, 0, NULL, NULL};
  return fleet_trip__flush(&v->trip, v->params, v->id, trip_relay, &r);
}

int fleet_tracker_flush(fleet_tracker_t *t, const char *vehicle_id)
{
  if (!t)
    return fleet_error__set(FLEET_EINVAL, "tracker is NULL");
  int rc = 0;
  if (vehicle_id) {
    vehicle_t *v = vfind(t, vehicle_id);
    if (v)
      rc = flush_one(t, v);
  } else {
    for (size_t i = 0; !rc && i < t->n; i++)
      rc = flush_one(t, vat(t, i));
  }
  if (rc)
    return rc;
  return t->ds ? fleet_downsampler_flush(t->ds, vehicle_id) : 0;
}

/* ---- configuration --------------------------------------------------------- */

int fleet_tracker_set_rules(fleet_tracker_t *t, fleet_ruleset_t *rules)
{
  if (!t)
    return fleet_error__set(FLEET_EINVAL, "tracker is NULL");
  if (rules == t->rules)
    return 0;
  /* Build every new state first, so that running out of memory changes nothing. */
  fleet_rules__vstate_t **fresh = NULL;
  if (t->n && !(fresh = calloc(t->n, sizeof *fresh)))
    return fleet_error__oom();
  for (size_t i = 0; i < t->n; i++) {
    const vehicle_t *v = vat(t, i);
    int rc = fleet_rules__state_build(&fresh[i], rules, v->id, v->rules, t->rules);
    if (rc) {
      for (size_t k = 0; k < i; k++)
        fleet_rules__state_free(fresh[k]);
      free(fresh);
      return rc;
    }
  }
  for (size_t i = 0; i < t->n; i++) {
    vehicle_t *v = vat(t, i);
    fleet_rules__state_free(v->rules);
    v->rules = fresh[i];
  }
  free(fresh);
  fleet_ruleset_free(t->rules);
  t->rules = rules ? fleet_ruleset_ref(rules) : NULL;
  return 0;
}

int fleet_tracker_set_vehicle_params(fleet_tracker_t *t, const char *vehicle_id,
                                     const fleet_trip_params_t *params)
{
  if (!t || !vehicle_id)
    return fleet_error__set(FLEET_EINVAL, "tracker or vehicle id is NULL");
  int rc = fleet_vehicle_id_validate(vehicle_id, strlen(vehicle_id));
  if (rc)
    return rc;
  if (params && (rc = fleet_trip_params_validate(params)))
    return rc;
  override_t *o = ofind(t, vehicle_id);
  vehicle_t *v = vfind(t, vehicle_id);
  if (!params) {
    if (o)
      o->active = 0;
    if (v)
      v->params = &t->params;
    return 0;
  }
  if (!o) {
    if ((rc = grow((void **)&t->ovr, &t->cap_ovr, t->n_ovr + 1, sizeof *t->ovr)))
      return rc;
    if (!(o = calloc(1, sizeof *o)))
      return fleet_error__oom();
    snprintf(o->id, sizeof o->id, "%s", vehicle_id);
    t->ovr[t->n_ovr] = o;
    if ((rc = fleet_idmap__insert(&t->ovr_map, o->id, (uint32_t)t->n_ovr))) {
      free(o);
      return rc;
    }
    t->n_ovr++;
  }
  o->params = *params;
  o->active = 1;
  if (v)
    v->params = &o->params;
  return 0;
}

/* ---- getters --------------------------------------------------------------- */

static const char *const status_names[] = {NULL, "moving", "idle", "stopped", "offline"};

const char *fleet_vehicle_status_name(fleet_vehicle_status_t status)
{
  if ((int)status < 1 || (size_t)status >= FLEET_ARRAY_LEN(status_names))
    return NULL;
  return status_names[status];
}

static const char *const event_names[] = {NULL,       "zone_enter", "zone_exit", "trip_start",
                                          "trip_end", "stop",       "alert",     "late",
                                          "hourly"};

const char *fleet_tracker_event_type_name(fleet_tracker_event_type_t type)
{
  if ((int)type < 1 || (size_t)type >= FLEET_ARRAY_LEN(event_names))
    return NULL;
  return event_names[type];
}

static void fill_state(fleet_vehicle_state_t *out, const vehicle_t *v)
{
  memset(out, 0, sizeof *out);
  out->version = FLEET_VEHICLE_STATE_VERSION;
  memcpy(out->vehicle_id, v->id, sizeof out->vehicle_id);
  out->ts_ns = v->ts_ns;
  out->lat = v->lat;
  out->lng = v->lng;
  out->present = v->present | (v->ign >= 0 ? FLEET_TELEMETRY_IGNITION : 0u);
  out->speed_kmh = v->speed_kmh;
  out->heading_deg = v->heading_deg;
  out->ignition = v->ign;
  if (v->flags & V_OFFLINE)
    out->status = FLEET_VEHICLE_OFFLINE;
  else if (v->flags & V_MOVING)
    out->status = FLEET_VEHICLE_MOVING;
  else if (v->ign == 1)
    out->status = FLEET_VEHICLE_IDLE;
  else
    out->status = FLEET_VEHICLE_STOPPED;
  out->in_trip = fleet_trip__in_trip(&v->trip);
  out->n_zones = v->n_in;
  out->fixes = v->fixes;
}

int fleet_tracker_get(fleet_vehicle_state_t *out, const fleet_tracker_t *t,
                      const char *vehicle_id)
{
  if (!out || !t || !vehicle_id)
    return fleet_error__set(FLEET_EINVAL, "out, tracker or vehicle id is NULL");
  if (out->version != FLEET_VEHICLE_STATE_VERSION)
    return fleet_error__set(FLEET_EINVAL, "fleet_vehicle_state_t version %u is not supported",
                            out->version);
  const vehicle_t *v = vfind(t, vehicle_id);
  if (!v)
    return fleet_error__set(FLEET_ENOTFOUND, "vehicle '%s' is unknown", vehicle_id);
  fill_state(out, v);
  return 0;
}

int fleet_tracker_vehicle_at(fleet_vehicle_state_t *out, const fleet_tracker_t *t,
                             size_t index)
{
  if (!out || !t)
    return fleet_error__set(FLEET_EINVAL, "out or tracker is NULL");
  if (out->version != FLEET_VEHICLE_STATE_VERSION)
    return fleet_error__set(FLEET_EINVAL, "fleet_vehicle_state_t version %u is not supported",
                            out->version);
  if (index >= t->n)
    return fleet_error__set(FLEET_ENOTFOUND, "vehicle index %zu: the tracker has %zu", index,
                            t->n);
  fill_state(out, vat(t, index));
  return 0;
}

int fleet_tracker_vehicle_zones(uint32_t *keys, size_t cap, size_t *count,
                                const fleet_tracker_t *t, const char *vehicle_id)
{
  if (!count || !t || !vehicle_id || (!keys && cap))
    return fleet_error__set(FLEET_EINVAL, "count, tracker, vehicle id or keys is NULL");
  const vehicle_t *v = vfind(t, vehicle_id);
  if (!v)
    return fleet_error__set(FLEET_ENOTFOUND, "vehicle '%s' is unknown", vehicle_id);
  *count = v->n_in;
  for (uint32_t i = 0; i < v->n_in && i < cap; i++)
    keys[i] = v->zin[i].key;
  if (v->n_in > cap)
    return fleet_error__set(FLEET_ETOOBIG, "vehicle '%s' is in %u zones, the array holds %zu",
                            vehicle_id, v->n_in, cap);
  return 0;
}

size_t fleet_tracker_count(const fleet_tracker_t *t)
{
  return t ? t->n : 0;
}

int fleet_tracker_foreach(const fleet_tracker_t *t, fleet_vehicle_state_cb cb, void *userdata)
{
  if (!t || !cb)
    return fleet_error__set(FLEET_EINVAL, "tracker or callback is NULL");
  fleet_vehicle_state_t st;
  for (size_t i = 0; i < t->n; i++) {
    fill_state(&st, vat(t, i));
    int rc = cb(&st, userdata);
    if (rc)
      return rc;
  }
  return 0;
}

int fleet_tracker_stats(fleet_tracker_stats_t *out, const fleet_tracker_t *t)
{
  if (!out || !t)
    return fleet_error__set(FLEET_EINVAL, "out or tracker is NULL");
  *out = t->stats;
  return 0;
}
