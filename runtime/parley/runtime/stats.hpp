#pragma once

/// @file
/// Process-wide counters of the runtime, read by the gateway's `/metrics`.
/// Plain atomics, so the runtime needs no metrics library; updated with
/// relaxed ordering (they are statistics, not synchronisation).

#include <atomic>
#include <cstdint>

namespace parley::runtime {

struct supervisor_stats {
  /// Children restarted by any supervisor (each restarted child counts).
  std::atomic<uint64_t> restarts{0};
  /// Supervisors that gave up: more restarts than their intensity allows.
  std::atomic<uint64_t> gave_up{0};
  /// Children listed by all supervisors now, running or waiting for a
  /// restart. Temporary children (one per connection) leave the list when
  /// they end, so under churn this returns to its baseline.
  std::atomic<int64_t> children{0};
};

/// The counters of every supervisor in this process.
supervisor_stats& supervisors();

} // namespace parley::runtime
