// Pieces of the TOML configs the integration tests write, so that a test spells out only the
// routes and settings it is about.
#pragma once

#include <initializer_list>
#include <string>

namespace tether::test {

// "[modules.<name>]" for each name: each module loaded with its defaults.
std::string modules_toml(std::initializer_list<const char*> names);
// One [[route]] table: `path`, `handler`, then `lines` as they are (more route keys, then
// perhaps a [route.<module>] table).
std::string route_toml(const std::string& path, const std::string& handler, const std::string& lines = "");
// The [server] line that loads the modules this build made rather than installed ones.
std::string built_modules_dir_toml();

}  // namespace tether::test
