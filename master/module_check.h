// The master never loads a module into itself (so that every generation loads the .so files
// that are on disk at reload time). To validate modules and their settings it forks a checker
// child that loads them, runs their create_config hooks, reports errors and exits.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/config.h"

namespace tether {

// Returns the errors found ("FILE:LINE:COL: message" lines); empty when every module loaded and
// accepted its settings. A checker that crashes or hangs is itself reported as an error.
// When the server runs as root, the checker first becomes [server] user, like the workers, so a
// module file only root can read is reported here rather than by crash-looping workers.
std::vector<std::string> check_modules_in_child(const Config& config,
                                                std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace tether
