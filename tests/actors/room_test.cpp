#include "parley/actors/room.hpp"

#include "parley/runtime/errc.hpp"
#include "support/actor_test.hpp"
#include "support/chat_probe.hpp"
#include "support/test_sink.hpp"

#include <caf/exit_reason.hpp>

#include <deque>
#include <set>

using namespace parley::actors;
using parley::test::actor_test;
using parley::test::make_probe;
using parley::test::member_probe;
using parley::gateway::outbound_queue;
using parley::test::test_sink;
namespace errc_ns = parley::runtime;

namespace {

class RoomTest : public actor_test {
protected:
  room_actor room;
  std::shared_ptr<room_memory> memory = std::make_shared<room_memory>();
  std::deque<member_probe> members; // stable references

  /// Presence diffs are immediate here unless a test asks for batching.
  static room_config immediate() {
    room_config cfg;
    cfg.presence_interval = caf::timespan{0};
    return cfg;
  }

  void start(room_config cfg = immediate(), room_behavior_rule rule = {}) {
    room = sys.spawn(room_impl, std::string{"lobby"}, cfg, memory, rule);
    self->monitor(room);
    run();
  }

  member_probe& add_member(std::string user, encoding enc = encoding::json,
                           outbound_queue::limits lim = {}) {
    members.push_back(make_probe(sys, std::move(user), enc, lim));
    return members.back();
  }

  /// Joins as a connection does: the room writes the member's frames into
  /// its sink, the join reply first.
  caf::expected<join_reply> join(const member_probe& m, std::optional<seq_t> since = {}) {
    return ask<join_reply>(room, join_atom::value, m.join_request(since));
  }

  /// Joins through `relay`, as a member on another node does.
  caf::expected<join_reply> join_via(const member_probe& m, const relay_sink& relay) {
    auto req = m.join_request();
    req.via = relay;
    return ask<join_reply>(room, join_atom::value, std::move(req));
  }

  caf::expected<seq_t> publish(const member_probe& m, std::string text) {
    return ask<seq_t>(room, publish_atom::value, publish_request{m.id(), std::move(text), {}});
  }

  std::vector<seq_t> seqs_of(const std::vector<chat_message>& msgs) {
    std::vector<seq_t> result;
    for (auto& m : msgs)
      result.push_back(m.seq);
    return result;
  }

  void TearDown() override {
    for (auto& m : members)
      self->send_exit(m.handle, caf::exit_reason::user_shutdown);
    if (room)
      self->send_exit(room, caf::exit_reason::user_shutdown);
    run();
  }
};

using seqs = std::vector<seq_t>;

} // namespace

TEST_F(RoomTest, FirstMessageGetsSeqOneAndMembersReceiveIt) {
  start();
  auto& ann = add_member("ann");
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(join(bob));
  auto seq = publish(ann, "hello");
  ASSERT_TRUE(seq) << render(seq.error());
  EXPECT_EQ(*seq, 1u);
  EXPECT_EQ(ann.seqs(), seqs{1});
  EXPECT_EQ(bob.seqs(), seqs{1});
  auto msg = bob.messages().back();
  EXPECT_EQ(msg.sender(), "ann");
  EXPECT_EQ(msg.text(), "hello");
  EXPECT_EQ(msg.room(), "lobby");
  EXPECT_GT(msg.server_time_ms(), 0);
}

TEST_F(RoomTest, SeqHasNoGapsUnderConcurrentPublishers) {
  start();
  std::vector<member_probe*> pubs;
  for (auto name : {"a", "b", "c"}) {
    auto& m = add_member(name);
    ASSERT_TRUE(join(m));
    pubs.push_back(&m);
  }
  // 3 publishers, 100 messages each, all in the room's mailbox at once.
  for (int i = 0; i < 100; ++i)
    for (auto* p : pubs)
      self->send(room, publish_atom::value, publish_request{p->id(), "m" + std::to_string(i), {}});
  run();
  std::set<seq_t> acked;
  for (int i = 0; i < 300; ++i)
    self->receive([&](seq_t s) { acked.insert(s); }, caf::after(std::chrono::seconds(0)) >> [] {});
  ASSERT_EQ(acked.size(), 300u);
  EXPECT_EQ(*acked.begin(), 1u);
  EXPECT_EQ(*acked.rbegin(), 300u);
  seqs expected(300);
  for (size_t i = 0; i < 300; ++i)
    expected[i] = i + 1;
  for (auto* p : pubs)
    EXPECT_EQ(p->seqs(), expected) << p->user;
}

TEST_F(RoomTest, BacklogKeepsTheLastNMessages) {
  auto cfg = immediate();
  cfg.backlog = 5;
  start(cfg);
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(publish(ann, "m"));
  auto& late = add_member("late");
  auto reply = join(late);
  ASSERT_TRUE(reply);
  EXPECT_EQ(seqs_of(reply->messages), (seqs{8, 9, 10, 11, 12}));
  EXPECT_EQ(reply->seq, 12u);
  EXPECT_FALSE(reply->gap);
  EXPECT_EQ(reply->member_count, 2u);
}

TEST_F(RoomTest, DefaultBacklogIsTwentyFive) {
  start();
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(publish(ann, "m"));
  auto reply = join(add_member("late"));
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->messages.size(), 25u);
  EXPECT_EQ(reply->messages.front().seq, 6u);
}

TEST_F(RoomTest, JoinSinceInsideTheBacklogGetsWhatWasMissed) {
  auto cfg = immediate();
  cfg.backlog = 5;
  start(cfg);
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(publish(ann, "m"));
  auto reply = join(add_member("back"), seq_t{9});
  ASSERT_TRUE(reply);
  EXPECT_EQ(seqs_of(reply->messages), (seqs{10, 11, 12}));
  EXPECT_FALSE(reply->gap);
  // Exactly the oldest held one missed: still no gap.
  auto edge = join(add_member("edge"), seq_t{7});
  EXPECT_EQ(seqs_of(edge->messages), (seqs{8, 9, 10, 11, 12}));
  EXPECT_FALSE(edge->gap);
  // Up to date: nothing, no gap.
  auto current = join(add_member("current"), seq_t{12});
  EXPECT_TRUE(current->messages.empty());
  EXPECT_FALSE(current->gap);
}

TEST_F(RoomTest, JoinSinceOlderThanTheBacklogSaysSo) {
  auto cfg = immediate();
  cfg.backlog = 5;
  start(cfg);
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(publish(ann, "m"));
  auto reply = join(add_member("away"), seq_t{2});
  ASSERT_TRUE(reply);
  EXPECT_EQ(seqs_of(reply->messages), (seqs{8, 9, 10, 11, 12}));
  EXPECT_TRUE(reply->gap);
}

TEST_F(RoomTest, MemberDeathLeavesAndOthersGetAPresenceDiff) {
  start();
  auto& ann = add_member("ann");
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(join(bob));
  auto joined = ann.presence();
  ASSERT_EQ(joined.size(), 1u);
  ASSERT_EQ(joined[0].joined_size(), 1);
  EXPECT_EQ(joined[0].joined(0), "bob");
  EXPECT_TRUE(bob.presence().empty()) << "the joiner gets the full list in its reply";
  self->send_exit(bob.handle, caf::exit_reason::kill);
  run();
  auto diffs = ann.presence();
  ASSERT_EQ(diffs.size(), 2u);
  ASSERT_EQ(diffs[1].left_size(), 1);
  EXPECT_EQ(diffs[1].left(0), "bob");
  auto present = ask<std::vector<std::string>>(room, presence_atom::value);
  ASSERT_TRUE(present);
  EXPECT_EQ(*present, (std::vector<std::string>{"ann"}));
  // Its publishes are no longer accepted.
  auto res = publish(bob, "ghost");
  EXPECT_FALSE(res);
}

TEST_F(RoomTest, PresenceListsEachUserOnce) {
  start();
  auto& ann1 = add_member("ann");
  auto& ann2 = add_member("ann");
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(bob));
  ASSERT_TRUE(join(ann1));
  auto reply = join(ann2);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->members, (std::vector<std::string>{"ann", "bob"}));
  EXPECT_EQ(reply->member_count, 3u);
  // bob saw ann join once; ann's second tab leaving is no presence change.
  EXPECT_EQ(bob.presence().size(), 1u);
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, ann2.id()));
  EXPECT_EQ(bob.presence().size(), 1u);
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, ann1.id()));
  ASSERT_EQ(bob.presence().size(), 2u);
  EXPECT_EQ(bob.presence()[1].left(0), "ann");
}

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

TEST_F(RoomTest, NonMembersCannotPublishAndMembersCannotJoinTwice) {
  start();
  auto& ann = add_member("ann");
  auto res = publish(ann, "not yet");
  ASSERT_FALSE(res);
  EXPECT_TRUE(errc_ns::is(res.error(), errc_ns::errc::not_a_member)) << render(res.error());
  ASSERT_TRUE(join(ann));
  auto again = join(ann);
  ASSERT_FALSE(again);
  EXPECT_TRUE(errc_ns::is(again.error(), errc_ns::errc::already_member));
}

TEST_F(RoomTest, HistoryPagesBackwardsAndReportsGaps) {
  auto cfg = immediate();
  cfg.backlog = 10;
  start(cfg);
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  for (int i = 0; i < 15; ++i)
    ASSERT_TRUE(publish(ann, "m"));
  // Held: 6..15.
  auto newest = ask<history_reply>(room, history_atom::value, history_request{0, 0, 3});
  ASSERT_TRUE(newest);
  EXPECT_EQ(seqs_of(newest->messages), (seqs{13, 14, 15}));
  EXPECT_FALSE(newest->gap) << "limited, not a gap";
  auto older = ask<history_reply>(room, history_atom::value, history_request{13, 0, 3});
  EXPECT_EQ(seqs_of(older->messages), (seqs{10, 11, 12}));
  auto range = ask<history_reply>(room, history_atom::value, history_request{12, 8, 0});
  EXPECT_EQ(seqs_of(range->messages), (seqs{9, 10, 11}));
  EXPECT_FALSE(range->gap);
  auto too_old = ask<history_reply>(room, history_atom::value, history_request{9, 0, 0});
  EXPECT_EQ(seqs_of(too_old->messages), (seqs{6, 7, 8}));
  EXPECT_TRUE(too_old->gap) << "1..5 are no longer held";
}

TEST_F(RoomTest, IdleRoomStopsAfterItsTimeoutUnlessSomeoneJoins) {
  auto cfg = immediate();
  cfg.idle_timeout = std::chrono::seconds(30);
  start(cfg);
  advance_time(std::chrono::seconds(20));
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  advance_time(std::chrono::seconds(20)); // the first timer fires, but ann is here
  EXPECT_FALSE(down_reason(room.address()));
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, ann.id()));
  advance_time(std::chrono::seconds(29));
  EXPECT_FALSE(down_reason(room.address()));
  advance_time(std::chrono::seconds(1));
  auto reason = down_reason(room.address());
  ASSERT_TRUE(reason);
  EXPECT_FALSE(*reason) << "an idle room ends normally";
  room = nullptr;
}

TEST_F(RoomTest, ARestartedRoomContinuesFromItsMemory) {
  start();
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(publish(ann, "one"));
  ASSERT_TRUE(publish(ann, "two"));
  self->send_exit(room, caf::exit_reason::kill);
  run();
  start(); // same memory, as the directory would pass it
  auto& bob = add_member("bob");
  auto reply = join(bob);
  ASSERT_TRUE(reply);
  EXPECT_EQ(seqs_of(reply->messages), (seqs{1, 2}));
  auto seq = publish(bob, "three");
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 3u);
  EXPECT_EQ(memory->incarnations, 2u);
}

TEST_F(RoomTest, PresenceChangesAreBatchedIntoOneDiff) {
  room_config cfg; // the default: batched
  ASSERT_GT(cfg.presence_interval.count(), 0);
  cfg.max_presence_list = 2;
  start(cfg);
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  advance_time(cfg.presence_interval);
  ann.forget();
  auto& bob = add_member("bob");
  auto& cid = add_member("cid");
  auto& dan = add_member("dan");
  ASSERT_TRUE(join(bob));
  ASSERT_TRUE(join(cid));
  auto reply = join(dan);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->member_count, 4u);
  EXPECT_EQ(reply->members.size(), 2u) << "the list is capped, the count is not";
  // cid came and went within the window, after dan's join reply may have
  // listed cid: the diff must still say cid left (a net count would not).
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, cid.id()));
  EXPECT_TRUE(ann.presence().empty()) << "nothing before the interval";
  advance_time(cfg.presence_interval);
  auto diffs = ann.presence();
  ASSERT_EQ(diffs.size(), 1u);
  std::vector<std::string> joined(diffs[0].joined().begin(), diffs[0].joined().end());
  EXPECT_EQ(joined, (std::vector<std::string>{"bob", "dan"}));
  std::vector<std::string> left(diffs[0].left().begin(), diffs[0].left().end());
  EXPECT_EQ(left, (std::vector<std::string>{"cid"}));
  auto dans = dan.presence();
  ASSERT_EQ(dans.size(), 1u) << "the joiner gets the same diff";
  std::vector<std::string> dan_left(dans[0].left().begin(), dans[0].left().end());
  EXPECT_EQ(dan_left, (std::vector<std::string>{"cid"}));
}

TEST_F(RoomTest, ABatchedDiffTellsALateJoinerWhoLeftInTheSameWindow) {
  room_config cfg; // batched
  start(cfg);
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  advance_time(cfg.presence_interval);
  auto& bob = add_member("bob");
  auto& cid = add_member("cid");
  ASSERT_TRUE(join(bob));
  auto reply = join(cid);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->members, (std::vector<std::string>{"ann", "bob", "cid"}));
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, bob.id()));
  advance_time(cfg.presence_interval);
  // cid's view: the list, then the diff. It must end without bob.
  std::set<std::string> view(reply->members.begin(), reply->members.end());
  for (auto& d : cid.presence()) {
    for (auto& u : d.joined())
      view.insert(u);
    for (auto& u : d.left())
      view.erase(u);
  }
  EXPECT_EQ(view, (std::set<std::string>{"ann", "cid"}));
}

namespace {

// A behaviour that accepts one join and then ends normally.
room_behavior_actor::behavior_type quitting_behavior(room_behavior_actor::pointer self, int) {
  return {
    [self](on_join_atom, const join_event&) {
      self->quit();
      return join_verdict::accepted();
    },
    [](on_publish_atom, const publish_event&) { return publish_verdict::passed(); },
    [](on_leave_atom, const leave_event&) { return room_effects{}; },
    [](on_tick_atom, const tick_event&) { return room_effects{}; },
  };
}

} // namespace

TEST_F(RoomTest, ABehaviourThatEndsTakesItsRoomDownForARestart) {
  room_behavior_rule rule;
  rule.factory = [](caf::actor_system& sys, const std::string&) {
    return sys.spawn(quitting_behavior, 0);
  };
  start(immediate(), rule);
  ASSERT_TRUE(join(add_member("ann")));
  auto reason = down_reason(room.address());
  ASSERT_TRUE(reason);
  EXPECT_TRUE(errc_ns::is(*reason, errc_ns::errc::behavior_failed)) << render(*reason);
  room = nullptr;
}

TEST_F(RoomTest, StatsCountTheOpenRoomItsMessagesAndDeliveries) {
  auto cfg = immediate();
  auto stats = cfg.stats;
  start(cfg);
  EXPECT_EQ(stats->open.load(), 1);
  EXPECT_EQ(stats->started.load(), 1u);
  auto& ann = add_member("ann");
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(join(bob));
  auto presence_deliveries = stats->deliveries.load(); // bob's arrival, told to ann
  EXPECT_EQ(presence_deliveries, 1u);
  ASSERT_TRUE(publish(ann, "one"));
  ASSERT_TRUE(publish(bob, "two"));
  EXPECT_EQ(stats->messages.load(), 2u);
  EXPECT_EQ(stats->deliveries.load(), presence_deliveries + 4) << "two messages to two members";
  self->send_exit(room, caf::exit_reason::user_shutdown);
  run();
  EXPECT_TRUE(down_reason(room.address()));
  EXPECT_EQ(stats->open.load(), 0);
  room = nullptr;
}

TEST_F(RoomTest, BigRoomsCollectPresenceChangesLonger) {
  room_config cfg; // batched: 200 ms per 100 members, at most 2 s
  cfg.presence_members_per_interval = 2;
  start(cfg);
  auto& ann = add_member("ann");
  auto& bob = add_member("bob");
  auto& cid = add_member("cid");
  for (auto* m : {&ann, &bob, &cid})
    ASSERT_TRUE(join(*m));
  advance_time(cfg.max_presence_interval); // whatever the joins armed
  ann.forget();
  auto& dan = add_member("dan");
  ASSERT_TRUE(join(dan)); // 4 members: 4 / 2 + 1 = 3 intervals
  advance_time(cfg.presence_interval * 2);
  EXPECT_TRUE(ann.presence().empty()) << "a room of 4 waits 3 intervals, not 1";
  advance_time(cfg.presence_interval);
  ASSERT_EQ(ann.presence().size(), 1u);
  EXPECT_EQ(ann.presence()[0].joined(0), "dan");
}

// -- members on other nodes, through relays ----------------------------------------

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
