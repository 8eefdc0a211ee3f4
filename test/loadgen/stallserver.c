/* A small HTTP/1.1 server for testing looplab-load: keep-alive, fixed
 * responses, and on request one stall of the whole loop, the way a GC
 * pause or a blocking call stalls a Node.js process.
 *
 *   stallserver [--port N] [--stall-ms MS --stall-after-ms MS] [--fail-every N]
 *
 * It listens on 127.0.0.1 (port 0 by default: the kernel picks a free one)
 * and prints "PORT <n>" on stdout once it listens. The stall happens in the
 * first request that arrives stall-after-ms after the first request.
 * Routes mimic looplab's enough for the scenarios: POST /items -> 201 with
 * Location, DELETE -> 204, /status/NNN -> NNN, anything else -> 200. */
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

typedef struct conn_s {
  uv_tcp_t tcp;
  llhttp_t parser;
  char url[256];
  size_t url_len;
} conn_t;

static uv_loop_t *loop;
static llhttp_settings_t settings;
static long stall_ms, stall_after_ms, fail_every;
static uint64_t first_ns, served, next_id = 1000000;
static int stalled;
static char rbuf[65536];

static const char ok_resp[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Content-Length: 15\r\n\r\n{\"status\":\"ok\"}";

static void on_written(uv_write_t *w, int status) {
  free(w);
}

static void reply(conn_t *c, const char *data, size_t len) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (n == (int)len)
    return;
  if (n < 0 && n != UV_EAGAIN)
    return;
  if (n < 0)
    n = 0;
  /* The rest goes with a copy: rare, so a malloc is fine here. */
  uv_write_t *w = malloc(sizeof(*w) + len - (size_t)n);
  if (w == NULL)
    abort();
  memcpy(w + 1, data + n, len - (size_t)n);
  b = uv_buf_init((char *)(w + 1), (unsigned)(len - (size_t)n));
  if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
    free(w);
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  conn_t *c = p->data;
  if (c->url_len + n < sizeof(c->url)) {
    memcpy(c->url + c->url_len, at, n);
    c->url_len += n;
  }
  return 0;
}

static void maybe_stall(void) {
  uint64_t now = uv_hrtime();
  if (first_ns == 0)
    first_ns = now;
  if (stall_ms > 0 && !stalled && now - first_ns >= (uint64_t)stall_after_ms * 1000000u) {
    stalled = 1;
    usleep((useconds_t)stall_ms * 1000);
  }
}

static int on_message_complete(llhttp_t *p) {
  conn_t *c = p->data;
  char resp[512];
  int method = llhttp_get_method(p), n;

  c->url[c->url_len] = '\0';
  c->url_len = 0;
  maybe_stall();
  served++;
  if (fail_every > 0 && served % (uint64_t)fail_every == 0) {
    n = snprintf(resp, sizeof(resp),
                 "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
  } else if (strncmp(c->url, "/status/", 8) == 0) {
    n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n",
                 atoi(c->url + 8));
  } else if (method == HTTP_POST && strcmp(c->url, "/items") == 0) {
    uint64_t id = next_id++;
    char body[64];
    int bl = snprintf(body, sizeof(body), "{\"id\":%llu}", (unsigned long long)id);
    n = snprintf(resp, sizeof(resp),
                 "HTTP/1.1 201 Created\r\nLocation: /items/%llu\r\nContent-Type: "
                 "application/json\r\nContent-Length: %d\r\n\r\n%s",
                 (unsigned long long)id, bl, body);
  } else if (method == HTTP_DELETE) {
    n = snprintf(resp, sizeof(resp), "HTTP/1.1 204 No Content\r\n\r\n");
  } else {
    reply(c, ok_resp, sizeof(ok_resp) - 1);
    return 0;
  }
  reply(c, resp, (size_t)n);
  return 0;
}

static void on_close(uv_handle_t *h) {
  free(container_of(h, conn_t, tcp));
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  *b = uv_buf_init(rbuf, sizeof(rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  conn_t *c = container_of(s, conn_t, tcp);
  if (n < 0) {
    uv_close((uv_handle_t *)s, on_close);
    return;
  }
  if (n > 0 && llhttp_execute(&c->parser, b->base, (size_t)n) != HPE_OK)
    uv_close((uv_handle_t *)s, on_close);
}

static void on_connection(uv_stream_t *server, int status) {
  conn_t *c;
  if (status < 0)
    return;
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    abort();
  uv_tcp_init(loop, &c->tcp);
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, on_close);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  llhttp_init(&c->parser, HTTP_REQUEST, &settings);
  c->parser.data = c;
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int main(int argc, char **argv) {
  uv_tcp_t server;
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int port = 0, len = sizeof(bound);

  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--port") == 0)
      port = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--stall-ms") == 0)
      stall_ms = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--stall-after-ms") == 0)
      stall_after_ms = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--fail-every") == 0)
      fail_every = atol(argv[i + 1]);
    else {
      fprintf(stderr, "stallserver: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  loop = uv_default_loop();
  settings.on_url = on_url;
  settings.on_message_complete = on_message_complete;
  uv_tcp_init(loop, &server);
  uv_ip4_addr("127.0.0.1", port, &addr);
  if (uv_tcp_bind(&server, (struct sockaddr *)&addr, 0) != 0 ||
      uv_listen((uv_stream_t *)&server, 4096, on_connection) != 0) {
    fprintf(stderr, "stallserver: cannot listen on port %d\n", port);
    return 1;
  }
  uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
  printf("PORT %d\n", ntohs(((struct sockaddr_in *)&bound)->sin_port));
  fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
