#pragma once

/// @file
/// One line to stdout, whole and at once, from any thread, for the gevent
/// examples. `caf::aout` would hand the line to CAF's printer actor, which
/// prints it later than the main thread's own `std::cout` lines, so the
/// output would not be in the order things happened.

#include <iostream>
#include <mutex>
#include <sstream>
#include <string>

namespace parley::examples {

template <class... Ts>
void say(const Ts&... xs) {
  static std::mutex mtx;
  std::ostringstream line;
  (line << ... << xs);
  std::lock_guard<std::mutex> guard{mtx};
  std::cout << line.str() << std::endl;
}

} // namespace parley::examples
