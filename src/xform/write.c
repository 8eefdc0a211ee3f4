/* The transform's output (docs/workloads.md, "Output and serialization").
 * Each piece (a line, an order, a customer's head, a section) first reserves
 * its largest possible size in the buffer, then is written through a plain
 * pointer: no bounds check, no printf, per number or string. */
#include <string.h>

#include "internal.h"

/* A string literal's bytes, without its NUL. */
#define LIT(w, s) (memcpy((w), (s), sizeof(s) - 1), (w) + sizeof(s) - 1)

/* Bounds: an int64 is at most 20 bytes, a string n bytes long at most 6 n + 2
 * escaped and quoted. */
#define NUM_MAX 20
#define STR_MAX(n) (6 * (size_t)(n) + 2)

static const char pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static const char *const weekdays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

static char *begin(core_buf_t *b, size_t most) {
  core_buf_reserve(b, most);
  return b->data + b->len;
}

static void end(core_buf_t *b, char *w) {
  b->len = (size_t)(w - b->data);
  b->data[b->len] = '\0'; /* core_buf keeps its data terminated */
}

/* Digits two at a time from the right, into a field of exactly the
 * number's width: the width is the bit length's decimal estimate
 * (1233 / 4096 is just above log10 2), corrected by one comparison. */
static char *put_u64(char *w, uint64_t v) {
  static const uint64_t pow10[20] = {1ULL,
                                     10ULL,
                                     100ULL,
                                     1000ULL,
                                     10000ULL,
                                     100000ULL,
                                     1000000ULL,
                                     10000000ULL,
                                     100000000ULL,
                                     1000000000ULL,
                                     10000000000ULL,
                                     100000000000ULL,
                                     1000000000000ULL,
                                     10000000000000ULL,
                                     100000000000000ULL,
                                     1000000000000000ULL,
                                     10000000000000000ULL,
                                     100000000000000000ULL,
                                     1000000000000000000ULL,
                                     10000000000000000000ULL};
  unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
  unsigned n = (bits * 1233) >> 12;
  n += n < 20 && v >= pow10[n];
  n += n == 0;
  char *p = w + n;
  while (v > UINT32_MAX) {
    p -= 2;
    memcpy(p, pairs + v % 100 * 2, 2);
    v /= 100;
  }
  /* The rest in 32 bits, whose division by 100 is cheaper. */
  uint32_t u = (uint32_t)v;
  while (u >= 100) {
    p -= 2;
    memcpy(p, pairs + u % 100 * 2, 2);
    u /= 100;
  }
  if (u >= 10)
    memcpy(p - 2, pairs + u * 2, 2);
  else
    p[-1] = (char)('0' + u);
  return w + n;
}

static char *put_i64(char *w, int64_t v) {
  if (v >= 0)
    return put_u64(w, (uint64_t)v);
  *w++ = '-';
  return put_u64(w, (uint64_t)0 - (uint64_t)v);
}

/* Hundredths as a number with exactly two decimals (v >= 0). */
static char *put_c100(char *w, int64_t v) {
  w = put_i64(w, v / 100);
  *w++ = '.';
  memcpy(w, pairs + v % 100 * 2, 2);
  return w + 2;
}

/* JSON.stringify's escaping: quote, backslash and the control characters;
 * everything else, UTF-8 included, is copied. A string the parser found
 * plain is copied whole. */
static char *put_str(char *w, const char *s, size_t n, int plain) {
  static const char hex[] = "0123456789abcdef";
  *w++ = '"';
  if (plain) {
    memcpy(w, s, n);
    w[n] = '"';
    return w + n + 1;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') {
      *w++ = (char)c;
      continue;
    }
    *w++ = '\\';
    switch (c) {
      case '"':
        *w++ = '"';
        break;
      case '\\':
        *w++ = '\\';
        break;
      case '\n':
        *w++ = 'n';
        break;
      case '\r':
        *w++ = 'r';
        break;
      case '\t':
        *w++ = 't';
        break;
      case '\b':
        *w++ = 'b';
        break;
      case '\f':
        *w++ = 'f';
        break;
      default:
        w = LIT(w, "u00");
        *w++ = hex[c >> 4];
        *w++ = hex[c & 15];
    }
  }
  *w++ = '"';
  return w;
}

static void put_line(core_buf_t *b, const xf_line_t *l) {
  char *w = begin(b, 128 + STR_MAX(l->sku_len) + STR_MAX(l->cat_len));
  w = LIT(w, "{\"sku\":");
  w = put_str(w, l->sku, l->sku_len, l->sku_plain);
  w = LIT(w, ",\"category\":");
  w = put_str(w, l->cat, l->cat_len, l->cat_plain);
  w = LIT(w, ",\"quantity\":");
  w = put_i64(w, l->qty);
  w = LIT(w, ",\"gross_cents\":");
  w = put_i64(w, l->gross);
  w = LIT(w, ",\"discount_cents\":");
  w = put_i64(w, l->gross - l->net);
  w = LIT(w, ",\"net_cents\":");
  w = put_i64(w, l->net);
  *w++ = '}';
  end(b, w);
}

/* Days since 1970-01-01 of an instant, rounded down. */
static int64_t days_of(int64_t sec) {
  return sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
}

/* An order up to its lines: id, status, the UTC time, weekday and ISO week. */
static void put_order_head(core_buf_t *b, const xf_order_t *o) {
  char ts[25];
  int64_t days = days_of(o->at.sec), wy;
  int wk;
  xform_time_format(&o->at, ts);
  xform_iso_week(days, &wy, &wk);
  const char *st = xf_statuses[o->status];
  char *w = begin(b, 160);
  w = LIT(w, "{\"id\":");
  w = put_i64(w, o->id);
  w = LIT(w, ",\"status\":\"");
  memcpy(w, st, strlen(st));
  w += strlen(st);
  w = LIT(w, "\",\"placed_at\":\"");
  memcpy(w, ts, 24);
  w = LIT(w + 24, "\",\"weekday\":\"");
  memcpy(w, weekdays[xform_weekday(days)], 3);
  w = LIT(w + 3, "\",\"iso_week\":\"");
  /* The ISO year of a UTC date from 1899-12-31 to 3000-01-01: 4 digits. */
  memcpy(w, pairs + wy / 100 * 2, 2);
  memcpy(w + 2, pairs + wy % 100 * 2, 2);
  w = LIT(w + 4, "-W");
  memcpy(w, pairs + wk * 2, 2);
  w = LIT(w + 2, "\",\"lines\":[");
  end(b, w);
}

static void put_order(core_buf_t *b, const xf_order_t *o) {
  put_order_head(b, o);
  for (uint32_t k = 0; k < o->nlines; k++) {
    if (k)
      core_buf_putc(b, ',');
    put_line(b, &o->lines[k]);
  }
  char *w = begin(b, 128 + 5 * NUM_MAX);
  w = LIT(w, "],\"gross_cents\":");
  w = put_i64(w, o->gross);
  w = LIT(w, ",\"discount_cents\":");
  w = put_i64(w, o->gross - o->net);
  w = LIT(w, ",\"subtotal_cents\":");
  w = put_i64(w, o->net);
  w = LIT(w, ",\"shipping_cents\":");
  w = put_i64(w, o->ship);
  w = LIT(w, ",\"total_cents\":");
  w = put_i64(w, o->total);
  *w++ = '}';
  end(b, w);
}

/* The customer's name and e-mail are those of its first order. */
static void put_customer(core_buf_t *b, const xf_group_t *g) {
  const xf_order_t *o = g->first;
  char *w = begin(b, 128 + 3 * NUM_MAX + STR_MAX(o->name_len) + STR_MAX(o->email_len));
  w = LIT(w, "{\"id\":");
  w = put_i64(w, o->cust);
  w = LIT(w, ",\"name\":");
  w = put_str(w, o->name, o->name_len, o->name_plain);
  w = LIT(w, ",\"email\":");
  w = o->email ? put_str(w, o->email, o->email_len, o->email_plain) : LIT(w, "null");
  w = LIT(w, ",\"order_count\":");
  w = put_u64(w, g->count);
  w = LIT(w, ",\"total_cents\":");
  w = put_i64(w, g->total);
  w = LIT(w, ",\"orders\":[");
  end(b, w);
  for (size_t k = 0; k < g->count; k++) {
    if (k)
      core_buf_putc(b, ',');
    put_order(b, &o[k]);
  }
  core_buf_append(b, "]}", 2);
}

static void put_counts(core_buf_t *b, const xf_run_t *r) {
  char *w = begin(b, 256 + 8 * NUM_MAX);
  w = LIT(w, "{\"counts\":{\"orders_in\":");
  w = put_u64(w, r->orders_in);
  w = LIT(w, ",\"orders_cancelled\":");
  w = put_u64(w, r->cancelled);
  w = LIT(w, ",\"orders_empty\":");
  w = put_u64(w, r->empty);
  w = LIT(w, ",\"orders_out\":");
  w = put_u64(w, r->norders);
  w = LIT(w, ",\"lines_in\":");
  w = put_u64(w, r->lines_in);
  w = LIT(w, ",\"lines_out\":");
  w = put_u64(w, r->nlines);
  w = LIT(w, ",\"customers\":");
  w = put_u64(w, r->ngroups);
  w = LIT(w, ",\"units\":");
  w = put_i64(w, r->units);
  w = LIT(w, "},");
  end(b, w);
}

static void put_totals(core_buf_t *b, const xf_run_t *r) {
  int64_t gross = 0, net = 0, ship = 0;
  for (size_t i = 0; i < r->norders; i++) {
    gross += r->orders[i].gross;
    net += r->orders[i].net;
    ship += r->orders[i].ship;
  }
  char *w = begin(b, 192 + 5 * NUM_MAX);
  w = LIT(w, "\"totals\":{\"gross_cents\":");
  w = put_i64(w, gross);
  w = LIT(w, ",\"discount_cents\":");
  w = put_i64(w, gross - net);
  w = LIT(w, ",\"subtotal_cents\":");
  w = put_i64(w, net);
  w = LIT(w, ",\"shipping_cents\":");
  w = put_i64(w, ship);
  w = LIT(w, ",\"revenue_cents\":");
  w = put_i64(w, net + ship);
  w = LIT(w, "},");
  end(b, w);
}

static void put_stats(core_buf_t *b, const xf_run_t *r) {
  const int64_t *v = r->totals;
  size_t n = r->norders;
  char *w = begin(b, 192 + 5 * NUM_MAX);
  if (n == 0) {
    w = LIT(w,
            "\"order_totals\":{\"mean_cents\":null,\"stddev_cents\":null,"
            "\"p50_cents\":null,\"p90_cents\":null,\"p99_cents\":null},");
    end(b, w);
    return;
  }
  w = LIT(w, "\"order_totals\":{\"mean_cents\":");
  w = put_c100(w, xform_mean_c100(v, n));
  w = LIT(w, ",\"stddev_cents\":");
  w = put_c100(w, xform_stddev_c100(v, n));
  w = LIT(w, ",\"p50_cents\":");
  w = put_i64(w, xform_percentile(v, n, 50));
  w = LIT(w, ",\"p90_cents\":");
  w = put_i64(w, xform_percentile(v, n, 90));
  w = LIT(w, ",\"p99_cents\":");
  w = put_i64(w, xform_percentile(v, n, 99));
  w = LIT(w, "},");
  end(b, w);
}

static void put_weekdays(core_buf_t *b, const xf_run_t *r) {
  int64_t rev[7] = {0};
  for (size_t i = 0; i < r->norders; i++)
    rev[xform_weekday(days_of(r->orders[i].at.sec))] += r->orders[i].total;
  char *w = begin(b, 128 + 7 * NUM_MAX);
  w = LIT(w, "\"revenue_by_weekday\":");
  for (int k = 0; k < 7; k++) {
    *w++ = k ? ',' : '{';
    *w++ = '"';
    memcpy(w, weekdays[k], 3);
    w = LIT(w + 3, "\":");
    w = put_i64(w, rev[k]);
  }
  w = LIT(w, "},");
  end(b, w);
}

static void put_categories(core_buf_t *b, const xf_run_t *r) {
  core_buf_append(b, "\"revenue_by_category\":[", 23);
  for (size_t k = 0; k < r->ncats; k++) {
    const xf_cat_t *c = &r->cats[k];
    char *w = begin(b, 96 + 3 * NUM_MAX + STR_MAX(c->len));
    if (k)
      *w++ = ',';
    w = LIT(w, "{\"category\":");
    w = put_str(w, c->name, c->len, c->plain);
    w = LIT(w, ",\"net_cents\":");
    w = put_i64(w, c->net);
    w = LIT(w, ",\"units\":");
    w = put_i64(w, c->units);
    w = LIT(w, ",\"lines\":");
    w = put_i64(w, c->lines);
    *w++ = '}';
    end(b, w);
  }
  core_buf_append(b, "],", 2);
}

void xf_write(core_buf_t *b, const xf_run_t *r) {
  put_counts(b, r);
  put_totals(b, r);
  put_stats(b, r);
  put_weekdays(b, r);
  put_categories(b, r);
  core_buf_append(b, "\"customers\":[", 13);
  for (size_t k = 0; k < r->ngroups; k++) {
    if (k)
      core_buf_putc(b, ',');
    put_customer(b, &r->groups[k]);
  }
  core_buf_append(b, "]}", 2);
}
