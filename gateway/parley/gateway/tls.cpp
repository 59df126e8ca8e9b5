// The gateway's TLS identity (Asio's SSL context over OpenSSL; no CAF, no
// Beast). Only what Asio does not say: the protocol floor, the cipher list,
// and errors that name the file and the flag.
#include "parley/gateway/tls.hpp"

#include <boost/asio/ssl/context.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace parley::gateway {

namespace ssl = boost::asio::ssl;

namespace {

/// TLS 1.2 suites that are forward secret and authenticated-encrypted
/// (Mozilla's "intermediate" list without DHE, which needs parameters we
/// would have to ship). TLS 1.3 suites are OpenSSL's defaults, all AEAD.
constexpr const char* tls12_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/// OpenSSL's reason for the last failure (its queue is per thread): the
/// first error queued is the cause, later ones its callers.
std::string openssl_reason(const boost::system::error_code& ec) {
  std::string why;
  bool first = true;
  while (auto e = ERR_get_error()) {
    if (!first)
      continue;
    first = false;
    if (const char* r = ERR_reason_error_string(e))
      why = r;
  }
  if (why.empty())
    why = ec.message();
  // SSL's wrapper of a PEM failure says only that.
  if (why == "PEM lib")
    why = "not PEM, or damaged";
  return why;
}

/// Empty if `path` can be opened for reading, else why not.
std::optional<std::string> unreadable(const std::string& flag, const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (in)
    return std::nullopt;
  return flag + ": cannot read '" + path + "' (" + std::strerror(errno) + ")";
}

std::string describe_certificate(SSL_CTX* ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (!cert)
    return "no certificate";
  std::string out;
  char name[256];
  X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name);
  out = name;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    ASN1_TIME_print(bio, X509_get0_notAfter(cert));
    char* data = nullptr;
    auto n = BIO_get_mem_data(bio, &data);
    out += ", valid until " + std::string(data, static_cast<size_t>(n));
    BIO_free(bio);
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
    out += " (EXPIRED: clients will refuse it)";
  else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
    out += " (NOT YET VALID: clients will refuse it)";
  return out;
}

using built = std::variant<std::shared_ptr<ssl::context>, std::string>;

built build(const tls_files& files) {
  if (auto why = unreadable("--tls-cert", files.cert_file))
    return *why;
  if (auto why = unreadable("--tls-key", files.key_file))
    return *why;
  ERR_clear_error();
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2
                   | ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1
                   | ssl::context::single_dh_use);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(native, tls12_ciphers) != 1)
    return "TLS: this OpenSSL has none of the ciphers the gateway allows";
  // An idle connection gives its read and write buffers (about 34 KB)
  // back to the allocator; chat connections are idle most of the time.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(files.cert_file, ec);
  if (ec)
    return "--tls-cert: '" + files.cert_file + "' holds no usable PEM certificate ("
           + openssl_reason(ec) + ")";
  // The key is read first on its own, so that a key that is not one (or
  // is encrypted) and a key of another certificate get different errors.
  EVP_PKEY* key = nullptr;
  if (BIO* bio = BIO_new_file(files.key_file.c_str(), "r")) {
    // No passphrase: an encrypted key fails here instead of prompting.
    key = PEM_read_bio_PrivateKey(
      bio, nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
    BIO_free(bio);
  }
  if (!key) {
    auto why = openssl_reason(ec);
    return "--tls-key: '" + files.key_file
           + "' holds no usable PEM private key (an encrypted key is not supported): " + why;
  }
  int used = SSL_CTX_use_PrivateKey(native, key);
  EVP_PKEY_free(key);
  if (used != 1) {
    ERR_clear_error();
    return "--tls-key: '" + files.key_file + "' is not the key of the certificate in '"
           + files.cert_file + "'";
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return "--tls-key: '" + files.key_file + "' is not the key of the certificate in '"
           + files.cert_file + "'";
  }
  return ctx;
}

} // namespace

tls_identity::tls_identity(tls_files files, std::shared_ptr<ssl::context> ctx,
                           std::string description)
  : files_(std::move(files)), ctx_(std::move(ctx)), description_(std::move(description)) {
  // nop
}

std::variant<std::shared_ptr<tls_identity>, std::string> tls_identity::load(tls_files files) {
  auto made = build(files);
  if (auto* why = std::get_if<std::string>(&made))
    return *why;
  auto ctx = std::get<0>(std::move(made));
  auto description = describe_certificate(ctx->native_handle());
  return std::make_shared<tls_identity>(std::move(files), std::move(ctx), std::move(description));
}

std::optional<std::string> tls_identity::reload() {
  auto made = build(files_);
  if (auto* why = std::get_if<std::string>(&made))
    return *why;
  auto ctx = std::get<0>(std::move(made));
  auto description = describe_certificate(ctx->native_handle());
  std::lock_guard<std::mutex> guard{mtx_};
  ctx_ = std::move(ctx);
  description_ = std::move(description);
  return std::nullopt;
}

std::shared_ptr<ssl::context> tls_identity::context() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return ctx_;
}

std::string tls_identity::describe() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return description_;
}

} // namespace parley::gateway
