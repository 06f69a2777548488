#include "json_paths.h"

#include <cstdio>

#include "tether_server.h"

namespace tether::test {

JsonPaths json_paths(const std::string& json, const std::string& scratch_dir, std::string* problem) {
  std::string file = scratch_dir + "/document.json";
  FILE* out = std::fopen(file.c_str(), "wb");
  if (!out) return {};
  std::fwrite(json.data(), 1, json.size(), out);
  std::fclose(out);
  std::string output;
  std::string script = std::string(TETHER_SOURCE_DIR) + "/tests/integration/scripts/json_paths.py";
  if (run_command("python3 " + script + " " + file, &output) != 0) {
    if (problem) *problem = output + "\nin: " + json;
    return {};
  }
  JsonPaths paths;
  std::size_t at = 0;
  while (at < output.size()) {
    std::size_t end = output.find('\n', at);
    if (end == std::string::npos) end = output.size();
    std::string line = output.substr(at, end - at);
    std::size_t tab = line.find('\t');
    if (tab != std::string::npos) paths[line.substr(0, tab)] = line.substr(tab + 1);
    at = end + 1;
  }
  return paths;
}

long json_number(const JsonPaths& paths, const std::string& path) {
  auto it = paths.find(path);
  if (it == paths.end()) return -1;
  try {
    return std::stol(it->second);
  } catch (const std::exception&) {
    return -1;
  }
}

std::string json_quoted(const std::string& text) { return "\"" + text + "\""; }

}  // namespace tether::test
