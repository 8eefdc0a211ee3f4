/* W2: GET /customers/:id/dashboard (SPEC section 5, issue 3 part 1), against
 * the fixture database (scale 0.05). The three strategies give byte-identical
 * bodies; every section agrees with SQL written here independently of the
 * server's statements; the server's --queries default is the strategy really
 * used (seen from pg_stat_activity while a lock holds the request); bad input
 * is 400, a missing customer 404; a cluster answers the same bytes. */
#include <check.h>
#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static th_server_t srv_parallel, srv_pipeline, srv_cluster;

static void servers_up(void) {
  static const char *const par[] = {"--workers", "0", NULL};
  static const char *const pip[] = {"--workers", "0", "--queries", "pipeline", NULL};
  static const char *const clu[] = {"--workers", "2", "--pool", "4", NULL};
  th_server_start(&srv_parallel, par);
  th_server_start(&srv_pipeline, pip);
  th_server_start(&srv_cluster, clu);
}
static void servers_down(void) {
  th_server_stop(&srv_parallel, 5000);
  th_server_stop(&srv_pipeline, 5000);
  th_server_stop(&srv_cluster, 5000);
}

static const char *db(void) {
  return th_pg_conninfo();
}

/* The customers every test looks at: with no orders (42 mod 100 never
 * order), the first, some in the middle, the last, and the one with the
 * most orders (filled in at run time). */
static long long ids[] = {42, 1, 7, 123, 250, 0 /* last */, 0 /* busiest */};
#define NIDS ((int)(sizeof(ids) / sizeof(ids[0])))

static void fill_ids(void) {
  ids[NIDS - 2] = th_sql_int(db(), "SELECT max(id) FROM customers");
  ids[NIDS - 1] = th_sql_int(db(),
                             "SELECT customer_id FROM orders GROUP BY customer_id "
                             "ORDER BY count(*) DESC, customer_id LIMIT 1");
  TH_ASSERT(ids[NIDS - 1] > 0, "no orders in the fixture database");
}

/* GET path on port; asserts the status; returns the malloc'd body. */
static char *get(int port, const char *path, int status, size_t *len) {
  th_response_t r;
  th_request(port, "GET", path, NULL, NULL, &r);
  TH_ASSERT(r.status == status, "GET %s answered %d, want %d: %.300s", path, r.status,
            status, r.body);
  char *body = malloc(r.body_len + 1);
  memcpy(body, r.body, r.body_len + 1);
  if (len)
    *len = r.body_len;
  th_response_free(&r);
  return body;
}

static char *dashboard(int port, long long id, const char *queries, size_t *len) {
  char path[128];
  if (queries)
    snprintf(path, sizeof(path), "/customers/%lld/dashboard?queries=%s", id, queries);
  else
    snprintf(path, sizeof(path), "/customers/%lld/dashboard", id);
  return get(port, path, 200, len);
}

static cJSON *parse(const char *body, long long id) {
  cJSON *j = cJSON_Parse(body);
  TH_ASSERT(j != NULL, "customer %lld: body is not JSON: %.300s", id, body);
  return j;
}

static const cJSON *member(const cJSON *j, const char *k, long long id) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
  TH_ASSERT(v != NULL, "customer %lld: no \"%s\"", id, k);
  return v;
}

static double num(const cJSON *j, const char *k, long long id) {
  const cJSON *v = member(j, k, id);
  TH_ASSERT(cJSON_IsNumber(v), "customer %lld: \"%s\" is not a number", id, k);
  return v->valuedouble;
}

static const char *str(const cJSON *j, const char *k, long long id) {
  const cJSON *v = member(j, k, id);
  TH_ASSERT(cJSON_IsString(v), "customer %lld: \"%s\" is not a string", id, k);
  return v->valuestring;
}

/* Asserts obj's keys are exactly keys, in that order. */
static void assert_keys(const cJSON *obj, const char *const keys[], int n,
                        const char *what, long long id) {
  TH_ASSERT(cJSON_IsObject(obj), "customer %lld: %s is not an object", id, what);
  const cJSON *c = obj->child;
  for (int i = 0; i < n; i++, c = c->next)
    TH_ASSERT(c != NULL && strcmp(c->string, keys[i]) == 0,
              "customer %lld: %s key %d is %s, want %s", id, what, i,
              c ? c->string : "(none)", keys[i]);
  TH_ASSERT(c == NULL, "customer %lld: %s has an extra key %s", id, what, c->string);
}

static int64_t sqlf(const char *fmt, long long id) {
  char sql[2048];
  snprintf(sql, sizeof(sql), fmt, id, id, id);
  return th_sql_int(db(), sql);
}

/* ---- the three strategies ---- */

START_TEST(t_strategies_identical) {
  static const char *const top[] = {"customer",        "as_of",
                                    "monthly_spend",   "top_products",
                                    "recent_orders",   "spend_by_category",
                                    "region_benchmark"};
  static const char *const cust[] = {"id", "name", "email", "region", "created_at"};
  fill_ids();
  for (int i = 0; i < NIDS; i++) {
    size_t n1, n2, n3;
    char *seq = dashboard(srv_parallel.port, ids[i], "sequential", &n1);
    char *par = dashboard(srv_parallel.port, ids[i], "parallel", &n2);
    char *pip = dashboard(srv_parallel.port, ids[i], "pipeline", &n3);
    TH_ASSERT(n1 == n2 && memcmp(seq, par, n1) == 0,
              "customer %lld: sequential and parallel differ:\n%s\n%s", ids[i], seq, par);
    TH_ASSERT(n1 == n3 && memcmp(seq, pip, n1) == 0,
              "customer %lld: sequential and pipeline differ:\n%s\n%s", ids[i], seq, pip);
    cJSON *j = parse(seq, ids[i]);
    assert_keys(j, top, 7, "the body", ids[i]);
    assert_keys(member(j, "customer", ids[i]), cust, 5, "customer", ids[i]);
    TH_ASSERT(num(member(j, "customer", ids[i]), "id", ids[i]) == (double)ids[i],
              "customer %lld: wrong customer.id", ids[i]);
    TH_ASSERT(strcmp(str(j, "as_of", ids[i]), "2026-01-01T00:00:00.000Z") == 0,
              "customer %lld: as_of %s", ids[i], str(j, "as_of", ids[i]));
    cJSON_Delete(j);
    free(seq), free(par), free(pip);
  }
}
END_TEST

/* ---- each section against direct SQL ---- */

#define MONTHS \
  "date_trunc('month', (SELECT as_of FROM meta) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
#define LIVE "o.customer_id = %lld AND o.status <> 'cancelled'"

static void check_monthly(const cJSON *j, long long id) {
  static const char *const keys[] = {"month", "orders", "spend_cents"};
  const cJSON *m = member(j, "monthly_spend", id);
  TH_ASSERT(cJSON_GetArraySize(m) == 12, "customer %lld: %d months", id,
            cJSON_GetArraySize(m));
  static const char *const want[12] = {"2025-01", "2025-02", "2025-03", "2025-04",
                                       "2025-05", "2025-06", "2025-07", "2025-08",
                                       "2025-09", "2025-10", "2025-11", "2025-12"};
  double orders = 0, spend = 0;
  int i = 0;
  for (const cJSON *e = m->child; e; e = e->next, i++) {
    assert_keys(e, keys, 3, "a month", id);
    TH_ASSERT(strcmp(str(e, "month", id), want[i]) == 0, "customer %lld: month %d is %s",
              id, i, str(e, "month", id));
    orders += num(e, "orders", id);
    spend += num(e, "spend_cents", id);
  }
  const char *window = " AND o.placed_at >= " MONTHS
                       " - interval '12 months'"
                       " AND o.placed_at < " MONTHS;
  char sql[1024];
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM orders o WHERE " LIVE "%s", id,
           window);
  TH_ASSERT(orders == (double)th_sql_int(db(), sql), "customer %lld: monthly orders %.0f",
            id, orders);
  snprintf(sql, sizeof(sql),
           "SELECT coalesce(sum(total_cents), 0) FROM orders o WHERE " LIVE "%s", id,
           window);
  TH_ASSERT(spend == (double)th_sql_int(db(), sql), "customer %lld: monthly spend %.0f",
            id, spend);
}

static void check_recent(const cJSON *j, long long id) {
  static const char *const keys[] = {"id", "placed_at", "status", "total_cents", "lines"};
  static const char *const line_keys[] = {"line_no", "product_id", "sku",
                                          "name",    "quantity",   "unit_price_cents"};
  const cJSON *r = member(j, "recent_orders", id);
  int64_t all = sqlf("SELECT count(*) FROM orders WHERE customer_id = %lld", id);
  int n = cJSON_GetArraySize(r);
  TH_ASSERT(n == (all < 25 ? all : 25), "customer %lld: %d recent orders of %lld", id, n,
            (long long)all);
  if (n == 0)
    return;
  int64_t newest = sqlf(
      "SELECT id FROM orders WHERE customer_id = %lld "
      "ORDER BY placed_at DESC, id DESC LIMIT 1",
      id);
  TH_ASSERT(num(r->child, "id", id) == (double)newest, "customer %lld: newest order", id);
  double prev_id = 0;
  const char *prev_at = NULL;
  for (const cJSON *o = r->child; o; o = o->next) {
    assert_keys(o, keys, 5, "an order", id);
    const char *at = str(o, "placed_at", id);
    double oid = num(o, "id", id);
    TH_ASSERT(prev_at == NULL || strcmp(prev_at, at) > 0 ||
                  (strcmp(prev_at, at) == 0 && prev_id > oid),
              "customer %lld: recent orders out of order at %.0f", id, oid);
    prev_at = at, prev_id = oid;
    const cJSON *lines = member(o, "lines", id);
    int64_t want =
        sqlf("SELECT count(*) FROM order_items WHERE order_id = %lld", (long long)oid);
    TH_ASSERT(cJSON_GetArraySize(lines) == want,
              "customer %lld: order %.0f has %d lines, want %lld", id, oid,
              cJSON_GetArraySize(lines), (long long)want);
    double sum = 0, line_no = 0;
    for (const cJSON *l = lines->child; l; l = l->next) {
      assert_keys(l, line_keys, 6, "a line", id);
      TH_ASSERT(num(l, "line_no", id) > line_no, "customer %lld: lines out of order", id);
      line_no = num(l, "line_no", id);
      sum += num(l, "quantity", id) * num(l, "unit_price_cents", id);
    }
    TH_ASSERT(sum == num(o, "total_cents", id),
              "customer %lld: order %.0f lines do not sum up", id, oid);
  }
}

static void check_products_and_categories(const cJSON *j, long long id) {
  static const char *const pkeys[] = {"product_id", "sku",   "name",
                                      "category",   "units", "spend_cents"};
  static const char *const ckeys[] = {"category", "units", "spend_cents"};
  const cJSON *top = member(j, "top_products", id);
  int64_t distinct = sqlf(
      "SELECT count(DISTINCT oi.product_id) FROM orders o "
      "JOIN order_items oi ON oi.order_id = o.id WHERE " LIVE,
      id);
  TH_ASSERT(cJSON_GetArraySize(top) == (distinct < 10 ? distinct : 10),
            "customer %lld: %d top products of %lld", id, cJSON_GetArraySize(top),
            (long long)distinct);
  if (top->child) {
    int64_t best = sqlf(
        "SELECT max(s) FROM (SELECT sum(oi.quantity * oi.unit_price_cents) s "
        "FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE " LIVE
        " GROUP BY oi.product_id) x",
        id);
    TH_ASSERT(num(top->child, "spend_cents", id) == (double)best,
              "customer %lld: top spend", id);
  }
  for (const cJSON *p = top->child; p; p = p->next) {
    assert_keys(p, pkeys, 6, "a product", id);
    TH_ASSERT(p->next == NULL ||
                  num(p, "spend_cents", id) > num(p->next, "spend_cents", id) ||
                  (num(p, "spend_cents", id) == num(p->next, "spend_cents", id) &&
                   num(p, "product_id", id) < num(p->next, "product_id", id)),
              "customer %lld: top products out of order", id);
  }
  const cJSON *cats = member(j, "spend_by_category", id);
  double spend = 0;
  for (const cJSON *c = cats->child; c; c = c->next) {
    assert_keys(c, ckeys, 3, "a category", id);
    spend += num(c, "spend_cents", id);
  }
  /* An order's total is the sum of its lines, so this is a second path. */
  int64_t want =
      sqlf("SELECT coalesce(sum(total_cents), 0) FROM orders o WHERE " LIVE, id);
  TH_ASSERT(spend == (double)want, "customer %lld: categories sum to %.0f, want %lld", id,
            spend, (long long)want);
}

static void check_region(const cJSON *j, long long id) {
  static const char *const keys[] = {"region", "window_days", "orders",
                                     "avg_order_cents"};
  const cJSON *r = member(j, "region_benchmark", id);
  assert_keys(r, keys, 4, "region_benchmark", id);
  const char *from =
      "FROM orders o WHERE o.status <> 'cancelled' "
      "AND o.customer_id IN (SELECT id FROM customers WHERE region = "
      "(SELECT region FROM customers WHERE id = %lld)) "
      "AND o.placed_at >= (SELECT as_of FROM meta) - interval '30 days' "
      "AND o.placed_at < (SELECT as_of FROM meta)";
  char fmt[1024];
  snprintf(fmt, sizeof(fmt), "SELECT count(*) %s", from);
  int64_t n = sqlf(fmt, id);
  /* Half away from zero, in integers: (2·sum + n) div (2·n) for sums >= 0. */
  snprintf(fmt, sizeof(fmt),
           "SELECT CASE WHEN count(*) = 0 THEN 0 ELSE "
           "(2 * sum(total_cents) + count(*)) / (2 * count(*)) END %s",
           from);
  int64_t avg = sqlf(fmt, id);
  TH_ASSERT(
      strcmp(str(r, "region", id), str(member(j, "customer", id), "region", id)) == 0,
      "customer %lld: benchmark of another region", id);
  TH_ASSERT(num(r, "window_days", id) == 30, "customer %lld: window_days", id);
  TH_ASSERT(num(r, "orders", id) == (double)n,
            "customer %lld: region orders %.0f, want %lld", id, num(r, "orders", id),
            (long long)n);
  TH_ASSERT(num(r, "avg_order_cents", id) == (double)avg,
            "customer %lld: region avg %.0f, want %lld", id,
            num(r, "avg_order_cents", id), (long long)avg);
}

START_TEST(t_sections_match_sql) {
  fill_ids();
  for (int i = 0; i < NIDS; i++) {
    char *body = dashboard(srv_parallel.port, ids[i], NULL, NULL);
    cJSON *j = parse(body, ids[i]);
    char sql[256], name[512];
    snprintf(sql, sizeof(sql), "SELECT name FROM customers WHERE id = %lld", ids[i]);
    th_sql(db(), sql, name, sizeof(name));
    TH_ASSERT(strcmp(str(member(j, "customer", ids[i]), "name", ids[i]), name) == 0,
              "customer %lld: name", ids[i]);
    check_monthly(j, ids[i]);
    check_recent(j, ids[i]);
    check_products_and_categories(j, ids[i]);
    check_region(j, ids[i]);
    cJSON_Delete(j);
    free(body);
  }
  /* The customer with no orders has empty sections, zeros in every month. */
  char *body = dashboard(srv_parallel.port, 42, NULL, NULL);
  TH_ASSERT(
      strstr(body, "\"top_products\":[],\"recent_orders\":[],\"spend_by_category\":[]"),
      "customer 42: sections not empty: %s", body);
  free(body);
}
END_TEST

/* ---- which strategy really ran ----
 * A lock on products holds every section that joins it (top products, recent
 * orders, categories) while monthly spend and the region do not wait.
 * parallel: three backends wait at once. sequential: one waits, in a
 * transaction of its own (xact_start = query_start). pipeline: one waits, in
 * the implicit transaction the pipeline opened with monthly spend
 * (xact_start < query_start). */

typedef struct {
  int waiting;
  int same_xact; /* 1 if the waiter's transaction began before its statement */
} seen_t;

static seen_t observe(int port, const char *queries) {
  PGconn *lock = PQconnectdb(db());
  TH_ASSERT(PQstatus(lock) == CONNECTION_OK, "lock connection: %s", PQerrorMessage(lock));
  PQclear(PQexec(lock, "BEGIN"));
  PGresult *res = PQexec(lock, "LOCK TABLE products IN ACCESS EXCLUSIVE MODE");
  TH_ASSERT(PQresultStatus(res) == PGRES_COMMAND_OK, "LOCK: %s", PQerrorMessage(lock));
  PQclear(res);
  th_conn_t *c = th_conn_open(port);
  char req[160];
  snprintf(req, sizeof(req),
           "GET /customers/%lld/dashboard%s%s HTTP/1.1\r\nHost: t\r\n\r\n", ids[NIDS - 1],
           queries ? "?queries=" : "", queries ? queries : "");
  TH_ASSERT(th_sends(c, req) == 0, "send");
  const char *waiters =
      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
      "AND wait_event_type = 'Lock' AND query LIKE '%products%'";
  seen_t s = {0, 0};
  int64_t deadline = th_now_ms() + th_scale(5000);
  /* Parallel sends its three at once: give the last one a moment to queue. */
  while (th_now_ms() < deadline && (s.waiting = (int)th_sql_int(db(), waiters)) == 0)
    th_sleep_ms(10);
  th_sleep_ms(200);
  s.waiting = (int)th_sql_int(db(), waiters);
  s.same_xact =
      (int)th_sql_int(db(),
                      "SELECT count(*) FROM pg_stat_activity "
                      "WHERE datname = current_database() "
                      "AND wait_event_type = 'Lock' "
                      "AND query LIKE '%products%' AND xact_start < query_start");
  PQclear(PQexec(lock, "ROLLBACK"));
  PQfinish(lock);
  th_response_t r;
  TH_ASSERT(th_read_response(c, &r, th_scale(5000)) == TH_OK,
            "no response after the lock");
  TH_ASSERT(r.status == 200, "status %d after the lock", r.status);
  th_response_free(&r);
  th_conn_close(c);
  return s;
}

START_TEST(t_strategy_really_used) {
  fill_ids();
  seen_t s = observe(srv_parallel.port, NULL); /* the built-in default: parallel */
  TH_ASSERT(s.waiting == 3, "default (parallel): %d waiting backends, want 3", s.waiting);
  s = observe(srv_parallel.port, "sequential");
  TH_ASSERT(s.waiting == 1 && s.same_xact == 0,
            "?queries=sequential: %d waiting, %d in a pipeline", s.waiting, s.same_xact);
  s = observe(srv_parallel.port, "pipeline");
  TH_ASSERT(s.waiting == 1 && s.same_xact == 1,
            "?queries=pipeline: %d waiting, %d in a pipeline", s.waiting, s.same_xact);
  s = observe(srv_pipeline.port, NULL); /* --queries pipeline */
  TH_ASSERT(s.waiting == 1 && s.same_xact == 1,
            "--queries pipeline: %d waiting, %d in a pipeline", s.waiting, s.same_xact);
  s = observe(srv_pipeline.port, "parallel"); /* the request overrides the server */
  TH_ASSERT(s.waiting == 3, "--queries pipeline, ?queries=parallel: %d waiting",
            s.waiting);
}
END_TEST

START_TEST(t_server_default_same_body) {
  fill_ids();
  for (int i = 0; i < NIDS; i++) {
    size_t n1, n2;
    char *a = dashboard(srv_parallel.port, ids[i], "pipeline", &n1);
    char *b = dashboard(srv_pipeline.port, ids[i], NULL, &n2);
    TH_ASSERT(n1 == n2 && memcmp(a, b, n1) == 0,
              "customer %lld: --queries pipeline differs", ids[i]);
    free(a), free(b);
  }
}
END_TEST

/* ---- errors ---- */

static void expect_error(int port, const char *path, int status, const char *message) {
  th_response_t r;
  th_request(port, "GET", path, NULL, NULL, &r);
  th_assert_error_shape(&r, status, message, path);
  th_response_free(&r);
}

START_TEST(t_errors) {
  int p = srv_parallel.port;
  expect_error(p, "/customers/1/dashboard?queries=bogus", 400, "querystring/queries");
  expect_error(p, "/customers/1/dashboard?queries=", 400,
               "querystring/queries must be one of sequential, parallel, pipeline");
  const char *bad[] = {
      "0", "abc", "-1", "1.5", "99999999999999999999", "9223372036854775808"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char path[96];
    snprintf(path, sizeof(path), "/customers/%s/dashboard", bad[i]);
    expect_error(p, path, 400, "params/id must be a positive 64-bit integer");
  }
  int64_t missing = th_sql_int(db(), "SELECT max(id) + 1 FROM customers");
  char path[96], msg[96];
  snprintf(path, sizeof(path), "/customers/%lld/dashboard", (long long)missing);
  snprintf(msg, sizeof(msg), "customer %lld not found", (long long)missing);
  const char *q[] = {"sequential", "parallel", "pipeline"};
  for (int i = 0; i < 3; i++) {
    char pq[128];
    snprintf(pq, sizeof(pq), "%s?queries=%s", path, q[i]);
    expect_error(p, pq, 404, msg);
  }
  size_t n;
  char *body = get(p, path, 404, &n);
  char want[160];
  snprintf(want, sizeof(want),
           "{\"statusCode\":404,\"error\":\"Not Found\",\"message\":\"%s\"}", msg);
  TH_ASSERT(strcmp(body, want) == 0, "404 body %s, want %s", body, want);
  free(body);
  expect_error(p, "/customers/9223372036854775807/dashboard", 404,
               "customer 9223372036854775807 not found");
}
END_TEST

/* ---- a cluster answers the same bytes ---- */

START_TEST(t_cluster_same_body) {
  fill_ids();
  for (int i = 0; i < NIDS; i++) {
    size_t n1, n2;
    char *a = dashboard(srv_parallel.port, ids[i], NULL, &n1);
    for (int k = 0; k < 2; k++) { /* rr: consecutive connections go to both workers */
      char *b = dashboard(srv_cluster.port, ids[i], k ? "pipeline" : NULL, &n2);
      TH_ASSERT(n1 == n2 && memcmp(a, b, n1) == 0, "customer %lld: the cluster differs",
                ids[i]);
      free(b);
    }
    free(a);
  }
}
END_TEST

static Suite *dashboard_suite(void) {
  Suite *s = suite_create("dashboard");
  TCase *tc = tcase_create("dashboard");
  tcase_add_unchecked_fixture(tc, servers_up, servers_down);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, t_strategies_identical);
  tcase_add_test(tc, t_sections_match_sql);
  tcase_add_test(tc, t_strategy_really_used);
  tcase_add_test(tc, t_server_default_same_body);
  tcase_add_test(tc, t_errors);
  tcase_add_test(tc, t_cluster_same_body);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(dashboard_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  if (!th_server_was_clean(&srv_parallel, "--workers 0 server"))
    failed++;
  if (!th_server_was_clean(&srv_pipeline, "--queries pipeline server"))
    failed++;
  if (!th_server_was_clean(&srv_cluster, "--workers 2 server"))
    failed++;
  return failed == 0 ? 0 : 1;
}
