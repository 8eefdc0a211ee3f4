/* looplab-load end to end: the real binary against stallserver over real
 * sockets. Assertions are relations (the stall shows in one model and not
 * in the other; more VUs in the middle stage than at the ends), never
 * absolute speeds, so a slow or sanitized build passes too. Children die
 * with the test process (PR_SET_PDEATHSIG) and are killed by pid. */
#define _GNU_SOURCE
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static const char *bin(const char *env) {
  const char *b = getenv(env);
  ck_assert_msg(b != NULL, "%s not set", env);
  return b;
}

static void setup(void) {
  strcpy(dir, "/tmp/loadgen-test-XXXXXX");
  ck_assert(mkdtemp(dir) != NULL);
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", dir);
}

static char *path(const char *name) {
  static char p[8][128];
  static int i;
  char *s = p[i++ % 8];
  snprintf(s, 128, "%s/%s", dir, name);
  return s;
}

static pid_t server_start(int *port, const char *const *extra) {
  int fds[2];
  pid_t pid;
  char line[64];
  FILE *f;

  ck_assert_int_eq(pipe(fds), 0);
  pid = fork();
  ck_assert(pid >= 0);
  if (pid == 0) {
    const char *argv[16] = {"stallserver"};
    int n = 1;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    for (; extra && *extra; extra++) argv[n++] = *extra;
    argv[n] = NULL;
    execv(bin("STALLSERVER_BIN"), (char **)argv);
    _exit(127);
  }
  close(fds[1]);
  f = fdopen(fds[0], "r");
  ck_assert(fgets(line, sizeof(line), f) != NULL);
  fclose(f);
  ck_assert_int_eq(sscanf(line, "PORT %d", port), 1);
  return pid;
}

static void server_stop(pid_t pid) {
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
}

/* Runs looplab-load with args (NULL-terminated), stdout and stderr to
 * files in the test's folder; returns its exit status. */
static int run(const char *const *args) {
  pid_t pid = fork();
  int st;

  ck_assert(pid >= 0);
  if (pid == 0) {
    const char *argv[48] = {"looplab-load"};
    int n = 1;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int out = open(path("stdout"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(path("stderr"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    for (; *args; args++) argv[n++] = *args;
    argv[n] = NULL;
    execv(bin("LOADGEN_BIN"), (char **)argv);
    _exit(127);
  }
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert_msg(WIFEXITED(st), "looplab-load died of signal %d", WTERMSIG(st));
  return WEXITSTATUS(st);
}

/* Starts looplab-load like run() but returns at once with its pid. */
static pid_t spawn(const char *const *args) {
  pid_t pid = fork();
  ck_assert(pid >= 0);
  if (pid == 0) {
    const char *argv[48] = {"looplab-load"};
    int n = 1;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int out = open(path("stdout"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(path("stderr"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    for (; *args; args++) argv[n++] = *args;
    argv[n] = NULL;
    execv(bin("LOADGEN_BIN"), (char **)argv);
    _exit(127);
  }
  return pid;
}

static int wait_exit(pid_t pid) {
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert_msg(WIFEXITED(st), "looplab-load died of signal %d", WTERMSIG(st));
  return WEXITSTATUS(st);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *p) {
  FILE *f = fopen(p, "rb");
  char *buf;
  long n;
  ck_assert_msg(f != NULL, "cannot open %s", p);
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = calloc(1, (size_t)n + 1);
  ck_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  return buf;
}

static cJSON *summary(void) {
  char *s = slurp(path("summary.json"));
  cJSON *j = cJSON_Parse(s);
  ck_assert_msg(j != NULL, "bad JSON: %s", s);
  free(s);
  return j;
}

/* A number at a dotted path such as "metrics.http_reqs.count". */
static double num(const cJSON *j, const char *dotted) {
  char buf[128], *save = NULL;
  strcpy(buf, dotted);
  for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
    j = cJSON_GetObjectItemCaseSensitive(j, k);
    ck_assert_msg(j != NULL, "no %s in the summary", dotted);
  }
  ck_assert_msg(cJSON_IsNumber(j), "%s is not a number", dotted);
  return j->valuedouble;
}

static char *url(int port, const char *p) {
  static char u[8][96];
  static int i;
  char *s = u[i++ % 8];
  snprintf(s, 96, "http://127.0.0.1:%d%s", port, p);
  return s;
}

START_TEST(bad_flags_give_one_line_and_exit_2) {
  static const char *const cases[][8] = {
      {"--url", "http://127.0.0.1:1/", "--vus", "abc", NULL},
      {"--url", "http://127.0.0.1:1/", "--bogus", NULL},
      {"--url", "http://127.0.0.1:1/", "--threshold", "p(99)<soon", NULL},
      {"--duration", "1s", NULL},
      {"--url", "http://127.0.0.1:1/", "--rate", "10", "--stages", "x", NULL},
      {"--url", "http://127.0.0.1:1/", "-Z", NULL},
      {"--url", "http://127.0.0.1:1/", "--bogus=1", NULL},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    ck_assert_int_eq(run(cases[i]), 2);
    char *err = slurp(path("stderr")), *out = slurp(path("stdout"));
    size_t n = strlen(err);
    ck_assert_msg(n > 15 && strncmp(err, "looplab-load: ", 14) == 0, "case %zu: '%s'", i,
                  err);
    ck_assert_msg(err[n - 1] == '\n' && strchr(err, '\n') == err + n - 1,
                  "not one line: '%s'", err);
    ck_assert_str_eq(out, "");
    /* An unknown flag says so in those words. */
    if (i == 1 || i >= 5)
      ck_assert_msg(strstr(err, "unknown option '-") != NULL, "case %zu: '%s'", i, err);
    free(err);
    free(out);
  }
  const char *help[] = {"--help", NULL};
  ck_assert_int_eq(run(help), 0);
  char *out = slurp(path("stdout"));
  ck_assert(strstr(out, "--threshold") != NULL);
  free(out);
}
END_TEST

START_TEST(summary_has_the_k6_figures) {
  int port;
  pid_t srv = server_start(&port, NULL);
  const char *args[] = {
      "--url",          url(port, "/livez"),  "--vus", "4", "--duration", "1s",
      "--summary-json", path("summary.json"), NULL};
  static const char *const lines[] = {
      "data_received..................: ",     "data_sent......................: ",
      "http_req_duration..............: avg=", "http_req_failed................: 0.00%",
      "http_reqs......................: ",     "iterations.....................: ",
      "vus............................: ",     "vus_max........................: 4"};
  static const char *const figures[] = {
      " min=",   " med=",     " max=", " p(90)=", " p(95)=",
      " p(99)=", " p(99.9)=", "/s\n",  " out of "};

  ck_assert_int_eq(run(args), 0);
  server_stop(srv);
  char *out = slurp(path("stdout"));
  for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
    ck_assert_msg(strstr(out, lines[i]) != NULL, "no '%s' in:\n%s", lines[i], out);
  for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++)
    ck_assert_msg(strstr(out, figures[i]) != NULL, "no '%s' in:\n%s", figures[i], out);

  cJSON *j = summary();
  double reqs = num(j, "metrics.http_reqs.count");
  ck_assert(reqs > 0);
  ck_assert(num(j, "metrics.iterations.count") == reqs);
  ck_assert(num(j, "metrics.http_req_failed.failed") == 0);
  ck_assert(num(j, "metrics.http_req_duration.count") == reqs);
  ck_assert(num(j, "metrics.http_req_duration.min") <=
            num(j, "metrics.http_req_duration.med"));
  ck_assert(num(j, "metrics.http_req_duration.med") <=
            num(j, "metrics.http_req_duration.p(99)"));
  ck_assert(num(j, "metrics.http_req_duration.p(99)") <=
            num(j, "metrics.http_req_duration.max"));
  ck_assert(num(j, "metrics.data_sent.count") > reqs * 30);
  ck_assert(num(j, "metrics.vus.max") == 4);
  ck_assert(num(j, "elapsed_s") >= 1.0 && num(j, "elapsed_s") < 5);
  cJSON *spec = cJSON_GetObjectItem(j, "spectrum");
  ck_assert(cJSON_GetArraySize(spec) > 10);
  ck_assert(num(cJSON_GetArrayItem(spec, cJSON_GetArraySize(spec) - 1), "percentile") ==
            100);
  cJSON_Delete(j);
  free(out);
}
END_TEST

START_TEST(thresholds_set_the_exit_status) {
  int port;
  pid_t srv = server_start(&port, NULL);
  const char *pass[] = {
      "--url",       url(port, "/"),      "--duration",  "1s",
      "--threshold", "p(99)<10s",         "--threshold", "http_req_failed<0.01",
      "--threshold", "http_reqs:count>0", NULL};
  const char *fail[] = {"--url",     url(port, "/"), "--duration", "1s", "--threshold",
                        "p(99)<10s", "--threshold",  "max<1us",    NULL};
  const char *errors[] = {
      "--url",       url(port, "/status/503"), "--duration",     "1s",
      "--threshold", "http_req_failed<0.01",   "--summary-json", path("summary.json"),
      NULL};

  ck_assert_int_eq(run(pass), 0);
  char *out = slurp(path("stdout"));
  ck_assert(strstr(out, "\xe2\x9c\x93 'p(99)<10s'") != NULL);
  free(out);

  ck_assert_int_eq(run(fail), 99);
  out = slurp(path("stdout"));
  char *err = slurp(path("stderr"));
  ck_assert(strstr(out, "\xe2\x9c\x97 'max<1us'") != NULL);
  ck_assert(strstr(err, "'max<1us' have been crossed") != NULL);
  ck_assert(strstr(err, "p(99)<10s") == NULL);
  free(out);
  free(err);

  ck_assert_int_eq(run(errors), 99);
  cJSON *j = summary();
  ck_assert(num(j, "metrics.http_req_failed.value") == 1);
  ck_assert(num(j, "metrics.status.5xx") == num(j, "metrics.http_reqs.count"));
  cJSON_Delete(j);
  server_stop(srv);
}
END_TEST

/* Ramp 0 -> 4 VUs, hold, ramp to 0, one second each, with 100 ms think
 * time so that the request rate follows the VU count. */
START_TEST(stages_ramp_hold_and_ramp_down_on_time) {
  int port;
  pid_t srv = server_start(&port, NULL);
  const char *args[] = {"--url",
                        url(port, "/"),
                        "--vus",
                        "0",
                        "--stages",
                        "1s:4,1s:4,1s:0",
                        "--sleep",
                        "100ms",
                        "--summary-json",
                        path("summary.json"),
                        "--timeline",
                        path("timeline.ndjson"),
                        NULL};
  double reqs[8] = {0}, vus[8] = {0};
  int lines = 0;

  ck_assert_int_eq(run(args), 0);
  server_stop(srv);
  cJSON *j = summary();
  ck_assert_msg(num(j, "elapsed_s") >= 3.0 && num(j, "elapsed_s") < 3.6, "elapsed %g",
                num(j, "elapsed_s"));
  ck_assert(num(j, "metrics.vus.max") == 4);
  ck_assert(num(j, "metrics.vus.min") == 0);
  ck_assert(num(j, "metrics.vus_max.value") == 4);
  ck_assert(num(j, "metrics.http_req_failed.failed") == 0);
  cJSON_Delete(j);

  char *tl = slurp(path("timeline.ndjson")), *save = NULL;
  for (char *l = strtok_r(tl, "\n", &save); l && lines < 8;
       l = strtok_r(NULL, "\n", &save)) {
    cJSON *o = cJSON_Parse(l);
    ck_assert(o != NULL);
    reqs[lines] = num(o, "reqs");
    vus[lines] = num(o, "vus");
    lines++;
    cJSON_Delete(o);
  }
  free(tl);
  ck_assert_msg(lines >= 3, "%d timeline lines", lines);
  /* Second 2 holds 4 VUs (about 40 requests); the ramps average 2. */
  ck_assert_msg(vus[0] == 4, "VUs at 1s: %g", vus[0]);
  ck_assert_msg(reqs[1] > 1.4 * reqs[0] && reqs[1] > 1.4 * reqs[2],
                "requests per second %g %g %g", reqs[0], reqs[1], reqs[2]);
  ck_assert(vus[2] <= 1);
}
END_TEST

/* wrk2's demonstration: the server stalls its loop for 500 ms once. The
 * open model times each request from its intended start, so the 100 or so
 * requests due during the stall all carry it and p99 shows it; the closed
 * model's VUs just wait, send nothing, and the stall is a handful of slow
 * samples among thousands: p99 hides it (only max sees it). */
START_TEST(open_model_shows_a_stall_that_closed_model_hides) {
  int port;
  const char *stall[] = {"--stall-ms", "500", "--stall-after-ms", "1000", NULL};
  pid_t srv = server_start(&port, stall);
  const char *open[] = {"--url",
                        url(port, "/"),
                        "--rate",
                        "200",
                        "--duration",
                        "3s",
                        "--max-vus",
                        "500",
                        "--summary-json",
                        path("summary.json"),
                        NULL};
  const char *closed[] = {
      "--url",          url(port, "/"),       "--vus", "10", "--duration", "3s",
      "--summary-json", path("summary.json"), NULL};
  double open_p99, open_reqs, closed_p99, closed_max;

  ck_assert_int_eq(run(open), 0);
  server_stop(srv);
  cJSON *j = summary();
  open_p99 = num(j, "metrics.http_req_duration.p(99)");
  open_reqs = num(j, "metrics.http_reqs.count");
  ck_assert(num(j, "metrics.dropped_iterations.count") == 0);
  cJSON_Delete(j);

  srv = server_start(&port, stall);
  closed[1] = url(port, "/");
  ck_assert_int_eq(run(closed), 0);
  server_stop(srv);
  j = summary();
  closed_p99 = num(j, "metrics.http_req_duration.p(99)");
  closed_max = num(j, "metrics.http_req_duration.max");
  cJSON_Delete(j);

  /* The arrival schedule held: 200/s for 3 s. */
  ck_assert_msg(open_reqs >= 570 && open_reqs <= 603, "open model made %g requests",
                open_reqs);
  ck_assert_msg(open_p99 >= 300, "open p99 %g ms does not show the stall", open_p99);
  ck_assert_msg(closed_max >= 400, "closed max %g ms missed the stall", closed_max);
  ck_assert_msg(closed_p99 * 3 < open_p99, "closed p99 %g ms vs open %g ms", closed_p99,
                open_p99);
}
END_TEST

START_TEST(open_model_drops_what_max_vus_cannot_carry) {
  int port;
  const char *stall[] = {"--stall-ms", "500", "--stall-after-ms", "200", NULL};
  pid_t srv = server_start(&port, stall);
  const char *args[] = {"--url",
                        url(port, "/"),
                        "--rate",
                        "200",
                        "--duration",
                        "1s",
                        "--vus",
                        "2",
                        "--max-vus",
                        "5",
                        "--summary-json",
                        path("summary.json"),
                        NULL};
  ck_assert_int_eq(run(args), 0);
  server_stop(srv);
  cJSON *j = summary();
  double dropped = num(j, "metrics.dropped_iterations.count");
  double reqs = num(j, "metrics.http_reqs.count");
  /* During the stall 5 VUs hold 5 requests; the other ~95 due are dropped. */
  ck_assert_msg(dropped >= 50, "dropped %g", dropped);
  ck_assert_msg(dropped + reqs >= 190 && dropped + reqs <= 201, "%g + %g", dropped, reqs);
  ck_assert(num(j, "metrics.vus_max.value") == 5);
  cJSON_Delete(j);
}
END_TEST

/* A ramping arrival rate: 0 -> 100/s, hold, -> 0, one second each, is
 * 50, 100 and 50 iterations in the three seconds. */
START_TEST(open_model_ramps_the_arrival_rate) {
  int port;
  pid_t srv = server_start(&port, NULL);
  const char *args[] = {
      "--url",          url(port, "/"),       "--rate",     "0",
      "--stages",       "1s:100,1s:100,1s:0", "--timeline", path("timeline.ndjson"),
      "--summary-json", path("summary.json"), NULL};
  double reqs[8] = {0};
  int lines = 0;

  ck_assert_int_eq(run(args), 0);
  server_stop(srv);
  cJSON *j = summary();
  ck_assert_msg(num(j, "metrics.http_reqs.count") == 200, "%g requests",
                num(j, "metrics.http_reqs.count"));
  ck_assert(num(j, "metrics.dropped_iterations.count") == 0);
  cJSON_Delete(j);
  char *tl = slurp(path("timeline.ndjson")), *save = NULL;
  for (char *l = strtok_r(tl, "\n", &save); l && lines < 8;
       l = strtok_r(NULL, "\n", &save)) {
    cJSON *o = cJSON_Parse(l);
    ck_assert(o != NULL);
    reqs[lines++] = num(o, "reqs");
    cJSON_Delete(o);
  }
  free(tl);
  /* A request due at 0.999 s may complete after the tick: allow a few. */
  ck_assert_msg(reqs[0] >= 45 && reqs[0] <= 52, "first second %g", reqs[0]);
  ck_assert_msg(reqs[1] >= 95 && reqs[1] <= 105, "second second %g", reqs[1]);
  ck_assert_msg(reqs[2] + reqs[3] >= 45 && reqs[2] + reqs[3] <= 55, "last second %g",
                reqs[2]);
}
END_TEST

START_TEST(crud_dashboard_and_transform_scenarios_get_expected_statuses) {
  int port;
  pid_t srv = server_start(&port, NULL);
  FILE *f = fopen(path("body.json"), "w");
  for (int i = 0; i < 5000; i++) fputs("{\"k\":1},", f);
  fclose(f);
  const char *args[] = {"--url",
                        url(port, "/"),
                        "--mix",
                        "crud=6,dashboard=2,transform=2",
                        "--vus",
                        "4",
                        "--duration",
                        "1s",
                        "--body-file",
                        path("body.json"),
                        "--queries",
                        "pipeline",
                        "--summary-json",
                        path("summary.json"),
                        NULL};
  ck_assert_int_eq(run(args), 0);
  cJSON *j = summary();
  ck_assert(num(j, "metrics.http_req_failed.failed") == 0);
  static const char *const kinds[] = {"create", "read", "put",       "patch",
                                      "delete", "list", "dashboard", "transform"};
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
    char k[64];
    snprintf(k, sizeof(k), "metrics.http_req_duration_by_kind.%s.count", kinds[i]);
    ck_assert_msg(num(j, k) > 0, "no %s requests", kinds[i]);
  }
  ck_assert(num(j, "metrics.data_sent.count") >
            40000 * num(j, "metrics.http_req_duration_by_kind.transform.count"));
  cJSON_Delete(j);
  char *out = slurp(path("stdout"));
  ck_assert(strstr(out, "{ kind:delete }") != NULL);
  free(out);

  /* Generated bodies: the generator's stdout is the body. */
  const char *gen[] = {"--url",
                       url(port, "/"),
                       "--scenario",
                       "transform",
                       "--duration",
                       "1s",
                       "--transform-sizes",
                       "3k,5k",
                       "--gen-cmd",
                       "head -c {size} /dev/zero | tr '\\0' x",
                       "--summary-json",
                       path("summary.json"),
                       NULL};
  ck_assert_int_eq(run(gen), 0);
  j = summary();
  ck_assert(num(j, "metrics.http_req_failed.failed") == 0);
  ck_assert(num(j, "metrics.data_sent.count") >=
            3000 * num(j, "metrics.http_reqs.count"));
  cJSON_Delete(j);
  const char *badgen[] = {
      "--url", url(port, "/"),      "--scenario", "transform", "--duration",
      "1s",    "--transform-sizes", "3k",         "--gen-cmd", "false",
      NULL};
  ck_assert_int_eq(run(badgen), 1);
  server_stop(srv);
}
END_TEST

START_TEST(server_pid_samples_the_process_tree) {
  int port;
  pid_t srv = server_start(&port, NULL);
  char pid[16];
  snprintf(pid, sizeof(pid), "%d", (int)srv);
  const char *args[] = {"--url",
                        url(port, "/"),
                        "--vus",
                        "2",
                        "--duration",
                        "1500ms",
                        "--server-pid",
                        pid,
                        "--threshold",
                        "server_rss:peak<100G",
                        "--summary-json",
                        path("summary.json"),
                        "--timeline",
                        path("timeline.csv"),
                        NULL};
  ck_assert_int_eq(run(args), 0);
  server_stop(srv);
  cJSON *j = summary();
  ck_assert(num(j, "metrics.server.samples") >= 2);
  ck_assert(num(j, "metrics.server.procs_max") == 1);
  ck_assert(num(j, "metrics.server.rss_peak") > 100000);
  ck_assert(num(j, "metrics.server.pss_peak") > 0);
  ck_assert(num(j, "metrics.server.cpu_s") > 0);
  cJSON_Delete(j);
  char *tl = slurp(path("timeline.csv"));
  ck_assert(strncmp(tl, "time,t_s,reqs,rps,", 18) == 0);
  free(tl);

  const char *gone[] = {"--url", url(port, "/"), "--server-pid", "4194303", NULL};
  ck_assert_int_eq(run(gone), 1);
}
END_TEST

START_TEST(requests_past_the_timeout_fail) {
  int port;
  const char *stall[] = {"--stall-ms", "1000", "--stall-after-ms", "200", NULL};
  pid_t srv = server_start(&port, stall);
  const char *args[] = {"--url",
                        url(port, "/"),
                        "--vus",
                        "2",
                        "--duration",
                        "2s",
                        "--timeout",
                        "200ms",
                        "--summary-json",
                        path("summary.json"),
                        NULL};
  ck_assert_int_eq(run(args), 0);
  server_stop(srv);
  cJSON *j = summary();
  /* Requests caught in the 1 s stall fail 200-300 ms after they were sent
   * (the scan runs every 100 ms), are retried on new connections, and the
   * stall is never recorded whole as a latency. */
  ck_assert(num(j, "metrics.errors.timeout") >= 2);
  ck_assert(num(j, "metrics.http_req_failed.failed") == num(j, "metrics.errors.timeout"));
  ck_assert_msg(num(j, "metrics.http_req_duration.max") < 500, "max %g ms",
                num(j, "metrics.http_req_duration.max"));
  cJSON_Delete(j);
}
END_TEST

START_TEST(refused_connections_count_as_failures_without_spinning) {
  /* A port that was free a moment ago: nothing listens there. */
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
  ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
  close(s);
  const char *args[] = {
      "--url",          url(ntohs(a.sin_port), "/"), "--vus", "2", "--duration", "1s",
      "--summary-json", path("summary.json"),        NULL};
  ck_assert_int_eq(run(args), 0);
  cJSON *j = summary();
  double reqs = num(j, "metrics.http_reqs.count");
  ck_assert(reqs > 0 && reqs <= 2 * 110); /* a 10 ms back-off per VU */
  ck_assert(num(j, "metrics.http_req_failed.failed") == reqs);
  ck_assert(num(j, "metrics.errors.connection") == reqs);
  cJSON_Delete(j);
}
END_TEST

/* ---- issue 12, point 6: what looplab-load prints is right ---- */

/* Every duration of the JSON summary is in ms, thresholds' observed
 * values too (they were µs). */
START_TEST(threshold_observed_values_are_in_ms) {
  int port;
  pid_t srv = server_start(&port, NULL);
  const char *args[] = {
      "--url",          url(port, "/"),       "--duration", "1s",          "--threshold",
      "p(99)<10s",      "--threshold",        "max<1us",    "--threshold", "med<10000",
      "--summary-json", path("summary.json"), NULL};
  ck_assert_int_eq(run(args), 99);
  server_stop(srv);
  cJSON *j = summary();
  cJSON *th = cJSON_GetObjectItem(j, "thresholds");
  ck_assert_int_eq(cJSON_GetArraySize(th), 3);
  ck_assert(num(cJSON_GetArrayItem(th, 0), "observed") ==
            num(j, "metrics.http_req_duration.p(99)"));
  ck_assert(num(cJSON_GetArrayItem(th, 1), "observed") ==
            num(j, "metrics.http_req_duration.max"));
  ck_assert(num(cJSON_GetArrayItem(th, 2), "observed") ==
            num(j, "metrics.http_req_duration.med"));
  ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(th, 0), "unit")->valuestring,
                   "ms");
  cJSON_Delete(j);
}
END_TEST

/* --summary-json - : stdout is the JSON and nothing else; the text
 * summary moves to stderr. */
START_TEST(summary_json_on_stdout_is_pure_json) {
  int port;
  pid_t srv = server_start(&port, NULL);
  const char *args[] = {
      "--url", url(port, "/"), "--duration", "1s", "--summary-json", "-", NULL};
  ck_assert_int_eq(run(args), 0);
  server_stop(srv);
  char *out = slurp(path("stdout")), *err = slurp(path("stderr"));
  cJSON *j = cJSON_Parse(out);
  ck_assert_msg(j != NULL, "stdout is not JSON:\n%s", out);
  ck_assert(num(j, "metrics.http_reqs.count") > 0);
  ck_assert(strstr(out, "http_req_duration....") == NULL);
  ck_assert_msg(strstr(err, "http_req_duration....") != NULL, "no summary on stderr:\n%s",
                err);
  ck_assert(strstr(err, "execution: local") != NULL);
  cJSON_Delete(j);
  free(out);
  free(err);
}
END_TEST

/* An output file that cannot be written stops the run before it starts:
 * exit 1 at once, one clear line, nothing run. */
START_TEST(unwritable_outputs_are_refused_before_the_run) {
  static const char *const flags[][2] = {
      {"--summary-json", "/nonexistent-dir/s.json"},
      {"--timeline", "/nonexistent-dir/t.csv"},
      {"--summary-export", "/nonexistent-dir/e.json"},
      {"--out", "json=/nonexistent-dir/o.ndjson"},
      {"--out", "csv=/nonexistent-dir/o.csv"},
      {"--report", "/nonexistent-dir/r.html"},
  };
  for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
    const char *args[] = {"--url",     "http://127.0.0.1:1/", "--duration", "20s",
                          flags[i][0], flags[i][1],           NULL};
    double t0 = now_s();
    ck_assert_int_eq(run(args), 1);
    ck_assert_msg(now_s() - t0 < 2, "%s: the run started", flags[i][0]);
    char *err = slurp(path("stderr")), *out = slurp(path("stdout"));
    ck_assert_msg(strstr(err, "cannot write '/nonexistent-dir/") != NULL &&
                      strstr(err, flags[i][0]) != NULL &&
                      strstr(err, "No such file or directory") != NULL,
                  "%s: '%s'", flags[i][0], err);
    ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "not one line: '%s'", err);
    ck_assert_str_eq(out, "");
    free(err);
    free(out);
  }
}
END_TEST

/* Ctrl-C: the clock stops, the summary still prints, and the exit status
 * is k6's for an aborted run (105). */
START_TEST(sigint_ends_with_k6s_aborted_status) {
  int port;
  pid_t srv = server_start(&port, NULL);
  const char *args[] = {
      "--url",          url(port, "/"),       "--vus", "2", "--duration", "20s",
      "--summary-json", path("summary.json"), NULL};
  double t0 = now_s();
  pid_t pid = spawn(args);
  usleep(800 * 1000);
  kill(pid, SIGINT);
  ck_assert_int_eq(wait_exit(pid), 105);
  ck_assert(now_s() - t0 < 5);
  server_stop(srv);
  char *out = slurp(path("stdout"));
  ck_assert_msg(strstr(out, "interrupted (") != NULL, "%s", out);
  free(out);
  cJSON *j = summary();
  ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "interrupted")));
  ck_assert(num(j, "metrics.http_reqs.count") > 0);
  cJSON_Delete(j);
}
END_TEST

/* ---- issue 12, point 7: k6's metrics and formats ---- */

static cJSON *parse_file(const char *p) {
  char *s = slurp(p);
  cJSON *j = cJSON_Parse(s);
  ck_assert_msg(j != NULL, "%s is not JSON", p);
  free(s);
  return j;
}

static const char *samples(void) {
  return bin("LOADGEN_SAMPLES");
}

static char *sample_path(const char *name) {
  static char p[4][256];
  static int i;
  char *s = p[i++ % 4];
  snprintf(s, 256, "%s/%s", samples(), name);
  return s;
}

/* An object's keys, sorted and joined, leaving out skip. */
static void keys(const cJSON *o, const char *skip, char *buf, size_t n) {
  const char *k[64];
  int nk = 0;
  buf[0] = '\0';
  for (const cJSON *c = o->child; c && nk < 64; c = c->next)
    if (!skip || strcmp(c->string, skip) != 0)
      k[nk++] = c->string;
  for (int a = 0; a < nk; a++)
    for (int b = a + 1; b < nk; b++)
      if (strcmp(k[b], k[a]) < 0) {
        const char *t = k[a];
        k[a] = k[b];
        k[b] = t;
      }
  for (int a = 0; a < nk; a++) {
    strncat(buf, k[a], n - strlen(buf) - 2);
    strncat(buf, ",", n - strlen(buf) - 1);
  }
}

START_TEST(k6_phase_metrics_and_statuses_by_code) {
  int port;
  pid_t srv = server_start(&port, NULL);
  static const char *const phases[] = {"http_req_blocked", "http_req_connecting",
                                       "http_req_sending", "http_req_waiting",
                                       "http_req_receiving"};
  const char *args[] = {
      "--url",          url(port, "/status/404"), "--vus", "2", "--duration", "1s",
      "--summary-json", path("summary.json"),     NULL};
  ck_assert_int_eq(run(args), 0);
  server_stop(srv);
  cJSON *j = summary();
  double reqs = num(j, "metrics.http_reqs.count");
  ck_assert(reqs > 0);
  ck_assert(num(j, "metrics.status_codes.404") == reqs);
  for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
    char k[96];
    snprintf(k, sizeof(k), "metrics.%s.count", phases[i]);
    ck_assert_msg(num(j, k) == reqs, "%s", k);
    snprintf(k, sizeof(k), "metrics.%s.max", phases[i]);
    ck_assert_msg(num(j, k) <= num(j, "metrics.iteration_duration.max") + 0.002, "%s", k);
  }
  ck_assert(num(j, "metrics.iteration_duration.count") == reqs);
  /* The phases after the write add up to the duration (closed model). */
  ck_assert(num(j, "metrics.http_req_waiting.med") <=
            num(j, "metrics.http_req_duration.med"));
  ck_assert(num(j, "metrics.http_req_waiting.avg") +
                num(j, "metrics.http_req_sending.avg") +
                num(j, "metrics.http_req_receiving.avg") <=
            num(j, "metrics.http_req_duration.avg") + 0.003);
  ck_assert(num(j, "metrics.http_req_waiting.max") > 0);
  cJSON_Delete(j);
  char *out = slurp(path("stdout"));
  static const char *const lines[] = {"http_req_blocked...............: avg=",
                                      "http_req_connecting............: avg=",
                                      "http_req_receiving.............: avg=",
                                      "http_req_sending...............: avg=",
                                      "http_req_waiting...............: avg=",
                                      "iteration_duration.............: avg=",
                                      "{ status:404 }..."};
  for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
    ck_assert_msg(strstr(out, lines[i]) != NULL, "no '%s' in:\n%s", lines[i], out);
  free(out);
}
END_TEST

/* The sample's trend, counter, rate and gauge shapes. */
typedef struct shapes_s {
  char trend[256], counter[256], rate[256], gauge[256], root[256], top[64];
} shapes_t;

static void sample_shapes(shapes_t *sh) {
  cJSON *k6 = parse_file(sample_path("summary-export.json"));
  cJSON *m = cJSON_GetObjectItem(k6, "metrics");
  keys(cJSON_GetObjectItem(m, "my_trend"), "thresholds", sh->trend, sizeof(sh->trend));
  keys(cJSON_GetObjectItem(m, "http_reqs"), "thresholds", sh->counter,
       sizeof(sh->counter));
  keys(cJSON_GetObjectItem(m, "checks"), "thresholds", sh->rate, sizeof(sh->rate));
  keys(cJSON_GetObjectItem(m, "vus"), "thresholds", sh->gauge, sizeof(sh->gauge));
  keys(cJSON_GetObjectItem(k6, "root_group"), NULL, sh->root, sizeof(sh->root));
  keys(k6, NULL, sh->top, sizeof(sh->top));
  cJSON_Delete(k6);
}

START_TEST(k6_summary_export_has_k6s_shape) {
  int port;
  pid_t srv = server_start(&port, NULL);
  const char *args[] = {"--url",
                        url(port, "/"),
                        "--duration",
                        "1s",
                        "--threshold",
                        "p(99)<10s",
                        "--threshold",
                        "max<1us",
                        "--threshold",
                        "http_req_failed<0.01",
                        "--summary-export",
                        path("export.json"),
                        NULL};
  static const struct {
    const char *name;
    int shape; /* 0 trend, 1 counter, 2 rate, 3 gauge */
  } want[] = {{"http_req_duration", 0},
              {"http_req_blocked", 0},
              {"http_req_connecting", 0},
              {"http_req_sending", 0},
              {"http_req_waiting", 0},
              {"http_req_receiving", 0},
              {"iteration_duration", 0},
              {"http_reqs", 1},
              {"iterations", 1},
              {"data_sent", 1},
              {"data_received", 1},
              {"dropped_iterations", 1},
              {"http_req_failed", 2},
              {"vus", 3},
              {"vus_max", 3},
              {"http_reqs{status:200}", 1}};
  shapes_t sh;
  char k[256];

  ck_assert_int_eq(run(args), 99);
  server_stop(srv);
  sample_shapes(&sh);
  cJSON *j = parse_file(path("export.json"));
  keys(j, NULL, k, sizeof(k));
  ck_assert_str_eq(k, sh.top);
  keys(cJSON_GetObjectItem(j, "root_group"), NULL, k, sizeof(k));
  ck_assert_str_eq(k, sh.root);
  cJSON *m = cJSON_GetObjectItem(j, "metrics");
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    const char *shape[] = {sh.trend, sh.counter, sh.rate, sh.gauge};
    cJSON *x = cJSON_GetObjectItem(m, want[i].name);
    ck_assert_msg(x != NULL, "no %s", want[i].name);
    keys(x, "thresholds", k, sizeof(k));
    ck_assert_msg(strcmp(k, shape[want[i].shape]) == 0, "%s: %s, k6: %s", want[i].name, k,
                  shape[want[i].shape]);
  }
  /* Every metric has one of k6's shapes. */
  for (cJSON *x = m->child; x; x = x->next) {
    keys(x, "thresholds", k, sizeof(k));
    ck_assert_msg(!strcmp(k, sh.trend) || !strcmp(k, sh.counter) || !strcmp(k, sh.rate) ||
                      !strcmp(k, sh.gauge),
                  "%s has no k6 shape: %s", x->string, k);
  }
  /* k6's quirks: true is a failed threshold; passes counts failures. */
  cJSON *th =
      cJSON_GetObjectItem(cJSON_GetObjectItem(m, "http_req_duration"), "thresholds");
  ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(th, "max<1us")));
  ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(th, "p(99)<10s")));
  ck_assert(num(m, "http_req_failed.passes") == 0);
  ck_assert(num(m, "http_req_failed.fails") == num(m, "http_reqs.count"));
  ck_assert(num(m, "http_req_duration.count") == num(m, "http_reqs.count"));
  cJSON_Delete(j);
}
END_TEST

/* Checks one NDJSON stream against k6's sample: line shapes, Metric
 * lines before their Points, RFC 3339 times; returns the http_reqs
 * Points. */
static int check_ndjson(const char *file) {
  cJSON *k6 = NULL;
  char top[128], meta[256], point[128], k[256], declared[2048] = ",";
  char *text = slurp(sample_path("json-output.ndjson")), *save = NULL;
  int reqs = 0;

  /* The sample's first line is a Metric, its second a Point. */
  k6 = cJSON_Parse(strtok_r(text, "\n", &save));
  keys(k6, NULL, top, sizeof(top));
  keys(cJSON_GetObjectItem(k6, "data"), NULL, meta, sizeof(meta));
  cJSON_Delete(k6);
  k6 = cJSON_Parse(strtok_r(NULL, "\n", &save));
  keys(cJSON_GetObjectItem(k6, "data"), NULL, point, sizeof(point));
  cJSON_Delete(k6);
  free(text);

  text = slurp(file);
  save = NULL;
  for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    cJSON *o = cJSON_Parse(l);
    ck_assert_msg(o != NULL, "not JSON: %s", l);
    keys(o, NULL, k, sizeof(k));
    ck_assert_str_eq(k, top);
    const char *type = cJSON_GetObjectItem(o, "type")->valuestring;
    const char *metric = cJSON_GetObjectItem(o, "metric")->valuestring;
    char tag[80];
    snprintf(tag, sizeof(tag), ",%s,", metric);
    keys(cJSON_GetObjectItem(o, "data"), "name", k, sizeof(k));
    if (strcmp(type, "Metric") == 0) {
      ck_assert_msg(strcmp(k, meta) == 0, "Metric data %s, k6: %s", k, meta);
      strncat(declared, metric, sizeof(declared) - strlen(declared) - 2);
      strcat(declared, ",");
    } else {
      struct tm tm;
      ck_assert_str_eq(type, "Point");
      ck_assert_msg(strcmp(k, point) == 0, "Point data %s, k6: %s", k, point);
      ck_assert_msg(strstr(declared, tag) != NULL, "%s: a Point before its Metric",
                    metric);
      const char *t =
          cJSON_GetObjectItem(cJSON_GetObjectItem(o, "data"), "time")->valuestring;
      const char *rest = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
      ck_assert_msg(rest && (*rest == '.' || *rest == 'Z' || *rest == '+'), "time %s", t);
      ck_assert(
          cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "data"), "value")));
      reqs += strcmp(metric, "http_reqs") == 0;
    }
    cJSON_Delete(o);
  }
  free(text);
  return reqs;
}

static int csv_columns(const char *line) {
  int n = 1;
  for (; *line && *line != '\n'; line++) n += *line == ',';
  return n;
}

static int check_csv(const char *file) {
  char *k6 = slurp(sample_path("csv-output.csv")), *ours = slurp(file), *save = NULL;
  size_t hl = strcspn(k6, "\n");
  int reqs = 0, cols = csv_columns(k6);

  ck_assert_msg(strncmp(ours, k6, hl + 1) == 0, "header differs from k6's");
  for (char *l = strtok_r(ours + hl + 1, "\n", &save); l;
       l = strtok_r(NULL, "\n", &save)) {
    char name[64], *end;
    long ts;
    ck_assert_msg(csv_columns(l) == cols, "%d columns, k6 has %d: %s", csv_columns(l),
                  cols, l);
    ck_assert(sscanf(l, "%63[^,],%ld,", name, &ts) == 2);
    ck_assert(ts > 1500000000);
    strtod(strchr(strchr(l, ',') + 1, ',') + 1, &end);
    ck_assert_msg(*end == ',', "metric_value: %s", l);
    reqs += strcmp(name, "http_reqs") == 0;
  }
  free(k6);
  free(ours);
  return reqs;
}

START_TEST(k6_out_json_and_csv_have_k6s_shapes) {
  int port;
  pid_t srv = server_start(&port, NULL);
  const char *args[] = {"--url",
                        url(port, "/"),
                        "--duration",
                        "1s",
                        "--sleep",
                        "20ms",
                        "--threshold",
                        "p(99)<10s",
                        "--out",
                        "json=out.ndjson",
                        "--out",
                        "csv=out.csv",
                        "--summary-json",
                        path("summary.json"),
                        NULL};
  char json_arg[160], csv_arg[160];
  snprintf(json_arg, sizeof(json_arg), "json=%s", path("out.ndjson"));
  snprintf(csv_arg, sizeof(csv_arg), "csv=%s", path("out.csv"));
  args[9] = json_arg;
  args[11] = csv_arg;
  ck_assert_int_eq(run(args), 0);
  server_stop(srv);
  cJSON *j = summary();
  double reqs = num(j, "metrics.http_reqs.count");
  cJSON_Delete(j);
  ck_assert(reqs > 5);
  ck_assert_int_eq(check_ndjson(path("out.ndjson")), (int)reqs);
  ck_assert_int_eq(check_csv(path("out.csv")), (int)reqs);
  char *nd = slurp(path("out.ndjson"));
  ck_assert(strstr(nd, "\"thresholds\":[\"p(99)<10s\"]") != NULL);
  ck_assert(strstr(nd, "\"metric\":\"http_req_waiting\"") != NULL);
  ck_assert(strstr(nd, "\"metric\":\"vus\"") != NULL);
  free(nd);
}
END_TEST

/* The timeline: the same field names, in the same order, in CSV and
 * NDJSON; an absolute time; null (an empty CSV cell) where nothing was
 * sampled: latency in a second without requests, the server without
 * --server-pid. */
START_TEST(timeline_fields_are_shared_absolute_and_null_when_unsampled) {
  int port;
  pid_t srv = server_start(&port, NULL);
  const char *args[] = {"--url",      url(port, "/"),   "--rate",
                        "0",          "--stages",       "1s:0,500ms:40",
                        "--timeline", path("t.ndjson"), NULL};
  char header[512] = "", k[512] = "", *save = NULL;
  static const char *const unsampled[] = {"p50_ms", "p90_ms",     "p99_ms",
                                          "max_ms", "server_rss", "server_cpu_s"};

  ck_assert_int_eq(run(args), 0);
  args[7] = path("t.csv");
  ck_assert_int_eq(run(args), 0);
  server_stop(srv);

  char *csv = slurp(path("t.csv"));
  strncpy(header, csv, strcspn(csv, "\n"));
  char *nd = slurp(path("t.ndjson"));
  cJSON *first = cJSON_Parse(strtok_r(nd, "\n", &save));
  ck_assert(first != NULL);
  for (cJSON *c = first->child; c; c = c->next) {
    strcat(k, k[0] ? "," : "");
    strcat(k, c->string);
  }
  ck_assert_str_eq(k, header);
  ck_assert(num(first, "reqs") == 0);
  for (size_t i = 0; i < sizeof(unsampled) / sizeof(unsampled[0]); i++)
    ck_assert_msg(cJSON_IsNull(cJSON_GetObjectItem(first, unsampled[i])), "%s not null",
                  unsampled[i]);
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  const char *t = cJSON_GetObjectItem(first, "time")->valuestring;
  ck_assert(strptime(t, "%Y-%m-%dT%H:%M:%S", &tm) != NULL);
  double age = difftime(time(NULL), timegm(&tm));
  ck_assert_msg(age >= 0 && age < 60, "time %s is not now", t);
  cJSON *second = cJSON_Parse(strtok_r(NULL, "\n", &save));
  ck_assert(second != NULL && num(second, "reqs") > 0 && num(second, "p99_ms") >= 0);
  cJSON_Delete(first);
  cJSON_Delete(second);
  /* CSV: the first data row leaves the same cells empty. */
  char *row = csv + strlen(header) + 1;
  ck_assert_msg(strstr(row, ",0,0.0,,,,,0,0,") != NULL, "row: %.*s",
                (int)strcspn(row, "\n"), row);
  free(csv);
  free(nd);
}
END_TEST

/* ---- issue 12, point 8: the progress line ---- */

/* Runs looplab-load on a pseudo-terminal and returns all it wrote there
 * (stdout and stderr both). ci sets CI=true. */
static char *run_on_tty(const char *const *args, int ci, int *status) {
  int fd;
  size_t len = 0, cap = 1 << 16;
  char *buf = malloc(cap);
  pid_t pid = forkpty(&fd, NULL, NULL, NULL);

  ck_assert(pid >= 0 && buf != NULL);
  if (pid == 0) {
    const char *argv[48] = {"looplab-load"};
    int n = 1;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (ci)
      setenv("CI", "true", 1);
    else
      unsetenv("CI");
    for (; *args; args++) argv[n++] = *args;
    argv[n] = NULL;
    execv(bin("LOADGEN_BIN"), (char **)argv);
    _exit(127);
  }
  for (;;) {
    ssize_t r;
    if (len + 4096 > cap)
      ck_assert((buf = realloc(buf, cap *= 2)) != NULL);
    r = read(fd, buf + len, cap - len - 1);
    if (r <= 0)
      break; /* EIO once the child has gone */
    len += (size_t)r;
  }
  buf[len] = '\0';
  close(fd);
  *status = wait_exit(pid);
  return buf;
}

START_TEST(progress_is_one_updating_line_on_a_terminal) {
  int port, st;
  pid_t srv = server_start(&port, NULL);
  const char *args[] = {"--url",      url(port, "/"), "--vus", "2",
                        "--duration", "1500ms",       NULL};
  static const char *const figures[] = {"default [", "/1.5s", "/2 VUs", " iters ",
                                        " req/s",    "p99=",  " failed"};
  const char *redraw = "\r\033[Kdefault [";
  char *out = run_on_tty(args, 0, &st), *first, *last = NULL;
  int draws = 0;

  ck_assert_int_eq(st, 0);
  first = strstr(out, redraw);
  ck_assert_msg(first != NULL, "no progress line:\n%s", out);
  for (char *p = first; (p = strstr(p, redraw)) != NULL; p++) {
    draws++;
    last = p;
  }
  ck_assert_msg(draws >= 8, "%d redraws", draws);
  /* One line redrawn in place: no newline until the last redraw. */
  ck_assert_msg(memchr(first, '\n', (size_t)(last - first)) == NULL, "the line scrolls");
  for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++)
    ck_assert_msg(strstr(last, figures[i]) != NULL, "no '%s' in '%.200s'", figures[i],
                  last);
  ck_assert(strstr(out, "[==============================]") !=
            NULL); /* full at the end */
  ck_assert(strstr(out, "running (") == NULL);
  ck_assert(strstr(out, "http_req_duration....") > last);
  free(out);

  /* CI=true on a terminal, and stderr to a file: plain periodic lines. */
  out = run_on_tty(args, 1, &st);
  ck_assert_int_eq(st, 0);
  ck_assert(strstr(out, "\033[K") == NULL);
  ck_assert_msg(strstr(out, "running (1s/1.5s), 2/2 VUs, ") != NULL, "%s", out);
  free(out);
  ck_assert_int_eq(run(args), 0);
  server_stop(srv);
  char *err = slurp(path("stderr"));
  ck_assert(strchr(err, '\r') == NULL);
  ck_assert_msg(strstr(err, "running (1s/1.5s), 2/2 VUs, ") != NULL, "%s", err);
  ck_assert(strstr(err, " req/s, p99=") != NULL);
  free(err);
}
END_TEST

static Suite *cli_suite(void) {
  Suite *s = suite_create("loadgen_cli");
  TCase *tc = tcase_create("cli");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, bad_flags_give_one_line_and_exit_2);
  tcase_add_test(tc, summary_has_the_k6_figures);
  tcase_add_test(tc, thresholds_set_the_exit_status);
  tcase_add_test(tc, stages_ramp_hold_and_ramp_down_on_time);
  tcase_add_test(tc, open_model_shows_a_stall_that_closed_model_hides);
  tcase_add_test(tc, open_model_drops_what_max_vus_cannot_carry);
  tcase_add_test(tc, open_model_ramps_the_arrival_rate);
  tcase_add_test(tc, crud_dashboard_and_transform_scenarios_get_expected_statuses);
  tcase_add_test(tc, server_pid_samples_the_process_tree);
  tcase_add_test(tc, requests_past_the_timeout_fail);
  tcase_add_test(tc, refused_connections_count_as_failures_without_spinning);
  tcase_add_test(tc, threshold_observed_values_are_in_ms);
  tcase_add_test(tc, summary_json_on_stdout_is_pure_json);
  tcase_add_test(tc, unwritable_outputs_are_refused_before_the_run);
  tcase_add_test(tc, sigint_ends_with_k6s_aborted_status);
  tcase_add_test(tc, k6_phase_metrics_and_statuses_by_code);
  tcase_add_test(tc, k6_summary_export_has_k6s_shape);
  tcase_add_test(tc, k6_out_json_and_csv_have_k6s_shapes);
  tcase_add_test(tc, timeline_fields_are_shared_absolute_and_null_when_unsampled);
  tcase_add_test(tc, progress_is_one_updating_line_on_a_terminal);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(cli_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
