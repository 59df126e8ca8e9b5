#pragma once

/// @file
/// gevent.Timeout for actors: a request that takes too long ends with
/// `errc::timeout`, and `sleeper_actor` is the slow actor to try it on
/// (`gevent.sleep` inside a greenlet).
///
/// CAF ends a request whose deadline passed with its own
/// `sec::request_timeout`, which says neither what timed out nor after how
/// long. `map_timeout` turns it into `errc::timeout` with that context, so
/// callers test one code (`runtime::is(err, errc::timeout)`) wherever the
/// deadline was kept: by CAF at the caller, or by the actor that was asked
/// (an event's `wait`, a queue's `get`).
///
/// A deadline kept at the caller does not cancel the work: the slow actor
/// still answers, and CAF drops the late answer. Where a late answer would
/// lose data (an item taken from a queue), the actor keeps the deadline
/// itself: see `bounded_queue`.

#include "parley/gevent/atoms.hpp"
#include "parley/gevent/limits.hpp"
#include "parley/runtime/errc.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/replies_to.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cstdint>
#include <string>
#include <utility>

namespace caf {
class actor_system;
} // namespace caf

namespace parley::gevent {

// -- errors -----------------------------------------------------------------------

/// Renders a duration for people: "1500ms", "2s", "250us", "7ns".
std::string to_text(caf::timespan x);

/// The error of something that did not complete in time: `errc::timeout`
/// with the context "<what> did not complete within <deadline>".
caf::error timeout_error(const std::string& what, caf::timespan deadline);

/// Turns CAF's `sec::request_timeout` into `timeout_error(what, deadline)`;
/// returns any other error unchanged.
caf::error map_timeout(caf::error err, const std::string& what, caf::timespan deadline);

/// True for `errc::timeout` and for CAF's `sec::request_timeout`.
bool is_timeout(const caf::error& err);

// -- a request with a deadline ----------------------------------------------------

/// Sends `xs...` to `dest` as a request from the event-based actor `self`
/// and calls `f` with the reply as `caf::expected<Reply>`: the value, or the
/// error, where a missed `deadline` is `timeout_error(what, deadline)`.
/// `deadline` must be positive.
template <class Reply, class Self, class Handle, class F, class... Ts>
void request_within(Self* self, const Handle& dest, caf::timespan deadline, std::string what,
                    F f, Ts&&... xs) {
  self->request(dest, deadline, std::forward<Ts>(xs)...)
    .then([f](Reply& x) mutable { f(caf::expected<Reply>{std::move(x)}); },
          [f, what, deadline](caf::error& err) mutable {
            f(caf::expected<Reply>{map_timeout(std::move(err), what, deadline)});
          });
}

// -- the slow actor -----------------------------------------------------------------

/// Answers `sleep d x` with `x` after `d` (a negative `d` is
/// `errc::invalid_argument`), without blocking: it serves other
/// requests meanwhile, as a greenlet in `gevent.sleep(d)` lets others run.
using sleeper_actor
  = caf::typed_actor<caf::replies_to<sleep_atom, caf::timespan, int64_t>::with<int64_t>,
                     /// Internal: the sleep of request `id` is over.
                     caf::reacts_to<expire_atom, uint64_t>>;

/// The state of one sleeper: the requests still sleeping. Runs only inside
/// the sleeper actor.
class sleeper_state {
public:
  using pointer = sleeper_actor::stateful_pointer<sleeper_state>;

  static inline const char* name = "parley.sleeper";

  explicit sleeper_state(pointer self) : self_(self) {
    // nop
  }

  void init(size_t max_waiters) {
    max_waiters_ = max_waiters;
  }

  /// Answers `x` after `d`.
  caf::result<int64_t> sleep(caf::timespan d, int64_t x);

  /// The sleep of request `id` is over.
  void expire(uint64_t id);

private:
  pointer self_;
  size_t max_waiters_ = default_max_waiters;
  uint64_t next_id_ = 1;
  std::vector<std::tuple<uint64_t, int64_t, caf::typed_response_promise<int64_t>>> sleeping_;
};

sleeper_actor::behavior_type sleeper_impl(sleeper_state::pointer self, size_t max_waiters);

/// Spawns a sleeper that lets at most `max_waiters` requests sleep at once
/// (more: `errc::capacity_exceeded`).
sleeper_actor spawn_sleeper(caf::actor_system& sys, size_t max_waiters = default_max_waiters);

} // namespace parley::gevent
