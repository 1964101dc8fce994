/*
 * The text of a failed InfluxDB transfer (fleet_influx__curl_message): libcurl's
 * message for the code alone hides why a TLS connection failed, so the error
 * buffer's detail follows it. The same text, from a real server with a CA the
 * client does not trust, is checked by tests/integration/test_tls_stack.sh
 * (fleetd's writer log and fleetctl's history reader).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "common_int.h"
#include "fleet/influx.h"
#include "influx_int.h"

static void test_detail_follows_the_code(void **state)
{
  (void)state;
  char out[256];
  fleet_influx__curl_message(out, sizeof out, CURLE_PEER_FAILED_VERIFICATION,
                             "SSL certificate problem: unable to get local issuer certificate");
  assert_string_equal(out, "SSL peer certificate or SSH remote key was not OK (SSL certificate "
                           "problem: unable to get local issuer certificate)");
}

static void test_no_detail(void **state)
{
  (void)state;
  char out[256];
  fleet_influx__curl_message(out, sizeof out, CURLE_COULDNT_CONNECT, NULL);
  assert_string_equal(out, "Couldn't connect to server");
  fleet_influx__curl_message(out, sizeof out, CURLE_COULDNT_CONNECT, "");
  assert_string_equal(out, "Couldn't connect to server");
  /* Only blanks: nothing to add. */
  fleet_influx__curl_message(out, sizeof out, CURLE_COULDNT_CONNECT, " \n");
  assert_string_equal(out, "Couldn't connect to server");
}

static void test_detail_same_as_code(void **state)
{
  (void)state;
  char out[256];
  fleet_influx__curl_message(out, sizeof out, CURLE_OPERATION_TIMEDOUT, "Timeout was reached");
  assert_string_equal(out, "Timeout was reached");
}

static void test_trailing_newline_dropped(void **state)
{
  (void)state;
  char out[256];
  fleet_influx__curl_message(out, sizeof out, CURLE_SSL_CONNECT_ERROR,
                             "OpenSSL SSL_connect: Connection reset by peer\n");
  assert_string_equal(out, "SSL connect error (OpenSSL SSL_connect: Connection reset by peer)");
}

static void test_truncated_to_cap(void **state)
{
  (void)state;
  char out[16];
  memset(out, 'x', sizeof out);
  fleet_influx__curl_message(out, sizeof out, CURLE_PEER_FAILED_VERIFICATION, "why");
  assert_int_equal(strlen(out), sizeof out - 1);
  assert_memory_equal(out, "SSL peer certif", sizeof out);
  /* cap 0 writes nothing. */
  char none[1] = {'z'};
  fleet_influx__curl_message(none, 0, CURLE_PEER_FAILED_VERIFICATION, "why");
  assert_int_equal(none[0], 'z');
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_detail_follows_the_code),
    cmocka_unit_test(test_no_detail),
    cmocka_unit_test(test_detail_same_as_code),
    cmocka_unit_test(test_trailing_newline_dropped),
    cmocka_unit_test(test_truncated_to_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
