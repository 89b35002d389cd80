#include "engine/term_index.h"

#include <boost/unordered/unordered_flat_set.hpp>

#include <algorithm>
#include <cstring>
#include <span>

#include "base/secret_bytes.h"
#include "engine/term_filter.h"

namespace cmk::engine {
namespace {

// A distinct term of the block being indexed: the hash FindTerms gave it (computed once, 64
// bytes at a time, rather than again by the table), its id, its length and its first 16 bytes,
// compared in place: the term's own text lies somewhere in the decoded block, a cache miss
// away (comparing there was 14% of a build's samples). A longer term's rest is compared
// through `term_of`. Exact: has_cs tells cases apart, the hash does not.
struct Entry {
  uint64_t hash = 0;
  uint32_t id = 0;
  uint32_t size = 0;
  char head[16] = {};
};
// The table's memory holds terms' first bytes (plaintext): wiped when given back, rehashes'
// included.
template <class T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <class U>
  WipingAllocator(const WipingAllocator<U>&) {}  // NOLINT(runtime/explicit): rebinding
  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) {
    WipeBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(p), n * sizeof(T)));
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const WipingAllocator<U>&) const {
    return true;
  }
};
struct Probe {
  std::string_view term;
  uint64_t hash = 0;
};
struct EntryHash {
  using is_transparent = void;
  using is_avalanching = std::true_type;
  size_t operator()(const Entry& e) const { return static_cast<size_t>(e.hash); }
  size_t operator()(const Probe& p) const { return static_cast<size_t>(p.hash); }
};
struct EntryEq {
  using is_transparent = void;
  const std::vector<std::string_view>* term_of = nullptr;  // by id
  bool operator()(const Entry& e, const Probe& p) const {
    if (e.hash != p.hash || e.size != p.term.size()) return false;
    const size_t inline_bytes = e.size < 16 ? e.size : 16;
    for (size_t i = 0; i < inline_bytes; ++i) {
      if (e.head[i] != p.term[i]) return false;
    }
    return e.size <= 16 || std::memcmp((*term_of)[e.id].data() + 16, p.term.data() + 16, e.size - 16) == 0;
  }
  bool operator()(const Probe& p, const Entry& e) const { return (*this)(e, p); }
  // (Entries are distinct terms: each has an id of its own.)
  bool operator()(const Entry& a, const Entry& b) const { return a.id == b.id; }
};

template <class T>
void Wipe(std::vector<T>& v) {
  WipeBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(v.data()), v.size() * sizeof(T)));
}

}  // namespace

std::shared_ptr<const TermIndex> TermIndex::Build(const kql::Column& values, size_t rows) {
  auto index = std::shared_ptr<TermIndex>(new TermIndex());
  index->rows_ = static_cast<uint32_t>(rows);
  // First pass: each term's id (in the order first seen) and, row by row, the ids of the terms
  // it holds, each once (`last`: the last row that listed the term).
  std::vector<std::string_view> term_of;
  boost::unordered_flat_set<Entry, EntryHash, EntryEq, WipingAllocator<Entry>> ids(0, EntryHash{}, EntryEq{&term_of});
  ids.reserve(rows * 2);  // log lines: ~1.5 distinct terms a row
  std::vector<uint32_t> last, count;
  std::vector<uint32_t> held;  // ids, row after row
  held.reserve(values.packed() ? values.chars.size() / 6 : rows * 8);
  std::vector<uint32_t> row_end(rows + 1, 0);  // row r's ids: held[row_end[r], row_end[r + 1])
  std::vector<uint32_t>& first = index->first_;  // ids first, renumbered below
  first.assign(rows, kNoTerm);
  std::vector<uint32_t>& final_term = index->last_;  // the same
  final_term.assign(rows, kNoTerm);
  std::vector<uint64_t> hashes;
  std::vector<uint32_t> starts, ends;
  const char* chars_end = values.packed() ? values.chars.data() + values.chars.size() : nullptr;
  for (size_t r = 0; r < rows; ++r) {
    row_end[r] = static_cast<uint32_t>(held.size());
    if (values.IsNull(r)) {
      index->nulls_.push_back(static_cast<uint16_t>(r));
      continue;
    }
    std::string_view v = values.Str(r);
    size_t most = v.size() / 2 + 1;
    if (hashes.size() < most) {
      hashes.resize(most);
      starts.resize(most);
      ends.resize(most);
    }
    // Values of a packed column lie end to end: a value's last word is read on into the next.
    size_t readable = chars_end != nullptr ? static_cast<size_t>(chars_end - v.data()) : v.size();
    size_t n = FindTerms(v, readable, hashes.data(), starts.data(), ends.data());
    const bool starts_with_term = n > 0 && starts[0] == 0;
    const bool ends_with_term = n > 0 && ends[n - 1] == v.size();
    for (size_t i = 0; i < n; ++i) {
      std::string_view term = v.substr(starts[i], ends[i] - starts[i]);
      auto it = ids.find(Probe{term, hashes[i]});
      uint32_t id;
      if (it != ids.end()) {
        id = it->id;
      } else {
        id = static_cast<uint32_t>(term_of.size());
        Entry e{hashes[i], id, static_cast<uint32_t>(term.size()), {}};
        std::memcpy(e.head, term.data(), term.size() < 16 ? term.size() : 16);
        ids.insert(e);
        term_of.push_back(term);
        last.push_back(UINT32_MAX);
        count.push_back(0);
      }
      if (i == 0 && starts_with_term) first[r] = id;
      if (i + 1 == n && ends_with_term) final_term[r] = id;
      if (last[id] == r) continue;
      last[id] = static_cast<uint32_t>(r);
      ++count[id];
      held.push_back(id);
    }
  }
  row_end[rows] = static_cast<uint32_t>(held.size());
  // Terms held by more than 1 row in 16 take a bitmap (rows / 8 bytes, less than their list's
  // 2 bytes a row) and are numbered after the others.
  const size_t terms = term_of.size();
  std::vector<uint32_t> renumbered(terms);
  uint32_t listed = 0;
  for (size_t id = 0; id < terms; ++id) {
    if (count[id] * size_t{16} <= rows) renumbered[id] = listed++;
  }
  uint32_t mapped = listed;
  for (size_t id = 0; id < terms; ++id) {
    if (count[id] * size_t{16} > rows) renumbered[id] = mapped++;
  }
  std::vector<uint32_t> order(terms);  // new id -> old
  for (size_t id = 0; id < terms; ++id) order[renumbered[id]] = static_cast<uint32_t>(id);
  index->listed_ = listed;
  size_t text_bytes = terms;
  for (std::string_view t : term_of) text_bytes += t.size();
  index->text_.reserve(text_bytes);
  index->starts_.reserve(terms + 1);
  index->lists_.reserve(size_t{listed} + 1);
  uint32_t listed_rows = 0;
  for (uint32_t t = 0; t < terms; ++t) {
    index->starts_.push_back(static_cast<uint32_t>(index->text_.size()));
    index->text_.append(term_of[order[t]]);
    index->text_.push_back(' ');
    if (t < listed) {
      index->lists_.push_back(listed_rows);
      listed_rows += count[order[t]];
    }
  }
  index->starts_.push_back(static_cast<uint32_t>(index->text_.size()));
  index->lists_.push_back(listed_rows);
  // Second pass: the rows into the lists (ascending, as rows are walked in order); those of the
  // bitmap terms into lists apart first, then into their bitmaps one term at a time (set row
  // by row, the bitmaps' words 8 KB apart thrashed one cache set: 40% of the build).
  const size_t words = (rows + 63) / 64;
  index->rows_of_.resize(listed_rows);
  std::vector<uint16_t> spilled(held.size() - listed_rows);
  std::vector<uint32_t> cursor(terms + 1);
  std::copy(index->lists_.begin(), index->lists_.end() - 1, cursor.begin());
  for (uint32_t t = listed, at = 0; t < terms; ++t) {
    cursor[t] = at;
    at += count[order[t]];
  }
  cursor[terms] = static_cast<uint32_t>(spilled.size());
  const std::vector<uint32_t> spill_start(cursor.begin() + listed, cursor.end());
  for (size_t r = 0; r < rows; ++r) {
    for (uint32_t k = row_end[r]; k < row_end[r + 1]; ++k) {
      uint32_t t = renumbered[held[k]];
      uint16_t* to = t < listed ? index->rows_of_.data() : spilled.data();
      to[cursor[t]++] = static_cast<uint16_t>(r);
    }
  }
  for (std::vector<uint32_t>* per_row : {&first, &final_term}) {
    for (uint32_t& f : *per_row) {
      if (f != kNoTerm) f = renumbered[f];
    }
  }
  index->bitmaps_.assign((terms - listed) * words, 0);
  for (size_t k = 0; k + listed < terms; ++k) {
    uint64_t* bits = index->bitmaps_.data() + k * words;
    for (uint32_t i = spill_start[k]; i < spill_start[k + 1]; ++i) bits[spilled[i] / 64] |= uint64_t{1} << (spilled[i] % 64);
  }
  return index;
}

TermIndex::~TermIndex() {
  WipeBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(text_.data()), text_.size()));
  Wipe(starts_);
  Wipe(lists_);
  Wipe(rows_of_);
  Wipe(bitmaps_);
  Wipe(nulls_);
  Wipe(first_);
  Wipe(last_);
}

bool TermIndex::Mark(const std::function<bool(std::string_view)>& keep,
                     const std::function<size_t(std::string_view, size_t)>& find, std::vector<uint64_t>& hit,
                     std::string* passing, std::vector<uint64_t>* passed) const {
  const size_t words = (size_t{rows_} + 63) / 64;
  const std::string_view text = text_;
  const size_t terms = starts_.size() - 1;
  bool found = false;
  for (size_t from = 0; from < text.size();) {
    size_t p = find(text, from);
    if (p == std::string_view::npos || p >= text.size()) break;
    // The term the occurrence lies in: the last one starting at or before it.
    size_t t = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.begin() + terms, static_cast<uint32_t>(p)) -
                                   starts_.begin()) - 1;
    from = starts_[t + 1];
    std::string_view term = Term(t);
    if (!keep(term)) continue;
    if (passing != nullptr && !found) passing->assign(term);
    found = true;
    if (passed != nullptr) {
      (*passed)[t / 64] |= uint64_t{1} << (t % 64);
    } else if (t < listed_) {
      for (uint32_t k = lists_[t]; k < lists_[t + 1]; ++k) hit[rows_of_[k] / 64] |= uint64_t{1} << (rows_of_[k] % 64);
    } else {
      const uint64_t* bits = bitmaps_.data() + (t - listed_) * words;
      for (size_t w = 0; w < words; ++w) hit[w] |= bits[w];
    }
  }
  return found;
}

void TermIndex::AppendRows(std::vector<uint64_t>& hit, std::vector<uint32_t>& out) const {
  for (uint16_t r : nulls_) hit[r / 64] |= uint64_t{1} << (r % 64);
  for (size_t w = 0; w < hit.size(); ++w) {
    for (uint64_t m = hit[w]; m != 0; m &= m - 1) out.push_back(static_cast<uint32_t>(w * 64 + __builtin_ctzll(m)));
  }
}

void TermIndex::Select(const std::function<bool(std::string_view)>& keep,
                       const std::function<size_t(std::string_view, size_t)>& find, std::vector<uint32_t>& out,
                       std::string* passing, bool negated, bool first, bool last) const {
  const size_t words = (size_t{rows_} + 63) / 64;
  std::vector<uint64_t> hit(words, 0);
  std::vector<uint64_t> passed;  // with `first` or `last`: the terms that passed, one bit each
  const bool edge = first || last;
  if (edge) passed.assign((terms() + 63) / 64, 0);
  bool found = Mark(keep, find, hit, passing, edge ? &passed : nullptr);
  if (edge && found) {
    const std::vector<uint32_t>& per_row = first ? first_ : last_;
    for (size_t r = 0; r < rows_; ++r) {
      uint32_t t = per_row[r];
      if (t != kNoTerm && (passed[t / 64] >> (t % 64) & 1) != 0) hit[r / 64] |= uint64_t{1} << (r % 64);
    }
  }
  if (negated) {
    for (uint64_t& w : hit) w = ~w;
    if (rows_ % 64 != 0) hit[words - 1] &= ~uint64_t{0} >> (64 - rows_ % 64);
  }
  AppendRows(hit, out);
}

void TermIndex::Candidates(std::span<const std::vector<kql::TermTest>> lists, std::vector<uint32_t>& out) const {
  const size_t words = (size_t{rows_} + 63) / 64;
  std::vector<uint64_t> any(words, 0), all, one;
  for (const std::vector<kql::TermTest>& list : lists) {
    all.assign(words, ~uint64_t{0});
    for (const kql::TermTest& test : list) {
      one.assign(words, 0);
      Mark(test.keep, test.find, one, nullptr, nullptr);
      bool left = false;
      for (size_t w = 0; w < words; ++w) {
        all[w] &= one[w];
        left = left || all[w] != 0;
      }
      if (!left) break;  // no row holds this list's terms
    }
    for (size_t w = 0; w < words; ++w) any[w] |= all[w];  // (an empty list: every row)
  }
  if (rows_ % 64 != 0) any[words - 1] &= ~uint64_t{0} >> (64 - rows_ % 64);
  AppendRows(any, out);
}

size_t TermIndex::bytes() const {
  return sizeof(*this) + text_.capacity() + starts_.capacity() * sizeof(uint32_t) + lists_.capacity() * sizeof(uint32_t) +
         rows_of_.capacity() * sizeof(uint16_t) + bitmaps_.capacity() * sizeof(uint64_t) +
         nulls_.capacity() * sizeof(uint16_t) + first_.capacity() * sizeof(uint32_t) +
         last_.capacity() * sizeof(uint32_t);
}

}  // namespace cmk::engine
