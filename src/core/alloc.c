/* Memory helpers: out of memory is not an error we can act on, so it is fatal. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
