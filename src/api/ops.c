/* Operational routes: liveness, readiness, and the loop-blocking probe. */
#include <libpq-fe.h>
#include <stdlib.h>

#include "api.h"

#define JSON "application/json; charset=utf-8"
#define TEXT "text/plain; charset=utf-8"

/* ?verbose: the Kubernetes API server's text form, one [+]/[-] line per
 * check, then "<probe> check passed" or "... failed". */
static int verbose(http_req_t *req) {
  const char *v;
  size_t n;
  return http_query_get(req, "verbose", &v, &n);
}

void api_livez(http_req_t *req) {
  if (verbose(req)) {
    core_buf_puts(&req->out, "[+]ping ok\nlivez check passed\n");
    http_respond(req, 200, TEXT, NULL);
    return;
  }
  core_buf_puts(&req->out, "{\"status\":\"ok\"}");
  http_respond(req, 200, JSON, NULL);
}

/* The replica is not a readiness check: an instance without it still
 * serves every write and most reads (docs/scaling.md). Reported in
 * Kubernetes' form for a check left out. */
static void read_pool_text(http_req_t *req) {
  api_ctx_t *ctx = req->server->ctx;
  if (!ctx->db_read)
    return;
  db_pool_stats_t st;
  db_pool_stats(ctx->db_read, &st);
  if (st.healthy > 0)
    core_buf_puts(&req->out, "[+]database-read ok\n");
  else
    core_buf_printf(&req->out,
                    "[+]database-read excluded: no healthy connection (its reads %s)\n",
                    ctx->cfg && ctx->cfg->read_fallback ? "go to --db" : "answer 503");
}

/* The readiness checks in order: ping (the loop answers), shutdown (not
 * draining), database (PostgreSQL answered the ping statement now). */
static void readyz_text(http_req_t *req, int draining, int db_status) {
  core_buf_puts(&req->out, "[+]ping ok\n");
  core_buf_puts(&req->out,
                draining ? "[-]shutdown failed: draining\n" : "[+]shutdown ok\n");
  if (draining)
    core_buf_puts(&req->out, "[-]database failed: not checked while draining\n");
  else if (db_status == DB_OK)
    core_buf_puts(&req->out, "[+]database ok\n");
  else
    core_buf_printf(&req->out, "[-]database failed: %s\n", db_strerror(db_status));
  read_pool_text(req);
  int ok = !draining && db_status == DB_OK;
  core_buf_puts(&req->out, ok ? "readyz check passed\n" : "readyz check failed\n");
  http_respond(req, ok ? 200 : 503, TEXT, ok ? NULL : "Retry-After: 1\r\n");
}

static void after_ping(void *data, int status, PGresult *res) {
  http_req_t *req = data;
  if (verbose(req)) {
    readyz_text(req, 0, status == DB_OK ? DB_OK : DB_EUNAVAIL);
    return;
  }
  if (status != DB_OK) {
    api_db_error(req, DB_EUNAVAIL, "readyz");
    return;
  }
  core_buf_puts(&req->out, "{\"status\":\"ok\"}");
  http_respond(req, 200, JSON, NULL);
}

/* Ready means: not draining (nor in --drain-delay), and PostgreSQL answers
 * a query now. */
void api_readyz(http_req_t *req) {
  api_ctx_t *ctx = req->server->ctx;
  if (ctx->draining || req->server->draining) {
    if (verbose(req))
      readyz_text(req, 1, DB_OK);
    else
      http_respond_error(req, 503, "Retry-After: 1\r\n", "server is draining");
    return;
  }
  int rc = db_query(ctx->db, API_STMT_PING, NULL, 0, after_ping, req);
  if (rc != 0) {
    if (verbose(req))
      readyz_text(req, 0, rc);
    else
      api_db_error(req, DB_EUNAVAIL, "readyz");
  }
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
