// The rooms directory's claim protocol (actors/parley/actors/room_claims.cpp)
// on CAF's deterministic scheduler: node "a" runs a real rooms subtree; the
// cluster agent and the other nodes' directories are fakes that answer as
// the test tells them. (tests/cluster/rooms_cluster_test.cpp runs the same
// protocol between real processes.)

#include "parley/actors/placement.hpp"
#include "parley/actors/rooms_directory.hpp"
#include "parley/runtime/cluster.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/runtime/supervisor.hpp"
#include "support/actor_test.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

using namespace parley::actors;
using namespace parley::runtime;
using namespace std::chrono_literals;
using parley::test::actor_test;

namespace {

/// How a fake node's directory answers `hosting`.
struct peer_script {
  room_standing standing = room_standing::none;
  /// Its room, when it says live (and the room it hands out on `owned`).
  room_actor room;
  /// Answers `hosting` only after this long (0: at once).
  caf::timespan delay{0};
  /// The names of the nodes that asked it, in order.
  std::vector<std::string> asked_by;
  size_t owned_asked = 0;
};

using script_ptr = std::shared_ptr<peer_script>;

using answer_atom = caf::atom_constant<caf::atom("answer")>;

/// Another node's rooms directory, as far as the claim protocol sees it.
caf::behavior fake_directory(caf::event_based_actor* self, script_ptr script) {
  return {
    [self, script](hosting_atom, const std::string& name, const std::string& asker) {
      script->asked_by.push_back(asker);
      auto rp = self->make_response_promise<uint8_t, room_actor>();
      if (script->delay.count() == 0) {
        rp.deliver(static_cast<uint8_t>(script->standing), script->room);
        return rp;
      }
      self->delayed_send(self, script->delay, answer_atom::value, name);
      self->become(caf::keep_behavior, [self, script, rp](answer_atom, const std::string&) mutable {
        rp.deliver(static_cast<uint8_t>(script->standing), script->room);
        self->unbecome();
      });
      return rp;
    },
    [script](owned_atom, const std::string&, const room_seed&) -> caf::result<room_actor> {
      ++script->owned_asked;
      if (!script->room)
        return make_error(errc::unavailable, std::string{"no room here"});
      return script->room;
    },
  };
}

/// The cluster agent: finds the fake directories by their registered names.
caf::behavior fake_agent(caf::event_based_actor*,
                         std::shared_ptr<std::map<std::string, caf::actor>> dirs) {
  return {
    [](register_atom, const std::string&, caf::strong_actor_ptr&) { return true; },
    [](subscribe_atom, caf::actor&) {},
    [dirs](whereis_atom, const std::string& name, caf::timespan) -> caf::result<name_entry> {
      auto i = dirs->find(name);
      if (i == dirs->end())
        return make_error(errc::not_found, "nothing is registered as '" + name + "'");
      return name_entry{name, caf::actor_cast<caf::strong_actor_ptr>(i->second), {},
                        name.substr(name.find('@') + 1)};
    },
  };
}

class ClaimsTest : public actor_test {
protected:
  std::shared_ptr<std::map<std::string, caf::actor>> dirs
    = std::make_shared<std::map<std::string, caf::actor>>();
  caf::actor agent;
  supervisor_actor root;
  rooms_actor directory;
  rooms_config rcfg;
  std::vector<caf::actor> extras; // stopped at the end

  void SetUp() override {
    agent = sys.spawn(fake_agent, dirs);
    sys.registry().put(caf::atom("cluster"), caf::actor_cast<caf::strong_actor_ptr>(agent));
    rcfg.node = "a";
    root = spawn_supervisor(sys, {}, {rooms_child(rcfg)});
    run();
    auto sub = ask<caf::actor>(root, find_child_atom::value, std::string{"rooms"});
    ASSERT_TRUE(sub);
    auto dir = ask<caf::actor>(caf::actor_cast<supervisor_actor>(*sub), find_child_atom::value,
                               std::string{"directory"});
    ASSERT_TRUE(dir);
    directory = caf::actor_cast<rooms_actor>(*dir);
  }

  void TearDown() override {
    for (auto& x : extras)
      self->send_exit(x, caf::exit_reason::user_shutdown);
    self->send_exit(root, caf::exit_reason::user_shutdown);
    self->send_exit(agent, caf::exit_reason::user_shutdown);
    sys.registry().erase(caf::atom("cluster"));
    run();
  }

  /// A node that runs rooms, in the directory's view, with a fake
  /// directory answering as `script` says.
  script_ptr add_node(const std::string& name) {
    auto script = std::make_shared<peer_script>();
    auto dir = sys.spawn(fake_directory, script);
    extras.push_back(dir);
    (*dirs)["rooms@" + name] = dir;
    node_info info;
    info.name = name;
    info.roles = {"rooms"};
    self->send(directory, member_up_atom::value, info);
    run();
    return script;
  }

  /// A real room, standing for the one another node runs.
  room_actor remote_room(const std::string& name) {
    room_config cfg; // its own stats: not this node's
    auto room = sys.spawn(room_impl, name, cfg, std::make_shared<room_memory>(),
                          room_behavior_rule{});
    extras.push_back(caf::actor_cast<caf::actor>(room));
    return room;
  }

  /// A room name that `first` outranks `second` for (and `third`, if
  /// given, outranks `first`).
  static std::string room_where(const std::string& first, const std::string& second,
                                const std::string& third = {}) {
    for (int i = 0; i < 10000; ++i) {
      auto name = "r" + std::to_string(i);
      if (outranks(first, second, name) && (third.empty() || outranks(third, first, name)))
        return name;
    }
    ADD_FAILURE() << "no such room name in 10,000";
    return "r";
  }

  caf::expected<room_actor> lookup(const std::string& name) {
    return ask<room_actor>(directory, lookup_atom::value, name);
  }
};

} // namespace

TEST_F(ClaimsTest, ARoomThisNodeOwnsStartsHereOnceNoPeerHostsIt) {
  auto b = add_node("b");
  auto name = room_where("a", "b");
  auto room = lookup(name);
  ASSERT_TRUE(room) << render(room.error());
  EXPECT_EQ(b->asked_by, std::vector<std::string>{"a"}) << "b was asked before the start";
  EXPECT_EQ(rcfg.room.stats->open.load(), 1) << "the room runs here";
  EXPECT_EQ(rcfg.relays->open.load(), 0);
  // Asked again, it is the same room, and nobody is asked twice.
  auto again = lookup(name);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *room);
  EXPECT_EQ(b->asked_by.size(), 1u);
}

TEST_F(ClaimsTest, ARoomLiveOnAPeerStaysThereAndIsRelayedHere) {
  auto b = add_node("b");
  auto name = room_where("a", "b");
  b->standing = room_standing::live; // it started there before b knew of a
  b->room = remote_room(name);
  auto room = lookup(name);
  ASSERT_TRUE(room) << render(room.error());
  EXPECT_NE(*room, b->room) << "a relay on this node, not the room itself";
  EXPECT_EQ(rcfg.room.stats->open.load(), 0) << "no second live copy";
  EXPECT_EQ(rcfg.relays->open.load(), 1);
}

TEST_F(ClaimsTest, ARoomOwnedByAPeerIsAskedOfItAndRelayed) {
  auto b = add_node("b");
  auto name = room_where("b", "a");
  b->room = remote_room(name);
  auto room = lookup(name);
  ASSERT_TRUE(room) << render(room.error());
  EXPECT_TRUE(b->asked_by.empty()) << "no claim: b owns it in this node's view";
  EXPECT_EQ(b->owned_asked, 1u);
  EXPECT_EQ(rcfg.relays->open.load(), 1);
  EXPECT_EQ(rcfg.room.stats->open.load(), 0);
}

TEST_F(ClaimsTest, OfTwoClaimersTheOneThatRanksHigherStartsTheRoom) {
  // a knows b only; c, which a has not heard of, claims the room too and
  // outranks a for it. b answers a's question late, so c's question comes
  // while a's claim is open: a asks c back, hears it claims, and yields.
  auto b = add_node("b");
  b->delay = 100ms;
  auto c = std::make_shared<peer_script>();
  auto c_dir = sys.spawn(fake_directory, c);
  extras.push_back(c_dir);
  (*dirs)["rooms@c"] = c_dir;
  auto name = room_where("a", "b", "c");
  c->standing = room_standing::claiming;
  c->room = remote_room(name);
  self->send(directory, lookup_atom::value, name);
  run();
  // c's question, as c's directory would ask it.
  self->send(directory, hosting_atom::value, name, std::string{"c"});
  run();
  std::optional<room_standing> standing;
  self->receive([&](uint8_t s, room_actor&) { standing = static_cast<room_standing>(s); },
                caf::after(0s) >> [] {});
  ASSERT_TRUE(standing) << "a did not answer c";
  EXPECT_EQ(*standing, room_standing::claiming);
  EXPECT_EQ(c->asked_by, std::vector<std::string>{"a"}) << "a asks the asker back";
  advance_time(100ms); // b answers: none
  caf::expected<room_actor> room{caf::sec::request_timeout};
  self->receive([&](room_actor& r) { room = std::move(r); },
                [&](caf::error& err) { room = std::move(err); }, caf::after(0s) >> [] {});
  ASSERT_TRUE(room) << render(room.error());
  EXPECT_EQ(c->owned_asked, 1u) << "a yielded to c and asked it for the room";
  EXPECT_EQ(rcfg.room.stats->open.load(), 0) << "a did not start it";
  EXPECT_EQ(rcfg.relays->open.load(), 1);
}

TEST_F(ClaimsTest, ANodeThatCannotBeAskedFailsTheClaimAndNothingStarts) {
  add_node("b");
  dirs->erase("rooms@b"); // b runs no rooms directory any more
  auto name = room_where("a", "b");
  auto room = lookup(name);
  ASSERT_FALSE(room);
  EXPECT_TRUE(is(room.error(), errc::unavailable)) << render(room.error());
  EXPECT_NE(render(room.error()).find("placement not confirmed"), std::string::npos)
    << render(room.error());
  EXPECT_EQ(rcfg.room.stats->open.load(), 0);
}
