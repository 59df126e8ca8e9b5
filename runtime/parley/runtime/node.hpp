#pragma once

/// @file
/// A Parley node: the actor system, its configuration, the root supervisor
/// and clean shutdown on SIGINT/SIGTERM.

#include "parley/runtime/config.hpp"
#include "parley/runtime/supervisor.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace caf {
class scoped_actor;
} // namespace caf

namespace parley::runtime {

/// Announces the runtime's message types and error category to `cfg`.
/// Every actor system that runs Parley actors calls it (node and tests).
void announce_runtime(caf::actor_system_config& cfg);

/// Owns one actor system and the root of its supervisor tree. Created and
/// used on the program's main thread.
///
/// The constructor blocks SIGINT, SIGTERM and SIGHUP (`on_reload`) before
/// any thread starts, so a
/// dedicated watcher thread receives them with `sigwait`: the first one asks
/// the root supervisor to stop (children stop in reverse order). A second
/// one exits at once if it is SIGINT after SIGINT (Ctrl-C twice) or comes
/// `repeat_grace` or more after the first; sooner, it is logged and ignored.
class node {
public:
  /// Hook to load modules or announce types before the system starts.
  using setup_fn = std::function<void(caf::actor_system_config&)>;

  explicit node(const node_config& cfg, const setup_fn& setup = {});
  ~node();

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  caf::actor_system& system() {
    return *system_;
  }

  const node_config& config() const {
    return cfg_;
  }

  /// Spawns the root supervisor with `children`; call once.
  supervisor_actor start(std::vector<child_spec> children, supervisor_flags flags = {});

  supervisor_actor root() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return root_;
  }

  /// Blocks until the root supervisor has exited; returns its exit reason
  /// (empty or `user_shutdown` after a clean stop).
  caf::error wait();

  /// Asks the root supervisor to stop, as SIGTERM does.
  void stop();

  /// Runs `hook` (on the signal watcher's thread) when SIGHUP arrives, e.g.
  /// to re-read a certificate. Without any hook SIGHUP stops the node as
  /// SIGTERM does (its default meaning, the terminal went away).
  void on_reload(std::function<void()> hook);

  /// Runs `hook` once, when the node is first asked to stop (a signal or
  /// `stop()`), before the tree starts stopping: e.g. to tell systemd
  /// STOPPING=1. It runs on the thread that asked; registered after the
  /// stop was asked for, it runs at once. What it uses must outlive the node.
  void on_stop(std::function<void()> hook);

  /// A second SIGTERM (or a SIGTERM after a SIGINT) this soon after the
  /// first does not cut the drain short: it is the same request twice.
  static constexpr std::chrono::seconds repeat_grace{2};

  /// True once a signal asked the node to stop.
  bool signalled() const {
    return signalled_;
  }

  /// The exit status for `reason`: 0 for a clean stop, 1 otherwise.
  static int exit_status(const caf::error& reason);

private:
  void watch_signals();

  node_config cfg_;
  caf::actor_system_config sys_cfg_;
  std::unique_ptr<caf::actor_system> system_;
  mutable std::mutex mtx_; // guards root_ and the hooks against the watcher thread
  supervisor_actor root_;
  std::vector<std::function<void()>> reload_hooks_;
  std::vector<std::function<void()>> stop_hooks_;
  bool stop_hooks_ran_ = false; // guarded by mtx_
  std::thread watcher_;
  /// Watches the root for `wait`, made in `start`: CAF 0.17 counts even a
  /// hidden scoped actor as running, so one made later (when the program
  /// waits, after it said it is ready) would change the running-actors
  /// gauge under a client that already read it.
  std::unique_ptr<caf::scoped_actor> waiter_;
  std::atomic<bool> signalled_{false};
  bool masked_ = false;
};

} // namespace parley::runtime
