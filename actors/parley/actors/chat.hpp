#pragma once

/// @file
/// The chat vocabulary shared by rooms, the rooms directory and connections:
/// atoms, message structs and the typed interfaces that connect them.
///
/// Actor interfaces carry plain structs. Protobuf appears in two places only:
/// a connection receives the decoded `v1::ClientFrame` from the gateway, and
/// a room encodes each outgoing frame once into `shared_frame` bytes that
/// every member shares.

#include "parley/actors/outbound.hpp"
#include "parley/proto/codec.hpp"
#include "parley/runtime/atoms.hpp"
#include "parley/runtime/cluster.hpp"

#include <caf/actor_addr.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/meta/load_callback.hpp>
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
using relay_atom = caf::atom_constant<caf::atom("relay")>;
using owned_atom = caf::atom_constant<caf::atom("owned")>;
using hosting_atom = caf::atom_constant<caf::atom("hosting")>;
using seed_atom = caf::atom_constant<caf::atom("seed")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;

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

  /// Neither encoding: what a room sends a member whose sink refused a
  /// frame (a slow consumer), so the member's connection closes it.
  static shared_frame overflowed() {
    return {};
  }

  bool is_overflow() const {
    return !binary && !json;
  }
};

/// A member of a room: receives the frames a room fans out.
using member_actor = caf::typed_actor<caf::reacts_to<deliver_atom, shared_frame>>;

/// What a room sends once per node to the relay there: one server frame in
/// the binary encoding, which the relay fans out to its local members
/// (except the one with actor id `except`, when not 0).
struct relay_frame {
  std::string binary;
  uint64_t except = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, relay_frame& x) {
  return f(caf::meta::type_name("parley.relay_frame"), x.binary, x.except);
}

/// The part of a relay a room talks to.
using relay_sink = caf::typed_actor<caf::reacts_to<relay_atom, relay_frame>>;

struct join_request {
  member_actor member;
  /// Display name of the member's user.
  std::string user;
  /// The member's encoding, so the room encodes each frame at most once per
  /// encoding in use.
  encoding enc = encoding::json;
  /// Resume after this seq instead of receiving the backlog.
  std::optional<seq_t> since;
  /// Set when the member is on another node: the room sends that node's
  /// relay one copy of each frame instead of one per member.
  relay_sink via;
  /// Where the member's frames go (its connection's sink), when the member
  /// is on this node: the room then writes its frames there itself instead
  /// of sending each through the member's mailbox, from the member's
  /// `ready` on (see room_actor). Never crosses nodes (not serialised).
  frame_sink_ptr sink;
};

// Encodings and optional seqs cross nodes as plain integers.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_request& x) {
  auto enc = static_cast<uint8_t>(x.enc);
  bool resume = x.since.has_value();
  seq_t since = x.since.value_or(0);
  auto restore = caf::meta::load_callback([&]() -> caf::error {
    x.enc = static_cast<encoding>(enc);
    if (resume)
      x.since = since;
    else
      x.since.reset();
    return caf::none;
  });
  return f(caf::meta::type_name("parley.join_request"), x.member, x.user, enc, resume, since,
           x.via, restore);
}

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

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_reply& x) {
  return f(caf::meta::type_name("parley.join_reply"), x.room, x.member_count, x.members,
           x.messages, x.seq, x.gap);
}

struct publish_request {
  member_actor member;
  std::string text;
  std::string body;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, publish_request& x) {
  return f(caf::meta::type_name("parley.publish_request"), x.member, x.text, x.body);
}

struct history_request {
  seq_t before = 0; ///< 0: no upper bound
  seq_t after = 0;
  uint32_t limit = 0; ///< 0: the room's default
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, history_request& x) {
  return f(caf::meta::type_name("parley.history_request"), x.before, x.after, x.limit);
}

struct history_reply {
  std::string room;
  std::vector<chat_message> messages;
  bool gap = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, history_reply& x) {
  return f(caf::meta::type_name("parley.history_reply"), x.room, x.messages, x.gap);
}

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
  caf::reacts_to<flush_atom>,
  // A member that joined with a sink has sent its join reply to that sink:
  // the room's frames may follow it there (they wait in the room until then,
  // so a client never sees a room's message before its join reply).
  caf::reacts_to<ready_atom, member_actor>>;

/// What a node knows of a room that ran elsewhere (its relay saw every
/// message): the new node of a room whose node died starts from it, so seqs
/// go on instead of starting over.
struct room_seed {
  seq_t last_seq = 0;
  std::vector<chat_message> backlog;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, room_seed& x) {
  return f(caf::meta::type_name("parley.room_seed"), x.last_seq, x.backlog);
}

/// Where a room stands on one node, for the placement of a room in a
/// cluster (see rooms_directory.hpp).
enum class room_standing : uint8_t { none = 0, claiming = 1, live = 2 };

/// Finds or starts the room of a given name.
/// Lists the open rooms (at most `max_listed_rooms`).
using rooms_actor = caf::typed_actor<
  caf::replies_to<lookup_atom, std::string>::with<room_actor>,
  caf::replies_to<rooms_atom>::with<std::vector<room_summary>>,
  // The rooms this node runs itself (true), or every node's (false).
  caf::replies_to<rooms_atom, bool>::with<std::vector<room_summary>>,
  // Cluster: the room of this name if this node owns it (starting it), else
  // an `unavailable` error naming the owner this node sees.
  caf::replies_to<owned_atom, std::string, room_seed>::with<room_actor>,
  // A relay whose room went away hands over what it saw (room name).
  caf::reacts_to<seed_atom, std::string, room_seed>,
  // Cluster: whether this node hosts the room (room_standing as uint8_t, and
  // the room when live), asked by a node (name) about to start it.
  caf::replies_to<hosting_atom, std::string, std::string>::with<uint8_t, room_actor>,
  // Cluster: membership changes from the node agent (node name).
  caf::reacts_to<runtime::member_up_atom, runtime::node_info>,
  caf::reacts_to<runtime::member_down_atom, runtime::node_info>>;

/// Longest rooms list: a node with more open rooms lists the busiest.
constexpr size_t max_listed_rooms = 1000;

/// Milliseconds since the epoch, for server timestamps.
int64_t now_ms();

/// Fills a protobuf message from a chat message.
void to_proto(const chat_message& x, v1::Message& out);

/// Fills a chat message from a protobuf message.
void from_proto(const v1::Message& in, chat_message& x);

} // namespace parley::actors

namespace parley::actors {

/// Announces the chat types that cross nodes (rooms, relays, directories).
void announce_chat(caf::actor_system_config& cfg);

} // namespace parley::actors

// Local-only message types: they hold shared pointers or protobuf objects.
// Across nodes, a room sends relays a `relay_frame` instead.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::shared_frame)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::v1::ClientFrame)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::proto::decode_error)
