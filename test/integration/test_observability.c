/* /metrics on a real cluster: strict exposition, per-worker series that sum
 * to the merged ones, the lag rising while /debug/block spins a loop, and
 * the debug endpoint's own rules. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "prom.h"

static th_server_t srv;

static void scrape(prom_doc_t *d) {
  th_response_t r;
  th_request(srv.port, "GET", "/metrics", NULL, NULL, &r);
  TH_ASSERT(r.status == 200, "metrics status %d", r.status);
  const char *ct = th_header(&r, "Content-Type");
  TH_ASSERT(ct && strstr(ct, "text/plain") && strstr(ct, "version=0.0.4"),
            "content type %s", ct ? ct : "none");
  char err[256];
  int rc = prom_parse(r.body, r.body_len, d, err, sizeof(err));
  TH_ASSERT(rc == 0, "exposition refused: %s", err);
  th_response_free(&r);
}

static void get(const char *path, int want) {
  th_response_t r;
  th_request(srv.port, "GET", path, NULL, NULL, &r);
  TH_ASSERT(r.status == want, "%s: %d, want %d", path, r.status, want);
  th_response_free(&r);
}

START_TEST(strict_and_per_worker_sums) {
  for (int i = 1; i <= 30; i++) {
    char path[64];
    snprintf(path, sizeof(path), "/items/%d", i);
    get(path, 200);
  }
  get("/nope", 404);
  prom_doc_t d;
  scrape(&d);
  const char *items[] = {"route=/items/:id", "method=GET", "status=200", NULL};
  int m;
  double merged = prom_sum(&d, "http_requests_total", items, 0, &m);
  TH_ASSERT(m == 1 && merged >= 30, "merged item reads %g (%d series)", merged, m);
  double per = prom_sum(&d, "http_requests_total", items, 1, &m);
  TH_ASSERT(per == merged && m >= 1, "per-worker sum %g != merged %g", per, merged);
  /* Every merged counter equals the sum of its per-worker series. */
  for (int i = 0; i < d.n; i++) {
    prom_sample_t *s = &d.samples[i];
    if (strcmp(s->name, "http_requests_total") || prom_label(s, "worker"))
      continue;
    const char *w[] = {NULL, NULL, NULL, NULL};
    char a[160], b[160], c[160];
    snprintf(a, sizeof(a), "route=%s", prom_label(s, "route"));
    snprintf(b, sizeof(b), "method=%s", prom_label(s, "method"));
    snprintf(c, sizeof(c), "status=%s", prom_label(s, "status"));
    w[0] = a, w[1] = b, w[2] = c;
    TH_ASSERT(prom_sum(&d, s->name, w, 1, &m) == s->value, "%s %s %s: workers do not sum",
              a, b, c);
  }
  TH_ASSERT(prom_sum(&d, "looplab_workers", NULL, 0, &m) == 2, "two workers answered");
  TH_ASSERT(prom_sum(&d, "process_resident_memory_bytes", NULL, 0, &m) > 1e6, "rss");
  TH_ASSERT(prom_sum(&d, "looplab_db_pool_size", NULL, 0, &m) == 4,
            "2 workers x --pool 2");
  prom_free(&d);
}
END_TEST

/* Loop lag: while the loop spins 600 ms, a scrape taken afterwards shows a
 * max lag of at least most of it; p99 is never above max.
 * Run on one process (--workers 0): through the cluster, a worker's lag is
 * lost now and then when the scrape is answered by the other worker (seen
 * about 1 run in 5 right after integration/items; the worker's window was
 * reset by a snapshot that never reached the merge). That is an open bug,
 * recorded in docs/reliability.md, not a property this test may hide. */
START_TEST(lag_rises_while_blocked) {
  prom_doc_t d;
  th_server_stop(&srv, 5000);
  TH_ASSERT_CLEAN(&srv, "the 2-worker server");
  const char *args[] = {"--workers", "0", "--debug-endpoints", NULL};
  th_server_start(&srv, args);
  scrape(&d); /* starts a fresh window */
  prom_free(&d);
  get("/debug/block?ms=600", 200);
  scrape(&d);
  int m;
  double max = prom_sum(&d, "looplab_eventloop_lag_max_seconds", NULL, 0, &m);
  TH_ASSERT(max >= 0.5, "lag max %g after a 600 ms block", max);
  double p99 = prom_sum(&d, "looplab_eventloop_lag_p99_seconds", NULL, 0, &m);
  TH_ASSERT(p99 <= max + 1e-9, "p99 %g above max %g", p99, max);
  /* The window since the first scrape is mostly the 600 ms spin, so every
   * utilization series (merged and the process's own) must say busy. */
  double elu_min = 1;
  int elu_series = 0;
  for (int i = 0; i < d.n; i++)
    if (!strcmp(d.samples[i].name, "looplab_eventloop_utilization")) {
      double v = d.samples[i].value;
      TH_ASSERT(v >= 0 && v <= 1, "utilization %g out of [0,1]", v);
      elu_series++;
      if (v < elu_min)
        elu_min = v;
    }
  TH_ASSERT(elu_series >= 1, "no looplab_eventloop_utilization series");
  TH_ASSERT(elu_min >= 0.5, "utilization %g over a window spent mostly in a 600 ms spin",
            elu_min);
  prom_free(&d);
}
END_TEST

START_TEST(debug_block_rules) {
  get("/debug/block?ms=10001", 400);
  get("/debug/block?ms=abc", 400);
  get("/debug/block", 400);
  get("/debug/block?ms=0", 200);
  th_server_t plain;
  const char *args[] = {"--workers", "0", NULL};
  th_server_start(&plain, args);
  th_response_t r;
  th_request(plain.port, "GET", "/debug/block?ms=1", NULL, NULL, &r);
  TH_ASSERT(r.status == 404, "debug endpoint without the flag: %d", r.status);
  th_response_free(&r);
  th_request(plain.port, "GET", "/metrics", NULL, NULL, &r);
  TH_ASSERT(r.status == 200, "single-process metrics: %d", r.status);
  prom_doc_t d;
  char err[256];
  TH_ASSERT(prom_parse(r.body, r.body_len, &d, err, sizeof(err)) == 0, "%s", err);
  int m;
  TH_ASSERT(prom_sum(&d, "looplab_workers", NULL, 0, &m) == 1, "one process");
  prom_free(&d);
  th_response_free(&r);
  th_server_stop(&plain, 5000);
  TH_ASSERT_CLEAN(&plain, "single process");
}
END_TEST

static void setup(void) {
  const char *args[] = {"--workers", "2", "--pool", "2", "--debug-endpoints", NULL};
  th_server_start(&srv, args);
}

static void teardown(void) {
  th_server_stop(&srv, 5000);
  TH_ASSERT_CLEAN(&srv, "observability server");
}

int main(void) {
  Suite *s = suite_create("observability");
  TCase *tc = tcase_create("metrics");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, strict_and_per_worker_sums);
  tcase_add_test(tc, lag_rises_while_blocked);
  tcase_add_test(tc, debug_block_rules);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
