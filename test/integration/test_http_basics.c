/* HTTP/1.1 basics over raw sockets (issue 2, part 2): keep-alive,
 * pipelining in order, HTTP/1.0, HEAD, chunked request bodies, Date, 404,
 * 405 with Allow, the idle keep-alive timeout, Expect: 100-continue, and
 * request targets in other forms. Run against --workers 0 and --workers 2. */
#define _GNU_SOURCE
#include <check.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <regex.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define KEEP_ALIVE_MS 300
#define HEADERS_TIMEOUT_MS 2000

static th_server_t srv_single, srv_cluster;
static th_server_t *srv;

static void single_up(void) {
  static const char *const args[] = {
      "--workers", "0", "--keep-alive-timeout", "300", "--headers-timeout", "2000", NULL};
  th_server_start(&srv_single, args);
  srv = &srv_single;
}
static void single_down(void) {
  th_server_stop(&srv_single, 5000);
}
static void cluster_up(void) {
  static const char *const args[] = {
      "--workers",         "2",    "--pool", "4", "--keep-alive-timeout", "300",
      "--headers-timeout", "2000", NULL};
  th_server_start(&srv_cluster, args);
  srv = &srv_cluster;
}
static void cluster_down(void) {
  th_server_stop(&srv_cluster, 5000);
}

static int read_ok(th_conn_t *c, th_response_t *r, int head, const char *what) {
  int rc = th_read_response_ex(c, r, th_scale(5000), head);
  TH_ASSERT(rc == TH_OK, "%s: no response (%s)", what,
            rc == TH_ETIMEDOUT ? "timeout"
            : rc == TH_ECLOSED ? "closed"
                               : "unparsable");
  return rc;
}

static long long body_id(const th_response_t *r) {
  cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
  cJSON *id = j ? cJSON_GetObjectItem(j, "id") : NULL;
  long long v = cJSON_IsNumber(id) ? (long long)id->valuedouble : -1;
  cJSON_Delete(j);
  return v;
}

START_TEST(keep_alive_sequence) {
  th_conn_t *c = th_conn_open(srv->port);
  static const char *const paths[] = {"/livez", "/readyz", "/items/1", "/items/2",
                                      "/livez?x=1"};
  for (int i = 0; i < 5; i++) {
    th_response_t r;
    int rc = th_conn_request(c, "GET", paths[i], NULL, NULL, &r, th_scale(5000));
    TH_ASSERT(rc == TH_OK, "request %d (%s) on the kept-alive connection: rc %d", i,
              paths[i], rc);
    TH_ASSERT(r.status == 200, "GET %s: %d", paths[i], r.status);
    TH_ASSERT(!th_conn_close_hdr(&r) && r.keep_alive, "GET %s: the server closes",
              paths[i]);
    th_response_free(&r);
  }
  th_response_t r;
  int rc = th_conn_request(c, "POST", "/items", NULL,
                           "{\"name\":\"it-ka\",\"price_cents\":1}", &r, th_scale(5000));
  TH_ASSERT(rc == TH_OK && r.status == 201,
            "POST on the kept-alive connection: rc %d status %d", rc, r.status);
  th_response_free(&r);
  /* A 404 keeps the connection too. */
  rc = th_conn_request(c, "GET", "/nope", NULL, NULL, &r, th_scale(5000));
  TH_ASSERT(rc == TH_OK && r.status == 404, "GET /nope: rc %d status %d", rc, r.status);
  TH_ASSERT(!th_conn_close_hdr(&r), "a 404 closed the connection");
  th_response_free(&r);
  rc = th_conn_request(c, "GET", "/livez", NULL, NULL, &r, th_scale(5000));
  TH_ASSERT(rc == TH_OK && r.status == 200, "GET /livez after a 404: rc %d", rc);
  th_response_free(&r);
  th_conn_close(c);
}
END_TEST

/* Ten requests in one write, mixing slow (database) and fast routes: ten
 * responses, in order, each matching its request. */
START_TEST(pipelining_in_order) {
  static const char *const reqs[] = {
      "GET /items/5 HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /livez HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /items/1 HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: "
      "application/json\r\nContent-Length: 34\r\n\r\n"
      "{\"name\":\"it-pipe\",\"price_cents\":2}",
      "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /items/3 HTTP/1.1\r\nHost: a\r\n\r\n",
      "HEAD /items/4 HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /items/9223372036854775807 HTTP/1.1\r\nHost: a\r\n\r\n",
      "DELETE /livez HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /items/2 HTTP/1.1\r\nHost: a\r\n\r\n",
  };
  static const int status[] = {200, 200, 200, 201, 404, 200, 200, 404, 405, 200};
  static const long long ids[] = {5, -1, 1, -2, -1, 3, -1, -1, -1, 2};
  char all[4096] = "";
  for (int i = 0; i < 10; i++) strcat(all, reqs[i]);
  th_conn_t *c = th_conn_open(srv->port);
  th_sends(c, all);
  for (int i = 0; i < 10; i++) {
    th_response_t r;
    char what[32];
    snprintf(what, sizeof(what), "pipelined #%d", i);
    read_ok(c, &r, i == 6, what);
    TH_ASSERT(r.status == status[i], "%s: %d, want %d (out of order?) %.200s", what,
              r.status, status[i], r.body);
    if (ids[i] > 0)
      TH_ASSERT(body_id(&r) == ids[i], "%s: item %lld, want %lld", what, body_id(&r),
                ids[i]);
    if (ids[i] == -2)
      TH_ASSERT(body_id(&r) > 5000, "%s: created item id", what);
    if (i == 6)
      TH_ASSERT(r.body_len == 0, "HEAD in a pipeline carried a body");
    th_response_free(&r);
  }
  TH_ASSERT(c->len == 0, "bytes after the tenth response: %.100s", c->buf);
  th_conn_close(c);
}
END_TEST

/* Many pipelined requests written before reading any answer: the server
 * applies back-pressure but answers all, in order. */
START_TEST(pipelining_many_unread) {
  enum { N = 1000 };
  size_t cap = (size_t)N * 64, len = 0;
  char *all = malloc(cap);
  for (int i = 0; i < N; i++)
    len += (size_t)snprintf(all + len, cap - len,
                            "GET /items/%d HTTP/1.1\r\nHost: a\r\n\r\n", 1 + i % 50);
  th_conn_t *c = th_conn_open(srv->port);
  TH_ASSERT(th_send(c, all, len) == 0, "could not write %zu pipelined bytes", len);
  free(all);
  for (int i = 0; i < N; i++) {
    th_response_t r;
    char what[32];
    snprintf(what, sizeof(what), "pipelined #%d of %d", i, N);
    read_ok(c, &r, 0, what);
    TH_ASSERT(r.status == 200 && body_id(&r) == 1 + i % 50, "%s: status %d item %lld",
              what, r.status, body_id(&r));
    th_response_free(&r);
  }
  th_conn_close(c);
}
END_TEST

/* Back-pressure: a client that writes a long pipeline and reads nothing
 * for a while. The server must stop reading (its writes cannot drain)
 * and resume when the client reads, answering every request in order. A
 * thread writes, so neither side's blocking can deadlock the test. */
enum { BP_N = 20000 };
typedef struct bp_s {
  th_conn_t *c;
  int rc;
} bp_t;

static void *bp_writer(void *arg) {
  bp_t *bp = arg;
  static const char a[] = "GET /livez HTTP/1.1\r\nHost: a\r\n\r\n";
  static const char b[] = "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n";
  char chunk[64 * 100];
  size_t n = 0;
  for (int i = 0; i < BP_N && bp->rc == 0; i++) {
    const char *s = i % 2 ? b : a;
    size_t k = i % 2 ? sizeof(b) - 1 : sizeof(a) - 1;
    memcpy(chunk + n, s, k);
    n += k;
    if (n > sizeof(chunk) - 64 || i == BP_N - 1) {
      bp->rc = th_send(bp->c, chunk, n);
      n = 0;
    }
  }
  return NULL;
}

START_TEST(pipelining_backpressure) {
  bp_t bp = {NULL, 0};
  TH_ASSERT(th_conn_try_open_rcvbuf(srv->port, 8192, &bp.c) == 0, "connect");
  pthread_t t;
  pthread_create(&t, NULL, bp_writer, &bp);
  th_sleep_ms(500); /* the server's writes back up meanwhile */
  for (int i = 0; i < BP_N; i++) {
    th_response_t r;
    int rc = th_read_response(bp.c, &r, th_scale(5000));
    TH_ASSERT(rc == TH_OK, "back-pressure: response %d of %d missing (rc %d, writer %d)",
              i, BP_N, rc, bp.rc);
    TH_ASSERT(r.status == (i % 2 ? 404 : 200),
              "back-pressure: response %d is %d (out of order)", i, r.status);
    th_response_free(&r);
  }
  pthread_join(t, NULL);
  TH_ASSERT(bp.rc == 0, "back-pressure: the writer failed (%d)", bp.rc);
  th_conn_close(bp.c);
}
END_TEST

/* Good requests then garbage in one write: the good ones are answered, then
 * one 400 with Connection: close, then the close. */
START_TEST(pipelining_then_garbage) {
  th_conn_t *c = th_conn_open(srv->port);
  th_sends(
      c,
      "GET /livez HTTP/1.1\r\nHost: a\r\n\r\nGET /items/1 HTTP/1.1\r\nHost: a\r\n\r\n"
      "GARBAGE\r\n\r\nGET /livez HTTP/1.1\r\nHost: a\r\n\r\n");
  th_response_t r;
  read_ok(c, &r, 0, "first");
  TH_ASSERT(r.status == 200, "first: %d", r.status);
  th_response_free(&r);
  read_ok(c, &r, 0, "second");
  TH_ASSERT(r.status == 200 && body_id(&r) == 1, "second: %d", r.status);
  th_response_free(&r);
  read_ok(c, &r, 0, "garbage");
  TH_ASSERT(r.status == 400 && th_conn_close_hdr(&r), "garbage: %d, close %d", r.status,
            th_conn_close_hdr(&r));
  th_assert_error_shape(&r, 400, NULL, "garbage");
  th_response_free(&r);
  TH_ASSERT(th_read_until_close(c, th_scale(2000)) && c->len == 0,
            "after the 400: %zu bytes, closed %d", c->len, c->eof);
  th_conn_close(c);
}
END_TEST

START_TEST(http10) {
  th_conn_t *c = th_conn_open(srv->port);
  th_sends(c, "GET /livez HTTP/1.0\r\n\r\n");
  th_response_t r;
  read_ok(c, &r, 0, "HTTP/1.0");
  TH_ASSERT(r.status == 200, "HTTP/1.0: %d", r.status);
  TH_ASSERT(r.http_major == 1, "HTTP/1.0: response version %d.%d", r.http_major,
            r.http_minor);
  th_response_free(&r);
  TH_ASSERT(th_read_until_close(c, th_scale(2000)),
            "HTTP/1.0 without keep-alive: not closed");
  TH_ASSERT(c->len == 0, "HTTP/1.0: extra bytes");
  th_conn_close(c);

  c = th_conn_open(srv->port);
  th_sends(c, "GET /items/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  read_ok(c, &r, 0, "HTTP/1.0 keep-alive");
  TH_ASSERT(r.status == 200 && body_id(&r) == 1, "HTTP/1.0 keep-alive: %d", r.status);
  const char *conn = th_header(&r, "connection");
  TH_ASSERT(conn != NULL && strcasecmp(conn, "keep-alive") == 0,
            "HTTP/1.0 keep-alive: Connection %s, want keep-alive",
            conn ? conn : "(none)");
  TH_ASSERT(th_header(&r, "content-length") != NULL,
            "HTTP/1.0 keep-alive: no Content-Length");
  th_response_free(&r);
  th_sends(c, "GET /livez HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  read_ok(c, &r, 0, "HTTP/1.0 second request");
  TH_ASSERT(r.status == 200, "HTTP/1.0 second: %d", r.status);
  th_response_free(&r);
  th_conn_close(c);
}
END_TEST

START_TEST(connection_close_request) {
  th_conn_t *c = th_conn_open(srv->port);
  th_sends(c,
           "GET /livez HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
           "GET /livez HTTP/1.1\r\nHost: a\r\n\r\n");
  th_response_t r;
  read_ok(c, &r, 0, "Connection: close");
  TH_ASSERT(r.status == 200 && th_conn_close_hdr(&r),
            "Connection: close: %d, close header %d", r.status, th_conn_close_hdr(&r));
  th_response_free(&r);
  TH_ASSERT(th_read_until_close(c, th_scale(2000)) && c->len == 0,
            "after Connection: close the server answered more or kept the connection");
  th_conn_close(c);
}
END_TEST

static void head_vs_get(const char *path) {
  th_response_t g, h;
  th_request(srv->port, "GET", path, NULL, NULL, &g);
  th_conn_t *c = th_conn_open(srv->port);
  char req[256];
  snprintf(req, sizeof(req),
           "HEAD %s HTTP/1.1\r\nHost: a\r\n\r\nGET /livez HTTP/1.1\r\nHost: a\r\n\r\n",
           path);
  th_sends(c, req);
  read_ok(c, &h, 1, "HEAD");
  TH_ASSERT(h.status == g.status, "HEAD %s: %d, GET %d", path, h.status, g.status);
  const char *cl = th_header(&h, "content-length");
  char want[32];
  snprintf(want, sizeof(want), "%zu", g.body_len);
  /* For a 404 the message names the method (Fastify: "Route HEAD:/x not
   * found"), so only successful routes must match GET's length. */
  if (g.status == 200)
    TH_ASSERT(cl != NULL && strcmp(cl, want) == 0,
              "HEAD %s: Content-Length %s, GET's body is %s", path, cl ? cl : "(none)",
              want);
  /* No body: the next bytes are the next response. */
  th_response_t n;
  read_ok(c, &n, 0, "after HEAD");
  TH_ASSERT(n.status == 200 && strstr(n.body, "ok") != NULL,
            "HEAD %s sent a body (the next response did not parse: %d)", path, n.status);
  th_response_free(&n);
  th_response_free(&h);
  th_response_free(&g);
  th_conn_close(c);
}

START_TEST(head_for_get_routes) {
  head_vs_get("/livez");
  head_vs_get("/items/1");
  head_vs_get("/items?limit=3");
  head_vs_get("/nope");
}
END_TEST

START_TEST(chunked_request_body) {
  th_conn_t *c = th_conn_open(srv->port);
  th_sends(c,
           "POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
           "Transfer-Encoding: chunked\r\n\r\n");
  th_sends(c, "a\r\n{\"name\":\"i\r\n");
  th_sleep_ms(50);
  th_sends(c, "10;ext=1\r\nt-chunked\",\"pric\r\n");
  th_sleep_ms(50);
  th_sends(c, "c\r\ne_cents\":42}\r\n0\r\nX-Trailer: t\r\n\r\n");
  th_response_t r;
  read_ok(c, &r, 0, "chunked POST");
  TH_ASSERT(r.status == 201, "chunked POST: %d %.200s", r.status, r.body);
  long long id = body_id(&r);
  th_response_free(&r);
  char sql[128];
  snprintf(sql, sizeof(sql),
           "SELECT price_cents FROM items WHERE id = %lld AND name = 'it-chunked'", id);
  TH_ASSERT(th_sql_int(th_pg_conninfo(), sql) == 42, "chunked POST: row %lld not stored",
            id);
  /* The connection is still in sync. */
  int rc = th_conn_request(c, "GET", "/livez", NULL, NULL, &r, th_scale(5000));
  TH_ASSERT(rc == TH_OK && r.status == 200, "after the chunked POST: rc %d", rc);
  th_response_free(&r);
  th_conn_close(c);
}
END_TEST

/* Every byte in its own read: a pipelined GET with headers and a chunked
 * POST with an extension and a trailer, one byte per millisecond. */
START_TEST(requests_byte_by_byte) {
  static const char req[] =
      "GET /items/7 HTTP/1.1\r\nHost: a\r\nX-Long-Header-Name: some value\r\n\r\n"
      "POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n"
      "12;e=v\r\n{\"name\":\"it-bytes\"\r\n"
      "11\r\n,\"price_cents\":9}\r\n0\r\nX-T: 1\r\n\r\n";
  th_conn_t *c = th_conn_open(srv->port);
  for (size_t i = 0; i < sizeof(req) - 1; i++) {
    TH_ASSERT(th_send(c, req + i, 1) == 0, "byte %zu: the server closed", i);
    th_sleep_ms(1);
  }
  th_response_t r;
  read_ok(c, &r, 0, "byte-by-byte GET");
  TH_ASSERT(r.status == 200 && body_id(&r) == 7, "byte-by-byte GET: %d %.200s", r.status,
            r.body);
  th_response_free(&r);
  read_ok(c, &r, 0, "byte-by-byte POST");
  TH_ASSERT(r.status == 201, "byte-by-byte chunked POST: %d %.200s", r.status, r.body);
  th_response_free(&r);
  TH_ASSERT(
      th_sql_int(
          th_pg_conninfo(),
          "SELECT count(*) FROM items WHERE name = 'it-bytes' AND price_cents = 9") >= 1,
      "byte-by-byte POST: not stored");
  th_conn_close(c);
}
END_TEST

/* Clients that vanish while their requests wait for the database (reset or
 * plain close, with pipelined requests queued): the answers are dropped,
 * the server keeps serving, and the sanitizer build finds no use after
 * free (checked at the server's exit). */
START_TEST(client_vanishes_mid_request) {
  static const char reqs[] =
      "GET /items/1 HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /items?limit=50 HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
      "Content-Length: 34\r\n\r\n{\"name\":\"it-vanish\",\"price_cents\":1}"
      "DELETE /items/9223372036854775807 HTTP/1.1\r\nHost: a\r\n\r\n";
  for (int i = 0; i < 150; i++) {
    th_conn_t *c = th_conn_open(srv->port);
    size_t n = sizeof(reqs) - 1;
    if (i % 3 == 2)
      n = n / 2; /* and some leave mid-request */
    th_send(c, reqs, n);
    if (i % 5 == 1)
      th_sleep_ms(1);
    if (i % 2 == 0) {
      struct linger lg = {1, 0}; /* reset, not FIN */
      setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    } else if (i % 7 == 3) {
      th_response_t r;
      if (th_read_response(c, &r, th_scale(2000)) == TH_OK)
        th_response_free(&r);
    }
    th_conn_close(c);
  }
  th_sleep_ms(300);
  th_response_t r;
  th_request(srv->port, "GET", "/items/1", NULL, NULL, &r);
  TH_ASSERT(r.status == 200, "after 150 vanished clients: %d", r.status);
  th_response_free(&r);
  TH_ASSERT(th_server_alive(srv), "the server died");
}
END_TEST

/* A client that sends its request and then shuts down its write side still
 * gets the whole response (like `nc -N`). */
START_TEST(half_close_still_answered) {
  th_conn_t *c = th_conn_open(srv->port);
  th_sends(
      c,
      "GET /items/3 HTTP/1.1\r\nHost: a\r\n\r\nGET /livez HTTP/1.1\r\nHost: a\r\n\r\n");
  shutdown(c->fd, SHUT_WR);
  th_response_t r;
  read_ok(c, &r, 0, "half-closed #1");
  TH_ASSERT(r.status == 200 && body_id(&r) == 3, "half-closed #1: %d", r.status);
  th_response_free(&r);
  read_ok(c, &r, 0, "half-closed #2");
  TH_ASSERT(r.status == 200, "half-closed #2: %d", r.status);
  th_response_free(&r);
  TH_ASSERT(th_read_until_close(c, th_scale(2000)),
            "half-closed: the server kept the connection");
  th_conn_close(c);
}
END_TEST

/* A body sent on a GET is read and ignored; the next request parses. */
START_TEST(body_on_get_ignored) {
  th_conn_t *c = th_conn_open(srv->port);
#define GET_BODY "GET /nope HTTP/1.1\r\nHost: a\r\n"
  char req[256];
  snprintf(req, sizeof(req),
           "GET /livez HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n%s"
           "GET /items/2 HTTP/1.1\r\nHost: a\r\n\r\n",
           strlen(GET_BODY), GET_BODY);
  th_sends(c, req);
  th_response_t r;
  read_ok(c, &r, 0, "GET with body");
  TH_ASSERT(r.status == 200, "GET with a body: %d", r.status);
  th_response_free(&r);
  read_ok(c, &r, 0, "after GET with body");
  TH_ASSERT(r.status == 200 && body_id(&r) == 2, "the body was parsed as a request: %d",
            r.status);
  th_response_free(&r);
  th_conn_close(c);
}
END_TEST

START_TEST(date_header) {
  th_response_t r;
  th_request(srv->port, "GET", "/livez", NULL, NULL, &r);
  const char *d = th_header(&r, "date");
  TH_ASSERT(d != NULL, "no Date header");
  regex_t re;
  regcomp(&re,
          "^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] "
          "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|"
          "Nov|Dec) [0-9]{4} [0-2][0-9]:[0-5][0-9]:[0-6][0-9] GMT$",
          REG_EXTENDED | REG_NOSUB);
  int ok = regexec(&re, d, 0, NULL, 0) == 0;
  regfree(&re);
  TH_ASSERT(ok, "Date is not an IMF-fixdate: %s", d);
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  strptime(d, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  time_t t = timegm(&tm), now = time(NULL);
  TH_ASSERT(t >= now - 3 && t <= now + 1, "Date %s is %ld s from now", d,
            (long)(t - now));
  const char *cl = th_header(&r, "content-length");
  TH_ASSERT(cl != NULL, "no Content-Length on a plain response");
  th_response_free(&r);
}
END_TEST

START_TEST(not_found_404) {
  th_response_t r;
  th_request(srv->port, "GET", "/nope/deeper?x=1", NULL, NULL, &r);
  TH_ASSERT(r.status == 404, "unknown route: %d", r.status);
  th_assert_error_shape(&r, 404, NULL, "unknown route");
  th_response_free(&r);
  th_request(srv->port, "POST", "/nope", NULL, "{}", &r);
  TH_ASSERT(r.status == 404, "POST unknown route: %d", r.status);
  th_assert_error_shape(&r, 404, NULL, "POST unknown route");
  th_response_free(&r);
}
END_TEST

static int allow_has(const char *allow, const char *m) {
  if (allow == NULL)
    return 0;
  size_t n = strlen(m);
  for (const char *p = allow; (p = strstr(p, m)) != NULL; p += n)
    if ((p == allow || p[-1] == ' ' || p[-1] == ',') &&
        (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
      return 1;
  return 0;
}

static void expect_405(const char *m, const char *path, const char *const want[],
                       const char *const not []) {
  char what[128];
  snprintf(what, sizeof(what), "%s %s", m, path);
  th_response_t r;
  th_request(srv->port, m, path, NULL,
             strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0 || strcmp(m, "PATCH") == 0
                 ? "{}"
                 : NULL,
             &r);
  TH_ASSERT(r.status == 405, "%s: %d, want 405", what, r.status);
  th_assert_error_shape(&r, 405, NULL, what);
  const char *allow = th_header(&r, "allow");
  for (int i = 0; want[i] != NULL; i++)
    TH_ASSERT(allow_has(allow, want[i]), "%s: Allow \"%s\" lacks %s", what,
              allow ? allow : "", want[i]);
  for (int i = 0; not [i] != NULL; i++)
    TH_ASSERT(!allow_has(allow, not [i]), "%s: Allow \"%s\" has %s", what, allow,
              not [i]);
  th_response_free(&r);
}

START_TEST(method_not_allowed_405) {
  static const char *const get[] = {"GET", "HEAD", NULL};
  static const char *const items[] = {"GET", "HEAD", "POST", NULL};
  static const char *const item[] = {"GET", "HEAD", "PUT", "PATCH", "DELETE", NULL};
  static const char *const no_items[] = {"PUT", "DELETE", "PATCH", NULL};
  static const char *const no_item[] = {"POST", NULL};
  static const char *const no_get[] = {"POST", "DELETE", NULL};
  expect_405("DELETE", "/livez", get, no_get);
  expect_405("POST", "/livez", get, no_get);
  expect_405("PUT", "/items", items, no_items);
  expect_405("DELETE", "/items", items, no_items);
  expect_405("POST", "/items/1", item, no_item);
  expect_405("OPTIONS", "/items/1", item, no_item);
}
END_TEST

/* An idle keep-alive connection is closed after --keep-alive-timeout
 * (300 ms), silently; a busy one is not. */
START_TEST(keep_alive_timeout) {
  th_conn_t *c = th_conn_open(srv->port);
  th_response_t r;
  int rc = th_conn_request(c, "GET", "/livez", NULL, NULL, &r, th_scale(5000));
  TH_ASSERT(rc == TH_OK, "first request");
  th_response_free(&r);
  int64_t t0 = th_now_ms();
  int closed = th_read_until_close(c, th_scale(3000));
  int64_t dt = th_now_ms() - t0;
  TH_ASSERT(closed, "idle keep-alive connection still open after %lld ms", (long long)dt);
  TH_ASSERT(dt >= KEEP_ALIVE_MS - 60, "closed after only %lld ms", (long long)dt);
  TH_ASSERT(dt <= KEEP_ALIVE_MS + th_scale(700), "closed after %lld ms, want ~%d",
            (long long)dt, KEEP_ALIVE_MS);
  TH_ASSERT(c->len == 0, "the idle close sent bytes: %.100s", c->buf);
  th_conn_close(c);

  /* Busy: headers, then the body 600 ms later. */
  c = th_conn_open(srv->port);
  th_sends(c,
           "POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
           "Content-Length: 34\r\n\r\n");
  th_sleep_ms(600);
  rc = th_sends(c, "{\"name\":\"it-busy\",\"price_cents\":1}");
  TH_ASSERT(rc == 0, "the connection was closed while a request body was awaited");
  read_ok(c, &r, 0, "busy");
  TH_ASSERT(r.status == 201, "slow but legal body: %d %.200s", r.status, r.body);
  th_response_free(&r);
  /* And kept-alive requests spaced under the timeout all work. */
  for (int i = 0; i < 3; i++) {
    th_sleep_ms(KEEP_ALIVE_MS / 2);
    rc = th_conn_request(c, "GET", "/livez", NULL, NULL, &r, th_scale(5000));
    TH_ASSERT(rc == TH_OK, "request %d spaced by %d ms: rc %d", i, KEEP_ALIVE_MS / 2, rc);
    th_response_free(&r);
  }
  th_conn_close(c);
}
END_TEST

/* A connection that never sends a byte is not held forever: closed by the
 * headers timeout (2 s here), with a 408 or silently. */
START_TEST(silent_connection_closed) {
  th_conn_t *c = th_conn_open(srv->port);
  int64_t t0 = th_now_ms();
  int closed = th_read_until_close(c, HEADERS_TIMEOUT_MS + th_scale(2000));
  int64_t dt = th_now_ms() - t0;
  TH_ASSERT(closed, "a silent connection is still open after %lld ms", (long long)dt);
  if (c->len > 0) {
    th_response_t r;
    int rc = th_read_response(c, &r, 10);
    TH_ASSERT(rc == TH_OK && r.status == 408, "a silent connection got %.100s", c->buf);
    th_response_free(&r);
  }
  th_conn_close(c);
}
END_TEST

START_TEST(expect_100_continue) {
  th_conn_t *c = th_conn_open(srv->port);
  const char *body = "{\"name\":\"it-expect\",\"price_cents\":1}";
  char head[256];
  snprintf(head, sizeof(head),
           "POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
           "Content-Length: %zu\r\nExpect: 100-continue\r\n\r\n",
           strlen(body));
  th_sends(c, head);
  th_response_t r;
  int rc = th_read_response(c, &r, 1000);
  if (rc == TH_OK) {
    TH_ASSERT(r.status == 100, "Expect: 100-continue answered %d before the body",
              r.status);
    th_response_free(&r);
  }
  TH_ASSERT(rc == TH_OK || rc == TH_ETIMEDOUT, "Expect: the connection broke (rc %d)",
            rc);
  th_sends(c, body);
  read_ok(c, &r, 0, "Expect: final");
  TH_ASSERT(r.status == 201, "Expect: final status %d", r.status);
  th_response_free(&r);
  th_conn_close(c);
}
END_TEST

/* Targets in absolute form must be accepted (RFC 9112 3.2.2); asterisk form
 * is for OPTIONS only. Whatever the answer, it is well formed, and an
 * error that closes says so. */
static void odd_target(const char *req, const int ok[], const char *what) {
  th_conn_t *c = th_conn_open(srv->port);
  th_sends(c, req);
  th_response_t r;
  read_ok(c, &r, 0, what);
  int good = 0;
  for (int i = 0; ok[i] != 0; i++) good |= r.status == ok[i];
  TH_ASSERT(good, "%s: status %d", what, r.status);
  if (r.status >= 400)
    th_assert_error_shape(&r, r.status, NULL, what);
  if (r.status == 400)
    TH_ASSERT(th_conn_close_hdr(&r), "%s: 400 without Connection: close", what);
  th_response_free(&r);
  th_conn_close(c);
  th_request(srv->port, "GET", "/livez", NULL, NULL, &r);
  TH_ASSERT(r.status == 200, "%s: server not serving afterwards", what);
  th_response_free(&r);
}

START_TEST(request_target_forms) {
  static const int abs_ok[] = {200, 0};
  static const int star_get[] = {400, 404, 0};
  static const int star_options[] = {200, 204, 400, 404, 405, 0};
  odd_target("GET http://a/livez HTTP/1.1\r\nHost: a\r\n\r\n", abs_ok, "absolute-form");
  odd_target("GET * HTTP/1.1\r\nHost: a\r\n\r\n", star_get, "GET *");
  odd_target("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", star_options, "OPTIONS *");
  th_response_t r;
  th_request(srv->port, "GET", "/items/%31", NULL, NULL, &r);
  TH_ASSERT(r.status == 200 && body_id(&r) == 1, "/items/%%31: %d", r.status);
  th_response_free(&r);
}
END_TEST

/* Many connections at once, each with one request. */
START_TEST(many_connections) {
  enum { N = 200 };
  th_conn_t *cs[N];
  for (int i = 0; i < N; i++) cs[i] = th_conn_open(srv->port);
  for (int i = 0; i < N; i++) {
    char req[128];
    snprintf(req, sizeof(req), "GET /items/%d HTTP/1.1\r\nHost: a\r\n\r\n", 1 + i);
    th_sends(cs[i], req);
  }
  for (int i = 0; i < N; i++) {
    th_response_t r;
    read_ok(cs[i], &r, 0, "many connections");
    TH_ASSERT(r.status == 200 && body_id(&r) == 1 + i, "connection %d: %d", i, r.status);
    th_response_free(&r);
    th_conn_close(cs[i]);
  }
}
END_TEST

static void add_tests(TCase *tc) {
  tcase_add_test(tc, keep_alive_sequence);
  tcase_add_test(tc, pipelining_in_order);
  tcase_add_test(tc, pipelining_many_unread);
  tcase_add_test(tc, pipelining_backpressure);
  tcase_add_test(tc, pipelining_then_garbage);
  tcase_add_test(tc, http10);
  tcase_add_test(tc, connection_close_request);
  tcase_add_test(tc, head_for_get_routes);
  tcase_add_test(tc, chunked_request_body);
  tcase_add_test(tc, body_on_get_ignored);
  tcase_add_test(tc, client_vanishes_mid_request);
  tcase_add_test(tc, half_close_still_answered);
  tcase_add_test(tc, requests_byte_by_byte);
  tcase_add_test(tc, date_header);
  tcase_add_test(tc, not_found_404);
  tcase_add_test(tc, method_not_allowed_405);
  tcase_add_test(tc, keep_alive_timeout);
  tcase_add_test(tc, silent_connection_closed);
  tcase_add_test(tc, expect_100_continue);
  tcase_add_test(tc, request_target_forms);
  tcase_add_test(tc, many_connections);
}

static Suite *basics_suite(void) {
  Suite *s = suite_create("http_basics");
  TCase *one = tcase_create("workers0");
  tcase_add_unchecked_fixture(one, single_up, single_down);
  tcase_set_timeout(one, 30);
  add_tests(one);
  suite_add_tcase(s, one);
  TCase *two = tcase_create("workers2");
  tcase_add_unchecked_fixture(two, cluster_up, cluster_down);
  tcase_set_timeout(two, 30);
  add_tests(two);
  suite_add_tcase(s, two);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(basics_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  if (!th_server_was_clean(&srv_single, "--workers 0 server"))
    failed++;
  if (!th_server_was_clean(&srv_cluster, "--workers 2 server"))
    failed++;
  th_sql(th_pg_conninfo(), "DELETE FROM items WHERE name LIKE 'it-%'", NULL, 0);
  return failed == 0 ? 0 : 1;
}
