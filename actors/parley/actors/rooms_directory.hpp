#pragma once

/// @file
/// The rooms directory: looks rooms up by name and starts them on demand as
/// transient children of the rooms supervisor.
///
/// ```
/// rooms (rest_for_one)
/// ├── room-sup (one_for_one, forget_ended) ── room "lobby", room "r42", ...
/// └── directory ── name → room handle cache, name → room_memory
/// ```
///
/// The directory owns each room's `room_memory` (seq and backlog), so a room
/// that crashes and is restarted continues its sequence and keeps its
/// backlog. With a history store (`room_config::store`), a room starts from
/// what the store holds (its last seq and newest messages, loaded before the
/// room starts) and its memory goes when it stops idle: memory is bounded
/// by the rooms in use, not by every name ever touched. Without a store the
/// memory is the history and lives as long as the process.

#include "parley/actors/room.hpp"
#include "parley/actors/room_relay.hpp"
#include "parley/runtime/child_spec.hpp"

#include <caf/expected.hpp>

#include <caf/actor_clock.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <functional>
#include <set>
#include <string_view>
#include <unordered_map>

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const parley::store::room_head>)

namespace parley::actors {

using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using moved_atom = caf::atom_constant<caf::atom("moved")>;

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
  caf::reacts_to<runtime::member_down_atom, runtime::node_info>,
  // Internal, from the store's thread: a room's head loaded (or why not).
  caf::reacts_to<loaded_atom, std::string, std::shared_ptr<const store::room_head>,
                 std::string>,
  // Internal, from the store's lease thread: rooms that run here and that
  // another node holds now (this node hung or was cut off): they stop.
  caf::reacts_to<moved_atom, std::vector<std::string>>>;

struct rooms_config {
  room_config room;
  /// This node's name in a cluster; empty on a node of its own. In a
  /// cluster, a room lives on the node rendezvous hashing picks among the
  /// live members (placement.hpp); other nodes with members run a relay.
  std::string node;
  /// Longest wait for another node's directory (placement questions).
  caf::timespan cluster_timeout = std::chrono::seconds(2);
  /// Shared by the relays of this directory.
  std::shared_ptr<relay_stats> relays = std::make_shared<relay_stats>();
  /// Longest room name in bytes.
  size_t max_room_name = 64;
  /// Custom behaviours by name prefix.
  std::vector<room_behavior_rule> behaviors;
  /// Restart intensity of the rooms supervisor.
  size_t intensity = 10;
  caf::timespan period = std::chrono::seconds(10);
};

/// A room name is 1 to `max` bytes of UTF-8 in NFC: letters, marks and
/// digits of any script, '-', '_', '.' and ':', not starting with '.'
/// (names.hpp). Returns the reason when it is not.
caf::error validate_room_name(std::string_view name, size_t max);

/// State of the rooms directory; runs only inside its actor. Lookups on
/// this node and the rooms list are in rooms_directory.cpp, the placement
/// of rooms in a cluster (claims, relays, seeds) in room_claims.cpp.
class rooms_directory_state {
public:
  using pointer = rooms_actor::stateful_pointer<rooms_directory_state>;

  static inline const char* name = "parley.rooms_directory";

  explicit rooms_directory_state(pointer self) : self_(self) {
    // nop
  }

  void init(rooms_config cfg, runtime::supervisor_actor parent);

  // -- message handlers --------------------------------------------------------

  /// The room of `name`, started (or claimed, or relayed) if need be.
  caf::result<room_actor> lookup(const std::string& name);

  /// The open rooms (of every node, or this node's only), sorted by name.
  caf::result<std::vector<room_summary>> list_rooms(bool local_only);

  /// Another node asks for a room it believes this node owns, with what it
  /// knows of the room.
  caf::result<room_actor> owned(const std::string& name, room_seed& seed);

  /// Another node, claiming `name`, asks whether this one hosts it.
  caf::result<uint8_t, room_actor> hosting(const std::string& name, const std::string& asker);

  /// Takes a seed for a room that does not run here, if it is newer than
  /// what this node remembers of it.
  void adopt(const std::string& name, room_seed& seed);

  void member_up(const runtime::node_info& info);
  void member_down(const runtime::node_info& info);
  /// Stops the rooms another node holds now; their members join again.
  void moved(const std::vector<std::string>& rooms);
  /// Tells the store which nodes this one sees (it arbitrates ownership).
  void tell_store_view();

  /// A room's head from the store: starts the room from it.
  void loaded(const std::string& name, const std::shared_ptr<const store::room_head>& head,
              const std::string& error);

private:
  /// Longest wait for the rooms supervisor and for another node's room.
  static constexpr caf::timespan sup_timeout = std::chrono::seconds(10);

  // -- this node (rooms_directory.cpp) ----------------------------------------

  void on_down(const caf::down_msg& msg);
  /// Runs `then` with the rooms supervisor, looking it up once.
  template <class Then, class Fail>
  void with_room_sup(Then then, Fail fail);
  void remember(const std::string& name, const caf::actor& handle);
  /// Adds `spec` under the rooms supervisor (or finds the child of that id
  /// that runs already), remembers it as `name`, runs `then`, and settles.
  void start_child(const std::string& name, runtime::child_spec spec, std::function<void()> then);
  /// Starts (or finds) the room `name` on this node, then settles.
  void start_local(const std::string& name);
  /// Starts the work for a lookup of `name` (one per name at a time).
  void resolve(const std::string& name);

  /// Answers every lookup waiting for `name` with `outcome` (a room or an
  /// error).
  template <class T>
  void settle(const std::string& name, const T& outcome) {
    auto i = pending.find(name);
    if (i == pending.end())
      return;
    auto waiters = std::move(i->second);
    pending.erase(i);
    for (auto& rp : waiters)
      rp.deliver(outcome);
  }

  // -- in a cluster (room_claims.cpp) ------------------------------------------

  /// The nodes a room may be placed on.
  std::vector<std::string> view();
  /// Runs `then` with the directory of `node` (or `fail`).
  void with_peer(const std::string& node, std::function<void(rooms_actor&)> then,
                 std::function<void(caf::error)> fail);
  /// A lookup in a cluster: claims the room if this node owns it in its
  /// view, or relays it from its owner.
  void resolve_in_cluster(const std::string& name);
  void start_relay(const std::string& name, const std::string& owner, room_actor room);
  room_seed seed_of(const std::string& name);
  void lookup_remote(const std::string& name, const std::string& owner);
  void claim(const std::string& name);
  void ask_hosting(const std::string& name, const std::string& node);
  void decide_claim(const std::string& name);

  pointer self_;
  rooms_config cfg;
  /// The sibling that supervises the rooms (weak; looked up on first use).
  caf::actor_addr parent_;
  runtime::supervisor_actor room_sup;
  std::unordered_map<std::string, room_actor> live;
  std::unordered_map<caf::actor_addr, std::string> names;
  std::unordered_map<std::string, std::shared_ptr<room_memory>> memory;
  /// Lookups in progress, by room: the first does the work, the others
  /// wait for its answer.
  std::unordered_map<std::string, std::vector<caf::typed_response_promise<room_actor>>> pending;
  // -- in a cluster ----------------------------------------------------------------
  /// Live nodes, this one included.
  std::set<std::string> nodes;
  /// Nodes that asked about a room before the agent reported them (a hello
  /// and a claim can overtake the agent's news), until it does or
  /// `cluster_timeout` passes.
  std::unordered_map<std::string, caf::actor_clock::time_point> heard_of;
  /// Rooms in `live` that are relays, with their owner node.
  std::unordered_map<std::string, std::string> relayed;
  /// Other nodes' directories, found through the cluster's names.
  std::unordered_map<std::string, rooms_actor> peers;
  /// Rooms this node is about to start, asking the others first.
  struct claim_state {
    std::set<std::string> asked;
    size_t waiting = 0;
    bool failed = false;
    /// A node that outranks this one and is claiming the room too.
    std::string yield_to;
    /// The room, live on another node.
    room_actor found;
    std::string found_on;
  };
  std::unordered_map<std::string, claim_state> claims;
};

rooms_actor::behavior_type rooms_directory_impl(rooms_directory_state::pointer self,
                                                rooms_config cfg,
                                                runtime::supervisor_actor parent);

/// The registered name (in the cluster) of `node`'s rooms directory.
std::string directory_name(const std::string& node);

/// The name the running directory is registered under in the actor
/// system's registry.
constexpr caf::atom_value rooms_directory_name = caf::atom("rooms");

/// The running rooms directory of `sys` (null if none runs).
rooms_actor find_rooms_directory(caf::actor_system& sys);

/// The rooms subtree as one child spec: a rest_for_one supervisor ("rooms")
/// over the rooms supervisor ("room-sup") and the directory ("directory").
runtime::child_spec rooms_child(rooms_config cfg);

} // namespace parley::actors
