// A JSON document as "path -> value as JSON text" ("generations.0.state" -> "\"serving\"",
// "channels.length" -> "3"), read by Python's strict parser (scripts/json_paths.py): a document
// that is not valid JSON (a control byte left raw, a quote unescaped) reads as nothing.
#pragma once

#include <map>
#include <string>

namespace tether::test {

using JsonPaths = std::map<std::string, std::string>;

// Empty, with the parser's complaint in *problem, when `json` is not valid. `scratch_dir`: where
// the document is written for the parser (a test's own directory).
JsonPaths json_paths(const std::string& json, const std::string& scratch_dir, std::string* problem = nullptr);
// The number at `path`, -1 when there is none.
long json_number(const JsonPaths& paths, const std::string& path);
// "\"text\"": a plain string as json_paths() shows it.
std::string json_quoted(const std::string& text);

}  // namespace tether::test
