#include "support/config_toml.h"

namespace tether::test {

std::string modules_toml(std::initializer_list<const char*> names) {
  std::string toml = "\n";
  for (const char* name : names) toml.append("[modules.").append(name).append("]\n");
  return toml;
}

std::string route_toml(const std::string& path, const std::string& handler, const std::string& lines) {
  return "\n[[route]]\npath = \"" + path + "\"\nhandler = \"" + handler + "\"\n" + lines;
}

std::string built_modules_dir_toml() { return "modules_dir = \"" TETHER_MODULES_BUILD_DIR "\"\n"; }

}  // namespace tether::test
