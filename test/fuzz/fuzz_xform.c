/* W3: the whole transform (parser, validation, arithmetic, output) on any
 * bytes. xform_run must answer 0 or 400, never crash, leak or read past n;
 * on 400 it must leave out as it was.
 *
 * The parser checks UTF-8 and the depth in its one pass, and the separate
 * byte scans run only to name a refusal, so the two must agree: the
 * one-pass parse accepts exactly when the bytes are well-formed UTF-8 and
 * the plain parse accepts, and a refusal's message is the one the separate
 * checks give, in the order of docs/workloads.md. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xform/internal.h"
#include "xform/xform.h"

static const char *expected_refusal(const char *in, size_t n) {
  if (!xj_utf8_valid(in, n))
    return "body must be valid UTF-8";
  if (xj_depth(in, n) > XFORM_MAX_DEPTH)
    return "body must NOT be nested deeper than 8 levels";
  return "Body is not valid JSON";
}

static void check_one_pass(const char *in, size_t n, int rc, const char *err) {
  xj_doc_t d;
  int strict = xj_parse_utf8(&d, in, n, XFORM_MAX_DEPTH) == 0;
  xj_free(&d);
  int plain = xj_parse(&d, in, n, XFORM_MAX_DEPTH) == 0;
  xj_free(&d);
  if (strict != (plain && xj_utf8_valid(in, n)))
    abort();
  if (n > 0 && !strict && (rc != 400 || strcmp(err, expected_refusal(in, n)) != 0))
    abort();
}

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
  check_one_pass(in, size, rc, err);
  (void)xform_json_valid(in, size, XFORM_MAX_DEPTH);
  core_buf_free(&out);
  free(in);
  return 0;
}
