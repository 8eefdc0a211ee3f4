/* systemd's notification protocol (sd_notify(3), "Type=notify") without
 * libsystemd: each state is one datagram of "KEY=value" lines to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the
 * abstract namespace). Not under systemd, there is no socket and every call
 * is a no-op. The watchdog: with WatchdogSec= systemd sets WATCHDOG_USEC
 * (and WATCHDOG_PID); a timer on the caller's loop sends WATCHDOG=1 at half
 * that interval, so a loop that stops turning gets the service restarted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

static uv_timer_t watchdog;
static int watchdog_on;

int cluster_notify(const char *state) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || !path[0])
    return 0;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  size_t n = strlen(path);
  if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path))
    return -EINVAL;
  memcpy(sa.sun_path, path, n);
  if (path[0] == '@')
    sa.sun_path[0] = '\0'; /* abstract: the name is not NUL-terminated */
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  /* MSG_DONTWAIT: a stalled service manager must never stall the loop. */
  ssize_t sent = sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
                        (struct sockaddr *)&sa, len);
  int rc = sent < 0 ? -errno : 0;
  close(fd);
  return rc;
}

/* WATCHDOG_USEC in ms when it is meant for this process, 0 otherwise. */
static uint64_t watchdog_ms(void) {
  const char *usec = getenv("WATCHDOG_USEC");
  const char *pid = getenv("WATCHDOG_PID");
  if (!usec || !usec[0])
    return 0;
  if (pid && pid[0] && strtol(pid, NULL, 10) != (long)getpid())
    return 0;
  char *end;
  unsigned long long v = strtoull(usec, &end, 10);
  if (*end || v < 2000) /* below 2 ms: not a usable interval */
    return 0;
  return v / 1000;
}

static void on_watchdog(uv_timer_t *t) {
  (void)t;
  cluster_notify("WATCHDOG=1");
}

void cluster_notify_watchdog_start(uv_loop_t *loop) {
  uint64_t ms = watchdog_ms();
  if (ms == 0 || watchdog_on)
    return;
  uv_timer_init(loop, &watchdog);
  uv_unref((uv_handle_t *)&watchdog); /* never what keeps the loop alive */
  uv_timer_start(&watchdog, on_watchdog, ms / 2, ms / 2);
  watchdog_on = 1;
}

void cluster_notify_watchdog_stop(void) {
  if (!watchdog_on)
    return;
  uv_close((uv_handle_t *)&watchdog, NULL);
  watchdog_on = 0;
}

/* A worker never speaks for the service: NotifyAccess=main would refuse
 * it, and a stray READY=1 from a worker would be a lie. */
int cluster_notify_env_skip(const char *entry) {
  static const char *const names[] = {
      "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", NULL};
  for (int i = 0; names[i]; i++)
    if (strncmp(entry, names[i], strlen(names[i])) == 0)
      return 1;
  return 0;
}
