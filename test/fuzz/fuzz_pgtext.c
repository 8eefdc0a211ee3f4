/* PostgreSQL output to JSON: timestamptz, date and text[] literals
 * (api_put_timestamp, api_put_month, api_put_text_array), binary
 * timestamptz and text[] (api_put_timestamp_bin, api_put_text_array_bin)
 * on any bytes, and
 * api_put_array_literal on the bytes cut into elements. Whatever succeeds
 * must be valid JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "xform/xform.h"

typedef int (*put_fn)(core_buf_t *, const char *, size_t);

static void one(put_fn put, const char *in, size_t n) {
  core_buf_t b;
  core_buf_init(&b);
  if (put(&b, in, n) == 0 && !xform_json_valid(b.data, b.len, 4))
    abort();
  core_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *in = malloc(size ? size : 1);
  memcpy(in, data, size);
  one(api_put_timestamp, in, size);
  one(api_put_month, in, size);
  one(api_put_text_array, in, size);
  one(api_put_timestamp_bin, in, size);
  one(api_put_text_array_bin, in, size);

  /* Elements split at '\n': quoted into a literal, which must parse back. */
  const char *elems[16];
  size_t lens[16];
  int k = 0;
  size_t start = 0;
  for (size_t i = 0; i <= size && k < 16; i++) {
    if (i == size || in[i] == '\n') {
      elems[k] = in + start;
      lens[k++] = i - start;
      start = i + 1;
    }
  }
  core_buf_t lit;
  core_buf_init(&lit);
  api_put_array_literal(&lit, elems, lens, k);
  one(api_put_text_array, lit.data, lit.len);
  core_buf_free(&lit);
  free(in);
  return 0;
}
