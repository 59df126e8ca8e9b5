#pragma once

/// @file
/// A faster writer of protobuf's JSON mapping for Parley's own frames.
///
/// `MessageToJsonString` (protobuf 3.21) serialises the message to binary,
/// then parses that back through its type-resolver machinery to print JSON,
/// allocating at every field. A join reply listing 1000 members spent most
/// of its server time there (perf, docs/benchmarks.md). This writer walks
/// the message with reflection and writes the same bytes directly.
///
/// It covers what parley.v1 uses: strings, bytes, 32/64-bit integers,
/// bools, enums, nested messages, repeated fields. For anything else (maps,
/// floats, well-known types, an enum value without a name, a string that is
/// not valid UTF-8) it returns false and the caller uses protobuf's own
/// printer, so the output is always what protobuf would print; a
/// differential test holds the two to the same bytes.

#include <google/protobuf/message.h>

#include <string>

namespace parley::proto {

/// Appends `msg` in protobuf's JSON mapping (lowerCamelCase names, no
/// whitespace, default values left out) to `out`. False, with `out` in an
/// unspecified state, when the message holds something it does not cover.
bool write_json(const google::protobuf::Message& msg, std::string& out);

} // namespace parley::proto
