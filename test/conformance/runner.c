/* looplab-conform: runs the conformance data of test/conformance/ against a
 * live server (looplab or a peer) and prints "N passed, M failed" last.
 *
 *   looplab-conform --url http://127.0.0.1:PORT [--dir test/conformance]
 *                   [--only transform|dashboard|items] [--query mode=loop]
 *
 * transform/NN-name.input.json     POST /transform; the body must equal
 *                                  NN-name.expected.json byte for byte
 * dashboard/NN-customer-ID.expected.json
 *                                  GET /customers/ID/dashboard; the same
 * items/NN-name.script.json        a scripted W1 sequence (see README.md)
 *
 * The expected status is 200, unless the expected body is Fastify's error
 * shape ({"statusCode":N,...}): then N. --query is appended to the
 * transform and dashboard requests (?mode=pool, ?queries=pipeline); the items
 * script is sent as written. Exit 0 if all passed, 1 if any failed, 2 on bad
 * arguments. Plain blocking sockets, HTTP/1.1 keep-alive, Content-Length
 * bodies only (every route answers that way). */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct conn_s {
  char host[64];
  int port;
  int fd;
  char *buf; /* received, not yet consumed */
  size_t len, cap;
} conn_t;

typedef struct resp_s {
  int status;
  char *body;
  size_t body_len;
  char location[256];
} resp_t;

static int passed, failed;
static const char *query = "";

static void failf(const char *what, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("FAIL %s: ", what);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  failed++;
}

/* ---- files ---- */

static char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 65536, len = 0;
  char *p = malloc(cap + 1);
  size_t k;
  while ((k = fread(p + len, 1, cap - len, f)) > 0) {
    len += k;
    if (len == cap)
      p = realloc(p, (cap *= 2) + 1);
  }
  fclose(f);
  p[len] = '\0';
  *n = len;
  return p;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir ending in suffix, sorted; NULL-terminated. */
static char **list_dir(const char *dir, const char *suffix, int *count) {
  DIR *d = opendir(dir);
  char **names = calloc(1, sizeof(char *));
  int n = 0;
  size_t sl = strlen(suffix);
  for (struct dirent *e; d && (e = readdir(d));) {
    size_t l = strlen(e->d_name);
    if (l <= sl || strcmp(e->d_name + l - sl, suffix) != 0)
      continue;
    names = realloc(names, (size_t)(n + 2) * sizeof(char *));
    names[n++] = strdup(e->d_name);
  }
  if (d)
    closedir(d);
  names[n] = NULL;
  qsort(names, (size_t)n, sizeof(char *), by_name);
  *count = n;
  return names;
}

static void free_list(char **names) {
  for (char **p = names; *p; p++) free(*p);
  free(names);
}

/* ---- HTTP ---- */

static int conn_open(conn_t *c) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
  if (inet_pton(AF_INET, c->host, &sa.sin_addr) != 1)
    return -EINVAL;
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct timeval tv = {60, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    int e = errno;
    close(c->fd);
    c->fd = -1;
    return -e;
  }
  c->len = 0;
  return 0;
}

static void conn_close(conn_t *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->len = 0;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Reads more bytes; 0 at EOF or on an error. */
static size_t fill(conn_t *c) {
  if (c->cap - c->len < 65536)
    c->buf = realloc(c->buf, c->cap = c->cap * 2 + 65536);
  ssize_t k;
  do k = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
  while (k < 0 && errno == EINTR);
  if (k <= 0)
    return 0;
  c->len += (size_t)k;
  c->buf[c->len] = '\0';
  return (size_t)k;
}

static const char *header(const char *head, const char *name, size_t *vlen) {
  size_t nl = strlen(name);
  for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r';
       p = strstr(p + 2, "\r\n")) {
    if (strncasecmp(p + 2, name, nl) != 0 || p[2 + nl] != ':')
      continue;
    const char *v = p + 3 + nl;
    while (*v == ' ') v++;
    *vlen = (size_t)(strstr(v, "\r\n") - v);
    return v;
  }
  return NULL;
}

/* Reads one Content-Length response. 0, or -1 (the connection is then
 * closed). */
static int read_response(conn_t *c, resp_t *r, int head_only) {
  char *end;
  while (!(c->buf && (end = strstr(c->buf, "\r\n\r\n"))))
    if (!fill(c))
      return -1;
  size_t hl = (size_t)(end - c->buf) + 4, vl;
  char save = c->buf[hl - 2];
  c->buf[hl - 2] = '\0'; /* keeps the header search inside the head */
  if (sscanf(c->buf, "HTTP/1.%*d %d", &r->status) != 1)
    return -1;
  const char *cl = header(c->buf, "content-length", &vl);
  const char *conn = header(c->buf, "connection", &vl);
  int close_after = conn && strncasecmp(conn, "close", 5) == 0;
  const char *loc = header(c->buf, "location", &vl);
  if (loc)
    snprintf(r->location, sizeof(r->location), "%.*s", (int)vl, loc);
  size_t blen = cl && !head_only ? strtoul(cl, NULL, 10) : 0;
  if (!cl && !head_only && r->status != 204 && r->status != 304)
    return -1;
  c->buf[hl - 2] = save;
  while (c->len < hl + blen)
    if (!fill(c))
      return -1;
  r->body = malloc(blen + 1);
  memcpy(r->body, c->buf + hl, blen);
  r->body[blen] = '\0';
  r->body_len = blen;
  memmove(c->buf, c->buf + hl + blen, c->len - hl - blen);
  c->len -= hl + blen;
  c->buf[c->len] = '\0'; /* the head search must not see stale bytes */
  if (close_after)
    conn_close(c);
  return 0;
}

/* One request; reconnects once if the kept-alive connection was gone. */
static int request(conn_t *c, const char *method, const char *path, const char *ctype,
                   const char *body, size_t blen, resp_t *r) {
  char head[2048];
  memset(r, 0, sizeof(*r));
  int hn = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s:%d\r\n", method, path,
                    c->host, c->port);
  if (ctype)
    hn += snprintf(head + hn, sizeof(head) - (size_t)hn, "Content-Type: %s\r\n", ctype);
  if (body)
    hn += snprintf(head + hn, sizeof(head) - (size_t)hn, "Content-Length: %zu\r\n", blen);
  hn += snprintf(head + hn, sizeof(head) - (size_t)hn, "\r\n");
  for (int attempt = 0; attempt < 2; attempt++) {
    if (c->fd < 0 && conn_open(c) != 0)
      return -1;
    if (send_all(c->fd, head, (size_t)hn) == 0 &&
        (!body || send_all(c->fd, body, blen) == 0) &&
        read_response(c, r, strcmp(method, "HEAD") == 0) == 0)
      return 0;
    conn_close(c);
  }
  return -1;
}

static void resp_free(resp_t *r) {
  free(r->body);
  r->body = NULL;
}

/* ---- transform and dashboard: fixed pairs ---- */

static int expected_status(const char *body) {
  int st;
  return sscanf(body, "{\"statusCode\":%d,", &st) == 1 ? st : 200;
}

static void with_query(char *out, size_t n, const char *path) {
  snprintf(out, n, "%s%s%s", path, *query ? (strchr(path, '?') ? "&" : "?") : "", query);
}

/* 1 if a and b hold the same keys in the same order, all the way down. */
static int same_order(const cJSON *a, const cJSON *b) {
  const cJSON *x = a->child, *y = b->child;
  for (; x && y; x = x->next, y = y->next) {
    if (cJSON_IsObject(a) && strcmp(x->string, y->string) != 0)
      return 0;
    if (!same_order(x, y))
      return 0;
  }
  return x == NULL && y == NULL;
}

/* Which rule of docs/workloads.md a body that is not byte-identical broke. */
static const char *broken_rule(const char *got, size_t glen, const char *want,
                               size_t wlen) {
  cJSON *g = cJSON_ParseWithLength(got, glen), *w = cJSON_ParseWithLength(want, wlen);
  const char *rule = "different values";
  if (!g)
    rule = "not JSON";
  else if (!cJSON_Compare(w, g, 1))
    rule = "different values";
  else if (!same_order(w, g))
    rule = "key order (members in exactly the documented order)";
  else
    rule =
        "number or string formatting (integers without .0 or exponent, strings escaped "
        "as "
        "JSON.stringify, no whitespace)";
  cJSON_Delete(g);
  cJSON_Delete(w);
  return rule;
}

static void compare(const char *what, const resp_t *r, const char *want, size_t wlen) {
  int st = expected_status(want);
  if (r->status != st) {
    failf(what, "status %d, want %d; body %.200s", r->status, st, r->body);
    return;
  }
  if (r->body_len != wlen || memcmp(r->body, want, wlen) != 0) {
    size_t i = 0;
    while (i < r->body_len && i < wlen && r->body[i] == want[i]) i++;
    failf(what,
          "%s: body differs at byte %zu (got %zu bytes, want %zu): got \"%.60s\" want "
          "\"%.60s\"",
          broken_rule(r->body, r->body_len, want, wlen), i, r->body_len, wlen,
          r->body + i, want + i);
    return;
  }
  passed++;
}

static void run_transform(conn_t *c, const char *dir) {
  char d[1024], path[2048], what[512];
  snprintf(d, sizeof(d), "%s/transform", dir);
  int n;
  char **names = list_dir(d, ".input.json", &n);
  for (char **p = names; *p; p++) {
    size_t in_len, want_len, base = strlen(*p) - strlen(".input.json");
    snprintf(what, sizeof(what), "transform/%.*s", (int)base, *p);
    snprintf(path, sizeof(path), "%s/%s", d, *p);
    char *in = read_file(path, &in_len);
    snprintf(path, sizeof(path), "%s/%.*s.expected.json", d, (int)base, *p);
    char *want = read_file(path, &want_len);
    resp_t r;
    with_query(path, sizeof(path), "/transform");
    if (!in || !want)
      failf(what, "cannot read the input or the expected file");
    else if (request(c, "POST", path, "application/json", in, in_len, &r) != 0)
      failf(what, "no response");
    else
      compare(what, &r, want, want_len), resp_free(&r);
    free(in);
    free(want);
  }
  free_list(names);
}

static void run_dashboard(conn_t *c, const char *dir) {
  char d[1024], path[2048], base[128], target[1024], what[512];
  snprintf(d, sizeof(d), "%s/dashboard", dir);
  int n;
  char **names = list_dir(d, ".expected.json", &n);
  for (char **p = names; *p; p++) {
    const char *id = strstr(*p, "customer-");
    size_t want_len;
    snprintf(what, sizeof(what), "dashboard/%s", *p);
    if (!id) {
      failf(what, "the name has no customer-<id>");
      continue;
    }
    id += strlen("customer-");
    snprintf(base, sizeof(base), "/customers/%.*s/dashboard", (int)strcspn(id, "."), id);
    with_query(target, sizeof(target), base);
    snprintf(path, sizeof(path), "%s/%s", d, *p);
    char *want = read_file(path, &want_len);
    resp_t r;
    if (!want)
      failf(what, "cannot read it");
    else if (request(c, "GET", target, NULL, NULL, 0, &r) != 0)
      failf(what, "no response");
    else
      compare(what, &r, want, want_len), resp_free(&r);
    free(want);
  }
  free_list(names);
}

/* ---- items: scripted steps with placeholders ---- */

#define MAX_VARS 32
typedef struct vars_s {
  char name[MAX_VARS][32];
  char value[MAX_VARS][64];
  int n;
} vars_t;

static const char *var_get(const vars_t *v, const char *name, size_t n) {
  for (int i = 0; i < v->n; i++)
    if (strlen(v->name[i]) == n && memcmp(v->name[i], name, n) == 0)
      return v->value[i];
  return NULL;
}

static size_t var_name_len(const char *p) {
  size_t k = 0;
  while ((p[k] >= 'a' && p[k] <= 'z') || (p[k] >= '0' && p[k] <= '9') || p[k] == '_') k++;
  return k;
}

/* Replaces every bound $name in s; -1 if one is unbound. */
static int interpolate(const vars_t *v, const char *s, char *out, size_t n) {
  size_t o = 0;
  for (const char *p = s; *p && o + 1 < n;) {
    size_t k = *p == '$' ? var_name_len(p + 1) : 0;
    if (k == 0) {
      out[o++] = *p++;
      continue;
    }
    const char *val = var_get(v, p + 1, k);
    if (!val)
      return -1;
    o += (size_t)snprintf(out + o, n - o, "%s", val);
    p += 1 + k;
  }
  out[o < n ? o : n - 1] = '\0';
  return 0;
}

static int is_ts(const cJSON *a) {
  const char *s = cJSON_IsString(a) ? a->valuestring : "";
  static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (strlen(s) != sizeof(shape) - 1)
    return 0;
  for (size_t i = 0; shape[i]; i++)
    if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
      return 0;
  return 1;
}

/* The text of a scalar, for binding and comparing placeholders. */
static void scalar_text(const cJSON *a, char *out, size_t n) {
  if (cJSON_IsString(a))
    snprintf(out, n, "%s", a->valuestring);
  else if (cJSON_IsNumber(a))
    snprintf(out, n, "%.17g", a->valuedouble);
  else
    snprintf(out, n, "(%s)", cJSON_IsNull(a) ? "null" : "non-scalar");
}

/* "$ts": a timestamp; "$any": anything; "$name": binds or must equal. */
static int match_placeholder(vars_t *v, const char *pat, const cJSON *a, char *why,
                             size_t wn) {
  const char *name = pat + 1;
  char text[64];
  if (strcmp(name, "any") == 0)
    return 0;
  if (strcmp(name, "ts") == 0) {
    if (is_ts(a))
      return 0;
    return snprintf(why, wn, "not an RFC 3339 UTC timestamp with milliseconds"), -1;
  }
  scalar_text(a, text, sizeof(text));
  const char *bound = var_get(v, name, strlen(name));
  if (bound)
    return strcmp(bound, text) == 0
               ? 0
               : (snprintf(why, wn, "%s is %s, got %s", pat, bound, text), -1);
  if (v->n == MAX_VARS)
    return snprintf(why, wn, "too many variables"), -1;
  snprintf(v->name[v->n], sizeof(v->name[0]), "%s", name);
  snprintf(v->value[v->n++], sizeof(v->value[0]), "%s", text);
  return 0;
}

static int match(vars_t *v, const cJSON *want, const cJSON *got, const char *at,
                 char *why, size_t wn) {
  if (cJSON_IsString(want) && want->valuestring[0] == '$' &&
      var_name_len(want->valuestring + 1) == strlen(want->valuestring + 1))
    return match_placeholder(v, want->valuestring, got, why, wn) ? -1 : 0;
  if ((want->type & 0xFF) != (got->type & 0xFF))
    return snprintf(why, wn, "%s: different type", at), -1;
  if (cJSON_IsNumber(want) && want->valuedouble != got->valuedouble)
    return snprintf(why, wn, "%s: %.17g, want %.17g", at, got->valuedouble,
                    want->valuedouble),
           -1;
  if (cJSON_IsString(want)) {
    char exp[4096];
    if (interpolate(v, want->valuestring, exp, sizeof(exp)) != 0)
      return snprintf(why, wn, "%s: unbound variable in \"%s\"", at, want->valuestring),
             -1;
    if (strcmp(exp, got->valuestring) != 0)
      return snprintf(why, wn, "%s: \"%.100s\", want \"%.100s\"", at, got->valuestring,
                      exp),
             -1;
  }
  if (!cJSON_IsArray(want) && !cJSON_IsObject(want))
    return 0;
  if (cJSON_GetArraySize(want) != cJSON_GetArraySize(got))
    return snprintf(why, wn, "%s: %d members, want %d", at, cJSON_GetArraySize(got),
                    cJSON_GetArraySize(want)),
           -1;
  const cJSON *w = want->child, *g = got->child;
  for (int i = 0; w; w = w->next, g = g->next, i++) {
    char sub[256];
    if (cJSON_IsObject(want) && strcmp(w->string, g->string) != 0)
      return snprintf(why, wn, "%s: key \"%s\", want \"%s\" (key order matters)", at,
                      g->string, w->string),
             -1;
    if (cJSON_IsObject(want))
      snprintf(sub, sizeof(sub), "%s/%s", at, w->string);
    else
      snprintf(sub, sizeof(sub), "%s/%d", at, i);
    if (match(v, w, g, sub, why, wn))
      return -1;
  }
  return 0;
}

static int check_step(vars_t *v, const cJSON *step, const resp_t *r, char *why,
                      size_t wn) {
  const cJSON *st = cJSON_GetObjectItem(step, "status");
  const cJSON *want = cJSON_GetObjectItem(step, "response");
  const cJSON *hdr = cJSON_GetObjectItem(step, "location");
  if (cJSON_IsNumber(st) && r->status != st->valueint)
    return snprintf(why, wn, "status %d, want %d; body %.200s", r->status, st->valueint,
                    r->body),
           -1;
  if (cJSON_IsTrue(cJSON_GetObjectItem(step, "empty_body")) && r->body_len != 0)
    return snprintf(why, wn, "body not empty: %.100s", r->body), -1;
  if (want) {
    cJSON *got = cJSON_ParseWithLength(r->body, r->body_len);
    int rc = got ? match(v, want, got, "body", why, wn)
                 : (snprintf(why, wn, "body is not JSON: %.100s", r->body), -1);
    cJSON_Delete(got);
    if (rc)
      return -1;
  }
  if (cJSON_IsString(hdr)) {
    char exp[256];
    if (interpolate(v, hdr->valuestring, exp, sizeof(exp)) ||
        strcmp(exp, r->location) != 0)
      return snprintf(why, wn, "Location \"%s\", want \"%s\"", r->location,
                      hdr->valuestring),
             -1;
  }
  return 0;
}

static void run_step(conn_t *c, vars_t *v, const cJSON *step, const char *what) {
  const cJSON *m = cJSON_GetObjectItem(step, "method"),
              *p = cJSON_GetObjectItem(step, "path");
  const cJSON *body = cJSON_GetObjectItem(step, "body"),
              *raw = cJSON_GetObjectItem(step, "raw_body");
  const cJSON *ct = cJSON_GetObjectItem(step, "content_type");
  char path[1024], why[512];
  if (!cJSON_IsString(m) || !cJSON_IsString(p) ||
      interpolate(v, p->valuestring, path, sizeof(path))) {
    failf(what, "bad step (method, path, or an unbound variable in the path)");
    return;
  }
  char *text = body ? cJSON_PrintUnformatted(body) : NULL;
  const char *send = text ? text : cJSON_IsString(raw) ? raw->valuestring : NULL;
  /* "content_type": null sends none at all */
  const char *ctype = cJSON_IsString(ct)          ? ct->valuestring
                      : send && !cJSON_IsNull(ct) ? "application/json"
                                                  : NULL;
  resp_t r;
  if (request(c, m->valuestring, path, ctype, send, send ? strlen(send) : 0, &r) != 0)
    failf(what, "no response");
  else if (check_step(v, step, &r, why, sizeof(why)) != 0)
    failf(what, "%s", why);
  else
    passed++;
  if (r.body)
    resp_free(&r);
  free(text);
}

static void run_items(conn_t *c, const char *dir) {
  char d[1024], path[1200], what[512];
  snprintf(d, sizeof(d), "%s/items", dir);
  int n;
  char **names = list_dir(d, ".script.json", &n);
  for (char **p = names; *p; p++) {
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", d, *p);
    char *text = read_file(path, &len);
    cJSON *script = text ? cJSON_ParseWithLength(text, len) : NULL;
    const cJSON *steps = cJSON_GetObjectItem(script, "steps");
    vars_t v = {.n = 0};
    if (!cJSON_IsArray(steps))
      failf(*p, "not a script ({\"steps\":[...]})");
    int i = 0;
    for (const cJSON *s = steps ? steps->child : NULL; s; s = s->next, i++) {
      const cJSON *name = cJSON_GetObjectItem(s, "name");
      snprintf(what, sizeof(what), "items/%s step %d (%s)", *p, i,
               cJSON_IsString(name) ? name->valuestring : "");
      run_step(c, &v, s, what);
    }
    cJSON_Delete(script);
    free(text);
  }
  free_list(names);
}

/* ---- main ---- */

static int usage(const char *msg) {
  fprintf(stderr,
          "looplab-conform: %s (usage: looplab-conform --url http://127.0.0.1:PORT "
          "[--dir DIR] [--only transform|dashboard|items] [--query k=v] | "
          "--free-port | --wait-ready http://127.0.0.1:PORT SECONDS)\n",
          msg);
  return 2;
}

/* For scripts: a port nobody listens on now (bound to 0, read, closed). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t n = sizeof(a);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
      getsockname(fd, (struct sockaddr *)&a, &n)) {
    perror("looplab-conform: free port");
    return 1;
  }
  printf("%d\n", ntohs(a.sin_port));
  close(fd);
  return 0;
}

/* For scripts: polls GET /readyz until 200 (exit 0) or the deadline (1). */
static int wait_ready(const char *url, const char *secs) {
  conn_t c = {.fd = -1};
  if (sscanf(url, "http://%63[0-9.]:%d", c.host, &c.port) != 2)
    return usage("bad url");
  struct timeval t0, t;
  gettimeofday(&t0, NULL);
  for (;;) {
    resp_t r = {0};
    if (request(&c, "GET", "/readyz", NULL, NULL, 0, &r) == 0 && r.status == 200) {
      resp_free(&r);
      conn_close(&c);
      free(c.buf);
      return 0;
    }
    resp_free(&r);
    conn_close(&c);
    gettimeofday(&t, NULL);
    if ((t.tv_sec - t0.tv_sec) * 1000.0 + (t.tv_usec - t0.tv_usec) / 1000.0 >
        atof(secs) * 1000) {
      free(c.buf);
      fprintf(stderr, "looplab-conform: %s/readyz not 200 within %s s\n", url, secs);
      return 1;
    }
    usleep(100 * 1000);
  }
}

int main(int argc, char **argv) {
  const char *url = NULL, *dir = "test/conformance", *only = NULL;
  if (argc == 2 && !strcmp(argv[1], "--free-port"))
    return free_port();
  if (argc == 4 && !strcmp(argv[1], "--wait-ready"))
    return wait_ready(argv[2], argv[3]);
  for (int i = 1; i < argc; i++) {
    const char **dst = !strcmp(argv[i], "--url")     ? &url
                       : !strcmp(argv[i], "--dir")   ? &dir
                       : !strcmp(argv[i], "--only")  ? &only
                       : !strcmp(argv[i], "--query") ? &query
                                                     : NULL;
    if (!dst)
      return usage("unknown argument");
    if (i + 1 >= argc)
      return usage("missing value");
    *dst = argv[++i];
  }
  conn_t c = {.fd = -1};
  if (!url || sscanf(url, "http://%63[0-9.]:%d", c.host, &c.port) != 2)
    return usage("--url must be http://IPv4:PORT");
  if (only && strcmp(only, "transform") && strcmp(only, "dashboard") &&
      strcmp(only, "items"))
    return usage("--only must be transform, dashboard or items");
  if (!only || !strcmp(only, "transform"))
    run_transform(&c, dir);
  if (!only || !strcmp(only, "dashboard"))
    run_dashboard(&c, dir);
  if (!only || !strcmp(only, "items"))
    run_items(&c, dir);
  conn_close(&c);
  free(c.buf);
  printf("%d passed, %d failed\n", passed, failed);
  return failed || passed == 0 ? 1 : 0;
}
