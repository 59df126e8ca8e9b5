#pragma once

/// @file
/// What a client sees when something goes wrong: the one place where Parley
/// maps its errors to the protocol. Two tables, both constexpr:
///
/// - each `runtime::errc` to the `v1::ErrorCode` of the error frame a client
///   gets (the connection goes on);
/// - each `close_cause` (the ways a server ends a WebSocket) to its close
///   code, its metrics label and the reason sent with it.
///
/// The codec's own failures (BAD_FRAME, UNKNOWN_FIELD, EMPTY_FRAME,
/// TOO_LARGE) are wire codes already: it reports what it could not read.
/// The actors deal in `runtime::errc` and `close_cause` only; the edge
/// (replies.cpp, ws_session.cpp) reads these tables, and so does `/metrics`
/// (`parley_errors_total{code}` by wire code, `parley_gateway_closes_total
/// {code}`). tests/gateway/error_table_test.cpp walks them. Neither CAF nor
/// Beast is included here.

#include "parley/actors/outbound.hpp"
#include "parley/runtime/errc_enum.hpp"
#include "parley/v1/parley.pb.h"

#include <cstdint>
#include <iterator>
#include <string_view>

namespace parley::gateway {

// -- errors that answer a request ---------------------------------------------------

struct errc_mapping {
  runtime::errc error;
  v1::ErrorCode wire;
};

/// Every `runtime::errc`, once, with the wire code a client gets for it.
inline constexpr errc_mapping errc_table[] = {
  // Supervision and the cluster's names: the server's own faults.
  {runtime::errc::duplicate_child, v1::ERROR_CODE_INTERNAL},
  {runtime::errc::unknown_child, v1::ERROR_CODE_INTERNAL},
  {runtime::errc::child_start_failed, v1::ERROR_CODE_INTERNAL},
  {runtime::errc::restart_intensity_exceeded, v1::ERROR_CODE_INTERNAL},
  {runtime::errc::name_taken, v1::ERROR_CODE_INTERNAL},
  {runtime::errc::not_found, v1::ERROR_CODE_INTERNAL},
  {runtime::errc::wrong_interface, v1::ERROR_CODE_INTERNAL},
  {runtime::errc::behavior_failed, v1::ERROR_CODE_INTERNAL},
  // Retry later: the room is (re)starting, moving, or busy.
  {runtime::errc::timeout, v1::ERROR_CODE_UNAVAILABLE},
  {runtime::errc::supervisor_stopping, v1::ERROR_CODE_UNAVAILABLE},
  {runtime::errc::unavailable, v1::ERROR_CODE_UNAVAILABLE},
  {runtime::errc::moved, v1::ERROR_CODE_UNAVAILABLE},
  {runtime::errc::capacity_exceeded, v1::ERROR_CODE_RATE_LIMITED},
  // The history store refused a commit: nothing was acknowledged; retry.
  {runtime::errc::store_unavailable, v1::ERROR_CODE_STORE_UNAVAILABLE},
  // What the client asked for is wrong.
  {runtime::errc::invalid_argument, v1::ERROR_CODE_INVALID_ARGUMENT},
  {runtime::errc::not_a_member, v1::ERROR_CODE_NOT_A_MEMBER},
  {runtime::errc::already_member, v1::ERROR_CODE_ALREADY_MEMBER},
  {runtime::errc::refused, v1::ERROR_CODE_REFUSED},
  {runtime::errc::invalid_room_name, v1::ERROR_CODE_INVALID_ROOM_NAME},
  {runtime::errc::unauthenticated, v1::ERROR_CODE_UNAUTHENTICATED},
  {runtime::errc::forbidden, v1::ERROR_CODE_FORBIDDEN},
  {runtime::errc::name_in_use, v1::ERROR_CODE_NAME_IN_USE},
  // Anything else that went wrong (an error of CAF's own, say).
  {runtime::errc::internal, v1::ERROR_CODE_INTERNAL},
};

/// The wire code for `e`; INTERNAL for a value the table lacks (the table
/// test makes sure there is none).
constexpr v1::ErrorCode wire_code(runtime::errc e) {
  for (auto& m : errc_table)
    if (m.error == e)
      return m.wire;
  return v1::ERROR_CODE_INTERNAL;
}

/// Errors that are the server's to fix (logged as warnings, not at debug).
constexpr bool is_server_fault(v1::ErrorCode code) {
  // STORE_UNAVAILABLE is the server's too, but the store logs it once with
  // a count (store_service.cpp), not once per refused publish.
  return code == v1::ERROR_CODE_INTERNAL || code == v1::ERROR_CODE_UNAVAILABLE;
}

// -- errors that end the connection -------------------------------------------------

/// WebSocket close codes (RFC 6455), the values of Beast's `close_code`.
enum class close_code : uint16_t {
  normal = 1000,
  going_away = 1001,  ///< the server drains
  protocol_error = 1002,
  unsupported = 1003,
  bad_payload = 1007, ///< invalid UTF-8 in a text frame
  policy = 1008,      ///< flood, slow consumer
  too_big = 1009,
  internal = 1011,
};

using actors::close_cause;

struct close_mapping {
  close_cause cause;
  close_code code;
  /// The `cause` label in logs and metrics.
  std::string_view label;
  /// Sent with the close frame (at most 123 bytes); empty where Beast
  /// sends the frame itself.
  std::string_view reason;
};

/// Every `close_cause`, once, in enum order.
inline constexpr close_mapping close_table[] = {
  {close_cause::shutting_down, close_code::going_away, "shutting_down", "server shutting down"},
  {close_cause::crashed, close_code::internal, "crashed",
   "internal error: reconnect and join with sinceSeq"},
  {close_cause::flooding, close_code::policy, "flooding", "rate limit exceeded"},
  {close_cause::slow_consumer, close_code::policy, "slow_consumer",
   "slow consumer: the client does not read fast enough; reconnect and join with sinceSeq"},
  {close_cause::too_big, close_code::too_big, "too_big", ""},
  {close_cause::bad_utf8, close_code::bad_payload, "bad_utf8", ""},
  {close_cause::protocol_violation, close_code::protocol_error, "protocol_violation", ""},
  {close_cause::unauthenticated, close_code::policy, "unauthenticated",
   "unauthenticated: a valid token is required"},
  {close_cause::token_expired, close_code::policy, "token_expired",
   "token expired: reconnect with a fresh one"},
};

constexpr const close_mapping& close_of(close_cause c) {
  return close_table[static_cast<size_t>(c)];
}

} // namespace parley::gateway

namespace parley::gateway::detail {

constexpr bool maps_every_errc_once() {
  if (std::size(errc_table) != runtime::errc_count)
    return false;
  for (uint8_t code = 1; code <= runtime::errc_count; ++code) {
    size_t n = 0;
    for (auto& m : errc_table)
      n += static_cast<uint8_t>(m.error) == code;
    if (n != 1)
      return false;
  }
  return true;
}

constexpr bool closes_in_enum_order() {
  for (size_t i = 0; i < std::size(close_table); ++i)
    if (static_cast<size_t>(close_table[i].cause) != i || close_table[i].reason.size() > 123)
      return false;
  return std::size(close_table) == static_cast<size_t>(close_cause::token_expired) + 1;
}

static_assert(maps_every_errc_once(), "errc_table must list every runtime::errc exactly once");
static_assert(closes_in_enum_order(),
              "close_table must list every close_cause once, in enum order, with reasons of at "
              "most 123 bytes");

} // namespace parley::gateway::detail
