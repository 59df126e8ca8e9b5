#pragma once

/// @file
/// JSON Web Tokens for `hello.token` and `/ws?token=`, verified with libjwt
/// (Debian's libjwt-dev): HS256 with a shared secret, RS256 or ES256 with a
/// public key (the key's type picks which). Beast- and CAF-free.
///
/// A token is taken when its header names an algorithm the server was
/// configured for (never `none`, never HS256 with a public key: the header
/// is checked before libjwt verifies), its signature verifies, `exp` (if
/// present) is in the future, `nbf` (if present) in the past, `aud` and
/// `iss` match when the server names them, and `sub` is a valid user name.
/// Its `rooms` claim grants rooms (docs/security.md); without it the token
/// grants every room.

#include "parley/actors/auth.hpp"

#include <memory>
#include <string>
#include <variant>

namespace parley::gateway {

struct jwt_settings {
  /// A file holding the HS256 secret (at least 32 bytes; one trailing
  /// newline is not part of it).
  std::string secret_file;
  /// A PEM public key (RSA: RS256; EC P-256: ES256).
  std::string public_key_file;
  /// When set, a token's `aud` must be (or contain) it.
  std::string audience;
  /// When set, a token's `iss` must be it.
  std::string issuer;
};

/// The verifier, or why the settings cannot make one (a file that cannot
/// be read, a key that is not one), naming the flag.
std::variant<std::shared_ptr<const actors::token_verifier>, std::string>
make_jwt_verifier(const jwt_settings& settings);

} // namespace parley::gateway
