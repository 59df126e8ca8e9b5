#include "parley/actors/ping_pong.hpp"

#include "parley/runtime/errc.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/system_messages.hpp>

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <string>

namespace parley::actors {

namespace {

using pinger_pointer = pinger_actor::stateful_pointer<pinger_state>;

// Pings carry no timeout: the Pinger monitors the Ponger, so a lost Ponger
// is a down message, not a timer. A CAF 0.17 request timeout registers a
// timer per request, which cut the round-trip rate by ~45 % (docs/benchmarks.md).
constexpr caf::timespan lookup_timeout = std::chrono::seconds(10);

// While the supervisor has not yet replaced a lost Ponger, a lookup returns
// the dead one; the supervisor restarts before it answers the next lookup in
// practice, so a handful of retries suffice. This bounds a broken setup.
constexpr uint32_t max_lookups = 1000;

void locate(pinger_pointer self, caf::actor_addr lost);

void finish(pinger_pointer self, caf::expected<game_result> result) {
  auto& st = self->state;
  auto promise = std::move(st.promise);
  st.promise = {};
  st.target = 0;
  if (result)
    promise.deliver(std::move(*result));
  else
    promise.deliver(std::move(result.error()));
}

void serve(pinger_pointer self) {
  auto& st = self->state;
  if (st.round == st.target) {
    auto elapsed = self->clock().now() - st.started;
    finish(self, game_result{st.round, st.failures,
                             std::chrono::duration_cast<caf::timespan>(elapsed)});
    return;
  }
  auto ponger = st.ponger;
  auto round = st.round + 1;
  self->request(ponger, caf::infinite, ping_atom::value, ball{round})
    .then(
      [self, round](ball b) {
        auto& st = self->state;
        if (b.round != round) {
          finish(self, runtime::make_error(runtime::errc::invalid_argument,
                                           std::string{"ball came back with the wrong round"}));
          return;
        }
        st.round = round;
        st.lookups = 0;
        serve(self);
      },
      [self, ponger](caf::error&) {
        // The Ponger died with our ball (or took too long): replay the round.
        auto& st = self->state;
        if (st.ponger == ponger) {
          ++st.failures;
          st.ponger = nullptr;
          locate(self, ponger.address());
        }
      });
}

void locate(pinger_pointer self, caf::actor_addr lost) {
  auto& st = self->state;
  if (++st.lookups > max_lookups) {
    finish(self, runtime::make_error(runtime::errc::unknown_child, st.ponger_id));
    return;
  }
  auto supervisor = caf::actor_cast<runtime::supervisor_actor>(st.supervisor);
  if (!supervisor) {
    finish(self, caf::make_error(caf::sec::request_receiver_down));
    return;
  }
  self->request(supervisor, lookup_timeout, runtime::find_child_atom::value, st.ponger_id)
    .then(
      [self, lost](caf::actor& found) {
        auto& st = self->state;
        auto ponger = caf::actor_cast<ponger_actor>(found);
        if (!ponger || ponger.address() == lost) {
          locate(self, lost); // not replaced yet
          return;
        }
        st.ponger = ponger;
        self->monitor(ponger);
        serve(self);
      },
      [self](caf::error& err) { finish(self, std::move(err)); });
}

} // namespace

ponger_actor::behavior_type ponger_impl(ponger_actor::pointer,
                                        std::shared_ptr<crash_plan> plan) {
  return {
    [plan](ping_atom, ball b) -> ball {
      auto expected = b.round;
      if (plan && expected != 0 && plan->at.compare_exchange_strong(expected, 0))
        throw std::runtime_error("ponger crashes at round " + std::to_string(b.round)
                                 + ", as planned");
      return b;
    },
  };
}

pinger_actor::behavior_type pinger_impl(pinger_actor::stateful_pointer<pinger_state> self,
                                        runtime::supervisor_actor supervisor,
                                        std::string ponger_id) {
  // A weak reference: the supervisor holds us, we must not hold it.
  self->state.supervisor = supervisor.address();
  self->state.ponger_id = std::move(ponger_id);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (st.ponger && msg.source == st.ponger.address()) {
      // Died between rounds or with our ball: either way, a new one takes over.
      auto lost = st.ponger.address();
      ++st.failures;
      st.ponger = nullptr;
      if (st.target != 0)
        locate(self, lost);
    }
  });
  return {
    [self](play_atom, uint64_t rounds) -> caf::result<game_result> {
      auto& st = self->state;
      if (st.target != 0)
        return runtime::make_error(runtime::errc::invalid_argument,
                                   std::string{"a game is already running"});
      if (rounds == 0)
        return game_result{};
      st.round = 0;
      st.target = rounds;
      st.failures = 0;
      st.lookups = 0;
      st.started = self->clock().now();
      st.promise = self->make_response_promise<game_result>();
      auto result = st.promise;
      if (st.ponger)
        serve(self);
      else
        locate(self, {});
      return result;
    },
  };
}

std::vector<runtime::child_spec> ping_pong_children(std::shared_ptr<crash_plan> plan) {
  runtime::child_spec ponger;
  ponger.id = "ponger";
  ponger.start = [plan](caf::actor_system& sys,
                        const runtime::supervisor_actor&) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(sys.spawn(ponger_impl, plan));
  };
  runtime::child_spec pinger;
  pinger.id = "pinger";
  pinger.start = [](caf::actor_system& sys,
                    const runtime::supervisor_actor& sup) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(sys.spawn(pinger_impl, sup, std::string{"ponger"}));
  };
  return {std::move(ponger), std::move(pinger)};
}

void announce_ping_pong(caf::actor_system_config& cfg) {
  cfg.add_message_type<ball>("parley.ball");
  cfg.add_message_type<game_result>("parley.game_result");
}

} // namespace parley::actors
