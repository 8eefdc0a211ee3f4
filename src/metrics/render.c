/* Prometheus text exposition, version 0.0.4. Each family appears once,
 * HELP and TYPE, then either its merged series (no worker label: the
 * default, as prom-client's AggregatorRegistry serves a cluster) or one
 * series per worker (worker="N", /metrics?by=worker), never both, so a
 * sum() over a family never counts twice. */
#include <dirent.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"

static const int status_codes[METRICS_STATUSES] = {
    0,   200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409,
    413, 414, 415, 417, 422, 429, 431, 500, 501, 502, 503, 505};

static const char *const method_names[METRICS_METHODS] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"};

int metrics_status_slot(int status) {
  for (int i = 1; i < METRICS_STATUSES; i++)
    if (status_codes[i] == status)
      return i;
  return 0;
}

int metrics_slot_status(int slot) {
  return status_codes[slot];
}

static int64_t count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL)
    return 0;
  int64_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n > 0 ? n - 1 : 0; /* not the directory's own descriptor */
}

/* The process's start, in seconds since the epoch: /proc/self/stat's
 * starttime (clock ticks after boot) plus /proc/stat's btime. */
static uint64_t start_time(void) {
  static uint64_t at;
  static pid_t of;
  if (at && of == getpid())
    return at;
  unsigned long long ticks = 0, btime = 0;
  char buf[1024];
  FILE *f = fopen("/proc/self/stat", "r");
  if (f && fgets(buf, sizeof(buf), f)) {
    const char *q = strrchr(buf, ')'); /* the command may hold spaces */
    for (int field = 2; q && field < 22; field++) q = strchr(q + 1, ' ');
    if (q)
      ticks = strtoull(q + 1, NULL, 10);
  }
  if (f)
    fclose(f);
  f = fopen("/proc/stat", "r");
  while (f && fgets(buf, sizeof(buf), f))
    if (strncmp(buf, "btime ", 6) == 0)
      btime = strtoull(buf + 6, NULL, 10);
  if (f)
    fclose(f);
  at = btime + ticks / (unsigned long long)sysconf(_SC_CLK_TCK);
  of = getpid();
  return at;
}

void metrics_process_sample(metrics_snap_t *s) {
  s->start_time_s = start_time();
  long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f != NULL) {
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
      pages = rss = 0;
    fclose(f);
  }
  long page = sysconf(_SC_PAGESIZE);
  s->rss_bytes = (int64_t)rss * page;
  s->vsize_bytes = (int64_t)pages * page;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  s->cpu_user_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
  s->cpu_system_seconds = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  s->cpu_seconds = s->cpu_user_seconds + s->cpu_system_seconds;
  s->open_fds = count_fds();
  struct rlimit rl;
  s->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                   ? (int64_t)rl.rlim_cur
                   : -1;
}

/* Output helpers. */

typedef struct {
  core_buf_t *out;
  const metrics_snap_t *const *snaps;
  int n;
  const metrics_snap_t *primary;
  const char *const *routes;
  int nroutes;
  int by_worker;
  int node_names;
} ctx_t;

#define ALWAYS (-2) /* a series shown in either view (looplab_info, _workers) */

static void family(ctx_t *c, const char *name, const char *type, const char *help) {
  core_buf_printf(c->out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void num(core_buf_t *b, double v) {
  if (isinf(v))
    core_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
  else if (isnan(v))
    core_buf_puts(b, "NaN");
  else if (v == floor(v) && fabs(v) < 1e15)
    core_buf_printf(b, "%.0f", v);
  else
    core_buf_printf(b, "%.9g", v);
}

/* labels: NULL or "k=\"v\",…" without braces; worker < 0 means merged. */
static void sample(ctx_t *c, const char *name, const char *labels, int worker, double v) {
  if (worker != ALWAYS && (worker >= 0) != c->by_worker)
    return; /* the other view's series */
  if (worker == ALWAYS)
    worker = -1;
  core_buf_puts(c->out, name);
  int has = labels && labels[0];
  if (has || worker >= 0) {
    core_buf_putc(c->out, '{');
    if (has)
      core_buf_puts(c->out, labels);
    if (worker >= 0)
      core_buf_printf(c->out, "%sworker=\"%d\"", has ? "," : "", worker);
    core_buf_putc(c->out, '}');
  }
  core_buf_putc(c->out, ' ');
  num(c->out, v);
  core_buf_putc(c->out, '\n');
}

/* A gauge or counter: f extracts the value from one snapshot; merged is
 * the sum unless avg. */
typedef double (*getter_t)(const metrics_snap_t *s);

static void scalar(ctx_t *c, const char *name, const char *type, const char *help,
                   getter_t f, int add_primary) {
  family(c, name, type, help);
  double total = 0;
  for (int i = 0; i < c->n; i++) total += f(c->snaps[i]);
  if (add_primary && c->primary)
    total += f(c->primary);
  sample(c, name, NULL, -1, total);
  for (int i = 0; i < c->n; i++)
    sample(c, name, NULL, c->snaps[i]->worker, f(c->snaps[i]));
}

static void hist_series(ctx_t *c, const char *name, const char *labels, int worker,
                        const metrics_hist_t *h, const double *bounds) {
  char key[256], lab[192];
  uint64_t cum = 0;
  snprintf(key, sizeof(key), "%s_bucket", name);
  for (int b = 0; b <= METRICS_DUR_BUCKETS; b++) {
    if (b < METRICS_DUR_BUCKETS)
      cum += h->buckets[b];
    else
      cum = h->count;
    char le[32];
    if (b < METRICS_DUR_BUCKETS)
      snprintf(le, sizeof(le), "%g", bounds[b]);
    else
      strcpy(le, "+Inf");
    snprintf(lab, sizeof(lab), "%s%sle=\"%s\"", labels ? labels : "", labels ? "," : "",
             le);
    sample(c, key, lab, worker, (double)cum);
  }
  snprintf(key, sizeof(key), "%s_sum", name);
  sample(c, key, labels, worker, h->sum);
  snprintf(key, sizeof(key), "%s_count", name);
  sample(c, key, labels, worker, (double)h->count);
}

static void hist_merge(metrics_hist_t *into, const metrics_hist_t *from) {
  for (int b = 0; b < METRICS_DUR_BUCKETS; b++) into->buckets[b] += from->buckets[b];
  into->count += from->count;
  into->sum += from->sum;
}

static const char *route_name(ctx_t *c, int r) {
  return r > 0 && r < c->nroutes && c->routes[r] ? c->routes[r] : "unmatched";
}

static void requests_one(ctx_t *c,
                         const uint64_t (*req)[METRICS_METHODS][METRICS_STATUSES],
                         int worker) {
  char lab[160];
  for (int r = 0; r < METRICS_ROUTES; r++)
    for (int m = 0; m < METRICS_METHODS; m++)
      for (int s = 0; s < METRICS_STATUSES; s++) {
        if (req[r][m][s] == 0)
          continue;
        int code = metrics_slot_status(s);
        char st[16];
        if (code)
          snprintf(st, sizeof(st), "%d", code);
        else
          strcpy(st, "other");
        snprintf(lab, sizeof(lab), "method=\"%s\",route=\"%s\",status_code=\"%s\"",
                 method_names[m], route_name(c, r), st);
        sample(c, "http_requests_total", lab, worker, (double)req[r][m][s]);
      }
}

static void requests(ctx_t *c) {
  family(c, "http_requests_total", "counter",
         "HTTP requests answered, by route, method and status.");
  static uint64_t merged[METRICS_ROUTES][METRICS_METHODS][METRICS_STATUSES];
  memset(merged, 0, sizeof(merged));
  for (int i = 0; i < c->n; i++)
    for (int r = 0; r < METRICS_ROUTES; r++)
      for (int m = 0; m < METRICS_METHODS; m++)
        for (int s = 0; s < METRICS_STATUSES; s++)
          merged[r][m][s] += c->snaps[i]->requests[r][m][s];
  requests_one(c, (const uint64_t(*)[METRICS_METHODS][METRICS_STATUSES])merged, -1);
  for (int i = 0; i < c->n; i++)
    requests_one(
        c, (const uint64_t(*)[METRICS_METHODS][METRICS_STATUSES])c->snaps[i]->requests,
        c->snaps[i]->worker);
}

static int dur_key(const metrics_dur_t *d) {
  return (d->route * METRICS_METHODS + d->method) * METRICS_STATUSES + d->slot;
}

static void dur_labels(ctx_t *c, const metrics_dur_t *d, char *lab, size_t len) {
  int code = metrics_slot_status(d->slot);
  char st[16];
  if (code)
    snprintf(st, sizeof(st), "%d", code);
  else
    strcpy(st, "other");
  snprintf(lab, len, "method=\"%s\",route=\"%s\",status_code=\"%s\"",
           method_names[d->method < METRICS_METHODS ? d->method : METRICS_METHODS - 1],
           route_name(c, d->route < METRICS_ROUTES ? d->route : 0), st);
}

/* fastify-metrics' http_request_duration_seconds: merged over the
 * workers by (method, route, status_code), or each worker's. */
static void durations(ctx_t *c) {
  const char *name = "http_request_duration_seconds";
  family(
      c, name, "histogram",
      "Time from a request's first byte to its response, by method, route and status.");
  char lab[192];
  if (c->by_worker) {
    for (int i = 0; i < c->n; i++)
      for (int k = 0; k < METRICS_DUR_SERIES; k++) {
        const metrics_dur_t *d = &c->snaps[i]->duration[k];
        if (!d->used || d->h.count == 0)
          continue;
        dur_labels(c, d, lab, sizeof(lab));
        hist_series(c, name, lab, c->snaps[i]->worker, &d->h, metrics_dur_bounds);
      }
    return;
  }
  /* Each key once, in the order the workers first show it. */
  static metrics_dur_t merged[METRICS_ROUTES * METRICS_METHODS * METRICS_STATUSES];
  static int order[METRICS_ROUTES * METRICS_METHODS * METRICS_STATUSES];
  int nk = 0;
  memset(merged, 0, sizeof(merged));
  for (int i = 0; i < c->n; i++)
    for (int k = 0; k < METRICS_DUR_SERIES; k++) {
      const metrics_dur_t *d = &c->snaps[i]->duration[k];
      if (!d->used)
        continue;
      metrics_dur_t *m = &merged[dur_key(d)];
      if (!m->used) {
        *m = *d;
        memset(&m->h, 0, sizeof(m->h));
        order[nk++] = dur_key(d);
      }
      hist_merge(&m->h, &d->h);
    }
  for (int k = 0; k < nk; k++) {
    const metrics_dur_t *m = &merged[order[k]];
    if (m->h.count == 0)
      continue;
    dur_labels(c, m, lab, sizeof(lab));
    hist_series(c, name, lab, -1, &m->h, metrics_dur_bounds);
  }
}

/* A histogram family without labels: merged, then each worker's. */
static void plain_hist(ctx_t *c, const char *name, const char *help, size_t off,
                       const double *bounds) {
  family(c, name, "histogram", help);
  metrics_hist_t m;
  memset(&m, 0, sizeof(m));
  for (int i = 0; i < c->n; i++)
    hist_merge(&m, (const metrics_hist_t *)((const char *)c->snaps[i] + off));
  hist_series(c, name, NULL, -1, &m, bounds);
  for (int i = 0; i < c->n; i++)
    hist_series(c, name, NULL, c->snaps[i]->worker,
                (const metrics_hist_t *)((const char *)c->snaps[i] + off), bounds);
}

/* The lag gauges of prom-client's nodejs_eventloop_lag_*, from one
 * histogram merged bucket by bucket. */
static double lag_stat(const metrics_ll_t *h, int which) {
  if (h->count == 0)
    return 0;
  double mean = h->sum_ns / (double)h->count;
  switch (which) {
    case 0:
      return (double)h->min_ns / 1e9;
    case 1:
      return (double)h->max_ns / 1e9;
    case 2:
      return mean / 1e9;
    case 3: {
      double var = h->sumsq_ns / (double)h->count - mean * mean;
      return (var > 0 ? sqrt(var) : 0) / 1e9;
    }
    case 4:
      return (double)metrics_ll_percentile(h, 50) / 1e9;
    case 5:
      return (double)metrics_ll_percentile(h, 90) / 1e9;
    default:
      return (double)metrics_ll_percentile(h, 99) / 1e9;
  }
}

static void lag_family(ctx_t *c, const char *name, const char *help, int k,
                       const metrics_ll_t *merged) {
  family(c, name, "gauge", help);
  sample(c, name, NULL, -1, lag_stat(merged, k));
  for (int i = 0; i < c->n; i++)
    sample(c, name, NULL, c->snaps[i]->worker, lag_stat(&c->snaps[i]->lag, k));
}

/* looplab_eventloop_lag_*_seconds and, with node_names, the same values
 * under prom-client's names (nodejs_eventloop_lag_seconds is the mean:
 * prom-client's is one sample at scrape time). */
static void lag(ctx_t *c) {
  static const char *const names[] = {"min", "max", "mean", "stddev",
                                      "p50", "p90", "p99"};
  static metrics_ll_t merged;
  metrics_ll_reset(&merged);
  for (int i = 0; i < c->n; i++) metrics_ll_merge(&merged, &c->snaps[i]->lag);
  for (int k = 0; k < 7; k++) {
    char name[64], help[160];
    snprintf(name, sizeof(name), "looplab_eventloop_lag_%s_seconds", names[k]);
    snprintf(
        help, sizeof(help),
        "The %s lateness of a 10 ms timer since the last scrape (monitorEventLoopDelay).",
        names[k]);
    lag_family(c, name, help, k, &merged);
  }
  if (!c->node_names)
    return;
  lag_family(c, "nodejs_eventloop_lag_seconds", "Lag of event loop in seconds.", 2,
             &merged);
  for (int k = 0; k < 7; k++) {
    char name[64], help[96];
    snprintf(name, sizeof(name), "nodejs_eventloop_lag_%s_seconds", names[k]);
    snprintf(help, sizeof(help), "The %s recorded event loop delay.", names[k]);
    lag_family(c, name, help, k, &merged);
  }
}

static double elu(const metrics_snap_t *s) {
  if (s->loop_elapsed_ns == 0)
    return 0;
  double idle = (double)s->loop_idle_ns / (double)s->loop_elapsed_ns;
  return idle > 1 ? 0 : 1 - idle;
}

static void utilization(ctx_t *c) {
  const char *name = "looplab_eventloop_utilization";
  family(c, name, "gauge",
         "Share of time the loop was not idle since the last scrape "
         "(eventLoopUtilization).");
  uint64_t idle = 0, elapsed = 0;
  for (int i = 0; i < c->n; i++) {
    idle += c->snaps[i]->loop_idle_ns;
    elapsed += c->snaps[i]->loop_elapsed_ns;
  }
  metrics_snap_t all;
  all.loop_idle_ns = idle;
  all.loop_elapsed_ns = elapsed;
  sample(c, name, NULL, -1, elu(&all));
  for (int i = 0; i < c->n; i++)
    sample(c, name, NULL, c->snaps[i]->worker, elu(c->snaps[i]));
}

#define GET(field)                                     \
  static double get_##field(const metrics_snap_t *s) { \
    return (double)s->field;                           \
  }
GET(tp_queue_depth)
#define GET_POOL(pool, field)                                   \
  static double get_##pool##_##field(const metrics_snap_t *s) { \
    return (double)s->pool.field;                               \
  }
GET_POOL(db, in_use)
GET_POOL(db, waiting)
GET_POOL(db, healthy)
GET_POOL(db, size)
GET_POOL(db_read, in_use)
GET_POOL(db_read, waiting)
GET_POOL(db_read, healthy)
GET_POOL(db_read, size)
#undef GET_POOL
GET(db_read_fallbacks)
GET(connections)
GET(requests_total)
GET(rss_bytes)
GET(vsize_bytes)
GET(cpu_seconds)
GET(cpu_user_seconds)
GET(cpu_system_seconds)
GET(open_fds)
GET(max_fds)
GET(start_time_s)
#undef GET

/* A pool's four gauges: <prefix>_in_use, _waiting, _healthy, _size. */
static void pool_families(ctx_t *c, const char *prefix, const char *const help[4],
                          const getter_t get[4]) {
  static const char *const suffix[4] = {"in_use", "waiting", "healthy", "size"};
  char name[64];
  for (int i = 0; i < 4; i++) {
    snprintf(name, sizeof(name), "%s_%s", prefix, suffix[i]);
    scalar(c, name, "gauge", help[i], get[i], 0);
  }
}

static void pool(ctx_t *c) {
  static const char *const help[4] = {
      "PostgreSQL connections lent out.", "Requests waiting for a PostgreSQL connection.",
      "PostgreSQL connections up and prepared.", "PostgreSQL connections configured."};
  static const getter_t get[4] = {get_db_in_use, get_db_waiting, get_db_healthy,
                                  get_db_size};
  pool_families(c, "looplab_db_pool", help, get);
}

/* The --db-read pool's families, only when a worker has one. */
static void read_pool(ctx_t *c) {
  static const char *const help[4] = {"Replica (--db-read) connections lent out.",
                                      "Requests waiting for a replica connection.",
                                      "Replica connections up and prepared.",
                                      "Replica connections configured."};
  static const getter_t get[4] = {get_db_read_in_use, get_db_read_waiting,
                                  get_db_read_healthy, get_db_read_size};
  int any = 0;
  for (int i = 0; i < c->n; i++) any |= c->snaps[i]->db_read.size > 0;
  if (!any)
    return;
  pool_families(c, "looplab_db_read_pool", help, get);
  scalar(c, "looplab_db_read_fallbacks_total", "counter",
         "Reads the replica could not serve, sent to the primary (--read-fallback).",
         get_db_read_fallbacks, 0);
}

/* A per-process value that does not add up: the primary's (or the first
 * worker's) in the merged series. */
static void per_process(ctx_t *c, const char *name, const char *help, getter_t f) {
  family(c, name, "gauge", help);
  const metrics_snap_t *first = c->primary ? c->primary : c->n ? c->snaps[0] : NULL;
  if (first)
    sample(c, name, NULL, -1, f(first));
  for (int i = 0; i < c->n; i++)
    sample(c, name, NULL, c->snaps[i]->worker, f(c->snaps[i]));
}

/* prom-client's default process metrics, same names and types; merged
 * series add the workers and the primary. */
static void process(ctx_t *c) {
  scalar(c, "process_cpu_user_seconds_total", "counter",
         "Total user CPU time spent in seconds.", get_cpu_user_seconds, 1);
  scalar(c, "process_cpu_system_seconds_total", "counter",
         "Total system CPU time spent in seconds.", get_cpu_system_seconds, 1);
  scalar(c, "process_cpu_seconds_total", "counter",
         "Total user and system CPU time spent in seconds.", get_cpu_seconds, 1);
  per_process(c, "process_start_time_seconds",
              "Start time of the process since unix epoch in seconds.", get_start_time_s);
  scalar(c, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
         get_rss_bytes, 1);
  scalar(c, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
         get_vsize_bytes, 1);
  scalar(c, "process_open_fds", "gauge", "Number of open file descriptors.", get_open_fds,
         1);
  per_process(c, "process_max_fds", "Maximum number of open file descriptors.",
              get_max_fds);
}

void metrics_render(core_buf_t *out, const metrics_snap_t *const *snaps, int n,
                    const metrics_snap_t *primary, const char *const *routes, int nroutes,
                    const metrics_view_t *view) {
  ctx_t c = {out,
             snaps,
             n,
             primary,
             routes,
             nroutes,
             view ? view->by_worker : 0,
             view ? view->node_names : 0};
  if (view && view->info) {
    family(&c, "looplab_info", "gauge", "looplab's version and settings (always 1).");
    sample(&c, "looplab_info", view->info, ALWAYS, 1);
  }
  requests(&c);
  durations(&c);
  lag(&c);
  utilization(&c);
  scalar(&c, "looplab_threadpool_queue_depth", "gauge",
         "Work queued for the libuv thread pool and not yet started.", get_tp_queue_depth,
         0);
  plain_hist(&c, "looplab_threadpool_wait_seconds",
             "Time work waited in the libuv thread pool's queue.",
             offsetof(metrics_snap_t, tp_wait), metrics_dur_bounds);
  plain_hist(&c, "looplab_db_pipeline_depth",
             "Requests in flight on their PostgreSQL connection when sent, themselves "
             "included (1: not pipelined).",
             offsetof(metrics_snap_t, db_depth), metrics_depth_bounds);
  pool(&c);
  read_pool(&c);
  scalar(&c, "looplab_worker_connections", "gauge", "Open HTTP connections.",
         get_connections, 0);
  scalar(&c, "looplab_worker_requests_total", "counter", "HTTP requests answered.",
         get_requests_total, 0);
  process(&c);
  family(&c, "looplab_workers", "gauge", "Workers that answered this scrape.");
  sample(&c, "looplab_workers", NULL, ALWAYS, (double)n);
}
