/* The db pool without a server: argument checks, error strings, and the
 * unavailable path (a socket directory where nothing listens), each ending
 * with uv_loop_close() == 0. The rest is in test/integration/test_db_pool.c. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "db/db.h"

static const db_stmt_t stmts[] = {{"one", "select 1", 0, 0}};

static int closed;
static void on_closed(void *data) {
  closed++;
}

START_TEST(t_strerror) {
  ck_assert_str_eq(db_strerror(DB_EUNAVAIL), "database unavailable");
  ck_assert_str_eq(db_strerror(DB_ECLOSING), "pool closing");
  ck_assert_str_eq(db_strerror(DB_ETIMEDOUT), "query timed out");
  ck_assert_str_eq(db_strerror(DB_EBUSY), "connection busy");
  ck_assert_str_eq(db_strerror(DB_ELOST), "connection lost with the query in flight");
  ck_assert_str_eq(db_strerror(DB_OK), "ok");
}
END_TEST

START_TEST(t_bad_options) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  db_pool_t *p = NULL;
  db_pool_opts_t o = {
      .conninfo = "host=/nonexistent", .size = 0, .stmts = stmts, .nstmts = 1};
  ck_assert_int_eq(db_pool_new(&loop, &o, &p), UV_EINVAL);
  o.size = 1;
  o.conninfo = "host='unterminated";
  ck_assert_int_eq(db_pool_new(&loop, &o, &p), UV_EINVAL);
  o.conninfo = "nosuchkey=1";
  ck_assert_int_eq(db_pool_new(&loop, &o, &p), UV_EINVAL);
  ck_assert_ptr_null(p);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(t_close_at_once) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  db_pool_t *p = NULL;
  db_pool_opts_t o = {.conninfo = "host=/nonexistent-looplab dbname=x",
                      .size = 3,
                      .stmts = stmts,
                      .nstmts = 1};
  ck_assert_int_eq(db_pool_new(&loop, &o, &p), 0);
  closed = 0;
  db_pool_close(p, on_closed, NULL);
  db_pool_close(p, on_closed, NULL); /* a second close is ignored */
  ck_assert_int_eq(closed, 0);       /* the callback comes from the loop */
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(closed, 1);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static int fired, fired_status;
static void on_acquire(void *data, int status, db_conn_t *conn) {
  fired++;
  fired_status = status;
}

START_TEST(t_down_fails_fast) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  char dir[] = "/tmp/looplab-nopg-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char ci[128];
  snprintf(ci, sizeof(ci), "host=%s dbname=x user=x", dir);
  db_pool_t *p = NULL;
  db_pool_opts_t o = {.conninfo = ci, .size = 2, .stmts = stmts, .nstmts = 1};
  ck_assert_int_eq(db_pool_new(&loop, &o, &p), 0);
  fired = 0;
  int rc = db_pool_acquire(p, on_acquire, NULL);
  uint64_t t0 = uv_now(&loop);
  while (rc == 0 && !fired && uv_now(&loop) - t0 < 3000) uv_run(&loop, UV_RUN_ONCE);
  if (rc == 0) {
    ck_assert_int_eq(fired, 1);
    rc = fired_status;
  }
  ck_assert_int_eq(rc, DB_EUNAVAIL);
  ck_assert_uint_lt(uv_now(&loop) - t0, 2000);
  db_pool_stats_t st;
  db_pool_stats(p, &st);
  ck_assert_int_eq(st.healthy, 0);
  ck_assert_int_eq(st.waiting, 0);
  ck_assert_int_eq(db_query(p, 0, NULL, 0, NULL, NULL), DB_EUNAVAIL);
  db_pool_close(p, NULL, NULL);
  ck_assert_int_eq(db_pool_acquire(p, on_acquire, NULL), DB_ECLOSING);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  rmdir(dir);
}
END_TEST

Suite *db_pool_suite(void) {
  Suite *s = suite_create("db_pool");
  TCase *tc = tcase_create("offline");
  tcase_add_test(tc, t_strerror);
  tcase_add_test(tc, t_bad_options);
  tcase_add_test(tc, t_close_at_once);
  tcase_add_test(tc, t_down_fails_fast);
  suite_add_tcase(s, tc);
  return s;
}
