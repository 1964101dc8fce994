/* rules: alert rule sets (JSON in and out) and the per-vehicle evaluation engine. */
#include "common_int.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fleet/telemetry.h"
#include "numfmt_int.h"
#include "rules_int.h"

#define NS_PER_S 1000000000.0
/* Largest duration a rule accepts: ten years, far inside the int64 ns range. */
#define MAX_SECONDS (10.0 * 366 * 86400)
#define MAX_ZONE_ID 256
#define FUEL_Q 8

typedef struct rule_int {
  fleet_rule_t pub;
  /* Owned storage behind the pub pointers. */
  char *id;
  char *description;
  char **vehicles;
  char **zones;
  /* Derived once, so evaluation does no floating-point conversions of settings. */
  int64_t cooldown_ns;
  int64_t min_dur_ns;
  int64_t after_ns;
  int64_t window_ns;
  int32_t drop_h; /* drop_pct in hundredths of a point */
  bool needs_slot;
} rule_int_t;

struct fleet_ruleset {
  atomic_uint refs;
  atomic_int frozen;
  rule_int_t *rules;
  size_t n;
  size_t cap;
  bool zone_limits;
  bool offline;
  bool zone_rules;
};

/* ---- names ---------------------------------------------------------------- */

static const char *const type_names[] = {
  NULL, "overspeed", "zone_enter", "zone_exit", "ignition_on", "ignition_off",
  "offline", "low_battery", "engine_temp", "fuel_drop",
};

static const char *const severity_names[] = {NULL, "info", "warning", "critical"};

const char *fleet_rule_type_name(fleet_rule_type_t type)
{
  if ((int)type < 1 || (size_t)type >= FLEET_ARRAY_LEN(type_names))
    return NULL;
  return type_names[type];
}

const char *fleet_severity_name(fleet_severity_t severity)
{
  if ((int)severity < 1 || (size_t)severity >= FLEET_ARRAY_LEN(severity_names))
    return NULL;
  return severity_names[severity];
}

/* JSON member names that depend on the rule type. */
static const char *threshold_key(fleet_rule_type_t t)
{
  return t == FLEET_RULE_OVERSPEED     ? "threshold_kmh"
         : t == FLEET_RULE_LOW_BATTERY ? "threshold_v"
                                       : "threshold_c";
}

static const char *hysteresis_key(fleet_rule_type_t t)
{
  return t == FLEET_RULE_OVERSPEED     ? "hysteresis_kmh"
         : t == FLEET_RULE_LOW_BATTERY ? "hysteresis_v"
                                       : "hysteresis_c";
}

static bool is_threshold_type(fleet_rule_type_t t)
{
  return t == FLEET_RULE_OVERSPEED || t == FLEET_RULE_LOW_BATTERY || t == FLEET_RULE_ENGINE_TEMP;
}

static bool is_zone_type(fleet_rule_type_t t)
{
  return t == FLEET_RULE_ZONE_ENTER || t == FLEET_RULE_ZONE_EXIT;
}

/* ---- rule init and validation --------------------------------------------- */

int fleet_rule_init(fleet_rule_t *rule, unsigned int version)
{
  if (!rule)
    return fleet_error__set(FLEET_EINVAL, "rule is NULL");
  if (version != FLEET_RULE_VERSION)
    return fleet_error__set(FLEET_EINVAL, "fleet_rule_t version %u is not supported (expected %u)",
                            version, FLEET_RULE_VERSION);
  const fleet_rule_t def = FLEET_RULE_INIT;
  *rule = def;
  return 0;
}

static bool vehicle_id_ok(const char *s)
{
  size_t n = strlen(s);
  if (n < 1 || n > FLEET_VEHICLE_ID_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

/* Printable text (UTF-8 allowed) without control characters, 1..max bytes. */
static int check_text(const char *prefix, const char *member, const char *s, size_t max)
{
  size_t n = strlen(s);
  if (n == 0)
    return fleet_error__set(FLEET_ERANGE, "%s.%s: is empty", prefix, member);
  if (n > max)
    return fleet_error__set(FLEET_ERANGE, "%s.%s: %zu bytes is longer than %zu", prefix, member,
                            n, max);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      return fleet_error__set(FLEET_ERANGE, "%s.%s: contains control character 0x%02x", prefix,
                              member, c);
  }
  return 0;
}

/* lo < v (or lo <= v when lo_incl) and v <= hi, finite. */
static int check_num(const char *prefix, const char *member, double v, double lo, bool lo_incl,
                     double hi)
{
  if (!isfinite(v))
    return fleet_error__set(FLEET_ERANGE, "%s.%s: is not a finite number", prefix, member);
  if (lo_incl ? v < lo : v <= lo)
    return fleet_error__set(FLEET_ERANGE, "%s.%s: %g is not %s %g", prefix, member, v,
                            lo_incl ? ">=" : ">", lo);
  if (v > hi)
    return fleet_error__set(FLEET_ERANGE, "%s.%s: %g is over the maximum %g", prefix, member, v,
                            hi);
  return 0;
}

static int validate_rule(const fleet_rule_t *r, const char *prefix)
{
  int rc;
  if (r->version != FLEET_RULE_VERSION)
    return fleet_error__set(FLEET_EINVAL, "%s: fleet_rule_t version %u is not supported", prefix,
                            r->version);
  if (!r->id)
    return fleet_error__set(FLEET_EMISSING, "%s.id: missing", prefix);
  if ((rc = check_text(prefix, "id", r->id, FLEET_RULE_ID_MAX)))
    return rc;
  if (!fleet_rule_type_name(r->type))
    return fleet_error__set(FLEET_ERANGE, "%s.type: %d is not a rule type", prefix, (int)r->type);
  if (!fleet_severity_name(r->severity))
    return fleet_error__set(FLEET_ERANGE, "%s.severity: %d is not a severity", prefix,
                            (int)r->severity);
  if ((rc = check_num(prefix, "cooldown_s", r->cooldown_s, 0, true, MAX_SECONDS)))
    return rc;
  if (r->description && strlen(r->description) > 1024)
    return fleet_error__set(FLEET_ERANGE, "%s.description: longer than 1024 bytes", prefix);
  if (r->n_vehicles && !r->vehicles)
    return fleet_error__set(FLEET_EINVAL, "%s.vehicles: %zu ids but the array is NULL", prefix,
                            r->n_vehicles);
  for (size_t i = 0; i < r->n_vehicles; i++)
    if (!r->vehicles[i] || !vehicle_id_ok(r->vehicles[i]))
      return fleet_error__set(FLEET_EINVAL,
                              "%s.vehicles[%zu]: '%s' is not a vehicle id (1-64 chars of "
                              "[A-Za-z0-9._-])",
                              prefix, i, r->vehicles[i] ? r->vehicles[i] : "(null)");
  if (is_zone_type(r->type)) {
    if (r->n_zones && !r->zones)
      return fleet_error__set(FLEET_EINVAL, "%s.zones: %zu ids but the array is NULL", prefix,
                              r->n_zones);
    for (size_t i = 0; i < r->n_zones; i++) {
      char member[32];
      snprintf(member, sizeof member, "zones[%zu]", i);
      if (!r->zones[i])
        return fleet_error__set(FLEET_EINVAL, "%s.%s: NULL", prefix, member);
      if ((rc = check_text(prefix, member, r->zones[i], MAX_ZONE_ID)))
        return rc;
    }
  }
  switch (r->type) {
  case FLEET_RULE_OVERSPEED:
    if ((rc = check_num(prefix, "threshold_kmh", r->threshold, 0, false, 1000)))
      return rc;
    if ((rc = check_num(prefix, "hysteresis_kmh", r->hysteresis, 0, true, 1000)))
      return rc;
    if (r->hysteresis >= r->threshold)
      return fleet_error__set(FLEET_ERANGE, "%s.hysteresis_kmh: %g is not below threshold_kmh %g",
                              prefix, r->hysteresis, r->threshold);
    break;
  case FLEET_RULE_LOW_BATTERY:
    if ((rc = check_num(prefix, "threshold_v", r->threshold, 0, false, 1000)))
      return rc;
    if ((rc = check_num(prefix, "hysteresis_v", r->hysteresis, 0, true, 1000)))
      return rc;
    break;
  case FLEET_RULE_ENGINE_TEMP:
    if ((rc = check_num(prefix, "threshold_c", r->threshold, -60, true, 250)))
      return rc;
    if ((rc = check_num(prefix, "hysteresis_c", r->hysteresis, 0, true, 310)))
      return rc;
    break;
  case FLEET_RULE_OFFLINE:
    if ((rc = check_num(prefix, "after_s", r->after_s, 0, false, MAX_SECONDS)))
      return rc;
    break;
  case FLEET_RULE_FUEL_DROP:
    if ((rc = check_num(prefix, "drop_pct", r->drop_pct, 0, false, 100)))
      return rc;
    if (r->drop_pct < 0.01)
      return fleet_error__set(FLEET_ERANGE, "%s.drop_pct: %g is below the resolution 0.01",
                              prefix, r->drop_pct);
    if ((rc = check_num(prefix, "window_s", r->window_s, 0, false, 86400)))
      return rc;
    if ((rc = check_num(prefix, "stationary_kmh", r->stationary_kmh, 0, true, 1000)))
      return rc;
    break;
  default:
    break;
  }
  if (is_threshold_type(r->type) &&
      (rc = check_num(prefix, "min_duration_s", r->min_duration_s, 0, true, MAX_SECONDS)))
    return rc;
  return 0;
}

/* ---- rule set ------------------------------------------------------------- */

static void rule_int_dispose(rule_int_t *ri)
{
  free(ri->id);
  free(ri->description);
  for (size_t i = 0; i < ri->pub.n_vehicles; i++)
    free(ri->vehicles[i]);
  free(ri->vehicles);
  for (size_t i = 0; i < ri->pub.n_zones; i++)
    free(ri->zones[i]);
  free(ri->zones);
}

int fleet_ruleset_new(fleet_ruleset_t **out)
{
  if (!out)
    return fleet_error__set(FLEET_EINVAL, "out is NULL");
  *out = NULL;
  fleet_ruleset_t *rs = calloc(1, sizeof *rs);
  if (!rs)
    return fleet_error__oom();
  atomic_init(&rs->refs, 1u);
  atomic_init(&rs->frozen, 0);
  *out = rs;
  return 0;
}

fleet_ruleset_t *fleet_ruleset_ref(fleet_ruleset_t *rs)
{
  if (rs) {
    atomic_fetch_add_explicit(&rs->refs, 1u, memory_order_relaxed);
    atomic_store_explicit(&rs->frozen, 1, memory_order_release);
  }
  return rs;
}

void fleet_ruleset_free(fleet_ruleset_t *rs)
{
  if (!rs)
    return;
  if (atomic_fetch_sub_explicit(&rs->refs, 1u, memory_order_acq_rel) != 1u)
    return;
  for (size_t i = 0; i < rs->n; i++)
    rule_int_dispose(&rs->rules[i]);
  free(rs->rules);
  free(rs);
}

bool fleet_rules__is_frozen(const fleet_ruleset_t *rs)
{
  return atomic_load_explicit(&rs->frozen, memory_order_acquire) != 0;
}

size_t fleet_ruleset_count(const fleet_ruleset_t *rs)
{
  return rs ? rs->n : 0;
}

const fleet_rule_t *fleet_ruleset_get(const fleet_ruleset_t *rs, size_t i)
{
  if (!rs || i >= rs->n)
    return NULL;
  return &rs->rules[i].pub;
}

const fleet_rule_t *fleet_ruleset_find(const fleet_ruleset_t *rs, const char *id)
{
  if (!rs || !id)
    return NULL;
  for (size_t i = 0; i < rs->n; i++)
    if (!strcmp(rs->rules[i].id, id))
      return &rs->rules[i].pub;
  return NULL;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, deduplicated copy of a string list. */
static int copy_list(char ***out, size_t *out_n, const char *const *src, size_t n)
{
  *out = NULL;
  *out_n = 0;
  if (!n)
    return 0;
  char **v = calloc(n, sizeof *v);
  if (!v)
    return fleet_error__oom();
  for (size_t i = 0; i < n; i++) {
    v[i] = strdup(src[i]);
    if (!v[i]) {
      for (size_t j = 0; j < i; j++)
        free(v[j]);
      free(v);
      return fleet_error__oom();
    }
  }
  qsort(v, n, sizeof *v, cmp_str);
  size_t k = 1;
  for (size_t i = 1; i < n; i++) {
    if (!strcmp(v[i], v[k - 1]))
      free(v[i]);
    else
      v[k++] = v[i];
  }
  *out = v;
  *out_n = k;
  return 0;
}

static int64_t secs_to_ns(double s)
{
  return (int64_t)llround(s * NS_PER_S);
}

static int ruleset_add(fleet_ruleset_t *rs, const fleet_rule_t *rule, const char *prefix)
{
  int rc = validate_rule(rule, prefix);
  if (rc)
    return rc;
  if (fleet_rules__is_frozen(rs))
    return fleet_error__set(FLEET_ESTATE, "%s: the rule set is in use by a tracker and frozen",
                            prefix);
  if (fleet_ruleset_find(rs, rule->id))
    return fleet_error__set(FLEET_EEXISTS, "%s.id: '%s' is used by another rule", prefix,
                            rule->id);
  if (rs->n >= FLEET_RULESET_MAX_RULES)
    return fleet_error__set(FLEET_ETOOBIG, "%s: a rule set holds at most %d rules", prefix,
                            FLEET_RULESET_MAX_RULES);
  if (rs->n == rs->cap) {
    size_t cap = rs->cap ? rs->cap * 2 : 8;
    rule_int_t *p = realloc(rs->rules, cap * sizeof *p);
    if (!p)
      return fleet_error__oom();
    rs->rules = p;
    rs->cap = cap;
  }
  rule_int_t ri;
  memset(&ri, 0, sizeof ri);
  ri.pub = *rule;
  ri.pub.n_vehicles = 0;
  ri.pub.n_zones = 0;
  ri.id = strdup(rule->id);
  ri.description = rule->description ? strdup(rule->description) : NULL;
  if (!ri.id || (rule->description && !ri.description))
    goto oom;
  if (copy_list(&ri.vehicles, &ri.pub.n_vehicles, rule->vehicles, rule->n_vehicles))
    goto oom;
  if (is_zone_type(rule->type) &&
      copy_list(&ri.zones, &ri.pub.n_zones, rule->zones, rule->n_zones))
    goto oom;
  ri.pub.id = ri.id;
  ri.pub.description = ri.description;
  ri.pub.vehicles = (const char *const *)ri.vehicles;
  ri.pub.zones = (const char *const *)ri.zones;
  /* Members of other types read as zero, so output shows only what applies. */
  if (!is_threshold_type(rule->type)) {
    ri.pub.threshold = 0;
    ri.pub.hysteresis = 0;
    ri.pub.min_duration_s = 0;
  }
  if (rule->type != FLEET_RULE_OVERSPEED)
    ri.pub.zone_limits = 0;
  else
    ri.pub.zone_limits = rule->zone_limits ? 1 : 0;
  if (rule->type != FLEET_RULE_OFFLINE)
    ri.pub.after_s = 0;
  if (rule->type != FLEET_RULE_FUEL_DROP) {
    ri.pub.drop_pct = 0;
    ri.pub.window_s = 0;
    ri.pub.stationary = 0;
    ri.pub.stationary_kmh = 0;
  } else {
    ri.pub.stationary = rule->stationary ? 1 : 0;
  }
  ri.cooldown_ns = secs_to_ns(ri.pub.cooldown_s);
  ri.min_dur_ns = secs_to_ns(ri.pub.min_duration_s);
  ri.after_ns = secs_to_ns(ri.pub.after_s);
  ri.window_ns = secs_to_ns(ri.pub.window_s);
  ri.drop_h = (int32_t)lround(ri.pub.drop_pct * 100.0);
  switch (rule->type) {
  case FLEET_RULE_OVERSPEED:
  case FLEET_RULE_LOW_BATTERY:
  case FLEET_RULE_ENGINE_TEMP:
  case FLEET_RULE_OFFLINE:
  case FLEET_RULE_FUEL_DROP:
    ri.needs_slot = true;
    break;
  default:
    ri.needs_slot = ri.cooldown_ns > 0 || ri.pub.n_vehicles > 0;
    break;
  }
  rs->rules[rs->n++] = ri;
  if (rule->type == FLEET_RULE_OVERSPEED && ri.pub.zone_limits)
    rs->zone_limits = true;
  if (rule->type == FLEET_RULE_OFFLINE)
    rs->offline = true;
  if (is_zone_type(rule->type))
    rs->zone_rules = true;
  return 0;
oom:
  rule_int_dispose(&ri);
  return fleet_error__oom();
}

int fleet_ruleset_add(fleet_ruleset_t *rs, const fleet_rule_t *rule)
{
  if (!rs || !rule)
    return fleet_error__set(FLEET_EINVAL, "rule set or rule is NULL");
  char prefix[FLEET_RULE_ID_MAX + 16];
  if (rule->id && strlen(rule->id) <= FLEET_RULE_ID_MAX)
    snprintf(prefix, sizeof prefix, "rule '%s'", rule->id);
  else
    snprintf(prefix, sizeof prefix, "rule %zu", rs->n);
  return ruleset_add(rs, rule, prefix);
}

bool fleet_rules__uses_zone_limits(const fleet_ruleset_t *rs)
{
  return rs && rs->zone_limits;
}

bool fleet_rules__has_offline(const fleet_ruleset_t *rs)
{
  return rs && rs->offline;
}

bool fleet_rules__has_zone_rules(const fleet_ruleset_t *rs)
{
  return rs && rs->zone_rules;
}

/* ---- JSON input ----------------------------------------------------------- */

enum member_code {
  M_ID, M_TYPE, M_SEVERITY, M_COOLDOWN, M_DESCRIPTION, M_VEHICLES, M_ZONES,
  M_THRESHOLD, M_HYSTERESIS, M_MIN_DURATION, M_ZONE_LIMITS, M_AFTER, M_DROP, M_WINDOW,
  M_STATIONARY, M_STATIONARY_KMH
};

#define T(x) (1u << (x))
#define ALL_TYPES 0x3feu

static const struct member {
  const char *name;
  enum member_code code;
  unsigned int types;    /* rule types that accept the member */
  unsigned int required; /* rule types that require it */
} members[] = {
  {"id", M_ID, ALL_TYPES, ALL_TYPES},
  {"type", M_TYPE, ALL_TYPES, ALL_TYPES},
  {"severity", M_SEVERITY, ALL_TYPES, 0},
  {"cooldown_s", M_COOLDOWN, ALL_TYPES, 0},
  {"description", M_DESCRIPTION, ALL_TYPES, 0},
  {"vehicles", M_VEHICLES, ALL_TYPES, 0},
  {"zones", M_ZONES, T(FLEET_RULE_ZONE_ENTER) | T(FLEET_RULE_ZONE_EXIT), 0},
  {"threshold_kmh", M_THRESHOLD, T(FLEET_RULE_OVERSPEED), T(FLEET_RULE_OVERSPEED)},
  {"hysteresis_kmh", M_HYSTERESIS, T(FLEET_RULE_OVERSPEED), 0},
  {"threshold_v", M_THRESHOLD, T(FLEET_RULE_LOW_BATTERY), T(FLEET_RULE_LOW_BATTERY)},
  {"hysteresis_v", M_HYSTERESIS, T(FLEET_RULE_LOW_BATTERY), 0},
  {"threshold_c", M_THRESHOLD, T(FLEET_RULE_ENGINE_TEMP), T(FLEET_RULE_ENGINE_TEMP)},
  {"hysteresis_c", M_HYSTERESIS, T(FLEET_RULE_ENGINE_TEMP), 0},
  {"min_duration_s", M_MIN_DURATION,
   T(FLEET_RULE_OVERSPEED) | T(FLEET_RULE_LOW_BATTERY) | T(FLEET_RULE_ENGINE_TEMP), 0},
  {"zone_limits", M_ZONE_LIMITS, T(FLEET_RULE_OVERSPEED), 0},
  {"after_s", M_AFTER, T(FLEET_RULE_OFFLINE), T(FLEET_RULE_OFFLINE)},
  {"drop_pct", M_DROP, T(FLEET_RULE_FUEL_DROP), T(FLEET_RULE_FUEL_DROP)},
  {"window_s", M_WINDOW, T(FLEET_RULE_FUEL_DROP), T(FLEET_RULE_FUEL_DROP)},
  {"stationary", M_STATIONARY, T(FLEET_RULE_FUEL_DROP), 0},
  {"stationary_kmh", M_STATIONARY_KMH, T(FLEET_RULE_FUEL_DROP), 0},
};

static const char *json_kind(const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER:
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  default: return "null";
  }
}

static int want(const char *prefix, const char *key, const json_t *v, bool ok, const char *what)
{
  if (ok)
    return 0;
  return fleet_error__set(FLEET_ETYPE, "%s.%s: expected %s, got %s", prefix, key, what,
                          json_kind(v));
}

/* A string list member: an array of strings, null or "*" (every one). */
static int parse_list(const char ***out, size_t *out_n, const char *prefix, const char *key,
                      json_t *v)
{
  *out = NULL;
  *out_n = 0;
  if (json_is_null(v))
    return 0;
  if (json_is_string(v)) {
    if (!strcmp(json_string_value(v), "*"))
      return 0;
    return fleet_error__set(FLEET_ETYPE, "%s.%s: expected an array of ids or \"*\", got \"%s\"",
                            prefix, key, json_string_value(v));
  }
  int rc = want(prefix, key, v, json_is_array(v), "an array of ids");
  if (rc)
    return rc;
  size_t n = json_array_size(v);
  if (n > 100000)
    return fleet_error__set(FLEET_ETOOBIG, "%s.%s: %zu ids, at most 100000", prefix, key, n);
  if (!n)
    return fleet_error__set(FLEET_ERANGE,
                            "%s.%s: is empty (omit it, or use \"*\", for every one)", prefix,
                            key);
  const char **ids = calloc(n, sizeof *ids);
  if (!ids)
    return fleet_error__oom();
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(v, i);
    if (!json_is_string(e)) {
      free(ids);
      return fleet_error__set(FLEET_ETYPE, "%s.%s[%zu]: expected a string, got %s", prefix, key,
                              i, json_kind(e));
    }
    ids[i] = json_string_value(e);
  }
  *out = ids;
  *out_n = n;
  return 0;
}

static int parse_rule(fleet_ruleset_t *rs, json_t *obj, size_t idx)
{
  char prefix[32];
  snprintf(prefix, sizeof prefix, "rules[%zu]", idx);
  if (!json_is_object(obj))
    return fleet_error__set(FLEET_ETYPE, "%s: expected an object, got %s", prefix,
                            json_kind(obj));
  fleet_rule_t r;
  fleet_rule_init(&r, FLEET_RULE_VERSION);

  json_t *jtype = json_object_get(obj, "type");
  if (!jtype)
    return fleet_error__set(FLEET_EMISSING, "%s.type: missing", prefix);
  int rc = want(prefix, "type", jtype, json_is_string(jtype), "a string");
  if (rc)
    return rc;
  const char *tname = json_string_value(jtype);
  for (size_t t = 1; t < FLEET_ARRAY_LEN(type_names); t++)
    if (!strcmp(tname, type_names[t]))
      r.type = (fleet_rule_type_t)t;
  if (!r.type)
    return fleet_error__set(FLEET_ERANGE,
                            "%s.type: '%s' is not one of overspeed, zone_enter, zone_exit, "
                            "ignition_on, ignition_off, offline, low_battery, engine_temp, "
                            "fuel_drop",
                            prefix, tname);
  unsigned int tbit = T(r.type);

  const char **vehicles = NULL, **zones = NULL;
  const char *key;
  json_t *v;
  rc = 0;
  json_object_foreach(obj, key, v) {
    const struct member *m = NULL;
    for (size_t i = 0; i < FLEET_ARRAY_LEN(members); i++)
      if (!strcmp(members[i].name, key) && (members[i].types & tbit)) {
        m = &members[i];
        break;
      }
    if (!m) {
      rc = fleet_error__set(FLEET_EPARSE, "%s.%s: unknown member for a rule of type %s", prefix,
                            key, tname);
      goto done;
    }
    switch (m->code) {
    case M_TYPE:
      break;
    case M_ID:
    case M_DESCRIPTION:
      if ((rc = want(prefix, key, v, json_is_string(v), "a string")))
        goto done;
      if (m->code == M_ID)
        r.id = json_string_value(v);
      else
        r.description = json_string_value(v);
      break;
    case M_SEVERITY:
      if ((rc = want(prefix, key, v, json_is_string(v), "a string")))
        goto done;
      r.severity = 0;
      for (size_t s = 1; s < FLEET_ARRAY_LEN(severity_names); s++)
        if (!strcmp(json_string_value(v), severity_names[s]))
          r.severity = (fleet_severity_t)s;
      if (!r.severity) {
        rc = fleet_error__set(FLEET_ERANGE, "%s.severity: '%s' is not one of info, warning, "
                                            "critical",
                              prefix, json_string_value(v));
        goto done;
      }
      break;
    case M_VEHICLES:
      free(vehicles);
      if ((rc = parse_list(&vehicles, &r.n_vehicles, prefix, key, v)))
        goto done;
      r.vehicles = vehicles;
      break;
    case M_ZONES:
      free(zones);
      if ((rc = parse_list(&zones, &r.n_zones, prefix, key, v)))
        goto done;
      r.zones = zones;
      break;
    case M_ZONE_LIMITS:
    case M_STATIONARY:
      if ((rc = want(prefix, key, v, json_is_boolean(v), "a boolean")))
        goto done;
      if (m->code == M_ZONE_LIMITS)
        r.zone_limits = json_is_true(v);
      else
        r.stationary = json_is_true(v);
      break;
    default: {
      if ((rc = want(prefix, key, v, json_is_number(v), "a number")))
        goto done;
      double d = json_number_value(v);
      switch (m->code) {
      case M_COOLDOWN: r.cooldown_s = d; break;
      case M_THRESHOLD: r.threshold = d; break;
      case M_HYSTERESIS: r.hysteresis = d; break;
      case M_MIN_DURATION: r.min_duration_s = d; break;
      case M_AFTER: r.after_s = d; break;
      case M_DROP: r.drop_pct = d; break;
      case M_WINDOW: r.window_s = d; break;
      case M_STATIONARY_KMH: r.stationary_kmh = d; break;
      default: break;
      }
      break;
    }
    }
  }
  for (size_t i = 0; i < FLEET_ARRAY_LEN(members); i++)
    if ((members[i].required & tbit) && !json_object_get(obj, members[i].name)) {
      rc = fleet_error__set(FLEET_EMISSING, "%s.%s: missing (required for %s)", prefix,
                            members[i].name, tname);
      goto done;
    }
  rc = ruleset_add(rs, &r, prefix);
done:
  free(vehicles);
  free(zones);
  return rc;
}

int fleet_ruleset_load_json(fleet_ruleset_t **out, const char *json, size_t len)
{
  if (!out || (!json && len))
    return fleet_error__set(FLEET_EINVAL, "out or json is NULL");
  *out = NULL;
  json_error_t err;
  json_t *root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &err);
  if (!root)
    return fleet_error__set(FLEET_EPARSE, "rules: line %d, column %d: %s", err.line, err.column,
                            err.text);
  json_t *list = root;
  int rc = 0;
  if (json_is_object(root)) {
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
      if (strcmp(key, "rules")) {
        rc = fleet_error__set(FLEET_EPARSE, "%s: unknown member of the rules document", key);
        goto out;
      }
    }
    list = json_object_get(root, "rules");
    if (!list) {
      rc = fleet_error__set(FLEET_EMISSING, "rules: missing");
      goto out;
    }
    if (!json_is_array(list)) {
      rc = fleet_error__set(FLEET_ETYPE, "rules: expected an array, got %s", json_kind(list));
      goto out;
    }
  } else if (!json_is_array(root)) {
    rc = fleet_error__set(FLEET_EPARSE, "rules: expected an object {\"rules\": [...]} or an "
                                        "array, got %s",
                          json_kind(root));
    goto out;
  }
  if (json_array_size(list) > FLEET_RULESET_MAX_RULES) {
    rc = fleet_error__set(FLEET_ETOOBIG, "rules: %zu rules, at most %d", json_array_size(list),
                          FLEET_RULESET_MAX_RULES);
    goto out;
  }
  fleet_ruleset_t *rs;
  if ((rc = fleet_ruleset_new(&rs)))
    goto out;
  for (size_t i = 0; i < json_array_size(list); i++)
    if ((rc = parse_rule(rs, json_array_get(list, i), i))) {
      fleet_ruleset_free(rs);
      goto out;
    }
  *out = rs;
out:
  json_decref(root);
  return rc;
}

int fleet_ruleset_load_file(fleet_ruleset_t **out, const char *path)
{
  if (!out || !path)
    return fleet_error__set(FLEET_EINVAL, "out or path is NULL");
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f)
    return fleet_error__set(FLEET_EIO, "%s: %s", path, strerror(errno));
  fleet_buf_t buf = FLEET_BUF_INIT;
  char chunk[8192];
  size_t n;
  int rc = 0;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (buf.len + n > FLEET_RULESET_MAX_FILE_BYTES) {
      rc = fleet_error__set(FLEET_ETOOBIG, "%s: larger than %d bytes", path,
                            FLEET_RULESET_MAX_FILE_BYTES);
      break;
    }
    if ((rc = fleet_buf_append(&buf, chunk, n)))
      break;
  }
  if (!rc && ferror(f))
    rc = fleet_error__set(FLEET_EIO, "%s: read error", path);
  fclose(f);
  if (!rc) {
    rc = fleet_ruleset_load_json(out, buf.ptr, buf.len);
    if (rc) {
      char msg[FLEET_ERROR_MAX];
      snprintf(msg, sizeof msg, "%s", fleet_error_last());
      fleet_error__set(rc, "%s: %s", path, msg);
    }
  }
  fleet_buf_dispose(&buf);
  return rc;
}

/* ---- JSON output ---------------------------------------------------------- */

static int put_str(fleet_buf_t *b, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  int rc = fleet_buf__putc(b, '"');
  for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
    if (*p == '"' || *p == '\\') {
      char esc[2] = {'\\', (char)*p};
      rc = fleet_buf_append(b, esc, 2);
    } else if (*p < 0x20 || *p == 0x7f) {
      char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
      rc = fleet_buf_append(b, esc, 6);
    } else {
      rc = fleet_buf__putc(b, (char)*p);
    }
  }
  return rc ? rc : fleet_buf__putc(b, '"');
}

static int put_num(fleet_buf_t *b, const char *key, double v)
{
  char num[FLEET_NUMFMT_DOUBLE_MAX];
  int n = fleet_numfmt__double(num, sizeof num, v);
  if (n < 0)
    return n;
  return fleet_buf__printf(b, ",\"%s\":%s", key, num);
}

static int put_list(fleet_buf_t *b, const char *key, const char *const *v, size_t n)
{
  if (!n)
    return 0;
  int rc = fleet_buf__printf(b, ",\"%s\":[", key);
  for (size_t i = 0; !rc && i < n; i++) {
    if (i)
      rc = fleet_buf__putc(b, ',');
    if (!rc)
      rc = put_str(b, v[i]);
  }
  return rc ? rc : fleet_buf__putc(b, ']');
}

static int encode_rule(fleet_buf_t *b, const fleet_rule_t *r)
{
  int rc = fleet_buf__puts(b, "{\"id\":");
  if (!rc)
    rc = put_str(b, r->id);
  if (!rc)
    rc = fleet_buf__printf(b, ",\"type\":\"%s\",\"severity\":\"%s\"", fleet_rule_type_name(r->type),
                           fleet_severity_name(r->severity));
  if (!rc && r->cooldown_s > 0)
    rc = put_num(b, "cooldown_s", r->cooldown_s);
  if (!rc && r->description) {
    rc = fleet_buf__puts(b, ",\"description\":");
    if (!rc)
      rc = put_str(b, r->description);
  }
  if (!rc)
    rc = put_list(b, "vehicles", r->vehicles, r->n_vehicles);
  if (!rc)
    rc = put_list(b, "zones", r->zones, r->n_zones);
  if (!rc && is_threshold_type(r->type)) {
    rc = put_num(b, threshold_key(r->type), r->threshold);
    if (!rc)
      rc = put_num(b, hysteresis_key(r->type), r->hysteresis);
    if (!rc)
      rc = put_num(b, "min_duration_s", r->min_duration_s);
  }
  if (!rc && r->type == FLEET_RULE_OVERSPEED)
    rc = fleet_buf__printf(b, ",\"zone_limits\":%s", r->zone_limits ? "true" : "false");
  if (!rc && r->type == FLEET_RULE_OFFLINE)
    rc = put_num(b, "after_s", r->after_s);
  if (!rc && r->type == FLEET_RULE_FUEL_DROP) {
    rc = put_num(b, "drop_pct", r->drop_pct);
    if (!rc)
      rc = put_num(b, "window_s", r->window_s);
    if (!rc)
      rc = fleet_buf__printf(b, ",\"stationary\":%s", r->stationary ? "true" : "false");
    if (!rc)
      rc = put_num(b, "stationary_kmh", r->stationary_kmh);
  }
  return rc ? rc : fleet_buf__putc(b, '}');
}

int fleet_ruleset_encode_json(fleet_buf_t *buf, const fleet_ruleset_t *rs)
{
  if (!buf || !rs)
    return fleet_error__set(FLEET_EINVAL, "buffer or rule set is NULL");
  size_t mark = buf->len;
  int rc = fleet_buf__puts(buf, "{\"rules\":[");
  for (size_t i = 0; !rc && i < rs->n; i++) {
    if (i)
      rc = fleet_buf__putc(buf, ',');
    if (!rc)
      rc = encode_rule(buf, &rs->rules[i].pub);
  }
  if (!rc)
    rc = fleet_buf__puts(buf, "]}");
  if (rc) {
    buf->len = mark;
    if (buf->ptr)
      buf->ptr[mark] = '\0';
  }
  return rc;
}

/* ---- evaluation engine ---------------------------------------------------- */

enum phase { PH_IDLE = 0, PH_PENDING = 1, PH_ACTIVE = 2 };

/* 24 bytes per applicable rule. For offline rules PH_ACTIVE means "fired for
 * this silence"; for fuel_drop `since_ns` is the time base of the queue. */
typedef struct slot {
  uint16_t rule;
  uint8_t phase;
  uint8_t nq;
  uint32_t ext;
  int64_t since_ns;
  int64_t last_alert_ns;
} slot_t;

/* fuel_drop: a monotone queue of (time, level) whose front is the highest level
 * within the window. Levels are hundredths of a point, so the comparison with
 * drop_pct is exact for the two-decimal values sensors report. When the queue
 * is full its second entry is dropped: the front (the current maximum) stays,
 * so the engine can only under-report a drop, never invent one. */
typedef struct fuel_ext {
  int32_t t_ms[FUEL_Q];
  uint16_t lvl[FUEL_Q];
} fuel_ext_t;

struct fleet_rules__vstate {
  uint16_t n;
  uint16_t n_fuel;
  uint32_t reserved;
  slot_t slots[];
};

#define NO_ALERT INT64_MIN

/* later - earlier, saturated: timestamps may lie anywhere in 1678-2261 and the
 * clock given to a tick anywhere at all, so a plain difference could overflow. */
static int64_t span_ns(int64_t later, int64_t earlier)
{
  int64_t d;
  if (__builtin_sub_overflow(later, earlier, &d))
    return later > earlier ? INT64_MAX : INT64_MIN;
  return d;
}

static fuel_ext_t *exts(fleet_rules__vstate_t *vs)
{
  return (fuel_ext_t *)(void *)(vs->slots + vs->n);
}

static const fuel_ext_t *cexts(const fleet_rules__vstate_t *vs)
{
  return (const fuel_ext_t *)(const void *)(vs->slots + vs->n);
}

static bool in_list(char *const *list, size_t n, const char *s)
{
  return bsearch(&s, list, n, sizeof *list, cmp_str) != NULL;
}

static bool applies(const rule_int_t *r, const char *vehicle_id)
{
  return !r->pub.n_vehicles || in_list(r->vehicles, r->pub.n_vehicles, vehicle_id);
}

static size_t vstate_size(size_t n, size_t n_fuel)
{
  return sizeof(fleet_rules__vstate_t) + n * sizeof(slot_t) + n_fuel * sizeof(fuel_ext_t);
}

int fleet_rules__state_build(fleet_rules__vstate_t **out, const fleet_ruleset_t *rs,
                             const char *vehicle_id, const fleet_rules__vstate_t *old,
                             const fleet_ruleset_t *old_rs)
{
  *out = NULL;
  if (!rs)
    return 0;
  size_t n = 0, n_fuel = 0;
  for (size_t i = 0; i < rs->n; i++) {
    const rule_int_t *r = &rs->rules[i];
    if (r->needs_slot && applies(r, vehicle_id)) {
      n++;
      if (r->pub.type == FLEET_RULE_FUEL_DROP)
        n_fuel++;
    }
  }
  if (!n)
    return 0;
  fleet_rules__vstate_t *vs = calloc(1, vstate_size(n, n_fuel));
  if (!vs)
    return fleet_error__oom();
  vs->n = (uint16_t)n;
  vs->n_fuel = (uint16_t)n_fuel;
  size_t k = 0, f = 0;
  for (size_t i = 0; i < rs->n; i++) {
    const rule_int_t *r = &rs->rules[i];
    if (!r->needs_slot || !applies(r, vehicle_id))
      continue;
    slot_t *s = &vs->slots[k++];
    s->rule = (uint16_t)i;
    s->last_alert_ns = NO_ALERT;
    if (r->pub.type == FLEET_RULE_FUEL_DROP)
      s->ext = (uint32_t)f++;
    if (!old || !old_rs)
      continue;
    for (size_t j = 0; j < old->n; j++) {
      const slot_t *os = &old->slots[j];
      const rule_int_t *orule = &old_rs->rules[os->rule];
      if (orule->pub.type != r->pub.type || strcmp(orule->id, r->id))
        continue;
      uint32_t ext = s->ext;
      *s = *os;
      s->rule = (uint16_t)i;
      s->ext = ext;
      if (r->pub.type == FLEET_RULE_FUEL_DROP)
        exts(vs)[ext] = cexts(old)[os->ext];
      break;
    }
  }
  *out = vs;
  return 0;
}

void fleet_rules__state_free(fleet_rules__vstate_t *vs)
{
  free(vs);
}

size_t fleet_rules__state_bytes(const fleet_rules__vstate_t *vs)
{
  return vs ? vstate_size(vs->n, vs->n_fuel) : 0;
}

/* Rounded to 0.1 and written without locale or trailing zeros: "96.5", "80". */
static const char *num1(char out[FLEET_NUMFMT_DOUBLE_MAX], double v)
{
  double r = round(v * 10.0) / 10.0;
  if (r == 0)
    r = 0;
  if (fleet_numfmt__double(out, FLEET_NUMFMT_DOUBLE_MAX, r) < 0)
    snprintf(out, FLEET_NUMFMT_DOUBLE_MAX, "?");
  return out;
}

typedef struct emitter {
  fleet_rules__emit_fn fn;
  void *ud;
} emitter_t;

/* Cooldown gate, then delivery. A suppressed alert still counts as the
 * episode's alert, so an episode never alerts late when the cooldown ends. */
static int fire(slot_t *s, const rule_int_t *r, int64_t ts, fleet_alert_t *a,
                const emitter_t *em)
{
  if (s && r->cooldown_ns > 0) {
    if (s->last_alert_ns != NO_ALERT && span_ns(ts, s->last_alert_ns) < r->cooldown_ns)
      return 0;
    s->last_alert_ns = ts;
  }
  a->rule_id = r->id;
  a->rule_type = r->pub.type;
  a->severity = r->pub.severity;
  return em->fn(em->ud, ts, a);
}

/* The threshold episode machine shared by overspeed, low_battery, engine_temp. */
static bool episode_step(slot_t *s, const rule_int_t *r, int64_t ts, double v, double limit,
                         bool above)
{
  double h = r->pub.hysteresis;
  bool over = above ? v > limit : v < limit;
  switch (s->phase) {
  case PH_ACTIVE:
    if (above ? v < limit - h : v > limit + h)
      s->phase = PH_IDLE;
    return false;
  case PH_PENDING:
    if (!over) {
      s->phase = PH_IDLE;
      return false;
    }
    break;
  default:
    if (!over)
      return false;
    s->phase = PH_PENDING;
    s->since_ns = ts;
    break;
  }
  if (span_ns(ts, s->since_ns) < r->min_dur_ns)
    return false;
  s->phase = PH_ACTIVE;
  return true;
}

static int eval_threshold(slot_t *s, const rule_int_t *r, const fleet_rules__fix_t *fx,
                          const emitter_t *em)
{
  char m[FLEET_ALERT_MESSAGE_MAX], a1[FLEET_NUMFMT_DOUBLE_MAX], a2[FLEET_NUMFMT_DOUBLE_MAX];
  fleet_alert_t a;
  memset(&a, 0, sizeof a);
  a.message = m;
  switch (r->pub.type) {
  case FLEET_RULE_OVERSPEED: {
    if (!(fx->present & FLEET_TELEMETRY_SPEED))
      return 0;
    bool zone = r->pub.zone_limits && !isnan(fx->zone_limit_kmh);
    double limit = zone ? fx->zone_limit_kmh : r->pub.threshold;
    if (!episode_step(s, r, fx->ts_ns, fx->speed_kmh, limit, true))
      return 0;
    a.value = fx->speed_kmh;
    a.limit = limit;
    snprintf(m, sizeof m, "speed %s km/h over %slimit %s km/h", num1(a1, a.value),
             zone ? "zone " : "", num1(a2, limit));
    break;
  }
  case FLEET_RULE_LOW_BATTERY:
    if (!(fx->present & FLEET_TELEMETRY_BATTERY_V) ||
        !episode_step(s, r, fx->ts_ns, fx->battery_v, r->pub.threshold, false))
      return 0;
    a.value = fx->battery_v;
    a.limit = r->pub.threshold;
    snprintf(m, sizeof m, "battery %s V below %s V", num1(a1, a.value), num1(a2, a.limit));
    break;
  default:
    if (!(fx->present & FLEET_TELEMETRY_ENGINE_TEMP) ||
        !episode_step(s, r, fx->ts_ns, fx->engine_temp_c, r->pub.threshold, true))
      return 0;
    a.value = fx->engine_temp_c;
    a.limit = r->pub.threshold;
    snprintf(m, sizeof m, "engine temperature %s C above %s C", num1(a1, a.value),
             num1(a2, a.limit));
    break;
  }
  return fire(s, r, fx->ts_ns, &a, em);
}

static void fuel_reset(slot_t *s, fuel_ext_t *q, int64_t ts, uint16_t lvl)
{
  s->since_ns = ts;
  s->nq = 1;
  q->t_ms[0] = 0;
  q->lvl[0] = lvl;
}

static int eval_fuel(slot_t *s, fuel_ext_t *q, const rule_int_t *r,
                     const fleet_rules__fix_t *fx, const emitter_t *em)
{
  if (r->pub.stationary && (fx->present & FLEET_TELEMETRY_SPEED) &&
      fx->speed_kmh >= r->pub.stationary_kmh) {
    s->nq = 0;
    return 0;
  }
  if (!(fx->present & FLEET_TELEMETRY_FUEL_LEVEL))
    return 0;
  int64_t ts = fx->ts_ns;
  uint16_t lvl = (uint16_t)lround(fx->fuel_level_pct * 100.0);
  if (!s->nq || ts < s->since_ns + (int64_t)q->t_ms[s->nq - 1] * 1000000) {
    fuel_reset(s, q, ts, lvl);
    return 0;
  }
  /* Forget levels older than the window, then those not above the new one. */
  size_t drop = 0;
  while (drop < s->nq &&
         span_ns(ts, s->since_ns + (int64_t)q->t_ms[drop] * 1000000) > r->window_ns)
    drop++;
  size_t n = s->nq;
  if (drop) {
    memmove(q->t_ms, q->t_ms + drop, (n - drop) * sizeof q->t_ms[0]);
    memmove(q->lvl, q->lvl + drop, (n - drop) * sizeof q->lvl[0]);
    n -= drop;
  }
  while (n && q->lvl[n - 1] <= lvl)
    n--;
  if (!n) {
    fuel_reset(s, q, ts, lvl);
    return 0;
  }
  /* Rebase so the front is at offset 0: every offset then stays within the window. */
  int32_t base = q->t_ms[0];
  if (base) {
    for (size_t i = 0; i < n; i++)
      q->t_ms[i] -= base;
    s->since_ns += (int64_t)base * 1000000;
  }
  if (n == FUEL_Q) {
    memmove(q->t_ms + 1, q->t_ms + 2, (FUEL_Q - 2) * sizeof q->t_ms[0]);
    memmove(q->lvl + 1, q->lvl + 2, (FUEL_Q - 2) * sizeof q->lvl[0]);
    n--;
  }
  q->t_ms[n] = (int32_t)((ts - s->since_ns) / 1000000);
  q->lvl[n] = lvl;
  s->nq = (uint8_t)(n + 1);
  int32_t fell = (int32_t)q->lvl[0] - (int32_t)lvl;
  if (fell < r->drop_h)
    return 0;
  char m[FLEET_ALERT_MESSAGE_MAX], a1[FLEET_NUMFMT_DOUBLE_MAX], a2[FLEET_NUMFMT_DOUBLE_MAX],
    a3[FLEET_NUMFMT_DOUBLE_MAX], a4[FLEET_NUMFMT_DOUBLE_MAX];
  fleet_alert_t a;
  memset(&a, 0, sizeof a);
  a.message = m;
  a.value = fell / 100.0;
  a.limit = r->pub.drop_pct;
  double from = q->lvl[0] / 100.0;
  double secs = ((double)ts - (double)s->since_ns) / NS_PER_S;
  snprintf(m, sizeof m, "fuel level fell %s points, from %s%% to %s%%, in %s s", num1(a1, a.value),
           num1(a2, from), num1(a3, lvl / 100.0), num1(a4, secs));
  fuel_reset(s, q, ts, lvl);
  return fire(s, r, ts, &a, em);
}

static int eval_ignition(slot_t *s, const rule_int_t *r, const fleet_rules__fix_t *fx,
                         const emitter_t *em)
{
  if (!(fx->present & FLEET_TELEMETRY_IGNITION) || fx->prev_ignition < 0 ||
      fx->prev_ignition == fx->ignition)
    return 0;
  int want_on = r->pub.type == FLEET_RULE_IGNITION_ON;
  if ((fx->ignition != 0) != want_on)
    return 0;
  fleet_alert_t a;
  memset(&a, 0, sizeof a);
  a.message = want_on ? "ignition switched on" : "ignition switched off";
  return fire(s, r, fx->ts_ns, &a, em);
}

int fleet_rules__eval_fix(fleet_rules__vstate_t *vs, const fleet_ruleset_t *rs,
                          const fleet_rules__fix_t *fix, fleet_rules__emit_fn emit, void *ud)
{
  if (!rs)
    return 0;
  emitter_t em = {emit, ud};
  size_t si = 0;
  for (size_t i = 0; i < rs->n; i++) {
    const rule_int_t *r = &rs->rules[i];
    slot_t *s = NULL;
    if (vs && si < vs->n && vs->slots[si].rule == i)
      s = &vs->slots[si++];
    else if (r->needs_slot)
      continue; /* out of this vehicle's scope */
    int rc = 0;
    switch (r->pub.type) {
    case FLEET_RULE_OVERSPEED:
    case FLEET_RULE_LOW_BATTERY:
    case FLEET_RULE_ENGINE_TEMP:
      rc = eval_threshold(s, r, fix, &em);
      break;
    case FLEET_RULE_IGNITION_ON:
    case FLEET_RULE_IGNITION_OFF:
      rc = eval_ignition(s, r, fix, &em);
      break;
    case FLEET_RULE_OFFLINE:
      s->phase = PH_IDLE;
      break;
    case FLEET_RULE_FUEL_DROP:
      rc = eval_fuel(s, &exts(vs)[s->ext], r, fix, &em);
      break;
    default:
      break;
    }
    if (rc)
      return rc;
  }
  return 0;
}

int fleet_rules__eval_zone(fleet_rules__vstate_t *vs, const fleet_ruleset_t *rs,
                           int64_t ts_ns, int enter, const char *zone_id,
                           const char *zone_name, double dwell_s,
                           fleet_rules__emit_fn emit, void *ud)
{
  if (!rs || !rs->zone_rules)
    return 0;
  emitter_t em = {emit, ud};
  fleet_rule_type_t want = enter ? FLEET_RULE_ZONE_ENTER : FLEET_RULE_ZONE_EXIT;
  size_t si = 0;
  for (size_t i = 0; i < rs->n; i++) {
    const rule_int_t *r = &rs->rules[i];
    slot_t *s = NULL;
    if (vs && si < vs->n && vs->slots[si].rule == i)
      s = &vs->slots[si++];
    else if (r->needs_slot)
      continue;
    if (r->pub.type != want ||
        (r->pub.n_zones && !in_list(r->zones, r->pub.n_zones, zone_id)))
      continue;
    char m[FLEET_ALERT_MESSAGE_MAX], a1[FLEET_NUMFMT_DOUBLE_MAX];
    fleet_alert_t a;
    memset(&a, 0, sizeof a);
    a.message = m;
    a.zone_id = zone_id;
    a.zone_name = zone_name;
    const char *label = zone_name && *zone_name ? zone_name : zone_id;
    if (enter) {
      snprintf(m, sizeof m, "entered zone %s", label);
    } else {
      a.value = dwell_s;
      snprintf(m, sizeof m, "left zone %s after %s s", label, num1(a1, dwell_s));
    }
    int rc = fire(s, r, ts_ns, &a, &em);
    if (rc)
      return rc;
  }
  return 0;
}

int fleet_rules__eval_tick(fleet_rules__vstate_t *vs, const fleet_ruleset_t *rs,
                           int64_t last_ts_ns, int64_t now_ns,
                           fleet_rules__emit_fn emit, void *ud)
{
  if (!vs || !rs || !rs->offline)
    return 0;
  emitter_t em = {emit, ud};
  for (size_t k = 0; k < vs->n; k++) {
    slot_t *s = &vs->slots[k];
    const rule_int_t *r = &rs->rules[s->rule];
    if (r->pub.type != FLEET_RULE_OFFLINE || s->phase == PH_ACTIVE ||
        span_ns(now_ns, last_ts_ns) < r->after_ns)
      continue;
    s->phase = PH_ACTIVE;
    char m[FLEET_ALERT_MESSAGE_MAX], a1[FLEET_NUMFMT_DOUBLE_MAX];
    fleet_alert_t a;
    memset(&a, 0, sizeof a);
    a.message = m;
    a.value = ((double)now_ns - (double)last_ts_ns) / NS_PER_S;
    a.limit = r->pub.after_s;
    snprintf(m, sizeof m, "no data for %s s", num1(a1, a.value));
    int rc = fire(s, r, now_ns, &a, &em);
    if (rc)
      return rc;
  }
  return 0;
}
