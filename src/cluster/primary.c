/* The primary: spawns the workers (Node's cluster.fork: the same binary,
 * re-executed, with an IPC pipe on fd 3), hands them connections, re-forks
 * the ones that die, replaces them one by one on SIGHUP, and drains them on
 * SIGTERM/SIGINT.
 *
 * A worker object lives from spawn to the close callback of its process
 * handle; a slot points at its current worker. During a SIGHUP roll a slot
 * briefly has a retiring worker (no longer given connections) and its
 * replacement. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define CRASH_WINDOW_MS 10000
#define CRASH_LIMIT 5
#define STABLE_MS 10000 /* a worker up this long resets its slot's back-off */

typedef enum { W_STARTING, W_READY, W_RETIRING, W_EXITED } wstate_t;

typedef struct primary_s primary_t;

typedef struct pworker_s {
  uv_process_t proc;
  uv_pipe_t ipc;
  primary_t *p;
  int slot;
  wstate_t state;
  int handles_open;
  int pipe_broken; /* its IPC pipe failed or closed: dead or dying, whatever
                      its state says until the primary reaps it */
  uint64_t started_ms;
  ipc_reader_t reader;
  struct pending_conn_s *unacked, *unacked_tail; /* sent, not yet MSG_TAKEN */
  struct pworker_s *prev_all, *next_all;         /* every worker not yet freed */
  metrics_snap_t *late[2]; /* per view, a snapshot that missed its scrape: its lag and
                           utilization windows join the next one */
} pworker_t;

/* A slot is a small state machine: at most one current worker (serving,
 * or starting after a death) and, only while SIGHUP's roll is at this
 * slot, at most one replacement. A death leaves the slot without one of
 * them; the respawn timer re-forks only what is missing, so nothing ever
 * overwrites a worker the slot already has:
 *   cur dies, a replacement on its way -> nothing (it takes the slot)
 *   cur dies, no replacement           -> back-off, re-fork cur
 *   the replacement dies               -> back-off, re-fork a replacement
 *   the replacement is ready           -> it is cur; the old one retires */
typedef struct slot_s {
  pworker_t *cur;
  pworker_t *next; /* its replacement during a SIGHUP roll */
  uint64_t backoff_ms;
  uv_timer_t respawn;
} slot_t;

/* A connection waiting for a ready worker, or sent to one and not yet
 * taken (rr). Our copy of the socket is closed only once the handle was
 * written and the worker said MSG_TAKEN. */
typedef struct pending_conn_s {
  uv_tcp_t tcp;
  uv_write_t wreq;
  primary_t *p;
  struct pending_conn_s *next; /* in the waiting queue or a worker's unacked */
  unsigned written : 1;
  unsigned taken : 1;
} pending_conn_t;

struct primary_s {
  const core_config_t *cfg;
  uv_loop_t *loop;
  char exe[4096];
  char **argv;
  char **env;
  char id_env[64];
  slot_t *slots;
  int n;
  int rr_next;
  uv_tcp_t listener;
  int listening;
  uv_signal_t signals[3]; /* SIGTERM, SIGINT, SIGHUP */
  uv_timer_t force;
  pending_conn_t *waiting, *waiting_tail;
  uint64_t deaths[CRASH_LIMIT + 1];
  int ndeaths;
  int shutting_down;
  int delaying;          /* SIGTERM seen, --drain-delay running: not ready, serving */
  int notified;          /* READY=1 sent to systemd (every worker was ready once) */
  int delaying_notified; /* STOPPING=1 sent when --drain-delay began */
  const char *delay_why;
  int fatal;   /* workers were killed: close even if one is not reaped */
  int closed;  /* primary_close ran */
  int rolling; /* slot being replaced by SIGHUP, or -1 */
  int live;    /* worker processes not yet exited */
  int exit_code;
  struct collect_s *collects; /* metrics scrapes being merged */
  uint32_t rounds;
  const char *route_names[METRICS_ROUTES];
  int nroutes;
  http_router_t *names;
  char *env_db;   /* the DATABASE_URL= string in env */
  pworker_t *all; /* every worker not yet freed (retiring ones too) */
};

#define FATAL_REAP_MS 1000 /* after SIGKILL, how long to wait for the exits */

static int spawn(primary_t *p, int slot, int as_next);
static void roll_next(primary_t *p);

static char msg_handle = MSG_HANDLE;

/* Handing out connections (rr). */

static pworker_t *next_ready(primary_t *p) {
  for (int i = 0; i < p->n; i++) {
    int k = (p->rr_next + i) % p->n;
    pworker_t *w = p->slots[k].cur;
    if (w && w->state == W_READY && !w->pipe_broken) {
      p->rr_next = k + 1;
      return w;
    }
  }
  return NULL;
}

static void on_conn_closed(uv_handle_t *h) {
  free(container_of((uv_tcp_t *)h, pending_conn_t, tcp));
}

static void hand_off(primary_t *p, pending_conn_t *pc, pworker_t *w);

static void unlink_unacked(pworker_t *w, pending_conn_t *pc) {
  pending_conn_t *prev = NULL;
  for (pending_conn_t *q = w->unacked; q; prev = q, q = q->next) {
    if (q != pc)
      continue;
    if (prev)
      prev->next = q->next;
    else
      w->unacked = q->next;
    if (w->unacked_tail == q)
      w->unacked_tail = prev;
    q->next = NULL;
    return;
  }
}

static void wait_for_worker(primary_t *p, pending_conn_t *pc, int first) {
  pc->next = NULL;
  if (first) {
    pc->next = p->waiting;
    p->waiting = pc;
    if (!p->waiting_tail)
      p->waiting_tail = pc;
    return;
  }
  if (p->waiting_tail)
    p->waiting_tail->next = pc;
  else
    p->waiting = pc;
  p->waiting_tail = pc;
}

/* To the next ready worker, or into the queue for one (first: at its head,
 * for a connection that was already waiting its turn). */
static void place(primary_t *p, pending_conn_t *pc, int first) {
  pworker_t *w = next_ready(p);
  if (w)
    hand_off(p, pc, w);
  else
    wait_for_worker(p, pc, first);
}

/* A handoff that failed (the worker died before the primary reaped it: its
 * pipe answers EPIPE, or the write was cancelled when the pipe closed) did
 * not move the connection: our copy is still the client's only one, so it
 * goes to the next ready worker, or first in the queue for one. */
static void retry_handoff(primary_t *p, pending_conn_t *pc, pworker_t *failed) {
  failed->pipe_broken = 1;
  pc->written = pc->taken = 0;
  if (p->shutting_down) {
    uv_close((uv_handle_t *)&pc->tcp, on_conn_closed);
    return;
  }
  place(p, pc, 1);
}

/* The worker object outlives this callback: a closing pipe calls its write
 * callbacks before its close callback. */
static void after_handoff(uv_write_t *req, int status) {
  pending_conn_t *pc = container_of(req, pending_conn_t, wreq);
  pworker_t *w = req->handle->data;
  if (status < 0) {
    unlink_unacked(w, pc);
    retry_handoff(pc->p, pc, w);
    return;
  }
  pc->written = 1;
  if (pc->taken)
    uv_close((uv_handle_t *)&pc->tcp, on_conn_closed);
}

/* MSG_TAKEN: the worker took the oldest connection it was sent. */
static void on_taken(pworker_t *w) {
  pending_conn_t *pc = w->unacked;
  if (pc == NULL)
    return;
  w->unacked = pc->next;
  if (w->unacked == NULL)
    w->unacked_tail = NULL;
  pc->next = NULL;
  pc->taken = 1;
  if (pc->written)
    uv_close((uv_handle_t *)&pc->tcp, on_conn_closed);
}

static void hand_off(primary_t *p, pending_conn_t *pc, pworker_t *w) {
  uv_buf_t b = uv_buf_init(&msg_handle, 1);
  int rc = uv_write2(&pc->wreq, (uv_stream_t *)&w->ipc, &b, 1, (uv_stream_t *)&pc->tcp,
                     after_handoff);
  if (rc != 0) {
    retry_handoff(p, pc, w);
    return;
  }
  pc->next = NULL;
  if (w->unacked_tail)
    w->unacked_tail->next = pc;
  else
    w->unacked = pc;
  w->unacked_tail = pc;
}

/* A dead worker never took its unacked connections (their descriptors died
 * in its pipe): each goes to another worker. One whose write is still
 * queued is retried by after_handoff when the pipe's close cancels it. The
 * pipe is read to its end first: a MSG_TAKEN the worker sent before dying
 * may not have been read yet. */
static void on_worker_msg(void *arg, char type, const char *payload, size_t len);

static void take_back(primary_t *p, pworker_t *w) {
  uv_os_fd_t fd;
  char bytes[4096];
  ssize_t n;
  if (uv_fileno((uv_handle_t *)&w->ipc, &fd) == 0)
    while ((n = recv(fd, bytes, sizeof(bytes), MSG_DONTWAIT)) > 0)
      ipc_reader_feed(&w->reader, bytes, (size_t)n, on_worker_msg, w);
  pending_conn_t *pc = w->unacked;
  w->unacked = w->unacked_tail = NULL;
  while (pc) {
    pending_conn_t *next = pc->next;
    pc->next = NULL;
    if (pc->written)
      retry_handoff(p, pc, w);
    pc = next;
  }
}

static void flush_waiting(primary_t *p) {
  pworker_t *w;
  while (p->waiting && (w = next_ready(p)) != NULL) {
    pending_conn_t *pc = p->waiting;
    p->waiting = pc->next;
    if (!p->waiting)
      p->waiting_tail = NULL;
    hand_off(p, pc, w);
  }
}

static void on_connection(uv_stream_t *listener, int status) {
  primary_t *p = listener->data;
  if (status < 0)
    return;
  pending_conn_t *pc = xcalloc(1, sizeof(*pc));
  pc->p = p;
  uv_tcp_init(p->loop, &pc->tcp);
  if (uv_accept(listener, (uv_stream_t *)&pc->tcp) != 0) {
    uv_close((uv_handle_t *)&pc->tcp, on_conn_closed);
    return;
  }
  place(p, pc, 0);
}

static void send_msg(pworker_t *w, char type, uv_stream_t *handle) {
  ipc_send((uv_stream_t *)&w->ipc, type, NULL, 0, NULL, 0, handle);
}

/* Worker lifecycle. */

static void on_worker_handle_closed(uv_handle_t *h) {
  pworker_t *w = h->data;
  if (--w->handles_open > 0)
    return;
  if (w->prev_all)
    w->prev_all->next_all = w->next_all;
  else
    w->p->all = w->next_all;
  if (w->next_all)
    w->next_all->prev_all = w->prev_all;
  ipc_reader_free(&w->reader);
  free(w->late[0]);
  free(w->late[1]);
  free(w);
}

static void fatal(primary_t *p, const char *why);
static void on_force(uv_timer_t *t);

static void on_ipc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char bytes[65536];
  buf->base = bytes;
  buf->len = sizeof(bytes);
}

/* systemd's READY=1 (Type=notify) once every slot's worker is ready: the
 * start-up is over and every worker takes connections. */
static void notify_ready(primary_t *p, const char *status) {
  for (int i = 0; i < p->n; i++)
    if (!p->slots[i].cur || p->slots[i].cur->state != W_READY)
      return;
  char msg[128];
  snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s (%d workers)", status, p->n);
  cluster_notify(msg);
  p->notified = 1;
}

static void on_ready(primary_t *p, pworker_t *w) {
  if (w->state != W_STARTING)
    return;
  w->state = W_READY;
  w->started_ms = uv_now(p->loop);
  char f[64];
  snprintf(f, sizeof(f), "\"worker\":%d,\"workerPid\":%d", w->slot + 1, w->proc.pid);
  LOG_INFO(f, "worker %d ready", w->slot + 1);
  if (p->cfg->sched == CORE_SCHED_NONE)
    send_msg(w, MSG_LISTEN, (uv_stream_t *)&p->listener);
  if (p->delaying)
    send_msg(w, MSG_UNREADY, NULL);
  flush_waiting(p);
  if (p->rolling == w->slot && p->slots[w->slot].next == w)
    roll_next(p);
  else if (!p->notified && !p->shutting_down && !p->delaying)
    notify_ready(p, "serving");
}

static void on_scrape(primary_t *p, pworker_t *w, const char *payload, size_t len);
static void on_snapshot(primary_t *p, pworker_t *w, const char *payload, size_t len);

static void on_worker_msg(void *arg, char type, const char *payload, size_t len) {
  pworker_t *w = arg;
  if (type == MSG_TAKEN)
    on_taken(w);
  else if (w->state == W_EXITED)
    return; /* read by take_back: only MSG_TAKEN counts */
  else if (type == MSG_READY)
    on_ready(w->p, w);
  else if (type == MSG_SCRAPE)
    on_scrape(w->p, w, payload, len);
  else if (type == MSG_SNAPSHOT)
    on_snapshot(w->p, w, payload, len);
}

static void on_ipc_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  pworker_t *w = st->data;
  if (nread < 0) { /* the worker's end closed: it is dead or dying */
    w->pipe_broken = 1;
    uv_read_stop(st);
    return;
  }
  ipc_reader_feed(&w->reader, buf->base, (size_t)nread, on_worker_msg, w);
}

/* Metrics: a worker asks (MSG_SCRAPE), every ready worker sends its
 * snapshot (MSG_COLLECT / MSG_SNAPSHOT), and the merged exposition goes
 * back to the asker (MSG_TEXT). Workers that do not answer within
 * COLLECT_TIMEOUT_MS are left out. */
#define COLLECT_TIMEOUT_MS 1000

typedef struct collect_s {
  uv_timer_t timer;
  primary_t *p;
  int requester_pid;
  uint32_t token, round;
  int by_worker; /* /metrics?by=worker */
  int expected, got;
  metrics_snap_t **snaps;
  struct collect_s *next;
} collect_t;

static pworker_t *find_pid(primary_t *p, int pid) {
  for (int i = 0; i < p->n; i++) {
    pworker_t *c = p->slots[i].cur, *n = p->slots[i].next;
    if (c && c->proc.pid == pid && c->state != W_EXITED)
      return c;
    if (n && n->proc.pid == pid && n->state != W_EXITED)
      return n;
  }
  return NULL;
}

static void on_collect_closed(uv_handle_t *h) {
  collect_t *c = container_of((uv_timer_t *)h, collect_t, timer);
  for (int i = 0; i < c->got; i++) free(c->snaps[i]);
  free(c->snaps);
  free(c);
}

static int by_worker(const void *a, const void *b) {
  const metrics_snap_t *x = *(metrics_snap_t *const *)a, *y = *(metrics_snap_t *const *)b;
  return x->worker - y->worker;
}

static void complete(collect_t *c) {
  primary_t *p = c->p;
  for (collect_t **pp = &p->collects; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  qsort(c->snaps, (size_t)c->got, sizeof(*c->snaps), by_worker);
  metrics_snap_t *self = xcalloc(1, sizeof(*self));
  metrics_process_sample(self);
  char info[256];
  core_config_labels(p->cfg, info, sizeof(info));
  metrics_view_t view = {c->by_worker, p->cfg->metrics_names == 1, info};
  core_buf_t text;
  core_buf_init(&text);
  metrics_render(&text, (const metrics_snap_t *const *)c->snaps, c->got, self,
                 p->route_names, p->nroutes, &view);
  pworker_t *w = find_pid(p, c->requester_pid);
  if (w)
    ipc_send((uv_stream_t *)&w->ipc, MSG_TEXT, &c->token, 4, text.data, text.len, NULL);
  core_buf_free(&text);
  free(self);
  uv_close((uv_handle_t *)&c->timer, on_collect_closed);
}

static void on_collect_timeout(uv_timer_t *t) {
  complete(container_of(t, collect_t, timer));
}

static void ask(collect_t *c, pworker_t *w) {
  if (w == NULL || w->state != W_READY)
    return;
  char view = c->by_worker ? 'w' : 'm';
  if (ipc_send((uv_stream_t *)&w->ipc, MSG_COLLECT, &c->round, 4, &view, 1, NULL) == 0)
    c->expected++;
}

static void on_scrape(primary_t *p, pworker_t *w, const char *payload, size_t len) {
  if (len < 4)
    return;
  collect_t *c = xcalloc(1, sizeof(*c));
  c->p = p;
  c->requester_pid = w->proc.pid;
  memcpy(&c->token, payload, 4);
  c->by_worker = len > 4 && payload[4] == 'w';
  c->round = ++p->rounds;
  c->snaps = xcalloc((size_t)p->n * 2, sizeof(metrics_snap_t *));
  c->next = p->collects;
  p->collects = c;
  uv_timer_init(p->loop, &c->timer);
  uv_timer_start(&c->timer, on_collect_timeout, COLLECT_TIMEOUT_MS, 0);
  for (int i = 0; i < p->n; i++) {
    ask(c, p->slots[i].cur);
    ask(c, p->slots[i].next);
  }
  if (c->expected == 0)
    complete(c);
}

/* A worker resets its windows when it sends a snapshot, so one that
 * arrives after its scrape was rendered is kept and folded into the
 * worker's next snapshot: a loop blocked past the deadline still shows its
 * lag on the following scrape. */
static void fold_late(pworker_t *w, metrics_snap_t *snap) {
  metrics_snap_t **late = &w->late[snap->view ? 1 : 0];
  if (*late == NULL)
    return;
  metrics_ll_merge(&snap->lag, &(*late)->lag);
  snap->loop_idle_ns += (*late)->loop_idle_ns;
  snap->loop_elapsed_ns += (*late)->loop_elapsed_ns;
  free(*late);
  *late = NULL;
}

static void on_snapshot(primary_t *p, pworker_t *w, const char *payload, size_t len) {
  uint32_t round;
  if (len != 4 + sizeof(metrics_snap_t))
    return;
  memcpy(&round, payload, 4);
  metrics_snap_t *snap = xmalloc(sizeof(*snap));
  memcpy(snap, payload + 4, sizeof(*snap));
  fold_late(w, snap);
  for (collect_t *c = p->collects; c; c = c->next) {
    if (c->round != round || c->got == c->expected)
      continue;
    c->snaps[c->got++] = snap;
    if (c->got == c->expected)
      complete(c);
    return;
  }
  w->late[snap->view ? 1 : 0] = snap;
}

static int crash_looping(primary_t *p) {
  uint64_t now = uv_now(p->loop);
  if (p->ndeaths == CRASH_LIMIT + 1) {
    memmove(p->deaths, p->deaths + 1, sizeof(p->deaths[0]) * CRASH_LIMIT);
    p->ndeaths--;
  }
  p->deaths[p->ndeaths++] = now;
  return p->ndeaths > CRASH_LIMIT && now - p->deaths[0] <= CRASH_WINDOW_MS;
}

static void on_respawn(uv_timer_t *t) {
  slot_t *s = container_of(t, slot_t, respawn);
  primary_t *p = t->data;
  int i = (int)(s - p->slots);
  if (p->shutting_down)
    return;
  int rc = 0;
  if (p->rolling == i && s->next == NULL)
    rc = spawn(p, i, 1);
  else if (s->cur == NULL && s->next == NULL)
    rc = spawn(p, i, 0);
  if (rc != 0) { /* fork failed (EAGAIN, ENOMEM): try again, later each time */
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (s->backoff_ms > BACKOFF_MAX_MS)
      s->backoff_ms = BACKOFF_MAX_MS;
    uv_timer_start(&s->respawn, on_respawn, s->backoff_ms, 0);
  }
}

static void primary_close(primary_t *p);

static void maybe_finish(primary_t *p) {
  if (!p->shutting_down || p->live > 0 || p->closed)
    return;
  LOG_INFO(NULL, "all workers exited");
  primary_close(p);
}

static void on_worker_exit(uv_process_t *proc, int64_t status, int term_signal) {
  pworker_t *w = container_of(proc, pworker_t, proc);
  primary_t *p = w->p;
  wstate_t was = w->state;
  slot_t *s = &p->slots[w->slot];
  w->state = W_EXITED;
  p->live--;
  take_back(p, w);
  uv_close((uv_handle_t *)&w->proc, on_worker_handle_closed);
  uv_close((uv_handle_t *)&w->ipc, on_worker_handle_closed);
  int was_cur = s->cur == w, was_next = s->next == w;
  if (was_cur)
    s->cur = NULL;
  if (was_next)
    s->next = NULL;
  char f[96];
  snprintf(f, sizeof(f), "\"worker\":%d,\"workerPid\":%d,\"code\":%d,\"signal\":%d",
           w->slot + 1, proc->pid, (int)status, term_signal);
  if (p->shutting_down || was == W_RETIRING || (!was_cur && !was_next)) {
    /* A worker that fails its own exit (a forced drain, or in a debug
     * build a handle left open) fails the primary's too: the supervisor
     * sees the primary only. */
    int failed = status != 0 || term_signal != 0;
    if (failed && p->shutting_down)
      p->exit_code = 1;
    if (failed)
      LOG_WARN(f, "worker %d exited with code %d, signal %d", w->slot + 1, (int)status,
               term_signal);
    else
      LOG_INFO(f, "worker %d exited", w->slot + 1);
    maybe_finish(p);
    return;
  }
  LOG_ERROR(f, "worker %d died (code %d, signal %d)", w->slot + 1, (int)status,
            term_signal);
  /* A current worker that never got ready cannot start (a bad port, say);
   * a replacement that dies while starting is retried like any death, and
   * the crash-loop limit stops one that never can. */
  if (was == W_STARTING && was_cur) {
    fatal(p, "a worker failed at start-up");
    return;
  }
  if (crash_looping(p)) {
    fatal(p, "more than 5 worker deaths in 10 s");
    return;
  }
  if (was == W_READY && uv_now(p->loop) - w->started_ms > STABLE_MS)
    s->backoff_ms = 0;
  s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
  if (s->backoff_ms > BACKOFF_MAX_MS)
    s->backoff_ms = BACKOFF_MAX_MS;
  if (was_next || s->next == NULL)
    uv_timer_start(&s->respawn, on_respawn, s->backoff_ms, 0);
}

static int spawn(primary_t *p, int slot, int as_next) {
  pworker_t *w = xcalloc(1, sizeof(*w));
  w->p = p;
  w->slot = slot;
  w->state = W_STARTING;
  uv_pipe_init(p->loop, &w->ipc, 1);
  w->ipc.data = w;
  w->proc.data = w;
  w->handles_open = 2;
  uv_stdio_container_t stdio[4] = {
      {.flags = UV_IGNORE},
      {.flags = UV_INHERIT_FD, .data.fd = 1},
      {.flags = UV_INHERIT_FD, .data.fd = 2},
      {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE,
       .data.stream = (uv_stream_t *)&w->ipc}};
  snprintf(p->id_env, sizeof(p->id_env), "%s=%d", CLUSTER_WORKER_ENV, slot + 1);
  uv_process_options_t o = {.exit_cb = on_worker_exit,
                            .file = p->exe,
                            .args = p->argv,
                            .env = p->env,
                            .stdio_count = 4,
                            .stdio = stdio};
  w->next_all = p->all;
  if (p->all)
    p->all->prev_all = w;
  p->all = w;
  int rc = uv_spawn(p->loop, &w->proc, &o);
  if (rc != 0) {
    /* libuv initialised the process handle before failing: it is closed
     * like the pipe, and the worker is freed in the last close callback. */
    LOG_ERROR(NULL, "cannot spawn a worker: %s", uv_strerror(rc));
    w->state = W_EXITED;
    uv_close((uv_handle_t *)&w->proc, on_worker_handle_closed);
    uv_close((uv_handle_t *)&w->ipc, on_worker_handle_closed);
    return rc;
  }
  p->live++;
  if (as_next)
    p->slots[slot].next = w;
  else
    p->slots[slot].cur = w;
  uv_read_start((uv_stream_t *)&w->ipc, on_ipc_alloc, on_ipc_read);
  return 0;
}

/* Fatal: stop every worker hard (retiring ones and a roll's replacement
 * too), reap them, and exit non-zero. */
static void fatal(primary_t *p, const char *why) {
  if (p->fatal)
    return;
  LOG_ERROR(NULL, "primary exiting: %s", why);
  for (pworker_t *w = p->all; w; w = w->next_all)
    if (w->state != W_EXITED)
      uv_process_kill(&w->proc, SIGKILL);
  p->exit_code = 1;
  p->shutting_down = 1;
  p->fatal = 1;
  uv_timer_start(&p->force, on_force, FATAL_REAP_MS, 0);
  maybe_finish(p);
}

/* The shutdown timeout (graceful: the workers are killed), or after a
 * fatal the reaping grace (a worker that does not die is left to init). */
static void on_force(uv_timer_t *t) {
  primary_t *p = t->data;
  if (p->fatal)
    primary_close(p);
  else
    fatal(p, "shutdown timeout: workers killed");
}

/* Shutdown through owners: the primary closes everything it owns, each
 * object freed in its own close callback (a connection still held, a
 * metrics merge, a worker's process and pipe). Nothing is left for the
 * loop, so uv_run returns; cluster_primary_run then frees the primary. */
static void close_if_open(uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void primary_close(primary_t *p) {
  if (p->closed)
    return;
  p->closed = 1;
  p->shutting_down = 1;
  for (int i = 0; i < 3; i++) close_if_open((uv_handle_t *)&p->signals[i]);
  close_if_open((uv_handle_t *)&p->force);
  cluster_notify_watchdog_stop();
  for (int i = 0; i < p->n; i++) close_if_open((uv_handle_t *)&p->slots[i].respawn);
  if (p->listening) {
    close_if_open((uv_handle_t *)&p->listener);
    p->listening = 0;
  }
  while (p->waiting) {
    pending_conn_t *pc = p->waiting;
    p->waiting = pc->next;
    uv_close((uv_handle_t *)&pc->tcp, on_conn_closed);
  }
  p->waiting_tail = NULL;
  while (p->collects) {
    collect_t *c = p->collects;
    p->collects = c->next;
    uv_close((uv_handle_t *)&c->timer, on_collect_closed);
  }
  /* Only after a fatal can a worker still be here, killed and not reaped. */
  for (pworker_t *w = p->all; w; w = w->next_all) {
    if (w->state == W_EXITED)
      continue;
    w->state = W_EXITED;
    p->live--;
    for (pending_conn_t *pc = w->unacked; pc; pc = pc->next)
      if (pc->written) /* an unwritten one closes when its write is cancelled */
        uv_close((uv_handle_t *)&pc->tcp, on_conn_closed);
    w->unacked = w->unacked_tail = NULL;
    uv_close((uv_handle_t *)&w->proc, on_worker_handle_closed);
    uv_close((uv_handle_t *)&w->ipc, on_worker_handle_closed);
  }
}

static void shutdown_all(primary_t *p, const char *why) {
  p->shutting_down = 1;
  LOG_INFO(NULL, "shutting down: %s", why);
  if (!p->delaying_notified)
    cluster_notify("STOPPING=1\nSTATUS=draining");
  if (p->listening) {
    uv_close((uv_handle_t *)&p->listener, NULL);
    p->listening = 0;
  }
  while (p->waiting) { /* connections no worker took: closed unanswered */
    pending_conn_t *pc = p->waiting;
    p->waiting = pc->next;
    uv_close((uv_handle_t *)&pc->tcp, on_conn_closed);
  }
  p->waiting_tail = NULL;
  for (int i = 0; i < p->n; i++) {
    uv_timer_stop(&p->slots[i].respawn);
    pworker_t *c = p->slots[i].cur, *n = p->slots[i].next;
    if (c && c->state != W_EXITED)
      send_msg(c, MSG_DRAIN, NULL);
    if (n && n->state != W_EXITED)
      send_msg(n, MSG_DRAIN, NULL); /* a roll's replacement */
  }
  p->rolling = -1;
  uv_timer_start(&p->force, on_force, (uint64_t)p->cfg->shutdown_timeout, 0);
  maybe_finish(p);
}

/* SIGHUP: replace the workers one at a time. The old worker of a slot is
 * retired (no new connections, drain) only once its replacement is ready,
 * so there is always a worker to take connections. */
static void roll_next(primary_t *p) {
  int i = p->rolling;
  if (p->shutting_down)
    return;
  if (i >= 0) {
    slot_t *s = &p->slots[i];
    pworker_t *old = s->cur, *fresh = s->next;
    if (fresh == NULL || fresh->state != W_READY)
      return;
    uv_timer_stop(&s->respawn); /* the slot is filled: no re-fork over it */
    s->cur = fresh;
    s->next = NULL;
    if (old && old->state != W_EXITED) {
      old->state = W_RETIRING;
      send_msg(old, MSG_DRAIN, NULL);
    }
    i++;
  } else {
    i = 0;
  }
  for (; i < p->n && p->slots[i].cur == NULL; i++) {
  }
  if (i >= p->n) {
    p->rolling = -1;
    LOG_INFO(NULL, "all workers replaced");
    notify_ready(p, "serving, workers replaced");
    return;
  }
  p->rolling = i;
  if (spawn(p, i, 1) != 0) {
    p->rolling = -1;
    notify_ready(p, "serving, SIGHUP's roll stopped");
  }
}

static void on_delay_end(uv_timer_t *t) {
  primary_t *p = t->data;
  p->delaying = 0;
  shutdown_all(p, p->delay_why);
}

/* --drain-delay: every worker answers /readyz 503 while the listener keeps
 * accepting and they keep serving; the drain begins when it ends. */
static void delay_shutdown(primary_t *p, const char *why) {
  p->delaying = 1;
  p->delay_why = why;
  cluster_notify("STOPPING=1\nSTATUS=not ready, draining after --drain-delay");
  p->delaying_notified = 1;
  LOG_INFO(NULL, "%s: not ready, draining in %lld ms (--drain-delay)", why,
           (long long)p->cfg->drain_delay);
  for (int i = 0; i < p->n; i++) {
    pworker_t *c = p->slots[i].cur, *n = p->slots[i].next;
    if (c && c->state == W_READY)
      send_msg(c, MSG_UNREADY, NULL);
    if (n && n->state == W_READY)
      send_msg(n, MSG_UNREADY, NULL);
  }
  uv_timer_start(&p->force, on_delay_end, (uint64_t)p->cfg->drain_delay, 0);
}

static void on_signal(uv_signal_t *h, int signum) {
  primary_t *p = h->data;
  if (signum == SIGHUP) {
    if (p->shutting_down || p->rolling >= 0)
      return;
    LOG_INFO(NULL, "SIGHUP: replacing workers one by one");
    cluster_notify("RELOADING=1\nSTATUS=SIGHUP: replacing workers one by one");
    roll_next(p);
    return;
  }
  if (p->shutting_down) {
    fatal(p, "second signal: forcing exit");
    return;
  }
  const char *why = signum == SIGTERM ? "SIGTERM" : "SIGINT";
  if (p->delaying) { /* a second signal cuts the delay short */
    uv_timer_stop(&p->force);
    p->delaying = 0;
    shutdown_all(p, why);
  } else if (p->cfg->drain_delay > 0) {
    delay_shutdown(p, why);
  } else {
    shutdown_all(p, why);
  }
}

/* libpq loads OpenLDAP, which loads GnuTLS, whose constructor sets up its
 * crypto back-ends and reads its configuration in every process at exec
 * time: ~140 KB of private memory per worker that nothing uses (libpq's TLS
 * is OpenSSL's; OpenLDAP calls gnutls_global_init itself when it needs it).
 * GnuTLS skips that work when this is set; a user's own setting wins. */
#define GNUTLS_ENV "GNUTLS_NO_IMPLICIT_INIT"

/* Workers get the primary's argv and environment, plus their id and the
 * database the primary resolved (the embedded one, say). */
static void setup_env(primary_t *p, const char *conninfo) {
  extern char **environ;
  int n = 0;
  while (environ[n]) n++;
  p->env = xcalloc((size_t)n + 4, sizeof(char *));
  int k = 0;
  if (getenv(GNUTLS_ENV) == NULL)
    p->env[k++] = GNUTLS_ENV "=1";
  for (int i = 0; i < n; i++) {
    if (strncmp(environ[i], CLUSTER_WORKER_ENV "=", strlen(CLUSTER_WORKER_ENV) + 1) == 0)
      continue;
    if (strncmp(environ[i], "DATABASE_URL=", 13) == 0 ||
        cluster_notify_env_skip(environ[i]))
      continue;
    p->env[k++] = environ[i];
  }
  core_buf_t b;
  core_buf_init(&b);
  core_buf_printf(&b, "DATABASE_URL=%s", conninfo);
  p->env[k++] = p->env_db = b.data;
  p->env[k++] = p->id_env;
  p->env[k] = NULL;
}

/* rr: the primary listens and accepts. none: it binds and listens, and
 * each worker accepts on the socket it is sent. reuseport: each worker
 * binds its own, so the primary only checks that the port is free. Any
 * failure is one line here and start-up stops before a worker exists. */
static int open_listener(primary_t *p) {
  const core_config_t *cfg = p->cfg;
  int rc;
  if (cfg->sched == CORE_SCHED_REUSEPORT) {
    rc = cluster_bind_probe(cfg->host, cfg->port);
    goto done;
  }
  uv_tcp_init(p->loop, &p->listener);
  p->listener.data = p;
  p->listening = 1;
  rc = cluster_bind(p->loop, &p->listener, cfg->host, cfg->port, 0);
  if (rc == 0 && cfg->sched == CORE_SCHED_RR) {
    rc = uv_listen((uv_stream_t *)&p->listener, 511, on_connection);
  } else if (rc == 0) { /* none: the workers accept; we only make it listen */
    uv_os_fd_t fd;
    rc = uv_fileno((uv_handle_t *)&p->listener, &fd);
    if (rc == 0 && listen(fd, 511) != 0)
      rc = uv_translate_sys_error(errno);
  }
done:
  if (rc != 0)
    LOG_ERROR(NULL, "cannot listen on %s:%d: %s", cfg->host, cfg->port, uv_strerror(rc));
  return rc;
}

static void init_handles(primary_t *p) {
  cluster_signals_start(p->loop, p->signals, on_signal, p);
  uv_timer_init(p->loop, &p->force);
  p->force.data = p;
  uv_unref((uv_handle_t *)&p->force);
  for (int i = 0; i < p->n; i++) {
    uv_timer_init(p->loop, &p->slots[i].respawn);
    p->slots[i].respawn.data = p;
  }
}

int cluster_primary_run(const core_config_t *cfg, const char *conninfo, char **argv) {
  primary_t *p = xcalloc(1, sizeof(*p));
  p->cfg = cfg;
  p->loop = uv_default_loop();
  p->argv = argv;
  p->n = cfg->workers;
  p->rolling = -1;
  p->slots = xcalloc((size_t)p->n, sizeof(slot_t));
  size_t len = sizeof(p->exe);
  if (uv_exepath(p->exe, &len) != 0)
    snprintf(p->exe, sizeof(p->exe), "%s", argv[0]);
  signal(SIGPIPE, SIG_IGN);
  setup_env(p, conninfo);
  p->names = http_router_new(); /* the workers' routes, for metric labels */
  api_routes(p->names, cfg->debug_endpoints);
  p->nroutes = http_router_names(p->names, p->route_names, METRICS_ROUTES);
  init_handles(p);
  if (open_listener(p) != 0) {
    p->exit_code = 1;
    primary_close(p);
  } else {
    for (int i = 0; i < p->n && !p->fatal; i++)
      if (spawn(p, i, 0) != 0)
        fatal(p, "cannot spawn workers");
    if (!p->fatal) {
      LOG_INFO(NULL, "primary listening on http://%s:%d with %d workers (sched %s)",
               cfg->host, cfg->port, p->n, core_sched_name(cfg->sched));
      cluster_notify_watchdog_start(p->loop);
    }
  }
  uv_run(p->loop, UV_RUN_DEFAULT);
  if (!p->closed) { /* the loop ran dry without a shutdown */
    primary_close(p);
    uv_run(p->loop, UV_RUN_DEFAULT);
  }
  int rc = p->exit_code;
  if (cluster_loop_close(p->loop, NULL) != 0)
    rc = 1;
  http_router_free(p->names);
  free(p->env_db);
  free(p->env);
  free(p->slots);
  free(p);
  return rc;
}
