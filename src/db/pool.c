/* The connection pool: `size` non-blocking libpq connections driven by the
 * loop, a FIFO queue of waiters, reconnection with back-off.
 *
 * A connection slot (db_conn_t) lives as long as the pool; the PGconn inside
 * it comes and goes. A slot is DOWN (no PGconn: waiting for its back-off
 * timer), CONNECTING (PQconnectPoll steps), PREPARING (the statements, one
 * after another) or READY; READY slots are either idle (on the idle list) or
 * held (by db_query or an acquirer). A slot that breaks while held stays
 * held, DOWN, until its holder releases it; then it reconnects.
 *
 * Handles: each slot owns a timer (connect timeout, back-off or query
 * timeout: its states never need two at once) and two poll handles. The
 * socket can change between connect steps (libpq tries the next address, or
 * retries without SSL), and a closed poll handle is only reusable after its
 * close callback, so the slot alternates between the two: the old one
 * closes while the new one watches. The pool frees itself in the last
 * close callback, once every holder has released its connection. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "db/db.h"

typedef enum {
  CONN_DOWN,
  CONN_CONNECTING,
  CONN_PREPARING,
  CONN_READY,
  CONN_CLOSED
} conn_state_t;
typedef enum { OP_NONE, OP_PREPARE, OP_QUERY, OP_PIPELINE } op_t;
typedef enum { WATCH_FREE, WATCH_ACTIVE, WATCH_CLOSING } watch_state_t;
typedef enum { REQ_QUERY, REQ_ACQUIRE } req_kind_t;

typedef struct watch_s {
  uv_poll_t handle;
  db_conn_t *conn;
  watch_state_t state;
  int fd;
  int events;
} watch_t;

/* A waiter in the FIFO queue. Taken from the pool's free list, never
 * freed before the pool: the list grows to the peak queue length and then
 * stops allocating. */
typedef struct db_req_s db_req_t;
struct db_req_s {
  db_req_t *next;
  req_kind_t kind;
  uint64_t enqueued; /* uv_now */
  db_result_cb result_cb;
  db_acquire_cb acquire_cb;
  void *data;
  int stmt;
  int nparams;
  core_buf_t text;   /* the params' bytes, each NUL-terminated */
  int *offsets;      /* into text, or -1 for SQL NULL */
  const char **vals; /* filled from offsets when sent */
  int cap;
};

struct db_conn_s {
  db_pool_t *pool;
  PGconn *pg;
  conn_state_t state;
  int held;
  int failed;   /* the last connect attempt failed */
  int attempts; /* consecutive failed attempts: the back-off exponent */
  int started;  /* an attempt was made before: the next one is a reconnect */
  /* A send that failed inside a caller's call: the break (and the failed
   * operation's callbacks) wait for the timer, so they come from the loop. */
  int break_status;
  char break_why[160];
  uv_timer_t timer;
  watch_t watch[2];
  int active; /* index of the watching poll handle, or -1 */
  db_conn_t *next_idle;
  /* The operation in flight. */
  op_t op;
  int prepared;     /* PREPARING: statements done */
  int auto_release; /* a db_query: release when it completes */
  db_result_cb cb;
  void *data;
  /* The first result of the current query, kept until the NULL that ends
   * it; the drain loop that obtained it clears it after the callback. */
  PGresult *res;
  db_call_t *calls; /* OP_PIPELINE: a copy of the caller's array */
  int ncalls, cap_calls, call_idx, pstatus;
  db_done_cb done;
  void *done_data;
};

struct db_pool_s {
  uv_loop_t *loop;
  char *conninfo;
  const db_stmt_t *stmts;
  int nstmts;
  int size;
  int connect_timeout_ms;
  int unavailable_after_ms;
  int query_timeout_ms;
  /* private */
  int closing;
  int nhandles; /* open handles: the pool is freed when none is left */
  int nheld;
  int healthy; /* READY slots, held or idle */
  int nfailed; /* slots whose last attempt failed */
  int down;    /* every slot's last attempt failed: fail fast */
  unsigned long reconnects;
  uint32_t rng;
  uint64_t unhealthy_since;
  db_close_cb close_cb;
  void *close_data;
  uv_idle_t kick;     /* hands idle connections to waiters, off the caller's stack */
  uv_timer_t unavail; /* fails waiters after unavailable_after_ms with nothing healthy */
  db_req_t *head, *tail;
  int waiting;
  db_req_t *free_reqs;
  db_conn_t *idle;
  db_conn_t conns[];
};

static void conn_start(db_conn_t *c);

/* libpq's messages end in newlines and indent with tabs; a log line is one
 * line. */
static void oneline(char *dst, size_t len, const char *src) {
  snprintf(dst, len, "%s", src ? src : "");
  size_t n = strlen(dst);
  while (n && (dst[n - 1] == '\n' || dst[n - 1] == ' ')) dst[--n] = '\0';
  for (char *s = dst; *s; s++)
    if (*s == '\n' || *s == '\t')
      *s = ' ';
}
static void conn_break(db_conn_t *c, int status, const char *why);
static void on_poll(uv_poll_t *h, int status, int events);
static void on_timer(uv_timer_t *t);
static void arm_unavail(db_pool_t *p);
static void kick(db_pool_t *p);

const char *db_strerror(int code) {
  switch (code) {
    case DB_OK:
      return "ok";
    case DB_EUNAVAIL:
      return "database unavailable";
    case DB_EQUERY:
      return "query failed";
    case DB_ECLOSING:
      return "pool closing";
    case DB_ETIMEDOUT:
      return "query timed out";
    case DB_EBUSY:
      return "connection busy";
    default:
      return uv_strerror(code);
  }
}

/* ---- handles and the end of the pool ---- */

static void pool_finish(db_pool_t *p) {
  db_close_cb cb = p->close_cb;
  void *data = p->close_data;
  while (p->free_reqs) {
    db_req_t *r = p->free_reqs;
    p->free_reqs = r->next;
    core_buf_free(&r->text);
    free(r->offsets);
    free(r->vals);
    free(r);
  }
  for (int i = 0; i < p->size; i++) free(p->conns[i].calls);
  free(p->conninfo);
  free(p);
  if (cb)
    cb(data);
}

static void on_handle_closed(uv_handle_t *h) {
  db_pool_t *p = h->data;
  if (--p->nhandles == 0)
    pool_finish(p);
}

static void on_watch_closed(uv_handle_t *h) {
  watch_t *w = container_of((uv_poll_t *)h, watch_t, handle);
  w->state = WATCH_FREE;
  on_handle_closed(h);
}

static void close_handle(db_pool_t *p, uv_handle_t *h, uv_close_cb cb) {
  if (uv_is_closing(h))
    return;
  h->data = p;
  uv_close(h, cb);
}

static void unwatch(db_conn_t *c) {
  if (c->active < 0)
    return;
  watch_t *w = &c->watch[c->active];
  w->state = WATCH_CLOSING;
  close_handle(c->pool, (uv_handle_t *)&w->handle, on_watch_closed);
  c->active = -1;
}

/* Watches PQsocket for events. After a connect step (force) the handle is
 * re-registered even when the descriptor number is the same: libpq may
 * have closed the old socket and got the same number for a new one, which
 * epoll would otherwise never report. A new number takes a new handle. */
static int watch(db_conn_t *c, int events, int force) {
  int fd = PQsocket(c->pg);
  if (fd < 0)
    return UV_EBADF;
  if (c->active >= 0 && c->watch[c->active].fd == fd) {
    watch_t *w = &c->watch[c->active];
    if (!force && w->events == events)
      return 0;
    w->events = events;
    return uv_poll_start(&w->handle, events, on_poll);
  }
  unwatch(c);
  int i = c->watch[0].state == WATCH_FREE ? 0 : c->watch[1].state == WATCH_FREE ? 1 : -1;
  /* Both can only be closing if the socket changed twice within one loop
   * iteration; treat it as a failed attempt rather than wait. */
  if (i < 0)
    return UV_EBUSY;
  watch_t *w = &c->watch[i];
  int rc = uv_poll_init(c->pool->loop, &w->handle, fd);
  if (rc != 0)
    return rc;
  c->pool->nhandles++;
  w->conn = c;
  w->fd = fd;
  w->events = events;
  w->state = WATCH_ACTIVE;
  c->active = i;
  return uv_poll_start(&w->handle, events, on_poll);
}

/* Drops the PGconn and everything tied to it; the slot stays. */
static void teardown(db_conn_t *c) {
  uv_timer_stop(&c->timer);
  c->break_status = 0;
  unwatch(c); /* before PQfinish closes the descriptor under the poll handle */
  if (c->res) {
    PQclear(c->res);
    c->res = NULL;
  }
  if (c->pg) {
    PQfinish(c->pg);
    c->pg = NULL;
  }
}

/* ---- health bookkeeping ---- */

static void set_state(db_conn_t *c, conn_state_t s) {
  db_pool_t *p = c->pool;
  int was = c->state == CONN_READY, is = s == CONN_READY;
  c->state = s;
  if (was == is)
    return;
  p->healthy += is ? 1 : -1;
  if (p->healthy == 0) {
    p->unhealthy_since = uv_now(p->loop);
    arm_unavail(p);
  } else if (p->healthy == 1 && is) {
    uv_timer_stop(&p->unavail);
  }
}

static void set_failed(db_conn_t *c, int failed) {
  if (c->failed == failed)
    return;
  c->failed = failed;
  c->pool->nfailed += failed ? 1 : -1;
}

static void idle_push(db_conn_t *c) {
  c->next_idle = c->pool->idle;
  c->pool->idle = c;
}

static void idle_remove(db_conn_t *c) {
  for (db_conn_t **pp = &c->pool->idle; *pp; pp = &(*pp)->next_idle)
    if (*pp == c) {
      *pp = c->next_idle;
      return;
    }
}

/* ---- the wait queue ---- */

static db_req_t *req_get(db_pool_t *p) {
  db_req_t *r = p->free_reqs;
  if (r) {
    p->free_reqs = r->next;
  } else {
    r = xcalloc(1, sizeof(*r));
    core_buf_init(&r->text);
  }
  r->next = NULL;
  return r;
}

static void req_put(db_pool_t *p, db_req_t *r) {
  r->next = p->free_reqs;
  p->free_reqs = r;
}

static void enqueue(db_pool_t *p, db_req_t *r) {
  r->enqueued = uv_now(p->loop);
  if (p->tail)
    p->tail->next = r;
  else
    p->head = r;
  p->tail = r;
  p->waiting++;
  if (p->idle)
    kick(p);
  if (p->healthy == 0)
    arm_unavail(p);
}

static db_req_t *dequeue(db_pool_t *p) {
  db_req_t *r = p->head;
  if (!r)
    return NULL;
  p->head = r->next;
  if (!p->head)
    p->tail = NULL;
  p->waiting--;
  return r;
}

/* Fails the waiter r (already dequeued) with status; its callback fires. */
static void req_fail(db_pool_t *p, db_req_t *r, int status) {
  req_kind_t kind = r->kind;
  db_result_cb rcb = r->result_cb;
  db_acquire_cb acb = r->acquire_cb;
  void *data = r->data;
  req_put(p, r);
  if (kind == REQ_QUERY)
    rcb(data, status, NULL);
  else
    acb(data, status, NULL);
}

static void fail_waiters(db_pool_t *p, int status) {
  db_req_t *r;
  while ((r = dequeue(p)) != NULL) req_fail(p, r, status);
}

/* The unavailable timer runs only while waiters wait and no connection is
 * healthy; under load with healthy connections the queue never times out. */
static void on_unavail(uv_timer_t *t) {
  db_pool_t *p = container_of(t, db_pool_t, unavail);
  uint64_t now = uv_now(p->loop);
  while (p->head && p->healthy == 0 && !p->closing) {
    uint64_t since =
        p->head->enqueued > p->unhealthy_since ? p->head->enqueued : p->unhealthy_since;
    if (since + (uint64_t)p->unavailable_after_ms > now)
      break;
    req_fail(p, dequeue(p), DB_EUNAVAIL);
  }
  arm_unavail(p);
}

static void arm_unavail(db_pool_t *p) {
  if (p->closing || p->healthy > 0 || !p->head) {
    uv_timer_stop(&p->unavail);
    return;
  }
  uint64_t since =
      p->head->enqueued > p->unhealthy_since ? p->head->enqueued : p->unhealthy_since;
  uint64_t due = since + (uint64_t)p->unavailable_after_ms, now = uv_now(p->loop);
  uv_timer_start(&p->unavail, on_unavail, due > now ? due - now : 0, 0);
}

/* ---- sending ---- */

/* Breaks the connection from the loop, not now: the operation just set up
 * belongs to a caller still inside db_query / db_conn_query /
 * db_conn_pipeline, which has told it 0, so its callbacks must come later
 * (db.h; libuv defers a failed connect the same way). The slot's timer
 * carries it: in READY it is otherwise only the query timeout. */
static void break_later(db_conn_t *c, const char *why) {
  c->break_status = DB_EUNAVAIL;
  snprintf(c->break_why, sizeof(c->break_why), "%s", why ? why : "");
  uv_timer_start(&c->timer, on_timer, 0, 0);
}

/* Flushes what libpq buffered and watches for what comes next: always
 * readable (results, or the server closing an idle connection), writable
 * too while output is pending. In a caller's call (sending) a failure is
 * deferred; from the loop (io) it breaks the connection at once. */
static void flush_and_watch(db_conn_t *c, int sending) {
  int r = PQflush(c->pg);
  int rc = r < 0 ? UV_EIO : watch(c, UV_READABLE | (r == 1 ? UV_WRITABLE : 0), 0);
  if (rc == 0)
    return;
  const char *why = r < 0 ? PQerrorMessage(c->pg) : uv_strerror(rc);
  if (sending)
    break_later(c, why);
  else
    conn_break(c, DB_EUNAVAIL, why);
}

static void start_query_timer(db_conn_t *c) {
  if (c->pool->query_timeout_ms > 0)
    uv_timer_start(&c->timer, on_timer, (uint64_t)c->pool->query_timeout_ms, 0);
}

/* Sends one prepared statement. On failure nothing was sent and the
 * connection is unusable: the caller breaks it. */
static int send_query(db_conn_t *c, int stmt, const char *const *vals, int n,
                      db_result_cb cb, void *data, int auto_release) {
  if (!PQsendQueryPrepared(c->pg, c->pool->stmts[stmt].name, n, vals, NULL, NULL, 0))
    return DB_EUNAVAIL;
  c->op = OP_QUERY;
  c->cb = cb;
  c->data = data;
  c->auto_release = auto_release;
  start_query_timer(c);
  flush_and_watch(c, 1);
  return 0;
}

static void hold(db_conn_t *c) {
  c->held = 1;
  c->pool->nheld++;
}

static void grant(db_pool_t *p, db_conn_t *c, db_req_t *r) {
  hold(c);
  if (r->kind == REQ_ACQUIRE) {
    db_acquire_cb cb = r->acquire_cb;
    void *data = r->data;
    req_put(p, r);
    cb(data, DB_OK, c);
    return;
  }
  for (int i = 0; i < r->nparams; i++)
    r->vals[i] = r->offsets[i] < 0 ? NULL : r->text.data + r->offsets[i];
  if (send_query(c, r->stmt, r->vals, r->nparams, r->result_cb, r->data, 1) == 0) {
    req_put(p, r);
    return;
  }
  /* The connection broke: the request goes back to the head of the queue
   * and this slot to reconnecting. */
  r->next = p->head;
  p->head = r;
  if (!p->tail)
    p->tail = r;
  p->waiting++;
  conn_break(c, DB_EUNAVAIL, PQerrorMessage(c->pg));
  db_pool_release(c);
}

static void on_kick(uv_idle_t *h) {
  db_pool_t *p = container_of(h, db_pool_t, kick);
  uv_idle_stop(h);
  while (!p->closing && p->head && p->idle) {
    db_conn_t *c = p->idle;
    p->idle = c->next_idle;
    grant(p, c, dequeue(p));
  }
}

static void kick(db_pool_t *p) {
  if (p->head && !p->closing)
    uv_idle_start(&p->kick, on_kick);
}

/* ---- connecting ---- */

static uint32_t rnd(db_pool_t *p) {
  uint32_t x = p->rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return p->rng = x;
}

/* 50 ms doubling to 2 s, with "equal jitter" (half fixed, half random) so
 * the slots of many workers do not knock on a recovering server together. */
static uint64_t backoff(db_conn_t *c) {
  int n = c->attempts < 6 ? c->attempts : 6;
  uint64_t base = 50u << n;
  if (base > 2000)
    base = 2000;
  return base / 2 + rnd(c->pool) % (base / 2 + 1);
}

static void pool_went_down(db_pool_t *p, const char *why) {
  if (p->down)
    return;
  p->down = 1;
  LOG_ERROR(NULL, "PostgreSQL unavailable: %s", why && *why ? why : "connection failed");
  fail_waiters(p, DB_EUNAVAIL);
}

static void attempt_failed(db_conn_t *c, const char *why) {
  db_pool_t *p = c->pool;
  char msg[256];
  oneline(msg, sizeof(msg), why);
  teardown(c);
  set_state(c, CONN_DOWN);
  set_failed(c, 1);
  uint64_t delay = backoff(c);
  c->attempts++;
  LOG_DEBUG(NULL, "PostgreSQL connect attempt failed (retry in %llu ms): %s",
            (unsigned long long)delay, msg);
  uv_timer_start(&c->timer, on_timer, delay, 0);
  if (p->healthy == 0 && p->nfailed == p->size)
    pool_went_down(p, msg);
}

static void ready(db_conn_t *c) {
  db_pool_t *p = c->pool;
  uv_timer_stop(&c->timer);
  c->attempts = 0;
  set_failed(c, 0);
  set_state(c, CONN_READY);
  if (p->down) {
    p->down = 0;
    LOG_INFO(NULL, "PostgreSQL available again");
  }
  idle_push(c);
  kick(p);
}

static void prepare_next(db_conn_t *c) {
  db_pool_t *p = c->pool;
  if (c->prepared == p->nstmts) {
    c->op = OP_NONE;
    ready(c);
    return;
  }
  const db_stmt_t *s = &p->stmts[c->prepared];
  if (!PQsendPrepare(c->pg, s->name, s->sql, s->nparams, NULL)) {
    attempt_failed(c, PQerrorMessage(c->pg));
    return;
  }
  c->op = OP_PREPARE;
  int r = PQflush(c->pg);
  int rc = r < 0 ? UV_EIO : watch(c, UV_READABLE | (r == 1 ? UV_WRITABLE : 0), 0);
  if (rc != 0)
    attempt_failed(c, PQerrorMessage(c->pg));
}

static void on_prepared(db_conn_t *c, PGresult *r) {
  if (r) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      /* A statement that does not prepare is a bug in our SQL; say which. */
      LOG_ERROR(NULL, "preparing %s failed: %s", c->pool->stmts[c->prepared].name,
                PQresultErrorMessage(r));
      PQclear(r);
      attempt_failed(c, "prepare failed");
      return;
    }
    PQclear(r);
    return;
  }
  c->prepared++;
  prepare_next(c);
}

static void quiet_notice(void *arg, const char *message) {
  LOG_DEBUG(NULL, "PostgreSQL notice: %s", message);
}

static void connected(db_conn_t *c) {
  if (PQsetnonblocking(c->pg, 1) != 0) {
    attempt_failed(c, PQerrorMessage(c->pg));
    return;
  }
  PQsetNoticeProcessor(c->pg, quiet_notice, NULL);
  set_state(c, CONN_PREPARING);
  c->prepared = 0;
  prepare_next(c);
}

/* One PQconnectPoll step. PQsocket is re-read after every step (watch()). */
static void connect_step(db_conn_t *c, PostgresPollingStatusType st) {
  int rc;
  switch (st) {
    case PGRES_POLLING_READING:
      rc = watch(c, UV_READABLE, 1);
      break;
    case PGRES_POLLING_WRITING:
      rc = watch(c, UV_WRITABLE, 1);
      break;
    case PGRES_POLLING_OK:
      connected(c);
      return;
    default:
      attempt_failed(c, PQerrorMessage(c->pg));
      return;
  }
  if (rc != 0)
    attempt_failed(c, uv_strerror(rc));
}

static void conn_start(db_conn_t *c) {
  db_pool_t *p = c->pool;
  const char *keys[] = {"dbname", "fallback_application_name", NULL};
  const char *vals[] = {p->conninfo, "looplab", NULL};
  if (c->started)
    p->reconnects++;
  c->started = 1;
  c->pg = PQconnectStartParams(keys, vals, 1);
  set_state(c, CONN_CONNECTING);
  /* Non-blocking libpq ignores connect_timeout: the timer enforces ours,
   * over the whole attempt, statements included. */
  uv_timer_start(&c->timer, on_timer, (uint64_t)p->connect_timeout_ms, 0);
  if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
    attempt_failed(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
    return;
  }
  /* libpq: after PQconnectStart, behave as if PQconnectPoll said WRITING. */
  connect_step(c, PGRES_POLLING_WRITING);
}

/* ---- results ---- */

/* A result that means the session is gone (admin shutdown, crash,
 * connection failure), not that the query was wrong. */
static int conn_lost(PGconn *pg, const PGresult *r) {
  if (PQstatus(pg) == CONNECTION_BAD)
    return 1;
  const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  if (!state)
    return PQresultStatus(r) == PGRES_FATAL_ERROR;
  return strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}

static int result_status(const PGresult *r) {
  ExecStatusType st = PQresultStatus(r);
  return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK ? DB_OK : DB_EQUERY;
}

static void query_done(db_conn_t *c) {
  PGresult *res = c->res;
  c->res = NULL;
  db_result_cb cb = c->cb;
  void *data = c->data;
  int release = c->auto_release;
  c->op = OP_NONE;
  uv_timer_stop(&c->timer);
  if (!res) {
    cb(data, DB_EUNAVAIL, NULL);
  } else {
    cb(data, result_status(res), res);
    PQclear(res);
  }
  if (release)
    db_pool_release(c);
}

static void pipeline_done(db_conn_t *c) {
  if (!PQexitPipelineMode(c->pg)) {
    conn_break(c, DB_EUNAVAIL, PQerrorMessage(c->pg)); /* it calls done */
    return;
  }
  c->op = OP_NONE;
  uv_timer_stop(&c->timer);
  int release = c->auto_release;
  c->done(c->done_data, c->pstatus);
  if (release)
    db_pool_release(c);
}

/* Returns 1 when there is nothing more to read for now. */
static int on_pipeline_result(db_conn_t *c, PGresult *r) {
  if (r && PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
    PQclear(r);
    pipeline_done(c);
    return 0;
  }
  if (r) {
    if (!c->res)
      c->res = r;
    else
      PQclear(r);
    return 0;
  }
  if (!c->res || c->call_idx >= c->ncalls)
    return 1; /* a NULL that ends nothing */
  PGresult *res = c->res;
  c->res = NULL;
  db_call_t *call = &c->calls[c->call_idx++];
  int st = result_status(res);
  if (st != DB_OK && c->pstatus == DB_OK)
    c->pstatus = st;
  call->cb(call->data, st, res);
  PQclear(res);
  return 0;
}

/* Reads every result that is complete. User callbacks run from here and may
 * issue the next query, release the connection or close the pool, so the
 * loop re-checks the connection on every turn. */
static void drain(db_conn_t *c) {
  while (c->pg && c->op != OP_NONE && !PQisBusy(c->pg)) {
    PGresult *r = PQgetResult(c->pg);
    if (r && PQresultStatus(r) == PGRES_FATAL_ERROR && conn_lost(c->pg, r)) {
      char why[256];
      snprintf(why, sizeof(why), "%s", PQresultErrorMessage(r));
      PQclear(r);
      conn_break(c, DB_EUNAVAIL, why);
      return;
    }
    switch (c->op) {
      case OP_PREPARE:
        on_prepared(c, r);
        break;
      case OP_QUERY:
        if (!r)
          query_done(c);
        else if (!c->res)
          c->res = r;
        else
          PQclear(r);
        break;
      case OP_PIPELINE:
        if (on_pipeline_result(c, r))
          return;
        break;
      default:
        PQclear(r);
    }
  }
}

static void io(db_conn_t *c, int events) {
  if (events & UV_READABLE) {
    if (!PQconsumeInput(c->pg)) {
      conn_break(c, DB_EUNAVAIL, PQerrorMessage(c->pg));
      return;
    }
  }
  if (PQstatus(c->pg) == CONNECTION_BAD) {
    conn_break(c, DB_EUNAVAIL, PQerrorMessage(c->pg));
    return;
  }
  drain(c);
  if (c->pg && (c->state == CONN_READY || c->state == CONN_PREPARING))
    flush_and_watch(c, 0);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  db_conn_t *c = container_of(h, watch_t, handle)->conn;
  if (status < 0 && c->state == CONN_CONNECTING) {
    /* libuv reports a socket error (a refused connect, say) as UV_EBADF;
     * libpq reads the socket's own error and says what it was (or tries
     * the next address). */
    connect_step(c, PQconnectPoll(c->pg));
    return;
  }
  if (status < 0) {
    if (c->state == CONN_PREPARING)
      attempt_failed(c, uv_strerror(status));
    else
      conn_break(c, DB_EUNAVAIL, uv_strerror(status));
    return;
  }
  if (c->state == CONN_CONNECTING)
    connect_step(c, PQconnectPoll(c->pg));
  else if (c->pg)
    io(c, events);
}

static void on_timer(uv_timer_t *t) {
  db_conn_t *c = container_of(t, db_conn_t, timer);
  switch (c->state) {
    case CONN_DOWN:
      conn_start(c);
      break;
    case CONN_CONNECTING:
    case CONN_PREPARING:
      attempt_failed(c, "connect timeout");
      break;
    case CONN_READY:
      if (c->op != OP_NONE && c->break_status != 0)
        conn_break(c, c->break_status, c->break_why);
      else if (c->op != OP_NONE)
        conn_break(c, DB_ETIMEDOUT, "query timeout");
      break;
    default:
      break;
  }
}

/* ---- breaking ---- */

/* Fails the operation in flight (its callbacks fire) with status. */
static void fail_op(db_conn_t *c, int status) {
  op_t op = c->op;
  c->op = OP_NONE;
  if (op == OP_QUERY) {
    int release = c->auto_release;
    c->cb(c->data, status, NULL);
    if (release)
      db_pool_release(c);
  } else if (op == OP_PIPELINE) {
    for (; c->call_idx < c->ncalls; c->call_idx++) {
      db_call_t *call = &c->calls[c->call_idx];
      call->cb(call->data, status, NULL);
    }
    if (c->pstatus == DB_OK)
      c->pstatus = status;
    int release = c->auto_release;
    c->done(c->done_data, c->pstatus);
    if (release)
      db_pool_release(c);
  }
}

/* The connection is lost (or abandoned after a query timeout): drop it,
 * fail what was in flight, and reconnect at once if nobody holds it (a
 * holder's release does it otherwise). A query is never retried: it may
 * have written. */
static void conn_break(db_conn_t *c, int status, const char *why) {
  db_pool_t *p = c->pool;
  if (c->state == CONN_CONNECTING || c->state == CONN_PREPARING) {
    attempt_failed(c, why);
    return;
  }
  if (!c->pg)
    return;
  char msg[256];
  oneline(msg, sizeof(msg), why);
  LOG_WARN(NULL, "PostgreSQL connection lost: %s", msg);
  if (!c->held)
    idle_remove(c);
  teardown(c);
  set_state(c, p->closing ? CONN_CLOSED : CONN_DOWN);
  if (!c->held && !p->closing)
    uv_timer_start(&c->timer, on_timer, 0, 0);
  fail_op(c, status);
}

/* ---- the public API ---- */

int db_pool_new(uv_loop_t *loop, const db_pool_opts_t *opts, db_pool_t **out) {
  if (!opts->conninfo || opts->size < 1 || opts->nstmts < 0)
    return UV_EINVAL;
  char *perr = NULL;
  PQconninfoOption *parsed = PQconninfoParse(opts->conninfo, &perr);
  if (!parsed) {
    char msg[256];
    oneline(msg, sizeof(msg), perr ? perr : "out of memory");
    LOG_ERROR(NULL, "bad database connection string: %s", msg);
    PQfreemem(perr);
    return UV_EINVAL;
  }
  PQconninfoFree(parsed);

  db_pool_t *p = xcalloc(1, sizeof(*p) + (size_t)opts->size * sizeof(db_conn_t));
  p->loop = loop;
  p->conninfo = xstrdup(opts->conninfo);
  p->stmts = opts->stmts;
  p->nstmts = opts->nstmts;
  p->size = opts->size;
  p->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 1000;
  p->unavailable_after_ms =
      opts->unavailable_after_ms > 0 ? opts->unavailable_after_ms : 1000;
  p->query_timeout_ms = opts->query_timeout_ms;
  p->rng = (uint32_t)(uv_hrtime() ^ ((uint64_t)getpid() << 16)) | 1u;
  p->unhealthy_since = uv_now(loop);
  uv_idle_init(loop, &p->kick);
  uv_timer_init(loop, &p->unavail);
  p->nhandles = 2;
  for (int i = 0; i < p->size; i++) {
    db_conn_t *c = &p->conns[i];
    c->pool = p;
    c->active = -1;
    c->state = CONN_DOWN;
    uv_timer_init(loop, &c->timer);
    p->nhandles++;
  }
  for (int i = 0; i < p->size; i++) conn_start(&p->conns[i]);
  *out = p;
  return 0;
}

void db_pool_close(db_pool_t *p, db_close_cb cb, void *data) {
  if (p->closing)
    return;
  p->closing = 1;
  p->close_cb = cb;
  p->close_data = data;
  fail_waiters(p, DB_ECLOSING);
  p->idle = NULL;
  for (int i = 0; i < p->size; i++) {
    db_conn_t *c = &p->conns[i];
    teardown(c);
    set_state(c, CONN_CLOSED);
    fail_op(c, DB_ECLOSING);
    close_handle(p, (uv_handle_t *)&c->timer, on_handle_closed);
  }
  close_handle(p, (uv_handle_t *)&p->unavail, on_handle_closed);
  /* The kick handle stays open until every holder has released, so a late
   * db_pool_release never touches freed memory. */
  if (p->nheld == 0)
    close_handle(p, (uv_handle_t *)&p->kick, on_handle_closed);
}

void db_pool_stats(const db_pool_t *p, db_pool_stats_t *out) {
  out->size = p->size;
  out->healthy = p->healthy;
  out->in_use = p->nheld;
  out->waiting = p->waiting;
  out->reconnects = p->reconnects;
}

static int check_stmt(db_pool_t *p, int stmt, int nparams) {
  if (stmt < 0 || stmt >= p->nstmts || nparams != p->stmts[stmt].nparams)
    return UV_EINVAL;
  return 0;
}

static void copy_params(db_req_t *r, const char *const *params, int n) {
  if (n > r->cap) {
    r->offsets = xrealloc(r->offsets, (size_t)n * sizeof(*r->offsets));
    r->vals = xrealloc(r->vals, (size_t)n * sizeof(*r->vals));
    r->cap = n;
  }
  core_buf_reset(&r->text);
  for (int i = 0; i < n; i++) {
    if (!params[i]) {
      r->offsets[i] = -1;
      continue;
    }
    r->offsets[i] = (int)r->text.len;
    core_buf_append(&r->text, params[i], strlen(params[i]) + 1);
  }
}

int db_query(db_pool_t *p, int stmt, const char *const *params, int nparams,
             db_result_cb cb, void *data) {
  if (p->closing)
    return DB_ECLOSING;
  int rc = check_stmt(p, stmt, nparams);
  if (rc != 0)
    return rc;
  if (p->down)
    return DB_EUNAVAIL;
  while (!p->head && p->idle) {
    db_conn_t *c = p->idle;
    p->idle = c->next_idle;
    hold(c);
    if (send_query(c, stmt, params, nparams, cb, data, 1) == 0)
      return 0;
    conn_break(c, DB_EUNAVAIL, PQerrorMessage(c->pg));
    db_pool_release(c);
  }
  if (p->down)
    return DB_EUNAVAIL;
  db_req_t *r = req_get(p);
  r->kind = REQ_QUERY;
  r->result_cb = cb;
  r->data = data;
  r->stmt = stmt;
  r->nparams = nparams;
  copy_params(r, params, nparams);
  enqueue(p, r);
  return 0;
}

int db_pool_acquire(db_pool_t *p, db_acquire_cb cb, void *data) {
  if (p->closing)
    return DB_ECLOSING;
  if (p->down)
    return DB_EUNAVAIL;
  db_req_t *r = req_get(p);
  r->kind = REQ_ACQUIRE;
  r->acquire_cb = cb;
  r->data = data;
  r->nparams = 0;
  enqueue(p, r);
  return 0;
}

static int check_conn(db_conn_t *c) {
  if (c->pool->closing)
    return DB_ECLOSING;
  if (!c->held || c->state != CONN_READY)
    return DB_EUNAVAIL;
  if (c->op != OP_NONE)
    return DB_EBUSY;
  return 0;
}

int db_conn_query(db_conn_t *c, int stmt, const char *const *params, int nparams,
                  db_result_cb cb, void *data) {
  int rc = check_conn(c);
  if (rc == 0)
    rc = check_stmt(c->pool, stmt, nparams);
  if (rc != 0)
    return rc;
  if (send_query(c, stmt, params, nparams, cb, data, 0) == 0)
    return 0;
  conn_break(c, DB_EUNAVAIL, PQerrorMessage(c->pg));
  return DB_EUNAVAIL;
}

int db_conn_pipeline(db_conn_t *c, const db_call_t *calls, int n, db_done_cb done,
                     void *data) {
  int rc = check_conn(c);
  if (rc != 0)
    return rc;
  if (n < 1)
    return UV_EINVAL;
  for (int i = 0; i < n; i++)
    if ((rc = check_stmt(c->pool, calls[i].stmt, calls[i].nparams)) != 0)
      return rc;
  if (!PQenterPipelineMode(c->pg))
    goto broken;
  for (int i = 0; i < n; i++)
    if (!PQsendQueryPrepared(c->pg, c->pool->stmts[calls[i].stmt].name, calls[i].nparams,
                             calls[i].params, NULL, NULL, 0))
      goto broken;
  if (!PQpipelineSync(c->pg))
    goto broken;
  if (n > c->cap_calls) {
    c->calls = xrealloc(c->calls, (size_t)n * sizeof(*c->calls));
    c->cap_calls = n;
  }
  memcpy(c->calls, calls, (size_t)n * sizeof(*calls));
  c->ncalls = n;
  c->call_idx = 0;
  c->pstatus = DB_OK;
  c->done = done;
  c->done_data = data;
  c->auto_release = 0;
  c->op = OP_PIPELINE;
  start_query_timer(c);
  flush_and_watch(c, 1);
  return 0;

broken:
  /* Part of the pipeline may be buffered: the connection cannot be trusted
   * any more. Nothing fires; the holder releases it as usual. */
  conn_break(c, DB_EUNAVAIL, PQerrorMessage(c->pg));
  return DB_EUNAVAIL;
}

void db_pool_release(db_conn_t *c) {
  db_pool_t *p = c->pool;
  if (!c->held)
    return;
  if (c->op != OP_NONE) {
    /* Released with a query in flight: its callback still fires, and the
     * connection returns to the pool after it. */
    c->auto_release = 1;
    return;
  }
  c->held = 0;
  p->nheld--;
  if (p->closing) {
    if (p->nheld == 0)
      close_handle(p, (uv_handle_t *)&p->kick, on_handle_closed);
    return;
  }
  if (c->state == CONN_READY) {
    idle_push(c);
    kick(p);
  } else if (c->state == CONN_DOWN && !uv_is_active((uv_handle_t *)&c->timer)) {
    uv_timer_start(&c->timer, on_timer, 0, 0);
  }
}
