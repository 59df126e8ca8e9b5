// Cluster-wide names on one node: a real actor system with the middleman
// and the agent published on a free loopback port (no TLS here; the
// process tests cover TLS and several nodes).

#include "parley/actors/ping_pong.hpp"
#include "parley/runtime/cluster.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/runtime/node.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <gtest/gtest.h>

#include <future>
#include <memory>

using namespace parley;
using namespace std::chrono_literals;

namespace {

struct cluster_system_config : caf::actor_system_config {
  explicit cluster_system_config(const runtime::cluster_config& ccfg) {
    set("scheduler.max-threads", size_t{2});
    runtime::announce_runtime(*this);
    actors::announce_ping_pong(*this);
    runtime::setup_cluster(*this, ccfg);
  }
};

runtime::cluster_config loopback() {
  runtime::cluster_config cfg;
  cfg.port = 0;
  cfg.bind = "127.0.0.1";
  cfg.insecure = true;
  return cfg;
}

class Names : public ::testing::Test {
protected:
  runtime::cluster_config ccfg = loopback();
  cluster_system_config cfg{ccfg};
  caf::actor_system sys{cfg};
  caf::actor agent;

  void SetUp() override {
    auto spec = runtime::cluster_child("solo", ccfg);
    auto started = spec.start(sys, runtime::supervisor_actor{});
    ASSERT_TRUE(started) << sys.render(started.error());
    agent = *started;
  }

  void TearDown() override {
    caf::anon_send_exit(agent, caf::exit_reason::user_shutdown);
  }

  actors::ponger_actor spawn_ponger() {
    return sys.spawn(actors::ponger_impl, std::make_shared<actors::crash_plan>(0));
  }
};

TEST_F(Names, FindReturnsATypedHandleThatWorks) {
  auto ponger = spawn_ponger();
  ASSERT_FALSE(runtime::register_name(sys, "ponger", ponger));
  auto found = runtime::find<actors::ponger_actor>(sys, "ponger", 1s);
  ASSERT_TRUE(found) << sys.render(found.error());
  EXPECT_EQ(*found, ponger);
  caf::scoped_actor self{sys};
  uint64_t round = 0;
  self->request(*found, 5s, runtime::ping_atom::value, actors::ball{7})
    .receive([&](const actors::ball& b) { round = b.round; }, [](caf::error&) {});
  EXPECT_EQ(round, 7u);
  caf::anon_send_exit(ponger, caf::exit_reason::user_shutdown);
}

TEST_F(Names, FindRefusesAHandleOfAnotherInterface) {
  auto ponger = spawn_ponger();
  ASSERT_FALSE(runtime::register_name(sys, "ponger", ponger));
  auto found = runtime::find<actors::pinger_actor>(sys, "ponger", 1s);
  ASSERT_FALSE(found);
  EXPECT_TRUE(runtime::is(found.error(), runtime::errc::wrong_interface))
    << sys.render(found.error());
  // An untyped handle is not checked.
  EXPECT_TRUE(runtime::find<caf::actor>(sys, "ponger", 1s));
  caf::anon_send_exit(ponger, caf::exit_reason::user_shutdown);
}

TEST_F(Names, FindWaitsForTheNameToAppear) {
  auto pending = std::async(std::launch::async, [this] {
    return runtime::find<actors::ponger_actor>(sys, "late", 30s);
  });
  auto ponger = spawn_ponger();
  ASSERT_FALSE(runtime::register_name(sys, "late", ponger));
  auto found = pending.get();
  ASSERT_TRUE(found) << sys.render(found.error());
  EXPECT_EQ(*found, ponger);
  caf::anon_send_exit(ponger, caf::exit_reason::user_shutdown);
}

TEST_F(Names, FindGivesUpWithNotFound) {
  auto found = runtime::find<actors::ponger_actor>(sys, "nobody", 50ms);
  ASSERT_FALSE(found);
  EXPECT_TRUE(runtime::is(found.error(), runtime::errc::not_found)) << sys.render(found.error());
}

TEST_F(Names, ATakenNameIsRefusedAndTheSameActorMayRegisterAgain) {
  auto first = spawn_ponger();
  auto second = spawn_ponger();
  ASSERT_FALSE(runtime::register_name(sys, "ponger", first));
  EXPECT_FALSE(runtime::register_name(sys, "ponger", first));
  auto err = runtime::register_name(sys, "ponger", second);
  EXPECT_TRUE(runtime::is(err, runtime::errc::name_taken)) << sys.render(err);
  auto found = runtime::find<actors::ponger_actor>(sys, "ponger", 1s);
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, first);
  caf::anon_send_exit(first, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(second, caf::exit_reason::user_shutdown);
}

TEST_F(Names, BadRegistrationsAreRefused) {
  auto err = runtime::register_name(sys, "", spawn_ponger());
  EXPECT_TRUE(runtime::is(err, runtime::errc::invalid_argument)) << sys.render(err);
  err = runtime::register_name(sys, "nothing", caf::strong_actor_ptr{});
  EXPECT_TRUE(runtime::is(err, runtime::errc::invalid_argument)) << sys.render(err);
}

TEST(NamesWithoutCluster, AreUnavailable) {
  caf::actor_system_config cfg;
  runtime::announce_runtime(cfg);
  caf::actor_system sys{cfg};
  auto err = runtime::register_name(sys, "x", caf::strong_actor_ptr{});
  EXPECT_TRUE(runtime::is(err, runtime::errc::unavailable)) << sys.render(err);
  EXPECT_FALSE(runtime::find_agent(sys));
}

} // namespace
