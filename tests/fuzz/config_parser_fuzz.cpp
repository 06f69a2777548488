// Arbitrary text as tether.toml into the config parser. Every outcome must be a Config or a
// list of "FILE:LINE:COL: message" errors: an exception escaping (toml++'s or ours), a crash or
// a config that is both accepted and reported wrong is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/config_parser.h"

namespace {

[[noreturn]] void fail(const char* why, const std::string& detail) {
  std::fprintf(stderr, "config_parser_fuzz: %s: %s\n", why, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  tether::ConfigLoadResult result = tether::parse_config_text(text, "fuzz.toml");
  if (result.config && !result.errors.empty()) fail("a config with errors", result.errors.front().to_string());
  if (!result.config && result.errors.empty()) fail("no config and no error", "");
  for (const tether::ConfigError& error : result.errors) {
    std::string line = error.to_string();
    if (line.rfind("fuzz.toml:", 0) != 0 || error.message.empty()) fail("an error without its place", line);
  }
  if (result.config) {
    if (result.config->listen.empty()) fail("a config without a listen address", "");
    for (const tether::RouteConfig& route : result.config->routes)
      if (route.path.empty() || route.path[0] != '/') fail("a route whose path is not absolute", route.path);
  }
  return 0;
}
