/* What a run shows: the k6 end-of-test summary (same metric names, order
 * and number style, so that eyes trained on k6 read it at once), threshold
 * verdicts, the JSON summary (durations in ms, as k6's handleSummary data)
 * and the per-second timeline. */
#include "load.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <uv.h>

#define NAME_WIDTH 31

static void strip_zeros(char *s) {
  /* "1.50" -> "1.5", "2.00" -> "2" */
  char *dot = strchr(s, '.'), *e;
  if (dot == NULL)
    return;
  e = s + strlen(s) - 1;
  while (e > dot && *e == '0') *e-- = '\0';
  if (e == dot)
    *e = '\0';
}

void load_fmt_duration(char *buf, size_t n, double us) {
  char num[32];
  if (us <= 0) {
    snprintf(buf, n, "0s"); /* as k6 writes a zero duration */
  } else if (us < 1) {
    snprintf(buf, n, "%.0fns", us * 1e3);
  } else if (us < 1000) {
    snprintf(num, sizeof(num), "%.2f", us);
    strip_zeros(num);
    snprintf(buf, n, "%s\xc2\xb5s", num);
  } else if (us < 1e6) {
    snprintf(num, sizeof(num), "%.2f", us / 1e3);
    strip_zeros(num);
    snprintf(buf, n, "%sms", num);
  } else if (us < 60e6) {
    snprintf(num, sizeof(num), "%.2f", us / 1e6);
    strip_zeros(num);
    snprintf(buf, n, "%ss", num);
  } else {
    double s = us / 1e6;
    unsigned h = (unsigned)(s / 3600), m = (unsigned)((s - h * 3600.0) / 60);
    snprintf(num, sizeof(num), "%.2f", s - h * 3600.0 - m * 60.0);
    strip_zeros(num);
    if (h)
      snprintf(buf, n, "%uh%um%ss", h, m, num);
    else
      snprintf(buf, n, "%um%ss", m, num);
  }
}

void load_fmt_bytes(char *buf, size_t n, double b) {
  static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    u++;
  }
  if (u == 0)
    snprintf(buf, n, "%.0f B", b);
  else
    snprintf(buf, n, b < 10 ? "%.1f %s" : "%.0f %s", b, units[u]);
}

/* ---- thresholds ---- */

static const char *const metric_names[] = {
    "http_req_duration",  "http_req_failed", "http_reqs",  "iterations",
    "dropped_iterations", "server_rss",      "server_pss", "server_cpu"};

static const char *const phase_names[] = {"http_req_blocked",   "http_req_connecting",
                                          "http_req_sending",   "http_req_waiting",
                                          "http_req_receiving", "iteration_duration"};

const char *load_metric_name(int metric) {
  return metric >= 0 && metric <= LOAD_M_SRV_CPU ? metric_names[metric] : "?";
}

const char *load_phase_name(int phase) {
  return phase >= 0 && phase < LOAD_PH_COUNT ? phase_names[phase] : "?";
}

/* Durations are kept in µs and written in ms, as every other duration
 * of the JSON outputs is. */
static int is_duration(const load_threshold_t *t) {
  return t->metric == LOAD_M_DURATION ||
         (t->metric == LOAD_M_SRV_CPU && t->agg == LOAD_A_PER_REQ);
}

double load_threshold_json_value(const load_threshold_t *t) {
  return is_duration(t) ? t->observed / 1e3 : t->observed;
}

static double per_s(const load_results_t *res, double v) {
  return res->elapsed_s > 0 ? v / res->elapsed_s : 0;
}

static double srv_cpu(const load_results_t *res) {
  return res->srv_samples ? res->srv_cpu_last - res->srv_cpu_first : 0;
}

/* The observed value, or NAN when there is no data for it. */
static double observe(const load_threshold_t *t, const load_results_t *res) {
  const hist_t *h = &res->lat;
  double n;

  switch (t->metric) {
    case LOAD_M_DURATION:
      if (h->total == 0)
        return NAN;
      switch (t->agg) {
        case LOAD_A_AVG:
          return hist_mean(h);
        case LOAD_A_MIN:
          return (double)h->min;
        case LOAD_A_MED:
          return (double)hist_percentile(h, 50);
        case LOAD_A_MAX:
          return (double)h->max;
        default:
          return (double)hist_percentile(h, t->pct);
      }
    case LOAD_M_FAILED:
      if (t->agg == LOAD_A_COUNT)
        return (double)res->failed;
      return res->reqs ? (double)res->failed / (double)res->reqs : NAN;
    case LOAD_M_REQS:
    case LOAD_M_ITERS:
    case LOAD_M_DROPPED:
      n = (double)(t->metric == LOAD_M_REQS    ? res->reqs
                   : t->metric == LOAD_M_ITERS ? res->iterations
                                               : res->dropped);
      return t->agg == LOAD_A_RATE ? per_s(res, n) : n;
    case LOAD_M_SRV_RSS:
    case LOAD_M_SRV_PSS:
      if (res->srv_samples == 0)
        return NAN;
      if (t->agg == LOAD_A_PEAK)
        return (double)(t->metric == LOAD_M_SRV_RSS ? res->srv_rss_peak
                                                    : res->srv_pss_peak);
      return (t->metric == LOAD_M_SRV_RSS ? res->srv_rss_sum : res->srv_pss_sum) /
             res->srv_samples;
    case LOAD_M_SRV_CPU:
      if (res->srv_samples == 0)
        return NAN;
      if (t->agg == LOAD_A_COUNT)
        return srv_cpu(res);
      return res->reqs ? srv_cpu(res) * 1e6 / (double)res->reqs : NAN;
  }
  return NAN;
}

static int holds(int op, double v, double limit) {
  switch (op) {
    case LOAD_OP_LT:
      return v < limit;
    case LOAD_OP_LE:
      return v <= limit;
    case LOAD_OP_GT:
      return v > limit;
    case LOAD_OP_GE:
      return v >= limit;
    case LOAD_OP_EQ:
      return v == limit;
    default:
      return v != limit;
  }
}

int load_thresholds_eval(load_opts_t *o, const load_results_t *res) {
  int failed = 0;
  for (int i = 0; i < o->nthresholds; i++) {
    load_threshold_t *t = &o->thresholds[i];
    t->observed = observe(t, res);
    /* No data is a failure: a threshold nobody could check protects
     * nothing. */
    t->ok = !isnan(t->observed) && holds(t->op, t->observed, t->limit);
    failed += !t->ok;
  }
  return failed;
}

/* The observed value in the threshold's unit, for people. */
static void fmt_observed(char *buf, size_t n, const load_threshold_t *t) {
  char v[40];
  static const char *const agg_names[] = {"avg",  "min",   "med",  "max",  "p",
                                          "rate", "count", "peak", "mean", "per_req"};
  const char *an = agg_names[t->agg];
  char pn[24];

  if (t->agg == LOAD_A_P) {
    snprintf(pn, sizeof(pn), "p(%g)", t->pct);
    an = pn;
  }
  if (isnan(t->observed)) {
    snprintf(buf, n, "%s=no data", an);
    return;
  }
  if (is_duration(t))
    load_fmt_duration(v, sizeof(v), t->observed);
  else if (t->metric == LOAD_M_FAILED && t->agg == LOAD_A_RATE)
    snprintf(v, sizeof(v), "%.2f%%", t->observed * 100);
  else if (t->metric == LOAD_M_SRV_RSS || t->metric == LOAD_M_SRV_PSS)
    load_fmt_bytes(v, sizeof(v), t->observed);
  else
    snprintf(v, sizeof(v), "%.6g", t->observed);
  snprintf(buf, n, "%s=%s", an, v);
}

/* ---- the summary ---- */

/* ✓ or ✗ when the metric has thresholds, as k6 marks them. */
static const char *mark(const load_opts_t *o, int metric) {
  int any = 0, ok = 1;
  for (int i = 0; i < o->nthresholds; i++)
    if (o->thresholds[i].metric == metric) {
      any = 1;
      ok &= o->thresholds[i].ok;
    }
  return !any ? NULL : ok ? "\xe2\x9c\x93" : "\xe2\x9c\x97";
}

static void name(FILE *f, const char *mk, const char *nm, int indent) {
  int len = (int)strlen(nm);
  if (mk)
    fprintf(f, "%*s%s %s", 3 + indent, "", mk, nm);
  else
    fprintf(f, "%*s%s", 5 + indent, "", nm);
  for (int i = len + indent; i < NAME_WIDTH; i++) fputc('.', f);
  fputs(": ", f);
}

static void dur_line(FILE *f, const hist_t *h) {
  static const char *const labels[] = {"avg",   "min",   "med",   "max",
                                       "p(90)", "p(95)", "p(99)", "p(99.9)"};
  double v[8];
  char line[256], b[32];
  size_t n = 0;

  v[0] = hist_mean(h);
  v[1] = h->total ? (double)h->min : 0;
  v[2] = (double)hist_percentile(h, 50);
  v[3] = (double)h->max;
  v[4] = (double)hist_percentile(h, 90);
  v[5] = (double)hist_percentile(h, 95);
  v[6] = (double)hist_percentile(h, 99);
  v[7] = (double)hist_percentile(h, 99.9);
  for (int i = 0; i < 8; i++) {
    int w = (int)strlen(labels[i]) + 9; /* k6 pads each figure to a column */
    load_fmt_duration(b, sizeof(b), v[i]);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s=%-*s", i ? " " : "",
                          labels[i], w - (int)strlen(labels[i]) - 1, b);
  }
  while (n > 0 && line[n - 1] == ' ') line[--n] = '\0';
  fprintf(f, "%s\n", line);
}

static void counter_line(FILE *f, const char *mk, const char *nm, uint64_t n,
                         double rate) {
  char c[32], r[32];
  name(f, mk, nm, 0);
  snprintf(c, sizeof(c), "%" PRIu64, n);
  snprintf(r, sizeof(r), "%.2f/s", rate);
  fprintf(f, "%-6s %s\n", c, r);
}

static void bytes_line(FILE *f, const char *nm, uint64_t n, double rate) {
  char c[32], r[32];
  name(f, NULL, nm, 0);
  load_fmt_bytes(c, sizeof(c), (double)n);
  load_fmt_bytes(r, sizeof(r), rate);
  fprintf(f, "%-6s %s/s\n", c, r);
}

/* http_reqs by status code, as k6's submetrics { status:200 } read. */
static void status_lines(FILE *f, const load_results_t *res) {
  for (int c = 0; c < LOAD_STATUS_CODES; c++) {
    char sub[32], n[32];
    if (res->status_code[c] == 0)
      continue;
    snprintf(sub, sizeof(sub), c ? "{ status:%d }" : "{ status:none }", c);
    name(f, NULL, sub, 2);
    snprintf(n, sizeof(n), "%" PRIu64, res->status_code[c]);
    fprintf(f, "%-6s %.2f/s\n", n, per_s(res, (double)res->status_code[c]));
  }
}

static void server_lines(FILE *f, const load_opts_t *o, const load_results_t *res) {
  char a[32], b[32], c[32];
  double cpu = srv_cpu(res);

  name(f, mark(o, LOAD_M_SRV_CPU), "server_cpu", 0);
  load_fmt_duration(c, sizeof(c), res->reqs ? cpu * 1e6 / (double)res->reqs : 0);
  fprintf(f, "%.2fs  %.2f cores  %s/req\n", cpu,
          res->elapsed_s > 0 ? cpu / res->elapsed_s : 0, c);
  name(f, mark(o, LOAD_M_SRV_RSS), "server_rss", 0);
  load_fmt_bytes(a, sizeof(a), (double)res->srv_rss_peak);
  load_fmt_bytes(b, sizeof(b),
                 res->srv_samples ? res->srv_rss_sum / res->srv_samples : 0);
  fprintf(f, "peak=%s mean=%s\n", a, b);
  name(f, mark(o, LOAD_M_SRV_PSS), "server_pss", 0);
  load_fmt_bytes(a, sizeof(a), (double)res->srv_pss_peak);
  load_fmt_bytes(b, sizeof(b),
                 res->srv_samples ? res->srv_pss_sum / res->srv_samples : 0);
  fprintf(f, "peak=%s mean=%s\n", a, b);
  name(f, NULL, "server_procs", 0);
  fprintf(f, "%d max  %d samples\n", res->srv_procs_max, res->srv_samples);
}

void load_summary_print(FILE *f, const load_opts_t *o, const load_results_t *res) {
  /* k6 lists metrics alphabetically: these come after http_req_failed. */
  static const int after[] = {LOAD_PH_RECEIVING, LOAD_PH_SENDING, LOAD_PH_WAITING};
  int kinds = 0;
  char a[32];

  for (int k = 0; k < LOAD_K_COUNT; k++) kinds += res->reqs_kind[k] > 0;
  fputc('\n', f);
  bytes_line(f, "data_received", res->bytes_recv, per_s(res, (double)res->bytes_recv));
  bytes_line(f, "data_sent", res->bytes_sent, per_s(res, (double)res->bytes_sent));
  if (o->model == LOAD_OPEN || res->dropped)
    counter_line(f, mark(o, LOAD_M_DROPPED), "dropped_iterations", res->dropped,
                 per_s(res, (double)res->dropped));
  for (int p = LOAD_PH_BLOCKED; p <= LOAD_PH_CONNECTING; p++) {
    name(f, NULL, phase_names[p], 0);
    dur_line(f, &res->phase[p]);
  }
  name(f, mark(o, LOAD_M_DURATION), "http_req_duration", 0);
  dur_line(f, &res->lat);
  if (kinds > 1)
    for (int k = 0; k < LOAD_K_COUNT; k++) {
      char sub[48];
      if (res->reqs_kind[k] == 0)
        continue;
      snprintf(sub, sizeof(sub), "{ kind:%s }", load_kind_name(k));
      name(f, NULL, sub, 2);
      dur_line(f, &res->lat_kind[k]);
    }
  name(f, mark(o, LOAD_M_FAILED), "http_req_failed", 0);
  snprintf(a, sizeof(a), "%.2f%%",
           res->reqs ? 100.0 * (double)res->failed / (double)res->reqs : 0);
  fprintf(f, "%-6s %" PRIu64 " out of %" PRIu64 "\n", a, res->failed, res->reqs);
  if (res->failed) {
    name(f, NULL, "{ status }", 2);
    fprintf(f,
            "none=%" PRIu64 " 1xx=%" PRIu64 " 2xx=%" PRIu64 " 3xx=%" PRIu64
            " 4xx=%" PRIu64 " 5xx=%" PRIu64 " (connection errors %" PRIu64
            ", timeouts %" PRIu64 ")\n",
            res->status_class[0], res->status_class[1], res->status_class[2],
            res->status_class[3], res->status_class[4], res->status_class[5],
            res->conn_errors, res->timeouts);
  }
  for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
    name(f, NULL, phase_names[after[i]], 0);
    dur_line(f, &res->phase[after[i]]);
  }
  counter_line(f, mark(o, LOAD_M_REQS), "http_reqs", res->reqs,
               per_s(res, (double)res->reqs));
  status_lines(f, res);
  name(f, NULL, phase_names[LOAD_PH_ITERATION], 0);
  dur_line(f, &res->phase[LOAD_PH_ITERATION]);
  counter_line(f, mark(o, LOAD_M_ITERS), "iterations", res->iterations,
               per_s(res, (double)res->iterations));
  name(f, NULL, "vus", 0);
  snprintf(a, sizeof(a), "%u", res->vus_max);
  fprintf(f, "%-6s min=%-8u max=%u\n", a, res->vus_min == UINT32_MAX ? 0 : res->vus_min,
          res->vus_max);
  name(f, NULL, "vus_max", 0);
  snprintf(a, sizeof(a), "%u", res->vus_alloc);
  fprintf(f, "%-6s min=%-8u max=%u\n", a, o->model == LOAD_OPEN ? o->vus : res->vus_alloc,
          res->vus_alloc);
  name(f, NULL, "loader_cpu", 0);
  fprintf(f, "%.2fs  %.0f%% of a core\n", res->self_cpu_s,
          res->elapsed_s > 0 ? 100 * res->self_cpu_s / res->elapsed_s : 0);
  if (o->nserver_pids)
    server_lines(f, o, res);
  if (o->nthresholds) {
    /* Grouped by metric, as k6 1.x lists them. */
    fputs("\n  thresholds:\n", f);
    for (int m = LOAD_M_DURATION; m <= LOAD_M_SRV_CPU; m++) {
      int shown = 0;
      for (int i = 0; i < o->nthresholds; i++) {
        const load_threshold_t *t = &o->thresholds[i];
        char ob[96];
        if (t->metric != m)
          continue;
        if (!shown++)
          fprintf(f, "\n    %s\n", metric_names[m]);
        fmt_observed(ob, sizeof(ob), t);
        fprintf(f, "    %s '%s' %s\n", t->ok ? "\xe2\x9c\x93" : "\xe2\x9c\x97", t->text,
                ob);
      }
    }
  }
  fputc('\n', f);
  load_fmt_duration(a, sizeof(a), res->elapsed_s * 1e6);
  fprintf(f, "%s (%s), %u/%u VUs, %" PRIu64 " complete iterations%s\n",
          res->interrupted ? "interrupted" : "finished", a, 0u, res->vus_alloc,
          res->iterations, res->dropped ? ", some dropped" : "");
}

/* ---- JSON ---- */

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static double ms(int64_t us) {
  return (double)us / 1e3;
}

static void json_dur(FILE *f, const hist_t *h) {
  fprintf(f,
          "{\"count\":%" PRIu64
          ",\"avg\":%.3f,\"min\":%.3f,\"med\":%.3f,\"max\":%.3f,"
          "\"stddev\":%.3f,\"p(90)\":%.3f,\"p(95)\":%.3f,\"p(99)\":%.3f,\"p(99.9)\":%.3f,"
          "\"p(99.99)\":%.3f}",
          h->total, hist_mean(h) / 1e3, ms(h->total ? h->min : 0),
          ms(hist_percentile(h, 50)), ms(h->max), hist_stddev(h) / 1e3,
          ms(hist_percentile(h, 90)), ms(hist_percentile(h, 95)),
          ms(hist_percentile(h, 99)), ms(hist_percentile(h, 99.9)),
          ms(hist_percentile(h, 99.99)));
}

static const char *unit_name(const load_threshold_t *t) {
  if (t->metric == LOAD_M_FAILED && t->agg == LOAD_A_RATE)
    return "fraction";
  if (t->metric == LOAD_M_SRV_RSS || t->metric == LOAD_M_SRV_PSS)
    return "bytes";
  if (t->metric == LOAD_M_SRV_CPU)
    return "s";
  return t->agg == LOAD_A_RATE ? "per_s" : "count";
}

static void json_num(FILE *f, double v) {
  if (isnan(v) || isinf(v))
    fputs("null", f);
  else
    fprintf(f, "%.6g", v);
}

int load_summary_json(FILE *f, const load_opts_t *o, const load_results_t *res) {
  double pct[256];
  int64_t val[256];
  size_t n;
  int first = 1;

  fprintf(f, "{\"version\":\"%s\",\"target\":", LOAD_VERSION);
  json_str(f, o->url ? o->url : "");
  fprintf(f,
          ",\"model\":\"%s\",\"options\":{\"vus\":%u,\"max_vus\":%u,\"rate\":%.6g,"
          "\"duration_ms\":%" PRIu64 ",\"stages\":[",
          o->model == LOAD_OPEN ? "open" : "closed", o->vus, o->max_vus, o->rate,
          load_opts_total_ms(o));
  for (int i = 0; i < o->nstages; i++)
    fprintf(f, "%s{\"duration_ms\":%" PRIu64 ",\"target\":%.6g}", i ? "," : "",
            o->stages[i].dur_ms, o->stages[i].target);
  fprintf(f,
          "],\"scenario\":{\"get\":%u,\"crud\":%u,\"dashboard\":%u,\"transform\":%u}},",
          o->weights[LOAD_SC_GET], o->weights[LOAD_SC_CRUD],
          o->weights[LOAD_SC_DASHBOARD], o->weights[LOAD_SC_TRANSFORM]);
  fprintf(f, "\"elapsed_s\":%.3f,\"interrupted\":%s,\"metrics\":{", res->elapsed_s,
          res->interrupted ? "true" : "false");
  fputs("\"http_req_duration\":", f);
  json_dur(f, &res->lat);
  for (int p = 0; p < LOAD_PH_COUNT; p++) {
    fprintf(f, ",\"%s\":", phase_names[p]);
    json_dur(f, &res->phase[p]);
  }
  fputs(",\"http_req_duration_by_kind\":{", f);
  for (int k = 0; k < LOAD_K_COUNT; k++) {
    if (res->reqs_kind[k] == 0)
      continue;
    fprintf(f, "%s\"%s\":", first ? "" : ",", load_kind_name(k));
    json_dur(f, &res->lat_kind[k]);
    first = 0;
  }
  fprintf(
      f,
      "},\"http_req_failed\":{\"value\":%.6g,\"failed\":%" PRIu64 ",\"total\":%" PRIu64
      "},"
      "\"http_reqs\":{\"count\":%" PRIu64
      ",\"rate\":%.3f},"
      "\"iterations\":{\"count\":%" PRIu64
      ",\"rate\":%.3f},"
      "\"dropped_iterations\":{\"count\":%" PRIu64
      ",\"rate\":%.3f},"
      "\"data_received\":{\"count\":%" PRIu64
      ",\"rate\":%.1f},"
      "\"data_sent\":{\"count\":%" PRIu64
      ",\"rate\":%.1f},"
      "\"vus\":{\"min\":%u,\"max\":%u},\"vus_max\":{\"value\":%u},",
      res->reqs ? (double)res->failed / (double)res->reqs : 0, res->failed, res->reqs,
      res->reqs, per_s(res, (double)res->reqs), res->iterations,
      per_s(res, (double)res->iterations), res->dropped, per_s(res, (double)res->dropped),
      res->bytes_recv, per_s(res, (double)res->bytes_recv), res->bytes_sent,
      per_s(res, (double)res->bytes_sent), res->vus_min == UINT32_MAX ? 0 : res->vus_min,
      res->vus_max, res->vus_alloc);
  fprintf(f,
          "\"status\":{\"none\":%" PRIu64 ",\"1xx\":%" PRIu64 ",\"2xx\":%" PRIu64
          ",\"3xx\":%" PRIu64 ",\"4xx\":%" PRIu64 ",\"5xx\":%" PRIu64
          "},"
          "\"errors\":{\"connection\":%" PRIu64 ",\"timeout\":%" PRIu64
          ",\"reconnects\":%" PRIu64 "},\"loader_cpu_s\":%.3f",
          res->status_class[0], res->status_class[1], res->status_class[2],
          res->status_class[3], res->status_class[4], res->status_class[5],
          res->conn_errors, res->timeouts, res->reconnects, res->self_cpu_s);
  fputs(",\"status_codes\":{", f);
  first = 1;
  for (int c = 0; c < LOAD_STATUS_CODES; c++)
    if (res->status_code[c]) {
      if (c)
        fprintf(f, "%s\"%d\":%" PRIu64, first ? "" : ",", c, res->status_code[c]);
      else
        fprintf(f, "%s\"none\":%" PRIu64, first ? "" : ",", res->status_code[c]);
      first = 0;
    }
  fputc('}', f);
  if (o->nserver_pids) {
    double cpu = srv_cpu(res);
    fprintf(f,
            ",\"server\":{\"samples\":%d,\"procs_max\":%d,\"rss_peak\":%" PRIu64
            ",\"rss_mean\":%.0f,\"pss_peak\":%" PRIu64
            ",\"pss_mean\":%.0f,\"cpu_s\":%.3f,"
            "\"cpu_cores\":%.3f,\"cpu_per_req_us\":%.3f}",
            res->srv_samples, res->srv_procs_max, res->srv_rss_peak,
            res->srv_samples ? res->srv_rss_sum / res->srv_samples : 0, res->srv_pss_peak,
            res->srv_samples ? res->srv_pss_sum / res->srv_samples : 0, cpu,
            res->elapsed_s > 0 ? cpu / res->elapsed_s : 0,
            res->reqs ? cpu * 1e6 / (double)res->reqs : 0);
  }
  fputs("},\"spectrum\":[", f);
  n = hist_spectrum(&res->lat, 5, pct, val, sizeof(pct) / sizeof(pct[0]));
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%s{\"percentile\":%.6g,\"ms\":%.3f}", i ? "," : "", pct[i], ms(val[i]));
  fputs("],\"thresholds\":[", f);
  first = 1;
  for (int i = 0; i < o->nthresholds; i++) {
    const load_threshold_t *t = &o->thresholds[i];
    fprintf(f, "%s{\"metric\":\"%s\",\"expr\":", i ? "," : "", metric_names[t->metric]);
    json_str(f, t->text);
    fprintf(f, ",\"ok\":%s,\"observed\":", t->ok ? "true" : "false");
    json_num(f, load_threshold_json_value(t));
    fprintf(f, ",\"unit\":\"%s\"}", is_duration(t) ? "ms" : unit_name(t));
    first &= t->ok;
  }
  fprintf(f, "],\"thresholds_ok\":%s}\n", first ? "true" : "false");
  return ferror(f) ? UV_EIO : 0;
}

/* ---- timeline ---- */

/* The timeline's columns, named the same in CSV and NDJSON. */
static const char *const tl_fields[] = {
    "time",   "t_s",        "reqs",       "rps",          "p50_ms",
    "p90_ms", "p99_ms",     "max_ms",     "errors",       "dropped",
    "vus",    "server_rss", "server_pss", "server_cpu_s", "server_cpu_cores"};
#define TL_NFIELDS (sizeof(tl_fields) / sizeof(tl_fields[0]))

void load_timeline_header(FILE *f, int csv) {
  if (!csv)
    return;
  for (size_t i = 0; i < TL_NFIELDS; i++) fprintf(f, "%s%s", i ? "," : "", tl_fields[i]);
  fputc('\n', f);
}

/* The values as text: NULL where nothing was sampled (null in NDJSON,
 * an empty cell in CSV). */
static void tl_values(const load_second_t *s, int srv, char v[][40]) {
  int lat = s->reqs > 0, sv = srv && s->srv_ok;
  char *p = v[0];
  load_fmt_time(p, 40, s->wall_s, 3);
  snprintf(v[1], 40, "%.3f", s->t_s);
  snprintf(v[2], 40, "%" PRIu64, s->reqs);
  snprintf(v[3], 40, "%.1f", s->dt_s > 0 ? (double)s->reqs / s->dt_s : 0);
  snprintf(v[4], 40, lat ? "%.3f" : "", ms(s->p50));
  snprintf(v[5], 40, lat ? "%.3f" : "", ms(s->p90));
  snprintf(v[6], 40, lat ? "%.3f" : "", ms(s->p99));
  snprintf(v[7], 40, lat ? "%.3f" : "", ms(s->max));
  snprintf(v[8], 40, "%" PRIu64, s->failed);
  snprintf(v[9], 40, "%" PRIu64, s->dropped);
  snprintf(v[10], 40, "%u", s->vus);
  snprintf(v[11], 40, sv ? "%" PRIu64 : "", s->srv.rss);
  snprintf(v[12], 40, sv && s->srv.pss ? "%" PRIu64 : "", s->srv.pss);
  snprintf(v[13], 40, sv ? "%.3f" : "", s->srv.cpu_s);
  snprintf(v[14], 40, sv && s->srv_cpu_cores >= 0 ? "%.3f" : "", s->srv_cpu_cores);
}

void load_timeline_line(FILE *f, int csv, const load_second_t *s, int srv) {
  char v[TL_NFIELDS][40];

  tl_values(s, srv, v);
  if (!csv)
    fputc('{', f);
  for (size_t i = 0; i < TL_NFIELDS; i++) {
    if (csv)
      fprintf(f, "%s%s", i ? "," : "", v[i]);
    else if (i == 0)
      fprintf(f, "\"%s\":\"%s\"", tl_fields[i], v[i]);
    else
      fprintf(f, ",\"%s\":%s", tl_fields[i], v[i][0] ? v[i] : "null");
  }
  fputs(csv ? "\n" : "}\n", f);
  fflush(f);
}
