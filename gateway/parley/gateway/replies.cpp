// No Beast: the actors' plain structs in, protobuf out.
#include "parley/gateway/replies.hpp"

#include "parley/actors/replies.hpp"
#include "parley/gateway/error_table.hpp"

namespace parley::gateway {

namespace {

namespace reply = actors::reply;

v1::LeftReason wire_reason(reply::left_reason r) {
  switch (r) {
    case reply::left_reason::requested:
      return v1::LEFT_REASON_REQUESTED;
    case reply::left_reason::room_restarted:
      return v1::LEFT_REASON_ROOM_RESTARTED;
    case reply::left_reason::room_stopped:
      return v1::LEFT_REASON_ROOM_STOPPED;
    case reply::left_reason::room_moved:
      return v1::LEFT_REASON_ROOM_MOVED;
  }
  return v1::LEFT_REASON_UNSPECIFIED;
}

const char* detail_of(reply::left_reason r) {
  switch (r) {
    case reply::left_reason::requested:
      return "";
    case reply::left_reason::room_restarted:
      return "the room restarted: join again with sinceSeq";
    case reply::left_reason::room_stopped:
      return "the room stopped";
    case reply::left_reason::room_moved:
      return "another node holds the room now: join again with sinceSeq";
  }
  return "";
}

struct to_wire {
  v1::ServerFrame& out;

  void operator()(const reply::welcome& x) {
    auto* w = out.mutable_ack()->mutable_welcome();
    w->set_session_id(x.session_id);
    w->set_node(x.node);
    w->set_user(x.user);
    w->set_guest(x.guest);
    auto* l = w->mutable_limits();
    l->set_max_frame_bytes(static_cast<uint32_t>(x.limits.max_frame_bytes));
    l->set_max_text_bytes(static_cast<uint32_t>(x.limits.max_text_bytes));
    l->set_max_body_bytes(static_cast<uint32_t>(x.limits.max_body_bytes));
    l->set_max_room_name_bytes(static_cast<uint32_t>(x.limits.max_room_name_bytes));
    l->set_backlog(x.backlog);
    l->set_publish_per_second(static_cast<uint32_t>(x.publish_per_second));
    l->set_publish_burst(static_cast<uint32_t>(x.publish_burst));
  }

  void operator()(const reply::left& x) {
    auto* l = x.reason == reply::left_reason::requested ? out.mutable_ack()->mutable_left()
                                                        : out.mutable_left();
    l->set_room(x.room);
    l->set_reason(wire_reason(x.reason));
    if (auto* d = detail_of(x.reason); *d != '\0')
      l->set_detail(d);
  }

  void operator()(const reply::published& x) {
    auto* p = out.mutable_ack()->mutable_published();
    p->set_room(x.room);
    p->set_seq(x.seq);
  }

  void operator()(const actors::history_reply& x) {
    auto* h = out.mutable_ack()->mutable_history();
    h->set_room(x.room);
    h->set_gap(x.gap);
    for (auto& m : x.messages)
      actors::to_proto(m, *h->add_messages());
  }

  void operator()(const reply::presence& x) {
    auto* p = out.mutable_ack()->mutable_presence();
    p->set_room(x.room);
    for (auto& m : x.members)
      p->add_members(m);
  }

  void operator()(const reply::rooms& x) {
    auto* list = out.mutable_ack()->mutable_rooms();
    for (auto& r : x.list) {
      auto* s = list->add_rooms();
      s->set_name(r.name);
      s->set_member_count(r.member_count);
      s->set_last_seq(r.last_seq);
    }
  }

  void operator()(const reply::pong& x) {
    auto* p = out.mutable_ack()->mutable_pong();
    p->set_client_time_ms(x.client_time_ms);
    p->set_server_time_ms(x.server_time_ms);
  }

  void operator()(const reply::failure& x) {
    out.mutable_error()->set_code(wire_code(x.code));
    out.mutable_error()->set_reason(x.reason);
  }

  void operator()(const proto::decode_error& x) {
    out.mutable_error()->set_code(x.code);
    out.mutable_error()->set_reason(x.reason);
  }
};

} // namespace

v1::ServerFrame to_frame(const actors::server_reply& r) {
  v1::ServerFrame frame;
  frame.set_ref(r.ref);
  std::visit(to_wire{frame}, r.what);
  return frame;
}

encoded_reply encode_reply(const actors::server_reply& r, proto::encoding enc) {
  encoded_reply out;
  out.bytes = std::make_shared<const std::string>(proto::encode(to_frame(r), enc));
  if (auto* f = std::get_if<reply::failure>(&r.what)) {
    out.error = wire_code(f->code);
    out.reason = f->reason;
  } else if (auto* e = std::get_if<proto::decode_error>(&r.what)) {
    out.error = e->code;
    out.reason = e->reason;
  }
  if (out.error != v1::ERROR_CODE_UNSPECIFIED)
    out.ref = r.ref;
  return out;
}

} // namespace parley::gateway
