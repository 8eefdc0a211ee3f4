/* The runner for looplab-load's unit suites. Fork mode (Check's default)
 * isolates a crash to its test. */
#include <check.h>
#include <stdlib.h>

Suite *loadgen_hist_suite(void);
Suite *loadgen_opts_suite(void);

int main(void) {
  SRunner *sr = srunner_create(loadgen_hist_suite());
  int failed;

  srunner_add_suite(sr, loadgen_opts_suite());
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
