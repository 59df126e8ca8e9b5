// The connection actor with a real rooms directory and rooms under CAF's
// test coordinator: each request kind, its errors, the rate limit, slow
// consumers and room restarts. About 500 lines around one fixture; each
// test is short and reads alone.
#include "parley/actors/connection.hpp"

#include "parley/actors/rooms_directory.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/runtime/supervisor.hpp"
#include "support/actor_test.hpp"
#include "support/test_sink.hpp"

#include <caf/actor_cast.hpp>
#include <caf/exit_reason.hpp>
#include <google/protobuf/util/message_differencer.h>

using namespace parley::actors;
using namespace parley::runtime;
using parley::test::actor_test;
using parley::gateway::outbound_queue;
using parley::test::test_sink;

namespace {

struct client {
  connection_actor handle;
  std::shared_ptr<test_sink> sink;
  encoding enc;
};

class ConnectionTest : public actor_test {
protected:
  supervisor_actor root;
  rooms_actor rooms;
  rooms_config rcfg = [] {
    rooms_config cfg;
    cfg.room.presence_interval = caf::timespan{0}; // immediate diffs
    return cfg;
  }();
  connection_config ccfg;
  int sessions = 0;

  void start() {
    root = spawn_supervisor(sys, {}, {rooms_child(rcfg)});
    run();
    auto sub = ask<caf::actor>(root, find_child_atom::value, std::string{"rooms"});
    ASSERT_TRUE(sub);
    auto dir = ask<caf::actor>(caf::actor_cast<supervisor_actor>(*sub), find_child_atom::value,
                               std::string{"directory"});
    ASSERT_TRUE(dir);
    rooms = caf::actor_cast<rooms_actor>(*dir);
  }

  client connect(encoding enc = encoding::json, outbound_queue::limits lim = {}) {
    client c;
    c.enc = enc;
    c.sink = std::make_shared<test_sink>(enc, lim);
    c.handle = sys.spawn(connection_impl, "s" + std::to_string(++sessions), ccfg, rooms,
                         frame_sink_ptr{c.sink}, std::string{});
    self->monitor(c.handle);
    run();
    return c;
  }

  void send(const client& c, client_request r) {
    self->send(c.handle, request_atom::value, std::move(r), c.enc);
    run();
  }

  static client_request hello(std::string ref, std::string user) {
    return {std::move(ref), request::hello{std::move(user), {}}};
  }

  static client_request join(std::string ref, std::string room,
                             std::optional<uint64_t> since = {}) {
    return {std::move(ref), request::join{std::move(room), since}};
  }

  static client_request publish(std::string ref, std::string room, std::string text) {
    return {std::move(ref), request::publish{std::move(room), std::move(text), {}}};
  }

  static client_request ping(std::string ref) {
    return {std::move(ref), request::ping{5}};
  }

  /// Says hello as `user` and joins `room`; returns the joined ack.
  v1::Joined enter(client& c, const std::string& user, const std::string& room) {
    send(c, hello("h", user));
    send(c, join("j", room));
    auto frames = c.sink->drain();
    EXPECT_EQ(frames.size(), 2u);
    if (frames.size() != 2 || !frames[1].ack().has_joined()) {
      ADD_FAILURE() << "no joined ack";
      return {};
    }
    return frames[1].ack().joined();
  }

  void TearDown() override {
    if (root)
      self->send_exit(root, caf::exit_reason::user_shutdown);
    run();
  }
};

std::vector<uint64_t> message_seqs(const std::vector<v1::ServerFrame>& frames) {
  std::vector<uint64_t> result;
  for (auto& f : frames)
    if (f.has_message())
      result.push_back(f.message().seq());
  return result;
}

} // namespace

TEST_F(ConnectionTest, HelloIsAnsweredWithAWelcome) {
  start();
  auto c = connect();
  send(c, hello("r1", "ann"));
  auto frames = c.sink->drain();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].ref(), "r1");
  ASSERT_TRUE(frames[0].ack().has_welcome());
  EXPECT_EQ(frames[0].ack().welcome().session_id(), "s1");
  EXPECT_EQ(frames[0].ack().welcome().limits().backlog(), 25u);
}

TEST_F(ConnectionTest, InvalidUserNameIsRefusedInWordsForThePerson) {
  start();
  auto c = connect();
  for (auto bad : {std::string{" ann"}, std::string{"a<b>"}, std::string(33, 'x'),
                   std::string{"ann\u202e"}, std::string{"\xc3"}}) {
    send(c, hello("r", bad));
    auto frames = c.sink->drain();
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].error().code(), v1::ERROR_CODE_INVALID_ARGUMENT) << bad;
    auto& reason = frames[0].error().reason();
    EXPECT_EQ(reason.rfind("that name will not do: a name ", 0), 0u) << reason;
    EXPECT_EQ(reason.find("hello"), std::string::npos) << "no field names: " << reason;
  }
}

TEST_F(ConnectionTest, NamesInAnyScriptAreWelcomedInNormalFormC) {
  start();
  auto c = connect();
  // "Jose" and a combining acute: the welcome names the composed "José".
  send(c, hello("r", "Jose\u0301"));
  auto frames = c.sink->drain();
  ASSERT_EQ(frames.size(), 1u);
  ASSERT_TRUE(frames[0].ack().has_welcome()) << frames[0].DebugString();
  EXPECT_EQ(frames[0].ack().welcome().user(), "Jos\u00e9");
}

TEST_F(ConnectionTest, PublishReachesEveryMemberWithTheAckToThePublisher) {
  start();
  auto a = connect();
  auto b = connect();
  enter(a, "ann", "lobby");
  auto joined = enter(b, "bob", "lobby");
  EXPECT_EQ(joined.member_count(), 2u);
  EXPECT_EQ(joined.members_size(), 2);
  a.sink->drain(); // bob's presence diff
  send(a, publish("p1", "lobby", "hi bob"));
  auto fa = a.sink->drain();
  auto fb = b.sink->drain();
  ASSERT_EQ(message_seqs(fb), (std::vector<uint64_t>{1}));
  EXPECT_EQ(fb[0].message().sender(), "ann");
  EXPECT_EQ(fb[0].message().text(), "hi bob");
  // The publisher gets the message and exactly one ack with its ref.
  EXPECT_EQ(message_seqs(fa), (std::vector<uint64_t>{1}));
  int acks = 0;
  for (auto& f : fa)
    if (f.ref() == "p1") {
      ++acks;
      ASSERT_TRUE(f.ack().has_published());
      EXPECT_EQ(f.ack().published().seq(), 1u);
    }
  EXPECT_EQ(acks, 1);
}

TEST_F(ConnectionTest, PipelinedJoinAndPublishWork) {
  start();
  auto a = connect();
  self->send(a.handle, request_atom::value, join("j", "lobby"), a.enc);
  self->send(a.handle, request_atom::value, publish("p", "lobby", "right away"), a.enc);
  run();
  auto frames = a.sink->drain();
  ASSERT_GE(frames.size(), 3u);
  EXPECT_EQ(frames[0].ref(), "j");
  EXPECT_TRUE(frames[0].ack().has_joined());
  bool published = false;
  for (auto& f : frames)
    if (f.ref() == "p")
      published = f.ack().has_published();
  EXPECT_TRUE(published);
}

// Join replies are built in a Joined reused across joins on a thread: a
// reply must carry its own room's members and backlog, nothing of the last.
TEST_F(ConnectionTest, EachJoinReplyCarriesOnlyItsOwnRoom) {
  start();
  auto a = connect();
  auto b = connect(encoding::binary);
  enter(a, "ann", "big");
  enter(b, "bob", "big");
  send(a, publish("p1", "big", "one"));
  send(a, publish("p2", "big", "two"));
  b.sink->drain();
  send(b, join("j2", "small"));
  v1::Joined small;
  for (auto& f : b.sink->drain())
    if (f.ref() == "j2" && f.ack().has_joined())
      small = f.ack().joined();
  EXPECT_EQ(small.room(), "small");
  EXPECT_EQ(small.member_count(), 1u);
  ASSERT_EQ(small.members_size(), 1);
  EXPECT_EQ(small.members(0), "bob");
  EXPECT_EQ(small.messages_size(), 0);
  EXPECT_EQ(small.seq(), 0u);
  // And the next big reply has the big room's again.
  auto c = connect();
  auto big = enter(c, "cid", "big");
  EXPECT_EQ(big.members_size(), 3);
  ASSERT_EQ(big.messages_size(), 2);
  EXPECT_EQ(big.messages(1).text(), "two");
}

TEST_F(ConnectionTest, RequestsOutsideAJoinedRoomAreErrorsWithTheRef) {
  start();
  auto a = connect();
  send(a, publish("p", "lobby", "x"));
  send(a, {"l", request::leave{"lobby"}});
  send(a, join("j", "bad room!"));
  auto frames = a.sink->drain();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].ref(), "p");
  EXPECT_EQ(frames[0].error().code(), v1::ERROR_CODE_NOT_A_MEMBER);
  EXPECT_EQ(frames[1].ref(), "l");
  EXPECT_EQ(frames[1].error().code(), v1::ERROR_CODE_NOT_A_MEMBER);
  EXPECT_EQ(frames[2].ref(), "j");
  EXPECT_EQ(frames[2].error().code(), v1::ERROR_CODE_INVALID_ROOM_NAME);
}

TEST_F(ConnectionTest, EmptyPublishAndDoubleJoinAreRefused) {
  start();
  auto a = connect();
  enter(a, "ann", "lobby");
  send(a, publish("p", "lobby", ""));
  send(a, join("j2", "lobby"));
  auto frames = a.sink->drain();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].error().code(), v1::ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(frames[1].error().code(), v1::ERROR_CODE_ALREADY_MEMBER);
}

TEST_F(ConnectionTest, BadFrameGetsAnErrorAndTheConnectionGoesOn) {
  start();
  auto a = connect();
  enter(a, "ann", "lobby");
  parley::proto::decode_error err{v1::ERROR_CODE_UNKNOWN_FIELD, "unknown field in JSON: jion", "7"};
  self->send(a.handle, bad_frame_atom::value, err, a.enc);
  run();
  send(a, publish("p", "lobby", "still here"));
  auto frames = a.sink->drain();
  ASSERT_GE(frames.size(), 2u);
  EXPECT_EQ(frames[0].ref(), "7");
  EXPECT_EQ(frames[0].error().code(), v1::ERROR_CODE_UNKNOWN_FIELD);
  EXPECT_NE(frames[0].error().reason().find("jion"), std::string::npos);
  EXPECT_EQ(message_seqs(frames), (std::vector<uint64_t>{1}));
  EXPECT_FALSE(a.sink->closed());
  EXPECT_EQ(ccfg.stats->bad_frames, 1u);
}

TEST_F(ConnectionTest, FloodsGetRateLimitedThenDisconnected) {
  ccfg.rate = 1;
  ccfg.burst = 3;
  ccfg.max_strikes = 4;
  start();
  auto a = connect();
  for (int i = 0; i < 5; ++i)
    send(a, ping("p" + std::to_string(i)));
  auto frames = a.sink->drain();
  ASSERT_EQ(frames.size(), 5u);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(frames[i].ack().has_pong()) << i;
  for (int i = 3; i < 5; ++i) {
    EXPECT_EQ(frames[i].error().code(), v1::ERROR_CODE_RATE_LIMITED) << i;
    EXPECT_EQ(frames[i].ref(), "p" + std::to_string(i));
  }
  // Tokens come back with time.
  advance_time(std::chrono::seconds(2));
  send(a, ping("later1"));
  send(a, ping("later2"));
  send(a, ping("later3"));
  frames = a.sink->drain();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_TRUE(frames[0].ack().has_pong());
  EXPECT_TRUE(frames[1].ack().has_pong());
  EXPECT_EQ(frames[2].error().code(), v1::ERROR_CODE_RATE_LIMITED);
  // Keep flooding past max_strikes refused requests in a row: closed.
  for (int i = 0; i < 4; ++i)
    send(a, ping("f"));
  EXPECT_TRUE(a.sink->closed());
  EXPECT_EQ(a.sink->closed_for, close_cause::flooding);
  EXPECT_EQ(ccfg.stats->rate_limit_disconnects, 1u);
  EXPECT_TRUE(down_reason(a.handle.address()));
}

TEST_F(ConnectionTest, SlowConsumerIsClosedAndResumesWithoutLoss) {
  start();
  auto a = connect();
  auto slow = connect(encoding::json, {4, 1 << 20});
  enter(a, "ann", "lobby");
  enter(slow, "sid", "lobby");
  a.sink->drain();
  // sid reads nothing; a publishes more than sid's queue holds.
  for (int i = 0; i < 6; ++i)
    send(a, publish("p" + std::to_string(i), "lobby", "m" + std::to_string(i)));
  // The room's write overflowed sid's sink, which closed him (1008) as a
  // gateway session does; his connection actor ends with the session.
  EXPECT_TRUE(slow.sink->closed());
  EXPECT_EQ(slow.sink->closed_for, close_cause::slow_consumer);
  EXPECT_EQ(slow.sink->overflows(), 1u);
  self->send_exit(slow.handle, caf::exit_reason::user_shutdown);
  run();
  EXPECT_TRUE(down_reason(slow.handle.address()));
  auto seen = message_seqs(slow.sink->drain());
  ASSERT_FALSE(seen.empty());
  // The others were told sid left.
  bool left = false;
  for (auto& f : a.sink->drain())
    if (f.has_presence() && f.presence().left_size() == 1)
      left = f.presence().left(0) == "sid";
  EXPECT_TRUE(left);
  // Reconnect and resume from the last seq seen: nothing is lost.
  auto again = connect();
  send(again, hello("h", "sid"));
  send(again, join("j", "lobby", seen.back()));
  auto frames = again.sink->drain();
  ASSERT_EQ(frames.size(), 2u);
  auto& joined = frames[1].ack().joined();
  EXPECT_FALSE(joined.gap());
  std::vector<uint64_t> all = seen;
  for (auto& m : joined.messages())
    all.push_back(m.seq());
  EXPECT_EQ(all, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
}

TEST_F(ConnectionTest, RoomCrashTellsMembersToRejoinAndSeqContinues) {
  start();
  auto a = connect();
  enter(a, "ann", "lobby");
  send(a, publish("p", "lobby", "before"));
  a.sink->drain();
  auto room = ask<room_actor>(rooms, lookup_atom::value, std::string{"lobby"});
  ASSERT_TRUE(room);
  self->send_exit(*room, caf::make_error(caf::sec::runtime_error, "boom"));
  run();
  auto frames = a.sink->drain();
  ASSERT_EQ(frames.size(), 1u);
  ASSERT_TRUE(frames[0].has_left());
  EXPECT_EQ(frames[0].left().room(), "lobby");
  EXPECT_EQ(frames[0].left().reason(), v1::LEFT_REASON_ROOM_RESTARTED);
  send(a, join("j", "lobby", 1));
  send(a, publish("p2", "lobby", "after"));
  frames = a.sink->drain();
  ASSERT_TRUE(frames[0].ack().has_joined());
  EXPECT_EQ(frames[0].ack().joined().seq(), 1u);
  EXPECT_EQ(message_seqs(frames), (std::vector<uint64_t>{2}));
  auto room2 = ask<room_actor>(rooms, lookup_atom::value, std::string{"lobby"});
  ASSERT_TRUE(room2);
  EXPECT_NE(*room2, *room);
}

TEST_F(ConnectionTest, BinaryAndJsonClientsSeeTheSameMessage) {
  start();
  auto bin = connect(encoding::binary);
  auto json = connect(encoding::json);
  enter(bin, "bin", "lobby");
  enter(json, "json", "lobby");
  bin.sink->drain();
  send(json, publish("p", "lobby", "same"));
  v1::Message from_bin;
  v1::Message from_json;
  for (auto& f : bin.sink->drain())
    if (f.has_message())
      from_bin = f.message();
  for (auto& f : json.sink->drain())
    if (f.has_message())
      from_json = f.message();
  EXPECT_EQ(from_bin.text(), "same");
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(from_bin, from_json));
}

TEST_F(ConnectionTest, HistoryAndPresenceAnswerForJoinedRooms) {
  start();
  auto a = connect();
  enter(a, "ann", "lobby");
  for (int i = 0; i < 3; ++i)
    send(a, publish("p", "lobby", "m"));
  a.sink->drain();
  send(a, {"h", request::history{"lobby", 0, 0, 2}});
  send(a, {"pr", request::presence{"lobby"}});
  auto frames = a.sink->drain();
  ASSERT_EQ(frames.size(), 2u);
  ASSERT_EQ(frames[0].ack().history().messages_size(), 2);
  EXPECT_EQ(frames[0].ack().history().messages(0).seq(), 2u);
  ASSERT_EQ(frames[1].ack().presence().members_size(), 1);
  EXPECT_EQ(frames[1].ack().presence().members(0), "ann");
}

TEST_F(ConnectionTest, DirectoryStartsOneRoomPerNameAndForgetsIdleOnes) {
  rcfg.room.idle_timeout = std::chrono::seconds(10);
  start();
  auto r1 = ask<room_actor>(rooms, lookup_atom::value, std::string{"r1"});
  auto r1b = ask<room_actor>(rooms, lookup_atom::value, std::string{"r1"});
  ASSERT_TRUE(r1 && r1b);
  EXPECT_EQ(*r1, *r1b);
  self->monitor(*r1);
  advance_time(std::chrono::seconds(10));
  EXPECT_TRUE(down_reason(r1->address()));
  auto sub = ask<caf::actor>(root, find_child_atom::value, std::string{"rooms"});
  auto room_sup = ask<caf::actor>(caf::actor_cast<supervisor_actor>(*sub), find_child_atom::value,
                                  std::string{"room-sup"});
  auto report = ask<supervisor_report>(caf::actor_cast<supervisor_actor>(*room_sup),
                                       describe_atom::value);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->children.empty()) << "an idle room's spec is dropped";
  auto r1c = ask<room_actor>(rooms, lookup_atom::value, std::string{"r1"});
  ASSERT_TRUE(r1c);
  EXPECT_NE(*r1c, *r1);
}

TEST_F(ConnectionTest, DirectoryRefusesBadRoomNames) {
  start();
  // Not NFC ("e" and a combining acute), not UTF-8, a space, a dot first,
  // a control character, too many bytes.
  for (auto bad : {std::string{}, std::string{".hidden"}, std::string{"a b"},
                   std::string{"cafe\u0301"}, std::string{"\xff\xfe"}, std::string{"a\tb"},
                   std::string(65, 'a')}) {
    auto res = ask<room_actor>(rooms, lookup_atom::value, bad);
    ASSERT_FALSE(res) << bad;
    EXPECT_TRUE(is(res.error(), errc::invalid_room_name)) << bad;
  }
  EXPECT_TRUE(ask<room_actor>(rooms, lookup_atom::value, std::string(64, 'a')));
  // Names in other scripts are rooms too.
  for (auto good : {std::string{"caf\u00e9"}, std::string{"\u0441\u0430\u043b\u043e\u043d"},
                    std::string{"\u4f1a\u8b70\u5ba4:2"}})
    EXPECT_TRUE(ask<room_actor>(rooms, lookup_atom::value, good)) << good;
}

TEST_F(ConnectionTest, RoomsListShowsOpenRoomsWithMembersAndSeq) {
  start();
  auto a = connect();
  auto b = connect(encoding::binary);
  send(a, {"l0", request::rooms{}});
  auto empty = a.sink->drain();
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_EQ(empty[0].ref(), "l0");
  ASSERT_TRUE(empty[0].ack().has_rooms());
  EXPECT_EQ(empty[0].ack().rooms().rooms_size(), 0);

  enter(a, "ann", "lobby");
  enter(b, "bob", "lobby");
  enter(b, "bob", "attic");
  send(a, publish("p1", "lobby", "one"));
  send(a, publish("p2", "lobby", "two"));
  a.sink->drain();
  send(b, {"l1", request::rooms{}});
  auto frames = b.sink->drain();
  ASSERT_FALSE(frames.empty());
  auto& got = frames.back();
  EXPECT_EQ(got.ref(), "l1");
  ASSERT_TRUE(got.ack().has_rooms());
  ASSERT_EQ(got.ack().rooms().rooms_size(), 2);
  auto& attic = got.ack().rooms().rooms(0);
  auto& lobby = got.ack().rooms().rooms(1);
  EXPECT_EQ(attic.name(), "attic") << "sorted by name";
  EXPECT_EQ(attic.member_count(), 1u);
  EXPECT_EQ(attic.last_seq(), 0u);
  EXPECT_EQ(lobby.name(), "lobby");
  EXPECT_EQ(lobby.member_count(), 2u);
  EXPECT_EQ(lobby.last_seq(), 2u);
}

TEST_F(ConnectionTest, ErrorReasonsAreThePlainTextNotCafsRendering) {
  start();
  auto c = connect();
  send(c, hello("h", "ann"));
  send(c, join("j", "a b"));
  auto frames = c.sink->drain();
  ASSERT_EQ(frames.size(), 2u);
  ASSERT_TRUE(frames[1].has_error());
  EXPECT_EQ(frames[1].error().code(), v1::ERROR_CODE_INVALID_ROOM_NAME);
  EXPECT_EQ(frames[1].error().reason(),
            "a room name holds letters, digits and - _ . : only (no spaces)");
}

// CAF 0.17 keeps a monitor in the monitored actor until that actor ends, and
// the entry holds the observer's address: a weak reference that keeps the
// observer's whole allocation alive. A connection that ends while in a room
// must take its monitor out of the room, or the room holds every connection
// that ever closed in it (issue 18). After the end, only the test's own
// address may refer to the connection.
TEST_F(ConnectionTest, AConnectionThatEndsInARoomLeavesNoReferenceInIt) {
  start();
  auto c = connect();
  enter(c, "ann", "lobby");
  auto other = connect();
  enter(other, "bob", "lobby");
  caf::actor_addr addr = c.handle.address();
  auto* block = caf::actor_cast<caf::actor_control_block*>(addr);
  self->send_exit(c.handle, caf::exit_reason::user_shutdown);
  c.handle = nullptr;
  ASSERT_TRUE(down_reason(addr)); // also takes the test's down_msg, which names it
  run();
  // The room still runs (bob is in it) and has forgotten ann.
  auto room = ask<room_actor>(rooms, lookup_atom::value, std::string{"lobby"});
  ASSERT_TRUE(room);
  auto present = ask<std::vector<std::string>>(*room, presence_atom::value);
  ASSERT_TRUE(present);
  EXPECT_EQ(*present, std::vector<std::string>{"bob"});
  EXPECT_EQ(block->weak_refs.load(), 1u)
    << "something still refers to the ended connection (a monitor left in its room?)";
}
