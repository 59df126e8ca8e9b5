// gevent.queue.Queue(maxsize=3): a boss puts ten tasks, three workers take
// them. The boss's put is answered only when there is room, so it never
// runs more than three tasks ahead; a worker quits when no task came within
// 200ms.
//
//   tasks = Queue(maxsize=3)
//   def worker(name): task = tasks.get(timeout=0.2) ...
//   def boss(): for i in range(1, 11): tasks.put(i)

#include "parley/gevent/bounded_queue.hpp"
#include "parley/gevent/timeout.hpp"
#include "parley/runtime/node.hpp"
#include "../say.hpp"

#include <caf/send.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <iostream>
#include <string>

using namespace parley::gevent;
using namespace std::chrono_literals;

// Takes tasks, spending 20ms on each, until none comes within 200ms; then
// reports how many it did.
caf::behavior worker(caf::event_based_actor* self, std::string name, bounded_queue_actor tasks,
                     caf::actor main) {
  auto done = std::make_shared<int64_t>(0);
  self->send(self, parley::runtime::run_atom::value);
  return {
    [=](parley::runtime::run_atom) {
      self->request(tasks, caf::infinite, get_atom::value, caf::timespan{200ms})
        .then(
          [=](std::string& task) {
            parley::examples::say("worker ", name, " got task ", task);
            ++*done;
            self->delayed_send(self, 20ms, parley::runtime::run_atom::value);
          },
          [=](caf::error& err) {
            parley::examples::say("worker ", name, " quits: ", self->system().render(err));
            self->send(main, *done);
            self->quit();
          });
    },
  };
}

int main() {
  caf::actor_system_config cfg;
  parley::runtime::announce_runtime(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto me = caf::actor_cast<caf::actor>(self);

  auto zero = spawn_bounded_queue(sys, 0);
  parley::examples::say("capacity 0: ", sys.render(zero.error()));

  auto tasks = *spawn_bounded_queue(sys, 3);
  for (auto name : {"steve", "john", "nancy"})
    sys.spawn(worker, std::string{name}, tasks, me);

  // The boss: each put waits for its answer before the next one.
  bool ok = true;
  for (int i = 1; i <= 10; ++i) {
    self->request(tasks, caf::infinite, put_atom::value, std::to_string(i))
      .receive(
        [&](uint64_t queued) {
          parley::examples::say("boss: put task ", i, ", queue holds ", queued);
          ok = ok && queued <= 3;
        },
               [&](caf::error& err) {
                 parley::examples::say("put failed: ", sys.render(err));
                 ok = false;
               });
  }
  parley::examples::say("boss: all ten tasks put, never more than 3 queued");

  int64_t total = 0;
  int reports = 0;
  self->receive_for(reports, 3)([&](int64_t n) { total += n; });
  parley::examples::say("workers did ", total, " tasks");
  if (!ok || total != 10)
    return 1;
  parley::examples::say("bounded_queue example: OK");
}
