/* core: what every other layer stands on. Memory helpers, growable buffers,
 * the per-request arena, pino-shaped logging, the configuration and the SQL
 * files embedded at build time. Nothing here knows about sockets or loops. */
#ifndef LOOPLAB_CORE_H
#define LOOPLAB_CORE_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Out of memory is fatal: these abort with file and line instead of
 * returning NULL, so callers never test for it. */
void *core_xmalloc(size_t n, const char *file, int line);
void *core_xcalloc(size_t n, size_t size, const char *file, int line);
void *core_xrealloc(void *p, size_t n, const char *file, int line);
char *core_xstrdup(const char *s, const char *file, int line);
#define xmalloc(n) core_xmalloc((n), __FILE__, __LINE__)
#define xcalloc(n, s) core_xcalloc((n), (s), __FILE__, __LINE__)
#define xrealloc(p, n) core_xrealloc((p), (n), __FILE__, __LINE__)
#define xstrdup(s) core_xstrdup((s), __FILE__, __LINE__)

/* Fixes glibc malloc's mmap and trim thresholds at 128 KiB (alloc.c says
 * why), unless the environment sets them. Call once, first thing in main,
 * before any large block is allocated. */
void core_malloc_tune(void);

/* A growable byte buffer. The buffer owns data; reset keeps the memory so a
 * buffer reused per connection stops allocating once warm. */
typedef struct core_buf_s {
  char *data;
  size_t len;
  size_t cap;
} core_buf_t;

void core_buf_init(core_buf_t *b);
void core_buf_free(core_buf_t *b);
void core_buf_reserve(core_buf_t *b, size_t extra);
void core_buf_append(core_buf_t *b, const void *p, size_t n);
void core_buf_puts(core_buf_t *b, const char *s);
void core_buf_putc(core_buf_t *b, char c);
void core_buf_printf(core_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void core_buf_vprintf(core_buf_t *b, const char *fmt, va_list ap);
void core_buf_put_i64(core_buf_t *b, int64_t v);
/* Appends s as a JSON string literal, quotes included. */
void core_buf_put_json_str(core_buf_t *b, const char *s, size_t n);
static inline void core_buf_reset(core_buf_t *b) {
  b->len = 0;
}

/* A bump allocator for memory that lives exactly as long as one request.
 * core_arena_reset frees nothing: the first chunk is kept for the next
 * request, larger chunks are returned. */
typedef struct core_arena_chunk_s core_arena_chunk_t;
typedef struct core_arena_s {
  core_arena_chunk_t *head;
  size_t first_size;
} core_arena_t;

void core_arena_init(core_arena_t *a, size_t first_size);
void *core_arena_alloc(core_arena_t *a, size_t n);
char *core_arena_strndup(core_arena_t *a, const char *s, size_t n);
void core_arena_reset(core_arena_t *a);
void core_arena_free(core_arena_t *a);

/* Logging in pino's shape, one JSON object per line on stdout:
 * {"level":30,"time":<ms>,"pid":<pid>,"hostname":"…",<fields>,"msg":"…"}.
 * fields is NULL or a pre-formatted fragment such as "\"worker\":3". */
enum {
  CORE_LOG_TRACE = 10,
  CORE_LOG_DEBUG = 20,
  CORE_LOG_INFO = 30,
  CORE_LOG_WARN = 40,
  CORE_LOG_ERROR = 50,
  CORE_LOG_FATAL = 60,
  CORE_LOG_SILENT = 100
};
void core_log_init(int level, const char *name);
/* JSON members written on every line of this process from now on (a
 * worker's "worker":N), before each call's own fields. */
void core_log_set_fields(const char *fields);
int core_log_enabled(int level);
void core_log_write(int level, const char *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int core_log_level_parse(const char *s); /* -1 if unknown */
#define LOG_DEBUG(f, ...)                             \
  do {                                                \
    if (core_log_enabled(CORE_LOG_DEBUG))             \
      core_log_write(CORE_LOG_DEBUG, f, __VA_ARGS__); \
  } while (0)
#define LOG_INFO(f, ...) core_log_write(CORE_LOG_INFO, f, __VA_ARGS__)
#define LOG_WARN(f, ...) core_log_write(CORE_LOG_WARN, f, __VA_ARGS__)
#define LOG_ERROR(f, ...) core_log_write(CORE_LOG_ERROR, f, __VA_ARGS__)

/* The length of the well-formed UTF-8 character at p (lead byte >= 0x80),
 * or 0: no overlong forms, no surrogates, nothing above U+10FFFF (which
 * PostgreSQL would refuse too). Inline: the W3 parser calls it per
 * non-ASCII character. */
static inline size_t core_utf8_char(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0], cp, min;
  size_t len;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, cp = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, cp = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if ((size_t)(end - p) < len)
    return 0;
  for (size_t k = 1; k < len; k++) {
    if ((p[k] & 0xC0) != 0x80)
      return 0;
    cp = cp << 6 | (p[k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

/* Counts the code points of s[0..n) if it is well-formed UTF-8 (no
 * overlong forms, surrogates or values past U+10FFFF, which PostgreSQL
 * would refuse too); -1 otherwise. */
long core_utf8_count(const char *s, size_t n);

/* Formats a one-line error message into err (which may be NULL). */
void core_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Wall-clock milliseconds since the epoch. */
int64_t core_time_ms(void);

/* The configuration: SPEC section 3. Every flag has an environment twin;
 * flags win. */
typedef enum { CORE_SCHED_RR, CORE_SCHED_NONE, CORE_SCHED_REUSEPORT } core_sched_t;
typedef enum {
  CORE_QUERIES_SEQUENTIAL,
  CORE_QUERIES_PARALLEL,
  CORE_QUERIES_PIPELINE
} core_queries_t;
typedef enum { CORE_TRANSFORM_LOOP, CORE_TRANSFORM_POOL } core_transform_t;
enum { CORE_READ_DASHBOARD = 1, CORE_READ_ITEMS = 2 }; /* --read-routes */

typedef struct core_config_s {
  char host[256];
  int port;
  int workers;
  core_sched_t sched;
  char *db; /* libpq conninfo, or NULL for the embedded default */
  int pool;
  char *db_read;         /* libpq conninfo of a replica, or NULL: no read pool */
  int read_pool;         /* its connections per worker; 0: as many as pool */
  int read_routes;       /* CORE_READ_* bits: the routes the read pool serves */
  int read_fallback;     /* 1: a read the replica cannot serve goes to db */
  int db_pipeline_depth; /* units in flight per connection; 0 = off */
  int db_prepared;       /* 0: statements sent unnamed (PgBouncer) */
  core_queries_t queries;
  core_transform_t transform;
  int64_t body_limit;
  int max_header_size;
  int64_t keep_alive_timeout;
  int64_t headers_timeout;
  int64_t request_timeout;
  int log_level;
  int log_requests;
  int debug_endpoints;
  char *data_dir;
  double scale;
  int64_t shutdown_timeout;
  int64_t drain_idle_grace; /* ms an idle keep-alive may stay open in a drain */
  int metrics_names;        /* 0 looplab, 1 node (also prom-client's names) */
  int64_t drain_delay;      /* ms of not-ready serving after SIGTERM */
} core_config_t;

enum { CORE_CONFIG_OK = 0, CORE_CONFIG_HELP = 1, CORE_CONFIG_VERSION = 2 };

/* The settings as Prometheus labels, for looplab_info:
 * version="…",workers="…",sched="…",transform="…",queries="…". */
void core_config_labels(const core_config_t *cfg, char *out, size_t len);

/* Fills cfg from defaults, then the environment, then argv. Returns
 * CORE_CONFIG_OK, CORE_CONFIG_HELP/VERSION (the caller prints and exits 0),
 * or a negative code with a one-line message in err. */
int core_config_parse(core_config_t *cfg, int argc, char **argv, char *err,
                      size_t errlen);
void core_config_usage(FILE *out);
void core_config_free(core_config_t *cfg);
const char *core_sched_name(core_sched_t s);
const char *core_queries_name(core_queries_t q);
const char *core_transform_name(core_transform_t t);
int core_queries_parse(const char *s, size_t n, core_queries_t *out);
int core_transform_parse(const char *s, size_t n, core_transform_t *out);

/* The sql/ files, embedded at build time in name order; the list ends with a
 * NULL name. */
typedef struct core_sql_file_s {
  const char *name;
  const char *text;
} core_sql_file_t;
extern const core_sql_file_t core_sql_files[];
const char *core_sql_file(const char *name); /* NULL if absent */

#endif
