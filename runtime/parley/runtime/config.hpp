#pragma once

/// @file
/// A node's settings, read strictly from the command line, the environment
/// and a config file.
///
/// CAF's own config silently ignores a value of the wrong type, so it is not
/// the last word here: options go through CLI11 (a Debian package), which
/// refuses unknown keys and bad values. A bad flag or value prints one line
/// and the program exits with status 2.

#include "parley/runtime/command_line.hpp"

#include <cstddef>
#include <optional>
#include <string>

namespace CLI {
class App;
} // namespace CLI

namespace parley::runtime {

/// Settings every Parley program shares.
struct node_config {
  /// Name of this node in logs (and later in the cluster).
  std::string name = "parley";
  /// CAF scheduler worker threads; 0 means one per core.
  size_t threads = 0;
  /// trace, debug, info, warn, error or off.
  std::string log_level = "info";
  /// Scheduler policy: "affinity" (Parley's own, scheduler.hpp), or CAF's
  /// "sharing" (one shared queue) or "stealing" (work stealing).
  std::string scheduler = "affinity";

  /// `threads`, with 0 resolved to the number of cores.
  size_t scheduler_threads() const;
};

/// Adds the node options to `app`: --name, --threads, --log-level, --scheduler
/// (each also from PARLEY_NAME, PARLEY_THREADS, PARLEY_LOG_LEVEL, PARLEY_SCHEDULER) and --config FILE
/// (TOML or INI with the same keys: `threads = 2`). Unknown keys in the file
/// are errors.
void add_node_options(CLI::App& app, node_config& cfg);

} // namespace parley::runtime
