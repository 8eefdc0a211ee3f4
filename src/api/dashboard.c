/* W2: GET /customers/:id/dashboard. Six queries: the customer first (404
 * if none), then five sections, run by one of three strategies:
 *   sequential  one after another on one held connection;
 *   parallel    after the first, the five at once (Promise.all): five
 *               units, each with its own sync point, on whichever pool
 *               connections have room (idle ones first, then pipelined);
 *   pipeline    after the first, the five as one unit with one sync point
 *               on one connection.
 * Each section is rendered to JSON as its result arrives (the PGresult is
 * only lent to the callback) and kept in the request's arena; the body is
 * assembled in a fixed order at the end, so every strategy produces the
 * same bytes. */
#include <libpq-fe.h>
#include <string.h>

#include "api.h"

#define JSON "application/json; charset=utf-8"
#define NSECTIONS 5

typedef struct dash_s {
  http_req_t *req;
  db_pool_t *pool; /* the replica's (--read-routes dashboard) or db */
  db_conn_t *conn; /* sequential */
  const char *params[1];
  core_queries_t strategy;
  int next;        /* sequential: the next section to run */
  int outstanding; /* parallel: sections not yet answered */
  int status;      /* the first failure, or DB_OK */
  http_span_t customer;
  http_span_t sections[NSECTIONS];
} dash_t;

static const int section_stmt[NSECTIONS] = {
    API_STMT_DASH_MONTHLY, API_STMT_DASH_TOP_PRODUCTS, API_STMT_DASH_RECENT_ORDERS,
    API_STMT_DASH_CATEGORIES, API_STMT_DASH_REGION};
static const char *const section_key[NSECTIONS] = {"monthly_spend", "top_products",
                                                   "recent_orders", "spend_by_category",
                                                   "region_benchmark"};

/* The loop is single-threaded, so one scratch buffer per process serves
 * every render; the result is copied into the request's arena. */
static core_buf_t scratch;

static http_span_t keep(dash_t *d) {
  http_span_t s = {core_arena_strndup(&d->req->arena, scratch.data, scratch.len),
                   scratch.len};
  return s;
}

static void put_str(core_buf_t *b, const PGresult *r, int row, int col) {
  core_buf_put_json_str(b, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

static void put_raw(core_buf_t *b, const PGresult *r, int row, int col) {
  core_buf_append(b, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

/* A timestamptz or date the rules cannot print marks the render as failed
 * (a 500, logged), never a malformed body. */
static int render_failed;

static void put_ts(core_buf_t *b, const PGresult *r, int row, int col) {
  if (api_put_timestamp(b, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col)))
    render_failed = 1;
}

static void put_month(core_buf_t *b, const PGresult *r, int row, int col) {
  if (api_put_month(b, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col)))
    render_failed = 1;
}

static void field(core_buf_t *b, const char *key, int first) {
  if (!first)
    core_buf_putc(b, ',');
  core_buf_putc(b, '"');
  core_buf_puts(b, key);
  core_buf_puts(b, "\":");
}

static void render_customer(const PGresult *r) {
  core_buf_puts(&scratch, "{\"customer\":{");
  field(&scratch, "id", 1), put_raw(&scratch, r, 0, 0);
  field(&scratch, "name", 0), put_str(&scratch, r, 0, 1);
  field(&scratch, "email", 0), put_str(&scratch, r, 0, 2);
  field(&scratch, "region", 0), put_str(&scratch, r, 0, 3);
  field(&scratch, "created_at", 0), put_ts(&scratch, r, 0, 4);
  core_buf_puts(&scratch, "},\"as_of\":");
  put_ts(&scratch, r, 0, 5);
}

static void render_monthly(const PGresult *r) {
  core_buf_putc(&scratch, '[');
  for (int i = 0; i < PQntuples(r); i++) {
    core_buf_puts(&scratch, i ? ",{" : "{");
    field(&scratch, "month", 1), put_month(&scratch, r, i, 0);
    field(&scratch, "orders", 0), put_raw(&scratch, r, i, 1);
    field(&scratch, "spend_cents", 0), put_raw(&scratch, r, i, 2);
    core_buf_putc(&scratch, '}');
  }
  core_buf_putc(&scratch, ']');
}

static void render_top(const PGresult *r) {
  core_buf_putc(&scratch, '[');
  for (int i = 0; i < PQntuples(r); i++) {
    core_buf_puts(&scratch, i ? ",{" : "{");
    field(&scratch, "product_id", 1), put_raw(&scratch, r, i, 0);
    field(&scratch, "sku", 0), put_str(&scratch, r, i, 1);
    field(&scratch, "name", 0), put_str(&scratch, r, i, 2);
    field(&scratch, "category", 0), put_str(&scratch, r, i, 3);
    field(&scratch, "units", 0), put_raw(&scratch, r, i, 4);
    field(&scratch, "spend_cents", 0), put_raw(&scratch, r, i, 5);
    core_buf_putc(&scratch, '}');
  }
  core_buf_putc(&scratch, ']');
}

/* Rows are order lines, ordered by order; a new order id opens an object. */
static void render_recent(const PGresult *r) {
  core_buf_putc(&scratch, '[');
  int n = PQntuples(r);
  for (int i = 0; i < n; i++) {
    int first_line = i == 0 || strcmp(PQgetvalue(r, i, 0), PQgetvalue(r, i - 1, 0)) != 0;
    if (first_line) {
      if (i)
        core_buf_puts(&scratch, "]},");
      core_buf_putc(&scratch, '{');
      field(&scratch, "id", 1), put_raw(&scratch, r, i, 0);
      field(&scratch, "placed_at", 0), put_ts(&scratch, r, i, 1);
      field(&scratch, "status", 0), put_str(&scratch, r, i, 2);
      field(&scratch, "total_cents", 0), put_raw(&scratch, r, i, 3);
      field(&scratch, "lines", 0), core_buf_putc(&scratch, '[');
    } else {
      core_buf_putc(&scratch, ',');
    }
    core_buf_putc(&scratch, '{');
    field(&scratch, "line_no", 1), put_raw(&scratch, r, i, 4);
    field(&scratch, "product_id", 0), put_raw(&scratch, r, i, 5);
    field(&scratch, "sku", 0), put_str(&scratch, r, i, 6);
    field(&scratch, "name", 0), put_str(&scratch, r, i, 7);
    field(&scratch, "quantity", 0), put_raw(&scratch, r, i, 8);
    field(&scratch, "unit_price_cents", 0), put_raw(&scratch, r, i, 9);
    core_buf_putc(&scratch, '}');
  }
  core_buf_puts(&scratch, n ? "]}]" : "]");
}

static void render_categories(const PGresult *r) {
  core_buf_putc(&scratch, '[');
  for (int i = 0; i < PQntuples(r); i++) {
    core_buf_puts(&scratch, i ? ",{" : "{");
    field(&scratch, "category", 1), put_str(&scratch, r, i, 0);
    field(&scratch, "units", 0), put_raw(&scratch, r, i, 1);
    field(&scratch, "spend_cents", 0), put_raw(&scratch, r, i, 2);
    core_buf_putc(&scratch, '}');
  }
  core_buf_putc(&scratch, ']');
}

static void render_region(const PGresult *r) {
  if (PQntuples(r) == 0) { /* the customer went away after the first query */
    core_buf_puts(&scratch, "null");
    return;
  }
  core_buf_putc(&scratch, '{');
  field(&scratch, "region", 1), put_str(&scratch, r, 0, 0);
  field(&scratch, "window_days", 0), core_buf_puts(&scratch, "30");
  field(&scratch, "orders", 0), put_raw(&scratch, r, 0, 1);
  field(&scratch, "avg_order_cents", 0), put_raw(&scratch, r, 0, 2);
  core_buf_putc(&scratch, '}');
}

static void (*const renderers[NSECTIONS])(const PGresult *) = {
    render_monthly, render_top, render_recent, render_categories, render_region};

static void start(dash_t *d);

/* Ending: release the connection, then answer once, or start again on the
 * primary when the replica could not serve it (--read-fallback): every
 * section is in, so nothing of the first attempt is still running. */
static void finish(dash_t *d) {
  http_req_t *req = d->req;
  if (d->conn) {
    db_pool_release(d->conn);
    d->conn = NULL;
  }
  api_ctx_t *ctx = req->server->ctx;
  if (api_read_retry(ctx, d->pool, d->status)) {
    d->pool = ctx->db;
    d->status = DB_OK;
    d->next = 0;
    start(d);
    return;
  }
  if (d->status != DB_OK) {
    api_db_error(req, d->status, "dashboard");
    return;
  }
  core_buf_t *out = &req->out;
  core_buf_reserve(out, 16384);
  core_buf_append(out, d->customer.p, d->customer.n);
  for (int i = 0; i < NSECTIONS; i++) {
    core_buf_puts(out, ",\"");
    core_buf_puts(out, section_key[i]);
    core_buf_puts(out, "\":");
    core_buf_append(out, d->sections[i].p, d->sections[i].n);
  }
  core_buf_putc(out, '}');
  http_respond(req, 200, JSON, NULL);
}

static void not_found(dash_t *d) {
  if (d->conn)
    db_pool_release(d->conn);
  d->conn = NULL;
  http_respond_error(d->req, 404, NULL, "customer %s not found", d->params[0]);
}

/* Stores one section's result; which section is in the call's data. */
typedef struct section_ref_s {
  dash_t *d;
  int i;
} section_ref_t;

static int store(dash_t *d, int i, int status, PGresult *res) {
  if (status != DB_OK) {
    if (d->status == DB_OK)
      d->status = status;
    return -1;
  }
  core_buf_reset(&scratch);
  render_failed = 0;
  renderers[i](res);
  if (render_failed) {
    if (d->status == DB_OK)
      d->status = DB_EQUERY;
    return -1;
  }
  d->sections[i] = keep(d);
  return 0;
}

/* sequential */

static void after_sequential(void *data, int status, PGresult *res);

static void run_next(dash_t *d) {
  if (d->next == NSECTIONS) {
    finish(d);
    return;
  }
  int rc =
      db_conn_query(d->conn, section_stmt[d->next], d->params, 1, after_sequential, d);
  if (rc != 0) {
    d->status = rc;
    finish(d);
  }
}

static void after_sequential(void *data, int status, PGresult *res) {
  dash_t *d = data;
  if (store(d, d->next, status, res) != 0) {
    finish(d);
    return;
  }
  d->next++;
  run_next(d);
}

/* parallel */

static void after_parallel(void *data, int status, PGresult *res) {
  section_ref_t *ref = data;
  dash_t *d = ref->d;
  store(d, ref->i, status, res);
  if (--d->outstanding == 0)
    finish(d);
}

static void run_parallel(dash_t *d) {
  section_ref_t *refs =
      core_arena_alloc(&d->req->arena, sizeof(section_ref_t) * NSECTIONS);
  d->outstanding = NSECTIONS + 1; /* +1 holds completion until all are sent */
  for (int i = 0; i < NSECTIONS; i++) {
    refs[i].d = d;
    refs[i].i = i;
    int rc = db_query(d->pool, section_stmt[i], d->params, 1, after_parallel, &refs[i]);
    if (rc != 0) {
      if (d->status == DB_OK)
        d->status = rc;
      d->outstanding--;
    }
  }
  if (--d->outstanding == 0)
    finish(d);
}

/* pipeline */

static void after_pipelined(void *data, int status, PGresult *res) {
  section_ref_t *ref = data;
  store(ref->d, ref->i, status, res);
}

static void after_pipeline(void *data, int status) {
  dash_t *d = data;
  if (status != DB_OK && d->status == DB_OK)
    d->status = status;
  finish(d);
}

static void run_pipeline(dash_t *d) {
  section_ref_t *refs =
      core_arena_alloc(&d->req->arena, sizeof(section_ref_t) * NSECTIONS);
  db_call_t calls[NSECTIONS];
  for (int i = 0; i < NSECTIONS; i++) {
    refs[i].d = d;
    refs[i].i = i;
    calls[i] = (db_call_t){section_stmt[i], d->params, 1, after_pipelined, &refs[i]};
  }
  int rc = db_pipeline(d->pool, calls, NSECTIONS, after_pipeline, d);
  if (rc != 0) {
    d->status = rc;
    finish(d);
  }
}

/* The customer comes first, on its own: 404 stops here. */

static void after_customer(void *data, int status, PGresult *res) {
  dash_t *d = data;
  if (status != DB_OK) {
    d->status = status;
    finish(d);
    return;
  }
  if (PQntuples(res) == 0) {
    not_found(d);
    return;
  }
  core_buf_reset(&scratch);
  render_failed = 0;
  render_customer(res);
  if (render_failed) {
    d->status = DB_EQUERY;
    finish(d);
    return;
  }
  d->customer = keep(d);
  switch (d->strategy) {
    case CORE_QUERIES_SEQUENTIAL:
      run_next(d);
      break;
    case CORE_QUERIES_PARALLEL:
      run_parallel(d);
      break;
    case CORE_QUERIES_PIPELINE:
      run_pipeline(d);
      break;
  }
}

static void after_acquire(void *data, int status, db_conn_t *conn) {
  dash_t *d = data;
  if (status != DB_OK) {
    d->status = status;
    finish(d);
    return;
  }
  d->conn = conn;
  int rc = db_conn_query(conn, API_STMT_DASH_CUSTOMER, d->params, 1, after_customer, d);
  if (rc != 0) {
    d->status = rc;
    finish(d);
  }
}

static int strategy(http_req_t *req, core_queries_t *out) {
  api_ctx_t *ctx = req->server->ctx;
  const char *v;
  size_t n;
  *out = ctx->cfg ? ctx->cfg->queries : CORE_QUERIES_PARALLEL;
  if (!http_query_get(req, "queries", &v, &n))
    return 0;
  if (core_queries_parse(v, n, out) == 0)
    return 0;
  http_respond_error_code(
      req, 400, "FST_ERR_VALIDATION",
      "querystring/queries must be one of sequential, parallel, pipeline");
  return -1;
}

/* Sequential holds one connection for its six statements; parallel and
 * pipeline send units on the shared, pipelined connections (five units
 * with a sync point each, or one unit of five). */
static void start(dash_t *d) {
  int rc =
      d->strategy != CORE_QUERIES_SEQUENTIAL
          ? db_query(d->pool, API_STMT_DASH_CUSTOMER, d->params, 1, after_customer, d)
          : db_pool_acquire(d->pool, after_acquire, d);
  if (rc != 0) { /* DB_EUNAVAIL on a replica known down may go to db */
    d->status = rc;
    finish(d);
  }
}

void api_dashboard(http_req_t *req) {
  api_ctx_t *ctx = req->server->ctx;
  const char *id;
  if (api_path_id(req, &id))
    return;
  dash_t *d = core_arena_alloc(&req->arena, sizeof(*d));
  memset(d, 0, sizeof(*d));
  d->req = req;
  if (strategy(req, &d->strategy))
    return;
  d->params[0] = id;
  d->pool = api_read_pool(ctx, CORE_READ_DASHBOARD);
  start(d);
}
