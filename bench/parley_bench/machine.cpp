#include "parley_bench/machine.hpp"

#include "parley/client/ws_client.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

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
