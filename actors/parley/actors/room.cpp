// The room: membership, seq and backlog, presence batching, fan-out to
// sinks and relays, history. About 420 lines in one file on purpose: every
// handler reads and writes the same state (members, memory, pending diffs),
// and splitting the state machine would spread its invariants over files.
#include "parley/actors/room.hpp"

#include "parley/runtime/errc.hpp"

#include <caf/actor_system.hpp>
#include <caf/system_messages.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace parley::actors {

using runtime::errc;
using runtime::make_error;

room_state::~room_state() {
  if (memory_) { // init ran and counted this room
    cfg_.stats->open.fetch_sub(1, std::memory_order_relaxed);
    cfg_.stats->members.fetch_sub(static_cast<int64_t>(members_.size()),
                                  std::memory_order_relaxed);
  }
}

void room_state::init(std::string room, room_config cfg, std::shared_ptr<room_memory> memory,
                      room_behavior_actor behavior, caf::timespan tick) {
  room_ = std::move(room);
  cfg_ = cfg;
  memory_ = memory ? std::move(memory) : std::make_shared<room_memory>();
  ++memory_->incarnations;
  cfg_.stats->open.fetch_add(1, std::memory_order_relaxed);
  cfg_.stats->started.fetch_add(1, std::memory_order_relaxed);
  behavior_ = std::move(behavior);
  tick_ = tick;
  if (behavior_)
    self_->monitor(behavior_);
  self_->set_down_handler([this](caf::down_msg& msg) {
    if (behavior_ && msg.source == behavior_.address()) {
      // A link passes on only abnormal ends; a behaviour that quit normally
      // would leave the room unable to answer. Fail, so both restart.
      self_->quit(make_error(errc::behavior_failed, room_ + std::string{": behaviour ended"}));
      return;
    }
    if (relays_.count(msg.source) > 0) {
      std::vector<caf::actor_addr> gone;
      for (auto& [addr, m] : members_)
        if (m.via && m.via.address() == msg.source)
          gone.push_back(addr);
      for (auto& addr : gone)
        remove(addr);
      spdlog::debug("room {}: a relay ended ({}); its {} members removed", room_,
                    self_->system().render(msg.reason), gone.size());
      return;
    }
    if (remove(msg.source))
      spdlog::debug("room {}: a member ended ({}), removed", room_,
                    self_->system().render(msg.reason));
  });
  if (behavior_ && tick_.count() > 0)
    self_->delayed_send(self_, tick_, tick_atom::value);
  arm_idle_timer();
}

// -- logic ------------------------------------------------------------------------

join_reply room_state::admit(const join_request& req) {
  auto addr = req.member;
  member entry;
  entry.user = req.user;
  entry.enc = req.enc;
  entry.via = req.via;
  if (!req.via)
    entry.sink = req.sink;
  if (members_.emplace(addr, std::move(entry)).second)
    cfg_.stats->members.fetch_add(1, std::memory_order_relaxed);
  if (req.via) {
    auto& use = relays_[req.via.address()];
    if (use.members == 0) {
      use.relay = req.via;
      // A relay that ends takes its members with it (they rejoin through
      // a new one).
      self_->monitor(req.via);
    }
    ++use.members;
    ++(req.enc == encoding::binary ? use.binary : use.json);
  }
  self_->monitor(req.member);
  ++idle_generation_; // an idle timer in flight no longer applies
  join_reply reply;
  reply.room = room_;
  reply.seq = memory_->last_seq;
  auto& backlog = memory_->backlog;
  if (req.since) {
    auto since = *req.since;
    // Held: seq in [oldest, last]. The client missed nothing we cannot give
    // it if since + 1 >= oldest (or nothing was published after since).
    auto oldest = backlog.empty() ? memory_->last_seq + 1 : backlog.front().seq;
    reply.gap = since + 1 < oldest && since < memory_->last_seq;
    for (auto& m : backlog)
      if (m.seq > since)
        reply.messages.push_back(m);
  } else {
    reply.messages.assign(backlog.begin(), backlog.end());
  }
  if (users_[req.user]++ == 0)
    presence_diff(req.user, true, addr); // the joiner gets the full list instead
  reply.member_count = static_cast<uint32_t>(members_.size());
  reply.members = presence(cfg_.max_presence_list);
  // First in the sink: the room writes nothing to this member before it.
  // (A member behind a relay gets it from the relay, which has its sink.)
  if (req.sink && !req.via)
    req.sink->send(encode_joined(req.ref, reply, req.enc));
  return reply;
}

bool room_state::remove(const caf::actor_addr& addr) {
  auto i = members_.find(addr);
  if (i == members_.end())
    return false;
  auto user = std::move(i->second.user);
  if (auto& via = i->second.via) {
    auto r = relays_.find(via.address());
    if (r != relays_.end()) {
      auto& use = r->second;
      --(i->second.enc == encoding::binary ? use.binary : use.json);
      if (--use.members == 0) {
        self_->demonitor(via.address());
        relays_.erase(r);
      }
    }
  }
  self_->demonitor(addr);
  members_.erase(i);
  cfg_.stats->members.fetch_sub(1, std::memory_order_relaxed);
  if (auto u = users_.find(user); u != users_.end() && --u->second == 0) {
    users_.erase(u);
    presence_diff(user, false);
  }
  if (behavior_) {
    auto count = static_cast<uint32_t>(members_.size());
    self_->request(behavior_, cfg_.behavior_timeout, on_leave_atom::value,
                   leave_event{room_, user, count})
      .await([this](room_effects& fx) { publish_effects(fx); },
             [this](caf::error& err) {
               spdlog::warn("room {}: behaviour failed on leave: {}", room_,
                            self_->system().render(err));
             });
  }
  if (members_.empty())
    arm_idle_timer();
  return true;
}

seq_t room_state::append(std::string sender, std::string text, std::string body) {
  chat_message msg{room_, ++memory_->last_seq, std::move(sender), std::move(text),
                   std::move(body), now_ms()};
  cfg_.stats->messages.fetch_add(1, std::memory_order_relaxed);
  v1::ServerFrame frame;
  to_proto(msg, *frame.mutable_message());
  broadcast(frame);
  auto& backlog = memory_->backlog;
  backlog.push_back(std::move(msg));
  while (backlog.size() > cfg_.backlog)
    backlog.pop_front();
  return memory_->last_seq;
}

history_reply room_state::history(const history_request& req) const {
  history_reply reply;
  reply.room = room_;
  auto limit = req.limit == 0 ? cfg_.max_history : std::min<size_t>(req.limit, cfg_.max_history);
  auto& backlog = memory_->backlog;
  // Newest first: walk back from the end, then restore oldest-first order.
  bool limited = false;
  for (auto i = backlog.rbegin(); i != backlog.rend(); ++i) {
    if (req.before != 0 && i->seq >= req.before)
      continue;
    if (i->seq <= req.after)
      break;
    if (reply.messages.size() == limit) {
      limited = true;
      break;
    }
    reply.messages.push_back(*i);
  }
  std::reverse(reply.messages.begin(), reply.messages.end());
  // A gap: the wanted range (after, before) reaches below what the room holds.
  auto oldest_held = backlog.empty() ? memory_->last_seq + 1 : backlog.front().seq;
  auto lowest_wanted = req.after + 1;
  auto highest_wanted = req.before == 0 ? memory_->last_seq
                                        : std::min(req.before - 1, memory_->last_seq);
  reply.gap = !limited && lowest_wanted < oldest_held && lowest_wanted <= highest_wanted;
  return reply;
}

room_summary room_state::summary() const {
  return room_summary{room_, static_cast<uint32_t>(members_.size()), memory_->last_seq,
                      static_cast<uint32_t>(memory_->backlog.size())};
}

std::vector<std::string> room_state::presence(size_t limit) const {
  std::vector<std::string> result;
  result.reserve(std::min(limit, users_.size()));
  for (auto i = users_.begin(); i != users_.end() && result.size() < limit; ++i)
    result.push_back(i->first);
  return result;
}

const room_state::member* room_state::find(const caf::actor_addr& addr) const {
  auto i = members_.find(addr);
  return i == members_.end() ? nullptr : &i->second;
}

void room_state::publish_effects(const room_effects& fx) {
  for (auto& m : fx.messages)
    append(m.sender, m.text, m.body);
}

void room_state::broadcast(const v1::ServerFrame& frame, const caf::actor_addr& except) {
  if (members_.empty())
    return;
  // Encoded on first use, at most once per encoding; every sink shares the
  // bytes (a connection that joined two rooms in two encodings gets each
  // room's frames in that room's).
  fanout_frame out{frame};
  uint64_t sent = 0;
  const member* skipped = nullptr;
  for (auto& [addr, m] : members_) {
    if (addr == except) {
      skipped = &m;
      continue;
    }
    if (!m.sink)
      continue; // behind a relay (below), or wants no frames
    // Overflow and closed alike: the sink closes its client, and the
    // member's end removes it here.
    m.sink->send(out.bytes(m.enc));
    ++sent;
  }
  // One copy per node with members, in the encodings used there; its relay
  // writes it to its members' sinks. An excepted member's id means
  // something only to the relay of its own node.
  auto seq = frame.has_message() ? frame.message().seq() : 0;
  for (auto& [addr, use] : relays_) {
    uint64_t except_id = skipped && skipped->via.address() == addr ? except.id() : 0;
    self_->send(use.relay, relay_atom::value,
                relay_frame{use.binary > 0 ? out.bytes(encoding::binary) : nullptr,
                            use.json > 0 ? out.bytes(encoding::json) : nullptr, seq,
                            except_id});
  }
  cfg_.stats->deliveries.fetch_add(sent, std::memory_order_relaxed);
  cfg_.stats->relayed.fetch_add(relays_.size(), std::memory_order_relaxed);
}

void room_state::presence_diff(const std::string& user, bool joined,
                               const caf::actor_addr& except) {
  if (cfg_.presence_interval.count() == 0) {
    v1::ServerFrame frame;
    auto* p = frame.mutable_presence();
    p->set_room(room_);
    if (joined)
      p->add_joined(user);
    else
      p->add_left(user);
    broadcast(frame, except);
    return;
  }
  // Batched: the diff says where each user touched in the window stands at
  // the flush. Not a net count: a member who joined mid-window got a full
  // list, so a user who came and went in the window must still be reported
  // as gone. Diffs are idempotent set changes: "joined: x" to someone who
  // has x, or "left: y" to someone who never had y, changes nothing.
  pending_presence_.insert(user);
  if (!flush_armed_) {
    flush_armed_ = true;
    self_->delayed_send(self_, presence_delay(), flush_atom::value);
  }
}

caf::timespan room_state::presence_delay() const {
  auto per = cfg_.presence_members_per_interval;
  if (per == 0)
    return cfg_.presence_interval;
  auto steps = static_cast<int64_t>(members_.size() / per) + 1;
  return std::min(std::max(cfg_.presence_interval, cfg_.presence_interval * steps),
                  std::max(cfg_.presence_interval, cfg_.max_presence_interval));
}

void room_state::flush_presence() {
  flush_armed_ = false;
  if (pending_presence_.empty())
    return;
  v1::ServerFrame frame;
  auto* p = frame.mutable_presence();
  p->set_room(room_);
  for (auto& user : pending_presence_) {
    if (users_.count(user) > 0)
      p->add_joined(user);
    else
      p->add_left(user);
  }
  pending_presence_.clear();
  broadcast(frame);
}

void room_state::arm_idle_timer() {
  if (cfg_.idle_timeout.count() > 0 && members_.empty())
    self_->delayed_send(self_, cfg_.idle_timeout, idle_atom::value, ++idle_generation_);
}

// -- handlers ---------------------------------------------------------------------

caf::result<join_reply> room_state::on_join(join_request& req) {
  if (!req.member)
    return make_error(errc::invalid_argument, std::string{"join without a member"});
  if (find(req.member))
    return make_error(errc::already_member, room_);
  if (!behavior_)
    return admit(req);
  auto rp = self_->make_response_promise<join_reply>();
  join_event ev{room_, req.user, static_cast<uint32_t>(members_.size())};
  self_->request(behavior_, cfg_.behavior_timeout, on_join_atom::value, std::move(ev))
    .await(
      [this, rp, req](join_verdict& v) mutable {
        if (!v.accept) {
          rp.deliver(make_error(errc::refused, v.reason));
          return;
        }
        rp.deliver(admit(req));
        publish_effects(v.effects);
      },
      [this, rp](caf::error& err) mutable {
        rp.deliver(make_error(errc::behavior_failed, self_->system().render(err)));
      });
  return rp;
}

bool room_state::on_leave(const member_id& member) {
  return remove(member);
}

caf::result<seq_t> room_state::on_publish(publish_request& req) {
  auto* m = find(req.member);
  if (!m)
    return make_error(errc::not_a_member, room_);
  if (!behavior_)
    return append(m->user, std::move(req.text), std::move(req.body));
  auto rp = self_->make_response_promise<seq_t>();
  publish_event ev{room_, m->user, std::move(req.text), std::move(req.body)};
  auto user = m->user;
  self_->request(behavior_, cfg_.behavior_timeout, on_publish_atom::value, ev)
    .await(
      [this, rp, ev, user](publish_verdict& v) mutable {
        switch (v.action) {
          case publish_action::pass:
            rp.deliver(append(user, ev.text, ev.body));
            break;
          case publish_action::transform:
            rp.deliver(append(user, std::move(v.text), std::move(v.body)));
            break;
          case publish_action::reject:
            rp.deliver(make_error(errc::refused, v.reason));
            return;
          case publish_action::answer:
            // Nothing of the member's is published: its ack carries the
            // room's seq after the answer.
            publish_effects(v.effects);
            rp.deliver(memory_->last_seq);
            return;
        }
        publish_effects(v.effects);
      },
      [this, rp](caf::error& err) mutable {
        rp.deliver(make_error(errc::behavior_failed, self_->system().render(err)));
      });
  return rp;
}

void room_state::on_idle(uint64_t generation) {
  if (generation != idle_generation_ || !members_.empty())
    return;
  spdlog::debug("room {}: idle, stopping", room_);
  self_->quit();
}

void room_state::on_tick() {
  if (!behavior_)
    return;
  self_->request(behavior_, cfg_.behavior_timeout, on_tick_atom::value, tick_event{room_, ++ticks_})
    .await([this](room_effects& fx) { publish_effects(fx); },
           [this](caf::error& err) {
             spdlog::warn("room {}: behaviour failed on tick: {}", room_,
                          self_->system().render(err));
           });
  self_->delayed_send(self_, tick_, tick_atom::value);
}

// -- behaviour ----------------------------------------------------------------------

room_actor::behavior_type room_impl(room_state::pointer self, std::string room,
                                    room_config cfg, std::shared_ptr<room_memory> memory,
                                    room_behavior_rule rule) {
  room_behavior_actor behavior;
  if (rule.factory) {
    behavior = rule.factory(self->system(), room);
    // Room and behaviour live and die together; the supervisor restarts both.
    if (behavior)
      self->link_to(behavior);
  }
  self->state.init(std::move(room), cfg, std::move(memory), std::move(behavior), rule.tick);
  return {
    [self](join_atom, join_request& req) { return self->state.on_join(req); },
    [self](leave_atom, const member_id& m) { return self->state.on_leave(m); },
    [self](publish_atom, publish_request& req) { return self->state.on_publish(req); },
    [self](history_atom, const history_request& req) { return self->state.history(req); },
    [self](presence_atom) { return self->state.presence(); },
    [self](summary_atom) { return self->state.summary(); },
    [self](notice_atom, std::string& sender, std::string& text) {
      return self->state.append(std::move(sender), std::move(text), {});
    },
    [self](idle_atom, uint64_t generation) { self->state.on_idle(generation); },
    [self](tick_atom) { self->state.on_tick(); },
    [self](flush_atom) { self->state.flush_presence(); },
  };
}

} // namespace parley::actors
