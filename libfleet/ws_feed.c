/*
 * ws_feed: the WebSocket side of the gateway. Clients, their subscriptions,
 * per-client coalescing of positions, the bounded queue of alerts and
 * replies, one frame per WRITEABLE callback, stuck and expiry handling.
 * Everything here runs on the service thread.
 *
 * Coalescing. A gateway-wide flush tick (every flush_ms, on a fixed grid,
 * armed only while updates wait) decides what goes out; a client's interval
 * is the least spacing between two updates of the same vehicle, counted in
 * ticks (interval_ticks). Each client has, per vehicle index, a bit
 * ("queued") and the tick from which the vehicle's pending or last update is
 * due (`sent`, uint32, 0 = never), plus two lists: `dirty` (updated, not
 * taken yet) and `flush` (taken at a tick, being written). An update sets
 * the bit and appends the vehicle to `dirty` unless the bit is set already,
 * in which case the pending entry will carry the newer state anyway (counted
 * as coalesced). A newly queued update is due at the first tick after it
 * was published (v->arrived_ms, not when the service thread took it), or
 * interval_ticks (less one tick of tolerance, see below) after the previous
 * one's due tick if that is later. At a
 * tick, a client that is not still writing its previous flush moves every
 * dirty vehicle that is due to `flush`; the others stay dirty for a later
 * tick. A vehicle updated once therefore waits at most one tick, one updated
 * faster than the interval goes out once per interval, and vehicles never
 * wait for each other. Each flush entry is written with the vehicle's state at the moment
 * of writing, so the client always gets the latest. Memory per client is
 * bounded by the number of vehicles (1 bit + 4 bytes each, plus the list
 * slots of those waiting), whatever the update rate.
 *
 * The spacing is counted from due tick to due tick, not from the tick an
 * update was taken: a vehicle that publishes exactly once per interval stays
 * at a latency of one tick at most. Counting from the send would let every
 * late send (a client still writing, a tick firing late, a device's jitter)
 * hold all later updates of that vehicle back by as much, ratcheting the
 * latency up towards a whole interval. Ticks of a fixed grid rather than
 * milliseconds keep the comparison free of rounding.
 *
 * Tolerance. With intervals of 10 ticks or more the spacing is one tick short
 * of the interval. Strict spacing would keep a vehicle that reports exactly
 * once per interval at whatever phase an earlier burst gave it (two updates
 * half an interval apart, or a device emptying its queue after a reconnect):
 * every later update would wait almost an interval, for as long as it
 * reports. One tick less lets it catch up by a tick per interval.
 *
 * Messages are built once per vehicle update (or alert) and shared between
 * clients by reference count; a client's queue holds only pointers.
 */
#include "common_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ws_int.h"

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
  if (n < *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : 8;
  if (nc > SIZE_MAX / elem)
    return FLEET_ENOMEM;
  void *p = realloc(*arr, nc * elem);
  if (!p)
    return FLEET_ENOMEM;
  *arr = p;
  *cap = nc;
  return 0;
}

int fleet_ws__client_allows(const fleet_ws__client_t *c, const char *id)
{
  return c->admin || fleet_auth_claims_allows(c->claims, id);
}

/* Index of `id` in the client's sorted explicit list, or where it would go. */
static int subs_find(const fleet_ws__client_t *c, const char *id, size_t *pos)
{
  size_t lo = 0, hi = c->n_subs;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int cmp = strcmp(c->subs[mid], id);
    if (cmp == 0) {
      *pos = mid;
      return 1;
    }
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *pos = lo;
  return 0;
}

static fleet_ws__vehicle_t *vehicle_lookup(fleet_ws_t *gw, const char *id)
{
  fleet_ws__vehicle_t *v = NULL;
  uint32_t idx;
  pthread_mutex_lock(&gw->lock);
  if (fleet_idmap__find(&idx, &gw->map, id, fleet_ws__vehicle_key, gw))
    v = gw->vehicles[idx];
  pthread_mutex_unlock(&gw->lock);
  return v && v->svc_seen ? v : NULL;
}

static void vehicle_add_sub(fleet_ws__vehicle_t *v, fleet_ws__client_t *c)
{
  for (size_t i = 0; i < v->n_subs; i++)
    if (v->subs[i] == c)
      return;
  if (grow((void **)&v->subs, &v->cap_subs, v->n_subs, sizeof *v->subs)) {
    fleet_ws__log(c->gw, FLEET_WS_LOG_ERROR, "out of memory: subscription to '%s' not served",
                  v->id);
    return;
  }
  v->subs[v->n_subs++] = c;
}

static void vehicle_remove_sub(fleet_ws__vehicle_t *v, fleet_ws__client_t *c)
{
  for (size_t i = 0; i < v->n_subs; i++)
    if (v->subs[i] == c) {
      v->subs[i] = v->subs[--v->n_subs];
      return;
    }
}

static int subscribed(const fleet_ws__client_t *c, const fleet_ws__vehicle_t *v)
{
  size_t pos;
  return c->all ? fleet_ws__client_allows(c, v->id) : subs_find(c, v->id, &pos);
}

/* ---- the queue of alerts and replies ---------------------------------- */

static void mark_pending(fleet_ws__client_t *c)
{
  if (!c->pending_since)
    c->pending_since = fleet_ws__now_ms();
}

static fleet_ws__msg_t *q_pop(fleet_ws__client_t *c)
{
  if (!c->q_len)
    return NULL;
  fleet_ws__msg_t *m = c->q[c->q_head];
  c->q_head = (c->q_head + 1) & (c->q_cap - 1);
  c->q_len--;
  c->q_bytes -= m->len;
  FLEET_WS__SUB(c->gw, st_queued_bytes, m->len);
  return m;
}

static int q_push(fleet_ws__client_t *c, fleet_ws__msg_t *m)
{
  if (c->q_len == c->q_cap) {
    size_t nc = c->q_cap ? c->q_cap * 2 : 8;
    fleet_ws__msg_t **nq = malloc(nc * sizeof *nq);
    if (!nq)
      return FLEET_ENOMEM;
    for (size_t i = 0; i < c->q_len; i++)
      nq[i] = c->q[(c->q_head + i) & (c->q_cap - 1)];
    free(c->q);
    c->q = nq;
    c->q_cap = nc;
    c->q_head = 0;
  }
  c->q[(c->q_head + c->q_len) & (c->q_cap - 1)] = m;
  c->q_len++;
  c->q_bytes += m->len;
  FLEET_WS__ADD(c->gw, st_queued_bytes, m->len);
  m->refs++;
  return 0;
}

/* Drop everything the client still holds for sending (closing: bound memory now). */
static void release_output(fleet_ws__client_t *c)
{
  fleet_ws__msg_t *m;
  while ((m = q_pop(c)) != NULL)
    fleet_ws__msg_unref(m);
  fleet_ws__msg_unref(c->cur);
  c->cur = NULL;
  c->n_dirty = c->n_flush = c->flush_pos = 0;
  c->flushing = 0;
  if (c->qbits)
    memset(c->qbits, 0, c->qwords * sizeof *c->qbits);
}

/* Start closing: a close frame when the socket takes it, else a hard close shortly. */
static void client_shut(fleet_ws__client_t *c, int code, const char *reason)
{
  if (c->closing)
    return;
  c->closing = 1;
  c->close_code = code;
  c->close_reason = reason;
  release_output(c);
  lws_sul_cancel(&c->sul_expiry);
  lws_callback_on_writable(c->wsi);
  lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 1);
}

static void client_slow(fleet_ws__client_t *c, const char *why)
{
  if (c->closing)
    return;
  FLEET_WS__INC(c->gw, st_slow_disconnects);
  fleet_ws__log(c->gw, FLEET_WS_LOG_WARNING, "ws: %s disconnected: too slow (%s)", c->peer, why);
  client_shut(c, FLEET_WS_CLOSE_SLOW, "client too slow");
}

/* Queue `m` (a new reference is taken). */
static void client_send(fleet_ws__client_t *c, fleet_ws__msg_t *m)
{
  if (c->closing)
    return;
  fleet_ws_t *gw = c->gw;
  if (c->q_len >= gw->alert_queue_max) {
    client_slow(c, "queue at alert_queue_max messages");
    return;
  }
  if (c->q_len && c->q_bytes + m->len > gw->send_buffer) {
    client_slow(c, "queue at send_buffer_bytes");
    return;
  }
  if (q_push(c, m)) {
    fleet_ws__log(gw, FLEET_WS_LOG_ERROR, "ws: %s: out of memory queueing a message", c->peer);
    client_shut(c, 1011, "out of memory");
    return;
  }
  mark_pending(c);
  lws_callback_on_writable(c->wsi);
}

static void send_text(fleet_ws__client_t *c, uint32_t kind, const char *text, size_t len)
{
  fleet_ws__msg_t *m = fleet_ws__msg_new(kind, text, len);
  if (!m) {
    client_shut(c, 1011, "out of memory");
    return;
  }
  client_send(c, m);
  fleet_ws__msg_unref(m);
}

/* JSON string body of untrusted text: escapes, and '?' for anything not printable ASCII. */
static void put_json_string(fleet_buf_t *b, const char *s)
{
  fleet_buf__putc(b, '"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      fleet_buf__putc(b, '\\');
      fleet_buf__putc(b, (char)ch);
    } else if (ch < 0x20 || ch >= 0x7f) {
      fleet_buf__putc(b, '?');
    } else {
      fleet_buf__putc(b, (char)ch);
    }
  }
  fleet_buf__putc(b, '"');
}

static void send_error(fleet_ws__client_t *c, const char *message)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  fleet_buf__puts(&b, "{\"type\":\"error\",\"message\":");
  put_json_string(&b, message);
  fleet_buf__putc(&b, '}');
  if (b.ptr)
    send_text(c, FLEET_WS__MSG_ERROR, b.ptr, b.len);
  else
    client_shut(c, 1011, "out of memory");
  fleet_buf_dispose(&b);
}

/* ---- coalescing ---------------------------------------------------------- */

/* Set the vehicle's queued bit; returns 1 when it was clear, 0 when set, -1 on ENOMEM. */
static int qbit_set(fleet_ws__client_t *c, uint32_t idx)
{
  size_t w = idx / 64;
  if (w >= c->qwords) {
    size_t nw = c->qwords ? c->qwords : 4;
    while (nw <= w)
      nw *= 2;
    uint64_t *nb = realloc(c->qbits, nw * sizeof *nb);
    if (!nb)
      return -1;
    memset(nb + c->qwords, 0, (nw - c->qwords) * sizeof *nb);
    c->qbits = nb;
    c->qwords = nw;
  }
  uint64_t bit = (uint64_t)1 << (idx % 64);
  if (c->qbits[w] & bit)
    return 0;
  c->qbits[w] |= bit;
  return 1;
}

static void qbit_clear(fleet_ws__client_t *c, uint32_t idx)
{
  size_t w = idx / 64;
  if (w < c->qwords)
    c->qbits[w] &= ~((uint64_t)1 << (idx % 64));
}

/* The slot of the client's due tick of vehicle `idx`; NULL on ENOMEM. */
static uint32_t *sent_slot(fleet_ws__client_t *c, uint32_t idx)
{
  if (idx >= c->n_sent) {
    size_t nn = (size_t)idx + 1 + ((size_t)idx + 1) / 4;
    if (nn < 64)
      nn = 64;
    uint32_t *ns = realloc(c->sent, nn * sizeof *ns);
    if (!ns)
      return NULL;
    memset(ns + c->n_sent, 0, (nn - c->n_sent) * sizeof *ns);
    c->sent = ns;
    c->n_sent = nn;
  }
  return &c->sent[idx];
}

/* Index of the tick nearest to `now` (tick 1 is at gw->tick_t0). */
static uint32_t tick_at(const fleet_ws_t *gw, int64_t now)
{
  int64_t d = now - gw->tick_t0;
  if (d < 0)
    d = 0;
  /* Wraps after 2^32 ticks; differences of ticks stay right (unsigned). */
  return (uint32_t)(1 + (uint64_t)(d + gw->flush_ms / 2) / gw->flush_ms);
}

/* Index of the first tick at or after `now`: the earliest an update that
 * arrives now can be sent, hence its due tick (rounding to the nearest tick
 * instead would make a vehicle's first spacing a tick short). */
static uint32_t tick_next(const fleet_ws_t *gw, int64_t now)
{
  int64_t d = now - gw->tick_t0;
  if (d < 0)
    d = 0;
  return (uint32_t)(1 + (uint64_t)(d + gw->flush_ms - 1) / gw->flush_ms);
}

static void flush_tick_cb(lws_sorted_usec_list_t *sul);

/* Arm the tick at the next grid point after `after` (a tick index, 0 for none). */
static void arm_flush(fleet_ws_t *gw, uint32_t after)
{
  if (gw->flush_armed || !gw->svc_ctx)
    return;
  int64_t now = fleet_ws__now_ms();
  int64_t d = now - gw->tick_t0;
  int64_t next = d <= 0 ? 0 : (d + gw->flush_ms - 1) / gw->flush_ms; /* grid index, from 0 */
  if (after && next < (int64_t)after) /* never fire twice for the same grid point */
    next = (int64_t)after;
  int64_t delay = gw->tick_t0 + next * (int64_t)gw->flush_ms - now;
  if (delay < 0)
    delay = 0;
  gw->flush_armed = 1;
  pthread_mutex_lock(&gw->lock);
  gw->ticking = 1;
  pthread_mutex_unlock(&gw->lock);
  lws_sul_schedule(gw->svc_ctx, 0, &gw->sul_flush, flush_tick_cb,
                   (lws_usec_t)delay * LWS_US_PER_MS);
}

/* Move the due vehicles of `c` from `dirty` to `flush` and start writing them. */
static void take_due(fleet_ws__client_t *c, uint32_t tick)
{
  if (c->cap_flush < c->n_dirty) {
    fleet_ws__vehicle_t **nf = realloc(c->flush, c->cap_dirty * sizeof *nf);
    if (!nf) {
      fleet_ws__log(c->gw, FLEET_WS_LOG_ERROR, "ws: %s: out of memory, push delayed", c->peer);
      return;
    }
    c->flush = nf;
    c->cap_flush = c->cap_dirty;
  }
  size_t keep = 0, n = 0;
  for (size_t i = 0; i < c->n_dirty; i++) {
    fleet_ws__vehicle_t *v = c->dirty[i];
    uint32_t due = v->idx < c->n_sent ? c->sent[v->idx] : 0;
    /* Signed difference: tick numbers wrap after 2^32 ticks. Without a slot
     * (ENOMEM in mark()) due is 0: the vehicle goes out now, never lost. */
    if (due && (int32_t)(tick - due) < 0) {
      c->dirty[keep++] = v;
      continue;
    }
    c->flush[n++] = v;
  }
  c->n_dirty = keep;
  if (!n)
    return;
  c->n_flush = n;
  c->flush_pos = 0;
  c->flushing = 1;
  mark_pending(c);
  lws_callback_on_writable(c->wsi);
}

static void flush_tick_cb(lws_sorted_usec_list_t *sul)
{
  fleet_ws_t *gw = FLEET_WS__CONTAINER(sul, fleet_ws_t, sul_flush);
  /* Still "armed" while draining: the updates marked now are handled below. */
  fleet_ws__drain(gw);
  gw->flush_armed = 0;
  uint32_t tick = tick_at(gw, fleet_ws__now_ms());
  int waiting = 0;
  for (size_t i = 0; i < gw->n_clients; i++) {
    fleet_ws__client_t *c = gw->clients[i];
    if (c->closing || !c->n_dirty)
      continue;
    /* Still writing the last tick's updates: this one's wait (and coalesce). */
    if (!c->flushing)
      take_due(c, tick);
    if (c->n_dirty)
      waiting = 1;
  }
  if (!waiting) {
    /* Stop ticking unless publishers queued changes meanwhile; from now on
     * they wake the service thread again (checked under the same lock). */
    pthread_mutex_lock(&gw->lock);
    waiting = gw->n_changed > 0;
    if (!waiting)
      gw->ticking = 0;
    pthread_mutex_unlock(&gw->lock);
  }
  if (waiting)
    arm_flush(gw, tick);
}

void fleet_ws__feed_stop(fleet_ws_t *gw)
{
  if (gw->svc_ctx)
    lws_sul_cancel(&gw->sul_flush);
  gw->flush_armed = 0;
  pthread_mutex_lock(&gw->lock);
  gw->ticking = 0;
  pthread_mutex_unlock(&gw->lock);
  fleet_ws__msg_unref(gw->batch_msg);
  gw->batch_msg = NULL;
  free(gw->batch_key);
  free(gw->batch_sel);
  gw->batch_key = gw->batch_sel = NULL;
  gw->n_batch_key = 0;
}

/* Queue `v` for `c`; `tick` is the next tick (tick_next()). */
static void mark(fleet_ws__client_t *c, fleet_ws__vehicle_t *v, uint32_t tick)
{
  int r = qbit_set(c, v->idx);
  if (r == 0) {
    FLEET_WS__INC(c->gw, st_telemetry_coalesced);
    return;
  }
  if (r < 0 || grow((void **)&c->dirty, &c->cap_dirty, c->n_dirty, sizeof *c->dirty)) {
    if (r > 0)
      qbit_clear(c, v->idx);
    fleet_ws__log(c->gw, FLEET_WS_LOG_ERROR, "ws: %s: out of memory, update of '%s' skipped",
                  c->peer, v->id);
    return;
  }
  c->dirty[c->n_dirty++] = v;
  uint32_t *slot = sent_slot(c, v->idx);
  if (slot) {
    uint32_t next = *slot + c->interval_ticks - (c->interval_ticks >= 10);
    uint32_t due = *slot && (int32_t)(next - tick) > 0 ? next : tick;
    *slot = due ? due : 1;
  }
  arm_flush(c->gw, 0);
}

void fleet_ws__feed_vehicle_updated(fleet_ws_t *gw, fleet_ws__vehicle_t *v)
{
  uint32_t tick = tick_next(gw, v->arrived_ms);
  for (size_t i = 0; i < gw->n_all; i++) {
    fleet_ws__client_t *c = gw->all_clients[i];
    if (!c->closing && fleet_ws__client_allows(c, v->id))
      mark(c, v, tick);
  }
  for (size_t i = 0; i < v->n_subs; i++)
    if (!v->subs[i]->closing)
      mark(v->subs[i], v, tick);
}

void fleet_ws__feed_vehicle_seen(fleet_ws_t *gw, fleet_ws__vehicle_t *v)
{
  for (size_t i = 0; i < gw->n_clients; i++) {
    fleet_ws__client_t *c = gw->clients[i];
    size_t pos;
    if (!c->all && c->n_subs && subs_find(c, v->id, &pos))
      vehicle_add_sub(v, c);
  }
}

void fleet_ws__feed_alert(fleet_ws_t *gw, fleet_ws__vehicle_t *v, fleet_ws__msg_t *m)
{
  for (size_t i = 0; i < gw->n_all; i++) {
    fleet_ws__client_t *c = gw->all_clients[i];
    if (!c->closing && fleet_ws__client_allows(c, v->id))
      client_send(c, m);
  }
  /* client_send() may close a client, which never changes v->subs here. */
  for (size_t i = 0; i < v->n_subs; i++)
    client_send(v->subs[i], m);
}

/* The telemetry_update of the vehicle's current state, built once per update. */
static fleet_ws__msg_t *vehicle_msg(fleet_ws_t *gw, fleet_ws__vehicle_t *v)
{
  if (v->msg && v->msg_seq == v->seq)
    return v->msg;
  fleet_buf_t b = FLEET_BUF_INIT;
  int rc = fleet_buf__printf(&b, "{\"type\":\"telemetry_update\",\"vehicle_id\":\"%s\",\"data\":",
                             v->id);
  if (!rc)
    rc = fleet_buf_append(&b, v->data, v->data_len);
  if (!rc)
    rc = fleet_buf__putc(&b, '}');
  fleet_ws__msg_t *m = rc ? NULL : fleet_ws__msg_new(FLEET_WS__MSG_TELEMETRY, b.ptr, b.len);
  fleet_buf_dispose(&b);
  if (!m) {
    fleet_ws__log(gw, FLEET_WS_LOG_ERROR, "ws: out of memory building the update of '%s'", v->id);
    return NULL;
  }
  fleet_ws__msg_unref(v->msg);
  v->msg = m;
  v->msg_seq = v->seq;
  return m;
}

static const char batch_head[] = "{\"type\":\"telemetry_batch\",\"updates\":[";
static const char batch_item_head[] = "{\"vehicle_id\":\"";
static const char batch_item_mid[] = "\",\"data\":";

/* Bytes of one update in a batch frame: a comma or the head, then the item. */
static size_t batch_item_len(const fleet_ws__vehicle_t *v, uint32_t items)
{
  return (items ? 1 : sizeof batch_head - 1) + sizeof batch_item_head - 1 + strlen(v->id) +
         sizeof batch_item_mid - 1 + v->data_len + 1;
}

/* Write the frame of the `n` updates in gw->batch_sel into a new message. */
static fleet_ws__msg_t *batch_build(fleet_ws_t *gw, uint32_t n, size_t len)
{
  fleet_ws__msg_t *m = fleet_ws__msg_new(FLEET_WS__MSG_TELEMETRY, NULL, len);
  if (!m)
    return NULL;
  char *p = m->data;
#define PUT(src, k) (memcpy(p, (src), (k)), p += (k))
  for (uint32_t i = 0; i < n; i++) {
    const fleet_ws__vehicle_t *v = gw->batch_sel[i].v;
    if (i)
      *p++ = ',';
    else
      PUT(batch_head, sizeof batch_head - 1);
    PUT(batch_item_head, sizeof batch_item_head - 1);
    PUT(v->id, strlen(v->id));
    PUT(batch_item_mid, sizeof batch_item_mid - 1);
    PUT(v->data, v->data_len);
    *p++ = '}';
  }
  PUT("]}", 2);
#undef PUT
  m->items = n;
  return m;
}

/*
 * The next telemetry_batch frame of the flush in progress: up to
 * FLEET_WS__BATCH_ITEMS updates, closed once past FLEET_WS__BATCH_BYTES.
 * When the updates are those of the last frame built (the same vehicles in
 * the same order, each at the same seq), that frame is shared.
 * NULL when the flush has nothing left to send (or on ENOMEM, logged: the
 * rest of this flush is skipped, the next updates go out normally).
 */
static fleet_ws__msg_t *batch_msg(fleet_ws__client_t *c)
{
  fleet_ws_t *gw = c->gw;
  if (!gw->batch_sel)
    gw->batch_sel = malloc(FLEET_WS__BATCH_ITEMS * sizeof *gw->batch_sel);
  if (!gw->batch_sel)
    goto oom;
  uint32_t items = 0;
  size_t len = 2; /* "]}" */
  int same = gw->batch_msg != NULL;
  while (c->flush_pos < c->n_flush && items < FLEET_WS__BATCH_ITEMS &&
         len < FLEET_WS__BATCH_BYTES) {
    fleet_ws__vehicle_t *v = c->flush[c->flush_pos++];
    qbit_clear(c, v->idx);
    if (!v->data || !subscribed(c, v))
      continue;
    if (same && (items >= gw->n_batch_key || gw->batch_key[items].v != v ||
                 gw->batch_key[items].seq != v->seq))
      same = 0;
    gw->batch_sel[items].v = v;
    gw->batch_sel[items].seq = v->seq;
    len += batch_item_len(v, items);
    items++;
  }
  if (!items)
    return NULL;
  if (same && items == gw->n_batch_key) {
    gw->batch_msg->refs++;
    FLEET_WS__INC(gw, st_batches_shared);
    return gw->batch_msg;
  }
  fleet_ws__msg_t *m = batch_build(gw, items, len);
  if (!m)
    goto oom;
  FLEET_WS__INC(gw, st_batches_built);
  /* Keep it, and what it carries, for the next client. */
  fleet_ws__msg_unref(gw->batch_msg);
  gw->batch_msg = m;
  m->refs++;
  fleet_ws__batch_item_t *t = gw->batch_key;
  gw->batch_key = gw->batch_sel;
  gw->n_batch_key = items;
  gw->batch_sel = t; /* NULL the first time: allocated by the next call */
  return m;

oom:
  fleet_ws__log(gw, FLEET_WS_LOG_ERROR, "ws: %s: out of memory building a batch", c->peer);
  while (c->flush_pos < c->n_flush)
    qbit_clear(c, c->flush[c->flush_pos++]->idx);
  return NULL;
}

/* The next message to write: queued ones first, then the flush in progress. */
static fleet_ws__msg_t *next_message(fleet_ws__client_t *c)
{
  fleet_ws__msg_t *m = q_pop(c);
  if (m)
    return m;
  if (c->flushing && c->batch) {
    m = batch_msg(c);
    if (m)
      return m;
  }
  while (c->flushing && c->flush_pos < c->n_flush) {
    fleet_ws__vehicle_t *v = c->flush[c->flush_pos++];
    qbit_clear(c, v->idx);
    if (!v->data || !subscribed(c, v))
      continue;
    m = vehicle_msg(c->gw, v);
    if (m) {
      m->refs++;
      return m;
    }
  }
  if (c->flushing) {
    c->flushing = 0;
    c->n_flush = c->flush_pos = 0;
  }
  return NULL;
}

int fleet_ws__client_writeable(fleet_ws__client_t *c)
{
  fleet_ws_t *gw = c->gw;
  if (c->closing) {
    lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
                     (unsigned char *)(uintptr_t)c->close_reason, strlen(c->close_reason));
    return -1;
  }
  if (!c->cur) {
    c->cur = next_message(c);
    c->cur_off = 0;
  }
  if (!c->cur) {
    c->pending_since = 0;
    return 0;
  }
  fleet_ws__msg_t *m = c->cur;
  size_t n = m->len - c->cur_off;
  if (c->cur_off == 0 && n <= FLEET_WS__CHUNK) {
    if (lws_write(c->wsi, (unsigned char *)m->data, n, LWS_WRITE_TEXT) < 0)
      return -1;
  } else {
    /* A fragment: its header would overwrite the bytes before it, so copy. */
    if (n > FLEET_WS__CHUNK)
      n = FLEET_WS__CHUNK;
    int flags = lws_write_ws_flags(LWS_WRITE_TEXT, c->cur_off == 0, c->cur_off + n == m->len);
    memcpy(gw->wbuf + LWS_PRE, m->data + c->cur_off, n);
    if (lws_write(c->wsi, gw->wbuf + LWS_PRE, n, (enum lws_write_protocol)flags) < 0)
      return -1;
  }
  c->cur_off += n;
  c->last_progress = fleet_ws__now_ms();
  if (c->cur_off == m->len) {
    FLEET_WS__INC(gw, st_messages_sent);
    FLEET_WS__ADD(gw, st_bytes_sent, m->len);
    switch (m->kind) {
    case FLEET_WS__MSG_TELEMETRY:
      FLEET_WS__ADD(gw, st_telemetry_sent, m->items);
      break;
    case FLEET_WS__MSG_ALERT:
      FLEET_WS__INC(gw, st_alerts_sent);
      break;
    case FLEET_WS__MSG_SNAPSHOT:
      FLEET_WS__INC(gw, st_snapshots_sent);
      break;
    case FLEET_WS__MSG_ERROR:
      FLEET_WS__INC(gw, st_errors_sent);
      break;
    default:
      break;
    }
    fleet_ws__msg_unref(m);
    c->cur = NULL;
  }
  if (c->cur || c->q_len || c->flushing)
    lws_callback_on_writable(c->wsi);
  else
    c->pending_since = 0;
  return 0;
}

/* ---- subscriptions -------------------------------------------------------- */

static void drop_explicit(fleet_ws__client_t *c)
{
  for (size_t i = 0; i < c->n_subs; i++) {
    fleet_ws__vehicle_t *v = vehicle_lookup(c->gw, c->subs[i]);
    if (v)
      vehicle_remove_sub(v, c);
    free(c->subs[i]);
  }
  c->n_subs = 0;
}

static int subscribe_all(fleet_ws__client_t *c)
{
  fleet_ws_t *gw = c->gw;
  if (c->all)
    return 0;
  if (grow((void **)&gw->all_clients, &gw->cap_all, gw->n_all, sizeof *gw->all_clients))
    return FLEET_ENOMEM;
  drop_explicit(c);
  c->all = 1;
  c->all_pos = gw->n_all;
  gw->all_clients[gw->n_all++] = c;
  return 0;
}

static void unsubscribe_all(fleet_ws__client_t *c)
{
  fleet_ws_t *gw = c->gw;
  if (c->all) {
    fleet_ws__client_t *last = gw->all_clients[--gw->n_all];
    gw->all_clients[c->all_pos] = last;
    last->all_pos = c->all_pos;
    c->all = 0;
  }
  drop_explicit(c);
}

static int subscribe_one(fleet_ws__client_t *c, const char *id)
{
  size_t pos;
  if (subs_find(c, id, &pos))
    return 0;
  if (c->n_subs >= FLEET_WS_SUBSCRIBE_MAX)
    return FLEET_ETOOBIG;
  if (grow((void **)&c->subs, &c->cap_subs, c->n_subs, sizeof *c->subs))
    return FLEET_ENOMEM;
  size_t n = strlen(id) + 1;
  char *s = malloc(n);
  if (!s)
    return FLEET_ENOMEM;
  memcpy(s, id, n);
  memmove(c->subs + pos + 1, c->subs + pos, (c->n_subs - pos) * sizeof *c->subs);
  c->subs[pos] = s;
  c->n_subs++;
  fleet_ws__vehicle_t *v = vehicle_lookup(c->gw, id);
  if (v)
    vehicle_add_sub(v, c);
  return 0;
}

static void unsubscribe_one(fleet_ws__client_t *c, const char *id)
{
  size_t pos;
  if (!subs_find(c, id, &pos))
    return;
  fleet_ws__vehicle_t *v = vehicle_lookup(c->gw, id);
  if (v)
    vehicle_remove_sub(v, c);
  free(c->subs[pos]);
  memmove(c->subs + pos, c->subs + pos + 1, (c->n_subs - pos - 1) * sizeof *c->subs);
  c->n_subs--;
}

static int snapshot_add(fleet_buf_t *b, const fleet_ws__vehicle_t *v, int *first)
{
  if (!v || !v->data)
    return 0;
  int rc = fleet_buf__printf(b, "%s{\"vehicle_id\":\"%s\"", *first ? "" : ",", v->id);
  *first = 0;
  if (rc)
    return rc;
  /* The data object without its '{': its members follow vehicle_id. */
  if (v->data_len > 2) {
    rc = fleet_buf__putc(b, ',');
    return rc ? rc : fleet_buf_append(b, v->data + 1, v->data_len - 1);
  }
  return fleet_buf__putc(b, '}');
}

static void send_snapshot(fleet_ws__client_t *c, const char *const *ids, size_t n_ids)
{
  fleet_ws_t *gw = c->gw;
  fleet_buf_t b = FLEET_BUF_INIT;
  int first = 1;
  int rc = fleet_buf__printf(&b, "{\"type\":\"snapshot\",\"interval_ms\":%u,\"vehicles\":[",
                             c->interval_ms);
  if (ids) {
    for (size_t i = 0; !rc && i < n_ids; i++)
      rc = snapshot_add(&b, vehicle_lookup(gw, ids[i]), &first);
  } else {
    for (size_t i = 0; !rc && i < gw->n_svc; i++)
      if (fleet_ws__client_allows(c, gw->svc_list[i]->id))
        rc = snapshot_add(&b, gw->svc_list[i], &first);
  }
  if (!rc)
    rc = fleet_buf__puts(&b, "]}");
  if (rc)
    client_shut(c, 1011, "out of memory");
  else
    send_text(c, FLEET_WS__MSG_SNAPSHOT, b.ptr, b.len);
  fleet_buf_dispose(&b);
}

/* "vehicles": "*" or an array of valid ids. 1 for "*", 0 for an array, -1 after an error. */
static int parse_vehicles(fleet_ws__client_t *c, json_t *jv, const char *type)
{
  char msg[160];
  if (!jv) {
    snprintf(msg, sizeof msg, "%s: 'vehicles' is required (\"*\" or a list of vehicle ids)", type);
    send_error(c, msg);
    return -1;
  }
  if (json_is_string(jv)) {
    if (strcmp(json_string_value(jv), "*") == 0)
      return 1;
  } else if (json_is_array(jv)) {
    size_t n = json_array_size(jv);
    if (n > FLEET_WS_SUBSCRIBE_MAX) {
      snprintf(msg, sizeof msg, "%s: at most %u vehicle ids per message (use \"*\")", type,
               FLEET_WS_SUBSCRIBE_MAX);
      send_error(c, msg);
      return -1;
    }
    for (size_t i = 0; i < n; i++) {
      json_t *e = json_array_get(jv, i);
      const char *s = json_string_value(e);
      if (!s || fleet_vehicle_id_validate(s, json_string_length(e)) != 0) {
        snprintf(msg, sizeof msg,
                 "%s: vehicles[%zu] is not a vehicle id (1-64 of [A-Za-z0-9._-])", type, i);
        send_error(c, msg);
        return -1;
      }
    }
    return 0;
  }
  snprintf(msg, sizeof msg, "%s: 'vehicles' must be \"*\" or a list of vehicle ids", type);
  send_error(c, msg);
  return -1;
}

static void handle_subscribe(fleet_ws__client_t *c, json_t *j)
{
  fleet_ws_t *gw = c->gw;
  json_t *jb = json_object_get(j, "batch");
  if (jb && !json_is_boolean(jb)) {
    send_error(c, "subscribe: 'batch' must be true or false");
    return;
  }
  json_t *ji = json_object_get(j, "interval_ms");
  json_int_t ms = 0;
  if (ji) {
    if (!json_is_integer(ji) || json_integer_value(ji) <= 0) {
      send_error(c, "subscribe: 'interval_ms' must be a positive integer (milliseconds)");
      return;
    }
    ms = json_integer_value(ji);
    if (ms < (json_int_t)gw->interval_min)
      ms = gw->interval_min;
    if (ms > (json_int_t)gw->interval_max)
      ms = gw->interval_max;
  }
  int kind = parse_vehicles(c, json_object_get(j, "vehicles"), "subscribe");
  if (kind < 0)
    return;
  /* A refused subscribe (bad 'vehicles') changes nothing, its interval included. */
  if (ji) {
    c->interval_ms = (unsigned int)ms;
    c->interval_ticks = (c->interval_ms + gw->flush_ms - 1) / gw->flush_ms;
  }
  if (jb)
    c->batch = json_is_true(jb);
  if (kind == 1) {
    if (subscribe_all(c)) {
      client_shut(c, 1011, "out of memory");
      return;
    }
    fleet_ws__log(gw, FLEET_WS_LOG_DEBUG, "ws: %s subscribed to * every %u ms", c->peer,
                  c->interval_ms);
    send_snapshot(c, NULL, 0);
    return;
  }
  json_t *jv = json_object_get(j, "vehicles");
  size_t n = json_array_size(jv);
  const char **added = n ? malloc(n * sizeof *added) : NULL;
  if (n && !added) {
    client_shut(c, 1011, "out of memory");
    return;
  }
  size_t n_added = 0, n_denied = 0;
  fleet_buf_t denied = FLEET_BUF_INIT;
  int too_many = 0;
  for (size_t i = 0; i < n; i++) {
    const char *id = json_string_value(json_array_get(jv, i));
    if (!fleet_ws__client_allows(c, id)) {
      if (n_denied < 5)
        fleet_buf__printf(&denied, "%s%s", n_denied ? ", " : "", id);
      n_denied++;
      continue;
    }
    if (!c->all) {
      int rc = subscribe_one(c, id);
      if (rc == FLEET_ETOOBIG) {
        too_many = 1;
        break;
      }
      if (rc) {
        free(added);
        fleet_buf_dispose(&denied);
        client_shut(c, 1011, "out of memory");
        return;
      }
    }
    added[n_added++] = id;
  }
  if (n_denied) {
    char msg[512];
    snprintf(msg, sizeof msg, "subscribe: not allowed by the token: %s%s", denied.ptr,
             n_denied > 5 ? " and more" : "");
    send_error(c, msg);
  }
  if (too_many) {
    char msg[160];
    snprintf(msg, sizeof msg, "subscribe: at most %u vehicles per connection (use \"*\")",
             FLEET_WS_SUBSCRIBE_MAX);
    send_error(c, msg);
  }
  fleet_buf_dispose(&denied);
  fleet_ws__log(gw, FLEET_WS_LOG_DEBUG, "ws: %s subscribed to %zu vehicles every %u ms", c->peer,
                n_added, c->interval_ms);
  send_snapshot(c, added, n_added);
  free(added);
}

static void handle_unsubscribe(fleet_ws__client_t *c, json_t *j)
{
  int kind = parse_vehicles(c, json_object_get(j, "vehicles"), "unsubscribe");
  if (kind < 0)
    return;
  if (kind == 1) {
    unsubscribe_all(c);
    return;
  }
  if (c->all) {
    send_error(c, "unsubscribe: the connection is subscribed to \"*\"; unsubscribe \"*\" first");
    return;
  }
  json_t *jv = json_object_get(j, "vehicles");
  for (size_t i = 0; i < json_array_size(jv); i++)
    unsubscribe_one(c, json_string_value(json_array_get(jv, i)));
}

static void handle_message(fleet_ws__client_t *c)
{
  FLEET_WS__INC(c->gw, st_messages_received);
  if (c->rx_binary) {
    send_error(c, "binary messages are not supported: send JSON text");
    return;
  }
  json_error_t err;
  json_t *j = json_loadb(c->rx, c->rx_len, JSON_REJECT_DUPLICATES, &err);
  if (!j) {
    char msg[256];
    snprintf(msg, sizeof msg, "invalid JSON: %s (at byte %d)", err.text, err.position);
    send_error(c, msg);
    return;
  }
  const char *type = json_string_value(json_object_get(j, "type"));
  if (!json_is_object(j)) {
    send_error(c, "a message must be a JSON object with a 'type'");
  } else if (!type) {
    send_error(c, "missing 'type' (subscribe, unsubscribe or ping)");
  } else if (strcmp(type, "ping") == 0) {
    static const char pong[] = "{\"type\":\"pong\"}";
    send_text(c, FLEET_WS__MSG_PONG, pong, sizeof pong - 1);
  } else if (strcmp(type, "subscribe") == 0) {
    handle_subscribe(c, j);
  } else if (strcmp(type, "unsubscribe") == 0) {
    handle_unsubscribe(c, j);
  } else {
    char msg[128];
    snprintf(msg, sizeof msg, "unknown type '%.32s' (subscribe, unsubscribe or ping)", type);
    send_error(c, msg);
  }
  json_decref(j);
}

int fleet_ws__client_receive(fleet_ws__client_t *c, const void *in, size_t len)
{
  fleet_ws_t *gw = c->gw;
  if (c->closing)
    return 0;
  if (lws_is_first_fragment(c->wsi) && c->rx_len == 0)
    c->rx_binary = lws_frame_is_binary(c->wsi);
  if (len > gw->max_message - c->rx_len) {
    FLEET_WS__INC(gw, st_oversize_closes);
    fleet_ws__log(gw, FLEET_WS_LOG_WARNING, "ws: %s sent a message over %zu bytes: closed (1009)",
                  c->peer, gw->max_message);
    static const char reason[] = "message too big";
    lws_close_reason(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)(uintptr_t)reason,
                     sizeof reason - 1);
    return -1;
  }
  if (c->rx_len + len + 1 > c->rx_cap) {
    size_t nc = c->rx_cap ? c->rx_cap : 1024;
    while (nc < c->rx_len + len + 1)
      nc *= 2;
    char *nb = realloc(c->rx, nc);
    if (!nb)
      return -1;
    c->rx = nb;
    c->rx_cap = nc;
  }
  if (len)
    memcpy(c->rx + c->rx_len, in, len);
  c->rx_len += len;
  if (!lws_is_final_fragment(c->wsi) || lws_remaining_packet_payload(c->wsi))
    return 0;
  handle_message(c);
  c->rx_len = 0;
  c->rx_binary = 0;
  if (c->rx_cap > 16384) {
    free(c->rx);
    c->rx = NULL;
    c->rx_cap = 0;
  }
  return 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void expiry_cb(lws_sorted_usec_list_t *sul)
{
  fleet_ws__client_t *c = FLEET_WS__CONTAINER(sul, fleet_ws__client_t, sul_expiry);
  fleet_ws_t *gw = c->gw;
  fleet_auth_claims_t *cl = NULL;
  /* Re-verify rather than compare times: the verifier knows its clock-skew leeway. */
  if (fleet_auth_verify(&cl, gw->verifier, c->token, c->token_len, FLEET_AUTH_TOKEN_ACCESS) == 0) {
    fleet_auth_claims_free(cl);
    lws_sul_schedule(gw->svc_ctx, 0, &c->sul_expiry, expiry_cb, LWS_US_PER_SEC);
    return;
  }
  FLEET_WS__INC(gw, st_expired_closes);
  fleet_ws__log(gw, FLEET_WS_LOG_INFO, "ws: %s: token no longer valid (%s): closed (4001)",
                c->peer, fleet_error_last());
  client_shut(c, FLEET_WS_CLOSE_TOKEN_EXPIRED, "token expired");
}

int fleet_ws__client_open(fleet_ws_t *gw, struct lws *wsi, fleet_auth_claims_t *claims,
                          char *token, size_t token_len, const char *peer)
{
  fleet_ws__client_t *c = calloc(1, sizeof *c);
  if (!c || grow((void **)&gw->clients, &gw->cap_clients, gw->n_clients, sizeof *gw->clients)) {
    free(c);
    return FLEET_ENOMEM;
  }
  c->kind = FLEET_WS__CONN_CLIENT;
  c->gw = gw;
  c->wsi = wsi;
  c->claims = claims;
  c->admin = fleet_auth_claims_role(claims) == FLEET_AUTH_ROLE_ADMIN;
  c->token = token;
  c->token_len = token_len;
  c->interval_ms = gw->interval_default;
  c->interval_ticks = (c->interval_ms + gw->flush_ms - 1) / gw->flush_ms;
  snprintf(c->peer, sizeof c->peer, "%s", peer);
  c->pos = gw->n_clients;
  gw->clients[gw->n_clients++] = c;
  lws_set_opaque_user_data(wsi, c);

  int64_t left = fleet_auth_claims_expires(claims) - (int64_t)time(NULL);
  if (left < 0)
    left = 0;
  if (left > 86400 * 366)
    left = 86400 * 366;
  lws_sul_schedule(gw->svc_ctx, 0, &c->sul_expiry, expiry_cb, (lws_usec_t)left * LWS_US_PER_SEC);
  FLEET_WS__INC(gw, st_clients);
  FLEET_WS__INC(gw, st_connections);
  fleet_ws__log(gw, FLEET_WS_LOG_INFO, "ws: %s connected as '%s' (%s)", c->peer,
                fleet_auth_claims_subject(claims),
                fleet_auth_role_name(fleet_auth_claims_role(claims)));
  return 0;
}

void fleet_ws__client_close(fleet_ws__client_t *c)
{
  fleet_ws_t *gw = c->gw;
  lws_sul_cancel(&c->sul_expiry);
  release_output(c);
  unsubscribe_all(c);
  free(c->subs);
  free(c->q);
  free(c->dirty);
  free(c->flush);
  free(c->qbits);
  free(c->sent);
  free(c->rx);
  if (c->token) {
    memset(c->token, 0, c->token_len);
    free(c->token);
  }
  fleet_auth_claims_free(c->claims);
  fleet_ws__client_t *last = gw->clients[--gw->n_clients];
  gw->clients[c->pos] = last;
  last->pos = c->pos;
  FLEET_WS__SUB(gw, st_clients, 1);
  FLEET_WS__INC(gw, st_disconnects);
  fleet_ws__log(gw, FLEET_WS_LOG_INFO, "ws: %s disconnected", c->peer);
  lws_set_opaque_user_data(c->wsi, NULL);
  free(c);
}

void fleet_ws__feed_sweep(fleet_ws_t *gw)
{
  int64_t now = fleet_ws__now_ms();
  for (size_t i = 0; i < gw->n_clients; i++) {
    fleet_ws__client_t *c = gw->clients[i];
    if (c->closing || !c->pending_since)
      continue;
    if (!c->cur && !c->q_len && !c->flushing)
      continue;
    int64_t ref = c->last_progress > c->pending_since ? c->last_progress : c->pending_since;
    if (now - ref > (int64_t)gw->stuck_ms) {
      char why[96];
      snprintf(why, sizeof why, "no progress for %lld ms", (long long)(now - ref));
      client_slow(c, why);
    }
  }
}

void fleet_ws__feed_close_all(fleet_ws_t *gw, int code, const char *reason)
{
  for (size_t i = 0; i < gw->n_clients; i++)
    client_shut(gw->clients[i], code, reason);
}
