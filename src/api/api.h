/* api: the routes of SPEC section 4, one file per resource (items.c, ops.c),
 * and the pure validation they use (validate.c, no sockets or loops). */
#ifndef LOOPLAB_API_H
#define LOOPLAB_API_H

#include <stdint.h>

#include "core/core.h"
#include "db/db.h"
#include "http/http.h"

/* Errors: 0, or a negative code (libuv's, db's or these), as everywhere.
 * api_http_status gives the status an answer carries for one. */
enum {
  API_EBODY = -30001,    /* a body that is not JSON or breaks the schema: 400 */
  API_EMEDIA = -30002,   /* a body that is not application/json: 415 */
  API_EFORM = -30003,    /* PostgreSQL text not in the form we read: 500 */
  API_EQUERIES = -30004, /* sql/queries.sql lacks a statement we send */
};
const char *api_strerror(int code);
int api_http_status(int code);

/* What every handler reaches through req->server->ctx. Owned by the worker. */
typedef struct api_ctx_s {
  const core_config_t *cfg;
  db_pool_t *db;
  db_pool_t *db_read;      /* --db-read's pool, or NULL */
  uint64_t read_fallbacks; /* reads sent again to db (--read-fallback) */
  int draining;            /* /readyz answers 503 */
  int worker_id;           /* 0 with --workers 0 */
  /* Answers GET /metrics: merges over all workers (through the primary)
   * and responds exactly once. Set by the worker. */
  http_handler_cb scrape;
} api_ctx_t;

/* The prepared statements (sql/queries.sql, queries.c), indexes into
 * api_stmts. */
enum {
  API_STMT_PING,
  API_STMT_ITEM_GET,
  API_STMT_ITEM_INSERT,
  API_STMT_ITEM_REPLACE,
  API_STMT_ITEM_PATCH,
  API_STMT_ITEM_DELETE,
  API_STMT_ITEM_LIST,
  API_STMT_DASH_CUSTOMER,
  API_STMT_DASH_MONTHLY,
  API_STMT_DASH_TOP_PRODUCTS,
  API_STMT_DASH_RECENT_ORDERS,
  API_STMT_DASH_CATEGORIES,
  API_STMT_DASH_REGION,
  API_STMT__COUNT
};
extern db_stmt_t api_stmts[API_STMT__COUNT];

/* Fills api_stmts from the embedded sql/queries.sql, once per process
 * (call before forking). 0, or API_EQUERIES with a one-line message in err
 * when the file does not hold exactly the statements above. */
int api_queries_load(char *err, size_t errlen);
/* Parses text by the rule at the top of sql/queries.sql into out (the SQL
 * strings are malloc'd: api_queries_free). Exported for the tests. */
int api_queries_parse(const char *text, db_stmt_t out[API_STMT__COUNT], char *err,
                      size_t errlen);
void api_queries_free(db_stmt_t stmts[API_STMT__COUNT]);
/* The loaded statements as one JSON object {"name":"sql",...}. */
void api_queries_json(core_buf_t *b);

/* PostgreSQL text output to JSON (pgtext.c). Each returns 0, or API_EFORM
 * (and writes nothing useful) when the text is not in the expected form. */
/* A timestamptz in DateStyle ISO, any offset: "2024-10-21T20:46:54.123Z",
 * quoted, milliseconds truncated (Date#toISOString). */
int api_put_timestamp(core_buf_t *b, const char *s, size_t n);
/* A date "2025-01-01" as the month "2025-01", quoted. */
int api_put_month(core_buf_t *b, const char *s, size_t n);
/* A text[] literal as a JSON array of strings (NULL elements as null). */
int api_put_text_array(core_buf_t *b, const char *s, size_t n);
/* The same from the binary format: a timestamptz (int8 microseconds since
 * 2000-01-01 UTC), a one-dimensional text[] (or an empty one), an int8. */
int api_put_timestamp_bin(core_buf_t *b, const char *s, size_t n);
int api_put_text_array_bin(core_buf_t *b, const char *s, size_t n);
int api_get_int8(const char *s, size_t n, int64_t *out);
/* n strings as a text[] literal, every element quoted. */
void api_put_array_literal(core_buf_t *b, const char *const *elems, const size_t *lens,
                           int n);
/* Registers every route; debug routes only when debug is set. */
void api_routes(http_router_t *r, int debug);

/* Validation (pure). */

/* Parses a path id: a positive integer that fits int64, digits only.
 * 0 or UV_EINVAL. */
int api_parse_id(const char *s, size_t n, int64_t *out);

/* An item body, validated. Strings point into the request's arena. */
typedef struct api_item_in_s {
  const char *name;
  const char *description; /* NULL: JSON null or absent (see has_description) */
  int64_t price_cents;
  const char *tags; /* a text[] literal, every element quoted */
  unsigned has_name : 1, has_description : 1, has_price : 1, has_tags : 1;
} api_item_in_t;

/* Validates a create/replace (partial == 0) or PATCH (partial == 1) body.
 * Returns 0, or API_EBODY / API_EMEDIA with a message naming the field in
 * msg, Ajv-style ("body/name must NOT have more than 200 characters"), and
 * Fastify's error code for it in *code (NULL when Fastify sends none). */
int api_item_validate(const http_span_t *content_type, const char *body, size_t n,
                      int partial, core_arena_t *arena, api_item_in_t *out, char *msg,
                      size_t msglen, const char **code);

/* 1 if the content type is application/json (parameters allowed). */
int api_is_json(const http_span_t *content_type);

/* Writes row `row` of an item result (the plain columns of sql/queries.sql:
 * id, name, description, price_cents, tags text[], created_at, updated_at
 * timestamptz) as the item's JSON object, each column read in its own
 * format (text or binary). 0, or API_EFORM when a column is not in the
 * expected form (b then holds a partial object). */
int api_item_json(core_buf_t *b, const struct pg_result *res, int row);

/* W3 (transform.c): POST /transform, and the thread pool's figures for
 * metrics. Queue depth counts work queued and not yet started; any thread
 * may read it. The wait hook, when set, receives each job's wait between
 * uv_queue_work and its start, on the loop thread. */
void api_transform(http_req_t *req);
void api_transform_pool_stats(int *queue_depth, uint64_t *wait_ns_total);
typedef void (*api_transform_wait_cb)(void *data, uint64_t wait_ns);
void api_transform_set_wait_hook(api_transform_wait_cb cb, void *data);

/* The :id path parameter as a positive int64, re-printed in decimal into the
 * request's arena (the SQL parameter, and the id 404 messages name). On a
 * bad id answers 400 and returns -1. */
int api_path_id(http_req_t *req, const char **id_text);

/* Reads on a replica (--db-read, docs/scaling.md). api_read_pool: the
 * pool a read of route (CORE_READ_*) goes to first. api_read_retry: 1 when
 * a read that ended with status on pool must be sent once more, to db
 * (--read-fallback and a replica that could not serve it); it counts the
 * retry. Reads only: a write is never sent twice. */
db_pool_t *api_read_pool(const api_ctx_t *ctx, int route);
int api_read_retry(api_ctx_t *ctx, const db_pool_t *pool, int status);

/* Answers 503 for an unavailable database (Retry-After: 1), 503 with the
 * code API_CODE_OUTCOME_UNKNOWN and no Retry-After for a write whose
 * connection broke after it was sent (DB_ELOST, DB_ETIMEDOUT: it may have
 * committed), 500 for anything else. */
#define API_CODE_OUTCOME_UNKNOWN "LOOPLAB_ERR_OUTCOME_UNKNOWN"
void api_db_error(http_req_t *req, int status, const char *what);

#endif
