/* pino's line, byte for byte: the member order level, time, pid, hostname,
 * name, the caller's fields, msg; JSON escaping of the message and the
 * host; the level filter; level names. Each test captures stdout (fd 1,
 * where core_log_write writes) in a temporary file. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "xform/xform.h"

static int saved_fd = -1;
static FILE *cap;

static void capture(void) {
  fflush(stdout);
  cap = tmpfile();
  ck_assert_ptr_nonnull(cap);
  saved_fd = dup(STDOUT_FILENO);
  ck_assert_int_ge(saved_fd, 0);
  ck_assert_int_eq(dup2(fileno(cap), STDOUT_FILENO), STDOUT_FILENO);
}

/* Restores stdout and returns what was written (malloc'd, NUL-terminated). */
static char *captured(size_t *len) {
  dup2(saved_fd, STDOUT_FILENO);
  close(saved_fd);
  fseek(cap, 0, SEEK_END); /* the bytes went through the fd, not this FILE */
  long n = ftell(cap);
  char *out = calloc(1, (size_t)n + 1);
  rewind(cap);
  size_t got = fread(out, 1, (size_t)n, cap);
  fclose(cap);
  if (len)
    *len = got;
  return out;
}

/* The line up to "hostname": built the way pino does, for this process. */
static void expect_prefix(const char *line, int level, int64_t t0, int64_t t1) {
  char want[64];
  snprintf(want, sizeof(want), "{\"level\":%d,\"time\":", level);
  ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "line: %s", line);
  char *end;
  long long t = strtoll(line + strlen(want), &end, 10);
  ck_assert_msg(t >= t0 && t <= t1, "time %lld outside [%lld, %lld]", t, (long long)t0,
                (long long)t1);
  char pid[48];
  snprintf(pid, sizeof(pid), ",\"pid\":%d,\"hostname\":", (int)getpid());
  ck_assert_msg(strncmp(end, pid, strlen(pid)) == 0, "after time: %s", end);
}

/* The part after "hostname":"<host>". */
static const char *after_host(const char *line) {
  char host[128];
  ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
  core_buf_t b;
  core_buf_init(&b);
  core_buf_puts(&b, "\"hostname\":");
  core_buf_put_json_str(&b, host, strlen(host));
  const char *p = strstr(line, b.data);
  ck_assert_msg(p != NULL, "no %s in %s", b.data, line);
  p += b.len;
  core_buf_free(&b);
  return p;
}

START_TEST(line_shape) {
  core_log_init(CORE_LOG_INFO, "looplab");
  int64_t t0 = core_time_ms();
  capture();
  core_log_write(CORE_LOG_INFO, "\"worker\":3,\"workerPid\":77", "worker %d ready", 3);
  size_t len;
  char *out = captured(&len);
  int64_t t1 = core_time_ms();
  expect_prefix(out, 30, t0, t1);
  ck_assert_str_eq(after_host(out),
                   ",\"name\":\"looplab\",\"worker\":3,\"workerPid\":77,"
                   "\"msg\":\"worker 3 ready\"}\n");
  ck_assert(xform_json_valid(out, len, 2)); /* one JSON value and its newline */
  free(out);
}
END_TEST

/* No name, no fields: no empty member and no stray comma. */
START_TEST(optional_members) {
  core_log_init(CORE_LOG_TRACE, NULL);
  capture();
  core_log_write(CORE_LOG_WARN, NULL, "a");
  core_log_write(CORE_LOG_ERROR, "", "b");
  char *out = captured(NULL);
  char *second = strchr(out, '\n') + 1;
  ck_assert_ptr_eq(strchr(second, '\n'), second + strlen(second) - 1);
  second[-1] = '\0'; /* compare the lines one by one */
  ck_assert_str_eq(after_host(out), ",\"msg\":\"a\"}");
  ck_assert_str_eq(after_host(second), ",\"msg\":\"b\"}\n");
  ck_assert(strncmp(second, "{\"level\":50,", 12) == 0);
  free(out);
}
END_TEST

/* The message is text from anywhere (client paths, PostgreSQL errors): one
 * line whatever it holds. */
START_TEST(message_escaped) {
  core_log_init(CORE_LOG_INFO, "a\"b");
  capture();
  core_log_write(CORE_LOG_INFO, NULL, "%s",
                 "quote\" back\\ nl\n cr\r tab\t \x01 \x1f é😀");
  size_t len;
  char *out = captured(&len);
  ck_assert_str_eq(after_host(out),
                   ",\"name\":\"a\\\"b\",\"msg\":\"quote\\\" back\\\\ nl\\n cr\\r tab\\t "
                   "\\u0001 \\u001f é😀\"}\n");
  ck_assert_ptr_eq(strchr(out, '\n'), out + len - 1); /* exactly one line */
  ck_assert(xform_json_valid(out, len, 1));
  free(out);
}
END_TEST

/* The value of the line's "msg" member (up to the end of the line). */
static const char *msg_of(const char *out) {
  const char *msg = strstr(out, "\"msg\":\"");
  ck_assert_ptr_nonnull(msg);
  return msg + 7;
}

/* A message longer than the line buffer is cut, and the line stays one
 * complete JSON object. */
START_TEST(long_message_truncated) {
  core_log_init(CORE_LOG_INFO, NULL);
  char *big = malloc(5000);
  memset(big, 'x', 4999);
  big[4999] = '\0';
  capture();
  core_log_write(CORE_LOG_INFO, NULL, "%s", big);
  size_t len;
  char *out = captured(&len);
  const char *msg = msg_of(out);
  ck_assert_uint_eq(strspn(msg, "x"), 1023);
  ck_assert_str_eq(msg + 1023, "\"}\n");
  ck_assert(xform_json_valid(out, len, 1));
  free(out);
  free(big);
}
END_TEST

/* Cut inside a two-byte character (1022 x "a", then "é"), the line keeps
 * no half of it: it ends in the 1022nd "a". */
START_TEST(long_message_cut_on_a_character) {
  core_log_init(CORE_LOG_INFO, NULL);
  char big[1100];
  memset(big, 'a', 1022);
  strcpy(big + 1022, "\xc3\xa9 and more");
  capture();
  core_log_write(CORE_LOG_INFO, NULL, "%s", big);
  size_t len;
  char *out = captured(&len);
  const char *msg = msg_of(out);
  ck_assert_uint_eq(strspn(msg, "a"), 1022);
  ck_assert_str_eq(msg + 1022, "\"}\n");
  ck_assert_int_ge(core_utf8_count(out, len), 0);
  free(out);
}
END_TEST

START_TEST(level_filter) {
  core_log_init(CORE_LOG_WARN, NULL);
  ck_assert(!core_log_enabled(CORE_LOG_INFO));
  ck_assert(core_log_enabled(CORE_LOG_WARN));
  ck_assert(core_log_enabled(CORE_LOG_FATAL));
  capture();
  core_log_write(CORE_LOG_INFO, NULL, "dropped");
  LOG_DEBUG(NULL, "%s", "dropped");
  core_log_write(CORE_LOG_WARN, NULL, "kept");
  char *out = captured(NULL);
  ck_assert_ptr_null(strstr(out, "dropped"));
  ck_assert_ptr_nonnull(strstr(out, "\"msg\":\"kept\""));
  free(out);
  core_log_init(CORE_LOG_SILENT, NULL); /* silent: even fatal is dropped */
  ck_assert(!core_log_enabled(CORE_LOG_FATAL));
  capture();
  core_log_write(CORE_LOG_FATAL, NULL, "dropped");
  size_t len;
  free(captured(&len));
  ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(level_names) {
  static const struct {
    const char *name;
    int level;
  } t[] = {{"trace", 10}, {"debug", 20},   {"info", 30},    {"warn", 40},
           {"error", 50}, {"fatal", 60},   {"silent", 100}, {"", -1},
           {"INFO", -1},  {"warning", -1}, {"info ", -1},   {"30", -1}};
  for (size_t i = 0; i < ARRAY_SIZE(t); i++)
    ck_assert_msg(core_log_level_parse(t[i].name) == t[i].level, "\"%s\": %d, want %d",
                  t[i].name, core_log_level_parse(t[i].name), t[i].level);
}
END_TEST

Suite *core_log_suite(void) {
  Suite *s = suite_create("core_log");
  TCase *tc = tcase_create("log");
  tcase_add_test(tc, line_shape);
  tcase_add_test(tc, optional_members);
  tcase_add_test(tc, message_escaped);
  tcase_add_test(tc, long_message_truncated);
  tcase_add_test(tc, long_message_cut_on_a_character);
  tcase_add_test(tc, level_filter);
  tcase_add_test(tc, level_names);
  suite_add_tcase(s, tc);
  return s;
}
