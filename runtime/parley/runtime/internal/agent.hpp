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

struct agent_state {
  static inline const char* name = "parley.node_agent";

  cluster_config cfg;
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
};

using agent_pointer = node_agent::stateful_pointer<agent_state>;

/// "host:port".
std::string endpoint(const std::string& host, uint16_t port);

/// Sets the members and names gauges.
void update_gauges(agent_pointer self);

/// An error in words: a Parley error's reason, anything else as CAF says.
std::string reason(agent_pointer self, const caf::error& err);

// -- names (cluster_names.cpp) ----------------------------------------------------------

/// Answers the `whereis` requests waiting for `entry`'s name, once its node
/// is reachable.
void fulfil_waiters(agent_pointer self, const name_entry& entry);

/// Adds or replaces a name (a conflict goes to the node whose name sorts
/// first, on every node).
void learn(agent_pointer self, name_entry entry);

/// Every name, and the names of this node.
std::vector<name_entry> all_names(agent_pointer self);
std::vector<name_entry> local_names(agent_pointer self);

/// `register`, logged.
caf::result<bool> on_register_logged(agent_pointer self, const std::string& name,
                                     caf::strong_actor_ptr& actor);

caf::result<name_entry> on_whereis(agent_pointer self, const std::string& name,
                                   caf::timespan wait);

void on_waiter_timeout(agent_pointer self, const std::string& name, uint64_t id);

/// A name `node` took back.
void retract(agent_pointer self, const std::string& name, const std::string& node);

/// Drops the name of an actor that ended; false if it had none.
bool forget_actor(agent_pointer self, const caf::actor_addr& source);

} // namespace parley::runtime::internal
