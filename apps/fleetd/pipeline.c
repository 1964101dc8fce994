/*
 * The fleetd pipeline. One thread (the caller of fleetd_run) drives the MQTT
 * client and does everything per message:
 *
 *   on_message: ingest log append (first: the PUBACK has already gone out)
 *            -> parse and validate -> tracker feed (zones, trips, rules,
 *               hourly aggregates) -> line protocol into two local buffers
 *            -> the raw and the downsampled InfluxDB writers (each with its
 *               own thread and disk spool); alerts also go to MQTT.
 *
 * Between messages the same thread ticks the tracker, checkpoints the ingest
 * log and logs the counters, so the tracker needs no lock. A second thread of
 * ours only fdatasyncs the ingest log, so intake never waits for the disk.
 *
 * Checkpoints. The InfluxDB writer reports no per-line delivery (its flush()
 * waits until it is completely idle), so fleetd confirms in one of two ways:
 *
 *   durable (default): the writers run in their durable mode, where a write
 *     call returns only once its lines are in the writer's spool, which
 *     survives a crash and is delivered by the next writer. A sequence number
 *     is checkpointed once everything up to it was handed to both writers and
 *     the spools' periodic fdatasync has had time to cover it (SPOOL_SYNC_MS),
 *     so a power loss cannot leave a checkpoint ahead of spooled data. The
 *     sync thread writes the checkpoint: intake never waits.
 *   flush: only what InfluxDB itself confirmed. Intake pauses: push what was
 *     encoded, flush both writers (nothing new arrives meanwhile) and, when
 *     both report everything delivered, checkpoint the highest sequence
 *     number processed before. It is tried only while the writers keep up
 *     (healthy, spools empty, at most one batch queued); otherwise the
 *     checkpoint waits and the ingest log grows.
 */
#include "dbcheck.h"
#include "fleetd.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Local buffers go to the writers at half a writer batch (so that durable
 * spool records, which a batch never splits, fill batches), at these sizes,
 * or after PUSH_AGE_MS. */
#define RAW_PUSH_BYTES (512u * 1024u)
#define EV_PUSH_BYTES (64u * 1024u)
#define PUSH_AGE_MS 100
/* Durable checkpoints trail a push by this much: two periods of the spool's
 * default fdatasync interval and some slack. */
#define SPOOL_SYNC_MS (2 * (int64_t)FLEET_SPOOL_FSYNC_INTERVAL_DEFAULT + 1000)
#define PUSH_RING 64

struct fleetd {
  fleetd_config_t cfg;
  fleetd_tags_t tags;
  fleet_lp_tag_t lp_tags[2];
  size_t n_lp_tags;

  fleet_ingestlog_t *log;
  fleet_zoneset_t *zones;
  fleet_tracker_t *tracker;
  fleet_influx_writer_t *raw;
  fleet_influx_writer_t *events;
  fleet_mqtt_t *mqtt;
  fleetd_dbcheck_t *dbcheck; /* start-up check and /readyz databases; NULL in role gateway */
  fleetd_gw_t *gw; /* NULL without --http */
  bool feed;       /* gw is there and serves the vehicles (not role ingest) */
  bool gateway;    /* role gateway: no ingest log, no writers, alerts from MQTT */
  bool zones_from_file;
  bool rules_from_file;
  /* What the zones and rules files were when last read, to see a change
   * written by another replica (or by hand) on a shared volume. */
  fleetd_file_id_t zones_id, rules_id;
  int64_t next_poll_ms;

  fleet_buf_t raw_buf, ev_buf, json_buf;
  uint64_t raw_pending, ev_pending; /* lines in the local buffers */
  uint64_t push_lines;              /* push at this many raw lines */
  int64_t buf_since_ms;             /* when the buffers became non-empty (0: empty) */
  fleet_telemetry_t rec;
  fleet_telemetry_warnings_t warn;
  fleetd_ts_dedup_t dedup;
  fleetd_counters_t c;
  fleetd_ratelimit_t reject_rl;
  fleetd_ratelimit_t error_rl;
  bool suppress_events;
  bool draining;
  uint64_t dead_seen[2]; /* dead-lettered lines already reported, per writer */
  volatile int *stop;

  uint64_t last_seq; /* highest ingest-log sequence number fully processed */
  bool ckpt_blocked; /* a writer refused lines: only a replay restores them */
  bool ckpt_failing; /* flush mode: the last flush for a checkpoint timed out */
  int64_t next_ckpt_ms;
  unsigned int ckpt_backoff_ms;
  /* durable mode: (sequence number, time) of recent pushes, oldest first */
  struct {
    uint64_t seq;
    int64_t ms;
  } ring[PUSH_RING];
  unsigned int ring_head, ring_len;
  uint64_t ring_last_seq;
  atomic_uint_fast64_t ckpt_target; /* durable mode: for the sync thread */
  atomic_uint_fast64_t ckpt_seq;    /* the checkpoint written */
  atomic_uint_fast64_t checkpoints;
  atomic_uint_fast64_t checkpoint_failures;
  int64_t last_ckpt_ms;             /* sync thread */

  pthread_t sync_thread;
  bool sync_running;
  bool sync_stop;
  pthread_mutex_t sync_mu;
  pthread_cond_t sync_cv;
  atomic_uint_fast64_t sync_errors;
};

static const char *const reject_names[FLEETD_REJECT_COUNT] = {
  "parse", "toobig", "missing", "type", "range", "version", "vehicle_id", "topic", "other"};

const char *fleetd_reject_name(int reason)
{
  return reason >= 0 && reason < FLEETD_REJECT_COUNT ? reject_names[reason] : "other";
}

static int reject_reason(int code)
{
  switch (code) {
  case FLEET_EPARSE: return FLEETD_REJECT_PARSE;
  case FLEET_ETOOBIG: return FLEETD_REJECT_TOOBIG;
  case FLEET_EMISSING: return FLEETD_REJECT_MISSING;
  case FLEET_ETYPE: return FLEETD_REJECT_TYPE;
  case FLEET_ERANGE: return FLEETD_REJECT_RANGE;
  case FLEET_EVERSION: return FLEETD_REJECT_VERSION;
  default: return FLEETD_REJECT_OTHER;
  }
}

static int influx_level(int lvl)
{
  switch (lvl) {
  case FLEETD_DEBUG: return FLEET_INFLUX_LOG_DEBUG;
  case FLEETD_INFO: return FLEET_INFLUX_LOG_INFO;
  case FLEETD_WARN: return FLEET_INFLUX_LOG_WARNING;
  default: return FLEET_INFLUX_LOG_ERROR;
  }
}

static int our_level(int lib_level)
{
  switch (lib_level) {
  case FLEET_INFLUX_LOG_ERROR: return FLEETD_ERROR;
  case FLEET_INFLUX_LOG_WARNING: return FLEETD_WARN;
  case FLEET_INFLUX_LOG_INFO: return FLEETD_INFO;
  default: return FLEETD_DEBUG;
  }
}

/* ---- library log hooks ---------------------------------------------------- */

static void influx_log(int level, const char *message, void *userdata)
{
  fleetd_log(our_level(level), message, "component", "influx", "tier", (const char *)userdata,
             NULL);
}

static void mqtt_log(int level, const char *message, void *userdata)
{
  (void)userdata;
  /* The MQTT levels have the same values as the influx ones. */
  fleetd_log(our_level(level), message, "component", "mqtt", NULL);
}

static void ingestlog_event(int event, const char *message, void *userdata)
{
  (void)userdata;
  (void)event;
  fleetd_log(FLEETD_WARN, message, "component", "ingest_log", NULL);
}

static void mqtt_connected(int status, int session_present, const char *detail, void *userdata)
{
  (void)userdata;
  if (status == 0)
    fleetd_log(FLEETD_INFO, "connected to the broker", "component", "mqtt", "session_present",
               session_present ? "true" : "false", NULL);
  else
    fleetd_log(FLEETD_WARN, "broker connection failed", "component", "mqtt", "detail", detail,
               "status", fleet_status_name(status), NULL);
}

static void mqtt_disconnected(int status, const char *detail, void *userdata)
{
  (void)userdata;
  fleetd_log(status ? FLEETD_WARN : FLEETD_INFO, "disconnected from the broker", "component",
             "mqtt", "detail", detail, NULL);
}

/* ---- writers ---------------------------------------------------------------- */

/* Durable mode: everything up to last_seq is now in the writers' spools.
 * Pushes closer than 100 ms share one entry, which bounds the ring; when it
 * is full the push is not recorded and a later one covers it. */
static void note_push(fleetd_t *d)
{
  int64_t now = fleetd_mono_ms();
  if (d->ring_len) {
    unsigned int last = (d->ring_head + d->ring_len - 1) % PUSH_RING;
    if (now - d->ring[last].ms < 100)
      return;
  }
  if (d->ring_len == PUSH_RING)
    return;
  unsigned int i = (d->ring_head + d->ring_len) % PUSH_RING;
  d->ring[i].seq = d->last_seq;
  d->ring[i].ms = now;
  d->ring_len++;
  d->ring_last_seq = d->last_seq;
}

static void push(fleetd_t *d)
{
  if (!d->raw)
    return;
  struct {
    fleet_influx_writer_t *w;
    fleet_buf_t *b;
    uint64_t *pending;
    uint64_t *count;
    const char *tier;
  } t[2] = {{d->raw, &d->raw_buf, &d->raw_pending, &d->c.points_raw, "raw"},
            {d->events, &d->ev_buf, &d->ev_pending, &d->c.points_events, "downsampled"}};
  for (int i = 0; i < 2; i++) {
    if (!t[i].b->len)
      continue;
    int rc = fleet_influx_writer_write_lines(t[i].w, t[i].b->ptr, t[i].b->len);
    if (rc) {
      /* Memory and spool are full (or the writer is closed): these lines
       * are only in the ingest log now. No checkpoint may pass them until
       * a restart replays them. */
      d->c.enqueue_errors += *t[i].pending;
      d->ckpt_blocked = true;
      uint64_t sup;
      if (fleetd_ratelimit_allow(&d->error_rl, fleetd_mono_ms(), &sup)) {
        fleetd_logline_t l;
        fleetd_ll_begin(&l, FLEETD_ERROR,
                        "InfluxDB writer refused lines; they stay in the ingest log and are "
                        "replayed at the next start");
        fleetd_ll_str(&l, "tier", t[i].tier);
        fleetd_ll_u64(&l, "lines", *t[i].pending);
        fleetd_ll_str(&l, "error", fleet_error_last());
        if (sup)
          fleetd_ll_u64(&l, "suppressed", sup);
        fleetd_ll_end(&l);
      }
    } else {
      *t[i].count += *t[i].pending;
    }
    *t[i].pending = 0;
    fleet_buf_clear(t[i].b);
  }
  d->buf_since_ms = 0;
  if (!d->cfg.checkpoint_flush && !d->ckpt_blocked && d->last_seq > d->ring_last_seq)
    note_push(d);
}

static void note_buffered(fleetd_t *d)
{
  if (!d->buf_since_ms)
    d->buf_since_ms = fleetd_mono_ms();
  if (d->raw_pending >= d->push_lines || d->raw_buf.len >= RAW_PUSH_BYTES ||
      d->ev_buf.len >= EV_PUSH_BYTES)
    push(d);
}

/* ---- tracker events ----------------------------------------------------------- */

static void log_event(const fleet_tracker_event_t *ev)
{
  const char *name = fleet_tracker_event_type_name(ev->type);
  fleetd_logline_t l;
  fleetd_ll_begin(&l, FLEETD_DEBUG, "event");
  fleetd_ll_str(&l, "type", name ? name : "?");
  fleetd_ll_str(&l, "vehicle_id", ev->vehicle_id);
  char ts[FLEET_TIME_STRLEN];
  fleet_time_format(ts, ev->ts_ns);
  fleetd_ll_str(&l, "event_ts", ts);
  if (ev->zone_id)
    fleetd_ll_str(&l, "zone_id", ev->zone_id);
  if (ev->alert) {
    fleetd_ll_str(&l, "rule", ev->alert->rule_id);
    fleetd_ll_str(&l, "message", ev->alert->message);
  }
  if (ev->trip && ev->type == FLEET_TRACKER_EVENT_TRIP_END)
    fleetd_ll_dbl(&l, "distance_m", ev->trip->distance_m);
  fleetd_ll_end(&l);
}

static int on_event(const fleet_tracker_event_t *ev, void *userdata)
{
  fleetd_t *d = userdata;
  unsigned int t = (unsigned int)ev->type;
  if (t < sizeof d->c.events / sizeof d->c.events[0])
    d->c.events[t]++;
  if (d->suppress_events) {
    d->c.events_suppressed++;
    return 0;
  }
  if (fleetd_log_enabled(FLEETD_DEBUG))
    log_event(ev);
  /* The gateway runs the tracker for the vehicles' status only: the ingest
   * replicas store the events and publish the alerts, which reach the
   * gateway through fleet/+/alerts. */
  if (d->gateway)
    return 0;
  switch (ev->type) {
  case FLEET_TRACKER_EVENT_HOURLY:
  case FLEET_TRACKER_EVENT_TRIP_END:
  case FLEET_TRACKER_EVENT_ZONE_ENTER:
  case FLEET_TRACKER_EVENT_ZONE_EXIT:
  case FLEET_TRACKER_EVENT_ALERT:
    break;
  default:
    return 0;
  }
  int rc = fleetd_event_lp(&d->ev_buf, &d->dedup, ev, &d->tags);
  if (rc) {
    d->c.encode_errors++;
    fleetd_log(FLEETD_ERROR, "cannot encode an event", "vehicle_id", ev->vehicle_id, "error",
               fleet_error_last(), NULL);
  } else {
    d->ev_pending++;
    note_buffered(d);
  }
  if (ev->type == FLEET_TRACKER_EVENT_ALERT && (d->cfg.publish_alerts || d->feed)) {
    fleet_buf_clear(&d->json_buf);
    if (fleetd_alert_json(&d->json_buf, ev)) {
      d->c.encode_errors++;
      return 0;
    }
    if (d->feed)
      fleetd_gw_alert(d->gw, ev->vehicle_id, d->json_buf.ptr, d->json_buf.len);
    if (!d->cfg.publish_alerts || !d->mqtt)
      return 0;
    if (fleet_mqtt_publish_alert(d->mqtt, ev->vehicle_id, d->json_buf.ptr, d->json_buf.len) ==
        0) {
      d->c.alerts_published++;
    } else {
      d->c.alert_publish_errors++;
      fleetd_log(FLEETD_WARN, "cannot publish an alert", "vehicle_id", ev->vehicle_id, "error",
                 fleet_error_last(), NULL);
    }
  }
  return 0;
}

/* ---- one message ------------------------------------------------------------------ */

static void reject(fleetd_t *d, int reason, const char *vehicle, const char *detail)
{
  d->c.rejected++;
  d->c.rejected_by[reason]++;
  uint64_t sup;
  if (!fleetd_ratelimit_allow(&d->reject_rl, fleetd_mono_ms(), &sup))
    return;
  fleetd_logline_t l;
  fleetd_ll_begin(&l, FLEETD_WARN, "payload rejected");
  fleetd_ll_str(&l, "vehicle_id", vehicle);
  fleetd_ll_str(&l, "reason", fleetd_reject_name(reason));
  fleetd_ll_str(&l, "detail", detail);
  if (sup)
    fleetd_ll_u64(&l, "suppressed", sup);
  fleetd_ll_end(&l);
}

/* Say how many rejections the rate limit kept out of the log once their
 * second is over, even when no later rejection comes to carry the count. */
static void report_suppressed(fleetd_t *d, int64_t now)
{
  uint64_t n = fleetd_ratelimit_take_suppressed(&d->reject_rl, now);
  if (!n)
    return;
  fleetd_logline_t l;
  fleetd_ll_begin(&l, FLEETD_WARN, "rejected payloads not logged (rate limit)");
  fleetd_ll_u64(&l, "suppressed", n);
  fleetd_ll_u64(&l, "rejected_total", d->c.rejected);
  fleetd_ll_end(&l);
}

static void process(fleetd_t *d, uint64_t seq, const char *vehicle, const void *payload,
                    size_t len, bool retained)
{
  fleet_telemetry_t *rec = &d->rec;
  rec->version = FLEET_TELEMETRY_VERSION;
  rec->vehicle_id[0] = '\0'; /* set by the parser only when the payload names one */
  int rc = fleet_telemetry_parse(rec, &d->warn, payload, len);
  if (rc) {
    reject(d, reject_reason(rc), vehicle, fleet_error_last());
    goto done;
  }
  if (d->warn.count || d->warn.dropped) {
    d->c.warnings++;
    if (fleetd_log_enabled(FLEETD_DEBUG))
      fleetd_log(FLEETD_DEBUG, "payload accepted with warnings", "vehicle_id", vehicle,
                 "warning", d->warn.count ? d->warn.msg[0] : "", NULL);
  }
  /* The topic names the vehicle (the broker's ACL ties a device to its
   * topic). A payload naming another one is a misconfigured or spoofing
   * device: refuse it rather than guess. */
  if (rec->vehicle_id[0] && strcmp(rec->vehicle_id, vehicle) != 0) {
    char why[160];
    snprintf(why, sizeof why, "payload vehicle_id '%s' differs from the topic's", rec->vehicle_id);
    reject(d, FLEETD_REJECT_VEHICLE_ID, vehicle, why);
    goto done;
  }
  snprintf(rec->vehicle_id, sizeof rec->vehicle_id, "%s", vehicle);

  /* A retained message of a vehicle we do not know yet is its last-known
   * state from before we subscribed: it seeds the tracker without raising
   * events, which happened (and were stored) when it was live. */
  bool seed = false;
  if (retained) {
    fleet_vehicle_state_t st = FLEET_VEHICLE_STATE_INIT;
    seed = fleet_tracker_get(&st, d->tracker, vehicle) == FLEET_ENOTFOUND;
  }
  d->suppress_events = seed;
  fleetd_ts_dedup_reset(&d->dedup);
  rc = fleet_tracker_feed(d->tracker, rec);
  d->suppress_events = false;
  if (rc) {
    reject(d, rc == FLEET_ERANGE ? FLEETD_REJECT_RANGE : FLEETD_REJECT_OTHER, vehicle,
           fleet_error_last());
    goto done;
  }
  if (!d->gateway) {
    if (fleet_lp_encode_telemetry(&d->raw_buf, rec, FLEET_HISTORY_M_TELEMETRY, d->lp_tags,
                                  d->n_lp_tags)) {
      d->c.encode_errors++;
      reject(d, FLEETD_REJECT_OTHER, vehicle, fleet_error_last());
      goto done;
    }
    d->raw_pending++;
  }
  d->c.accepted++;
  if (seed)
    d->c.seeded++;
  if (d->feed) {
    fleet_vehicle_state_t st = FLEET_VEHICLE_STATE_INIT;
    uint32_t keys[4];
    size_t nkeys = 0;
    if (fleet_tracker_get(&st, d->tracker, vehicle) == 0) {
      int zrc = fleet_tracker_vehicle_zones(keys, 4, &nkeys, d->tracker, vehicle);
      if (zrc && zrc != FLEET_ETOOBIG)
        nkeys = 0;
      fleetd_gw_telemetry(d->gw, rec, &st, keys, nkeys < 4 ? nkeys : 4);
    }
  }
  if (!d->gateway)
    note_buffered(d);
done:
  if (seq > d->last_seq)
    d->last_seq = seq;
}

/* Role gateway: an alert an ingest replica published. It goes to the
 * WebSocket clients as the gateway's own alerts do; what is not an alert
 * object of the topic's vehicle is refused, so that a device allowed to
 * publish on its alerts topic cannot show the dashboard anything else. */
static void forward_alert(fleetd_t *d, const fleet_mqtt_message_t *msg)
{
  json_error_t je;
  json_t *a = json_loadb(msg->payload, msg->len, JSON_REJECT_DUPLICATES, &je);
  const char *why = NULL;
  if (!a || !json_is_object(a))
    why = "not a JSON object";
  else if (!json_is_string(json_object_get(a, "vehicle_id")) ||
           strcmp(json_string_value(json_object_get(a, "vehicle_id")), msg->vehicle_id) != 0)
    why = "vehicle_id is not the topic's";
  else if (!json_is_string(json_object_get(a, "rule")))
    why = "no rule";
  json_decref(a);
  if (why) {
    d->c.alerts_refused++;
    uint64_t sup;
    if (fleetd_ratelimit_allow(&d->reject_rl, fleetd_mono_ms(), &sup))
      fleetd_log(FLEETD_WARN, "alert message refused", "topic", msg->topic, "reason", why,
                 NULL);
    return;
  }
  d->c.alerts_forwarded++;
  fleetd_gw_alert(d->gw, msg->vehicle_id, msg->payload, msg->len);
}

static int on_message(const fleet_mqtt_message_t *msg, void *userdata)
{
  fleetd_t *d = userdata;
  if (d->gateway && strcmp(msg->kind, "alerts") == 0) {
    /* A retained alert is an old one (alerts are not published retained by
     * fleetd): clients see it in /api/alerts, not as news. */
    if (!msg->retained && !d->draining)
      forward_alert(d, msg);
    return 0;
  }
  /* Durable first: libmosquitto has acknowledged the message already. */
  uint64_t seq = 0;
  if (d->log && fleet_ingestlog_append(&seq, d->log, msg->topic, msg->payload, msg->len)) {
    d->c.ingest_errors++;
    seq = 0;
    uint64_t sup;
    if (fleetd_ratelimit_allow(&d->error_rl, fleetd_mono_ms(), &sup))
      fleetd_log(FLEETD_ERROR, "ingest log append failed: the message is processed but not durable",
                 "vehicle_id", msg->vehicle_id, "error", fleet_error_last(), NULL);
  }
  d->c.received++;
  if (msg->retained)
    d->c.received_retained++;
  if (d->draining) {
    /* Intake is stopping: the next start replays it. */
    d->c.drained++;
    return 0;
  }
  if (strcmp(msg->kind, "telemetry") != 0) {
    reject(d, FLEETD_REJECT_TOPIC, msg->vehicle_id, msg->topic);
    if (seq > d->last_seq)
      d->last_seq = seq;
    return 0;
  }
  process(d, seq, msg->vehicle_id, msg->payload, msg->len, msg->retained != 0);
  return 0;
}

/* ---- checkpoints ---------------------------------------------------------------- */

static int write_checkpoint(fleetd_t *d, uint64_t seq)
{
  if (seq <= atomic_load(&d->ckpt_seq))
    return 0;
  if (fleet_ingestlog_checkpoint(d->log, seq)) {
    atomic_fetch_add(&d->checkpoint_failures, 1);
    fleetd_log(FLEETD_ERROR, "cannot write the ingest log checkpoint", "component",
               "ingest_log", "error", fleet_error_last(), NULL);
    return -1;
  }
  atomic_store(&d->ckpt_seq, seq);
  atomic_fetch_add(&d->checkpoints, 1);
  return 0;
}

/* Flush mode: see the top of this file. */
static void checkpoint_flush(fleetd_t *d, unsigned int timeout_ms)
{
  uint64_t seq = d->last_seq;
  if (seq <= atomic_load(&d->ckpt_seq) || d->ckpt_blocked)
    return;
  push(d);
  fleet_influx_writer_stats_t rs = FLEET_INFLUX_WRITER_STATS_INIT;
  fleet_influx_writer_stats_t es = FLEET_INFLUX_WRITER_STATS_INIT;
  fleet_influx_writer_get_stats(&rs, d->raw);
  fleet_influx_writer_get_stats(&es, d->events);
  if (!rs.healthy || !es.healthy || rs.spool_records || es.spool_records ||
      rs.queue_points + es.queue_points > d->cfg.batch_max_points) {
    d->c.checkpoint_skipped++;
    return;
  }
  int64_t t0 = fleetd_mono_ms();
  int rc = fleet_influx_writer_flush(d->raw, timeout_ms);
  if (!rc) {
    int64_t left = (int64_t)timeout_ms - (fleetd_mono_ms() - t0);
    rc = fleet_influx_writer_flush(d->events, left > 1 ? (unsigned int)left : 1u);
  }
  if (rc) {
    atomic_fetch_add(&d->checkpoint_failures, 1);
    if (!d->ckpt_failing)
      fleetd_log(FLEETD_WARN, "checkpoint postponed: InfluxDB did not confirm in time",
                 "component", "ingest_log", "error", fleet_error_last(), NULL);
    d->ckpt_failing = true;
    d->ckpt_backoff_ms = d->ckpt_backoff_ms ? d->ckpt_backoff_ms * 2 : d->cfg.checkpoint_interval_ms;
    if (d->ckpt_backoff_ms > 60000)
      d->ckpt_backoff_ms = 60000;
    d->next_ckpt_ms = fleetd_mono_ms() + d->ckpt_backoff_ms;
    return;
  }
  if (write_checkpoint(d, seq))
    return;
  if (d->ckpt_failing)
    fleetd_log(FLEETD_INFO, "checkpoints resumed", "component", "ingest_log", NULL);
  d->ckpt_failing = false;
  d->ckpt_backoff_ms = 0;
}

static void maybe_checkpoint(fleetd_t *d, int64_t now)
{
  if (!d->log)
    return;
  if (!d->cfg.checkpoint_flush) {
    /* Hand the sync thread the newest push old enough to be on disk. */
    uint64_t target = 0;
    while (d->ring_len && d->ring[d->ring_head].ms <= now - SPOOL_SYNC_MS) {
      target = d->ring[d->ring_head].seq;
      d->ring_head = (d->ring_head + 1) % PUSH_RING;
      d->ring_len--;
    }
    if (target > atomic_load(&d->ckpt_target))
      atomic_store(&d->ckpt_target, target);
    return;
  }
  if (now < d->next_ckpt_ms)
    return;
  d->next_ckpt_ms = now + d->cfg.checkpoint_interval_ms;
  checkpoint_flush(d, d->cfg.checkpoint_timeout_ms);
}

/* ---- ingest log sync thread --------------------------------------------------------- */

static void *sync_main(void *arg)
{
  fleetd_t *d = arg;
  pthread_setname_np(pthread_self(), "fleetd-sync");
  bool failing = false;
  pthread_mutex_lock(&d->sync_mu);
  while (!d->sync_stop) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)d->cfg.sync_interval_ms * 1000000u;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    pthread_cond_timedwait(&d->sync_cv, &d->sync_mu, &ts);
    if (d->sync_stop)
      break;
    pthread_mutex_unlock(&d->sync_mu);
    int rc = fleet_ingestlog_sync(d->log);
    if (rc) {
      atomic_fetch_add(&d->sync_errors, 1);
      if (!failing)
        fleetd_log(FLEETD_ERROR, "ingest log sync failed", "component", "ingest_log", "error",
                   fleet_error_last(), NULL);
    } else if (failing) {
      fleetd_log(FLEETD_INFO, "ingest log sync works again", "component", "ingest_log", NULL);
    }
    failing = rc != 0;
    uint64_t target = atomic_load(&d->ckpt_target);
    int64_t now = fleetd_mono_ms();
    if (target > atomic_load(&d->ckpt_seq) &&
        now - d->last_ckpt_ms >= (int64_t)d->cfg.checkpoint_interval_ms) {
      d->last_ckpt_ms = now;
      write_checkpoint(d, target);
    }
    pthread_mutex_lock(&d->sync_mu);
  }
  pthread_mutex_unlock(&d->sync_mu);
  return NULL;
}

static int start_sync(fleetd_t *d)
{
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&d->sync_cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&d->sync_mu, NULL);
  int e = pthread_create(&d->sync_thread, NULL, sync_main, d);
  if (e) {
    fleetd_log(FLEETD_ERROR, "cannot start the sync thread", "error", strerror(e), NULL);
    return -1;
  }
  d->sync_running = true;
  return 0;
}

static void stop_sync(fleetd_t *d)
{
  if (!d->sync_running)
    return;
  pthread_mutex_lock(&d->sync_mu);
  d->sync_stop = true;
  pthread_cond_signal(&d->sync_cv);
  pthread_mutex_unlock(&d->sync_mu);
  pthread_join(d->sync_thread, NULL);
  d->sync_running = false;
  pthread_cond_destroy(&d->sync_cv);
  pthread_mutex_destroy(&d->sync_mu);
}

/* ---- zones and rules ---------------------------------------------------------------- */

/* Load the zones file; `initial` makes a missing file fine (no zones) and a
 * bad one fatal. Returns 0 or -1 (logged). */
static int load_zones(fleetd_t *d, bool initial)
{
  const char *path = d->cfg.zones_file;
  int rc = fleetd_zones_load_file(d->zones, path);
  if (rc == -ENOENT && (initial || !d->zones_from_file)) {
    if (initial)
      fleetd_log(FLEETD_INFO, "no zones file: no geofences", "file", path, NULL);
    return 0;
  }
  char n[32];
  snprintf(n, sizeof n, "%zu", fleet_zoneset_count(d->zones));
  if (rc < 0) {
    fleetd_log(FLEETD_ERROR, initial ? "cannot read the zones file" :
                                       "cannot read the zones file; keeping the current zones",
               "file", path, "error", strerror(-rc), "zones", n, NULL);
    return -1;
  }
  if (rc) {
    fleetd_log(FLEETD_ERROR, initial ? "invalid zones file" :
                                       "invalid zones file; keeping the current zones",
               "file", path, "error", fleet_error_last(), "zones", n, NULL);
    return -1;
  }
  d->zones_from_file = true;
  fleetd_log(FLEETD_INFO, "zones loaded", "file", path, "zones", n, NULL);
  return 0;
}

/* Load the rules file into `*out` (NULL when there is none). */
static int load_rules(fleetd_t *d, fleet_ruleset_t **out, bool initial)
{
  const char *path = d->cfg.rules_file;
  *out = NULL;
  struct stat st;
  if (stat(path, &st) != 0 && errno == ENOENT && (initial || !d->rules_from_file)) {
    if (initial)
      fleetd_log(FLEETD_INFO, "no rules file: no alerts", "file", path, NULL);
    return 0;
  }
  fleet_ruleset_t *rs = NULL;
  if (fleet_ruleset_load_file(&rs, path)) {
    fleetd_log(FLEETD_ERROR, initial ? "invalid rules file" :
                                       "invalid rules file; keeping the current rules",
               "file", path, "error", fleet_error_last(), NULL);
    return -1;
  }
  char n[32];
  snprintf(n, sizeof n, "%zu", fleet_ruleset_count(rs));
  fleetd_log(FLEETD_INFO, "rules loaded", "file", path, "rules", n, NULL);
  d->rules_from_file = true;
  *out = rs;
  return 0;
}

/* The identity is taken before the file is read, so that a change written
 * while it is read is seen by the next poll. */
static bool reload_zones(fleetd_t *d)
{
  fleetd_file_id(&d->zones_id, d->cfg.zones_file);
  return load_zones(d, false) == 0;
}

static bool reload_rules(fleetd_t *d)
{
  fleetd_file_id(&d->rules_id, d->cfg.rules_file);
  fleet_ruleset_t *rs = NULL;
  if (load_rules(d, &rs, false))
    return false;
  bool ok = true;
  if (rs && fleet_tracker_set_rules(d->tracker, rs)) {
    fleetd_log(FLEETD_ERROR, "cannot apply the rules; keeping the current ones", "error",
               fleet_error_last(), NULL);
    ok = false;
  } else if (rs && d->gw) {
    fleetd_gw_set_rules(d->gw, rs);
  }
  fleet_ruleset_free(rs);
  return ok;
}

void fleetd_reload(fleetd_t *d)
{
  fleetd_log(FLEETD_INFO, "reloading zones and rules", NULL);
  bool ok = reload_zones(d);
  if (!reload_rules(d))
    ok = false;
  if (d->gw)
    fleetd_gw_reload_users(d->gw);
  d->c.reloads++;
  if (!ok)
    d->c.reload_failures++;
}

/* Every reload_interval_s: reload the zones or rules file that changed
 * since it was read. With replicas on a shared state volume this is how
 * the zones and rules one gateway stores reach every other replica. */
static void poll_files(fleetd_t *d, int64_t now)
{
  if (!d->cfg.reload_interval_s || now < d->next_poll_ms)
    return;
  d->next_poll_ms = now + (int64_t)d->cfg.reload_interval_s * 1000;
  fleetd_file_id_t z, r;
  fleetd_file_id(&z, d->cfg.zones_file);
  fleetd_file_id(&r, d->cfg.rules_file);
  bool zc = !fleetd_same_file(&z, &d->zones_id), rc = !fleetd_same_file(&r, &d->rules_id);
  if (!zc && !rc)
    return;
  bool ok = true;
  if (zc) {
    fleetd_log(FLEETD_INFO, "zones file changed; reloading", "file", d->cfg.zones_file, NULL);
    ok = reload_zones(d);
  }
  if (rc) {
    fleetd_log(FLEETD_INFO, "rules file changed; reloading", "file", d->cfg.rules_file, NULL);
    if (!reload_rules(d))
      ok = false;
  }
  d->c.reloads++;
  if (!ok)
    d->c.reload_failures++;
}

/* ---- life cycle ---------------------------------------------------------------- */

static int mkdir_p(const char *path)
{
  char tmp[FLEETD_PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
    return -1;
  return 0;
}

static int new_writer(fleet_influx_writer_t **out, fleetd_t *d, const char *db, const char *rp,
                      const char *tier)
{
  fleet_influx_config_t ic = d->cfg.influx;
  snprintf(ic.database, sizeof ic.database, "%s", db);
  snprintf(ic.retention_policy, sizeof ic.retention_policy, "%s", rp);
  char spool[FLEETD_PATH_MAX + 32], dead[FLEETD_PATH_MAX + 48];
  snprintf(spool, sizeof spool, "%s/spool-%s", d->cfg.state_dir, tier);
  snprintf(dead, sizeof dead, "%s/dead-letters-%s.jsonl", d->cfg.state_dir, tier);
  fleet_spool_options_t so = FLEET_SPOOL_OPTIONS_INIT;
  so.max_bytes = d->cfg.spool_max_bytes;
  fleet_influx_writer_opts_t wo = FLEET_INFLUX_WRITER_OPTS_INIT;
  wo.batch_max_points = d->cfg.batch_max_points;
  wo.flush_interval_ms = d->cfg.flush_interval_ms;
  wo.queue_max_bytes = (size_t)d->cfg.queue_max_bytes;
  wo.gzip_level = (int)d->cfg.gzip_level;
  wo.spool_dir = spool;
  wo.spool_opts = &so;
  wo.durable = !d->cfg.checkpoint_flush;
  wo.dead_letter_path = dead;
  wo.log_cb = influx_log;
  wo.log_userdata = (void *)tier;
  wo.log_level = influx_level(d->cfg.log_level);
  if (fleet_influx_writer_new(out, &ic, &wo)) {
    fleetd_log(FLEETD_ERROR, "cannot create the InfluxDB writer", "tier", tier, "error",
               fleet_error_last(), NULL);
    return -1;
  }
  return 0;
}

static int new_mqtt(fleetd_t *d)
{
  const fleetd_config_t *c = &d->cfg;
  fleet_mqtt_options_t o = FLEET_MQTT_OPTIONS_INIT;
  o.url = c->mqtt_url;
  o.client_id = c->client_id;
  o.clean_session = 0;
  /* A gateway needs no backlog: what happened while it was away is in
   * InfluxDB, and the retained fixes give it every vehicle's last one. */
  static const char *const gateway_topics[] = {FLEET_MQTT_TOPIC_TELEMETRY, "fleet/+/alerts"};
  if (c->role_id == FLEETD_ROLE_GATEWAY) {
    o.clean_session = 1;
    o.topics = gateway_topics;
    o.n_topics = 2;
  }
  o.protocol = (int)c->mqtt_protocol;
  o.keepalive_s = c->mqtt_keepalive_s;
  o.username = c->mqtt_username[0] ? c->mqtt_username : NULL;
  o.password = c->mqtt_password[0] ? c->mqtt_password : NULL;
  o.ca_file = c->mqtt_ca_file[0] ? c->mqtt_ca_file : NULL;
  o.ca_path = c->mqtt_ca_path[0] ? c->mqtt_ca_path : NULL;
  o.cert_file = c->mqtt_cert_file[0] ? c->mqtt_cert_file : NULL;
  o.key_file = c->mqtt_key_file[0] ? c->mqtt_key_file : NULL;
  o.tls_insecure = c->mqtt_tls_insecure;
  o.tls_version = c->mqtt_tls_version[0] ? c->mqtt_tls_version : NULL;
  o.qos = (int)c->mqtt_qos;
  o.share_group = c->share_group[0] ? c->share_group : NULL;
  o.partition_index = c->partition_index;
  o.partition_count = c->partition_count;
  o.reconnect_min_ms = c->reconnect_min_ms;
  o.reconnect_max_ms = c->reconnect_max_ms;
  o.max_packet_size = c->max_packet_size;
  /* Our own presence: "online" after each connect, "offline" at stop, and
   * the broker's last will when we die. Only for ids that make a topic. */
  char status[FLEETD_STR_MAX + 32];
  if (!strpbrk(c->client_id, "+#/"))
    snprintf(status, sizeof status, "fleetd/%s/status", c->client_id);
  else
    status[0] = '\0';
  o.status_topic = status[0] ? status : NULL;
  o.on_message = on_message;
  o.on_connect = mqtt_connected;
  o.on_disconnect = mqtt_disconnected;
  o.log_cb = mqtt_log;
  o.log_level = influx_level(c->log_level);
  o.userdata = d;
  if (fleet_mqtt_new(&d->mqtt, &o)) {
    fleetd_log(FLEETD_ERROR, "cannot create the MQTT client", "error", fleet_error_last(), NULL);
    return -1;
  }
  return 0;
}

static int open_log(fleetd_t *d);

int fleetd_new(fleetd_t **out, const fleetd_config_t *cfg)
{
  *out = NULL;
  fleetd_t *d = calloc(1, sizeof *d);
  if (!d)
    return -1;
  d->cfg = *cfg;
  d->tags.fleet_id = d->cfg.fleet_id;
  d->tags.device_type = d->cfg.device_type;
  if (d->cfg.fleet_id[0])
    d->lp_tags[d->n_lp_tags++] = (fleet_lp_tag_t){FLEET_HISTORY_TAG_FLEET_ID, d->cfg.fleet_id};
  if (d->cfg.device_type[0])
    d->lp_tags[d->n_lp_tags++] =
        (fleet_lp_tag_t){FLEET_HISTORY_TAG_DEVICE_TYPE, d->cfg.device_type};
  d->reject_rl.per_s = cfg->reject_log_per_s;
  d->push_lines = cfg->batch_max_points > 1 ? cfg->batch_max_points / 2 : 1;
  d->error_rl.per_s = 5;
  atomic_init(&d->sync_errors, 0);
  atomic_init(&d->ckpt_target, 0);
  atomic_init(&d->ckpt_seq, 0);
  atomic_init(&d->checkpoints, 0);
  atomic_init(&d->checkpoint_failures, 0);
  fleet_telemetry_init(&d->rec, FLEET_TELEMETRY_VERSION);
  *out = d;

  d->gateway = d->cfg.role_id == FLEETD_ROLE_GATEWAY;
  if (mkdir_p(d->cfg.state_dir)) {
    fleetd_log(FLEETD_ERROR, "cannot create the state directory", "dir", d->cfg.state_dir,
               "error", strerror(errno), NULL);
    return -1;
  }
  if (!d->gateway && open_log(d))
    return -1;

  fleetd_file_id(&d->zones_id, d->cfg.zones_file);
  fleetd_file_id(&d->rules_id, d->cfg.rules_file);
  d->next_poll_ms = fleetd_mono_ms() + (int64_t)d->cfg.reload_interval_s * 1000;
  if (fleet_zoneset_new(&d->zones) || load_zones(d, true))
    return -1;
  fleet_ruleset_t *rules = NULL;
  if (load_rules(d, &rules, true))
    return -1;

  fleet_tracker_opts_t to = FLEET_TRACKER_OPTS_INIT;
  to.zones = d->zones;
  to.rules = rules;
  to.trip_params = &d->cfg.trip;
  to.zone_debounce_fixes = d->cfg.zone_debounce_fixes;
  to.zone_debounce_s = d->cfg.zone_debounce_s;
  to.offline_after_s = d->cfg.offline_after_s;
  fleet_downsample_params_t hp = FLEET_DOWNSAMPLE_PARAMS_INIT;
  hp.grace_s = d->cfg.hourly_grace_s;
  hp.history_hours = d->cfg.hourly_history_hours;
  hp.speed_threshold_kmh = d->cfg.trip.speed_threshold_kmh;
  /* The gateway stores nothing: no hourly aggregates to keep. */
  to.hourly = d->cfg.hourly && !d->gateway ? &hp : NULL;
  int rc = fleet_tracker_new(&d->tracker, &to, on_event, d);
  if (rc) {
    fleet_ruleset_free(rules);
    fleetd_log(FLEETD_ERROR, "cannot create the tracker", "error", fleet_error_last(), NULL);
    return -1;
  }

  if ((!d->gateway &&
       (new_writer(&d->raw, d, d->cfg.influx.database, d->cfg.influx.retention_policy, "raw") ||
        new_writer(&d->events, d, d->cfg.downsampled_db, d->cfg.downsampled_rp,
                   "downsampled"))) ||
      new_mqtt(d)) {
    fleet_ruleset_free(rules);
    return -1;
  }
  /* Start-up check of InfluxDB (logged) and, for /readyz, its databases. A
   * gateway replica writes nothing: its readiness does not wait for them. */
  if (!d->gateway && fleetd_dbcheck_new(&d->dbcheck, &d->cfg, d->raw, d->events)) {
    fleet_ruleset_free(rules);
    return -1;
  }
  if (d->cfg.http[0]) {
    fleetd_gw_parts_t parts = {d->zones, rules, d->mqtt, d->raw, d->events, d->log, d->dbcheck};
    rc = fleetd_gw_new(&d->gw, &d->cfg, &parts);
    if (!rc)
      rc = fleetd_gw_start(d->gw);
    d->feed = d->cfg.role_id != FLEETD_ROLE_INGEST;
  }
  fleet_ruleset_free(rules);
  if (rc)
    return -1;
  d->next_ckpt_ms = fleetd_mono_ms() + d->cfg.checkpoint_interval_ms;
  d->last_ckpt_ms = fleetd_mono_ms();
  if (!d->gateway && start_sync(d))
    return -1;
  return 0;
}

/* The ingest log and its checkpoint (every role but gateway). */
static int open_log(fleetd_t *d)
{
  char dir[FLEETD_PATH_MAX + 16];
  snprintf(dir, sizeof dir, "%s/ingest", d->cfg.state_dir);
  fleet_ingestlog_options_t lo = FLEET_INGESTLOG_OPTIONS_INIT;
  lo.segment_bytes = d->cfg.segment_bytes;
  lo.sync_interval_ms = 0; /* our sync thread does it, off the intake path */
  lo.on_event = ingestlog_event;
  if (fleet_ingestlog_open(&d->log, dir, &lo)) {
    fleetd_log(FLEETD_ERROR, "cannot open the ingest log", "dir", dir, "error",
               fleet_error_last(), NULL);
    return -1;
  }
  fleet_ingestlog_stats_t ls = FLEET_INGESTLOG_STATS_INIT;
  fleet_ingestlog_get_stats(&ls, d->log);
  atomic_store(&d->ckpt_seq, ls.checkpoint_seq);
  d->last_seq = ls.checkpoint_seq;
  d->ring_last_seq = ls.checkpoint_seq;
  return 0;
}

static int replay_cb(const fleet_ingestlog_record_t *r, void *userdata)
{
  fleetd_t *d = userdata;
  if (d->stop && *d->stop)
    return 1;
  d->c.replayed++;
  char id[FLEET_VEHICLE_ID_MAX + 1];
  if (fleet_topic_vehicle_id(id, r->topic, "telemetry")) {
    reject(d, FLEETD_REJECT_TOPIC, "", r->topic);
  } else if (d->cfg.partition_count > 1 &&
             fleet_mqtt_partition_of(id, strlen(id), d->cfg.partition_count) !=
                 d->cfg.partition_index) {
    /* Logged under another partitioning: another instance owns it now. */
  } else {
    process(d, r->seq, id, r->payload, r->payload_len, false);
  }
  if (r->seq > d->last_seq)
    d->last_seq = r->seq;
  if ((d->c.replayed & 4095) == 0)
    maybe_checkpoint(d, fleetd_mono_ms());
  return 0;
}

int fleetd_replay(fleetd_t *d, volatile int *stop)
{
  d->stop = stop;
  if (!d->log)
    return 0;
  fleet_ingestlog_stats_t ls = FLEET_INGESTLOG_STATS_INIT;
  fleet_ingestlog_get_stats(&ls, d->log);
  if (ls.next_seq <= ls.checkpoint_seq + 1)
    return 0;
  char n[32];
  snprintf(n, sizeof n, "%" PRIu64, ls.next_seq - ls.checkpoint_seq - 1);
  fleetd_log(FLEETD_INFO, "replaying the ingest log", "records", n, NULL);
  int64_t t0 = fleetd_mono_ms();
  int rc = fleet_ingestlog_replay(d->log, replay_cb, d);
  push(d);
  if (rc < 0) {
    fleetd_log(FLEETD_ERROR, "ingest log replay failed", "error", fleet_error_last(), NULL);
    return -1;
  }
  fleetd_logline_t l;
  fleetd_ll_begin(&l, FLEETD_INFO, rc ? "replay interrupted" : "replay done");
  fleetd_ll_u64(&l, "records", d->c.replayed);
  fleetd_ll_u64(&l, "accepted", d->c.accepted);
  fleetd_ll_u64(&l, "rejected", d->c.rejected);
  fleetd_ll_i64(&l, "ms", fleetd_mono_ms() - t0);
  fleetd_ll_end(&l);
  if (!rc && d->cfg.checkpoint_flush)
    checkpoint_flush(d, d->cfg.checkpoint_timeout_ms);
  return 0;
}

/* Lines InfluxDB refused go to the dead-letter files with its reason; say
 * so in the log, once a second at most, with the count since the last time. */
static void report_dead_letters(fleetd_t *d)
{
  fleet_influx_writer_t *w[2] = {d->raw, d->events};
  const char *tier[2] = {"raw", "downsampled"};
  for (int i = 0; i < 2; i++) {
    fleet_influx_writer_stats_t s = FLEET_INFLUX_WRITER_STATS_INIT;
    if (fleet_influx_writer_get_stats(&s, w[i]) || s.points_dead_lettered <= d->dead_seen[i])
      continue;
    char file[FLEETD_PATH_MAX + 48];
    snprintf(file, sizeof file, "%s/dead-letters-%s.jsonl", d->cfg.state_dir, tier[i]);
    fleetd_logline_t l;
    fleetd_ll_begin(&l, FLEETD_WARN, "InfluxDB refused lines; they are in the dead-letter file");
    fleetd_ll_str(&l, "tier", tier[i]);
    fleetd_ll_u64(&l, "lines", s.points_dead_lettered - d->dead_seen[i]);
    fleetd_ll_str(&l, "file", file);
    fleetd_ll_str(&l, "last_error", s.last_error);
    fleetd_ll_end(&l);
    d->dead_seen[i] = s.points_dead_lettered;
  }
}

int fleetd_run(fleetd_t *d, volatile int *stop, volatile int *hup)
{
  d->stop = stop;
  if (fleet_mqtt_connect(d->mqtt))
    fleetd_log(FLEETD_WARN, "broker not reachable yet; retrying", "component", "mqtt", "error",
               fleet_error_last(), NULL);
  int64_t now = fleetd_mono_ms();
  int64_t tick_every = d->cfg.tick_interval_ms;
  int64_t stats_every = (int64_t)d->cfg.stats_interval_s * 1000;
  int64_t next_tick = now + tick_every;
  int64_t next_stats = now + stats_every;
  int64_t next_second = now;
  while (!*stop) {
    int timeout = 100;
    if (d->buf_since_ms)
      timeout = PUSH_AGE_MS;
    fleet_mqtt_loop(d->mqtt, timeout);
    now = fleetd_mono_ms();
    if (d->buf_since_ms && now - d->buf_since_ms >= PUSH_AGE_MS)
      push(d);
    if (tick_every && now >= next_tick) {
      next_tick = now - next_tick > tick_every ? now + tick_every : next_tick + tick_every;
      fleetd_ts_dedup_reset(&d->dedup);
      int rc = fleet_tracker_tick(d->tracker, fleetd_wall_ns());
      if (rc)
        fleetd_log(FLEETD_ERROR, "tracker tick failed", "error", fleet_error_last(), NULL);
      d->c.ticks++;
    }
    maybe_checkpoint(d, now);
    report_suppressed(d, now);
    if (stats_every && now >= next_stats) {
      next_stats = now + stats_every;
      fleetd_log_stats(d, "stats");
    }
    if (*hup) {
      *hup = 0;
      fleetd_reload(d);
    }
    poll_files(d, now);
    if (d->gw) {
      fleet_ruleset_t *rs = fleetd_gw_take_rules(d->gw);
      if (rs && fleet_tracker_set_rules(d->tracker, rs))
        fleetd_log(FLEETD_ERROR, "cannot apply the rules from the API", "error",
                   fleet_error_last(), NULL);
      fleet_ruleset_free(rs);
    }
    if (now >= next_second) {
      next_second = now + 1000;
      report_dead_letters(d);
      if (d->gw) {
        fleet_tracker_stats_t ts;
        memset(&ts, 0, sizeof ts);
        fleet_tracker_stats(&ts, d->tracker);
        fleetd_gw_counters(d->gw, &d->c, &ts);
      }
    }
  }
  return 0;
}

int fleetd_shutdown(fleetd_t *d)
{
  int64_t deadline = fleetd_mono_ms() + d->cfg.shutdown_timeout_ms;
  fleetd_gw_free(d->gw);
  d->gw = NULL;
  fleetd_log(FLEETD_INFO, "stopping intake", NULL);
  d->draining = true;
  if (d->mqtt) {
    unsigned int t = d->cfg.shutdown_timeout_ms < 2000 ? d->cfg.shutdown_timeout_ms : 2000;
    if (fleet_mqtt_stop(d->mqtt, (int)t))
      fleetd_log(FLEETD_WARN, "alerts still unacknowledged at disconnect", "component", "mqtt",
                 "error", fleet_error_last(), NULL);
  }
  uint64_t seq = d->last_seq;
  if (d->tracker) {
    fleetd_ts_dedup_reset(&d->dedup);
    if (fleet_tracker_flush(d->tracker, NULL))
      fleetd_log(FLEETD_ERROR, "tracker flush failed", "error", fleet_error_last(), NULL);
  }
  int result = 0;
  if (d->raw && d->events) {
    push(d);
    int64_t left = deadline - fleetd_mono_ms();
    int r1 = fleet_influx_writer_close(d->raw, left > 0 ? (unsigned int)left : 0u);
    left = deadline - fleetd_mono_ms();
    int r2 = fleet_influx_writer_close(d->events, left > 0 ? (unsigned int)left : 0u);
    if (r1 || r2) {
      fleetd_log(FLEETD_ERROR,
                 "some lines were neither delivered nor spooled; the ingest log keeps them "
                 "for the next start",
                 "error", fleet_error_last(), NULL);
      result = -1;
    } else if (!d->ckpt_blocked && d->log) {
      /* Everything up to `seq` is in InfluxDB or in a spool (closed, so
       * synced) that the next writer delivers. */
      stop_sync(d);
      write_checkpoint(d, seq);
    }
  }
  report_suppressed(d, INT64_MAX / 2);
  stop_sync(d);
  if (d->log && fleet_ingestlog_sync(d->log))
    fleetd_log(FLEETD_ERROR, "ingest log sync failed", "error", fleet_error_last(), NULL);
  fleetd_log_stats(d, "final stats");
  return result;
}

void fleetd_free(fleetd_t *d)
{
  if (!d)
    return;
  stop_sync(d);
  fleetd_gw_free(d->gw);
  fleetd_dbcheck_free(d->dbcheck); /* it reads the writers' counters */
  fleet_mqtt_free(d->mqtt);
  fleet_influx_writer_free(d->raw);
  fleet_influx_writer_free(d->events);
  fleet_tracker_free(d->tracker);
  fleet_zoneset_free(d->zones);
  fleet_ingestlog_free(d->log);
  fleet_buf_dispose(&d->raw_buf);
  fleet_buf_dispose(&d->ev_buf);
  fleet_buf_dispose(&d->json_buf);
  free(d);
}

/* ---- counters ------------------------------------------------------------------------ */

static void writer_stats(fleetd_logline_t *l, const char *p, fleet_influx_writer_t *w)
{
  if (!w)
    return;
  fleet_influx_writer_stats_t s = FLEET_INFLUX_WRITER_STATS_INIT;
  if (fleet_influx_writer_get_stats(&s, w))
    return;
  char k[64];
#define W(name, v)                                 \
  do {                                             \
    snprintf(k, sizeof k, "%s_%s", p, name);       \
    fleetd_ll_u64(l, k, (uint64_t)(v));            \
  } while (0)
  W("enqueued", s.points_enqueued);
  W("written", s.points_written);
  W("dead_lettered", s.points_dead_lettered);
  W("queue_points", s.queue_points);
  W("spool_records", s.spool_records);
  W("spool_bytes", s.spool_bytes);
  W("requests", s.requests);
  W("retries", s.retries);
  W("net_errors", s.net_errors);
  W("server_errors", s.server_errors);
  W("config_errors", s.config_errors);
  W("lost", s.points_lost);
  W("latency_us", s.avg_latency_us);
  W("healthy", s.healthy);
#undef W
  if (s.last_error[0]) {
    snprintf(k, sizeof k, "%s_last_error", p);
    fleetd_ll_str(l, k, s.last_error);
  }
}

void fleetd_log_stats(fleetd_t *d, const char *msg)
{
  const fleetd_counters_t *c = &d->c;
  fleetd_logline_t l;
  fleetd_ll_begin(&l, FLEETD_INFO, msg);
  fleetd_ll_u64(&l, "received", c->received);
  fleetd_ll_u64(&l, "retained", c->received_retained);
  fleetd_ll_u64(&l, "replayed", c->replayed);
  fleetd_ll_u64(&l, "accepted", c->accepted);
  fleetd_ll_u64(&l, "warnings", c->warnings);
  fleetd_ll_u64(&l, "rejected", c->rejected);
  for (int i = 0; i < FLEETD_REJECT_COUNT; i++) {
    char k[48];
    snprintf(k, sizeof k, "rejected_%s", reject_names[i]);
    fleetd_ll_u64(&l, k, c->rejected_by[i]);
  }
  fleetd_ll_u64(&l, "seeded", c->seeded);
  fleetd_ll_u64(&l, "drained", c->drained);
  if (d->tracker) {
    fleet_tracker_stats_t ts;
    memset(&ts, 0, sizeof ts);
    fleet_tracker_stats(&ts, d->tracker);
    fleetd_ll_u64(&l, "vehicles", ts.vehicles);
    fleetd_ll_u64(&l, "late", ts.late);
    fleetd_ll_u64(&l, "duplicates", ts.duplicates);
  }
  for (unsigned int t = 1; t < sizeof c->events / sizeof c->events[0]; t++) {
    const char *n = fleet_tracker_event_type_name((fleet_tracker_event_type_t)t);
    char k[48];
    snprintf(k, sizeof k, "events_%s", n ? n : "unknown");
    fleetd_ll_u64(&l, k, c->events[t]);
  }
  fleetd_ll_u64(&l, "events_suppressed", c->events_suppressed);
  fleetd_ll_u64(&l, "points_raw", c->points_raw);
  fleetd_ll_u64(&l, "points_downsampled", c->points_events);
  fleetd_ll_u64(&l, "enqueue_errors", c->enqueue_errors);
  fleetd_ll_u64(&l, "encode_errors", c->encode_errors);
  fleetd_ll_u64(&l, "alerts_published", c->alerts_published);
  fleetd_ll_u64(&l, "alert_publish_errors", c->alert_publish_errors);
  fleetd_ll_u64(&l, "alerts_forwarded", c->alerts_forwarded);
  fleetd_ll_u64(&l, "alerts_refused", c->alerts_refused);
  writer_stats(&l, "raw", d->raw);
  writer_stats(&l, "downsampled", d->events);
  if (d->log) {
    fleet_ingestlog_stats_t s = FLEET_INGESTLOG_STATS_INIT;
    if (fleet_ingestlog_get_stats(&s, d->log) == 0) {
      fleetd_ll_u64(&l, "ingest_next_seq", s.next_seq);
      fleetd_ll_u64(&l, "ingest_checkpoint_seq", s.checkpoint_seq);
      fleetd_ll_u64(&l, "ingest_synced_seq", s.synced_seq);
      fleetd_ll_u64(&l, "ingest_segments", s.segments);
      fleetd_ll_u64(&l, "ingest_bytes", s.bytes);
    }
  }
  fleetd_ll_u64(&l, "ingest_errors", c->ingest_errors);
  fleetd_ll_u64(&l, "ingest_sync_errors", atomic_load(&d->sync_errors));
  fleetd_ll_u64(&l, "checkpoints", atomic_load(&d->checkpoints));
  fleetd_ll_u64(&l, "checkpoint_skipped", c->checkpoint_skipped);
  fleetd_ll_u64(&l, "checkpoint_failures", atomic_load(&d->checkpoint_failures));
  if (d->mqtt) {
    fleet_mqtt_stats_t s = FLEET_MQTT_STATS_INIT;
    if (fleet_mqtt_stats(&s, d->mqtt) == 0) {
      fleetd_ll_u64(&l, "mqtt_received", s.received);
      fleetd_ll_u64(&l, "mqtt_ignored_partition", s.ignored_partition);
      fleetd_ll_u64(&l, "mqtt_bad_topic", s.bad_topic);
      fleetd_ll_u64(&l, "mqtt_oversize", s.oversize);
      fleetd_ll_u64(&l, "mqtt_connects", s.connects);
      fleetd_ll_u64(&l, "mqtt_reconnects", s.reconnects);
      fleetd_ll_u64(&l, "mqtt_connection_losses", s.connection_losses);
      fleetd_ll_u64(&l, "mqtt_connected", (uint64_t)s.connected);
    }
  }
  fleetd_ll_u64(&l, "ticks", c->ticks);
  fleetd_ll_u64(&l, "reloads", c->reloads);
  fleetd_ll_u64(&l, "reload_failures", c->reload_failures);
  fleetd_ll_end(&l);
}
