#include "support/process.hpp"

#include <cerrno>
#include <csignal>
#include <stdexcept>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace parley::test {

namespace {

using clock_type = std::chrono::steady_clock;

std::chrono::milliseconds remaining(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
  return left.count() > 0 ? left : std::chrono::milliseconds(0);
}

} // namespace

process::process(std::vector<std::string> argv) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  // The test process blocks some signals (see runtime::node); the child
  // starts with none blocked, as it would from a shell.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  auto rc = posix_spawn(&pid_, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  if (rc != 0) {
    close(out_fd_);
    close(err_fd_);
    throw std::runtime_error("cannot start " + argv[0]);
  }
}

process::~process() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0)
    close(out_fd_);
  if (err_fd_ >= 0)
    close(err_fd_);
}

bool process::pump(std::chrono::milliseconds timeout) {
  pollfd fds[2];
  nfds_t n = 0;
  int* owners[2];
  std::string* sinks[2];
  if (out_fd_ >= 0) {
    fds[n] = {out_fd_, POLLIN, 0};
    owners[n] = &out_fd_;
    sinks[n++] = &out_;
  }
  if (err_fd_ >= 0) {
    fds[n] = {err_fd_, POLLIN, 0};
    owners[n] = &err_fd_;
    sinks[n++] = &err_;
  }
  if (n == 0)
    return false;
  auto rc = poll(fds, n, static_cast<int>(timeout.count()));
  if (rc < 0 && errno != EINTR)
    return false;
  for (nfds_t i = 0; i < n; ++i) {
    if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
      continue;
    char buf[4096];
    auto got = read(fds[i].fd, buf, sizeof(buf));
    if (got > 0) {
      sinks[i]->append(buf, static_cast<size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      close(*owners[i]);
      *owners[i] = -1;
    }
  }
  return true;
}

bool process::wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (out_.find(text) != std::string::npos || err_.find(text) != std::string::npos)
      return true;
    auto left = remaining(deadline);
    if (left.count() == 0 || !pump(left))
      return out_.find(text) != std::string::npos || err_.find(text) != std::string::npos;
  }
}

namespace {

std::optional<std::string> rest_of_line(const std::string& s, const std::string& text) {
  auto pos = s.find(text);
  if (pos == std::string::npos)
    return std::nullopt;
  auto from = pos + text.size();
  auto end = s.find('\n', from);
  if (end == std::string::npos)
    return std::nullopt;
  return s.substr(from, end - from);
}

} // namespace

std::optional<std::string> process::wait_for_line(const std::string& text,
                                                  std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    for (auto* s : {&out_, &err_})
      if (auto rest = rest_of_line(*s, text))
        return rest;
    auto left = remaining(deadline);
    if (left.count() == 0 || !pump(left)) {
      for (auto* s : {&out_, &err_})
        if (auto rest = rest_of_line(*s, text))
          return rest;
      return std::nullopt;
    }
  }
}

size_t process::count(const std::string& text) const {
  size_t n = 0;
  for (auto* s : {&out_, &err_})
    for (auto pos = s->find(text); pos != std::string::npos; pos = s->find(text, pos + 1))
      ++n;
  return n;
}

bool process::wait_for_count(const std::string& text, size_t n,
                             std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (count(text) >= n)
      return true;
    auto left = remaining(deadline);
    if (left.count() == 0 || !pump(left))
      return count(text) >= n;
  }
}

std::optional<int> process::wait(std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  // Drain both pipes first: a child blocked on a full pipe never exits.
  while (out_fd_ >= 0 || err_fd_ >= 0) {
    auto left = remaining(deadline);
    if (left.count() == 0)
      return std::nullopt;
    pump(left);
  }
  while (!status_) {
    int st = 0;
    auto rc = waitpid(pid_, &st, WNOHANG);
    if (rc == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (remaining(deadline).count() == 0)
      return std::nullopt;
    // The pipes are closed, so the exit is imminent; poll gently.
    poll(nullptr, 0, 5);
  }
  return status_;
}

void process::signal(int sig) {
  if (!status_)
    ::kill(pid_, sig);
}

run_result run_program(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  process p{std::move(argv)};
  run_result result;
  result.status = p.wait(timeout);
  result.out = p.out();
  result.err = p.err();
  return result;
}

} // namespace parley::test
