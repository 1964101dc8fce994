/*
 * fleet-sim: a small MQTT 3.1.1 publisher for many connections.
 *
 * Why not libmosquitto here: each libmosquitto client holds three file
 * descriptors (its socket and an internal socket pair), so 10,000 simulated
 * devices would need 30,000 descriptors, more than many machines allow a
 * process. This client needs one per connection, drives all of them from one
 * thread over epoll, batches the writes of each connection, and only speaks
 * what a device needs: CONNECT/CONNACK, PUBLISH (QoS 0 and 1) and PUBACK,
 * PINGREQ/PINGRESP, DISCONNECT, over TCP or TLS (OpenSSL, optional client
 * certificates).
 *
 * QoS 1 messages stay in memory until their PUBACK; after a reconnect the
 * unacknowledged ones are sent again with the DUP flag (at least once).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sim.h"

#define CONNECT_TIMEOUT_MS 15000
#define OUT_HIGH_WATER (256u * 1024u) /* stop moving messages into a full output buffer */
#define IN_MAX 256                    /* the broker only sends us small packets */
#define TIMER_MS 50

enum cstate { C_IDLE = 0, C_TCP, C_TLS, C_MQTT, C_UP, C_DOWN, C_CLOSING, C_CLOSED };

typedef struct msg {
  struct msg *next;
  uint32_t len;
  uint32_t pid_off;  /* where the packet id goes (QoS 1) */
  uint8_t qos;
  uint8_t sent;      /* sent at least once */
  unsigned char data[];
} msg_t;

typedef struct conn {
  int fd;
  enum cstate st;
  SSL *ssl;
  uint32_t ev;          /* events registered with epoll */
  int tls_want_write;   /* OpenSSL needs the socket writable to go on */
  int dirty;            /* in the dirty list */
  unsigned char *out;
  size_t out_len, out_off, out_cap;
  unsigned char in[IN_MAX];
  size_t in_len;
  msg_t *q_head, *q_tail;
  msg_t **inflight;     /* by packet id - 1 */
  uint16_t *free_pids;
  uint32_t n_free;
  int64_t last_out_ms, last_in_ms, started_ms, retry_at_ms;
  unsigned int failures;
  int ping_out;
  int was_up;
  uint64_t acked;       /* PUBACKs on this connection (its vehicle's, one per connection) */
  char *client_id;
  char *cert_name;
} conn_t;

struct net {
  net_opts_t o;
  char *host, *username, *password, *cafile, *cert, *key, *cert_dir;
  struct sockaddr_storage addr;
  socklen_t addr_len;
  int is_ip_literal;
  SSL_CTX *ctx;
  int ep;
  conn_t *c;
  size_t n;
  size_t next_idle;
  size_t connecting;
  uint32_t *dirty;
  size_t n_dirty;
  int closing;
  int64_t next_timer_ms;
  uint64_t rng;
  uint64_t queued, queued_bytes, inflight, published, resent, acked, out_bytes, connected,
      ever_connected, connect_failures, connection_losses, protocol_errors, refused;
  char last_error[512];
};

int64_t sim_mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dupstr(const char *s)
{
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

static void set_error(net_t *net, const conn_t *c, const char *what, const char *why)
{
  snprintf(net->last_error, sizeof net->last_error, "%s: %s: %s", c->client_id, what, why);
  if (net->o.verbose)
    fprintf(stderr, "fleet-sim: %s\n", net->last_error);
}

/* ---- buffers ---------------------------------------------------------- */

static int out_reserve(net_t *net, conn_t *c, size_t extra)
{
  (void)net;
  if (c->out_off && c->out_off == c->out_len)
    c->out_off = c->out_len = 0;
  if (c->out_len + extra <= c->out_cap)
    return 0;
  if (c->out_off) {
    memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
    c->out_len -= c->out_off;
    c->out_off = 0;
    if (c->out_len + extra <= c->out_cap)
      return 0;
  }
  size_t cap = c->out_cap ? c->out_cap : 4096;
  while (cap < c->out_len + extra)
    cap *= 2;
  unsigned char *p = realloc(c->out, cap);
  if (!p)
    return -1;
  c->out = p;
  c->out_cap = cap;
  return 0;
}

static int out_append(net_t *net, conn_t *c, const void *data, size_t len)
{
  if (out_reserve(net, c, len))
    return -1;
  memcpy(c->out + c->out_len, data, len);
  c->out_len += len;
  net->out_bytes += len;
  return 0;
}

static size_t put_varint(unsigned char *p, size_t v)
{
  size_t n = 0;
  do {
    unsigned char b = (unsigned char)(v % 128);
    v /= 128;
    if (v)
      b |= 128;
    p[n++] = b;
  } while (v);
  return n;
}

static size_t put_str(unsigned char *p, const char *s, size_t len)
{
  p[0] = (unsigned char)(len >> 8);
  p[1] = (unsigned char)(len & 0xff);
  memcpy(p + 2, s, len);
  return len + 2;
}

/* ---- epoll ------------------------------------------------------------ */

static void update_events(net_t *net, conn_t *c)
{
  if (c->fd < 0)
    return;
  uint32_t want = EPOLLIN;
  if (c->st == C_TCP || c->tls_want_write || c->out_off < c->out_len)
    want |= EPOLLOUT;
  if (want == c->ev)
    return;
  struct epoll_event e = {.events = want, .data.u32 = (uint32_t)(c - net->c)};
  epoll_ctl(net->ep, c->ev ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e);
  c->ev = want;
}

static void mark_dirty(net_t *net, conn_t *c)
{
  if (!c->dirty) {
    c->dirty = 1;
    net->dirty[net->n_dirty++] = (uint32_t)(c - net->c);
  }
}

/* ---- connection lifecycle ---------------------------------------------- */

static unsigned int backoff(net_t *net, conn_t *c)
{
  uint64_t d = net->o.reconnect_min_ms;
  for (unsigned int i = 0; i < c->failures && d < net->o.reconnect_max_ms; i++)
    d *= 2;
  if (d > net->o.reconnect_max_ms)
    d = net->o.reconnect_max_ms;
  net->rng = net->rng * 6364136223846793005ull + 1442695040888963407ull;
  uint64_t j = d / 4;
  return (unsigned int)(d - j + (j ? (net->rng >> 33) % (j + 1) : 0));
}

static void close_socket(net_t *net, conn_t *c)
{
  if (c->ssl) {
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  if (c->fd >= 0) {
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
  }
  c->ev = 0;
  c->tls_want_write = 0;
  net->out_bytes -= c->out_len - c->out_off;
  c->out_len = c->out_off = 0;
  c->in_len = 0;
  c->ping_out = 0;
}

/* Put the unacknowledged QoS 1 messages back at the head of the queue, in
 * packet id order, to be sent again after the reconnect. */
static void requeue_inflight(net_t *net, conn_t *c)
{
  if (!c->inflight)
    return;
  msg_t *head = NULL, *tail = NULL;
  for (uint32_t i = 0; i < net->o.max_inflight; i++) {
    msg_t *m = c->inflight[i];
    if (!m)
      continue;
    c->inflight[i] = NULL;
    m->next = NULL;
    if (tail)
      tail->next = m;
    else
      head = m;
    tail = m;
    net->inflight--;
    net->queued++;
    net->queued_bytes += m->len;
  }
  if (!head)
    return;
  tail->next = c->q_head;
  c->q_head = head;
  if (!c->q_tail)
    c->q_tail = tail;
  c->n_free = 0;
  for (uint32_t i = net->o.max_inflight; i > 0; i--)
    c->free_pids[c->n_free++] = (uint16_t)i;
}

static void conn_fail(net_t *net, conn_t *c, const char *what, const char *why)
{
  enum cstate st = c->st;
  close_socket(net, c);
  requeue_inflight(net, c);
  if (st == C_UP || st == C_CLOSING)
    net->connected--;
  if (st == C_TCP || st == C_TLS || st == C_MQTT)
    net->connecting--;
  if (st == C_CLOSING || net->closing) {
    c->st = C_CLOSED;
    return;
  }
  set_error(net, c, what, why);
  if (st == C_UP) {
    net->connection_losses++;
    c->failures = 0;
  } else {
    net->connect_failures++;
  }
  c->st = C_DOWN;
  c->retry_at_ms = sim_mono_ms() + backoff(net, c);
  c->failures++;
}

static void flush(net_t *net, conn_t *c);

static void send_connect(net_t *net, conn_t *c)
{
  size_t idl = strlen(c->client_id);
  size_t ul = net->username ? strlen(net->username) : 0;
  size_t pl = net->password ? strlen(net->password) : 0;
  size_t rl = 10 + 2 + idl + (net->username ? 2 + ul : 0) + (net->password ? 2 + pl : 0);
  unsigned char *p = malloc(rl + 5);
  if (!p) {
    conn_fail(net, c, "connect", "out of memory");
    return;
  }
  size_t n = 0;
  p[n++] = 0x10;
  n += put_varint(p + n, rl);
  n += put_str(p + n, "MQTT", 4);
  p[n++] = 4; /* protocol level: 3.1.1 */
  p[n++] = (unsigned char)(0x02 | (net->username ? 0x80 : 0) | (net->password ? 0x40 : 0));
  p[n++] = (unsigned char)(net->o.keepalive_s >> 8);
  p[n++] = (unsigned char)(net->o.keepalive_s & 0xff);
  n += put_str(p + n, c->client_id, idl);
  if (net->username)
    n += put_str(p + n, net->username, ul);
  if (net->password)
    n += put_str(p + n, net->password, pl);
  int rc = out_append(net, c, p, n);
  free(p);
  if (rc) {
    conn_fail(net, c, "connect", "out of memory");
    return;
  }
  c->st = C_MQTT;
  flush(net, c);
}

static void tls_handshake(net_t *net, conn_t *c)
{
  ERR_clear_error();
  int r = SSL_connect(c->ssl);
  if (r == 1) {
    c->tls_want_write = 0;
    send_connect(net, c);
    return;
  }
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    c->tls_want_write = e == SSL_ERROR_WANT_WRITE;
    update_events(net, c);
    return;
  }
  char why[256];
  long vr = SSL_get_verify_result(c->ssl);
  if (vr != X509_V_OK)
    snprintf(why, sizeof why, "certificate verification failed: %s",
             X509_verify_cert_error_string(vr));
  else {
    unsigned long ee = ERR_peek_last_error();
    if (ee)
      ERR_error_string_n(ee, why, sizeof why);
    else
      snprintf(why, sizeof why, "%s", e == SSL_ERROR_SYSCALL ? strerror(errno) : "closed");
  }
  conn_fail(net, c, "TLS handshake", why);
}

static void tcp_connected(net_t *net, conn_t *c)
{
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    err = errno;
  if (err) {
    conn_fail(net, c, "connect", strerror(err));
    return;
  }
  if (!net->ctx) {
    send_connect(net, c);
    return;
  }
  c->ssl = SSL_new(net->ctx);
  if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
    conn_fail(net, c, "TLS", "cannot create the TLS session");
    return;
  }
  if (!net->is_ip_literal)
    SSL_set_tlsext_host_name(c->ssl, net->host);
  if (!net->o.insecure && SSL_set1_host(c->ssl, net->host) != 1) {
    conn_fail(net, c, "TLS", "cannot set the expected host name");
    return;
  }
  if (net->cert_dir && c->cert_name) {
    char crt[4096], key[4096];
    snprintf(crt, sizeof crt, "%s/%s.crt", net->cert_dir, c->cert_name);
    snprintf(key, sizeof key, "%s/%s.key", net->cert_dir, c->cert_name);
    if (SSL_use_certificate_chain_file(c->ssl, crt) != 1 ||
        SSL_use_PrivateKey_file(c->ssl, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_check_private_key(c->ssl) != 1) {
      conn_fail(net, c, "TLS", "cannot load the client certificate or key");
      return;
    }
  }
  c->st = C_TLS;
  tls_handshake(net, c);
}

static void conn_start(net_t *net, conn_t *c)
{
  c->fd = socket(net->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  c->started_ms = c->last_in_ms = c->last_out_ms = sim_mono_ms();
  net->connecting++;
  c->st = C_TCP;
  if (c->fd < 0) {
    conn_fail(net, c, "socket", strerror(errno));
    return;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (const struct sockaddr *)&net->addr, net->addr_len) != 0 &&
      errno != EINPROGRESS) {
    conn_fail(net, c, "connect", strerror(errno));
    return;
  }
  update_events(net, c); /* completion shows as writability */
}

/* Move queued messages into the output buffer, as far as the in-flight window
 * and the buffer's high-water mark allow. */
static void pump(net_t *net, conn_t *c)
{
  if (c->st != C_UP)
    return;
  while (c->q_head && c->out_len - c->out_off < OUT_HIGH_WATER) {
    msg_t *m = c->q_head;
    if (m->qos && c->n_free == 0)
      break;
    if (out_reserve(net, c, m->len))
      break; /* out of memory: try again later */
    c->q_head = m->next;
    if (!c->q_head)
      c->q_tail = NULL;
    net->queued--;
    net->queued_bytes -= m->len;
    if (m->qos) {
      uint16_t pid = c->free_pids[--c->n_free];
      c->inflight[pid - 1] = m;
      net->inflight++;
      m->data[m->pid_off] = (unsigned char)(pid >> 8);
      m->data[m->pid_off + 1] = (unsigned char)(pid & 0xff);
      if (m->sent) {
        m->data[0] |= 0x08; /* DUP */
        net->resent++;
      } else {
        net->published++;
      }
      m->sent = 1;
      out_append(net, c, m->data, m->len);
    } else {
      out_append(net, c, m->data, m->len);
      net->published++;
      free(m);
    }
  }
  flush(net, c);
}

static void flush(net_t *net, conn_t *c)
{
  while (c->fd >= 0 && c->out_off < c->out_len) {
    size_t len = c->out_len - c->out_off;
    ssize_t w;
    if (c->ssl) {
      ERR_clear_error();
      int r = SSL_write(c->ssl, c->out + c->out_off, len > 1 << 30 ? 1 << 30 : (int)len);
      if (r <= 0) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
          c->tls_want_write = e == SSL_ERROR_WANT_WRITE;
          break;
        }
        conn_fail(net, c, "write", e == SSL_ERROR_SYSCALL ? strerror(errno) : "TLS error");
        return;
      }
      w = r;
    } else {
      w = send(c->fd, c->out + c->out_off, len, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
          break;
        conn_fail(net, c, "write", strerror(errno));
        return;
      }
    }
    c->out_off += (size_t)w;
    net->out_bytes -= (size_t)w;
    c->last_out_ms = sim_mono_ms();
  }
  if (c->out_off == c->out_len)
    c->out_off = c->out_len = 0;
  update_events(net, c);
}

static void handle_packet(net_t *net, conn_t *c, const unsigned char *p, size_t hdr, size_t rl)
{
  const unsigned char *b = p + hdr;
  switch (p[0]) {
  case 0x20: /* CONNACK */
    if (c->st != C_MQTT || rl != 2) {
      net->protocol_errors++;
      conn_fail(net, c, "CONNACK", "unexpected");
      return;
    }
    if (b[1] != 0) {
      static const char *const why[] = {"", "unacceptable protocol version",
                                        "identifier rejected", "server unavailable",
                                        "bad user name or password", "not authorized"};
      net->refused++;
      conn_fail(net, c, "CONNACK", b[1] < 6 ? why[b[1]] : "refused");
      return;
    }
    c->st = C_UP;
    net->connecting--;
    net->connected++;
    if (!c->was_up)
      net->ever_connected++;
    c->was_up = 1;
    c->failures = 0;
    if (!c->inflight) {
      c->inflight = calloc(net->o.max_inflight, sizeof *c->inflight);
      c->free_pids = malloc(net->o.max_inflight * sizeof *c->free_pids);
      if (!c->inflight || !c->free_pids) {
        conn_fail(net, c, "CONNACK", "out of memory");
        return;
      }
      c->n_free = 0;
      for (uint32_t i = net->o.max_inflight; i > 0; i--)
        c->free_pids[c->n_free++] = (uint16_t)i;
    }
    mark_dirty(net, c);
    return;
  case 0x40: { /* PUBACK */
    if (rl < 2) {
      net->protocol_errors++;
      conn_fail(net, c, "PUBACK", "too short");
      return;
    }
    unsigned int pid = (unsigned int)b[0] << 8 | b[1];
    if (pid >= 1 && pid <= net->o.max_inflight && c->inflight && c->inflight[pid - 1]) {
      free(c->inflight[pid - 1]);
      c->inflight[pid - 1] = NULL;
      c->free_pids[c->n_free++] = (uint16_t)pid;
      net->inflight--;
      net->acked++;
      c->acked++;
      mark_dirty(net, c);
    }
    return;
  }
  case 0xD0: /* PINGRESP */
    c->ping_out = 0;
    return;
  default:
    net->protocol_errors++;
    char why[64];
    snprintf(why, sizeof why, "unexpected packet type 0x%02x", p[0]);
    conn_fail(net, c, "read", why);
    return;
  }
}

static void parse_input(net_t *net, conn_t *c)
{
  size_t off = 0;
  while (c->fd >= 0 && c->in_len - off >= 2) {
    const unsigned char *p = c->in + off;
    size_t rl = 0, mul = 1, i = 1;
    int complete = 0;
    while (i < 5 && off + i < c->in_len) {
      rl += (size_t)(p[i] & 127) * mul;
      mul *= 128;
      if (!(p[i++] & 128)) {
        complete = 1;
        break;
      }
    }
    if (!complete) {
      if (i >= 5) {
        net->protocol_errors++;
        conn_fail(net, c, "read", "malformed remaining length");
        return;
      }
      break;
    }
    if (i + rl > IN_MAX) {
      net->protocol_errors++;
      conn_fail(net, c, "read", "unexpectedly large packet");
      return;
    }
    if (off + i + rl > c->in_len)
      break;
    handle_packet(net, c, p, i, rl);
    off += i + rl;
  }
  if (c->fd < 0)
    return;
  memmove(c->in, c->in + off, c->in_len - off);
  c->in_len -= off;
}

static void read_input(net_t *net, conn_t *c)
{
  while (c->fd >= 0) {
    size_t room = IN_MAX - c->in_len;
    ssize_t r;
    if (c->ssl) {
      ERR_clear_error();
      int n = SSL_read(c->ssl, c->in + c->in_len, (int)room);
      if (n <= 0) {
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ)
          return;
        if (e == SSL_ERROR_WANT_WRITE) {
          c->tls_want_write = 1;
          update_events(net, c);
          return;
        }
        conn_fail(net, c, "read", e == SSL_ERROR_ZERO_RETURN ? "closed by the broker"
                                  : e == SSL_ERROR_SYSCALL && errno ? strerror(errno)
                                                                    : "TLS error");
        return;
      }
      r = n;
    } else {
      r = recv(c->fd, c->in + c->in_len, room, 0);
      if (r == 0) {
        conn_fail(net, c, "read", "closed by the broker");
        return;
      }
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
          return;
        conn_fail(net, c, "read", strerror(errno));
        return;
      }
    }
    c->in_len += (size_t)r;
    c->last_in_ms = sim_mono_ms();
    parse_input(net, c);
  }
}

static void on_event(net_t *net, conn_t *c, uint32_t ev)
{
  switch (c->st) {
  case C_TCP:
    tcp_connected(net, c);
    return;
  case C_TLS:
    tls_handshake(net, c);
    return;
  case C_MQTT:
  case C_UP:
  case C_CLOSING:
    if (ev & EPOLLOUT) {
      c->tls_want_write = 0;
      flush(net, c);
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
      read_input(net, c);
    if (c->st == C_UP)
      mark_dirty(net, c);
    return;
  default:
    return;
  }
}

static void timers(net_t *net, int64_t now)
{
  int64_t ka = (int64_t)net->o.keepalive_s * 1000;
  for (size_t i = 0; i < net->n; i++) {
    conn_t *c = &net->c[i];
    switch (c->st) {
    case C_TCP:
    case C_TLS:
    case C_MQTT:
      if (now - c->started_ms > CONNECT_TIMEOUT_MS)
        conn_fail(net, c, "connect", "timed out");
      break;
    case C_UP:
      if (now - c->last_in_ms > ka * 3 / 2 && c->ping_out) {
        conn_fail(net, c, "keepalive", "no answer from the broker");
      } else if (now - c->last_out_ms >= ka / 2 && !c->ping_out) {
        static const unsigned char ping[2] = {0xC0, 0x00};
        if (out_append(net, c, ping, 2) == 0) {
          c->ping_out = 1;
          c->last_in_ms = now; /* the answer is due from now on */
          flush(net, c);
        }
      }
      break;
    case C_DOWN:
      if (!net->closing && now >= c->retry_at_ms && net->connecting < net->o.connect_burst)
        conn_start(net, c);
      break;
    default:
      break;
    }
  }
}

static void start_idle(net_t *net)
{
  while (!net->closing && net->next_idle < net->n && net->connecting < net->o.connect_burst)
    conn_start(net, &net->c[net->next_idle++]);
}

/* ---- public ------------------------------------------------------------ */

int net_new(net_t **out, const net_opts_t *o, size_t n, const char *const *ids,
            const char *const *cert_names)
{
  *out = NULL;
  net_t *net = calloc(1, sizeof *net);
  if (!net)
    return FLEET_ENOMEM;
  net->o = *o;
  net->ep = -1;
  net->rng = 0x853c49e6748fea9bull ^ (uint64_t)n;
  net->host = dupstr(o->url.host);
  net->username = dupstr(o->username);
  net->password = dupstr(o->password);
  net->cafile = dupstr(o->cafile);
  net->cert = dupstr(o->cert);
  net->key = dupstr(o->key);
  net->cert_dir = dupstr(o->cert_dir);
  net->c = calloc(n, sizeof *net->c);
  net->dirty = calloc(n, sizeof *net->dirty);
  net->n = n;
  int rc = FLEET_ENOMEM;
  if (!net->host || !net->c || !net->dirty)
    goto fail;
  for (size_t i = 0; i < n; i++) {
    net->c[i].fd = -1;
    net->c[i].client_id = dupstr(ids[i]);
    net->c[i].cert_name = cert_names ? dupstr(cert_names[i]) : NULL;
    if (!net->c[i].client_id || (cert_names && !net->c[i].cert_name))
      goto fail;
  }

  char port[16];
  snprintf(port, sizeof port, "%u", o->url.port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *ai = NULL;
  int g = getaddrinfo(o->url.host, port, &hints, &ai);
  if (g != 0 || !ai) {
    snprintf(net->last_error, sizeof net->last_error, "cannot resolve %s: %s", o->url.host,
             gai_strerror(g));
    rc = FLEET_ENET;
    goto fail;
  }
  memcpy(&net->addr, ai->ai_addr, ai->ai_addrlen);
  net->addr_len = ai->ai_addrlen;
  freeaddrinfo(ai);
  struct in6_addr a6;
  net->is_ip_literal = inet_pton(AF_INET, o->url.host, &a6) == 1 ||
                       inet_pton(AF_INET6, o->url.host, &a6) == 1;

  if (o->url.tls) {
    net->ctx = SSL_CTX_new(TLS_client_method());
    if (!net->ctx)
      goto tls_fail;
    SSL_CTX_set_min_proto_version(net->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(net->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(net->ctx, SSL_VERIFY_PEER, NULL);
    if ((net->cafile ? SSL_CTX_load_verify_locations(net->ctx, net->cafile, NULL)
                     : SSL_CTX_set_default_verify_paths(net->ctx)) != 1)
      goto tls_fail;
    if (net->cert && (SSL_CTX_use_certificate_chain_file(net->ctx, net->cert) != 1 ||
                      SSL_CTX_use_PrivateKey_file(net->ctx, net->key, SSL_FILETYPE_PEM) != 1 ||
                      SSL_CTX_check_private_key(net->ctx) != 1))
      goto tls_fail;
  }
  net->ep = epoll_create1(EPOLL_CLOEXEC);
  if (net->ep < 0) {
    snprintf(net->last_error, sizeof net->last_error, "epoll_create1: %s", strerror(errno));
    rc = FLEET_EIO;
    goto fail;
  }
  *out = net;
  return 0;
tls_fail: {
  unsigned long e = ERR_peek_last_error();
  char why[256] = "unknown error";
  if (e)
    ERR_error_string_n(e, why, sizeof why);
  snprintf(net->last_error, sizeof net->last_error, "TLS setup: %s", why);
  rc = FLEET_EIO;
}
fail:
  if (!net->last_error[0])
    snprintf(net->last_error, sizeof net->last_error, "out of memory");
  fprintf(stderr, "fleet-sim: %s\n", net->last_error);
  net_free(net);
  return rc;
}

void net_free(net_t *net)
{
  if (!net)
    return;
  for (size_t i = 0; net->c && i < net->n; i++) {
    conn_t *c = &net->c[i];
    close_socket(net, c);
    for (msg_t *m = c->q_head, *nx; m; m = nx) {
      nx = m->next;
      free(m);
    }
    for (uint32_t k = 0; c->inflight && k < net->o.max_inflight; k++)
      free(c->inflight[k]);
    free(c->inflight);
    free(c->free_pids);
    free(c->out);
    free(c->client_id);
    free(c->cert_name);
  }
  if (net->ep >= 0)
    close(net->ep);
  if (net->ctx)
    SSL_CTX_free(net->ctx);
  free(net->c);
  free(net->dirty);
  free(net->host);
  free(net->username);
  free(net->password);
  free(net->cafile);
  free(net->cert);
  free(net->key);
  free(net->cert_dir);
  free(net);
}

int net_publish(net_t *net, uint32_t conn, const char *topic, const void *payload, size_t len,
                int qos, int retain)
{
  size_t tl = strlen(topic);
  size_t rl = 2 + tl + (qos ? 2 : 0) + len;
  msg_t *m = malloc(sizeof *m + rl + 5);
  if (!m)
    return FLEET_ENOMEM;
  size_t n = 0;
  m->data[n++] = (unsigned char)(0x30 | (qos ? 0x02 : 0) | (retain ? 0x01 : 0));
  n += put_varint(m->data + n, rl);
  n += put_str(m->data + n, topic, tl);
  m->pid_off = (uint32_t)n;
  if (qos) {
    m->data[n++] = 0;
    m->data[n++] = 0;
  }
  memcpy(m->data + n, payload, len);
  n += len;
  m->len = (uint32_t)n;
  m->qos = (uint8_t)(qos ? 1 : 0);
  m->sent = 0;
  m->next = NULL;
  conn_t *c = &net->c[conn];
  if (c->q_tail)
    c->q_tail->next = m;
  else
    c->q_head = m;
  c->q_tail = m;
  net->queued++;
  net->queued_bytes += m->len;
  if (c->st == C_UP)
    mark_dirty(net, c);
  return 0;
}

void net_run(net_t *net, int timeout_ms)
{
  int64_t now = sim_mono_ms();
  start_idle(net);
  if (now >= net->next_timer_ms) {
    timers(net, now);
    net->next_timer_ms = now + TIMER_MS;
  }
  /* Batch: everything published since the last call leaves in one write per
   * connection. */
  for (size_t i = 0; i < net->n_dirty; i++) {
    conn_t *c = &net->c[net->dirty[i]];
    c->dirty = 0;
    pump(net, c);
  }
  net->n_dirty = 0;
  if (timeout_ms > TIMER_MS)
    timeout_ms = TIMER_MS;
  struct epoll_event ev[1024];
  int k = epoll_wait(net->ep, ev, 1024, timeout_ms);
  for (int i = 0; i < k; i++) {
    conn_t *c = &net->c[ev[i].data.u32];
    on_event(net, c, ev[i].events);
  }
  for (size_t i = 0; i < net->n_dirty; i++) {
    conn_t *c = &net->c[net->dirty[i]];
    c->dirty = 0;
    pump(net, c);
  }
  net->n_dirty = 0;
}

void net_close_all(net_t *net, int timeout_ms)
{
  net->closing = 1;
  static const unsigned char disc[2] = {0xE0, 0x00};
  for (size_t i = 0; i < net->n; i++) {
    conn_t *c = &net->c[i];
    if (c->st == C_UP) {
      out_append(net, c, disc, 2);
      c->st = C_CLOSING;
      flush(net, c);
    } else if (c->fd >= 0) {
      enum cstate st = c->st;
      close_socket(net, c);
      if (st == C_TCP || st == C_TLS || st == C_MQTT)
        net->connecting--;
      c->st = C_CLOSED;
    } else {
      c->st = C_CLOSED;
    }
  }
  int64_t end = sim_mono_ms() + timeout_ms;
  while (net->out_bytes > 0 && sim_mono_ms() < end)
    net_run(net, 20);
  for (size_t i = 0; i < net->n; i++) {
    conn_t *c = &net->c[i];
    if (c->st == C_CLOSING) {
      if (c->ssl)
        SSL_shutdown(c->ssl);
      close_socket(net, c);
      net->connected--;
      c->st = C_CLOSED;
    }
  }
}

void net_get_stats(const net_t *net, net_stats_t *s)
{
  s->queued = net->queued;
  s->queued_bytes = net->queued_bytes;
  s->inflight = net->inflight;
  s->published = net->published;
  s->resent = net->resent;
  s->acked = net->acked;
  s->out_bytes = net->out_bytes;
  s->connected = net->connected;
  s->ever_connected = net->ever_connected;
  s->connect_failures = net->connect_failures;
  s->connection_losses = net->connection_losses;
  s->protocol_errors = net->protocol_errors;
  s->refused = net->refused;
}

uint64_t net_conn_acked(const net_t *net, uint32_t conn)
{
  return conn < net->n ? net->c[conn].acked : 0;
}

const char *net_last_error(const net_t *net)
{
  return net->last_error;
}
