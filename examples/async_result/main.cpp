// gevent.event: an Event that wakes three waiters, and an AsyncResult whose
// value reaches waiters who asked before and after it was set.
//
//   evt = Event(); evt.wait() ... evt.set()
//   a = AsyncResult(); a.get() ... a.set('Hello!'); a.get(timeout=...)

#include "parley/gevent/async_result.hpp"
#include "parley/gevent/event.hpp"
#include "parley/runtime/node.hpp"
#include "../say.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <iostream>
#include <thread>

using namespace parley::gevent;
using namespace std::chrono_literals;

// Waits for the event, then tells `main` it woke.
caf::behavior waiter(caf::event_based_actor* self, int id, event_actor evt, caf::actor main) {
  parley::examples::say("waiter ", id, ": I'll wait for you");
  self->request(evt, caf::infinite, wait_atom::value).then([=](bool) {
    parley::examples::say("waiter ", id, ": it's about time");
    self->send(main, id);
    self->quit();
  });
  return {[](stop_atom) {}};
}

// Gets the result, then passes the value on to `main`.
caf::behavior getter(caf::event_based_actor* self, int id, async_result_actor result,
                     caf::actor main) {
  self->request(result, caf::infinite, get_atom::value).then([=](int64_t x) {
    self->send(main, id, x);
    self->quit();
  });
  return {[](stop_atom) {}};
}

int main() {
  caf::actor_system_config cfg;
  parley::runtime::announce_runtime(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto me = caf::actor_cast<caf::actor>(self);
  bool ok = true;

  // -- Event ----------------------------------------------------------------------
  auto evt = spawn_event(sys);
  for (int id = 1; id <= 3; ++id)
    sys.spawn(waiter, id, evt, me);
  // Give the waiters time to park, as gevent.sleep would; they would get
  // the flag at once if they came later, so the output is the same.
  std::this_thread::sleep_for(50ms);
  self->request(evt, caf::infinite, set_atom::value).receive(
    [&](uint64_t woken) {
      parley::examples::say("setter: I'm done, set woke ", woken, " waiters");
    },
    [&](caf::error&) { ok = false; });
  int woke = 0;
  self->receive_for(woke, 3)([](int) {});
  ok = ok && woke == 3;

  // -- AsyncResult ------------------------------------------------------------------
  auto result = spawn_async_result(sys);
  sys.spawn(getter, 1, result, me); // asks before the value is set
  self->request(result, caf::infinite, get_atom::value, caf::timespan{50ms})
    .receive([&](int64_t) { ok = false; },
             [&](caf::error& err) { parley::examples::say("impatient get: ", sys.render(err)); });
  self->request(result, caf::infinite, set_atom::value, int64_t{2024}).receive(
    [](uint64_t) {}, [&](caf::error&) { ok = false; });
  sys.spawn(getter, 2, result, me); // asks after: answered at once
  int got = 0;
  self->receive_for(got, 2)([&](int id, int64_t x) {
    parley::examples::say("getter ", id, ": got ", x);
    ok = ok && x == 2024;
  });
  if (!ok)
    return 1;
  parley::examples::say("async_result example: OK");
}
