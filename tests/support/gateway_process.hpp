#pragma once

/// @file
/// Starts the real parley-gateway binary (PARLEY_GATEWAY_BIN) on a free
/// port, reads the port it reports and stops it with SIGTERM.

#include "support/process.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace parley::test {

class gateway_process {
public:
  /// Starts the gateway with `extra` flags; check `port()` != 0 after.
  /// `wrapper` runs it (say, {"/usr/bin/prlimit", "--nofile=64:64", "--"}).
  /// Most tests read /metrics from the public port (`--public-metrics`);
  /// the admin console's tests pass `public_metrics = false`. `address`:
  /// where it listens (`--address`), for a gateway in a network namespace.
  explicit gateway_process(std::vector<std::string> extra = {},
                           std::vector<std::string> wrapper = {}, bool public_metrics = true,
                           const std::string& address = "127.0.0.1") {
    std::vector<std::string> argv = std::move(wrapper);
    for (const char* arg : {PARLEY_GATEWAY_BIN, "--port=0", "--threads=2"})
      argv.emplace_back(arg);
    if (address != "127.0.0.1")
      argv.push_back("--address=" + address);
    if (public_metrics)
      argv.emplace_back("--public-metrics");
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<process>(argv);
    const std::string prefix = "parley-gateway listening on " + address + ":";
    auto rest = proc_->wait_for_line(prefix, std::chrono::seconds(30));
    if (!rest) {
      ADD_FAILURE() << "the gateway did not start\nstderr:\n" << proc_->err();
      return;
    }
    port_ = static_cast<uint16_t>(std::stoul(*rest));
    // The console's line comes before the listening line, when there is one.
    const std::string admin = "parley-gateway admin console on ";
    if (proc_->count(admin) > 0) {
      auto line = proc_->wait_for_line(admin, std::chrono::seconds(1)).value_or("");
      auto colon = line.rfind(':');
      if (colon != std::string::npos)
        admin_port_ = static_cast<uint16_t>(std::stoul(line.substr(colon + 1)));
    }
  }

  ~gateway_process() {
    stop();
  }

  gateway_process(const gateway_process&) = delete;
  gateway_process& operator=(const gateway_process&) = delete;

  uint16_t port() const {
    return port_;
  }

  /// The admin console's port (0 without `--admin-port`).
  uint16_t admin_port() const {
    return admin_port_;
  }

  /// SIGTERM and wait; the exit status (-1 if it did not exit in time).
  int stop() {
    if (!proc_ || stopped_)
      return status_;
    stopped_ = true;
    proc_->signal(SIGTERM);
    status_ = proc_->wait(std::chrono::seconds(30)).value_or(-1);
    return status_;
  }

  process& proc() {
    return *proc_;
  }

  /// Everything the gateway logged so far.
  const std::string& log() {
    proc_->wait_for_output("\x01", std::chrono::milliseconds(0)); // pump what is there
    return proc_->err();
  }

private:
  std::unique_ptr<process> proc_;
  uint16_t port_ = 0;
  uint16_t admin_port_ = 0;
  bool stopped_ = false;
  int status_ = -1;
};

} // namespace parley::test
