// Beast/Asio only: no CAF header may be included here.
#include "parley/gateway/listener.hpp"

#include "parley/gateway/session.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <spdlog/spdlog.h>

#include <future>
#include <thread>
#include <vector>

namespace parley::gateway {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct listener::impl {
  impl(gateway_config cfg, connection_factory factory, std::shared_ptr<metrics> m)
    : ioc(static_cast<int>(std::max<size_t>(1, cfg.io_threads))),
      acceptor(net::make_strand(ioc)),
      state(std::make_shared<internal::shared_state>(std::move(cfg), std::move(factory),
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
      if (ec) {
        // EMFILE and friends: keep accepting; the socket in question is gone.
        spdlog::warn("gateway: accept failed: {}", ec.message());
      } else {
        state->stats->accepted();
        boost::system::error_code ignored;
        // Frames are small and each is one write: without TCP_NODELAY, Nagle
        // holds a reply until the client ACKs the previous one (up to 40 ms
        // of delayed ACK per round trip, measured in the limits test).
        socket.set_option(tcp::no_delay(true), ignored);
        auto peer = socket.remote_endpoint(ignored).address().to_string();
        internal::connection_slot slot{state, peer};
        if (!slot) {
          state->stats->refused(slot.refusal);
          if (slot.refusal == "per_address")
            spdlog::warn("gateway: {} already has {} connections, refusing one (503)", peer,
                         state->cfg.max_connections_per_address);
          else
            spdlog::warn("gateway: {} connections open, refusing one from {} (503)",
                         state->cfg.max_connections, peer);
        }
        start_session(std::move(socket), state, std::move(slot));
      }
      do_accept();
    });
  }

  // Declared first so it is destroyed last: pending handlers (and the
  // sessions they hold) go before the acceptor and the state.
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::shared_ptr<internal::shared_state> state;
  std::vector<std::thread> threads;
  tcp::endpoint bound;
  bool stopped = false;
};

listener::listener(gateway_config cfg, connection_factory factory, std::shared_ptr<metrics> m)
  : impl_(std::make_unique<impl>(std::move(cfg), std::move(factory),
                                 m ? std::move(m) : std::make_shared<metrics>())) {
  // nop
}

listener::~listener() {
  stop();
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
  impl_->bound = acc.local_endpoint(ec);
  spdlog::info("gateway: listening on {}:{} ({} I/O thread(s), at most {} connections, {} per "
               "address)",
               address(), port(), cfg.io_threads, cfg.max_connections,
               cfg.max_connections_per_address);
  impl_->do_accept();
  for (size_t i = 0; i < std::max<size_t>(1, cfg.io_threads); ++i)
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  return std::nullopt;
}

uint16_t listener::port() const {
  return impl_->bound.port();
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
  spdlog::info("gateway: draining {} WebSocket(s), at most {} s", open, st.cfg.drain_timeout.count());
  st.shutdown_all();
  if (!st.wait_no_websockets(st.cfg.drain_timeout))
    spdlog::warn("gateway: {} WebSocket(s) still open after {} s, dropping them",
                 st.websockets.load(), st.cfg.drain_timeout.count());
  // Close the acceptor on its strand (it is not thread-safe) and wait for it.
  std::promise<void> closed;
  net::post(impl_->acceptor.get_executor(), [this, &closed] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    closed.set_value();
  });
  closed.get_future().wait();
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
