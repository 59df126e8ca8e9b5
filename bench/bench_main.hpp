#pragma once

// The main() of Parley's benchmark programs: one actor system for the whole
// run, configured like a node (a worker per core, the node's scheduler
// policy unless PARLEY_SCHEDULER says otherwise), created and destroyed in
// main() rather than as a static so it stops before the libraries it uses.

#include "parley/runtime/config.hpp"
#include "parley/runtime/node.hpp"
#include "parley/runtime/scheduler.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <functional>

namespace parley::bench {

inline caf::actor_system* the_system = nullptr;

inline caf::actor_system& system() {
  return *the_system;
}

inline int run(int argc, char** argv,
               const std::function<void(caf::actor_system_config&)>& announce = {}) {
  runtime::node_config node;
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", node.scheduler_threads());
  auto* policy = std::getenv("PARLEY_SCHEDULER");
  runtime::use_scheduler(cfg, policy ? policy : node.scheduler);
  runtime::announce_runtime(cfg);
  if (announce)
    announce(cfg);
  caf::actor_system sys{cfg};
  the_system = &sys;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  the_system = nullptr;
  return 0;
}

} // namespace parley::bench
