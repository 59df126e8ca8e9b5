#include "parley/proto/codec.hpp"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

using namespace parley::proto;
using google::protobuf::util::MessageDifferencer;

namespace {

v1::ClientFrame decode_ok(std::string_view payload, encoding enc, const codec_limits& l = {}) {
  auto res = decode_client(payload, enc, l);
  if (auto* err = std::get_if<decode_error>(&res)) {
    ADD_FAILURE() << "unexpected decode error: " << err->reason;
    return {};
  }
  return std::get<v1::ClientFrame>(res);
}

decode_error decode_fail(std::string_view payload, encoding enc, const codec_limits& l = {}) {
  auto res = decode_client(payload, enc, l);
  if (auto* err = std::get_if<decode_error>(&res))
    return *err;
  ADD_FAILURE() << "decoded what should have failed: " << payload;
  return {};
}

v1::ClientFrame publish_frame() {
  v1::ClientFrame f;
  f.set_ref("42");
  auto* p = f.mutable_publish();
  p->set_room("lobby");
  p->set_text("héllo, wörld");
  p->set_body(std::string{"\x00\x01\xff binary", 10});
  return f;
}

} // namespace

TEST(CodecTest, JsonJoinFromABrowser) {
  auto f = decode_ok(R"({"ref":"1","join":{"room":"lobby"}})", encoding::json);
  EXPECT_EQ(f.ref(), "1");
  ASSERT_EQ(f.kind_case(), v1::ClientFrame::kJoin);
  EXPECT_EQ(f.join().room(), "lobby");
  EXPECT_FALSE(f.join().has_since_seq());
}

TEST(CodecTest, JsonAcceptsSnakeCaseAndStringInt64) {
  auto f = decode_ok(R"({"ref":"2","join":{"room":"r","since_seq":"17"}})", encoding::json);
  ASSERT_TRUE(f.join().has_since_seq());
  EXPECT_EQ(f.join().since_seq(), 17u);
  auto g = decode_ok(R"({"ref":"2","join":{"room":"r","sinceSeq":17}})", encoding::json);
  EXPECT_EQ(g.join().since_seq(), 17u);
}

TEST(CodecTest, BinaryAndJsonGiveTheSameClientFrame) {
  auto original = publish_frame();
  auto bin = decode_ok(encode(original, encoding::binary), encoding::binary);
  auto json = decode_ok(encode(original, encoding::json), encoding::json);
  EXPECT_TRUE(MessageDifferencer::Equals(bin, original)) << bin.DebugString();
  EXPECT_TRUE(MessageDifferencer::Equals(json, original)) << json.DebugString();
}

TEST(CodecTest, BinaryAndJsonGiveTheSameServerFrame) {
  v1::ServerFrame f;
  f.set_ref("9");
  auto* joined = f.mutable_ack()->mutable_joined();
  joined->set_room("lobby");
  joined->set_seq(uint64_t{1} << 40);
  joined->set_member_count(3);
  auto* m = joined->add_messages();
  m->set_seq(uint64_t{1} << 40);
  m->set_sender("ann");
  m->set_text("hi");
  m->set_server_time_ms(1700000000123);
  for (auto enc : {encoding::binary, encoding::json}) {
    auto res = decode_server(encode(f, enc), enc);
    ASSERT_TRUE(std::holds_alternative<v1::ServerFrame>(res)) << to_string(enc);
    EXPECT_TRUE(MessageDifferencer::Equals(std::get<v1::ServerFrame>(res), f)) << to_string(enc);
  }
  // 64-bit integers are strings in JSON, names lowerCamelCase.
  auto json = encode(f, encoding::json);
  EXPECT_NE(json.find(R"("seq":"1099511627776")"), std::string::npos) << json;
  EXPECT_NE(json.find("memberCount"), std::string::npos) << json;
}

TEST(CodecTest, InvalidProtobufIsABadFrame) {
  auto err = decode_fail(std::string{"\xff\xff\xff\xff", 4}, encoding::binary);
  EXPECT_EQ(err.code, v1::ERROR_CODE_BAD_FRAME);
  EXPECT_NE(err.reason.find("invalid protobuf"), std::string::npos) << err.reason;
}

TEST(CodecTest, InvalidUtf8InABinaryStringFieldIsABadFrame) {
  // Field 1 (ref), length 2, bytes that are not UTF-8.
  auto err = decode_fail(std::string{"\x0a\x02\xff\xfe", 4}, encoding::binary);
  EXPECT_EQ(err.code, v1::ERROR_CODE_BAD_FRAME);
}

TEST(CodecTest, TruncatedProtobufIsABadFrame) {
  auto whole = encode(publish_frame(), encoding::binary);
  auto err = decode_fail(std::string_view{whole}.substr(0, whole.size() - 3), encoding::binary);
  EXPECT_EQ(err.code, v1::ERROR_CODE_BAD_FRAME);
}

TEST(CodecTest, InvalidJsonIsABadFrame) {
  for (auto text : {R"({"ref":)", "not json", R"({"ref":"1","join":{"room":"x"})", ""}) {
    auto err = decode_fail(text, encoding::json);
    EXPECT_EQ(err.code, v1::ERROR_CODE_BAD_FRAME) << text;
    EXPECT_NE(err.reason.find("invalid JSON"), std::string::npos) << err.reason;
  }
}

TEST(CodecTest, WrongJsonTypeIsABadFrame) {
  auto err = decode_fail(R"({"ref":"1","join":{"room":["a"]}})", encoding::json);
  EXPECT_EQ(err.code, v1::ERROR_CODE_BAD_FRAME);
}

// Valid JSON whose fields have the wrong types still answers with its ref,
// so the client can tell which request failed.
TEST(CodecTest, WrongJsonTypeKeepsTheRef) {
  auto err = decode_fail(R"({"ref":"m9","ping":5})", encoding::json);
  EXPECT_EQ(err.code, v1::ERROR_CODE_BAD_FRAME);
  EXPECT_EQ(err.ref, "m9");
  EXPECT_NE(err.reason.find("ping"), std::string::npos) << err.reason;
  auto nested = decode_fail(R"({"ref":"j2","join":{"room":["a"]}})", encoding::json);
  EXPECT_EQ(nested.ref, "j2");
  // A ref that is not a string, or too long to echo, is not echoed.
  EXPECT_EQ(decode_fail(R"({"ref":5,"ping":{}})", encoding::json).ref, "");
  EXPECT_EQ(decode_fail(R"({"ref":"x","ping":[]})", encoding::json).ref, "x");
  auto long_ref = std::string(parley::proto::codec_limits{}.max_ref_bytes + 1, 'r');
  EXPECT_EQ(decode_fail(R"({"ref":")" + long_ref + R"(","ping":5})", encoding::json).ref, "");
  // Broken JSON has no ref to keep.
  EXPECT_EQ(decode_fail(R"({"ref":"m9","ping":)", encoding::json).ref, "");
}

TEST(CodecTest, TwoRequestsInOneFrameAreRefused) {
  auto err = decode_fail(R"({"ref":"1","join":{"room":"a"},"leave":{"room":"a"}})",
                         encoding::json);
  EXPECT_EQ(err.code, v1::ERROR_CODE_BAD_FRAME);
}

TEST(CodecTest, UnknownJsonFieldIsNamedAndKeepsTheRef) {
  auto err = decode_fail(R"({"ref":"7","jion":{"room":"lobby"}})", encoding::json);
  EXPECT_EQ(err.code, v1::ERROR_CODE_UNKNOWN_FIELD);
  EXPECT_EQ(err.ref, "7");
  EXPECT_NE(err.reason.find("jion"), std::string::npos) << err.reason;
  auto nested = decode_fail(R"({"ref":"8","join":{"room":"lobby","color":"red"}})", encoding::json);
  EXPECT_EQ(nested.code, v1::ERROR_CODE_UNKNOWN_FIELD);
  EXPECT_EQ(nested.ref, "8");
  EXPECT_NE(nested.reason.find("color"), std::string::npos) << nested.reason;
}

TEST(CodecTest, EmptyOneofIsRefusedWithTheRef) {
  auto err = decode_fail(R"({"ref":"3"})", encoding::json);
  EXPECT_EQ(err.code, v1::ERROR_CODE_EMPTY_FRAME);
  EXPECT_EQ(err.ref, "3");
  auto bin = decode_fail("", encoding::binary);
  EXPECT_EQ(bin.code, v1::ERROR_CODE_EMPTY_FRAME);
}

TEST(CodecTest, OversizedFieldsAreRefusedNamingTheField) {
  codec_limits l;
  l.max_ref_bytes = 4;
  l.max_room_name_bytes = 5;
  l.max_text_bytes = 6;
  l.max_body_bytes = 7;
  l.max_hello_field_bytes = 8;
  struct probe {
    std::string json;
    std::string field;
  };
  for (auto& p : std::vector<probe>{
         {R"({"ref":"12345","ping":{}})", "ref"},
         {R"({"ref":"1","join":{"room":"abcdef"}})", "join.room"},
         {R"({"ref":"1","leave":{"room":"abcdef"}})", "leave.room"},
         {R"({"ref":"1","history":{"room":"abcdef"}})", "history.room"},
         {R"({"ref":"1","presence":{"room":"abcdef"}})", "presence.room"},
         {R"({"ref":"1","publish":{"room":"r","text":"1234567"}})", "publish.text"},
         {R"({"ref":"1","publish":{"room":"r","body":"MTIzNDU2Nzg="}})", "publish.body"},
         {R"({"ref":"1","publish":{"room":"r","text":"t","id":"12345"}})", "publish.id"},
         {R"({"ref":"1","hello":{"clientName":"123456789"}})", "hello"},
       }) {
    auto err = decode_fail(p.json, encoding::json, l);
    EXPECT_EQ(err.code, v1::ERROR_CODE_TOO_LARGE) << p.json;
    EXPECT_NE(err.reason.find(p.field), std::string::npos) << err.reason;
    if (p.field != "ref") {
      EXPECT_EQ(err.ref, "1") << p.json;
    }
  }
  // Exactly at the limit is fine.
  decode_ok(R"({"ref":"1234","publish":{"room":"abcde","text":"123456"}})", encoding::json, l);
}

TEST(CodecTest, OversizedFrameIsRefusedBeforeParsing) {
  codec_limits l;
  l.max_frame_bytes = 16;
  auto err = decode_fail(R"({"ref":"1","ping":{"clientTimeMs":"1"}})", encoding::json, l);
  EXPECT_EQ(err.code, v1::ERROR_CODE_TOO_LARGE);
  EXPECT_NE(err.reason.find("frame"), std::string::npos);
}

TEST(CodecTest, ServerFramesWithFieldsFromANewerServerStillDecode) {
  auto res = decode_server(R"({"ref":"1","ack":{"pong":{"clientTimeMs":"5","uptimeMs":"9"}},)"
                           R"("traceId":"abc"})",
                           encoding::json);
  ASSERT_TRUE(std::holds_alternative<v1::ServerFrame>(res))
    << std::get<parley::proto::decode_error>(res).reason;
  auto& f = std::get<v1::ServerFrame>(res);
  EXPECT_EQ(f.ref(), "1");
  EXPECT_EQ(f.ack().pong().client_time_ms(), 5u);
  // Broken JSON is still refused.
  EXPECT_FALSE(std::holds_alternative<v1::ServerFrame>(decode_server("{\"ref\":", encoding::json)));
}
