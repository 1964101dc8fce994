/* Unit tests for common: status codes, per-thread errors, version, fleet_buf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "common_int.h"

static void test_strerror_and_names(void **state)
{
  (void)state;
  for (int code = 0; code >= FLEET_STATUS_MIN; code--) {
    const char *text = fleet_strerror(code);
    const char *name = fleet_status_name(code);
    assert_non_null(text);
    assert_non_null(name);
    assert_string_not_equal(text, "unknown error");
    assert_int_equal(strncmp(name, "FLEET_", 6), 0);
  }
  assert_string_equal(fleet_strerror(FLEET_EINVAL), "invalid argument");
  assert_string_equal(fleet_status_name(FLEET_ERANGE), "FLEET_ERANGE");
  assert_string_equal(fleet_strerror(FLEET_STATUS_MIN - 1), "unknown error");
  assert_string_equal(fleet_strerror(1), "unknown error");
  assert_null(fleet_status_name(FLEET_STATUS_MIN - 1));
}

static void test_error_last(void **state)
{
  (void)state;
  fleet_error_clear();
  assert_int_equal(fleet_error_last_code(), 0);
  assert_string_equal(fleet_error_last(), "");
  int rc = fleet_error__set(FLEET_ERANGE, "lat: %.1f is outside [-90, 90]", 91.2);
  assert_int_equal(rc, FLEET_ERANGE);
  assert_int_equal(fleet_error_last_code(), FLEET_ERANGE);
  assert_string_equal(fleet_error_last(), "lat: 91.2 is outside [-90, 90]");
  assert_int_equal(fleet_error__oom(), FLEET_ENOMEM);
  assert_string_equal(fleet_error_last(), "out of memory");
  fleet_error_clear();
  assert_string_equal(fleet_error_last(), "");
}

static void test_error_long_message_truncated(void **state)
{
  (void)state;
  char big[2 * FLEET_ERROR_MAX];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  fleet_error__set(FLEET_EINVAL, "%s", big);
  assert_int_equal(strlen(fleet_error_last()), FLEET_ERROR_MAX - 1);
}

static void *other_thread(void *arg)
{
  (void)arg;
  /* A fresh thread starts with no error, and its errors stay its own. */
  int clean = fleet_error_last_code() == 0 && fleet_error_last()[0] == '\0';
  fleet_error__set(FLEET_EIO, "thread error");
  return clean ? (void *)1 : NULL;
}

static void test_error_is_per_thread(void **state)
{
  (void)state;
  fleet_error__set(FLEET_EPARSE, "main thread error");
  pthread_t t;
  void *ret = NULL;
  assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
  assert_int_equal(pthread_join(t, &ret), 0);
  assert_non_null(ret);
  assert_int_equal(fleet_error_last_code(), FLEET_EPARSE);
  assert_string_equal(fleet_error_last(), "main thread error");
}

static void test_version(void **state)
{
  (void)state;
  assert_int_equal(fleet_version(), FLEET_VERSION_NUMBER);
  assert_string_equal(fleet_version_string(), FLEET_VERSION_STRING);
  assert_true(FLEET_VERSION_AT_LEAST(0, 0, 0));
  assert_false(FLEET_VERSION_AT_LEAST(FLEET_VERSION_MAJOR + 1, 0, 0));
}

static void test_buf(void **state)
{
  (void)state;
  fleet_buf_t b = FLEET_BUF_INIT;
  fleet_buf_clear(&b); /* clearing an empty buffer is fine */
  assert_null(b.ptr);
  assert_int_equal(fleet_buf_append(&b, "abc", 3), 0);
  assert_string_equal(b.ptr, "abc");
  assert_int_equal(b.len, 3);
  assert_int_equal(fleet_buf__putc(&b, '-'), 0);
  assert_int_equal(fleet_buf__puts(&b, "def"), 0);
  assert_int_equal(fleet_buf__printf(&b, "%d:%s", 42, "x"), 0);
  assert_string_equal(b.ptr, "abc-def42:x");
  /* printf output longer than its stack buffer */
  char long_text[1000];
  memset(long_text, 'y', sizeof long_text - 1);
  long_text[sizeof long_text - 1] = '\0';
  assert_int_equal(fleet_buf__printf(&b, "[%s]", long_text), 0);
  assert_int_equal(b.len, 11 + 2 + 999);
  assert_int_equal(b.ptr[b.len], '\0');
  assert_int_equal(b.ptr[11], '[');
  assert_int_equal(b.ptr[b.len - 1], ']');
  size_t cap = b.cap;
  char *ptr = b.ptr;
  fleet_buf_clear(&b);
  assert_int_equal(b.len, 0);
  assert_string_equal(b.ptr, "");
  assert_int_equal(fleet_buf_append(&b, "again", 5), 0);
  assert_ptr_equal(b.ptr, ptr); /* reuse without reallocation */
  assert_int_equal(b.cap, cap);
  char *out = NULL;
  size_t out_len = 0;
  assert_int_equal(fleet_buf__detach(&out, &out_len, &b), 0);
  assert_string_equal(out, "again");
  assert_int_equal(out_len, 5);
  assert_null(b.ptr);
  fleet_free(out);
  assert_int_equal(fleet_buf__detach(&out, NULL, &b), 0);
  assert_string_equal(out, "");
  fleet_free(out);
  fleet_buf_dispose(&b);
  fleet_buf_dispose(NULL);
}

static void test_buf_errors(void **state)
{
  (void)state;
  fleet_buf_t b = FLEET_BUF_INIT;
  assert_int_equal(fleet_buf_append(NULL, "x", 1), FLEET_EINVAL);
  assert_int_equal(fleet_buf_append(&b, NULL, 1), FLEET_EINVAL);
  assert_int_equal(fleet_buf_append(&b, NULL, 0), 0);
  assert_int_equal(fleet_buf_reserve(NULL, 1), FLEET_EINVAL);
  assert_int_equal(fleet_buf_reserve(&b, SIZE_MAX - 1), FLEET_ENOMEM);
  assert_string_equal(fleet_error_last(), "out of memory");
  fleet_buf_dispose(&b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_strerror_and_names),
    cmocka_unit_test(test_error_last),
    cmocka_unit_test(test_error_long_message_truncated),
    cmocka_unit_test(test_error_is_per_thread),
    cmocka_unit_test(test_version),
    cmocka_unit_test(test_buf),
    cmocka_unit_test(test_buf_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
