#include "parley/gevent/timeout.hpp"

#include "parley/gevent/internal/waiters.hpp"

#include <caf/actor_system.hpp>

#include <chrono>

namespace parley::gevent {

using runtime::errc;

std::string to_text(caf::timespan x) {
  using namespace std::chrono;
  auto n = x.count();
  if (n != 0 && x % seconds(1) == caf::timespan{0})
    return std::to_string(duration_cast<seconds>(x).count()) + "s";
  if (n != 0 && x % milliseconds(1) == caf::timespan{0})
    return std::to_string(duration_cast<milliseconds>(x).count()) + "ms";
  if (n != 0 && x % microseconds(1) == caf::timespan{0})
    return std::to_string(duration_cast<microseconds>(x).count()) + "us";
  return std::to_string(n) + "ns";
}

caf::error timeout_error(const std::string& what, caf::timespan deadline) {
  return runtime::make_error(errc::timeout, what + " did not complete within " + to_text(deadline));
}

caf::error map_timeout(caf::error err, const std::string& what, caf::timespan deadline) {
  if (err == caf::sec::request_timeout)
    return timeout_error(what, deadline);
  return err;
}

bool is_timeout(const caf::error& err) {
  // runtime::is reads the category, which an empty error of CAF 0.17 lacks.
  if (!err)
    return false;
  return runtime::is(err, errc::timeout) || err == caf::sec::request_timeout;
}

caf::result<int64_t> sleeper_state::sleep(caf::timespan d, int64_t x) {
  if (auto err = internal::check_wait(d, "sleep"))
    return err;
  if (d == caf::timespan{0})
    return x;
  if (auto err = internal::check_room(sleeping_.size(), max_waiters_, "sleep"))
    return err;
  auto id = next_id_++;
  auto rp = self_->make_response_promise<int64_t>();
  sleeping_.emplace_back(id, x, rp);
  self_->delayed_send(self_, d, expire_atom::value, id);
  return rp;
}

void sleeper_state::expire(uint64_t id) {
  for (auto i = sleeping_.begin(); i != sleeping_.end(); ++i) {
    if (std::get<0>(*i) == id) {
      std::get<2>(*i).deliver(std::get<1>(*i));
      sleeping_.erase(i);
      return;
    }
  }
}

sleeper_actor::behavior_type sleeper_impl(sleeper_state::pointer self, size_t max_waiters) {
  self->state.init(max_waiters);
  return {
    [self](sleep_atom, caf::timespan d, int64_t x) { return self->state.sleep(d, x); },
    [self](expire_atom, uint64_t id) { self->state.expire(id); },
  };
}

sleeper_actor spawn_sleeper(caf::actor_system& sys, size_t max_waiters) {
  // Every spawn passes an argument: CAF 0.17.6 dereferences a null tuple
  // pointer for a behaviour without arguments, which UBSan rejects.
  return sys.spawn(sleeper_impl, max_waiters);
}

namespace internal {

caf::error check_wait(caf::timespan timeout, const char* what) {
  if (timeout < caf::timespan{0})
    return runtime::make_error(errc::invalid_argument,
                               std::string{what} + ": negative timeout " + to_text(timeout));
  return {};
}

caf::error check_room(size_t parked, size_t max, const char* what) {
  if (parked >= max)
    return runtime::make_error(errc::capacity_exceeded, std::string{what} + ": "
                                                          + std::to_string(max)
                                                          + " requests wait already");
  return {};
}

} // namespace internal

} // namespace parley::gevent
