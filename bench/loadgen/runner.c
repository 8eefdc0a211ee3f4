/* The engine: one libuv loop drives every virtual user (vu.c).
 *
 * Closed model: a controller timer keeps VUs 0..wanted-1 looping through
 * send, wait, sleep, repeat; a VU at or above wanted leaves when its
 * request ends (graceful ramp-down). Open model: a timerfd (nanosecond
 * resolution, where libuv's timers have milliseconds) fires at each
 * iteration's intended start; the iteration takes an idle VU, or a new one
 * up to --max-vus, or is dropped. Its latency runs from the intended
 * start, so a server stall delays every request scheduled during it and
 * shows in the percentiles instead of being hidden by VUs that wait.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static void finish(runner_t *r);
static void begin_stop(runner_t *r, int interrupted);

/* ---- results ---- */

void load_results_init(load_results_t *res) {
  memset(res, 0, sizeof(*res));
  hist_init(&res->lat, 1, LOAD_HIST_MAX_US, LOAD_HIST_DIGITS);
  for (int k = 0; k < LOAD_K_COUNT; k++)
    hist_init(&res->lat_kind[k], 1, LOAD_HIST_MAX_US, LOAD_HIST_DIGITS);
  for (int p = 0; p < LOAD_PH_COUNT; p++)
    hist_init(&res->phase[p], 1, LOAD_HIST_MAX_US, LOAD_HIST_DIGITS);
  res->vus_min = UINT32_MAX;
}

void load_results_free(load_results_t *res) {
  hist_free(&res->lat);
  for (int k = 0; k < LOAD_K_COUNT; k++) hist_free(&res->lat_kind[k]);
  for (int p = 0; p < LOAD_PH_COUNT; p++) hist_free(&res->phase[p]);
  free(res->seconds);
  res->seconds = NULL;
}

static void keep_second(load_results_t *res, const load_second_t *s) {
  if (res->nseconds == res->cap_seconds) {
    size_t cap = res->cap_seconds ? res->cap_seconds * 2 : 64;
    load_second_t *n = realloc(res->seconds, cap * sizeof(*n));
    if (n == NULL)
      abort();
    res->seconds = n;
    res->cap_seconds = cap;
  }
  res->seconds[res->nseconds++] = *s;
}

double load_runner_wall(const runner_t *r, uint64_t ns) {
  return r->res->t0_unix + ((double)ns - (double)r->t0_ns) / 1e9;
}

static double unix_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void note_vus(runner_t *r) {
  unsigned v = r->o->model == LOAD_OPEN ? r->busy : r->running;
  if (v < r->res->vus_min)
    r->res->vus_min = v;
  if (v > r->res->vus_max)
    r->res->vus_max = v;
}

/* ---- the closed model ---- */

static void set_wanted(runner_t *r, unsigned w) {
  uint64_t now = uv_hrtime();

  if (w > r->cap)
    w = r->cap;
  for (unsigned id = r->wanted; id < w; id++) {
    vu_t *vu = load_vu_get(r, id);
    vu->leave_ns = 0;
    if (!vu->running) {
      vu->running = 1;
      r->running++;
      load_vu_start(vu);
    }
  }
  for (unsigned id = w; id < r->wanted && id < r->nvus; id++) {
    vu_t *vu = r->vus[id];
    if (!vu->running)
      continue;
    if (vu->state == VU_BUSY)
      vu->leave_ns = now; /* leaves when its request ends */
    else
      load_vu_stop(vu);
  }
  r->wanted = w;
}

static unsigned closed_target(const runner_t *r, double t_ms) {
  double v = load_opts_target_at(r->o, (double)r->o->vus, t_ms);
  return (unsigned)floor(v + 1e-9);
}

/* ---- the open model ---- */

/* When iteration k (from 0) is due, in ns after t0, or UINT64_MAX past the
 * end. The rate is piecewise linear, so the count of iterations due by t
 * is piecewise quadratic and is inverted per stage. */
static uint64_t open_offset_ns(const load_opts_t *o, uint64_t k) {
  double from = o->rate, x = (double)k, t0 = 0;
  int n = o->nstages ? o->nstages : 1;

  for (int i = 0; i < n; i++) {
    double T = (o->nstages ? (double)o->stages[i].dur_ms : (double)o->duration_ms) / 1e3;
    double to = o->nstages ? o->stages[i].target : o->rate;
    double count = (from + to) / 2 * T;
    if (x < count && T > 0) {
      double a = (to - from) / (2 * T), b = from;
      if (x <= 0)
        return (uint64_t)(t0 * 1e9); /* also spares 0/0 when from is 0 */
      /* a*tau^2 + b*tau = x, in the form that stays exact as a -> 0. */
      double tau = 2 * x / (b + sqrt(b * b + 4 * a * x));
      return (uint64_t)((t0 + tau) * 1e9);
    }
    x -= count;
    t0 += T;
    from = to;
  }
  return UINT64_MAX;
}

static void sched_arm(runner_t *r, uint64_t at_ns) {
  struct itimerspec its;
  memset(&its, 0, sizeof(its));
  its.it_value.tv_sec = (time_t)(at_ns / 1000000000u);
  its.it_value.tv_nsec = (long)(at_ns % 1000000000u);
  if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
    its.it_value.tv_nsec = 1;
  timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Starts every iteration that is due, then sleeps until the next one. */
static void dispatch(runner_t *r) {
  uint64_t now = uv_hrtime();

  while (r->phase == PH_RUN) {
    uint64_t off = open_offset_ns(r->o, r->iter);
    uint64_t due;
    vu_t *vu;

    if (off == UINT64_MAX || off >= r->total_ns)
      return; /* the controller ends the run */
    due = r->t0_ns + off;
    if (due > now) {
      sched_arm(r, due);
      return;
    }
    r->iter++;
    vu = r->idle;
    if (vu != NULL) {
      r->idle = vu->next_idle;
    } else if (r->nvus < r->cap) {
      vu = load_vu_get(r, r->nvus);
    } else {
      r->res->dropped++;
      r->sec_dropped++;
      continue;
    }
    vu->start_ns = due;
    load_vu_start(vu);
    note_vus(r);
  }
}

static void on_sched(uv_poll_t *p, int status, int events) {
  runner_t *r = container_of(p, runner_t, tpoll);
  uint64_t expirations;
  if (read(r->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
    return;
  dispatch(r);
}

/* ---- time keeping ---- */

static void after_sample(uv_work_t *w, int status);

static void fold_sample(runner_t *r, const load_sample_t *s) {
  load_results_t *res = r->res;
  if (!s->ok)
    return;
  if (res->srv_samples == 0)
    res->srv_cpu_first = s->cpu_s;
  res->srv_samples++;
  res->srv_cpu_last = s->cpu_s;
  res->srv_rss_sum += (double)s->rss;
  res->srv_pss_sum += (double)s->pss;
  if (s->rss > res->srv_rss_peak)
    res->srv_rss_peak = s->rss;
  if (s->pss > res->srv_pss_peak)
    res->srv_pss_peak = s->pss;
  if (s->procs > res->srv_procs_max)
    res->srv_procs_max = s->procs;
  r->sample_last = *s;
}

static void do_sample(uv_work_t *w) {
  runner_t *r = container_of(w, runner_t, work);
  load_sample_tree(r->o->server_pids, r->o->nserver_pids, &r->sample_work);
}

static void after_sample(uv_work_t *w, int status) {
  runner_t *r = container_of(w, runner_t, work);
  r->work_busy = 0;
  if (status == 0 && r->phase != PH_DONE)
    fold_sample(r, &r->sample_work);
}

/* The server's side of a second: the latest sample, if any, and the CPU
 * it used since the previous one. */
static void second_server(runner_t *r, load_second_t *s) {
  s->srv = r->sample_last;
  s->srv_ok = r->o->nserver_pids > 0 && r->sample_last.ok;
  s->srv_cpu_cores = -1; /* unknown until two samples */
  if (!s->srv_ok)
    return;
  if (r->prev_cpu_ok && s->dt_s >= 0.2) /* a sliver of a second says nothing */
    s->srv_cpu_cores = (s->srv.cpu_s - r->prev_cpu_s) / s->dt_s;
  r->prev_cpu_s = s->srv.cpu_s;
  r->prev_cpu_ok = 1;
}

static void flush_second(runner_t *r, uint64_t now) {
  const load_sinks_t *k = r->sinks;
  load_second_t s;

  memset(&s, 0, sizeof(s));
  s.t_s = (double)(now - r->t0_ns) / 1e9;
  s.dt_s = (double)(now - (r->last_flush_ns ? r->last_flush_ns : r->t0_ns)) / 1e9;
  s.wall_s = load_runner_wall(r, now);
  r->last_flush_ns = now;
  s.reqs = r->sec_reqs;
  s.failed = r->sec_failed;
  s.dropped = r->sec_dropped;
  s.p50 = hist_percentile(&r->sec, 50);
  s.p90 = hist_percentile(&r->sec, 90);
  s.p99 = hist_percentile(&r->sec, 99);
  s.max = r->sec.max;
  s.vus = r->o->model == LOAD_OPEN ? r->busy : r->running;
  s.vus_max = r->nvus;
  second_server(r, &s);
  keep_second(r->res, &s);
  if (k->timeline)
    load_timeline_line(k->timeline, k->timeline_csv, &s, r->o->nserver_pids > 0);
  for (int i = 0; i < k->nout; i++) load_out_second(k->out[i], k->out_csv[i], &s);
  if (r->prog.mode == LOAD_PROGRESS_PLAIN)
    load_progress_draw(&r->prog, stderr, r->o, r->res, s.t_s, s.vus, r->nvus);
  hist_reset(&r->sec);
  r->sec_reqs = r->sec_failed = r->sec_dropped = 0;
}

/* Once a second: the timeline and a server sample. */
static void on_tick(uv_timer_t *t) {
  runner_t *r = container_of(t, runner_t, tick);
  const load_opts_t *o = r->o;
  uint64_t now = uv_hrtime();

  /* The VU count the second reports is the one due now, not the one the
   * controller set up to 10 ms ago. */
  if (r->phase == PH_RUN && o->model == LOAD_CLOSED && now - r->t0_ns < r->total_ns)
    set_wanted(r, closed_target(r, (double)(now - r->t0_ns) / 1e6));
  if (r->phase == PH_RUN)
    note_vus(r);
  flush_second(r, now);
  if (o->nserver_pids && !r->work_busy &&
      uv_queue_work(&r->loop, &r->work, do_sample, after_sample) == 0)
    r->work_busy = 1;
}

/* Every 100 ms: requests past --timeout, and VUs that outstayed the
 * graceful ramp-down. A scan, rather than a timer per request, keeps
 * timer-heap work off the hot path; 100 ms is the granularity. */
static void scan(runner_t *r, uint64_t now) {
  uint64_t timeout_ns = r->o->timeout_ms * 1000000u;
  uint64_t grd_ns = r->o->graceful_ramp_down_ms * 1000000u;

  for (unsigned i = 0; i < r->nvus; i++) {
    vu_t *vu = r->vus[i];
    if (vu->state != VU_BUSY)
      continue;
    if (now > vu->start_ns && now - vu->start_ns > timeout_ns) {
      load_vu_fail(vu, UV_ETIMEDOUT);
    } else if (vu->leave_ns && r->phase == PH_RUN && now - vu->leave_ns > grd_ns) {
      /* Interrupted, as k6 does past gracefulRampDown: not counted. */
      load_vu_disconnect(vu);
      r->busy--;
      load_vu_stop(vu);
    }
  }
}

static void on_ctl(uv_timer_t *t) {
  runner_t *r = container_of(t, runner_t, ctl);
  uint64_t now = uv_hrtime();

  if (r->phase == PH_RUN) {
    if (now - r->t0_ns >= r->total_ns)
      begin_stop(r, 0);
    else if (r->o->model == LOAD_CLOSED)
      set_wanted(r, closed_target(r, (double)(now - r->t0_ns) / 1e6));
  }
  if (++r->ctl_ticks % 10 == 0 && r->phase != PH_DONE) {
    scan(r, now);
    if (r->prog.mode == LOAD_PROGRESS_TTY && r->phase != PH_PRECONNECT)
      load_progress_draw(&r->prog, stderr, r->o, r->res, (double)(now - r->t0_ns) / 1e9,
                         r->o->model == LOAD_OPEN ? r->busy : r->running, r->nvus);
  }
  if (r->phase == PH_STOPPING && (r->busy == 0 || now >= r->stop_deadline_ns))
    finish(r);
}

static void begin(runner_t *r) {
  r->phase = PH_RUN;
  /* Closed model: the origin on the timers' own (coarse, millisecond)
   * clock, so that the tick due at 1000 ms never finds less than 1000 ms
   * elapsed and reports the VU count of the new second. Open model: the
   * precise clock, since every intended start is reckoned from it. */
  uv_update_time(&r->loop);
  r->t0_ns = r->o->model == LOAD_OPEN ? uv_hrtime() : uv_now(&r->loop) * 1000000u;
  r->res->t0_unix = unix_now() - ((double)uv_hrtime() - (double)r->t0_ns) / 1e9;
  uv_timer_start(&r->ctl, on_ctl, CTL_INTERVAL_MS, CTL_INTERVAL_MS);
  uv_timer_start(&r->tick, on_tick, 1000, 1000);
  if (r->o->model == LOAD_CLOSED) {
    set_wanted(r, closed_target(r, 0));
  } else {
    uv_poll_start(&r->tpoll, UV_READABLE, on_sched);
    dispatch(r);
  }
  note_vus(r);
}

static void begin_stop(runner_t *r, int interrupted) {
  if (r->phase == PH_PRECONNECT || r->phase == PH_RUN) {
    r->res->interrupted |= interrupted;
    r->phase = PH_STOPPING;
    r->stop_deadline_ns = uv_hrtime() + r->o->graceful_stop_ms * 1000000u;
    if (r->o->model == LOAD_CLOSED)
      set_wanted(r, 0);
    else
      uv_poll_stop(&r->tpoll);
  }
}

static void on_sigint(uv_signal_t *s, int signum) {
  runner_t *r = container_of(s, runner_t, sigint);
  if (r->phase == PH_STOPPING)
    finish(r);
  else
    begin_stop(r, 1);
}

static void close_if_open(uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

/* Ends the run: whatever is still in flight is abandoned, every handle
 * closes, and uv_run returns once they have. */
static void finish(runner_t *r) {
  uint64_t now = uv_hrtime();
  struct rusage ru;

  if (r->phase == PH_DONE)
    return;
  r->res->elapsed_s = r->t0_ns ? (double)(now - r->t0_ns) / 1e9 : 0;
  if (r->t0_ns && r->sec_reqs + r->sec_failed + r->sec_dropped > 0)
    flush_second(r, now);
  if (r->o->nserver_pids) {
    load_sample_t s;
    load_sample_tree(r->o->server_pids, r->o->nserver_pids, &s);
    fold_sample(r, &s);
  }
  r->phase = PH_DONE;
  /* The last redraw, as the run ended: the 100 ms redraws can stop short
   * of it when the VUs finish between two of them (a slow machine). */
  if (r->prog.mode == LOAD_PROGRESS_TTY && r->t0_ns)
    load_progress_draw(&r->prog, stderr, r->o, r->res, r->res->elapsed_s,
                       r->o->model == LOAD_OPEN ? r->busy : r->running, r->nvus);
  load_progress_end(&r->prog, stderr);
  for (unsigned i = 0; i < r->nvus; i++) {
    vu_t *vu = r->vus[i];
    if (vu->conn == CONN_OPEN || vu->conn == CONN_CONNECTING)
      uv_close((uv_handle_t *)&vu->tcp, NULL);
    vu->conn = CONN_CLOSING;
    close_if_open((uv_handle_t *)&vu->timer);
  }
  close_if_open((uv_handle_t *)&r->ctl);
  close_if_open((uv_handle_t *)&r->tick);
  close_if_open((uv_handle_t *)&r->flush);
  close_if_open((uv_handle_t *)&r->sigint);
  if (r->tfd >= 0)
    close_if_open((uv_handle_t *)&r->tpoll);
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    r->res->self_cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- set-up ---- */

static int resolve(runner_t *r, char *err, size_t errlen) {
  struct addrinfo hints, *ai = NULL;
  int rc;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  rc = getaddrinfo(r->o->host, r->o->port, &hints, &ai);
  if (rc != 0 || ai == NULL) {
    snprintf(err, errlen, "cannot resolve '%s': %s", r->o->host, gai_strerror(rc));
    return UV_EAI_NONAME;
  }
  memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(ai);
  return 0;
}

static void preconnect(runner_t *r) {
  /* Open model: the pre-allocated VUs connect before the clock starts,
   * as k6's preAllocatedVUs exist before the first iteration. */
  for (unsigned i = 0; i < r->o->vus && i < r->cap; i++) {
    vu_t *vu = load_vu_get(r, i);
    if (load_vu_connect(vu) == 0)
      r->pending_connects++;
    vu->next_idle = r->idle;
    r->idle = vu;
  }
}

static void on_preconnect_poll(uv_timer_t *t) {
  runner_t *r = container_of(t, runner_t, ctl);
  if (r->phase != PH_PRECONNECT) {
    finish(r); /* interrupted while connecting */
  } else if (r->pending_connects == 0) {
    uv_timer_stop(t);
    begin(r);
  }
}

int load_run(const load_plan_t *plan, load_results_t *res, const load_sinks_t *sinks,
             char *err, size_t errlen) {
  load_sample_t first;
  runner_t *r;
  int rc;

  r = calloc(1, sizeof(*r));
  if (r == NULL)
    abort();
  r->plan = plan;
  r->o = plan->opts;
  r->res = res;
  r->sinks = sinks;
  r->tfd = -1;
  rc = resolve(r, err, errlen);
  if (rc != 0)
    goto fail;
  if (r->o->nserver_pids) {
    /* The baseline for CPU per request, and a check that the pid exists. */
    load_sample_tree(r->o->server_pids, r->o->nserver_pids, &first);
    if (!first.ok) {
      snprintf(err, errlen, "--server-pid: no process %d", r->o->server_pids[0]);
      rc = UV_ESRCH;
      goto fail;
    }
  }
  rc = uv_loop_init(&r->loop);
  if (rc != 0)
    goto fail;
  hist_init(&r->sec, 1, LOAD_HIST_MAX_US, LOAD_HIST_DIGITS);
  load_vu_settings(&r->settings);
  r->prog.mode = load_progress_mode(r->o);
  if (r->o->model == LOAD_OPEN) {
    r->cap = r->o->max_vus;
  } else {
    double peak = r->o->vus;
    for (int i = 0; i < r->o->nstages; i++)
      if (r->o->stages[i].target > peak)
        peak = r->o->stages[i].target;
    r->cap = (unsigned)peak;
  }
  r->vus = calloc(r->cap ? r->cap : 1, sizeof(*r->vus));
  if (r->vus == NULL)
    abort();
  r->total_ns = load_opts_total_ms(r->o) * 1000000u;
  uv_timer_init(&r->loop, &r->ctl);
  uv_timer_init(&r->loop, &r->tick);
  uv_signal_init(&r->loop, &r->sigint);
  uv_check_init(&r->loop, &r->flush);
  uv_check_start(&r->flush, load_vu_on_flush);
  r->send_tail = &r->send_head;
  uv_signal_start(&r->sigint, on_sigint, SIGINT);
  if (r->o->model == LOAD_OPEN) {
    r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (r->tfd < 0)
      abort(); /* Linux has had timerfd since 2.6.25 */
    uv_poll_init(&r->loop, &r->tpoll, r->tfd);
  }
  if (r->o->nserver_pids)
    fold_sample(r, &first);
  if (r->o->model == LOAD_OPEN) {
    r->phase = PH_PRECONNECT;
    preconnect(r);
    uv_timer_start(&r->ctl, on_preconnect_poll, 0, 1);
  } else {
    begin(r);
  }
  uv_run(&r->loop, UV_RUN_DEFAULT);
  rc = 0;
  if (uv_loop_close(&r->loop) != 0) {
    fprintf(stderr, "looplab-load: bug: handles left open at exit\n");
    abort();
  }
  if (r->tfd >= 0)
    close(r->tfd);
  hist_free(&r->sec);
  for (unsigned i = 0; i < r->nvus; i++) free(r->vus[i]);
  free(r->vus);
  free(r);
  return rc;
fail:
  free(r);
  return rc;
}
