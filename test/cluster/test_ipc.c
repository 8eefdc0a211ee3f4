/* The primary <-> worker framing. The reader is pure: bytes in, messages
 * out, whatever way the pipe cut them (one byte at a time, split at every
 * offset, several frames in one read, a frame's length split across
 * reads), with payloads that hold type letters, empty and large payloads,
 * and a length longer than what has arrived (held, never read past). Then
 * ipc_send's frames across a real pipe on a loop, and its error returns. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/internal.h"

/* ---- what the callback saw ---- */

enum { MAX_MSGS = 64 };
typedef struct {
  int n;
  char type[MAX_MSGS];
  size_t len[MAX_MSGS];
  char *payload[MAX_MSGS]; /* copies: the reader's buffer moves on */
} seen_t;

static void on_msg(void *arg, char type, const char *payload, size_t len) {
  seen_t *s = arg;
  ck_assert_int_lt(s->n, MAX_MSGS);
  s->type[s->n] = type;
  s->len[s->n] = len;
  s->payload[s->n] = len ? malloc(len) : NULL;
  if (len)
    memcpy(s->payload[s->n], payload, len);
  s->n++;
}

static void seen_free(seen_t *s) {
  for (int i = 0; i < s->n; i++) free(s->payload[i]);
  memset(s, 0, sizeof(*s));
}

/* ---- a stream of every message type ---- */

static void put_frame(core_buf_t *b, char type, const void *p, uint32_t len) {
  core_buf_putc(b, type);
  if (type >= 'A' && type <= 'Z') {
    core_buf_append(b, &len, 4);
    core_buf_append(b, p, len);
  }
}

typedef struct {
  char type;
  const char *payload;
  uint32_t len;
} frame_t;

/* Every type, payloads holding type letters and length-looking bytes, an
 * empty payload. */
#define F(type, lit) \
  { type, lit, sizeof(lit) - 1 }
static const frame_t frames[] = {
    {MSG_READY, NULL, 0},
    {MSG_HANDLE, NULL, 0},
    F(MSG_SCRAPE, "\x07\x00\x00\x00"),
    {MSG_LISTEN, NULL, 0},
    F(MSG_TEXT, "\x07\x00\x00\x00# TYPE x gauge\nx 1\nhldraSCPT"),
    {MSG_TAKEN, NULL, 0},
    F(MSG_COLLECT, "\x01\x00\x00\x00"),
    F(MSG_SNAPSHOT, ""),
    {MSG_DRAIN, NULL, 0},
    F(MSG_SNAPSHOT, "\x02\x00\x00\x00P\xff\xff\xff\xffS"),
    {MSG_TAKEN, NULL, 0},
};

static void build_stream(core_buf_t *b) {
  core_buf_init(b);
  for (size_t i = 0; i < ARRAY_SIZE(frames); i++)
    put_frame(b, frames[i].type, frames[i].payload, frames[i].len);
}

static void expect_all(const seen_t *s) {
  ck_assert_int_eq(s->n, (int)ARRAY_SIZE(frames));
  for (size_t i = 0; i < ARRAY_SIZE(frames); i++) {
    ck_assert_msg(s->type[i] == frames[i].type, "message %zu: type '%c', want '%c'", i,
                  s->type[i], frames[i].type);
    ck_assert_uint_eq(s->len[i], frames[i].len);
    ck_assert(frames[i].len == 0 ||
              memcmp(s->payload[i], frames[i].payload, frames[i].len) == 0);
  }
}

/* The end offsets of the frames in the stream: after byte k, exactly the
 * frames ending at or before k must have been delivered. */
static size_t frame_end(size_t i) {
  size_t off = 0;
  for (size_t k = 0; k <= i; k++)
    off += 1 + ((frames[k].type >= 'A' && frames[k].type <= 'Z') ? 4 + frames[k].len : 0);
  return off;
}

START_TEST(whole_stream_at_once) {
  core_buf_t b;
  build_stream(&b);
  ipc_reader_t r = {{0}};
  seen_t s = {0};
  ipc_reader_feed(&r, b.data, b.len, on_msg, &s);
  expect_all(&s);
  ck_assert_uint_eq(r.buf.len, 0); /* nothing kept after complete frames */
  seen_free(&s);
  ipc_reader_free(&r);
  core_buf_free(&b);
}
END_TEST

START_TEST(byte_by_byte) {
  core_buf_t b;
  build_stream(&b);
  ipc_reader_t r = {{0}};
  seen_t s = {0};
  size_t next = 0; /* the next frame to complete */
  for (size_t k = 0; k < b.len; k++) {
    ipc_reader_feed(&r, b.data + k, 1, on_msg, &s);
    while (next < ARRAY_SIZE(frames) && frame_end(next) <= k + 1) next++;
    ck_assert_msg(s.n == (int)next, "after byte %zu: %d messages, want %zu", k + 1, s.n,
                  next);
  }
  expect_all(&s);
  ck_assert_uint_eq(r.buf.len, 0);
  seen_free(&s);
  ipc_reader_free(&r);
  core_buf_free(&b);
}
END_TEST

/* Two reads, cut at every offset (inside a type byte's length, inside a
 * payload, between frames); and three reads, cut at every pair. */
START_TEST(split_everywhere) {
  core_buf_t b;
  build_stream(&b);
  for (size_t k = 0; k <= b.len; k++) {
    ipc_reader_t r = {{0}};
    seen_t s = {0};
    ipc_reader_feed(&r, b.data, k, on_msg, &s);
    ipc_reader_feed(&r, b.data + k, b.len - k, on_msg, &s);
    expect_all(&s);
    seen_free(&s);
    ipc_reader_free(&r);
  }
  for (size_t i = 0; i <= b.len; i += 3)
    for (size_t j = i; j <= b.len; j += 5) {
      ipc_reader_t r = {{0}};
      seen_t s = {0};
      ipc_reader_feed(&r, b.data, i, on_msg, &s);
      ipc_reader_feed(&r, b.data + i, j - i, on_msg, &s);
      ipc_reader_feed(&r, b.data + j, b.len - j, on_msg, &s);
      expect_all(&s);
      seen_free(&s);
      ipc_reader_free(&r);
    }
  core_buf_free(&b);
}
END_TEST

/* A snapshot-sized payload (what MSG_SNAPSHOT carries) in 4 KiB reads, as
 * the primary's take_back reads a dead worker's pipe. */
START_TEST(large_payload_in_pieces) {
  size_t len = 4 + sizeof(metrics_snap_t);
  char *p = malloc(len);
  for (size_t i = 0; i < len; i++) p[i] = (char)(i * 131 + 7);
  core_buf_t b;
  core_buf_init(&b);
  put_frame(&b, MSG_SNAPSHOT, p, (uint32_t)len);
  put_frame(&b, MSG_READY, NULL, 0);
  ipc_reader_t r = {{0}};
  seen_t s = {0};
  for (size_t off = 0; off < b.len; off += 4096) {
    size_t n = b.len - off < 4096 ? b.len - off : 4096;
    ipc_reader_feed(&r, b.data + off, n, on_msg, &s);
    ck_assert_int_eq(s.n, off + n < len + 5 ? 0 : off + n < b.len ? 1 : 2);
  }
  ck_assert_int_eq(s.n, 2);
  ck_assert(s.type[0] == MSG_SNAPSHOT && s.len[0] == len);
  ck_assert(memcmp(s.payload[0], p, len) == 0);
  ck_assert(s.type[1] == MSG_READY);
  seen_free(&s);
  ipc_reader_free(&r);
  core_buf_free(&b);
  free(p);
}
END_TEST

/* A length far beyond what has arrived: nothing is delivered and nothing
 * past the bytes received is read (ASan); the frames after it wait behind
 * it. The reader has no maximum: both ends are this binary. */
START_TEST(oversized_length_is_held) {
  core_buf_t b;
  core_buf_init(&b);
  put_frame(&b, MSG_READY, NULL, 0);
  core_buf_putc(&b, MSG_TEXT);
  uint32_t huge = UINT32_MAX;
  core_buf_append(&b, &huge, 4);
  core_buf_puts(&b, "abc");
  put_frame(&b, MSG_DRAIN, NULL, 0);
  ipc_reader_t r = {{0}};
  seen_t s = {0};
  ipc_reader_feed(&r, b.data, b.len, on_msg, &s);
  ipc_reader_feed(&r, "xyz", 3, on_msg, &s);
  ck_assert_int_eq(s.n, 1);
  ck_assert(s.type[0] == MSG_READY);
  ck_assert_uint_eq(r.buf.len, b.len - 1 + 3); /* the partial frame is kept whole */
  seen_free(&s);
  ipc_reader_free(&r);
  core_buf_free(&b);
}
END_TEST

/* An empty read changes nothing, before and after data. */
START_TEST(empty_reads) {
  ipc_reader_t r = {{0}};
  seen_t s = {0};
  char none = 0;
  ipc_reader_feed(&r, &none, 0, on_msg, &s);
  ipc_reader_feed(&r, "S\x02\x00", 3, on_msg, &s);
  ipc_reader_feed(&r, &none, 0, on_msg, &s);
  ipc_reader_feed(&r, "\x00\x00hi", 4, on_msg, &s);
  ck_assert_int_eq(s.n, 1);
  ck_assert(s.type[0] == MSG_SCRAPE && s.len[0] == 2 &&
            memcmp(s.payload[0], "hi", 2) == 0);
  seen_free(&s);
  ipc_reader_free(&r);
}
END_TEST

/* ---- ipc_send over a real pipe ---- */

typedef struct {
  uv_pipe_t tx, rx;
  ipc_reader_t reader;
  seen_t seen;
  char buf[100];
  int want; /* messages to read before closing */
} rt_t;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  rt_t *t = h->data;
  *buf = uv_buf_init(t->buf, sizeof(t->buf)); /* small: frames span reads */
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  rt_t *t = st->data;
  ck_assert_int_ge(nread, 0);
  ipc_reader_feed(&t->reader, buf->base, (size_t)nread, on_msg, &t->seen);
  if (t->seen.n == t->want) {
    uv_close((uv_handle_t *)&t->rx, NULL);
    uv_close((uv_handle_t *)&t->tx, NULL);
  }
}

START_TEST(send_round_trip) {
  uv_loop_t loop;
  static rt_t t;
  int fds[2];
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ck_assert_int_eq(uv_pipe_init(&loop, &t.tx, 1), 0);
  ck_assert_int_eq(uv_pipe_init(&loop, &t.rx, 1), 0);
  ck_assert_int_eq(uv_pipe_open(&t.tx, fds[0]), 0);
  ck_assert_int_eq(uv_pipe_open(&t.rx, fds[1]), 0);
  t.rx.data = &t;
  /* head and body are joined into one payload; the big one spans reads. */
  static char body[3000];
  memset(body, 'b', sizeof(body));
  uint32_t token = 42;
  ck_assert_int_eq(ipc_send((uv_stream_t *)&t.tx, MSG_READY, NULL, 0, NULL, 0, NULL), 0);
  ck_assert_int_eq(
      ipc_send((uv_stream_t *)&t.tx, MSG_TEXT, &token, 4, body, sizeof(body), NULL), 0);
  ck_assert_int_eq(ipc_send((uv_stream_t *)&t.tx, MSG_SCRAPE, &token, 4, NULL, 0, NULL),
                   0);
  ck_assert_int_eq(ipc_send((uv_stream_t *)&t.tx, MSG_SNAPSHOT, NULL, 0, NULL, 0, NULL),
                   0);
  /* A payload-less type ignores the payload it is given. */
  ck_assert_int_eq(ipc_send((uv_stream_t *)&t.tx, MSG_DRAIN, &token, 4, body, 9, NULL),
                   0);
  t.want = 5;
  ck_assert_int_eq(uv_read_start((uv_stream_t *)&t.rx, on_alloc, on_read), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  seen_t *s = &t.seen;
  ck_assert_int_eq(s->n, 5);
  ck_assert(s->type[0] == MSG_READY && s->len[0] == 0);
  ck_assert(s->type[1] == MSG_TEXT && s->len[1] == 4 + sizeof(body));
  ck_assert(memcmp(s->payload[1], &token, 4) == 0);
  ck_assert(memcmp(s->payload[1] + 4, body, sizeof(body)) == 0);
  ck_assert(s->type[2] == MSG_SCRAPE && s->len[2] == 4);
  ck_assert(s->type[3] == MSG_SNAPSHOT && s->len[3] == 0);
  ck_assert(s->type[4] == MSG_DRAIN && s->len[4] == 0);
  ck_assert_uint_eq(t.reader.buf.len, 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  seen_free(s);
  ipc_reader_free(&t.reader);
}
END_TEST

static void on_closed(uv_handle_t *h) {
  (*(int *)h->data)++;
}

/* A send that cannot start returns the error and frees its request
 * (LeakSanitizer): a pipe with no descriptor, and a handle on a pipe that
 * is not an IPC one. */
START_TEST(send_errors) {
  uv_loop_t loop;
  uv_pipe_t unopened, plain;
  uv_tcp_t tcp;
  int fds[2], closed = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_pipe_init(&loop, &unopened, 1), 0);
  ck_assert_int_lt(ipc_send((uv_stream_t *)&unopened, MSG_READY, NULL, 0, NULL, 0, NULL),
                   0);
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ck_assert_int_eq(uv_pipe_init(&loop, &plain, 0), 0);
  ck_assert_int_eq(uv_pipe_open(&plain, fds[0]), 0);
  ck_assert_int_eq(uv_tcp_init(&loop, &tcp), 0);
  ck_assert_int_lt(
      ipc_send((uv_stream_t *)&plain, MSG_HANDLE, NULL, 0, NULL, 0, (uv_stream_t *)&tcp),
      0);
  unopened.data = plain.data = tcp.data = &closed;
  uv_close((uv_handle_t *)&unopened, on_closed);
  uv_close((uv_handle_t *)&plain, on_closed);
  uv_close((uv_handle_t *)&tcp, on_closed);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(closed, 3);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  close(fds[1]);
}
END_TEST

Suite *cluster_ipc_suite(void) {
  Suite *s = suite_create("cluster_ipc");
  TCase *tc = tcase_create("ipc");
  tcase_add_test(tc, whole_stream_at_once);
  tcase_add_test(tc, byte_by_byte);
  tcase_add_test(tc, split_everywhere);
  tcase_add_test(tc, large_payload_in_pieces);
  tcase_add_test(tc, oversized_length_is_held);
  tcase_add_test(tc, empty_reads);
  tcase_add_test(tc, send_round_trip);
  tcase_add_test(tc, send_errors);
  suite_add_tcase(s, tc);
  return s;
}
