#pragma once

/// @file
/// Runs a real program for integration tests: captures stdout and stderr,
/// waits for a line to appear or for the exit, every wait bounded.
///
/// Hand-written on POSIX because Boost.Process needs Boost.Filesystem's
/// compiled library, which the project does not otherwise depend on.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace parley::test {

class process {
public:
  /// Starts `argv[0]` with the arguments `argv[1..]`.
  explicit process(std::vector<std::string> argv);
  ~process(); // kills the child if it still runs

  process(const process&) = delete;
  process& operator=(const process&) = delete;

  /// Waits until stdout or stderr holds `text`; false on timeout or exit.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout);

  /// Waits until stdout or stderr holds a whole line (ended by a newline)
  /// that contains `text`; what follows `text` on that line, or nothing on
  /// timeout or exit. Unlike wait_for_output, never sees half a line.
  std::optional<std::string> wait_for_line(const std::string& text,
                                           std::chrono::milliseconds timeout);

  /// Waits until stdout and stderr together hold `text` at least `count`
  /// times; false on timeout or exit.
  bool wait_for_count(const std::string& text, size_t count, std::chrono::milliseconds timeout);

  /// How often stdout and stderr together hold `text` so far.
  size_t count(const std::string& text) const;

  /// Waits for the exit; the exit status, or 128 + signal; nothing on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);

  void signal(int sig);

  const std::string& out() const {
    return out_;
  }

  const std::string& err() const {
    return err_;
  }

  pid_t pid() const {
    return pid_;
  }

private:
  /// Reads what is available, waiting at most `timeout`; false once both
  /// pipes are closed.
  bool pump(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  std::optional<int> status_;
};

/// Runs a program to completion (bounded by `timeout`) and returns it.
struct run_result {
  std::optional<int> status;
  std::string out;
  std::string err;
};

run_result run_program(std::vector<std::string> argv,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60));

} // namespace parley::test
