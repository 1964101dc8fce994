/*
 * libfleet umbrella header: include this one file to use the whole library.
 */
#ifndef FLEET_FLEET_H
#define FLEET_FLEET_H

#include "common.h"
#include <fleet/version.h>
#include "telemetry.h"
#include "lineproto.h"
#include "geo.h"
#include "zone.h"
#include "influx.h"
#include "spool.h"
#include "ingestlog.h"
#include "trip.h"
#include "downsample.h"
#include "rules.h"
#include "tracker.h"
#include "history.h"
#include "eventjson.h"
#include "mqtt.h"
#include "auth.h"
#include "ws.h"

#endif /* FLEET_FLEET_H */
