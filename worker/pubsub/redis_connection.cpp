#include "worker/pubsub/redis_connection.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <vector>

#include "core/log.h"
#include "worker/pubsub/redis_loop.h"

namespace tether {

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{2000};

// Our connection, or null once drop() or close() let go of the context (its remaining
// callbacks, run by hiredis while it frees it, must not reach us).
RedisConnection* owner(const redisAsyncContext* context) { return static_cast<RedisConnection*>(context->data); }

}  // namespace

RedisConnection::RedisConnection(uv_loop_t* loop, RedisConnectionOptions options, Events events)
    : loop_(loop), options_(std::move(options)), events_(std::move(events)), timer_(new uv_timer_t) {
  uv_timer_init(loop_, timer_);
  timer_->data = this;
}

RedisConnection::~RedisConnection() { close(); }

void RedisConnection::start() {
  if (state_ == State::idle) connect();
}

void RedisConnection::connect() {
  state_ = State::connecting;
  const RedisAddress& a = options_.address;
  context_ = a.path.empty() ? redisAsyncConnect(a.host.c_str(), a.port) : redisAsyncConnectUnix(a.path.c_str());
  if (!context_ || context_->err) {
    last_error_ = context_ ? context_->errstr : "out of memory";
    LOG_DEBUG("redis %s %s: cannot connect: %s", options_.name.c_str(), a.to_string().c_str(), last_error_.c_str());
    if (context_) redisAsyncFree(context_);
    context_ = nullptr;
    wait_to_reconnect();
    if (events_.down) events_.down();
    return;
  }
  context_->data = this;
  if (!attach_redis_to_loop(context_, loop_)) {
    last_error_ = "cannot watch the socket";
    context_->data = nullptr;
    redisAsyncFree(context_);
    context_ = nullptr;
    wait_to_reconnect();
    if (events_.down) events_.down();
    return;
  }
  redisAsyncSetConnectCallback(context_, on_connect);
  redisAsyncSetDisconnectCallback(context_, on_disconnect);
  connect_deadline_ms_ = uv_now(loop_) + static_cast<std::uint64_t>(options_.connect_timeout.count());
  uv_timer_start(timer_, on_timer, static_cast<std::uint64_t>(options_.connect_timeout.count()), 0);
  authenticate();
}

// Queued before anything else, while the connection is being made: hiredis sends its buffer
// in order once connected. A refusal drops the connection (and is logged).
void RedisConnection::authenticate() {
  auto refused = [this](const char* what) {
    return [this, what](const redisReply* reply) {
      if (reply && reply->type == REDIS_REPLY_ERROR) {
        LOG_ERROR("redis %s %s: %s refused: %s", options_.name.c_str(), options_.address.to_string().c_str(), what, reply->str);
        drop("refused");
      }
    };
  };
  if (!options_.password.empty()) {
    std::vector<std::string_view> auth{"AUTH"};
    if (!options_.username.empty()) auth.push_back(options_.username);
    auth.push_back(options_.password);
    command(auth, refused("AUTH"));
  }
  if (options_.db != 0 && !events_.push) {  // pub/sub ignores the database
    std::string db = std::to_string(options_.db);
    std::string_view select[] = {"SELECT", db};
    command(select, refused("SELECT"));
  }
}

void RedisConnection::on_connect(const redisAsyncContext* context, int status) {
  RedisConnection* self = owner(context);
  if (!self) return;
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback, failing its commands: lost() does that.
    const_cast<redisAsyncContext*>(context)->data = nullptr;
    self->context_ = nullptr;
    self->lost(context->errstr);
    return;
  }
  self->state_ = State::up;
  self->backoff_ = std::chrono::milliseconds{0};
  self->arm_command_deadline();
  if (self->was_up_) ++self->reconnects_;
  self->was_up_ = true;
  LOG_DEBUG("redis %s %s: connected", self->options_.name.c_str(), self->options_.address.to_string().c_str());
  if (self->state_ == State::up && self->events_.up) self->events_.up();
}

void RedisConnection::on_disconnect(const redisAsyncContext* context, int status) {
  RedisConnection* self = owner(context);
  if (!self) return;
  // hiredis frees the context after this callback (and has failed its pending commands).
  self->context_ = nullptr;
  self->lost(status == REDIS_OK ? "closed by the server" : context->errstr);
}

// The connection is gone (hiredis frees the context itself): fail what waits, retry later.
void RedisConnection::lost(const char* why) {
  bool was_up = state_ == State::up;
  std::deque<Queued> failed;
  failed.swap(queued_);
  last_error_ = std::string(was_up ? "connection lost: " : "cannot connect: ") + (why && *why ? why : "no reason given");
  LOG_DEBUG("redis %s %s: %s", options_.name.c_str(), options_.address.to_string().c_str(), last_error_.c_str());
  wait_to_reconnect();
  for (Queued& q : failed) q.on_reply(nullptr);
  if (events_.down) events_.down();
}

// We give up on the connection (a timeout, a refusal): hiredis must not call us again.
void RedisConnection::drop(const char* why) {
  if (!context_) return;
  redisAsyncContext* context = context_;
  context_ = nullptr;
  context->data = nullptr;
  redisAsyncFree(context);  // inside a hiredis callback it frees when the callback returns
  lost(why);
}

void RedisConnection::wait_to_reconnect() {
  state_ = State::waiting;
  backoff_ = std::min(kMaxBackoff, backoff_ == std::chrono::milliseconds{0} ? kFirstBackoff : backoff_ * 2);
  uv_timer_start(timer_, on_timer, static_cast<std::uint64_t>(backoff_.count()), 0);
}

void RedisConnection::on_timer(uv_timer_t* timer) {
  auto& self = *static_cast<RedisConnection*>(timer->data);
  switch (self.state_) {
    case State::waiting: self.connect(); return;
    case State::connecting: self.drop(self.queued_.empty() ? "connect timed out" : "connect timed out (a command waited)"); return;
    case State::up:
      if (!self.queued_.empty() && self.queued_.front().deadline_ms <= uv_now(self.loop_)) self.drop("command timed out");
      else self.arm_command_deadline();
      return;
    default: return;
  }
}

// The timer follows the oldest command's deadline while one waits.
void RedisConnection::arm_command_deadline() {
  if (queued_.empty()) {
    uv_timer_stop(timer_);
    return;
  }
  std::uint64_t now = uv_now(loop_), deadline = queued_.front().deadline_ms;
  uv_timer_start(timer_, on_timer, deadline > now ? deadline - now : 0, 0);
}

bool RedisConnection::command(std::span<const std::string_view> args, Reply on_reply) {
  if (state_ != State::up && state_ != State::connecting) return false;
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  if (redisAsyncCommandArgv(context_, &RedisConnection::on_reply, nullptr, static_cast<int>(argv.size()), argv.data(),
                            lengths.data()) != REDIS_OK)
    return false;
  unsent_ = true;
  bool was_idle = queued_.empty();
  std::uint64_t deadline = uv_now(loop_) + static_cast<std::uint64_t>(options_.command_timeout.count());
  queued_.push_back(Queued{std::move(on_reply), deadline});
  if (was_idle && state_ == State::up) arm_command_deadline();
  // Connecting: a command never waits past its own deadline either (then the attempt is given
  // up, as its reply could no longer be told from a later one's).
  if (state_ == State::connecting && deadline < connect_deadline_ms_) {
    connect_deadline_ms_ = deadline;
    uv_timer_start(timer_, on_timer, deadline - uv_now(loop_), 0);
  }
  return true;
}

void RedisConnection::on_reply(redisAsyncContext* context, void* reply, void*) {
  RedisConnection* self = owner(context);
  if (!self || self->queued_.empty()) return;
  Reply on_reply = std::move(self->queued_.front().on_reply);
  self->queued_.pop_front();
  if (self->state_ == State::up) self->arm_command_deadline();
  on_reply(static_cast<const redisReply*>(reply));
}

void RedisConnection::on_push(redisAsyncContext* context, void* reply, void*) {
  RedisConnection* self = owner(context);
  if (self && reply && self->events_.push) self->events_.push(static_cast<const redisReply*>(reply));
}

bool RedisConnection::subscription(std::span<const std::string_view> args) {
  if (state_ != State::up && state_ != State::connecting) return false;
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  if (redisAsyncCommandArgv(context_, on_push, nullptr, static_cast<int>(argv.size()), argv.data(), lengths.data()) !=
      REDIS_OK)
    return false;
  unsent_ = true;
  return true;
}

// Only once connected: before that, hiredis would take a connect still in progress for done.
// A write error disconnects as it would in the adapter's callback (on_disconnect, lost()).
void RedisConnection::send_now() {
  if (!unsent_ || state_ != State::up || !context_) return;
  unsent_ = false;
  redisAsyncHandleWrite(context_);
}

// Every handle is closed here, not in the destructor: the owner may be destroyed only after its
// loop has run its last turn (the worker's hub is), and the close callbacks must run on it.
void RedisConnection::close() {
  if (state_ == State::closed) return;
  state_ = State::closed;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  if (context_) {
    redisAsyncContext* context = context_;
    context_ = nullptr;
    context->data = nullptr;
    redisAsyncFree(context);
  }
  std::deque<Queued> failed;
  failed.swap(queued_);
  for (Queued& q : failed) q.on_reply(nullptr);
}

}  // namespace tether
