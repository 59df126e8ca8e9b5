#pragma once

/// @file
/// Parley's error codes. Errors are values: handlers return `caf::result<T>`,
/// plain functions `caf::expected<T>`, and both carry an `errc` in the
/// "parley" category.

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include <cstdint>
#include <string>

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
};

/// The error category of `errc`.
constexpr caf::atom_value errc_category = caf::atom("parley");

std::string to_string(errc x);

inline caf::error make_error(errc x) {
  return {static_cast<uint8_t>(x), errc_category};
}

template <class T, class... Ts>
caf::error make_error(errc x, T&& arg, Ts&&... args) {
  return {static_cast<uint8_t>(x), errc_category,
          caf::make_message(std::forward<T>(arg), std::forward<Ts>(args)...)};
}

/// True if `err` is `code` in the Parley category.
inline bool is(const caf::error& err, errc code) {
  // CAF 0.17 reads an empty error's category through a null pointer.
  if (!err)
    return false;
  return err.category() == errc_category && err.code() == static_cast<uint8_t>(code);
}

} // namespace parley::runtime
