#include "support/redis_server.h"

#include "support/ports.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace tether::test {

namespace {

std::string render(const redisReply* reply) {
  switch (reply->type) {
    case REDIS_REPLY_INTEGER: return std::to_string(reply->integer);
    case REDIS_REPLY_NIL: return "(nil)";
    case REDIS_REPLY_ERROR: return "(error) " + std::string(reply->str, reply->len);
    case REDIS_REPLY_ARRAY: {
      std::string text;
      for (std::size_t i = 0; i < reply->elements; ++i) {
        if (i) text += ' ';
        const redisReply* element = reply->element[i];
        text += element->type == REDIS_REPLY_ARRAY ? "[" + render(element) + "]" : render(element);
      }
      return text;
    }
    default: return std::string(reply->str, reply->len);
  }
}

}  // namespace

RedisServer::RedisServer(bool appendonly) : appendonly_(appendonly) {
  char pattern[] = "/tmp/tether-redis-XXXXXX";
  dir_ = ::mkdtemp(pattern);
  port_ = free_port();
}

RedisServer::~RedisServer() {
  kill();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

bool RedisServer::start() {
  if (pid_ > 0) return true;
  std::string port = std::to_string(port_);
  std::vector<std::string> args{"redis-server", "--port", port,  "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", appendonly_ ? "yes" : "no", "--dir", dir_,
                                "--logfile", dir_ + "/redis.log", "--daemonize", "no"};
  pid_ = ::fork();
  if (pid_ == 0) {
    // A test that crashes takes its redis-server along rather than leaving it running.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Not the test's stdout: a pipe reading it would wait for redis-server too.
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp("redis-server", argv.data());
    ::_exit(127);
  }
  for (int i = 0; i < 1000; ++i) {
    if (answers_ping()) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // it exited (port taken, not installed)
      pid_ = 0;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::kill(pid_, SIGCONT);  // a paused one too
  ::waitpid(pid_, nullptr, 0);
  pid_ = 0;
}

bool RedisServer::restart() {
  kill();
  return start();
}

void RedisServer::pause() const {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void RedisServer::resume() const {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

bool RedisServer::answers_ping() const { return command({"PING"}) == "PONG"; }

std::string RedisServer::command(std::initializer_list<std::string_view> args) const {
  timeval timeout{1, 0};
  redisContext* context = redisConnectWithTimeout("127.0.0.1", port_, timeout);
  if (!context || context->err) {
    if (context) redisFree(context);
    return "(no connection)";
  }
  redisSetTimeout(context, timeout);
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  std::string text = reply ? render(reply) : "(no connection)";
  if (reply) freeReplyObject(reply);
  redisFree(context);
  return text;
}

}  // namespace tether::test
