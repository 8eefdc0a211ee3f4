/* Reads on a replica (issue 13, point 2): --db-read, --read-routes,
 * --read-fallback. The "replica" is a copy of the fixture's database
 * (CREATE DATABASE ... TEMPLATE) whose item 1 and customer 1 carry other
 * names, so every answer says which database served it.
 * - routes: the dashboard (default) and, with --read-routes items, GET
 *   /items/:id and the list come from the replica; writes, and what a
 *   write answers, never do; /readyz and /metrics report the read pool.
 * - a replica that is down: only its routes answer 503, writes and the
 *   other reads succeed, /readyz stays 200; with --read-fallback they are
 *   served by --db and counted.
 * - a replica that goes down while serving, with --read-fallback: reads
 *   move to the primary, none fails. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "prom.h"

#define REPLICA_DB "looplab_read_replica"
#define REPLICA_ITEM "item 1 on the replica"
#define REPLICA_CUSTOMER "customer 1 on the replica"

static char replica[1024];

/* The fixture's conninfo with another dbname (libpq: the last one wins). */
static const char *conninfo_db(const char *db) {
  static char buf[1024];
  snprintf(buf, sizeof(buf), "%s dbname=%s", th_pg_conninfo(), db);
  return buf;
}

static void make_replica(void) {
  char out[64];
  const char *admin = conninfo_db("postgres");
  th_sql(admin, "drop database if exists " REPLICA_DB " with (force)", out, sizeof(out));
  th_sql(admin, "create database " REPLICA_DB " template looplab", out, sizeof(out));
  snprintf(replica, sizeof(replica), "%s", conninfo_db(REPLICA_DB));
  th_sql(replica, "update items set name = '" REPLICA_ITEM "' where id = 1", out,
         sizeof(out));
  th_sql(replica, "update customers set name = '" REPLICA_CUSTOMER "' where id = 1", out,
         sizeof(out));
}

static void drop_replica(void) {
  char out[64];
  th_sql(conninfo_db("postgres"), "drop database if exists " REPLICA_DB " with (force)",
         out, sizeof(out));
}

/* A conninfo nothing listens on: a replica that is down. */
static const char *dead_replica(void) {
  static char buf[128];
  snprintf(buf, sizeof(buf), "host=127.0.0.1 port=%d dbname=x connect_timeout=1",
           th_free_port());
  return buf;
}

/* GET path: want status; when has is set, the body must contain it (or,
 * with a leading '!', must not contain the rest). */
static void get(int port, const char *path, int want, const char *has) {
  th_response_t r;
  th_request(port, "GET", path, NULL, NULL, &r);
  TH_ASSERT(r.status == want, "GET %s: %d, want %d (%s)", path, r.status, want, r.body);
  if (has && has[0] == '!')
    TH_ASSERT(!strstr(r.body, has + 1), "GET %s: holds '%s': %.300s", path, has + 1,
              r.body);
  else if (has)
    TH_ASSERT(strstr(r.body, has), "GET %s: no '%s' in %.300s", path, has, r.body);
  th_response_free(&r);
}

static void send(int port, const char *method, const char *path, const char *body,
                 int want, const char *has) {
  th_response_t r;
  th_request(port, method, path, NULL, body, &r);
  TH_ASSERT(r.status == want, "%s %s: %d, want %d (%s)", method, path, r.status, want,
            r.body);
  if (has)
    TH_ASSERT(strstr(r.body, has), "%s %s: no '%s' in %.300s", method, path, has, r.body);
  th_response_free(&r);
}

static double metric(int port, const char *name) {
  th_response_t r;
  th_request(port, "GET", "/metrics", NULL, NULL, &r);
  TH_ASSERT(r.status == 200, "/metrics: %d", r.status);
  prom_doc_t doc;
  char err[256];
  TH_ASSERT(prom_parse(r.body, r.body_len, &doc, err, sizeof(err)) == 0, "/metrics: %s",
            err);
  int matched = 0;
  const char *none[] = {NULL};
  double v = prom_sum(&doc, name, none, -1, &matched);
  prom_free(&doc);
  th_response_free(&r);
  TH_ASSERT(matched > 0, "/metrics has no %s", name);
  return v;
}

/* The primary's item 1 has its seeded name; the replica's is REPLICA_ITEM. */
START_TEST(routes) {
  char out[64];
  th_sql(th_pg_conninfo(), "delete from items where name = 'written on the primary'", out,
         sizeof(out));
  make_replica();
  /* The default routes: the dashboard only. */
  const char *a[] = {"--db-read", replica, "--read-pool", "3", NULL};
  th_server_t s;
  th_server_start(&s, a);
  get(s.port, "/customers/1/dashboard", 200, REPLICA_CUSTOMER);
  get(s.port, "/customers/1/dashboard?queries=sequential", 200, REPLICA_CUSTOMER);
  get(s.port, "/customers/1/dashboard?queries=pipeline", 200, REPLICA_CUSTOMER);
  get(s.port, "/items/1", 200, "!" REPLICA_ITEM);
  get(s.port, "/readyz?verbose", 200, "[+]database-read ok\n");
  TH_ASSERT(metric(s.port, "looplab_db_read_pool_size") == 3, "read pool size");
  TH_ASSERT(metric(s.port, "looplab_db_read_pool_healthy") >= 1, "read pool healthy");
  th_server_stop(&s, 5000);
  TH_ASSERT_CLEAN(&s, "read pool, default routes");

  /* --read-routes items: GET one and the list from the replica; a write
   * and the row it answers with from the primary. */
  const char *b[] = {"--db-read", replica, "--read-routes", "items", NULL};
  th_server_start(&s, b);
  get(s.port, "/items/1", 200, REPLICA_ITEM);
  get(s.port, "/items?limit=2", 200, REPLICA_ITEM);
  get(s.port, "/customers/1/dashboard", 200, "!" REPLICA_CUSTOMER);
  int64_t before = th_sql_int(replica, "select price_cents from items where id = 1");
  char patch[64];
  snprintf(patch, sizeof(patch), "{\"price_cents\":%lld}", (long long)before + 1);
  th_response_t r;
  th_request(s.port, "PATCH", "/items/1", NULL, patch, &r);
  TH_ASSERT(r.status == 200 && !strstr(r.body, REPLICA_ITEM), "PATCH answered %d: %s",
            r.status, r.body);
  th_response_free(&r);
  send(s.port, "POST", "/items",
       "{\"name\":\"written on the primary\",\"price_cents\":1}", 201,
       "written on the primary");
  TH_ASSERT(th_sql(th_pg_conninfo(),
                   "select id from items where name = 'written on the primary'", out,
                   sizeof(out)) == 1,
            "the write is not on the primary");
  TH_ASSERT(th_sql(replica, "select id from items where name = 'written on the primary'",
                   out, sizeof(out)) == 0,
            "the write went to the replica");
  TH_ASSERT(th_sql_int(replica, "select price_cents from items where id = 1") == before,
            "the PATCH went to the replica");
  TH_ASSERT(th_sql_int(th_pg_conninfo(), "select price_cents from items where id = 1") ==
                before + 1,
            "the PATCH is not on the primary");
  th_sql(th_pg_conninfo(), "delete from items where name = 'written on the primary'", out,
         sizeof(out));
  th_server_stop(&s, 5000);
  TH_ASSERT_CLEAN(&s, "read pool, --read-routes items");
  drop_replica();
}
END_TEST

START_TEST(replica_down) {
  const char *a[] = {"--db-read", dead_replica(), "--read-routes", "dashboard,items",
                     NULL};
  th_server_t s;
  th_server_start(&s, a);
  get(s.port, "/customers/1/dashboard", 503, "database unavailable");
  get(s.port, "/customers/1/dashboard?queries=sequential", 503, NULL);
  get(s.port, "/items/1", 503, NULL);
  get(s.port, "/items?limit=2", 503, NULL);
  send(s.port, "POST", "/items",
       "{\"name\":\"while the replica is down\",\"price_cents\":1}", 201, NULL);
  send(s.port, "PATCH", "/items/2", "{\"price_cents\":777}", 200, "\"price_cents\":777");
  send(s.port, "POST", "/transform", "{\"orders\":[]}", 200, NULL);
  get(s.port, "/readyz?verbose", 200,
      "[+]database-read excluded: no healthy connection (its reads answer 503)\n");
  TH_ASSERT(metric(s.port, "looplab_db_read_pool_healthy") == 0, "healthy replica?");
  TH_ASSERT(metric(s.port, "looplab_db_read_fallbacks_total") == 0, "fallbacks");
  th_server_stop(&s, 5000);
  TH_ASSERT_CLEAN(&s, "replica down");

  const char *b[] = {"--db-read",       dead_replica(),    "--read-routes",
                     "dashboard,items", "--read-fallback", NULL};
  th_server_start(&s, b);
  get(s.port, "/customers/1/dashboard", 200, "\"monthly_spend\"");
  get(s.port, "/customers/1/dashboard?queries=sequential", 200, "\"monthly_spend\"");
  get(s.port, "/customers/1/dashboard?queries=pipeline", 200, "\"monthly_spend\"");
  get(s.port, "/items/1", 200, NULL);
  get(s.port, "/items?limit=2", 200, NULL);
  get(s.port, "/customers/999999999/dashboard", 404, NULL);
  get(s.port, "/readyz?verbose", 200, "(its reads go to --db)");
  double fb = metric(s.port, "looplab_db_read_fallbacks_total");
  fprintf(stderr, "read_pool: replica down, --read-fallback: %.0f reads sent to --db\n",
          fb);
  TH_ASSERT(fb == 6, "looplab_db_read_fallbacks_total %.0f, want 6", fb);
  th_server_stop(&s, 5000);
  TH_ASSERT_CLEAN(&s, "replica down, --read-fallback");
  char out[64];
  th_sql(th_pg_conninfo(), "delete from items where name = 'while the replica is down'",
         out, sizeof(out));
}
END_TEST

/* The replica stops accepting connections and loses the ones it had
 * while the server runs: with --read-fallback no read fails. */
START_TEST(replica_goes_down) {
  make_replica();
  const char *a[] = {"--db-read",       replica,           "--read-routes",
                     "dashboard,items", "--read-fallback", NULL};
  th_server_t s;
  th_server_start(&s, a);
  get(s.port, "/items/1", 200, REPLICA_ITEM);
  get(s.port, "/customers/1/dashboard", 200, REPLICA_CUSTOMER);
  char out[64];
  th_sql(conninfo_db("postgres"), "alter database " REPLICA_DB " allow_connections false",
         out, sizeof(out));
  th_sql(conninfo_db("postgres"),
         "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = "
         "'" REPLICA_DB "'",
         out, sizeof(out));
  int served = 0;
  int64_t t0 = th_now_ms();
  while (th_now_ms() - t0 < 1500) {
    get(s.port, "/items/1", 200, "!" REPLICA_ITEM);
    get(s.port, "/customers/1/dashboard", 200, "!" REPLICA_CUSTOMER);
    served += 2;
  }
  double fb = metric(s.port, "looplab_db_read_fallbacks_total");
  fprintf(stderr, "read_pool: replica gone: %d reads in 1.5 s served, %.0f by fallback\n",
          served, fb);
  TH_ASSERT(fb >= 2, "looplab_db_read_fallbacks_total %.0f", fb);
  th_server_stop(&s, 5000);
  TH_ASSERT_CLEAN(&s, "replica goes down");
  th_sql(conninfo_db("postgres"), "alter database " REPLICA_DB " allow_connections true",
         out, sizeof(out));
  drop_replica();
}
END_TEST

int main(void) {
  Suite *s = suite_create("read_pool");
  TCase *tc = tcase_create("read_pool");
  tcase_set_timeout(tc, 90);
  tcase_add_test(tc, routes);
  tcase_add_test(tc, replica_down);
  tcase_add_test(tc, replica_goes_down);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
