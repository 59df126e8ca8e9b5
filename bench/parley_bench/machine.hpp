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

/// The process that listens on TCP `port` on this machine (from
/// /proc/net/tcp and tcp6, then the processes' open sockets), or 0.
int listening_pid(uint16_t port);

/// --server-pid's value: a PID, "@FILE" (a pid file), or "listening" (the
/// process listening on `port`). 0 and `why` when it names no process.
int resolve_server_pid(const std::string& text, uint16_t port, std::string& why);

/// A gauge from the server's /metrics (Parley's; a loopback server only),
/// or nothing when it has no such page or no such gauge.
std::optional<double> server_gauge(const target& tgt, const std::string& name);

/// Raises the soft open-files limit to the hard one; returns the soft limit.
rlim_t raise_nofile();

double seconds_since(std::chrono::steady_clock::time_point t);

} // namespace parley::bench
