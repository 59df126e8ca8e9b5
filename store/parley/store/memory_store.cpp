// The memory store: the same contract as the durable stores (seqs past the
// last one, conflicts, retention), for tests and benchmarks. History ends
// with the process.
#include "parley/store/history_store.hpp"

#include <algorithm>
#include <deque>
#include <mutex>
#include <unordered_map>

namespace parley::store {

namespace {

class memory_store final : public history_store {
public:
  std::string describe() const override {
    return "memory";
  }

  bool blocking() const override {
    return false;
  }

  room_head load(const std::string& room, size_t recent) override {
    std::lock_guard<std::mutex> guard{mtx_};
    room_head head;
    auto i = rooms_.find(room);
    if (i == rooms_.end())
      return head;
    head.last_seq = i->second.last_seq;
    auto& msgs = i->second.messages;
    auto n = std::min(recent, msgs.size());
    head.recent.assign(msgs.end() - static_cast<ptrdiff_t>(n), msgs.end());
    for (auto j = msgs.rbegin(); j != msgs.rend() && head.keys.size() < publish_id_window; ++j)
      if (!j->key.empty())
        head.keys.emplace_back(j->key, j->seq);
    std::reverse(head.keys.begin(), head.keys.end());
    return head;
  }

  void commit(std::vector<room_batch>& batches) override {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& b : batches) {
      auto& r = rooms_[b.room];
      if (!b.records.empty() ? b.records.front().seq <= r.last_seq : b.last_seq < r.last_seq) {
        b.error = "conflict: the store holds seq " + std::to_string(r.last_seq) + " of room "
                  + b.room + " already";
        b.store_last_seq = r.last_seq;
        continue;
      }
      for (auto& rec : b.records)
        r.messages.push_back(rec);
      r.last_seq = b.last_seq;
    }
  }

  page read(const std::string& room, seq_t after, seq_t before, size_t limit,
            bool newest) override {
    std::lock_guard<std::mutex> guard{mtx_};
    page p;
    auto i = rooms_.find(room);
    if (i == rooms_.end())
      return p;
    auto& msgs = i->second.messages;
    p.last_seq = i->second.last_seq;
    p.oldest = msgs.empty() ? p.last_seq + 1 : msgs.front().seq;
    auto in_range = [&](const record& r) {
      return r.seq > after && (before == 0 || r.seq < before);
    };
    if (newest) {
      for (auto j = msgs.rbegin(); j != msgs.rend() && p.records.size() < limit; ++j)
        if (in_range(*j))
          p.records.push_back(*j);
      std::reverse(p.records.begin(), p.records.end());
    } else {
      for (auto j = msgs.begin(); j != msgs.end() && p.records.size() < limit; ++j)
        if (in_range(*j))
          p.records.push_back(*j);
    }
    return p;
  }

  trim_result trim(const std::vector<std::string>& rooms, const retention& keep, int64_t now_ms,
                   size_t budget) override {
    std::lock_guard<std::mutex> guard{mtx_};
    trim_result out;
    if (keep.max_messages > 0)
      for (auto& name : rooms)
        if (auto i = rooms_.find(name); i != rooms_.end())
          while (i->second.messages.size() > keep.max_messages) {
            i->second.messages.pop_front();
            ++out.removed;
          }
    if (keep.max_age.count() > 0) {
      auto cutoff = now_ms - keep.max_age.count() * 1000;
      for (auto& [name, r] : rooms_)
        while (!r.messages.empty() && r.messages.front().sent_ms < cutoff
               && out.removed < budget) {
          r.messages.pop_front();
          ++out.removed;
        }
    }
    return out;
  }

private:
  struct room_data {
    seq_t last_seq = 0;
    std::deque<record> messages;
  };

  std::mutex mtx_;
  std::unordered_map<std::string, room_data> rooms_;
};

} // namespace

std::unique_ptr<history_store> make_memory_store() {
  return std::make_unique<memory_store>();
}

} // namespace parley::store
