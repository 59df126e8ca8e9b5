#include "parley/runtime/errc.hpp"

namespace parley::runtime {

std::string to_string(errc x) {
  switch (x) {
    case errc::duplicate_child:
      return "duplicate_child";
    case errc::unknown_child:
      return "unknown_child";
    case errc::child_start_failed:
      return "child_start_failed";
    case errc::restart_intensity_exceeded:
      return "restart_intensity_exceeded";
    case errc::timeout:
      return "timeout";
    case errc::capacity_exceeded:
      return "capacity_exceeded";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::supervisor_stopping:
      return "supervisor_stopping";
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

} // namespace parley::runtime
