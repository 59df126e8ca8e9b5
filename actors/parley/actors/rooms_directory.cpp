#include "parley/actors/rooms_directory.hpp"

#include "parley/actors/placement.hpp"
#include "parley/runtime/cluster.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/runtime/supervisor.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_response_promise.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace parley::actors {

using runtime::errc;

namespace {

constexpr caf::timespan sup_timeout = std::chrono::seconds(10);
constexpr caf::timespan list_timeout = std::chrono::seconds(2);

using directory_pointer = rooms_actor::stateful_pointer<rooms_directory_state>;

runtime::child_spec room_spec(const rooms_config& cfg, const std::string& name,
                              std::shared_ptr<room_memory> memory) {
  room_behavior_rule rule;
  for (auto& r : cfg.behaviors)
    if (name.compare(0, r.prefix.size(), r.prefix) == 0) {
      rule = r;
      break;
    }
  runtime::child_spec spec;
  spec.id = name;
  spec.restart = runtime::restart_type::transient;
  spec.shutdown = std::chrono::seconds(5);
  spec.start = [room_cfg = cfg.room, name, memory,
                rule](caf::actor_system& sys,
                      const runtime::supervisor_actor&) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(sys.spawn(room_impl, name, room_cfg, memory, rule));
  };
  return spec;
}

void remember(directory_pointer self, const std::string& name, const caf::actor& handle) {
  auto& st = self->state;
  auto room = caf::actor_cast<room_actor>(handle);
  auto& slot = st.live[name];
  if (slot == room)
    return;
  slot = room;
  st.names[room.address()] = name;
  self->monitor(room);
}

// Runs `then` with the rooms supervisor, looking it up once.
template <class Then, class Fail>
void with_room_sup(directory_pointer self, Then then, Fail fail) {
  auto& st = self->state;
  if (st.room_sup) {
    then(st.room_sup);
    return;
  }
  auto parent = caf::actor_cast<runtime::supervisor_actor>(st.parent);
  if (!parent) {
    fail(runtime::make_error(errc::unavailable, std::string{"the rooms supervisor is gone"}));
    return;
  }
  self->request(parent, sup_timeout, runtime::find_child_atom::value, std::string{"room-sup"})
    .then(
      [self, then, fail](caf::actor& found) mutable {
        auto sup = caf::actor_cast<runtime::supervisor_actor>(found);
        if (!sup) {
          fail(runtime::make_error(errc::unavailable, std::string{"no rooms supervisor"}));
          return;
        }
        self->state.room_sup = sup;
        then(sup);
      },
      [fail](caf::error& err) mutable { fail(std::move(err)); });
}

// Answers every lookup waiting for `name`.
template <class T>
void settle(directory_pointer self, const std::string& name, const T& outcome) {
  auto i = self->state.pending.find(name);
  if (i == self->state.pending.end())
    return;
  auto waiters = std::move(i->second);
  self->state.pending.erase(i);
  for (auto& rp : waiters)
    rp.deliver(outcome);
}

// Starts (or finds) the room under the rooms supervisor, then settles.
void start_local(directory_pointer self, const std::string& name) {
  auto& st = self->state;
  auto& mem = st.memory[name];
  if (!mem)
    mem = std::make_shared<room_memory>();
  auto spec = room_spec(st.cfg, name, mem);
  auto fail = [self, name](caf::error err) { settle(self, name, err); };
  with_room_sup(
    self,
    [self, name, spec, fail](runtime::supervisor_actor sup) {
      self->request(sup, sup_timeout, runtime::add_child_atom::value, spec)
        .then(
          [self, name](caf::actor& room) {
            remember(self, name, room);
            settle(self, name, caf::actor_cast<room_actor>(room));
          },
          [self, sup, name, fail](caf::error& err) {
            if (!runtime::is(err, errc::duplicate_child)) {
              fail(std::move(err));
              return;
            }
            // Restarted by the supervisor after a crash, not seen yet.
            self->request(sup, sup_timeout, runtime::find_child_atom::value, name)
              .then(
                [self, name](caf::actor& room) {
                  if (!room) {
                    settle(self, name, runtime::make_error(errc::unavailable, name));
                    return;
                  }
                  remember(self, name, room);
                  settle(self, name, caf::actor_cast<room_actor>(room));
                },
                [fail](caf::error& e) { fail(std::move(e)); });
          });
    },
    fail);
}

// -- in a cluster -------------------------------------------------------------------

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
template <class Then, class Fail>
void with_peer(directory_pointer self, const std::string& node, Then then, Fail fail) {
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
  auto fail = [self, name](caf::error err) { settle(self, name, err); };
  with_room_sup(
    self,
    [self, name, owner, spec, fail](runtime::supervisor_actor sup) {
      self->request(sup, sup_timeout, runtime::add_child_atom::value, spec)
        .then(
          [self, name, owner](caf::actor& relay) {
            remember(self, name, relay);
            self->state.relayed[name] = owner;
            settle(self, name, caf::actor_cast<room_actor>(relay));
          },
          [self, sup, name, owner, fail](caf::error& err) {
            if (!runtime::is(err, errc::duplicate_child)) {
              fail(std::move(err));
              return;
            }
            // Still running from before this directory restarted.
            self->request(sup, sup_timeout, runtime::find_child_atom::value, "relay/" + name)
              .then(
                [self, name, owner](caf::actor& relay) {
                  if (!relay) {
                    settle(self, name, runtime::make_error(errc::unavailable, name));
                    return;
                  }
                  remember(self, name, relay);
                  self->state.relayed[name] = owner;
                  settle(self, name, caf::actor_cast<room_actor>(relay));
                },
                [fail](caf::error& e) { fail(std::move(e)); });
          });
    },
    fail);
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

// Starts the work for a lookup of `name` (one per name at a time).
void resolve(directory_pointer self, const std::string& name) {
  auto& st = self->state;
  if (st.cfg.node.empty()) {
    start_local(self, name);
    return;
  }
  auto owner = place(name, view(self));
  if (owner == st.cfg.node)
    claim(self, name);
  else
    lookup_remote(self, name, owner);
}

caf::result<room_actor> lookup(directory_pointer self, const std::string& name) {
  auto& st = self->state;
  if (auto err = validate_room_name(name, st.cfg.max_room_name))
    return err;
  if (auto i = st.live.find(name); i != st.live.end())
    return i->second;
  auto rp = self->make_response_promise<room_actor>();
  auto& waiters = st.pending[name];
  waiters.push_back(rp);
  if (waiters.size() == 1)
    resolve(self, name);
  return rp;
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

// Asks every live room for its summary and answers with the list, sorted by
// name. A room that does not answer in time (busy, or just ending) is left
// out rather than holding up the list.
// Asks every live room for its summary and answers with the list, sorted by
// name. In a cluster, the other nodes' directories are asked for the rooms
// they run (`local_only`), and relays here are left out, so each room is
// listed once, by its own node. A room or node that does not answer in time
// (busy, ending, unreachable) is left out rather than holding up the list.
caf::result<std::vector<room_summary>> list_rooms(directory_pointer self, bool local_only) {
  auto& st = self->state;
  std::vector<room_actor> local;
  for (auto& [name, room] : st.live)
    if (st.relayed.count(name) == 0)
      local.push_back(room);
  std::vector<std::string> peers;
  if (!local_only && !st.cfg.node.empty())
    for (auto& n : st.nodes)
      if (n != st.cfg.node)
        peers.push_back(n);
  if (local.empty() && peers.empty())
    return std::vector<room_summary>{};
  struct collector {
    caf::typed_response_promise<std::vector<room_summary>> rp;
    std::vector<room_summary> rooms;
    size_t pending = 0;

    void done_one() {
      if (--pending > 0)
        return;
      if (rooms.size() > max_listed_rooms) {
        std::partial_sort(rooms.begin(), rooms.begin() + max_listed_rooms, rooms.end(),
                          [](auto& a, auto& b) { return a.member_count > b.member_count; });
        rooms.resize(max_listed_rooms);
      }
      std::sort(rooms.begin(), rooms.end(), [](auto& a, auto& b) { return a.name < b.name; });
      rp.deliver(std::move(rooms));
    }
  };
  auto c = std::make_shared<collector>();
  c->rp = self->make_response_promise<std::vector<room_summary>>();
  c->pending = local.size() + peers.size();
  c->rooms.reserve(local.size());
  for (auto& room : local)
    self->request(room, list_timeout, summary_atom::value)
      .then(
        [c](room_summary& s) {
          c->rooms.push_back(std::move(s));
          c->done_one();
        },
        [c](caf::error&) { c->done_one(); });
  for (auto& node : peers)
    with_peer(
      self, node,
      [self, c](rooms_actor& peer) {
        self->request(peer, list_timeout, rooms_atom::value, true)
          .then(
            [c](std::vector<room_summary>& theirs) {
              for (auto& r : theirs)
                c->rooms.push_back(std::move(r));
              c->done_one();
            },
            [c](caf::error&) { c->done_one(); });
      },
      [c](caf::error) { c->done_one(); });
  return c->rp;
}

} // namespace

rooms_actor find_rooms_directory(caf::actor_system& sys) {
  return caf::actor_cast<rooms_actor>(sys.registry().get(rooms_directory_name));
}

caf::error validate_room_name(std::string_view name, size_t max) {
  if (name.empty())
    return runtime::make_error(errc::invalid_room_name, std::string{"a room name is empty"});
  if (name.size() > max)
    return runtime::make_error(errc::invalid_room_name,
                               "a room name has at most " + std::to_string(max) + " bytes");
  if (name.front() == '.')
    return runtime::make_error(errc::invalid_room_name,
                               std::string{"a room name does not start with '.'"});
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok)
      return runtime::make_error(errc::invalid_room_name,
                                 std::string{"a room name holds only letters, digits and - _ . :"});
  }
  return caf::none;
}

rooms_actor::behavior_type rooms_directory_impl(
  rooms_actor::stateful_pointer<rooms_directory_state> self, rooms_config cfg,
  runtime::supervisor_actor parent) {
  self->state.cfg = std::move(cfg);
  self->state.parent = parent.address();
  if (!self->state.cfg.node.empty())
    self->state.nodes.insert(self->state.cfg.node);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    auto i = st.names.find(msg.source);
    if (i == st.names.end())
      return;
    // Ended (idle) or crashed (the supervisor restarts it; the next lookup
    // finds the new incarnation).
    if (auto j = st.live.find(i->second); j != st.live.end() && j->second.address() == msg.source) {
      st.live.erase(j);
      st.relayed.erase(i->second);
    }
    st.names.erase(i);
  });
  return {
    [self](lookup_atom, const std::string& name) { return lookup(self, name); },
    [self](rooms_atom) { return list_rooms(self, false); },
    [self](rooms_atom, bool local_only) { return list_rooms(self, local_only); },
    [self](owned_atom, const std::string& name, room_seed& seed) {
      return owned(self, name, seed);
    },
    [self](seed_atom, const std::string& name, room_seed& seed) { adopt(self, name, seed); },
    [self](hosting_atom, const std::string& name, const std::string& asker) {
      return hosting(self, name, asker);
    },
    [self](runtime::member_up_atom, const runtime::node_info& info) {
      // Rooms go only to nodes that run rooms.
      if (info.has_role("rooms"))
        self->state.nodes.insert(info.name);
      self->state.heard_of.erase(info.name);
    },
    [self](runtime::member_down_atom, const runtime::node_info& info) {
      self->state.nodes.erase(info.name);
      self->state.heard_of.erase(info.name);
      self->state.peers.erase(info.name);
    },
  };
}

runtime::child_spec rooms_child(rooms_config cfg) {
  runtime::supervisor_flags room_sup_flags;
  room_sup_flags.strategy = runtime::restart_strategy::one_for_one;
  room_sup_flags.intensity = cfg.intensity;
  room_sup_flags.period = cfg.period;
  room_sup_flags.forget_ended = true;
  runtime::child_spec directory;
  directory.id = "directory";
  directory.start = [cfg](caf::actor_system& sys,
                          const runtime::supervisor_actor& parent) -> caf::expected<caf::actor> {
    auto dir = sys.spawn(rooms_directory_impl, cfg, parent);
    // Findable by name at once (the gateway starts next), and the current
    // one after a restart of the rooms subtree.
    sys.registry().put(rooms_directory_name, caf::actor_cast<caf::strong_actor_ptr>(dir));
    if (!cfg.node.empty()) {
      // In a cluster: findable by the other nodes' directories, and told
      // about members coming and going (the agent starts before the rooms).
      auto agent = runtime::find_agent(sys);
      if (!agent)
        return runtime::make_error(errc::unavailable,
                                   std::string{"rooms in a cluster need the cluster agent first"});
      runtime::register_name_async(sys, directory_name(cfg.node),
                                   caf::actor_cast<caf::strong_actor_ptr>(dir));
      caf::anon_send(agent, runtime::subscribe_atom::value, caf::actor_cast<caf::actor>(dir));
    }
    return caf::actor_cast<caf::actor>(dir);
  };
  runtime::supervisor_flags flags;
  flags.strategy = runtime::restart_strategy::rest_for_one;
  return runtime::supervisor_child(
    "rooms", flags, {runtime::supervisor_child("room-sup", room_sup_flags, {}), directory});
}

} // namespace parley::actors
