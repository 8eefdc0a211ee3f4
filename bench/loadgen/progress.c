/* The progress of a run on stderr, as k6 draws it. On a terminal: one
 * line redrawn in place (\r) every 100 ms with a bar, elapsed of total,
 * VUs, iterations, the last second's req/s, p99 so far and failures.
 * Without a terminal (a pipe, a file, CI=true): the same figures on a
 * plain line once a second, which logs keep readably. */
#include "load.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BAR_WIDTH 30

int load_progress_mode(const load_opts_t *o) {
  const char *ci = getenv("CI");
  if (o->quiet)
    return LOAD_PROGRESS_OFF;
  if (isatty(STDERR_FILENO) && !(ci && *ci && strcmp(ci, "false") != 0))
    return LOAD_PROGRESS_TTY;
  return LOAD_PROGRESS_PLAIN;
}

static void bar(char *b, double frac) {
  int done = (int)(frac * BAR_WIDTH);
  if (done > BAR_WIDTH)
    done = BAR_WIDTH;
  for (int i = 0; i < BAR_WIDTH; i++) b[i] = i < done ? '=' : i == done ? '>' : '-';
  if (done == BAR_WIDTH)
    b[BAR_WIDTH - 1] = '=';
  b[BAR_WIDTH] = '\0';
}

/* The last second's request rate, from the running count. */
static void update_rate(load_progress_t *p, const load_results_t *res, double t_s) {
  if (t_s - p->last_t >= 0.9 || p->last_t == 0) {
    if (t_s > p->last_t)
      p->rps = (double)(res->reqs - p->last_reqs) / (t_s - p->last_t);
    p->last_reqs = res->reqs;
    p->last_t = t_s;
  }
}

void load_progress_draw(load_progress_t *p, FILE *f, const load_opts_t *o,
                        const load_results_t *res, double t_s, unsigned vus,
                        unsigned vus_max) {
  double total = (double)load_opts_total_ms(o) / 1e3;
  char b[BAR_WIDTH + 1], e[32], tt[32], p99[32];

  if (p->mode == LOAD_PROGRESS_OFF)
    return;
  if (t_s < 0)
    t_s = 0;
  update_rate(p, res, t_s);
  load_fmt_duration(e, sizeof(e), (t_s > total ? total : t_s) * 1e6);
  load_fmt_duration(tt, sizeof(tt), total * 1e6);
  if (res->lat.total)
    load_fmt_duration(p99, sizeof(p99), (double)hist_percentile(&res->lat, 99));
  else
    strcpy(p99, "-");
  if (p->mode == LOAD_PROGRESS_TTY) {
    bar(b, total > 0 ? t_s / total : 1);
    fprintf(f,
            "\r\033[Kdefault [%s] %s/%s  %u/%u VUs  %" PRIu64
            " iters  %.0f req/s  p99=%s  "
            "%" PRIu64 " failed",
            b, e, tt, vus, vus_max, res->iterations, p->rps, p99, res->failed);
    p->drawn = 1;
  } else {
    fprintf(f,
            "running (%s/%s), %u/%u VUs, %" PRIu64 " complete, %" PRIu64
            " failed, %" PRIu64 " dropped, %.0f req/s, p99=%s\n",
            e, tt, vus, vus_max, res->iterations, res->failed, res->dropped, p->rps, p99);
  }
  fflush(f);
}

void load_progress_end(load_progress_t *p, FILE *f) {
  if (p->drawn) {
    fputc('\n', f);
    fflush(f);
  }
  p->drawn = 0;
}
