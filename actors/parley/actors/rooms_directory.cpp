#include "parley/actors/rooms_directory.hpp"


#include "parley/actors/names.hpp"
#include "parley/actors/placement.hpp"
#include "parley/runtime/cluster.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/runtime/supervisor.hpp"
#include "parley/store/store_service.hpp"

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

constexpr caf::timespan list_timeout = std::chrono::seconds(2);

runtime::child_spec room_spec(const rooms_config& cfg, const std::string& name,
                              std::shared_ptr<room_memory> memory) {
  room_behavior_rule rule;
  for (auto& r : cfg.behaviors)
    if (r.whole_name ? name == r.prefix : name.compare(0, r.prefix.size(), r.prefix) == 0) {
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

} // namespace

// Runs `then` with the rooms supervisor, looking it up once.
template <class Then, class Fail>
void rooms_directory_state::with_room_sup(Then then, Fail fail) {
  if (room_sup) {
    then(room_sup);
    return;
  }
  auto parent = caf::actor_cast<runtime::supervisor_actor>(parent_);
  if (!parent) {
    fail(runtime::make_error(errc::unavailable, std::string{"the rooms supervisor is gone"}));
    return;
  }
  self_->request(parent, sup_timeout, runtime::find_child_atom::value, std::string{"room-sup"})
    .then(
      [this, then, fail](caf::actor& found) mutable {
        auto sup = caf::actor_cast<runtime::supervisor_actor>(found);
        if (!sup) {
          fail(runtime::make_error(errc::unavailable, std::string{"no rooms supervisor"}));
          return;
        }
        room_sup = sup;
        then(sup);
      },
      [fail](caf::error& err) mutable { fail(std::move(err)); });
}

void rooms_directory_state::remember(const std::string& name, const caf::actor& handle) {
  auto room = caf::actor_cast<room_actor>(handle);
  auto& slot = live[name];
  if (slot == room)
    return;
  slot = room;
  names[room.address()] = name;
  self_->monitor(room);
}

// Adds `spec` under the rooms supervisor and settles `name` with the child;
// a child with that id may run already (a room restarted by the supervisor
// after a crash and not seen yet, a relay from before this directory
// restarted): then that one. `then` runs before the settling, on success.
void rooms_directory_state::start_child(const std::string& name, runtime::child_spec spec,
                 std::function<void()> then) {
  auto fail = [this, name](caf::error err) { settle(name, err); };
  auto found = [this, name, then](caf::actor& child) {
    if (!child) {
      settle(name, runtime::make_error(errc::unavailable, name));
      return;
    }
    remember(name, child);
    if (then)
      then();
    settle(name, caf::actor_cast<room_actor>(child));
  };
  with_room_sup([this, id = spec.id, spec, fail, found](runtime::supervisor_actor sup) {
      self_->request(sup, sup_timeout, runtime::add_child_atom::value, spec)
        .then(found, [this, sup, id, fail, found](caf::error& err) {
          if (!runtime::is(err, errc::duplicate_child)) {
            fail(std::move(err));
            return;
          }
          self_->request(sup, sup_timeout, runtime::find_child_atom::value, id)
            .then(found, [fail](caf::error& e) { fail(std::move(e)); });
        });
    },
    fail);
}

// Starts (or finds) the room under the rooms supervisor, then settles.
// With a store, the room's head is loaded first (`loaded`, below).
void rooms_directory_state::start_local(const std::string& name) {
  if (!cfg.room.store) {
    auto& mem = memory[name];
    if (!mem)
      mem = std::make_shared<room_memory>();
    start_child(name, room_spec(cfg, name, mem), {});
    return;
  }
  auto& store = *cfg.room.store;
  bool answered = false;
  std::shared_ptr<const store::room_head> sync_head;
  std::string sync_error;
  bool in_place = store.in_place();
  auto addr = self_->address();
  store.load(name, cfg.room.backlog,
             [&answered, &sync_head, &sync_error, in_place, addr,
              name](store::room_head* head, const std::string& error) {
               std::shared_ptr<const store::room_head> out;
               if (head)
                 out = std::make_shared<store::room_head>(std::move(*head));
               if (in_place) {
                 answered = true;
                 sync_head = std::move(out);
                 sync_error = error;
                 return;
               }
               if (auto dir = caf::actor_cast<caf::actor>(addr))
                 caf::anon_send(dir, loaded_atom::value, name, std::move(out), error);
             });
  if (answered)
    loaded(name, sync_head, sync_error);
}

void rooms_directory_state::loaded(const std::string& name,
                                   const std::shared_ptr<const store::room_head>& head,
                                   const std::string& error) {
  if (pending.count(name) == 0)
    return;
  if (!head) {
    settle(name, runtime::make_error(errc::store_unavailable,
                                     "cannot load room " + name + ": " + error));
    return;
  }
  auto mem = std::make_shared<room_memory>();
  mem->last_seq = head->last_seq;
  mem->epoch = head->epoch;
  for (auto& r : head->recent)
    mem->backlog.push_back(chat_message{name, r.seq, r.sender, r.text, r.body, r.sent_ms});
  for (auto& [key, seq] : head->keys)
    mem->remember(key, seq);
  // A seed from another node (a cluster on per-node stores) that is ahead of
  // this node's store: go on from it.
  // A shared store (PostgreSQL) is the truth: nothing a relay saw is newer.
  if (auto i = memory.find(name); !cfg.room.store->shared() && i != memory.end() && i->second
                                  && i->second->last_seq > mem->last_seq)
    mem = i->second;
  memory[name] = mem;
  start_child(name, room_spec(cfg, name, mem), {});
}

// Starts the work for a lookup of `name` (one per name at a time).
void rooms_directory_state::resolve(const std::string& name) {
  if (cfg.node.empty())
    start_local(name);
  else
    resolve_in_cluster(name);
}

caf::result<room_actor> rooms_directory_state::lookup(const std::string& name) {
  if (auto err = validate_room_name(name, cfg.max_room_name))
    return err;
  if (auto i = live.find(name); i != live.end())
    return i->second;
  auto rp = self_->make_response_promise<room_actor>();
  auto& waiters = pending[name];
  waiters.push_back(rp);
  if (waiters.size() == 1)
    resolve(name);
  return rp;
}

// Asks every live room for its summary and answers with the list, sorted by
// name. In a cluster, the other nodes' directories are asked for the rooms
// they run (`local_only`), and relays here are left out, so each room is
// listed once, by its own node. A room or node that does not answer in time
// (busy, ending, unreachable) is left out rather than holding up the list.
caf::result<std::vector<room_summary>> rooms_directory_state::list_rooms(bool local_only) {
  std::vector<room_actor> local;
  for (auto& [name, room] : live)
    if (relayed.count(name) == 0)
      local.push_back(room);
  std::vector<std::string> peers;
  if (!local_only && !cfg.node.empty())
    for (auto& n : nodes)
      if (n != cfg.node)
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
  c->rp = self_->make_response_promise<std::vector<room_summary>>();
  c->pending = local.size() + peers.size();
  c->rooms.reserve(local.size());
  for (auto& room : local)
    self_->request(room, list_timeout, summary_atom::value)
      .then(
        [c](room_summary& s) {
          c->rooms.push_back(std::move(s));
          c->done_one();
        },
        [c](caf::error&) { c->done_one(); });
  for (auto& node : peers)
    with_peer(node,
      [this, c](rooms_actor& peer) {
        self_->request(peer, list_timeout, rooms_atom::value, true)
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

rooms_actor find_rooms_directory(caf::actor_system& sys) {
  return caf::actor_cast<rooms_actor>(sys.registry().get(rooms_directory_name));
}

caf::error validate_room_name(std::string_view name, size_t max) {
  if (auto why = room_name_problem(name, max); !why.empty())
    return runtime::make_error(errc::invalid_room_name, std::move(why));
  return caf::none;
}

void rooms_directory_state::init(rooms_config c, runtime::supervisor_actor parent) {
  cfg = std::move(c);
  parent_ = parent.address();
  if (!cfg.node.empty())
    nodes.insert(cfg.node);
  self_->set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
  if (cfg.room.store) {
    auto addr = self_->address();
    cfg.room.store->watch_ownership([addr](std::vector<std::string> rooms) {
      if (auto dir = caf::actor_cast<caf::actor>(addr))
        caf::anon_send(dir, moved_atom::value, std::move(rooms));
    });
    tell_store_view();
  }
}

void rooms_directory_state::tell_store_view() {
  if (cfg.room.store && !cfg.node.empty())
    cfg.room.store->set_view({nodes.begin(), nodes.end()});
}

void rooms_directory_state::moved(const std::vector<std::string>& rooms) {
  for (auto& name : rooms) {
    auto i = live.find(name);
    if (i == live.end() || relayed.count(name) > 0)
      continue;
    spdlog::warn("rooms: room {} is held by another node now (this one was away for longer "
                 "than its lease); stopping it here, its members join again",
                 name);
    self_->send_exit(i->second, runtime::make_error(errc::moved, "room " + name
                                                      + " is held by another node now"));
  }
}

void rooms_directory_state::on_down(const caf::down_msg& msg) {
  auto i = names.find(msg.source);
  if (i == names.end())
    return;
  // Ended (idle) or crashed (the supervisor restarts it; the next lookup
  // finds the new incarnation).
  if (auto j = live.find(i->second); j != live.end() && j->second.address() == msg.source) {
    live.erase(j);
    bool was_relay = relayed.erase(i->second) > 0;
    // With a store, a room that ended leaves memory: its next start loads
    // it from the store (a room the supervisor restarts keeps its own). A
    // relay's memory is a seed for the room's next owner: kept.
    if (cfg.room.store && !was_relay) {
      memory.erase(i->second);
      cfg.room.store->forget(i->second);
    }
  }
  names.erase(i);
}

void rooms_directory_state::member_up(const runtime::node_info& info) {
  // Rooms go only to nodes that run rooms.
  if (info.has_role("rooms"))
    nodes.insert(info.name);
  heard_of.erase(info.name);
  tell_store_view();
}

void rooms_directory_state::member_down(const runtime::node_info& info) {
  nodes.erase(info.name);
  heard_of.erase(info.name);
  peers.erase(info.name);
  tell_store_view();
}

rooms_actor::behavior_type rooms_directory_impl(rooms_directory_state::pointer self,
                                                rooms_config cfg,
                                                runtime::supervisor_actor parent) {
  self->state.init(std::move(cfg), std::move(parent));
  return {
    [self](lookup_atom, const std::string& name) { return self->state.lookup(name); },
    [self](rooms_atom) { return self->state.list_rooms(false); },
    [self](rooms_atom, bool local_only) { return self->state.list_rooms(local_only); },
    [self](owned_atom, const std::string& name, room_seed& seed) {
      return self->state.owned(name, seed);
    },
    [self](seed_atom, const std::string& name, room_seed& seed) { self->state.adopt(name, seed); },
    [self](hosting_atom, const std::string& name, const std::string& asker) {
      return self->state.hosting(name, asker);
    },
    [self](runtime::member_up_atom, const runtime::node_info& info) {
      self->state.member_up(info);
    },
    [self](runtime::member_down_atom, const runtime::node_info& info) {
      self->state.member_down(info);
    },
    [self](loaded_atom, const std::string& name,
           const std::shared_ptr<const store::room_head>& head,
           const std::string& error) { self->state.loaded(name, head, error); },
    [self](moved_atom, const std::vector<std::string>& rooms) { self->state.moved(rooms); },
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
