// The error table (gateway/error_table.hpp) is the one place where errors
// become wire codes and close codes. These tests walk it: every entry is a
// code the protocol has and a server may send, every wire code has a
// producer, error replies are encoded through the table, and /metrics shows
// every close code and every error code before the first one is sent.

#include "parley/actors/connection.hpp"
#include "parley/gateway/error_table.hpp"
#include "parley/gateway/metrics.hpp"
#include "parley/gateway/replies.hpp"
#include "parley/runtime/errc.hpp"

#include <caf/sec.hpp>
#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace parley::gateway;
using parley::actors::server_reply;
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

TEST(ErrorTable, ErrorRepliesAreEncodedThroughTheTable) {
  for (auto& m : errc_table) {
    // The connection's error, as the actors name it ...
    auto code = parley::actors::to_errc(parley::runtime::make_error(m.error, std::string{"why"}));
    EXPECT_EQ(code, m.error);
    // ... and as the client reads it.
    server_reply r{"r1", parley::actors::reply::failure{code, "why"}};
    auto frame = to_frame(r);
    EXPECT_EQ(frame.ref(), "r1");
    EXPECT_EQ(frame.error().code(), m.wire) << to_string(m.error);
    EXPECT_EQ(frame.error().reason(), "why");
    auto out = encode_reply(r, parley::proto::encoding::json);
    EXPECT_EQ(out.error, m.wire);
    EXPECT_EQ(out.ref, "r1");
  }
  // CAF's own errors: a room that did not answer in time or went away is
  // worth a retry; anything else is ours.
  using parley::actors::to_errc;
  EXPECT_EQ(wire_code(to_errc(caf::make_error(caf::sec::request_timeout))),
            v1::ERROR_CODE_UNAVAILABLE);
  EXPECT_EQ(wire_code(to_errc(caf::make_error(caf::sec::request_receiver_down))),
            v1::ERROR_CODE_UNAVAILABLE);
  EXPECT_EQ(wire_code(to_errc(caf::make_error(caf::sec::unexpected_message))),
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
  // Every code has a producer now.
  std::set<int> unsent;
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

TEST(ErrorTable, MetricsCountErrorsByTheirWireCode) {
  parley::gateway::metrics m;
  auto page = m.render();
  for (auto& e : errc_table) {
    auto sample = "parley_errors_total{code=\"" + v1::ErrorCode_Name(e.wire) + "\"} 0";
    EXPECT_NE(page.find(sample), std::string::npos) << sample << " missing";
  }
  m.error_sent(wire_code(errc::not_a_member));
  m.error_sent(wire_code(errc::not_a_member));
  m.error_sent(v1::ERROR_CODE_BAD_FRAME);
  page = m.render();
  EXPECT_NE(page.find("parley_errors_total{code=\"ERROR_CODE_NOT_A_MEMBER\"} 2"), std::string::npos)
    << page;
  EXPECT_NE(page.find("parley_errors_total{code=\"ERROR_CODE_BAD_FRAME\"} 1"), std::string::npos);
  EXPECT_NE(page.find("parley_errors_total{code=\"ERROR_CODE_INTERNAL\"} 0"), std::string::npos);
}
