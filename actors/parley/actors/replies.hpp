#pragma once

/// @file
/// What a connection actor answers, as plain structs: the mirror of
/// requests.hpp. The connection hands a `server_reply` to its sink; the
/// gateway's edge (gateway/replies.hpp) maps its errors through the error
/// table and encodes it in the client's encoding. The connection never
/// builds a protobuf frame or picks a wire code.
///
/// Frames a room sends (joins, messages, presence) are not replies: the
/// room encodes each once for all its members (chat.hpp, `fanout_frame`).

#include "parley/actors/chat.hpp"
#include "parley/proto/codec.hpp"
#include "parley/runtime/errc_enum.hpp"

#include <string>
#include <variant>
#include <vector>

namespace parley::actors::reply {

/// The answer to a hello: who the server takes the client for, and the
/// limits it enforces.
struct welcome {
  std::string session_id;
  std::string node;
  proto::codec_limits limits;
  uint32_t backlog = 0;
  double publish_per_second = 0;
  double publish_burst = 0;
  std::string user;
  bool guest = false;
};

/// Why a member is out of a room.
enum class left_reason : uint8_t {
  requested,      ///< the client left
  room_restarted, ///< the room crashed and restarted: join again with since_seq
  room_stopped,   ///< the room ended (its node stops)
  room_moved,     ///< another node holds the room now: join again with since_seq
};

/// The member is out of `room`: the answer to a leave, or news of a room
/// that ended (with no ref).
struct left {
  std::string room;
  left_reason reason = left_reason::requested;
};

struct published {
  std::string room;
  seq_t seq = 0;
};

struct presence {
  std::string room;
  std::vector<std::string> members;
};

struct rooms {
  std::vector<room_summary> list;
};

struct pong {
  /// Echoed as the client sent it.
  uint64_t client_time_ms = 0;
  int64_t server_time_ms = 0;
};

/// A request that failed: the edge's error table gives the wire code.
struct failure {
  runtime::errc code = runtime::errc::internal;
  std::string reason;
};

} // namespace parley::actors::reply

namespace parley::actors {

/// One reply (or one error) for the client, with the ref of the request it
/// answers (empty for news no request asked for). A payload that did not
/// decode is answered with the codec's own `decode_error`, which names its
/// wire code already.
struct server_reply {
  std::string ref;
  std::variant<reply::welcome, reply::left, reply::published, history_reply, reply::presence,
               reply::rooms, reply::pong, reply::failure, proto::decode_error>
    what;
};

} // namespace parley::actors
