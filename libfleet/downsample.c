/*
 * downsample: hourly aggregates per vehicle (include/fleet/downsample.h).
 *
 * Each vehicle keeps a short sorted array of hour records: the open ones
 * (usually the current hour and, during the grace period, the previous one)
 * and the last `history_hours` delivered ones, kept so that late data can
 * correct them. Interval figures are computed from consecutive fixes in time
 * order, so only the newest fix is remembered besides the hours.
 */
#include "common_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/downsample.h"
#include "fleet/geo.h"
#include "idmap_int.h"
#include "telemetry_int.h"

#define NS_PER_S 1000000000LL
/* fleet_telemetry__check_fix() bounds ts so that hour arithmetic stays inside int64. */
#define HOUR_NS (3600LL * NS_PER_S)
#define DS_SEEN_WORDS ((3600 + 63) / 64)

enum { DS_MOVING = 1u, DS_IGN_ON = 2u };
enum { ODO_UNSET = 0, ODO_TRACK = 1, ODO_BROKEN = 2 };

typedef struct ds_hour {
  int64_t hour_ns;
  int64_t last_ts;
  int64_t moving_ns;
  int64_t idle_ns;
  double gps_m;
  double speed_sum;
  double speed_max;
  double last_lat;
  double last_lng;
  double fuel_min;
  double fuel_max;
  double batt_min;
  double batt_max;
  double odo_first; /* km at the start of the span the GPS distance covers */
  double odo_last;  /* km at its end */
  uint32_t count;
  uint32_t speed_count;
  uint32_t revision; /* deliveries so far */
  uint8_t present;   /* FLEET_HOURLY_FUEL, FLEET_HOURLY_BATTERY */
  uint8_t odo;       /* ODO_* */
  uint8_t emitted;   /* delivered at least once */
  uint8_t dirty;     /* changed since its last delivery */
  uint64_t seen[DS_SEEN_WORDS]; /* seconds of the hour that have a fix */
} ds_hour_t;

typedef struct ds_vehicle {
  char id[FLEET_VEHICLE_ID_MAX + 1];
  uint8_t last_bits;     /* DS_* of the newest fix */
  int64_t newest_ts;     /* INT64_MIN before the first fix */
  int64_t closed_before; /* hours that start before this were delivered: closed */
  double last_lat;
  double last_lng;
  double last_odo;       /* NaN when the newest fix had none */
  ds_hour_t *hours;      /* ascending hour_ns */
  uint32_t n_hours;
  uint32_t cap_hours;
} ds_vehicle_t;

struct fleet_downsampler {
  fleet_downsample_params_t params;
  int64_t grace_ns;
  int64_t gap_ns;
  fleet_hourly_cb cb;
  void *userdata;
  fleet_idtable__t vehicles; /* ds_vehicle_t, in order of first appearance */
  fleet_downsample_stats_t stats;
};

static int64_t ds_floor_hour(int64_t ts)
{
  int64_t r = ts % HOUR_NS;
  if (r < 0)
    r += HOUR_NS;
  return ts - r;
}

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */
/* ------------------------------------------------------------------------ */

int fleet_downsample_params_init(fleet_downsample_params_t *params, unsigned int version)
{
  if (!params)
    return fleet_error__set(FLEET_EINVAL, "params: NULL");
  if (version != FLEET_DOWNSAMPLE_PARAMS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "params: version %u is not %u", version,
                            FLEET_DOWNSAMPLE_PARAMS_VERSION);
  const fleet_downsample_params_t def = FLEET_DOWNSAMPLE_PARAMS_INIT;
  *params = def;
  return 0;
}

int fleet_downsample_params_validate(const fleet_downsample_params_t *p)
{
  if (!p)
    return fleet_error__set(FLEET_EINVAL, "params: NULL");
  if (p->version != FLEET_DOWNSAMPLE_PARAMS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "params: version %u is not %u", p->version,
                            FLEET_DOWNSAMPLE_PARAMS_VERSION);
  if (!(p->grace_s >= 0.0 && p->grace_s <= FLEET_DOWNSAMPLE_MAX_GRACE_S))
    return fleet_error__set(FLEET_ERANGE, "grace_s: %g is outside [0, %g]", p->grace_s,
                            FLEET_DOWNSAMPLE_MAX_GRACE_S);
  if (!(p->speed_threshold_kmh >= 0.0 && p->speed_threshold_kmh <= 1e4))
    return fleet_error__set(FLEET_ERANGE, "speed_threshold_kmh: %g is outside [0, 10000]",
                            p->speed_threshold_kmh);
  if (!(p->max_gap_s > 0.0 && p->max_gap_s <= FLEET_DOWNSAMPLE_MAX_GAP_LIMIT_S))
    return fleet_error__set(FLEET_ERANGE, "max_gap_s: %g is outside (0, %g]", p->max_gap_s,
                            FLEET_DOWNSAMPLE_MAX_GAP_LIMIT_S);
  if (p->history_hours > FLEET_DOWNSAMPLE_MAX_HISTORY_HOURS)
    return fleet_error__set(FLEET_ERANGE, "history_hours: %u is more than %u", p->history_hours,
                            FLEET_DOWNSAMPLE_MAX_HISTORY_HOURS);
  if (p->use_odometer != 0 && p->use_odometer != 1)
    return fleet_error__set(FLEET_EINVAL, "use_odometer: %d is not 0 or 1", p->use_odometer);
  if (!(p->odometer_slack_m >= 0.0 && p->odometer_slack_m <= 1e9))
    return fleet_error__set(FLEET_ERANGE, "odometer_slack_m: %g is outside [0, 1e+09]",
                            p->odometer_slack_m);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Hours                                                                     */
/* ------------------------------------------------------------------------ */

static ds_hour_t *ds_find(const ds_vehicle_t *v, int64_t hour_ns)
{
  for (uint32_t i = 0; i < v->n_hours; i++)
    if (v->hours[i].hour_ns == hour_ns)
      return &v->hours[i];
  return NULL;
}

/* Find or create the record of an hour; NULL only when out of memory. */
static ds_hour_t *ds_hour(ds_vehicle_t *v, int64_t hour_ns)
{
  ds_hour_t *h = ds_find(v, hour_ns);
  if (h)
    return h;
  if (v->n_hours == v->cap_hours) {
    uint32_t ncap = v->cap_hours ? v->cap_hours * 2 : 2;
    ds_hour_t *nh = realloc(v->hours, ncap * sizeof(*nh));
    if (!nh) {
      fleet_error__oom();
      return NULL;
    }
    v->hours = nh;
    v->cap_hours = ncap;
  }
  uint32_t pos = v->n_hours;
  while (pos > 0 && v->hours[pos - 1].hour_ns > hour_ns)
    pos--;
  memmove(&v->hours[pos + 1], &v->hours[pos], (v->n_hours - pos) * sizeof(*v->hours));
  v->n_hours++;
  h = &v->hours[pos];
  memset(h, 0, sizeof(*h));
  h->hour_ns = hour_ns;
  h->last_ts = INT64_MIN;
  h->odo_first = NAN;
  h->odo_last = NAN;
  return h;
}

static void ds_remove(ds_vehicle_t *v, uint32_t i)
{
  memmove(&v->hours[i], &v->hours[i + 1], (v->n_hours - i - 1) * sizeof(*v->hours));
  v->n_hours--;
}

static unsigned int ds_second(const ds_hour_t *h, int64_t ts)
{
  return (unsigned int)((ts - h->hour_ns) / NS_PER_S);
}

static int ds_seen(const ds_hour_t *h, int64_t ts)
{
  unsigned int s = ds_second(h, ts);
  return (h->seen[s / 64] >> (s % 64)) & 1u;
}

/* The order-independent figures of one fix. */
static void ds_add_point(ds_hour_t *h, const fleet_telemetry_t *rec)
{
  unsigned int s = ds_second(h, rec->ts_ns);
  h->seen[s / 64] |= (uint64_t)1 << (s % 64);
  h->count++;
  if (rec->present & FLEET_TELEMETRY_SPEED) {
    h->speed_sum += rec->speed_kmh;
    if (h->speed_count == 0 || rec->speed_kmh > h->speed_max)
      h->speed_max = rec->speed_kmh;
    h->speed_count++;
  }
  if (rec->present & FLEET_TELEMETRY_FUEL_LEVEL) {
    if (!(h->present & FLEET_HOURLY_FUEL) || rec->fuel_level_pct < h->fuel_min)
      h->fuel_min = rec->fuel_level_pct;
    if (!(h->present & FLEET_HOURLY_FUEL) || rec->fuel_level_pct > h->fuel_max)
      h->fuel_max = rec->fuel_level_pct;
    h->present |= FLEET_HOURLY_FUEL;
  }
  if (rec->present & FLEET_TELEMETRY_BATTERY_V) {
    if (!(h->present & FLEET_HOURLY_BATTERY) || rec->battery_v < h->batt_min)
      h->batt_min = rec->battery_v;
    if (!(h->present & FLEET_HOURLY_BATTERY) || rec->battery_v > h->batt_max)
      h->batt_max = rec->battery_v;
    h->present |= FLEET_HOURLY_BATTERY;
  }
  if (rec->ts_ns > h->last_ts) {
    h->last_ts = rec->ts_ns;
    h->last_lat = rec->lat;
    h->last_lng = rec->lng;
  }
  if (h->emitted)
    h->dirty = 1;
}

/* Part of an interval: `t` ns of it, `d` metres, in the state `bits`. */
static void ds_add_interval(ds_hour_t *h, double d, int64_t t, uint8_t bits)
{
  h->gps_m += d;
  if (bits & DS_MOVING)
    h->moving_ns += t;
  else if (bits & DS_IGN_ON)
    h->idle_ns += t;
  if (h->emitted)
    h->dirty = 1;
}

static void ds_build(fleet_hourly_t *a, const fleet_downsampler_t *ds, const ds_vehicle_t *v,
                     const ds_hour_t *h)
{
  memset(a, 0, sizeof(*a));
  memcpy(a->vehicle_id, v->id, sizeof(a->vehicle_id));
  a->hour_ns = h->hour_ns;
  a->revision = h->revision;
  a->count = h->count;
  a->speed_count = h->speed_count;
  a->present = h->present;
  if (h->speed_count) {
    a->present |= FLEET_HOURLY_SPEED;
    a->speed_mean_kmh = h->speed_sum / h->speed_count;
    a->speed_max_kmh = h->speed_max;
  }
  a->gps_distance_m = h->gps_m;
  a->distance_m = h->gps_m;
  if (ds->params.use_odometer && h->odo == ODO_TRACK) {
    double diff = (h->odo_last - h->odo_first) * 1000.0;
    double slack = ds->params.odometer_slack_m;
    if (diff >= 0.0 && diff >= 0.5 * h->gps_m - slack && diff <= 2.0 * h->gps_m + slack) {
      a->distance_m = diff;
      a->present |= FLEET_HOURLY_DISTANCE_ODOMETER;
    }
  }
  a->moving_s = (double)h->moving_ns / 1e9;
  a->idle_s = (double)h->idle_ns / 1e9;
  a->last_ts_ns = h->last_ts;
  a->last_lat = h->last_lat;
  a->last_lng = h->last_lng;
  if (h->present & FLEET_HOURLY_FUEL) {
    a->fuel_min_pct = h->fuel_min;
    a->fuel_max_pct = h->fuel_max;
  }
  if (h->present & FLEET_HOURLY_BATTERY) {
    a->battery_min_v = h->batt_min;
    a->battery_max_v = h->batt_max;
  }
}

/*
 * Deliver the hours of `v` that are due at `threshold` (H + 1 h + grace <= it)
 * and not delivered or changed since, in hour order; then trim the history.
 */
static int ds_emit(fleet_downsampler_t *ds, ds_vehicle_t *v, int64_t threshold)
{
  for (uint32_t i = 0; i < v->n_hours; i++) {
    ds_hour_t *h = &v->hours[i];
    if (h->emitted && !h->dirty)
      continue;
    if (h->hour_ns + HOUR_NS + ds->grace_ns > threshold)
      continue;
    fleet_hourly_t agg;
    ds_build(&agg, ds, v, h);
    int rc = ds->cb(&agg, ds->userdata);
    if (rc)
      return rc;
    if (h->revision == 0)
      ds->stats.hours++;
    else
      ds->stats.corrections++;
    h->revision++;
    h->emitted = 1;
    h->dirty = 0;
    if (h->hour_ns + HOUR_NS > v->closed_before)
      v->closed_before = h->hour_ns + HOUR_NS;
  }
  uint32_t kept = 0;
  for (uint32_t i = v->n_hours; i-- > 0;) {
    ds_hour_t *h = &v->hours[i];
    if (!h->emitted || h->dirty)
      continue;
    if (kept < ds->params.history_hours)
      kept++;
    else
      ds_remove(v, i);
  }
  return 0;
}

static int ds_closed(const fleet_downsampler_t *ds, const ds_vehicle_t *v, int64_t hour_ns)
{
  return hour_ns < v->closed_before ||
         (v->newest_ts != INT64_MIN && hour_ns + HOUR_NS + ds->grace_ns <= v->newest_ts);
}

/* ------------------------------------------------------------------------ */
/* Vehicles and the public API                                               */
/* ------------------------------------------------------------------------ */

/* The optional fields the aggregates read, hence check. */
#define DS_FIX_FIELDS                                                                   \
  (FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_ODOMETER | FLEET_TELEMETRY_FUEL_LEVEL |      \
   FLEET_TELEMETRY_BATTERY_V)

static int ds_vehicle(ds_vehicle_t **out, fleet_downsampler_t *ds, const char *id)
{
  ds_vehicle_t *v = fleet_idtable__find(&ds->vehicles, id);
  if (!v) {
    if (!(v = fleet_idtable__add(&ds->vehicles, id)))
      return FLEET_ENOMEM;
    v->newest_ts = INT64_MIN;
    v->closed_before = INT64_MIN;
    v->last_odo = NAN;
    ds->stats.vehicles = ds->vehicles.n;
  }
  *out = v;
  return 0;
}

int fleet_downsampler_new(fleet_downsampler_t **out, const fleet_downsample_params_t *params,
                          fleet_hourly_cb cb, void *userdata)
{
  if (!out)
    return fleet_error__set(FLEET_EINVAL, "out: NULL");
  *out = NULL;
  if (!cb)
    return fleet_error__set(FLEET_EINVAL, "cb: NULL");
  fleet_downsample_params_t p = FLEET_DOWNSAMPLE_PARAMS_INIT;
  if (params) {
    int rc = fleet_downsample_params_validate(params);
    if (rc)
      return rc;
    p = *params;
  }
  fleet_downsampler_t *ds = calloc(1, sizeof(*ds));
  if (!ds)
    return fleet_error__oom();
  ds->vehicles = (fleet_idtable__t)FLEET_IDTABLE__INIT(ds_vehicle_t, id);
  ds->params = p;
  ds->grace_ns = (int64_t)llround(p.grace_s * 1e9);
  ds->gap_ns = (int64_t)llround(p.max_gap_s * 1e9);
  ds->cb = cb;
  ds->userdata = userdata;
  ds->stats.version = FLEET_DOWNSAMPLE_STATS_VERSION;
  *out = ds;
  return 0;
}

void fleet_downsampler_free(fleet_downsampler_t *ds)
{
  if (!ds)
    return;
  for (size_t i = 0; i < ds->vehicles.n; i++)
    free(((ds_vehicle_t *)fleet_idtable__at(&ds->vehicles, i))->hours);
  fleet_idtable__dispose(&ds->vehicles);
  free(ds);
}

/* A fix older than the vehicle's newest: order-independent figures only. */
static fleet_downsample_fix_status_t ds_late(fleet_downsampler_t *ds, ds_vehicle_t *v,
                                             const fleet_telemetry_t *rec, int *rc)
{
  int64_t hour = ds_floor_hour(rec->ts_ns);
  ds_hour_t *h = ds_find(v, hour);
  if (h && ds_seen(h, rec->ts_ns))
    return FLEET_DOWNSAMPLE_FIX_DUPLICATE;
  if (!h) {
    if (ds_closed(ds, v, hour))
      return FLEET_DOWNSAMPLE_FIX_DROPPED_LATE;
    if (!(h = ds_hour(v, hour))) {
      *rc = FLEET_ENOMEM;
      return FLEET_DOWNSAMPLE_FIX_ACCEPTED;
    }
  }
  ds_add_point(h, rec);
  return FLEET_DOWNSAMPLE_FIX_LATE;
}

/* A fix newer than the vehicle's newest: everything, the interval included. */
static fleet_downsample_fix_status_t ds_in_order(fleet_downsampler_t *ds, ds_vehicle_t *v,
                                                 const fleet_telemetry_t *rec, int *rc)
{
  int64_t hour = ds_floor_hour(rec->ts_ns);
  if (hour < v->closed_before && !ds_find(v, hour))
    return FLEET_DOWNSAMPLE_FIX_DROPPED_LATE;
  ds_hour_t *hf = ds_hour(v, hour);
  if (!hf) {
    *rc = FLEET_ENOMEM;
    return FLEET_DOWNSAMPLE_FIX_ACCEPTED;
  }
  double odo = (rec->present & FLEET_TELEMETRY_ODOMETER) ? rec->odometer_km : NAN;
  int counted = 0;  /* the interval from the previous fix counts */
  int crossing = 0; /* ... and straddles the start of this hour */
  double speed = (rec->present & FLEET_TELEMETRY_SPEED) ? rec->speed_kmh : 0.0;
  double odo_boundary = NAN;

  if (v->newest_ts != INT64_MIN) {
    int64_t dt;
    if (__builtin_sub_overflow(rec->ts_ns, v->newest_ts, &dt))
      dt = INT64_MAX;
    counted = dt < ds->gap_ns;
    if (counted) {
      double d = fleet_geo_distance_m(v->last_lat, v->last_lng, rec->lat, rec->lng);
      if (!(rec->present & FLEET_TELEMETRY_SPEED))
        speed = d / ((double)dt / 1e9) * 3.6;
      int64_t prev_hour = ds_floor_hour(v->newest_ts);
      if (prev_hour == hour) {
        ds_add_interval(hf, d, dt, v->last_bits);
      } else {
        /* dt < max_gap_s <= 1 h: the interval crosses exactly one boundary */
        crossing = 1;
        int64_t before = hour - v->newest_ts;
        double frac = (double)before / (double)dt;
        ds_hour_t *hl = ds_find(v, prev_hour);
        if (!isnan(odo) && !isnan(v->last_odo))
          odo_boundary = v->last_odo + (odo - v->last_odo) * frac;
        if (hl) {
          ds_add_interval(hl, d * frac, before, v->last_bits);
          if (hl->odo == ODO_TRACK) {
            if (isnan(odo_boundary))
              hl->odo = ODO_BROKEN;
            else
              hl->odo_last = odo_boundary;
          }
        }
        ds_add_interval(hf, d * (1.0 - frac), dt - before, v->last_bits);
      }
    }
  }

  /*
   * The odometer span must cover what the GPS distance covers: from the
   * hour's first fix (or the interpolated value at the hour's start when an
   * interval crosses it) to its last fix, with no uncounted interval inside.
   */
  if (isnan(odo)) {
    hf->odo = ODO_BROKEN;
  } else if (hf->odo == ODO_UNSET) {
    if (crossing && isnan(odo_boundary)) {
      hf->odo = ODO_BROKEN;
    } else {
      hf->odo_first = crossing ? odo_boundary : odo;
      hf->odo_last = odo;
      hf->odo = ODO_TRACK;
    }
  } else if (hf->odo == ODO_TRACK) {
    if (counted)
      hf->odo_last = odo;
    else
      hf->odo = ODO_BROKEN;
  }

  ds_add_point(hf, rec);
  v->newest_ts = rec->ts_ns;
  v->last_lat = rec->lat;
  v->last_lng = rec->lng;
  v->last_odo = odo;
  int ign_on = (rec->present & FLEET_TELEMETRY_IGNITION) && rec->ignition;
  v->last_bits = (uint8_t)((speed > ds->params.speed_threshold_kmh ? DS_MOVING : 0u) |
                           (ign_on ? DS_IGN_ON : 0u));
  return FLEET_DOWNSAMPLE_FIX_ACCEPTED;
}

int fleet_downsampler_feed(fleet_downsample_fix_status_t *out_status, fleet_downsampler_t *ds,
                           const fleet_telemetry_t *rec)
{
  if (out_status)
    *out_status = FLEET_DOWNSAMPLE_FIX_ACCEPTED;
  if (!ds || !rec)
    return fleet_error__set(FLEET_EINVAL, "downsampler feed: NULL argument");
  int rc = fleet_telemetry__check_key(rec->vehicle_id);
  if (rc)
    return rc;
  if ((rc = fleet_telemetry__check_fix(rec, DS_FIX_FIELDS))) {
    ds->stats.rejected++;
    return rc;
  }
  ds_vehicle_t *v;
  if ((rc = ds_vehicle(&v, ds, rec->vehicle_id)))
    return rc;

  fleet_downsample_fix_status_t status;
  if (v->newest_ts != INT64_MIN && rec->ts_ns == v->newest_ts)
    status = FLEET_DOWNSAMPLE_FIX_DUPLICATE;
  else if (v->newest_ts != INT64_MIN && rec->ts_ns < v->newest_ts)
    status = ds_late(ds, v, rec, &rc);
  else
    status = ds_in_order(ds, v, rec, &rc);
  if (rc)
    return rc;
  switch (status) {
  case FLEET_DOWNSAMPLE_FIX_ACCEPTED: ds->stats.fixes++; break;
  case FLEET_DOWNSAMPLE_FIX_LATE: ds->stats.fixes++; ds->stats.late++; break;
  case FLEET_DOWNSAMPLE_FIX_DUPLICATE: ds->stats.duplicates++; break;
  case FLEET_DOWNSAMPLE_FIX_DROPPED_LATE: ds->stats.dropped_late++; break;
  }
  if (out_status)
    *out_status = status;
  return ds_emit(ds, v, v->newest_ts);
}

int fleet_downsampler_tick(fleet_downsampler_t *ds, int64_t now_ns)
{
  if (!ds)
    return fleet_error__set(FLEET_EINVAL, "downsampler: NULL");
  for (size_t i = 0; i < ds->vehicles.n; i++) {
    ds_vehicle_t *v = fleet_idtable__at(&ds->vehicles, i);
    int rc = ds_emit(ds, v, now_ns > v->newest_ts ? now_ns : v->newest_ts);
    if (rc)
      return rc;
  }
  return 0;
}

int fleet_downsampler_flush(fleet_downsampler_t *ds, const char *vehicle_id)
{
  if (!ds)
    return fleet_error__set(FLEET_EINVAL, "downsampler: NULL");
  if (vehicle_id) {
    int rc = fleet_telemetry__check_key(vehicle_id);
    if (rc)
      return rc;
    ds_vehicle_t *v = fleet_idtable__find(&ds->vehicles, vehicle_id);
    return v ? ds_emit(ds, v, INT64_MAX) : 0;
  }
  for (size_t i = 0; i < ds->vehicles.n; i++) {
    int rc = ds_emit(ds, fleet_idtable__at(&ds->vehicles, i), INT64_MAX);
    if (rc)
      return rc;
  }
  return 0;
}

int fleet_downsampler_stats(fleet_downsample_stats_t *out, const fleet_downsampler_t *ds)
{
  if (!out || !ds)
    return fleet_error__set(FLEET_EINVAL, "downsampler stats: NULL argument");
  *out = ds->stats;
  out->version = FLEET_DOWNSAMPLE_STATS_VERSION;
  return 0;
}
