/* The end of a process's loop. Every process (primary, worker, the single
 * process of --workers 0) closes its loop at exit; a loop that still has
 * handles open means an owner forgot one. In debug builds (and so the
 * sanitizer builds, which the integration suites run) that fails the exit,
 * with the handles listed, as libuv's own tests do (MAKE_VALGRIND_HAPPY). */
#include <stdio.h>

#include "internal.h"

int cluster_loop_close(uv_loop_t *loop, const char *fields) {
  /* Close callbacks still due run first; nothing else can start. */
  uv_run(loop, UV_RUN_NOWAIT);
  int rc = uv_loop_close(loop);
  if (rc == 0)
    return 0;
  LOG_ERROR(fields, "the loop closed with handles open (listed on stderr)");
  fprintf(stderr, "open handles ([R]ef'd, [A]ctive, [I]nternal):\n");
  uv_print_all_handles(loop, stderr);
#ifdef NDEBUG
  return 0;
#else
  return rc;
#endif
}
