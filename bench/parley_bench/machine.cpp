#include "parley_bench/machine.hpp"

#include "parley/client/ws_client.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <unistd.h>

namespace parley::bench {

using namespace std::chrono_literals;

/// Resident memory of `pid` in KiB (VmRSS), 0 if unreadable.
double rss_kib(int pid) {
  if (pid <= 0)
    return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::strtod(line.c_str() + 6, nullptr);
  return 0;
}

int listening_pid(uint16_t port) {
  // Sockets in LISTEN (state 0A) on `port`, by inode.
  std::vector<std::string> inodes;
  for (auto* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line); // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retr, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout
        >> inode;
      auto colon = local.rfind(':');
      if (state != "0A" || colon == std::string::npos)
        continue;
      if (std::strtoul(local.c_str() + colon + 1, nullptr, 16) == port)
        inodes.push_back("socket:[" + inode + "]");
    }
  }
  if (inodes.empty())
    return 0;
  std::error_code ec;
  for (auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    auto name = proc.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    std::error_code fd_ec;
    for (auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", fd_ec)) {
      std::error_code link_ec;
      auto target = std::filesystem::read_symlink(fd.path(), link_ec).string();
      if (!link_ec && std::find(inodes.begin(), inodes.end(), target) != inodes.end())
        return std::stoi(name);
    }
  }
  return 0;
}

int resolve_server_pid(const std::string& text, uint16_t port, std::string& why) {
  int pid = 0;
  if (text == "listening") {
    pid = listening_pid(port);
    if (pid == 0)
      why = "no process of this user listens on port " + std::to_string(port);
    return pid;
  }
  std::string digits = text;
  if (!text.empty() && text[0] == '@') {
    std::ifstream in(text.substr(1));
    if (!(in >> digits)) {
      why = "cannot read a PID from " + text.substr(1);
      return 0;
    }
  }
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) {
    why = "'" + text + "' is not a PID, @PIDFILE or 'listening'"
          + std::string{text.find(' ') != std::string::npos
                          ? " (several processes? --server-pid=listening finds the one on --url's port)"
                          : ""};
    return 0;
  }
  pid = std::stoi(digits);
  if (!std::filesystem::exists("/proc/" + digits)) {
    why = "no process " + digits;
    return 0;
  }
  return pid;
}

/// CPU time (user + system) of `pid` in seconds, 0 if unreadable.
double cpu_seconds(int pid) {
  if (pid <= 0)
    return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  if (close == std::string::npos)
    return 0;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  // Fields after the name: state(3) ... utime(14) stime(15).
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14)
      utime = std::strtod(field.c_str(), nullptr);
    if (i == 15)
      stime = std::strtod(field.c_str(), nullptr);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/// A gauge from the server's /metrics (Parley's; a loopback server only),
/// or nothing when it has no such page or no such gauge.
std::optional<double> server_gauge(const parley::bench::target& tgt, const std::string& name) {
  if (!tgt.endpoint.address().is_loopback())
    return std::nullopt;
  auto reply = parley::client::http_get(tgt.endpoint.port(), "/metrics", 5s);
  if (reply.status != 200)
    return std::nullopt;
  std::istringstream in{reply.body};
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size(), name) != 0 || line.size() <= name.size()
        || (line[name.size()] != ' ' && line[name.size()] != '{'))
      continue;
    return std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return std::nullopt;
}

/// Raises the soft open-files limit to the hard one; returns the soft limit.
rlim_t raise_nofile() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return 0;
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

} // namespace parley::bench
