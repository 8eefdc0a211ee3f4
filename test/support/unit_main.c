/* The unit-test runner: every suite under test/<layer>/, in fork mode so a
 * crash in one test fails that test, not the run. */
#include <check.h>
#include <stdlib.h>

#include "suites.h"

int main(void) {
  SRunner *sr = srunner_create(NULL);
  for (size_t i = 0; looplab_suites[i]; i++) srunner_add_suite(sr, looplab_suites[i]());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
