// Beast/Asio only: no CAF header may be included here.
#include "parley/gateway/listener.hpp"

#include "parley/runtime/scheduler.hpp"

#include <pthread.h>

#include "parley/gateway/admin_session.hpp"
#include "parley/gateway/internal/http_channel.hpp"
#include "parley/gateway/session.hpp"
#include "parley/runtime/log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <future>
#include <thread>
#include <vector>

namespace parley::gateway {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

/// Descriptors open in this process now.
rlim_t open_descriptors() {
  std::error_code ec;
  rlim_t n = 0;
  for (std::filesystem::directory_iterator i{"/proc/self/fd", ec}, end; !ec && i != end;
       i.increment(ec))
    ++n;
  return n;
}

/// The connection cap this process can keep: `wanted`, or fewer when the
/// descriptor limit (ulimit -n) cannot hold that many sockets besides what
/// is open already and a reserve for what opens later (cluster sockets,
/// files, a database). Past the cap a socket is answered 503 and closed at
/// once; past the descriptor limit it could not be accepted at all, and
/// the process would have no descriptor left for anything else. Raises the
/// soft limit to the hard one first (as Go's runtime and many servers do:
/// the soft default of 1024 is a relic of select()).
size_t connection_cap(size_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return wanted;
  if (lim.rlim_cur < lim.rlim_max) {
    auto raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
      lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY)
    return wanted;
  auto reserve = open_descriptors() + std::clamp<rlim_t>(lim.rlim_cur / 16, 16, 64);
  auto room = lim.rlim_cur > reserve ? lim.rlim_cur - reserve : 1;
  if (wanted <= room)
    return wanted;
  spdlog::warn("gateway: this process may open {} files (ulimit -n): at most {} connections, "
               "not {}; raise the limit for more",
               lim.rlim_cur, room, wanted);
  return static_cast<size_t>(room);
}

/// The answer a socket past a connection cap gets, whole, without a read.
std::string canned_503(const char* body) {
  return std::string{"HTTP/1.1 503 Service Unavailable\r\nServer: parley-gateway\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\nContent-Length: "}
         + std::to_string(std::char_traits<char>::length(body))
         + "\r\nConnection: close\r\n\r\n" + body;
}

gateway_config with_cap(gateway_config cfg) {
  cfg.max_connections = connection_cap(cfg.max_connections);
  return cfg;
}

} // namespace

struct listener::impl {
  impl(gateway_config cfg, connection_factory factory, std::shared_ptr<metrics> m)
    : ioc(static_cast<int>(std::max<size_t>(1, cfg.io_threads))),
      acceptor(net::make_strand(ioc)),
      state(std::make_shared<internal::shared_state>(with_cap(std::move(cfg)), std::move(factory),
                                                     std::move(m))) {
    // Queue depths are summed at scrape time (nothing to count per frame).
    state->stats->add_collector([weak = std::weak_ptr<internal::shared_state>{state}] {
      auto st = weak.lock();
      if (!st) // a listener that stopped (a restarted one reports its own)
        return std::vector<prometheus::MetricFamily>{};
      auto d = st->total_queued();
      auto n = st->sizes();
      auto as_double = [](size_t x) { return static_cast<double>(x); };
      return std::vector<prometheus::MetricFamily>{
        gauge_family_of("parley_gateway_outbound_queued_frames",
                        "Frames waiting in the write queues of all sessions",
                        as_double(d.frames)),
        gauge_family_of("parley_gateway_outbound_queued_bytes",
                        "Bytes waiting in the write queues of all sessions",
                        as_double(d.bytes)),
        gauge_family_of("parley_gateway_sockets",
                        "Sockets holding a connection slot (HTTP and WebSocket; the "
                        "scrape's own included)",
                        as_double(st->active.load())),
        gauge_family_of("parley_gateway_sessions_listed",
                        "Sessions in the listener's registry (the scrape's own included)",
                        as_double(n.sessions)),
        gauge_family_of("parley_gateway_addresses_tracked",
                        "Client addresses with a per-address connection count",
                        as_double(n.addresses)),
        gauge_family_of("parley_gateway_write_starts_pending",
                        "Sessions waiting for their write to start", as_double(n.ready))};
    });
  }

  /// An I/O thread's loop. With one I/O thread and an actor host, the
  /// actors its handlers wake run in a handler of their own on this thread,
  /// posted when the first is queued: a frame read here is answered here,
  /// and the answer's write is posted from inside the loop (no wake-up).
  /// With more I/O threads a posted handler may run on any of them, so the
  /// actors go to the scheduler as before.
  void run_io() {
    pthread_setname_np(pthread_self(), "parley.io");
    std::unique_ptr<runtime::actor_host> host;
    runtime::actor_host* self = nullptr; // outlives every handler posted below
    if (hosts && state->cfg.io_runs_actors && state->cfg.io_threads == 1) {
      host = hosts([this, &self] {
        // Jobs per turn before the ready I/O gets its turn again.
        net::post(ioc, [&self] { self->run(64); });
      });
      self = host.get();
    }
    ioc.run();
    // Stopped with actors still waiting here: run them before the host goes.
    while (host && host->pending())
      host->run(64);
  }

  /// Each socket's executor. With one I/O thread every handler already runs
  /// on it in turn, so a strand would only add its queue and lock to every
  /// write; with more, each socket gets its own strand.
  net::any_io_executor socket_executor() {
    if (state->cfg.io_threads <= 1)
      return ioc.get_executor();
    return net::make_strand(ioc);
  }

  void do_accept() {
    acceptor.async_accept(socket_executor(), [this](boost::system::error_code ec,
                                                    tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor.is_open())
        return;
      if (ec == net::error::no_descriptors
          || ec == boost::system::errc::too_many_files_open_in_system
          || ec == net::error::no_buffer_space || ec == net::error::no_memory) {
        out_of_descriptors(ec);
        return;
      }
      if (ec) {
        // The connection in question is gone (reset before it was
        // accepted, say); the next one is not.
        if (auto held = accept_failed_log.admit())
          spdlog::warn("gateway: accept failed: {}{}", ec.message(), runtime::log_limiter::more(*held));
      } else {
        on_accepted(std::move(socket));
      }
      do_accept();
    });
  }

  /// The admin console's own accept loop: few operators, so no caps beyond
  /// a handful of sockets; peers outside `--admin-allow` are closed unread.
  void do_admin_accept() {
    admin_acceptor.async_accept(socket_executor(), [this](boost::system::error_code ec,
                                                          tcp::socket socket) {
      if (ec == net::error::operation_aborted || !admin_acceptor.is_open())
        return;
      if (!ec)
        on_admin_accepted(std::move(socket));
      else if (ec == net::error::no_descriptors
               || ec == boost::system::errc::too_many_files_open_in_system) {
        // The public loop sheds and backs off; this one just waits.
        admin_backoff.expires_after(std::chrono::milliseconds(100));
        admin_backoff.async_wait([this](boost::system::error_code wec) {
          if (!wec && admin_acceptor.is_open())
            do_admin_accept();
        });
        return;
      }
      do_admin_accept();
    });
  }

  void on_admin_accepted(tcp::socket socket) {
    boost::system::error_code ec;
    auto peer = socket.remote_endpoint(ec).address().to_string();
    auto& allow = state->cfg.admin.allow;
    bool allowed = std::any_of(allow.begin(), allow.end(),
                               [&](const address_range& r) { return r.contains(peer); });
    if (ec || !allowed) {
      state->stats->refused("admin_address");
      if (auto held = admin_refusal_log.admit())
        spdlog::warn("admin: refused a connection from {}, not in --admin-allow{}", peer,
                     runtime::log_limiter::more(*held));
      static const std::string forbidden = [] {
        std::string body = "this address may not use the admin console (--admin-allow)\n";
        return "HTTP/1.1 403 Forbidden\r\nServer: parley-gateway\r\nContent-Type: text/plain; "
               "charset=utf-8\r\nContent-Length: "
               + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      }();
      socket.non_blocking(true, ec);
      socket.write_some(net::buffer(forbidden), ec);
      socket.shutdown(tcp::socket::shutdown_send, ec);
      socket.close(ec);
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    start_admin_session(std::move(socket), std::move(peer), state);
  }

  void on_accepted(tcp::socket socket) {
    state->stats->accepted();
    boost::system::error_code ignored;
    // Frames are small and each is one write: without TCP_NODELAY, Nagle
    // holds a reply until the client ACKs the previous one (up to 40 ms
    // of delayed ACK per round trip, measured in the limits test).
    socket.set_option(tcp::no_delay(true), ignored);
    auto peer = socket.remote_endpoint(ignored).address().to_string();
    internal::connection_slot slot{state, peer};
    if (slot) {
      start_session(std::move(socket), state, std::move(slot));
      return;
    }
    state->stats->refused(slot.refusal);
    bool per_address = slot.refusal == "per_address";
    if (auto held = refusal_log.admit()) {
      auto more = runtime::log_limiter::more(*held);
      if (per_address)
        spdlog::warn("gateway: {} already has {} connections, refusing one (503){}", peer,
                     state->cfg.max_connections_per_address, more);
      else
        spdlog::warn("gateway: {} connections open, refusing one from {} (503){}",
                     state->cfg.max_connections, peer, more);
    }
    refuse_at_once(socket, per_address);
  }

  /// A socket past a cap is answered and closed here, never read into a
  /// session: one that waited for its request would hold a descriptor for
  /// the handshake timeout, and a client sending nothing could fill every
  /// descriptor the process has. What the client already sent is read
  /// without waiting and dropped (closing over unread bytes would send a
  /// reset, which can destroy the answer before the client reads it); the
  /// answer goes into the new socket's empty send buffer without waiting.
  void refuse_at_once(tcp::socket& socket, bool per_address) {
    static const std::string address_full = canned_503("too many connections from your address\n");
    static const std::string full = canned_503("too many connections\n");
    const auto& answer = per_address ? address_full : full;
    boost::system::error_code ec;
    socket.non_blocking(true, ec);
    std::array<char, 4096> discard;
    for (size_t read = 0; read < state->cfg.max_request_bytes;) {
      auto n = socket.read_some(net::buffer(discard), ec);
      if (ec)
        break;
      read += n;
    }
    socket.write_some(net::buffer(answer), ec);
    if (!ec)
      state->stats->http_response(503);
    socket.shutdown(tcp::socket::shutdown_send, ec);
    socket.close(ec);
  }

  /// Accept failed for want of a descriptor (or of kernel memory). The
  /// connection stays in the backlog and the next accept would fail at once
  /// again: a loop that spins a core and logs a line each time. Instead the
  /// spare descriptor kept for this is given up for a moment to accept that
  /// connection and close it (what libuv and nginx do), so the backlog
  /// drains; when that is not possible either, the loop waits a little.
  void out_of_descriptors(boost::system::error_code ec) {
    state->stats->refused("descriptors");
    if (auto held = descriptors_log.admit())
      spdlog::warn("gateway: accept failed: {}; closing new connections at once until "
                   "descriptors are free{}",
                   ec.message(), runtime::log_limiter::more(*held));
    bool shed = false;
    if (spare_fd >= 0) {
      ::close(spare_fd);
      spare_fd = -1;
      boost::system::error_code aec;
      auto s = acceptor.accept(aec); // the acceptor does not block (start)
      if (!aec) {
        shed = true;
        s.close(aec);
      }
      spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (shed) {
      do_accept();
      return;
    }
    backoff.expires_after(std::chrono::milliseconds(100));
    backoff.async_wait([this](boost::system::error_code wec) {
      if (!wec && acceptor.is_open())
        do_accept();
    });
  }

  /// Closes and forgets the HTTP transports' sessions that nobody polls
  /// (http_channel::sweep), once a second.
  void do_sweep() {
    sweeper.expires_after(std::chrono::seconds(1));
    sweeper.async_wait([this](boost::system::error_code ec) {
      if (ec)
        return;
      auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(
        state->cfg.session_idle_timeout);
      // While draining, a closed session whose client is not there to hear
      // it does not hold the drain up for long.
      if (state->stopping())
        idle = std::min(idle, std::chrono::milliseconds{2000});
      auto now = std::chrono::steady_clock::now();
      for (auto& ch : state->all_channels())
        if (ch->sweep(now, idle))
          state->forget_channel(ch->id());
      do_sweep();
    });
  }

  // Declared first so it is destroyed last: pending handlers (and the
  // sessions they hold) go before the acceptor and the state.
  net::io_context ioc;
  tcp::acceptor acceptor;
  /// Waits before the next accept when no descriptor is free.
  net::steady_timer backoff{acceptor.get_executor()};
  net::steady_timer sweeper{acceptor.get_executor()};
  /// Held so that one can be given up to shed a connection when the process
  /// is out of descriptors (`out_of_descriptors`).
  int spare_fd = -1;
  /// Lines a client can trigger at will go out once a second at most.
  runtime::log_limiter refusal_log;
  runtime::log_limiter descriptors_log;
  runtime::log_limiter accept_failed_log;
  runtime::log_limiter admin_refusal_log;
  /// The admin console's (closed unless configured).
  tcp::acceptor admin_acceptor{net::make_strand(ioc)};
  net::steady_timer admin_backoff{admin_acceptor.get_executor()};
  tcp::endpoint admin_bound;
  std::shared_ptr<internal::shared_state> state;
  std::vector<std::thread> threads;
  actor_host_factory hosts;
  tcp::endpoint bound;
  bool stopped = false;
};

listener::listener(gateway_config cfg, connection_factory factory, std::shared_ptr<metrics> m,
                   actor_host_factory hosts)
  : impl_(std::make_unique<impl>(std::move(cfg), std::move(factory),
                                 m ? std::move(m) : std::make_shared<metrics>())) {
  impl_->hosts = std::move(hosts);
}

listener::~listener() {
  stop();
  if (impl_->spare_fd >= 0)
    ::close(impl_->spare_fd);
}

std::optional<std::string> listener::start() {
  auto& cfg = impl_->state->cfg;
  boost::system::error_code ec;
  auto addr = net::ip::make_address(cfg.address, ec);
  if (ec)
    return "bad address '" + cfg.address + "': " + ec.message();
  tcp::endpoint ep{addr, cfg.port};
  auto& acc = impl_->acceptor;
  auto fail = [&](const char* what) -> std::optional<std::string> {
    boost::system::error_code ignored;
    acc.close(ignored);
    return std::string{what} + " " + cfg.address + ":" + std::to_string(cfg.port) + ": "
           + ec.message();
  };
  if (acc.open(ep.protocol(), ec); ec)
    return fail("cannot open");
  if (acc.set_option(net::socket_base::reuse_address(true), ec); ec)
    return fail("cannot set options on");
  if (acc.bind(ep, ec); ec)
    return fail("cannot bind");
  if (acc.listen(net::socket_base::max_listen_connections, ec); ec)
    return fail("cannot listen on");
  // Sheds connections synchronously when out of descriptors; the
  // asynchronous accept is unaffected.
  if (acc.non_blocking(true, ec); ec)
    return fail("cannot set options on");
  impl_->bound = acc.local_endpoint(ec);
  if (cfg.admin.port) {
    if (auto why = open_admin()) {
      boost::system::error_code ignored;
      acc.close(ignored);
      return why;
    }
  }
  impl_->spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  spdlog::info("gateway: listening on {}:{} ({} I/O thread(s), at most {} connections, {} per "
               "address)",
               address(), port(), cfg.io_threads, cfg.max_connections,
               cfg.max_connections_per_address);
  impl_->do_accept();
  impl_->do_sweep();
  if (impl_->admin_acceptor.is_open()) {
    spdlog::info("gateway: admin console on {}:{} ({} operator token(s))",
                 impl_->admin_bound.address().to_string(), impl_->admin_bound.port(),
                 cfg.admin.tokens.size());
    impl_->do_admin_accept();
  }
  for (size_t i = 0; i < std::max<size_t>(1, cfg.io_threads); ++i)
    impl_->threads.emplace_back([this] { impl_->run_io(); });
  return std::nullopt;
}

std::optional<std::string> listener::open_admin() {
  auto& cfg = impl_->state->cfg.admin;
  boost::system::error_code ec;
  auto addr = net::ip::make_address(cfg.address, ec);
  if (ec)
    return "bad --admin-address '" + cfg.address + "': " + ec.message();
  tcp::endpoint ep{addr, *cfg.port};
  auto& acc = impl_->admin_acceptor;
  auto fail = [&](const char* what) -> std::optional<std::string> {
    boost::system::error_code ignored;
    acc.close(ignored);
    return std::string{what} + " the admin console's " + cfg.address + ":"
           + std::to_string(*cfg.port) + ": " + ec.message();
  };
  if (acc.open(ep.protocol(), ec); ec)
    return fail("cannot open");
  if (acc.set_option(net::socket_base::reuse_address(true), ec); ec)
    return fail("cannot set options on");
  if (acc.bind(ep, ec); ec)
    return fail("cannot bind");
  if (acc.listen(16, ec); ec)
    return fail("cannot listen on");
  impl_->admin_bound = acc.local_endpoint(ec);
  return std::nullopt;
}

uint16_t listener::port() const {
  return impl_->bound.port();
}

std::optional<uint16_t> listener::admin_port() const {
  if (!impl_->state->cfg.admin.port)
    return std::nullopt;
  return impl_->admin_bound.port();
}

std::string listener::address() const {
  return impl_->bound.address().to_string();
}

size_t listener::connections() const {
  return impl_->state->active.load();
}

void listener::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  if (impl_->threads.empty())
    return; // never started
  auto& st = *impl_->state;
  // Drain: every WebSocket gets 1001; HTTP is still served meanwhile, so a
  // load balancer sees /healthz answer 503 and new upgrades are refused.
  auto open = st.websockets.load();
  spdlog::info("gateway: draining {} WebSocket(s) and {} HTTP session(s), at most {} s", open,
               st.channels.load(), st.cfg.drain_timeout.count());
  st.shutdown_all();
  if (!st.wait_no_websockets(st.cfg.drain_timeout))
    spdlog::warn("gateway: {} WebSocket(s) still open after {} s, dropping them",
                 st.websockets.load(), st.cfg.drain_timeout.count());
  // The admin console stays up through the drain. Close it first, while the
  // public acceptor still keeps the I/O threads running: once that one is
  // closed and the last session gone, a posted close would never run.
  std::promise<void> admin_closed;
  net::post(impl_->admin_acceptor.get_executor(), [this, &admin_closed] {
    boost::system::error_code ignored;
    impl_->admin_acceptor.close(ignored);
    impl_->admin_backoff.cancel();
    admin_closed.set_value();
  });
  admin_closed.get_future().wait();
  // Close the acceptor on its strand (it is not thread-safe) and wait for it.
  std::promise<void> closed;
  net::post(impl_->acceptor.get_executor(), [this, &closed] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->sweeper.cancel();
    closed.set_value();
  });
  closed.get_future().wait();
  // The HTTP transports' sessions hold the state, which lists them.
  st.forget_all_channels();
  st.shutdown_all(); // HTTP sessions that came during the drain
  if (!st.wait_empty(std::chrono::seconds(2)))
    impl_->ioc.stop();
  for (auto& t : impl_->threads)
    t.join();
  impl_->threads.clear();
  // Sessions still listed for a write start (the I/O threads stopped before
  // the posted drain ran) hold the shared state, which lists them: let go.
  std::vector<std::shared_ptr<internal::session_base>> unstarted;
  st.take_ready(unstarted);
  unstarted.clear();
  spdlog::info("gateway: stopped");
}

} // namespace parley::gateway
