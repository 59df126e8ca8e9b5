#pragma once

/// @file
/// gevent.event.Event as an actor: a flag that wakes everyone waiting for it.
///
/// ```
///            set                    clear
///  unset ──────────▶ set ─────────────────▶ unset
///  (waits park)      (waits answer at once)
/// ```
///
/// `wait` asked before `set` is parked and answered when the flag is set;
/// asked after, it is answered at once. A wait with a timeout that passes
/// first is answered with `errc::timeout` (gevent's `Event.wait(timeout)`
/// returns False instead; an error keeps one error path for callers).

#include "parley/gevent/atoms.hpp"
#include "parley/gevent/internal/waiters.hpp"
#include "parley/gevent/limits.hpp"

#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <cstdint>

namespace caf {
class actor_system;
} // namespace caf

namespace parley::gevent {

using event_actor = caf::typed_actor<
  /// Sets the flag; answered with the number of waiters it woke.
  caf::replies_to<set_atom>::with<uint64_t>,
  /// Clears the flag; answered with whether it was set.
  caf::replies_to<clear_atom>::with<bool>,
  /// Answered with `true` once the flag is set.
  caf::replies_to<wait_atom>::with<bool>,
  /// As `wait`, but `errc::timeout` if the flag is still unset after the
  /// timeout (zero: at once); a negative timeout is `errc::invalid_argument`.
  caf::replies_to<wait_atom, caf::timespan>::with<bool>,
  /// Answered with whether the flag is set (`Event.is_set()`).
  caf::replies_to<ready_atom>::with<bool>,
  /// Internal: the timeout of waiter `id` passed.
  caf::reacts_to<expire_atom, uint64_t>>;

/// The state of one event; runs inside the event actor. Handlers call these
/// member functions, so tests can too.
class event_state {
public:
  using pointer = event_actor::stateful_pointer<event_state>;

  static inline const char* name = "parley.event";

  explicit event_state(pointer self) : self_(self) {
    // nop
  }

  void init(size_t max_waiters) {
    max_waiters_ = max_waiters;
  }

  uint64_t set();
  bool clear();
  caf::result<bool> wait(caf::timespan timeout, bool has_timeout);
  void expire(uint64_t id);

  bool is_set() const {
    return flag_;
  }

  size_t waiting() const {
    return waiters_.size();
  }

private:
  pointer self_;
  size_t max_waiters_ = default_max_waiters;
  bool flag_ = false;
  uint64_t next_id_ = 1;
  /// Payload: the waiter's timeout, for the error's context.
  internal::waiter_queue<caf::typed_response_promise<bool>, caf::timespan> waiters_;
};

event_actor::behavior_type event_impl(event_state::pointer self, size_t max_waiters);

/// Spawns an event whose flag is unset, parking at most `max_waiters` waits
/// (more: `errc::capacity_exceeded`).
event_actor spawn_event(caf::actor_system& sys, size_t max_waiters = default_max_waiters);

} // namespace parley::gevent
