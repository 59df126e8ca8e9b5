#pragma once

/// @file
/// Which web pages may open a WebSocket to the gateway. A browser sends the
/// page's origin with every upgrade, and sends the user's cookies along
/// whatever page it is: without this check any site the user visits could
/// talk to the gateway as the user. A missing Origin is a client that is
/// not a browser (a CLI, a server) and is let through; authentication, not
/// the Origin, is what holds those back. Beast-free.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::gateway {

class origin_policy {
public:
  /// `allowed` holds origins (`https://chat.example.com`,
  /// `http://localhost:8080`), origins with `*.` before the host for its
  /// subdomains (`https://*.example.com`), or `*` for any page at all.
  /// Empty: the gateway's own origin, i.e. the Origin's host and port are
  /// the request's Host. Entries must pass `check`.
  explicit origin_policy(const std::vector<std::string>& allowed = {});

  /// Why `entry` is not an allowed-origin entry, or nothing.
  static std::optional<std::string> check(std::string_view entry);

  /// Whether an upgrade with this `origin` header (empty: none sent) and
  /// this `host` header may proceed. `null` (a sandboxed frame, a file://
  /// page, a redirect) is refused unless `*` allows anything.
  bool allows(std::string_view origin, std::string_view host) const;

private:
  struct entry {
    std::string scheme;
    std::string host; ///< without the "*." of a pattern
    std::string port; ///< empty: the scheme's default
    bool subdomains = false;
  };
  std::vector<entry> entries_;
  bool any_ = false;
};

} // namespace parley::gateway
