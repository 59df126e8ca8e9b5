// gevent's spawn/joinall: three tasks, one wins, one fails, one is too slow.
//
//   winner = gevent.spawn(win); loser = gevent.spawn(fail)
//   gevent.joinall([winner, loser], timeout=...)
//   winner.value, loser.exception, loser.successful()

#include "parley/gevent/join_all.hpp"
#include "parley/runtime/node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <iostream>
#include <stdexcept>

using namespace parley::gevent;
using namespace std::chrono_literals;

int main() {
  caf::actor_system_config cfg;
  parley::runtime::announce_runtime(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  task_list tasks{
    spawn_task(sys, [] { return 42; }),
    spawn_task(sys, []() -> caf::expected<int64_t> {
      throw std::runtime_error("You fail at failing.");
    }),
    spawn_task(sys, [] { return 7; }, 300ms), // sleeps past the deadline
  };
  auto joiner = spawn_joiner(sys);
  outcome_list outcomes;
  self->request(joiner, caf::infinite, join_atom::value, tasks, caf::timespan{100ms})
    .receive([&](outcome_list& xs) { outcomes = std::move(xs); },
             [&](caf::error& err) { std::cout << "join failed: " << sys.render(err) << "\n"; });

  size_t ok = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    auto& x = outcomes[i];
    if (x.successful()) {
      ++ok;
      std::cout << "task " << i << ": successful, value " << x.value << "\n";
    } else {
      std::cout << "task " << i << ": failed, " << sys.render(x.error) << "\n";
    }
  }
  bool as_expected = outcomes.size() == 3 && ok == 1 && outcomes[0].value == 42
                     && outcomes[1].error == caf::sec::runtime_error
                     && is_timeout(outcomes[2].error);
  std::cout << ok << " of " << outcomes.size() << " tasks succeeded\n";
  if (!as_expected)
    return 1;
  std::cout << "joinall example: OK\n";
}
