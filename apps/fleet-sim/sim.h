/*
 * fleet-sim: device simulator and MQTT load generator.
 *
 * model.c  plausible vehicle motion and the v1 payloads (and malformed ones)
 * net.c    a small MQTT 3.1.1 publisher for thousands of connections driven by
 *          one thread over epoll, with TLS (OpenSSL) and client certificates
 * main.c   options, the scheduler (simulated time, rate cap, count, duration),
 *          the report
 */
#ifndef FLEET_SIM_H
#define FLEET_SIM_H

#include <stddef.h>
#include <stdint.h>

#include <fleet/fleet.h>

/* ---------------------------------------------------------------- model -- */

/** Where the vehicles drive and how. */
typedef struct sim_area {
  double center_lat, center_lng; /* city centre */
  double radius_m;               /* waypoints lie within this distance of it */
} sim_area_t;

typedef enum sim_mode {
  SIM_PARKED = 0, /* ignition off */
  SIM_IDLE,       /* ignition on, standing: warming up or just arrived */
  SIM_DRIVING,
  SIM_STOPPED     /* a traffic stop, ignition on */
} sim_mode_t;

/** One simulated vehicle: plain data, advanced only by sim_vehicle_*(). */
typedef struct sim_vehicle {
  char id[FLEET_VEHICLE_ID_MAX + 1];
  uint32_t conn;          /* index of its connection */
  uint64_t rng[2];        /* motion and sensors */
  uint64_t bad_rng[2];    /* malformed-payload injection, separate so that the
                             motion does not depend on --bad-ratio */
  int64_t interval_ns;    /* between two of its messages */
  int64_t t_ns;           /* simulated time of the state below */
  int64_t next_ns;        /* simulated time of its next message */
  uint64_t generated;     /* messages made (good and bad) */
  uint64_t bad;           /* of which malformed */

  sim_mode_t mode;
  double mode_left_s;     /* time left parked, idling or stopped */
  int trip_active;        /* a trip started and has not ended */
  int waypoints_left;
  double lat, lng;        /* true position, degrees */
  double heading_deg;     /* direction of travel */
  double speed_mps;
  double target_mps;      /* speed the driver aims for on this segment */
  double segment_mps;     /* the segment's cruising speed */
  int stop_pending;       /* braking for a traffic stop */
  int ending;             /* braking at the trip's last waypoint */
  double wp_lat, wp_lng;  /* current waypoint */
  double odometer_km;
  double fuel_pct, tank_l, l_per_100km;
  double battery_v, battery_drain_v_per_h;
  double engine_temp_c, engine_hot_c;
} sim_vehicle_t;

/**
 * Set up vehicle `index` of a run: id (prefix + zero-padded number of `width`
 * digits), random streams derived from `seed` and the index, its interval
 * (uniform in [interval_min_ns, interval_max_ns], in whole milliseconds), its
 * first message at `start_ns` plus a random phase within one interval, and an
 * initial state (parked or on a trip) somewhere in the area.
 */
void sim_vehicle_init(sim_vehicle_t *v, const char *prefix, unsigned int width, uint32_t index,
                      uint64_t seed, const sim_area_t *area, int64_t start_ns,
                      int64_t interval_min_ns, int64_t interval_max_ns);

/**
 * Advance the vehicle to its next message time and write that message's
 * payload into `out` (replacing its contents). With probability `bad_ratio`
 * the payload is malformed on purpose (invalid JSON, latitude out of range,
 * missing ts, wrong types, in turn at random); `*out_bad` says so.
 * Schedules the following message. Returns 0 or a FLEET_E* code.
 */
int sim_vehicle_next(sim_vehicle_t *v, const sim_area_t *area, double bad_ratio,
                     fleet_buf_t *out, int *out_bad);

/* ------------------------------------------------------------------ net -- */

typedef struct net net_t;

typedef struct net_opts {
  fleet_mqtt_url_t url;
  const char *username, *password;
  unsigned int keepalive_s;
  unsigned int max_inflight;    /* QoS 1 messages in flight per connection */
  unsigned int connect_burst;   /* connection attempts in progress at once */
  unsigned int reconnect_min_ms, reconnect_max_ms;
  const char *cafile;           /* NULL: the system's CAs */
  const char *cert, *key;       /* one client certificate for every connection */
  const char *cert_dir;         /* or DIR/<id>.crt + DIR/<id>.key per connection */
  int insecure;                 /* skip the host name check */
  int verbose;
} net_opts_t;

/**
 * Create `n` connections (not yet connected). `ids[i]` is connection i's MQTT
 * client id; `cert_names[i]` (when cert_dir is set) the <name> of its
 * certificate files. Both arrays are borrowed for the call (copied).
 */
int net_new(net_t **out, const net_opts_t *o, size_t n, const char *const *ids,
            const char *const *cert_names);
void net_free(net_t *net);

/**
 * Queue one PUBLISH on connection `conn`: sent as soon as the connection is up
 * (and, for QoS 1, a slot in flight is free). Returns 0 or FLEET_ENOMEM.
 */
int net_publish(net_t *net, uint32_t conn, const char *topic, const void *payload, size_t len,
                int qos, int retain);

/** Do network work for at most `timeout_ms` (0: only what is ready). */
void net_run(net_t *net, int timeout_ms);

/** Start a DISCONNECT on every connection and close them (bounded by `timeout_ms`). */
void net_close_all(net_t *net, int timeout_ms);

typedef struct net_stats {
  uint64_t queued;           /* messages waiting to be sent */
  uint64_t queued_bytes;
  uint64_t inflight;         /* QoS 1 sent, not acknowledged */
  uint64_t published;        /* messages handed to a connection (first send) */
  uint64_t resent;           /* QoS 1 messages sent again after a reconnect */
  uint64_t acked;            /* PUBACKs for distinct messages */
  uint64_t out_bytes;        /* bytes of output not yet written */
  uint64_t connected;        /* connections up now (CONNACK accepted) */
  uint64_t ever_connected;   /* connections that were up at least once */
  uint64_t connect_failures; /* attempts that failed (TCP, TLS, CONNACK) */
  uint64_t connection_losses;/* established connections that broke */
  uint64_t protocol_errors;  /* unexpected packets from the broker */
  uint64_t refused;          /* CONNACKs with a refusal code */
} net_stats_t;

void net_get_stats(const net_t *net, net_stats_t *out);

/** PUBACKs received on connection `conn` (distinct messages). */
uint64_t net_conn_acked(const net_t *net, uint32_t conn);

/** Last error text of the network layer (for the summary), "" when none. */
const char *net_last_error(const net_t *net);

/* ------------------------------------------------------------- helpers -- */

int64_t sim_mono_ms(void);

#endif /* FLEET_SIM_H */
