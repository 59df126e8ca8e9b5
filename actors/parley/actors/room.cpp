// The room: membership, seq and backlog, presence batching, fan-out to
// sinks and relays, history. About 420 lines in one file on purpose: every
// handler reads and writes the same state (members, memory, pending diffs),
// and splitting the state machine would spread its invariants over files.
#include "parley/actors/room.hpp"
#include "parley/actors/names.hpp"

#include "parley/runtime/errc.hpp"
#include "parley/store/store_service.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
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

bool room_state::needs_older(const join_request& req) const {
  if (!cfg_.store || !req.since)
    return false;
  auto& backlog = memory_->backlog;
  auto since = *req.since;
  return backlog.empty() ? since < memory_->last_seq : since + 1 < backlog.front().seq;
}

caf::error room_state::look_alike_of(const std::string& user) const {
  if (users_.count(user) > 0 || look_alikes_.empty())
    return caf::none;
  auto i = look_alikes_.end();
  for (auto& key : look_alike_keys(user))
    if (i = look_alikes_.find(key); i != look_alikes_.end())
      break;
  if (i == look_alikes_.end())
    return caf::none;
  return make_error(errc::name_in_use, "\"" + i->second + "\" is in " + room_
                                         + " and looks like \"" + user
                                         + "\": choose another name to join it");
}

bool room_state::joining(const caf::actor_addr& member) const {
  for (auto& [id, r] : reads_)
    if (r.is_join && r.join.member == member)
      return true;
  return false;
}

join_reply room_state::admit(const join_request& req, const store::page* older) {
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
  if (req.since && older) {
    // The newest page after since from the store, then what was committed
    // since the read, from the backlog. The reply ends at the room's seq,
    // where the live messages go on; `more` says that messages between
    // since and the first one here did not fit (the client pages back with
    // History, whose pages are cut at their newest end too).
    auto since = *req.since;
    reply.gap = since + 1 < older->oldest && since < older->last_seq;
    auto upto = std::max(since, older->oldest - 1);
    for (auto& r : older->records) {
      reply.messages.push_back(
        chat_message{room_, r.seq, r.sender, r.text, r.body, r.sent_ms});
      upto = r.seq;
    }
    if (!backlog.empty() && backlog.front().seq > upto + 1) {
      // More than a backlog committed during the read: the backlog alone,
      // and the rest is a page away.
      reply.messages.assign(backlog.begin(), backlog.end());
    } else {
      for (auto& m : backlog)
        if (m.seq > upto)
          reply.messages.push_back(m);
    }
    auto first_wanted = std::max(since, older->oldest - 1) + 1;
    reply.more = !reply.messages.empty() && reply.messages.front().seq > first_wanted;
  } else if (req.since) {
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
  if (users_[req.user]++ == 0) {
    for (auto& key : look_alike_keys(req.user))
      look_alikes_.emplace(std::move(key), req.user);
    presence_diff(req.user, true, addr); // the joiner gets the full list instead
  }
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
    for (auto& key : look_alike_keys(user))
      if (auto k = look_alikes_.find(key); k != look_alikes_.end() && k->second == user)
        look_alikes_.erase(k);
    presence_diff(user, false);
  }
  if (behavior_) {
    auto count = static_cast<uint32_t>(members_.size());
    self_->request(behavior_, cfg_.behavior_timeout, on_leave_atom::value,
                   leave_event{room_, user, count})
      .await(
        [this](room_effects& fx) {
          publish_effects(fx);
          submit();
        },
             [this](caf::error& err) {
               spdlog::warn("room {}: behaviour failed on leave: {}", room_,
                            self_->system().render(err));
             });
  }
  if (members_.empty())
    arm_idle_timer();
  return true;
}

void room_state::enqueue(std::string sender, std::string text, std::string body) {
  next_.messages.push_back(
    chat_message{room_, 0, std::move(sender), std::move(text), std::move(body), now_ms()});
  next_.keys.emplace_back();
}

void room_state::refuse_repeats(const batch& b, const caf::error& err) {
  for (auto& key : b.keys)
    if (!key.empty())
      settle_key(key, err);
}

void room_state::settle_key(const std::string& key, const caf::error& err) {
  answer_repeats(key, err);
}

void room_state::ack_last_queued(caf::typed_response_promise<seq_t> rp) {
  next_.acks.push_back({std::move(rp), static_cast<ptrdiff_t>(next_.messages.size()) - 1});
}

bool room_state::busy() const {
  return in_flight_ || !next_.messages.empty() || !next_.acks.empty() || !reads_.empty();
}

// Group commit, per room: while a batch is in the store, what arrives waits
// in the next one; seqs are given when a batch leaves, so a refused batch
// leaves no hole (the next one takes its seqs).
void room_state::submit() {
  if (in_flight_ || (next_.messages.empty() && next_.acks.empty()))
    return;
  current_ = std::move(next_);
  next_ = batch{};
  auto base = memory_->last_seq;
  for (size_t i = 0; i < current_.messages.size(); ++i)
    current_.messages[i].seq = base + 1 + i;
  if (!cfg_.store || current_.messages.empty()) {
    apply(current_);
    current_ = batch{};
    return;
  }
  in_flight_ = true;
  auto id = ++batch_id_;
  store::room_batch b;
  b.room = room_;
  b.last_seq = base + current_.messages.size();
  b.epoch = memory_->epoch;
  b.records.reserve(current_.messages.size());
  for (size_t i = 0; i < current_.messages.size(); ++i) {
    auto& m = current_.messages[i];
    b.records.push_back(
      store::record{m.seq, m.sender, m.text, m.body, m.server_time_ms, current_.keys[i]});
  }
  // A store on threads of its own answers by message; the memory store
  // answers at once, in this call.
  bool answered = false;
  std::string sync_error;
  seq_t sync_last = 0;
  bool in_place = cfg_.store->in_place();
  auto addr = self_->address();
  cfg_.store->append(std::move(b), [&answered, &sync_error, &sync_last, in_place, addr,
                                    id](const std::string& error, seq_t store_last) {
    if (in_place) {
      answered = true;
      sync_error = error;
      sync_last = store_last;
      return;
    }
    if (auto room = caf::actor_cast<caf::actor>(addr))
      caf::anon_send(room, committed_atom::value, id, error, store_last);
  });
  if (answered)
    on_committed(id, sync_error, sync_last);
}

void room_state::apply(batch& b) {
  auto before = memory_->last_seq;
  auto& backlog = memory_->backlog;
  for (auto& msg : b.messages) {
    memory_->last_seq = msg.seq;
    cfg_.stats->messages.fetch_add(1, std::memory_order_relaxed);
    v1::ServerFrame frame;
    to_proto(msg, *frame.mutable_message());
    broadcast(frame);
  }
  for (auto& ack : b.acks)
    ack.rp.deliver(ack.index < 0 ? before : b.messages[static_cast<size_t>(ack.index)].seq);
  // Keyed messages: remembered, and their repeats get the same seq.
  for (size_t i = 0; i < b.keys.size(); ++i) {
    auto& key = b.keys[i];
    if (key.empty())
      continue;
    auto seq = b.messages[i].seq;
    memory_->remember(key, seq);
    answer_repeats(key, seq);
  }
  for (auto& msg : b.messages)
    backlog.push_back(std::move(msg));
  while (backlog.size() > cfg_.backlog)
    backlog.pop_front();
}

void room_state::on_committed(uint64_t id, const std::string& error, seq_t store_last) {
  if (!in_flight_ || id != batch_id_)
    return;
  in_flight_ = false;
  auto b = std::move(current_);
  current_ = batch{};
  if (error.empty()) {
    apply(b);
  } else if (store_last == store::fenced) {
    // Another node took the room while this one could not renew its lease
    // (it hung, or was cut off): nothing of this batch is in, and nothing
    // more will be. Publishers are told to retry, members to join again
    // (they find the room where it is now).
    spdlog::warn("room {}: {}; stopping here, members join again", room_, error);
    auto why = make_error(errc::moved, "room " + room_ + ": " + error);
    for (auto& ack : b.acks)
      ack.rp.deliver(why);
    for (auto& ack : next_.acks)
      ack.rp.deliver(why);
    refuse_repeats(b, why);
    refuse_repeats(next_, why);
    next_ = batch{};
    self_->quit(why);
    return;
  } else if (store_last > 0) {
    // The store holds seqs this room did not give (an incarnation that
    // crashed with a commit in flight): go on after them, and send the
    // batch again. What the store has that this room never saw is read from
    // the store by whoever asks for it, not from the backlog.
    spdlog::warn("room {}: {}; continuing after seq {}", room_, error, store_last);
    memory_->last_seq = std::max(memory_->last_seq, store_last);
    memory_->backlog.clear();
    auto shift = static_cast<ptrdiff_t>(b.messages.size());
    for (auto& m : next_.messages)
      b.messages.push_back(std::move(m));
    for (auto& k : next_.keys)
      b.keys.push_back(std::move(k));
    for (auto& ack : next_.acks)
      b.acks.push_back({std::move(ack.rp), ack.index < 0 ? ack.index : ack.index + shift});
    next_ = std::move(b);
  } else {
    // Not committed: not delivered to anyone, not acknowledged.
    auto why = make_error(errc::store_unavailable, error);
    for (auto& ack : b.acks)
      ack.rp.deliver(why);
    refuse_repeats(b, why);
  }
  submit();
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
  // A behaviour speaks as a bot: its sender starts with '#', which no user
  // name can, so it never passes for a person (and a person never for it).
  for (auto& m : fx.messages)
    enqueue(m.sender.rfind('#', 0) == 0 ? m.sender : "#" + m.sender, m.text, m.body);
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
  if (find(req.member) || joining(req.member))
    return make_error(errc::already_member, room_);
  if (auto err = look_alike_of(req.user))
    return err;
  if (req.since && *req.since > memory_->last_seq)
    return make_error(errc::invalid_argument,
                      "since_seq " + std::to_string(*req.since) + " is past the latest seq of "
                        + room_ + " (" + std::to_string(memory_->last_seq)
                        + "): the room was reset or this is another room's seq; join without "
                          "since_seq");
  if (!behavior_) {
    if (!needs_older(req))
      return admit(req);
    auto rp = self_->make_response_promise<join_reply>();
    admit_after_read(req, rp);
    return rp;
  }
  auto rp = self_->make_response_promise<join_reply>();
  join_event ev{room_, req.user, static_cast<uint32_t>(members_.size())};
  self_->request(behavior_, cfg_.behavior_timeout, on_join_atom::value, std::move(ev))
    .await(
      [this, rp, req](join_verdict& v) mutable {
        if (!v.accept) {
          rp.deliver(make_error(errc::refused, v.reason));
          return;
        }
        if (needs_older(req))
          admit_after_read(req, rp);
        else
          rp.deliver(admit(req));
        publish_effects(v.effects);
        submit();
      },
      [this, rp](caf::error& err) mutable {
        rp.deliver(make_error(errc::behavior_failed, self_->system().render(err)));
      });
  return rp;
}

// The joiner is admitted when the page arrives (in `on_stored`), so its
// join reply is still the first thing of the room in its sink.
void room_state::admit_after_read(const join_request& req,
                                  caf::typed_response_promise<join_reply> rp) {
  auto id = ++read_id_;
  auto& pr = reads_[id];
  pr.is_join = true;
  pr.join = req;
  pr.join_rp = std::move(rp);
  read_page(id, *req.since, 0, cfg_.max_history);
}

// The newest `limit` messages in (after, before), read on the store's
// thread; the page comes back as `stored_atom` with `id`.
void room_state::read_page(uint64_t id, seq_t after, seq_t before, size_t limit) {
  auto addr = self_->address();
  cfg_.store->read(room_, after, before, limit, true,
                   [addr, id](store::page* p, const std::string& error) {
                     std::shared_ptr<const store::page> out;
                     if (p)
                       out = std::make_shared<store::page>(std::move(*p));
                     if (auto room = caf::actor_cast<caf::actor>(addr))
                       caf::anon_send(room, stored_atom::value, id, std::move(out), error);
                   });
}

bool room_state::on_leave(const member_id& member) {
  return remove(member);
}

caf::result<seq_t> room_state::on_publish(publish_request& req) {
  auto* m = find(req.member);
  if (!m)
    return make_error(errc::not_a_member, room_);
  // A retry of a keyed publish: the first one's seq, once it has one.
  // ('\x1f' cannot be in a user name: the key is the user's and the id's.)
  std::string key = req.id.empty() ? std::string{} : m->user + '\x1f' + req.id;
  if (!key.empty()) {
    if (auto k = memory_->keys.find(key); k != memory_->keys.end())
      return k->second;
    if (auto r = repeats_.find(key); r != repeats_.end()) {
      auto rp = self_->make_response_promise<seq_t>();
      r->second.push_back(rp);
      return rp;
    }
    repeats_[key]; // the first one is on its way
  }
  auto rp = self_->make_response_promise<seq_t>();
  if (!behavior_) {
    enqueue(m->user, std::move(req.text), std::move(req.body));
    next_.keys.back() = std::move(key);
    ack_last_queued(rp);
    submit();
    return rp;
  }
  publish_event ev{room_, m->user, std::move(req.text), std::move(req.body)};
  auto user = m->user;
  self_->request(behavior_, cfg_.behavior_timeout, on_publish_atom::value, ev)
    .await(
      [this, rp, ev, user, key](publish_verdict& v) mutable {
        switch (v.action) {
          case publish_action::pass:
            enqueue(user, ev.text, ev.body);
            next_.keys.back() = key;
            ack_last_queued(rp);
            break;
          case publish_action::transform:
            enqueue(user, std::move(v.text), std::move(v.body));
            next_.keys.back() = key;
            ack_last_queued(rp);
            break;
          case publish_action::reject: {
            auto why = make_error(errc::refused, v.reason);
            rp.deliver(why);
            settle_key(key, why);
            return;
          }
          case publish_action::answer:
            // Nothing of the member's is published: its ack carries the
            // room's seq after the answer. A repeat is asked to retry (it
            // is answered by the behaviour again).
            settle_key(key, make_error(errc::unavailable,
                                       std::string{"the first publish with this id was "
                                                   "answered, not stored: publish again"}));
            publish_effects(v.effects);
            ack_last_queued(rp);
            submit();
            return;
        }
        publish_effects(v.effects);
        submit();
      },
      [this, rp, key](caf::error& err) mutable {
        auto why = make_error(errc::behavior_failed, self_->system().render(err));
        rp.deliver(why);
        settle_key(key, why);
      });
  return rp;
}

caf::result<seq_t> room_state::on_notice(std::string& sender, std::string& text) {
  auto rp = self_->make_response_promise<seq_t>();
  enqueue(std::move(sender), std::move(text), {});
  ack_last_queued(rp);
  submit();
  return rp;
}

caf::result<history_reply> room_state::on_history(const history_request& req) {
  if (!cfg_.store)
    return history(req);
  // The backlog answers when it holds the whole range, or enough of its
  // newest end to fill the page.
  auto limit = req.limit == 0 ? cfg_.max_history : std::min<size_t>(req.limit, cfg_.max_history);
  auto& backlog = memory_->backlog;
  auto oldest_held = backlog.empty() ? memory_->last_seq + 1 : backlog.front().seq;
  auto highest = req.before == 0 ? memory_->last_seq : std::min(req.before - 1, memory_->last_seq);
  size_t held = 0;
  for (auto& m : backlog)
    if (m.seq > req.after && (req.before == 0 || m.seq < req.before))
      ++held;
  if (held >= limit || req.after + 1 >= oldest_held || highest < req.after + 1)
    return history(req);
  auto rp = self_->make_response_promise<history_reply>();
  auto id = ++read_id_;
  auto& pr = reads_[id];
  pr.history = req;
  pr.history_rp = rp;
  read_page(id, req.after, req.before, limit);
  return rp;
}

void room_state::on_stored(uint64_t id, const std::shared_ptr<const store::page>& p,
                           const std::string& error) {
  auto i = reads_.find(id);
  if (i == reads_.end())
    return;
  auto pr = std::move(i->second);
  reads_.erase(i);
  if (!p) {
    auto err = make_error(errc::store_unavailable, "cannot read history: " + error);
    if (pr.is_join)
      pr.join_rp.deliver(err);
    else
      pr.history_rp.deliver(err);
    return;
  }
  if (pr.is_join) {
    if (find(pr.join.member)) {
      pr.join_rp.deliver(make_error(errc::already_member, room_));
      return;
    }
    // Someone who looks the same may have come in during the read.
    if (auto err = look_alike_of(pr.join.user)) {
      pr.join_rp.deliver(std::move(err));
      return;
    }
    pr.join_rp.deliver(admit(pr.join, p.get()));
    return;
  }
  auto& req = pr.history;
  history_reply reply;
  reply.room = room_;
  for (auto& r : p->records)
    reply.messages.push_back(chat_message{room_, r.seq, r.sender, r.text, r.body, r.sent_ms});
  auto limit = req.limit == 0 ? cfg_.max_history : std::min<size_t>(req.limit, cfg_.max_history);
  bool limited = p->records.size() >= limit;
  auto lowest = req.after + 1;
  auto highest = req.before == 0 ? p->last_seq : std::min(req.before - 1, p->last_seq);
  reply.gap = !limited && lowest < p->oldest && lowest <= highest;
  pr.history_rp.deliver(std::move(reply));
}

void room_state::on_idle(uint64_t generation) {
  if (generation != idle_generation_ || !members_.empty())
    return;
  if (busy()) { // a commit or a read still to answer: not yet
    arm_idle_timer();
    return;
  }
  spdlog::debug("room {}: idle, stopping", room_);
  self_->quit();
}

void room_state::on_tick() {
  if (!behavior_)
    return;
  self_->request(behavior_, cfg_.behavior_timeout, on_tick_atom::value, tick_event{room_, ++ticks_})
    .await(
      [this](room_effects& fx) {
        publish_effects(fx);
        submit();
      },
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
    [self](history_atom, const history_request& req) { return self->state.on_history(req); },
    [self](presence_atom) { return self->state.presence(); },
    [self](summary_atom) { return self->state.summary(); },
    [self](notice_atom, std::string& sender, std::string& text) {
      return self->state.on_notice(sender, text);
    },
    [self](idle_atom, uint64_t generation) { self->state.on_idle(generation); },
    [self](tick_atom) { self->state.on_tick(); },
    [self](flush_atom) { self->state.flush_presence(); },
    [self](committed_atom, uint64_t id, const std::string& error, seq_t store_last) {
      self->state.on_committed(id, error, store_last);
    },
    [self](stored_atom, uint64_t id, const std::shared_ptr<const store::page>& p,
           const std::string& error) { self->state.on_stored(id, p, error); },
  };
}

} // namespace parley::actors
