#pragma once

/// @file
/// The rooms directory's parts, shared by its two files: rooms_directory.cpp
/// (lookups on this node, the rooms list, the behaviour) and room_claims.cpp
/// (placing a room in a cluster: the claim protocol, relays, seeds).
/// Private to parley_actors.

#include "parley/actors/rooms_directory.hpp"

#include <caf/error.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <utility>

namespace parley::actors::internal {

using directory_pointer = rooms_actor::stateful_pointer<rooms_directory_state>;

/// Longest wait for the rooms supervisor.
constexpr caf::timespan sup_timeout = std::chrono::seconds(10);

/// Answers every lookup waiting for `name` with `outcome` (a room or an
/// error).
template <class T>
void settle(directory_pointer self, const std::string& name, const T& outcome) {
  auto i = self->state.pending.find(name);
  if (i == self->state.pending.end())
    return;
  auto waiters = std::move(i->second);
  self->state.pending.erase(i);
  for (auto& rp : waiters)
    rp.deliver(outcome);
}

// -- rooms_directory.cpp ---------------------------------------------------------------

/// Adds `spec` under the rooms supervisor (or finds the child of that id
/// that runs already), remembers it as `name`, runs `then`, and settles.
void start_child(directory_pointer self, const std::string& name, runtime::child_spec spec,
                 std::function<void()> then);

/// Starts (or finds) the room `name` on this node, then settles.
void start_local(directory_pointer self, const std::string& name);

// -- room_claims.cpp -------------------------------------------------------------------

/// The registered name of `node`'s rooms directory.
std::string directory_name(const std::string& node);

/// Runs `then` with the directory of `node` (or `fail`).
void with_peer(directory_pointer self, const std::string& node,
               std::function<void(rooms_actor&)> then, std::function<void(caf::error)> fail);

/// A lookup in a cluster: claims the room if this node owns it in its
/// view, or relays it from its owner.
void resolve_in_cluster(directory_pointer self, const std::string& name);

/// Takes a seed for a room that does not run here, if it is newer than what
/// this node remembers of it.
void adopt(directory_pointer self, const std::string& name, room_seed& seed);

/// Another node asks for a room it believes this node owns.
caf::result<room_actor> owned(directory_pointer self, const std::string& name, room_seed& seed);

/// Another node, claiming `name`, asks whether this one hosts it.
caf::result<uint8_t, room_actor> hosting(directory_pointer self, const std::string& name,
                                          const std::string& asker);

} // namespace parley::actors::internal
