// Every way the server ends a WebSocket, one test each, in process: the
// gateway's own `ws_session` behind a fake connection actor, driven from
// both ends (the sink the actor would hold, and a Beast client).
//
// Over a loopback TCP socket rather than `boost::beast::test::stream`: the
// session's socket type (internal/server_socket.hpp) brings the teardown
// that lets a client read its 1009 or 1007 while it is still sending (RFC
// 6455 §7.1.1), and a test stream would replace exactly that layer. The
// session still runs alone: no listener, no actor system, no process.

#include "parley/actors/replies.hpp"
#include "parley/gateway/internal/ws_session.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace parley;
using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

/// The actor side, faked: what the session delivered, and whether it was
/// stopped.
struct actor_side {
  std::mutex mtx;
  std::condition_variable cv;
  actors::frame_sink_ptr sink;
  std::vector<std::string> delivered;
  bool stopped = false;

  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, 10s, pred);
  }
};

class fake_connection final : public gateway::connection_handle {
public:
  explicit fake_connection(std::shared_ptr<actor_side> side) : side_(std::move(side)) {
    // nop
  }

  void deliver(std::string_view payload, proto::encoding) override {
    std::lock_guard<std::mutex> guard{side_->mtx};
    side_->delivered.emplace_back(payload);
    side_->cv.notify_all();
  }

  void stop() override {
    std::lock_guard<std::mutex> guard{side_->mtx};
    side_->stopped = true;
    side_->cv.notify_all();
  }

private:
  std::shared_ptr<actor_side> side_;
};

class WsSession : public testing::Test {
protected:
  void open(gateway::gateway_config cfg = {}) {
    cfg.io_threads = 1;
    auto factory = [side = side_](std::string, actors::frame_sink_ptr sink, std::string) {
      {
        std::lock_guard<std::mutex> guard{side->mtx};
        side->sink = std::move(sink);
      }
      side->cv.notify_all();
      return std::make_unique<fake_connection>(side);
    };
    state_ = std::make_shared<gateway::internal::shared_state>(
      cfg, factory, std::make_shared<gateway::metrics>());
    tcp::acceptor acceptor{io_, {net::ip::make_address("127.0.0.1"), 0}};
    auto port = acceptor.local_endpoint().port();
    // The server's side: accept, read the upgrade request, hand the socket
    // to a session, as the listener and an HTTP session do.
    std::thread server{[&] {
      tcp::socket s{io_};
      acceptor.accept(s);
      beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(s, buf, req);
      gateway::internal::connection_slot slot{state_, "127.0.0.1"};
      gateway::internal::start_websocket(std::move(s), state_, std::move(slot), std::move(req));
    }};
    client_.next_layer().connect({net::ip::make_address("127.0.0.1"), port});
    client_.handshake("127.0.0.1", "/ws");
    server.join();
    io_thread_ = std::thread{[this] {
      auto guard = net::make_work_guard(io_);
      io_.run();
    }};
    ASSERT_TRUE(side_->wait([&] { return side_->sink != nullptr; }));
  }

  void TearDown() override {
    beast::error_code ignored;
    client_.next_layer().close(ignored);
    io_.stop();
    if (io_thread_.joinable())
      io_thread_.join();
  }

  actors::frame_sink& sink() {
    return *side_->sink;
  }

  /// Reads until the close frame (or another end); the messages before it.
  std::vector<std::string> read_to_close() {
    std::vector<std::string> messages;
    for (;;) {
      beast::flat_buffer buf;
      beast::error_code ec;
      client_.read(buf, ec);
      if (ec) {
        end_ = ec;
        return messages;
      }
      messages.push_back(beast::buffers_to_string(buf.data()));
    }
  }

  /// The close frame the client read.
  uint16_t close_code() const {
    return end_ == websocket::error::closed ? static_cast<uint16_t>(client_.reason().code) : 0;
  }

  std::string close_reason() const {
    return std::string{client_.reason().reason.data(), client_.reason().reason.size()};
  }

  /// The session ended (it stops its actor as it goes): what it counts at
  /// its end is counted.
  bool ended() {
    return side_->wait([&] { return side_->stopped; });
  }

  /// A sample that /metrics shows.
  bool metrics_show(const std::string& sample) const {
    return state_->stats->render().find(sample) != std::string::npos;
  }

  net::io_context io_{1};
  std::thread io_thread_;
  net::io_context client_io_;
  websocket::stream<tcp::socket> client_{client_io_};
  beast::error_code end_;
  std::shared_ptr<actor_side> side_ = std::make_shared<actor_side>();
  std::shared_ptr<gateway::internal::shared_state> state_;
};

} // namespace

TEST_F(WsSession, ServerShutdownClosesWith1001) {
  open();
  state_->shutdown_all();
  read_to_close();
  EXPECT_EQ(close_code(), 1001) << end_.message();
  EXPECT_EQ(close_reason(), "server shutting down");
  ASSERT_TRUE(ended());
  EXPECT_TRUE(metrics_show("parley_gateway_closes_total{code=\"1001\"} 1"));
}

TEST_F(WsSession, AnActorThatStopsForShutdownClosesWith1001) {
  open();
  sink().close(actors::close_cause::shutting_down);
  read_to_close();
  EXPECT_EQ(close_code(), 1001);
}

TEST_F(WsSession, ACrashedActorClosesWith1011AndSaysHowToResume) {
  open();
  sink().close(actors::close_cause::crashed);
  read_to_close();
  EXPECT_EQ(close_code(), 1011);
  EXPECT_NE(close_reason().find("sinceSeq"), std::string::npos) << close_reason();
  // The session is gone and took its actor with it.
  EXPECT_TRUE(ended());
}

TEST_F(WsSession, AFlooderIsClosedWith1008AfterItsLastReply) {
  open();
  // What the actor queued before it closed goes out first.
  ASSERT_EQ(sink().reply({"r1", actors::reply::failure{runtime::errc::capacity_exceeded,
                                                       "too many requests: slow down"}},
                         proto::encoding::json),
            actors::sink_status::queued);
  sink().close(actors::close_cause::flooding);
  auto got = read_to_close();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].find("ERROR_CODE_RATE_LIMITED"), std::string::npos) << got[0];
  EXPECT_NE(got[0].find("\"ref\":\"r1\""), std::string::npos) << got[0];
  EXPECT_EQ(close_code(), 1008);
  EXPECT_EQ(close_reason(), "rate limit exceeded");
  EXPECT_TRUE(metrics_show("parley_errors_total{code=\"ERROR_CODE_RATE_LIMITED\"} 1"));
}

TEST_F(WsSession, ASlowConsumerIsClosedWith1008AfterTheFrameInFlight) {
  gateway::gateway_config cfg;
  cfg.outbound.max_frames = 4;
  cfg.slow_consumer_grace = 30s; // the client reads late, but it reads
  open(cfg);
  // The client reads nothing while frames far past its queue and the
  // kernel's buffers arrive.
  auto frame = std::make_shared<const std::string>(256 * 1024, 'x');
  size_t queued = 0;
  auto status = actors::sink_status::queued;
  for (int i = 0; i < 200 && status == actors::sink_status::queued; ++i)
    if ((status = sink().send(frame)) == actors::sink_status::queued)
      ++queued;
  ASSERT_EQ(status, actors::sink_status::overflow);
  // Once closed as a slow consumer, the sink refuses everything.
  EXPECT_EQ(sink().send(frame), actors::sink_status::closed);
  auto got = read_to_close();
  // It read what had gone out, then the close: nothing queued behind the
  // frame in flight, and no frame after the close.
  EXPECT_LT(got.size(), queued);
  for (auto& m : got)
    EXPECT_EQ(m.size(), frame->size());
  EXPECT_EQ(close_code(), 1008) << end_.message();
  EXPECT_NE(close_reason().find("slow consumer"), std::string::npos) << close_reason();
  EXPECT_TRUE(metrics_show("parley_slow_consumer_disconnects_total 1"));
}

TEST_F(WsSession, AMessageOverTheLimitIsClosedWith1009TheClientReads) {
  gateway::gateway_config cfg;
  cfg.max_frame_bytes = 1024;
  open(cfg);
  // 4 MiB: far more than the socket buffers take before the server stops
  // reading. The session discards the rest, so the write completes and the
  // client reads the close instead of a reset.
  beast::error_code ec;
  client_.binary(true);
  client_.write(net::buffer(std::string(4 * 1024 * 1024, 'x')), ec);
  EXPECT_FALSE(ec) << ec.message();
  read_to_close();
  EXPECT_EQ(close_code(), 1009) << end_.message();
  ASSERT_TRUE(ended());
  EXPECT_TRUE(metrics_show("parley_gateway_closes_total{code=\"1009\"} 1"));
  std::lock_guard<std::mutex> guard{side_->mtx};
  EXPECT_TRUE(side_->delivered.empty());
}

TEST_F(WsSession, InvalidUtf8IsClosedWith1007) {
  open();
  client_.text(true);
  client_.write(net::buffer(std::string{"{\"ref\":\"\xff\xfe\"}"}));
  read_to_close();
  EXPECT_EQ(close_code(), 1007) << end_.message();
  std::lock_guard<std::mutex> guard{side_->mtx};
  EXPECT_TRUE(side_->delivered.empty());
}

TEST_F(WsSession, AnUnmaskedFrameIsClosedWith1002) {
  open();
  // A client must mask every frame (RFC 6455 §5.1); written below Beast,
  // which always masks.
  const unsigned char unmasked[] = {0x81, 0x02, 'h', 'i'};
  net::write(client_.next_layer(), net::buffer(unmasked));
  read_to_close();
  EXPECT_EQ(close_code(), 1002) << end_.message();
  ASSERT_TRUE(ended());
  EXPECT_TRUE(metrics_show("parley_gateway_closes_total{code=\"1002\"} 1"));
}

TEST_F(WsSession, FramesReachTheActorAndRepliesTheClient) {
  open();
  client_.text(true);
  client_.write(net::buffer(std::string{"{\"ref\":\"p\",\"ping\":{}}"}));
  ASSERT_TRUE(side_->wait([&] { return side_->delivered.size() == 1; }));
  {
    std::lock_guard<std::mutex> guard{side_->mtx};
    EXPECT_EQ(side_->delivered[0], "{\"ref\":\"p\",\"ping\":{}}");
  }
  sink().reply({"p", actors::reply::pong{7, 8}}, proto::encoding::json);
  beast::flat_buffer buf;
  client_.read(buf);
  auto text = beast::buffers_to_string(buf.data());
  EXPECT_NE(text.find("\"pong\""), std::string::npos) << text;
  EXPECT_TRUE(client_.got_text());
  // A client's own close is answered, and is not a close the server sent.
  client_.close(websocket::close_code::normal);
  ASSERT_TRUE(ended());
  EXPECT_TRUE(metrics_show("parley_gateway_closes_total{code=\"1000\"} 0"));
}
