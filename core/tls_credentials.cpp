#include "core/tls_credentials.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace tether {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "not valid PEM";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

bool read_file(const std::string& path, std::string* out, std::string* why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why = std::strerror(errno);
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  *out = text.str();
  return true;
}

void load_certificate(const std::string& file, TlsCertificate& c, std::vector<ConfigError>* errors) {
  auto fail = [&](const std::string& message) { errors->push_back(ConfigError{file, c.where, message}); };
  std::string why;
  if (!read_file(c.cert_file, &c.cert_pem, &why)) return fail("cannot read certificate " + c.cert_file + ": " + why);
  if (!read_file(c.key_file, &c.key_pem, &why)) return fail("cannot read key " + c.key_file + ": " + why);
  std::unique_ptr<BIO, BioFree> cert_bio(BIO_new_mem_buf(c.cert_pem.data(), static_cast<int>(c.cert_pem.size())));
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return fail("certificate " + c.cert_file + " cannot be used: " + openssl_error());
  std::unique_ptr<BIO, BioFree> key_bio(BIO_new_mem_buf(c.key_pem.data(), static_cast<int>(c.key_pem.size())));
  std::unique_ptr<EVP_PKEY, KeyFree> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) return fail("key " + c.key_file + " cannot be used: " + openssl_error());
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    fail("key " + c.key_file + " does not match certificate " + c.cert_file);
  }
}

// OpenSSL judges cipher strings; a scratch context tells the config check what a worker would hit.
void check_ciphers(const std::string& file, const ListenConfig& listen, std::vector<ConfigError>* errors) {
  const TlsConfig& tls = *listen.tls;
  if (tls.ciphers.empty() && tls.ciphersuites.empty()) return;
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return;
  if (!tls.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, tls.ciphers.c_str()) != 1)
    errors->push_back(ConfigError{file, listen.where, "no usable cipher in \"ciphers\": " + tls.ciphers});
  if (!tls.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, tls.ciphersuites.c_str()) != 1)
    errors->push_back(ConfigError{file, listen.where, "no usable suite in \"ciphersuites\": " + tls.ciphersuites});
  ERR_clear_error();
  SSL_CTX_free(ctx);
}

}  // namespace

void load_tls_credentials(Config& config, std::vector<ConfigError>* errors) {
  for (ListenConfig& listen : config.listen) {
    if (!listen.tls) continue;
    check_ciphers(config.file, listen, errors);
    load_certificate(config.file, listen.tls->certificate, errors);
    for (TlsCertificate& sni : listen.tls->sni) load_certificate(config.file, sni, errors);
  }
}

}  // namespace tether
