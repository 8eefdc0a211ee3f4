/* The connection pool: `size` non-blocking libpq connections driven by the
 * loop, a FIFO queue of waiters, automatic pipelining, reconnection with
 * back-off.
 *
 * A connection slot (db_conn_t) lives as long as the pool; the PGconn inside
 * it comes and goes. A slot is DOWN (no PGconn: waiting for its back-off
 * timer), CONNECTING (PQconnectPoll steps), PREPARING (the statements, one
 * after another) or READY. A READY slot is in libpq's pipeline mode for
 * good and is either shared or held (by an acquirer). A slot that breaks
 * while held stays held, DOWN, until its holder releases it; then it
 * reconnects.
 *
 * Pipelining (docs/architecture.md, "Pipelining"). Every request's
 * statements are one unit that ends with its own sync point (Sync), so each
 * is its own implicit transaction exactly as without pipelining and a
 * failing statement never aborts another request's. A shared slot carries
 * up to depth_cap units in flight: a request goes to the shared slot with
 * the fewest, and waits in the FIFO queue when every slot is at the cap.
 * The results of a single-statement unit are handed over at its sync
 * point, so a write is answered only once it has committed. What the
 * callbacks of one loop iteration queue leaves in one flush, from a
 * prepare handle, just before the loop waits (with libpq < 17, whose
 * PQpipelineSync flushes each unit, by corking the socket: cork.h).
 *
 * Handles: each slot owns a timer (connect timeout, back-off or the oldest
 * unit's query timeout: its states never need two at once) and two poll
 * handles. The socket can change between connect steps (libpq tries the
 * next address, or retries without SSL), and a closed poll handle is only
 * reusable after its close callback, so the slot alternates between the
 * two: the old one closes while the new one watches. The pool frees itself
 * in the last close callback, once every holder has released its
 * connection. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "db/cork.h"
#include "db/db.h"

typedef enum {
  CONN_DOWN,
  CONN_CONNECTING,
  CONN_PREPARING,
  CONN_READY,
  CONN_CLOSED
} conn_state_t;
typedef enum { WATCH_FREE, WATCH_ACTIVE, WATCH_CLOSING } watch_state_t;
typedef enum { REQ_QUERY, REQ_ACQUIRE } req_kind_t;

typedef struct watch_s {
  uv_poll_t handle;
  db_conn_t *conn;
  watch_state_t state;
  int fd;
  int events;
} watch_t;

/* A request: statements that end with their own sync point (one, or
 * several for db_pipeline / db_conn_pipeline), or an acquire. It waits in
 * the pool's FIFO queue, then (statements) rides on a connection until its
 * sync point, then returns to the pool's free list: requests are never
 * freed before the pool, so the list grows to the peak in flight and then
 * stops allocating. */
typedef struct db_req_s db_req_t;
struct db_req_s {
  db_req_t *next;
  req_kind_t kind;
  uint64_t at; /* uv_now: queued, then sent (the query timeout's start) */
  /* The statements. params is the caller's while sending from inside a
   * call, the copies below when sent from the queue; stale after. */
  db_call_t *calls;
  int ncalls, cap_calls;
  int many;        /* calls[i].cb at each statement's end, done at the sync */
  int idx;         /* many: statements whose result was handed over */
  int status;      /* many: the first non-OK status */
  db_result_cb cb; /* one statement: at the sync point */
  void *data;
  db_done_cb done;
  void *done_data;
  db_acquire_cb acquire_cb;
  /* A waiting request's parameters, copied: each NUL-terminated. */
  core_buf_t text;
  int *offsets; /* into text, or -1 for SQL NULL */
  const char **vals;
  int cap_vals;
};

typedef struct stashed_s {
  PGresult *r;
  int lost; /* an error that means the session is gone */
} stashed_t;

struct db_conn_s {
  db_pool_t *pool;
  PGconn *pg;
  conn_state_t state;
  int held;
  int release;  /* held, released with units in flight: return after them */
  int failed;   /* the last connect attempt failed */
  int attempts; /* consecutive failed attempts: the back-off exponent */
  int started;  /* an attempt was made before: the next one is a reconnect */
  /* A send that failed inside a caller's call: the break (and the failed
   * units' callbacks) wait for the timer, so they come from the loop. */
  int break_status;
  char break_why[160];
  uv_timer_t timer;
  watch_t watch[2];
  int active;    /* index of the watching poll handle, or -1 */
  int preparing; /* PREPARING: a PQsendPrepare in flight */
  int prepared;  /* PREPARING: statements done */
  /* The units in flight, in the order they were sent (and are answered). */
  db_req_t *head, *tail;
  int depth;
  /* The current statement's first result (for a one-statement unit, kept
   * to the sync point). */
  PGresult *res;
  /* Results taken from libpq and not yet handed over, in order (NULL
   * entries end statements): see collect(). */
  stashed_t *stash;
  int stash_head, stash_n, stash_cap;
  int stash_syncs; /* sync points among them */
  int stash_open;  /* the last one taken was a result (a NULL may follow) */
  int lost;        /* the stash ends with the session's end: send nothing more */
  int dirty;       /* queued output not yet flushed: on the pool's dirty list */
  db_conn_t *next_dirty;
  db_cork_t cork; /* what libpq sent this iteration, written by the flusher */
};

struct db_pool_s {
  uv_loop_t *loop;
  char *conninfo;
  char *name; /* log lines say which database: "PostgreSQL", "replica" */
  const db_stmt_t *stmts;
  int nstmts;
  int size;
  int connect_timeout_ms;
  int unavailable_after_ms;
  int query_timeout_ms;
  int depth_cap; /* units in flight per shared connection, >= 1 */
  int unnamed;   /* statements sent with their text, nothing prepared */
  /* private */
  int closing;
  int nhandles; /* open handles: the pool is freed when none is left */
  int nheld;
  int healthy; /* READY slots, held or shared */
  int nfailed; /* slots whose last attempt failed */
  int down;    /* every slot's last attempt failed: fail fast */
  int inflight;
  unsigned long reconnects;
  uint64_t depth_hist[DB_DEPTH_SLOTS];
  uint32_t rng;
  uint64_t unhealthy_since;
  db_close_cb close_cb;
  void *close_data;
  uv_idle_t kick;     /* serves waiters, off the caller's stack */
  uv_timer_t unavail; /* fails waiters after unavailable_after_ms with nothing healthy */
  uv_prepare_t flusher; /* flushes what the iteration queued, before the loop waits */
  db_conn_t *dirty;
  db_req_t *head, *tail; /* the FIFO queue */
  int waiting;
  db_req_t *free_reqs;
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
static void conn_lost_break(db_conn_t *c, const char *why);
static void collect(db_conn_t *c);
static void deliver(db_conn_t *c);
static void on_poll(uv_poll_t *h, int status, int events);
static void on_timer(uv_timer_t *t);
static void arm_unavail(db_pool_t *p);
static void kick(db_pool_t *p);
static void serve(db_pool_t *p);

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
    case DB_ELOST:
      return "connection lost with the query in flight";
    default:
      return uv_strerror(code);
  }
}

/* ---- handles and the end of the pool ---- */

static void req_free(db_req_t *r) {
  core_buf_free(&r->text);
  free(r->offsets);
  free(r->vals);
  free(r->calls);
  free(r);
}

static void pool_finish(db_pool_t *p) {
  db_close_cb cb = p->close_cb;
  void *data = p->close_data;
  while (p->free_reqs) {
    db_req_t *r = p->free_reqs;
    p->free_reqs = r->next;
    req_free(r);
  }
  for (int i = 0; i < p->size; i++) {
    free(p->conns[i].stash);
    db_cork_free(&p->conns[i].cork);
  }
  free(p->conninfo);
  free(p->name);
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

static void undirty(db_conn_t *c) {
  if (!c->dirty)
    return;
  c->dirty = 0;
  for (db_conn_t **pp = &c->pool->dirty; *pp; pp = &(*pp)->next_dirty)
    if (*pp == c) {
      *pp = c->next_dirty;
      return;
    }
}

/* Drops the PGconn and everything tied to it; the slot (and its units,
 * which the caller fails) stays. */
static void teardown(db_conn_t *c) {
  uv_timer_stop(&c->timer);
  c->break_status = 0;
  c->preparing = 0;
  undirty(c);
  unwatch(c); /* before PQfinish closes the descriptor under the poll handle */
  db_cork_stop(&c->cork); /* before PQfinish frees the PGconn it points at */
  if (c->res) {
    PQclear(c->res);
    c->res = NULL;
  }
  for (; c->stash_n > 0; c->stash_n--) {
    PQclear(c->stash[c->stash_head].r);
    c->stash_head = (c->stash_head + 1) % c->stash_cap;
  }
  c->stash_head = c->stash_syncs = c->stash_open = c->lost = 0;
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

/* The shared slot that takes the next unit: the one with the fewest in
 * flight, below the cap; with empty, only one with none (an acquire). */
static db_conn_t *pick(db_pool_t *p, int empty) {
  db_conn_t *best = NULL;
  for (int i = 0; i < p->size; i++) {
    db_conn_t *c = &p->conns[i];
    if (c->state != CONN_READY || c->held || c->break_status || c->lost)
      continue;
    if (c->depth == 0)
      return c;
    if (!empty && c->depth < p->depth_cap && (!best || c->depth < best->depth))
      best = c;
  }
  return best;
}

/* ---- requests and the wait queue ---- */

static db_req_t *req_get(db_pool_t *p, req_kind_t kind, int ncalls) {
  db_req_t *r = p->free_reqs;
  if (r) {
    p->free_reqs = r->next;
  } else {
    r = xcalloc(1, sizeof(*r));
    core_buf_init(&r->text);
  }
  if (ncalls > r->cap_calls) {
    r->calls = xrealloc(r->calls, (size_t)ncalls * sizeof(*r->calls));
    r->cap_calls = ncalls;
  }
  r->next = NULL;
  r->kind = kind;
  r->ncalls = ncalls;
  r->many = 0;
  r->idx = 0;
  r->status = DB_OK;
  return r;
}

static void req_put(db_pool_t *p, db_req_t *r) {
  r->next = p->free_reqs;
  p->free_reqs = r;
}

/* Copies the parameters of a request about to wait: the caller's arrays
 * are valid only during its call. */
static void req_copy_params(db_req_t *r) {
  int n = 0;
  for (int i = 0; i < r->ncalls; i++) n += r->calls[i].nparams;
  if (n > r->cap_vals) {
    r->offsets = xrealloc(r->offsets, (size_t)n * sizeof(*r->offsets));
    r->vals = xrealloc(r->vals, (size_t)n * sizeof(*r->vals));
    r->cap_vals = n;
  }
  core_buf_reset(&r->text);
  int k = 0;
  for (int i = 0; i < r->ncalls; i++)
    for (int j = 0; j < r->calls[i].nparams; j++, k++) {
      const char *v = r->calls[i].params[j];
      r->offsets[k] = v ? (int)r->text.len : -1;
      if (v)
        core_buf_append(&r->text, v, strlen(v) + 1);
    }
}

/* Points each statement's params at the copies (text no longer moves). */
static void req_resolve_params(db_req_t *r) {
  int k = 0;
  for (int i = 0; i < r->ncalls; i++) {
    r->calls[i].params = r->vals + k;
    for (int j = 0; j < r->calls[i].nparams; j++, k++)
      r->vals[k] = r->offsets[k] < 0 ? NULL : r->text.data + r->offsets[k];
  }
}

static void enqueue(db_pool_t *p, db_req_t *r) {
  if (r->kind == REQ_QUERY)
    req_copy_params(r);
  r->at = uv_now(p->loop);
  if (p->tail)
    p->tail->next = r;
  else
    p->head = r;
  p->tail = r;
  p->waiting++;
  kick(p);
  if (p->healthy == 0)
    arm_unavail(p);
}

static void requeue_head(db_pool_t *p, db_req_t *r) {
  r->next = p->head;
  p->head = r;
  if (!p->tail)
    p->tail = r;
  p->waiting++;
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

/* Ends request r (no longer queued or in flight) with status and, for one
 * statement, its result: the callbacks fire, and r is back on the free
 * list before the last of them. */
static void req_finish(db_pool_t *p, db_req_t *r, int status, PGresult *res) {
  if (r->kind == REQ_ACQUIRE) {
    db_acquire_cb cb = r->acquire_cb;
    void *data = r->data;
    req_put(p, r);
    cb(data, status, NULL);
    return;
  }
  if (!r->many) {
    db_result_cb cb = r->cb;
    void *data = r->data;
    req_put(p, r);
    cb(data, status, res);
    return;
  }
  for (; r->idx < r->ncalls; r->idx++)
    r->calls[r->idx].cb(r->calls[r->idx].data, status, NULL);
  if (status != DB_OK && r->status == DB_OK)
    r->status = status;
  db_done_cb done = r->done;
  void *data = r->done_data;
  int st = r->status;
  req_put(p, r);
  done(data, st);
}

static void fail_waiters(db_pool_t *p, int status) {
  db_req_t *r;
  while ((r = dequeue(p)) != NULL) req_finish(p, r, status, NULL);
}

/* The unavailable timer runs only while waiters wait and no connection is
 * healthy; under load with healthy connections the queue never times out. */
static void on_unavail(uv_timer_t *t) {
  db_pool_t *p = container_of(t, db_pool_t, unavail);
  uint64_t now = uv_now(p->loop);
  while (p->head && p->healthy == 0 && !p->closing) {
    uint64_t since = p->head->at > p->unhealthy_since ? p->head->at : p->unhealthy_since;
    if (since + (uint64_t)p->unavailable_after_ms > now)
      break;
    req_finish(p, dequeue(p), DB_EUNAVAIL, NULL);
  }
  arm_unavail(p);
}

static void arm_unavail(db_pool_t *p) {
  if (p->closing || p->healthy > 0 || !p->head) {
    uv_timer_stop(&p->unavail);
    return;
  }
  uint64_t since = p->head->at > p->unhealthy_since ? p->head->at : p->unhealthy_since;
  uint64_t due = since + (uint64_t)p->unavailable_after_ms, now = uv_now(p->loop);
  uv_timer_start(&p->unavail, on_unavail, due > now ? due - now : 0, 0);
}

/* ---- sending ---- */

/* Breaks the connection from the loop, not now: the units already in
 * flight on it belong to other callers, and the caller still inside
 * db_query / db_conn_query / db_pipeline / db_conn_pipeline must not see
 * their callbacks fire on its stack (db.h; libuv defers a failed connect
 * the same way). The slot's timer carries it: in READY it is otherwise
 * only the query timeout. pick() skips the slot meanwhile. */
static void break_later(db_conn_t *c, const char *why) {
  if (c->break_status)
    return;
  c->break_status = DB_EUNAVAIL;
  snprintf(c->break_why, sizeof(c->break_why), "%s", why ? why : "");
  uv_timer_start(&c->timer, on_timer, 0, 0);
}

/* Flushes what libpq buffered and watches for what comes next: always
 * readable (results, or the server closing an idle connection), writable
 * too while output is pending. From the loop only: a failure breaks the
 * connection at once. */
static void flush_and_watch(db_conn_t *c) {
  int r = PQflush(c->pg);
  int k = r < 0 ? 0 : db_cork_push(&c->cork);
  if (k < 0) {
    conn_lost_break(c, uv_strerror(k));
    return;
  }
  int rc =
      r < 0 ? UV_EIO : watch(c, UV_READABLE | (r == 1 || k == 1 ? UV_WRITABLE : 0), 0);
  if (rc != 0)
    conn_lost_break(c, r < 0 ? PQerrorMessage(c->pg) : uv_strerror(rc));
}

/* Every connection something was queued on since the loop last waited;
 * callbacks that run from here may queue more, which leaves in the same
 * turn. */
static void on_flush(uv_prepare_t *h) {
  db_pool_t *p = container_of(h, db_pool_t, flusher);
  db_conn_t *c;
  while ((c = p->dirty) != NULL) {
    p->dirty = c->next_dirty;
    c->dirty = 0;
    if (c->pg && c->state == CONN_READY)
      deliver(c); /* what the sends collected */
    if (c->pg && c->state == CONN_READY)
      flush_and_watch(c);
  }
  uv_prepare_stop(h);
}

static void mark_dirty(db_conn_t *c) {
  db_pool_t *p = c->pool;
  if (c->dirty)
    return;
  c->dirty = 1;
  c->next_dirty = p->dirty;
  p->dirty = c;
  uv_prepare_start(&p->flusher, on_flush);
}

static void start_query_timer(db_conn_t *c) {
  db_pool_t *p = c->pool;
  if (p->query_timeout_ms <= 0 || c->break_status)
    return;
  if (!c->head) {
    uv_timer_stop(&c->timer);
    return;
  }
  uint64_t due = c->head->at + (uint64_t)p->query_timeout_ms, now = uv_now(p->loop);
  uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

/* The sync point: libpq 17 can queue it without flushing, so the flusher
 * sends the whole iteration at once; older libpq flushes each. */
static int pipeline_sync(PGconn *pg) {
#ifdef LIBPQ_HAS_SEND_PIPELINE_SYNC
  return PQsendPipelineSync(pg);
#else
  return PQpipelineSync(pg);
#endif
}

/* Queues r's statements and its own sync point on c; r joins c's units.
 * 0, or DB_EUNAVAIL when libpq refused: the connection cannot be trusted
 * any more, and r is not on it (nothing of it was committed: its sync
 * point never left). */
static int send_unit(db_conn_t *c, db_req_t *r) {
  db_pool_t *p = c->pool;
  db_cork_start(&c->cork, c->pg); /* the flusher writes the iteration's units at once */
  for (int i = 0; i < r->ncalls; i++) {
    const db_call_t *k = &r->calls[i];
    const db_stmt_t *st = &p->stmts[k->stmt];
    int ok = p->unnamed ? PQsendQueryParams(c->pg, st->sql, k->nparams, NULL, k->params,
                                            NULL, NULL, st->binary)
                        : PQsendQueryPrepared(c->pg, st->name, k->nparams, k->params,
                                              NULL, NULL, st->binary);
    if (!ok)
      return DB_EUNAVAIL;
  }
  if (!pipeline_sync(c->pg))
    return DB_EUNAVAIL;
  r->next = NULL;
  r->at = uv_now(p->loop);
  if (c->tail)
    c->tail->next = r;
  else
    c->head = r;
  c->tail = r;
  c->depth++;
  p->inflight++;
  p->depth_hist[c->depth < DB_DEPTH_SLOTS ? c->depth - 1 : DB_DEPTH_SLOTS - 1]++;
  if (c->depth == 1)
    start_query_timer(c);
  mark_dirty(c);
  collect(c);
  return 0;
}

static db_req_t *unit_pop(db_conn_t *c) {
  db_req_t *r = c->head;
  c->head = r->next;
  if (!c->head)
    c->tail = NULL;
  c->depth--;
  c->pool->inflight--;
  return r;
}

static void hold(db_conn_t *c) {
  c->held = 1;
  c->pool->nheld++;
}

/* A held connection released while its units were in flight goes back
 * once the last is answered (or failed). */
static void maybe_release(db_conn_t *c) {
  if (c->held && c->release && c->depth == 0) {
    c->release = 0;
    db_pool_release(c);
  }
}

/* Gives waiter r (dequeued) to c, from the loop. */
static void grant(db_pool_t *p, db_conn_t *c, db_req_t *r) {
  if (r->kind == REQ_ACQUIRE) {
    db_acquire_cb cb = r->acquire_cb;
    void *data = r->data;
    req_put(p, r);
    hold(c);
    cb(data, DB_OK, c);
    return;
  }
  req_resolve_params(r);
  if (send_unit(c, r) == 0)
    return;
  /* Nothing of r left: it goes back to the head of the queue, and the
   * slot to reconnecting. */
  requeue_head(p, r);
  conn_break(c, DB_EUNAVAIL, PQerrorMessage(c->pg));
}

/* Hands waiters, in order, to slots that can take them. From the loop. */
static void serve(db_pool_t *p) {
  while (!p->closing && p->head) {
    db_conn_t *c = pick(p, p->head->kind == REQ_ACQUIRE);
    if (!c)
      return;
    grant(p, c, dequeue(p));
  }
}

static void on_kick(uv_idle_t *h) {
  db_pool_t *p = container_of(h, db_pool_t, kick);
  uv_idle_stop(h);
  serve(p);
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
  LOG_ERROR(NULL, "%s unavailable: %s", p->name, why && *why ? why : "connection failed");
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
  LOG_DEBUG(NULL, "%s connect attempt failed (retry in %llu ms): %s", p->name,
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
    LOG_INFO(NULL, "%s available again", p->name);
  }
  kick(p);
}

/* The statements one after another, then pipeline mode for good. */
static void prepare_next(db_conn_t *c) {
  db_pool_t *p = c->pool;
  if (c->prepared == p->nstmts) {
    c->preparing = 0;
    if (!PQenterPipelineMode(c->pg)) {
      attempt_failed(c, PQerrorMessage(c->pg));
      return;
    }
    ready(c);
    return;
  }
  const db_stmt_t *s = &p->stmts[c->prepared];
  if (!PQsendPrepare(c->pg, s->name, s->sql, s->nparams, NULL)) {
    attempt_failed(c, PQerrorMessage(c->pg));
    return;
  }
  c->preparing = 1;
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
  c->prepared = c->pool->unnamed ? c->pool->nstmts : 0; /* unnamed: nothing to prepare */
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

/* Keeps a statement's first result; an error after it (a commit failing
 * at the sync point) replaces a success. */
static void keep(db_conn_t *c, PGresult *r) {
  if (!c->res) {
    c->res = r;
  } else if (result_status(r) != DB_OK && result_status(c->res) == DB_OK) {
    PQclear(c->res);
    c->res = r;
  } else {
    PQclear(r);
  }
}

/* The end of one statement's results. Several statements: its callback
 * fires now. One: the result waits for the sync point. */
static void statement_end(db_conn_t *c) {
  db_req_t *r = c->head;
  if (!r->many || r->idx >= r->ncalls || !c->res)
    return;
  PGresult *res = c->res;
  c->res = NULL;
  int st = result_status(res);
  if (st != DB_OK && r->status == DB_OK)
    r->status = st;
  db_call_t *k = &r->calls[r->idx++];
  k->cb(k->data, st, res);
  PQclear(res);
}

/* The head unit's sync point: it is over, committed if it wrote. */
static void unit_done(db_conn_t *c) {
  db_pool_t *p = c->pool;
  db_req_t *r = unit_pop(c);
  PGresult *res = c->res;
  c->res = NULL;
  start_query_timer(c);
  if (!r->many) {
    req_finish(p, r, res ? result_status(res) : DB_EUNAVAIL, res);
  } else {
    if (res && result_status(res) != DB_OK && r->status == DB_OK)
      r->status = result_status(res);
    req_finish(p, r, r->idx < r->ncalls ? DB_EUNAVAIL : DB_OK, NULL);
  }
  if (res)
    PQclear(res);
  maybe_release(c);
}

/* One stashed entry: collect() stashes a NULL only where it ends a
 * statement. */
static void on_result(db_conn_t *c, PGresult *r) {
  if (!r) {
    statement_end(c);
  } else if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
    PQclear(r);
    unit_done(c);
  } else {
    keep(c, r);
  }
}

static void stash_push(db_conn_t *c, PGresult *r, int lost) {
  if (c->stash_n == c->stash_cap) {
    int cap = c->stash_cap ? 2 * c->stash_cap : 16;
    stashed_t *a = xcalloc((size_t)cap, sizeof(*a));
    for (int i = 0; i < c->stash_n; i++)
      a[i] = c->stash[(c->stash_head + i) % c->stash_cap];
    free(c->stash);
    c->stash = a;
    c->stash_cap = cap;
    c->stash_head = 0;
  }
  c->stash[(c->stash_head + c->stash_n++) % c->stash_cap] = (stashed_t){r, lost};
}

/* Takes from libpq every result it can give without reading the socket,
 * into c's stash; nothing is handed over here, so this may run inside a
 * caller's call. Why it exists: libpq 15 reads the socket inside a send
 * (a failed or partial write), and when a read meets the end of the
 * stream it frees its queue of pipelined commands, and what it had read
 * but not yet parsed is then lost - the results of units that committed.
 * Collecting after every send and before every read leaves nothing
 * unparsed for such a read to lose. */
static void collect(db_conn_t *c) {
  while (c->pg && PQstatus(c->pg) == CONNECTION_OK && c->stash_syncs < c->depth &&
         !PQisBusy(c->pg)) {
    PGresult *r = PQgetResult(c->pg);
    if (!r) {
      if (!c->stash_open)
        return; /* a NULL that ends nothing: wait for input */
      c->stash_open = 0;
      stash_push(c, NULL, 0);
      continue;
    }
    int sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    int lost = PQresultStatus(r) == PGRES_FATAL_ERROR && conn_lost(c->pg, r);
    c->stash_open = !sync;
    c->stash_syncs += sync;
    stash_push(c, r, lost);
    if (lost) {
      c->lost = 1; /* the break follows, from the loop; nothing after counts */
      return;
    }
  }
}

/* Hands the stashed results over, from the loop. User callbacks run from
 * here and may send more, release the connection or close the pool, so
 * the loop re-checks the connection on every turn. */
static void deliver(db_conn_t *c) {
  while (c->pg && c->stash_n > 0) {
    stashed_t e = c->stash[c->stash_head];
    c->stash_head = (c->stash_head + 1) % c->stash_cap;
    c->stash_n--;
    if (e.r && PQresultStatus(e.r) == PGRES_PIPELINE_SYNC)
      c->stash_syncs--;
    if (e.lost) {
      char why[256];
      snprintf(why, sizeof(why), "%s", PQresultErrorMessage(e.r));
      PQclear(e.r);
      conn_break(c, DB_EUNAVAIL, why);
      return;
    }
    on_result(c, e.r);
  }
}

/* Reads every result that is complete, from the loop. */
static void drain(db_conn_t *c) {
  if (c->state != CONN_PREPARING) {
    collect(c);
    deliver(c);
    return;
  }
  while (c->pg && c->preparing && !PQisBusy(c->pg)) {
    PGresult *r = PQgetResult(c->pg);
    if (r && PQresultStatus(r) == PGRES_FATAL_ERROR && conn_lost(c->pg, r)) {
      PQclear(r);
      attempt_failed(c, "connection lost while preparing");
      return;
    }
    on_prepared(c, r);
  }
}

static void io(db_conn_t *c, int events) {
  db_pool_t *p = c->pool;
  if (c->state == CONN_READY)
    collect(c); /* before a read that may meet the end of the stream */
  if ((events & UV_READABLE) && !PQconsumeInput(c->pg)) {
    conn_lost_break(c, PQerrorMessage(c->pg));
  } else if (PQstatus(c->pg) == CONNECTION_BAD) {
    conn_lost_break(c, PQerrorMessage(c->pg));
  } else {
    drain(c);
    /* A dirty slot is flushed by the flusher, with the rest of the turn. */
    if (c->pg && (c->state == CONN_READY || c->state == CONN_PREPARING) && !c->dirty)
      flush_and_watch(c);
  }
  /* Answers freed room on this slot: waiters take it now, not a turn later. */
  serve(p);
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
      if (c->break_status != 0)
        conn_lost_break(c, c->break_why);
      else if (c->head)
        conn_break(c, DB_ETIMEDOUT, "query timeout");
      break;
    default:
      break;
  }
}

/* ---- breaking ---- */

/* Fails every unit in flight on c (their callbacks fire) with status. */
static void fail_units(db_conn_t *c, int status) {
  while (c->head) req_finish(c->pool, unit_pop(c), status, NULL);
  maybe_release(c);
}

/* The connection is lost (or abandoned after a query timeout): drop it,
 * fail every unit in flight on it, and reconnect at once if nobody holds
 * it (a holder's release does it otherwise). A unit is never retried: it
 * may have written. */
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
  LOG_WARN(NULL, "%s connection lost: %s", c->pool->name, msg);
  teardown(c);
  set_state(c, p->closing ? CONN_CLOSED : CONN_DOWN);
  if (!c->held && !p->closing)
    uv_timer_start(&c->timer, on_timer, 0, 0);
  /* What was sent may have committed: its caller must not be told it
   * was never run (DB_EUNAVAIL). */
  fail_units(c, status == DB_EUNAVAIL ? DB_ELOST : status);
}

/* The connection is gone (or cannot be trusted): first every result libpq
 * already holds, so a unit whose sync point arrived (a committed write) is
 * answered as such; libpq keeps what it read when the socket fails, and
 * hands it out before its own error. Then the break, for the rest. */
static void conn_lost_break(db_conn_t *c, const char *why) {
  char msg[160];
  snprintf(msg, sizeof(msg), "%s", why ? why : "");
  if (c->state == CONN_READY)
    drain(c);
  if (c->pg && c->state == CONN_READY)
    conn_break(c, DB_EUNAVAIL, msg);
  else if (c->pg)
    attempt_failed(c, msg);
}

/* ---- the public API ---- */

int db_pool_new(uv_loop_t *loop, const db_pool_opts_t *opts, db_pool_t **out) {
  if (!opts->conninfo || opts->size < 1 || opts->nstmts < 0 || opts->pipeline_depth < 0)
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
  p->name = xstrdup(opts->name ? opts->name : "PostgreSQL");
  p->stmts = opts->stmts;
  p->nstmts = opts->nstmts;
  p->size = opts->size;
  p->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 1000;
  p->unavailable_after_ms =
      opts->unavailable_after_ms > 0 ? opts->unavailable_after_ms : 1000;
  p->query_timeout_ms = opts->query_timeout_ms;
  p->depth_cap = opts->pipeline_depth > 1 ? opts->pipeline_depth : 1;
  p->unnamed = opts->unnamed;
  p->rng = (uint32_t)(uv_hrtime() ^ ((uint64_t)getpid() << 16)) | 1u;
  p->unhealthy_since = uv_now(loop);
  uv_idle_init(loop, &p->kick);
  uv_timer_init(loop, &p->unavail);
  uv_prepare_init(loop, &p->flusher);
  p->nhandles = 3;
  for (int i = 0; i < p->size; i++) {
    db_conn_t *c = &p->conns[i];
    c->pool = p;
    c->active = -1;
    c->state = CONN_DOWN;
    db_cork_init(&c->cork);
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
  for (int i = 0; i < p->size; i++) {
    db_conn_t *c = &p->conns[i];
    teardown(c);
    set_state(c, CONN_CLOSED);
    fail_units(c, DB_ECLOSING);
    close_handle(p, (uv_handle_t *)&c->timer, on_handle_closed);
  }
  close_handle(p, (uv_handle_t *)&p->unavail, on_handle_closed);
  close_handle(p, (uv_handle_t *)&p->flusher, on_handle_closed);
  /* The kick handle stays open until every holder has released, so a late
   * db_pool_release never touches freed memory. */
  if (p->nheld == 0)
    close_handle(p, (uv_handle_t *)&p->kick, on_handle_closed);
}

void db_pool_stats(const db_pool_t *p, db_pool_stats_t *out) {
  out->size = p->size;
  out->healthy = p->healthy;
  out->in_use = 0;
  for (int i = 0; i < p->size; i++)
    out->in_use += p->conns[i].held || p->conns[i].depth > 0;
  out->waiting = p->waiting;
  out->inflight = p->inflight;
  out->reconnects = p->reconnects;
  memcpy(out->depth, p->depth_hist, sizeof(out->depth));
}

static int check_stmt(db_pool_t *p, int stmt, int nparams) {
  if (stmt < 0 || stmt >= p->nstmts || nparams != p->stmts[stmt].nparams)
    return UV_EINVAL;
  return 0;
}

static int check_calls(db_pool_t *p, const db_call_t *calls, int n) {
  if (n < 1)
    return UV_EINVAL;
  for (int i = 0; i < n; i++) {
    int rc = check_stmt(p, calls[i].stmt, calls[i].nparams);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Sends r on the shared slot with the fewest units in flight, or queues
 * it: behind any waiter, so the queue stays FIFO. A slot that refuses the
 * send is broken from the loop (break_later) and the next one tried. */
static int submit(db_pool_t *p, db_req_t *r) {
  db_conn_t *c;
  while (!p->head && (c = pick(p, 0)) != NULL) {
    if (send_unit(c, r) == 0)
      return 0;
    break_later(c, PQerrorMessage(c->pg));
  }
  enqueue(p, r);
  return 0;
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
  db_req_t *r = req_get(p, REQ_QUERY, 1);
  r->calls[0] = (db_call_t){stmt, params, nparams, NULL, NULL};
  r->cb = cb;
  r->data = data;
  return submit(p, r);
}

int db_pipeline(db_pool_t *p, const db_call_t *calls, int n, db_done_cb done,
                void *data) {
  if (p->closing)
    return DB_ECLOSING;
  int rc = check_calls(p, calls, n);
  if (rc != 0)
    return rc;
  if (p->down)
    return DB_EUNAVAIL;
  db_req_t *r = req_get(p, REQ_QUERY, n);
  memcpy(r->calls, calls, (size_t)n * sizeof(*calls));
  r->many = 1;
  r->done = done;
  r->done_data = data;
  return submit(p, r);
}

int db_pool_acquire(db_pool_t *p, db_acquire_cb cb, void *data) {
  if (p->closing)
    return DB_ECLOSING;
  if (p->down)
    return DB_EUNAVAIL;
  db_req_t *r = req_get(p, REQ_ACQUIRE, 0);
  r->acquire_cb = cb;
  r->data = data;
  enqueue(p, r);
  return 0;
}

static int check_conn(db_conn_t *c) {
  if (c->pool->closing)
    return DB_ECLOSING;
  if (!c->held || c->state != CONN_READY || c->break_status || c->lost)
    return DB_EUNAVAIL;
  if (c->depth > 0)
    return DB_EBUSY;
  return 0;
}

/* On a held slot nothing else is in flight, so a refused send breaks it at
 * once without firing anyone's callback. */
static int send_held(db_conn_t *c, db_req_t *r) {
  if (send_unit(c, r) == 0)
    return 0;
  req_put(c->pool, r);
  conn_break(c, DB_EUNAVAIL, PQerrorMessage(c->pg));
  return DB_EUNAVAIL;
}

int db_conn_query(db_conn_t *c, int stmt, const char *const *params, int nparams,
                  db_result_cb cb, void *data) {
  int rc = check_conn(c);
  if (rc == 0)
    rc = check_stmt(c->pool, stmt, nparams);
  if (rc != 0)
    return rc;
  db_req_t *r = req_get(c->pool, REQ_QUERY, 1);
  r->calls[0] = (db_call_t){stmt, params, nparams, NULL, NULL};
  r->cb = cb;
  r->data = data;
  return send_held(c, r);
}

int db_conn_pipeline(db_conn_t *c, const db_call_t *calls, int n, db_done_cb done,
                     void *data) {
  int rc = check_conn(c);
  if (rc == 0)
    rc = check_calls(c->pool, calls, n);
  if (rc != 0)
    return rc;
  db_req_t *r = req_get(c->pool, REQ_QUERY, n);
  memcpy(r->calls, calls, (size_t)n * sizeof(*calls));
  r->many = 1;
  r->done = done;
  r->done_data = data;
  return send_held(c, r);
}

void db_pool_release(db_conn_t *c) {
  db_pool_t *p = c->pool;
  if (!c->held)
    return;
  if (c->depth > 0) {
    /* Released with units in flight: their callbacks still fire, and the
     * connection returns to the pool after the last. */
    c->release = 1;
    return;
  }
  c->held = 0;
  c->release = 0;
  p->nheld--;
  if (p->closing) {
    if (p->nheld == 0)
      close_handle(p, (uv_handle_t *)&p->kick, on_handle_closed);
    return;
  }
  if (c->state == CONN_READY)
    kick(p);
  else if (c->state == CONN_DOWN && !uv_is_active((uv_handle_t *)&c->timer))
    uv_timer_start(&c->timer, on_timer, 0, 0);
}
