#include "parley/actors/names.hpp"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/uspoof.h>
#include <unicode/utf8.h>

#include <memory>
#include <stdexcept>
#include <vector>

namespace parley::actors {

namespace {

/// Decodes strict UTF-8 (no overlong forms, surrogates or truncated
/// sequences); false if `text` is not.
bool decode(std::string_view text, icu::UnicodeString& out) {
  auto* s = reinterpret_cast<const uint8_t*>(text.data());
  auto len = static_cast<int32_t>(text.size());
  if (static_cast<size_t>(len) != text.size())
    return false;
  for (int32_t i = 0; i < len;) {
    UChar32 c;
    U8_NEXT(s, i, len, c);
    if (c < 0)
      return false;
    out.append(c);
  }
  return true;
}

std::string encode(const icu::UnicodeString& s) {
  std::string out;
  s.toUTF8String(out);
  return out;
}

const icu::Normalizer2& nfc() {
  UErrorCode st = U_ZERO_ERROR;
  auto* n = icu::Normalizer2::getNFCInstance(st);
  if (U_FAILURE(st) || n == nullptr)
    throw std::runtime_error(std::string{"ICU has no NFC data: "} + u_errorName(st));
  return *n;
}

struct spoof_closer {
  void operator()(USpoofChecker* sc) const {
    uspoof_close(sc);
  }
};

/// One checker for the process: ICU documents its check and skeleton
/// functions as safe to call from many threads on one configured checker.
const USpoofChecker& checker() {
  static const std::unique_ptr<USpoofChecker, spoof_closer> sc = [] {
    UErrorCode st = U_ZERO_ERROR;
    std::unique_ptr<USpoofChecker, spoof_closer> result{uspoof_open(&st)};
    uspoof_setChecks(result.get(), USPOOF_RESTRICTION_LEVEL | USPOOF_INVISIBLE, &st);
    uspoof_setRestrictionLevel(result.get(), USPOOF_MODERATELY_RESTRICTIVE);
    if (U_FAILURE(st))
      throw std::runtime_error(std::string{"ICU spoof checker: "} + u_errorName(st));
    return result;
  }();
  return *sc;
}

bool is_mark(UChar32 c) {
  return (U_GET_GC_MASK(c) & U_GC_M_MASK) != 0;
}

bool is_letter_or_digit(UChar32 c) {
  return (U_GET_GC_MASK(c) & (U_GC_L_MASK | U_GC_ND_MASK)) != 0;
}

/// Control, format (which holds the direction overrides and zero-width
/// joiners), unassigned, private-use and surrogate code points, and the
/// default-ignorable ones that are letters or marks by category yet show
/// nothing (U+3164 HANGUL FILLER, U+034F COMBINING GRAPHEME JOINER, the
/// variation selectors).
bool is_invisible_or_control(UChar32 c) {
  auto gc = U_GET_GC_MASK(c);
  return (gc & (U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CN_MASK | U_GC_CO_MASK | U_GC_CS_MASK)) != 0
         || u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT);
}

} // namespace

checked_name check_user_name(std::string_view text) {
  checked_name out;
  auto fail = [&](const char* why) {
    out.problem = why;
    out.name.clear();
    return out;
  };
  icu::UnicodeString raw;
  if (!decode(text, raw))
    return fail("a name must be valid UTF-8 text");
  UErrorCode st = U_ZERO_ERROR;
  auto name = nfc().normalize(raw, st);
  if (U_FAILURE(st))
    return fail("a name must be valid Unicode text");
  auto chars = name.countChar32();
  if (chars == 0)
    return fail("a name needs at least one character");
  if (static_cast<size_t>(chars) > max_user_name_chars)
    return fail("a name has at most 32 characters");
  UChar32 prev = 0;
  for (int32_t i = 0; i < name.length(); i = name.moveIndex32(i, 1)) {
    auto c = name.char32At(i);
    if (is_invisible_or_control(c))
      return fail("a name cannot hold control or invisible characters (such as direction "
                  "overrides)");
    if (i == 0 && is_mark(c))
      return fail("a name cannot start with an accent or other combining mark");
    if (c == ' ' && prev == ' ')
      return fail("a name cannot hold two spaces in a row");
    bool ok = is_letter_or_digit(c) || is_mark(c) || c == ' ' || c == '-' || c == '_' || c == '.'
              || c == '\'';
    if (!ok)
      return fail("a name holds letters, digits, spaces and - _ . ' only");
    prev = c;
  }
  if (name.char32At(0) == ' ' || prev == ' ')
    return fail("a name cannot start or end with a space");
  auto utf8 = encode(name);
  auto flags = uspoof_checkUTF8(&checker(), utf8.data(), static_cast<int32_t>(utf8.size()),
                                nullptr, &st);
  if (U_FAILURE(st))
    return fail("a name must be valid Unicode text");
  if ((flags & USPOOF_RESTRICTION_LEVEL) != 0)
    return fail("a name cannot mix letters of scripts that look alike (such as Latin and "
                "Cyrillic)");
  if ((flags & USPOOF_INVISIBLE) != 0)
    return fail("a name cannot repeat a combining mark on one letter");
  out.name = std::move(utf8);
  return out;
}

std::string room_name_problem(std::string_view name, size_t max_bytes) {
  if (name.empty())
    return "a room name needs at least one character";
  if (name.size() > max_bytes)
    return "a room name has at most " + std::to_string(max_bytes) + " bytes";
  icu::UnicodeString s;
  if (!decode(name, s))
    return "a room name must be valid UTF-8 text";
  UErrorCode st = U_ZERO_ERROR;
  if (!nfc().isNormalized(s, st) || U_FAILURE(st))
    return "a room name must be in Unicode normal form C (accents composed with their "
           "letters)";
  for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1)) {
    auto c = s.char32At(i);
    if (i == 0 && c == '.')
      return "a room name cannot start with '.'";
    if (i == 0 && is_mark(c))
      return "a room name cannot start with an accent or other combining mark";
    if (is_invisible_or_control(c))
      return "a room name cannot hold control or invisible characters";
    bool ok = is_letter_or_digit(c) || is_mark(c) || c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok)
      return "a room name holds letters, digits and - _ . : only (no spaces)";
  }
  // "lоbby" with a Cyrillic о would sit in the rooms list beside "lobby".
  auto flags = uspoof_checkUTF8(&checker(), name.data(), static_cast<int32_t>(name.size()),
                                nullptr, &st);
  if (U_FAILURE(st))
    return "a room name must be valid Unicode text";
  if ((flags & USPOOF_RESTRICTION_LEVEL) != 0)
    return "a room name cannot mix letters of scripts that look alike (such as Latin and "
           "Cyrillic)";
  return {};
}

namespace {

icu::UnicodeString skeleton(const icu::UnicodeString& s) {
  UErrorCode st = U_ZERO_ERROR;
  icu::UnicodeString out;
  uspoof_getSkeletonUnicodeString(&checker(), 0, s, out, &st);
  return U_FAILURE(st) ? s : out;
}

} // namespace

std::vector<std::string> look_alike_keys(std::string_view name) {
  icu::UnicodeString s;
  if (!decode(name, s))
    return {std::string{name}};
  // Case folding and the skeleton do not commute: the skeleton makes a
  // capital I an l ("paypaI" looks like "paypal"), folding makes it an i
  // ("Ian" is "ian"). One key for each order; two names look alike when
  // they share either.
  auto skeleton_first = skeleton(s);
  skeleton_first.foldCase();
  auto folded_first = s;
  folded_first.foldCase();
  std::vector<std::string> keys{encode(skeleton(skeleton_first)), encode(skeleton(folded_first))};
  if (keys[0] == keys[1])
    keys.pop_back();
  return keys;
}

bool look_alike(std::string_view a, std::string_view b) {
  for (auto& x : look_alike_keys(a))
    for (auto& y : look_alike_keys(b))
      if (x == y)
        return true;
  return false;
}

} // namespace parley::actors
