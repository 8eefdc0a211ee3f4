/* The route table, the prepared statements and the shared database-error
 * answer. */
#include <libpq-fe.h>

#include "api.h"

void api_item_get(http_req_t *req);
void api_item_create(http_req_t *req);
void api_item_replace(http_req_t *req);
void api_item_patch(http_req_t *req);
void api_item_delete(http_req_t *req);
void api_item_list(http_req_t *req);
void api_dashboard(http_req_t *req);
void api_livez(http_req_t *req);
void api_metrics(http_req_t *req);
void api_readyz(http_req_t *req);
void api_debug_block(http_req_t *req);

/* Items come back ready for JSON: tags as a JSON array, timestamps as
 * RFC 3339 UTC with milliseconds, like JavaScript's Date#toISOString. */
#define ITEM_COLS                                                              \
  "id::text, name, description, price_cents::text, array_to_json(tags)::text, " \
  "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), " \
  "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define TAGS(p) "ARRAY(SELECT json_array_elements_text(" p "::json))"

const db_stmt_t api_stmts[API_STMT__COUNT] = {
  [API_STMT_PING] = {"ping", "SELECT 1", 0},
  [API_STMT_ITEM_GET] = {"item_get", "SELECT " ITEM_COLS " FROM items WHERE id = $1", 1},
  [API_STMT_ITEM_INSERT] = {"item_insert",
    "INSERT INTO items (name, description, price_cents, tags) "
    "VALUES ($1, $2, $3, " TAGS("$4") ") RETURNING " ITEM_COLS, 4},
  [API_STMT_ITEM_REPLACE] = {"item_replace",
    "UPDATE items SET name = $2, description = $3, price_cents = $4, tags = " TAGS("$5")
    ", updated_at = now() WHERE id = $1 RETURNING " ITEM_COLS, 5},
  [API_STMT_ITEM_PATCH] = {"item_patch",
    "UPDATE items SET name = COALESCE($2, name), "
    "description = CASE WHEN $3::boolean THEN $4 ELSE description END, "
    "price_cents = COALESCE($5::bigint, price_cents), "
    "tags = CASE WHEN $6::json IS NULL THEN tags ELSE " TAGS("$6") " END, "
    "updated_at = now() WHERE id = $1 RETURNING " ITEM_COLS, 6},
  [API_STMT_ITEM_DELETE] = {"item_delete", "DELETE FROM items WHERE id = $1", 1},
  [API_STMT_ITEM_LIST] = {"item_list",
    "SELECT " ITEM_COLS " FROM items WHERE id > $1 ORDER BY items.id LIMIT $2", 2},

  /* W2: every window is relative to meta.as_of, never now(); every ORDER BY
   * is total, so all strategies (and the peers) produce the same bytes.
   * docs/workloads.md states these rules. */
  [API_STMT_DASH_CUSTOMER] = {"dash_customer",
    "SELECT c.id, c.name, c.email, c.region, " TS("c.created_at") ", " TS("m.as_of")
    " FROM customers c, meta m WHERE c.id = $1", 1},
  [API_STMT_DASH_MONTHLY] = {"dash_monthly",
    "SELECT to_char(mo, 'YYYY-MM'), count(o.id), coalesce(sum(o.total_cents), 0) "
    "FROM meta m CROSS JOIN generate_series("
    "date_trunc('month', m.as_of AT TIME ZONE 'UTC') - interval '12 months', "
    "date_trunc('month', m.as_of AT TIME ZONE 'UTC') - interval '1 month', "
    "interval '1 month') AS mo "
    "LEFT JOIN orders o ON o.customer_id = $1 AND o.status <> 'cancelled' "
    "AND o.placed_at >= (mo AT TIME ZONE 'UTC') "
    "AND o.placed_at < ((mo + interval '1 month') AT TIME ZONE 'UTC') "
    "GROUP BY mo ORDER BY mo", 1},
  [API_STMT_DASH_TOP_PRODUCTS] = {"dash_top_products",
    "SELECT p.id, p.sku, p.name, p.category, sum(oi.quantity), "
    "sum(oi.quantity * oi.unit_price_cents) AS spend "
    "FROM orders o JOIN order_items oi ON oi.order_id = o.id "
    "JOIN products p ON p.id = oi.product_id "
    "WHERE o.customer_id = $1 AND o.status <> 'cancelled' "
    "GROUP BY p.id ORDER BY spend DESC, p.id LIMIT 10", 1},
  [API_STMT_DASH_RECENT_ORDERS] = {"dash_recent_orders",
    "WITH recent AS (SELECT id, placed_at, status, total_cents FROM orders "
    "WHERE customer_id = $1 ORDER BY placed_at DESC, id DESC LIMIT 25) "
    "SELECT r.id, " TS("r.placed_at") ", r.status, r.total_cents, oi.line_no, "
    "oi.product_id, p.sku, p.name, oi.quantity, oi.unit_price_cents "
    "FROM recent r JOIN order_items oi ON oi.order_id = r.id "
    "JOIN products p ON p.id = oi.product_id "
    "ORDER BY r.placed_at DESC, r.id DESC, oi.line_no", 1},
  [API_STMT_DASH_CATEGORIES] = {"dash_categories",
    "SELECT p.category, sum(oi.quantity), sum(oi.quantity * oi.unit_price_cents) AS spend "
    "FROM orders o JOIN order_items oi ON oi.order_id = o.id "
    "JOIN products p ON p.id = oi.product_id "
    "WHERE o.customer_id = $1 AND o.status <> 'cancelled' "
    "GROUP BY p.category ORDER BY spend DESC, p.category", 1},
  /* The region benchmark starts from the 30-day range of orders
   * (orders_placed_idx, index-only) and hashes the region's customers
   * (customers_region_idx, index-only): about 70 buffers at scale 1, where
   * walking every customer of the region through their orders took 29,000. */
  [API_STMT_DASH_REGION] = {"dash_region",
    "SELECT me.region, r.orders, r.avg_order_cents "
    "FROM customers me CROSS JOIN meta m CROSS JOIN LATERAL ("
    "SELECT count(*) AS orders, coalesce(round(avg(o.total_cents)), 0)::bigint AS avg_order_cents "
    "FROM orders o JOIN customers c ON c.id = o.customer_id "
    "WHERE c.region = me.region AND o.status <> 'cancelled' "
    "AND o.placed_at >= m.as_of - interval '30 days' AND o.placed_at < m.as_of) r "
    "WHERE me.id = $1", 1},
};

void api_routes(http_router_t *r, int debug) {
  http_router_add(r, HTTP_M_GET, "/livez", api_livez);
  http_router_add(r, HTTP_M_GET, "/readyz", api_readyz);
  http_router_add(r, HTTP_M_GET, "/metrics", api_metrics);
  http_router_add(r, HTTP_M_POST, "/items", api_item_create);
  http_router_add(r, HTTP_M_GET, "/items", api_item_list);
  http_router_add(r, HTTP_M_GET, "/items/:id", api_item_get);
  http_router_add(r, HTTP_M_PUT, "/items/:id", api_item_replace);
  http_router_add(r, HTTP_M_PATCH, "/items/:id", api_item_patch);
  http_router_add(r, HTTP_M_DELETE, "/items/:id", api_item_delete);
  http_router_add(r, HTTP_M_GET, "/customers/:id/dashboard", api_dashboard);
  http_router_add(r, HTTP_M_POST, "/transform", api_transform);
  if (debug) http_router_add(r, HTTP_M_GET, "/debug/block", api_debug_block);
}

int api_path_id(http_req_t *req, const char **id_text) {
  int64_t id;
  if (api_parse_id(req->params[0].p, req->params[0].n, &id) != 0) {
    http_respond_error(req, 400, NULL, "params/id must be a positive 64-bit integer");
    return -1;
  }
  char tmp[24];
  int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)id);
  *id_text = core_arena_strndup(&req->arena, tmp, (size_t)n);
  return 0;
}

void api_db_error(http_req_t *req, int status, const char *what) {
  if (status == DB_EUNAVAIL || status == DB_ETIMEDOUT || status == DB_ECLOSING) {
    http_respond_error(req, 503, "Retry-After: 1\r\n", "database unavailable");
    return;
  }
  LOG_ERROR(NULL, "%s failed: %s", what, db_strerror(status));
  http_respond_error(req, 500, NULL, "Internal Server Error");
}
