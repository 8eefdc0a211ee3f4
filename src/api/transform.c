/* W3: POST /transform. The transform itself is pure (xform/); this file
 * decides where it runs. loop: right here, blocking the event loop for its
 * whole duration, as plain Node does. pool: on libuv's thread pool
 * (uv_queue_work, UV_THREADPOOL_SIZE threads, like Node's worker threads),
 * answering on the loop in the after-work callback.
 *
 * Thread-pool observability: queue depth (queued, not yet started) and the
 * wait between uv_queue_work and the start of the work are kept in atomics
 * that any thread may read; a hook, when set, receives each wait on the loop
 * thread. */
#include <stdatomic.h>
#include <string.h>

#include "api.h"
#include "xform/xform.h"

#define JSON "application/json; charset=utf-8"

static atomic_int queue_depth;
static atomic_uint_fast64_t wait_ns_total;
static _Atomic(api_transform_wait_cb) wait_hook;
static _Atomic(void *) wait_hook_data;

typedef struct work_s {
  uv_work_t w;
  http_req_t *req;
  uint64_t queued_ns;
  uint64_t wait_ns;
  int status;
  char err[256];
} work_t;

void api_transform_pool_stats(int *depth, uint64_t *wait_total) {
  if (depth)
    *depth = atomic_load(&queue_depth);
  if (wait_total)
    *wait_total = atomic_load(&wait_ns_total);
}

void api_transform_set_wait_hook(api_transform_wait_cb cb, void *data) {
  atomic_store(&wait_hook_data, data);
  atomic_store(&wait_hook, cb);
}

static void finish(http_req_t *req, int status, const char *err) {
  if (status)
    http_respond_error(req, status, NULL, "%s", err);
  else
    http_respond(req, 200, JSON, NULL);
}

/* On a pool thread. The loop does not touch req until after_work. */
static void on_work(uv_work_t *w) {
  work_t *wk = container_of(w, work_t, w);
  wk->wait_ns = uv_hrtime() - wk->queued_ns;
  atomic_fetch_sub(&queue_depth, 1);
  atomic_fetch_add(&wait_ns_total, wk->wait_ns);
  http_req_t *req = wk->req;
  wk->status =
      xform_run(req->body.p, req->body.n, NULL, &req->out, wk->err, sizeof(wk->err));
}

static void after_work(uv_work_t *w, int status) {
  work_t *wk = container_of(w, work_t, w);
  api_transform_wait_cb hook = atomic_load(&wait_hook);
  if (hook)
    hook(atomic_load(&wait_hook_data), wk->wait_ns);
  if (status != 0) {
    LOG_ERROR(NULL, "transform work failed: %s", uv_strerror(status));
    http_respond_error(wk->req, 500, NULL, "Internal Server Error");
    return;
  }
  finish(wk->req, wk->status, wk->err);
}

static void run_on_pool(http_req_t *req) {
  work_t *wk = core_arena_alloc(&req->arena, sizeof(*wk));
  memset(wk, 0, sizeof(*wk));
  wk->req = req;
  wk->queued_ns = uv_hrtime();
  atomic_fetch_add(&queue_depth, 1);
  int rc = uv_queue_work(req->server->loop, &wk->w, on_work, after_work);
  if (rc != 0) {
    atomic_fetch_sub(&queue_depth, 1);
    LOG_ERROR(NULL, "uv_queue_work: %s", uv_strerror(rc));
    http_respond_error(req, 500, NULL, "Internal Server Error");
  }
}

/* The server's --transform, or ?mode=loop|pool. 0, or answers 400. */
static int mode_of(http_req_t *req, core_transform_t *mode) {
  api_ctx_t *ctx = req->server->ctx;
  const char *v;
  size_t n;
  *mode = ctx && ctx->cfg ? ctx->cfg->transform : CORE_TRANSFORM_POOL;
  if (!http_query_get(req, "mode", &v, &n) || core_transform_parse(v, n, mode) == 0)
    return 0;
  http_respond_error(req, 400, NULL, "querystring/mode must be one of loop, pool");
  return -1;
}

void api_transform(http_req_t *req) {
  core_transform_t mode;
  if (mode_of(req, &mode))
    return;
  if (req->content_type.n == 0 && req->body.n == 0) {
    http_respond_error(req, 400, NULL, "body must be object");
    return;
  }
  if (!api_is_json(&req->content_type)) {
    size_t n = req->content_type.n > 100 ? 100 : req->content_type.n;
    http_respond_error_code(req, 415, "FST_ERR_CTP_INVALID_MEDIA_TYPE",
                            "Unsupported Media Type: %.*s", n ? (int)n : 4,
                            n ? req->content_type.p : "none");
    return;
  }
  if (req->body.n == 0) { /* Fastify's content-type parser says so first */
    http_respond_error_code(
        req, 400, "FST_ERR_CTP_EMPTY_JSON_BODY",
        "Body cannot be empty when content-type is set to 'application/json'");
    return;
  }
  if (mode == CORE_TRANSFORM_POOL) {
    run_on_pool(req);
    return;
  }
  char err[256];
  int status = xform_run(req->body.p, req->body.n, NULL, &req->out, err, sizeof(err));
  finish(req, status, err);
}
