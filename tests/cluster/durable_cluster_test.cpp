// Three parley-gateway processes on one PostgreSQL database (a real server,
// the CTest fixture `postgres`): the owner of a room is killed with SIGKILL,
// stopped with SIGSTOP past the failure timeout and resumed, or cut off (its
// network namespace's link down: cluster, clients and database) and healed,
// while clients on the other nodes publish as fast as their acks come back. After
// each, the database holds every acknowledged message once under the seq its
// ack gave, seqs run from 1 without a hole, nothing is there that nobody
// sent, and members on a woken owner are told the room moved.
//
// How long service took to resume is printed (failover_ms), not asserted:
// docs/storage.md reports it.

#include "parley/actors/placement.hpp"
#include "parley/client/session.hpp"
#include "parley/client/ws_url.hpp"
#include "support/gateway_process.hpp"
#include "support/postgres.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using parley::client::session;
using parley::client::session_options;
using parley::test::gateway_process;
namespace v1 = ::parley::v1;
using clock_type = std::chrono::steady_clock;

constexpr auto event_timeout = 20s;

struct certificates {
  std::string dir;
  bool ok = false;

  certificates() {
    char tmpl[] = "/tmp/parley-durable-cluster-XXXXXX";
    if (mkdtemp(tmpl) == nullptr)
      return;
    dir = tmpl;
    auto made = parley::test::run_program(
      {"/bin/bash", PARLEY_CLUSTER_CERTS_SCRIPT, dir, "a", "b", "c"});
    ok = made.status == 0;
  }

  ~certificates() {
    if (!dir.empty())
      std::filesystem::remove_all(dir);
  }
};

certificates& certs() {
  static certificates instance;
  return instance;
}

struct node {
  std::string name;
  std::string host = "127.0.0.1";
  std::unique_ptr<gateway_process> gw;
  uint16_t cluster_port = 0;
};

// Three network namespaces a, b, c (10.78.0.1-3) on a bridge that has
// 10.78.0.254 in this namespace, where the test, its clients and its
// PostgreSQL server are. Needs root (CAP_NET_ADMIN); `ok` false otherwise.
struct namespaces {
  std::string id = "d" + std::to_string(::getpid());
  bool ok = false;
  std::string host = "10.78.0.254";

  static bool sh(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
  }
  std::string ns(const std::string& n) const {
    return "pn-" + id + "-" + n;
  }
  std::string veth(const std::string& n) const {
    return "pv-" + id + "-" + n;
  }
  std::string addr(const std::string& n) const {
    return n == "a" ? "10.78.0.1" : n == "b" ? "10.78.0.2" : "10.78.0.3";
  }

  namespaces() {
    if (!sh("ip netns add " + ns("probe")))
      return;
    sh("ip netns del " + ns("probe"));
    auto bridge = "pbr-" + id;
    ok = sh("ip link add " + bridge + " type bridge") && sh("ip link set " + bridge + " up")
         && sh("ip addr add " + host + "/24 dev " + bridge);
    for (std::string n : {"a", "b", "c"})
      ok = ok && sh("ip netns add " + ns(n))
           && sh("ip link add " + veth(n) + " type veth peer name eth0 netns " + ns(n))
           && sh("ip link set " + veth(n) + " master " + bridge + " up")
           && sh("ip -n " + ns(n) + " addr add " + addr(n) + "/24 dev eth0")
           && sh("ip -n " + ns(n) + " link set eth0 up")
           && sh("ip -n " + ns(n) + " link set lo up");
  }

  ~namespaces() {
    for (std::string n : {"a", "b", "c"})
      sh("ip netns del " + ns(n));
    sh("ip link del pbr-" + id);
  }

  // Drops every packet of `n` (its link on the bridge goes down: nothing is
  // closed, only silence tells), and lets them through again.
  bool cut(const std::string& n) {
    return sh("ip link set " + veth(n) + " down");
  }
  bool heal(const std::string& n) {
    return sh("ip link set " + veth(n) + " up");
  }
};

std::unique_ptr<node> start(const std::string& name, const std::string& url,
                            const std::vector<std::string>& seeds = {},
                            const namespaces* in = nullptr) {
  auto n = std::make_unique<node>();
  n->name = name;
  if (in)
    n->host = in->addr(name);
  auto base = certs().dir + "/";
  std::vector<std::string> flags{"--name=" + name,
                                 "--store=postgres",
                                 "--postgres-url=" + url,
                                 "--rate-limit=1000000",
                                 "--rate-burst=1000000",
                                 "--cluster-port=0",
                                 "--cluster-bind=" + n->host,
                                 "--cluster-cert=" + base + name + ".pem",
                                 "--cluster-key=" + base + name + ".key",
                                 "--cluster-ca=" + base + "ca.pem",
                                 "--cluster-retry-ms=200",
                                 "--cluster-heartbeat-ms=200",
                                 "--cluster-failure-timeout-ms=1000"};
  for (auto& s : seeds)
    flags.push_back("--seed=" + s);
  std::vector<std::string> wrapper;
  if (in)
    wrapper = {"/usr/sbin/ip", "netns", "exec", in->ns(name)};
  n->gw = std::make_unique<gateway_process>(flags, wrapper, true, n->host);
  auto rest = n->gw->proc().wait_for_line(
    "cluster: node '" + name + "' listening on " + n->host + ":", event_timeout);
  if (rest)
    n->cluster_port = static_cast<uint16_t>(std::stoul(*rest));
  EXPECT_NE(n->cluster_port, 0) << n->gw->proc().err();
  return n;
}

std::unique_ptr<session> client(const node& n, const std::string& user) {
  session_options opts;
  opts.timeout = 3s;
  auto s = std::make_unique<session>(opts);
  std::string why;
  auto url = parley::client::parse_ws_url(
    "ws://" + n.host + ":" + std::to_string(n.gw->port()) + "/ws", why);
  EXPECT_TRUE(url && s->connect(*url)) << s->error();
  EXPECT_TRUE(s->hello(user).ok());
  return s;
}

// What all publishers saw: acks (seq -> text), texts sent, and when the
// acks came.
struct ledger {
  std::mutex mtx;
  std::map<uint64_t, std::string> acked;
  std::set<std::string> sent;
  std::vector<std::string> errors;
  std::vector<clock_type::time_point> ack_times;
  int twice = 0;
};

// Publishes to `room` through `n` until `stop`, one at a time, joining
// again whenever the room went away under it.
void publish_loop(const node& n, const std::string& user, const std::string& room,
                  std::atomic<bool>& stop, ledger& out) {
  auto s = client(n, user);
  bool joined = false;
  for (int i = 0; !stop; ++i) {
    if (!joined) {
      auto j = s->join(room);
      joined = j.ok()
               || (j.frame && j.frame->has_error()
                   && j.frame->error().code() == v1::ERROR_CODE_ALREADY_MEMBER);
      if (!joined) {
        std::this_thread::sleep_for(20ms);
        continue;
      }
    }
    auto text = user + "-" + std::to_string(i);
    {
      std::lock_guard<std::mutex> guard{out.mtx};
      out.sent.insert(text);
    }
    auto r = s->publish(room, text);
    if (r.ok() && r.frame->ack().has_published()) {
      std::lock_guard<std::mutex> guard{out.mtx};
      auto seq = r.frame->ack().published().seq();
      if (!out.acked.emplace(seq, text).second)
        ++out.twice;
      out.ack_times.push_back(clock_type::now());
      continue;
    }
    {
      std::lock_guard<std::mutex> guard{out.mtx};
      out.errors.push_back(r.frame ? r.frame->DebugString() : r.failure);
    }
    if (!r.frame) {
      // Timed out or closed: a fresh connection.
      s = client(n, user);
    }
    joined = false;
  }
}

class DurableCluster : public ::testing::Test {
protected:
  std::string url;
  std::unique_ptr<node> a, b, c;
  std::map<std::string, node*> by_name;
  const std::string room = "lobby";

  void SetUp() override {
    ASSERT_TRUE(certs().ok) << "could not make certificates";
  }

  // Three nodes on `db` (a fresh database of the tests' server by default),
  // on loopback or each in its namespace of `in`.
  void start_three(const namespaces* in = nullptr, std::string db = {}) {
    url = db.empty() ? parley::test::fresh_postgres_database() : db;
    ASSERT_FALSE(url.empty());
    a = start("a", url, {}, in);
    auto seed = a->host + ":" + std::to_string(a->cluster_port);
    b = start("b", url, {seed}, in);
    c = start("c", url, {seed}, in);
    for (auto* n : {a.get(), b.get(), c.get()}) {
      ASSERT_TRUE(n->gw->proc().wait_for_output("(3 members)", event_timeout))
        << n->gw->proc().err();
      by_name[n->name] = n;
    }
  }

  node& owner() {
    return *by_name[parley::actors::place(room, {"a", "b", "c"})];
  }

  std::vector<node*> others() {
    std::vector<node*> out;
    for (auto& [name, n] : by_name)
      if (n != &owner())
        out.push_back(n);
    return out;
  }

  // The room's history as the database holds it: seq -> text.
  std::map<uint64_t, std::string> stored() {
    std::map<uint64_t, std::string> out;
    auto rows = parley::test::postgres_rows(
      url, "SELECT m.seq, m.text FROM parley_messages m JOIN parley_rooms r ON r.id = m.room "
           "WHERE r.name = '" + room + "' ORDER BY m.seq");
    for (auto& row : rows)
      out[std::stoull(row[0])] = row[1];
    return out;
  }

  void check_history(ledger& l) {
    auto db = stored();
    ASSERT_FALSE(db.empty());
    EXPECT_EQ(l.twice, 0) << "a seq was acknowledged for two messages";
    uint64_t expect = 1;
    std::set<std::string> texts;
    for (auto& [seq, text] : db) {
      ASSERT_EQ(seq, expect) << "the seqs in the database have a hole";
      ++expect;
      EXPECT_TRUE(texts.insert(text).second) << text << " stored twice";
      EXPECT_EQ(l.sent.count(text), 1u) << text << " was never sent";
    }
    for (auto& [seq, text] : l.acked) {
      auto i = db.find(seq);
      ASSERT_NE(i, db.end()) << "acknowledged seq " << seq << " is not in the database";
      EXPECT_EQ(i->second, text) << "seq " << seq << " was acknowledged for another message";
    }
  }

  // The longest pause between acks after `t`: how long service took to
  // resume.
  static long failover_ms(ledger& l, clock_type::time_point t) {
    std::lock_guard<std::mutex> guard{l.mtx};
    auto prev = t;
    long worst = -1;
    for (auto when : l.ack_times) {
      if (when < t)
        continue;
      worst = std::max<long>(
        worst, std::chrono::duration_cast<std::chrono::milliseconds>(when - prev).count());
      prev = when;
      if (when - t > 10s)
        break;
    }
    return worst;
  }
};

TEST_F(DurableCluster, KillingTheOwnerLosesNothingAcknowledgedAndGivesNoSeqTwice) {
  start_three();
  ledger l;
  std::atomic<bool> stop{false};
  std::vector<std::thread> publishers;
  auto nodes = others();
  for (size_t i = 0; i < 4; ++i)
    publishers.emplace_back(publish_loop, std::cref(*nodes[i % 2]), "p" + std::to_string(i),
                            std::cref(room), std::ref(stop), std::ref(l));
  std::this_thread::sleep_for(1500ms);
  {
    std::lock_guard<std::mutex> guard{l.mtx};
    ASSERT_GT(l.acked.size(), 10u) << "publishing did not get going";
  }
  auto killed_at = clock_type::now();
  owner().gw->proc().signal(SIGKILL);
  std::this_thread::sleep_for(4s);
  stop = true;
  for (auto& t : publishers)
    t.join();
  std::printf("failover_ms after kill -9 of the owner: %ld (acks %zu, refused %zu)\n",
              failover_ms(l, killed_at), l.acked.size(), l.errors.size());
  ASSERT_GT(l.ack_times.back() - killed_at, 1s) << "service did not resume after the kill";
  check_history(l);
}

TEST_F(DurableCluster, AnOwnerStoppedPastTheFailureTimeoutCannotCommitAndItsMembersAreTold) {
  start_three();
  auto& old_owner = owner();
  // A member on the owner's node: it must hear that the room moved.
  auto watcher = client(old_owner, "watcher");
  ASSERT_TRUE(watcher->join(room).ok());
  ledger l;
  std::atomic<bool> stop{false};
  std::vector<std::thread> publishers;
  auto nodes = others();
  for (size_t i = 0; i < 4; ++i)
    publishers.emplace_back(publish_loop, std::cref(*nodes[i % 2]), "p" + std::to_string(i),
                            std::cref(room), std::ref(stop), std::ref(l));
  std::this_thread::sleep_for(1500ms);
  auto stopped_at = clock_type::now();
  old_owner.gw->proc().signal(SIGSTOP);
  std::this_thread::sleep_for(4s); // four failure timeouts
  old_owner.gw->proc().signal(SIGCONT);
  // The woken node finds it lost the room, stops its copy and tells its
  // members to join again.
  v1::ServerFrame f;
  bool told = false;
  auto deadline = clock_type::now() + event_timeout;
  while (!told && clock_type::now() < deadline) {
    if (watcher->next(1s, f) != parley::client::read_status::message)
      continue;
    told = f.has_left() && f.left().room() == room
           && f.left().reason() == v1::LEFT_REASON_ROOM_MOVED;
  }
  EXPECT_TRUE(told) << "the woken owner's member was not told the room moved\n"
                    << old_owner.gw->proc().err();
  // It joins again (the woken node may need a moment to see the cluster
  // again: until then it refuses with UNAVAILABLE, as a minority must).
  bool rejoined = false;
  for (int i = 0; i < 100 && !rejoined; ++i) {
    rejoined = watcher->join(room).ok();
    if (!rejoined)
      std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(rejoined);
  std::this_thread::sleep_for(1s);
  stop = true;
  for (auto& t : publishers)
    t.join();
  std::printf("failover_ms after SIGSTOP of the owner: %ld (acks %zu, refused %zu)\n",
              failover_ms(l, stopped_at), l.acked.size(), l.errors.size());
  check_history(l);
}

TEST_F(DurableCluster, AnOwnerCutOffFromEverythingLosesTheRoomToTheMajorityAndIsToldOnHealing) {
  namespaces net;
  if (!net.ok)
    GTEST_SKIP() << "this machine does not allow network namespaces (needs root and "
                    "CAP_NET_ADMIN): the partition cannot be made";
  // A server of this test's own that the namespaces reach over the bridge.
  auto own = parley::test::postgres_dir() + "-netns-" + std::to_string(::getpid());
  auto script = parley::test::postgres_script();
  ASSERT_EQ(std::system(("PARLEY_PG_LISTEN=127.0.0.1," + net.host
                         + " PARLEY_PG_TRUST=10.78.0.0/24 bash " + script + " start " + own
                         + " >/dev/null")
                          .c_str()),
            0);
  std::ifstream in{own + "/url"};
  std::string server;
  std::getline(in, server);
  ASSERT_EQ(parley::test::postgres_exec(server, "CREATE DATABASE partition"), "");
  // postgresql://user@127.0.0.1:PORT/postgres -> user@10.78.0.254:PORT/partition
  auto at = server.find("127.0.0.1");
  auto db = server.substr(0, at) + net.host
            + server.substr(at + 9, server.rfind('/') - at - 9) + "/partition";
  start_three(&net, db);
  auto& old_owner = owner();
  auto watcher = client(old_owner, "watcher");
  ASSERT_TRUE(watcher->join(room).ok());
  ledger l;
  std::atomic<bool> stop{false};
  std::vector<std::thread> publishers;
  auto nodes = others();
  for (size_t i = 0; i < 4; ++i)
    publishers.emplace_back(publish_loop, std::cref(*nodes[i % 2]), "p" + std::to_string(i),
                            std::cref(room), std::ref(stop), std::ref(l));
  std::this_thread::sleep_for(1500ms);
  auto cut_at = clock_type::now();
  ASSERT_TRUE(net.cut(old_owner.name));
  std::this_thread::sleep_for(4s);
  ASSERT_TRUE(net.heal(old_owner.name));
  v1::ServerFrame f;
  bool told = false;
  auto deadline = clock_type::now() + event_timeout;
  while (!told && clock_type::now() < deadline) {
    if (watcher->next(1s, f) != parley::client::read_status::message)
      continue;
    told = f.has_left() && f.left().room() == room
           && f.left().reason() == v1::LEFT_REASON_ROOM_MOVED;
  }
  EXPECT_TRUE(told) << "the healed owner's member was not told the room moved\n"
                    << old_owner.gw->proc().err();
  std::this_thread::sleep_for(1s);
  stop = true;
  for (auto& t : publishers)
    t.join();
  std::printf("failover_ms after cutting the owner off: %ld (acks %zu, refused %zu)\n",
              failover_ms(l, cut_at), l.acked.size(), l.errors.size());
  check_history(l);
  for (auto* n : {a.get(), b.get(), c.get()})
    n->gw->stop();
  std::system(("bash " + script + " rm " + own).c_str());
}

} // namespace
