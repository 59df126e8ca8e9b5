#pragma once

/// @file
/// The chat vocabulary shared by rooms, the rooms directory and connections:
/// atoms and message structs. Each actor's typed interface stands beside its
/// state and behaviour (room.hpp, rooms_directory.hpp, room_relay.hpp,
/// connection.hpp); only the part of a relay a room talks to is here, as a
/// join request names it.
///
/// Actor interfaces carry plain structs: a connection receives requests the
/// gateway decoded (requests.hpp), and a room encodes each outgoing frame
/// at most once per encoding (`fanout_frame`) into bytes every member's sink
/// shares.

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
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using request_atom = caf::atom_constant<caf::atom("request")>;
using bad_frame_atom = caf::atom_constant<caf::atom("badframe")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using rooms_atom = caf::atom_constant<caf::atom("rooms")>;
using summary_atom = caf::atom_constant<caf::atom("summary")>;
using notice_atom = caf::atom_constant<caf::atom("notice")>;
using relay_atom = caf::atom_constant<caf::atom("relay")>;
using owned_atom = caf::atom_constant<caf::atom("owned")>;
using hosting_atom = caf::atom_constant<caf::atom("hosting")>;
using seed_atom = caf::atom_constant<caf::atom("seed")>;

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

/// A room's member, by address: a connection actor (or, in tests and
/// examples, any actor). The room monitors it and leaves it when it ends;
/// frames do not go through its mailbox but into its frame sink.
using member_id = caf::actor_addr;

/// A server frame on its way to many sinks, encoded at most once per
/// encoding, on first use, and shared read-only by every sink that gets
/// it. Not thread-safe: one actor (a room, a relay) makes and uses it.
class fanout_frame {
public:
  /// `frame` must outlive this object.
  explicit fanout_frame(const v1::ServerFrame& frame) : frame_(&frame) {
    // nop
  }

  /// Already encoded (a relay's copy): no frame to encode from; an
  /// encoding that was not given stays null.
  fanout_frame(std::shared_ptr<const std::string> binary, std::shared_ptr<const std::string> json)
    : cache_{std::move(binary), std::move(json)} {
    // nop
  }

  /// The bytes in `enc`, encoded now if this is the first time.
  const std::shared_ptr<const std::string>& bytes(encoding enc);

  /// The bytes in `enc` if they were made (or given); null otherwise.
  const std::shared_ptr<const std::string>& made(encoding enc) const {
    return cache_[enc == encoding::binary ? 0 : 1];
  }

private:
  const v1::ServerFrame* frame_ = nullptr;
  std::shared_ptr<const std::string> cache_[2]; // binary, json
};

/// What a room sends once per node to the relay there: one server frame in
/// the encodings that node's members use (the other stays null), which the
/// relay writes to the sinks of its local members (except the one with
/// actor id `except`, when not 0). `seq` is the message's, for a chat
/// message, else 0: the relay keeps messages to seed the room's next node
/// without parsing them now.
struct relay_frame {
  std::shared_ptr<const std::string> binary;
  std::shared_ptr<const std::string> json;
  seq_t seq = 0;
  uint64_t except = 0;
};

// Across nodes the encodings travel as strings (an absent one and an empty
// one told apart by a flag); inside one node the message is never
// serialised and the pointers are shared.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, relay_frame& x) {
  auto name = caf::meta::type_name("parley.relay_frame");
  if constexpr (Inspector::reads_state) {
    bool has_binary = static_cast<bool>(x.binary);
    bool has_json = static_cast<bool>(x.json);
    std::string none;
    // Serializers only read the strings they are given.
    auto& binary = has_binary ? const_cast<std::string&>(*x.binary) : none;
    auto& json = has_json ? const_cast<std::string&>(*x.json) : none;
    return f(name, x.seq, x.except, has_binary, binary, has_json, json);
  } else {
    bool has_binary = false;
    bool has_json = false;
    std::string binary;
    std::string json;
    auto restore = caf::meta::load_callback([&]() -> caf::error {
      x.binary = has_binary ? std::make_shared<const std::string>(std::move(binary)) : nullptr;
      x.json = has_json ? std::make_shared<const std::string>(std::move(json)) : nullptr;
      return caf::none;
    });
    return f(name, x.seq, x.except, has_binary, binary, has_json, json, restore);
  }
}

/// The part of a relay a room talks to.
using relay_sink = caf::typed_actor<caf::reacts_to<relay_atom, relay_frame>>;

struct join_request {
  member_id member;
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
  /// Where the member's frames go (its connection's sink). The room (or
  /// the relay of the member's node) writes the join reply there first,
  /// then every frame of the room, itself: no frame goes through the
  /// member's mailbox. A member without a sink gets no frames (a bot that
  /// reads the history, say). Never crosses nodes (not serialised).
  frame_sink_ptr sink;
  /// The request's ref, for the join reply written to `sink` (not
  /// serialised: the member's relay writes the reply on its node).
  std::string ref;
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
  /// The member missed messages the room no longer holds (retention).
  bool gap = false;
  /// More messages came after `since` than one reply holds: `messages`
  /// are the newest of them, the older ones a history request away.
  bool more = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_reply& x) {
  return f(caf::meta::type_name("parley.join_reply"), x.room, x.member_count, x.members,
           x.messages, x.seq, x.gap, x.more);
}

struct publish_request {
  member_id member;
  std::string text;
  std::string body;
  /// The client's idempotency key (empty: none): the room stores a
  /// message once per (user, id) among its newest `publish_id_window`.
  std::string id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, publish_request& x) {
  return f(caf::meta::type_name("parley.publish_request"), x.member, x.text, x.body, x.id);
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
  /// Messages it keeps for newcomers (at most its backlog setting).
  uint32_t backlog = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, room_summary& x) {
  return f(caf::meta::type_name("parley.room_summary"), x.name, x.member_count, x.last_seq,
           x.backlog);
}

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

/// Longest rooms list: a node with more open rooms lists the busiest.
constexpr size_t max_listed_rooms = 1000;

/// Milliseconds since the epoch, for server timestamps.
int64_t now_ms();

/// Fills a protobuf message from a chat message.
void to_proto(const chat_message& x, v1::Message& out);

/// Fills a chat message from a protobuf message.
void from_proto(const v1::Message& in, chat_message& x);

/// The join reply as the client sees it (an ack of `ref` carrying
/// `Joined`), encoded in `enc`.
std::shared_ptr<const std::string> encode_joined(const std::string& ref, const join_reply& reply,
                                                 encoding enc);

} // namespace parley::actors

namespace parley::actors {

/// Announces the chat types that cross nodes (rooms, relays, directories).
void announce_chat(caf::actor_system_config& cfg);

} // namespace parley::actors

// Local-only message types: what a gateway session hands its connection
// actor when a frame does not decode.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::proto::decode_error)
