/* Metrics: the log-linear histogram against exact percentiles, merging by
 * buckets, and the exposition checked by the strict parser (which must
 * itself refuse bad input). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "prom.h"

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t next_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

START_TEST(percentiles_within_precision) {
  static metrics_ll_t h;
  metrics_ll_reset(&h);
  enum { N = 20000 };
  static uint64_t v[N];
  uint64_t seed = 42;
  for (int i = 0; i < N; i++) {
    /* log-uniform from 1 µs to 10 s */
    double e = (double)(next_rand(&seed) % 1000000) / 1000000.0 * 7.0;
    v[i] = (uint64_t)(1000.0 * pow(10.0, e));
    metrics_ll_record(&h, v[i]);
  }
  qsort(v, N, sizeof(v[0]), cmp_u64);
  double ps[] = {50, 90, 99, 99.9};
  for (int k = 0; k < 4; k++) {
    uint64_t exact = v[(size_t)((ps[k] / 100.0) * N + 0.999999) - 1];
    uint64_t got = metrics_ll_percentile(&h, ps[k]);
    double err = (double)got / (double)exact - 1;
    ck_assert_msg(err > -0.001 && err < 0.035, "p%g: got %llu, exact %llu", ps[k],
                  (unsigned long long)got, (unsigned long long)exact);
  }
  ck_assert(h.min_ns == v[0] && h.max_ns == v[N - 1]);
}
END_TEST

START_TEST(merge_equals_combined) {
  static metrics_ll_t a, b, all;
  metrics_ll_reset(&a), metrics_ll_reset(&b), metrics_ll_reset(&all);
  uint64_t seed = 7;
  for (int i = 0; i < 5000; i++) {
    uint64_t x = next_rand(&seed) % 50000000;
    metrics_ll_record(i % 3 ? &a : &b, x);
    metrics_ll_record(&all, x);
  }
  metrics_ll_merge(&a, &b);
  ck_assert(memcmp(a.counts, all.counts, sizeof(a.counts)) == 0);
  ck_assert(a.count == all.count && a.min_ns == all.min_ns && a.max_ns == all.max_ns);
  ck_assert(metrics_ll_percentile(&a, 99) == metrics_ll_percentile(&all, 99));
}
END_TEST

static void render(core_buf_t *b, const metrics_snap_t *const *snaps, int n,
                   const metrics_snap_t *prim, const char *const *routes, int by_worker,
                   int node, prom_doc_t *d) {
  metrics_view_t view = {by_worker, node, "version=\"0.1.0\",workers=\"2\""};
  core_buf_reset(b);
  metrics_render(b, snaps, n, prim, routes, 3, &view);
  char err[256];
  ck_assert_msg(prom_parse(b->data, b->len, d, err, sizeof(err)) == 0, "%s", err);
}

/* The merged view has no worker label anywhere, the per-worker view none
 * without one (but looplab_info and looplab_workers), and each family of
 * the second sums to the first's. */
START_TEST(render_parses_and_sums) {
  static metrics_snap_t s1, s2, prim;
  static metrics_dur_index_t ix1, ix2;
  memset(&s1, 0, sizeof(s1)), memset(&s2, 0, sizeof(s2)), memset(&prim, 0, sizeof(prim));
  memset(ix1, 0, sizeof(ix1)), memset(ix2, 0, sizeof(ix2));
  s1.worker = 1, s2.worker = 2;
  s1.requests[1][0][metrics_status_slot(200)] = 5;
  s2.requests[1][0][metrics_status_slot(200)] = 7;
  s2.requests[2][2][metrics_status_slot(404)] = 1;
  s2.requests[0][0][metrics_status_slot(299)] = 1; /* an unknown code */
  for (int i = 0; i < 5; i++)
    metrics_duration_record(&s1, ix1, 1, 0, metrics_status_slot(200), 0.002 * i);
  metrics_duration_record(&s2, ix2, 1, 0, metrics_status_slot(200), 0.5);
  metrics_duration_record(&s2, ix2, 2, 2, metrics_status_slot(404), 0.001);
  metrics_ll_record(&s1.lag, 1000000), metrics_ll_record(&s2.lag, 300000000);
  s1.rss_bytes = 100, s2.rss_bytes = 200, prim.rss_bytes = 50;
  s1.open_fds = 10, s2.open_fds = 11, prim.open_fds = 5;
  prim.max_fds = s1.max_fds = s2.max_fds = 1024;
  prim.start_time_s = 1000, s1.start_time_s = s2.start_time_s = 1001;
  const metrics_snap_t *snaps[] = {&s1, &s2};
  const char *routes[] = {NULL, "/items/:id", "/items"};
  core_buf_t b;
  core_buf_init(&b);
  prom_doc_t d, pw;
  render(&b, snaps, 2, &prim, routes, 0, 0, &d);
  render(&b, snaps, 2, &prim, routes, 1, 0, &pw);
  for (int i = 0; i < d.n; i++)
    ck_assert_msg(prom_label(&d.samples[i], "worker") == NULL,
                  "merged view: %s has a worker", d.samples[i].name);
  for (int i = 0; i < pw.n; i++)
    ck_assert_msg(prom_label(&pw.samples[i], "worker") != NULL ||
                      !strcmp(pw.samples[i].name, "looplab_info") ||
                      !strcmp(pw.samples[i].name, "looplab_workers"),
                  "per-worker view: %s without a worker", pw.samples[i].name);
  const char *w[] = {"route=/items/:id", "status_code=200", "method=GET", NULL};
  int m1, m2;
  double merged = prom_sum(&d, "http_requests_total", w, 0, &m1);
  double per = prom_sum(&pw, "http_requests_total", w, 1, &m2);
  ck_assert(m1 == 1 && m2 == 2 && merged == 12 && per == 12);
  const char *other[] = {"status_code=other", NULL};
  ck_assert(prom_sum(&d, "http_requests_total", other, 0, &m1) == 1);
  ck_assert(prom_sum(&d, "process_resident_memory_bytes", NULL, 0, &m1) == 350);
  ck_assert(prom_sum(&d, "process_open_fds", NULL, 0, &m1) == 26);
  ck_assert(prom_sum(&d, "process_max_fds", NULL, 0, &m1) == 1024);
  ck_assert(prom_sum(&d, "process_start_time_seconds", NULL, 0, &m1) == 1000);
  ck_assert(prom_sum(&d, "looplab_eventloop_lag_max_seconds", NULL, 0, &m1) > 0.29);
  ck_assert(prom_sum(&d, "looplab_info", NULL, 0, &m1) == 1 && m1 == 1);
  /* durations by method, route and status, merged over the workers */
  ck_assert(prom_sum(&d, "http_request_duration_seconds_count", w, 0, &m1) == 6 &&
            m1 == 1);
  ck_assert(prom_sum(&pw, "http_request_duration_seconds_count", w, 1, &m2) == 6 &&
            m2 == 2);
  const char *nf[] = {"route=/items", "status_code=404", "method=POST", NULL};
  ck_assert(prom_sum(&d, "http_request_duration_seconds_count", nf, 0, &m1) == 1);
  ck_assert(prom_sum(&d, "nodejs_eventloop_lag_p99_seconds", NULL, 0, &m1) == 0 &&
            m1 == 0);
  prom_free(&d);
  prom_free(&pw);
  render(&b, snaps, 2, &prim, routes, 0, 1, &d);
  ck_assert(prom_sum(&d, "nodejs_eventloop_lag_max_seconds", NULL, 0, &m1) > 0.29 &&
            m1 == 1);
  ck_assert(prom_sum(&d, "nodejs_eventloop_lag_seconds", NULL, 0, &m1) > 0 && m1 == 1);
  prom_free(&d);
  core_buf_free(&b);
}
END_TEST

/* Past METRICS_DUR_SERIES combinations the rest share the overflow series. */
START_TEST(duration_series_overflow) {
  static metrics_snap_t s;
  static metrics_dur_index_t ix;
  memset(&s, 0, sizeof(s)), memset(ix, 0, sizeof(ix));
  for (int r = 0; r < METRICS_ROUTES; r++)
    for (int m = 0; m < 4; m++) metrics_duration_record(&s, ix, r, m, 1, 0.001);
  uint64_t total = 0;
  for (int k = 0; k < METRICS_DUR_SERIES; k++) {
    ck_assert(s.duration[k].used);
    total += s.duration[k].h.count;
  }
  ck_assert_uint_eq(total, METRICS_ROUTES * 4);
  ck_assert_uint_eq(s.duration[METRICS_DUR_SERIES - 1].h.count,
                    METRICS_ROUTES * 4 - (METRICS_DUR_SERIES - 1));
  ck_assert_uint_eq(s.duration[METRICS_DUR_SERIES - 1].method, METRICS_METHODS - 1);
}
END_TEST

static const char *bad_docs[] = {
    "x 1\n", /* no TYPE */
    "# TYPE x counter\nx 1\n# TYPE y gauge\ny 1\n# TYPE x counter\nx{a=\"1\"} "
    "2\n",                          /* split
                                     */
    "# TYPE x counter\nx 1\nx 2\n", /* duplicate series */
    "# TYPE x counter\nx{a=1} 1\n", /* unquoted label */
    "# TYPE x counter\nx -1\n",     /* negative counter */
    "# TYPE x gauge\nx abc\n",      /* bad value */
    "# TYPE x gauge\nx 1",          /* no final newline */
    "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum "
    "1\nh_count "
    "1\n",
    "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum "
    "1\nh_count "
    "3\n",
    "# TYPE x gauge\n# TYPE x gauge\nx 1\n",  /* second TYPE */
    "# TYPE 1x gauge\n1x 1\n",                /* bad name */
    "# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n", /* duplicate label */
};

START_TEST(parser_refuses) {
  prom_doc_t d;
  char err[256];
  const char *t = bad_docs[_i];
  ck_assert_msg(prom_parse(t, strlen(t), &d, err, sizeof(err)) != 0, "accepted: %s", t);
  prom_free(&d);
}
END_TEST

Suite *metrics_render_suite(void) {
  Suite *s = suite_create("metrics_render");
  TCase *tc = tcase_create("metrics");
  tcase_add_test(tc, percentiles_within_precision);
  tcase_add_test(tc, merge_equals_combined);
  tcase_add_test(tc, render_parses_and_sums);
  tcase_add_test(tc, duration_series_overflow);
  tcase_add_loop_test(tc, parser_refuses, 0,
                      (int)(sizeof(bad_docs) / sizeof(bad_docs[0])));
  suite_add_tcase(s, tc);
  return s;
}
