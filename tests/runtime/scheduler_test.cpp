// The schedulers a node can run on (runtime/parley/runtime/scheduler.cpp),
// each in a real actor system with real threads: every message arrives, in
// order per sender, whatever thread sends it and whether the workers are
// busy, spinning or asleep; timers fire; the system stops with work left.
// Every case runs under each policy and with 1, 2 and 4 workers; Parley's
// own (`affinity`) is the one these cases are written for, CAF's two show
// the cases themselves are right.
#include "parley/runtime/scheduler.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;
using go_atom = caf::atom_constant<caf::atom("go")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using count_atom = caf::atom_constant<caf::atom("count")>;

// How long a case waits for an answer before it calls the run lost. Far
// above any figure here: a lost wake-up shows as this timeout, not as slowness.
constexpr auto patience = 30s;

struct system_config : caf::actor_system_config {
  system_config(const std::string& policy, size_t threads, size_t throughput) {
    set("scheduler.max-threads", threads);
    if (throughput > 0)
      set("scheduler.max-throughput", throughput);
    parley::runtime::use_scheduler(*this, policy);
  }
};

using params = std::tuple<std::string, size_t>;

class SchedulerTest : public ::testing::TestWithParam<params> {
protected:
  std::string policy() const {
    return std::get<0>(GetParam());
  }
  size_t threads() const {
    return std::get<1>(GetParam());
  }
  std::unique_ptr<caf::actor_system> start(size_t throughput = 0) {
    cfg_ = std::make_unique<system_config>(policy(), threads(), throughput);
    return std::make_unique<caf::actor_system>(*cfg_);
  }

private:
  std::unique_ptr<system_config> cfg_;
};

// -- a pair that talks --------------------------------------------------------

// Every spawned function takes an argument of its own: CAF 0.17 spawns one
// without arguments through a null shared_ptr<tuple<>>, which UBSan reports.
caf::behavior ponger(int) {
  return {[](ping_atom, uint64_t n) { return caf::make_message(pong_atom::value, n); }};
}

struct pinger_state {
  caf::actor peer;
  uint64_t left = 0;
  uint64_t last = 0;
  bool in_order = true;
  caf::response_promise done;
};

caf::behavior pinger(caf::stateful_actor<pinger_state>* self, caf::actor peer) {
  self->state.peer = std::move(peer);
  return {
    [self](go_atom, uint64_t rounds) {
      auto& st = self->state;
      st.left = rounds;
      st.done = self->make_response_promise();
      self->send(st.peer, ping_atom::value, uint64_t{1});
      return st.done;
    },
    [self](pong_atom, uint64_t n) {
      auto& st = self->state;
      st.in_order = st.in_order && n == st.last + 1;
      st.last = n;
      if (--st.left == 0)
        st.done.deliver(st.last, st.in_order);
      else
        self->send(st.peer, ping_atom::value, n + 1);
    },
  };
}

TEST_P(SchedulerTest, PairsExchangeEveryMessageInOrder) {
  auto sys = start();
  caf::scoped_actor self{*sys};
  // Several pairs at once, so workers both keep pairs and steal them.
  std::vector<caf::actor> pingers;
  for (int i = 0; i < 8; ++i)
    pingers.push_back(sys->spawn(pinger, sys->spawn(ponger, 0)));
  for (auto& p : pingers)
    self->send(p, go_atom::value, uint64_t{20000});
  for (size_t i = 0; i < pingers.size(); ++i)
    self->receive(
      [](uint64_t last, bool in_order) {
        EXPECT_EQ(last, 20000u);
        EXPECT_TRUE(in_order);
      },
      [](caf::error& err) { ADD_FAILURE() << caf::to_string(err); },
      caf::after(patience) >> [] { FAIL() << "a game never finished"; });
}

// -- a fan-out and its answers ------------------------------------------------

struct hub_state {
  std::vector<caf::actor> members;
  size_t pending = 0;
  caf::response_promise done;
};

caf::behavior member(caf::event_based_actor* self, int) {
  return {[self](ping_atom) {
    self->send(caf::actor_cast<caf::actor>(self->current_sender()), ack_atom::value);
  }};
}

caf::behavior hub(caf::stateful_actor<hub_state>* self, size_t n) {
  for (size_t i = 0; i < n; ++i)
    self->state.members.push_back(self->spawn<caf::linked>(member, 0));
  return {
    [self](go_atom) {
      auto& st = self->state;
      st.pending = st.members.size();
      st.done = self->make_response_promise();
      for (auto& m : st.members)
        self->send(m, ping_atom::value);
      return st.done;
    },
    [self](ack_atom) {
      if (--self->state.pending == 0)
        self->state.done.deliver(self->state.members.size());
    },
  };
}

TEST_P(SchedulerTest, FanOutReachesEveryMemberAndHearsFromEach) {
  auto sys = start();
  caf::scoped_actor self{*sys};
  auto h = sys->spawn(hub, size_t{20000});
  for (int round = 0; round < 3; ++round)
    self->request(h, patience, go_atom::value)
      .receive([](size_t acks) { EXPECT_EQ(acks, 20000u); },
               [&](caf::error& err) { FAIL() << "round " << round << ": " << caf::to_string(err); });
  self->send_exit(h, caf::exit_reason::user_shutdown);
}

// -- senders that are not actors ------------------------------------------------

struct tally_state {
  std::vector<uint64_t> next; // per sender: the number expected next
  uint64_t total = 0;
  bool in_order = true;
};

caf::behavior tally(caf::stateful_actor<tally_state>* self, size_t senders) {
  self->state.next.assign(senders, 0);
  return {
    [self](uint64_t sender, uint64_t n) {
      auto& st = self->state;
      st.in_order = st.in_order && st.next[sender] == n;
      st.next[sender] = n + 1;
      ++st.total;
    },
    [self](count_atom) { return caf::make_message(self->state.total, self->state.in_order); },
  };
}

TEST_P(SchedulerTest, MessagesFromOtherThreadsAllArriveInOrderPerSender) {
  auto sys = start();
  const size_t senders = 4;
  const uint64_t each = 20000;
  auto t = sys->spawn(tally, senders);
  std::vector<std::thread> threads;
  for (size_t s = 0; s < senders; ++s)
    threads.emplace_back([&, s] {
      for (uint64_t i = 0; i < each; ++i)
        caf::anon_send(t, uint64_t{s}, i);
    });
  for (auto& th : threads)
    th.join();
  caf::scoped_actor self{*sys};
  self->request(t, patience, count_atom::value)
    .receive(
      [&](uint64_t total, bool in_order) {
        EXPECT_EQ(total, senders * each);
        EXPECT_TRUE(in_order);
      },
      [](caf::error& err) { FAIL() << caf::to_string(err); });
  self->send_exit(t, caf::exit_reason::user_shutdown);
}

// A request from outside while every worker may be asleep: each answer needs
// a worker woken. The pauses between requests are the condition under test
// (workers give up spinning after 50 µs and sleep), not a wait for an event.
TEST_P(SchedulerTest, AWorkerWakesForEveryRequestAfterAPause) {
  auto sys = start();
  auto p = sys->spawn(ponger, 0);
  caf::scoped_actor self{*sys};
  for (uint64_t i = 0; i < 300; ++i) {
    if (i % 3 == 0)
      std::this_thread::sleep_for(std::chrono::microseconds(100 + (i % 7) * 100));
    self->request(p, patience, ping_atom::value, i)
      .receive([&](pong_atom, uint64_t n) { EXPECT_EQ(n, i); },
               [&](caf::error& err) { FAIL() << "request " << i << ": " << caf::to_string(err); });
  }
  self->send_exit(p, caf::exit_reason::user_shutdown);
}

// -- an actor that must give its thread back ------------------------------------------

TEST_P(SchedulerTest, AnActorPastItsThroughputIsResumedLaterWithNothingLost) {
  // One message per run: every run with mail left ends in resume_later.
  auto sys = start(1);
  const size_t senders = 2;
  auto t = sys->spawn(tally, senders);
  caf::scoped_actor self{*sys};
  for (uint64_t i = 0; i < 5000; ++i) {
    self->send(t, uint64_t{0}, i);
    caf::anon_send(t, uint64_t{1}, i);
  }
  self->request(t, patience, count_atom::value)
    .receive(
      [](uint64_t total, bool in_order) {
        EXPECT_EQ(total, 10000u);
        EXPECT_TRUE(in_order);
      },
      [](caf::error& err) { FAIL() << caf::to_string(err); });
  self->send_exit(t, caf::exit_reason::user_shutdown);
}

// -- time ---------------------------------------------------------------------------

TEST_P(SchedulerTest, DelayedMessagesArriveAndRequestsTimeOut) {
  auto sys = start();
  caf::scoped_actor self{*sys};
  auto sent = std::chrono::steady_clock::now();
  self->delayed_send(self, 20ms, go_atom::value);
  self->receive([](go_atom) {}, caf::after(patience) >> [] { FAIL() << "no delayed message"; });
  EXPECT_GE(std::chrono::steady_clock::now() - sent, 20ms);
  // An actor that never answers: the request's own timeout answers instead.
  auto silent = sys->spawn([](caf::stateful_actor<caf::response_promise>* s, int) -> caf::behavior {
    return {[s](ping_atom, uint64_t) {
      // Kept, never delivered: the request stays open.
      s->state = s->make_response_promise();
      return s->state;
    }};
  }, 0);
  bool timed_out = false;
  self->request(silent, 50ms, ping_atom::value, uint64_t{1})
    .receive([](pong_atom, uint64_t) { ADD_FAILURE() << "an answer from a silent actor"; },
             [&](caf::error& err) { timed_out = err == caf::sec::request_timeout; });
  EXPECT_TRUE(timed_out);
  self->send_exit(silent, caf::exit_reason::user_shutdown);
}

// -- life and death -------------------------------------------------------------------

TEST_P(SchedulerTest, SpawnedActorsEndAndTheirMonitorsHearOfIt) {
  auto sys = start();
  caf::scoped_actor self{*sys};
  const int n = 2000;
  for (int i = 0; i < n; ++i)
    self->monitor(sys->spawn([](int) { return caf::behavior{}; }, 0));
  int down = 0;
  self->receive_for(down, n)([](caf::down_msg&) {},
                             caf::after(patience) >> [] { FAIL() << "a down message is missing"; });
  EXPECT_EQ(down, n);
}

TEST_P(SchedulerTest, TheSystemStopsWithMailStillQueued) {
  auto ended = std::make_shared<std::atomic<int>>(0);
  {
    auto sys = start();
    for (int i = 0; i < 50; ++i) {
      auto a = sys->spawn(
        [ended](caf::event_based_actor* self, int) -> caf::behavior {
          self->attach_functor([ended] { ++*ended; });
          return {[](uint64_t) {}};
        },
        0);
      for (uint64_t k = 0; k < 200; ++k)
        caf::anon_send(a, k);
    }
    // The handles are gone: the actors end once unreachable, and the system
    // waits for them before it stops its scheduler.
  }
  EXPECT_EQ(ended->load(), 50);
}

// -- actor hosts: a thread of the program's own that runs the actors it wakes -----

struct host_config : caf::actor_system_config {
  explicit host_config(const std::string& policy) {
    set("scheduler.max-threads", size_t{2});
    parley::runtime::use_scheduler(*this, policy);
  }
};

uint64_t thread_tag(std::thread::id id = std::this_thread::get_id()) {
  return std::hash<std::thread::id>{}(id);
}

// Answers with (a hash of) the thread it ran on.
caf::behavior where(int) {
  return {[](ping_atom, uint64_t n) {
    return caf::make_message(pong_atom::value, n, thread_tag());
  }};
}

TEST(ActorHost, ActorsWokenOnTheHostRunThereWhenItRunsThem) {
  host_config cfg{"affinity"};
  caf::actor_system sys{cfg};
  std::vector<uint64_t> ran_on;
  uint64_t host_thread = 0;
  std::thread io{[&] {
    host_thread = thread_tag();
    int requests = 0;
    auto host = parley::runtime::host_actors(sys, [&] { ++requests; });
    ASSERT_NE(host, nullptr);
    // A second host on the same thread is refused.
    EXPECT_EQ(parley::runtime::host_actors(sys, [] {}), nullptr);
    caf::scoped_actor self{sys};
    for (uint64_t i = 0; i < 3; ++i) {
      EXPECT_FALSE(host->pending());
      // Spawned here, so its start is queued here too (an actor started or
      // busy on a worker would take the ping there).
      auto before = requests;
      auto target = sys.spawn(where, 0);
      caf::send_as(self, target, ping_atom::value, i);
      // Queued here, not run elsewhere: the run is asked for once.
      EXPECT_TRUE(host->pending());
      EXPECT_EQ(requests, before + 1);
      while (host->pending())
        host->run(64);
      self->receive(
        [&](pong_atom, uint64_t n, uint64_t id) {
          EXPECT_EQ(n, i);
          ran_on.push_back(id);
        },
        caf::after(patience) >> [] { FAIL() << "no answer"; });
      self->send_exit(target, caf::exit_reason::user_shutdown);
      while (host->pending())
        host->run(64);
    }
  }};
  io.join();
  ASSERT_EQ(ran_on.size(), 3u);
  for (auto& id : ran_on)
    EXPECT_EQ(id, host_thread);
}

TEST(ActorHost, WhatAHostLeavesQueuedRunsOnTheWorkers) {
  host_config cfg{"affinity"};
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  caf::actor target;
  std::thread io{[&] {
    auto host = parley::runtime::host_actors(sys, [] {});
    ASSERT_NE(host, nullptr);
    target = sys.spawn(where, 0); // its start is queued here
    for (uint64_t i = 0; i < 100; ++i)
      caf::send_as(self, target, ping_atom::value, i);
    EXPECT_TRUE(host->pending());
    // Gone without running them: the workers must.
  }};
  auto io_id = thread_tag(io.get_id());
  io.join();
  uint64_t answers = 0;
  self->receive_for(answers, uint64_t{100})(
    [&](pong_atom, uint64_t, uint64_t id) { EXPECT_NE(id, io_id); },
    caf::after(patience) >> [] { FAIL() << "an answer is missing"; });
  EXPECT_EQ(answers, 100u);
  caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
}

TEST(ActorHost, OnlyTheAffinitySchedulerHasHosts) {
  for (auto* policy : {"sharing", "stealing"}) {
    host_config cfg{policy};
    caf::actor_system sys{cfg};
    EXPECT_EQ(parley::runtime::host_actors(sys, [] {}), nullptr) << policy;
  }
}

std::string name_of(const ::testing::TestParamInfo<params>& info) {
  return std::get<0>(info.param) + "_" + std::to_string(std::get<1>(info.param)) + "_threads";
}

INSTANTIATE_TEST_SUITE_P(Policies, SchedulerTest,
                         ::testing::Combine(::testing::Values("affinity", "sharing", "stealing"),
                                            ::testing::Values(size_t{1}, size_t{2}, size_t{4})),
                         name_of);

TEST(SchedulerPolicies, TheNodeAcceptsEachAndRefusesOthers) {
  auto& names = parley::runtime::scheduler_policies();
  EXPECT_EQ(names.size(), 3u);
  for (auto* p : {"affinity", "sharing", "stealing"})
    EXPECT_NE(std::find(names.begin(), names.end(), p), names.end()) << p;
}

} // namespace
