/* Faults under load (issue 9, bugs 5, 7 and 6): rolling restarts under
 * keep-alive load from 32 clients lose no request; a worker killed with
 * SIGKILL under keep-alive load costs no connection opened after its death;
 * a worker killed while SIGHUP replaces it leaves the right number of
 * workers, and SIGTERM then exits 0 promptly. Each test starts its own
 * server and stops by itself within a few seconds. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MAXW 16
#define CLIENTS 32

/* ---- keep-alive load: CLIENTS threads, one connection each ----
 *
 * Each client sends GET /livez on its connection and waits for the answer,
 * then sends the next at once (a busy keep-alive client). An answer with
 * Connection: close makes it reconnect. A request sent that gets no
 * complete answer (closed, reset, timed out) or a refused connect is a
 * failure; so is any status but 200. */

typedef struct load_s {
  int port;
  atomic_int stop;
  atomic_long ok, failed, closes, connects;
  atomic_long after_ok, after_failed; /* on connections opened after mark */
  atomic_long mark_ms;                /* 0: no mark yet */
  atomic_int killed;                  /* a worker was killed: a connection
                                         broken from now on was broken by
                                         its death, so it is dead */
  pthread_t threads[CLIENTS];
  char why[256];
  pthread_mutex_t mu;
} load_t;

static void load_note(load_t *l, const char *what, int rc) {
  pthread_mutex_lock(&l->mu);
  size_t n = strlen(l->why);
  if (n < sizeof(l->why) - 48)
    snprintf(l->why + n, sizeof(l->why) - n, " %s (rc %d);", what, rc);
  pthread_mutex_unlock(&l->mu);
}

static void *load_client(void *arg) {
  load_t *l = arg;
  th_conn_t *c = NULL;
  int after = 0; /* this connection was opened after the mark */
  int broke = 0; /* the last connection broke after a kill */
  while (!atomic_load(&l->stop)) {
    if (c == NULL) {
      long mark = atomic_load(&l->mark_ms);
      after = broke || (mark != 0 && th_now_ms() >= mark);
      int rc = th_conn_try_open(l->port, &c);
      atomic_fetch_add(&l->connects, 1);
      if (rc != 0) {
        atomic_fetch_add(&l->failed, 1);
        if (after)
          atomic_fetch_add(&l->after_failed, 1);
        load_note(l, "connect", rc);
        c = NULL;
        th_sleep_ms(5);
        continue;
      }
    }
    th_response_t r;
    int rc = th_conn_request(c, "GET", "/livez", NULL, NULL, &r, th_scale(3000));
    if (rc != TH_OK || r.status != 200) {
      atomic_fetch_add(&l->failed, 1);
      if (after)
        atomic_fetch_add(&l->after_failed, 1);
      load_note(l, rc != TH_OK ? "no answer" : "not 200", rc != TH_OK ? rc : r.status);
      if (rc == TH_OK)
        th_response_free(&r);
      broke = atomic_load(&l->killed);
      th_conn_close(c);
      c = NULL;
      continue;
    }
    atomic_fetch_add(&l->ok, 1);
    if (after)
      atomic_fetch_add(&l->after_ok, 1);
    int closing = th_conn_close_hdr(&r);
    th_response_free(&r);
    if (closing) {
      atomic_fetch_add(&l->closes, 1);
      th_conn_close(c);
      c = NULL;
    }
  }
  if (c)
    th_conn_close(c);
  return NULL;
}

static void load_start(load_t *l, int port) {
  memset(l, 0, sizeof(*l));
  l->port = port;
  pthread_mutex_init(&l->mu, NULL);
  for (int i = 0; i < CLIENTS; i++) pthread_create(&l->threads[i], NULL, load_client, l);
}

static void load_stop(load_t *l) {
  atomic_store(&l->stop, 1);
  for (int i = 0; i < CLIENTS; i++) pthread_join(l->threads[i], NULL);
  pthread_mutex_destroy(&l->mu);
}

/* Waits until the primary's children are exactly want processes, none of
 * them in old (the roll is done and the replaced ones have exited). */
static int wait_rolled(th_server_t *s, const pid_t *old, int nold, int want,
                       int timeout_ms, pid_t *now) {
  int64_t t0 = th_now_ms();
  while (th_now_ms() - t0 < timeout_ms) {
    int n = th_workers_all_new(s, old, nold, want, now, MAXW);
    if (n >= 0)
      return n;
    th_sleep_ms(10);
  }
  return -1;
}

/* ---- bug 5: SIGHUP under keep-alive load loses no request ---- */

#define ROLLS 20

START_TEST(sighup_under_keepalive_load) {
  th_server_t s;
  pid_t cur[MAXW], now[MAXW];
  int n = th_cluster_start2(&s, cur, MAXW);
  load_t *l = calloc(1, sizeof(*l));
  load_start(l, s.port);
  th_sleep_ms(200);
  int64_t t0 = th_now_ms();
  int rolls = 0;
  for (; rolls < ROLLS; rolls++) {
    th_server_signal(&s, SIGHUP);
    if (wait_rolled(&s, cur, n, 2, th_scale(5000), now) != 2)
      break;
    memcpy(cur, now, sizeof(cur));
  }
  th_sleep_ms(200);
  int64_t dt = th_now_ms() - t0;
  load_stop(l);
  fprintf(
      stderr,
      "faults/sighup: %d SIGHUPs in %lld ms under %d keep-alive clients: %ld requests, "
      "%ld failed, %ld answers with Connection: close, %ld connections\n",
      rolls, (long long)dt, CLIENTS, atomic_load(&l->ok) + atomic_load(&l->failed),
      atomic_load(&l->failed), atomic_load(&l->closes), atomic_load(&l->connects));
  TH_ASSERT(rolls == ROLLS, "roll %d did not complete within 5 s", rolls + 1);
  TH_ASSERT(atomic_load(&l->failed) == 0,
            "%ld of %ld requests failed during %d SIGHUPs:%s", atomic_load(&l->failed),
            atomic_load(&l->ok) + atomic_load(&l->failed), ROLLS, l->why);
  TH_ASSERT(atomic_load(&l->ok) > 1000, "only %ld requests answered",
            atomic_load(&l->ok));
  n = th_server_workers(&s, now, MAXW);
  int status = th_server_stop(&s, th_scale(10000));
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  TH_ASSERT_CLEAN(&s, "after the SIGHUPs");
  th_assert_gone(&s, now, n, "after the SIGHUPs");
  free(l);
}
END_TEST

/* ---- bug 7: rr hands no connection to a dead worker ---- */

/* Opens n connections at once, then sends GET /livez on each and reads
 * the answers: the burst reaches the primary's accept queue together, so
 * round-robin spreads it over every worker it thinks ready. Returns the
 * failures (refused, closed, reset, timed out, not 200). */
static int burst(int port, int n, char *why, size_t whylen) {
  th_conn_t *cs[64];
  int failed = 0;
  for (int i = 0; i < n; i++) {
    int rc = th_conn_try_open(port, &cs[i]);
    if (rc != 0) {
      cs[i] = NULL;
      failed++;
      snprintf(why, whylen, "connect %d: %s", i, strerror(-rc));
    }
  }
  for (int i = 0; i < n; i++) {
    if (cs[i] == NULL)
      continue;
    th_response_t r;
    int rc = th_conn_request(cs[i], "GET", "/livez", NULL, NULL, &r, th_scale(3000));
    if (rc != TH_OK || r.status != 200) {
      failed++;
      snprintf(why, whylen, "connection %d of the burst: rc %d", i, rc);
    }
    if (rc == TH_OK)
      th_response_free(&r);
    th_conn_close(cs[i]);
  }
  return failed;
}

START_TEST(worker_sigkill_under_keepalive_load) {
  th_server_t s;
  pid_t before[MAXW], now[MAXW];
  int nb = th_cluster_start2(&s, before, MAXW);
  load_t *l = calloc(1, sizeof(*l));
  load_start(l, s.port);
  th_sleep_ms(200);
  pid_t victim = before[0];
  int64_t t0 = th_now_ms();
  atomic_store(&l->killed, 1);
  kill(victim, SIGKILL);
  /* "After the kill": once the victim's descriptors are closed (it is a
   * zombie or gone, or a client saw its connection to it break), which is
   * when the primary can first tell. */
  while (th_proc_state(victim) != 'Z' && th_proc_state(victim) != 0 &&
         th_now_ms() - t0 < 1000) {
  }
  atomic_store(&l->mark_ms, (long)th_now_ms());
  char why[128] = "";
  int burst_failed = 0, bursts = 0;
  int64_t replaced_at = 0;
  while (th_now_ms() - t0 < th_scale(3000)) {
    if (bursts < 20) {
      burst_failed += burst(s.port, 16, why, sizeof(why));
      bursts++;
    }
    if (replaced_at == 0 && wait_rolled(&s, &victim, 1, 2, 1, now) == 2) {
      int fresh = 0;
      for (int i = 0; i < 2; i++)
        if (!th_pid_in(before, nb, now[i]))
          fresh = 1;
      if (fresh)
        replaced_at = th_now_ms();
    }
    if (replaced_at != 0 && bursts >= 20)
      break;
  }
  TH_ASSERT(replaced_at != 0, "the killed worker %d was not replaced within 3 s",
            (int)victim);
  for (int i = 0; i < 6; i++) { /* rr: both workers, the replacement included */
    int st = th_get_status(s.port, "/livez", th_scale(3000));
    TH_ASSERT(st == 200, "after the replacement, request %d: %d", i, st);
  }
  int64_t serving_ms = th_now_ms() - t0;
  th_sleep_ms(100);
  load_stop(l);
  fprintf(stderr,
          "faults/sigkill: replaced in %lld ms, both serving after %lld ms; %d burst "
          "connections opened after the kill, %d failed; load: %ld after-kill requests, "
          "%ld failed; %ld failed on connections opened before the kill\n",
          (long long)(replaced_at - t0), (long long)serving_ms, bursts * 16, burst_failed,
          atomic_load(&l->after_ok) + atomic_load(&l->after_failed),
          atomic_load(&l->after_failed),
          atomic_load(&l->failed) - atomic_load(&l->after_failed));
  TH_ASSERT(burst_failed == 0, "%d of %d connections opened after the kill failed: %s",
            burst_failed, bursts * 16, why);
  TH_ASSERT(atomic_load(&l->after_failed) == 0,
            "%ld requests on connections opened after the kill failed:%s",
            atomic_load(&l->after_failed), l->why);
  TH_ASSERT(serving_ms <= th_scale(1000),
            "replacement serving after %lld ms, want within 1 s", (long long)serving_ms);
  int n = th_server_workers(&s, now, MAXW);
  int status = th_server_stop(&s, th_scale(10000));
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  TH_ASSERT_CLEAN(&s, "after the SIGKILL");
  th_assert_gone(&s, now, n, "after the SIGKILL");
  free(l);
}
END_TEST

/* ---- a fork that fails: the slot is retried, not left empty ----
 * The server runs from a copy of the binary; with the copy moved away a
 * killed worker cannot be re-spawned (uv_spawn: ENOENT). The primary must
 * keep running and retry with its back-off, and serve with both slots once
 * the binary is back. */
static int log_has(const th_server_t *s, const char *needle) {
  FILE *f = fopen(s->log_path, "r");
  char line[4096];
  int found = 0;
  if (f == NULL)
    return 0;
  while (!found && fgets(line, sizeof(line), f)) found = strstr(line, needle) != NULL;
  fclose(f);
  return found;
}

START_TEST(respawn_after_failed_spawn) {
  char dir[] = "/tmp/looplab-spawn-XXXXXX", bin[128], away[160], cmd[512];
  TH_ASSERT(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
  snprintf(bin, sizeof(bin), "%s/looplab", dir);
  snprintf(away, sizeof(away), "%s/looplab.away", dir);
  snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", getenv("LOOPLAB_BIN"), bin);
  TH_ASSERT(system(cmd) == 0, "cannot copy the binary");
  setenv("LOOPLAB_BIN", bin, 1);
  th_server_t s;
  pid_t before[MAXW], now[MAXW];
  int nb = th_cluster_start2(&s, before, MAXW);
  TH_ASSERT(rename(bin, away) == 0, "rename: %s", strerror(errno));
  kill(before[0], SIGKILL);
  int64_t t0 = th_now_ms();
  while (!log_has(&s, "cannot spawn a worker") && th_now_ms() - t0 < th_scale(5000))
    th_sleep_ms(20);
  TH_ASSERT(log_has(&s, "cannot spawn a worker"), "no failed spawn was logged");
  th_sleep_ms(800); /* a few retries fail too */
  TH_ASSERT(th_server_alive(&s), "the primary exited after a failed spawn");
  TH_ASSERT(rename(away, bin) == 0, "rename back: %s", strerror(errno));
  int64_t t1 = th_now_ms();
  pid_t victim[1] = {before[0]};
  int n = -1;
  while (n < 0 && th_now_ms() - t1 < th_scale(15000)) {
    n = th_workers_all_new(&s, victim, 1, 2, now, MAXW);
    if (n < 0)
      th_sleep_ms(20);
  }
  TH_ASSERT(n == 2, "the empty slot was not filled within 15 s of the binary's return");
  int fresh = th_pid_in(before, nb, now[0]) ? now[1] : now[0];
  TH_ASSERT(th_worker_wait_ready(&s, fresh, th_scale(5000)),
            "the re-spawned worker %d never got ready", (int)fresh);
  fprintf(stderr, "faults/spawn: slot re-filled %lld ms after the binary came back\n",
          (long long)(th_now_ms() - t1));
  int status = th_server_stop(&s, th_scale(10000));
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  TH_ASSERT_CLEAN(&s, "after the failed spawn");
  unlink(bin);
  rmdir(dir);
}
END_TEST

/* ---- bug 6: a worker killed during a roll ---- */

/* Whom the test kills right after SIGHUP: the old worker of the slot being
 * replaced, its replacement while it starts, or the other slot's worker
 * waiting for its turn. */
static const char *const roll_victims[] = {"replaced", "replacement", "waiting"};

START_TEST(worker_killed_during_roll) {
  const char *victim_kind = roll_victims[_i];
  th_server_t s;
  pid_t before[MAXW], now[MAXW];
  int nb = th_cluster_start2(&s, before, MAXW);
  /* Slot 1 is spawned first: the lower pid. */
  th_server_signal(&s, SIGHUP);
  /* The kill comes once the roll has begun: slot 1's replacement exists
   * (the first child not in before). */
  pid_t fresh = 0;
  int64_t t = th_now_ms();
  while (fresh == 0 && th_now_ms() - t < 2000) {
    int n = th_server_workers(&s, now, MAXW);
    for (int i = 0; i < n && i < MAXW; i++)
      if (!th_pid_in(before, nb, now[i]))
        fresh = now[i];
  }
  TH_ASSERT(fresh != 0, "%s: no replacement appeared", victim_kind);
  pid_t victim = _i == 0 ? before[0] : _i == 1 ? fresh : before[1];
  kill(victim, SIGKILL);
  /* Settled: 2 workers, none of the old ones, the same for 500 ms (the
   * back-off re-fork comes 100 ms after a death). */
  pid_t old[MAXW + 1];
  memcpy(old, before, sizeof(pid_t) * (size_t)nb);
  old[nb] = victim;
  int64_t t0 = th_now_ms(), stable_since = 0;
  int n = 0;
  while (th_now_ms() - t0 < th_scale(4000)) {
    n = th_server_workers(&s, now, MAXW);
    int settled = n == 2;
    for (int i = 0; i < n && i < MAXW; i++)
      if (th_pid_in(old, nb + 1, now[i]))
        settled = 0;
    if (!settled)
      stable_since = 0;
    else if (stable_since == 0)
      stable_since = th_now_ms();
    if (stable_since != 0 && th_now_ms() - stable_since >= 500)
      break;
    th_sleep_ms(10);
  }
  n = th_server_workers(&s, now, MAXW);
  fprintf(stderr, "faults/roll-kill (%s): %d workers %lld ms after the kill\n",
          victim_kind, n, (long long)(th_now_ms() - t0));
  TH_ASSERT(th_server_alive(&s), "%s killed during the roll: the primary exited",
            victim_kind);
  TH_ASSERT(n == 2 && stable_since != 0,
            "%s killed during the roll: %d workers (want 2, all new) after %lld ms",
            victim_kind, n, (long long)(th_now_ms() - t0));
  for (int i = 0; i < 6; i++) { /* rr: each worker gets connections */
    int st = th_get_status(s.port, "/livez", th_scale(3000));
    TH_ASSERT(st == 200, "%s: request %d after the roll: %d", victim_kind, i, st);
  }
  int64_t ts = th_now_ms();
  th_server_signal(&s, SIGTERM);
  int status = 0;
  int exited = th_server_wait_exit(&s, th_scale(3000), &status);
  fprintf(stderr, "faults/roll-kill (%s): SIGTERM exit after %lld ms\n", victim_kind,
          (long long)(th_now_ms() - ts));
  TH_ASSERT(exited, "%s: SIGTERM: still running after 3 s", victim_kind);
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: exit status 0x%x, want 0",
            victim_kind, status);
  th_server_stop(&s, 1000);
  TH_ASSERT_CLEAN(&s, "after the roll");
  th_assert_gone(&s, now, n, "after the roll");
}
END_TEST

static Suite *faults_suite(void) {
  Suite *s = suite_create("faults");
  TCase *tc = tcase_create("faults");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, sighup_under_keepalive_load);
  tcase_add_test(tc, worker_sigkill_under_keepalive_load);
  tcase_add_loop_test(tc, worker_killed_during_roll, 0, 3);
  tcase_add_test(tc, respawn_after_failed_spawn);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return th_run_suite(faults_suite());
}
