/* The response queue: request objects (reused from a per-connection free
 * list), the queue in arrival order, answering (http_respond*), and
 * writing every answer ready at the head of the queue in one uv_write (one
 * writev), with back-pressure on the reading side. An error found while
 * parsing (http__queue_fail) is answered through the same queue, after
 * what came before it. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* A request's body and response buffers are kept across reuse up to this
 * size (a W1 answer needs 512 bytes): a list's 16 KiB answer, kept, would
 * stay on every connection that ever asked for one. */
#define KEEP_BUF 2048
/* A request's first arena chunk, kept across reuse: a W1 request uses under
 * 256 bytes of it, plus its response head (~230); a list or a dashboard
 * grows it for that request only. Every connection holds one, so it is most
 * of its memory. */
#define ARENA_FIRST 512
#define WRITE_HIGH_WATER (1 << 20)

/* Requests. */

http_req_t *http__req_new(http_conn_t *c) {
  http_req_t *r = c->free_reqs;
  if (r != NULL) {
    c->free_reqs = r->next;
  } else {
    r = xcalloc(1, sizeof(*r));
    core_arena_init(&r->arena, ARENA_FIRST);
    core_buf_init(&r->out);
    core_buf_init(&r->body_buf);
  }
  r->conn = c;
  r->server = c->server;
  r->next = NULL;
  r->id = ++c->server->next_id;
  r->start_ns = uv_hrtime();
  return r;
}

static void trim_buf(core_buf_t *b) {
  if (b->cap > KEEP_BUF)
    core_buf_free(b);
  core_buf_reset(b);
}

/* Resets every per-request field so the next request starts clean, keeping
 * the arena's first chunk and small buffers. */
void http__req_recycle(http_conn_t *c, http_req_t *r) {
  core_arena_reset(&r->arena);
  trim_buf(&r->out);
  trim_buf(&r->body_buf);
  core_arena_t arena = r->arena;
  core_buf_t out = r->out, body = r->body_buf;
  memset(r, 0, sizeof(*r));
  r->arena = arena;
  r->out = out;
  r->body_buf = body;
  r->next = c->free_reqs;
  c->free_reqs = r;
}

void http__req_destroy(http_req_t *r) {
  core_arena_free(&r->arena);
  core_buf_free(&r->out);
  core_buf_free(&r->body_buf);
  free(r);
}

void http__queue_push(http_conn_t *c, http_req_t *r) {
  if (c->queue_tail)
    c->queue_tail->next = r;
  else
    c->queue_head = r;
  c->queue_tail = r;
  c->queued++;
}

/* Failing a request: the answer goes in the queue after whatever came
 * before it, carries Connection: close, and nothing after it is parsed. */
void http__queue_fail(http_conn_t *c, int status, const char *code, const char *msg) {
  http_req_t *r = c->cur;
  if (r == NULL) {
    r = http__req_new(c);
    r->method_str = "-";
    http__queue_push(c, r);
  }
  c->cur = NULL;
  if (http__conn_in_message(c))
    http__conn_set_phase(c, PHASE_IDLE);
  c->no_more = 1;
  http__conn_stop_reading(c);
  http__conn_disarm(c);
  r->close = 1;
  http_respond_error_code(r, status, code, "%s", msg);
}

/* Recycles a written batch; 1 if its last answer ends the connection. */
static int batch_done(http_conn_t *c, http_req_t *r) {
  int final = 0;
  while (r) {
    http_req_t *next = r->next;
    final |= r->close;
    http__req_recycle(c, r);
    r = next;
  }
  return final;
}

static void on_write(uv_write_t *w, int status) {
  http_conn_t *c = container_of(w, http_conn_t, write_req);
  int final = batch_done(c, c->writing);
  c->writing = NULL;
  if (!http__conn_open(c))
    return;
  if (status < 0) {
    http__conn_close(c);
    return;
  }
  if (final) {
    http__conn_linger(c);
    return;
  }
  if (c->backpressure) {
    c->backpressure = 0;
    if (!c->paused && !c->no_more)
      http__conn_start_reading(c);
  }
  http__conn_resume(c);
  http__queue_flush(c);
}

/* Drops the first n bytes from bufs[0..*count); returns the new start. */
static uv_buf_t *skip_written(uv_buf_t *bufs, int *count, size_t n) {
  while (*count > 0 && n >= bufs->len) {
    n -= bufs->len;
    bufs++;
    (*count)--;
  }
  if (*count > 0) {
    bufs->base += n;
    bufs->len -= n;
  }
  return bufs;
}

/* Writes every answer ready at the head of the queue, in one writev. The
 * socket is tried first (uv_try_write): a batch it takes whole, nearly all
 * of them, is done at once, without a write request, because libuv 1.44
 * re-registers the socket with epoll (one epoll_ctl) after every uv_write
 * that completes, a syscall per response. What it does not take goes
 * through uv_write, and so do batches whose end must come from the loop: a
 * final answer (linger), a parser paused by the pipelining bound (resume),
 * back-pressure. */
void http__queue_flush(http_conn_t *c) {
  for (;;) {
    if (c->writing || !http__conn_open(c))
      return;
    /* On the stack: uv_write copies the array, so no connection needs to
     * keep 1 KB of it (issue 11's memory per connection). */
    uv_buf_t bufs[64];
    int n = 0;
    size_t total = 0;
    http_req_t *r = c->queue_head, *last = NULL;
    while (r && r->done && n + 2 <= (int)ARRAY_SIZE(bufs)) {
      bufs[n++] = uv_buf_init(r->head, (unsigned)r->head_len);
      total += r->head_len;
      if (r->out.len && !r->head_only) {
        bufs[n++] = uv_buf_init(r->out.data, (unsigned)r->out.len);
        total += r->out.len;
      }
      last = r;
      c->queued--;
      if (r->close)
        break;
      r = r->next;
    }
    if (last == NULL) {
      if (c->eof && !c->queue_head)
        http__conn_close(c);
      else
        http__conn_arm_idle(c);
      return;
    }
    http_req_t *batch = c->queue_head;
    c->queue_head = last->next;
    if (c->queue_head == NULL)
      c->queue_tail = NULL;
    last->next = NULL;
    uv_buf_t *rest = bufs;
    if (!last->close && !c->paused && !c->backpressure && total <= INT32_MAX) {
      int w = uv_try_write((uv_stream_t *)&c->tcp, bufs, (unsigned)n);
      if (w >= 0 && (size_t)w == total) {
        (void)batch_done(c, batch); /* not final: checked above */
        continue; /* what became ready meanwhile, or arm the idle timer */
      }
      if (w > 0)
        rest = skip_written(bufs, &n, (size_t)w);
    }
    c->writing = batch;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, rest, (unsigned)n, on_write) !=
        0) {
      http__conn_close(c);
      return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > WRITE_HIGH_WATER) {
      c->backpressure = 1;
      http__conn_stop_reading(c);
    }
    return;
  }
}

/* The client's address and port, read once per connection. */
static void peer_of(http_conn_t *c) {
  if (c->peer_port)
    return;
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  strcpy(c->peer_addr, "");
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
    return;
  if (ss.ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    uv_ip4_name(a, c->peer_addr, sizeof(c->peer_addr));
    c->peer_port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, c->peer_addr, sizeof(c->peer_addr));
    c->peer_port = ntohs(a->sin6_port);
  }
}

/* reqId when the client sent none: unique across workers and restarts
 * (the process's start in ms and its pid, in hex), then the request's
 * number in this process. */
static const char *id_prefix(void) {
  static char prefix[40];
  if (!prefix[0])
    snprintf(prefix, sizeof(prefix), "%llx-%x", (unsigned long long)core_time_ms(),
             (unsigned)getpid());
  return prefix;
}

/* One line per request in Fastify's shape (reqId, req, res,
 * responseTime), built in a buffer the loop thread keeps. */
static void log_request(http_req_t *r, uint64_t ns) {
  static core_buf_t f;
  http_conn_t *c = r->conn;
  core_buf_reset(&f);
  core_buf_puts(&f, "\"reqId\":");
  if (r->request_id.n) {
    core_buf_put_json_str(&f, r->request_id.p, r->request_id.n);
  } else {
    core_buf_printf(&f, "\"%s-%llu\"", id_prefix(), (unsigned long long)r->id);
  }
  const char *m = r->method_str ? r->method_str : "-";
  core_buf_puts(&f, ",\"req\":{\"method\":");
  core_buf_put_json_str(&f, m, strlen(m));
  core_buf_puts(&f, ",\"url\":");
  core_buf_put_json_str(&f, r->target.p ? r->target.p : "", r->target.n);
  core_buf_puts(&f, ",\"hostname\":");
  core_buf_put_json_str(&f, r->host.p ? r->host.p : "", r->host.n);
  peer_of(c);
  core_buf_puts(&f, ",\"remoteAddress\":");
  core_buf_put_json_str(&f, c->peer_addr, strlen(c->peer_addr));
  core_buf_printf(&f,
                  ",\"remotePort\":%d},\"res\":{\"statusCode\":%d},\"responseTime\":%.3f",
                  c->peer_port, r->status, (double)ns / 1e6);
  core_buf_putc(&f, '\0');
  core_log_write(CORE_LOG_INFO, f.data, "request completed");
}

void http_respond(http_req_t *r, int status, const char *content_type,
                  const char *extra_headers) {
  http_conn_t *c = r->conn;
  http_server_t *s = r->server;
  uint64_t ns = uv_hrtime() - r->start_ns;
  r->status = status;
  s->requests++;
  if (s->observe)
    s->observe(r, status, ns);
  if (s->opts.log_requests)
    log_request(r, ns);
  if (r->dispatched)
    c->pending--;
  if (!http__conn_open(c)) { /* the client went away: drop the answer */
    http__req_recycle(c, r);
    http__conn_maybe_free(c);
    return;
  }
  if (s->draining)
    c->no_more = 1; /* every answer during a drain is the last */
  if (c->no_more && r == c->queue_tail && !http__conn_in_message(c))
    r->close = 1;
  http_req_build_head(r, status, content_type, extra_headers, r->out.len);
  r->done = 1;
  http__queue_flush(c);
}

static void respond_error(http_req_t *req, int status, const char *code,
                          const char *extra_headers, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  core_buf_reset(&req->out);
  http_error_body_code(&req->out, status, code, msg);
  http_respond(req, status, "application/json; charset=utf-8", extra_headers);
}

void http_respond_error(http_req_t *req, int status, const char *extra_headers,
                        const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  respond_error(req, status, NULL, extra_headers, fmt, ap);
  va_end(ap);
}

void http_respond_error_code(http_req_t *req, int status, const char *code,
                             const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  respond_error(req, status, code, NULL, fmt, ap);
  va_end(ap);
}
