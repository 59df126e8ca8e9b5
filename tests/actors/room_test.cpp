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
using parley::test::decode;
using parley::test::frame_log;
using parley::test::probe_impl;
using parley::test::test_sink;
namespace errc_ns = parley::runtime;

namespace {

struct member_probe {
  member_actor handle;
  frame_log log = std::make_shared<std::vector<shared_frame>>();
  std::string user;
  encoding enc = encoding::json;

  /// The seqs of the chat messages received, in order.
  std::vector<seq_t> seqs() const {
    std::vector<seq_t> result;
    for (auto& f : *log) {
      auto frame = decode(f, enc);
      if (frame.has_message())
        result.push_back(frame.message().seq());
    }
    return result;
  }

  std::vector<v1::Presence> presence() const {
    std::vector<v1::Presence> result;
    for (auto& f : *log) {
      auto frame = decode(f, enc);
      if (frame.has_presence())
        result.push_back(frame.presence());
    }
    return result;
  }
};

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

  member_probe& add_member(std::string user, encoding enc = encoding::json) {
    member_probe p;
    p.handle = sys.spawn(probe_impl, p.log);
    p.user = std::move(user);
    p.enc = enc;
    members.push_back(p);
    return members.back();
  }

  caf::expected<join_reply> join(const member_probe& m, std::optional<seq_t> since = {}) {
    return ask<join_reply>(room, join_atom::value, join_request{m.handle, m.user, m.enc, since, {}, nullptr});
  }

  /// Joins with a sink, as a connection does: the room writes to it itself.
  caf::expected<join_reply> join_with_sink(const member_probe& m,
                                           const std::shared_ptr<test_sink>& sink) {
    return ask<join_reply>(room, join_atom::value,
                           join_request{m.handle, m.user, m.enc, {}, {}, sink});
  }

  void ready(const member_probe& m) {
    self->send(room, ready_atom::value, m.handle);
    run();
  }

  static std::vector<seq_t> sink_seqs(test_sink& sink) {
    std::vector<seq_t> result;
    for (auto& f : sink.drain())
      if (f.has_message())
        result.push_back(f.message().seq());
    return result;
  }

  caf::expected<seq_t> publish(const member_probe& m, std::string text) {
    return ask<seq_t>(room, publish_atom::value, publish_request{m.handle, std::move(text), {}});
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
  auto frame = decode(bob.log->back(), encoding::json);
  EXPECT_EQ(frame.message().sender(), "ann");
  EXPECT_EQ(frame.message().text(), "hello");
  EXPECT_EQ(frame.message().room(), "lobby");
  EXPECT_GT(frame.message().server_time_ms(), 0);
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
      self->send(room, publish_atom::value, publish_request{p->handle, "m" + std::to_string(i), {}});
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
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, ann2.handle));
  EXPECT_EQ(bob.presence().size(), 1u);
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, ann1.handle));
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
  auto& fj = j1.log->back();
  auto& fb = b1.log->back();
  // Each member gets its own encoding only, and members of one encoding the
  // very same bytes: one encode per encoding in use.
  ASSERT_TRUE(fj.json && !fj.binary);
  ASSERT_TRUE(fb.binary && !fb.json);
  EXPECT_EQ(j2.log->back().json.get(), fj.json.get());
  EXPECT_EQ(b2.log->back().binary.get(), fb.binary.get());
  EXPECT_EQ(decode(fb, encoding::binary).message().text(), "once");
  EXPECT_EQ(decode(fj, encoding::json).message().text(), "once");
}

TEST_F(RoomTest, AnEncodingNobodyUsesIsNotProduced) {
  start();
  auto& j1 = add_member("j1", encoding::json);
  ASSERT_TRUE(join(j1));
  ASSERT_TRUE(publish(j1, "x"));
  EXPECT_TRUE(j1.log->back().json);
  EXPECT_FALSE(j1.log->back().binary);
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
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, ann.handle));
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
  ann.log->clear();
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
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, cid.handle));
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
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, bob.handle));
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
  ann.log->clear();
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
    ASSERT_TRUE(ask<join_reply>(room, join_atom::value,
                                join_request{m->handle, m->user, m->enc, {}, relay, nullptr}));
  run();
  log->clear();
  ASSERT_EQ(publish(local, "hello"), seq_t{1});
  run();
  // One binary frame for the two members behind the relay; none sent to
  // them directly; the local member got its own.
  ASSERT_EQ(log->size(), 1u);
  v1::ServerFrame f;
  ASSERT_TRUE(f.ParseFromString(log->front().binary));
  EXPECT_EQ(f.message().seq(), 1u);
  EXPECT_EQ(log->front().except, 0u);
  EXPECT_TRUE(far1.seqs().empty());
  EXPECT_TRUE(far2.seqs().empty());
  EXPECT_EQ(local.seqs(), seqs{1});
  self->send_exit(relay, caf::exit_reason::user_shutdown);
}

TEST_F(RoomTest, ARelayThatEndsTakesItsMembersAndTheyCanJoinAgain) {
  start();
  auto log = std::make_shared<std::vector<relay_frame>>();
  auto relay = sys.spawn(fake_relay, log);
  auto& far = add_member("bob");
  ASSERT_TRUE(ask<join_reply>(room, join_atom::value,
                              join_request{far.handle, far.user, far.enc, {}, relay, nullptr}));
  self->send_exit(relay, caf::exit_reason::kill);
  run();
  auto present = ask<std::vector<std::string>>(room, presence_atom::value);
  ASSERT_TRUE(present);
  EXPECT_TRUE(present->empty());
  // Through a new relay, the same member is welcome again.
  auto log2 = std::make_shared<std::vector<relay_frame>>();
  auto relay2 = sys.spawn(fake_relay, log2);
  auto again = ask<join_reply>(room, join_atom::value,
                               join_request{far.handle, far.user, far.enc, {}, relay2, nullptr});
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->member_count, 1u);
  self->send_exit(relay2, caf::exit_reason::user_shutdown);
}

// -- members with a sink: the room writes their frames itself ------------------------

TEST_F(RoomTest, AMemberWithASinkGetsFramesInTheSinkOnlyAfterItIsReady) {
  start();
  auto& ann = add_member("ann");
  auto& bob = add_member("bob", encoding::binary);
  auto sink = std::make_shared<test_sink>(encoding::binary);
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(join_with_sink(bob, sink));
  // Before bob's ready (his join reply is not in his sink yet), the room
  // holds his frames.
  ASSERT_TRUE(publish(ann, "one"));
  ASSERT_TRUE(publish(ann, "two"));
  EXPECT_EQ(sink->queued(), 0u);
  ready(bob);
  EXPECT_EQ(sink_seqs(*sink), (seqs{1, 2}));
  // From then on straight into the sink, never through his mailbox.
  ASSERT_TRUE(publish(ann, "three"));
  EXPECT_EQ(sink_seqs(*sink), (seqs{3}));
  EXPECT_TRUE(bob.log->empty());
  // A member without a sink still gets messages.
  EXPECT_EQ(ann.seqs(), (seqs{1, 2, 3}));
  // A second ready changes nothing.
  ready(bob);
  EXPECT_EQ(sink->queued(), 0u);
}

TEST_F(RoomTest, AMemberWhoseSinkOverflowsIsToldOnceAndGetsNoMore) {
  start();
  auto& ann = add_member("ann");
  auto& bob = add_member("bob");
  outbound_queue::limits tiny;
  tiny.max_frames = 2;
  auto sink = std::make_shared<test_sink>(encoding::json, tiny);
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(join_with_sink(bob, sink));
  ready(bob);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(publish(ann, "m" + std::to_string(i)));
  // Two fit; the third overflowed: bob's connection is told (once), and
  // the room writes nothing more to that sink.
  ASSERT_EQ(bob.log->size(), 1u);
  EXPECT_TRUE(bob.log->front().is_overflow());
  EXPECT_EQ(sink_seqs(*sink), (seqs{1, 2}));
  ASSERT_TRUE(publish(ann, "later"));
  EXPECT_EQ(sink->queued(), 0u);
  EXPECT_EQ(bob.log->size(), 1u);
  EXPECT_EQ(ann.seqs(), (seqs{1, 2, 3, 4, 5, 6}));
}

TEST_F(RoomTest, AMemberThatNeverSaysReadyOverflowsPastTheHeldFrames) {
  start();
  auto& ann = add_member("ann");
  auto& bob = add_member("bob");
  auto sink = std::make_shared<test_sink>(encoding::json);
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(join_with_sink(bob, sink));
  for (size_t i = 0; i < room_state::max_held_frames; ++i)
    self->send(room, publish_atom::value, publish_request{ann.handle, "m", {}});
  run();
  EXPECT_TRUE(bob.log->empty()); // all held
  ASSERT_TRUE(publish(ann, "one too many"));
  ASSERT_EQ(bob.log->size(), 1u);
  EXPECT_TRUE(bob.log->front().is_overflow());
  ready(bob); // too late: nothing held is written
  EXPECT_EQ(sink->queued(), 0u);
}
