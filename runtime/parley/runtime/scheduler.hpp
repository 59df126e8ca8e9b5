#pragma once

// Which scheduler runs a node's actors.
//
// CAF 0.17 ships two policies, and neither wins both of a chat server's
// workloads (docs/benchmarks.md, "Scheduler policy"): `sharing` (one locked
// queue) bounces every request/reply pair between threads, and `stealing`
// makes a fan-out quadratic because its steal walks the victim's queue.
// `affinity` is Parley's own (scheduler.cpp): per-worker queues, the actor a
// worker's actor just woke runs next on that worker, idle workers steal
// half a queue at once and spin briefly before they sleep.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

namespace parley::runtime {

/// The policies a node accepts, the default first.
const std::vector<std::string>& scheduler_policies();

/// Makes `cfg` start the scheduler named `policy` (one of
/// scheduler_policies()). For CAF's own it sets `scheduler.policy`; for
/// `affinity` it adds the coordinator as a module, which CAF takes instead
/// of building one.
void use_scheduler(caf::actor_system_config& cfg, std::string_view policy);

/// A thread of the program's own, an I/O loop, made a place where actors
/// run: an actor that an actor or a send on this thread wakes is queued
/// here, and runs when the thread calls run(). A request that arrives on a
/// socket then reaches its actor, and the actor's answer reaches the socket,
/// without crossing to another thread and back. Idle scheduler workers take
/// over half of a host's queue when it falls behind (8 or more waiting).
/// Made, used and destroyed on one thread; what is still queued when it is
/// destroyed moves to the scheduler's workers.
class actor_host {
public:
  virtual ~actor_host();
  /// Whether actors wait to run here.
  virtual bool pending() const noexcept = 0;
  /// Runs up to `budget` waiting actors, each until its mailbox is empty
  /// (or the scheduler's throughput limit). Asks for another run if some
  /// still wait.
  virtual void run(size_t budget) = 0;
};

/// Makes the calling thread an actor host of `sys`. `request_run` is called
/// on this thread when actors start waiting here, once until the next run():
/// it should arrange for run() to be called soon, on this thread (an I/O
/// loop posts it). Returns nullptr when `sys` does not run the `affinity`
/// scheduler, when the thread already is a host or a worker, or when 16
/// hosts are in use.
std::unique_ptr<actor_host> host_actors(caf::actor_system& sys, std::function<void()> request_run);

} // namespace parley::runtime
