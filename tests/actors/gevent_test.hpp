#pragma once

/// @file
/// The fixture of the gevent primitives' tests: `actor_test` plus ways to
/// collect replies that arrive later, after `run()` or `advance_time()`.
/// Requests go out with `self->send`: on the test scheduler a blocking
/// `request(...).receive(...)` would wait for a reply nothing produces.

#include "parley/runtime/errc.hpp"
#include "support/actor_test.hpp"

#include <caf/after.hpp>
#include <caf/exit_reason.hpp>
#include <caf/expected.hpp>
#include <caf/system_messages.hpp>
#include <caf/timespan.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <vector>

namespace parley::test {

/// `n` milliseconds as the `caf::timespan` that typed interfaces expect.
inline caf::timespan ms(int64_t n) {
  return std::chrono::milliseconds(n);
}

class gevent_test : public actor_test {
protected:
  /// The next reply of type T (or error) already in the mailbox, if any.
  template <class T>
  std::optional<caf::expected<T>> reply() {
    std::optional<caf::expected<T>> result;
    self->receive([&](T& x) { result = caf::expected<T>{std::move(x)}; },
                  [&](caf::error& err) { result = caf::expected<T>{std::move(err)}; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return result;
  }

  /// Every reply of type T (or error) already in the mailbox, in order.
  template <class T>
  std::vector<caf::expected<T>> replies() {
    std::vector<caf::expected<T>> result;
    while (auto x = reply<T>())
      result.push_back(std::move(*x));
    return result;
  }

  /// Every down message already in the mailbox, by source.
  std::map<caf::actor_addr, caf::error> downs() {
    std::map<caf::actor_addr, caf::error> result;
    bool more = true;
    while (more) {
      more = false;
      self->receive([&](caf::down_msg& msg) { result[msg.source] = msg.reason; more = true; },
                    caf::after(std::chrono::seconds(0)) >> [] {});
    }
    return result;
  }

  /// Kills `x` and runs: an actor with parked requests holds response
  /// promises that keep it alive, and the actor system would wait for it
  /// forever at the end of the test.
  template <class Handle>
  void kill(const Handle& x) {
    self->send_exit(x, caf::exit_reason::kill);
    run();
  }

  /// True if `x` failed with `code`.
  template <class T>
  static bool failed_with(const caf::expected<T>& x, runtime::errc code) {
    return !x && runtime::is(x.error(), code);
  }
};

} // namespace parley::test
