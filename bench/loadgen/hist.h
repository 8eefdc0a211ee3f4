/* hist: a log-linear latency recorder in the manner of HdrHistogram.
 *
 * Values are integers (looplab-load records microseconds) from 0 up to a
 * configured highest trackable value; each is kept within a relative error
 * of 10^-digits. Memory is fixed at creation, recording is a few shifts and
 * an increment, and two recorders of the same shape merge by adding
 * counts, so per-second and per-thread recorders can be folded into one.
 * Values above the highest trackable one are clamped to it (the exact
 * maximum is still kept). Pure logic: no I/O, no loop. */
#ifndef LOOPLAB_LOAD_HIST_H
#define LOOPLAB_LOAD_HIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct hist_s {
  /* read-only */
  int64_t lowest;  /* lowest discernible value (1) */
  int64_t highest; /* highest trackable value */
  int digits;      /* significant decimal digits */
  uint64_t total;  /* values recorded */
  int64_t min;     /* exact, INT64_MAX when empty */
  int64_t max;     /* exact, 0 when empty */
  double sum;      /* exact sum, for the mean */
  /* private */
  int unit_magnitude;
  int sub_bucket_half_count_magnitude;
  int32_t sub_bucket_count;
  int32_t sub_bucket_half_count;
  int64_t sub_bucket_mask;
  int32_t bucket_count;
  int32_t counts_len;
  uint64_t *counts;
} hist_t;

/* Sets h up to track [lowest, highest] with digits (1..5) significant
 * digits; h owns its counts until hist_free. Returns 0 or UV_EINVAL. */
int hist_init(hist_t *h, int64_t lowest, int64_t highest, int digits);
void hist_free(hist_t *h);
/* Forgets every value, keeping the memory. */
void hist_reset(hist_t *h);

/* Records value once (negative values count as 0). Never fails. */
void hist_record(hist_t *h, int64_t value);
void hist_record_n(hist_t *h, int64_t value, uint64_t n);

/* Adds src's values to dst. Both must have the same shape (lowest,
 * highest, digits), else UV_EINVAL and dst is unchanged. */
int hist_merge(hist_t *dst, const hist_t *src);

/* The value at percentile p (0..100): the highest value equivalent to the
 * recorded value below which p% of the values fall, clamped to the exact
 * maximum; 0 when empty. */
int64_t hist_percentile(const hist_t *h, double p);
double hist_mean(const hist_t *h);
double hist_stddev(const hist_t *h);

/* Values that the recorder cannot tell apart from v share one bucket;
 * these give its bounds. */
int64_t hist_lowest_equivalent(const hist_t *h, int64_t v);
int64_t hist_highest_equivalent(const hist_t *h, int64_t v);

/* The HdrHistogram percentile spectrum: percentiles 0, 10, ..., 50, 55,
 * ..., 75, 77.5, ... (ticks steps in each half of the remaining distance)
 * up to 100. Fills at most cap entries of pct and val, returns how many. */
size_t hist_spectrum(const hist_t *h, int ticks, double *pct, int64_t *val, size_t cap);

#endif
