#include "parley_bench/stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace parley::bench {

// -- histogram ------------------------------------------------------------------

histogram::histogram() : counts_(bucket_count, 0) {
  // nop
}

size_t histogram::index_of(int64_t micros) {
  if (micros < static_cast<int64_t>(sub_buckets))
    return static_cast<size_t>(std::max<int64_t>(micros, 0));
  auto v = static_cast<uint64_t>(micros);
  // Keep the top 7 bits: 64..127 picks one of 64 sub-buckets.
  size_t shift = 63 - static_cast<size_t>(__builtin_clzll(v)) - 6;
  size_t sub = static_cast<size_t>(v >> shift) - sub_buckets; // 0..63
  size_t idx = (shift + 1) * sub_buckets + sub;
  return std::min(idx, bucket_count - 1);
}

int64_t histogram::upper_bound(size_t index) {
  if (index < sub_buckets)
    return static_cast<int64_t>(index);
  size_t shift = index / sub_buckets - 1;
  uint64_t sub = index % sub_buckets + sub_buckets;
  return static_cast<int64_t>(((sub + 1) << shift) - 1);
}

void histogram::record(int64_t micros) {
  micros = std::max<int64_t>(micros, 0);
  ++counts_[index_of(micros)];
  ++count_;
  max_ = std::max(max_, micros);
}

void histogram::merge(const histogram& other) {
  for (size_t i = 0; i < bucket_count; ++i)
    counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

int64_t histogram::percentile(double p) const {
  if (count_ == 0)
    return 0;
  auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < bucket_count; ++i) {
    seen += counts_[i];
    if (seen >= rank)
      return std::min(upper_bound(i), max_);
  }
  return max_;
}

std::string histogram::encode() const {
  std::ostringstream out;
  bool first = true;
  for (size_t i = 0; i < bucket_count; ++i) {
    if (counts_[i] == 0)
      continue;
    if (!first)
      out << ',';
    first = false;
    out << i << ':' << counts_[i];
  }
  out << ';' << max_;
  return out.str();
}

bool histogram::decode(const std::string& text) {
  histogram h;
  auto semi = text.rfind(';');
  if (semi == std::string::npos)
    return false;
  std::istringstream in(text.substr(0, semi));
  std::string item;
  while (std::getline(in, item, ',')) {
    auto colon = item.find(':');
    if (colon == std::string::npos)
      return false;
    char* end = nullptr;
    auto idx = std::strtoull(item.c_str(), &end, 10);
    if (end != item.c_str() + colon || idx >= bucket_count)
      return false;
    auto n = std::strtoull(item.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || colon + 1 == item.size())
      return false;
    h.counts_[idx] += n;
    h.count_ += n;
  }
  char* end = nullptr;
  auto max_text = text.substr(semi + 1);
  h.max_ = std::strtoll(max_text.c_str(), &end, 10);
  if (max_text.empty() || *end != '\0')
    return false;
  *this = std::move(h);
  return true;
}

// -- delivery_tracker -----------------------------------------------------------

void delivery_tracker::published(const std::string& room, uint64_t seq) {
  published_[room].push_back(seq);
}

size_t delivery_tracker::add_receiver(const std::string& room) {
  receivers_.push_back(receiver{room, {}});
  published_[room]; // a room with members but no message still counts
  return receivers_.size() - 1;
}

void delivery_tracker::delivered(size_t id, uint64_t seq) {
  receivers_[id].seqs.push_back(seq);
}

void delivery_tracker::merge(const delivery_tracker& other) {
  for (auto& [room, seqs] : other.published_) {
    auto& mine = published_[room];
    mine.insert(mine.end(), seqs.begin(), seqs.end());
  }
  receivers_.insert(receivers_.end(), other.receivers_.begin(), other.receivers_.end());
}

delivery_tracker::totals delivery_tracker::count() const {
  totals t;
  std::map<std::string, std::vector<uint64_t>> acked;
  for (auto& [room, seqs] : published_) {
    auto s = seqs;
    std::sort(s.begin(), s.end());
    s.erase(std::unique(s.begin(), s.end()), s.end());
    t.messages += s.size();
    acked.emplace(room, std::move(s));
  }
  for (auto& r : receivers_) {
    auto& a = acked[r.room];
    t.expected += a.size();
    t.delivered += r.seqs.size();
    auto s = r.seqs;
    std::sort(s.begin(), s.end());
    auto last = std::unique(s.begin(), s.end());
    t.duplicated += static_cast<uint64_t>(s.end() - last);
    s.erase(last, s.end());
    std::vector<uint64_t> hits;
    std::set_intersection(s.begin(), s.end(), a.begin(), a.end(), std::back_inserter(hits));
    t.unique += hits.size();
  }
  t.lost = t.expected - t.unique;
  return t;
}

} // namespace parley::bench
