#pragma once
// Deterministic log rows for the ingestion and query benchmarks (docs/benchmarks.md): the same
// seed gives the same bytes on every machine. Columns: TimeGenerated (ISO 8601, milliseconds,
// spread over kSpanDays from kBaseUnixSeconds), Computer (kHosts names), Level (Info, Verbose,
// Warning, Error, Critical), EventId (int), DurationMs (real, 3 decimals), Message (varied text
// of about 100-160 bytes; about 2% contain the word "timeout").
// One record is one line; an array file is "[\n" + records joined by ",\n" + "\n]\n".
#include <cstdint>
#include <string>

namespace cmk::bench {

inline constexpr int64_t kBaseUnixSeconds = 1795132800;  // 2026-11-20T00:00:00Z
inline constexpr int kSpanDays = 3;
inline constexpr int kHosts = 500;

class LogGenerator {
 public:
  explicit LogGenerator(uint64_t seed) : state_(seed) {}
  // Appends the next record (a JSON object, no separator) to `out`.
  void AppendRecord(std::string& out);

 private:
  uint64_t Next();  // splitmix64
  uint64_t Below(uint64_t n) { return Next() % n; }
  uint64_t state_;
};

}  // namespace cmk::bench
