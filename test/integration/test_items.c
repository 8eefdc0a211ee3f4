/* W1 CRUD (SPEC section 4, issue 2 part 5): every /items route with good
 * and bad input, against --workers 0 and against a cluster (--workers 2).
 * A write answered 2xx must be in the database; a request answered 4xx
 * must have changed nothing. */
#include <check.h>
#include <cjson/cJSON.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static th_server_t srv_single, srv_cluster;
static th_server_t *srv;

static void single_up(void) {
  static const char *const args[] = {"--workers", "0", NULL};
  th_server_start(&srv_single, args);
  srv = &srv_single;
}
static void single_down(void) {
  th_server_stop(&srv_single, 5000);
}
static void cluster_up(void) {
  static const char *const args[] = {"--workers", "2", "--pool", "4", NULL};
  th_server_start(&srv_cluster, args);
  srv = &srv_cluster;
}
static void cluster_down(void) {
  th_server_stop(&srv_cluster, 5000);
}

static const char *db(void) {
  return th_pg_conninfo();
}

static int64_t item_rows(void) {
  return th_sql_int(db(), "SELECT count(*) FROM items");
}

/* ---- helpers ---- */

static cJSON *json_body(const th_response_t *r, const char *what) {
  const char *ct = th_header(r, "content-type");
  TH_ASSERT(ct != NULL && strncasecmp(ct, "application/json", 16) == 0,
            "%s: content-type %s, want application/json", what, ct ? ct : "(none)");
  cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
  TH_ASSERT(j != NULL, "%s: body is not JSON: %.300s", what, r->body);
  return j;
}

static int is_rfc3339_ms_z(const char *s) {
  regex_t re;
  regcomp(&re,
          "^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z$",
          REG_EXTENDED | REG_NOSUB);
  int ok = regexec(&re, s, 0, NULL, 0) == 0;
  regfree(&re);
  return ok;
}

/* Asserts j is a complete item; returns its id. */
static long long assert_item(const cJSON *j, const char *what) {
  static const char *const keys[] = {"id",   "name",       "description", "price_cents",
                                     "tags", "created_at", "updated_at"};
  TH_ASSERT(cJSON_IsObject(j), "%s: item is not an object", what);
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
    TH_ASSERT(cJSON_HasObjectItem(j, keys[i]), "%s: item has no \"%s\"", what, keys[i]);
  cJSON *id = cJSON_GetObjectItem(j, "id");
  TH_ASSERT(cJSON_IsNumber(id) && id->valuedouble >= 1, "%s: id is not a positive number",
            what);
  TH_ASSERT(cJSON_IsString(cJSON_GetObjectItem(j, "name")), "%s: name is not a string",
            what);
  cJSON *d = cJSON_GetObjectItem(j, "description");
  TH_ASSERT(cJSON_IsString(d) || cJSON_IsNull(d),
            "%s: description neither string nor null", what);
  TH_ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(j, "price_cents")), "%s: price_cents",
            what);
  cJSON *tags = cJSON_GetObjectItem(j, "tags");
  TH_ASSERT(cJSON_IsArray(tags), "%s: tags is not an array", what);
  for (cJSON *t = tags->child; t != NULL; t = t->next)
    TH_ASSERT(cJSON_IsString(t), "%s: a tag is not a string", what);
  const char *ts[] = {"created_at", "updated_at"};
  for (int i = 0; i < 2; i++) {
    cJSON *v = cJSON_GetObjectItem(j, ts[i]);
    TH_ASSERT(cJSON_IsString(v) && is_rfc3339_ms_z(v->valuestring),
              "%s: %s is not RFC 3339 with milliseconds and Z: %s", what, ts[i],
              cJSON_IsString(v) ? v->valuestring : "(not a string)");
  }
  return (long long)id->valuedouble;
}

static const char *jstr(const cJSON *j, const char *k) {
  cJSON *v = cJSON_GetObjectItem(j, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}
static double jnum(const cJSON *j, const char *k) {
  cJSON *v = cJSON_GetObjectItem(j, k);
  return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* POST /items with body; asserts 201 and Location; returns the id. */
static long long create(const char *body, const char *what) {
  th_response_t r;
  th_request(srv->port, "POST", "/items", NULL, body, &r);
  TH_ASSERT(r.status == 201, "%s: POST /items answered %d: %.300s", what, r.status,
            r.body);
  cJSON *j = json_body(&r, what);
  long long id = assert_item(j, what);
  char want[64];
  snprintf(want, sizeof(want), "/items/%lld", id);
  const char *loc = th_header(&r, "location");
  TH_ASSERT(loc != NULL && strcmp(loc, want) == 0, "%s: Location %s, want %s", what,
            loc ? loc : "(none)", want);
  cJSON_Delete(j);
  th_response_free(&r);
  return id;
}

static void path_of(char *buf, size_t n, long long id) {
  snprintf(buf, n, "/items/%lld", id);
}

/* ---- create and read ---- */

START_TEST(create_full) {
  long long before = item_rows();
  th_response_t r;
  const char *body =
      "{\"name\":\"it-create \\\"q\\\" caf\\u00e9 \xe2\x98\x83\",\"description\":\"d1\","
      "\"price_cents\":1999,\"tags\":[\"a\",\"b\"]}";
  th_request(srv->port, "POST", "/items", NULL, body, &r);
  TH_ASSERT(r.status == 201, "create: %d %.300s", r.status, r.body);
  cJSON *j = json_body(&r, "create");
  long long id = assert_item(j, "create");
  TH_ASSERT(id > 5000, "create: new id %lld is not after the seeded ids", id);
  TH_ASSERT(strcmp(jstr(j, "name"), "it-create \"q\" caf\xc3\xa9 \xe2\x98\x83") == 0,
            "create: name came back as %s", jstr(j, "name"));
  TH_ASSERT(jstr(j, "description") && strcmp(jstr(j, "description"), "d1") == 0,
            "description");
  TH_ASSERT(jnum(j, "price_cents") == 1999, "price_cents");
  cJSON *tags = cJSON_GetObjectItem(j, "tags");
  TH_ASSERT(cJSON_GetArraySize(tags) == 2 &&
                strcmp(cJSON_GetArrayItem(tags, 0)->valuestring, "a") == 0 &&
                strcmp(cJSON_GetArrayItem(tags, 1)->valuestring, "b") == 0,
            "create: tags came back wrong");
  TH_ASSERT(strcmp(jstr(j, "created_at"), jstr(j, "updated_at")) == 0,
            "create: created_at %s != updated_at %s", jstr(j, "created_at"),
            jstr(j, "updated_at"));
  char want[64], sql[256], got[512];
  path_of(want, sizeof(want), id);
  TH_ASSERT(th_header(&r, "location") && strcmp(th_header(&r, "location"), want) == 0,
            "create: Location %s, want %s", th_header(&r, "location"), want);
  th_response_free(&r);

  /* In the database, exactly as answered. */
  TH_ASSERT(item_rows() == before + 1, "create: row count did not grow by one");
  snprintf(sql, sizeof(sql),
           "SELECT name || '|' || description || '|' || price_cents || '|' || tags::text "
           "|| '|' ||"
           " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
           " FROM items WHERE id = %lld",
           id);
  TH_ASSERT(th_sql(db(), sql, got, sizeof(got)) == 1,
            "create: row %lld not in the database", id);
  char expect[512];
  snprintf(expect, sizeof(expect),
           "it-create \"q\" caf\xc3\xa9 \xe2\x98\x83|d1|1999|{a,b}|%s",
           jstr(j, "created_at"));
  TH_ASSERT(strcmp(got, expect) == 0, "create: database holds %s, want %s", got, expect);

  /* Read it back. */
  th_request(srv->port, "GET", want, NULL, NULL, &r);
  TH_ASSERT(r.status == 200, "read: %d", r.status);
  cJSON *k = json_body(&r, "read");
  assert_item(k, "read");
  char *a = cJSON_PrintUnformatted(j), *b = cJSON_PrintUnformatted(k);
  TH_ASSERT(strcmp(a, b) == 0, "read differs from create:\n%s\n%s", a, b);
  free(a);
  free(b);
  cJSON_Delete(j);
  cJSON_Delete(k);
  th_response_free(&r);
}
END_TEST

START_TEST(create_defaults_and_extras) {
  th_response_t r;
  th_request(srv->port, "POST", "/items", NULL,
             "{\"name\":\"it-defaults\",\"price_cents\":0,\"extra\":{\"x\":1},\"id\":7}",
             &r);
  TH_ASSERT(r.status == 201, "defaults: %d %.300s", r.status, r.body);
  cJSON *j = json_body(&r, "defaults");
  long long id = assert_item(j, "defaults");
  TH_ASSERT(id != 7, "defaults: the body's id was used");
  TH_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(j, "description")),
            "defaults: description not null");
  TH_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "tags")) == 0,
            "defaults: tags not []");
  TH_ASSERT(!cJSON_HasObjectItem(j, "extra"), "defaults: unknown property echoed back");
  TH_ASSERT(jnum(j, "price_cents") == 0, "defaults: price_cents 0");
  cJSON_Delete(j);
  th_response_free(&r);

  /* charset parameter, and boundaries that must be accepted. */
  th_request(
      srv->port, "POST", "/items", "Content-Type: application/json; charset=utf-8\r\n",
      "{\"name\":\"it-charset\",\"price_cents\":1000000000,\"description\":null}", &r);
  TH_ASSERT(r.status == 201, "charset=utf-8: %d %.200s", r.status, r.body);
  th_response_free(&r);
  th_request(srv->port, "POST", "/items", "Content-Type: Application/JSON\r\n",
             "{\"name\":\"it-case\",\"price_cents\":1}", &r);
  TH_ASSERT(r.status == 201, "Content-Type in other case: %d %.200s", r.status, r.body);
  th_response_free(&r);
}
END_TEST

/* Lengths are counted in characters, not bytes; the boundaries pass. */
START_TEST(create_boundaries) {
  char name[2048], desc[4096], body[8192], tags[2048];
  int n = 0;
  for (int i = 0; i < 200; i++) n += snprintf(name + n, sizeof(name) - n, "\xc3\xa9");
  snprintf(body, sizeof(body), "{\"name\":\"%s\",\"price_cents\":1}", name);
  long long id = create(body, "200 two-byte characters");
  char sql[128];
  snprintf(sql, sizeof(sql), "SELECT char_length(name) FROM items WHERE id = %lld", id);
  TH_ASSERT(th_sql_int(db(), sql) == 200, "200 characters: stored length differs");

  memset(desc, 'd', 2000);
  desc[2000] = '\0';
  char name200[201];
  memset(name200, 'n', 200);
  name200[200] = '\0';
  n = 0;
  for (int t = 0; t < 16; t++)
    n += snprintf(tags + n, sizeof(tags) - n, "%s\"%02dxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
                  t ? "," : "", t);
  snprintf(body, sizeof(body),
           "{\"name\":\"%s\",\"description\":\"%s\",\"price_cents\":0,\"tags\":[%s]}",
           name200, desc, tags);
  create(body, "name 200, description 2000, 16 tags of 32");
}
END_TEST

START_TEST(read_seeded_and_missing) {
  th_response_t r;
  th_request(srv->port, "GET", "/items/1", NULL, NULL, &r);
  TH_ASSERT(r.status == 200, "GET /items/1: %d", r.status);
  cJSON *j = json_body(&r, "GET /items/1");
  TH_ASSERT(assert_item(j, "GET /items/1") == 1, "GET /items/1: another id");
  char name[512];
  th_sql(db(), "SELECT name FROM items WHERE id = 1", name, sizeof(name));
  TH_ASSERT(strcmp(jstr(j, "name"), name) == 0, "GET /items/1: name %s, database %s",
            jstr(j, "name"), name);
  cJSON_Delete(j);
  th_response_free(&r);

  th_request(srv->port, "GET", "/items/9223372036854775807", NULL, NULL, &r);
  TH_ASSERT(r.status == 404, "max int64 id: %d, want 404", r.status);
  th_assert_error_shape(&r, 404, "9223372036854775807", "GET missing item");
  th_response_free(&r);
}
END_TEST

/* Ids that are not positive 64-bit integers: 400 naming the id, for every
 * method that takes one. */
static const char *const bad_ids[] = {
    "0",    "-1",  "abc",  "1.5", "99999999999999999999", "9223372036854775808", "1e3",
    "0x10", "%20", "1abc", "-0"};
#define NBAD_IDS ((int)(sizeof(bad_ids) / sizeof(bad_ids[0])))
static const char *const id_methods[] = {"GET", "PUT", "PATCH", "DELETE"};

/* Case i: bad_ids[i % NBAD_IDS] with id_methods[i / NBAD_IDS]. */
START_TEST(bad_ids_400) {
  const char *idv = bad_ids[_i % NBAD_IDS];
  const char *m = id_methods[_i / NBAD_IDS];
  char path[128], what[160];
  snprintf(path, sizeof(path), "/items/%s", idv);
  snprintf(what, sizeof(what), "%s %s", m, path);
  long long before = item_rows();
  th_response_t r;
  const char *body = strcmp(m, "GET") == 0 || strcmp(m, "DELETE") == 0
                         ? NULL
                         : "{\"name\":\"it-badid\",\"price_cents\":1}";
  th_request(srv->port, m, path, NULL, body, &r);
  TH_ASSERT(r.status == 400, "%s: %d, want 400: %.200s", what, r.status, r.body);
  th_assert_error_shape(&r, 400, "id", what);
  th_response_free(&r);
  TH_ASSERT(item_rows() == before, "%s: the row count changed", what);
}
END_TEST

/* ---- replace, patch, delete ---- */

START_TEST(replace_put) {
  long long id = create(
      "{\"name\":\"it-put\",\"description\":\"old\",\"price_cents\":5,"
      "\"tags\":[\"old\"]}",
      "put: create");
  char path[64], sql[256], got[512];
  path_of(path, sizeof(path), id);
  th_response_t r;
  th_request(srv->port, "GET", path, NULL, NULL, &r);
  cJSON *orig = json_body(&r, "put: read");
  th_response_free(&r);
  th_sleep_ms(5);
  th_request(srv->port, "PUT", path, NULL, "{\"name\":\"it-put-2\",\"price_cents\":6}",
             &r);
  TH_ASSERT(r.status == 200, "PUT: %d %.200s", r.status, r.body);
  cJSON *j = json_body(&r, "PUT");
  TH_ASSERT(assert_item(j, "PUT") == id, "PUT: another id");
  TH_ASSERT(strcmp(jstr(j, "name"), "it-put-2") == 0, "PUT: name");
  TH_ASSERT(jnum(j, "price_cents") == 6, "PUT: price");
  TH_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(j, "description")),
            "PUT replaces: an omitted description must become null");
  TH_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "tags")) == 0,
            "PUT replaces: omitted tags must become []");
  TH_ASSERT(strcmp(jstr(j, "created_at"), jstr(orig, "created_at")) == 0,
            "PUT: created_at changed");
  TH_ASSERT(strcmp(jstr(j, "updated_at"), jstr(orig, "updated_at")) > 0,
            "PUT: updated_at %s not after %s", jstr(j, "updated_at"),
            jstr(orig, "updated_at"));
  th_response_free(&r);
  snprintf(sql, sizeof(sql),
           "SELECT name || '|' || coalesce(description, 'NULL') || '|' || price_cents || "
           "'|' ||"
           " tags::text FROM items WHERE id = %lld",
           id);
  th_sql(db(), sql, got, sizeof(got));
  TH_ASSERT(strcmp(got, "it-put-2|NULL|6|{}") == 0, "PUT: database holds %s", got);
  cJSON_Delete(j);
  cJSON_Delete(orig);

  th_request(srv->port, "PUT", "/items/9223372036854775807", NULL,
             "{\"name\":\"x\",\"price_cents\":1}", &r);
  TH_ASSERT(r.status == 404, "PUT missing: %d", r.status);
  th_assert_error_shape(&r, 404, NULL, "PUT missing");
  th_response_free(&r);
  TH_ASSERT(
      th_sql_int(db(), "SELECT count(*) FROM items WHERE id = 9223372036854775807") == 0,
      "PUT missing created the row (PUT is not an upsert here)");

  /* Replace requires the required fields. */
  th_request(srv->port, "PUT", path, NULL, "{\"name\":\"it-put-3\"}", &r);
  TH_ASSERT(r.status == 400, "PUT without price_cents: %d", r.status);
  th_assert_error_shape(&r, 400, "price_cents", "PUT without price_cents");
  th_response_free(&r);
}
END_TEST

START_TEST(patch_partial) {
  long long id = create(
      "{\"name\":\"it-patch\",\"description\":\"keep\",\"price_cents\":5,"
      "\"tags\":[\"t\"]}",
      "patch: create");
  char path[64], sql[256], got[512];
  path_of(path, sizeof(path), id);
  th_response_t r;
  th_request(srv->port, "PATCH", path, NULL, "{\"price_cents\":77}", &r);
  TH_ASSERT(r.status == 200, "PATCH: %d %.200s", r.status, r.body);
  cJSON *j = json_body(&r, "PATCH");
  assert_item(j, "PATCH");
  TH_ASSERT(strcmp(jstr(j, "name"), "it-patch") == 0, "PATCH changed the name");
  TH_ASSERT(jstr(j, "description") && strcmp(jstr(j, "description"), "keep") == 0,
            "PATCH changed the description");
  TH_ASSERT(jnum(j, "price_cents") == 77, "PATCH: price");
  TH_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "tags")) == 1,
            "PATCH changed the tags");
  cJSON_Delete(j);
  th_response_free(&r);

  th_request(srv->port, "PATCH", path, NULL,
             "{\"description\":null,\"tags\":[\"x\",\"y\"]}", &r);
  TH_ASSERT(r.status == 200, "PATCH description null: %d %.200s", r.status, r.body);
  th_response_free(&r);
  th_request(srv->port, "PATCH", path, NULL, "{}", &r);
  TH_ASSERT(r.status == 200, "PATCH {}: %d %.200s", r.status, r.body);
  th_response_free(&r);
  snprintf(sql, sizeof(sql),
           "SELECT name || '|' || coalesce(description, 'NULL') || '|' || price_cents || "
           "'|' ||"
           " tags::text FROM items WHERE id = %lld",
           id);
  th_sql(db(), sql, got, sizeof(got));
  TH_ASSERT(strcmp(got, "it-patch|NULL|77|{x,y}") == 0, "PATCH: database holds %s", got);

  th_request(srv->port, "PATCH", "/items/9223372036854775807", NULL,
             "{\"price_cents\":1}", &r);
  TH_ASSERT(r.status == 404, "PATCH missing: %d", r.status);
  th_assert_error_shape(&r, 404, NULL, "PATCH missing");
  th_response_free(&r);
}
END_TEST

START_TEST(delete_then_gone) {
  long long id = create("{\"name\":\"it-delete\",\"price_cents\":5}", "delete: create");
  char path[64], sql[128];
  path_of(path, sizeof(path), id);
  th_response_t r;
  th_request(srv->port, "DELETE", path, NULL, NULL, &r);
  TH_ASSERT(r.status == 204, "DELETE: %d %.200s", r.status, r.body);
  TH_ASSERT(r.body_len == 0, "DELETE 204 with a body");
  th_response_free(&r);
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM items WHERE id = %lld", id);
  TH_ASSERT(th_sql_int(db(), sql) == 0, "DELETE: row still in the database");
  th_request(srv->port, "GET", path, NULL, NULL, &r);
  TH_ASSERT(r.status == 404, "GET after DELETE: %d", r.status);
  th_assert_error_shape(&r, 404, NULL, "GET after DELETE");
  th_response_free(&r);
  th_request(srv->port, "DELETE", path, NULL, NULL, &r);
  TH_ASSERT(r.status == 404, "second DELETE: %d", r.status);
  th_assert_error_shape(&r, 404, NULL, "second DELETE");
  th_response_free(&r);
  th_request(srv->port, "PUT", path, NULL, "{\"name\":\"x\",\"price_cents\":1}", &r);
  TH_ASSERT(r.status == 404, "PUT after DELETE: %d", r.status);
  th_response_free(&r);
}
END_TEST

/* ---- list ---- */

static cJSON *list(const char *query, const char *what) {
  char path[256];
  snprintf(path, sizeof(path), "/items%s", query);
  th_response_t r;
  th_request(srv->port, "GET", path, NULL, NULL, &r);
  TH_ASSERT(r.status == 200, "%s: GET %s answered %d: %.200s", what, path, r.status,
            r.body);
  cJSON *j = json_body(&r, what);
  th_response_free(&r);
  TH_ASSERT(cJSON_IsArray(cJSON_GetObjectItem(j, "items")), "%s: no items array", what);
  cJSON *na = cJSON_GetObjectItem(j, "next_after");
  TH_ASSERT(na != NULL && (cJSON_IsNull(na) || cJSON_IsNumber(na)),
            "%s: next_after is neither a number nor null", what);
  return j;
}

START_TEST(list_default_and_limits) {
  cJSON *j = list("", "default page");
  cJSON *items = cJSON_GetObjectItem(j, "items");
  TH_ASSERT(cJSON_GetArraySize(items) == 20, "default limit: %d items, want 20",
            cJSON_GetArraySize(items));
  long long prev = 0;
  for (cJSON *it = items->child; it != NULL; it = it->next) {
    long long id = assert_item(it, "list item");
    TH_ASSERT(id > prev, "list: ids not ascending (%lld after %lld)", id, prev);
    prev = id;
  }
  TH_ASSERT(prev == 20, "first page ends at %lld, want 20 (seeded ids 1..)", prev);
  TH_ASSERT(jnum(j, "next_after") == 20, "first page next_after %g, want 20",
            jnum(j, "next_after"));
  cJSON_Delete(j);

  j = list("?limit=1", "limit=1");
  TH_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")) == 1, "limit=1");
  cJSON_Delete(j);
  j = list("?limit=100&after=100", "limit=100&after=100");
  items = cJSON_GetObjectItem(j, "items");
  TH_ASSERT(cJSON_GetArraySize(items) == 100, "limit=100");
  TH_ASSERT(jnum(items->child, "id") == 101, "after=100 starts at %g",
            jnum(items->child, "id"));
  cJSON_Delete(j);
  j = list("?after=9223372036854775806", "after the last id");
  TH_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")) == 0,
            "past the end: not empty");
  TH_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(j, "next_after")),
            "past the end: next_after");
  cJSON_Delete(j);
}
END_TEST

/* Walking every page gives every row once, in ascending order. */
START_TEST(list_walk_all) {
  long long total = item_rows(), seen = 0, prev = 0, after = 0;
  int pages = 0;
  for (;;) {
    char q[64];
    snprintf(q, sizeof(q), "?limit=100&after=%lld", after);
    cJSON *j = list(q, "walk");
    cJSON *items = cJSON_GetObjectItem(j, "items");
    int n = cJSON_GetArraySize(items);
    for (cJSON *it = items->child; it != NULL; it = it->next) {
      long long id = (long long)jnum(it, "id");
      TH_ASSERT(id > prev, "walk: id %lld after %lld (duplicate or out of order)", id,
                prev);
      prev = id;
      seen++;
    }
    cJSON *na = cJSON_GetObjectItem(j, "next_after");
    if (n < 100)
      TH_ASSERT(cJSON_IsNull(na), "walk: a short page (%d) with next_after %g", n,
                na->valuedouble);
    if (n > 0 && cJSON_IsNumber(na))
      TH_ASSERT((long long)na->valuedouble == prev, "walk: next_after %g, last id %lld",
                na->valuedouble, prev);
    int done = cJSON_IsNull(na);
    after = prev;
    cJSON_Delete(j);
    pages++;
    if (done)
      break;
    TH_ASSERT(pages < 1000, "walk: no end");
  }
  TH_ASSERT(seen == total, "walk: %lld items seen, %lld in the table", seen, total);
}
END_TEST

typedef struct lcase_s {
  const char *q;
  const char *field;
} lcase_t;
static const lcase_t bad_lists[] = {{"?limit=0", "limit"},
                                    {"?limit=101", "limit"},
                                    {"?limit=abc", "limit"},
                                    {"?limit=-1", "limit"},
                                    {"?limit=1.5", "limit"},
                                    {"?limit=", "limit"},
                                    {"?after=abc", "after"},
                                    {"?after=1.5", "after"},
                                    {"?after=99999999999999999999", "after"},
                                    {"?limit=10&after=x", "after"}};
#define NBAD_LISTS ((int)(sizeof(bad_lists) / sizeof(bad_lists[0])))

START_TEST(list_bad_query_400) {
  const lcase_t *lc = &bad_lists[_i];
  char path[128];
  snprintf(path, sizeof(path), "/items%s", lc->q);
  th_response_t r;
  th_request(srv->port, "GET", path, NULL, NULL, &r);
  TH_ASSERT(r.status == 400, "GET %s: %d, want 400: %.200s", path, r.status, r.body);
  th_assert_error_shape(&r, 400, lc->field, path);
  th_response_free(&r);
}
END_TEST

/* ---- validation ---- */

typedef struct vcase_s {
  const char *name;
  const char *content_type; /* NULL: application/json; "": none */
  const char *body;
  int status;
  const char *field; /* the message must name it */
  int patch;         /* also applies to PATCH */
} vcase_t;

#define T33 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static const vcase_t vcases[] = {
    {"name missing", NULL, "{\"price_cents\":1}", 400, "name", 0},
    {"name empty", NULL, "{\"name\":\"\",\"price_cents\":1}", 400, "name", 1},
    {"name 201 chars", NULL, NULL /* generated */, 400, "name", 1},
    {"name number", NULL, "{\"name\":5,\"price_cents\":1}", 400, "name", 1},
    {"name null", NULL, "{\"name\":null,\"price_cents\":1}", 400, "name", 1},
    {"name array", NULL, "{\"name\":[\"a\"],\"price_cents\":1}", 400, "name", 1},
    {"price missing", NULL, "{\"name\":\"v\"}", 400, "price_cents", 0},
    {"price negative", NULL, "{\"name\":\"v\",\"price_cents\":-1}", 400, "price_cents",
     1},
    {"price over 1e9", NULL, "{\"name\":\"v\",\"price_cents\":1000000001}", 400,
     "price_cents", 1},
    {"price fraction", NULL, "{\"name\":\"v\",\"price_cents\":1.5}", 400, "price_cents",
     1},
    {"price string", NULL, "{\"name\":\"v\",\"price_cents\":\"12\"}", 400, "price_cents",
     1},
    {"price null", NULL, "{\"name\":\"v\",\"price_cents\":null}", 400, "price_cents", 1},
    {"price huge", NULL, "{\"name\":\"v\",\"price_cents\":1e300}", 400, "price_cents", 1},
    {"price bool", NULL, "{\"name\":\"v\",\"price_cents\":true}", 400, "price_cents", 1},
    {"description number", NULL, "{\"name\":\"v\",\"price_cents\":1,\"description\":5}",
     400, "description", 1},
    {"description 2001", NULL, NULL /* generated */, 400, "description", 1},
    {"tags not array", NULL, "{\"name\":\"v\",\"price_cents\":1,\"tags\":\"a\"}", 400,
     "tags", 1},
    {"tags 17", NULL,
     "{\"name\":\"v\",\"price_cents\":1,\"tags\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\","
     "\"7\","
     "\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}",
     400, "tags", 1},
    {"tag empty", NULL, "{\"name\":\"v\",\"price_cents\":1,\"tags\":[\"\"]}", 400, "tags",
     1},
    {"tag 33 chars", NULL, "{\"name\":\"v\",\"price_cents\":1,\"tags\":[\"" T33 "\"]}",
     400, "tags", 1},
    {"tag number", NULL, "{\"name\":\"v\",\"price_cents\":1,\"tags\":[1]}", 400, "tags",
     1},
    {"tag null", NULL, "{\"name\":\"v\",\"price_cents\":1,\"tags\":[null]}", 400, "tags",
     1},
    {"tags null", NULL, "{\"name\":\"v\",\"price_cents\":1,\"tags\":null}", 400, "tags",
     1},
    {"body array", NULL, "[]", 400, NULL, 1},
    {"body number", NULL, "1", 400, NULL, 1},
    {"body null", NULL, "null", 400, NULL, 1},
    {"body string", NULL, "\"s\"", 400, NULL, 1},
    {"json truncated", NULL, "{\"name\":", 400, NULL, 1},
    {"json single quotes", NULL, "{'name':'v','price_cents':1}", 400, NULL, 1},
    {"json trailing garbage", NULL, "{\"name\":\"v\",\"price_cents\":1}x", 400, NULL, 1},
    {"json empty body", NULL, "", 400, NULL, 1},
    {"json bad escape", NULL, "{\"name\":\"\\q\",\"price_cents\":1}", 400, NULL, 1},
    {"json invalid utf-8", NULL, "{\"name\":\"\xff\xfe\",\"price_cents\":1}", 400, NULL,
     1},
    {"text/plain", "text/plain", "{\"name\":\"v\",\"price_cents\":1}", 415, NULL, 1},
    {"no content-type", "", "{\"name\":\"v\",\"price_cents\":1}", 415, NULL, 1},
    {"application/jsonx", "application/jsonx", "{\"name\":\"v\",\"price_cents\":1}", 415,
     NULL, 1},
    {"form", "application/x-www-form-urlencoded", "name=v&price_cents=1", 415, NULL, 1},
};
#define NV ((int)(sizeof(vcases) / sizeof(vcases[0])))

/* Case i: vcases[i % NV] against POST (i / NV == 0), PUT (1), PATCH (2). */
START_TEST(validation) {
  const vcase_t *vc = &vcases[_i % NV];
  int route = _i / NV;
  if (route == 2 && !vc->patch)
    return;
  static const char *const methods[] = {"POST", "PUT", "PATCH"};
  const char *m = methods[route];
  char path[64] = "/items", what[200], desc[2100], body[2300];
  if (route > 0)
    path_of(path, sizeof(path), create("{\"name\":\"it-val\",\"price_cents\":3}", "val"));
  snprintf(what, sizeof(what), "%s %s: %s", m, route ? "/items/:id" : "/items", vc->name);
  const char *b = vc->body;
  if (b == NULL && strcmp(vc->name, "name 201 chars") == 0) {
    memset(desc, 'n', 201);
    desc[201] = '\0';
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"price_cents\":1}", desc);
    b = body;
  } else if (b == NULL) {
    memset(desc, 'd', 2001);
    desc[2001] = '\0';
    snprintf(body, sizeof(body),
             "{\"name\":\"v\",\"price_cents\":1,\"description\":\"%s\"}", desc);
    b = body;
  }
  char hdr[128] = "";
  if (vc->content_type != NULL && vc->content_type[0] != '\0')
    snprintf(hdr, sizeof(hdr), "Content-Type: %s\r\n", vc->content_type);
  /* th_format_request adds application/json unless a Content-Type is given;
   * for "no content-type" build the bytes here. */
  long long before = item_rows();
  char snap[1024] = "", snap2[1024] = "", sql[256];
  if (route > 0) {
    snprintf(sql, sizeof(sql), "SELECT row_to_json(items)::text FROM items WHERE id = %s",
             path + 7);
    th_sql(db(), sql, snap, sizeof(snap));
  }
  th_response_t r;
  if (vc->content_type != NULL && vc->content_type[0] == '\0') {
    char req[2600];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%s", m,
                     path, strlen(b), b);
    th_conn_t *c = th_conn_open(srv->port);
    th_send(c, req, (size_t)n);
    int rc = th_read_response(c, &r, th_scale(5000));
    th_conn_close(c);
    TH_ASSERT(rc == TH_OK, "%s: no response", what);
  } else {
    th_request(srv->port, m, path, hdr[0] ? hdr : NULL, b, &r);
  }
  TH_ASSERT(r.status == vc->status, "%s: %d, want %d: %.300s", what, r.status, vc->status,
            r.body);
  th_assert_error_shape(&r, vc->status, vc->field, what);
  th_response_free(&r);
  TH_ASSERT(item_rows() == before, "%s: the row count changed", what);
  if (route > 0) {
    th_sql(db(), sql, snap2, sizeof(snap2));
    TH_ASSERT(strcmp(snap, snap2) == 0, "%s: the item changed:\n%s\n%s", what, snap,
              snap2);
  }
}
END_TEST

/* The cluster runs every flow but only the POST validation table and GET
 * with bad ids: the rest is the same code, and the sanitizer build's time
 * is counted. */
static void add_tests(TCase *tc, int full) {
  tcase_add_test(tc, create_full);
  tcase_add_test(tc, create_defaults_and_extras);
  tcase_add_test(tc, create_boundaries);
  tcase_add_test(tc, read_seeded_and_missing);
  tcase_add_loop_test(tc, bad_ids_400, 0, full ? NBAD_IDS * 4 : NBAD_IDS);
  tcase_add_test(tc, replace_put);
  tcase_add_test(tc, patch_partial);
  tcase_add_test(tc, delete_then_gone);
  tcase_add_test(tc, list_default_and_limits);
  tcase_add_test(tc, list_walk_all);
  tcase_add_loop_test(tc, list_bad_query_400, 0, NBAD_LISTS);
  tcase_add_loop_test(tc, validation, 0, full ? NV * 3 : NV);
}

static Suite *items_suite(void) {
  Suite *s = suite_create("items");
  TCase *one = tcase_create("workers0");
  tcase_add_unchecked_fixture(one, single_up, single_down);
  tcase_set_timeout(one, 30);
  add_tests(one, 1);
  suite_add_tcase(s, one);
  TCase *two = tcase_create("workers2");
  tcase_add_unchecked_fixture(two, cluster_up, cluster_down);
  tcase_set_timeout(two, 30);
  add_tests(two, 0);
  suite_add_tcase(s, two);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(items_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  if (!th_server_was_clean(&srv_single, "--workers 0 server"))
    failed++;
  if (!th_server_was_clean(&srv_cluster, "--workers 2 server"))
    failed++;
  th_sql(th_pg_conninfo(), "DELETE FROM items WHERE name LIKE 'it-%'", NULL, 0);
  return failed == 0 ? 0 : 1;
}
