/*
 * Internal InfluxDB helpers shared by the writer (influx.c) and the history
 * reader (history.c): endpoint URLs, Authorization headers, libcurl handle
 * setup and turning an HTTP error answer into a status code and message.
 * Implemented in influx.c.
 */
#ifndef FLEET_INFLUX_INT_H
#define FLEET_INFLUX_INT_H

#include <curl/curl.h>

#include "fleet/influx.h"

/**
 * curl_global_init() exactly once per process (pthread_once), as libcurl asks
 * before any handle is made from several threads. Returns 0 or FLEET_EINTERNAL.
 */
int fleet_influx__curl_global_init(void);

/**
 * Append `s` percent-encoded for a URL query component (RFC 3986 unreserved
 * characters kept). Returns 0 or FLEET_ENOMEM.
 */
int fleet_influx__url_escape(fleet_buf_t *out, const char *s);

/**
 * Append "?key=value" (first) or "&key=value" with `value` percent-encoded.
 * Returns 0 or FLEET_ENOMEM.
 */
int fleet_influx__url_param(fleet_buf_t *out, int first, const char *key, const char *value);

/**
 * Append the base URL without a trailing '/' followed by `path` (which starts
 * with '/'). Returns 0 or FLEET_ENOMEM.
 */
int fleet_influx__url_path(fleet_buf_t *out, const fleet_influx_config_t *cfg,
                           const char *path);

/**
 * The complete write URL for the configured API (see influx.h):
 *   v1 <url>/write?db=D[&rp=R]&precision=ns
 *   v2 <url>/api/v2/write?org=O&bucket=B&precision=ns
 *   v3 <url>/api/v3/write_lp?db=D&precision=nanosecond&accept_partial=true
 * `out` is cleared first. Returns 0, FLEET_EINVAL (invalid cfg) or FLEET_ENOMEM.
 */
int fleet_influx__write_url(fleet_buf_t *out, const fleet_influx_config_t *cfg);

/**
 * The InfluxQL query endpoint "<url>/query" with no parameters (the caller
 * adds db=, q=, epoch=...). For v1 it also carries rp= when set. `out` is
 * cleared first. Returns 0, FLEET_EINVAL or FLEET_ENOMEM.
 */
int fleet_influx__query_url(fleet_buf_t *out, const fleet_influx_config_t *cfg);

/**
 * The Authorization header line ("Authorization: Token T", "Authorization:
 * Bearer T", "Authorization: Basic base64(u:p)") for the configuration, or ""
 * when no credentials apply. `out` is cleared first. The result holds a secret:
 * never log it. Returns 0, FLEET_EINVAL (forced form lacks its credentials) or
 * FLEET_ENOMEM.
 */
int fleet_influx__auth_header(fleet_buf_t *out, const fleet_influx_config_t *cfg);

/**
 * Apply the connection settings to an easy handle: timeouts, CA file or
 * insecure mode, http/https only (also on redirects, which are not followed),
 * NOSIGNAL (required in threaded programs), TCP keep-alive, a User-Agent.
 * Returns 0 or FLEET_EINTERNAL when libcurl refuses an option.
 */
int fleet_influx__curl_setup(CURL *curl, const fleet_influx_config_t *cfg);

/**
 * Extract the human-readable error text from an InfluxDB error body into
 * `out` (NUL-terminated, truncated to `cap`): v1 {"error":"..."}, v2
 * {"code":"...","message":"..."}, v3 {"error":"...", "data":...}; any other
 * body is copied as text (control characters replaced by spaces). Empty
 * body gives "".
 */
void fleet_influx__error_text(char *out, size_t cap, const char *body, size_t len);

/**
 * The status code for an HTTP answer: 2xx 0; 400 FLEET_EPARSE; 401
 * FLEET_EAUTH; 403 FLEET_EPERM; 404 FLEET_ENOTFOUND; 413 FLEET_ETOOBIG; 408,
 * 429, 5xx FLEET_ESERVER (retryable); other FLEET_ESERVER.
 */
int fleet_influx__http_status_code(long http_status);

/**
 * Map a libcurl transfer result to a status code: timeouts FLEET_ETIMEOUT,
 * TLS/certificate problems FLEET_EAUTH, everything else FLEET_ENET.
 */
int fleet_influx__curl_code(CURLcode rc);

/**
 * The text of a failed transfer into `out` (`cap` bytes, always terminated):
 * libcurl's message for `rc`, followed by `detail` in parentheses when that
 * says more. `detail` is the handle's CURLOPT_ERRORBUFFER (may be NULL or
 * empty): it holds the reason that the code alone hides, such as "SSL
 * certificate problem: unable to get local issuer certificate" behind
 * "SSL peer certificate or SSH remote key was not OK".
 */
void fleet_influx__curl_message(char *out, size_t cap, CURLcode rc, const char *detail);

#endif /* FLEET_INFLUX_INT_H */
