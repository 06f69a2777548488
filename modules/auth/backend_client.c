/* The backend client (backend_client.h): questions, the pool of connections, the queue, the
 * breaker and the allow-cache. A question is in exactly one place at a time: the queue, a
 * connection (conn->call), or the list of answers to deliver; it is freed in one place,
 * free_call(). Answers are delivered at the end of the loop callback that produced them
 * (deliver()), so that a done() that asks or cancels finds the client in a settled state. */
#include "backend_client.h"

#include <stdlib.h>
#include <string.h>

#include "../common/list.h"
#include "allow_cache.h"
#include "backend_connection.h"

typedef enum call_place {
  CALL_QUEUED,
  CALL_SENT,      /* on a connection */
  CALL_ANSWERED,  /* in client->answers, waiting for deliver() */
  CALL_DELIVERING /* its done() runs */
} call_place;

struct backend_call {
  list_link link; /* client->queue or client->answers */
  backend_client *client;
  backend_connection *conn;
  call_place place;
  int probe, retried, canceled;
  backend_done_fn done;
  void *user;
  char *request;
  size_t request_length;
  char *cache_key; /* NULL without a cache */
  size_t cache_key_length;
  auth_timer *deadline;
  auth_event deadline_event;
  backend_verdict verdict; /* CALL_ANSWERED */
};

struct backend_client {
  auth_loop loop;
  backend_url url;
  backend_settings settings;
  breaker breaker;
  auth_timer *cool_down;
  auth_event cool_down_event;
  allow_cache *cache;
  list_link idle;    /* most recently used first */
  list_link busy;    /* connecting or carrying a question */
  list_link queue;   /* oldest first */
  list_link answers; /* to deliver, oldest first */
  uint32_t open, idle_count, queued;
  backend_verdict immediate; /* what ask() answers at once */
  backend_client_stats stats;
};

static const backend_connection_events connection_events;

const char backend_queue_full[] = "too many questions wait for the backend (queue full)";

void backend_settings_default(backend_settings *s) {
  memset(s, 0, sizeof *s);
  s->connect_timeout_ms = 1000;
  s->timeout_ms = 3000;
  s->pool_size = 16;
  s->max_idle = 16;
  s->idle_timeout_ms = 4000;
  s->queue_size = 1024;
  s->failure_threshold = 5;
  s->cool_down_ms = 5000;
  s->cache_ttl_ms = 2000;
  s->cache_entries = 1024;
  s->cache_bytes = 4u << 20;
}

static uint64_t now_ms(const backend_client *c) { return c->loop.now_ms(c->loop.context); }

static void insert_tail(list_link *head, list_link *link) { list_insert_head(head->prev, link); }

static backend_call *first_call(list_link *head) { return LIST_ENTRY(head->next, backend_call, link); }

/* ---- questions */

static void free_call(backend_call *call) {
  if (call->deadline) call->client->loop.timer_stop(call->deadline);
  backend_verdict_free(&call->verdict);
  free(call->request);
  free(call->cache_key);
  free(call);
}

/* The cool-down is over: the next question is the probe. */
static void on_cool_down(auth_event *event, int events) {
  backend_client *c = (backend_client *)((char *)event - offsetof(backend_client, cool_down_event));
  (void)events;
  c->loop.timer_stop(c->cool_down);
  c->cool_down = NULL;
  breaker_cooled(&c->breaker);
}

static void record_outcome(backend_client *c, const backend_call *call, const backend_verdict *v) {
  if (!breaker_record(&c->breaker, call->probe, v->result != BACKEND_FAILURE)) return;
  if (c->cool_down) c->loop.timer_stop(c->cool_down);
  c->cool_down = c->loop.timer_start(c->loop.context, c->settings.cool_down_ms, &c->cool_down_event);
  /* Without a timer the breaker would stay open: better to let the next question probe. */
  if (!c->cool_down) breaker_cooled(&c->breaker);
}

/* The question has its answer (taken over from *v): the breaker and the cache learn it, and it
 * waits in `answers` for deliver(), or is freed if its asker left. */
static void finish_call(backend_client *c, backend_call *call, backend_verdict *v) {
  if (call->deadline) c->loop.timer_stop(call->deadline);
  call->deadline = NULL;
  call->conn = NULL;
  record_outcome(c, call, v);
  if (call->cache_key) allow_cache_store(c->cache, call->cache_key, call->cache_key_length, v, now_ms(c));
  if (call->canceled) {
    backend_verdict_free(v);
    free_call(call);
    return;
  }
  call->verdict = *v;
  call->place = CALL_ANSWERED;
  insert_tail(&c->answers, &call->link);
}

static void fail_call(backend_client *c, backend_call *call, const char *why) {
  backend_verdict v;
  backend_verdict_set(&v, BACKEND_FAILURE, 0, why);
  finish_call(c, call, &v);
}

/* Runs the done() callbacks; the last thing every loop callback of the client does. */
static void deliver(backend_client *c) {
  while (!list_empty(&c->answers)) {
    backend_call *call = first_call(&c->answers);
    list_remove(&call->link);
    call->place = CALL_DELIVERING;
    call->done(call->user, &call->verdict);
    free_call(call);
  }
}

/* ---- the pool */

static void close_connection(backend_client *c, backend_connection *conn) {
  if (conn->state == BACKEND_IDLE) c->idle_count--;
  c->open--;
  backend_connection_close(conn);
}

static int put_on_new_connection(backend_client *c, backend_call *call) {
  backend_connection *conn =
      backend_connection_open(&c->loop, (const struct sockaddr *)&c->url.address, c->url.address_length,
                              c->settings.connect_timeout_ms, &connection_events, c, call->request, call->request_length);
  if (!conn) return -1;
  c->open++;
  c->stats.connects++;
  c->stats.calls++;
  insert_tail(&c->busy, &conn->link);
  conn->call = call;
  call->conn = conn;
  call->place = CALL_SENT;
  return 0;
}

static void put_on_idle_connection(backend_client *c, backend_call *call) {
  backend_connection *conn = LIST_ENTRY(c->idle.next, backend_connection, link);
  list_remove(&conn->link);
  c->idle_count--;
  insert_tail(&c->busy, &conn->link);
  c->stats.reuses++;
  c->stats.calls++;
  conn->call = call;
  call->conn = conn;
  call->place = CALL_SENT;
  backend_connection_send(conn, call->request, call->request_length);
}

/* Starts the queued questions that have a connection now. */
static void pump(backend_client *c) {
  while (!list_empty(&c->queue) && (c->idle_count > 0 || c->open < c->settings.pool_size)) {
    backend_call *call = first_call(&c->queue);
    list_remove(&call->link);
    c->queued--;
    if (c->idle_count > 0) {
      put_on_idle_connection(c, call);
    } else if (put_on_new_connection(c, call) != 0) {
      fail_call(c, call, "out of memory");
    }
  }
}

/* A connection that finished an exchange and may carry another. */
static void release(backend_client *c, backend_connection *conn) {
  if (c->idle_count >= c->settings.max_idle) {
    close_connection(c, conn);
    return;
  }
  list_remove(&conn->link);
  list_insert_head(&c->idle, &conn->link);
  c->idle_count++;
  if (backend_connection_idle(conn, c->settings.idle_timeout_ms) != 0) close_connection(c, conn);
}

static void on_answered(backend_connection *conn) {
  backend_client *c = conn->owner;
  backend_call *call = conn->call;
  backend_verdict v;
  backend_answer_verdict(&conn->answer, &v);
  conn->call = NULL;
  if (conn->answer.keep_alive)
    release(c, conn);
  else
    close_connection(c, conn);
  finish_call(c, call, &v);
  pump(c);
  deliver(c);
}

static void on_failed(backend_connection *conn, const char *why) {
  backend_client *c = conn->owner;
  backend_call *call = conn->call;
  /* The stale keep-alive race: the backend closed an idle connection as we took it. */
  int stale = conn->reused && conn->answer.received == 0 && !call->retried;
  conn->call = NULL;
  close_connection(c, conn);
  if (stale) {
    call->retried = 1;
    c->stats.retries++;
    if (put_on_new_connection(c, call) != 0) fail_call(c, call, "out of memory");
  } else {
    fail_call(c, call, why);
  }
  pump(c);
  deliver(c);
}

static void on_lost(backend_connection *conn) {
  backend_client *c = conn->owner;
  close_connection(c, conn);
  pump(c);
  deliver(c);
}

static const backend_connection_events connection_events = {on_answered, on_failed, on_lost};

/* The question's backend_timeout passed: in the queue, or on a connection that is closed for it. */
static void on_deadline(auth_event *event, int events) {
  backend_call *call = (backend_call *)((char *)event - offsetof(backend_call, deadline_event));
  backend_client *c = call->client;
  (void)events;
  c->stats.timeouts++;
  if (call->place == CALL_QUEUED) {
    list_remove(&call->link);
    c->queued--;
    fail_call(c, call, "timed out waiting for a connection to the backend");
  } else {
    backend_connection *conn = call->conn;
    conn->call = NULL;
    close_connection(c, conn);
    fail_call(c, call, "the backend did not answer in time");
  }
  pump(c);
  deliver(c);
}

/* ---- the API */

backend_client *backend_client_create(const auth_loop *loop, const backend_url *url, const backend_settings *s) {
  backend_client *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->loop = *loop;
  c->url = *url;
  c->settings = *s;
  if (c->settings.pool_size == 0) c->settings.pool_size = 1;
  if (c->settings.max_idle > c->settings.pool_size) c->settings.max_idle = c->settings.pool_size;
  breaker_init(&c->breaker, s->failure_threshold, s->on_breaker, s->on_breaker_user);
  c->cool_down_event.fire = on_cool_down;
  list_init(&c->idle);
  list_init(&c->busy);
  list_init(&c->queue);
  list_init(&c->answers);
  c->cache = allow_cache_create(s->cache_entries, s->cache_bytes, s->cache_ttl_ms, NULL);
  if (!c->cache && s->cache_entries && s->cache_ttl_ms) {
    free(c);
    return NULL;
  }
  return c;
}

static void free_connections(list_link *head) {
  list_link *at, *next;
  LIST_FOR_EACH_SAFE(at, next, head) {
    backend_connection *conn = LIST_ENTRY(at, backend_connection, link);
    if (conn->call) free_call(conn->call);
    backend_connection_close(conn);
  }
}

static void free_calls(list_link *head) {
  list_link *at, *next;
  LIST_FOR_EACH_SAFE(at, next, head) {
    list_remove(at);
    free_call(LIST_ENTRY(at, backend_call, link));
  }
}

void backend_client_destroy(backend_client *c) {
  if (!c) return;
  free_connections(&c->busy);
  free_connections(&c->idle);
  free_calls(&c->queue);
  free_calls(&c->answers);
  if (c->cool_down) c->loop.timer_stop(c->cool_down);
  allow_cache_destroy(c->cache);
  free(c);
}

static backend_ask answer_now(backend_client *c, const backend_verdict **answer, backend_ask status, const char *why) {
  backend_verdict_set(&c->immediate, BACKEND_FAILURE, 0, why);
  *answer = &c->immediate;
  return status;
}

/* A new question, its request built and its cache key made; NULL with *why set. */
static backend_call *new_call(backend_client *c, const backend_question *q, const char **why) {
  backend_call *call = calloc(1, sizeof *call);
  if (!call) {
    *why = "out of memory";
    return NULL;
  }
  call->client = c;
  list_init(&call->link);
  call->deadline_event.fire = on_deadline;
  backend_verdict_set(&call->verdict, BACKEND_FAILURE, 0, NULL);
  if ((*why = backend_request_build(&c->url, q, &call->request, &call->request_length))) {
    free(call);
    return NULL;
  }
  if (c->cache && !(call->cache_key = allow_cache_key(q, &call->cache_key_length))) {
    *why = "out of memory";
    free_call(call);
    return NULL;
  }
  return call;
}

backend_ask backend_client_ask(backend_client *c, const backend_question *q, backend_done_fn done, void *user,
                               backend_call **out, const backend_verdict **answer) {
  const backend_verdict *cached;
  const char *why = NULL;
  backend_call *call;
  *out = NULL;
  *answer = NULL;
  if (!(call = new_call(c, q, &why))) return answer_now(c, answer, BACKEND_ASK_INVALID, why);
  if (call->cache_key && (cached = allow_cache_find(c->cache, call->cache_key, call->cache_key_length, now_ms(c)))) {
    c->stats.cache_hits++;
    free_call(call);
    *answer = cached;
    return BACKEND_ASK_ANSWERED;
  }
  if (c->idle_count == 0 && c->open >= c->settings.pool_size && c->queued >= c->settings.queue_size) {
    c->stats.queue_full++;
    free_call(call);
    return answer_now(c, answer, BACKEND_ASK_ANSWERED, backend_queue_full);
  }
  if (!breaker_admit(&c->breaker, &call->probe)) {
    c->stats.breaker_refusals++;
    free_call(call);
    return answer_now(c, answer, BACKEND_ASK_ANSWERED, "the backend's circuit breaker is open");
  }
  call->done = done;
  call->user = user;
  call->deadline = c->loop.timer_start(c->loop.context, c->settings.timeout_ms, &call->deadline_event);
  if (!call->deadline) why = "out of memory";
  if (!why && c->idle_count > 0) {
    put_on_idle_connection(c, call);
  } else if (!why && c->open < c->settings.pool_size) {
    if (put_on_new_connection(c, call) != 0) why = "out of memory";
  } else if (!why) {
    call->place = CALL_QUEUED;
    insert_tail(&c->queue, &call->link);
    c->queued++;
  }
  if (why) {
    if (call->probe) breaker_probe_abandoned(&c->breaker);
    free_call(call);
    return answer_now(c, answer, BACKEND_ASK_ANSWERED, why);
  }
  *out = call;
  return BACKEND_ASK_PENDING;
}

void backend_client_cancel(backend_call *call) {
  backend_client *c;
  if (!call) return;
  c = call->client;
  switch (call->place) {
    case CALL_QUEUED:
      list_remove(&call->link);
      c->queued--;
      if (call->probe) breaker_probe_abandoned(&c->breaker);
      free_call(call);
      return;
    case CALL_ANSWERED:
      list_remove(&call->link);
      free_call(call);
      return;
    case CALL_SENT:
      call->canceled = 1; /* the exchange ends unseen: finish_call frees it */
      return;
    case CALL_DELIVERING: /* cancelled from its own done(): deliver() frees it */
      return;
  }
}

breaker_state backend_client_breaker(const backend_client *c) { return c->breaker.state; }

void backend_client_stats_get(const backend_client *c, backend_client_stats *out) {
  *out = c->stats;
  out->open = c->open;
  out->idle = c->idle_count;
  out->queued = c->queued;
}
