/* Validation of W1 input, in the shape of Fastify's Ajv messages. Pure:
 * no loop, no socket, no database. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "xform/xform.h"

#define NAME_MAX_CHARS 200
#define DESC_MAX_CHARS 2000
#define TAGS_MAX 16
#define TAG_MAX_CHARS 32
#define PRICE_MAX 1000000000LL
/* Deeper bodies are refused as invalid JSON (cJSON's own limit is 1000). */
#define BODY_MAX_DEPTH 512

/* Fastify's codes (docs/workloads.md, "Error bodies"). */
#define CODE_VALIDATION "FST_ERR_VALIDATION"
#define CODE_MEDIA_TYPE "FST_ERR_CTP_INVALID_MEDIA_TYPE"
#define CODE_EMPTY_BODY "FST_ERR_CTP_EMPTY_JSON_BODY"

int api_parse_id(const char *s, size_t n, int64_t *out) {
  if (n == 0 || n > 19)
    return UV_EINVAL;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return UV_EINVAL;
    int d = s[i] - '0';
    if (v > (INT64_MAX - d) / 10)
      return UV_EINVAL;
    v = v * 10 + d;
  }
  if (v <= 0)
    return UV_EINVAL;
  *out = v;
  return 0;
}

int api_is_json(const http_span_t *ct) {
  const char *p = ct->p;
  size_t n = ct->n;
  if (n < 16 || strncasecmp(p, "application/json", 16) != 0)
    return 0;
  if (n == 16)
    return 1;
  return p[16] == ';' || p[16] == ' ' || p[16] == '\t';
}

typedef struct {
  char *msg;
  size_t len;
  const char **code;
} err_t;

/* A rule of the schema broken: Ajv's message, Fastify's validation code. */
static int bad(err_t *e, const char *fmt, const char *path, long n) {
  snprintf(e->msg, e->len, fmt, path, n);
  *e->code = CODE_VALIDATION;
  return API_EBODY;
}

/* The body could not be read as JSON at all: no code (Fastify passes
 * JSON.parse's SyntaxError on with none). */
static int unreadable(err_t *e, const char *fmt, const char *what) {
  snprintf(e->msg, e->len, fmt, what);
  *e->code = NULL;
  return API_EBODY;
}

/* JSON.parse keeps the last of duplicate keys; cJSON's lookup finds the
 * first. */
static const cJSON *member(const cJSON *obj, const char *key) {
  const cJSON *found = NULL;
  for (const cJSON *c = obj->child; c; c = c->next)
    if (c->string && strcmp(c->string, key) == 0)
      found = c;
  return found;
}

static int check_string(err_t *e, const cJSON *v, const char *path, long min, long max) {
  if (!cJSON_IsString(v))
    return bad(e, "%s must be string", path, 0);
  long chars = core_utf8_count(v->valuestring, strlen(v->valuestring));
  if (chars < 0)
    return bad(e, "%s must be valid UTF-8", path, 0);
  if (chars < min)
    return bad(e, "%s must NOT have fewer than %ld characters", path, min);
  if (chars > max)
    return bad(e, "%s must NOT have more than %ld characters", path, max);
  return 0;
}

static int check_price(err_t *e, const cJSON *v, int64_t *out) {
  const char *path = "body/price_cents";
  if (!cJSON_IsNumber(v))
    return bad(e, "%s must be integer", path, 0);
  double d = v->valuedouble;
  if (!isfinite(d) || d != floor(d))
    return bad(e, "%s must be integer", path, 0);
  if (d < 0)
    return bad(e, "%s must be >= %ld", path, 0);
  if (d > (double)PRICE_MAX)
    return bad(e, "%s must be <= %ld", path, (long)PRICE_MAX);
  *out = (int64_t)d;
  return 0;
}

static int check_tags(err_t *e, const cJSON *v, core_arena_t *arena, const char **out) {
  if (!cJSON_IsArray(v))
    return bad(e, "%s must be array", "body/tags", 0);
  int n = cJSON_GetArraySize(v);
  if (n > TAGS_MAX)
    return bad(e, "%s must NOT have more than %ld items", "body/tags", TAGS_MAX);
  const char *elems[TAGS_MAX];
  size_t lens[TAGS_MAX];
  int i = 0, rc = 0;
  for (const cJSON *t = v->child; t; t = t->next, i++) {
    char path[32];
    snprintf(path, sizeof(path), "body/tags/%d", i);
    if ((rc = check_string(e, t, path, 1, TAG_MAX_CHARS)) != 0)
      return rc;
    elems[i] = t->valuestring;
    lens[i] = strlen(t->valuestring);
  }
  /* The text[] literal is built in a local buffer, then kept in the arena. */
  core_buf_t b;
  core_buf_init(&b);
  api_put_array_literal(&b, elems, lens, n);
  *out = core_arena_strndup(arena, b.data, b.len);
  core_buf_free(&b);
  return 0;
}

/* cJSON's strings are NUL-terminated, so a "\u0000" escape would silently
 * truncate a value; PostgreSQL's text cannot hold NUL anyway. */
static int has_nul_escape(const char *s, size_t n) {
  for (size_t i = 0; i + 6 <= n; i++)
    if (s[i] == '\\' && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) {
      size_t bs = 0; /* an even run of backslashes before means a literal "\" */
      while (bs < i && s[i - 1 - bs] == '\\') bs++;
      if (bs % 2 == 0)
        return 1;
    }
  return 0;
}

static int check_fields(err_t *e, const cJSON *root, int partial, core_arena_t *arena,
                        api_item_in_t *out) {
  const cJSON *name = member(root, "name");
  const cJSON *desc = member(root, "description");
  const cJSON *price = member(root, "price_cents");
  const cJSON *tags = member(root, "tags");
  int rc;
  if (!partial && name == NULL)
    return bad(e, "body must have required property '%s'", "name", 0);
  if (!partial && price == NULL)
    return bad(e, "body must have required property '%s'", "price_cents", 0);
  if (name) {
    if ((rc = check_string(e, name, "body/name", 1, NAME_MAX_CHARS)))
      return rc;
    out->name = core_arena_strndup(arena, name->valuestring, strlen(name->valuestring));
    out->has_name = 1;
  }
  if (desc) {
    out->has_description = 1;
    if (!cJSON_IsNull(desc)) {
      if (!cJSON_IsString(desc))
        return bad(e, "%s must be string,null", "body/description", 0);
      if ((rc = check_string(e, desc, "body/description", 0, DESC_MAX_CHARS)))
        return rc;
      out->description =
          core_arena_strndup(arena, desc->valuestring, strlen(desc->valuestring));
    }
  }
  if (price) {
    if ((rc = check_price(e, price, &out->price_cents)))
      return rc;
    out->has_price = 1;
  }
  if (tags) {
    if ((rc = check_tags(e, tags, arena, &out->tags)))
      return rc;
    out->has_tags = 1;
  } else if (!partial) {
    out->tags = "{}";
    out->has_tags = 1;
  }
  return 0;
}

int api_item_validate(const http_span_t *content_type, const char *body, size_t n,
                      int partial, core_arena_t *arena, api_item_in_t *out, char *msg,
                      size_t msglen, const char **code) {
  err_t e = {msg, msglen, code};
  memset(out, 0, sizeof(*out));
  if (content_type->n == 0 && n == 0)
    return bad(&e, "%s must be object", "body", 0);
  if (!api_is_json(content_type)) {
    int ctn = content_type->n > 100 ? 100 : (int)content_type->n;
    snprintf(msg, msglen, "Unsupported Media Type: %.*s", ctn ? ctn : 4,
             ctn ? content_type->p : "none");
    *code = CODE_MEDIA_TYPE;
    return API_EMEDIA;
  }
  if (n == 0) {
    snprintf(msg, msglen,
             "Body cannot be empty when content-type is set to 'application/json'");
    *code = CODE_EMPTY_BODY;
    return API_EBODY;
  }
  if (has_nul_escape(body, n))
    return unreadable(&e, "%s must not contain NUL characters", "body");
  /* cJSON accepts more than RFC 8259 (01, 1., a trailing comma, ...):
   * what JSON.parse refuses must be refused first. */
  if (!xform_json_valid(body, n, BODY_MAX_DEPTH))
    return unreadable(&e, "%s is not valid JSON", "Body");
  cJSON *root = cJSON_ParseWithLength(body, n);
  if (root == NULL)
    return unreadable(&e, "%s is not valid JSON", "Body");
  int rc = 0;
  if (!cJSON_IsObject(root))
    rc = bad(&e, "%s must be object", "body", 0);
  else
    rc = check_fields(&e, root, partial, arena, out);
  cJSON_Delete(root);
  return rc;
}
