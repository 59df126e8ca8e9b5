#include "parley/proto/codec.hpp"

#include "parley/proto/json_writer.hpp"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>

#include <mutex>
#include <optional>
#include <stdexcept>

namespace parley::proto {

namespace {

namespace pb = google::protobuf;

// protobuf logs an error line of its own for invalid UTF-8 in a string field;
// we report decode failures to the sender instead, so silence it once.
void quiet_protobuf_logs() {
  static std::once_flag once;
  std::call_once(once, [] { pb::SetLogHandler(nullptr); });
}

decode_error too_large(std::string what, size_t size, size_t limit, std::string ref) {
  return {v1::ERROR_CODE_TOO_LARGE,
          what + " is " + std::to_string(size) + " bytes, the limit is " + std::to_string(limit),
          std::move(ref)};
}

// Checks a string field against its limit; empty reason when within.
bool over(const std::string& value, size_t limit) {
  return value.size() > limit;
}

std::optional<decode_error> check_limits(const v1::ClientFrame& f, const codec_limits& l) {
  const auto& ref = f.ref();
  if (over(ref, l.max_ref_bytes))
    return too_large("ref", ref.size(), l.max_ref_bytes, {});
  auto room = [&](const std::string& name,
                  const char* kind) -> std::optional<decode_error> {
    if (over(name, l.max_room_name_bytes))
      return too_large(std::string{kind} + ".room", name.size(), l.max_room_name_bytes, ref);
    return std::nullopt;
  };
  switch (f.kind_case()) {
    case v1::ClientFrame::kHello:
      for (auto* field : {&f.hello().client_name(), &f.hello().client_version(),
                          &f.hello().token(), &f.hello().user()})
        if (over(*field, l.max_hello_field_bytes))
          return too_large("a hello field", field->size(), l.max_hello_field_bytes, ref);
      return std::nullopt;
    case v1::ClientFrame::kJoin:
      return room(f.join().room(), "join");
    case v1::ClientFrame::kLeave:
      return room(f.leave().room(), "leave");
    case v1::ClientFrame::kPublish:
      if (auto err = room(f.publish().room(), "publish"))
        return err;
      if (over(f.publish().text(), l.max_text_bytes))
        return too_large("publish.text", f.publish().text().size(), l.max_text_bytes, ref);
      if (over(f.publish().body(), l.max_body_bytes))
        return too_large("publish.body", f.publish().body().size(), l.max_body_bytes, ref);
      if (over(f.publish().id(), l.max_ref_bytes))
        return too_large("publish.id", f.publish().id().size(), l.max_ref_bytes, ref);
      return std::nullopt;
    case v1::ClientFrame::kHistory:
      return room(f.history().room(), "history");
    case v1::ClientFrame::kPresence:
      return room(f.presence().room(), "presence");
    case v1::ClientFrame::kPing:
    case v1::ClientFrame::kRooms:
      return std::nullopt;
    case v1::ClientFrame::KIND_NOT_SET:
      break;
  }
  return decode_error{v1::ERROR_CODE_EMPTY_FRAME,
                      "the frame carries no request (expected one of hello, join, leave, "
                      "publish, history, presence, ping, rooms)",
                      ref};
}

template <class Frame>
std::variant<Frame, decode_error> parse(std::string_view payload, encoding enc,
                                        bool ignore_unknown = false) {
  quiet_protobuf_logs();
  Frame frame;
  if (enc == encoding::binary) {
    if (!frame.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
      return decode_error{v1::ERROR_CODE_BAD_FRAME,
                          "invalid protobuf: not a parley.v1 frame (or a string field holds "
                          "invalid UTF-8)",
                          {}};
    return frame;
  }
  pb::util::JsonParseOptions strict;
  strict.ignore_unknown_fields = ignore_unknown;
  auto status = pb::util::JsonStringToMessage(pb::StringPiece{payload.data(), payload.size()},
                                              &frame, strict);
  if (status.ok())
    return frame;
  // Tell an unknown field from broken JSON, and keep the ref if we can: a
  // lenient parse succeeds only when the JSON is fine apart from the fields.
  Frame lenient;
  pb::util::JsonParseOptions loose;
  loose.ignore_unknown_fields = true;
  std::string reason{status.message()};
  if (pb::util::JsonStringToMessage(pb::StringPiece{payload.data(), payload.size()}, &lenient,
                                    loose)
        .ok())
    return decode_error{v1::ERROR_CODE_UNKNOWN_FIELD, "unknown field in JSON: " + reason,
                        lenient.ref()};
  // Valid JSON with a field of the wrong type ({"ref":"m9","ping":5}): the
  // client still gets its ref back, read from the object as plain JSON.
  pb::Struct object;
  if (pb::util::JsonStringToMessage(pb::StringPiece{payload.data(), payload.size()}, &object)
        .ok()) {
    std::string ref;
    if (auto i = object.fields().find("ref");
        i != object.fields().end() && i->second.kind_case() == pb::Value::kStringValue)
      ref = i->second.string_value();
    return decode_error{v1::ERROR_CODE_BAD_FRAME, "invalid frame: " + reason, std::move(ref)};
  }
  return decode_error{v1::ERROR_CODE_BAD_FRAME, "invalid JSON frame: " + reason, {}};
}

} // namespace

const char* to_string(encoding x) {
  return x == encoding::binary ? "binary" : "json";
}

client_decode_result decode_client(std::string_view payload, encoding enc,
                                   const codec_limits& limits) {
  if (payload.size() > limits.max_frame_bytes)
    return too_large("the frame", payload.size(), limits.max_frame_bytes, {});
  auto result = parse<v1::ClientFrame>(payload, enc);
  if (auto* frame = std::get_if<v1::ClientFrame>(&result)) {
    if (auto err = check_limits(*frame, limits))
      return *err;
  } else if (auto& err = std::get<decode_error>(result); over(err.ref, limits.max_ref_bytes)) {
    err.ref.clear(); // a ref too long to echo
  }
  return result;
}

server_decode_result decode_server(std::string_view payload, encoding enc) {
  // Lenient, as binary protobuf is: a client must keep working when a newer
  // server adds a field. (The server is strict with what clients send.)
  return parse<v1::ServerFrame>(payload, enc, true);
}

std::string encode(const google::protobuf::Message& frame, encoding enc) {
  std::string out;
  if (enc == encoding::binary) {
    frame.SerializeToString(&out);
    return out;
  }
  if (write_json(frame, out))
    return out;
  out.clear(); // something the fast writer leaves to protobuf's printer
  pb::util::JsonPrintOptions opts;
  opts.add_whitespace = false;
  opts.always_print_primitive_fields = false;
  opts.preserve_proto_field_names = false;
  auto status = pb::util::MessageToJsonString(frame, &out, opts);
  // Our own messages always convert; a failure here is a broken invariant.
  if (!status.ok())
    throw std::logic_error("cannot encode frame as JSON: " + std::string{status.message()});
  return out;
}

} // namespace parley::proto
