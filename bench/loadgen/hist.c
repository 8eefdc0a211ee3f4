/* The layout is HdrHistogram's: bucket 0 holds sub_bucket_count values at
 * the finest resolution, and each further bucket covers twice the range of
 * the previous one at half the resolution, reusing only its upper half
 * (the lower half is already covered by the buckets before it). So an
 * index is a shift and a mask away from any value. */
#include "hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static int pow2ceil_bits(int64_t v) {
  /* Bits needed to represent v (v >= 1). */
  return 64 - __builtin_clzll((unsigned long long)v);
}

int hist_init(hist_t *h, int64_t lowest, int64_t highest, int digits) {
  int64_t largest_single_unit, smallest_untrackable;
  int32_t buckets;

  memset(h, 0, sizeof(*h));
  if (lowest < 1 || digits < 1 || digits > 5 || highest < 2 * lowest)
    return UV_EINVAL;

  /* Enough sub-buckets that one unit step at the top of bucket 0 is within
   * 10^-digits of its value. */
  largest_single_unit = 2;
  for (int i = 0; i < digits; i++) largest_single_unit *= 10;
  h->sub_bucket_count = 1 << pow2ceil_bits(largest_single_unit - 1);
  h->sub_bucket_half_count_magnitude = pow2ceil_bits(h->sub_bucket_count) - 2;
  h->sub_bucket_half_count = h->sub_bucket_count / 2;
  h->unit_magnitude = pow2ceil_bits(lowest) - 1;
  h->sub_bucket_mask = ((int64_t)h->sub_bucket_count - 1) << h->unit_magnitude;

  smallest_untrackable = (int64_t)h->sub_bucket_count << h->unit_magnitude;
  buckets = 1;
  while (smallest_untrackable <= highest) {
    if (smallest_untrackable > INT64_MAX / 2) {
      buckets++;
      break;
    }
    smallest_untrackable <<= 1;
    buckets++;
  }
  h->bucket_count = buckets;
  h->counts_len = (buckets + 1) * h->sub_bucket_half_count;
  h->counts = calloc((size_t)h->counts_len, sizeof(*h->counts));
  if (h->counts == NULL)
    abort(); /* Out of memory is fatal (STYLE.md). */
  h->lowest = lowest;
  h->highest = highest;
  h->digits = digits;
  h->min = INT64_MAX;
  return 0;
}

void hist_free(hist_t *h) {
  free(h->counts);
  h->counts = NULL;
}

void hist_reset(hist_t *h) {
  memset(h->counts, 0, (size_t)h->counts_len * sizeof(*h->counts));
  h->total = 0;
  h->min = INT64_MAX;
  h->max = 0;
  h->sum = 0;
}

static int32_t bucket_of(const hist_t *h, int64_t v) {
  return pow2ceil_bits(v | h->sub_bucket_mask) - h->unit_magnitude -
         (h->sub_bucket_half_count_magnitude + 1);
}

static int32_t index_of(const hist_t *h, int64_t v) {
  int32_t b = bucket_of(h, v);
  int32_t sub = (int32_t)(v >> (b + h->unit_magnitude));
  return ((b + 1) << h->sub_bucket_half_count_magnitude) +
         (sub - h->sub_bucket_half_count);
}

static int64_t value_at_index(const hist_t *h, int32_t index) {
  int32_t b = (index >> h->sub_bucket_half_count_magnitude) - 1;
  int32_t sub = (index & (h->sub_bucket_half_count - 1)) + h->sub_bucket_half_count;
  if (b < 0) {
    sub -= h->sub_bucket_half_count;
    b = 0;
  }
  return (int64_t)sub << (b + h->unit_magnitude);
}

static int64_t range_of(const hist_t *h, int64_t v) {
  int32_t b = bucket_of(h, v);
  int32_t sub = (int32_t)(v >> (b + h->unit_magnitude));
  int adjusted = sub >= h->sub_bucket_count ? b + 1 : b;
  return (int64_t)1 << (h->unit_magnitude + adjusted);
}

int64_t hist_lowest_equivalent(const hist_t *h, int64_t v) {
  int32_t b = bucket_of(h, v);
  int32_t sub = (int32_t)(v >> (b + h->unit_magnitude));
  return (int64_t)sub << (b + h->unit_magnitude);
}

int64_t hist_highest_equivalent(const hist_t *h, int64_t v) {
  return hist_lowest_equivalent(h, v) + range_of(h, v) - 1;
}

void hist_record_n(hist_t *h, int64_t value, uint64_t n) {
  int64_t v = value < 0 ? 0 : value;

  if (v < h->min)
    h->min = v;
  if (v > h->max)
    h->max = v;
  h->sum += (double)v * (double)n;
  h->total += n;
  if (v > h->highest)
    v = h->highest;
  h->counts[index_of(h, v)] += n;
}

void hist_record(hist_t *h, int64_t value) {
  hist_record_n(h, value, 1);
}

int hist_merge(hist_t *dst, const hist_t *src) {
  if (dst->lowest != src->lowest || dst->highest != src->highest ||
      dst->digits != src->digits)
    return UV_EINVAL;
  for (int32_t i = 0; i < dst->counts_len; i++) dst->counts[i] += src->counts[i];
  dst->total += src->total;
  dst->sum += src->sum;
  if (src->min < dst->min)
    dst->min = src->min;
  if (src->max > dst->max)
    dst->max = src->max;
  return 0;
}

int64_t hist_percentile(const hist_t *h, double p) {
  uint64_t want, seen = 0;
  int64_t v;

  if (h->total == 0)
    return 0;
  if (p <= 0)
    return h->min;
  if (p > 100)
    p = 100;
  /* The rank of the p-th percentile, nearest-rank style: at least 1. */
  want = (uint64_t)ceil(p / 100.0 * (double)h->total);
  if (want < 1)
    want = 1;
  for (int32_t i = 0; i < h->counts_len; i++) {
    seen += h->counts[i];
    if (seen >= want) {
      v = hist_highest_equivalent(h, value_at_index(h, i));
      if (v > h->max)
        v = h->max;
      if (v < h->min)
        v = h->min;
      return v;
    }
  }
  return h->max;
}

double hist_mean(const hist_t *h) {
  return h->total ? h->sum / (double)h->total : 0;
}

double hist_stddev(const hist_t *h) {
  /* From the buckets (their midpoints), as HdrHistogram does: the exact
   * sum of squares would overflow a double's precision long before. */
  double mean = hist_mean(h), acc = 0;

  if (h->total == 0)
    return 0;
  for (int32_t i = 0; i < h->counts_len; i++) {
    if (h->counts[i] == 0)
      continue;
    int64_t lo = value_at_index(h, i);
    double mid = (double)lo + (double)(range_of(h, lo) - 1) / 2.0;
    double d = mid - mean;
    acc += d * d * (double)h->counts[i];
  }
  return sqrt(acc / (double)h->total);
}

size_t hist_spectrum(const hist_t *h, int ticks, double *pct, int64_t *val, size_t cap) {
  size_t n = 0;
  double last = h->total > 1 ? 100.0 * (1.0 - 1.0 / (double)h->total) : 0;

  if (ticks < 1)
    ticks = 1;
  for (int level = 0; level < 60 && n < cap; level++) {
    double base = 100.0 * (1.0 - ldexp(1.0, -level));
    double step = 100.0 * ldexp(1.0, -level) / 2.0 / ticks;
    if (base > last)
      break;
    for (int i = 0; i < ticks && n < cap; i++) {
      double p = base + step * i;
      if (p > last)
        break;
      pct[n] = p;
      val[n] = hist_percentile(h, p);
      n++;
    }
  }
  if (n < cap) {
    pct[n] = 100.0;
    val[n] = h->max;
    n++;
  }
  return n;
}
