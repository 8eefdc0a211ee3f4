/* W1: item body validation, create/replace (partial 0) and PATCH
 * (partial 1), with content type application/json. Any bytes: the answer
 * is 0, 400 or 415, never a crash, a leak or a read past n. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static void check(const char *in, size_t n, int partial) {
  static const char ct[] = "application/json";
  http_span_t type = {ct, sizeof(ct) - 1};
  core_arena_t arena;
  core_arena_init(&arena, 1024);
  api_item_in_t item;
  char msg[256];
  const char *code = NULL;
  memset(&item, 0, sizeof(item));
  int rc =
      api_item_validate(&type, in, n, partial, &arena, &item, msg, sizeof(msg), &code);
  if (rc != 0 && rc != API_EBODY && rc != API_EMEDIA)
    abort();
  if (rc == 0) {
    /* Touch what it hands back, so ASan checks the strings. */
    if (item.has_name && strlen(item.name) > 1000000)
      abort();
    if (item.description && strlen(item.description) > 100000000)
      abort();
    if (item.has_tags && item.tags && strlen(item.tags) > 100000000)
      abort();
    if (!partial && !(item.has_name && item.has_price))
      abort();
  } else if (strlen(msg) >= sizeof(msg)) {
    abort();
  }
  core_arena_free(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *in = malloc(size ? size : 1);
  memcpy(in, data, size);
  check(in, size, 0);
  check(in, size, 1);
  free(in);
  return 0;
}
