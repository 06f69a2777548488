// Chooses the route for a request path: an exact route wins, then the longest matching prefix
// route ("/static/*"), else none (404).
#pragma once

#include <string_view>
#include <vector>

#include "core/config.h"

namespace tether {

class Router {
 public:
  explicit Router(const std::vector<RouteConfig>& routes);

  // `target` is the request target; the query string and fragment are ignored.
  const RouteConfig* match(std::string_view target) const;

 private:
  std::vector<const RouteConfig*> exact_;
  std::vector<const RouteConfig*> prefixes_;  // longest first
};

}  // namespace tether
