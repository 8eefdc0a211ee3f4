/* looplab-load: the load generator's internal contract (SPEC section 7).
 *
 * The pieces, each in its own file, depending downwards only:
 *   opts.c      command line -> load_opts_t (pure; unit-tested)
 *   scenario.c  load_opts_t -> a request plan; per-VU request building
 *   sampler.c   the server's process tree from /proc (RSS, PSS, CPU)
 *   runner.c    the libuv engine: VUs, connections, closed and open model
 *   report.c    thresholds, the k6-style summary, JSON summary, timeline
 *   export.c    k6's --summary-export JSON
 *   out.c       k6's --out json= (NDJSON) and --out csv= sample streams
 *   html.c      --report: one self-contained HTML page with SVG charts
 *   progress.c  the live progress line (a terminal) or periodic lines
 *   main.c      wires them together; exit status 0, 1 (error), 2 (bad
 *               flags), 99 (a threshold crossed) or 105 (interrupted by
 *               SIGINT), as k6.
 * Times are nanoseconds of uv_hrtime() inside the engine and microseconds
 * in the recorders; errors are negative UV_E* codes. */
#ifndef LOOPLAB_LOAD_H
#define LOOPLAB_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"

#define LOAD_VERSION "0.1.0"
#define LOAD_MAX_STAGES 64
#define LOAD_MAX_THRESHOLDS 32
#define LOAD_MAX_HEADERS 32
#define LOAD_MAX_BODIES 64
#define LOAD_MAX_PIDS 16
#define LOAD_MAX_OUTS 4
/* Recorders track 1 µs .. 60 s at 3 significant digits. */
#define LOAD_HIST_MAX_US 60000000
#define LOAD_HIST_DIGITS 3

/* ---- options (opts.c) ---- */

enum { LOAD_CLOSED = 0, LOAD_OPEN = 1 };

/* Scenarios; "mixed" is a weight per scenario. */
enum { LOAD_SC_GET, LOAD_SC_CRUD, LOAD_SC_DASHBOARD, LOAD_SC_TRANSFORM, LOAD_SC_COUNT };

/* The W1 operations of the crud scenario. */
enum {
  LOAD_OP_CREATE,
  LOAD_OP_READ,
  LOAD_OP_UPDATE,
  LOAD_OP_DELETE,
  LOAD_OP_LIST,
  LOAD_OP_COUNT
};

/* What a request was, for per-kind figures. */
enum {
  LOAD_K_GET,
  LOAD_K_CREATE,
  LOAD_K_READ,
  LOAD_K_PUT,
  LOAD_K_PATCH,
  LOAD_K_DELETE,
  LOAD_K_LIST,
  LOAD_K_DASHBOARD,
  LOAD_K_TRANSFORM,
  LOAD_K_COUNT
};
const char *load_kind_name(int kind);

/* A stage: reach target (VUs, or iterations/s in the open model) linearly
 * over dur_ms, starting from where the previous stage ended. */
typedef struct load_stage_s {
  uint64_t dur_ms;
  double target;
} load_stage_t;

/* Metrics a threshold can name. */
enum {
  LOAD_M_DURATION, /* http_req_duration, µs */
  LOAD_M_FAILED,   /* http_req_failed, a rate 0..1 */
  LOAD_M_REQS,     /* http_reqs */
  LOAD_M_ITERS,    /* iterations */
  LOAD_M_DROPPED,  /* dropped_iterations */
  LOAD_M_SRV_RSS,  /* server_rss, bytes */
  LOAD_M_SRV_PSS,  /* server_pss, bytes */
  LOAD_M_SRV_CPU   /* server_cpu, seconds */
};
enum {
  LOAD_A_AVG,
  LOAD_A_MIN,
  LOAD_A_MED,
  LOAD_A_MAX,
  LOAD_A_P,
  LOAD_A_RATE,
  LOAD_A_COUNT,
  LOAD_A_PEAK,
  LOAD_A_MEAN,
  LOAD_A_PER_REQ
};
enum { LOAD_OP_LT, LOAD_OP_LE, LOAD_OP_GT, LOAD_OP_GE, LOAD_OP_EQ, LOAD_OP_NE };

typedef struct load_threshold_s {
  char text[96]; /* as given, for the report */
  int metric;
  int agg;
  double pct; /* for LOAD_A_P */
  int op;
  double limit; /* in the metric's unit (µs, fraction, count, bytes, s) */
  /* filled by load_thresholds_eval */
  double observed;
  int ok;
} load_threshold_t;

typedef struct load_opts_s {
  /* target */
  char *url;
  char host[256];
  char port[8];
  char *path; /* with query, for the get scenario */
  char *headers[LOAD_MAX_HEADERS];
  int nheaders;
  /* model */
  int model;
  unsigned vus; /* closed: VUs (or start VUs with stages); open: pre-allocated */
  int vus_set;
  unsigned max_vus; /* open model bound */
  double rate;      /* open model: iterations per second (start rate with stages) */
  uint64_t duration_ms;
  load_stage_t stages[LOAD_MAX_STAGES];
  int nstages;
  uint64_t sleep_min_ms, sleep_max_ms;
  uint64_t graceful_stop_ms;
  uint64_t graceful_ramp_down_ms;
  uint64_t timeout_ms;
  uint64_t seed;
  /* scenarios */
  unsigned weights[LOAD_SC_COUNT];
  unsigned crud_mix[LOAD_OP_COUNT];
  int64_t items_lo, items_hi;
  int64_t customers_lo, customers_hi;
  char *queries;        /* dashboard ?queries=, or NULL */
  char *transform_mode; /* transform ?mode=, or NULL */
  char *body_files[LOAD_MAX_BODIES];
  int nbody_files;
  uint64_t transform_sizes[LOAD_MAX_BODIES];
  int ntransform_sizes;
  char *gen_cmd;
  int expect_status; /* get scenario */
  /* output */
  load_threshold_t thresholds[LOAD_MAX_THRESHOLDS];
  int nthresholds;
  char *summary_json;
  char *summary_export;      /* k6's --summary-export shape */
  char *report;              /* --report FILE.html */
  char *outs[LOAD_MAX_OUTS]; /* --out json=FILE / csv=FILE: the FILE */
  int out_csv[LOAD_MAX_OUTS];
  int nouts;
  char *timeline;
  int server_pids[LOAD_MAX_PIDS];
  int nserver_pids;
  int quiet;
} load_opts_t;

enum { LOAD_OPTS_RUN = 0, LOAD_OPTS_HELP = 1, LOAD_OPTS_VERSION = 2 };

/* Parses argv into o (which it initialises first). Returns LOAD_OPTS_RUN,
 * _HELP or _VERSION, or UV_EINVAL with a one-line message in err. o owns
 * its strings until load_opts_free, even after a failure. */
int load_opts_parse(load_opts_t *o, int argc, char **argv, char *err, size_t errlen);
void load_opts_free(load_opts_t *o);
void load_opts_usage(FILE *f);
/* Total planned time of the run (stages or --duration), in ms. */
uint64_t load_opts_total_ms(const load_opts_t *o);
/* The stage target at t ms (start value before the first stage). */
double load_opts_target_at(const load_opts_t *o, double start, double t_ms);

/* Parsers shared with the tests. "1m30s", "250ms", "2h", "1.5s", "10"
 * (seconds) -> ms; "250ms"/"1s"/"800us"/"250" (ms) -> µs; "100k", "2M",
 * "512" -> bytes. Each returns 0 or UV_EINVAL. */
int load_parse_duration_ms(const char *s, uint64_t *ms);
int load_parse_stages(const char *s, load_stage_t *st, int cap, int *n);
int load_parse_threshold(const char *s, load_threshold_t *t);
int load_parse_size(const char *s, uint64_t *bytes);

/* ---- scenario (scenario.c) ---- */

typedef struct load_body_s {
  char *data;
  size_t len;
  char *head; /* the preformatted request head for this body */
  size_t head_len;
} load_body_t;

/* Everything the engine needs to make requests, built once before the
 * run so that making a request formats at most a few numbers. */
typedef struct load_plan_s {
  const load_opts_t *opts;
  char *common; /* "Host: …\r\nUser-Agent: …\r\n<--header>…" */
  size_t common_len;
  char *get_req; /* the whole get-scenario request */
  size_t get_req_len;
  load_body_t bodies[LOAD_MAX_BODIES];
  int nbodies;
  unsigned weight_total;
  unsigned crud_total;
} load_plan_t;

/* A VU's own scenario state: its random stream and the items it made. */
#define LOAD_VU_IDS 64
typedef struct load_vu_state_s {
  uint64_t rng;
  int64_t ids[LOAD_VU_IDS];
  unsigned nids;
  unsigned next_id;
  unsigned vu;
  uint64_t seq;
} load_vu_state_t;

/* One request, as built into a VU's buffer: a head and maybe a body that
 * the plan owns. */
#define LOAD_REQ_BUF 1536
typedef struct load_req_s {
  const char *head;
  size_t head_len;
  const char *body;
  size_t body_len;
  int kind;
  int expect; /* the status that counts as success */
  int64_t id; /* the item a delete removes */
} load_req_t;

/* Builds the plan: preformats headers, reads --body-file files, runs the
 * generator for --transform-sizes. Returns 0 or a negative code with a
 * one-line message in err. */
int load_plan_init(load_plan_t *p, const load_opts_t *o, char *err, size_t errlen);
void load_plan_free(load_plan_t *p);
void load_vu_state_init(load_vu_state_t *s, unsigned vu, uint64_t seed);
/* Chooses and builds the next request into buf (LOAD_REQ_BUF bytes). */
void load_plan_next(const load_plan_t *p, load_vu_state_t *s, char *buf, load_req_t *req);
/* Tells the VU state how a request ended, so that creates feed the id
 * pool and deletes drain it. created_id is 0 when unknown. */
void load_plan_done(load_vu_state_t *s, const load_req_t *req, int ok,
                    int64_t created_id);
uint64_t load_rng_next(uint64_t *state);

/* ---- server sampling (sampler.c) ---- */

typedef struct load_sample_s {
  int ok; /* 0 when the root process is gone */
  int procs;
  uint64_t rss; /* bytes, summed over the tree */
  uint64_t pss; /* bytes; 0 when smaps_rollup is unreadable */
  double cpu_s; /* user + system seconds, incl. reaped children */
} load_sample_t;

/* Samples the process trees rooted at pids. Blocking /proc reads: call it
 * off the loop thread. */
void load_sample_tree(const int *pids, int npids, load_sample_t *out);

/* ---- results (runner.c fills, report.c prints) ---- */

typedef struct load_second_s {
  double t_s;    /* since the start, at the end of the interval */
  double dt_s;   /* the interval's length (1 s but for the last) */
  double wall_s; /* the end of the interval, Unix time */
  uint64_t reqs, failed, dropped;
  int64_t p50, p90, p99, max; /* µs; meaningless when reqs is 0 */
  unsigned vus, vus_max;
  int srv_ok;           /* srv holds a sample (--server-pid) */
  double srv_cpu_cores; /* server CPU over the interval, in cores; < 0 unknown */
  load_sample_t srv;
} load_second_t;

/* k6's request phases (http_req_blocked ... http_req_receiving) and
 * iteration_duration, each a recorder in µs beside http_req_duration. */
enum {
  LOAD_PH_BLOCKED,
  LOAD_PH_CONNECTING,
  LOAD_PH_SENDING,
  LOAD_PH_WAITING,
  LOAD_PH_RECEIVING,
  LOAD_PH_ITERATION,
  LOAD_PH_COUNT
};
const char *load_phase_name(int phase);
#define LOAD_STATUS_CODES 600

typedef struct load_results_s {
  hist_t lat; /* http_req_duration, µs */
  hist_t lat_kind[LOAD_K_COUNT];
  uint64_t reqs, failed, iterations, dropped;
  uint64_t reqs_kind[LOAD_K_COUNT], failed_kind[LOAD_K_COUNT];
  uint64_t status_class[6];                /* [0] no response, [1..5] 1xx..5xx */
  uint64_t status_code[LOAD_STATUS_CODES]; /* [0] no response */
  hist_t phase[LOAD_PH_COUNT];
  uint64_t conn_errors, timeouts, reconnects;
  uint64_t bytes_sent, bytes_recv;
  unsigned vus_min, vus_max, vus_alloc;
  double elapsed_s;
  /* the loader's own CPU seconds (user + system) */
  double self_cpu_s;
  /* server, when --server-pid */
  int srv_samples;
  uint64_t srv_rss_peak, srv_pss_peak;
  double srv_rss_sum, srv_pss_sum;
  double srv_cpu_first, srv_cpu_last;
  int srv_procs_max;
  int interrupted; /* SIGINT ended the run early */
  double t0_unix;  /* the start, Unix time */
  /* every second of the run, for the HTML report */
  load_second_t *seconds;
  size_t nseconds, cap_seconds;
} load_results_t;

void load_results_init(load_results_t *r);
void load_results_free(load_results_t *r);

/* ---- the engine (runner.c) ---- */

/* The files a run streams into, opened by the caller before the run
 * (so that an unwritable path is refused before it starts); NULL when
 * not asked for. The caller closes them. */
typedef struct load_sinks_s {
  FILE *timeline;
  int timeline_csv;
  FILE *out[LOAD_MAX_OUTS];
  int out_csv[LOAD_MAX_OUTS];
  int nout;
} load_sinks_t;

/* Runs the test described by the plan's options on a private loop and
 * fills res, streaming into sinks. Returns 0, or a negative code with a
 * message in err when the run could not start (unresolvable host and the
 * like). */
int load_run(const load_plan_t *plan, load_results_t *res, const load_sinks_t *sinks,
             char *err, size_t errlen);

/* ---- sample streams (out.c) ---- */

/* One request as k6 would emit its samples. Times in ms. */
typedef struct load_reqsample_s {
  double wall_s;
  int kind;
  int status; /* 0: no response */
  int ok;
  int err;   /* UV_E* when no response */
  int timed; /* the phases are known (a response came) */
  double duration, phase[LOAD_PH_COUNT];
  uint64_t sent, received;
} load_reqsample_t;

/* The Metric lines (NDJSON) or the header (CSV), once, before the run. */
void load_out_begin(FILE *f, int csv, const load_opts_t *o);
void load_out_request(FILE *f, int csv, const load_opts_t *o, const load_reqsample_t *s);
/* The per-second gauges: vus, vus_max, dropped_iterations. */
void load_out_second(FILE *f, int csv, const load_second_t *s);
/* RFC 3339 UTC with nanoseconds, as k6 writes Point times. */
void load_fmt_time(char *buf, size_t n, double unix_s, int digits);

/* ---- live progress (progress.c) ---- */

typedef struct load_progress_s {
  int mode;  /* LOAD_PROGRESS_* */
  int drawn; /* a \r line is on the terminal */
  uint64_t last_reqs;
  double last_t;
  double rps;
} load_progress_t;
enum { LOAD_PROGRESS_OFF, LOAD_PROGRESS_TTY, LOAD_PROGRESS_PLAIN };

/* Off with --quiet; the updating line when stderr is a terminal and CI is
 * not set; plain lines otherwise. */
int load_progress_mode(const load_opts_t *o);
/* Draws (TTY) or prints (plain) the state t_s seconds in. */
void load_progress_draw(load_progress_t *p, FILE *f, const load_opts_t *o,
                        const load_results_t *res, double t_s, unsigned vus,
                        unsigned vus_max);
/* Ends the updating line, so that what follows starts on a fresh one. */
void load_progress_end(load_progress_t *p, FILE *f);

/* ---- reports (report.c) ---- */

/* Evaluates every threshold of o against res; returns how many failed. */
int load_thresholds_eval(load_opts_t *o, const load_results_t *res);
void load_summary_print(FILE *f, const load_opts_t *o, const load_results_t *res);
/* Write to f, which the caller opened (stdout for "-") and closes;
 * 0 or UV_EIO. */
int load_summary_json(FILE *f, const load_opts_t *o, const load_results_t *res);
int load_summary_export(FILE *f, const load_opts_t *o, const load_results_t *res);
int load_report_html(FILE *f, const load_opts_t *o, const load_results_t *res);
/* The threshold's observed value in its JSON unit (ms for durations). */
double load_threshold_json_value(const load_threshold_t *t);
const char *load_metric_name(int metric);
/* One timeline line; CSV when csv is set (after a header line). */
void load_timeline_header(FILE *f, int csv);
void load_timeline_line(FILE *f, int csv, const load_second_t *s, int srv);
/* "1.23ms", "850.2µs", "1m2.5s": k6's way of writing a duration in µs. */
void load_fmt_duration(char *buf, size_t n, double us);
/* "1.2 MB": k6's way of writing bytes. */
void load_fmt_bytes(char *buf, size_t n, double bytes);

#endif
