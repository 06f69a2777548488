// The life of a tether_request (worker/host/abi_handles.h): the ModuleRuntime that created it is
// its one owner. A request a module deferred (TETHER_AGAIN) outlives a client that leaves, in the
// named state client_left, until the module's respond() releases it. The runtime counts the
// requests alive; the sanitizer build catches a double free.
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

tether_request* deferred_request = nullptr;

// A module whose handler always answers later.
int defer(tether_request* request, void*, void*) {
  deferred_request = request;
  return TETHER_AGAIN;
}

tether_module deferring_module() {
  tether_module m{};
  m.size = sizeof m;
  m.abi_major = TETHER_MODULE_ABI_MAJOR;
  m.abi_minor = TETHER_MODULE_ABI_MINOR;
  m.name = "deferring";
  m.version = "1";
  m.content = defer;
  return m;
}

class ModuleRequestLifetime : public ::testing::Test {
 protected:
  ModuleRequestLifetime() : host_(tether::module_host_table()), descriptor_(deferring_module()) {
    deferred_request = nullptr;
    tether::RouteConfig route;
    route.path = "/d";
    route.handler = "deferring";
    config_.routes.push_back(route);
    tether::ModuleConfig module;
    module.name = "deferring";
    config_.modules.push_back(module);
    std::vector<std::unique_ptr<tether::LoadedModule>> modules;
    // The test binary's own handle stands in for the module's .so (the LoadedModule dlclose()s it).
    modules.push_back(std::make_unique<tether::LoadedModule>(config_.modules[0], dlopen(nullptr, RTLD_LAZY), &descriptor_));
    runtime_ = std::make_unique<tether::ModuleRuntime>(config_, std::move(modules), nullptr, 0, 1, 0, nullptr);
    router_ = std::make_unique<tether::Router>(config_.routes);
    session_ = std::make_unique<HttpSession>(limits_, *router_, nullptr, runtime_.get());
  }

  void defer_a_request() {
    session_->feed("GET /d HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(session_->phase(), HttpSession::Phase::waiting);
    ASSERT_NE(deferred_request, nullptr);
    ASSERT_EQ(deferred_request->state, tether_request::State::deferred);
  }

  const tether_host& host_;
  tether_module descriptor_;
  tether::Config config_;
  tether::HttpLimits limits_;
  std::unique_ptr<tether::ModuleRuntime> runtime_;
  std::unique_ptr<tether::Router> router_;
  std::unique_ptr<HttpSession> session_;
};

}  // namespace

TEST_F(ModuleRequestLifetime, ADeferredRequestWhoseClientLeftWaitsInClientLeftUntilTheModuleAnswers) {
  defer_a_request();
  session_.reset();  // the client left
  EXPECT_EQ(runtime_->requests_alive(), 1u);
  ASSERT_EQ(deferred_request->state, tether_request::State::client_left);
  EXPECT_EQ(deferred_request->session, nullptr);
  EXPECT_EQ(host_.request_connection(deferred_request), nullptr);
  tether_request_info info{};
  info.size = sizeof info;
  EXPECT_EQ(host_.request_info(deferred_request, &info), TETHER_ERROR);
  // The answer has nowhere to go; it releases the request.
  EXPECT_EQ(host_.respond(deferred_request, 200, "text/plain", "late", 4), TETHER_OK);
  EXPECT_EQ(runtime_->requests_alive(), 0u);
}

TEST_F(ModuleRequestLifetime, ADeferredRequestAnsweredWhileTheClientIsThereIsInHandAgainAndGoesWithItsSession) {
  defer_a_request();
  EXPECT_EQ(host_.respond(deferred_request, 200, "text/plain", "ok", 2), TETHER_OK);
  EXPECT_EQ(deferred_request->state, tether_request::State::in_hand);
  EXPECT_EQ(session_->output().rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(runtime_->requests_alive(), 1u);
  session_.reset();  // the request goes with its session
  EXPECT_EQ(runtime_->requests_alive(), 0u);
}

TEST_F(ModuleRequestLifetime, TheSessionsNextRequestReusesTheSameRequestObject) {
  defer_a_request();
  tether_request* first = deferred_request;
  EXPECT_EQ(host_.respond(first, 200, "text/plain", "ok", 2), TETHER_OK);
  deferred_request = nullptr;
  session_->feed("GET /d HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(deferred_request, first);
  EXPECT_EQ(first->state, tether_request::State::deferred);
  EXPECT_EQ(runtime_->requests_alive(), 1u);
  EXPECT_EQ(host_.respond(first, 200, "text/plain", "ok", 2), TETHER_OK);
}
