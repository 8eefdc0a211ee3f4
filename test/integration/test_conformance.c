/* The conformance data of test/conformance/ through a live cluster, in
 * every strategy and mode: W2 dashboards (scale 1, the fixture "pg1") with
 * ?queries=sequential, parallel and pipeline; W3 transforms with ?mode=loop
 * and pool; the scripted W1 sequence. The runner (looplab-conform) does the
 * comparing; this test starts the server and runs it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

static th_server_t srv;

static void conform(const char *only, const char *query) {
  const char *bin = getenv("LOOPLAB_CONFORM");
  const char *src = getenv("LOOPLAB_SOURCE_DIR");
  TH_ASSERT(bin && src, "LOOPLAB_CONFORM and LOOPLAB_SOURCE_DIR must be set");
  char cmd[2048];
  snprintf(cmd, sizeof(cmd),
           "'%s' --url http://127.0.0.1:%d --dir '%s/test/conformance' --only %s%s%s",
           bin, srv.port, src, only, query ? " --query " : "", query ? query : "");
  fprintf(stderr, "%s\n", cmd);
  int st = system(cmd);
  TH_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0,
            "%s %s: conformance failed (see above)", only, query ? query : "");
}

START_TEST(dashboard_every_strategy) {
  conform("dashboard", "queries=sequential");
  conform("dashboard", "queries=parallel");
  conform("dashboard", "queries=pipeline");
}
END_TEST

START_TEST(transform_every_mode) {
  conform("transform", "mode=loop");
  conform("transform", "mode=pool");
}
END_TEST

START_TEST(items_script) {
  conform("items", NULL);
}
END_TEST

static void setup(void) {
  const char *args[] = {"--workers", "2", "--pool", "4", NULL};
  th_server_start(&srv, args);
}

static void teardown(void) {
  th_server_stop(&srv, 5000);
  TH_ASSERT_CLEAN(&srv, "conformance server");
}

int main(void) {
  Suite *s = suite_create("conformance");
  TCase *tc = tcase_create("live");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, dashboard_every_strategy);
  tcase_add_test(tc, transform_every_mode);
  tcase_add_test(tc, items_script);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
