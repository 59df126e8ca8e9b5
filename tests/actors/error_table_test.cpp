// The error table (actors/error_table.hpp) is the one place where errors
// become wire codes and close codes. These tests walk it: every entry is a
// code the protocol has and a server may send, every wire code has a
// producer, the connection's mapping reads the table, and /metrics shows
// every close code before the first close.

#include "parley/actors/connection.hpp"
#include "parley/actors/error_table.hpp"
#include "parley/gateway/metrics.hpp"
#include "parley/runtime/errc.hpp"

#include <caf/sec.hpp>
#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace parley::actors;
using parley::runtime::errc;
namespace v1 = parley::v1;

TEST(ErrorTable, EveryErrcMapsToAWireCodeTheProtocolHas) {
  std::set<uint8_t> seen;
  for (auto& m : errc_table) {
    EXPECT_TRUE(seen.insert(static_cast<uint8_t>(m.error)).second)
      << "errc " << int(static_cast<uint8_t>(m.error)) << " listed twice";
    EXPECT_TRUE(v1::ErrorCode_IsValid(m.wire)) << to_string(m.error);
    EXPECT_NE(m.wire, v1::ERROR_CODE_UNSPECIFIED) << to_string(m.error);
  }
  EXPECT_EQ(seen.size(), parley::runtime::errc_count);
}

TEST(ErrorTable, TheConnectionMapsErrorsThroughTheTable) {
  for (auto& m : errc_table)
    EXPECT_EQ(to_error_code(parley::runtime::make_error(m.error, std::string{"why"})), m.wire)
      << to_string(m.error);
  // CAF's own errors: a room that did not answer in time or went away is
  // worth a retry; anything else is ours.
  EXPECT_EQ(to_error_code(caf::make_error(caf::sec::request_timeout)), v1::ERROR_CODE_UNAVAILABLE);
  EXPECT_EQ(to_error_code(caf::make_error(caf::sec::request_receiver_down)),
            v1::ERROR_CODE_UNAVAILABLE);
  EXPECT_EQ(to_error_code(caf::make_error(caf::sec::unexpected_message)),
            v1::ERROR_CODE_INTERNAL);
}

// A wire code nobody sends is a promise the server does not keep: each one
// is produced by the table, by the codec, or named here with its reason.
TEST(ErrorTable, EveryWireCodeHasAProducer) {
  std::set<int> produced;
  for (auto& m : errc_table)
    produced.insert(m.wire);
  // The codec's (proto/parley/proto/codec.cpp), and the connection's own
  // answers to a request it refuses before any actor is asked.
  for (auto code : {v1::ERROR_CODE_BAD_FRAME, v1::ERROR_CODE_UNKNOWN_FIELD,
                    v1::ERROR_CODE_EMPTY_FRAME, v1::ERROR_CODE_TOO_LARGE})
    produced.insert(code);
  // Not sent yet: hello.token is not checked before token authentication.
  std::set<int> unsent = {v1::ERROR_CODE_UNAUTHENTICATED};
  auto* e = v1::ErrorCode_descriptor();
  for (int i = 0; i < e->value_count(); ++i) {
    int code = e->value(i)->number();
    if (code == v1::ERROR_CODE_UNSPECIFIED)
      continue;
    EXPECT_TRUE(produced.count(code) + unsent.count(code) == 1)
      << e->value(i)->name() << " has no producer (or is listed as unsent too)";
  }
}

TEST(ErrorTable, EveryCloseIsACodeAServerMaySend) {
  std::set<std::string_view> labels;
  for (size_t i = 0; i < std::size(close_table); ++i) {
    auto& c = close_table[i];
    EXPECT_EQ(static_cast<size_t>(c.cause), i) << c.label;
    EXPECT_TRUE(labels.insert(c.label).second) << c.label << " twice";
    auto code = static_cast<uint16_t>(c.code);
    // RFC 6455 7.4.1: 1004-1006 and 1015 never go on the wire.
    EXPECT_TRUE((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011)) << code;
    EXPECT_LE(c.reason.size(), 123u) << c.label;
    EXPECT_EQ(&close_of(c.cause), &c);
  }
}

TEST(ErrorTable, MetricsShowEveryCloseCodeFromTheStart) {
  parley::gateway::metrics m;
  auto page = m.render();
  for (auto& c : close_table) {
    auto sample = "parley_gateway_closes_total{code=\"" + std::to_string(static_cast<uint16_t>(c.code))
                  + "\"} 0";
    EXPECT_NE(page.find(sample), std::string::npos) << sample << " missing:\n" << page;
  }
}
