// rooms_memory_bench: touches N distinct rooms one after another through
// the real rooms directory (lookup, join, publish, leave), with rooms that
// leave memory after --idle seconds, and prints the process's RSS and the
// rooms open every --every rooms. With a history store the RSS should stay
// flat however many names are touched. docs/benchmarks.md has figures.
//
//   rooms_memory_bench --store=sqlite --rooms=1000000 --idle=1
#include "parley/actors/rooms_directory.hpp"
#include "parley/runtime/heap.hpp"
#include "parley/runtime/node.hpp"
#include "parley/store/store_service.hpp"
#include "parley/version.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace {

using namespace parley;
using namespace parley::actors;
using done_atom = caf::atom_constant<caf::atom("benchdone")>;

long rss_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

struct driver_state {
  uint64_t next = 0;
  uint64_t done = 0;
  uint64_t failed = 0;
};

// Keeps `window` rooms in flight: lookup, join, publish, leave, next name.
caf::behavior driver(caf::stateful_actor<driver_state>* self, rooms_actor dir, uint64_t total,
                     size_t window, uint64_t every, std::shared_ptr<room_stats> stats,
                     caf::actor report_to) {
  auto start = std::chrono::steady_clock::now();
  auto one = std::make_shared<std::function<void()>>();
  *one = [=] {
    auto& st = self->state;
    if (st.next >= total)
      return;
    auto name = "room-" + std::to_string(st.next++);
    auto finish = [=](bool ok) {
      auto& st = self->state;
      ++st.done;
      if (!ok)
        ++st.failed;
      if (st.done % every == 0) {
        auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
        // RSS and the allocator's live bytes: glibc keeps pages it was
        // given back, so RSS shows the high-water mark, heap what is held.
        std::printf("%10lu rooms touched  %7.1f s  RSS %8ld KiB  heap %8zu KiB  rooms open %6ld  "
                    "failed %lu\n",
                    static_cast<unsigned long>(st.done), secs.count(), rss_kib(),
                    runtime::heap_live_bytes() / 1024, static_cast<long>(stats->open.load()),
                    static_cast<unsigned long>(st.failed));
        std::fflush(stdout);
      }
      if (st.done == total)
        self->send(report_to, done_atom::value);
      else
        (*one)();
    };
    auto fail = [finish](caf::error&) { finish(false); };
    self->request(dir, std::chrono::seconds(30), lookup_atom::value, name)
      .then(
        [=](room_actor& room) {
          join_request req{self->address(), "bench", proto::encoding::binary, {}, {}, nullptr,
                           "j"};
          self->request(room, std::chrono::seconds(30), join_atom::value, std::move(req))
            .then(
              [=](join_reply&) {
                self->request(room, std::chrono::seconds(30), publish_atom::value,
                              publish_request{self->address(), "hello " + name, {}})
                  .then(
                    [=](seq_t) {
                      self->request(room, std::chrono::seconds(30), leave_atom::value,
                                    self->address())
                        .then([=](bool) { finish(true); }, fail);
                    },
                    fail);
              },
              fail);
        },
        fail);
  };
  for (size_t i = 0; i < window; ++i)
    (*one)();
  return {[](int) {}};
}

} // namespace

int main(int argc, char** argv) {
  std::string kind = "sqlite";
  uint64_t total = 1'000'000;
  uint64_t every = 100'000;
  size_t window = 64;
  int idle = 1;
  size_t threads = 2;
  CLI::App app{"Touches N distinct rooms and prints RSS as it goes"};
  app.add_option("--store", kind)->check(CLI::IsMember({"memory", "sqlite"}));
  app.add_option("--rooms", total);
  app.add_option("--every", every);
  app.add_option("--window", window);
  app.add_option("--idle", idle, "Seconds before an empty room leaves memory");
  app.add_option("--threads", threads);
  app.set_version_flag("--version", parley::version_text("rooms_memory_bench"));
  CLI11_PARSE(app, argc, argv);
  std::string tmp = "/tmp/parley-rooms-bench-XXXXXX";
  tmp = ::mkdtemp(tmp.data());
  std::unique_ptr<store::history_store> backend;
  if (kind == "sqlite") {
    std::string why;
    backend = store::open_sqlite_store({tmp, store::sync_mode::normal}, why);
    if (!backend) {
      std::fprintf(stderr, "%s\n", why.c_str());
      return 2;
    }
  } else {
    backend = store::make_memory_store();
  }
  auto service = std::make_shared<store::store_service>(std::move(backend));
  runtime::node_config cfg;
  cfg.name = "rooms-bench";
  cfg.threads = threads;
  rooms_config rcfg;
  rcfg.room.store = service;
  rcfg.room.idle_timeout = std::chrono::seconds(idle);
  rcfg.room.presence_interval = caf::timespan{0};
  std::printf("store=%s rooms=%lu window=%zu idle=%d s; RSS at start %ld KiB\n", kind.c_str(),
              static_cast<unsigned long>(total), window, idle, rss_kib());
  {
    runtime::node node{cfg, [](caf::actor_system_config& c) { announce_chat(c); }};
    node.start({rooms_child(rcfg)});
    caf::scoped_actor self{node.system()};
    rooms_actor dir;
    while (!dir)
      dir = find_rooms_directory(node.system());
    auto d = node.system().spawn(driver, dir, total, window, every, rcfg.room.stats,
                                 caf::actor{self});
    self->receive([](done_atom) {});
    self->send_exit(d, caf::exit_reason::user_shutdown);
    node.stop();
    node.wait();
  }
  service->stop();
  std::filesystem::remove_all(tmp);
  return 0;
}
