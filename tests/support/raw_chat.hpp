#pragma once

/// @file
/// Helpers for tests that speak the chat protocol in JSON over a raw socket
/// (support/raw_ws.hpp) to a gateway process: ask and wait for the answer,
/// open a chat, check the gateway still serves, read /metrics, wait for a
/// log line. Every wait is bounded.

#include "parley/proto/codec.hpp"
#include "support/gateway_process.hpp"
#include "support/raw_ws.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <variant>

namespace parley::test {

using namespace std::chrono_literals;
namespace v1 = parley::v1;

/// Reads text frames, answering pings, until one satisfies `pred`.
inline std::optional<v1::ServerFrame> read_until(raw_ws& c,
                                          const std::function<bool(const v1::ServerFrame&)>& pred,
                                          std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto f = c.read_frame(std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now()));
    if (!f)
      return std::nullopt;
    if (f->opcode == 0x9) {
      c.send_raw(raw_ws::frame(0xA, f->payload));
      continue;
    }
    if (f->opcode != 0x1)
      continue;
    auto res = proto::decode_server(f->payload, proto::encoding::json);
    if (auto* frame = std::get_if<v1::ServerFrame>(&res); frame && pred(*frame))
      return *frame;
  }
  return std::nullopt;
}

inline std::optional<v1::ServerFrame> ask(raw_ws& c, const std::string& ref, const std::string& json) {
  if (!c.send_text(json))
    return std::nullopt;
  return read_until(c, [&](const v1::ServerFrame& f) { return f.ref() == ref; });
}

/// A WebSocket that said hello as `user`.
inline bool open_chat(raw_ws& c, uint16_t port, const std::string& user,
               const std::string& source = "127.0.0.1", int rcvbuf = 0) {
  if (!c.connect(port, source, rcvbuf) || c.handshake() != 101)
    return false;
  auto welcome = ask(c, "h", R"({"ref":"h","hello":{"user":")" + user + R"("}})");
  return welcome && welcome->ack().has_welcome();
}

/// Proves the gateway still serves: a fresh client gets a pong.
inline void expect_alive(uint16_t port) {
  raw_ws c;
  ASSERT_TRUE(open_chat(c, port, "witness"));
  auto pong = ask(c, "p", R"({"ref":"p","ping":{"clientTimeMs":"7"}})");
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->ack().pong().client_time_ms(), 7u);
}

/// A sample from /metrics, scraped from 127.0.0.9 (so per-address limits on
/// 127.0.0.1 do not refuse the scrape).
inline double metric(uint16_t port, const std::string& name) {
  auto page = raw_ws::http_get(port, "/metrics", "127.0.0.9");
  auto value = raw_ws::metric(page, name);
  EXPECT_TRUE(value) << name << " missing from /metrics:\n" << page;
  return value.value_or(-1);
}

/// Waits (at most 10 s) until the gateway has logged `text` `count` times.
/// The gateway counts each close and drop before it logs it, so a metric
/// read after its log line already includes it: no scraping in a loop.
inline void await_log(gateway_process& gw, const std::string& text, size_t count = 1) {
  EXPECT_TRUE(gw.proc().wait_for_count(text, count, 10s))
    << "'" << text << "' not logged " << count << " time(s):\n"
    << gw.log();
}

inline raw_frame expect_close(raw_ws& c) {
  for (;;) {
    auto f = c.read_frame();
    if (!f) {
      ADD_FAILURE() << "no close frame (eof: " << c.eof() << ")";
      return {};
    }
    if (f->opcode == 0x8)
      return *f;
  }
}

} // namespace parley::test
