#include "parley/actors/connection.hpp"

#include "parley/actors/names.hpp"
#include "parley/actors/rooms_directory.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/runtime/log.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace parley::actors {

using runtime::errc;

errc to_errc(const caf::error& err) {
  if (err.category() == runtime::errc_category)
    return static_cast<errc>(err.code());
  // CAF's own: a room that did not answer in time, or is gone, is worth a
  // retry; anything else is the server's fault.
  return err == caf::sec::request_timeout || err == caf::sec::request_receiver_down
           ? errc::unavailable
           : errc::internal;
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
                            frame_sink_ptr sink, const std::string& token) {
  session_id_ = std::move(session_id);
  cfg_ = std::move(cfg);
  switch (cfg_.auth) {
    case auth_mode::none:
      user_ = "guest-" + session_id_;
      guest_ = false; // nobody is verified, nobody is marked
      access_ = room_access::everything();
      break;
    case auth_mode::guests:
      user_ = guest_name("guest-" + session_id_);
      access_ = cfg_.guest_rooms;
      break;
    case auth_mode::required:
      user_ = "guest-" + session_id_; // serves nothing before a token
      break;
  }
  rooms_ = std::move(rooms);
  sink_ = std::move(sink);
  cfg_.stats->open.fetch_add(1, std::memory_order_relaxed);
  counted_ = true;
  // The socket never outlives its actor: stopped by its supervisor (the node
  // shuts down), the client gets 1001; crashed, 1011. After a close of the
  // actor's own, or when the socket went first, this changes nothing.
  self_->attach_functor([sink = sink_](const caf::error& reason) {
    if (reason == caf::exit_reason::user_shutdown)
      sink->close(close_cause::shutting_down);
    else if (reason && reason != caf::exit_reason::normal)
      sink->close(close_cause::crashed);
  });
  bucket_.emplace(cfg_.rate, cfg_.burst, self_->clock().now());
  if (!token.empty() && cfg_.auth != auth_mode::none)
    authenticate("", token, encoding::json);
  self_->set_down_handler([this](caf::down_msg& msg) {
    for (auto i = joined_.begin(); i != joined_.end(); ++i) {
      if (i->second.address() != msg.source)
        continue;
      // The room ended under us: tell the client, who rejoins with since_seq.
      bool crashed = static_cast<bool>(msg.reason)
                     && msg.reason != caf::exit_reason::user_shutdown;
      reply::left news{i->first, runtime::is(msg.reason, runtime::errc::moved)
                                   ? reply::left_reason::room_moved
                                 : crashed ? reply::left_reason::room_restarted
                                           : reply::left_reason::room_stopped};
      joined_.erase(i);
      send({"", std::move(news)}, delivery_enc_);
      report();
      return;
    }
  });
  report();
}

// -- inbound ----------------------------------------------------------------------

void connection_state::on_request(client_request& req, encoding enc) {
  if (closed_)
    return;
  cfg_.stats->frames_in.fetch_add(1, std::memory_order_relaxed);
  if (!admit(req.ref, enc))
    return;
  // A token that expired while the connection was open: the client
  // reconnects with a fresh one.
  if (expires_ && std::chrono::system_clock::now() >= *expires_) {
    refuse_unauthenticated(req.ref, "token: expired during the connection; reconnect with a "
                                    "fresh one",
                           enc);
    return;
  }
  if (cfg_.auth == auth_mode::required && !authenticated_
      && !std::holds_alternative<request::hello>(req.what)
      && !std::holds_alternative<request::ping>(req.what)) {
    refuse_unauthenticated(req.ref, "say hello with a token first", enc);
    return;
  }
  std::visit([&](auto& what) { on(req.ref, what, enc); }, req.what);
}

bool connection_state::admit(const std::string& ref, encoding enc) {
  if (bucket_->take(self_->clock().now())) {
    strikes_ = 0;
    return true;
  }
  cfg_.stats->rate_limited.fetch_add(1, std::memory_order_relaxed);
  if (++strikes_ > cfg_.max_strikes) {
    cfg_.stats->rate_limit_disconnects.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("connection {}: closed for flooding", session_id_);
    close(close_cause::flooding);
    return false;
  }
  error(ref, errc::capacity_exceeded, "too many requests: slow down", enc);
  return false;
}

void connection_state::on(const std::string& ref, request::ping& req, encoding enc) {
  send({ref, reply::pong{req.client_time_ms, now_ms()}}, enc);
}

void connection_state::on_bad_frame(const proto::decode_error& err, encoding enc) {
  if (closed_)
    return;
  cfg_.stats->frames_in.fetch_add(1, std::memory_order_relaxed);
  cfg_.stats->bad_frames.fetch_add(1, std::memory_order_relaxed);
  // A frame that does not decode costs a token like any request: a flood of
  // them meets the rate limit and its strikes, and ends in 1008.
  if (!admit(err.ref, enc))
    return;
  cfg_.stats->errors.fetch_add(1, std::memory_order_relaxed);
  send({err.ref, err}, enc);
}

void connection_state::on(const std::string& ref, request::hello& req, encoding enc) {
  bool with_token = !req.token.empty() && cfg_.auth != auth_mode::none;
  if ((with_token || !req.user.empty()) && !joined_.empty()) {
    error(ref, errc::invalid_argument, "say hello (and choose a name) before joining rooms", enc);
    return;
  }
  if (with_token) {
    if (!authenticate(ref, req.token, enc))
      return;
  } else if (!authenticated_) {
    if (cfg_.auth == auth_mode::required) {
      refuse_unauthenticated(ref, "this server requires a token: sign in first", enc);
      return;
    }
    if (!req.user.empty()) {
      auto checked = check_user_name(req.user);
      if (!checked.ok()) {
        error(ref, errc::invalid_argument, "that name will not do: " + checked.problem, enc);
        return;
      }
      user_ = cfg_.auth == auth_mode::guests ? guest_name(checked.name) : std::move(checked.name);
    }
  }
  // With a token, its name stands and hello.user is not used.
  send({ref, reply::welcome{session_id_, cfg_.node, cfg_.limits, cfg_.backlog, cfg_.rate,
                            cfg_.burst, user_, guest_}},
       enc);
  report();
}

void connection_state::report() {
  std::vector<std::string> rooms;
  rooms.reserve(joined_.size());
  for (auto& kv : joined_)
    rooms.push_back(kv.first);
  sink_->describe_as(user_, guest_, std::move(rooms));
}

bool connection_state::authenticate(const std::string& ref, const std::string& token,
                                    encoding enc) {
  if (!cfg_.verifier) {
    refuse_unauthenticated(ref, "this server checks no tokens", enc);
    return false;
  }
  auto result = cfg_.verifier->verify(token);
  if (auto* why = std::get_if<std::string>(&result)) {
    refuse_unauthenticated(ref, "token: " + *why, enc);
    return false;
  }
  auto& who = std::get<identity>(result);
  user_ = std::move(who.user);
  access_ = std::move(who.rooms);
  expires_ = who.expires;
  if (expires_)
    sink_->expire_at(*expires_); // closes a client that only listens, too
  guest_ = false;
  authenticated_ = true;
  return true;
}

void connection_state::refuse_unauthenticated(const std::string& ref, const std::string& reason,
                                              encoding enc) {
  error(ref, errc::unauthenticated, reason, enc);
  // Any client can make this line, one connection after another: once a
  // second at most, for all connections together.
  static runtime::log_limiter limit;
  if (auto held = limit.admit())
    spdlog::info("connection {}: closed, unauthenticated: {}{}", session_id_, reason,
                 runtime::log_limiter::more(*held));
  close(close_cause::unauthenticated);
}

bool connection_state::may(const std::string& ref, const std::string& room, right r,
                           encoding enc) {
  if (access_.allows(room, r))
    return true;
  const char* what = r == right_join      ? "join"
                     : r == right_publish ? "publish in"
                     : r == right_history ? "read the history of"
                                          : "list the members of";
  error(ref, errc::forbidden,
        std::string{"you may not "} + what + " room '" + room + "'"
          + (guest_ && cfg_.auth != auth_mode::none ? " as a guest" : ""),
        enc);
  return false;
}

void connection_state::on(const std::string& ref, request::join& req, encoding enc) {
  const auto& name = req.room;
  if (auto err = validate_room_name(name, cfg_.limits.max_room_name_bytes)) {
    error(ref, err, enc);
    return;
  }
  if (!may(ref, name, right_join, enc))
    return;
  if (joined_.count(name) > 0) {
    error(ref, errc::already_member, "already in room " + name, enc);
    return;
  }
  std::optional<seq_t> since = req.since;
  // Membership changes are awaited: a publish right after a join (without
  // waiting for its ack) then finds the room joined.
  auto me = self_->address();
  auto dir = directory();
  if (!dir) {
    error(ref, errc::unavailable, "the rooms are starting: try again", enc);
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
              report();
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
  report();
  ask(room, leave_atom::value, self_->address())
    .await(
      [this, ref, enc, name = req.room](bool) {
        done();
        send({ref, reply::left{name, reply::left_reason::requested}}, enc);
      },
      [this, ref, enc](caf::error& err) {
        done();
        error(ref, err, enc);
      });
}

void connection_state::on(const std::string& ref, request::publish& req, encoding enc) {
  auto room = member_of(ref, req.room, enc);
  if (!room || !may(ref, req.room, right_publish, enc))
    return;
  if (req.text.empty() && req.body.empty()) {
    error(ref, errc::invalid_argument, "publish: text or body required", enc);
    return;
  }
  ask(room, publish_atom::value,
      publish_request{self_->address(), std::move(req.text), std::move(req.body),
                      std::move(req.id)})
    .then(
      [this, ref, enc, name = req.room](seq_t seq) {
        done();
        send({ref, reply::published{name, seq}}, enc);
      },
      [this, ref, enc](caf::error& err) {
        done();
        error(ref, err, enc);
      });
}

void connection_state::on(const std::string& ref, request::history& req, encoding enc) {
  auto room = member_of(ref, req.room, enc);
  if (!room || !may(ref, req.room, right_history, enc))
    return;
  ask(room, history_atom::value, history_request{req.before, req.after, req.limit})
    .then(
      [this, ref, enc](history_reply& r) {
        done();
        send({ref, std::move(r)}, enc);
      },
      [this, ref, enc](caf::error& err) {
        done();
        error(ref, err, enc);
      });
}

void connection_state::on(const std::string& ref, request::presence& req, encoding enc) {
  auto room = member_of(ref, req.room, enc);
  if (!room || !may(ref, req.room, right_presence, enc))
    return;
  ask(room, presence_atom::value)
    .then(
      [this, ref, enc, name = req.room](std::vector<std::string>& members) {
        done();
        send({ref, reply::presence{name, std::move(members)}}, enc);
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
    error(ref, errc::unavailable, "the rooms are starting: try again", enc);
    return;
  }
  ask(dir, rooms_atom::value)
    .then(
      [this, ref, enc](std::vector<room_summary>& rooms) {
        done();
        // Only the rooms the user may join are listed.
        rooms.erase(std::remove_if(rooms.begin(), rooms.end(),
                                   [this](const room_summary& r) {
                                     return !access_.allows(r.name, right_join);
                                   }),
                    rooms.end());
        send({ref, reply::rooms{std::move(rooms)}}, enc);
      },
      [this, ref, enc](caf::error& err) {
        done();
        error(ref, err, enc);
      });
}

room_actor connection_state::member_of(const std::string& ref, const std::string& room,
                                       encoding enc) {
  // Checked before it is quoted in a reply (or, through the reply, a log).
  if (auto err = validate_room_name(room, cfg_.limits.max_room_name_bytes)) {
    error(ref, err, enc);
    return {};
  }
  auto i = joined_.find(room);
  if (i == joined_.end()) {
    error(ref, errc::not_a_member, "not in room '" + room + "': join it first", enc);
    return {};
  }
  return i->second;
}

// -- outbound ---------------------------------------------------------------------

void connection_state::error(const std::string& ref, errc code, std::string reason,
                             encoding enc) {
  cfg_.stats->errors.fetch_add(1, std::memory_order_relaxed);
  send({ref, reply::failure{code, std::move(reason)}}, enc);
}

void connection_state::error(const std::string& ref, const caf::error& err, encoding enc) {
  error(ref, to_errc(err), reason_of(self_->system(), err), enc);
}

void connection_state::send(server_reply r, encoding enc) {
  if (closed_)
    return;
  switch (sink_->reply(r, enc)) {
    case sink_status::queued:
      cfg_.stats->frames_out.fetch_add(1, std::memory_order_relaxed);
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
  sink_->close(cause);
  // Rooms see us go (they monitor members) and tell the others.
  self_->quit();
}

connection_actor::behavior_type connection_impl(connection_state::pointer self,
                                                std::string session_id, connection_config cfg,
                                                rooms_actor rooms, frame_sink_ptr sink,
                                                std::string token) {
  self->state.init(std::move(session_id), std::move(cfg), std::move(rooms), std::move(sink),
                   token);
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
