/* xform: the W3 transform's building blocks (dates, ISO weeks, money,
 * statistics), its limits and error messages, the generator's determinism,
 * and running it on several threads at once. The full input/output pairs
 * are in test/conformance/transform/. */
#include <check.h>
#include <pthread.h>
#include <string.h>

#include "xform/xform.h"

static int64_t days(int y, unsigned m, unsigned d) {
  return xform_days_from_civil(y, m, d);
}

static int parses(const char *s, xform_time_t *t) {
  return xform_time_parse(s, strlen(s), t) == 0;
}

START_TEST(time_parse_valid) {
  xform_time_t t;
  char out[25];
  ck_assert(parses("2025-03-01T23:30:00.123+05:30", &t));
  xform_time_format(&t, out);
  ck_assert_str_eq(out, "2025-03-01T18:00:00.123Z");
  ck_assert(parses("2025-01-01T13:59:59.999999999+14:00", &t));
  xform_time_format(&t, out);
  ck_assert_str_eq(out, "2024-12-31T23:59:59.999Z"); /* truncated, never rounded */
  ck_assert_int_eq(t.nsec, 999999999);
  ck_assert(parses("2024-02-29T23:30:00-12:00", &t));
  xform_time_format(&t, out);
  ck_assert_str_eq(out, "2024-03-01T11:30:00.000Z");
  ck_assert(parses("2000-02-29T00:00:00.5Z", &t));
  ck_assert_int_eq(t.nsec, 500000000);
  ck_assert(parses("1970-01-01T00:00:00Z", &t));
  ck_assert_int_eq(t.sec, 0);
  ck_assert(parses("1900-01-01T00:00:00+00:01", &t));
  ck_assert_int_eq(t.sec, days(1900, 1, 1) * 86400 - 60);
  ck_assert(parses("2025-06-01T00:00:00-00:00", &t));
}
END_TEST

START_TEST(time_parse_invalid) {
  static const char *const bad[] = {"2025-02-29T00:00:00Z",
                                    "1900-02-29T00:00:00Z",
                                    "2023-04-31T00:00:00Z",
                                    "2025-13-01T00:00:00Z",
                                    "2025-00-01T00:00:00Z",
                                    "2025-01-00T00:00:00Z",
                                    "2025-01-01T24:00:00Z",
                                    "2025-01-01T00:60:00Z",
                                    "2025-01-01T00:00:60Z",
                                    "2025-01-01t00:00:00Z",
                                    "2025-01-01T00:00:00z",
                                    "2025-01-01 00:00:00Z",
                                    "2025-01-01T00:00:00",
                                    "2025-01-01T00:00:00.Z",
                                    "2025-01-01T00:00:00.1234567890Z",
                                    "2025-01-01T00:00:00+24:00",
                                    "2025-01-01T00:00:00+05:60",
                                    "2025-01-01T00:00:00+0530",
                                    "2025-01-01T00:00:00+05",
                                    "1899-12-31T23:59:59Z",
                                    "3000-01-01T00:00:00Z",
                                    "+2025-01-01T00:00:00Z",
                                    "2025-1-01T00:00:00Z",
                                    "2025-01-01T00:00:00ZZ",
                                    ""};
  xform_time_t t;
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
    ck_assert_msg(!parses(bad[i], &t), "accepted %s", bad[i]);
}
END_TEST

static void week_is(int y, unsigned m, unsigned d, int64_t wy, int wk) {
  int64_t gy;
  int gw;
  xform_iso_week(days(y, m, d), &gy, &gw);
  ck_assert_msg(gy == wy && gw == wk, "%04d-%02u-%02u: %lld-W%02d, want %lld-W%02d", y, m,
                d, (long long)gy, gw, (long long)wy, wk);
}

START_TEST(iso_weeks) {
  week_is(2021, 1, 3, 2020, 53);
  week_is(2021, 1, 4, 2021, 1);
  week_is(2024, 12, 30, 2025, 1);
  week_is(2024, 12, 29, 2024, 52);
  week_is(2026, 1, 1, 2026, 1);
  week_is(2027, 1, 3, 2026, 53);
  week_is(2008, 12, 29, 2009, 1);
  week_is(2010, 1, 3, 2009, 53);
  week_is(2024, 2, 29, 2024, 9);
  week_is(1900, 1, 1, 1900, 1);
  ck_assert_int_eq(xform_weekday(0), 3);                /* 1970-01-01, Thursday */
  ck_assert_int_eq(xform_weekday(days(2025, 3, 1)), 5); /* Saturday */
  ck_assert_int_eq(xform_weekday(days(1969, 12, 29)), 0);
  ck_assert_int_eq(xform_weekday(days(1900, 1, 1)), 0);
}
END_TEST

START_TEST(civil_round_trip) {
  for (int64_t z = days(1899, 1, 1); z < days(3001, 1, 1); z += 13) {
    int64_t y;
    unsigned m, d;
    xform_civil_from_days(z, &y, &m, &d);
    ck_assert_int_eq(xform_days_from_civil(y, m, d), z);
  }
}
END_TEST

static int64_t dec(const char *s, int max_int, int max_frac) {
  int64_t v;
  return xform_decimal_parse(s, strlen(s), max_int, max_frac, &v) ? -1 : v;
}

START_TEST(decimals) {
  ck_assert_int_eq(dec("19.99", 4, 4), 199900);
  ck_assert_int_eq(dec("0", 4, 4), 0);
  ck_assert_int_eq(dec("0.0001", 4, 4), 1);
  ck_assert_int_eq(dec("9999.9999", 4, 4), 99999999);
  ck_assert_int_eq(dec("12.5", 3, 2), 1250);
  ck_assert_int_eq(dec("100", 3, 2), 10000);
  static const char *const bad[] = {"",    ".5", "5.", "01",      "00.1",  "-1",  "+1",
                                    "1e2", " 1", "1 ", "1.23456", "10000", "1,5", "١"};
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
    ck_assert_msg(dec(bad[i], 4, 4) == -1, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(money_rounding) {
  ck_assert_int_eq(xform_div_round(5, 10), 1); /* exactly half: up */
  ck_assert_int_eq(xform_div_round(4, 10), 0);
  ck_assert_int_eq(xform_div_round(15, 10), 2);
  ck_assert_int_eq(xform_line_gross(1, 50), 1); /* 0.005 -> 0.5 cent -> 1 */
  ck_assert_int_eq(xform_line_gross(1, 49), 0);
  ck_assert_int_eq(xform_line_gross(3, 3333), 100);         /* 0.9999 -> 99.99 cents */
  ck_assert_int_eq(xform_line_net(7, 199900, 1250), 12244); /* 122.43625 */
  ck_assert_int_eq(xform_line_net(1, 1000, 500), 10);       /* 9.5 cents -> 10 */
  ck_assert_int_eq(xform_line_net(1, 3000, 500), 29);       /* 28.5 -> 29 */
  ck_assert_int_eq(xform_line_net(1, 229 * 100, 1000), 206);
  ck_assert_int_eq(xform_line_net(1000, 99999999, 3333), 666699993);
  ck_assert_int_eq(xform_line_net(5, 199900, 10000), 0);
}
END_TEST

START_TEST(statistics) {
  int64_t a[] = {1, 2, 3, 4};
  ck_assert_int_eq(xform_mean_c100(a, 4), 250);
  ck_assert_int_eq(xform_stddev_c100(a, 4), 112); /* sqrt(1.25) = 1.11803 cents */
  int64_t b[] = {0, 0, 0, 0, 0, 0, 0, 1};
  ck_assert_int_eq(xform_mean_c100(b, 8), 13); /* 12.5 -> 13 */
  int64_t c[] = {700, 700, 200};
  ck_assert_int_eq(xform_mean_c100(c, 3), 53333);
  ck_assert_int_eq(xform_stddev_c100(c, 3), 23570);
  int64_t d[] = {5};
  ck_assert_int_eq(xform_stddev_c100(d, 1), 0);
  /* sigma = 0.5 exactly (values 0 and 1): 50 hundredths, no rounding */
  int64_t e[] = {0, 1};
  ck_assert_int_eq(xform_stddev_c100(e, 2), 50);
  /* Large values stay exact (128-bit). */
  int64_t f[] = {999999999999, 1, 999999999999, 1};
  ck_assert_int_eq(xform_stddev_c100(f, 4), 49999999999900);
}
END_TEST

START_TEST(percentiles) {
  int64_t v[100];
  for (int i = 0; i < 100; i++) v[i] = i + 1;
  ck_assert_int_eq(xform_percentile(v, 1, 50), 1);
  ck_assert_int_eq(xform_percentile(v, 1, 99), 1);
  ck_assert_int_eq(xform_percentile(v, 10, 50), 5);
  ck_assert_int_eq(xform_percentile(v, 10, 90), 9);
  ck_assert_int_eq(xform_percentile(v, 10, 99), 10);
  ck_assert_int_eq(xform_percentile(v, 100, 99), 99);
  ck_assert_int_eq(xform_percentile(v, 3, 50), 2);
  ck_assert_int_eq(xform_percentile(v, 4, 50), 2);
}
END_TEST

/* ---- whole documents ---- */

static int run(const char *doc, const xform_limits_t *lim, char *err, core_buf_t *out) {
  return xform_run(doc, strlen(doc), lim, out, err, 256);
}

static void fails_with(const char *doc, const xform_limits_t *lim, const char *msg) {
  core_buf_t out;
  char err[256] = "";
  core_buf_init(&out);
  ck_assert_int_eq(run(doc, lim, err, &out), 400);
  ck_assert_str_eq(err, msg);
  ck_assert_uint_eq(out.len, 0);
  core_buf_free(&out);
}

#define ORDER(id, extra)                                                                 \
  "{\"id\":" #id                                                                         \
  ",\"customer\":{\"id\":1,\"name\":\"N\"},\"status\":\"paid\","                         \
  "\"placed_at\":\"2025-01-01T00:00:00Z\",\"lines\":[{\"sku\":\"s\",\"category\":\"c\"," \
  "\"quantity\":1,\"unit_price\":\"1\"}],\"shipping\":\"0\"" extra "}"

START_TEST(errors_name_the_field) {
  fails_with("", NULL,
             "Body cannot be empty when content-type is set to 'application/json'");
  fails_with("{\"orders\":[\xff]}", NULL, "body must be valid UTF-8");
  fails_with("{\"orders\":[]", NULL, "Body is not valid JSON");
  fails_with("{\"orders\":[]} x", NULL, "Body is not valid JSON");
  fails_with("{\"orders\":[01]}", NULL, "Body is not valid JSON");
  fails_with("{\"orders\":[],\"x\":\"\\udc00\"}", NULL, "Body is not valid JSON");
  fails_with("\xef\xbb\xbf{\"orders\":[]}", NULL, "Body is not valid JSON");
  fails_with("[]", NULL, "body must be object");
  fails_with("{}", NULL, "body must have required property 'orders'");
  fails_with("{\"orders\":{}}", NULL, "body/orders must be array");
  fails_with("{\"orders\":[1]}", NULL, "body/orders/0 must be object");
  fails_with("{\"orders\":[" ORDER(1, ) "," ORDER(0, ) "]}", NULL,
             "body/orders/1/id must be an integer from 1 to 9007199254740991");
  fails_with(
      "{\"orders\":[" ORDER(1, ",\"shipping\":\"0.001\"") "]}", NULL,
      "body/orders/0/shipping must be a decimal string from 0 to 99999.99 with at most 2 "
      "decimals");
  fails_with(
      "{\"orders\":[" ORDER(1, ",\"status\":\"lost\"") "]}", NULL,
      "body/orders/0/status must be one of pending, paid, shipped, delivered, cancelled");
  fails_with("{\"orders\":[" ORDER(1, ",\"placed_at\":\"2025-02-29T00:00:00Z\"") "]}",
             NULL,
             "body/orders/0/placed_at must be an RFC 3339 date-time like "
             "2025-03-01T23:30:00.123+05:30 (year 1900 to 2999)");
  fails_with("{\"orders\":[" ORDER(1,
                                   ",\"lines\":[{\"sku\":\"s\",\"category\":\"c\","
                                   "\"quantity\":1e400,\"unit_price\":\"1\"}]") "]}",
             NULL,
             "body/orders/0/lines/0/quantity must be an integer from -1000 to 1000");
  fails_with("{\"orders\":[" ORDER(1, ",\"customer\":{\"id\":1,\"name\":\"\"}") "]}",
             NULL, "body/orders/0/customer/name must be a non-empty string");
}
END_TEST

START_TEST(limits) {
  xform_limits_t lim;
  xform_limits_default(&lim);
  ck_assert_int_eq(lim.max_depth, 8);
  ck_assert_uint_eq(lim.max_orders, 10000);
  ck_assert_uint_eq(lim.max_lines, 100000);
  lim.max_orders = 2;
  fails_with("{\"orders\":[" ORDER(1, ) "," ORDER(2, ) "," ORDER(3, ) "]}", &lim,
             "body/orders must NOT have more than 2 items");
  xform_limits_default(&lim);
  lim.max_lines = 1;
  fails_with("{\"orders\":[" ORDER(1, ) "," ORDER(2, ) "]}", &lim,
             "body/orders must NOT have more than 1 lines in total");
  fails_with("{\"orders\":[],\"x\":[[[[[[[[]]]]]]]]}", NULL,
             "body must NOT be nested deeper than 8 levels");
  /* Brackets inside strings do not count; escaped quotes do not end them. */
  core_buf_t out;
  char err[256];
  core_buf_init(&out);
  ck_assert_int_eq(run("{\"orders\":[],\"x\":\"\\\"[[[[[[[[[[\",\"y\":[[[[[[[]]]]]]]}",
                       NULL, err, &out),
                   0);
  core_buf_free(&out);
}
END_TEST

START_TEST(last_duplicate_key_wins) {
  core_buf_t out;
  char err[256];
  core_buf_init(&out);
  ck_assert_int_eq(run("{\"orders\":[" ORDER(1, ",\"id\":77") "]}", NULL, err, &out), 0);
  ck_assert_ptr_nonnull(strstr(out.data, "\"orders\":[{\"id\":77,"));
  core_buf_free(&out);
}
END_TEST

/* The parser is the only pass on a good document; on a refused one the
 * message is still that of the first check in the specification's order
 * (UTF-8, then depth, then grammar), wherever the parser stopped. */
START_TEST(refusals_keep_the_order_of_checks) {
  /* The grammar fails first, the UTF-8 later (in a string and outside). */
  fails_with("{\"orders\":[01],\"x\":\"\xff\"}", NULL, "body must be valid UTF-8");
  fails_with("{\"orders\":[01]}\xc3", NULL, "body must be valid UTF-8");
  /* Too deep first, the UTF-8 later. */
  fails_with("[[[[[[[[[[\"\xed\xa0\x80\"]]]]]]]]]]", NULL, "body must be valid UTF-8");
  /* The grammar fails first, the depth later, or in text after the value. */
  fails_with("{\"orders\":[01],\"x\":[[[[[[[[]]]]]]]]}", NULL,
             "body must NOT be nested deeper than 8 levels");
  fails_with("{\"orders\":[]} [[[[[[[[[", NULL,
             "body must NOT be nested deeper than 8 levels");
  fails_with("{\"orders\":[],\"x\":\"\\\"[[[[[[[[[[\"} x", NULL,
             "Body is not valid JSON");
  /* Ill-formed sequences the string scanner meets inside a value or a key. */
  fails_with("{\"orders\":[],\"x\":\"abcdefghijklmnopqrstuvwxyz\xc0\xaf\"}", NULL,
             "body must be valid UTF-8");
  fails_with("{\"orders\":[],\"\xf4\x90\x80\x80\":1}", NULL, "body must be valid UTF-8");
  fails_with("{\"orders\":[],\"x\":\"\xe2\x82\"}", NULL, "body must be valid UTF-8");
  /* Well-formed non-ASCII outside a string is a grammar error. */
  fails_with("{\"orders\":[]\xc2\xa0}", NULL, "Body is not valid JSON");
  /* A raw control character in a string: grammar, not UTF-8. */
  fails_with("{\"orders\":[],\"x\":\"a\x01\"}", NULL, "Body is not valid JSON");
}
END_TEST

/* Every number and string kind of the output at its extreme: ids of 16
 * digits (past 32 bits), the largest line, an ISO year before 1900 (a UTC
 * date of 1899), and each escape of JSON.stringify next to raw non-ASCII,
 * U+2028 and DEL, which are copied. */
START_TEST(output_extremes) {
  static const char doc[] =
      "{\"orders\":[{\"id\":9007199254740991,\"customer\":{\"id\":9007199254740991,"
      "\"name\":\"N\\u0001\\\"\\\\\\n\\t\\b\\f\\r\\u001f/\\u2028\\u00e9\\u007f\"},"
      "\"status\":\"paid\",\"placed_at\":\"1900-01-01T00:00:00+00:01\",\"lines\":[{"
      "\"sku\":"
      "\"s\",\"category\":\"c\",\"quantity\":1000,\"unit_price\":\"9999.9999\","
      "\"discount_pct\":\"0\"}],\"shipping\":\"99999.99\"}]}";
  static const char want[] =
      "{\"counts\":{\"orders_in\":1,\"orders_cancelled\":0,\"orders_empty\":0,"
      "\"orders_out\":1,\"lines_in\":1,\"lines_out\":1,\"customers\":1,\"units\":1000},"
      "\"totals\":{\"gross_cents\":999999990,\"discount_cents\":0,\"subtotal_cents\":"
      "999999990,\"shipping_cents\":9999999,\"revenue_cents\":1009999989},"
      "\"order_totals\":{\"mean_cents\":1009999989.00,\"stddev_cents\":0.00,"
      "\"p50_cents\":1009999989,\"p90_cents\":1009999989,\"p99_cents\":1009999989},"
      "\"revenue_by_weekday\":{\"Mon\":0,\"Tue\":0,\"Wed\":0,\"Thu\":0,\"Fri\":0,\"Sat\":"
      "0,"
      "\"Sun\":1009999989},\"revenue_by_category\":[{\"category\":\"c\",\"net_cents\":"
      "999999990,\"units\":1000,\"lines\":1}],\"customers\":[{\"id\":9007199254740991,"
      "\"name\":\"N\\u0001\\\"\\\\\\n\\t\\b\\f\\r\\u001f/\xe2\x80\xa8\xc3\xa9\x7f\","
      "\"email\":null,\"order_count\":1,\"total_cents\":1009999989,\"orders\":[{\"id\":"
      "9007199254740991,\"status\":\"paid\",\"placed_at\":\"1899-12-31T23:59:00.000Z\","
      "\"weekday\":\"Sun\",\"iso_week\":\"1899-W52\",\"lines\":[{\"sku\":\"s\","
      "\"category\":\"c\",\"quantity\":1000,\"gross_cents\":999999990,\"discount_cents\":"
      "0,"
      "\"net_cents\":999999990}],\"gross_cents\":999999990,\"discount_cents\":0,"
      "\"subtotal_cents\":999999990,\"shipping_cents\":9999999,\"total_cents\":"
      "1009999989}]}]}";
  core_buf_t out;
  char err[256];
  core_buf_init(&out);
  ck_assert_int_eq(run(doc, NULL, err, &out), 0);
  ck_assert_uint_eq(out.len, sizeof(want) - 1);
  ck_assert_msg(memcmp(out.data, want, out.len) == 0, "%s", out.data);
  ck_assert_int_eq(out.data[out.len], '\0');
  core_buf_free(&out);
}
END_TEST

/* Appending keeps what the buffer held, on success and on refusal. */
START_TEST(appends_to_out) {
  core_buf_t out;
  char err[256];
  core_buf_init(&out);
  core_buf_puts(&out, "keep");
  ck_assert_int_eq(run("{\"orders\":[1]}", NULL, err, &out), 400);
  ck_assert_str_eq(out.data, "keep");
  ck_assert_int_eq(run("{\"orders\":[]}", NULL, err, &out), 0);
  static const char head[] = "keep{\"counts\":{\"orders_in\":0,";
  ck_assert_int_eq(strncmp(out.data, head, sizeof(head) - 1), 0);
  core_buf_free(&out);
}
END_TEST

START_TEST(generator_is_deterministic) {
  core_buf_t a, b, c, out;
  char err[256];
  core_buf_init(&a);
  core_buf_init(&b);
  core_buf_init(&c);
  core_buf_init(&out);
  xform_generate(42, 100000, &a);
  xform_generate(42, 100000, &b);
  xform_generate(43, 100000, &c);
  ck_assert_uint_eq(a.len, b.len);
  ck_assert(memcmp(a.data, b.data, a.len) == 0);
  ck_assert(c.len != a.len || memcmp(a.data, c.data, a.len) != 0);
  ck_assert_uint_ge(a.len, 100000);
  ck_assert_uint_lt(a.len, 100000 + 4096);
  ck_assert_int_eq(xform_run(a.data, a.len, NULL, &out, err, sizeof(err)), 0);
  for (size_t size = 0; size < 3000; size += 250) {
    core_buf_reset(&a);
    core_buf_reset(&out);
    xform_generate(size, size, &a);
    ck_assert_msg(xform_run(a.data, a.len, NULL, &out, err, sizeof(err)) == 0, "%s", err);
  }
  core_buf_free(&a);
  core_buf_free(&b);
  core_buf_free(&c);
  core_buf_free(&out);
}
END_TEST

typedef struct job_s {
  const core_buf_t *in;
  core_buf_t out;
  int rc;
} job_t;

static void *thread_run(void *arg) {
  job_t *j = arg;
  char err[256];
  for (int i = 0; i < 5 && j->rc == 0; i++) {
    core_buf_reset(&j->out);
    j->rc = xform_run(j->in->data, j->in->len, NULL, &j->out, err, sizeof(err));
  }
  return NULL;
}

START_TEST(threads_agree) {
  core_buf_t in;
  core_buf_init(&in);
  xform_generate(7, 200000, &in);
  job_t jobs[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    jobs[i] = (job_t){.in = &in};
    core_buf_init(&jobs[i].out);
    pthread_create(&th[i], NULL, thread_run, &jobs[i]);
  }
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(jobs[i].rc, 0);
    ck_assert_uint_eq(jobs[i].out.len, jobs[0].out.len);
    ck_assert(memcmp(jobs[i].out.data, jobs[0].out.data, jobs[0].out.len) == 0);
  }
  for (int i = 0; i < 4; i++) core_buf_free(&jobs[i].out);
  core_buf_free(&in);
}
END_TEST

Suite *xform_transform_suite(void) {
  Suite *s = suite_create("xform_transform");
  TCase *tc = tcase_create("transform");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, time_parse_valid);
  tcase_add_test(tc, time_parse_invalid);
  tcase_add_test(tc, iso_weeks);
  tcase_add_test(tc, civil_round_trip);
  tcase_add_test(tc, decimals);
  tcase_add_test(tc, money_rounding);
  tcase_add_test(tc, statistics);
  tcase_add_test(tc, percentiles);
  tcase_add_test(tc, errors_name_the_field);
  tcase_add_test(tc, limits);
  tcase_add_test(tc, last_duplicate_key_wins);
  tcase_add_test(tc, refusals_keep_the_order_of_checks);
  tcase_add_test(tc, output_extremes);
  tcase_add_test(tc, appends_to_out);
  tcase_add_test(tc, generator_is_deterministic);
  tcase_add_test(tc, threads_agree);
  suite_add_tcase(s, tc);
  return s;
}
