// parley-bench: a load generator for the Parley gateway (docs/parley-bench.md).
//
// Modes: conns (idle joined connections, memory per connection), fanout
// (rooms, members, publishers; latency, loss, duplicates), echo (ping/pong
// round trips) and churn (connect, join, publish, leave, disconnect).
// Asynchronous on Boost.Beast: a few threads, one io_context each; past
// --per-process connections it runs worker processes of itself and merges
// their results. No CAF: the tool stays off the runtime it measures.

#include "parley/client/tls.hpp"
#include "parley/client/ws_client.hpp"
#include "parley/client/ws_url.hpp"
#include "parley/runtime/command_line.hpp"
#include "parley/version.hpp"
#include "parley_bench/machine.hpp"
#include "parley_bench/modes.hpp"
#include "parley_bench/spread.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include <unistd.h>

using namespace parley::bench;
using namespace std::chrono_literals;

namespace {

using parley::runtime::parse_command_line;
using parley::runtime::usage_error_status;

/// A number as a person writes it: 1, 0.5, 12.25.
std::string plain(double x) {
  std::ostringstream s;
  s << x;
  return s.str();
}

int usage_error(const std::string& what) {
  std::cerr << "parley-bench: error: " << what << " (see --help)\n";
  return usage_error_status;
}

} // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  options o;
  CLI::App app{"parley-bench: load for a Parley gateway (docs/parley-bench.md)", "parley-bench"};
  app.set_version_flag("--version", parley::version_text("parley-bench"),
                       "Print the version, git commit and build type, and exit");
  app.add_option("mode", o.mode, "conns | fanout | echo | churn")
    ->required()
    ->check(CLI::IsMember({"conns", "fanout", "echo", "churn"}));
  size_t positional_count = 0;
  app.add_option("count", positional_count, "conns: how many connections (same as --conns)");
  app.add_option("--url", o.url, "the gateway's WebSocket URL")->capture_default_str();
  auto* bin = app.add_flag("--binary", o.binary, "protobuf binary frames");
  bool json = false;
  app.add_flag("--json", json, "JSON text frames (the default)")->excludes(bin);
  app.add_option("--conns", o.conns, "connections (conns: 100, echo: 10, churn: 10 at once)");
  app.add_option("--rooms", o.rooms, "rooms (conns/echo/churn spread connections over them)")
    ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--members", o.members, "fanout: members per room")
    ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--publishers", o.publishers,
                 "fanout: publishers per room (among its members); 0: members only, for "
                 "messages another parley-bench publishes (same --run-id), e.g. on another "
                 "node of a cluster")
    ->capture_default_str()->check(CLI::Range(0, 1'000'000));
  app.add_option("--rate", o.rate, "fanout: messages per second per publisher")
    ->capture_default_str()->check(CLI::Range(0.01, 1e6));
  app.add_option("--duration", o.duration, "seconds of publishing, pinging or churning")
    ->capture_default_str()->check(CLI::Range(0.1, 86400.0));
  app.add_option("--timeout", o.timeout, "seconds for the whole run (0: setup + duration + 30)")
    ->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  app.add_option("--hold", o.hold, "conns: seconds to stay connected once all joined")
    ->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  auto* no_leave = app.add_flag("--no-leave", o.no_leave,
                                "churn: close without leaving the room, as a closed tab does");
  app.add_flag("--leave", "churn: leave the room before closing (the default)")
    ->excludes(no_leave);
  auto* publish = app.add_flag("--publish", o.publish,
                               "echo: each round trip publishes to the connection's room and "
                               "waits for its ack (a commit, with a history store)");
  app.add_flag("--ping", "echo: each round trip is a ping (the default)")->excludes(publish);
  app.add_option("--transport", o.transport,
                 "websocket, or a session of the HTTP transports: longpoll or sse (JSON, "
                 "plain TCP only; --url stays the ws:// one)")
    ->check(CLI::IsMember({"websocket", "longpoll", "sse"}))
    ->capture_default_str();
  app.add_option("--in-flight", o.in_flight,
                 "echo: requests each connection keeps outstanding (a new one per reply)")
    ->check(CLI::Range(size_t{1}, size_t{1000}))
    ->capture_default_str();
  app.add_option("--threads", o.threads, "I/O threads, one io_context each")
    ->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--sources", o.sources, "source addresses 127.0.0.1.. (0: enough for --per-address)")
    ->capture_default_str()->check(CLI::Range(0, 60000));
  app.add_option("--per-address", o.per_address, "connections per source address at most")
    ->capture_default_str()->check(CLI::Range(1, 60000));
  app.add_option("--per-process", o.per_process, "connections per process; more run in workers")
    ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--concurrency", o.concurrency, "connects in flight at once")
    ->capture_default_str()->check(CLI::Range(1, 100'000));
  app.add_option("--ca-file", o.ca_file,
                 "wss://: PEM certificate of the authority that signed the gateway's "
                 "(default: the system's trusted ones)")
    ->check(CLI::ExistingFile);
  app.add_flag("--insecure", o.insecure,
               "wss://: accept any certificate (development only: anyone on the path can "
               "read and change the traffic)");
  app.add_option("--server-pid", o.server_pid_text,
                 "the gateway to report RSS and CPU time of: a PID, @PIDFILE, or 'listening' "
                 "(the process listening on --url's port)");
  app.add_flag("--worker", o.worker, "internal: run as a worker (READY, wait for go, one JSON line)")
    ->group("");
  app.add_option("--offset", o.offset, "internal")->group("");
  app.add_option("--room-offset", o.room_offset, "internal")->group("");
  app.add_option("--run-id", o.run_id,
                 "Room names' middle part (default: the process id); runs with the same id "
                 "share rooms");
  if (auto status = parse_command_line(app, argc, argv))
    return *status;
  if (positional_count > 0) {
    if (o.mode != "conns")
      return usage_error("a count after the mode is for conns only; use --conns");
    o.conns = positional_count;
  }
  if (o.conns == 0)
    o.conns = default_conns(o.mode);
  if (o.mode == "fanout" && o.publishers > o.members)
    return usage_error("--publishers " + std::to_string(o.publishers) + " exceeds --members "
                       + std::to_string(o.members));
  std::string why;
  auto url = parley::client::parse_ws_url(o.url, why);
  if (!url)
    return usage_error("--url: " + why);
  if (!url->tls && (o.insecure || !o.ca_file.empty()))
    return usage_error("--ca-file and --insecure are for wss:// URLs; --url is " + o.url);
  if (!o.server_pid_text.empty()) {
    o.server_pid = parley::bench::resolve_server_pid(o.server_pid_text, url->port, why);
    if (o.server_pid == 0)
      return usage_error("--server-pid=" + o.server_pid_text + ": " + why);
  }
  if (o.run_id.empty())
    o.run_id = std::to_string(getpid());
  auto nofile = raise_nofile();

  // One connection first: an unreachable gateway is one line, not N failures.
  parley::bench::target tgt;
  {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    auto eps = resolver.resolve(url->host, std::to_string(url->port), ec);
    if (ec || eps.empty()) {
      std::cerr << "parley-bench: error: cannot resolve " << url->host << ": " << ec.message() << "\n";
      return 1;
    }
    for (auto& ep : eps)
      if (ep.endpoint().address().is_v4()) {
        tgt.endpoint = ep.endpoint();
        break;
      }
    if (tgt.endpoint.port() == 0) {
      std::cerr << "parley-bench: error: " << url->host << " has no IPv4 address\n";
      return 1;
    }
  }
  tgt.host = url->authority();
  tgt.path = url->target;
  parley::client::tls_options tls;
  tls.ca_file = o.ca_file;
  tls.verify = !o.insecure;
  if (url->tls) {
    // One context for every connection of this process.
    auto ctx = parley::client::make_client_context(tls, why);
    if (!ctx) {
      std::cerr << "parley-bench: error: " << why << "\n";
      return 1;
    }
    tgt.tls = std::make_shared<boost::asio::ssl::context>(std::move(*ctx));
    tgt.server_name = url->host;
    tgt.verify = tls.verify;
  }
  tgt.enc = o.binary ? parley::proto::encoding::binary : parley::proto::encoding::json;
  if (o.transport != "websocket") {
    if (tgt.tls)
      return usage_error("--transport=" + o.transport + " speaks plain TCP only (a ws:// --url)");
    if (o.binary)
      return usage_error("--transport=" + o.transport + " speaks JSON only (drop --binary)");
    tgt.via = o.transport == "sse" ? parley::bench::target::transport::sse
                                   : parley::bench::target::transport::longpoll;
  }
  if (!o.worker) {
    parley::client::ws_client probe(5s);
    probe.set_tls(tls);
    if (!probe.connect(*url)) {
      std::cerr << "parley-bench: error: cannot reach " << url->str() << ": " << probe.error() << "\n";
      return 1;
    }
    probe.close();
  }

  // fanout counts rooms (whole rooms per process), the others connections.
  size_t units = o.mode == "fanout" ? o.rooms : o.conns;
  size_t total_conns = o.mode == "fanout" ? o.rooms * o.members : o.conns;
  if (o.mode == "fanout" && o.members > o.per_process)
    return usage_error("one room of " + std::to_string(o.members)
                       + " members exceeds --per-process " + std::to_string(o.per_process));

  parley::bench::params_map params{
    {"url", o.url},
    {"encoding", o.binary ? "binary" : "json"},
    {"transport", o.transport},
    {"threads", std::to_string(o.threads)},
  };
  if (o.mode == "fanout") {
    params["rooms"] = std::to_string(o.rooms);
    params["members"] = std::to_string(o.members);
    params["publishers"] = std::to_string(o.publishers);
    params["rate"] = plain(o.rate);
    params["duration"] = plain(o.duration);
  } else {
    params["conns"] = std::to_string(o.conns);
    if (o.mode != "conns")
      params["duration"] = plain(o.duration);
  }

  if (o.worker) {
    barrier_fn barrier = [] {
      std::cout << "READY" << std::endl;
      std::string go;
      std::getline(std::cin, go);
    };
    auto r = run_local(o, tgt, units, barrier);
    std::cout << to_json_line(o.mode, params, r) << std::endl;
    return 0;
  }

  std::map<std::string, double> extra;
  double rss_start = rss_kib(o.server_pid);
  // RSS does not shrink after free(): whether memory came back is read from
  // the allocator's live bytes, which a Parley gateway reports.
  auto heap_start = o.mode == "churn" ? server_gauge(tgt, "parley_heap_live_bytes") : std::nullopt;
  double cpu_start = cpu_seconds(o.server_pid);
  barrier_fn barrier = [&] {
    if (o.server_pid > 0)
      extra["server_rss_loaded_kib"] = rss_kib(o.server_pid);
  };
  run_result r;
  std::vector<size_t> shares =
    o.mode == "fanout" ? parley::bench::split_rooms(o.rooms, o.members, o.per_process)
                       : parley::bench::split_workers(o.conns, o.per_process);
  params["processes"] = std::to_string(shares.size());
  params["open_files_limit"] = std::to_string(nofile);
  if (shares.size() <= 1)
    r = run_local(o, tgt, units, barrier);
  else
    r = run_workers(o, shares, total_conns, barrier);

  bool ok = true;
  std::ostringstream human;
  human.setf(std::ios::fixed);
  human.precision(1);
  auto ms = [](int64_t us) { return static_cast<double>(us) / 1000.0; };
  human << "parley-bench " << o.mode << " (" << (o.binary ? "binary" : "json") << ", "
        << (o.transport == "websocket" ? "" : o.transport + ", ")
        << url->str() << ")\n";
  if (o.mode != "churn") {
    human << "  connections: " << r.opened << " of " << r.attempted << " joined, " << r.failed
          << " failed, in " << r.setup_seconds << " s ("
          << (r.setup_seconds > 0 ? static_cast<double>(r.opened) / r.setup_seconds : 0.0)
          << "/s)\n";
    if (r.opened < r.attempted || (o.mode == "conns" && r.errors > 0))
      ok = false;
  }
  if (o.mode == "fanout") {
    human << "  messages: " << r.messages << " acked, deliveries " << r.delivered << " of "
          << r.expected << " expected, lost " << r.lost << ", duplicated " << r.duplicated
          << ", " << (r.run_seconds > 0 ? static_cast<double>(r.delivered) / r.run_seconds : 0.0)
          << " deliveries/s\n";
    // Members only (--publishers=0): nothing to expect here; the deliveries
    // are checked against the publishing run's messages by whoever runs both.
    bool listening = o.publishers == 0;
    if (r.lost > 0 || r.duplicated > 0 || r.errors > 0
        || (listening ? r.delivered == 0 : r.messages == 0))
      ok = false;
  }
  if (o.mode == "echo") {
    human << "  round trips: " << r.round_trips << " in " << r.run_seconds << " s ("
          << (r.run_seconds > 0 ? static_cast<double>(r.round_trips) / r.run_seconds : 0.0)
          << "/s)\n";
    if (r.round_trips == 0 || r.errors > 0)
      ok = false;
  }
  if (o.mode == "churn") {
    human << "  cycles: " << r.cycles << " in " << r.run_seconds << " s, errors " << r.errors
          << "\n";
    if (r.cycles == 0 || r.errors > 0)
      ok = false;
  }
  if (o.mode == "fanout" || o.mode == "echo") {
    human.precision(3);
    human << "  latency ms: p50 " << ms(r.latency.percentile(50)) << ", p95 "
          << ms(r.latency.percentile(95)) << ", p99 " << ms(r.latency.percentile(99)) << ", max "
          << ms(r.latency.max()) << " (" << r.latency.count() << " samples)\n";
    human.precision(1);
  }
  if (o.mode == "churn") {
    // Let the server finish closing before measuring: its connection actors
    // gone (a Parley gateway says so), else a fixed pause.
    if (server_gauge(tgt, "parley_connection_actors"))
      wait_until([&] { return server_gauge(tgt, "parley_connection_actors").value_or(0) == 0; },
                 std::chrono::steady_clock::now() + 10s,
                 [] { return std::string{"waiting for the server's connections to end"}; }, o);
    else if (o.server_pid > 0)
      std::this_thread::sleep_for(2s);
  }
  std::optional<double> heap_end;
  if (heap_start)
    heap_end = server_gauge(tgt, "parley_heap_live_bytes");
  if (heap_start && heap_end) {
    // What a run may keep: the rooms it started and the allocator's pools.
    bool back = *heap_end <= *heap_start + 1024.0 * 1024.0;
    extra["server_heap_start_bytes"] = *heap_start;
    extra["server_heap_end_bytes"] = *heap_end;
    extra["server_heap_returned"] = back ? 1 : 0;
    human << "  server live heap: " << *heap_start / 1024.0 << " KiB before, "
          << *heap_end / 1024.0 << " KiB after: memory " << (back ? "returned" : "did NOT return")
          << " (within 1 MiB)\n";
  }
  if (o.server_pid > 0) {
    double rss_end = rss_kib(o.server_pid);
    extra["server_rss_start_kib"] = rss_start;
    extra["server_rss_end_kib"] = rss_end;
    extra["server_cpu_seconds"] = cpu_seconds(o.server_pid) - cpu_start;
    human << "  server " << o.server_pid << ": RSS " << rss_start << " KiB before";
    if (o.mode != "churn") {
      double loaded = extra["server_rss_loaded_kib"];
      double per = r.opened > 0 ? (loaded - rss_start) * 1024.0 / static_cast<double>(r.opened) : 0;
      extra["server_bytes_per_conn"] = per;
      human << ", " << loaded << " KiB with " << r.opened << " connections (" << per
            << " bytes each)";
    }
    human << ", " << rss_end << " KiB after; CPU " << extra["server_cpu_seconds"] << " s\n";
    if (o.mode == "churn" && !heap_end) {
      // No live-heap gauge (not a Parley gateway): RSS, which allocators
      // keep some of: within 10 % or 4 MiB of the baseline.
      bool back = rss_end <= rss_start + std::max(rss_start / 10, 4096.0);
      extra["server_rss_returned"] = back ? 1 : 0;
      human << "  server memory " << (back ? "returned to" : "did NOT return to")
            << " its baseline\n";
    }
  }
  if (r.rate_limited > 0)
    human << "  " << r.rate_limited
          << " requests were RATE_LIMITED: start the gateway with a higher --rate-limit/--rate-burst\n";
  if (!r.first_error.empty())
    human << "  first error: " << r.first_error << "\n";
  human << "  result: " << (ok ? "OK" : "FAILED") << "\n";
  std::cerr << human.str();
  std::cout << to_json_line(o.mode, params, r, extra, false) << std::endl;
  return ok ? 0 : 1;
}
