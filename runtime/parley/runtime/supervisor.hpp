#pragma once

/// @file
/// An OTP-style supervisor on CAF 0.17, which has links, monitors and exit
/// handlers but no supervisor of its own.
///
/// The supervisor monitors every child and learns of each end from a
/// `down_msg`. It does not rely on links: CAF 0.17 unlinks an actor from the
/// sender of an `exit_msg` it receives, so a child the supervisor stopped
/// would never report back over a link. Children still cannot outlive their
/// supervisor: an orderly stop takes them down first, and if the supervisor
/// itself is killed its state's destructor kills what is left. The
/// supervisor traps exits (`set_exit_handler`): an `exit_msg` from its
/// parent, or anyone, is a request to stop. Stopping is a sequence: children
/// stop one at a time in reverse start order, each gets `user_shutdown` and,
/// after its `shutdown` timeout, `kill`. While a sequence runs, other events
/// wait their turn in `deferred_`.
///
/// ```
///         start children in order
///  init ───────────────────────────▶ running ◀──────────────┐
///                                     │  child exits         │ restarted
///                                     ▼                      │
///                          restart? ──yes── stop siblings ───┘
///                                     │     (per strategy)
///              too many restarts, or  │
///              exit request ──────────▼
///                                  stopping (reverse order) ──▶ quit(reason)
/// ```

#include "parley/runtime/atoms.hpp"
#include "parley/runtime/child_spec.hpp"

#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/replies_to.hpp>

#include <deque>
#include <list>
#include <optional>
#include <unordered_map>

namespace parley::runtime {

/// The state of one supervisor actor; runs only inside that actor.
class supervisor_state {
public:
  using pointer = supervisor_actor::stateful_pointer<supervisor_state>;

  static inline const char* name = "parley.supervisor";

  explicit supervisor_state(pointer self) : self_(self) {
    // nop
  }

  /// Kills children still running, which happens only when the supervisor
  /// ends without its orderly stop (it was killed).
  ~supervisor_state();

  /// Registers and starts `specs` in order; on failure stops the started
  /// ones and ends the supervisor with the start error.
  void init(supervisor_flags flags, std::vector<child_spec> specs);

  // -- message handlers ----------------------------------------------------------

  void on_exit_msg(caf::exit_msg& msg);
  void on_down_msg(caf::down_msg& msg);
  caf::result<caf::actor> add_child(child_spec spec);
  caf::result<child_info> remove_child(const std::string& id);
  caf::result<caf::actor> find_child(const std::string& id);
  supervisor_report describe() const;
  void on_kill_timeout(const std::string& id, uint64_t generation);

private:
  struct child {
    child_spec spec;
    caf::actor handle;
    uint64_t restarts = 0;
    /// Bumped whenever a stop begins, so a stale kill timer does nothing.
    uint64_t generation = 0;
  };

  using child_list = std::list<child>;
  using child_iter = child_list::iterator;

  /// Starts one child and monitors it (no link: see the file comment).
  caf::error start(child_iter it);

  /// Decides what the exit of a child the supervisor did not stop means.
  void on_child_exit(const std::string& id, const caf::error& reason);

  /// Records a restart; false if the intensity is exceeded.
  bool record_restart();

  /// Starts the children named in `ids` that are not running, in order.
  void restart(const std::vector<std::string>& ids);

  /// Stops `targets` one after the other, then calls `then`.
  void stop_then(std::vector<child_iter> targets, std::function<void()> then);
  void stop_next();
  void forget_handle(child_iter it);
  void erase(child_iter it);

  /// Stops every child in reverse order, then quits with `reason`.
  void shut_down(caf::error reason);
  void stop_all_then_quit();

  caf::expected<caf::actor> add_child_now(child_spec spec);
  caf::result<child_info> remove_child_now(const std::string& id);

  child_info info(const child& c) const;
  child_iter by_id(const std::string& id);

  pointer self_;
  supervisor_flags flags_;
  child_list children_;
  std::unordered_map<std::string, child_iter> by_id_;
  std::unordered_map<caf::actor_addr, child_iter> by_addr_;
  std::deque<caf::actor_clock::time_point> restart_times_;
  // -- the stop sequence in progress, if any --
  bool busy_ = false;
  std::deque<child_iter> stop_queue_;
  std::optional<child_iter> stopping_;
  std::function<void()> after_stop_;
  /// Requests and child exits that arrived during a stop sequence.
  std::deque<std::function<void()>> deferred_;
  // -- the supervisor's own end --
  bool shutting_down_ = false;
  bool final_stop_ = false;
  caf::error shutdown_reason_;
};

/// The supervisor's behaviour; spawn it with `spawn_supervisor`.
supervisor_actor::behavior_type supervisor_impl(supervisor_state::pointer self,
                                                supervisor_flags flags,
                                                std::vector<child_spec> specs);

/// Spawns a supervisor outside of any supervision (a tree's root).
supervisor_actor spawn_supervisor(caf::actor_system& sys, supervisor_flags flags,
                                  std::vector<child_spec> specs);

/// A child spec for a nested supervisor: permanent, with an infinite shutdown
/// timeout so that its own children get their full shutdown time.
child_spec supervisor_child(std::string id, supervisor_flags flags,
                            std::vector<child_spec> specs);

/// True if `reason` counts as a normal end for restart decisions
/// (`normal`, `user_shutdown`; OTP's `normal` and `shutdown`).
bool is_normal_exit(const caf::error& reason);

} // namespace parley::runtime
