// The rooms directory in a cluster: which node runs a room (placement and the
// claim protocol that keeps a room from starting on two nodes), relays to
// rooms on other nodes, and the seeds that carry a room's seq and backlog to
// its next node. See docs/cluster.md, "Two live copies of a room".

#include "parley/actors/rooms_directory.hpp"
#include "parley/actors/placement.hpp"
#include "parley/runtime/cluster.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/runtime/supervisor.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>

#include <spdlog/spdlog.h>

namespace parley::actors {

using runtime::errc;

std::string directory_name(const std::string& node) {
  return "rooms@" + node;
}

// The nodes a room may be placed on: the agent's view, and the nodes heard
// of recently through their questions.
std::vector<std::string> rooms_directory_state::view() {
  std::set<std::string> all = nodes;
  auto now = self_->clock().now();
  for (auto i = heard_of.begin(); i != heard_of.end();) {
    if (now - i->second > cfg.cluster_timeout * 5) {
      i = heard_of.erase(i);
      continue;
    }
    all.insert(i->first);
    ++i;
  }
  return {all.begin(), all.end()};
}

// Runs `then` with the directory of `node`, found through the cluster's
// names (registered by each node's rooms subtree).
void rooms_directory_state::with_peer(const std::string& node,
               std::function<void(rooms_actor&)> then, std::function<void(caf::error)> fail) {
  if (auto i = peers.find(node); i != peers.end()) {
    then(i->second);
    return;
  }
  auto agent = runtime::find_agent(self_->system());
  if (!agent) {
    fail(runtime::make_error(errc::unavailable, std::string{"no cluster agent"}));
    return;
  }
  auto wait = cfg.cluster_timeout;
  self_->request(agent, wait + wait, runtime::whereis_atom::value, directory_name(node), wait)
    .then(
      [this, node, then, fail](runtime::name_entry& entry) mutable {
        auto dir = caf::actor_cast<rooms_actor>(entry.actor);
        if (!dir) {
          fail(runtime::make_error(errc::unavailable, "no rooms on node '" + node + "'"));
          return;
        }
        peers[node] = dir;
        then(dir);
      },
      [node, fail](caf::error&) mutable {
        fail(runtime::make_error(errc::unavailable,
                                 "node '" + node + "' runs no rooms (yet); retry"));
      });
}

// Runs a relay for the room `room` that lives on `owner`, then settles.
void rooms_directory_state::start_relay(const std::string& name, const std::string& owner,
                 room_actor room) {
  relay_config rcfg;
  rcfg.room = name;
  rcfg.owner = std::move(room);
  rcfg.owner_node = owner;
  rcfg.idle_timeout = cfg.room.idle_timeout;
  rcfg.stats = cfg.room.stats;
  rcfg.backlog = cfg.room.backlog;
  runtime::child_spec spec;
  // '/' is not allowed in room names: no room has this id.
  spec.id = "relay/" + name;
  spec.restart = runtime::restart_type::temporary;
  spec.start = [rcfg, stats = cfg.relays](caf::actor_system& sys,
                                             const runtime::supervisor_actor&)
    -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(sys.spawn(relay_impl, rcfg, stats));
  };
  // Already running if this directory restarted under it.
  start_child(name, std::move(spec),
              [this, name, owner] { relayed[name] = owner; });
}

// What this node knows of a room it does not run (from a relay of it).
room_seed rooms_directory_state::seed_of(const std::string& name) {
  room_seed seed;
  if (auto i = memory.find(name); i != memory.end() && i->second) {
    seed.last_seq = i->second->last_seq;
    seed.backlog.assign(i->second->backlog.begin(), i->second->backlog.end());
  }
  return seed;
}

// Takes a seed for a room that does not run here, if it is newer than what
// this node remembers of it.
void rooms_directory_state::adopt(const std::string& name, room_seed& seed) {
  if (seed.last_seq == 0)
    return;
  if (auto i = live.find(name); i != live.end() && relayed.count(name) == 0)
    return; // running here: its memory is its own
  auto& mem = memory[name];
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
void rooms_directory_state::lookup_remote(const std::string& name, const std::string& owner) {
  auto fail = [this, name](caf::error err) { settle(name, err); };
  auto timeout = sup_timeout;
  with_peer(owner,
    [this, name, owner, fail, timeout](rooms_actor& peer) {
      self_->request(peer, timeout, owned_atom::value, name, seed_of(name))
        .then([this, name, owner](room_actor& room) { start_relay(name, owner, room); },
              [this, owner, fail](caf::error& err) {
                if (err == caf::sec::request_receiver_down || err == caf::sec::request_timeout)
                  peers.erase(owner); // found again next time
                fail(std::move(err));
              });
    },
    fail);
}

void rooms_directory_state::decide_claim(const std::string& name) {
  auto i = claims.find(name);
  if (i == claims.end() || i->second.waiting > 0)
    return;
  auto c = std::move(i->second);
  claims.erase(i);
  if (c.found) {
    // Already live elsewhere (it started there before this node knew of
    // that node): it stays where it is.
    start_relay(name, c.found_on, c.found);
  } else if (c.failed) {
    settle(name,
           runtime::make_error(errc::unavailable,
                               "room " + name + ": placement not confirmed by every node; retry"));
  } else if (!c.yield_to.empty()) {
    lookup_remote(name, c.yield_to);
  } else {
    start_local(name);
  }
}

void rooms_directory_state::ask_hosting(const std::string& name, const std::string& node) {
  auto answered = [this, name](auto&& update) {
    auto i = claims.find(name);
    if (i == claims.end())
      return;
    update(i->second);
    --i->second.waiting;
    decide_claim(name);
  };
  auto failed = [this, node, answered](caf::error) {
    // Asked again next time: its directory may have restarted.
    peers.erase(node);
    answered([](auto& c) { c.failed = true; });
  };
  auto timeout = cfg.cluster_timeout;
  with_peer(node,
    [this, name, node, answered, failed, timeout](rooms_actor& peer) {
      self_->request(peer, timeout, hosting_atom::value, name, cfg.node)
        .then(
          [this, name, node, answered](uint8_t standing, room_actor& room) {
            answered([&](auto& c) {
              auto s = static_cast<room_standing>(standing);
              if (s == room_standing::live && room) {
                c.found = room;
                c.found_on = node;
              } else if (s == room_standing::claiming
                         && outranks(node, cfg.node, name)
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
void rooms_directory_state::claim(const std::string& name) {
  std::vector<std::string> others;
  for (auto& n : view())
    if (n != cfg.node)
      others.push_back(n);
  if (others.empty()) {
    start_local(name);
    return;
  }
  auto& c = claims[name];
  c.asked.insert(others.begin(), others.end());
  c.waiting = others.size();
  for (auto& n : others)
    ask_hosting(name, n);
}

void rooms_directory_state::resolve_in_cluster(const std::string& name) {
  auto owner = place(name, view());
  if (owner == cfg.node)
    claim(name);
  else
    lookup_remote(name, owner);
}

// Another node asks for a room it believes this node owns, with what it
// knows of the room.
caf::result<room_actor> rooms_directory_state::owned(const std::string& name,
                              room_seed& seed) {
  if (auto err = validate_room_name(name, cfg.max_room_name))
    return err;
  adopt(name, seed);
  if (auto i = live.find(name); i != live.end()) {
    if (relayed.count(name) == 0)
      return i->second;
    return runtime::make_error(errc::unavailable, "room " + name + " lives on node '"
                                                    + relayed[name] + "', not here");
  }
  if (cfg.node.empty())
    return runtime::make_error(errc::unavailable, std::string{"this node is not in a cluster"});
  auto owner = place(name, view());
  if (owner != cfg.node)
    return runtime::make_error(errc::unavailable, "room " + name + " belongs to node '" + owner
                                                    + "' as this node sees the cluster");
  auto rp = self_->make_response_promise<room_actor>();
  auto& waiters = pending[name];
  waiters.push_back(rp);
  if (waiters.size() == 1)
    claim(name);
  return rp;
}

caf::result<uint8_t, room_actor> rooms_directory_state::hosting(const std::string& name,
                                          const std::string& asker) {
  using result = caf::result<uint8_t, room_actor>;
  // The asker runs rooms and is alive, even if the agent has not said so
  // yet: a claim of this node must ask it too.
  if (asker != cfg.node && nodes.count(asker) == 0)
    heard_of[asker] = self_->clock().now();
  if (auto i = live.find(name); i != live.end() && relayed.count(name) == 0)
    return result{static_cast<uint8_t>(room_standing::live), i->second};
  if (auto i = claims.find(name); i != claims.end()) {
    auto& c = i->second;
    if (c.asked.insert(asker).second) {
      ++c.waiting;
      ask_hosting(name, asker);
    }
    return result{static_cast<uint8_t>(room_standing::claiming), room_actor{}};
  }
  return result{static_cast<uint8_t>(room_standing::none), room_actor{}};
}

} // namespace parley::actors
