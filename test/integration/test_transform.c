/* W3 through the live server: every pair of test/conformance/transform/ in
 * both modes (?mode=loop on the event loop, ?mode=pool on the thread pool),
 * the server's default mode, pipelined pool requests answered in order, and
 * the refusals: 415 (not JSON), 400 (bad mode, invalid input), 413 (over the
 * body limit). */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static th_server_t srv;

static void up(void) {
  static const char *const args[] = {"--workers", "0", "--transform", "loop", NULL};
  th_server_start(&srv, args);
}
static void down(void) {
  th_server_stop(&srv, 5000);
}

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  TH_ASSERT(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)len + 1);
  TH_ASSERT(fread(p, 1, (size_t)len, f) == (size_t)len, "cannot read %s", path);
  fclose(f);
  p[len] = '\0';
  *n = (size_t)len;
  return p;
}

static const char *pairs_dir(void) {
  static char dir[1024];
  const char *src = getenv("LOOPLAB_SOURCE_DIR");
  snprintf(dir, sizeof(dir), "%s/test/conformance/transform", src ? src : ".");
  return dir;
}

/* Sends one pair and compares status and body byte for byte. */
static void check_pair(const char *name, const char *query) {
  char path[1200], target[64];
  size_t in_len, want_len, base = strlen(name) - strlen(".input.json");
  snprintf(path, sizeof(path), "%s/%s", pairs_dir(), name);
  char *in = slurp(path, &in_len);
  snprintf(path, sizeof(path), "%s/%.*s.expected.json", pairs_dir(), (int)base, name);
  char *want = slurp(path, &want_len);
  int status = 200;
  sscanf(want, "{\"statusCode\":%d,", &status);
  snprintf(target, sizeof(target), "/transform%s", query);
  th_response_t r;
  th_conn_t *c = th_conn_open(srv.port);
  int rc = th_conn_request(c, "POST", target, NULL, in, &r, th_scale(20000));
  th_conn_close(c);
  TH_ASSERT(rc == TH_OK, "%s%s: no response (%d)", name, query, rc);
  TH_ASSERT(r.status == status, "%s%s: status %d, want %d: %.200s", name, query, r.status,
            status, r.body);
  size_t i = 0;
  while (i < r.body_len && i < want_len && r.body[i] == want[i]) i++;
  TH_ASSERT(r.body_len == want_len && i == want_len,
            "%s%s: body differs at byte %zu: got \"%.60s\" want \"%.60s\"", name, query,
            i, r.body + i, want + i);
  th_response_free(&r);
  free(in);
  free(want);
}

static int all_pairs(const char *query) {
  DIR *d = opendir(pairs_dir());
  TH_ASSERT(d != NULL, "no %s", pairs_dir());
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t l = strlen(e->d_name);
    if (l > 11 && strcmp(e->d_name + l - 11, ".input.json") == 0) {
      check_pair(e->d_name, query);
      n++;
    }
  }
  closedir(d);
  return n;
}

START_TEST(conformance_loop) {
  ck_assert_int_ge(all_pairs("?mode=loop"), 8);
}
END_TEST

START_TEST(conformance_pool) {
  ck_assert_int_ge(all_pairs("?mode=pool"), 8);
}
END_TEST

START_TEST(default_mode) {
  check_pair("06-rounding.input.json", "");
  check_pair("07-error-2025-02-29.input.json", "");
}
END_TEST

/* Three pool requests pipelined on one connection come back in order. */
START_TEST(pool_pipelined_in_order) {
  static const char *const names[] = {"13-gen-100k", "01-no-orders", "12-gen-20k"};
  char *reqs[3], path[1200];
  size_t lens[3];
  th_conn_t *c = th_conn_open(srv.port);
  for (int i = 0; i < 3; i++) {
    size_t n;
    snprintf(path, sizeof(path), "%s/%s.input.json", pairs_dir(), names[i]);
    char *in = slurp(path, &n);
    lens[i] = th_format_request(&reqs[i], "POST", "/transform?mode=pool", NULL, in);
    free(in);
  }
  for (int i = 0; i < 3; i++) TH_ASSERT(th_send(c, reqs[i], lens[i]) == 0, "send");
  for (int i = 0; i < 3; i++) {
    th_response_t r;
    size_t wn;
    snprintf(path, sizeof(path), "%s/%s.expected.json", pairs_dir(), names[i]);
    char *want = slurp(path, &wn);
    TH_ASSERT(th_read_response(c, &r, th_scale(20000)) == TH_OK, "response %d", i);
    TH_ASSERT(r.status == 200 && r.body_len == wn && memcmp(r.body, want, wn) == 0,
              "pipelined response %d (%s) is wrong: %d %.100s", i, names[i], r.status,
              r.body);
    th_response_free(&r);
    free(want);
    free(reqs[i]);
  }
  th_conn_close(c);
}
END_TEST

START_TEST(refusals) {
  th_response_t r;
  th_request(srv.port, "POST", "/transform", "Content-Type: text/plain\r\n",
             "{\"orders\":[]}", &r);
  th_assert_error_shape(&r, 415, "Unsupported Media Type", "text/plain");
  th_response_free(&r);
  th_request(srv.port, "POST", "/transform?mode=fast", NULL, "{\"orders\":[]}", &r);
  th_assert_error_shape(&r, 400, "querystring/mode must be one of loop, pool",
                        "bad mode");
  th_response_free(&r);
  static const char *const modes[] = {"?mode=loop", "?mode=pool"};
  for (int i = 0; i < 2; i++) {
    char target[64];
    snprintf(target, sizeof(target), "/transform%s", modes[i]);
    th_request(srv.port, "POST", target, NULL, "{\"orders\":[", &r);
    th_assert_error_shape(&r, 400, "Body is not valid JSON", "invalid JSON");
    th_response_free(&r);
    th_request(srv.port, "POST", target, NULL, "{\"orders\":[{\"id\":1}]}", &r);
    th_assert_error_shape(&r, 400, "body/orders/0 must have required property 'customer'",
                          "missing field");
    th_response_free(&r);
  }
  /* Over the 1 MiB default body limit: refused from the headers alone. */
  th_conn_t *c = th_conn_open(srv.port);
  th_sends(c,
           "POST /transform HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: 2097152\r\n\r\n");
  TH_ASSERT(th_read_response(c, &r, th_scale(5000)) == TH_OK, "no 413");
  th_assert_error_shape(&r, 413, NULL, "body over the limit");
  th_response_free(&r);
  th_conn_close(c);
  /* The server still answers. */
  th_request(srv.port, "GET", "/livez", NULL, NULL, &r);
  TH_ASSERT(r.status == 200, "livez after the refusals: %d", r.status);
  th_response_free(&r);
}
END_TEST

int main(void) {
  Suite *s = suite_create("integration_transform");
  TCase *tc = tcase_create("transform");
  tcase_add_unchecked_fixture(tc, up, down);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, conformance_loop);
  tcase_add_test(tc, conformance_pool);
  tcase_add_test(tc, default_mode);
  tcase_add_test(tc, pool_pipelined_in_order);
  tcase_add_test(tc, refusals);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  if (!th_server_was_clean(&srv, "--workers 0 server"))
    failed++;
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
