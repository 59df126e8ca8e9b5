#include "parley_bench/options.hpp"

#include <sstream>

namespace parley::bench {

size_t default_conns(const std::string& mode) {
  return mode == "conns" ? 100 : 10;
}

std::vector<std::string> worker_argv(const options& o, size_t conns, size_t rooms, size_t offset,
                                     size_t room_offset, size_t sources) {
  auto num = [](double x) {
    std::ostringstream s;
    s.precision(17);
    s << x;
    return s.str();
  };
  std::vector<std::string> argv{"/proc/self/exe",
                                o.mode,
                                "--worker",
                                "--url=" + o.url,
                                o.binary ? "--binary" : "--json",
                                "--conns=" + std::to_string(conns),
                                "--rooms=" + std::to_string(rooms),
                                "--members=" + std::to_string(o.members),
                                "--publishers=" + std::to_string(o.publishers),
                                "--rate=" + num(o.rate),
                                "--duration=" + num(o.duration),
                                "--timeout=" + num(o.timeout),
                                "--hold=" + num(o.hold),
                                "--threads=" + std::to_string(o.threads),
                                "--sources=" + std::to_string(sources),
                                "--per-address=" + std::to_string(o.per_address),
                                "--per-process=" + std::to_string(o.per_process),
                                "--concurrency=" + std::to_string(o.concurrency),
                                "--offset=" + std::to_string(offset),
                                "--room-offset=" + std::to_string(room_offset),
                                "--run-id=" + o.run_id,
                                o.no_leave ? "--no-leave" : "--leave",
                                o.publish ? "--publish" : "--ping",
                                "--in-flight=" + std::to_string(o.in_flight),
                                "--transport=" + o.transport};
  if (!o.ca_file.empty())
    argv.push_back("--ca-file=" + o.ca_file);
  if (o.insecure)
    argv.push_back("--insecure");
  return argv;
}

} // namespace parley::bench
