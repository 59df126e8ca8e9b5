#pragma once

/// @file
/// gevent.event.AsyncResult as an actor: a value (or an error) delivered
/// later, once, to everyone who asks for it.
///
/// ```
///             set x / fail e
///  pending ────────────────────▶ done(x | e)
///  (gets park)                   (gets answer at once; set/fail refused)
/// ```
///
/// A `get` asked while pending is parked and answered when the value comes;
/// asked after, it is answered at once. A get with a timeout that passes
/// first is answered with `errc::timeout`. Unlike gevent, the result is set
/// once: a second `set` or `fail` is refused with `errc::invalid_argument`,
/// so everyone who ever asks sees the same answer.

#include "parley/gevent/atoms.hpp"
#include "parley/gevent/internal/waiters.hpp"
#include "parley/gevent/limits.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <cstdint>
#include <optional>

namespace caf {
class actor_system;
} // namespace caf

namespace parley::gevent {

using async_result_actor = caf::typed_actor<
  /// Sets the value (`AsyncResult.set`); answered with the number of waiters
  /// it woke.
  caf::replies_to<set_atom, int64_t>::with<uint64_t>,
  /// Sets an error instead (`AsyncResult.set_exception`); every get answers
  /// with it. An empty error is `errc::invalid_argument`.
  caf::replies_to<fail_atom, caf::error>::with<uint64_t>,
  /// Answered with the value (or the error) once there is one.
  caf::replies_to<get_atom>::with<int64_t>,
  /// As `get`, but `errc::timeout` if nothing came within the timeout (zero:
  /// at once, `get_nowait`); a negative timeout is `errc::invalid_argument`.
  caf::replies_to<get_atom, caf::timespan>::with<int64_t>,
  /// Answered with whether a value or an error is there (`ready()`).
  caf::replies_to<ready_atom>::with<bool>,
  /// Internal: the timeout of waiter `id` passed.
  caf::reacts_to<expire_atom, uint64_t>>;

/// The state of one async result; runs inside its actor.
class async_result_state {
public:
  using pointer = async_result_actor::stateful_pointer<async_result_state>;

  static inline const char* name = "parley.async_result";

  explicit async_result_state(pointer self) : self_(self) {
    // nop
  }

  void init(size_t max_waiters) {
    max_waiters_ = max_waiters;
  }

  caf::result<uint64_t> complete(caf::expected<int64_t> x);
  caf::result<int64_t> get(caf::timespan timeout, bool has_timeout);
  void expire(uint64_t id);

  bool ready() const {
    return result_.has_value();
  }

  size_t waiting() const {
    return waiters_.size();
  }

private:
  pointer self_;
  size_t max_waiters_ = default_max_waiters;
  std::optional<caf::expected<int64_t>> result_;
  uint64_t next_id_ = 1;
  /// Payload: the waiter's timeout, for the error's context.
  internal::waiter_queue<caf::typed_response_promise<int64_t>, caf::timespan> waiters_;
};

async_result_actor::behavior_type async_result_impl(async_result_state::pointer self,
                                                    size_t max_waiters);

/// Spawns an async result with nothing in it yet, parking at most
/// `max_waiters` gets (more: `errc::capacity_exceeded`).
async_result_actor spawn_async_result(caf::actor_system& sys,
                                      size_t max_waiters = default_max_waiters);

} // namespace parley::gevent
