/* Configuration: defaults mirror SPEC section 3; env twins; flags win; bad
 * values are refused with a message. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static int parse(core_config_t *c, char *err, int argc, ...) {
  char *argv[32] = {"looplab"};
  va_list ap;
  va_start(ap, argc);
  for (int i = 0; i < argc; i++) argv[i + 1] = va_arg(ap, char *);
  va_end(ap);
  return core_config_parse(c, argc + 1, argv, err, 256);
}

START_TEST(defaults) {
  core_config_t c;
  char err[256];
  unsetenv("PORT");
  unsetenv("WORKERS");
  ck_assert_int_eq(parse(&c, err, 0), CORE_CONFIG_OK);
  ck_assert_str_eq(c.host, "127.0.0.1");
  ck_assert_int_eq(c.port, 8080);
  ck_assert_int_eq(c.workers, 8);
  ck_assert_int_eq(c.sched, CORE_SCHED_RR);
  ck_assert_int_eq(c.pool, 8);
  ck_assert_int_eq(c.queries, CORE_QUERIES_PARALLEL);
  ck_assert_int_eq(c.transform, CORE_TRANSFORM_POOL);
  ck_assert_int_eq((int)c.body_limit, 1048576);
  ck_assert_int_eq(c.max_header_size, 16384);
  ck_assert_int_eq((int)c.keep_alive_timeout, 5000);
  ck_assert_int_eq((int)c.headers_timeout, 60000);
  ck_assert_int_eq((int)c.request_timeout, 300000);
  ck_assert_int_eq(c.log_level, CORE_LOG_INFO);
  ck_assert_int_eq(c.debug_endpoints, 0);
  core_config_free(&c);
}
END_TEST

START_TEST(env_then_flags) {
  core_config_t c;
  char err[256];
  setenv("PORT", "9000", 1);
  setenv("LOOPLAB_SCHED_POLICY", "none", 1);
  ck_assert_int_eq(parse(&c, err, 2, "--port", "9100"), CORE_CONFIG_OK);
  ck_assert_int_eq(c.port, 9100);
  ck_assert_int_eq(c.sched, CORE_SCHED_NONE);
  core_config_free(&c);
  ck_assert_int_eq(
      parse(&c, err, 3, "--workers=0", "--debug-endpoints", "--queries=pipeline"),
      CORE_CONFIG_OK);
  ck_assert_int_eq(c.port, 9000);
  ck_assert_int_eq(c.workers, 0);
  ck_assert_int_eq(c.debug_endpoints, 1);
  ck_assert_int_eq(c.queries, CORE_QUERIES_PIPELINE);
  core_config_free(&c);
  unsetenv("PORT");
  unsetenv("LOOPLAB_SCHED_POLICY");
}
END_TEST

START_TEST(bad_values) {
  core_config_t c;
  char err[256];
  ck_assert_int_lt(parse(&c, err, 2, "--port", "70000"), 0);
  ck_assert_ptr_nonnull(strstr(err, "--port"));
  core_config_free(&c);
  ck_assert_int_lt(parse(&c, err, 2, "--sched", "random"), 0);
  core_config_free(&c);
  ck_assert_int_lt(parse(&c, err, 1, "--nope"), 0);
  ck_assert_ptr_nonnull(strstr(err, "unknown option"));
  core_config_free(&c);
  ck_assert_int_lt(parse(&c, err, 1, "--pool"), 0);
  core_config_free(&c);
  ck_assert_int_lt(parse(&c, err, 2, "--workers", "-1"), 0);
  core_config_free(&c);
  setenv("WORKERS", "many", 1);
  ck_assert_int_lt(parse(&c, err, 0), 0);
  ck_assert_ptr_nonnull(strstr(err, "WORKERS"));
  unsetenv("WORKERS");
  core_config_free(&c);
  ck_assert_int_eq(parse(&c, err, 1, "--help"), CORE_CONFIG_HELP);
  core_config_free(&c);
}
END_TEST

/* --db-read and its companions: a comma list of routes (each once, at
 * least one, nothing else), a conninfo checked before anything starts. */
START_TEST(read_pool_flags) {
  core_config_t c;
  char err[256];
  unsetenv("LOOPLAB_READ_ROUTES");
  ck_assert_int_eq(parse(&c, err, 0), CORE_CONFIG_OK);
  ck_assert_ptr_null(c.db_read);
  ck_assert_int_eq(c.read_routes, CORE_READ_DASHBOARD);
  ck_assert_int_eq(c.read_pool, 0);
  ck_assert_int_eq(c.read_fallback, 0);
  core_config_free(&c);
  ck_assert_int_eq(parse(&c, err, 6, "--db-read", "host=/tmp port=5433", "--read-routes",
                         "items,dashboard", "--read-pool", "3"),
                   CORE_CONFIG_OK);
  ck_assert_str_eq(c.db_read, "host=/tmp port=5433");
  ck_assert_int_eq(c.read_routes, CORE_READ_DASHBOARD | CORE_READ_ITEMS);
  ck_assert_int_eq(c.read_pool, 3);
  core_config_free(&c);
  setenv("LOOPLAB_READ_ROUTES", "items", 1);
  setenv("LOOPLAB_READ_FALLBACK", "1", 1);
  ck_assert_int_eq(parse(&c, err, 0), CORE_CONFIG_OK);
  ck_assert_int_eq(c.read_routes, CORE_READ_ITEMS);
  ck_assert_int_eq(c.read_fallback, 1);
  core_config_free(&c);
  unsetenv("LOOPLAB_READ_ROUTES");
  unsetenv("LOOPLAB_READ_FALLBACK");
  const char *bad[] = {"",     "items,",          ",items",           "items,items",
                       "item", "dashboard;items", "dashboard,,items", NULL};
  for (int i = 0; bad[i]; i++) {
    ck_assert_msg(parse(&c, err, 2, "--read-routes", bad[i]) < 0, "'%s' accepted",
                  bad[i]);
    ck_assert_msg(strstr(err, "--read-routes") != NULL, "'%s': %s", bad[i], err);
    core_config_free(&c);
  }
  ck_assert_int_lt(parse(&c, err, 2, "--db-read", "port=5432 nosuchkey=1"), 0);
  ck_assert_ptr_nonnull(strstr(err, "--db-read"));
  core_config_free(&c);
}
END_TEST

Suite *core_config_suite(void) {
  Suite *s = suite_create("core_config");
  TCase *tc = tcase_create("parse");
  tcase_add_test(tc, defaults);
  tcase_add_test(tc, env_then_flags);
  tcase_add_test(tc, bad_values);
  tcase_add_test(tc, read_pool_flags);
  suite_add_tcase(s, tc);
  return s;
}
