/* looplab-xbench: the W3 transform's own ceiling (make bench, issue 8).
 *   looplab-xbench --seconds S --threads T FILE...
 * Runs xform_run (the pure transform, no HTTP, no event loop) over the
 * given documents round-robin, in T threads for S seconds, and prints one
 * JSON line: documents done, bytes in, and the rates. Each thread keeps its
 * own output buffer, emptied (not freed) between documents, so the figure
 * is the transform's and not the allocator's.
 *   looplab-xbench --gen SIZE[k|m] [--seed N] [--runs R] [--iterations I]
 * transforms one generated document (xform_generate, seed 1 by default) I
 * times per run, R runs, on this thread, and prints the best and the median
 * run's MB/s with the output's length and FNV-1a hash (a change of output
 * bytes shows there). With --runs 1 --iterations I it is short enough for
 * valgrind --tool=callgrind --toggle-collect=xform_run, whose instruction
 * count over I x bytes is the transform's instructions per byte, a figure
 * that does not move with the machine's load as wall times do.
 * Bad arguments: one line on stderr, exit 2. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "xform/xform.h"

#define MAX_FILES 64
#define MAX_THREADS 256

typedef struct doc_s {
  char *data;
  size_t len;
} doc_t;

static doc_t docs[MAX_FILES];
static int ndocs;
static double seconds;
static atomic_int stop;
static atomic_int failed;

typedef struct worker_s {
  pthread_t tid;
  int first;
  unsigned long long done, bytes;
} worker_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg) {
  worker_t *w = arg;
  core_buf_t out;
  char err[256];
  core_buf_init(&out);
  for (int i = w->first; !atomic_load(&stop); i = (i + 1) % ndocs) {
    out.len = 0;
    if (xform_run(docs[i].data, docs[i].len, NULL, &out, err, sizeof(err)) != 0) {
      fprintf(stderr, "looplab-xbench: document %d refused: %s\n", i, err);
      atomic_store(&failed, 1);
      atomic_store(&stop, 1);
      break;
    }
    w->done++;
    w->bytes += docs[i].len;
  }
  core_buf_free(&out);
  return NULL;
}

static int load(const char *path, doc_t *d) {
  FILE *f = fopen(path, "rb");
  core_buf_t b;
  char chunk[65536];
  size_t n;
  if (f == NULL)
    return -1;
  core_buf_init(&b);
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) core_buf_append(&b, chunk, n);
  fclose(f);
  d->data = b.data;
  d->len = b.len;
  return 0;
}

static int usage(const char *msg) {
  fprintf(stderr,
          "looplab-xbench: %s (usage: looplab-xbench --seconds S --threads T FILE..., or "
          "looplab-xbench --gen SIZE[k|m] [--seed N] [--runs R] [--iterations I])\n",
          msg);
  return 2;
}

static int cmp_double(const void *pa, const void *pb) {
  double a = *(const double *)pa, b = *(const double *)pb;
  return a < b ? -1 : a > b;
}

static uint64_t fnv1a(const char *p, size_t n) {
  uint64_t h = 14695981039346656037ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
  return h;
}

/* SIZE as looplab-gen reads it: digits, optionally k (1024) or m (2^20). */
static int parse_size(const char *s, size_t *out) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s)
    return -1;
  if (*end == 'k')
    v *= 1024, end++;
  else if (*end == 'm')
    v *= 1048576, end++;
  if (*end != '\0' || v == 0)
    return -1;
  *out = (size_t)v;
  return 0;
}

/* --gen: one generated document, best and median of runs. The document and
 * the output buffer are made once, so a run is I calls of xform_run. */
static int gen_bench(uint64_t seed, size_t size, int runs, int iterations) {
  core_buf_t in, out;
  char err[256];
  double *mbs = xmalloc((size_t)runs * sizeof(*mbs));
  core_buf_init(&in);
  core_buf_init(&out);
  xform_generate(seed, size, &in);
  for (int r = 0; r < runs; r++) {
    double t0 = now_s();
    for (int i = 0; i < iterations; i++) {
      out.len = 0;
      if (xform_run(in.data, in.len, NULL, &out, err, sizeof(err)) != 0) {
        fprintf(stderr, "looplab-xbench: the generated document was refused: %s\n", err);
        return 1;
      }
    }
    mbs[r] = (double)in.len * iterations / (now_s() - t0) / 1e6;
  }
  qsort(mbs, (size_t)runs, sizeof(*mbs), cmp_double);
  printf(
      "{\"seed\":%llu,\"bytes\":%zu,\"runs\":%d,\"iterations\":%d,"
      "\"best_mb_per_s\":%.1f,\"median_mb_per_s\":%.1f,\"best_ms_per_doc\":%.3f,"
      "\"out_bytes\":%zu,\"out_fnv1a\":\"%016llx\"}\n",
      (unsigned long long)seed, in.len, runs, iterations, mbs[runs - 1], mbs[runs / 2],
      (double)in.len / mbs[runs - 1] / 1e3, out.len,
      (unsigned long long)fnv1a(out.data, out.len));
  free(mbs);
  core_buf_free(&in);
  core_buf_free(&out);
  return 0;
}

int main(int argc, char **argv) {
  static worker_t w[MAX_THREADS];
  int threads = 1;
  unsigned long long done = 0, bytes = 0;
  double t0, el;
  size_t gen = 0;
  uint64_t seed = 1;
  int runs = 7, iterations = 100;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = atof(argv[++i]);
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--gen") == 0 && i + 1 < argc) {
      if (parse_size(argv[++i], &gen))
        return usage("bad --gen");
    } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = strtoull(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = atoi(argv[++i]);
    } else if (argv[i][0] == '-') {
      return usage("unknown argument");
    } else {
      if (ndocs == MAX_FILES)
        return usage("too many files");
      if (load(argv[i], &docs[ndocs]) != 0) {
        fprintf(stderr, "looplab-xbench: cannot read %s\n", argv[i]);
        return 2;
      }
      ndocs++;
    }
  }
  if (gen) {
    if (runs < 1 || iterations < 1 || ndocs != 0)
      return usage("--gen takes --runs >= 1 and --iterations >= 1, and no FILE");
    return gen_bench(seed, gen, runs, iterations);
  }
  if (seconds <= 0 || threads < 1 || threads > MAX_THREADS || ndocs == 0)
    return usage("--seconds > 0, --threads 1-256 and at least one file are required");

  t0 = now_s();
  for (int i = 0; i < threads; i++) {
    w[i].first = i % ndocs;
    if (pthread_create(&w[i].tid, NULL, run, &w[i]) != 0)
      return usage("cannot start a thread");
  }
  while (!atomic_load(&stop) && now_s() - t0 < seconds) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < threads; i++) {
    pthread_join(w[i].tid, NULL);
    done += w[i].done;
    bytes += w[i].bytes;
  }
  el = now_s() - t0;
  for (int i = 0; i < ndocs; i++) free(docs[i].data);
  if (atomic_load(&failed))
    return 1;
  printf(
      "{\"threads\":%d,\"seconds\":%.3f,\"docs\":%llu,\"bytes\":%llu,"
      "\"docs_per_s\":%.1f,\"mb_per_s\":%.2f}\n",
      threads, el, done, bytes, (double)done / el, (double)bytes / el / 1e6);
  return 0;
}
