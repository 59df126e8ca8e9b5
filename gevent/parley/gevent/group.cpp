#include "parley/gevent/group.hpp"

#include "parley/gevent/timeout.hpp"
#include "parley/runtime/errc.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>

namespace parley::gevent {

using runtime::errc;

group_state::~group_state() {
  for (auto& [addr, member] : members_)
    caf::anon_send_exit(member, caf::exit_reason::user_shutdown);
}

caf::result<uint64_t> group_state::add(const caf::actor& x) {
  if (!x)
    return runtime::make_error(errc::invalid_argument,
                               std::string{"cannot add an invalid handle to a group"});
  if (members_.emplace(x.address(), x).second)
    self_->monitor(x);
  return static_cast<uint64_t>(members_.size());
}

uint64_t group_state::discard(const caf::actor& x) {
  if (x && members_.erase(x.address()) > 0) {
    self_->demonitor(x);
    stopping_.erase(x.address());
    settle();
  }
  return members_.size();
}

caf::result<uint64_t> group_state::join() {
  if (members_.empty())
    return uint64_t{0};
  auto rp = self_->make_response_promise<uint64_t>();
  joins_.emplace_back(rp, ended_);
  return rp;
}

caf::result<uint64_t> group_state::stop() {
  auto rp = self_->make_response_promise<uint64_t>();
  stops_.push_back(rp);
  // A stop while another is under way joins it and adds the members that
  // came since.
  bool fresh_round = stopping_.empty();
  if (fresh_round) {
    ++round_;
    stopped_in_round_ = 0;
  }
  for (auto& [addr, member] : members_) {
    if (stopping_.insert(addr).second) {
      ++stopped_in_round_;
      if (shutdown_ == caf::timespan{0})
        self_->send_exit(member, caf::exit_reason::kill);
      else
        self_->send_exit(member, caf::exit_reason::user_shutdown);
    }
  }
  if (fresh_round && !stopping_.empty() && shutdown_ > caf::timespan{0})
    self_->delayed_send(self_, shutdown_, expire_atom::value, round_);
  settle();
  return rp;
}

void group_state::expire(uint64_t round) {
  if (round != round_)
    return;
  for (auto& addr : stopping_) {
    auto i = members_.find(addr);
    if (i != members_.end())
      self_->send_exit(i->second, caf::exit_reason::kill);
  }
}

void group_state::on_down(const caf::down_msg& msg) {
  if (members_.erase(msg.source) == 0)
    return;
  ++ended_;
  stopping_.erase(msg.source);
  settle();
}

void group_state::settle() {
  if (stopping_.empty() && !stops_.empty()) {
    for (auto& rp : stops_)
      rp.deliver(stopped_in_round_);
    stops_.clear();
    // A kill timer still pending for this round must do nothing.
    ++round_;
  }
  if (members_.empty() && !joins_.empty()) {
    for (auto& [rp, ended_before] : joins_)
      rp.deliver(ended_ - ended_before);
    joins_.clear();
  }
}

group_actor::behavior_type group_impl(group_state::pointer self, caf::timespan shutdown) {
  self->state.init(shutdown);
  self->set_down_handler([self](caf::down_msg& msg) { self->state.on_down(msg); });
  return {
    [self](add_atom, const caf::actor& x) { return self->state.add(x); },
    [self](discard_atom, const caf::actor& x) { return self->state.discard(x); },
    [self](size_atom) { return static_cast<uint64_t>(self->state.size()); },
    [self](join_atom) { return self->state.join(); },
    [self](stop_atom) { return self->state.stop(); },
    [self](expire_atom, uint64_t round) { self->state.expire(round); },
  };
}

caf::expected<group_actor> spawn_group(caf::actor_system& sys, caf::timespan shutdown) {
  if (shutdown < caf::timespan{0})
    return runtime::make_error(errc::invalid_argument,
                               "negative group shutdown timeout " + to_text(shutdown));
  return sys.spawn(group_impl, shutdown);
}

} // namespace parley::gevent
