// The gateway under systemd's Type=notify protocol, against the real binary:
// the test plays the service manager with a datagram socket in
// NOTIFY_SOCKET (as systemd does) and reads what the gateway reports:
// READY=1 once it listens, WATCHDOG=1 pings while its actors answer (when
// WATCHDOG_USEC asks for them), STOPPING=1 when SIGTERM starts the drain.

#include "support/gateway_process.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using parley::test::gateway_process;

namespace {

/// A bound AF_UNIX datagram socket, as systemd's notification socket.
class notify_socket {
public:
  notify_socket() {
    path_ = ::testing::TempDir() + "parley-notify-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      ADD_FAILURE() << "bind " << path_;
  }

  ~notify_socket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }

  const std::string& path() const {
    return path_;
  }

  /// The next datagram, or nothing within `timeout`.
  std::optional<std::string> next(std::chrono::milliseconds timeout) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    auto n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0)
      return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }

  /// Datagrams until one starts with `prefix` (those before it in `seen`).
  std::optional<std::string> until(const std::string& prefix, std::vector<std::string>& seen,
                                   std::chrono::milliseconds timeout = 10'000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      auto d = next(std::max(left, 1ms));
      if (!d)
        return std::nullopt;
      if (d->rfind(prefix, 0) == 0)
        return d;
      seen.push_back(*d);
    }
    return std::nullopt;
  }

private:
  std::string path_;
  int fd_ = -1;
};

} // namespace

TEST(Systemd, ReadyWhenListeningWatchdogWhileAliveStoppingWhenDraining) {
  notify_socket sock;
  gateway_process gw{{},
                     {"/usr/bin/env", "NOTIFY_SOCKET=" + sock.path(), "WATCHDOG_USEC=300000"}};
  ASSERT_NE(gw.port(), 0);
  std::vector<std::string> before;
  auto ready = sock.until("READY=1", before);
  ASSERT_TRUE(ready) << gw.log();
  EXPECT_EQ(*ready, "READY=1\nSTATUS=listening on 127.0.0.1:" + std::to_string(gw.port()));
  EXPECT_TRUE(before.empty()) << "nothing before READY: " << before.front();
  // Pings every 100 ms (a third of WATCHDOG_USEC): three in a row.
  for (int i = 0; i < 3; ++i) {
    auto ping = sock.next(5s);
    ASSERT_TRUE(ping) << "ping " << i << "\n" << gw.log();
    EXPECT_EQ(*ping, "WATCHDOG=1");
  }
  gw.proc().signal(SIGTERM);
  std::vector<std::string> pings;
  auto stopping = sock.until("STOPPING=1", pings);
  ASSERT_TRUE(stopping) << gw.log();
  EXPECT_EQ(*stopping, "STOPPING=1\nSTATUS=draining: closing connections");
  for (auto& p : pings)
    EXPECT_EQ(p, "WATCHDOG=1");
  EXPECT_EQ(gw.stop(), 0) << gw.log();
}

TEST(Systemd, NoWatchdogForAnotherProcessAndNoneUnasked) {
  // WATCHDOG_PID names the process the watchdog is for; pid 1 is not us.
  notify_socket sock;
  gateway_process gw{{},
                     {"/usr/bin/env", "NOTIFY_SOCKET=" + sock.path(), "WATCHDOG_USEC=300000",
                      "WATCHDOG_PID=1"}};
  ASSERT_NE(gw.port(), 0);
  std::vector<std::string> before;
  ASSERT_TRUE(sock.until("READY=1", before)) << gw.log();
  // A ping would come within 100 ms; give it ten times that.
  auto extra = sock.next(1000ms);
  EXPECT_FALSE(extra) << "unasked: " << *extra;
  EXPECT_EQ(gw.log().find("systemd watchdog"), std::string::npos) << gw.log();
  EXPECT_EQ(gw.stop(), 0);
}
