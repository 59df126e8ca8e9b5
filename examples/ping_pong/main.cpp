// ping_pong: the gevent tutorial's Pinger and Ponger, as typed actors under a
// supervisor. Plays N rounds and prints the round-trip rate. With --crash,
// the Ponger crashes once half-way; the supervisor restarts it and the game
// still completes every round.

#include "parley/actors/ping_pong.hpp"
#include "parley/runtime/config.hpp"
#include "parley/runtime/node.hpp"
#include "parley/version.hpp"

#include <caf/actor_cast.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/system_messages.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <memory>

using namespace parley;

namespace {

constexpr auto lookup_timeout = std::chrono::seconds(10);

// Asks a supervisor for a child's current handle.
caf::expected<caf::actor> find_child(caf::scoped_actor& self,
                                     const runtime::supervisor_actor& sup,
                                     const std::string& id) {
  caf::expected<caf::actor> result{caf::actor{}};
  self->request(sup, lookup_timeout, runtime::find_child_atom::value, id)
    .receive([&](caf::actor& x) { result = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Pinger and Ponger under a supervisor: plays N rounds, prints the rate.",
               "example_ping_pong"};
  runtime::node_config cfg;
  cfg.name = "ping_pong";
  app.set_version_flag("--version", parley::version_text("example_ping_pong"));
  runtime::add_node_options(app, cfg);
  uint64_t rounds = 100000;
  bool crash = false;
  app.add_option("--rounds", rounds, "Rounds to play")
    ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000'000'000}))
    ->capture_default_str();
  app.add_flag("--crash", crash, "Make the Ponger crash once, half-way through the game");
  if (auto status = runtime::parse_command_line(app, argc, argv))
    return *status;

  runtime::node node{cfg, actors::announce_ping_pong};
  auto plan = std::make_shared<actors::crash_plan>(crash ? std::max<uint64_t>(1, rounds / 2) : 0);
  runtime::supervisor_flags game_flags{runtime::restart_strategy::one_for_one, 3,
                                       std::chrono::seconds(5)};
  auto root = node.start(
    {runtime::supervisor_child("game", game_flags, actors::ping_pong_children(plan))});

  caf::scoped_actor self{node.system()};
  auto game_sup = find_child(self, root, "game");
  auto game = caf::actor_cast<runtime::supervisor_actor>(game_sup ? *game_sup : caf::actor{});
  auto pinger_handle = game ? find_child(self, game, "pinger") : caf::expected<caf::actor>{caf::actor{}};
  auto pinger = caf::actor_cast<actors::pinger_actor>(pinger_handle ? *pinger_handle : caf::actor{});
  if (!pinger) {
    std::fprintf(stderr, "example_ping_pong: the game did not start\n");
    return 1;
  }

  std::fprintf(stderr, "example_ping_pong: playing %llu rounds%s\n",
               static_cast<unsigned long long>(rounds), crash ? " (the Ponger will crash once)" : "");
  // The reply comes as a message; a down message means the tree stopped
  // (SIGINT/SIGTERM) before the game ended.
  self->monitor(pinger);
  self->send(pinger, actors::play_atom::value, rounds);
  int status = 0;
  self->receive(
    [&](const actors::game_result& res) {
      auto secs = std::chrono::duration<double>(res.elapsed).count();
      std::printf("example_ping_pong: completed %llu of %llu rounds in %.3f s: %.0f round trips/s; "
                  "ponger lost %llu time(s)\n",
                  static_cast<unsigned long long>(res.rounds),
                  static_cast<unsigned long long>(rounds), secs,
                  secs > 0 ? static_cast<double>(res.rounds) / secs : 0.0,
                  static_cast<unsigned long long>(res.ponger_failures));
    },
    [&](caf::error& err) {
      std::fprintf(stderr, "example_ping_pong: game failed: %s\n", node.system().render(err).c_str());
      status = 1;
    },
    [&](caf::down_msg&) {
      std::fprintf(stderr, "example_ping_pong: interrupted before the game ended\n");
    });
  // Report what the supervisor saw.
  if (!node.signalled()) {
    self->request(game, lookup_timeout, runtime::describe_atom::value)
      .receive(
        [&](const runtime::supervisor_report& report) {
          for (auto& c : report.children)
            std::printf("example_ping_pong: supervisor restarted %s %llu time(s)\n", c.id.c_str(),
                        static_cast<unsigned long long>(c.restarts));
        },
        [&](caf::error&) {});
  }
  node.stop();
  auto reason = node.wait();
  return status != 0 ? status : runtime::node::exit_status(reason);
}
