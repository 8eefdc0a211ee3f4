/* The route table and the shared database-error answer. The statements
 * live in sql/queries.sql (queries.c). */
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
  if (debug)
    http_router_add(r, HTTP_M_GET, "/debug/block", api_debug_block);
}

int api_path_id(http_req_t *req, const char **id_text) {
  int64_t id;
  if (api_parse_id(req->params[0].p, req->params[0].n, &id) != 0) {
    http_respond_error_code(req, 400, "FST_ERR_VALIDATION",
                            "params/id must be a positive 64-bit integer");
    return -1;
  }
  char tmp[24];
  int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)id);
  *id_text = core_arena_strndup(&req->arena, tmp, (size_t)n);
  return 0;
}

const char *api_strerror(int code) {
  switch (code) {
    case API_EBODY:
      return "bad request body";
    case API_EMEDIA:
      return "unsupported media type";
    case API_EFORM:
      return "unexpected PostgreSQL text form";
    case API_EQUERIES:
      return "sql/queries.sql does not match";
    default:
      return db_strerror(code); /* db's codes, then libuv's */
  }
}

int api_http_status(int code) {
  switch (code) {
    case API_EBODY:
    case UV_EINVAL:
      return 400;
    case API_EMEDIA:
      return 415;
    case DB_EUNAVAIL:
    case DB_ELOST:
    case DB_ETIMEDOUT:
    case DB_ECLOSING:
      return 503;
    default:
      return 500;
  }
}

db_pool_t *api_read_pool(const api_ctx_t *ctx, int route) {
  if (ctx->db_read && ctx->cfg && (ctx->cfg->read_routes & route))
    return ctx->db_read;
  return ctx->db;
}

/* Only DB_EUNAVAIL and DB_ELOST: the replica is down, unreachable, or
 * went away under the read (a read has no outcome to lose). A timeout or
 * an error PostgreSQL answered would fail on the primary too, or cost it
 * a slow statement twice. */
int api_read_retry(api_ctx_t *ctx, const db_pool_t *pool, int status) {
  if ((status != DB_EUNAVAIL && status != DB_ELOST) || pool == ctx->db || !ctx->cfg ||
      !ctx->cfg->read_fallback)
    return 0;
  ctx->read_fallbacks++;
  return 1;
}

/* A write whose statement reached PostgreSQL and whose answer did not come
 * back may have committed: saying "unavailable" (come back later) would
 * invite a blind retry, a second row. The client is told the outcome is
 * unknown, with no Retry-After, so it looks before it writes again. */
static int outcome_unknown(const http_req_t *req, int status) {
  return (status == DB_ELOST || status == DB_ETIMEDOUT) && req->method != HTTP_M_GET &&
         req->method != HTTP_M_HEAD;
}

void api_db_error(http_req_t *req, int status, const char *what) {
  if (outcome_unknown(req, status)) {
    http_respond_error_code(req, 503, API_CODE_OUTCOME_UNKNOWN,
                            "the database connection was lost after the write was sent: "
                            "it may have been applied");
    return;
  }
  if (api_http_status(status) == 503) {
    http_respond_error(req, 503, "Retry-After: 1\r\n", "database unavailable");
    return;
  }
  LOG_ERROR(NULL, "%s failed: %s", what, db_strerror(status));
  http_respond_error(req, 500, NULL, "Internal Server Error");
}
