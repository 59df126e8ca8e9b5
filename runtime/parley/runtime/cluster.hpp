#pragma once

/// @file
/// Several nodes as one cluster, over CAF's own node-to-node layer (the io
/// middleman and its BASP protocol); Parley adds membership and names, not a
/// messaging layer of its own.
///
/// ```
/// root
/// ├── cluster ── the node agent, published on the cluster port (mutual TLS
/// │              with the cluster's certificates), linked to every other
/// │              node's agent
/// └── ...     ── children after it can register names at once
/// ```
///
/// - **Membership.** A node connects to its seeds, says hello to their
///   agents and learns every member they know; it connects to those too, so
///   the nodes end up as a full mesh. Every node keeps retrying the seeds it
///   is not connected to, so a node that comes back, or a partition that
///   heals, joins again. A node whose link drops, or whose heartbeats stop
///   for `failure_timeout`, is removed from every view (CAF's down message
///   for the agent's proxy). Members are unique by name: a second live node
///   under a taken name is refused until the first one is gone.
/// - **Names.** `register_name` makes an actor findable by name on every
///   node; `find<Handle>` returns a typed handle whether the actor is local
///   or remote, after checking its interface. Registrations travel with
///   hello and as announcements; a name ends with its actor or its node.
/// - **Authentication.** Node links are mutual TLS (libcaf-openssl): a node
///   needs a certificate signed by the cluster's CA to connect or be
///   connected to. `insecure` turns that off for a development machine.

#include "parley/runtime/atoms.hpp"
#include "parley/runtime/child_spec.hpp"

#include <caf/actor_control_block.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace CLI {
class App;
} // namespace CLI

namespace parley::runtime {

// -- configuration --------------------------------------------------------------------

/// How a node takes part in a cluster. Off unless `port` is set.
struct cluster_config {
  /// The cluster port; 0 picks a free one (logged). Unset: no cluster.
  std::optional<uint16_t> port;
  /// Address the cluster port listens on.
  std::string bind = "0.0.0.0";
  /// Address the other nodes reach this one at; empty: `bind`, or this
  /// host's name when `bind` is 0.0.0.0.
  std::string advertise;
  /// Nodes to join through, as host:port (any member will do).
  std::vector<std::string> seeds;
  /// Heartbeats on every node link; a peer silent for `failure_timeout` is
  /// cut off and removed from the view.
  caf::timespan heartbeat = std::chrono::milliseconds(500);
  caf::timespan failure_timeout = std::chrono::seconds(3);
  /// How often seeds this node is not connected to are tried again.
  caf::timespan retry = std::chrono::seconds(1);
  /// Longest wait for a connect or a hello.
  caf::timespan connect_timeout = std::chrono::seconds(5);
  /// The cluster port's gate (cluster_gate.hpp; TLS only): how long a
  /// connection may take to authenticate, and how many may be at it, in
  /// all and per address.
  caf::timespan handshake_timeout = std::chrono::seconds(5);
  size_t max_pending = 256;
  size_t max_pending_per_address = 16;
  /// Mutual TLS: this node's certificate chain and key, and the cluster's
  /// CA certificate (PEM files).
  std::string cert;
  std::string key;
  std::string ca;
  /// Plain TCP, no authentication (development only; logged as a warning).
  bool insecure = false;
  /// What this node offers the others, e.g. "rooms" (set by the program,
  /// not a flag): a room is placed only on nodes that run rooms.
  std::vector<std::string> roles;

  bool enabled() const {
    return port.has_value();
  }

  /// The address other nodes use for this one.
  std::string advertised_host() const;
};

/// Adds --cluster-port, --cluster-bind, --cluster-advertise, --seed (one per
/// seed, or comma-separated), --cluster-cert, --cluster-key, --cluster-ca,
/// --cluster-insecure, --cluster-heartbeat-ms, --cluster-failure-timeout-ms
/// and --cluster-retry-ms to `app`, each also a PARLEY_* variable and a
/// config-file key.
void add_cluster_options(CLI::App& app, cluster_config& cfg);

/// Checks what CLI11 cannot: seeds are host:port, TLS files exist and come
/// as a set of three (or `insecure`), none of them without `--cluster-port`,
/// the failure timeout exceeds the heartbeat. Returns a one-line reason.
std::optional<std::string> validate(const cluster_config& cfg);

/// What in a valid configuration will likely fail later, one line each:
/// today, a certificate that `--cluster-ca` did not sign (every peer that
/// checks it against the same CA refuses this node). Call after `validate`.
std::vector<std::string> warnings(const cluster_config& cfg);

/// Loads the middleman (and the TLS module) into `sys_cfg` and applies the
/// heartbeat settings. Call before the actor system starts, on every node.
void setup_cluster(caf::actor_system_config& sys_cfg, const cluster_config& cfg);

/// Announces the cluster's message types (part of `announce_runtime`).
void announce_cluster(caf::actor_system_config& sys_cfg);

// -- the node agent ---------------------------------------------------------------------

using hello_atom = caf::atom_constant<caf::atom("hello")>;
using introduce_atom = caf::atom_constant<caf::atom("introduce")>;
using announce_atom = caf::atom_constant<caf::atom("announce")>;
using retract_atom = caf::atom_constant<caf::atom("retract")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using whereis_atom = caf::atom_constant<caf::atom("whereis")>;
using members_atom = caf::atom_constant<caf::atom("members")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using member_up_atom = caf::atom_constant<caf::atom("memberup")>;
using member_down_atom = caf::atom_constant<caf::atom("memberdown")>;
using listening_atom = caf::atom_constant<caf::atom("listening")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;

/// One node as the others see it.
struct node_info {
  std::string name;
  /// Where its cluster port is reached.
  std::string host;
  uint16_t port = 0;
  /// Chosen at random each time the node's agent starts: tells a node that
  /// came back from the one that left.
  uint64_t incarnation = 0;
  /// What the node offers (cluster_config::roles).
  std::vector<std::string> roles;

  bool has_role(const std::string& role) const {
    for (auto& r : roles)
      if (r == role)
        return true;
    return false;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_info& x) {
  return f(caf::meta::type_name("parley.node_info"), x.name, x.host, x.port, x.incarnation,
           x.roles);
}

/// One registered name.
struct name_entry {
  std::string name;
  caf::strong_actor_ptr actor;
  /// The actor's interface (its message types), checked by `find`.
  std::set<std::string> interface;
  /// The node that registered it.
  std::string node;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, name_entry& x) {
  return f(caf::meta::type_name("parley.name_entry"), x.name, x.actor, x.interface, x.node);
}

/// The agent every cluster node runs and publishes on its cluster port.
using node_agent = caf::typed_actor<
  // A node introduces itself with the names it holds; the answer is the
  // receiver, every member it knows and every name it knows.
  caf::replies_to<hello_atom, node_info, std::vector<name_entry>>::with<
    node_info, std::vector<node_info>, std::vector<name_entry>>,
  // A member tells the others about a node it admitted.
  caf::reacts_to<introduce_atom, node_info>,
  // A name registered, or gone (name, node).
  caf::reacts_to<announce_atom, name_entry>,
  caf::reacts_to<retract_atom, std::string, std::string>,
  // Local API: register an actor of this node under a name.
  caf::replies_to<register_atom, std::string, caf::strong_actor_ptr>::with<bool>,
  // The actor registered under a name, waiting up to the timespan for the
  // name to appear (null if it did not).
  caf::replies_to<whereis_atom, std::string, caf::timespan>::with<name_entry>,
  // This node first, then the other members, sorted by name.
  caf::replies_to<members_atom>::with<std::vector<node_info>>,
  // The subscriber gets (memberup, node_info) and (memberdown, node_info),
  // and at once a memberup for every current member.
  caf::reacts_to<subscribe_atom, caf::actor>,
  // Internal: the port is published (the actual port).
  caf::reacts_to<listening_atom, uint16_t>,
  // Internal: try the seeds again.
  caf::reacts_to<retry_atom>,
  // Internal: a whereis that waited in vain (name, waiter number).
  caf::reacts_to<timeout_atom, std::string, uint64_t>>;

/// The node agent as a child spec ("cluster"). It publishes the cluster port
/// when it starts (the node does not start if the port cannot be had), and
/// is registered before the next sibling starts. `node_name` must be unique
/// in the cluster. Put it first.
child_spec cluster_child(std::string node_name, cluster_config cfg);

/// The running agent of `sys` (null when the node is not in a cluster).
node_agent find_agent(caf::actor_system& sys);

/// Waits until the agent, a child of `root`, has started: `node::start`
/// returns before the root's children run. Blocks.
caf::error wait_for_agent(caf::actor_system& sys, const supervisor_actor& root,
                          caf::timespan timeout);

// -- names ------------------------------------------------------------------------------

/// Registers a local actor under `name` in the whole cluster; the name ends
/// when the actor does. A name already held by a live actor elsewhere is
/// refused (`errc::name_taken`). Blocks at most `timeout`.
caf::error register_name(caf::actor_system& sys, const std::string& name,
                         caf::strong_actor_ptr actor,
                         caf::timespan timeout = std::chrono::seconds(5));

template <class Handle>
caf::error register_name(caf::actor_system& sys, const std::string& name, const Handle& actor,
                         caf::timespan timeout = std::chrono::seconds(5)) {
  return register_name(sys, name, caf::actor_cast<caf::strong_actor_ptr>(actor), timeout);
}

/// Registers without waiting for the answer, for code that runs inside an
/// actor (a child's start function) and must not block a scheduler thread.
/// A refusal is logged. False if this node is not in a cluster.
bool register_name_async(caf::actor_system& sys, const std::string& name,
                         caf::strong_actor_ptr actor);

/// The entry registered under `name` anywhere in the cluster, waiting up to
/// `timeout` for it to appear; `errc::not_found` after that.
caf::expected<name_entry> whereis(caf::actor_system& sys, const std::string& name,
                                  caf::timespan timeout);

/// The error `find` returns for an actor of another interface.
caf::error wrong_interface(const std::string& name);

/// Finds the actor registered under `name` on any node and returns it as a
/// `Handle`, local or remote alike; `errc::wrong_interface` if the actor's
/// interface is not `Handle`'s.
template <class Handle>
caf::expected<Handle> find(caf::actor_system& sys, const std::string& name,
                           caf::timespan timeout = std::chrono::seconds(5)) {
  auto entry = whereis(sys, name, timeout);
  if (!entry)
    return std::move(entry.error());
  if constexpr (!std::is_same_v<Handle, caf::actor>) {
    if (entry->interface != sys.message_types<Handle>())
      return wrong_interface(name);
  }
  return caf::actor_cast<Handle>(entry->actor);
}


// -- counters ---------------------------------------------------------------------------

/// Process-wide membership counters, read by the gateway's `/metrics`.
struct cluster_stats {
  /// Members in this node's view, itself included (0: not in a cluster).
  std::atomic<int64_t> members{0};
  /// Nodes admitted to the view (a node that comes back counts again).
  std::atomic<uint64_t> joined{0};
  /// Nodes removed from the view (left, crashed, cut off).
  std::atomic<uint64_t> left{0};
  /// Connects or hellos that failed (refused, TLS, timeout, name taken).
  std::atomic<uint64_t> connect_failures{0};
  /// Names registered in this node's view.
  std::atomic<int64_t> names{0};
};

cluster_stats& cluster_counters();

} // namespace parley::runtime
