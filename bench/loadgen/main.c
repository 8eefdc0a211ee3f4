/* looplab-load: flags in, a k6-style summary out. Exit status: 0, 1 when
 * the run could not happen, 2 for bad flags, 99 when a threshold failed
 * (k6's ThresholdsHaveFailed), 105 when SIGINT ended the run (k6's
 * ExternalAbort). */
#include "load.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#define EXIT_BAD_FLAGS 2
#define EXIT_THRESHOLDS 99
#define EXIT_ABORTED 105

static void raise_fd_limit(void) {
  /* Every VU is a socket; the soft limit is often 1024. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static unsigned peak_vus(const load_opts_t *o) {
  double m = o->vus;
  for (int i = 0; i < o->nstages; i++)
    if (o->stages[i].target > m)
      m = o->stages[i].target;
  return (unsigned)m;
}

static void describe(FILE *f, const load_opts_t *o) {
  char d[32], g[32], r[32];
  static const char *const names[] = {"get", "crud", "dashboard", "transform"};
  uint64_t total = load_opts_total_ms(o);

  load_fmt_duration(d, sizeof(d), (double)total * 1e3);
  load_fmt_duration(g, sizeof(g), (double)o->graceful_stop_ms * 1e3);
  load_fmt_duration(r, sizeof(r), (double)o->graceful_ramp_down_ms * 1e3);
  fprintf(f, "\n  execution: local\n     target: %s\n   scenario:", o->url);
  for (int i = 0, first = 1; i < LOAD_SC_COUNT; i++)
    if (o->weights[i]) {
      fprintf(f, "%s %s", first ? "" : ",", names[i]);
      if (o->weights[i] != 1 || !first)
        fprintf(f, "=%u", o->weights[i]);
      first = 0;
    }
  fputc('\n', f);
  if (o->model == LOAD_CLOSED && o->nstages == 0)
    fprintf(f, "      model: closed: %u looping VUs for %s (gracefulStop: %s)\n", o->vus,
            d, g);
  else if (o->model == LOAD_CLOSED)
    fprintf(f,
            "      model: closed: up to %u looping VUs for %s over %d stages "
            "(gracefulRampDown: %s, gracefulStop: %s)\n",
            peak_vus(o), d, o->nstages, r, g);
  else if (o->nstages == 0)
    fprintf(
        f,
        "      model: open: %.2f iterations/s for %s (maxVUs: %u-%u, gracefulStop: %s)\n",
        o->rate, d, o->vus, o->max_vus, g);
  else
    fprintf(f,
            "      model: open: ramping from %.2f iterations/s for %s over %d stages "
            "(maxVUs: %u-%u, gracefulStop: %s)\n",
            o->rate, d, o->nstages, o->vus, o->max_vus, g);
  fflush(f);
}

/* Every file the run writes, opened before it starts: an unwritable path
 * is refused at once, not after a long run. "-" is stdout. */
typedef struct files_s {
  FILE *summary_json, *summary_export, *report;
  load_sinks_t sinks;
} files_t;

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n > m && strcmp(s + n - m, suffix) == 0;
}

static int open_one(FILE **f, const char *flag, const char *path) {
  *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
  if (*f == NULL) {
    fprintf(stderr, "looplab-load: %s: cannot write '%s': %s\n", flag, path,
            strerror(errno));
    return -1;
  }
  return 0;
}

static int open_files(files_t *fl, const load_opts_t *o) {
  memset(fl, 0, sizeof(*fl));
  if (o->summary_json && open_one(&fl->summary_json, "--summary-json", o->summary_json))
    return -1;
  if (o->summary_export &&
      open_one(&fl->summary_export, "--summary-export", o->summary_export))
    return -1;
  if (o->report && open_one(&fl->report, "--report", o->report))
    return -1;
  if (o->timeline && open_one(&fl->sinks.timeline, "--timeline", o->timeline))
    return -1;
  fl->sinks.timeline_csv = o->timeline && ends_with(o->timeline, ".csv");
  for (int i = 0; i < o->nouts; i++) {
    if (open_one(&fl->sinks.out[i], "--out", o->outs[i]))
      return -1;
    fl->sinks.out_csv[i] = o->out_csv[i];
    fl->sinks.nout++;
  }
  return 0;
}

static int close_one(FILE *f) {
  if (f == NULL)
    return 0;
  if (f == stdout)
    return fflush(f) == 0 ? 0 : -1;
  return fclose(f) == 0 ? 0 : -1;
}

static int close_files(files_t *fl) {
  int rc = 0;
  rc |= close_one(fl->summary_json);
  rc |= close_one(fl->summary_export);
  rc |= close_one(fl->report);
  rc |= close_one(fl->sinks.timeline);
  for (int i = 0; i < fl->sinks.nout; i++) rc |= close_one(fl->sinks.out[i]);
  memset(fl, 0, sizeof(*fl));
  return rc;
}

/* Writes the end-of-run files; 0, or 1 after a message. */
static int write_files(files_t *fl, const load_opts_t *o, const load_results_t *res) {
  int rc = 0;
  if (fl->summary_json && load_summary_json(fl->summary_json, o, res) != 0)
    rc = 1;
  if (fl->summary_export && load_summary_export(fl->summary_export, o, res) != 0)
    rc = 1;
  if (fl->report && load_report_html(fl->report, o, res) != 0)
    rc = 1;
  if (close_files(fl) != 0)
    rc = 1;
  if (rc)
    fprintf(stderr, "looplab-load: an output file could not be written: %s\n",
            strerror(errno));
  return rc;
}

static void crossed(const load_opts_t *o) {
  fprintf(stderr, "looplab-load: thresholds on metrics");
  for (int i = 0, n = 0; i < o->nthresholds; i++)
    if (!o->thresholds[i].ok)
      fprintf(stderr, "%s '%s'", n++ ? "," : "", o->thresholds[i].text);
  fprintf(stderr, " have been crossed\n");
}

/* The text summary goes to stdout unless a JSON output claimed it. */
static FILE *text_stream(const load_opts_t *o) {
  const char *const claims[] = {o->summary_json, o->summary_export, o->report};
  for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++)
    if (claims[i] && strcmp(claims[i], "-") == 0)
      return stderr;
  for (int i = 0; i < o->nouts; i++)
    if (strcmp(o->outs[i], "-") == 0)
      return stderr;
  if (o->timeline && strcmp(o->timeline, "-") == 0)
    return stderr;
  return stdout;
}

static int run(load_opts_t *o, load_plan_t *plan, files_t *fl) {
  load_results_t res;
  FILE *text = text_stream(o);
  char err[512];
  int status;

  if (fl->sinks.timeline)
    load_timeline_header(fl->sinks.timeline, fl->sinks.timeline_csv);
  for (int i = 0; i < fl->sinks.nout; i++)
    load_out_begin(fl->sinks.out[i], fl->sinks.out_csv[i], o);
  describe(text, o);
  load_results_init(&res);
  if (load_run(plan, &res, &fl->sinks, err, sizeof(err)) != 0) {
    fprintf(stderr, "looplab-load: %s\n", err);
    load_results_free(&res);
    return 1;
  }
  status = load_thresholds_eval(o, &res) > 0 ? EXIT_THRESHOLDS : 0;
  load_summary_print(text, o, &res);
  fflush(text);
  if (write_files(fl, o, &res) != 0)
    status = 1;
  if (status == EXIT_THRESHOLDS)
    crossed(o);
  if (res.interrupted && status != 1)
    status = EXIT_ABORTED;
  load_results_free(&res);
  return status;
}

int main(int argc, char **argv) {
  load_opts_t o;
  load_plan_t plan;
  files_t fl;
  char err[512];
  int rc, status = 1;

  rc = load_opts_parse(&o, argc, argv, err, sizeof(err));
  if (rc == LOAD_OPTS_HELP) {
    load_opts_usage(stdout);
    load_opts_free(&o);
    return 0;
  }
  if (rc == LOAD_OPTS_VERSION) {
    printf("looplab-load %s\n", LOAD_VERSION);
    load_opts_free(&o);
    return 0;
  }
  if (rc != 0) {
    fprintf(stderr, "looplab-load: %s\n", err);
    load_opts_free(&o);
    return EXIT_BAD_FLAGS;
  }
  raise_fd_limit();
  if (open_files(&fl, &o) != 0) {
    close_files(&fl);
    load_opts_free(&o);
    return 1;
  }
  rc = load_plan_init(&plan, &o, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "looplab-load: %s\n", err);
    close_files(&fl);
    load_opts_free(&o);
    return 1;
  }
  status = run(&o, &plan, &fl);
  close_files(&fl);
  load_plan_free(&plan);
  load_opts_free(&o);
  return status;
}
