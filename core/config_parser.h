// Reads tether.toml into the typed Config. Every problem is reported, not just the first, each as
// "FILE:LINE:COL: message". Unknown keys and wrong types are errors: a typo never goes unnoticed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"

namespace tether {

struct ConfigError {
  std::string file;
  SourcePosition where;
  std::string message;

  std::string to_string() const;  // "FILE:LINE:COL: message"
};

struct ConfigLoadResult {
  ConfigPtr config;                 // null when errors is not empty
  std::vector<ConfigError> errors;
};

ConfigLoadResult load_config_file(const std::string& path);
ConfigLoadResult parse_config_text(std::string_view text, const std::string& file_name);

}  // namespace tether
