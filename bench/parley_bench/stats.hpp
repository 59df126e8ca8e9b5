#pragma once

/// @file
/// What parley-bench counts: latency histograms that workers can merge, and
/// the loss/duplicate accounting of a fan-out run. Plain data, no I/O; each
/// thread keeps its own and the main thread merges them at the end.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace parley::bench {

/// A latency histogram in microseconds, log-linear like HdrHistogram: 64
/// sub-buckets per power of two, so a percentile is off by at most 1/64
/// (1.6 %) of its value. Fixed size, cheap to merge and to ship as text.
class histogram {
public:
  static constexpr size_t sub_buckets = 64;
  static constexpr size_t bucket_count = 64 * 64;

  histogram();

  /// Records one sample; negative values count as 0.
  void record(int64_t micros);

  /// Adds every sample of `other`.
  void merge(const histogram& other);

  uint64_t count() const {
    return count_;
  }

  /// The largest sample, exactly.
  int64_t max() const {
    return max_;
  }

  /// The value at or below which `p` percent (0..100) of the samples lie
  /// (the upper bound of its bucket, at most `max()`); 0 when empty.
  int64_t percentile(double p) const;

  /// Sparse text form, `index:count,...;max`, for a worker's JSON line.
  std::string encode() const;

  /// Back from `encode()`; false on malformed text.
  bool decode(const std::string& text);

  /// The bucket a value falls into, and the largest value of a bucket.
  static size_t index_of(int64_t micros);
  static int64_t upper_bound(size_t index);

private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  int64_t max_ = 0;
};

/// Loss and duplicate accounting of a fan-out run. Publishers report the
/// seq each acknowledged publish got in its room; every receiver reports
/// the seqs it saw. Expected deliveries are acked messages × members of
/// their room; a receiver that misses an acked seq loses one, one that sees
/// a seq twice duplicates one. Order does not matter, within a room or
/// across rooms.
class delivery_tracker {
public:
  /// A publish to `room` was acknowledged with `seq`.
  void published(const std::string& room, uint64_t seq);

  /// A receiver joined `room`; returns its id.
  size_t add_receiver(const std::string& room);

  /// Receiver `id` got the message `seq` of its room.
  void delivered(size_t id, uint64_t seq);

  /// Merges another tracker (another thread's); receiver ids of `other`
  /// are renumbered.
  void merge(const delivery_tracker& other);

  struct totals {
    uint64_t messages = 0;   ///< acknowledged publishes
    uint64_t expected = 0;   ///< messages × members of their room
    uint64_t delivered = 0;  ///< every delivery seen, duplicates included
    uint64_t unique = 0;     ///< deliveries of acked messages, once each
    uint64_t lost = 0;       ///< expected - unique
    uint64_t duplicated = 0; ///< deliveries of a seq the receiver already had
  };

  /// Counts everything; call once all deliveries are in.
  totals count() const;

private:
  struct receiver {
    std::string room;
    std::vector<uint64_t> seqs;
  };
  std::map<std::string, std::vector<uint64_t>> published_;
  std::vector<receiver> receivers_;
};

} // namespace parley::bench
