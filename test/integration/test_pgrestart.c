/* PostgreSQL restarted under concurrent writes (issue 9, fault tests): a
 * cluster writes to a PostgreSQL of this test's own (its own data
 * directory, started, stopped and started again here) while 16 writers POST
 * /items, each item with a name of its own. The restart loses no
 * acknowledged write and invents none: every 201's item is in the table
 * exactly once, every row in the table was answered 201, or 503 with the
 * outcome-unknown code (the server's connection broke after the INSERT was
 * sent: PostgreSQL's fast shutdown can commit a transaction and end the
 * backend before its answer leaves), or its request ended without an
 * answer; a plain 503 (not run) is never in the table; the server answers only 201
 * and 503; the first 201 comes within 2 s of the database accepting
 * connections again; /readyz is 503 while it is down and 200 after. */
#include <check.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "db/db.h"
#include "harness.h"

#define WRITERS 16
#define SCALE 0.01
#define WARM_MS 1000 /* writes before the stop */
#define DOWN_MS 1000 /* the database stays stopped this long */
#define AFTER_MS 500 /* writes after /readyz is back */
#define BACK_WITHIN_MS 2000
#define PREFIX "it-pgr-"

/* The folder of this test's PostgreSQL, made by main (so main can stop
 * what a failed test left running) and its data directory. */
static char pg_dir[64];
static char pg_data[96];

/* ---- the database, started and stopped by a helper process ----
 *
 * db_embedded_start and _stop run pg_ctl from a fork, and that child
 * allocates before it execs (initgroups loads the NSS modules). Forked
 * from this test while its 16 writer threads allocate, under ASan it can
 * deadlock for good: GCC 12's libasan takes none of its allocator's locks
 * around fork, so a size-class lock a writer held at that instant is held
 * in the child forever (seen: a child stuck in
 * SizeClassAllocator64::GetFromAllocator under _dl_find_object_update, in
 * 2 of about 150 forks of a 16-thread ASan program), and the test waited
 * for pg_ctl until Check's 60 s timeout. So one helper, forked when the
 * test still has one thread and never running more itself, does every
 * start and stop; the test asks over a pipe. When the test ends or is
 * killed, the pipe closes and the helper stops the database. */
enum { PG_START = 'S', PG_STOP = 's' };

typedef struct pg_reply_s {
  int rc;
  char conninfo[1200];
  char err[2048];
} pg_reply_t;

static struct {
  pid_t pid;
  int to, from;
} helper = {0, -1, -1};

static int io_all(int fd, void *p, size_t n, int out) {
  for (size_t off = 0; off < n;) {
    ssize_t k =
        out ? write(fd, (char *)p + off, n - off) : read(fd, (char *)p + off, n - off);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    off += (size_t)k;
  }
  return 0;
}

static void helper_serve(int in, int out) {
  db_embedded_t pg;
  memset(&pg, 0, sizeof(pg));
  pg.fast = 1;
  char c;
  while (io_all(in, &c, 1, 0) == 0) {
    pg_reply_t r;
    memset(&r, 0, sizeof(r));
    if (c == PG_START) {
      pg.fast = 1;
      r.rc = db_embedded_start(&pg, pg_data, SCALE, r.err, sizeof(r.err));
      snprintf(r.conninfo, sizeof(r.conninfo), "%s", pg.conninfo);
    } else {
      db_embedded_stop(&pg);
    }
    if (io_all(out, &r, sizeof(r), 1) != 0)
      break;
  }
  db_embedded_stop(&pg);
  _exit(0);
}

/* Forks the helper; the caller must have one thread. */
static void helper_start(void) {
  int a[2], b[2];
  TH_ASSERT(pipe(a) == 0 && pipe(b) == 0, "pipe: %s", strerror(errno));
  pid_t pid = fork();
  TH_ASSERT(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    close(a[1]);
    close(b[0]);
    helper_serve(a[0], b[1]);
  }
  close(a[0]);
  close(b[1]);
  helper.pid = pid, helper.to = a[1], helper.from = b[0];
}

/* Asks the helper to start (PG_START) or stop (PG_STOP) the database and
 * waits for it; r may be NULL. 0, or -1 when the helper is gone. */
static int helper_do(char cmd, pg_reply_t *r) {
  pg_reply_t tmp;
  if (r == NULL)
    r = &tmp;
  if (helper.pid <= 0 || io_all(helper.to, &cmd, 1, 1) != 0 ||
      io_all(helper.from, r, sizeof(*r), 0) != 0)
    return -1;
  return 0;
}

/* Stops the database and ends the helper. */
static void helper_end(void) {
  if (helper.pid <= 0)
    return;
  close(helper.to); /* the helper stops the database at the pipe's end */
  close(helper.from);
  while (waitpid(helper.pid, NULL, 0) < 0 && errno == EINTR) {
  }
  helper.pid = 0;
}

/* Fails the test after stopping this test's PostgreSQL (TH_ASSERT kills
 * the servers the harness knows, not this one). */
#define PGR_ASSERT(cond, ...)    \
  do {                           \
    if (!(cond)) {               \
      helper_end();              \
      TH_ASSERT(0, __VA_ARGS__); \
    }                            \
  } while (0)

/* ---- the writers ---- */

/* OUT_LOST: 503 with the outcome-unknown code: the server says the write
 * may have committed (its connection to PostgreSQL broke after it was
 * sent), so it counts with OUT_UNKNOWN against the table. */
enum { OUT_201, OUT_503, OUT_OTHER, OUT_UNKNOWN, OUT_LOST };

typedef struct rec_s {
  char name[32];
  int outcome;
  int status;     /* OUT_OTHER: what was answered */
  int64_t answer; /* ms (th_now_ms) the answer came, or the request failed */
} rec_t;

/* What the writers share with the test: when to stop, and the first 201
 * answered at or after mark_ms (0 until then). */
typedef struct shared_s {
  atomic_int stop;
  atomic_llong mark_ms;
  atomic_llong first_201_ms;
} shared_t;

typedef struct writer_s {
  pthread_t thread;
  int id;
  int port;
  shared_t *sh;
  rec_t *recs;
  size_t n, cap;
  long connect_failed;
} writer_t;

static void note_201(shared_t *sh, int64_t at) {
  long long mark = atomic_load(&sh->mark_ms);
  if (mark == 0 || at < mark)
    return;
  long long first = 0;
  while (!atomic_compare_exchange_weak(&sh->first_201_ms, &first, (long long)at))
    if (first != 0 && first <= at)
      return;
}

/* POSTs items back to back on one keep-alive connection (a new one after
 * Connection: close or a failure). A request that gets no complete answer
 * (closed, reset, timed out) is an unknown outcome: it may have been
 * written. After a 503 it waits 10 ms, as a client told Retry-After would
 * (and so the outage does not become a flood of records). */
static void *writer_run(void *arg) {
  writer_t *w = arg;
  th_conn_t *c = NULL;
  for (int seq = 0; !atomic_load(&w->sh->stop); seq++) {
    if (c == NULL && th_conn_try_open(w->port, &c) != 0) {
      c = NULL;
      w->connect_failed++;
      th_sleep_ms(5);
      continue;
    }
    if (w->n == w->cap) {
      w->cap = w->cap ? w->cap * 2 : 4096;
      w->recs = realloc(w->recs, w->cap * sizeof(*w->recs));
    }
    rec_t *r = &w->recs[w->n++];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), PREFIX "%d-%d", w->id, seq);
    char body[128];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"price_cents\":%d}", r->name, seq);
    th_response_t resp;
    int rc = th_conn_request(c, "POST", "/items", NULL, body, &resp, th_scale(5000));
    r->answer = th_now_ms();
    if (rc != TH_OK) {
      r->outcome = OUT_UNKNOWN;
      r->status = rc;
      th_conn_close(c);
      c = NULL;
      continue;
    }
    r->status = resp.status;
    r->outcome = resp.status == 201 ? OUT_201 : resp.status == 503 ? OUT_503 : OUT_OTHER;
    if (r->outcome == OUT_503 && strstr(resp.body, "\"LOOPLAB_ERR_OUTCOME_UNKNOWN\""))
      r->outcome = OUT_LOST;
    if (th_conn_close_hdr(&resp)) {
      th_conn_close(c);
      c = NULL;
    }
    th_response_free(&resp);
    if (r->outcome == OUT_201)
      note_201(w->sh, r->answer);
    if (r->outcome == OUT_503 || r->outcome == OUT_LOST)
      th_sleep_ms(10);
  }
  th_conn_close(c);
  return NULL;
}

/* ---- when the database accepts connections ---- */

typedef struct ping_s {
  pthread_t thread;
  const char *conninfo;
  atomic_int stop;
  atomic_llong up_ms; /* the first PQPING_OK */
} ping_t;

static void *ping_run(void *arg) {
  ping_t *p = arg;
  while (!atomic_load(&p->stop)) {
    if (PQping(p->conninfo) == PQPING_OK) {
      atomic_store(&p->up_ms, (long long)th_now_ms());
      return NULL;
    }
    th_sleep_ms(2);
  }
  return NULL;
}

/* ---- the table ---- */

static int cmp_rec(const void *a, const void *b) {
  return strcmp(((const rec_t *)a)->name, ((const rec_t *)b)->name);
}

typedef struct tally_s {
  long sent, ok, unavailable, other, unknown, lost;
  long rows, dup_rows, stray_rows, rows_of_503, rows_of_unknown, rows_of_lost,
      missing_201;
  int other_status;
  char why[256];
} tally_t;

static void note(tally_t *t, const char *fmt, const char *name) {
  size_t n = strlen(t->why);
  if (n < sizeof(t->why) - 64)
    snprintf(t->why + n, sizeof(t->why) - n, fmt, name);
}

/* Joins what the writers were told with what the table holds. */
static void tally(writer_t *ws, const char *conninfo, tally_t *t) {
  memset(t, 0, sizeof(*t));
  size_t total = 0;
  for (int i = 0; i < WRITERS; i++) total += ws[i].n;
  rec_t *all = malloc((total ? total : 1) * sizeof(*all));
  size_t n = 0;
  for (int i = 0; i < WRITERS; i++) {
    memcpy(all + n, ws[i].recs, ws[i].n * sizeof(*all));
    n += ws[i].n;
  }
  qsort(all, n, sizeof(*all), cmp_rec);
  char *seen = calloc(n ? n : 1, 1);
  for (size_t k = 0; k < n; k++) {
    t->sent++;
    switch (all[k].outcome) {
      case OUT_201:
        t->ok++;
        break;
      case OUT_503:
        t->unavailable++;
        break;
      case OUT_UNKNOWN:
        t->unknown++;
        break;
      case OUT_LOST:
        t->lost++;
        break;
      default:
        t->other++;
        t->other_status = all[k].status;
    }
  }
  PGconn *db = PQconnectdb(conninfo);
  PGR_ASSERT(PQstatus(db) == CONNECTION_OK, "connect to the test's database: %s",
             PQerrorMessage(db));
  PGresult *res = PQexec(
      db, "SELECT name, count(*) FROM items WHERE name LIKE '" PREFIX "%' GROUP BY name");
  PGR_ASSERT(PQresultStatus(res) == PGRES_TUPLES_OK, "the items query: %s",
             PQresultErrorMessage(res));
  for (int i = 0; i < PQntuples(res); i++) {
    rec_t key;
    snprintf(key.name, sizeof(key.name), "%s", PQgetvalue(res, i, 0));
    long count = atol(PQgetvalue(res, i, 1));
    t->rows += count;
    rec_t *r = bsearch(&key, all, n, sizeof(*all), cmp_rec);
    if (r == NULL) {
      t->stray_rows++;
      note(t, " row %s was never sent;", key.name);
      continue;
    }
    seen[r - all] = 1;
    if (count != 1) {
      t->dup_rows += count - 1;
      note(t, " %s is in the table more than once;", key.name);
    }
    if (r->outcome == OUT_UNKNOWN)
      t->rows_of_unknown++;
    else if (r->outcome == OUT_LOST)
      t->rows_of_lost++;
    else if (r->outcome != OUT_201) {
      t->rows_of_503++;
      note(t, " %s was answered 503 but is in the table;", key.name);
    }
  }
  PQclear(res);
  PQfinish(db);
  for (size_t k = 0; k < n; k++)
    if (all[k].outcome == OUT_201 && !seen[k]) {
      t->missing_201++;
      note(t, " %s was answered 201 but is not in the table;", all[k].name);
    }
  free(seen);
  free(all);
}

/* ---- the test ---- */

START_TEST(restart_under_concurrent_writes) {
  pg_reply_t rep;
  helper_start();
  int64_t t_init = th_now_ms();
  PGR_ASSERT(helper_do(PG_START, &rep) == 0 && rep.rc == 0,
             "starting the test's PostgreSQL: %s", rep.err);
  int64_t init_ms = th_now_ms() - t_init;
  char conninfo[sizeof(rep.conninfo)];
  snprintf(conninfo, sizeof(conninfo), "%s", rep.conninfo);

  const char *const args[] = {"--workers", "2", "--pool", "4", "--db", conninfo, NULL};
  th_server_t s;
  th_server_start(&s, args);

  shared_t *sh = calloc(1, sizeof(*sh));
  writer_t *ws = calloc(WRITERS, sizeof(*ws));
  for (int i = 0; i < WRITERS; i++) {
    ws[i].id = i;
    ws[i].port = s.port;
    ws[i].sh = sh;
    pthread_create(&ws[i].thread, NULL, writer_run, &ws[i]);
  }
  th_sleep_ms(WARM_MS);

  /* Down: pg_ctl stop -m fast (every backend is terminated, in-flight
   * inserts included), then DOWN_MS with no server at all. */
  int64_t t_stop = th_now_ms();
  PGR_ASSERT(helper_do(PG_STOP, NULL) == 0, "the database helper is gone");
  int64_t t_stopped = th_now_ms();
  int ready_down = 0, ready_down_not503 = 0, ready_down_first = 0;
  while (th_now_ms() - t_stopped < DOWN_MS) {
    int st = th_get_status(s.port, "/readyz", th_scale(2000));
    ready_down++;
    if (st != 503 && ready_down_not503++ == 0)
      ready_down_first = st;
    th_sleep_ms(50);
  }

  /* Up again, in the same data directory (same socket, same conninfo). */
  ping_t ping;
  memset(&ping, 0, sizeof(ping));
  ping.conninfo = conninfo;
  pthread_create(&ping.thread, NULL, ping_run, &ping);
  int64_t t_start = th_now_ms();
  atomic_store(&sh->mark_ms, (long long)t_start); /* it has been down since t_stopped */
  int rc = helper_do(PG_START, &rep) == 0 ? rep.rc : -1;
  atomic_store(&ping.stop, 1);
  pthread_join(ping.thread, NULL);
  int64_t t_up = atomic_load(&ping.up_ms);
  if (rc != 0 || t_up == 0) {
    atomic_store(&sh->stop, 1);
    for (int i = 0; i < WRITERS; i++) pthread_join(ws[i].thread, NULL);
    PGR_ASSERT(0, "restarting the test's PostgreSQL: %s", rc != 0 ? rep.err : "no ping");
  }

  /* The first 201 after it is back. */
  int64_t first = 0;
  while (first == 0 && th_now_ms() - t_up < th_scale(5000)) {
    first = atomic_load(&sh->first_201_ms);
    th_sleep_ms(5);
  }

  /* /readyz after: 200 from every worker (rr gives consecutive fresh
   * connections to each in turn), within a few seconds of the database,
   * under the writers' load. */
  int ready_after = 0, ready_st = 0;
  int64_t t_ready = 0;
  while (th_now_ms() - t_up < th_scale(5000)) {
    ready_st = th_get_status(s.port, "/readyz", th_scale(2000));
    ready_after = ready_st == 200 ? ready_after + 1 : 0;
    if (ready_after == 1)
      t_ready = th_now_ms();
    if (ready_after == 6)
      break;
    th_sleep_ms(20);
  }
  th_sleep_ms(AFTER_MS); /* and a little more writing */
  atomic_store(&sh->stop, 1);
  for (int i = 0; i < WRITERS; i++) pthread_join(ws[i].thread, NULL);

  tally_t t;
  tally(ws, conninfo, &t);
  long ok_before = 0, ok_after = 0;
  for (int i = 0; i < WRITERS; i++)
    for (size_t k = 0; k < ws[i].n; k++) {
      ok_before += ws[i].recs[k].outcome == OUT_201 && ws[i].recs[k].answer < t_stop;
      ok_after += ws[i].recs[k].outcome == OUT_201 && ws[i].recs[k].answer >= t_start;
    }
  long connect_failed = 0;
  for (int i = 0; i < WRITERS; i++) connect_failed += ws[i].connect_failed;
  fprintf(
      stderr,
      "pgrestart: %d writers, --workers 2 --pool 4; own PostgreSQL ready in %lld ms; "
      "stop took %lld ms, down %lld ms, accepting %lld ms after the start began\n"
      "pgrestart: %ld requests: %ld answered 201, %ld 503, %ld 503 outcome unknown (%ld "
      "of them in the table), %ld other, %ld unanswered (%ld of them in the table), "
      "%ld refused connects; 201s: %ld before "
      "the stop, %ld after the start\n"
      "pgrestart: table: %ld rows; %ld duplicated, %ld answered 503, %ld never sent, "
      "%ld 201s missing\n"
      "pgrestart: first 201 %lld ms after the database accepted connections; /readyz "
      "%d of %d 503 while down, 200 (six in a row) from %lld ms after it was back\n",
      WRITERS, (long long)init_ms, (long long)(t_stopped - t_stop),
      (long long)(t_start - t_stopped), (long long)(t_up - t_start), t.sent, t.ok,
      t.unavailable, t.lost, t.rows_of_lost, t.other, t.unknown, t.rows_of_unknown,
      connect_failed, ok_before, ok_after, t.rows, t.dup_rows, t.rows_of_503,
      t.stray_rows, t.missing_201, first ? (long long)(first - t_up) : -1LL,
      ready_down - ready_down_not503, ready_down,
      t_ready ? (long long)(t_ready - t_up) : -1LL);

  PGR_ASSERT(t.missing_201 == 0 && t.dup_rows == 0,
             "acknowledged writes lost or doubled:%s", t.why);
  PGR_ASSERT(t.rows_of_503 == 0 && t.stray_rows == 0,
             "rows answered plain 503 (not run) or never sent:%s", t.why);
  PGR_ASSERT(t.other == 0, "%ld answers neither 201 nor 503 (one was %d)", t.other,
             t.other_status);
  PGR_ASSERT(t.unavailable > 0, "no 503 at all: the restart was not seen");
  PGR_ASSERT(first != 0, "no 201 within 5 s of the database accepting connections");
  PGR_ASSERT(first - t_up <= th_scale(BACK_WITHIN_MS),
             "the first 201 came %lld ms after the database accepted connections, want "
             "within %d ms",
             (long long)(first - t_up), BACK_WITHIN_MS);
  PGR_ASSERT(ready_down >= 5 && ready_down_not503 == 0,
             "/readyz while the database was down: %d of %d not 503 (first: %d)",
             ready_down_not503, ready_down, ready_down_first);
  PGR_ASSERT(ready_after == 6,
             "/readyz after the restart: %d (want 200 six times running)", ready_st);
  PGR_ASSERT(ok_before > 0 && ok_after > 0,
             "201s: %ld before the stop, %ld after the start", ok_before, ok_after);

  int status = th_server_stop(&s, th_scale(10000));
  PGR_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
  PGR_ASSERT(th_server_was_clean(&s, "after the restart"), "unclean server exit");
  for (int i = 0; i < WRITERS; i++) free(ws[i].recs);
  free(ws);
  free(sh);
  helper_end();
}
END_TEST

static Suite *pgrestart_suite(void) {
  Suite *s = suite_create("pgrestart");
  TCase *tc = tcase_create("pgrestart");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, restart_under_concurrent_writes);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  core_log_init(CORE_LOG_WARN, "it-pgrestart");
  snprintf(pg_dir, sizeof(pg_dir), "/tmp/looplab-pgr-XXXXXX");
  if (mkdtemp(pg_dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  chmod(pg_dir, 0755); /* the postgres user must reach the data directory */
  snprintf(pg_data, sizeof(pg_data), "%s/data", pg_dir);
  int rc = th_run_suite(pgrestart_suite());
  /* Whatever a failed or killed test left running stops here. */
  char err[1024], cmd[160];
  if (db_embedded_stop_dir(pg_data, err, sizeof(err)) != 0)
    fprintf(stderr, "pgrestart: stopping the test's PostgreSQL: %s\n", err);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pg_dir);
  if (system(cmd) != 0)
    fprintf(stderr, "pgrestart: could not remove %s\n", pg_dir);
  return rc;
}
