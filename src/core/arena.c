/* The per-request arena (h2o's request pool): bump allocation, freed once. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

struct core_arena_chunk_s {
  core_arena_chunk_t *next;
  size_t size;
  size_t used;
  max_align_t data[];
};

void core_arena_init(core_arena_t *a, size_t first_size) {
  a->head = NULL;
  a->first_size = first_size ? first_size : 4096;
}

static core_arena_chunk_t *chunk_new(size_t size, core_arena_chunk_t *next) {
  core_arena_chunk_t *c = xmalloc(sizeof(*c) + size);
  c->next = next;
  c->size = size;
  c->used = 0;
  return c;
}

void *core_arena_alloc(core_arena_t *a, size_t n) {
  n = (n + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
  core_arena_chunk_t *c = a->head;
  if (c == NULL || c->size - c->used < n) {
    size_t size = a->first_size;
    if (c != NULL)
      size = c->size * 2;
    if (size < n)
      size = n;
    c = a->head = chunk_new(size, c);
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

char *core_arena_strndup(core_arena_t *a, const char *s, size_t n) {
  char *p = core_arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

/* Keeps only the oldest chunk (the one of first_size), so a warm arena
 * serves a typical request without touching malloc. */
void core_arena_reset(core_arena_t *a) {
  core_arena_chunk_t *c = a->head;
  while (c != NULL && c->next != NULL) {
    core_arena_chunk_t *next = c->next;
    free(c);
    c = next;
  }
  a->head = c;
  if (c != NULL) {
    if (c->size != a->first_size) {
      free(c);
      a->head = NULL;
    } else {
      c->used = 0;
    }
  }
}

void core_arena_free(core_arena_t *a) {
  core_arena_chunk_t *c = a->head;
  while (c != NULL) {
    core_arena_chunk_t *next = c->next;
    free(c);
    c = next;
  }
  a->head = NULL;
}
