/* Dates for the transform: docs/workloads.md's RFC 3339 subset, the
 * proleptic Gregorian calendar in days since 1970-01-01 (Howard Hinnant's
 * days_from_civil), weekdays and ISO 8601 weeks. No libc time functions:
 * they depend on the process's time zone and locale. */
#include <errno.h>
#include <string.h>

#include "xform.h"

int64_t xform_days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void xform_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int xform_weekday(int64_t days) {
  /* 1970-01-01 was a Thursday (3 when Monday is 0). */
  int64_t r = (days + 3) % 7;
  return (int)(r < 0 ? r + 7 : r);
}

void xform_iso_week(int64_t days, int64_t *year, int *week) {
  /* The ISO week belongs to the year of its Thursday. */
  int64_t thu = days - xform_weekday(days) + 3;
  int64_t y;
  unsigned m, d;
  xform_civil_from_days(thu, &y, &m, &d);
  *year = y;
  *week = (int)((thu - xform_days_from_civil(y, 1, 1)) / 7 + 1);
}

static int num(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

static int days_in_month(int y, int m) {
  static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return dim[m - 1] + (m == 2 && leap);
}

/* The offset part: "Z" or "+HH:MM"/"-HH:MM"; seconds east of UTC. */
static int offset(const char *s, size_t n, int *east) {
  if (n == 1 && s[0] == 'Z') {
    *east = 0;
    return 0;
  }
  int hh, mm;
  if (n != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' || num(s + 1, 2, &hh) ||
      num(s + 4, 2, &mm) || hh > 23 || mm > 59)
    return -1;
  *east = (s[0] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
  return 0;
}

int xform_time_parse(const char *s, size_t n, xform_time_t *t) {
  int y, mo, d, h, mi, sec, east;
  if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || num(s, 4, &y) || num(s + 5, 2, &mo) || num(s + 8, 2, &d) ||
      num(s + 11, 2, &h) || num(s + 14, 2, &mi) || num(s + 17, 2, &sec))
    return -EINVAL;
  if (y < 1900 || y > 2999 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
      h > 23 || mi > 59 || sec > 59)
    return -EINVAL;
  size_t i = 19;
  int32_t nsec = 0;
  if (s[i] == '.') {
    size_t k = 0;
    for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++)
      if (k < 9)
        nsec = nsec * 10 + (s[i] - '0');
    if (k == 0 || k > 9)
      return -EINVAL;
    for (; k < 9; k++) nsec *= 10;
  }
  if (offset(s + i, n - i, &east))
    return -EINVAL;
  t->sec = xform_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
           mi * 60 + sec - east;
  t->nsec = nsec;
  return 0;
}

static void put2(char *p, unsigned v) {
  p[0] = (char)('0' + v / 10 % 10);
  p[1] = (char)('0' + v % 10);
}

void xform_time_format(const xform_time_t *t, char out[25]) {
  int64_t days = t->sec / 86400, rem = t->sec % 86400;
  if (rem < 0)
    rem += 86400, days--;
  int64_t y;
  unsigned m, d;
  xform_civil_from_days(days, &y, &m, &d);
  put2(out, (unsigned)(y / 100));
  put2(out + 2, (unsigned)(y % 100));
  out[4] = '-';
  put2(out + 5, m);
  out[7] = '-';
  put2(out + 8, d);
  out[10] = 'T';
  put2(out + 11, (unsigned)(rem / 3600));
  out[13] = ':';
  put2(out + 14, (unsigned)(rem / 60 % 60));
  out[16] = ':';
  put2(out + 17, (unsigned)(rem % 60));
  out[19] = '.';
  unsigned ms = (unsigned)(t->nsec / 1000000);
  out[20] = (char)('0' + ms / 100);
  put2(out + 21, ms % 100);
  out[23] = 'Z';
  out[24] = '\0';
}
