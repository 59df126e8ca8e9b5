#pragma once

/// @file
/// The gateway's listener: accepts TCP connections, serves HTTP
/// (`/healthz`) and upgrades `/ws` to WebSocket sessions, each with its own
/// connection actor made by a `connection_factory`. Beast-free header.

#include "parley/gateway/config.hpp"
#include "parley/gateway/connection_factory.hpp"
#include "parley/gateway/metrics.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace parley::runtime {
class actor_host;
} // namespace parley::runtime

namespace parley::gateway {

/// Called on the I/O thread as it starts: an actor host for that thread
/// (runtime/scheduler.hpp) that calls the given function when its actors
/// should run, or nullptr to leave actors to the scheduler.
using actor_host_factory
  = std::function<std::unique_ptr<runtime::actor_host>(std::function<void()> request_run)>;

/// Owns the acceptor, the Asio threads and (through them) every session.
/// Started by the gateway supervisor's child spec (on the thread that runs
/// the supervisor), and stopped when the detached actor that owns it ends
/// (actor_bridge.cpp, `listener_state`): start and stop never overlap, but
/// they need not run on the same thread. Tests own one directly.
class listener {
public:
  /// `m` receives the gateway's counters and serves `/metrics` (a fresh
  /// registry if null).
  /// `hosts` makes each I/O thread run the actors it wakes (see
  /// gateway_config::io_runs_actors); empty: none does.
  listener(gateway_config cfg, connection_factory factory, std::shared_ptr<metrics> m = nullptr,
           actor_host_factory hosts = {});
  ~listener(); // stops

  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  /// Binds, listens and starts the I/O threads. Returns why it could not.
  std::optional<std::string> start();

  /// The bound port (the real one when the config said 0).
  uint16_t port() const;

  /// The admin console's bound port, if it has one.
  std::optional<uint16_t> admin_port() const;

  /// The bound address, as text.
  std::string address() const;

  /// Open sockets that hold a connection slot.
  size_t connections() const;

  /// Drains: `/healthz` turns 503, every WebSocket gets close 1001, and
  /// after they closed (or `drain_timeout`) it stops accepting and stops the
  /// I/O threads.
  void stop();

private:
  std::optional<std::string> open_admin();

  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace parley::gateway
