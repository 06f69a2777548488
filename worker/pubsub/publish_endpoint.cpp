#include "worker/pubsub/publish_endpoint.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>

#include <string>

#include "core/shared_metrics.h"

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

}  // namespace

bool PublishEndpoint::authorized(HttpSession& session) {
  const std::string& token = hub_.config().publish_token;
  if (token.empty()) return true;
  const std::string* header = session.header("authorization");
  if (!header) {
    answer_text(session, 401, "WWW-Authenticate: Bearer realm=\"tether\"\r\n", "publishing needs a bearer token");
    return false;
  }
  constexpr std::string_view kScheme = "Bearer ";
  std::string_view value(*header);
  bool scheme_ok = value.size() > kScheme.size() && strncasecmp(value.data(), kScheme.data(), kScheme.size()) == 0;
  if (!scheme_ok || !same_token(value.substr(kScheme.size()), token)) {
    answer_text(session, 403, "", "the bearer token is not valid for publishing");
    return false;
  }
  return true;
}

RequestDispatcher::Outcome PublishEndpoint::handle(HttpSession& session, const RouteConfig& route) {
  std::string_view path = session.target().substr(0, session.target().find_first_of("?#"));
  std::string_view channel = path.size() > route.path.size() ? path.substr(route.path.size()) : std::string_view();
  if (!authorized(session)) return RequestDispatcher::Outcome::answered;
  if (const char* problem = channel_name_problem(channel)) {
    answer_text(session, 400, "", problem);
    return RequestDispatcher::Outcome::answered;
  }
  std::string name(channel);
  std::string_view method = session.method();
  if (method == "POST" || method == "PUT") {
    if (session.body().size() > hub_.config().max_message_size) {
      answer_text(session, 413, "", "the message is larger than [pubsub] max_message_size (" +
                                        std::to_string(hub_.config().max_message_size) + " bytes)");
      return RequestDispatcher::Outcome::answered;
    }
    shared_metrics().add(metrics_slot_, core_metrics().messages_published, 1);
    std::uint64_t request = hub_.broker().publish(channel, session.body(), [this, &session, name](const PubsubFrame& reply) {
      waiting_.erase(&session);
      if (reply.status == static_cast<std::uint32_t>(PublishStatus::too_many_channels)) {
        answer_text(session, 503, "Retry-After: 1\r\n", "the broker holds [pubsub] max_channels channels");
        return;
      }
      answer_json(session, 200, "{\"channel\":" + json_string(name) + ",\"id\":" + json_string(reply.id.to_string()) + "}");
    });
    wait_for(session, request);
    return RequestDispatcher::Outcome::deferred;
  }
  if (method == "GET" || method == "HEAD") {
    std::uint64_t request = hub_.broker().info(channel, [this, &session, name](const PubsubFrame& reply) {
      waiting_.erase(&session);
      std::string last = reply.id.sequence ? reply.id.to_string() : std::string();
      answer_json(session, 200, "{\"channel\":" + json_string(name) + ",\"subscribers\":" + std::to_string(reply.count) +
                                    ",\"last_id\":" + json_string(last) + ",\"history\":" +
                                    std::to_string(reply.history_length) + "}");
    });
    wait_for(session, request);
    return RequestDispatcher::Outcome::deferred;
  }
  answer_text(session, 405, "Allow: GET, HEAD, POST, PUT\r\n", "use POST to publish, GET for channel information");
  return RequestDispatcher::Outcome::answered;
}

void PublishEndpoint::wait_for(HttpSession& session, std::uint64_t request) { waiting_[&session] = request; }

void PublishEndpoint::session_closed(HttpSession& session) {
  auto it = waiting_.find(&session);
  if (it == waiting_.end()) return;
  hub_.broker().cancel(it->second);
  waiting_.erase(it);
}

}  // namespace tether
