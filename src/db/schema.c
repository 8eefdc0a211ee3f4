/* The schema and seed loader: blocking libpq, start-up and tests only. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "db/db.h"

/* Runs sql (one or many statements); params only for a single statement. */
static int exec(PGconn *c, const char *what, const char *sql, int nparams,
                const char *const *params, PGresult **keep, char *err, size_t errlen) {
  PGresult *r = nparams ? PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0)
                        : PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    core_errf(err, errlen, "%s: %s", what, PQresultErrorMessage(r));
    PQclear(r);
    return DB_EQUERY;
  }
  if (keep)
    *keep = r;
  else
    PQclear(r);
  return 0;
}

/* The shortest decimal text that reads back as scale, so 0.05 is stored as
 * 0.05 and compares equal next time. */
static void scale_text(double scale, char *buf, size_t len) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, len, "%.*g", prec, scale);
    if (strtod(buf, NULL) == scale)
      return;
  }
}

/* Inside the open transaction: 1 when meta already holds this scale. */
static int seeded(PGconn *c, const char *scale, char *err, size_t errlen) {
  PGresult *r = NULL;
  if (exec(c, "checking meta", "select to_regclass('public.meta') is not null", 0, NULL,
           &r, err, errlen) != 0)
    return DB_EQUERY;
  int has_meta = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  PQclear(r);
  if (!has_meta)
    return 0;
  const char *params[1] = {scale};
  if (exec(c, "checking meta", "select 1 from meta where scale = $1::numeric", 1, params,
           &r, err, errlen) != 0)
    return DB_EQUERY;
  int same = PQntuples(r) == 1;
  PQclear(r);
  return same;
}

/* The end of the statement that starts at p: the ';' that ends it (outside
 * quotes, identifiers, dollar quotes and comments), or the end of text. */
static const char *statement_end(const char *p) {
  while (*p) {
    if (p[0] == '-' && p[1] == '-') {
      while (*p && *p != '\n') p++;
    } else if (*p == '\'' || *p == '"') {
      char q = *p++;
      while (*p && *p != q) p++;
      if (*p)
        p++;
    } else if (*p == '$') {
      const char *t = p + 1;
      while (*t == '_' || (*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z')) t++;
      if (*t != '$') {
        p++;
        continue;
      }
      size_t tag = (size_t)(t - p + 1);
      const char *close;
      for (close = t + 1; *close && strncmp(close, p, tag) != 0; close++) {
      }
      p = *close ? close + tag : close;
    } else if (*p == ';') {
      return p;
    } else {
      p++;
    }
  }
  return p;
}

/* Rows each seed table gets at scale 1 (sql/seed.sql): the weights of the
 * progress lines' percent and ETA. */
static double weight_of(const char *stmt, size_t n) {
  static const struct {
    const char *table;
    double rows;
  } w[] = {{"INSERT INTO customers", 10000},
           {"INSERT INTO products", 2000},
           {"INSERT INTO orders", 200000},
           {"INSERT INTO order_items", 900000},
           {"INSERT INTO items", 100000}};
  for (size_t i = 0; i < ARRAY_SIZE(w); i++) {
    size_t k = strlen(w[i].table);
    for (size_t j = 0; j + k <= n; j++)
      if (strncmp(stmt + j, w[i].table, k) == 0 &&
          (stmt[j + k] == ' ' || stmt[j + k] == '\n'))
        return w[i].rows;
  }
  return 0;
}

/* The first words of an INSERT or CREATE, for a progress line. */
static void name_of(const char *stmt, size_t n, char *out, size_t len) {
  while (n && (*stmt == ' ' || *stmt == '\n' || (stmt[0] == '-' && stmt[1] == '-'))) {
    if (stmt[0] == '-') {
      while (n && *stmt != '\n') stmt++, n--;
    } else {
      stmt++, n--;
    }
  }
  size_t k = 0, words = 0;
  while (k < n && k + 1 < len && words < 3) {
    if (stmt[k] == ' ' || stmt[k] == '\n' || stmt[k] == '(')
      words++;
    if (words < 3)
      out[k] = stmt[k] == '\n' ? ' ' : stmt[k];
    k++;
  }
  out[k && words >= 3 ? k - 1 : k] = '\0';
}

/* seed.sql one statement at a time, with a line after each table: rows,
 * the share of the seed done (by rows at scale 1) and an ETA, instead of
 * ten silent seconds. */
static int seed_with_progress(PGconn *c, const char *sql, char *err, size_t errlen) {
  double total = 0, done = 0;
  for (const char *p = sql; *p;) {
    const char *e = statement_end(p);
    total += weight_of(p, (size_t)(e - p));
    p = *e ? e + 1 : e;
  }
  int64_t t0 = core_time_ms();
  core_buf_t b;
  core_buf_init(&b);
  int rc = 0;
  for (const char *p = sql; *p && rc == 0;) {
    const char *e = statement_end(p);
    size_t n = (size_t)(e - p);
    core_buf_reset(&b);
    core_buf_append(&b, p, n);
    core_buf_putc(&b, '\0');
    p = *e ? e + 1 : e;
    int blank = 1;
    for (size_t i = 0; i < n; i++)
      if (b.data[i] != ' ' && b.data[i] != '\n' && b.data[i] != '\t')
        blank = 0;
    if (blank)
      continue;
    PGresult *r = NULL;
    if ((rc = exec(c, "seed.sql", b.data, 0, NULL, &r, err, errlen)) != 0)
      break;
    double w = weight_of(b.data, n);
    if (w > 0 && total > 0) {
      done += w;
      char name[64];
      name_of(b.data, n, name, sizeof(name));
      double el = (double)(core_time_ms() - t0) / 1000.0, frac = done / total;
      LOG_INFO(NULL, "seed: %s, %s rows, %.0f %%, %.1f s, ETA %.0f s", name,
               PQcmdTuples(r), frac * 100, el, frac < 1 ? el / frac - el : 0.0);
    }
    PQclear(r);
  }
  core_buf_free(&b);
  return rc;
}

static int load(PGconn *c, const char *scale, char *err, size_t errlen) {
  const char *files[] = {"schema.sql", "seed.sql", "indexes.sql"};
  const char *params[1] = {scale};
  int rc = exec(c, "setting the scale", "select set_config('looplab.scale', $1, true)", 1,
                params, NULL, err, errlen);
  for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(files); i++) {
    const char *sql = core_sql_file(files[i]);
    if (!sql) {
      core_errf(err, errlen, "sql/%s is not embedded in this binary", files[i]);
      return DB_EQUERY;
    }
    int64_t t0 = core_time_ms();
    if (strcmp(files[i], "seed.sql") == 0) {
      rc = seed_with_progress(c, sql, err, errlen);
    } else {
      rc = exec(c, files[i], sql, 0, NULL, NULL, err, errlen);
      if (rc == 0 && strcmp(files[i], "indexes.sql") == 0)
        LOG_INFO(NULL, "seed: indexes built in %.1f s",
                 (double)(core_time_ms() - t0) / 1e3);
    }
  }
  return rc;
}

int db_schema_load(const char *conninfo, double scale, char *err, size_t errlen) {
  char s[32];
  if (!(scale > 0)) {
    core_errf(err, errlen, "scale must be positive");
    return DB_EQUERY;
  }
  scale_text(scale, s, sizeof(s));
  PGconn *c = PQconnectdb(conninfo);
  int rc = DB_EUNAVAIL;
  if (PQstatus(c) != CONNECTION_OK) {
    core_errf(err, errlen, "%s", PQerrorMessage(c));
    goto fail;
  }
  /* Seed output (NOTICEs of DROP ... IF EXISTS) is noise here. */
  if ((rc = exec(c, "begin", "set client_min_messages = warning; begin", 0, NULL, NULL,
                 err, errlen)) != 0)
    goto fail;
  /* Two processes loading the same database at once take turns; the second
   * then finds the seed done. */
  if ((rc = exec(c, "locking", "select pg_advisory_xact_lock(hashtext('looplab.seed'))",
                 0, NULL, NULL, err, errlen)) != 0)
    goto fail;
  int same = seeded(c, s, err, errlen);
  if (same < 0) {
    rc = same;
    goto fail;
  }
  if (same) {
    rc = exec(c, "commit", "commit", 0, NULL, NULL, err, errlen);
    goto fail;
  }
  int64_t t0 = core_time_ms();
  LOG_INFO(NULL, "loading the schema and seeding at scale %s", s);
  if ((rc = load(c, s, err, errlen)) != 0)
    goto fail;
  if ((rc = exec(c, "commit", "commit", 0, NULL, NULL, err, errlen)) != 0)
    goto fail;
  /* After the commit, so the statistics see every row; VACUUM sets the
   * visibility map, without which the W2 index-only scans read the heap
   * until autovacuum comes by. */
  rc = exec(c, "vacuum analyze", "vacuum analyze", 0, NULL, NULL, err, errlen);
  LOG_INFO(NULL, "seeded at scale %s in %lld ms", s, (long long)(core_time_ms() - t0));

fail:
  PQfinish(c);
  return rc;
}
