/* Validation of W1 input, in the shape of Fastify's Ajv messages. Pure:
 * no loop, no socket, no database. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "api.h"

#define NAME_MAX_CHARS 200
#define DESC_MAX_CHARS 2000
#define TAGS_MAX 16
#define TAG_MAX_CHARS 32
#define PRICE_MAX 1000000000LL

int api_parse_id(const char *s, size_t n, int64_t *out) {
  if (n == 0 || n > 19) return -EINVAL;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -EINVAL;
    int d = s[i] - '0';
    if (v > (INT64_MAX - d) / 10) return -EINVAL;
    v = v * 10 + d;
  }
  if (v <= 0) return -EINVAL;
  *out = v;
  return 0;
}

int api_is_json(const http_span_t *ct) {
  const char *p = ct->p;
  size_t n = ct->n;
  if (n < 16 || strncasecmp(p, "application/json", 16) != 0) return 0;
  if (n == 16) return 1;
  return p[16] == ';' || p[16] == ' ' || p[16] == '\t';
}

typedef struct {
  char *msg;
  size_t len;
} err_t;

static int bad(err_t *e, const char *fmt, const char *path, long n) {
  snprintf(e->msg, e->len, fmt, path, n);
  return 400;
}

static int check_string(err_t *e, const cJSON *v, const char *path, long min, long max) {
  if (!cJSON_IsString(v)) return bad(e, "%s must be string", path, 0);
  long chars = core_utf8_count(v->valuestring, strlen(v->valuestring));
  if (chars < 0) return bad(e, "%s must be valid UTF-8", path, 0);
  if (chars < min) return bad(e, "%s must NOT have fewer than %ld characters", path, min);
  if (chars > max) return bad(e, "%s must NOT have more than %ld characters", path, max);
  return 0;
}

static int check_price(err_t *e, const cJSON *v, int64_t *out) {
  const char *path = "body/price_cents";
  if (!cJSON_IsNumber(v)) return bad(e, "%s must be integer", path, 0);
  double d = v->valuedouble;
  if (!isfinite(d) || d != floor(d)) return bad(e, "%s must be integer", path, 0);
  if (d < 0) return bad(e, "%s must be >= %ld", path, 0);
  if (d > (double)PRICE_MAX) return bad(e, "%s must be <= %ld", path, (long)PRICE_MAX);
  *out = (int64_t)d;
  return 0;
}

static int check_tags(err_t *e, const cJSON *v, core_arena_t *arena, const char **out) {
  if (!cJSON_IsArray(v)) return bad(e, "%s must be array", "body/tags", 0);
  int n = cJSON_GetArraySize(v);
  if (n > TAGS_MAX) return bad(e, "%s must NOT have more than %ld items", "body/tags", TAGS_MAX);
  core_buf_t b;
  core_buf_init(&b);
  core_buf_putc(&b, '[');
  int i = 0, rc = 0;
  for (const cJSON *t = v->child; t; t = t->next, i++) {
    char path[32];
    snprintf(path, sizeof(path), "body/tags/%d", i);
    if ((rc = check_string(e, t, path, 1, TAG_MAX_CHARS)) != 0) goto done;
    if (i) core_buf_putc(&b, ',');
    core_buf_put_json_str(&b, t->valuestring, strlen(t->valuestring));
  }
  core_buf_putc(&b, ']');
  *out = core_arena_strndup(arena, b.data, b.len);
done:
  core_buf_free(&b);
  return rc;
}

/* cJSON's strings are NUL-terminated, so a "\u0000" escape would silently
 * truncate a value; PostgreSQL's text cannot hold NUL anyway. */
static int has_nul_escape(const char *s, size_t n) {
  for (size_t i = 0; i + 6 <= n; i++)
    if (s[i] == '\\' && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) {
      size_t bs = 0; /* an even run of backslashes before means a literal "\" */
      while (bs < i && s[i - 1 - bs] == '\\') bs++;
      if (bs % 2 == 0) return 1;
    }
  return 0;
}

static int check_fields(err_t *e, const cJSON *root, int partial, core_arena_t *arena,
                        api_item_in_t *out) {
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
  const cJSON *desc = cJSON_GetObjectItemCaseSensitive(root, "description");
  const cJSON *price = cJSON_GetObjectItemCaseSensitive(root, "price_cents");
  const cJSON *tags = cJSON_GetObjectItemCaseSensitive(root, "tags");
  int rc;
  if (!partial && name == NULL)
    return bad(e, "body must have required property '%s'", "name", 0);
  if (!partial && price == NULL)
    return bad(e, "body must have required property '%s'", "price_cents", 0);
  if (name) {
    if ((rc = check_string(e, name, "body/name", 1, NAME_MAX_CHARS))) return rc;
    out->name = core_arena_strndup(arena, name->valuestring, strlen(name->valuestring));
    out->has_name = 1;
  }
  if (desc) {
    out->has_description = 1;
    if (!cJSON_IsNull(desc)) {
      if (!cJSON_IsString(desc)) return bad(e, "%s must be string,null", "body/description", 0);
      if ((rc = check_string(e, desc, "body/description", 0, DESC_MAX_CHARS))) return rc;
      out->description = core_arena_strndup(arena, desc->valuestring, strlen(desc->valuestring));
    }
  }
  if (price) {
    if ((rc = check_price(e, price, &out->price_cents))) return rc;
    out->has_price = 1;
  }
  if (tags) {
    if ((rc = check_tags(e, tags, arena, &out->tags_json))) return rc;
    out->has_tags = 1;
  } else if (!partial) {
    out->tags_json = "[]";
    out->has_tags = 1;
  }
  return 0;
}

int api_item_validate(const http_span_t *content_type, const char *body, size_t n,
                      int partial, core_arena_t *arena, api_item_in_t *out, char *msg,
                      size_t msglen) {
  err_t e = {msg, msglen};
  memset(out, 0, sizeof(*out));
  if (content_type->n == 0 && n == 0)
    return bad(&e, "%s must be object", "body", 0);
  if (!api_is_json(content_type)) {
    snprintf(msg, msglen, "Unsupported Media Type: %.*s", (int)(content_type->n > 100 ? 100 : content_type->n),
             content_type->n ? content_type->p : "none");
    return 415;
  }
  if (n == 0)
    return bad(&e, "Body cannot be empty when content-type is set to '%s'", "application/json", 0);
  if (has_nul_escape(body, n))
    return bad(&e, "%s must not contain NUL characters", "body", 0);
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(body, n, &end, 0);
  while (root && end && end < body + n && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
    end++;
  if (root == NULL || end != body + n) {
    cJSON_Delete(root);
    return bad(&e, "%s is not valid JSON", "Body", 0);
  }
  int rc = 0;
  if (!cJSON_IsObject(root)) rc = bad(&e, "%s must be object", "body", 0);
  else rc = check_fields(&e, root, partial, arena, out);
  cJSON_Delete(root);
  return rc;
}
