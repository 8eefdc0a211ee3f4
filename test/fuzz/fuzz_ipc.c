/* cluster: the IPC frame reader (ipc_reader_feed) on any bytes, fed in
 * pieces cut at points the input chooses. Every frame's payload is read
 * in full (ASan checks its bounds), and the frames must be the same
 * whatever the cuts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/internal.h"

typedef struct {
  uint64_t hash;
  size_t frames;
} tally_t;

static void on_msg(void *arg, char type, const char *payload, size_t len) {
  tally_t *t = arg;
  t->hash = t->hash * 1099511628211u + (uint8_t)type + len;
  for (size_t i = 0; i < len; i++) t->hash = t->hash * 31 + (uint8_t)payload[i];
  if (payload == NULL && len != 0)
    abort();
  t->frames++;
}

static tally_t feed(const uint8_t *data, size_t size, uint8_t seed) {
  ipc_reader_t r;
  memset(&r, 0, sizeof(r));
  core_buf_init(&r.buf);
  tally_t t = {0, 0};
  size_t off = 0;
  while (off < size) {
    size_t k = seed ? (size_t)(seed % 13) + 1 : size - off;
    if (k > size - off)
      k = size - off;
    char *piece = malloc(k);
    memcpy(piece, data + off, k);
    ipc_reader_feed(&r, piece, k, on_msg, &t);
    free(piece);
    off += k;
    seed = (uint8_t)(seed * 37 + 11);
    if (!seed)
      seed = 1;
  }
  ipc_reader_free(&r);
  return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  tally_t whole = feed(data + 1, size - 1, 0);
  tally_t cut = feed(data + 1, size - 1, data[0] | 1);
  if (whole.frames != cut.frames || whole.hash != cut.hash)
    abort();
  return 0;
}
