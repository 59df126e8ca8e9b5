// gevent.Timeout: a request to a slow actor, once with too short a deadline
// and once with enough time.
//
//   with gevent.Timeout(0.1):
//       gevent.sleep(0.3)      # -> Timeout

#include "parley/gevent/timeout.hpp"
#include "parley/runtime/node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <iostream>

using namespace parley::gevent;
using namespace std::chrono_literals;

int main() {
  caf::actor_system_config cfg;
  parley::runtime::announce_runtime(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto sleeper = spawn_sleeper(sys);

  // Ask for a 300ms sleep but wait only 100ms. CAF ends the request with
  // sec::request_timeout; map_timeout says what timed out and when.
  caf::timespan deadline = 100ms;
  caf::error slow;
  self->request(sleeper, deadline, sleep_atom::value, caf::timespan{300ms}, int64_t{1})
    .receive([&](int64_t x) { std::cout << "slow request: got " << x << "?\n"; },
             [&](caf::error& err) {
               std::cout << "slow request: CAF says " << sys.render(err) << "\n";
               slow = map_timeout(std::move(err), "sleep of 300ms", deadline);
               std::cout << "slow request: Parley says " << sys.render(slow) << "\n";
             });

  // Ask for a 50ms sleep and wait up to 500ms: the answer comes in time.
  int64_t fast = 0;
  self->request(sleeper, 500ms, sleep_atom::value, caf::timespan{50ms}, int64_t{2})
    .receive([&](int64_t x) { fast = x; },
             [&](caf::error& err) { std::cout << "fast request: " << sys.render(err) << "\n"; });
  std::cout << "fast request: got " << fast << "\n";

  if (!parley::runtime::is(slow, parley::runtime::errc::timeout) || fast != 2)
    return 1;
  std::cout << "timeout example: OK\n";
}
