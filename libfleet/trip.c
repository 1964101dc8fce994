/*
 * trip: trip and stop detection (include/fleet/trip.h, libfleet/trip_int.h).
 *
 * The per-vehicle state keeps the trip in two parts: the part up to `end`
 * (the last fix known to belong to the trip) and, while the vehicle pauses,
 * the tail after it. The tail is merged into the trip when the vehicle becomes
 * active again, and discarded (it belongs to the stop) when the pause turns
 * out to be parking. That is what lets a trip end at its first inactive fix
 * although the decision is taken min_parking_s later, without keeping fixes.
 */
#include "common_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/geo.h"
#include "idmap_int.h"
#include "telemetry_int.h"
#include "trip_int.h"

_Static_assert(sizeof(fleet_trip__state_t) <= FLEET_TRIP__STATE_MAX_BYTES,
               "per-vehicle trip state over budget");

/* Bits of fleet_trip__state_t.last_bits. */
enum { LB_MOVING = 1u, LB_ACTIVE = 2u, LB_IGN_ON = 4u };
/* Bits of fleet_trip__state_t.flags. */
enum { SF_PAUSING = 1u, SF_STOP_FIRST = 2u, SF_STOP_GAP = 4u };

static int64_t trip_secs_to_ns(double s)
{
  return (int64_t)llround(s * 1e9);
}

/* a - b for a >= b, saturating instead of overflowing (1678 to 2261 does not fit). */
static int64_t trip_span_ns(int64_t a, int64_t b)
{
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r))
    return INT64_MAX;
  return r;
}

static void trip_add_ns(int64_t *acc, int64_t v)
{
  if (__builtin_add_overflow(*acc, v, acc))
    *acc = INT64_MAX;
}

static void trip_copy_id(char dst[FLEET_VEHICLE_ID_MAX + 1], const char *src)
{
  size_t n = src ? strnlen(src, FLEET_VEHICLE_ID_MAX) : 0;
  if (n)
    memcpy(dst, src, n);
  dst[n] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */
/* ------------------------------------------------------------------------ */

int fleet_trip_params_init(fleet_trip_params_t *params, unsigned int version)
{
  if (!params)
    return fleet_error__set(FLEET_EINVAL, "params: NULL");
  if (version != FLEET_TRIP_PARAMS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "params: version %u is not %u", version,
                            FLEET_TRIP_PARAMS_VERSION);
  const fleet_trip_params_t def = FLEET_TRIP_PARAMS_INIT;
  *params = def;
  return 0;
}

static int trip_check_param(const char *name, double v, double hi)
{
  if (!isfinite(v) || v < 0.0 || v > hi)
    return fleet_error__set(FLEET_ERANGE, "%s: %g is outside [0, %g]", name, v, hi);
  return 0;
}

int fleet_trip_params_validate(const fleet_trip_params_t *p)
{
  if (!p)
    return fleet_error__set(FLEET_EINVAL, "params: NULL");
  if (p->version != FLEET_TRIP_PARAMS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "params: version %u is not %u", p->version,
                            FLEET_TRIP_PARAMS_VERSION);
  const double dmax = FLEET_TRIP_MAX_DURATION_PARAM_S;
  int rc;
  if ((rc = trip_check_param("min_trip_distance_m", p->min_trip_distance_m, 1e9)) ||
      (rc = trip_check_param("min_trip_duration_s", p->min_trip_duration_s, dmax)) ||
      (rc = trip_check_param("min_parking_s", p->min_parking_s, dmax)) ||
      (rc = trip_check_param("max_gap_s", p->max_gap_s, dmax)) ||
      (rc = trip_check_param("speed_threshold_kmh", p->speed_threshold_kmh, 1e4)) ||
      (rc = trip_check_param("odometer_slack_m", p->odometer_slack_m, 1e9)) ||
      (rc = trip_check_param("tank_l", p->tank_l, 1e6)) ||
      (rc = trip_check_param("consumption_l_per_100km", p->consumption_l_per_100km, 1e4)) ||
      (rc = trip_check_param("idle_l_per_h", p->idle_l_per_h, 1e4)))
    return rc;
  if (p->use_ignition != 0 && p->use_ignition != 1)
    return fleet_error__set(FLEET_EINVAL, "use_ignition: %d is not 0 or 1", p->use_ignition);
  if (p->use_odometer != 0 && p->use_odometer != 1)
    return fleet_error__set(FLEET_EINVAL, "use_odometer: %d is not 0 or 1", p->use_odometer);
  return 0;
}

const char *fleet_trip_event_type_name(int type)
{
  switch (type) {
  case FLEET_TRIP_EVENT_TRIP_START: return "trip_start";
  case FLEET_TRIP_EVENT_TRIP_END: return "trip_end";
  case FLEET_TRIP_EVENT_STOP: return "stop";
  default: return NULL;
  }
}

const char *fleet_trip_end_reason_name(int reason)
{
  switch (reason) {
  case FLEET_TRIP_END_NONE: return "none";
  case FLEET_TRIP_END_PARKED: return "parked";
  case FLEET_TRIP_END_IGNITION_OFF: return "ignition_off";
  case FLEET_TRIP_END_DATA_GAP: return "data_gap";
  case FLEET_TRIP_END_FLUSH: return "flush";
  default: return NULL;
  }
}

/* ------------------------------------------------------------------------ */
/* The state machine                                                         */
/* ------------------------------------------------------------------------ */

/* What the state machine needs of one record. */
typedef struct trip_fix {
  fleet_trip__point_t pt;
  double speed_kmh; /* reported, else derived, else 0 */
  double odo_km;    /* NaN when absent */
  double fuel_pct;  /* NaN when absent */
  uint8_t bits;     /* LB_* */
  int ign_off;      /* reports the ignition off */
} trip_fix_t;

/* Events produced by one call; delivered once the state is consistent. */
#define TRIP_MAX_EVENTS 4
typedef struct trip_events {
  unsigned int n;
  fleet_trip_event_t ev[TRIP_MAX_EVENTS];
} trip_events_t;

/* The optional fields the state machine reads, hence checks. */
#define TRIP_FIX_FIELDS \
  (FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_ODOMETER | FLEET_TELEMETRY_FUEL_LEVEL)

static void trip_fix_from(trip_fix_t *f, const fleet_trip__state_t *st,
                          const fleet_trip_params_t *p, const fleet_telemetry_t *rec)
{
  f->pt.ts_ns = rec->ts_ns;
  f->pt.lat = rec->lat;
  f->pt.lng = rec->lng;
  f->odo_km = (rec->present & FLEET_TELEMETRY_ODOMETER) ? rec->odometer_km : NAN;
  f->fuel_pct = (rec->present & FLEET_TELEMETRY_FUEL_LEVEL) ? rec->fuel_level_pct : NAN;
  if (rec->present & FLEET_TELEMETRY_SPEED) {
    f->speed_kmh = rec->speed_kmh;
  } else {
    f->speed_kmh = 0.0;
    if (st->phase != FLEET_TRIP__EMPTY) {
      int64_t dt = trip_span_ns(rec->ts_ns, st->last.ts_ns);
      int64_t gap = trip_secs_to_ns(p->max_gap_s);
      if (dt > 0 && (gap == 0 || dt < gap))
        f->speed_kmh = fleet_geo_distance_m(st->last.lat, st->last.lng, rec->lat, rec->lng) /
                       ((double)dt / 1e9) * 3.6;
    }
  }
  int ign_known = (rec->present & FLEET_TELEMETRY_IGNITION) != 0;
  int ign_on = ign_known && rec->ignition != 0;
  int moving = f->speed_kmh > p->speed_threshold_kmh;
  int active = (p->use_ignition && ign_known) ? ign_on : moving;
  f->bits = (uint8_t)((moving ? LB_MOVING : 0u) | (active ? LB_ACTIVE : 0u) |
                      (ign_on ? LB_IGN_ON : 0u));
  f->ign_off = ign_known && !ign_on;
}

static void trip_clear(fleet_trip__state_t *st)
{
  memset(&st->start, 0, sizeof(st->start));
  memset(&st->end, 0, sizeof(st->end));
  st->start_odo_km = NAN;
  st->end_odo_km = NAN;
  st->start_fuel_pct = NAN;
  st->end_fuel_pct = NAN;
  st->dist_m = 0.0;
  st->max_speed_kmh = 0.0;
  st->pause_dist_m = 0.0;
  st->pause_max_speed_kmh = 0.0;
  st->moving_ns = 0;
  st->idle_ns = 0;
  st->pause_idle_ns = 0;
  st->n_fixes = 0;
  st->pause_n = 0;
}

void fleet_trip__init(fleet_trip__state_t *st)
{
  memset(st, 0, sizeof(*st));
  st->last.ts_ns = INT64_MIN;
  trip_clear(st);
}

int fleet_trip__in_trip(const fleet_trip__state_t *st)
{
  return st->phase == FLEET_TRIP__TRIP;
}

int64_t fleet_trip__last_ts(const fleet_trip__state_t *st)
{
  return st->phase == FLEET_TRIP__EMPTY ? INT64_MIN : st->last.ts_ns;
}

static fleet_trip_event_t *trip_event_add(trip_events_t *e, fleet_trip_event_type_t type)
{
  /* At most three events come from one call (see trip_int.h); four is a margin. */
  fleet_trip_event_t *ev = &e->ev[e->n < TRIP_MAX_EVENTS ? e->n++ : TRIP_MAX_EVENTS - 1];
  memset(ev, 0, sizeof(*ev));
  ev->type = type;
  return ev;
}

static void trip_summary(fleet_trip_t *t, const fleet_trip__state_t *st,
                         const fleet_trip_params_t *p, const char *vid,
                         fleet_trip_end_reason_t reason)
{
  trip_copy_id(t->vehicle_id, vid);
  t->start_ns = st->start.ts_ns;
  t->start_lat = st->start.lat;
  t->start_lng = st->start.lng;
  t->end_ns = st->end.ts_ns;
  t->end_lat = st->end.lat;
  t->end_lng = st->end.lng;
  t->duration_s = (double)trip_span_ns(st->end.ts_ns, st->start.ts_ns) / 1e9;
  t->gps_distance_m = st->dist_m;
  t->distance_m = st->dist_m;
  if (!isnan(st->start_odo_km) && !isnan(st->end_odo_km)) {
    t->flags |= FLEET_TRIP_HAS_ODOMETER;
    t->start_odometer_km = st->start_odo_km;
    t->end_odometer_km = st->end_odo_km;
    double diff = (st->end_odo_km - st->start_odo_km) * 1000.0;
    double gps = st->dist_m;
    if (p->use_odometer && diff >= 0.0 &&
        diff >= FLEET_TRIP_ODOMETER_MIN_RATIO * gps - p->odometer_slack_m &&
        diff <= FLEET_TRIP_ODOMETER_MAX_RATIO * gps + p->odometer_slack_m) {
      t->distance_m = diff;
      t->flags |= FLEET_TRIP_DISTANCE_ODOMETER;
    }
  }
  t->moving_s = (double)st->moving_ns / 1e9;
  t->idle_s = (double)st->idle_ns / 1e9;
  t->max_speed_kmh = st->max_speed_kmh;
  if (t->duration_s > 0.0)
    t->avg_speed_kmh = t->distance_m / t->duration_s * 3.6;
  if (t->moving_s > 0.0)
    t->avg_moving_speed_kmh = t->distance_m / t->moving_s * 3.6;
  if (!isnan(st->start_fuel_pct) && !isnan(st->end_fuel_pct)) {
    t->flags |= FLEET_TRIP_HAS_FUEL_LEVEL;
    t->start_fuel_pct = st->start_fuel_pct;
    t->end_fuel_pct = st->end_fuel_pct;
  }
  if ((t->flags & FLEET_TRIP_HAS_FUEL_LEVEL) && p->tank_l > 0.0 &&
      t->start_fuel_pct >= t->end_fuel_pct) {
    t->fuel_l = (t->start_fuel_pct - t->end_fuel_pct) / 100.0 * p->tank_l;
    t->flags |= FLEET_TRIP_FUEL_FROM_LEVEL;
  } else if (p->consumption_l_per_100km > 0.0 || p->idle_l_per_h > 0.0) {
    t->fuel_l = t->distance_m / 100000.0 * p->consumption_l_per_100km +
                t->idle_s / 3600.0 * p->idle_l_per_h;
    t->flags |= FLEET_TRIP_FUEL_ESTIMATED;
  }
  t->n_fixes = st->n_fixes;
  t->end_reason = reason;
}

/* End the trip or candidate at `end`; a reported trip produces TRIP_END. */
static void trip_end(trip_events_t *e, fleet_trip__state_t *st, const fleet_trip_params_t *p,
                     const char *vid, fleet_trip_end_reason_t reason)
{
  if (st->phase == FLEET_TRIP__TRIP) {
    fleet_trip_event_t *ev = trip_event_add(e, FLEET_TRIP_EVENT_TRIP_END);
    trip_summary(&ev->trip, st, p, vid, reason);
    st->stop = st->end;
    st->flags = reason == FLEET_TRIP_END_DATA_GAP ? SF_STOP_GAP : 0u;
  } else {
    /* An unreported candidate leaves no trace: the stop before it goes on. */
    st->flags &= (uint8_t)~SF_PAUSING;
  }
  st->phase = FLEET_TRIP__PARKED;
  trip_clear(st);
}

static void trip_begin(fleet_trip__state_t *st, const trip_fix_t *f)
{
  st->phase = FLEET_TRIP__CANDIDATE;
  st->flags &= (uint8_t)~SF_PAUSING;
  trip_clear(st);
  st->start = f->pt;
  st->end = f->pt;
  st->start_odo_km = f->odo_km;
  st->end_odo_km = f->odo_km;
  st->start_fuel_pct = f->fuel_pct;
  st->end_fuel_pct = f->fuel_pct;
  st->max_speed_kmh = f->speed_kmh;
  st->n_fixes = 1;
}

/* Count the interval from the previous fix to `f` into the trip or its pause. */
static void trip_extend(fleet_trip__state_t *st, const trip_fix_t *f, int64_t dt)
{
  double d = fleet_geo_distance_m(st->last.lat, st->last.lng, f->pt.lat, f->pt.lng);
  uint8_t lb = st->last_bits;
  int64_t moving = (lb & LB_MOVING) ? dt : 0;
  int64_t idle = (!(lb & LB_MOVING) && (lb & LB_IGN_ON)) ? dt : 0;

  if (st->flags & SF_PAUSING) {
    /* The previous fix was inactive, hence not moving: the pause has no moving time. */
    st->pause_dist_m += d;
    trip_add_ns(&st->pause_idle_ns, idle);
    st->pause_n++;
    if (f->speed_kmh > st->pause_max_speed_kmh)
      st->pause_max_speed_kmh = f->speed_kmh;
    if (!(f->bits & LB_ACTIVE))
      return;
    st->dist_m += st->pause_dist_m;
    trip_add_ns(&st->idle_ns, st->pause_idle_ns);
    st->n_fixes += st->pause_n;
    if (st->pause_max_speed_kmh > st->max_speed_kmh)
      st->max_speed_kmh = st->pause_max_speed_kmh;
    st->pause_dist_m = 0.0;
    st->pause_idle_ns = 0;
    st->pause_n = 0;
    st->pause_max_speed_kmh = 0.0;
    st->flags &= (uint8_t)~SF_PAUSING;
  } else {
    st->dist_m += d;
    trip_add_ns(&st->moving_ns, moving);
    trip_add_ns(&st->idle_ns, idle);
    st->n_fixes++;
    if (f->speed_kmh > st->max_speed_kmh)
      st->max_speed_kmh = f->speed_kmh;
    if (!(f->bits & LB_ACTIVE))
      st->flags |= SF_PAUSING; /* f is the first inactive fix: the trip's end if it parks */
  }
  st->end = f->pt;
  st->end_odo_km = f->odo_km;
  st->end_fuel_pct = f->fuel_pct;
}

/* Promote a candidate that has reached both minimums: STOP then TRIP_START. */
static void trip_qualify(trip_events_t *e, fleet_trip__state_t *st,
                         const fleet_trip_params_t *p, const char *vid)
{
  if (st->phase != FLEET_TRIP__CANDIDATE)
    return;
  if (trip_span_ns(st->end.ts_ns, st->start.ts_ns) < trip_secs_to_ns(p->min_trip_duration_s) ||
      st->dist_m < p->min_trip_distance_m)
    return;
  if (st->start.ts_ns > st->stop.ts_ns) {
    fleet_trip_event_t *ev = trip_event_add(e, FLEET_TRIP_EVENT_STOP);
    fleet_stop_t *s = &ev->stop;
    trip_copy_id(s->vehicle_id, vid);
    s->start_ns = st->stop.ts_ns;
    s->end_ns = st->start.ts_ns;
    s->duration_s = (double)trip_span_ns(s->end_ns, s->start_ns) / 1e9;
    s->lat = st->stop.lat;
    s->lng = st->stop.lng;
    s->flags = ((st->flags & SF_STOP_FIRST) ? FLEET_STOP_FROM_FIRST_FIX : 0u) |
               ((st->flags & SF_STOP_GAP) ? FLEET_STOP_DATA_GAP : 0u);
  }
  fleet_trip_event_t *ev = trip_event_add(e, FLEET_TRIP_EVENT_TRIP_START);
  trip_summary(&ev->trip, st, p, vid, FLEET_TRIP_END_NONE);
  st->phase = FLEET_TRIP__TRIP;
  st->flags &= (uint8_t)~(SF_STOP_FIRST | SF_STOP_GAP);
  memset(&st->stop, 0, sizeof(st->stop));
}

static int trip_deliver(const trip_events_t *e, fleet_trip_event_cb cb, void *userdata)
{
  for (unsigned int i = 0; i < e->n; i++) {
    int rc = cb(&e->ev[i], userdata);
    if (rc)
      return rc;
  }
  return 0;
}

int fleet_trip__feed(fleet_trip_fix_status_t *out_status, fleet_trip__state_t *st,
                     const fleet_trip_params_t *p, const fleet_telemetry_t *rec,
                     fleet_trip_event_cb cb, void *userdata)
{
  if (out_status)
    *out_status = FLEET_TRIP_FIX_ACCEPTED;
  if (!st || !p || !rec || !cb)
    return fleet_error__set(FLEET_EINVAL, "trip feed: NULL argument");
  int rc = fleet_telemetry__check_fix(rec, TRIP_FIX_FIELDS);
  if (rc)
    return rc;
  if (st->phase != FLEET_TRIP__EMPTY && rec->ts_ns <= st->last.ts_ns) {
    if (out_status)
      *out_status = rec->ts_ns < st->last.ts_ns ? FLEET_TRIP_FIX_STALE : FLEET_TRIP_FIX_DUPLICATE;
    return 0;
  }

  trip_fix_t f;
  trip_fix_from(&f, st, p, rec);
  trip_events_t e;
  e.n = 0;
  const char *vid = rec->vehicle_id;

  if (st->phase == FLEET_TRIP__EMPTY) {
    st->phase = FLEET_TRIP__PARKED;
    st->stop = f.pt;
    st->flags = SF_STOP_FIRST;
    if (f.bits & LB_ACTIVE)
      trip_begin(st, &f);
  } else {
    int64_t dt = trip_span_ns(f.pt.ts_ns, st->last.ts_ns);
    int64_t gap = trip_secs_to_ns(p->max_gap_s);
    int fresh = 0; /* the interval from the previous fix counts for nothing */
    if (gap > 0 && dt >= gap) {
      if (st->phase != FLEET_TRIP__PARKED)
        trip_end(&e, st, p, vid, FLEET_TRIP_END_DATA_GAP);
      fresh = 1;
    } else if (st->phase != FLEET_TRIP__PARKED && (st->flags & SF_PAUSING) &&
               trip_span_ns(f.pt.ts_ns, st->end.ts_ns) >= trip_secs_to_ns(p->min_parking_s)) {
      trip_end(&e, st, p, vid, FLEET_TRIP_END_PARKED);
      fresh = 1;
    }
    if (fresh || st->phase == FLEET_TRIP__PARKED) {
      if (f.bits & LB_ACTIVE)
        trip_begin(st, &f);
    } else {
      trip_extend(st, &f, dt);
    }
  }
  trip_qualify(&e, st, p, vid);
  if (p->use_ignition && f.ign_off && st->phase != FLEET_TRIP__PARKED)
    trip_end(&e, st, p, vid, FLEET_TRIP_END_IGNITION_OFF);
  st->last = f.pt;
  st->last_bits = f.bits;
  return trip_deliver(&e, cb, userdata);
}

int fleet_trip__tick(fleet_trip__state_t *st, const fleet_trip_params_t *p,
                     const char *vehicle_id, int64_t now_ns, fleet_trip_event_cb cb,
                     void *userdata)
{
  if (!st || !p || !cb)
    return fleet_error__set(FLEET_EINVAL, "trip tick: NULL argument");
  if (st->phase == FLEET_TRIP__EMPTY || st->phase == FLEET_TRIP__PARKED ||
      now_ns <= st->last.ts_ns)
    return 0;
  trip_events_t e;
  e.n = 0;
  int64_t gap = trip_secs_to_ns(p->max_gap_s);
  if (gap > 0 && trip_span_ns(now_ns, st->last.ts_ns) >= gap)
    trip_end(&e, st, p, vehicle_id, FLEET_TRIP_END_DATA_GAP);
  else if ((st->flags & SF_PAUSING) &&
           trip_span_ns(now_ns, st->end.ts_ns) >= trip_secs_to_ns(p->min_parking_s))
    trip_end(&e, st, p, vehicle_id, FLEET_TRIP_END_PARKED);
  return trip_deliver(&e, cb, userdata);
}

int fleet_trip__flush(fleet_trip__state_t *st, const fleet_trip_params_t *p,
                      const char *vehicle_id, fleet_trip_event_cb cb, void *userdata)
{
  if (!st || !p || !cb)
    return fleet_error__set(FLEET_EINVAL, "trip flush: NULL argument");
  trip_events_t e;
  e.n = 0;
  if (st->phase != FLEET_TRIP__EMPTY) {
    if (st->phase != FLEET_TRIP__PARKED)
      trip_end(&e, st, p, vehicle_id, FLEET_TRIP_END_FLUSH);
    if (st->last.ts_ns > st->stop.ts_ns) {
      fleet_stop_t *s = &trip_event_add(&e, FLEET_TRIP_EVENT_STOP)->stop;
      trip_copy_id(s->vehicle_id, vehicle_id);
      s->start_ns = st->stop.ts_ns;
      s->end_ns = st->last.ts_ns;
      s->duration_s = (double)trip_span_ns(s->end_ns, s->start_ns) / 1e9;
      s->lat = st->stop.lat;
      s->lng = st->stop.lng;
      s->flags = FLEET_STOP_OPEN |
                 ((st->flags & SF_STOP_FIRST) ? FLEET_STOP_FROM_FIRST_FIX : 0u) |
                 ((st->flags & SF_STOP_GAP) ? FLEET_STOP_DATA_GAP : 0u);
    }
  }
  fleet_trip__init(st);
  return trip_deliver(&e, cb, userdata);
}

/* ------------------------------------------------------------------------ */
/* The public detector                                                       */
/* ------------------------------------------------------------------------ */

typedef struct tripdet_vehicle {
  char id[FLEET_VEHICLE_ID_MAX + 1];
  fleet_trip_params_t *params; /* owned; NULL: the detector's */
  fleet_trip__state_t st;
} tripdet_vehicle_t;

struct fleet_tripdet {
  fleet_trip_params_t params;
  fleet_trip_event_cb cb;
  void *userdata;
  fleet_idtable__t vehicles; /* tripdet_vehicle_t, in order of first appearance */
  fleet_tripdet_stats_t stats;
};

static int tripdet_get(tripdet_vehicle_t **out, fleet_tripdet_t *det, const char *id)
{
  tripdet_vehicle_t *v = fleet_idtable__find(&det->vehicles, id);
  if (!v) {
    if (!(v = fleet_idtable__add(&det->vehicles, id)))
      return FLEET_ENOMEM;
    v->params = NULL;
    fleet_trip__init(&v->st);
    det->stats.vehicles = det->vehicles.n;
  }
  *out = v;
  return 0;
}

/* Counts what reaches the user's callback. */
static int tripdet_relay(const fleet_trip_event_t *ev, void *ctx)
{
  fleet_tripdet_t *det = ctx;
  if (ev->type == FLEET_TRIP_EVENT_TRIP_END)
    det->stats.trips++;
  else if (ev->type == FLEET_TRIP_EVENT_STOP)
    det->stats.stops++;
  return det->cb(ev, det->userdata);
}

static const fleet_trip_params_t *tripdet_params(const fleet_tripdet_t *det,
                                                 const tripdet_vehicle_t *v)
{
  return v->params ? v->params : &det->params;
}

int fleet_tripdet_new(fleet_tripdet_t **out, const fleet_trip_params_t *params,
                      fleet_trip_event_cb cb, void *userdata)
{
  if (!out)
    return fleet_error__set(FLEET_EINVAL, "out: NULL");
  *out = NULL;
  if (!cb)
    return fleet_error__set(FLEET_EINVAL, "cb: NULL");
  fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
  if (params) {
    int rc = fleet_trip_params_validate(params);
    if (rc)
      return rc;
    p = *params;
  }
  fleet_tripdet_t *det = calloc(1, sizeof(*det));
  if (!det)
    return fleet_error__oom();
  det->vehicles = (fleet_idtable__t)FLEET_IDTABLE__INIT(tripdet_vehicle_t, id);
  det->params = p;
  det->cb = cb;
  det->userdata = userdata;
  det->stats.version = FLEET_TRIPDET_STATS_VERSION;
  *out = det;
  return 0;
}

void fleet_tripdet_free(fleet_tripdet_t *det)
{
  if (!det)
    return;
  for (size_t i = 0; i < det->vehicles.n; i++)
    free(((tripdet_vehicle_t *)fleet_idtable__at(&det->vehicles, i))->params);
  fleet_idtable__dispose(&det->vehicles);
  free(det);
}

int fleet_tripdet_set_vehicle_params(fleet_tripdet_t *det, const char *vehicle_id,
                                     const fleet_trip_params_t *params)
{
  if (!det)
    return fleet_error__set(FLEET_EINVAL, "det: NULL");
  int rc = fleet_telemetry__check_key(vehicle_id);
  if (rc)
    return rc;
  if (params && (rc = fleet_trip_params_validate(params)))
    return rc;
  fleet_trip_params_t *copy = NULL;
  if (params) {
    copy = malloc(sizeof(*copy));
    if (!copy)
      return fleet_error__oom();
    *copy = *params;
  }
  tripdet_vehicle_t *v;
  rc = tripdet_get(&v, det, vehicle_id);
  if (rc) {
    free(copy);
    return rc;
  }
  free(v->params);
  v->params = copy;
  return 0;
}

int fleet_tripdet_feed(fleet_trip_fix_status_t *out_status, fleet_tripdet_t *det,
                       const fleet_telemetry_t *rec)
{
  if (out_status)
    *out_status = FLEET_TRIP_FIX_ACCEPTED;
  if (!det || !rec)
    return fleet_error__set(FLEET_EINVAL, "tripdet feed: NULL argument");
  int rc = fleet_telemetry__check_key(rec->vehicle_id);
  if (rc)
    return rc;
  /* Check before creating the vehicle, so a bad fix leaves no trace. */
  if ((rc = fleet_telemetry__check_fix(rec, TRIP_FIX_FIELDS))) {
    det->stats.rejected++;
    return rc;
  }
  tripdet_vehicle_t *v;
  if ((rc = tripdet_get(&v, det, rec->vehicle_id)))
    return rc;
  fleet_trip_fix_status_t status;
  rc = fleet_trip__feed(&status, &v->st, tripdet_params(det, v), rec, tripdet_relay, det);
  if (status == FLEET_TRIP_FIX_STALE)
    det->stats.stale++;
  else if (status == FLEET_TRIP_FIX_DUPLICATE)
    det->stats.duplicates++;
  else
    det->stats.fixes++;
  if (out_status)
    *out_status = status;
  return rc;
}

int fleet_tripdet_tick(fleet_tripdet_t *det, int64_t now_ns)
{
  if (!det)
    return fleet_error__set(FLEET_EINVAL, "det: NULL");
  for (size_t i = 0; i < det->vehicles.n; i++) {
    tripdet_vehicle_t *v = fleet_idtable__at(&det->vehicles, i);
    int rc = fleet_trip__tick(&v->st, tripdet_params(det, v), v->id, now_ns, tripdet_relay, det);
    if (rc)
      return rc;
  }
  return 0;
}

int fleet_tripdet_flush(fleet_tripdet_t *det, const char *vehicle_id)
{
  if (!det)
    return fleet_error__set(FLEET_EINVAL, "det: NULL");
  if (vehicle_id) {
    int rc = fleet_telemetry__check_key(vehicle_id);
    if (rc)
      return rc;
    tripdet_vehicle_t *v = fleet_idtable__find(&det->vehicles, vehicle_id);
    if (!v)
      return 0;
    return fleet_trip__flush(&v->st, tripdet_params(det, v), v->id, tripdet_relay, det);
  }
  for (size_t i = 0; i < det->vehicles.n; i++) {
    tripdet_vehicle_t *v = fleet_idtable__at(&det->vehicles, i);
    int rc = fleet_trip__flush(&v->st, tripdet_params(det, v), v->id, tripdet_relay, det);
    if (rc)
      return rc;
  }
  return 0;
}

int fleet_tripdet_stats(fleet_tripdet_stats_t *out, const fleet_tripdet_t *det)
{
  if (!out || !det)
    return fleet_error__set(FLEET_EINVAL, "tripdet stats: NULL argument");
  *out = det->stats;
  out->version = FLEET_TRIPDET_STATS_VERSION;
  return 0;
}
