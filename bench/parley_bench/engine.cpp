#include "parley_bench/engine.hpp"

#include "parley_bench/machine.hpp"

#include <unistd.h>

namespace parley::bench {

using namespace std::chrono_literals;

bool wait_until(const std::function<bool()>& done, std::chrono::steady_clock::time_point deadline,
                const std::function<std::string()>& progress, const options& o) {
  static auto started = std::chrono::steady_clock::now();
  static auto last = started;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(20ms);
    if (std::chrono::steady_clock::now() - last >= 1s) {
      last = std::chrono::steady_clock::now();
      // One write per line, so workers sharing stderr do not interleave.
      auto line = (o.worker ? "  worker " + std::to_string(getpid()) + " " : std::string())
                  + "[" + std::to_string(static_cast<int>(seconds_since(started))) + "s] "
                  + progress() + "\n";
      (void) !::write(2, line.data(), line.size());
    }
  }
  return true;
}

// -- frames ---------------------------------------------------------------------

v1::ClientFrame hello(const std::string& user) {
  v1::ClientFrame f;
  f.set_ref("h");
  f.mutable_hello()->set_client_name("parley-bench");
  f.mutable_hello()->set_client_version("0.1");
  f.mutable_hello()->set_user(user);
  return f;
}

v1::ClientFrame join(const std::string& room) {
  v1::ClientFrame f;
  f.set_ref("j");
  f.mutable_join()->set_room(room);
  return f;
}

v1::ClientFrame publish(const std::string& ref, const std::string& room, const std::string& text) {
  v1::ClientFrame f;
  f.set_ref(ref);
  f.mutable_publish()->set_room(room);
  f.mutable_publish()->set_text(text);
  return f;
}

v1::ClientFrame leave(const std::string& room) {
  v1::ClientFrame f;
  f.set_ref("l");
  f.mutable_leave()->set_room(room);
  return f;
}

v1::ClientFrame ping() {
  v1::ClientFrame f;
  f.set_ref("e");
  f.mutable_ping()->set_client_time_ms(static_cast<uint64_t>(now_us() / 1000));
  return f;
}

std::string error_line(const v1::ServerFrame& f) {
  return v1::ErrorCode_Name(f.error().code()) + ": " + f.error().reason();
}

std::vector<std::shared_ptr<connection>>
open_all(engine& e, const options& o, size_t n, const std::function<std::string(size_t)>& room_of,
         frame_hook on_frame, join_hook on_joined,
         std::chrono::steady_clock::time_point deadline, bool& in_time) {
  std::vector<std::shared_ptr<connection>> conns;
  conns.reserve(n);
  auto& c = e.c;
  for (size_t i = 0; i < n; ++i) {
    auto conn = e.make(i);
    auto& st = e.state_of(i);
    auto room = room_of(i);
    conn->on_open = [&o](connection& self) {
      self.send(hello("b" + std::to_string(o.offset + self.id)));
    };
    conn->on_frame = [&c, &st, room, on_frame, on_joined](connection& self, v1::ServerFrame& f) {
      if (self.counter == 0 && (f.ref() == "h" || f.ref() == "j")) {
        if (f.has_error()) {
          st.error(error_line(f));
          self.counter = 2; // failed; on_down does not count it again
          ++c.failed;
          self.close();
        } else if (f.ref() == "h") {
          self.send(join(room));
        } else {
          self.counter = 1;
          ++c.opened;
          if (on_joined)
            on_joined(self, f, st);
        }
        return;
      }
      if (on_frame)
        on_frame(self, f, st);
    };
    conn->on_down = [&c, &st](connection& self, const std::string& why) {
      ++c.down;
      if (self.counter == 0) {
        ++c.failed;
        st.error(why);
      } else if (!why.empty() && !c.stop) {
        ++c.errors;
        st.error(why);
      }
    };
    conns.push_back(std::move(conn));
  }
  size_t next = 0;
  in_time = wait_until(
    [&] {
      while (next < n && c.started - c.opened - c.failed < o.concurrency) {
        ++c.started;
        auto conn = conns[next++];
        net::post(conn->context(), [conn] { conn->start(); });
      }
      return next == n && c.opened + c.failed == n;
    },
    deadline,
    [&] {
      return "connected " + std::to_string(c.opened) + "/" + std::to_string(n) + ", failed "
             + std::to_string(c.failed);
    },
    o);
  return conns;
}

/// Closes every connection and waits (at most 5 s) until they are down.
void close_all(engine& e, const options& o, std::vector<std::shared_ptr<connection>>& conns) {
  e.c.stop = true;
  for (auto& conn : conns)
    net::post(conn->context(), [conn] { conn->close(); });
  uint64_t expect = e.c.started;
  wait_until([&] { return e.c.down >= expect; }, std::chrono::steady_clock::now() + 5s,
             [&] { return "closing: " + std::to_string(e.c.down) + "/" + std::to_string(expect); },
             o);
}

std::string room_name(const options& o, const std::string& kind, size_t index) {
  return "bench-" + o.run_id + "-" + kind + "-" + std::to_string(index);
}

} // namespace parley::bench
