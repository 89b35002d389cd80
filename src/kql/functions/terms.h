#pragma once
// Terms as has, has_cs and their kin match them (string_operators.cc): maximal runs of ASCII
// letters and digits, every other byte (UTF-8's included) separating them, compared without
// ASCII case. Extents keep a filter of each text block's terms (engine/term_filter.h) keyed by
// TermHash, and a scan skips the blocks that lack a term every kept value must hold
// (kql::ValueTest::terms).
#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace cmk::kql {

inline constexpr std::array<bool, 256> kTermByte = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<size_t>(c)] = t[static_cast<size_t>(c - 32)] = true;
  return t;
}();
inline bool IsTermByte(char c) { return kTermByte[static_cast<unsigned char>(c)]; }

namespace term_internal {

// 64x64 -> 128-bit multiply folded to 64 bits (the mixing step of wyhash and its kin).
inline uint64_t Mum(uint64_t a, uint64_t b) {
  unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
}

inline constexpr uint64_t kP0 = 0xa0761d6478bd642full, kP1 = 0xe7037ed1a0b428dbull, kP2 = 0x8ebc6af09c88c6e3ull;
// Setting bit 5 of every byte lower-cases letters and leaves digits as they are.
inline constexpr uint64_t kLower = 0x2020202020202020ull;

inline uint64_t Load64(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// A term of up to 16 bytes read as its words a and b.
inline uint64_t Short(uint64_t a, uint64_t b, size_t n) { return Mum(Mum(a ^ kP1, b ^ kP0 ^ n), kP2 ^ n); }

inline uint64_t Long(const char* p, size_t n) {  // n > 16
  uint64_t h = Mum(n ^ kP0, kP1);
  const char* last = p + n - 8;
  for (; p < last; p += 8) h = Mum(h ^ (Load64(p) | kLower), kP2);
  h = Mum(h ^ (Load64(last) | kLower), kP2);
  return Mum(h ^ kP0, kP1);
}

}  // namespace term_internal

// A 64-bit hash of `term` (letters and digits only) lower-cased: equal for terms equal without
// case. Stored in extents' term filters: never to change without a new filter kind. Terms are
// letters and digits only (IsTermByte), so setting bit 5 of each byte lower-cases it. Up to 16
// bytes (nearly every term), two 8-byte words: the first 8 bytes zero-padded, and the last 8
// when longer than 8 (overlapping the first), mixed with the length; longer terms word by word.
// A hash of our own (docs/FORMAT.md), little-endian machines (x86-64, arm64). Inline: a
// block's filter hashes each of its ~1.3M terms. Not libxxhash's XXH3: that needs the term
// lower-cased into a copy first, and the copy (a variable-length memcpy per term) made the
// filter builder twice as slow (22 against ~9 ms a 65,536-row block, docs/benchmarks.md).
inline uint64_t TermHash(std::string_view term) {
  using namespace term_internal;  // NOLINT(build/namespaces)
  const char* p = term.data();
  size_t n = term.size();
  if (n <= 16) {
    uint64_t a = 0, b = 0;
    size_t k = n < 8 ? n : 8;
    std::memcpy(&a, p, k);
    a |= kLower & (k == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * k)) - 1);
    if (n > 8) b = Load64(p + n - 8) | kLower;
    return Short(a, b, n);
  }
  return Long(p, n);
}

// The same hash of a term of `term.size()` > 0 bytes from which at least 8 bytes may be read
// (past its end, within the caller's buffer), without the branches and copies of the above.
inline uint64_t TermHashReadingOn(std::string_view term) {
  using namespace term_internal;  // NOLINT(build/namespaces)
  const char* p = term.data();
  size_t n = term.size();
  if (n > 16) return Long(p, n);
  size_t k = n < 8 ? n : 8;
  uint64_t mask = ~uint64_t{0} >> (64 - 8 * k);  // k >= 1
  uint64_t a = (Load64(p) | kLower) & mask;
  const char* q = n > 8 ? p + n - 8 : p;
  uint64_t b = (Load64(q) | kLower) & (n > 8 ? ~uint64_t{0} : 0);
  return Short(a, b, n);
}

// Calls f(term) for each term of `text`, in order.
template <class F>
void ForEachTerm(std::string_view text, F&& f) {
  const char* p = text.data();
  const char* end = p + text.size();
  while (p != end) {
    while (p != end && !IsTermByte(*p)) ++p;
    const char* b = p;
    while (p != end && IsTermByte(*p)) ++p;
    if (p != b) f(std::string_view(b, static_cast<size_t>(p - b)));
  }
}

}  // namespace cmk::kql
