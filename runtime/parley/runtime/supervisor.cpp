#include "parley/runtime/supervisor.hpp"

#include "parley/runtime/errc.hpp"
#include "parley/runtime/stats.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>
#include <caf/to_string.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

namespace parley::runtime {

supervisor_stats& supervisors() {
  static supervisor_stats instance;
  return instance;
}

std::string to_string(restart_type x) {
  switch (x) {
    case restart_type::permanent:
      return "permanent";
    case restart_type::transient:
      return "transient";
    case restart_type::temporary:
      return "temporary";
  }
  return "restart_type(?)";
}

std::string to_string(restart_strategy x) {
  switch (x) {
    case restart_strategy::one_for_one:
      return "one_for_one";
    case restart_strategy::one_for_all:
      return "one_for_all";
    case restart_strategy::rest_for_one:
      return "rest_for_one";
  }
  return "restart_strategy(?)";
}

bool is_normal_exit(const caf::error& reason) {
  // exit_reason::normal is code 0, i.e. an empty error.
  // A child whose work moved elsewhere (a room another node holds now) is
  // done: restarting it here would take the work back.
  return !reason || reason == caf::exit_reason::user_shutdown || is(reason, errc::moved);
}

// -- initialisation ---------------------------------------------------------------

void supervisor_state::init(supervisor_flags flags, std::vector<child_spec> specs) {
  flags_ = flags;
  self_->set_exit_handler([this](caf::exit_msg& msg) { on_exit_msg(msg); });
  self_->set_down_handler([this](caf::down_msg& msg) { on_down_msg(msg); });
  for (auto& spec : specs) {
    if (by_id_.count(spec.id) > 0) {
      shut_down(make_error(errc::duplicate_child, spec.id));
      return;
    }
    auto it = children_.insert(children_.end(), child{std::move(spec), {}, 0, 0});
    by_id_.emplace(it->spec.id, it);
    supervisors().children.fetch_add(1, std::memory_order_relaxed);
  }
  for (auto it = children_.begin(); it != children_.end(); ++it) {
    if (auto err = start(it)) {
      // OTP: a child that fails to start fails the supervisor's own start.
      spdlog::error("supervisor {}: child '{}' failed to start: {}", self_->id(),
                    it->spec.id, self_->system().render(err));
      shut_down(std::move(err));
      return;
    }
  }
}

caf::error supervisor_state::start(child_iter it) {
  caf::expected<caf::actor> res{caf::actor{}};
  try {
    res = it->spec.start(self_->system(), caf::actor_cast<supervisor_actor>(self_));
  } catch (const std::exception& e) {
    // A start function is user code; a throw is a failed start, not our crash.
    return make_error(errc::child_start_failed, it->spec.id, std::string{e.what()});
  }
  if (!res)
    return std::move(res.error());
  if (!*res)
    return make_error(errc::child_start_failed, it->spec.id,
                      std::string{"start returned an invalid handle"});
  it->handle = std::move(*res);
  by_addr_.emplace(it->handle.address(), it);
  // Monitoring an actor that already died delivers its down_msg at once.
  self_->monitor(it->handle);
  spdlog::debug("supervisor {}: started '{}' as actor {}", self_->id(), it->spec.id,
                it->handle.id());
  return caf::none;
}

// -- exits --------------------------------------------------------------------------

supervisor_state::~supervisor_state() {
  for (auto& c : children_)
    if (c.handle)
      caf::anon_send_exit(c.handle, caf::exit_reason::kill);
  supervisors().children.fetch_sub(static_cast<int64_t>(children_.size()),
                                   std::memory_order_relaxed);
}

void supervisor_state::on_exit_msg(caf::exit_msg& msg) {
  // A request to stop, from our parent or anyone else. As in CAF, a normal
  // exit_msg (a linked actor ending normally) does not concern us.
  if (msg.reason)
    shut_down(std::move(msg.reason));
}

void supervisor_state::on_down_msg(caf::down_msg& msg) {
  auto i = by_addr_.find(msg.source);
  if (i == by_addr_.end())
    return; // not one of ours, or a child we already forgot
  auto it = i->second;
  forget_handle(it);
  if (stopping_ && *stopping_ == it) {
    stopping_.reset();
    stop_next();
    return;
  }
  if (auto q = std::find(stop_queue_.begin(), stop_queue_.end(), it); q != stop_queue_.end()) {
    // It ended on its own while waiting to be stopped: nothing left to stop,
    // and the sequence's continuation decides what starts again.
    stop_queue_.erase(q);
    return;
  }
  if (shutting_down_)
    return;
  if (busy_) {
    deferred_.emplace_back([this, id = it->spec.id, reason = std::move(msg.reason)] {
      on_child_exit(id, reason);
    });
    return;
  }
  on_child_exit(it->spec.id, msg.reason);
}

void supervisor_state::on_child_exit(const std::string& id, const caf::error& reason) {
  auto it = by_id(id);
  if (it == children_.end() || it->handle)
    return; // removed, or already restarted by a sibling's restart
  auto& spec = it->spec;
  bool restart_it = spec.restart == restart_type::permanent
                    || (spec.restart == restart_type::transient && !is_normal_exit(reason));
  if (!restart_it) {
    spdlog::debug("supervisor {}: child '{}' ended ({}), not restarted", self_->id(), id,
                  self_->system().render(reason));
    if (spec.restart == restart_type::temporary || flags_.forget_ended)
      erase(it);
    return;
  }
  spdlog::warn("supervisor {}: child '{}' ended ({}), restarting ({})", self_->id(), id,
               self_->system().render(reason), to_string(flags_.strategy));
  if (!record_restart()) {
    supervisors().gave_up.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("supervisor {}: more than {} restarts in {} ms, giving up", self_->id(),
                  flags_.intensity,
                  std::chrono::duration_cast<std::chrono::milliseconds>(flags_.period).count());
    shut_down(make_error(errc::restart_intensity_exceeded, id));
    return;
  }
  // The children to stop (in reverse order) and then start again (in order).
  std::vector<child_iter> to_stop;
  std::vector<std::string> to_start;
  switch (flags_.strategy) {
    case restart_strategy::one_for_one:
      restart({id});
      return;
    case restart_strategy::one_for_all:
      for (auto j = children_.begin(); j != children_.end(); ++j) {
        if (j == it || j->handle)
          to_start.push_back(j->spec.id);
        if (j->handle)
          to_stop.push_back(j);
      }
      break;
    case restart_strategy::rest_for_one:
      for (auto j = it; j != children_.end(); ++j) {
        if (j == it || j->handle)
          to_start.push_back(j->spec.id);
        if (j->handle)
          to_stop.push_back(j);
      }
      break;
  }
  std::reverse(to_stop.begin(), to_stop.end());
  std::vector<std::string> stopped;
  for (auto j : to_stop)
    stopped.push_back(j->spec.id);
  stop_then(std::move(to_stop), [this, to_start, stopped] {
    // OTP drops temporary children that a sibling's failure stopped.
    for (auto& sid : stopped)
      if (auto j = by_id(sid); j != children_.end() && j->spec.restart == restart_type::temporary)
        erase(j);
    restart(to_start);
  });
}

bool supervisor_state::record_restart() {
  auto now = self_->clock().now();
  restart_times_.push_back(now);
  while (!restart_times_.empty() && now - restart_times_.front() > flags_.period)
    restart_times_.pop_front();
  return restart_times_.size() <= flags_.intensity;
}

void supervisor_state::restart(const std::vector<std::string>& ids) {
  for (auto& id : ids) {
    auto it = by_id(id);
    if (it == children_.end() || it->handle)
      continue;
    for (;;) {
      auto err = start(it);
      if (!err) {
        ++it->restarts;
        supervisors().restarts.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      // A failed restart counts against the intensity like a crash (OTP).
      spdlog::error("supervisor {}: restart of '{}' failed: {}", self_->id(), id,
                    self_->system().render(err));
      if (!record_restart()) {
        shut_down(make_error(errc::restart_intensity_exceeded, id));
        return;
      }
    }
  }
}

// -- requests -------------------------------------------------------------------

caf::result<caf::actor> supervisor_state::add_child(child_spec spec) {
  if (!busy_) {
    auto res = add_child_now(std::move(spec));
    if (!res)
      return std::move(res.error());
    return std::move(*res);
  }
  auto rp = self_->make_response_promise<caf::actor>();
  deferred_.emplace_back([this, rp, spec]() mutable {
    auto res = add_child_now(std::move(spec));
    if (res)
      rp.deliver(std::move(*res));
    else
      rp.deliver(std::move(res.error()));
  });
  return rp;
}

caf::expected<caf::actor> supervisor_state::add_child_now(child_spec spec) {
  if (shutting_down_)
    return make_error(errc::supervisor_stopping, spec.id);
  if (by_id_.count(spec.id) > 0)
    return make_error(errc::duplicate_child, spec.id);
  auto it = children_.insert(children_.end(), child{std::move(spec), {}, 0, 0});
  by_id_.emplace(it->spec.id, it);
  supervisors().children.fetch_add(1, std::memory_order_relaxed);
  if (auto err = start(it)) {
    erase(it);
    return err;
  }
  return it->handle;
}

caf::result<child_info> supervisor_state::remove_child(const std::string& id) {
  if (!busy_)
    return remove_child_now(id);
  auto rp = self_->make_response_promise<child_info>();
  deferred_.emplace_back([this, rp, id]() mutable { rp.delegate(caf::actor_cast<supervisor_actor>(self_), remove_child_atom::value, id); });
  return rp;
}

caf::result<child_info> supervisor_state::remove_child_now(const std::string& id) {
  if (shutting_down_)
    return make_error(errc::supervisor_stopping, id);
  auto it = by_id(id);
  if (it == children_.end())
    return make_error(errc::unknown_child, id);
  if (!it->handle) {
    auto result = info(*it);
    erase(it);
    return result;
  }
  auto rp = self_->make_response_promise<child_info>();
  stop_then({it}, [this, rp, id]() mutable {
    auto j = by_id(id);
    if (j == children_.end()) {
      rp.deliver(make_error(errc::unknown_child, id));
      return;
    }
    auto result = info(*j);
    erase(j);
    rp.deliver(std::move(result));
  });
  return rp;
}

caf::result<caf::actor> supervisor_state::find_child(const std::string& id) {
  auto it = by_id(id);
  if (it == children_.end())
    return make_error(errc::unknown_child, id);
  return it->handle;
}

supervisor_report supervisor_state::describe() const {
  supervisor_report report;
  report.strategy = flags_.strategy;
  for (auto& c : children_)
    report.children.push_back(info(c));
  report.recent_restarts = restart_times_.size();
  return report;
}

child_info supervisor_state::info(const child& c) const {
  return child_info{c.spec.id, c.spec.restart, static_cast<bool>(c.handle), c.restarts,
                    c.handle};
}

supervisor_state::child_iter supervisor_state::by_id(const std::string& id) {
  auto i = by_id_.find(id);
  return i == by_id_.end() ? children_.end() : i->second;
}

// -- behaviour ----------------------------------------------------------------------

supervisor_actor::behavior_type supervisor_impl(supervisor_state::pointer self,
                                                supervisor_flags flags,
                                                std::vector<child_spec> specs) {
  self->state.init(flags, std::move(specs));
  return {
    [self](add_child_atom, child_spec& spec) -> caf::result<caf::actor> {
      return self->state.add_child(std::move(spec));
    },
    [self](remove_child_atom, const std::string& id) -> caf::result<child_info> {
      return self->state.remove_child(id);
    },
    [self](find_child_atom, const std::string& id) -> caf::result<caf::actor> {
      return self->state.find_child(id);
    },
    [self](describe_atom) -> supervisor_report { return self->state.describe(); },
    [self](kill_child_atom, const std::string& id, uint64_t generation) {
      self->state.on_kill_timeout(id, generation);
    },
  };
}

supervisor_actor spawn_supervisor(caf::actor_system& sys, supervisor_flags flags,
                                  std::vector<child_spec> specs) {
  return sys.spawn(supervisor_impl, flags, std::move(specs));
}

child_spec supervisor_child(std::string id, supervisor_flags flags,
                            std::vector<child_spec> specs) {
  child_spec result;
  result.id = std::move(id);
  result.start = [flags, specs](caf::actor_system& sys,
                                const supervisor_actor&) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(sys.spawn(supervisor_impl, flags, specs));
  };
  result.restart = restart_type::permanent;
  result.shutdown = infinite_shutdown;
  return result;
}

} // namespace parley::runtime
