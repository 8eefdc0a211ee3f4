/* PostgreSQL's output turned into the JSON of docs/workloads.md:
 * timestamptz as Date#toISOString prints it, text[] as a JSON array, in
 * the text format and in the binary one (the item statements ask for
 * binary: cheaper for the database to produce), and the reverse for tags
 * parameters. Pure: no loop, no socket. */
#include <stdint.h>
#include <string.h>

#include "api.h"

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard
 * Hinnant's civil-date algorithms). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

/* n digits at s as an int, or -1. */
static int digits(const char *s, size_t avail, size_t n) {
  if (avail < n)
    return API_EFORM;
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return API_EFORM;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* v as exactly n decimal digits, zero-padded (v < 10^n). */
static void put_digits(char *p, int v, int n) {
  for (int i = n - 1; i >= 0; i--, v /= 10) p[i] = (char)('0' + v % 10);
}

/* Seconds since the Unix epoch and milliseconds, as Date#toISOString. */
static int put_instant(core_buf_t *b, int64_t t, int ms) {
  int64_t days = (t >= 0 ? t : t - 86399) / 86400, rem = t - days * 86400;
  int64_t yy;
  int mm, dd;
  civil_from_days(days, &yy, &mm, &dd);
  if (yy < 0 || yy > 9999)
    return API_EFORM;
  /* Written digit by digit: two per item on every W1 answer, no printf. */
  char out[26] = "\"0000-00-00T00:00:00.000Z\"";
  put_digits(out + 1, (int)yy, 4);
  put_digits(out + 6, mm, 2);
  put_digits(out + 9, dd, 2);
  put_digits(out + 12, (int)(rem / 3600), 2);
  put_digits(out + 15, (int)(rem / 60 % 60), 2);
  put_digits(out + 18, (int)(rem % 60), 2);
  put_digits(out + 21, ms, 3);
  core_buf_append(b, out, sizeof(out));
  return 0;
}

int api_put_timestamp(core_buf_t *b, const char *s, size_t n) {
  /* YYYY-MM-DD HH:MM:SS[.f...](+|-)HH[:MM[:SS]] (DateStyle ISO) */
  if (n < 22)
    return API_EFORM; /* before any n - k below, which would wrap */
  int y = digits(s, n, 4), mo = digits(s + 5, n - 5, 2), d = digits(s + 8, n - 8, 2);
  if (y < 0 || mo < 1 || d < 1 || s[4] != '-' || s[7] != '-' || s[10] != ' ')
    return API_EFORM;
  int h = digits(s + 11, n - 11, 2), mi = digits(s + 14, n - 14, 2),
      sec = digits(s + 17, n - 17, 2);
  if (h < 0 || mi < 0 || sec < 0 || s[13] != ':' || s[16] != ':')
    return API_EFORM;
  size_t i = 19;
  int ms = 0, scale = 100;
  if (s[i] == '.')
    for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
      ms += (s[i] - '0') * scale;
  if (i >= n || (s[i] != '+' && s[i] != '-'))
    return API_EFORM;
  int sign = s[i] == '-' ? -1 : 1, off = 0, part = 3600;
  for (i++; part >= 1 && i < n; part /= 60) {
    int v = digits(s + i, n - i, 2);
    if (v < 0)
      return API_EFORM;
    off += v * part;
    i += 2;
    if (i < n && s[i] == ':')
      i++;
  }
  if (i != n)
    return API_EFORM;
  int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * off;
  return put_instant(b, t, ms);
}

/* Big-endian integers of the binary format. */
static int64_t be64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return (int64_t)v;
}

static int32_t be32(const unsigned char *p) {
  return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
                   p[3]);
}

int api_get_int8(const char *s, size_t n, int64_t *out) {
  if (n != 8)
    return API_EFORM;
  *out = be64((const unsigned char *)s);
  return 0;
}

/* Microseconds since 2000-01-01 00:00:00 UTC (integer datetimes). The
 * milliseconds are floored, as the text form's digits are truncated (its
 * fraction is never negative). */
int api_put_timestamp_bin(core_buf_t *b, const char *s, size_t n) {
  int64_t us;
  if (api_get_int8(s, n, &us) != 0 || us == INT64_MAX || us == INT64_MIN)
    return API_EFORM; /* +-infinity: no instant */
  int64_t ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
  int64_t sec = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  return put_instant(b, sec + 946684800, (int)(ms - sec * 1000));
}

/* ndim, has-null flag, element type, then per dimension its length and
 * lower bound, then each element as a length (-1: NULL) and its bytes. */
int api_put_text_array_bin(core_buf_t *b, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  if (n < 12)
    return API_EFORM;
  int32_t ndim = be32(p);
  if (ndim == 0) {
    core_buf_puts(b, "[]");
    return 0;
  }
  if (ndim != 1 || n < 20)
    return API_EFORM;
  int32_t count = be32(p + 12);
  if (count < 0)
    return API_EFORM;
  p += 20;
  core_buf_putc(b, '[');
  for (int32_t i = 0; i < count; i++) {
    if (end - p < 4)
      return API_EFORM;
    int32_t len = be32(p);
    p += 4;
    if (i)
      core_buf_putc(b, ',');
    if (len < 0) {
      core_buf_puts(b, "null");
      continue;
    }
    if (end - p < len)
      return API_EFORM;
    core_buf_put_json_str(b, (const char *)p, (size_t)len);
    p += len;
  }
  if (p != end)
    return API_EFORM;
  core_buf_putc(b, ']');
  return 0;
}

int api_put_month(core_buf_t *b, const char *s, size_t n) {
  if (n != 10 || digits(s, n, 4) < 0 || s[4] != '-' || digits(s + 5, 2, 2) < 1)
    return API_EFORM;
  core_buf_putc(b, '"');
  core_buf_append(b, s, 7);
  core_buf_putc(b, '"');
  return 0;
}

/* {a,"b c","d\"e",NULL}: elements are quoted when they hold a delimiter,
 * a quote, a backslash or space, or spell NULL; inside quotes a backslash
 * escapes the next byte. */
int api_put_text_array(core_buf_t *b, const char *s, size_t n) {
  /* One element at a time, unescaped into a scratch buffer that is kept:
   * no allocation per row (only the loop thread renders rows). */
  static core_buf_t el;
  if (n < 2 || s[0] != '{' || s[n - 1] != '}')
    return API_EFORM;
  int rc = -1, first = 1;
  size_t i = 1;
  core_buf_putc(b, '[');
  if (n == 2)
    goto done;
  for (;;) {
    core_buf_reset(&el);
    int quoted = i < n && s[i] == '"';
    if (quoted) {
      for (i++; i < n && s[i] != '"'; i++) {
        if (s[i] == '\\' && ++i >= n)
          goto fail;
        core_buf_putc(&el, s[i]);
      }
      if (i++ >= n)
        goto fail;
    } else {
      for (; i < n - 1 && s[i] != ',' && s[i] != '}'; i++) core_buf_putc(&el, s[i]);
    }
    if (!first)
      core_buf_putc(b, ',');
    first = 0;
    if (!quoted && el.len == 4 && memcmp(el.data, "NULL", 4) == 0)
      core_buf_puts(b, "null");
    else
      core_buf_put_json_str(b, el.data ? el.data : "", el.len);
    if (i >= n - 1)
      break;
    if (s[i] != ',')
      goto fail;
    i++;
  }
done:
  core_buf_putc(b, ']');
  rc = 0;
fail:
  return rc;
}

void api_put_array_literal(core_buf_t *b, const char *const *elems, const size_t *lens,
                           int n) {
  core_buf_putc(b, '{');
  for (int i = 0; i < n; i++) {
    if (i)
      core_buf_putc(b, ',');
    core_buf_putc(b, '"');
    for (size_t k = 0; k < lens[i]; k++) {
      if (elems[i][k] == '"' || elems[i][k] == '\\')
        core_buf_putc(b, '\\');
      core_buf_putc(b, elems[i][k]);
    }
    core_buf_putc(b, '"');
  }
  core_buf_putc(b, '}');
}
