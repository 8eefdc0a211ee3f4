/* Memory helpers: out of memory is not an error we can act on, so it is fatal. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "core.h"

static void oom(size_t n, const char *file, int line) {
  fprintf(stderr, "looplab: out of memory (%zu bytes) at %s:%d\n", n, file, line);
  abort();
}

void *core_xmalloc(size_t n, const char *file, int line) {
  void *p = malloc(n ? n : 1);
  if (p == NULL)
    oom(n, file, line);
  return p;
}

void *core_xcalloc(size_t n, size_t size, const char *file, int line) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (p == NULL)
    oom(n * size, file, line);
  return p;
}

void *core_xrealloc(void *p, size_t n, const char *file, int line) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL)
    oom(n, file, line);
  return q;
}

/* glibc's malloc serves a block of at least M_MMAP_THRESHOLD (128 KiB by
 * default) with its own mmap, returned to the kernel on free, but the
 * threshold is dynamic: each freed mmapped block raises it to that block's
 * size (up to 32 MiB). W3's request bodies and answers (100-500 KB,
 * buffers doubled by realloc) raise it within the first transforms, after
 * which they come from the heaps (one per thread: the loop's and the
 * thread pool's), mixed with small long-lived blocks that pin them, and a
 * heap's high-water mark stays resident. bench/soak measured RSS +8.45 %
 * over 8 minutes under load with the dynamic threshold while the bytes in
 * use stayed flat (docs/reliability.md, "Soak"). Setting the threshold
 * turns the raise off, so every buffer of 128 KiB or more is mmapped and
 * given back when freed (the cost: a few page faults per W3 request, next
 * to milliseconds of transform). The trim threshold is set too (setting
 * one keeps the other from following it): free memory above 128 KiB at a
 * heap's top goes back to the kernel. A value an operator set with glibc's
 * MALLOC_*_ environment variables or GLIBC_TUNABLES wins. Sanitizers'
 * allocators ignore mallopt. */
#define MMAP_THRESHOLD (128 * 1024)
#define TRIM_THRESHOLD (128 * 1024)

static int env_sets(const char *var, const char *tunable) {
  const char *t = getenv("GLIBC_TUNABLES");
  return getenv(var) != NULL || (t != NULL && strstr(t, tunable) != NULL);
}

void core_malloc_tune(void) {
#ifdef __GLIBC__
  if (!env_sets("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold"))
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
  if (!env_sets("MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold"))
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD);
#endif
}

char *core_xstrdup(const char *s, const char *file, int line) {
  size_t n = strlen(s) + 1;
  char *p = core_xmalloc(n, file, line);
  memcpy(p, s, n);
  return p;
}

const char *core_sql_file(const char *name) {
  for (const core_sql_file_t *f = core_sql_files; f->name; f++)
    if (strcmp(f->name, name) == 0)
      return f->text;
  return NULL;
}

void core_errf(char *err, size_t errlen, const char *fmt, ...) {
  if (err == NULL || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}
