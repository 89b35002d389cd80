#pragma once
// A text block's term index: its distinct terms (kql/functions/terms.h: runs of ASCII letters
// and digits) and, for each, the rows holding it. Built in memory from a decoded plain string
// block (a row group's messages) and kept in the decoded cache in place of the block's frame
// when a scan's string test holds for a value exactly when it holds for one of the value's
// terms alone, or for none (kql::ValueTest::by_terms: contains, has, hasprefix, hassuffix with
// a needle of letters and digits, which can occur only inside one term, their negations, and
// startswith and endswith, through the term each value starts or ends with).
// The test then searches the terms, about an eighth of the text for log lines, and reads the
// rows of those that pass,
// instead of decompressing and searching every value (docs/benchmarks.md: `contains` over 10M
// rows, whose messages do not fit the cache decoded). A test of a needle of several terms
// (an address, a phrase: kql::ValueTest::term_candidates) finds the rows holding its terms the
// same way, and only their values are tested.
//
// Layout (memory only, never written): the terms end to end, each followed by a space (a
// byte no needle of term bytes matches across), in an order where the terms held by at most
// 1 row in 16 come first, each with its rows as 16-bit numbers, and the others after, each with
// a bitmap of the group's rows (smaller than their lists); per row, the terms its value starts
// and ends with. For 65,536 log lines (8.7 MB of text): ~100,000 terms, 1.1 MB of them, ~3.9 MB
// in all (the block's LZ4 frame: 4 MB).
//
// Thread safety: immutable once built; Select may run on several threads. Its buffers (the
// block's plaintext terms) are wiped when it is destroyed.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kql/core/column.h"
#include "kql/functions/functions.h"

namespace cmk::engine {

class TermIndex {
 public:
  // The index of rows [0, rows) of a string column (rows <= kRowsPerGroup, 65,536).
  static std::shared_ptr<const TermIndex> Build(const kql::Column& values, size_t rows);
  ~TermIndex();
  TermIndex(const TermIndex&) = delete;
  TermIndex& operator=(const TermIndex&) = delete;

  // The rows (ascending) whose value is null or holds a term that passes `keep` (with `first`:
  // starts with one; with `last`: ends with one; with `negated`: not so), appended to `out`; `find`
  // (kql::ValueTest::term_find) finds where the needle occurs in a text, and only the terms
  // holding an occurrence are tested.
  // `passing`, when given, is set to a term that passed (unchanged when none did). Exact for a
  // test whose ValueTest::by_terms is set: the rows are those whose value is null or passes it.
  void Select(const std::function<bool(std::string_view)>& keep,
              const std::function<size_t(std::string_view, size_t)>& find, std::vector<uint32_t>& out,
              std::string* passing = nullptr, bool negated = false, bool first = false, bool last = false) const;

  // The rows (ascending) whose value is null or holds, for one of `lists`, a term passing each
  // of its tests (kql::ValueTest::term_candidates), appended to `out`: the only rows whose
  // values a test with those candidates may keep.
  void Candidates(std::span<const std::vector<kql::TermTest>> lists, std::vector<uint32_t>& out) const;

  size_t rows() const { return rows_; }
  size_t terms() const { return starts_.size() - 1; }
  bool has_nulls() const { return !nulls_.empty(); }
  bool IsNull(uint32_t row) const { return std::binary_search(nulls_.begin(), nulls_.end(), row); }
  // Memory held, for the cache's budget.
  size_t bytes() const;

 private:
  TermIndex() = default;
  // Sets in `hit` (a bit per row) the rows holding a term that passes `keep` (only the terms
  // holding an occurrence `find` finds are tested), or with `passed` the passing terms' bits
  // there (a bit per term) instead; `passing` as Select's. Whether any term passed.
  bool Mark(const std::function<bool(std::string_view)>& keep, const std::function<size_t(std::string_view, size_t)>& find,
            std::vector<uint64_t>& hit, std::string* passing, std::vector<uint64_t>* passed) const;
  // The rows set in `hit`, and the null rows, appended to `out` (ascending).
  void AppendRows(std::vector<uint64_t>& hit, std::vector<uint32_t>& out) const;
  std::string_view Term(size_t t) const { return std::string_view(text_).substr(starts_[t], starts_[t + 1] - starts_[t] - 1); }

  uint32_t rows_ = 0;
  std::string text_;              // each term followed by a space
  std::vector<uint32_t> starts_;  // term t at text_[starts_[t], starts_[t + 1] - 1); terms() + 1 entries
  uint32_t listed_ = 0;           // terms [0, listed_) have row lists, the others bitmaps
  std::vector<uint32_t> lists_;   // term t's rows are rows_of_[lists_[t], lists_[t + 1])
  std::vector<uint16_t> rows_of_;
  std::vector<uint64_t> bitmaps_;  // term listed_ + k: words [k * W, (k + 1) * W), W = (rows_ + 63) / 64
  std::vector<uint16_t> nulls_;    // rows whose value is null
  std::vector<uint32_t> first_;    // per row, the term its value starts with (kNoTerm: none)
  std::vector<uint32_t> last_;     // per row, the term its value ends with (kNoTerm: none)
  static constexpr uint32_t kNoTerm = UINT32_MAX;
};

}  // namespace cmk::engine
