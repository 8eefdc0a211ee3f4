/* Growable byte buffers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

void core_buf_init(core_buf_t *b) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void core_buf_free(core_buf_t *b) {
  free(b->data);
  core_buf_init(b);
}

void core_buf_reserve(core_buf_t *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap)
    return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  b->data = xrealloc(b->data, cap);
  b->cap = cap;
}

void core_buf_append(core_buf_t *b, const void *p, size_t n) {
  core_buf_reserve(b, n);
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void core_buf_puts(core_buf_t *b, const char *s) {
  core_buf_append(b, s, strlen(s));
}

void core_buf_putc(core_buf_t *b, char c) {
  core_buf_reserve(b, 1);
  b->data[b->len++] = c;
  b->data[b->len] = '\0';
}

void core_buf_vprintf(core_buf_t *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  core_buf_reserve(b, 64);
  int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
  if (n >= 0 && (size_t)n >= b->cap - b->len) {
    core_buf_reserve(b, (size_t)n);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
  }
  va_end(ap2);
  if (n > 0)
    b->len += (size_t)n;
}

void core_buf_printf(core_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  core_buf_vprintf(b, fmt, ap);
  va_end(ap);
}

void core_buf_put_i64(core_buf_t *b, int64_t v) {
  char tmp[24];
  char *p = tmp + sizeof(tmp);
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    *--p = '-';
  core_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

long core_utf8_count(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  long count = 0;
  for (; p < end; count++) {
    unsigned c = *p;
    if (c < 0x80) {
      p++;
      continue;
    }
    size_t len = core_utf8_char(p, end);
    if (len == 0)
      return -1;
    p += len;
  }
  return count;
}

/* JSON string escaping per RFC 8259: quote, backslash and control
 * characters; everything else, UTF-8 included, passes through. */
void core_buf_put_json_str(core_buf_t *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  core_buf_reserve(b, n + 2);
  b->data[b->len++] = '"';
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    core_buf_append(b, s + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        core_buf_append(b, "\\\"", 2);
        break;
      case '\\':
        core_buf_append(b, "\\\\", 2);
        break;
      case '\n':
        core_buf_append(b, "\\n", 2);
        break;
      case '\r':
        core_buf_append(b, "\\r", 2);
        break;
      case '\t':
        core_buf_append(b, "\\t", 2);
        break;
      case '\b':
        core_buf_append(b, "\\b", 2);
        break;
      case '\f':
        core_buf_append(b, "\\f", 2);
        break;
      default: {
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        core_buf_append(b, esc, 6);
      }
    }
  }
  core_buf_append(b, s + run, n - run);
  core_buf_putc(b, '"');
}
