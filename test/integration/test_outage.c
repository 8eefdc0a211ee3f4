/* Database outages (issue 2, part 3): while PostgreSQL is unreachable every
 * database-backed route answers 503 in Fastify's shape with Retry-After: 1
 * within 1 s, never hangs, /readyz is 503 and /livez 200; the loop is never
 * blocked by a connection attempt; when the database comes back, the server
 * recovers on its own (reconnection with back-off); a database that goes
 * away under a running server gives 503s, not 500s or hangs. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define MAXW 16

typedef struct timed_s {
  int status;
  int64_t ms;
  char retry_after[32];
  char body[400];
  int close;
} timed_t;

static timed_t timed(int port, const char *method, const char *path, const char *body) {
  timed_t t;
  memset(&t, 0, sizeof(t));
  th_conn_t *c = th_conn_open(port);
  int64_t t0 = th_now_ms();
  th_response_t r;
  int rc = th_conn_request(c, method, path, NULL, body, &r, th_scale(5000));
  t.ms = th_now_ms() - t0;
  th_conn_close(c);
  TH_ASSERT(rc == TH_OK, "%s %s: no response within %lld ms (rc %d): the server hangs",
            method, path, (long long)t.ms, rc);
  t.status = r.status;
  const char *ra = th_header(&r, "retry-after");
  snprintf(t.retry_after, sizeof(t.retry_after), "%s", ra ? ra : "");
  snprintf(t.body, sizeof(t.body), "%s", r.body);
  if (r.status >= 400)
    th_assert_error_shape(&r, r.status, NULL, path);
  t.close = th_conn_close_hdr(&r);
  th_response_free(&r);
  return t;
}

static void assert_503(int port, const char *method, const char *path, const char *body) {
  timed_t t = timed(port, method, path, body);
  TH_ASSERT(t.status == 503, "%s %s with the database down: %d, want 503: %s", method,
            path, t.status, t.body);
  TH_ASSERT(t.ms < 1500, "%s %s: 503 took %lld ms, want within 1 s", method, path,
            (long long)t.ms);
  TH_ASSERT(strcmp(t.retry_after, "1") == 0, "%s %s: Retry-After \"%s\", want 1", method,
            path, t.retry_after);
}

static void assert_down_behaviour(int port, const char *what) {
  timed_t t = timed(port, "GET", "/livez", NULL);
  TH_ASSERT(t.status == 200 && t.ms < 500, "%s: /livez %d in %lld ms", what, t.status,
            (long long)t.ms);
  t = timed(port, "GET", "/readyz", NULL);
  TH_ASSERT(t.status == 503 && t.ms < 1500, "%s: /readyz %d in %lld ms, want 503", what,
            t.status, (long long)t.ms);
  for (int i = 0; i < 3; i++) assert_503(port, "GET", "/items/1", NULL);
  assert_503(port, "GET", "/items?limit=5", NULL);
  assert_503(port, "POST", "/items", "{\"name\":\"it-outage\",\"price_cents\":1}");
  assert_503(port, "PUT", "/items/1", "{\"name\":\"it-outage\",\"price_cents\":1}");
  assert_503(port, "PATCH", "/items/1", "{\"price_cents\":1}");
  assert_503(port, "DELETE", "/items/1", NULL);
  /* What needs no database is still decided without it. */
  t = timed(port, "GET", "/items/abc", NULL);
  TH_ASSERT(t.status == 400, "%s: a bad id answered %d while the database is down", what,
            t.status);
  t = timed(port, "POST", "/items", "{\"price_cents\":1}");
  TH_ASSERT(t.status == 400, "%s: an invalid body answered %d while the database is down",
            what, t.status);
  t = timed(port, "GET", "/nope", NULL);
  TH_ASSERT(t.status == 404, "%s: unknown route %d", what, t.status);
}

/* Concurrent and pipelined requests all get their 503 in time. */
static void assert_503_concurrent(int port) {
  enum { N = 20 };
  th_conn_t *cs[N];
  for (int i = 0; i < N; i++) cs[i] = th_conn_open(port);
  int64_t t0 = th_now_ms();
  for (int i = 0; i < N; i++)
    th_sends(cs[i],
             "GET /items/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /items/2 HTTP/1.1\r\nHost: "
             "a\r\n\r\n");
  for (int i = 0; i < N; i++) {
    for (int k = 0; k < 2; k++) {
      th_response_t r;
      int rc = th_read_response(cs[i], &r, th_scale(3000));
      TH_ASSERT(rc == TH_OK, "concurrent request %d.%d: no response (rc %d)", i, k, rc);
      TH_ASSERT(r.status == 503, "concurrent request %d.%d: %d", i, k, r.status);
      th_response_free(&r);
    }
    th_conn_close(cs[i]);
  }
  int64_t dt = th_now_ms() - t0;
  TH_ASSERT(dt < 2500, "%d concurrent pipelined pairs took %lld ms to get their 503s", N,
            (long long)dt);
}

START_TEST(no_database) {
  const char *workers = _i == 0 ? "0" : "2";
  char dir[] = "/tmp/looplab-nodb-XXXXXX", conninfo[256];
  TH_ASSERT(mkdtemp(dir) != NULL, "mkdtemp");
  snprintf(conninfo, sizeof(conninfo), "host=%s port=1 dbname=looplab user=postgres",
           dir);
  const char *const args[] = {"--workers", workers,  "--pool", "2",
                              "--db",      conninfo, NULL};
  th_server_t s;
  th_server_start_ex(&s, args, TH_WAIT_LIVE | TH_WAIT_WORKERS);
  char what[64];
  snprintf(what, sizeof(what), "no database, --workers %s", workers);
  assert_down_behaviour(s.port, what);
  assert_503_concurrent(s.port);
  /* Still down a few seconds later (back-off grew): still prompt. */
  th_sleep_ms(2500);
  assert_503(s.port, "GET", "/items/1", NULL);
  TH_ASSERT(th_server_alive(&s), "the server died without a database");
  int status = th_server_stop(&s, th_scale(5000));
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  TH_ASSERT_CLEAN(&s, "no database");
  rmdir(dir);
}
END_TEST

/* A "database" that accepts TCP connections and never says a word: the
 * pool's connection attempts time out, requests get 503 within 1 s, and
 * the loop stays responsive meanwhile. */
START_TEST(black_hole_database) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  TH_ASSERT(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 256) == 0 &&
                getsockname(fd, (struct sockaddr *)&a, &alen) == 0,
            "black hole listener");
  char conninfo[256];
  snprintf(conninfo, sizeof(conninfo),
           "host=127.0.0.1 port=%d dbname=looplab user=postgres sslmode=disable",
           ntohs(a.sin_port));
  const char *const args[] = {"--workers", "0", "--pool", "4", "--db", conninfo, NULL};
  th_server_t s;
  th_server_start_ex(&s, args, TH_WAIT_LIVE);
  for (int i = 0; i < 3; i++) assert_503(s.port, "GET", "/items/1", NULL);
  /* The loop is not blocked by pending connection attempts. */
  int64_t worst = 0;
  for (int i = 0; i < 20; i++) {
    timed_t t = timed(s.port, "GET", "/livez", NULL);
    TH_ASSERT(t.status == 200, "/livez: %d", t.status);
    if (t.ms > worst)
      worst = t.ms;
    th_sleep_ms(50);
  }
  TH_ASSERT(worst < th_scale(250),
            "/livez took up to %lld ms while the database was a black hole",
            (long long)worst);
  timed_t t = timed(s.port, "GET", "/readyz", NULL);
  TH_ASSERT(t.status == 503 && t.ms < 1500, "/readyz %d in %lld ms", t.status,
            (long long)t.ms);
  int status = th_server_stop(&s, th_scale(5000));
  close(fd);
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  TH_ASSERT_CLEAN(&s, "black hole");
}
END_TEST

/* The fixture's socket path, from its conninfo; 0 if it is not a Unix
 * socket (then the recovery test cannot fake an outage, and fails: the
 * fixture, looplab-testpg, listens on a Unix socket only, so anything else
 * means the harness changed under this test). */
static int fixture_socket(char *sock, size_t n, char *port, char *rest, size_t restlen) {
  char *err = NULL;
  PQconninfoOption *opts = PQconninfoParse(th_pg_conninfo(), &err);
  if (opts == NULL) {
    PQfreemem(err);
    return 0;
  }
  const char *host = NULL, *p = "5432";
  size_t used = 0;
  rest[0] = '\0';
  for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
    if (o->val == NULL || o->val[0] == '\0')
      continue;
    if (strcmp(o->keyword, "host") == 0)
      host = o->val;
    else if (strcmp(o->keyword, "port") == 0)
      p = o->val;
    else if (strcmp(o->keyword, "hostaddr") != 0)
      used +=
          (size_t)snprintf(rest + used, restlen - used, " %s='%s'", o->keyword, o->val);
  }
  int ok = host != NULL && host[0] == '/';
  if (ok) {
    snprintf(sock, n, "%s/.s.PGSQL.%s", host, p);
    snprintf(port, 16, "%s", p);
  }
  PQconninfoFree(opts);
  return ok;
}

static int wait_status(int port, const char *path, int want, int timeout_ms) {
  int64_t deadline = th_now_ms() + timeout_ms;
  int st = -1;
  while (th_now_ms() < deadline) {
    timed_t t = timed(port, "GET", path, NULL);
    st = t.status;
    if (st == want)
      return st;
    th_sleep_ms(50);
  }
  return st;
}

/* Down at start, up later, down again under load, up again: the server
 * follows by itself. The outage is a Unix-socket symlink that we remove or
 * create, plus terminating the server's backends. */
START_TEST(recovers_when_database_returns) {
  char sock[512], port[16], rest[1024];
  TH_ASSERT(fixture_socket(sock, sizeof(sock), port, rest, sizeof(rest)),
            "the fixture's conninfo (%s) is not a Unix socket: this test fakes the "
            "outage with a socket symlink and cannot run (Check has no skip)",
            th_pg_conninfo());
  char dir[] = "/tmp/looplab-flap-XXXXXX", link[600], conninfo[1800];
  TH_ASSERT(mkdtemp(dir) != NULL, "mkdtemp");
  chmod(dir, 0755);
  snprintf(link, sizeof(link), "%s/.s.PGSQL.%s", dir, port);
  snprintf(conninfo, sizeof(conninfo), "host=%s port=%s%s", dir, port, rest);
  const char *const args[] = {"--workers", "0", "--pool", "2", "--db", conninfo, NULL};
  th_server_t s;
  th_server_start_ex(&s, args, TH_WAIT_LIVE);
  assert_503(s.port, "GET", "/items/1", NULL);

  /* The database appears. */
  TH_ASSERT(symlink(sock, link) == 0, "symlink %s: %s", link, strerror(errno));
  int64_t t0 = th_now_ms();
  int st = wait_status(s.port, "/readyz", 200, th_scale(5000));
  TH_ASSERT(st == 200, "/readyz still %d 5 s after the database came up", st);
  fprintf(stderr, "recovered after %lld ms\n", (long long)(th_now_ms() - t0));
  timed_t t = timed(s.port, "GET", "/items/1", NULL);
  TH_ASSERT(t.status == 200, "GET /items/1 after recovery: %d", t.status);

  /* It goes away under the running server. */
  unlink(link);
  th_sql(th_pg_conninfo(),
         "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> "
         "pg_backend_pid() AND datname = current_database() AND backend_type = 'client "
         "backend'",
         NULL, 0);
  th_sleep_ms(100);
  for (int i = 0; i < 5; i++) {
    t = timed(s.port, "GET", "/items/1", NULL);
    TH_ASSERT(t.status == 503,
              "after the database went away, GET /items/1 #%d: %d (want 503)", i,
              t.status);
    TH_ASSERT(t.ms < 1500, "after the database went away: 503 took %lld ms",
              (long long)t.ms);
  }
  t = timed(s.port, "GET", "/readyz", NULL);
  TH_ASSERT(t.status == 503, "/readyz %d after the database went away", t.status);
  t = timed(s.port, "POST", "/items", "{\"name\":\"it-outage-write\",\"price_cents\":1}");
  TH_ASSERT(t.status == 503, "a write while the database is away: %d", t.status);
  TH_ASSERT(th_sql_int(th_pg_conninfo(),
                       "SELECT count(*) FROM items WHERE name = 'it-outage-write'") == 0,
            "a write answered 503 is in the database");

  /* And comes back. */
  TH_ASSERT(symlink(sock, link) == 0, "symlink again");
  st = wait_status(s.port, "/readyz", 200, th_scale(5000));
  TH_ASSERT(st == 200, "/readyz still %d 5 s after the database came back", st);
  t = timed(s.port, "POST", "/items", "{\"name\":\"it-outage-back\",\"price_cents\":1}");
  TH_ASSERT(t.status == 201, "a write after recovery: %d %s", t.status, t.body);
  int status = th_server_stop(&s, th_scale(5000));
  unlink(link);
  rmdir(dir);
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  TH_ASSERT_CLEAN(&s, "recovery");
}
END_TEST

/* A write whose connection breaks after the INSERT reached PostgreSQL may
 * have committed: the client is told so (503 with the outcome-unknown code
 * and no Retry-After, so it looks before writing again), never the plain
 * "database unavailable" that means it was not run. A trigger holds the
 * INSERT in pg_sleep while the test terminates its backend. */
START_TEST(write_lost_in_flight) {
  const char *db = th_pg_conninfo();
  th_sql(db,
         "CREATE OR REPLACE FUNCTION looplab_it_hold() RETURNS trigger LANGUAGE plpgsql "
         "AS $$ BEGIN PERFORM pg_sleep(10); RETURN NEW; END $$",
         NULL, 0);
  th_sql(db,
         "CREATE OR REPLACE TRIGGER looplab_it_hold BEFORE INSERT ON items FOR EACH ROW "
         "WHEN (NEW.name = 'it-lost-in-flight') EXECUTE FUNCTION looplab_it_hold()",
         NULL, 0);
  const char *const args[] = {"--workers", "0", "--pool", "1", NULL};
  th_server_t s;
  th_server_start(&s, args);
  th_conn_t *c = th_conn_open(s.port);
  th_sends(
      c,
      "POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
      "Content-Length: 44\r\n\r\n{\"name\":\"it-lost-in-flight\",\"price_cents\":1}");
  const char *held =
      "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
      "AND pid <> pg_backend_pid() AND datname = current_database()";
  int64_t t0 = th_now_ms();
  while (th_sql_int(db, held) < 1 && th_now_ms() - t0 < th_scale(5000)) th_sleep_ms(10);
  TH_ASSERT(th_sql_int(db, held) == 1, "the INSERT never reached the trigger's sleep");
  th_sql(db,
         "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event = "
         "'PgSleep' AND pid <> pg_backend_pid() AND datname = current_database()",
         NULL, 0);
  th_response_t r;
  int rc = th_read_response(c, &r, th_scale(5000));
  th_sql(db, "DROP TRIGGER IF EXISTS looplab_it_hold ON items", NULL, 0);
  th_sql(db, "DROP FUNCTION IF EXISTS looplab_it_hold()", NULL, 0);
  TH_ASSERT(rc == TH_OK, "no answer to the write whose connection broke (rc %d)", rc);
  TH_ASSERT(r.status == 503, "the write whose connection broke: %d, want 503: %s",
            r.status, r.body);
  th_assert_error_shape(&r, 503, "may have been applied", "/items");
  TH_ASSERT(strstr(r.body, "\"code\":\"LOOPLAB_ERR_OUTCOME_UNKNOWN\"") != NULL,
            "the write whose connection broke is not reported as of unknown outcome: %s",
            r.body);
  TH_ASSERT(th_header(&r, "retry-after") == NULL,
            "an unknown outcome invites a blind retry with Retry-After: %s",
            th_header(&r, "retry-after"));
  th_response_free(&r);
  th_conn_close(c);
  /* The pool reconnects; a read is plain "unavailable" or served. */
  timed_t t = timed(s.port, "GET", "/items/1", NULL);
  TH_ASSERT(t.status == 200 || (t.status == 503 && strcmp(t.retry_after, "1") == 0),
            "a read after the break: %d %s", t.status, t.body);
  int status = th_server_stop(&s, th_scale(5000));
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  TH_ASSERT_CLEAN(&s, "write lost in flight");
}
END_TEST

static Suite *outage_suite(void) {
  Suite *s = suite_create("outage");
  TCase *tc = tcase_create("outage");
  tcase_set_timeout(tc, 45);
  tcase_add_loop_test(tc, no_database, 0, 2);
  tcase_add_test(tc, black_hole_database);
  tcase_add_test(tc, recovers_when_database_returns);
  tcase_add_test(tc, write_lost_in_flight);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(outage_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  th_sql(th_pg_conninfo(), "DELETE FROM items WHERE name LIKE 'it-%'", NULL, 0);
  return failed == 0 ? 0 : 1;
}
