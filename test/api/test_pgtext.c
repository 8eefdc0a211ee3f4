/* PostgreSQL's text output to JSON (src/api/pgtext.c), and the parse of
 * sql/queries.sql (src/api/queries.c). */
#include <check.h>
#include <string.h>

#include "api/api.h"

static const char *ts(const char *in) {
  static core_buf_t b;
  core_buf_reset(&b);
  if (api_put_timestamp(&b, in, strlen(in)) != 0)
    return "ERR";
  core_buf_putc(&b, '\0');
  return b.data;
}

START_TEST(timestamps) {
  ck_assert_str_eq(ts("2026-01-01 00:00:00+00"), "\"2026-01-01T00:00:00.000Z\"");
  /* milliseconds truncated, as Date#toISOString of a microsecond value */
  ck_assert_str_eq(ts("2026-01-02 03:04:05.678999+00"), "\"2026-01-02T03:04:05.678Z\"");
  ck_assert_str_eq(ts("2026-01-02 03:04:05.6+00"), "\"2026-01-02T03:04:05.600Z\"");
  /* any session TimeZone: offsets move the instant to UTC, across days,
   * months, years and leap days */
  ck_assert_str_eq(ts("2026-01-01 05:30:00+05:30"), "\"2026-01-01T00:00:00.000Z\"");
  ck_assert_str_eq(ts("2025-12-31 19:00:00.5-05"), "\"2026-01-01T00:00:00.500Z\"");
  ck_assert_str_eq(ts("2024-03-01 00:10:00+01"), "\"2024-02-29T23:10:00.000Z\"");
  ck_assert_str_eq(ts("1900-01-01 00:00:00+00:19:32"), "\"1899-12-31T23:40:28.000Z\"");
  /* not DateStyle ISO, or garbage: refused, never half-printed */
  ck_assert_str_eq(ts("Thu Jan 01 00:00:00 2026 UTC"), "ERR");
  ck_assert_str_eq(ts("01/01/2026 00:00:00 UTC"), "ERR");
  ck_assert_str_eq(ts("2026-01-01 00:00:00"), "ERR");
  ck_assert_str_eq(ts("2026-01-01 00:00:00+0x"), "ERR");
  ck_assert_str_eq(ts(""), "ERR");
}
END_TEST

static const char *arr(const char *in) {
  static core_buf_t b;
  core_buf_reset(&b);
  if (api_put_text_array(&b, in, strlen(in)) != 0)
    return "ERR";
  core_buf_putc(&b, '\0');
  return b.data;
}

START_TEST(text_arrays) {
  ck_assert_str_eq(arr("{}"), "[]");
  ck_assert_str_eq(arr("{a}"), "[\"a\"]");
  ck_assert_str_eq(arr("{home,light}"), "[\"home\",\"light\"]");
  ck_assert_str_eq(arr("{\"x y\",\"q\\\"\\\\\",\"NULL\",NULL,\"{,}\",é}"),
                   "[\"x y\",\"q\\\"\\\\\",\"NULL\",null,\"{,}\",\"é\"]");
  ck_assert_str_eq(arr("{\"\"}"), "[\"\"]");
  ck_assert_str_eq(arr("[]"), "ERR");
  ck_assert_str_eq(arr("{\"open}"), "ERR");
  ck_assert_str_eq(arr("{\"a\"b}"), "ERR");
}
END_TEST

START_TEST(month) {
  core_buf_t b;
  core_buf_init(&b);
  ck_assert_int_eq(api_put_month(&b, "2025-01-01", 10), 0);
  core_buf_putc(&b, '\0');
  ck_assert_str_eq(b.data, "\"2025-01\"");
  ck_assert_int_eq(api_put_month(&b, "2025-01", 7), API_EFORM);
  core_buf_free(&b);
}
END_TEST

START_TEST(queries_file) {
  char err[256];
  db_stmt_t st[API_STMT__COUNT];
  const char *text = core_sql_file("queries.sql");
  ck_assert_ptr_nonnull(text);
  ck_assert_msg(api_queries_parse(text, st, err, sizeof(err)) == 0, "%s", err);
  ck_assert_str_eq(st[API_STMT_PING].sql, "SELECT 1");
  ck_assert_str_eq(st[API_STMT_ITEM_DELETE].sql, "DELETE FROM items WHERE id = $1");
  ck_assert_int_eq(st[API_STMT_ITEM_PATCH].nparams, 6);
  ck_assert_int_eq(st[API_STMT_ITEM_LIST].nparams, 2);
  for (int i = 0; i < API_STMT__COUNT; i++) {
    /* statements return plain columns: nothing formatted in SQL */
    ck_assert_msg(strstr(st[i].sql, "to_char") == NULL, "%s", st[i].name);
    for (const char *c = st[i].sql; (c = strstr(c, "::text")) != NULL; c++)
      ck_assert_msg(c[6] == '[', "%s casts a column to text",
                    st[i].name); /* text[] params */
    ck_assert_msg(strstr(st[i].sql, "to_json") == NULL, "%s", st[i].name);
    ck_assert_msg(strstr(st[i].sql, "\n--") == NULL, "%s keeps a comment", st[i].name);
  }
  api_queries_free(st);
}
END_TEST

START_TEST(queries_refused) {
  char err[256];
  db_stmt_t st[API_STMT__COUNT];
  ck_assert_int_eq(api_queries_parse("-- name: ping\nSELECT 1;\n", st, err, sizeof(err)),
                   API_EQUERIES);
  ck_assert_ptr_nonnull(strstr(err, "missing"));
  ck_assert_int_eq(api_queries_parse("-- name: nope\nSELECT 1;\n", st, err, sizeof(err)),
                   API_EQUERIES);
  ck_assert_ptr_nonnull(strstr(err, "unknown statement nope"));
  ck_assert_int_eq(
      api_queries_parse("-- name: ping\nSELECT 1;\n-- name: ping\nSELECT 2;\n", st, err,
                        sizeof(err)),
      API_EQUERIES);
  ck_assert_ptr_nonnull(strstr(err, "twice"));
  ck_assert_int_eq(
      api_queries_parse("-- name: ping\n-- only a comment\n\n", st, err, sizeof(err)),
      API_EQUERIES);
  ck_assert_ptr_nonnull(strstr(err, "empty"));
}
END_TEST

Suite *api_pgtext_suite(void) {
  Suite *s = suite_create("api_pgtext");
  TCase *tc = tcase_create("pgtext");
  tcase_add_test(tc, timestamps);
  tcase_add_test(tc, text_arrays);
  tcase_add_test(tc, month);
  tcase_add_test(tc, queries_file);
  tcase_add_test(tc, queries_refused);
  suite_add_tcase(s, tc);
  return s;
}
