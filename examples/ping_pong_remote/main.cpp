// example_ping_pong_remote: the Pinger on one node, the Ponger on another, each its
// own process; they find each other by name through the cluster.
//
//   example_ping_pong_remote --role=ponger --name=b --cluster-port=4101 --seed=127.0.0.1:4100 ...
//   example_ping_pong_remote --role=pinger --name=c --cluster-port=4102 --seed=127.0.0.1:4100 ...
//
// The Ponger runs under a supervisor and registers itself as "ponger" each
// time it starts. The Pinger looks "ponger" up as a typed `ponger_actor`
// (local or remote, it cannot tell), monitors it, plays --rounds rounds and
// prints the round-trip rate. If the Ponger's node goes away mid-game, the
// monitor says so and the Pinger exits 1. --role=node only joins the
// cluster (a seed). See docs/cluster.md.

#include "parley/actors/ping_pong.hpp"
#include "parley/runtime/cluster.hpp"
#include "parley/runtime/config.hpp"
#include "parley/runtime/node.hpp"
#include "parley/version.hpp"

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/system_messages.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

using namespace parley;

namespace {

using clock_type = std::chrono::steady_clock;

struct game {
  actors::ponger_actor ponger;
  uint64_t rounds = 0;
  uint64_t played = 0;
  clock_type::time_point started;
};

// One round: a ball out, the same ball back, then the next round. A reply
// that does not come in time, or the Ponger's down message, ends the game.
void play(caf::event_based_actor* self, std::shared_ptr<game> g, caf::actor reporter) {
  if (g->played == g->rounds) {
    auto elapsed = std::chrono::duration<double>(clock_type::now() - g->started).count();
    self->send(reporter, g->played, elapsed);
    self->quit();
    return;
  }
  self->request(g->ponger, std::chrono::seconds(5), runtime::ping_atom::value,
                actors::ball{g->played + 1})
    .then(
      [self, g, reporter](const actors::ball& back) {
        if (back.round != g->played + 1) {
          self->send(reporter, caf::error{caf::sec::unexpected_response});
          self->quit();
          return;
        }
        ++g->played;
        play(self, g, reporter);
      },
      [self, reporter](caf::error& err) {
        self->send(reporter, std::move(err));
        self->quit();
      });
}

caf::behavior pinger(caf::event_based_actor* self, std::shared_ptr<game> g,
                     caf::actor reporter) {
  self->monitor(g->ponger);
  self->set_down_handler([self, g, reporter](caf::down_msg& msg) {
    self->send(reporter, g->played, msg.reason);
    self->quit();
  });
  g->started = clock_type::now();
  play(self, g, reporter);
  return {[](caf::unit_t) {}};
}

// One-way messages for the throughput benchmark: the sink counts balls and
// says how many it has; a `get` sent after the last ball is answered after
// all of them (one sender, one receiver: CAF keeps their order).
using sink_actor = caf::typed_actor<caf::reacts_to<actors::ball>,
                                    caf::replies_to<runtime::get_atom>::with<uint64_t>>;

// (`counted` is the starting count: CAF 0.17 spawns a function that takes
// only `self` in a way UBSan reports as a null reference.)
sink_actor::behavior_type sink_impl(sink_actor::stateful_pointer<uint64_t> self, uint64_t counted) {
  self->state = counted;
  return {
    [self](const actors::ball&) { ++self->state; },
    [self](runtime::get_atom) { return self->state; },
  };
}

runtime::child_spec registered_sink() {
  runtime::child_spec spec;
  spec.id = "sink";
  spec.start = [](caf::actor_system& sys,
                  const runtime::supervisor_actor&) -> caf::expected<caf::actor> {
    auto sink = sys.spawn(sink_impl, uint64_t{0});
    if (!runtime::register_name_async(sys, "sink", caf::actor_cast<caf::strong_actor_ptr>(sink)))
      return caf::make_error(caf::sec::runtime_error, std::string{"this node runs no cluster agent"});
    return caf::actor_cast<caf::actor>(sink);
  };
  return spec;
}

// The Ponger as a supervised child that registers itself on every start.
runtime::child_spec registered_ponger() {
  runtime::child_spec spec;
  spec.id = "ponger";
  spec.start = [](caf::actor_system& sys,
                  const runtime::supervisor_actor&) -> caf::expected<caf::actor> {
    auto ponger = sys.spawn(actors::ponger_impl, std::make_shared<actors::crash_plan>(0));
    // Not the blocking register_name: this runs inside the supervisor.
    // (The agent starts first, so it is there.)
    if (!runtime::register_name_async(sys, "ponger", caf::actor_cast<caf::strong_actor_ptr>(ponger)))
      return caf::make_error(caf::sec::runtime_error, std::string{"this node runs no cluster agent"});
    return caf::actor_cast<caf::actor>(ponger);
  };
  return spec;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"The Pinger and the Ponger on two nodes of a cluster.", "example_ping_pong_remote"};
  runtime::node_config cfg;
  cfg.name = "";
  app.set_version_flag("--version", parley::version_text("example_ping_pong_remote"));
  runtime::add_node_options(app, cfg);
  runtime::cluster_config ccfg;
  runtime::add_cluster_options(app, ccfg);
  std::string role = "node";
  uint64_t rounds = 1000;
  int64_t find_timeout_ms = 10000;
  app.add_option("--role", role,
                 "ponger, pinger, node (a member that only relays), or sink and source "
                 "(one-way messages: the source sends --rounds balls to the sink)")
    ->check(CLI::IsMember({"ponger", "pinger", "node", "sink", "source"}))
    ->capture_default_str();
  app.add_option("--rounds", rounds, "Rounds the Pinger plays")
    ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000'000}))
    ->capture_default_str();
  uint64_t in_flight = 1;
  app.add_option("--in-flight", in_flight,
                 "Pingers playing at once, the rounds split among them (requests in flight)")
    ->check(CLI::Range(uint64_t{1}, uint64_t{10'000}))
    ->capture_default_str();
  app.add_option("--find-timeout-ms", find_timeout_ms,
                 "How long the Pinger waits for a Ponger to appear")
    ->check(CLI::Range(int64_t{1}, int64_t{600'000}))
    ->capture_default_str();
  if (auto status = runtime::parse_command_line(app, argc, argv))
    return *status;

  if (cfg.name.empty()) {
    std::fprintf(stderr, "example_ping_pong_remote: error: --name is required (unique in the cluster)\n");
    return runtime::usage_error_status;
  }
  if (auto bad = runtime::validate(ccfg)) {
    std::fprintf(stderr, "example_ping_pong_remote: error: %s\n", bad->c_str());
    return runtime::usage_error_status;
  }
  for (auto& w : runtime::warnings(ccfg))
    std::fprintf(stderr, "example_ping_pong_remote: warning: %s\n", w.c_str());
  if (!ccfg.enabled()) {
    std::fprintf(stderr, "example_ping_pong_remote: error: --cluster-port is required\n");
    return runtime::usage_error_status;
  }

  runtime::node node{cfg, [&](caf::actor_system_config& sys_cfg) {
                       actors::announce_ping_pong(sys_cfg);
                       runtime::setup_cluster(sys_cfg, ccfg);
                     }};
  std::vector<runtime::child_spec> children{runtime::cluster_child(cfg.name, ccfg)};
  if (role == "sink")
    children.push_back(runtime::supervisor_child("bench", {}, {registered_sink()}));
  if (role == "ponger")
    children.push_back(runtime::supervisor_child("game", {}, {registered_ponger()}));
  auto root = node.start(std::move(children));
  if (role != "pinger" && role != "source") {
    auto reason = node.wait();
    return runtime::node::exit_status(reason);
  }

  int status = 0;
  // Children start asynchronously: wait until the agent runs.
  if (auto err = runtime::wait_for_agent(node.system(), root, std::chrono::seconds(10))) {
    std::fprintf(stderr, "example_ping_pong_remote: the cluster agent did not start: %s\n",
                 node.system().render(err).c_str());
    node.stop();
    node.wait();
    return 1;
  }
  if (role == "source") {
    auto sink = runtime::find<sink_actor>(node.system(), "sink",
                                          std::chrono::milliseconds(find_timeout_ms));
    if (!sink) {
      std::fprintf(stderr, "example_ping_pong_remote: no sink: %s\n",
                   node.system().render(sink.error()).c_str());
      status = 1;
    } else {
      caf::scoped_actor self{node.system()};
      uint64_t before = 0;
      self->request(*sink, std::chrono::seconds(10), runtime::get_atom::value)
        .receive([&](uint64_t n) { before = n; }, [&](caf::error&) { status = 1; });
      auto started = clock_type::now();
      for (uint64_t i = 1; i <= rounds; ++i)
        self->send(*sink, actors::ball{i});
      uint64_t counted = 0;
      self->request(*sink, std::chrono::seconds(120), runtime::get_atom::value)
        .receive([&](uint64_t n) { counted = n - before; },
                 [&](caf::error& err) {
                   std::printf("example_ping_pong_remote: the sink did not answer: %s\n",
                               node.system().render(err).c_str());
                   status = 1;
                 });
      auto secs = std::chrono::duration<double>(clock_type::now() - started).count();
      if (status == 0) {
        std::printf("example_ping_pong_remote: sent %llu one-way messages in %.3f s: %.0f messages/s; "
                    "the sink counted %llu\n",
                    static_cast<unsigned long long>(rounds), secs,
                    secs > 0 ? static_cast<double>(rounds) / secs : 0.0,
                    static_cast<unsigned long long>(counted));
        if (counted != rounds)
          status = 1;
      }
    }
    std::fflush(stdout);
    node.stop();
    auto reason = node.wait();
    return status != 0 ? status : runtime::node::exit_status(reason);
  }
  auto ponger = runtime::find<actors::ponger_actor>(node.system(), "ponger",
                                                    std::chrono::milliseconds(find_timeout_ms));
  if (!ponger) {
    std::fprintf(stderr, "example_ping_pong_remote: no ponger: %s\n",
                 node.system().render(ponger.error()).c_str());
    status = 1;
  } else {
    auto where = (*ponger)->node() == node.system().node() ? "this node" : "another node";
    std::printf("example_ping_pong_remote: found the ponger on %s\n", where);
    std::fflush(stdout);
    caf::scoped_actor self{node.system()};
    // --in-flight pingers, each playing its share of the rounds in turn:
    // that many requests are on the link at any time.
    auto lanes = std::min(in_flight, rounds);
    auto started = clock_type::now();
    for (uint64_t i = 0; i < lanes; ++i) {
      auto g = std::make_shared<game>();
      g->ponger = *ponger;
      g->rounds = rounds / lanes + (i < rounds % lanes ? 1 : 0);
      self->spawn(pinger, g, caf::actor{self});
    }
    uint64_t played = 0;
    for (uint64_t i = 0; i < lanes; ++i)
      self->receive(
        [&](uint64_t n, double) { played += n; },
        [&](uint64_t n, caf::error& reason) {
          played += n;
          if (status == 0)
            std::printf("example_ping_pong_remote: the ponger went away after %llu rounds: %s\n",
                        static_cast<unsigned long long>(played),
                        node.system().render(reason).c_str());
          status = 1;
        },
        [&](caf::error& err) {
          if (status == 0)
            std::printf("example_ping_pong_remote: the game failed: %s\n",
                        node.system().render(err).c_str());
          status = 1;
        });
    if (status == 0) {
      auto secs = std::chrono::duration<double>(clock_type::now() - started).count();
      std::printf("example_ping_pong_remote: played %llu rounds in %.3f s: %.0f round trips/s, "
                  "%.1f us each (%llu in flight)\n",
                  static_cast<unsigned long long>(played), secs,
                  secs > 0 ? static_cast<double>(played) / secs : 0.0,
                  played > 0 ? secs * 1e6 / static_cast<double>(played) : 0.0,
                  static_cast<unsigned long long>(lanes));
    }
  }
  std::fflush(stdout);
  node.stop();
  auto reason = node.wait();
  return status != 0 ? status : runtime::node::exit_status(reason);
}
