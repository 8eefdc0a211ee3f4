/* W1 validation: Fastify/Ajv-shaped messages that name the field. */
#include <check.h>
#include <string.h>

#include "api/api.h"

/* The answer's status for a validation result (0 when valid). */
static int http_of(int rc) {
  return rc == 0 ? 0 : api_http_status(rc);
}

static const http_span_t JSON_CT = {"application/json", 16};

typedef struct {
  const char *body;
  int partial;
  int status;
  const char *msg; /* a substring the message must contain */
} vcase_t;

static const vcase_t cases[] = {
    {"{\"name\":\"a\",\"price_cents\":1}", 0, 0, NULL},
    {"{\"name\":\"a\",\"price_cents\":1,\"tags\":[\"x\",\"y\"],\"description\":null}", 0,
     0, NULL},
    {"{\"name\":\"a\",\"price_cents\":1e3}", 0, 0, NULL},
    {"{\"name\":\"a\",\"price_cents\":1,\"extra\":true}", 0, 0, NULL},
    {"{}", 1, 0, NULL},
    {"{\"price_cents\":1}", 0, 400, "required property 'name'"},
    {"{\"name\":\"a\"}", 0, 400, "required property 'price_cents'"},
    {"{\"name\":\"\",\"price_cents\":1}", 0, 400, "body/name must NOT have fewer than 1"},
    {"{\"name\":5,\"price_cents\":1}", 0, 400, "body/name must be string"},
    {"{\"name\":\"a\",\"price_cents\":-1}", 0, 400, "body/price_cents must be >= 0"},
    {"{\"name\":\"a\",\"price_cents\":1000000001}", 0, 400,
     "body/price_cents must be <= 1000000000"},
    {"{\"name\":\"a\",\"price_cents\":1.5}", 0, 400, "body/price_cents must be integer"},
    {"{\"name\":\"a\",\"price_cents\":\"12\"}", 0, 400,
     "body/price_cents must be integer"},
    {"{\"name\":\"a\",\"price_cents\":1,\"tags\":\"x\"}", 0, 400,
     "body/tags must be array"},
    {"{\"name\":\"a\",\"price_cents\":1,\"tags\":[\"\"]}", 0, 400,
     "body/tags/0 must NOT have fewer"},
    {"{\"name\":\"a\",\"price_cents\":1,\"tags\":[\"a\",3]}", 0, 400,
     "body/tags/1 must be string"},
    {"{\"name\":\"a\",\"price_cents\":1,\"description\":3}", 0, 400,
     "body/description must be string,null"},
    {"{\"name\":\"a\\u0000b\",\"price_cents\":1}", 0, 400, "NUL"},
    {"{\"name\":\"\xed\xa0\x80\",\"price_cents\":1}", 0, 400,
     "body/name must be valid UTF-8"},
    {"[]", 0, 400, "body must be object"},
    {"null", 0, 400, "body must be object"},
    {"{\"name\":", 0, 400, "not valid JSON"},
    {"{\"name\":\"a\",\"price_cents\":1} x", 0, 400, "not valid JSON"},
    {"{\"price_cents\":-5}", 1, 400, "body/price_cents must be >= 0"},
    {"{\"name\":null}", 1, 400, "body/name must be string"},
    /* What JSON.parse refuses and cJSON alone would accept (201 before). */
    {"{\"name\":\"a\",\"price_cents\":01}", 0, 400, "Body is not valid JSON"},
    {"{\"name\":\"a\",\"price_cents\":1.}", 0, 400, "Body is not valid JSON"},
    {"{\"name\":\"a\",\"price_cents\":.5}", 0, 400, "Body is not valid JSON"},
    {"{\"name\":\"a\",\"price_cents\":+1}", 0, 400, "Body is not valid JSON"},
    {"{\"name\":\"a\",\"price_cents\":1,}", 0, 400, "Body is not valid JSON"},
    {"{\"name\":'a',\"price_cents\":1}", 0, 400, "Body is not valid JSON"},
    {"{\"name\":\"a\",\"price_cents\":1e3}", 0, 0, NULL},
    {"{\"name\":\"a\",\"price_cents\":1000.0}", 0, 0, NULL},
    /* Duplicate keys: the last wins, as JSON.parse. */
    {"{\"name\":\"a\",\"price_cents\":1,\"price_cents\":-1}", 0, 400,
     "body/price_cents must be >= 0"},
    {"{\"name\":1,\"name\":\"a\",\"price_cents\":1}", 0, 0, NULL},
};

START_TEST(table) {
  const vcase_t *c = &cases[_i];
  core_arena_t arena;
  core_arena_init(&arena, 1024);
  api_item_in_t in;
  char msg[256] = "";
  const char *code = NULL;
  int st = http_of(api_item_validate(&JSON_CT, c->body, strlen(c->body), c->partial,
                                     &arena, &in, msg, sizeof(msg), &code));
  ck_assert_msg(st == c->status, "%s: status %d, want %d (%s)", c->body, st, c->status,
                msg);
  if (c->msg)
    ck_assert_msg(strstr(msg, c->msg) != NULL, "%s: message '%s'", c->body, msg);
  /* Fastify's code: FST_ERR_VALIDATION for schema rules, none when the
   * body is not JSON at all. */
  if (st == 400) {
    int syntax = strstr(msg, "not valid JSON") || strstr(msg, "NUL");
    ck_assert_msg(
        syntax ? code == NULL : (code && strcmp(code, "FST_ERR_VALIDATION") == 0),
        "%s: code %s", c->body, code ? code : "(none)");
  }
  core_arena_free(&arena);
}
END_TEST

START_TEST(lengths_count_characters) {
  core_arena_t arena;
  core_arena_init(&arena, 1024);
  api_item_in_t in;
  char msg[256], body[2048];
  const char *code;
  char name[601] = "";
  for (int i = 0; i < 200; i++) strcat(name, "é"); /* 200 characters, 400 bytes */
  snprintf(body, sizeof(body), "{\"name\":\"%s\",\"price_cents\":0}", name);
  ck_assert_int_eq(http_of(api_item_validate(&JSON_CT, body, strlen(body), 0, &arena, &in,
                                             msg, 256, &code)),
                   0);
  ck_assert_str_eq(in.name, name);
  ck_assert_str_eq(in.tags, "{}");
  strcat(name, "x");
  snprintf(body, sizeof(body), "{\"name\":\"%s\",\"price_cents\":0}", name);
  ck_assert_int_eq(http_of(api_item_validate(&JSON_CT, body, strlen(body), 0, &arena, &in,
                                             msg, 256, &code)),
                   400);
  ck_assert_ptr_nonnull(strstr(msg, "more than 200"));
  core_arena_free(&arena);
}
END_TEST

START_TEST(media_types) {
  core_arena_t arena;
  core_arena_init(&arena, 1024);
  api_item_in_t in;
  char msg[256];
  const char *code;
  const char *b = "{\"name\":\"a\",\"price_cents\":1}";
  http_span_t text = {"text/plain", 10}, none = {"", 0};
  http_span_t charset = {"application/json; charset=utf-8", 31},
              jsonx = {"application/jsonx", 17};
  ck_assert_int_eq(
      http_of(api_item_validate(&text, b, strlen(b), 0, &arena, &in, msg, 256, &code)),
      415);
  ck_assert_str_eq(code, "FST_ERR_CTP_INVALID_MEDIA_TYPE");
  ck_assert_int_eq(
      http_of(api_item_validate(&none, b, strlen(b), 0, &arena, &in, msg, 256, &code)),
      415);
  ck_assert_int_eq(
      http_of(api_item_validate(&jsonx, b, strlen(b), 0, &arena, &in, msg, 256, &code)),
      415);
  ck_assert_int_eq(
      http_of(api_item_validate(&charset, b, strlen(b), 0, &arena, &in, msg, 256, &code)),
      0);
  ck_assert_int_eq(
      http_of(api_item_validate(&JSON_CT, "", 0, 0, &arena, &in, msg, 256, &code)), 400);
  ck_assert_str_eq(code, "FST_ERR_CTP_EMPTY_JSON_BODY");
  core_arena_free(&arena);
}
END_TEST

START_TEST(tags_literal) {
  core_arena_t arena;
  core_arena_init(&arena, 1024);
  api_item_in_t in;
  char msg[256];
  const char *code;
  const char *b =
      "{\"name\":\"a\",\"price_cents\":1,\"tags\":[\"x "
      "y\",\"q\\\"\\\\\",\"NULL\",\"{,}\"]}";
  ck_assert_int_eq(
      http_of(api_item_validate(&JSON_CT, b, strlen(b), 0, &arena, &in, msg, 256, &code)),
      0);
  ck_assert_str_eq(in.tags, "{\"x y\",\"q\\\"\\\\\",\"NULL\",\"{,}\"}");
  core_arena_free(&arena);
}
END_TEST

START_TEST(ids) {
  int64_t v;
  ck_assert_int_eq(api_parse_id("1", 1, &v), 0);
  ck_assert_int_eq((int)v, 1);
  ck_assert_int_eq(api_parse_id("9223372036854775807", 19, &v), 0);
  ck_assert(v == INT64_MAX);
  const char *bad[] = {
      "0", "-1", "abc", "1.5", "9223372036854775808", "99999999999999999999",
      "",  "+1", "1 ",  "0x10"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ck_assert_msg(api_parse_id(bad[i], strlen(bad[i]), &v) != 0, "%s", bad[i]);
}
END_TEST

Suite *api_validate_suite(void) {
  Suite *s = suite_create("api_validate");
  TCase *tc = tcase_create("items");
  tcase_add_loop_test(tc, table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
  tcase_add_test(tc, lengths_count_characters);
  tcase_add_test(tc, media_types);
  tcase_add_test(tc, ids);
  tcase_add_test(tc, tags_literal);
  suite_add_tcase(s, tc);
  return s;
}
