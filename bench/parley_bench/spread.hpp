#pragma once

/// @file
/// Spreading sockets over what one machine allows: loopback gives about
/// 28k ephemeral ports per source address, and one process may hold at most
/// 20,000 open files. So connections go round-robin over 127.0.0.x source
/// addresses, and past a per-process count over worker processes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace parley::bench {

/// Connections from one source address at most. The gateway's default
/// --max-connections-per-address is 1000, so a run against a gateway on its
/// defaults is not refused; addresses are free (all of 127/8 is loopback),
/// and 1000 is far below the ~28k ports one address has. Raise it up to
/// 25,000 against a gateway started with --max-connections-per-address=0.
constexpr size_t default_per_address = 1'000;

/// Connections one process holds at most: 20,000 open files, minus room
/// for the worker's own files and a margin.
constexpr size_t default_per_process = 15'000;

/// How many source addresses `total` connections need when each takes at
/// most `per_address` ports (at least 1).
size_t sources_needed(size_t total, size_t per_address);

/// The `k`-th loopback source address: 127.0.0.1, 127.0.0.2, ... (carrying
/// into the next octet after .255).
std::string source_address(size_t k);

/// The source (index) of connection `global_index` among `sources`,
/// round-robin so each address gets within one of its share.
size_t source_of(size_t global_index, size_t sources);

/// Splits `total` over as few processes as `per_process` allows, as evenly
/// as possible; sums to `total`, each share at most `per_process`.
std::vector<size_t> split_workers(size_t total, size_t per_process);

/// Splits `rooms` rooms of `members` each over processes holding at most
/// `per_process` connections, whole rooms per process; empty when one room
/// alone is larger than `per_process`.
std::vector<size_t> split_rooms(size_t rooms, size_t members, size_t per_process);

} // namespace parley::bench
