// TLS on one connection with memory BIOs: ciphertext read from the socket goes in, plaintext
// for the HTTP session comes out, and the session's plaintext output is encrypted into
// ciphertext for the socket. No socket I/O here: the Connection does it with libuv.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <string_view>

namespace tether {

class TlsStream {
 public:
  explicit TlsStream(SSL* ssl);  // takes ownership
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;
  ~TlsStream();

  enum class Status { ok, closed, failed };
  // Feeds ciphertext; appends decrypted bytes to *plaintext and any bytes TLS wants sent
  // (handshake, tickets, alerts) to *ciphertext. `closed`: the peer sent close_notify.
  Status receive(std::string_view input, std::string* plaintext, std::string* ciphertext);
  // Encrypts `plaintext` into *ciphertext. False if TLS cannot write (handshake failed).
  bool send(std::string_view plaintext, std::string* ciphertext);
  // Our close_notify, into *ciphertext.
  void close(std::string* ciphertext);

  bool handshake_done() const { return handshake_done_; }

 private:
  void drain_output(std::string* ciphertext);

  SSL* ssl_;
  BIO* network_in_;   // we write socket bytes here; OpenSSL reads them
  BIO* network_out_;  // OpenSSL writes here; we send it to the socket
  bool handshake_done_ = false;
};

}  // namespace tether
