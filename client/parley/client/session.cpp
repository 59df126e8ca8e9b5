// Protobuf and the Beast-free ws_client header only: no Beast, no CAF.
#include "parley/client/session.hpp"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <thread>
#include <utility>
#include <variant>

namespace parley::client {

namespace {

using clock_type = std::chrono::steady_clock;

std::chrono::milliseconds remaining(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
  return std::max(left, std::chrono::milliseconds{0});
}

const char* kind_name(const v1::ClientFrame& f) {
  switch (f.kind_case()) {
    case v1::ClientFrame::kHello:
      return "hello";
    case v1::ClientFrame::kJoin:
      return "join";
    case v1::ClientFrame::kLeave:
      return "leave";
    case v1::ClientFrame::kPublish:
      return "publish";
    case v1::ClientFrame::kHistory:
      return "history";
    case v1::ClientFrame::kPresence:
      return "presence";
    case v1::ClientFrame::kPing:
      return "ping";
    case v1::ClientFrame::kRooms:
      return "rooms";
    case v1::ClientFrame::KIND_NOT_SET:
      break;
  }
  return "request";
}

// Keep pacing a little below the server's bucket: requests that leave us
// evenly spaced can reach it bunched up.
constexpr double pace_rate_share = 0.9;
constexpr double pace_burst_reserve = 2;

} // namespace

session::session(session_options opts) : opts_(std::move(opts)), ws_(opts_.timeout) {
  ws_.set_user_agent(opts_.client_name + "/" + opts_.client_version);
  ws_.set_tls(opts_.tls);
}

bool session::connect(const ws_url& url) {
  if (ws_.connect(url)) {
    error_.clear();
    return true;
  }
  error_ = ws_.error();
  return false;
}

reply session::request(v1::ClientFrame frame) {
  reply result;
  const auto ref = std::to_string(next_ref_++);
  const std::string what = kind_name(frame);
  frame.set_ref(ref);
  take_token();
  auto bytes = proto::encode(frame, opts_.enc);
  bool sent = opts_.enc == proto::encoding::json ? ws_.send_text(bytes) : ws_.send_binary(bytes);
  if (!sent) {
    result.failure = error_ = what + ": " + ws_.error();
    return result;
  }
  auto deadline = clock_type::now() + opts_.timeout;
  for (;;) {
    ws_message msg;
    switch (ws_.read_for(remaining(deadline), msg)) {
      case read_status::message:
        break;
      case read_status::idle:
        result.failure = error_ = what + ": no reply within "
                                  + std::to_string(opts_.timeout.count()) + " ms";
        return result;
      case read_status::interrupted:
      case read_status::closed:
        result.failure = error_ = what + ": " + ws_.error();
        return result;
    }
    v1::ServerFrame got;
    if (!decode(msg, got)) {
      result.failure = error_ = what + ": " + error_;
      return result;
    }
    // An error without a ref answers a request the server could not read:
    // ours, since only one is in flight.
    if (got.ref() == ref || (got.ref().empty() && got.has_error())) {
      result.frame = std::move(got);
      return result;
    }
    // Replies to requests we gave up on carry other refs: drop them.
    if (got.ref().empty())
      keep(std::move(got));
  }
}

reply session::hello(const std::string& user) {
  v1::ClientFrame f;
  auto* h = f.mutable_hello();
  h->set_client_name(opts_.client_name);
  h->set_client_version(opts_.client_version);
  h->set_user(user);
  h->set_token(opts_.token);
  auto r = request(std::move(f));
  if (r.ok() && r.frame->ack().has_welcome()) {
    welcome_ = r.frame->ack().welcome();
    const auto& limits = welcome_.limits();
    if (opts_.pace && limits.publish_per_second() > 0 && limits.publish_burst() > 0) {
      rate_ = limits.publish_per_second() * pace_rate_share;
      burst_ = std::max(1.0, limits.publish_burst() - pace_burst_reserve);
      // The hello took a token from the server's bucket already.
      tokens_ = std::max(0.0, burst_ - 1);
      refilled_ = clock_type::now();
    }
  }
  return r;
}

reply session::join(const std::string& room, std::optional<uint64_t> since_seq) {
  v1::ClientFrame f;
  f.mutable_join()->set_room(room);
  if (since_seq)
    f.mutable_join()->set_since_seq(*since_seq);
  return request(std::move(f));
}

reply session::leave(const std::string& room) {
  v1::ClientFrame f;
  f.mutable_leave()->set_room(room);
  return request(std::move(f));
}

reply session::publish(const std::string& room, const std::string& text,
                       const std::string& body) {
  v1::ClientFrame f;
  auto* p = f.mutable_publish();
  p->set_room(room);
  p->set_text(text);
  p->set_body(body);
  return request(std::move(f));
}

reply session::ping(uint64_t client_time_ms) {
  v1::ClientFrame f;
  f.mutable_ping()->set_client_time_ms(client_time_ms);
  return request(std::move(f));
}

reply session::rooms() {
  v1::ClientFrame f;
  f.mutable_rooms();
  return request(std::move(f));
}

read_status session::next(std::chrono::milliseconds wait, v1::ServerFrame& out) {
  if (!pending_.empty()) {
    out = std::move(pending_.front());
    pending_.pop_front();
    return read_status::message;
  }
  auto deadline = clock_type::now() + wait;
  for (;;) {
    ws_message msg;
    auto st = ws_.read_for(remaining(deadline), msg);
    if (st != read_status::message) {
      if (st != read_status::idle)
        error_ = ws_.error();
      return st;
    }
    v1::ServerFrame got;
    if (!decode(msg, got)) {
      ws_.close(1002, "undecodable frame");
      return read_status::closed;
    }
    // A reply to a request we gave up on is no news.
    if (!got.ref().empty())
      continue;
    out = std::move(got);
    return read_status::message;
  }
}

bool session::close(uint16_t code, const std::string& reason) {
  auto ok = ws_.close(code, reason);
  if (!ok)
    error_ = ws_.error();
  return ok;
}

bool session::decode(const ws_message& msg, v1::ServerFrame& out) {
  // The frame type says the encoding; the server answers in ours anyway.
  auto enc = msg.text ? proto::encoding::json : proto::encoding::binary;
  auto res = proto::decode_server(msg.payload, enc);
  if (auto* frame = std::get_if<v1::ServerFrame>(&res)) {
    out = std::move(*frame);
    return true;
  }
  auto& err = std::get<proto::decode_error>(res);
  if (err.code == v1::ERROR_CODE_UNKNOWN_FIELD) {
    // A newer server may send fields we do not know yet; binary frames skip
    // them silently, so JSON frames should too.
    google::protobuf::util::JsonParseOptions lenient;
    lenient.ignore_unknown_fields = true;
    out.Clear();
    if (google::protobuf::util::JsonStringToMessage(msg.payload, &out, lenient).ok())
      return true;
  }
  error_ = "undecodable frame from the server: " + err.reason;
  return false;
}

void session::keep(v1::ServerFrame frame) {
  if (opts_.max_pending == 0) {
    ++dropped_;
    return;
  }
  if (pending_.size() >= opts_.max_pending) {
    pending_.pop_front();
    ++dropped_;
  }
  pending_.push_back(std::move(frame));
}

void session::take_token() {
  if (rate_ <= 0)
    return;
  auto refill = [this] {
    auto now = clock_type::now();
    std::chrono::duration<double> dt = now - refilled_;
    tokens_ = std::min(burst_, tokens_ + dt.count() * rate_);
    refilled_ = now;
  };
  refill();
  if (tokens_ < 1) {
    // Sleeping is the point here: the server would refuse us sooner.
    std::chrono::duration<double> wait{(1 - tokens_) / rate_};
    std::this_thread::sleep_for(wait);
    refill();
  }
  tokens_ = std::max(0.0, tokens_ - 1);
}

} // namespace parley::client
