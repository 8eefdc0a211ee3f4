/* The request parser: llhttp's callbacks, the limits (414, 431, 413,
 * chunk extensions), the checks llhttp 8 does not make (the exact request
 * line, bare LF, obs-fold, Transfer-Encoding with Content-Length), and
 * dispatching a complete request to its route. Each callback that refuses
 * a request records why (reject) and returns -1; feed() turns that into
 * the answer. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define MAX_URL 8192   /* longer request targets get 414 */
#define MAX_FIELDS 100 /* more header fields get 431 */

static llhttp_settings_t settings;
static int settings_ready;

/* llhttp callbacks. Each one that fails sets error_status first. */

static int reject(http_conn_t *c, int status, const char *msg) {
  c->error_status = status;
  c->error_msg = msg;
  c->error_code = NULL;
  return -1;
}

/* The body limit: the one parser error Fastify gives a code. */
static int too_large(http_conn_t *c) {
  reject(c, 413, "Request body is too large");
  c->error_code = "FST_ERR_CTP_BODY_TOO_LARGE";
  return -1;
}

static int on_message_begin(llhttp_t *p) {
  http_conn_t *c = p->data;
  http_req_t *r = http__req_new(c);
  http__queue_push(c, r);
  c->cur = r;
  c->messages++;
  core_buf_reset(&c->hbuf);
  c->url_len = 0;
  c->header_bytes = 0;
  c->header_fields = 0;
  c->hosts = 0;
  c->body_seen = 0;
  c->te_bad = c->has_cl = c->in_value = c->scanning = c->hdr_pause = 0;
  c->ext_bytes = 0;
  c->version[0] = '\0';
  http__conn_set_phase(c, PHASE_HEADERS);
  return 0;
}

/* Where scan_request_line is in the request line. */
enum { LINE_METHOD, LINE_TARGET_START, LINE_TARGET, LINE_VERSION, LINE_DONE };

/* The request head starts with the method's first byte (llhttp has
 * already skipped the empty lines RFC 9112 section 2.2 lets a server
 * ignore before it): from here feed() checks the raw bytes. */
static int on_method(llhttp_t *p, const char *at, size_t len) {
  http_conn_t *c = p->data;
  (void)len;
  if (!c->scanning) {
    c->scanning = 1;
    c->scan_from = at;
    c->scan_prev = '\n';
    c->line_state = LINE_METHOD;
    c->line_ver = 0;
  }
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
  http_conn_t *c = p->data;
  if (c->hbuf.len + len > MAX_URL)
    return reject(c, 414, "Request-URI Too Long");
  core_buf_append(&c->hbuf, at, len);
  return 0;
}

static int on_version(llhttp_t *p, const char *at, size_t len) {
  http_conn_t *c = p->data;
  size_t have = strlen(c->version);
  if (have + len >= sizeof(c->version))
    len = sizeof(c->version) - 1 - have;
  memcpy(c->version + have, at, len);
  c->version[have + len] = '\0';
  return 0;
}

static int on_url_complete(llhttp_t *p) {
  http_conn_t *c = p->data;
  c->url_len = c->hbuf.len;
  c->field_start = c->hbuf.len;
  return 0;
}

static int count_header(http_conn_t *c, size_t len) {
  c->header_bytes += len;
  if (c->header_bytes > (size_t)c->server->opts.max_header_size)
    return reject(c, 431, "Request Header Fields Too Large");
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  http_conn_t *c = p->data;
  if (count_header(c, len))
    return -1;
  core_buf_append(&c->hbuf, at, len);
  return 0;
}

static int on_header_field_complete(llhttp_t *p) {
  http_conn_t *c = p->data;
  if (c->hbuf.len == c->field_start)
    return reject(c, 400, "Empty header name");
  if (++c->header_fields > MAX_FIELDS)
    return reject(c, 431, "Too many header fields");
  c->value_start = c->hbuf.len;
  return count_header(c, 4); /* ": " and CRLF */
}

/* llhttp 8 accepts obs-fold even in strict mode: it reports the folded
 * line as a second span of the same value, after a gap (the CRLF) in the
 * input. Spans are compared by their offset in the connection's byte
 * stream, so a value merely split across two reads is not mistaken for a
 * fold. scan_header_bytes also catches folds in the header section; this
 * check is what covers chunked trailers, which come after it. */
static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  http_conn_t *c = p->data;
  uint64_t pos = c->feed_off + (uint64_t)(at - c->feed_base);
  int gap = !c->in_value || pos != c->value_end;
  /* llhttp strips the whitespace before a value, so a span that starts
   * with SP/HT after a gap is a continuation line, even when the first
   * line's value was empty. */
  if ((c->in_value && gap) || (gap && len > 0 && (at[0] == ' ' || at[0] == '\t')))
    return reject(c, 400, "Obsolete line folding is not allowed");
  c->in_value = 1;
  c->value_end = pos + len;
  if (count_header(c, len))
    return -1;
  core_buf_append(&c->hbuf, at, len);
  return 0;
}

static int name_is(const char *p, size_t n, const char *want) {
  return strlen(want) == n && strncasecmp(p, want, n) == 0;
}

/* An incoming X-Request-Id is used as the request's id (logged, echoed
 * back) when it is 1 to 128 bytes of letters, digits and -._:/+=@; anything
 * else is ignored, so the id never needs escaping in a header. */
static int http_request_id_ok(const char *v, size_t n) {
  if (n == 0 || n > 128)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)v[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || strchr("-._:/+=@", ch)))
      return 0;
  }
  return 1;
}

static void trim(const char **p, size_t *n) {
  while (*n && ((*p)[0] == ' ' || (*p)[0] == '\t')) (*p)++, (*n)--;
  while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t')) (*n)--;
}

static int on_header_value_complete(llhttp_t *p) {
  http_conn_t *c = p->data;
  c->in_value = 0;
  http_req_t *r = c->cur;
  const char *name = c->hbuf.data + c->field_start;
  size_t nn = c->value_start - c->field_start;
  const char *v = c->hbuf.data + c->value_start;
  size_t vn = c->hbuf.len - c->value_start;
  trim(&v, &vn);
  if (name_is(name, nn, "content-type")) {
    r->content_type.p = core_arena_strndup(&r->arena, v, vn);
    r->content_type.n = vn;
  } else if (name_is(name, nn, "host")) {
    c->hosts++;
    if (c->server->opts.log_requests) {
      r->host.p = core_arena_strndup(&r->arena, v, vn);
      r->host.n = vn;
    }
  } else if (name_is(name, nn, "x-request-id")) {
    if (http_request_id_ok(v, vn)) {
      r->request_id.p = core_arena_strndup(&r->arena, v, vn);
      r->request_id.n = vn;
    }
  } else if (name_is(name, nn, "transfer-encoding")) {
    if (!(vn == 7 && strncasecmp(v, "chunked", 7) == 0))
      c->te_bad = 1;
  } else if (name_is(name, nn, "content-length")) {
    c->has_cl = 1;
  } else if (name_is(name, nn, "expect")) {
    if (vn == 12 && strncasecmp(v, "100-continue", 12) == 0)
      r->expect_continue = 1;
    else
      return reject(c, 417, "Expectation Failed");
  }
  c->hbuf.len = c->field_start; /* only the URL is kept */
  if (c->hbuf.data)
    c->hbuf.data[c->hbuf.len] = '\0';
  return 0;
}

static http_method_t map_method(uint8_t m) {
  switch (m) {
    case HTTP_GET:
      return HTTP_M_GET;
    case HTTP_HEAD:
      return HTTP_M_HEAD;
    case HTTP_POST:
      return HTTP_M_POST;
    case HTTP_PUT:
      return HTTP_M_PUT;
    case HTTP_PATCH:
      return HTTP_M_PATCH;
    case HTTP_DELETE:
      return HTTP_M_DELETE;
    case HTTP_OPTIONS:
      return HTTP_M_OPTIONS;
    default:
      return HTTP_M_OTHER;
  }
}

/* The path of an absolute-form target ("http://host/path", RFC 9112
 * section 3.2.2) is routed like the origin form, as Node does. */
static size_t origin_offset(const char *t, size_t n) {
  size_t skip = 0;
  if (n > 7 && strncasecmp(t, "http://", 7) == 0)
    skip = 7;
  else if (n > 8 && strncasecmp(t, "https://", 8) == 0)
    skip = 8;
  if (skip == 0)
    return 0;
  const char *slash = memchr(t + skip, '/', n - skip);
  return slash ? (size_t)(slash - t) : 0;
}

static void set_target(http_req_t *r, const char *url, size_t n) {
  char *t = core_arena_strndup(&r->arena, url, n);
  size_t off = origin_offset(t, n);
  r->target.p = t;
  r->target.n = n;
  t += off;
  n -= off;
  r->path.p = t;
  r->path.n = n;
  char *q = memchr(t, '?', n);
  if (q != NULL) {
    r->path.n = (size_t)(q - t);
    r->query.p = q + 1;
    r->query.n = n - r->path.n - 1;
  }
}

static void send_continue(http_conn_t *c) {
  static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
  uv_buf_t b = uv_buf_init((char *)msg, sizeof(msg) - 1);
  uv_try_write((uv_stream_t *)&c->tcp, &b, 1); /* best effort: the client
                                                  sends the body anyway */
}

static int on_headers_complete(llhttp_t *p) {
  http_conn_t *c = p->data;
  http_req_t *r = c->cur;
  set_target(r, c->hbuf.data ? c->hbuf.data : "", c->url_len);
  r->method = map_method(p->method);
  r->method_str = llhttp_method_name((llhttp_method_t)p->method);
  r->head_only = r->method == HTTP_M_HEAD;
  if (p->http_major != 1 || p->http_minor > 1)
    return reject(c, 505, "HTTP Version Not Supported");
  if (c->te_bad) {
    if (c->has_cl)
      return reject(c, 400, "Both Transfer-Encoding and Content-Length");
    return reject(c, 501, "Transfer-Encoding other than chunked is not supported");
  }
  if (p->http_minor == 1 && c->hosts == 0)
    return reject(c, 400, "Missing Host header");
  if (c->hosts > 1)
    return reject(c, 400, "Multiple Host headers");
  if ((p->flags & F_CONTENT_LENGTH) &&
      p->content_length > (uint64_t)c->server->opts.body_limit)
    return too_large(c);
  int has_body =
      (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length);
  if (r->expect_continue && has_body && p->http_minor == 1 && c->queue_head == r)
    send_continue(c);
  http__conn_set_phase(c, PHASE_BODY);
  c->hdr_pause = 1; /* feed() learns where the headers end, for the LF check */
  return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  http_conn_t *c = p->data;
  c->body_seen += (int64_t)len;
  if (c->body_seen > c->server->opts.body_limit)
    return too_large(c);
  core_buf_append(&c->cur->body_buf, at, len);
  return 0;
}

/* Chunk extensions carry nothing looplab uses; like Node, at most 16 KiB
 * of them per request. */
static int on_chunk_ext(llhttp_t *p, const char *at, size_t len) {
  http_conn_t *c = p->data;
  c->ext_bytes += len;
  if (c->ext_bytes > 16384)
    return reject(c, 413, "Chunk extensions are too large");
  return 0;
}

static void dispatch(http_conn_t *c, http_req_t *r) {
  http_match_t m;
  int rc = http_router_match(c->server->router, r->method, r->path.p, r->path.n, &m);
  r->route = m.route;
  r->route_id = m.route_id;
  r->dispatched = 1;
  c->pending++;
  if (rc == HTTP_ROUTE_NOT_FOUND) {
    /* The raw target, query included, as Fastify's 404 says it. */
    http_respond_error(r, 404, NULL, "Route %s:%.*s not found", r->method_str,
                       (int)r->target.n, r->target.p);
    return;
  }
  if (rc == HTTP_ROUTE_BAD_METHOD) {
    char allow[128];
    snprintf(allow, sizeof(allow), "Allow: %s\r\n", m.allow);
    http_respond_error(r, 405, allow, "Method %s is not allowed on %.*s", r->method_str,
                       (int)r->path.n, r->path.p);
    return;
  }
  memcpy(r->params, m.params, sizeof(m.params));
  r->nparams = m.nparams;
  for (int i = 0; i < r->nparams; i++) /* Fastify decodes path parameters */
    if (memchr(r->params[i].p, '%', r->params[i].n))
      r->params[i].p =
          http_percent_decode(&r->arena, r->params[i].p, r->params[i].n, &r->params[i].n);
  m.cb(r);
}

static int on_message_complete(llhttp_t *p) {
  http_conn_t *c = p->data;
  http_req_t *r = c->cur;
  c->cur = NULL;
  http__conn_set_phase(c, PHASE_IDLE);
  r->body.p = r->body_buf.data ? r->body_buf.data : "";
  r->body.n = r->body_buf.len;
  r->keep_alive = llhttp_should_keep_alive(p) != 0;
  if (!r->keep_alive)
    c->no_more = 1;
  dispatch(c, r);
  if (!http__conn_open(c) || c->no_more)
    return HPE_PAUSED;
  if (c->queued >= MAX_PIPELINED) {
    c->paused = 1;
    return HPE_PAUSED;
  }
  return 0;
}

static void init_settings(void) {
  llhttp_settings_init(&settings);
  settings.on_message_begin = on_message_begin;
  settings.on_method = on_method;
  settings.on_url = on_url;
  settings.on_url_complete = on_url_complete;
  settings.on_version = on_version;
  settings.on_header_field = on_header_field;
  settings.on_header_field_complete = on_header_field_complete;
  settings.on_header_value = on_header_value;
  settings.on_header_value_complete = on_header_value_complete;
  settings.on_headers_complete = on_headers_complete;
  settings.on_body = on_body;
  settings.on_chunk_extension_name = on_chunk_ext;
  settings.on_chunk_extension_value = on_chunk_ext;
  settings.on_message_complete = on_message_complete;
  settings_ready = 1;
}

static int parse_error_status(http_conn_t *c, llhttp_errno_t err) {
  if (c->error_status)
    return c->error_status;
  if (err == HPE_INVALID_TRANSFER_ENCODING && !c->has_cl)
    return 501;
  const char *v = c->version, *why = llhttp_get_error_reason(&c->parser);
  /* A well-formed but unsupported version is 505; a malformed one, 400. */
  if (err == HPE_INVALID_VERSION && why && strcmp(why, "Invalid HTTP version") == 0 &&
      strlen(v) == 3 && v[1] == '.' && v[0] >= '0' && v[0] <= '9' && v[2] >= '0' &&
      v[2] <= '9')
    return 505;
  return 400;
}

static int is_tchar(unsigned char b) {
  return (b >= '0' && b <= '9') || (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') ||
         (b != '\0' && strchr("!#$%&'*+-.^_`|~", b) != NULL);
}

/* One byte of "HTTP/" DIGIT "." DIGIT CRLF, at position i. */
static int version_byte_ok(unsigned i, unsigned char b) {
  if (i == 5 || i == 7)
    return b >= '0' && b <= '9';
  return b == "HTTP/d.d\r\n"[i];
}

/* The request line exactly as RFC 9112 section 3 has it: method SP
 * request-target SP HTTP-version CRLF, one SP each, nothing before or
 * after. llhttp 8 accepts several SP between the parts and a line without
 * a version (HTTP/0.9), so the raw bytes are checked here, across reads,
 * from the method's first byte. Advances *from past the line's LF once
 * the line is complete. Returns NULL or the reason to refuse the request. */
static const char *scan_request_line(http_conn_t *c, const char **from, const char *to) {
  const char *q = *from;
  for (; q < to && c->line_state != LINE_DONE; q++) {
    unsigned char b = (unsigned char)*q;
    switch (c->line_state) {
      case LINE_METHOD:
        if (b == ' ')
          c->line_state = LINE_TARGET_START;
        else if (!is_tchar(b))
          return "Invalid request line: bad method";
        break;
      case LINE_TARGET_START:
      case LINE_TARGET:
        if (b == ' ' && c->line_state == LINE_TARGET)
          c->line_state = LINE_VERSION;
        else if (b == '\r' || b == '\n')
          return "Invalid request line: no HTTP version";
        else if (b <= ' ' || b >= 0x7f)
          return "Invalid request line: bad separator or target";
        else
          c->line_state = LINE_TARGET;
        break;
      default: /* LINE_VERSION */
        if (!version_byte_ok(c->line_ver, b))
          return "Invalid request line: bad HTTP version";
        if (++c->line_ver == 10)
          c->line_state = LINE_DONE;
        break;
    }
  }
  *from = q;
  return NULL;
}

/* The raw header bytes are checked here, because llhttp 8 accepts two
 * things even in strict mode that looplab refuses (a proxy in front may
 * not agree on where a header or the header section ends):
 *  - a bare LF as a line end (RFC 9112 section 2.2 makes it optional);
 *  - obs-fold, a line that begins with SP or HT (section 5.2), which
 *    llhttp even reads as plain whitespace when the first line's value is
 *    empty ("Content-Length:\r\n 34" is then no Content-Length at all).
 * Returns NULL or the reason to refuse the request. */
static const char *scan_header_bytes(http_conn_t *c, const char *from, const char *to) {
  if (c->line_state != LINE_DONE) {
    const char *why = scan_request_line(c, &from, to);
    if (why != NULL || c->line_state != LINE_DONE)
      return why;
    c->scan_prev = '\n'; /* the request line's LF */
  }
  if (from >= to)
    return NULL;
  if (c->scan_prev == '\n' && (from[0] == ' ' || from[0] == '\t'))
    return "Obsolete line folding is not allowed";
  char prev = c->scan_prev;
  for (const char *q = from; (q = memchr(q, '\n', (size_t)(to - q))) != NULL; q++) {
    if ((q == from ? prev : q[-1]) != '\r')
      return "Bare LF in the header section";
    if (q + 1 < to && (q[1] == ' ' || q[1] == '\t'))
      return "Obsolete line folding is not allowed";
  }
  c->scan_prev = to[-1];
  return NULL;
}

void http__parse_feed(http_conn_t *c, const char *data, size_t len) {
  /* Nothing after a final request; a fresh connection during a drain still
   * gets its one request. */
  if (c->no_more && !http__conn_in_message(c) && c->messages > 0)
    return;
  const char *end = data + len;
  llhttp_errno_t err;
  for (;;) {
    c->error_status = 0;
    c->feed_base = data;
    if (c->scanning)
      c->scan_from = data;
    err = llhttp_execute(&c->parser, data, (size_t)(end - data));
    const char *stop = err == HPE_OK ? end : llhttp_get_error_pos(&c->parser);
    c->feed_off += (uint64_t)(stop - data);
    if (!http__conn_open(c))
      return;
    const char *why = c->scanning ? scan_header_bytes(c, c->scan_from, stop) : NULL;
    if (why != NULL) {
      c->scanning = 0;
      http__queue_fail(c, 400, NULL, why);
      return;
    }
    if (err != HPE_PAUSED || !c->hdr_pause)
      break;
    c->hdr_pause = 0; /* headers are complete and clean: go on with the body */
    c->scanning = 0;
    llhttp_resume(&c->parser);
    data = stop;
  }
  if (err == HPE_OK)
    return;
  if (err == HPE_PAUSED) {
    if (c->no_more) {
      http__conn_stop_reading(c);
      return;
    }
    const char *pos = llhttp_get_error_pos(&c->parser);
    core_buf_append(&c->leftover, pos, (size_t)(end - pos));
    http__conn_stop_reading(c);
    return;
  }
  int status = parse_error_status(c, err);
  const char *msg = c->error_status ? c->error_msg : llhttp_get_error_reason(&c->parser);
  http__queue_fail(c, status, c->error_status ? c->error_code : NULL,
                   msg && *msg ? msg : "Bad Request");
}

const llhttp_settings_t *http__parse_settings(void) {
  if (!settings_ready)
    init_settings();
  return &settings;
}
