/* Corking a libpq connection's socket: what libpq sends on it during a loop
 * iteration is kept and leaves in one write when the pool pushes it, before
 * the loop waits.
 *
 * Why: every request's statements end with their own sync point, and
 * libpq < 17 flushes the socket at each one (PQpipelineSync; libpq 17's
 * PQsendPipelineSync does not). That was one send() per request from the
 * server and, as often, one wake-up and one recv() in the backend. The
 * bytes, and so the sync points and each request's isolation, are exactly
 * the same; only the number of writes changes.
 *
 * How: this module defines send(), which libpq calls for a plain (non-TLS)
 * connection; an executable's definition comes first in the dynamic
 * linker's lookup, so libpq's calls land here. On a corked socket the bytes
 * are appended to the cork's buffer and reported sent; on any other socket
 * (or once libpq has dropped the corked one) it is the sendto system call,
 * as in libc. With libpq >= 17 nothing is corked, and a TLS connection is
 * left alone (its writes are OpenSSL's records, sent through the same
 * send(); not measured, so not changed).
 * Loop thread only, like the pool. */
#ifndef LOOPLAB_DB_CORK_H
#define LOOPLAB_DB_CORK_H

#include <libpq-fe.h>
#include <stdint.h>

#include "core/core.h"

typedef struct db_cork_s {
  PGconn *pg; /* corked, or NULL */
  int fd;
  core_buf_t out; /* captured, not yet written */
} db_cork_t;

void db_cork_init(db_cork_t *k);
/* Starts capturing pg's sends (nothing when already corked, or when this
 * build or connection needs no cork). */
void db_cork_start(db_cork_t *k, PGconn *pg);
/* Writes what was captured. 0: all of it (the cork is off again), 1: the
 * socket took only part (still corked: push again when it is writable), or
 * a negative errno-style code (UV_EPIPE, ...): the connection is gone. */
int db_cork_push(db_cork_t *k);
/* Ends capturing and drops what is left: before PQfinish, which frees pg. */
void db_cork_stop(db_cork_t *k);
void db_cork_free(db_cork_t *k);
/* The sendto system calls made so far through this module (libpq's sends
 * on sockets that were not corked, and the pushes). */
uint64_t db_cork_sends(void);

#endif
