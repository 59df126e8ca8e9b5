#pragma once

/// @file
/// parley-bench's flags, as plain data: the parent passes them on to its
/// worker processes as flags again.

#include "parley_bench/spread.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace parley::bench {

/// Every flag, with its default. Plain data, passed to workers as flags.
struct options {
  std::string mode;
  std::string url = "ws://127.0.0.1:8080/ws";
  std::string ca_file;   ///< wss://: the authority to trust (empty: the system's)
  bool insecure = false; ///< wss://: accept any certificate
  bool binary = false;
  std::string transport = "websocket"; ///< websocket | longpoll | sse
  size_t conns = 0; ///< 0: the mode's default (conns 100, echo 10, churn 10)
  size_t rooms = 1;
  size_t members = 10;
  size_t publishers = 1;
  double rate = 10;       ///< fanout: messages/s per publisher
  double duration = 5;    ///< seconds of publishing, pinging or churning
  double timeout = 0;     ///< whole run; 0: setup allowance + duration + 30 s
  double hold = 0;        ///< conns: seconds to stay connected after all joined
  bool no_leave = false;  ///< churn: close without leaving the room
  bool publish = false;   ///< echo: publish and await its ack instead of a ping
  size_t in_flight = 1;   ///< echo: requests each connection keeps outstanding
  size_t threads = 2;
  size_t sources = 0;     ///< 0: enough for --per-address
  size_t per_address = parley::bench::default_per_address;
  size_t per_process = parley::bench::default_per_process;
  size_t concurrency = 256; ///< connects in flight at once
  int server_pid = 0;
  /// --server-pid as given: a PID, @PIDFILE, or "listening" (the process
  /// that listens on --url's port); resolved into `server_pid`.
  std::string server_pid_text;
  // Internal, set by the parent for its workers.
  bool worker = false;
  size_t offset = 0;      ///< global index of the first connection (source spreading)
  size_t room_offset = 0; ///< fanout: index of the first room
  std::string run_id;     ///< makes room names unique per run
};

/// The connections a mode runs by default (conns 100, echo and churn 10).
size_t default_conns(const std::string& mode);

/// Flags that reproduce `o` for a worker holding `conns` connections (or
/// `rooms` rooms) from global index `offset` on.
std::vector<std::string> worker_argv(const options& o, size_t conns, size_t rooms, size_t offset,
                                     size_t room_offset, size_t sources);

} // namespace parley::bench
