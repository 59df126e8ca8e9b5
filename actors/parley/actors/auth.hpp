#pragma once

/// @file
/// Who a connection is and which rooms it may use. Plain data and one
/// interface, without CAF or a JWT library: the gateway verifies tokens
/// (gateway/jwt_verifier.hpp) and the connection actor checks rights
/// before a room's behaviour sees a request.
///
/// Three modes (`--auth`):
/// - `none`: anyone names themselves (hello.user) and may use every room;
///   tokens are not read. For tests and closed networks.
/// - `guests` (the default): a token, if given, must be valid and its `sub`
///   is the user's name, which nobody else can take; a connection without
///   one is a guest named `~name` (a `~` no token's name can start with)
///   and may use only the rooms `--guest-rooms` opens to guests.
/// - `required`: nothing but a ping is served before a valid token.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace parley::actors {

enum class auth_mode : uint8_t { none, guests, required };

/// "none", "guests" or "required".
std::optional<auth_mode> parse_auth_mode(std::string_view text);

/// What a user may do in a room (bits).
enum right : uint8_t {
  right_join = 1,     ///< become a member: the backlog and every new message
  right_publish = 2,  ///< publish
  right_history = 4,  ///< read older history
  right_presence = 8, ///< list the members
};

constexpr uint8_t all_rights = right_join | right_publish | right_history | right_presence;

/// Rights in the rooms a pattern names: an exact name, a prefix ending in
/// `*` (`team-*`), or `*` for every room.
struct room_grant {
  std::string pattern;
  uint8_t rights = all_rights;
};

/// The rooms a user may use. Empty: none.
class room_access {
public:
  room_access() = default;

  explicit room_access(std::vector<room_grant> grants) : grants_(std::move(grants)) {
    // nop
  }

  /// Every room, every right.
  static room_access everything() {
    return room_access{{room_grant{"*", all_rights}}};
  }

  /// The rights of every grant whose pattern matches `room`, together.
  uint8_t rights(std::string_view room) const;

  bool allows(std::string_view room, right r) const {
    return (rights(room) & r) != 0;
  }

  const std::vector<room_grant>& grants() const {
    return grants_;
  }

private:
  std::vector<room_grant> grants_;
};

/// "join+publish+history+presence" (any of them, or "all"; `,` separates
/// too) as bits; empty if a word is none of those.
std::optional<uint8_t> parse_rights(std::string_view text);

/// A pattern as `--guest-rooms` takes it: `NAME`, `PREFIX*` or `*`,
/// optionally followed by `=RIGHTS` (`lobby=join+history`). Why not, or
/// nothing.
std::optional<std::string> check_grant(std::string_view text);

/// Parses an entry `check_grant` accepted (all rights when none are given).
room_grant parse_grant(std::string_view text);

/// A verified token's holder.
struct identity {
  std::string user;
  room_access rooms;
  /// The token's `exp`, if it has one: past it the connection is refused.
  std::optional<std::chrono::system_clock::time_point> expires;
};

/// Checks a token and says whom it names (or why it is refused, in words a
/// client may read: no secret, no key material). Called on a connection's
/// actor thread; must be thread-safe.
class token_verifier {
public:
  virtual ~token_verifier() = default;
  virtual std::variant<identity, std::string> verify(std::string_view token) const = 0;
};

/// A guest's name: `~` and the name they asked for.
inline std::string guest_name(std::string_view asked) {
  return "~" + std::string{asked};
}

} // namespace parley::actors
