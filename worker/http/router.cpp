#include "worker/http/router.h"

#include <algorithm>

namespace tether {

Router::Router(const std::vector<RouteConfig>& routes) {
  for (const auto& route : routes) (route.prefix ? prefixes_ : exact_).push_back(&route);
  // Stable: among equal lengths the route written first in the file wins.
  std::stable_sort(prefixes_.begin(), prefixes_.end(),
                   [](const RouteConfig* a, const RouteConfig* b) { return a->path.size() > b->path.size(); });
}

const RouteConfig* Router::match(std::string_view target) const {
  std::string_view path = target.substr(0, target.find_first_of("?#"));
  for (const RouteConfig* route : exact_)
    if (route->path == path) return route;
  for (const RouteConfig* route : prefixes_)
    if (path.starts_with(route->path)) return route;
  return nullptr;
}

}  // namespace tether
