#pragma once

/// @file
/// Supervision as plain data, shaped like Erlang/OTP's supervisor: a child is
/// a `child_spec`, a supervisor is a list of them plus `supervisor_flags`.

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include "parley/runtime/atoms.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace parley::runtime {

/// When a child that exited is started again (OTP's `restart`).
enum class restart_type : uint8_t {
  /// Always restarted, whatever the exit reason.
  permanent,
  /// Restarted only when it exits abnormally (not `normal`, not a shutdown).
  transient,
  /// Never restarted; its spec is dropped when it exits. Connections are these.
  temporary,
};

/// Which children a supervisor restarts when one of them fails.
enum class restart_strategy : uint8_t {
  /// Only the failed child.
  one_for_one,
  /// All children: the others are stopped (in reverse order), then all start.
  one_for_all,
  /// The failed child and every child started after it.
  rest_for_one,
};

std::string to_string(restart_type x);
std::string to_string(restart_strategy x);

/// Default time a child gets to stop after `user_shutdown` before `kill`.
constexpr caf::timespan default_shutdown_timeout = std::chrono::seconds(5);

/// A shutdown timeout that never escalates to `kill`: for children that are
/// supervisors themselves, which need whatever time their own children take.
constexpr caf::timespan infinite_shutdown = caf::timespan::max();

struct child_spec;
struct child_info;
struct supervisor_report;

/// The messages a supervisor understands.
using supervisor_actor = caf::typed_actor<
  // Adds a child at the end and starts it; replies with the new actor.
  caf::replies_to<add_child_atom, child_spec>::with<caf::actor>,
  // Stops one child and drops its spec; replies with its final info.
  caf::replies_to<remove_child_atom, std::string>::with<child_info>,
  // The current incarnation of a child; invalid while it is not running.
  caf::replies_to<find_child_atom, std::string>::with<caf::actor>,
  // Which children there are, in start order, and how often each restarted.
  caf::replies_to<describe_atom>::with<supervisor_report>,
  // Internal: a child's shutdown timeout expired (id, stop generation).
  caf::reacts_to<kill_child_atom, std::string, uint64_t>>;

/// Starts a child, given the actor system and the supervisor that starts it
/// (so a child can find its siblings). Returns the new actor or the reason it
/// could not start. Runs inside the supervisor, which then links to the child.
using start_fn =
  std::function<caf::expected<caf::actor>(caf::actor_system&, const supervisor_actor&)>;

/// How to start and look after one child (OTP's child spec).
struct child_spec {
  /// Unique among the supervisor's children.
  std::string id;
  start_fn start;
  restart_type restart = restart_type::permanent;
  /// Time between `user_shutdown` and `kill` when the child is stopped.
  caf::timespan shutdown = default_shutdown_timeout;
};

/// A supervisor's policy (OTP's sup_flags).
struct supervisor_flags {
  restart_strategy strategy = restart_strategy::one_for_one;
  /// At most this many restarts ...
  size_t intensity = 3;
  /// ... within this period; one more and the supervisor stops its children
  /// and exits with `errc::restart_intensity_exceeded`.
  caf::timespan period = std::chrono::seconds(5);
  /// Drop a child's spec when it ends for good (a transient child ending
  /// normally), as OTP's simple_one_for_one does with dynamic children. For
  /// supervisors of on-demand children such as rooms.
  bool forget_ended = false;
};

/// What a supervisor reports about one child.
struct child_info {
  std::string id;
  restart_type restart = restart_type::permanent;
  /// False for a transient child that ended normally and was not restarted.
  bool running = false;
  /// How often the supervisor restarted this child.
  uint64_t restarts = 0;
  /// The current incarnation; invalid when not running.
  caf::actor handle;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_info& x) {
  return f(caf::meta::type_name("parley.child_info"), x.id, x.restart, x.running,
           x.restarts, x.handle);
}

/// The answer to `describe_atom`: the children in start order.
struct supervisor_report {
  restart_strategy strategy = restart_strategy::one_for_one;
  std::vector<child_info> children;
  /// Restarts counted in the current intensity window.
  size_t recent_restarts = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, supervisor_report& x) {
  return f(caf::meta::type_name("parley.supervisor_report"), x.strategy, x.children,
           x.recent_restarts);
}

} // namespace parley::runtime

// A child spec carries a start function: it can travel between actors of one
// process, never between nodes.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::runtime::child_spec)
