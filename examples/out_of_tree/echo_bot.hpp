#pragma once

// A room behaviour written against the installed SDK: "/echo TEXT" is
// answered by the bot ("ann said: TEXT") instead of being published;
// everything else passes.

#include <parley/actors/room_behavior.hpp>

#include <string>

namespace echo {

/// The bot as a typed actor behaviour (stateless: a function is enough).
/// It takes its room's name: CAF 0.17 dereferences a null pointer when it
/// spawns a function that takes no arguments at all (UBSan reports it).
parley::actors::room_behavior_actor::behavior_type echo_bot(std::string room);

/// Spawns one bot for a room; what the gateway's registry is given.
parley::actors::room_behavior_actor spawn_echo_bot(caf::actor_system& sys,
                                                   const std::string& room);

} // namespace echo
