/* Histograms: the log-linear one behind the event-loop lag percentiles and
 * the fixed-bucket Prometheus ones. */
#include <math.h>
#include <string.h>

#include "metrics.h"

/* prom-client's default buckets, with 1 ms added: a W1 read takes well
 * under 5 ms, and the first bucket should say so. */
const double metrics_dur_bounds[METRICS_DUR_BUCKETS] = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

const double metrics_depth_bounds[METRICS_DUR_BUCKETS] = {1,  2,  3,  4,  6,  8,
                                                          12, 16, 24, 32, 48, 64};

void metrics_depth_fill(metrics_hist_t *h, const uint64_t *by_depth, int n) {
  memset(h, 0, sizeof(*h));
  for (int i = 0; i < n; i++) {
    if (!by_depth[i])
      continue;
    int b = 0;
    while (b < METRICS_DUR_BUCKETS && (double)(i + 1) > metrics_depth_bounds[b]) b++;
    if (b < METRICS_DUR_BUCKETS)
      h->buckets[b] += by_depth[i];
    h->count += by_depth[i];
    h->sum += (double)(i + 1) * (double)by_depth[i];
  }
}

void metrics_duration_record(metrics_snap_t *s, metrics_dur_index_t index, int route,
                             int method, int slot, double seconds) {
  int i = index[route][method][slot];
  if (i == 0) {
    int n = 0;
    while (n < METRICS_DUR_SERIES - 1 && s->duration[n].used) n++;
    if (n < METRICS_DUR_SERIES - 1) {
      s->duration[n] =
          (metrics_dur_t){(uint8_t)route, (uint8_t)method, (uint8_t)slot, 1, {{0}, 0, 0}};
    } else {
      n = METRICS_DUR_SERIES - 1; /* the overflow series */
      if (!s->duration[n].used)
        s->duration[n] = (metrics_dur_t){0, METRICS_METHODS - 1, 0, 1, {{0}, 0, 0}};
    }
    index[route][method][slot] = (uint8_t)(n + 1);
    i = n + 1;
  }
  metrics_hist_record(&s->duration[i - 1].h, metrics_dur_bounds, seconds);
}

void metrics_ll_reset(metrics_ll_t *h) {
  memset(h, 0, sizeof(*h));
}

static int ll_index(uint64_t us) {
  if (us < 64)
    return (int)us;
  int m = 63 - __builtin_clzll(us); /* >= 6 */
  int shift = m - 5;
  int idx = 64 + (m - 6) * 32 + (int)((us >> shift) - 32);
  return idx < METRICS_LL_BUCKETS ? idx : METRICS_LL_BUCKETS - 1;
}

/* The largest value (in ns) that lands in bucket idx. */
static uint64_t ll_upper_ns(int idx) {
  if (idx < 64)
    return (uint64_t)idx * 1000 + 999;
  int m = 6 + (idx - 64) / 32;
  uint64_t sub = 32 + (uint64_t)((idx - 64) % 32);
  int shift = m - 5;
  return (((sub + 1) << shift) - 1) * 1000 + 999;
}

void metrics_ll_record(metrics_ll_t *h, uint64_t ns) {
  h->counts[ll_index(ns / 1000)]++;
  if (h->count == 0 || ns < h->min_ns)
    h->min_ns = ns;
  if (ns > h->max_ns)
    h->max_ns = ns;
  h->count++;
  h->sum_ns += (double)ns;
  h->sumsq_ns += (double)ns * (double)ns;
}

void metrics_ll_merge(metrics_ll_t *into, const metrics_ll_t *from) {
  if (from->count == 0)
    return;
  for (int i = 0; i < METRICS_LL_BUCKETS; i++) into->counts[i] += from->counts[i];
  if (into->count == 0 || from->min_ns < into->min_ns)
    into->min_ns = from->min_ns;
  if (from->max_ns > into->max_ns)
    into->max_ns = from->max_ns;
  into->count += from->count;
  into->sum_ns += from->sum_ns;
  into->sumsq_ns += from->sumsq_ns;
}

uint64_t metrics_ll_percentile(const metrics_ll_t *h, double p) {
  if (h->count == 0)
    return 0;
  uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
  if (rank < 1)
    rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < METRICS_LL_BUCKETS; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      uint64_t v = ll_upper_ns(i);
      if (v > h->max_ns)
        v = h->max_ns;
      if (v < h->min_ns)
        v = h->min_ns;
      return v;
    }
  }
  return h->max_ns;
}

void metrics_hist_record(metrics_hist_t *h, const double *bounds, double seconds) {
  int i = 0;
  while (i < METRICS_DUR_BUCKETS && seconds > bounds[i]) i++;
  if (i < METRICS_DUR_BUCKETS)
    h->buckets[i]++;
  h->count++;
  h->sum += seconds;
}
