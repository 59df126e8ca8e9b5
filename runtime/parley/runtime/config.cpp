#include "parley/runtime/config.hpp"

#include "parley/runtime/log.hpp"
#include "parley/runtime/scheduler.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <thread>

namespace parley::runtime {

size_t node_config::scheduler_threads() const {
  if (threads > 0)
    return threads;
  // CAF would default to max(4, cores); on 2 cores, 2 workers measured as
  // fast or faster (see docs/benchmarks.md).
  return std::max(1u, std::thread::hardware_concurrency());
}

void add_node_options(CLI::App& app, node_config& cfg) {
  // Read by parse_command_line (command_line.cpp), after the flags and the
  // environment, which win over it.
  app.add_option("--config", "Read settings from this TOML file (flags and the environment win "
                             "over it)")
    ->type_name("FILE");
  app.add_option("--name", cfg.name, "Node name, used in logs")
    ->envname("PARLEY_NAME")
    ->check([](const std::string& s) -> std::string {
      if (s.empty() || s.size() > 64)
        return "must be 1 to 64 characters";
      return {};
    })
    ->capture_default_str();
  app.add_option("--threads", cfg.threads, "Scheduler threads (0 = one per core)")
    ->envname("PARLEY_THREADS")
    ->check(CLI::Range(0, 1024))
    ->capture_default_str();
  app.add_option("--scheduler", cfg.scheduler,
                 "Scheduler policy: affinity (Parley's), sharing or stealing (CAF's)")
    ->envname("PARLEY_SCHEDULER")
    ->check(CLI::IsMember(scheduler_policies()))
    ->capture_default_str();
  app.add_option("--log-level", cfg.log_level, "trace, debug, info, warn, error or off")
    ->envname("PARLEY_LOG_LEVEL")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
    ->capture_default_str();
}

} // namespace parley::runtime
