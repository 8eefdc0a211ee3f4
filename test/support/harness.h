/* harness: what the integration tests share. It starts the real server
 * (build/looplab) on a free port against the throwaway PostgreSQL of the
 * ctest fixture, speaks raw HTTP/1.1 over real sockets, parses responses
 * with llhttp, and queries the database with blocking libpq (fine in a test
 * process, never in the server).
 *
 * Failures abort the current Check test through TH_ASSERT/TH_FAIL, which
 * first print the logs of the servers this process knows and kill (with
 * their workers) the ones it started: Check's failed assertion _exit()s the
 * forked test, so atexit handlers only cover normal exits. A spawned server
 * also gets PR_SET_PDEATHSIG, so it dies with a test process that is killed
 * outright (a Check timeout), and its workers must follow their primary. */
#ifndef LOOPLAB_TEST_HARNESS_H
#define LOOPLAB_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <check.h>

/* ---- the server ---- */

enum {
  TH_WAIT_LIVE = 1,    /* wait for GET /livez 200 */
  TH_WAIT_READY = 2,   /* and for GET /readyz 200 */
  TH_WAIT_WORKERS = 4, /* and for --workers N worker processes */
  TH_NO_DB = 8,        /* do not add --db <the fixture's conninfo> */
  TH_NO_WAIT = 16      /* return right after spawning (no readiness, no retry) */
};

typedef struct th_server_s {
  /* read-only after th_server_start */
  pid_t pid; /* the process we spawned: the primary, or the only one */
  int port;
  int workers;        /* the --workers value passed */
  char dir[256];      /* a private temporary folder, removed at stop */
  char log_path[300]; /* stdout and stderr of the server */
  /* private */
  pid_t owner; /* the process that started it (only it may reap it) */
  int exited;
  int status; /* waitpid status once exited */
  int registered;
  int sanitizer;         /* set by th_server_stop: the log holds a sanitizer report */
  int stop_status;       /* set by th_server_stop: the waitpid status (-1 before) */
  int leftover;          /* set by th_server_stop: processes it had to kill */
  char worker_exit[240]; /* set by th_server_stop: a worker's failed exit, or "" */
} th_server_t;

/* Starts build/looplab ($LOOPLAB_BIN) with --host 127.0.0.1 --port <free>
 * and extra (NULL-terminated, may be NULL). Unless extra holds them, adds
 * --workers 0, --log-level info and (without TH_NO_DB) --db <fixture>.
 * flags: TH_WAIT_* (0 means TH_WAIT_LIVE|TH_WAIT_READY|TH_WAIT_WORKERS).
 * Retries with another port if the server dies at start. A --port in extra
 * is used as is (then there is no retry). Aborts the test
 * with the log if it does not become ready within 15 s (th_scale'd). With
 * TH_WAIT_WORKERS it also waits for the log to report each worker ready
 * (the primary's info line: keep --log-level at info or below). */
void th_server_start_ex(th_server_t *s, const char *const extra[], int flags);
void th_server_start(th_server_t *s, const char *const extra[]);

/* SIGTERM, then SIGKILL after timeout_ms; reaps it; then gives its workers
 * and any process running with its --port 2 s to be gone, and kills and
 * counts (leftover) those that are not; removes the folder. Returns the
 * waitpid status (or -1 if already reaped elsewhere). Never fails the test
 * itself: callers assert with TH_ASSERT_CLEAN or TH_ASSERT_NOTHING_LEFT. */
int th_server_stop(th_server_t *s, int timeout_ms);
/* After th_server_stop: 1 if the server exited 0, no worker exited with a
 * non-zero code and no process logged that its loop closed with handles
 * open (the primary's status does not carry its workers'), its log holds no
 * AddressSanitizer/UBSan/LeakSanitizer report and no process outlived it;
 * otherwise prints why and returns 0. For the suites' main(), whose
 * fixtures run outside tests. */
int th_server_was_clean(const th_server_t *s, const char *what);
/* The same without the exit status, for a server a test killed or made
 * fail on purpose: no sanitizer report, no process left. */
int th_server_left_nothing(const th_server_t *s, const char *what);
/* The same as assertions inside a test. */
#define TH_ASSERT_CLEAN(s, what)                                                     \
  TH_ASSERT(th_server_was_clean((s), (what)), "%s: unclean server exit (see above)", \
            (what))
#define TH_ASSERT_NOTHING_LEFT(s, what)          \
  TH_ASSERT(th_server_left_nothing((s), (what)), \
            "%s: a sanitizer report or a leftover process (see above)", (what))
/* Sends sig to the server's primary. */
void th_server_signal(th_server_t *s, int sig);
/* Waits up to timeout_ms for the spawned process to exit. Returns 1 and
 * fills *status if it exited, 0 otherwise. */
int th_server_wait_exit(th_server_t *s, int timeout_ms, int *status);
/* 1 while the spawned process has not exited (from any process). */
int th_server_alive(th_server_t *s);
/* Prints the server log (the last max bytes) on stderr. */
void th_server_dump_log(const th_server_t *s, size_t max);
/* The children of the primary (its workers), from /proc. Returns the count
 * (at most max pids are stored, sorted ascending). */
int th_server_workers(const th_server_t *s, pid_t *pids, int max);
/* Starts a 2-worker cluster (--workers 2 --pool 2), its workers' pids in
 * pids[max]; fails the test unless there are exactly 2. Returns 2. */
int th_cluster_start2(th_server_t *s, pid_t *pids, int max);
/* 1 if p is one of set[0..n). */
int th_pid_in(const pid_t *set, int n, pid_t p);
/* The server's workers now (into now[max]); their count when it is exactly
 * want and none of them is in old[0..nold) (a roll or a replacement is
 * done), -1 otherwise. */
int th_workers_all_new(const th_server_t *s, const pid_t *old, int nold, int want,
                       pid_t *now, int max);
/* Waits up to timeout_ms for the log to report worker pid ready (a line
 * with "workerPid":<pid> and "ready"). Returns 1 if seen. The primary
 * treats a worker that dies before it is ready as a start-up failure, so
 * tests that kill workers wait for this first. */
int th_worker_wait_ready(const th_server_t *s, pid_t pid, int timeout_ms);
/* Every live process (zombies included) whose command line is LOOPLAB_BIN
 * with --port <port>. Returns the count. */
int th_procs_with_port(int port, pid_t *pids, int max);
/* 'Z' for a zombie, the /proc state letter, or 0 if no such process. */
char th_proc_state(pid_t pid);

/* GET path on a new connection (Connection: close): the status, -1 if the
 * connection was refused, -2 if no response came within timeout_ms. */
int th_get_status(int port, const char *path, int timeout_ms);
/* The errno of th_get_status's last failed connect. */
extern int th_last_connect_errno;
/* Asserts that within 2 s none of pids (a server's former workers) exists
 * any more (a zombie counts: the primary must reap its workers) and no
 * process runs LOOPLAB_BIN with --port of s. */
void th_assert_gone(const th_server_t *s, const pid_t *pids, int n, const char *what);

/* The fixture's conninfo ($LOOPLAB_TEST_PG_DIR/conninfo), cached. */
const char *th_pg_conninfo(void);
const char *th_bin(void);

/* ---- raw HTTP ---- */

typedef struct th_conn_s {
  int fd;
  char *buf; /* bytes received and not yet consumed */
  size_t len;
  size_t cap;
  int eof;   /* the peer closed (EOF or reset) */
  int reset; /* it was a reset */
} th_conn_t;

#define TH_MAX_HEADERS 128

typedef struct th_response_s {
  int status;
  int http_major, http_minor;
  int keep_alive; /* llhttp_should_keep_alive */
  int nheaders;
  char *names[TH_MAX_HEADERS];
  char *values[TH_MAX_HEADERS];
  char *body; /* NUL-terminated; chunked bodies decoded */
  size_t body_len;
  int chunked;
  size_t raw_len; /* bytes of the whole response on the wire */
} th_response_t;

/* Opens a TCP connection to 127.0.0.1:port. Aborts the test on failure. */
th_conn_t *th_conn_open(int port);
/* Returns 0 or -errno instead of aborting. */
int th_conn_try_open(int port, th_conn_t **out);
/* With a small receive buffer (set before connecting, so the advertised
 * window stays small): a client that reads slowly backs the server up. */
int th_conn_try_open_rcvbuf(int port, int rcvbuf, th_conn_t **out);
void th_conn_close(th_conn_t *c);
/* Writes all bytes; returns 0 or -errno (EPIPE/ECONNRESET are possible
 * when the server already closed). */
int th_send(th_conn_t *c, const void *p, size_t n);
int th_sends(th_conn_t *c, const char *s);

enum {
  TH_OK = 0,
  TH_ETIMEDOUT = -1000, /* nothing complete within the deadline */
  TH_ECLOSED = -1001,   /* the peer closed before a complete response */
  TH_EPARSE = -1002     /* the bytes are not an HTTP response */
};
/* Reads exactly one response; bytes after it stay buffered in c.
 * head: the request was HEAD (no body follows whatever the headers say).
 * Returns TH_OK or a TH_E* code; r is valid only with TH_OK and must be
 * freed with th_response_free. */
int th_read_response_ex(th_conn_t *c, th_response_t *r, int timeout_ms, int head);
int th_read_response(th_conn_t *c, th_response_t *r, int timeout_ms);
void th_response_free(th_response_t *r);
/* The first header of that name (case-insensitive), or NULL. */
const char *th_header(const th_response_t *r, const char *name);
/* 1 if the Connection header holds the token "close". */
int th_conn_close_hdr(const th_response_t *r);

/* Reads until the peer closes or timeout_ms passes. Returns 1 if closed,
 * 0 on timeout. Everything received (buffered bytes included) is left in
 * c->buf/c->len. */
int th_read_until_close(th_conn_t *c, int timeout_ms);
/* How many complete HTTP responses the bytes hold (0 if they do not parse
 * as responses at all; partial trailing bytes are not counted). */
int th_count_responses(const char *p, size_t n);

/* One request on a new connection with Connection: close semantics off:
 * method, path, extra header lines ("Name: value\r\n"... or NULL), body (or
 * NULL; sent with Content-Length and content-type application/json when
 * headers do not name one). Aborts the test on I/O failure. */
void th_request(int port, const char *method, const char *path, const char *headers,
                const char *body, th_response_t *r);
/* The same bytes written on an existing connection; returns TH_OK or a TH_E*
 * code. */
int th_conn_request(th_conn_t *c, const char *method, const char *path,
                    const char *headers, const char *body, th_response_t *r,
                    int timeout_ms);
/* Formats a request into buf (malloc'd, NUL-terminated); returns length. */
size_t th_format_request(char **out, const char *method, const char *path,
                         const char *headers, const char *body);

/* ---- checks shared by the suites ---- */

/* Asserts the body is Fastify's error shape with statusCode == status and
 * non-empty error and message; when contains is not NULL, the message must
 * contain it. what names the case in failure messages. */
void th_assert_error_shape(const th_response_t *r, int status, const char *contains,
                           const char *what);

/* ---- the database ---- */

/* Runs sql (one statement) with blocking libpq. Writes the first column of
 * the first row (or "" if none) into out. Returns the number of rows, or
 * aborts the test on an error. */
int th_sql(const char *conninfo, const char *sql, char *out, size_t outlen);
int64_t th_sql_int(const char *conninfo, const char *sql);

/* ---- failing ---- */

/* Check's failed assertion _exit()s the forked test without atexit
 * handlers, so the suites assert through TH_ASSERT: it first prints the
 * logs of the servers this process knows and kills the ones it started
 * (with their workers), then fails the test with the message. */
void th_fail_cleanup(void);
#define TH_ASSERT(cond, ...)     \
  do {                           \
    if (!(cond)) {               \
      th_fail_cleanup();         \
      ck_abort_msg(__VA_ARGS__); \
    }                            \
  } while (0)
#define TH_FAIL(...) TH_ASSERT(0, __VA_ARGS__)

/* ---- running ---- */

/* Runs one suite (fork mode) and returns main's exit status. */
int th_run_suite(Suite *s);

/* ---- misc ---- */

int64_t th_now_ms(void);
void th_sleep_ms(int ms);
/* Timeouts scale with $LOOPLAB_TEST_SLOW (a factor, default 1; sanitizer
 * builds may set it). */
int th_scale(int ms);
/* A free TCP port on 127.0.0.1 (bound, read, closed). */
int th_free_port(void);

#endif
