#pragma once

/// @file
/// The gevent tutorial's Pinger and Ponger as typed actors.
///
/// The Pinger plays a game of N rounds: it sends the Ponger a `ball` with the
/// round number and waits for it to come back before the next round. Both
/// run under a supervisor; if the Ponger crashes mid-game, the supervisor
/// restarts it and the Pinger, which monitors it, fetches the new incarnation
/// from the supervisor and replays the lost round. A game therefore always
/// completes all N rounds.

#include "parley/runtime/atoms.hpp"
#include "parley/runtime/child_spec.hpp"

#include <caf/actor_addr.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <atomic>
#include <cstdint>
#include <memory>

namespace parley::actors {

using runtime::crash_atom;
using runtime::ping_atom;
using runtime::play_atom;

/// What travels between Pinger and Ponger: the round it belongs to.
struct ball {
  uint64_t round = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ball& x) {
  return f(caf::meta::type_name("parley.ball"), x.round);
}

/// The outcome of one game.
struct game_result {
  uint64_t rounds = 0;
  /// How often the Ponger was lost mid-game (and a new one took over).
  uint64_t ponger_failures = 0;
  caf::timespan elapsed{0};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, game_result& x) {
  return f(caf::meta::type_name("parley.game_result"), x.rounds, x.ponger_failures,
           x.elapsed);
}

/// Returns every ball it gets.
using ponger_actor = caf::typed_actor<caf::replies_to<ping_atom, ball>::with<ball>>;

/// Plays a game of N rounds against the supervisor's current Ponger.
using pinger_actor = caf::typed_actor<caf::replies_to<play_atom, uint64_t>::with<game_result>>;

/// Makes the Ponger throw once, when it sees round `at` (0: never). Shared by
/// every incarnation so that a restarted Ponger does not crash again.
struct crash_plan {
  explicit crash_plan(uint64_t at_round) : at(at_round) {
    // nop
  }
  std::atomic<uint64_t> at;
};

/// Ponger: answers `ping(ball)` with the same ball.
ponger_actor::behavior_type ponger_impl(ponger_actor::pointer self,
                                        std::shared_ptr<crash_plan> plan);

/// State of the Pinger; runs only inside its actor.
class pinger_state {
public:
  using pointer = pinger_actor::stateful_pointer<pinger_state>;

  static inline const char* name = "parley.pinger";

  explicit pinger_state(pointer self) : self_(self) {
    // nop
  }

  void init(runtime::supervisor_actor supervisor, std::string ponger_id);

  /// Starts a game of `rounds` rounds; answered when the last ball is back.
  caf::result<game_result> play(uint64_t rounds);

private:
  /// Sends the next round's ball, or finishes the game.
  void serve();
  /// Asks the supervisor for the Ponger, which is not `lost`.
  void locate(caf::actor_addr lost);
  void finish(caf::expected<game_result> result);
  void on_down(const caf::down_msg& msg);

  pointer self_;
  /// Weak: the supervisor holds the Pinger, not the other way round.
  caf::actor_addr supervisor_;
  std::string ponger_id_;
  ponger_actor ponger_;
  uint64_t round_ = 0;
  uint64_t target_ = 0;
  uint64_t failures_ = 0;
  /// Consecutive lookups that found no live Ponger; bounded.
  uint32_t lookups_ = 0;
  caf::actor_clock::time_point started_;
  caf::typed_response_promise<game_result> promise_;
};

/// Pinger: plays games against the child `ponger_id` of `supervisor`.
pinger_actor::behavior_type pinger_impl(pinger_state::pointer self,
                                        runtime::supervisor_actor supervisor,
                                        std::string ponger_id);

/// Child specs for a game: the Ponger ("ponger"), then the Pinger ("pinger").
/// Put them under a one_for_one supervisor.
std::vector<runtime::child_spec> ping_pong_children(std::shared_ptr<crash_plan> plan);

/// Announces ball and game_result (for messages across nodes).
void announce_ping_pong(caf::actor_system_config& cfg);

} // namespace parley::actors
