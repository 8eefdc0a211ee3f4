/* W3: checks an orders export and restructures it (docs/workloads.md, "W3").
 * One pass validates and converts the orders in document order (so the
 * first invalid field is the one reported); then the kept orders are sorted
 * into customer groups and written out with the statistics. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "xform.h"

#define MAX_SAFE_INT 9007199254740991.0

typedef struct line_s {
  const char *sku, *cat;
  uint32_t sku_len, cat_len;
  int64_t qty, gross, net;
} line_t;

typedef struct order_s {
  int64_t id, cust;
  uint32_t cust_node, index, status;
  xform_time_t at;
  int64_t ship, gross, net, total;
  line_t *lines;
  uint32_t nlines;
} order_t;

typedef struct group_s {
  order_t *first;
  size_t count;
  int64_t total;
} group_t;

typedef struct counts_s {
  size_t orders_in, cancelled, empty, lines_in, units;
} counts_t;

typedef struct run_s {
  const xj_doc_t *d;
  const xform_limits_t *lim;
  char *err;
  size_t errlen;
  order_t *orders; /* the kept ones */
  size_t norders;
  line_t *lines; /* the kept ones, each order's contiguous */
  size_t nlines;
  counts_t c;
} run_t;

static const char *const statuses[] = {"pending", "paid", "shipped", "delivered",
                                       "cancelled"};
enum { CANCELLED = 4 };
static const char *const weekdays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

void xform_limits_default(xform_limits_t *lim) {
  lim->max_depth = XFORM_MAX_DEPTH;
  lim->max_orders = XFORM_MAX_ORDERS;
  lim->max_lines = XFORM_MAX_LINES;
}

static int fail(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(run_t *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, r->errlen, fmt, ap);
  va_end(ap);
  return 400;
}

/* ---- typed field access; path is the object's path ---- */

static int field(run_t *r, uint32_t obj, const char *path, const char *key,
                 uint32_t *out) {
  *out = xj_get(r->d, obj, key);
  return *out ? 0 : fail(r, "%s must have required property '%s'", path, key);
}

static int object_at(run_t *r, uint32_t i, const char *path) {
  return r->d->nodes[i].type == XJ_OBJ ? 0 : fail(r, "%s must be object", path);
}

static int int_field(run_t *r, uint32_t obj, const char *path, const char *key, double lo,
                     double hi, int64_t *out) {
  uint32_t i;
  if (field(r, obj, path, key, &i))
    return 400;
  const xj_node_t *nd = &r->d->nodes[i];
  double v = nd->v.num;
  /* The range test comes first: converting an out-of-range double (1e400
   * parses as infinity) to an integer is undefined. */
  if (nd->type != XJ_NUM || !(v >= lo && v <= hi) || v != (double)(int64_t)v)
    return fail(r, "%s/%s must be an integer from %.0f to %.0f", path, key, lo, hi);
  *out = (int64_t)v;
  return 0;
}

static int str_field(run_t *r, uint32_t obj, const char *path, const char *key,
                     const char **s, size_t *len) {
  uint32_t i;
  if (field(r, obj, path, key, &i))
    return 400;
  if (r->d->nodes[i].type != XJ_STR || r->d->nodes[i].v.s.len == 0)
    return fail(r, "%s/%s must be a non-empty string", path, key);
  *s = xj_str(r->d, i, len);
  return 0;
}

/* A decimal string up to max (written max_text); absent is allowed, and
 * gives 0, only when optional is set. */
static int dec_field(run_t *r, uint32_t obj, const char *path, const char *key,
                     int max_int, int max_frac, int64_t max, const char *max_text,
                     int optional, int64_t *out) {
  uint32_t i = xj_get(r->d, obj, key);
  size_t n;
  if (!i && optional) {
    *out = 0;
    return 0;
  }
  if (!i)
    return fail(r, "%s must have required property '%s'", path, key);
  const char *s = r->d->nodes[i].type == XJ_STR ? xj_str(r->d, i, &n) : NULL;
  if (!s || xform_decimal_parse(s, n, max_int, max_frac, out) || *out > max)
    return fail(r, "%s/%s must be a decimal string from 0 to %s with at most %d decimals",
                path, key, max_text, max_frac);
  return 0;
}

/* ---- one order ---- */

static int check_customer(run_t *r, uint32_t o, const char *path, order_t *ord) {
  char cpath[64];
  uint32_t c, e;
  const char *s;
  size_t n;
  if (field(r, o, path, "customer", &c))
    return 400;
  snprintf(cpath, sizeof(cpath), "%s/customer", path);
  if (object_at(r, c, cpath) ||
      int_field(r, c, cpath, "id", 1, MAX_SAFE_INT, &ord->cust) ||
      str_field(r, c, cpath, "name", &s, &n))
    return 400;
  e = xj_get(r->d, c, "email");
  if (e && r->d->nodes[e].type != XJ_STR && r->d->nodes[e].type != XJ_NULL)
    return fail(r, "%s/email must be a string or null", cpath);
  ord->cust_node = c;
  return 0;
}

static int check_status(run_t *r, uint32_t o, const char *path, order_t *ord) {
  uint32_t i;
  if (field(r, o, path, "status", &i))
    return 400;
  if (r->d->nodes[i].type == XJ_STR) {
    size_t n;
    const char *s = xj_str(r->d, i, &n);
    for (uint32_t k = 0; k < ARRAY_SIZE(statuses); k++)
      if (strlen(statuses[k]) == n && memcmp(statuses[k], s, n) == 0) {
        ord->status = k;
        return 0;
      }
  }
  return fail(r, "%s/status must be one of pending, paid, shipped, delivered, cancelled",
              path);
}

static int check_time(run_t *r, uint32_t o, const char *path, order_t *ord) {
  uint32_t i;
  size_t n = 0;
  if (field(r, o, path, "placed_at", &i))
    return 400;
  const char *s = r->d->nodes[i].type == XJ_STR ? xj_str(r->d, i, &n) : NULL;
  if (!s || xform_time_parse(s, n, &ord->at))
    return fail(r,
                "%s/placed_at must be an RFC 3339 date-time like "
                "2025-03-01T23:30:00.123+05:30 (year 1900 to 2999)",
                path);
  return 0;
}

/* Validates line j (node i) and appends it to r->lines if it is kept. */
static int check_line(run_t *r, uint32_t i, const char *opath, size_t j, int keep) {
  char path[96];
  line_t ln;
  size_t n1, n2;
  int64_t price, bp;
  snprintf(path, sizeof(path), "%s/lines/%zu", opath, j);
  if (object_at(r, i, path) || str_field(r, i, path, "sku", &ln.sku, &n1) ||
      str_field(r, i, path, "category", &ln.cat, &n2) ||
      int_field(r, i, path, "quantity", -1000, 1000, &ln.qty) ||
      dec_field(r, i, path, "unit_price", 4, 4, 99999999, "9999.9999", 0, &price) ||
      dec_field(r, i, path, "discount_pct", 3, 2, 10000, "100", 1, &bp))
    return 400;
  if (!keep || ln.qty <= 0)
    return 0;
  ln.sku_len = (uint32_t)n1;
  ln.cat_len = (uint32_t)n2;
  ln.gross = xform_line_gross(ln.qty, price);
  ln.net = xform_line_net(ln.qty, price, bp);
  r->lines[r->nlines++] = ln;
  return 0;
}

static int check_lines(run_t *r, uint32_t o, const char *path, order_t *ord) {
  uint32_t a;
  if (field(r, o, path, "lines", &a))
    return 400;
  if (r->d->nodes[a].type != XJ_ARR)
    return fail(r, "%s/lines must be array", path);
  int keep = ord->status != CANCELLED;
  ord->lines = r->lines + r->nlines;
  uint32_t c = a + 1;
  for (size_t j = 0; j < r->d->nodes[a].count; j++, c = r->d->nodes[c].end)
    if (check_line(r, c, path, j, keep))
      return 400;
  ord->nlines = (uint32_t)(r->lines + r->nlines - ord->lines);
  return 0;
}

static void totals(order_t *ord) {
  ord->gross = ord->net = 0;
  for (uint32_t k = 0; k < ord->nlines; k++) {
    ord->gross += ord->lines[k].gross;
    ord->net += ord->lines[k].net;
  }
  ord->total = ord->net + ord->ship;
}

static int check_order(run_t *r, uint32_t o, size_t idx) {
  char path[48];
  order_t ord;
  memset(&ord, 0, sizeof(ord));
  snprintf(path, sizeof(path), "body/orders/%zu", idx);
  if (object_at(r, o, path) || int_field(r, o, path, "id", 1, MAX_SAFE_INT, &ord.id) ||
      check_customer(r, o, path, &ord) || check_status(r, o, path, &ord) ||
      check_time(r, o, path, &ord) || check_lines(r, o, path, &ord) ||
      dec_field(r, o, path, "shipping", 5, 2, 9999999, "99999.99", 0, &ord.ship))
    return 400;
  ord.index = (uint32_t)idx;
  if (ord.status == CANCELLED) {
    r->c.cancelled++;
  } else if (ord.nlines == 0) {
    r->c.empty++;
  } else {
    totals(&ord);
    r->orders[r->norders++] = ord;
  }
  return 0;
}

/* ---- the document ---- */

/* Counts lines of every order that has a "lines" array (the limit is
 * checked before any order is). */
static size_t count_lines(const xj_doc_t *d, uint32_t arr) {
  size_t total = 0;
  uint32_t c = arr + 1;
  for (uint32_t k = 0; k < d->nodes[arr].count; k++, c = d->nodes[c].end) {
    if (d->nodes[c].type != XJ_OBJ)
      continue;
    uint32_t l = xj_get(d, c, "lines");
    if (l && d->nodes[l].type == XJ_ARR)
      total += d->nodes[l].count;
  }
  return total;
}

static int check_doc(run_t *r, uint32_t *orders) {
  const xj_doc_t *d = r->d;
  if (d->nodes[0].type != XJ_OBJ)
    return fail(r, "body must be object");
  if (field(r, 0, "body", "orders", orders))
    return 400;
  if (d->nodes[*orders].type != XJ_ARR)
    return fail(r, "body/orders must be array");
  r->c.orders_in = d->nodes[*orders].count;
  if (r->c.orders_in > r->lim->max_orders)
    return fail(r, "body/orders must NOT have more than %zu items", r->lim->max_orders);
  r->c.lines_in = count_lines(d, *orders);
  if (r->c.lines_in > r->lim->max_lines)
    return fail(r, "body/orders must NOT have more than %zu lines in total",
                r->lim->max_lines);
  return 0;
}

static int check_all(run_t *r) {
  uint32_t arr = 0;
  if (check_doc(r, &arr))
    return 400;
  r->orders = xmalloc((r->c.orders_in + 1) * sizeof(*r->orders));
  r->lines = xmalloc((r->c.lines_in + 1) * sizeof(*r->lines));
  uint32_t c = arr + 1;
  for (size_t k = 0; k < r->c.orders_in; k++, c = r->d->nodes[c].end)
    if (check_order(r, c, k))
      return 400;
  return 0;
}

/* ---- ordering ---- */

static int cmp_i64(int64_t a, int64_t b) {
  return a < b ? -1 : a > b;
}

static int by_value(const void *pa, const void *pb) {
  return cmp_i64(*(const int64_t *)pa, *(const int64_t *)pb);
}

static int by_customer_time(const void *pa, const void *pb) {
  const order_t *a = pa, *b = pb;
  int c;
  if ((c = cmp_i64(a->cust, b->cust)) || (c = cmp_i64(a->at.sec, b->at.sec)) ||
      (c = cmp_i64(a->at.nsec, b->at.nsec)) || (c = cmp_i64(a->id, b->id)))
    return c;
  return cmp_i64(a->index, b->index);
}

static int by_total_desc(const void *pa, const void *pb) {
  const group_t *a = pa, *b = pb;
  int c = cmp_i64(b->total, a->total);
  return c ? c : cmp_i64(a->first->cust, b->first->cust);
}

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn) {
  int c = memcmp(a, b, an < bn ? an : bn);
  return c ? c : cmp_i64((int64_t)an, (int64_t)bn);
}

static int by_category(const void *pa, const void *pb) {
  const line_t *a = *(line_t *const *)pa, *b = *(line_t *const *)pb;
  return bytes_cmp(a->cat, a->cat_len, b->cat, b->cat_len);
}

/* Category aggregates reuse line_t: net, qty (units) and gross (line count). */
static int by_net_desc(const void *pa, const void *pb) {
  const line_t *a = pa, *b = pb;
  int c = cmp_i64(b->net, a->net);
  return c ? c : bytes_cmp(a->cat, a->cat_len, b->cat, b->cat_len);
}

static group_t *make_groups(run_t *r, size_t *ngroups) {
  qsort(r->orders, r->norders, sizeof(*r->orders), by_customer_time);
  group_t *g = xmalloc((r->norders + 1) * sizeof(*g));
  size_t n = 0;
  for (size_t i = 0; i < r->norders; i++) {
    if (i == 0 || r->orders[i].cust != r->orders[i - 1].cust)
      g[n++] = (group_t){&r->orders[i], 0, 0};
    g[n - 1].count++;
    g[n - 1].total += r->orders[i].total;
  }
  qsort(g, n, sizeof(*g), by_total_desc);
  *ngroups = n;
  return g;
}

static line_t *make_categories(run_t *r, size_t *ncat) {
  line_t **by = xmalloc((r->nlines + 1) * sizeof(*by));
  line_t *agg = xmalloc((r->nlines + 1) * sizeof(*agg));
  size_t n = 0;
  for (size_t i = 0; i < r->nlines; i++) by[i] = &r->lines[i];
  qsort(by, r->nlines, sizeof(*by), by_category);
  for (size_t i = 0; i < r->nlines; i++) {
    if (i == 0 || by_category(&by[i], &by[i - 1]) != 0)
      agg[n++] = (line_t){.cat = by[i]->cat, .cat_len = by[i]->cat_len};
    agg[n - 1].net += by[i]->net;
    agg[n - 1].qty += by[i]->qty;
    agg[n - 1].gross++;
  }
  free(by);
  qsort(agg, n, sizeof(*agg), by_net_desc);
  *ncat = n;
  return agg;
}

/* ---- output ---- */

#define KEY(b, k) core_buf_append((b), "\"" k "\":", sizeof(k) + 2)
#define KV(b, k, v) (KEY(b, k), core_buf_put_i64((b), (int64_t)(v)))

static void put_c100(core_buf_t *b, int64_t v) {
  char frac[3] = {(char)('0' + v % 100 / 10), (char)('0' + v % 10), 0};
  core_buf_put_i64(b, v / 100);
  core_buf_putc(b, '.');
  core_buf_append(b, frac, 2);
}

static void put_line(core_buf_t *b, const line_t *l) {
  core_buf_append(b, "{\"sku\":", 7);
  core_buf_put_json_str(b, l->sku, l->sku_len);
  core_buf_append(b, ",\"category\":", 12);
  core_buf_put_json_str(b, l->cat, l->cat_len);
  core_buf_putc(b, ',');
  KV(b, "quantity", l->qty);
  core_buf_putc(b, ',');
  KV(b, "gross_cents", l->gross);
  core_buf_putc(b, ',');
  KV(b, "discount_cents", l->gross - l->net);
  core_buf_putc(b, ',');
  KV(b, "net_cents", l->net);
  core_buf_putc(b, '}');
}

static void put_order(core_buf_t *b, const order_t *o) {
  char ts[25];
  int64_t days = o->at.sec >= 0 ? o->at.sec / 86400 : -((-o->at.sec + 86399) / 86400);
  int64_t wy;
  int wk;
  xform_time_format(&o->at, ts);
  xform_iso_week(days, &wy, &wk);
  core_buf_putc(b, '{');
  KV(b, "id", o->id);
  core_buf_printf(b,
                  ",\"status\":\"%s\",\"placed_at\":\"%s\",\"weekday\":\"%s\","
                  "\"iso_week\":\"%04lld-W%02d\",\"lines\":[",
                  statuses[o->status], ts, weekdays[xform_weekday(days)], (long long)wy,
                  wk);
  for (uint32_t k = 0; k < o->nlines; k++) {
    if (k)
      core_buf_putc(b, ',');
    put_line(b, &o->lines[k]);
  }
  core_buf_append(b, "],", 2);
  KV(b, "gross_cents", o->gross);
  core_buf_putc(b, ',');
  KV(b, "discount_cents", o->gross - o->net);
  core_buf_putc(b, ',');
  KV(b, "subtotal_cents", o->net);
  core_buf_putc(b, ',');
  KV(b, "shipping_cents", o->ship);
  core_buf_putc(b, ',');
  KV(b, "total_cents", o->total);
  core_buf_putc(b, '}');
}

static void put_customer(core_buf_t *b, const xj_doc_t *d, const group_t *g) {
  size_t n;
  const char *s;
  uint32_t c = g->first->cust_node, name = xj_get(d, c, "name"),
           email = xj_get(d, c, "email");
  core_buf_putc(b, '{');
  KV(b, "id", g->first->cust);
  core_buf_append(b, ",\"name\":", 8);
  s = xj_str(d, name, &n);
  core_buf_put_json_str(b, s, n);
  core_buf_append(b, ",\"email\":", 9);
  if (email && d->nodes[email].type == XJ_STR) {
    s = xj_str(d, email, &n);
    core_buf_put_json_str(b, s, n);
  } else {
    core_buf_append(b, "null", 4);
  }
  core_buf_putc(b, ',');
  KV(b, "order_count", g->count);
  core_buf_putc(b, ',');
  KV(b, "total_cents", g->total);
  core_buf_append(b, ",\"orders\":[", 11);
  for (size_t k = 0; k < g->count; k++) {
    if (k)
      core_buf_putc(b, ',');
    put_order(b, &g->first[k]);
  }
  core_buf_append(b, "]}", 2);
}

static void put_counts(core_buf_t *b, const run_t *r, size_t ngroups) {
  size_t units = 0;
  for (size_t i = 0; i < r->nlines; i++) units += (size_t)r->lines[i].qty;
  KEY(b, "counts");
  core_buf_putc(b, '{');
  KV(b, "orders_in", r->c.orders_in);
  core_buf_putc(b, ',');
  KV(b, "orders_cancelled", r->c.cancelled);
  core_buf_putc(b, ',');
  KV(b, "orders_empty", r->c.empty);
  core_buf_putc(b, ',');
  KV(b, "orders_out", r->norders);
  core_buf_putc(b, ',');
  KV(b, "lines_in", r->c.lines_in);
  core_buf_putc(b, ',');
  KV(b, "lines_out", r->nlines);
  core_buf_putc(b, ',');
  KV(b, "customers", ngroups);
  core_buf_putc(b, ',');
  KV(b, "units", units);
  core_buf_append(b, "},", 2);
}

static void put_totals(core_buf_t *b, const run_t *r) {
  int64_t gross = 0, net = 0, ship = 0;
  for (size_t i = 0; i < r->norders; i++) {
    gross += r->orders[i].gross;
    net += r->orders[i].net;
    ship += r->orders[i].ship;
  }
  KEY(b, "totals");
  core_buf_putc(b, '{');
  KV(b, "gross_cents", gross);
  core_buf_putc(b, ',');
  KV(b, "discount_cents", gross - net);
  core_buf_putc(b, ',');
  KV(b, "subtotal_cents", net);
  core_buf_putc(b, ',');
  KV(b, "shipping_cents", ship);
  core_buf_putc(b, ',');
  KV(b, "revenue_cents", net + ship);
  core_buf_append(b, "},", 2);
}

static void put_stats(core_buf_t *b, const run_t *r) {
  size_t n = r->norders;
  KEY(b, "order_totals");
  if (n == 0) {
    core_buf_puts(b,
                  "{\"mean_cents\":null,\"stddev_cents\":null,\"p50_cents\":null,"
                  "\"p90_cents\":null,\"p99_cents\":null},");
    return;
  }
  int64_t *v = xmalloc(n * sizeof(*v));
  for (size_t i = 0; i < n; i++) v[i] = r->orders[i].total;
  qsort(v, n, sizeof(*v), by_value);
  core_buf_append(b, "{\"mean_cents\":", 14);
  put_c100(b, xform_mean_c100(v, n));
  core_buf_append(b, ",\"stddev_cents\":", 16);
  put_c100(b, xform_stddev_c100(v, n));
  core_buf_putc(b, ',');
  KV(b, "p50_cents", xform_percentile(v, n, 50));
  core_buf_putc(b, ',');
  KV(b, "p90_cents", xform_percentile(v, n, 90));
  core_buf_putc(b, ',');
  KV(b, "p99_cents", xform_percentile(v, n, 99));
  core_buf_append(b, "},", 2);
  free(v);
}

static void put_weekdays(core_buf_t *b, const run_t *r) {
  int64_t rev[7] = {0};
  for (size_t i = 0; i < r->norders; i++) {
    int64_t sec = r->orders[i].at.sec;
    int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
    rev[xform_weekday(days)] += r->orders[i].total;
  }
  KEY(b, "revenue_by_weekday");
  for (int k = 0; k < 7; k++) {
    core_buf_printf(b, "%c\"%s\":", k ? ',' : '{', weekdays[k]);
    core_buf_put_i64(b, rev[k]);
  }
  core_buf_append(b, "},", 2);
}

static void put_categories(core_buf_t *b, run_t *r) {
  size_t n;
  line_t *agg = make_categories(r, &n);
  KEY(b, "revenue_by_category");
  core_buf_putc(b, '[');
  for (size_t k = 0; k < n; k++) {
    if (k)
      core_buf_putc(b, ',');
    core_buf_append(b, "{\"category\":", 12);
    core_buf_put_json_str(b, agg[k].cat, agg[k].cat_len);
    core_buf_putc(b, ',');
    KV(b, "net_cents", agg[k].net);
    core_buf_putc(b, ',');
    KV(b, "units", agg[k].qty);
    core_buf_putc(b, ',');
    KV(b, "lines", agg[k].gross);
    core_buf_putc(b, '}');
  }
  core_buf_append(b, "],", 2);
  free(agg);
}

static void put_doc(core_buf_t *b, run_t *r) {
  size_t ngroups;
  group_t *g = make_groups(r, &ngroups);
  core_buf_putc(b, '{');
  put_counts(b, r, ngroups);
  put_totals(b, r);
  put_stats(b, r);
  put_weekdays(b, r);
  put_categories(b, r);
  KEY(b, "customers");
  core_buf_putc(b, '[');
  for (size_t k = 0; k < ngroups; k++) {
    if (k)
      core_buf_putc(b, ',');
    put_customer(b, r->d, &g[k]);
  }
  core_buf_append(b, "]}", 2);
  free(g);
}

/* The checks that come before parsing, in the order docs/workloads.md
 * gives them. */
static int precheck(run_t *r, const char *in, size_t n) {
  if (n == 0)
    return fail(r, "Body cannot be empty when content-type is set to 'application/json'");
  if (core_utf8_count(in, n) < 0)
    return fail(r, "body must be valid UTF-8");
  if (xj_depth(in, n) > r->lim->max_depth)
    return fail(r, "body must NOT be nested deeper than %d levels", r->lim->max_depth);
  return 0;
}

int xform_run(const char *in, size_t n, const xform_limits_t *lim, core_buf_t *out,
              char *err, size_t errlen) {
  xform_limits_t dflt;
  xj_doc_t doc = {0};
  if (!lim) {
    xform_limits_default(&dflt);
    lim = &dflt;
  }
  run_t r = {.d = &doc, .lim = lim, .err = err, .errlen = errlen};
  int rc = precheck(&r, in, n);
  if (rc)
    goto done;
  if (xj_parse(&doc, in, n, lim->max_depth)) {
    rc = fail(&r, "Body is not valid JSON");
    goto done;
  }
  if ((rc = check_all(&r)))
    goto done;
  core_buf_reserve(out, n);
  put_doc(out, &r);
done:
  free(r.orders);
  free(r.lines);
  xj_free(&doc);
  return rc;
}
