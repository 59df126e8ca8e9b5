#pragma once

/// @file
/// gevent.pool.Group as an actor: a set of actors stopped together.
///
/// The group monitors each member and forgets it when it ends. `stop`
/// (gevent's `Group.kill`) asks every member to exit with `user_shutdown`,
/// kills those still alive after the group's shutdown timeout, and answers
/// once all of them have ended. `join` answers once the group is empty. The
/// group owns its members' lifetime the way a supervisor does: if the group
/// itself ends, its state's destructor stops the members still in it.
///
/// Not to be confused with `caf::group`, CAF's publish/subscribe channel.
///
/// ```
///          stop                       every stopped member down
///  open ──────────▶ stopping ──────────────────────────────────▶ open
///   ▲  add/discard   │ after `shutdown`: kill the rest            (answer stops)
///   └────────────────┘
/// ```

#include "parley/gevent/atoms.hpp"

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/expected.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace caf {
class actor_system;
struct down_msg;
} // namespace caf

namespace parley::gevent {

/// How long stopped members get to exit before they are killed; OTP's
/// default shutdown for workers.
constexpr caf::timespan default_group_shutdown = std::chrono::seconds(5);

using group_actor = caf::typed_actor<
  /// Adds a member (again: nothing changes); answered with the group's size.
  /// An invalid handle is `errc::invalid_argument`.
  caf::replies_to<add_atom, caf::actor>::with<uint64_t>,
  /// Removes a member without stopping it; answered with the group's size.
  caf::replies_to<discard_atom, caf::actor>::with<uint64_t>,
  /// Answered with the number of members.
  caf::replies_to<size_atom>::with<uint64_t>,
  /// Answered once the group is empty, with the number of members that ended
  /// while this join waited (`Group.join`).
  caf::replies_to<join_atom>::with<uint64_t>,
  /// Stops every member (`Group.kill`); answered once all of them ended,
  /// with how many were stopped. Members added meanwhile are not stopped.
  caf::replies_to<stop_atom>::with<uint64_t>,
  /// Internal: the shutdown timeout of stop round `id` passed.
  caf::reacts_to<expire_atom, uint64_t>>;

/// The state of one group; runs inside the group actor.
class group_state {
public:
  using pointer = group_actor::stateful_pointer<group_state>;

  static inline const char* name = "parley.group";

  explicit group_state(pointer self) : self_(self) {
    // nop
  }

  /// Stops the members still in the group when the group ends.
  ~group_state();

  void init(caf::timespan shutdown) {
    shutdown_ = shutdown;
  }

  caf::result<uint64_t> add(const caf::actor& x);
  uint64_t discard(const caf::actor& x);
  caf::result<uint64_t> join();
  caf::result<uint64_t> stop();
  void expire(uint64_t round);
  void on_down(const caf::down_msg& msg);

  size_t size() const {
    return members_.size();
  }

private:
  void settle();

  pointer self_;
  caf::timespan shutdown_{default_group_shutdown};
  std::unordered_map<caf::actor_addr, caf::actor> members_;
  uint64_t ended_ = 0;
  /// Parked joins, with `ended_` at the time each was asked.
  std::vector<std::pair<caf::typed_response_promise<uint64_t>, uint64_t>> joins_;
  /// Members asked to exit and not yet down.
  std::unordered_set<caf::actor_addr> stopping_;
  uint64_t stopped_in_round_ = 0;
  uint64_t round_ = 0;
  std::vector<caf::typed_response_promise<uint64_t>> stops_;
};

group_actor::behavior_type group_impl(group_state::pointer self, caf::timespan shutdown);

/// Spawns an empty group; a negative shutdown timeout is refused with
/// `errc::invalid_argument`, zero kills members at once.
caf::expected<group_actor> spawn_group(caf::actor_system& sys,
                                       caf::timespan shutdown = default_group_shutdown);

} // namespace parley::gevent
