/* The cluster (issue 2, part 4; SPEC section 3): every --sched policy
 * serves; a worker killed with SIGKILL is replaced and serving within 1 s
 * while the others keep answering; SIGTERM drains (an in-flight request
 * finishes, exit 0); a second SIGTERM forces; SIGHUP replaces the workers
 * one by one without losing a request; after any exit no looplab process
 * and no zombie is left. Each test starts its own server. */
#include <check.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "prom.h"

#define MAXW 16

/* POST /items with Content-Length whose body is half sent. */
static th_conn_t *start_slow_post(int port, const char *name, char *rest,
                                  size_t restlen) {
  char body[128], head[256];
  snprintf(body, sizeof(body), "{\"name\":\"%s\",\"price_cents\":7}", name);
  size_t blen = strlen(body), half = blen / 2;
  snprintf(head, sizeof(head),
           "POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
           "Content-Length: %zu\r\n\r\n",
           blen);
  th_conn_t *c = th_conn_open(port);
  th_sends(c, head);
  th_send(c, body, half);
  snprintf(rest, restlen, "%s", body + half);
  return c;
}

/* GET /items/:id answered per worker (index 1..2), from /metrics: the
 * scrape's own request is another route, so it does not count. */
static void items_per_worker(int port, double out[3]) {
  th_response_t r;
  th_request(port, "GET", "/metrics?by=worker", NULL, NULL, &r);
  TH_ASSERT(r.status == 200, "/metrics?by=worker: %d", r.status);
  prom_doc_t d;
  char err[256];
  TH_ASSERT(prom_parse(r.body, r.body_len, &d, err, sizeof(err)) == 0,
            "exposition refused: %s", err);
  for (int k = 0; k < 3; k++) {
    char w[16];
    snprintf(w, sizeof(w), "worker=%d", k);
    const char *want[] = {"route=/items/:id", "method=GET", w, NULL};
    int m;
    out[k] = prom_sum(&d, "http_requests_total", want, 1, &m);
  }
  prom_free(&d);
  th_response_free(&r);
}

/* ---- (a) every scheduling policy serves ---- */

static const char *const scheds[] = {"rr", "none", "reuseport"};

START_TEST(sched_serves) {
  const char *sched = scheds[_i];
  const char *const args[] = {"--workers", "2", "--sched", sched, "--pool", "2", NULL};
  th_server_t s;
  th_server_start(&s, args);
  pid_t w[MAXW];
  int nw = th_server_workers(&s, w, MAXW);
  TH_ASSERT(nw == 2, "--sched %s: %d workers, want 2", sched, nw);
  /* The stray-process scan sees the running ones (so its "none left" later
   * means something). */
  pid_t seen[8];
  TH_ASSERT(th_procs_with_port(s.port, seen, 8) == 3,
            "--sched %s: the /proc scan finds %d processes with our port, want 3", sched,
            th_procs_with_port(s.port, seen, 8));
  for (int i = 0; i < 20; i++) {
    int st = th_get_status(s.port, i % 2 ? "/items/1" : "/livez", th_scale(3000));
    TH_ASSERT(st == 200, "--sched %s: request %d on a new connection: %d", sched, i, st);
  }
  th_conn_t *c = th_conn_open(s.port);
  for (int i = 0; i < 10; i++) {
    th_response_t r;
    int rc = th_conn_request(c, "GET", "/items/2", NULL, NULL, &r, th_scale(3000));
    TH_ASSERT(rc == TH_OK && r.status == 200, "--sched %s: keep-alive request %d: rc %d",
              sched, i, rc);
    th_response_free(&r);
  }
  th_conn_close(c);
  int status = th_server_stop(&s, th_scale(10000));
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "--sched %s: SIGTERM exit status 0x%x, want exit 0", sched, status);
  TH_ASSERT_CLEAN(&s, sched);
  th_assert_gone(&s, w, nw, sched);
}
END_TEST

/* ---- (a2) the workers' environment ---- */

/* The value of name in /proc/<pid>/environ into out, or NULL if unset. */
static const char *proc_env(pid_t pid, const char *name, char *out, size_t outlen) {
  char path[64], buf[65536];
  snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
  FILE *f = fopen(path, "r");
  TH_ASSERT(f != NULL, "%s: %s", path, strerror(errno));
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  size_t nl = strlen(name);
  for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
    if (strncmp(buf + i, name, nl) == 0 && buf[i + nl] == '=') {
      snprintf(out, outlen, "%s", buf + i + nl + 1);
      return out;
    }
  }
  return NULL;
}

/* Workers run with GNUTLS_NO_IMPLICIT_INIT=1 (GnuTLS, loaded through libpq
 * and OpenLDAP, would otherwise set itself up in each one at exec: ~140 KB
 * of heap and ~300 KB of code per worker, docs/architecture.md), and a
 * value the user set is passed on unchanged. */
static const char *const gnutls_values[] = {NULL, "0"};

START_TEST(workers_skip_gnutls_init) {
  const char *set = gnutls_values[_i];
  if (set)
    setenv("GNUTLS_NO_IMPLICIT_INIT", set, 1);
  else
    unsetenv("GNUTLS_NO_IMPLICIT_INIT");
  th_server_t s;
  pid_t w[MAXW];
  int nw = th_cluster_start2(&s, w, MAXW);
  const char *want = set ? set : "1";
  for (int i = 0; i < nw; i++) {
    char v[64];
    const char *got = proc_env(w[i], "GNUTLS_NO_IMPLICIT_INIT", v, sizeof(v));
    TH_ASSERT(got != NULL && strcmp(got, want) == 0,
              "worker %d (user's value %s): GNUTLS_NO_IMPLICIT_INIT is %s, want %s",
              i + 1, set ? set : "unset", got ? got : "unset", want);
    char id[16];
    TH_ASSERT(proc_env(w[i], "LOOPLAB_WORKER_ID", id, sizeof(id)) != NULL,
              "worker %d has no LOOPLAB_WORKER_ID", i + 1);
  }
  TH_ASSERT(th_get_status(s.port, "/items/1", th_scale(3000)) == 200, "GET /items/1");
  int status = th_server_stop(&s, th_scale(10000));
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  TH_ASSERT_CLEAN(&s, "gnutls env");
  unsetenv("GNUTLS_NO_IMPLICIT_INIT");
}
END_TEST

/* ---- (b) a worker killed with SIGKILL ---- */

START_TEST(worker_sigkill_replaced) {
  th_server_t s;
  pid_t before[MAXW], now[MAXW];
  int nb = th_cluster_start2(&s, before, MAXW);
  pid_t victim = before[0];
  int64_t t0 = th_now_ms();
  kill(victim, SIGKILL);
  int64_t replaced_at = 0;
  int failures = 0, ok = 0;
  char failed[256] = "";
  size_t flen = 0;
  pid_t fresh = 0;
  while (th_now_ms() - t0 < th_scale(3000)) {
    int64_t ts = th_now_ms() - t0;
    int st = th_get_status(s.port, "/livez", th_scale(3000));
    if (st == 200) {
      ok++;
    } else {
      failures++;
      if (flen < sizeof(failed) - 40)
        flen += (size_t)snprintf(failed + flen, sizeof(failed) - flen, " %s at +%lld ms;",
                                 st == -1   ? strerror(th_last_connect_errno)
                                 : st == -2 ? "no response"
                                            : "not 200",
                                 (long long)ts);
    }
    if (replaced_at == 0) {
      int n = th_server_workers(&s, now, MAXW);
      for (int i = 0; i < n && i < MAXW; i++)
        if (!th_pid_in(before, nb, now[i]))
          fresh = now[i];
      if (n == 2 && fresh != 0 && !th_pid_in(now, n, victim))
        replaced_at = th_now_ms();
    }
    if (replaced_at != 0 && ok >= 20)
      break;
    th_sleep_ms(5);
  }
  TH_ASSERT(replaced_at != 0, "the killed worker %d was not replaced within %d ms",
            (int)victim, th_scale(3000));
  /* Serving: rr hands new connections to every worker in turn, the
   * replacement included, once it is ready. */
  TH_ASSERT(th_worker_wait_ready(&s, fresh, th_scale(1000)),
            "the replacement %d did not log ready within 1 s", (int)fresh);
  double before_items[3];
  items_per_worker(s.port, before_items);
  for (int i = 0; i < 6; i++) {
    int st = th_get_status(s.port, "/items/1", th_scale(3000));
    TH_ASSERT(st == 200, "after the replacement, request %d: %d (%s)", i, st,
              st == -1 ? strerror(th_last_connect_errno) : "");
  }
  int64_t serving_ms = th_now_ms() - t0;
  double after_items[3];
  items_per_worker(s.port, after_items);
  for (int k = 1; k <= 2; k++)
    TH_ASSERT(after_items[k] - before_items[k] == 3,
              "rr: worker %d served %g of 6 new connections, want 3 (worker %d: %g)", k,
              after_items[k] - before_items[k], 3 - k,
              after_items[3 - k] - before_items[3 - k]);
  TH_ASSERT(serving_ms <= th_scale(1000),
            "replaced after %lld ms, all workers serving after %lld ms: want within 1 s",
            (long long)(replaced_at - t0), (long long)serving_ms);
  /* One connection may have been handed to the dying worker; no more. */
  TH_ASSERT(failures <= 1,
            "%d requests failed while the worker was replaced (%d succeeded):%s",
            failures, ok, failed);
  TH_ASSERT(th_server_alive(&s), "the primary died");
  int n = th_server_workers(&s, now, MAXW);
  int status = th_server_stop(&s, th_scale(10000));
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  TH_ASSERT_CLEAN(&s, "after the replacement");
  th_assert_gone(&s, now, n, "after the replacement");
}
END_TEST

/* ---- (c) SIGTERM lets an in-flight request finish ---- */

START_TEST(sigterm_drains_slow_request) {
  const char *workers = _i == 0 ? "0" : "2";
  const char *const args[] = {"--workers", workers, "--pool", "2", NULL};
  th_server_t s;
  th_server_start(&s, args);
  pid_t w[MAXW];
  int nw = th_server_workers(&s, w, MAXW);
  char name[64], rest[128], sql[160];
  snprintf(name, sizeof(name), "it-drain-%d-%d", _i, (int)getpid());
  th_conn_t *c = start_slow_post(s.port, name, rest, sizeof(rest));
  th_sleep_ms(200);
  th_server_signal(&s, SIGTERM);
  th_sleep_ms(300);
  TH_ASSERT(th_server_alive(&s),
            "--workers %s: exited with a request in flight (status 0x%x)", workers,
            s.status);
  /* Draining: no new connection is served normally. */
  int st = th_get_status(s.port, "/livez", th_scale(3000));
  TH_ASSERT(st == -1 || st == -2 || st == 503,
            "--workers %s: a new connection during the drain was answered %d", workers,
            st);
  TH_ASSERT(th_sends(c, rest) == 0, "--workers %s: the in-flight connection was closed",
            workers);
  th_response_t r;
  int rc = th_read_response(c, &r, th_scale(5000));
  TH_ASSERT(rc == TH_OK, "--workers %s: no response to the in-flight request (rc %d)",
            workers, rc);
  TH_ASSERT(r.status == 201, "--workers %s: in-flight request answered %d: %.200s",
            workers, r.status, r.body);
  TH_ASSERT(th_conn_close_hdr(&r),
            "--workers %s: drain response without Connection: close", workers);
  th_response_free(&r);
  th_conn_close(c);
  int status = 0;
  TH_ASSERT(th_server_wait_exit(&s, th_scale(5000), &status),
            "--workers %s: still running 5 s after the drain finished", workers);
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "--workers %s: exit status 0x%x", workers, status);
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM items WHERE name = '%s'", name);
  TH_ASSERT(th_sql_int(th_pg_conninfo(), sql) == 1,
            "the drained request's row is missing");
  th_server_stop(&s, 1000);
  TH_ASSERT_CLEAN(&s, "after the drain");
  th_assert_gone(&s, w, nw, "after the drain");
}
END_TEST

/* Idle keep-alive connections are closed at the start of a drain, and the
 * server exits promptly with nothing in flight. */
START_TEST(sigterm_idle_exits_fast) {
  const char *const args[] = {"--workers", "2", "--pool", "2", NULL};
  th_server_t s;
  th_server_start(&s, args);
  pid_t w[MAXW];
  int nw = th_server_workers(&s, w, MAXW);
  th_conn_t *c = th_conn_open(s.port);
  th_response_t r;
  TH_ASSERT(th_conn_request(c, "GET", "/livez", NULL, NULL, &r, th_scale(3000)) == TH_OK,
            "request");
  th_response_free(&r);
  int64_t t0 = th_now_ms();
  th_server_signal(&s, SIGTERM);
  TH_ASSERT(th_read_until_close(c, th_scale(3000)) && c->len == 0,
            "the idle keep-alive connection was not closed by the drain");
  int status = 0;
  TH_ASSERT(th_server_wait_exit(&s, th_scale(3000), &status),
            "not exited 3 s after SIGTERM");
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  TH_ASSERT(th_now_ms() - t0 < th_scale(2000), "idle drain took %lld ms",
            (long long)(th_now_ms() - t0));
  th_conn_close(c);
  th_server_stop(&s, 1000);
  TH_ASSERT_CLEAN(&s, "idle drain");
  th_assert_gone(&s, w, nw, "idle drain");
}
END_TEST

/* ---- (f) a second SIGTERM forces ---- */

START_TEST(second_sigterm_forces) {
  const char *workers = _i == 0 ? "0" : "2";
  const char *const args[] = {"--workers", workers, "--pool", "2", NULL};
  th_server_t s;
  th_server_start(&s, args);
  pid_t w[MAXW];
  int nw = th_server_workers(&s, w, MAXW);
  char rest[128];
  th_conn_t *c = start_slow_post(s.port, "it-forced", rest, sizeof(rest));
  th_sleep_ms(200);
  th_server_signal(&s, SIGTERM);
  th_sleep_ms(500);
  TH_ASSERT(th_server_alive(&s),
            "--workers %s: the first SIGTERM did not wait for the request", workers);
  int64_t t0 = th_now_ms();
  th_server_signal(&s, SIGTERM);
  int status = 0;
  TH_ASSERT(th_server_wait_exit(&s, th_scale(2000), &status),
            "--workers %s: a second SIGTERM did not force the exit within 2 s", workers);
  (void)t0;
  th_conn_close(c);
  th_server_stop(&s, 1000);
  TH_ASSERT_NOTHING_LEFT(&s, "forced exit");
  th_assert_gone(&s, w, nw, "forced exit");
}
END_TEST

/* ---- (e) SIGHUP: rolling replacement without a lost request ---- */

START_TEST(sighup_rolls_workers) {
  th_server_t s;
  pid_t before[MAXW], now[MAXW];
  int nb = th_cluster_start2(&s, before, MAXW);
  th_conn_t *c = th_conn_open(s.port);
  int fresh_conn = 1, requests = 0, boundary_closes = 0, server_closes = 0;
  int64_t t0 = th_now_ms(), rolled_at = 0;
  th_server_signal(&s, SIGHUP);
  while (th_now_ms() - t0 < th_scale(10000)) {
    th_response_t r;
    int rc = th_conn_request(c, "GET", "/items/1", NULL, NULL, &r, th_scale(3000));
    if (rc != TH_OK) {
      /* Only a reused connection may be closed, and only between
       * responses (nothing of a response received). */
      TH_ASSERT(!fresh_conn,
                "request %d on a fresh connection failed (rc %d) during SIGHUP", requests,
                rc);
      TH_ASSERT(
          rc == TH_ECLOSED && c->len == 0,
          "request %d: a kept-alive connection broke mid-response (rc %d, %zu bytes)",
          requests, rc, c->len);
      boundary_closes++;
      th_conn_close(c);
      c = th_conn_open(s.port);
      fresh_conn = 1;
      continue;
    }
    TH_ASSERT(r.status == 200, "request %d during SIGHUP: %d %.200s", requests, r.status,
              r.body);
    requests++;
    fresh_conn = 0;
    if (th_conn_close_hdr(&r)) {
      server_closes++;
      th_conn_close(c);
      c = th_conn_open(s.port);
      fresh_conn = 1;
    }
    th_response_free(&r);
    if (requests % 10 == 0) {
      int st = th_get_status(s.port, "/livez", th_scale(3000));
      TH_ASSERT(st == 200, "a new connection during SIGHUP: %d", st);
    }
    int all_new = th_workers_all_new(&s, before, nb, 2, now, MAXW) == 2;
    if (all_new && rolled_at == 0)
      rolled_at = th_now_ms();
    if (rolled_at != 0 && th_now_ms() - rolled_at > 300)
      break;
  }
  th_conn_close(c);
  TH_ASSERT(rolled_at != 0, "SIGHUP: workers not all replaced within 10 s");
  TH_ASSERT(th_server_alive(&s), "SIGHUP: the primary exited");
  TH_ASSERT(requests > 10, "only %d requests during the roll", requests);
  fprintf(stderr,
          "sighup: %d requests, %d closes with Connection: close, %d at a response "
          "boundary, rolled in %lld ms\n",
          requests, server_closes, boundary_closes, (long long)(rolled_at - t0));
  int n = th_server_workers(&s, now, MAXW);
  int status = th_server_stop(&s, th_scale(10000));
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  TH_ASSERT_CLEAN(&s, "after SIGHUP");
  th_assert_gone(&s, now, n, "after SIGHUP");
  th_assert_gone(&s, before, nb, "the replaced workers");
}
END_TEST

/* ---- (g) the primary dies: its workers follow ---- */

START_TEST(primary_sigkill_workers_exit) {
  const char *sched = _i == 0 ? "rr" : "none";
  const char *const args[] = {"--workers", "2", "--sched", sched, "--pool", "2", NULL};
  th_server_t s;
  th_server_start(&s, args);
  pid_t w[MAXW];
  int nw = th_server_workers(&s, w, MAXW);
  kill(s.pid, SIGKILL);
  th_server_wait_exit(&s, 5000, NULL);
  int64_t deadline = th_now_ms() + th_scale(3000);
  int left = nw;
  while (left > 0 && th_now_ms() < deadline) {
    left = 0;
    for (int i = 0; i < nw; i++) {
      char st = th_proc_state(w[i]);
      if (st != 0 && st != 'Z')
        left++;
    }
    th_sleep_ms(20);
  }
  for (int i = 0; i < nw; i++) kill(w[i], SIGKILL);
  TH_ASSERT(left == 0,
            "--sched %s: %d workers still running 3 s after the primary was killed",
            sched, left);
  th_server_stop(&s, 1000);
  TH_ASSERT_NOTHING_LEFT(&s, "the killed primary's workers");
}
END_TEST

/* ---- crash loops make the primary give up ---- */

START_TEST(crash_loop_exits_nonzero) {
  const char *const args[] = {"--workers", "1", "--pool", "1", NULL};
  th_server_t s;
  th_server_start(&s, args);
  int64_t t0 = th_now_ms();
  int kills = 0, status = 0;
  pid_t killed[64];
  /* Each worker is killed once it has lived 300 ms (so that it is not a
   * start-up failure, which may end the primary at once). */
  while (th_now_ms() - t0 < 10000 && kills < 64) {
    pid_t w[MAXW];
    int n = th_server_workers(&s, w, MAXW);
    for (int i = 0; i < n && i < MAXW; i++) {
      if (th_pid_in(killed, kills, w[i]) || th_proc_state(w[i]) == 'Z')
        continue;
      /* Unready at the end only if the primary gave up meanwhile. */
      TH_ASSERT(th_worker_wait_ready(&s, w[i], th_scale(2000)) || !th_server_alive(&s),
                "crash loop: worker %d never logged ready", (int)w[i]);
      th_sleep_ms(50);
      if (kill(w[i], SIGKILL) == 0)
        killed[kills++] = w[i];
    }
    if (th_server_wait_exit(&s, 10, &status))
      break;
  }
  TH_ASSERT(
      !th_server_alive(&s),
      "the primary still runs after %d worker deaths in 10 s (want: exit non-zero after "
      "more than 5 in 10 s)",
      kills);
  TH_ASSERT(kills >= 6, "the primary gave up after only %d deaths (want more than 5)",
            kills);
  TH_ASSERT(!(WIFEXITED(status) && WEXITSTATUS(status) == 0),
            "the primary exited 0 after a crash loop");
  th_server_stop(&s, 1000);
  TH_ASSERT_NOTHING_LEFT(&s, "crash loop");
}
END_TEST

/* A worker that cannot start (its reuseport bind fails: the port is held
 * by a socket without SO_REUSEPORT) makes the primary exit non-zero. */
START_TEST(worker_start_failure_exits_nonzero) {
  int port = th_free_port();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  TH_ASSERT(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 8) == 0,
            "cannot hold port %d", port);
  char ps[16];
  snprintf(ps, sizeof(ps), "%d", port);
  const char *const args[] = {"--workers", "2", "--sched", "reuseport",
                              "--port",    ps,  NULL};
  th_server_t s;
  th_server_start_ex(&s, args, TH_NO_WAIT);
  int status = 0;
  int exited = th_server_wait_exit(&s, th_scale(12000), &status);
  close(fd);
  TH_ASSERT(exited, "the primary keeps running although its workers cannot bind");
  TH_ASSERT(!(WIFEXITED(status) && WEXITSTATUS(status) == 0),
            "exit status 0 after a failed start");
  th_server_stop(&s, 1000);
  TH_ASSERT_NOTHING_LEFT(&s, "failed worker start");
}
END_TEST

/* 1 if the server wrote a line of its own (not the harness's exec line). */
static int logged(const th_server_t *s) {
  FILE *f = fopen(s->log_path, "r");
  char line[512];
  int any = 0;
  while (f != NULL && !any && fgets(line, sizeof(line), f) != NULL)
    any = strncmp(line, "# harness", 9) != 0;
  if (f != NULL)
    fclose(f);
  return any;
}

/* SIGTERM at any moment of the start-up (before or after the workers are
 * spawned) leaves no process behind. */
static const int startup_delays_ms[] = {0, 20, 60, 150, 400};

START_TEST(sigterm_during_startup) {
  int delay = startup_delays_ms[_i];
  const char *const args[] = {"--workers", "2", "--pool", "2", NULL};
  th_server_t s;
  th_server_start_ex(&s, args, TH_NO_WAIT);
  th_sleep_ms(delay);
  th_server_signal(&s, SIGTERM);
  int status = 0;
  TH_ASSERT(th_server_wait_exit(&s, th_scale(5000), &status),
            "SIGTERM %d ms into the start-up: still running after 5 s", delay);
  th_assert_gone(&s, NULL, 0, "SIGTERM during start-up");
  /* A SIGTERM may land before main holds the signal (exec and the dynamic
   * loader take a while on a busy machine): the default action then, not
   * looplab's. Then the process has not logged a line: main holds the
   * signal before its first one. */
  int before_main = WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM && !logged(&s);
  th_server_stop(&s, 1000);
  TH_ASSERT_NOTHING_LEFT(&s, "SIGTERM during start-up");
  TH_ASSERT(before_main || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
            "SIGTERM %d ms into the start-up: exit status 0x%x, want exit 0", delay,
            status);
}
END_TEST

static Suite *cluster_suite(void) {
  Suite *s = suite_create("cluster");
  TCase *tc = tcase_create("cluster");
  tcase_set_timeout(tc, 45);
  tcase_add_loop_test(tc, sched_serves, 0, 3);
  tcase_add_loop_test(tc, workers_skip_gnutls_init, 0, 2);
  tcase_add_test(tc, worker_sigkill_replaced);
  tcase_add_loop_test(tc, sigterm_drains_slow_request, 0, 2);
  tcase_add_test(tc, sigterm_idle_exits_fast);
  tcase_add_loop_test(tc, second_sigterm_forces, 0, 2);
  tcase_add_test(tc, sighup_rolls_workers);
  tcase_add_loop_test(tc, primary_sigkill_workers_exit, 0, 2);
  tcase_add_test(tc, crash_loop_exits_nonzero);
  tcase_add_test(tc, worker_start_failure_exits_nonzero);
  tcase_add_loop_test(tc, sigterm_during_startup, 0,
                      (int)(sizeof(startup_delays_ms) / sizeof(startup_delays_ms[0])));
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(cluster_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  th_sql(th_pg_conninfo(), "DELETE FROM items WHERE name LIKE 'it-%'", NULL, 0);
  return failed == 0 ? 0 : 1;
}
