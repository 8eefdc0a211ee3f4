/* Shared inside src/cluster only. */
#ifndef LOOPLAB_CLUSTER_INTERNAL_H
#define LOOPLAB_CLUSTER_INTERNAL_H

#include <uv.h>

#include "cluster.h"

/* IPC messages are single bytes, in order with the handles they carry. */
enum {
  MSG_HANDLE = 'h', /* primary -> worker: a connection (rr) */
  MSG_LISTEN = 'l', /* primary -> worker: the listen socket (none) */
  MSG_DRAIN = 'd',  /* primary -> worker: drain and exit */
  MSG_READY = 'r'   /* worker -> primary: listening and serving */
};

#define CLUSTER_IPC_FD 3

/* Binds tcp (initialised on loop) to host:port; with reuseport the socket
 * gets SO_REUSEPORT before bind. Resolves names (start-up only). 0 or a
 * negative libuv code. */
int cluster_bind(uv_loop_t *loop, uv_tcp_t *tcp, const char *host, int port, int reuseport);

#endif
