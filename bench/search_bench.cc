// The substring search that `contains`, `has` and the other match operators use on a scan
// (kql::StringValueTest(op, needle).find), over a file's text: searched as one text, line by
// line (as values held in the decoded cache are), and through the engine's reader of plain
// string blocks (engine::DecodeSelectedStrings over the lines encoded as blocks of 65,536
// values, as a frame's or an uncached block's decompressed bytes are read: the search with
// the walk over the values' lengths that finds the value each occurrence starts in), and
// through each block's term index (engine::TermIndex: its build, once, and its Select).
//
//   build-release/bench/search_bench FILE [NEEDLE ...]   (default needles: timeout error shard)
//
// docs/benchmarks.md records its figures over the API benchmark's NDJSON.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/codec.h"
#include "engine/term_index.h"
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
  constexpr size_t kBlockRows = 65'536;
  std::vector<std::vector<uint8_t>> blocks;
  std::vector<size_t> block_rows;
  for (size_t b = 0; b < lines.size(); b += kBlockRows) {
    cmk::kql::Column c(cmk::kql::Type::kString);
    size_t n = std::min(kBlockRows, lines.size() - b);
    for (size_t r = b; r < b + n; ++r) c.AppendString(std::string(lines[r]));
    cmk::engine::ColumnPiece piece{&c, 0, n};
    blocks.emplace_back();
    cmk::engine::EncodeColumn(c.type, std::span<const cmk::engine::ColumnPiece>(&piece, 1), blocks.back(), /*dictionaries=*/false);
    block_rows.push_back(n);
  }
  // Each block's term index, built from its values decoded (as a scan builds it).
  std::vector<cmk::kql::Column> decoded;
  for (size_t b = 0; b < lines.size(); b += kBlockRows) {
    size_t n = std::min(kBlockRows, lines.size() - b);
    cmk::kql::Column c(cmk::kql::Type::kString);
    c.StartPacked(n, 0);
    for (size_t r = b; r < b + n; ++r) c.AppendPacked(lines[r]);
    decoded.push_back(std::move(c));
  }
  std::vector<std::shared_ptr<const cmk::engine::TermIndex>> indexes(decoded.size());
  double build_ms = Millis(1, [&] {
    for (size_t b = 0; b < decoded.size(); ++b) indexes[b] = cmk::engine::TermIndex::Build(decoded[b], block_rows[b]);
  });
  size_t index_bytes = 0, terms = 0;
  for (const auto& ix : indexes) {
    index_bytes += ix->bytes();
    terms += ix->terms();
  }
  std::printf("term indexes: built in %.1f ms (%.1f ms a block of %zu rows), %zu terms, %.1f MB (text %.1f MB)\n",
              build_ms, build_ms / static_cast<double>(indexes.size()), kBlockRows, terms,
              static_cast<double>(index_bytes) / 1e6, static_cast<double>(text.size()) / 1e6);
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
      size_t block_hits = 0;
      double blocks_ms = Millis(3, [&] {
        block_hits = 0;
        for (size_t b = 0; b < blocks.size(); ++b) {
          std::span<const uint8_t> in(blocks[b]);
          std::vector<uint32_t> selected;
          auto got = cmk::engine::DecodeSelectedStrings(cmk::kql::Type::kString, block_rows[b], in, test.keep, test.find, selected);
          if (!got.ok()) std::abort();
          block_hits += selected.size();
        }
      });
      size_t index_hits = 0;
      double index_ms = Millis(3, [&] {
        index_hits = 0;
        for (const auto& ix : indexes) {
          std::vector<uint32_t> rows;
          ix->Select(test.keep, test.find, rows);
          index_hits += rows.size();
        }
      });
      std::printf("%-12s %-10s one text %8.1f ms (%.2f GB/s, %zu found)   line by line %8.1f ms (%zu lines)   "
                  "plain blocks %8.1f ms (%zu lines)   term indexes %6.2f ms (%zu lines)\n",
                  op, needle.c_str(), whole, static_cast<double>(text.size()) / whole / 1e6, hits, each, line_hits,
                  blocks_ms, block_hits, index_ms, index_hits);
    }
  }
  return 0;
}
