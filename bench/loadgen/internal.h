/* The engine's private contract between runner.c (the run: phases, the
 * closed-model controller, the open-model scheduler, the clock) and vu.c
 * (a virtual user: its connection and request cycle). Nothing outside
 * these two files includes it. */
#ifndef LOOPLAB_LOAD_INTERNAL_H
#define LOOPLAB_LOAD_INTERNAL_H

#include <llhttp.h>
#include <sys/socket.h>
#include <uv.h>

#include "load.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* After a failed connect a VU waits this long, so that a refused port
 * does not turn the loader into a busy loop. */
#define CONNECT_BACKOFF_MS 10
#define CTL_INTERVAL_MS 10

enum { CONN_NONE, CONN_CONNECTING, CONN_OPEN, CONN_CLOSING };
enum { VU_IDLE, VU_BUSY, VU_SLEEPING };
enum { PH_PRECONNECT, PH_RUN, PH_STOPPING, PH_DONE };

typedef struct runner_s runner_t;

typedef struct vu_s {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  uv_timer_t timer;
  llhttp_t parser;
  runner_t *r;
  struct vu_s *next_idle;
  struct vu_s *next_send;
  unsigned id;
  int conn;
  int state;
  int running; /* closed model: counted among the active VUs */
  int writing; /* a uv_write is pending */
  int complete_pending;
  int want_connect; /* connect once the old handle has closed */
  int done, keep, status, retried, got_bytes;
  int hname_len;
  int hname_is_loc;
  int64_t loc_id;
  uint64_t served;   /* responses on the current connection */
  uint64_t start_ns; /* latency origin */
  uint64_t leave_ns; /* when asked to leave, else 0 */
  /* k6's phases of the request in flight (uv_hrtime ns) */
  uint64_t iter_ns;       /* the iteration began (intended start, open model) */
  uint64_t conn_start_ns; /* the connect began */
  uint64_t conn_ns;       /* connecting took, when this request connected */
  uint64_t send_ns;       /* the write began */
  uint64_t sent_ns;       /* the write ended */
  uint64_t first_ns;      /* the first response byte */
  uint64_t recv_bytes;    /* of this response */
  char hname[12];
  load_req_t req;
  load_vu_state_t st;
  char buf[LOAD_REQ_BUF];
} vu_t;

struct runner_s {
  uv_loop_t loop;
  const load_plan_t *plan;
  const load_opts_t *o;
  load_results_t *res;
  const load_sinks_t *sinks;
  load_progress_t prog;
  double prev_cpu_s; /* the server's CPU at the previous second */
  int prev_cpu_ok;
  struct sockaddr_storage addr;
  llhttp_settings_t settings;
  int phase;
  vu_t **vus;
  unsigned nvus, cap;
  unsigned running; /* active VUs */
  unsigned busy;    /* VUs with a request in flight */
  unsigned wanted;  /* closed model: VUs that should be looping */
  unsigned pending_connects;
  uint64_t t0_ns, total_ns, stop_deadline_ns, last_flush_ns;
  uv_timer_t ctl, tick;
  uv_signal_t sigint;
  uv_check_t flush; /* sends what this loop iteration's responses freed */
  vu_t *send_head, **send_tail;
  unsigned ctl_ticks;
  /* open model scheduler */
  int tfd;
  uv_poll_t tpoll;
  uint64_t iter;
  vu_t *idle;
  /* the second in progress */
  hist_t sec;
  uint64_t sec_reqs, sec_failed, sec_dropped;
  /* server sampling */
  uv_work_t work;
  int work_busy;
  load_sample_t sample_work, sample_last;
  char rbuf[65536];
};

/* ---- vu.c ---- */

/* VU id, allocating it on first use (never on the per-request path). */
vu_t *load_vu_get(runner_t *r, unsigned id);
/* Starts the VU's next request (or resumes the current one after a
 * reconnect), connecting first if need be. In the open model the caller
 * has set start_ns to the intended start. */
void load_vu_start(vu_t *vu);
/* Closed model: the VU stops looping and closes its connection. */
void load_vu_stop(vu_t *vu);
/* Opens the VU's connection; 0 or a UV_E* code (the handle is then
 * closing). */
int load_vu_connect(vu_t *vu);
void load_vu_disconnect(vu_t *vu);
/* Ends the VU's request in flight as failed (err: UV_ETIMEDOUT, ...). */
void load_vu_fail(vu_t *vu, int err);
/* Wall-clock (Unix) time of a uv_hrtime() value during the run. */
double load_runner_wall(const runner_t *r, uint64_t ns);
/* The check callback that sends what a batch of responses freed. */
void load_vu_on_flush(uv_check_t *c);
void load_vu_settings(llhttp_settings_t *s);

#endif
