/* Requests. Everything that does not change between requests (the Host
 * line, extra headers, whole get requests, transform heads and bodies) is
 * formatted once here, so that building a request on the hot path is at
 * most one snprintf into the VU's own buffer: no allocation per request. */
#include "load.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static const char *const kind_names[LOAD_K_COUNT] = {
    "get", "create", "read", "put", "patch", "delete", "list", "dashboard", "transform"};

const char *load_kind_name(int kind) {
  return kind >= 0 && kind < LOAD_K_COUNT ? kind_names[kind] : "?";
}

uint64_t load_rng_next(uint64_t *s) {
  /* xorshift64*: fast, and good enough to pick ids and operations. */
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t below(uint64_t *s, uint64_t n) {
  return n ? load_rng_next(s) % n : 0;
}

static int64_t in_range(uint64_t *s, int64_t lo, int64_t hi) {
  return lo + (int64_t)below(s, (uint64_t)(hi - lo + 1));
}

void load_vu_state_init(load_vu_state_t *s, unsigned vu, uint64_t seed) {
  memset(s, 0, sizeof(*s));
  s->vu = vu;
  /* splitmix64 of (seed, vu) so that neighbouring VUs do not correlate. */
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + vu + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  s->rng = (z ^ (z >> 31)) | 1;
}

static char *xdup(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d == NULL)
    abort();
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

static int read_file(const char *path, char **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, n = 0, got;
  int rc = 0;

  if (f == NULL)
    return -errno;
  do {
    if (n == cap) {
      cap = cap ? cap * 2 : 65536;
      buf = realloc(buf, cap);
      if (buf == NULL)
        abort();
    }
    got = fread(buf + n, 1, cap - n, f);
    n += got;
  } while (got > 0);
  if (ferror(f))
    rc = UV_EIO;
  fclose(f);
  if (rc != 0) {
    free(buf);
    return rc;
  }
  *data = buf;
  *len = n;
  return 0;
}

/* Runs the generator for one size and keeps its stdout. The command is a
 * template: {seed} and {size} are replaced. */
static int generate(const char *tmpl, uint64_t seed, uint64_t size, char **data,
                    size_t *len, char *err, size_t errlen) {
  char cmd[1024];
  size_t o = 0, n = 0, cap = 0, got;
  char *buf = NULL;
  FILE *p;
  int st;

  for (const char *t = tmpl; *t && o < sizeof(cmd) - 32; t++) {
    if (strncmp(t, "{seed}", 6) == 0) {
      o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, "%" PRIu64, seed);
      t += 5;
    } else if (strncmp(t, "{size}", 6) == 0) {
      o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, "%" PRIu64, size);
      t += 5;
    } else {
      cmd[o++] = *t;
    }
  }
  cmd[o] = '\0';
  p = popen(cmd, "r");
  if (p == NULL) {
    snprintf(err, errlen, "--gen-cmd: cannot run '%s'", cmd);
    return UV_EINVAL;
  }
  do {
    if (n == cap) {
      cap = cap ? cap * 2 : size + 4096;
      buf = realloc(buf, cap);
      if (buf == NULL)
        abort();
    }
    got = fread(buf + n, 1, cap - n, p);
    n += got;
  } while (got > 0);
  st = pclose(p);
  if (st != 0 || n == 0) {
    free(buf);
    snprintf(err, errlen, "--gen-cmd: '%s' failed (status %d, %zu bytes)", cmd, st, n);
    return UV_EINVAL;
  }
  *data = buf;
  *len = n;
  return 0;
}

static void add_body_head(load_plan_t *p, load_body_t *b) {
  const load_opts_t *o = p->opts;
  char head[LOAD_REQ_BUF];
  int n = snprintf(head, sizeof(head),
                   "POST /transform%s%s HTTP/1.1\r\n%sContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   o->transform_mode ? "?mode=" : "",
                   o->transform_mode ? o->transform_mode : "", p->common, b->len);
  b->head = xdup(head, (size_t)n);
  b->head_len = (size_t)n;
}

int load_plan_init(load_plan_t *p, const load_opts_t *o, char *err, size_t errlen) {
  char buf[LOAD_REQ_BUF];
  size_t n;
  int rc;

  memset(p, 0, sizeof(*p));
  p->opts = o;
  /* The Host header carries the port unless it is 80, IPv6 in brackets. */
  n = (size_t)snprintf(buf, sizeof(buf),
                       "Host: %s%s%s%s%s\r\nUser-Agent: looplab-load/%s\r\n",
                       strchr(o->host, ':') ? "[" : "", o->host,
                       strchr(o->host, ':') ? "]" : "", strcmp(o->port, "80") ? ":" : "",
                       strcmp(o->port, "80") ? o->port : "", LOAD_VERSION);
  for (int i = 0; i < o->nheaders && n < sizeof(buf); i++)
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\r\n", o->headers[i]);
  if (n >= sizeof(buf) - 256) {
    snprintf(err, errlen, "--header: the headers are too long");
    return UV_EINVAL;
  }
  p->common = xdup(buf, n);
  p->common_len = n;

  n = (size_t)snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\n%s\r\n", o->path, p->common);
  if (n >= sizeof(buf)) {
    snprintf(err, errlen, "--url: the request line is too long");
    rc = UV_EINVAL;
    goto fail;
  }
  p->get_req = xdup(buf, n);
  p->get_req_len = n;

  if (o->weights[LOAD_SC_TRANSFORM]) {
    for (int i = 0; i < o->nbody_files; i++) {
      load_body_t *b = &p->bodies[p->nbodies];
      rc = read_file(o->body_files[i], &b->data, &b->len);
      if (rc != 0) {
        snprintf(err, errlen, "--body-file: cannot read '%s': %s", o->body_files[i],
                 uv_strerror(rc));
        goto fail;
      }
      p->nbodies++;
      add_body_head(p, b);
    }
    for (int i = 0; i < o->ntransform_sizes; i++) {
      load_body_t *b = &p->bodies[p->nbodies];
      rc = generate(o->gen_cmd, o->seed + (uint64_t)i, o->transform_sizes[i], &b->data,
                    &b->len, err, errlen);
      if (rc != 0)
        goto fail;
      p->nbodies++;
      add_body_head(p, b);
    }
  }
  for (int i = 0; i < LOAD_SC_COUNT; i++) p->weight_total += o->weights[i];
  for (int i = 0; i < LOAD_OP_COUNT; i++) p->crud_total += o->crud_mix[i];
  return 0;

fail:
  load_plan_free(p);
  return rc;
}

void load_plan_free(load_plan_t *p) {
  free(p->common);
  free(p->get_req);
  for (int i = 0; i < p->nbodies; i++) {
    free(p->bodies[i].data);
    free(p->bodies[i].head);
  }
  memset(p, 0, sizeof(*p));
}

static int pick(uint64_t *rng, const unsigned *w, int count, unsigned total) {
  uint64_t x = below(rng, total);
  for (int i = 0; i < count; i++) {
    if (x < w[i])
      return i;
    x -= w[i];
  }
  return count - 1;
}

/* An item id to read or update: half from the VU's own, half seeded. */
static int64_t some_id(const load_opts_t *o, load_vu_state_t *s, int own_first) {
  if (s->nids > 0 && (own_first || below(&s->rng, 2) == 0))
    return s->ids[below(&s->rng, s->nids)];
  return in_range(&s->rng, o->items_lo, o->items_hi);
}

static void fmt(load_req_t *r, char *buf, int kind, int expect, const char *f, ...)
    __attribute__((format(printf, 5, 6)));

static void fmt(load_req_t *r, char *buf, int kind, int expect, const char *f, ...) {
  va_list ap;
  int n;
  va_start(ap, f);
  n = vsnprintf(buf, LOAD_REQ_BUF, f, ap);
  va_end(ap);
  r->head = buf;
  r->head_len = n < LOAD_REQ_BUF ? (size_t)n : LOAD_REQ_BUF - 1;
  r->kind = kind;
  r->expect = expect;
}

static void crud(const load_plan_t *p, load_vu_state_t *s, char *buf, load_req_t *r) {
  const load_opts_t *o = p->opts;
  int op = pick(&s->rng, o->crud_mix, LOAD_OP_COUNT, p->crud_total);
  char body[256];
  int bl;
  int64_t id;

  /* Deletes only remove what this VU made, so the seeded rows that other
   * runs count on stay; with nothing to delete, make something. */
  if (op == LOAD_OP_DELETE && s->nids == 0)
    op = LOAD_OP_CREATE;
  switch (op) {
    case LOAD_OP_CREATE:
      bl = snprintf(body, sizeof(body),
                    "{\"name\":\"load %u-%" PRIu64
                    "\",\"description\":null,\"price_cents\":%" PRIu64
                    ",\"tags\":[\"load\",\"vu%u\"]}",
                    s->vu, s->seq, below(&s->rng, 100000) + 1, s->vu);
      fmt(r, buf, LOAD_K_CREATE, 201,
          "POST /items HTTP/1.1\r\n%sContent-Type: application/json\r\nContent-Length: "
          "%d\r\n\r\n%s",
          p->common, bl, body);
      break;
    case LOAD_OP_READ:
      fmt(r, buf, LOAD_K_READ, 200, "GET /items/%" PRId64 " HTTP/1.1\r\n%s\r\n",
          some_id(o, s, 0), p->common);
      break;
    case LOAD_OP_UPDATE:
      /* Updates prefer the VU's own items and alternate PUT and PATCH. */
      id = some_id(o, s, 1);
      if (below(&s->rng, 2) == 0) {
        bl = snprintf(body, sizeof(body),
                      "{\"name\":\"load %u-%" PRIu64
                      "\",\"description\":\"updated\","
                      "\"price_cents\":%" PRIu64 ",\"tags\":[\"load\"]}",
                      s->vu, s->seq, below(&s->rng, 100000) + 1);
        fmt(r, buf, LOAD_K_PUT, 200,
            "PUT /items/%" PRId64
            " HTTP/1.1\r\n%sContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n%s",
            id, p->common, bl, body);
      } else {
        bl = snprintf(body, sizeof(body), "{\"price_cents\":%" PRIu64 "}",
                      below(&s->rng, 100000) + 1);
        fmt(r, buf, LOAD_K_PATCH, 200,
            "PATCH /items/%" PRId64
            " HTTP/1.1\r\n%sContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n%s",
            id, p->common, bl, body);
      }
      break;
    case LOAD_OP_DELETE:
      id = s->ids[below(&s->rng, s->nids)];
      fmt(r, buf, LOAD_K_DELETE, 204, "DELETE /items/%" PRId64 " HTTP/1.1\r\n%s\r\n", id,
          p->common);
      r->id = id;
      break;
    default:
      fmt(r, buf, LOAD_K_LIST, 200,
          "GET /items?limit=20&after=%" PRId64 " HTTP/1.1\r\n%s\r\n",
          in_range(&s->rng, o->items_lo - 1, o->items_hi), p->common);
      break;
  }
}

void load_plan_next(const load_plan_t *p, load_vu_state_t *s, char *buf, load_req_t *r) {
  const load_opts_t *o = p->opts;
  int sc = p->weight_total == o->weights[LOAD_SC_GET]
               ? LOAD_SC_GET
               : pick(&s->rng, o->weights, LOAD_SC_COUNT, p->weight_total);

  memset(r, 0, sizeof(*r));
  s->seq++;
  switch (sc) {
    case LOAD_SC_GET:
      r->head = p->get_req;
      r->head_len = p->get_req_len;
      r->kind = LOAD_K_GET;
      r->expect = o->expect_status;
      break;
    case LOAD_SC_CRUD:
      crud(p, s, buf, r);
      break;
    case LOAD_SC_DASHBOARD:
      fmt(r, buf, LOAD_K_DASHBOARD, 200,
          "GET /customers/%" PRId64 "/dashboard%s%s HTTP/1.1\r\n%s\r\n",
          in_range(&s->rng, o->customers_lo, o->customers_hi),
          o->queries ? "?queries=" : "", o->queries ? o->queries : "", p->common);
      break;
    default: {
      const load_body_t *b = &p->bodies[below(&s->rng, (uint64_t)p->nbodies)];
      r->head = b->head;
      r->head_len = b->head_len;
      r->body = b->data;
      r->body_len = b->len;
      r->kind = LOAD_K_TRANSFORM;
      r->expect = 200;
      break;
    }
  }
}

void load_plan_done(load_vu_state_t *s, const load_req_t *r, int ok, int64_t created_id) {
  if (r->kind == LOAD_K_CREATE && ok && created_id > 0) {
    /* A ring: when full, the oldest id is forgotten (it stays served). */
    if (s->nids < LOAD_VU_IDS) {
      s->ids[s->nids++] = created_id;
    } else {
      s->ids[s->next_id] = created_id;
      s->next_id = (s->next_id + 1) % LOAD_VU_IDS;
    }
  } else if (r->kind == LOAD_K_DELETE) {
    /* Gone either way: a 404 means someone else deleted it. */
    for (unsigned i = 0; i < s->nids; i++)
      if (s->ids[i] == r->id) {
        s->ids[i] = s->ids[--s->nids];
        if (s->next_id >= s->nids)
          s->next_id = 0;
        break;
      }
  }
}
