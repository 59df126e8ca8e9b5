#include "parley/actors/room_relay.hpp"

#include "parley/actors/rooms_directory.hpp"
#include "parley/runtime/errc.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>
#include <caf/message_id.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace parley::actors {

using runtime::errc;
using runtime::make_error;

relay_state::~relay_state() {
  // A monitor left in the room would keep this relay's memory alive for the
  // room's life (see ~connection_state).
  if (cfg_.owner)
    self_->demonitor(cfg_.owner.address());
  if (stats_) {
    stats_->open.fetch_sub(1, std::memory_order_relaxed);
    stats_->members.fetch_sub(static_cast<int64_t>(members_.size()), std::memory_order_relaxed);
  }
}

void relay_state::init(relay_config cfg, std::shared_ptr<relay_stats> stats) {
  cfg_ = std::move(cfg);
  stats_ = std::move(stats);
  stats_->open.fetch_add(1, std::memory_order_relaxed);
  self_->monitor(cfg_.owner);
  self_->set_down_handler([this](caf::down_msg& msg) {
    if (msg.source == cfg_.owner.address()) {
      // The room or its node is gone: members rejoin and the room is
      // placed again.
      spdlog::info("relay {}: the room on '{}' is gone ({}); members rejoin", cfg_.room,
                   cfg_.owner_node, self_->system().render(msg.reason));
      if (auto dir = find_rooms_directory(self_->system()); dir && seen_.last_seq > 0)
        caf::anon_send(dir, seed_atom::value, cfg_.room, std::move(seen_));
      self_->quit(make_error(errc::unavailable, "room " + cfg_.room + ": its node '"
                                                  + cfg_.owner_node + "' went away"));
      return;
    }
    remove(msg.source);
  });
  arm_idle_timer();
}

caf::result<join_reply> relay_state::on_join(join_request& req) {
  if (!req.member)
    return make_error(errc::invalid_argument, std::string{"join without a member"});
  if (members_.count(req.member.address()) > 0)
    return make_error(errc::already_member, cfg_.room);
  req.via = caf::actor_cast<relay_sink>(self_);
  req.sink = nullptr; // the relay fans out to its members' mailboxes
  auto rp = self_->make_response_promise<join_reply>();
  auto member = req.member;
  auto enc = req.enc;
  // Awaited: frames that follow the owner's reply must find the member.
  self_->request(cfg_.owner, cfg_.request_timeout, join_atom::value, std::move(req))
    .await(
      [this, rp, member, enc](join_reply& reply) mutable {
        for (auto& m : reply.messages)
          keep(m);
        seen_.last_seq = std::max(seen_.last_seq, reply.seq);
        auto [it, added] = members_.emplace(member.address(), local_member{member, enc});
        if (added) {
          stats_->members.fetch_add(1, std::memory_order_relaxed);
          self_->monitor(member);
          if (enc == encoding::json)
            ++json_members_;
          ++idle_generation_;
        }
        rp.deliver(std::move(reply));
      },
      [this, rp](caf::error& err) mutable {
        rp.deliver(std::move(err));
        if (members_.empty())
          arm_idle_timer();
      });
  return rp;
}

caf::result<bool> relay_state::on_leave(const member_actor& member) {
  remove(member.address());
  return self_->delegate(cfg_.owner, leave_atom::value, member);
}

void relay_state::remove(const caf::actor_addr& addr) {
  auto i = members_.find(addr);
  if (i == members_.end())
    return;
  if (i->second.enc == encoding::json)
    --json_members_;
  self_->demonitor(addr);
  members_.erase(i);
  stats_->members.fetch_sub(1, std::memory_order_relaxed);
  if (members_.empty())
    arm_idle_timer();
}

void relay_state::keep(chat_message msg) {
  auto& backlog = seen_.backlog;
  if (!backlog.empty() && msg.seq <= backlog.back().seq)
    return; // seen (a join reply overlapping the frames)
  seen_.last_seq = std::max(seen_.last_seq, msg.seq);
  backlog.push_back(std::move(msg));
  if (backlog.size() > cfg_.backlog)
    backlog.erase(backlog.begin(), backlog.begin() + (backlog.size() - cfg_.backlog));
}

void relay_state::on_frame(relay_frame& frame) {
  stats_->frames_in.fetch_add(1, std::memory_order_relaxed);
  // Parsed once per node: messages are kept for the seed, and JSON members
  // get the JSON encoding made from it.
  v1::ServerFrame decoded;
  if (!decoded.ParseFromString(frame.binary)) {
    spdlog::error("relay {}: a frame from '{}' does not parse; dropped", cfg_.room,
                  cfg_.owner_node);
    return;
  }
  if (decoded.has_message()) {
    chat_message msg;
    from_proto(decoded.message(), msg);
    keep(std::move(msg));
  }
  if (members_.empty())
    return;
  // Binary as it came; JSON encoded once here for every JSON member.
  auto binary = std::make_shared<const std::string>(std::move(frame.binary));
  caf::message msgs[2];
  msgs[0] = caf::make_message(deliver_atom::value, shared_frame{binary, nullptr});
  if (json_members_ > 0) {
    auto json = std::make_shared<const std::string>(proto::encode(decoded, encoding::json));
    msgs[1] = caf::make_message(deliver_atom::value, shared_frame{nullptr, json});
  }
  uint64_t sent = 0;
  for (auto& [addr, m] : members_) {
    if (frame.except != 0 && addr.id() == frame.except)
      continue;
    auto& msg = msgs[m.enc == encoding::binary ? 0 : 1];
    caf::actor_cast<caf::abstract_actor*>(m.handle)->enqueue(self_->ctrl(), caf::make_message_id(),
                                                             msg, self_->context());
    ++sent;
  }
  cfg_.stats->deliveries.fetch_add(sent, std::memory_order_relaxed);
}

void relay_state::arm_idle_timer() {
  if (cfg_.idle_timeout.count() > 0 && members_.empty())
    self_->delayed_send(self_, cfg_.idle_timeout, idle_atom::value, ++idle_generation_);
}

void relay_state::on_idle(uint64_t generation) {
  if (generation != idle_generation_ || !members_.empty())
    return;
  self_->quit();
}

relay_actor::behavior_type relay_impl(relay_state::pointer self, relay_config cfg,
                                      std::shared_ptr<relay_stats> stats) {
  self->state.init(std::move(cfg), std::move(stats));
  auto owner = [self] { return self->state.config().owner; };
  return {
    [self](join_atom, join_request& req) { return self->state.on_join(req); },
    [self](leave_atom, const member_actor& m) { return self->state.on_leave(m); },
    [self, owner](publish_atom, publish_request& req) -> caf::result<seq_t> {
      return self->delegate(owner(), publish_atom::value, std::move(req));
    },
    [self, owner](history_atom, history_request& req) -> caf::result<history_reply> {
      return self->delegate(owner(), history_atom::value, std::move(req));
    },
    [self, owner](presence_atom) -> caf::result<std::vector<std::string>> {
      return self->delegate(owner(), presence_atom::value);
    },
    [self, owner](summary_atom) -> caf::result<room_summary> {
      return self->delegate(owner(), summary_atom::value);
    },
    [self](idle_atom, uint64_t generation) { self->state.on_idle(generation); },
    [](tick_atom) {},
    [](flush_atom) {},
    [](ready_atom, const member_actor&) {}, // members get frames from the relay
    [self](relay_atom, relay_frame& frame) { self->state.on_frame(frame); },
  };
}

} // namespace parley::actors
