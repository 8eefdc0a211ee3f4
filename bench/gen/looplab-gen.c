/* looplab-gen: writes one W3 input document to stdout.
 *   looplab-gen --seed N --size BYTES[k|m]
 * The same arguments give the same bytes (xform_generate). Bad arguments:
 * one line on stderr, exit 2. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xform/xform.h"

static int usage(const char *msg) {
  fprintf(stderr, "looplab-gen: %s (usage: looplab-gen --seed N --size BYTES[k|m])\n",
          msg);
  return 2;
}

/* A decimal unsigned number with an optional k/m suffix (KiB/MiB). */
static int parse_u64(const char *s, int suffix, uint64_t *out) {
  char *end;
  if (*s < '0' || *s > '9')
    return -EINVAL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno)
    return -EINVAL;
  uint64_t mul = 1;
  if (suffix && (*end == 'k' || *end == 'K'))
    mul = 1024, end++;
  else if (suffix && (*end == 'm' || *end == 'M'))
    mul = 1024 * 1024, end++;
  if (*end != '\0' || v > UINT64_MAX / mul)
    return -EINVAL;
  *out = v * mul;
  return 0;
}

int main(int argc, char **argv) {
  uint64_t seed = 0, size = 0;
  int have_seed = 0, have_size = 0;
  for (int i = 1; i < argc; i++) {
    int is_seed = strcmp(argv[i], "--seed") == 0,
        is_size = strcmp(argv[i], "--size") == 0;
    if (!is_seed && !is_size)
      return usage("unknown argument");
    if (i + 1 >= argc)
      return usage("missing value");
    if (parse_u64(argv[++i], is_size, is_seed ? &seed : &size))
      return usage(is_seed ? "bad --seed" : "bad --size");
    if (is_seed)
      have_seed = 1;
    else
      have_size = 1;
  }
  if (!have_seed || !have_size)
    return usage("--seed and --size are required");
  if (size > (uint64_t)1 << 32)
    return usage("--size above 4g");
  core_buf_t out;
  core_buf_init(&out);
  xform_generate(seed, (size_t)size, &out);
  int ok = fwrite(out.data, 1, out.len, stdout) == out.len && fflush(stdout) == 0;
  core_buf_free(&out);
  if (!ok) {
    fprintf(stderr, "looplab-gen: write failed\n");
    return 1;
  }
  return 0;
}
