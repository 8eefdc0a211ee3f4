/* The recorder against the truth: exact percentiles of random data, kept
 * sorted, must agree to within the configured 3 significant digits. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <uv.h>

#include "hist.h"
#include "load.h"

#define N 200000

static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* Log-uniform over 1 µs .. 60 s, the shape of real latencies: every
 * bucket of the recorder gets exercised. */
static int64_t random_latency(void) {
  double u = (double)(next() >> 11) / 9007199254740992.0;
  return (int64_t)exp(u * log(60e6));
}

static int cmp(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int64_t exact(const int64_t *sorted, size_t n, double p) {
  size_t rank = (size_t)ceil(p / 100.0 * (double)n);
  return sorted[rank ? rank - 1 : 0];
}

START_TEST(percentiles_match_exact_within_3_digits) {
  static const double ps[] = {0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};
  int64_t *v = malloc(sizeof(*v) * N);
  hist_t h;
  double sum = 0;

  ck_assert_int_eq(hist_init(&h, 1, LOAD_HIST_MAX_US, 3), 0);
  for (size_t i = 0; i < N; i++) {
    v[i] = random_latency();
    sum += (double)v[i];
    hist_record(&h, v[i]);
  }
  qsort(v, N, sizeof(*v), cmp);
  ck_assert_uint_eq(h.total, N);
  ck_assert_int_eq(h.min, v[0]);
  ck_assert_int_eq(h.max, v[N - 1]);
  ck_assert(fabs(hist_mean(&h) - sum / N) < 1e-6 * sum / N);
  for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
    int64_t want = exact(v, N, ps[i]), got = hist_percentile(&h, ps[i]);
    /* Never below the truth, and above it by less than one part in 1000. */
    ck_assert_msg(got >= want && (double)(got - want) <= (double)want / 1000.0 + 1,
                  "p(%g): exact %lld, recorded %lld", ps[i], (long long)want,
                  (long long)got);
  }
  hist_free(&h);
  free(v);
}
END_TEST

START_TEST(small_values_are_exact) {
  hist_t h;
  ck_assert_int_eq(hist_init(&h, 1, LOAD_HIST_MAX_US, 3), 0);
  /* Below 2048 every integer has its own counter. */
  for (int64_t i = 0; i < 2048; i++) {
    ck_assert_int_eq(hist_lowest_equivalent(&h, i), i);
    ck_assert_int_eq(hist_highest_equivalent(&h, i), i);
  }
  hist_record(&h, 7);
  hist_record(&h, 3);
  hist_record(&h, 5);
  ck_assert_int_eq(hist_percentile(&h, 50), 5);
  ck_assert_int_eq(hist_percentile(&h, 0), 3);
  ck_assert_int_eq(hist_percentile(&h, 100), 7);
  hist_free(&h);
}
END_TEST

START_TEST(equivalent_ranges_bracket_and_stay_narrow) {
  hist_t h;
  ck_assert_int_eq(hist_init(&h, 1, LOAD_HIST_MAX_US, 3), 0);
  for (int i = 0; i < 100000; i++) {
    int64_t v = random_latency();
    int64_t lo = hist_lowest_equivalent(&h, v), hi = hist_highest_equivalent(&h, v);
    ck_assert(lo <= v && v <= hi);
    ck_assert((double)(hi - lo) <= (double)v / 1000.0);
  }
  hist_free(&h);
}
END_TEST

START_TEST(merge_equals_recording_together) {
  hist_t all, a, b, other;
  ck_assert_int_eq(hist_init(&all, 1, LOAD_HIST_MAX_US, 3), 0);
  ck_assert_int_eq(hist_init(&a, 1, LOAD_HIST_MAX_US, 3), 0);
  ck_assert_int_eq(hist_init(&b, 1, LOAD_HIST_MAX_US, 3), 0);
  ck_assert_int_eq(hist_init(&other, 1, 1000, 3), 0);
  for (int i = 0; i < 50000; i++) {
    int64_t v = random_latency();
    hist_record(&all, v);
    hist_record(i % 3 ? &a : &b, v);
  }
  ck_assert_int_eq(hist_merge(&a, &b), 0);
  ck_assert_uint_eq(a.total, all.total);
  ck_assert_int_eq(a.min, all.min);
  ck_assert_int_eq(a.max, all.max);
  for (double p = 0; p <= 100; p += 0.5)
    ck_assert_int_eq(hist_percentile(&a, p), hist_percentile(&all, p));
  ck_assert_int_eq(hist_merge(&a, &other), UV_EINVAL);
  hist_reset(&a);
  ck_assert_uint_eq(a.total, 0);
  ck_assert_int_eq(hist_percentile(&a, 99), 0);
  hist_free(&all);
  hist_free(&a);
  hist_free(&b);
  hist_free(&other);
}
END_TEST

START_TEST(values_past_the_range_clamp_but_max_is_exact) {
  hist_t h, bad;
  ck_assert_int_eq(hist_init(&h, 1, LOAD_HIST_MAX_US, 3), 0);
  hist_record(&h, 120000000); /* 2 minutes */
  hist_record(&h, -5);        /* clock went backwards: counts as 0 */
  ck_assert_int_eq(h.max, 120000000);
  ck_assert_int_eq(h.min, 0);
  ck_assert(hist_percentile(&h, 100) >= LOAD_HIST_MAX_US);
  ck_assert_int_eq(hist_init(&bad, 0, 10, 3), UV_EINVAL);
  ck_assert_int_eq(hist_init(&bad, 1, 1000, 6), UV_EINVAL);
  hist_free(&h);
}
END_TEST

START_TEST(spectrum_is_monotonic_and_ends_at_max) {
  hist_t h;
  double pct[256];
  int64_t val[256];
  size_t n;

  ck_assert_int_eq(hist_init(&h, 1, LOAD_HIST_MAX_US, 3), 0);
  for (int i = 0; i < 10000; i++) hist_record(&h, random_latency());
  n = hist_spectrum(&h, 5, pct, val, 256);
  ck_assert(n > 20);
  ck_assert(pct[0] == 0 && pct[1] == 10 && pct[5] == 50 && pct[6] == 55);
  for (size_t i = 1; i < n; i++) {
    ck_assert(pct[i] > pct[i - 1]);
    ck_assert(val[i] >= val[i - 1]);
  }
  ck_assert(pct[n - 1] == 100);
  ck_assert_int_eq(val[n - 1], h.max);
  hist_free(&h);
}
END_TEST

Suite *loadgen_hist_suite(void) {
  Suite *s = suite_create("loadgen_hist");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, percentiles_match_exact_within_3_digits);
  tcase_add_test(tc, small_values_are_exact);
  tcase_add_test(tc, equivalent_ranges_bracket_and_stay_narrow);
  tcase_add_test(tc, merge_equals_recording_together);
  tcase_add_test(tc, values_past_the_range_clamp_but_max_is_exact);
  tcase_add_test(tc, spectrum_is_monotonic_and_ends_at_max);
  suite_add_tcase(s, tc);
  return s;
}
