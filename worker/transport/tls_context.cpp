#include "worker/transport/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <strings.h>

namespace tether {
namespace {

std::string openssl_error(const char* what) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  char text[256] = "unknown error";
  if (code) ERR_error_string_n(code, text, sizeof text);
  return std::string(what) + ": " + text;
}

// Chooses "http/1.1" when the client offers it; without a match the handshake goes on without ALPN.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in, unsigned in_length,
                void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kHttp11, sizeof kHttp11, in, in_length) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

bool use_certificate(SSL_CTX* ctx, const TlsCertificate& certificate, std::string* why) {
  BIO* bio = BIO_new_mem_buf(certificate.cert_pem.data(), static_cast<int>(certificate.cert_pem.size()));
  X509* leaf = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  bool ok = leaf && SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  while (ok) {  // the rest of the file is the chain
    X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    if (!extra) break;
    if (SSL_CTX_add_extra_chain_cert(ctx, extra) != 1) {
      X509_free(extra);
      ok = false;
    }
  }
  ERR_clear_error();  // the end of the chain reads as an error
  BIO_free(bio);
  if (!ok) {
    *why = "certificate " + certificate.cert_file + " cannot be used";
    return false;
  }
  bio = BIO_new_mem_buf(certificate.key_pem.data(), static_cast<int>(certificate.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  ok = key && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(key);
  BIO_free(bio);
  if (!ok) *why = openssl_error(("key " + certificate.key_file).c_str());
  return ok;
}

SSL_CTX* make_context(const TlsConfig& config, const TlsCertificate& certificate, const TicketKeys& keys,
                      std::string* why) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    *why = openssl_error("SSL_CTX_new");
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, config.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  // We write from our own buffers, which may move between retries, and read into one buffer.
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);  // tickets only: shared by every worker
  bool ok = use_certificate(ctx, certificate, why);
  if (ok && !config.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, config.ciphers.c_str()) != 1) {
    *why = openssl_error("ciphers");
    ok = false;
  }
  if (ok && !config.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, config.ciphersuites.c_str()) != 1) {
    *why = openssl_error("ciphersuites");
    ok = false;
  }
  if (ok && SSL_CTX_set_tlsext_ticket_keys(ctx, const_cast<unsigned char*>(keys.data()), static_cast<long>(keys.size())) != 1) {
    *why = openssl_error("session ticket keys");
    ok = false;
  }
  if (!ok) {
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

}  // namespace

std::unique_ptr<TlsContext> TlsContext::create(const TlsConfig& config, const TicketKeys& keys, std::string* why) {
  std::unique_ptr<TlsContext> context(new TlsContext);
  context->default_ = make_context(config, config.certificate, keys, why);
  if (!context->default_) return nullptr;
  for (const TlsCertificate& sni : config.sni) {
    SSL_CTX* ctx = make_context(config, sni, keys, why);
    if (!ctx) return nullptr;
    context->by_name_.emplace_back(sni.server_name, ctx);
  }
  if (!context->by_name_.empty()) {
    SSL_CTX_callback_ctrl(context->default_, SSL_CTRL_SET_TLSEXT_SERVERNAME_CB, reinterpret_cast<void (*)()>(on_server_name));
    SSL_CTX_set_tlsext_servername_arg(context->default_, context.get());
  }
  return context;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(default_);
  for (auto& [name, ctx] : by_name_) SSL_CTX_free(ctx);
}

SSL* TlsContext::new_ssl() const { return SSL_new(default_); }

SSL_CTX* TlsContext::context_for(const char* server_name) const {
  for (const auto& [name, ctx] : by_name_)
    if (strcasecmp(name.c_str(), server_name) == 0) return ctx;
  return nullptr;
}

// SNI: switch the connection to the certificate of the name the client asked for.
int TlsContext::on_server_name(SSL* ssl, int*, void* self) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  if (SSL_CTX* ctx = static_cast<TlsContext*>(self)->context_for(name)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace tether
