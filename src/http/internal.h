/* Shared inside src/http only. */
#ifndef LOOPLAB_HTTP_INTERNAL_H
#define LOOPLAB_HTTP_INTERNAL_H

#include <llhttp.h>

#include "http.h"

/* The files of http/: parse.c (llhttp's callbacks, the limits and the
 * smuggling checks, dispatch), queue.c (request objects, the in-order
 * response queue, answering, writev and back-pressure), conn.c (a
 * connection's lifetime: phase, timers, reading, lingering, the one
 * teardown; the server), response.c (formatting only), router.c. */

/* Where a connection's input is. One field, changed only by
 * http__conn_set_phase, which also arms the phase's timer:
 *   IDLE -> HEADERS        a request begins (headers timeout)
 *   HEADERS -> BODY        its head is complete (request timeout)
 *   HEADERS|BODY -> IDLE   it is complete, or refused (timer stopped; the
 *                          queue arms keep-alive or the drain grace once empty)
 *   IDLE -> LINGERING      the final answer is written: our side is shut and
 *                          input is discarded until EOF (linger timer)
 *   any -> CLOSING         http__conn_close: uv_close on both handles
 * Independent of the phase: `no_more` (the request parsed last is the final
 * one), the read flow control (reading, paused by the pipelining bound,
 * back-pressure from the writes) and the write in flight (`writing`): a
 * pipelined connection parses one request while it writes another. */
typedef enum {
  PHASE_IDLE,
  PHASE_HEADERS,
  PHASE_BODY,
  PHASE_LINGERING,
  PHASE_CLOSING
} conn_phase_t;

/* What the connection's one timer is waiting for. */
enum {
  TIMER_NONE,
  TIMER_HEADERS,
  TIMER_REQUEST,
  TIMER_KEEPALIVE,
  TIMER_LINGER,
  TIMER_DRAIN_IDLE
};

#define MAX_PIPELINED 32 /* requests queued before the parser pauses */

struct http_conn_s {
  uv_tcp_t tcp; /* first: the handle memory is the connection's */
  uv_timer_t timer;
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  llhttp_t parser;
  http_server_t *server;
  http_conn_t *prev, *next; /* the server's list */
  conn_phase_t phase;
  int handles_open; /* tcp + timer; freed when both closed and no req */
  int pending;      /* requests handed to handlers and not yet ended */

  http_req_t *cur;        /* the request being parsed */
  http_req_t *queue_head; /* in arrival order, answered in this order */
  http_req_t *queue_tail;
  int queued;
  http_req_t *free_reqs;
  http_req_t *writing; /* the batch in the current uv_write */

  core_buf_t hbuf; /* url and header bytes of the request being parsed */
  size_t url_len;
  size_t field_start, value_start;
  size_t header_bytes;
  int header_fields;
  int hosts;
  int timer_kind;
  uint64_t timer_due;    /* loop ms at which timer_kind's wait ends */
  uint64_t messages;     /* requests begun on this connection */
  const char *feed_base; /* the buffer llhttp is executing */
  uint64_t feed_off;     /* bytes fed before feed_base */
  uint64_t value_end;    /* stream offset where the last value span ended */
  char version[8];       /* as sent, for 505 versus 400 */
  const char *scan_from; /* header bytes not yet checked for bare LF */
  char scan_prev;        /* the byte before scan_from */
  uint8_t line_state;    /* where the request-line check is (conn.c) */
  uint8_t line_ver;      /* bytes of "HTTP/d.d" CRLF checked so far */
  size_t ext_bytes;      /* chunk-extension bytes of this request */
  int error_status;      /* set by a parser callback before it fails */
  const char *error_msg;
  const char *error_code; /* Fastify's code for it, or NULL */
  int64_t body_seen;
  core_buf_t leftover; /* unparsed bytes kept while the parser is paused */
  char peer_addr[48];  /* the client's address, read once for request logs */
  int peer_port;       /* 0 until read (or unreadable) */

  unsigned reading : 1;
  unsigned paused : 1;    /* parser paused: too many pipelined requests */
  unsigned no_more : 1;   /* nothing after the current request is parsed */
  unsigned te_bad : 1;    /* a Transfer-Encoding other than chunked */
  unsigned in_value : 1;  /* a header value has started */
  unsigned scanning : 1;  /* inside a request head (request-line, bare-LF checks) */
  unsigned hdr_pause : 1; /* paused by on_headers_complete */
  unsigned has_cl : 1;
  unsigned eof : 1; /* the peer shut its side */
  unsigned backpressure : 1;
};

void http_date_refresh(http_server_t *s);
/* Percent-decodes s into the arena ("+" stays "+", as in a path). */
const char *http_percent_decode(core_arena_t *a, const char *s, size_t n, size_t *outn);
/* The longest head http_req_build_head writes: the callers' at most 256
 * bytes of headers, the fixed ones (under 256) and an echoed X-Request-Id
 * (at most 128 + 16). */
#define HTTP_HEAD_MAX 768
void http_req_build_head(http_req_t *req, int status, const char *content_type,
                         const char *extra_headers, size_t body_len);

/* conn.c */
void http__conn_set_phase(http_conn_t *c, conn_phase_t to);
void http__conn_close(http_conn_t *c); /* the one teardown; idempotent */
void http__conn_maybe_free(http_conn_t *c);
void http__conn_arm(http_conn_t *c, int kind, int64_t ms);
void http__conn_disarm(http_conn_t *c); /* no wait: the timer, if running, does nothing */
void http__conn_arm_idle(http_conn_t *c); /* keep-alive, drain grace, or close */
void http__conn_start_reading(http_conn_t *c);
void http__conn_stop_reading(http_conn_t *c);
void http__conn_resume(http_conn_t *c); /* after the pipelining bound eased */
void http__conn_linger(http_conn_t *c);
static inline int http__conn_open(const http_conn_t *c) {
  return c->phase != PHASE_CLOSING;
}
static inline int http__conn_in_message(const http_conn_t *c) {
  return c->phase == PHASE_HEADERS || c->phase == PHASE_BODY;
}

/* parse.c */
const llhttp_settings_t *http__parse_settings(void);
void http__parse_feed(http_conn_t *c, const char *data, size_t len);

/* queue.c */
http_req_t *http__req_new(http_conn_t *c);
void http__req_recycle(http_conn_t *c, http_req_t *r);
void http__req_destroy(http_req_t *r);
void http__queue_push(http_conn_t *c, http_req_t *r);
/* Refuses the request being parsed (or a new one): the answer goes in the
 * queue after what came before it, carries Connection: close, and nothing
 * after it is parsed. */
void http__queue_fail(http_conn_t *c, int status, const char *code, const char *msg);
void http__queue_flush(http_conn_t *c);

#endif
