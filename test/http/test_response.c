/* What response.c formats, byte for byte: reason phrases, Fastify's error
 * bodies, the status line and headers (Content-Length rules, keep-alive,
 * the cached Date line), and query-string and path decoding. No loop and
 * no socket: a zeroed server and request are enough. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/internal.h"

static http_server_t srv; /* static: it holds a 64 KiB read buffer */
static http_req_t req;

static void setup(void) {
  memset(&srv, 0, sizeof(srv));
  memset(&req, 0, sizeof(req));
  srv.opts.keep_alive_timeout = 72000;
  req.server = &srv;
  core_arena_init(&req.arena, 256);
}

static void teardown(void) {
  core_arena_free(&req.arena);
}

START_TEST(reasons) {
  static const struct {
    int status;
    const char *reason;
  } t[] = {{100, "Continue"},
           {200, "OK"},
           {201, "Created"},
           {204, "No Content"},
           {400, "Bad Request"},
           {404, "Not Found"},
           {405, "Method Not Allowed"},
           {408, "Request Timeout"},
           {409, "Conflict"},
           {413, "Payload Too Large"},
           {414, "URI Too Long"},
           {415, "Unsupported Media Type"},
           {417, "Expectation Failed"},
           {431, "Request Header Fields Too Large"},
           {500, "Internal Server Error"},
           {501, "Not Implemented"},
           {503, "Service Unavailable"},
           {505, "HTTP Version Not Supported"},
           /* Unknown codes get their class's phrase. */
           {299, "OK"},
           {399, "OK"},
           {418, "Bad Request"},
           {499, "Bad Request"},
           {599, "Internal Server Error"}};
  for (size_t i = 0; i < ARRAY_SIZE(t); i++)
    ck_assert_str_eq(http_reason(t[i].status), t[i].reason);
}
END_TEST

/* Fastify's shape, member order included: clients and the conformance
 * suite compare these bytes with Node's. */
START_TEST(error_bodies) {
  core_buf_t b;
  core_buf_init(&b);
  http_error_body(&b, 404, "Route GET:/nope not found");
  ck_assert_str_eq(b.data,
                   "{\"statusCode\":404,\"error\":\"Not Found\","
                   "\"message\":\"Route GET:/nope not found\"}");
  core_buf_reset(&b);
  http_error_body_code(&b, 400, "FST_ERR_VALIDATION", "body/name must be string");
  ck_assert_str_eq(b.data,
                   "{\"statusCode\":400,\"code\":\"FST_ERR_VALIDATION\",\"error\":\"Bad "
                   "Request\",\"message\":\"body/name must be string\"}");
  core_buf_reset(&b);
  http_error_body_code(&b, 503, NULL, "database \"x\"\nunavailable");
  ck_assert_str_eq(b.data,
                   "{\"statusCode\":503,\"error\":\"Service Unavailable\","
                   "\"message\":\"database \\\"x\\\"\\nunavailable\"}");
  core_buf_free(&b);
}
END_TEST

/* The Date line as http_date_refresh must have written it for date_sec. */
static void expect_date(const char *head) {
  time_t sec = (time_t)srv.date_sec;
  struct tm tm;
  gmtime_r(&sec, &tm);
  char want[64];
  strftime(want, sizeof(want), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  ck_assert_uint_eq(strlen(want), 37);
  ck_assert_msg(strstr(head, want) != NULL, "no \"%s\" in:\n%s", want, head);
  ck_assert_int_le(llabs((long long)time(NULL) - srv.date_sec), 1);
}

/* req.head with the Date line cut out, NUL-terminated. */
static const char *head_without_date(char *out, size_t outlen) {
  ck_assert_uint_lt(req.head_len, outlen);
  memcpy(out, req.head, req.head_len);
  out[req.head_len] = '\0';
  expect_date(out);
  char *d = strstr(out, "Date: ");
  memmove(d, d + 37, strlen(d + 37) + 1);
  return out;
}

START_TEST(head_keep_alive) {
  char h[600];
  http_req_build_head(&req, 200, "application/json; charset=utf-8", NULL, 17);
  ck_assert_str_eq(head_without_date(h, sizeof(h)),
                   "HTTP/1.1 200 OK\r\n"
                   "Content-Type: application/json; charset=utf-8\r\n"
                   "Content-Length: 17\r\n"
                   "Connection: keep-alive\r\nKeep-Alive: timeout=72\r\n\r\n");
}
END_TEST

START_TEST(head_close_extra_no_type) {
  char h[600];
  req.close = 1;
  http_req_build_head(&req, 405, NULL, "Allow: GET, HEAD\r\n", 0);
  ck_assert_str_eq(head_without_date(h, sizeof(h)),
                   "HTTP/1.1 405 Method Not Allowed\r\n"
                   "Content-Length: 0\r\n"
                   "Connection: close\r\n"
                   "Allow: GET, HEAD\r\n\r\n");
}
END_TEST

/* RFC 9110 8.6: no Content-Length on 1xx and 204. */
START_TEST(head_without_length) {
  char h[600];
  http_req_build_head(&req, 204, NULL, NULL, 0);
  ck_assert_str_eq(head_without_date(h, sizeof(h)),
                   "HTTP/1.1 204 No Content\r\n"
                   "Connection: keep-alive\r\nKeep-Alive: timeout=72\r\n\r\n");
  http_req_build_head(&req, 100, NULL, NULL, 0);
  ck_assert_ptr_null(strstr(head_without_date(h, sizeof(h)), "Content-Length"));
  http_req_build_head(&req, 201, NULL, NULL, 12345678901ULL);
  ck_assert_ptr_nonnull(
      strstr(head_without_date(h, sizeof(h)), "\r\nContent-Length: 12345678901\r\n"));
}
END_TEST

/* The head is built in a fixed buffer: 256 bytes of caller headers fit with the
 * longest status line and every header (ASan checks the bound)... */
START_TEST(head_largest_fits) {
  char extra[256 - 30 + 1], ct[31];
  memset(ct, 'c', 30);
  ct[30] = '\0';
  memcpy(extra, "X-Pad: ", 7);
  memset(extra + 7, 'p', sizeof(extra) - 10);
  memcpy(extra + sizeof(extra) - 3, "\r\n", 3);
  req.close = 0;
  srv.opts.keep_alive_timeout = INT64_MAX;
  http_req_build_head(&req, 431, ct, extra, UINT64_MAX);
  ck_assert_uint_le(req.head_len, HTTP_HEAD_MAX);
  ck_assert(memcmp(req.head + req.head_len - 4, "\r\n\r\n", 4) == 0);
}
END_TEST

/* ...and one byte more aborts rather than overflow. */
START_TEST(head_too_large_aborts) {
  char extra[258];
  memset(extra, 'p', sizeof(extra) - 1);
  extra[sizeof(extra) - 1] = '\0';
  http_req_build_head(&req, 200, NULL, extra, 0);
}
END_TEST

static void set_query(const char *q) {
  req.query.p = q;
  req.query.n = strlen(q);
}

static const char *get(const char *key, size_t *len) {
  const char *v = NULL;
  return http_query_get(&req, key, &v, len) ? v : NULL;
}

START_TEST(query_lookup) {
  size_t n;
  set_query("a=1&bb=x%20y+z&c&d=&a=2&e=%zz%4&f=%41%4a%4A&=empty");
  ck_assert_str_eq(get("a", &n), "1"); /* the first of repeated keys */
  ck_assert_uint_eq(n, 1);
  ck_assert_str_eq(get("bb", &n), "x y z"); /* '+' is a space in a query */
  ck_assert_uint_eq(n, 5);
  ck_assert_ptr_null(get("b", &n)); /* a key is matched whole, not as a prefix */
  ck_assert_str_eq(get("c", &n), "");
  ck_assert_uint_eq(n, 0);
  ck_assert_str_eq(get("d", &n), "");
  ck_assert_str_eq(get("e", &n), "%zz%4"); /* bad escapes stay as they are */
  ck_assert_str_eq(get("f", &n), "AJJ");
  ck_assert_str_eq(get("", &n), "empty");
  ck_assert_ptr_null(get("zz", &n));
  ck_assert_str_eq(get("a", NULL), "1"); /* len may be NULL */
  set_query("");
  ck_assert_ptr_null(get("a", &n));
}
END_TEST

/* The query span is not NUL-terminated in the request buffer. */
START_TEST(query_not_terminated) {
  static const char buf[] = "k=abcdef";
  req.query.p = buf;
  req.query.n = 5; /* "k=abc" */
  size_t n;
  ck_assert_str_eq(get("k", &n), "abc");
  req.query.n = 1; /* "k": present, empty */
  ck_assert_str_eq(get("k", &n), "");
}
END_TEST

START_TEST(path_decode) {
  size_t n;
  const char *d = http_percent_decode(&req.arena, "/a+b/%2Fc%20d%", 14, &n);
  ck_assert_str_eq(d, "/a+b//c d%"); /* '+' stays '+' in a path */
  ck_assert_uint_eq(n, 10);
  d = http_percent_decode(&req.arena, "x%00y", 5, &n); /* a NUL is counted */
  ck_assert_uint_eq(n, 3);
  ck_assert(d[0] == 'x' && d[1] == '\0' && d[2] == 'y' && d[3] == '\0');
  d = http_percent_decode(&req.arena, "%e2%82%ac%", 10, &n);
  ck_assert_str_eq(d, "€%");
  d = http_percent_decode(&req.arena, "", 0, &n);
  ck_assert_str_eq(d, "");
  ck_assert_uint_eq(n, 0);
}
END_TEST

Suite *http_response_suite(void) {
  Suite *s = suite_create("http_response");
  TCase *tc = tcase_create("response");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, reasons);
  tcase_add_test(tc, error_bodies);
  tcase_add_test(tc, head_keep_alive);
  tcase_add_test(tc, head_close_extra_no_type);
  tcase_add_test(tc, head_without_length);
  tcase_add_test(tc, head_largest_fits);
  tcase_add_test_raise_signal(tc, head_too_large_aborts, SIGABRT);
  tcase_add_test(tc, query_lookup);
  tcase_add_test(tc, query_not_terminated);
  tcase_add_test(tc, path_decode);
  suite_add_tcase(s, tc);
  return s;
}
