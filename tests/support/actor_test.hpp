#pragma once

/// @file
/// A GoogleTest fixture that runs CAF on its deterministic test scheduler:
/// nothing happens until a test calls `run()`, and time moves only through
/// `advance_time()`. Receives are guarded by `after(0s)`, so a reply that was
/// never produced fails the test instead of hanging it.

#include "parley/runtime/node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/system_messages.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

namespace parley::test {

/// Actor system configuration for deterministic tests.
struct test_config : caf::actor_system_config {
  test_config() {
    set("scheduler.policy", caf::atom("testing"));
    runtime::announce_runtime(*this);
  }
};

class actor_test : public ::testing::Test {
protected:
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  caf::scoped_actor self{sys};

  /// Lets actors that the test dropped (or that were told to stop) finish,
  /// so the actor system's destructor does not wait for them forever. Pending
  /// timers hold their receivers alive, so they fire too.
  ~actor_test() override {
    for (int i = 0; i < 1000; ++i) {
      sched.run();
      if (sched.trigger_timeouts() == 0)
        break;
    }
    sched.run();
  }

  /// Runs every actor until no message is left.
  void run() {
    sched.run();
  }

  /// Moves the clock, fires due timeouts, runs what they caused.
  void advance_time(caf::timespan d) {
    sched.advance_time(d);
    sched.run();
  }

  /// Sends `xs` from `self`, runs, and takes the reply of type T (or the error).
  template <class T, class Handle, class... Ts>
  caf::expected<T> ask(const Handle& dest, Ts&&... xs) {
    self->send(dest, std::forward<Ts>(xs)...);
    run();
    caf::expected<T> result{caf::make_error(caf::sec::request_timeout, "no reply")};
    self->receive([&](T& x) { result = std::move(x); },
                  [&](caf::error& err) { result = std::move(err); },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return result;
  }

  /// The exit reason of `x`, which the test monitored beforehand; nothing if
  /// it is still alive after running everything.
  std::optional<caf::error> down_reason(const caf::actor_addr& x) {
    run();
    std::optional<caf::error> result;
    bool again = true;
    while (again && !result) {
      again = false;
      self->receive(
        [&](caf::down_msg& msg) {
          if (msg.source == x)
            result = std::move(msg.reason);
          else
            again = true;
        },
        caf::after(std::chrono::seconds(0)) >> [] {});
    }
    return result;
  }

  std::string render(const caf::error& err) {
    return sys.render(err);
  }
};

} // namespace parley::test
