#include "log_gen.h"

#include <cmath>
#include <cstdio>

#include "base/time_format.h"

namespace cmk::bench {
namespace {

// No word contains "timeout": the benchmark's `contains` query counts the rows given it on purpose.
constexpr const char* kWords[] = {
    "alpha",    "bravo",   "charlie", "delta",    "echo",    "foxtrot", "golf",     "hotel",   "india",
    "juliet",   "kilo",    "lima",    "mike",     "november", "oscar",  "papa",     "quebec",  "romeo",
    "sierra",   "tango",   "uniform", "victor",   "whiskey", "xray",    "yankee",   "zulu",    "orders",
    "billing",  "catalog", "search",  "payments", "inventory", "auth",  "profile",  "session", "checkout",
    "shipping", "reports", "metrics", "gateway",  "ledger",  "queue",   "scheduler", "upload", "download",
    "render",   "thumbnail", "mailer", "notify",  "archive", "export",  "import",   "sync",    "index",
    "primary",  "replica", "shard",   "tenant",   "region",  "batch",   "stream",   "cursor",  "token",
    "retry"};
constexpr size_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);
constexpr const char* kPrefixes[] = {"web", "app", "db", "cache", "batch"};
constexpr const char* kOutcomes[] = {"succeeded", "failed", "was reset", "was refused", "recovered"};

}  // namespace

uint64_t LogGenerator::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void LogGenerator::AppendRecord(std::string& out) {
  char buf[512];
  int64_t ms = static_cast<int64_t>(Below(uint64_t{kSpanDays} * 86'400'000));
  TimePoint t = FromUnixSeconds(kBaseUnixSeconds) + std::chrono::milliseconds(ms);
  int host = static_cast<int>(Below(kHosts));
  uint64_t lv = Below(100);
  const char* level = lv < 70 ? "Info" : lv < 80 ? "Verbose" : lv < 92 ? "Warning" : lv < 98 ? "Error" : "Critical";
  int event = 1000 + 7 * static_cast<int>(Below(50));
  double u = (static_cast<double>(Below(1'000'000)) + 0.5) / 1e6;
  double duration = -std::log(u) * 80.0;
  int n = std::snprintf(buf, sizeof(buf),
                        "{\"TimeGenerated\":\"%s\",\"Computer\":\"%s-%03d\",\"Level\":\"%s\",\"EventId\":%d,"
                        "\"DurationMs\":%.3f,\"Message\":\"",
                        FormatRfc3339(t, 3).c_str(), kPrefixes[host % 5], host, level, event, duration);
  out.append(buf, static_cast<size_t>(n));

  size_t start = out.size();
  auto w = [&] { return kWords[Below(kNumWords)]; };
  unsigned a = static_cast<unsigned>(Below(100000)), b = static_cast<unsigned>(Below(10000));
  unsigned long long id = static_cast<unsigned long long>(Next() >> 16);
  switch (Below(5)) {
    case 0:
      n = std::snprintf(buf, sizeof(buf), "GET /api/%s/%s/%llx returned %u in %u ms for user %s%u from 10.%u.%u.%u", w(),
                        w(), id, 200 + 100 * static_cast<unsigned>(Below(4)), b, w(), a, a % 256, b % 256, a % 199);
      break;
    case 1:
      n = std::snprintf(buf, sizeof(buf), "Connection to %s-%u.internal:%u %s after %u retries; pool=%s active=%u", w(),
                        a % 64, 1024 + b, kOutcomes[Below(5)], b % 7, w(), a % 512);
      break;
    case 2:
      n = std::snprintf(buf, sizeof(buf), "Job %llx step %s processed %u items (%u bytes) queue=%s-%u worker=%s", id,
                        w(), b, a * 13, w(), a % 32, w());
      break;
    case 3:
      n = std::snprintf(buf, sizeof(buf), "Cache %s miss for key %s:%llx, loading from %s store (shard %u) took %u ms",
                        w(), w(), id, w(), a % 128, b);
      break;
    default:
      n = std::snprintf(buf, sizeof(buf), "User %s%u signed in from 10.%u.%u.%u using %s client; session %llx", w(), a,
                        a % 256, b % 256, a % 199, w(), id);
      break;
  }
  out.append(buf, static_cast<size_t>(n));
  if (Below(50) == 0) out += " (timeout)";
  size_t target = 100 + Below(60);
  while (out.size() - start < target) {
    out += ' ';
    out += w();
  }
  out += "\"}";
}

}  // namespace cmk::bench
