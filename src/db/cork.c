/* Corked libpq sockets (cork.h): a table from descriptor to cork, and the
 * send() that libpq's writes reach. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#include "db/cork.h"

#if !defined(LIBPQ_HAS_SEND_PIPELINE_SYNC)
#define CORK_SEND 1
#endif

static uint64_t nsends;

static ssize_t sys_send(int fd, const void *buf, size_t len, int flags) {
  nsends++;
  return syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
}

uint64_t db_cork_sends(void) {
  return nsends;
}

#ifdef CORK_SEND
static db_cork_t **corks; /* by descriptor */
static int ncorks;

/* libc's send(), except on a corked socket libpq still owns. */
ssize_t send(int fd, const void *buf, size_t len, int flags) {
  db_cork_t *k = fd >= 0 && fd < ncorks ? corks[fd] : NULL;
  if (k == NULL || PQsocket(k->pg) != fd)
    return sys_send(fd, buf, len, flags);
  core_buf_append(&k->out, buf, len);
  return (ssize_t)len;
}

static void set_entry(int fd, db_cork_t *k) {
  if (fd >= ncorks) {
    int n = ncorks ? ncorks : 64;
    while (n <= fd) n *= 2;
    corks = xrealloc(corks, (size_t)n * sizeof(*corks));
    for (int i = ncorks; i < n; i++) corks[i] = NULL;
    ncorks = n;
  }
  corks[fd] = k;
}
#endif

void db_cork_init(db_cork_t *k) {
  k->pg = NULL;
  k->fd = -1;
  core_buf_init(&k->out);
}

void db_cork_start(db_cork_t *k, PGconn *pg) {
#ifdef CORK_SEND
  if (k->pg != NULL || PQsslInUse(pg))
    return;
  int fd = PQsocket(pg);
  if (fd < 0)
    return;
  k->pg = pg;
  k->fd = fd;
  set_entry(fd, k);
#else
  (void)k;
  (void)pg;
#endif
}

void db_cork_stop(db_cork_t *k) {
#ifdef CORK_SEND
  if (k->pg != NULL && k->fd < ncorks && corks[k->fd] == k)
    corks[k->fd] = NULL;
#endif
  k->pg = NULL;
  k->fd = -1;
  core_buf_reset(&k->out);
}

int db_cork_push(db_cork_t *k) {
  if (k->pg == NULL)
    return 0;
  if (PQsocket(k->pg) != k->fd) { /* libpq dropped the socket */
    db_cork_stop(k);
    return UV_EPIPE;
  }
  size_t off = 0;
  while (off < k->out.len) {
    ssize_t n = sys_send(k->fd, k->out.data + off, k->out.len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (n < 0) {
      int err = -errno;
      db_cork_stop(k);
      return err;
    }
    off += (size_t)n;
  }
  if (off == k->out.len) {
    db_cork_stop(k);
    return 0;
  }
  memmove(k->out.data, k->out.data + off, k->out.len - off);
  k->out.len -= off;
  k->out.data[k->out.len] = '\0';
  return 1;
}

void db_cork_free(db_cork_t *k) {
  db_cork_stop(k);
  core_buf_free(&k->out);
}
