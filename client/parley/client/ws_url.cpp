#include "parley/client/ws_url.hpp"

#include <cctype>

namespace parley::client {

namespace {

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size())
    return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i])
      return false;
  return true;
}

// Letters, digits, '-', '.', '_' (a DNS name or a dotted IPv4 address).
bool valid_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

} // namespace

std::string ws_url::authority() const {
  auto h = host.find(':') == std::string::npos ? host : "[" + host + "]";
  return h + ":" + std::to_string(port);
}

std::string ws_url::str() const {
  return (tls ? "wss://" : "ws://") + authority() + target;
}

std::optional<ws_url> parse_ws_url(std::string_view text, std::string& why) {
  auto fail = [&](std::string reason) -> std::optional<ws_url> {
    why = "bad URL '" + std::string{text} + "': " + std::move(reason);
    return std::nullopt;
  };
  ws_url url;
  if (starts_with_ci(text, "wss://")) {
    url.tls = true;
    url.port = 443;
  } else if (!starts_with_ci(text, "ws://")) {
    if (starts_with_ci(text, "http://") || starts_with_ci(text, "https://"))
      return fail("a WebSocket URL starts with ws:// (or wss:// for TLS), as in "
                  "ws://host:8080/ws");
    return fail("expected ws://host[:port][/path] or wss://...");
  }
  auto rest = text.substr(url.tls ? 6 : 5);
  auto slash = rest.find_first_of("/?#");
  auto authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    if (rest[slash] == '#')
      return fail("a fragment (#...) has no meaning in a WebSocket URL");
    url.target = std::string{rest.substr(slash)};
    if (url.target.front() == '?')
      url.target.insert(url.target.begin(), '/');
    if (url.target.find('#') != std::string::npos)
      return fail("a fragment (#...) has no meaning in a WebSocket URL");
    for (char c : url.target)
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
        return fail("the path holds a space or a control character");
  }
  if (authority.find('@') != std::string_view::npos)
    return fail("user info (user@host) is not supported");
  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return fail("unclosed '[' in an IPv6 address");
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return fail("expected ':port' after ']'");
      port = after.substr(1);
      if (port.empty())
        return fail("empty port");
    }
    if (host.empty())
      return fail("empty host");
    for (char c : host)
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.')
        return fail("'" + std::string{host} + "' is not an IPv6 address");
  } else {
    auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty())
        return fail("empty port");
    }
    if (host.empty())
      return fail("empty host");
    for (char c : host)
      if (!valid_host_char(c))
        return fail("'" + std::string{host} + "' is not a host name or IPv4 address");
  }
  url.host = std::string{host};
  if (!port.empty()) {
    unsigned long value = 0;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c)))
        return fail("port '" + std::string{port} + "' is not a number");
      value = value * 10 + static_cast<unsigned long>(c - '0');
      if (value > 65535)
        return fail("port '" + std::string{port} + "' is over 65535");
    }
    if (value == 0)
      return fail("port 0 cannot be connected to");
    url.port = static_cast<uint16_t>(value);
  }
  return url;
}

} // namespace parley::client
