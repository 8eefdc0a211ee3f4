/* Responses: the status line and headers, Fastify-shaped errors, the
 * cached Date header and query-string look-ups. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

const char *http_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 417:
      return "Expectation Failed";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
  }
}

/* time() is a vDSO call: cheap enough to ask per response, and the header
 * is only reformatted when the second changes. */
void http_date_refresh(http_server_t *s) {
  time_t now = time(NULL);
  if ((int64_t)now == s->date_sec)
    return;
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(s->date, sizeof(s->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  s->date_sec = (int64_t)now;
}

static char *put_uint(char *p, uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *p++ = tmp[--n];
  return p;
}

static char *put_str(char *p, const char *s) {
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

/* Builds the status line and headers on the stack, then copies them to
 * req->head in the arena: a W1 head is ~230 bytes, and the arena's first
 * chunk has room for it, where a fixed buffer in every request object would
 * hold HTTP_HEAD_MAX bytes on every idle connection. */
void http_req_build_head(http_req_t *req, int status, const char *content_type,
                         const char *extra_headers, size_t body_len) {
  http_date_refresh(req->server);
  size_t extra = extra_headers ? strlen(extra_headers) : 0;
  size_t ct = content_type ? strlen(content_type) : 0;
  char head[HTTP_HEAD_MAX];
  char *p = head;
  /* Callers pass at most 256 bytes of headers; the fixed ones take less
   * than 256 more, and an echoed X-Request-Id at most 128 + 16. */
  if (extra + ct > 256 || req->request_id.n > 128)
    abort();
  p = put_str(p, "HTTP/1.1 ");
  p = put_uint(p, (uint64_t)status);
  *p++ = ' ';
  p = put_str(p, http_reason(status));
  p = put_str(p, "\r\n");
  if (ct) {
    p = put_str(p, "Content-Type: ");
    p = put_str(p, content_type);
    p = put_str(p, "\r\n");
  }
  if (status != 204 && status >= 200) {
    p = put_str(p, "Content-Length: ");
    p = put_uint(p, body_len);
    p = put_str(p, "\r\n");
  }
  p = put_str(p, req->server->date);
  if (req->close) {
    p = put_str(p, "Connection: close\r\n");
  } else {
    p = put_str(p, "Connection: keep-alive\r\nKeep-Alive: timeout=");
    p = put_uint(p, (uint64_t)(req->server->opts.keep_alive_timeout / 1000));
    p = put_str(p, "\r\n");
  }
  if (extra) {
    memcpy(p, extra_headers, extra);
    p += extra;
  }
  if (req->request_id.n) {
    p = put_str(p, "X-Request-Id: ");
    memcpy(p, req->request_id.p, req->request_id.n);
    p += req->request_id.n;
    p = put_str(p, "\r\n");
  }
  p = put_str(p, "\r\n");
  req->head_len = (size_t)(p - head);
  req->head = core_arena_alloc(&req->arena, req->head_len);
  memcpy(req->head, head, req->head_len);
}

void http_error_body_code(core_buf_t *b, int status, const char *code,
                          const char *message) {
  core_buf_puts(b, "{\"statusCode\":");
  core_buf_put_i64(b, status);
  if (code) {
    core_buf_puts(b, ",\"code\":");
    core_buf_put_json_str(b, code, strlen(code));
  }
  core_buf_puts(b, ",\"error\":");
  const char *reason = http_reason(status);
  core_buf_put_json_str(b, reason, strlen(reason));
  core_buf_puts(b, ",\"message\":");
  core_buf_put_json_str(b, message, strlen(message));
  core_buf_putc(b, '}');
}

void http_error_body(core_buf_t *b, int status, const char *message) {
  http_error_body_code(b, status, NULL, message);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static char *decode_impl(core_arena_t *a, const char *s, size_t n, size_t *outn,
                         int plus) {
  char *d = core_arena_alloc(a, n + 1);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (plus && s[i] == '+') {
      d[k++] = ' ';
    } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
               hexval(s[i + 2]) >= 0) {
      d[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else {
      d[k++] = s[i];
    }
  }
  d[k] = '\0';
  *outn = k;
  return d;
}

int http_query_get(http_req_t *req, const char *key, const char **val, size_t *len) {
  const char *q = req->query.p;
  size_t n = req->query.n, klen = strlen(key), i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && q[j] != '&') j++;
    const char *eq = memchr(q + i, '=', j - i);
    size_t kn = eq ? (size_t)(eq - (q + i)) : j - i;
    if (kn == klen && memcmp(q + i, key, klen) == 0) {
      const char *v = eq ? eq + 1 : q + j;
      size_t vn = (size_t)(q + j - v);
      size_t dn;
      *val = decode_impl(&req->arena, v, vn, &dn, 1);
      if (len)
        *len = dn;
      return 1;
    }
    i = j + 1;
  }
  return 0;
}

const char *http_percent_decode(core_arena_t *a, const char *s, size_t n, size_t *outn) {
  return decode_impl(a, s, n, outn, 0);
}
