/* The strict exposition parser (see prom.h). */
#include "prom.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *p, *end;
  int line;
  char *err;
  size_t errlen;
  prom_doc_t *doc;
  char family[128], type[16];
  int typed;           /* a TYPE line was seen for family */
  char seen[512][128]; /* families already closed */
  int nseen;
} st_t;

static int fail(st_t *s, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(s->err, s->errlen, "line %d: %s", s->line, msg);
  return -1;
}

static int name_ok(const char *n, int metric) {
  if (!*n)
    return 0;
  for (const char *q = n; *q; q++) {
    int ok = isalpha((unsigned char)*q) || *q == '_' || (metric && *q == ':') ||
             (q > n && isdigit((unsigned char)*q));
    if (!ok)
      return 0;
  }
  return 1;
}

static int read_name(const char **p, const char *end, char *out, size_t cap) {
  size_t n = 0;
  while (*p < end && (isalnum((unsigned char)**p) || **p == '_' || **p == ':')) {
    if (n + 1 >= cap)
      return -1;
    out[n++] = *(*p)++;
  }
  out[n] = '\0';
  return n ? 0 : -1;
}

static int family_closed(st_t *s, const char *f) {
  for (int i = 0; i < s->nseen && i < 512; i++)
    if (strcmp(s->seen[i], f) == 0)
      return 1;
  return 0;
}

/* The family a sample belongs to: histogram samples drop their suffix. */
static int belongs(st_t *s, const char *name) {
  if (strcmp(name, s->family) == 0)
    return 1;
  if (strcmp(s->type, "histogram") != 0)
    return 0;
  size_t fl = strlen(s->family);
  if (strncmp(name, s->family, fl) != 0)
    return 0;
  const char *suf = name + fl;
  return strcmp(suf, "_bucket") == 0 || strcmp(suf, "_sum") == 0 ||
         strcmp(suf, "_count") == 0;
}

static int comment(st_t *s, const char *line, size_t n) {
  char kind[8], name[128], rest[256];
  char buf[512];
  if (n >= sizeof(buf))
    return fail(s, "comment too long");
  memcpy(buf, line, n);
  buf[n] = '\0';
  if (sscanf(buf, "# %7s %127s %255[^\n]", kind, name, rest) < 2)
    return 0; /* plain comment */
  if (strcmp(kind, "HELP") != 0 && strcmp(kind, "TYPE") != 0)
    return 0;
  if (!name_ok(name, 1))
    return fail(s, "bad metric name '%s'", name);
  if (strcmp(name, s->family) != 0) {
    if (s->family[0])
      snprintf(s->seen[s->nseen++ % 512], 128, "%s", s->family);
    if (family_closed(s, name))
      return fail(s, "family %s appears twice", name);
    snprintf(s->family, sizeof(s->family), "%s", name);
    s->typed = 0;
    s->type[0] = '\0';
    s->doc->nfamilies++;
  }
  if (strcmp(kind, "TYPE") == 0) {
    if (s->typed)
      return fail(s, "second TYPE for %s", name);
    const char *types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    int ok = 0;
    for (int i = 0; i < 5; i++) ok |= strcmp(rest, types[i]) == 0;
    if (!ok)
      return fail(s, "bad type '%s'", rest);
    for (int i = 0; i < s->doc->n; i++)
      if (strcmp(s->doc->samples[i].family, name) == 0)
        return fail(s, "TYPE after samples");
    memcpy(s->type, rest, strlen(rest) + 1); /* one of the short names above */
    s->typed = 1;
  }
  return 0;
}

static int label_value(st_t *s, const char **p, const char *end, char *out, size_t cap) {
  if (*p >= end || **p != '"')
    return fail(s, "label value not quoted");
  (*p)++;
  size_t n = 0;
  while (*p < end && **p != '"') {
    char c = *(*p)++;
    if (c == '\\') {
      if (*p >= end)
        return fail(s, "dangling escape");
      char e = *(*p)++;
      c = e == 'n' ? '\n' : e;
      if (e != 'n' && e != '\\' && e != '"')
        return fail(s, "bad escape \\%c", e);
    }
    if (n + 1 >= cap)
      return fail(s, "label value too long");
    out[n++] = c;
  }
  if (*p >= end)
    return fail(s, "unterminated label value");
  (*p)++;
  out[n] = '\0';
  return 0;
}

static int labels(st_t *s, const char **p, const char *end, prom_sample_t *x) {
  (*p)++; /* '{' */
  while (*p < end && **p != '}') {
    if (x->nlabels == PROM_MAX_LABELS)
      return fail(s, "too many labels");
    char *ln = x->label_names[x->nlabels];
    if (read_name(p, end, ln, 64) || !name_ok(ln, 0))
      return fail(s, "bad label name");
    for (int i = 0; i < x->nlabels; i++)
      if (strcmp(x->label_names[i], ln) == 0)
        return fail(s, "duplicate label %s", ln);
    if (*p >= end || **p != '=')
      return fail(s, "expected '='");
    (*p)++;
    if (label_value(s, p, end, x->label_values[x->nlabels], 128))
      return -1;
    x->nlabels++;
    if (*p < end && **p == ',')
      (*p)++;
    else if (*p < end && **p != '}')
      return fail(s, "expected ',' or '}'");
  }
  if (*p >= end)
    return fail(s, "unterminated labels");
  (*p)++;
  return 0;
}

static int same_series(const prom_sample_t *a, const prom_sample_t *b) {
  if (strcmp(a->name, b->name) || a->nlabels != b->nlabels)
    return 0;
  for (int i = 0; i < a->nlabels; i++) {
    int found = 0;
    for (int j = 0; j < b->nlabels; j++)
      found |= !strcmp(a->label_names[i], b->label_names[j]) &&
               !strcmp(a->label_values[i], b->label_values[j]);
    if (!found)
      return 0;
  }
  return 1;
}

static int sample(st_t *s, const char *line, size_t n) {
  prom_sample_t x;
  memset(&x, 0, sizeof(x));
  const char *p = line, *end = line + n;
  if (read_name(&p, end, x.name, sizeof(x.name)) || !name_ok(x.name, 1))
    return fail(s, "bad sample name");
  if (!s->typed || !belongs(s, x.name))
    return fail(s, "sample %s outside its family's TYPE block", x.name);
  if (p < end && *p == '{' && labels(s, &p, end, &x))
    return -1;
  if (p >= end || *p != ' ')
    return fail(s, "expected a space before the value");
  p++;
  char num[64];
  size_t k = 0;
  while (p < end && *p != ' ' && k + 1 < sizeof(num)) num[k++] = *p++;
  num[k] = '\0';
  char *e;
  if (!strcmp(num, "+Inf"))
    x.value = INFINITY;
  else if (!strcmp(num, "-Inf"))
    x.value = -INFINITY;
  else if (!strcmp(num, "NaN"))
    x.value = NAN;
  else {
    x.value = strtod(num, &e);
    if (e == num || *e)
      return fail(s, "bad value '%s'", num);
  }
  if (p < end) { /* an optional integer timestamp */
    p++;
    strtoll(p, &e, 10);
    if (e != end)
      return fail(s, "bad timestamp");
  }
  for (int i = 0; i < s->doc->n; i++)
    if (same_series(&s->doc->samples[i], &x))
      return fail(s, "duplicate series %s", x.name);
  snprintf(x.family, sizeof(x.family), "%s", s->family);
  snprintf(x.type, sizeof(x.type), "%s", s->type);
  if (!strcmp(s->type, "counter") && !(x.value >= 0))
    return fail(s, "negative counter");
  s->doc->samples = realloc(s->doc->samples, sizeof(x) * (size_t)(s->doc->n + 1));
  s->doc->samples[s->doc->n++] = x;
  return 0;
}

/* Buckets of every histogram series: le present, cumulative, +Inf = count. */
static int check_histograms(st_t *s) {
  prom_doc_t *d = s->doc;
  for (int i = 0; i < d->n; i++) {
    prom_sample_t *c = &d->samples[i];
    size_t fl = strlen(c->family);
    if (strcmp(c->type, "histogram") || strcmp(c->name + fl, "_count"))
      continue;
    double prev = -1, inf = -1;
    for (int j = 0; j < d->n; j++) {
      prom_sample_t *b = &d->samples[j];
      if (strcmp(b->family, c->family) || strcmp(b->name + fl, "_bucket"))
        continue;
      int match = b->nlabels == c->nlabels + 1;
      for (int k = 0; match && k < c->nlabels; k++) {
        const char *v = prom_label(b, c->label_names[k]);
        match = v && !strcmp(v, c->label_values[k]);
      }
      if (!match)
        continue;
      const char *le = prom_label(b, "le");
      if (!le)
        return snprintf(s->err, s->errlen, "%s: bucket without le", b->name), -1;
      if (b->value < prev)
        return snprintf(s->err, s->errlen, "%s: buckets not cumulative", c->family), -1;
      prev = b->value;
      if (!strcmp(le, "+Inf"))
        inf = b->value;
    }
    if (inf != c->value)
      return snprintf(s->err, s->errlen, "%s: +Inf bucket %g != count %g", c->family, inf,
                      c->value),
             -1;
  }
  return 0;
}

int prom_parse(const char *text, size_t len, prom_doc_t *doc, char *err, size_t errlen) {
  memset(doc, 0, sizeof(*doc));
  st_t *s = calloc(1, sizeof(*s));
  s->p = text;
  s->end = text + len;
  s->err = err;
  s->errlen = errlen;
  s->doc = doc;
  int rc = 0;
  if (len == 0 || text[len - 1] != '\n')
    rc = fail(s, "text must end with a newline");
  while (rc == 0 && s->p < s->end) {
    s->line++;
    const char *nl = memchr(s->p, '\n', (size_t)(s->end - s->p));
    size_t n = (size_t)(nl - s->p);
    if (n == 0)
      rc = fail(s, "empty line");
    else if (s->p[0] == '#')
      rc = comment(s, s->p, n);
    else
      rc = sample(s, s->p, n);
    s->p = nl + 1;
  }
  if (rc == 0)
    rc = check_histograms(s);
  free(s);
  return rc;
}

void prom_free(prom_doc_t *doc) {
  free(doc->samples);
  memset(doc, 0, sizeof(*doc));
}

const char *prom_label(const prom_sample_t *s, const char *name) {
  for (int i = 0; i < s->nlabels; i++)
    if (!strcmp(s->label_names[i], name))
      return s->label_values[i];
  return NULL;
}

double prom_sum(const prom_doc_t *doc, const char *name, const char *const *want,
                int worker_mode, int *matched) {
  double sum = 0;
  int m = 0;
  for (int i = 0; i < doc->n; i++) {
    const prom_sample_t *x = &doc->samples[i];
    if (strcmp(x->name, name))
      continue;
    int has_worker = prom_label(x, "worker") != NULL;
    if ((worker_mode == 1 && !has_worker) || (worker_mode == 0 && has_worker))
      continue;
    int ok = 1;
    for (int k = 0; want && want[k] && ok; k++) {
      char key[64];
      const char *eq = strchr(want[k], '=');
      snprintf(key, sizeof(key), "%.*s", (int)(eq - want[k]), want[k]);
      const char *v = prom_label(x, key);
      ok = v && !strcmp(v, eq + 1);
    }
    if (!ok)
      continue;
    sum += x->value;
    m++;
  }
  if (matched)
    *matched = m;
  return sum;
}
