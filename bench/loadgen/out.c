/* k6's sample streams: --out json=FILE writes NDJSON, one "Metric" line
 * declaring each metric and then one "Point" line per sample; --out
 * csv=FILE writes k6's CSV columns. Each request gives k6's samples
 * (http_reqs, http_req_duration and its phases, http_req_failed,
 * data_sent, data_received, iterations, iteration_duration) tagged as k6
 * tags them; vus, vus_max and dropped_iterations come once a second.
 * The stream is written through stdio's buffer; its cost is only paid
 * when asked for. */
#include "load.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <uv.h>

static const struct {
  const char *name, *type, *contains;
} metrics[] = {
    {"http_reqs", "counter", "default"},
    {"http_req_duration", "trend", "time"},
    {"http_req_blocked", "trend", "time"},
    {"http_req_connecting", "trend", "time"},
    {"http_req_tls_handshaking", "trend", "time"},
    {"http_req_sending", "trend", "time"},
    {"http_req_waiting", "trend", "time"},
    {"http_req_receiving", "trend", "time"},
    {"http_req_failed", "rate", "default"},
    {"data_sent", "counter", "data"},
    {"data_received", "counter", "data"},
    {"iterations", "counter", "default"},
    {"iteration_duration", "trend", "time"},
    {"vus", "gauge", "default"},
    {"vus_max", "gauge", "default"},
    {"dropped_iterations", "counter", "default"},
};

static const char *const methods[LOAD_K_COUNT] = {"GET",    "POST", "GET", "PUT", "PATCH",
                                                  "DELETE", "GET",  "GET", "POST"};
/* The name tag: the URL for the get scenario, else the route's template
 * (k6 users name dynamic URLs the same way, to keep series few). */
static const char *const routes[LOAD_K_COUNT] = {
    "",           "/items",     "/items/:id", "/items/:id",
    "/items/:id", "/items/:id", "/items",     "/customers/:id/dashboard",
    "/transform"};

void load_fmt_time(char *buf, size_t n, double unix_s, int digits) {
  time_t sec = (time_t)unix_s;
  double frac = unix_s - (double)sec;
  struct tm tm;
  char base[32], fr[16];
  long scale = 1;

  if (digits < 0 || digits > 9)
    digits = 9;
  for (int i = 0; i < digits; i++) scale *= 10;
  long f = (long)(frac * (double)scale + 0.5);
  if (f >= scale) {
    f -= scale;
    sec++;
  }
  gmtime_r(&sec, &tm);
  strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(fr, sizeof(fr), ".%0*ld", digits, f % 1000000000L);
  snprintf(buf, n, "%s%sZ", base, digits > 0 ? fr : "");
}

static void metric_line(FILE *f, const load_opts_t *o, size_t m) {
  int first = 1;
  fprintf(f,
          "{\"type\":\"Metric\",\"data\":{\"name\":\"%s\",\"type\":\"%s\","
          "\"contains\":\"%s\",\"tainted\":null,\"thresholds\":[",
          metrics[m].name, metrics[m].type, metrics[m].contains);
  for (int i = 0; i < o->nthresholds; i++) {
    const load_threshold_t *t = &o->thresholds[i];
    if (strcmp(load_metric_name(t->metric), metrics[m].name) != 0)
      continue;
    fputs(first ? "\"" : ",\"", f);
    for (const char *c = t->text; *c; c++)
      fprintf(f, *c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
    fputc('"', f);
    first = 0;
  }
  fprintf(f, "],\"submetrics\":null},\"metric\":\"%s\"}\n", metrics[m].name);
}

void load_out_begin(FILE *f, int csv, const load_opts_t *o) {
  if (csv) {
    fputs(
        "metric_name,timestamp,metric_value,check,error,error_code,group,method,name,"
        "proto,scenario,status,subproto,tls_version,url,extra_tags\n",
        f);
    return;
  }
  for (size_t m = 0; m < sizeof(metrics) / sizeof(metrics[0]); m++) metric_line(f, o, m);
}

/* What every sample of one request shares. */
typedef struct tags_s {
  char time[48];
  long unix_s;
  const char *method;
  char name[640];
  char url[640];
  char status[8];
  char error[64];
  const char *error_code;
  const char *expected;
  const char *kind;
} tags_t;

/* s made safe inside a JSON string (a URL rarely needs it). */
static void json_safe(char *dst, size_t n, const char *s) {
  size_t j = 0;
  for (; *s && j + 7 < n; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      j += (size_t)snprintf(dst + j, n - j, "\\%c", c);
    else if (c < 0x20)
      j += (size_t)snprintf(dst + j, n - j, "\\u%04x", c);
    else
      dst[j++] = (char)c;
  }
  dst[j] = '\0';
}

static void make_tags(tags_t *t, const load_opts_t *o, const load_reqsample_t *s) {
  load_fmt_time(t->time, sizeof(t->time), s->wall_s, 9);
  t->unix_s = (long)s->wall_s;
  t->method = methods[s->kind];
  char name[320];
  if (s->kind == LOAD_K_GET)
    snprintf(name, sizeof(name), "%s", o->url);
  else
    snprintf(name, sizeof(name), "http://%s:%s%s", o->host, o->port, routes[s->kind]);
  json_safe(t->name, sizeof(t->name), name);
  json_safe(t->url, sizeof(t->url), o->url);
  snprintf(t->status, sizeof(t->status), "%d", s->status);
  t->error[0] = '\0';
  t->error_code = "";
  if (!s->status) {
    snprintf(t->error, sizeof(t->error), "%s", uv_strerror(s->err));
    t->error_code = s->err == UV_ETIMEDOUT ? "1050" : "1000"; /* k6's codes */
  }
  t->expected = s->ok ? "true" : "false";
  t->kind = load_kind_name(s->kind);
}

static void json_point(FILE *f, const tags_t *t, const char *metric, double v) {
  fprintf(f,
          "{\"type\":\"Point\",\"data\":{\"time\":\"%s\",\"value\":%.6f,\"tags\":{"
          "\"expected_response\":\"%s\",\"group\":\"\",\"kind\":\"%s\",\"method\":\"%s\","
          "\"name\":\"%s\",\"proto\":\"HTTP/1.1\",\"scenario\":\"default\","
          "\"status\":\"%s\",\"url\":\"%s\"",
          t->time, v, t->expected, t->kind, t->method, t->name, t->status, t->url);
  if (t->error[0])
    fprintf(f, ",\"error\":\"%s\",\"error_code\":\"%s\"", t->error, t->error_code);
  fprintf(f, "}},\"metric\":\"%s\"}\n", metric);
}

static void csv_row(FILE *f, const tags_t *t, const char *metric, double v) {
  fprintf(f, "%s,%ld,%.6f,,%s,%s,,%s,%s,HTTP/1.1,default,%s,,,%s,kind=%s\n", metric,
          t->unix_s, v, t->error, t->error_code, t->method, t->name, t->status, t->url,
          t->kind);
}

void load_out_request(FILE *f, int csv, const load_opts_t *o, const load_reqsample_t *s) {
  static const int phase_metric[LOAD_PH_COUNT] = {2, 3, 5, 6, 7, 12};
  void (*emit)(FILE *, const tags_t *, const char *, double) = csv ? csv_row : json_point;
  tags_t t;

  make_tags(&t, o, s);
  emit(f, &t, "http_reqs", 1);
  if (s->timed) {
    emit(f, &t, "http_req_duration", s->duration);
    for (int p = LOAD_PH_BLOCKED; p <= LOAD_PH_RECEIVING; p++)
      emit(f, &t, metrics[phase_metric[p]].name, s->phase[p]);
    emit(f, &t, "http_req_tls_handshaking", 0);
  }
  emit(f, &t, "http_req_failed", s->ok ? 0 : 1);
  emit(f, &t, "data_sent", (double)s->sent);
  emit(f, &t, "data_received", (double)s->received);
  emit(f, &t, "iterations", 1);
  emit(f, &t, "iteration_duration", s->phase[LOAD_PH_ITERATION]);
}

static void gauge(FILE *f, int csv, const char *time, long unix_s, const char *metric,
                  double v) {
  if (csv)
    fprintf(f, "%s,%ld,%.6f,,,,,,,,,,,,,\n", metric, unix_s, v);
  else
    fprintf(f,
            "{\"type\":\"Point\",\"data\":{\"time\":\"%s\",\"value\":%.6f,\"tags\":null},"
            "\"metric\":\"%s\"}\n",
            time, v, metric);
}

void load_out_second(FILE *f, int csv, const load_second_t *s) {
  char time[48];
  load_fmt_time(time, sizeof(time), s->wall_s, 9);
  gauge(f, csv, time, (long)s->wall_s, "vus", s->vus);
  gauge(f, csv, time, (long)s->wall_s, "vus_max", s->vus_max);
  if (s->dropped)
    gauge(f, csv, time, (long)s->wall_s, "dropped_iterations", (double)s->dropped);
}
