#include "core/config_parser.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <utility>
#include <toml++/toml.h>

#include "core/pubsub_wire.h"
#include "core/tls_credentials.h"
#include "core/units.h"

namespace tether {

std::string ConfigError::to_string() const {
  if (where.line == 0) return file + ": " + message;
  return file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " + message;
}

namespace {

// The valid range of every duration and size key (tether.toml(5) lists them). Each key is named
// once over the core's tables, so its name finds its range. The upper bounds keep values far from
// overflow: durations are added to clock readings in nanoseconds, sizes are added to each other.
struct KeyRange {
  std::string_view key;
  std::uint64_t min;
  std::uint64_t max;
};

constexpr std::uint64_t kSecondMs = 1000, kHourMs = 3600 * kSecondMs, kDayMs = 24 * kHourMs;
constexpr std::uint64_t kKiB = 1024, kMiB = 1024 * kKiB, kGiB = 1024 * kMiB;
// One pub/sub frame carries a whole publish body, and a history reply carries up to
// history_memory bytes of messages; a frame's length is a u32 (kMaxFrameBody). 1GiB leaves
// the headers of a million history entries room below it.
constexpr std::uint64_t kMaxFramedBytes = kGiB;
static_assert(kMaxFramedBytes + 1'000'000 * 64 < kMaxFrameBody);

constexpr KeyRange kDurationRanges[] = {
    {"drain_timeout", 0, kDayMs},  // 0: long-lived connections are closed at once
    {"drain_spread", 0, kDayMs},   // 0: all at drain_timeout
    {"max_connection_age", kSecondMs, 365 * kDayMs},
    {"ready_timeout", 100, kHourMs},
    {"header_timeout", 100, kHourMs},
    {"body_timeout", 100, kDayMs},
    {"keepalive_timeout", 0, kDayMs},  // 0: no keep-alive, every answer closes its connection
    {"tls_handshake_timeout", 100, kHourMs},
    {"history_ttl", 0, 30 * kDayMs},  // 0: messages expire as they are published (no history)
    {"connect_timeout", 10, 60 * kSecondMs},
    {"command_timeout", 10, 60 * kSecondMs},
};

constexpr KeyRange kSizeRanges[] = {
    {"shared_memory", kMiB, 64 * kGiB},
    {"max_header_size", 256, kMiB},
    {"max_body_size", 0, kMaxFramedBytes},
    {"history_memory", 0, kMaxFramedBytes},
    {"max_message_size", 1, 16 * kMiB},
    {"worker_backlog", 64 * kKiB, 64 * kGiB},
};

const KeyRange* range_of(std::string_view key, const KeyRange* begin, const KeyRange* end) {
  const KeyRange* found = std::find_if(begin, end, [&](const KeyRange& r) { return r.key == key; });
  return found == end ? nullptr : found;
}

// "1h", "100ms": the largest unit that divides the value, as the config would write it.
using UnitScale = std::pair<std::uint64_t, const char*>;

std::string describe(std::uint64_t value, std::initializer_list<UnitScale> units, const char* smallest) {
  for (auto [scale, unit] : units)
    if (value != 0 && value % scale == 0) return std::to_string(value / scale) + unit;
  return std::to_string(value) + smallest;
}

std::string describe_duration(std::uint64_t ms) {
  if (ms == 0) return "0s";
  return describe(ms, {{kDayMs, "d"}, {kHourMs, "h"}, {60 * kSecondMs, "m"}, {kSecondMs, "s"}}, "ms");
}

std::string describe_size(std::uint64_t bytes) { return describe(bytes, {{kGiB, "GiB"}, {kMiB, "MiB"}, {kKiB, "KiB"}}, "B"); }

SourcePosition position_of(const toml::source_region& region) {
  return SourcePosition{static_cast<unsigned>(region.begin.line), static_cast<unsigned>(region.begin.column)};
}

// Walks the TOML tree, converting each value and collecting every error with its position.
class ConfigReader {
 public:
  ConfigReader(std::string file, std::vector<ConfigError>& errors) : file_(std::move(file)), errors_(errors) {}

  void error(const toml::source_region& at, std::string message) {
    errors_.push_back(ConfigError{file_, position_of(at), std::move(message)});
  }

  // Every key of `table` must be one of `known`.
  void check_keys(const toml::table& table, std::string_view section, std::initializer_list<std::string_view> known) {
    for (const auto& [key, value] : table) {
      bool ok = false;
      for (auto k : known) ok = ok || key.str() == k;
      if (!ok) error(key.source(), "unknown key \"" + std::string(key.str()) + "\" in " + std::string(section));
    }
  }

  const toml::table* table_at(const toml::table& parent, std::string_view key, std::string_view what) {
    const toml::node* node = parent.get(key);
    if (!node) return nullptr;
    if (!node->is_table()) {
      error(node->source(), std::string(what) + " must be a table");
      return nullptr;
    }
    return node->as_table();
  }

  // Strings reach C interfaces (paths, user names, OpenSSL's cipher lists) that stop at a NUL,
  // which would silently cut the value: a NUL is an error unless the string is `binary` data.
  void read_string(const toml::table& t, std::string_view key, std::string& out, bool binary = false) {
    const toml::node* node = t.get(key);
    if (!node) return;
    auto v = node->value<std::string>();
    if (!v || !node->is_string()) error(node->source(), "\"" + std::string(key) + "\" must be a string");
    else if (!binary && v->find('\0') != std::string::npos)
      error(node->source(), "\"" + std::string(key) + "\" must not contain a NUL character");
    else out = *v;
  }

  template <typename Int>
  void read_integer(const toml::table& t, std::string_view key, Int& out, std::int64_t min, std::int64_t max) {
    const toml::node* node = t.get(key);
    if (!node) return;
    if (!node->is_integer()) {
      error(node->source(), "\"" + std::string(key) + "\" must be an integer");
      return;
    }
    std::int64_t v = node->as_integer()->get();
    if (v < min || v > max) {
      error(node->source(), "\"" + std::string(key) + "\" must be between " + std::to_string(min) + " and " +
                                std::to_string(max));
      return;
    }
    out = static_cast<Int>(v);
  }

  void read_duration(const toml::table& t, std::string_view key, Milliseconds& out) {
    const toml::node* node = t.get(key);
    if (!node) return;
    std::optional<Milliseconds> d;
    if (node->is_string()) d = parse_duration(node->as_string()->get());
    if (!d) {
      error(node->source(), "\"" + std::string(key) + "\" must be a duration string such as \"250ms\", \"30s\", \"5m\"");
      return;
    }
    auto ms = static_cast<std::uint64_t>(d->count());
    if (const KeyRange* r = range_of(key, std::begin(kDurationRanges), std::end(kDurationRanges));
        r && (ms < r->min || ms > r->max)) {
      error(node->source(), "\"" + std::string(key) + "\" must be between " + describe_duration(r->min) + " and " +
                                describe_duration(r->max));
      return;
    }
    out = *d;
  }

  void read_size(const toml::table& t, std::string_view key, std::uint64_t& out) {
    const toml::node* node = t.get(key);
    if (!node) return;
    std::optional<std::uint64_t> s;
    if (node->is_string()) s = parse_size(node->as_string()->get());
    else if (node->is_integer() && node->as_integer()->get() >= 0) s = static_cast<std::uint64_t>(node->as_integer()->get());
    if (!s) {
      error(node->source(), "\"" + std::string(key) + "\" must be a size such as 4096, \"64KiB\" or \"1MiB\"");
      return;
    }
    if (const KeyRange* r = range_of(key, std::begin(kSizeRanges), std::end(kSizeRanges)); r && (*s < r->min || *s > r->max)) {
      error(node->source(), "\"" + std::string(key) + "\" must be between " + describe_size(r->min) + " and " +
                                describe_size(r->max));
      return;
    }
    out = *s;
  }

  void read_server(const toml::table& root, ServerConfig& server) {
    const toml::table* t = table_at(root, "server", "[server]");
    if (!t) return;
    check_keys(*t, "[server]", {"workers", "pid_file", "drain_timeout", "drain_spread", "ready_timeout", "max_draining_generations",
                                "user", "error_log", "log_level", "access_log", "modules_dir",
                                "shared_memory"});
    if (const toml::node* w = t->get("workers")) {
      if (w->is_string() && w->as_string()->get() == "auto") server.workers = 0;
      else if (w->is_integer() && w->as_integer()->get() >= 1 && w->as_integer()->get() <= 1024)
        server.workers = static_cast<unsigned>(w->as_integer()->get());
      else error(w->source(), "\"workers\" must be \"auto\" or an integer from 1 to 1024");
    }
    read_string(*t, "pid_file", server.pid_file);
    read_duration(*t, "drain_timeout", server.drain_timeout);
    read_duration(*t, "drain_spread", server.drain_spread);
    read_duration(*t, "ready_timeout", server.ready_timeout);
    read_integer(*t, "max_draining_generations", server.max_draining_generations, 1, 64);
    read_string(*t, "user", server.user);
    read_string(*t, "error_log", server.error_log);
    read_string(*t, "access_log", server.access_log);
    read_string(*t, "modules_dir", server.modules_dir);
    read_size(*t, "shared_memory", server.shared_memory);
    if (const toml::node* l = t->get("log_level")) {
      std::optional<LogLevel> level;
      if (l->is_string()) level = parse_log_level(l->as_string()->get());
      if (level) server.log_level = *level;
      else error(l->source(), "\"log_level\" must be one of \"debug\", \"info\", \"notice\", \"warn\", \"error\"");
    }
  }

  void read_limits(const toml::table& root, LimitsConfig& limits) {
    const toml::table* t = table_at(root, "limits", "[limits]");
    if (!t) return;
    check_keys(*t, "[limits]", {"max_connections", "max_accept_rate", "header_timeout", "keepalive_timeout", "max_header_size",
                                "max_body_size", "tls_handshake_timeout", "body_timeout"});
    read_duration(*t, "tls_handshake_timeout", limits.tls_handshake_timeout);
    read_integer(*t, "max_connections", limits.max_connections, 1, 10'000'000);
    read_integer(*t, "max_accept_rate", limits.max_accept_rate, 0, 10'000'000);
    read_duration(*t, "header_timeout", limits.header_timeout);
    read_duration(*t, "body_timeout", limits.body_timeout);
    read_duration(*t, "keepalive_timeout", limits.keepalive_timeout);
    read_size(*t, "max_header_size", limits.max_header_size);
    read_size(*t, "max_body_size", limits.max_body_size);
  }

  void read_pubsub(const toml::table& root, PubsubConfig& pubsub) {
    const toml::table* t = table_at(root, "pubsub", "[pubsub]");
    if (!t) return;
    check_keys(*t, "[pubsub]", {"broker", "redis", "history_size", "history_ttl", "history_memory", "max_message_size",
                                "max_channels", "publish_token", "worker_backlog", "max_subscriptions"});
    read_integer(*t, "history_size", pubsub.history_size, 0, 1'000'000);
    read_duration(*t, "history_ttl", pubsub.history_ttl);
    read_size(*t, "history_memory", pubsub.history_memory);
    read_size(*t, "max_message_size", pubsub.max_message_size);
    read_integer(*t, "max_channels", pubsub.max_channels, 1, 100'000'000);
    read_integer(*t, "max_subscriptions", pubsub.max_subscriptions, 16, 4096);
    read_string(*t, "publish_token", pubsub.publish_token);
    read_size(*t, "worker_backlog", pubsub.worker_backlog);
    read_broker(*t, pubsub);
  }

  // broker = "local" | "redis"; [pubsub.redis] is read whenever it is there (so that -t checks
  // it before it is switched on) and must give an address when it is used.
  void read_broker(const toml::table& t, PubsubConfig& pubsub) {
    if (const toml::node* b = t.get("broker")) {
      std::string_view kind = b->is_string() ? std::string_view(b->as_string()->get()) : std::string_view();
      if (kind == "local") pubsub.broker = BrokerKind::local;
      else if (kind == "redis") pubsub.broker = BrokerKind::redis;
      else error(b->source(), "\"broker\" must be \"local\" or \"redis\"");
    }
    const toml::table* r = table_at(t, "redis", "[pubsub.redis]");
    if (r) read_redis(*r, pubsub.redis);
    if (pubsub.broker == BrokerKind::redis && (!r || !r->get("addresses"))) {
      const toml::node* at = r ? static_cast<const toml::node*>(r) : t.get("broker");
      error(at->source(), "broker = \"redis\" needs [pubsub.redis] addresses = [\"127.0.0.1:6379\"]");
    }
  }

  void read_redis(const toml::table& t, RedisConfig& redis) {
    check_keys(t, "[pubsub.redis]", {"addresses", "prefix", "username", "password", "db", "connect_timeout",
                                     "command_timeout"});
    redis.where = position_of(t.source());
    if (const toml::node* a = t.get("addresses")) {
      const toml::array* array = a->as_array();
      if (!array || array->empty()) error(a->source(), "\"addresses\" must be a non-empty array of \"host:port\" or \"unix:/path\" strings");
      for (std::size_t i = 0; array && i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        std::string why = "must be a string";
        std::optional<RedisAddress> address;
        if (element.is_string()) address = RedisAddress::parse(element.as_string()->get(), &why);
        if (!address) {
          error(element.source(), "redis address " + why);
          continue;
        }
        for (const RedisAddress& seen : redis.addresses)
          if (seen.to_string() == address->to_string()) error(element.source(), "redis address " + address->to_string() + " is listed twice");
        redis.addresses.push_back(*address);
      }
      if (redis.addresses.size() > 64) error(a->source(), "at most 64 redis addresses (shards)");
    }
    read_string(t, "prefix", redis.prefix);
    if (const toml::node* p = t.get("prefix"); p && !valid_prefix(redis.prefix))
      error(p->source(), "\"prefix\" must be 1 to 64 letters, digits or \"_\", \"-\", \".\", \":\"");
    read_string(t, "username", redis.username);
    read_string(t, "password", redis.password);
    if (t.get("username") && redis.password.empty())
      error(t.get("username")->source(), "\"username\" needs a \"password\" (AUTH username password)");
    read_integer(t, "db", redis.db, 0, 65535);
    read_duration(t, "connect_timeout", redis.connect_timeout);
    read_duration(t, "command_timeout", redis.command_timeout);
  }

  // The prefix names keys and pub/sub channels: no braces (the channel's hash tag), no spaces.
  static bool valid_prefix(std::string_view prefix) {
    if (prefix.empty() || prefix.size() > 64) return false;
    for (char c : prefix)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.' && c != ':') return false;
    return true;
  }

  // Each element of an array of tables ([[listen]], [[route]]) is handed to `read_one`.
  template <typename ReadOne>
  void for_each_table(const toml::table& root, std::string_view key, ReadOne read_one) {
    const toml::node* node = root.get(key);
    if (!node) return;
    const toml::array* array = node->as_array();
    if (!array) {
      error(node->source(), "\"" + std::string(key) + "\" must be an array of tables: write [[" + std::string(key) + "]]");
      return;
    }
    for (const toml::node& element : *array) {
      if (const toml::table* t = element.as_table()) read_one(*t);
      else error(element.source(), "each \"" + std::string(key) + "\" entry must be a table");
    }
  }

  void read_listen(const toml::table& t, std::vector<ListenConfig>& out) {
    check_keys(t, "[[listen]]", {"address", "backlog", "tls"});
    ListenConfig listen;
    listen.where = position_of(t.source());
    const toml::node* a = t.get("address");
    if (!a) {
      error(t.source(), "[[listen]] needs an \"address\" such as \"127.0.0.1:8080\"");
      return;
    }
    if (!a->is_string()) {
      error(a->source(), "\"address\" must be a string such as \"127.0.0.1:8080\"");
      return;
    }
    std::string why;
    auto parsed = parse_socket_address(a->as_string()->get(), &why);
    if (!parsed) {
      error(a->source(), "invalid address \"" + a->as_string()->get() + "\": " + why);
      return;
    }
    listen.address = *parsed;
    listen.where = position_of(a->source());
    read_integer(t, "backlog", listen.backlog, 1, 65535);
    if (const toml::node* tls = t.get("tls")) {
      if (const toml::table* tls_table = tls->as_table()) listen.tls = read_tls(*tls_table);
      else error(tls->source(), "\"tls\" must be a table such as { cert = \"cert.pem\", key = \"key.pem\" }");
    }
    for (const auto& other : out)
      if (other.address == listen.address) {
        error(a->source(), "address " + listen.address.to_string() + " is already listened on (line " +
                               std::to_string(other.where.line) + ")");
        return;
      }
    out.push_back(listen);
  }

  // cert/key of one certificate (the listener's default, or an SNI entry with server_name).
  bool read_certificate(const toml::table& t, TlsCertificate& certificate, std::string_view where) {
    certificate.where = position_of(t.source());
    read_string(t, "cert", certificate.cert_file);
    read_string(t, "key", certificate.key_file);
    if (certificate.cert_file.empty() || certificate.key_file.empty()) {
      error(t.source(), std::string(where) + " needs \"cert\" and \"key\" files");
      return false;
    }
    certificate.cert_file = relative_to_config(certificate.cert_file);
    certificate.key_file = relative_to_config(certificate.key_file);
    if (const toml::node* c = t.get("cert")) certificate.where = position_of(c->source());
    return true;
  }

  std::shared_ptr<TlsConfig> read_tls(const toml::table& t) {
    auto tls = std::make_shared<TlsConfig>();
    check_keys(t, "tls", {"cert", "key", "min_version", "ciphers", "ciphersuites", "sni"});
    read_certificate(t, tls->certificate, "tls");
    read_string(t, "min_version", tls->min_version);
    if (tls->min_version != "1.2" && tls->min_version != "1.3")
      error(t.get("min_version")->source(), "\"min_version\" must be \"1.2\" or \"1.3\"");
    read_string(t, "ciphers", tls->ciphers);
    read_string(t, "ciphersuites", tls->ciphersuites);
    for_each_table(t, "sni", [&](const toml::table& entry) {
      check_keys(entry, "[[listen.tls.sni]]", {"server_name", "cert", "key"});
      TlsCertificate certificate;
      read_string(entry, "server_name", certificate.server_name);
      if (certificate.server_name.empty()) {
        error(entry.source(), "[[listen.tls.sni]] needs a \"server_name\"");
        return;
      }
      if (read_certificate(entry, certificate, "[[listen.tls.sni]]")) tls->sni.push_back(std::move(certificate));
    });
    return tls;
  }

  void read_respond(const toml::node& node, RespondConfig& respond) {
    const toml::table* t = node.as_table();
    if (!t) {
      error(node.source(), "\"respond\" must be a table such as { status = 200, body = \"ok\" }");
      return;
    }
    check_keys(*t, "respond", {"status", "body", "content_type", "file"});
    read_integer(*t, "status", respond.status, 200, 599);
    read_string(*t, "body", respond.body, true);
    read_string(*t, "content_type", respond.content_type);
    if (t->get("file")) read_respond_file(*t, respond);
    // It is written into the response's header: a CR or LF would start a header of its own.
    if (std::any_of(respond.content_type.begin(), respond.content_type.end(),
                    [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
      error(t->get("content_type")->source(), "\"content_type\" must not contain control characters");
    if ((respond.status == 204 || respond.status == 304) && !respond.body.empty())
      error(node.source(), "a " + std::to_string(respond.status) + " response cannot have a body");
  }

  // respond = { file = "..." }: the body is the file, read now, so that a missing file is a
  // config error (tether -t says so) rather than a 404 at run time.
  void read_respond_file(const toml::table& t, RespondConfig& respond) {
    const toml::node* node = t.get("file");
    std::string name;
    read_string(t, "file", name);
    if (!node->is_string()) return;
    if (name.empty()) {
      error(node->source(), "\"file\" must not be empty");
      return;
    }
    if (t.get("body")) {
      error(node->source(), "respond has either \"body\" or \"file\", not both");
      return;
    }
    respond.file = relative_to_config(name);
    std::error_code failed;
    if (!std::filesystem::is_regular_file(respond.file, failed)) {
      error(node->source(), "\"" + respond.file + "\" is not a readable file");
      return;
    }
    std::ifstream in(respond.file, std::ios::binary);
    std::string content;
    char chunk[65536];
    while (in && content.size() <= kRespondFileMax) {
      in.read(chunk, sizeof chunk);
      content.append(chunk, static_cast<std::size_t>(in.gcount()));
    }
    if (in.bad() || (!in.eof() && content.size() <= kRespondFileMax)) {
      error(node->source(), "cannot read \"" + respond.file + "\"");
      return;
    }
    if (content.size() > kRespondFileMax) {
      error(node->source(), "\"" + respond.file + "\" is larger than 1MiB");
      return;
    }
    respond.body = std::move(content);
    if (!t.get("content_type")) respond.content_type = content_type_of(respond.file);
  }

  // The content type a file's extension says, for the few kinds a respond route serves.
  static std::string content_type_of(const std::string& file) {
    static const std::pair<const char*, const char*> types[] = {
        {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
        {".html", "text/html; charset=utf-8"},     {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},             {".ts", "text/plain; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"},     {".svg", "image/svg+xml"},
    };
    std::string extension = std::filesystem::path(file).extension().string();
    for (const auto& [suffix, type] : types)
      if (extension == suffix) return type;
    return "application/octet-stream";
  }

  // [route.<module>] tables hold per-route settings of configured modules; any other key is unknown.
  void read_route(const toml::table& t, const std::vector<ModuleConfig>& modules, std::vector<RouteConfig>& out) {
    RouteConfig route;
    for (const auto& [key, value] : t) {
      std::string_view name = key.str();
      if (name == "path" || name == "respond" || name == "handler" || name == "max_connection_age") continue;
      if (!has_module(modules, name)) {
        error(key.source(), "unknown key \"" + std::string(name) + "\" in [[route]] (not a configured module either)");
      } else if (!value.is_table()) {
        error(value.source(), "[route." + std::string(name) + "] must be a table of settings for module \"" +
                                  std::string(name) + "\"");
      } else {
        route.module_settings.emplace_back(std::string(name), to_value(value));
      }
    }
    route.where = position_of(t.source());
    const toml::node* p = t.get("path");
    if (!p || !p->is_string()) {
      error(p ? p->source() : t.source(), "[[route]] needs a \"path\" string such as \"/\" or \"/static/*\"");
      return;
    }
    std::string path = p->as_string()->get();
    route.where = position_of(p->source());
    if (path.empty() || path.front() != '/') {
      error(p->source(), "route path \"" + path + "\" must start with '/'");
      return;
    }
    if (path.back() == '*') {
      route.prefix = true;
      path.pop_back();
    }
    if (path.find('*') != std::string::npos) {
      error(p->source(), "route path may contain '*' only at its end");
      return;
    }
    route.path = path;
    read_duration(t, "max_connection_age", route.max_connection_age);
    const toml::node* respond = t.get("respond");
    const toml::node* handler = t.get("handler");
    if (respond && handler) {
      error(handler->source(), "a route has either \"respond\" or \"handler\", not both");
      return;
    }
    if (handler) {
      read_string(t, "handler", route.handler);
      if (handler->is_string() && route.handler != "publish" && !has_module(modules, route.handler))
        error(handler->source(), "handler \"" + route.handler + "\" is not a configured module: add [modules." +
                                     route.handler + "]");
    } else if (respond) {
      read_respond(*respond, route.respond);
    } else {
      error(p->source(), "route \"" + p->as_string()->get() + "\" has no handler: add respond = { ... } or handler = \"module\"");
      return;
    }
    out.push_back(std::move(route));
  }

  // Relative paths of modules are relative to the directory of the config file.
  std::string relative_to_config(const std::string& path) const {
    if (path.empty() || path.front() == '/') return path;
    std::filesystem::path base = std::filesystem::absolute(file_).parent_path();
    return (base / path).lexically_normal().string();
  }

  static bool has_module(const std::vector<ModuleConfig>& modules, std::string_view name) {
    return std::any_of(modules.begin(), modules.end(), [&](const ModuleConfig& m) { return m.name == name; });
  }

  static bool valid_module_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
  }

  void read_modules(const toml::table& root, const ServerConfig& server, std::vector<ModuleConfig>& out) {
    const toml::table* t = table_at(root, "modules", "[modules]");
    if (!t) return;
    for (const auto& [key, value] : *t) {
      std::string name(key.str());
      if (!valid_module_name(name)) {
        error(key.source(), "module name \"" + name + "\" must be 1 to 64 of a-z, 0-9 and _");
        continue;
      }
      if (!value.is_table()) {
        error(value.source(), "[modules." + name + "] must be a table");
        continue;
      }
      ModuleConfig module;
      module.name = name;
      module.where = position_of(key.source());
      module.path = relative_to_config(server.modules_dir) + "/" + name + ".so";
      module.settings = to_value(value);
      module.settings.where = module.where;
      auto& entries = module.settings.table;
      for (auto it = entries.begin(); it != entries.end(); ++it) {
        if (it->first != "path") continue;
        if (it->second.type != ConfigValue::Type::string || it->second.string.empty())
          error(value.as_table()->get("path")->source(), "\"path\" must be the path of the module's .so file");
        else module.path = relative_to_config(it->second.string);
        entries.erase(it);
        break;
      }
      out.push_back(std::move(module));
    }
  }

  // A TOML node as a ConfigValue, with positions, for module settings.
  ConfigValue to_value(const toml::node& node) {
    ConfigValue v;
    v.where = position_of(node.source());
    if (const auto* table = node.as_table()) {
      v.type = ConfigValue::Type::table;
      for (const auto& [key, child] : *table) {
        v.table.emplace_back(std::string(key.str()), to_value(child));
        v.table.back().second.key_where = position_of(key.source());
      }
    } else if (const auto* array = node.as_array()) {
      v.type = ConfigValue::Type::array;
      for (const toml::node& child : *array) v.array.push_back(to_value(child));
    } else if (node.is_string()) {
      v.type = ConfigValue::Type::string;
      v.string = node.as_string()->get();
    } else if (node.is_integer()) {
      v.type = ConfigValue::Type::integer;
      v.integer = node.as_integer()->get();
    } else if (node.is_floating_point()) {
      v.type = ConfigValue::Type::floating;
      v.floating = node.as_floating_point()->get();
    } else if (node.is_boolean()) {
      v.type = ConfigValue::Type::boolean;
      v.boolean = node.as_boolean()->get();
    } else {
      error(node.source(), "dates and times are not supported in module settings");
    }
    return v;
  }

  void read(const toml::table& root, Config& config) {
    check_keys(root, "the top level", {"server", "limits", "pubsub", "listen", "route", "modules"});
    read_server(root, config.server);
    read_limits(root, config.limits);
    read_pubsub(root, config.pubsub);
    read_modules(root, config.server, config.modules);
    for_each_table(root, "listen", [&](const toml::table& t) { read_listen(t, config.listen); });
    for_each_table(root, "route", [&](const toml::table& t) { read_route(t, config.modules, config.routes); });
    if (config.listen.empty() && !root.get("listen"))
      errors_.push_back(ConfigError{file_, {1, 1}, "no [[listen]] address: add one such as address = \"127.0.0.1:8080\""});
  }

 private:
  std::string file_;
  std::vector<ConfigError>& errors_;
};

}  // namespace

namespace {

// The parsed config, still mutable for the loader's file-reading step; null on errors.
std::shared_ptr<Config> parse(std::string_view text, const std::string& file_name, std::vector<ConfigError>* errors) {
  toml::table root;
  try {
    root = toml::parse(text, file_name);
  } catch (const toml::parse_error& e) {
    errors->push_back(ConfigError{file_name, position_of(e.source()), std::string(e.description())});
    return nullptr;
  }
  auto config = std::make_shared<Config>();
  config->file = file_name;
  ConfigReader(file_name, *errors).read(root, *config);
  return errors->empty() ? config : nullptr;
}

}  // namespace

ConfigLoadResult parse_config_text(std::string_view text, const std::string& file_name) {
  ConfigLoadResult result;
  result.config = parse(text, file_name, &result.errors);
  return result;
}

ConfigLoadResult load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigLoadResult result;
    result.errors.push_back(ConfigError{path, {0, 0}, std::string("cannot open: ") + std::strerror(errno)});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  ConfigLoadResult result;
  std::shared_ptr<Config> config = parse(text.str(), path, &result.errors);
  if (config) load_tls_credentials(*config, &result.errors);
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

}  // namespace tether
