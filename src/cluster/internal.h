/* Shared inside src/cluster only. */
#ifndef LOOPLAB_CLUSTER_INTERNAL_H
#define LOOPLAB_CLUSTER_INTERNAL_H

#include <uv.h>

#include "api/api.h"
#include "cluster.h"
#include "http/http.h"
#include "metrics/metrics.h"

/* IPC messages: a type byte; the upper-case types then carry a 4-byte
 * length (host order: both ends are this binary on this machine) and that
 * many bytes. Messages arrive in order with the handles sent beside them. */
enum {
  MSG_HANDLE = 'h',   /* primary -> worker: a connection (rr) */
  MSG_LISTEN = 'l',   /* primary -> worker: the listen socket (none) */
  MSG_DRAIN = 'd',    /* primary -> worker: drain and exit */
  MSG_UNREADY = 'u',  /* primary -> worker: /readyz 503, keep serving (--drain-delay) */
  MSG_READY = 'r',    /* worker -> primary: listening and serving */
  MSG_TAKEN = 'a',    /* worker -> primary: took the oldest connection sent
                         (rr); the primary then closes its copy */
  MSG_SCRAPE = 'S',   /* worker -> primary: u32 token; please merge metrics */
  MSG_COLLECT = 'C',  /* primary -> worker: u32 round; send a snapshot */
  MSG_SNAPSHOT = 'P', /* worker -> primary: u32 round + metrics_snap_t */
  MSG_TEXT = 'T'      /* primary -> worker: u32 token + exposition text */
};

typedef void (*ipc_msg_cb)(void *arg, char type, const char *payload, size_t len);

/* Reassembles messages from the bytes of one pipe. */
typedef struct ipc_reader_s {
  core_buf_t buf;
} ipc_reader_t;
void ipc_reader_feed(ipc_reader_t *r, const char *data, size_t n, ipc_msg_cb cb,
                     void *arg);
void ipc_reader_free(ipc_reader_t *r);

/* Sends one message (payload copied; handle may be NULL). 0 or a libuv
 * error. */
int ipc_send(uv_stream_t *pipe, char type, const void *head, size_t head_len,
             const void *body, size_t body_len, uv_stream_t *handle);

#define CLUSTER_IPC_FD 3

/* Binds tcp (initialised on loop) to host:port; with reuseport the socket
 * gets SO_REUSEPORT before bind; host is a numeric address (the
 * configuration checks it). A failed bind (EADDRINUSE, EACCES,
 * EADDRNOTAVAIL) is returned here, never deferred to listen. Start-up
 * only. 0 or a negative libuv code. */
int cluster_bind(uv_loop_t *loop, uv_tcp_t *tcp, const char *host, int port,
                 int reuseport);

/* Whether host:port can be bound by a socket without SO_REUSEPORT: the
 * primary's check before --sched reuseport workers bind their own (so a
 * port held by anyone, another looplab included, stops start-up in the
 * primary). Binds and closes at once. 0 or a negative libuv code. */
int cluster_bind_probe(const char *host, int port);

/* Starts sigs[0..2] on SIGTERM, SIGINT and SIGHUP with cb and data,
 * unreferenced (signals alone do not keep a loop alive), then unblocks the
 * three signals, which main holds during start-up. */
/* uv_loop_close, after the close callbacks still due. With handles left
 * open: an error line, the handles on stderr, and (debug builds only) a
 * negative code the caller turns into a non-zero exit. 0 otherwise. */
int cluster_loop_close(uv_loop_t *loop, const char *fields);

void cluster_signals_start(uv_loop_t *loop, uv_signal_t sigs[3], uv_signal_cb cb,
                           void *data);

/* systemd's notify protocol (notify.c, docs/scaling.md "systemd"): state
 * ("READY=1", "STOPPING=1", ... lines) as one datagram to $NOTIFY_SOCKET;
 * 0 when sent or when there is none, a negative errno otherwise. The
 * watchdog sends WATCHDOG=1 from loop at half of WATCHDOG_USEC when systemd
 * asked for it (a no-op otherwise); stop closes its timer. env_skip: 1 for
 * the environment entries a worker must not inherit. */
int cluster_notify(const char *state);
void cluster_notify_watchdog_start(uv_loop_t *loop);
void cluster_notify_watchdog_stop(void);
int cluster_notify_env_skip(const char *entry);

/* The worker's measurements (wmetrics.c). */
int cluster_wmetrics_start(uv_loop_t *loop, int worker_id, http_server_t *server,
                           api_ctx_t *ctx);
/* view: 0 for /metrics, 1 for /metrics?by=worker (each has its windows). */
void cluster_wmetrics_snapshot(metrics_snap_t *out, int view);
void cluster_wmetrics_stop(void);

#endif
