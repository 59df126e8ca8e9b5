#pragma once

/// @file
/// The edge between the protocol and the actors: a decoded client frame
/// becomes the plain request the connection actor takes (or the error a
/// frame without a request gets). Neither Beast nor CAF is included here.

#include "parley/actors/requests.hpp"
#include "parley/proto/codec.hpp"

#include <variant>

namespace parley::gateway {

/// `frame`'s request, or EMPTY_FRAME for a frame that carries none (the
/// codec refuses those already; this is the edge's own check).
std::variant<actors::client_request, proto::decode_error> to_request(v1::ClientFrame&& frame);

} // namespace parley::gateway
