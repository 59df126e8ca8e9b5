#include "parley/actors/placement.hpp"

#include <xxhash.h>

namespace parley::actors {

uint64_t placement_score(std::string_view node, std::string_view room) {
  // The node's own hash seeds the room's: (node, room) pairs that
  // concatenate alike ("ab" + "c", "a" + "bc") still score apart.
  auto seed = XXH3_64bits(node.data(), node.size());
  return XXH3_64bits_withSeed(room.data(), room.size(), seed);
}

bool outranks(std::string_view a, std::string_view b, std::string_view room) {
  auto sa = placement_score(a, room);
  auto sb = placement_score(b, room);
  return sa != sb ? sa > sb : a < b;
}

std::string place(std::string_view room, const std::vector<std::string>& nodes) {
  const std::string* best = nullptr;
  for (auto& n : nodes)
    if (!best || outranks(n, *best, room))
      best = &n;
  return best ? *best : std::string{};
}

} // namespace parley::actors
