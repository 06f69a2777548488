#include "worker/transport/tls_stream.h"

#include <openssl/err.h>

#include "core/log.h"

namespace tether {

TlsStream::TlsStream(SSL* ssl) : ssl_(ssl), network_in_(BIO_new(BIO_s_mem())), network_out_(BIO_new(BIO_s_mem())) {
  BIO_set_mem_eof_return(network_in_, -1);  // an empty input BIO means "want more", not EOF
  SSL_set_bio(ssl_, network_in_, network_out_);  // the SSL owns both BIOs now
  SSL_set_accept_state(ssl_);
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

void TlsStream::drain_output(std::string* ciphertext) {
  char chunk[16384];
  int n;
  while ((n = BIO_read(network_out_, chunk, sizeof chunk)) > 0) ciphertext->append(chunk, static_cast<std::size_t>(n));
}

TlsStream::Status TlsStream::receive(std::string_view input, std::string* plaintext, std::string* ciphertext) {
  if (!input.empty() && BIO_write(network_in_, input.data(), static_cast<int>(input.size())) <= 0) return Status::failed;
  Status status = Status::ok;
  if (!handshake_done_) {
    int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      handshake_done_ = true;
    } else {
      int error = SSL_get_error(ssl_, r);
      if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
        LOG_DEBUG("TLS handshake failed: %s", ERR_reason_error_string(ERR_peek_error()) ? ERR_reason_error_string(ERR_peek_error()) : "?");
        ERR_clear_error();
        drain_output(ciphertext);  // the alert telling the client why
        return Status::failed;
      }
    }
  }
  while (handshake_done_) {
    char buffer[16384];
    int n = SSL_read(ssl_, buffer, sizeof buffer);
    if (n > 0) {
      plaintext->append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    int error = SSL_get_error(ssl_, n);
    if (error == SSL_ERROR_ZERO_RETURN) status = Status::closed;
    else if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) status = Status::failed;
    ERR_clear_error();
    break;
  }
  drain_output(ciphertext);
  return status;
}

bool TlsStream::send(std::string_view plaintext, std::string* ciphertext) {
  std::size_t offset = 0;
  while (offset < plaintext.size()) {
    int n = SSL_write(ssl_, plaintext.data() + offset, static_cast<int>(plaintext.size() - offset));
    if (n <= 0) {
      ERR_clear_error();
      return false;  // memory BIOs never block: anything else is a dead session
    }
    offset += static_cast<std::size_t>(n);
    drain_output(ciphertext);
  }
  drain_output(ciphertext);
  return true;
}

void TlsStream::close(std::string* ciphertext) {
  if (handshake_done_) SSL_shutdown(ssl_);
  ERR_clear_error();
  drain_output(ciphertext);
}

}  // namespace tether
