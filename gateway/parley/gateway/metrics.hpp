#pragma once

/// @file
/// The gateway's `/metrics`, in Prometheus' text format, on prometheus-cpp
/// (Debian's prometheus-cpp-dev; its core only: the gateway serves the page
/// on its own port). The Beast side updates counters as things happen; the
/// actor side adds collectors that read its atomics at scrape time. Neither
/// Beast nor CAF is included here.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace parley::gateway {

/// Every update is thread-safe. Unlabelled counters are prometheus-cpp
/// atomics; a labelled one is found in a cache under a mutex (held for a
/// map lookup, never across I/O).
class metrics {
public:
  metrics();

  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  // -- connections ----------------------------------------------------------

  void websocket_opened();
  void websocket_closed();
  /// A session of the HTTP transports opened or ended.
  void channel_opened();
  void channel_closed();
  void accepted();
  /// `reason`: "max_connections", "per_address" or "draining".
  void refused(std::string_view reason);

  // -- traffic --------------------------------------------------------------

  /// `http`: long-polling or Server-Sent Events (always text).
  void frame_in(bool text, size_t bytes, bool http = false);
  void frame_out(bool text, size_t bytes, bool http = false);
  /// A close frame the server sent, by code.
  void close_sent(uint16_t code);
  /// A WebSocket that ended without a close handshake the server started:
  /// "idle_timeout", "handshake_failed", "slow_consumer", "reset".
  void dropped(std::string_view reason);
  /// A client whose write queue overflowed, closed 1008.
  void slow_consumer();
  /// An error frame sent to a client, by wire code (a `v1::ErrorCode`).
  void error_sent(int code);
  void http_response(unsigned status);

  // -- exposition -----------------------------------------------------------

  /// Families computed at scrape time (the actor side's counters).
  using collector = std::function<std::vector<prometheus::MetricFamily>()>;
  void add_collector(collector c);

  /// The text exposition format, version 0.0.4.
  std::string render() const;

private:
  using counter_family = prometheus::Family<prometheus::Counter>;

  prometheus::Counter& labelled(std::map<std::string, prometheus::Counter*>& cache,
                                counter_family& family, const std::string& label,
                                const std::string& value);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge* websockets_;
  prometheus::Counter* accepted_;
  prometheus::Counter* slow_consumers_;
  prometheus::Gauge* http_sessions_;
  // [websocket/http][in/out][binary/text]; http has text only.
  prometheus::Counter* frames_[2][2][2] = {};
  prometheus::Counter* bytes_[2][2][2] = {};
  counter_family* refused_;
  counter_family* closes_;
  counter_family* dropped_;
  counter_family* http_;
  counter_family* errors_;
  mutable std::mutex mtx_; // guards the caches and collectors_
  std::map<std::string, prometheus::Counter*> refused_cache_;
  std::map<std::string, prometheus::Counter*> closes_cache_;
  std::map<std::string, prometheus::Counter*> dropped_cache_;
  std::map<std::string, prometheus::Counter*> http_cache_;
  std::map<std::string, prometheus::Counter*> errors_cache_;
  std::vector<collector> collectors_;
};

/// Helpers for collectors: one family with one unlabelled sample.
prometheus::MetricFamily counter_family_of(std::string name, std::string help, double value);
prometheus::MetricFamily gauge_family_of(std::string name, std::string help, double value);

} // namespace parley::gateway
