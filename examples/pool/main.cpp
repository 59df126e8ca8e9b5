// gevent.pool.Pool(3): square eight numbers, at most three at a time; once
// with map (results in input order), once with imap_unordered (each result
// as soon as it is ready).
//
//   pool = Pool(3)
//   pool.map(square, range(1, 9))
//   for x in pool.imap_unordered(square, range(1, 9)): ...

#include "parley/gevent/pool.hpp"
#include "parley/runtime/node.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>

using namespace parley::gevent;
using namespace std::chrono_literals;

int main() {
  caf::actor_system_config cfg;
  parley::runtime::announce_runtime(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  std::cout << "size 0: " << sys.render(spawn_pool(sys, {0}, {}).error()) << "\n";

  // Each task squares its input after (9 - x) * 10ms, so later inputs finish
  // first; the counters see how many run at once.
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  auto square = [&](caf::actor_system& sys, int64_t x) {
    auto now = ++running;
    auto seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    return spawn_task(
      sys,
      [&running, x] {
        --running;
        return x * x;
      },
      (9 - x) * 10ms);
  };
  auto pool = *spawn_pool(sys, {3}, square);
  std::vector<int64_t> inputs{1, 2, 3, 4, 5, 6, 7, 8};

  std::vector<int64_t> squares;
  self->request(pool, caf::infinite, map_atom::value, inputs)
    .receive([&](std::vector<int64_t>& xs) { squares = std::move(xs); },
             [&](caf::error& err) { std::cout << "map: " << sys.render(err) << "\n"; });
  std::cout << "map:";
  for (auto x : squares)
    std::cout << " " << x;
  std::cout << "\n";

  // imap_unordered: this actor is the sink; the count comes after the last
  // result.
  self->send(pool, imap_atom::value, inputs, caf::actor_cast<result_sink>(self));
  std::cout << "imap_unordered:";
  bool done = false;
  std::vector<int64_t> unordered;
  while (!done) {
    self->receive(
      [&](result_atom, uint64_t index, outcome& x) {
        unordered.push_back(x.value);
        std::cout << " " << x.value << std::flush;
      },
      [&](uint64_t n) { done = true; },
      [&](caf::error& err) {
        std::cout << " error " << sys.render(err);
        done = true;
      });
  }
  std::cout << "\n";
  std::cout << "peak concurrency: " << peak << " (pool size 3)\n";

  auto sorted = unordered;
  std::sort(sorted.begin(), sorted.end());
  bool ok = squares == std::vector<int64_t>{1, 4, 9, 16, 25, 36, 49, 64} && sorted == squares
            && peak == 3;
  if (!ok)
    return 1;
  std::cout << "pool example: OK\n";
}
