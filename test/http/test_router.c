/* The router: literal and parameter segments, 404 versus 405 with Allow,
 * HEAD served by GET. */
#include <check.h>
#include <string.h>

#include "http/http.h"

static void h_a(http_req_t *r) {
  (void)r;
}
static void h_b(http_req_t *r) {
  (void)r;
}
static void h_c(http_req_t *r) {
  (void)r;
}

static http_router_t *make(void) {
  http_router_t *r = http_router_new();
  http_router_add(r, HTTP_M_GET, "/items", h_a);
  http_router_add(r, HTTP_M_POST, "/items", h_b);
  http_router_add(r, HTTP_M_GET, "/items/:id", h_c);
  http_router_add(r, HTTP_M_DELETE, "/items/:id", h_b);
  http_router_add(r, HTTP_M_GET, "/customers/:id/dashboard", h_a);
  return r;
}

static int match(http_router_t *r, http_method_t m, const char *path, http_match_t *out) {
  return http_router_match(r, m, path, strlen(path), out);
}

START_TEST(literal_and_params) {
  http_router_t *r = make();
  http_match_t m;
  ck_assert_int_eq(match(r, HTTP_M_GET, "/items", &m), HTTP_ROUTE_OK);
  ck_assert(m.cb == h_a);
  ck_assert_int_eq(match(r, HTTP_M_POST, "/items", &m), HTTP_ROUTE_OK);
  ck_assert(m.cb == h_b);
  ck_assert_int_eq(match(r, HTTP_M_GET, "/items/42", &m), HTTP_ROUTE_OK);
  ck_assert(m.cb == h_c);
  ck_assert_int_eq(m.nparams, 1);
  ck_assert_int_eq((int)m.params[0].n, 2);
  ck_assert(memcmp(m.params[0].p, "42", 2) == 0);
  ck_assert_str_eq(m.route, "/items/:id");
  ck_assert_int_eq(match(r, HTTP_M_GET, "/customers/7/dashboard", &m), HTTP_ROUTE_OK);
  ck_assert(memcmp(m.params[0].p, "7", 1) == 0);
  http_router_free(r);
}
END_TEST

START_TEST(not_found) {
  http_router_t *r = make();
  http_match_t m;
  const char *paths[] = {
      "/",     "/item",   "/items/1/2",        "/customers/7", "/customers//dashboard",
      "items", "/itemsx", "/items/1/dashboard"};
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
    ck_assert_msg(match(r, HTTP_M_GET, paths[i], &m) == HTTP_ROUTE_NOT_FOUND, "%s",
                  paths[i]);
  http_router_free(r);
}
END_TEST

START_TEST(method_not_allowed_lists_allow) {
  http_router_t *r = make();
  http_match_t m;
  ck_assert_int_eq(match(r, HTTP_M_PUT, "/items", &m), HTTP_ROUTE_BAD_METHOD);
  ck_assert_str_eq(m.allow, "GET, HEAD, POST");
  ck_assert_int_eq(match(r, HTTP_M_PATCH, "/items/3", &m), HTTP_ROUTE_BAD_METHOD);
  ck_assert_str_eq(m.allow, "GET, HEAD, DELETE");
  http_router_free(r);
}
END_TEST

START_TEST(head_uses_get) {
  http_router_t *r = make();
  http_match_t m;
  ck_assert_int_eq(match(r, HTTP_M_HEAD, "/items/9", &m), HTTP_ROUTE_OK);
  ck_assert(m.cb == h_c);
  http_router_free(r);
}
END_TEST

/* Fastify's default (ignoreTrailingSlash: false): "/items/" is not
 * "/items". */
START_TEST(trailing_slash_is_another_route) {
  http_router_t *r = make();
  http_match_t m;
  ck_assert_int_eq(match(r, HTTP_M_GET, "/items/", &m), HTTP_ROUTE_NOT_FOUND);
  ck_assert_int_eq(match(r, HTTP_M_GET, "/customers/1/dashboard/", &m),
                   HTTP_ROUTE_NOT_FOUND);
  http_router_free(r);
}
END_TEST

Suite *http_router_suite(void) {
  Suite *s = suite_create("http_router");
  TCase *tc = tcase_create("match");
  tcase_add_test(tc, literal_and_params);
  tcase_add_test(tc, not_found);
  tcase_add_test(tc, method_not_allowed_lists_allow);
  tcase_add_test(tc, head_uses_get);
  tcase_add_test(tc, trailing_slash_is_another_route);
  suite_add_tcase(s, tc);
  return s;
}
