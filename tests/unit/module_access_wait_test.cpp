// An access hook that waits (module ABI 1.4): TETHER_AGAIN from access pauses the session, and
// the module finishes with respond() or request_continue(), which runs the remaining access
// hooks and the route's handler as if the hook had declined. Driven through a real HttpSession
// and ModuleRuntime, with two in-process modules: `waiter` (waits on requests for /wait) and
// `counter` (counts the access calls it sees, after it).
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <tether/module.h>

#include <memory>
#include <string>
#include <vector>

#include "worker/host/abi_handles.h"
#include "worker/host/module_api.h"
#include "worker/host/module_loader.h"
#include "worker/host/module_runtime.h"
#include "worker/http/http_session.h"

using tether::HttpSession;

namespace {

tether_request* waiting = nullptr;
int waiter_calls = 0;
int counter_calls = 0;

int wait_on_wait_routes(tether_request* request, void*, void*) {
  ++waiter_calls;
  tether_request_info info{};
  info.size = sizeof info;
  tether::module_host_table().request_info(request, &info);
  if (std::string(info.path, info.path_length) != "/wait") return TETHER_DECLINED;
  waiting = request;
  return TETHER_AGAIN;
}

int count(tether_request*, void*, void*) {
  ++counter_calls;
  return TETHER_DECLINED;
}

tether_module access_module(const char* name, int (*access)(tether_request*, void*, void*), std::size_t size,
                            std::uint16_t minor) {
  tether_module m{};
  m.size = size;
  m.abi_major = TETHER_MODULE_ABI_MAJOR;
  m.abi_minor = minor;
  m.name = name;
  m.version = "1";
  m.access = access;
  return m;
}

class WaitingAccessHook : public ::testing::Test {
 protected:
  WaitingAccessHook() : host_(tether::module_host_table()) {
    waiting = nullptr;
    waiter_calls = counter_calls = 0;
    for (const char* path : {"/wait", "/open"}) {
      tether::RouteConfig route;
      route.path = path;
      route.respond.body = std::string(path + 1) + " answered";
      config_.routes.push_back(route);
    }
  }

  // The waiter as a module of ABI `minor` (1.3: a descriptor that ends before `refresh`).
  void start(std::uint16_t minor = TETHER_MODULE_ABI_MINOR) {
    std::size_t size = minor >= 4 ? sizeof(tether_module) : offsetof(tether_module, refresh);
    waiter_ = access_module("waiter", wait_on_wait_routes, size, minor);
    counter_ = access_module("counter", count, sizeof(tether_module), TETHER_MODULE_ABI_MINOR);
    for (const char* name : {"waiter", "counter"}) {
      tether::ModuleConfig module;
      module.name = name;
      config_.modules.push_back(module);
    }
    std::vector<std::unique_ptr<tether::LoadedModule>> modules;
    // The test binary's own handle stands in for each module's .so (a LoadedModule dlclose()s it).
    modules.push_back(std::make_unique<tether::LoadedModule>(config_.modules[0], dlopen(nullptr, RTLD_LAZY), &waiter_));
    modules.push_back(std::make_unique<tether::LoadedModule>(config_.modules[1], dlopen(nullptr, RTLD_LAZY), &counter_));
    runtime_ = std::make_unique<tether::ModuleRuntime>(config_, std::move(modules), nullptr, 0, 1, 0, nullptr);
    router_ = std::make_unique<tether::Router>(config_.routes);
    session_ = std::make_unique<HttpSession>(limits_, *router_, nullptr, runtime_.get());
  }

  const tether_host& host_;
  tether_module waiter_{};
  tether_module counter_{};
  tether::Config config_;
  tether::HttpLimits limits_;
  std::unique_ptr<tether::ModuleRuntime> runtime_;
  std::unique_ptr<tether::Router> router_;
  std::unique_ptr<HttpSession> session_;
};

const char kWait[] = "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n";
const char kOpen[] = "GET /open HTTP/1.1\r\nHost: x\r\n\r\n";

int count_answers(const std::string& output) {
  int n = 0;
  for (std::size_t at = output.find("HTTP/1.1 "); at != std::string::npos; at = output.find("HTTP/1.1 ", at + 1)) ++n;
  return n;
}

}  // namespace

TEST_F(WaitingAccessHook, TheSessionWaitsAndReadsNoPipelinedRequestMeanwhile) {
  start();
  session_->feed(std::string(kWait) + kOpen);
  ASSERT_EQ(session_->phase(), HttpSession::Phase::waiting);
  ASSERT_NE(waiting, nullptr);
  EXPECT_EQ(waiting->state, tether_request::State::in_access);
  EXPECT_EQ(waiter_calls, 1);
  EXPECT_EQ(counter_calls, 0);  // the modules after the waiter have not seen it yet
  EXPECT_EQ(session_->output(), "");
}

TEST_F(WaitingAccessHook, RequestContinueRunsTheRestOfTheAccessPhaseThenTheHandlerThenWhatWasPipelined) {
  start();
  session_->feed(std::string(kWait) + kOpen);
  ASSERT_NE(waiting, nullptr);
  EXPECT_EQ(host_.request_continue(waiting), TETHER_OK);
  EXPECT_EQ(waiter_calls, 2);   // once for each request: not again for the one that waited
  EXPECT_EQ(counter_calls, 2);  // the waiting request, then the pipelined one
  const std::string& out = session_->output();
  ASSERT_EQ(count_answers(out), 2) << out;
  EXPECT_LT(out.find("wait answered"), out.find("open answered"));
  EXPECT_EQ(session_->phase(), HttpSession::Phase::idle);
}

TEST_F(WaitingAccessHook, TheWaitingModuleMayAnswerItself) {
  start();
  session_->feed(std::string(kWait) + kOpen);
  ASSERT_NE(waiting, nullptr);
  EXPECT_EQ(host_.respond(waiting, 401, "text/plain", "no", 2), TETHER_OK);
  EXPECT_EQ(counter_calls, 1);  // only the pipelined request got that far
  const std::string& out = session_->output();
  EXPECT_EQ(out.rfind("HTTP/1.1 401", 0), 0u) << out;
  EXPECT_NE(out.find("open answered"), std::string::npos) << out;
}

TEST_F(WaitingAccessHook, RequestContinueOnARequestThatDoesNotWaitInAccessIsRefused) {
  start();
  session_->feed(kOpen);
  tether_request* answered = session_->module_request();
  ASSERT_NE(answered, nullptr);
  EXPECT_EQ(host_.request_continue(answered), TETHER_ERROR);
  EXPECT_EQ(count_answers(session_->output()), 1);
  session_->feed(kWait);
  ASSERT_EQ(host_.request_continue(waiting), TETHER_OK);
  EXPECT_EQ(host_.request_continue(waiting), TETHER_ERROR);  // a second time: it waits no more
  EXPECT_EQ(count_answers(session_->output()), 2);
}

TEST_F(WaitingAccessHook, AWaitingRequestWhoseClientLeftIsReleasedByRequestContinue) {
  start();
  session_->feed(kWait);
  ASSERT_NE(waiting, nullptr);
  session_.reset();  // the client left
  EXPECT_EQ(runtime_->requests_alive(), 1u);
  EXPECT_EQ(waiting->state, tether_request::State::left_in_access);
  EXPECT_EQ(host_.request_connection(waiting), nullptr);
  EXPECT_EQ(host_.request_continue(waiting), TETHER_DECLINED);
  EXPECT_EQ(runtime_->requests_alive(), 0u);
}

TEST_F(WaitingAccessHook, AWaitingRequestWhoseClientLeftIsReleasedByRespond) {
  start();
  session_->feed(kWait);
  ASSERT_NE(waiting, nullptr);
  session_.reset();
  EXPECT_EQ(host_.respond(waiting, 401, "text/plain", "no", 2), TETHER_OK);
  EXPECT_EQ(runtime_->requests_alive(), 0u);
}

// Waiting in access is 1.4: a module of ABI 1.3 that returns TETHER_AGAIN from access made a
// mistake, answered 500 as before.
TEST_F(WaitingAccessHook, AModuleOfAbi13CannotWaitInAccess) {
  start(3);
  session_->feed(kWait);
  EXPECT_EQ(session_->output().rfind("HTTP/1.1 500", 0), 0u) << session_->output();
  EXPECT_NE(session_->phase(), HttpSession::Phase::waiting);
}
