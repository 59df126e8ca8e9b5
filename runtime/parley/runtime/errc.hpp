#pragma once

/// @file
/// Parley's error codes. Errors are values: handlers return `caf::result<T>`,
/// plain functions `caf::expected<T>`, and both carry an `errc` in the
/// "parley" category.

#include "parley/runtime/errc_enum.hpp"

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include <cstdint>
#include <string>

namespace parley::runtime {

// `enum class errc` (the codes themselves) is in errc_enum.hpp.

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
