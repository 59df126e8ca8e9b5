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

// Pings carry no timeout: the Pinger monitors the Ponger, so a lost Ponger
// is a down message, not a timer. A CAF 0.17 request timeout registers a
// timer per request, which cut the round-trip rate by ~45 % (docs/benchmarks.md).
constexpr caf::timespan lookup_timeout = std::chrono::seconds(10);

// While the supervisor has not yet replaced a lost Ponger, a lookup returns
// the dead one; the supervisor restarts before it answers the next lookup in
// practice, so a handful of retries suffice. This bounds a broken setup.
constexpr uint32_t max_lookups = 1000;

} // namespace

void pinger_state::finish(caf::expected<game_result> result) {
  auto promise = std::move(promise_);
  promise_ = {};
  target_ = 0;
  if (result)
    promise.deliver(std::move(*result));
  else
    promise.deliver(std::move(result.error()));
}

void pinger_state::serve() {
  if (round_ == target_) {
    auto elapsed = self_->clock().now() - started_;
    finish(game_result{round_, failures_, std::chrono::duration_cast<caf::timespan>(elapsed)});
    return;
  }
  auto ponger = ponger_;
  auto round = round_ + 1;
  self_->request(ponger, caf::infinite, ping_atom::value, ball{round})
    .then(
      [this, round](ball b) {
        if (b.round != round) {
          finish(runtime::make_error(runtime::errc::invalid_argument,
                                     std::string{"ball came back with the wrong round"}));
          return;
        }
        round_ = round;
        lookups_ = 0;
        serve();
      },
      [this, ponger](caf::error&) {
        // The Ponger died with our ball (or took too long): replay the round.
        if (ponger_ == ponger) {
          ++failures_;
          ponger_ = nullptr;
          locate(ponger.address());
        }
      });
}

void pinger_state::locate(caf::actor_addr lost) {
  if (++lookups_ > max_lookups) {
    finish(runtime::make_error(runtime::errc::unknown_child, ponger_id_));
    return;
  }
  auto supervisor = caf::actor_cast<runtime::supervisor_actor>(supervisor_);
  if (!supervisor) {
    finish(caf::make_error(caf::sec::request_receiver_down));
    return;
  }
  self_->request(supervisor, lookup_timeout, runtime::find_child_atom::value, ponger_id_)
    .then(
      [this, lost](caf::actor& found) {
        auto ponger = caf::actor_cast<ponger_actor>(found);
        if (!ponger || ponger.address() == lost) {
          locate(lost); // not replaced yet
          return;
        }
        ponger_ = ponger;
        self_->monitor(ponger);
        serve();
      },
      [this](caf::error& err) { finish(std::move(err)); });
}

void pinger_state::on_down(const caf::down_msg& msg) {
  if (ponger_ && msg.source == ponger_.address()) {
    // Died between rounds or with our ball: either way, a new one takes over.
    auto lost = ponger_.address();
    ++failures_;
    ponger_ = nullptr;
    if (target_ != 0)
      locate(lost);
  }
}

void pinger_state::init(runtime::supervisor_actor supervisor, std::string ponger_id) {
  // A weak reference: the supervisor holds us, we must not hold it.
  supervisor_ = supervisor.address();
  ponger_id_ = std::move(ponger_id);
  self_->set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
}

caf::result<game_result> pinger_state::play(uint64_t rounds) {
  if (target_ != 0)
    return runtime::make_error(runtime::errc::invalid_argument,
                               std::string{"a game is already running"});
  if (rounds == 0)
    return game_result{};
  round_ = 0;
  target_ = rounds;
  failures_ = 0;
  lookups_ = 0;
  started_ = self_->clock().now();
  promise_ = self_->make_response_promise<game_result>();
  auto result = promise_;
  if (ponger_)
    serve();
  else
    locate({});
  return result;
}

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

pinger_actor::behavior_type pinger_impl(pinger_state::pointer self,
                                        runtime::supervisor_actor supervisor,
                                        std::string ponger_id) {
  self->state.init(std::move(supervisor), std::move(ponger_id));
  return {
    [self](play_atom, uint64_t rounds) { return self->state.play(rounds); },
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
