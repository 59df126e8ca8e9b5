#include "parley/gateway/systemd_notify.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

namespace parley::gateway {

systemd_notifier::~systemd_notifier() {
  stop_watchdog();
}

void systemd_notifier::ready(const std::string& status) {
  sd_notify(0, ("READY=1\nSTATUS=" + status).c_str());
}

void systemd_notifier::stopping(const std::string& status) {
  sd_notify(0, ("STOPPING=1\nSTATUS=" + status).c_str());
}

bool systemd_notifier::watchdog_wanted() {
  uint64_t usec = 0;
  // > 0: WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is this process).
  return sd_watchdog_enabled(0, &usec) > 0 && usec > 0;
}

std::chrono::microseconds
systemd_notifier::start_watchdog(std::function<bool(std::chrono::microseconds)> alive) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0 || watchdog_.joinable())
    return std::chrono::microseconds{0};
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = false;
  }
  auto interval = std::chrono::microseconds{usec};
  // A third of the interval to wait and at most a third for the answer:
  // two pings are never further apart than the interval.
  auto period = interval / 3;
  watchdog_ = std::thread{[this, period, alive = std::move(alive)] {
    std::unique_lock<std::mutex> lock{mtx_};
    size_t missed = 0;
    while (!cv_.wait_for(lock, period, [this] { return stop_; })) {
      lock.unlock();
      bool ok = alive(period);
      lock.lock();
      if (stop_)
        return;
      if (ok) {
        sd_notify(0, "WATCHDOG=1");
        missed = 0;
      } else if (missed++ == 0) {
        spdlog::error("watchdog: the actor system did not answer within {} ms; not pinging "
                      "systemd",
                      std::chrono::duration_cast<std::chrono::milliseconds>(period).count());
      }
    }
  }};
  return interval;
}

void systemd_notifier::stop_watchdog() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  cv_.notify_all();
  if (watchdog_.joinable())
    watchdog_.join();
}

} // namespace parley::gateway
