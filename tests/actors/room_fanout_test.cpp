// How a room's frames reach its members: each encoding made once for all,
// one frame per message for all the members behind a relay, the join reply
// first in the joiner's sink, and a sink that overflows closed while the
// others go on.

#include "parley/actors/room.hpp"

#include "support/room_fixture.hpp"
#include "support/test_sink.hpp"

#include <caf/exit_reason.hpp>

using namespace parley::actors;
using parley::gateway::outbound_queue;
using parley::test::member_probe;
using parley::test::RoomTest;
using parley::test::seqs;
using parley::test::test_sink;

TEST_F(RoomTest, FanOutEncodesOncePerEncodingInUse) {
  start();
  auto& j1 = add_member("j1", encoding::json);
  auto& j2 = add_member("j2", encoding::json);
  auto& b1 = add_member("b1", encoding::binary);
  auto& b2 = add_member("b2", encoding::binary);
  for (auto* m : {&j1, &j2, &b1, &b2})
    ASSERT_TRUE(join(*m));
  ASSERT_TRUE(publish(j1, "once"));
  // Members of one encoding get the very same bytes: one encode per
  // encoding in use.
  auto fj = j1.sink->written().back();
  auto fb = b1.sink->written().back();
  EXPECT_EQ(j2.sink->written().back().get(), fj.get());
  EXPECT_EQ(b2.sink->written().back().get(), fb.get());
  EXPECT_NE(fj.get(), fb.get());
  ASSERT_EQ(j1.messages().size(), 1u);
  EXPECT_EQ(j1.messages().back().text(), "once");
  ASSERT_EQ(b1.messages().size(), 1u);
  EXPECT_EQ(b1.messages().back().text(), "once");
}

TEST(FanoutFrame, EncodesOnFirstUseAndOnlyWhatIsAskedFor) {
  v1::ServerFrame frame;
  frame.mutable_message()->set_text("x");
  fanout_frame out{frame};
  EXPECT_FALSE(out.made(encoding::json));
  auto json = out.bytes(encoding::json);
  ASSERT_TRUE(json);
  EXPECT_EQ(out.bytes(encoding::json).get(), json.get()) << "encoded once";
  EXPECT_FALSE(out.made(encoding::binary)) << "nobody asked for binary";
  auto decoded = parley::proto::decode_server(*json, encoding::json);
  ASSERT_TRUE(std::holds_alternative<v1::ServerFrame>(decoded));
  EXPECT_EQ(std::get<v1::ServerFrame>(decoded).message().text(), "x");
  // Given bytes (a relay's copy) are used as they are; a missing encoding
  // stays missing.
  fanout_frame given{nullptr, json};
  EXPECT_EQ(given.bytes(encoding::json).get(), json.get());
  EXPECT_FALSE(given.bytes(encoding::binary));
}

namespace {

using relay_log = std::shared_ptr<std::vector<relay_frame>>;

relay_sink::behavior_type fake_relay(relay_sink::pointer, relay_log log) {
  return {[log](relay_atom, relay_frame& f) { log->push_back(std::move(f)); }};
}

} // namespace

TEST_F(RoomTest, MembersBehindOneRelayCostOneFramePerMessage) {
  start();
  auto log = std::make_shared<std::vector<relay_frame>>();
  auto relay = sys.spawn(fake_relay, log);
  auto& local = add_member("ann");
  auto& far1 = add_member("bob");
  auto& far2 = add_member("cat", encoding::binary);
  ASSERT_TRUE(join(local));
  for (auto* m : {&far1, &far2})
    ASSERT_TRUE(join_via(*m, relay));
  run();
  log->clear();
  ASSERT_EQ(publish(local, "hello"), seq_t{1});
  run();
  // One frame for the two members behind the relay, in both encodings used
  // there; nothing written to their sinks here (the relay has them on its
  // node), not even the join reply; the local member got its own.
  ASSERT_EQ(log->size(), 1u);
  auto& rf = log->front();
  ASSERT_TRUE(rf.binary && rf.json);
  v1::ServerFrame f;
  ASSERT_TRUE(f.ParseFromString(*rf.binary));
  EXPECT_EQ(f.message().seq(), 1u);
  EXPECT_EQ(rf.seq, 1u) << "a message's seq, for the relay's seed";
  EXPECT_EQ(rf.except, 0u);
  EXPECT_TRUE(far1.frames().empty());
  EXPECT_TRUE(far2.frames().empty());
  EXPECT_EQ(local.seqs(), seqs{1});
  self->send_exit(relay, caf::exit_reason::user_shutdown);
}

TEST_F(RoomTest, ARelayGetsOnlyTheEncodingsItsMembersUse) {
  start();
  auto log = std::make_shared<std::vector<relay_frame>>();
  auto relay = sys.spawn(fake_relay, log);
  auto& local = add_member("ann", encoding::binary);
  auto& far = add_member("bob", encoding::json);
  ASSERT_TRUE(join(local));
  ASSERT_TRUE(join_via(far, relay));
  run();
  log->clear();
  ASSERT_TRUE(publish(local, "hello"));
  run();
  ASSERT_EQ(log->size(), 1u);
  EXPECT_TRUE(log->front().json);
  EXPECT_FALSE(log->front().binary) << "nobody behind this relay reads binary";
  self->send_exit(relay, caf::exit_reason::user_shutdown);
}

TEST_F(RoomTest, ARelayThatEndsTakesItsMembersAndTheyCanJoinAgain) {
  start();
  auto log = std::make_shared<std::vector<relay_frame>>();
  auto relay = sys.spawn(fake_relay, log);
  auto& far = add_member("bob");
  ASSERT_TRUE(join_via(far, relay));
  self->send_exit(relay, caf::exit_reason::kill);
  run();
  auto present = ask<std::vector<std::string>>(room, presence_atom::value);
  ASSERT_TRUE(present);
  EXPECT_TRUE(present->empty());
  // Through a new relay, the same member is welcome again.
  auto log2 = std::make_shared<std::vector<relay_frame>>();
  auto relay2 = sys.spawn(fake_relay, log2);
  auto again = join_via(far, relay2);
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->member_count, 1u);
  self->send_exit(relay2, caf::exit_reason::user_shutdown);
}

// -- the joiner's sink: the join reply first, then the room ---------------------------

TEST_F(RoomTest, TheJoinReplyIsTheFirstFrameInTheJoinersSink) {
  start();
  auto& ann = add_member("ann");
  auto& bob = add_member("bob", encoding::binary);
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(publish(ann, "one"));
  ASSERT_TRUE(publish(ann, "two"));
  // Published in the same mailbox turn as bob's join: the reply still
  // comes first, with the backlog, and the message after it.
  self->send(room, join_atom::value, bob.join_request({}, "bob-joins"));
  self->send(room, publish_atom::value, publish_request{ann.id(), "three", {}});
  run();
  auto& frames = bob.frames();
  ASSERT_EQ(frames.size(), 2u);
  ASSERT_TRUE(frames[0].ack().has_joined());
  EXPECT_EQ(frames[0].ref(), "bob-joins");
  EXPECT_EQ(frames[0].ack().joined().room(), "lobby");
  EXPECT_EQ(frames[0].ack().joined().messages_size(), 2);
  EXPECT_EQ(frames[0].ack().joined().seq(), 2u);
  ASSERT_TRUE(frames[1].has_message());
  EXPECT_EQ(frames[1].message().seq(), 3u);
  // ann's sink: her own reply, bob's arrival, three messages.
  EXPECT_EQ(ann.seqs(), (seqs{1, 2, 3}));
  EXPECT_TRUE(ann.frames().front().ack().has_joined());
}

TEST_F(RoomTest, AMemberWhoseSinkOverflowsIsClosedAndTheOthersGoOn) {
  start();
  auto& ann = add_member("ann");
  outbound_queue::limits tiny;
  tiny.max_frames = 3; // the join reply and two messages
  auto& bob = add_member("bob", encoding::json, tiny);
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(join(bob));
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(publish(ann, "m" + std::to_string(i)));
  // The third message overflowed bob's sink: the sink closed him (1008),
  // once, and refuses everything after; the room went on for ann.
  EXPECT_TRUE(bob.sink->closed());
  EXPECT_EQ(bob.sink->closed_for, close_cause::slow_consumer);
  EXPECT_EQ(bob.sink->overflows(), 1u);
  EXPECT_EQ(bob.seqs(), (seqs{1, 2}));
  EXPECT_EQ(ann.seqs(), (seqs{1, 2, 3, 4, 5}));
  // His connection ends with the session: he leaves, and ann is told.
  self->send_exit(bob.handle, caf::exit_reason::user_shutdown);
  run();
  auto diffs = ann.presence();
  ASSERT_FALSE(diffs.empty());
  ASSERT_EQ(diffs.back().left_size(), 1);
  EXPECT_EQ(diffs.back().left(0), "bob");
}
