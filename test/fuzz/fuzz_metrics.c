/* metrics: the snapshot merge and the Prometheus exposition. The input is
 * a script of records (8-byte values into a worker's latency histogram,
 * duration histograms and request counters of up to 4 workers), then the
 * primary merges and renders them. Also checks the merge of log-linear
 * histograms against recording into one. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

#define WORKERS 4

static metrics_snap_t snaps[WORKERS];
static metrics_dur_index_t dur_index[WORKERS];
static metrics_ll_t all;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const routes[] = {NULL, "/items", "/items/:id", "/transform"};
  memset(snaps, 0, sizeof(snaps));
  memset(dur_index, 0, sizeof(dur_index));
  metrics_ll_reset(&all);
  for (int w = 0; w < WORKERS; w++) {
    snaps[w].worker = w + 1;
    snaps[w].pid = 1000 + w;
    metrics_ll_reset(&snaps[w].lag);
  }
  for (size_t off = 0; off + 9 <= size; off += 9) {
    uint8_t op = data[off];
    uint64_t v;
    memcpy(&v, data + off + 1, 8);
    metrics_snap_t *s = &snaps[op & 3];
    switch ((op >> 2) & 3) {
      case 0:
        metrics_ll_record(&s->lag, v);
        metrics_ll_record(&all, v);
        break;
      case 1: {
        double sec;
        memcpy(&sec, &v, 8);
        if (isnan(sec))
          sec = 0;
        metrics_duration_record(s, dur_index[op & 3], (op >> 4) % METRICS_ROUTES,
                                (int)(v % METRICS_METHODS),
                                (int)((v >> 8) % METRICS_STATUSES), sec);
        break;
      }
      case 2: {
        int status = (int)(v % 1000);
        int route = (int)((v >> 16) % METRICS_ROUTES),
            method = (int)((v >> 24) % METRICS_METHODS);
        int slot = metrics_status_slot(status);
        if (slot < 0 || slot >= METRICS_STATUSES)
          abort();
        s->requests[route][method][slot]++;
        s->requests_total++;
        break;
      }
      default:
        s->connections = (int64_t)v;
        s->loop_idle_ns = v >> 1;
        s->loop_elapsed_ns = v;
        break;
    }
  }
  metrics_ll_t merged;
  metrics_ll_reset(&merged);
  for (int w = 0; w < WORKERS; w++) metrics_ll_merge(&merged, &snaps[w].lag);
  if (merged.count != all.count ||
      memcmp(merged.counts, all.counts, sizeof(all.counts)) != 0)
    abort();
  for (double p = 1; p <= 100; p += 33)
    if (metrics_ll_percentile(&merged, p) != metrics_ll_percentile(&all, p))
      abort();

  const metrics_snap_t *ptrs[WORKERS];
  for (int w = 0; w < WORKERS; w++) ptrs[w] = &snaps[w];
  core_buf_t out;
  core_buf_init(&out);
  int n = size ? 1 + data[0] % WORKERS : 1;
  metrics_view_t view = {size > 2 && data[2] & 1, size > 2 && data[2] & 2, "a=\"b\""};
  metrics_render(&out, ptrs, n, size > 1 && data[1] & 1 ? &snaps[WORKERS - 1] : NULL,
                 routes, 4, &view);
  if (out.len && memchr(out.data, '\0', out.len))
    abort();
  core_buf_free(&out);
  return 0;
}
