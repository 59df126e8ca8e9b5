#pragma once

/// @file
/// Parley's error codes as a plain enum, without CAF: for code that maps
/// them (gateway/error_table.hpp) and must not pull CAF in. `errc.hpp` makes
/// them CAF errors in the "parley" category.

#include <cstdint>

namespace parley::runtime {

enum class errc : uint8_t {
  /// A child spec reused an id the supervisor already has.
  duplicate_child = 1,
  /// No child with the given id.
  unknown_child,
  /// A child's start function failed or returned an invalid handle.
  child_start_failed,
  /// A supervisor saw more restarts than its intensity allows in its period.
  restart_intensity_exceeded,
  /// A request did not complete within its deadline.
  timeout,
  /// A bounded queue or pool refused more work.
  capacity_exceeded,
  /// An argument is out of its documented range.
  invalid_argument,
  /// The supervisor is stopping and takes no new work.
  supervisor_stopping,
  // -- chat ------------------------------------------------------------------------
  /// The request needs membership of the room.
  not_a_member,
  /// The member is in the room already.
  already_member,
  /// A room behaviour refused the request; the context says why.
  refused,
  /// A room name outside the allowed length or characters.
  invalid_room_name,
  /// A room behaviour failed to answer.
  behavior_failed,
  /// A room or its node is not reachable right now; retry.
  unavailable,
  // -- cluster ---------------------------------------------------------------------
  /// A name (or a node name) is held by another live actor (or node).
  name_taken,
  /// Nothing is registered under the name.
  not_found,
  /// The actor found has another interface than the handle asked for.
  wrong_interface,
  // -- access ----------------------------------------------------------------------
  /// No valid token: missing where one is required, forged, expired, or for
  /// another audience.
  unauthenticated,
  /// The user may not do this in this room (their token's grants, or the
  /// guests' rooms).
  forbidden,
  // -- history ---------------------------------------------------------------------
  /// The history store could not commit (or read): nothing of the request
  /// was acknowledged or delivered; retry.
  store_unavailable,
  /// Another node holds the room now (the store's fencing epoch is past
  /// this node's): the room stops here and its members join again. An
  /// actor that ends with it is done, not failed: not restarted.
  moved,
  // -- names ------------------------------------------------------------------------
  /// Someone present in the room goes by another name that looks the same
  /// (Unicode confusables): pick another name.
  name_in_use,
  // -- other -----------------------------------------------------------------------
  /// An error the server did not expect (one of CAF's own, say).
  internal,
};

/// How many codes there are (they run from 1 to this). Update it with the
/// enum: gateway/error_table.hpp checks at compile time that it maps each.
constexpr uint8_t errc_count = static_cast<uint8_t>(errc::internal);

} // namespace parley::runtime
