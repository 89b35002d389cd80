#pragma once
// Lists of needles searched in one pass over a text, whatever the list: each needle searched in
// turn cost the text once per needle (10,000 needles, the documented limit, over one 9 MB block
// of messages: minutes on a thread other queries share). NeedleAutomaton finds every occurrence
// of a set of needles (replace_strings' lookups); HasList is `has` over a list (has_any,
// has_all, has_any_index).
//
// A needle of letters and digits alone is a term: `has` finds it when a term of the text (a
// maximal run of ASCII letters and digits) equals it, so the text's terms are looked up in a
// hash table of them. The other needles (with a separator: "a-b", "-x", "::") are found by one
// Aho-Corasick pass over the text, each occurrence kept when it meets the term boundaries `has`
// requires (fn::HasTermForList: before a needle starting with a letter or digit, after one
// ending with one). Case-insensitive for ASCII, as `has`; the needles come lower-cased.
// Thread safety: immutable once built; const calls from several threads are safe.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kql/core/budget.h"

namespace cmk::kql::fn {

// Reserves in `held` (the query's budget, if any) the memory a NeedleAutomaton or HasList of
// `count` needles of `text_bytes` bytes in all takes (~64 bytes per needle byte: a trie node and
// its links), and refuses lists past kMaxListBytes whatever the budget (the reader threads run
// without one): E_RUNAWAY_QUERY naming `what`. A list comes from the query or from a row (a
// make_list of a million messages), so its automaton could otherwise take gigabytes.
inline constexpr size_t kMaxListBytes = size_t{256} << 20;
size_t NeedleListBytes(size_t count, size_t text_bytes);
Status ReserveForNeedles(std::string_view what, size_t count, size_t text_bytes, MemoryReservation& held);

// Every occurrence of a set of needles in one pass over a text (Aho-Corasick): each text byte
// moves the automaton once (amortized), and the needles ending at a byte are listed from its
// state. Bytes compared as they are, or ASCII lower-cased (`fold_case`; needles then given
// lower-cased). Add the needles, then Link once; immutable after that (const calls from several
// threads are safe).
class NeedleAutomaton {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;
  explicit NeedleAutomaton(bool fold_case) : fold_case_(fold_case) { nodes_.emplace_back(); }

  // Needle `id` (non-empty); a needle added again keeps its first id.
  void Add(std::string_view needle, uint32_t id);
  void Link();
  bool empty() const { return nodes_.size() == 1; }

  // The state before any byte, and the state after `c` from `state`.
  static constexpr uint32_t kStart = 0;
  uint32_t Step(uint32_t state, char c) const;
  // Calls `each(id, length)` for each needle ending at the byte that led to `state`, longest
  // first, until it returns true; whether one did.
  template <typename Each>
  bool Ended(uint32_t state, Each&& each) const {
    for (uint32_t r = nodes_[state].report; r != kNone; r = nodes_[nodes_[r].fail].report) {
      if (each(nodes_[r].needle, nodes_[r].depth)) return true;
    }
    return false;
  }

 private:
  struct Node {
    uint32_t fail = 0;
    uint32_t report = kNone;  // the nearest node on the fail chain (itself first) ending a needle
    uint32_t needle = kNone;  // the needle ending here
    uint32_t depth = 0;       // its length
    std::vector<std::pair<char, uint32_t>> next;  // sorted by byte
  };
  uint32_t Next(uint32_t node, char c) const;
  bool fold_case_;
  std::vector<Node> nodes_;  // node 0: the root
};

class HasList {
 public:
  // `needles` lower-cased (ASCII); equal ones count once.
  explicit HasList(std::span<const std::string> needles);

  // Whether `has` finds one of the needles (an empty needle is found in any text).
  bool Any(std::string_view hay) const;
  // Whether `has` finds every needle.
  bool All(std::string_view hay) const;
  // The least position in `needles` of a non-empty needle `has` finds, or npos.
  size_t First(std::string_view hay) const;

 private:
  static constexpr uint32_t kNone = NeedleAutomaton::kNone;
  struct Needle {
    size_t position = 0;  // least position in the constructor's list
    uint32_t length = 0;
    bool check_left = false, check_right = false;
  };
  struct Slot {  // of the terms' open-addressing table
    uint64_t hash = 0;
    uint32_t id = kNone;
  };
  // Calls `found(id)` for each distinct needle found (an id may come more than once) until it
  // returns true; whether one did.
  template <typename Found>
  bool Scan(std::string_view hay, Found&& found) const;

  size_t SlotOf(uint64_t hash) const;              // a term's first slot, by its TermHash
  uint32_t FindTerm(std::string_view term) const;  // a text's term, any case: its id or kNone

  std::vector<Needle> needles_;     // by distinct id, non-empty ones
  std::vector<std::string> texts_;  // the same: lower-cased
  std::vector<Slot> terms_;         // letters-and-digits needles by SlotOf (a power of two)
  uint64_t term_lengths_ = 0;       // bit n: a term of n bytes (n < 64)
  bool long_terms_ = false;         // a term of 64 bytes or more
  NeedleAutomaton phrases_{true};   // the other needles
  bool empty_ = false;              // "" is one of the needles
};

}  // namespace cmk::kql::fn
