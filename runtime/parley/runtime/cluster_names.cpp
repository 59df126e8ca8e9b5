// The cluster's name registry: each node agent keeps every name of the
// cluster, announces its own names to the others, and answers `whereis`,
// waiting for a name that is not there (or not reachable) yet.

#include "parley/runtime/internal/agent.hpp"

#include "parley/runtime/errc.hpp"

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <spdlog/spdlog.h>

namespace parley::runtime {

namespace internal {

// A name is answered once its node is this one or a member: an actor of a
// node known only through a third one is reached over that node, and CAF
// drops such proxies when a direct link to their node fails to come up.
// (Its BASP gives a new outgoing connection a last-seen time of zero, so a
// heartbeat tick that comes before the peer's handshake closes it.)
bool agent_state::reachable(const name_entry& entry) {
  return entry.node == self.name || members.count(entry.node) > 0;
}

caf::result<bool> agent_state::on_register(const std::string& name,
                              caf::strong_actor_ptr& actor) {
  if (name.empty() || name.size() > 255)
    return make_error(errc::invalid_argument, std::string{"a name has 1 to 255 bytes"});
  if (!actor || actor->node() != self_->node())
    return make_error(errc::invalid_argument,
                      "'" + name + "': only an actor of this node can be registered here");
  if (auto i = names.find(name); i != names.end()) {
    if (i->second.actor == actor)
      return true;
    return make_error(errc::name_taken, "the name '" + name + "' is held by an actor on '"
                                          + i->second.node + "'");
  }
  name_entry entry{name, actor, actor->get()->message_types(), self.name};
  for (auto& kv : members)
    self_->send(kv.second.agent, announce_atom::value, entry);
  learn(std::move(entry));
  return true;
}

void agent_state::fulfil_waiters(const name_entry& entry) {
  if (!reachable(entry))
    return;
  auto i = waiting.find(entry.name);
  if (i == waiting.end())
    return;
  for (auto& w : i->second)
    w.rp.deliver(entry);
  waiting.erase(i);
}

/// Adds or replaces a name; on a conflict between two nodes, the entry of
/// the node whose name sorts first wins on every node.
void agent_state::learn(name_entry entry) {
  if (!entry.actor)
    return;
  if (auto i = names.find(entry.name); i != names.end()) {
    if (i->second.actor == entry.actor)
      return;
    if (i->second.node <= entry.node) {
      spdlog::warn("cluster: name '{}' registered on '{}' and '{}'; '{}' keeps it", entry.name,
                   i->second.node, entry.node, i->second.node);
      return;
    }
  }
  self_->monitor(entry.actor);
  auto copy = entry;
  names[entry.name] = std::move(entry);
  update_gauges();
  fulfil_waiters(copy);
}

std::vector<name_entry> agent_state::all_names() {
  std::vector<name_entry> result;
  result.reserve(names.size());
  for (auto& kv : names)
    result.push_back(kv.second);
  return result;
}

std::vector<name_entry> agent_state::local_names() {
  std::vector<name_entry> result;
  for (auto& kv : names)
    if (kv.second.node == self.name)
      result.push_back(kv.second);
  return result;
}

caf::result<bool> agent_state::on_register_logged(const std::string& name,
                                     caf::strong_actor_ptr& actor) {
  auto result = on_register(name, actor);
  if (result.flag == caf::rt_error)
    spdlog::warn("cluster: cannot register '{}': {}", name, reason(result.err));
  else
    spdlog::debug("cluster: registered '{}'", name);
  return result;
}

caf::result<name_entry> agent_state::on_whereis(const std::string& name,
                                   caf::timespan wait) {
  if (auto i = names.find(name); i != names.end() && (reachable(i->second)
                                                            || wait.count() <= 0))
    return i->second;
  if (wait.count() <= 0)
    return make_error(errc::not_found, "nothing is registered as '" + name + "'");
  auto rp = self_->make_response_promise<name_entry>();
  auto id = ++next_waiter;
  waiting[name].push_back(waiter{id, rp});
  self_->delayed_send(self_, wait, timeout_atom::value, name, id);
  return rp;
}

void agent_state::on_waiter_timeout(const std::string& name, uint64_t id) {
  auto i = waiting.find(name);
  if (i == waiting.end())
    return;
  auto& list = i->second;
  for (auto j = list.begin(); j != list.end(); ++j)
    if (j->id == id) {
      // Known but its node not linked yet: better the entry than nothing.
      if (auto e = names.find(name); e != names.end())
        j->rp.deliver(e->second);
      else
        j->rp.deliver(make_error(errc::not_found, "nothing is registered as '" + name + "'"));
      list.erase(j);
      break;
    }
  if (list.empty())
    waiting.erase(i);
}

void agent_state::retract(const std::string& name, const std::string& node) {
  if (auto i = names.find(name); i != names.end() && i->second.node == node) {
    names.erase(i);
    update_gauges();
  }
}

bool agent_state::forget_actor(const caf::actor_addr& source) {
  for (auto i = names.begin(); i != names.end(); ++i)
    if (i->second.actor && i->second.actor->address() == source) {
      names.erase(i);
      update_gauges();
      return true;
    }
  return false;
}

} // namespace internal

caf::error register_name(caf::actor_system& sys, const std::string& name,
                         caf::strong_actor_ptr actor, caf::timespan timeout) {
  auto agent = find_agent(sys);
  if (!agent)
    return make_error(errc::unavailable, std::string{"this node is not in a cluster"});
  caf::error result;
  caf::scoped_actor self{sys};
  self->request(agent, timeout, register_atom::value, name, std::move(actor))
    .receive([](bool) {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

bool register_name_async(caf::actor_system& sys, const std::string& name,
                         caf::strong_actor_ptr actor) {
  auto agent = find_agent(sys);
  if (!agent)
    return false;
  caf::anon_send(agent, register_atom::value, name, std::move(actor));
  return true;
}

caf::expected<name_entry> whereis(caf::actor_system& sys, const std::string& name,
                                  caf::timespan timeout) {
  auto agent = find_agent(sys);
  if (!agent)
    return make_error(errc::unavailable, std::string{"this node is not in a cluster"});
  caf::expected<name_entry> result{name_entry{}};
  caf::scoped_actor self{sys};
  // The agent answers within `timeout`; the request allows it a second more.
  self->request(agent, timeout + std::chrono::seconds(1), whereis_atom::value, name, timeout)
    .receive([&](name_entry& entry) { result = std::move(entry); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace parley::runtime
