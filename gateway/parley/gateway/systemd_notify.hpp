#pragma once

/// @file
/// The gateway's side of systemd's `Type=notify` protocol, through
/// libsystemd's sd_notify: READY=1 once the port is open, STOPPING=1 when a
/// drain begins, STATUS= lines, and WATCHDOG=1 pings while the actor system
/// answers (`WatchdogSec=` in the unit). Outside systemd (no NOTIFY_SOCKET in
/// the environment) every call does nothing.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace parley::gateway {

class systemd_notifier {
public:
  systemd_notifier() = default;
  ~systemd_notifier();

  systemd_notifier(const systemd_notifier&) = delete;
  systemd_notifier& operator=(const systemd_notifier&) = delete;

  /// READY=1 with a STATUS= line.
  void ready(const std::string& status);

  /// STOPPING=1 with a STATUS= line.
  void stopping(const std::string& status);

  /// Whether the service manager asked this process for a watchdog
  /// (WATCHDOG_USEC set, and WATCHDOG_PID, if set, this process).
  static bool watchdog_wanted();

  /// When the service manager asked for a watchdog (WATCHDOG_USEC, for this
  /// process), pings WATCHDOG=1 from a thread of its
  /// own (every third of it), each time after `alive` returned true; a process whose actors stop
  /// answering stops pinging, and systemd restarts it. `alive` gets the time
  /// it may take. Returns the interval, or zero when no watchdog is asked for
  /// or one already runs.
  std::chrono::microseconds start_watchdog(
    std::function<bool(std::chrono::microseconds)> alive);

  /// Stops the watchdog thread (also done by the destructor).
  void stop_watchdog();

private:
  std::thread watchdog_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
};

} // namespace parley::gateway
