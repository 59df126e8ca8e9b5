#include "parley/runtime/node.hpp"

#include "parley/runtime/errc.hpp"
#include "parley/runtime/log.hpp"
#include "parley/runtime/scheduler.hpp"

#include <caf/exit_reason.hpp>
#include <caf/to_string.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <pthread.h>
#include <signal.h>

#include <cstdlib>

namespace parley::runtime {

namespace {

// SIGUSR2 only wakes the watcher when the node is destroyed.
sigset_t watched_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR2);
  return set;
}

} // namespace

void announce_runtime(caf::actor_system_config& cfg) {
  // (The templated add_error_category<T> of CAF 0.17.6 does not compile.)
  cfg.add_error_category(errc_category,
                         [](uint8_t code, caf::atom_value, const caf::message& ctx) {
                           auto result = "parley." + to_string(static_cast<errc>(code));
                           if (!ctx.empty())
                             result += caf::to_string(ctx);
                           return result;
                         });
  cfg.add_message_type<child_info>("parley.child_info");
  cfg.add_message_type<std::vector<child_info>>("parley.child_info_list");
  cfg.add_message_type<supervisor_report>("parley.supervisor_report");
}

node::node(const node_config& cfg, const setup_fn& setup) : cfg_(cfg) {
  if (auto level = parse_log_level(cfg_.log_level))
    configure_logging(*level);
  // Block before the actor system starts its threads: they inherit the mask,
  // so only the watcher ever receives these signals.
  auto set = watched_signals();
  masked_ = pthread_sigmask(SIG_BLOCK, &set, nullptr) == 0;
  sys_cfg_.set("scheduler.max-threads", cfg_.scheduler_threads());
  use_scheduler(sys_cfg_, cfg_.scheduler);
  announce_runtime(sys_cfg_);
  if (setup)
    setup(sys_cfg_);
  system_ = std::make_unique<caf::actor_system>(sys_cfg_);
  if (masked_)
    watcher_ = std::thread{[this] { watch_signals(); }};
  spdlog::info("node '{}' up: {} scheduler threads, {} policy", cfg_.name,
               cfg_.scheduler_threads(), cfg_.scheduler);
}

node::~node() {
  if (watcher_.joinable()) {
    pthread_kill(watcher_.native_handle(), SIGUSR2);
    watcher_.join();
  }
  stop();
  {
    std::lock_guard<std::mutex> guard{mtx_};
    root_ = nullptr;
  }
  waiter_.reset(); // a scoped actor ends before its system
  system_.reset(); // waits for every actor to finish
  if (masked_) {
    auto set = watched_signals();
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  }
}

void node::watch_signals() {
  auto set = watched_signals();
  int first = 0;
  std::chrono::steady_clock::time_point first_at;
  auto name = [](int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "SIGTERM"; };
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0 || sig == SIGUSR2)
      return;
    if (sig == SIGHUP) {
      std::vector<std::function<void()>> hooks;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        hooks = reload_hooks_;
      }
      if (!hooks.empty()) {
        spdlog::info("SIGHUP received, reloading");
        for (auto& hook : hooks)
          hook();
        continue;
      }
      // Nothing to reload: SIGHUP keeps its usual meaning (the terminal
      // went away), a stop, but a clean one.
    }
    if (!signalled_.exchange(true)) {
      first = sig;
      first_at = std::chrono::steady_clock::now();
      spdlog::info("{} received, shutting down", name(sig));
      stop();
      continue;
    }
    // Ctrl-C twice at a terminal means "now". A second SIGTERM soon after
    // the first is the same request twice: GNU timeout and systemd signal
    // the process and then its group, so the process gets both at once.
    bool twice_from_terminal = sig == SIGINT && first == SIGINT;
    if (twice_from_terminal || std::chrono::steady_clock::now() - first_at >= repeat_grace) {
      spdlog::error("second {}, exiting now", name(sig));
      std::_Exit(128 + sig);
    }
    spdlog::info("{} again within {} s of the first: still draining (send it again later to "
                 "exit at once)",
                 name(sig), repeat_grace.count());
  }
}

void node::on_reload(std::function<void()> hook) {
  std::lock_guard<std::mutex> guard{mtx_};
  reload_hooks_.push_back(std::move(hook));
}

supervisor_actor node::start(std::vector<child_spec> children, supervisor_flags flags) {
  auto root = spawn_supervisor(*system_, flags, std::move(children));
  {
    std::lock_guard<std::mutex> guard{mtx_};
    root_ = root;
  }
  waiter_ = std::make_unique<caf::scoped_actor>(*system_, true);
  (*waiter_)->monitor(root);
  if (signalled_) // a signal came before there was a root to stop
    stop();
  return root;
}

caf::error node::wait() {
  if (!waiter_)
    return caf::none;
  caf::error reason;
  (*waiter_)->receive([&](caf::down_msg& msg) { reason = std::move(msg.reason); });
  waiter_.reset();
  return reason;
}

void node::on_stop(std::function<void()> hook) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!stop_hooks_ran_) {
      stop_hooks_.push_back(std::move(hook));
      return;
    }
  }
  hook(); // the stop was asked for already (a signal during start-up)
}

void node::stop() {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!stop_hooks_ran_) {
      stop_hooks_ran_ = true;
      hooks = std::move(stop_hooks_);
    }
  }
  for (auto& hook : hooks)
    hook();
  if (auto root = this->root())
    caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
}

int node::exit_status(const caf::error& reason) {
  return is_normal_exit(reason) ? 0 : 1;
}

} // namespace parley::runtime
