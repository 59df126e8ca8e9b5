#pragma once

/// @file
/// The certificate and key the gateway serves `https://` and `wss://` with,
/// read from PEM files and re-read on demand (SIGHUP): connections already
/// open keep the context they were accepted with, new ones get the new one.
/// Beast-free header; the OpenSSL context stays behind a forward declaration.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

namespace boost::asio::ssl {
class context;
} // namespace boost::asio::ssl

namespace parley::gateway {

/// Where the gateway's certificate and key live.
struct tls_files {
  /// PEM: the server's certificate first, then any intermediates (sent to
  /// clients as the chain).
  std::string cert_file;
  /// PEM: the certificate's private key (RSA or EC), unencrypted.
  std::string key_file;
};

/// A server TLS context (TLS 1.2 and 1.3, forward-secret AEAD ciphers only)
/// built from `tls_files`, swappable while connections use the old one.
/// Thread-safe.
class tls_identity {
public:
  /// Loads the files; one line saying what is wrong if they do not make a
  /// usable identity (a missing file, not PEM, a key that does not belong
  /// to the certificate).
  static std::variant<std::shared_ptr<tls_identity>, std::string> load(tls_files files);

  /// Re-reads the files. On failure the current identity stays and the
  /// reason comes back; on success new handshakes use the new one.
  std::optional<std::string> reload();

  /// The context for the next handshake. A session keeps the pointer for
  /// its lifetime, so a reload never pulls a context from under it.
  std::shared_ptr<boost::asio::ssl::context> context() const;

  /// The certificate in use, for logs: its subject and expiry.
  std::string describe() const;

  const tls_files& files() const {
    return files_;
  }

  /// Use `load`.
  tls_identity(tls_files files, std::shared_ptr<boost::asio::ssl::context> ctx,
               std::string description);

private:
  const tls_files files_;
  mutable std::mutex mtx_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  std::string description_;
};

} // namespace parley::gateway
