/* The command line. Every flag takes "--flag value" or "--flag=value"; a
 * bad one is reported in one line and the caller exits 2, as the server
 * does (SPEC section 3). Parsing is pure so that the tests can drive it. */
#include "load.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static int bad(char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, n, fmt, ap);
  va_end(ap);
  return UV_EINVAL;
}

static char *dup(const char *s) {
  char *d = strdup(s);
  if (d == NULL)
    abort();
  return d;
}

static void set_str(char **dst, const char *s) {
  free(*dst);
  *dst = dup(s);
}

/* Parses a non-negative decimal number at *s, advancing it. */
static int number(const char **s, double *v) {
  char *end;
  if (!isdigit((unsigned char)**s) && **s != '.')
    return UV_EINVAL;
  errno = 0;
  *v = strtod(*s, &end);
  if (errno != 0 || end == *s || !isfinite(*v))
    return UV_EINVAL;
  *s = end;
  return 0;
}

/* A duration in µs; bare numbers are in default_us units. */
static int duration_us(const char *s, double default_us, double *out) {
  double total = 0, v;
  int parts = 0;

  if (*s == '\0')
    return UV_EINVAL;
  while (*s) {
    double unit;
    if (number(&s, &v) != 0)
      return UV_EINVAL;
    if (strncmp(s, "ms", 2) == 0)
      unit = 1e3, s += 2;
    else if (strncmp(s, "us", 2) == 0)
      unit = 1, s += 2;
    else if (strncmp(s, "\xc2\xb5s", 3) == 0) /* µs */
      unit = 1, s += 3;
    else if (strncmp(s, "ns", 2) == 0)
      unit = 1e-3, s += 2;
    else if (*s == 'h')
      unit = 3600e6, s++;
    else if (*s == 'm')
      unit = 60e6, s++;
    else if (*s == 's')
      unit = 1e6, s++;
    else if (*s == '\0' && parts == 0)
      unit = default_us;
    else
      return UV_EINVAL;
    total += v * unit;
    parts++;
  }
  *out = total;
  return 0;
}

int load_parse_duration_ms(const char *s, uint64_t *ms) {
  double us;
  if (duration_us(s, 1e6, &us) != 0 || us > 1e15)
    return UV_EINVAL;
  *ms = (uint64_t)llround(us / 1e3);
  return 0;
}

int load_parse_size(const char *s, uint64_t *bytes) {
  double v, mult = 1;
  if (number(&s, &v) != 0)
    return UV_EINVAL;
  if (*s == 'k' || *s == 'K')
    mult = 1e3, s++;
  else if (*s == 'M')
    mult = 1e6, s++;
  else if (*s == 'G')
    mult = 1e9, s++;
  if (*s == 'B' || *s == 'b')
    s++;
  if (*s != '\0' || v * mult > 1e15)
    return UV_EINVAL;
  *bytes = (uint64_t)llround(v * mult);
  return 0;
}

int load_parse_stages(const char *s, load_stage_t *st, int cap, int *n) {
  char buf[64];
  *n = 0;
  while (*s) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    char *colon, *end;
    double target;

    if (len == 0 || len >= sizeof(buf) || *n >= cap)
      return UV_EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    colon = strchr(buf, ':');
    if (colon == NULL)
      return UV_EINVAL;
    *colon = '\0';
    if (load_parse_duration_ms(buf, &st[*n].dur_ms) != 0)
      return UV_EINVAL;
    errno = 0;
    target = strtod(colon + 1, &end);
    if (errno || end == colon + 1 || *end != '\0' || target < 0 || !isfinite(target))
      return UV_EINVAL;
    st[*n].target = target;
    (*n)++;
    s += len;
    if (*s == ',' && *++s == '\0')
      return UV_EINVAL;
  }
  return *n > 0 ? 0 : UV_EINVAL;
}

/* ---- thresholds ---- */

static const struct {
  const char *name;
  int metric;
  int def_agg;
} metrics[] = {
    {"http_req_duration", LOAD_M_DURATION, LOAD_A_AVG},
    {"http_req_failed", LOAD_M_FAILED, LOAD_A_RATE},
    {"http_reqs", LOAD_M_REQS, LOAD_A_COUNT},
    {"iterations", LOAD_M_ITERS, LOAD_A_COUNT},
    {"dropped_iterations", LOAD_M_DROPPED, LOAD_A_COUNT},
    {"server_rss", LOAD_M_SRV_RSS, LOAD_A_PEAK},
    {"server_pss", LOAD_M_SRV_PSS, LOAD_A_PEAK},
    {"server_cpu", LOAD_M_SRV_CPU, LOAD_A_PER_REQ},
};

static int metric_by_name(const char *s, size_t n, int *def_agg) {
  for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++)
    if (strlen(metrics[i].name) == n && memcmp(metrics[i].name, s, n) == 0) {
      *def_agg = metrics[i].def_agg;
      return metrics[i].metric;
    }
  return -1;
}

static int agg_by_name(const char *s, size_t n, double *pct) {
  static const struct {
    const char *name;
    int agg;
  } aggs[] = {{"avg", LOAD_A_AVG},   {"min", LOAD_A_MIN},   {"med", LOAD_A_MED},
              {"max", LOAD_A_MAX},   {"rate", LOAD_A_RATE}, {"count", LOAD_A_COUNT},
              {"peak", LOAD_A_PEAK}, {"mean", LOAD_A_MEAN}, {"per_req", LOAD_A_PER_REQ}};
  char buf[32];
  char *end;

  for (size_t i = 0; i < sizeof(aggs) / sizeof(aggs[0]); i++)
    if (strlen(aggs[i].name) == n && memcmp(aggs[i].name, s, n) == 0)
      return aggs[i].agg;
  if (n < 4 || n >= sizeof(buf) || memcmp(s, "p(", 2) != 0 || s[n - 1] != ')')
    return -1;
  memcpy(buf, s + 2, n - 3);
  buf[n - 3] = '\0';
  errno = 0;
  *pct = strtod(buf, &end);
  if (errno || end == buf || *end != '\0' || *pct < 0 || *pct > 100)
    return -1;
  return LOAD_A_P;
}

/* Which aggregations make sense for a metric, and in which unit its limit
 * is read: 'd' duration (µs), 'f' fraction, 'n' number, 'b' bytes. */
static char limit_unit(int metric, int agg) {
  switch (metric) {
    case LOAD_M_DURATION:
      return agg <= LOAD_A_P ? 'd' : 0;
    case LOAD_M_FAILED:
      return agg == LOAD_A_RATE ? 'f' : agg == LOAD_A_COUNT ? 'n' : 0;
    case LOAD_M_REQS:
    case LOAD_M_ITERS:
    case LOAD_M_DROPPED:
      return agg == LOAD_A_RATE || agg == LOAD_A_COUNT ? 'n' : 0;
    case LOAD_M_SRV_RSS:
    case LOAD_M_SRV_PSS:
      return agg == LOAD_A_PEAK || agg == LOAD_A_MEAN ? 'b' : 0;
    case LOAD_M_SRV_CPU:
      return agg == LOAD_A_PER_REQ ? 'd' : agg == LOAD_A_COUNT ? 'n' : 0;
  }
  return 0;
}

static int limit_value(char unit, const char *s, double *v) {
  uint64_t b;
  const char *p = s;
  size_t n = strlen(s);

  switch (unit) {
    case 'd':
      return duration_us(s, 1e3, v); /* k6 reads bare durations as ms */
    case 'b':
      if (load_parse_size(s, &b) != 0)
        return UV_EINVAL;
      *v = (double)b;
      return 0;
    case 'f':
      if (n > 0 && s[n - 1] == '%') {
        char buf[32];
        if (n >= sizeof(buf))
          return UV_EINVAL;
        memcpy(buf, s, n - 1);
        buf[n - 1] = '\0';
        p = buf;
        if (number(&p, v) != 0 || *p != '\0')
          return UV_EINVAL;
        *v /= 100;
        return 0;
      }
      /* fall through */
    default:
      if (number(&p, v) != 0)
        return UV_EINVAL;
      if (strcmp(p, "/s") == 0)
        p += 2;
      return *p == '\0' ? 0 : UV_EINVAL;
  }
}

int load_parse_threshold(const char *s, load_threshold_t *t) {
  const char *op = strpbrk(s, "<>=!");
  const char *lhs_end, *colon, *rhs;
  int def_agg = LOAD_A_AVG;
  char unit;

  memset(t, 0, sizeof(*t));
  if (op == NULL || strlen(s) >= sizeof(t->text))
    return UV_EINVAL;
  strcpy(t->text, s);
  lhs_end = op;
  while (lhs_end > s && lhs_end[-1] == ' ') lhs_end--;
  if (op[0] == '<' && op[1] == '=')
    t->op = LOAD_OP_LE, rhs = op + 2;
  else if (op[0] == '>' && op[1] == '=')
    t->op = LOAD_OP_GE, rhs = op + 2;
  else if (op[0] == '=' && op[1] == '=')
    t->op = LOAD_OP_EQ, rhs = op + 2;
  else if (op[0] == '!' && op[1] == '=')
    t->op = LOAD_OP_NE, rhs = op + 2;
  else if (op[0] == '<')
    t->op = LOAD_OP_LT, rhs = op + 1;
  else if (op[0] == '>')
    t->op = LOAD_OP_GT, rhs = op + 1;
  else
    return UV_EINVAL;
  while (*rhs == ' ') rhs++;

  colon = memchr(s, ':', (size_t)(lhs_end - s));
  if (colon != NULL) {
    t->metric = metric_by_name(s, (size_t)(colon - s), &def_agg);
    if (t->metric < 0)
      return UV_EINVAL;
    t->agg = agg_by_name(colon + 1, (size_t)(lhs_end - colon - 1), &t->pct);
  } else {
    /* Either a metric with its usual aggregation ("http_req_failed<0.01")
     * or an aggregation of http_req_duration ("p(99)<250ms"). */
    t->metric = metric_by_name(s, (size_t)(lhs_end - s), &def_agg);
    if (t->metric >= 0) {
      t->agg = def_agg;
    } else {
      t->metric = LOAD_M_DURATION;
      t->agg = agg_by_name(s, (size_t)(lhs_end - s), &t->pct);
    }
  }
  if (t->agg < 0 || (unit = limit_unit(t->metric, t->agg)) == 0)
    return UV_EINVAL;
  return limit_value(unit, rhs, &t->limit);
}

/* ---- the command line ---- */

static int parse_uint(const char *s, uint64_t max, uint64_t *v) {
  char *end;
  if (!isdigit((unsigned char)*s))
    return UV_EINVAL;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  if (errno || *end != '\0' || x > max)
    return UV_EINVAL;
  *v = x;
  return 0;
}

static int parse_range(const char *s, int64_t *lo, int64_t *hi) {
  char buf[64];
  char *dash;
  uint64_t a, b;
  if (strlen(s) >= sizeof(buf))
    return UV_EINVAL;
  strcpy(buf, s);
  dash = strchr(buf, '-');
  if (dash == NULL)
    return UV_EINVAL;
  *dash = '\0';
  if (parse_uint(buf, INT64_MAX, &a) || parse_uint(dash + 1, INT64_MAX, &b) || a < 1 ||
      b < a)
    return UV_EINVAL;
  *lo = (int64_t)a;
  *hi = (int64_t)b;
  return 0;
}

/* "name=weight,..." over names[]; unnamed entries keep 0. */
static int parse_weights(const char *s, const char *const *names, int count,
                         unsigned *w) {
  char buf[256];
  char *save = NULL, *tok;
  unsigned total = 0;

  if (strlen(s) >= sizeof(buf))
    return UV_EINVAL;
  strcpy(buf, s);
  for (int i = 0; i < count; i++) w[i] = 0;
  for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '=');
    uint64_t v;
    int i;
    if (eq == NULL)
      return UV_EINVAL;
    *eq = '\0';
    for (i = 0; i < count; i++)
      if (strcmp(tok, names[i]) == 0)
        break;
    if (i == count || parse_uint(eq + 1, 1000000, &v) != 0)
      return UV_EINVAL;
    w[i] = (unsigned)v;
    total += (unsigned)v;
  }
  return total > 0 ? 0 : UV_EINVAL;
}

static const char *const scenario_names[] = {"get", "crud", "dashboard", "transform"};
static const char *const op_names[] = {"create", "read", "update", "delete", "list"};

static int parse_url(load_opts_t *o, const char *url, char *err, size_t n) {
  const char *h = url + 7, *end, *colon;
  size_t hl;

  if (strncmp(url, "http://", 7) != 0)
    return bad(err, n, "--url: only http:// URLs are supported, got '%s'", url);
  end = h + strcspn(h, "/?");
  if (*h == '[') { /* [v6]:port */
    const char *rb = memchr(h, ']', (size_t)(end - h));
    if (rb == NULL)
      return bad(err, n, "--url: bad IPv6 address in '%s'", url);
    hl = (size_t)(rb - h - 1);
    memcpy(o->host, h + 1, hl < sizeof(o->host) ? hl : 0);
    colon = rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = memchr(h, ':', (size_t)(end - h));
    hl = (size_t)((colon ? colon : end) - h);
    if (hl < sizeof(o->host))
      memcpy(o->host, h, hl);
  }
  if (hl == 0 || hl >= sizeof(o->host))
    return bad(err, n, "--url: bad host in '%s'", url);
  o->host[hl] = '\0';
  if (colon) {
    size_t pl = (size_t)(end - colon - 1);
    uint64_t port;
    char pbuf[8];
    if (pl == 0 || pl >= sizeof(pbuf))
      return bad(err, n, "--url: bad port in '%s'", url);
    memcpy(pbuf, colon + 1, pl);
    pbuf[pl] = '\0';
    if (parse_uint(pbuf, 65535, &port) != 0 || port == 0)
      return bad(err, n, "--url: bad port in '%s'", url);
    snprintf(o->port, sizeof(o->port), "%u", (unsigned)port);
  } else {
    strcpy(o->port, "80");
  }
  set_str(&o->path, *end == '\0' ? "/" : end);
  if (o->path[0] == '?') { /* "http://h?x" means "/?x" */
    char *p = malloc(strlen(o->path) + 2);
    if (p == NULL)
      abort();
    p[0] = '/';
    strcpy(p + 1, o->path);
    free(o->path);
    o->path = p;
  }
  set_str(&o->url, url);
  return 0;
}

static void defaults(load_opts_t *o) {
  memset(o, 0, sizeof(*o));
  o->vus = 1;
  o->duration_ms = 10000;
  o->graceful_stop_ms = 30000;
  o->graceful_ramp_down_ms = 30000;
  o->timeout_ms = 60000;
  o->seed = 1;
  o->weights[LOAD_SC_GET] = 1;
  o->crud_mix[LOAD_OP_CREATE] = 20;
  o->crud_mix[LOAD_OP_READ] = 50;
  o->crud_mix[LOAD_OP_UPDATE] = 15;
  o->crud_mix[LOAD_OP_DELETE] = 10;
  o->crud_mix[LOAD_OP_LIST] = 5;
  o->items_lo = 1;
  o->items_hi = 100000;
  o->customers_lo = 1;
  o->customers_hi = 10000;
  o->expect_status = 200;
  o->gen_cmd = dup("build/looplab-gen --seed {seed} --size {size}");
}

static const char *long_name(const char *a) {
  static const struct {
    const char *s, *l;
  } shorts[] = {{"-u", "vus"},   {"-d", "duration"}, {"-s", "stages"},  {"-H", "header"},
                {"-q", "quiet"}, {"-h", "help"},     {"-V", "version"}, {"-o", "out"}};
  for (size_t i = 0; i < sizeof(shorts) / sizeof(shorts[0]); i++)
    if (strcmp(a, shorts[i].s) == 0)
      return shorts[i].l;
  return strncmp(a, "--", 2) == 0 ? a + 2 : NULL;
}

static int apply(load_opts_t *o, const char *name, const char *v, int *seen, char *err,
                 size_t n);
static int is_switch(const char *name);
struct opt_s;
static const struct opt_s *find(const char *name);

/* Flags seen, for the checks that span flags. */
enum {
  SEEN_DURATION = 1,
  SEEN_STAGES = 2,
  SEEN_RATE = 4,
  SEEN_MAXVUS = 8,
  SEEN_SCENARIO = 16,
  SEEN_MIX = 32,
  SEEN_URL = 64
};

static int check(load_opts_t *o, int seen, char *err, size_t n) {
  int sc_set = 0;

  if ((seen & SEEN_DURATION) && (seen & SEEN_STAGES))
    return bad(err, n, "--duration and --stages exclude each other");
  if (seen & SEEN_RATE)
    o->model = LOAD_OPEN;
  if ((seen & SEEN_MAXVUS) && o->model != LOAD_OPEN)
    return bad(err, n, "--max-vus applies to the open model only (give --rate)");
  if (o->model == LOAD_CLOSED && !(seen & SEEN_STAGES) && o->vus == 0)
    return bad(err, n, "--vus: must be at least 1");
  if (o->model == LOAD_OPEN) {
    if (o->rate <= 0 && !(seen & SEEN_STAGES))
      return bad(err, n, "--rate: must be more than 0");
    if (!o->vus_set)
      o->vus = 10;
    if (o->max_vus == 0)
      o->max_vus = o->vus > 1000 ? o->vus : 1000;
    if (o->vus > o->max_vus)
      o->vus = o->max_vus;
  } else if ((seen & SEEN_STAGES) && !o->vus_set) {
    o->vus = 1; /* k6's startVUs */
  }
  if (!(seen & SEEN_STAGES) && o->duration_ms == 0)
    return bad(err, n, "--duration: must be more than 0");
  if ((seen & SEEN_SCENARIO) && (seen & SEEN_MIX))
    return bad(err, n, "--scenario and --mix exclude each other");
  for (int i = 0; i < LOAD_SC_COUNT; i++) sc_set += o->weights[i] > 0;
  if (o->weights[LOAD_SC_GET] && !(seen & SEEN_URL))
    return bad(err, n, "--url: required for the get scenario");
  if (!(seen & SEEN_URL) && parse_url(o, "http://127.0.0.1:8080/", err, n) != 0)
    return UV_EINVAL;
  if (o->weights[LOAD_SC_TRANSFORM] && o->nbody_files == 0 && o->ntransform_sizes == 0)
    return bad(err, n, "the transform scenario needs --body-file or --transform-sizes");
  if (o->sleep_max_ms < o->sleep_min_ms)
    return bad(err, n, "--sleep: the range is reversed");
  (void)sc_set;
  return 0;
}

int load_opts_parse(load_opts_t *o, int argc, char **argv, char *err, size_t errlen) {
  int seen = 0;

  defaults(o);
  err[0] = '\0';
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *name, *eq, *v = NULL;
    char nbuf[48];
    int rc;

    name = long_name(a);
    if (name == NULL && a[0] == '-' && a[1] != '\0')
      return bad(err, errlen, "unknown option '%s' (see --help)", a);
    if (name == NULL)
      return bad(err, errlen, "unexpected argument '%s' (see --help)", a);
    eq = strchr(name, '=');
    if (eq != NULL) {
      size_t nl = (size_t)(eq - name);
      if (nl >= sizeof(nbuf))
        return bad(err, errlen, "unknown option '%s' (see --help)", a);
      memcpy(nbuf, name, nl);
      nbuf[nl] = '\0';
      name = nbuf;
      v = eq + 1;
    }
    if (strcmp(name, "help") == 0)
      return LOAD_OPTS_HELP;
    if (strcmp(name, "version") == 0)
      return LOAD_OPTS_VERSION;
    if (find(name) == NULL)
      return bad(err, errlen, "unknown option '--%s' (see --help)", name);
    if (is_switch(name)) {
      if (v != NULL)
        return bad(err, errlen, "--%s takes no value", name);
    } else if (v == NULL) {
      if (i + 1 >= argc)
        return bad(err, errlen, "--%s: missing value", name);
      v = argv[++i];
    }
    rc = apply(o, name, v, &seen, err, errlen);
    if (rc != 0)
      return rc;
  }
  return check(o, seen, err, errlen);
}

/* The flags, as core/config.c's table: a typed field (a string, a whole
 * number in a range, a duration, a switch) is parsed by its type; what
 * needs more than that has a function. IS() tells apart names that share
 * one. */
#define IS(s) (strcmp(name, s) == 0)
static int opt_url(load_opts_t *o, const char *name, const char *v, int *seen, char *err,
                   size_t n) {
  *seen |= SEEN_URL;
  return parse_url(o, v, err, n);
}

static int opt_header(load_opts_t *o, const char *name, const char *v, int *seen,
                      char *err, size_t n) {
  if (strchr(v, ':') == NULL || strpbrk(v, "\r\n") != NULL)
    return bad(err, n, "--header: expected 'Name: value', got '%s'", v);
  if (o->nheaders >= LOAD_MAX_HEADERS)
    return bad(err, n, "--header: at most %d", LOAD_MAX_HEADERS);
  o->headers[o->nheaders++] = dup(v);
  return 0;
}

static int opt_vus(load_opts_t *o, const char *name, const char *v, int *seen, char *err,
                   size_t n) {
  uint64_t u;
  if (parse_uint(v, 1000000, &u) != 0)
    return bad(err, n, "--vus: expected a whole number up to 1000000, got '%s'", v);
  o->vus = (unsigned)u;
  o->vus_set = 1;
  return 0;
}

static int opt_stages(load_opts_t *o, const char *name, const char *v, int *seen,
                      char *err, size_t n) {
  if (load_parse_stages(v, o->stages, LOAD_MAX_STAGES, &o->nstages) != 0)
    return bad(err, n,
               "--stages: expected DURATION:TARGET[,...] like 30s:100,1m:100,30s:0, "
               "got '%s'",
               v);
  *seen |= SEEN_STAGES;
  return 0;
}

static int opt_rate(load_opts_t *o, const char *name, const char *v, int *seen, char *err,
                    size_t n) {
  double d;
  const char *p = v;
  if (number(&p, &d) != 0 || (*p && strcmp(p, "/s") != 0) || d > 1e7)
    return bad(err, n, "--rate: expected iterations per second, got '%s'", v);
  o->rate = d;
  *seen |= SEEN_RATE;
  return 0;
}

static int opt_sleep(load_opts_t *o, const char *name, const char *v, int *seen,
                     char *err, size_t n) {
  const char *dash = strchr(v, '-');
  char buf[64];
  if (strlen(v) >= sizeof(buf))
    return bad(err, n, "--sleep: bad value '%s'", v);
  strcpy(buf, v);
  if (dash)
    buf[dash - v] = '\0';
  if (load_parse_duration_ms(buf, &o->sleep_min_ms) != 0 ||
      load_parse_duration_ms(dash ? dash + 1 : buf, &o->sleep_max_ms) != 0)
    return bad(err, n, "--sleep: expected a duration or a range like 1s-3s, got '%s'", v);
  return 0;
}

static int opt_scenario(load_opts_t *o, const char *name, const char *v, int *seen,
                        char *err, size_t n) {
  int i;
  for (i = 0; i < LOAD_SC_COUNT; i++)
    if (strcmp(v, scenario_names[i]) == 0)
      break;
  if (strcmp(v, "mixed") == 0) {
    static const unsigned w[LOAD_SC_COUNT] = {0, 70, 20, 10};
    memcpy(o->weights, w, sizeof(w));
  } else if (i == LOAD_SC_COUNT) {
    return bad(err, n,
               "--scenario: expected get, crud, dashboard, transform or mixed, "
               "got '%s'",
               v);
  } else {
    memset(o->weights, 0, sizeof(o->weights));
    o->weights[i] = 1;
  }
  *seen |= SEEN_SCENARIO;
  return 0;
}

static int opt_mix(load_opts_t *o, const char *name, const char *v, int *seen, char *err,
                   size_t n) {
  if (parse_weights(v, scenario_names, LOAD_SC_COUNT, o->weights) != 0)
    return bad(err, n,
               "--mix: expected NAME=WEIGHT,... over get, crud, dashboard, "
               "transform, got '%s'",
               v);
  *seen |= SEEN_MIX;
  return 0;
}

static int opt_crud_mix(load_opts_t *o, const char *name, const char *v, int *seen,
                        char *err, size_t n) {
  if (parse_weights(v, op_names, LOAD_OP_COUNT, o->crud_mix) != 0)
    return bad(err, n,
               "--crud-mix: expected NAME=WEIGHT,... over create, read, update, "
               "delete, list, got '%s'",
               v);
  return 0;
}

static int opt_items(load_opts_t *o, const char *name, const char *v, int *seen,
                     char *err, size_t n) {
  if (parse_range(v, IS("items") ? &o->items_lo : &o->customers_lo,
                  IS("items") ? &o->items_hi : &o->customers_hi) != 0)
    return bad(err, n, "--%s: expected an id range like 1-100000, got '%s'", name, v);
  return 0;
}

static int opt_queries(load_opts_t *o, const char *name, const char *v, int *seen,
                       char *err, size_t n) {
  if (strcmp(v, "sequential") && strcmp(v, "parallel") && strcmp(v, "pipeline"))
    return bad(err, n, "--queries: expected sequential, parallel or pipeline, got '%s'",
               v);
  set_str(&o->queries, v);
  return 0;
}

static int opt_transform_mode(load_opts_t *o, const char *name, const char *v, int *seen,
                              char *err, size_t n) {
  if (strcmp(v, "loop") && strcmp(v, "pool"))
    return bad(err, n, "--transform-mode: expected loop or pool, got '%s'", v);
  set_str(&o->transform_mode, v);
  return 0;
}

static int opt_body_file(load_opts_t *o, const char *name, const char *v, int *seen,
                         char *err, size_t n) {
  if (o->nbody_files + o->ntransform_sizes >= LOAD_MAX_BODIES)
    return bad(err, n, "--body-file: at most %d bodies", LOAD_MAX_BODIES);
  o->body_files[o->nbody_files++] = dup(v);
  return 0;
}

static int opt_transform_sizes(load_opts_t *o, const char *name, const char *v, int *seen,
                               char *err, size_t n) {
  char buf[512], *save = NULL, *tok;
  if (strlen(v) >= sizeof(buf))
    return bad(err, n, "--transform-sizes: too long");
  strcpy(buf, v);
  for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (o->nbody_files + o->ntransform_sizes >= LOAD_MAX_BODIES ||
        load_parse_size(tok, &o->transform_sizes[o->ntransform_sizes]) != 0 ||
        o->transform_sizes[o->ntransform_sizes] == 0)
      return bad(err, n, "--transform-sizes: expected sizes like 100k,500k, got '%s'", v);
    o->ntransform_sizes++;
  }
  return 0;
}

static int opt_threshold(load_opts_t *o, const char *name, const char *v, int *seen,
                         char *err, size_t n) {
  if (o->nthresholds >= LOAD_MAX_THRESHOLDS)
    return bad(err, n, "--threshold: at most %d", LOAD_MAX_THRESHOLDS);
  if (load_parse_threshold(v, &o->thresholds[o->nthresholds]) != 0)
    return bad(err, n,
               "--threshold: cannot read '%s' (try 'p(99)<250ms' or "
               "'http_req_failed<0.01')",
               v);
  o->nthresholds++;
  return 0;
}

static int opt_server_pid(load_opts_t *o, const char *name, const char *v, int *seen,
                          char *err, size_t n) {
  uint64_t u;
  if (parse_uint(v, 4194304, &u) != 0 || u == 0)
    return bad(err, n, "--server-pid: expected a process id, got '%s'", v);
  if (o->nserver_pids >= LOAD_MAX_PIDS)
    return bad(err, n, "--server-pid: at most %d", LOAD_MAX_PIDS);
  o->server_pids[o->nserver_pids++] = (int)u;
  return 0;
}
/* k6's --out json=FILE and --out csv=FILE; repeatable. */
static int opt_out(load_opts_t *o, const char *name, const char *v, int *seen, char *err,
                   size_t n) {
  int csv = strncmp(v, "csv=", 4) == 0;
  if ((!csv && strncmp(v, "json=", 5) != 0) || v[csv ? 4 : 5] == '\0')
    return bad(err, n, "--out: expected json=FILE or csv=FILE, got '%s'", v);
  if (o->nouts >= LOAD_MAX_OUTS)
    return bad(err, n, "--out: at most %d", LOAD_MAX_OUTS);
  o->out_csv[o->nouts] = csv;
  o->outs[o->nouts++] = dup(v + (csv ? 4 : 5));
  return 0;
}
#undef IS

typedef enum { T_STR, T_UINT, T_INT, T_U64, T_MS, T_SWITCH, T_FN } opt_type_t;
typedef int (*opt_fn)(load_opts_t *o, const char *name, const char *v, int *seen,
                      char *err, size_t n);
typedef struct opt_s {
  const char *name;
  opt_type_t type;
  size_t off;         /* the field, for the typed ones */
  uint64_t min, max;  /* T_UINT, T_INT, T_U64, T_MS */
  int seen;           /* SEEN_* to set */
  opt_fn fn;          /* T_FN */
  const char *expect; /* "expected ..." in the error */
} opt_t;

#define OFF(f) offsetof(load_opts_t, f)
#define FN(name, fn) \
  { name, T_FN, 0, 0, 0, 0, fn, NULL }
static const opt_t options[] = {
    FN("url", opt_url),
    FN("header", opt_header),
    FN("vus", opt_vus),
    {"max-vus", T_UINT, OFF(max_vus), 1, 1000000, SEEN_MAXVUS, NULL,
     "a whole number 1..1000000"},
    {"duration", T_MS, OFF(duration_ms), 0, UINT64_MAX, SEEN_DURATION, NULL,
     "a duration like 30s or 1m30s"},
    FN("stages", opt_stages),
    FN("rate", opt_rate),
    FN("sleep", opt_sleep),
    {"graceful-stop", T_MS, OFF(graceful_stop_ms), 0, UINT64_MAX, 0, NULL, "a duration"},
    {"graceful-ramp-down", T_MS, OFF(graceful_ramp_down_ms), 0, UINT64_MAX, 0, NULL,
     "a duration"},
    {"timeout", T_MS, OFF(timeout_ms), 1, UINT64_MAX, 0, NULL, "a duration"},
    {"seed", T_U64, OFF(seed), 0, UINT64_MAX, 0, NULL, "a whole number"},
    FN("scenario", opt_scenario),
    FN("mix", opt_mix),
    FN("crud-mix", opt_crud_mix),
    FN("items", opt_items),
    FN("customers", opt_items),
    FN("queries", opt_queries),
    FN("transform-mode", opt_transform_mode),
    FN("body-file", opt_body_file),
    FN("transform-sizes", opt_transform_sizes),
    {"gen-cmd", T_STR, OFF(gen_cmd), 0, 0, 0, NULL, NULL},
    {"expect-status", T_INT, OFF(expect_status), 100, 599, 0, NULL, "an HTTP status"},
    FN("threshold", opt_threshold),
    {"summary-json", T_STR, OFF(summary_json), 0, 0, 0, NULL, NULL},
    {"summary-export", T_STR, OFF(summary_export), 0, 0, 0, NULL, NULL},
    {"report", T_STR, OFF(report), 0, 0, 0, NULL, NULL},
    FN("out", opt_out),
    {"timeline", T_STR, OFF(timeline), 0, 0, 0, NULL, NULL},
    FN("server-pid", opt_server_pid),
    {"quiet", T_SWITCH, OFF(quiet), 0, 0, 0, NULL, NULL},
};
#undef FN
#undef OFF

static const opt_t *find(const char *name) {
  for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
    if (strcmp(name, options[i].name) == 0)
      return &options[i];
  return NULL;
}

/* Flags that take no value (help and version are answered before). */
static int is_switch(const char *name) {
  const opt_t *t = find(name);
  return t ? t->type == T_SWITCH
           : strcmp(name, "help") == 0 || strcmp(name, "version") == 0;
}

static int apply(load_opts_t *o, const char *name, const char *v, int *seen, char *err,
                 size_t n) {
  const opt_t *t = find(name);
  char *field;
  uint64_t u;
  if (t == NULL)
    return bad(err, n, "unknown option '--%s' (see --help)", name);
  if (t->type == T_FN)
    return t->fn(o, name, v, seen, err, n);
  field = (char *)o + t->off;
  switch (t->type) {
    case T_STR:
      set_str((char **)field, v);
      break;
    case T_SWITCH:
      *(int *)field = 1;
      break;
    case T_MS:
      if (load_parse_duration_ms(v, &u) != 0 || u < t->min)
        return bad(err, n, "--%s: expected %s, got '%s'", name, t->expect, v);
      *(uint64_t *)field = u;
      break;
    default: /* T_UINT, T_INT, T_U64 */
      if (parse_uint(v, t->max, &u) != 0 || u < t->min)
        return bad(err, n, "--%s: expected %s, got '%s'", name, t->expect, v);
      if (t->type == T_UINT)
        *(unsigned *)field = (unsigned)u;
      else if (t->type == T_INT)
        *(int *)field = (int)u;
      else
        *(uint64_t *)field = u;
      break;
  }
  *seen |= t->seen;
  return 0;
}

void load_opts_free(load_opts_t *o) {
  free(o->url);
  free(o->path);
  for (int i = 0; i < o->nheaders; i++) free(o->headers[i]);
  free(o->queries);
  free(o->transform_mode);
  for (int i = 0; i < o->nbody_files; i++) free(o->body_files[i]);
  free(o->gen_cmd);
  free(o->summary_json);
  free(o->summary_export);
  free(o->report);
  for (int i = 0; i < o->nouts; i++) free(o->outs[i]);
  free(o->timeline);
  memset(o, 0, sizeof(*o));
}

uint64_t load_opts_total_ms(const load_opts_t *o) {
  uint64_t t = 0;
  if (o->nstages == 0)
    return o->duration_ms;
  for (int i = 0; i < o->nstages; i++) t += o->stages[i].dur_ms;
  return t;
}

double load_opts_target_at(const load_opts_t *o, double start, double t_ms) {
  double from = start;
  if (o->nstages == 0)
    return start;
  for (int i = 0; i < o->nstages; i++) {
    double d = (double)o->stages[i].dur_ms;
    if (t_ms < d)
      return d > 0 ? from + (o->stages[i].target - from) * (t_ms / d)
                   : o->stages[i].target;
    t_ms -= d;
    from = o->stages[i].target;
  }
  return from;
}

void load_opts_usage(FILE *f) {
  fputs(
      "usage: looplab-load --url URL [options]\n"
      "\n"
      "A k6-style HTTP load generator. Closed model (virtual users that send, wait and\n"
      "repeat) or open model (a fixed arrival rate, latency timed from each request's\n"
      "intended start, so server stalls are not hidden).\n"
      "\n"
      "target\n"
      "  --url URL                 http://host:port/path (get scenario; host and port "
      "for\n"
      "                            the others; default http://127.0.0.1:8080)\n"
      "  -H, --header 'K: V'       extra request header (repeatable)\n"
      "closed model\n"
      "  -u, --vus N               virtual users (default 1)\n"
      "  -d, --duration D          run time, like 30s, 1m30s (default 10s)\n"
      "  -s, --stages D:N,...      ramping VUs, like 30s:100,5m:100,30s:0 (from --vus, "
      "1)\n"
      "  --sleep D | D1-D2         think time after each iteration\n"
      "  --graceful-ramp-down D    how long leaving VUs may finish (default 30s)\n"
      "open model\n"
      "  --rate R                  iterations per second (start rate with --stages, "
      "whose\n"
      "                            targets are then rates)\n"
      "  --vus N                   pre-allocated VUs (default 10)\n"
      "  --max-vus N               concurrency bound (default 1000); iterations that "
      "find\n"
      "                            no free VU count as dropped_iterations\n"
      "both\n"
      "  --graceful-stop D         wait for in-flight requests at the end (default 30s)\n"
      "  --timeout D               request timeout (default 60s)\n"
      "  --seed N                  random seed (default 1)\n"
      "scenarios\n"
      "  --scenario NAME           get (default), crud, dashboard, transform, mixed\n"
      "  --mix crud=70,...         weights over get, crud, dashboard, transform\n"
      "  --crud-mix create=20,read=50,update=15,delete=10,list=5\n"
      "  --items LO-HI             seeded item ids (default 1-100000)\n"
      "  --customers LO-HI         seeded customer ids (default 1-10000)\n"
      "  --queries MODE            dashboard ?queries= (sequential, parallel, pipeline)\n"
      "  --transform-mode MODE     transform ?mode= (loop, pool)\n"
      "  --body-file FILE          a transform request body (repeatable)\n"
      "  --transform-sizes S,...   generate bodies of these sizes (like 100k,500k) "
      "first\n"
      "  --gen-cmd CMD             generator command; {seed} and {size} are replaced\n"
      "                            (default: build/looplab-gen --seed {seed} --size "
      "{size})\n"
      "  --expect-status N         the status that counts as success for get (200)\n"
      "measurement\n"
      "  --threshold EXPR          fail the run (exit 99) unless EXPR holds, like\n"
      "                            'p(99)<250ms', 'med<10', 'http_req_failed<0.01',\n"
      "                            'http_reqs:rate>1000', 'dropped_iterations<1',\n"
      "                            'server_rss:peak<512M', 'server_cpu:per_req<1ms'\n"
      "  --summary-json FILE       every figure and the percentile spectrum as JSON\n"
      "                            (- for stdout; the text summary then goes to "
      "stderr)\n"
      "  --summary-export FILE     the summary in k6's --summary-export JSON shape\n"
      "  -o, --out json=FILE       every sample as k6's NDJSON (Metric and Point "
      "lines)\n"
      "  -o, --out csv=FILE        every sample as k6's CSV\n"
      "  --report FILE.html        one self-contained HTML page: charts, summary,\n"
      "                            thresholds\n"
      "  --timeline FILE           one line per second (NDJSON; CSV if FILE ends in "
      ".csv)\n"
      "  --server-pid PID          sample this process tree's memory and CPU "
      "(repeatable)\n"
      "  -q, --quiet               no progress on stderr (a live line on a "
      "terminal,\n"
      "                            else one line a second)\n"
      "  -h, --help, -V, --version\n"
      "\n"
      "exit status: 0 ok, 1 error (an output file that cannot be written, ...), 2 "
      "bad\n"
      "flags, 99 a threshold failed, 105 interrupted (SIGINT), as k6\n",
      f);
}
