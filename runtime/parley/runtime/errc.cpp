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
    case errc::not_a_member:
      return "not_a_member";
    case errc::already_member:
      return "already_member";
    case errc::refused:
      return "refused";
    case errc::invalid_room_name:
      return "invalid_room_name";
    case errc::behavior_failed:
      return "behavior_failed";
    case errc::unavailable:
      return "unavailable";
    case errc::name_taken:
      return "name_taken";
    case errc::not_found:
      return "not_found";
    case errc::wrong_interface:
      return "wrong_interface";
    case errc::unauthenticated:
      return "unauthenticated";
    case errc::forbidden:
      return "forbidden";
    case errc::store_unavailable:
      return "store_unavailable";
    case errc::moved:
      return "moved";
    case errc::name_in_use:
      return "name_in_use";
    case errc::internal:
      return "internal";
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

} // namespace parley::runtime
