/* The flag parsers: durations, stages, thresholds and whole command
 * lines, including the one-line errors for bad ones. */
#include <check.h>
#include <math.h>
#include <string.h>
#include <uv.h>

#include "load.h"

START_TEST(durations) {
  uint64_t ms;
  static const struct {
    const char *s;
    uint64_t ms;
  } ok[] = {{"1m30s", 90000}, {"250ms", 250},      {"2h", 7200000}, {"1.5s", 1500},
            {"10", 10000},    {"1h2m3s", 3723000}, {"500us", 1},    {"0s", 0}};
  static const char *const bad[] = {"", "abc", "10x", "1m30", "-5s", "s", "1..5s"};

  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    ck_assert_int_eq(load_parse_duration_ms(ok[i].s, &ms), 0);
    ck_assert_uint_eq(ms, ok[i].ms);
  }
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ck_assert_msg(load_parse_duration_ms(bad[i], &ms) == UV_EINVAL, "'%s' accepted",
                  bad[i]);
}
END_TEST

START_TEST(sizes) {
  uint64_t b;
  ck_assert_int_eq(load_parse_size("100k", &b), 0);
  ck_assert_uint_eq(b, 100000);
  ck_assert_int_eq(load_parse_size("2MB", &b), 0);
  ck_assert_uint_eq(b, 2000000);
  ck_assert_int_eq(load_parse_size("512", &b), 0);
  ck_assert_uint_eq(b, 512);
  ck_assert_int_eq(load_parse_size("12q", &b), UV_EINVAL);
}
END_TEST

START_TEST(stages_and_targets) {
  load_opts_t o;
  int n;

  memset(&o, 0, sizeof(o));
  ck_assert_int_eq(
      load_parse_stages("30s:100,5m:100,30s:0", o.stages, LOAD_MAX_STAGES, &n), 0);
  ck_assert_int_eq(n, 3);
  ck_assert_uint_eq(o.stages[1].dur_ms, 300000);
  ck_assert(o.stages[1].target == 100);
  ck_assert_int_eq(load_parse_stages("30s", o.stages, LOAD_MAX_STAGES, &n), UV_EINVAL);
  ck_assert_int_eq(load_parse_stages("30s:", o.stages, LOAD_MAX_STAGES, &n), UV_EINVAL);
  ck_assert_int_eq(load_parse_stages("x:1", o.stages, LOAD_MAX_STAGES, &n), UV_EINVAL);
  ck_assert_int_eq(load_parse_stages("1s:1,", o.stages, LOAD_MAX_STAGES, &n), UV_EINVAL);
  ck_assert_int_eq(load_parse_stages("1s:-1", o.stages, LOAD_MAX_STAGES, &n), UV_EINVAL);

  ck_assert_int_eq(
      load_parse_stages("1s:10,1s:10,1s:0", o.stages, LOAD_MAX_STAGES, &o.nstages), 0);
  ck_assert_uint_eq(load_opts_total_ms(&o), 3000);
  ck_assert(fabs(load_opts_target_at(&o, 0, 0) - 0) < 1e-9);
  ck_assert(fabs(load_opts_target_at(&o, 0, 500) - 5) < 1e-9);
  ck_assert(fabs(load_opts_target_at(&o, 0, 1500) - 10) < 1e-9);
  ck_assert(fabs(load_opts_target_at(&o, 0, 2500) - 5) < 1e-9);
  ck_assert(fabs(load_opts_target_at(&o, 0, 3500) - 0) < 1e-9);
}
END_TEST

START_TEST(thresholds) {
  load_threshold_t t;

  ck_assert_int_eq(load_parse_threshold("p(99)<250ms", &t), 0);
  ck_assert_int_eq(t.metric, LOAD_M_DURATION);
  ck_assert_int_eq(t.agg, LOAD_A_P);
  ck_assert(t.pct == 99 && t.op == LOAD_OP_LT && t.limit == 250000);
  ck_assert_int_eq(load_parse_threshold("http_req_failed<0.01", &t), 0);
  ck_assert(t.metric == LOAD_M_FAILED && t.agg == LOAD_A_RATE && t.limit == 0.01);
  ck_assert_int_eq(load_parse_threshold("http_req_failed:rate<1%", &t), 0);
  ck_assert(fabs(t.limit - 0.01) < 1e-12);
  ck_assert_int_eq(load_parse_threshold("http_req_duration:med <= 10", &t), 0);
  ck_assert(t.agg == LOAD_A_MED && t.op == LOAD_OP_LE && t.limit == 10000);
  ck_assert_int_eq(load_parse_threshold("p(99.9)<1s", &t), 0);
  ck_assert(t.pct == 99.9 && t.limit == 1e6);
  ck_assert_int_eq(load_parse_threshold("http_reqs:rate>=1000", &t), 0);
  ck_assert(t.metric == LOAD_M_REQS && t.agg == LOAD_A_RATE && t.op == LOAD_OP_GE);
  ck_assert_int_eq(load_parse_threshold("dropped_iterations<1", &t), 0);
  ck_assert(t.metric == LOAD_M_DROPPED && t.agg == LOAD_A_COUNT);
  ck_assert_int_eq(load_parse_threshold("server_rss:peak<512M", &t), 0);
  ck_assert(t.metric == LOAD_M_SRV_RSS && t.limit == 512e6);
  ck_assert_int_eq(load_parse_threshold("server_cpu:per_req<1ms", &t), 0);
  ck_assert(t.metric == LOAD_M_SRV_CPU && t.limit == 1000);

  static const char *const bad[] = {
      "p(101)<1",        "foo<1",         "p(99)",   "avg<abc", "http_req_failed:p(99)<1",
      "http_reqs:avg<3", "server_rss<1q", "p(99)=<1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ck_assert_msg(load_parse_threshold(bad[i], &t) == UV_EINVAL, "'%s' accepted", bad[i]);
}
END_TEST

static int parse(load_opts_t *o, char *err, size_t n, const char *const *args) {
  char *argv[32];
  int argc = 0;
  argv[argc++] = "looplab-load";
  for (; *args; args++) argv[argc++] = (char *)*args;
  argv[argc] = NULL;
  return load_opts_parse(o, argc, argv, err, n);
}

START_TEST(command_lines) {
  load_opts_t o;
  char err[256];

  const char *closed[] = {
      "--url", "http://127.0.0.1:8080/livez", "--vus", "50", "--duration", "10s", NULL};
  ck_assert_int_eq(parse(&o, err, sizeof(err), closed), 0);
  ck_assert_int_eq(o.model, LOAD_CLOSED);
  ck_assert_uint_eq(o.vus, 50);
  ck_assert_str_eq(o.host, "127.0.0.1");
  ck_assert_str_eq(o.port, "8080");
  ck_assert_str_eq(o.path, "/livez");
  load_opts_free(&o);

  const char *open[] = {"--url=http://[::1]:9/x?y=1",
                        "--rate",
                        "500/s",
                        "--max-vus",
                        "20",
                        "-d",
                        "1m",
                        "--threshold",
                        "p(99)<250ms",
                        NULL};
  ck_assert_int_eq(parse(&o, err, sizeof(err), open), 0);
  ck_assert_int_eq(o.model, LOAD_OPEN);
  ck_assert(o.rate == 500);
  ck_assert_uint_eq(o.max_vus, 20);
  ck_assert_uint_eq(o.vus, 10);
  ck_assert_str_eq(o.host, "::1");
  ck_assert_str_eq(o.path, "/x?y=1");
  ck_assert_int_eq(o.nthresholds, 1);
  load_opts_free(&o);

  const char *crud[] = {"--scenario", "crud",      "--crud-mix", "create=1,read=1",
                        "--stages",   "1s:5,1s:0", NULL};
  ck_assert_int_eq(parse(&o, err, sizeof(err), crud), 0);
  ck_assert_uint_eq(o.weights[LOAD_SC_CRUD], 1);
  ck_assert_uint_eq(o.weights[LOAD_SC_GET], 0);
  ck_assert_uint_eq(o.crud_mix[LOAD_OP_DELETE], 0);
  ck_assert_str_eq(o.port, "8080");
  load_opts_free(&o);

  const char *help[] = {"--vus", "2", "--help", NULL};
  ck_assert_int_eq(parse(&o, err, sizeof(err), help), LOAD_OPTS_HELP);
  load_opts_free(&o);
}
END_TEST

START_TEST(bad_command_lines) {
  static const char *const cases[][8] = {
      {"--url", "http://h/", "--vus", "abc", NULL},
      {"--url", "http://h/", "--vus", "0", NULL},
      {"--url", "http://h/", "--duration", "5s", "--stages", "1s:1", NULL},
      {"--url", "http://h/", "--max-vus", "5", NULL},
      {"--url", "http://h/", "--frobnicate", NULL},
      {"--url", "http://h/", "--duration", NULL},
      {"--vus", "2", NULL},
      {"--url", "https://h/", NULL},
      {"--url", "http://h:99999/", NULL},
      {"--scenario", "transform", NULL},
      {"--scenario", "nope", NULL},
      {"--url", "http://h/", "--threshold", "p(99)<soon", NULL},
      {"--url", "http://h/", "--rate", "0", NULL},
      {"--url", "http://h/", "--sleep", "2s-1s", NULL},
      {"--url", "http://h/", "--quiet=1", NULL},
      {"stray", NULL},
      {"--url", "http://h/", "--out", "xml=f.xml", NULL},
      {"--url", "http://h/", "--out", "json=", NULL},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    load_opts_t o;
    char err[256];
    ck_assert_msg(parse(&o, err, sizeof(err), cases[i]) == UV_EINVAL, "case %zu accepted",
                  i);
    ck_assert_msg(err[0] != '\0' && strchr(err, '\n') == NULL, "case %zu: '%s'", i, err);
    load_opts_free(&o);
  }
}
END_TEST

/* k6's output flags: --out json=FILE / csv=FILE (repeatable, -o too),
 * --summary-export, --report. */
START_TEST(output_flags) {
  const char *args[] = {"--url",
                        "http://h/",
                        "-o",
                        "json=a.ndjson",
                        "--out=csv=b.csv",
                        "--summary-export",
                        "e.json",
                        "--report",
                        "r.html",
                        NULL};
  load_opts_t o;
  char err[256];
  ck_assert_int_eq(parse(&o, err, sizeof(err), args), LOAD_OPTS_RUN);
  ck_assert_int_eq(o.nouts, 2);
  ck_assert_str_eq(o.outs[0], "a.ndjson");
  ck_assert_int_eq(o.out_csv[0], 0);
  ck_assert_str_eq(o.outs[1], "b.csv");
  ck_assert_int_eq(o.out_csv[1], 1);
  ck_assert_str_eq(o.summary_export, "e.json");
  ck_assert_str_eq(o.report, "r.html");
  load_opts_free(&o);
  const char *unknown[] = {"--url", "http://h/", "-x", NULL};
  ck_assert_int_eq(parse(&o, err, sizeof(err), unknown), UV_EINVAL);
  ck_assert_str_eq(err, "unknown option '-x' (see --help)");
  load_opts_free(&o);
}
END_TEST

Suite *loadgen_opts_suite(void) {
  Suite *s = suite_create("loadgen_opts");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, durations);
  tcase_add_test(tc, sizes);
  tcase_add_test(tc, stages_and_targets);
  tcase_add_test(tc, thresholds);
  tcase_add_test(tc, command_lines);
  tcase_add_test(tc, bad_command_lines);
  tcase_add_test(tc, output_flags);
  suite_add_tcase(s, tc);
  return s;
}
