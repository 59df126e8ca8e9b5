#pragma once

/// @file
/// Names people choose: user names in any script, and the key under which
/// two names that look alike collide. Built on ICU (Unicode normalisation,
/// character properties, and the confusables data of Unicode TR39) rather
/// than tables of our own.

#include <string>
#include <string_view>
#include <vector>

namespace parley::actors {

/// A name as checked: its normal form, or why it will not do.
struct checked_name {
  /// The name in Unicode normal form C, when it is good.
  std::string name;
  /// Why the name will not do, in words for the person who chose it
  /// (never a field name); empty when the name is good.
  std::string problem;

  bool ok() const {
    return problem.empty();
  }
};

/// Longest user name, in characters (code points after NFC), not bytes.
inline constexpr size_t max_user_name_chars = 32;

/// A user name from a hello or a token's `sub`: valid UTF-8, taken in NFC;
/// 1 to 32 characters of letters, combining marks, digits, spaces and
/// - _ . ' (no control, format or direction-override characters); not
/// starting with a mark, not starting or ending with a space, no two spaces
/// in a row; and not mixing scripts that look alike (Latin with Cyrillic,
/// say: ICU's "moderately restrictive" level). Never a guest's `~`.
checked_name check_user_name(std::string_view text);

/// A room name: 1 to `max_bytes` bytes of valid UTF-8 already in NFC,
/// letters, marks, digits and - _ . : (no spaces), not starting with '.'
/// or a mark. Returns why not, or an empty string.
std::string room_name_problem(std::string_view name, size_t max_bytes);

/// The keys two names share when they look alike: the TR39 skeleton of the
/// case-folded name, taken both before and after folding ("ann", "Ann",
/// "аnn" with a Cyrillic а share a key; so do "Ian" and "ian", and
/// "paypaI" and "paypal"). One or two keys.
std::vector<std::string> look_alike_keys(std::string_view name);

/// Whether two names share a look-alike key.
bool look_alike(std::string_view a, std::string_view b);

} // namespace parley::actors
