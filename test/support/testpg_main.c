/* looplab-testpg: the throwaway PostgreSQL shared by the integration tests
 * (the ctest fixture "pg").
 *
 *   looplab-testpg start DIR   initdb (if needed) and start in DIR/data, seed
 *                              at LOOPLAB_TEST_SCALE (default 0.05), write the
 *                              conninfo as one line to DIR/conninfo, exit 0
 *                              with the server left running (detached)
 *   looplab-testpg stop DIR    stop it
 *
 * A leftover DIR from an earlier run is fine: a postmaster still running
 * there is stopped and a fresh one started; the seed is kept when its scale
 * matches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "db/db.h"

static int start(const char *dir) {
  char data[1024], path[1100], err[2048];
  const char *s = getenv("LOOPLAB_TEST_SCALE");
  double scale = s && *s ? strtod(s, NULL) : 0.05;
  snprintf(data, sizeof(data), "%s/data", dir);
  db_embedded_t e;
  memset(&e, 0, sizeof(e));
  e.fast = 1;
  if (db_embedded_start(&e, data, scale, err, sizeof(err)) != 0) {
    fprintf(stderr, "looplab-testpg: %s\n", err);
    return 1;
  }
  snprintf(path, sizeof(path), "%s/conninfo", dir);
  FILE *f = fopen(path, "w");
  if (!f || fprintf(f, "%s\n", e.conninfo) < 0 || fclose(f) != 0) {
    perror(path);
    db_embedded_stop(&e);
    return 1;
  }
  return 0;
}

static int stop(const char *dir) {
  char data[1024], err[2048], path[1100];
  snprintf(data, sizeof(data), "%s/data", dir);
  snprintf(path, sizeof(path), "%s/conninfo", dir);
  remove(path);
  if (db_embedded_stop_dir(data, err, sizeof(err)) != 0) {
    fprintf(stderr, "looplab-testpg: %s\n", err);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  core_log_init(CORE_LOG_WARN, "looplab-testpg");
  if (argc == 3 && strcmp(argv[1], "start") == 0)
    return start(argv[2]);
  if (argc == 3 && strcmp(argv[1], "stop") == 0)
    return stop(argv[2]);
  fprintf(stderr, "usage: looplab-testpg start|stop DIR\n");
  return 2;
}
