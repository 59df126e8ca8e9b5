#pragma once

/// @file
/// The codec: WebSocket payloads to parley.v1 frames and back. Binary frames
/// carry protobuf, text frames protobuf's canonical JSON mapping of the same
/// messages. Decoding never throws; every failure names what is wrong and
/// keeps the request's ref when it could be read.

#include "parley/v1/parley.pb.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace parley::proto {

namespace v1 = ::parley::v1;

/// How a payload is encoded; the WebSocket frame type tells which.
enum class encoding : uint8_t {
  binary, ///< protobuf binary (binary frames)
  json,   ///< protobuf's JSON mapping (text frames)
};

const char* to_string(encoding x);

/// Size limits checked while decoding. Defaults suit a chat: each has a
/// config key in the gateway.
struct codec_limits {
  /// Whole payload. Larger frames are refused before parsing.
  size_t max_frame_bytes = 64 * 1024;
  /// A request's ref; refs are echoed, so they must stay small.
  size_t max_ref_bytes = 64;
  /// Room names (characters are checked by the rooms directory).
  size_t max_room_name_bytes = 64;
  /// Publish.text.
  size_t max_text_bytes = 4 * 1024;
  /// Publish.body.
  size_t max_body_bytes = 32 * 1024;
  /// Hello.client_name, client_version and token.
  size_t max_hello_field_bytes = 256;
};

/// Why a payload is not a frame.
struct decode_error {
  /// BAD_FRAME, UNKNOWN_FIELD, EMPTY_FRAME or TOO_LARGE.
  v1::ErrorCode code = v1::ERROR_CODE_BAD_FRAME;
  /// Human-readable, names the bad field where there is one.
  std::string reason;
  /// The request's ref if it could be read, else empty.
  std::string ref;
};

using client_decode_result = std::variant<v1::ClientFrame, decode_error>;
using server_decode_result = std::variant<v1::ServerFrame, decode_error>;

/// Decodes what a client sent. Checks `limits` and that the frame carries
/// a request.
client_decode_result decode_client(std::string_view payload, encoding enc,
                                   const codec_limits& limits = {});

/// Decodes what a server sent (for clients and tests). Unknown JSON fields
/// are ignored, as binary protobuf ignores unknown fields: a client keeps
/// working when a newer server adds one.
server_decode_result decode_server(std::string_view payload, encoding enc);

/// Encodes a frame. JSON output uses lowerCamelCase names and omits defaults.
std::string encode(const google::protobuf::Message& frame, encoding enc);

} // namespace parley::proto
