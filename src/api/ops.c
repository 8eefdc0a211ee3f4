/* Operational routes: liveness, readiness, and the loop-blocking probe. */
#include <libpq-fe.h>
#include <stdlib.h>

#include "api.h"

#define JSON "application/json; charset=utf-8"

void api_livez(http_req_t *req) {
  core_buf_puts(&req->out, "{\"status\":\"ok\"}");
  http_respond(req, 200, JSON, NULL);
}

static void after_ping(void *data, int status, PGresult *res) {
  http_req_t *req = data;
  if (status != DB_OK) {
    api_db_error(req, DB_EUNAVAIL, "readyz");
    return;
  }
  core_buf_puts(&req->out, "{\"status\":\"ok\"}");
  http_respond(req, 200, JSON, NULL);
}

/* Ready means: not draining, and PostgreSQL answers a query now. */
void api_readyz(http_req_t *req) {
  api_ctx_t *ctx = req->server->ctx;
  if (ctx->draining || req->server->draining) {
    http_respond_error(req, 503, "Retry-After: 1\r\n", "server is draining");
    return;
  }
  int rc = db_query(ctx->db, API_STMT_PING, NULL, 0, after_ping, req);
  if (rc != 0)
    api_db_error(req, DB_EUNAVAIL, "readyz");
}

void api_metrics(http_req_t *req) {
  api_ctx_t *ctx = req->server->ctx;
  if (ctx->scrape == NULL) {
    http_respond_error(req, 503, NULL, "metrics are not available");
    return;
  }
  ctx->scrape(req);
}

/* Spins the loop for ms milliseconds: the blocking that the event-loop
 * metrics exist to show. Only with --debug-endpoints. */
void api_debug_block(http_req_t *req) {
  const char *v;
  size_t n;
  char *end;
  long ms = -1;
  if (http_query_get(req, "ms", &v, &n) && n > 0)
    ms = strtol(v, &end, 10);
  if (ms < 0 || ms > 10000 || (n > 0 && *end != '\0')) {
    http_respond_error(req, 400, NULL,
                       "querystring/ms must be an integer from 0 to 10000");
    return;
  }
  uint64_t until = uv_hrtime() + (uint64_t)ms * 1000000u;
  while (uv_hrtime() < until) {
  }
  core_buf_printf(&req->out, "{\"blocked_ms\":%ld}", ms);
  http_respond(req, 200, JSON, NULL);
}
