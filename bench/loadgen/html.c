/* --report FILE.html: one self-contained page, the way k6's web dashboard
 * exports a report, but without a line of script: every chart is an
 * inline SVG drawn here from the per-second record of the run (request
 * rate, p50/p90/p99 latency, VUs, errors and, with --server-pid, the
 * server's RSS and CPU), followed by the summary table and the
 * thresholds. No network, no external script, style sheet or font, so the
 * file opens anywhere and can be archived beside the run's JSON. */
#include "load.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <uv.h>

#define W 720
#define H 220
#define PAD_L 70
#define PAD_R 16
#define PAD_T 28
#define PAD_B 28
#define MAX_SERIES 3
/* The run's last, partial second is left out of the charts when it is a
 * sliver: a rate over 20 ms is noise. */
#define MIN_DT 0.25

typedef double (*value_fn)(const load_second_t *s, int series);

typedef struct chart_s {
  const char *id, *title, *unit;
  int nseries;
  const char *names[MAX_SERIES];
  const char *colors[MAX_SERIES];
  value_fn value; /* NAN where nothing was sampled */
} chart_t;

static void esc(FILE *f, const char *s) {
  for (; *s; s++) switch (*s) {
      case '<':
        fputs("&lt;", f);
        break;
      case '>':
        fputs("&gt;", f);
        break;
      case '&':
        fputs("&amp;", f);
        break;
      case '"':
        fputs("&quot;", f);
        break;
      default:
        fputc(*s, f);
    }
}

static double v_rps(const load_second_t *s, int i) {
  return s->dt_s > 0 ? (double)s->reqs / s->dt_s : 0;
}

static double v_lat(const load_second_t *s, int i) {
  int64_t v = i == 0 ? s->p50 : i == 1 ? s->p90 : s->p99;
  return s->reqs ? (double)v / 1e3 : NAN;
}

static double v_vus(const load_second_t *s, int i) {
  return i == 0 ? s->vus : s->vus_max;
}

static double v_err(const load_second_t *s, int i) {
  return i == 0 ? (double)s->failed : (double)s->dropped;
}

static double v_rss(const load_second_t *s, int i) {
  return s->srv_ok ? (double)s->srv.rss / 1048576.0 : NAN;
}

static double v_cpu(const load_second_t *s, int i) {
  return s->srv_ok && s->srv_cpu_cores >= 0 ? s->srv_cpu_cores : NAN;
}

static void range(const chart_t *c, const load_results_t *res, double *tmax,
                  double *vmax) {
  *tmax = 1;
  *vmax = 0;
  for (size_t k = 0; k < res->nseconds; k++) {
    const load_second_t *s = &res->seconds[k];
    if (s->t_s > *tmax)
      *tmax = s->t_s;
    for (int i = 0; i < c->nseries; i++) {
      double v = s->dt_s < MIN_DT ? NAN : c->value(s, i);
      if (!isnan(v) && v > *vmax)
        *vmax = v;
    }
  }
  *vmax = *vmax > 0 ? *vmax * 1.1 : 1;
}

static void axes(FILE *f, double tmax, double vmax, const char *unit) {
  for (int g = 0; g <= 4; g++) {
    double y = PAD_T + (H - PAD_T - PAD_B) * (1 - g / 4.0);
    fprintf(f,
            "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>"
            "<text x=\"%d\" y=\"%.1f\" class=\"ylab\">%.*f</text>\n",
            PAD_L, y, W - PAD_R, y, PAD_L - 6, y + 4, vmax >= 40 ? 0 : 2, vmax * g / 4);
  }
  for (int g = 0; g <= 4; g++) {
    double x = PAD_L + (W - PAD_L - PAD_R) * g / 4.0;
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"xlab\">%.3gs</text>\n", x, H - 8,
            tmax * g / 4);
  }
  fprintf(f, "<text x=\"%d\" y=\"16\" class=\"unit\">", PAD_L);
  esc(f, unit);
  fputs("</text>\n", f);
}

/* One series as a path; a second with nothing sampled breaks the line. */
static void series(FILE *f, const chart_t *c, const load_results_t *res, int i,
                   double tmax, double vmax) {
  int pen = 0;
  fprintf(f, "<path class=\"series\" stroke=\"%s\" data-series=\"", c->colors[i]);
  esc(f, c->names[i]);
  fputs("\" d=\"", f);
  for (size_t k = 0; k < res->nseconds; k++) {
    const load_second_t *s = &res->seconds[k];
    double v = s->dt_s < MIN_DT ? NAN : c->value(s, i);
    double x = PAD_L + (W - PAD_L - PAD_R) * s->t_s / tmax;
    double y = PAD_T + (H - PAD_T - PAD_B) * (1 - v / vmax);
    if (isnan(v)) {
      pen = 0;
      continue;
    }
    fprintf(f, "%s%.1f %.1f ", pen ? "L" : "M", x, y);
    pen = 1;
  }
  fputs("\"/>\n", f);
}

static void chart(FILE *f, const chart_t *c, const load_results_t *res) {
  double tmax, vmax;

  range(c, res, &tmax, &vmax);
  fprintf(f, "<section class=\"chart\" id=\"%s\"><h3>", c->id);
  esc(f, c->title);
  fputs("</h3><div class=\"legend\">", f);
  for (int i = 0; i < c->nseries; i++) {
    fprintf(f, "<span style=\"color:%s\">&#9632; ", c->colors[i]);
    esc(f, c->names[i]);
    fputs("</span> ", f);
  }
  fprintf(f,
          "</div>\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
          "width=\"%d\" height=\"%d\" role=\"img\">\n",
          W, H, W, H);
  axes(f, tmax, vmax, c->unit);
  for (int i = 0; i < c->nseries; i++) series(f, c, res, i, tmax, vmax);
  fputs("</svg></section>\n", f);
}

static void head(FILE *f, const load_opts_t *o, const load_results_t *res) {
  char when[48];
  load_fmt_time(when, sizeof(when), res->t0_unix, 0);
  fputs(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>looplab-load report: ",
      f);
  esc(f, o->url);
  fputs(
      "</title>\n<style>\n"
      "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}\n"
      "h1{font-size:20px}h2{font-size:17px;margin-top:28px}h3{font-size:15px;margin:4px "
      "0}\n"
      ".chart{display:inline-block;margin:8px 16px 8px 0;vertical-align:top}\n"
      ".legend{font-size:12px}\n"
      ".grid{stroke:#ddd;stroke-width:1}.series{fill:none;stroke-width:2}\n"
      ".ylab{font-size:11px;text-anchor:end;fill:#555}\n"
      ".xlab{font-size:11px;text-anchor:middle;fill:#555}.unit{font-size:11px;fill:#555}"
      "\n"
      "table{border-collapse:collapse;font-size:13px}\n"
      "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
      "td:first-child,th:first-child{text-align:left}\n"
      ".ok{color:#1a7f37}.fail{color:#c62828;font-weight:bold}\n"
      "</style></head><body>\n<h1>looplab-load report</h1>\n<p>target <code>",
      f);
  esc(f, o->url);
  fprintf(f,
          "</code>, %s model, started %s, ran %.2f s%s, %" PRIu64
          " requests, %zu seconds recorded</p>\n",
          o->model == LOAD_OPEN ? "open" : "closed", when, res->elapsed_s,
          res->interrupted ? " (interrupted)" : "", res->reqs, res->nseconds);
}

static void trend_row(FILE *f, const char *name, const hist_t *h) {
  static const double pcts[] = {50, 90, 95, 99};
  char b[32];
  fprintf(f, "<tr><td>%s</td><td>%" PRIu64 "</td>", name, h->total);
  load_fmt_duration(b, sizeof(b), hist_mean(h));
  fprintf(f, "<td>%s</td>", b);
  load_fmt_duration(b, sizeof(b), h->total ? (double)h->min : 0);
  fprintf(f, "<td>%s</td>", b);
  for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
    load_fmt_duration(b, sizeof(b), (double)hist_percentile(h, pcts[i]));
    fprintf(f, "<td>%s</td>", b);
  }
  load_fmt_duration(b, sizeof(b), (double)h->max);
  fprintf(f, "<td>%s</td></tr>\n", b);
}

static void summary_table(FILE *f, const load_results_t *res) {
  double el = res->elapsed_s > 0 ? res->elapsed_s : 1;
  fputs(
      "<h2>Summary</h2>\n<table id=\"summary\"><tr><th>trend</th><th>count</th>"
      "<th>avg</th><th>min</th><th>med</th><th>p(90)</th><th>p(95)</th><th>p(99)</th>"
      "<th>max</th></tr>\n",
      f);
  trend_row(f, "http_req_duration", &res->lat);
  for (int p = 0; p < LOAD_PH_COUNT; p++)
    trend_row(f, load_phase_name(p), &res->phase[p]);
  fputs(
      "</table>\n<table id=\"counters\"><tr><th>metric</th><th>value</th>"
      "<th>rate</th></tr>\n",
      f);
  fprintf(f, "<tr><td>http_reqs</td><td>%" PRIu64 "</td><td>%.2f/s</td></tr>\n",
          res->reqs, (double)res->reqs / el);
  fprintf(f, "<tr><td>http_req_failed</td><td>%" PRIu64 "</td><td>%.2f%%</td></tr>\n",
          res->failed, res->reqs ? 100.0 * (double)res->failed / (double)res->reqs : 0);
  for (int c = 0; c < LOAD_STATUS_CODES; c++)
    if (res->status_code[c])
      fprintf(f,
              "<tr><td>&nbsp;&nbsp;{ status:%d }</td><td>%" PRIu64
              "</td><td>%.2f/s</td></tr>\n",
              c, res->status_code[c], (double)res->status_code[c] / el);
  fprintf(f,
          "<tr><td>dropped_iterations</td><td>%" PRIu64
          "</td><td>%.2f/s</td></tr>\n"
          "<tr><td>data_received</td><td>%" PRIu64
          " B</td><td>%.0f B/s</td></tr>\n"
          "<tr><td>data_sent</td><td>%" PRIu64
          " B</td><td>%.0f B/s</td></tr>\n"
          "<tr><td>vus</td><td>max %u</td><td></td></tr>\n"
          "<tr><td>vus_max</td><td>%u</td><td></td></tr>\n</table>\n",
          res->dropped, (double)res->dropped / el, res->bytes_recv,
          (double)res->bytes_recv / el, res->bytes_sent, (double)res->bytes_sent / el,
          res->vus_max, res->vus_alloc);
}

static void thresholds_table(FILE *f, const load_opts_t *o) {
  fputs("<h2>Thresholds</h2>\n", f);
  if (o->nthresholds == 0) {
    fputs("<p id=\"thresholds\">none given</p>\n", f);
    return;
  }
  fputs(
      "<table id=\"thresholds\"><tr><th>threshold</th><th>metric</th>"
      "<th>observed</th><th>result</th></tr>\n",
      f);
  for (int i = 0; i < o->nthresholds; i++) {
    const load_threshold_t *t = &o->thresholds[i];
    fputs("<tr><td>", f);
    esc(f, t->text);
    fprintf(f, "</td><td>%s</td><td>", load_metric_name(t->metric));
    if (isnan(t->observed))
      fputs("no data", f);
    else
      fprintf(f, "%.6g", load_threshold_json_value(t));
    fprintf(f, "</td><td class=\"%s\">%s</td></tr>\n", t->ok ? "ok" : "fail",
            t->ok ? "&#10003; passed" : "&#10007; failed");
  }
  fputs("</table>\n", f);
}

int load_report_html(FILE *f, const load_opts_t *o, const load_results_t *res) {
  static const chart_t charts[] = {
      {"rate", "Request rate", "requests/s", 1, {"http_reqs"}, {"#1f77b4"}, v_rps},
      {"latency",
       "Latency (http_req_duration)",
       "ms",
       3,
       {"p(50)", "p(90)", "p(99)"},
       {"#2ca02c", "#ff7f0e", "#d62728"},
       v_lat},
      {"vus",
       "Virtual users",
       "VUs",
       2,
       {"vus", "vus_max"},
       {"#9467bd", "#bbbbbb"},
       v_vus},
      {"errors",
       "Errors",
       "per second",
       2,
       {"http_req_failed", "dropped_iterations"},
       {"#d62728", "#8c564b"},
       v_err},
  };
  static const chart_t server[] = {
      {"server_rss", "Server RSS", "MiB", 1, {"server_rss"}, {"#17becf"}, v_rss},
      {"server_cpu", "Server CPU", "cores", 1, {"server_cpu"}, {"#e377c2"}, v_cpu},
  };

  head(f, o, res);
  fputs("<h2>Over time</h2>\n", f);
  for (size_t i = 0; i < sizeof(charts) / sizeof(charts[0]); i++)
    chart(f, &charts[i], res);
  if (o->nserver_pids)
    for (size_t i = 0; i < sizeof(server) / sizeof(server[0]); i++)
      chart(f, &server[i], res);
  summary_table(f, res);
  thresholds_table(f, o);
  fputs("</body></html>\n", f);
  return ferror(f) ? UV_EIO : 0;
}
