#pragma once

/// @file
/// What a client asks of its connection actor, as plain structs: the
/// protocol's requests (docs/protocol.md) without protobuf. The gateway
/// decodes a frame and turns it into a `client_request` at its edge
/// (gateway/parley/gateway/requests.hpp); the connection actor never sees
/// the wire format of a request. Local only: never crosses nodes.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace parley::actors {

namespace request {

/// Say who you are (an empty user keeps the current name).
struct hello {
  std::string user;
  /// A JSON Web Token, or empty (auth.hpp).
  std::string token;
};

struct join {
  std::string room;
  /// Resume after this seq instead of receiving the backlog.
  std::optional<uint64_t> since;
};

struct leave {
  std::string room;
};

struct publish {
  std::string room;
  std::string text;
  std::string body;
  /// The client's idempotency key (empty: none).
  std::string id;
};

/// A page of a room's history: before (0: no bound), after, limit (0: the
/// room's default).
struct history {
  std::string room;
  uint64_t before = 0;
  uint64_t after = 0;
  uint32_t limit = 0;
};

struct presence {
  std::string room;
};

/// The open rooms.
struct rooms {};

struct ping {
  uint64_t client_time_ms = 0;
};

} // namespace request

/// One request and the ref its reply carries.
struct client_request {
  std::string ref;
  std::variant<request::hello, request::join, request::leave, request::publish,
               request::history, request::presence, request::rooms, request::ping>
    what;
};

} // namespace parley::actors
