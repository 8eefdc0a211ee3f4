/* W1 CRUD: the /items routes. Each handler validates, sends one prepared
 * statement, and answers from the result; a write is answered 2xx only
 * after PostgreSQL has confirmed it (the statement completed). */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define JSON "application/json; charset=utf-8"
#define LIST_DEFAULT 20
#define LIST_MAX 100

static int put_text_or_null(core_buf_t *b, const PGresult *res, int row, int col) {
  if (PQgetisnull(res, row, col))
    core_buf_puts(b, "null");
  else
    core_buf_put_json_str(b, PQgetvalue(res, row, col),
                          (size_t)PQgetlength(res, row, col));
  return 0;
}

#define COL(res, row, col) PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col)

/* An int8 column: its decimal text, or 8 big-endian bytes. */
static int put_int8(core_buf_t *b, const PGresult *res, int row, int col) {
  if (PQfformat(res, col) == 0) {
    core_buf_append(b, COL(res, row, col));
    return 0;
  }
  int64_t v;
  if (api_get_int8(COL(res, row, col), &v) != 0)
    return API_EFORM;
  core_buf_put_i64(b, v);
  return 0;
}

/* The id column of row as decimal text, in out (24 bytes). */
static const char *id_text(const PGresult *res, int row, char *out) {
  int64_t v;
  if (PQfformat(res, 0) == 0)
    return PQgetvalue(res, row, 0);
  if (api_get_int8(COL(res, row, 0), &v) != 0)
    return "0";
  snprintf(out, 24, "%lld", (long long)v);
  return out;
}

int api_item_json(core_buf_t *b, const PGresult *res, int row) {
  int rc;
  core_buf_puts(b, "{\"id\":");
  if ((rc = put_int8(b, res, row, 0)) != 0)
    return rc;
  /* text is the same bytes in either format */
  core_buf_puts(b, ",\"name\":");
  core_buf_put_json_str(b, COL(res, row, 1));
  core_buf_puts(b, ",\"description\":");
  put_text_or_null(b, res, row, 2);
  core_buf_puts(b, ",\"price_cents\":");
  if ((rc = put_int8(b, res, row, 3)) != 0)
    return rc;
  core_buf_puts(b, ",\"tags\":");
  int bin = PQfformat(res, 4) == 1;
  if ((rc = (bin ? api_put_text_array_bin : api_put_text_array)(b, COL(res, row, 4))) !=
      0)
    return rc;
  bin = PQfformat(res, 5) == 1;
  core_buf_puts(b, ",\"created_at\":");
  if ((rc = (bin ? api_put_timestamp_bin : api_put_timestamp)(b, COL(res, row, 5))) != 0)
    return rc;
  bin = PQfformat(res, 6) == 1;
  core_buf_puts(b, ",\"updated_at\":");
  if ((rc = (bin ? api_put_timestamp_bin : api_put_timestamp)(b, COL(res, row, 6))) != 0)
    return rc;
  core_buf_putc(b, '}');
  return 0;
}

/* A row PostgreSQL sent in a form we do not read (a DateStyle other than
 * ISO, say) is a server-side fault: 500, logged. */
static int item_out(http_req_t *req, const PGresult *res, int row) {
  if (api_item_json(&req->out, res, row) == 0)
    return 0;
  core_buf_reset(&req->out);
  api_db_error(req, DB_EQUERY, "item output (is DateStyle ISO?)");
  return -1;
}

static int path_id(http_req_t *req, const char **id_text) {
  if (api_path_id(req, id_text))
    return -1;
  req->data = (void *)*id_text; /* for the 404 message */
  return 0;
}

static void send_query(http_req_t *req, int stmt, const char *const *params, int n,
                       db_result_cb cb) {
  api_ctx_t *ctx = req->server->ctx;
  int rc = db_query(ctx->db, stmt, params, n, cb, req);
  if (rc != 0)
    api_db_error(req, rc, api_stmts[stmt].name);
}

/* A read (GET one, the list): on the replica when --read-routes names
 * items, once more on the primary when the replica cannot serve it and
 * --read-fallback is set. params live in the request's arena. */
typedef struct item_read_s {
  http_req_t *req;
  db_pool_t *pool;
  int stmt, nparams;
  const char *params[2];
  db_result_cb cb;
} item_read_t;

static void after_read(void *data, int status, PGresult *res) {
  item_read_t *r = data;
  api_ctx_t *ctx = r->req->server->ctx;
  if (api_read_retry(ctx, r->pool, status)) {
    r->pool = ctx->db;
    int rc = db_query(r->pool, r->stmt, r->params, r->nparams, after_read, r);
    if (rc != 0)
      api_db_error(r->req, rc, api_stmts[r->stmt].name);
    return;
  }
  r->cb(r->req, status, res);
}

static void send_read(http_req_t *req, int stmt, const char *const *params, int n,
                      db_result_cb cb) {
  api_ctx_t *ctx = req->server->ctx;
  item_read_t *r = core_arena_alloc(&req->arena, sizeof(*r));
  *r = (item_read_t){req, api_read_pool(ctx, CORE_READ_ITEMS), stmt, n, {NULL}, cb};
  for (int i = 0; i < n; i++) r->params[i] = params[i];
  int rc = db_query(r->pool, stmt, r->params, n, after_read, r);
  if (rc == DB_EUNAVAIL) /* known down: the same rule as a failure later */
    after_read(r, rc, NULL);
  else if (rc != 0)
    api_db_error(req, rc, api_stmts[stmt].name);
}

/* One item back, or 404. Shared by read, replace and patch. */
static void after_one(void *data, int status, PGresult *res) {
  http_req_t *req = data;
  if (status != DB_OK) {
    api_db_error(req, status, req->route);
    return;
  }
  if (PQntuples(res) == 0) {
    http_respond_error(req, 404, NULL, "item %s not found", (const char *)req->data);
    return;
  }
  if (item_out(req, res, 0))
    return;
  http_respond(req, 200, JSON, NULL);
}

void api_item_get(http_req_t *req) {
  const char *id;
  if (path_id(req, &id))
    return;
  const char *params[] = {id};
  send_read(req, API_STMT_ITEM_GET, params, 1, after_one);
}

static int validate(http_req_t *req, int partial, api_item_in_t *in) {
  char msg[256];
  const char *code = NULL;
  int st = api_item_validate(&req->content_type, req->body.p, req->body.n, partial,
                             &req->arena, in, msg, sizeof(msg), &code);
  if (st)
    http_respond_error_code(req, api_http_status(st), code, "%s", msg);
  return st;
}

static const char *int_text(http_req_t *req, int64_t v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
  return core_arena_strndup(&req->arena, tmp, (size_t)n);
}

static void after_create(void *data, int status, PGresult *res) {
  http_req_t *req = data;
  if (status != DB_OK || PQntuples(res) != 1) {
    api_db_error(req, status == DB_OK ? DB_EQUERY : status, "item create");
    return;
  }
  char location[64], id[24];
  snprintf(location, sizeof(location), "Location: /items/%s\r\n", id_text(res, 0, id));
  if (item_out(req, res, 0))
    return;
  http_respond(req, 201, JSON, location);
}

void api_item_create(http_req_t *req) {
  api_item_in_t in;
  if (validate(req, 0, &in))
    return;
  const char *params[] = {in.name, in.description, int_text(req, in.price_cents),
                          in.tags};
  send_query(req, API_STMT_ITEM_INSERT, params, 4, after_create);
}

void api_item_replace(http_req_t *req) {
  const char *id;
  api_item_in_t in;
  if (path_id(req, &id) || validate(req, 0, &in))
    return;
  const char *params[] = {id, in.name, in.description, int_text(req, in.price_cents),
                          in.tags};
  send_query(req, API_STMT_ITEM_REPLACE, params, 5, after_one);
}

void api_item_patch(http_req_t *req) {
  const char *id;
  api_item_in_t in;
  if (path_id(req, &id) || validate(req, 1, &in))
    return;
  const char *params[] = {id,
                          in.has_name ? in.name : NULL,
                          in.has_description ? "t" : "f",
                          in.description,
                          in.has_price ? int_text(req, in.price_cents) : NULL,
                          in.has_tags ? in.tags : NULL};
  send_query(req, API_STMT_ITEM_PATCH, params, 6, after_one);
}

static void after_delete(void *data, int status, PGresult *res) {
  http_req_t *req = data;
  if (status != DB_OK) {
    api_db_error(req, status, "item delete");
    return;
  }
  if (strcmp(PQcmdTuples(res), "0") == 0) {
    http_respond_error(req, 404, NULL, "item %s not found", (const char *)req->data);
    return;
  }
  http_respond(req, 204, NULL, NULL);
}

void api_item_delete(http_req_t *req) {
  const char *id;
  if (path_id(req, &id))
    return;
  const char *params[] = {id};
  send_query(req, API_STMT_ITEM_DELETE, params, 1, after_delete);
}

/* The list asks for one row more than the page: its presence is what says
 * there is a next page. */
static void after_list(void *data, int status, PGresult *res) {
  http_req_t *req = data;
  if (status != DB_OK) {
    api_db_error(req, status, "item list");
    return;
  }
  int limit = (int)(intptr_t)req->data;
  int n = PQntuples(res);
  int page = n > limit ? limit : n;
  core_buf_puts(&req->out, "{\"items\":[");
  for (int i = 0; i < page; i++) {
    if (i)
      core_buf_putc(&req->out, ',');
    if (item_out(req, res, i))
      return;
  }
  core_buf_puts(&req->out, "],\"next_after\":");
  char id[24];
  core_buf_puts(&req->out, n > limit ? id_text(res, page - 1, id) : "null");
  core_buf_putc(&req->out, '}');
  http_respond(req, 200, JSON, NULL);
}

static int query_int(http_req_t *req, const char *key, int64_t min, int64_t max,
                     int64_t *out) {
  const char *v;
  size_t n;
  if (!http_query_get(req, key, &v, &n))
    return 0;
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (n == 0 || *end != '\0' || errno || !(v[0] >= '0' && v[0] <= '9') || x < min ||
      x > max) {
    http_respond_error_code(req, 400, "FST_ERR_VALIDATION",
                            "querystring/%s must be an integer from %lld to %lld", key,
                            (long long)min, (long long)max);
    return -1;
  }
  *out = x;
  return 0;
}

void api_item_list(http_req_t *req) {
  int64_t limit = LIST_DEFAULT, after = 0;
  if (query_int(req, "limit", 1, LIST_MAX, &limit))
    return;
  if (query_int(req, "after", 0, INT64_MAX, &after))
    return;
  req->data = (void *)(intptr_t)limit;
  const char *params[] = {int_text(req, after), int_text(req, limit + 1)};
  send_read(req, API_STMT_ITEM_LIST, params, 2, after_list);
}
