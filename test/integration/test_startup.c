/* Start-up failures (issue 9, bugs 1 and 4; SPEC section 3): a bind that
 * fails in any --sched mode stops start-up with one clear line and a
 * non-zero exit, and nothing of looplab's listens anywhere else; bad
 * --host and --db values are refused before anything starts. */
#include <check.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MAXP 32
#define MAXI 256

/* ---- listening sockets of a set of processes ---- */

/* The socket inodes among the descriptors of pid; returns how many were
 * stored in out (at most max). */
static int socket_inodes(pid_t pid, unsigned long *out, int max) {
  char path[64], link[128];
  snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  if (d == NULL)
    return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < max) {
    char fd[320];
    snprintf(fd, sizeof(fd), "%s/%s", path, e->d_name);
    ssize_t len = readlink(fd, link, sizeof(link) - 1);
    if (len <= 0)
      continue;
    link[len] = '\0';
    unsigned long ino;
    if (sscanf(link, "socket:[%lu]", &ino) == 1)
      out[n++] = ino;
  }
  closedir(d);
  return n;
}

/* The port of a LISTEN socket in /proc/net/<table> whose inode is in inos,
 * or 0 if none is. */
static int listening_port(const char *table, const unsigned long *inos, int n) {
  char path[64], line[512];
  snprintf(path, sizeof(path), "/proc/net/%s", table);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  int found = 0;
  while (!found && fgets(line, sizeof(line), f)) {
    char local[128];
    unsigned st, port;
    unsigned long ino;
    /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
    if (sscanf(line, " %*d: %127s %*s %x %*s %*s %*s %*d %*d %lu", local, &st, &ino) != 3)
      continue;
    const char *colon = strrchr(local, ':');
    if (st != 0x0A || colon == NULL || sscanf(colon + 1, "%x", &port) != 1)
      continue;
    for (int i = 0; i < n; i++)
      if (inos[i] == ino)
        found = (int)port;
  }
  fclose(f);
  return found;
}

/* The port of any TCP socket that the server's primary or its children
 * have listening, or 0. The socket whose inode is skip is left out: our own
 * socket, which the spawned process has from fork until exec. */
static int server_listens(const th_server_t *s, unsigned long skip) {
  pid_t pids[MAXP];
  int np = th_server_workers(s, pids + 1, MAXP - 1);
  if (np > MAXP - 1)
    np = MAXP - 1;
  pids[0] = s->pid;
  np++;
  unsigned long inos[MAXI];
  int ni = 0;
  for (int i = 0; i < np; i++) ni += socket_inodes(pids[i], inos + ni, MAXI - ni);
  for (int i = 0; i < ni; i++)
    if (inos[i] == skip)
      inos[i--] = inos[--ni];
  int port = listening_port("tcp", inos, ni);
  return port ? port : listening_port("tcp6", inos, ni);
}

/* ---- the log ---- */

static char *read_log(const th_server_t *s) {
  FILE *f = fopen(s->log_path, "r");
  if (f == NULL)
    return calloc(1, 1);
  char *buf = NULL;
  size_t cap = 0, len = 0, n;
  char chunk[4096];
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    if (len + n + 1 > cap) {
      cap = (len + n + 1) * 2;
      buf = realloc(buf, cap);
    }
    memcpy(buf + len, chunk, n);
    len += n;
  }
  fclose(f);
  if (buf == NULL)
    return calloc(1, 1);
  buf[len] = '\0';
  return buf;
}

/* Lines logged at error level or above (pino levels 50 and 60). */
static int error_lines(const char *log) {
  int n = 0;
  for (const char *p = log; (p = strstr(p, "\"level\":")) != NULL; p += 8)
    if (strncmp(p + 8, "50", 2) == 0 || strncmp(p + 8, "60", 2) == 0)
      n++;
  return n;
}

/* Holds 127.0.0.1:port with a plain listening socket (no SO_REUSEPORT),
 * as an unrelated server would. */
static int hold_port(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  TH_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                listen(fd, 8) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0,
            "cannot hold a port: %s", strerror(errno));
  *port = ntohs(a.sin_port);
  return fd;
}

/* ---- bug 1: a bind failure stops start-up in every mode ---- */

static const char *const bind_modes[][2] = {
    {"2", "rr"}, {"2", "none"}, {"2", "reuseport"}, {"0", "rr"}};

START_TEST(busy_port_stops_startup) {
  const char *workers = bind_modes[_i][0], *sched = bind_modes[_i][1];
  int port;
  int held = hold_port(&port);
  struct stat held_st;
  TH_ASSERT(fstat(held, &held_st) == 0, "fstat: %s", strerror(errno));
  char ps[16];
  snprintf(ps, sizeof(ps), "%d", port);
  const char *const args[] = {"--workers", workers,  "--sched", sched, "--pool",
                              "1",         "--port", ps,        NULL};
  th_server_t s;
  th_server_start_ex(&s, args, TH_NO_WAIT);
  /* Until it exits (or for 3 s), none of its processes may listen. */
  int64_t t0 = th_now_ms();
  int status = 0, exited = 0, stray = 0;
  while (!exited && th_now_ms() - t0 < th_scale(3000)) {
    if (stray == 0)
      stray = server_listens(&s, (unsigned long)held_st.st_ino);
    exited = th_server_wait_exit(&s, 10, &status);
  }
  close(held);
  char *log = read_log(&s);
  char want[96];
  snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%d: address already in use",
           port);
  int errors = error_lines(log);
  int has_line = strstr(log, want) != NULL;
  int claims = strstr(log, "listening on http") != NULL;
  free(log);
  if (!exited || stray || !has_line || errors != 1 || claims)
    th_server_dump_log(&s, 4000);
  TH_ASSERT(stray == 0,
            "--workers %s --sched %s: port %d held, yet it listens on port %d", workers,
            sched, port, stray);
  TH_ASSERT(exited, "--workers %s --sched %s: still running 3 s after its bind failed",
            workers, sched);
  TH_ASSERT(!(WIFEXITED(status) && WEXITSTATUS(status) == 0),
            "--workers %s --sched %s: exit status 0 after a failed bind", workers, sched);
  TH_ASSERT(has_line, "--workers %s --sched %s: no line '%s'", workers, sched, want);
  TH_ASSERT(errors == 1, "--workers %s --sched %s: %d error lines, want exactly one",
            workers, sched, errors);
  TH_ASSERT(!claims, "--workers %s --sched %s: logs that it listens", workers, sched);
  th_server_stop(&s, 1000);
  TH_ASSERT_NOTHING_LEFT(&s, "after a failed bind");
  th_assert_gone(&s, NULL, 0, "after a failed bind");
}
END_TEST

/* ---- bug 4: bad --host and --db are refused before anything starts ---- */

typedef struct bad_case_s {
  const char *flag, *value, *says;
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"--host", "nonsense", "invalid value 'nonsense' for --host"},
    {"--host", "999.1.1.1", "invalid value '999.1.1.1' for --host"},
    {"--host", "::1::2", "invalid value '::1::2' for --host"},
    {"--db", "bogus_keyword=1", "invalid value for --db"},
    {"--db", "password=sekrit dbname", "invalid value for --db"},
    {"--db", "postgresql://h:notaport/x", "invalid value for --db"},
};

/* Each bad value: exit 2 within 2 s, one line naming the flag, no worker
 * forked, no embedded PostgreSQL initialised or started, and a password
 * in a bad --db never echoed. */
START_TEST(bad_value_refused_first) {
  const bad_case_t *c = &bad_cases[_i];
  char dir[] = "/tmp/looplab-bad-XXXXXX", data[600];
  TH_ASSERT(mkdtemp(dir) != NULL, "mkdtemp");
  snprintf(data, sizeof(data), "%s/pg", dir);
  /* A bad --host with no --db would start the embedded database first. */
  const char *const args[] = {"--workers", "2",     "--data-dir", data, "--scale",
                              "0.01",      c->flag, c->value,     NULL};
  th_server_t s;
  th_server_start_ex(&s, args, TH_NO_DB | TH_NO_WAIT);
  int status = 0;
  int exited = th_server_wait_exit(&s, th_scale(2000), &status);
  char pmfile[700];
  snprintf(pmfile, sizeof(pmfile), "%s/postmaster.pid", data);
  if (!exited) {
    kill(s.pid, SIGKILL);
    th_server_wait_exit(&s, 5000, &status);
    /* It got as far as the database: stop it (immediate shutdown). */
    int64_t t0 = th_now_ms();
    FILE *f = NULL;
    while ((f = fopen(pmfile, "r")) == NULL && th_now_ms() - t0 < 5000) th_sleep_ms(100);
    int pm = 0;
    if (f && fscanf(f, "%d", &pm) == 1 && pm > 0)
      kill(pm, SIGQUIT);
    if (f)
      fclose(f);
  }
  /* The server's own output: the harness's "# harness: exec" line is not. */
  char *log = read_log(&s);
  const char *out = log;
  while (strncmp(out, "# harness", 9) == 0 && strchr(out, '\n'))
    out = strchr(out, '\n') + 1;
  int says = strstr(out, c->says) != NULL, echoed = strstr(out, "sekrit") != NULL;
  int lines = 0;
  for (const char *p = out; *p; p++) lines += *p == '\n';
  if (!exited || !says || lines != 1)
    th_server_dump_log(&s, 3000);
  free(log);
  int initialised = access(data, F_OK) == 0;
  th_server_stop(&s, 1000);
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  TH_ASSERT(system(cmd) == 0, "rm -rf %s", dir);
  TH_ASSERT_NOTHING_LEFT(&s, c->flag);
  TH_ASSERT(exited, "%s '%s': still running 2 s after start", c->flag, c->value);
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 2,
            "%s '%s': exit status 0x%x, want 2", c->flag, c->value, status);
  TH_ASSERT(!initialised, "%s '%s': the embedded database was set up first", c->flag,
            c->value);
  TH_ASSERT(says, "%s '%s': no line '%s'", c->flag, c->value, c->says);
  TH_ASSERT(lines == 1, "%s '%s': %d lines of output, want one", c->flag, c->value,
            lines);
  TH_ASSERT(!echoed, "%s '%s': the password was echoed", c->flag, c->value);
}
END_TEST

/* A database that refuses connections is reported with libpq's reason
 * (libuv reports a failed connect as a poll error, UV_EBADF). */
START_TEST(refused_database_reason) {
  char db[96];
  snprintf(db, sizeof(db), "host=127.0.0.1 port=%d dbname=x connect_timeout=1",
           th_free_port());
  const char *const args[] = {"--workers", "0", "--pool", "2", "--db", db, NULL};
  th_server_t s;
  th_server_start_ex(&s, args, TH_WAIT_LIVE);
  int64_t t0 = th_now_ms();
  char *log = NULL;
  while (th_now_ms() - t0 < th_scale(3000)) {
    free(log);
    log = read_log(&s);
    if (strstr(log, "PostgreSQL unavailable"))
      break;
    th_sleep_ms(20);
  }
  const char *line = strstr(log, "PostgreSQL unavailable");
  char msg[300] = "";
  if (line)
    sscanf(line, "%299[^\n]", msg);
  free(log);
  int status = th_server_stop(&s, th_scale(5000));
  TH_ASSERT(line != NULL, "no 'PostgreSQL unavailable' line");
  TH_ASSERT(strstr(msg, "Connection refused") != NULL && strstr(msg, "bad file") == NULL,
            "reported as: %s", msg);
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  TH_ASSERT_CLEAN(&s, "refused database");
}
END_TEST

static Suite *startup_suite(void) {
  Suite *s = suite_create("startup");
  TCase *tc = tcase_create("startup");
  tcase_set_timeout(tc, 30);
  tcase_add_loop_test(tc, busy_port_stops_startup, 0,
                      (int)(sizeof(bind_modes) / sizeof(bind_modes[0])));
  tcase_add_loop_test(tc, bad_value_refused_first, 0,
                      (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
  tcase_add_test(tc, refused_database_reason);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return th_run_suite(startup_suite());
}
