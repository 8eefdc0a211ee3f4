/* The transform's strict JSON parser: RFC 8259's grammar as JSON.parse
 * takes it, entry by entry (accept and refuse tables), the depth limit at
 * its boundary, the node array (types, counts, sibling links, decoded
 * strings, the last of repeated keys, key codes, the array growing), the
 * block-at-a-time string scanner at every offset, the bulk UTF-8 check and
 * the byte-level depth scan. Every implementation of W3 must accept exactly
 * the same documents, so each refusal below is one that cJSON or a lenient
 * parser would let through. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "xform/internal.h"
#include "xform/xform.h"

typedef struct {
  const char *s;
  size_t n;
} doc_t;

#define D(lit) \
  { lit, sizeof(lit) - 1 } /* keeps embedded NULs */

static const doc_t good[] = {
    D("0"),
    D("-0"),
    D("7"),
    D("-12"),
    D("1.5"),
    D("-0.25"),
    D("1e5"),
    D("1E5"),
    D("1e+5"),
    D("1e-5"),
    D("-1.5E-10"),
    D("0e0"),
    D("123456789012345678901234567890123456789012345678901234567890123456789"),
    D("1e400"), /* Infinity for JSON.parse too */
    D("\"\""),
    D("\"abc\""),
    D("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\""),
    D("\"\\u0041\\u00e9\\u20AC\""),
    D("\"\\uD83D\\uDE00\""), /* a surrogate pair */
    D("\"\\u0000\""),        /* an escaped NUL is a character like any */
    D("\"é€😀\""),
    D("\"\x7f\""),
    D("\"\xff\xfe\""), /* bytes are not checked for UTF-8 (documented) */
    D("true"),
    D("false"),
    D("null"),
    D("[]"),
    D("{}"),
    D("[1,\"a\",true,false,null,[],{}]"),
    D("{\"a\":1,\"b\":[2],\"c\":{\"d\":null}}"),
    D("{\"a\":1,\"a\":2}"),
    D("{\"\":0}"),
    D(" \t\r\n[ 1 , { \"a\" : [ ] } ] \r\n\t "),
    D("[[[[[[[[1]]]]]]]]"), /* depth 8: the limit */
};

static const doc_t bad[] = {
    D(""),
    D(" \n\t"),
    D("01"),
    D("-01"),
    D("00"),
    D("1."),
    D(".5"),
    D("-"),
    D("-a"),
    D("+1"),
    D("1e"),
    D("1e+"),
    D("1.e5"),
    D("0x10"),
    D("Infinity"),
    D("-Infinity"),
    D("NaN"),
    D("tru"),
    D("True"),
    D("nul"),
    D("nulll"),
    D("falsey"),
    D("[1,]"),
    D("[,1]"),
    D("[1 2]"),
    D("[1,,2]"),
    D("{\"a\"}"),
    D("{\"a\":}"),
    D("{\"a\" 1}"),
    D("{\"a\":1,}"),
    D("{,}"),
    D("{a:1}"),
    D("{'a':1}"),
    D("{1:1}"),
    D("'a'"),
    D("\"abc"),
    D("\"a\\\""),
    D("\"\\"),
    D("\"\\x41\""),
    D("\"\\'\""),
    D("\"\\u12\""),
    D("\"\\u12g4\""),
    D("\"\\U0041\""),
    D("\"\\uD800\""),        /* a lone high surrogate */
    D("\"\\uDC00\""),        /* a lone low surrogate */
    D("\"\\uD800\\u0041\""), /* high then not low */
    D("\"\\uD800\\uD800\""), /* high then high */
    D("\"\\uD800x\""),
    D("\"a\nb\""), /* raw control characters in a string */
    D("\"a\tb\""),
    D("\"a\x1f\""),
    D("\"a\0b\""),
    D("[1]x"),
    D("[1] [2]"),
    D("1 2"),
    D("[1]\0"), /* a trailing NUL is a byte like any */
    D("["),
    D("]"),
    D("{"),
    D("}"),
    D("[1"),
    D("{\"a\":1"),
    D("\f1"), /* form feed is not JSON whitespace */
    D("\v1"),
    D("\xc2\xa0"
      "1"),              /* nor is U+00A0 */
    D("\xef\xbb\xbf{}"), /* nor a byte-order mark */
    D("/*c*/1"),
    D("[1]//c"),
    D("[[[[[[[[[1]]]]]]]]]"), /* depth 9 */
};

START_TEST(accepts) {
  const doc_t *d = &good[_i];
  ck_assert_msg(xform_json_valid(d->s, d->n, XFORM_MAX_DEPTH), "refused: %.*s", (int)d->n,
                d->s);
}
END_TEST

START_TEST(refuses) {
  const doc_t *d = &bad[_i];
  ck_assert_msg(!xform_json_valid(d->s, d->n, XFORM_MAX_DEPTH), "accepted: %.*s",
                (int)d->n, d->s);
}
END_TEST

/* The input need not be NUL-terminated: a value cut anywhere is refused,
 * and nothing past n is read (ASan checks the heap copy's bound). */
START_TEST(prefixes_refused_without_terminator) {
  static const char doc[] = "{\"a\":[1,-2.5e3,\"x\\u00e9\\uD83D\\uDE00\",true,null]}";
  size_t n = sizeof(doc) - 1;
  for (size_t k = 0; k < n; k++) {
    char *p = xmalloc(k ? k : 1);
    memcpy(p, doc, k);
    ck_assert_msg(!xform_json_valid(p, k, 8), "accepted the %zu-byte prefix", k);
    free(p);
  }
  ck_assert(xform_json_valid(doc, n, 8));
}
END_TEST

START_TEST(depth_limit) {
  ck_assert(xform_json_valid("1", 1, 0)); /* a scalar has depth 0 */
  ck_assert(!xform_json_valid("[]", 2, 0));
  ck_assert(xform_json_valid("[]", 2, 1));
  ck_assert(!xform_json_valid("[{}]", 4, 1));
  ck_assert(xform_json_valid("[{},[]]", 7, 2));    /* siblings do not add up */
  ck_assert(xform_json_valid("[\"[[[[\"]", 8, 1)); /* brackets in a string */
}
END_TEST

/* The node array the transform walks: document order, counts, end links to
 * the next sibling, keys and strings decoded into the pool. */
START_TEST(node_array) {
  static const char doc[] =
      "{\"a\":[1,\"x\\u00e9\\n\"],\"b\":{\"c\":null},\"k\\\"\":\"\\uD83D\\uDE00\","
      "\"a\":true}";
  xj_doc_t d;
  ck_assert_int_eq(xj_parse(&d, doc, sizeof(doc) - 1, 8), 0);
  static const uint8_t types[] = {XJ_OBJ, XJ_ARR,  XJ_NUM, XJ_STR,
                                  XJ_OBJ, XJ_NULL, XJ_STR, XJ_TRUE};
  ck_assert_uint_eq(d.n, ARRAY_SIZE(types));
  for (size_t i = 0; i < d.n; i++) ck_assert_uint_eq(d.nodes[i].type, types[i]);
  ck_assert_uint_eq(d.nodes[0].count, 4);
  ck_assert_uint_eq(d.nodes[0].end, 8);
  ck_assert_uint_eq(d.nodes[1].count, 2);
  ck_assert_uint_eq(d.nodes[1].end, 4); /* "b" follows "a" */
  ck_assert_uint_eq(d.nodes[4].end, 6);
  ck_assert(d.nodes[2].v.num == 1.0);
  size_t n;
  const char *s = xj_str(&d, 3, &n);
  ck_assert(n == 4 && memcmp(s, "x\xc3\xa9\n", 4) == 0);
  s = xj_str(&d, 6, &n);
  ck_assert(n == 4 && memcmp(s, "\xf0\x9f\x98\x80", 4) == 0);
  ck_assert(d.nodes[6].klen == 2 && memcmp(d.strs + d.nodes[6].key, "k\"", 2) == 0);
  ck_assert_uint_eq(xj_get(&d, 0, "a"), 7); /* the last "a" wins, as in JSON.parse */
  ck_assert_uint_eq(xj_get(&d, 0, "b"), 4);
  ck_assert_uint_eq(xj_get(&d, 4, "c"), 5);
  ck_assert_uint_eq(xj_get(&d, 0, "c"), 0); /* only direct members */
  ck_assert_uint_eq(xj_get(&d, 0, "zz"), 0);
  xj_free(&d);
}
END_TEST

START_TEST(numbers_decoded) {
  static const struct {
    const char *s;
    double v;
  } t[] = {{"0", 0},        {"-0", -0.0},     {"12.5", 12.5}, {"-3e2", -300},
           {"25E-2", 0.25}, {"1e+3", 1000.0}, {"[7]", 7}};
  xj_doc_t d;
  for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
    ck_assert_int_eq(xj_parse(&d, t[i].s, strlen(t[i].s), 8), 0);
    ck_assert(d.nodes[d.n - 1].v.num == t[i].v);
    xj_free(&d);
  }
  /* A token longer than the parser's stack buffer (64 bytes). */
  char big[130] = "1";
  memset(big + 1, '0', 100);
  memcpy(big + 101, ".5e-100", 8);
  ck_assert_int_eq(xj_parse(&d, big, strlen(big), 8), 0);
  ck_assert_double_eq_tol(d.nodes[0].v.num, 1.0, 1e-12);
  xj_free(&d);
}
END_TEST

/* Strings are decoded into a pool of n + 1 bytes: the longest decodings of
 * every escape kind side by side must fit (ASan checks). */
START_TEST(string_pool_bound) {
  core_buf_t b;
  core_buf_init(&b);
  core_buf_puts(&b, "[\"");
  for (int i = 0; i < 2000; i++)
    core_buf_puts(&b, "\\uD83D\\uDE00\\u20ac\\n\xe2\x82\xac");
  core_buf_puts(&b, "\",{\"\\u00e9\\u00e9\":\"\"}]");
  xj_doc_t d;
  ck_assert_int_eq(xj_parse(&d, b.data, b.len, 8), 0);
  size_t n;
  xj_str(&d, 1, &n);
  ck_assert_uint_eq(n, 2000 * (4 + 3 + 1 + 3));
  ck_assert_uint_le(d.slen, b.len + 1);
  xj_free(&d);
  core_buf_free(&b);
}
END_TEST

START_TEST(depth_scan) {
  static const struct {
    const char *s;
    int depth;
  } t[] = {{"1", 0},
           {"[]", 1},
           {"[[],[[]]]", 3},
           {"{\"a\":{\"b\":[1]}}", 3},
           {"[\"[[[\"]", 1},       /* inside a string */
           {"[\"\\\"[[[\"]", 1},   /* after an escaped quote, still inside */
           {"[\"\\\\\",[[]]]", 3}, /* an escaped backslash ends before the quote */
           {"[[[", 3}};            /* invalid JSON is scanned all the same */
  for (size_t i = 0; i < ARRAY_SIZE(t); i++)
    ck_assert_msg(xj_depth(t[i].s, strlen(t[i].s)) == t[i].depth, "%s: %d, want %d",
                  t[i].s, xj_depth(t[i].s, strlen(t[i].s)), t[i].depth);
}
END_TEST

/* Strings are scanned a block (16 or 8 bytes) at a time: a byte that needs
 * a look (quote, backslash, control, non-ASCII) must be found wherever it
 * falls in or across a block, and the decoding must not depend on it. */
START_TEST(strings_across_blocks) {
  static const struct {
    const char *raw, *decoded; /* the special part, in the source and decoded */
  } sp[] = {{"\\\"", "\""},
            {"\\n", "\n"},
            {"\\u00e9", "\xc3\xa9"},
            {"\xc3\xa9", "\xc3\xa9"},
            {"\\uD83D\\uDE00", "\xf0\x9f\x98\x80"},
            {"\xe2\x82\xac", "\xe2\x82\xac"}};
  for (size_t t = 0; t < ARRAY_SIZE(sp); t++)
    for (size_t before = 0; before < 40; before++)
      for (size_t after = 0; after < 20; after += 3) {
        core_buf_t in, want;
        core_buf_init(&in);
        core_buf_init(&want);
        core_buf_puts(&in, "[\"");
        for (size_t k = 0; k < before; k++) core_buf_putc(&in, (char)('a' + k % 26));
        core_buf_append(&want, in.data + 2, before);
        core_buf_puts(&in, sp[t].raw);
        core_buf_puts(&want, sp[t].decoded);
        for (size_t k = 0; k < after; k++) core_buf_putc(&in, 'z');
        for (size_t k = 0; k < after; k++) core_buf_putc(&want, 'z');
        core_buf_puts(&in, "\",1]");
        xj_doc_t d;
        ck_assert_int_eq(xj_parse_utf8(&d, in.data, in.len, 8), 0);
        size_t n;
        const char *s = xj_str(&d, 1, &n);
        ck_assert_msg(n == want.len && memcmp(s, want.data, n) == 0, "%s at %zu + %zu",
                      sp[t].raw, before, after);
        ck_assert_uint_eq(d.n, 3);
        xj_free(&d);
        core_buf_free(&in);
        core_buf_free(&want);
      }
}
END_TEST

/* A raw control character or an ill-formed UTF-8 sequence inside a string
 * is refused at every offset from the block start (xj_parse_utf8 only; plain
 * xj_parse takes any byte above 0x1F). */
START_TEST(string_refusals_at_every_offset) {
  static const char *const ill[] = {
      "\x01", "\x1f", "\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
      "\x80"};
  for (size_t t = 0; t < ARRAY_SIZE(ill); t++)
    for (size_t before = 0; before < 40; before++) {
      core_buf_t in;
      core_buf_init(&in);
      core_buf_puts(&in, "{\"k\":\"");
      for (size_t k = 0; k < before; k++) core_buf_putc(&in, 'a');
      core_buf_puts(&in, ill[t]);
      core_buf_puts(&in, "xxxxxxxxxxxxxxxxxxxx\"}");
      xj_doc_t d;
      ck_assert_msg(xj_parse_utf8(&d, in.data, in.len, 8) != 0, "took %zu: %s", t,
                    in.data);
      xj_free(&d);
      ck_assert_int_eq(xj_parse(&d, in.data, in.len, 8) == 0,
                       (unsigned char)ill[t][0] >= 0x20);
      xj_free(&d);
      core_buf_free(&in);
    }
}
END_TEST

/* The first node array is sized from the input; documents of tiny values
 * need more, and the links must survive the arrays growing. */
START_TEST(node_array_grows) {
  core_buf_t in;
  core_buf_init(&in);
  core_buf_puts(&in, "[");
  for (int i = 0; i < 5000; i++)
    core_buf_printf(&in, "%s{\"a\":[%d,true]}", i ? "," : "", i);
  core_buf_puts(&in, "]");
  xj_doc_t d;
  ck_assert_int_eq(xj_parse(&d, in.data, in.len, 8), 0);
  ck_assert_uint_eq(d.n, 1 + 5000 * 4);
  ck_assert_uint_eq(d.nodes[0].count, 5000);
  ck_assert_uint_eq(d.nodes[0].end, d.n);
  /* Every node, so that one lost or moved in a copy shows. */
  uint32_t c = 1;
  for (int i = 0; i < 5000; i++, c = d.nodes[c].end) {
    const xj_node_t *nd = &d.nodes[c];
    ck_assert_msg(nd[0].type == XJ_OBJ && nd[0].count == 1 && nd[0].end == c + 4, "%d",
                  i);
    ck_assert_msg(nd[1].type == XJ_ARR && nd[1].count == 2 && nd[1].end == c + 4, "%d",
                  i);
    ck_assert_msg(nd[1].kid == XK_OTHER && nd[1].klen == 1, "%d", i);
    ck_assert_msg(nd[2].type == XJ_NUM && nd[2].v.num == i && nd[2].end == c + 3, "%d",
                  i);
    ck_assert_msg(nd[3].type == XJ_TRUE && nd[3].end == c + 4, "%d", i);
  }
  ck_assert_uint_eq(c, d.n);
  xj_free(&d);
  core_buf_free(&in);
}
END_TEST

/* Keys are coded as they are decoded, so an escaped spelling is the same
 * key and a near miss is another. */
START_TEST(key_codes) {
  static const char doc[] =
      "{\"\\u0069d\":1,\"Id\":2,\"ids\":3,\"customer\":4,\"category\":5,\"custome\":6,"
      "\"discount_pcT\":7,\"lines\":8,\"email\":9,\"orders\":10,\"status\":11,"
      "\"id\":12,\"quantity\":13,\"shipping\":14,\"placed_at\":15,\"unit_price\":16,"
      "\"discount_pct\":17,\"sku\":18,\"name\":19,\"\":20}";
  static const uint8_t kid[] = {XK_ID,           XK_OTHER,    XK_OTHER,     XK_CUSTOMER,
                                XK_CATEGORY,     XK_OTHER,    XK_OTHER,     XK_LINES,
                                XK_EMAIL,        XK_ORDERS,   XK_STATUS,    XK_ID,
                                XK_QUANTITY,     XK_SHIPPING, XK_PLACED_AT, XK_UNIT_PRICE,
                                XK_DISCOUNT_PCT, XK_SKU,      XK_NAME,      XK_OTHER};
  xj_doc_t d;
  ck_assert_int_eq(xj_parse(&d, doc, sizeof(doc) - 1, 8), 0);
  ck_assert_uint_eq(d.n, 1 + ARRAY_SIZE(kid));
  for (size_t i = 0; i < ARRAY_SIZE(kid); i++)
    ck_assert_msg(d.nodes[1 + i].kid == kid[i], "member %zu: %u", i, d.nodes[1 + i].kid);
  uint32_t m[XK_COUNT];
  xj_members(&d, 0, m);
  ck_assert_uint_eq(m[XK_ID], 12); /* the last "id" wins, the escaped one came first */
  ck_assert_uint_eq(m[XK_NAME], 19);
  xj_free(&d);
}
END_TEST

/* The bulk UTF-8 check: ASCII skipped 8 bytes at a time must still find an
 * ill-formed sequence at any offset, and accept well-formed ones there. */
START_TEST(utf8_valid) {
  static const char *const well[] = {"",
                                     "a",
                                     "\xc2\x80",
                                     "\xdf\xbf",
                                     "\xe0\xa0\x80",
                                     "\xef\xbf\xbf",
                                     "\xf0\x90\x80\x80",
                                     "\xf4\x8f\xbf\xbf",
                                     "\xed\x9f\xbf",
                                     "\xee\x80\x80",
                                     "\xef\xbb\xbf"};
  static const char *const ill[] = {"\x80",
                                    "\xbf",
                                    "\xc0\x80",
                                    "\xc1\xbf",
                                    "\xc2",
                                    "\xc2\x41",
                                    "\xe0\x9f\xbf",
                                    "\xed\xa0\x80",
                                    "\xed\xbf\xbf",
                                    "\xf0\x8f\xbf\xbf",
                                    "\xf4\x90\x80\x80",
                                    "\xf5\x80\x80\x80",
                                    "\xff",
                                    "\xe2\x82"};
  char buf[64];
  for (size_t pre = 0; pre < 20; pre++) {
    memset(buf, 'a', pre);
    for (size_t i = 0; i < ARRAY_SIZE(well); i++) {
      size_t n = strlen(well[i]);
      memcpy(buf + pre, well[i], n);
      memset(buf + pre + n, 'b', 9);
      ck_assert_msg(xj_utf8_valid(buf, pre + n + 9), "refused good %zu at %zu", i, pre);
      ck_assert_msg(xj_utf8_valid(buf, pre + n), "refused good %zu at the end", i);
    }
    for (size_t i = 0; i < ARRAY_SIZE(ill); i++) {
      size_t n = strlen(ill[i]);
      memcpy(buf + pre, ill[i], n);
      memset(buf + pre + n, 'b', 9);
      ck_assert_msg(!xj_utf8_valid(buf, pre + n + 9), "took bad %zu at %zu", i, pre);
      ck_assert_msg(!xj_utf8_valid(buf, pre + n), "took bad %zu at the end", i);
    }
  }
}
END_TEST

Suite *xform_json_suite(void) {
  Suite *s = suite_create("xform_json");
  TCase *tc = tcase_create("json");
  tcase_add_loop_test(tc, accepts, 0, (int)ARRAY_SIZE(good));
  tcase_add_loop_test(tc, refuses, 0, (int)ARRAY_SIZE(bad));
  tcase_add_test(tc, prefixes_refused_without_terminator);
  tcase_add_test(tc, depth_limit);
  tcase_add_test(tc, node_array);
  tcase_add_test(tc, numbers_decoded);
  tcase_add_test(tc, string_pool_bound);
  tcase_add_test(tc, depth_scan);
  tcase_add_test(tc, strings_across_blocks);
  tcase_add_test(tc, string_refusals_at_every_offset);
  tcase_add_test(tc, node_array_grows);
  tcase_add_test(tc, key_codes);
  tcase_add_test(tc, utf8_valid);
  suite_add_tcase(s, tc);
  return s;
}
