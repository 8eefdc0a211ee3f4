/* cluster: Node's cluster model. A primary forks (spawns) N workers, each
 * with its own loop, and hands them connections (rr), the listen socket
 * (none), or lets each bind its own (reuseport). With --workers 0 one
 * process serves alone, as plain `node server.js` does. */
#ifndef LOOPLAB_CLUSTER_H
#define LOOPLAB_CLUSTER_H

#include "core/core.h"

/* The environment variable that makes a process a worker; its value is
 * the worker's id (1..N). The IPC pipe to the primary is fd 3. */
#define CLUSTER_WORKER_ENV "LOOPLAB_WORKER_ID"

/* Runs the primary until it has drained; conninfo is the database every
 * worker uses. Returns the process exit status. */
int cluster_primary_run(const core_config_t *cfg, const char *conninfo, char **argv);

/* Runs a worker (id >= 1, IPC on fd 3) or the single process (id 0) until
 * it has drained. Returns the process exit status. */
int cluster_worker_run(const core_config_t *cfg, const char *conninfo, int id);

#endif
