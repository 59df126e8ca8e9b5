#include "parley/actors/rooms_directory.hpp"

#include "parley/runtime/errc.hpp"
#include "parley/runtime/supervisor.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
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

caf::result<room_actor> lookup(directory_pointer self, const std::string& name) {
  auto& st = self->state;
  if (auto err = validate_room_name(name, st.cfg.max_room_name))
    return err;
  if (auto i = st.live.find(name); i != st.live.end())
    return i->second;
  auto rp = self->make_response_promise<room_actor>();
  auto& mem = st.memory[name];
  if (!mem)
    mem = std::make_shared<room_memory>();
  auto spec = room_spec(st.cfg, name, mem);
  auto fail = [rp](caf::error err) mutable { rp.deliver(std::move(err)); };
  with_room_sup(
    self,
    [self, name, spec, rp, fail](runtime::supervisor_actor sup) mutable {
      self->request(sup, sup_timeout, runtime::add_child_atom::value, spec)
        .then(
          [self, name, rp](caf::actor& room) mutable {
            remember(self, name, room);
            rp.deliver(caf::actor_cast<room_actor>(room));
          },
          [self, sup, name, rp, fail](caf::error& err) mutable {
            if (!runtime::is(err, errc::duplicate_child)) {
              fail(std::move(err));
              return;
            }
            // Started by a concurrent lookup, or restarted after a crash.
            self->request(sup, sup_timeout, runtime::find_child_atom::value, name)
              .then(
                [self, name, rp](caf::actor& room) mutable {
                  if (!room) {
                    rp.deliver(runtime::make_error(errc::unavailable, name));
                    return;
                  }
                  remember(self, name, room);
                  rp.deliver(caf::actor_cast<room_actor>(room));
                },
                [fail](caf::error& e) mutable { fail(std::move(e)); });
          });
    },
    fail);
  return rp;
}

// Asks every live room for its summary and answers with the list, sorted by
// name. A room that does not answer in time (busy, or just ending) is left
// out rather than holding up the list.
caf::result<std::vector<room_summary>> list_rooms(directory_pointer self) {
  auto& live = self->state.live;
  if (live.empty())
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
  c->pending = live.size();
  c->rooms.reserve(live.size());
  for (auto& kv : live)
    self->request(kv.second, list_timeout, summary_atom::value)
      .then(
        [c](room_summary& s) {
          c->rooms.push_back(std::move(s));
          c->done_one();
        },
        [c](caf::error&) { c->done_one(); });
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
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    auto i = st.names.find(msg.source);
    if (i == st.names.end())
      return;
    // Ended (idle) or crashed (the supervisor restarts it; the next lookup
    // finds the new incarnation).
    if (auto j = st.live.find(i->second); j != st.live.end() && j->second.address() == msg.source)
      st.live.erase(j);
    st.names.erase(i);
  });
  return {
    [self](lookup_atom, const std::string& name) { return lookup(self, name); },
    [self](rooms_atom) { return list_rooms(self); },
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
    return caf::actor_cast<caf::actor>(dir);
  };
  runtime::supervisor_flags flags;
  flags.strategy = runtime::restart_strategy::rest_for_one;
  return runtime::supervisor_child(
    "rooms", flags, {runtime::supervisor_child("room-sup", room_sup_flags, {}), directory});
}

} // namespace parley::actors
