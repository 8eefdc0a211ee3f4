/* Money and statistics in integers only: decimal strings are parsed to
 * scaled integers, every division rounds half up on the exact rational, and
 * the standard deviation is an integer square root of an exact 128-bit
 * quantity. Nothing here touches a float, so C, JavaScript (BigInt) and Go
 * agree to the last digit. */
#include <errno.h>
#include <math.h>

#include "xform.h"

int xform_decimal_parse(const char *s, size_t n, int max_int, int max_frac,
                        int64_t *out) {
  size_t i = 0;
  int64_t v = 0;
  /* Digits past max_int are counted, not accumulated: the string is refused
   * below, and v must not overflow on the way. */
  for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
    if (i < (size_t)max_int)
      v = v * 10 + (s[i] - '0');
  if (i == 0 || i > (size_t)max_int || (i > 1 && s[0] == '0'))
    return -EINVAL;
  int frac = 0;
  if (i < n && s[i] == '.') {
    for (i++; i < n && s[i] >= '0' && s[i] <= '9' && frac < max_frac; i++, frac++)
      v = v * 10 + (s[i] - '0');
    if (frac == 0)
      return -EINVAL;
  }
  if (i != n)
    return -EINVAL;
  for (; frac < max_frac; frac++) v *= 10;
  *out = v;
  return 0;
}

int64_t xform_div_round(int64_t num, int64_t den) {
  return (2 * num + den) / (2 * den);
}

int64_t xform_line_gross(int64_t qty, int64_t price_e4) {
  return xform_div_round(qty * price_e4, 100);
}

int64_t xform_line_net(int64_t qty, int64_t price_e4, int64_t discount_bp) {
  return xform_div_round(qty * price_e4 * (10000 - discount_bp), 1000000);
}

int64_t xform_mean_c100(const int64_t *v, size_t n) {
  int64_t sum = 0;
  for (size_t i = 0; i < n; i++) sum += v[i];
  return xform_div_round(sum * 100, (int64_t)n);
}

/* GCC's and clang's 128-bit integers (not ISO C: __extension__ says so). */
__extension__ typedef __int128 i128_t;
__extension__ typedef unsigned __int128 u128_t;

static u128_t isqrt128(u128_t x) {
  u128_t r = (u128_t)sqrtl((long double)x);
  while (r > 0 && r * r > x) r--;
  while ((r + 1) * (r + 1) <= x) r++;
  return r;
}

/* sigma in hundredths of a cent is sqrt(q) with q = 10^4 (n*sum(x^2) - sum(x)^2) / n^2;
 * rounding half up, floor(sqrt(q) + 1/2) = (isqrt(floor(4q)) + 1) / 2. */
int64_t xform_stddev_c100(const int64_t *v, size_t n) {
  i128_t sum = 0, sq = 0;
  for (size_t i = 0; i < n; i++) {
    sum += v[i];
    sq += (i128_t)v[i] * v[i];
  }
  i128_t num = (i128_t)n * sq - sum * sum;
  i128_t q4 = num * 40000 / ((i128_t)n * (i128_t)n);
  return (int64_t)((isqrt128((u128_t)q4) + 1) / 2);
}

int64_t xform_percentile(const int64_t *sorted, size_t n, int p) {
  size_t rank = ((size_t)p * n + 99) / 100;
  if (rank < 1)
    rank = 1;
  return sorted[rank - 1];
}
