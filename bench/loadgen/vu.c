/* A virtual user: one keep-alive connection (handle, write request, timer
 * and llhttp response parser embedded in the VU) running one request at a
 * time: build, write, parse the response, record, decide what is next.
 *
 * Nothing here allocates per request: requests are built into the VU's
 * buffer (or are preformatted by the plan) and go out in one
 * uv_try_write; responses are read into one loop-wide buffer, which a read
 * callback consumes before it returns. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void send_request(vu_t *vu);

vu_t *load_vu_get(runner_t *r, unsigned id) {
  vu_t *vu;
  if (id < r->nvus)
    return r->vus[id];
  /* Allocated once, when first needed; never on the per-request path. */
  vu = calloc(1, sizeof(*vu));
  if (vu == NULL)
    abort();
  vu->r = r;
  vu->id = id;
  vu->conn = CONN_NONE;
  load_vu_state_init(&vu->st, id, r->o->seed);
  uv_timer_init(&r->loop, &vu->timer);
  r->vus[id] = vu;
  r->nvus = id + 1;
  r->res->vus_alloc = r->nvus;
  return vu;
}

static void on_tcp_close(uv_handle_t *h) {
  vu_t *vu = container_of(h, vu_t, tcp);
  vu->conn = CONN_NONE;
  vu->writing = 0;
  if (vu->want_connect && vu->r->phase != PH_DONE) {
    vu->want_connect = 0;
    load_vu_start(vu);
  }
}

void load_vu_disconnect(vu_t *vu) {
  if (vu->conn == CONN_OPEN || vu->conn == CONN_CONNECTING) {
    vu->conn = CONN_CLOSING;
    uv_close((uv_handle_t *)&vu->tcp, on_tcp_close);
  }
}

static void on_sleep(uv_timer_t *t);

/* Closed model: the VU stops looping (ramp-down or the end). */
void load_vu_stop(vu_t *vu) {
  runner_t *r = vu->r;
  if (vu->state == VU_SLEEPING)
    uv_timer_stop(&vu->timer);
  vu->state = VU_IDLE;
  vu->leave_ns = 0;
  if (vu->running) {
    vu->running = 0;
    r->running--;
  }
  load_vu_disconnect(vu);
}

/* The iteration is over: decide what the VU does next. */
static void end_iteration(vu_t *vu, int backoff) {
  runner_t *r = vu->r;
  const load_opts_t *o = r->o;
  uint64_t delay;

  vu->state = VU_IDLE;
  r->busy--;
  if (o->model == LOAD_OPEN) {
    vu->next_idle = r->idle;
    r->idle = vu;
    return;
  }
  if (vu->id >= r->wanted || r->phase != PH_RUN) {
    load_vu_stop(vu);
    return;
  }
  delay = o->sleep_min_ms;
  if (o->sleep_max_ms > o->sleep_min_ms)
    delay += load_rng_next(&vu->st.rng) % (o->sleep_max_ms - o->sleep_min_ms + 1);
  if (backoff && delay < CONNECT_BACKOFF_MS)
    delay = CONNECT_BACKOFF_MS;
  if (delay > 0) {
    vu->state = VU_SLEEPING;
    uv_timer_start(&vu->timer, on_sleep, delay, 0);
  } else {
    /* Sent after this iteration's other responses have been read, as wrk
     * does: a request sent now would have its response wait in our socket
     * while we read the others, and that wait is ours, not the server's. */
    vu->next_send = NULL;
    *r->send_tail = vu;
    r->send_tail = &vu->next_send;
  }
}

void load_vu_on_flush(uv_check_t *c) {
  runner_t *r = container_of(c, runner_t, flush);
  vu_t *vu = r->send_head;

  r->send_head = NULL;
  r->send_tail = &r->send_head;
  while (vu != NULL) {
    vu_t *next = vu->next_send;
    /* A VU stopped (or stopped and restarted) since it queued has
     * nothing left to do here. */
    if (vu->running && vu->state == VU_IDLE) {
      if (vu->id >= r->wanted || r->phase != PH_RUN)
        load_vu_stop(vu);
      else
        load_vu_start(vu);
    }
    vu = next;
  }
}

static void on_sleep(uv_timer_t *t) {
  vu_t *vu = container_of(t, vu_t, timer);
  vu->state = VU_IDLE;
  if (vu->id >= vu->r->wanted || vu->r->phase != PH_RUN)
    load_vu_stop(vu);
  else
    load_vu_start(vu);
}

static void count(runner_t *r, const vu_t *vu, int ok, int status) {
  load_results_t *res = r->res;
  res->reqs++;
  res->iterations++;
  res->reqs_kind[vu->req.kind]++;
  res->status_class[status >= 100 && status < 600 ? status / 100 : 0]++;
  res->status_code[status >= 100 && status < LOAD_STATUS_CODES ? status : 0]++;
  r->sec_reqs++;
  if (!ok) {
    res->failed++;
    res->failed_kind[vu->req.kind]++;
    r->sec_failed++;
  }
}

static int64_t us_between(uint64_t from, uint64_t to) {
  return from && to > from ? (int64_t)((to - from + 500) / 1000) : 0;
}

/* k6's phases of a request that got its response, in µs: blocked until
 * the write began (connecting included), connecting, sending, waiting for
 * the first byte, receiving the rest. */
static void phases(const vu_t *vu, uint64_t now, int64_t *ph) {
  uint64_t sent = vu->sent_ns ? vu->sent_ns : vu->send_ns;
  uint64_t first = vu->first_ns ? vu->first_ns : now;
  ph[LOAD_PH_BLOCKED] = us_between(vu->iter_ns, vu->send_ns);
  ph[LOAD_PH_CONNECTING] = (int64_t)((vu->conn_ns + 500) / 1000);
  ph[LOAD_PH_SENDING] = us_between(vu->send_ns, sent);
  ph[LOAD_PH_WAITING] = us_between(sent, first);
  ph[LOAD_PH_RECEIVING] = us_between(first, now);
  ph[LOAD_PH_ITERATION] = us_between(vu->iter_ns, now);
}

/* Every --out stream gets the request's samples, as k6 emits them. */
static void emit(vu_t *vu, uint64_t now, int status, int ok, int err, const int64_t *ph,
                 int64_t dur_us) {
  const load_sinks_t *k = vu->r->sinks;
  load_reqsample_t s;

  memset(&s, 0, sizeof(s));
  s.wall_s = load_runner_wall(vu->r, now);
  s.kind = vu->req.kind;
  s.status = status;
  s.ok = ok;
  s.err = err;
  s.timed = ph != NULL;
  s.duration = (double)dur_us / 1e3;
  s.phase[LOAD_PH_ITERATION] = (double)us_between(vu->iter_ns, now) / 1e3;
  for (int p = 0; ph && p < LOAD_PH_COUNT; p++) s.phase[p] = (double)ph[p] / 1e3;
  s.sent = vu->req.head_len + vu->req.body_len;
  s.received = vu->recv_bytes;
  for (int i = 0; i < k->nout; i++)
    load_out_request(k->out[i], k->out_csv[i], vu->r->o, &s);
}

/* A request ended without a usable response. backoff is set when the
 * connection could not be made. */
static void request_fail_ex(vu_t *vu, int err, int backoff) {
  runner_t *r = vu->r;
  uint64_t now;

  load_vu_disconnect(vu);
  if (vu->state != VU_BUSY)
    return;
  if (err == UV_ETIMEDOUT)
    r->res->timeouts++;
  else
    r->res->conn_errors++;
  now = uv_hrtime();
  hist_record(&r->res->phase[LOAD_PH_ITERATION], us_between(vu->iter_ns, now));
  if (r->sinks->nout)
    emit(vu, now, 0, 0, err, NULL, 0);
  count(r, vu, 0, 0);
  load_plan_done(&vu->st, &vu->req, 0, 0);
  end_iteration(vu, backoff);
}

void load_vu_fail(vu_t *vu, int err) {
  request_fail_ex(vu, err, 0);
}

static void request_complete(vu_t *vu) {
  runner_t *r = vu->r;
  uint64_t now = uv_hrtime();
  int64_t us = (int64_t)((now - vu->start_ns + 500) / 1000);
  int ok = vu->status == vu->req.expect;
  int64_t ph[LOAD_PH_COUNT];

  if (vu->writing) {
    /* The server answered before it read the whole body (an early 413,
     * say); finish once our write is done with the request. */
    vu->complete_pending = 1;
    return;
  }
  vu->complete_pending = 0;
  hist_record(&r->res->lat, us);
  hist_record(&r->res->lat_kind[vu->req.kind], us);
  hist_record(&r->sec, us);
  phases(vu, now, ph);
  for (int p = 0; p < LOAD_PH_COUNT; p++) hist_record(&r->res->phase[p], ph[p]);
  if (r->sinks->nout)
    emit(vu, now, vu->status, ok, 0, ph, us);
  count(r, vu, ok, vu->status);
  load_plan_done(&vu->st, &vu->req, ok, vu->loc_id);
  vu->served++;
  if (!vu->keep)
    load_vu_disconnect(vu);
  end_iteration(vu, 0);
}

/* ---- the response parser ---- */

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  vu_t *vu = p->data;
  if (vu->req.kind != LOAD_K_CREATE)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (vu->hname_len < (int)sizeof(vu->hname) - 1)
      vu->hname[vu->hname_len] = (char)(at[i] | 0x20);
    vu->hname_len++;
  }
  return 0;
}

static int on_header_field_complete(llhttp_t *p) {
  vu_t *vu = p->data;
  if (vu->req.kind == LOAD_K_CREATE) {
    vu->hname_is_loc = vu->hname_len == 8 && memcmp(vu->hname, "location", 8) == 0;
    vu->hname_len = 0;
  }
  return 0;
}

/* The created id is the number after the last '/' of Location, read as
 * it streams in so that a value split over two reads still parses. */
static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  vu_t *vu = p->data;
  if (vu->req.kind != LOAD_K_CREATE || !vu->hname_is_loc)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (at[i] == '/')
      vu->loc_id = 0;
    else if (at[i] >= '0' && at[i] <= '9' && vu->loc_id < INT64_MAX / 10)
      vu->loc_id = vu->loc_id * 10 + (at[i] - '0');
  }
  return 0;
}

static int on_header_value_complete(llhttp_t *p) {
  vu_t *vu = p->data;
  vu->hname_is_loc = 0;
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  vu_t *vu = p->data;
  vu->status = p->status_code;
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  vu_t *vu = p->data;
  vu->done = 1;
  vu->keep = llhttp_should_keep_alive(p);
  /* Stop here: anything after one response is not ours to parse. */
  return HPE_PAUSED;
}

/* ---- connections ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  vu_t *vu = container_of(h, vu_t, tcp);
  *buf = uv_buf_init(vu->r->rbuf, sizeof(vu->r->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  vu_t *vu = container_of(s, vu_t, tcp);
  runner_t *r = vu->r;
  llhttp_errno_t e;

  if (nread == 0)
    return;
  if (nread > 0) {
    r->res->bytes_recv += (uint64_t)nread;
    if (vu->state != VU_BUSY || vu->done) {
      load_vu_disconnect(vu); /* bytes nobody asked for */
      return;
    }
    if (!vu->got_bytes)
      vu->first_ns = uv_hrtime();
    vu->got_bytes = 1;
    vu->recv_bytes += (uint64_t)nread;
    e = llhttp_execute(&vu->parser, buf->base, (size_t)nread);
    if (vu->done)
      request_complete(vu);
    else if (e != HPE_OK)
      load_vu_fail(vu, UV_EPROTO);
    return;
  }
  /* EOF or an error. */
  if (vu->state != VU_BUSY || vu->done) {
    load_vu_disconnect(vu);
    return;
  }
  if (vu->got_bytes) {
    if (nread == UV_EOF && llhttp_finish(&vu->parser) == HPE_OK && vu->done) {
      vu->keep = 0;
      request_complete(vu);
    } else {
      load_vu_fail(vu, (int)nread);
    }
    return;
  }
  if (vu->served > 0 && !vu->retried) {
    /* The server closed a reused keep-alive connection just as we sent:
     * retry once on a new one, as browsers and Go's client do. The
     * latency keeps its original start. */
    vu->retried = 1;
    r->res->reconnects++;
    vu->want_connect = 1;
    load_vu_disconnect(vu);
    return;
  }
  load_vu_fail(vu, (int)nread);
}

static void on_connect(uv_connect_t *req, int status) {
  vu_t *vu = container_of(req, vu_t, connect_req);
  runner_t *r = vu->r;

  if (status == UV_ECANCELED)
    return;
  if (r->phase == PH_PRECONNECT && r->pending_connects > 0)
    r->pending_connects--;
  if (status < 0) {
    if (vu->state == VU_BUSY)
      request_fail_ex(vu, status, 1);
    else
      load_vu_disconnect(vu);
    return;
  }
  vu->conn = CONN_OPEN;
  vu->served = 0;
  if (vu->state == VU_BUSY)
    vu->conn_ns += uv_hrtime() - vu->conn_start_ns;
  llhttp_init(&vu->parser, HTTP_RESPONSE, &r->settings);
  vu->parser.data = vu;
  uv_read_start((uv_stream_t *)&vu->tcp, on_alloc, on_read);
  if (vu->state == VU_BUSY)
    send_request(vu);
}

int load_vu_connect(vu_t *vu) {
  runner_t *r = vu->r;
  int rc;

  rc = uv_tcp_init(&r->loop, &vu->tcp);
  if (rc != 0)
    return rc;
  vu->conn = CONN_CONNECTING;
  vu->conn_start_ns = uv_hrtime();
  uv_tcp_nodelay(&vu->tcp, 1);
  rc =
      uv_tcp_connect(&vu->connect_req, &vu->tcp, (struct sockaddr *)&r->addr, on_connect);
  if (rc != 0)
    load_vu_disconnect(vu);
  return rc;
}

static void on_write(uv_write_t *req, int status) {
  vu_t *vu = container_of(req, vu_t, write_req);
  vu->writing = 0;
  if (status == UV_ECANCELED)
    return;
  vu->sent_ns = uv_hrtime();
  if (status < 0)
    load_vu_fail(vu, status);
  else if (vu->complete_pending)
    request_complete(vu);
}

static void send_request(vu_t *vu) {
  runner_t *r = vu->r;
  uv_buf_t b[2];
  unsigned nb = 1;
  size_t total;
  int n;

  b[0] = uv_buf_init((char *)vu->req.head, (unsigned)vu->req.head_len);
  if (vu->req.body_len > 0)
    b[nb++] = uv_buf_init((char *)vu->req.body, (unsigned)vu->req.body_len);
  total = vu->req.head_len + vu->req.body_len;
  vu->send_ns = uv_hrtime();
  if (r->o->model == LOAD_CLOSED && !vu->retried)
    vu->start_ns = vu->send_ns;
  vu->sent_ns = vu->first_ns = vu->recv_bytes = 0;
  vu->done = vu->status = vu->got_bytes = vu->complete_pending = 0;
  vu->hname_len = vu->hname_is_loc = 0;
  vu->loc_id = 0;
  r->res->bytes_sent += total;
  if (llhttp_get_errno(&vu->parser) == HPE_PAUSED)
    llhttp_resume(&vu->parser);

  /* Usually the whole request leaves in this one call. */
  n = uv_try_write((uv_stream_t *)&vu->tcp, b, nb);
  if (n == (int)total) {
    vu->sent_ns = uv_hrtime();
    return;
  }
  if (n < 0 && n != UV_EAGAIN) {
    load_vu_fail(vu, n);
    return;
  }
  if (n > 0) {
    size_t skip = (size_t)n;
    if (skip >= b[0].len) {
      skip -= b[0].len;
      b[0] = uv_buf_init(b[1].base + skip, (unsigned)(b[1].len - skip));
      nb = 1;
    } else {
      b[0].base += skip;
      b[0].len -= skip;
    }
  }
  vu->writing = 1;
  n = uv_write(&vu->write_req, (uv_stream_t *)&vu->tcp, b, nb, on_write);
  if (n != 0) {
    vu->writing = 0;
    load_vu_fail(vu, n);
  }
}

/* Starts the VU's next request, connecting first if need be. The caller
 * has set start_ns when the latency origin is the intended start. */
void load_vu_start(vu_t *vu) {
  runner_t *r = vu->r;
  int rc;

  if (vu->state != VU_BUSY) {
    load_plan_next(r->plan, &vu->st, vu->buf, &vu->req);
    vu->state = VU_BUSY;
    vu->retried = 0;
    r->busy++;
    if (r->o->model == LOAD_CLOSED)
      vu->start_ns = uv_hrtime(); /* replaced at send; the timeout scan needs one */
    vu->iter_ns = vu->start_ns;
    vu->conn_ns = 0;
  }
  switch (vu->conn) {
    case CONN_OPEN:
      send_request(vu);
      break;
    case CONN_CLOSING:
      vu->want_connect = 1;
      break;
    case CONN_CONNECTING:
      break;
    default:
      rc = load_vu_connect(vu);
      if (rc != 0)
        request_fail_ex(vu, rc, 1);
      break;
  }
}

void load_vu_settings(llhttp_settings_t *s) {
  memset(s, 0, sizeof(*s));
  s->on_header_field = on_header_field;
  s->on_header_field_complete = on_header_field_complete;
  s->on_header_value = on_header_value;
  s->on_header_value_complete = on_header_value_complete;
  s->on_headers_complete = on_headers_complete;
  s->on_message_complete = on_message_complete;
}
