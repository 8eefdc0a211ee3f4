/* The per-request arena: every allocation aligned and disjoint from the
 * others, chunks that double, a chunk of its own for a large request, and a
 * reset that keeps exactly the first chunk so a warm arena serves the next
 * request from the same memory. LeakSanitizer (the ASan build) checks that
 * reset and free return everything else. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"

#define ALIGN _Alignof(max_align_t)

static int aligned(const void *p) {
  return (uintptr_t)p % ALIGN == 0;
}

/* 1 if p lies outside [start, start + n): a block from another chunk. */
static int outside(const void *p, const void *start, size_t n) {
  uintptr_t x = (uintptr_t)p, s = (uintptr_t)start;
  return x < s || x >= s + n;
}

START_TEST(every_block_aligned_and_disjoint) {
  core_arena_t a;
  core_arena_init(&a, 256);
  enum { N = 200 };
  unsigned char *p[N];
  size_t n[N];
  for (int i = 0; i < N; i++) {
    n[i] = (size_t)(i * 37 % 301); /* odd sizes, 0 included, some past a chunk */
    p[i] = core_arena_alloc(&a, n[i]);
    ck_assert_ptr_nonnull(p[i]);
    ck_assert_msg(aligned(p[i]), "block %d (%zu bytes) misaligned", i, n[i]);
    memset(p[i], i, n[i]);
  }
  /* Written all at once first: an overlap shows as another block's byte. */
  for (int i = 0; i < N; i++)
    for (size_t k = 0; k < n[i]; k++)
      ck_assert_msg(p[i][k] == (unsigned char)i, "block %d byte %zu overwritten", i, k);
  core_arena_free(&a);
}
END_TEST

/* Small blocks are carved one after the other (rounded to the alignment):
 * no malloc per allocation. */
START_TEST(bump_within_a_chunk) {
  core_arena_t a;
  core_arena_init(&a, 1024);
  char *first = core_arena_alloc(&a, 1);
  char *prev = first;
  for (int i = 1; i < 1024 / (int)ALIGN; i++) {
    char *q = core_arena_alloc(&a, 1);
    ck_assert_ptr_eq(q, prev + ALIGN);
    prev = q;
  }
  /* The chunk is full: the next block comes from a new one. */
  char *next = core_arena_alloc(&a, 1);
  ck_assert(outside(next, first, 1024));
  core_arena_free(&a);
}
END_TEST

/* When a chunk is full the next is twice its size, so a request that
 * allocates a lot costs O(log n) mallocs. */
START_TEST(chunks_double) {
  core_arena_t a;
  core_arena_init(&a, 256);
  core_arena_alloc(&a, 256); /* fills the first chunk exactly */
  char *start = core_arena_alloc(&a, ALIGN);
  for (size_t off = ALIGN; off < 512; off += ALIGN)
    ck_assert_ptr_eq(core_arena_alloc(&a, ALIGN), start + off);
  char *third = core_arena_alloc(&a, ALIGN); /* the 512-byte chunk is full */
  ck_assert(outside(third, start, 512));
  core_arena_free(&a);
}
END_TEST

/* A block larger than the next chunk would be gets a chunk of exactly its
 * size, writable to its last byte (ASan checks the bound). */
START_TEST(large_block) {
  core_arena_t a;
  core_arena_init(&a, 256);
  core_arena_alloc(&a, 10);
  size_t big = 1 << 20;
  unsigned char *p = core_arena_alloc(&a, big);
  ck_assert(aligned(p));
  memset(p, 0xAB, big);
  ck_assert(p[0] == 0xAB && p[big - 1] == 0xAB);
  core_arena_free(&a);
}
END_TEST

/* reset keeps the oldest chunk: the next request gets the same memory, and
 * the whole of it (first_size bytes) before a new chunk is needed. */
START_TEST(reset_reuses_first_chunk) {
  core_arena_t a;
  core_arena_init(&a, 512);
  char *first = core_arena_alloc(&a, 64);
  for (int i = 0; i < 20; i++) core_arena_alloc(&a, 300); /* several more chunks */
  core_arena_alloc(&a, 100000);
  core_arena_reset(&a);
  for (int round = 0; round < 3; round++) {
    char *q = core_arena_alloc(&a, 64);
    ck_assert_ptr_eq(q, first);
    ck_assert_ptr_eq(core_arena_alloc(&a, 512 - 64), first + 64);
    core_arena_reset(&a);
  }
  core_arena_free(&a);
}
END_TEST

/* A first request larger than first_size made an oversized oldest chunk:
 * reset returns it too rather than keep a large chunk per idle connection. */
START_TEST(reset_after_oversized_first) {
  core_arena_t a;
  core_arena_init(&a, 256);
  unsigned char *p = core_arena_alloc(&a, 4096);
  memset(p, 1, 4096);
  core_arena_reset(&a);
  ck_assert_ptr_null(a.head);
  char *q = core_arena_alloc(&a, 16);
  ck_assert_ptr_nonnull(q);
  core_arena_reset(&a);
  ck_assert_ptr_nonnull(a.head); /* this time the oldest chunk is first_size */
  core_arena_free(&a);
}
END_TEST

START_TEST(default_size_and_reuse_after_free) {
  core_arena_t a;
  core_arena_init(&a, 0); /* 0 means 4096 */
  ck_assert_uint_eq(a.first_size, 4096);
  char *p = core_arena_alloc(&a, 8);
  ck_assert_ptr_eq(core_arena_alloc(&a, 4096 - ALIGN), p + ALIGN);
  core_arena_free(&a);
  ck_assert_ptr_null(a.head);
  ck_assert_ptr_nonnull(core_arena_alloc(&a, 8)); /* free leaves it usable */
  core_arena_reset(&a);
  core_arena_reset(&a); /* twice is harmless */
  core_arena_free(&a);
  core_arena_free(&a);
}
END_TEST

START_TEST(strndup_copies_n_bytes) {
  core_arena_t a;
  core_arena_init(&a, 64);
  const char src[] = "key=value&x";
  char *s = core_arena_strndup(&a, src, 3);
  ck_assert_str_eq(s, "key");
  char *e = core_arena_strndup(&a, src, 0);
  ck_assert_str_eq(e, "");
  const char nul[] = {'a', '\0', 'b'};
  char *m = core_arena_strndup(&a, nul, 3); /* embedded NUL copied, not stopped at */
  ck_assert(m[0] == 'a' && m[1] == '\0' && m[2] == 'b' && m[3] == '\0');
  char *big = core_arena_strndup(&a, src, sizeof(src) - 1);
  ck_assert_str_eq(big, src);
  ck_assert_str_eq(s, "key"); /* earlier copies untouched */
  core_arena_free(&a);
}
END_TEST

Suite *core_arena_suite(void) {
  Suite *s = suite_create("core_arena");
  TCase *tc = tcase_create("arena");
  tcase_add_test(tc, every_block_aligned_and_disjoint);
  tcase_add_test(tc, bump_within_a_chunk);
  tcase_add_test(tc, chunks_double);
  tcase_add_test(tc, large_block);
  tcase_add_test(tc, reset_reuses_first_chunk);
  tcase_add_test(tc, reset_after_oversized_first);
  tcase_add_test(tc, default_size_and_reuse_after_free);
  tcase_add_test(tc, strndup_copies_n_bytes);
  suite_add_tcase(s, tc);
  return s;
}
