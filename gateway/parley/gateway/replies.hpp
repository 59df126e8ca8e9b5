#pragma once

/// @file
/// The outbound half of the protocol edge (requests.hpp is the inbound
/// half): a connection actor's `server_reply` (actors/replies.hpp) becomes
/// the `ServerFrame` a client reads, its errors mapped through the error
/// table. Every transport encodes replies here. Only declarations: a
/// session's file includes this without the actor headers.

#include "parley/actors/outbound.hpp"
#include "parley/v1/parley.pb.h"

#include <memory>
#include <string>

namespace parley::gateway {

/// The frame a client gets for `r`. A leave the client asked for is an ack;
/// a room that ended is an unsolicited `left`.
v1::ServerFrame to_frame(const actors::server_reply& r);

struct encoded_reply {
  std::shared_ptr<const std::string> bytes;
  /// The wire code if the reply is an error, else ERROR_CODE_UNSPECIFIED.
  v1::ErrorCode error = v1::ERROR_CODE_UNSPECIFIED;
  /// An error's ref and human reason, for the log (empty otherwise).
  std::string ref;
  std::string reason;
};

/// `to_frame(r)` encoded in `enc`, and what the edge logs and counts of it.
encoded_reply encode_reply(const actors::server_reply& r, proto::encoding enc);

} // namespace parley::gateway
