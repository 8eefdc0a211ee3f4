/* xform: W3, the "orders export" transform (docs/workloads.md, "W3"), and
 * the generator of its input documents. Pure code: no sockets, no loops, no
 * static mutable state, so any thread may run it (the server runs it on the
 * event loop or on libuv's thread pool).
 *
 * docs/workloads.md is the specification; the functions below implement it
 * byte for byte, and test/conformance/transform/reference.js implements it a
 * second time, independently. */
#ifndef LOOPLAB_XFORM_H
#define LOOPLAB_XFORM_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* The limits of docs/workloads.md. Above them xform_run answers 400. */
typedef struct xform_limits_s {
  int max_depth;     /* nesting of arrays and objects; the document itself is 1 */
  size_t max_orders; /* items of "orders" */
  size_t max_lines;  /* items of all "lines" arrays together, cancelled orders included */
} xform_limits_t;

#define XFORM_MAX_DEPTH 8
#define XFORM_MAX_ORDERS 10000
#define XFORM_MAX_LINES 100000

/* The defaults above. */
void xform_limits_default(xform_limits_t *lim);

/* Transforms the document in[0..n) (any bytes; need not be NUL-terminated)
 * and appends the result to out. Returns 0, or 400 with a one-line message
 * naming the field path ("body/orders/3/placed_at must be ...") in err; out
 * is then left as it was. lim may be NULL for the defaults. Thread-safe;
 * allocates only temporaries proportional to n, freed before returning. */
int xform_run(const char *in, size_t n, const xform_limits_t *lim, core_buf_t *out,
              char *err, size_t errlen);

/* Appends a valid input document of about target_bytes (at least one
 * order's worth more than target_bytes; never less than the empty document)
 * to out. The same (seed, target_bytes) gives the same bytes on every
 * platform. The mix: cancelled orders, lines with zero or negative quantity,
 * offsets from -12:00 to +14:00, fractional seconds of 0-9 digits, non-ASCII
 * names, leap days, missing and null e-mails, prices with up to 4 decimals. */
void xform_generate(uint64_t seed, size_t target_bytes, core_buf_t *out);

/* 1 if in[0..n) is exactly one RFC 8259 JSON value (surrounding whitespace
 * allowed) nested at most max_depth deep, as JSON.parse would accept it,
 * except that a \u escape leaving a lone surrogate is refused. Bytes in
 * strings are not checked for UTF-8. Thread-safe. */
int xform_json_valid(const char *in, size_t n, int max_depth);

/* ---- Building blocks, exported for the unit tests. ---- */

/* An instant: seconds since 1970-01-01T00:00:00Z and nanoseconds. */
typedef struct xform_time_s {
  int64_t sec;
  int32_t nsec;
} xform_time_t;

/* Parses docs/workloads.md's placed_at grammar:
 * YYYY-MM-DDTHH:MM:SS[.F{1,9}](Z|+HH:MM|-HH:MM), year 1900-2999, real
 * calendar dates only, seconds 00-59. Returns 0 or -EINVAL. */
int xform_time_parse(const char *s, size_t n, xform_time_t *t);
/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t xform_days_from_civil(int64_t y, unsigned m, unsigned d);
void xform_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/* 0 = Monday ... 6 = Sunday. */
int xform_weekday(int64_t days);
/* ISO 8601 week-numbering year and week (1-53) of a day. */
void xform_iso_week(int64_t days, int64_t *year, int *week);
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes and a NUL; milliseconds
 * truncated, never rounded). */
void xform_time_format(const xform_time_t *t, char out[25]);

/* Parses a decimal string with 1..max_int integer digits (no leading zero
 * unless the integer part is "0") and an optional '.' followed by
 * 1..max_frac digits. *out is the value times 10^max_frac. 0 or -EINVAL. */
int xform_decimal_parse(const char *s, size_t n, int max_int, int max_frac, int64_t *out);
/* num / den rounded half up (num >= 0, den > 0). */
int64_t xform_div_round(int64_t num, int64_t den);
/* A line's cents: quantity (> 0) x unit price in 1/10000 x (1 - discount
 * in basis points / 10000), rounded half up to cents. */
int64_t xform_line_gross(int64_t qty, int64_t price_e4);
int64_t xform_line_net(int64_t qty, int64_t price_e4, int64_t discount_bp);

/* Statistics of order totals in cents (n > 0, any order of values). The mean and
 * the population standard deviation come back in hundredths of a cent,
 * rounded half up on the exact value. */
int64_t xform_mean_c100(const int64_t *v, size_t n);
int64_t xform_stddev_c100(const int64_t *v, size_t n);
/* Nearest rank on sorted ascending values: v[ceil(p*n/100) - 1], rank at least 1. */
int64_t xform_percentile(const int64_t *sorted, size_t n, int p);

#endif
