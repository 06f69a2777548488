// TLS records from a client into TlsStream, on a server context built by TlsContext exactly as
// a [[listen]] with tls does it (certificate made at start-up, one SNI name, ticket keys).
// Input: byte 0 chooses the mode, byte 1 the piece size the bytes arrive in (0: all at once),
// the rest are the client's bytes:
//   mode & 3 == 0: raw bytes from the first one (ClientHello parsing, alerts, garbage);
//   mode & 3 == 1: an honest client completes a handshake first (TLS 1.3, or 1.2 if mode & 4),
//                  then the rest arrives raw (post-handshake records: KeyUpdate, alerts, junk);
//   mode & 3 == 2: after that handshake the client sends the rest as application data: the
//                  plaintext that comes out must be exactly what it sent, and the echo we send
//                  back must reach it.
// As the Connection does, whatever plaintext arrives is answered with send().
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "worker/transport/tls_context.h"
#include "worker/transport/tls_stream.h"

using tether::TlsStream;

namespace {

[[noreturn]] void fail(const char* why) {
  std::fprintf(stderr, "tls_stream_fuzz: %s\n", why);
  ERR_print_errors_fp(stderr);
  std::abort();
}

std::string to_pem(EVP_PKEY* key, X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (key) PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  if (cert) PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  return pem;
}

// A self-signed P-256 certificate for `name`, as PEM text in *certificate.
void make_certificate(const char* name, tether::TlsCertificate* certificate) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  if (!key || !cert) fail("cannot make a key");
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* subject = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name), -1, -1, 0);
  X509_set_issuer_name(cert, subject);
  if (X509_sign(cert, key, EVP_sha256()) == 0) fail("cannot sign the certificate");
  certificate->cert_pem = to_pem(nullptr, cert);
  certificate->key_pem = to_pem(key, nullptr);
  certificate->cert_file = certificate->key_file = std::string(name) + " (made by the harness)";
  X509_free(cert);
  EVP_PKEY_free(key);
}

struct Contexts {
  std::unique_ptr<tether::TlsContext> server;
  SSL_CTX* client_13 = nullptr;
  SSL_CTX* client_12 = nullptr;
};

Contexts* contexts;

SSL_CTX* client_context(int version) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, version);
  SSL_CTX_set_max_proto_version(ctx, version);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  return ctx;
}

// The client's side: an SSL on two memory BIOs.
struct Client {
  explicit Client(SSL_CTX* ctx) : ssl(SSL_new(ctx)), in(BIO_new(BIO_s_mem())), out(BIO_new(BIO_s_mem())) {
    BIO_set_mem_eof_return(in, -1);
    SSL_set_bio(ssl, in, out);
    SSL_set_connect_state(ssl);
    SSL_set_tlsext_host_name(ssl, "sni.test");
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_set_alpn_protos(ssl, alpn, sizeof alpn);
  }
  ~Client() { SSL_free(ssl); }
  std::string take_output() {
    std::string bytes;
    char chunk[16384];
    int n;
    while ((n = BIO_read(out, chunk, sizeof chunk)) > 0) bytes.append(chunk, static_cast<std::size_t>(n));
    return bytes;
  }
  void give(const std::string& bytes) {
    if (!bytes.empty()) BIO_write(in, bytes.data(), static_cast<int>(bytes.size()));
  }
  std::string read_plaintext() {
    std::string text;
    char chunk[16384];
    int n;
    while ((n = SSL_read(ssl, chunk, sizeof chunk)) > 0) text.append(chunk, static_cast<std::size_t>(n));
    ERR_clear_error();
    return text;
  }
  SSL* ssl;
  BIO* in;
  BIO* out;
};

// Feeds `bytes` to the server in pieces; echoes what it decrypts. Returns the plaintext.
std::string feed(TlsStream& server, const std::string& bytes, std::size_t piece, std::string* to_client, bool* alive) {
  std::string plaintext;
  for (std::size_t at = 0; *alive && at < bytes.size(); at += piece) {
    std::string got, ciphertext;
    TlsStream::Status status = server.receive(std::string_view(bytes).substr(at, piece), &got, &ciphertext);
    // A session that failed in this same read may refuse to send: the Connection then closes.
    bool sent = got.empty() || server.send(got, &ciphertext);
    plaintext += got;
    *to_client += ciphertext;
    if (status != TlsStream::Status::ok || !sent) *alive = false;
    if (!got.empty() && !server.handshake_done()) fail("plaintext before the handshake completed");
  }
  return plaintext;
}

// An honest handshake between the client and the server; false if it does not complete.
bool handshake(Client& client, TlsStream& server) {
  for (int round = 0; round < 10; ++round) {
    int r = SSL_do_handshake(client.ssl);
    std::string ciphertext, plaintext;
    std::string bytes = client.take_output();
    if (!bytes.empty() && server.receive(bytes, &plaintext, &ciphertext) != TlsStream::Status::ok) return false;
    client.give(ciphertext);
    if (r == 1 && server.handshake_done()) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  contexts = new Contexts;
  tether::TlsConfig config;
  make_certificate("default.test", &config.certificate);
  config.sni.emplace_back();
  config.sni.back().server_name = "sni.test";
  make_certificate("sni.test", &config.sni.back());
  tether::TicketKeys keys{};
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<unsigned char>(i * 7 + 1);
  std::string why;
  contexts->server = tether::TlsContext::create(config, keys, &why);
  if (!contexts->server) fail(why.c_str());
  contexts->client_13 = client_context(TLS1_3_VERSION);
  contexts->client_12 = client_context(TLS1_2_VERSION);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  unsigned mode = data[0];
  std::size_t piece = data[1] == 0 ? size : data[1];
  std::string bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  TlsStream server(contexts->server->new_ssl());
  bool alive = true;
  std::string to_client;
  if ((mode & 3) == 0 || (mode & 3) == 3) {
    feed(server, bytes, piece, &to_client, &alive);
  } else {
    Client client((mode & 4) ? contexts->client_12 : contexts->client_13);
    if (!handshake(client, server)) fail("the honest handshake did not complete");
    if ((mode & 3) == 1) {
      feed(server, bytes, piece, &to_client, &alive);
    } else {
      std::string records;
      if (!bytes.empty()) {
        if (SSL_write(client.ssl, bytes.data(), static_cast<int>(bytes.size())) <= 0) fail("the client cannot write");
        records = client.take_output();
      }
      std::string plaintext = feed(server, records, piece, &to_client, &alive);
      if (plaintext != bytes) fail("the plaintext that came out is not what the client sent");
      client.give(to_client);
      to_client.clear();
      if (client.read_plaintext() != bytes) fail("the echo did not reach the client");
    }
  }
  server.close(&to_client);
  ERR_clear_error();
  return 0;
}
