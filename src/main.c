/* looplab: parse the configuration, bring up the database (the embedded
 * one when none is configured), then run as the primary, a worker, or the
 * single process of --workers 0. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cluster/cluster.h"
#include "core/core.h"
#include "db/db.h"

static int wants_embedded(const core_config_t *cfg) {
  return cfg->db == NULL && getenv("PGHOST") == NULL;
}

int main(int argc, char **argv) {
  /* Held from the first line until the loop's handlers exist
   * (cluster_signals_start): a SIGTERM while the embedded database starts
   * or seeds then drains and stops it, instead of leaving it running. Only
   * the dynamic loader's few milliseconds before this keep the default
   * action. */
  sigset_t held;
  sigemptyset(&held);
  sigaddset(&held, SIGTERM);
  sigaddset(&held, SIGINT);
  sigaddset(&held, SIGHUP);
  sigprocmask(SIG_BLOCK, &held, NULL);
  core_malloc_tune();
  core_config_t cfg;
  char err[512];
  int rc = core_config_parse(&cfg, argc, argv, err, sizeof(err));
  if (rc == CORE_CONFIG_HELP) {
    core_config_usage(stdout);
    return 0;
  }
  if (rc == CORE_CONFIG_VERSION) {
    printf("looplab %s\n", LOOPLAB_VERSION);
    return 0;
  }
  if (rc < 0) {
    fprintf(stderr, "looplab: %s\n", err);
    core_config_free(&cfg);
    return 2;
  }
  if (api_queries_load(err, sizeof(err)) != 0) {
    fprintf(stderr, "looplab: %s\n", err);
    core_config_free(&cfg);
    return 1;
  }
  /* The statements as every implementation must send them (the peers
   * answer the same variable the same way; a test compares them). */
  const char *pq = getenv("LOOPLAB_PRINT_QUERIES");
  if (pq && strcmp(pq, "1") == 0) {
    core_buf_t b;
    core_buf_init(&b);
    api_queries_json(&b);
    printf("%.*s\n", (int)b.len, b.data);
    core_buf_free(&b);
    core_config_free(&cfg);
    return 0;
  }
  const char *id = getenv(CLUSTER_WORKER_ENV);
  int worker_id = id ? atoi(id) : 0;
  core_log_init(cfg.log_level, NULL);
  if (worker_id > 0) {
    rc = cluster_worker_run(&cfg, cfg.db ? cfg.db : "", worker_id);
    core_config_free(&cfg);
    return rc;
  }

  db_embedded_t pg;
  memset(&pg, 0, sizeof(pg));
  const char *conninfo = cfg.db ? cfg.db : "";
  if (wants_embedded(&cfg)) {
    LOG_INFO(NULL, "starting the embedded PostgreSQL in %s (scale %g)", cfg.data_dir,
             cfg.scale);
    if (db_embedded_start(&pg, cfg.data_dir, cfg.scale, err, sizeof(err)) != 0) {
      LOG_ERROR(NULL, "embedded PostgreSQL: %s", err);
      core_config_free(&cfg);
      return 1;
    }
    conninfo = pg.conninfo;
  }
  if (cfg.workers == 0)
    rc = cluster_worker_run(&cfg, conninfo, 0);
  else
    rc = cluster_primary_run(&cfg, conninfo, argv);
  if (pg.started) {
    LOG_INFO(NULL, "stopping the embedded PostgreSQL");
    db_embedded_stop(&pg);
  }
  core_config_free(&cfg);
  return rc;
}
