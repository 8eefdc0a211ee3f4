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
    rc = exec(c, files[i], sql, 0, NULL, NULL, err, errlen);
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
