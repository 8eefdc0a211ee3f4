/* The db pool against the real PostgreSQL of the "pg" fixture
 * (LOOPLAB_TEST_PG_DIR/conninfo): queries, acquire, pipeline, FIFO order,
 * an unreachable server, reconnection after the backend is terminated,
 * closing with work in flight, a send failing inside the call (its
 * callback still comes from the loop), and the seed's determinism. Every test ends
 * with uv_loop_close() == 0: no handle may outlive the pool. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "db/cork.h"
#include "db/db.h"

enum {
  S_ONE,
  S_SLEEP,
  S_PID,
  S_TERM,
  S_DIV,
  S_COUNT,
  S_ECHO,
  S_INS,
  S_ROWS,
  S_SELFTERM,
  S_PREPARED
};
static const db_stmt_t stmts[] = {
    {"one", "select $1::int + 1", 1, 0},
    {"sleep", "select pg_sleep($1::float8)", 1, 0},
    {"pid", "select pg_backend_pid()", 0, 0},
    {"term", "select pg_terminate_backend($1::int, 5000)", 1, 0},
    {"div", "select 1 / $1::int", 1, 0},
    {"count", "select count(*) from customers", 0, 0},
    {"echo", "select $1::text", 1, 0},
    {"ins", "insert into looplab_pipe_test (k) values ($1::int) returning k", 1, 0},
    {"rows", "select count(*) from looplab_pipe_test", 0, 0},
    {"selfterm", "select pg_terminate_backend(pg_backend_pid())", 0, 0},
    {"prepared", "select count(*) from pg_prepared_statements", 0, 0},
};

static char conninfo[1200];

static void read_conninfo(void) {
  const char *dir = getenv("LOOPLAB_TEST_PG_DIR");
  ck_assert_msg(dir != NULL,
                "LOOPLAB_TEST_PG_DIR is not set (run under ctest's pg fixture)");
  char path[1100];
  snprintf(path, sizeof(path), "%s/conninfo", dir);
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot read %s", path);
  ck_assert(fgets(conninfo, sizeof(conninfo), f) != NULL);
  fclose(f);
  conninfo[strcspn(conninfo, "\n")] = '\0';
  /* The pipelining tests' table: every pool prepares "ins" on connect. */
  PGconn *c = PQconnectdb(conninfo);
  ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
  PGresult *r =
      PQexec(c,
             "set client_min_messages = warning;"
             "create table if not exists looplab_pipe_test (k int primary key)");
  ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
  PQclear(r);
  PQfinish(c);
}

/* The options every test starts from: this file's statements, no
 * pipelining, no query timeout. */
static db_pool_opts_t opts_of(const char *ci, int size) {
  db_pool_opts_t o = {0};
  o.conninfo = ci;
  o.size = size;
  o.stmts = stmts;
  o.nstmts = (int)ARRAY_SIZE(stmts);
  return o;
}

static db_pool_t *new_pool(uv_loop_t *loop, const char *ci, int size) {
  db_pool_opts_t o = opts_of(ci, size);
  db_pool_t *p = NULL;
  ck_assert_int_eq(db_pool_new(loop, &o, &p), 0);
  return p;
}

/* ---- running the loop ---- */

static int timed_out;
static void on_deadline(uv_timer_t *t) {
  timed_out = 1;
}

/* Runs the loop until *flag becomes nonzero or ms pass; 1 if the flag did. */
static int run_until(uv_loop_t *loop, int *flag, int ms) {
  uv_timer_t t;
  uv_timer_init(loop, &t);
  timed_out = 0;
  uv_timer_start(&t, on_deadline, (uint64_t)ms, 0);
  while (!*flag && !timed_out) uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return *flag != 0;
}

static int wait_healthy(uv_loop_t *loop, db_pool_t *p, int n, int ms) {
  uint64_t end = uv_now(loop) + (uint64_t)ms;
  db_pool_stats_t st;
  for (;;) {
    db_pool_stats(p, &st);
    if (st.healthy >= n || uv_now(loop) > end)
      break;
    int never = 0;
    run_until(loop, &never, 5);
  }
  return st.healthy >= n;
}

static int closed;
static void on_closed(void *data) {
  closed = 1;
}

static void close_all(uv_loop_t *loop, db_pool_t *p) {
  closed = 0;
  db_pool_close(p, on_closed, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(closed, 1);
  ck_assert_int_eq(uv_loop_close(loop), 0);
}

/* ---- result capture ---- */

typedef struct {
  int fired;
  int status;
  int order;
  char value[64];
  char sqlstate[8];
  int isnull;
  uint64_t at;
} got_t;

static int order_counter;
static uv_loop_t *cur_loop;

static void on_result(void *data, int status, PGresult *res) {
  got_t *g = data;
  ck_assert_int_eq(g->fired, 0);
  g->fired = 1;
  g->status = status;
  g->order = order_counter++;
  g->at = uv_now(cur_loop);
  if (status == DB_OK && PQntuples(res) > 0) {
    g->isnull = PQgetisnull(res, 0, 0);
    snprintf(g->value, sizeof(g->value), "%s", PQgetvalue(res, 0, 0));
  }
  if (status == DB_EQUERY && res) {
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(g->sqlstate, sizeof(g->sqlstate), "%s", s ? s : "");
  }
}

/* ---- a send that fails after the call accepted it ----
 * The test binary is linked with --wrap=PQflush: while fail_flush is set,
 * the pool's flushes fail as a broken socket's would. The pool flushes
 * what a loop iteration queued just before the loop waits, so the failure
 * comes after the call returned 0. db.h's rule: that call calls back
 * later, from the loop, exactly once. fail_flush stays set until the
 * callback (the reconnect's own flushes must work). */

int __real_PQflush(PGconn *conn);
static int fail_flush;
int __wrap_PQflush(PGconn *conn) {
  return fail_flush ? -1 : __real_PQflush(conn);
}

static int in_call;
static int fired_in_call;
static void on_result_outside(void *data, int status, PGresult *res) {
  if (in_call)
    fired_in_call++;
  fail_flush = 0;
  on_result(data, status, res);
}

typedef struct {
  db_conn_t *conn;
  int acquired;
} held_t;
static void on_held(void *data, int status, db_conn_t *conn) {
  held_t *h = data;
  ck_assert_int_eq(status, DB_OK);
  h->conn = conn;
  h->acquired = 1;
}

static int pipe_fired;
static int pipe_status;
static void on_pipe_done(void *data, int status) {
  if (in_call)
    fired_in_call++;
  fail_flush = 0;
  pipe_fired++;
  pipe_status = status;
}

START_TEST(t_send_failure_deferred) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  db_pool_t *p = new_pool(&loop, conninfo, 1);
  ck_assert(wait_healthy(&loop, p, 1, 5000));
  const char *one[] = {"1"};
  fired_in_call = 0;

  /* db_query on an idle connection. */
  got_t g = {0};
  fail_flush = 1;
  in_call = 1;
  int rc = db_query(p, S_ONE, one, 1, on_result_outside, &g);
  in_call = 0;
  ck_assert_int_eq(rc, 0);
  ck_assert_int_eq(g.fired, 0);
  ck_assert(run_until(&loop, &g.fired, 5000));
  ck_assert_int_eq(g.status, DB_ELOST);

  /* The slot reconnects; then db_conn_query and db_conn_pipeline on a held
   * connection. */
  ck_assert(wait_healthy(&loop, p, 1, 5000));
  held_t h = {0};
  ck_assert_int_eq(db_pool_acquire(p, on_held, &h), 0);
  ck_assert(run_until(&loop, &h.acquired, 5000));
  got_t g2 = {0};
  fail_flush = 1;
  in_call = 1;
  rc = db_conn_query(h.conn, S_ONE, one, 1, on_result_outside, &g2);
  in_call = 0;
  ck_assert_int_eq(rc, 0);
  ck_assert(run_until(&loop, &g2.fired, 5000));
  ck_assert_int_eq(g2.status, DB_ELOST);
  db_pool_release(h.conn);

  ck_assert(wait_healthy(&loop, p, 1, 5000));
  h.acquired = 0;
  ck_assert_int_eq(db_pool_acquire(p, on_held, &h), 0);
  ck_assert(run_until(&loop, &h.acquired, 5000));
  got_t g3[2];
  memset(g3, 0, sizeof(g3));
  db_call_t calls[2] = {{S_ONE, one, 1, on_result_outside, &g3[0]},
                        {S_ONE, one, 1, on_result_outside, &g3[1]}};
  pipe_fired = 0;
  fail_flush = 1;
  in_call = 1;
  rc = db_conn_pipeline(h.conn, calls, 2, on_pipe_done, NULL);
  in_call = 0;
  ck_assert_int_eq(rc, 0);
  ck_assert(run_until(&loop, &pipe_fired, 5000));
  ck_assert_int_eq(pipe_fired, 1);
  ck_assert_int_eq(pipe_status, DB_ELOST);
  ck_assert_int_eq(g3[0].fired + g3[1].fired, 2);
  ck_assert_int_eq(g3[0].status, DB_ELOST);
  db_pool_release(h.conn);

  ck_assert_int_eq(fired_in_call, 0);
  /* And the pool serves again. */
  ck_assert(wait_healthy(&loop, p, 1, 5000));
  got_t g4 = {0};
  ck_assert_int_eq(db_query(p, S_ONE, one, 1, on_result, &g4), 0);
  ck_assert(run_until(&loop, &g4.fired, 5000));
  ck_assert_int_eq(g4.status, DB_OK);
  ck_assert_str_eq(g4.value, "2");
  close_all(&loop, p);
}
END_TEST

/* ---- tests ---- */

START_TEST(t_query) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  db_pool_t *p = new_pool(&loop, conninfo, 2);
  got_t a = {0}, b = {0}, c = {0}, d = {0};
  const char *p41[] = {"41"}, *pnull[] = {NULL}, *pzero[] = {"0"};
  ck_assert_int_eq(db_query(p, S_ONE, p41, 1, on_result, &a), 0);
  ck_assert_int_eq(db_query(p, S_ECHO, pnull, 1, on_result, &b), 0);
  ck_assert_int_eq(db_query(p, S_DIV, pzero, 1, on_result, &c), 0);
  ck_assert_int_eq(db_query(p, S_COUNT, NULL, 0, on_result, &d), 0);
  /* Wrong statement or arity: refused, no callback. */
  ck_assert_int_eq(db_query(p, 99, NULL, 0, on_result, NULL), UV_EINVAL);
  ck_assert_int_eq(db_query(p, S_ONE, NULL, 0, on_result, NULL), UV_EINVAL);
  ck_assert(run_until(&loop, &d.fired, 5000));
  run_until(&loop, &c.fired, 5000);
  ck_assert_int_eq(a.status, DB_OK);
  ck_assert_str_eq(a.value, "42");
  ck_assert_int_eq(b.status, DB_OK);
  ck_assert_int_eq(b.isnull, 1);
  ck_assert_int_eq(c.status, DB_EQUERY);
  ck_assert_str_eq(c.sqlstate, "22012");
  ck_assert_int_eq(d.status, DB_OK);
  ck_assert_int_gt(atoi(d.value), 0);
  ck_assert(wait_healthy(&loop, p, 2, 3000));
  db_pool_stats_t st;
  db_pool_stats(p, &st);
  ck_assert_int_eq(st.size, 2);
  ck_assert_int_eq(st.healthy, 2);
  ck_assert_int_eq(st.in_use, 0);
  ck_assert_int_eq(st.waiting, 0);
  close_all(&loop, p);
}
END_TEST

/* Sequential strategy: three queries one after another on one connection,
 * each issued from the previous one's callback. */
typedef struct {
  db_conn_t *conn;
  int step;
  int done;
  char pids[3][16];
  int busy_rc;
} seq_t;

static void seq_next(void *data, int status, PGresult *res) {
  seq_t *s = data;
  ck_assert_int_eq(status, DB_OK);
  snprintf(s->pids[s->step], sizeof(s->pids[0]), "%s", PQgetvalue(res, 0, 0));
  if (++s->step == 3) {
    db_pool_release(s->conn);
    s->done = 1;
    return;
  }
  ck_assert_int_eq(db_conn_query(s->conn, S_PID, NULL, 0, seq_next, s), 0);
}

static void seq_acquired(void *data, int status, db_conn_t *conn) {
  seq_t *s = data;
  ck_assert_int_eq(status, DB_OK);
  s->conn = conn;
  ck_assert_int_eq(db_conn_query(conn, S_PID, NULL, 0, seq_next, s), 0);
  /* One query at a time per connection. */
  s->busy_rc = db_conn_query(conn, S_PID, NULL, 0, seq_next, s);
}

START_TEST(t_acquire_sequential) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  db_pool_t *p = new_pool(&loop, conninfo, 2);
  seq_t s = {0};
  ck_assert_int_eq(db_pool_acquire(p, seq_acquired, &s), 0);
  ck_assert_ptr_null(s.conn); /* never called back from inside the call */
  ck_assert(run_until(&loop, &s.done, 5000));
  ck_assert_int_eq(s.busy_rc, DB_EBUSY);
  ck_assert_str_eq(s.pids[0], s.pids[1]);
  ck_assert_str_eq(s.pids[1], s.pids[2]);
  db_pool_stats_t st;
  db_pool_stats(p, &st);
  ck_assert_int_eq(st.in_use, 0);
  close_all(&loop, p);
}
END_TEST

/* Pipeline: results in order, an error aborts the rest of that pipeline,
 * and the connection is usable afterwards. */
typedef struct {
  db_conn_t *conn;
  int acquired;
  got_t got[5];
  int done;
  int done_status;
} pipe_t;

static void pipe_done(void *data, int status) {
  pipe_t *pp = data;
  pp->done = 1;
  pp->done_status = status;
}

static void pipe_acquired(void *data, int status, db_conn_t *conn) {
  pipe_t *pp = data;
  ck_assert_int_eq(status, DB_OK);
  pp->conn = conn;
  pp->acquired = 1;
}

static void run_pipeline(uv_loop_t *loop, pipe_t *pp, const db_call_t *calls, int n) {
  memset(pp->got, 0, sizeof(pp->got));
  pp->done = 0;
  order_counter = 0;
  ck_assert_int_eq(db_conn_pipeline(pp->conn, calls, n, pipe_done, pp), 0);
  ck_assert_int_eq(db_conn_pipeline(pp->conn, calls, n, pipe_done, pp), DB_EBUSY);
  ck_assert(run_until(loop, &pp->done, 5000));
}

START_TEST(t_pipeline) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  db_pool_t *p = new_pool(&loop, conninfo, 1);
  pipe_t pp = {0};
  ck_assert_int_eq(db_pool_acquire(p, pipe_acquired, &pp), 0);
  ck_assert(run_until(&loop, &pp.acquired, 5000));
  ck_assert_ptr_nonnull(pp.conn);

  const char *p1[] = {"1"}, *p2[] = {"2"}, *p0[] = {"0"}, *hi[] = {"hé"};
  db_call_t good[5] = {{S_ONE, p1, 1, on_result, &pp.got[0]},
                       {S_ECHO, hi, 1, on_result, &pp.got[1]},
                       {S_COUNT, NULL, 0, on_result, &pp.got[2]},
                       {S_ONE, p2, 1, on_result, &pp.got[3]},
                       {S_PID, NULL, 0, on_result, &pp.got[4]}};
  run_pipeline(&loop, &pp, good, 5);
  ck_assert_int_eq(pp.done_status, DB_OK);
  for (int i = 0; i < 5; i++) {
    ck_assert_int_eq(pp.got[i].fired, 1);
    ck_assert_int_eq(pp.got[i].order, i);
    ck_assert_int_eq(pp.got[i].status, DB_OK);
  }
  ck_assert_str_eq(pp.got[0].value, "2");
  ck_assert_str_eq(pp.got[1].value, "hé");
  ck_assert_str_eq(pp.got[3].value, "3");

  db_call_t bad[3] = {{S_ONE, p1, 1, on_result, &pp.got[0]},
                      {S_DIV, p0, 1, on_result, &pp.got[1]},
                      {S_ONE, p2, 1, on_result, &pp.got[2]}};
  run_pipeline(&loop, &pp, bad, 3);
  ck_assert_int_eq(pp.done_status, DB_EQUERY);
  ck_assert_int_eq(pp.got[0].status, DB_OK);
  ck_assert_int_eq(pp.got[1].status, DB_EQUERY);
  ck_assert_str_eq(pp.got[1].sqlstate, "22012");
  ck_assert_int_eq(pp.got[2].status, DB_EQUERY); /* aborted */
  for (int i = 0; i < 3; i++) ck_assert_int_eq(pp.got[i].order, i);

  /* Out of pipeline mode again: a plain query works. */
  got_t g = {0};
  ck_assert_int_eq(db_conn_query(pp.conn, S_ONE, p2, 1, on_result, &g), 0);
  ck_assert(run_until(&loop, &g.fired, 5000));
  ck_assert_str_eq(g.value, "3");
  db_pool_release(pp.conn);
  close_all(&loop, p);
}
END_TEST

/* Pool of one: queries and acquires are served strictly in arrival order,
 * including those queued before the connection was even up. */
#define NFIFO 24
static got_t fifo_got[NFIFO];

static void fifo_acquired(void *data, int status, db_conn_t *conn) {
  got_t *g = data;
  ck_assert_int_eq(status, DB_OK);
  g->fired = 1;
  g->status = status;
  g->order = order_counter++;
  db_pool_release(conn);
}

START_TEST(t_fifo) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  db_pool_t *p = new_pool(&loop, conninfo, 1);
  order_counter = 0;
  memset(fifo_got, 0, sizeof(fifo_got));
  char nums[NFIFO][8];
  for (int i = 0; i < NFIFO; i++) {
    snprintf(nums[i], sizeof(nums[i]), "%d", i);
    const char *pr[] = {nums[i]};
    if (i % 3 == 2)
      ck_assert_int_eq(db_pool_acquire(p, fifo_acquired, &fifo_got[i]), 0);
    else
      ck_assert_int_eq(db_query(p, S_ONE, pr, 1, on_result, &fifo_got[i]), 0);
  }
  db_pool_stats_t st;
  db_pool_stats(p, &st);
  ck_assert_int_ge(st.waiting, NFIFO - 1);
  ck_assert(run_until(&loop, &fifo_got[NFIFO - 1].fired, 5000));
  for (int i = 0; i < NFIFO; i++) {
    ck_assert_int_eq(fifo_got[i].fired, 1);
    ck_assert_int_eq(fifo_got[i].status, DB_OK);
    ck_assert_int_eq(fifo_got[i].order, i);
    if (i % 3 != 2)
      ck_assert_int_eq(atoi(fifo_got[i].value), i + 1);
  }
  close_all(&loop, p);
}
END_TEST

/* Nothing listens on the socket: the pool is known down at once, and every
 * request fails with DB_EUNAVAIL well within 2 s - never a hang. */
START_TEST(t_unreachable_socket) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  char dir[] = "/tmp/looplab-nopg-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char ci[256];
  snprintf(ci, sizeof(ci), "host=%s port=5432 dbname=looplab user=postgres", dir);
  uint64_t t0 = uv_now(&loop);
  db_pool_t *p = new_pool(&loop, ci, 2);
  got_t g = {0};
  const char *p1[] = {"1"};
  int rc = db_query(p, S_ONE, p1, 1, on_result, &g);
  if (rc == 0) {
    ck_assert(run_until(&loop, &g.fired, 3000));
    rc = g.status;
  } else {
    g.at = uv_now(&loop);
  }
  ck_assert_int_eq(rc, DB_EUNAVAIL);
  ck_assert_uint_lt(g.at - t0, 2000);
  /* Known down: the next request fails fast. */
  uv_update_time(&loop);
  uint64_t t1 = uv_now(&loop);
  got_t h = {0};
  rc = db_query(p, S_ONE, p1, 1, on_result, &h);
  if (rc == 0) {
    ck_assert(run_until(&loop, &h.fired, 3000));
    rc = h.status;
  }
  ck_assert_int_eq(rc, DB_EUNAVAIL);
  uv_update_time(&loop);
  ck_assert_uint_lt(uv_now(&loop) - t1, 1500);
  close_all(&loop, p);
  rmdir(dir);
}
END_TEST

/* A server that accepts TCP connections and never answers: each attempt
 * ends at connect_timeout_ms, and a waiter fails with DB_EUNAVAIL about
 * unavailable_after_ms after it queued - not at once, and not never. */
static void on_acquire_result(void *data, int status, db_conn_t *conn) {
  got_t *g = data;
  g->fired = 1;
  g->status = status;
  g->at = uv_now(cur_loop);
  if (conn)
    db_pool_release(conn);
}

static void on_blackhole_conn(uv_stream_t *s, int status) {
  /* Never accepted: the kernel's backlog completes the handshakes. */
}

START_TEST(t_unreachable_blackhole) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  uv_tcp_t srv;
  uv_tcp_init(&loop, &srv);
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  ck_assert_int_eq(uv_tcp_bind(&srv, (const struct sockaddr *)&addr, 0), 0);
  ck_assert_int_eq(uv_listen((uv_stream_t *)&srv, 64, on_blackhole_conn), 0);
  struct sockaddr_in bound;
  int len = sizeof(bound);
  uv_tcp_getsockname(&srv, (struct sockaddr *)&bound, &len);
  char ci[256];
  snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=x user=x sslmode=disable",
           ntohs(bound.sin_port));

  db_pool_t *p = new_pool(&loop, ci, 2);
  uv_update_time(&loop);
  uint64_t t0 = uv_now(&loop);
  got_t g = {0}, a = {0};
  const char *p1[] = {"1"};
  ck_assert_int_eq(db_query(p, S_ONE, p1, 1, on_result, &g), 0);
  ck_assert_int_eq(db_pool_acquire(p, on_acquire_result, &a), DB_OK);
  ck_assert(run_until(&loop, &g.fired, 3000));
  ck_assert_int_eq(g.status, DB_EUNAVAIL);
  ck_assert_uint_lt(g.at - t0, 2000);
  ck_assert_uint_ge(g.at - t0, 500); /* it did wait for the attempts */
  ck_assert(run_until(&loop, &a.fired, 3000));
  ck_assert_int_eq(a.status, DB_EUNAVAIL);
  ck_assert_uint_lt(a.at - t0, 2000);
  uv_close((uv_handle_t *)&srv, NULL);
  close_all(&loop, p);
}
END_TEST

/* The server terminates a backend: its in-flight query fails with
 * DB_EUNAVAIL, the slot reconnects, and the next query succeeds. */
START_TEST(t_reconnect) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  db_pool_t *a = new_pool(&loop, conninfo, 1), *b = new_pool(&loop, conninfo, 1);
  got_t pid = {0};
  ck_assert_int_eq(db_query(a, S_PID, NULL, 0, on_result, &pid), 0);
  ck_assert(run_until(&loop, &pid.fired, 5000));
  ck_assert_int_eq(pid.status, DB_OK);

  got_t sleeping = {0}, term = {0};
  const char *secs[] = {"10"}, *pidp[] = {pid.value};
  ck_assert_int_eq(db_query(a, S_SLEEP, secs, 1, on_result, &sleeping), 0);
  uv_update_time(&loop);
  uint64_t t0 = uv_now(&loop);
  ck_assert_int_eq(db_query(b, S_TERM, pidp, 1, on_result, &term), 0);
  ck_assert(run_until(&loop, &sleeping.fired, 5000));
  ck_assert_int_eq(sleeping.status, DB_ELOST);
  ck_assert_uint_lt(sleeping.at - t0, 2000);
  run_until(&loop, &term.fired, 5000);
  ck_assert_str_eq(term.value, "t");

  ck_assert(wait_healthy(&loop, a, 1, 3000));
  db_pool_stats_t st;
  db_pool_stats(a, &st);
  ck_assert_uint_ge(st.reconnects, 1);
  got_t again = {0};
  ck_assert_int_eq(db_query(a, S_PID, NULL, 0, on_result, &again), 0);
  ck_assert(run_until(&loop, &again.fired, 5000));
  ck_assert_int_eq(again.status, DB_OK);
  ck_assert_str_ne(again.value, pid.value);

  /* An idle connection killed under the pool is noticed and replaced too. */
  const char *pidp2[] = {again.value};
  got_t term2 = {0};
  ck_assert_int_eq(db_query(b, S_TERM, pidp2, 1, on_result, &term2), 0);
  ck_assert(run_until(&loop, &term2.fired, 5000));
  int never = 0;
  run_until(&loop, &never, 200);
  ck_assert(wait_healthy(&loop, a, 1, 3000));
  got_t third = {0};
  ck_assert_int_eq(db_query(a, S_PID, NULL, 0, on_result, &third), 0);
  ck_assert(run_until(&loop, &third.fired, 5000));
  ck_assert_int_eq(third.status, DB_OK);
  ck_assert_str_ne(third.value, again.value);

  db_pool_close(b, NULL, NULL);
  close_all(&loop, a);
}
END_TEST

/* A query over query_timeout_ms fails with DB_ETIMEDOUT; the pool recovers. */
START_TEST(t_query_timeout) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  db_pool_opts_t o = opts_of(conninfo, 1);
  o.query_timeout_ms = 200;
  db_pool_t *p = NULL;
  ck_assert_int_eq(db_pool_new(&loop, &o, &p), 0);
  got_t g = {0}, h = {0};
  const char *secs[] = {"5"}, *p1[] = {"1"};
  ck_assert_int_eq(db_query(p, S_SLEEP, secs, 1, on_result, &g), 0);
  ck_assert_int_eq(db_query(p, S_ONE, p1, 1, on_result, &h), 0);
  ck_assert(run_until(&loop, &g.fired, 3000));
  ck_assert_int_eq(g.status, DB_ETIMEDOUT);
  ck_assert(run_until(&loop, &h.fired, 3000));
  ck_assert_int_eq(h.status, DB_OK);
  close_all(&loop, p);
}
END_TEST

/* Closing with queries in flight, waiters queued and a connection held:
 * every callback fires with DB_ECLOSING, the holder's late release is safe,
 * and no handle is left. */
static db_conn_t *held_conn;
static int held;
static void hold_acquired(void *data, int status, db_conn_t *conn) {
  ck_assert_int_eq(status, DB_OK);
  held_conn = conn;
  held = 1;
}

START_TEST(t_close_inflight) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  db_pool_t *p = new_pool(&loop, conninfo, 2);
  held_conn = NULL;
  ck_assert_int_eq(db_pool_acquire(p, hold_acquired, NULL), 0);
  held = 0;
  ck_assert(run_until(&loop, &held, 5000));
  got_t g[4] = {{0}};
  const char *secs[] = {"5"};
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(db_query(p, S_SLEEP, secs, 1, on_result, &g[i]), 0);
  int never = 0;
  run_until(&loop, &never, 50);
  closed = 0;
  db_pool_close(p, on_closed, NULL);
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(g[i].fired, 1);
    ck_assert_int_eq(g[i].status, DB_ECLOSING);
  }
  ck_assert_int_eq(db_conn_query(held_conn, S_PID, NULL, 0, on_result, &g[0]),
                   DB_ECLOSING);
  uv_run(&loop, UV_RUN_NOWAIT);
  ck_assert_int_eq(closed, 0); /* waits for the holder */
  db_pool_release(held_conn);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(closed, 1);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* ---- automatic pipelining ---- */

static db_pool_t *new_pipelined(uv_loop_t *loop, int size, int depth) {
  db_pool_opts_t o = opts_of(conninfo, size);
  o.pipeline_depth = depth;
  db_pool_t *p = NULL;
  ck_assert_int_eq(db_pool_new(loop, &o, &p), 0);
  ck_assert(wait_healthy(loop, p, size, 5000));
  return p;
}

/* One statement on a connection of its own, blocking: the test's view of
 * the table, outside the pool. */
static long sql_long(const char *sql) {
  PGconn *c = PQconnectdb(conninfo);
  ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
  PGresult *r = PQexec(c, sql);
  ck_assert_msg(
      PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK,
      "%s: %s", sql, PQresultErrorMessage(r));
  long v = PQntuples(r) > 0 ? atol(PQgetvalue(r, 0, 0)) : 0;
  PQclear(r);
  PQfinish(c);
  return v;
}

static int max_depth(db_pool_t *p) {
  db_pool_stats_t st;
  db_pool_stats(p, &st);
  int m = 0;
  for (int i = 0; i < DB_DEPTH_SLOTS; i++)
    if (st.depth[i])
      m = i + 1;
  return m;
}

/* A unique violation in the middle of a pipelined burst fails only its own
 * request: every neighbour's insert is answered and in the table once, and
 * a unit of three whose middle statement fails aborts only itself. */
#define NBURST 20
START_TEST(t_pipelined_unique_violation) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  sql_long("truncate looplab_pipe_test");
  db_pool_t *p = new_pipelined(&loop, 1, 32);
  got_t g[NBURST];
  memset(g, 0, sizeof(g));
  char keys[NBURST][8];
  order_counter = 0;
  for (int i = 0; i < NBURST; i++) {
    /* Request 10 repeats request 5's key. */
    snprintf(keys[i], sizeof(keys[i]), "%d", i == 10 ? 5 : i);
    const char *pr[] = {keys[i]};
    ck_assert_int_eq(db_query(p, S_INS, pr, 1, on_result, &g[i]), 0);
  }
  /* A unit of three in the same pipeline: 100, then 7 again, then 101. */
  got_t u[3];
  memset(u, 0, sizeof(u));
  const char *k100[] = {"100"}, *k7[] = {"7"}, *k101[] = {"101"};
  db_call_t calls[3] = {{S_INS, k100, 1, on_result, &u[0]},
                        {S_INS, k7, 1, on_result, &u[1]},
                        {S_INS, k101, 1, on_result, &u[2]}};
  pipe_fired = 0;
  ck_assert_int_eq(db_pipeline(p, calls, 3, on_pipe_done, NULL), 0);
  got_t after = {0};
  const char *k200[] = {"200"};
  ck_assert_int_eq(db_query(p, S_INS, k200, 1, on_result, &after), 0);
  ck_assert(run_until(&loop, &after.fired, 5000));
  ck_assert_int_ge(max_depth(p), NBURST); /* they really were pipelined */
  for (int i = 0; i < NBURST; i++) {
    ck_assert_int_eq(g[i].fired, 1);
    ck_assert_int_eq(g[i].order, i);
    if (i == 10) {
      ck_assert_int_eq(g[i].status, DB_EQUERY);
      ck_assert_str_eq(g[i].sqlstate, "23505");
    } else {
      ck_assert_int_eq(g[i].status, DB_OK);
      ck_assert_int_eq(atoi(g[i].value), i);
    }
  }
  ck_assert_int_eq(pipe_fired, 1);
  ck_assert_int_eq(pipe_status, DB_EQUERY);
  ck_assert_int_eq(u[0].status, DB_OK);
  ck_assert_int_eq(u[1].status, DB_EQUERY);
  ck_assert_str_eq(u[1].sqlstate, "23505");
  ck_assert_int_eq(u[2].status, DB_EQUERY); /* aborted with its unit */
  ck_assert_int_eq(after.status, DB_OK);
  /* The unit was one transaction: its first insert is gone with it. */
  ck_assert_int_eq(sql_long("select count(*) from looplab_pipe_test"), NBURST - 1 + 1);
  ck_assert_int_eq(
      sql_long("select count(*) from looplab_pipe_test where k in (100, 101)"), 0);
  ck_assert_int_eq(sql_long("select count(*) from looplab_pipe_test where k = 200"), 1);
  close_all(&loop, p);
}
END_TEST

/* on_result without its check. */
static void on_result_quiet(void *data, int status, PGresult *res) {
  got_t *g = data;
  g->fired++;
  g->status = status;
  g->order = order_counter++;
  if (status == DB_OK && PQntuples(res) > 0)
    snprintf(g->value, sizeof(g->value), "%s", PQgetvalue(res, 0, 0));
}

/* What one loop iteration queues on a connection leaves in one write
 * (libpq 15 flushes at every sync point; the pool corks the socket,
 * src/db/cork.h): 20 statements, each with its own sync point, are one
 * sendto, not 20, and every answer is still its own. */
START_TEST(t_one_write_per_iteration) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  db_pool_t *p = new_pipelined(&loop, 1, 32);
  ck_assert(wait_healthy(&loop, p, 1, 5000));
  got_t g[NBURST];
  memset(g, 0, sizeof(g));
  char vals[NBURST][8];
  order_counter = 0;
  int rc[NBURST];
  long before = (long)db_cork_sends();
  for (int i = 0; i < NBURST; i++) {
    snprintf(vals[i], sizeof(vals[i]), "%d", i);
    const char *pr[] = {vals[i]};
    rc[i] = db_query(p, S_ONE, pr, 1, on_result_quiet, &g[i]);
  }
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  timed_out = 0;
  uv_timer_start(&t, on_deadline, 5000, 0);
  while (!g[NBURST - 1].fired && !timed_out) uv_run(&loop, UV_RUN_ONCE);
  long writes = (long)db_cork_sends() - before;
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  ck_assert(g[NBURST - 1].fired);
  for (int i = 0; i < NBURST; i++) ck_assert_int_eq(rc[i], 0);
  for (int i = 0; i < NBURST; i++) {
    ck_assert_int_eq(g[i].fired, 1);
    ck_assert_int_eq(g[i].status, DB_OK);
    ck_assert_int_eq(g[i].order, i);
    ck_assert_int_eq(atoi(g[i].value), i + 1);
  }
  ck_assert_int_ge(max_depth(p), NBURST); /* all in flight at once */
  /* At least one: libpq's sends do reach cork.c's send(). */
  ck_assert_msg(writes >= 1 && writes <= 2,
                "%d statements queued in one iteration took %ld sendto calls", NBURST,
                writes);
  close_all(&loop, p);
}
END_TEST

/* A unit bigger than the socket takes at once: the push comes up short and
 * the rest leaves when the socket is writable, byte for byte (a 4 MiB
 * parameter, echoed back, beside small units before and after it). */
static void on_echo_len(void *data, int status, PGresult *res) {
  got_t *g = data;
  g->fired++;
  g->status = status;
  g->order = order_counter++;
  if (status == DB_OK && PQntuples(res) > 0) {
    const char *v = PQgetvalue(res, 0, 0);
    size_t n = strlen(v), ok = strspn(v, "x");
    snprintf(g->value, sizeof(g->value), "%zu %zu", n, ok);
  }
}

START_TEST(t_big_unit_corked) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  db_pool_t *p = new_pipelined(&loop, 1, 8);
  ck_assert(wait_healthy(&loop, p, 1, 5000));
  enum { BIG = 4 << 20 };
  char *big = xmalloc(BIG + 1);
  memset(big, 'x', BIG);
  big[BIG] = '\0';
  got_t a = {0}, b = {0}, c = {0};
  order_counter = 0;
  const char *one[] = {"1"}, *pb[] = {big}, *two[] = {"2"};
  long before = (long)db_cork_sends();
  ck_assert_int_eq(db_query(p, S_ONE, one, 1, on_result_quiet, &a), 0);
  ck_assert_int_eq(db_query(p, S_ECHO, pb, 1, on_echo_len, &b), 0);
  ck_assert_int_eq(db_query(p, S_ONE, two, 1, on_result_quiet, &c), 0);
  ck_assert(run_until(&loop, &c.fired, 10000));
  long sends = (long)db_cork_sends() - before;
  free(big);
  ck_assert_int_eq(a.status, DB_OK);
  ck_assert_str_eq(a.value, "2");
  ck_assert_int_eq(b.status, DB_OK);
  ck_assert_str_eq(b.value, "4194304 4194304");
  ck_assert_int_eq(c.status, DB_OK);
  ck_assert_str_eq(c.value, "3");
  ck_assert_int_eq(a.order, 0);
  ck_assert_int_eq(b.order, 1);
  ck_assert_int_eq(c.order, 2);
  ck_assert_msg(sends > 1,
                "4 MiB left in %ld sendto calls: the short push was not exercised",
                sends);
  close_all(&loop, p);
}
END_TEST

/* A connection that breaks with N units pipelined on it answers each of
 * them DB_EUNAVAIL exactly once (on_result asserts once), and re-sends
 * none: nothing of them is ever written, even after the slot is back. */
#define NBREAK 8
START_TEST(t_pipelined_break) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  sql_long("truncate looplab_pipe_test");
  db_pool_t *p = new_pipelined(&loop, 1, NBREAK);
  db_pool_t *killer = new_pipelined(&loop, 1, 0);
  got_t pid = {0};
  ck_assert_int_eq(db_query(p, S_PID, NULL, 0, on_result, &pid), 0);
  ck_assert(run_until(&loop, &pid.fired, 5000));
  got_t g[NBREAK];
  memset(g, 0, sizeof(g));
  const char *secs[] = {"10"};
  ck_assert_int_eq(db_query(p, S_SLEEP, secs, 1, on_result, &g[0]), 0);
  char keys[NBREAK][8];
  for (int i = 1; i < NBREAK; i++) {
    snprintf(keys[i], sizeof(keys[i]), "%d", i);
    const char *pr[] = {keys[i]};
    ck_assert_int_eq(db_query(p, S_INS, pr, 1, on_result, &g[i]), 0);
  }
  db_pool_stats_t st;
  db_pool_stats(p, &st);
  ck_assert_int_eq(st.inflight, NBREAK);
  ck_assert_int_eq(st.waiting, 0);
  int never = 0;
  run_until(&loop, &never, 100); /* all of them reach the server */
  got_t term = {0};
  const char *pidp[] = {pid.value};
  ck_assert_int_eq(db_query(killer, S_TERM, pidp, 1, on_result, &term), 0);
  ck_assert(run_until(&loop, &g[NBREAK - 1].fired, 5000));
  for (int i = 0; i < NBREAK; i++) {
    ck_assert_int_eq(g[i].fired, 1);
    ck_assert_int_eq(g[i].status, DB_ELOST);
  }
  ck_assert(wait_healthy(&loop, p, 1, 3000));
  run_until(&loop, &never, 300);
  ck_assert_int_eq(sql_long("select count(*) from looplab_pipe_test"), 0);
  got_t again = {0};
  const char *k1[] = {"1"};
  ck_assert_int_eq(db_query(p, S_INS, k1, 1, on_result, &again), 0);
  ck_assert(run_until(&loop, &again.fired, 5000));
  ck_assert_int_eq(again.status, DB_OK);
  db_pool_close(killer, NULL, NULL);
  close_all(&loop, p);
}
END_TEST

/* A unit whose sync point arrived before its connection died is answered
 * with its result, not 503: its write committed. Here the results sit in
 * the socket while the backend is gone; sends on the connection find it
 * closed, libpq reads what is there inside a send, and its next read meets
 * the end of the stream, where libpq 15 drops its queue of pipelined
 * commands: what it had read but not parsed by then is lost. */
START_TEST(t_pipelined_results_before_break) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  sql_long("truncate looplab_pipe_test");
  db_pool_t *p = new_pipelined(&loop, 1, 8);
  got_t a = {0}, b = {0}, c = {0}, d = {0};
  const char *k1[] = {"1"}, *k2[] = {"2"}, *k3[] = {"3"};
  /* libpq 15's PQpipelineSync sends at once, before the loop runs. */
  ck_assert_int_eq(db_query(p, S_INS, k1, 1, on_result, &a), 0);
  ck_assert_int_eq(db_query(p, S_SELFTERM, NULL, 0, on_result, &b), 0);
  usleep(300 * 1000); /* the backend commits a, then dies on b */
  ck_assert_int_eq(db_query(p, S_INS, k2, 1, on_result, &c), 0);
  ck_assert_int_eq(db_query(p, S_INS, k3, 1, on_result, &d), 0);
  ck_assert(run_until(&loop, &d.fired, 5000));
  ck_assert_int_eq(a.fired, 1);
  ck_assert_int_eq(a.status, DB_OK);
  ck_assert_str_eq(a.value, "1");
  ck_assert_int_eq(b.fired, 1);
  ck_assert_int_eq(c.fired, 1);
  ck_assert_int_eq(c.status, DB_ELOST);
  ck_assert_int_eq(d.fired, 1);
  ck_assert_int_eq(sql_long("select count(*) from looplab_pipe_test where k = 1"), 1);
  ck_assert_int_eq(sql_long("select count(*) from looplab_pipe_test where k = 2"), 0);
  /* d went out before the end was read (503, never executed), or after
   * it was, and then waited for the reconnect: either way it is answered
   * once and its answer matches the table. */
  ck_assert(d.status == DB_EUNAVAIL || d.status == DB_ELOST || d.status == DB_OK);
  ck_assert_int_eq(sql_long("select count(*) from looplab_pipe_test where k = 3"),
                   d.status == DB_OK);
  close_all(&loop, p);
}
END_TEST

/* unnamed (--db-prepared off, PgBouncer): nothing is prepared on the
 * session, and statements, pipelined ones included, run with their text. */
START_TEST(t_unnamed) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  for (int unnamed = 0; unnamed < 2; unnamed++) {
    db_pool_opts_t o = opts_of(conninfo, 1);
    o.pipeline_depth = 8;
    o.unnamed = unnamed;
    db_pool_t *p = NULL;
    ck_assert_int_eq(db_pool_new(&loop, &o, &p), 0);
    got_t prep = {0}, g[4];
    memset(g, 0, sizeof(g));
    const char *v[4][1] = {{"1"}, {"2"}, {"3"}, {"4"}};
    ck_assert_int_eq(db_query(p, S_PREPARED, NULL, 0, on_result, &prep), 0);
    for (int i = 0; i < 4; i++)
      ck_assert_int_eq(db_query(p, S_ONE, v[i], 1, on_result, &g[i]), 0);
    ck_assert(run_until(&loop, &g[3].fired, 5000));
    ck_assert_int_eq(prep.status, DB_OK);
    int want = unnamed ? 0 : (int)ARRAY_SIZE(stmts);
    ck_assert_int_eq(atoi(prep.value), want);
    for (int i = 0; i < 4; i++) {
      ck_assert_int_eq(g[i].status, DB_OK);
      ck_assert_int_eq(atoi(g[i].value), i + 2);
    }
    ck_assert_int_ge(max_depth(p), 2); /* pipelined in both modes */
    close_all(&loop, p);
    uv_loop_init(&loop);
  }
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* FIFO under pipelining: with every slot at the cap, requests wait in the
 * queue and are answered in the order they were made; no unit is ever
 * sent behind more than cap - 1 others (the depth histogram's highest
 * slot is the cap), and the cap is reached. An acquire in the queue waits
 * for a slot with nothing in flight, and keeps its place. */
#define NFAIR 40
#define FAIR_CAP 4
START_TEST(t_pipelined_fifo) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cur_loop = &loop;
  read_conninfo();
  db_pool_t *p = new_pipelined(&loop, 1, FAIR_CAP);
  order_counter = 0;
  memset(fifo_got, 0, sizeof(fifo_got));
  got_t g[NFAIR];
  memset(g, 0, sizeof(g));
  char nums[NFAIR][8];
  for (int i = 0; i < NFAIR; i++) {
    snprintf(nums[i], sizeof(nums[i]), "%d", i);
    const char *pr[] = {nums[i]};
    if (i == 20)
      ck_assert_int_eq(db_pool_acquire(p, fifo_acquired, &g[i]), 0);
    else
      ck_assert_int_eq(db_query(p, S_ONE, pr, 1, on_result, &g[i]), 0);
  }
  db_pool_stats_t st;
  db_pool_stats(p, &st);
  ck_assert_int_eq(st.inflight, FAIR_CAP);
  ck_assert_int_eq(st.waiting, NFAIR - FAIR_CAP);
  ck_assert(run_until(&loop, &g[NFAIR - 1].fired, 5000));
  for (int i = 0; i < NFAIR; i++) {
    ck_assert_int_eq(g[i].fired, 1);
    ck_assert_int_eq(g[i].status, DB_OK);
    ck_assert_int_eq(g[i].order, i);
  }
  ck_assert_int_eq(max_depth(p), FAIR_CAP);
  close_all(&loop, p);

  /* Two slots: the shorter queue takes the next unit, so both fill evenly
   * and neither passes the cap. */
  uv_loop_init(&loop);
  p = new_pipelined(&loop, 2, FAIR_CAP);
  memset(g, 0, sizeof(g));
  for (int i = 0; i < NFAIR; i++) {
    const char *pr[] = {nums[i]};
    ck_assert_int_eq(db_query(p, S_ONE, pr, 1, on_result, &g[i]), 0);
  }
  db_pool_stats(p, &st);
  ck_assert_int_eq(st.inflight, 2 * FAIR_CAP);
  ck_assert_int_eq(st.in_use, 2);
  ck_assert_uint_eq(st.depth[FAIR_CAP - 1], 2);
  for (int i = 0; i < NFAIR; i++) ck_assert(run_until(&loop, &g[i].fired, 5000));
  ck_assert_int_eq(max_depth(p), FAIR_CAP);
  close_all(&loop, p);
}
END_TEST

/* ---- the seed ---- */

static PGconn *connect_db(const char *dbname) {
  char ci[1400];
  snprintf(ci, sizeof(ci), "%s dbname=%s", conninfo, dbname); /* the last dbname wins */
  PGconn *c = PQconnectdb(ci);
  ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
  return c;
}

static void exec_ok(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  ck_assert_msg(
      PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
      "%s: %s", sql, PQresultErrorMessage(r));
  PQclear(r);
}

static void table_md5(PGconn *c, const char *table, const char *key, char *out,
                      size_t len) {
  char sql[512];
  snprintf(sql, sizeof(sql), "select md5(string_agg(t::text, ',' order by %s)) from %s t",
           key, table);
  PGresult *r = PQexec(c, sql);
  ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
  snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
}

START_TEST(t_seed_deterministic) {
  read_conninfo();
  PGconn *admin = connect_db("postgres");
  exec_ok(admin, "set client_min_messages = warning");
  const char *dbs[] = {"looplab_det_a", "looplab_det_b"};
  char err[1024], ci[1400];
  for (int i = 0; i < 2; i++) {
    char sql[128];
    snprintf(sql, sizeof(sql), "drop database if exists %s", dbs[i]);
    exec_ok(admin, sql);
    snprintf(sql, sizeof(sql), "create database %s", dbs[i]);
    exec_ok(admin, sql);
    snprintf(ci, sizeof(ci), "%s dbname=%s", conninfo, dbs[i]);
    ck_assert_msg(db_schema_load(ci, 0.02, err, sizeof(err)) == 0, "%s", err);
  }
  PGconn *a = connect_db(dbs[0]), *b = connect_db(dbs[1]);
  struct {
    const char *table, *key;
  } tables[] = {{"customers", "id"}, {"products", "id"},
                {"orders", "id"},    {"order_items", "order_id, line_no"},
                {"items", "id"},     {"(select as_of, scale from meta)", "as_of"}};
  for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
    char ma[64], mb[64];
    table_md5(a, tables[i].table, tables[i].key, ma, sizeof(ma));
    table_md5(b, tables[i].table, tables[i].key, mb, sizeof(mb));
    ck_assert_msg(strlen(ma) == 32 && strcmp(ma, mb) == 0, "%s differs", tables[i].table);
  }
  /* Counts follow greatest(1, round(base * S)); totals add up. */
  PGresult *r = PQexec(a,
                       "select (select count(*) from customers), (select count(*) from "
                       "products), (select count(*) from orders), (select count(*) from "
                       "items), (select sum(total_cents) from orders) = (select "
                       "sum(quantity * unit_price_cents) from order_items)");
  ck_assert_str_eq(PQgetvalue(r, 0, 0), "200");
  ck_assert_str_eq(PQgetvalue(r, 0, 1), "40");
  ck_assert_str_eq(PQgetvalue(r, 0, 2), "4000");
  ck_assert_str_eq(PQgetvalue(r, 0, 3), "2000");
  ck_assert_str_eq(PQgetvalue(r, 0, 4), "t");
  PQclear(r);

  /* Loading the same scale again is a no-op: seeded_at does not move. */
  r = PQexec(a, "select seeded_at from meta");
  char before[64];
  snprintf(before, sizeof(before), "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  snprintf(ci, sizeof(ci), "%s dbname=%s", conninfo, dbs[0]);
  ck_assert_int_eq(db_schema_load(ci, 0.02, err, sizeof(err)), 0);
  r = PQexec(a, "select seeded_at from meta");
  ck_assert_str_eq(PQgetvalue(r, 0, 0), before);
  PQclear(r);

  PQfinish(a);
  PQfinish(b);
  for (int i = 0; i < 2; i++) {
    char sql[128];
    snprintf(sql, sizeof(sql), "drop database %s", dbs[i]);
    exec_ok(admin, sql);
  }
  PQfinish(admin);
}
END_TEST

int main(void) {
  core_log_init(CORE_LOG_SILENT, "it-db_pool");
  Suite *s = suite_create("db_pool");
  TCase *tc = tcase_create("pool");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, t_query);
  tcase_add_test(tc, t_acquire_sequential);
  tcase_add_test(tc, t_pipeline);
  tcase_add_test(tc, t_fifo);
  tcase_add_test(tc, t_unreachable_socket);
  tcase_add_test(tc, t_unreachable_blackhole);
  tcase_add_test(tc, t_reconnect);
  tcase_add_test(tc, t_query_timeout);
  tcase_add_test(tc, t_close_inflight);
  tcase_add_test(tc, t_send_failure_deferred);
  tcase_add_test(tc, t_pipelined_unique_violation);
  tcase_add_test(tc, t_pipelined_break);
  tcase_add_test(tc, t_pipelined_results_before_break);
  tcase_add_test(tc, t_pipelined_fifo);
  tcase_add_test(tc, t_one_write_per_iteration);
  tcase_add_test(tc, t_big_unit_corked);
  tcase_add_test(tc, t_unnamed);
  suite_add_tcase(s, tc);
  TCase *seed = tcase_create("seed");
  tcase_set_timeout(seed, 60);
  tcase_add_test(seed, t_seed_deterministic);
  suite_add_tcase(s, seed);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
