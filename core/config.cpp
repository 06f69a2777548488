#include "core/config.h"

#include <unistd.h>

namespace tether {

unsigned ServerConfig::resolved_workers() const {
  if (workers != 0) return workers;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus > 0 ? static_cast<unsigned>(cpus) : 1;
}

ConfigValue::ConfigValue() = default;
ConfigValue::ConfigValue(const ConfigValue&) = default;
ConfigValue::ConfigValue(ConfigValue&&) noexcept = default;
ConfigValue& ConfigValue::operator=(const ConfigValue&) = default;
ConfigValue& ConfigValue::operator=(ConfigValue&&) noexcept = default;
ConfigValue::~ConfigValue() = default;

const ConfigValue* ConfigValue::find(std::string_view key) const {
  for (const auto& [name, value] : table)
    if (name == key) return &value;
  return nullptr;
}

const ModuleConfig* Config::module(std::string_view name) const {
  for (const ModuleConfig& m : modules)
    if (m.name == name) return &m;
  return nullptr;
}

}  // namespace tether
