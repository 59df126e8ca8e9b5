// The edge between the protocol and the actors: every kind of client frame
// becomes its plain request, with its ref and every field; a frame without
// a request becomes EMPTY_FRAME with its ref.

#include "parley/gateway/requests.hpp"

#include <gtest/gtest.h>

using namespace parley;
using namespace parley::actors;

namespace {

client_request convert(v1::ClientFrame f) {
  auto res = gateway::to_request(std::move(f));
  EXPECT_TRUE(std::holds_alternative<client_request>(res));
  return std::holds_alternative<client_request>(res) ? std::get<client_request>(std::move(res))
                                                     : client_request{};
}

} // namespace

TEST(ToRequest, EachKindKeepsItsRefAndFields) {
  v1::ClientFrame f;
  f.set_ref("h1");
  f.mutable_hello()->set_user("José");
  auto r = convert(f);
  EXPECT_EQ(r.ref, "h1");
  ASSERT_TRUE(std::holds_alternative<request::hello>(r.what));
  EXPECT_EQ(std::get<request::hello>(r.what).user, "José");

  f.Clear();
  f.set_ref("j1");
  f.mutable_join()->set_room("lobby");
  r = convert(f);
  ASSERT_TRUE(std::holds_alternative<request::join>(r.what));
  EXPECT_EQ(std::get<request::join>(r.what).room, "lobby");
  EXPECT_FALSE(std::get<request::join>(r.what).since) << "no since_seq: the backlog";
  f.mutable_join()->set_since_seq(0);
  r = convert(f);
  ASSERT_TRUE(std::get<request::join>(r.what).since) << "since_seq 0 is a resume from the start";
  EXPECT_EQ(*std::get<request::join>(r.what).since, 0u);

  f.Clear();
  f.set_ref("p1");
  f.mutable_publish()->set_room("lobby");
  f.mutable_publish()->set_text("hi");
  f.mutable_publish()->set_body("{\"x\":1}");
  r = convert(f);
  ASSERT_TRUE(std::holds_alternative<request::publish>(r.what));
  auto& p = std::get<request::publish>(r.what);
  EXPECT_EQ(p.room, "lobby");
  EXPECT_EQ(p.text, "hi");
  EXPECT_EQ(p.body, "{\"x\":1}");

  f.Clear();
  f.set_ref("hi1");
  f.mutable_history()->set_room("lobby");
  f.mutable_history()->set_before_seq(9);
  f.mutable_history()->set_after_seq(3);
  f.mutable_history()->set_limit(4);
  r = convert(f);
  ASSERT_TRUE(std::holds_alternative<request::history>(r.what));
  auto& h = std::get<request::history>(r.what);
  EXPECT_EQ(h.room, "lobby");
  EXPECT_EQ(h.before, 9u);
  EXPECT_EQ(h.after, 3u);
  EXPECT_EQ(h.limit, 4u);

  f.Clear();
  f.set_ref("l1");
  f.mutable_leave()->set_room("attic");
  r = convert(f);
  ASSERT_TRUE(std::holds_alternative<request::leave>(r.what));
  EXPECT_EQ(std::get<request::leave>(r.what).room, "attic");

  f.Clear();
  f.set_ref("pr1");
  f.mutable_presence()->set_room("attic");
  r = convert(f);
  ASSERT_TRUE(std::holds_alternative<request::presence>(r.what));
  EXPECT_EQ(std::get<request::presence>(r.what).room, "attic");

  f.Clear();
  f.set_ref("r1");
  f.mutable_rooms();
  r = convert(f);
  EXPECT_TRUE(std::holds_alternative<request::rooms>(r.what));

  f.Clear();
  f.set_ref("e1");
  f.mutable_ping()->set_client_time_ms(77);
  r = convert(f);
  ASSERT_TRUE(std::holds_alternative<request::ping>(r.what));
  EXPECT_EQ(std::get<request::ping>(r.what).client_time_ms, 77u);
  EXPECT_EQ(r.ref, "e1");
}

TEST(ToRequest, AFrameWithoutARequestIsAnEmptyFrameErrorWithItsRef) {
  v1::ClientFrame f;
  f.set_ref("x9");
  auto res = gateway::to_request(std::move(f));
  ASSERT_TRUE(std::holds_alternative<proto::decode_error>(res));
  auto& err = std::get<proto::decode_error>(res);
  EXPECT_EQ(err.code, v1::ERROR_CODE_EMPTY_FRAME);
  EXPECT_EQ(err.ref, "x9");
  EXPECT_FALSE(err.reason.empty());
}
