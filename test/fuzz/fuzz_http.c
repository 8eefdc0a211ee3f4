/* http: request bytes through the real connection code (src/http/conn.c:
 * llhttp glue, pipelining, bodies, error answers, keep-alive). One loop
 * lives for the whole run; each input is one connection over a socketpair
 * whose server end the server serves through uv_tcp_open. The first two
 * bytes choose where the rest is cut in two; the pieces are written with
 * loop turns between them, then the client half-closes and reads until
 * the server closes. Handlers answer at once, echo the body, or answer on
 * a later loop turn (so pipelined answers queue behind it). */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http.h"

static uv_loop_t loop;
static http_server_t server;
static http_router_t *router;

static void h_hello(http_req_t *req) {
  core_buf_puts(&req->out, "hello");
  http_respond(req, 200, "text/plain", NULL);
}

static void h_echo(http_req_t *req) {
  core_buf_append(&req->out, req->body.p, req->body.n);
  http_respond(req, 200, "application/octet-stream", NULL);
}

static void h_param(http_req_t *req) {
  const char *v;
  size_t n;
  if (http_query_get(req, "q", &v, &n))
    core_buf_append(&req->out, v, n);
  if (req->nparams > 0)
    core_buf_append(&req->out, req->params[0].p, req->params[0].n);
  http_respond_error(req, 404, NULL, "no %.*s", (int)req->path.n, req->path.p);
}

static void on_later(uv_idle_t *t) {
  http_req_t *req = t->data;
  core_buf_puts(&req->out, "later");
  http_respond(req, 200, "text/plain", NULL);
  uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

static void h_later(http_req_t *req) {
  uv_idle_t *t = malloc(sizeof(*t));
  uv_idle_init(req->server->loop, t);
  t->data = req;
  uv_idle_start(t, on_later);
}

static void setup(void) {
  uv_loop_init(&loop);
  router = http_router_new();
  http_router_add(router, HTTP_M_GET, "/hello", h_hello);
  http_router_add(router, HTTP_M_POST, "/echo", h_echo);
  http_router_add(router, HTTP_M_PUT, "/echo", h_echo);
  http_router_add(router, HTTP_M_GET, "/items/:id", h_param);
  http_router_add(router, HTTP_M_GET, "/later", h_later);
  http_server_opts_t o = {.body_limit = 1024,
                          .max_header_size = 2048,
                          .keep_alive_timeout = 5000,
                          .headers_timeout = 5000,
                          .request_timeout = 10000};
  http_server_init(&server, &loop, &o, router, NULL);
}

/* Reads whatever the server has written, without blocking. 1 at EOF. */
static int drain_client(int fd) {
  char buf[65536];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r == 0)
      return 1;
    if (r < 0)
      return 0;
  }
}

static void put(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
    } else {
      drain_client(fd);
      uv_run(&loop, UV_RUN_NOWAIT);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready) {
    setup();
    ready = 1;
  }
  if (size < 2)
    return 0;
  size_t cut = ((size_t)data[0] << 8 | data[1]) % (size - 1);
  data += 2;
  size -= 2;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    abort();
  fcntl(sv[0], F_SETFL, O_NONBLOCK);
  uv_tcp_t *tcp = http_server_tcp_new(&server);
  if (uv_tcp_open(tcp, sv[1]) != 0)
    abort();
  http_server_serve(&server, tcp);

  put(sv[0], data, cut);
  uv_run(&loop, UV_RUN_NOWAIT);
  drain_client(sv[0]);
  put(sv[0], data + cut, size - cut);
  shutdown(sv[0], SHUT_WR);
  /* The server must close the connection by itself once the client is
   * done: at EOF, after answering everything it has parsed. */
  int eof = 0;
  while (!eof || server.connections > 0) {
    uv_run(&loop, UV_RUN_ONCE);
    if (!eof)
      eof = drain_client(sv[0]);
  }
  close(sv[0]);
  /* Let the closed handles' callbacks run (the connection frees itself). */
  uv_run(&loop, UV_RUN_NOWAIT);
  return 0;
}
