#pragma once

/// @file
/// The bytes the process has allocated and not yet freed, as its allocator
/// counts them. RSS cannot show what a process gives back (glibc keeps freed
/// pages, and AddressSanitizer holds freed blocks in quarantine), so checks
/// that memory returns after load read this instead (`/metrics`:
/// `parley_heap_live_bytes`; tests/gateway/churn_test.cpp).

#include <cstddef>

namespace parley::runtime {

/// Bytes allocated and not freed: glibc's `mallinfo2` (in-use bytes of every
/// arena plus blocks mapped on their own), or AddressSanitizer's count of
/// live user bytes when the build runs under it. Any thread; takes the
/// allocator's locks for a moment, so read it at scrape time, not per frame.
size_t heap_live_bytes();

/// Which allocator `heap_live_bytes` read: "glibc" or "asan".
const char* heap_allocator();

} // namespace parley::runtime
