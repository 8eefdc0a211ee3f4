/* Buffers, the arena and JSON string output. */
#include <check.h>
#include <string.h>

#include "core/core.h"

START_TEST(append_and_printf) {
  core_buf_t b;
  core_buf_init(&b);
  for (int i = 0; i < 1000; i++) core_buf_printf(&b, "%d,", i);
  ck_assert_int_eq((int)b.len, (int)strlen(b.data));
  ck_assert(strncmp(b.data, "0,1,2,", 6) == 0);
  ck_assert(strstr(b.data, "999,") != NULL);
  core_buf_reset(&b);
  core_buf_put_i64(&b, INT64_MIN);
  core_buf_putc(&b, ' ');
  core_buf_put_i64(&b, 0);
  core_buf_putc(&b, ' ');
  core_buf_put_i64(&b, 1234567890123LL);
  ck_assert_str_eq(b.data, "-9223372036854775808 0 1234567890123");
  core_buf_free(&b);
}
END_TEST

START_TEST(json_escaping) {
  core_buf_t b;
  core_buf_init(&b);
  const char in[] = "a\"b\\c\n\t\x01 é";
  core_buf_put_json_str(&b, in, sizeof(in) - 1);
  ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001 é\"");
  core_buf_free(&b);
}
END_TEST

START_TEST(arena_reuse_and_growth) {
  core_arena_t a;
  core_arena_init(&a, 256);
  char *p = core_arena_alloc(&a, 100);
  memset(p, 1, 100);
  char *big = core_arena_alloc(&a, 10000); /* a chunk of its own */
  memset(big, 2, 10000);
  ck_assert(((uintptr_t)big % _Alignof(max_align_t)) == 0);
  char *s = core_arena_strndup(&a, "hello world", 5);
  ck_assert_str_eq(s, "hello");
  core_arena_reset(&a);
  char *q = core_arena_alloc(&a, 10);
  ck_assert_ptr_nonnull(q);
  core_arena_free(&a);
}
END_TEST

START_TEST(utf8_counting) {
  ck_assert_int_eq(core_utf8_count("abc", 3), 3);
  ck_assert_int_eq(core_utf8_count("\xc3\xa9\xe7\xbe\x8e\xf0\x9f\x98\x80", 9),
                   3);                                          /* é美😀 */
  ck_assert_int_eq(core_utf8_count("\xc0\xaf", 2), -1);         /* overlong '/' */
  ck_assert_int_eq(core_utf8_count("\xe0\x80\xaf", 3), -1);     /* overlong, 3 bytes */
  ck_assert_int_eq(core_utf8_count("\xed\xa0\x80", 3), -1);     /* a surrogate */
  ck_assert_int_eq(core_utf8_count("\xf4\x90\x80\x80", 4), -1); /* past U+10FFFF */
  ck_assert_int_eq(core_utf8_count("\xc3", 1), -1);             /* truncated */
}
END_TEST

Suite *core_buf_suite(void) {
  Suite *s = suite_create("core_buf");
  TCase *tc = tcase_create("buf");
  tcase_add_test(tc, append_and_printf);
  tcase_add_test(tc, json_escaping);
  tcase_add_test(tc, arena_reuse_and_growth);
  tcase_add_test(tc, utf8_counting);
  suite_add_tcase(s, tc);
  return s;
}
