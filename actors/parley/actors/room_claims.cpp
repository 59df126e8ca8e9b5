// The rooms directory in a cluster: which node runs a room (placement and the
// claim protocol that keeps a room from starting on two nodes), relays to
// rooms on other nodes, and the seeds that carry a room's seq and backlog to
// its next node. See docs/cluster.md, "Two live copies of a room".

#include "parley/actors/internal/directory.hpp"
#include "parley/actors/placement.hpp"
#include "parley/runtime/cluster.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/runtime/supervisor.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>

#include <spdlog/spdlog.h>

namespace parley::actors::internal {

using runtime::errc;

std::string directory_name(const std::string& node) {
  return "rooms@" + node;
}

// The nodes a room may be placed on: the agent's view, and the nodes heard
// of recently through their questions.
std::vector<std::string> view(directory_pointer self) {
  auto& st = self->state;
  std::set<std::string> all = st.nodes;
  auto now = self->clock().now();
  for (auto i = st.heard_of.begin(); i != st.heard_of.end();) {
    if (now - i->second > st.cfg.cluster_timeout * 5) {
      i = st.heard_of.erase(i);
      continue;
    }
    all.insert(i->first);
    ++i;
  }
  return {all.begin(), all.end()};
}

// Runs `then` with the directory of `node`, found through the cluster's
// names (registered by each node's rooms subtree).
void with_peer(directory_pointer self, const std::string& node,
               std::function<void(rooms_actor&)> then, std::function<void(caf::error)> fail) {
  auto& st = self->state;
  if (auto i = st.peers.find(node); i != st.peers.end()) {
    then(i->second);
    return;
  }
  auto agent = runtime::find_agent(self->system());
  if (!agent) {
    fail(runtime::make_error(errc::unavailable, std::string{"no cluster agent"}));
    return;
  }
  auto wait = st.cfg.cluster_timeout;
  self->request(agent, wait + wait, runtime::whereis_atom::value, directory_name(node), wait)
    .then(
      [self, node, then, fail](runtime::name_entry& entry) mutable {
        auto dir = caf::actor_cast<rooms_actor>(entry.actor);
        if (!dir) {
          fail(runtime::make_error(errc::unavailable, "no rooms on node '" + node + "'"));
          return;
        }
        self->state.peers[node] = dir;
        then(dir);
      },
      [node, fail](caf::error&) mutable {
        fail(runtime::make_error(errc::unavailable,
                                 "node '" + node + "' runs no rooms (yet); retry"));
      });
}

// Runs a relay for the room `room` that lives on `owner`, then settles.
void start_relay(directory_pointer self, const std::string& name, const std::string& owner,
                 room_actor room) {
  auto& st = self->state;
  relay_config rcfg;
  rcfg.room = name;
  rcfg.owner = std::move(room);
  rcfg.owner_node = owner;
  rcfg.idle_timeout = st.cfg.room.idle_timeout;
  rcfg.stats = st.cfg.room.stats;
  rcfg.backlog = st.cfg.room.backlog;
  runtime::child_spec spec;
  // '/' is not allowed in room names: no room has this id.
  spec.id = "relay/" + name;
  spec.restart = runtime::restart_type::temporary;
  spec.start = [rcfg, stats = st.cfg.relays](caf::actor_system& sys,
                                             const runtime::supervisor_actor&)
    -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(sys.spawn(relay_impl, rcfg, stats));
  };
  // Already running if this directory restarted under it.
  start_child(self, name, std::move(spec),
              [self, name, owner] { self->state.relayed[name] = owner; });
}

// What this node knows of a room it does not run (from a relay of it).
room_seed seed_of(directory_pointer self, const std::string& name) {
  room_seed seed;
  auto& st = self->state;
  if (auto i = st.memory.find(name); i != st.memory.end() && i->second) {
    seed.last_seq = i->second->last_seq;
    seed.backlog.assign(i->second->backlog.begin(), i->second->backlog.end());
  }
  return seed;
}

// Takes a seed for a room that does not run here, if it is newer than what
// this node remembers of it.
void adopt(directory_pointer self, const std::string& name, room_seed& seed) {
  auto& st = self->state;
  if (seed.last_seq == 0)
    return;
  if (auto i = st.live.find(name); i != st.live.end() && st.relayed.count(name) == 0)
    return; // running here: its memory is its own
  auto& mem = st.memory[name];
  if (!mem)
    mem = std::make_shared<room_memory>();
  if (seed.last_seq <= mem->last_seq)
    return;
  mem->last_seq = seed.last_seq;
  mem->backlog.assign(std::make_move_iterator(seed.backlog.begin()),
                      std::make_move_iterator(seed.backlog.end()));
}

// The room lives on `owner` (or is to start there): ask that node for it
// and relay it here.
void lookup_remote(directory_pointer self, const std::string& name, const std::string& owner) {
  auto fail = [self, name](caf::error err) { settle(self, name, err); };
  auto timeout = sup_timeout;
  with_peer(
    self, owner,
    [self, name, owner, fail, timeout](rooms_actor& peer) {
      self->request(peer, timeout, owned_atom::value, name, seed_of(self, name))
        .then([self, name, owner](room_actor& room) { start_relay(self, name, owner, room); },
              [self, owner, fail](caf::error& err) {
                if (err == caf::sec::request_receiver_down || err == caf::sec::request_timeout)
                  self->state.peers.erase(owner); // found again next time
                fail(std::move(err));
              });
    },
    fail);
}

void decide_claim(directory_pointer self, const std::string& name) {
  auto& st = self->state;
  auto i = st.claims.find(name);
  if (i == st.claims.end() || i->second.waiting > 0)
    return;
  auto c = std::move(i->second);
  st.claims.erase(i);
  if (c.found) {
    // Already live elsewhere (it started there before this node knew of
    // that node): it stays where it is.
    start_relay(self, name, c.found_on, c.found);
  } else if (c.failed) {
    settle(self, name,
           runtime::make_error(errc::unavailable,
                               "room " + name + ": placement not confirmed by every node; retry"));
  } else if (!c.yield_to.empty()) {
    lookup_remote(self, name, c.yield_to);
  } else {
    start_local(self, name);
  }
}

void ask_hosting(directory_pointer self, const std::string& name, const std::string& node) {
  auto answered = [self, name](auto&& update) {
    auto i = self->state.claims.find(name);
    if (i == self->state.claims.end())
      return;
    update(i->second);
    --i->second.waiting;
    decide_claim(self, name);
  };
  auto failed = [self, node, answered](caf::error) {
    // Asked again next time: its directory may have restarted.
    self->state.peers.erase(node);
    answered([](auto& c) { c.failed = true; });
  };
  auto timeout = self->state.cfg.cluster_timeout;
  with_peer(
    self, node,
    [self, name, node, answered, failed, timeout](rooms_actor& peer) {
      self->request(peer, timeout, hosting_atom::value, name, self->state.cfg.node)
        .then(
          [self, name, node, answered](uint8_t standing, room_actor& room) {
            answered([&](auto& c) {
              auto s = static_cast<room_standing>(standing);
              if (s == room_standing::live && room) {
                c.found = room;
                c.found_on = node;
              } else if (s == room_standing::claiming
                         && outranks(node, self->state.cfg.node, name)
                         && (c.yield_to.empty() || outranks(node, c.yield_to, name))) {
                c.yield_to = node;
              }
            });
          },
          failed);
    },
    failed);
}

// This node owns the room in its view. Before starting it, every other
// node is asked whether it hosts it (a room live on a node this one just
// learned of stays there) or is starting it too (the one that ranks
// higher for the room goes ahead). A node that is asked while claiming
// asks the asker back, so two claimers always hear of each other.
void claim(directory_pointer self, const std::string& name) {
  auto& st = self->state;
  std::vector<std::string> others;
  for (auto& n : view(self))
    if (n != st.cfg.node)
      others.push_back(n);
  if (others.empty()) {
    start_local(self, name);
    return;
  }
  auto& c = st.claims[name];
  c.asked.insert(others.begin(), others.end());
  c.waiting = others.size();
  for (auto& n : others)
    ask_hosting(self, name, n);
}

void resolve_in_cluster(directory_pointer self, const std::string& name) {
  auto& st = self->state;
  auto owner = place(name, view(self));
  if (owner == st.cfg.node)
    claim(self, name);
  else
    lookup_remote(self, name, owner);
}

// Another node asks for a room it believes this node owns, with what it
// knows of the room.
caf::result<room_actor> owned(directory_pointer self, const std::string& name,
                              room_seed& seed) {
  auto& st = self->state;
  if (auto err = validate_room_name(name, st.cfg.max_room_name))
    return err;
  adopt(self, name, seed);
  if (auto i = st.live.find(name); i != st.live.end()) {
    if (st.relayed.count(name) == 0)
      return i->second;
    return runtime::make_error(errc::unavailable, "room " + name + " lives on node '"
                                                    + st.relayed[name] + "', not here");
  }
  if (st.cfg.node.empty())
    return runtime::make_error(errc::unavailable, std::string{"this node is not in a cluster"});
  auto owner = place(name, view(self));
  if (owner != st.cfg.node)
    return runtime::make_error(errc::unavailable, "room " + name + " belongs to node '" + owner
                                                    + "' as this node sees the cluster");
  auto rp = self->make_response_promise<room_actor>();
  auto& waiters = st.pending[name];
  waiters.push_back(rp);
  if (waiters.size() == 1)
    claim(self, name);
  return rp;
}

caf::result<uint8_t, room_actor> hosting(directory_pointer self, const std::string& name,
                                          const std::string& asker) {
  auto& st = self->state;
  using result = caf::result<uint8_t, room_actor>;
  // The asker runs rooms and is alive, even if the agent has not said so
  // yet: a claim of this node must ask it too.
  if (asker != st.cfg.node && st.nodes.count(asker) == 0)
    st.heard_of[asker] = self->clock().now();
  if (auto i = st.live.find(name); i != st.live.end() && st.relayed.count(name) == 0)
    return result{static_cast<uint8_t>(room_standing::live), i->second};
  if (auto i = st.claims.find(name); i != st.claims.end()) {
    auto& c = i->second;
    if (c.asked.insert(asker).second) {
      ++c.waiting;
      ask_hosting(self, name, asker);
    }
    return result{static_cast<uint8_t>(room_standing::claiming), room_actor{}};
  }
  return result{static_cast<uint8_t>(room_standing::none), room_actor{}};
}

} // namespace parley::actors::internal
