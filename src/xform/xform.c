/* W3: checks an orders export and restructures it (docs/workloads.md, "W3").
 *
 * The bytes are read once: the parser (json.c) checks the grammar, the depth
 * and UTF-8 while it builds the node array. Only when it refuses are the
 * bytes scanned again, to give the refusal the message of the first failing
 * check in the specification's order (UTF-8, then depth, then grammar). The
 * checks then walk the nodes, each order in document order (so the first
 * invalid field is the one reported), converting as they go; the kept
 * orders are sorted into customer groups and written out (write.c). All
 * memory for one document comes from the parser's arena, freed once. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "xform.h"

#define MAX_SAFE_INT 9007199254740991.0
#define NO_LINE SIZE_MAX

typedef xf_run_t run_t;

const char *const xf_statuses[5] = {"pending", "paid", "shipped", "delivered",
                                    "cancelled"};
enum { CANCELLED = 4 };

void xform_limits_default(xform_limits_t *lim) {
  lim->max_depth = XFORM_MAX_DEPTH;
  lim->max_orders = XFORM_MAX_ORDERS;
  lim->max_lines = XFORM_MAX_LINES;
}

/* ---- refusals: formatted only when one happens ---- */

static int fail(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(run_t *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, r->errlen, fmt, ap);
  va_end(ap);
  return 400;
}

/* A message about the object the checks are in: its path, then fmt. */
static int fail_at(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_at(run_t *r, const char *fmt, ...) {
  char path[96], msg[192];
  int n = snprintf(path, sizeof(path), "body/orders/%zu", r->at_order);
  if (r->at_customer)
    snprintf(path + n, sizeof(path) - (size_t)n, "/customer");
  else if (r->at_line != NO_LINE)
    snprintf(path + n, sizeof(path) - (size_t)n, "/lines/%zu", r->at_line);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return fail(r, "%s%s", path, msg);
}

static int missing(run_t *r, const char *key) {
  return fail_at(r, " must have required property '%s'", key);
}

/* ---- typed fields; m holds the object's members by key ---- */

static const xj_node_t *node(const run_t *r, uint32_t i) {
  return &r->d->nodes[i];
}

static int int_field(run_t *r, const uint32_t *m, xj_key_t k, const char *key, double lo,
                     double hi, int64_t *out) {
  if (!m[k])
    return missing(r, key);
  const xj_node_t *nd = node(r, m[k]);
  double v = nd->v.num;
  /* The range test comes first: converting an out-of-range double (1e400
   * parses as infinity) to an integer is undefined. */
  if (nd->type != XJ_NUM || !(v >= lo && v <= hi) || v != (double)(int64_t)v)
    return fail_at(r, "/%s must be an integer from %.0f to %.0f", key, lo, hi);
  *out = (int64_t)v;
  return 0;
}

static int str_field(run_t *r, const uint32_t *m, xj_key_t k, const char *key,
                     const char **s, uint32_t *len, uint8_t *plain) {
  if (!m[k])
    return missing(r, key);
  const xj_node_t *nd = node(r, m[k]);
  if (nd->type != XJ_STR || nd->v.s.len == 0)
    return fail_at(r, "/%s must be a non-empty string", key);
  *s = r->d->strs + nd->v.s.off;
  *len = nd->v.s.len;
  *plain = nd->plain;
  return 0;
}

/* A decimal string with at most max_int and max_frac digits, up to max
 * (written max_text); absent is allowed, and gives 0, only when optional. */
typedef struct dec_rule_s {
  xj_key_t k;
  const char *key;
  int max_int, max_frac;
  int64_t max;
  const char *max_text;
  int optional;
} dec_rule_t;

static const dec_rule_t unit_price = {XK_UNIT_PRICE, "unit_price", 4, 4,
                                      99999999,      "9999.9999",  0};
static const dec_rule_t discount_pct = {XK_DISCOUNT_PCT, "discount_pct", 3, 2,
                                        10000,           "100",          1};
static const dec_rule_t shipping = {XK_SHIPPING, "shipping", 5, 2,
                                    9999999,     "99999.99", 0};

static int dec_field(run_t *r, const uint32_t *m, const dec_rule_t *rule, int64_t *out) {
  uint32_t i = m[rule->k];
  if (!i && rule->optional) {
    *out = 0;
    return 0;
  }
  if (!i)
    return missing(r, rule->key);
  const xj_node_t *nd = node(r, i);
  if (nd->type != XJ_STR ||
      xform_decimal_parse(r->d->strs + nd->v.s.off, nd->v.s.len, rule->max_int,
                          rule->max_frac, out) ||
      *out > rule->max)
    return fail_at(r,
                   "/%s must be a decimal string from 0 to %s with at most %d decimals",
                   rule->key, rule->max_text, rule->max_frac);
  return 0;
}

/* Looks up m[k] as an object and fills its own members; 400 if it is not. */
static int object(run_t *r, uint32_t i, uint32_t m[XK_COUNT]) {
  if (node(r, i)->type != XJ_OBJ)
    return fail_at(r, " must be object");
  xj_members(r->d, i, m);
  return 0;
}

/* ---- categories: summed per kept line as it is checked ---- */

static uint32_t hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static void add_category(run_t *r, const xf_line_t *ln) {
  size_t i = hash(ln->cat, ln->cat_len) & r->cat_mask;
  for (;; i = (i + 1) & r->cat_mask) {
    uint32_t slot = r->cat_slots[i];
    if (slot == 0) {
      r->cats[r->ncats] =
          (xf_cat_t){.name = ln->cat, .len = ln->cat_len, .plain = ln->cat_plain};
      r->cat_slots[i] = (uint32_t)++r->ncats;
      break;
    }
    xf_cat_t *c = &r->cats[slot - 1];
    if (c->len == ln->cat_len && memcmp(c->name, ln->cat, ln->cat_len) == 0)
      break;
  }
  xf_cat_t *c = &r->cats[r->cat_slots[i] - 1];
  c->net += ln->net;
  c->units += ln->qty;
  c->lines++;
}

/* ---- one order ---- */

static int check_customer(run_t *r, const uint32_t *om, xf_order_t *ord) {
  uint32_t m[XK_COUNT];
  if (!om[XK_CUSTOMER])
    return missing(r, "customer");
  r->at_customer = 1;
  if (object(r, om[XK_CUSTOMER], m) ||
      int_field(r, m, XK_ID, "id", 1, MAX_SAFE_INT, &ord->cust) ||
      str_field(r, m, XK_NAME, "name", &ord->name, &ord->name_len, &ord->name_plain))
    return 400;
  const xj_node_t *e = m[XK_EMAIL] ? node(r, m[XK_EMAIL]) : NULL;
  if (e && e->type != XJ_STR && e->type != XJ_NULL)
    return fail_at(r, "/email must be a string or null");
  ord->email = e && e->type == XJ_STR ? r->d->strs + e->v.s.off : NULL;
  ord->email_len = ord->email ? e->v.s.len : 0;
  ord->email_plain = ord->email ? e->plain : 0;
  r->at_customer = 0;
  return 0;
}

/* The status by its length and first byte, confirmed by one comparison. */
static int status_of(const char *s, size_t n) {
  int k;
  switch (n) {
    case 4:
      k = 1;
      break;
    case 7:
      k = s[0] == 'p' ? 0 : 2;
      break;
    case 9:
      k = s[0] == 'd' ? 3 : 4;
      break;
    default:
      return -1;
  }
  return memcmp(s, xf_statuses[k], n) == 0 ? k : -1;
}

static int check_status(run_t *r, const uint32_t *om, xf_order_t *ord) {
  if (!om[XK_STATUS])
    return missing(r, "status");
  const xj_node_t *nd = node(r, om[XK_STATUS]);
  int k = nd->type == XJ_STR ? status_of(r->d->strs + nd->v.s.off, nd->v.s.len) : -1;
  if (k < 0)
    return fail_at(r,
                   "/status must be one of pending, paid, shipped, delivered, cancelled");
  ord->status = (uint32_t)k;
  return 0;
}

static int check_time(run_t *r, const uint32_t *om, xf_order_t *ord) {
  if (!om[XK_PLACED_AT])
    return missing(r, "placed_at");
  const xj_node_t *nd = node(r, om[XK_PLACED_AT]);
  if (nd->type != XJ_STR ||
      xform_time_parse(r->d->strs + nd->v.s.off, nd->v.s.len, &ord->at))
    return fail_at(r,
                   "/placed_at must be an RFC 3339 date-time like "
                   "2025-03-01T23:30:00.123+05:30 (year 1900 to 2999)");
  return 0;
}

/* Validates line node i and appends it to r->lines if it is kept. */
static int check_line(run_t *r, uint32_t i, int keep) {
  uint32_t m[XK_COUNT];
  xf_line_t ln;
  int64_t price, bp;
  if (object(r, i, m) ||
      str_field(r, m, XK_SKU, "sku", &ln.sku, &ln.sku_len, &ln.sku_plain) ||
      str_field(r, m, XK_CATEGORY, "category", &ln.cat, &ln.cat_len, &ln.cat_plain) ||
      int_field(r, m, XK_QUANTITY, "quantity", -1000, 1000, &ln.qty) ||
      dec_field(r, m, &unit_price, &price) || dec_field(r, m, &discount_pct, &bp))
    return 400;
  if (!keep || ln.qty <= 0)
    return 0;
  ln.gross = xform_line_gross(ln.qty, price);
  ln.net = xform_line_net(ln.qty, price, bp);
  r->lines[r->nlines++] = ln;
  r->units += ln.qty;
  add_category(r, &ln);
  return 0;
}

static int check_lines(run_t *r, const uint32_t *om, xf_order_t *ord) {
  uint32_t a = om[XK_LINES];
  if (!a)
    return missing(r, "lines");
  if (node(r, a)->type != XJ_ARR)
    return fail_at(r, "/lines must be array");
  int keep = ord->status != CANCELLED;
  ord->lines = r->lines + r->nlines;
  uint32_t c = a + 1;
  for (size_t j = 0; j < node(r, a)->count; j++, c = node(r, c)->end) {
    r->at_line = j;
    if (check_line(r, c, keep))
      return 400;
  }
  r->at_line = NO_LINE;
  ord->nlines = (uint32_t)(r->lines + r->nlines - ord->lines);
  return 0;
}

static void totals(xf_order_t *ord) {
  ord->gross = ord->net = 0;
  for (uint32_t k = 0; k < ord->nlines; k++) {
    ord->gross += ord->lines[k].gross;
    ord->net += ord->lines[k].net;
  }
  ord->total = ord->net + ord->ship;
}

static int check_order(run_t *r, uint32_t o, size_t idx) {
  uint32_t m[XK_COUNT];
  xf_order_t ord;
  memset(&ord, 0, sizeof(ord));
  r->at_order = idx;
  if (object(r, o, m) || int_field(r, m, XK_ID, "id", 1, MAX_SAFE_INT, &ord.id) ||
      check_customer(r, m, &ord) || check_status(r, m, &ord) || check_time(r, m, &ord) ||
      check_lines(r, m, &ord) || dec_field(r, m, &shipping, &ord.ship))
    return 400;
  ord.index = (uint32_t)idx;
  if (ord.status == CANCELLED) {
    r->cancelled++;
  } else if (ord.nlines == 0) {
    r->empty++;
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
    uint32_t l = 0, f = c + 1;
    for (uint32_t j = 0; j < d->nodes[c].count; j++, f = d->nodes[f].end)
      if (d->nodes[f].kid == XK_LINES)
        l = f;
    if (l && d->nodes[l].type == XJ_ARR)
      total += d->nodes[l].count;
  }
  return total;
}

static int check_doc(run_t *r, uint32_t *orders) {
  const xj_doc_t *d = r->d;
  uint32_t m[XK_COUNT];
  if (d->nodes[0].type != XJ_OBJ)
    return fail(r, "body must be object");
  xj_members(d, 0, m);
  if (!(*orders = m[XK_ORDERS]))
    return fail(r, "body must have required property 'orders'");
  if (d->nodes[*orders].type != XJ_ARR)
    return fail(r, "body/orders must be array");
  r->orders_in = d->nodes[*orders].count;
  if (r->orders_in > r->lim->max_orders)
    return fail(r, "body/orders must NOT have more than %zu items", r->lim->max_orders);
  r->lines_in = count_lines(d, *orders);
  if (r->lines_in > r->lim->max_lines)
    return fail(r, "body/orders must NOT have more than %zu lines in total",
                r->lim->max_lines);
  return 0;
}

/* The tables sized by the counts: kept orders and lines, and the category
 * hash (a power of two at least twice the lines, so it is never full). */
static void alloc_tables(run_t *r) {
  size_t slots = 16;
  while (slots < 2 * r->lines_in) slots *= 2;
  r->orders = core_arena_alloc(r->arena, (r->orders_in + 1) * sizeof(*r->orders));
  r->lines = core_arena_alloc(r->arena, (r->lines_in + 1) * sizeof(*r->lines));
  r->cats = core_arena_alloc(r->arena, (r->lines_in + 1) * sizeof(*r->cats));
  r->cat_slots = core_arena_alloc(r->arena, slots * sizeof(*r->cat_slots));
  memset(r->cat_slots, 0, slots * sizeof(*r->cat_slots));
  r->cat_mask = slots - 1;
}

static int check_all(run_t *r) {
  uint32_t arr = 0;
  if (check_doc(r, &arr))
    return 400;
  alloc_tables(r);
  r->at_line = NO_LINE;
  uint32_t c = arr + 1;
  for (size_t k = 0; k < r->orders_in; k++, c = r->d->nodes[c].end)
    if (check_order(r, c, k))
      return 400;
  return 0;
}

/* ---- ordering ---- */

/* A bottom-up merge sort of a[0..n), items of type T ordered by less(a, b)
 * (an inline function, so the comparison is inlined, not called through a
 * pointer as qsort's is), with scratch from the arena. Stable, though every
 * order below is total (a tie-break decides every pair), so any correct
 * sort gives the same bytes. */
#define DEFINE_SORT(name, T, less)                                   \
  static void name(T *a, size_t n, core_arena_t *arena) {            \
    T *src = a, *dst = core_arena_alloc(arena, (n + 1) * sizeof(T)); \
    for (size_t width = 1; width < n; width *= 2) {                  \
      for (size_t lo = 0; lo < n; lo += 2 * width) {                 \
        size_t mid = lo + width < n ? lo + width : n;                \
        size_t hi = lo + 2 * width < n ? lo + 2 * width : n;         \
        size_t i = lo, j = mid, k = lo;                              \
        while (i < mid && j < hi)                                    \
          dst[k++] = less(&src[j], &src[i]) ? src[j++] : src[i++];   \
        while (i < mid) dst[k++] = src[i++];                         \
        while (j < hi) dst[k++] = src[j++];                          \
      }                                                              \
      T *t = src;                                                    \
      src = dst;                                                     \
      dst = t;                                                       \
    }                                                                \
    if (src != a)                                                    \
      memcpy(a, src, n * sizeof(T));                                 \
  }

static int i64_less(const int64_t *a, const int64_t *b) {
  return *a < *b;
}

/* Orders within a customer: the instant, then the id, then the position
 * in the input; customers together by id. */
typedef xf_order_t *order_ref_t;

static int order_less(const order_ref_t *pa, const order_ref_t *pb) {
  const xf_order_t *a = *pa, *b = *pb;
  if (a->cust != b->cust)
    return a->cust < b->cust;
  if (a->at.sec != b->at.sec)
    return a->at.sec < b->at.sec;
  if (a->at.nsec != b->at.nsec)
    return a->at.nsec < b->at.nsec;
  if (a->id != b->id)
    return a->id < b->id;
  return a->index < b->index;
}

static int group_less(const xf_group_t *a, const xf_group_t *b) {
  if (a->total != b->total)
    return a->total > b->total;
  return a->first->cust < b->first->cust;
}

/* Net descending, then the name's bytes ascending (unsigned, a prefix
 * first). */
static int cat_less(const xf_cat_t *a, const xf_cat_t *b) {
  if (a->net != b->net)
    return a->net > b->net;
  int c = memcmp(a->name, b->name, a->len < b->len ? a->len : b->len);
  return c ? c < 0 : a->len < b->len;
}

DEFINE_SORT(sort_i64, int64_t, i64_less)
DEFINE_SORT(sort_orders, order_ref_t, order_less)
DEFINE_SORT(sort_groups, xf_group_t, group_less)
DEFINE_SORT(sort_cats, xf_cat_t, cat_less)

/* The kept orders, by customer and time, copied into customer groups, which
 * are then sorted by total descending and customer id. */
static void make_groups(run_t *r) {
  size_t n = r->norders;
  order_ref_t *by = core_arena_alloc(r->arena, (n + 1) * sizeof(*by));
  for (size_t i = 0; i < n; i++) by[i] = &r->orders[i];
  sort_orders(by, n, r->arena);
  xf_order_t *sorted = core_arena_alloc(r->arena, (n + 1) * sizeof(*sorted));
  for (size_t i = 0; i < n; i++) sorted[i] = *by[i];
  xf_group_t *g = core_arena_alloc(r->arena, (n + 1) * sizeof(*g));
  size_t ng = 0;
  for (size_t i = 0; i < n; i++) {
    if (i == 0 || sorted[i].cust != sorted[i - 1].cust)
      g[ng++] = (xf_group_t){&sorted[i], 0, 0};
    g[ng - 1].count++;
    g[ng - 1].total += sorted[i].total;
  }
  sort_groups(g, ng, r->arena);
  r->groups = g;
  r->ngroups = ng;
}

static void order_all(run_t *r) {
  r->totals = core_arena_alloc(r->arena, (r->norders + 1) * sizeof(*r->totals));
  for (size_t i = 0; i < r->norders; i++) r->totals[i] = r->orders[i].total;
  sort_i64(r->totals, r->norders, r->arena);
  sort_cats(r->cats, r->ncats, r->arena);
  make_groups(r);
}

/* The parser refused: the message is that of the first check of
 * docs/workloads.md that fails, so UTF-8 and the depth are looked at on
 * their own before the grammar is blamed. */
static int refuse(run_t *r, const char *in, size_t n) {
  if (!xj_utf8_valid(in, n))
    return fail(r, "body must be valid UTF-8");
  if (xj_depth(in, n) > r->lim->max_depth)
    return fail(r, "body must NOT be nested deeper than %d levels", r->lim->max_depth);
  return fail(r, "Body is not valid JSON");
}

int xform_run(const char *in, size_t n, const xform_limits_t *lim, core_buf_t *out,
              char *err, size_t errlen) {
  xform_limits_t dflt;
  xj_doc_t doc;
  if (!lim) {
    xform_limits_default(&dflt);
    lim = &dflt;
  }
  run_t r = {.d = &doc, .arena = &doc.arena, .lim = lim, .err = err, .errlen = errlen};
  if (n == 0)
    return fail(&r,
                "Body cannot be empty when content-type is set to 'application/json'");
  int rc = 0;
  if (xj_parse_utf8(&doc, in, n, lim->max_depth))
    rc = refuse(&r, in, n);
  else if ((rc = check_all(&r)) == 0) {
    order_all(&r);
    xf_write(out, &r);
  }
  xj_free(&doc);
  return rc;
}
