#pragma once

/// @file
/// Requests parked inside an actor until it can answer them: the waiters of
/// an event, an async_result or a bounded_queue. Private to parley_gevent.

#include <caf/error.hpp>
#include <caf/timespan.hpp>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>

namespace parley::gevent::internal {

/// Waiters in arrival order, each with an id its deadline timer names and a
/// payload (the item a blocked `put` carries, the getter's address, ...).
/// Lives inside one actor's state and runs only on that actor.
template <class Promise, class Payload = bool>
class waiter_queue {
public:
  struct entry {
    uint64_t id;
    Promise promise;
    Payload payload;
  };

  void push(uint64_t id, Promise promise, Payload payload = {}) {
    entries_.push_back(entry{id, std::move(promise), std::move(payload)});
  }

  /// Removes the waiter `id`; nothing if it was served already.
  std::optional<entry> take(uint64_t id) {
    for (auto i = entries_.begin(); i != entries_.end(); ++i) {
      if (i->id == id) {
        auto result = std::move(*i);
        entries_.erase(i);
        return result;
      }
    }
    return std::nullopt;
  }

  /// Removes the oldest waiter.
  std::optional<entry> pop() {
    if (entries_.empty())
      return std::nullopt;
    auto result = std::move(entries_.front());
    entries_.pop_front();
    return result;
  }

  /// Removes every waiter, oldest first.
  std::deque<entry> take_all() {
    return std::exchange(entries_, {});
  }

  /// Removes the waiters whose payload satisfies `pred`.
  template <class Predicate>
  size_t erase_if(Predicate pred) {
    auto before = entries_.size();
    for (auto i = entries_.begin(); i != entries_.end();) {
      if (pred(i->payload))
        i = entries_.erase(i);
      else
        ++i;
    }
    return before - entries_.size();
  }

  bool empty() const {
    return entries_.empty();
  }

  size_t size() const {
    return entries_.size();
  }

private:
  std::deque<entry> entries_;
};

/// Refuses a negative wait: errc::invalid_argument naming `what`, or no error.
caf::error check_wait(caf::timespan timeout, const char* what);

/// Refuses to park one more request when `parked` reached `max`:
/// errc::capacity_exceeded naming `what`, or no error.
caf::error check_room(size_t parked, size_t max, const char* what);

} // namespace parley::gevent::internal
