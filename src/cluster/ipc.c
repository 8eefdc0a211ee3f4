/* Framing for the primary <-> worker pipe. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int has_payload(char type) {
  return type >= 'A' && type <= 'Z';
}

void ipc_reader_feed(ipc_reader_t *r, const char *data, size_t n, ipc_msg_cb cb,
                     void *arg) {
  core_buf_append(&r->buf, data, n);
  size_t off = 0;
  while (off < r->buf.len) {
    char type = r->buf.data[off];
    if (!has_payload(type)) {
      off++;
      cb(arg, type, NULL, 0);
      continue;
    }
    if (r->buf.len - off < 5)
      break;
    uint32_t len;
    memcpy(&len, r->buf.data + off + 1, 4);
    if (r->buf.len - off - 5 < len)
      break;
    cb(arg, type, r->buf.data + off + 5, len);
    off += 5 + len;
  }
  memmove(r->buf.data, r->buf.data + off, r->buf.len - off);
  r->buf.len -= off;
}

void ipc_reader_free(ipc_reader_t *r) {
  core_buf_free(&r->buf);
}

typedef struct {
  uv_write_t req;
  size_t len;
  char data[];
} ipc_write_t;

static void after_write(uv_write_t *req, int status) {
  free(container_of(req, ipc_write_t, req));
}

int ipc_send(uv_stream_t *pipe, char type, const void *head, size_t head_len,
             const void *body, size_t body_len, uv_stream_t *handle) {
  size_t payload = head_len + body_len;
  ipc_write_t *w = xmalloc(sizeof(*w) + 5 + payload);
  size_t n = 1;
  w->data[0] = type;
  if (has_payload(type)) {
    uint32_t len = (uint32_t)payload;
    memcpy(w->data + 1, &len, 4);
    if (head_len)
      memcpy(w->data + 5, head, head_len);
    if (body_len)
      memcpy(w->data + 5 + head_len, body, body_len);
    n = 5 + payload;
  }
  uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
  int rc = handle ? uv_write2(&w->req, pipe, &b, 1, handle, after_write)
                  : uv_write(&w->req, pipe, &b, 1, after_write);
  if (rc != 0)
    free(w);
  return rc;
}
