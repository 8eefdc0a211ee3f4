/* Hostile and malformed requests (issue 2, part 9): each case is sent on a
 * fresh connection, followed in the same write by a smuggled POST /items
 * and GET /livez. The server must answer exactly once, with the case's
 * status, Connection: close and Fastify's error shape, then close the
 * connection without answering anything else; no handler may have run (no
 * row named "hostile" appears in items); and it must keep serving.
 *
 * One server (--workers 0, small limits) serves the whole table; it is
 * started in the runner process and each case runs in a forked child. */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define BODY_LIMIT 1024
#define HEADERS_TIMEOUT 500
#define REQUEST_TIMEOUT 1500

/* 34 bytes; a handler that runs creates a row named "hostile". */
#define HB "{\"name\":\"hostile\",\"price_cents\":1}"
#define PI "POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
#define PC PI "Transfer-Encoding: chunked\r\n"
#define GL "GET /livez HTTP/1.1\r\n"
#define CH "22\r\n" HB "\r\n0\r\n\r\n"
#define SMUGGLE                                                           \
  "POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n" \
  "Content-Length: 34\r\n\r\n" HB "GET /livez HTTP/1.1\r\nHost: a\r\n\r\n"

enum {
  NO_SMUGGLE = 1, /* the case's bytes are followed by nothing */
  GENERATED = 2   /* the bytes are built by gen() */
};

typedef struct hcase_s {
  const char *name;
  int status;
  int alt_status; /* 0, or a second acceptable status where the contract is ambiguous */
  int flags;
  const char *req;
  size_t len;
} hcase_t;

#define C(name, status, req) \
  { name, status, 0, 0, req, sizeof(req) - 1 }
#define C2(name, status, alt, req) \
  { name, status, alt, 0, req, sizeof(req) - 1 }
#define G(name, status, flags) \
  { name, status, 0, GENERATED | (flags), NULL, 0 }

static const hcase_t cases[] = {
    /* Transfer-Encoding with Content-Length, and Content-Length itself. */
    C("te_cl", 400, PI "Content-Length: 34\r\nTransfer-Encoding: chunked\r\n\r\n" CH),
    C("cl_te", 400, PI "Transfer-Encoding: chunked\r\nContent-Length: 34\r\n\r\n" CH),
    C("cl_te_classic", 400,
      PI "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"),
    C("te_cl_zero_get", 400,
      GL "Host: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    C("cl_dup_diff", 400, PI "Content-Length: 34\r\nContent-Length: 35\r\n\r\n" HB " "),
    C("cl_dup_same", 400, PI "Content-Length: 34\r\nContent-Length: 34\r\n\r\n" HB),
    C("cl_dup_case", 400, PI "Content-Length: 34\r\ncontent-length: 34\r\n\r\n" HB),
    C("cl_dup_zero", 400, PI "Content-Length: 0\r\nContent-Length: 34\r\n\r\n" HB),
    C("cl_list", 400, PI "Content-Length: 34, 34\r\n\r\n" HB),
    C("cl_plus", 400, PI "Content-Length: +34\r\n\r\n" HB),
    C("cl_minus", 400, PI "Content-Length: -34\r\n\r\n" HB),
    C("cl_inner_space", 400, PI "Content-Length: 3 4\r\n\r\n" HB),
    C("cl_hex", 400, PI "Content-Length: 0x22\r\n\r\n" HB),
    C("cl_overflow", 400, PI "Content-Length: 99999999999999999999999999\r\n\r\n" HB),
    C("cl_exponent", 400, PI "Content-Length: 1e3\r\n\r\n" HB),
    C("cl_empty", 400, PI "Content-Length: \r\n\r\n" HB),
    C("cl_junk", 400, PI "Content-Length: 34abc\r\n\r\n" HB),
    C("cl_decimal", 400, PI "Content-Length: 34.0\r\n\r\n" HB),
    C("cl_obsfold", 400, PI "Content-Length:\r\n 34\r\n\r\n" HB),

    /* Chunk sizes, chunk framing, extensions and trailers. */
    C("chunk_nonhex", 400, PC "\r\nzz\r\n" HB "\r\n0\r\n\r\n"),
    C("chunk_overflow", 400, PC "\r\nfffffffffffffffffffff\r\n" HB "\r\n0\r\n\r\n"),
    C("chunk_negative", 400, PC "\r\n-22\r\n" HB "\r\n0\r\n\r\n"),
    C("chunk_0x", 400, PC "\r\n0x22\r\n" HB "\r\n0\r\n\r\n"),
    C("chunk_leading_space", 400, PC "\r\n 22\r\n" HB "\r\n0\r\n\r\n"),
    C("chunk_no_crlf_after_data", 400, PC "\r\n22\r\n" HB "0\r\n\r\n"),
    C("chunk_data_longer", 400, PC "\r\n20\r\n" HB "\r\n0\r\n\r\n"),
    C("chunk_size_bare_lf", 400, PC "\r\n22\n" HB "\r\n0\r\n\r\n"),
    C("chunk_data_bare_lf", 400, PC "\r\n22\r\n" HB "\n0\r\n\r\n"),
    C("chunk_size_bare_cr", 400, PC "\r\n22\r" HB "\r\n0\r\n\r\n"),
    C("chunk_ext_bare_cr", 400, PC "\r\n22;a=b\rc\r\n" HB "\r\n0\r\n\r\n"),
    C("chunk_ext_open_quote", 400, PC "\r\n22;a=\"b\r\n" HB "\r\n0\r\n\r\n"),
    C("chunk_ext_ctl", 400, PC "\r\n22;a\x01=b\r\n" HB "\r\n0\r\n\r\n"),
    C("chunk_last_bare_cr", 400, PC "\r\n22\r\n" HB "\r\n0\rX\r\n\r\n"),
    C("chunk_trailer_obsfold", 400, PC "\r\n22\r\n" HB "\r\n0\r\nX-T: a\r\n b\r\n\r\n"),
    C("chunk_trailer_space_colon", 400, PC "\r\n22\r\n" HB "\r\n0\r\nX-T : a\r\n\r\n"),
    C("chunk_trailer_bare_lf", 400, PC "\r\n22\r\n" HB "\r\n0\r\nX-T: a\n\r\n"),
    G("chunk_big_size_413", 413, NO_SMUGGLE),
    G("chunk_sum_413", 413, 0),
    G("chunk_ext_huge_413", 413, NO_SMUGGLE),

    /* Transfer codings other than chunked, and disguised ones. */
    C("te_gzip", 501, PI "Transfer-Encoding: gzip\r\n\r\n" HB),
    C("te_gzip_chunked", 501, PI "Transfer-Encoding: gzip, chunked\r\n\r\n" CH),
    C("te_chunked_gzip", 501, PI "Transfer-Encoding: chunked, gzip\r\n\r\n" CH),
    C("te_identity", 501, PI "Transfer-Encoding: identity\r\n\r\n" HB),
    C("te_xchunked", 501, PI "Transfer-Encoding: xchunked\r\n\r\n" CH),
    C("te_chunkedx", 501, PI "Transfer-Encoding: chunkedx\r\n\r\n" CH),
    C2("te_twice", 400, 501,
       PI "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" CH),
    C("te_obsfold", 400, PI "Transfer-Encoding:\r\n chunked\r\n\r\n" CH),
    C("te_space_colon", 400, PI "Transfer-Encoding : chunked\r\n\r\n" CH),
    C("te_vtab", 400,
      PI "Transfer-Encoding:\x0b"
         "chunked\r\n\r\n" CH),
    C("x_cr_te", 400, PI "x:\rTransfer-Encoding: chunked\r\n\r\n" CH),

    /* Header section syntax. */
    C("obsfold_space", 400, GL "Host: a\r\nX-A: b\r\n c\r\n\r\n"),
    C("obsfold_tab", 400, GL "Host: a\r\nX-A: b\r\n\tc\r\n\r\n"),
    C("first_header_space", 400, GL " Host: a\r\n\r\n"),
    C("first_header_tab", 400, GL "\tHost: a\r\n\r\n"),
    C("bare_cr_end", 400, GL "Host: a\r\n\r"),
    C("bare_cr_value", 400, GL "Host: a\r\nX-A: b\rc\r\n\r\n"),
    C("bare_cr_line_end", 400, GL "Host: a\rX-A: b\r\n\r\n"),
    C("bare_lf_all", 400, "GET /livez HTTP/1.1\nHost: a\n\n"),
    C("bare_lf_request_line", 400, "GET /livez HTTP/1.1\nHost: a\r\n\r\n"),
    C("bare_lf_header", 400, GL "Host: a\nX-A: b\r\n\r\n"),
    C("bare_lf_end", 400, GL "Host: a\r\n\n"),
    C("host_space_colon", 400, GL "Host : a\r\n\r\n"),
    C("name_tab_colon", 400, GL "Host: a\r\nX-A\t: b\r\n\r\n"),
    C("nul_value", 400, GL "Host: a\r\nX-A: b\0c\r\n\r\n"),
    C("nul_name", 400, GL "Host: a\r\nX\0A: b\r\n\r\n"),
    C("ctl_value", 400,
      GL "Host: a\r\nX-A: b\x01"
         "c\r\n\r\n"),
    C("del_value", 400, GL "Host: a\r\nX-A: b\x7f\r\n\r\n"),
    C("name_paren", 400, GL "Host: a\r\nX(A): b\r\n\r\n"),
    C("name_space", 400, GL "Host: a\r\nX A: b\r\n\r\n"),
    C("name_slash", 400, GL "Host: a\r\nX/A: b\r\n\r\n"),
    C("name_nonascii", 400, GL "Host: a\r\nX\xc3\xa9: b\r\n\r\n"),
    C("no_colon", 400, GL "Host: a\r\nX-A b\r\n\r\n"),
    C("empty_name", 400, GL "Host: a\r\n: b\r\n\r\n"),

    /* Request line: method, target, version. */
    C("url_ctl", 400, "GET /li\x01vez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("url_nul", 400, "GET /li\0vez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("url_del", 400, "GET /li\x7fvez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("url_space", 400, "GET /li vez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("url_tab", 400, "GET /li\tvez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("url_nonascii", 400, "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("url_no_slash", 400, "GET livez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("method_bad_token", 400, "G(T /livez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("method_lowercase", 400, "get /livez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("method_unknown", 400, "FOO /livez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("method_tab", 400, "GET\t/livez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("trailing_space", 400, "GET /livez HTTP/1.1 \r\nHost: a\r\n\r\n"),
    C("no_version", 400, "GET /livez\r\nHost: a\r\n\r\n"),
    /* RFC 9112 section 3: method SP request-target SP HTTP-version CRLF,
     * one SP each, nothing before or after (bug 8). */
    C("method_double_space", 400, "GET  /livez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("version_double_space", 400, "GET /livez  HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("tab_separators", 400, "GET\t/livez\tHTTP/1.1\r\nHost: a\r\n\r\n"),
    C("version_tab", 400, "GET /livez\tHTTP/1.1\r\nHost: a\r\n\r\n"),
    C("leading_space", 400, " GET /livez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("leading_tab", 400, "\tGET /livez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("trailing_two_spaces", 400, "GET /livez HTTP/1.1  \r\nHost: a\r\n\r\n"),
    C("trailing_tab", 400, "GET /livez HTTP/1.1\t\r\nHost: a\r\n\r\n"),
    C("version_lowercase_http", 400, "GET /livez http/1.1\r\nHost: a\r\n\r\n"),
    C("version_mixed_case", 400, "GET /livez Http/1.1\r\nHost: a\r\n\r\n"),
    C("bare_cr_before_version", 400, "GET /livez\rHTTP/1.1\r\nHost: a\r\n\r\n"),
    C("bare_cr_after_method", 400, "GET\r/livez HTTP/1.1\r\nHost: a\r\n\r\n"),
    C("cr_cr_lf_line_end", 400, "GET /livez HTTP/1.1\r\r\nHost: a\r\n\r\n"),
    C("http09_line", 400, "GET /livez\r\n\r\n"),
    C("http09_line_alone", 400, "GET /\r\n"),
    C("ver_1_2", 505, "GET /livez HTTP/1.2\r\nHost: a\r\n\r\n"),
    C("ver_2_0", 505, "GET /livez HTTP/2.0\r\nHost: a\r\n\r\n"),
    C("ver_3_0", 505, "GET /livez HTTP/3.0\r\nHost: a\r\n\r\n"),
    C("ver_0_9", 505, "GET /livez HTTP/0.9\r\nHost: a\r\n\r\n"),
    C("ver_1_10", 400, "GET /livez HTTP/1.10\r\nHost: a\r\n\r\n"),
    C("ver_letters", 400, "GET /livez HTTP/x.y\r\nHost: a\r\n\r\n"),
    C("ver_lowercase", 400, "GET /livez http/1.1\r\nHost: a\r\n\r\n"),
    C("ver_no_minor", 400, "GET /livez HTTP/1\r\nHost: a\r\n\r\n"),
    C("ver_junk", 400, "GET /livez HTTP/1.1x\r\nHost: a\r\n\r\n"),
    C("tls_client_hello", 400,
      "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x00\x01\x02\x03\x04\x05\x06\x07"),
    C2("h2_preface", 505, 400, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),

    /* Host. */
    C("missing_host", 400, "GET /livez HTTP/1.1\r\n\r\n"),
    C("two_hosts", 400, GL "Host: a\r\nHost: b\r\n\r\n"),
    C("two_hosts_same", 400, GL "Host: a\r\nHost: a\r\n\r\n"),

    /* Limits: --max-header-size 16384 (default), --body-limit 1024. */
    G("line_414", 414, 0),
    G("headers_431", 431, 0),
    G("fields_431", 431, 0),
    G("long_name_431", 431, 0),
    C("cl_413", 413, PI "Content-Length: 100000\r\n\r\n"),
    C("cl_413_huge", 413, PI "Content-Length: 1000000000000\r\n\r\n"),
    C("cl_413_get", 413, GL "Host: a\r\nContent-Length: 5000\r\n\r\n"),
};

#define NCASES ((int)ARRAY_LEN(cases))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static th_server_t srv;

static void server_up(void) {
  static const char *const args[] = {"--workers",
                                     "0",
                                     "--body-limit",
                                     "1024",
                                     "--headers-timeout",
                                     "500",
                                     "--request-timeout",
                                     "1500",
                                     NULL};
  th_server_start(&srv, args);
}

static void server_down(void) {
  th_server_stop(&srv, 5000);
}

static void append(char **buf, size_t *len, size_t *cap, const void *p, size_t n) {
  if (*len + n + 1 > *cap) {
    *cap = (*len + n + 1) * 2;
    *buf = realloc(*buf, *cap);
  }
  memcpy(*buf + *len, p, n);
  *len += n;
  (*buf)[*len] = '\0';
}
#define APPS(s) append(&buf, &len, &cap, (s), strlen(s))

/* Builds the bytes of a GENERATED case. */
static size_t gen(const char *name, char **out) {
  char *buf = NULL, line[256];
  size_t len = 0, cap = 0;
  if (strcmp(name, "chunk_big_size_413") == 0) {
    APPS(PC "\r\n100000\r\n");
    for (int i = 0; i < 2000; i++) APPS("a");
  } else if (strcmp(name, "chunk_sum_413") == 0) {
    APPS(PC "\r\n");
    for (int c = 0; c < 3; c++) {
      APPS("200\r\n");
      for (int i = 0; i < 0x200; i++) APPS("a");
      APPS("\r\n");
    }
    APPS("0\r\n\r\n");
  } else if (strcmp(name, "chunk_ext_huge_413") == 0) {
    APPS(PC "\r\n1;x=");
    for (int i = 0; i < 20000; i++) APPS("a");
    APPS("\r\na\r\n");
  } else if (strcmp(name, "line_414") == 0) {
    APPS("GET /");
    for (int i = 0; i < 9000; i++) APPS("a");
    APPS(" HTTP/1.1\r\nHost: a\r\n\r\n");
  } else if (strcmp(name, "headers_431") == 0) {
    APPS(GL "Host: a\r\n");
    for (int h = 0; h < 20; h++) {
      snprintf(line, sizeof(line), "X-Pad-%d: ", h);
      APPS(line);
      for (int i = 0; i < 1000; i++) APPS("p");
      APPS("\r\n");
    }
    APPS("\r\n");
  } else if (strcmp(name, "fields_431") == 0) {
    APPS(GL "Host: a\r\n");
    for (int h = 0; h < 100; h++) {
      snprintf(line, sizeof(line), "X-F%d: v\r\n", h);
      APPS(line);
    }
    APPS("\r\n");
  } else if (strcmp(name, "long_name_431") == 0) {
    APPS(GL "Host: a\r\nX-");
    for (int i = 0; i < 17000; i++) APPS("n");
    APPS(": v\r\n\r\n");
  }
  *out = buf;
  return len;
}

/* Counts the rows a wrongly run handler created, and removes them so that
 * one failing case does not fail the next. */
static int64_t hostile_rows(void) {
  return th_sql(th_pg_conninfo(), "DELETE FROM items WHERE name = 'hostile' RETURNING id",
                NULL, 0);
}

/* After the error response: nothing more, then the close; the server
 * still answers on a new connection; no handler created a row. */
static void assert_closed_alone(th_conn_t *c, const char *what) {
  int closed = th_read_until_close(c, th_scale(3000));
  TH_ASSERT(closed, "%s: the server did not close the connection after the error", what);
  TH_ASSERT(c->len == 0,
            "%s: %zu more bytes after the error response (%d more responses): %.200s",
            what, c->len, th_count_responses(c->buf, c->len), c->buf);
  th_response_t r;
  th_request(srv.port, "GET", "/livez", NULL, NULL, &r);
  TH_ASSERT(r.status == 200, "%s: GET /livez afterwards answered %d", what, r.status);
  th_response_free(&r);
  int64_t rows = hostile_rows();
  TH_ASSERT(rows == 0, "%s: a handler ran: %lld rows named 'hostile' in items", what,
            (long long)rows);
}

static void assert_error(const th_response_t *r, int status, int alt, const char *what) {
  TH_ASSERT(r->status == status || (alt != 0 && r->status == alt),
            "%s: status %d, want %d%s; body: %.200s", what, r->status, status,
            alt != 0 ? " (or the alternative)" : "", r->body);
  TH_ASSERT(th_conn_close_hdr(r), "%s: %d response without Connection: close", what,
            r->status);
  th_assert_error_shape(r, r->status, NULL, what);
}

/* Sends the bytes line by line (each "\n" ends a piece; at most 512 bytes a
 * piece), pausing ~3 ms between pieces so that the server reads them
 * separately: checks that span two reads (obs-fold, bare CR/LF, limits)
 * must still hold. Stops sending once the server has answered. */
static void send_split(th_conn_t *c, const char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t k = 0;
    while (i + k < n && k < 512 && p[i + k] != '\n') k++;
    if (i + k < n && k < 512)
      k++;
    if (th_send(c, p + i, k) != 0)
      return;
    i += k;
    struct pollfd pfd = {c->fd, POLLIN, 0};
    if (poll(&pfd, 1, 3) > 0)
      return;
  }
}

static void run_case(int i, int split) {
  const hcase_t *hc = &cases[i];
  char name[96];
  snprintf(name, sizeof(name), "%s%s", hc->name, split ? " (sent line by line)" : "");
  char *req = NULL;
  size_t len;
  if (hc->flags & GENERATED) {
    len = gen(hc->name, &req);
  } else {
    len = hc->len;
    req = malloc(len + 1);
    memcpy(req, hc->req, len);
  }
  if (!(hc->flags & NO_SMUGGLE)) {
    req = realloc(req, len + sizeof(SMUGGLE));
    memcpy(req + len, SMUGGLE, sizeof(SMUGGLE));
    len += sizeof(SMUGGLE) - 1;
  }
  hostile_rows();
  th_conn_t *c = th_conn_open(srv.port);
  int rc = 0;
  if (split)
    send_split(c, req, len);
  else
    rc = th_send(c, req, len);
  free(req);
  th_response_t r;
  int rr = th_read_response(c, &r, th_scale(3000));
  TH_ASSERT(rr == TH_OK, "%s: no response (%s; send %s); got %zu bytes: %.200s", name,
            rr == TH_ETIMEDOUT ? "timed out"
            : rr == TH_ECLOSED ? "connection closed"
                               : "unparsable",
            rc == 0 ? "ok" : "failed", c->len, c->buf != NULL ? c->buf : "");
  assert_error(&r, hc->status, hc->alt_status, name);
  th_response_free(&r);
  assert_closed_alone(c, name);
  th_conn_close(c);
}

START_TEST(hostile_case) {
  run_case(_i, 0);
}
END_TEST

START_TEST(hostile_case_split) {
  run_case(_i, 1);
}
END_TEST

/* Headers trickling in, a line every 100 ms: 408 once --headers-timeout
 * (500 ms) has passed since the first byte, not before. */
START_TEST(slow_headers_408) {
  th_conn_t *c = th_conn_open(srv.port);
  int64_t t0 = th_now_ms();
  th_sends(c, "GET /livez HTTP/1.1\r\nHost: a\r\n");
  th_response_t r;
  int rc = TH_ETIMEDOUT;
  for (int i = 0; i < 40 && rc == TH_ETIMEDOUT; i++) {
    char line[64];
    snprintf(line, sizeof(line), "X-Slow-%d: v\r\n", i);
    if (th_sends(c, line) != 0)
      break;
    rc = th_read_response(c, &r, 100);
  }
  if (rc == TH_ETIMEDOUT)
    rc = th_read_response(c, &r, 100);
  int64_t dt = th_now_ms() - t0;
  TH_ASSERT(rc == TH_OK, "slow_headers: no 408 within %lld ms (rc %d)", (long long)dt,
            rc);
  TH_ASSERT(dt >= HEADERS_TIMEOUT - 50, "slow_headers: %d after only %lld ms", r.status,
            (long long)dt);
  TH_ASSERT(dt <= HEADERS_TIMEOUT + th_scale(1200), "slow_headers: 408 after %lld ms",
            (long long)dt);
  assert_error(&r, 408, 0, "slow_headers");
  th_response_free(&r);
  assert_closed_alone(c, "slow_headers");
  th_conn_close(c);
}
END_TEST

/* A body that trickles in (a byte every 200 ms, never complete): 408 once
 * --request-timeout (1500 ms) has passed; the handler never runs. */
START_TEST(slow_body_408) {
  th_conn_t *c = th_conn_open(srv.port);
  int64_t t0 = th_now_ms();
  const char *head = PI "Content-Length: 34\r\n\r\n";
  const char *body = HB;
  th_sends(c, head);
  th_send(c, body, 10);
  th_response_t r;
  int rc = TH_ETIMEDOUT;
  for (int i = 10; i < 33 && rc == TH_ETIMEDOUT; i++) {
    rc = th_read_response(c, &r, 200);
    if (rc == TH_ETIMEDOUT && th_send(c, body + i, 1) != 0)
      break;
  }
  if (rc == TH_ETIMEDOUT)
    rc = th_read_response(c, &r, th_scale(1500));
  int64_t dt = th_now_ms() - t0;
  TH_ASSERT(rc == TH_OK, "slow_body: no 408 within %lld ms (rc %d)", (long long)dt, rc);
  TH_ASSERT(dt >= REQUEST_TIMEOUT - 50, "slow_body: %d after only %lld ms", r.status,
            (long long)dt);
  TH_ASSERT(dt <= REQUEST_TIMEOUT + th_scale(1200), "slow_body: 408 after %lld ms",
            (long long)dt);
  assert_error(&r, 408, 0, "slow_body");
  th_response_free(&r);
  assert_closed_alone(c, "slow_body");
  th_conn_close(c);
}
END_TEST

/* The 413 for a declared Content-Length arrives before any body byte is
 * sent, and quickly. */
START_TEST(cl_413_before_body) {
  th_conn_t *c = th_conn_open(srv.port);
  int64_t t0 = th_now_ms();
  th_sends(c, PI "Content-Length: 2048\r\n\r\n");
  th_response_t r;
  int rc = th_read_response(c, &r, th_scale(1000));
  TH_ASSERT(rc == TH_OK,
            "cl_413_before_body: no response while the body was withheld (rc %d)", rc);
  TH_ASSERT(th_now_ms() - t0 < th_scale(1000), "cl_413_before_body: slow");
  assert_error(&r, 413, 0, "cl_413_before_body");
  /* Fastify's body-limit error and its code, exactly */
  TH_ASSERT(strcmp(r.body,
                   "{\"statusCode\":413,\"code\":\"FST_ERR_CTP_BODY_TOO_LARGE\","
                   "\"error\":\"Payload Too Large\","
                   "\"message\":\"Request body is too large\"}") == 0,
            "cl_413_before_body: body %s", r.body);
  th_response_free(&r);
  assert_closed_alone(c, "cl_413_before_body");
  th_conn_close(c);
}
END_TEST

/* The control for the request-line cases: well-formed lines are served,
 * including the empty lines (CRLF) that RFC 9112 section 2.2 says a server
 * SHOULD ignore before a request line, at the start of a connection and
 * between pipelined requests. Each entry holds the requests sent in one
 * write and how many 200s must come back on the open connection. */
START_TEST(request_line_ok) {
  static const struct {
    const char *name, *req;
    int responses;
  } ok[] = {
      {"valid", "GET /livez HTTP/1.1\r\nHost: a\r\n\r\n", 1},
      {"valid_1_0", "GET /livez HTTP/1.0\r\n\r\n", 1},
      {"valid_query", "GET /livez?a=b%20c HTTP/1.1\r\nHost: a\r\n\r\n", 1},
      {"leading_crlf", "\r\nGET /livez HTTP/1.1\r\nHost: a\r\n\r\n", 1},
      {"crlf_between_pipelined",
       "GET /livez HTTP/1.1\r\nHost: a\r\n\r\n\r\nGET /livez HTTP/1.1\r\nHost: a\r\n\r\n",
       2},
  };
  for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
    th_conn_t *c = th_conn_open(srv.port);
    TH_ASSERT(th_sends(c, ok[i].req) == 0, "%s: send failed", ok[i].name);
    for (int k = 0; k < ok[i].responses; k++) {
      th_response_t r;
      int rc = th_read_response(c, &r, th_scale(3000));
      TH_ASSERT(rc == TH_OK, "%s: response %d missing (rc %d)", ok[i].name, k + 1, rc);
      TH_ASSERT(r.status == 200, "%s: response %d is %d, want 200: %.200s", ok[i].name,
                k + 1, r.status, r.body);
      th_response_free(&r);
    }
    th_conn_close(c);
  }
}
END_TEST

/* Requests right at the limits are served, so the limits are not off by
 * one in the wrong direction: a body of exactly --body-limit bytes, 100
 * header fields, a request line under 8 KiB. */
START_TEST(at_the_limits_ok) {
  char body[BODY_LIMIT + 1];
  int n = snprintf(body, sizeof(body),
                   "{\"name\":\"limit-ok\",\"price_cents\":1,\"description\":\"");
  while (n < BODY_LIMIT - 2) body[n++] = 'd';
  body[n++] = '"';
  body[n++] = '}';
  body[n] = '\0';
  th_response_t r;
  th_request(srv.port, "POST", "/items", NULL, body, &r);
  TH_ASSERT(r.status == 201, "a body of exactly %d bytes: status %d: %.200s", BODY_LIMIT,
            r.status, r.body);
  th_response_free(&r);
  th_sql(th_pg_conninfo(), "DELETE FROM items WHERE name = 'limit-ok'", NULL, 0);

  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (int h = 0; h < 99; h++) { /* + Host = 100 fields */
    char line[32];
    snprintf(line, sizeof(line), "X-F%d: v\r\n", h);
    APPS(line);
  }
  th_request(srv.port, "GET", "/livez", buf, NULL, &r);
  TH_ASSERT(r.status == 200, "100 header fields: status %d", r.status);
  th_response_free(&r);
  free(buf);

  char path[8001];
  path[0] = '/';
  memset(path + 1, 'a', sizeof(path) - 2);
  path[sizeof(path) - 1] = '\0';
  th_request(srv.port, "GET", path, NULL, NULL, &r);
  TH_ASSERT(r.status == 404, "an 8000-byte target: status %d, want 404", r.status);
  th_response_free(&r);
}
END_TEST

static Suite *hostile_suite(void) {
  Suite *s = suite_create("http_hostile");
  TCase *tc = tcase_create("table");
  tcase_add_unchecked_fixture(tc, server_up, server_down);
  tcase_set_timeout(tc, 30);
  tcase_add_loop_test(tc, hostile_case, 0, NCASES);
  tcase_add_loop_test(tc, hostile_case_split, 0, NCASES);
  tcase_add_test(tc, cl_413_before_body);
  tcase_add_test(tc, slow_headers_408);
  tcase_add_test(tc, slow_body_408);
  tcase_add_test(tc, at_the_limits_ok);
  tcase_add_test(tc, request_line_ok);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (strlen(HB) != 34) {
    fprintf(stderr, "HB must be 34 bytes\n");
    return 2;
  }
  fprintf(stderr, "http_hostile: %d table cases\n", NCASES);
  SRunner *sr = srunner_create(hostile_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  if (!th_server_was_clean(&srv, "http_hostile server"))
    failed++;
  return failed == 0 ? 0 : 1;
}
