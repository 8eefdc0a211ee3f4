/* The generator of W3 input documents. Deterministic from (seed, size):
 * splitmix64 only (never rand(), whose sequence differs between libcs), and
 * integer formatting only, so every platform writes the same bytes. The
 * load generator and the peers reuse it through looplab-gen. */
#include <stdio.h>
#include <string.h>

#include "xform.h"

typedef struct rng_s {
  uint64_t s;
} rng_t;

static uint64_t next(rng_t *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for test data (the modulo bias is negligible). */
static uint32_t below(rng_t *r, uint32_t n) {
  return (uint32_t)(next(r) % n);
}

static const char *const firsts[] = {
    "Ana",   "José",   "Zoë",    "Łukasz", "Søren", "François", "Jürgen", "Mei",
    "Chloé", "Ngọc",   "Ólafur", "Aiko",   "Björk", "Dmitrij",  "Émilie", "Иван",
    "Σοφία", "李",     "Priya",  "Omar",   "Noah",  "Emma",     "Liam",   "Olivia",
    "Mateo", "Amélie", "Kofi",   "Yara",   "Tomás", "Ingrid"};
static const char *const lasts[] = {"Smith",
                                    "García",
                                    "Müller",
                                    "Nowak",
                                    "Øster",
                                    "Dupont",
                                    "Nguyễn",
                                    "Tanaka",
                                    "Kowalski",
                                    "O'Brien",
                                    "Jean \"JJ\" Leclerc",
                                    "Петров",
                                    "Παπαδόπουλος",
                                    "王",
                                    "Sharma",
                                    "Haddad",
                                    "Brown",
                                    "Rossi",
                                    "Silva",
                                    "Johansson",
                                    "🦊 Fox",
                                    "Van der Berg",
                                    "Ødegård",
                                    "Çelik"};
static const char *const categories[] = {
    "books",  "electronics", "garden",     "toys",  "grocery",       "clothing",
    "sports", "beauty",      "automotive", "music", "jardín & café", "office"};
static const char *const offsets[] = {"Z",      "Z",      "+00:00", "+01:00", "+02:00",
                                      "+05:30", "+05:45", "+09:00", "-03:30", "-05:00",
                                      "-08:00", "+14:00", "-12:00", "+12:45", "-09:30",
                                      "+10:00", "+03:00", "-00:00"};
static const char *const discounts[] = {"0",  "5",     "10", "12.5", "15", "20",
                                        "25", "33.33", "50", "7.25", "100"};
static const char *const statuses[] = {"pending", "paid", "paid", "shipped", "delivered"};

static const char *pick(rng_t *r, const char *const *list, size_t n) {
  return list[below(r, (uint32_t)n)];
}
#define PICK(r, list) pick((r), (list), ARRAY_SIZE(list))

static void put_customer(core_buf_t *b, uint64_t seed, uint32_t idx) {
  rng_t r = {seed ^ (0xC0FFEEULL * (idx + 1))}; /* the same name every time for one id */
  char name[128];
  snprintf(name, sizeof(name), "%s %s", PICK(&r, firsts), PICK(&r, lasts));
  core_buf_printf(b, "\"customer\":{\"id\":%u,\"name\":", 100 + idx * 17);
  core_buf_put_json_str(b, name, strlen(name));
  uint32_t e = below(&r, 20);
  if (e < 14)
    core_buf_printf(b, ",\"email\":\"c%u@example.com\"", 100 + idx * 17);
  else if (e < 17)
    core_buf_puts(b, ",\"email\":null");
  core_buf_putc(b, '}');
}

/* A local date-time and an offset, written as RFC 3339. 3% fall on a leap
 * day; the rest within 2023-2025. */
static void put_time(core_buf_t *b, rng_t *r) {
  int64_t days;
  if (below(r, 100) < 3)
    days = xform_days_from_civil(below(r, 2) ? 2024 : 2028, 2, 29);
  else
    days = xform_days_from_civil(2023, 1, 1) + below(r, 365 * 3);
  uint32_t tod = below(r, 86400);
  int64_t y;
  unsigned m, d;
  xform_civil_from_days(days, &y, &m, &d);
  core_buf_printf(b, "\"placed_at\":\"%04lld-%02u-%02uT%02u:%02u:%02u", (long long)y, m,
                  d, tod / 3600, tod / 60 % 60, tod % 60);
  static const int frac_digits[] = {0, 0, 0, 0, 3, 3, 3, 6, 9, 1, 2};
  int fd = frac_digits[below(r, ARRAY_SIZE(frac_digits))];
  if (fd) {
    uint32_t v = below(r, 1000000000);
    char f[16];
    snprintf(f, sizeof(f), "%09u", v);
    core_buf_printf(b, ".%.*s", fd, f);
  }
  core_buf_printf(b, "%s\"", PICK(r, offsets));
}

static void put_price(core_buf_t *b, rng_t *r, uint32_t product) {
  rng_t pr = {product * 0x2545F4914F6CDD1DULL};
  uint32_t cents = 99 + below(&pr, 30000);
  uint32_t style = below(r, 20);
  if (style == 0)
    core_buf_printf(b, "\"%u\"", cents / 100);
  else if (style == 1)
    core_buf_printf(b, "\"%u.%u\"", cents / 100, cents % 10);
  else if (style < 4)
    core_buf_printf(b, "\"%u.%04u\"", cents / 100, below(r, 10000));
  else
    core_buf_printf(b, "\"%u.%02u\"", cents / 100, cents % 100);
}

static int quantity(rng_t *r) {
  uint32_t q = below(r, 100);
  if (q < 3)
    return 0;
  if (q < 6)
    return -1 - (int)below(r, 3);
  if (q < 8)
    return 6 + (int)below(r, 45);
  return 1 + (int)below(r, 5);
}

static void put_line(core_buf_t *b, rng_t *r) {
  uint32_t product = below(r, 2000);
  core_buf_printf(b, "{\"sku\":\"SKU-%05u\",\"category\":", product);
  const char *cat = categories[product % ARRAY_SIZE(categories)];
  core_buf_put_json_str(b, cat, strlen(cat));
  core_buf_printf(b, ",\"quantity\":%d,\"unit_price\":", quantity(r));
  put_price(b, r, product);
  if (below(r, 100) < 55)
    core_buf_printf(b, ",\"discount_pct\":\"%s\"", PICK(r, discounts));
  core_buf_putc(b, '}');
}

static void put_order(core_buf_t *b, rng_t *r, uint64_t seed, uint32_t k,
                      uint32_t ncust) {
  core_buf_printf(b, "{\"id\":%u,", 500000 + k * 3 + below(r, 3));
  put_customer(b, seed, below(r, ncust));
  core_buf_printf(b, ",\"status\":\"%s\",",
                  below(r, 100) < 8 ? "cancelled" : PICK(r, statuses));
  put_time(b, r);
  core_buf_puts(b, ",\"lines\":[");
  uint32_t n = 1 + below(r, 8);
  for (uint32_t j = 0; j < n; j++) {
    if (j)
      core_buf_putc(b, ',');
    put_line(b, r);
  }
  uint32_t ship = below(r, 10);
  if (ship < 2)
    core_buf_puts(b, "],\"shipping\":\"0\"}");
  else if (ship < 5)
    core_buf_puts(b, "],\"shipping\":\"4.99\"}");
  else
    core_buf_printf(b, "],\"shipping\":\"%u.%02u\"}", below(r, 40), below(r, 100));
}

void xform_generate(uint64_t seed, size_t target_bytes, core_buf_t *out) {
  rng_t r = {seed};
  size_t start = out->len;
  /* About 3 orders of about 420 bytes per customer. */
  uint32_t ncust = (uint32_t)(target_bytes / 1300) + 3;
  core_buf_reserve(out, target_bytes + 2048);
  core_buf_printf(out,
                  "{\"export_id\":\"gen-%llu-%zu\",\"currency\":\"EUR\",\"orders\":[",
                  (unsigned long long)seed, target_bytes);
  for (uint32_t k = 0; out->len - start + 3 < target_bytes; k++) {
    if (k)
      core_buf_putc(out, ',');
    core_buf_putc(out, '\n');
    put_order(out, &r, seed, k, ncust);
  }
  core_buf_puts(out, "]}\n");
}
