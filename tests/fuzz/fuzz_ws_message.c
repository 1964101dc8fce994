/*
 * libFuzzer target for the WebSocket feed's client side (ws_feed.c): the
 * message handler (subscribe, unsubscribe, ping, interval_ms, vehicle lists,
 * allow-lists, errors) together with publishing, coalescing and writing.
 *
 * The harness drives the real code the way the gateway's service thread
 * does: a gateway from fleet_ws_new() (never started), clients created with
 * fleet_ws__client_open(), frames handed to fleet_ws__client_receive(),
 * output taken with fleet_ws__client_writeable(), the publishers' backlog
 * moved with fleet_ws__drain(). No socket and no lws context exist: this
 * file defines the dozen libwebsockets functions ws_feed.c calls (they
 * resolve to these definitions before the shared library's), so a "wsi" is
 * a struct of ours that records what the gateway asks of lws and assembles
 * the frames it writes, and timers are a table fired on demand. A new lws
 * call in ws_feed.c that takes the wsi needs its stand-in here: the real one
 * would crash on our struct at the first replay of the corpus.
 *
 * Three clients: an admin, a viewer allowed {bus.7, v-001, v-003} and a
 * viewer allowed nothing. An input is a sequence of records separated by
 * 0x1E (the JSON text sequence separator); a record's first byte says what
 * to do and the rest is its argument:
 *   A V N    a text message from the admin / viewer / nobody client
 *   a v n    the same message in three fragments
 *   B        a binary message; first byte of the argument picks the client
 *   P p      publish telemetry "ID[ EXTRA-JSON]", newer / older than the last
 *   S        publish a state "ID JSON";  L  publish an alert "ID JSON"
 *   D        drain the publishers' backlog (as on a wake-up)
 *   W        writeable callbacks for every client that asked (argument:
 *            rounds, a digit)
 *   T        fire the armed timers but the token expiries (argument: a digit,
 *            seconds to pass first for the flush tick)
 *   X        fire client K's token expiry (the token is invalid: 4001)
 *   C        client K disconnects;  R  closed clients reconnect
 *   F        client K's next write fails
 *   K        the stuck-client sweep;  Z  close every client (the gateway stops)
 * Checked all along (a failure aborts, which libFuzzer reports as a crash):
 *   - every frame written is JSON of a documented type; a client never gets
 *     a vehicle its token does not allow (updates, batches, snapshots,
 *     alerts), updates only of vehicles it is subscribed to, and errors
 *     carry a message;
 *   - each client message gets the documented replies: one pong per ping,
 *     one error for anything malformed, a snapshot (after any errors) for a
 *     subscribe, at most an error for an unsubscribe; a message refused
 *     with an error changes nothing (interval, batch, subscriptions);
 *   - memory stays bounded: the reply queue within alert_queue_max and
 *     send_buffer_bytes, coalescing lists within the vehicle count, the
 *     receive buffer within its cap; counters match the queues;
 *   - subscriptions are consistent both ways (client lists sorted, allowed,
 *     and mirrored in the vehicles' subscriber lists);
 *   - once time has passed and everything is written out, open clients hold
 *     no queued output and have been sent the latest state of every vehicle
 *     they are subscribed to; after every client closed and the feed
 *     stopped, no timer is left armed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "common_int.h"
#include "ws_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCLIENTS 3
#define MAX_MESSAGE 512u
#define SEND_BUFFER 4096u
#define ALERT_QUEUE 8u
#define INTERVAL_MIN 100u
#define INTERVAL_MAX 5000u
#define MAX_VEHICLES 12u
#define TIMERS_MAX 32

_Noreturn static void die(const char *what, const char *detail)
{
  fprintf(stderr, "fuzz_ws_message: %s: %s\n", what, detail);
  abort();
}

/* ---- the fake libwebsockets ----------------------------------------------------- */

struct lws {
  int slot;
  int first, final, binary; /* the fragment being received */
  size_t remaining;
  int want_write;           /* lws_callback_on_writable() since the last WRITEABLE */
  int timeout_set;
  int close_code;
  int fail_write;
  void *user;
  fleet_buf_t out;          /* the message being written */
  int in_msg;
};

static struct {
  lws_sorted_usec_list_t *sul;
  sul_cb_t cb;
} timers[TIMERS_MAX];
static size_t n_timers;
static int fake_ctx; /* its address stands for the lws context */

static void check_output(int slot, const char *msg, size_t len);

int lws_callback_on_writable(struct lws *wsi)
{
  if (!wsi)
    die("lws_callback_on_writable", "NULL wsi");
  wsi->want_write = 1;
  return 1;
}

void lws_set_timeout(struct lws *wsi, enum pending_timeout reason, int secs)
{
  (void)reason;
  if (!wsi || secs < 0)
    die("lws_set_timeout", "NULL wsi or negative time");
  wsi->timeout_set = 1;
}

void lws_close_reason(struct lws *wsi, enum lws_close_status status, unsigned char *buf,
                      size_t len)
{
  if (!wsi || (len && !buf) || len > 123)
    die("lws_close_reason", "NULL wsi or a reason over 123 bytes");
  if ((int)status < 1000 || (int)status > 4999)
    die("lws_close_reason", "status outside 1000-4999");
  wsi->close_code = (int)status;
}

void lws_sul_schedule(struct lws_context *ctx, int tsi, lws_sorted_usec_list_t *sul, sul_cb_t cb,
                      lws_usec_t us)
{
  if (ctx != (struct lws_context *)(void *)&fake_ctx || tsi != 0 || !sul || !cb || us < 0)
    die("lws_sul_schedule", "bad context, sul, callback or delay");
  for (size_t i = 0; i < n_timers; i++)
    if (timers[i].sul == sul) {
      timers[i].cb = cb;
      return;
    }
  if (n_timers == TIMERS_MAX)
    die("lws_sul_schedule", "more timers armed than clients and the gateway can own");
  timers[n_timers].sul = sul;
  timers[n_timers].cb = cb;
  n_timers++;
}

void lws_sul_cancel(lws_sorted_usec_list_t *sul)
{
  for (size_t i = 0; i < n_timers; i++)
    if (timers[i].sul == sul) {
      timers[i] = timers[--n_timers];
      return;
    }
}

int lws_write(struct lws *wsi, unsigned char *buf, size_t len, enum lws_write_protocol protocol)
{
  if (!wsi || !buf)
    die("lws_write", "NULL argument");
  if (wsi->fail_write) {
    wsi->fail_write = 0;
    return -1;
  }
  /* lws puts the frame header in the LWS_PRE bytes before `buf`: they must be
   * the caller's to overwrite (ASan reports them otherwise). */
  memset(buf - LWS_PRE, 0x5a, LWS_PRE);
  int p = (int)protocol;
  int base = p & ~LWS_WRITE_NO_FIN;
  if (base != (wsi->in_msg ? LWS_WRITE_CONTINUATION : LWS_WRITE_TEXT))
    die("lws_write", "a message does not start with TEXT or goes on without CONTINUATION");
  if (len > FLEET_WS__CHUNK)
    die("lws_write", "a fragment over FLEET_WS__CHUNK");
  if (fleet_buf_append(&wsi->out, (const char *)buf, len) != 0)
    die("lws_write", "out of memory");
  wsi->in_msg = 1;
  if (!(p & LWS_WRITE_NO_FIN)) {
    check_output(wsi->slot, wsi->out.ptr ? wsi->out.ptr : "", wsi->out.len);
    fleet_buf_clear(&wsi->out);
    wsi->in_msg = 0;
  }
  return (int)len;
}

int lws_is_first_fragment(struct lws *wsi) { return wsi->first; }
int lws_is_final_fragment(struct lws *wsi) { return wsi->final; }
int lws_frame_is_binary(struct lws *wsi) { return wsi->binary; }
size_t lws_remaining_packet_payload(struct lws *wsi) { return wsi->remaining; }
void lws_set_opaque_user_data(struct lws *wsi, void *data) { wsi->user = data; }

void lws_cancel_service(struct lws_context *context)
{
  if (context != (struct lws_context *)(void *)&fake_ctx)
    die("lws_cancel_service", "not the gateway's context");
}

/* ---- the clients ------------------------------------------------------------------ */

/* The last state of a vehicle a client was sent (snapshot entry or update). */
typedef struct known {
  char id[FLEET_VEHICLE_ID_MAX + 1];
  json_t *data;
} known_t;

typedef struct slot {
  struct lws wsi;
  fleet_ws__client_t *c; /* NULL while disconnected */
  known_t known[MAX_VEHICLES];
} slot_t;

static const char *const viewer_allows[] = {"bus.7", "v-001", "v-003"};

static fleet_auth_verifier_t *verifier;
static fleet_ws_t *gw;
static slot_t slots[NCLIENTS];
static int64_t ts_s;
static int trace; /* FUZZ_WS_TRACE set: print every frame written (to read a reproducer) */

static int allowed(int slot, const char *id)
{
  if (slot == 0)
    return 1;
  if (slot == 2)
    return 0;
  for (size_t i = 0; i < FLEET_ARRAY_LEN(viewer_allows); i++)
    if (strcmp(viewer_allows[i], id) == 0)
      return 1;
  return 0;
}

static void on_log(int level, const char *message, void *userdata)
{
  (void)level;
  (void)userdata;
  if (!message || !message[0])
    die("log", "empty line");
}

static void forget(int k)
{
  for (size_t i = 0; i < MAX_VEHICLES; i++) {
    json_decref(slots[k].known[i].data);
    slots[k].known[i].data = NULL;
    slots[k].known[i].id[0] = '\0';
  }
}

/* Client `k` was sent `data` (a new reference is taken) as the state of `id`. */
static void learn(int k, const char *id, json_t *data)
{
  known_t *free_slot = NULL;
  for (size_t i = 0; i < MAX_VEHICLES; i++) {
    known_t *e = &slots[k].known[i];
    if (strcmp(e->id, id) == 0) {
      json_decref(e->data);
      e->data = json_incref(data);
      return;
    }
    if (!e->id[0] && !free_slot)
      free_slot = e;
  }
  if (!free_slot || strlen(id) > FLEET_VEHICLE_ID_MAX)
    die("learn", "a client was sent more vehicles than the gateway keeps");
  strcpy(free_slot->id, id);
  free_slot->data = json_incref(data);
}

static const json_t *known_state(int k, const char *id)
{
  for (size_t i = 0; i < MAX_VEHICLES; i++)
    if (strcmp(slots[k].known[i].id, id) == 0)
      return slots[k].known[i].data;
  return NULL;
}

static int subs_has(const fleet_ws__client_t *c, const char *id);

/* Client `k` is subscribed to `id` now ("*" counts only for allowed vehicles). */
static int subscribed_now(int k, const char *id)
{
  const fleet_ws__client_t *c = slots[k].c;
  return c && (c->all ? allowed(k, id) : subs_has(c, id));
}

static void open_client(int k)
{
  fleet_auth_claims_t *claims = NULL;
  static const char *const subjects[] = {"admin", "eve", "nobody"};
  if (fleet_auth_claims_new(&claims, subjects[k],
                            k == 0 ? FLEET_AUTH_ROLE_ADMIN : FLEET_AUTH_ROLE_VIEWER) != 0 ||
      fleet_auth_claims_set_vehicles(claims, k == 0 ? "*" : k == 1 ? "v-003,bus.7,v-001" : "") !=
          0)
    die("claims", fleet_error_last());
  /* Not a JWT: the expiry check re-verifies it and closes the client (4001). */
  static const char fake[] = "not-a-token";
  char *token = malloc(sizeof fake);
  if (!token)
    die("token", "out of memory");
  memcpy(token, fake, sizeof fake);
  slot_t *s = &slots[k];
  fleet_buf_dispose(&s->wsi.out);
  memset(&s->wsi, 0, sizeof s->wsi);
  s->wsi.slot = k;
  forget(k);
  if (fleet_ws__client_open(gw, &s->wsi, claims, token, sizeof fake - 1, "127.0.0.1") != 0)
    die("client_open", fleet_error_last());
  s->c = s->wsi.user;
  if (!s->c || s->c->wsi != &s->wsi)
    die("client_open", "the wsi does not lead to the client");
}

static void close_client(int k)
{
  slot_t *s = &slots[k];
  if (!s->c)
    return;
  fleet_ws__client_close(s->c);
  s->c = NULL;
  if (s->wsi.user)
    die("client_close", "the wsi still points to the client");
  fleet_buf_clear(&s->wsi.out);
  s->wsi.in_msg = 0;
  s->wsi.want_write = 0;
  forget(k);
}

/* ---- checks ---------------------------------------------------------------------- */

static void check_vehicle_id(int slot, json_t *o, const char *where)
{
  const char *id = json_string_value(json_object_get(o, "vehicle_id"));
  if (!id)
    die(where, "no vehicle_id");
  if (!allowed(slot, id)) {
    char d[160];
    snprintf(d, sizeof d, "client %d got vehicle '%.80s' its token does not allow", slot, id);
    die(where, d);
  }
}

/* A complete message written to client `slot`. */
static void check_output(int slot, const char *msg, size_t len)
{
  if (trace)
    fprintf(stderr, "client %d <- %.*s\n", slot, (int)len, msg);
  json_error_t err;
  json_t *j = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &err);
  if (!j || !json_is_object(j))
    die("output is not a JSON object", msg);
  const char *type = json_string_value(json_object_get(j, "type"));
  if (!type)
    die("output without a type", msg);
  if (strcmp(type, "pong") == 0) {
    if (json_object_size(j) != 1)
      die("pong with members", msg);
  } else if (strcmp(type, "error") == 0) {
    const char *m = json_string_value(json_object_get(j, "message"));
    if (!m || !*m)
      die("error without a message", msg);
  } else if (strcmp(type, "snapshot") == 0) {
    json_t *iv = json_object_get(j, "interval_ms");
    json_t *vs = json_object_get(j, "vehicles");
    if (!json_is_integer(iv) || json_integer_value(iv) < INTERVAL_MIN ||
        json_integer_value(iv) > INTERVAL_MAX || !json_is_array(vs))
      die("snapshot without interval_ms in range or vehicles", msg);
    size_t i;
    json_t *e;
    json_array_foreach(vs, i, e)
    {
      check_vehicle_id(slot, e, "snapshot");
      json_t *state = json_deep_copy(e);
      if (!state || json_object_del(state, "vehicle_id") != 0)
        die("snapshot", "out of memory");
      learn(slot, json_string_value(json_object_get(e, "vehicle_id")), state);
      json_decref(state);
    }
  } else if (strcmp(type, "telemetry_update") == 0) {
    check_vehicle_id(slot, j, "telemetry_update");
    const char *id = json_string_value(json_object_get(j, "vehicle_id"));
    if (!json_is_object(json_object_get(j, "data")))
      die("telemetry_update without data", msg);
    if (!subscribed_now(slot, id))
      die("telemetry_update of a vehicle the client is not subscribed to", msg);
    learn(slot, id, json_object_get(j, "data"));
  } else if (strcmp(type, "telemetry_batch") == 0) {
    json_t *us = json_object_get(j, "updates");
    if (!json_is_array(us) || json_array_size(us) == 0)
      die("telemetry_batch without updates", msg);
    size_t i;
    json_t *e;
    json_array_foreach(us, i, e)
    {
      check_vehicle_id(slot, e, "telemetry_batch");
      const char *id = json_string_value(json_object_get(e, "vehicle_id"));
      if (!json_is_object(json_object_get(e, "data")))
        die("batch update without data", msg);
      if (!subscribed_now(slot, id))
        die("batch update of a vehicle the client is not subscribed to", msg);
      learn(slot, id, json_object_get(e, "data"));
    }
  } else if (strcmp(type, "alert") == 0) {
    check_vehicle_id(slot, j, "alert");
  } else {
    die("undocumented message type", msg);
  }
  json_decref(j);
}

static int subs_has(const fleet_ws__client_t *c, const char *id)
{
  for (size_t i = 0; i < c->n_subs; i++)
    if (strcmp(c->subs[i], id) == 0)
      return 1;
  return 0;
}

static void check_state(void)
{
  size_t open = 0, all = 0;
  uint64_t queued = 0;
  for (int k = 0; k < NCLIENTS; k++) {
    fleet_ws__client_t *c = slots[k].c;
    if (!c)
      continue;
    open++;
    if (slots[k].wsi.user != c || c->pos >= gw->n_clients || gw->clients[c->pos] != c)
      die("state", "client table out of step");
    if (c->q_len > gw->alert_queue_max)
      die("state", "reply queue over alert_queue_max");
    size_t bytes = 0;
    for (size_t i = 0; i < c->q_len; i++)
      bytes += c->q[(c->q_head + i) & (c->q_cap - 1)]->len;
    if (bytes != c->q_bytes)
      die("state", "q_bytes differs from the queue");
    if (c->q_len > 1 && c->q_bytes > gw->send_buffer)
      die("state", "reply queue over send_buffer_bytes");
    queued += c->q_bytes;
    if (c->closing && (c->q_len || c->cur))
      die("state", "a closing client still holds output");
    if (c->n_dirty > gw->n_vehicles || c->n_flush > gw->n_vehicles)
      die("state", "coalescing lists longer than the vehicle table");
    if (c->rx_len != 0 || c->rx_cap > 16384)
      die("state", "receive buffer left over or over its cap");
    if (c->interval_ms < INTERVAL_MIN || c->interval_ms > INTERVAL_MAX)
      die("state", "interval_ms outside [min, max]");
    if (c->n_subs > FLEET_WS_SUBSCRIBE_MAX || (c->all && c->n_subs))
      die("state", "explicit subscriptions beside '*' or over the maximum");
    for (size_t i = 0; i < c->n_subs; i++) {
      if (i && strcmp(c->subs[i - 1], c->subs[i]) >= 0)
        die("state", "explicit subscriptions not sorted and unique");
      if (!allowed(k, c->subs[i]))
        die("state: subscribed to a vehicle the token does not allow", c->subs[i]);
    }
    if (c->all) {
      all++;
      if (c->all_pos >= gw->n_all || gw->all_clients[c->all_pos] != c)
        die("state", "all_clients out of step");
    }
  }
  if (open != gw->n_clients || all != gw->n_all)
    die("state", "client counts differ");
  if (queued != (uint64_t)atomic_load(&gw->st_queued_bytes))
    die("state", "st_queued_bytes differs from the queues");
  for (size_t i = 0; i < gw->n_svc; i++) {
    fleet_ws__vehicle_t *v = gw->svc_list[i];
    for (size_t s = 0; s < v->n_subs; s++) {
      fleet_ws__client_t *c = v->subs[s];
      int found = 0;
      for (int k = 0; k < NCLIENTS; k++)
        found |= slots[k].c == c;
      if (!found || c->all || !subs_has(c, v->id))
        die("state: a vehicle lists a client not subscribed to it", v->id);
      for (size_t t = 0; t < s; t++)
        if (v->subs[t] == c)
          die("state: a client listed twice by a vehicle", v->id);
    }
    for (int k = 0; k < NCLIENTS; k++) {
      fleet_ws__client_t *c = slots[k].c;
      if (!c || c->all || !subs_has(c, v->id))
        continue;
      int found = 0;
      for (size_t s = 0; s < v->n_subs; s++)
        found |= v->subs[s] == c;
      if (!found)
        die("state: a subscription the vehicle does not know", v->id);
    }
  }
}

/* ---- client messages and the replies they must get ------------------------------- */

static uint32_t queued_kind(const fleet_ws__client_t *c, size_t i)
{
  return c->q[(c->q_head + i) & (c->q_cap - 1)]->kind;
}

/* What a client message may change on its connection. */
typedef struct settings {
  unsigned int interval_ms;
  int batch, all;
  size_t n_subs;
} settings_t;

static settings_t settings_of(const fleet_ws__client_t *c)
{
  settings_t st = {c->interval_ms, c->batch, c->all, c->n_subs};
  return st;
}

static void check_replies(const fleet_ws__client_t *c, size_t before, const settings_t *was,
                          const char *text, size_t len, int binary)
{
  size_t n = c->q_len - before;
  settings_t now = settings_of(c);
  if (n == 1 && queued_kind(c, before) == FLEET_WS__MSG_ERROR &&
      (now.interval_ms != was->interval_ms || now.batch != was->batch || now.all != was->all ||
       now.n_subs != was->n_subs))
    die("replies", "a message refused with an error changed the connection's settings");
  const char *what;
  json_t *j = binary ? NULL : json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
  const char *type = json_string_value(json_object_get(j, "type"));
  if (type && strcmp(type, "ping") == 0) {
    what = "a ping gets one pong";
    if (n != 1 || queued_kind(c, before) != FLEET_WS__MSG_PONG)
      die("replies", what);
  } else if (type && strcmp(type, "subscribe") == 0) {
    what = "a subscribe gets a snapshot after any errors, or one error";
    if (n == 0)
      die("replies", what);
    uint32_t last = queued_kind(c, before + n - 1);
    if (last != FLEET_WS__MSG_SNAPSHOT && !(last == FLEET_WS__MSG_ERROR && n == 1))
      die("replies", what);
    for (size_t i = 0; i + 1 < n; i++)
      if (queued_kind(c, before + i) != FLEET_WS__MSG_ERROR)
        die("replies", what);
  } else if (type && strcmp(type, "unsubscribe") == 0) {
    what = "an unsubscribe gets at most one error";
    if (n > 1 || (n == 1 && queued_kind(c, before) != FLEET_WS__MSG_ERROR))
      die("replies", what);
  } else {
    what = "a message that is not JSON, not an object, or of no known type gets one error";
    if (n != 1 || queued_kind(c, before) != FLEET_WS__MSG_ERROR)
      die("replies", what);
  }
  json_decref(j);
}

/* Deliver one message to client `k` in `parts` fragments. */
static void client_message(int k, const char *text, size_t len, int parts, int binary)
{
  slot_t *s = &slots[k];
  fleet_ws__client_t *c = s->c;
  if (!c)
    return;
  int was_closing = c->closing;
  size_t before = c->q_len;
  settings_t was = settings_of(c);
  /* Fragment boundaries: [0, len] whole, else thirds (no empty fragment but a lone one). */
  size_t cut[4] = {0, len / 3, 2 * len / 3, len}, ncut = 0, pts[4];
  pts[ncut++] = 0;
  for (int i = 1; i < 4; i++)
    if ((parts > 1 || i == 3) && cut[i] > pts[ncut - 1])
      pts[ncut++] = cut[i];
  if (ncut == 1)
    pts[ncut++] = len;
  for (size_t i = 0; i + 1 < ncut; i++) {
    s->wsi.first = i == 0;
    s->wsi.final = i + 2 == ncut;
    s->wsi.binary = binary;
    s->wsi.remaining = 0;
    if (fleet_ws__client_receive(c, text + pts[i], pts[i + 1] - pts[i]) != 0) {
      /* Refused (too big): lws closes the connection. */
      if (len <= gw->max_message)
        die("receive", "a message within max_message_bytes was refused");
      if (s->wsi.close_code != FLEET_WS_CLOSE_TOO_BIG)
        die("receive", "an oversize message closed without 1009");
      close_client(k);
      return;
    }
  }
  if (len > gw->max_message && !was_closing)
    die("receive", "a message over max_message_bytes was accepted");
  if (!was_closing && !c->closing)
    check_replies(c, before, &was, text, len, binary);
}

/* ---- publishing ------------------------------------------------------------------ */

/* "ID[ JSON]" -> id (NUL-terminated copy, at most 80 bytes) and the rest. */
static void split_id(char id[81], const char **rest, size_t *rest_len, const char *arg,
                     size_t len)
{
  size_t n = 0;
  while (n < len && arg[n] != ' ' && n < 80) {
    id[n] = arg[n];
    n++;
  }
  id[n] = '\0';
  while (n < len && arg[n] == ' ')
    n++;
  *rest = arg + n;
  *rest_len = len - n;
}

static void check_publish(int rc, const char *what)
{
  if (rc > 0 || (rc && fleet_error_last()[0] == '\0'))
    die(what, "failure without a message");
  if (rc && trace)
    fprintf(stderr, "%s refused: %s\n", what, fleet_error_last());
}

static void publish(char op, const char *arg, size_t len)
{
  char id[81];
  const char *rest;
  size_t rest_len;
  split_id(id, &rest, &rest_len, arg, len);
  if (op == 'P' || op == 'p') {
    fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
    memcpy(rec.vehicle_id, id, strlen(id) < sizeof rec.vehicle_id ? strlen(id) + 1 : 0);
    ts_s += op == 'P' ? 5 : -60;
    rec.ts_ns = ts_s * INT64_C(1000000000);
    rec.lat = 23.8 + 0.001 * (double)(ts_s % 100);
    rec.lng = 90.4;
    rec.present = FLEET_TELEMETRY_SPEED;
    rec.speed_kmh = 42.5;
    check_publish(fleet_ws_publish_telemetry(gw, &rec, rest_len ? rest : NULL, rest_len),
                  "publish_telemetry");
  } else if (op == 'S') {
    check_publish(fleet_ws_publish_state(gw, id, rest, rest_len), "publish_state");
  } else {
    check_publish(fleet_ws_publish_alert(gw, id, rest, rest_len), "publish_alert");
  }
}

/* ---- writing and timers ---------------------------------------------------------- */

/* One WRITEABLE callback for each client that asked; returns how many ran. */
static int write_round(void)
{
  int ran = 0;
  for (int k = 0; k < NCLIENTS; k++) {
    slot_t *s = &slots[k];
    if (!s->c || !s->wsi.want_write)
      continue;
    s->wsi.want_write = 0;
    ran++;
    int closing = s->c->closing;
    if (fleet_ws__client_writeable(s->c) != 0) {
      if (closing && !s->wsi.close_code)
        die("writeable", "closed without a close reason");
      close_client(k);
    } else if (closing) {
      die("writeable", "a closing client was not closed");
    }
  }
  return ran;
}

static int is_expiry(const lws_sorted_usec_list_t *sul)
{
  for (int k = 0; k < NCLIENTS; k++)
    if (slots[k].c && sul == &slots[k].c->sul_expiry)
      return 1;
  return 0;
}

/* Fire client `only`'s token expiry, or else every armed timer that is (not) an expiry. */
static void fire(int expiries, const fleet_ws__client_t *only)
{
  lws_sorted_usec_list_t *due[TIMERS_MAX];
  size_t n = 0;
  for (size_t i = 0; i < n_timers; i++) {
    lws_sorted_usec_list_t *sul = timers[i].sul;
    if (only ? sul == &only->sul_expiry : is_expiry(sul) == expiries)
      due[n++] = sul;
  }
  for (size_t i = 0; i < n; i++)
    for (size_t t = 0; t < n_timers; t++)
      if (timers[t].sul == due[i]) {
        sul_cb_t cb = timers[t].cb;
        timers[t] = timers[--n_timers];
        cb(due[i]);
        break;
      }
}

static int slot_of(const char *arg, size_t len)
{
  return len ? (unsigned char)arg[0] % NCLIENTS : 0;
}

/* ---- the input ------------------------------------------------------------------- */

static void run_record(const char *rec, size_t len)
{
  if (!len)
    return;
  char op = rec[0];
  const char *arg = rec + 1;
  size_t n = len - 1;
  switch (op) {
  case 'A': case 'V': case 'N':
    client_message(op == 'A' ? 0 : op == 'V' ? 1 : 2, arg, n, 1, 0);
    break;
  case 'a': case 'v': case 'n':
    client_message(op == 'a' ? 0 : op == 'v' ? 1 : 2, arg, n, 3, 0);
    break;
  case 'B':
    client_message(slot_of(arg, n), n ? arg + 1 : arg, n ? n - 1 : 0, 1, 1);
    break;
  case 'P': case 'p': case 'S': case 'L':
    publish(op, arg, n);
    break;
  case 'D':
    fleet_ws__drain(gw);
    break;
  case 'W': {
    int rounds = n && arg[0] >= '1' && arg[0] <= '9' ? arg[0] - '0' : 1;
    for (int i = 0; i < rounds && write_round(); i++)
      ;
    break;
  }
  case 'T':
    /* The flush tick counts time on its grid from tick_t0: moving that back by
     * N seconds is N seconds passing for the coalescing. */
    if (n && arg[0] >= '1' && arg[0] <= '9')
      gw->tick_t0 -= (int64_t)(arg[0] - '0') * 1000;
    fire(0, NULL);
    break;
  case 'X':
    if (slots[slot_of(arg, n)].c)
      fire(1, slots[slot_of(arg, n)].c);
    break;
  case 'C':
    close_client(slot_of(arg, n));
    break;
  case 'R':
    for (int k = 0; k < NCLIENTS; k++)
      if (!slots[k].c)
        open_client(k);
    break;
  case 'F':
    slots[slot_of(arg, n)].wsi.fail_write = 1;
    break;
  case 'K':
    fleet_ws__feed_sweep(gw);
    break;
  case 'Z':
    fleet_ws__feed_close_all(gw, FLEET_WS_CLOSE_GOING_AWAY, "gateway stopping");
    for (int k = 0; k < NCLIENTS; k++)
      if (slots[k].c && (!slots[k].c->closing || !slots[k].wsi.want_write))
        die("close_all", "a client is not closing, or not waiting to write its close frame");
    break;
  default:
    break;
  }
  check_state();
}

/*
 * Let time pass and write everything out: timers and writeable callbacks
 * until nothing moves. Then every open client must hold the latest state of
 * each vehicle it is subscribed to, and nothing must wait for it any more.
 */
static void quiesce(void)
{
  for (int round = 0; round < 64; round++) {
    gw->tick_t0 -= 2 * (int64_t)INTERVAL_MAX;
    fire(0, NULL);
    int ran = 0, wrote = 0;
    while ((ran = write_round()) != 0) {
      wrote += ran;
      if (wrote > 100000)
        die("quiesce", "the clients never stop asking to write");
    }
    check_state();
    if (!wrote)
      break;
  }
  for (int k = 0; k < NCLIENTS; k++) {
    fleet_ws__client_t *c = slots[k].c;
    if (!c || c->closing)
      continue;
    if (c->q_len || c->cur || slots[k].wsi.in_msg)
      die("quiesce", "an open client still holds replies after writing everything");
    if (c->n_dirty || c->flushing)
      die("quiesce", "updates still wait after their interval passed");
    for (size_t i = 0; i < gw->n_svc; i++) {
      const fleet_ws__vehicle_t *v = gw->svc_list[i];
      if (!v->data || !subscribed_now(k, v->id))
        continue;
      json_t *want = json_loadb(v->data, v->data_len, 0, NULL);
      const json_t *got = known_state(k, v->id);
      if (!want || !got || !json_equal(want, got)) {
        char d[200];
        snprintf(d, sizeof d, "client %d was never sent the latest state of '%s'%s", k, v->id,
                 got ? "" : " (nor any)");
        die("quiesce", d);
      }
      json_decref(want);
    }
  }
}

static void setup(void)
{
  if (verifier)
    return;
  trace = getenv("FUZZ_WS_TRACE") != NULL;
  static const char secret[] = "fuzz-ws-message-secret-0123456789abcdef";
  if (fleet_auth_verifier_new(&verifier, NULL) != 0 ||
      fleet_auth_verifier_add_key(verifier, FLEET_AUTH_ALG_HS256, NULL, secret,
                                  sizeof secret - 1) != 0)
    die("verifier", fleet_error_last());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 16384)
    return 0;
  setup();
  fleet_ws_options_t o = FLEET_WS_OPTIONS_INIT;
  o.verifier = verifier;
  o.max_message_bytes = MAX_MESSAGE;
  o.send_buffer_bytes = SEND_BUFFER;
  o.alert_queue_max = ALERT_QUEUE;
  o.interval_min_ms = INTERVAL_MIN;
  o.interval_max_ms = INTERVAL_MAX;
  o.interval_default_ms = 1000;
  o.max_vehicles = MAX_VEHICLES;
  o.log_cb = on_log;
  o.log_level = FLEET_WS_LOG_DEBUG;
  if (fleet_ws_new(&gw, &o) != 0)
    die("fleet_ws_new", fleet_error_last());
  /* What fleet_ws_start()'s service thread sets up before serving. */
  gw->svc_ctx = (struct lws_context *)(void *)&fake_ctx;
  gw->ctx = gw->svc_ctx;
  gw->tick_t0 = fleet_ws__now_ms();
  gw->wbuf = malloc(LWS_PRE + FLEET_WS__CHUNK);
  if (!gw->wbuf)
    die("wbuf", "out of memory");
  ts_s = INT64_C(1779355800);
  for (int k = 0; k < NCLIENTS; k++)
    open_client(k);

  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *sep = memchr(p, 0x1e, (size_t)(end - p));
    const char *stop = sep ? sep : end;
    run_record(p, (size_t)(stop - p));
    p = sep ? sep + 1 : end;
  }
  fleet_ws__drain(gw);
  check_state();
  quiesce();

  for (int k = 0; k < NCLIENTS; k++)
    close_client(k);
  check_state();
  for (size_t i = 0; i < gw->n_svc; i++)
    if (gw->svc_list[i]->n_subs)
      die("teardown", "a vehicle keeps subscribers after every client closed");
  /* What the service thread does when it ends. */
  pthread_mutex_lock(&gw->lock);
  gw->ctx = NULL;
  pthread_mutex_unlock(&gw->lock);
  fleet_ws__feed_stop(gw);
  gw->svc_ctx = NULL;
  free(gw->wbuf);
  gw->wbuf = NULL;
  if (n_timers)
    die("teardown", "a timer is still armed after every client closed and the feed stopped");
  fleet_ws_free(gw);
  gw = NULL;
  for (int k = 0; k < NCLIENTS; k++) {
    fleet_buf_dispose(&slots[k].wsi.out);
    forget(k);
  }
  return 0;
}
