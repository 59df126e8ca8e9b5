// The cluster port's TLS terminator (see cluster_gate.hpp for why).
// Boost.Asio and OpenSSL only: no CAF header here.
#include "parley/runtime/cluster_gate.hpp"

#include "parley/runtime/log.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <spdlog/spdlog.h>

#include <openssl/ssl.h>

#include <array>
#include <future>
#include <mutex>
#include <algorithm>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace parley::runtime {

namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

cluster_gate_stats& cluster_gate_counters() {
  static cluster_gate_stats stats;
  return stats;
}

namespace {

/// A BASP header is 32 bytes; the peer's first one ends the handshake
/// deadline (CAF itself never times out a link that has not sent one).
constexpr size_t basp_header_size = 32;

/// Per direction; one read is in flight per direction at a time, so a slow
/// reader on one side slows the writer on the other (back-pressure).
constexpr size_t relay_buffer_size = 16 * 1024;

using context_ptr = std::shared_ptr<ssl::context>;

/// The gate's TLS context from the files of `cfg`, or why not.
std::variant<context_ptr, std::string> make_context(const cluster_gate_config& cfg) {
  boost::system::error_code ec;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2
                     | ssl::context::no_sslv3 | ssl::context::no_tlsv1
                     | ssl::context::no_tlsv1_1,
                   ec);
  if (ctx->use_certificate_chain_file(cfg.cert, ec); ec)
    return "--cluster-cert " + cfg.cert + ": " + ec.message();
  if (ctx->use_private_key_file(cfg.key, ssl::context::pem, ec); ec)
    return "--cluster-key " + cfg.key + ": " + ec.message();
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return "--cluster-key " + cfg.key + " does not belong to --cluster-cert " + cfg.cert;
  if (ctx->load_verify_file(cfg.ca, ec); ec)
    return "--cluster-ca " + cfg.ca + ": " + ec.message();
  // Mutual TLS: a peer without a certificate from the cluster CA is no node.
  ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
  // Nodes reconnect rarely; tickets would only cost work per handshake.
  SSL_CTX_set_num_tickets(ctx->native_handle(), 0);
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_OFF);
  return ctx;
}

/// What the gate closes when it stops.
class closable {
public:
  virtual ~closable() = default;
  virtual void close() = 0;
};

} // namespace

struct cluster_gate::impl {
  cluster_gate_config cfg;
  net::io_context ioc{1};
  /// New connections take this one; a reload replaces it (gate thread).
  context_ptr tls;
  tcp::acceptor acceptor{ioc};
  net::steady_timer backoff{ioc};
  tcp::endpoint backend;
  std::thread thread;
  uint16_t bound_port = 0;
  std::atomic<bool> stopped{false};
  // The gate's thread only.
  std::unordered_set<closable*> links;
  size_t pending = 0;
  std::unordered_map<std::string, size_t> pending_by_address;
  log_limiter refusal_log;
  log_limiter failure_log;

  bool admit(const std::string& address) {
    auto& n = pending_by_address[address];
    if (pending >= cfg.max_pending || n >= cfg.max_pending_per_address) {
      if (n == 0)
        pending_by_address.erase(address);
      return false;
    }
    ++n;
    ++pending;
    cluster_gate_counters().pending.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  void release(const std::string& address) {
    auto i = pending_by_address.find(address);
    if (i != pending_by_address.end() && --i->second == 0)
      pending_by_address.erase(i);
    --pending;
    cluster_gate_counters().pending.fetch_sub(1, std::memory_order_relaxed);
  }

  void do_accept();
  void on_accepted(tcp::socket socket);
};

namespace {

/// One connection through the gate: the TLS side (a peer node) and, once
/// it authenticated, the plain side (BASP on loopback).
class gate_link final : public closable, public std::enable_shared_from_this<gate_link> {
public:
  gate_link(cluster_gate::impl& gate, tcp::socket socket, std::string address)
    : gate_(gate),
      tls_(gate.tls),
      peer_(std::move(socket), *tls_),
      backend_(gate.ioc),
      deadline_(gate.ioc),
      address_(std::move(address)) {
    gate_.links.insert(this);
  }

  ~gate_link() override {
    gate_.links.erase(this);
    if (counted_)
      gate_.release(address_);
    if (relaying_)
      cluster_gate_counters().links.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    deadline_.expires_after(gate_.cfg.handshake_timeout);
    deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->closed_ || !self->counted_)
        return;
      cluster_gate_counters().timed_out.fetch_add(1, std::memory_order_relaxed);
      if (auto held = self->gate_.failure_log.admit())
        spdlog::warn("cluster: closed a connection from {} that did not authenticate within {} "
                     "ms{}",
                     self->address_, self->gate_.cfg.handshake_timeout.count(),
                     log_limiter::more(*held));
      self->close();
    });
    peer_.async_handshake(ssl::stream_base::server,
                          [self = shared_from_this()](boost::system::error_code ec) {
                            self->on_handshake(ec);
                          });
  }

private:
  void on_handshake(boost::system::error_code ec) {
    if (closed_)
      return;
    if (ec) {
      cluster_gate_counters().handshake_failed.fetch_add(1, std::memory_order_relaxed);
      if (auto held = gate_.failure_log.admit())
        spdlog::warn("cluster: TLS handshake from {} failed: {}{}", address_,
                     printable(ec.message(), 200), log_limiter::more(*held));
      return close();
    }
    backend_.async_connect(gate_.backend, [self = shared_from_this()](boost::system::error_code e) {
      if (self->closed_)
        return;
      if (e) {
        spdlog::error("cluster: cannot reach this node's BASP port {}: {}",
                      self->gate_.backend.port(), e.message());
        return self->close();
      }
      boost::system::error_code ignored;
      self->backend_.set_option(tcp::no_delay(true), ignored);
      self->relaying_ = true;
      self->buffers_ = std::make_unique<buffers>();
      cluster_gate_counters().links.fetch_add(1, std::memory_order_relaxed);
      self->pump_up();
      self->pump_down();
    });
  }

  /// Peer → BASP. Counts the peer's first bytes: once a BASP header is in,
  /// the link is authenticated and the deadline is off.
  void pump_up() {
    peer_.async_read_some(net::buffer(buffers_->up), [self = shared_from_this()](
                                              boost::system::error_code ec, size_t n) {
      if (ec || self->closed_)
        return self->close();
      self->from_peer_ += n;
      if (self->counted_ && self->from_peer_ >= basp_header_size) {
        self->counted_ = false;
        self->gate_.release(self->address_);
        self->deadline_.cancel();
      }
      net::async_write(self->backend_, net::buffer(self->buffers_->up.data(), n),
                       [self](boost::system::error_code wec, size_t) {
                         if (wec || self->closed_)
                           return self->close();
                         self->pump_up();
                       });
    });
  }

  /// BASP → peer.
  void pump_down() {
    backend_.async_read_some(net::buffer(buffers_->down), [self = shared_from_this()](
                                                   boost::system::error_code ec, size_t n) {
      if (ec || self->closed_)
        return self->close();
      net::async_write(self->peer_, net::buffer(self->buffers_->down.data(), n),
                       [self](boost::system::error_code wec, size_t) {
                         if (wec || self->closed_)
                           return self->close();
                         self->pump_down();
                       });
    });
  }

  /// Both sides at once: BASP has no use for half a link. No TLS
  /// close_notify (CAF sends none either); pending operations end with
  /// errors and let go of the link.
  void close() override {
    if (closed_)
      return;
    closed_ = true;
    boost::system::error_code ignored;
    deadline_.cancel();
    peer_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    peer_.next_layer().close(ignored);
    backend_.shutdown(tcp::socket::shutdown_both, ignored);
    backend_.close(ignored);
  }

  cluster_gate::impl& gate_;
  /// The context this link's handshake used (a reload may replace the
  /// gate's meanwhile).
  const context_ptr tls_;
  ssl::stream<tcp::socket> peer_;
  tcp::socket backend_;
  net::steady_timer deadline_;
  const std::string address_;
  bool counted_ = true;
  bool relaying_ = false;
  bool closed_ = false;
  size_t from_peer_ = 0;
  // Only for links that authenticated: a refused or silent connection
  // costs no buffers.
  struct buffers {
    std::array<char, relay_buffer_size> up;
    std::array<char, relay_buffer_size> down;
  };
  std::unique_ptr<buffers> buffers_;
};

} // namespace

void cluster_gate::impl::do_accept() {
  acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open())
      return;
    if (ec == net::error::no_descriptors
        || ec == boost::system::errc::too_many_files_open_in_system) {
      // Out of descriptors: try again shortly instead of spinning.
      if (auto held = failure_log.admit())
        spdlog::warn("cluster: accept failed: {}{}", ec.message(), log_limiter::more(*held));
      backoff.expires_after(std::chrono::milliseconds(100));
      backoff.async_wait([this](boost::system::error_code wec) {
        if (!wec && acceptor.is_open())
          do_accept();
      });
      return;
    }
    if (!ec)
      on_accepted(std::move(socket));
    do_accept();
  });
}

void cluster_gate::impl::on_accepted(tcp::socket socket) {
  cluster_gate_counters().accepted.fetch_add(1, std::memory_order_relaxed);
  boost::system::error_code ec;
  auto address = socket.remote_endpoint(ec).address().to_string();
  if (ec)
    return;
  if (!admit(address)) {
    cluster_gate_counters().refused.fetch_add(1, std::memory_order_relaxed);
    if (auto held = refusal_log.admit()) {
      auto i = pending_by_address.find(address);
      spdlog::warn("cluster: refused a connection from {}: {} not yet authenticated, {} of them "
                   "from that address{}",
                   address, pending, i == pending_by_address.end() ? size_t{0} : i->second,
                   log_limiter::more(*held));
    }
    socket.close(ec);
    return;
  }
  socket.set_option(tcp::no_delay(true), ec);
  std::make_shared<gate_link>(*this, std::move(socket), std::move(address))->start();
}

cluster_gate::cluster_gate(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  // nop
}

cluster_gate::~cluster_gate() {
  stop();
}

std::variant<std::shared_ptr<cluster_gate>, std::string>
cluster_gate::start(const cluster_gate_config& cfg) {
  auto p = std::make_unique<impl>();
  p->cfg = cfg;
  boost::system::error_code ec;
  // Built once: every connection shares the context (and its parsed key
  // and CA), which is what makes a connect cheap.
  auto ctx = make_context(cfg);
  if (auto* why = std::get_if<std::string>(&ctx))
    return *why;
  p->tls = std::get<0>(std::move(ctx));

  auto addr = net::ip::make_address(cfg.bind, ec);
  if (ec)
    return "--cluster-bind " + cfg.bind + ": not an IP address";
  p->backend = tcp::endpoint{net::ip::make_address("127.0.0.1"), cfg.backend_port};
  tcp::endpoint ep{addr, cfg.port};
  auto& acc = p->acceptor;
  auto fail = [&](const char* what) {
    return std::string{what} + " " + cfg.bind + ":" + std::to_string(cfg.port) + ": "
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
  p->bound_port = acc.local_endpoint(ec).port();
  p->do_accept();
  auto* raw = p.get();
  p->thread = std::thread{[raw] { raw->ioc.run(); }};
  std::shared_ptr<cluster_gate> gate{new cluster_gate{std::move(p)}};
  std::lock_guard<std::mutex> guard{registry_mtx()};
  auto& all = registry();
  all.erase(std::remove_if(all.begin(), all.end(), [](auto& w) { return w.expired(); }),
            all.end());
  all.push_back(gate);
  return gate;
}

std::mutex& cluster_gate::registry_mtx() {
  static std::mutex mtx;
  return mtx;
}

std::vector<std::weak_ptr<cluster_gate>>& cluster_gate::registry() {
  static std::vector<std::weak_ptr<cluster_gate>> all;
  return all;
}

std::optional<std::string> cluster_gate::reload() {
  if (impl_->stopped)
    return std::nullopt; // nothing listens any more
  auto ctx = make_context(impl_->cfg);
  if (auto* why = std::get_if<std::string>(&ctx))
    return *why;
  auto* p = impl_.get();
  std::promise<void> swapped;
  net::post(p->ioc, [p, &swapped, fresh = std::get<0>(std::move(ctx))]() mutable {
    p->tls = std::move(fresh);
    swapped.set_value();
  });
  // Bounded: the gate's thread only runs short handlers.
  if (swapped.get_future().wait_for(std::chrono::seconds(5)) != std::future_status::ready)
    return std::string{"the cluster gate did not answer"};
  return std::nullopt;
}

std::optional<std::string> cluster_gate::reload_all() {
  std::vector<std::shared_ptr<cluster_gate>> live;
  {
    std::lock_guard<std::mutex> guard{registry_mtx()};
    for (auto& w : registry())
      if (auto g = w.lock())
        live.push_back(std::move(g));
  }
  for (auto& g : live)
    if (auto why = g->reload())
      return why;
  return std::nullopt;
}

uint16_t cluster_gate::port() const {
  return impl_->bound_port;
}

void cluster_gate::stop() {
  if (!impl_ || impl_->stopped)
    return;
  impl_->stopped = true;
  // On the gate's thread: close the port, the timer and every link; their
  // pending operations then end with errors, the links let go of
  // themselves, and with nothing left to do the thread's run() returns.
  auto* p = impl_.get();
  net::post(p->ioc, [p] {
    boost::system::error_code ignored;
    p->acceptor.close(ignored);
    p->backoff.cancel();
    std::vector<closable*> open{p->links.begin(), p->links.end()};
    for (auto* link : open)
      link->close();
  });
  if (p->thread.joinable())
    p->thread.join();
}

} // namespace parley::runtime
