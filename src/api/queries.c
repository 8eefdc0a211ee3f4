/* The statements of sql/queries.sql, embedded at build time: the one SQL
 * source of looplab and of the peers (bench/peers/), which parse the same
 * file by the same rule (written at the top of the file). */
#include <stdlib.h>
#include <string.h>

#include "api.h"

db_stmt_t api_stmts[API_STMT__COUNT];

/* The names the routes use, in API_STMT_* order. */
static const char *const names[API_STMT__COUNT] = {
    [API_STMT_PING] = "ping",
    [API_STMT_ITEM_GET] = "item_get",
    [API_STMT_ITEM_INSERT] = "item_insert",
    [API_STMT_ITEM_REPLACE] = "item_replace",
    [API_STMT_ITEM_PATCH] = "item_patch",
    [API_STMT_ITEM_DELETE] = "item_delete",
    [API_STMT_ITEM_LIST] = "item_list",
    [API_STMT_DASH_CUSTOMER] = "dash_customer",
    [API_STMT_DASH_MONTHLY] = "dash_monthly",
    [API_STMT_DASH_TOP_PRODUCTS] = "dash_top_products",
    [API_STMT_DASH_RECENT_ORDERS] = "dash_recent_orders",
    [API_STMT_DASH_CATEGORIES] = "dash_categories",
    [API_STMT_DASH_REGION] = "dash_region",
};

#define NAME_TAG "-- name:"

static int lookup(const char *name, size_t n) {
  for (int i = 0; i < API_STMT__COUNT; i++)
    if (strlen(names[i]) == n && memcmp(names[i], name, n) == 0)
      return i;
  return -1;
}

/* Blank, or only a comment. */
static int skipped(const char *p, size_t n) {
  size_t i = 0;
  while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r')) i++;
  return i == n || (i + 1 < n && p[i] == '-' && p[i + 1] == '-');
}

/* The highest $N in sql: the statement's parameter count. */
static int count_params(const char *sql) {
  int max = 0;
  for (const char *p = sql; (p = strchr(p, '$')) != NULL;) {
    int v = 0;
    for (p++; *p >= '0' && *p <= '9'; p++) v = v * 10 + (*p - '0');
    if (v > max)
      max = v;
  }
  return max;
}

/* Ends the block in b (its lines already joined) as statement `at`. */
/* The item statements' results come in binary: PostgreSQL then sends int8
 * and timestamptz as 8 bytes and text[] as lengths and bytes instead of
 * formatting them (docs/architecture.md, "Binary results"); items.c reads
 * either form. */
static int binary_result(int stmt) {
  switch (stmt) {
    case API_STMT_ITEM_GET:
    case API_STMT_ITEM_INSERT:
    case API_STMT_ITEM_REPLACE:
    case API_STMT_ITEM_PATCH:
    case API_STMT_ITEM_LIST:
      return 1;
    default:
      return 0;
  }
}

static int finish(core_buf_t *b, int at, db_stmt_t *out, char *err, size_t errlen) {
  while (b->len && (b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\n')) b->len--;
  if (b->len && b->data[b->len - 1] == ';')
    b->len--;
  if (b->len == 0) {
    core_errf(err, errlen, "sql/queries.sql: block %s is empty", names[at]);
    return -1;
  }
  char *sql = malloc(b->len + 1);
  if (!sql) {
    core_errf(err, errlen, "out of memory");
    return -1;
  }
  memcpy(sql, b->data, b->len);
  sql[b->len] = '\0';
  out[at] = (db_stmt_t){names[at], sql, count_params(sql), binary_result(at)};
  core_buf_reset(b);
  return 0;
}

int api_queries_parse(const char *text, db_stmt_t out[API_STMT__COUNT], char *err,
                      size_t errlen) {
  core_buf_t b;
  core_buf_init(&b);
  int at = -1, rc = API_EQUERIES;
  memset(out, 0, sizeof(db_stmt_t) * API_STMT__COUNT);
  for (const char *p = text; *p;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (n >= strlen(NAME_TAG) && memcmp(p, NAME_TAG, strlen(NAME_TAG)) == 0) {
      if (at >= 0 && finish(&b, at, out, err, errlen))
        goto fail;
      const char *name = p + strlen(NAME_TAG);
      size_t k = n - strlen(NAME_TAG);
      while (k && *name == ' ') name++, k--;
      while (k && (name[k - 1] == ' ' || name[k - 1] == '\r')) k--;
      if ((at = lookup(name, k)) < 0) {
        core_errf(err, errlen, "sql/queries.sql: unknown statement %.*s", (int)k, name);
        goto fail;
      }
      if (out[at].sql) {
        core_errf(err, errlen, "sql/queries.sql: statement %s appears twice", names[at]);
        goto fail;
      }
    } else if (at >= 0 && !skipped(p, n)) {
      if (b.len)
        core_buf_putc(&b, '\n');
      core_buf_append(&b, p, n && p[n - 1] == '\r' ? n - 1 : n);
    }
    p += nl ? n + 1 : n;
  }
  if (at >= 0 && finish(&b, at, out, err, errlen))
    goto fail;
  for (int i = 0; i < API_STMT__COUNT; i++)
    if (out[i].sql == NULL) {
      core_errf(err, errlen, "sql/queries.sql: statement %s is missing", names[i]);
      goto fail;
    }
  rc = 0;
fail:
  if (rc != 0)
    api_queries_free(out);
  core_buf_free(&b);
  return rc;
}

void api_queries_free(db_stmt_t stmts[API_STMT__COUNT]) {
  for (int i = 0; i < API_STMT__COUNT; i++) {
    free((char *)stmts[i].sql);
    stmts[i].sql = NULL;
  }
}

int api_queries_load(char *err, size_t errlen) {
  if (api_stmts[0].sql)
    return 0;
  const char *text = core_sql_file("queries.sql");
  if (!text) {
    core_errf(err, errlen, "sql/queries.sql is not embedded");
    return API_EQUERIES;
  }
  return api_queries_parse(text, api_stmts, err, errlen);
}

void api_queries_json(core_buf_t *b) {
  core_buf_putc(b, '{');
  for (int i = 0; i < API_STMT__COUNT; i++) {
    if (i)
      core_buf_putc(b, ',');
    core_buf_put_json_str(b, api_stmts[i].name, strlen(api_stmts[i].name));
    core_buf_putc(b, ':');
    core_buf_put_json_str(b, api_stmts[i].sql, strlen(api_stmts[i].sql));
  }
  core_buf_putc(b, '}');
}
