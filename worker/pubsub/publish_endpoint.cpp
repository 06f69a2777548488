#include "worker/pubsub/publish_endpoint.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>

#include <string>


namespace tether {
namespace {

// Channel names are restricted to characters that need no escaping in JSON.
std::string json_string(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Compares a presented token with the configured one in a time that depends only on what the
// client sent: both are hashed and the digests compared with CRYPTO_memcmp, so neither a
// matching prefix nor the token's length shows in how long a refusal takes.
bool same_token(std::string_view presented, std::string_view expected) {
  unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
  unsigned int a_length = 0, b_length = 0;
  if (!EVP_Digest(presented.data(), presented.size(), a, &a_length, EVP_sha256(), nullptr) ||
      !EVP_Digest(expected.data(), expected.size(), b, &b_length, EVP_sha256(), nullptr))
    return false;
  return a_length == b_length && CRYPTO_memcmp(a, b, a_length) == 0;
}

void answer_json(HttpSession& session, int status, const std::string& body) {
  session.answer(status, "application/json", "Cache-Control: no-store\r\n", body + "\n");
}

void answer_text(HttpSession& session, int status, std::string_view extra_headers, const std::string& text) {
  session.answer(status, "text/plain", extra_headers, text + "\n");
}

// A request the broker refused: the client may retry.
void answer_broker_error(HttpSession& session, BrokerError error) {
  if (error == BrokerError::too_many_channels)
    answer_text(session, 503, "Retry-After: 1\r\n", "the broker holds [pubsub] max_channels channels");
  else
    answer_json(session, 503, "{\"error\":\"the broker is unavailable\"}");
}

}  // namespace

bool carries_bearer_token(const HttpSession& session, const std::string& token) {
  constexpr std::string_view kScheme = "Bearer ";
  const std::string* header = session.header("authorization");
  if (token.empty() || !header) return false;
  std::string_view value(*header);
  return value.size() > kScheme.size() && strncasecmp(value.data(), kScheme.data(), kScheme.size()) == 0 &&
         same_token(value.substr(kScheme.size()), token);
}

bool PublishEndpoint::authorized(HttpSession& session) {
  const std::string& token = hub_.config().publish_token;
  if (token.empty() || session.vouched()) return true;
  if (!session.header("authorization")) {
    answer_text(session, 401, "WWW-Authenticate: Bearer realm=\"tether\"\r\n", "publishing needs a bearer token");
    return false;
  }
  if (!carries_bearer_token(session, token)) {
    answer_text(session, 403, "", "the bearer token is not valid for publishing");
    return false;
  }
  return true;
}

RequestDispatcher::Outcome PublishEndpoint::handle(HttpSession& session, const RouteConfig& route) {
  std::string_view path = session.target().substr(0, session.target().find_first_of("?#"));
  std::string_view channel = path.size() > route.path.size() ? path.substr(route.path.size()) : std::string_view();
  if (!authorized(session)) return RequestDispatcher::Outcome::answered;
  std::string_view method = session.method();
  if (method == "POST" || method == "PUT") return publish(session, channel);  // the hub checks the channel
  if (const char* problem = channel_name_problem(channel)) {
    answer_text(session, 400, "", problem);
    return RequestDispatcher::Outcome::answered;
  }
  if (method == "GET" || method == "HEAD") return info(session, channel);
  answer_text(session, 405, "Allow: GET, HEAD, POST, PUT\r\n", "use POST to publish, GET for channel information");
  return RequestDispatcher::Outcome::answered;
}

RequestDispatcher::Outcome PublishEndpoint::publish(HttpSession& session, std::string_view channel) {
  Broker::Request request = 0;
  auto on_reply = [this, &session, name = std::string(channel)](const PublishResult& reply) {
    waiting_.erase(&session);
    if (reply.error != BrokerError::none) {
      answer_broker_error(session, reply.error);
      return;
    }
    answer_json(session, 200, "{\"channel\":" + json_string(name) + ",\"id\":" + json_string(reply.id.to_string()) + "}");
  };
  PublishCheck check = hub_.publish(channel, session.body(), std::move(on_reply), &request);
  if (check == PublishCheck::invalid_channel) {
    answer_text(session, 400, "", check.problem);
    return RequestDispatcher::Outcome::answered;
  }
  if (check == PublishCheck::too_large) {
    answer_text(session, 413, "", "the message is larger than [pubsub] max_message_size (" +
                                      std::to_string(hub_.config().max_message_size) + " bytes)");
    return RequestDispatcher::Outcome::answered;
  }
  wait_for(session, request);
  return RequestDispatcher::Outcome::deferred;
}

RequestDispatcher::Outcome PublishEndpoint::info(HttpSession& session, std::string_view channel) {
  Broker::Request request =
      hub_.broker().info(channel, [this, &session, name = std::string(channel)](const ChannelInfo& reply) {
        waiting_.erase(&session);
        if (reply.error != BrokerError::none) {
          answer_broker_error(session, reply.error);
          return;
        }
        std::string last = reply.last.sequence ? reply.last.to_string() : std::string();
        answer_json(session, 200, "{\"channel\":" + json_string(name) + ",\"subscribers\":" + std::to_string(reply.subscribers) +
                                      ",\"last_id\":" + json_string(last) + ",\"history\":" +
                                      std::to_string(reply.history_length) + "}");
      });
  wait_for(session, request);
  return RequestDispatcher::Outcome::deferred;
}

void PublishEndpoint::wait_for(HttpSession& session, Broker::Request request) { waiting_[&session] = request; }

void PublishEndpoint::session_closed(HttpSession& session) {
  auto it = waiting_.find(&session);
  if (it == waiting_.end()) return;
  hub_.broker().cancel(it->second);
  waiting_.erase(it);
}

}  // namespace tether
