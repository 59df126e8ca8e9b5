#include "parley/proto/json_writer.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/strutil.h>

#include <charconv>
#include <cstdint>
#include <vector>

namespace parley::proto {

namespace {

namespace pb = google::protobuf;

constexpr char hex_digits[] = "0123456789abcdef";

void append_u16_escape(uint32_t unit, std::string& out) {
  char buf[6] = {'\\', 'u', hex_digits[(unit >> 12) & 0xf], hex_digits[(unit >> 8) & 0xf],
                 hex_digits[(unit >> 4) & 0xf], hex_digits[unit & 0xf]};
  out.append(buf, sizeof buf);
}

/// Code points protobuf's printer writes as \u escapes beyond the control
/// characters: invisible and formatting characters (a JavaScript safety
/// measure of protobuf's, kept so the bytes match).
bool escaped_above_ascii(uint32_t cp) {
  if (cp < 0xa0)
    return cp >= 0x7f; // DEL and the C1 controls
  switch (cp) {
    case 0x00ad:
    case 0x06dd:
    case 0x070f:
    case 0x17b4:
    case 0x17b5:
    case 0xfeff:
    case 0xfff9:
    case 0xfffa:
    case 0xfffb:
      return true;
    default:
      break;
  }
  return (cp >= 0x0600 && cp <= 0x0603) || (cp >= 0x200b && cp <= 0x200f)
         || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2064)
         || (cp >= 0x206a && cp <= 0x206f) || cp == 0xe0001 || (cp >= 0x1d173 && cp <= 0x1d17a)
         || (cp >= 0xe0020 && cp <= 0xe007f);
}

/// Decodes one UTF-8 sequence at `p`; its length, or 0 if invalid
/// (overlong forms, surrogates and values past U+10FFFF included).
size_t decode_utf8(const unsigned char* p, const unsigned char* end, uint32_t& cp) {
  auto b0 = p[0];
  size_t len = 0;
  uint32_t min = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
    cp = b0 & 0x1f;
    min = 0x80;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    cp = b0 & 0x0f;
    min = 0x800;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (static_cast<size_t>(end - p) < len)
    return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

/// Bytes that end a run copied as is: controls, '"', '\\', '<', '>', DEL
/// and every byte of a multi-byte sequence (checked one by one).
struct special_bytes {
  bool table[256] = {};

  constexpr special_bytes() {
    for (int c = 0; c < 256; ++c)
      table[c] = c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>';
  }
};

constexpr special_bytes special;

/// Appends `s` as a JSON string; false on invalid UTF-8.
bool append_string(const std::string& s, std::string& out) {
  out.push_back('"');
  auto* p = reinterpret_cast<const unsigned char*>(s.data());
  auto* end = p + s.size();
  auto* plain = p; // start of the run not yet copied
  while (p < end) {
    auto c = *p;
    if (!special.table[c]) {
      ++p;
      continue;
    }
    out.append(reinterpret_cast<const char*>(plain), static_cast<size_t>(p - plain));
    if (c < 0x80) {
      switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\b': out.append("\\b"); break;
        case '\t': out.append("\\t"); break;
        case '\n': out.append("\\n"); break;
        case '\f': out.append("\\f"); break;
        case '\r': out.append("\\r"); break;
        default: append_u16_escape(c, out); break; // controls, <, >, DEL
      }
      plain = ++p;
      continue;
    }
    uint32_t cp = 0;
    auto len = decode_utf8(p, end, cp);
    if (len == 0)
      return false;
    if (!escaped_above_ascii(cp)) {
      out.append(reinterpret_cast<const char*>(p), len);
    } else if (cp < 0x10000) {
      append_u16_escape(cp, out);
    } else {
      auto v = cp - 0x10000;
      append_u16_escape(0xd800 + (v >> 10), out);
      append_u16_escape(0xdc00 + (v & 0x3ff), out);
    }
    p += len;
    plain = p;
  }
  out.append(reinterpret_cast<const char*>(plain), static_cast<size_t>(end - plain));
  out.push_back('"');
  return true;
}

template <class Int>
void append_int(Int v, std::string& out, bool quoted) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  if (quoted)
    out.push_back('"');
  out.append(buf, static_cast<size_t>(res.ptr - buf));
  if (quoted)
    out.push_back('"');
}

bool append_message(const pb::Message& m, std::string& out);

/// One value of field `f` (element `i` when repeated, else -1).
bool append_value(const pb::Message& m, const pb::Reflection& r, const pb::FieldDescriptor* f,
                  int i, std::string& out) {
  using F = pb::FieldDescriptor;
  bool rep = i >= 0;
  switch (f->cpp_type()) {
    case F::CPPTYPE_INT32:
      append_int(rep ? r.GetRepeatedInt32(m, f, i) : r.GetInt32(m, f), out, false);
      return true;
    case F::CPPTYPE_UINT32:
      append_int(rep ? r.GetRepeatedUInt32(m, f, i) : r.GetUInt32(m, f), out, false);
      return true;
    case F::CPPTYPE_INT64: // 64-bit integers are strings in the JSON mapping
      append_int(rep ? r.GetRepeatedInt64(m, f, i) : r.GetInt64(m, f), out, true);
      return true;
    case F::CPPTYPE_UINT64:
      append_int(rep ? r.GetRepeatedUInt64(m, f, i) : r.GetUInt64(m, f), out, true);
      return true;
    case F::CPPTYPE_BOOL:
      out.append((rep ? r.GetRepeatedBool(m, f, i) : r.GetBool(m, f)) ? "true" : "false");
      return true;
    case F::CPPTYPE_ENUM: {
      auto number = rep ? r.GetRepeatedEnumValue(m, f, i) : r.GetEnumValue(m, f);
      auto* value = f->enum_type()->FindValueByNumber(number);
      if (value == nullptr)
        return false; // an open enum's unnamed value: protobuf's rules
      out.push_back('"');
      out.append(value->name());
      out.push_back('"');
      return true;
    }
    case F::CPPTYPE_STRING: {
      std::string scratch;
      const auto& s = rep ? r.GetRepeatedStringReference(m, f, i, &scratch)
                          : r.GetStringReference(m, f, &scratch);
      if (f->type() == F::TYPE_BYTES) {
        std::string encoded;
        pb::Base64Escape(s, &encoded); // standard alphabet, padded
        out.push_back('"');
        out.append(encoded);
        out.push_back('"');
        return true;
      }
      return append_string(s, out);
    }
    case F::CPPTYPE_MESSAGE: {
      auto* type = f->message_type();
      if (type->file()->package() == "google.protobuf")
        return false; // well-known types have mappings of their own
      return append_message(rep ? r.GetRepeatedMessage(m, f, i) : r.GetMessage(m, f), out);
    }
    case F::CPPTYPE_FLOAT:
    case F::CPPTYPE_DOUBLE:
      return false; // protobuf's float formatting is its own
  }
  return false;
}

bool append_message(const pb::Message& m, std::string& out) {
  const auto* r = m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields); // set fields, by number: protobuf's order
  out.push_back('{');
  bool first = true;
  for (auto* f : fields) {
    if (f->is_map() || f->is_extension())
      return false;
    if (!first)
      out.push_back(',');
    first = false;
    out.push_back('"');
    out.append(f->json_name());
    out.append("\":");
    if (f->is_repeated() && f->type() == pb::FieldDescriptor::TYPE_STRING) {
      // Member lists: read the strings straight from their container rather
      // than through a virtual call each.
      out.push_back('[');
      bool first_item = true;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      // Deprecated in favour of GetRepeatedFieldRef, whose iterator makes a
      // virtual call and a copy per element; protobuf 3.21 (Debian 12) has it.
      const auto& strings = r->GetRepeatedPtrField<std::string>(m, f);
#pragma GCC diagnostic pop
      for (const auto& s : strings) {
        if (!first_item)
          out.push_back(',');
        first_item = false;
        if (!append_string(s, out))
          return false;
      }
      out.push_back(']');
    } else if (f->is_repeated()) {
      out.push_back('[');
      int n = r->FieldSize(m, f);
      for (int i = 0; i < n; ++i) {
        if (i > 0)
          out.push_back(',');
        if (!append_value(m, *r, f, i, out))
          return false;
      }
      out.push_back(']');
    } else if (!append_value(m, *r, f, -1, out)) {
      return false;
    }
  }
  out.push_back('}');
  return true;
}

} // namespace

bool write_json(const google::protobuf::Message& msg, std::string& out) {
  return append_message(msg, out);
}

} // namespace parley::proto
