#pragma once

/// @file
/// parley-bench's modes, one file each (docs/parley-bench.md): each runs in
/// one process over `engine`, calls `barrier` between its setup and its
/// measured phase, and returns what it counted.

#include "parley_bench/engine.hpp"

namespace parley::bench {

run_result run_conns(engine& e, const options& o, size_t n, barrier_fn barrier,
                     std::chrono::steady_clock::time_point deadline);
run_result run_fanout(engine& e, const options& o, size_t rooms, barrier_fn barrier,
                      std::chrono::steady_clock::time_point deadline);
run_result run_echo(engine& e, const options& o, size_t n, barrier_fn barrier,
                    std::chrono::steady_clock::time_point deadline);
run_result run_churn(engine& e, const options& o, size_t n, barrier_fn barrier,
                     std::chrono::steady_clock::time_point deadline);

/// Runs `o.mode` in this process with `n` connections (fanout: `n` rooms).
run_result run_local(const options& o, const target& tgt, size_t n, const barrier_fn& barrier);

/// Runs the shares over worker processes of this program and merges their
/// results.
run_result run_workers(const options& o, const std::vector<size_t>& shares, size_t total_conns,
                       const barrier_fn& barrier);

} // namespace parley::bench
