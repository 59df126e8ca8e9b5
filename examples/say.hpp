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

/// One lock for every line. It cannot be a static inside `say`: each
/// instantiation of the template would get a mutex of its own, and two
/// lines of different argument types would interleave.
inline std::mutex& say_mutex() {
  static std::mutex mtx;
  return mtx;
}

template <class... Ts>
void say(const Ts&... xs) {
  std::ostringstream line;
  (line << ... << xs);
  std::lock_guard<std::mutex> guard{say_mutex()};
  std::cout << line.str() << std::endl;
}

} // namespace parley::examples
