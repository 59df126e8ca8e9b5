// Clients that come and go leave nothing behind (issue 18). The real
// gateway binary serves cycles of real WebSocket clients that connect, say
// hello, join a room and go away without leaving it: half with a close
// handshake, half by dropping the socket (a tab that dies). After every
// cycle each per-connection record the gateway reports in /metrics must be
// back at its baseline, and the allocator's live bytes within a small bound
// of where the first cycle left them. A connection that stays referenced
// after it ended (in a supervisor, a room, the listener's registry, CAF's
// monitors) shows up here as bytes that grow with every cycle.

#include "parley/proto/codec.hpp"
#include "support/gateway_process.hpp"
#include "support/ws_client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using parley::proto::encoding;
using parley::test::gateway_process;
using parley::test::ws_client;
namespace v1 = parley::v1;

namespace {

/// The gauges that must come back after a cycle, and the live heap.
const std::vector<std::string> per_connection_gauges = {
  "parley_connection_actors",
  "parley_connection_pending_requests",
  "parley_room_members",
  "parley_supervisor_children",
  "parley_actors_running",
  "parley_gateway_websockets",
  "parley_gateway_sockets",
  "parley_gateway_sessions_listed",
  "parley_gateway_addresses_tracked",
  "parley_gateway_write_starts_pending",
  "parley_gateway_outbound_queued_frames",
};
const std::string heap_gauge = "parley_heap_live_bytes";

/// Every sample of the page by name (labels dropped: these gauges have at
/// most one sample each).
std::map<std::string, double> scrape(uint16_t port) {
  std::map<std::string, double> out;
  auto reply = parley::client::http_get(port, "/metrics");
  EXPECT_EQ(reply.status, 200);
  std::istringstream in{reply.body};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    auto name_end = line.find_first_of(" {");
    auto value_at = line.rfind(' ');
    if (name_end == std::string::npos || value_at == std::string::npos)
      continue;
    out[line.substr(0, name_end)] = std::stod(line.substr(value_at + 1));
  }
  return out;
}

/// Reads until the reply to `ref` arrives; false on a close, a timeout or
/// an error reply.
bool await_ack(ws_client& c, const std::string& ref) {
  for (int i = 0; i < 100; ++i) {
    auto msg = c.read();
    if (!msg)
      return false;
    auto res = parley::proto::decode_server(msg->payload, encoding::json);
    auto* f = std::get_if<v1::ServerFrame>(&res);
    if (f && f->ref() == ref)
      return f->has_ack();
  }
  return false;
}

/// `n` clients connect, say hello as u0... and join one of `rooms` rooms,
/// all at once; then they go without leaving.
void run_cycle(uint16_t port, size_t n, size_t rooms) {
  std::vector<std::unique_ptr<ws_client>> clients;
  for (size_t i = 0; i < n; ++i) {
    auto c = std::make_unique<ws_client>(10s);
    ASSERT_TRUE(c->connect(port)) << c->error();
    auto user = "u" + std::to_string(i);
    auto room = "churn-" + std::to_string(i % rooms);
    ASSERT_TRUE(c->send_text(R"({"ref":"h","hello":{"user":")" + user + R"("}})"));
    ASSERT_TRUE(await_ack(*c, "h")) << user << ": no welcome";
    ASSERT_TRUE(c->send_text(R"({"ref":"j","join":{"room":")" + room + R"("}})"));
    ASSERT_TRUE(await_ack(*c, "j")) << user << ": no joined ack";
    clients.push_back(std::move(c));
  }
  for (size_t i = 0; i < n; ++i) {
    if (i % 2 == 0)
      clients[i]->close(); // a close handshake
    clients[i].reset();    // else the socket just goes
  }
}

/// Scrapes until every per-connection gauge equals `baseline`, at most
/// `timeout`; returns the last scrape.
std::map<std::string, double> await_baseline(uint16_t port,
                                             const std::map<std::string, double>& baseline,
                                             std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto now = scrape(port);
    bool back = true;
    for (auto& name : per_connection_gauges)
      back = back && now.count(name) > 0 && now.at(name) == baseline.at(name);
    if (back || std::chrono::steady_clock::now() >= deadline)
      return now;
    std::this_thread::sleep_for(50ms);
  }
}

/// Every sample that differs between two scrapes, for a failure message.
std::string changed(const std::map<std::string, double>& before,
                    const std::map<std::string, double>& after) {
  std::ostringstream out;
  out << "samples that changed since before the first client:\n";
  for (auto& [name, value] : after) {
    auto i = before.find(name);
    if (i == before.end() || i->second != value)
      out << "  " << name << ": " << (i == before.end() ? std::string{"-"} : std::to_string(i->second))
          << " -> " << std::to_string(value) << "\n";
  }
  return out.str();
}

} // namespace

TEST(GatewayChurn, EveryPerConnectionRecordReturnsAndTheHeapStaysFlat) {
  constexpr size_t clients = 200;
  constexpr size_t rooms = 8;
  constexpr size_t cycles = 4;
  gateway_process gw{{"--max-connections-per-address=0", "--rate-limit=100000",
                      "--rate-burst=100000"}};
  ASSERT_NE(gw.port(), 0);

  // Before any client: nothing per connection, and the node's own actors.
  auto idle = scrape(gw.port());
  for (auto& name : per_connection_gauges)
    ASSERT_EQ(idle.count(name), 1u) << name << " missing from /metrics";
  ASSERT_EQ(idle.count(heap_gauge), 1u);
  EXPECT_EQ(idle.at("parley_connection_actors"), 0);
  EXPECT_EQ(idle.at("parley_room_members"), 0);
  EXPECT_EQ(idle.at("parley_connection_pending_requests"), 0);

  // The first cycle starts the rooms and warms caches and pools: the
  // baseline is where it leaves the gauges (the rooms stay open: their idle
  // timeout, 60 s, outlasts the test).
  run_cycle(gw.port(), clients, rooms);
  if (HasFatalFailure())
    return;
  auto baseline = idle;
  // Each room is an actor and a child of the rooms supervisor.
  baseline["parley_actors_running"] = idle.at("parley_actors_running") + rooms;
  baseline["parley_supervisor_children"] = idle.at("parley_supervisor_children") + rooms;
  auto first = await_baseline(gw.port(), baseline);
  for (auto& name : per_connection_gauges)
    ASSERT_EQ(first.at(name), baseline.at(name)) << name << " after the first cycle\n"
                                                 << changed(idle, first);
  const double heap_first = first.at(heap_gauge);

  for (size_t cycle = 2; cycle <= cycles; ++cycle) {
    run_cycle(gw.port(), clients, rooms);
    if (HasFatalFailure())
      return;
    auto after = await_baseline(gw.port(), baseline);
    for (auto& name : per_connection_gauges)
      EXPECT_EQ(after.at(name), baseline.at(name)) << name << " after cycle " << cycle;
    // A connection that left its memory behind costs over 1 KB (issue 18
    // measured 1.37 KB): 600 of them would add over 800 KB. Allocator
    // noise (pools, the scrape's own page) stays far below the bound.
    double grown = after.at(heap_gauge) - heap_first;
    EXPECT_LT(grown, 128.0 * 1024) << "live heap after cycle " << cycle << ": "
                                   << after.at(heap_gauge) << " bytes, after the first "
                                   << heap_first;
  }
  EXPECT_EQ(gw.stop(), 0);
}
