/* pino-shaped NDJSON logging. One write(2) per line so lines from the
 * primary and the workers, which share stdout, never interleave. */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "core.h"

static int log_level = CORE_LOG_INFO;
static char log_host[128];
static char log_name[64];
static char log_fields[64]; /* on every line of this process, after name */

int64_t core_time_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void core_log_init(int level, const char *name) {
  log_level = level;
  if (gethostname(log_host, sizeof(log_host)) != 0)
    strcpy(log_host, "localhost");
  log_host[sizeof(log_host) - 1] = '\0';
  snprintf(log_name, sizeof(log_name), "%s", name ? name : "");
}

void core_log_set_fields(const char *fields) {
  snprintf(log_fields, sizeof(log_fields), "%s", fields ? fields : "");
}

int core_log_enabled(int level) {
  return level >= log_level;
}

int core_log_level_parse(const char *s) {
  static const struct {
    const char *name;
    int level;
  } levels[] = {{"trace", CORE_LOG_TRACE},  {"debug", CORE_LOG_DEBUG},
                {"info", CORE_LOG_INFO},    {"warn", CORE_LOG_WARN},
                {"error", CORE_LOG_ERROR},  {"fatal", CORE_LOG_FATAL},
                {"silent", CORE_LOG_SILENT}};
  for (size_t i = 0; i < ARRAY_SIZE(levels); i++)
    if (strcmp(s, levels[i].name) == 0)
      return levels[i].level;
  return -1;
}

void core_log_write(int level, const char *fields, const char *fmt, ...) {
  if (!core_log_enabled(level))
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  int full = vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* A message cut to the buffer must not end inside a UTF-8 sequence:
   * drop the lead byte and continuation bytes of a split last character,
   * so the line stays valid UTF-8 for whatever reads it (pino-pretty,
   * jq). */
  size_t len = strlen(msg);
  if (full > 0 && (size_t)full > len) {
    size_t end = len;
    while (end > 0 && ((unsigned char)msg[end - 1] & 0xC0) == 0x80) end--;
    if (end > 0 && (unsigned char)msg[end - 1] >= 0xC0) {
      unsigned char lead = (unsigned char)msg[end - 1];
      size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
      if (len - (end - 1) < need)
        msg[end - 1] = '\0';
    }
  }

  char head[512];
  int n = snprintf(head, sizeof(head),
                   "{\"level\":%d,\"time\":%lld,\"pid\":%d,\"hostname\":", level,
                   (long long)core_time_ms(), (int)getpid());
  core_buf_t out;
  core_buf_init(&out);
  core_buf_append(&out, head, (size_t)n);
  core_buf_put_json_str(&out, log_host, strlen(log_host));
  if (log_name[0]) {
    core_buf_puts(&out, ",\"name\":");
    core_buf_put_json_str(&out, log_name, strlen(log_name));
  }
  if (log_fields[0]) {
    core_buf_putc(&out, ',');
    core_buf_puts(&out, log_fields);
  }
  if (fields && fields[0]) {
    core_buf_putc(&out, ',');
    core_buf_puts(&out, fields);
  }
  core_buf_puts(&out, ",\"msg\":");
  core_buf_put_json_str(&out, msg, strlen(msg));
  core_buf_puts(&out, "}\n");
  ssize_t off = 0;
  while ((size_t)off < out.len) {
    ssize_t w = write(STDOUT_FILENO, out.data + off, out.len - (size_t)off);
    if (w <= 0)
      break;
    off += w;
  }
  core_buf_free(&out);
}
