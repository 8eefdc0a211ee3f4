/* W3: the whole transform (parser, validation, arithmetic, output) on any
 * bytes. xform_run must answer 0 or 400, never crash, leak or read past n;
 * on 400 it must leave out as it was. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xform/xform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A private copy, exactly size bytes: ASan sees any read past the end. */
  char *in = malloc(size ? size : 1);
  memcpy(in, data, size);
  core_buf_t out;
  core_buf_init(&out);
  char err[256];
  int rc = xform_run(in, size, NULL, &out, err, sizeof(err));
  if (rc != 0 && rc != 400)
    abort();
  if (rc == 400 && out.len != 0)
    abort();
  if (rc == 0 && !xform_json_valid(out.data, out.len, 64))
    abort();
  (void)xform_json_valid(in, size, XFORM_MAX_DEPTH);
  core_buf_free(&out);
  free(in);
  return 0;
}
