// The admin console's actor side (CAF and Boost.JSON; no Beast): each
// question is a short-lived actor that asks the running actors, with a
// timeout, and answers the console's callback once.
#include "parley/gateway/actor_bridge.hpp"

#include "parley/actors/rooms_directory.hpp"
#include "parley/runtime/cluster.hpp"
#include "parley/runtime/log.hpp"
#include "parley/runtime/supervisor.hpp"

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/local_actor.hpp>

#include <boost/json.hpp>

#include <deque>
#include <mutex>

namespace parley::gateway {

namespace json = boost::json;

namespace {

constexpr auto ask_timeout = std::chrono::seconds(5);

/// Supervisors list this many children at most in `/tree` (a node's
/// connections supervisor has one per client).
constexpr size_t max_listed_children = 200;

admin_result error_result(int status, const std::string& why) {
  return {status, json::serialize(json::object{{"error", why}})};
}

const char* to_text(runtime::restart_type r) {
  switch (r) {
    case runtime::restart_type::permanent:
      return "permanent";
    case runtime::restart_type::transient:
      return "transient";
    case runtime::restart_type::temporary:
      return "temporary";
  }
  return "?";
}

const char* to_text(runtime::restart_strategy s) {
  switch (s) {
    case runtime::restart_strategy::one_for_one:
      return "one_for_one";
    case runtime::restart_strategy::one_for_all:
      return "one_for_all";
    case runtime::restart_strategy::rest_for_one:
      return "rest_for_one";
  }
  return "?";
}

bool is_supervisor(const caf::actor& a) {
  // Only supervisors are asked to describe themselves: another actor would
  // log the unexpected message.
  auto* p = dynamic_cast<caf::local_actor*>(caf::actor_cast<caf::abstract_actor*>(a));
  return p && std::string_view{p->name()} == runtime::supervisor_state::name;
}

/// One node of the tree being walked.
struct tree_node {
  std::string id;
  std::string restart;
  bool running = true;
  uint64_t restarts = 0;
  bool supervisor = false;
  std::string strategy;
  uint64_t recent_restarts = 0;
  std::vector<size_t> children;
  size_t unlisted = 0;
};

json::object to_json(const std::deque<tree_node>& nodes, size_t i) {
  auto& n = nodes[i];
  json::object o{{"id", n.id}, {"running", n.running}, {"restarts", n.restarts}};
  if (!n.restart.empty())
    o["restart"] = n.restart;
  if (n.supervisor) {
    o["strategy"] = n.strategy;
    o["recent_restarts"] = n.recent_restarts;
    json::array kids;
    for (auto k : n.children)
      kids.emplace_back(to_json(nodes, k));
    o["children"] = std::move(kids);
    if (n.unlisted > 0)
      o["unlisted_children"] = n.unlisted;
  }
  return o;
}

/// Walks the supervisor tree from the root, one `describe` per supervisor.
struct tree_walk : std::enable_shared_from_this<tree_walk> {
  caf::event_based_actor* self = nullptr;
  std::deque<tree_node> nodes;
  size_t pending = 0;
  admin_callback cb;

  void visit(const runtime::supervisor_actor& sup, size_t index) {
    ++pending;
    auto me = shared_from_this();
    self->request(sup, ask_timeout, runtime::describe_atom::value)
      .then(
        [me, index](runtime::supervisor_report& r) {
          auto& n = me->nodes[index];
          n.supervisor = true;
          n.strategy = to_text(r.strategy);
          n.recent_restarts = r.recent_restarts;
          size_t listed = 0;
          for (auto& c : r.children) {
            if (listed == max_listed_children) {
              ++me->nodes[index].unlisted;
              continue;
            }
            ++listed;
            me->nodes.push_back(
              tree_node{c.id, to_text(c.restart), c.running, c.restarts, false, {}, 0, {}, 0});
            auto k = me->nodes.size() - 1;
            me->nodes[index].children.push_back(k);
            if (c.running && is_supervisor(c.handle))
              me->visit(caf::actor_cast<runtime::supervisor_actor>(c.handle), k);
          }
          me->done();
        },
        [me](caf::error&) { me->done(); });
  }

  void done() {
    if (--pending > 0)
      return;
    cb({200, json::serialize(to_json(nodes, 0))});
    self->quit();
  }
};

// Short-lived actors take what they need as spawn arguments, not captures:
// CAF 0.17 dereferences a null tuple for a function actor spawned without
// arguments (UBSan reports it).
class node_admin_impl final : public node_admin {
public:
  void attach(caf::actor_system& sys, runtime::supervisor_actor root,
              std::function<void()> drain) override {
    std::lock_guard<std::mutex> guard{mtx_};
    sys_ = &sys;
    root_ = std::move(root);
    drain_ = std::move(drain);
  }

  void rooms(admin_callback cb) override {
    auto* sys = system();
    if (!sys)
      return cb(error_result(503, "the node is starting"));
    auto dir = actors::find_rooms_directory(*sys);
    if (!dir)
      return cb(error_result(503, "the rooms directory is not running"));
    sys->spawn([](caf::event_based_actor* self, actors::rooms_actor dir, admin_callback cb) {
      // This node's own rooms: in a cluster each node is asked for its own.
      self->request(dir, ask_timeout, actors::rooms_atom::value, true)
        .then(
          [self, cb](std::vector<actors::room_summary>& rooms) {
            json::array list;
            for (auto& r : rooms)
              list.emplace_back(json::object{{"name", r.name},
                                             {"members", r.member_count},
                                             {"seq", r.last_seq},
                                             {"backlog", r.backlog}});
            cb({200, json::serialize(json::object{{"rooms", std::move(list)}})});
            self->quit();
          },
          [self, cb](caf::error& err) {
            cb(error_result(503, "the rooms directory did not answer: "
                                   + self->system().render(err)));
            self->quit();
          });
    }, dir, cb);
  }

  void tree(admin_callback cb) override {
    auto* sys = system();
    auto root = this->root();
    if (!sys || !root)
      return cb(error_result(503, "the node is starting"));
    sys->spawn([](caf::event_based_actor* self, runtime::supervisor_actor root, admin_callback cb) {
      auto walk = std::make_shared<tree_walk>();
      walk->self = self;
      walk->cb = cb;
      walk->nodes.push_back(tree_node{"root", "", true, 0, false, {}, 0, {}, 0});
      walk->visit(root, 0);
    }, root, cb);
  }

  void cluster(admin_callback cb) override {
    auto* sys = system();
    if (!sys)
      return cb(error_result(503, "the node is starting"));
    auto agent = runtime::find_agent(*sys);
    if (!agent)
      return cb({200, json::serialize(json::object{{"cluster", false}})});
    sys->spawn([](caf::event_based_actor* self, runtime::node_agent agent, admin_callback cb) {
      self->request(agent, ask_timeout, runtime::members_atom::value)
        .then(
          [self, cb](std::vector<runtime::node_info>& members) {
            json::array list;
            for (auto& m : members) {
              json::array roles;
              for (auto& r : m.roles)
                roles.emplace_back(r);
              list.emplace_back(json::object{{"name", m.name},
                                             {"host", m.host},
                                             {"port", m.port},
                                             {"roles", std::move(roles)}});
            }
            // The agent lists this node first.
            cb({200, json::serialize(json::object{{"cluster", true}, {"members", std::move(list)}})});
            self->quit();
          },
          [self, cb](caf::error& err) {
            cb(error_result(503, "the cluster agent did not answer: " + self->system().render(err)));
            self->quit();
          });
    }, agent, cb);
  }

  void close_room(const std::string& room, const std::string& who, admin_callback cb) override {
    with_room_sup(cb, [room, who, cb](caf::event_based_actor* self,
                                       runtime::supervisor_actor room_sup) {
      self->request(room_sup, ask_timeout, runtime::remove_child_atom::value, room)
        .then(
          [self, room, who, cb](runtime::child_info&) {
            cb({200, json::serialize(json::object{{"closed", room}})});
            self->quit();
          },
          [self, room, cb](caf::error&) {
            cb(error_result(404, "this node runs no room '" + runtime::printable(room, 64) + "'"));
            self->quit();
          });
    });
  }

  void notice(const std::string& room, const std::string& text, const std::string& who,
              admin_callback cb) override {
    with_room_sup(cb, [room, text, who, cb](caf::event_based_actor* self,
                                             runtime::supervisor_actor room_sup) {
      self->request(room_sup, ask_timeout, runtime::find_child_atom::value, room)
        .then(
          [self, room, text, who, cb](caf::actor& found) {
            if (!found) {
              cb(error_result(404, "this node runs no room '" + runtime::printable(room, 64) + "'"));
              self->quit();
              return;
            }
            // "@" is in no user's name: nobody can pass for an operator.
            auto r = caf::actor_cast<actors::room_actor>(found);
            self->request(r, ask_timeout, actors::notice_atom::value, "@" + who, text)
              .then(
                [self, room, cb](actors::seq_t seq) {
                  cb({200, json::serialize(json::object{{"room", room}, {"seq", seq}})});
                  self->quit();
                },
                [self, cb](caf::error& err) {
                  cb(error_result(503, "the room did not answer: " + self->system().render(err)));
                  self->quit();
                });
          },
          [self, room, cb](caf::error&) {
            cb(error_result(404, "this node runs no room '" + runtime::printable(room, 64) + "'"));
            self->quit();
          });
    });
  }

  void drain(const std::string& who) override {
    std::function<void()> drain;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      drain = drain_;
    }
    spdlog::warn("admin: {} asked the node to drain", who);
    if (drain)
      drain();
  }

private:
  caf::actor_system* system() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return sys_;
  }

  runtime::supervisor_actor root() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return root_;
  }

  /// Finds root → "rooms" → "room-sup", then runs `then` in the same
  /// short-lived actor.
  template <class Then>
  void with_room_sup(const admin_callback& cb, Then then) {
    auto* sys = system();
    auto root = this->root();
    if (!sys || !root)
      return cb(error_result(503, "the node is starting"));
    sys->spawn([](caf::event_based_actor* self, runtime::supervisor_actor root, admin_callback cb, Then then) {
      auto fail = [self, cb](caf::error& err) {
        cb(error_result(503, "the rooms supervisor did not answer: " + self->system().render(err)));
        self->quit();
      };
      self->request(root, ask_timeout, runtime::find_child_atom::value, std::string{"rooms"})
        .then(
          [self, then, fail](caf::actor& rooms) mutable {
            auto sup = caf::actor_cast<runtime::supervisor_actor>(rooms);
            self->request(sup, ask_timeout, runtime::find_child_atom::value,
                          std::string{"room-sup"})
              .then(
                [self, then](caf::actor& room_sup) mutable {
                  then(self, caf::actor_cast<runtime::supervisor_actor>(room_sup));
                },
                fail);
          },
          fail);
    }, root, cb, then);
  }

  mutable std::mutex mtx_;
  caf::actor_system* sys_ = nullptr;
  runtime::supervisor_actor root_;
  std::function<void()> drain_;
};

} // namespace

std::shared_ptr<node_admin> make_node_admin() {
  return std::make_shared<node_admin_impl>();
}

} // namespace parley::gateway
