/* A strict JSON parser (RFC 8259) for the transform: one node array and one
 * string pool in an arena sized by the input, instead of cJSON's allocation
 * per value and per string. It is also stricter than Debian's cJSON (which
 * takes "01", "1." and trailing bytes), so that every implementation of W3
 * accepts exactly the same documents.
 *
 * It is the transform's only pass over the bytes: it checks the grammar,
 * the nesting depth and (xj_parse_utf8) UTF-8 while it decodes. Strings are
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

typedef struct parser_s {
  const unsigned char *p, *end;
  xj_doc_t *d;
  int depth, max_depth, utf8;
} parser_t;

static int value(parser_t *ps);

static void ws(parser_t *ps) {
  while (ps->p < ps->end &&
         (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
    ps->p++;
}

/* Doubling in the arena: the old array stays there until xj_free, which
 * bounds the waste by the final size. */
static void grow(xj_doc_t *d) {
  size_t cap = d->cap * 2;
  xj_node_t *nodes = core_arena_alloc(&d->arena, cap * sizeof(*nodes));
  memcpy(nodes, d->nodes, d->n * sizeof(*nodes));
  d->nodes = nodes;
  d->cap = cap;
}

static uint32_t push(parser_t *ps, xj_type_t type) {
  xj_doc_t *d = ps->d;
  if (d->n == d->cap)
    grow(d);
  d->nodes[d->n] = (xj_node_t){.type = (uint8_t)type};
  return (uint32_t)d->n++;
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

/* \u escapes: a lone surrogate is refused, a pair becomes one character. */
static int escape_u(parser_t *ps, char **w) {
  unsigned cp, lo;
  if (ps->end - ps->p < 4 || hex4(ps->p, &cp))
    return -1;
  ps->p += 4;
  if (cp >= 0xDC00 && cp <= 0xDFFF)
    return -1;
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
        hex4(ps->p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
      return -1;
    ps->p += 6;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  }
  put_utf8(w, cp);
  return 0;
}

/* After a backslash: decodes one escape, p at the byte after '\'. */
static int escape(parser_t *ps, char **w) {
  if (ps->p >= ps->end)
    return -1;
  char c;
  switch (*ps->p++) {
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
      return escape_u(ps, w);
    default:
      return -1;
  }
  *(*w)++ = c;
  return 0;
}

/* The length of the well-formed UTF-8 character at p (lead byte >= 0x80),
 * or 0: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_char(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0], cp, min;
  size_t len;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, cp = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, cp = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if ((size_t)(end - p) < len)
    return 0;
  for (size_t k = 1; k < len; k++) {
    if ((p[k] & 0xC0) != 0x80)
      return 0;
    cp = cp << 6 | (p[k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
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

/* A string at ps->p (the opening quote); decoded into the pool. */
static int string(parser_t *ps, uint32_t *off, uint32_t *len) {
  xj_doc_t *d = ps->d;
  char *w = d->strs + d->slen, *start = w;
  ps->p++;
  for (;;) {
    ps->p = plain_run(ps->p, ps->end, &w);
    if (ps->p >= ps->end)
      return -1;
    unsigned c = *ps->p;
    if (c == '"')
      break;
    if (c == '\\') {
      ps->p++;
      if (escape(ps, &w))
        return -1;
      continue;
    }
    if (c < 0x20)
      return -1;
    size_t k = ps->utf8 ? utf8_char(ps->p, ps->end) : 1;
    if (k == 0)
      return -1;
    memcpy(w, ps->p, k);
    w += k;
    ps->p += k;
  }
  ps->p++;
  *off = (uint32_t)d->slen;
  *len = (uint32_t)(w - start);
  d->slen += *len;
  return 0;
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

/* ---- numbers and literals ---- */

static int digits(parser_t *ps, uint64_t *acc) {
  const unsigned char *s = ps->p;
  uint64_t v = *acc;
  while (ps->p < ps->end && (unsigned)(*ps->p - '0') < 10) v = v * 10 + (*ps->p++ - '0');
  *acc = v; /* wraps past 19 digits; only read for 15 or fewer */
  return ps->p > s ? 0 : -1;
}

/* An integer of at most 15 digits is exact as a double, so it skips
 * strtod, which gives the same correctly rounded value for it. */
static int number(parser_t *ps, double *out) {
  const unsigned char *s = ps->p;
  uint64_t u = 0, skip = 0;
  int neg = ps->p < ps->end && *ps->p == '-', simple = 1;
  ps->p += neg;
  const unsigned char *ds = ps->p;
  if (ps->p < ps->end && *ps->p == '0')
    ps->p++;
  else if (digits(ps, &u))
    return -1;
  size_t ndig = (size_t)(ps->p - ds);
  if (ps->p < ps->end && *ps->p == '.') {
    ps->p++;
    simple = 0;
    if (digits(ps, &skip))
      return -1;
  }
  if (ps->p < ps->end && (*ps->p | 0x20) == 'e') {
    ps->p++;
    simple = 0;
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
      ps->p++;
    if (digits(ps, &skip))
      return -1;
  }
  if (simple && ndig <= 15) {
    *out = neg ? -(double)u : (double)u;
    return 0;
  }
  /* strtod wants a terminator; the token is short almost always. */
  size_t n = (size_t)(ps->p - s);
  char tmp[64];
  char *buf = n < sizeof(tmp) ? tmp : xmalloc(n + 1);
  memcpy(buf, s, n);
  buf[n] = '\0';
  *out = strtod(buf, NULL);
  if (buf != tmp)
    free(buf);
  return 0;
}

static int literal(parser_t *ps, const char *word, size_t n, xj_type_t type) {
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
    return -1;
  ps->p += n;
  push(ps, type);
  return 0;
}

/* ---- containers ---- */

/* One member's key and colon; the key's code is known once it is decoded. */
static int member_key(parser_t *ps, uint32_t *koff, uint32_t *klen) {
  if (ps->p >= ps->end || *ps->p != '"' || string(ps, koff, klen))
    return -1;
  ws(ps);
  if (ps->p >= ps->end || *ps->p++ != ':')
    return -1;
  ws(ps);
  return 0;
}

/* Members or elements up to the closing bracket; each value is pushed by
 * value(), keys are attached to it afterwards. */
static int container(parser_t *ps, int is_obj) {
  uint32_t self = push(ps, is_obj ? XJ_OBJ : XJ_ARR);
  char close = is_obj ? '}' : ']';
  if (++ps->depth > ps->max_depth)
    return -1;
  ps->p++;
  ws(ps);
  uint32_t count = 0;
  if (ps->p < ps->end && *ps->p == close)
    goto done;
  for (;;) {
    uint32_t koff = 0, klen = 0;
    if (is_obj && member_key(ps, &koff, &klen))
      return -1;
    uint32_t child = (uint32_t)ps->d->n;
    if (value(ps))
      return -1;
    if (is_obj) {
      xj_node_t *nd = &ps->d->nodes[child];
      nd->key = koff;
      nd->klen = klen;
      nd->kid = key_id(ps->d->strs + koff, klen);
    }
    count++;
    ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      ws(ps);
      continue;
    }
    if (ps->p < ps->end && *ps->p == close)
      break;
    return -1;
  }
done:
  ps->p++;
  ps->depth--;
  ps->d->nodes[self].count = count;
  return 0;
}

static int value(parser_t *ps) {
  if (ps->p >= ps->end)
    return -1;
  uint32_t i = (uint32_t)ps->d->n;
  int rc;
  switch (*ps->p) {
    case '{':
      rc = container(ps, 1);
      break;
    case '[':
      rc = container(ps, 0);
      break;
    case '"': {
      uint32_t off, len;
      push(ps, XJ_STR);
      if ((rc = string(ps, &off, &len)) == 0) {
        ps->d->nodes[i].v.s.off = off;
        ps->d->nodes[i].v.s.len = len;
      }
      break;
    }
    case 't':
      rc = literal(ps, "true", 4, XJ_TRUE);
      break;
    case 'f':
      rc = literal(ps, "false", 5, XJ_FALSE);
      break;
    case 'n':
      rc = literal(ps, "null", 4, XJ_NULL);
      break;
    default: {
      double v;
      if ((rc = number(ps, &v)) == 0) {
        push(ps, XJ_NUM);
        ps->d->nodes[i].v.num = v;
      }
    }
  }
  if (rc)
    return -1;
  ps->d->nodes[i].end = (uint32_t)ps->d->n;
  return 0;
}

/* The arena's first chunk holds the pool (n bytes, plus a block for the
 * scanner's last store), the first node array (one node per 10 bytes is
 * more than a generated export uses) and, in the transform, its orders,
 * lines and output tables: about 6 n in all. */
static int parse(xj_doc_t *d, const char *in, size_t n, int max_depth, int utf8) {
  memset(d, 0, sizeof(*d));
  core_arena_init(&d->arena, 6 * n + 4096);
  if (n >= UINT32_MAX)
    return -EINVAL;
  d->cap = n / 10 + 16;
  d->nodes = core_arena_alloc(&d->arena, d->cap * sizeof(*d->nodes));
  d->strs = core_arena_alloc(&d->arena, n + 16);
  const unsigned char *p = (const unsigned char *)in;
  parser_t ps = {p, p + n, d, 0, max_depth, utf8};
  ws(&ps);
  if (value(&ps))
    return -EINVAL;
  ws(&ps);
  return ps.p == ps.end ? 0 : -EINVAL;
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
      size_t k = utf8_char(p, end);
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
