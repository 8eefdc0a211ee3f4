/* Kubernetes and load balancers (issue 12, point 4): --drain-delay and the
 * probes' verbose text form.
 * - SIGTERM with --drain-delay: for the delay the server keeps accepting
 *   new connections and answering them (keep-alive too), /readyz says 503,
 *   /livez 200; then it drains and exits 0, not before the delay. Both
 *   with a primary and workers and as a single process.
 * - /livez?verbose and /readyz?verbose in the Kubernetes API server's
 *   form: "[+]name ok" / "[-]name failed: reason" lines, then "<probe>
 *   check passed|failed", 200 or 503. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define DELAY_MS 800

static void get(int port, const char *path, int want, const char *body) {
  th_response_t r;
  th_request(port, "GET", path, NULL, NULL, &r);
  TH_ASSERT(r.status == want, "%s: %d, want %d (%s)", path, r.status, want, r.body);
  if (body)
    TH_ASSERT(strcmp(r.body, body) == 0, "%s: body\n%s\nwant\n%s", path, r.body, body);
  th_response_free(&r);
}

static void delay_serves_then_drains(const char *workers) {
  char delay[16];
  snprintf(delay, sizeof(delay), "%d", DELAY_MS);
  const char *args[] = {"--workers",     workers, "--pool", "2",
                        "--drain-delay", delay,   NULL};
  th_server_t s;
  th_server_start(&s, args);
  get(s.port, "/readyz", 200, NULL);
  th_conn_t *kept = th_conn_open(s.port); /* a keep-alive client from before */
  th_response_t r;
  TH_ASSERT(th_conn_request(kept, "GET", "/items/1", NULL, NULL, &r, 5000) == TH_OK &&
                r.status == 200,
            "before the signal");
  th_response_free(&r);
  int64_t t0 = th_now_ms();
  th_server_signal(&s, SIGTERM);
  th_sleep_ms(150);
  /* During the delay: not ready, everything else served, new connections
   * accepted, the old one kept open. */
  get(s.port, "/readyz", 503, NULL);
  get(s.port, "/readyz?verbose", 503,
      "[+]ping ok\n[-]shutdown failed: draining\n"
      "[-]database failed: not checked while draining\nreadyz check failed\n");
  get(s.port, "/livez", 200, NULL);
  int served = 0;
  while (th_now_ms() - t0 < DELAY_MS - 200) {
    get(s.port, "/items/2", 200, NULL);
    TH_ASSERT(th_conn_request(kept, "GET", "/items/3", NULL, NULL, &r, 5000) == TH_OK &&
                  r.status == 200 && !th_conn_close_hdr(&r),
              "the kept connection during the delay");
    th_response_free(&r);
    served++;
    th_sleep_ms(20);
  }
  TH_ASSERT(served > 3, "only %d requests during the delay", served);
  int status = 0;
  TH_ASSERT(!th_server_wait_exit(&s, DELAY_MS - (int)(th_now_ms() - t0) - 50, &status),
            "exited before --drain-delay was over");
  TH_ASSERT(th_server_wait_exit(&s, th_scale(10000), &status), "no exit after the delay");
  int64_t took = th_now_ms() - t0;
  fprintf(stderr,
          "k8s --workers %s: %d requests during the %d ms delay, exit after %lld ms\n",
          workers, served, DELAY_MS, (long long)took);
  TH_ASSERT(took >= DELAY_MS, "exited %lld ms after SIGTERM", (long long)took);
  th_conn_close(kept);
  th_server_stop(&s, 5000);
  TH_ASSERT_CLEAN(&s, "drain-delay");
}

START_TEST(drain_delay_cluster) {
  delay_serves_then_drains("2");
}
END_TEST

START_TEST(drain_delay_single) {
  delay_serves_then_drains("0");
}
END_TEST

START_TEST(verbose_probes) {
  const char *args[] = {"--workers", "0", "--pool", "1", NULL};
  th_server_t s;
  th_server_start(&s, args);
  get(s.port, "/livez?verbose", 200, "[+]ping ok\nlivez check passed\n");
  get(s.port, "/readyz?verbose", 200,
      "[+]ping ok\n[+]shutdown ok\n[+]database ok\nreadyz check passed\n");
  get(s.port, "/readyz", 200, "{\"status\":\"ok\"}");
  th_server_stop(&s, 5000);
  TH_ASSERT_CLEAN(&s, "verbose probes");

  /* A database that is not there. */
  char dir[] = "/tmp/looplab-k8s-nopg-XXXXXX";
  TH_ASSERT(mkdtemp(dir) != NULL, "mkdtemp");
  char db[128];
  snprintf(db, sizeof(db), "host=%s port=5432 dbname=x user=postgres", dir);
  const char *down[] = {"--workers", "0", "--db", db, NULL};
  th_server_start_ex(&s, down, TH_NO_DB | TH_WAIT_LIVE);
  int st = 0;
  for (int i = 0; i < 100 && (st = th_get_status(s.port, "/livez", 200)) != 200; i++)
    th_sleep_ms(50);
  TH_ASSERT(st == 200, "livez with the database down: %d", st);
  get(s.port, "/readyz?verbose", 503,
      "[+]ping ok\n[+]shutdown ok\n[-]database failed: database unavailable\n"
      "readyz check failed\n");
  th_server_stop(&s, 5000);
  TH_ASSERT_CLEAN(&s, "database down");
  rmdir(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("k8s");
  TCase *tc = tcase_create("k8s");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, drain_delay_cluster);
  tcase_add_test(tc, drain_delay_single);
  tcase_add_test(tc, verbose_probes);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
