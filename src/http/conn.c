/* A connection's lifetime: the server's list, serving and accepting, the
 * phase (internal.h) and its transitions (http__conn_set_phase: the only
 * place the phase changes, and where the phase's timer is armed), the
 * timers, reading and the pipelining bound, the lingering close, the
 * drain, and the one teardown (http__conn_close).
 *
 * Lifetime: the connection is allocated by http_server_tcp_new and freed
 * when both of its handles (tcp, timer) have closed AND no request handed
 * to a handler is still unanswered (pending == 0). A handler may therefore
 * answer after the client has gone; its answer is dropped. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"

#define LINGER_MS 2000
#define DRAIN_GRACE_MS 1000 /* for connections with no request yet */

/* The drained callback runs from the loop (an idle handle), as Redis's
 * freeClientAsync defers: close_conn runs deep inside on_read -> feed, and
 * a drained callback there may tear down what its caller still uses. */
static void on_drained_idle(uv_idle_t *h) {
  http_server_t *s = container_of(h, http_server_t, drained_idle);
  uv_idle_stop(h);
  if (s->connections != 0 || s->drained_cb == NULL)
    return;
  http_server_cb cb = s->drained_cb;
  s->drained_cb = NULL;
  cb(s);
}

static void maybe_drained(http_server_t *s) {
  if (s->draining && s->connections == 0 && s->drained_cb)
    uv_idle_start(&s->drained_idle, on_drained_idle);
}

/* Connection lifetime. */

#ifndef NDEBUG
/* The transitions of internal.h's table; checked in debug builds. */
static int legal(conn_phase_t from, conn_phase_t to) {
  switch (to) {
    case PHASE_HEADERS:
      return from == PHASE_IDLE;
    case PHASE_BODY:
      return from == PHASE_HEADERS;
    case PHASE_IDLE:
      return from == PHASE_HEADERS || from == PHASE_BODY;
    case PHASE_LINGERING:
      return from == PHASE_IDLE;
    default: /* PHASE_CLOSING */
      return from != PHASE_CLOSING;
  }
}
#endif

void http__conn_set_phase(http_conn_t *c, conn_phase_t to) {
  assert(legal(c->phase, to));
  const http_server_opts_t *o = &c->server->opts;
  c->phase = to;
  switch (to) {
    case PHASE_HEADERS:
      http__conn_arm(c, TIMER_HEADERS, o->headers_timeout);
      break;
    case PHASE_BODY: /* the request timeout counts from the first byte */
      http__conn_arm(
          c, TIMER_REQUEST,
          o->request_timeout - (int64_t)((uv_hrtime() - c->cur->start_ns) / 1000000));
      break;
    case PHASE_IDLE:
      http__conn_disarm(c);
      break;
    case PHASE_LINGERING:
      http__conn_arm(c, TIMER_LINGER, LINGER_MS);
      break;
    case PHASE_CLOSING:
      break; /* http__conn_close closes the handles */
  }
}

void http__conn_maybe_free(http_conn_t *c) {
  if (c->handles_open > 0 || c->pending > 0)
    return;
  while (c->free_reqs) {
    http_req_t *r = c->free_reqs;
    c->free_reqs = r->next;
    http__req_destroy(r);
  }
  core_buf_free(&c->hbuf);
  core_buf_free(&c->leftover);
  free(c);
}

static void on_handle_close(uv_handle_t *h) {
  http_conn_t *c = h->data;
  c->handles_open--;
  http__conn_maybe_free(c);
}

static void on_discard_close(uv_handle_t *h) {
  free(container_of((uv_tcp_t *)h, http_conn_t, tcp));
}

static void unlink_conn(http_conn_t *c) {
  http_server_t *s = c->server;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  s->connections--;
}

/* Requests still with a handler stay alive (pending); the rest go back to
 * the free list now. The write in flight, if any, is cancelled by uv_close
 * and its callback recycles its batch. */
void http__conn_close(http_conn_t *c) {
  if (!http__conn_open(c))
    return;
  http__conn_set_phase(c, PHASE_CLOSING);
  http_req_t *r = c->queue_head;
  while (r) {
    http_req_t *next = r->next;
    if (!r->dispatched || r->done)
      http__req_recycle(c, r);
    r = next;
  }
  c->queue_head = c->queue_tail = c->cur = NULL;
  c->queued = 0;
  unlink_conn(c);
  uv_close((uv_handle_t *)&c->tcp, on_handle_close);
  uv_close((uv_handle_t *)&c->timer, on_handle_close);
  maybe_drained(c->server);
}

/* Timers: one per connection, for whatever it is waiting for. Moving the
 * libuv timer at every phase (headers, idle, headers...) cost two or three
 * timer-heap operations per request; instead the deadline is kept in the
 * connection and the timer moved only when the new deadline comes before
 * the one it will fire at. A timer that fires before the deadline it now
 * serves waits for the rest; one whose wait was cancelled does nothing. */

static void on_timer(uv_timer_t *t);

void http__conn_arm(http_conn_t *c, int kind, int64_t ms) {
  uint64_t now = uv_now(c->server->loop), due = now + (uint64_t)(ms > 0 ? ms : 1);
  c->timer_kind = kind;
  c->timer_due = due;
  if (uv_is_active((uv_handle_t *)&c->timer) &&
      now + uv_timer_get_due_in(&c->timer) <= due)
    return;
  uv_timer_start(&c->timer, on_timer, due - now, 0);
}

void http__conn_disarm(http_conn_t *c) {
  c->timer_kind = TIMER_NONE;
}

/* Whether bytes wait unread in the connection's socket buffer. */
static int unread(http_conn_t *c) {
  uv_os_fd_t fd;
  int n = 0;
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 || ioctl(fd, FIONREAD, &n) != 0)
    return 0;
  return n > 0;
}

static void on_timer(uv_timer_t *t) {
  http_conn_t *c = container_of(t, http_conn_t, timer);
  if (c->timer_kind == TIMER_NONE)
    return;
  uint64_t now = uv_now(c->server->loop);
  if (now < c->timer_due) { /* moved later since it was started */
    uv_timer_start(t, on_timer, c->timer_due - now, 0);
    return;
  }
  if (c->timer_kind == TIMER_HEADERS || c->timer_kind == TIMER_REQUEST) {
    if (http__conn_in_message(c))
      http__queue_fail(c, 408, NULL, "Request timeout");
    else
      http__conn_close(c);
    return;
  }
  if (c->timer_kind == TIMER_DRAIN_IDLE && unread(c)) {
    /* A request is in the socket buffer and its read callback comes in this
     * loop turn: closing now would answer it with an RST. */
    http__conn_arm(c, TIMER_DRAIN_IDLE, c->server->opts.drain_idle_grace);
    return;
  }
  http__conn_close(c); /* keep-alive idle, drain grace over, or the linger period ended */
}

/* Idle: wait for the next request, for the keep-alive timeout, or during a
 * drain for the drain's idle grace (a request that comes in it is answered
 * with Connection: close). */
void http__conn_arm_idle(http_conn_t *c) {
  if (c->queue_head || http__conn_in_message(c) || c->writing)
    return;
  if (c->no_more) {
    http__conn_close(c);
    return;
  }
  if (c->server->draining)
    http__conn_arm(c, TIMER_DRAIN_IDLE, c->server->opts.drain_idle_grace);
  else
    http__conn_arm(c, TIMER_KEEPALIVE, c->server->opts.keep_alive_timeout);
}

/* Reading. */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  http_conn_t *c = h->data;
  buf->base = c->server->read_buf;
  buf->len = sizeof(c->server->read_buf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

void http__conn_start_reading(http_conn_t *c) {
  if (c->reading || !http__conn_open(c))
    return;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
    c->reading = 1;
}

void http__conn_stop_reading(http_conn_t *c) {
  if (!c->reading)
    return;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  http_conn_t *c = st->data;
  if (nread == 0)
    return;
  if (nread < 0) {
    http__conn_stop_reading(c);
    c->eof = 1;
    if (c->phase == PHASE_LINGERING || !c->queue_head || nread != UV_EOF ||
        http__conn_in_message(c))
      http__conn_close(c);
    return;
  }
  if (c->phase == PHASE_LINGERING)
    return; /* discarding: we answered and shut our side */
  http__parse_feed(c, buf->base, (size_t)nread);
}

/* Resumes a parser paused by the pipelining bound, on the bytes it kept. */
void http__conn_resume(http_conn_t *c) {
  if (!c->paused || c->no_more || c->queued >= MAX_PIPELINED / 2)
    return;
  c->paused = 0;
  llhttp_resume(&c->parser);
  core_buf_t data = c->leftover;
  core_buf_init(&c->leftover);
  if (data.len)
    http__parse_feed(c, data.data, data.len);
  if (c->leftover.len == 0 && c->leftover.data == NULL) {
    c->leftover = data; /* keep the memory */
    core_buf_reset(&c->leftover);
  } else {
    core_buf_free(&data);
  }
  if (!c->paused && !c->no_more && !c->backpressure)
    http__conn_start_reading(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)req;
  (void)status;
}

/* After a final response: shut our side and read (discarding) until the
 * peer closes or LINGER_MS passes, so a client still sending does not get
 * an RST that would destroy the response before it reads it. */
void http__conn_linger(http_conn_t *c) {
  if (c->eof || uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    http__conn_close(c);
    return;
  }
  http__conn_set_phase(c, PHASE_LINGERING);
  http__conn_start_reading(c);
}

/* The server side. */

void http_server_init(http_server_t *s, uv_loop_t *loop, const http_server_opts_t *opts,
                      http_router_t *router, void *ctx) {
  memset(s, 0, sizeof(*s));
  s->loop = loop;
  s->opts = *opts;
  s->router = router;
  s->ctx = ctx;
  s->date_sec = -1;
  uv_idle_init(loop, &s->drained_idle);
}

static void on_server_closed(uv_handle_t *h) {
  http_server_t *s = container_of((uv_idle_t *)h, http_server_t, drained_idle);
  if (s->close_cb)
    s->close_cb(s);
}

void http_server_close(http_server_t *s, http_server_cb cb) {
  s->close_cb = cb;
  s->drained_cb = NULL;
  uv_close((uv_handle_t *)&s->drained_idle, on_server_closed);
}

uv_tcp_t *http_server_tcp_new(http_server_t *s) {
  http_conn_t *c = xcalloc(1, sizeof(*c));
  c->server = s;
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  return &c->tcp;
}

void http_server_tcp_discard(uv_tcp_t *tcp) {
  uv_close((uv_handle_t *)tcp, on_discard_close);
}

void http_server_serve(http_server_t *s, uv_tcp_t *tcp) {
  http_conn_t *c = container_of(tcp, http_conn_t, tcp);
  uv_timer_init(s->loop, &c->timer);
  c->timer.data = c;
  c->handles_open = 2;
  c->phase = PHASE_IDLE;
  llhttp_init(&c->parser, HTTP_REQUEST, http__parse_settings());
  c->parser.data = c;
  core_buf_init(&c->hbuf);
  core_buf_init(&c->leftover);
  c->next = s->conns;
  if (c->next)
    s->conns->prev = c;
  s->conns = c;
  s->connections++;
  uv_tcp_nodelay(tcp, 1);
  http__conn_arm(c, TIMER_HEADERS, s->opts.headers_timeout);
  http__conn_start_reading(c);
}

void http_server_accept(http_server_t *s, uv_stream_t *listener) {
  uv_tcp_t *tcp = http_server_tcp_new(s);
  if (uv_accept(listener, (uv_stream_t *)tcp) != 0) {
    http_server_tcp_discard(tcp);
    return;
  }
  http_server_serve(s, tcp);
}

void http_server_drain(http_server_t *s, http_server_cb cb) {
  s->draining = 1;
  s->drained_cb = cb;
  /* Nothing is closed here. A busy connection's next answer carries
   * Connection: close (http_respond). An idle keep-alive one may have a
   * request in its socket buffer or on the wire: it is answered, with
   * Connection: close, if it comes within the idle grace, and only a
   * connection idle for the whole grace is closed. */
  for (http_conn_t *c = s->conns; c; c = c->next) {
    if (c->queue_head || http__conn_in_message(c) || c->writing)
      continue;
    /* A connection handed over just before the drain has not sent its
     * first request yet: give it a moment rather than drop it. */
    if (c->messages == 0)
      http__conn_arm(c, TIMER_HEADERS, DRAIN_GRACE_MS);
    else
      http__conn_arm(c, TIMER_DRAIN_IDLE, s->opts.drain_idle_grace);
  }
  maybe_drained(s);
}
