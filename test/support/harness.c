/* The integration-test harness: see harness.h for the contract. */
#include "harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SERVERS 16

static th_server_t *registry[MAX_SERVERS];
static int atexit_done;

/* ---- misc ---- */

int64_t th_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void th_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int sanitized(void) {
#if defined(__SANITIZE_ADDRESS__)
  return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return 1;
#endif
#endif
  return 0;
}

int th_scale(int ms) {
  const char *e = getenv("LOOPLAB_TEST_SLOW");
  double f = e != NULL ? atof(e) : (sanitized() ? 2.0 : 1.0);
  if (f < 1.0)
    f = 1.0;
  return (int)(ms * f);
}

int th_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
    TH_FAIL("harness: cannot get a free port: %s", strerror(errno));
  close(fd);
  return ntohs(a.sin_port);
}

static const char *env_or_abort(const char *name) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0')
    TH_FAIL("harness: %s is not set (run through ctest)", name);
  return v;
}

const char *th_bin(void) {
  return env_or_abort("LOOPLAB_BIN");
}

const char *th_pg_conninfo(void) {
  static char conninfo[2048];
  if (conninfo[0] != '\0')
    return conninfo;
  char path[1024];
  snprintf(path, sizeof(path), "%s/conninfo", env_or_abort("LOOPLAB_TEST_PG_DIR"));
  FILE *f = fopen(path, "r");
  if (f == NULL)
    TH_FAIL("harness: cannot read %s: %s", path, strerror(errno));
  if (fgets(conninfo, sizeof(conninfo), f) == NULL)
    conninfo[0] = '\0';
  fclose(f);
  conninfo[strcspn(conninfo, "\r\n")] = '\0';
  if (conninfo[0] == '\0')
    TH_FAIL("harness: %s is empty", path);
  return conninfo;
}

/* ---- processes ---- */

static int read_stat(pid_t pid, char *state, pid_t *ppid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (p == NULL)
    return -1;
  char st = 0;
  int pp = 0;
  if (sscanf(p + 1, " %c %d", &st, &pp) != 2)
    return -1;
  *state = st;
  *ppid = pp;
  return 0;
}

char th_proc_state(pid_t pid) {
  char st;
  pid_t pp;
  return read_stat(pid, &st, &pp) == 0 ? st : 0;
}

static int contains_pid(const pid_t *set, int n, pid_t p) {
  for (int i = 0; i < n; i++)
    if (set[i] == p)
      return 1;
  return 0;
}

static int cmp_pid(const void *a, const void *b) {
  pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
  return (x > y) - (x < y);
}

int th_server_workers(const th_server_t *s, pid_t *pids, int max) {
  DIR *d = opendir("/proc");
  int n = 0;
  struct dirent *e;
  if (d == NULL)
    return 0;
  while ((e = readdir(d)) != NULL) {
    if (!isdigit((unsigned char)e->d_name[0]))
      continue;
    pid_t pid = (pid_t)atoi(e->d_name);
    char st;
    pid_t pp;
    if (read_stat(pid, &st, &pp) != 0 || pp != s->pid)
      continue;
    if (n < max)
      pids[n] = pid;
    n++;
  }
  closedir(d);
  qsort(pids, (size_t)(n < max ? n : max), sizeof(pid_t), cmp_pid);
  return n;
}

int th_cluster_start2(th_server_t *s, pid_t *pids, int max) {
  const char *const args[] = {"--workers", "2", "--pool", "2", NULL};
  th_server_start(s, args);
  int n = th_server_workers(s, pids, max);
  TH_ASSERT(n == 2, "%d workers, want 2", n);
  return n;
}

int th_pid_in(const pid_t *set, int n, pid_t p) {
  for (int i = 0; i < n; i++)
    if (set[i] == p)
      return 1;
  return 0;
}

int th_workers_all_new(const th_server_t *s, const pid_t *old, int nold, int want,
                       pid_t *now, int max) {
  int n = th_server_workers(s, now, max);
  if (n != want)
    return -1;
  for (int i = 0; i < n && i < max; i++)
    if (th_pid_in(old, nold, now[i]))
      return -1;
  return n;
}

int th_procs_with_port(int port, pid_t *pids, int max) {
  const char *bin = getenv("LOOPLAB_BIN");
  char want_port[16];
  snprintf(want_port, sizeof(want_port), "%d", port);
  DIR *d = opendir("/proc");
  int n = 0;
  struct dirent *e;
  if (d == NULL)
    return 0;
  while ((e = readdir(d)) != NULL) {
    if (!isdigit((unsigned char)e->d_name[0]))
      continue;
    char path[300], cmd[4096];
    snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      continue;
    ssize_t len = read(fd, cmd, sizeof(cmd) - 1);
    close(fd);
    if (len <= 0)
      continue;
    cmd[len] = '\0';
    int is_bin = bin != NULL && strcmp(cmd, bin) == 0;
    int has_port = 0;
    for (char *p = cmd; p < cmd + len; p += strlen(p) + 1)
      if (strcmp(p, "--port") == 0 && p + strlen(p) + 1 < cmd + len &&
          strcmp(p + strlen(p) + 1, want_port) == 0)
        has_port = 1;
    if (is_bin && has_port) {
      if (n < max)
        pids[n] = (pid_t)atoi(e->d_name);
      n++;
    }
  }
  closedir(d);
  return n;
}

int th_last_connect_errno;

int th_get_status(int port, const char *path, int timeout_ms) {
  th_conn_t *c;
  int err = th_conn_try_open(port, &c);
  if (err != 0) {
    th_last_connect_errno = -err;
    return -1;
  }
  char req[512];
  snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
           path);
  th_response_t r;
  int status = -2;
  if (th_sends(c, req) == 0 && th_read_response(c, &r, timeout_ms) == TH_OK) {
    status = r.status;
    th_response_free(&r);
  }
  th_conn_close(c);
  return status;
}

void th_assert_gone(const th_server_t *s, const pid_t *pids, int n, const char *what) {
  int64_t deadline = th_now_ms() + th_scale(2000);
  for (;;) {
    int left = 0;
    char st = 0;
    pid_t who = 0;
    for (int i = 0; i < n; i++) {
      char x = th_proc_state(pids[i]);
      if (x != 0) {
        left++;
        st = x;
        who = pids[i];
      }
    }
    pid_t stray[8];
    int ns = th_procs_with_port(s->port, stray, 8);
    if (left == 0 && ns == 0)
      return;
    if (th_now_ms() > deadline)
      TH_FAIL(
          "%s: after the primary exited, worker %d is still there (state %c) and %d "
          "process(es) run with --port %d",
          what, (int)who, st ? st : '-', ns, s->port);
    th_sleep_ms(20);
  }
}

/* ---- the server ---- */

void th_server_dump_log(const th_server_t *s, size_t max) {
  FILE *f = fopen(s->log_path, "r");
  if (f == NULL)
    return;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  long from = size > (long)max ? size - (long)max : 0;
  fseek(f, from, SEEK_SET);
  fprintf(stderr, "---- server log %s (pid %d, port %d, last %ld bytes) ----\n",
          s->log_path, (int)s->pid, s->port, size - from);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) fwrite(buf, 1, n, stderr);
  fprintf(stderr, "---- end of server log ----\n");
  fclose(f);
}

static void rm_rf(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  if (d == NULL)
    return;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      rm_rf(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static void unregister(th_server_t *s) {
  for (int i = 0; i < MAX_SERVERS; i++)
    if (registry[i] == s)
      registry[i] = NULL;
  s->registered = 0;
}

/* Kills the server and its workers outright (failure paths). */
static void kill_hard(th_server_t *s) {
  pid_t w[64];
  if (s->pid <= 0)
    return; /* never kill(0): that is our process group */
  int n = th_server_workers(s, w, 64);
  if (!s->exited) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &s->status, 0);
    s->exited = 1;
  }
  for (int i = 0; i < n && i < 64; i++) kill(w[i], SIGKILL);
}

/* On any exit of the process that owns servers (normal or through the
 * harness's failure path): dump the logs of servers still running, kill
 * them, remove their folders. */
static void cleanup_all(int dump) {
  for (int i = 0; i < MAX_SERVERS; i++) {
    th_server_t *s = registry[i];
    if (s == NULL)
      continue;
    if (dump)
      th_server_dump_log(s, 6000);
    if (s->owner != getpid())
      continue;
    kill_hard(s);
    rm_rf(s->dir);
    unregister(s);
  }
}

static void on_exit_cleanup(void) {
  cleanup_all(1);
}

void th_fail_cleanup(void) {
  cleanup_all(1);
}

static void register_server(th_server_t *s) {
  if (!atexit_done) {
    atexit(on_exit_cleanup);
    signal(SIGPIPE, SIG_IGN);
    atexit_done = 1;
  }
  for (int i = 0; i < MAX_SERVERS; i++)
    if (registry[i] == NULL) {
      registry[i] = s;
      s->registered = 1;
      return;
    }
  TH_FAIL("harness: too many servers");
}

static int has_arg(const char *const extra[], const char *name) {
  for (int i = 0; extra != NULL && extra[i] != NULL; i++)
    if (strcmp(extra[i], name) == 0)
      return 1;
  return 0;
}

static pid_t spawn(th_server_t *s, const char *const extra[], int flags) {
  const char *argv[96];
  char port[16];
  int n = 0;
  snprintf(port, sizeof(port), "%d", s->port);
  argv[n++] = th_bin();
  argv[n++] = "--host";
  argv[n++] = "127.0.0.1";
  if (!has_arg(extra, "--port")) {
    argv[n++] = "--port";
    argv[n++] = port;
  }
  if (!has_arg(extra, "--workers")) {
    argv[n++] = "--workers";
    argv[n++] = "0";
  }
  if (!has_arg(extra, "--log-level")) {
    argv[n++] = "--log-level";
    argv[n++] = "info";
  }
  if (!(flags & TH_NO_DB) && !has_arg(extra, "--db")) {
    argv[n++] = "--db";
    argv[n++] = th_pg_conninfo();
  }
  for (int i = 0; extra != NULL && extra[i] != NULL && n < 94; i++) argv[n++] = extra[i];
  argv[n] = NULL;

  int logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (logfd < 0)
    TH_FAIL("harness: cannot open %s", s->log_path);
  FILE *lf = fdopen(dup(logfd), "a");
  if (lf != NULL) {
    fprintf(lf, "# harness: exec");
    for (int i = 0; argv[i] != NULL; i++) fprintf(lf, " %s", argv[i]);
    fprintf(lf, "\n");
    fclose(lf);
  }
  /* Check's runner installs SIGTERM/SIGINT handlers that killpg() their
   * own process group; a child that received a signal before exec would
   * run them and signal the test itself. So signals stay blocked across
   * fork until the child has restored the default dispositions. */
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    for (int sig = 1; sig < NSIG; sig++)
      if (sig != SIGKILL && sig != SIGSTOP)
        signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    for (int fd = 3; fd < 1024; fd++) close(fd);
    execv(argv[0], (char *const *)argv);
    dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  int fork_errno = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (pid < 0)
    TH_FAIL("harness: fork: %s", strerror(fork_errno));
  close(logfd);
  return pid;
}

/* What the primary's exit status does not show: a worker that exited by
 * itself with a non-zero code (its loop closed with handles open in a debug
 * build, say), or any process's "handles open" line (every build logs it).
 * Returns the offending line's first bytes in out, or "" if none. */
static void scan_worker_exits(const th_server_t *s, char *out, size_t outlen) {
  out[0] = '\0';
  FILE *f = fopen(s->log_path, "r");
  if (f == NULL)
    return;
  char line[4096];
  while (out[0] == '\0' && fgets(line, sizeof(line), f) != NULL) {
    const char *code = strstr(line, "\"code\":");
    int bad = strstr(line, "the loop closed with handles open") != NULL ||
              (strstr(line, "\"workerPid\":") && code && atoi(code + 7) != 0);
    if (bad)
      snprintf(out, outlen, "%.*s", (int)strcspn(line, "\n"), line);
  }
  fclose(f);
}

/* 1 if the log holds a sanitizer report; then prints the log. */
static int scan_sanitizer(const th_server_t *s) {
  static const char *const marks[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                      "runtime error:", "ThreadSanitizer", NULL};
  FILE *f = fopen(s->log_path, "r");
  if (f == NULL)
    return 0;
  char line[4096];
  int found = 0;
  while (!found && fgets(line, sizeof(line), f) != NULL)
    for (int i = 0; marks[i] != NULL; i++)
      if (strstr(line, marks[i]) != NULL)
        found = 1;
  fclose(f);
  if (found)
    th_server_dump_log(s, 30000);
  return found;
}

static int probe(int port, const char *path, int timeout_ms) {
  return th_get_status(port, path, timeout_ms);
}

int th_server_wait_exit(th_server_t *s, int timeout_ms, int *status) {
  if (s->pid <= 0) {
    if (status != NULL)
      *status = -1;
    return 1;
  }
  int64_t deadline = th_now_ms() + timeout_ms;
  for (;;) {
    if (s->exited) {
      if (status != NULL)
        *status = s->status;
      return 1;
    }
    pid_t r = waitpid(s->pid, &s->status, WNOHANG);
    if (r == s->pid) {
      s->exited = 1;
      continue;
    }
    if (r < 0 && errno == ECHILD) {
      s->exited = 1;
      s->status = -1;
      continue;
    }
    if (th_now_ms() >= deadline)
      return 0;
    th_sleep_ms(5);
  }
}

int th_server_alive(th_server_t *s) {
  if (s->owner != getpid()) { /* not our child: waitpid cannot tell */
    char st = s->pid > 0 ? th_proc_state(s->pid) : 0;
    return st != 0 && st != 'Z';
  }
  return !th_server_wait_exit(s, 0, NULL);
}

static int log_has_ready(const th_server_t *s, pid_t pid) {
  char want[48], line[4096];
  snprintf(want, sizeof(want), "\"workerPid\":%d,", (int)pid);
  FILE *f = fopen(s->log_path, "r");
  if (f == NULL)
    return 0;
  int found = 0;
  while (!found && fgets(line, sizeof(line), f) != NULL)
    found = strstr(line, want) != NULL && strstr(line, "ready") != NULL;
  fclose(f);
  return found;
}

int th_worker_wait_ready(const th_server_t *s, pid_t pid, int timeout_ms) {
  int64_t deadline = th_now_ms() + timeout_ms;
  for (;;) {
    if (log_has_ready(s, pid))
      return 1;
    if (th_now_ms() >= deadline)
      return 0;
    th_sleep_ms(10);
  }
}

/* 0 when ready, 1 when the process died (retry), -1 on timeout. */
static int wait_ready(th_server_t *s, int flags, int timeout_ms, char *why,
                      size_t whylen) {
  int64_t deadline = th_now_ms() + timeout_ms;
  int live = 0, ready = 0, workers = 0;
  pid_t unready = 0; /* a worker the log has not reported ready */
  while (th_now_ms() < deadline) {
    if (!th_server_alive(s)) {
      snprintf(why, whylen, "exited with status 0x%x", s->status);
      return 1;
    }
    if (!live)
      live = probe(s->port, "/livez", 500) == 200;
    if (live && (flags & TH_WAIT_READY) && !ready)
      ready = probe(s->port, "/readyz", 500) == 200;
    if (live && (flags & TH_WAIT_WORKERS) && s->workers > 0 && !workers) {
      pid_t w[64];
      int n = th_server_workers(s, w, 64);
      workers = n >= s->workers;
      /* And each one ready by the log's word: a test that kills a worker
       * before it is ready tests start-up failure, not what it means to. */
      for (int i = 0; workers && i < n && i < 64; i++)
        if (!th_worker_wait_ready(s, w[i], th_scale(2000))) {
          workers = 0;
          unready = w[i];
        }
    }
    if (live && (ready || !(flags & TH_WAIT_READY)) &&
        (workers || !(flags & TH_WAIT_WORKERS) || s->workers == 0))
      return 0;
    th_sleep_ms(20);
  }
  char wstate[64];
  if (workers)
    snprintf(wstate, sizeof(wstate), "all ready");
  else if (unready)
    snprintf(wstate, sizeof(wstate), "worker %d never logged ready", (int)unready);
  else
    snprintf(wstate, sizeof(wstate), "missing");
  snprintf(why, whylen, "not ready within %d ms (livez %s, readyz %s, workers %s)",
           timeout_ms, live ? "200" : "not 200", ready ? "200" : "not 200", wstate);
  return -1;
}

void th_server_start_ex(th_server_t *s, const char *const extra[], int flags) {
  if (flags == 0)
    flags = TH_WAIT_LIVE | TH_WAIT_READY | TH_WAIT_WORKERS;
  memset(s, 0, sizeof(*s));
  s->owner = getpid();
  s->stop_status = -1; /* not clean until stopped and seen to exit 0 */
  s->workers = 0;
  for (int i = 0; extra != NULL && extra[i] != NULL; i++)
    if (strcmp(extra[i], "--workers") == 0 && extra[i + 1] != NULL)
      s->workers = atoi(extra[i + 1]);
  snprintf(s->dir, sizeof(s->dir), "/tmp/looplab-it-XXXXXX");
  if (mkdtemp(s->dir) == NULL)
    TH_FAIL("harness: mkdtemp: %s", strerror(errno));
  snprintf(s->log_path, sizeof(s->log_path), "%s/server.log", s->dir);
  register_server(s);
  char why[256] = "";
  int fixed_port = 0;
  for (int i = 0; extra != NULL && extra[i] != NULL; i++)
    if (strcmp(extra[i], "--port") == 0 && extra[i + 1] != NULL)
      fixed_port = atoi(extra[i + 1]);
  for (int attempt = 0; attempt < 3; attempt++) {
    s->port = fixed_port != 0 ? fixed_port : th_free_port();
    if (flags & TH_NO_WAIT) {
      s->pid = spawn(s, extra, flags);
      return;
    }
    s->exited = 0;
    s->pid = spawn(s, extra, flags);
    int rc = wait_ready(s, flags, th_scale(15000), why, sizeof(why));
    if (rc == 0)
      return;
    if (rc < 0 || fixed_port != 0)
      break;
  }
  TH_FAIL("harness: server did not start: %s (log above)", why);
}

void th_server_start(th_server_t *s, const char *const extra[]) {
  th_server_start_ex(s, extra, 0);
}

void th_server_signal(th_server_t *s, int sig) {
  if (!s->exited && s->pid > 0)
    kill(s->pid, sig);
}

static int running(pid_t pid) {
  char st = th_proc_state(pid);
  return st != 0 && st != 'Z';
}

/* After the primary exited: its workers and anything else running with its
 * port must be gone (given 2 s). What is not is killed, so nothing outlives
 * the test, and counted, so the test fails (th_server_was_clean). */
static int kill_leftovers(const th_server_t *s, const pid_t *w, int n) {
  int64_t deadline = th_now_ms() + th_scale(2000);
  int left = 0;
  for (;;) {
    pid_t stray[8];
    int ns = th_procs_with_port(s->port, stray, 8);
    left = 0;
    for (int i = 0; i < n; i++) left += running(w[i]);
    for (int i = 0; i < ns && i < 8; i++)
      left += running(stray[i]) && !contains_pid(w, n, stray[i]);
    if (left == 0 || th_now_ms() >= deadline)
      break;
    th_sleep_ms(10);
  }
  if (left == 0)
    return 0;
  pid_t stray[8];
  int ns = th_procs_with_port(s->port, stray, 8);
  for (int i = 0; i < n; i++)
    if (running(w[i])) {
      fprintf(stderr, "harness: worker %d outlived its primary %d; SIGKILL\n", (int)w[i],
              (int)s->pid);
      kill(w[i], SIGKILL);
    }
  for (int i = 0; i < ns && i < 8; i++)
    if (running(stray[i])) {
      fprintf(stderr, "harness: process %d still runs with --port %d; SIGKILL\n",
              (int)stray[i], s->port);
      kill(stray[i], SIGKILL);
    }
  /* SIGKILL is asynchronous: wait (1 s at most) until they are gone. */
  for (int64_t until = th_now_ms() + 1000; th_now_ms() < until; th_sleep_ms(10)) {
    int alive = 0;
    for (int i = 0; i < n; i++) alive += running(w[i]);
    for (int i = 0; i < ns && i < 8; i++) alive += running(stray[i]);
    if (alive == 0)
      break;
  }
  return left;
}

int th_server_stop(th_server_t *s, int timeout_ms) {
  int status = -1;
  if (!s->registered && s->exited)
    return s->status;
  if (s->owner != getpid() || s->pid <= 0) {
    unregister(s);
    return -1;
  }
  pid_t w[64];
  int n = th_server_workers(s, w, 64);
  if (!s->exited)
    kill(s->pid, SIGTERM);
  if (!th_server_wait_exit(s, timeout_ms, &status)) {
    fprintf(stderr, "harness: server %d ignored SIGTERM for %d ms; SIGKILL\n",
            (int)s->pid, timeout_ms);
    th_server_dump_log(s, 4000);
    kill(s->pid, SIGKILL);
    th_server_wait_exit(s, 5000, &status);
  }
  s->leftover = kill_leftovers(s, w, n < 64 ? n : 64);
  s->stop_status = status;
  s->sanitizer = scan_sanitizer(s);
  scan_worker_exits(s, s->worker_exit, sizeof(s->worker_exit));
  rm_rf(s->dir);
  unregister(s);
  return status;
}

int th_server_left_nothing(const th_server_t *s, const char *what) {
  if (s->sanitizer) {
    fprintf(stderr, "%s: the server log holds a sanitizer report (printed above)\n",
            what);
    return 0;
  }
  if (s->leftover) {
    fprintf(stderr, "%s: %d process(es) outlived the primary (killed)\n", what,
            s->leftover);
    return 0;
  }
  return 1;
}

int th_server_was_clean(const th_server_t *s, const char *what) {
  if (!th_server_left_nothing(s, what))
    return 0;
  if (!(WIFEXITED(s->stop_status) && WEXITSTATUS(s->stop_status) == 0)) {
    fprintf(stderr, "%s: the server's exit status was 0x%x, want exit 0\n", what,
            s->stop_status);
    return 0;
  }
  if (s->worker_exit[0]) {
    fprintf(stderr, "%s: the server exited 0, but its log says: %s\n", what,
            s->worker_exit);
    return 0;
  }
  return 1;
}

/* ---- sanitizers ---- */

/* Under ASan, LeakSanitizer's exit-time check of every forked Check child
 * costs about 0.2 s; these suites check the server, whose processes (another
 * binary) keep LeakSanitizer on. So the test processes of integration runs
 * (LOOPLAB_BIN set) skip their own leak check. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) {
  return getenv("LOOPLAB_BIN") != NULL;
}

/* ---- raw HTTP ---- */

int th_conn_try_open(int port, th_conn_t **out) {
  return th_conn_try_open_rcvbuf(port, 0, out);
}

int th_conn_try_open_rcvbuf(int port, int rcvbuf, th_conn_t **out) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (rcvbuf > 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  th_conn_t *c = calloc(1, sizeof(*c));
  c->fd = fd;
  *out = c;
  return 0;
}

th_conn_t *th_conn_open(int port) {
  th_conn_t *c = NULL;
  int err = th_conn_try_open(port, &c);
  if (err != 0)
    TH_FAIL("harness: connect to 127.0.0.1:%d: %s", port, strerror(-err));
  return c;
}

void th_conn_close(th_conn_t *c) {
  if (c == NULL)
    return;
  if (c->fd >= 0)
    close(c->fd);
  free(c->buf);
  free(c);
}

int th_send(th_conn_t *c, const void *p, size_t n) {
  const char *b = p;
  while (n > 0) {
    ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

int th_sends(th_conn_t *c, const char *s) {
  return th_send(c, s, strlen(s));
}

/* Reads what is available within timeout_ms into c->buf. Returns bytes
 * read (>0), 0 on EOF/reset (c->eof set), or TH_ETIMEDOUT. */
static int fill(th_conn_t *c, int timeout_ms) {
  if (c->eof)
    return 0;
  struct pollfd pfd = {c->fd, POLLIN, 0};
  int pr;
  do pr = poll(&pfd, 1, timeout_ms < 0 ? 0 : timeout_ms);
  while (pr < 0 && errno == EINTR);
  if (pr == 0)
    return TH_ETIMEDOUT;
  if (c->cap - c->len < 16384) {
    c->cap = c->cap * 2 + 65536;
    c->buf = realloc(c->buf, c->cap + 1);
  }
  /* At most 16 KiB a read: each parsed response is moved out of the
   * buffer, so a small buffer keeps long pipelines linear. */
  size_t room = c->cap - c->len < 16384 ? c->cap - c->len : 16384;
  ssize_t n;
  do n = recv(c->fd, c->buf + c->len, room, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0) {
    c->eof = 1;
    c->reset = n < 0;
    return 0;
  }
  c->len += (size_t)n;
  c->buf[c->len] = '\0';
  return (int)n;
}

typedef struct parse_s {
  th_response_t *r;
  int head;
  int done;
  int in_value;
  char field[256];
  size_t flen;
  char *value;
  size_t vlen, vcap;
  size_t bcap;
} parse_t;

static void push_header(parse_t *p) {
  th_response_t *r = p->r;
  if (p->flen == 0 && p->vlen == 0)
    return;
  if (r->nheaders < TH_MAX_HEADERS) {
    r->names[r->nheaders] = strndup(p->field, p->flen);
    r->values[r->nheaders] = strndup(p->value != NULL ? p->value : "", p->vlen);
    r->nheaders++;
  }
  p->flen = p->vlen = 0;
  p->in_value = 0;
}

static int on_header_field(llhttp_t *h, const char *at, size_t n) {
  parse_t *p = h->data;
  if (p->in_value)
    push_header(p);
  if (p->flen + n < sizeof(p->field)) {
    memcpy(p->field + p->flen, at, n);
    p->flen += n;
  }
  return 0;
}

static int on_header_value(llhttp_t *h, const char *at, size_t n) {
  parse_t *p = h->data;
  p->in_value = 1;
  if (p->vlen + n + 1 > p->vcap) {
    p->vcap = (p->vlen + n + 1) * 2;
    p->value = realloc(p->value, p->vcap);
  }
  memcpy(p->value + p->vlen, at, n);
  p->vlen += n;
  return 0;
}

static int on_headers_complete(llhttp_t *h) {
  parse_t *p = h->data;
  push_header(p);
  p->r->status = h->status_code;
  p->r->http_major = h->http_major;
  p->r->http_minor = h->http_minor;
  p->r->keep_alive = llhttp_should_keep_alive(h);
  p->r->chunked = (h->flags & F_CHUNKED) != 0;
  return p->head ? 1 : 0;
}

static int on_body(llhttp_t *h, const char *at, size_t n) {
  parse_t *p = h->data;
  th_response_t *r = p->r;
  if (r->body_len + n + 1 > p->bcap) {
    p->bcap = (r->body_len + n + 1) * 2;
    r->body = realloc(r->body, p->bcap);
  }
  memcpy(r->body + r->body_len, at, n);
  r->body_len += n;
  r->body[r->body_len] = '\0';
  return 0;
}

static int on_message_complete(llhttp_t *h) {
  parse_t *p = h->data;
  p->done = 1;
  return HPE_PAUSED;
}

/* Parses one response from p..p+n. Returns bytes consumed (>0) when one
 * is complete, 0 when more bytes are needed, TH_EPARSE on garbage. With
 * eof, a body delimited by the close is completed. */
static long parse_one(const char *data, size_t n, int eof, int head, th_response_t *r) {
  llhttp_settings_t st;
  llhttp_t h;
  parse_t p;
  memset(r, 0, sizeof(*r));
  memset(&p, 0, sizeof(p));
  p.r = r;
  p.head = head;
  llhttp_settings_init(&st);
  st.on_header_field = on_header_field;
  st.on_header_value = on_header_value;
  st.on_headers_complete = on_headers_complete;
  st.on_body = on_body;
  st.on_message_complete = on_message_complete;
  llhttp_init(&h, HTTP_RESPONSE, &st);
  h.data = &p;
  long consumed = 0;
  llhttp_errno_t err = n > 0 ? llhttp_execute(&h, data, n) : HPE_OK;
  if (err == HPE_PAUSED && p.done) {
    consumed = (long)(llhttp_get_error_pos(&h) - data);
    if (consumed <= 0)
      consumed = (long)n;
  } else if (err != HPE_OK) {
    consumed = TH_EPARSE;
  } else if (eof && n > 0) {
    err = llhttp_finish(&h);
    if ((err == HPE_OK || err == HPE_PAUSED) && p.done)
      consumed = (long)n;
  }
  free(p.value);
  if (consumed <= 0)
    th_response_free(r);
  if (r->body == NULL && consumed > 0)
    r->body = calloc(1, 1);
  if (consumed > 0)
    r->raw_len = (size_t)consumed;
  return consumed;
}

int th_read_response_ex(th_conn_t *c, th_response_t *r, int timeout_ms, int head) {
  int64_t deadline = th_now_ms() + timeout_ms;
  for (;;) {
    long used = parse_one(c->buf, c->len, c->eof, head, r);
    if (used > 0) {
      memmove(c->buf, c->buf + used, c->len - (size_t)used);
      c->len -= (size_t)used;
      if (c->buf != NULL)
        c->buf[c->len] = '\0';
      return TH_OK;
    }
    if (used == TH_EPARSE)
      return TH_EPARSE;
    if (c->eof)
      return TH_ECLOSED;
    int rc = fill(c, (int)(deadline - th_now_ms()));
    if (rc == TH_ETIMEDOUT)
      return TH_ETIMEDOUT;
  }
}

int th_read_response(th_conn_t *c, th_response_t *r, int timeout_ms) {
  return th_read_response_ex(c, r, timeout_ms, 0);
}

void th_response_free(th_response_t *r) {
  for (int i = 0; i < r->nheaders; i++) {
    free(r->names[i]);
    free(r->values[i]);
  }
  free(r->body);
  memset(r, 0, sizeof(*r));
}

const char *th_header(const th_response_t *r, const char *name) {
  for (int i = 0; i < r->nheaders; i++)
    if (strcasecmp(r->names[i], name) == 0)
      return r->values[i];
  return NULL;
}

int th_conn_close_hdr(const th_response_t *r) {
  for (int i = 0; i < r->nheaders; i++) {
    if (strcasecmp(r->names[i], "connection") != 0)
      continue;
    const char *v = r->values[i];
    while (*v != '\0') {
      while (*v == ' ' || *v == ',' || *v == '\t') v++;
      size_t k = strcspn(v, ", \t");
      if (k == 5 && strncasecmp(v, "close", 5) == 0)
        return 1;
      v += k;
    }
  }
  return 0;
}

int th_read_until_close(th_conn_t *c, int timeout_ms) {
  int64_t deadline = th_now_ms() + timeout_ms;
  while (!c->eof) {
    int rc = fill(c, (int)(deadline - th_now_ms()));
    if (rc == TH_ETIMEDOUT)
      return 0;
  }
  return 1;
}

int th_count_responses(const char *p, size_t n) {
  int count = 0;
  while (n > 0) {
    th_response_t r;
    long used = parse_one(p, n, 1, 0, &r);
    if (used <= 0)
      break;
    th_response_free(&r);
    count++;
    p += used;
    n -= (size_t)used;
  }
  return count;
}

size_t th_format_request(char **out, const char *method, const char *path,
                         const char *headers, const char *body) {
  size_t hlen = headers != NULL ? strlen(headers) : 0;
  size_t blen = body != NULL ? strlen(body) : 0;
  size_t cap = strlen(method) + strlen(path) + hlen + blen + 256;
  char *buf = malloc(cap);
  int has_ct = 0;
  for (size_t i = 0; headers != NULL && i + 13 <= hlen; i++)
    if (strncasecmp(headers + i, "content-type:", 13) == 0)
      has_ct = 1;
  int n = snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: t\r\n%s", method, path,
                   headers != NULL ? headers : "");
  if (body != NULL)
    n += snprintf(buf + n, cap - (size_t)n, "%sContent-Length: %zu\r\n",
                  has_ct ? "" : "Content-Type: application/json\r\n", blen);
  n += snprintf(buf + n, cap - (size_t)n, "\r\n");
  if (body != NULL)
    memcpy(buf + n, body, blen);
  buf[n + blen] = '\0';
  *out = buf;
  return (size_t)n + blen;
}

int th_conn_request(th_conn_t *c, const char *method, const char *path,
                    const char *headers, const char *body, th_response_t *r,
                    int timeout_ms) {
  char *req;
  size_t n = th_format_request(&req, method, path, headers, body);
  int rc = th_send(c, req, n);
  free(req);
  if (rc != 0)
    return TH_ECLOSED;
  return th_read_response_ex(c, r, timeout_ms, strcmp(method, "HEAD") == 0);
}

void th_request(int port, const char *method, const char *path, const char *headers,
                const char *body, th_response_t *r) {
  th_conn_t *c = th_conn_open(port);
  int rc = th_conn_request(c, method, path, headers, body, r, th_scale(5000));
  th_conn_close(c);
  if (rc != TH_OK) {
    TH_FAIL("%s %s: no response (%s)", method, path,
            rc == TH_ETIMEDOUT ? "timeout"
            : rc == TH_ECLOSED ? "closed"
                               : "unparsable");
  }
}

/* ---- checks ---- */

void th_assert_error_shape(const th_response_t *r, int status, const char *contains,
                           const char *what) {
  const char *ct = th_header(r, "content-type");
  TH_ASSERT(ct != NULL && strncasecmp(ct, "application/json", 16) == 0,
            "%s: error response content-type is %s, want application/json", what,
            ct != NULL ? ct : "(none)");
  cJSON *j = cJSON_ParseWithLength(r->body != NULL ? r->body : "", r->body_len);
  TH_ASSERT(j != NULL && cJSON_IsObject(j), "%s: error body is not a JSON object: %.300s",
            what, r->body != NULL ? r->body : "");
  cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "statusCode");
  cJSON *er = cJSON_GetObjectItemCaseSensitive(j, "error");
  cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
  int ok_sc = cJSON_IsNumber(sc) && sc->valuedouble == status;
  int ok_er = cJSON_IsString(er) && er->valuestring[0] != '\0';
  int ok_msg = cJSON_IsString(msg);
  int ok_has = !ok_msg || contains == NULL || strstr(msg->valuestring, contains) != NULL;
  char body[400];
  snprintf(body, sizeof(body), "%.399s", r->body);
  cJSON_Delete(j);
  TH_ASSERT(ok_sc, "%s: statusCode in body is not %d: %s", what, status, body);
  TH_ASSERT(ok_er, "%s: no \"error\" string in body: %s", what, body);
  TH_ASSERT(ok_msg, "%s: no \"message\" string in body: %s", what, body);
  TH_ASSERT(ok_has, "%s: message does not name \"%s\": %s", what, contains, body);
}

/* ---- the database ---- */

/* One connection per process and conninfo, opened on first use: a
 * connection inherited over fork belongs to the parent and is forgotten
 * (never closed, which would end the parent's session). */
static PGconn *sql_conn;
static pid_t sql_pid;
static char sql_conninfo[2048];

static PGconn *sql_connect(const char *conninfo, int fresh) {
  if (sql_conn != NULL && (sql_pid != getpid() || strcmp(sql_conninfo, conninfo) != 0)) {
    if (sql_pid == getpid())
      PQfinish(sql_conn);
    sql_conn = NULL;
  }
  if (sql_conn != NULL && (fresh || PQstatus(sql_conn) != CONNECTION_OK)) {
    PQfinish(sql_conn);
    sql_conn = NULL;
  }
  if (sql_conn == NULL) {
    PGconn *db = PQconnectdb(conninfo);
    if (PQstatus(db) != CONNECTION_OK) {
      char msg[512];
      snprintf(msg, sizeof(msg), "%s", PQerrorMessage(db));
      PQfinish(db);
      TH_FAIL("th_sql: connect failed: %s", msg);
    }
    sql_conn = db;
    sql_pid = getpid();
    snprintf(sql_conninfo, sizeof(sql_conninfo), "%s", conninfo);
  }
  return sql_conn;
}

int th_sql(const char *conninfo, const char *sql, char *out, size_t outlen) {
  PGconn *db = sql_connect(conninfo, 0);
  PGresult *res = PQexec(db, sql);
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && PQstatus(db) != CONNECTION_OK) {
    /* The session was terminated under us (outage tests): once more. */
    PQclear(res);
    db = sql_connect(conninfo, 1);
    res = PQexec(db, sql);
    st = PQresultStatus(res);
  }
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
    PQclear(res);
    TH_FAIL("th_sql: %s: %s", sql, msg);
  }
  int rows = st == PGRES_TUPLES_OK ? PQntuples(res) : atoi(PQcmdTuples(res));
  if (out != NULL && outlen > 0) {
    out[0] = '\0';
    if (st == PGRES_TUPLES_OK && PQntuples(res) > 0 && PQnfields(res) > 0)
      snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
  }
  PQclear(res);
  return rows;
}

int64_t th_sql_int(const char *conninfo, const char *sql) {
  char buf[64];
  th_sql(conninfo, sql, buf, sizeof(buf));
  return strtoll(buf, NULL, 10);
}

int th_run_suite(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
