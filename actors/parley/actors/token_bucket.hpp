#pragma once

/// @file
/// A token bucket: `rate` tokens per second, at most `burst` saved up.

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace parley::actors {

class token_bucket {
public:
  using clock_type = std::chrono::steady_clock;
  using time_point = clock_type::time_point;

  token_bucket(double rate_per_second, double burst, time_point now)
    : rate_(rate_per_second), burst_(burst), tokens_(burst), last_(now) {
    // nop
  }

  /// Takes one token if there is one.
  bool take(time_point now) {
    refill(now);
    if (tokens_ < 1.0)
      return false;
    tokens_ -= 1.0;
    return true;
  }

  double tokens(time_point now) {
    refill(now);
    return tokens_;
  }

private:
  void refill(time_point now) {
    if (now <= last_)
      return;
    std::chrono::duration<double> dt = now - last_;
    tokens_ = std::min(burst_, tokens_ + dt.count() * rate_);
    last_ = now;
  }

  double rate_;
  double burst_;
  double tokens_;
  time_point last_;
};

} // namespace parley::actors
