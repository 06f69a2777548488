#include "worker/host/module_loader.h"

#include <dlfcn.h>

#include "worker/host/module_api.h"

namespace tether {
namespace {

// The smallest descriptor any 1.x module can have: everything up to and including `content`.
constexpr std::size_t kMinimumDescriptorSize = offsetof(tether_module, content) + sizeof(tether_module::content);

std::string abi_text(unsigned major, unsigned minor) { return std::to_string(major) + "." + std::to_string(minor); }

}  // namespace

LoadedModule::LoadedModule(const ModuleConfig& config, void* handle, const tether_module* descriptor)
    : config_(config), handle_(handle), descriptor_(descriptor) {}

LoadedModule::~LoadedModule() {
  if (configured_) {
    if (has(&tether_module::destroy_route_config))
      for (void* route_config : route_configs_)
        if (route_config) descriptor_->destroy_route_config(route_config);
    if (has(&tether_module::destroy_config) && module_config_) descriptor_->destroy_config(module_config_);
  }
  dlclose(handle_);
}

bool LoadedModule::configure(const Config& config, std::vector<ConfigError>* errors) {
  std::size_t errors_before = errors->size();
  tether_config settings;
  settings.table = &config_.settings;
  settings.file = config.file;
  settings.context = "[modules." + config_.name + "] (" + config_.path + ")";
  settings.errors = errors;
  if (has(&tether_module::create_config)) {
    int status = descriptor_->create_config(&module_host_table(), &settings, &module_config_);
    if (status != TETHER_OK && errors->size() == errors_before)
      errors->push_back(ConfigError{config.file, config_.where, "module \"" + config_.name + "\" rejected its settings"});
  }
  configured_ = true;  // from here on, destroy what was created
  route_configs_.assign(config.routes.size(), nullptr);
  for (std::size_t r = 0; r < config.routes.size(); ++r) {
    for (const auto& [module, table] : config.routes[r].module_settings) {
      if (module != config_.name) continue;
      tether_config route_settings;
      route_settings.table = &table;
      route_settings.file = config.file;
      route_settings.context = "[route." + module + "] of route \"" + config.routes[r].path + "\" (" + config_.path + ")";
      route_settings.errors = errors;
      if (!has(&tether_module::create_route_config)) {
        errors->push_back(ConfigError{config.file, table.where, "module \"" + module + "\" has no per-route settings"});
        continue;
      }
      std::size_t before = errors->size();
      int status = descriptor_->create_route_config(&module_host_table(), &route_settings, module_config_, &route_configs_[r]);
      if (status != TETHER_OK && errors->size() == before)
        errors->push_back(ConfigError{config.file, table.where, "module \"" + module + "\" rejected the route's settings"});
    }
  }
  return errors->size() == errors_before;
}

std::vector<std::unique_ptr<LoadedModule>> load_modules(const Config& config, std::vector<ConfigError>* errors) {
  std::vector<std::unique_ptr<LoadedModule>> modules;
  std::size_t errors_before = errors->size();
  for (const ModuleConfig& m : config.modules) {
    auto fail = [&](const std::string& why) { errors->push_back(ConfigError{config.file, m.where, m.path + ": " + why}); };
    void* handle = dlopen(m.path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* why = dlerror();
      fail(std::string("cannot load module: ") + (why ? why : "unknown error"));
      continue;
    }
    auto entry = reinterpret_cast<tether_module_entry_fn>(dlsym(handle, TETHER_MODULE_ENTRY_NAME));
    const tether_module* descriptor = entry ? entry() : nullptr;
    std::string problem;
    if (!entry) problem = "not a tether module: no symbol " TETHER_MODULE_ENTRY_NAME;
    else if (!descriptor) problem = TETHER_MODULE_ENTRY_NAME "() returned no descriptor";
    else if (descriptor->abi_major != TETHER_MODULE_ABI_MAJOR)
      problem = "module ABI " + abi_text(descriptor->abi_major, descriptor->abi_minor) + " is incompatible with this server's ABI " +
                abi_text(TETHER_MODULE_ABI_MAJOR, TETHER_MODULE_ABI_MINOR) + " (the major versions differ): rebuild the module";
    else if (descriptor->abi_minor > TETHER_MODULE_ABI_MINOR)
      problem = "module needs ABI " + abi_text(descriptor->abi_major, descriptor->abi_minor) + " but this server offers " +
                abi_text(TETHER_MODULE_ABI_MAJOR, TETHER_MODULE_ABI_MINOR) + ": upgrade tether";
    else if (descriptor->size < kMinimumDescriptorSize)
      problem = "module descriptor is too small (" + std::to_string(descriptor->size) + " bytes)";
    else if (!descriptor->name || m.name != descriptor->name)
      problem = std::string("module calls itself \"") + (descriptor->name ? descriptor->name : "") + "\", not \"" + m.name + "\"";
    if (!problem.empty()) {
      fail(problem);
      dlclose(handle);
      continue;
    }
    modules.push_back(std::make_unique<LoadedModule>(m, handle, descriptor));
    modules.back()->configure(config, errors);
  }
  if (errors->size() != errors_before) modules.clear();
  return modules;
}

}  // namespace tether
