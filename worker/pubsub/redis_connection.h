// One hiredis async connection to one Redis server, on the worker's libuv loop (redis_loop.h). hiredis 0.14 bounds neither the connect nor a command, so this does, with one libuv
// timer: a connect that does not finish within connect_timeout is given up, and a command not
// answered within command_timeout fails, with every command queued behind it, and the connection
// is dropped (replies come in order: a late one must never be taken for a later command's).
// A lost connection is retried with exponential back-off, forever, until close().
//
// Two uses: a command connection (command(): one callback per reply, in order) and a
// subscriber connection (subscription(): SUBSCRIBE/UNSUBSCRIBE, whose confirmations and
// messages all go to Events::push).
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "core/redis_address.h"

struct redisAsyncContext;
struct redisReply;

namespace tether {

struct RedisConnectionOptions {
  RedisAddress address;
  std::string username;  // AUTH username password (Redis 6 ACL); empty: AUTH password
  std::string password;  // empty: no AUTH
  int db = 0;            // SELECT db when not 0 (command connections)
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
  std::string name;  // for log lines ("command", "subscriber")
};

class RedisConnection {
 public:
  // `reply` is null when the command failed without an answer (timeout, connection lost,
  // closed); else valid during the call only.
  using Reply = std::function<void(const redisReply* reply)>;
  struct Events {
    std::function<void()> up;                          // connected (AUTH and SELECT went first)
    std::function<void()> down;                        // lost, or gave up connecting: what was sent is gone
    std::function<void(const redisReply* reply)> push;  // subscriber connections: every push
  };

  RedisConnection(uv_loop_t* loop, RedisConnectionOptions options, Events events);
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;
  ~RedisConnection();

  // Connects (the first time at once, later with back-off).
  void start();
  bool up() const { return state_ == State::up; }
  const RedisAddress& address() const { return options_.address; }
  // Why the connection was last lost or refused; empty if it never was.
  const std::string& last_error() const { return last_error_; }
  // Neither connected nor failed yet (the very first attempt is under way).
  bool first_attempt_pending() const { return !was_up_ && last_error_.empty(); }
  // Queues a command (while connecting too: hiredis sends it once connected); false (and no
  // callback, ever) when there is no connection.
  bool command(std::span<const std::string_view> args, Reply on_reply);
  // SUBSCRIBE/UNSUBSCRIBE with their channel names; false when there is no connection.
  bool subscription(std::span<const std::string_view> args);
  std::uint64_t reconnects() const { return reconnects_; }
  // Writes what commands and subscription changes were queued since the last call, now rather
  // than when the loop next polls (hiredis writes only on a writable event: a turn later, after
  // whatever else that turn does, such as a flush to thousands of subscribers).
  void send_now();
  // Gives the connection up as lost (it stopped answering): fails what is queued, reconnects
  // with back-off.
  void reset(const char* why) { drop(why); }
  // Fails what is queued (callbacks with null) and disconnects for good.
  void close();

 private:
  enum class State { idle, connecting, up, waiting, closed };
  struct Queued {
    Reply on_reply;
    std::uint64_t deadline_ms;  // uv_now() + command_timeout when sent
  };

  static void on_connect(const redisAsyncContext* context, int status);
  static void on_disconnect(const redisAsyncContext* context, int status);
  static void on_reply(redisAsyncContext* context, void* reply, void* privdata);
  static void on_push(redisAsyncContext* context, void* reply, void* privdata);
  static void on_timer(uv_timer_t* timer);

  void connect();
  void authenticate();
  void lost(const char* why);
  void drop(const char* why);
  void arm_command_deadline();
  void wait_to_reconnect();

  uv_loop_t* loop_;
  RedisConnectionOptions options_;
  Events events_;
  redisAsyncContext* context_ = nullptr;  // owned by hiredis once connecting: freed by it or by drop()
  uv_timer_t* timer_;                     // connect deadline, command deadline or back-off; freed in its close callback
  std::deque<Queued> queued_;             // commands sent, in the order their replies come
  State state_ = State::idle;
  std::chrono::milliseconds backoff_{0};
  std::uint64_t connect_deadline_ms_ = 0;  // connecting: when the attempt is given up
  std::uint64_t reconnects_ = 0;
  bool was_up_ = false;
  bool unsent_ = false;  // something was queued since the last send_now()
  std::string last_error_;
};

}  // namespace tether
