// A room's relay, on the deterministic scheduler: a real room stands for
// the owner on another node, and the relay's members are probes with sinks.
// (Across real nodes the relay is covered by tests/cluster/rooms_cluster_test.)

#include "parley/actors/room.hpp"
#include "parley/actors/room_relay.hpp"
#include "parley/actors/rooms_directory.hpp"
#include "parley/runtime/errc.hpp"
#include "support/actor_test.hpp"
#include "support/chat_probe.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>

#include <deque>

using namespace parley::actors;
using parley::test::actor_test;
using parley::test::make_probe;
using parley::test::member_probe;
namespace errc_ns = parley::runtime;

namespace {

using seqs = std::vector<seq_t>;

/// Stands in for the rooms directory: records the seeds relays hand over.
caf::behavior seed_recorder(caf::event_based_actor*, std::shared_ptr<std::vector<room_seed>> out) {
  return {[out](seed_atom, const std::string&, room_seed& seed) { out->push_back(std::move(seed)); }};
}

class RelayTest : public actor_test {
protected:
  room_actor room;
  relay_actor relay;
  std::shared_ptr<room_stats> stats = std::make_shared<room_stats>();
  std::shared_ptr<relay_stats> rstats = std::make_shared<relay_stats>();
  std::deque<member_probe> members; // stable references

  void start() {
    room_config cfg;
    cfg.presence_interval = caf::timespan{0}; // one diff per change
    cfg.stats = stats;
    room = sys.spawn(room_impl, std::string{"lobby"}, cfg, std::make_shared<room_memory>(),
                     room_behavior_rule{});
    relay_config rcfg;
    rcfg.room = "lobby";
    rcfg.owner = room;
    rcfg.owner_node = "owner";
    rcfg.stats = stats;
    relay = sys.spawn(relay_impl, rcfg, rstats);
    self->monitor(relay);
    run();
  }

  member_probe& add_member(std::string user, encoding enc = encoding::json) {
    members.push_back(make_probe(sys, std::move(user), enc));
    return members.back();
  }

  caf::expected<join_reply> join(const member_probe& m, bool via_relay = true) {
    if (via_relay)
      return ask<join_reply>(relay, join_atom::value, m.join_request());
    return ask<join_reply>(room, join_atom::value, m.join_request());
  }

  caf::expected<seq_t> publish(const member_probe& m, std::string text) {
    return ask<seq_t>(relay, publish_atom::value, publish_request{m.id(), std::move(text), {}});
  }

  void TearDown() override {
    for (auto& m : members)
      self->send_exit(m.handle, caf::exit_reason::user_shutdown);
    if (relay)
      self->send_exit(relay, caf::exit_reason::user_shutdown);
    if (room)
      self->send_exit(room, caf::exit_reason::user_shutdown);
    run();
  }
};

} // namespace

TEST_F(RelayTest, AMemberBehindTheRelayGetsItsJoinReplyFirstThenTheRoom) {
  start();
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann, false)); // on the owner's node
  ASSERT_TRUE(publish(ann, "one"));
  auto& bob = add_member("bob", encoding::binary);
  // A publish that the room takes right after bob's join, while its reply
  // is still on the way to the relay: the reply comes first all the same.
  self->send(relay, join_atom::value, bob.join_request({}, "bj"));
  sched.run_once(); // the relay asks the room
  sched.run_once(); // the room admits bob and answers the relay
  self->send(room, publish_atom::value, publish_request{ann.id(), "two", {}});
  run();
  auto& frames = bob.frames();
  ASSERT_EQ(frames.size(), 2u);
  ASSERT_TRUE(frames[0].ack().has_joined());
  EXPECT_EQ(frames[0].ref(), "bj");
  EXPECT_EQ(frames[0].ack().joined().messages_size(), 1);
  ASSERT_TRUE(frames[1].has_message());
  EXPECT_EQ(frames[1].message().seq(), 2u);
  EXPECT_EQ(rstats->members.load(), 1);
}

TEST_F(RelayTest, OneFramePerMessageReachesEveryLocalMemberInItsEncoding) {
  start();
  auto& j1 = add_member("j1");
  auto& j2 = add_member("j2");
  auto& b1 = add_member("b1", encoding::binary);
  for (auto* m : {&j1, &j2, &b1})
    ASSERT_TRUE(join(*m));
  auto frames_before = rstats->frames_in.load();
  ASSERT_EQ(publish(j1, "hello"), seq_t{1});
  run();
  EXPECT_EQ(rstats->frames_in.load(), frames_before + 1) << "one frame for three members";
  for (auto* m : {&j1, &j2, &b1})
    EXPECT_EQ(m->seqs(), seqs{1}) << m->user;
  // The relay writes the bytes it got: JSON members share one string.
  EXPECT_EQ(j1.sink->written().back().get(), j2.sink->written().back().get());
  EXPECT_EQ(b1.messages().back().text(), "hello");
}

TEST_F(RelayTest, AJoinersOwnArrivalIsNotWrittenToIt) {
  start();
  auto& ann = add_member("ann");
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(join(bob));
  run();
  auto anns = ann.presence();
  ASSERT_EQ(anns.size(), 1u);
  EXPECT_EQ(anns[0].joined(0), "bob");
  EXPECT_TRUE(bob.presence().empty()) << "bob has the list in his join reply";
}

TEST_F(RelayTest, AMemberThatEndsLeavesTheRoomThroughTheRelay) {
  start();
  auto& ann = add_member("ann");
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(ann, false));
  ASSERT_TRUE(join(bob));
  // A leave goes on to the owner.
  auto left = ask<bool>(relay, leave_atom::value, bob.id());
  ASSERT_TRUE(left);
  EXPECT_TRUE(*left);
  EXPECT_EQ(rstats->members.load(), 0);
  auto present = ask<std::vector<std::string>>(room, presence_atom::value);
  ASSERT_TRUE(present);
  EXPECT_EQ(*present, (std::vector<std::string>{"ann"}));
  ASSERT_TRUE(publish(ann, "after"));
  run();
  EXPECT_TRUE(bob.seqs().empty());
}

TEST_F(RelayTest, WhenTheRoomGoesTheRelayHandsOverWhatItSawAndEnds) {
  auto seeds = std::make_shared<std::vector<room_seed>>();
  auto dir = sys.spawn(seed_recorder, seeds);
  sys.registry().put(rooms_directory_name, caf::actor_cast<caf::strong_actor_ptr>(dir));
  start();
  auto& ann = add_member("ann", encoding::binary);
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(ann, false));
  ASSERT_TRUE(publish(ann, "one"));
  ASSERT_TRUE(publish(ann, "two"));
  ASSERT_TRUE(join(bob)); // 1 and 2 in his join reply
  ASSERT_TRUE(publish(ann, "three"));
  ASSERT_TRUE(publish(ann, "four")); // 3 and 4 as the relay got them
  self->send_exit(room, caf::exit_reason::kill);
  room = nullptr;
  auto reason = down_reason(relay.address());
  ASSERT_TRUE(reason);
  EXPECT_TRUE(errc_ns::is(*reason, errc_ns::errc::unavailable)) << render(*reason);
  relay = nullptr;
  ASSERT_EQ(seeds->size(), 1u);
  auto& seed = seeds->front();
  EXPECT_EQ(seed.last_seq, 4u);
  std::vector<std::string> texts;
  for (auto& m : seed.backlog)
    texts.push_back(m.text);
  EXPECT_EQ(texts, (std::vector<std::string>{"one", "two", "three", "four"}));
  sys.registry().erase(rooms_directory_name);
  self->send_exit(dir, caf::exit_reason::user_shutdown);
}

TEST_F(RelayTest, AKeptMessageThatDoesNotParseIsLeftOutOfTheSeed) {
  auto seeds = std::make_shared<std::vector<room_seed>>();
  auto dir = sys.spawn(seed_recorder, seeds);
  sys.registry().put(rooms_directory_name, caf::actor_cast<caf::strong_actor_ptr>(dir));
  start();
  auto& ann = add_member("ann");
  auto& bob = add_member("bob", encoding::binary);
  ASSERT_TRUE(join(ann, false));
  ASSERT_TRUE(join(bob));
  ASSERT_TRUE(publish(ann, "one")); // seq 1, kept as the relay got it
  // Bytes that are no ServerFrame, for seq 2 (the relay parses nothing on
  // the way; only the seed reads what it kept).
  auto garbage = std::make_shared<const std::string>("\xff\xff\xff not protobuf");
  self->send(relay, relay_atom::value, relay_frame{garbage, nullptr, 2, 0});
  run();
  self->send_exit(room, caf::exit_reason::kill);
  room = nullptr;
  auto reason = down_reason(relay.address());
  ASSERT_TRUE(reason);
  relay = nullptr;
  ASSERT_EQ(seeds->size(), 1u);
  auto& seed = seeds->front();
  EXPECT_EQ(seed.last_seq, 2u) << "the seq goes on past what could not be read";
  ASSERT_EQ(seed.backlog.size(), 1u);
  EXPECT_EQ(seed.backlog.front().text, "one");
  sys.registry().erase(rooms_directory_name);
  self->send_exit(dir, caf::exit_reason::user_shutdown);
}
