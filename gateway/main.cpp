// parley-gateway: the WebSocket gateway. One HTTP port: GET /ws upgrades to
// a WebSocket (binary frames = protobuf, text frames = JSON), GET /healthz
// answers "ok". SIGTERM/SIGINT stop accepting, close every WebSocket with
// 1001 and exit 0. See docs/deploy.md.

#include "parley/actors/rooms_directory.hpp"
#include "parley/gateway/actor_bridge.hpp"
#include "parley/gateway/listener.hpp"
#include "parley/runtime/config.hpp"
#include "parley/runtime/node.hpp"

#include <caf/actor_cast.hpp>
#include <caf/scoped_actor.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>

using namespace parley;

namespace {

constexpr auto lookup_timeout = std::chrono::seconds(10);

// Asks a supervisor for a child's current handle.
caf::actor find_child(caf::scoped_actor& self, const runtime::supervisor_actor& sup,
                      const std::string& id) {
  caf::actor result;
  if (!sup)
    return result;
  self->request(sup, lookup_timeout, runtime::find_child_atom::value, id)
    .receive([&](caf::actor& x) { result = std::move(x); }, [&](caf::error&) {});
  return result;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Parley WebSocket gateway: /ws (WebSocket), /healthz.", "parley-gateway"};
  runtime::node_config cfg;
  cfg.name = "parley-gateway";
  runtime::add_node_options(app, cfg);
  gateway::gateway_config gcfg;
  app.add_option("--address", gcfg.address, "Address to listen on")
    ->envname("PARLEY_ADDRESS")
    ->capture_default_str();
  app.add_option("--port", gcfg.port, "TCP port (0: any free port)")
    ->envname("PARLEY_PORT")
    ->check(CLI::Range(0, 65535))
    ->capture_default_str();
  app.add_option("--io-threads", gcfg.io_threads, "Threads running the socket I/O")
    ->check(CLI::Range(size_t{1}, size_t{64}))
    ->capture_default_str();
  app.add_option("--max-connections", gcfg.max_connections,
                 "Open connections at most; more get HTTP 503")
    ->check(CLI::Range(size_t{1}, size_t{1'000'000}))
    ->capture_default_str();
  app.add_option("--max-frame-bytes", gcfg.max_frame_bytes,
                 "Largest WebSocket message; larger ones are closed with 1009")
    ->check(CLI::Range(size_t{256}, size_t{16 * 1024 * 1024}))
    ->capture_default_str();
  if (auto status = runtime::parse_command_line(app, argc, argv))
    return *status;

  runtime::node node{cfg};
  actors::rooms_config rcfg;
  auto root = node.start({actors::rooms_child(rcfg)});
  caf::scoped_actor self{node.system()};
  auto rooms_sup = caf::actor_cast<runtime::supervisor_actor>(find_child(self, root, "rooms"));
  auto directory = caf::actor_cast<actors::rooms_actor>(find_child(self, rooms_sup, "directory"));
  if (!directory) {
    std::fprintf(stderr, "parley-gateway: the rooms directory did not start\n");
    node.stop();
    node.wait();
    return 1;
  }

  actors::connection_config ccfg;
  ccfg.node = cfg.name;
  ccfg.limits.max_frame_bytes = gcfg.max_frame_bytes;
  ccfg.backlog = static_cast<uint32_t>(rcfg.room.backlog);
  // Declared after the node so it is destroyed first: its sessions stop
  // their connection actors while the actor system still runs.
  gateway::listener listener{gcfg, gateway::make_connection_factory(node.system(), directory,
                                                                    ccfg)};
  if (auto err = listener.start()) {
    std::fprintf(stderr, "parley-gateway: %s\n", err->c_str());
    node.stop();
    node.wait();
    return 1;
  }
  std::fprintf(stderr, "parley-gateway listening on %s:%u\n", listener.address().c_str(),
               static_cast<unsigned>(listener.port()));
  std::fflush(stderr);

  // Returns once the root supervisor stopped: after SIGTERM/SIGINT (the
  // node's watcher asks it to), or if the tree gave up.
  auto reason = node.wait();
  listener.stop();
  std::fprintf(stderr, "parley-gateway stopped\n");
  return runtime::node::exit_status(reason);
}
