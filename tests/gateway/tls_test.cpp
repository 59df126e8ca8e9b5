// TLS at the gateway's edge: the real gateway binary with certificates from
// scripts/tls-cert.sh, spoken to over wss:// and https:// by the project's
// client (Beast over OpenSSL, checking the certificate and the host name),
// and by raw sockets for what a client should never manage (plain HTTP on
// the TLS port, TLS 1.1, a silent socket).
#include "parley/client/session.hpp"
#include "parley/client/ws_client.hpp"
#include "support/gateway_process.hpp"
#include "support/process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <openssl/ssl.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>

using namespace parley;
using namespace parley::test;
using namespace std::chrono_literals;

namespace {

namespace net = boost::asio;
namespace fs = std::filesystem;

/// A folder of certificates for one test, removed after it.
struct cert_dir {
  fs::path dir;

  cert_dir() {
    dir = fs::temp_directory_path()
          / ("parley_tls_test_" + std::to_string(::getpid()) + "_"
             + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }

  ~cert_dir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  /// Makes sub/ca.pem, sub/gateway.pem and sub/gateway.key for localhost
  /// and 127.0.0.1 (a new authority per `sub`).
  void make(const std::string& sub) {
    auto res = run_program({"/bin/bash", PARLEY_TLS_CERT_SCRIPT, (dir / sub).string(),
                            "localhost", "127.0.0.1"});
    ASSERT_EQ(res.status, 0) << res.err;
  }

  std::string path(const std::string& sub, const std::string& file) const {
    return (dir / sub / file).string();
  }

  std::string put(const std::string& name, const std::string& text) const {
    auto p = (dir / name).string();
    std::ofstream{p, std::ios::binary} << text;
    return p;
  }
};

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

client::ws_url wss(uint16_t port, const std::string& host = "localhost") {
  client::ws_url url;
  url.host = host;
  url.port = port;
  url.target = "/ws";
  url.tls = true;
  return url;
}

client::session_options trusting(const std::string& ca_file) {
  client::session_options so;
  so.timeout = 5s;
  so.tls.ca_file = ca_file;
  return so;
}

/// A gateway on the certificate in `sub` of `certs`.
std::vector<std::string> tls_flags(const cert_dir& certs, const std::string& sub) {
  return {"--tls-cert=" + certs.path(sub, "gateway.pem"),
          "--tls-key=" + certs.path(sub, "gateway.key")};
}

} // namespace

TEST(GatewayTlsTest, ServesWssAndHttpsWithItsCertificate) {
  cert_dir certs;
  certs.make("a");
  gateway_process gw{tls_flags(certs, "a")};
  ASSERT_NE(gw.port(), 0) << gw.log();
  // By name and by address: the certificate names both, and the client
  // checks the name it connected to.
  for (auto host : {"localhost", "127.0.0.1"}) {
    client::session s{trusting(certs.path("a", "ca.pem"))};
    ASSERT_TRUE(s.connect(wss(gw.port(), host))) << host << ": " << s.error();
    auto hello = s.hello("ann");
    ASSERT_TRUE(hello.ok()) << s.error();
    EXPECT_EQ(s.welcome().user(), "~ann");
    ASSERT_TRUE(s.join("lobby").ok());
    auto sent = s.publish("lobby", "over TLS");
    ASSERT_TRUE(sent.ok()) << s.error();
    EXPECT_TRUE(s.close());
  }
  client::tls_options trust{certs.path("a", "ca.pem"), true};
  auto health = client::https_get(gw.port(), "/healthz", trust);
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(health.body.rfind("ok parley-gateway ", 0), 0u) << health.body;
  // The chat page over https, as a browser gets it.
  auto page = client::https_get(gw.port(), "/", trust);
  EXPECT_EQ(page.status, 200) << page.body;
  EXPECT_NE(page.body.find("<html"), std::string::npos);
  EXPECT_EQ(gw.stop(), 0) << gw.log();
}

TEST(GatewayTlsTest, ClientsRefuseAnUntrustedOrMisnamedCertificate) {
  cert_dir certs;
  certs.make("a");
  certs.make("other");
  gateway_process gw{tls_flags(certs, "a")};
  ASSERT_NE(gw.port(), 0) << gw.log();
  {
    // Signed by an authority the client does not trust.
    client::session s{trusting(certs.path("other", "ca.pem"))};
    EXPECT_FALSE(s.connect(wss(gw.port())));
    EXPECT_NE(s.error().find("certificate verify failed"), std::string::npos) << s.error();
  }
  // Trusted, but not for this name.
  auto wrong = client::https_get(gw.port(), "/healthz", {certs.path("a", "ca.pem"), true},
                                 "chat.example.com");
  EXPECT_EQ(wrong.status, 0);
  EXPECT_NE(wrong.body.find("certificate verify failed"), std::string::npos) << wrong.body;
  // --insecure takes any certificate.
  client::session_options so;
  so.tls.verify = false;
  client::session s{so};
  EXPECT_TRUE(s.connect(wss(gw.port()))) << s.error();
  EXPECT_TRUE(s.hello().ok());
}

TEST(GatewayTlsTest, PlainHttpOnTheTlsPortIsToldToUseTls) {
  cert_dir certs;
  certs.make("a");
  gateway_process gw{tls_flags(certs, "a")};
  ASSERT_NE(gw.port(), 0) << gw.log();
  auto reply = client::http_get(gw.port(), "/healthz");
  EXPECT_EQ(reply.status, 400);
  EXPECT_NE(reply.body.find("this port speaks TLS: use https://"), std::string::npos)
    << reply.body;
  client::ws_client plain{5s};
  EXPECT_FALSE(plain.connect(gw.port()));
  EXPECT_NE(plain.error().find("this port speaks TLS"), std::string::npos) << plain.error();
}

TEST(GatewayTlsTest, TlsOlderThan12IsRefused) {
  cert_dir certs;
  certs.make("a");
  gateway_process gw{tls_flags(certs, "a")};
  ASSERT_NE(gw.port(), 0) << gw.log();
  auto handshake = [&](int version) {
    net::io_context ioc;
    net::ssl::context ctx{net::ssl::context::tls_client};
    // This client would speak the old version (OpenSSL 3 itself refuses it
    // at its default security level): the server must be the one to refuse.
    SSL_CTX_set_security_level(ctx.native_handle(), 0);
    SSL_CTX_set_cipher_list(ctx.native_handle(), "ALL:@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(ctx.native_handle(), version);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), version);
    ctx.set_verify_mode(net::ssl::verify_none);
    net::ssl::stream<net::ip::tcp::socket> stream{ioc, ctx};
    stream.lowest_layer().connect({net::ip::make_address("127.0.0.1"), gw.port()});
    boost::system::error_code ec;
    stream.handshake(net::ssl::stream_base::client, ec);
    return ec;
  };
  auto old = handshake(TLS1_1_VERSION);
  EXPECT_TRUE(old) << "a TLS 1.1 handshake succeeded";
  EXPECT_FALSE(handshake(TLS1_2_VERSION)) << "the same client with TLS 1.2 failed";
  EXPECT_FALSE(handshake(TLS1_3_VERSION));
  EXPECT_TRUE(gw.proc().wait_for_count("TLS handshake failed", 1, 10s)) << gw.log();
}

TEST(GatewayTlsTest, ASilentSocketIsDroppedAfterTheHandshakeTimeout) {
  cert_dir certs;
  certs.make("a");
  std::vector<std::string> flags = tls_flags(certs, "a");
  flags.push_back("--handshake-timeout=1");
  gateway_process gw{flags};
  ASSERT_NE(gw.port(), 0) << gw.log();
  net::io_context ioc;
  net::ip::tcp::socket sock{ioc};
  sock.connect({net::ip::make_address("127.0.0.1"), gw.port()});
  // The read ends when the gateway closes; the guard bounds the test if it
  // never does.
  net::steady_timer guard{ioc, 10s};
  bool guard_fired = false;
  guard.async_wait([&](boost::system::error_code ec) {
    if (!ec) {
      guard_fired = true;
      sock.close();
    }
  });
  char byte;
  boost::system::error_code read_ec;
  sock.async_read_some(net::buffer(&byte, 1), [&](boost::system::error_code ec, size_t) {
    read_ec = ec;
    guard.cancel();
  });
  ioc.run();
  EXPECT_FALSE(guard_fired) << "the gateway held a silent socket for 10 s";
  EXPECT_EQ(read_ec, net::error::eof) << read_ec.message();
}

TEST(GatewayTlsTest, SighupReloadsTheCertificateAndKeepsOpenConnections) {
  cert_dir certs;
  certs.make("a");
  certs.make("b");
  // The gateway reads the files it was given; the test replaces their
  // contents as a renewal would.
  auto cert = certs.put("live.pem", read_file(certs.path("a", "gateway.pem")));
  auto key = certs.put("live.key", read_file(certs.path("a", "gateway.key")));
  gateway_process gw{{"--tls-cert=" + cert, "--tls-key=" + key}};
  ASSERT_NE(gw.port(), 0) << gw.log();
  client::session before{trusting(certs.path("a", "ca.pem"))};
  ASSERT_TRUE(before.connect(wss(gw.port()))) << before.error();
  ASSERT_TRUE(before.hello("ann").ok());

  certs.put("live.pem", read_file(certs.path("b", "gateway.pem")));
  certs.put("live.key", read_file(certs.path("b", "gateway.key")));
  gw.proc().signal(SIGHUP);
  ASSERT_TRUE(gw.proc().wait_for_count("TLS certificate reloaded", 1, 10s)) << gw.log();

  // The open connection goes on; new ones get the new certificate.
  EXPECT_TRUE(before.ping().ok()) << before.error();
  {
    client::session after{trusting(certs.path("b", "ca.pem"))};
    EXPECT_TRUE(after.connect(wss(gw.port()))) << after.error();
    EXPECT_TRUE(after.hello("bob").ok());
    client::session stale{trusting(certs.path("a", "ca.pem"))};
    EXPECT_FALSE(stale.connect(wss(gw.port())));
  }

  // A broken renewal (a half-written file, a key that does not match) keeps
  // the certificate in use, and says so.
  certs.put("live.pem", "-----BEGIN CERTIFICATE-----\ngarbage\n");
  gw.proc().signal(SIGHUP);
  ASSERT_TRUE(gw.proc().wait_for_count("TLS reload failed, still serving the old certificate", 1,
                                       10s))
    << gw.log();
  certs.put("live.pem", read_file(certs.path("a", "gateway.pem")));
  gw.proc().signal(SIGHUP);
  ASSERT_TRUE(gw.proc().wait_for_count("is not the key of the certificate", 1, 10s)) << gw.log();
  client::session still{trusting(certs.path("b", "ca.pem"))};
  EXPECT_TRUE(still.connect(wss(gw.port()))) << still.error();
  EXPECT_TRUE(still.hello().ok());
  EXPECT_TRUE(before.ping().ok()) << before.error();
  EXPECT_TRUE(before.close());
  EXPECT_TRUE(still.close());
  // SIGHUP did not stop it.
  EXPECT_EQ(gw.stop(), 0) << gw.log();
}

TEST(GatewayTlsTest, BadCertificateFlagsExit2WithOneLine) {
  cert_dir certs;
  certs.make("a");
  certs.make("b");
  auto cert = certs.path("a", "gateway.pem");
  auto key = certs.path("a", "gateway.key");
  auto garbage = certs.put("garbage.pem", "not a certificate\n");
  // An encrypted key: a service has no terminal to type its passphrase.
  auto encrypted = certs.path("a", "encrypted.key");
  auto enc = run_program({"/usr/bin/openssl", "pkey", "-in", key, "-aes256", "-passout",
                          "pass:secret", "-out", encrypted});
  ASSERT_EQ(enc.status, 0) << enc.err;
  struct bad_case {
    std::vector<std::string> flags;
    std::string says;
  };
  std::vector<bad_case> cases{
    {{"--tls-cert=" + cert}, "--tls-cert needs --tls-key"},
    {{"--tls-key=" + key}, "--tls-key needs --tls-cert"},
    {{"--tls-cert=" + certs.path("a", "missing.pem"), "--tls-key=" + key},
     "--tls-cert: cannot read"},
    {{"--tls-cert=" + cert, "--tls-key=" + certs.path("a", "missing.key")},
     "--tls-key: cannot read"},
    {{"--tls-cert=" + garbage, "--tls-key=" + key}, "holds no usable PEM certificate"},
    {{"--tls-cert=" + cert, "--tls-key=" + garbage}, "holds no usable PEM private key"},
    {{"--tls-cert=" + cert, "--tls-key=" + certs.path("b", "gateway.key")},
     "is not the key of the certificate"},
    {{"--tls-cert=" + cert, "--tls-key=" + encrypted}, "holds no usable PEM private key"},
    // A key given as the certificate.
    {{"--tls-cert=" + key, "--tls-key=" + key}, "holds no usable PEM certificate"},
  };
  for (auto& c : cases) {
    std::vector<std::string> argv{PARLEY_GATEWAY_BIN, "--port=0"};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    // No stdin: an encrypted key must not wait for a passphrase.
    auto res = run_program(argv, 20s);
    ASSERT_TRUE(res.status.has_value()) << c.says << ": still running";
    EXPECT_EQ(*res.status, 2) << c.says << "\n" << res.err;
    EXPECT_NE(res.err.find(c.says), std::string::npos) << res.err;
    EXPECT_EQ(std::count(res.err.begin(), res.err.end(), '\n'), 1) << res.err;
  }
}

TEST(GatewayTlsTest, WithNothingToReloadSighupStopsCleanly) {
  // SIGHUP's usual meaning (the terminal went away) where there is nothing
  // to reload: a drain and exit 0, not death by signal.
  gateway_process gw;
  ASSERT_NE(gw.port(), 0) << gw.log();
  gw.proc().signal(SIGHUP);
  auto status = gw.proc().wait(10s);
  ASSERT_TRUE(status.has_value()) << gw.log();
  EXPECT_EQ(*status, 0) << gw.log();
  EXPECT_NE(gw.log().find("SIGHUP received, shutting down"), std::string::npos) << gw.log();
}

TEST(GatewayTlsTest, ParleyCliSpeaksWss) {
  cert_dir certs;
  certs.make("a");
  gateway_process gw{tls_flags(certs, "a")};
  ASSERT_NE(gw.port(), 0) << gw.log();
  auto url = "--url=wss://localhost:" + std::to_string(gw.port()) + "/ws";
  auto ok = run_program({PARLEY_CLI_BIN, url, "--ca-file=" + certs.path("a", "ca.pem"), "--pretty",
                         "ping"});
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_NE(ok.out.find("pong"), std::string::npos) << ok.out;
  // The system's authorities do not know this one.
  auto untrusted = run_program({PARLEY_CLI_BIN, url, "connect"});
  EXPECT_EQ(untrusted.status, 1) << untrusted.err;
  EXPECT_NE(untrusted.err.find("certificate verify failed"), std::string::npos) << untrusted.err;
  EXPECT_EQ(std::count(untrusted.err.begin(), untrusted.err.end(), '\n'), 1) << untrusted.err;
  auto insecure = run_program({PARLEY_CLI_BIN, url, "--insecure", "connect"});
  EXPECT_EQ(insecure.status, 0) << insecure.err;
  auto missing = run_program({PARLEY_CLI_BIN, url, "--ca-file=/nonexistent/ca.pem", "connect"});
  EXPECT_EQ(missing.status, 2) << missing.err;
  EXPECT_NE(missing.err.find("--ca-file"), std::string::npos) << missing.err;
  auto not_pem = run_program({PARLEY_CLI_BIN, url, "--ca-file=" + certs.put("junk.pem", "junk\n"),
                              "connect"});
  EXPECT_EQ(not_pem.status, 1) << not_pem.err;
  EXPECT_NE(not_pem.err.find("cannot load the trusted authorities"), std::string::npos)
    << not_pem.err;
}
