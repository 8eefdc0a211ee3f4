/* Shared inside src/http only. */
#ifndef LOOPLAB_HTTP_INTERNAL_H
#define LOOPLAB_HTTP_INTERNAL_H

#include <llhttp.h>

#include "http.h"

typedef enum { CONN_OPEN, CONN_CLOSING, CONN_CLOSED } conn_state_t;

struct http_conn_s {
  uv_tcp_t tcp; /* first: the handle memory is the connection's */
  uv_timer_t timer;
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  llhttp_t parser;
  http_server_t *server;
  http_conn_t *prev, *next; /* the server's list */
  conn_state_t state;
  int handles_open; /* tcp + timer; freed when both closed and no req */
  int pending;      /* requests handed to handlers and not yet ended */

  http_req_t *cur;        /* the request being parsed */
  http_req_t *queue_head; /* in arrival order, answered in this order */
  http_req_t *queue_tail;
  int queued;
  http_req_t *free_reqs;
  http_req_t *writing; /* the batch in the current uv_write */
  uv_buf_t bufs[64];

  core_buf_t hbuf; /* url and header bytes of the request being parsed */
  size_t url_len;
  size_t field_start, value_start;
  size_t header_bytes;
  int header_fields;
  int hosts;
  int timer_kind;
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

  unsigned reading : 1;
  unsigned paused : 1;     /* parser paused: too many pipelined requests */
  unsigned no_more : 1;    /* nothing after the current request is parsed */
  unsigned lingering : 1;  /* write side shut, discarding input until EOF */
  unsigned in_message : 1; /* between message begin and complete */
  unsigned te_bad : 1;     /* a Transfer-Encoding other than chunked */
  unsigned in_value : 1;   /* a header value has started */
  unsigned scanning : 1;   /* inside a request head (request-line, bare-LF checks) */
  unsigned hdr_pause : 1;  /* paused by on_headers_complete */
  unsigned has_cl : 1;
  unsigned eof : 1; /* the peer shut its side */
  unsigned backpressure : 1;
};

void http_date_refresh(http_server_t *s);
/* Percent-decodes s into the arena ("+" stays "+", as in a path). */
const char *http_percent_decode(core_arena_t *a, const char *s, size_t n, size_t *outn);
void http_req_build_head(http_req_t *req, int status, const char *content_type,
                         const char *extra_headers, size_t body_len);
/* http_respond's body: decides keep-alive, builds the head, flushes. */
void http_conn_respond(http_req_t *req, int status, const char *content_type,
                       const char *extra_headers);

#endif
