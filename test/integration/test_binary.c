/* Binary results (issue 11, point 2): the item statements ask PostgreSQL
 * for binary int8, timestamptz and text[]; api_item_json must write the
 * same bytes from them as from the text form it wrote before. Checked
 * against the real server of the "pg" fixture: every seeded item, and
 * crafted rows at the edges (instants before 2000 and before 1970 with
 * microseconds, the last microsecond of a second, year 1 and 9999, tags
 * with quotes, backslashes, commas, braces, NULL, the word NULL, empty
 * strings, non-ASCII), under a session TimeZone that is not UTC so the text
 * form carries offsets. */
#include <check.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/core.h"
#include "harness.h"

static PGconn *connect_fixture(void) {
  const char *ci = th_pg_conninfo();
  PGconn *c = PQconnectdb(ci);
  ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
  PGresult *r = PQexec(c, "SET TimeZone = 'Asia/Kolkata'");
  ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  return c;
}

static PGresult *run(PGconn *c, const char *sql, int binary) {
  PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, binary);
  ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
  return r;
}

/* Renders every row of sql both ways; returns the rows compared. A row the
 * text form cannot render (a year past 9999 in the session's zone) must
 * still render from binary; *text_failed counts them. */
static int compare(PGconn *c, const char *sql, int *text_failed) {
  PGresult *t = run(c, sql, 0), *b = run(c, sql, 1);
  ck_assert_int_eq(PQntuples(t), PQntuples(b));
  ck_assert_int_eq(PQfformat(b, 5), 1);
  core_buf_t jt, jb;
  core_buf_init(&jt);
  core_buf_init(&jb);
  for (int i = 0; i < PQntuples(t); i++) {
    core_buf_reset(&jt);
    core_buf_reset(&jb);
    ck_assert_int_eq(api_item_json(&jb, b, i), 0);
    if (api_item_json(&jt, t, i) != 0) {
      (*text_failed)++;
      continue;
    }
    core_buf_putc(&jt, '\0');
    core_buf_putc(&jb, '\0');
    ck_assert_str_eq(jb.data, jt.data);
  }
  int n = PQntuples(t);
  core_buf_free(&jt);
  core_buf_free(&jb);
  PQclear(t);
  PQclear(b);
  return n;
}

START_TEST(seeded_items_same_bytes) {
  PGconn *c = connect_fixture();
  int text_failed = 0;
  int n =
      compare(c,
              "SELECT id, name, description, price_cents, tags, created_at, updated_at "
              "FROM items ORDER BY id",
              &text_failed);
  ck_assert_int_gt(n, 100);
  ck_assert_int_eq(text_failed, 0);
  PQfinish(c);
}
END_TEST

START_TEST(edge_rows_same_bytes) {
  PGconn *c = connect_fixture();
  int text_failed = 0;
  int n =
      compare(c,
              "SELECT id::bigint, name, description, price_cents::bigint, tags::text[], "
              "created_at::timestamptz, updated_at::timestamptz FROM (VALUES "
              "(1, 'a', NULL, 0, '{}', '2000-01-01 00:00:00+00', '1999-12-31 "
              "23:59:59.999999+00'), "
              "(9223372036854775807, 'é \"q\" \\\\', 'd', -9223372036854775808, "
              " ARRAY['x y', 'q\"', 'b\\\\s', 'NULL', NULL, '', '{,}', 'é'], "
              " '1969-12-31 23:59:59.000001+00', '1970-01-01 00:00:00.000999+00'), "
              "(3, '', '', 1, ARRAY[NULL]::text[], '0001-01-01 00:00:00+00', "
              " '9999-12-31 23:59:59.999999+00'), "
              "(4, 'n', 'x', 2, ARRAY['only'], '1900-06-15 12:34:56.789+00', "
              " '2026-12-02 15:00:00.5+05:30')"
              ") v(id, name, description, price_cents, tags, created_at, updated_at)",
              &text_failed);
  ck_assert_int_eq(n, 4);
  ck_assert_int_eq(text_failed, 1); /* 9999-12-31 23:59:59 UTC is 10000 in Kolkata */
  PGresult *b = run(c,
                    "SELECT 3::bigint, ''::text, ''::text, 1::bigint, '{}'::text[], "
                    "'9999-12-31 23:59:59.999999+00'::timestamptz, "
                    "'0001-01-01 00:00:00+00'::timestamptz",
                    1);
  core_buf_t j;
  core_buf_init(&j);
  ck_assert_int_eq(api_item_json(&j, b, 0), 0);
  core_buf_putc(&j, '\0');
  ck_assert_str_eq(j.data,
                   "{\"id\":3,\"name\":\"\",\"description\":\"\",\"price_cents\":1,"
                   "\"tags\":[],\"created_at\":\"9999-12-31T23:59:59.999Z\","
                   "\"updated_at\":\"0001-01-01T00:00:00.000Z\"}");
  core_buf_free(&j);
  PQclear(b);
  PQfinish(c);
}
END_TEST

int main(void) {
  Suite *s = suite_create("binary");
  TCase *tc = tcase_create("items");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, seeded_items_same_bytes);
  tcase_add_test(tc, edge_rows_same_bytes);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
