// The outbound half of the protocol edge (gateway/replies.hpp): each reply a
// connection actor gives its sink, as the frame a client reads, in both
// encodings.

#include "parley/actors/replies.hpp"
#include "parley/gateway/replies.hpp"

#include <gtest/gtest.h>

using namespace parley::actors;
using parley::gateway::encode_reply;
using parley::gateway::to_frame;
using parley::proto::encoding;
namespace v1 = parley::v1;

namespace {

// Encoded in `enc` and read back as a client would.
v1::ServerFrame round_trip(const server_reply& r, encoding enc) {
  auto out = encode_reply(r, enc);
  auto res = parley::proto::decode_server(*out.bytes, enc);
  auto* frame = std::get_if<v1::ServerFrame>(&res);
  EXPECT_NE(frame, nullptr) << "the edge wrote a frame that does not decode";
  return frame ? *frame : v1::ServerFrame{};
}

class Replies : public testing::TestWithParam<encoding> {};

} // namespace

TEST_P(Replies, WelcomeCarriesTheLimits) {
  parley::proto::codec_limits lim;
  lim.max_frame_bytes = 1000;
  lim.max_text_bytes = 200;
  lim.max_body_bytes = 300;
  lim.max_room_name_bytes = 40;
  auto f = round_trip({"h1", reply::welcome{"s7", "node-a", lim, 25, 50, 100, "~ann", true}},
                      GetParam());
  EXPECT_EQ(f.ref(), "h1");
  ASSERT_TRUE(f.ack().has_welcome());
  auto& w = f.ack().welcome();
  EXPECT_EQ(w.session_id(), "s7");
  EXPECT_EQ(w.node(), "node-a");
  EXPECT_EQ(w.limits().max_frame_bytes(), 1000u);
  EXPECT_EQ(w.limits().max_text_bytes(), 200u);
  EXPECT_EQ(w.limits().max_body_bytes(), 300u);
  EXPECT_EQ(w.limits().max_room_name_bytes(), 40u);
  EXPECT_EQ(w.limits().backlog(), 25u);
  EXPECT_EQ(w.limits().publish_per_second(), 50u);
  EXPECT_EQ(w.limits().publish_burst(), 100u);
  EXPECT_EQ(w.user(), "~ann");
  EXPECT_TRUE(w.guest());
}

TEST_P(Replies, ALeaveIsAnAckAndARoomThatEndedIsNews) {
  auto asked = round_trip({"l1", reply::left{"lobby", reply::left_reason::requested}}, GetParam());
  EXPECT_EQ(asked.ref(), "l1");
  ASSERT_TRUE(asked.ack().has_left());
  EXPECT_EQ(asked.ack().left().room(), "lobby");
  EXPECT_EQ(asked.ack().left().reason(), v1::LEFT_REASON_REQUESTED);
  EXPECT_FALSE(asked.has_left());

  auto restarted =
    round_trip({"", reply::left{"lobby", reply::left_reason::room_restarted}}, GetParam());
  ASSERT_TRUE(restarted.has_left());
  EXPECT_FALSE(restarted.has_ack());
  EXPECT_EQ(restarted.left().reason(), v1::LEFT_REASON_ROOM_RESTARTED);
  EXPECT_NE(restarted.left().detail().find("sinceSeq"), std::string::npos);

  auto stopped = round_trip({"", reply::left{"lobby", reply::left_reason::room_stopped}},
                            GetParam());
  ASSERT_TRUE(stopped.has_left());
  EXPECT_EQ(stopped.left().reason(), v1::LEFT_REASON_ROOM_STOPPED);
}

TEST_P(Replies, PublishedHistoryPresenceRoomsAndPong) {
  auto pub = round_trip({"p1", reply::published{"lobby", 42}}, GetParam());
  EXPECT_EQ(pub.ack().published().room(), "lobby");
  EXPECT_EQ(pub.ack().published().seq(), 42u);

  history_reply h{"lobby", {{"lobby", 3, "ann", "hi", "", 1700}, {"lobby", 4, "bob", "", "b", 1800}},
                  true};
  auto hist = round_trip({"h1", h}, GetParam());
  ASSERT_EQ(hist.ack().history().messages_size(), 2);
  EXPECT_TRUE(hist.ack().history().gap());
  EXPECT_EQ(hist.ack().history().messages(0).seq(), 3u);
  EXPECT_EQ(hist.ack().history().messages(0).sender(), "ann");
  EXPECT_EQ(hist.ack().history().messages(1).body(), "b");

  auto pres = round_trip({"q1", reply::presence{"lobby", {"ann", "bob"}}}, GetParam());
  ASSERT_EQ(pres.ack().presence().members_size(), 2);
  EXPECT_EQ(pres.ack().presence().members(1), "bob");

  auto list = round_trip({"r1", reply::rooms{{{"a", 2, 10}, {"b", 0, 0}}}}, GetParam());
  ASSERT_EQ(list.ack().rooms().rooms_size(), 2);
  EXPECT_EQ(list.ack().rooms().rooms(0).member_count(), 2u);
  EXPECT_EQ(list.ack().rooms().rooms(0).last_seq(), 10u);

  auto pong = round_trip({"x", reply::pong{5, 9}}, GetParam());
  EXPECT_EQ(pong.ack().pong().client_time_ms(), 5);
  EXPECT_EQ(pong.ack().pong().server_time_ms(), 9);
}

// A frame whose JSON is valid but wrongly typed is answered with the ref
// the codec could read.
TEST_P(Replies, ABadFrameKeepsItsRefAndTheCodecsCode) {
  parley::proto::decode_error err{v1::ERROR_CODE_BAD_FRAME, "ping: expected an object", "m9"};
  server_reply r{err.ref, err};
  auto out = encode_reply(r, GetParam());
  EXPECT_EQ(out.error, v1::ERROR_CODE_BAD_FRAME);
  EXPECT_EQ(out.ref, "m9");
  auto f = round_trip(r, GetParam());
  EXPECT_EQ(f.ref(), "m9");
  EXPECT_EQ(f.error().code(), v1::ERROR_CODE_BAD_FRAME);
  EXPECT_EQ(f.error().reason(), "ping: expected an object");
}

TEST_P(Replies, OnlyErrorsAreCountedAsErrors) {
  auto out = encode_reply({"p1", reply::pong{1, 2}}, GetParam());
  EXPECT_EQ(out.error, v1::ERROR_CODE_UNSPECIFIED);
  EXPECT_TRUE(out.ref.empty());
  out = encode_reply({"p2", reply::failure{parley::runtime::errc::not_a_member, "join first"}},
                     GetParam());
  EXPECT_EQ(out.error, v1::ERROR_CODE_NOT_A_MEMBER);
  EXPECT_EQ(out.reason, "join first");
}

INSTANTIATE_TEST_SUITE_P(BothEncodings, Replies,
                         testing::Values(encoding::json, encoding::binary),
                         [](const auto& info) {
                           return info.param == encoding::json ? std::string{"json"}
                                                               : std::string{"binary"};
                         });
