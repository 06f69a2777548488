// Loading modules: dlopen, the entry symbol, the ABI check, and the modules' settings. Used by
// every worker and by the checker process the master forks for `tether -t` and reloads.
#pragma once

#include <tether/module.h>

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/config_parser.h"

namespace tether {

class LoadedModule {
 public:
  LoadedModule(const ModuleConfig& config, void* handle, const tether_module* descriptor);
  LoadedModule(const LoadedModule&) = delete;
  LoadedModule& operator=(const LoadedModule&) = delete;
  ~LoadedModule();  // destroys the configs it created, then dlclose()s

  const std::string& name() const { return config_.name; }
  const std::string& path() const { return config_.path; }
  const tether_module& descriptor() const { return *descriptor_; }
  // Whether the module's descriptor is large enough to hold `member` (hooks added later).
  template <typename Member>
  bool has(Member tether_module::*member) const;

  void* config() const { return module_config_; }
  // The module's per-route config for route number `route` (index into Config::routes).
  void* route_config(std::size_t route) const { return route < route_configs_.size() ? route_configs_[route] : nullptr; }

  // Runs create_config and create_route_config; errors go to *errors.
  bool configure(const Config& config, std::vector<ConfigError>* errors);

 private:
  ModuleConfig config_;
  void* handle_;
  const tether_module* descriptor_;
  void* module_config_ = nullptr;
  bool configured_ = false;
  std::vector<void*> route_configs_;
};

// Loads and configures every module `config` names. Returns the modules in config order;
// on any error returns an empty list with *errors filled ("FILE:LINE:COL: module file: ...").
std::vector<std::unique_ptr<LoadedModule>> load_modules(const Config& config, std::vector<ConfigError>* errors);

template <typename Member>
bool LoadedModule::has(Member tether_module::*member) const {
  const tether_module probe{};
  auto offset = reinterpret_cast<const char*>(&(probe.*member)) - reinterpret_cast<const char*>(&probe);
  return descriptor_->size >= static_cast<std::size_t>(offset) + sizeof(Member) && descriptor_->*member != nullptr;
}

}  // namespace tether
