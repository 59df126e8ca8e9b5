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

#include <string>
#include <string_view>
#include <vector>

namespace caf {
class actor_system_config;
}

namespace parley::runtime {

/// The policies a node accepts, the default first.
const std::vector<std::string>& scheduler_policies();

/// Makes `cfg` start the scheduler named `policy` (one of
/// scheduler_policies()). For CAF's own it sets `scheduler.policy`; for
/// `affinity` it adds the coordinator as a module, which CAF takes instead
/// of building one.
void use_scheduler(caf::actor_system_config& cfg, std::string_view policy);

} // namespace parley::runtime
