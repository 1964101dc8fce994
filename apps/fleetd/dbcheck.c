/* dbcheck: fleetd's start-up check of InfluxDB, and whether the databases it
 * writes to exist (for /readyz). */
#include "dbcheck.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum state {
  S_PENDING = 0, /* no check finished yet */
  S_OK,          /* every database exists */
  S_MISSING,     /* at least one does not */
  S_DOWN,        /* InfluxDB did not answer */
  S_UNKNOWN      /* it answered, but not the question: readiness is not held back */
};

enum { NDB = 2 };

struct fleetd_dbcheck {
  fleet_history_t *hist; /* the thread's own connection */
  fleet_influx_writer_t *writers[NDB];
  char db[NDB][FLEET_INFLUX_NAME_MAX];
  char url[FLEETD_PATH_MAX];
  bool skip; /* InfluxDB 2.x: buckets, not databases (asked once, for the start-up log) */

  pthread_t thread;
  bool running;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop;
  enum state state;
  char why[512];
};

typedef struct scan {
  const fleetd_dbcheck_t *c;
  bool found[NDB];
} scan_t;

static int on_database(const fleet_history_row_t *row, void *ud)
{
  scan_t *s = ud;
  const fleet_history_value_t *v = fleet_history_row_get(row, "name");
  if (v && v->type == FLEET_HISTORY_STRING)
    for (int i = 0; i < NDB; i++)
      if (strcmp(v->s, s->c->db[i]) == 0)
        s->found[i] = true;
  return 0;
}

/* The first answer also tells the operator at start-up what stands between
 * fleetd and InfluxDB, in words that name the settings to look at: a wrong
 * URL, CA, certificate or credential shows at once rather than with the first
 * write, which may come much later. Only what the operator must fix is an
 * error; a server that is down is expected to come back (the writers spool
 * meanwhile). */
static void log_first(const fleetd_dbcheck_t *c, int rc)
{
  if (rc == FLEET_EAUTH)
    fleetd_log(FLEETD_ERROR,
               "InfluxDB refuses fleetd: nothing can be stored until this is fixed (TLS: "
               "influx.ca_file, influx.insecure; credentials: influx.token, influx.username)",
               "component", "influx", "url", c->url, "error", fleet_error_last(), NULL);
  else if (rc == FLEET_ENET || rc == FLEET_ETIMEOUT)
    fleetd_log(FLEETD_WARN, "InfluxDB is not reachable yet; the writers spool until it is",
               "component", "influx", "url", c->url, "error", fleet_error_last(), NULL);
}

/* One SHOW DATABASES: the new state and its reason. */
static enum state check(fleetd_dbcheck_t *c, bool first, char *why, size_t cap)
{
  scan_t s = {c, {false, false}};
  int rc = fleet_history_query(c->hist, NULL, "SHOW DATABASES", on_database, &s);
  if (first)
    log_first(c, rc);
  if (c->skip)
    return S_UNKNOWN; /* 2.x: the answer does not list buckets */
  if (rc == FLEET_ENET || rc == FLEET_ETIMEOUT) {
    snprintf(why, cap, "InfluxDB is not answering: %s", fleet_error_last());
    return S_DOWN;
  }
  /* Bad credentials or a certificate that does not verify: no write can
   * succeed either. (403, a user without the right to list, does not say.) */
  if (rc == FLEET_EAUTH) {
    snprintf(why, cap, "InfluxDB refuses fleetd: %s", fleet_error_last());
    return S_DOWN;
  }
  if (rc) {
    snprintf(why, cap, "%s", fleet_error_last());
    return S_UNKNOWN;
  }
  char names[2 * FLEET_INFLUX_NAME_MAX + 16] = "";
  int missing = 0;
  for (int i = 0; i < NDB; i++) {
    if (s.found[i] || (i && strcmp(c->db[i], c->db[0]) == 0))
      continue;
    size_t n = strlen(names);
    snprintf(names + n, sizeof names - n, "%s'%s'", missing ? " and " : "", c->db[i]);
    missing++;
  }
  if (!missing)
    return S_OK;
  snprintf(why, cap, "InfluxDB database%s %s do%s not exist (fleetctl influx init creates %s)",
           missing > 1 ? "s" : "", names, missing > 1 ? "" : "es", missing > 1 ? "them" : "it");
  return S_MISSING;
}

/* A writer refused with 404 since `seen` (its config_errors count then). */
static bool refused_404(fleetd_dbcheck_t *c, uint64_t seen[NDB])
{
  bool any = false;
  for (int i = 0; i < NDB; i++) {
    fleet_influx_writer_stats_t st = FLEET_INFLUX_WRITER_STATS_INIT;
    if (!c->writers[i] || fleet_influx_writer_get_stats(&st, c->writers[i]))
      continue;
    if (st.config_errors != seen[i] && st.last_http_status == 404)
      any = true;
    seen[i] = st.config_errors;
  }
  return any;
}

static void log_change(const fleetd_dbcheck_t *c, enum state from, enum state to,
                       const char *why)
{
  if (to == from && to != S_UNKNOWN)
    return;
  if (to == S_MISSING)
    fleetd_log(FLEETD_WARN, "InfluxDB database missing: not ready, writes are refused",
               "component", "influx", "reason", why, NULL);
  else if (to == S_OK && from != S_PENDING)
    fleetd_log(FLEETD_INFO, "InfluxDB databases present: ready", "component", "influx",
               "databases", c->db[0], "downsampled", c->db[1], NULL);
  else if (to == S_UNKNOWN && from != S_UNKNOWN)
    fleetd_log(FLEETD_WARN, "cannot check the InfluxDB databases (SHOW DATABASES)",
               "component", "influx", "error", why, NULL);
}

static void *dbcheck_main(void *arg)
{
  fleetd_dbcheck_t *c = arg;
  pthread_setname_np(pthread_self(), "fleetd-dbcheck");
  uint64_t seen[NDB] = {0, 0};
  refused_404(c, seen);
  int64_t next_ms = 0; /* check at once */
  bool first = true;
  pthread_mutex_lock(&c->mu);
  while (!c->stop) {
    int64_t now = fleetd_mono_ms();
    bool refused = !c->skip && refused_404(c, seen);
    if (now >= next_ms || (refused && c->state == S_OK)) {
      pthread_mutex_unlock(&c->mu);
      char why[sizeof c->why] = ""; /* check() sets it only on a problem */
      enum state st = check(c, first, why, sizeof why);
      first = false;
      pthread_mutex_lock(&c->mu);
      log_change(c, c->state, st, why);
      c->state = st;
      snprintf(c->why, sizeof c->why, "%s", why);
      now = fleetd_mono_ms();
      next_ms = st == S_OK || c->skip ? INT64_MAX
                : st == S_UNKNOWN     ? now + DBCHECK_UNKNOWN_RETRY_MS
                                      : now + DBCHECK_RETRY_MS;
    }
    /* Writer stats are polled once a second; a check is due at next_ms. */
    int64_t wait_ms = next_ms - now < 1000 ? next_ms - now : 1000;
    if (wait_ms > 0) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += (time_t)(wait_ms / 1000);
      ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

int fleetd_dbcheck_new(fleetd_dbcheck_t **out, const fleetd_config_t *cfg,
                       fleet_influx_writer_t *raw, fleet_influx_writer_t *events)
{
  *out = NULL;
  fleetd_dbcheck_t *c = calloc(1, sizeof *c);
  if (!c) {
    fleetd_log(FLEETD_ERROR, "out of memory", "component", "influx", NULL);
    return -1;
  }
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  c->writers[0] = raw;
  c->writers[1] = events;
  snprintf(c->db[0], sizeof c->db[0], "%s", cfg->influx.database);
  snprintf(c->db[1], sizeof c->db[1], "%s", cfg->downsampled_db);
  snprintf(c->url, sizeof c->url, "%s", cfg->influx.url);
  c->skip = cfg->influx.api == FLEET_INFLUX_API_V2;
  if (c->skip)
    c->state = S_UNKNOWN; /* never held back by this check */
  *out = c;
  if (fleet_history_new(&c->hist, &cfg->influx, NULL)) {
    fleetd_log(FLEETD_ERROR, "cannot create the InfluxDB database check", "error",
               fleet_error_last(), NULL);
    return -1;
  }
  int e = pthread_create(&c->thread, NULL, dbcheck_main, c);
  if (e) {
    fleetd_log(FLEETD_ERROR, "cannot start the InfluxDB database check", "error", strerror(e),
               NULL);
    return -1;
  }
  c->running = true;
  return 0;
}

bool fleetd_dbcheck_ready(fleetd_dbcheck_t *c, char *why, size_t cap)
{
  pthread_mutex_lock(&c->mu);
  enum state st = c->state;
  if (st == S_PENDING)
    snprintf(why, cap, "checking the InfluxDB databases");
  else
    snprintf(why, cap, "%s", c->why);
  pthread_mutex_unlock(&c->mu);
  return st == S_OK || st == S_UNKNOWN;
}

void fleetd_dbcheck_free(fleetd_dbcheck_t *c)
{
  if (!c)
    return;
  if (c->running) {
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
  }
  fleet_history_free(c->hist);
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
  free(c);
}
