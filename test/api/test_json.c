/* JSON output of W1 items from a PGresult built by hand (libpq's
 * PQmakeEmptyPGresult/PQsetvalue): escaping, null, numbers, arrays. */
#include <check.h>
#include <libpq-fe.h>
#include <string.h>

#include "api/api.h"

static PGresult *item_result(const char *const *vals) {
  PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
  PGresAttDesc att[7];
  const char *names[7] = {"id", "name", "description", "price_cents", "tags", "c", "u"};
  memset(att, 0, sizeof(att));
  for (int i = 0; i < 7; i++) att[i].name = (char *)names[i];
  ck_assert(PQsetResultAttrs(r, 7, att));
  for (int i = 0; i < 7; i++)
    ck_assert(PQsetvalue(r, 0, i, (char *)vals[i], vals[i] ? (int)strlen(vals[i]) : -1));
  return r;
}

START_TEST(item_with_escapes_and_null) {
  const char *vals[7] = {"42",
                         "say \"hi\"\n\\ é",
                         NULL,
                         "1999",
                         "{a,\"b c\"}",
                         "2026-01-01 00:00:00+00",
                         "2026-01-02 03:04:05.678901+00"};
  PGresult *r = item_result(vals);
  core_buf_t b;
  core_buf_init(&b);
  ck_assert_int_eq(api_item_json(&b, r, 0), 0);
  ck_assert_str_eq(b.data,
                   "{\"id\":42,\"name\":\"say \\\"hi\\\"\\n\\\\ é\",\"description\":null,"
                   "\"price_cents\":1999,\"tags\":[\"a\",\"b c\"],"
                   "\"created_at\":\"2026-01-01T00:00:00.000Z\","
                   "\"updated_at\":\"2026-01-02T03:04:05.678Z\"}");
  core_buf_free(&b);
  PQclear(r);
}
END_TEST

START_TEST(item_with_description) {
  const char *vals[7] = {"1",
                         "a",
                         "tab\there",
                         "0",
                         "{}",
                         "2026-01-01 00:00:00+00",
                         "2026-01-01 00:00:00+00"};
  PGresult *r = item_result(vals);
  core_buf_t b;
  core_buf_init(&b);
  ck_assert_int_eq(api_item_json(&b, r, 0), 0);
  ck_assert_ptr_nonnull(strstr(b.data, "\"description\":\"tab\\there\""));
  ck_assert_ptr_nonnull(strstr(b.data, "\"tags\":[]"));
  core_buf_free(&b);
  PQclear(r);
}
END_TEST

START_TEST(error_body_shape) {
  core_buf_t b;
  core_buf_init(&b);
  http_error_body(&b, 404, "item \"7\" not found");
  ck_assert_str_eq(b.data,
                   "{\"statusCode\":404,\"error\":\"Not Found\",\"message\":\"item "
                   "\\\"7\\\" not found\"}");
  core_buf_free(&b);
}
END_TEST

Suite *api_json_suite(void) {
  Suite *s = suite_create("api_json");
  TCase *tc = tcase_create("json");
  tcase_add_test(tc, item_with_escapes_and_null);
  tcase_add_test(tc, item_with_description);
  tcase_add_test(tc, error_body_shape);
  suite_add_tcase(s, tc);
  return s;
}
