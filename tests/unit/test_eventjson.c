/* Unit tests for the JSON form of trips, stops, tracker events and stored
 * rows (fleet/eventjson.h). Every expected string is written out by hand. */
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common_int.h"
#include "fleet/eventjson.h"

#define NS 1000000000LL
/* 2026-05-21T06:00:00Z */
#define T0 (1779343200LL * NS)

/* Encode with `rc_call` into a fresh buffer and compare. */
#define ENCODES(want, call)                              \
  do {                                                   \
    fleet_buf_t b_ = FLEET_BUF_INIT;                     \
    fleet_buf_t *buf = &b_;                              \
    assert_int_equal((call), 0);                         \
    assert_string_equal(b_.ptr, (want));                 \
    assert_int_equal(b_.len, strlen(want));              \
    fleet_buf_dispose(&b_);                              \
  } while (0)

/* A failing call must return `code`, leave "prefix" in the buffer untouched
 * and say why (the message contains `why`). */
#define FAILS(code, why, call)                           \
  do {                                                   \
    fleet_buf_t b_ = FLEET_BUF_INIT;                     \
    fleet_buf_t *buf = &b_;                              \
    fleet_buf_append(&b_, "prefix", 6);                  \
    assert_int_equal((call), (code));                    \
    assert_string_equal(b_.ptr, "prefix");               \
    assert_int_equal(b_.len, 6);                         \
    assert_non_null(strstr(fleet_error_last(), (why)));  \
    fleet_buf_dispose(&b_);                              \
  } while (0)

static fleet_trip_t sample_trip(void)
{
  fleet_trip_t t;
  memset(&t, 0, sizeof t);
  strcpy(t.vehicle_id, "v-1");
  t.start_ns = T0;
  t.end_ns = T0 + 480 * NS + NS / 2;
  t.start_lat = 23.81031234567; /* 7 decimals: the 8th (4) rounds down */
  t.start_lng = -0.00000001;    /* rounds to -0, written 0 */
  t.end_lat = 1.5;
  t.end_lng = 90.4125;
  t.duration_s = 480.5;
  t.distance_m = 5337.4123;
  t.moving_s = 450.25;
  t.idle_s = 0.0004;
  t.max_speed_kmh = 95.126;
  t.avg_speed_kmh = 40.0305;
  t.fuel_l = 1.23456;
  t.n_fixes = 9;
  t.flags = FLEET_TRIP_DISTANCE_ODOMETER | FLEET_TRIP_FUEL_ESTIMATED;
  t.end_reason = FLEET_TRIP_END_PARKED;
  return t;
}

static void test_trip(void **state)
{
  (void)state;
  fleet_trip_t t = sample_trip();
  ENCODES("{\"type\":\"trip\",\"vehicle_id\":\"v-1\",\"start\":\"2026-05-21T06:00:00Z\","
          "\"end\":\"2026-05-21T06:08:00.500Z\",\"start_lat\":23.8103123,\"start_lng\":0,"
          "\"end_lat\":1.5,\"end_lng\":90.4125,\"distance_m\":5337.4,\"duration_s\":480.5,"
          "\"moving_s\":450.25,\"idle_s\":0,\"max_speed_kmh\":95.13,\"avg_speed_kmh\":40.03,"
          "\"fuel_l\":1.235,\"end_reason\":\"parked\",\"fixes\":9,"
          "\"distance_source\":\"odometer\"}",
          fleet_trip_encode_json(buf, &t, FLEET_EVENTJSON_TYPE | FLEET_EVENTJSON_DETAILS));

  /* The REST form: no type, no details; no fuel method means no estimate. */
  t.flags = 0;
  t.end_reason = FLEET_TRIP_END_NONE;
  ENCODES("{\"vehicle_id\":\"v-1\",\"start\":\"2026-05-21T06:00:00Z\","
          "\"end\":\"2026-05-21T06:08:00.500Z\",\"start_lat\":23.8103123,\"start_lng\":0,"
          "\"end_lat\":1.5,\"end_lng\":90.4125,\"distance_m\":5337.4,\"duration_s\":480.5,"
          "\"moving_s\":450.25,\"idle_s\":0,\"max_speed_kmh\":95.13,\"avg_speed_kmh\":40.03,"
          "\"fuel_l\":null}",
          fleet_trip_encode_json(buf, &t, 0));

  /* Fuel from the level counts as an estimate too; GPS distance. */
  t.flags = FLEET_TRIP_FUEL_FROM_LEVEL;
  t.fuel_l = 12;
  t.end_reason = FLEET_TRIP_END_DATA_GAP;
  fleet_buf_t b = FLEET_BUF_INIT;
  assert_int_equal(fleet_trip_encode_json(&b, &t, FLEET_EVENTJSON_DETAILS), 0);
  assert_non_null(strstr(b.ptr, ",\"fuel_l\":12,\"end_reason\":\"data_gap\",\"fixes\":9,"
                                "\"distance_source\":\"gps\"}"));
  assert_null(strstr(b.ptr, "\"type\""));
  fleet_buf_dispose(&b);
}

static void test_history_trip_matches_live_trip(void **state)
{
  (void)state;
  fleet_trip_t t = sample_trip();
  fleet_history_trip_t h;
  memset(&h, 0, sizeof h);
  strcpy(h.vehicle_id, t.vehicle_id);
  h.start_ns = t.start_ns;
  h.end_ns = t.end_ns;
  h.distance_m = t.distance_m;
  h.duration_s = t.duration_s;
  h.moving_s = t.moving_s;
  h.idle_s = t.idle_s;
  h.max_speed_kmh = t.max_speed_kmh;
  h.avg_speed_kmh = t.avg_speed_kmh;
  h.has_fuel = 1;
  h.fuel_l = t.fuel_l;
  h.start_lat = t.start_lat;
  h.start_lng = t.start_lng;
  h.end_lat = t.end_lat;
  h.end_lng = t.end_lng;
  /* Details are what only the detector knows: a stored trip has none. */
  fleet_buf_t a = FLEET_BUF_INIT, b = FLEET_BUF_INIT;
  assert_int_equal(fleet_trip_encode_json(&a, &t, FLEET_EVENTJSON_TYPE), 0);
  assert_int_equal(
      fleet_history_trip_encode_json(&b, &h, FLEET_EVENTJSON_TYPE | FLEET_EVENTJSON_DETAILS), 0);
  assert_string_equal(a.ptr, b.ptr);
  fleet_buf_dispose(&a);
  fleet_buf_dispose(&b);

  h.has_fuel = 0;
  h.end_lng = 1e20; /* beyond a double's fraction: shortest exact form */
  h.distance_m = INFINITY;
  ENCODES("{\"vehicle_id\":\"v-1\",\"start\":\"2026-05-21T06:00:00Z\","
          "\"end\":\"2026-05-21T06:08:00.500Z\",\"start_lat\":23.8103123,\"start_lng\":0,"
          "\"end_lat\":1.5,\"end_lng\":1e+20,\"distance_m\":null,\"duration_s\":480.5,"
          "\"moving_s\":450.25,\"idle_s\":0,\"max_speed_kmh\":95.13,\"avg_speed_kmh\":40.03,"
          "\"fuel_l\":null}",
          fleet_history_trip_encode_json(buf, &h, 0));
}

static void test_stop(void **state)
{
  (void)state;
  fleet_stop_t s;
  memset(&s, 0, sizeof s);
  s.start_ns = T0 + 600 * NS;
  s.end_ns = T0 + 3000 * NS;
  s.duration_s = 2400;
  s.lat = -12.25;
  s.lng = 0.048;
  s.flags = FLEET_STOP_OPEN | FLEET_STOP_FROM_FIRST_FIX;
  ENCODES("{\"type\":\"stop\",\"vehicle_id\":\"\",\"start\":\"2026-05-21T06:10:00Z\","
          "\"end\":\"2026-05-21T06:50:00Z\",\"duration_s\":2400,\"lat\":-12.25,\"lng\":0.048,"
          "\"open\":true,\"after_data_gap\":false,\"from_first_fix\":true}",
          fleet_stop_encode_json(buf, &s, FLEET_EVENTJSON_TYPE | FLEET_EVENTJSON_DETAILS));
  strcpy(s.vehicle_id, "v-2");
  s.flags = FLEET_STOP_DATA_GAP;
  ENCODES("{\"vehicle_id\":\"v-2\",\"start\":\"2026-05-21T06:10:00Z\","
          "\"end\":\"2026-05-21T06:50:00Z\",\"duration_s\":2400,\"lat\":-12.25,\"lng\":0.048}",
          fleet_stop_encode_json(buf, &s, 0));
  ENCODES("{\"vehicle_id\":\"v-2\",\"start\":\"2026-05-21T06:10:00Z\","
          "\"end\":\"2026-05-21T06:50:00Z\",\"duration_s\":2400,\"lat\":-12.25,\"lng\":0.048,"
          "\"open\":false,\"after_data_gap\":true,\"from_first_fix\":false}",
          fleet_stop_encode_json(buf, &s, FLEET_EVENTJSON_DETAILS));
}

static fleet_tracker_event_t event(fleet_tracker_event_type_t type)
{
  fleet_tracker_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  ev.vehicle_id = "v-1";
  ev.ts_ns = T0 + 240 * NS;
  ev.lat = 0;
  ev.lng = 0.012;
  return ev;
}

static void test_zone_events(void **state)
{
  (void)state;
  fleet_tracker_event_t ev = event(FLEET_TRACKER_EVENT_ZONE_ENTER);
  ev.zone_id = "depot";
  ev.zone_name = "Depot \"North\"";
  ENCODES("{\"type\":\"zone_enter\",\"vehicle_id\":\"v-1\",\"ts\":\"2026-05-21T06:04:00Z\","
          "\"zone_id\":\"depot\",\"zone_name\":\"Depot \\\"North\\\"\",\"lat\":0,\"lng\":0.012}",
          fleet_tracker_event_encode_json(buf, &ev, FLEET_EVENTJSON_TYPE));
  ev.type = FLEET_TRACKER_EVENT_ZONE_EXIT;
  ev.zone_name = NULL; /* a zone without a name goes by its id */
  ev.dwell_s = 60.0004;
  ENCODES("{\"type\":\"zone_exit\",\"vehicle_id\":\"v-1\",\"ts\":\"2026-05-21T06:04:00Z\","
          "\"zone_id\":\"depot\",\"zone_name\":\"depot\",\"dwell_s\":60,\"lat\":0,\"lng\":0.012}",
          fleet_tracker_event_encode_json(buf, &ev, FLEET_EVENTJSON_TYPE));

  /* The same exit read back from storage, with and without a position. */
  fleet_history_zone_event_t z;
  memset(&z, 0, sizeof z);
  strcpy(z.vehicle_id, "v-1");
  z.ts_ns = ev.ts_ns;
  strcpy(z.zone_id, "depot");
  z.dwell_s = 60.0004;
  z.has_position = 1;
  z.lng = 0.012;
  ENCODES("{\"type\":\"zone_exit\",\"vehicle_id\":\"v-1\",\"ts\":\"2026-05-21T06:04:00Z\","
          "\"zone_id\":\"depot\",\"zone_name\":\"depot\",\"dwell_s\":60,\"lat\":0,\"lng\":0.012}",
          fleet_history_zone_event_encode_json(buf, &z, FLEET_EVENTJSON_TYPE));
  z.enter = 1;
  z.has_position = 0;
  strcpy(z.zone_name, "Depot");
  ENCODES("{\"type\":\"zone_enter\",\"vehicle_id\":\"v-1\",\"ts\":\"2026-05-21T06:04:00Z\","
          "\"zone_id\":\"depot\",\"zone_name\":\"Depot\"}",
          fleet_history_zone_event_encode_json(buf, &z, FLEET_EVENTJSON_TYPE));
}

static void test_alerts(void **state)
{
  (void)state;
  fleet_alert_t a = {"speeding", FLEET_RULE_OVERSPEED, FLEET_SEVERITY_CRITICAL,
                     "speed 96.5 km/h over limit 80 km/h", 96.5, 80, NULL, NULL};
  fleet_tracker_event_t ev = event(FLEET_TRACKER_EVENT_ALERT);
  ev.alert = &a;
  ev.lat = 23.5;
  ev.lng = 90.25;
  /* What a WebSocket frame and the MQTT alert carry: no type member. */
  ENCODES("{\"vehicle_id\":\"v-1\",\"ts\":\"2026-05-21T06:04:00Z\",\"rule\":\"speeding\","
          "\"rule_type\":\"overspeed\",\"severity\":\"critical\","
          "\"message\":\"speed 96.5 km/h over limit 80 km/h\",\"value\":96.5,\"limit\":80,"
          "\"lat\":23.5,\"lng\":90.25}",
          fleet_tracker_event_encode_json(buf, &ev, 0));

  /* A zone rule: its zone, from the alert; control characters escaped. */
  fleet_alert_t z = {"depot-in", FLEET_RULE_ZONE_ENTER, FLEET_SEVERITY_INFO,
                     "a\"b\\c\n\t\x01\x7f", 0, 0, "depot", "Depot"};
  ev.alert = &z;
  ev.zone_id = "other"; /* the alert's own zone wins */
  ENCODES("{\"type\":\"alert\",\"vehicle_id\":\"v-1\",\"ts\":\"2026-05-21T06:04:00Z\","
          "\"rule\":\"depot-in\",\"rule_type\":\"zone_enter\",\"severity\":\"info\","
          "\"message\":\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\",\"value\":0,\"limit\":0,"
          "\"zone_id\":\"depot\",\"zone_name\":\"Depot\",\"lat\":23.5,\"lng\":90.25}",
          fleet_tracker_event_encode_json(buf, &ev, FLEET_EVENTJSON_TYPE));

  /* The event's zone when the alert names none; NULL texts are empty. */
  a.zone_id = NULL;
  a.rule_id = NULL;
  a.message = NULL;
  a.value = 11.6;
  a.limit = 11.8;
  ev.alert = &a;
  ev.zone_id = "bridge";
  ev.zone_name = "Bridge";
  ENCODES("{\"vehicle_id\":\"v-1\",\"ts\":\"2026-05-21T06:04:00Z\",\"rule\":\"\","
          "\"rule_type\":\"overspeed\",\"severity\":\"critical\",\"message\":\"\","
          "\"value\":11.6,\"limit\":11.8,\"zone_id\":\"bridge\",\"zone_name\":\"Bridge\","
          "\"lat\":23.5,\"lng\":90.25}",
          fleet_tracker_event_encode_json(buf, &ev, 0));

  /* Stored alerts: strings as stored, zone and position only when known. */
  fleet_history_alert_t h;
  memset(&h, 0, sizeof h);
  strcpy(h.vehicle_id, "v-9");
  h.ts_ns = T0;
  strcpy(h.rule, "silent");
  strcpy(h.type, "offline");
  strcpy(h.severity, "warning");
  strcpy(h.message, "no data for 1500 s");
  h.value = 1500;
  h.limit = 1200.00049;
  ENCODES("{\"vehicle_id\":\"v-9\",\"ts\":\"2026-05-21T06:00:00Z\",\"rule\":\"silent\","
          "\"rule_type\":\"offline\",\"severity\":\"warning\","
          "\"message\":\"no data for 1500 s\",\"value\":1500,\"limit\":1200}",
          fleet_history_alert_encode_json(buf, &h, 0));
  strcpy(h.zone_id, "depot");
  h.has_position = 1;
  h.lat = -1.25;
  h.lng = 2.5;
  ENCODES("{\"type\":\"alert\",\"vehicle_id\":\"v-9\",\"ts\":\"2026-05-21T06:00:00Z\","
          "\"rule\":\"silent\",\"rule_type\":\"offline\",\"severity\":\"warning\","
          "\"message\":\"no data for 1500 s\",\"value\":1500,\"limit\":1200,"
          "\"zone_id\":\"depot\",\"lat\":-1.25,\"lng\":2.5}",
          fleet_history_alert_encode_json(buf, &h, FLEET_EVENTJSON_TYPE));
  strcpy(h.zone_name, "Depot");
  ENCODES("{\"vehicle_id\":\"v-9\",\"ts\":\"2026-05-21T06:00:00Z\","
          "\"rule\":\"silent\",\"rule_type\":\"offline\",\"severity\":\"warning\","
          "\"message\":\"no data for 1500 s\",\"value\":1500,\"limit\":1200,"
          "\"zone_id\":\"depot\",\"zone_name\":\"Depot\",\"lat\":-1.25,\"lng\":2.5}",
          fleet_history_alert_encode_json(buf, &h, 0));
}

static void test_other_events(void **state)
{
  (void)state;
  fleet_tracker_event_t ev = event(FLEET_TRACKER_EVENT_LATE);
  ENCODES("{\"type\":\"late\",\"vehicle_id\":\"v-1\",\"ts\":\"2026-05-21T06:04:00Z\","
          "\"lat\":0,\"lng\":0.012}",
          fleet_tracker_event_encode_json(buf, &ev, FLEET_EVENTJSON_TYPE));
  fleet_trip_t t = sample_trip();
  ev.type = FLEET_TRACKER_EVENT_TRIP_START;
  ev.trip = &t; /* its figures so far are not part of the event's form */
  ENCODES("{\"type\":\"trip_start\",\"vehicle_id\":\"v-1\",\"ts\":\"2026-05-21T06:04:00Z\","
          "\"lat\":0,\"lng\":0.012}",
          fleet_tracker_event_encode_json(buf, &ev, FLEET_EVENTJSON_TYPE));

  /* TRIP_END and STOP events are the trip and the stop. */
  ev.type = FLEET_TRACKER_EVENT_TRIP_END;
  fleet_buf_t a = FLEET_BUF_INIT, b = FLEET_BUF_INIT;
  unsigned int all = FLEET_EVENTJSON_TYPE | FLEET_EVENTJSON_DETAILS;
  assert_int_equal(fleet_tracker_event_encode_json(&a, &ev, all), 0);
  assert_int_equal(fleet_trip_encode_json(&b, &t, all), 0);
  assert_string_equal(a.ptr, b.ptr);
  assert_non_null(strstr(a.ptr, "{\"type\":\"trip\","));
  fleet_stop_t s;
  memset(&s, 0, sizeof s);
  s.duration_s = 1;
  ev.type = FLEET_TRACKER_EVENT_STOP;
  ev.stop = &s;
  fleet_buf_clear(&a);
  fleet_buf_clear(&b);
  assert_int_equal(fleet_tracker_event_encode_json(&a, &ev, all), 0);
  assert_int_equal(fleet_stop_encode_json(&b, &s, all), 0);
  assert_string_equal(a.ptr, b.ptr);
  fleet_buf_dispose(&a);
  fleet_buf_dispose(&b);

  fleet_hourly_t h;
  memset(&h, 0, sizeof h);
  strcpy(h.vehicle_id, "v-1");
  h.hour_ns = T0;
  h.revision = 1;
  h.count = 15;
  h.present = FLEET_HOURLY_SPEED | FLEET_HOURLY_BATTERY;
  h.speed_mean_kmh = 33.333333;
  h.speed_max_kmh = 45;
  h.distance_m = 5337.44;
  h.moving_s = 480;
  h.idle_s = 12.5;
  h.battery_min_v = 11.6;
  h.battery_max_v = 12.4567;
  h.last_lat = 0;
  h.last_lng = 0.048;
  ev.type = FLEET_TRACKER_EVENT_HOURLY;
  ev.hourly = &h;
  ENCODES("{\"type\":\"hourly\",\"vehicle_id\":\"v-1\",\"start\":\"2026-05-21T06:00:00Z\","
          "\"end\":\"2026-05-21T07:00:00Z\",\"revision\":1,\"count\":15,\"distance_m\":5337.4,"
          "\"moving_s\":480,\"idle_s\":12.5,\"speed_mean_kmh\":33.33,\"speed_max_kmh\":45,"
          "\"battery_min_v\":11.6,\"battery_max_v\":12.457,\"last_lat\":0,\"last_lng\":0.048}",
          fleet_tracker_event_encode_json(buf, &ev, FLEET_EVENTJSON_TYPE));
  h.present = FLEET_HOURLY_FUEL;
  h.fuel_min_pct = 40.125; /* exactly halfway in binary too: printf rounds to even */
  h.fuel_max_pct = 63;
  ENCODES("{\"vehicle_id\":\"v-1\",\"start\":\"2026-05-21T06:00:00Z\","
          "\"end\":\"2026-05-21T07:00:00Z\",\"revision\":1,\"count\":15,\"distance_m\":5337.4,"
          "\"moving_s\":480,\"idle_s\":12.5,\"fuel_min_pct\":40.12,\"fuel_max_pct\":63,"
          "\"last_lat\":0,\"last_lng\":0.048}",
          fleet_tracker_event_encode_json(buf, &ev, 0));
}

static void test_appends(void **state)
{
  (void)state;
  fleet_buf_t b = FLEET_BUF_INIT;
  fleet_buf_append(&b, "[", 1);
  fleet_tracker_event_t ev = event(FLEET_TRACKER_EVENT_LATE);
  assert_int_equal(fleet_tracker_event_encode_json(&b, &ev, 0), 0);
  fleet_buf_append(&b, ",", 1);
  assert_int_equal(fleet_tracker_event_encode_json(&b, &ev, 0), 0);
  fleet_buf_append(&b, "]", 1);
  assert_string_equal(b.ptr, "[{\"vehicle_id\":\"v-1\",\"ts\":\"2026-05-21T06:04:00Z\",\"lat\":0,"
                             "\"lng\":0.012},{\"vehicle_id\":\"v-1\",\"ts\":"
                             "\"2026-05-21T06:04:00Z\",\"lat\":0,\"lng\":0.012}]");
  fleet_buf_dispose(&b);
}

static void test_errors(void **state)
{
  (void)state;
  fleet_trip_t t = sample_trip();
  fleet_stop_t s;
  memset(&s, 0, sizeof s);
  fleet_history_trip_t ht;
  memset(&ht, 0, sizeof ht);
  fleet_history_zone_event_t hz;
  memset(&hz, 0, sizeof hz);
  fleet_history_alert_t ha;
  memset(&ha, 0, sizeof ha);
  fleet_tracker_event_t ev = event(FLEET_TRACKER_EVENT_LATE);

  assert_int_equal(fleet_trip_encode_json(NULL, &t, 0), FLEET_EINVAL);
  assert_int_equal(fleet_stop_encode_json(NULL, &s, 0), FLEET_EINVAL);
  assert_int_equal(fleet_tracker_event_encode_json(NULL, &ev, 0), FLEET_EINVAL);
  assert_int_equal(fleet_history_trip_encode_json(NULL, &ht, 0), FLEET_EINVAL);
  assert_int_equal(fleet_history_zone_event_encode_json(NULL, &hz, 0), FLEET_EINVAL);
  assert_int_equal(fleet_history_alert_encode_json(NULL, &ha, 0), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "NULL buffer"));

  FAILS(FLEET_EINVAL, "NULL trip", fleet_trip_encode_json(buf, NULL, 0));
  FAILS(FLEET_EINVAL, "NULL stop", fleet_stop_encode_json(buf, NULL, 0));
  FAILS(FLEET_EINVAL, "NULL event", fleet_tracker_event_encode_json(buf, NULL, 0));
  FAILS(FLEET_EINVAL, "NULL trip", fleet_history_trip_encode_json(buf, NULL, 0));
  FAILS(FLEET_EINVAL, "NULL event", fleet_history_zone_event_encode_json(buf, NULL, 0));
  FAILS(FLEET_EINVAL, "NULL alert", fleet_history_alert_encode_json(buf, NULL, 0));

  unsigned int bad = 1u << 7;
  FAILS(FLEET_EINVAL, "unknown flags 0x80", fleet_trip_encode_json(buf, &t, bad));
  FAILS(FLEET_EINVAL, "unknown flags", fleet_stop_encode_json(buf, &s, bad | 1u));
  FAILS(FLEET_EINVAL, "unknown flags", fleet_tracker_event_encode_json(buf, &ev, bad));
  FAILS(FLEET_EINVAL, "unknown flags", fleet_history_trip_encode_json(buf, &ht, bad));
  FAILS(FLEET_EINVAL, "unknown flags", fleet_history_zone_event_encode_json(buf, &hz, bad));
  FAILS(FLEET_EINVAL, "unknown flags", fleet_history_alert_encode_json(buf, &ha, bad));

  /* Details need an end reason with a name; without them it does not matter. */
  t.end_reason = (fleet_trip_end_reason_t)77;
  FAILS(FLEET_EINVAL, "trip.end_reason: 77",
        fleet_trip_encode_json(buf, &t, FLEET_EVENTJSON_DETAILS));
  fleet_buf_t ok = FLEET_BUF_INIT;
  assert_int_equal(fleet_trip_encode_json(&ok, &t, 0), 0);
  fleet_buf_dispose(&ok);

  ev.type = (fleet_tracker_event_type_t)99;
  FAILS(FLEET_EINVAL, "event.type: 99", fleet_tracker_event_encode_json(buf, &ev, 0));
  const fleet_tracker_event_type_t need[] = {FLEET_TRACKER_EVENT_TRIP_END,
                                             FLEET_TRACKER_EVENT_STOP, FLEET_TRACKER_EVENT_ALERT,
                                             FLEET_TRACKER_EVENT_HOURLY};
  const char *const why[] = {"event.trip: NULL for event type trip_end",
                             "event.stop: NULL for event type stop",
                             "event.alert: NULL for event type alert",
                             "event.hourly: NULL for event type hourly"};
  for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
    ev.type = need[i];
    FAILS(FLEET_EINVAL, why[i], fleet_tracker_event_encode_json(buf, &ev, FLEET_EVENTJSON_TYPE));
  }

  fleet_alert_t a = {"r", (fleet_rule_type_t)0, FLEET_SEVERITY_INFO, "m", 0, 0, NULL, NULL};
  ev.type = FLEET_TRACKER_EVENT_ALERT;
  ev.alert = &a;
  FAILS(FLEET_EINVAL, "alert.rule_type: 0", fleet_tracker_event_encode_json(buf, &ev, 0));
  a.rule_type = FLEET_RULE_OFFLINE;
  a.severity = (fleet_severity_t)42;
  FAILS(FLEET_EINVAL, "alert.severity: 42",
        fleet_tracker_event_encode_json(buf, &ev, FLEET_EVENTJSON_TYPE));
}

/* A locale whose decimal point is a comma must not leak into the output. */
static void test_locale_independent(void **state)
{
  (void)state;
  if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
    skip();
  }
  fleet_tracker_event_t ev = event(FLEET_TRACKER_EVENT_LATE);
  ev.lat = -1.5;
  fleet_buf_t b = FLEET_BUF_INIT;
  int rc = fleet_tracker_event_encode_json(&b, &ev, 0);
  setlocale(LC_NUMERIC, "C");
  assert_int_equal(rc, 0);
  assert_string_equal(b.ptr, "{\"vehicle_id\":\"v-1\",\"ts\":\"2026-05-21T06:04:00Z\","
                             "\"lat\":-1.5,\"lng\":0.012}");
  fleet_buf_dispose(&b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_trip),
    cmocka_unit_test(test_history_trip_matches_live_trip),
    cmocka_unit_test(test_stop),
    cmocka_unit_test(test_zone_events),
    cmocka_unit_test(test_alerts),
    cmocka_unit_test(test_other_events),
    cmocka_unit_test(test_appends),
    cmocka_unit_test(test_errors),
    cmocka_unit_test(test_locale_independent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
