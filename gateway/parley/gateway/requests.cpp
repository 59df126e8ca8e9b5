#include "parley/gateway/requests.hpp"

#include <utility>

namespace parley::gateway {

std::variant<actors::client_request, proto::decode_error> to_request(v1::ClientFrame&& frame) {
  namespace request = actors::request;
  actors::client_request req;
  req.ref = std::move(*frame.mutable_ref());
  switch (frame.kind_case()) {
    case v1::ClientFrame::kHello:
      req.what = request::hello{std::move(*frame.mutable_hello()->mutable_user()),
                                std::move(*frame.mutable_hello()->mutable_token())};
      break;
    case v1::ClientFrame::kJoin: {
      auto& j = *frame.mutable_join();
      request::join r;
      r.room = std::move(*j.mutable_room());
      if (j.has_since_seq())
        r.since = j.since_seq();
      req.what = std::move(r);
      break;
    }
    case v1::ClientFrame::kLeave:
      req.what = request::leave{std::move(*frame.mutable_leave()->mutable_room())};
      break;
    case v1::ClientFrame::kPublish: {
      auto& p = *frame.mutable_publish();
      req.what = request::publish{std::move(*p.mutable_room()), std::move(*p.mutable_text()),
                                  std::move(*p.mutable_body()), std::move(*p.mutable_id())};
      break;
    }
    case v1::ClientFrame::kHistory: {
      auto& h = *frame.mutable_history();
      req.what = request::history{std::move(*h.mutable_room()), h.before_seq(), h.after_seq(),
                                  h.limit()};
      break;
    }
    case v1::ClientFrame::kPresence:
      req.what = request::presence{std::move(*frame.mutable_presence()->mutable_room())};
      break;
    case v1::ClientFrame::kRooms:
      req.what = request::rooms{};
      break;
    case v1::ClientFrame::kPing:
      req.what = request::ping{frame.ping().client_time_ms()};
      break;
    case v1::ClientFrame::KIND_NOT_SET:
      return proto::decode_error{v1::ERROR_CODE_EMPTY_FRAME, "the frame carries no request",
                                 std::move(req.ref)};
  }
  return req;
}

} // namespace parley::gateway
