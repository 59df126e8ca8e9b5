#pragma once

/// @file
/// gevent.queue.Queue(maxsize) as an actor: a bounded FIFO between
/// producers and consumers, where a full queue makes producers wait.
///
/// Backpressure is in the reply: `put` is answered only once the item is
/// in the queue (or handed to a waiting consumer). A producer that waits for
/// that answer before its next put cannot run ahead of its consumers by more
/// than the capacity. Blocked puts and gets are parked in arrival order and
/// served first come, first served.
///
/// The queue keeps the deadline of a `get` itself (`get d`) instead of
/// leaving it to a request timeout at the caller: a caller that gave up
/// would leave a parked get behind, and the item later handed to it would be
/// lost. For the same reason the queue monitors parked consumers and forgets
/// the gets of one that ended.

#include "parley/gevent/atoms.hpp"
#include "parley/gevent/internal/waiters.hpp"
#include "parley/gevent/limits.hpp"

#include <caf/actor_addr.hpp>
#include <caf/expected.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

namespace caf {
class actor_system;
struct down_msg;
} // namespace caf

namespace parley::gevent {

using bounded_queue_actor = caf::typed_actor<
  /// Puts an item, waiting as long as it takes for room; answered with the
  /// number of items queued after it.
  caf::replies_to<put_atom, std::string>::with<uint64_t>,
  /// As `put`, but `errc::timeout` (and the item is not queued) if there was
  /// no room within the timeout. Zero is `put_nowait`: a full queue answers
  /// `errc::capacity_exceeded` at once.
  caf::replies_to<put_atom, std::string, caf::timespan>::with<uint64_t>,
  /// Takes the oldest item, waiting as long as it takes for one.
  caf::replies_to<get_atom>::with<std::string>,
  /// As `get`, but `errc::timeout` if no item came within the timeout (zero:
  /// at once, `get_nowait`).
  caf::replies_to<get_atom, caf::timespan>::with<std::string>,
  /// Answered with the number of items queued (`qsize()`).
  caf::replies_to<size_atom>::with<uint64_t>,
  /// Internal: the timeout of the parked put or get `id` passed.
  caf::reacts_to<expire_atom, uint64_t>>;

/// The state of one bounded queue; runs inside the queue actor.
///
/// Invariants: items are parked only while the queue is full, and getters
/// only while it is empty, so at most one of the two lists is non-empty.
class bounded_queue_state {
public:
  using pointer = bounded_queue_actor::stateful_pointer<bounded_queue_state>;
  using item = std::string;

  static inline const char* name = "parley.bounded_queue";

  explicit bounded_queue_state(pointer self) : self_(self) {
    // nop
  }

  /// Fails parked requests with `sec::request_receiver_down`: the queue
  /// ended (it was stopped) before it could answer them.
  ~bounded_queue_state();

  void init(size_t capacity, size_t max_waiters) {
    capacity_ = capacity;
    max_waiters_ = max_waiters;
  }

  caf::result<uint64_t> put(item x, caf::timespan timeout, bool has_timeout);
  caf::result<item> get(caf::timespan timeout, bool has_timeout);
  void expire(uint64_t id);
  void on_down(const caf::down_msg& msg);

  size_t size() const {
    return items_.size();
  }

  size_t parked_puts() const {
    return putters_.size();
  }

  size_t parked_gets() const {
    return getters_.size();
  }

private:
  struct put_waiter {
    item x;
    caf::timespan timeout;
  };

  struct get_waiter {
    caf::actor_addr source;
    caf::timespan timeout;
  };

  void watch(const caf::actor_addr& x);
  void unwatch(const caf::actor_addr& x);

  pointer self_;
  size_t capacity_ = 0;
  size_t max_waiters_ = default_max_waiters;
  std::deque<item> items_;
  uint64_t next_id_ = 1;
  internal::waiter_queue<caf::typed_response_promise<uint64_t>, put_waiter> putters_;
  internal::waiter_queue<caf::typed_response_promise<item>, get_waiter> getters_;
  /// Parked gets per consumer we monitor.
  std::unordered_map<caf::actor_addr, size_t> watched_;
};

bounded_queue_actor::behavior_type bounded_queue_impl(bounded_queue_state::pointer self,
                                                      size_t capacity, size_t max_waiters);

/// Spawns a queue holding at most `capacity` items, parking at most
/// `max_waiters` puts and as many gets (more: `errc::capacity_exceeded`). A
/// capacity or limit of 0 is refused with `errc::invalid_argument`
/// (gevent's maxsize=0 rendezvous channel is not offered).
caf::expected<bounded_queue_actor> spawn_bounded_queue(caf::actor_system& sys, size_t capacity,
                                                       size_t max_waiters = default_max_waiters);

} // namespace parley::gevent
