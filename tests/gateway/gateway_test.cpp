// The real parley-gateway binary over real loopback sockets: JSON and
// protobuf clients, fan-out between clients, bad input, limits, HTTP routes
// and SIGTERM. Every wait is bounded by a socket or process timeout.

#include "parley/proto/codec.hpp"
#include "support/gateway_process.hpp"
#include "support/ws_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using parley::proto::encoding;
using parley::test::http_exchange;
using parley::test::http_get;
using parley::test::gateway_process;
using parley::test::ws_client;
namespace v1 = parley::v1;

namespace {

/// Starts parley-gateway on a free port and reads the port it reports.
class GatewayTest : public ::testing::Test {
protected:
  void start(std::vector<std::string> extra = {}) {
    gw = std::make_unique<gateway_process>(std::move(extra));
    port = gw->port();
    ASSERT_NE(port, 0);
  }

  std::unique_ptr<ws_client> connect() {
    auto c = std::make_unique<ws_client>();
    EXPECT_TRUE(c->connect(port)) << c->error();
    return c;
  }

  static std::string encode(const v1::ClientFrame& f, encoding enc) {
    return parley::proto::encode(f, enc);
  }

  static bool send(ws_client& c, const v1::ClientFrame& f, encoding enc) {
    auto bytes = encode(f, enc);
    return enc == encoding::json ? c.send_text(bytes) : c.send_binary(bytes);
  }

  /// Reads frames until one satisfies `pred` (at most 50 frames); each frame
  /// must come in the frame type of `enc`.
  static std::optional<v1::ServerFrame>
  read_until(ws_client& c, encoding enc, const std::function<bool(const v1::ServerFrame&)>& pred) {
    for (int i = 0; i < 50; ++i) {
      auto msg = c.read();
      if (!msg) {
        ADD_FAILURE() << "no frame: " << c.error();
        return std::nullopt;
      }
      EXPECT_EQ(msg->text, enc == encoding::json) << "reply in the wrong frame type";
      auto res = parley::proto::decode_server(msg->payload, enc);
      if (auto* err = std::get_if<parley::proto::decode_error>(&res)) {
        ADD_FAILURE() << "undecodable frame: " << err->reason;
        return std::nullopt;
      }
      auto& frame = std::get<v1::ServerFrame>(res);
      if (pred(frame))
        return frame;
    }
    ADD_FAILURE() << "the expected frame did not come within 50 frames";
    return std::nullopt;
  }

  static std::optional<v1::ServerFrame> read_ack(ws_client& c, encoding enc,
                                                  const std::string& ref) {
    auto f = read_until(c, enc, [&](const v1::ServerFrame& f) { return f.ref() == ref; });
    if (f) {
      EXPECT_TRUE(f->has_ack()) << "ref " << ref << ": " << f->DebugString();
    }
    return f;
  }

  static v1::ClientFrame hello(const std::string& ref, const std::string& user) {
    v1::ClientFrame f;
    f.set_ref(ref);
    f.mutable_hello()->set_user(user);
    return f;
  }

  static v1::ClientFrame join(const std::string& ref, const std::string& room) {
    v1::ClientFrame f;
    f.set_ref(ref);
    f.mutable_join()->set_room(room);
    return f;
  }

  static v1::ClientFrame publish(const std::string& ref, const std::string& room,
                                 const std::string& text) {
    v1::ClientFrame f;
    f.set_ref(ref);
    f.mutable_publish()->set_room(room);
    f.mutable_publish()->set_text(text);
    return f;
  }

  /// hello, join "lobby", publish; the ack and the message come back.
  void chat_round_trip(encoding enc) {
    auto c = connect();
    ASSERT_TRUE(send(*c, hello("h1", "alice"), enc));
    ASSERT_TRUE(read_ack(*c, enc, "h1"));
    ASSERT_TRUE(send(*c, join("j1", "lobby"), enc));
    auto joined = read_ack(*c, enc, "j1");
    ASSERT_TRUE(joined);
    EXPECT_TRUE(joined->ack().has_joined());
    ASSERT_TRUE(send(*c, publish("p1", "lobby", "hello, lobby"), enc));
    bool acked = false;
    bool seen = false;
    while (!acked || !seen) {
      auto f = read_until(*c, enc, [](const v1::ServerFrame& f) {
        return f.ref() == "p1" || f.has_message();
      });
      ASSERT_TRUE(f);
      if (f->ref() == "p1") {
        ASSERT_TRUE(f->has_ack() && f->ack().has_published()) << f->DebugString();
        EXPECT_GT(f->ack().published().seq(), 0u);
        acked = true;
      } else {
        EXPECT_EQ(f->message().text(), "hello, lobby");
        EXPECT_EQ(f->message().sender(), "~alice") << "a guest, by default";
        EXPECT_EQ(f->message().room(), "lobby");
        seen = true;
      }
    }
  }

  void burst_reaches_every_member_in_order(const std::string& io_threads);

  std::unique_ptr<gateway_process> gw;
  uint16_t port = 0;
};

TEST_F(GatewayTest, JsonClientChatsInTextFrames) {
  start();
  chat_round_trip(encoding::json);
}

TEST_F(GatewayTest, ProtobufClientChatsInBinaryFrames) {
  start();
  chat_round_trip(encoding::binary);
}

TEST_F(GatewayTest, TwoClientsSeeEachOthersMessages) {
  start({"--io-threads=2"});
  // One speaks JSON, the other protobuf: each gets replies in its own.
  auto alice = connect();
  auto bob = connect();
  ASSERT_TRUE(send(*alice, hello("h", "alice"), encoding::json));
  ASSERT_TRUE(read_ack(*alice, encoding::json, "h"));
  ASSERT_TRUE(send(*bob, hello("h", "bob"), encoding::binary));
  ASSERT_TRUE(read_ack(*bob, encoding::binary, "h"));
  ASSERT_TRUE(send(*alice, join("j", "lobby"), encoding::json));
  ASSERT_TRUE(read_ack(*alice, encoding::json, "j"));
  ASSERT_TRUE(send(*bob, join("j", "lobby"), encoding::binary));
  ASSERT_TRUE(read_ack(*bob, encoding::binary, "j"));

  auto message_from = [](std::string sender, std::string text) {
    return [sender, text](const v1::ServerFrame& f) {
      return f.has_message() && f.message().sender() == sender && f.message().text() == text;
    };
  };
  ASSERT_TRUE(send(*alice, publish("p", "lobby", "hi bob"), encoding::json));
  // Guests (the default --auth) carry a ~ no token's name has.
  EXPECT_TRUE(read_until(*bob, encoding::binary, message_from("~alice", "hi bob")));
  ASSERT_TRUE(send(*bob, publish("p", "lobby", "hi alice"), encoding::binary));
  EXPECT_TRUE(read_until(*alice, encoding::json, message_from("~bob", "hi alice")));
}

// A burst fanned out to many members at once: writes are started in
// batches (one handler per burst, not per session), on the I/O context
// itself with one I/O thread and on each socket's strand with several.
// Every member must get every message once, in seq order.
void GatewayTest::burst_reaches_every_member_in_order(const std::string& io_threads) {
  start({"--io-threads=" + io_threads, "--rate-limit=100000", "--rate-burst=100000"});
  constexpr int members = 12;
  constexpr int messages = 200;
  std::vector<std::unique_ptr<ws_client>> clients;
  for (int i = 0; i < members; ++i) {
    auto enc = i % 2 == 0 ? encoding::json : encoding::binary;
    auto c = connect();
    ASSERT_TRUE(send(*c, hello("h", "m" + std::to_string(i)), enc));
    ASSERT_TRUE(read_ack(*c, enc, "h"));
    ASSERT_TRUE(send(*c, join("j", "burst"), enc));
    ASSERT_TRUE(read_ack(*c, enc, "j"));
    clients.push_back(std::move(c));
  }
  // Member 0 publishes the whole burst without waiting for its acks.
  for (int i = 0; i < messages; ++i)
    ASSERT_TRUE(send(*clients[0], publish("p" + std::to_string(i), "burst", std::to_string(i)),
                     encoding::json));
  for (int i = 0; i < members; ++i) {
    auto enc = i % 2 == 0 ? encoding::json : encoding::binary;
    uint64_t last_seq = 0;
    int next_text = 0;
    // Acks and presence frames come in between; bounded by the socket's
    // read timeout and by this count.
    for (int frames = 0; next_text < messages && frames < 4 * messages; ++frames) {
      auto msg = clients[i]->read();
      ASSERT_TRUE(msg) << "member " << i << " after " << next_text << " messages: "
                       << clients[i]->error();
      auto res = parley::proto::decode_server(msg->payload, enc);
      ASSERT_TRUE(std::holds_alternative<v1::ServerFrame>(res)) << "member " << i;
      auto& f = std::get<v1::ServerFrame>(res);
      if (!f.has_message())
        continue;
      EXPECT_EQ(f.message().text(), std::to_string(next_text)) << "member " << i;
      if (last_seq != 0) {
        EXPECT_EQ(f.message().seq(), last_seq + 1) << "member " << i;
      }
      last_seq = f.message().seq();
      ++next_text;
    }
    EXPECT_EQ(next_text, messages) << "member " << i;
  }
}

TEST_F(GatewayTest, ABurstReachesEveryMemberOnceAndInOrderOnOneIoThread) {
  burst_reaches_every_member_in_order("1");
}

TEST_F(GatewayTest, ABurstReachesEveryMemberOnceAndInOrderOnSeveralIoThreads) {
  burst_reaches_every_member_in_order("3");
}

TEST_F(GatewayTest, MalformedJsonGetsBadFrameAndTheConnectionGoesOn) {
  start();
  auto c = connect();
  ASSERT_TRUE(c->send_text("{\"ref\": \"x1\", \"hello\": "));
  auto err = read_until(*c, encoding::json, [](const v1::ServerFrame& f) { return f.has_error(); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->error().code(), v1::ERROR_CODE_BAD_FRAME) << err->DebugString();
  ASSERT_TRUE(send(*c, hello("h1", "carol"), encoding::json));
  EXPECT_TRUE(read_ack(*c, encoding::json, "h1"));
}

TEST_F(GatewayTest, FrameOverTheLimitIsClosedWith1009) {
  start({"--max-frame-bytes=1024"});
  auto c = connect();
  ASSERT_TRUE(send(*c, hello("h1", "dave"), encoding::binary));
  ASSERT_TRUE(read_ack(*c, encoding::binary, "h1"));
  c->send_binary(std::string(4096, 'x')); // may fail once the server closed
  for (int i = 0; i < 50; ++i)
    if (!c->read())
      break;
  EXPECT_EQ(c->close_code(), 1009) << c->error();
  // Everyone else goes on.
  auto other = connect();
  ASSERT_TRUE(send(*other, hello("h2", "erin"), encoding::binary));
  EXPECT_TRUE(read_ack(*other, encoding::binary, "h2"));
}

TEST_F(GatewayTest, HttpRoutes) {
  start();
  auto ok = http_get(port, "/healthz");
  EXPECT_EQ(ok.status, 200);
  // "ok", then what is running: "parley-gateway 0.1.0 (commit ..., Debug)".
  EXPECT_EQ(ok.body.rfind("ok parley-gateway ", 0), 0u) << ok.body;
  EXPECT_NE(ok.body.find(" (commit "), std::string::npos) << ok.body;
  EXPECT_EQ(http_get(port, "/nope").status, 404);
  EXPECT_EQ(http_get(port, "/ws").status, 400); // no upgrade
  EXPECT_EQ(http_exchange(port, "NOT HTTP AT ALL\r\n\r\n").status, 400);
}

// A browser fetches the page and its assets, a scraper /metrics, over one
// connection: HTTP/1.1 keeps it unless the client says close.
TEST_F(GatewayTest, HttpConnectionsAreKeptForTheNextRequest) {
  start();
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s{io};
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  beast::flat_buffer buf;
  auto get = [&](const std::string& target, bool close) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(!close);
    http::write(s, req);
    http::response<http::string_body> res;
    http::read(s, buf, res);
    return res;
  };
  for (auto target : {"/", "/healthz", "/metrics"}) {
    auto res = get(target, false);
    EXPECT_EQ(res.result_int(), 200) << target;
    EXPECT_TRUE(res.keep_alive()) << target << " closed the connection";
  }
  // A WebSocket client at the page's path is told where the endpoint is.
  http::request<http::empty_body> upgrade{http::verb::get, "/", 11};
  upgrade.set(http::field::host, "127.0.0.1");
  upgrade.set(http::field::connection, "Upgrade");
  upgrade.set(http::field::upgrade, "websocket");
  upgrade.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  upgrade.set(http::field::sec_websocket_version, "13");
  http::write(s, upgrade);
  http::response<http::string_body> wrong;
  http::read(s, buf, wrong);
  EXPECT_EQ(wrong.result_int(), 404);
  EXPECT_EQ(wrong.body(), "no WebSocket endpoint at /: use /ws\n");
  // A path that is long or not plain text is not echoed.
  upgrade.target("/" + std::string(100, 'a'));
  http::write(s, upgrade);
  http::response<http::string_body> long_path;
  http::read(s, buf, long_path);
  EXPECT_EQ(long_path.result_int(), 404);
  EXPECT_EQ(long_path.body(), "no WebSocket endpoint at this path: use /ws\n");
  // Connection: close is honoured, and the server closes.
  auto last = get("/healthz", true);
  EXPECT_EQ(last.result_int(), 200);
  EXPECT_FALSE(last.keep_alive());
  char byte;
  boost::system::error_code ec;
  s.read_some(boost::asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, boost::asio::error::eof);
}

// --web-root: the page from disk, read per request, so an edit shows on
// reload; nothing outside the folder.
TEST_F(GatewayTest, WebRootServesThePageFromDiskAsItIsNow) {
  auto root = ::testing::TempDir() + "parley-web-root";
  std::filesystem::create_directories(root);
  std::ofstream{root + "/index.html"} << "<p>from disk</p>";
  std::ofstream{root + "/style.css"} << "p { color: red }";
  std::ofstream{::testing::TempDir() + "secret.txt"} << "not yours";
  start({"--web-root=" + root});
  auto page = http_get(port, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.body, "<p>from disk</p>");
  std::ofstream{root + "/style.css", std::ios::trunc} << "p { color: blue }";
  EXPECT_EQ(http_get(port, "/style.css").body, "p { color: blue }") << "read per request";
  EXPECT_EQ(http_get(port, "/app.js").status, 404) << "only what the folder has";
  auto lib = http_get(port, "/parley-client/index.js");
  EXPECT_EQ(lib.status, 200) << "but the client library stays the compiled-in one";
  EXPECT_NE(lib.body.find("ParleyClient"), std::string::npos) << lib.body;
  EXPECT_EQ(http_get(port, "/../secret.txt").status, 404);
  EXPECT_EQ(http_get(port, "/%2e%2e/secret.txt").status, 404);
  EXPECT_EQ(http_get(port, "/healthz").status, 200) << "the other routes stay";
}

TEST(GatewayWebRoot, AFolderThatDoesNotExistIsRefused) {
  auto res = parley::test::run_program({PARLEY_GATEWAY_BIN, "--web-root=/nonexistent/web"},
                                       std::chrono::seconds(30));
  ASSERT_TRUE(res.status);
  EXPECT_EQ(*res.status, 2) << res.err;
  EXPECT_NE(res.err.find("--web-root=/nonexistent/web"), std::string::npos) << res.err;
}

TEST_F(GatewayTest, OverMaxConnectionsIsRefusedWith503) {
  start({"--max-connections=1"});
  auto c = connect();
  ASSERT_TRUE(send(*c, hello("h1", "frank"), encoding::json));
  ASSERT_TRUE(read_ack(*c, encoding::json, "h1"));
  EXPECT_EQ(http_get(port, "/healthz").status, 503);
}

TEST_F(GatewayTest, BadFlagExitsWithStatus2) {
  auto res = parley::test::run_program({PARLEY_GATEWAY_BIN, "--port=70000"}, 30s);
  EXPECT_EQ(res.status, 2) << res.err;
}

TEST_F(GatewayTest, SigtermClosesClientsWith1001AndExitsZero) {
  start();
  auto c = connect();
  ASSERT_TRUE(send(*c, hello("h1", "grace"), encoding::json));
  ASSERT_TRUE(read_ack(*c, encoding::json, "h1"));
  gw->proc().signal(SIGTERM);
  for (int i = 0; i < 50; ++i)
    if (!c->read())
      break;
  EXPECT_EQ(c->close_code(), 1001) << c->error();
  EXPECT_EQ(gw->proc().wait(30s), 0) << gw->proc().err();
}

} // namespace
