/*
 * bench_ws_clients: a WebSocket load client for the gateway's live feed (a
 * program that prints figures, not a test). One process, one epoll loop, N
 * connections.
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
 * wss:// verifies the server's certificate and host name against --cafile
 * (default: the system's CAs).
 *
 * Prints clients connected/failed/disconnected (with close codes), messages
 * and updates received, updates/s, latency p50/p90/p99/p99.9/max (from a
 * histogram of 0.1 ms bins up to 10 s, then 1 ms bins up to 120 s) and this
 * process's own CPU over the measured window: a load client near 100 % of a
 * core is the bottleneck and its figures are not the server's; then the
 * seconds of the window (by time of receipt) in which some update took over
 * 250 ms, with that second's largest latency: a tail spread over the run is
 * load, a few seconds of it are a stall. --report writes the same as JSON
 * (per_second: updates, max_ms and slow for every second). Exit status 0, or 1 when a client could not
 * connect or was dropped before the end (2 for usage errors).
 *
 * Why not libwebsockets' client: its receive path parses frames a byte at a
 * time; at 100 clients x 10,000 updates/s (about 250 MB/s of JSON) that alone
 * needed more than a core here, so the client, not the gateway, set the
 * latency. This one reads 256 KiB per call, walks frame headers (frames from
 * a server are not masked) and scans each message for "type" and every
 * "ts":"..." with memmem(), without building a JSON tree; it answers pings
 * and records close codes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Histogram: 0.1 ms bins to 10 s, 1 ms bins to 120 s, then one overflow bin. */
#define FINE_BINS 100000u   /* 0.1 ms each: 0 - 10 s */
#define COARSE_BINS 110000u /* 1 ms each: 10 - 120 s */
#define N_BINS (FINE_BINS + COARSE_BINS + 1u)

#define MAX_CODES 16
#define READ_CHUNK 262144u
#define HANDSHAKE_TIMEOUT_MS 30000

enum { C_IDLE, C_CONNECTING, C_TLS, C_UPGRADE, C_OPEN, C_CLOSED, C_FAILED };

typedef struct conn {
  int fd;
  int idx;
  int state;
  SSL *ssl;
  int64_t started_ms;
  int close_code;
  char *in; /* bytes read, not yet consumed */
  size_t in_len, in_cap;
  char *msg; /* a fragmented message being assembled */
  size_t msg_len, msg_cap;
  int in_fragments;
  char *out; /* bytes to write */
  size_t out_len, out_cap;
  int want_out; /* EPOLLOUT registered */
} conn_t;

typedef struct bench {
  /* options */
  const char *url, *token, *cafile, *vehicles, *report;
  int clients, burst, batch;
  double duration_s, warmup_s;
  unsigned interval_ms;
  char host[256], path[512];
  int port, tls;

  int ep;
  SSL_CTX *ssl_ctx;
  struct addrinfo *addr;
  conn_t *conns;
  int next_to_connect, in_flight;
  int n_open, n_connected, n_failed, n_dropped;
  int codes[MAX_CODES], code_count[MAX_CODES], n_codes;
  char *sub_msg; /* the subscribe message */
  size_t sub_len;
  char *sub_frame; /* the same as a masked text frame */
  size_t sub_frame_len;
  char *upgrade_req;
  size_t upgrade_len;

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
  /* per second of the measured window (receipt time): updates, largest
   * latency, updates over SLOW_MS; shows whether a tail is spread or bursts */
  int64_t t_measure_wall_ns;
  size_t n_secs;
  struct second {
    uint64_t n, slow;
    double max_ms;
  } *secs;
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

/* The latency in the per-second figures counted as slow (the target's bound). */
#define SLOW_MS 250.0

static void hist_add(double ms, int64_t now_ns)
{
  if (ms < 0)
    ms = 0; /* ts has millisecond precision: receipt can read up to 1 ms "before" it */
  if (ms > B.max_ms)
    B.max_ms = ms;
  int64_t sec = (now_ns - B.t_measure_wall_ns) / 1000000000;
  if (sec >= 0 && (size_t)sec < B.n_secs) {
    struct second *s = &B.secs[sec];
    s->n++;
    if (ms > s->max_ms)
      s->max_ms = ms;
    if (ms > SLOW_MS)
      s->slow++;
  }
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
        hist_add((double)(now - ts) / 1e6, now);
    } else {
      B.parse_misses++;
    }
    if (B.measuring)
      B.updates_measured++;
    p = qe + 1;
  }
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

static int reserve(char **buf, size_t *cap, size_t len, size_t extra)
{
  if (*cap - len >= extra)
    return 0;
  size_t nc = *cap ? *cap : 4096;
  while (nc - len < extra)
    nc *= 2;
  char *nb = realloc(*buf, nc);
  if (!nb)
    return -1;
  *buf = nb;
  *cap = nc;
  return 0;
}

static void set_events(conn_t *c, int want_out)
{
  if (c->want_out == want_out)
    return;
  struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0u), .data.ptr = c};
  epoll_ctl(B.ep, EPOLL_CTL_MOD, c->fd, &ev);
  c->want_out = want_out;
}

/* Leave the connection: counted as failed (handshake) or dropped (open). */
static void conn_end(conn_t *c, const char *why)
{
  if (c->state == C_CLOSED || c->state == C_FAILED)
    return;
  if (c->state == C_OPEN) {
    B.n_open--;
    if (!B.done) {
      B.n_dropped++;
      if (!c->close_code)
        note_close(c, 1006); /* no close frame: the connection just went */
      fprintf(stderr, "bench_ws_clients: client %d dropped (close code %d): %s\n", c->idx,
              c->close_code, why);
    }
    c->state = C_CLOSED;
  } else {
    fprintf(stderr, "bench_ws_clients: client %d: connection failed: %s\n", c->idx, why);
    B.in_flight--;
    B.n_failed++;
    c->state = C_FAILED;
  }
  if (c->ssl) {
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  if (c->fd >= 0) {
    epoll_ctl(B.ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
  }
  free(c->in);
  free(c->msg);
  free(c->out);
  c->in = c->msg = c->out = NULL;
  c->in_len = c->in_cap = c->msg_len = c->msg_cap = c->out_len = c->out_cap = 0;
  maybe_all_up();
}

/* Transport: -1 error, 0 would block, else bytes. */
static ssize_t conn_read(conn_t *c, char *buf, size_t len)
{
  if (c->ssl) {
    int n = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
      return n;
    int e = SSL_get_error(c->ssl, n);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
  }
  ssize_t n = read(c->fd, buf, len);
  if (n > 0)
    return n;
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  return -1; /* 0 = EOF */
}

static ssize_t conn_write(conn_t *c, const char *buf, size_t len)
{
  if (c->ssl) {
    int n = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
      return n;
    int e = SSL_get_error(c->ssl, n);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
  }
  ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
  if (n >= 0)
    return n;
  return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

static int flush_out(conn_t *c)
{
  while (c->out_len) {
    ssize_t n = conn_write(c, c->out, c->out_len);
    if (n < 0)
      return -1;
    if (n == 0)
      break;
    memmove(c->out, c->out + n, c->out_len - (size_t)n);
    c->out_len -= (size_t)n;
  }
  set_events(c, c->out_len > 0);
  return 0;
}

static int queue_out(conn_t *c, const char *data, size_t len)
{
  if (reserve(&c->out, &c->out_cap, c->out_len, len))
    return -1;
  memcpy(c->out + c->out_len, data, len);
  c->out_len += len;
  return flush_out(c);
}

/* A client frame (always masked) of `opcode` with `len` <= 125 bytes of payload. */
static int queue_control(conn_t *c, int opcode, const unsigned char *payload, size_t len)
{
  unsigned char f[2 + 4 + 125];
  if (len > 125)
    len = 125;
  f[0] = (unsigned char)(0x80 | opcode);
  f[1] = (unsigned char)(0x80 | len);
  RAND_bytes(f + 2, 4);
  for (size_t i = 0; i < len; i++)
    f[6 + i] = payload[i] ^ f[2 + i % 4];
  return queue_out(c, (const char *)f, 6 + len);
}

static void start_connects(void)
{
  while (B.next_to_connect < B.clients && B.in_flight < B.burst) {
    conn_t *c = &B.conns[B.next_to_connect++];
    B.in_flight++;
    c->state = C_CONNECTING;
    c->started_ms = mono_ms();
    c->fd = socket(B.addr->ai_family, B.addr->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   B.addr->ai_protocol);
    if (c->fd < 0) {
      conn_end(c, strerror(errno));
      continue;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    c->want_out = 1;
    if (epoll_ctl(B.ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
      int e = errno;
      close(c->fd);
      c->fd = -1;
      conn_end(c, strerror(e));
      continue;
    }
    if (connect(c->fd, B.addr->ai_addr, B.addr->ai_addrlen) != 0 && errno != EINPROGRESS)
      conn_end(c, strerror(errno));
  }
}

/* Consume whole frames from c->in. Returns -1 to drop the connection. */
static int parse_frames(conn_t *c)
{
  size_t pos = 0;
  int rc = 0;
  while (c->in_len - pos >= 2) {
    const unsigned char *h = (const unsigned char *)c->in + pos;
    int fin = h[0] & 0x80, opcode = h[0] & 0x0f;
    uint64_t plen = h[1] & 0x7f;
    size_t hlen = 2;
    if (h[1] & 0x80) {
      fprintf(stderr, "bench_ws_clients: client %d: masked frame from the server\n", c->idx);
      rc = -1;
      break;
    }
    if (plen == 126) {
      if (c->in_len - pos < 4)
        break;
      plen = (uint64_t)h[2] << 8 | h[3];
      hlen = 4;
    } else if (plen == 127) {
      if (c->in_len - pos < 10)
        break;
      plen = 0;
      for (int i = 0; i < 8; i++)
        plen = plen << 8 | h[2 + i];
      hlen = 10;
    }
    if (plen > ((uint64_t)1 << 31)) {
      rc = -1;
      break;
    }
    if (c->in_len - pos - hlen < plen) {
      /* Make room for the whole frame. */
      if (reserve(&c->in, &c->in_cap, c->in_len, hlen + (size_t)plen + READ_CHUNK))
        rc = -1;
      break;
    }
    const char *payload = c->in + pos + hlen;
    size_t n = (size_t)plen;
    pos += hlen + n;
    if (opcode == 0x8) { /* close */
      if (n >= 2)
        note_close(c, (unsigned char)payload[0] << 8 | (unsigned char)payload[1]);
      queue_control(c, 0x8, (const unsigned char *)payload, n >= 2 ? 2 : 0);
      rc = -1;
      break;
    }
    if (opcode == 0x9) { /* ping */
      if (queue_control(c, 0xA, (const unsigned char *)payload, n))
        rc = -1;
      continue;
    }
    if (opcode == 0xA)
      continue;
    if (opcode == 0x1 || opcode == 0x2) {
      if (fin && !c->in_fragments) {
        on_message(payload, n);
        continue;
      }
      c->in_fragments = 1;
      c->msg_len = 0;
    } else if (opcode != 0x0 || !c->in_fragments) {
      rc = -1;
      break;
    }
    if (reserve(&c->msg, &c->msg_cap, c->msg_len, n + 1)) {
      rc = -1;
      break;
    }
    memcpy(c->msg + c->msg_len, payload, n);
    c->msg_len += n;
    if (fin) {
      on_message(c->msg, c->msg_len);
      c->in_fragments = 0;
      c->msg_len = 0;
      if (c->msg_cap > 4 * 1024 * 1024) { /* a big snapshot once: give it back */
        free(c->msg);
        c->msg = NULL;
        c->msg_cap = 0;
      }
    }
  }
  if (pos) {
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
  }
  return rc;
}

/* The 101 response: check it, keep what follows it. 1 done, 0 need more, -1 refused. */
static int parse_upgrade(conn_t *c)
{
  char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
  if (!end)
    return c->in_len > 65536 ? -1 : 0;
  if (c->in_len < 12 || memcmp(c->in, "HTTP/1.1 101", 12) != 0) {
    char *eol = memchr(c->in, '\r', c->in_len);
    fprintf(stderr, "bench_ws_clients: client %d: upgrade refused: %.*s\n", c->idx,
            (int)(eol ? eol - c->in : 0), c->in);
    return -1;
  }
  size_t used = (size_t)(end + 4 - c->in);
  memmove(c->in, c->in + used, c->in_len - used);
  c->in_len -= used;
  return 1;
}

static void on_readable(conn_t *c)
{
  /* Bounded per event so one busy connection cannot starve the others; TLS
   * may hold decrypted bytes epoll does not see, so read until it would block. */
  for (int rounds = 0; rounds < 4; rounds++) {
    if (reserve(&c->in, &c->in_cap, c->in_len, READ_CHUNK)) {
      conn_end(c, "out of memory");
      return;
    }
    ssize_t n = conn_read(c, c->in + c->in_len, c->in_cap - c->in_len);
    if (n < 0) {
      conn_end(c, "connection closed");
      return;
    }
    if (n == 0)
      break;
    c->in_len += (size_t)n;
    if (c->state == C_UPGRADE) {
      int r = parse_upgrade(c);
      if (r < 0) {
        conn_end(c, "no 101 Switching Protocols");
        return;
      }
      if (r == 0)
        continue;
      c->state = C_OPEN;
      B.in_flight--;
      B.n_open++;
      B.n_connected++;
      maybe_all_up();
      if (queue_out(c, B.sub_frame, B.sub_frame_len)) {
        conn_end(c, "cannot send the subscription");
        return;
      }
    }
    if (c->state == C_OPEN && parse_frames(c)) {
      flush_out(c); /* the close or pong queued */
      conn_end(c, "closed by the server");
      return;
    }
    if (!c->ssl && (size_t)n < READ_CHUNK)
      break;
  }
}

static void send_upgrade(conn_t *c)
{
  c->state = C_UPGRADE;
  if (queue_out(c, B.upgrade_req, B.upgrade_len))
    conn_end(c, "cannot send the upgrade request");
}

static void tls_step(conn_t *c)
{
  int r = SSL_connect(c->ssl);
  if (r == 1) {
    send_upgrade(c);
    return;
  }
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ) {
    set_events(c, 0);
  } else if (e == SSL_ERROR_WANT_WRITE) {
    set_events(c, 1);
  } else {
    char why[256];
    unsigned long ec = ERR_get_error();
    long vr = SSL_get_verify_result(c->ssl);
    snprintf(why, sizeof why, "TLS handshake: %s%s%s",
             ec ? ERR_error_string(ec, NULL) : "failed", vr != X509_V_OK ? ": " : "",
             vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
    conn_end(c, why);
  }
}

static void on_event(conn_t *c, uint32_t events)
{
  if (c->state == C_CONNECTING) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err || (events & (EPOLLERR | EPOLLHUP))) {
      conn_end(c, strerror(err ? err : ECONNREFUSED));
      return;
    }
    if (!(events & EPOLLOUT))
      return;
    if (B.tls) {
      c->ssl = SSL_new(B.ssl_ctx);
      if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) ||
          !SSL_set_tlsext_host_name(c->ssl, B.host) || !SSL_set1_host(c->ssl, B.host)) {
        conn_end(c, "TLS setup failed");
        return;
      }
      c->state = C_TLS;
      tls_step(c);
    } else {
      send_upgrade(c);
    }
    return;
  }
  if (c->state == C_TLS) {
    tls_step(c);
    return;
  }
  if ((events & EPOLLOUT) && c->out_len && flush_out(c)) {
    conn_end(c, "write failed");
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
    on_readable(c);
}

static void check_handshake_timeouts(int64_t now)
{
  for (int i = 0; i < B.next_to_connect; i++) {
    conn_t *c = &B.conns[i];
    if (c->state >= C_CONNECTING && c->state <= C_UPGRADE &&
        now - c->started_ms > HANDSHAKE_TIMEOUT_MS)
      conn_end(c, "handshake timed out");
  }
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

  /* One descriptor per client: take the hard limit. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)B.clients + 32)
    fprintf(stderr, "bench_ws_clients: warning: open files limit %llu < %d clients\n",
            (unsigned long long)rl.rlim_cur, B.clients);

  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", B.port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
  int gai = getaddrinfo(B.host, portstr, &hints, &B.addr);
  if (gai) {
    fprintf(stderr, "bench_ws_clients: %s: %s\n", B.host, gai_strerror(gai));
    return 2;
  }
  if (B.tls) {
    B.ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!B.ssl_ctx ||
        (B.cafile ? SSL_CTX_load_verify_locations(B.ssl_ctx, B.cafile, NULL)
                  : SSL_CTX_set_default_verify_paths(B.ssl_ctx)) != 1) {
      fprintf(stderr, "bench_ws_clients: cannot load the CA file %s\n",
              B.cafile ? B.cafile : "(system)");
      return 2;
    }
    SSL_CTX_set_verify(B.ssl_ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(B.ssl_ctx, TLS1_2_VERSION);
  }

  /* The upgrade request and the subscribe frame are the same for every client
   * (the WebSocket key need not be unique; the mask of one frame may repeat). */
  unsigned char key[16];
  char key64[32];
  RAND_bytes(key, sizeof key);
  EVP_EncodeBlock((unsigned char *)key64, key, sizeof key);
  char hostport[300];
  if (strchr(B.host, ':'))
    snprintf(hostport, sizeof hostport, "[%s]:%d", B.host, B.port);
  else
    snprintf(hostport, sizeof hostport, "%s:%d", B.host, B.port);
  size_t rq_cap = strlen(B.token) + strlen(B.path) + 512;
  B.upgrade_req = malloc(rq_cap);
  int rq = snprintf(B.upgrade_req, rq_cap,
                    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                    "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
                    B.path, hostport, key64, B.token);
  if (rq < 0 || (size_t)rq >= rq_cap)
    return 2;
  B.upgrade_len = (size_t)rq;
  B.sub_frame = malloc(B.sub_len + 8);
  size_t fh = 0;
  B.sub_frame[fh++] = (char)0x81;
  if (B.sub_len < 126) {
    B.sub_frame[fh++] = (char)(0x80 | B.sub_len);
  } else {
    B.sub_frame[fh++] = (char)(0x80 | 126);
    B.sub_frame[fh++] = (char)(B.sub_len >> 8);
    B.sub_frame[fh++] = (char)(B.sub_len & 0xff);
  }
  unsigned char mask[4];
  RAND_bytes(mask, sizeof mask);
  memcpy(B.sub_frame + fh, mask, 4);
  fh += 4;
  for (size_t i = 0; i < B.sub_len; i++)
    B.sub_frame[fh + i] = (char)((unsigned char)B.sub_msg[i] ^ mask[i % 4]);
  B.sub_frame_len = fh + B.sub_len;

  B.hist = calloc(N_BINS, sizeof *B.hist);
  B.n_secs = (size_t)B.duration_s + 2;
  B.secs = calloc(B.n_secs, sizeof *B.secs);
  B.conns = calloc((size_t)B.clients, sizeof *B.conns);
  B.ep = epoll_create1(EPOLL_CLOEXEC);
  if (!B.hist || !B.secs || !B.conns || B.ep < 0)
    return 2;
  for (int i = 0; i < B.clients; i++) {
    B.conns[i].idx = i;
    B.conns[i].fd = -1;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  B.conn_t0_ms = mono_ms();
  start_connects();
  int64_t connect_deadline = B.conn_t0_ms + 120000 + HANDSHAKE_TIMEOUT_MS;
  struct epoll_event evs[256];
  while (!interrupted) {
    int n = epoll_wait(B.ep, evs, 256, 100);
    if (n < 0 && errno != EINTR)
      break;
    for (int i = 0; i < n; i++)
      on_event(evs[i].data.ptr, evs[i].events);
    int64_t now = mono_ms();
    if (!B.all_up) {
      start_connects();
      check_handshake_timeouts(now);
      if (now > connect_deadline) {
        fprintf(stderr, "bench_ws_clients: clients still connecting after %lld s\n",
                (long long)(now - B.conn_t0_ms) / 1000);
        break;
      }
      continue;
    }
    if (!B.measuring && now >= B.t_measure_ms) {
      B.measuring = 1;
      B.measure_started = 1;
      B.t_measure_wall_ns = wall_ns();
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
  double window_s = B.measure_started && t_stop > B.t_measure_ms
                        ? (double)(t_stop - B.t_measure_ms) / 1000.0
                        : 0;
  double cpu = window_s > 0 ? cpu_s(&ru1) - cpu_s(&B.ru0) : 0;
  for (int i = 0; i < B.clients; i++)
    if (B.conns[i].state == C_OPEN)
      conn_end(&B.conns[i], "end of the run");
  close(B.ep);
  freeaddrinfo(B.addr);
  SSL_CTX_free(B.ssl_ctx);

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
  printf("measured: %.1f s from %.3f (Unix time), %" PRIu64 " updates, %.0f updates/s\n",
         window_s, (double)B.t_measure_wall_ns / 1e9, B.updates_measured, ups);
  printf("latency ms (publish ts -> receipt): p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max "
         "%.1f\n",
         p50, p90, p99, p999, B.max_ms);
  printf("client cpu: %.2f s = %.1f %% of one core\n", cpu,
         window_s > 0 ? 100.0 * cpu / window_s : 0);
  size_t n_window = window_s > 0 ? (size_t)window_s : 0;
  if (n_window > B.n_secs)
    n_window = B.n_secs;
  size_t slow_secs = 0;
  for (size_t i = 0; i < n_window; i++)
    slow_secs += B.secs[i].slow > 0;
  printf("seconds with updates over %.0f ms: %zu of %zu", SLOW_MS, slow_secs, n_window);
  for (size_t i = 0, shown = 0; i < n_window && shown < 20; i++)
    if (B.secs[i].slow) {
      printf("%s%zu (max %.0f ms, %" PRIu64 " of %" PRIu64 ")", shown++ ? ", " : ": ", i,
             B.secs[i].max_ms, B.secs[i].slow, B.secs[i].n);
    }
  printf("\n");
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
    json_object_set_new(r, "window_start_unix_s", json_real((double)B.t_measure_wall_ns / 1e9));
    json_object_set_new(r, "updates_measured", json_integer((json_int_t)B.updates_measured));
    json_object_set_new(r, "updates_per_s", json_real(ups));
    json_t *lat = json_object();
    json_object_set_new(lat, "p50", json_real(p50));
    json_object_set_new(lat, "p90", json_real(p90));
    json_object_set_new(lat, "p99", json_real(p99));
    json_object_set_new(lat, "p99.9", json_real(p999));
    json_object_set_new(lat, "max", json_real(B.max_ms));
    json_object_set_new(r, "latency_ms", lat);
    json_t *ps = json_array();
    for (size_t i = 0; i < n_window; i++) {
      json_t *e = json_object();
      json_object_set_new(e, "updates", json_integer((json_int_t)B.secs[i].n));
      json_object_set_new(e, "max_ms", json_real(B.secs[i].max_ms));
      json_object_set_new(e, "slow", json_integer((json_int_t)B.secs[i].slow));
      json_array_append_new(ps, e);
    }
    json_object_set_new(r, "per_second", ps);
    json_object_set_new(r, "slow_ms", json_real(SLOW_MS));
    json_object_set_new(r, "client_cpu_s", json_real(cpu));
    json_object_set_new(r, "client_cpu_pct", json_real(window_s > 0 ? 100.0 * cpu / window_s : 0));
    if (json_dump_file(r, B.report, JSON_INDENT(2)) != 0)
      fprintf(stderr, "bench_ws_clients: cannot write %s\n", B.report);
    json_decref(r);
  }
  free(B.conns);
  free(B.upgrade_req);
  free(B.sub_frame);
  free(B.hist);
  free(B.secs);
  free(B.sub_msg);
  int ok = B.n_connected == B.clients && B.n_dropped == 0 && B.n_failed == 0 && !interrupted &&
           window_s > 0;
  return ok ? 0 : 1;
}
