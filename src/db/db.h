/* db: PostgreSQL for an event loop. A pool of non-blocking libpq
 * connections per worker, statements prepared once per connection,
 * automatic pipelining with a sync point per request, a FIFO wait queue,
 * reconnection with back-off; and, for start-up only, the embedded
 * PostgreSQL and the schema/seed loader.
 *
 * Loop rule: nothing in the pool ever blocks. Only PQconnectStartParams,
 * PQconnectPoll, PQsendPrepare, PQsendQueryPrepared, PQconsumeInput,
 * PQisBusy, PQgetResult, PQflush and the pipeline calls run on a loop. */
#ifndef LOOPLAB_DB_H
#define LOOPLAB_DB_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct db_pool_s db_pool_t;
typedef struct db_conn_s db_conn_t;

/* Error codes (negative, like libuv's). */
enum {
  DB_OK = 0,
  DB_EUNAVAIL = -20001,  /* no connection to PostgreSQL could be had: answer 503 */
  DB_EQUERY = -20002,    /* PostgreSQL answered with an error: res holds it */
  DB_ECLOSING = -20003,  /* the pool is closing */
  DB_ETIMEDOUT = -20004, /* the query did not complete within query_timeout_ms */
  DB_EBUSY = -20005,     /* db_conn_query/pipeline on a connection with one in flight */
  DB_ELOST = -20006      /* the connection broke with the query sent and its sync
                            point not reached: a write may or may not have
                            committed (answer 503, outcome unknown) */
};
const char *db_strerror(int code);

/* A statement prepared on every connection as soon as it connects. Statement
 * ids are indexes into the array given to db_pool_new. Params are text;
 * results are text, or binary (every column) when binary is set. */
typedef struct db_stmt_s {
  const char *name;
  const char *sql;
  int nparams;
  int binary;
} db_stmt_t;

typedef struct db_pool_opts_s {
  const char *conninfo;   /* libpq conninfo string or URI */
  const char *name;       /* in log lines; NULL: "PostgreSQL" (copied) */
  int size;               /* connections, >= 1 */
  const db_stmt_t *stmts; /* borrowed: must outlive the pool */
  int nstmts;
  int connect_timeout_ms;   /* per attempt; default 1000 */
  int unavailable_after_ms; /* waiters fail with DB_EUNAVAIL after this
                               long with no healthy connection; default 1000 */
  int query_timeout_ms;     /* 0: none; the oldest unit in flight on a
                               connection that passes it breaks the
                               connection, failing every unit on it */
  int unnamed;              /* 1: nothing prepared; every statement sent
                               unnamed with its text (PQsendQueryParams), so
                               any server connection behind a transaction
                               pooler (PgBouncer) may run it */
  int pipeline_depth;       /* units (one request's statements and their
                               sync point) in flight per connection when
                               none is idle; 0 or 1: no pipelining */
} db_pool_opts_t;

/* Creates the pool and starts connecting all connections at once; returns
 * at once (never blocks). 0 or a negative code. */
int db_pool_new(uv_loop_t *loop, const db_pool_opts_t *opts, db_pool_t **out);

/* Fails every waiter and in-flight query with DB_ECLOSING (their callbacks
 * fire, from inside this call), closes every handle, frees the pool, then
 * calls cb (may be NULL) from the loop. A connection still held by an
 * acquirer stays valid until its db_pool_release (db_conn_query on it
 * returns DB_ECLOSING); the pool is freed after the last release. A second
 * call is ignored. */
typedef void (*db_close_cb)(void *data);
void db_pool_close(db_pool_t *pool, db_close_cb cb, void *data);

/* Statistics, for /metrics and /readyz. depth[i] counts the units sent
 * while i + 1 were in flight on their connection, themselves included
 * (the last slot: DB_DEPTH_SLOTS or more); since the pool started. */
#define DB_DEPTH_SLOTS 64
typedef struct db_pool_stats_s {
  int size;
  int healthy;              /* connected and prepared */
  int in_use;               /* acquired, or with units in flight */
  int waiting;              /* in the FIFO queue */
  int inflight;             /* units sent and not yet at their sync point */
  unsigned long reconnects; /* connection attempts after each slot's first */
  uint64_t depth[DB_DEPTH_SLOTS];
} db_pool_stats_t;
void db_pool_stats(const db_pool_t *pool, db_pool_stats_t *out);

/* res is owned by the pool and valid only during the callback (the pool
 * PQclears it after). status: DB_OK with a PGRES_TUPLES_OK/COMMAND_OK res,
 * DB_EQUERY with the error res, or another negative code with res NULL. */
typedef void (*db_result_cb)(void *data, int status, PGresult *res);

/* One query on any connection, as its own unit: sent on an idle connection,
 * else pipelined on the shared connection with the fewest units in flight
 * (below pipeline_depth), else queued. cb fires once, at the query's sync
 * point: a write it reports DB_OK has committed. params are NUL-terminated
 * text or NULL for SQL NULL; they are copied before this returns. Returns 0 (cb will fire
 * exactly once, never from inside this call) or a negative code (cb will not fire):
 * DB_EUNAVAIL when the pool is known to be down (every connection's last attempt failed),
 * DB_ECLOSING, UV_EINVAL for a bad statement id or parameter count.
 * Waiters are served in FIFO order; with no healthy connection a waiter
 * gets DB_EUNAVAIL within unavailable_after_ms. A query in flight on a
 * connection that breaks gets DB_ELOST; it is never retried. */
int db_query(db_pool_t *pool, int stmt, const char *const *params, int nparams,
             db_result_cb cb, void *data);

/* Several queries as one unit on any shared connection, with one sync
 * point after the last (the W2 pipeline strategy): as db_query, and the
 * calls' and done's rules of db_conn_pipeline. calls is copied. */
typedef struct db_call_s db_call_t;
typedef void (*db_done_cb)(void *data, int status);
int db_pipeline(db_pool_t *pool, const db_call_t *calls, int n, db_done_cb done,
                void *data);

/* A connection of one's own (sequential strategies): nothing else is sent
 * on it while it is held. cb fires once,
 * always from the loop (never inside this call), with a connection or with
 * a negative status and conn NULL. The holder must call db_pool_release
 * exactly once. Same return codes as db_query, and the same rule for
 * db_conn_query and db_conn_pipeline: 0 and exactly one later callback
 * (per call, then done), or a negative code and none. A send that fails
 * after the call has accepted the work is reported from the loop.
 *
 * db_conn_query: one query at a time per connection (DB_EBUSY otherwise;
 * issue the next from the previous one's callback). DB_EUNAVAIL if the
 * connection broke while held (DB_ELOST to a query in flight on it):
 * release it, the pool re-opens it.
 * db_pool_release with a query in flight returns the connection after that
 * query's callback. */
typedef void (*db_acquire_cb)(void *data, int status, db_conn_t *conn);
int db_pool_acquire(db_pool_t *pool, db_acquire_cb cb, void *data);
int db_conn_query(db_conn_t *conn, int stmt, const char *const *params, int nparams,
                  db_result_cb cb, void *data);
void db_pool_release(db_conn_t *conn);

/* The n calls in one unit with one sync point; cb fires once per call, in
 * order, as each statement ends, then done fires once at the sync point
 * with the first non-OK status (or DB_OK). After a call fails, the rest of
 * the unit is not run: their cb get DB_EQUERY with a PGRES_PIPELINE_ABORTED
 * res. calls is copied; each params array must stay valid only until this
 * returns. Returns 0 or a negative code (no callback fires), as
 * db_conn_query. */
struct db_call_s {
  int stmt;
  const char *const *params;
  int nparams;
  db_result_cb cb;
  void *data;
};
int db_conn_pipeline(db_conn_t *conn, const db_call_t *calls, int n, db_done_cb done,
                     void *data);

/* Start-up only (blocking, before any loop runs). */

/* Loads sql/schema.sql, sql/seed.sql and sql/indexes.sql (embedded in the
 * binary) at the given scale in one transaction, then ANALYZE, unless the
 * meta table already holds a seed of that scale. Blocking: start-up and
 * tests only. 0 or a negative code with a message in err. */
int db_schema_load(const char *conninfo, double scale, char *err, size_t errlen);

/* The embedded PostgreSQL: initdb into data_dir on first use, listen on a
 * Unix socket only, run as the postgres user when we are root, create the
 * looplab database and load it at scale. conninfo receives a libpq string.
 * Blocking: start-up and tests only. */
typedef struct db_embedded_s {
  /* in: set before db_embedded_start (which keeps it), zero otherwise */
  int fast; /* throwaway cluster: initdb --no-sync, fsync off (tests only) */
  /* out */
  char data_dir[1024]; /* absolute */
  char socket_dir[1024];
  char conninfo[1200]; /* for the looplab database */
  int port;
  int started;        /* 1 when this process started the postmaster */
  int tmp_socket_dir; /* socket_dir is ours under /tmp (data_dir too long) */
  int owner;          /* 1 while this process holds data_dir's owner lock */
  int owner_fd;       /* the locked directory (private) */
} db_embedded_t;
/* Takes data_dir's owner lock first (docs/data.md): a data_dir owned by a
 * live looplab is refused (DB_EUNAVAIL, nothing touched). A postmaster left
 * running there by an owner that is gone is stopped and a fresh one
 * started. On failure nothing is left running and the lock is released;
 * db_embedded_stop releases it. */
int db_embedded_start(db_embedded_t *e, const char *data_dir, double scale, char *err,
                      size_t errlen);
/* Stops the postmaster this process started (pg_ctl stop -m fast); waits. */
void db_embedded_stop(db_embedded_t *e);
/* Stops whatever postmaster runs in data_dir, unless a live looplab owns
 * it (then DB_EUNAVAIL); waits. 0 also when none runs. */
int db_embedded_stop_dir(const char *data_dir, char *err, size_t errlen);
/* A conninfo for another database of the same server, and creating one
 * (if missing): for tests that want a database of their own. */
int db_embedded_conninfo(const db_embedded_t *e, const char *dbname, char *out,
                         size_t outlen);
int db_embedded_create_db(db_embedded_t *e, const char *dbname, char *err, size_t errlen);

#endif
