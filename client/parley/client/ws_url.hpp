#pragma once

/// @file
/// `ws://` and `wss://host[:port][/path]` URLs, parsed strictly: a client should refuse a
/// typo before it touches the network, with a reason that names the typo.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley::client {

/// Where a WebSocket lives. A plain value.
struct ws_url {
  /// A DNS name, an IPv4 address or an IPv6 address (without brackets).
  std::string host;
  uint16_t port = 80;
  /// The HTTP request target: the path and query, at least "/".
  std::string target = "/";
  /// wss:// (TLS, port 443 unless given).
  bool tls = false;

  /// The Host header: `host:port`, IPv6 in brackets.
  std::string authority() const;

  /// Back to `ws://authority/target` (`wss://` with TLS).
  std::string str() const;
};

/// Parses `ws[s]://host[:port][/path][?query]`; the scheme is
/// case-insensitive, the port defaults to 80 (443 for wss). On failure
/// returns nothing and sets `why` to one sentence naming the problem.
std::optional<ws_url> parse_ws_url(std::string_view text, std::string& why);

} // namespace parley::client
