#pragma once

/// @file
/// The node agent's state, shared by its two files: cluster.cpp (membership)
/// and cluster_names.cpp (the name registry). Private to parley_cluster.

#include "parley/runtime/cluster.hpp"

#include <caf/io/middleman_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace parley::runtime::internal {

struct member {
  node_info info;
  node_agent agent;
};

struct waiter {
  uint64_t id;
  caf::typed_response_promise<name_entry> rp;
};

/// State of the node agent; runs only inside its actor.
class agent_state {
public:
  using pointer = node_agent::stateful_pointer<agent_state>;

  static inline const char* name = "parley.node_agent";

  explicit agent_state(pointer self) : self_(self) {
    // nop
  }

  // -- membership (cluster.cpp) -------------------------------------------------

  /// Sets the members and names gauges.
  void update_gauges();
  /// An error in words: a Parley error's reason, anything else as CAF says.
  std::string reason(const caf::error& err);
  void notify(caf::atom_value what, const node_info& info);
  void remove_member(std::map<std::string, member>::iterator i, const std::string& why);
  void admit(const node_info& info, const node_agent& agent);
  void connect_failed(const std::string& key, const std::string& peer, const std::string& why);
  /// Connects to the agent at host:port and says hello; `peer` names the
  /// node expected there (empty for a seed).
  void connect(const std::string& host, uint16_t port, const std::string& peer = {});
  /// A node learned from a member.
  void want(const node_info& info);
  void retry_wanted();
  void try_seeds();
  caf::result<node_info, std::vector<node_info>, std::vector<name_entry>>
  on_hello(node_info& from, std::vector<name_entry>& names);
  void on_down(const caf::down_msg& msg);

  // -- names (cluster_names.cpp) -------------------------------------------------

  /// Answers the `whereis` requests waiting for `entry`'s name, once its
  /// node is reachable.
  void fulfil_waiters(const name_entry& entry);
  /// Adds or replaces a name (a conflict goes to the node whose name sorts
  /// first, on every node).
  void learn(name_entry entry);
  /// Every name, and the names of this node.
  std::vector<name_entry> all_names();
  std::vector<name_entry> local_names();
  /// `register`, logged.
  caf::result<bool> on_register_logged(const std::string& name, caf::strong_actor_ptr& actor);
  caf::result<name_entry> on_whereis(const std::string& name, caf::timespan wait);
  void on_waiter_timeout(const std::string& name, uint64_t id);
  /// A name `node` took back.
  void retract(const std::string& name, const std::string& node);
  /// Drops the name of an actor that ended; false if it had none.
  bool forget_actor(const caf::actor_addr& source);

  // -- data, set by agent_impl and the handlers ------------------------------------

  cluster_config cfg;
  /// This node, as the others see it.
  node_info self;
  bool listening = false;
  caf::io::middleman_actor mm;
  /// Every other member, by node name.
  std::map<std::string, member> members;
  /// Every registered name in the cluster.
  std::map<std::string, name_entry> names;
  /// Endpoints ("host:port") with a connect or hello in flight.
  std::set<std::string> connecting;
  /// Endpoints whose last attempt failed (logged once, until it succeeds).
  std::set<std::string> failing;
  /// Nodes another member told this one about and that are not members
  /// yet, with the retry ticks spent on them.
  std::map<std::string, std::pair<node_info, int>> wanted;
  std::vector<caf::actor> subscribers;
  std::map<std::string, std::vector<waiter>> waiting;
  uint64_t next_waiter = 0;

private:
  /// A name is answered once its node is this one or a member.
  bool reachable(const name_entry& entry);
  caf::result<bool> on_register(const std::string& name, caf::strong_actor_ptr& actor);

  pointer self_;
};

using agent_pointer = agent_state::pointer;

/// "host:port".
std::string endpoint(const std::string& host, uint16_t port);

} // namespace parley::runtime::internal
