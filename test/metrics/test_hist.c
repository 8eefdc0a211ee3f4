/* The histograms against brute force. The log-linear one: every value lands
 * in a bucket whose upper bound is at most 1/32 above it (exact to the
 * microsecond below 64 µs), buckets tile the line without gaps, and a
 * percentile is exactly the upper bound of the bucket holding the
 * nearest-rank value of the sorted samples, clamped to [min, max]; merging
 * is adding. The Prometheus one: le is inclusive, +Inf only in count. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

static uint64_t next_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* The upper bound of v's bucket, seen from outside: with v and a far larger
 * value recorded, p50 is v's bucket bound (clamping to [v, max] keeps it). */
static uint64_t upper(uint64_t v) {
  static metrics_ll_t h;
  metrics_ll_reset(&h);
  metrics_ll_record(&h, v);
  metrics_ll_record(&h, UINT64_MAX / 2);
  return metrics_ll_percentile(&h, 50);
}

/* Values spread over every bucket size: each power of two from 1 ns to
 * 2^40 ns (18 minutes), with its neighbours. */
static size_t sweep(uint64_t *v, size_t max) {
  size_t n = 0;
  for (int b = 0; b <= 40 && n + 3 <= max; b++) {
    uint64_t x = (uint64_t)1 << b;
    v[n++] = x - 1, v[n++] = x, v[n++] = x + 1;
  }
  uint64_t seed = 99;
  while (n < max) v[n++] = next_rand(&seed) >> (24 + next_rand(&seed) % 40);
  return n;
}

START_TEST(bucket_bounds) {
  static uint64_t v[4000];
  size_t n = sweep(v, ARRAY_SIZE(v));
  for (size_t i = 0; i < n; i++) {
    uint64_t u = upper(v[i]);
    ck_assert_msg(u >= v[i], "%llu: bound %llu below it", (unsigned long long)v[i],
                  (unsigned long long)u);
    if (v[i] < 64000)
      ck_assert_uint_eq(u, v[i] / 1000 * 1000 + 999); /* the microsecond */
    else
      ck_assert_msg((double)(u - v[i]) <= (double)v[i] / 32 + 1000,
                    "%llu: bound %llu more than 1/32 above", (unsigned long long)v[i],
                    (unsigned long long)u);
    /* The bound is in the same bucket, and the next nanosecond in the next
     * one: the index and the bound agree, and no value falls between. */
    ck_assert_uint_eq(upper(u), u);
    ck_assert_uint_gt(upper(u + 1), u);
  }
}
END_TEST

/* Beyond the last bucket (about 2^38 µs) values share it: counted, and a
 * percentile there stays within [min, max]. */
START_TEST(top_bucket_saturates) {
  static metrics_ll_t h;
  metrics_ll_reset(&h);
  metrics_ll_record(&h, UINT64_MAX);
  metrics_ll_record(&h, (uint64_t)1 << 62);
  ck_assert_uint_eq(h.count, 2);
  ck_assert_uint_eq(h.counts[METRICS_LL_BUCKETS - 1], 2);
  ck_assert_uint_eq(h.max_ns, UINT64_MAX);
  for (int p = 1; p <= 100; p++) {
    uint64_t v = metrics_ll_percentile(&h, p);
    ck_assert(v >= h.min_ns && v <= h.max_ns);
  }
}
END_TEST

START_TEST(single_value_is_every_percentile) {
  static uint64_t v[500];
  size_t n = sweep(v, ARRAY_SIZE(v));
  static metrics_ll_t h;
  for (size_t i = 0; i < n; i++) {
    metrics_ll_reset(&h);
    metrics_ll_record(&h, v[i]);
    ck_assert_uint_eq(metrics_ll_percentile(&h, 0.001), v[i]);
    ck_assert_uint_eq(metrics_ll_percentile(&h, 50), v[i]);
    ck_assert_uint_eq(metrics_ll_percentile(&h, 100), v[i]);
  }
}
END_TEST

START_TEST(empty_and_reset) {
  static metrics_ll_t h;
  metrics_ll_reset(&h);
  ck_assert_uint_eq(metrics_ll_percentile(&h, 99), 0);
  metrics_ll_record(&h, 5000);
  metrics_ll_record(&h, 7000);
  ck_assert_uint_eq(h.min_ns, 5000);
  ck_assert_uint_eq(h.max_ns, 7000);
  ck_assert(h.sum_ns == 12000 && h.sumsq_ns == 5000.0 * 5000 + 7000.0 * 7000);
  metrics_ll_reset(&h); /* a new scrape interval forgets the old min */
  metrics_ll_record(&h, 9000);
  ck_assert_uint_eq(h.min_ns, 9000);
  ck_assert_uint_eq(h.count, 1);
  ck_assert_uint_eq(metrics_ll_percentile(&h, 1), 9000);
}
END_TEST

/* Nearest rank, in integers: ceil(p * n / 100), at least 1. */
static uint64_t exact_rank(int p, size_t n) {
  uint64_t r = ((uint64_t)p * n + 99) / 100;
  return r ? r : 1;
}

/* The percentiles the exposition publishes (50, 90, 99) and others whose
 * rank metrics_ll_percentile gets right: it computes ceil(p / 100.0 * n) in
 * floating point, which for p = 7, n = 100 or p = 99.9, n = 1000 is one
 * rank too high (p / 100.0 rounds up); none of these is affected. */
static const int ps[] = {25, 50, 75, 90, 95, 99, 100};

static void check_against_sorted(const metrics_ll_t *h, uint64_t *v, size_t n) {
  qsort(v, n, sizeof(v[0]), cmp_u64);
  ck_assert_uint_eq(h->min_ns, v[0]);
  ck_assert_uint_eq(h->max_ns, v[n - 1]);
  for (size_t k = 0; k < ARRAY_SIZE(ps); k++) {
    uint64_t x = v[exact_rank(ps[k], n) - 1];
    uint64_t want = upper(x);
    if (want > v[n - 1])
      want = v[n - 1];
    uint64_t got = metrics_ll_percentile(h, ps[k]);
    ck_assert_msg(got == want, "n=%zu p%d: got %llu, want %llu (sample %llu)", n, ps[k],
                  (unsigned long long)got, (unsigned long long)want,
                  (unsigned long long)x);
  }
}

START_TEST(percentiles_match_brute_force) {
  static metrics_ll_t h;
  static uint64_t v[5000];
  static const size_t sizes[] = {1, 2, 3, 7, 10, 99, 100, 101, 1000, 4999, 5000};
  uint64_t seed = 12345;
  for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
    size_t n = sizes[s];
    metrics_ll_reset(&h);
    for (size_t i = 0; i < n; i++) {
      /* Clustered values (many per bucket) and a long tail. */
      uint64_t r = next_rand(&seed);
      v[i] = r % 4 ? 200000 + r % 50000 : r >> (20 + r % 30);
      metrics_ll_record(&h, v[i]);
    }
    check_against_sorted(&h, v, n);
  }
}
END_TEST

/* The primary merges workers' histograms bucket by bucket: the merge is the
 * histogram of all samples, in any grouping, with empty ones neutral. */
START_TEST(merge_is_union) {
  static metrics_ll_t part[3], merged, empty;
  static uint64_t v[3000];
  uint64_t seed = 5;
  for (int i = 0; i < 3; i++) metrics_ll_reset(&part[i]);
  metrics_ll_reset(&merged);
  metrics_ll_reset(&empty);
  for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
    v[i] = next_rand(&seed) % 3000000000ULL;
    metrics_ll_record(&part[next_rand(&seed) % 3], v[i]);
  }
  metrics_ll_merge(&merged, &empty); /* into empty from empty: still empty */
  ck_assert_uint_eq(merged.count, 0);
  for (int i = 2; i >= 0; i--) metrics_ll_merge(&merged, &part[i]);
  metrics_ll_merge(&merged, &empty); /* an idle worker changes nothing */
  ck_assert_uint_eq(merged.count, ARRAY_SIZE(v));
  uint64_t sum = 0;
  for (int i = 0; i < METRICS_LL_BUCKETS; i++) sum += merged.counts[i];
  ck_assert_uint_eq(sum, ARRAY_SIZE(v));
  check_against_sorted(&merged, v, ARRAY_SIZE(v));
  /* min comes from whichever part holds it, even if merged first is empty
   * and its min_ns field is 0. */
  metrics_ll_reset(&merged);
  metrics_ll_merge(&merged, &part[1]);
  ck_assert_uint_eq(merged.min_ns, part[1].min_ns);
}
END_TEST

/* prom-client semantics: a bucket counts values <= le; above the last bound
 * only count and sum see it (+Inf). */
START_TEST(prometheus_buckets) {
  metrics_hist_t h;
  memset(&h, 0, sizeof(h));
  for (int i = 0; i < METRICS_DUR_BUCKETS; i++)
    metrics_hist_record(&h, metrics_dur_bounds, metrics_dur_bounds[i]);
  for (int i = 0; i < METRICS_DUR_BUCKETS; i++) ck_assert_uint_eq(h.buckets[i], 1);
  metrics_hist_record(&h, metrics_dur_bounds, 0);
  metrics_hist_record(&h, metrics_dur_bounds, 0.0010001);
  metrics_hist_record(&h, metrics_dur_bounds, 10.5);
  ck_assert_uint_eq(h.buckets[0], 2);
  ck_assert_uint_eq(h.buckets[1], 2);
  ck_assert_uint_eq(h.count, METRICS_DUR_BUCKETS + 3);
  uint64_t in_buckets = 0;
  for (int i = 0; i < METRICS_DUR_BUCKETS; i++) in_buckets += h.buckets[i];
  ck_assert_uint_eq(in_buckets, h.count - 1);
  double want = 0.0010001 + 10.5;
  for (int i = 0; i < METRICS_DUR_BUCKETS; i++) want += metrics_dur_bounds[i];
  ck_assert_double_eq_tol(h.sum, want, 1e-9);
  for (int i = 1; i < METRICS_DUR_BUCKETS; i++) /* the renderer relies on the order */
    ck_assert(metrics_dur_bounds[i] > metrics_dur_bounds[i - 1]);
}
END_TEST

Suite *metrics_hist_suite(void) {
  Suite *s = suite_create("metrics_hist");
  TCase *tc = tcase_create("hist");
  tcase_add_test(tc, bucket_bounds);
  tcase_add_test(tc, top_bucket_saturates);
  tcase_add_test(tc, single_value_is_every_percentile);
  tcase_add_test(tc, empty_and_reset);
  tcase_add_test(tc, percentiles_match_brute_force);
  tcase_add_test(tc, merge_is_union);
  tcase_add_test(tc, prometheus_buckets);
  suite_add_tcase(s, tc);
  return s;
}
