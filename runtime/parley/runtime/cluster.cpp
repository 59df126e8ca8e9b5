// The cluster's membership: the node agent, its links to the other nodes
// (seeds, hellos, a full mesh, retries) and who is up. The name registry the
// agents keep in step is in cluster_names.cpp. Over 400 lines because the
// link protocol (hello, retry, mesh, down) is one state machine over one
// agent state; the registry, which is separable, already went.
#include "parley/runtime/cluster.hpp"
#include "parley/runtime/cluster_gate.hpp"

#include "parley/runtime/internal/agent.hpp"

#include "parley/runtime/errc.hpp"
#include "parley/runtime/supervisor.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <random>
#include <variant>

namespace parley::runtime {

bool tls_error_queue_guard(); // tls_error_queue.cpp

namespace internal {

std::string endpoint(const std::string& host, uint16_t port) {
  return host + ":" + std::to_string(port);
}

void agent_state::update_gauges() {
  auto& c = cluster_counters();
  c.members.store(static_cast<int64_t>(members.size() + 1),
                  std::memory_order_relaxed);
  c.names.store(static_cast<int64_t>(names.size()), std::memory_order_relaxed);
}

std::string agent_state::reason(const caf::error& err) {
  // A Parley error's context is its reason; anything else in CAF's words.
  if (err.category() == errc_category && !err.context().empty()
      && err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  return self_->system().render(err);
}



void agent_state::notify(caf::atom_value what, const node_info& info) {
  for (auto& s : subscribers) {
    // (A typed actor cannot `send` to an untyped one.)
    if (what == member_up_atom::value)
      caf::anon_send(s, member_up_atom::value, info);
    else
      caf::anon_send(s, member_down_atom::value, info);
  }
}

void agent_state::remove_member(std::map<std::string, member>::iterator i,
                   const std::string& why) {
  auto info = i->second.info;
  members.erase(i);
  // Its names go with it.
  for (auto j = names.begin(); j != names.end();)
    j = j->second.node == info.name ? names.erase(j) : std::next(j);
  cluster_counters().left.fetch_add(1, std::memory_order_relaxed);
  update_gauges();
  spdlog::warn("cluster: node '{}' left: {} ({} members)", info.name, why,
               members.size() + 1);
  notify(member_down_atom::value, info);
}

void agent_state::admit(const node_info& info, const node_agent& agent) {
  if (auto i = members.find(info.name); i != members.end()) {
    if (i->second.info.incarnation == info.incarnation)
      return; // known (both sides said hello)
    remove_member(i, "replaced by a new incarnation");
  }
  members.emplace(info.name, member{info, agent});
  self_->monitor(agent);
  failing.erase(endpoint(info.host, info.port));
  wanted.erase(info.name);
  cluster_counters().joined.fetch_add(1, std::memory_order_relaxed);
  update_gauges();
  spdlog::info("cluster: node '{}' joined from {} ({} members)", info.name,
               endpoint(info.host, info.port), members.size() + 1);
  notify(member_up_atom::value, info);
  // Names of the new member that someone waits for.
  for (auto& kv : names)
    if (kv.second.node == info.name)
      fulfil_waiters(kv.second);
  // Names registered here after the hello went out would otherwise never
  // reach it (announcements go to members only); it ignores the ones it has.
  for (auto& kv : names)
    if (kv.second.node == self.name)
      self_->send(agent, announce_atom::value, kv.second);
  // The others connect to it too: a full mesh, also when it joined
  // through this node only.
  for (auto& kv : members)
    if (kv.first != info.name)
      self_->send(kv.second.agent, introduce_atom::value, info);
}

void agent_state::connect_failed(const std::string& key, const std::string& peer,
                    const std::string& why) {
  connecting.erase(key);
  cluster_counters().connect_failures.fetch_add(1, std::memory_order_relaxed);
  auto what = peer.empty() ? "join through " + key : "reach node '" + peer + "' at " + key;
  if (failing.insert(key).second)
    spdlog::warn("cluster: cannot {}: {}", what, why);
  else
    spdlog::debug("cluster: still cannot {}: {}", what, why);
}

/// Connects to the agent at host:port and says hello; `peer` names the node
/// expected there (empty for a seed).
void agent_state::connect(const std::string& host, uint16_t port, const std::string& peer) {
  auto key = endpoint(host, port);
  if (!listening || key == endpoint(self.host, self.port))
    return;
  for (auto& kv : members)
    if (kv.second.info.host == host && kv.second.info.port == port)
      return;
  if (!connecting.insert(key).second)
    return;
  self_->request(mm, cfg.connect_timeout, caf::connect_atom::value, host, port)
    .then(
      [this, key, peer](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>& ifs) {
        if (!ptr || ifs != self_->system().message_types<node_agent>()) {
          connect_failed(key, peer, "no Parley node agent there");
          return;
        }
        auto agent = caf::actor_cast<node_agent>(ptr);
        if (agent == self_) { // a seed that is this node under another address
          connecting.erase(key);
          return;
        }
        self_->request(agent, cfg.connect_timeout, hello_atom::value, self, local_names())
          .then(
            [this, key, agent](node_info& them, std::vector<node_info>& others,
                               std::vector<name_entry>& names) {
              connecting.erase(key);
              admit(them, agent);
              for (auto& e : names)
                learn(std::move(e));
              for (auto& o : others)
                want(o);
            },
            [this, key, peer](caf::error& err) {
              connect_failed(key, peer, reason(err));
            });
      },
      [this, key, peer](caf::error& err) { connect_failed(key, peer, reason(err)); });
}

/// Ticks after which the node whose name sorts last connects too (its
/// peer should have connected by then), and after which a node that never
/// answered is forgotten.
constexpr int fallback_ticks = 3;
constexpr int max_ticks = 20;

// A node learned from a member. Both ends learn of each other at about the
// same time; the one whose name sorts first connects, so the two do not
// race to open the same link (CAF then closes one of them, which can fail
// both handshakes).
void agent_state::want(const node_info& info) {
  if (info.name == self.name)
    return;
  if (auto i = members.find(info.name);
      i != members.end() && i->second.info.incarnation == info.incarnation)
    return;
  wanted[info.name] = {info, 0};
  if (self.name < info.name)
    connect(info.host, info.port, info.name);
}

void agent_state::retry_wanted() {
  for (auto i = wanted.begin(); i != wanted.end();) {
    auto& [info, ticks] = i->second;
    if (auto m = members.find(info.name);
        m != members.end() && m->second.info.incarnation == info.incarnation) {
      i = wanted.erase(i);
      continue;
    }
    if (++ticks > max_ticks) {
      spdlog::warn("cluster: gave up on node '{}' at {}", info.name,
                   endpoint(info.host, info.port));
      i = wanted.erase(i);
      continue;
    }
    if (self.name < info.name || ticks >= fallback_ticks)
      connect(info.host, info.port, info.name);
    ++i;
  }
}

void agent_state::try_seeds() {
  for (auto& seed : cfg.seeds) {
    auto colon = seed.rfind(':');
    auto port = static_cast<uint16_t>(std::stoul(seed.substr(colon + 1)));
    connect(seed.substr(0, colon), port);
  }
}

caf::result<node_info, std::vector<node_info>, std::vector<name_entry>>
agent_state::on_hello(node_info& from, std::vector<name_entry>& names) {
  auto agent = caf::actor_cast<node_agent>(self_->current_sender());
  if (from.name == self.name && from.incarnation != self.incarnation) {
    spdlog::warn("cluster: refused node '{}' from {}: this node has that name", from.name,
                 endpoint(from.host, from.port));
    return make_error(errc::name_taken, "the node name '" + from.name + "' is taken");
  }
  if (from.name != self.name) {
    auto i = members.find(from.name);
    if (i != members.end() && i->second.info.incarnation != from.incarnation
        && i->second.agent != agent) {
      // The old one may be gone without anyone having noticed yet; it is
      // removed when its link drops or its heartbeats stop, and the new one
      // gets in with its next attempt.
      spdlog::warn("cluster: refused node '{}' from {}: a live member has that name",
                   from.name, endpoint(from.host, from.port));
      return make_error(errc::name_taken, "the node name '" + from.name + "' is taken");
    }
    admit(from, agent);
    for (auto& e : names)
      learn(std::move(e));
  }
  std::vector<node_info> others;
  for (auto& kv : members)
    if (kv.first != from.name)
      others.push_back(kv.second.info);
  return caf::result<node_info, std::vector<node_info>, std::vector<name_entry>>{
    self, std::move(others), all_names()};
}

void agent_state::on_down(const caf::down_msg& msg) {
  for (auto i = members.begin(); i != members.end(); ++i)
    if (i->second.agent.address() == msg.source) {
      std::string why;
      if (msg.reason == caf::exit_reason::remote_link_unreachable)
        why = "its link dropped or went silent";
      else if (!msg.reason || msg.reason == caf::exit_reason::user_shutdown)
        why = "it stopped";
      else
        why = self_->system().render(msg.reason);
      remove_member(i, why);
      return;
    }
  if (forget_actor(msg.source))
    return;
  auto& subs = subscribers;
  subs.erase(std::remove_if(subs.begin(), subs.end(),
                            [&](const caf::actor& s) { return s.address() == msg.source; }),
             subs.end());
}

} // namespace internal

using namespace internal;

namespace {

/// The name the agent is registered under in the actor system's registry.
constexpr caf::atom_value agent_name = caf::atom("cluster");

node_agent::behavior_type agent_impl(agent_pointer self, std::string node_name,
                                     cluster_config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.self.name = std::move(node_name);
  st.self.host = st.cfg.advertised_host();
  st.self.roles = st.cfg.roles;
  st.self.incarnation = std::random_device{}() * uint64_t{0x100000000} + std::random_device{}();
  st.mm = st.cfg.insecure ? self->system().middleman().actor_handle()
                          : self->system().openssl_manager().actor_handle();
  self->set_down_handler([self](caf::down_msg& msg) { self->state.on_down(msg); });
  self->attach_functor([] {
    cluster_counters().members.store(0, std::memory_order_relaxed);
    cluster_counters().names.store(0, std::memory_order_relaxed);
  });
  return {
    [self](hello_atom, node_info& from, std::vector<name_entry>& names) {
      return self->state.on_hello(from, names);
    },
    [self](introduce_atom, const node_info& info) { self->state.want(info); },
    [self](announce_atom, name_entry& entry) { self->state.learn(std::move(entry)); },
    [self](retract_atom, const std::string& name, const std::string& node) {
      self->state.retract(name, node);
    },
    [self](register_atom, const std::string& name, caf::strong_actor_ptr& actor) {
      return self->state.on_register_logged(name, actor);
    },
    [self](whereis_atom, const std::string& name, caf::timespan wait) {
      return self->state.on_whereis(name, wait);
    },
    [self](members_atom) {
      std::vector<node_info> result{self->state.self};
      for (auto& kv : self->state.members)
        result.push_back(kv.second.info);
      return result;
    },
    [self](subscribe_atom, caf::actor& who) {
      self->monitor(who);
      for (auto& kv : self->state.members)
        caf::anon_send(who, member_up_atom::value, kv.second.info);
      self->state.subscribers.push_back(std::move(who));
    },
    [self](listening_atom, uint16_t port) {
      auto& st = self->state;
      st.self.port = port;
      st.listening = true;
      self->state.update_gauges();
      spdlog::info("cluster: node '{}' listening on {} ({})", st.self.name,
                   endpoint(st.self.host, port),
                   st.cfg.insecure ? "insecure: no TLS, no authentication" : "mutual TLS");
      self->state.try_seeds();
      self->delayed_send(self, st.cfg.retry, retry_atom::value);
    },
    [self](retry_atom) {
      self->state.try_seeds();
      self->state.retry_wanted();
      self->delayed_send(self, self->state.cfg.retry, retry_atom::value);
    },
    [self](timeout_atom, const std::string& name, uint64_t id) {
      self->state.on_waiter_timeout(name, id);
    },
  };
}

} // namespace

cluster_stats& cluster_counters() {
  static cluster_stats stats;
  return stats;
}

caf::error wrong_interface(const std::string& name) {
  return make_error(errc::wrong_interface,
                    "the actor registered as '" + name + "' has another interface");
}

void announce_cluster(caf::actor_system_config& sys_cfg) {
  sys_cfg.add_message_type<node_info>("parley.node_info");
  sys_cfg.add_message_type<std::vector<node_info>>("parley.node_info_list");
  sys_cfg.add_message_type<name_entry>("parley.name_entry");
  sys_cfg.add_message_type<std::vector<name_entry>>("parley.name_entry_list");
  sys_cfg.add_message_type<node_agent>("parley.node_agent");
}

void setup_cluster(caf::actor_system_config& sys_cfg, const cluster_config& cfg) {
  sys_cfg.load<caf::io::middleman>();
  // Both sides must agree on the heartbeat; a silent peer is cut off after
  // the timeout, and its proxies report `remote_link_unreachable`.
  sys_cfg.set("middleman.heartbeat-interval", cfg.heartbeat);
  sys_cfg.set("middleman.connection-timeout", cfg.failure_timeout);
  // BASP refuses a peer with another application id: another program, or a
  // Parley of another wire version.
  sys_cfg.set("middleman.app-identifiers", std::vector<std::string>{"parley.cluster.v1"});
  if (!cfg.insecure) {
    tls_error_queue_guard();
    sys_cfg.load<caf::openssl::manager>();
    sys_cfg.openssl_certificate = cfg.cert;
    sys_cfg.openssl_key = cfg.key;
    sys_cfg.openssl_cafile = cfg.ca;
  }
  announce_cluster(sys_cfg);
}

child_spec cluster_child(std::string node_name, cluster_config cfg) {
  child_spec agent;
  agent.id = "cluster";
  agent.start = [node_name, cfg](caf::actor_system& sys,
                                 const supervisor_actor&) -> caf::expected<caf::actor> {
    auto handle = sys.spawn(agent_impl, node_name, cfg);
    auto port = uint16_t{cfg.port.value_or(0)};
    auto bind = cfg.bind == "0.0.0.0" ? std::string{} : cfg.bind;
    // With TLS, BASP listens on loopback only and the gate owns the public
    // port (cluster_gate.hpp: libcaf-openssl's own accept path has no
    // handshake timeout, no limits and a fresh TLS context per connect).
    // Outgoing links still go through libcaf-openssl's client.
    auto published = cfg.insecure
                       ? sys.middleman().publish(handle, port, bind.empty() ? nullptr : bind.c_str(),
                                                 true)
                       : sys.middleman().publish(handle, 0, "127.0.0.1", true);
    if (!published) {
      caf::anon_send_exit(handle, caf::exit_reason::user_shutdown);
      spdlog::error("cluster: cannot listen on {}: {}",
                    cfg.insecure ? endpoint(cfg.bind, port) : std::string{"127.0.0.1:0"},
                    sys.render(published.error()));
      return std::move(published.error());
    }
    uint16_t advertised = *published;
    std::shared_ptr<cluster_gate> gate;
    if (!cfg.insecure) {
      cluster_gate_config gcfg;
      gcfg.bind = cfg.bind;
      gcfg.port = port;
      gcfg.backend_port = *published;
      gcfg.cert = cfg.cert;
      gcfg.key = cfg.key;
      gcfg.ca = cfg.ca;
      gcfg.handshake_timeout
        = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.handshake_timeout);
      gcfg.max_pending = cfg.max_pending;
      gcfg.max_pending_per_address = cfg.max_pending_per_address;
      auto started = cluster_gate::start(gcfg);
      if (auto* why = std::get_if<std::string>(&started)) {
        caf::anon_send(sys.middleman().actor_handle(), caf::unpublish_atom::value,
                       handle.address(), *published);
        caf::anon_send_exit(handle, caf::exit_reason::user_shutdown);
        spdlog::error("cluster: cannot listen on {}: {}", endpoint(cfg.bind, port), *why);
        return make_error(errc::unavailable, "cluster port: " + *why);
      }
      gate = std::get<0>(std::move(started));
      advertised = gate->port();
    }
    // Closed again when this incarnation ends, so a restarted agent can
    // publish the same port.
    handle->attach_functor([mm = sys.middleman().actor_handle(), addr = handle.address(),
                            actual = *published, gate] {
      if (gate)
        gate->stop();
      caf::anon_send(mm, caf::unpublish_atom::value, addr, actual);
    });
    sys.registry().put(agent_name, caf::actor_cast<caf::strong_actor_ptr>(handle));
    caf::anon_send(handle, listening_atom::value, advertised);
    return caf::actor_cast<caf::actor>(handle);
  };
  return agent;
}

node_agent find_agent(caf::actor_system& sys) {
  return caf::actor_cast<node_agent>(sys.registry().get(agent_name));
}

caf::error wait_for_agent(caf::actor_system& sys, const supervisor_actor& root,
                          caf::timespan timeout) {
  // A supervisor answers only after its init started its children.
  caf::scoped_actor self{sys};
  caf::error result;
  caf::actor found;
  self->request(root, timeout, find_child_atom::value, std::string{"cluster"})
    .receive([&](caf::actor& x) { found = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
  if (!result && !found)
    result = make_error(errc::unavailable, std::string{"no running cluster agent"});
  return result;
}

} // namespace parley::runtime
