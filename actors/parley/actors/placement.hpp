#pragma once

/// @file
/// Rendezvous (highest random weight) hashing: the node a room is placed on.
///
/// Every node ranks the live nodes for a room by a hash of (node, room) and
/// picks the highest, so all nodes with the same view agree without asking,
/// and when a node leaves only its own rooms move (to their second-ranked
/// node). The hash is xxHash's XXH3 (Debian's libxxhash), the same on every
/// machine and build.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace parley::actors {

/// The weight of `node` for `room`.
uint64_t placement_score(std::string_view node, std::string_view room);

/// The node among `nodes` that `room` is placed on (empty if none). Ties,
/// which need two equal 64-bit hashes, go to the name that sorts first.
std::string place(std::string_view room, const std::vector<std::string>& nodes);

/// True if `a` outranks `b` for `room` (the same order `place` uses).
bool outranks(std::string_view a, std::string_view b, std::string_view room);

} // namespace parley::actors
