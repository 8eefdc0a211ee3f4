/* A strict JSON parser (RFC 8259) for the transform: one growable node array
 * and one string pool sized by the input, instead of cJSON's allocation per
 * value and per string. It is also stricter than Debian's cJSON (which takes
 * "01", "1." and trailing bytes), so that every implementation of W3 accepts
 * exactly the same documents. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "internal.h"

typedef struct parser_s {
  const char *p, *end;
  xj_doc_t *d;
  int depth, max_depth;
} parser_t;

static int value(parser_t *ps);

static void ws(parser_t *ps) {
  while (ps->p < ps->end &&
         (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
    ps->p++;
}

static uint32_t push(parser_t *ps, xj_type_t type) {
  xj_doc_t *d = ps->d;
  if (d->n == d->cap) {
    d->cap = d->cap ? d->cap * 2 : 256;
    d->nodes = xrealloc(d->nodes, d->cap * sizeof(*d->nodes));
  }
  xj_node_t *nd = &d->nodes[d->n];
  memset(nd, 0, sizeof(*nd));
  nd->type = (uint8_t)type;
  return (uint32_t)d->n++;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
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

/* After a backslash: decodes one escape, p at the byte after '\'. */
static int escape(parser_t *ps, char **w) {
  if (ps->p >= ps->end)
    return -1;
  char c = *ps->p++;
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  const char *f = strchr(from, c);
  if (c != 0 && f) {
    *(*w)++ = to[f - from];
    return 0;
  }
  unsigned cp, lo;
  if (c != 'u' || ps->end - ps->p < 4 || hex4(ps->p, &cp))
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

/* A string at ps->p (the opening quote); decoded into the pool. */
static int string(parser_t *ps, uint32_t *off, uint32_t *len) {
  xj_doc_t *d = ps->d;
  char *w = d->strs + d->slen;
  char *start = w;
  ps->p++;
  for (;;) {
    const char *run = ps->p;
    while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' &&
           (unsigned char)*ps->p >= 0x20)
      ps->p++;
    memcpy(w, run, (size_t)(ps->p - run));
    w += ps->p - run;
    if (ps->p >= ps->end || (unsigned char)*ps->p < 0x20)
      return -1;
    if (*ps->p++ == '"')
      break;
    if (escape(ps, &w))
      return -1;
  }
  *off = (uint32_t)d->slen;
  *len = (uint32_t)(w - start);
  d->slen += *len;
  return 0;
}

static int digits(parser_t *ps) {
  const char *s = ps->p;
  while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
  return ps->p > s ? 0 : -1;
}

static int number(parser_t *ps, double *out) {
  const char *s = ps->p;
  if (ps->p < ps->end && *ps->p == '-')
    ps->p++;
  if (ps->p < ps->end && *ps->p == '0')
    ps->p++;
  else if (digits(ps))
    return -1;
  if (ps->p < ps->end && *ps->p == '.') {
    ps->p++;
    if (digits(ps))
      return -1;
  }
  if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
    ps->p++;
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
      ps->p++;
    if (digits(ps))
      return -1;
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

static int literal(parser_t *ps, const char *word, xj_type_t type) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
    return -1;
  ps->p += n;
  push(ps, type);
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
    if (is_obj) {
      if (ps->p >= ps->end || *ps->p != '"' || string(ps, &koff, &klen))
        return -1;
      ws(ps);
      if (ps->p >= ps->end || *ps->p++ != ':')
        return -1;
      ws(ps);
    }
    uint32_t child = (uint32_t)ps->d->n;
    if (value(ps))
      return -1;
    ps->d->nodes[child].key = koff;
    ps->d->nodes[child].klen = klen;
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
  uint32_t i;
  switch (*ps->p) {
    case '{':
      i = (uint32_t)ps->d->n;
      if (container(ps, 1))
        return -1;
      break;
    case '[':
      i = (uint32_t)ps->d->n;
      if (container(ps, 0))
        return -1;
      break;
    case '"': {
      i = push(ps, XJ_STR);
      uint32_t off, len;
      if (string(ps, &off, &len))
        return -1;
      ps->d->nodes[i].v.s.off = off;
      ps->d->nodes[i].v.s.len = len;
      break;
    }
    case 't':
      i = (uint32_t)ps->d->n;
      if (literal(ps, "true", XJ_TRUE))
        return -1;
      break;
    case 'f':
      i = (uint32_t)ps->d->n;
      if (literal(ps, "false", XJ_FALSE))
        return -1;
      break;
    case 'n':
      i = (uint32_t)ps->d->n;
      if (literal(ps, "null", XJ_NULL))
        return -1;
      break;
    default: {
      double v;
      if (number(ps, &v))
        return -1;
      i = push(ps, XJ_NUM);
      ps->d->nodes[i].v.num = v;
    }
  }
  ps->d->nodes[i].end = (uint32_t)ps->d->n;
  return 0;
}

int xj_parse(xj_doc_t *d, const char *in, size_t n, int max_depth) {
  memset(d, 0, sizeof(*d));
  if (n >= UINT32_MAX)
    return -EINVAL;
  d->cap = n / 16 + 16;
  d->nodes = xmalloc(d->cap * sizeof(*d->nodes));
  d->strs = xmalloc(n + 1); /* a decoded string is never longer than its source */
  parser_t ps = {in, in + n, d, 0, max_depth};
  ws(&ps);
  if (value(&ps))
    return -EINVAL;
  ws(&ps);
  return ps.p == ps.end ? 0 : -EINVAL;
}

void xj_free(xj_doc_t *d) {
  free(d->nodes);
  free(d->strs);
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

int xform_json_valid(const char *in, size_t n, int max_depth) {
  xj_doc_t d;
  int rc = xj_parse(&d, in, n, max_depth);
  xj_free(&d);
  return rc == 0;
}
