#pragma once

/// @file
/// Tokens for tests: keys made with OpenSSL, tokens signed with libjwt, and
/// the forgeries an attacker would try (alg "none", a public key used as an
/// HMAC secret). Header-only; link PkgConfig::JWT and OpenSSL::Crypto.

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

namespace parley::test {

struct key_pair {
  std::string private_pem;
  std::string public_pem;
};

inline std::string bio_text(BIO* bio) {
  char* data = nullptr;
  auto n = BIO_get_mem_data(bio, &data);
  return std::string{data, static_cast<size_t>(n)};
}

/// A fresh key pair: "rsa" (2048 bits) or "ec" (P-256).
inline key_pair make_keys(const std::string& kind) {
  EVP_PKEY* raw = kind == "rsa" ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  if (!raw)
    throw std::runtime_error("key generation failed");
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key{raw, EVP_PKEY_free};
  std::unique_ptr<BIO, int (*)(BIO*)> priv{BIO_new(BIO_s_mem()), BIO_free};
  std::unique_ptr<BIO, int (*)(BIO*)> pub{BIO_new(BIO_s_mem()), BIO_free};
  PEM_write_bio_PrivateKey(priv.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_bio_PUBKEY(pub.get(), key.get());
  return {bio_text(priv.get()), bio_text(pub.get())};
}

inline long now_s() {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count());
}

/// A token with `claims` (a JSON object), signed with `alg` and `key`.
inline std::string sign(jwt_alg_t alg, const std::string& key, const std::string& claims) {
  jwt_t* raw = nullptr;
  jwt_new(&raw);
  std::unique_ptr<jwt_t, void (*)(jwt_t*)> jwt{raw, jwt_free};
  if (jwt_add_grants_json(jwt.get(), claims.c_str()) != 0)
    throw std::runtime_error("bad claims: " + claims);
  if (jwt_set_alg(jwt.get(), alg, reinterpret_cast<const unsigned char*>(key.data()),
                  static_cast<int>(key.size()))
      != 0)
    throw std::runtime_error("jwt_set_alg failed");
  std::unique_ptr<char, void (*)(void*)> out{jwt_encode_str(jwt.get()), free};
  if (!out)
    throw std::runtime_error("jwt_encode_str failed");
  return out.get();
}

inline std::string base64url(const std::string& in) {
  static constexpr char table[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += table[(acc >> bits) & 0x3F];
    }
  }
  if (bits > 0)
    out += table[(acc << (6 - bits)) & 0x3F];
  return out;
}

/// An unsigned token: header {"alg":"none"}, no signature.
inline std::string unsigned_token(const std::string& claims) {
  return base64url(R"({"alg":"none","typ":"JWT"})") + "." + base64url(claims) + ".";
}

/// A secret of 48 bytes, as `openssl rand -base64 48` would make.
inline const std::string& test_secret() {
  static const std::string s = "k3y-for-tests-only-0123456789abcdefghijklmnopqrstuv";
  return s;
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream{path, std::ios::binary} << text;
}

} // namespace parley::test
