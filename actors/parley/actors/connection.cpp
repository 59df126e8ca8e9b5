#include "parley/actors/connection.hpp"

#include "parley/actors/error_table.hpp"
#include "parley/actors/rooms_directory.hpp"
#include "parley/runtime/errc.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>

#include <spdlog/spdlog.h>

namespace parley::actors {

using runtime::errc;

v1::ErrorCode to_error_code(const caf::error& err) {
  if (err.category() == runtime::errc_category)
    return wire_code(static_cast<errc>(err.code()));
  // CAF's own: a room that did not answer in time, or is gone, is worth a
  // retry; anything else is the server's fault.
  return err == caf::sec::request_timeout || err == caf::sec::request_receiver_down
           ? v1::ERROR_CODE_UNAVAILABLE
           : v1::ERROR_CODE_INTERNAL;
}

bool valid_user_name(const std::string& name) {
  if (name.empty() || name.size() > 32 || name.front() == ' ' || name.back() == ' ')
    return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_' || c == '.' || c == ' ';
    if (!ok)
      return false;
  }
  return true;
}

namespace {

// The human part of an error: its context if that is one string (what
// `runtime::make_error` attaches), else CAF's rendering of it.
std::string reason_of(caf::actor_system& sys, const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return sys.render(err);
}

} // namespace

connection_state::~connection_state() {
  // CAF 0.17 keeps a monitor in the monitored actor until that actor ends,
  // and the entry holds the observer's address: a weak reference that keeps
  // the observer's whole allocation (control block, actor and state, about
  // 1.4 KB) alive. A room outlives the connections that monitored it, so
  // each connection that closed without leaving stayed in its room's list
  // for the life of the room (issue 18). The state is destroyed in
  // `on_exit`, while `self_` is still valid.
  for (auto& kv : joined_)
    self_->demonitor(kv.second.address());
  if (counted_) {
    cfg_.stats->open.fetch_sub(1, std::memory_order_relaxed);
    // Handlers that never ran (the actor ended first) are not pending.
    cfg_.stats->pending_requests.fetch_sub(pending_, std::memory_order_relaxed);
  }
}

void connection_state::init(std::string session_id, connection_config cfg, rooms_actor rooms,
                            frame_sink_ptr sink) {
  session_id_ = std::move(session_id);
  user_ = "guest-" + session_id_;
  cfg_ = std::move(cfg);
  rooms_ = std::move(rooms);
  sink_ = std::move(sink);
  cfg_.stats->open.fetch_add(1, std::memory_order_relaxed);
  counted_ = true;
  // The socket never outlives its actor: stopped by its supervisor (the node
  // shuts down), the client gets 1001; crashed, 1011. After a close of the
  // actor's own, or when the socket went first, this changes nothing.
  self_->attach_functor([sink = sink_](const caf::error& reason) {
    auto close = [&](close_cause c) {
      auto& m = close_of(c);
      sink->close(m.code, std::string{m.reason});
    };
    if (reason == caf::exit_reason::user_shutdown)
      close(close_cause::shutting_down);
    else if (reason && reason != caf::exit_reason::normal)
      close(close_cause::crashed);
  });
  bucket_.emplace(cfg_.rate, cfg_.burst, self_->clock().now());
  self_->set_down_handler([this](caf::down_msg& msg) {
    for (auto i = joined_.begin(); i != joined_.end(); ++i) {
      if (i->second.address() != msg.source)
        continue;
      // The room ended under us: tell the client, who rejoins with since_seq.
      v1::ServerFrame frame;
      auto* left = frame.mutable_left();
      left->set_room(i->first);
      bool crashed = static_cast<bool>(msg.reason)
                     && msg.reason != caf::exit_reason::user_shutdown;
      left->set_reason(crashed ? v1::LEFT_REASON_ROOM_RESTARTED : v1::LEFT_REASON_ROOM_STOPPED);
      left->set_detail(crashed ? "the room restarted: join again with sinceSeq"
                               : "the room stopped");
      joined_.erase(i);
      send(frame, delivery_enc_);
      return;
    }
  });
}

// -- inbound ----------------------------------------------------------------------

void connection_state::on_request(client_request& req, encoding enc) {
  if (closed_)
    return;
  cfg_.stats->frames_in.fetch_add(1, std::memory_order_relaxed);
  const auto& ref = req.ref;
  if (!bucket_->take(self_->clock().now())) {
    cfg_.stats->rate_limited.fetch_add(1, std::memory_order_relaxed);
    if (++strikes_ > cfg_.max_strikes) {
      cfg_.stats->rate_limit_disconnects.fetch_add(1, std::memory_order_relaxed);
      spdlog::info("connection {}: closed for flooding", session_id_);
      close(close_cause::flooding);
      return;
    }
    error(ref, v1::ERROR_CODE_RATE_LIMITED, "too many requests: slow down", enc);
    return;
  }
  strikes_ = 0;
  std::visit([&](auto& what) { on(ref, what, enc); }, req.what);
}

void connection_state::on(const std::string& ref, request::ping& req, encoding enc) {
  v1::Ack ack;
  ack.mutable_pong()->set_client_time_ms(req.client_time_ms);
  ack.mutable_pong()->set_server_time_ms(now_ms());
  reply(ref, std::move(ack), enc);
}

void connection_state::on_bad_frame(const proto::decode_error& err, encoding enc) {
  if (closed_)
    return;
  cfg_.stats->bad_frames.fetch_add(1, std::memory_order_relaxed);
  error(err.ref, err.code, err.reason, enc);
}

void connection_state::on(const std::string& ref, request::hello& req, encoding enc) {
  if (!req.user.empty()) {
    if (!valid_user_name(req.user)) {
      error(ref, v1::ERROR_CODE_INVALID_ARGUMENT,
            "hello.user: 1 to 32 letters, digits, spaces or - _ .", enc);
      return;
    }
    if (!joined_.empty()) {
      error(ref, v1::ERROR_CODE_INVALID_ARGUMENT, "hello.user: say hello before joining rooms",
            enc);
      return;
    }
    user_ = std::move(req.user);
  }
  v1::Ack ack;
  auto* w = ack.mutable_welcome();
  w->set_session_id(session_id_);
  w->set_node(cfg_.node);
  auto* l = w->mutable_limits();
  l->set_max_frame_bytes(static_cast<uint32_t>(cfg_.limits.max_frame_bytes));
  l->set_max_text_bytes(static_cast<uint32_t>(cfg_.limits.max_text_bytes));
  l->set_max_body_bytes(static_cast<uint32_t>(cfg_.limits.max_body_bytes));
  l->set_max_room_name_bytes(static_cast<uint32_t>(cfg_.limits.max_room_name_bytes));
  l->set_backlog(cfg_.backlog);
  l->set_publish_per_second(static_cast<uint32_t>(cfg_.rate));
  l->set_publish_burst(static_cast<uint32_t>(cfg_.burst));
  reply(ref, std::move(ack), enc);
}

void connection_state::on(const std::string& ref, request::join& req, encoding enc) {
  const auto& name = req.room;
  if (auto err = validate_room_name(name, cfg_.limits.max_room_name_bytes)) {
    error(ref, err, enc);
    return;
  }
  if (joined_.count(name) > 0) {
    error(ref, v1::ERROR_CODE_ALREADY_MEMBER, "already in room " + name, enc);
    return;
  }
  std::optional<seq_t> since = req.since;
  // Membership changes are awaited: a publish right after a join (without
  // waiting for its ack) then finds the room joined.
  auto me = self_->address();
  auto dir = directory();
  if (!dir) {
    error(ref, v1::ERROR_CODE_UNAVAILABLE, "the rooms are starting: try again", enc);
    return;
  }
  ask(dir, lookup_atom::value, name)
    .await(
      [this, ref, name, since, enc, me](room_actor& room) {
        done();
        // The room (or its relay) writes the join reply into our sink, then
        // the room's frames after it.
        ask(room, join_atom::value, join_request{me, user_, enc, since, {}, sink_, ref})
          .await(
            [this, room, enc](join_reply& r) {
              done();
              joined_[r.room] = room;
              self_->monitor(room);
              delivery_enc_ = enc;
            },
            [this, ref, enc](caf::error& err) {
              done();
              error(ref, err, enc);
            });
      },
      [this, ref, enc](caf::error& err) {
        done();
        error(ref, err, enc);
      });
}

void connection_state::on(const std::string& ref, request::leave& req, encoding enc) {
  auto room = member_of(ref, req.room, enc);
  if (!room)
    return;
  joined_.erase(req.room);
  self_->demonitor(room.address());
  ask(room, leave_atom::value, self_->address())
    .await(
      [this, ref, enc, name = req.room](bool) {
        done();
        v1::Ack ack;
        ack.mutable_left()->set_room(name);
        ack.mutable_left()->set_reason(v1::LEFT_REASON_REQUESTED);
        reply(ref, std::move(ack), enc);
      },
      [this, ref, enc](caf::error& err) {
        done();
        error(ref, err, enc);
      });
}

void connection_state::on(const std::string& ref, request::publish& req, encoding enc) {
  auto room = member_of(ref, req.room, enc);
  if (!room)
    return;
  if (req.text.empty() && req.body.empty()) {
    error(ref, v1::ERROR_CODE_INVALID_ARGUMENT, "publish: text or body required", enc);
    return;
  }
  ask(room, publish_atom::value,
      publish_request{self_->address(), std::move(req.text), std::move(req.body)})
    .then(
      [this, ref, enc, name = req.room](seq_t seq) {
        done();
        v1::Ack ack;
        ack.mutable_published()->set_room(name);
        ack.mutable_published()->set_seq(seq);
        reply(ref, std::move(ack), enc);
      },
      [this, ref, enc](caf::error& err) {
        done();
        error(ref, err, enc);
      });
}

void connection_state::on(const std::string& ref, request::history& req, encoding enc) {
  auto room = member_of(ref, req.room, enc);
  if (!room)
    return;
  ask(room, history_atom::value, history_request{req.before, req.after, req.limit})
    .then(
      [this, ref, enc](history_reply& r) {
        done();
        v1::Ack ack;
        auto* h = ack.mutable_history();
        h->set_room(r.room);
        h->set_gap(r.gap);
        for (auto& m : r.messages)
          to_proto(m, *h->add_messages());
        reply(ref, std::move(ack), enc);
      },
      [this, ref, enc](caf::error& err) {
        done();
        error(ref, err, enc);
      });
}

void connection_state::on(const std::string& ref, request::presence& req, encoding enc) {
  auto room = member_of(ref, req.room, enc);
  if (!room)
    return;
  ask(room, presence_atom::value)
    .then(
      [this, ref, enc, name = req.room](std::vector<std::string>& members) {
        done();
        v1::Ack ack;
        auto* p = ack.mutable_presence();
        p->set_room(name);
        for (auto& m : members)
          p->add_members(std::move(m));
        reply(ref, std::move(ack), enc);
      },
      [this, ref, enc](caf::error& err) {
        done();
        error(ref, err, enc);
      });
}

rooms_actor connection_state::directory() {
  // The registry names the directory running now (it changes when the rooms
  // subtree restarts); the handle given at spawn is the fallback.
  if (auto current = find_rooms_directory(self_->system()))
    rooms_ = std::move(current);
  return rooms_;
}

void connection_state::on(const std::string& ref, request::rooms&, encoding enc) {
  auto dir = directory();
  if (!dir) {
    error(ref, v1::ERROR_CODE_UNAVAILABLE, "the rooms are starting: try again", enc);
    return;
  }
  ask(dir, rooms_atom::value)
    .then(
      [this, ref, enc](std::vector<room_summary>& rooms) {
        done();
        v1::Ack ack;
        auto* list = ack.mutable_rooms();
        for (auto& r : rooms) {
          auto* out = list->add_rooms();
          out->set_name(std::move(r.name));
          out->set_member_count(r.member_count);
          out->set_last_seq(r.last_seq);
        }
        reply(ref, std::move(ack), enc);
      },
      [this, ref, enc](caf::error& err) {
        done();
        error(ref, err, enc);
      });
}

room_actor connection_state::member_of(const std::string& ref, const std::string& room,
                                       encoding enc) {
  auto i = joined_.find(room);
  if (i == joined_.end()) {
    error(ref, v1::ERROR_CODE_NOT_A_MEMBER, "not in room '" + room + "': join it first", enc);
    return {};
  }
  return i->second;
}

// -- outbound ---------------------------------------------------------------------

void connection_state::reply(const std::string& ref, v1::Ack ack, encoding enc) {
  v1::ServerFrame frame;
  frame.set_ref(ref);
  *frame.mutable_ack() = std::move(ack);
  send(frame, enc);
}

void connection_state::error(const std::string& ref, v1::ErrorCode code, std::string reason,
                             encoding enc) {
  auto& st = *cfg_.stats;
  st.errors.fetch_add(1, std::memory_order_relaxed);
  auto slot = std::min(static_cast<size_t>(code), st.errors_by_code.size() - 1);
  st.errors_by_code[slot].fetch_add(1, std::memory_order_relaxed);
  // Each error once, with its connection: the server's own failures as
  // warnings, what a client got wrong at debug level.
  if (is_server_fault(code))
    spdlog::warn("connection {}: {} (ref '{}'): {}", session_id_, v1::ErrorCode_Name(code), ref,
                 reason);
  else
    spdlog::debug("connection {}: {} (ref '{}'): {}", session_id_, v1::ErrorCode_Name(code), ref,
                  reason);
  v1::ServerFrame frame;
  frame.set_ref(ref);
  frame.mutable_error()->set_code(code);
  frame.mutable_error()->set_reason(std::move(reason));
  send(frame, enc);
}

void connection_state::error(const std::string& ref, const caf::error& err, encoding enc) {
  error(ref, to_error_code(err), reason_of(self_->system(), err), enc);
}

void connection_state::send(const v1::ServerFrame& frame, encoding enc) {
  send_bytes(std::make_shared<const std::string>(proto::encode(frame, enc)));
}

void connection_state::send_bytes(std::shared_ptr<const std::string> bytes) {
  if (closed_)
    return;
  auto size = bytes->size();
  switch (sink_->send(std::move(bytes))) {
    case sink_status::queued:
      cfg_.stats->frames_out.fetch_add(1, std::memory_order_relaxed);
      cfg_.stats->bytes_out.fetch_add(size, std::memory_order_relaxed);
      return;
    case sink_status::overflow:
      // The sink closes the client as a slow consumer; our end follows.
      return;
    case sink_status::closed:
      closed_ = true;
      self_->quit();
      return;
  }
}

void connection_state::close(close_cause cause) {
  if (closed_)
    return;
  closed_ = true;
  auto& m = close_of(cause);
  sink_->close(m.code, std::string{m.reason});
  // Rooms see us go (they monitor members) and tell the others.
  self_->quit();
}

connection_actor::behavior_type connection_impl(connection_state::pointer self,
                                                std::string session_id, connection_config cfg,
                                                rooms_actor rooms, frame_sink_ptr sink) {
  self->state.init(std::move(session_id), std::move(cfg), std::move(rooms), std::move(sink));
  return {
    [self](request_atom, client_request& req, encoding enc) {
      self->state.on_request(req, enc);
    },
    [self](bad_frame_atom, const proto::decode_error& err, encoding enc) {
      self->state.on_bad_frame(err, enc);
    },
  };
}

} // namespace parley::actors
