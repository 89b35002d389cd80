#include "server/metrics.h"

#include <fmt/format.h>

namespace cmk::server {

void Metrics::RecordRequest(const std::string& front_end, int status, int64_t micros) {
  std::lock_guard<std::mutex> l(mu_);
  requests_[{front_end, status}]++;
  Histogram& h = latency_[front_end];
  double s = static_cast<double>(micros) / 1e6;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (s <= kBuckets[i]) h.counts[i]++;
  }
  h.count++;
  h.sum += s;
}

void Metrics::SetGauge(const std::string& name, const std::string& help, double value) {
  std::lock_guard<std::mutex> l(mu_);
  gauges_[name] = {help, value};
}

void Metrics::Increment(const std::string& name, const std::string& help, uint64_t by) {
  std::lock_guard<std::mutex> l(mu_);
  auto& c = counters_[name];
  c.first = help;
  c.second += by;
}

void Metrics::AddCollector(std::function<std::string()> collector) {
  std::lock_guard<std::mutex> l(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Metrics::Render() const {
  std::vector<std::function<std::string()>> collectors;
  {
    std::lock_guard<std::mutex> l(mu_);
    collectors = collectors_;
  }
  std::string extra;
  for (const auto& c : collectors) extra += c();
  std::lock_guard<std::mutex> l(mu_);
  std::string out;
  out += "# HELP cmklogs_http_requests_total HTTP requests answered, by front end and status.\n";
  out += "# TYPE cmklogs_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += fmt::format("cmklogs_http_requests_total{{front_end=\"{}\",code=\"{}\"}} {}\n", key.first,
                       key.second, n);
  }
  out += "# HELP cmklogs_http_request_duration_seconds Time from a complete request to its response.\n";
  out += "# TYPE cmklogs_http_request_duration_seconds histogram\n";
  for (const auto& [fe, h] : latency_) {
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      out += fmt::format("cmklogs_http_request_duration_seconds_bucket{{front_end=\"{}\",le=\"{}\"}} {}\n",
                         fe, kBuckets[i], h.counts[i]);
    }
    out += fmt::format("cmklogs_http_request_duration_seconds_bucket{{front_end=\"{}\",le=\"+Inf\"}} {}\n", fe, h.count);
    out += fmt::format("cmklogs_http_request_duration_seconds_sum{{front_end=\"{}\"}} {}\n", fe, h.sum);
    out += fmt::format("cmklogs_http_request_duration_seconds_count{{front_end=\"{}\"}} {}\n", fe, h.count);
  }
  for (const auto& [name, g] : gauges_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, g.first, name, name, g.second);
  }
  for (const auto& [name, c] : counters_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, c.first, name, name, c.second);
  }
  return out + extra;
}

}  // namespace cmk::server
