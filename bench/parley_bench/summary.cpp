#include "parley_bench/summary.hpp"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace parley::bench {

namespace pb = google::protobuf;

void run_result::merge(const run_result& o) {
  attempted += o.attempted;
  opened += o.opened;
  failed += o.failed;
  errors += o.errors;
  rate_limited += o.rate_limited;
  messages += o.messages;
  expected += o.expected;
  delivered += o.delivered;
  lost += o.lost;
  duplicated += o.duplicated;
  round_trips += o.round_trips;
  cycles += o.cycles;
  setup_seconds = std::max(setup_seconds, o.setup_seconds);
  run_seconds = std::max(run_seconds, o.run_seconds);
  latency.merge(o.latency);
  if (first_error.empty())
    first_error = o.first_error;
}

namespace {

/// A JSON object written in the order its keys are added.
class json_object {
public:
  void add(const std::string& key, const std::string& v) {
    begin(key);
    quote(v);
  }

  void add(const std::string& key, double v) {
    begin(key);
    char buf[32];
    if (!std::isfinite(v))
      v = 0; // JSON has no NaN or infinity
    if (v == std::floor(v) && std::fabs(v) < 9.0e15)
      std::snprintf(buf, sizeof(buf), "%.0f", v);
    else
      std::snprintf(buf, sizeof(buf), "%.6g", v);
    out_ += buf;
  }

  void add_raw(const std::string& key, const std::string& json) {
    begin(key);
    out_ += json;
  }

  std::string str() const {
    return "{" + out_ + "}";
  }

private:
  void begin(const std::string& key) {
    if (!out_.empty())
      out_ += ',';
    quote(key);
    out_ += ':';
  }

  void quote(const std::string& v) {
    out_ += '"';
    for (unsigned char ch : v) {
      if (ch == '"' || ch == '\\') {
        out_ += '\\';
        out_ += static_cast<char>(ch);
      } else if (ch < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", ch);
        out_ += buf;
      } else {
        out_ += static_cast<char>(ch);
      }
    }
    out_ += '"';
  }

  std::string out_;
};

double ms(int64_t micros) {
  return static_cast<double>(micros) / 1000.0;
}

double per_second(uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0;
}

} // namespace

std::string to_json_line(const std::string& mode, const params_map& params,
                         const run_result& r, const std::map<std::string, double>& extra,
                         bool with_histogram) {
  json_object p;
  for (auto& [k, v] : params)
    p.add(k, v);
  json_object res;
  auto count = [&](const char* key, uint64_t v) { res.add(key, static_cast<double>(v)); };
  count("attempted", r.attempted);
  count("opened", r.opened);
  count("failed", r.failed);
  count("errors", r.errors);
  count("rate_limited", r.rate_limited);
  count("messages", r.messages);
  count("expected", r.expected);
  count("delivered", r.delivered);
  count("lost", r.lost);
  count("duplicated", r.duplicated);
  count("round_trips", r.round_trips);
  count("cycles", r.cycles);
  res.add("setup_seconds", r.setup_seconds);
  res.add("run_seconds", r.run_seconds);
  res.add("connect_rate", per_second(r.opened, r.setup_seconds));
  res.add("deliveries_per_s", per_second(r.delivered, r.run_seconds));
  res.add("round_trips_per_s", per_second(r.round_trips, r.run_seconds));
  res.add("cycles_per_s", per_second(r.cycles, r.run_seconds));
  count("latency_count", r.latency.count());
  res.add("latency_p50_ms", ms(r.latency.percentile(50)));
  res.add("latency_p95_ms", ms(r.latency.percentile(95)));
  res.add("latency_p99_ms", ms(r.latency.percentile(99)));
  res.add("latency_max_ms", ms(r.latency.max()));
  for (auto& [k, v] : extra)
    res.add(k, v);
  res.add("first_error", r.first_error);
  if (with_histogram)
    res.add("latency_hist", r.latency.encode());
  json_object top;
  top.add("mode", mode);
  top.add_raw("params", p.str());
  top.add_raw("results", res.str());
  return top.str();
}

bool from_json_line(const std::string& line, run_result& out, std::string* mode) {
  pb::Struct top;
  if (!pb::util::JsonStringToMessage(line, &top).ok())
    return false;
  auto& f = top.fields();
  auto res_it = f.find("results");
  if (res_it == f.end() || !res_it->second.has_struct_value())
    return false;
  if (mode) {
    auto m = f.find("mode");
    *mode = m == f.end() ? "" : m->second.string_value();
  }
  auto& res = res_it->second.struct_value().fields();
  auto num = [&](const char* key) -> uint64_t {
    auto it = res.find(key);
    return it == res.end() ? 0 : static_cast<uint64_t>(it->second.number_value());
  };
  auto dbl = [&](const char* key) -> double {
    auto it = res.find(key);
    return it == res.end() ? 0 : it->second.number_value();
  };
  run_result r;
  r.attempted = num("attempted");
  r.opened = num("opened");
  r.failed = num("failed");
  r.errors = num("errors");
  r.rate_limited = num("rate_limited");
  r.messages = num("messages");
  r.expected = num("expected");
  r.delivered = num("delivered");
  r.lost = num("lost");
  r.duplicated = num("duplicated");
  r.round_trips = num("round_trips");
  r.cycles = num("cycles");
  r.setup_seconds = dbl("setup_seconds");
  r.run_seconds = dbl("run_seconds");
  if (auto it = res.find("first_error"); it != res.end())
    r.first_error = it->second.string_value();
  auto h = res.find("latency_hist");
  if (h == res.end() || !r.latency.decode(h->second.string_value()))
    return false;
  out = std::move(r);
  return true;
}

} // namespace parley::bench
