/* A strict JSON parser (RFC 8259) for the transform: one node array and one
 * string pool in an arena sized by the input, instead of cJSON's allocation
 * per value and per string. It is also stricter than Debian's cJSON (which
 * takes "01", "1." and trailing bytes), so that every implementation of W3
 * accepts exactly the same documents.
 *
 * It is the transform's only pass over the bytes: it checks the grammar,
 * the nesting depth and (xj_parse_utf8) UTF-8 while it decodes. It is one
 * loop over an explicit stack of open containers rather than a recursive
 * descent, so the input and pool pointers stay in registers. Strings are
 * scanned 16 bytes at a time (SSE2, which every x86-64 has; 8 at a time
 * elsewhere) for the bytes that need a look: quote, backslash, control
 * characters and non-ASCII. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__) && !defined(XJ_NO_SSE2)
#include <emmintrin.h>
#define XJ_SSE2 1
#endif

#include "internal.h"

typedef const unsigned char *in_t;

/* Any byte above ' ' ends the whitespace: one test for compact documents. */
static inline in_t ws(in_t p, in_t end) {
  while (p < end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    p++;
  return p;
}

/* Doubling in the arena: the old array stays there until xj_free, which
 * bounds the waste by the final size. */
static xj_node_t *grow(core_arena_t *arena, const xj_node_t *nodes, size_t n,
                       size_t cap) {
  xj_node_t *bigger = core_arena_alloc(arena, 2 * cap * sizeof(*nodes));
  memcpy(bigger, nodes, n * sizeof(*nodes));
  return bigger;
}

/* The key of the value about to be pushed (all 0 outside objects). */
typedef struct pending_key_s {
  uint32_t off, len;
  uint8_t kid;
} pending_key_t;

/* A new node at the end of the array; a scalar's end (its next sibling) is
 * the next node. Inlined into parse, whose locals the pointers name. */
static inline xj_node_t *push(core_arena_t *arena, xj_node_t **nodes, size_t *n,
                              size_t *cap, xj_type_t type, const pending_key_t *k) {
  if (*n == *cap) {
    *nodes = grow(arena, *nodes, *n, *cap);
    *cap *= 2;
  }
  xj_node_t *nd = &(*nodes)[(*n)++];
  *nd = (xj_node_t){.type = (uint8_t)type, .kid = k->kid, .key = k->off, .klen = k->len};
  nd->end = (uint32_t)*n;
  return nd;
}

/* ---- strings ---- */

static int hexval(unsigned c) {
  if (c - '0' < 10)
    return (int)(c - '0');
  c |= 0x20;
  return c - 'a' < 6 ? (int)(c - 'a' + 10) : -1;
}

static int hex4(const unsigned char *p, unsigned *out) {
  int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), d = hexval(p[3]);
  if ((a | b | c | d) < 0)
    return -1;
  *out = (unsigned)(a << 12 | b << 8 | c << 4 | d);
  return 0;
}

static void put_utf8(char **w, unsigned cp) {
  char *o = *w;
  if (cp < 0x80) {
    *o++ = (char)cp;
  } else if (cp < 0x800) {
    *o++ = (char)(0xC0 | cp >> 6);
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *o++ = (char)(0xE0 | cp >> 12);
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *o++ = (char)(0xF0 | cp >> 18);
    *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  }
  *w = o;
}

/* \u escapes, p after the 'u': a lone surrogate is refused, a pair becomes
 * one character. The byte after the escape, or NULL. */
static in_t escape_u(in_t p, in_t end, char **w) {
  unsigned cp, lo;
  if (end - p < 4 || hex4(p, &cp))
    return NULL;
  p += 4;
  if (cp >= 0xDC00 && cp <= 0xDFFF)
    return NULL;
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) || lo < 0xDC00 ||
        lo > 0xDFFF)
      return NULL;
    p += 6;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  }
  put_utf8(w, cp);
  return p;
}

/* One escape, p at the byte after '\'. The byte after it, or NULL. */
static in_t escape(in_t p, in_t end, char **w) {
  char c;
  if (p >= end)
    return NULL;
  switch (*p++) {
    case '"':
      c = '"';
      break;
    case '\\':
      c = '\\';
      break;
    case '/':
      c = '/';
      break;
    case 'b':
      c = '\b';
      break;
    case 'f':
      c = '\f';
      break;
    case 'n':
      c = '\n';
      break;
    case 'r':
      c = '\r';
      break;
    case 't':
      c = '\t';
      break;
    case 'u':
      return escape_u(p, end, w);
    default:
      return NULL;
  }
  *(*w)++ = c;
  return p;
}

static int plain(unsigned c) {
  return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Copies the run of plain bytes at p to *w and returns the first byte that
 * is not plain (or end). Whole blocks are stored before they are checked:
 * the pool is as long as the input, and a decoded string never outgrows its
 * source, so a store of the block at p stays inside it. */
static const unsigned char *plain_run(const unsigned char *p, const unsigned char *end,
                                      char **w) {
  char *o = *w;
#ifdef XJ_SSE2
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                ctl = _mm_set1_epi8(0x1F);
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    _mm_storeu_si128((__m128i *)(void *)o, v);
    /* max(v, 0x1F) == 0x1F exactly for the bytes <= 0x1F (unsigned). */
    __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                     _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
    unsigned mask = (unsigned)(_mm_movemask_epi8(special) | _mm_movemask_epi8(v));
    if (mask) {
      unsigned k = (unsigned)__builtin_ctz(mask);
      *w = o + k;
      return p + k;
    }
    p += 16;
    o += 16;
  }
#else
  /* Per byte b of the word: high bit set when b is '"', '\\', below 0x20 or
   * above 0x7F. The lowest flagged byte is always a real one (the borrow
   * of the subtractions only runs upwards). */
  const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
  while (end - p >= 8) {
    uint64_t x, q, b;
    memcpy(&x, p, 8);
    memcpy(o, &x, 8);
    q = x ^ (ones * '"');
    b = x ^ (ones * '\\');
    uint64_t m = ((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x) | x;
    m &= high;
    if (m) {
      unsigned k = (unsigned)__builtin_ctzll(m) / 8;
      *w = o + k;
      return p + k;
    }
    p += 8;
    o += 8;
  }
#endif
  while (p < end && plain(*p)) *o++ = (char)*p++;
  *w = o;
  return p;
}

/* A string's body, p after the opening quote, decoded to *w. The byte
 * after the closing quote, or NULL. */
static in_t string(in_t p, in_t end, char **w, int utf8) {
  for (;;) {
    p = plain_run(p, end, w);
    if (p >= end)
      return NULL;
    unsigned c = *p;
    if (c == '"')
      return p + 1;
    if (c == '\\') {
      if (!(p = escape(p + 1, end, w)))
        return NULL;
      continue;
    }
    if (c < 0x20)
      return NULL;
    size_t k = utf8 ? core_utf8_char(p, end) : 1;
    if (k == 0)
      return NULL;
    memcpy(*w, p, k);
    *w += k;
    p += k;
  }
}

/* The usual string, short and plain, ends in the first block: decoded here
 * without a call, and *plain set; any other goes to string(). */
static inline in_t string_fast(in_t p, in_t end, char **w, int utf8, uint8_t *plain) {
#ifdef XJ_SSE2
  if (end - p >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    unsigned q = (unsigned)_mm_movemask_epi8(quote);
    /* Everything before the first quote is plain: no backslash, no control
     * character, no non-ASCII byte. */
    __m128i ctl = _mm_set1_epi8(0x1F);
    __m128i other = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\')),
                                 _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
    unsigned o = (unsigned)(_mm_movemask_epi8(other) | _mm_movemask_epi8(v));
    if (q && (o & ((q & -q) - 1)) == 0) {
      unsigned k = (unsigned)__builtin_ctz(q);
      _mm_storeu_si128((__m128i *)(void *)*w, v);
      *w += k;
      *plain = 1;
      return p + k + 1;
    }
  }
#endif
  return string(p, end, w, utf8);
}

/* The code of a decoded key: its length and first byte choose the one
 * candidate that one comparison then confirms. */
static uint8_t key_id(const char *k, uint32_t n) {
#define IS(lit, id) (memcmp(k, lit, sizeof(lit) - 1) == 0 ? (id) : XK_OTHER)
  switch (n) {
    case 2:
      return IS("id", XK_ID);
    case 3:
      return IS("sku", XK_SKU);
    case 4:
      return IS("name", XK_NAME);
    case 5:
      return k[0] == 'e' ? IS("email", XK_EMAIL) : IS("lines", XK_LINES);
    case 6:
      return k[0] == 's' ? IS("status", XK_STATUS) : IS("orders", XK_ORDERS);
    case 8:
      switch (k[0]) {
        case 'c':
          return k[1] == 'u' ? IS("customer", XK_CUSTOMER) : IS("category", XK_CATEGORY);
        case 'q':
          return IS("quantity", XK_QUANTITY);
        case 's':
          return IS("shipping", XK_SHIPPING);
        default:
          return XK_OTHER;
      }
    case 9:
      return IS("placed_at", XK_PLACED_AT);
    case 10:
      return IS("unit_price", XK_UNIT_PRICE);
    case 12:
      return IS("discount_pct", XK_DISCOUNT_PCT);
    default:
      return XK_OTHER;
  }
#undef IS
}

/* ---- numbers ---- */

static in_t digits(in_t p, in_t end, uint64_t *acc) {
  uint64_t v = *acc;
  while (p < end && (unsigned)(*p - '0') < 10) v = v * 10 + (*p++ - '0');
  *acc = v; /* wraps past 19 digits; only read for 15 or fewer */
  return p;
}

/* A number at p. An integer of at most 15 digits is exact as a double, so
 * it skips strtod, which gives the same correctly rounded value for it.
 * The byte after the number, or NULL. */
static in_t number(in_t p, in_t end, double *out) {
  in_t s = p, q;
  uint64_t u = 0, skip = 0;
  int neg = *p == '-', simple = 1;
  p += neg;
  in_t ds = p;
  if (p < end && *p == '0')
    p++;
  else if ((p = digits(p, end, &u)) == ds)
    return NULL;
  size_t ndig = (size_t)(p - ds);
  if (p < end && *p == '.') {
    simple = 0;
    if ((q = digits(p + 1, end, &skip)) == p + 1)
      return NULL;
    p = q;
  }
  if (p < end && (*p | 0x20) == 'e') {
    simple = 0;
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      p++;
    if ((q = digits(p, end, &skip)) == p)
      return NULL;
    p = q;
  }
  if (simple && ndig <= 15) {
    *out = neg ? -(double)u : (double)u;
    return p;
  }
  /* strtod wants a terminator; the token is short almost always. */
  size_t n = (size_t)(p - s);
  char tmp[64];
  char *buf = n < sizeof(tmp) ? tmp : xmalloc(n + 1);
  memcpy(buf, s, n);
  buf[n] = '\0';
  *out = strtod(buf, NULL);
  if (buf != tmp)
    free(buf);
  return p;
}

/* ---- the document ---- */

/* One JSON value with surrounding whitespace. The loop has three places:
 * value (a value starts at p), next (a value just ended: a comma or the
 * parent's closing bracket follows) and key (a member's key starts at p).
 * stack[0..depth) holds the open containers' nodes; top is the innermost.
 * The node array's pointer, length and capacity are locals (written back at
 * the end) so that stores into nodes do not make the compiler reload them.
 *
 * The arena's first chunk holds the pool (n bytes and a block for the
 * scanner's last store), the first node array (a node per 8 bytes, 3 n,
 * more than a generated export needs) and, in the transform, its orders,
 * lines and sorting scratch: about 6 n in all, one allocation. */
static int parse(xj_doc_t *d, const char *in, size_t n, int max_depth, int utf8) {
  memset(d, 0, sizeof(*d));
  core_arena_init(&d->arena, 6 * n + 4096);
  if (n >= UINT32_MAX)
    return -EINVAL;
  size_t levels = max_depth < 0 ? 0 : (size_t)max_depth < n ? (size_t)max_depth : n;
  uint32_t *stack = core_arena_alloc(&d->arena, (levels + 1) * sizeof(*stack));
  size_t cap = n / 8 + 16, nn = 0, depth = 0;
  xj_node_t *nodes = core_arena_alloc(&d->arena, cap * sizeof(*nodes)), *nd;
  char *const strs = core_arena_alloc(&d->arena, n + 16);
  char *w = strs;
  in_t p = (in_t)in, end = p + n;
  pending_key_t key = {0, 0, 0};
  uint32_t top = 0;
  int rc = -EINVAL, in_obj = 0;

value:
  p = ws(p, end);
  if (p >= end)
    goto out;
  switch (*p) {
    case '{':
    case '[':
      in_obj = *p == '{';
      push(&d->arena, &nodes, &nn, &cap, in_obj ? XJ_OBJ : XJ_ARR, &key);
      if (depth >= levels)
        goto out;
      top = stack[depth++] = (uint32_t)(nn - 1);
      p = ws(p + 1, end);
      if (p < end && *p == (in_obj ? '}' : ']'))
        goto close;
      if (in_obj)
        goto key;
      key = (pending_key_t){0, 0, 0};
      goto value;
    case '"': {
      char *s = w;
      nd = push(&d->arena, &nodes, &nn, &cap, XJ_STR, &key);
      if (!(p = string_fast(p + 1, end, &w, utf8, &nd->plain)))
        goto out;
      nd->v.s.off = (uint32_t)(s - strs);
      nd->v.s.len = (uint32_t)(w - s);
      break;
    }
    case 't':
      if (end - p < 4 || memcmp(p, "true", 4) != 0)
        goto out;
      push(&d->arena, &nodes, &nn, &cap, XJ_TRUE, &key);
      p += 4;
      break;
    case 'f':
      if (end - p < 5 || memcmp(p, "false", 5) != 0)
        goto out;
      push(&d->arena, &nodes, &nn, &cap, XJ_FALSE, &key);
      p += 5;
      break;
    case 'n':
      if (end - p < 4 || memcmp(p, "null", 4) != 0)
        goto out;
      push(&d->arena, &nodes, &nn, &cap, XJ_NULL, &key);
      p += 4;
      break;
    default: {
      double v;
      if (!(p = number(p, end, &v)))
        goto out;
      push(&d->arena, &nodes, &nn, &cap, XJ_NUM, &key)->v.num = v;
    }
  }

next:
  if (depth == 0)
    goto done;
  p = ws(p, end);
  if (p >= end)
    goto out;
  nodes[top].count++;
  if (*p == ',') {
    p++;
    if (!in_obj) {
      key = (pending_key_t){0, 0, 0};
      goto value;
    }
    p = ws(p, end);
    goto key;
  }
  if (*p != (in_obj ? '}' : ']'))
    goto out;

close:
  nodes[top].end = (uint32_t)nn;
  p++;
  if (--depth > 0) {
    top = stack[depth - 1];
    in_obj = nodes[top].type == XJ_OBJ;
  }
  goto next;

key:
  if (p >= end || *p != '"')
    goto out;
  key.off = (uint32_t)(w - strs);
  uint8_t key_plain;
  if (!(p = string_fast(p + 1, end, &w, utf8, &key_plain)))
    goto out;
  key.len = (uint32_t)(w - strs) - key.off;
  key.kid = key_id(strs + key.off, key.len);
  if (p < end && *p == ':') {
    p++;
    goto value;
  }
  p = ws(p, end);
  if (p >= end || *p++ != ':')
    goto out;
  goto value;

done:
  rc = ws(p, end) == end ? 0 : -EINVAL;
out:
  d->nodes = nodes;
  d->n = nn;
  d->cap = cap;
  d->strs = strs;
  d->slen = (size_t)(w - strs);
  return rc;
}

int xj_parse(xj_doc_t *d, const char *in, size_t n, int max_depth) {
  return parse(d, in, n, max_depth, 0);
}

int xj_parse_utf8(xj_doc_t *d, const char *in, size_t n, int max_depth) {
  return parse(d, in, n, max_depth, 1);
}

void xj_free(xj_doc_t *d) {
  core_arena_free(&d->arena);
  memset(d, 0, sizeof(*d));
}

int xj_depth(const char *in, size_t n) {
  int depth = 0, max = 0, in_str = 0;
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = 0;
    } else if (c == '"') {
      in_str = 1;
    } else if (c == '[' || c == '{') {
      if (++depth > max)
        max = depth;
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return max;
}

int xj_utf8_valid(const char *in, size_t n) {
  const unsigned char *p = (const unsigned char *)in, *end = p + n;
  while (p < end) {
    uint64_t x;
    if (end - p >= 8 && (memcpy(&x, p, 8), (x & 0x8080808080808080ULL) == 0)) {
      p += 8;
    } else if (*p < 0x80) {
      p++;
    } else {
      size_t k = core_utf8_char(p, end);
      if (k == 0)
        return 0;
      p += k;
    }
  }
  return 1;
}

uint32_t xj_get(const xj_doc_t *d, uint32_t obj, const char *key) {
  size_t klen = strlen(key);
  uint32_t found = 0, c = obj + 1;
  for (uint32_t k = 0; k < d->nodes[obj].count; k++, c = d->nodes[c].end) {
    const xj_node_t *nd = &d->nodes[c];
    if (nd->klen == klen && memcmp(d->strs + nd->key, key, klen) == 0)
      found = c;
  }
  return found;
}

void xj_members(const xj_doc_t *d, uint32_t obj, uint32_t m[XK_COUNT]) {
  const xj_node_t *nodes = d->nodes;
  uint32_t c = obj + 1;
  memset(m, 0, XK_COUNT * sizeof(*m));
  for (uint32_t k = nodes[obj].count; k > 0; k--, c = nodes[c].end) m[nodes[c].kid] = c;
}

int xform_json_valid(const char *in, size_t n, int max_depth) {
  xj_doc_t d;
  int rc = xj_parse(&d, in, n, max_depth);
  xj_free(&d);
  return rc == 0;
}
