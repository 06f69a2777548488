// The TLS side of one [[listen]] address: an OpenSSL context per certificate (the default and
// each SNI name), built from the PEM text the master read, with the generation's session-ticket
// keys so that a client resumes its session on whichever worker it reaches.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/tls_ticket_keys.h"

namespace tether {

class TlsContext {
 public:
  // Null with *why set when OpenSSL refuses the settings.
  static std::unique_ptr<TlsContext> create(const TlsConfig& config, const TicketKeys& keys, std::string* why);
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  ~TlsContext();

  // A new server-side SSL object for one connection; null on allocation failure.
  SSL* new_ssl() const;

 private:
  TlsContext() = default;
  static int on_server_name(SSL* ssl, int* alert, void* self);
  SSL_CTX* context_for(const char* server_name) const;

  SSL_CTX* default_ = nullptr;
  std::vector<std::pair<std::string, SSL_CTX*>> by_name_;
};

}  // namespace tether
