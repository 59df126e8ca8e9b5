#pragma once

/// @file
/// A room's relay on a node that has members of a room owned by another node.
///
/// ```
///  node A (owner)                    node B
///  room "lobby" ──one relay_frame──▶ relay "lobby" ──▶ sink, sink, sink (its members')
///       ▲                              │
///       └──── join / leave / publish ──┘ (forwarded, member handles included)
/// ```
///
/// Connections on B talk to the relay as if it were the room (it has the
/// room's interface). Joins, leaves and publishes go on to the owner, which
/// knows every member (presence, permissions) but sends each frame once per
/// node, already encoded in the encodings used there; the relay keeps its
/// members' sinks and writes each frame to them, as a room does, starting
/// with the join reply. When the owner's room or node goes away, the relay hands
/// what it saw (last seq, backlog) to its directory and stops with
/// `unavailable`, so its members are told the room restarted and rejoin with
/// their last seq; the directory places the room anew, and its new node
/// starts from that seed.

#include "parley/actors/room.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <deque>
#include <optional>
#include <unordered_map>

namespace parley::actors {

/// The relay: a room's interface, plus the frames from the owner.
using relay_actor = room_actor::extend<caf::reacts_to<relay_atom, relay_frame>>;

struct relay_config {
  std::string room;
  /// The room on its owner node.
  room_actor owner;
  std::string owner_node;
  /// A relay without members stops after this long.
  caf::timespan idle_timeout = std::chrono::seconds(60);
  /// Longest wait for the owner's answer to a join.
  caf::timespan request_timeout = std::chrono::seconds(10);
  /// Shared with the rooms of the same directory.
  std::shared_ptr<room_stats> stats = std::make_shared<room_stats>();
  /// Messages kept, as the room keeps them, to seed the room's next node.
  size_t backlog = default_backlog;
};

/// Relay counters shared by the relays of one directory.
struct relay_stats {
  /// Relays running now.
  std::atomic<int64_t> open{0};
  /// Frames received from owners (one per message per node).
  std::atomic<uint64_t> frames_in{0};
  /// Local members of all relays now.
  std::atomic<int64_t> members{0};
};

class relay_state {
public:
  static inline const char* name = "parley.room_relay";
  using pointer = relay_actor::stateful_pointer<relay_state>;

  explicit relay_state(pointer self) : self_(self) {
    // nop
  }

  ~relay_state();

  void init(relay_config cfg, std::shared_ptr<relay_stats> stats);

  caf::result<join_reply> on_join(join_request& req);
  caf::result<bool> on_leave(const member_id& member);
  /// Hands a publish to the room; answered with the room's answer, or with
  /// UNAVAILABLE at once when the room's node goes away first.
  caf::result<seq_t> forward_publish(publish_request& req);
  void on_frame(relay_frame& frame);
  void on_idle(uint64_t generation);

  const relay_config& config() const {
    return cfg_;
  }

private:
  struct local_member {
    frame_sink_ptr sink;
    encoding enc;
  };

  /// A message kept for the seed: from a join reply (`msg`), or as the
  /// room sent it (`bytes` in `enc`), parsed only if the seed is needed.
  struct kept {
    seq_t seq = 0;
    std::optional<chat_message> msg;
    std::shared_ptr<const std::string> bytes;
    encoding enc = encoding::binary;
  };

  void remove(const caf::actor_addr& addr);
  void arm_idle_timer();
  void keep(kept k);
  /// What this relay saw of the room, for the directory when the room goes
  /// away.
  room_seed seed() const;

  pointer self_;
  relay_config cfg_;
  std::shared_ptr<relay_stats> stats_;
  std::unordered_map<caf::actor_addr, local_member> members_;
  uint64_t idle_generation_ = 0;
  /// Publishes handed to the room and not answered yet, by id: a room on a
  /// node that died never answers, and its publishers should not wait for
  /// their timeouts to publish again.
  std::unordered_map<uint64_t, caf::typed_response_promise<seq_t>> publishes_;
  uint64_t publish_id_ = 0;
  /// The last seq this relay saw, and the messages it kept (at most
  /// `cfg_.backlog`), oldest first.
  seq_t last_seq_ = 0;
  std::deque<kept> backlog_;
};

relay_actor::behavior_type relay_impl(relay_state::pointer self, relay_config cfg,
                                      std::shared_ptr<relay_stats> stats);

} // namespace parley::actors
