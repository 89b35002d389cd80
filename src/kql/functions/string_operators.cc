// String operators: =~ !~ has contains startswith endswith hasprefix hassuffix with their _cs
// and negated forms, and matches regex (list membership, in and has_any/has_all, is in
// in_operators.cc).
//
// Case-insensitive matching is ASCII-only: the needle is lower-cased once per eval call when it
// is constant and each haystack byte is folded while scanning, so no row allocates. Terms for
// has* are maximal runs of ASCII letters and digits; every other byte separates terms.
#include <cstring>

#include <algorithm>
#include <array>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "kql/functions/function_regex.h"
#include "kql/functions/function_util.h"
#include "kql/functions/terms.h"

namespace cmk::kql::fn {
namespace {

enum class Match { kEquals, kContains, kStarts, kEnds, kHas, kHasPrefix, kHasSuffix };

// Whether hay[p..p+n) equals the needle (already lower-cased when !cs).
bool At(std::string_view hay, size_t p, std::string_view needle, bool cs) {
  if (cs) return std::memcmp(hay.data() + p, needle.data(), needle.size()) == 0;
  for (size_t k = 0; k < needle.size(); ++k) {
    if (LowerAscii(hay[p + k]) != needle[k]) return false;
  }
  return true;
}

// A filtered search's candidates are confirmed by comparing the needle there (At), which costs
// up to its length each: a text and needle made for it (every other position a candidate that
// fails at its last byte) cost the text's length times the needle's, minutes for megabytes, on
// threads that check no deadline. Past comparisons worth a few times the text, a search goes on
// with Knuth-Morris-Pratt (FindLinear), linear in both whatever they hold.
constexpr size_t kGaveUp = std::string_view::npos - 1;
size_t SearchBudget(size_t text, size_t needle) { return 4 * text + 4 * needle + 256; }

// Calls `on` with each occurrence of `needle` (lower-cased when !cs) in `hay` at or after `from`,
// overlapping ones included, until it returns true; the position then, else npos. By
// Knuth-Morris-Pratt: O(|hay| + |needle|) time whatever they hold, O(|needle|) memory.
template <typename F>
size_t ForEachLinear(std::string_view hay, std::string_view needle, bool cs, size_t from, F on) {
  const size_t m = needle.size();
  if (m == 0) return from <= hay.size() ? from : std::string_view::npos;
  std::vector<size_t> border(m, 0);  // border[k]: the longest proper border of needle[0..k]
  for (size_t k = 1, b = 0; k < m; ++k) {
    while (b > 0 && needle[k] != needle[b]) b = border[b - 1];
    if (needle[k] == needle[b]) ++b;
    border[k] = b;
  }
  for (size_t k = from, matched = 0; k < hay.size(); ++k) {
    char c = cs ? hay[k] : LowerAscii(hay[k]);
    while (matched > 0 && c != needle[matched]) matched = border[matched - 1];
    if (c == needle[matched]) ++matched;
    if (matched < m) continue;
    if (on(k + 1 - m)) return k + 1 - m;
    matched = border[m - 1];
  }
  return std::string_view::npos;
}

size_t FindLinear(std::string_view hay, std::string_view needle, bool cs, size_t from) {
  return ForEachLinear(hay, needle, cs, from, [](size_t) { return true; });
}

// Verification work a search may spend before it goes on in linear time (FindLinear): false,
// with nothing spent, when `cost` doesn't fit in what is left.
bool Afford(size_t& budget, size_t cost) {
  if (cost > budget) return false;
  budget -= cost;
  return true;
}
// A search giving up at candidate `q` (not yet confirmed): the linear search goes on from there.
size_t GiveUp(size_t& p, size_t q) {
  p = q;
  return kGaveUp;
}

// A needle (lower-cased when the match ignores case) prepared once for the search of many
// texts (Prepare): the positions i < j of its two rarest bytes, which the SIMD filter keys on
// (choosing them per text was ~40% of a contains over 133-byte values).
struct Needle {
  std::string_view text;
  bool cs = true;
  size_t i = 0, j = 1;
};

// The first position in [p, last] holding `a` or `b`, or npos. Case-insensitive search looks
// for the needle's first letter in both cases: 16 bytes a compare with SSE2 (every x86-64 has
// it), a byte loop elsewhere and for the tail. The byte loop's speed also swung by 20% with the
// code's alignment from one build to the next.
size_t FindEither(std::string_view hay, size_t p, size_t last, char a, char b) {
#if defined(__SSE2__)
  const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b);
  for (; p + 16 <= last + 1; p += 16) {  // [p, p + 16) lies within [p, last]
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hay.data() + p));
    int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)));
    if (m != 0) return p + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(m)));
  }
#endif
  for (; p <= last; ++p) {
    if (hay[p] == a || hay[p] == b) return p;
  }
  return std::string_view::npos;
}

#if defined(__SSE2__)
// How common a byte is in log text (higher: rarer), from English letter frequencies with space,
// digits and separators commonest: the filter below keys on the needle's two rarest bytes, so
// few positions pass it only to fail the comparison (for "timeout", 'u' and 'm', not the 't's).
// A table, so that choosing the pair costs a few loads per call (a per-row match calls it).
constexpr std::array<uint8_t, 256> kRarity = [] {
  std::array<uint8_t, 256> r{};
  r.fill(32);
  for (char c : std::string_view("-_./:=")) r[static_cast<unsigned char>(c)] = 8;
  for (char c = '0'; c <= '9'; ++c) r[static_cast<unsigned char>(c)] = 4;
  constexpr std::string_view kCommonFirst = " etaoinsrhldcumfpgwybvkxjqz";
  for (size_t k = 0; k < kCommonFirst.size(); ++k) {
    char c = kCommonFirst[k];
    r[static_cast<unsigned char>(c)] = static_cast<uint8_t>(k);
    if (c >= 'a' && c <= 'z') r[static_cast<unsigned char>(c - 32)] = static_cast<uint8_t>(k);
  }
  return r;
}();
int Rarity(char c) { return kRarity[static_cast<unsigned char>(c)]; }

// The positions in the needle of its two rarest bytes (i < j).
std::pair<size_t, size_t> RarePair(std::string_view needle) {
  size_t a = 0, b = 1;
  if (Rarity(needle[b]) > Rarity(needle[a])) std::swap(a, b);
  for (size_t k = 2; k < needle.size(); ++k) {
    if (Rarity(needle[k]) > Rarity(needle[a])) {
      b = a;
      a = k;
    } else if (Rarity(needle[k]) > Rarity(needle[b])) {
      b = k;
    }
  }
  return {std::min(a, b), std::max(a, b)};
}

// Candidates of a needle of two or more bytes (lower-cased when !cs): the positions where both
// its bytes i and j match, 16 positions a step (W. Muła's SIMD substring filter, keyed on rare
// bytes rather than the first and last), so a frequent letter costs no comparison unless the
// other one matches too. Case-insensitively a letter is compared as (byte | 0x20), which folds
// exactly its two cases; At() confirms. Returns the first confirmed position at or after `p`,
// or npos with `p` set to where a byte loop must go on (past the end when none is needed);
// kGaveUp, with `p` at the next unconfirmed candidate, once the comparisons exceed `budget`.
size_t FindPairsSse2(std::string_view hay, std::string_view needle, bool cs, size_t& p, size_t i, size_t j, size_t& budget) {
  const size_t last = hay.size() - needle.size();
  auto fold = [cs](char c) { return !cs && c >= 'a' && c <= 'z' ? char{0x20} : char{0}; };
  const __m128i bi = _mm_set1_epi8(needle[i]), fi = _mm_set1_epi8(fold(needle[i]));
  const __m128i bj = _mm_set1_epi8(needle[j]), fj = _mm_set1_epi8(fold(needle[j]));
  for (; p + 16 <= last + 1; p += 16) {  // both loads lie within hay
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hay.data() + p + i));
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hay.data() + p + j));
    __m128i hit = _mm_and_si128(_mm_cmpeq_epi8(_mm_or_si128(a, fi), bi), _mm_cmpeq_epi8(_mm_or_si128(b, fj), bj));
    for (unsigned m = static_cast<unsigned>(_mm_movemask_epi8(hit)); m != 0; m &= m - 1) {
      size_t q = p + static_cast<size_t>(__builtin_ctz(m));
      if (!Afford(budget, needle.size())) return GiveUp(p, q);
      if (At(hay, q, needle, cs)) return q;
    }
  }
  // Fewer than 16 positions left: one step over the last 16 (overlapping what was searched, the
  // positions before p masked off) instead of a byte loop, when the text is long enough.
  if (p <= last && last >= 15) {
    size_t start = last - 15;
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hay.data() + start + i));
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hay.data() + start + j));
    __m128i hit = _mm_and_si128(_mm_cmpeq_epi8(_mm_or_si128(a, fi), bi), _mm_cmpeq_epi8(_mm_or_si128(b, fj), bj));
    unsigned m = static_cast<unsigned>(_mm_movemask_epi8(hit)) & (0xFFFFu << (p - start));
    for (; m != 0; m &= m - 1) {
      size_t q = start + static_cast<size_t>(__builtin_ctz(m));
      if (!Afford(budget, needle.size())) return GiveUp(p, q);
      if (At(hay, q, needle, cs)) return q;
    }
    p = last + 1;
  }
  return std::string_view::npos;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CMK_HAVE_AVX2_PAIRS 1
// The same, 32 positions a step, on CPUs with AVX2 (chosen at run time).
__attribute__((target("avx2"))) size_t FindPairsAvx2(std::string_view hay, std::string_view needle, bool cs,
                                                     size_t& p, size_t i, size_t j, size_t& budget) {
  const size_t last = hay.size() - needle.size();
  auto fold = [cs](char c) { return !cs && c >= 'a' && c <= 'z' ? char{0x20} : char{0}; };
  const __m256i bi = _mm256_set1_epi8(needle[i]), fi = _mm256_set1_epi8(fold(needle[i]));
  const __m256i bj = _mm256_set1_epi8(needle[j]), fj = _mm256_set1_epi8(fold(needle[j]));
  for (; p + 32 <= last + 1; p += 32) {
    __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hay.data() + p + i));
    __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hay.data() + p + j));
    __m256i hit = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_or_si256(a, fi), bi),
                                   _mm256_cmpeq_epi8(_mm256_or_si256(b, fj), bj));
    for (unsigned m = static_cast<unsigned>(_mm256_movemask_epi8(hit)); m != 0; m &= m - 1) {
      size_t q = p + static_cast<size_t>(__builtin_ctz(m));
      if (!Afford(budget, needle.size())) return GiveUp(p, q);
      if (At(hay, q, needle, cs)) return q;
    }
  }
  // Fewer than 32 positions left: one step over the last 32 (those before p masked off), as the
  // SSE2 version's last step, when the text is long enough.
  if (p <= last && last >= 31) {
    size_t start = last - 31;
    __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hay.data() + start + i));
    __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hay.data() + start + j));
    __m256i hit = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_or_si256(a, fi), bi),
                                   _mm256_cmpeq_epi8(_mm256_or_si256(b, fj), bj));
    unsigned m = static_cast<unsigned>(_mm256_movemask_epi8(hit)) & (~0u << (p - start));
    for (; m != 0; m &= m - 1) {
      size_t q = start + static_cast<size_t>(__builtin_ctz(m));
      if (!Afford(budget, needle.size())) return GiveUp(p, q);
      if (At(hay, q, needle, cs)) return q;
    }
    p = last + 1;
  }
  return std::string_view::npos;
}
#endif

size_t FindPairs(std::string_view hay, const Needle& n, size_t& p, size_t& budget) {
  const std::string_view needle = n.text;
  const bool cs = n.cs;
  const size_t i = n.i, j = n.j;
  size_t q = std::string_view::npos;
#if defined(CMK_HAVE_AVX2_PAIRS)
  static const bool kAvx2 = __builtin_cpu_supports("avx2");
  if (kAvx2) q = FindPairsAvx2(hay, needle, cs, p, i, j, budget);
  if (q != std::string_view::npos) return q;  // a position or kGaveUp
#endif
  q = FindPairsSse2(hay, needle, cs, p, i, j, budget);
  if (q != std::string_view::npos) return q;
  for (const size_t last = hay.size() - needle.size(); p <= last; ++p) {
    if (!Afford(budget, needle.size())) return kGaveUp;
    if (At(hay, p, needle, cs)) return p;
  }
  return std::string_view::npos;
}
#endif

Needle Prepare(std::string_view text, bool cs) {
  Needle n{text, cs};
#if defined(__SSE2__)
  if (text.size() >= 2) std::tie(n.i, n.j) = RarePair(text);
#endif
  return n;
}

// Next occurrence of the needle at or after `from`, or npos.
// The first occurrence at or after `from`, its candidates confirmed out of `budget`: npos when
// there is none; kGaveUp, with `from` at the first unconfirmed candidate, once the budget is
// spent (the caller goes on in linear time).
size_t FindWithin(std::string_view hay, const Needle& n, size_t& from, size_t& budget) {
  const std::string_view needle = n.text;
  const bool cs = n.cs;
  if (needle.empty()) return from <= hay.size() ? from : std::string_view::npos;
  if (hay.size() < needle.size()) return std::string_view::npos;
  const size_t last = hay.size() - needle.size();
  if (from > last) return std::string_view::npos;
#if defined(__SSE2__)
  if (needle.size() >= 2) return FindPairs(hay, n, from, budget);
#endif
  const char first = needle[0];
  const char first_upper = UpperAscii(first);
  for (; from <= last; ++from) {
    if (cs || first == first_upper) {
      const void* hit = std::memchr(hay.data() + from, first, last - from + 1);
      if (hit == nullptr) return std::string_view::npos;
      from = static_cast<size_t>(static_cast<const char*>(hit) - hay.data());
    } else {
      from = FindEither(hay, from, last, first, first_upper);
      if (from == std::string_view::npos) return from;
    }
    if (!Afford(budget, needle.size())) return kGaveUp;
    if (At(hay, from, needle, cs)) return from;
  }
  return std::string_view::npos;
}

// Next occurrence of the needle at or after `from`, or npos.
size_t FindFrom(std::string_view hay, const Needle& n, size_t from) {
  size_t budget = SearchBudget(hay.size() - std::min(from, hay.size()), n.text.size());
  size_t q = FindWithin(hay, n, from, budget);
  return q == kGaveUp ? FindLinear(hay, n.text, n.cs, from) : q;
}

// Term matching: the occurrence must start (and/or end) on a term boundary when the needle's
// first (last) character is part of a term; needles with separators match as phrases.
bool HasTerm(std::string_view hay, const Needle& n, bool left, bool right) {
  const std::string_view needle = n.text;
  if (needle.empty()) return true;
  bool check_left = left && IsAlnumAscii(needle.front());
  bool check_right = right && IsAlnumAscii(needle.back());
  // The first position at or after k that is not a term's letter or digit (or the end).
  auto term_end = [&](size_t k) {
    while (k < hay.size() && IsAlnumAscii(hay[k])) ++k;
    return k;
  };
  auto fails_left = [&](size_t p) { return check_left && p > 0 && IsAlnumAscii(hay[p - 1]); };
  auto fails_right = [&](size_t end) { return check_right && end < hay.size() && IsAlnumAscii(hay[end]); };
  // One budget for every search and every occurrence that fails a boundary, past which the rest
  // of the text is searched in one linear pass: a needle found every few bytes, each time inside
  // a term, or candidates failing late, cost a few texts' worth of comparisons at most.
  size_t budget = SearchBudget(hay.size(), needle.size());
  auto linear_rest = [&](size_t from) {
    return ForEachLinear(hay, needle, n.cs, from, [&](size_t q) {
             return !fails_left(q) && !fails_right(q + needle.size());
           }) != std::string_view::npos;
  };
  size_t at = 0;
  for (size_t p = FindWithin(hay, n, at, budget); p != std::string_view::npos;) {
    if (p == kGaveUp) return linear_rest(at);
    size_t end = p + needle.size();
    bool left_fails = fails_left(p);
    bool right_fails = fails_right(end);
    if (!left_fails && !right_fails) return true;
    if (!Afford(budget, needle.size())) return linear_rest(p + 1);
    // A later occurrence that starts inside the term p's left neighbour is part of fails on
    // the left too, and one that ends inside the term at `end` fails on the right: the search
    // goes on past them, so that an occurrence at every position (a run of one letter) costs
    // the text once, not once a position.
    size_t next = p + 1;
    if (left_fails) next = std::max(next, term_end(p) + 1);
    if (right_fails) next = std::max(next, term_end(end) - std::min(term_end(end), needle.size()));
    if (next > hay.size()) return false;
    at = next;
    p = FindWithin(hay, n, at, budget);
  }
  return false;
}

bool Matches(Match m, std::string_view hay, const Needle& n) {
  const std::string_view needle = n.text;
  const bool cs = n.cs;
  switch (m) {
    case Match::kEquals: return hay.size() == needle.size() && At(hay, 0, needle, cs);
    case Match::kContains: return FindFrom(hay, n, 0) != std::string_view::npos;
    case Match::kStarts: return hay.size() >= needle.size() && At(hay, 0, needle, cs);
    case Match::kEnds:
      return hay.size() >= needle.size() && At(hay, hay.size() - needle.size(), needle, cs);
    case Match::kHas: return HasTerm(hay, n, true, true);
    case Match::kHasPrefix: return HasTerm(hay, n, true, false);
    case Match::kHasSuffix: return HasTerm(hay, n, false, true);
  }
  return false;
}

// Whether a packed column is better matched by searching its whole text for the needle than
// value by value: for the matches that keep only values holding the needle (contains, and the
// term matches: has, hasprefix, hassuffix), with a needle to search for. Not startswith or
// endswith, whose values are cheaper to test at one end than to search (a needle found
// mid-value is a candidate to confirm and reject), nor equality.
bool MatchesSearchWholeText(Match m, const Needle& n) {
  return !n.text.empty() && (m == Match::kContains || m == Match::kHas || m == Match::kHasPrefix || m == Match::kHasSuffix);
}

// Calls f(r) for each row r of a packed column whose value an occurrence of `n` starts in, in
// order: one search of the values laid end to end (no per-value setup: 1M rows of ~130-byte
// messages searched 3x faster than value by value). A value no occurrence starts in holds none;
// an occurrence straddling two values is a candidate its value rejects. The search goes on after
// the value: one occurrence per value is enough.
template <typename F>
void ForEachRowHolding(const Column& hay, const Needle& n, F f) {
  const std::string_view text(hay.chars.data(), hay.offsets.back());
  const uint32_t* const begin = hay.offsets.data();
  const uint32_t* const end = begin + hay.offsets.size();
  const uint32_t* at = begin;  // offsets of the row searched from
  for (size_t from = 0; from < text.size();) {
    size_t q = FindFrom(text, n, from);
    if (q == std::string_view::npos) break;
    // The row whose value holds byte q: the last offset at or before q (empty values share it).
    at = std::upper_bound(at, end, static_cast<uint32_t>(q)) - 1;
    f(static_cast<size_t>(at - begin));
    from = at[1];  // (> q: q lies inside the value)
  }
}

// `out` (a bool per row, all false) for a packed column: only the values holding the needle tested.
Column MatchPackedText(Match m, bool negate, const Column& hay, const Needle& n, Column out) {
  if (negate) std::fill(out.ints.begin(), out.ints.end(), 1);
  ForEachRowHolding(hay, n, [&](size_t r) { out.ints[r] = Matches(m, hay.Str(r), n) != negate ? 1 : 0; });
  return out;
}

}  // namespace

std::vector<uint32_t> PackedRowsHolding(const Column& packed, std::string_view literal) {
  std::vector<uint32_t> rows;
  if (literal.empty()) {
    for (size_t r = 0; r + 1 < packed.offsets.size(); ++r) rows.push_back(static_cast<uint32_t>(r));
    return rows;
  }
  ForEachRowHolding(packed, Prepare(literal, false), [&](size_t r) { rows.push_back(static_cast<uint32_t>(r)); });
  return rows;
}

namespace {

Result<Column> EvalMatch(Match m, bool cs, bool negate, Args a, const FunctionContext& ctx) {
  const Column& hay = *a[0];
  const Column& needle = *a[1];
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kBool, s);
  std::string scratch, needle_scratch, lowered;
  Needle fixed;
  if (needle.constant) {
    lowered = std::string(TextOf(needle, 0, needle_scratch));
    if (!cs) lowered = LowerAsciiCopy(lowered);
    fixed = Prepare(lowered, cs);
  }
  if (needle.constant && !hay.constant && hay.type == Type::kString && hay.stored() == s.rows) {
    // A coded column: each dictionary entry matched once (`Computer contains "web"` over 65,536
    // rows of 500 hosts: 500 searches).
    if (hay.coded() && hay.dict->size() < s.rows) {
      std::vector<uint8_t> holds(hay.dict->size());
      for (size_t k = 0; k < holds.size(); ++k) holds[k] = Matches(m, (*hay.dict)[k], fixed) != negate ? 1 : 0;
      for (size_t i = 0; i < s.rows; ++i) out.ints[i] = holds[hay.codes[i]];
      return out;
    }
    if (hay.packed() && MatchesSearchWholeText(m, fixed)) return MatchPackedText(m, negate, hay, fixed, std::move(out));
  }
  for (size_t i = 0; i < s.rows; ++i) {
    Needle n = fixed;
    if (!needle.constant) {
      lowered = std::string(TextOf(needle, i, needle_scratch));
      if (!cs) lowered = LowerAsciiCopy(lowered);
      n = Prepare(lowered, cs);
    }
    out.ints[i] = Matches(m, TextOf(hay, i, scratch), n) != negate;
  }
  return out;
}

struct MatchSpec {
  std::string_view name;
  Match m;
  bool cs, negate;
};
// Every operator AddMatch registers (RegisterStringOps), for StringValueTest.
constexpr MatchSpec kMatchOps[] = {
    {"=~", Match::kEquals, false, false},           {"!~", Match::kEquals, false, true},
    {"has", Match::kHas, false, false},             {"!has", Match::kHas, false, true},
    {"has_cs", Match::kHas, true, false},           {"!has_cs", Match::kHas, true, true},
    {"hasprefix", Match::kHasPrefix, false, false}, {"!hasprefix", Match::kHasPrefix, false, true},
    {"hasprefix_cs", Match::kHasPrefix, true, false}, {"!hasprefix_cs", Match::kHasPrefix, true, true},
    {"hassuffix", Match::kHasSuffix, false, false}, {"!hassuffix", Match::kHasSuffix, false, true},
    {"hassuffix_cs", Match::kHasSuffix, true, false}, {"!hassuffix_cs", Match::kHasSuffix, true, true},
    {"contains", Match::kContains, false, false},   {"!contains", Match::kContains, false, true},
    {"contains_cs", Match::kContains, true, false}, {"!contains_cs", Match::kContains, true, true},
    {"startswith", Match::kStarts, false, false},   {"!startswith", Match::kStarts, false, true},
    {"startswith_cs", Match::kStarts, true, false}, {"!startswith_cs", Match::kStarts, true, true},
    {"endswith", Match::kEnds, false, false},       {"!endswith", Match::kEnds, false, true},
    {"endswith_cs", Match::kEnds, true, false},     {"!endswith_cs", Match::kEnds, true, true},
};

void AddMatch(Registry& r, std::string_view name, Match m, bool cs, bool negate) {
  r.Operator({name, 2, 2, Returns(Type::kBool), [m, cs, negate](Args a, const FunctionContext& ctx) {
                return EvalMatch(m, cs, negate, a, ctx);
              }});
}

Result<Column> EvalMatchesRegex(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kBool, s);
  RegexCache cache;
  std::string scratch, pscratch;
  const Column& hay = *a[0];
  if (a[1]->constant && !hay.constant && hay.type == Type::kString && hay.packed() && hay.stored() == s.rows) {
    // A packed column searched whole for a literal every match holds: the pattern is run only
    // on the values holding it.
    ASSIGN_OR_RETURN(const RE2* re, cache.Get("matches regex", TextOf(*a[1], 0, pscratch)));
    std::string literal = RequiredLiteral(*re);  // (lower case: searched ignoring case)
    if (!literal.empty()) {
      ForEachRowHolding(hay, Prepare(literal, false), [&](size_t r) { out.ints[r] = RE2::PartialMatch(hay.Str(r), *re); });
      return out;
    }
  }
  for (size_t i = 0; i < s.rows; ++i) {
    ASSIGN_OR_RETURN(const RE2* re, cache.Get("matches regex", TextOf(*a[1], i, pscratch)));
    std::string_view text = TextOf(*a[0], i, scratch);
    out.ints[i] = RE2::PartialMatch(text, *re);
  }
  return out;
}

// The hashes (TermHash) of the needle's terms that every value the match keeps holds as whole
// terms: the needle's runs of term bytes bounded on both sides, by a separator inside the needle
// or by an end the match anchors to a term boundary (has: both ends; hasprefix and startswith:
// the start; hassuffix and endswith: the end; equality: both, the value's own ends; contains:
// neither). A negated match keeps values without them: none.
constexpr size_t kMaxRequiredTerms = 8;

// Calls f(run, left, right) for each run of term bytes of `needle`, in order: whether a term
// boundary of any value the match keeps lies right before it (`left`: a separator before it in
// the needle, or the needle's start where the match anchors it to a term's start) and right
// after it (`right`: likewise at its end).
template <class F>
void ForEachNeedleRun(Match m, std::string_view needle, F&& f) {
  const bool left = m == Match::kHas || m == Match::kHasPrefix || m == Match::kStarts || m == Match::kEquals;
  const bool right = m == Match::kHas || m == Match::kHasSuffix || m == Match::kEnds || m == Match::kEquals;
  for (size_t p = 0; p < needle.size();) {
    if (!IsTermByte(needle[p])) {
      ++p;
      continue;
    }
    size_t b = p;
    while (p < needle.size() && IsTermByte(needle[p])) ++p;
    f(needle.substr(b, p - b), b > 0 || left, p < needle.size() || right);
  }
}

std::vector<uint64_t> RequiredTerms(Match m, std::string_view needle, bool negate) {
  std::vector<uint64_t> out;
  if (negate) return out;
  // The longest terms (the rarest, as a rule), at most kMaxRequiredTerms: each is required on
  // its own, so fewer only skip fewer blocks, and a block is tested against a bounded number
  // (a needle of 100,000 terms would test each row group 100,000 times).
  std::vector<std::string_view> runs;
  ForEachNeedleRun(m, needle, [&](std::string_view run, bool l, bool r) {
    if (l && r) runs.push_back(run);
  });
  std::stable_sort(runs.begin(), runs.end(), [](std::string_view x, std::string_view y) { return x.size() > y.size(); });
  for (std::string_view r : runs) {
    if (out.size() == kMaxRequiredTerms) break;
    out.push_back(TermHash(r));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The term tests every value the match keeps passes (ValueTest::term_candidates): one for each
// run of term bytes of the needle, bounded as RequiredTerms bounds them: a term equal to the run
// when bounded on both sides, starting with it when on its left only, ending with it when on its
// right only, containing it otherwise. The whole terms first and the longer first (the rarer, as a
// rule), at most kMaxPieces: each is required on its own. `needle` comes lower-cased unless `cs`.
// None for a negated match or a needle without term bytes.
constexpr size_t kMaxPieces = 4;
std::vector<TermTest> TermPieces(Match m, std::string_view needle, bool cs, bool negate) {
  std::vector<TermTest> out;
  if (negate) return out;
  struct Run {
    std::string_view text;
    Match kind;
  };
  std::vector<Run> runs;
  ForEachNeedleRun(m, needle, [&](std::string_view run, bool l, bool r) {
    runs.push_back({run, l && r ? Match::kHas : l ? Match::kHasPrefix : r ? Match::kHasSuffix : Match::kContains});
  });
  std::stable_sort(runs.begin(), runs.end(), [](const Run& x, const Run& y) {
    if ((x.kind == Match::kHas) != (y.kind == Match::kHas)) return x.kind == Match::kHas;
    return x.text.size() > y.text.size();
  });
  if (runs.size() > kMaxPieces) runs.resize(kMaxPieces);
  for (const Run& run : runs) {
    std::string n(run.text);
    Needle prepared = Prepare(n, cs);
    TermTest t;
    t.keep = [n, kind = run.kind, cs, i = prepared.i, j = prepared.j](std::string_view term) {
      return Matches(kind, term, Needle{n, cs, i, j});
    };
    // Searched in a text of terms each followed by a space (engine/term_index.h) with the
    // spaces where the piece's kind puts term ends: " n " for a whole term, " n" for a prefix,
    // "n " for a suffix (a short number, "10" of an address, occurs inside thousands of a
    // block's terms, each then tested, but is whole in one). A term's start is found one byte
    // after its space, and the text's first term (no space before it) where the text starts.
    const bool starts = run.kind == Match::kHas || run.kind == Match::kHasPrefix;
    const bool ends = run.kind == Match::kHas || run.kind == Match::kHasSuffix;
    std::string spaced = (starts ? " " : "") + n + (ends ? " " : "");
    Needle around = Prepare(spaced, cs);
    t.find = [n, spaced, cs, starts, i = around.i, j = around.j](std::string_view text, size_t from) -> size_t {
      if (!starts) return FindFrom(text, Needle{spaced, cs, i, j}, from);
      if (from == 0 && text.size() + 1 >= spaced.size()) {  // the first term, its space after it
        bool at = true;
        for (size_t k = 0; k + 1 < spaced.size() && at; ++k) at = (cs ? text[k] : LowerAscii(text[k])) == spaced[k + 1];
        if (at) return 0;
      }
      size_t p = FindFrom(text, Needle{spaced, cs, i, j}, from == 0 ? 0 : from - 1);
      return p == std::string_view::npos ? p : p + 1;
    };
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

void RegisterStringOps(Registry& r) {
  for (const MatchSpec& op : kMatchOps) AddMatch(r, op.name, op.m, op.cs, op.negate);
  r.Operator({"matches regex", 2, 2, Returns(Type::kBool), EvalMatchesRegex});
}

// Exposed for has_any/has_all in in_operators.cc.
bool HasTermForList(std::string_view hay, std::string_view lowered_needle) {
  return HasTerm(hay, Prepare(lowered_needle, false), true, true);
}

// What `has` with this needle requires of a value (RequiredTerms), and a search for the
// needle's occurrences (ValueTest::find), for has_all's and has_any's value tests.
std::vector<uint64_t> HasTermsForList(std::string_view lowered_needle) {
  return RequiredTerms(Match::kHas, lowered_needle, false);
}

// The term tests of `has` with this needle (TermPieces), for has_any's and has_all's.
std::vector<TermTest> HasPiecesForList(std::string_view lowered_needle) {
  return TermPieces(Match::kHas, lowered_needle, false, false);
}

std::function<size_t(std::string_view, size_t)> HasFinderForList(std::string lowered_needle) {
  Needle prepared = Prepare(lowered_needle, false);
  return [n = std::move(lowered_needle), i = prepared.i, j = prepared.j](std::string_view text, size_t from) {
    return FindFrom(text, Needle{n, false, i, j}, from);
  };
}

size_t FindText(std::string_view hay, std::string_view needle, size_t from) {
  if (from > hay.size()) return std::string_view::npos;
  if (needle.empty()) return from;
  const void* hit = memmem(hay.data() + from, hay.size() - from, needle.data(), needle.size());
  return hit == nullptr ? std::string_view::npos : static_cast<size_t>(static_cast<const char*>(hit) - hay.data());
}

size_t CountOverlapping(std::string_view hay, std::string_view needle) {
  if (needle.empty() || needle.size() > hay.size()) return 0;
  size_t n = 0;
  ForEachLinear(hay, needle, true, 0, [&n](size_t) { return ++n, false; });
  return n;
}

}  // namespace cmk::kql::fn

namespace cmk::kql {

ValueTest StringValueTest(std::string_view op, std::string_view needle) {
  auto finder = [](std::string n, bool cs) -> std::function<size_t(std::string_view, size_t)> {
    if (n.empty()) return {};
    fn::Needle prepared = fn::Prepare(n, cs);
    return [n = std::move(n), cs, i = prepared.i, j = prepared.j](std::string_view text, size_t from) {
      return fn::FindFrom(text, fn::Needle{n, cs, i, j}, from);
    };
  };
  if (op == "==" || op == "!=") {
    bool equal = op == "==";
    return {[value = std::string(needle), equal](std::string_view v) { return (v == value) == equal; },
            equal ? finder(std::string(needle), true) : nullptr, fn::RequiredTerms(fn::Match::kEquals, needle, !equal)};
  }
  if (op == "matches regex") {
    // As EvalMatchesRegex, which reports a pattern that does not compile (no test then). The
    // compiled pattern is shared by the threads that test values (RE2 matches concurrently).
    auto compiled = fn::CompileRegex("matches regex", needle);
    if (!compiled.ok()) return {};
    std::shared_ptr<const RE2> re = std::move(*compiled);
    std::string literal = fn::RequiredLiteral(*re);
    std::vector<uint64_t> terms = fn::RequiredTerms(fn::Match::kContains, literal, false);
    ValueTest out{[re](std::string_view v) { return RE2::PartialMatch(v, *re); }, finder(literal, false), std::move(terms)};
    // (The literal, lower-cased, is searched ignoring case: so are its terms.)
    std::vector<TermTest> pieces = fn::TermPieces(fn::Match::kContains, literal, false, false);
    if (!pieces.empty()) out.term_candidates.push_back(std::move(pieces));
    return out;
  }
  for (const fn::MatchSpec& spec : fn::kMatchOps) {
    if (spec.name != op) continue;
    // As EvalMatch: the needle lower-cased once when the match ignores case.
    std::string n(needle);
    if (!spec.cs) n = fn::LowerAsciiCopy(n);
    // (startswith: tested where each value starts, not searched: functions.h.)
    auto find = spec.negate || spec.m == fn::Match::kStarts ? nullptr : finder(n, spec.cs);
    std::vector<uint64_t> terms = fn::RequiredTerms(spec.m, n, spec.negate);
    fn::Needle prepared = fn::Prepare(n, spec.cs);
    const bool by_terms = !n.empty() &&
                          (spec.m == fn::Match::kContains || spec.m == fn::Match::kHas ||
                           spec.m == fn::Match::kHasPrefix || spec.m == fn::Match::kHasSuffix ||
                           spec.m == fn::Match::kStarts || spec.m == fn::Match::kEnds) &&
                          std::all_of(n.begin(), n.end(), IsTermByte);
    auto matches = [n, spec, i = prepared.i, j = prepared.j](std::string_view v) {
      return fn::Matches(spec.m, v, fn::Needle{n, spec.cs, i, j});
    };
    ValueTest out{[matches, negate = spec.negate](std::string_view v) { return matches(v) != negate; }, find,
                  std::move(terms)};
    if (by_terms) {
      out.by_terms = true;
      out.terms_negated = spec.negate;
      out.terms_first = spec.m == fn::Match::kStarts;
      out.terms_last = spec.m == fn::Match::kEnds;
      out.term_keep = matches;
      out.term_find = out.find ? out.find : finder(n, spec.cs);
    } else if (std::vector<TermTest> pieces = fn::TermPieces(spec.m, n, spec.cs, spec.negate); !pieces.empty()) {
      out.term_candidates.push_back(std::move(pieces));
    }
    return out;
  }
  return {};
}

}  // namespace cmk::kql
