/* looplab-load: flags in, a k6-style summary out. Exit status: 0, 1 when
 * the run could not happen, 2 for bad flags, 99 when a threshold failed
 * (k6's ThresholdsHaveFailed). */
#include "load.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#define EXIT_BAD_FLAGS 2
#define EXIT_THRESHOLDS 99

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

int main(int argc, char **argv) {
  load_opts_t o;
  load_plan_t plan;
  load_results_t res;
  FILE *timeline = NULL;
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
  rc = load_plan_init(&plan, &o, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "looplab-load: %s\n", err);
    load_opts_free(&o);
    return 1;
  }
  if (o.timeline) {
    timeline = fopen(o.timeline, "w");
    if (timeline == NULL) {
      fprintf(stderr, "looplab-load: --timeline: cannot write '%s'\n", o.timeline);
      goto fail_plan;
    }
    load_timeline_header(
        timeline,
        strlen(o.timeline) > 4 && !strcmp(o.timeline + strlen(o.timeline) - 4, ".csv"));
  }
  describe(stdout, &o);
  load_results_init(&res);
  rc = load_run(&plan, &res, timeline, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "looplab-load: %s\n", err);
    goto fail_res;
  }
  status = load_thresholds_eval(&o, &res) > 0 ? EXIT_THRESHOLDS : 0;
  load_summary_print(stdout, &o, &res);
  fflush(stdout);
  if (o.summary_json && load_summary_json(o.summary_json, &o, &res) != 0) {
    fprintf(stderr, "looplab-load: --summary-json: cannot write '%s'\n", o.summary_json);
    status = 1;
  }
  if (status == EXIT_THRESHOLDS) {
    fprintf(stderr, "looplab-load: thresholds on metrics");
    for (int i = 0, n = 0; i < o.nthresholds; i++)
      if (!o.thresholds[i].ok)
        fprintf(stderr, "%s '%s'", n++ ? "," : "", o.thresholds[i].text);
    fprintf(stderr, " have been crossed\n");
  }

fail_res:
  load_results_free(&res);
  if (timeline)
    fclose(timeline);
fail_plan:
  load_plan_free(&plan);
  load_opts_free(&o);
  return status;
}
