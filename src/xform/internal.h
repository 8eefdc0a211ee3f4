/* xform's private helpers: a strict RFC 8259 parser into one flat node
 * array (no allocation per value), and the checks that run before it. */
#ifndef LOOPLAB_XFORM_INTERNAL_H
#define LOOPLAB_XFORM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

typedef enum { XJ_NULL, XJ_FALSE, XJ_TRUE, XJ_NUM, XJ_STR, XJ_ARR, XJ_OBJ } xj_type_t;

/* Nodes are stored in document order. A container's children follow it; the
 * next sibling of node i is nodes[nodes[i].end]. An object member carries
 * its key. Strings (keys and values) are decoded into doc->strs. */
typedef struct xj_node_s {
  uint8_t type;
  uint32_t key, klen;
  uint32_t end;
  uint32_t count; /* children of an array or object */
  union {
    double num;
    struct {
      uint32_t off, len;
    } s;
  } v;
} xj_node_t;

typedef struct xj_doc_s {
  xj_node_t *nodes;
  size_t n, cap;
  char *strs;
  size_t slen;
} xj_doc_t;

/* Parses in[0..n) as one JSON value with optional surrounding whitespace.
 * A \u escape that leaves a lone surrogate is invalid. Recursion stops at
 * max_depth (callers run xj_depth first). 0 or -EINVAL; xj_free either way. */
int xj_parse(xj_doc_t *d, const char *in, size_t n, int max_depth);
void xj_free(xj_doc_t *d);

/* The deepest nesting of [ and { outside strings, scanning bytes
 * (docs/workloads.md defines the depth this way, valid JSON or not). */
int xj_depth(const char *in, size_t n);
/* 1 if in[0..n) is well-formed UTF-8 (no overlongs, surrogates or values
 * above U+10FFFF). */

static inline const char *xj_str(const xj_doc_t *d, uint32_t i, size_t *len) {
  *len = d->nodes[i].v.s.len;
  return d->strs + d->nodes[i].v.s.off;
}

/* The member named key of object obj (the last one if the key repeats), or
 * 0 (the root is never a member). */
uint32_t xj_get(const xj_doc_t *d, uint32_t obj, const char *key);

#endif
