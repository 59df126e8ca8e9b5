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
  impl(gateway_config cfg, connection_factory factory)
    : ioc(static_cast<int>(std::max<size_t>(1, cfg.io_threads))),
      acceptor(net::make_strand(ioc)),
      state(std::make_shared<internal::shared_state>(std::move(cfg), std::move(factory))) {
    // nop
  }

  void do_accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](boost::system::error_code ec,
                                                        tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor.is_open())
        return;
      if (ec) {
        // EMFILE and friends: keep accepting; the socket in question is gone.
        spdlog::warn("gateway: accept failed: {}", ec.message());
      } else {
        internal::connection_slot slot;
        if (state->active.load() < state->cfg.max_connections)
          slot = internal::connection_slot{state};
        else
          spdlog::warn("gateway: {} connections open, refusing one (503)",
                       state->cfg.max_connections);
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

listener::listener(gateway_config cfg, connection_factory factory)
  : impl_(std::make_unique<impl>(std::move(cfg), std::move(factory))) {
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
  spdlog::info("gateway: listening on {}:{} ({} I/O thread(s), at most {} connections)",
               address(), port(), cfg.io_threads, cfg.max_connections);
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
  // Close the acceptor on its strand (it is not thread-safe) and wait for it.
  std::promise<void> closed;
  net::post(impl_->acceptor.get_executor(), [this, &closed] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    closed.set_value();
  });
  closed.get_future().wait();
  impl_->state->shutdown_all();
  auto drain = impl_->state->cfg.drain_timeout;
  if (!impl_->state->wait_empty(drain)) {
    spdlog::warn("gateway: sessions still open after {} s, dropping them", drain.count());
    impl_->ioc.stop();
  }
  for (auto& t : impl_->threads)
    t.join();
  impl_->threads.clear();
  spdlog::info("gateway: stopped");
}

} // namespace parley::gateway
