// Neither Beast nor CAF: prometheus-cpp (and the error table's plain data).
#include "parley/gateway/metrics.hpp"

#include "parley/gateway/error_table.hpp"
#include "parley/runtime/heap.hpp"

#include <prometheus/text_serializer.h>

namespace parley::gateway {

namespace {

template <class Builder>
auto& family(Builder&& b, prometheus::Registry& r, const char* name, const char* help) {
  return b.Name(name).Help(help).Register(r);
}

} // namespace

metrics::metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  websockets_ = &family(prometheus::BuildGauge(), r, "parley_gateway_websockets",
                        "Open WebSocket connections")
                   .Add({});
  accepted_ = &family(prometheus::BuildCounter(), r, "parley_gateway_accepted_total",
                      "TCP connections accepted")
                 .Add({});
  slow_consumers_ = &family(prometheus::BuildCounter(), r,
                            "parley_slow_consumer_disconnects_total",
                            "Clients closed (1008) because their write queue was full")
                       .Add({});
  refused_ = &family(prometheus::BuildCounter(), r, "parley_gateway_refused_total",
                     "Connections refused (HTTP 503; \"descriptors\": closed at once, the process had "
                     "no descriptor free), by reason");
  http_sessions_ = &family(prometheus::BuildGauge(), r, "parley_gateway_http_sessions",
                           "Open sessions of the HTTP transports (long-polling, Server-Sent Events)")
                      .Add({});
  auto& frames = family(prometheus::BuildCounter(), r, "parley_gateway_frames_total",
                        "Client and server frames, by direction, kind (text: JSON, binary: "
                        "protobuf) and transport (websocket, http: long-polling and SSE)");
  auto& bytes = family(prometheus::BuildCounter(), r, "parley_gateway_bytes_total",
                       "Frame payload bytes, by direction, kind and transport");
  const char* dirs[] = {"in", "out"};
  const char* kinds[] = {"binary", "text"};
  const char* transports[] = {"websocket", "http"};
  for (int t = 0; t < 2; ++t)
    for (int d = 0; d < 2; ++d)
      for (int k = 0; k < 2; ++k) {
        if (t == 1 && k == 0)
          continue; // the HTTP transports speak JSON only
        prometheus::Labels labels{
          {"direction", dirs[d]}, {"kind", kinds[k]}, {"transport", transports[t]}};
        frames_[t][d][k] = &frames.Add(labels);
        bytes_[t][d][k] = &bytes.Add(labels);
      }
  closes_ = &family(prometheus::BuildCounter(), r, "parley_gateway_closes_total",
                    "Close frames the server sent, by code (1008: slow consumer or flooding)");
  dropped_ = &family(prometheus::BuildCounter(), r, "parley_gateway_dropped_total",
                     "WebSockets that ended without a close from the server, by reason");
  http_ = &family(prometheus::BuildCounter(), r, "parley_gateway_http_responses_total",
                  "HTTP responses (not upgrades), by status");
  errors_ = &family(prometheus::BuildCounter(), r, "parley_errors_total",
                    "Error frames sent to clients, by code");
  // Seen from the first scrape on, so rate() works from zero.
  for (auto reason : {"max_connections", "per_address", "draining", "descriptors"})
    labelled(refused_cache_, *refused_, "reason", reason);
  labelled(closes_cache_, *closes_, "code", "1000"); // a normal close
  for (auto& c : close_table)
    labelled(closes_cache_, *closes_, "code", std::to_string(static_cast<uint16_t>(c.code)));
  for (auto reason : {"idle_timeout", "handshake_failed", "slow_consumer", "reset"})
    labelled(dropped_cache_, *dropped_, "reason", reason);
  // A wrong session key (docs/protocol.md, "Without WebSockets").
  labelled(refused_cache_, *refused_, "reason", "session_key");
  for (unsigned status : {200, 201, 202, 204, 400, 403, 404, 405, 413, 503})
    labelled(http_cache_, *http_, "code", std::to_string(status));
  // Every code the protocol has but UNSPECIFIED.
  auto* codes = v1::ErrorCode_descriptor();
  for (int i = 0; i < codes->value_count(); ++i)
    if (codes->value(i)->number() != v1::ERROR_CODE_UNSPECIFIED)
      labelled(errors_cache_, *errors_, "code", codes->value(i)->name());
}

prometheus::Counter& metrics::labelled(std::map<std::string, prometheus::Counter*>& cache,
                                       counter_family& family, const std::string& label,
                                       const std::string& value) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& slot = cache[value];
  if (!slot)
    slot = &family.Add({{label, value}});
  return *slot;
}

void metrics::websocket_opened() {
  websockets_->Increment();
}

void metrics::websocket_closed() {
  websockets_->Decrement();
}

void metrics::accepted() {
  accepted_->Increment();
}

void metrics::refused(std::string_view reason) {
  labelled(refused_cache_, *refused_, "reason", std::string{reason}).Increment();
}

void metrics::frame_in(bool text, size_t n, bool http) {
  frames_[http][0][text || http]->Increment();
  bytes_[http][0][text || http]->Increment(static_cast<double>(n));
}

void metrics::frame_out(bool text, size_t n, bool http) {
  frames_[http][1][text || http]->Increment();
  bytes_[http][1][text || http]->Increment(static_cast<double>(n));
}

void metrics::channel_opened() {
  http_sessions_->Increment();
}

void metrics::channel_closed() {
  http_sessions_->Decrement();
}

void metrics::close_sent(uint16_t code) {
  labelled(closes_cache_, *closes_, "code", std::to_string(code)).Increment();
}

void metrics::error_sent(int code) {
  auto name = v1::ErrorCode_IsValid(code) ? v1::ErrorCode_Name(static_cast<v1::ErrorCode>(code))
                                          : std::string{"OTHER"};
  labelled(errors_cache_, *errors_, "code", name).Increment();
}

void metrics::slow_consumer() {
  slow_consumers_->Increment();
}

void metrics::dropped(std::string_view reason) {
  labelled(dropped_cache_, *dropped_, "reason", std::string{reason}).Increment();
}

void metrics::http_response(unsigned status) {
  labelled(http_cache_, *http_, "code", std::to_string(status)).Increment();
}

void metrics::add_collector(collector c) {
  std::lock_guard<std::mutex> guard{mtx_};
  collectors_.push_back(std::move(c));
}

std::string metrics::render() const {
  auto families = registry_->Collect();
  std::vector<collector> cs;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    cs = collectors_;
  }
  for (auto& c : cs)
    for (auto& f : c())
      families.push_back(std::move(f));
  // Last, so it sees what the collectors above allocated and freed.
  auto heap = gauge_family_of("parley_heap_live_bytes",
                              "Bytes allocated and not freed, as the allocator counts them "
                              "(RSS keeps what was freed)",
                              static_cast<double>(runtime::heap_live_bytes()));
  heap.metric.back().label.push_back({"allocator", runtime::heap_allocator()});
  families.push_back(std::move(heap));
  return prometheus::TextSerializer{}.Serialize(families);
}

prometheus::MetricFamily counter_family_of(std::string name, std::string help, double value) {
  prometheus::MetricFamily f{std::move(name), std::move(help), prometheus::MetricType::Counter, {}};
  f.metric.emplace_back();
  f.metric.back().counter.value = value;
  return f;
}

prometheus::MetricFamily gauge_family_of(std::string name, std::string help, double value) {
  prometheus::MetricFamily f{std::move(name), std::move(help), prometheus::MetricType::Gauge, {}};
  f.metric.emplace_back();
  f.metric.back().gauge.value = value;
  return f;
}

} // namespace parley::gateway
