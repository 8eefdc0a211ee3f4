/* metrics: what a worker measures, as one fixed-size snapshot that the
 * primary can merge bucket by bucket (never averaging percentiles), and the
 * Prometheus text exposition (format 0.0.4) of merged and per-worker
 * series. Pure: no loop, no socket; the worker feeds it. */
#ifndef LOOPLAB_METRICS_H
#define LOOPLAB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define METRICS_ROUTES 16   /* route ids from the router; 0 = no route */
#define METRICS_METHODS 8   /* http_method_t */
#define METRICS_STATUSES 24 /* see metrics_status_slot */
#define METRICS_DUR_BUCKETS 12
#define METRICS_TP_BUCKETS 12

/* A log-linear histogram of nanosecond values, HdrHistogram-style: exact
 * microseconds below 64 µs, then 32 sub-buckets per power of two up to
 * about 2^37 µs (about 3 % precision). Mergeable by adding counts. */
#define METRICS_LL_BUCKETS (64 + 32 * 32)
typedef struct metrics_ll_s {
  uint64_t counts[METRICS_LL_BUCKETS];
  uint64_t count;
  uint64_t min_ns, max_ns;
  double sum_ns, sumsq_ns; /* for mean and stddev */
} metrics_ll_t;

void metrics_ll_reset(metrics_ll_t *h);
void metrics_ll_record(metrics_ll_t *h, uint64_t ns);
void metrics_ll_merge(metrics_ll_t *into, const metrics_ll_t *from);
/* The nearest-rank percentile (0 < p <= 100), as the upper bound of its
 * bucket clamped to [min, max]; 0 when empty. */
uint64_t metrics_ll_percentile(const metrics_ll_t *h, double p);

/* A Prometheus histogram with fixed upper bounds (le). */
typedef struct metrics_hist_s {
  uint64_t buckets[METRICS_DUR_BUCKETS]; /* non-cumulative */
  uint64_t count;
  double sum;
} metrics_hist_t;
extern const double metrics_dur_bounds[METRICS_DUR_BUCKETS];
void metrics_hist_record(metrics_hist_t *h, const double *bounds, double seconds);
/* Pipeline depths (1, 2, 3, 4, 6, 8 ... 64), and the histogram of counts
 * by depth: by_depth[i] units were sent at depth i + 1 (the last: n or
 * more). The pool counts since it started, so this replaces h. */
extern const double metrics_depth_bounds[METRICS_DUR_BUCKETS];
void metrics_depth_fill(metrics_hist_t *h, const uint64_t *by_depth, int n);

/* Request durations by (route, method, status), as fastify-metrics labels
 * them: a worker keeps up to METRICS_DUR_SERIES combinations; past that,
 * the rest share the last one (route 0, method OTHER, status slot 0). */
#define METRICS_DUR_SERIES 48
typedef struct metrics_dur_s {
  uint8_t route, method, slot, used;
  metrics_hist_t h;
} metrics_dur_t;

/* A pool's gauges (db_pool_stats_t's, as the snapshot carries them). */
typedef struct metrics_pool_s {
  int64_t in_use, waiting, healthy, size;
} metrics_pool_t;

/* One worker's snapshot. Plain data: it crosses the IPC pipe as bytes. */
typedef struct metrics_snap_s {
  int32_t worker;
  int32_t pid;
  int32_t view; /* whose windows: 0 merged /metrics, 1 ?by=worker */
  uint64_t requests[METRICS_ROUTES][METRICS_METHODS][METRICS_STATUSES];
  metrics_dur_t duration[METRICS_DUR_SERIES];
  metrics_ll_t lag;      /* since the previous scrape */
  uint64_t loop_idle_ns; /* since the previous scrape */
  uint64_t loop_elapsed_ns;
  int64_t tp_queue_depth;
  metrics_hist_t tp_wait;
  metrics_pool_t db;
  metrics_pool_t db_read;     /* the --db-read pool's (all 0 without one) */
  uint64_t db_read_fallbacks; /* reads the replica could not serve, sent to db */
  metrics_hist_t db_depth;    /* since the worker started */
  int64_t connections;
  uint64_t requests_total;
  int64_t rss_bytes, vsize_bytes;
  double cpu_seconds, cpu_user_seconds, cpu_system_seconds;
  int64_t open_fds, max_fds;
  uint64_t start_time_s;
} metrics_snap_t;

/* Records one request's duration. index is the worker's own map from
 * (route, method, slot) to 1 + the series' place (0: none yet). */
typedef uint8_t metrics_dur_index_t[METRICS_ROUTES][METRICS_METHODS][METRICS_STATUSES];
void metrics_duration_record(metrics_snap_t *s, metrics_dur_index_t index, int route,
                             int method, int slot, double seconds);

/* Maps a status code to its slot and back (unknown codes share slot 0). */
int metrics_status_slot(int status);
int metrics_slot_status(int slot);

/* The process's own memory, CPU time and descriptors (prom-client's
 * default process metrics), from /proc, getrusage and getrlimit. */
void metrics_process_sample(metrics_snap_t *s);

/* What a scrape asks for. by_worker: each worker's series with a worker
 * label and no merged ones (/metrics?by=worker); otherwise the merged
 * series only, as prom-client's AggregatorRegistry serves a cluster, so
 * sum() over a family counts each request once. node_names: the
 * event-loop families also under prom-client's nodejs_* names. info: the
 * labels of looplab_info (k="v",...), or NULL. */
typedef struct metrics_view_s {
  int by_worker;
  int node_names;
  const char *info;
} metrics_view_t;

/* Renders every family over snaps[0..n). routes[i] names route id i.
 * primary may be NULL (--workers 0); when given, its memory, CPU and
 * descriptors are added to the merged process series. */
void metrics_render(core_buf_t *out, const metrics_snap_t *const *snaps, int n,
                    const metrics_snap_t *primary, const char *const *routes, int nroutes,
                    const metrics_view_t *view);

#endif
