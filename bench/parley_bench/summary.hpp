#pragma once

/// @file
/// The outcome of a run, as counted by one process, merged over workers and
/// printed as one JSON line: `{"mode":..., "params":{...}, "results":{...}}`.
/// Written by hand in a fixed key order; read back through protobuf's
/// `google.protobuf.Struct`, so numbers are doubles (exact up to 2^53,
/// plenty for counts).

#include "parley_bench/stats.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace parley::bench {

/// What one process counted; workers' results add up with `merge`.
struct run_result {
  uint64_t attempted = 0;      ///< connections started
  uint64_t opened = 0;         ///< connections that said hello and joined
  uint64_t failed = 0;         ///< connections that did not get that far
  uint64_t errors = 0;         ///< error frames and unexpected closes
  uint64_t rate_limited = 0;   ///< of which RATE_LIMITED refusals
  uint64_t messages = 0;       ///< acknowledged publishes (fanout)
  uint64_t expected = 0;       ///< messages × members (fanout)
  uint64_t delivered = 0;      ///< deliveries seen, duplicates included
  uint64_t lost = 0;
  uint64_t duplicated = 0;
  uint64_t round_trips = 0;    ///< pings answered (echo)
  uint64_t cycles = 0;         ///< connect..disconnect loops done (churn)
  double setup_seconds = 0;    ///< connecting and joining
  double run_seconds = 0;      ///< publishing, pinging or churning
  histogram latency;           ///< deliveries or round trips, microseconds
  std::string first_error;     ///< the first thing that went wrong, one line

  /// Adds a worker's counts: sums, the slower phase times, merged latency.
  void merge(const run_result& other);
};

/// Flat `key → value` parameters, printed as given.
using params_map = std::map<std::string, std::string>;

/// The one JSON line: mode, params and results (rates and percentiles
/// derived from the counts, plus `extra` numbers such as RSS figures), keys
/// in a fixed order. `with_histogram` adds the latency histogram's text
/// form (`latency_hist`), which a worker's line needs and a reader rarely.
std::string to_json_line(const std::string& mode, const params_map& params,
                         const run_result& r, const std::map<std::string, double>& extra = {},
                         bool with_histogram = true);

/// Reads the `results` of a line made by `to_json_line` (a worker's) back;
/// false when the line is not such JSON.
bool from_json_line(const std::string& line, run_result& out, std::string* mode = nullptr);

} // namespace parley::bench
