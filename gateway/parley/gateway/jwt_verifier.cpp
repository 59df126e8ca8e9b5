#include "parley/gateway/jwt_verifier.hpp"

#include "parley/actors/names.hpp"


#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace parley::gateway {

namespace {

namespace pb = google::protobuf;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return std::nullopt;
  std::ostringstream body;
  body << in.rdbuf();
  return body.str();
}

/// RFC 4648 base64url without padding (a JWT's segments). OpenSSL's
/// EVP_DecodeBlock takes only the standard alphabet with padding, which
/// would mean a translated copy; libjwt decodes only the whole token, after
/// the algorithm is chosen, and the header must be read before that.
std::optional<std::string> base64url_decode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-')
      v = 62;
    else if (c == '_')
      v = 63;
    else
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::optional<pb::Struct> parse_json_object(const std::string& text) {
  pb::Struct s;
  if (!pb::util::JsonStringToMessage(text, &s).ok())
    return std::nullopt;
  return s;
}

/// The `rooms` claim: {"lobby": ["join", "publish"], "team-*": "join+history"}.
std::variant<actors::room_access, std::string> parse_rooms(const pb::Struct& rooms) {
  std::vector<actors::room_grant> grants;
  for (auto& [pattern, value] : rooms.fields()) {
    if (actors::check_grant(pattern))
      return "rooms claim: '" + pattern.substr(0, 64) + "' is not a room name or pattern";
    std::string rights;
    if (value.has_string_value()) {
      rights = value.string_value();
    } else if (value.has_list_value()) {
      for (auto& r : value.list_value().values()) {
        if (!r.has_string_value())
          return std::string{"rooms claim: rights are strings"};
        rights += (rights.empty() ? "" : "+") + r.string_value();
      }
    } else {
      return std::string{"rooms claim: each room names its rights (a list or a string)"};
    }
    auto bits = actors::parse_rights(rights);
    if (!bits)
      return "rooms claim: '" + pattern.substr(0, 64)
             + "': rights are join, publish, history, presence or all";
    grants.push_back({pattern, *bits});
  }
  return actors::room_access{std::move(grants)};
}

class jwt_verifier final : public actors::token_verifier {
public:
  jwt_verifier(std::string secret, std::string public_key, jwt_alg_t key_alg, jwt_settings s)
    : secret_(std::move(secret)),
      public_key_(std::move(public_key)),
      key_alg_(key_alg),
      settings_(std::move(s)) {
    // nop
  }

  std::variant<actors::identity, std::string> verify(std::string_view token) const override {
    // The header first: the algorithm decides the key, never the other way
    // round (an HS256 token "signed" with the public key must not pass).
    auto dot = token.find('.');
    if (dot == std::string_view::npos || token.find('.', dot + 1) == std::string_view::npos
        || token.size() > 8192)
      return std::string{"not a JSON Web Token"};
    auto header_json = base64url_decode(token.substr(0, dot));
    auto header = header_json ? parse_json_object(*header_json) : std::nullopt;
    if (!header)
      return std::string{"not a JSON Web Token (its header is not JSON)"};
    auto alg_field = header->fields().find("alg");
    if (alg_field == header->fields().end() || !alg_field->second.has_string_value())
      return std::string{"its header names no algorithm"};
    const auto& alg_name = alg_field->second.string_value();
    auto alg = jwt_str_alg(alg_name.c_str());
    const std::string* key = nullptr;
    if (alg == JWT_ALG_HS256 && !secret_.empty())
      key = &secret_;
    else if (alg != JWT_ALG_NONE && alg == key_alg_)
      key = &public_key_;
    if (!key)
      return "algorithm '" + alg_name.substr(0, 16) + "' is not accepted (this server takes "
             + accepted() + ")";
    jwt_t* raw = nullptr;
    std::string text{token};
    if (jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(key->data()),
                   static_cast<int>(key->size()))
          != 0
        || raw == nullptr) {
      if (raw)
        jwt_free(raw);
      return std::string{"the signature does not verify"};
    }
    std::unique_ptr<jwt_t, void (*)(jwt_t*)> jwt{raw, jwt_free};
    if (jwt_get_alg(jwt.get()) != alg)
      return std::string{"the signature does not verify"};
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
    auto exp = int_claim(jwt.get(), "exp");
    if (exp && *exp <= now)
      return std::string{"expired"};
    if (auto nbf = int_claim(jwt.get(), "nbf"); nbf && *nbf > now)
      return std::string{"not valid yet (nbf)"};
    if (!settings_.issuer.empty()) {
      auto* iss = jwt_get_grant(jwt.get(), "iss");
      if (!iss || settings_.issuer != iss)
        return std::string{"from another issuer"};
    }
    if (!settings_.audience.empty() && !has_audience(jwt.get()))
      return std::string{"for another audience"};
    auto* sub = jwt_get_grant(jwt.get(), "sub");
    if (!sub)
      return std::string{"it names no user (sub)"};
    actors::identity who;
    auto checked = actors::check_user_name(sub);
    if (!checked.ok())
      return "its sub is not a user name: " + checked.problem;
    who.user = std::move(checked.name);
    if (exp)
      who.expires = std::chrono::system_clock::time_point{std::chrono::seconds{*exp}};
    std::unique_ptr<char, void (*)(void*)> rooms{jwt_get_grants_json(jwt.get(), "rooms"), free};
    if (!rooms) {
      who.rooms = actors::room_access::everything();
      return who;
    }
    auto parsed = parse_json_object(rooms.get());
    if (!parsed)
      return std::string{"rooms claim: an object of room patterns and rights"};
    auto access = parse_rooms(*parsed);
    if (auto* why = std::get_if<std::string>(&access))
      return *why;
    who.rooms = std::move(std::get<actors::room_access>(access));
    return who;
  }

private:
  static std::optional<long> int_claim(jwt_t* jwt, const char* name) {
    errno = 0;
    long v = jwt_get_grant_int(jwt, name);
    if (errno == ENOENT)
      return std::nullopt;
    return v;
  }

  bool has_audience(jwt_t* jwt) const {
    if (auto* aud = jwt_get_grant(jwt, "aud"))
      return settings_.audience == aud;
    std::unique_ptr<char, void (*)(void*)> list{jwt_get_grants_json(jwt, "aud"), free};
    if (!list)
      return false;
    pb::Value v;
    if (!pb::util::JsonStringToMessage(list.get(), &v).ok() || !v.has_list_value())
      return false;
    for (auto& a : v.list_value().values())
      if (a.has_string_value() && a.string_value() == settings_.audience)
        return true;
    return false;
  }

  std::string accepted() const {
    std::string out;
    if (!secret_.empty())
      out = "HS256";
    if (key_alg_ != JWT_ALG_NONE)
      out += std::string{out.empty() ? "" : " and "} + jwt_alg_str(key_alg_);
    return out;
  }

  std::string secret_;
  std::string public_key_;
  jwt_alg_t key_alg_;
  jwt_settings settings_;
};

} // namespace

std::variant<std::shared_ptr<const actors::token_verifier>, std::string>
make_jwt_verifier(const jwt_settings& settings) {
  std::string secret;
  if (!settings.secret_file.empty()) {
    auto text = read_file(settings.secret_file);
    if (!text)
      return "--jwt-secret-file=" + settings.secret_file + ": cannot read it";
    if (!text->empty() && text->back() == '\n')
      text->pop_back();
    if (!text->empty() && text->back() == '\r')
      text->pop_back();
    // RFC 7518 3.2: a key at least as long as the hash.
    if (text->size() < 32)
      return "--jwt-secret-file=" + settings.secret_file
             + ": the secret has fewer than 32 bytes (make one with: openssl rand -base64 48)";
    secret = std::move(*text);
  }
  std::string key;
  jwt_alg_t key_alg = JWT_ALG_NONE;
  if (!settings.public_key_file.empty()) {
    auto text = read_file(settings.public_key_file);
    if (!text)
      return "--jwt-public-key-file=" + settings.public_key_file + ": cannot read it";
    std::unique_ptr<BIO, int (*)(BIO*)> bio{BIO_new_mem_buf(text->data(),
                                                            static_cast<int>(text->size())),
                                            BIO_free};
    std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> pkey{
      bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr, EVP_PKEY_free};
    if (!pkey)
      return "--jwt-public-key-file=" + settings.public_key_file
             + ": not a PEM public key (-----BEGIN PUBLIC KEY-----)";
    if (EVP_PKEY_base_id(pkey.get()) == EVP_PKEY_RSA) {
      if (EVP_PKEY_bits(pkey.get()) < 2048)
        return "--jwt-public-key-file=" + settings.public_key_file
               + ": an RSA key of fewer than 2048 bits";
      key_alg = JWT_ALG_RS256;
    } else if (EVP_PKEY_base_id(pkey.get()) == EVP_PKEY_EC && EVP_PKEY_bits(pkey.get()) == 256) {
      key_alg = JWT_ALG_ES256;
    } else {
      return "--jwt-public-key-file=" + settings.public_key_file
             + ": an RSA (RS256) or P-256 (ES256) key is needed";
    }
    key = std::move(*text);
  }
  if (secret.empty() && key.empty())
    return std::string{"no key: give --jwt-secret-file or --jwt-public-key-file"};
  return std::make_shared<jwt_verifier>(std::move(secret), std::move(key), key_alg, settings);
}

} // namespace parley::gateway
