#pragma once

/// @file
/// The chat vocabulary shared by rooms, the rooms directory and connections:
/// atoms, message structs and the typed interfaces that connect them.
///
/// Actor interfaces carry plain structs. Protobuf appears in two places only:
/// a connection receives the decoded `v1::ClientFrame` from the gateway, and
/// a room encodes each outgoing frame once into `shared_frame` bytes that
/// every member shares.

#include "parley/proto/codec.hpp"
#include "parley/runtime/atoms.hpp"

#include <caf/actor_addr.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace parley::actors {

using proto::encoding;
namespace v1 = ::parley::v1;

// -- atoms --------------------------------------------------------------------------

using runtime::join_atom; // one alias for both uses (chat, joinall)
using leave_atom = caf::atom_constant<caf::atom("leave")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;
using history_atom = caf::atom_constant<caf::atom("history")>;
using presence_atom = caf::atom_constant<caf::atom("presence")>;
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using frame_atom = caf::atom_constant<caf::atom("frame")>;
using bad_frame_atom = caf::atom_constant<caf::atom("badframe")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using rooms_atom = caf::atom_constant<caf::atom("rooms")>;
using summary_atom = caf::atom_constant<caf::atom("summary")>;

/// Per-room sequence number: strictly increasing from 1, without gaps.
using seq_t = uint64_t;

// -- messages -----------------------------------------------------------------------

/// One message in a room.
struct chat_message {
  std::string room;
  seq_t seq = 0;
  std::string sender;
  std::string text;
  std::string body;
  int64_t server_time_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, chat_message& x) {
  return f(caf::meta::type_name("parley.chat_message"), x.room, x.seq, x.sender, x.text, x.body,
           x.server_time_ms);
}

/// A server frame encoded once, shared read-only by every receiver. Each
/// encoding is present only if some receiver wanted it.
struct shared_frame {
  std::shared_ptr<const std::string> binary;
  std::shared_ptr<const std::string> json;

  /// The bytes for `enc`; null if that encoding was not produced.
  const std::shared_ptr<const std::string>& bytes(encoding enc) const {
    return enc == encoding::binary ? binary : json;
  }

  /// Encodes `frame` in the encodings asked for.
  static shared_frame make(const v1::ServerFrame& frame, bool want_binary, bool want_json);
};

/// A member of a room: receives the frames a room fans out.
using member_actor = caf::typed_actor<caf::reacts_to<deliver_atom, shared_frame>>;

struct join_request {
  member_actor member;
  /// Display name of the member's user.
  std::string user;
  /// The member's encoding, so the room encodes each frame at most once per
  /// encoding in use.
  encoding enc = encoding::json;
  /// Resume after this seq instead of receiving the backlog.
  std::optional<seq_t> since;
};

struct join_reply {
  std::string room;
  uint32_t member_count = 0;
  /// Users present, each once, sorted.
  std::vector<std::string> members;
  std::vector<chat_message> messages;
  seq_t seq = 0;
  /// The member missed messages the room no longer holds.
  bool gap = false;
};

struct publish_request {
  member_actor member;
  std::string text;
  std::string body;
};

struct history_request {
  seq_t before = 0; ///< 0: no upper bound
  seq_t after = 0;
  uint32_t limit = 0; ///< 0: the room's default
};

struct history_reply {
  std::string room;
  std::vector<chat_message> messages;
  bool gap = false;
};

/// What the rooms list shows of one room.
struct room_summary {
  std::string name;
  uint32_t member_count = 0;
  seq_t last_seq = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, room_summary& x) {
  return f(caf::meta::type_name("parley.room_summary"), x.name, x.member_count, x.last_seq);
}

/// A room: join / leave / publish / history / presence.
using room_actor = caf::typed_actor<
  caf::replies_to<join_atom, join_request>::with<join_reply>,
  caf::replies_to<leave_atom, member_actor>::with<bool>,
  caf::replies_to<publish_atom, publish_request>::with<seq_t>,
  caf::replies_to<history_atom, history_request>::with<history_reply>,
  caf::replies_to<presence_atom>::with<std::vector<std::string>>,
  caf::replies_to<summary_atom>::with<room_summary>,
  // Internal: the idle timer (timer generation).
  caf::reacts_to<idle_atom, uint64_t>,
  // Internal: the behaviour's timer tick.
  caf::reacts_to<tick_atom>,
  // Internal: send the presence changes collected so far.
  caf::reacts_to<flush_atom>>;

/// Finds or starts the room of a given name.
/// Lists the open rooms (at most `max_listed_rooms`).
using rooms_actor = caf::typed_actor<caf::replies_to<lookup_atom, std::string>::with<room_actor>,
                                     caf::replies_to<rooms_atom>::with<std::vector<room_summary>>>;

/// Longest rooms list: a node with more open rooms lists the busiest.
constexpr size_t max_listed_rooms = 1000;

/// Milliseconds since the epoch, for server timestamps.
int64_t now_ms();

/// Fills a protobuf message from a chat message.
void to_proto(const chat_message& x, v1::Message& out);

} // namespace parley::actors

// Local-only message types: they hold shared pointers or protobuf objects.
// (Cross-node variants arrive with the cluster.)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::shared_frame)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::join_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::join_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::publish_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::history_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::history_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::v1::ClientFrame)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::proto::decode_error)
