// The substring search that `contains`, `has` and the other match operators use on a scan
// (kql::StringValueTest(op, needle).find), over a file's text: searched as one text, as a
// plain string block is, and line by line, as values held in the decoded cache are.
//
//   build-release/bench/search_bench FILE [NEEDLE ...]   (default needles: timeout error shard)
//
// docs/benchmarks.md records its figures over the API benchmark's NDJSON.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "kql/functions/functions.h"

namespace {

template <class F>
double Millis(int reps, F f) {
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: search_bench FILE [NEEDLE ...]\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<std::string_view> lines;
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    lines.push_back(std::string_view(text).substr(at, end - at));
    at = end + 1;
  }
  std::vector<std::string> needles(argv + 2, argv + argc);
  if (needles.empty()) needles = {"timeout", "error", "shard"};
  std::printf("%zu bytes, %zu lines\n", text.size(), lines.size());
  for (const std::string& needle : needles) {
    for (const char* op : {"contains", "contains_cs"}) {
      cmk::kql::ValueTest test = cmk::kql::StringValueTest(op, needle);
      size_t hits = 0;
      double whole = Millis(3, [&] {
        hits = 0;
        for (size_t p = test.find(text, 0); p != std::string_view::npos; p = test.find(text, p + 1)) ++hits;
      });
      size_t line_hits = 0;
      double each = Millis(3, [&] {
        line_hits = 0;
        for (std::string_view l : lines) line_hits += test.find(l, 0) != std::string_view::npos;
      });
      std::printf("%-12s %-10s one text %8.1f ms (%.2f GB/s, %zu found)   line by line %8.1f ms (%zu lines)\n", op,
                  needle.c_str(), whole, static_cast<double>(text.size()) / whole / 1e6, hits, each, line_hits);
    }
  }
  return 0;
}
