// Rooms across nodes, end to end: three parley-gateway processes in one
// cluster (mutual TLS, loopback), WebSocket clients on each, and the
// gateways' /metrics. A client cannot tell which node owns its room.

#include "parley/actors/placement.hpp"
#include "parley/client/session.hpp"
#include "parley/client/ws_url.hpp"
#include "support/gateway_process.hpp"
#include "support/raw_ws.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using parley::client::session;
using parley::client::session_options;
using parley::test::gateway_process;
using parley::test::raw_ws;
namespace v1 = ::parley::v1;

constexpr auto event_timeout = 20s;

struct certificates {
  std::string dir;
  bool ok = false;

  certificates() {
    char tmpl[] = "/tmp/parley-rooms-cluster-XXXXXX";
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

/// One gateway of the cluster.
struct node {
  std::string name;
  std::unique_ptr<gateway_process> gw;
  uint16_t cluster_port = 0;

  uint16_t port() const {
    return gw->port();
  }

  double metric(const std::string& name) const {
    auto page = raw_ws::http_get(gw->port(), "/metrics");
    return raw_ws::metric(page, name).value_or(-1);
  }

  bool sees_members(size_t n) {
    return gw->proc().wait_for_output("(" + std::to_string(n) + " members)", event_timeout);
  }
};

std::unique_ptr<node> start(const std::string& name, const std::vector<uint16_t>& seeds = {}) {
  auto n = std::make_unique<node>();
  n->name = name;
  auto base = certs().dir + "/";
  std::vector<std::string> flags{"--name=" + name,
                                 "--cluster-port=0",
                                 "--cluster-bind=127.0.0.1",
                                 "--cluster-cert=" + base + name + ".pem",
                                 "--cluster-key=" + base + name + ".key",
                                 "--cluster-ca=" + base + "ca.pem",
                                 "--cluster-retry-ms=200"};
  for (auto p : seeds)
    flags.push_back("--seed=127.0.0.1:" + std::to_string(p));
  n->gw = std::make_unique<gateway_process>(flags);
  // The node agent logs its port once its middleman publishes it, which
  // may come after the gateway's own listening line: wait for it.
  auto rest = n->gw->proc().wait_for_line("cluster: node '" + name + "' listening on 127.0.0.1:",
                                          event_timeout);
  if (rest)
    n->cluster_port = static_cast<uint16_t>(std::stoul(*rest));
  EXPECT_NE(n->cluster_port, 0) << n->gw->proc().err();
  return n;
}

/// A client of one gateway.
std::unique_ptr<session> client(const node& n, const std::string& user,
                                parley::proto::encoding enc = parley::proto::encoding::json) {
  session_options opts;
  opts.enc = enc;
  auto s = std::make_unique<session>(opts);
  std::string why;
  auto url = parley::client::parse_ws_url("ws://127.0.0.1:" + std::to_string(n.port()) + "/ws",
                                          why);
  EXPECT_TRUE(url && s->connect(*url)) << s->error();
  EXPECT_TRUE(s->hello(user).ok());
  return s;
}

/// Reads frames until one matches `pred`; false after the timeout.
template <class Pred>
bool next_matching(session& s, Pred pred, v1::ServerFrame* out = nullptr,
                   std::chrono::milliseconds timeout = event_timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return false;
    v1::ServerFrame f;
    if (s.next(left, f) != parley::client::read_status::message)
      return false;
    if (pred(f)) {
      if (out)
        *out = std::move(f);
      return true;
    }
  }
}

/// The messages of `room` a client receives, until it has `n` of them.
std::vector<uint64_t> read_seqs(session& s, const std::string& room, size_t n) {
  std::vector<uint64_t> seqs;
  while (seqs.size() < n) {
    v1::ServerFrame f;
    if (!next_matching(s, [&](auto& x) { return x.has_message() && x.message().room() == room; },
                       &f))
      break;
    seqs.push_back(f.message().seq());
  }
  return seqs;
}

/// The node that runs the room (the only one with a room open).
node* owner_of(const std::vector<node*>& nodes) {
  node* found = nullptr;
  for (auto* n : nodes)
    if (n->metric("parley_rooms_open") == 1) {
      if (found)
        return nullptr; // two owners: a split brain
      found = n;
    }
  return found;
}

class RoomsCluster : public ::testing::Test {
protected:
  std::unique_ptr<node> a, b, c;

  void SetUp() override {
    ASSERT_TRUE(certs().ok) << "could not make certificates";
  }

  void start_three() {
    a = start("a");
    b = start("b", {a->cluster_port});
    c = start("c", {a->cluster_port});
    for (auto* n : {a.get(), b.get(), c.get()})
      ASSERT_TRUE(n->sees_members(3)) << n->gw->proc().err();
  }
};

TEST_F(RoomsCluster, ClientsOnThreeNodesShareOneRoomAndEachMessageCrossesOncePerNode) {
  start_three();
  const std::string room = "lobby";
  auto ann = client(*a, "ann");
  auto bob = client(*b, "bob");
  auto dan = client(*b, "dan", parley::proto::encoding::binary);
  auto cat = client(*c, "cat");
  auto eve = client(*c, "eve", parley::proto::encoding::binary);
  std::vector<session*> all{ann.get(), bob.get(), dan.get(), cat.get(), eve.get()};
  for (auto* s : all) {
    auto r = s->join(room);
    ASSERT_TRUE(r.ok()) << r.failure << (r.frame ? r.frame->DebugString() : "");
  }
  // Everyone hears of the last joiner: presence has settled.
  for (auto* s : all)
    ASSERT_TRUE(next_matching(*s, [&](auto& f) {
      if (!f.has_presence() || f.presence().room() != room)
        return false;
      for (auto& u : f.presence().joined())
        if (u == "~eve") // a guest (the default --auth)
          return true;
      return false;
    }));
  std::vector<node*> nodes{a.get(), b.get(), c.get()};
  auto* owner = owner_of(nodes);
  ASSERT_NE(owner, nullptr) << "exactly one node runs the room";
  auto relayed_before = owner->metric("parley_room_relayed_total");
  const size_t count = 10;
  for (size_t i = 1; i <= count; ++i) {
    auto r = ann->publish(room, "hello " + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.failure;
    EXPECT_EQ(r.frame->ack().published().seq(), i);
  }
  std::vector<uint64_t> expected;
  for (uint64_t i = 1; i <= count; ++i)
    expected.push_back(i);
  for (auto* s : all)
    EXPECT_EQ(read_seqs(*s, room, count), expected);
  // The owner sent each message once to each other node (both have
  // members), not once per remote member (four of them).
  EXPECT_EQ(owner->metric("parley_room_relayed_total") - relayed_before, double(count * 2));
  // Members everywhere, one room.
  auto members = bob->request([&] {
    v1::ClientFrame f;
    f.mutable_presence()->set_room(room);
    return f;
  }());
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(members.frame->ack().presence().members_size(), 5);
  // Every node lists the room once, with its five members, whoever runs it;
  // a room with members on one other node only is listed too.
  ASSERT_TRUE(ann->join("only-on-a").ok());
  for (auto* s : {ann.get(), bob.get(), cat.get()}) {
    auto list = s->rooms();
    ASSERT_TRUE(list.ok()) << list.failure;
    auto& rooms = list.frame->ack().rooms().rooms();
    ASSERT_EQ(rooms.size(), 2) << list.frame->DebugString();
    EXPECT_EQ(rooms[0].name(), "lobby");
    EXPECT_EQ(rooms[0].member_count(), 5u);
    EXPECT_EQ(rooms[0].last_seq(), count);
    EXPECT_EQ(rooms[1].name(), "only-on-a");
    EXPECT_EQ(rooms[1].member_count(), 1u);
  }
}

TEST_F(RoomsCluster, KillingTheOwnerMovesTheRoomAndClientsResume) {
  start_three();
  const std::string room = "r42";
  std::map<std::string, std::unique_ptr<session>> clients;
  std::map<std::string, node*> node_of;
  for (auto* n : {a.get(), b.get(), c.get()}) {
    auto user = "u-" + n->name;
    clients[n->name] = client(*n, user);
    node_of[n->name] = n;
    ASSERT_TRUE(clients[n->name]->join(room).ok());
  }
  std::vector<node*> nodes{a.get(), b.get(), c.get()};
  auto* owner = owner_of(nodes);
  ASSERT_NE(owner, nullptr);
  std::vector<std::string> survivors;
  for (auto* n : nodes)
    if (n != owner)
      survivors.push_back(n->name);
  auto& first = *clients[survivors[0]];
  auto& second = *clients[survivors[1]];
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(first.publish(room, "before").ok());
  ASSERT_EQ(read_seqs(second, room, 3).size(), 3u);

  auto killed_at = std::chrono::steady_clock::now();
  owner->gw->proc().signal(SIGKILL);
  // Both survivors are told the room restarted, then rejoin from their
  // last seq; the room starts on its next node by the hash.
  for (auto* s : {&first, &second}) {
    v1::ServerFrame left;
    ASSERT_TRUE(next_matching(
      *s, [&](auto& f) { return f.has_left() && f.left().room() == room; }, &left));
    EXPECT_EQ(left.left().reason(), v1::LEFT_REASON_ROOM_RESTARTED);
  }
  auto rejoin = [&](session& s) {
    auto deadline = std::chrono::steady_clock::now() + event_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = s.join(room, 3);
      if (r.ok())
        return r;
      // UNAVAILABLE while the survivors' views still hold the dead node.
      if (!r.refused() || r.frame->error().code() != v1::ERROR_CODE_UNAVAILABLE)
        return r;
    }
    return parley::client::reply{};
  };
  auto r1 = rejoin(first);
  ASSERT_TRUE(r1.ok()) << r1.failure << (r1.frame ? r1.frame->DebugString() : "");
  auto r2 = rejoin(second);
  ASSERT_TRUE(r2.ok()) << r2.failure << (r2.frame ? r2.frame->DebugString() : "");
  // The relays saw every message and seeded the room's new node: the seq
  // goes on from 3, nothing is missing, nothing comes twice.
  EXPECT_EQ(r1.frame->ack().joined().seq(), 3u);
  EXPECT_FALSE(r1.frame->ack().joined().gap());
  EXPECT_EQ(r1.frame->ack().joined().messages_size(), 0);
  EXPECT_EQ(r2.frame->ack().joined().seq(), 3u);
  auto p = first.publish(room, "after");
  ASSERT_TRUE(p.ok()) << p.failure;
  EXPECT_EQ(p.frame->ack().published().seq(), 4u);
  v1::ServerFrame got;
  ASSERT_TRUE(next_matching(
    second, [&](auto& f) { return f.has_message() && f.message().text() == "after"; }, &got));
  auto resumed = std::chrono::steady_clock::now() - killed_at;
  // A newcomer gets the backlog from before the failover too.
  auto late = client(*node_of[survivors[1]], "late");
  auto fresh = late->join(room);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh.frame->ack().joined().messages_size(), 4);
  std::printf("kill -9 of the owner to a delivered message on the new owner: %.0f ms\n",
              std::chrono::duration<double, std::milli>(resumed).count());
  std::vector<node*> alive;
  for (auto& name : survivors)
    alive.push_back(node_of[name]);
  EXPECT_NE(owner_of(alive), nullptr) << "the room runs on exactly one surviving node";
}

// A room live on one node stays there when a node that outranks it for
// that room joins: the newcomer asks before starting the room and relays
// to the live one instead. Two live copies would split the room's seq.
TEST_F(RoomsCluster, ANodeThatJoinsLaterDoesNotStartASecondCopyOfALiveRoom) {
  // A room that c would own among a, b, c, and that lives on a or b first.
  std::string room;
  for (int i = 0; i < 1000 && room.empty(); ++i) {
    auto candidate = "late-" + std::to_string(i);
    if (parley::actors::place(candidate, {"a", "b", "c"}) == "c")
      room = candidate;
  }
  ASSERT_FALSE(room.empty());
  a = start("a");
  b = start("b", {a->cluster_port});
  ASSERT_TRUE(a->sees_members(2));
  auto ann = client(*a, "ann");
  ASSERT_TRUE(ann->join(room).ok());
  ASSERT_TRUE(ann->publish(room, "one").ok());
  ASSERT_TRUE(ann->publish(room, "two").ok());
  c = start("c", {a->cluster_port});
  ASSERT_TRUE(c->sees_members(3));
  auto cat = client(*c, "cat");
  auto joined = cat->join(room);
  ASSERT_TRUE(joined.ok()) << (joined.frame ? joined.frame->DebugString() : joined.failure);
  // The same room: its seq and backlog, not a fresh one.
  EXPECT_EQ(joined.frame->ack().joined().seq(), 2u);
  EXPECT_EQ(joined.frame->ack().joined().messages_size(), 2);
  auto p = cat->publish(room, "three");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.frame->ack().published().seq(), 3u);
  EXPECT_EQ(read_seqs(*ann, room, 3), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(c->metric("parley_rooms_open"), 0);
  EXPECT_EQ(c->metric("parley_relays_open"), 1);
}

TEST(RoomsClusterConfig, AGatewayInAClusterNeedsAName) {
  auto res = parley::test::run_program(
    {PARLEY_GATEWAY_BIN, "--cluster-port=0", "--cluster-insecure"}, 30s);
  ASSERT_TRUE(res.status.has_value());
  EXPECT_EQ(*res.status, 2);
  EXPECT_NE(res.err.find("a cluster node needs --name"), std::string::npos) << res.err;
}

} // namespace
