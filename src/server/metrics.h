#pragma once
// Process metrics in the Prometheus text exposition format (version 0.0.4).
// Thread safety: safe for concurrent use.
#include <array>
#include <cstdint>
#include <functional>
#include <vector>
#include <map>
#include <mutex>
#include <string>

namespace cmk::server {

class Metrics {
 public:
  void RecordRequest(const std::string& front_end, int status, int64_t micros);
  void SetGauge(const std::string& name, const std::string& help, double value);
  // Adds to a counter family without labels (created at its first use).
  void Increment(const std::string& name, const std::string& help, uint64_t by = 1);
  // cmklogs_handler_exceptions_total: exceptions that a handler let escape (answered 500).
  void RecordHandlerException() {
    Increment("cmklogs_handler_exceptions_total",
              "Exceptions that escaped a request handler and were answered with a 500.");
  }
  // A collector appends its own metric families (HELP/TYPE lines included) at each scrape.
  void AddCollector(std::function<std::string()> collector);
  std::string Render() const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                       0.05, 0.1, 0.25, 0.5, 1, 5};
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::map<std::string, std::pair<std::string, double>> gauges_;
  std::map<std::string, std::pair<std::string, uint64_t>> counters_;
  std::vector<std::function<std::string()>> collectors_;
};

}  // namespace cmk::server
