/*
 * tether/module.h — the ABI between the tether server and its modules.
 *
 * A module is a shared object (.so) that exports one function, TETHER_MODULE_ENTRY, returning
 * a pointer to its descriptor (tether_module). The server loads it with dlopen() in every
 * worker process of a generation and in a short-lived checker process (for `tether -t` and
 * before every reload). The server gives the module a table of host functions (tether_host).
 *
 * Compatibility
 *   - The module's abi_major must equal the server's TETHER_MODULE_ABI_MAJOR, and its abi_minor
 *     must not be newer than the server's: a server accepts every module built for an older or
 *     equal minor version of the same major.
 *   - Both structs start with their own size. The server reads only the hooks that fit in the
 *     module's descriptor size; a module must check host->size (or host->abi_minor) before it
 *     calls a host function added after ABI 1.0. New members are only ever appended.
 *   - ABI 1.1 added pub/sub (feeds, subscribe, publish) and the stream callbacks on_overflow and
 *     on_shutdown.
 *   - ABI 1.2 adds no function; it fixes the callback rule below (servers before 1.2 could run
 *     on_close inside connection_write), so a module that relies on it asks for 1.2.
 *   - ABI 1.3 adds worker_unready() (the worker's readiness, with the broker's state).
 *   - ABI 1.4 adds, for access control: an access hook that waits (it returns TETHER_AGAIN and
 *     later calls respond() or request_continue()), credentials that expire on a live connection
 *     (connection_set_expiry(), the stream callback on_expired), their refresh (the module hook
 *     refresh, connection_refresh()), and non-blocking I/O on the worker's loop (io_start(),
 *     io_update(), io_stop()) for a module's own clients of other services, and who sent a
 *     request (request_authorized(), request_has_publish_token(), request_publish_allowed() and
 *     the module hook publish_allowed).
 *   - ABI 1.5 adds the server's status, for status pages: status_take() copies what the master
 *     knows of its generations and reloads, and the busiest channels over every worker, into a
 *     snapshot read with status_generation(), status_reload() and status_channel().
 *   - Nothing C++ crosses this boundary: no exceptions, no STL types, no memory allocated on one
 *     side and freed on the other (each side frees what it allocated).
 *
 * Threading: every hook and every host function runs on the worker's event-loop thread and must
 * not block. Blocking work goes through host->queue_work(): its `work` function runs on a thread
 * pool and must not call the host; its `after` function runs on the loop again.
 *
 * No connection callback inside a host function (1.2): the stream callbacks (on_read,
 * on_writable, on_close, on_overflow, on_shutdown, on_expired) and the connection_closed hook
 * never run inside a host function a module called. A connection that fails while the module
 * writes to it (the client reset, a TLS error) is only marked closing: connection_write()
 * returns -1, connection_close() and stream_end() do nothing more, subscribe() fails, and the
 * handle stays valid; on_close and connection_closed follow on a later turn of the loop. A module may
 * therefore keep using its own state after any host call, and frees it in on_close.
 * What does run inside host calls: a feed's encoders (inside subscribe() and connection_write()),
 * and, inside respond() and stream_end(), the next request the client pipelined (its access and
 * content hooks): the answered tether_request must not be used after respond().
 *
 * Lifecycle, per worker process:
 *   create_config (once per [modules.<name>] table)  -> create_route_config (per route with a
 *   [route.<name>] table) -> worker_init -> { connection_accepted / access / content / refresh /
 *   connection_closed }* -> worker_drain (the worker stops accepting) -> worker_exit ->
 *   destroy_route_config / destroy_config.
 * The checker process calls only create_config, create_route_config and the destroy hooks.
 *
 * Return codes follow nginx: TETHER_OK, TETHER_ERROR, TETHER_AGAIN, TETHER_DECLINED.
 * See tether-module(3) for a walk-through and examples/hello-module for a complete module.
 */
#ifndef TETHER_MODULE_H
#define TETHER_MODULE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TETHER_MODULE_ABI_MAJOR 1
#define TETHER_MODULE_ABI_MINOR 5

/* The symbol every module exports: const tether_module *tether_module_entry(void). */
#define TETHER_MODULE_ENTRY tether_module_entry
#define TETHER_MODULE_ENTRY_NAME "tether_module_entry"

#if defined(__GNUC__)
#define TETHER_MODULE_EXPORT __attribute__((visibility("default")))
#else
#define TETHER_MODULE_EXPORT
#endif

enum {
  TETHER_OK = 0,         /* done */
  TETHER_ERROR = -1,     /* failed; the server answers 500 where a request is involved */
  TETHER_AGAIN = -2,     /* not finished: the module will complete it later */
  TETHER_DECLINED = -5,  /* not mine / not present: the server goes on as if the hook did not exist */
};

typedef enum tether_log_level {
  TETHER_LOG_DEBUG = 0,
  TETHER_LOG_INFO = 1,
  TETHER_LOG_NOTICE = 2,
  TETHER_LOG_WARN = 3,
  TETHER_LOG_ERROR = 4,
} tether_log_level;

typedef enum tether_metric_type {
  TETHER_METRIC_COUNTER = 0, /* only goes up */
  TETHER_METRIC_GAUGE = 1,   /* goes up and down */
} tether_metric_type;

/* Opaque handles owned by the server. */
typedef struct tether_config tether_config;   /* a settings table; valid only during the hook it is given to */
typedef struct tether_worker tether_worker;   /* the worker process; valid from worker_init to worker_exit */
typedef struct tether_request tether_request; /* a request; valid until it is answered */
typedef struct tether_timer tether_timer;     /* valid until timer_stop() */
typedef struct tether_connection tether_connection; /* a client connection; valid until connection_closed */
typedef struct tether_feed tether_feed;       /* a wire format for pub/sub messages (1.1); valid until worker_exit */
typedef struct tether_buffer tether_buffer;   /* bytes a feed encoder appends to (1.1) */
typedef struct tether_io tether_io;           /* a descriptor watched on the loop (1.4); valid until io_stop() */
typedef struct tether_status tether_status;   /* a snapshot of the server's status (1.5); valid until status_release() */

/* A metric handle from metric_register(); 0 is "no metric". */
typedef uint32_t tether_metric;

/* One metric, summed over every worker, as metric_read() reports it. */
typedef struct tether_metric_sample {
  size_t size;           /* set by the caller to sizeof(tether_metric_sample) */
  const char *name;      /* Prometheus name, e.g. "tether_http_requests_total" */
  const char *labels;    /* label pairs without braces, e.g. "code=\"2xx\"", or "" */
  const char *help;
  tether_metric_type type;
  int64_t value;
} tether_metric_sample;

/* What a module may know of a request. Strings are not NUL-terminated: use the lengths. */
typedef struct tether_request_info {
  size_t size;               /* set by the caller to sizeof(tether_request_info) */
  const char *method;        size_t method_length;
  const char *target;        size_t target_length;  /* as sent: path and query */
  const char *path;          size_t path_length;    /* target without "?query" */
  const char *query;         size_t query_length;   /* after '?', empty if none */
  const char *body;          size_t body_length;    /* the whole body (bounded by max_body_size) */
  const char *route;         size_t route_length;   /* the matching route's path as configured */
  int http_major;
  int http_minor;
  const struct sockaddr *peer;                      /* the client's address */
  unsigned peer_length;
} tether_request_info;

/* What a module may know of a new connection (connection_accepted / connection_closed). */
typedef struct tether_connection_info {
  size_t size;
  int fd;                          /* the socket: options may be set, never close or read it; -1 in connection_closed */
  const struct sockaddr *peer;     unsigned peer_length;
  const struct sockaddr *local;    unsigned local_length; /* the [[listen]] address it came in on, as configured */
  tether_connection *connection;
} tether_connection_info;

/* Callbacks for a connection whose output (streamed response) or whole byte stream (after an
 * upgrade) a module owns. Every member may be NULL. */
typedef struct tether_stream_callbacks {
  size_t size; /* sizeof(tether_stream_callbacks) */
  /* Bytes from the client, after an upgrade only (including any that came with the request). */
  void (*on_read)(tether_connection *connection, const char *data, size_t length, void *user);
  /* connection_write() reported a backlog over TETHER_WRITE_BACKLOG; it has drained below it. */
  void (*on_writable)(tether_connection *connection, void *user);
  /* The connection is closed (client gone, error, drain_timeout, connection_close): always on a
   * turn of the loop of its own, never inside a host function. The handle is invalid once this
   * returns. Not called after stream_end(). */
  void (*on_close)(tether_connection *connection, void *user);
  /* (1.1) The pub/sub output queued for this client passed its limit with the "disconnect"
   * policy (see connection_set_queue_limit). Unsent messages are already discarded; write a
   * goodbye (a close frame) and call connection_close(). NULL: the server closes it. */
  void (*on_overflow)(tether_connection *connection, void *user);
  /* (1.1) The worker drained for drain_timeout and now ends long-lived connections: say goodbye
   * (WebSocket close 1001, an SSE retry hint) and call connection_close() (or stream_end()).
   * Connections still open a moment later are closed. NULL: the server closes it. */
  void (*on_shutdown)(tether_connection *connection, void *user);
  /* (1.4) The deadline set with connection_set_expiry() passed (within about a second): the
   * client's credentials expired. Say goodbye and end the connection: the websocket module
   * sends close 4001 "token expired", the sse module an "event: expired" and the end of the
   * stream. The deadline is cleared before this runs. NULL (or a struct without this member):
   * the server closes the connection. Runs on a turn of the loop of its own. */
  void (*on_expired)(tether_connection *connection, void *user);
} tether_stream_callbacks;

/* Past this many unsent bytes, stop writing until on_writable (backpressure). */
#define TETHER_WRITE_BACKLOG (64 * 1024)

/* Pub/sub (1.1). A message as a feed encodes it. Ids are "<epoch>-<sequence>" strings, the same on
 * every worker; they grow within an epoch. Strings are not NUL-terminated. */
typedef struct tether_message {
  size_t size;
  const char *channel;  size_t channel_length;
  const char *id;       size_t id_length;
  const void *data;     size_t data_length;
  uint64_t published_ms;  /* unix time in ms when it was sequenced (Redis broker: by the publishing node's clock) */
} tether_message;

typedef enum tether_notice_kind {
  /* A resume could not be complete: messages after `since` may be lost (history limits, or a
   * server restart: another epoch). What history still held follows the notice. */
  TETHER_NOTICE_GAP = 1,
  /* `count` messages were dropped for this slow client (policy "drop"). */
  TETHER_NOTICE_DROPPED = 2,
} tether_notice_kind;

typedef struct tether_notice {
  size_t size;
  tether_notice_kind kind;
  const char *channel;  size_t channel_length;   /* GAP: the channel; DROPPED: empty */
  const char *since;    size_t since_length;     /* GAP: the id the client resumed from */
  uint64_t count;                                /* DROPPED: how many */
} tether_notice;

/* How a feed turns messages into bytes for the wire. The server calls encode_message once per
 * message and feed, and queues the same bytes on every subscriber of that feed. */
typedef struct tether_feed_format {
  size_t size;  /* sizeof(tether_feed_format) */
  /* Append the encoding with host->buffer_append(); TETHER_OK, or TETHER_ERROR to skip it. */
  int (*encode_message)(void *user, const tether_message *message, tether_buffer *out);
  /* The same for notices; NULL: notices are not sent on this feed. */
  int (*encode_notice)(void *user, const tether_notice *notice, tether_buffer *out);
  void *user;
} tether_feed_format;

/* What to do when a subscriber's queued output passes its limit. */
typedef enum tether_slow_policy {
  TETHER_SLOW_DISCONNECT = 0, /* discard what is queued, on_overflow, close */
  TETHER_SLOW_DROP = 1,       /* drop the oldest queued messages, then send a DROPPED notice */
} tether_slow_policy;

typedef void (*tether_timer_cb)(tether_timer *timer, void *user);
typedef void (*tether_work_cb)(void *user);               /* thread pool: must not call the host */
typedef void (*tether_after_work_cb)(void *user, int status); /* loop thread; status TETHER_OK or TETHER_ERROR */

/* Non-blocking I/O on the worker's loop (1.4): what io_start() watches and its callback reports. */
enum {
  TETHER_IO_READ = 1,  /* readable (also at end of file: read() then returns 0) */
  TETHER_IO_WRITE = 2, /* writable */
  TETHER_IO_ERROR = 4, /* reported only: an error on the descriptor, or a socket's peer hung up */
};
/* `events`: READ and/or WRITE that are ready, and/or ERROR (after which the io is no longer
 * watched: io_stop() it, or io_update() to watch again). May call io_stop() on its own io. */
typedef void (*tether_io_cb)(tether_io *io, int events, void *user);

/* The server's status (1.5), as status_take() copied it. Strings are NUL-terminated and, like
 * `pids`, valid until status_release(). Each struct's `size` is set by the caller. */
typedef enum tether_generation_state {
  TETHER_GENERATION_STARTING = 0, /* forked by a reload, waiting for every worker to be ready */
  TETHER_GENERATION_SERVING = 1,  /* the generation that accepts new connections */
  TETHER_GENERATION_DRAINING = 2, /* replaced by a reload: finishing its connections (drain_timeout) */
  TETHER_GENERATION_STOPPING = 3, /* told to stop (a stop, a failed reload): exiting */
} tether_generation_state;

typedef struct tether_generation_info {
  size_t size;                   /* sizeof(tether_generation_info) */
  unsigned number;               /* 1 for the first generation, +1 for each reload */
  tether_generation_state state;
  uint64_t since_ms;             /* unix time in ms it entered `state` (as the master saw it) */
  unsigned workers;              /* worker processes configured */
  const int32_t *pids;           /* the running ones (at most 64 shown) */
  size_t pid_count;
  size_t running;                /* how many run: all of them, where pids shows at most 64 */
} tether_generation_info;

typedef struct tether_reload_info {
  size_t size;                   /* sizeof(tether_reload_info) */
  uint64_t time_ms;              /* unix time in ms the last reload ended; 0: none yet */
  int ok;                        /* 1: it succeeded, 0: it failed (the old generation serves on) */
  const char *message;           /* why it failed (the first error, at most 255 bytes); "" if ok */
} tether_reload_info;

typedef struct tether_channel_info {
  size_t size;                   /* sizeof(tether_channel_info) */
  const char *name;              /* a valid channel name */
  size_t name_length;
  uint64_t subscribers;          /* over every worker */
  uint64_t messages;             /* delivered since it last had no subscriber (the most any worker saw) */
} tether_channel_info;

/* Functions the server offers to modules. */
typedef struct tether_host {
  size_t size;
  uint16_t abi_major;
  uint16_t abi_minor;
  const char *server_version;

  /* Logging into the server's error log, prefixed with the module's name. printf format. */
  void (*log)(tether_log_level level, const char *module, const char *format, ...)
#if defined(__GNUC__)
      __attribute__((format(printf, 3, 4)))
#endif
      ;

  /* Settings, inside create_config / create_route_config only. Each getter returns TETHER_OK
   * with *value set, TETHER_DECLINED when the key is absent (value untouched), or TETHER_ERROR
   * when it has the wrong type (the error is already recorded with file:line:col). Strings stay
   * valid until the hook returns: copy what you keep. Durations are strings like "30s"; sizes
   * are integers or strings like "64KiB". */
  int (*config_string)(tether_config *settings, const char *key, const char **value);
  int (*config_integer)(tether_config *settings, const char *key, int64_t *value);
  int (*config_boolean)(tether_config *settings, const char *key, int *value);
  int (*config_duration_ms)(tether_config *settings, const char *key, uint64_t *value);
  int (*config_size)(tether_config *settings, const char *key, uint64_t *value);
  /* Records an error at `key` (or at the table when key is NULL); the config is then rejected. */
  void (*config_error)(tether_config *settings, const char *key, const char *message);
  /* Records an error for every key not in known[0..count). Returns TETHER_OK if there was none. */
  int (*config_only_keys)(tether_config *settings, const char *const *known, size_t count);
  /* A nested table (key = { ... } or [modules.<name>.key]), valid as long as `settings`. Same
   * return codes as the getters. */
  int (*config_table)(tether_config *settings, const char *key, tether_config **table);
  /* The keys of a table in file order, for tables whose keys are data (addresses, names). */
  size_t (*config_key_count)(tether_config *settings);
  const char *(*config_key)(tether_config *settings, size_t index);

  /* The worker. */
  unsigned (*worker_id)(const tether_worker *worker);          /* slot: 0..workers-1 */
  unsigned (*worker_generation)(const tether_worker *worker);
  int (*worker_draining)(const tether_worker *worker);         /* 1 once the worker drains */

  /* Requests, in access/content hooks and, for a request answered with TETHER_AGAIN, until
   * respond() (or, for an access hook, request_continue()) is called. Every request a module
   * deferred with TETHER_AGAIN must be answered exactly once with respond() (or let through
   * with request_continue()), even if the client went away meanwhile. */
  tether_worker *(*request_worker)(const tether_request *request);
  int (*request_info)(const tether_request *request, tether_request_info *info);
  /* The value of header `name` (case-insensitive), NULL if absent; not NUL-terminated. A field
   * the client sent on several lines comes as one value, its lines joined with ", " in order
   * (RFC 9110 5.3; Cookie lines with "; "), so "Connection: keep-alive" plus "Connection: Upgrade"
   * reads "keep-alive, Upgrade" and a singleton field sent twice reads as a value to refuse. */
  const char *(*request_header)(const tether_request *request, const char *name, size_t *length);
  /* Adds a header to the response respond() will send. The server sets Content-Length, Date,
   * Server and Connection itself. TETHER_ERROR for Content-Length, Transfer-Encoding, a name
   * that is not an HTTP token, or a value with CR, LF or another control byte but the tab. */
  int (*response_header)(tether_request *request, const char *name, const char *value);
  /* Answers the request with a status 200..599 (TETHER_ERROR, nothing sent, for a 1xx or a
   * `content_type` that is not a valid header value); `content_type` may be NULL. The body is
   * copied. */
  int (*respond)(tether_request *request, int status, const char *content_type, const void *body, size_t length);

  /* Connections, from a request or from connection_accepted. */
  tether_connection *(*request_connection)(const tether_request *request); /* NULL once the client left */
  int (*connection_fd)(const tether_connection *connection);  /* for setsockopt/getsockopt only */
  /* HTTP keep-alive of this connection from now on: the idle time allowed between requests
   * (0: [limits] keepalive_timeout) and the number of requests after which it closes (0: no
   * limit; the last answer carries "Connection: close"). */
  int (*connection_set_keepalive)(tether_connection *connection, uint64_t idle_timeout_ms, uint64_t max_requests);
  /* The heartbeat long-lived protocols use on this connection (WebSocket ping, SSE comment line):
   * one every interval_ms, and give up after timeout_ms without a sign of life. Default 30 s and
   * 60 s; the keepalive module sets them per listener or route. */
  int (*connection_set_heartbeat)(tether_connection *connection, uint64_t interval_ms, uint64_t timeout_ms);
  int (*connection_heartbeat)(const tether_connection *connection, uint64_t *interval_ms, uint64_t *timeout_ms);

  /* A streamed response (server-sent events, long downloads): sends the status line and the
   * headers now (with chunked encoding for HTTP/1.1; for HTTP/1.0 the connection closes at the
   * end) and answers the request. The body follows with connection_write(), which frames each
   * write as one chunk, and ends with stream_end(). Requests pipelined behind it wait. */
  tether_connection *(*stream_start)(tether_request *request, int status, const char *content_type,
                                     const tether_stream_callbacks *callbacks, void *user);
  int (*stream_end)(tether_connection *connection);
  /* Takes the connection over after a protocol upgrade: sends `status` (101) with the headers
   * set by response_header() (Upgrade, Connection, ...), then hands every byte the client sends
   * to on_read; connection_write() writes raw bytes. The HTTP layer is done with it. Any status
   * but 101 returns NULL and sends nothing (the request is still to be answered). */
  tether_connection *(*upgrade)(tether_request *request, int status, const tether_stream_callbacks *callbacks,
                                void *user);
  /* Queues bytes and returns how many are queued and not yet sent, or -1 when the connection is
   * closing. Over TETHER_WRITE_BACKLOG, wait for on_writable before writing more. Past the
   * connection's queue limit (connection_set_queue_limit, 1 MiB by default) the server stops
   * reading the client until it has taken some of its output (a client that sends pings or
   * messages to echo and never reads cannot grow the worker). */
  int64_t (*connection_write)(tether_connection *connection, const void *data, size_t length);
  /* Closes a streamed or upgraded connection once what was written is sent; on_close follows. */
  void (*connection_close)(tether_connection *connection);

  /* Timers on the worker's loop. repeat_ms 0 = once (the timer then stays allocated until
   * timer_stop). timer_stop() stops and frees it; call it exactly once per timer (a second call
   * is ignored with a warning). */
  tether_timer *(*timer_start)(tether_worker *worker, uint64_t timeout_ms, uint64_t repeat_ms, tether_timer_cb cb,
                               void *user);
  void (*timer_stop)(tether_timer *timer);

  /* Runs work(user) on a thread pool, then after(user, status) on the loop. */
  int (*queue_work)(tether_worker *worker, tether_work_cb work, tether_after_work_cb after, void *user);

  /* Metrics in memory shared by every worker (exported by the health module). Register in
   * worker_init; the same (name, labels) gives the same metric in every worker and generation.
   * Returns 0 when the registry is full or the name is not a valid Prometheus name. */
  tether_metric (*metric_register)(const char *name, const char *labels, const char *help, tether_metric_type type);
  void (*metric_add)(tether_worker *worker, tether_metric metric, int64_t delta);
  size_t (*metric_count)(void);
  int (*metric_read)(size_t index, tether_metric_sample *sample);

  /* Memory shared by every worker of every generation, for state that must be global (rate
   * limits, counts). The first call with a (name, size) anywhere allocates it, zeroed; every
   * later call, in any worker, returns the same memory. Zones live as long as the master and
   * come from [server] shared_memory; NULL when that is exhausted. Use atomics or locks that are
   * never held across I/O. Call it in worker_init. */
  void *(*shared_zone)(const char *name, size_t size);

  /* ---- ABI 1.1: pub/sub. Check host->abi_minor >= 1 before using these. ---- */

  /* A wire format for this worker's subscribers; call in worker_init. The format is copied;
   * `user` must stay valid until worker_exit. NULL on error. */
  tether_feed *(*feed_create)(tether_worker *worker, const tether_feed_format *format);
  /* For encoders: appends bytes to the encoding being built. Should memory run out, the
   * encoding is skipped (as for TETHER_ERROR), never sent cut short. */
  void (*buffer_append)(tether_buffer *out, const void *data, size_t length);
  /* Subscribes a streamed or upgraded connection to `channel`: from now on every message
   * published to it is encoded with `feed` and written to the connection, in order. With
   * `since` (an id the client saw last, may be NULL), the messages after it come first, from
   * the channel's history (or a GAP notice, then what history holds). TETHER_ERROR for an
   * invalid channel name (see channel_problem) or a connection that cannot take messages. */
  int (*subscribe)(tether_connection *connection, tether_feed *feed, const char *channel, size_t channel_length,
                   const char *since, size_t since_length);
  /* The limit of queued, unsent bytes for a connection's messages, and what happens beyond it.
   * Default: 1 MiB, TETHER_SLOW_DISCONNECT. A limit above 4 GiB counts as 4 GiB. */
  int (*connection_set_queue_limit)(tether_connection *connection, uint64_t max_bytes, tether_slow_policy policy);
  /* Publishes `data` to `channel` through the broker (the message reaches every subscriber on
   * every worker, this connection's too if it subscribed). TETHER_ERROR: invalid channel name or
   * data over [pubsub] max_message_size. */
  int (*publish)(tether_worker *worker, const char *channel, size_t channel_length, const void *data, size_t length);
  /* NULL if `channel` is a valid channel name, else a static message saying why not. */
  const char *(*channel_problem)(const char *channel, size_t channel_length);

  /* ---- ABI 1.3: readiness. Check host->abi_minor >= 3 before using it. ---- */

  /* NULL while the worker should be sent new clients; else why not, for readiness checks:
   * "draining", or what its broker lacks ("redis 127.0.0.1:6379: connection lost: ..."). The
   * text is valid until the worker's next call of this function. */
  const char *(*worker_unready)(const tether_worker *worker);

  /* ---- ABI 1.4: access control. Check host->abi_minor >= 4 before using these. ---- */

  /* For a request whose access hook returned TETHER_AGAIN: lets it through, exactly as if the
   * hook had returned TETHER_DECLINED (the remaining access hooks run, then the route's
   * handler, inside this call: the request must not be used after it). TETHER_OK; TETHER_DECLINED
   * when the client left while it waited (the request is released: nothing more to do with it);
   * TETHER_ERROR (and a warning in the log) for a request that does not wait in access. The
   * other way to finish a waiting request is respond() (e.g. 401). */
  int (*request_continue)(tether_request *request);
  /* The connection's credentials expire at `unix_ms` (wall clock, ms since 1970; 0 clears it).
   * Once it passes (checked about every half second), a streamed or upgraded connection gets
   * on_expired (or is closed without it); on a plain HTTP connection the passed deadline is
   * dropped. May be called in access (on request_connection()) before the stream or upgrade
   * starts, or any time later; a later call replaces the deadline. Costs the connection nothing
   * beyond its 8 bytes, and no timer. */
  int (*connection_set_expiry)(tether_connection *connection, uint64_t unix_ms);
  /* New credentials from the client of a connection (a WebSocket refresh message): calls the
   * refresh hook of every module that has one, in config order, with the route's config, until
   * one returns something else than TETHER_DECLINED, and returns that: TETHER_OK (accepted; the
   * module typically set a later expiry), TETHER_ERROR (refused; the old expiry stays), or
   * TETHER_DECLINED (no module handles refresh). No connection callback runs inside it. */
  int (*connection_refresh)(tether_connection *connection, const char *credentials, size_t length);
  /* Watches `fd` (a socket or pipe the module opened, non-blocking) for TETHER_IO_READ and/or
   * TETHER_IO_WRITE; cb(io, ready, user) on the loop. NULL on error. io_update() changes what is
   * watched (0: nothing for now). io_stop() stops watching and frees the io, once per io, also
   * from inside its callback; it never closes the fd (the module owns it). An io left at
   * worker_exit is stopped by the server with a warning. */
  tether_io *(*io_start)(tether_worker *worker, int fd, int events, tether_io_cb cb, void *user);
  int (*io_update)(tether_io *io, int events);
  void (*io_stop)(tether_io *io);

  /* Who sent a request, for access modules that check credentials (1.4). request_authorized():
   * this module checked who sent the request and lets it through on that; the built-in publish
   * handler then does not also ask for [pubsub] publish_token (a publish may carry either).
   * request_has_publish_token(): 1 when the request is for a built-in publish route and carries
   * that token as its bearer token (compared in constant time), so that such a module lets it
   * through unchecked (the handler checks it), 0 otherwise. */
  int (*request_authorized)(tether_request *request);
  int (*request_has_publish_token)(const tether_request *request);
  /* Whether the client of `request` may publish on `channel`, for a handler that will publish
   * what the client sends (the websocket module's client_messages = "publish"): asks the
   * publish_allowed hook of every module that has one. TETHER_OK unless one refused
   * (TETHER_ERROR: answer 403). */
  int (*request_publish_allowed)(tether_request *request, const char *channel, size_t channel_length);

  /* ---- ABI 1.5: status. Check host->abi_minor >= 5 before using these. ---- */

  /* A snapshot of the server's status: the generations and the last reload (from the master),
   * and the `max_channels` channels with the most subscribers over every worker (each worker
   * reports its 10 busiest about once a second, so a channel busy on no single worker may be
   * missing, and counts may be a second old). What other processes wrote is checked before it
   * gets here: counts are bounded, strings terminated, names valid. Only workers with a metrics
   * slot below 256 report channels (more than 255 worker processes at once: the others' are
   * missing). NULL when out of memory.
   * Release it with status_release(), in the same hook or later on the same worker. */
  tether_status *(*status_take)(tether_worker *worker, size_t max_channels);
  void (*status_release)(tether_status *status);
  /* TETHER_OK with *info filled, TETHER_ERROR for an index out of range or a size too small. */
  size_t (*status_generation_count)(const tether_status *status);
  int (*status_generation)(const tether_status *status, size_t index, tether_generation_info *info);
  int (*status_reload)(const tether_status *status, tether_reload_info *info);
  size_t (*status_channel_count)(const tether_status *status);
  int (*status_channel)(const tether_status *status, size_t index, tether_channel_info *info);
} tether_host;

/* A module's descriptor. Every hook may be NULL. `config` is what create_config returned for
 * the module's [modules.<name>] table; `route_config` what create_route_config returned for the
 * route's [route.<name>] table, NULL when the route has none. */
typedef struct tether_module {
  size_t size;          /* sizeof(tether_module) as the module was compiled */
  uint16_t abi_major;   /* TETHER_MODULE_ABI_MAJOR as the module was compiled */
  uint16_t abi_minor;   /* TETHER_MODULE_ABI_MINOR as the module was compiled */
  const char *name;     /* must equal the name in [modules.<name>] */
  const char *version;

  /* Settings: validate with the host's config_* functions and return TETHER_OK with *config
   * set (NULL is fine), or TETHER_ERROR. */
  int (*create_config)(const tether_host *host, tether_config *settings, void **config);
  int (*create_route_config)(const tether_host *host, tether_config *settings, void *config, void **route_config);
  void (*destroy_config)(void *config);
  void (*destroy_route_config)(void *route_config);

  /* Per worker: after the worker opened its listeners, before it accepts. TETHER_ERROR stops
   * the worker (and so fails a reload). */
  int (*worker_init)(const tether_host *host, tether_worker *worker, void *config);
  /* The worker stopped accepting and drains (reload or graceful stop). */
  void (*worker_drain)(tether_worker *worker, void *config);
  void (*worker_exit)(tether_worker *worker, void *config);

  /* A connection was accepted: TETHER_DECLINED (or TETHER_ERROR) closes it at once, before a
   * byte is read; connection_closed is then not called for it. */
  int (*connection_accepted)(tether_worker *worker, void *config, const tether_connection_info *connection);
  void (*connection_closed)(tether_worker *worker, void *config, const tether_connection_info *connection);

  /* Every request, before its handler, for every module (route_config NULL when the route has
   * no [route.<name>] table): TETHER_DECLINED lets it through; TETHER_OK means the module
   * answered it (e.g. 429); TETHER_ERROR answers 500. (1.4) TETHER_AGAIN: the module decides
   * later, on the loop (after asking another service), with respond() or request_continue();
   * meanwhile the connection reads no further request. Exactly one of the two must come, even
   * if the client left (respond() then drops the answer). */
  int (*access)(tether_request *request, void *config, void *route_config);
  /* The handler of routes with handler = "<name>": TETHER_OK answered, TETHER_AGAIN will answer
   * later with respond(), TETHER_DECLINED answers 404, TETHER_ERROR answers 500. */
  int (*content)(tether_request *request, void *config, void *route_config);

  /* ---- ABI 1.4 ---- */

  /* New credentials for a live connection (connection_refresh(), e.g. a WebSocket refresh
   * message), with the config of the route the connection came in on. TETHER_OK: accepted (set
   * a later expiry with connection_set_expiry()); TETHER_ERROR: refused; TETHER_DECLINED: not
   * this module's (the next module is asked). Must not block (the answer is needed now). */
  int (*refresh)(tether_connection *connection, void *config, void *route_config, const char *credentials,
                 size_t length);
  /* request_publish_allowed(): may this request's client publish on `channel` (the request is
   * in its handler, after this module's access hook let it through)? TETHER_OK: yes;
   * TETHER_ERROR: no; TETHER_DECLINED: not this module's to say. Must not block. */
  int (*publish_allowed)(tether_request *request, void *config, void *route_config, const char *channel,
                         size_t channel_length);
} tether_module;

typedef const tether_module *(*tether_module_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* TETHER_MODULE_H */
