// The typed configuration model. tether.toml is parsed once into these structs (config_parser.h);
// nothing else in tether touches TOML. Every value is already in its unit (milliseconds, bytes).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/redis_address.h"
#include "core/socket_address.h"

namespace tether {

using Milliseconds = std::chrono::milliseconds;

// Where a value came from, for error messages that point into the file.
struct SourcePosition {
  unsigned line = 0;
  unsigned column = 0;
};

struct ServerConfig {
  unsigned workers = 0;                        // 0 = "auto": one per CPU
  std::string pid_file = "/tmp/tether.pid";
  Milliseconds drain_timeout{30'000};
  // Long-lived connections of a draining worker say goodbye at random moments over the last
  // drain_spread before drain_timeout (0: all at drain_timeout), so their clients do not all
  // reconnect to the new generation in the same instant.
  Milliseconds drain_spread{5'000};
  Milliseconds ready_timeout{10'000};          // a new generation must report READY within this
  unsigned max_draining_generations = 4;       // past this, the oldest draining generation is forced down
  std::string user;                            // only used when started as root
  std::string error_log = "stderr";            // "stderr" or a path
  LogLevel log_level = LogLevel::info;
  std::string access_log = "off";              // "off", "stderr" or a path
  std::string modules_dir = TETHER_DEFAULT_MODULES_DIR;
  std::uint64_t shared_memory = 64 * 1024 * 1024;  // arena for modules' shared zones (fixed at start)

  unsigned resolved_workers() const;           // workers, with "auto" resolved to the CPU count
};

struct LimitsConfig {
  std::uint64_t max_connections = 100'000;     // per worker
  // New connections a worker lets through per second (0: no limit); the others' requests get
  // 503 with Retry-After, so a reconnect storm comes back at this rate instead of all at once.
  std::uint64_t max_accept_rate = 0;
  Milliseconds header_timeout{10'000};
  Milliseconds body_timeout{60'000};           // for a whole request body, from the end of its headers
  Milliseconds keepalive_timeout{75'000};
  std::uint64_t max_header_size = 16 * 1024;
  std::uint64_t max_body_size = 1024 * 1024;
  Milliseconds tls_handshake_timeout{10'000};
};

// [pubsub.redis]: the Redis servers of broker = "redis" (one shard each) and how to talk to them.
struct RedisConfig {
  std::vector<RedisAddress> addresses;  // channels are spread over them by a consistent hash
  std::string prefix = "tether";        // of every key and pub/sub channel
  std::string username;                 // AUTH username password (Redis 6 ACL)
  std::string password;                 // empty: no AUTH
  int db = 0;                           // SELECT for the command connections
  Milliseconds connect_timeout{1000};
  Milliseconds command_timeout{1000};   // a publish, a history read: never waits longer
  SourcePosition where;                 // of [pubsub.redis], for errors about the whole table
};

// Who sequences messages, keeps history and relays between workers: the master ("local", one
// machine) or Redis ("redis", several machines, worker/pubsub/redis_broker.h).
enum class BrokerKind { local, redis };

// [pubsub]: the broker and the publish endpoint (handler = "publish").
struct PubsubConfig {
  BrokerKind broker = BrokerKind::local;
  RedisConfig redis;                           // broker == redis
  std::uint64_t history_size = 100;            // messages kept per channel for resume
  Milliseconds history_ttl{300'000};           // and for at most this long
  std::uint64_t history_memory = 64 * 1024 * 1024;  // bytes of message data kept in all; oldest evicted first
  std::uint64_t max_message_size = 64 * 1024;  // larger publishes get 413
  std::uint64_t max_channels = 100'000;        // channels the broker keeps; publishing to more gets 503
  std::uint64_t max_subscriptions = 16;        // channels one connection may subscribe to, whatever the module
  std::string publish_token;                   // if set, publishing needs "Authorization: Bearer <token>"
  std::uint64_t worker_backlog = 256 * 1024 * 1024;  // bytes the master holds for a worker not reading its link
};

// A certificate chain and its key, read from their files by the config loader (as root, before
// workers drop privileges) and kept in memory: workers build their TLS contexts from these.
struct TlsCertificate {
  std::string server_name;  // empty for the listener's default certificate
  std::string cert_file;
  std::string key_file;
  std::string cert_pem;
  std::string key_pem;
  SourcePosition where;
};

struct TlsConfig {
  TlsCertificate certificate;        // the default
  std::vector<TlsCertificate> sni;   // chosen by the client's server name
  std::string min_version = "1.2";   // "1.2" or "1.3"
  std::string ciphers;               // TLS 1.2 cipher list (OpenSSL syntax), empty: OpenSSL's default
  std::string ciphersuites;          // TLS 1.3 suites, empty: OpenSSL's default
};

struct ListenConfig {
  SocketAddress address;
  unsigned backlog = 511;
  std::shared_ptr<TlsConfig> tls;    // null: plain TCP
  SourcePosition where;
};

// The built-in `respond` handler: a fixed answer, like nginx's `return`. With `file`, the body is
// that file's content, read once when the config is loaded (a reload reads it again).
struct RespondConfig {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain";
  std::string file;  // as resolved (relative to the config file's directory); empty: none
};

// The largest file a `respond` route serves: it is held in memory by every worker.
inline constexpr std::size_t kRespondFileMax = 1024 * 1024;

// A TOML value kept as it was written, for the tables that belong to modules: the core cannot
// know their keys, so modules validate them through the module API (include/tether/module.h).
struct ConfigValue {
  enum class Type { string, integer, floating, boolean, table, array };
  Type type = Type::table;
  SourcePosition where;      // of the value
  SourcePosition key_where;  // of the key naming it in its table
  std::string string;
  std::int64_t integer = 0;
  double floating = 0;
  bool boolean = false;
  std::vector<std::pair<std::string, ConfigValue>> table;  // in file order; keys are unique
  std::vector<ConfigValue> array;

  // Declared here, defined in config.cpp: clang with libstdc++ (the fuzz build) cannot
  // instantiate pair<string, ConfigValue> while the implicit ones are still being worked out.
  ConfigValue();
  ConfigValue(const ConfigValue&);
  ConfigValue(ConfigValue&&) noexcept;
  ConfigValue& operator=(const ConfigValue&);
  ConfigValue& operator=(ConfigValue&&) noexcept;
  ~ConfigValue();

  const ConfigValue* find(std::string_view key) const;
};

// [modules.<name>]: a module to load and its own settings.
struct ModuleConfig {
  std::string name;
  std::string path;     // the .so file: modules_dir/<name>.so unless `path` is given
  ConfigValue settings; // the table without `path`
  SourcePosition where;
};

struct RouteConfig {
  std::string path;     // without the trailing '*' for prefix routes
  bool prefix = false;  // "/static/*" matches every path under "/static/"
  std::string handler;  // empty: the built-in `respond`; "publish": the publish endpoint; else a module
  RespondConfig respond;
  // A long-lived connection (stream, upgrade) on this route says goodbye, as on a drain, at a
  // random moment between 90 % and 100 % of this age (0: never).
  Milliseconds max_connection_age{0};
  // [route.<module>] tables: per-route settings for modules, keyed by module name.
  std::vector<std::pair<std::string, ConfigValue>> module_settings;
  SourcePosition where;
};

struct Config {
  std::string file;     // the path it was read from, for messages
  ServerConfig server;
  LimitsConfig limits;
  PubsubConfig pubsub;
  std::vector<ListenConfig> listen;
  std::vector<RouteConfig> routes;
  std::vector<ModuleConfig> modules;  // in file order; that is the order hooks run in

  const ModuleConfig* module(std::string_view name) const;
};

using ConfigPtr = std::shared_ptr<const Config>;

}  // namespace tether
