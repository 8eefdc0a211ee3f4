/* xform's private helpers: a strict RFC 8259 parser into one flat node
 * array (no allocation per value) that can also check UTF-8 as it goes, and
 * the byte-level checks the transform falls back on to name a refusal. */
#ifndef LOOPLAB_XFORM_INTERNAL_H
#define LOOPLAB_XFORM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "xform.h"

typedef enum { XJ_NULL, XJ_FALSE, XJ_TRUE, XJ_NUM, XJ_STR, XJ_ARR, XJ_OBJ } xj_type_t;

/* The keys the transform reads. The parser gives each object member the code
 * of its (decoded) key, XK_OTHER for any other key, so that finding a field
 * costs no string comparison. */
typedef enum {
  XK_OTHER,
  XK_ID,
  XK_SKU,
  XK_NAME,
  XK_EMAIL,
  XK_LINES,
  XK_STATUS,
  XK_ORDERS,
  XK_CUSTOMER,
  XK_CATEGORY,
  XK_QUANTITY,
  XK_SHIPPING,
  XK_PLACED_AT,
  XK_UNIT_PRICE,
  XK_DISCOUNT_PCT,
  XK_COUNT
} xj_key_t;

/* Nodes are stored in document order. A container's children follow it; the
 * next sibling of node i is nodes[nodes[i].end]. An object member carries
 * its key (offset and length in doc->strs, and its xj_key_t). Strings (keys
 * and values) are decoded into doc->strs. plain is set for a string known
 * to hold no quote, backslash or control character (0 means "not known"),
 * so that the output can copy it without looking at each byte. */
typedef struct xj_node_s {
  uint8_t type;
  uint8_t kid;
  uint8_t plain; /* a string whose decoded bytes need no escape in JSON */
  uint32_t key, klen;
  uint32_t end;
  union {
    uint32_t count; /* children of an array or object */
    union {
      double num;
      struct {
        uint32_t off, len;
      } s;
    } v; /* a number's or a string's value */
  };
} xj_node_t;

/* The nodes and the string pool live in the document's arena, which the
 * transform also uses for everything else it allocates for one document:
 * xj_free releases it all at once. */
typedef struct xj_doc_s {
  xj_node_t *nodes;
  size_t n, cap;
  char *strs;
  size_t slen;
  core_arena_t arena;
} xj_doc_t;

/* Parses in[0..n) as one JSON value with optional surrounding whitespace.
 * A \u escape that leaves a lone surrogate is invalid; so is nesting deeper
 * than max_depth. Bytes inside strings are not checked for UTF-8. 0 or
 * -EINVAL; xj_free either way. */
int xj_parse(xj_doc_t *d, const char *in, size_t n, int max_depth);
/* The same, and also -EINVAL unless in[0..n) is well-formed UTF-8 (checked
 * inside strings as they are decoded; outside them only ASCII is JSON). */
int xj_parse_utf8(xj_doc_t *d, const char *in, size_t n, int max_depth);
void xj_free(xj_doc_t *d);

/* The deepest nesting of [ and { outside strings, scanning bytes
 * (docs/workloads.md defines the depth this way, valid JSON or not). */
int xj_depth(const char *in, size_t n);
/* 1 if in[0..n) is well-formed UTF-8 (no overlongs, surrogates or values
 * above U+10FFFF); ASCII runs are skipped 8 bytes at a time. */
int xj_utf8_valid(const char *in, size_t n);

static inline const char *xj_str(const xj_doc_t *d, uint32_t i, size_t *len) {
  *len = d->nodes[i].v.s.len;
  return d->strs + d->nodes[i].v.s.off;
}

/* The member named key of object obj (the last one if the key repeats), or
 * 0 (the root is never a member). */
uint32_t xj_get(const xj_doc_t *d, uint32_t obj, const char *key);

/* Fills m[k] with the last member of obj whose key is k, 0 where there is
 * none: one walk over the members finds every field the transform reads. */
void xj_members(const xj_doc_t *d, uint32_t obj, uint32_t m[XK_COUNT]);

/* ---- The transform's state for one document (xform.c checks and groups,
 * write.c serializes). Everything here lives in the document's arena. ---- */

/* A kept line. */
typedef struct xf_line_s {
  const char *sku, *cat; /* in the document's string pool */
  uint32_t sku_len, cat_len;
  uint8_t sku_plain, cat_plain; /* see xj_node_t.plain */
  int64_t qty, gross, net;
} xf_line_t;

/* A kept order, with the fields of its customer the output needs. */
typedef struct xf_order_s {
  int64_t id, cust;
  const char *name, *email; /* email NULL when absent or null */
  uint32_t name_len, email_len;
  uint8_t name_plain, email_plain;
  uint32_t index, status, nlines;
  xform_time_t at;
  int64_t ship, gross, net, total;
  xf_line_t *lines; /* nlines of them, in input order */
} xf_order_t;

/* A customer: count orders from first on, sorted by time. */
typedef struct xf_group_s {
  xf_order_t *first;
  size_t count;
  int64_t total;
} xf_group_t;

/* A distinct category of the kept lines, and its sums. */
typedef struct xf_cat_s {
  const char *name;
  uint32_t len;
  uint8_t plain;
  int64_t net, units, lines;
} xf_cat_t;

typedef struct xf_run_s {
  const xj_doc_t *d;
  core_arena_t *arena; /* the document's */
  const xform_limits_t *lim;
  char *err;
  size_t errlen;
  /* Where the checks are, named in a refusal: order, line (SIZE_MAX when
   * not in one), customer or not. */
  size_t at_order, at_line;
  int at_customer;
  xf_order_t *orders; /* the kept ones */
  size_t norders;
  xf_line_t *lines; /* the kept ones; each order's are contiguous */
  size_t nlines;
  xf_cat_t *cats; /* in order of first appearance until sorted */
  size_t ncats;
  uint32_t *cat_slots; /* open addressing: 1 + index into cats, 0 free */
  size_t cat_mask;
  xf_group_t *groups; /* sorted by total descending, then customer id */
  size_t ngroups;
  int64_t *totals; /* the kept orders' total_cents, ascending */
  size_t orders_in, cancelled, empty, lines_in;
  int64_t units;
} xf_run_t;

/* The status names, in the order of xf_order_t.status. */
extern const char *const xf_statuses[5];

/* Appends the output of docs/workloads.md for a checked and grouped run. */
void xf_write(core_buf_t *out, const xf_run_t *r);

#endif
