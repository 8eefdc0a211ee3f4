/* --summary-export FILE: the end-of-test summary in the shape k6 writes
 * with the same flag, so that reporters built for k6 read it: a
 * root_group (no groups or checks here) and metrics by name, each in its
 * type's shape (trend: avg min med max p(90) p(95) p(99) count; counter:
 * count rate; rate: value passes fails; gauge: value min max), durations
 * in ms. Two of k6's quirks are kept on purpose, since the readers expect
 * them: a threshold maps to true when it FAILED, and for http_req_failed
 * "passes" counts the failed requests (the non-zero samples). */
#include "load.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <uv.h>

static double per_s(const load_results_t *res, double v) {
  return res->elapsed_s > 0 ? v / res->elapsed_s : 0;
}

static double ms(int64_t us) {
  return (double)us / 1e3;
}

static void str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++)
    if (*s == '"' || *s == '\\')
      fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      fprintf(f, "\\u%04x", (unsigned char)*s);
    else
      fputc(*s, f);
  fputc('"', f);
}

/* ,"thresholds":{"expr":failed,...} for the thresholds on metric. */
static void thresholds(FILE *f, const load_opts_t *o, const char *metric) {
  int n = 0;
  for (int i = 0; i < o->nthresholds; i++) {
    const load_threshold_t *t = &o->thresholds[i];
    if (strcmp(load_metric_name(t->metric), metric) != 0)
      continue;
    fputs(n++ ? "," : ",\"thresholds\":{", f);
    str(f, t->text);
    fprintf(f, ":%s", t->ok ? "false" : "true");
  }
  if (n)
    fputc('}', f);
}

static void trend(FILE *f, const load_opts_t *o, const char *name, const hist_t *h,
                  int *first) {
  fprintf(f,
          "%s\"%s\":{\"avg\":%.6f,\"min\":%.3f,\"med\":%.3f,\"max\":%.3f,\"p(90)\":%.3f,"
          "\"p(95)\":%.3f,\"p(99)\":%.3f,\"count\":%" PRIu64,
          *first ? "" : ",", name, hist_mean(h) / 1e3, ms(h->total ? h->min : 0),
          ms(hist_percentile(h, 50)), ms(h->max), ms(hist_percentile(h, 90)),
          ms(hist_percentile(h, 95)), ms(hist_percentile(h, 99)), h->total);
  thresholds(f, o, name);
  fputc('}', f);
  *first = 0;
}

static void counter(FILE *f, const load_opts_t *o, const load_results_t *res,
                    const char *name, uint64_t n) {
  fprintf(f, ",\"%s\":{\"count\":%" PRIu64 ",\"rate\":%.6f", name, n,
          per_s(res, (double)n));
  thresholds(f, o, name);
  fputc('}', f);
}

static void gauge(FILE *f, const char *name, double value, double min, double max) {
  fprintf(f, ",\"%s\":{\"value\":%.6g,\"min\":%.6g,\"max\":%.6g}", name, value, min, max);
}

static void rates_and_gauges(FILE *f, const load_opts_t *o, const load_results_t *res) {
  unsigned vmin = res->vus_min == UINT32_MAX ? 0 : res->vus_min;
  uint64_t ok = res->reqs - res->failed;

  fprintf(
      f, ",\"http_req_failed\":{\"value\":%.6g,\"passes\":%" PRIu64 ",\"fails\":%" PRIu64,
      res->reqs ? (double)res->failed / (double)res->reqs : 0, res->failed, ok);
  thresholds(f, o, "http_req_failed");
  fputc('}', f);
  gauge(f, "vus", 0, vmin, res->vus_max);
  gauge(f, "vus_max", res->vus_alloc, o->model == LOAD_OPEN ? o->vus : res->vus_alloc,
        res->vus_alloc);
}

int load_summary_export(FILE *f, const load_opts_t *o, const load_results_t *res) {
  int first = 1;

  fputs(
      "{\"root_group\":{\"name\":\"\",\"path\":\"\","
      "\"id\":\"d41d8cd98f00b204e9800998ecf8427e\",\"groups\":{},\"checks\":{}},"
      "\"metrics\":{",
      f);
  trend(f, o, "http_req_duration", &res->lat, &first);
  for (int p = 0; p < LOAD_PH_COUNT; p++)
    trend(f, o, load_phase_name(p), &res->phase[p], &first);
  for (int k = 0; k < LOAD_K_COUNT; k++) {
    char sub[64];
    if (res->reqs_kind[k] == 0)
      continue;
    snprintf(sub, sizeof(sub), "http_req_duration{kind:%s}", load_kind_name(k));
    trend(f, o, sub, &res->lat_kind[k], &first);
  }
  counter(f, o, res, "http_reqs", res->reqs);
  for (int c = 1; c < LOAD_STATUS_CODES; c++) {
    char sub[48];
    if (res->status_code[c] == 0)
      continue;
    snprintf(sub, sizeof(sub), "http_reqs{status:%d}", c);
    counter(f, o, res, sub, res->status_code[c]);
  }
  counter(f, o, res, "iterations", res->iterations);
  counter(f, o, res, "dropped_iterations", res->dropped);
  counter(f, o, res, "data_received", res->bytes_recv);
  counter(f, o, res, "data_sent", res->bytes_sent);
  rates_and_gauges(f, o, res);
  fputs("}}\n", f);
  return ferror(f) ? UV_EIO : 0;
}
