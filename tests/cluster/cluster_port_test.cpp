// The cluster port before authentication: real gateway nodes with mutual
// TLS (scripts/cluster-certs.sh), attacked with raw sockets from several
// loopback addresses (127.0.0.2, ...: Linux routes all of 127/8 to lo).
// Silent sockets are closed after the handshake timeout, the caps on
// connections not yet authenticated hold per address and in all, a peer
// without the cluster's certificate is refused, and a real node still joins
// while an address is at its cap. Every wait is bounded and waits for a
// metric, a log line or a socket's end.

#include "support/gateway_process.hpp"
#include "support/process.hpp"
#include "support/raw_ws.hpp"

#include "parley/client/ws_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

using namespace parley::test;
using namespace std::chrono_literals;

namespace {

namespace net = boost::asio;
constexpr auto event_timeout = 20s;

struct cert_dir {
  std::string dir;
  bool ok = false;

  cert_dir() {
    char tmpl[] = "/tmp/parley-cluster-port-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr)
      return;
    dir = tmpl;
    auto good = run_program({"/bin/bash", PARLEY_CLUSTER_CERTS_SCRIPT, dir + "/good", "a", "b"});
    auto rogue = run_program({"/bin/bash", PARLEY_CLUSTER_CERTS_SCRIPT, dir + "/rogue", "r"});
    ok = good.status == 0 && rogue.status == 0;
    EXPECT_TRUE(ok) << good.err << rogue.err;
  }

  ~cert_dir() {
    if (!dir.empty())
      std::filesystem::remove_all(dir);
  }

  std::string file(const std::string& cluster, const std::string& name) const {
    return dir + "/" + cluster + "/" + name;
  }
};

cert_dir& certs() {
  static cert_dir instance;
  return instance;
}

struct node {
  std::unique_ptr<gateway_process> gw;
  uint16_t cluster_port = 0;

  double metric(const std::string& name) const {
    return raw_ws::metric(raw_ws::http_get(gw->port(), "/metrics"), name).value_or(-1);
  }

  /// Waits until `name` reads `value`.
  bool metric_reaches(const std::string& name, double value) const {
    auto deadline = std::chrono::steady_clock::now() + event_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (metric(name) == value)
        return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
};

/// A node `name` of the good cluster; `extra` may give its TLS files
/// instead (then `own_tls` is false).
std::unique_ptr<node> start(const std::string& name, std::vector<std::string> extra,
                            std::optional<uint16_t> seed = std::nullopt, bool own_tls = true) {
  auto n = std::make_unique<node>();
  std::vector<std::string> flags{"--name=" + name, "--cluster-port=0",
                                 "--cluster-bind=127.0.0.1", "--cluster-retry-ms=200"};
  if (own_tls)
    for (auto f : {"--cluster-cert=" + certs().file("good", name + ".pem"),
                   "--cluster-key=" + certs().file("good", name + ".key"),
                   "--cluster-ca=" + certs().file("good", "ca.pem")})
      flags.push_back(f);
  if (seed)
    flags.push_back("--seed=127.0.0.1:" + std::to_string(*seed));
  flags.insert(flags.end(), extra.begin(), extra.end());
  n->gw = std::make_unique<gateway_process>(flags);
  auto rest = n->gw->proc().wait_for_line("cluster: node '" + name + "' listening on 127.0.0.1:",
                                          event_timeout);
  if (rest)
    n->cluster_port = static_cast<uint16_t>(std::stoul(*rest));
  EXPECT_NE(n->cluster_port, 0) << n->gw->proc().err();
  return n;
}

/// A TCP socket from `source` (a loopback address) to 127.0.0.1:`port`
/// that sends nothing; -1 on failure.
int silent_socket(const char* source, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0
      || ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Whether the server closed `fd` within `wait` (EOF or reset).
bool closed_by_server(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0)
    return false;
  char c;
  return ::recv(fd, &c, 1, 0) <= 0;
}

struct fds {
  std::vector<int> v;
  ~fds() {
    for (int fd : v)
      ::close(fd);
  }
};

/// Whether `n`'s gate lets a TLS peer presenting `cert`/`key` (none if
/// empty) through: the client does its handshake and sends a header's worth
/// of bytes, and the gate either counts a failed handshake or lets the
/// connection go on to BASP (which then drops it: it is no BASP). Read from
/// the gate's counters, since under TLS 1.3 the client finishes its
/// handshake before the server has judged the client's certificate.
bool gate_admits(const node& n, const std::string& cert, const std::string& key) {
  auto failures = n.metric("parley_cluster_port_handshake_failures_total");
  auto accepted = n.metric("parley_cluster_port_accepted_total");
  net::io_context ioc;
  net::ssl::context ctx{net::ssl::context::tls_client};
  ctx.set_verify_mode(net::ssl::verify_none);
  if (!cert.empty()) {
    ctx.use_certificate_chain_file(cert);
    ctx.use_private_key_file(key, net::ssl::context::pem);
  }
  net::ssl::stream<net::ip::tcp::socket> s{ioc, ctx};
  s.lowest_layer().connect({net::ip::make_address("127.0.0.1"), n.cluster_port});
  boost::system::error_code ec;
  s.handshake(net::ssl::stream_base::client, ec);
  if (!ec)
    net::write(s, net::buffer(std::string(32, '\0')), ec);
  // Judged: accepted, and no longer pending either way.
  EXPECT_TRUE(n.metric_reaches("parley_cluster_port_accepted_total", accepted + 1));
  EXPECT_TRUE(n.metric_reaches("parley_cluster_port_pending", 0));
  return n.metric("parley_cluster_port_handshake_failures_total") == failures;
}

} // namespace

TEST(ClusterPort, SilentSocketsAreClosedAfterTheHandshakeTimeout) {
  ASSERT_TRUE(certs().ok);
  auto a = start("a", {"--cluster-handshake-timeout-ms=300"});
  ASSERT_NE(a->cluster_port, 0);
  fds held;
  for (int i = 0; i < 5; ++i) {
    int fd = silent_socket("127.0.0.1", a->cluster_port);
    ASSERT_GE(fd, 0);
    held.v.push_back(fd);
  }
  for (int fd : held.v)
    EXPECT_TRUE(closed_by_server(fd, 10s));
  EXPECT_TRUE(a->metric_reaches("parley_cluster_port_timeouts_total", 5)) << a->gw->log();
  EXPECT_TRUE(a->metric_reaches("parley_cluster_port_pending", 0));
  EXPECT_TRUE(a->gw->proc().wait_for_count("did not authenticate within 300 ms", 1, 5s))
    << a->gw->log();
}

TEST(ClusterPort, PendingCapsHoldPerAddressAndInAllAndANodeStillJoins) {
  ASSERT_TRUE(certs().ok);
  // With an admin console, to see the members there too.
  const std::string secret = "an-operator-secret-of-32-characters-or-more";
  auto tokens = certs().dir + "/admin.tokens";
  std::ofstream{tokens} << "ops:" << secret << "\n";
  auto a = start("a", {"--cluster-handshake-timeout-ms=60000", "--cluster-max-pending=6",
                       "--cluster-max-pending-per-address=3", "--admin-port=0",
                       "--admin-token-file=" + tokens});
  ASSERT_NE(a->cluster_port, 0);
  fds held;
  // 127.0.0.2 fills its share; its fourth socket is closed at once.
  for (int i = 0; i < 3; ++i)
    held.v.push_back(silent_socket("127.0.0.2", a->cluster_port));
  ASSERT_TRUE(a->metric_reaches("parley_cluster_port_pending", 3));
  int fourth = silent_socket("127.0.0.2", a->cluster_port);
  held.v.push_back(fourth);
  EXPECT_TRUE(closed_by_server(fourth, 10s));
  EXPECT_TRUE(a->metric_reaches("parley_cluster_port_refused_total", 1));
  EXPECT_TRUE(a->gw->proc().wait_for_count("refused a connection from 127.0.0.2", 1, 5s));

  // A real node, from 127.0.0.1, still joins.
  auto b = start("b", {}, a->cluster_port);
  ASSERT_NE(b->cluster_port, 0);
  EXPECT_TRUE(a->gw->proc().wait_for_count("cluster: node 'b' joined", 1, event_timeout))
    << a->gw->log();
  EXPECT_TRUE(a->metric_reaches("parley_cluster_members", 2));
  // The link is through the gate and no longer pending.
  EXPECT_TRUE(a->metric_reaches("parley_cluster_port_pending", 3));
  // The operator sees both nodes.
  auto members = parley::client::http_call("127.0.0.1", a->gw->admin_port(), "GET", "/cluster",
                                           "Bearer " + secret);
  EXPECT_EQ(members.status, 200) << members.body;
  EXPECT_NE(members.body.find(R"("cluster":true)"), std::string::npos) << members.body;
  EXPECT_NE(members.body.find(R"("name":"a")"), std::string::npos) << members.body;
  EXPECT_NE(members.body.find(R"("name":"b")"), std::string::npos) << members.body;

  // 127.0.0.3 takes the rest of the total; then even a new address waits.
  for (int i = 0; i < 3; ++i)
    held.v.push_back(silent_socket("127.0.0.3", a->cluster_port));
  ASSERT_TRUE(a->metric_reaches("parley_cluster_port_pending", 6));
  int over = silent_socket("127.0.0.4", a->cluster_port);
  held.v.push_back(over);
  EXPECT_TRUE(closed_by_server(over, 10s));
  EXPECT_TRUE(a->metric_reaches("parley_cluster_port_refused_total", 2));
  // The established link did not suffer.
  EXPECT_EQ(a->metric("parley_cluster_members"), 2);
}

TEST(ClusterPort, OnlyPeersWithTheClustersCertificateGetThrough) {
  ASSERT_TRUE(certs().ok);
  auto a = start("a", {});
  ASSERT_NE(a->cluster_port, 0);
  EXPECT_FALSE(gate_admits(*a, "", ""));
  EXPECT_FALSE(gate_admits(*a, certs().file("rogue", "r.pem"), certs().file("rogue", "r.key")));
  // The cluster's own certificate passes the same check.
  EXPECT_TRUE(gate_admits(*a, certs().file("good", "b.pem"), certs().file("good", "b.key")));
  EXPECT_TRUE(a->metric_reaches("parley_cluster_port_handshake_failures_total", 2))
    << a->gw->log();
  EXPECT_TRUE(a->gw->proc().wait_for_count("cluster: TLS handshake from 127.0.0.1 failed", 1, 5s))
    << a->gw->log();
  // Plain bytes are no TLS either.
  int fd = silent_socket("127.0.0.1", a->cluster_port);
  ASSERT_GE(fd, 0);
  const char junk[] = "GET / HTTP/1.1\r\n\r\n";
  ASSERT_GT(::send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL), 0);
  EXPECT_TRUE(closed_by_server(fd, 10s));
  ::close(fd);
  EXPECT_TRUE(a->metric_reaches("parley_cluster_port_handshake_failures_total", 3));
}

TEST(ClusterPort, SighupReloadsTheGatesCertificates) {
  ASSERT_TRUE(certs().ok);
  // a's files where the test can replace them.
  auto dir = certs().dir + "/reload";
  std::filesystem::create_directories(dir);
  auto copy = [](const std::string& from, const std::string& to) {
    std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
  };
  copy(certs().file("good", "a.pem"), dir + "/a.pem");
  copy(certs().file("good", "a.key"), dir + "/a.key");
  copy(certs().file("good", "ca.pem"), dir + "/ca.pem");
  auto a = start("a",
                 {"--cluster-cert=" + dir + "/a.pem", "--cluster-key=" + dir + "/a.key",
                  "--cluster-ca=" + dir + "/ca.pem"},
                 std::nullopt, false);
  ASSERT_NE(a->cluster_port, 0);
  auto rogue_pem = certs().file("rogue", "r.pem");
  auto rogue_key = certs().file("rogue", "r.key");
  EXPECT_FALSE(gate_admits(*a, rogue_pem, rogue_key));

  // A broken key: the reload fails and the old files stay in use.
  { std::ofstream{dir + "/a.key"} << "not a key\n"; }
  a->gw->proc().signal(SIGHUP);
  EXPECT_TRUE(a->gw->proc().wait_for_count("cluster: TLS reload failed, still using the old", 1,
                                           event_timeout))
    << a->gw->log();
  EXPECT_TRUE(gate_admits(*a, certs().file("good", "b.pem"), certs().file("good", "b.key")));

  // The cluster moves to another CA (here: the rogue one).
  copy(rogue_pem, dir + "/a.pem");
  copy(rogue_key, dir + "/a.key");
  copy(certs().file("rogue", "ca.pem"), dir + "/ca.pem");
  a->gw->proc().signal(SIGHUP);
  EXPECT_TRUE(a->gw->proc().wait_for_count("cluster: TLS certificate reloaded", 1, event_timeout))
    << a->gw->log();
  EXPECT_TRUE(gate_admits(*a, rogue_pem, rogue_key));
  EXPECT_FALSE(gate_admits(*a, certs().file("good", "b.pem"), certs().file("good", "b.key")));
  // SIGHUP reloaded; it did not stop the node.
  EXPECT_EQ(a->gw->stop(), 0) << a->gw->log();
}

TEST(ClusterPort, BadLimitsAreRefused) {
  for (auto flag : {"--cluster-max-pending=0", "--cluster-max-pending-per-address=x",
                    "--cluster-handshake-timeout-ms=0"}) {
    auto res = run_program({PARLEY_GATEWAY_BIN, "--port=0", "--name=a", "--cluster-port=0",
                            "--cluster-insecure", flag},
                           20s);
    EXPECT_EQ(res.status, 2) << flag << "\n" << res.err;
    auto name = std::string{flag}.substr(0, std::string{flag}.find('='));
    EXPECT_NE(res.err.find(name), std::string::npos) << res.err;
  }
}
