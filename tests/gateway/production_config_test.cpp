// The production configuration that docs/deploy.md shows, read from the
// document itself: the gateway starts with that file (its paths moved to a
// temporary folder, its ports to free ones) and is spoken to over TLS as a
// token holder, a stranger without a token, a page from another site and an
// operator would.
#include "parley/client/session.hpp"
#include "parley/client/ws_client.hpp"
#include "support/gateway_process.hpp"
#include "support/process.hpp"
#include "support/tokens.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace parley;
using namespace parley::test;
using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;

const std::string admin_secret = "a-long-operator-secret-for-the-production-test";

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// The ```toml block of docs/deploy.md that sets `auth = "required"`.
std::string production_block() {
  auto doc = slurp(PARLEY_DEPLOY_DOC);
  const std::string open = "```toml\n";
  for (auto pos = doc.find(open); pos != std::string::npos; pos = doc.find(open, pos + 1)) {
    auto start = pos + open.size();
    auto end = doc.find("```", start);
    if (end == std::string::npos)
      break;
    auto block = doc.substr(start, end - start);
    if (block.find("auth = \"required\"") != std::string::npos)
      return block;
  }
  return {};
}

/// Replaces every `from` in `text`, failing the test if there is none.
std::string must_replace(std::string text, const std::string& from, const std::string& with) {
  EXPECT_NE(text.find(from), std::string::npos) << "docs/deploy.md no longer has " << from;
  for (auto pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + with.size()))
    text.replace(pos, from.size(), with);
  return text;
}

/// The status of a WebSocket upgrade over TLS sent with `origin`.
int upgrade_status(uint16_t port, const std::string& ca, const std::string& origin) {
  net::io_context ioc;
  net::ssl::context ctx{net::ssl::context::tls_client};
  ctx.load_verify_file(ca);
  ctx.set_verify_mode(net::ssl::verify_peer);
  beast::websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws{ioc, ctx};
  beast::get_lowest_layer(ws).expires_after(10s);
  beast::get_lowest_layer(ws).connect({net::ip::make_address("127.0.0.1"), port});
  SSL_set_tlsext_host_name(ws.next_layer().native_handle(), "localhost");
  ws.next_layer().set_verify_callback(net::ssl::host_name_verification("localhost"));
  ws.next_layer().handshake(net::ssl::stream_base::client);
  ws.set_option(beast::websocket::stream_base::decorator(
    [&](beast::websocket::request_type& req) { req.set(beast::http::field::origin, origin); }));
  beast::websocket::response_type res;
  beast::error_code ec;
  ws.handshake(res, "localhost:" + std::to_string(port), "/ws", ec);
  return res.result_int();
}

} // namespace

TEST(ProductionConfigTest, TheDocumentedConfigurationServesTokenHoldersOverTlsOnly) {
  auto dir = fs::temp_directory_path() / ("parley_prod_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto block = production_block();
  ASSERT_FALSE(block.empty()) << "no production configuration in " << PARLEY_DEPLOY_DOC;
  // What the operator would put under /etc/parley.
  auto certs = run_program({"/bin/bash", PARLEY_TLS_CERT_SCRIPT, (dir / "tls").string(),
                            "localhost", "127.0.0.1"});
  ASSERT_EQ(certs.status, 0) << certs.err;
  write_file((dir / "jwt.secret").string(), test_secret() + "\n");
  write_file((dir / "admin.tokens").string(), "ops:" + admin_secret + "\n");
  auto conf = must_replace(block, "/etc/parley/", dir.string() + "/");
  conf = must_replace(conf, "\naddress = \"0.0.0.0\"", "\naddress = \"127.0.0.1\"");
  conf = must_replace(conf, "\nport = 443", "\nport = 0");
  conf = must_replace(conf, "\nadmin-port = 8081", "\nadmin-port = 0");
  auto conf_file = (dir / "gateway.toml").string();
  write_file(conf_file, conf);

  gateway_process gw{{"--config=" + conf_file}, {}, false};
  ASSERT_NE(gw.port(), 0) << gw.log();
  ASSERT_NE(gw.admin_port(), 0) << gw.log();
  auto ca = (dir / "tls" / "ca.pem").string();
  client::ws_url url;
  url.host = "localhost";
  url.port = gw.port();
  url.target = "/ws";
  url.tls = true;
  auto token = [](const std::string& sub, const std::string& iss) {
    return sign(JWT_ALG_HS256, test_secret(),
                R"({"sub":")" + sub + R"(","iss":")" + iss + R"(","exp":)"
                  + std::to_string(now_s() + 600) + "}");
  };

  // A token holder, over wss:// with the gateway's certificate checked.
  client::session_options so;
  so.timeout = 5s;
  so.tls.ca_file = ca;
  so.token = token("ann", "https://login.example.com");
  client::session ann{so};
  ASSERT_TRUE(ann.connect(url)) << ann.error();
  ASSERT_TRUE(ann.hello().ok()) << ann.error();
  EXPECT_EQ(ann.welcome().user(), "ann");
  ASSERT_TRUE(ann.join("lobby").ok());
  EXPECT_TRUE(ann.publish("lobby", "in production").ok());

  // No token, or one from another issuer: no way in.
  for (auto tok : {std::string{}, token("bob", "https://elsewhere.example")}) {
    client::session_options other = so;
    other.token = tok;
    client::session stranger{other};
    ASSERT_TRUE(stranger.connect(url)) << stranger.error();
    auto hello = stranger.hello("bob");
    EXPECT_FALSE(hello.ok()) << tok;
    EXPECT_TRUE(hello.refused()) << tok;
  }

  // Pages: the chat site's may connect, another site's may not.
  EXPECT_EQ(upgrade_status(gw.port(), ca, "https://chat.example.com"), 101);
  EXPECT_EQ(upgrade_status(gw.port(), ca, "https://evil.example"), 403);

  // Plain HTTP is told to use TLS; the metrics are not public.
  EXPECT_EQ(client::http_get(gw.port(), "/healthz").status, 400);
  EXPECT_EQ(client::https_get(gw.port(), "/metrics", {ca, true}).status, 404);

  // The operator sees ann, on TLS.
  auto conns = client::http_call("127.0.0.1", gw.admin_port(), "GET", "/connections",
                                 "Bearer " + admin_secret);
  ASSERT_EQ(conns.status, 200) << conns.body;
  EXPECT_NE(conns.body.find(R"("user":"ann","guest":false)"), std::string::npos) << conns.body;
  EXPECT_NE(conns.body.find(R"("tls":true)"), std::string::npos) << conns.body;
  EXPECT_EQ(client::http_call("127.0.0.1", gw.admin_port(), "GET", "/status").status, 401);

  EXPECT_TRUE(ann.close());
  EXPECT_EQ(gw.stop(), 0) << gw.log();
  std::error_code ec;
  fs::remove_all(dir, ec);
}
