/* A strict parser for the Prometheus text exposition format 0.0.4, written
 * for the tests: it refuses what a lenient scraper would let pass
 * (families split apart, a sample before its TYPE, duplicate series,
 * non-cumulative histogram buckets, a +Inf bucket that differs from
 * _count, malformed names, labels or values). */
#ifndef LOOPLAB_TEST_PROM_H
#define LOOPLAB_TEST_PROM_H

#include <stddef.h>

#define PROM_MAX_LABELS 8

typedef struct prom_sample_s {
  char name[128];
  int nlabels;
  char label_names[PROM_MAX_LABELS][64];
  char label_values[PROM_MAX_LABELS][128];
  double value;
  char family[128];
  char type[16];
} prom_sample_t;

typedef struct prom_doc_s {
  prom_sample_t *samples;
  int n;
  int nfamilies;
} prom_doc_t;

/* Parses text; 0 or -1 with a message (line number and why) in err. */
int prom_parse(const char *text, size_t len, prom_doc_t *doc, char *err, size_t errlen);
void prom_free(prom_doc_t *doc);

/* The label's value in s, or NULL. */
const char *prom_label(const prom_sample_t *s, const char *name);
/* Sums the samples named name whose labels include every pair in want
 * ("k=v" strings, NULL-terminated) and, when worker_mode is 1, that carry a
 * worker label / 0 that carry none / -1 either. Returns the count of
 * matched samples in *matched. */
double prom_sum(const prom_doc_t *doc, const char *name, const char *const *want,
                int worker_mode, int *matched);

#endif
