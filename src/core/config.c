/* Configuration: defaults, then environment twins, then flags (flags win).
 * A bad value is refused with a one-line message; main exits 2. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>
#include <uv.h>

#include "core.h"

typedef enum {
  OPT_STR,
  OPT_INT,
  OPT_BYTES,
  OPT_MS,
  OPT_BOOL,
  OPT_ENUM,
  OPT_LEVEL,
  OPT_DBL,
  OPT_SET /* a comma-separated list of names: a bit mask */
} opt_kind_t;

typedef struct {
  const char *flag;
  const char *env;
  opt_kind_t kind;
  size_t off;
  int64_t min, max;
  const char *const *names; /* OPT_ENUM, OPT_SET */
  const char *def;
  const char *help;
} opt_t;

static const char *const sched_names[] = {"rr", "none", "reuseport", NULL};
static const char *const queries_names[] = {"sequential", "parallel", "pipeline", NULL};
static const char *const transform_names[] = {"loop", "pool", NULL};
static const char *const metrics_names_names[] = {"looplab", "node", NULL};
static const char *const off_on[] = {"off", "on", NULL};
static const char *const read_routes_names[] = {"dashboard", "items", NULL};

#define OFF(f) offsetof(core_config_t, f)
static const opt_t opts[] = {
    {"--host", "HOST", OPT_STR, OFF(host), 0, 0, NULL, "127.0.0.1",
     "listen address: numeric IPv4 or IPv6 (names are not resolved)"},
    {"--port", "PORT", OPT_INT, OFF(port), 1, 65535, NULL, "8080", "listen port"},
    {"--workers", "WORKERS", OPT_INT, OFF(workers), 0, 256, NULL, "8",
     "worker processes; 0 = one process, no primary"},
    {"--sched", "LOOPLAB_SCHED_POLICY", OPT_ENUM, OFF(sched), 0, 0, sched_names, "rr",
     "rr | none | reuseport: how connections reach workers"},
    {"--db", "DATABASE_URL", OPT_STR, OFF(db), 0, 0, NULL, NULL,
     "libpq connection string or URI; none = embedded PostgreSQL"},
    {"--pool", "PG_POOL_SIZE", OPT_INT, OFF(pool), 1, 1000, NULL, "8",
     "PostgreSQL connections per worker"},
    {"--db-read", "DATABASE_READ_URL", OPT_STR, OFF(db_read), 0, 0, NULL, NULL,
     "libpq conninfo of a read replica for --read-routes (docs/scaling.md)"},
    {"--read-pool", "PG_READ_POOL_SIZE", OPT_INT, OFF(read_pool), 0, 1000, NULL, "0",
     "replica connections per worker; 0 = as many as --pool"},
    {"--read-routes", "LOOPLAB_READ_ROUTES", OPT_SET, OFF(read_routes), 0, 0,
     read_routes_names, "dashboard",
     "dashboard,items: the GET routes --db-read serves (items: GET /items, /items/:id)"},
    {"--read-fallback", "LOOPLAB_READ_FALLBACK", OPT_BOOL, OFF(read_fallback), 0, 1, NULL,
     "0", "a read the replica cannot serve (down) goes to --db instead of 503"},
    {"--db-prepared", "LOOPLAB_DB_PREPARED", OPT_ENUM, OFF(db_prepared), 0, 0, off_on,
     "on", "on | off: off sends every statement unnamed (PgBouncer transaction pooling)"},
    /* 8: measured (docs/architecture.md, "Pipelining"). */
    {"--db-pipeline-depth", "LOOPLAB_DB_PIPELINE_DEPTH", OPT_INT, OFF(db_pipeline_depth),
     0, 256, NULL, "8",
     "requests in flight per PostgreSQL connection when none is idle; 0 = off"},
    {"--queries", "LOOPLAB_QUERIES", OPT_ENUM, OFF(queries), 0, 0, queries_names,
     "parallel", "W2 strategy: sequential | parallel | pipeline"},
    {"--transform", "LOOPLAB_TRANSFORM", OPT_ENUM, OFF(transform), 0, 0, transform_names,
     "pool", "where W3 runs: loop | pool"},
    {"--body-limit", "LOOPLAB_BODY_LIMIT", OPT_BYTES, OFF(body_limit), 0,
     (int64_t)1 << 34, NULL, "1048576", "request body limit in bytes (413 above)"},
    {"--max-header-size", "LOOPLAB_MAX_HEADER_SIZE", OPT_INT, OFF(max_header_size), 256,
     1 << 24, NULL, "16384", "header section limit in bytes (431 above)"},
    {"--keep-alive-timeout", "LOOPLAB_KEEP_ALIVE_TIMEOUT", OPT_MS,
     OFF(keep_alive_timeout), 1, INT32_MAX, NULL, "5000",
     "ms an idle keep-alive connection stays open"},
    {"--headers-timeout", "LOOPLAB_HEADERS_TIMEOUT", OPT_MS, OFF(headers_timeout), 1,
     INT32_MAX, NULL, "60000", "ms to receive a request's headers (408)"},
    {"--request-timeout", "LOOPLAB_REQUEST_TIMEOUT", OPT_MS, OFF(request_timeout), 1,
     INT32_MAX, NULL, "300000", "ms to receive a whole request (408)"},
    {"--log-level", "LOG_LEVEL", OPT_LEVEL, OFF(log_level), 0, 0, NULL, "info",
     "trace | debug | info | warn | error | fatal | silent"},
    {"--log-requests", "LOOPLAB_LOG_REQUESTS", OPT_BOOL, OFF(log_requests), 0, 1, NULL,
     "0", "a log line per request (costs throughput)"},
    {"--metrics-names", "LOOPLAB_METRICS_NAMES", OPT_ENUM, OFF(metrics_names), 0, 0,
     metrics_names_names, "looplab",
     "looplab | node: node also serves the event-loop families under prom-client's "
     "names"},
    {"--debug-endpoints", "LOOPLAB_DEBUG_ENDPOINTS", OPT_BOOL, OFF(debug_endpoints), 0, 1,
     NULL, "0", "enable /debug/*"},
    {"--data-dir", "LOOPLAB_DATA_DIR", OPT_STR, OFF(data_dir), 0, 0, NULL, ".looplab/pg",
     "embedded PostgreSQL data folder"},
    {"--scale", "LOOPLAB_SCALE", OPT_DBL, OFF(scale), 0, 1000, NULL, "1",
     "seed scale factor of the embedded database"},
    {"--shutdown-timeout", "LOOPLAB_SHUTDOWN_TIMEOUT", OPT_MS, OFF(shutdown_timeout), 1,
     INT32_MAX, NULL, "30000", "ms a graceful drain may take before it is forced"},
    /* 250 ms: a busy keep-alive client sends its next request within a round
     * trip of the last answer (well under 1 ms on loopback, tens of ms across
     * a WAN), so a connection idle that long is really idle; and a roll of N
     * workers waits at most N times this for idle ones. */
    /* Kubernetes: the endpoint is withdrawn a moment after the pod is told
     * to stop; answering meanwhile (not ready, still serving) loses
     * nothing (docs/observability.md, "Kubernetes"). */
    {"--drain-delay", "LOOPLAB_DRAIN_DELAY", OPT_MS, OFF(drain_delay), 0, 600000, NULL,
     "0", "ms after SIGTERM of serving with /readyz 503 before the drain starts"},
    {"--drain-idle-grace", "LOOPLAB_DRAIN_IDLE_GRACE", OPT_MS, OFF(drain_idle_grace), 0,
     60000, NULL, "250",
     "ms an idle keep-alive connection may stay open once a drain starts"},
};
#undef OFF

static int parse_i64(const char *s, int64_t *out, int bytes) {
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (end == s || errno)
    return -EINVAL;
  if (bytes && *end) {
    int64_t mul = 1;
    if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kb") == 0)
      mul = 1024;
    else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mb") == 0)
      mul = 1024 * 1024;
    else
      return -EINVAL;
    v *= mul;
    end += strlen(end);
  }
  if (*end)
    return -EINVAL;
  *out = v;
  return 0;
}

static int parse_name(const char *const *names, const char *s, size_t n);

static int set_enum(const char *const *names, const char *v, int *out) {
  for (int i = 0; names[i]; i++)
    if (strcmp(names[i], v) == 0) {
      *out = i;
      return 0;
    }
  return -EINVAL;
}

/* "a,b": each name once, at least one. */
static int set_mask(const char *const *names, const char *v, int *out) {
  int mask = 0;
  for (const char *p = v;; p++) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    int i = parse_name(names, p, n);
    if (i < 0 || (mask & (1 << i)))
      return -EINVAL;
    mask |= 1 << i;
    if (!end)
      break;
    p = end;
  }
  *out = mask;
  return 0;
}

/* --host: the syntax of a numeric IPv4 or IPv6 address (an IPv6 one may
 * carry a %scope), as the listener will parse it. */
static int check_host(const char *v) {
  struct sockaddr_in a4;
  struct sockaddr_in6 a6;
  return uv_ip4_addr(v, 0, &a4) == 0 || uv_ip6_addr(v, 0, &a6) == 0 ? 0 : -EINVAL;
}

/* A port option's value: a comma-separated list (one per host) of empty
 * items or numbers 1..65535; PQconninfoParse leaves this to connect time. */
static int check_ports(const char *v) {
  while (*v) {
    char *end;
    errno = 0;
    long n = *v == ',' ? 1 : strtol(v, &end, 10);
    if (*v != ',' && (end == v || errno || n < 1 || n > 65535))
      return -EINVAL;
    if (*v != ',')
      v = end;
    if (*v == ',')
      v++;
    else if (*v)
      return -EINVAL;
  }
  return 0;
}

/* --db: what libpq would refuse at the first connect, found now. The
 * message carries libpq's reason, never the value (it may hold a
 * password). */
static int check_db(const char *v, const char *src, char *err, size_t errlen) {
  char *perr = NULL;
  PQconninfoOption *parsed = PQconninfoParse(v, &perr);
  const char *why = parsed ? NULL : perr ? perr : "out of memory";
  for (PQconninfoOption *o = parsed; o && o->keyword; o++)
    if (strcmp(o->keyword, "port") == 0 && o->val && check_ports(o->val) != 0)
      why = "a port is not a number from 1 to 65535";
  if (why && err) {
    char msg[256];
    size_t n = 0;
    for (const char *p = why; *p && n + 1 < sizeof(msg); p++)
      if (*p != '\n' || p[1])
        msg[n++] = *p == '\n' ? ' ' : *p;
    msg[n] = '\0';
    snprintf(err, errlen, "invalid value for %s: %s", src, msg);
  }
  PQfreemem(perr);
  PQconninfoFree(parsed);
  return why ? -EINVAL : 0;
}

static int apply(core_config_t *cfg, const opt_t *o, const char *v, const char *src,
                 char *err, size_t errlen) {
  char *p = (char *)cfg + o->off;
  int64_t n;
  int e;
  switch (o->kind) {
    case OPT_STR:
      if (o->off == offsetof(core_config_t, host)) {
        if (strlen(v) == 0 || strlen(v) >= sizeof(cfg->host) || check_host(v) != 0)
          goto bad;
        strcpy(cfg->host, v);
      } else {
        if ((o->off == offsetof(core_config_t, db) ||
             o->off == offsetof(core_config_t, db_read)) &&
            v[0] && check_db(v, src, err, errlen) != 0)
          return -EINVAL;
        char **dst = (char **)p;
        free(*dst);
        *dst = v[0] ? xstrdup(v) : NULL;
      }
      return 0;
    case OPT_INT:
    case OPT_BYTES:
    case OPT_MS:
      if (parse_i64(v, &n, o->kind == OPT_BYTES) || n < o->min || n > o->max)
        goto bad;
      if (o->kind == OPT_INT)
        *(int *)p = (int)n;
      else
        *(int64_t *)p = n;
      return 0;
    case OPT_BOOL:
      if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "on") == 0)
        *(int *)p = 1;
      else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "off") == 0)
        *(int *)p = 0;
      else
        goto bad;
      return 0;
    case OPT_ENUM:
      e = 0;
      if (set_enum(o->names, v, &e))
        goto bad;
      *(int *)p = e;
      return 0;
    case OPT_SET:
      if (set_mask(o->names, v, &e))
        goto bad;
      *(int *)p = e;
      return 0;
    case OPT_LEVEL:
      e = core_log_level_parse(v);
      if (e < 0)
        goto bad;
      *(int *)p = e;
      return 0;
    case OPT_DBL: {
      char *end;
      double d = strtod(v, &end);
      if (end == v || *end || !(d > 0) || d > (double)o->max)
        goto bad;
      *(double *)p = d;
      return 0;
    }
  }
bad:
  snprintf(err, errlen, "invalid value '%s' for %s", v, src);
  return -EINVAL;
}

static void defaults(core_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
    if (opts[i].def)
      apply(cfg, &opts[i], opts[i].def, opts[i].flag, NULL, 0);
}

static const opt_t *find_flag(const char *arg, const char **inline_val) {
  const char *eq = strchr(arg, '=');
  size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
  for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
    if (strlen(opts[i].flag) == n && strncmp(opts[i].flag, arg, n) == 0) {
      *inline_val = eq ? eq + 1 : NULL;
      return &opts[i];
    }
  return NULL;
}

int core_config_parse(core_config_t *cfg, int argc, char **argv, char *err,
                      size_t errlen) {
  defaults(cfg);
  for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
    const char *v = getenv(opts[i].env);
    if (v == NULL)
      continue;
    if (apply(cfg, &opts[i], v, opts[i].env, err, errlen))
      return -EINVAL;
  }
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
      return CORE_CONFIG_HELP;
    if (strcmp(arg, "--version") == 0)
      return CORE_CONFIG_VERSION;
    const char *v;
    const opt_t *o = find_flag(arg, &v);
    if (o == NULL) {
      snprintf(err, errlen, "unknown option '%s' (see --help)", arg);
      return -EINVAL;
    }
    if (v == NULL && o->kind == OPT_BOOL) {
      v = "1";
    } else if (v == NULL) {
      if (i + 1 >= argc) {
        snprintf(err, errlen, "option %s needs a value", o->flag);
        return -EINVAL;
      }
      v = argv[++i];
    }
    if (apply(cfg, o, v, o->flag, err, errlen))
      return -EINVAL;
  }
  return CORE_CONFIG_OK;
}

void core_config_usage(FILE *out) {
  fprintf(out,
          "usage: looplab [options]\n\n"
          "A libuv event-loop HTTP API server in Node's model, serving three workloads\n"
          "from PostgreSQL. Every flag has an environment twin; flags win.\n\n");
  for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
    const opt_t *o = &opts[i];
    fprintf(out, "  %-22s %-28s %s (default %s)\n", o->flag, o->env, o->help,
            o->def ? o->def : "none");
  }
  fprintf(out, "  %-22s %-28s %s\n", "", "UV_THREADPOOL_SIZE",
          "libuv thread pool size (4)");
  fprintf(out, "  %-22s %-28s %s\n", "--help", "", "this text");
  fprintf(out, "  %-22s %-28s %s\n", "--version", "", "print the version");
}

void core_config_free(core_config_t *cfg) {
  free(cfg->db);
  free(cfg->db_read);
  free(cfg->data_dir);
  cfg->db = cfg->db_read = cfg->data_dir = NULL;
}

const char *core_sched_name(core_sched_t s) {
  return sched_names[s];
}
const char *core_queries_name(core_queries_t q) {
  return queries_names[q];
}
const char *core_transform_name(core_transform_t t) {
  return transform_names[t];
}

static int parse_name(const char *const *names, const char *s, size_t n) {
  for (int i = 0; names[i]; i++)
    if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
      return i;
  return -EINVAL;
}

int core_queries_parse(const char *s, size_t n, core_queries_t *out) {
  int i = parse_name(queries_names, s, n);
  if (i < 0)
    return i;
  *out = (core_queries_t)i;
  return 0;
}

int core_transform_parse(const char *s, size_t n, core_transform_t *out) {
  int i = parse_name(transform_names, s, n);
  if (i < 0)
    return i;
  *out = (core_transform_t)i;
  return 0;
}

void core_config_labels(const core_config_t *cfg, char *out, size_t len) {
  snprintf(out, len,
           "version=\"%s\",workers=\"%d\",sched=\"%s\",transform=\"%s\",queries=\"%s\"",
           LOOPLAB_VERSION, cfg->workers, sched_names[cfg->sched],
           transform_names[cfg->transform], queries_names[cfg->queries]);
}
