// CAF only: no Beast header may be included here (compile cost).
#include "parley/gateway/actor_bridge.hpp"

#include "parley/store/store_service.hpp"

#include "parley/actors/room_relay.hpp"
#include "parley/runtime/cluster.hpp"
#include "parley/runtime/cluster_gate.hpp"
#include "parley/runtime/scheduler.hpp"

#include "parley/actors/rooms_directory.hpp"
#include "parley/gateway/listener.hpp"
#include "parley/gateway/requests.hpp"
#include "parley/runtime/stats.hpp"
#include "parley/runtime/supervisor.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/exit_reason.hpp>
#include <caf/result.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/send.hpp>

#include <functional>
#include <mutex>
#include <variant>

namespace parley::gateway {

namespace {

class actor_connection final : public connection_handle {
public:
  actor_connection(actors::connection_actor handle, proto::codec_limits limits)
    : handle_(std::move(handle)), limits_(limits) {
    // nop
  }

  ~actor_connection() override {
    stop();
  }

  void deliver(std::string_view payload, proto::encoding enc) override {
    // The protocol ends here: the connection actor gets a plain request.
    auto res = proto::decode_client(payload, enc, limits_);
    if (auto* frame = std::get_if<v1::ClientFrame>(&res)) {
      auto req = to_request(std::move(*frame));
      if (auto* r = std::get_if<actors::client_request>(&req)) {
        caf::anon_send(handle_, actors::request_atom::value, std::move(*r), enc);
        return;
      }
      res = std::move(std::get<proto::decode_error>(req));
    }
    caf::anon_send(handle_, actors::bad_frame_atom::value,
                   std::move(std::get<proto::decode_error>(res)), enc);
  }

  void stop() override {
    if (handle_) {
      caf::anon_send_exit(handle_, caf::exit_reason::user_shutdown);
      handle_ = nullptr;
    }
  }

private:
  actors::connection_actor handle_;
  proto::codec_limits limits_;
};

} // namespace

connection_factory make_connection_factory(caf::actor_system& sys, actors::connection_config cfg,
                                           std::function<runtime::supervisor_actor()> supervisor) {
  return [&sys, cfg = std::move(cfg), supervisor = std::move(supervisor)](
           std::string session_id, actors::frame_sink_ptr sink,
           std::string token) -> std::unique_ptr<connection_handle> {
    // Spawned here, so the session has its actor at once; then adopted by
    // the supervisor, whose "start" hands over this very actor. Temporary:
    // a connection is never restarted (its socket is gone with it).
    auto handle = sys.spawn(actors::connection_impl, session_id, cfg,
                            actors::find_rooms_directory(sys), std::move(sink), std::move(token));
    if (auto sup = supervisor ? supervisor() : runtime::supervisor_actor{}) {
      runtime::child_spec spec;
      spec.id = "conn-" + session_id;
      spec.restart = runtime::restart_type::temporary;
      spec.shutdown = std::chrono::seconds(1);
      spec.start = [weak = caf::actor_cast<caf::actor_addr>(handle)](
                     caf::actor_system&,
                     const runtime::supervisor_actor&) -> caf::expected<caf::actor> {
        if (auto strong = caf::actor_cast<caf::actor>(weak))
          return strong;
        return caf::make_error(caf::sec::runtime_error, "the connection ended before adoption");
      };
      caf::anon_send(sup, runtime::add_child_atom::value, std::move(spec));
    }
    return std::make_unique<actor_connection>(std::move(handle), cfg.limits);
  };
}

namespace {

/// The running "connections" supervisor, set by its start function (which
/// the gateway supervisor runs before the listener's, and again on a restart).
class supervisor_slot {
public:
  void set(runtime::supervisor_actor sup) {
    std::lock_guard<std::mutex> guard{mtx_};
    sup_ = std::move(sup);
  }

  runtime::supervisor_actor get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return sup_;
  }

private:
  mutable std::mutex mtx_;
  runtime::supervisor_actor sup_;
};

/// Owns the listener: the detached actor the gateway supervisor stops, and
/// with it the listener (drain first).
class listener_state {
public:
  using pointer = listener_actor::stateful_pointer<listener_state>;

  static inline const char* name = "parley.gateway.listener";

  explicit listener_state(pointer) {
    // nop
  }

  ~listener_state() {
    if (l_)
      l_->stop(); // drains: blocks this (detached) actor's own thread only
  }

  void init(std::shared_ptr<listener> l) {
    l_ = std::move(l);
  }

  /// Where the listener listens, and its admin console's port (0: none).
  caf::result<std::string, uint16_t, uint16_t> where() const {
    return caf::make_result(l_->address(), l_->port(), l_->admin_port().value_or(0));
  }

private:
  std::shared_ptr<listener> l_;
};

listener_actor::behavior_type listener_impl(listener_state::pointer self,
                                            std::shared_ptr<listener> l) {
  self->state.init(std::move(l));
  return {
    [self](runtime::get_atom) { return self->state.where(); },
  };
}

} // namespace

runtime::child_spec gateway_child(gateway_config gcfg, actors::connection_config ccfg,
                                  std::shared_ptr<metrics> m) {
  auto slot = std::make_shared<supervisor_slot>();
  runtime::supervisor_flags conn_flags;
  conn_flags.strategy = runtime::restart_strategy::one_for_one;
  conn_flags.forget_ended = true;
  auto connections = runtime::supervisor_child("connections", conn_flags, {});
  connections.start = [slot, inner = connections.start](caf::actor_system& sys,
                                                        const runtime::supervisor_actor& parent)
    -> caf::expected<caf::actor> {
    auto res = inner(sys, parent);
    if (res)
      slot->set(caf::actor_cast<runtime::supervisor_actor>(*res));
    return res;
  };
  runtime::child_spec listener_spec;
  listener_spec.id = "listener";
  // The drain may take drain_timeout; only then may the supervisor kill it.
  listener_spec.shutdown = gcfg.drain_timeout + std::chrono::seconds(5);
  listener_spec.start = [gcfg, ccfg, m, slot](caf::actor_system& sys,
                                              const runtime::supervisor_actor&)
    -> caf::expected<caf::actor> {
    auto factory = make_connection_factory(sys, ccfg, [slot] { return slot->get(); });
    auto l = std::make_shared<listener>(gcfg, std::move(factory), m,
                                        [&sys](std::function<void()> request_run) {
                                          return runtime::host_actors(sys, std::move(request_run));
                                        });
    if (auto err = l->start())
      return caf::make_error(caf::sec::runtime_error, *err);
    return caf::actor_cast<caf::actor>(sys.spawn<caf::detached>(listener_impl, std::move(l)));
  };
  // Stopped in reverse: the listener drains first (503, 1001 to every
  // client, wait), then the connection actors go.
  runtime::supervisor_flags flags;
  flags.strategy = runtime::restart_strategy::one_for_one;
  return runtime::supervisor_child("gateway", flags, {connections, listener_spec});
}

void add_actor_metrics(metrics& m, std::shared_ptr<actors::connection_stats> connections,
                       std::shared_ptr<actors::room_stats> rooms) {
  m.add_collector([c = std::move(connections), r = std::move(rooms)] {
    auto load = [](auto& atomic) { return static_cast<double>(atomic.load(std::memory_order_relaxed)); };
    std::vector<prometheus::MetricFamily> out;
    out.push_back(gauge_family_of("parley_connection_actors", "Connection actors alive",
                                  load(c->open)));
    out.push_back(gauge_family_of("parley_connection_pending_requests",
                                  "Requests connection actors await from rooms and the "
                                  "directory (each holds a timeout in CAF's clock)",
                                  load(c->pending_requests)));
    out.push_back(counter_family_of("parley_requests_total",
                                    "Client requests that reached a connection actor",
                                    load(c->frames_in)));
    out.push_back(counter_family_of("parley_rate_limit_disconnects_total",
                                    "Clients closed (1008) for flooding past the rate limit",
                                    load(c->rate_limit_disconnects)));
    out.push_back(gauge_family_of("parley_rooms_open", "Rooms running", load(r->open)));
    out.push_back(gauge_family_of("parley_room_members",
                                  "Members of all rooms on this node (local and behind relays)",
                                  load(r->members)));
    out.push_back(counter_family_of("parley_rooms_started_total",
                                    "Rooms started (first starts and restarts)", load(r->started)));
    out.push_back(counter_family_of("parley_room_messages_total", "Messages given a seq",
                                    load(r->messages)));
    out.push_back(counter_family_of("parley_room_deliveries_total",
                                    "Frames a room handed to its members", load(r->deliveries)));
    out.push_back(counter_family_of("parley_room_relayed_total",
                                    "Frames rooms sent to relays on other nodes (one per node "
                                    "with members, not one per member)",
                                    load(r->relayed)));
    auto& sup = runtime::supervisors();
    out.push_back(counter_family_of("parley_supervisor_restarts_total",
                                    "Children restarted by supervisors", load(sup.restarts)));
    out.push_back(gauge_family_of("parley_supervisor_children",
                                  "Children listed by all supervisors (one per connection "
                                  "actor, plus the node's own)",
                                  load(sup.children)));
    out.push_back(counter_family_of("parley_supervisor_gave_up_total",
                                    "Supervisors that exceeded their restart intensity",
                                    load(sup.gave_up)));
    return out;
  });
}

void add_system_metrics(metrics& m, caf::actor_system& sys) {
  m.add_collector([&sys] {
    std::vector<prometheus::MetricFamily> out;
    out.push_back(gauge_family_of("parley_actors_running",
                                  "Actors running, as CAF's registry counts them (hidden "
                                  "system actors excluded)",
                                  static_cast<double>(sys.registry().running())));
    return out;
  });
}

void add_store_metrics(metrics& m, std::shared_ptr<store::store_service> store) {
  m.add_collector([s = std::move(store)] {
    auto load = [](auto& atomic) { return static_cast<double>(atomic.load(std::memory_order_relaxed)); };
    auto& st = s->stats();
    std::vector<prometheus::MetricFamily> out;
    out.push_back(counter_family_of("parley_store_commits_total",
                                    "Transactions committed (each holds every room's batch that "
                                    "waited for it: group commit)",
                                    load(st.commits)));
    out.push_back(counter_family_of("parley_store_commit_failures_total",
                                    "Transactions the store refused (their publishers got "
                                    "STORE_UNAVAILABLE)",
                                    load(st.commit_failures)));
    out.push_back(counter_family_of("parley_store_messages_total", "Messages committed",
                                    load(st.messages)));
    out.push_back(counter_family_of("parley_store_batches_total",
                                    "Room batches committed (a room's publishes that waited "
                                    "for one commit)",
                                    load(st.batches)));
    out.push_back(counter_family_of("parley_store_commit_seconds_total",
                                    "Time spent committing",
                                    load(st.commit_us) / 1e6));
    out.push_back(counter_family_of("parley_store_conflicts_total",
                                    "Batches refused because the store held their seqs already",
                                    load(st.conflicts)));
    out.push_back(counter_family_of("parley_store_reads_total",
                                    "History pages read from the store", load(st.reads)));
    out.push_back(counter_family_of("parley_store_read_failures_total",
                                    "History reads the store failed", load(st.read_failures)));
    out.push_back(counter_family_of("parley_store_loads_total",
                                    "Rooms loaded from the store as they started",
                                    load(st.loads)));
    out.push_back(counter_family_of("parley_store_trimmed_total",
                                    "Messages removed by retention", load(st.trimmed)));
    out.push_back(gauge_family_of("parley_store_failing",
                                  "1 while the store's last commit failed",
                                  s->failing() ? 1.0 : 0.0));
    return out;
  });
}

void add_cluster_metrics(metrics& m, std::shared_ptr<actors::relay_stats> relays) {
  m.add_collector([r = std::move(relays)] {
    auto load = [](auto& atomic) { return static_cast<double>(atomic.load(std::memory_order_relaxed)); };
    auto& c = runtime::cluster_counters();
    std::vector<prometheus::MetricFamily> out;
    out.push_back(gauge_family_of("parley_cluster_members",
                                  "Nodes in this node's view of the cluster, itself included",
                                  load(c.members)));
    out.push_back(counter_family_of("parley_cluster_joined_total",
                                    "Nodes admitted to the view (a node that comes back counts "
                                    "again)",
                                    load(c.joined)));
    out.push_back(counter_family_of("parley_cluster_left_total",
                                    "Nodes removed from the view (stopped, crashed, cut off)",
                                    load(c.left)));
    out.push_back(counter_family_of("parley_cluster_connect_failures_total",
                                    "Connects or hellos to other nodes that failed",
                                    load(c.connect_failures)));
    out.push_back(gauge_family_of("parley_cluster_names", "Names registered in the cluster",
                                  load(c.names)));
    auto& g = runtime::cluster_gate_counters();
    out.push_back(counter_family_of("parley_cluster_port_accepted_total",
                                    "Connections accepted on the cluster port",
                                    load(g.accepted)));
    out.push_back(counter_family_of("parley_cluster_port_refused_total",
                                    "Cluster-port connections closed at once: too many not yet "
                                    "authenticated, in all or from their address",
                                    load(g.refused)));
    out.push_back(counter_family_of("parley_cluster_port_timeouts_total",
                                    "Cluster-port connections closed for not authenticating in "
                                    "time",
                                    load(g.timed_out)));
    out.push_back(counter_family_of("parley_cluster_port_handshake_failures_total",
                                    "Failed TLS handshakes on the cluster port (no certificate, "
                                    "another CA, not TLS)",
                                    load(g.handshake_failed)));
    out.push_back(gauge_family_of("parley_cluster_port_pending",
                                  "Cluster-port connections not yet authenticated",
                                  load(g.pending)));
    out.push_back(gauge_family_of("parley_cluster_port_links",
                                  "Authenticated node links through the cluster port",
                                  load(g.links)));
    out.push_back(gauge_family_of("parley_relays_open",
                                  "Relays of rooms owned by other nodes", load(r->open)));
    out.push_back(gauge_family_of("parley_relay_members", "Local members of all relays",
                                  load(r->members)));
    out.push_back(counter_family_of("parley_relay_frames_total",
                                    "Frames relays received from rooms on other nodes",
                                    load(r->frames_in)));
    return out;
  });
}

} // namespace parley::gateway
