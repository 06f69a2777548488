// The publish API, a built-in handler (routes with handler = "publish", e.g. path = "/pub/*"):
//   POST|PUT {route}{channel}   body = the message  -> 200 {"channel":"…","id":"…"} once sequenced
//   GET      {route}{channel}                       -> 200 {"channel":"…","subscribers":N,"last_id":"…","history":N}
// Errors: 400 (bad channel name, with the reason), 401/403 ([pubsub] publish_token, unless an
// access module vouched for the request: HttpSession::vouched()), 405, 413
// (over [pubsub] max_message_size), 503 (the broker is at max_channels, or unavailable).
#pragma once

#include <cstdint>
#include <unordered_map>

#include "core/config.h"
#include "worker/http/http_session.h"
#include "worker/pubsub/pubsub_hub.h"

namespace tether {

// Whether the request's "Authorization: Bearer" is `token` (compared in constant time); false
// for an empty token.
bool carries_bearer_token(const HttpSession& session, const std::string& token);

class PublishEndpoint {
 public:
  explicit PublishEndpoint(PubsubHub& hub) : hub_(hub) {}

  RequestDispatcher::Outcome handle(HttpSession& session, const RouteConfig& route);
  // The session ends while its request waits for the broker: forget the request.
  void session_closed(HttpSession& session);

 private:
  bool authorized(HttpSession& session);
  // POST/PUT: the body to the hub, answered with its id once the broker took it.
  RequestDispatcher::Outcome publish(HttpSession& session, std::string_view channel);
  // GET/HEAD: the channel's subscribers, last id and history length.
  RequestDispatcher::Outcome info(HttpSession& session, std::string_view channel);
  void wait_for(HttpSession& session, Broker::Request request);

  PubsubHub& hub_;
  std::unordered_map<HttpSession*, Broker::Request> waiting_;
};

}  // namespace tether
