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
#include "parley/gateway/connection_factory.hpp"
#include "parley/gateway/metrics.hpp"
#include "parley/runtime/child_spec.hpp"

#include <caf/actor_system.hpp>

namespace parley::gateway {

/// Spawns one connection actor per session in `sys`, each talking to
/// `rooms`, and hands it to `supervisor` as a temporary child "conn-<id>"
/// (so stopping the gateway's subtree stops every connection). `sys` must
/// outlive the factory and every handle it made.
connection_factory make_connection_factory(caf::actor_system& sys, actors::rooms_actor rooms,
                                           actors::connection_config cfg,
                                           runtime::supervisor_actor supervisor);

/// The "gateway" subtree of the node: a one_for_one supervisor whose
/// children are the connection actors, added as sockets arrive.
runtime::child_spec gateway_child();

/// Adds the connection, room and supervisor counters to `m`.
void add_actor_metrics(metrics& m, std::shared_ptr<actors::connection_stats> connections,
                       std::shared_ptr<actors::room_stats> rooms);

} // namespace parley::gateway
