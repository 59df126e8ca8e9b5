// Rendezvous placement: agreement, spread, and how little moves when the
// set of nodes changes.

#include "parley/actors/placement.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

using parley::actors::outranks;
using parley::actors::place;
using parley::actors::placement_score;

namespace {

std::vector<std::string> rooms(size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back("room-" + std::to_string(i));
  return out;
}

TEST(Placement, TheOrderOfTheNodesDoesNotMatter) {
  std::vector<std::string> nodes{"a", "b", "c", "d"};
  for (auto& r : rooms(200)) {
    auto first = place(r, nodes);
    auto shuffled = nodes;
    std::reverse(shuffled.begin(), shuffled.end());
    EXPECT_EQ(place(r, shuffled), first) << r;
    std::rotate(shuffled.begin(), shuffled.begin() + 1, shuffled.end());
    EXPECT_EQ(place(r, shuffled), first) << r;
  }
}

TEST(Placement, RoomsSpreadOverTheNodes) {
  std::vector<std::string> nodes{"a", "b", "c"};
  std::map<std::string, int> count;
  for (auto& r : rooms(3000))
    ++count[place(r, nodes)];
  for (auto& n : nodes) {
    // 1,000 expected each; a fair hash stays well within +-15 %.
    EXPECT_GT(count[n], 850) << n;
    EXPECT_LT(count[n], 1150) << n;
  }
}

TEST(Placement, WhenANodeLeavesOnlyItsRoomsMove) {
  std::vector<std::string> three{"a", "b", "c"};
  std::vector<std::string> two{"a", "c"};
  int moved = 0;
  for (auto& r : rooms(2000)) {
    auto before = place(r, three);
    auto after = place(r, two);
    if (before != "b") {
      EXPECT_EQ(after, before) << r;
    } else {
      ++moved;
      // To its second-ranked node.
      EXPECT_TRUE(after == "a" || after == "c");
      EXPECT_TRUE(outranks(after, after == "a" ? "c" : "a", r));
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(Placement, WhenANodeJoinsOnlyRoomsItWinsMoveToIt) {
  std::vector<std::string> two{"a", "b"};
  std::vector<std::string> three{"a", "b", "c"};
  for (auto& r : rooms(2000)) {
    auto after = place(r, three);
    if (after != "c") {
      EXPECT_EQ(after, place(r, two)) << r;
    }
  }
}

TEST(Placement, ScoresAreStableAcrossBuilds) {
  // XXH3 is specified bit for bit, so this value (recorded when the scheme
  // was written) must never change: nodes of two builds, or of a build with
  // another scheme, would place rooms differently and both start them.
  EXPECT_EQ(placement_score("a", "lobby"), 9834379870168975009ull);
  EXPECT_NE(placement_score("ab", "c"), placement_score("a", "bc"));
  EXPECT_EQ(place("lobby", {}), "");
  EXPECT_EQ(place("lobby", {"only"}), "only");
}

} // namespace
