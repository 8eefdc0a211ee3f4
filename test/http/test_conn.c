/* The HTTP glue on a real loop and real sockets, without a database: a
 * server thread runs an http_server_t with test handlers; the test speaks
 * raw HTTP with blocking sockets. Every run ends with uv_loop_close == 0. */
#include <arpa/inet.h>
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http/http.h"

typedef struct {
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_async_t stop;
  http_router_t *router;
  http_server_t server;
  pthread_t thread;
  int port;
  int handled; /* handler calls, for "no handler ran" */
} srv_t;

static srv_t S;

static void h_hello(http_req_t *req) {
  S.handled++;
  core_buf_puts(&req->out, "hello");
  http_respond(req, 200, "text/plain", NULL);
}

static void h_echo(http_req_t *req) {
  S.handled++;
  core_buf_append(&req->out, req->body.p, req->body.n);
  http_respond(req, 200, "application/octet-stream", NULL);
}

/* An 8 KiB answer (a list's or a dashboard's size). */
static void h_big(http_req_t *req) {
  S.handled++;
  core_buf_reserve(&req->out, 8192);
  memset(req->out.data, 'b', 8192);
  req->out.len = 8192;
  req->out.data[8192] = '\0';
  http_respond(req, 200, "text/plain", NULL);
}

/* What the request object brought from its last use: the response buffer's
 * capacity and the object's address (the same one on a keep-alive
 * connection that sends one request at a time). */
static void h_cap(http_req_t *req) {
  S.handled++;
  size_t cap = req->out.cap;
  core_buf_printf(&req->out, "cap=%zu req=%p", cap, (void *)req);
  http_respond(req, 200, "text/plain", NULL);
}

static void on_later(uv_timer_t *t) {
  http_req_t *req = t->data;
  core_buf_puts(&req->out, "slow");
  http_respond(req, 200, "text/plain", NULL);
  uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

/* Answers 100 ms later: pipelined answers behind it must wait for it. */
static void h_slow(http_req_t *req) {
  S.handled++;
  uv_timer_t *t = malloc(sizeof(*t));
  uv_timer_init(req->server->loop, t);
  t->data = req;
  uv_timer_start(t, on_later, 100, 0);
}

static void on_conn(uv_stream_t *l, int status) {
  if (status == 0)
    http_server_accept(&S.server, l);
}

static void close_walk(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

/* http.h: the drained callback comes from the loop, never from inside
 * http_server_drain (with no connection left it used to). */
static int in_drain_call;
static int drained_inside;

static void on_drained(http_server_t *s) {
  drained_inside += in_drain_call;
  uv_close((uv_handle_t *)&S.stop, NULL);
  http_server_close(s, NULL);
  uv_walk(s->loop, close_walk, NULL); /* what a test case left open */
}

static void on_stop(uv_async_t *a) {
  uv_close((uv_handle_t *)&S.listener, NULL);
  in_drain_call = 1;
  http_server_drain(&S.server, on_drained);
  in_drain_call = 0;
}

static void *run(void *arg) {
  uv_run(&S.loop, UV_RUN_DEFAULT);
  return NULL;
}

static void setup(void) {
  memset(&S, 0, sizeof(S));
  drained_inside = 0;
  uv_loop_init(&S.loop);
  S.router = http_router_new();
  http_router_add(S.router, HTTP_M_GET, "/hello", h_hello);
  http_router_add(S.router, HTTP_M_POST, "/echo", h_echo);
  http_router_add(S.router, HTTP_M_GET, "/slow", h_slow);
  http_router_add(S.router, HTTP_M_GET, "/big", h_big);
  http_router_add(S.router, HTTP_M_GET, "/cap", h_cap);
  http_server_opts_t o = {.body_limit = 1024,
                          .max_header_size = 2048,
                          .keep_alive_timeout = 5000,
                          .headers_timeout = 300,
                          .request_timeout = 600};
  http_server_init(&S.server, &S.loop, &o, S.router, NULL);
  uv_tcp_init(&S.loop, &S.listener);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  ck_assert_int_eq(uv_tcp_bind(&S.listener, (struct sockaddr *)&a, 0), 0);
  ck_assert_int_eq(uv_listen((uv_stream_t *)&S.listener, 64, on_conn), 0);
  int len = sizeof(a);
  uv_tcp_getsockname(&S.listener, (struct sockaddr *)&a, &len);
  S.port = ntohs(a.sin_port);
  uv_async_init(&S.loop, &S.stop, on_stop);
  pthread_create(&S.thread, NULL, run, NULL);
}

static void teardown(void) {
  uv_async_send(&S.stop);
  pthread_join(S.thread, NULL);
  ck_assert_int_eq(drained_inside, 0);
  ck_assert_int_eq(uv_loop_close(&S.loop), 0);
  http_router_free(S.router);
}

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  struct timeval tv = {3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

static void say(int fd, const char *s) {
  ck_assert_int_eq((int)write(fd, s, strlen(s)), (int)strlen(s));
}

/* Reads until the peer closes (or the 3 s timeout): everything it sent. */
static char *drain(int fd) {
  static char buf[65536];
  size_t n = 0;
  ssize_t r;
  while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
    n += (size_t)r;
  buf[n] = '\0';
  return buf;
}

static int count(const char *hay, const char *needle) {
  int k = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) k++;
  return k;
}

START_TEST(simple_and_head) {
  int fd = dial();
  say(fd,
      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nHEAD /hello HTTP/1.1\r\nHost: "
      "x\r\nConnection: close\r\n\r\n");
  char *out = drain(fd);
  ck_assert_int_eq(count(out, "HTTP/1.1 200 OK"), 2);
  ck_assert_int_eq(count(out, "hello"), 1); /* HEAD has no body */
  ck_assert_int_eq(count(out, "Content-Length: 5"), 2);
  ck_assert_ptr_nonnull(strstr(out, "Date: "));
  ck_assert_ptr_nonnull(strstr(out, "Connection: close"));
  close(fd);
}
END_TEST

/* The next response on fd (pipelined ones follow in the bytes kept
 * between calls), its body into body[bodylen]; it must carry
 * Content-Length. reset_reader() forgets the kept bytes. */
static char rbuf[65536];
static size_t rlen;

static void reset_reader(void) {
  rlen = 0;
  rbuf[0] = '\0';
}

static void read_one(int fd, char *body, size_t bodylen) {
  char *end;
  while ((end = strstr(rbuf, "\r\n\r\n")) == NULL) {
    ssize_t r = read(fd, rbuf + rlen, sizeof(rbuf) - 1 - rlen);
    ck_assert_int_gt((int)r, 0);
    rlen += (size_t)r;
    rbuf[rlen] = '\0';
  }
  const char *cl = strstr(rbuf, "Content-Length: ");
  ck_assert_ptr_nonnull(cl);
  ck_assert(cl < end);
  size_t blen = strtoul(cl + 16, NULL, 10), hl = (size_t)(end + 4 - rbuf);
  ck_assert_uint_lt(hl + blen, sizeof(rbuf));
  while (rlen < hl + blen) {
    ssize_t r = read(fd, rbuf + rlen, sizeof(rbuf) - 1 - rlen);
    ck_assert_int_gt((int)r, 0);
    rlen += (size_t)r;
  }
  ck_assert_uint_lt(blen, bodylen);
  memcpy(body, rbuf + hl, blen);
  body[blen] = '\0';
  memmove(rbuf, rbuf + hl + blen, rlen - hl - blen);
  rlen -= hl + blen;
  rbuf[rlen] = '\0';
}

/* A request object keeps a small response buffer across reuse (no malloc
 * per request) and frees one a big answer grew (kept, it would stay on
 * every connection that ever asked for a list: 4.6 MB of the 8-worker
 * cluster at 1000 connections). */
START_TEST(buffers_kept_small_freed_big) {
  reset_reader();
  int fd = dial();
  char b1[128], b2[128];
  say(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  read_one(fd, b1, sizeof(b1));
  ck_assert_str_eq(b1, "hello");
  say(fd, "GET /cap HTTP/1.1\r\nHost: x\r\n\r\n");
  read_one(fd, b1, sizeof(b1));
  say(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  static char big[8200];
  read_one(fd, big, sizeof(big));
  ck_assert_uint_eq(strspn(big, "b"), 8192);
  say(fd, "GET /cap HTTP/1.1\r\nHost: x\r\n\r\n");
  read_one(fd, b2, sizeof(b2));
  size_t cap1, cap2;
  char req1[32], req2[32];
  ck_assert_int_eq(sscanf(b1, "cap=%zu req=%31s", &cap1, req1), 2);
  ck_assert_int_eq(sscanf(b2, "cap=%zu req=%31s", &cap2, req2), 2);
  ck_assert_str_eq(req1, req2); /* the same object, from the free list */
  ck_assert_msg(cap1 > 0 && cap1 <= 2048, "after a small answer: cap %zu, want kept",
                cap1);
  ck_assert_msg(cap2 <= 2048, "after an 8 KiB answer: cap %zu, want freed", cap2);
  close(fd);
}
END_TEST

/* Answers bigger than the socket takes at once: the part uv_try_write does
 * not write goes through uv_write, byte for byte. Small buffers on both
 * sides and a client that reads late make the writes come up short. */
START_TEST(short_writes_continue_exactly) {
  reset_reader();
  /* The server's connection inherits the listener's send buffer: a small
   * one makes its writes come up short. */
  uv_os_fd_t lfd;
  ck_assert_int_eq(uv_fileno((uv_handle_t *)&S.listener, &lfd), 0);
  int snd = 16384;
  ck_assert_int_eq(setsockopt(lfd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)), 0);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int rcv = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  struct timeval tv = {3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  enum { N = 48 };
  static char req[N * 40];
  size_t rl = 0;
  for (int i = 0; i < N; i++)
    rl += (size_t)snprintf(req + rl, sizeof(req) - rl,
                           "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n",
                           i % 3 == 2 ? "hello" : "big");
  say(fd, req);
  usleep(200 * 1000); /* let the server fill both buffers */
  for (int i = 0; i < N; i++) {
    static char body[8200];
    read_one(fd, body, sizeof(body));
    if (i % 3 == 2)
      ck_assert_str_eq(body, "hello");
    else
      ck_assert_msg(strlen(body) == 8192 && strspn(body, "b") == 8192,
                    "answer %d: %zu bytes, %zu of them 'b'", i, strlen(body),
                    strspn(body, "b"));
  }
  close(fd);
}
END_TEST

START_TEST(pipelined_in_order) {
  int fd = dial();
  say(fd,
      "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
      "chunked\r\n\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\n"
      "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  char *out = drain(fd);
  char *a = strstr(out, "slow"), *b = strstr(out, "abc"), *c = strstr(out, "def"),
       *d = strstr(out, "hello");
  ck_assert_msg(a && b && c && d && a < b && b < c && c < d, "out of order: %s", out);
  close(fd);
}
END_TEST

typedef struct {
  const char *name;
  const char *req;
  int status;
} bad_t;

static const bad_t bad[] = {
    {"obs-fold", "GET /hello HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400},
    {"obs-fold tab", "GET /hello HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n", 400},
    {"leading space header", "GET /hello HTTP/1.1\r\n Host: x\r\n\r\n", 400},
    {"space before colon", "GET /hello HTTP/1.1\r\nHost : x\r\n\r\n", 400},
    {"bare CR",
     "GET /hello HTTP/1.1\r\nHost: x\r\nX:\rTransfer-Encoding: chunked\r\n\r\n", 400},
    {"TE + CL",
     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: "
     "chunked\r\n\r\n0\r\n\r\n",
     400},
    {"double CL",
     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: "
     "4\r\n\r\nabcd",
     400},
    {"TE gzip", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
    {"HTTP/1.2", "GET /hello HTTP/1.2\r\nHost: x\r\n\r\n", 505},
    {"HTTP/2.0", "GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", 505},
    {"no host", "GET /hello HTTP/1.1\r\n\r\n", 400},
    {"two hosts", "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"body too large", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
     413},
    {"bad chunk size",
     "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
    {"bad method", "G@T /hello HTTP/1.1\r\nHost: x\r\n\r\n", 400},
};

START_TEST(bad_requests) {
  const bad_t *b = &bad[_i];
  int fd = dial();
  say(fd, b->req);
  say(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"); /* must never be answered */
  char *out = drain(fd);
  char want[32];
  snprintf(want, sizeof(want), "HTTP/1.1 %d ", b->status);
  ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "%s: got %.60s", b->name, out);
  ck_assert_msg(strstr(out, "Connection: close") != NULL, "%s: no Connection: close",
                b->name);
  ck_assert_msg(count(out, "HTTP/1.1 ") == 1, "%s: more than one response", b->name);
  ck_assert_msg(strstr(out, "\"statusCode\":") != NULL, "%s: not Fastify-shaped",
                b->name);
  ck_assert_msg(S.handled == 0, "%s: a handler ran", b->name);
  close(fd);
}
END_TEST

START_TEST(limits) {
  char *big = malloc(9000);
  memset(big, 'a', 8999);
  big[8999] = '\0';
  int fd = dial();
  char *req = malloc(20000);
  snprintf(req, 20000, "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", big);
  say(fd, req);
  ck_assert(strncmp(drain(fd), "HTTP/1.1 414 ", 13) == 0);
  close(fd);
  fd = dial();
  snprintf(req, 20000, "GET /hello HTTP/1.1\r\nHost: x\r\nX: %.3000s\r\n\r\n", big);
  say(fd, req);
  ck_assert(strncmp(drain(fd), "HTTP/1.1 431 ", 13) == 0);
  close(fd);
  fd = dial();
  strcpy(req, "GET /hello HTTP/1.1\r\nHost: x\r\n");
  for (int i = 0; i < 101; i++) strcat(req, "A: b\r\n");
  strcat(req, "\r\n");
  say(fd, req);
  ck_assert(strncmp(drain(fd), "HTTP/1.1 431 ", 13) == 0);
  close(fd);
  ck_assert_int_eq(S.handled, 0);
  free(big);
  free(req);
}
END_TEST

START_TEST(timeouts) {
  int fd = dial();
  say(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n"); /* headers never finish */
  ck_assert(strncmp(drain(fd), "HTTP/1.1 408 ", 13) == 0);
  close(fd);
  fd = dial();
  say(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  ck_assert(strncmp(drain(fd), "HTTP/1.1 408 ", 13) == 0);
  close(fd);
}
END_TEST

/* The connection's deadline moves both ways without the timer being moved
 * at every phase: an idle keep-alive outlives the 300 ms headers timeout
 * its timer was started with (keep-alive is 5 s), and a request begun on
 * it still gets its own 300 ms headers timeout, not the keep-alive's. */
START_TEST(deadlines_move_both_ways) {
  reset_reader();
  int fd = dial();
  char b[64];
  say(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  read_one(fd, b, sizeof(b));
  ck_assert_str_eq(b, "hello");
  usleep(700 * 1000); /* past the headers timeout: still open */
  say(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  read_one(fd, b, sizeof(b));
  ck_assert_str_eq(b, "hello");
  usleep(700 * 1000);
  uint64_t t0 = uv_hrtime();
  say(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n"); /* headers never finish */
  char *out = drain(fd);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  ck_assert_msg(strncmp(out, "HTTP/1.1 408 ", 13) == 0, "got: %.40s", out);
  ck_assert_msg(ms < 2000,
                "408 after %.0f ms: the keep-alive's deadline, not the headers'", ms);
  close(fd);
}
END_TEST

/* The client leaves while its request is with the handler: the answer is
 * dropped, nothing leaks, the loop still closes clean (teardown). */
START_TEST(client_gone) {
  int fd = dial();
  say(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  usleep(20000);
  close(fd);
  usleep(200000);
  fd = dial();
  say(fd, "GET /hello HTTP/1.0\r\n\r\n");
  ck_assert(strncmp(drain(fd), "HTTP/1.1 200 ", 13) == 0);
  close(fd);
}
END_TEST

Suite *http_conn_suite(void) {
  Suite *s = suite_create("http_conn");
  TCase *tc = tcase_create("glue");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, simple_and_head);
  tcase_add_test(tc, pipelined_in_order);
  tcase_add_test(tc, buffers_kept_small_freed_big);
  tcase_add_test(tc, short_writes_continue_exactly);
  tcase_add_loop_test(tc, bad_requests, 0, (int)(sizeof(bad) / sizeof(bad[0])));
  tcase_add_test(tc, limits);
  tcase_add_test(tc, timeouts);
  tcase_add_test(tc, deadlines_move_both_ways);
  tcase_add_test(tc, client_gone);
  suite_add_tcase(s, tc);
  return s;
}
