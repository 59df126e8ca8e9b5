#pragma once

/// @file
/// What parley-bench reads of the machine: a process's memory and CPU time
/// from /proc, a gauge from the server's /metrics, the open-files limit.

#include "parley_bench/client.hpp"

#include <chrono>
#include <optional>
#include <string>

#include <sys/resource.h>

namespace parley::bench {

/// Resident memory of `pid` in KiB (VmRSS), 0 if unreadable.
double rss_kib(int pid);

/// CPU time (user + system) of `pid` in seconds, 0 if unreadable.
double cpu_seconds(int pid);

/// A gauge from the server's /metrics (Parley's; a loopback server only),
/// or nothing when it has no such page or no such gauge.
std::optional<double> server_gauge(const target& tgt, const std::string& name);

/// Raises the soft open-files limit to the hard one; returns the soft limit.
rlim_t raise_nofile();

double seconds_since(std::chrono::steady_clock::time_point t);

} // namespace parley::bench
