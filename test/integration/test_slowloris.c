/* Slowloris (issue 9, fault tests): 1000 connections that each send the
 * start of a request head and then one byte every SLOW_EVERY_MS, never
 * finishing it, against a cluster with a short --headers-timeout. Each gets
 * its 408 once the timeout has passed (the test reads it) and is closed
 * after it; normal requests on fresh connections meanwhile keep a p99 under
 * 100 ms; the server's descriptors (the primary's and each worker's
 * /proc/<pid>/fd) come back to what they were before. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define SLOW 1000
#define HEADERS_TIMEOUT_MS 1000
#define SLOW_EVERY_MS 200 /* one more header byte per connection this often */
#define BATCH 50          /* connections opened at once, then a short pause */
#define MAXW 16
#define P99_MAX_MS 100

/* The test holds SLOW sockets and the server as many (it inherits the
 * limit): raise the soft limit to what that needs, the hard one too when
 * it is lower (as root). 0, or -errno. */
static int raise_nofile(rlim_t want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return -errno;
  if (rl.rlim_cur >= want)
    return 0;
  if (rl.rlim_max < want)
    rl.rlim_max = want;
  rl.rlim_cur = want;
  return setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : -errno;
}

static int count_fds(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  if (d == NULL)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

/* The open descriptors of the primary and its workers together; the
 * workers' pids go to pids (sorted), their count to *nw. */
static int server_fds(const th_server_t *s, pid_t *pids, int *nw) {
  int n = th_server_workers(s, pids, MAXW);
  int total = count_fds(s->pid);
  for (int i = 0; i < n && i < MAXW; i++) total += count_fds(pids[i]);
  *nw = n;
  return total;
}

/* ---- normal requests on fresh connections, meanwhile ---- */

typedef struct normal_s {
  pthread_t thread;
  int port;
  atomic_int stop;
  int *ms; /* each request's time, connect to answer */
  size_t n, cap;
  long failed;
  int last_bad;
} normal_t;

static void *normal_run(void *arg) {
  normal_t *l = arg;
  for (int i = 0; !atomic_load(&l->stop); i++) {
    int64_t t0 = th_now_ms();
    int st = th_get_status(l->port, i % 2 ? "/items/1" : "/livez", th_scale(5000));
    int ms = (int)(th_now_ms() - t0);
    if (st != 200) {
      l->failed++;
      l->last_bad = st;
    }
    if (l->n == l->cap) {
      l->cap = l->cap ? l->cap * 2 : 8192;
      l->ms = realloc(l->ms, l->cap * sizeof(*l->ms));
    }
    l->ms[l->n++] = ms;
  }
  return NULL;
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* ---- the slow clients ---- */

typedef struct slow_s {
  int fd;
  int64_t first_byte; /* when the head's first bytes were sent */
  int64_t got_408;    /* when the status line was read, 0 before */
  int64_t closed;     /* when the server's close (EOF or reset) was seen */
  int reset;
  int sent;      /* header bytes trickled after the first write */
  int bad;       /* something other than a 408 came */
  char head[16]; /* the first bytes of the answer */
  size_t len;
} slow_t;

static const char slow_start[] = "GET /items/1 HTTP/1.1\r\nHost: slow\r\nX-Slow: ";

static int slow_open(int port, slow_t *c) {
  memset(c, 0, sizeof(*c));
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    return -errno;
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    int err = -errno;
    close(c->fd);
    c->fd = -1;
    return err;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  c->first_byte = th_now_ms();
  if (send(c->fd, slow_start, sizeof(slow_start) - 1, MSG_NOSIGNAL) < 0)
    return -errno;
  return 0;
}

/* Reads what came: the answer's first bytes, then the close. */
static void slow_read(slow_t *c) {
  char buf[4096];
  ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    c->closed = th_now_ms();
    c->reset = n < 0;
    close(c->fd);
    c->fd = -1;
    return;
  }
  size_t take =
      (size_t)n < sizeof(c->head) - 1 - c->len ? (size_t)n : sizeof(c->head) - 1 - c->len;
  memcpy(c->head + c->len, buf, take);
  c->len += take;
  c->head[c->len] = '\0';
  if (c->got_408 == 0 && c->len >= 12) {
    if (strncmp(c->head, "HTTP/1.1 408", 12) == 0)
      c->got_408 = th_now_ms();
    else
      c->bad = 1;
  }
}

START_TEST(slowloris_1000) {
  int rc = raise_nofile(4 * SLOW + 1024);
  TH_ASSERT(rc == 0, "RLIMIT_NOFILE: %s", strerror(-rc));
  char timeout[16];
  snprintf(timeout, sizeof(timeout), "%d", HEADERS_TIMEOUT_MS);
  const char *const args[] = {"--workers",         "2",     "--pool", "2",
                              "--headers-timeout", timeout, NULL};
  th_server_t s;
  th_server_start(&s, args);
  for (int i = 0; i < 20; i++) /* each worker has served */
    TH_ASSERT(th_get_status(s.port, i % 2 ? "/items/1" : "/livez", 3000) == 200,
              "warm-up request %d", i);
  th_sleep_ms(100);
  pid_t wk[MAXW];
  int nw0, nw;
  int fd0 = server_fds(&s, wk, &nw0);
  TH_ASSERT(nw0 == 2 && fd0 > 0, "%d workers, %d fds", nw0, fd0);

  normal_t *l = calloc(1, sizeof(*l));
  l->port = s.port;
  pthread_create(&l->thread, NULL, normal_run, l);

  slow_t *cs = calloc(SLOW, sizeof(*cs));
  struct pollfd *pfd = calloc(SLOW, sizeof(*pfd));
  int open_failed = 0, last_err = 0;
  int64_t t0 = th_now_ms();
  for (int i = 0; i < SLOW; i++) {
    if ((rc = slow_open(s.port, &cs[i])) != 0) {
      open_failed++;
      last_err = -rc;
    }
    if (i % BATCH == BATCH - 1)
      th_sleep_ms(5);
  }
  int64_t opened_ms = th_now_ms() - t0;
  th_sleep_ms(100);
  int fd_peak = server_fds(&s, wk, &nw);

  /* Trickle, read, until every connection is closed or the bound. */
  int64_t deadline = th_now_ms() + th_scale(HEADERS_TIMEOUT_MS + 4000);
  int64_t next_trickle = th_now_ms() + SLOW_EVERY_MS;
  int left = SLOW;
  while (left > 0 && th_now_ms() < deadline) {
    int np = 0;
    for (int i = 0; i < SLOW; i++) {
      if (cs[i].fd < 0)
        continue;
      pfd[np].fd = cs[i].fd;
      pfd[np].events = POLLIN;
      pfd[np].revents = 0;
      np++;
    }
    left = np;
    if (np == 0)
      break;
    poll(pfd, (nfds_t)np, 20);
    for (int i = 0, k = 0; i < SLOW && k < np; i++) {
      if (cs[i].fd < 0 || cs[i].fd != pfd[k].fd)
        continue;
      if (pfd[k++].revents)
        slow_read(&cs[i]);
    }
    if (th_now_ms() >= next_trickle) {
      next_trickle += SLOW_EVERY_MS;
      for (int i = 0; i < SLOW; i++)
        if (cs[i].fd >= 0 && cs[i].got_408 == 0 &&
            send(cs[i].fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
          cs[i].sent++;
    }
  }
  int64_t slow_ms = th_now_ms() - t0;
  th_sleep_ms(50); /* a few normal requests after the last close */
  atomic_store(&l->stop, 1);
  pthread_join(l->thread, NULL);

  /* The server closes its side after each 408: wait for its count. */
  int fd_end = 0;
  int64_t t_fd = th_now_ms();
  do {
    fd_end = server_fds(&s, wk, &nw);
    if (fd_end == fd0)
      break;
    th_sleep_ms(20);
  } while (th_now_ms() - t_fd < th_scale(3000));

  int got = 0, closed_after = 0, bad = 0, open_left = 0, resets = 0;
  int *t408 = calloc(SLOW, sizeof(int));
  for (int i = 0; i < SLOW; i++) {
    slow_t *c = &cs[i];
    if (c->got_408) {
      t408[got++] = (int)(c->got_408 - c->first_byte);
      if (c->closed)
        closed_after++;
    }
    bad += c->bad;
    resets += c->reset;
    if (c->fd >= 0) {
      open_left++;
      close(c->fd);
    }
  }
  qsort(t408, (size_t)got, sizeof(int), cmp_int);
  qsort(l->ms, l->n, sizeof(int), cmp_int);
  int p50 = l->n ? l->ms[l->n / 2] : -1;
  int p99 = l->n ? l->ms[(l->n * 99) / 100] : -1;
  int worst = l->n ? l->ms[l->n - 1] : -1;
  fprintf(
      stderr,
      "slowloris: %d connections opened in %lld ms (%d failed), --headers-timeout %d, "
      "--workers 2: %d got 408 (%d ms min, %d median, %d max after their first byte), "
      "%d closed after it, %d other answers, %d resets, %d still open; all done in "
      "%lld ms\n"
      "slowloris: normal requests meanwhile: %zu, %ld failed, p50 %d ms, p99 %d ms, "
      "max %d ms\n"
      "slowloris: server fds (primary + workers): %d before, %d with the slow "
      "connections, %d after\n",
      SLOW, (long long)opened_ms, open_failed, HEADERS_TIMEOUT_MS, got,
      got ? t408[0] : -1, got ? t408[got / 2] : -1, got ? t408[got - 1] : -1,
      closed_after, bad, resets, open_left, (long long)slow_ms, l->n, l->failed, p50, p99,
      worst, fd0, fd_peak, fd_end);
  TH_ASSERT(open_failed == 0, "%d slow connections failed to open (%s)", open_failed,
            strerror(last_err));
  TH_ASSERT(fd_peak >= fd0 + SLOW * 9 / 10,
            "the server held %d fds with %d slow connections open (%d before): they did "
            "not reach it",
            fd_peak, SLOW, fd0);
  TH_ASSERT(got == SLOW && closed_after == SLOW && bad == 0,
            "of %d slow connections %d got a 408, %d were closed after it, %d got "
            "something else, %d still open",
            SLOW, got, closed_after, bad, open_left);
  TH_ASSERT(t408[0] >= HEADERS_TIMEOUT_MS - 50,
            "a 408 came %d ms after the first byte, before the %d ms headers timeout",
            t408[0], HEADERS_TIMEOUT_MS);
  TH_ASSERT(l->failed == 0, "%ld normal requests failed (last: %d)", l->failed,
            l->last_bad);
  TH_ASSERT(l->n >= 50, "only %zu normal requests", l->n);
  TH_ASSERT(p99 < th_scale(P99_MAX_MS), "normal requests' p99 %d ms, want under %d ms",
            p99, P99_MAX_MS);
  TH_ASSERT(nw == 2, "%d workers after the slow connections", nw);
  TH_ASSERT(fd_end == fd0, "server fds %d after the slow connections, %d before", fd_end,
            fd0);

  int status = th_server_stop(&s, th_scale(10000));
  TH_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  TH_ASSERT_CLEAN(&s, "after the slow connections");
  free(t408);
  free(pfd);
  free(cs);
  free(l->ms);
  free(l);
}
END_TEST

static Suite *slowloris_suite(void) {
  Suite *s = suite_create("slowloris");
  TCase *tc = tcase_create("slowloris");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, slowloris_1000);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return th_run_suite(slowloris_suite());
}
