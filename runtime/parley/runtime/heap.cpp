#include "parley/runtime/heap.hpp"

#include <malloc.h>

// GCC defines __SANITIZE_ADDRESS__; clang answers __has_feature.
#if defined(__SANITIZE_ADDRESS__)
#  define PARLEY_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define PARLEY_ASAN 1
#  endif
#endif

#ifdef PARLEY_ASAN
// libasan exports it; GCC 12 ships no header for it (clang's
// <sanitizer/allocator_interface.h> declares the same).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace parley::runtime {

size_t heap_live_bytes() {
#ifdef PARLEY_ASAN
  // ASan replaces malloc: glibc's arenas are empty. Freed blocks count as
  // freed here even while they wait in the quarantine.
  return __sanitizer_get_current_allocated_bytes();
#else
  auto info = mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

const char* heap_allocator() {
#ifdef PARLEY_ASAN
  return "asan";
#else
  return "glibc";
#endif
}

} // namespace parley::runtime
