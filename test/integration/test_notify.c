/* systemd's notify protocol (issue 13, point 3: deploy/looplab.service is
 * Type=notify). The test plays the service manager: an AF_UNIX datagram
 * socket in $NOTIFY_SOCKET with SO_PASSCRED, so each message carries the
 * sender's pid.
 * - a cluster: READY=1 only once both workers are ready, WATCHDOG=1 at half
 *   of WATCHDOG_USEC, RELOADING=1 on SIGHUP and READY=1 once every worker
 *   is replaced, STOPPING=1 on SIGTERM; every message from the primary
 *   (NotifyAccess=main), none from a worker.
 * - a single process on an abstract socket ("@name"): READY=1, STOPPING=1
 *   as soon as SIGTERM arrives with --drain-delay (not at its end).
 * - no NOTIFY_SOCKET: nothing changes (every other suite). */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

typedef struct msg_s {
  char text[512];
  pid_t pid;
} msg_t;

/* A socket bound at path ("@..." abstract); its name goes in
 * $NOTIFY_SOCKET for the next server started. */
static int listen_notify(const char *path) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  TH_ASSERT(fd >= 0, "socket: %s", strerror(errno));
  int on = 1;
  TH_ASSERT(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == 0, "SO_PASSCRED");
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t n = strlen(path);
  memcpy(sa.sun_path, path, n);
  if (path[0] == '@')
    sa.sun_path[0] = '\0';
  TH_ASSERT(bind(fd, (struct sockaddr *)&sa,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) == 0,
            "bind %s: %s", path, strerror(errno));
  setenv("NOTIFY_SOCKET", path, 1);
  return fd;
}

/* The next message within timeout_ms: 1, or 0 on timeout. */
static int next_msg(int fd, msg_t *m, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0)
    return 0;
  char cbuf[CMSG_SPACE(sizeof(struct ucred))];
  struct iovec iov = {m->text, sizeof(m->text) - 1};
  struct msghdr mh = {.msg_iov = &iov,
                      .msg_iovlen = 1,
                      .msg_control = cbuf,
                      .msg_controllen = sizeof(cbuf)};
  ssize_t n = recvmsg(fd, &mh, 0);
  TH_ASSERT(n >= 0, "recvmsg: %s", strerror(errno));
  m->text[n] = '\0';
  m->pid = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
      struct ucred u;
      memcpy(&u, CMSG_DATA(c), sizeof(u));
      m->pid = u.pid;
    }
  return 1;
}

/* Waits for a message starting with want, skipping WATCHDOG=1 (counted in
 * *dogs when not NULL); every message must come from pid. */
static void expect(int fd, pid_t pid, const char *want, int timeout_ms, int *dogs,
                   msg_t *out) {
  int64_t end = th_now_ms() + th_scale(timeout_ms);
  msg_t m;
  for (;;) {
    int left = (int)(end - th_now_ms());
    TH_ASSERT(left > 0 && next_msg(fd, &m, left), "no %s within %d ms", want, timeout_ms);
    TH_ASSERT(m.pid == pid, "'%s' from pid %d, not the main process %d", m.text, m.pid,
              pid);
    if (strcmp(m.text, "WATCHDOG=1") == 0 && strcmp(want, "WATCHDOG=1") != 0) {
      if (dogs)
        (*dogs)++;
      continue;
    }
    TH_ASSERT(strncmp(m.text, want, strlen(want)) == 0, "got '%s', want '%s'", m.text,
              want);
    if (out)
      *out = m;
    return;
  }
}

static int count_in_log(const th_server_t *s, const char *needle) {
  FILE *f = fopen(s->log_path, "r");
  if (!f)
    return 0;
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof(line), f))
    if (strstr(line, needle))
      n++;
  fclose(f);
  return n;
}

START_TEST(cluster) {
  char path[128];
  snprintf(path, sizeof(path), "/tmp/looplab-notify-%d.sock", (int)getpid());
  unlink(path);
  int fd = listen_notify(path);
  setenv("WATCHDOG_USEC", "200000", 1);
  const char *args[] = {"--workers", "2", "--pool", "2", NULL};
  th_server_t s;
  th_server_start_ex(&s, args, TH_NO_WAIT);
  msg_t m;
  expect(fd, s.pid, "READY=1", 15000, NULL, &m);
  int ready = count_in_log(&s, " ready\"}");
  TH_ASSERT(ready == 2, "READY=1 with %d of 2 workers ready: %s", ready, m.text);
  TH_ASSERT(strstr(m.text, "STATUS=serving (2 workers)"), "READY message: %s", m.text);
  TH_ASSERT(th_get_status(s.port, "/readyz", 2000) == 200, "not ready after READY=1");
  int64_t t0 = th_now_ms();
  for (int i = 0; i < 3; i++) expect(fd, s.pid, "WATCHDOG=1", 1000, NULL, NULL);
  int64_t took = th_now_ms() - t0;
  fprintf(stderr, "notify: 3 WATCHDOG=1 in %lld ms (WATCHDOG_USEC=200000)\n",
          (long long)took);
  TH_ASSERT(took >= 150 && took <= th_scale(600), "3 watchdog pings took %lld ms",
            (long long)took);

  th_server_signal(&s, SIGHUP);
  expect(fd, s.pid, "RELOADING=1", 5000, NULL, NULL);
  int dogs = 0;
  expect(fd, s.pid, "READY=1", 15000, &dogs, &m);
  TH_ASSERT(count_in_log(&s, "all workers replaced") == 1,
            "READY=1 before the roll ended");
  TH_ASSERT(strstr(m.text, "workers replaced"), "READY after SIGHUP: %s", m.text);

  th_server_signal(&s, SIGTERM);
  expect(fd, s.pid, "STOPPING=1", 5000, NULL, NULL);
  int st; /* th_server_stop's own SIGTERM would be a second one: forced */
  TH_ASSERT(th_server_wait_exit(&s, th_scale(10000), &st), "no exit after SIGTERM");
  th_server_stop(&s, 10000);
  TH_ASSERT_CLEAN(&s, "notify cluster");
  /* Nothing from a worker, even late: they never had the socket. */
  while (next_msg(fd, &m, 100))
    TH_ASSERT(m.pid == s.pid, "'%s' from pid %d after exit", m.text, m.pid);
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  close(fd);
  unlink(path);
}
END_TEST

START_TEST(single_abstract) {
  char path[128];
  snprintf(path, sizeof(path), "@looplab-notify-%d", (int)getpid());
  int fd = listen_notify(path);
  const char *args[] = {"--drain-delay", "600", NULL};
  th_server_t s;
  th_server_start_ex(&s, args, TH_NO_WAIT);
  msg_t m;
  expect(fd, s.pid, "READY=1", 15000, NULL, &m);
  TH_ASSERT(strstr(m.text, "single process"), "READY message: %s", m.text);
  TH_ASSERT(th_get_status(s.port, "/readyz", 2000) == 200, "not ready after READY=1");
  int64_t t0 = th_now_ms();
  th_server_signal(&s, SIGTERM);
  expect(fd, s.pid, "STOPPING=1", 5000, NULL, NULL);
  int64_t took = th_now_ms() - t0;
  TH_ASSERT(took < 400, "STOPPING=1 %lld ms after SIGTERM: not at the delay's start",
            (long long)took);
  TH_ASSERT(!next_msg(fd, &m, 100), "more after STOPPING=1 (no watchdog asked): %s",
            m.text);
  int st;
  TH_ASSERT(th_server_wait_exit(&s, th_scale(10000), &st), "no exit after SIGTERM");
  th_server_stop(&s, 5000);
  TH_ASSERT_CLEAN(&s, "notify single");
  unsetenv("NOTIFY_SOCKET");
  close(fd);
}
END_TEST

int main(void) {
  Suite *s = suite_create("notify");
  TCase *tc = tcase_create("notify");
  tcase_set_timeout(tc, 90);
  tcase_add_test(tc, cluster);
  tcase_add_test(tc, single_abstract);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
