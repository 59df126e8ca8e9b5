// The fast JSON writer against protobuf's own printer: the same bytes for
// every frame, random ones included, and the printer's own output when the
// writer does not cover a value.

#include "parley/proto/codec.hpp"
#include "parley/proto/json_writer.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

using parley::proto::write_json;
namespace pb = google::protobuf;
namespace v1 = parley::v1;

namespace {

std::string protobuf_json(const pb::Message& m) {
  std::string out;
  pb::util::JsonPrintOptions opts;
  opts.add_whitespace = false;
  opts.always_print_primitive_fields = false;
  opts.preserve_proto_field_names = false;
  EXPECT_TRUE(pb::util::MessageToJsonString(m, &out, opts).ok());
  return out;
}

/// Fills messages with random values through reflection: every field of
/// every parley.v1 message can come up, and strings draw on the characters
/// protobuf escapes (controls, quotes, <, >, DEL, C1 controls, the
/// invisible code points, 4-byte sequences).
class filler {
public:
  explicit filler(uint32_t seed) : rng_(seed) {
    // nop
  }

  void fill(pb::Message& m, int depth) {
    auto* d = m.GetDescriptor();
    auto* r = m.GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      auto* f = d->field(i);
      if (f->containing_oneof() != nullptr)
        continue;
      if (pick(3) == 0)
        continue; // left unset
      if (f->is_repeated()) {
        auto n = pick(4);
        for (uint32_t k = 0; k < n; ++k)
          add(m, *r, f, depth);
      } else {
        set(m, *r, f, depth);
      }
    }
    for (int i = 0; i < d->oneof_decl_count(); ++i) {
      auto* o = d->oneof_decl(i);
      auto k = pick(static_cast<uint32_t>(o->field_count()) + 1);
      if (k < static_cast<uint32_t>(o->field_count()))
        set(m, *r, o->field(static_cast<int>(k)), depth);
    }
  }

private:
  uint32_t pick(uint32_t n) {
    return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_);
  }

  uint64_t number() {
    switch (pick(4)) {
      case 0: return 0;
      case 1: return pick(1000);
      case 2: return std::numeric_limits<uint64_t>::max() - pick(3);
      default: return rng_() * 0x9e3779b97f4a7c15ULL;
    }
  }

  std::string text() {
    static const char* pieces[] = {
      "a", "Z", " ", "0", "\"", "\\", "/", "<", ">", "&", "'", "\n", "\t", "\r", "\b", "\f",
      "\x01", "\x1f", "\x7f", "é", "\xc2\x80", "\xc2\x9f", "\xc2\xa0", "\xc2\xad", "ü",
      "\xd8\x80", "\xdb\x9d", "\xdc\x8f", "\xe1\x9e\xb4", "\xe2\x80\x8b", "\xe2\x80\xa8",
      "\xe2\x80\xae", "\xe2\x81\xa0", "\xe2\x81\xaf", "\xef\xbb\xbf", "\xef\xbf\xb9", "€", "中",
      "😀", "\xf0\x9d\x85\xb3", "\xf3\xa0\x80\x81", "\xf3\xa0\x81\xbf", "\xf4\x8f\xbf\xbf"};
    std::string s;
    auto n = pick(12);
    for (uint32_t i = 0; i < n; ++i)
      s += pieces[pick(sizeof pieces / sizeof pieces[0])];
    return s;
  }

  std::string bytes() {
    std::string s(pick(9), '\0');
    for (auto& c : s)
      c = static_cast<char>(pick(256));
    return s;
  }

  int enum_value(const pb::FieldDescriptor* f) {
    auto* e = f->enum_type();
    return e->value(static_cast<int>(pick(static_cast<uint32_t>(e->value_count()))))->number();
  }

  void set(pb::Message& m, const pb::Reflection& r, const pb::FieldDescriptor* f, int depth) {
    using F = pb::FieldDescriptor;
    switch (f->cpp_type()) {
      case F::CPPTYPE_INT32: r.SetInt32(&m, f, static_cast<int32_t>(number())); break;
      case F::CPPTYPE_UINT32: r.SetUInt32(&m, f, static_cast<uint32_t>(number())); break;
      case F::CPPTYPE_INT64: r.SetInt64(&m, f, static_cast<int64_t>(number())); break;
      case F::CPPTYPE_UINT64: r.SetUInt64(&m, f, number()); break;
      case F::CPPTYPE_BOOL: r.SetBool(&m, f, pick(2) == 1); break;
      case F::CPPTYPE_ENUM: r.SetEnumValue(&m, f, enum_value(f)); break;
      case F::CPPTYPE_STRING:
        r.SetString(&m, f, f->type() == F::TYPE_BYTES ? bytes() : text());
        break;
      case F::CPPTYPE_MESSAGE:
        if (depth < 4)
          fill(*r.MutableMessage(&m, f), depth + 1);
        else
          r.MutableMessage(&m, f); // an empty message: {}
        break;
      default: FAIL() << "parley.v1 has no " << f->cpp_type_name() << " field";
    }
  }

  void add(pb::Message& m, const pb::Reflection& r, const pb::FieldDescriptor* f, int depth) {
    using F = pb::FieldDescriptor;
    switch (f->cpp_type()) {
      case F::CPPTYPE_INT32: r.AddInt32(&m, f, static_cast<int32_t>(number())); break;
      case F::CPPTYPE_UINT32: r.AddUInt32(&m, f, static_cast<uint32_t>(number())); break;
      case F::CPPTYPE_INT64: r.AddInt64(&m, f, static_cast<int64_t>(number())); break;
      case F::CPPTYPE_UINT64: r.AddUInt64(&m, f, number()); break;
      case F::CPPTYPE_BOOL: r.AddBool(&m, f, pick(2) == 1); break;
      case F::CPPTYPE_ENUM: r.AddEnumValue(&m, f, enum_value(f)); break;
      case F::CPPTYPE_STRING:
        r.AddString(&m, f, f->type() == F::TYPE_BYTES ? bytes() : text());
        break;
      case F::CPPTYPE_MESSAGE: {
        auto* child = r.AddMessage(&m, f);
        if (depth < 4)
          fill(*child, depth + 1);
        break;
      }
      default: FAIL() << "parley.v1 has no repeated " << f->cpp_type_name() << " field";
    }
  }

  std::mt19937_64 rng_;
};

template <class Frame>
void expect_same_as_protobuf_for_random_frames(uint32_t seed) {
  filler fill{seed};
  for (int i = 0; i < 3000; ++i) {
    Frame f;
    fill.fill(f, 0);
    std::string ours;
    ASSERT_TRUE(write_json(f, ours)) << f.DebugString();
    ASSERT_EQ(ours, protobuf_json(f)) << f.DebugString();
  }
}

} // namespace

TEST(JsonWriter, WritesWhatProtobufPrintsForRandomServerFrames) {
  expect_same_as_protobuf_for_random_frames<v1::ServerFrame>(1);
}

TEST(JsonWriter, WritesWhatProtobufPrintsForRandomClientFrames) {
  expect_same_as_protobuf_for_random_frames<v1::ClientFrame>(2);
}

TEST(JsonWriter, AJoinReplyWithManyMembers) {
  v1::ServerFrame f;
  f.set_ref("j1");
  auto* joined = f.mutable_ack()->mutable_joined();
  joined->set_room("lobby");
  joined->set_seq(123456789012345ULL);
  for (int i = 0; i < 1000; ++i)
    joined->add_members("user-" + std::to_string(i));
  std::string ours;
  ASSERT_TRUE(write_json(f, ours));
  EXPECT_EQ(ours, protobuf_json(f));
  EXPECT_NE(ours.find("\"seq\":\"123456789012345\""), std::string::npos) << ours;
}

TEST(JsonWriter, LeavesWhatItDoesNotCoverToProtobuf) {
  // An enum value without a name (proto3 enums are open).
  v1::ServerFrame unnamed;
  unnamed.mutable_error()->set_code(static_cast<v1::ErrorCode>(9999));
  std::string ours;
  EXPECT_FALSE(write_json(unnamed, ours));
  // A string that is not UTF-8 (set by code, not parsed).
  v1::ServerFrame broken;
  broken.set_ref("ok\xff");
  ours.clear();
  EXPECT_FALSE(write_json(broken, ours));
  // encode() then falls back to protobuf's printer and prints what it does.
  EXPECT_EQ(parley::proto::encode(unnamed, parley::proto::encoding::json),
            protobuf_json(unnamed));
}
