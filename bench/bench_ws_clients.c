/*
 * bench_ws_clients: a WebSocket load client for the gateway's live feed (a
 * program that prints figures, not a test). One process, one libwebsockets
 * client context, N connections.
 *
 *   bench_ws_clients --url ws[s]://HOST:PORT/ws --token TOKEN --clients N --duration S
 *                    [--warmup S] [--interval-ms 1000] [--batch] [--cafile FILE]
 *                    [--vehicles "*"] [--report FILE.json] [--connect-burst N]
 *
 * It connects N clients (Authorization: Bearer TOKEN), at most --connect-burst
 * handshakes in flight at once (default 100), subscribes each to --vehicles
 * ("*" or a comma-separated list of ids) at --interval-ms, optionally with
 * "batch":true, and measures for every telemetry_update and every item of a
 * telemetry_batch the latency = wall-clock time of receipt - the update's
 * "ts" (RFC 3339; fleet-sim stamps it when it publishes, with milliseconds,
 * so the figure is device publish -> client receipt on one clock). The
 * first --warmup seconds after the last client connected are not measured.
 *
 * Prints clients connected/failed/disconnected (with close codes), messages
 * and updates received, updates/s, latency p50/p90/p99/p99.9/max (from a
 * histogram of 0.1 ms bins up to 10 s, then 1 ms bins up to 120 s) and this
 * process's own CPU over the measured window: a load client near 100 % of a
 * core is the bottleneck and its figures are not the server's. --report
 * writes the same as JSON. Exit status 0, or 1 when a client could not
 * connect or was dropped before the end (2 for usage errors).
 *
 * Messages are scanned, not parsed into a tree: only the "type" and every
 * "ts":"..." of an update are needed, and a jansson tree per 1000-update batch
 * would cost more CPU than the gateway spends sending it.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <jansson.h>
#include <libwebsockets.h>

/* Histogram: 0.1 ms bins to 10 s, 1 ms bins to 120 s, then one overflow bin. */
#define FINE_BINS 100000u   /* 0.1 ms each: 0 - 10 s */
#define COARSE_BINS 110000u /* 1 ms each: 10 - 120 s */
#define N_BINS (FINE_BINS + COARSE_BINS + 1u)

#define MAX_CODES 16

typedef struct conn {
  struct lws *wsi;
  int idx;
  int state; /* 0 idle, 1 connecting, 2 open, 3 closed, 4 failed */
  int subscribed;
  int close_code;
  char *rx;
  size_t rx_len, rx_cap;
} conn_t;

typedef struct bench {
  /* options */
  const char *url, *token, *cafile, *vehicles, *report;
  int clients, burst, batch;
  double duration_s, warmup_s;
  unsigned interval_ms;
  char host[256], path[512];
  int port, tls;

  struct lws_context *ctx;
  conn_t *conns;
  int next_to_connect, in_flight;
  int n_open, n_connected, n_failed, n_dropped;
  int codes[MAX_CODES], code_count[MAX_CODES], n_codes;
  char *sub_msg;
  size_t sub_len;
  lws_sorted_usec_list_t sul_connect;
  lws_sorted_usec_list_t sul_tick; /* wakes the loop to check the phase clock */

  /* phases: connecting -> warmup (from t_all_up) -> measuring -> done */
  int all_up;
  int64_t t_all_up_ms, t_measure_ms, t_end_ms;
  int measuring, measure_started, done;
  struct rusage ru0;

  /* figures */
  uint64_t messages, updates, updates_measured, snapshots, errors, parse_misses;
  uint64_t bytes;
  uint64_t *hist;
  double max_ms;
  int64_t conn_t0_ms, conn_t1_ms;
} bench_t;

static bench_t B;
static volatile sig_atomic_t interrupted;

static int64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

/* "YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM)" in [s, end) -> ns; -1 if malformed. */
static int parse_ts(int64_t *out, const char *s, const char *end)
{
  int y, mo, d, h, mi, se;
  if (end - s < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
      digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
      digits(s + 17, 2, &se))
    return -1;
  const char *p = s + 19;
  int64_t frac = 0;
  if (p < end && *p == '.') {
    int n = 0;
    p++;
    while (p < end && *p >= '0' && *p <= '9' && n < 9) {
      frac = frac * 10 + (*p - '0');
      p++;
      n++;
    }
    while (n++ < 9)
      frac *= 10;
  }
  int64_t off_s = 0;
  if (p < end && (*p == 'Z' || *p == 'z')) {
    p++;
  } else if (p + 6 <= end && (*p == '+' || *p == '-') && p[3] == ':') {
    int oh, om;
    if (digits(p + 1, 2, &oh) || digits(p + 4, 2, &om))
      return -1;
    off_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return -1;
  }
  int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off_s;
  *out = secs * 1000000000 + frac;
  return 0;
}

static void hist_add(double ms)
{
  if (ms < 0)
    ms = 0; /* ts has millisecond precision: receipt can read up to 1 ms "before" it */
  if (ms > B.max_ms)
    B.max_ms = ms;
  size_t bin;
  if (ms < 10000.0)
    bin = (size_t)(ms * 10.0);
  else if (ms < 120000.0)
    bin = FINE_BINS + (size_t)(ms - 10000.0);
  else
    bin = N_BINS - 1;
  if (bin >= N_BINS)
    bin = N_BINS - 1;
  B.hist[bin]++;
}

/* Upper edge of the bin holding the q-quantile, in ms. */
static double hist_quantile(double q)
{
  uint64_t n = B.updates_measured;
  if (!n)
    return 0;
  uint64_t rank = (uint64_t)(q * (double)n);
  if (rank >= n)
    rank = n - 1;
  uint64_t acc = 0;
  for (size_t i = 0; i < N_BINS; i++) {
    acc += B.hist[i];
    if (acc > rank) {
      double edge = i < FINE_BINS ? (double)(i + 1) / 10.0
                                  : 10000.0 + (double)(i - FINE_BINS + 1);
      return edge < B.max_ms ? edge : B.max_ms;
    }
  }
  return B.max_ms;
}

static void note_close(conn_t *c, int code)
{
  c->close_code = code;
  for (int i = 0; i < B.n_codes; i++)
    if (B.codes[i] == code) {
      B.code_count[i]++;
      return;
    }
  if (B.n_codes < MAX_CODES) {
    B.codes[B.n_codes] = code;
    B.code_count[B.n_codes++] = 1;
  }
}

/* A whole message: count it, and time every update in it. */
static void on_message(const char *m, size_t len)
{
  B.messages++;
  B.bytes += len;
  const char *end = m + len;
  const char *t = memmem(m, len < 64 ? len : 64, "\"type\":\"", 8);
  if (!t) {
    B.parse_misses++;
    return;
  }
  t += 8;
  int is_update = (size_t)(end - t) > 9 && memcmp(t, "telemetry", 9) == 0;
  if (!is_update) {
    if ((size_t)(end - t) > 8 && memcmp(t, "snapshot", 8) == 0)
      B.snapshots++;
    else if ((size_t)(end - t) > 5 && memcmp(t, "error", 5) == 0) {
      B.errors++;
      fprintf(stderr, "bench_ws_clients: server error: %.*s\n", (int)len, m);
    }
    return;
  }
  int64_t now = wall_ns();
  const char *p = t;
  while (p < end) {
    const char *q = memmem(p, (size_t)(end - p), "\"ts\":\"", 6);
    if (!q)
      break;
    q += 6;
    const char *qe = memchr(q, '"', (size_t)(end - q));
    if (!qe)
      break;
    int64_t ts;
    B.updates++;
    if (parse_ts(&ts, q, qe) == 0) {
      if (B.measuring)
        hist_add((double)(now - ts) / 1e6);
    } else {
      B.parse_misses++;
    }
    if (B.measuring)
      B.updates_measured++;
    p = qe + 1;
  }
}

static void start_connects(void);

static void connect_cb(lws_sorted_usec_list_t *sul)
{
  (void)sul;
  start_connects();
}

static void start_connects(void)
{
  while (B.next_to_connect < B.clients && B.in_flight < B.burst) {
    conn_t *c = &B.conns[B.next_to_connect++];
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = B.ctx;
    ci.address = B.host;
    ci.port = B.port;
    ci.path = B.path;
    ci.host = B.host;
    ci.ssl_connection = B.tls ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = "fleet-bench";
    ci.opaque_user_data = c;
    ci.pwsi = &c->wsi;
    c->state = 1;
    B.in_flight++;
    if (!lws_client_connect_via_info(&ci)) {
      /* The connection error callback may already have counted it. */
      if (c->state == 1) {
        c->state = 4;
        B.in_flight--;
        B.n_failed++;
      }
    }
  }
  if (B.next_to_connect < B.clients)
    lws_sul_schedule(B.ctx, 0, &B.sul_connect, connect_cb, 20 * LWS_US_PER_MS);
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
  lws_sul_schedule(B.ctx, 0, sul, tick_cb, 100 * LWS_US_PER_MS);
}

static void maybe_all_up(void)
{
  if (!B.all_up && B.next_to_connect == B.clients && B.in_flight == 0) {
    B.all_up = 1;
    B.conn_t1_ms = mono_ms();
    B.t_all_up_ms = B.conn_t1_ms;
    B.t_measure_ms = B.t_all_up_ms + (int64_t)(B.warmup_s * 1000);
    B.t_end_ms = B.t_measure_ms + (int64_t)(B.duration_s * 1000);
  }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
  (void)user;
  conn_t *c = lws_get_opaque_user_data(wsi);
  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
    unsigned char **p = in, *end = *p + len;
    char value[4096];
    int n = snprintf(value, sizeof value, "Bearer %s", B.token);
    if (n < 0 || (size_t)n >= sizeof value ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                     (unsigned char *)value, n, p, end))
      return -1;
    break;
  }
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    if (!c)
      break;
    c->state = 2;
    B.in_flight--;
    B.n_open++;
    B.n_connected++;
    lws_callback_on_writable(wsi);
    maybe_all_up();
    break;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    if (!c)
      break;
    fprintf(stderr, "bench_ws_clients: client %d: connection failed: %s\n", c->idx,
            in ? (const char *)in : "(no reason)");
    if (c->state == 1) {
      B.in_flight--;
      B.n_failed++;
    }
    c->state = 4;
    c->wsi = NULL;
    maybe_all_up();
    break;
  case LWS_CALLBACK_CLIENT_WRITEABLE: {
    if (!c || c->subscribed)
      break;
    unsigned char buf[LWS_PRE + 4096];
    if (B.sub_len > sizeof buf - LWS_PRE)
      return -1;
    memcpy(buf + LWS_PRE, B.sub_msg, B.sub_len);
    if (lws_write(wsi, buf + LWS_PRE, B.sub_len, LWS_WRITE_TEXT) < (int)B.sub_len)
      return -1;
    c->subscribed = 1;
    break;
  }
  case LWS_CALLBACK_CLIENT_RECEIVE:
    if (!c)
      break;
    if (lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi) &&
        !lws_remaining_packet_payload(wsi) && c->rx_len == 0) {
      on_message(in, len);
      break;
    }
    if (c->rx_len + len > c->rx_cap) {
      size_t nc = c->rx_cap ? c->rx_cap : 65536;
      while (nc < c->rx_len + len)
        nc *= 2;
      char *nb = realloc(c->rx, nc);
      if (!nb)
        return -1;
      c->rx = nb;
      c->rx_cap = nc;
    }
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
      on_message(c->rx, c->rx_len);
      c->rx_len = 0;
    }
    break;
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    if (c && len >= 2) {
      const unsigned char *b = in;
      note_close(c, b[0] << 8 | b[1]);
    }
    break;
  case LWS_CALLBACK_CLIENT_CLOSED:
    if (!c)
      break;
    if (c->state == 2) {
      B.n_open--;
      if (!B.done) {
        B.n_dropped++;
        if (!c->close_code)
          note_close(c, 1006); /* no close frame: the connection just went */
        fprintf(stderr, "bench_ws_clients: client %d dropped (close code %d)\n", c->idx,
                c->close_code ? c->close_code : 1006);
      }
    }
    c->state = 3;
    c->wsi = NULL;
    break;
  default:
    break;
  }
  return 0;
}

static int parse_url(const char *url)
{
  const char *p;
  if (strncmp(url, "ws://", 5) == 0) {
    B.tls = 0;
    p = url + 5;
  } else if (strncmp(url, "wss://", 6) == 0) {
    B.tls = 1;
    p = url + 6;
  } else {
    return -1;
  }
  const char *slash = strchr(p, '/');
  const char *hp_end = slash ? slash : p + strlen(p);
  const char *colon = NULL;
  if (*p == '[') {
    const char *rb = memchr(p, ']', (size_t)(hp_end - p));
    if (!rb)
      return -1;
    snprintf(B.host, sizeof B.host, "%.*s", (int)(rb - p - 1), p + 1);
    colon = rb + 1 < hp_end && rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = memchr(p, ':', (size_t)(hp_end - p));
    snprintf(B.host, sizeof B.host, "%.*s", (int)((colon ? colon : hp_end) - p), p);
  }
  B.port = colon ? atoi(colon + 1) : (B.tls ? 443 : 80);
  snprintf(B.path, sizeof B.path, "%s", slash ? slash : "/");
  return B.host[0] && B.port > 0 && B.port < 65536 ? 0 : -1;
}

static int build_subscribe(void)
{
  json_t *j = json_object();
  json_object_set_new(j, "type", json_string("subscribe"));
  if (strcmp(B.vehicles, "*") == 0) {
    json_object_set_new(j, "vehicles", json_string("*"));
  } else {
    json_t *a = json_array();
    char *copy = strdup(B.vehicles), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
      json_array_append_new(a, json_string(t));
    free(copy);
    json_object_set_new(j, "vehicles", a);
  }
  json_object_set_new(j, "interval_ms", json_integer(B.interval_ms));
  if (B.batch)
    json_object_set_new(j, "batch", json_true());
  B.sub_msg = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!B.sub_msg)
    return -1;
  B.sub_len = strlen(B.sub_msg);
  return B.sub_len <= 4096 ? 0 : -1;
}

static double cpu_s(const struct rusage *r)
{
  return (double)r->ru_utime.tv_sec + (double)r->ru_utime.tv_usec / 1e6 +
         (double)r->ru_stime.tv_sec + (double)r->ru_stime.tv_usec / 1e6;
}

static void usage(void)
{
  fprintf(stderr,
          "usage: bench_ws_clients --url ws[s]://HOST:PORT/ws --token TOKEN --clients N "
          "--duration S\n"
          "                        [--warmup S] [--interval-ms 1000] [--batch] [--cafile FILE]\n"
          "                        [--vehicles \"*\"|ID,ID...] [--report FILE.json] "
          "[--connect-burst N]\n");
}

static void on_signal(int sig)
{
  (void)sig;
  interrupted = 1;
}

int main(int argc, char **argv)
{
  B.clients = 0;
  B.burst = 100;
  B.interval_ms = 1000;
  B.vehicles = "*";
  B.duration_s = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--batch") == 0) {
      B.batch = 1;
      continue;
    }
    if (!v) {
      usage();
      return 2;
    }
    i++;
    if (strcmp(a, "--url") == 0)
      B.url = v;
    else if (strcmp(a, "--token") == 0)
      B.token = v;
    else if (strcmp(a, "--clients") == 0)
      B.clients = atoi(v);
    else if (strcmp(a, "--duration") == 0)
      B.duration_s = atof(v);
    else if (strcmp(a, "--warmup") == 0)
      B.warmup_s = atof(v);
    else if (strcmp(a, "--interval-ms") == 0)
      B.interval_ms = (unsigned)strtoul(v, NULL, 10);
    else if (strcmp(a, "--cafile") == 0)
      B.cafile = v;
    else if (strcmp(a, "--vehicles") == 0)
      B.vehicles = v;
    else if (strcmp(a, "--report") == 0)
      B.report = v;
    else if (strcmp(a, "--connect-burst") == 0)
      B.burst = atoi(v);
    else {
      usage();
      return 2;
    }
  }
  if (!B.url || !B.token || B.clients < 1 || B.duration_s <= 0 || B.warmup_s < 0 ||
      B.burst < 1 || !B.interval_ms || parse_url(B.url) || build_subscribe()) {
    usage();
    return 2;
  }

  /* One fd per client plus lws's own: take the hard limit. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)B.clients + 32)
    fprintf(stderr, "bench_ws_clients: warning: open files limit %llu < %d clients\n",
            (unsigned long long)rl.rlim_cur, B.clients);

  B.hist = calloc(N_BINS, sizeof *B.hist);
  B.conns = calloc((size_t)B.clients, sizeof *B.conns);
  if (!B.hist || !B.conns)
    return 2;
  for (int i = 0; i < B.clients; i++)
    B.conns[i].idx = i;

  lws_set_log_level(LLL_ERR, NULL);
  struct lws_protocols protocols[] = {
    {"fleet-bench", callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
  };
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.fd_limit_per_thread = (unsigned int)B.clients + 64;
  info.count_threads = 1;
  if (B.tls) {
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.client_ssl_ca_filepath = B.cafile;
  }
  B.ctx = lws_create_context(&info);
  if (!B.ctx) {
    fprintf(stderr, "bench_ws_clients: cannot create the libwebsockets context\n");
    return 2;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  B.conn_t0_ms = mono_ms();
  lws_sul_schedule(B.ctx, 0, &B.sul_tick, tick_cb, 100 * LWS_US_PER_MS);
  start_connects();
  int64_t connect_deadline = B.conn_t0_ms + 120000;
  while (!interrupted) {
    if (lws_service(B.ctx, 0) < 0)
      break;
    int64_t now = mono_ms();
    if (!B.all_up) {
      if (now > connect_deadline) {
        fprintf(stderr, "bench_ws_clients: clients still connecting after 120 s\n");
        break;
      }
      continue;
    }
    if (!B.measuring && now >= B.t_measure_ms) {
      B.measuring = 1;
      B.measure_started = 1;
      getrusage(RUSAGE_SELF, &B.ru0);
      B.t_measure_ms = now;
      B.t_end_ms = now + (int64_t)(B.duration_s * 1000);
    }
    if (B.measuring && now >= B.t_end_ms)
      break;
    if (B.n_connected > 0 && B.n_open == 0)
      break; /* everyone dropped */
  }
  int64_t t_stop = mono_ms();
  struct rusage ru1;
  getrusage(RUSAGE_SELF, &ru1);
  B.measuring = 0;
  B.done = 1;
  lws_sul_cancel(&B.sul_tick);
  lws_sul_cancel(&B.sul_connect);
  double window_s = B.measure_started && t_stop > B.t_measure_ms
                        ? (double)(t_stop - B.t_measure_ms) / 1000.0
                        : 0;
  double cpu = window_s > 0 ? cpu_s(&ru1) - cpu_s(&B.ru0) : 0;
  lws_context_destroy(B.ctx);

  double ups = window_s > 0 ? (double)B.updates_measured / window_s : 0;
  double p50 = hist_quantile(0.50), p90 = hist_quantile(0.90), p99 = hist_quantile(0.99),
         p999 = hist_quantile(0.999);
  char codes[256] = "";
  size_t cl = 0;
  for (int i = 0; i < B.n_codes && cl < sizeof codes - 32; i++)
    cl += (size_t)snprintf(codes + cl, sizeof codes - cl, "%s%d x%d", i ? ", " : "", B.codes[i],
                           B.code_count[i]);
  printf("clients: %d asked, %d connected, %d failed, %d disconnected before the end%s%s%s\n",
         B.clients, B.n_connected, B.n_failed, B.n_dropped, cl ? " (close codes: " : "", codes,
         cl ? ")" : "");
  printf("connect: %.2f s for all clients\n",
         B.conn_t1_ms ? (double)(B.conn_t1_ms - B.conn_t0_ms) / 1000.0 : -1.0);
  printf("received: %" PRIu64 " messages, %" PRIu64 " updates, %.1f MB, %" PRIu64
         " snapshots, %" PRIu64 " errors, %" PRIu64 " unparsed\n",
         B.messages, B.updates, (double)B.bytes / 1e6, B.snapshots, B.errors, B.parse_misses);
  printf("measured: %.1f s, %" PRIu64 " updates, %.0f updates/s\n", window_s,
         B.updates_measured, ups);
  printf("latency ms (publish ts -> receipt): p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max "
         "%.1f\n",
         p50, p90, p99, p999, B.max_ms);
  printf("client cpu: %.2f s = %.1f %% of one core\n", cpu,
         window_s > 0 ? 100.0 * cpu / window_s : 0);
  fflush(stdout);

  if (B.report) {
    json_t *r = json_object();
    json_object_set_new(r, "url", json_string(B.url));
    json_object_set_new(r, "clients", json_integer(B.clients));
    json_object_set_new(r, "connected", json_integer(B.n_connected));
    json_object_set_new(r, "failed", json_integer(B.n_failed));
    json_object_set_new(r, "disconnected", json_integer(B.n_dropped));
    json_t *jc = json_object();
    for (int i = 0; i < B.n_codes; i++) {
      char k[16];
      snprintf(k, sizeof k, "%d", B.codes[i]);
      json_object_set_new(jc, k, json_integer(B.code_count[i]));
    }
    json_object_set_new(r, "close_codes", jc);
    json_object_set_new(r, "interval_ms", json_integer(B.interval_ms));
    json_object_set_new(r, "batch", json_boolean(B.batch));
    json_object_set_new(r, "connect_s",
                        json_real(B.conn_t1_ms ? (double)(B.conn_t1_ms - B.conn_t0_ms) / 1000.0
                                               : -1.0));
    json_object_set_new(r, "messages", json_integer((json_int_t)B.messages));
    json_object_set_new(r, "updates", json_integer((json_int_t)B.updates));
    json_object_set_new(r, "bytes", json_integer((json_int_t)B.bytes));
    json_object_set_new(r, "errors", json_integer((json_int_t)B.errors));
    json_object_set_new(r, "unparsed", json_integer((json_int_t)B.parse_misses));
    json_object_set_new(r, "window_s", json_real(window_s));
    json_object_set_new(r, "updates_measured", json_integer((json_int_t)B.updates_measured));
    json_object_set_new(r, "updates_per_s", json_real(ups));
    json_t *lat = json_object();
    json_object_set_new(lat, "p50", json_real(p50));
    json_object_set_new(lat, "p90", json_real(p90));
    json_object_set_new(lat, "p99", json_real(p99));
    json_object_set_new(lat, "p99.9", json_real(p999));
    json_object_set_new(lat, "max", json_real(B.max_ms));
    json_object_set_new(r, "latency_ms", lat);
    json_object_set_new(r, "client_cpu_s", json_real(cpu));
    json_object_set_new(r, "client_cpu_pct", json_real(window_s > 0 ? 100.0 * cpu / window_s : 0));
    if (json_dump_file(r, B.report, JSON_INDENT(2)) != 0)
      fprintf(stderr, "bench_ws_clients: cannot write %s\n", B.report);
    json_decref(r);
  }
  for (int i = 0; i < B.clients; i++)
    free(B.conns[i].rx);
  free(B.conns);
  free(B.hist);
  free(B.sub_msg);
  int ok = B.n_connected == B.clients && B.n_dropped == 0 && B.n_failed == 0 && !interrupted &&
           window_s > 0;
  return ok ? 0 : 1;
}
