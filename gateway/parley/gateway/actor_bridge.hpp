#pragma once

/// @file
/// The actor side of the seam: a `connection_factory` that spawns
/// `connection_impl` actors as temporary children of the gateway's
/// supervisor, and the collectors that show the actors' counters in
/// `/metrics`. Include it only where CAF is already in use (main); Beast
/// code sees `connection_factory.hpp` alone.

#include "parley/actors/chat.hpp"
#include "parley/actors/connection.hpp"
#include "parley/actors/room.hpp"
#include "parley/gateway/admin.hpp"
#include "parley/gateway/config.hpp"
#include "parley/gateway/connection_factory.hpp"
#include "parley/gateway/metrics.hpp"
#include "parley/runtime/atoms.hpp"
#include "parley/runtime/child_spec.hpp"

#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace parley::actors {
struct relay_stats;
} // namespace parley::actors

namespace parley::store {
class store_service;
} // namespace parley::store

namespace parley::gateway {

/// The gateway actor: owns the Beast listener (its acceptor, I/O threads and
/// sessions) and tells where it listens. A detached actor, because stopping
/// the listener blocks while the WebSockets drain.
/// It answers with its address, port, and the admin console's port (0:
/// none).
using listener_actor =
  caf::typed_actor<caf::replies_to<runtime::get_atom>::with<std::string, uint16_t, uint16_t>>;

/// The admin console's actor side (admin.hpp): attach it to the node once
/// the node runs; until then it answers 503.
class node_admin : public admin_backend {
public:
  /// `drain` starts a drain of the node (as SIGTERM does).
  virtual void attach(caf::actor_system& sys, runtime::supervisor_actor root,
                      std::function<void()> drain) = 0;
};

std::shared_ptr<node_admin> make_node_admin();

/// Spawns one connection actor per session in `sys`, each talking to the
/// rooms directory running at that moment, and hands it to the supervisor
/// `supervisor()` names as a temporary child "conn-<id>" (so stopping that
/// supervisor stops every connection, and each client gets 1001). `sys` must
/// outlive the factory and every handle it made.
connection_factory make_connection_factory(caf::actor_system& sys, actors::connection_config cfg,
                                           std::function<runtime::supervisor_actor()> supervisor);

/// The "gateway" subtree of the node:
///
/// ```
/// gateway (one_for_one)
/// ├── connections (one_for_one, forget_ended) ── conn-1, conn-2, ...
/// └── listener ... the gateway actor: binds, accepts, drains on stop
/// ```
///
/// Stopping it stops the listener first, which drains: /healthz answers 503,
/// every client gets close 1001, and it waits up to `drain_timeout` for them
/// to close; then the remaining connection actors stop. Starting it fails (the node
/// does not start) if the port cannot be bound. Connections find the rooms
/// directory by name (`actors::find_rooms_directory`) when they need it.
runtime::child_spec gateway_child(gateway_config gcfg, actors::connection_config ccfg,
                                  std::shared_ptr<metrics> m);

/// Adds the connection, room and supervisor counters to `m`.
void add_actor_metrics(metrics& m, std::shared_ptr<actors::connection_stats> connections,
                       std::shared_ptr<actors::room_stats> rooms);

/// Adds what `sys` counts (running actors) to `m`. `sys` must outlive every
/// scrape: add it once the node runs, in the program that owns both.
void add_system_metrics(metrics& m, caf::actor_system& sys);

/// Adds the history store's counters to `m`.
void add_store_metrics(metrics& m, std::shared_ptr<store::store_service> store);

/// Adds the cluster's membership counters and the relays' to `m`.
void add_cluster_metrics(metrics& m, std::shared_ptr<actors::relay_stats> relays);

} // namespace parley::gateway
