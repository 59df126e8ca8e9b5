#pragma once

/// @file
/// Limits the gevent-style primitives share, each with its reason.

#include <cstddef>

namespace parley::gevent {

/// Requests an event, async result, queue or sleeper parks at most. Every
/// parked request holds a response promise (and keeps its sender alive), so
/// a flood of waits must not grow an actor's memory without bound; beyond
/// the limit a wait is refused with `errc::capacity_exceeded`.
constexpr size_t default_max_waiters = 10'000;

/// Tasks one `join` of a joiner takes at most: a join holds one pending
/// request per task.
constexpr size_t default_max_join = 10'000;

} // namespace parley::gevent
