/* A worker: one loop, one database pool, one HTTP server. Connections come
 * from the primary over the IPC pipe (rr), from the shared listen socket
 * (none), or from the worker's own SO_REUSEPORT socket; with --workers 0
 * the process listens alone.
 *
 * Drain (SIGTERM, SIGINT, a drain message, or the primary going away):
 * stop accepting, /readyz turns 503, answer every request received (the
 * answers carry Connection: close), close keep-alives idle for
 * --drain-idle-grace, close the pool, exit 0. A second signal or the
 * shutdown timeout forces exit 1. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "http/http.h"
#include "internal.h"

typedef struct worker_s {
  const core_config_t *cfg;
  int id;
  uv_loop_t *loop;
  api_ctx_t ctx;
  http_router_t *router;
  http_server_t server;
  uv_tcp_t listener;
  uv_pipe_t ipc;
  uv_signal_t signals[3]; /* SIGTERM, SIGINT, SIGHUP */
  uv_timer_t force;
  ipc_reader_t reader;
  struct scrape_s *scrapes; /* waiting for the primary's merged text */
  uint32_t next_token;
  int listening, draining;
  int delaying;                /* --workers 0: SIGTERM seen, --drain-delay running */
  int listener_open, ipc_open; /* initialised handles, closed at the end */
  int closed;
  char fields[32];
} worker_t;

static void start_drain(worker_t *w, const char *why);

static void on_connection(uv_stream_t *listener, int status) {
  worker_t *w = listener->data;
  if (status < 0) {
    LOG_WARN(w->fields, "accept failed: %s", uv_strerror(status));
    return;
  }
  http_server_accept(&w->server, listener);
}

static int listen_on(worker_t *w) {
  w->listener.data = w;
  int rc = uv_listen((uv_stream_t *)&w->listener, 511, on_connection);
  if (rc == 0)
    w->listening = 1;
  return rc;
}

/* IPC: each byte is one message; MSG_HANDLE/MSG_LISTEN bytes match the
 * pending handles one to one, in order. */
static void take_handle(worker_t *w, char kind) {
  if (kind == MSG_LISTEN) {
    if (w->listener_open)
      return; /* the primary sends it once; a second would leak the first */
    uv_tcp_init(w->loop, &w->listener);
    w->listener_open = 1;
    if (uv_accept((uv_stream_t *)&w->ipc, (uv_stream_t *)&w->listener) != 0 ||
        listen_on(w)) {
      LOG_ERROR(w->fields, "could not listen on the shared socket");
      exit(1);
    }
    return;
  }
  uv_tcp_t *tcp = http_server_tcp_new(&w->server);
  int rc = uv_accept((uv_stream_t *)&w->ipc, (uv_stream_t *)tcp);
  /* Said before the first read of the connection: until the primary hears
   * it, it keeps its copy and gives the connection to another worker if
   * this one dies (the kernel drops descriptors still in a dead process's
   * pipe). */
  ipc_send((uv_stream_t *)&w->ipc, MSG_TAKEN, NULL, 0, NULL, 0, NULL);
  if (rc != 0) {
    http_server_tcp_discard(tcp);
    return;
  }
  http_server_serve(&w->server, tcp);
}

static void on_ipc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char bytes[65536];
  buf->base = bytes;
  buf->len = sizeof(bytes);
}

/* Metrics. With --workers 0 a scrape is answered from this process alone;
 * a worker asks the primary, which merges every worker's snapshot. */
#define SCRAPE_TIMEOUT_MS 3000
#define TEXT "text/plain; version=0.0.4; charset=utf-8"

typedef struct scrape_s {
  uv_timer_t timer;
  http_req_t *req;
  uint32_t token;
  worker_t *w;
  struct scrape_s *next;
} scrape_t;

static void on_scrape_closed(uv_handle_t *h) {
  free(container_of((uv_timer_t *)h, scrape_t, timer));
}

static scrape_t *scrape_take(worker_t *w, uint32_t token) {
  for (scrape_t **pp = &w->scrapes; *pp; pp = &(*pp)->next)
    if ((*pp)->token == token) {
      scrape_t *sc = *pp;
      *pp = sc->next;
      uv_close((uv_handle_t *)&sc->timer, on_scrape_closed);
      return sc;
    }
  return NULL;
}

static void on_scrape_timeout(uv_timer_t *t) {
  scrape_t *sc = container_of(t, scrape_t, timer);
  http_req_t *req = sc->req;
  scrape_take(sc->w, sc->token);
  http_respond_error(req, 503, NULL, "the primary did not answer the scrape");
}

static const char *route_names[METRICS_ROUTES];
static int nroutes;

/* /metrics?by=worker: each worker's series instead of the merged ones. */
static int by_worker(http_req_t *req) {
  const char *v;
  size_t n;
  return http_query_get(req, "by", &v, &n) && n == 6 && memcmp(v, "worker", 6) == 0;
}

static void scrape(http_req_t *req) {
  worker_t *w = container_of(req->server, worker_t, server);
  char flag = by_worker(req) ? 'w' : 'm';
  if (w->id == 0) {
    static metrics_snap_t snap;
    cluster_wmetrics_snapshot(&snap, flag == 'w');
    const metrics_snap_t *snaps[1] = {&snap};
    char info[256];
    core_config_labels(w->cfg, info, sizeof(info));
    metrics_view_t view = {flag == 'w', w->cfg->metrics_names == 1, info};
    metrics_render(&req->out, snaps, 1, NULL, route_names, nroutes, &view);
    http_respond(req, 200, TEXT, NULL);
    return;
  }
  scrape_t *sc = xcalloc(1, sizeof(*sc));
  sc->req = req;
  sc->w = w;
  sc->token = ++w->next_token;
  uv_timer_init(w->loop, &sc->timer);
  uv_timer_start(&sc->timer, on_scrape_timeout, SCRAPE_TIMEOUT_MS, 0);
  sc->next = w->scrapes;
  w->scrapes = sc;
  if (ipc_send((uv_stream_t *)&w->ipc, MSG_SCRAPE, &sc->token, 4, &flag, 1, NULL) != 0) {
    scrape_take(w, sc->token);
    http_respond_error(req, 503, NULL, "no IPC channel to the primary");
  }
}

static void on_text(worker_t *w, const char *p, size_t n) {
  uint32_t token;
  if (n < 4)
    return;
  memcpy(&token, p, 4);
  scrape_t *sc = scrape_take(w, token);
  if (sc == NULL)
    return; /* timed out already */
  core_buf_append(&sc->req->out, p + 4, n - 4);
  http_respond(sc->req, 200, TEXT, NULL);
}

static void on_collect(worker_t *w, const char *p, size_t n) {
  static metrics_snap_t snap;
  if (n < 4)
    return;
  cluster_wmetrics_snapshot(&snap, n > 4 && p[4] == 'w');
  ipc_send((uv_stream_t *)&w->ipc, MSG_SNAPSHOT, p, 4, &snap, sizeof(snap), NULL);
}

static void on_msg(void *arg, char type, const char *payload, size_t len) {
  worker_t *w = arg;
  switch (type) {
    case MSG_HANDLE:
    case MSG_LISTEN:
      take_handle(w, type);
      break;
    case MSG_DRAIN:
      start_drain(w, "drain requested by the primary");
      break;
    case MSG_UNREADY:
      w->ctx.draining = 1; /* /readyz 503; everything else as before */
      break;
    case MSG_COLLECT:
      on_collect(w, payload, len);
      break;
    case MSG_TEXT:
      on_text(w, payload, len);
      break;
    default:
      break;
  }
}

static void on_ipc_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  worker_t *w = st->data;
  if (nread < 0) { /* the primary is gone: Node's workers exit then too */
    uv_read_stop(st);
    if (!uv_is_closing((uv_handle_t *)st))
      uv_close((uv_handle_t *)st, NULL);
    start_drain(w, "primary went away");
    return;
  }
  ipc_reader_feed(&w->reader, buf->base, (size_t)nread, on_msg, w);
}

static void tell_ready(worker_t *w) {
  ipc_send((uv_stream_t *)&w->ipc, MSG_READY, NULL, 0, NULL, 0, NULL);
}

/* Shutdown through owners. Once the server is drained (or a start failed
 * half way) each part closes what it owns: a scrape still waiting for the
 * primary answers 503 (its connection is gone: that frees it) and closes
 * its timer; then the signals, the timers, the IPC pipe, the listener and
 * the server's own handle; the pool last, so no PostgreSQL backend is left
 * waiting on a connection we never finished (a backend in its start-up can
 * hold pg_ctl stop for 60 s). Nothing is left for the loop: uv_run returns
 * and cluster_worker_run checks that the loop closes. */
static void close_if_open(uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void on_pool_closed(void *data) {
  worker_t *w = data;
  w->ctx.db = NULL;
}

static void on_read_pool_closed(void *data) {
  worker_t *w = data;
  w->ctx.db_read = NULL;
}

static void worker_close(worker_t *w) {
  if (w->closed)
    return;
  w->closed = 1;
  while (w->scrapes) {
    http_req_t *req = w->scrapes->req;
    scrape_take(w, w->scrapes->token);
    http_respond_error(req, 503, NULL, "the worker is shutting down");
  }
  cluster_wmetrics_stop();
  for (int i = 0; i < 3; i++) close_if_open((uv_handle_t *)&w->signals[i]);
  close_if_open((uv_handle_t *)&w->force);
  cluster_notify_watchdog_stop();
  if (w->ipc_open)
    close_if_open((uv_handle_t *)&w->ipc);
  if (w->listener_open)
    close_if_open((uv_handle_t *)&w->listener);
  w->listening = 0;
  http_server_close(&w->server, NULL);
  if (w->ctx.db)
    db_pool_close(w->ctx.db, on_pool_closed, w);
  if (w->ctx.db_read)
    db_pool_close(w->ctx.db_read, on_read_pool_closed, w);
}

static void on_drained(http_server_t *s) {
  worker_t *w = container_of(s, worker_t, server);
  LOG_INFO(w->fields, "drained: exiting");
  worker_close(w);
}

static void on_force(uv_timer_t *t) {
  worker_t *w = t->data;
  LOG_WARN(w->fields, "shutdown timeout: forcing exit");
  exit(1);
}

static void start_drain(worker_t *w, const char *why) {
  if (w->draining)
    return;
  w->draining = 1;
  w->ctx.draining = 1;
  LOG_INFO(w->fields, "draining: %s", why);
  if (w->listening) {
    close_if_open((uv_handle_t *)&w->listener);
    w->listening = 0;
  }
  uv_timer_start(&w->force, on_force, (uint64_t)w->cfg->shutdown_timeout, 0);
  uv_unref((uv_handle_t *)&w->force);
  http_server_drain(&w->server, on_drained);
}

static void on_delay_end(uv_timer_t *t) {
  worker_t *w = t->data;
  start_drain(w, "--drain-delay over");
}

static void on_signal(uv_signal_t *h, int signum) {
  worker_t *w = h->data;
  if (signum == SIGHUP)
    return; /* the primary re-forks; a worker ignores it */
  if (w->draining) {
    LOG_WARN(w->fields, "second signal: forcing exit");
    exit(1);
  }
  const char *why = signum == SIGTERM ? "SIGTERM" : "SIGINT";
  /* Only the single process delays by itself; a worker's primary does. */
  if (w->id == 0 && !w->delaying)
    cluster_notify("STOPPING=1\nSTATUS=draining");
  if (w->id == 0 && w->cfg->drain_delay > 0 && !w->delaying) {
    w->delaying = 1;
    w->ctx.draining = 1;
    LOG_INFO(w->fields, "%s: not ready, draining in %lld ms (--drain-delay)", why,
             (long long)w->cfg->drain_delay);
    uv_timer_start(&w->force, on_delay_end, (uint64_t)w->cfg->drain_delay, 0);
    return;
  }
  start_drain(w, why);
}

/* Start-up. */

static int open_listener(worker_t *w) {
  const core_config_t *cfg = w->cfg;
  uv_tcp_init(w->loop, &w->listener);
  w->listener_open = 1;
  int rc = cluster_bind(w->loop, &w->listener, cfg->host, cfg->port,
                        w->id > 0 && cfg->sched == CORE_SCHED_REUSEPORT);
  if (rc == 0)
    rc = listen_on(w);
  if (rc != 0)
    LOG_ERROR(w->fields, "cannot listen on %s:%d: %s", cfg->host, cfg->port,
              uv_strerror(rc));
  return rc;
}

static int open_ipc(worker_t *w) {
  uv_pipe_init(w->loop, &w->ipc, 1);
  w->ipc_open = 1;
  w->ipc.data = w;
  int rc = uv_pipe_open(&w->ipc, CLUSTER_IPC_FD);
  if (rc == 0)
    rc = uv_read_start((uv_stream_t *)&w->ipc, on_ipc_alloc, on_ipc_read);
  if (rc != 0)
    LOG_ERROR(w->fields, "no IPC pipe to the primary: %s", uv_strerror(rc));
  return rc;
}

/* Every handle that cannot fail to initialise comes first, so that a start
 * failing below leaves only what worker_close closes. */
static int start(worker_t *w, const char *conninfo) {
  const core_config_t *cfg = w->cfg;
  db_pool_opts_t po = {.conninfo = conninfo,
                       .size = cfg->pool,
                       .stmts = api_stmts,
                       .nstmts = API_STMT__COUNT,
                       .connect_timeout_ms = 1000,
                       .unavailable_after_ms = 1000,
                       .unnamed = !cfg->db_prepared,
                       .pipeline_depth = cfg->db_pipeline_depth};
  int rc;
  w->router = http_router_new();
  api_routes(w->router, cfg->debug_endpoints);
  http_server_opts_t ho = {cfg->body_limit,         cfg->max_header_size,
                           cfg->keep_alive_timeout, cfg->headers_timeout,
                           cfg->request_timeout,    cfg->log_requests,
                           cfg->drain_idle_grace};
  http_server_init(&w->server, w->loop, &ho, w->router, &w->ctx);
  nroutes = http_router_names(w->router, route_names, METRICS_ROUTES);
  w->ctx.scrape = scrape;
  cluster_wmetrics_start(w->loop, w->id, &w->server, &w->ctx);
  cluster_signals_start(w->loop, w->signals, on_signal, w);
  uv_timer_init(w->loop, &w->force);
  w->force.data = w;
  if ((rc = db_pool_new(w->loop, &po, &w->ctx.db)) != 0) {
    LOG_ERROR(w->fields, "database pool: %s", db_strerror(rc));
    return rc;
  }
  if (cfg->db_read) { /* the replica: the same statements, its own size */
    po.conninfo = cfg->db_read;
    po.name = "replica (--db-read)";
    po.size = cfg->read_pool > 0 ? cfg->read_pool : cfg->pool;
    if ((rc = db_pool_new(w->loop, &po, &w->ctx.db_read)) != 0) {
      LOG_ERROR(w->fields, "read pool (--db-read): %s", db_strerror(rc));
      return rc;
    }
  }
  if (w->id > 0 && (rc = open_ipc(w)) != 0)
    return rc;
  if (w->id == 0 || cfg->sched == CORE_SCHED_REUSEPORT) {
    if ((rc = open_listener(w)) != 0)
      return rc;
  }
  if (w->id > 0)
    tell_ready(w);
  return 0;
}

int cluster_worker_run(const core_config_t *cfg, const char *conninfo, int id) {
  worker_t *w = xcalloc(1, sizeof(*w));
  w->cfg = cfg;
  w->id = id;
  w->loop = uv_default_loop();
  uv_loop_configure(w->loop, UV_METRICS_IDLE_TIME);
  w->ctx.cfg = cfg;
  w->ctx.worker_id = id;
  /* Every line of this process says which worker wrote it (the pool's and
   * the HTTP layer's too), so w->fields stays empty. */
  char worker_field[32];
  snprintf(worker_field, sizeof(worker_field), "\"worker\":%d", id);
  core_log_set_fields(worker_field);
  signal(SIGPIPE, SIG_IGN);
  int rc = 0;
  if (start(w, conninfo) != 0) {
    rc = 1;
    worker_close(w);
  } else if (id == 0) {
    LOG_INFO(w->fields, "listening on http://%s:%d (single process)", cfg->host,
             cfg->port);
    cluster_notify("READY=1\nSTATUS=serving (single process)");
    cluster_notify_watchdog_start(w->loop);
  }
  uv_run(w->loop, UV_RUN_DEFAULT);
  if (!w->closed) { /* the loop ran dry without a drain: close through owners */
    worker_close(w);
    uv_run(w->loop, UV_RUN_DEFAULT);
  }
  if (cluster_loop_close(w->loop, w->fields) != 0)
    rc = 1;
  http_router_free(w->router);
  ipc_reader_free(&w->reader);
  free(w);
  return rc;
}
