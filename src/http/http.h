/* http: HTTP/1.1 on libuv and llhttp. A server owns its connections; a
 * connection owns its parser, its timer and a queue of requests answered in
 * order (pipelining); a router maps method + path to a handler.
 *
 * The handler contract: a handler is called once per request, on the loop,
 * after the whole body has arrived. It must end the request exactly once,
 * now or later, with http_respond or http_respond_error. Until then the
 * request stays valid even if the client goes away (the answer is then
 * dropped). After it, the request must not be touched. */
#ifndef LOOPLAB_HTTP_H
#define LOOPLAB_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/core.h"

typedef struct http_server_s http_server_t;
typedef struct http_conn_s http_conn_t;
typedef struct http_req_s http_req_t;
typedef struct http_router_s http_router_t;

typedef void (*http_handler_cb)(http_req_t *req);
typedef void (*http_server_cb)(http_server_t *s);

/* Methods the router knows (a subset of llhttp's). */
typedef enum {
  HTTP_M_GET,
  HTTP_M_HEAD,
  HTTP_M_POST,
  HTTP_M_PUT,
  HTTP_M_PATCH,
  HTTP_M_DELETE,
  HTTP_M_OPTIONS,
  HTTP_M_OTHER,
  HTTP_M__COUNT
} http_method_t;
const char *http_method_name(http_method_t m);

#define HTTP_MAX_PARAMS 4

typedef struct http_span_s {
  const char *p;
  size_t n;
} http_span_t;

struct http_req_s {
  /* Public, read-only for handlers. Strings live in the request's arena. */
  http_method_t method; /* HEAD is reported as HEAD; routed as GET */
  const char *method_str;
  http_span_t target; /* as sent: path + query */
  http_span_t path;
  http_span_t query;        /* without '?'; n == 0 when absent */
  http_span_t content_type; /* n == 0 when absent */
  http_span_t host;         /* the Host header, kept only for request logs */
  http_span_t request_id;   /* a usable X-Request-Id (echoed back), or n == 0 */
  http_span_t body;
  http_span_t params[HTTP_MAX_PARAMS];
  int nparams;
  const char *route; /* the matched route pattern, for logs and metrics */
  int route_id;      /* 1.. in registration order; 0 = no route */
  uint64_t id;       /* per-process request number: reqId "req-<id>" */
  uint64_t start_ns; /* uv_hrtime at the first byte */
  http_server_t *server;
  core_arena_t arena; /* freed when the request ends */
  core_buf_t out;     /* the handler writes the response body here */
  void *data;         /* the handler's own per-request state */

  /* Private. */
  http_conn_t *conn;
  http_req_t *next; /* in the connection's response queue or free list */
  core_buf_t body_buf;
  char *head; /* status line and headers, in the arena */
  size_t head_len;
  int status;
  unsigned done : 1;  /* the response is ready */
  unsigned close : 1; /* close the connection after this response */
  unsigned keep_alive : 1;
  unsigned expect_continue : 1;
  unsigned dispatched : 1; /* handed to a handler */
  unsigned head_only : 1;  /* HEAD: headers without the body */
};

/* Server-wide options (SPEC section 3). */
typedef struct http_server_opts_s {
  int64_t body_limit;
  int max_header_size;
  int64_t keep_alive_timeout;
  int64_t headers_timeout;
  int64_t request_timeout;
  int log_requests;
  int64_t drain_idle_grace; /* ms an idle keep-alive stays open in a drain */
} http_server_opts_t;

/* Called once per finished request (after the response is queued), for
 * metrics. May be NULL. */
typedef void (*http_observe_cb)(http_req_t *req, int status, uint64_t duration_ns);

struct http_server_s {
  /* Public. */
  uv_loop_t *loop;
  void *ctx; /* the application's, reachable from handlers */
  http_observe_cb observe;
  http_server_opts_t opts;
  /* Read-only. */
  uint64_t requests;
  int connections;
  int draining;
  /* Private. */
  http_router_t *router;
  http_server_cb drained_cb;
  http_server_cb close_cb;
  uv_idle_t drained_idle; /* calls drained_cb from the loop, never from a close */
  http_conn_t *conns;     /* intrusive list head */
  uint64_t next_id;
  char read_buf[65536]; /* shared by every connection: llhttp consumes it
                           synchronously in the read callback */
  char date[40];        /* "Date: ...\r\n", regenerated once per second */
  int64_t date_sec;
};

/* The server owns one handle (drained_idle): close it with
 * http_server_close once the server is drained. */
void http_server_init(http_server_t *s, uv_loop_t *loop, const http_server_opts_t *opts,
                      http_router_t *router, void *ctx);
/* Closes the server's own handle; cb (may be NULL) fires from the loop when
 * it is closed. Only with no connection left (after the drained callback):
 * the memory of s may go in cb. */
void http_server_close(http_server_t *s, http_server_cb cb);

/* Takes a connected stream (already accepted from a listener, or received
 * over an IPC pipe) and starts serving it. The server takes ownership of the
 * handle memory, which must be a uv_tcp_t obtained from http_server_tcp_new. */
uv_tcp_t *http_server_tcp_new(http_server_t *s);
void http_server_serve(http_server_t *s, uv_tcp_t *tcp);
/* Frees a handle from http_server_tcp_new that was never served. */
void http_server_tcp_discard(uv_tcp_t *tcp);

/* Accepts every pending connection on a listening stream and serves it;
 * use as (part of) a uv_connection_cb. */
void http_server_accept(http_server_t *s, uv_stream_t *listener);

/* Graceful drain: every request already received is answered; a busy
 * connection closes after its next response (which carries Connection:
 * close); an idle keep-alive one is answered the same way if a request
 * comes within opts.drain_idle_grace ms, and closed once it has stayed idle
 * that long with nothing unread. cb fires once, from the loop (never
 * inside this call or inside a connection's callbacks), when none is left. */
void http_server_drain(http_server_t *s, http_server_cb cb);

/* Ending a request. The body is req->out (empty for none). content_type may
 * be NULL (then no Content-Type). extra_headers is NULL or complete header
 * lines, each ending in "\r\n". */
void http_respond(http_req_t *req, int status, const char *content_type,
                  const char *extra_headers);
/* Fastify's error shape: {"statusCode":N,"error":"<reason>","message":"..."};
 * 4xx/5xx codes only. */
void http_respond_error(http_req_t *req, int status, const char *extra_headers,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same with Fastify's `code` member after statusCode
 * ({"statusCode":400,"code":"FST_ERR_VALIDATION",...}); code NULL omits it. */
void http_respond_error_code(http_req_t *req, int status, const char *code,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Writes Fastify's error body for status into b (used by the API for 503s
 * and by the parser glue); code may be NULL. */
void http_error_body(core_buf_t *b, int status, const char *message);
void http_error_body_code(core_buf_t *b, int status, const char *code,
                          const char *message);
const char *http_reason(int status);

/* Query string: finds key, percent-decodes its value into the request's
 * arena. Returns 1 and sets *val (NUL-terminated) if present, else 0. */
int http_query_get(http_req_t *req, const char *key, const char **val, size_t *len);

/* Router. Patterns are literal segments and ":name" parameters, e.g.
 * "/items/:id". HEAD is served by a GET route. */
http_router_t *http_router_new(void);
void http_router_free(http_router_t *r);
void http_router_add(http_router_t *r, http_method_t m, const char *pattern,
                     http_handler_cb cb);

enum { HTTP_ROUTE_OK = 0, HTTP_ROUTE_NOT_FOUND = -404, HTTP_ROUTE_BAD_METHOD = -405 };
typedef struct http_match_s {
  http_handler_cb cb;
  const char *route;
  int route_id;
  http_span_t params[HTTP_MAX_PARAMS];
  int nparams;
  char allow[96]; /* for 405: "GET, HEAD, POST" */
} http_match_t;
int http_router_match(const http_router_t *r, http_method_t m, const char *path, size_t n,
                      http_match_t *out);
/* Route patterns by id: names[0] = NULL, names[id] = pattern. Returns the
 * number of entries written (at most max). */
int http_router_names(const http_router_t *r, const char **names, int max);

#endif
