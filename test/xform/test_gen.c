/* The W3 document generator: the same (seed, size) gives the same bytes
 * (pinned by a digest, since the load generator and the peers send what it
 * writes and the study compares their results), every document is valid
 * JSON and UTF-8 and is accepted by xform_run, sizes follow the target,
 * and the documented mix of awkward cases is really in it. */
#include <check.h>
#include <string.h>

#include "xform/xform.h"

#define GOLDEN_42_20000 0x616342e6bccc92d4ULL
#define GOLDEN_42_20000_LEN 20174

static uint64_t fnv1a(const char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
  return h;
}

static void gen(uint64_t seed, size_t target, core_buf_t *b) {
  core_buf_reset(b);
  xform_generate(seed, target, b);
}

/* The bytes of today's generator. A change here changes every benchmark's
 * W3 input: update the digest only on purpose, with the study's data. */
START_TEST(bytes_pinned) {
  core_buf_t b;
  core_buf_init(&b);
  gen(42, 20000, &b);
  ck_assert_msg(fnv1a(b.data, b.len) == GOLDEN_42_20000 && b.len == GOLDEN_42_20000_LEN,
                "digest 0x%016llxULL, %zu bytes",
                (unsigned long long)fnv1a(b.data, b.len), b.len);
  core_buf_free(&b);
}
END_TEST

START_TEST(deterministic) {
  core_buf_t a, b;
  core_buf_init(&a);
  core_buf_init(&b);
  for (uint64_t seed = 0; seed < 5; seed++) {
    gen(seed, 30000, &a);
    gen(seed, 30000, &b);
    ck_assert(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    gen(seed + 1000, 30000, &b); /* another seed: other bytes */
    ck_assert(a.len != b.len || memcmp(a.data, b.data, a.len) != 0);
  }
  core_buf_free(&a);
  core_buf_free(&b);
}
END_TEST

/* Appends: what the buffer already holds is kept, and the document is the
 * same as in an empty buffer. */
START_TEST(appends) {
  core_buf_t a, b;
  core_buf_init(&a);
  core_buf_init(&b);
  core_buf_puts(&a, "prefix");
  xform_generate(9, 5000, &a);
  gen(9, 5000, &b);
  ck_assert(a.len == b.len + 6 && memcmp(a.data, "prefix", 6) == 0);
  ck_assert(memcmp(a.data + 6, b.data, b.len) == 0);
  core_buf_free(&a);
  core_buf_free(&b);
}
END_TEST

START_TEST(empty_document) {
  core_buf_t b, out;
  char err[256];
  core_buf_init(&b);
  core_buf_init(&out);
  gen(3, 0, &b);
  ck_assert_str_eq(b.data,
                   "{\"export_id\":\"gen-3-0\",\"currency\":\"EUR\",\"orders\":[]}\n");
  ck_assert_int_eq(xform_run(b.data, b.len, NULL, &out, err, sizeof(err)), 0);
  core_buf_free(&b);
  core_buf_free(&out);
}
END_TEST

/* Every size from tiny to large: valid as JSON.parse would see it, valid
 * UTF-8, accepted by the transform, and at least the target but less than
 * one more order (about 420 bytes, 3 KiB at the very most) beyond it. */
START_TEST(valid_at_every_size) {
  static const size_t sizes[] = {1, 100, 500, 1000, 4096, 10000, 65536, 300000};
  core_buf_t b, out;
  char err[256];
  core_buf_init(&b);
  core_buf_init(&out);
  for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
      gen(seed * 7919, sizes[i], &b);
      ck_assert_uint_ge(b.len, sizes[i]);
      ck_assert_uint_lt(b.len, sizes[i] + 3072);
      ck_assert(xform_json_valid(b.data, b.len, XFORM_MAX_DEPTH));
      ck_assert_int_ge(core_utf8_count(b.data, b.len), 0);
      core_buf_reset(&out);
      ck_assert_msg(xform_run(b.data, b.len, NULL, &out, err, sizeof(err)) == 0,
                    "size %zu seed %llu: %s", sizes[i], (unsigned long long)seed, err);
    }
  }
  core_buf_free(&b);
  core_buf_free(&out);
}
END_TEST

static int has(const core_buf_t *b, const char *s) {
  return strstr(b->data, s) != NULL;
}

static size_t count(const core_buf_t *b, const char *s) {
  size_t n = 0;
  for (const char *p = b->data; (p = strstr(p, s)) != NULL; p++) n++;
  return n;
}

/* A time with exactly d fractional digits: ":SS." then d digits then the
 * offset's first byte. */
static int has_frac_digits(const core_buf_t *b, int d) {
  for (const char *p = b->data; (p = strstr(p, "\"placed_at\":\"")) != NULL; p++) {
    const char *dot = p + 13 + 19; /* after YYYY-MM-DDTHH:MM:SS */
    size_t k = 0;
    if (*dot == '.')
      k = strspn(dot + 1, "0123456789");
    if ((int)k == d && (d > 0 || *dot != '.'))
      return 1;
  }
  return 0;
}

/* The mix xform.h promises, so the transform's edge cases are exercised by
 * every benchmark run, not only by the conformance files. */
START_TEST(the_promised_mix) {
  core_buf_t b;
  core_buf_init(&b);
  gen(2024, 400000, &b);
  ck_assert(has(&b, "\"status\":\"cancelled\""));
  ck_assert(has(&b, "\"quantity\":0,"));
  ck_assert(has(&b, "\"quantity\":-"));
  ck_assert(has(&b, "-12:00\"") && has(&b, "+14:00\"") && has(&b, "Z\""));
  ck_assert(has(&b, "-02-29T"));
  ck_assert(has(&b, "\"email\":null"));
  ck_assert_uint_lt(count(&b, "\"email\":"), count(&b, "\"customer\":{")); /* missing */
  ck_assert_uint_gt(count(&b, "\"email\":\"c"), 0);
  int non_ascii = 0;
  for (size_t i = 0; i < b.len && !non_ascii; i++)
    non_ascii = (unsigned char)b.data[i] >= 0x80;
  ck_assert(non_ascii);
  ck_assert(has(&b, "\\\"JJ\\\"")); /* a name that needs escaping */
  for (int d = 0; d <= 9; d++)
    if (d <= 3 || d == 6 || d == 9)
      ck_assert_msg(has_frac_digits(&b, d), "no placed_at with %d fractional digits", d);
  /* Prices with 4 decimals: "unit_price":"N.DDDD". */
  int four = 0;
  for (const char *p = b.data; !four && (p = strstr(p, "\"unit_price\":\"")) != NULL;
       p++) {
    const char *dot = strchr(p + 14, '.');
    four = dot != NULL && dot < strchr(p + 14, '"') && strspn(dot + 1, "0123456789") == 4;
  }
  ck_assert(four);
  core_buf_free(&b);
}
END_TEST

Suite *xform_gen_suite(void) {
  Suite *s = suite_create("xform_gen");
  TCase *tc = tcase_create("gen");
  tcase_set_timeout(tc, 30); /* ASan builds */
  tcase_add_test(tc, bytes_pinned);
  tcase_add_test(tc, deterministic);
  tcase_add_test(tc, appends);
  tcase_add_test(tc, empty_document);
  tcase_add_test(tc, valid_at_every_size);
  tcase_add_test(tc, the_promised_mix);
  suite_add_tcase(s, tc);
  return s;
}
