// Abuse limits that hold, tried from outside as an attacker would (issue
// 12): silent sockets past the per-address cap, a process out of
// descriptors, a flood of malformed frames, and client text that would
// forge log lines. Each against a real gateway process over real sockets.
#include "support/process.hpp"
#include "support/raw_chat.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace parley::test;
using namespace std::chrono_literals;

namespace {

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto i = text.find(what); i != std::string::npos; i = text.find(what, i + 1))
    ++n;
  return n;
}

} // namespace

TEST(GatewayAbuse, SilentSocketsPastThePerAddressCapAreClosedAtOnce) {
  // A long handshake timeout: a socket past the cap that waited for its
  // request would be held for a minute, not closed within the test.
  gateway_process gw{{"--max-connections-per-address=5", "--handshake-timeout=60"}};
  ASSERT_NE(gw.port(), 0);
  std::vector<std::unique_ptr<raw_ws>> held;
  for (int i = 0; i < 40; ++i) {
    held.push_back(std::make_unique<raw_ws>());
    ASSERT_TRUE(held.back()->connect(gw.port())) << "socket " << i;
  }
  // Those past the cap were answered 503 and closed without sending a
  // byte; the first five wait for their request.
  int closed = 0;
  for (size_t i = 5; i < held.size(); ++i)
    closed += held[i]->wait_eof(5s) ? 1 : 0;
  EXPECT_EQ(closed, 35);
  for (size_t i = 0; i < 5; ++i)
    EXPECT_FALSE(held[i]->wait_eof(100ms)) << "socket " << i << " within the cap was closed";
  // Another address is served meanwhile, and the count is exact.
  auto health = raw_ws::http_get(gw.port(), "/healthz", "127.0.0.2");
  EXPECT_EQ(health.compare(0, 15, "HTTP/1.1 200 OK"), 0) << health;
  EXPECT_EQ(metric(gw.port(), R"(parley_gateway_refused_total{reason="per_address"})"), 35);
  EXPECT_LE(metric(gw.port(), "parley_gateway_sockets"), 6) << "five silent ones and the scrape";
  // 35 refusals, logged once (then at most once a second, with a count).
  EXPECT_LE(count_of(gw.log(), "refusing one (503)"), 3u) << gw.log();
}

TEST(GatewayAbuse, TheAnswerPastTheCapIsA503ThatSaysWhy) {
  gateway_process gw{{"--max-connections-per-address=1"}};
  ASSERT_NE(gw.port(), 0);
  raw_ws first, second;
  ASSERT_TRUE(first.connect(gw.port()));
  ASSERT_TRUE(second.connect(gw.port()));
  EXPECT_EQ(second.handshake(), 503) << "the request came after the socket was closed";
  EXPECT_EQ(first.handshake(), 101);
}

namespace {

/// Opens `n` silent sockets from 127.0.0.1.
std::vector<std::unique_ptr<raw_ws>> silent_sockets(uint16_t port, int n) {
  std::vector<std::unique_ptr<raw_ws>> held;
  for (int i = 0; i < n; ++i) {
    held.push_back(std::make_unique<raw_ws>());
    EXPECT_TRUE(held.back()->connect(port)) << "socket " << i;
  }
  return held;
}

/// Waits until /healthz from 127.0.0.2 answers 200 (at most 10 s).
void expect_healthy_again(uint16_t port) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string health;
  while (std::chrono::steady_clock::now() < deadline) {
    health = raw_ws::http_get(port, "/healthz", "127.0.0.2");
    if (health.compare(0, 15, "HTTP/1.1 200 OK") == 0)
      return;
  }
  ADD_FAILURE() << "/healthz: " << health;
}

} // namespace

TEST(GatewayAbuse, FewDescriptorsCapTheConnectionsBelowThem) {
  // 64 descriptors for the whole process and no per-address cap: without
  // a cap of its own below the descriptor limit, silent sockets would take
  // every descriptor (and the accept loop would fail on each new one).
  gateway_process gw{{"--max-connections-per-address=0", "--handshake-timeout=60"},
                     {"/usr/bin/prlimit", "--nofile=64:64", "--"}};
  ASSERT_NE(gw.port(), 0);
  await_log(gw, "may open 64 files (ulimit -n): at most ");
  auto held = silent_sockets(gw.port(), 120);
  int closed = 0;
  for (auto& s : held)
    closed += s->wait_eof(100ms) ? 1 : 0;
  EXPECT_GE(closed, 120 - 48) << "at most 64 - 16 could be held";
  EXPECT_LT(closed, 120) << "no socket was served at all";
  EXPECT_EQ(gw.log().find("Too many open files"), std::string::npos) << gw.log();
  held.clear();
  expect_healthy_again(gw.port());
  EXPECT_GE(metric(gw.port(), R"(parley_gateway_refused_total{reason="max_connections"})"),
            closed);
  expect_alive(gw.port());
}

TEST(GatewayAbuse, OutOfDescriptorsTheAcceptLoopShedsAndRecovers) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
  // UndefinedBehaviorSanitizer's vptr check probes memory through a pipe;
  // in a process with no descriptor free it cannot make one, reports a
  // valid object (Asio's error category) as having an invalid vptr, and
  // the build's -fno-sanitize-recover aborts. The path runs in the release
  // preset; under the sanitizers the cap (the test above) is what keeps a
  // gateway from running out.
  GTEST_SKIP() << "needs a build without UBSan's vptr check (cmake --workflow --preset release)";
#endif
  // The gateway starts with the machine's limit, so its cap is high; then
  // the limit drops under it, as when something else in the process (the
  // cluster, a database) holds the descriptors.
  gateway_process gw{{"--max-connections-per-address=0", "--handshake-timeout=60"}};
  ASSERT_NE(gw.port(), 0);
  auto limited = run_program({"/usr/bin/prlimit", "--pid=" + std::to_string(gw.proc().pid()),
                              "--nofile=48:48"},
                             30s);
  ASSERT_EQ(limited.status, 0) << limited.err;
  auto start = std::chrono::steady_clock::now();
  auto held = silent_sockets(gw.port(), 120);
  // Some were accepted and wait for their request; the rest were shed
  // (accepted with the spare descriptor and closed), not left in the
  // backlog with the accept loop failing on them.
  await_log(gw, "closing new connections at once");
  int shed = 0;
  for (auto& s : held)
    shed += s->wait_eof(100ms) ? 1 : 0;
  EXPECT_GT(shed, 0);
  EXPECT_LT(shed, 120) << "no socket was served at all";
  held.clear();
  expect_healthy_again(gw.port());
  EXPECT_GE(metric(gw.port(), R"(parley_gateway_refused_total{reason="descriptors"})"), 1);
  // The line goes out once a second at most (with a count), not once per
  // failed accept.
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::steady_clock::now() - start)
                   .count();
  EXPECT_LE(count_of(gw.log(), "closing new connections at once"),
            static_cast<size_t>(seconds) + 1)
    << gw.log();
  expect_alive(gw.port());
}

TEST(GatewayAbuse, AFloodOfMalformedFramesEndsIn1008) {
  gateway_process gw{{"--rate-limit=5", "--rate-burst=10", "--rate-strikes=5"}};
  ASSERT_NE(gw.port(), 0);
  raw_ws c;
  ASSERT_TRUE(c.connect(gw.port()));
  ASSERT_EQ(c.handshake(), 101);
  for (int i = 0; i < 200; ++i)
    if (!c.send_text("this is not a frame"))
      break; // closed already
  int bad_frame = 0;
  int rate_limited = 0;
  for (;;) {
    auto f = c.read_frame();
    ASSERT_TRUE(f) << "no close frame";
    if (f->opcode == 0x8) {
      EXPECT_EQ(f->close_code(), 1008);
      break;
    }
    auto res = parley::proto::decode_server(f->payload, parley::proto::encoding::json);
    auto* frame = std::get_if<parley::v1::ServerFrame>(&res);
    ASSERT_TRUE(frame) << f->payload;
    if (frame->error().code() == parley::v1::ERROR_CODE_BAD_FRAME)
      ++bad_frame;
    if (frame->error().code() == parley::v1::ERROR_CODE_RATE_LIMITED)
      ++rate_limited;
  }
  EXPECT_EQ(bad_frame, 10) << "the burst";
  EXPECT_GE(rate_limited, 5) << "then the strikes";
  await_log(gw, "closed for flooding");
  expect_alive(gw.port());
}

TEST(GatewayAbuse, RoomNamesAreCheckedInEveryRequestAndNeverEchoedRaw) {
  gateway_process gw{{"--log-level=debug"}};
  ASSERT_NE(gw.port(), 0);
  raw_ws c;
  ASSERT_TRUE(open_chat(c, gw.port(), "mallory"));
  const std::string forged = R"(x\n2026-12-03T00:00:00.000 info [1] admin: \u001b[2Jall clear)";
  for (std::string what : {"publish", "leave", "history", "presence"}) {
    std::string body = what == "publish" ? R"(,"text":"hi")" : "";
    auto reply = ask(c, what,
                     "{\"ref\":\"" + what + "\",\"" + what + "\":{\"room\":\"" + forged + "\"" + body
                       + "}}");
    ASSERT_TRUE(reply) << what;
    EXPECT_EQ(reply->error().code(), parley::v1::ERROR_CODE_INVALID_ROOM_NAME) << what;
    EXPECT_EQ(reply->error().reason().find("admin"), std::string::npos)
      << what << ": the name is quoted back: " << reply->error().reason();
  }
  // A ref is the client's too: it reaches the log escaped.
  auto reply = ask(c, "r\n1\x1b[2J", R"({"ref":"r\n1\u001b[2J","join":{"room":"a b"}})");
  ASSERT_TRUE(reply);
  await_log(gw, "INVALID_ROOM_NAME (ref 'r\\x0a1\\x1b[2J')");
  EXPECT_EQ(gw.log().find("\x1b[2J"), std::string::npos) << "a raw escape sequence in the log";
  EXPECT_EQ(gw.log().find("\n2026-12-03T00:00:00.000"), std::string::npos);
}

TEST(GatewayAbuse, PagesFromOtherOriginsGet403BeforeTheUpgrade) {
  gateway_process gw;
  ASSERT_NE(gw.port(), 0);
  auto upgrade = [&](const std::string& origin) {
    raw_ws c;
    EXPECT_TRUE(c.connect(gw.port()));
    return c.handshake("/ws", origin.empty() ? "" : "Origin: " + origin + "\r\n");
  };
  auto own = "http://127.0.0.1:" + std::to_string(gw.port());
  EXPECT_EQ(upgrade(own), 101) << "the gateway's own page";
  EXPECT_EQ(upgrade(""), 101) << "no Origin: not a browser";
  EXPECT_EQ(upgrade("https://evil.example"), 403);
  EXPECT_EQ(upgrade("null"), 403) << "a sandboxed frame or a file:// page";
  EXPECT_EQ(upgrade("http://127.0.0.1:1"), 403) << "another port is another origin";
  // U+009B, a one-character CSI (Beast refuses a raw ESC in a header).
  EXPECT_EQ(upgrade("http://evil.example\xc2\x9b" "2J"), 403);
  await_log(gw, "refused a WebSocket from a page at 'https://evil.example' (403)");
  EXPECT_EQ(gw.log().find("\xc2\x9b"), std::string::npos) << "the Origin is escaped in the log";
  EXPECT_EQ(metric(gw.port(), R"(parley_gateway_http_responses_total{code="403"})"), 4);
}

TEST(GatewayAbuse, AllowedOriginsReplaceTheDefault) {
  gateway_process gw{{"--allowed-origins=https://chat.example.com,https://*.example.org"}};
  ASSERT_NE(gw.port(), 0);
  auto upgrade = [&](const std::string& origin) {
    raw_ws c;
    EXPECT_TRUE(c.connect(gw.port()));
    return c.handshake("/ws", "Origin: " + origin + "\r\n");
  };
  EXPECT_EQ(upgrade("https://chat.example.com"), 101);
  EXPECT_EQ(upgrade("https://team.example.org"), 101);
  EXPECT_EQ(upgrade("http://chat.example.com"), 403) << "another scheme";
  EXPECT_EQ(upgrade("http://127.0.0.1:" + std::to_string(gw.port())), 403);
}

TEST(GatewayAbuse, AMalformedAllowedOriginIsAUsageError) {
  auto res = run_program({PARLEY_GATEWAY_BIN, "--allowed-origins=chat.example.com"}, 30s);
  ASSERT_TRUE(res.status);
  EXPECT_EQ(*res.status, 2) << res.err;
  EXPECT_NE(res.err.find("--allowed-origins=chat.example.com"), std::string::npos) << res.err;
  EXPECT_NE(res.err.find("scheme://host[:port]"), std::string::npos) << res.err;
}
