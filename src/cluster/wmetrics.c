/* A worker's measurements: requests and durations (the HTTP server's
 * observe hook), event-loop lag (a 10 ms timer's lateness, like Node's
 * monitorEventLoopDelay) and utilization (uv_metrics_idle_time, like
 * performance.eventLoopUtilization). One per process: a worker has exactly
 * one loop, so this is a file-level singleton used only on that loop. */
#include <string.h>

#include "api/api.h"
#include "internal.h"

#define LAG_RESOLUTION_NS 10000000ull

/* A lag and utilization window per view (/metrics and /metrics?by=worker):
 * each scrape starts a new window of its own view only, so a Prometheus
 * scraping both endpoints sees each as if the other did not exist. */
typedef struct window_s {
  metrics_ll_t lag;
  uint64_t idle_prev, hr_prev;
} window_t;

static struct {
  uv_loop_t *loop;
  uv_timer_t lag_timer;
  uint64_t lag_prev;
  window_t win[2];
  http_server_t *server;
  api_ctx_t *ctx;
  metrics_snap_t snap;
  metrics_dur_index_t dur_index;
  int started;
} wm;

static void on_observe(http_req_t *req, int status, uint64_t ns) {
  int route = req->route_id < METRICS_ROUTES ? req->route_id : 0;
  int method = req->method < METRICS_METHODS ? (int)req->method : METRICS_METHODS - 1;
  wm.snap.requests[route][method][metrics_status_slot(status)]++;
  metrics_duration_record(&wm.snap, wm.dur_index, route, method,
                          metrics_status_slot(status), (double)ns / 1e9);
  wm.snap.requests_total++;
}

/* Node records the whole interval between ticks; we record the lateness
 * beyond the 10 ms resolution, so an idle loop reads 0, not 10 ms. The
 * first tick is measured from the timer's start, like every later one
 * from the tick before it. */
static void on_lag_tick(uv_timer_t *t) {
  uint64_t now = uv_hrtime();
  uint64_t delta = now - wm.lag_prev;
  for (int v = 0; v < 2; v++)
    metrics_ll_record(&wm.win[v].lag,
                      delta > LAG_RESOLUTION_NS ? delta - LAG_RESOLUTION_NS : 0);
  wm.lag_prev = now;
}

static void on_tp_wait(void *data, uint64_t wait_ns);
static void tp_sample(metrics_snap_t *s);

int cluster_wmetrics_start(uv_loop_t *loop, int worker_id, http_server_t *server,
                           api_ctx_t *ctx) {
  memset(&wm, 0, sizeof(wm));
  wm.loop = loop;
  wm.server = server;
  wm.ctx = ctx;
  wm.snap.worker = worker_id;
  wm.snap.pid = (int32_t)uv_os_getpid();
  wm.snap.start_time_s = (uint64_t)(core_time_ms() / 1000);
  server->observe = on_observe;
  /* The lag clock starts with the timer. It used to start at the first
   * tick, so a worker blocked before that tick (its first request, which
   * rr hands over within milliseconds of the worker's ready message) had
   * its whole block lost: the overdue tick only started the clock. The
   * loop's cached time is brought up to date first so the timer's due
   * time and the clock agree (start-up work since uv_loop_init would make
   * the first tick due early and read as on time). */
  uv_update_time(loop);
  wm.lag_prev = uv_hrtime();
  uv_timer_init(loop, &wm.lag_timer);
  uv_timer_start(&wm.lag_timer, on_lag_tick, 10, 10);
  uv_unref((uv_handle_t *)&wm.lag_timer);
  for (int v = 0; v < 2; v++) {
    metrics_ll_reset(&wm.win[v].lag);
    wm.win[v].hr_prev = uv_hrtime();
    wm.win[v].idle_prev = uv_metrics_idle_time(loop);
  }
  api_transform_set_wait_hook(on_tp_wait, NULL);
  wm.started = 1;
  return 0;
}

void cluster_wmetrics_stop(void) {
  if (wm.started && !uv_is_closing((uv_handle_t *)&wm.lag_timer))
    uv_close((uv_handle_t *)&wm.lag_timer, NULL);
  wm.started = 0;
}

/* A snapshot can be taken in the same loop turn as a block, before the
 * overdue tick has run (libuv reads the IPC pipe in a loop, so the
 * primary's request can arrive right behind the request that blocked):
 * the overdue time is recorded now, as the tick would have. */
static void lag_catch_up(uint64_t now) {
  if (now - wm.lag_prev <= 2 * LAG_RESOLUTION_NS)
    return;
  for (int v = 0; v < 2; v++)
    metrics_ll_record(&wm.win[v].lag, now - wm.lag_prev - LAG_RESOLUTION_NS);
  wm.lag_prev = now;
}

/* A pool's gauges into out; 0 (out untouched) without a pool. */
static int pool_sample(db_pool_t *pool, metrics_pool_t *out, db_pool_stats_t *st) {
  if (!pool)
    return 0;
  db_pool_stats(pool, st);
  out->in_use = st->in_use;
  out->waiting = st->waiting;
  out->healthy = st->healthy;
  out->size = st->size;
  return 1;
}

/* Fills out and starts new lag and utilization windows of view. */
void cluster_wmetrics_snapshot(metrics_snap_t *out, int view) {
  window_t *w = &wm.win[view ? 1 : 0];
  uint64_t hr = uv_hrtime(), idle = uv_metrics_idle_time(wm.loop);
  lag_catch_up(hr);
  wm.snap.view = view ? 1 : 0;
  wm.snap.loop_elapsed_ns = hr - w->hr_prev;
  wm.snap.loop_idle_ns = idle - w->idle_prev;
  w->hr_prev = hr;
  w->idle_prev = idle;
  wm.snap.connections = wm.server->connections;
  db_pool_stats_t st;
  if (pool_sample(wm.ctx->db, &wm.snap.db, &st))
    metrics_depth_fill(&wm.snap.db_depth, st.depth, DB_DEPTH_SLOTS);
  pool_sample(wm.ctx->db_read, &wm.snap.db_read, &st);
  wm.snap.db_read_fallbacks = wm.ctx->read_fallbacks;
  tp_sample(&wm.snap);
  metrics_process_sample(&wm.snap);
  *out = wm.snap;
  out->lag = w->lag;
  metrics_ll_reset(&w->lag);
}

/* The thread pool's figures come from the W3 handler's counters; waits
 * arrive through its hook, on this loop's thread. */
static void on_tp_wait(void *data, uint64_t wait_ns) {
  metrics_hist_record(&wm.snap.tp_wait, metrics_dur_bounds, (double)wait_ns / 1e9);
}

static void tp_sample(metrics_snap_t *s) {
  int depth = 0;
  api_transform_pool_stats(&depth, NULL);
  s->tp_queue_depth = depth;
}
