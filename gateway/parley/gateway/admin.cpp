// The admin console's settings: token file, token check, address ranges.
// Neither Beast nor CAF.
#include "parley/gateway/admin.hpp"

#include <arpa/inet.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

namespace parley::gateway {

namespace {

constexpr size_t min_secret = 32;

bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= 32
         && std::all_of(name.begin(), name.end(), [](unsigned char c) {
              return std::isalnum(c) || c == '-' || c == '_' || c == '.';
            });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

/// The address as 4 or 16 bytes; an IPv4-mapped IPv6 address as its 4.
std::optional<std::vector<uint8_t>> address_bytes(std::string_view text) {
  std::string s{text};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    auto* p = reinterpret_cast<const uint8_t*>(&v4);
    return std::vector<uint8_t>(p, p + 4);
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    auto* p = reinterpret_cast<const uint8_t*>(&v6);
    static constexpr uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(p, mapped, 12) == 0)
      return std::vector<uint8_t>(p + 12, p + 16);
    return std::vector<uint8_t>(p, p + 16);
  }
  return std::nullopt;
}

} // namespace

std::variant<std::vector<admin_token>, std::string> load_admin_tokens(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return "--admin-token-file: cannot read '" + path + "' (" + std::strerror(errno) + ")";
  std::vector<admin_token> tokens;
  std::set<std::string> names;
  std::set<std::string> secrets;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    auto where = "--admin-token-file: " + path + ":" + std::to_string(n) + ": ";
    auto text = trim(line);
    if (text.empty() || text.front() == '#')
      continue;
    admin_token t{"admin", std::string{text}};
    // A name is what comes before the first ':' if it looks like one (a
    // secret from `openssl rand -base64` has no ':').
    if (auto colon = text.find(':'); colon != std::string_view::npos) {
      auto name = trim(text.substr(0, colon));
      if (!valid_name(name))
        return where + "the name before ':' must be 1 to 32 letters, digits, - _ or .";
      t.name = std::string{name};
      t.secret = std::string{trim(text.substr(colon + 1))};
    }
    if (t.secret.size() < min_secret)
      return where + "a secret needs " + std::to_string(min_secret)
             + " characters or more (make one with: openssl rand -base64 48)";
    if (!names.insert(t.name).second)
      return where + "the name '" + t.name + "' appears twice";
    if (!secrets.insert(t.secret).second)
      return where + "the same secret appears twice";
    tokens.push_back(std::move(t));
  }
  if (tokens.empty())
    return "--admin-token-file: '" + path + "' holds no token (one NAME:SECRET per line)";
  return tokens;
}

const admin_token* find_admin_token(const std::vector<admin_token>& tokens,
                                    std::string_view authorization) {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() <= scheme.size()
      || !std::equal(scheme.begin(), scheme.end(), authorization.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a))
                  == std::tolower(static_cast<unsigned char>(b));
         }))
    return nullptr;
  auto given = trim(authorization.substr(scheme.size()));
  const admin_token* found = nullptr;
  // Every token is compared, each in time that depends on its length only.
  for (auto& t : tokens)
    if (t.secret.size() == given.size()
        && CRYPTO_memcmp(t.secret.data(), given.data(), given.size()) == 0)
      found = &t;
  return found;
}

std::optional<address_range> address_range::parse(std::string_view text, std::string& why) {
  auto slash = text.find('/');
  auto addr = address_bytes(text.substr(0, slash));
  if (!addr) {
    why = "'" + std::string{text} + "' is not an address or a network (127.0.0.1, 10.0.0.0/8, ::1)";
    return std::nullopt;
  }
  address_range r;
  r.bytes = std::move(*addr);
  unsigned max = static_cast<unsigned>(r.bytes.size() * 8);
  r.prefix = max;
  if (slash != std::string_view::npos) {
    auto bits = text.substr(slash + 1);
    unsigned value = 0;
    if (bits.empty() || bits.size() > 3
        || !std::all_of(bits.begin(), bits.end(),
                        [](unsigned char c) { return std::isdigit(c); })) {
      why = "'" + std::string{text} + "': the prefix after '/' is not a number";
      return std::nullopt;
    }
    for (char c : bits)
      value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > max) {
      why = "'" + std::string{text} + "': a prefix of " + std::to_string(value) + " bits is over "
            + std::to_string(max);
      return std::nullopt;
    }
    r.prefix = value;
  }
  return r;
}

bool address_range::contains(std::string_view address) const {
  auto addr = address_bytes(address);
  if (!addr || addr->size() != bytes.size())
    return false;
  unsigned full = prefix / 8;
  if (!std::equal(bytes.begin(), bytes.begin() + full, addr->begin()))
    return false;
  if (unsigned rest = prefix % 8) {
    auto mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (bytes[full] & mask) == ((*addr)[full] & mask);
  }
  return true;
}

} // namespace parley::gateway
