#include "parley_bench/spread.hpp"

#include <algorithm>

namespace parley::bench {

size_t sources_needed(size_t total, size_t per_address) {
  per_address = std::max<size_t>(per_address, 1);
  return std::max<size_t>(1, (total + per_address - 1) / per_address);
}

std::string source_address(size_t k) {
  uint32_t ip = 0x7F000001u + static_cast<uint32_t>(k);
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xFF) + "."
         + std::to_string((ip >> 8) & 0xFF) + "." + std::to_string(ip & 0xFF);
}

size_t source_of(size_t global_index, size_t sources) {
  return global_index % std::max<size_t>(sources, 1);
}

std::vector<size_t> split_workers(size_t total, size_t per_process) {
  per_process = std::max<size_t>(per_process, 1);
  size_t n = std::max<size_t>(1, (total + per_process - 1) / per_process);
  std::vector<size_t> out(n, total / n);
  for (size_t i = 0; i < total % n; ++i)
    ++out[i];
  return out;
}

std::vector<size_t> split_rooms(size_t rooms, size_t members, size_t per_process) {
  if (members > per_process || members == 0)
    return {};
  size_t rooms_per = per_process / members;
  size_t n = std::max<size_t>(1, (rooms + rooms_per - 1) / rooms_per);
  std::vector<size_t> out(n, rooms / n);
  for (size_t i = 0; i < rooms % n; ++i)
    ++out[i];
  return out;
}

} // namespace parley::bench
