// Nodes as real processes on 127.0.0.1: the example program
// example_ping_pong_remote in its three roles, with certificates made by
// scripts/cluster-certs.sh. Every wait is bounded and waits for a log line
// or an exit, never for a fixed time.

#include "support/process.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using parley::test::process;
using parley::test::run_program;

constexpr auto event_timeout = 20s;

/// The certificates of two clusters: "good" (nodes a..f) and "rogue" (r).
class certificates {
public:
  certificates() {
    char tmpl[] = "/tmp/parley-cluster-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr)
      return;
    dir_ = tmpl;
    auto made = run_program({"/bin/bash", PARLEY_CLUSTER_CERTS_SCRIPT, dir_ + "/good", "a", "b", "c",
                             "d", "e", "f"});
    auto rogue = run_program({"/bin/bash", PARLEY_CLUSTER_CERTS_SCRIPT, dir_ + "/rogue", "r", "a"});
    ok_ = made.status == 0 && rogue.status == 0;
    if (!ok_)
      std::fprintf(stderr, "cluster-certs.sh failed:\n%s\n%s\n", made.err.c_str(),
                   rogue.err.c_str());
  }

  ~certificates() {
    if (!dir_.empty())
      std::filesystem::remove_all(dir_);
  }

  bool ok() const {
    return ok_;
  }

  const std::string& dir() const {
    return dir_;
  }

  /// --cluster-cert/key/ca for `node` of `cluster` ("good" or "rogue").
  std::vector<std::string> flags(const std::string& node,
                                 const std::string& cluster = "good") const {
    auto base = dir_ + "/" + cluster + "/";
    return {"--cluster-cert=" + base + node + ".pem", "--cluster-key=" + base + node + ".key",
            "--cluster-ca=" + base + "ca.pem"};
  }

private:
  std::string dir_;
  bool ok_ = false;
};

certificates& certs() {
  static certificates instance;
  return instance;
}

struct node_options {
  std::string role_ = "node";
  std::vector<uint16_t> seeds_;
  /// Certificate of this node name in the good cluster, unless set.
  std::optional<std::vector<std::string>> tls_;
  std::vector<std::string> extra_;

  node_options& role(std::string x) {
    role_ = std::move(x);
    return *this;
  }
  node_options& seed(uint16_t port) {
    seeds_.push_back(port);
    return *this;
  }
  node_options& tls(std::vector<std::string> x) {
    tls_ = std::move(x);
    return *this;
  }
  node_options& extra(std::vector<std::string> x) {
    extra_ = std::move(x);
    return *this;
  }
};

node_options opts() {
  return {};
}

/// One node process; knows its cluster port once it listens.
struct node {
  std::string name;
  std::unique_ptr<process> proc;
  uint16_t port = 0;

  /// "node 'x' joined", as this node logs it.
  bool saw_join(const std::string& other, size_t times = 1) {
    return proc->wait_for_count("node '" + other + "' joined", times, event_timeout);
  }

  bool saw_leave(const std::string& other, size_t times = 1) {
    return proc->wait_for_count("node '" + other + "' left", times, event_timeout);
  }
};

std::unique_ptr<node> start_node(const std::string& name, node_options opts = {}) {
  std::vector<std::string> argv{PARLEY_PING_PONG_REMOTE_BIN,
                                "--name=" + name,
                                "--role=" + opts.role_,
                                "--cluster-port=0",
                                "--cluster-bind=127.0.0.1",
                                "--threads=2"};
  for (auto& f : opts.tls_ ? *opts.tls_ : certs().flags(name))
    argv.push_back(f);
  for (auto port : opts.seeds_)
    argv.push_back("--seed=127.0.0.1:" + std::to_string(port));
  for (auto& x : opts.extra_)
    argv.push_back(x);
  auto n = std::make_unique<node>();
  n->name = name;
  n->proc = std::make_unique<process>(argv);
  const std::string marker = "listening on 127.0.0.1:";
  auto rest = n->proc->wait_for_line(marker, event_timeout);
  if (!rest) {
    ADD_FAILURE() << name << " did not listen:\n" << n->proc->err();
    return n;
  }
  n->port = static_cast<uint16_t>(std::stoi(*rest));
  return n;
}

class Cluster : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_TRUE(certs().ok()) << "could not make the test certificates";
  }
};

TEST_F(Cluster, ThreeNodesFormAFullMeshAndAPingerFindsTheRemotePonger) {
  auto a = start_node("a");
  ASSERT_NE(a->port, 0);
  auto b = start_node("b", opts().role("ponger").seed(a->port));
  ASSERT_TRUE(a->saw_join("b")) << a->proc->err();
  auto c = start_node("c", opts().role("pinger").seed(a->port).extra({"--rounds=300"}));
  auto status = c->proc->wait(60s);
  ASSERT_TRUE(status.has_value()) << c->proc->err();
  EXPECT_EQ(*status, 0) << c->proc->out() << c->proc->err();
  EXPECT_NE(c->proc->out().find("found the ponger on another node"), std::string::npos)
    << c->proc->out();
  EXPECT_NE(c->proc->out().find("played 300 rounds"), std::string::npos) << c->proc->out();
  // b and c never named each other: they met through a.
  EXPECT_TRUE(b->saw_join("c")) << b->proc->err();
  EXPECT_NE(c->proc->err().find("node 'b' joined"), std::string::npos) << c->proc->err();
  EXPECT_TRUE(a->proc->wait_for_output("(3 members)", event_timeout)) << a->proc->err();
  // c stopped cleanly: the others saw it go.
  EXPECT_TRUE(a->saw_leave("c")) << a->proc->err();
  EXPECT_TRUE(b->saw_leave("c")) << b->proc->err();
}

TEST_F(Cluster, OneWayMessagesToARemoteSinkAllArriveInOrderOfSending) {
  auto a = start_node("a", opts().role("sink"));
  auto b = start_node("b", opts().role("source").seed(a->port).extra({"--rounds=5000"}));
  auto status = b->proc->wait(60s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0) << b->proc->out() << b->proc->err();
  EXPECT_NE(b->proc->out().find("sent 5000 one-way messages"), std::string::npos)
    << b->proc->out();
  EXPECT_NE(b->proc->out().find("the sink counted 5000"), std::string::npos) << b->proc->out();
}

TEST_F(Cluster, APingerSeesThePongersNodeDieThroughItsMonitor) {
  auto a = start_node("a", opts().role("ponger"));
  auto b = start_node(
    "b", opts().role("pinger").seed(a->port).extra({"--rounds=1000000000"}));
  ASSERT_TRUE(b->proc->wait_for_output("found the ponger on another node", event_timeout))
    << b->proc->out() << b->proc->err();
  a->proc->signal(SIGKILL);
  auto status = b->proc->wait(event_timeout);
  ASSERT_TRUE(status.has_value()) << "the pinger did not notice";
  EXPECT_EQ(*status, 1);
  EXPECT_NE(b->proc->out().find("the ponger went away after"), std::string::npos)
    << b->proc->out();
  EXPECT_NE(b->proc->err().find("node 'a' left: its link dropped"), std::string::npos)
    << b->proc->err();
}

TEST_F(Cluster, AKilledNodeIsRemovedAndReadmittedWhenItComesBack) {
  auto a = start_node("a");
  auto b = start_node("b", opts().role("ponger").seed(a->port));
  auto c = start_node("c", opts().seed(a->port));
  ASSERT_TRUE(c->saw_join("b")) << c->proc->err();
  ASSERT_TRUE(a->saw_join("c"));
  b->proc->signal(SIGKILL);
  ASSERT_TRUE(b->proc->wait(event_timeout).has_value());
  EXPECT_TRUE(a->saw_leave("b")) << a->proc->err();
  EXPECT_TRUE(c->saw_leave("b")) << c->proc->err();
  // Same name, new process (and port): admitted again by both.
  auto b2 = start_node("b", opts().role("ponger").seed(a->port));
  EXPECT_TRUE(a->saw_join("b", 2)) << a->proc->err();
  EXPECT_TRUE(c->saw_join("b", 2)) << c->proc->err();
  // Its Ponger registered again: a new pinger plays against it.
  auto d = start_node("d", opts().role("pinger").seed(c->port).extra({"--rounds=50"}));
  auto status = d->proc->wait(60s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0) << d->proc->out() << d->proc->err();
  EXPECT_NE(d->proc->out().find("played 50 rounds"), std::string::npos) << d->proc->out();
}

TEST_F(Cluster, AHungNodeIsCutOffAfterTheFailureTimeoutAndRejoinsWhenItWakes) {
  std::vector<std::string> fast{"--cluster-heartbeat-ms=100", "--cluster-failure-timeout-ms=800",
                                "--cluster-retry-ms=200"};
  auto a = start_node("a", opts().extra(fast));
  auto b = start_node("b", opts().seed(a->port).extra(fast));
  ASSERT_TRUE(a->saw_join("b")) << a->proc->err();
  b->proc->signal(SIGSTOP); // hangs: the TCP link stays open, heartbeats stop
  EXPECT_TRUE(a->saw_leave("b")) << a->proc->err();
  EXPECT_NE(a->proc->err().find("node 'b' left: its link dropped or went silent"),
            std::string::npos)
    << a->proc->err();
  b->proc->signal(SIGCONT);
  // b finds its link gone, and its seed retries bring it back.
  EXPECT_TRUE(a->saw_join("b", 2)) << a->proc->err() << b->proc->err();
}

TEST_F(Cluster, ANodeWithACertificateFromAnotherCaIsRefused) {
  auto a = start_node("a");
  auto b = start_node("b", opts().seed(a->port));
  ASSERT_TRUE(a->saw_join("b"));
  // r's certificate is signed by another CA; so is its trust anchor.
  auto r = start_node("r", opts().seed(a->port).tls(certs().flags("r", "rogue")));
  auto seed = "cannot join through 127.0.0.1:" + std::to_string(a->port);
  EXPECT_TRUE(r->proc->wait_for_output(seed, event_timeout)) << r->proc->err();
  // A certificate for a member's name (a) from the rogue CA fares no better.
  auto fake_a = start_node("e", opts().seed(b->port).tls(certs().flags("a", "rogue")));
  EXPECT_TRUE(fake_a->proc->wait_for_output(
    "cannot join through 127.0.0.1:" + std::to_string(b->port), event_timeout));
  // Nor does a node without TLS.
  auto plain = start_node("f", opts().seed(a->port).tls({"--cluster-insecure"}));
  EXPECT_TRUE(plain->proc->wait_for_output(seed, event_timeout)) << plain->proc->err();
  // The cluster itself never admitted any of them, and b was never cut
  // off. (Stopping the intruders first, then b, then a, lets each log
  // only what happened before.)
  for (auto* n : {r.get(), fake_a.get(), plain.get()}) {
    n->proc->signal(SIGTERM);
    ASSERT_TRUE(n->proc->wait(event_timeout).has_value());
    EXPECT_EQ(n->proc->count("joined"), 0u) << n->proc->err();
  }
  b->proc->signal(SIGTERM);
  ASSERT_TRUE(b->proc->wait(event_timeout).has_value());
  a->proc->signal(SIGTERM);
  ASSERT_TRUE(a->proc->wait(event_timeout).has_value());
  EXPECT_EQ(a->proc->count("joined"), 1u) << a->proc->err();
  EXPECT_EQ(a->proc->count("node 'b' left: it stopped"), 1u) << a->proc->err();
  EXPECT_EQ(a->proc->count("left"), 1u) << a->proc->err();
  EXPECT_EQ(b->proc->count("joined"), 1u) << b->proc->err();
}

TEST_F(Cluster, ASecondLiveNodeUnderATakenNameIsRefused) {
  auto a = start_node("a");
  auto b = start_node("b", opts().seed(a->port));
  ASSERT_TRUE(a->saw_join("b"));
  auto twin = start_node("b", opts().seed(a->port));
  EXPECT_TRUE(twin->proc->wait_for_output("the node name 'b' is taken", event_timeout))
    << twin->proc->err();
  EXPECT_TRUE(a->proc->wait_for_output("refused node 'b'", event_timeout)) << a->proc->err();
  twin->proc->signal(SIGTERM);
  ASSERT_TRUE(twin->proc->wait(event_timeout).has_value());
  a->proc->signal(SIGTERM);
  ASSERT_TRUE(a->proc->wait(event_timeout).has_value());
  // The first b stayed a member throughout; the twin never got in.
  EXPECT_EQ(a->proc->count("node 'b' left"), 0u) << a->proc->err();
  EXPECT_EQ(a->proc->count("node 'b' joined"), 1u) << a->proc->err();
}

// -- bad configuration: one line, exit 2 ----------------------------------------------

struct bad_config {
  std::vector<std::string> args;
  std::string message;
};

TEST_F(Cluster, ACertificateItsOwnCaDidNotSignIsWarnedAboutAtStart) {
  // Valid files that do not fit together: the node starts (a CA may be
  // rolled out after its certificates), but says at once why peers will
  // refuse it, rather than leaving that to their handshake logs.
  auto good = certs().flags("d");
  auto rogue = certs().flags("r", "rogue");
  auto n = start_node("r", opts().tls({rogue[0], rogue[1], good[2]}));
  ASSERT_NE(n->port, 0);
  EXPECT_NE(n->proc->err().find("example_ping_pong_remote: warning: --cluster-cert "), std::string::npos)
    << n->proc->err();
  EXPECT_NE(n->proc->err().find("is not signed by --cluster-ca"), std::string::npos)
    << n->proc->err();
  auto fine = start_node("d");
  ASSERT_NE(fine->port, 0);
  EXPECT_EQ(fine->proc->err().find("warning:"), std::string::npos) << fine->proc->err();
}

class ClusterConfig : public ::testing::TestWithParam<bad_config> {};

TEST_P(ClusterConfig, IsRefusedWithOneLineAndStatus2) {
  ASSERT_TRUE(certs().ok());
  std::vector<std::string> argv{PARLEY_PING_PONG_REMOTE_BIN, "--name=x"};
  for (auto& a : GetParam().args) {
    auto arg = a;
    if (auto pos = arg.find("@DIR@"); pos != std::string::npos)
      arg.replace(pos, 5, certs().dir());
    argv.push_back(arg);
  }
  auto message = GetParam().message;
  if (auto pos = message.find("@DIR@"); pos != std::string::npos)
    message.replace(pos, 5, certs().dir());
  auto res = run_program(argv, 30s);
  ASSERT_TRUE(res.status.has_value());
  EXPECT_EQ(*res.status, 2) << res.err;
  EXPECT_NE(res.err.find(message), std::string::npos) << res.err;
  EXPECT_EQ(std::count(res.err.begin(), res.err.end(), '\n'), 1) << res.err;
}

std::vector<std::string> good_tls(const std::string& node) {
  return {"--cluster-cert=@DIR@/good/" + node + ".pem", "--cluster-key=@DIR@/good/" + node + ".key",
          "--cluster-ca=@DIR@/good/ca.pem"};
}

std::vector<std::string> with(std::vector<std::string> base, std::vector<std::string> more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

INSTANTIATE_TEST_SUITE_P(
  Bad, ClusterConfig,
  ::testing::Values(
    bad_config{{"--cluster-port=0"}, "needs --cluster-cert, --cluster-key and --cluster-ca"},
    bad_config{{"--seed=127.0.0.1:4000"}, "--seed needs --cluster-port"},
    bad_config{{}, "--cluster-port is required"},
    bad_config{with({"--cluster-port=0", "--seed=localhost"}, good_tls("a")),
               "--seed localhost: expected host:port"},
    bad_config{with({"--cluster-port=0", "--seed=h:99999"}, good_tls("a")),
               "the port is not a number from 1 to 65535"},
    bad_config{{"--cluster-port=70000"}, "--cluster-port"},
    bad_config{{"--cluster-port=0", "--cluster-cert=@DIR@/good/a.pem",
                "--cluster-key=@DIR@/good/b.key", "--cluster-ca=@DIR@/good/ca.pem"},
               "does not belong to --cluster-cert"},
    bad_config{{"--cluster-port=0", "--cluster-cert=@DIR@/good/a.key",
                "--cluster-key=@DIR@/good/a.key", "--cluster-ca=@DIR@/good/ca.pem"},
               "--cluster-cert @DIR@"},
    bad_config{{"--cluster-port=0", "--cluster-cert=@DIR@/good/a.pem",
                "--cluster-key=@DIR@/good/a.key", "--cluster-ca=@DIR@/nowhere.pem"},
               "cannot read"},
    bad_config{with({"--cluster-port=0", "--cluster-insecure"}, good_tls("a")),
               "exclude each other"},
    bad_config{with({"--cluster-port=0", "--cluster-heartbeat-ms=500",
                     "--cluster-failure-timeout-ms=500"},
                    good_tls("a")),
               "must be longer than"},
    bad_config{{"--cluster-port=0", "--cluster-insecure", "--cluster-heartbeat-ms=0"},
               "--cluster-heartbeat-ms"}));

} // namespace
