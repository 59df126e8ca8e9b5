// gevent.pool.Group: four actors stopped together; one ignores the request
// to exit and is killed after the group's shutdown timeout.
//
//   group = Group(); group.add(g) ...; group.kill()

#include "parley/gevent/group.hpp"
#include "parley/runtime/node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/system_messages.hpp>

#include <chrono>
#include <iostream>
#include <map>

using namespace parley::gevent;
using namespace std::chrono_literals;

caf::behavior member(caf::event_based_actor* self, int id) {
  return {[](stop_atom) {}};
}

// Ignores exit requests; only `kill` ends it.
caf::behavior stubborn(caf::event_based_actor* self, int id) {
  self->set_exit_handler([](caf::exit_msg&) {});
  return {[](stop_atom) {}};
}

int main() {
  caf::actor_system_config cfg;
  parley::runtime::announce_runtime(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  auto group = *spawn_group(sys, 200ms);
  std::map<caf::actor_addr, int> ids;
  for (int id = 1; id <= 4; ++id) {
    auto x = id == 4 ? sys.spawn(stubborn, id) : sys.spawn(member, id);
    ids[x.address()] = id;
    self->monitor(x);
    self->request(group, caf::infinite, add_atom::value, x)
      .receive([&](uint64_t n) { std::cout << "added member " << id << ", group size " << n << "\n"; },
               [&](caf::error& err) { std::cout << "add: " << sys.render(err) << "\n"; });
  }

  uint64_t stopped = 0;
  auto start = std::chrono::steady_clock::now();
  self->request(group, caf::infinite, stop_atom::value)
    .receive([&](uint64_t n) { stopped = n; },
             [&](caf::error& err) { std::cout << "stop: " << sys.render(err) << "\n"; });
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - start);
  std::cout << "stop answered after about " << (took >= 200ms ? "200" : "<200")
            << "ms: " << stopped << " members stopped\n";

  int downs = 0;
  bool ok = stopped == 4;
  self->receive_for(downs, 4)([&](caf::down_msg& msg) {
    auto id = ids[msg.source];
    std::cout << "member " << id << " down: " << sys.render(msg.reason) << "\n";
    auto expected = id == 4 ? caf::exit_reason::kill : caf::exit_reason::user_shutdown;
    ok = ok && msg.reason == expected;
  });
  if (!ok)
    return 1;
  std::cout << "group example: OK\n";
}
