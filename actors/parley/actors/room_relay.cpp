#include "parley/actors/room_relay.hpp"

#include "parley/actors/rooms_directory.hpp"
#include "parley/runtime/errc.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
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
      if (auto dir = find_rooms_directory(self_->system()); dir && last_seq_ > 0)
        caf::anon_send(dir, seed_atom::value, cfg_.room, seed());
      auto gone = make_error(errc::unavailable, "room " + cfg_.room + ": its node '"
                                                  + cfg_.owner_node
                                                  + "' went away with the publish; publish "
                                                    "again (with the same id)");
      for (auto& [id, rp] : publishes_)
        rp.deliver(gone);
      publishes_.clear();
      // A room that moved to another node: its members are told so.
      if (runtime::is(msg.reason, errc::moved))
        self_->quit(msg.reason);
      else
        self_->quit(make_error(errc::unavailable, "room " + cfg_.room + ": its node '"
                                                    + cfg_.owner_node + "' went away"));
      return;
    }
    remove(msg.source);
  });
  arm_idle_timer();
}

caf::result<seq_t> relay_state::forward_publish(publish_request& req) {
  auto rp = self_->make_response_promise<seq_t>();
  auto id = ++publish_id_;
  publishes_.emplace(id, rp);
  auto settle = [this, id](auto&& outcome) {
    auto i = publishes_.find(id);
    if (i == publishes_.end())
      return; // answered already: the room's node went away
    auto promise = std::move(i->second);
    publishes_.erase(i);
    promise.deliver(std::forward<decltype(outcome)>(outcome));
  };
  self_->request(cfg_.owner, caf::infinite, publish_atom::value, std::move(req))
    .then([settle](seq_t seq) mutable { settle(seq); },
          [settle](caf::error& err) mutable { settle(std::move(err)); });
  return rp;
}

caf::result<join_reply> relay_state::on_join(join_request& req) {
  if (!req.member)
    return make_error(errc::invalid_argument, std::string{"join without a member"});
  if (members_.count(req.member) > 0)
    return make_error(errc::already_member, cfg_.room);
  // The sink and the ref stay here: the relay writes the member's frames.
  auto sink = std::move(req.sink);
  auto ref = std::move(req.ref);
  req.sink = nullptr;
  req.via = caf::actor_cast<relay_sink>(self_);
  auto rp = self_->make_response_promise<join_reply>();
  auto member = req.member;
  auto enc = req.enc;
  // Awaited: the owner's frames that follow its reply must find the member
  // here, behind its join reply.
  self_->request(cfg_.owner, cfg_.request_timeout, join_atom::value, std::move(req))
    .await(
      [this, rp, member, enc, sink = std::move(sink), ref = std::move(ref)](
        join_reply& reply) mutable {
        for (auto& m : reply.messages)
          keep(kept{m.seq, m, nullptr, enc});
        last_seq_ = std::max(last_seq_, reply.seq);
        if (sink)
          sink->send(encode_joined(ref, reply, enc));
        auto [it, added] = members_.emplace(member, local_member{std::move(sink), enc});
        if (added) {
          stats_->members.fetch_add(1, std::memory_order_relaxed);
          self_->monitor(member);
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

caf::result<bool> relay_state::on_leave(const member_id& member) {
  remove(member);
  return self_->delegate(cfg_.owner, leave_atom::value, member);
}

void relay_state::remove(const caf::actor_addr& addr) {
  auto i = members_.find(addr);
  if (i == members_.end())
    return;
  self_->demonitor(addr);
  members_.erase(i);
  stats_->members.fetch_sub(1, std::memory_order_relaxed);
  if (members_.empty())
    arm_idle_timer();
}

void relay_state::keep(kept k) {
  if (!backlog_.empty() && k.seq <= backlog_.back().seq)
    return; // seen (a join reply overlapping the frames)
  last_seq_ = std::max(last_seq_, k.seq);
  backlog_.push_back(std::move(k));
  while (backlog_.size() > cfg_.backlog)
    backlog_.pop_front();
}

room_seed relay_state::seed() const {
  room_seed result;
  result.last_seq = last_seq_;
  for (auto& k : backlog_) {
    if (k.msg) {
      result.backlog.push_back(*k.msg);
      continue;
    }
    // Parsed only now, when the room's next node needs the messages.
    auto decoded = proto::decode_server(*k.bytes, k.enc);
    auto* frame = std::get_if<v1::ServerFrame>(&decoded);
    if (!frame || !frame->has_message()) {
      spdlog::error("relay {}: kept message {} does not parse; left out of the seed", cfg_.room,
                    k.seq);
      continue;
    }
    chat_message msg;
    from_proto(frame->message(), msg);
    result.backlog.push_back(std::move(msg));
  }
  return result;
}

void relay_state::on_frame(relay_frame& frame) {
  stats_->frames_in.fetch_add(1, std::memory_order_relaxed);
  if (frame.seq > 0 && (frame.binary || frame.json)) {
    auto enc = frame.binary ? encoding::binary : encoding::json;
    keep(kept{frame.seq, std::nullopt, frame.binary ? frame.binary : frame.json, enc});
  }
  // As the room sent it: the encodings this node's members use.
  fanout_frame out{std::move(frame.binary), std::move(frame.json)};
  uint64_t sent = 0;
  for (auto& [addr, m] : members_) {
    if (frame.except != 0 && addr.id() == frame.except)
      continue;
    auto& bytes = out.made(m.enc);
    if (!m.sink || !bytes)
      continue; // wants no frames
    // Overflow and closed alike: the sink closes its client, and the
    // member's end removes it here.
    m.sink->send(bytes);
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
    [self](leave_atom, const member_id& m) { return self->state.on_leave(m); },
    [self](publish_atom, publish_request& req) { return self->state.forward_publish(req); },
    [self, owner](history_atom, history_request& req) -> caf::result<history_reply> {
      return self->delegate(owner(), history_atom::value, std::move(req));
    },
    [self, owner](presence_atom) -> caf::result<std::vector<std::string>> {
      return self->delegate(owner(), presence_atom::value);
    },
    [self, owner](summary_atom) -> caf::result<room_summary> {
      return self->delegate(owner(), summary_atom::value);
    },
    [self, owner](notice_atom, std::string& sender, std::string& text) -> caf::result<seq_t> {
      return self->delegate(owner(), notice_atom::value, std::move(sender), std::move(text));
    },
    [self](idle_atom, uint64_t generation) { self->state.on_idle(generation); },
    [](tick_atom) {},
    [](flush_atom) {},
    // A relay keeps no history: the room it relays commits and reads.
    [](committed_atom, uint64_t, const std::string&, seq_t) {},
    [](stored_atom, uint64_t, const std::shared_ptr<const store::page>&, const std::string&) {},
    [self](relay_atom, relay_frame& frame) { self->state.on_frame(frame); },
  };
}

} // namespace parley::actors
