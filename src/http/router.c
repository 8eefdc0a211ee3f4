/* The router: a short list of patterns split into segments. looplab has a
 * dozen routes, so a linear scan over pre-split segments beats a tree in
 * both clarity and speed. */
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define MAX_SEGS 8

typedef struct {
  const char *s;
  size_t n;
  int param;
} seg_t;

typedef struct route_s {
  char *pattern;
  seg_t segs[MAX_SEGS];
  int nsegs;
  http_handler_cb cb[HTTP_M__COUNT];
} route_t;

struct http_router_s {
  route_t *routes;
  int n;
};

static const char *const method_names[HTTP_M__COUNT] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"};

const char *http_method_name(http_method_t m) {
  return method_names[m];
}

http_router_t *http_router_new(void) {
  return xcalloc(1, sizeof(http_router_t));
}

void http_router_free(http_router_t *r) {
  if (r == NULL)
    return;
  for (int i = 0; i < r->n; i++) free(r->routes[i].pattern);
  free(r->routes);
  free(r);
}

/* Splits "/a/:b/c" into segments; the empty path "/" has none. */
static int split(const char *p, size_t n, seg_t *segs, int max) {
  int k = 0;
  size_t i = 0;
  while (i < n) {
    if (p[i] != '/')
      return -1;
    size_t j = ++i;
    while (j < n && p[j] != '/') j++;
    if (j == i && j == n && k == 0)
      break; /* "/" itself has no segment */
    if (k == max)
      return -1;
    segs[k].s = p + i;
    segs[k].n = j - i;
    segs[k].param = j > i && p[i] == ':';
    k++;
    i = j;
  }
  return k;
}

void http_router_add(http_router_t *r, http_method_t m, const char *pattern,
                     http_handler_cb cb) {
  for (int i = 0; i < r->n; i++)
    if (strcmp(r->routes[i].pattern, pattern) == 0) {
      r->routes[i].cb[m] = cb;
      return;
    }
  r->routes = xrealloc(r->routes, sizeof(route_t) * (size_t)(r->n + 1));
  route_t *rt = &r->routes[r->n++];
  memset(rt, 0, sizeof(*rt));
  rt->pattern = xstrdup(pattern);
  rt->nsegs = split(rt->pattern, strlen(rt->pattern), rt->segs, MAX_SEGS);
  if (rt->nsegs < 0)
    abort(); /* a bad pattern is a programming error */
  rt->cb[m] = cb;
}

static int seg_match(const route_t *rt, const seg_t *segs, int n, http_match_t *out) {
  if (rt->nsegs != n)
    return 0;
  int np = 0;
  for (int i = 0; i < n; i++) {
    const seg_t *want = &rt->segs[i];
    if (want->param) {
      if (segs[i].n == 0 || np == HTTP_MAX_PARAMS)
        return 0;
      out->params[np].p = segs[i].s;
      out->params[np].n = segs[i].n;
      np++;
    } else if (want->n != segs[i].n || memcmp(want->s, segs[i].s, want->n) != 0) {
      return 0;
    }
  }
  out->nparams = np;
  return 1;
}

static void allow_list(const route_t *rt, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  for (int m = 0; m < HTTP_M__COUNT; m++) {
    int has = rt->cb[m] != NULL || (m == HTTP_M_HEAD && rt->cb[HTTP_M_GET] != NULL);
    if (!has)
      continue;
    int w = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", method_names[m]);
    if (w < 0 || (size_t)w >= cap - len)
      break;
    len += (size_t)w;
  }
}

int http_router_match(const http_router_t *r, http_method_t m, const char *path, size_t n,
                      http_match_t *out) {
  seg_t segs[MAX_SEGS];
  int nsegs = split(path, n, segs, MAX_SEGS);
  memset(out, 0, sizeof(*out));
  if (nsegs < 0)
    return HTTP_ROUTE_NOT_FOUND;
  for (int i = 0; i < r->n; i++) {
    const route_t *rt = &r->routes[i];
    if (!seg_match(rt, segs, nsegs, out))
      continue;
    out->route = rt->pattern;
    out->route_id = i + 1;
    http_handler_cb cb = rt->cb[m];
    if (cb == NULL && m == HTTP_M_HEAD)
      cb = rt->cb[HTTP_M_GET];
    if (cb == NULL) {
      allow_list(rt, out->allow, sizeof(out->allow));
      return HTTP_ROUTE_BAD_METHOD;
    }
    out->cb = cb;
    return HTTP_ROUTE_OK;
  }
  return HTTP_ROUTE_NOT_FOUND;
}

int http_router_names(const http_router_t *r, const char **names, int max) {
  int n = 0;
  if (max > 0)
    names[n++] = NULL;
  for (int i = 0; i < r->n && n < max; i++) names[n++] = r->routes[i].pattern;
  return n;
}
