#pragma once

/// @file
/// The actor side of the seam: a `connection_factory` that spawns
/// `connection_impl` actors. Include it only where CAF is already in use
/// (main); Beast code sees `connection_factory.hpp` alone.

#include "parley/actors/chat.hpp"
#include "parley/actors/connection.hpp"
#include "parley/gateway/connection_factory.hpp"

#include <caf/actor_system.hpp>

namespace parley::gateway {

/// Spawns one connection actor per session in `sys`, each talking to
/// `rooms`. `sys` must outlive the factory and every handle it made.
connection_factory make_connection_factory(caf::actor_system& sys, actors::rooms_actor rooms,
                                           actors::connection_config cfg);

} // namespace parley::gateway
