/* Binding a listen socket. libuv 1.44 has no UV_TCP_REUSEPORT, so for
 * --sched reuseport the socket is made by hand and adopted with uv_tcp_open. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

/* host is a numeric IPv4 or IPv6 address: the configuration checked its
 * syntax before anything started, so no name is ever resolved here. */
static int resolve(const char *host, int port, struct sockaddr_storage *out) {
  memset(out, 0, sizeof(*out));
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0)
    return 0;
  return uv_ip6_addr(host, port, (struct sockaddr_in6 *)out);
}

void cluster_signals_start(uv_loop_t *loop, uv_signal_t sigs[3], uv_signal_cb cb,
                           void *data) {
  static const int nums[3] = {SIGTERM, SIGINT, SIGHUP};
  for (int i = 0; i < 3; i++) {
    uv_signal_init(loop, &sigs[i]);
    sigs[i].data = data;
    uv_signal_start(&sigs[i], cb, nums[i]);
    uv_unref((uv_handle_t *)&sigs[i]);
  }
  /* main held these until now, so a signal during start-up waits for its
   * handler instead of killing us with the database half set up. */
  sigset_t set;
  sigemptyset(&set);
  for (int i = 0; i < 3; i++) sigaddset(&set, nums[i]);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* A TCP socket bound to addr, made by hand so that bind's error comes back
 * now: uv_tcp_bind keeps EADDRINUSE for a later uv_listen, and a listen(2)
 * on the unbound socket would pick a random port on every address. Options
 * as uv_tcp_bind sets them (SO_REUSEADDR; an IPv6 socket takes IPv4 too),
 * plus SO_REUSEPORT when asked. The descriptor, or a negative libuv code. */
static int bound_socket(const struct sockaddr_storage *addr, int reuseport) {
  int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return uv_translate_sys_error(errno);
  int on = 1, off = 0;
  socklen_t len = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0)
    goto fail;
  if (addr->ss_family == AF_INET6 &&
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) != 0)
    goto fail;
  if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0)
    goto fail;
  if (bind(fd, (const struct sockaddr *)addr, len) != 0)
    goto fail;
  return fd;

fail:
  on = uv_translate_sys_error(errno);
  close(fd);
  return on;
}

int cluster_bind(uv_loop_t *loop, uv_tcp_t *tcp, const char *host, int port,
                 int reuseport) {
  struct sockaddr_storage addr;
  int rc = resolve(host, port, &addr);
  if (rc != 0)
    return rc;
  int fd = bound_socket(&addr, reuseport);
  if (fd < 0)
    return fd;
  rc = uv_tcp_open(tcp, fd);
  if (rc != 0)
    close(fd);
  return rc;
}

int cluster_bind_probe(const char *host, int port) {
  struct sockaddr_storage addr;
  int rc = resolve(host, port, &addr);
  if (rc != 0)
    return rc;
  int fd = bound_socket(&addr, 0);
  if (fd < 0)
    return fd;
  close(fd);
  return 0;
}
