#pragma once
// Term filters: for each plain text block of an extent (a string column not stored as a
// dictionary: messages, paths), a split-block Bloom filter of its values' terms
// (kql/functions/terms.h), sealed beside the block (docs/FORMAT.md). A query whose string test
// needs terms every kept value holds (kql::ValueTest::terms: `has "ff64d597bb01"`) reads the
// small filter and skips the block, never decompressing its text, when one is surely absent.
// Without false negatives: a term of a value is always reported present; an absent one is
// reported present about 1% of the time (10 bits a hash kept by the builder, ~0.2% for a block
// of log lines, whose repeats the builder keeps too).
//
// Layout: u8 kind (1: split-block filter of kql::TermHash), u32 LE block count B (1..163,841),
// B × 32 bytes: block i is eight u32 LE words; a hash h sets, in block ((h >> 32) × B) >> 32,
// bit (u32(h) × salt[k]) >> 27 of word k for each k (the salts of Parquet's split-block filter).
// Hand-written: no Debian library offers one over our own hash (Arrow's Parquet is not in
// Debian 12).
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/codec.h"

namespace cmk::engine {

// Collects the terms of string values and writes their filter.
class TermFilterBuilder {
 public:
  TermFilterBuilder() { ForgetRecent(); }
  // Takes the non-null values of rows [b, e) of each piece (a string column).
  void Add(std::span<const BatchPiece> pieces);
  // `readable`: how many bytes from value.data() may be read (at least the value's own).
  void Add(std::string_view value, size_t readable = 0);
  // The filter of every term added since the last Finish (appended to `out`); false, with
  // nothing appended, when the values held more terms than a filter takes (over 4M after the
  // repeats dropped: a block without a filter is read as ever). The builder is empty again
  // after (its buffers kept).
  bool Finish(std::vector<uint8_t>& out);
  size_t hashes() const { return kept_; }
  // The hash buffer's size (for tests: it is given back after a block that grew it past 8 MB).
  size_t BufferForTest() const { return hashes_.size(); }

 private:
  void Reset();
  std::vector<uint64_t> hashes_;  // [0, kept_): each term's hash, repeats mostly dropped by `recent_`
  size_t kept_ = 0;
  std::vector<uint32_t> starts_, ends_;  // FindTerms's, value by value
  void ForgetRecent();
  // Keeps the `count` hashes written at hashes_[kept_..] but the repeats `recent_` remembers.
  void Keep(size_t count);
  bool saturated_ = false;
  std::vector<uint64_t> recent_ = std::vector<uint64_t>(4096);
};

// The terms of `value` (kql/functions/terms.h), in order: each one's hash (kql::TermHash) in
// `hashes` and its bounds [starts[i], ends[i]) in `value`; their count. Each array must hold
// value.size() / 2 + 1 entries (the most terms a value holds). `readable`: how many bytes from
// value.data() may be read (at least the value's own; those past it are read and masked off).
size_t FindTerms(std::string_view value, size_t readable, uint64_t* hashes, uint32_t* starts, uint32_t* ends);

// Whether a filter (as written above) may hold every one of `hashes`: false only when one of
// them is surely absent. DataLoss for bytes that are not a filter.
Result<bool> TermFilterMayHold(std::span<const uint8_t> filter, std::span<const uint64_t> hashes);

}  // namespace cmk::engine
