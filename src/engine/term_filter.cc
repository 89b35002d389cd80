#include "engine/term_filter.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kql/functions/terms.h"

namespace cmk::engine {
namespace {

constexpr uint8_t kSplitBlock = 1;
constexpr size_t kHeader = 5;                   // kind, u32 block count
constexpr size_t kMaxHashes = size_t{1} << 22;  // 32 MiB of hashes while building
constexpr size_t kMaxBlocks = kMaxHashes * 10 / 256 + 1;  // ~5 MiB of filter at 10 bits a hash
constexpr size_t kKeptBuffer = size_t{1} << 20;            // hashes kept allocated between blocks (8 MB)
constexpr uint32_t kSalt[8] = {0x47b6137bu, 0x44974d91u, 0x8824ad5bu, 0xa2b7289du,
                               0x705495c7u, 0x2df1424bu, 0x9efc4947u, 0x5c6bfb31u};

uint32_t Word(const uint8_t* block, int k) {
  const uint8_t* p = block + 4 * k;
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// The block of hash h among `blocks`: its high 32 bits scaled to the count (no power of two needed).
size_t BlockOf(uint64_t h, size_t blocks) { return static_cast<size_t>(((h >> 32) * blocks) >> 32); }

void SetBit(uint8_t* block, int k, uint32_t bit) { block[4 * k + bit / 8] |= static_cast<uint8_t>(1u << (bit % 8)); }

}  // namespace

void TermFilterBuilder::Keep(size_t count) {
  // A direct-mapped memory of recent hashes drops most repeats (a block of log lines holds
  // "returned", "from", "ms" in every line): the filter is sized by what is kept. The value's
  // hashes were all written first (hashing term after term, no hash waits on another) and are
  // compacted here without a branch (one on "seen" was mispredicted about every other term).
  uint64_t* h = hashes_.data() + kept_;
  size_t kept = kept_;
  for (size_t i = 0; i < count; ++i) {
    uint64_t x = h[i];
    uint64_t& slot = recent_[x & (recent_.size() - 1)];
    size_t fresh = slot != x ? 1 : 0;
    slot = x;
    hashes_[kept] = x;
    kept += fresh;
  }
  kept_ = kept;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// Bit i of the result: byte i of p[0..32) is a term byte (a letter or digit, terms.h).
__attribute__((target("avx2"))) uint32_t TermBytes32(const char* p) {
  __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  // Letters: (x | 0x20) - 'a' below 26; digits: x - '0' below 10; as signed compares after
  // moving each range to start at -128.
  __m256i letter = _mm256_add_epi8(_mm256_or_si256(x, _mm256_set1_epi8(0x20)),
                                   _mm256_set1_epi8(static_cast<char>(-128 - 'a')));
  __m256i digit = _mm256_add_epi8(x, _mm256_set1_epi8(static_cast<char>(-128 - '0')));
  __m256i is = _mm256_or_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(-128 + 26), letter),
                               _mm256_cmpgt_epi8(_mm256_set1_epi8(-128 + 10), digit));
  return static_cast<uint32_t>(_mm256_movemask_epi8(is));
}

__attribute__((target("avx2"))) uint64_t TermBytes64(const char* p) {
  return uint64_t{TermBytes32(p)} | uint64_t{TermBytes32(p + 32)} << 32;
}

// The terms of `value` found 64 bytes at a time: a mask of its term bytes, from which the
// words of run starts and run ends are taken, their positions extracted bit by bit (a loop per
// set bit, without the branches of walking each run, which were mispredicted at every term).
__attribute__((target("avx2"))) size_t FindTermsAvx2(std::string_view value, size_t readable, uint64_t* out,
                                                    uint32_t* starts, uint32_t* ends) {
  const char* base = value.data();
  size_t n = value.size();
  size_t ns = 0, ne = 0;
  uint64_t carry = 0;  // the previous word's last byte is a term byte
  for (size_t at = 0; at < n; at += 64) {
    uint64_t m;
    if (readable - at >= 64) {  // the bytes past the value are read, and masked off below
      m = TermBytes64(base + at);
      if (n - at < 64) m &= ~uint64_t{0} >> (64 - (n - at));
    } else {
      char tail[64] = {};
      std::memcpy(tail, base + at, n - at);
      m = TermBytes64(tail) & (~uint64_t{0} >> (64 - (n - at)));
    }
    uint64_t before = m << 1 | carry;  // bit i: byte i - 1 is a term byte
    carry = m >> 63;
    for (uint64_t st = m & ~before; st != 0; st &= st - 1) starts[ns++] = static_cast<uint32_t>(at + __builtin_ctzll(st));
    for (uint64_t en = ~m & before; en != 0; en &= en - 1) ends[ne++] = static_cast<uint32_t>(at + __builtin_ctzll(en));
  }
  if (carry != 0) ends[ne++] = static_cast<uint32_t>(n);  // a term up to a 64-byte boundary at the end
  // 8 bytes from a term's start are readable (hashed without copies or branches on its
  // length) unless it starts within 8 bytes of the readable end.
  size_t i = 0;
  for (; i < ns && starts[i] + 8 <= readable; ++i) {
    out[i] = kql::TermHashReadingOn(std::string_view(base + starts[i], ends[i] - starts[i]));
  }
  for (; i < ns; ++i) out[i] = kql::TermHash(std::string_view(base + starts[i], ends[i] - starts[i]));
  return ns;
}
#endif

size_t FindTerms(std::string_view value, size_t readable, uint64_t* hashes, uint32_t* starts, uint32_t* ends) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool kAvx2 = __builtin_cpu_supports("avx2");
  if (kAvx2) return FindTermsAvx2(value, std::max(readable, value.size()), hashes, starts, ends);
#endif
  (void)readable;
  size_t count = 0;
  kql::ForEachTerm(value, [&](std::string_view term) {
    starts[count] = static_cast<uint32_t>(term.data() - value.data());
    ends[count] = static_cast<uint32_t>(starts[count] + term.size());
    hashes[count++] = kql::TermHash(term);
  });
  return count;
}

void TermFilterBuilder::Add(std::string_view value, size_t readable) {
  if (saturated_) return;
  // A value of n bytes holds at most (n + 1) / 2 terms.
  size_t most = value.size() / 2 + 1;
  if (hashes_.size() < kept_ + most) hashes_.resize(std::max(2 * hashes_.size(), kept_ + most));
  if (starts_.size() < most) {
    starts_.resize(most);
    ends_.resize(most);
  }
  Keep(FindTerms(value, readable, hashes_.data() + kept_, starts_.data(), ends_.data()));
  saturated_ = kept_ > kMaxHashes;
}

void TermFilterBuilder::Add(std::span<const BatchPiece> pieces) {
  for (const BatchPiece& p : pieces) {
    if (p.column == nullptr) continue;
    for (size_t r = p.begin; r < p.end; ++r) {
      if (p.column->IsNull(r)) continue;
      // Values lie end to end in the column's bytes: a value's terms are found reading on
      // into the next ones (masked off), not copying its last bytes apart.
      std::string_view v = p.column->Str(r);
      Add(v, static_cast<size_t>(p.column->bytes.data() + p.column->bytes.size() - v.data()));
    }
  }
}

bool TermFilterBuilder::Finish(std::vector<uint8_t>& out) {
  if (saturated_) {
    Reset();
    return false;
  }
  // 10 bits a kept hash: ~1.2% false positives when every hash is distinct. Repeats the
  // recent-hash memory missed are kept too (a block of log lines keeps ~1.6 hashes a distinct
  // term), so a distinct term of such a block gets ~16 bits: ~0.2%.
  // Not deduplicated first: setting a hash's bits again changes nothing.
  size_t blocks = std::clamp<size_t>((kept_ * 10 + 255) / 256, 1, kMaxBlocks);
  size_t at = out.size();
  out.push_back(kSplitBlock);
  for (int k = 0; k < 4; ++k) out.push_back(static_cast<uint8_t>(blocks >> (8 * k)));
  out.resize(at + kHeader + 32 * blocks, 0);
  uint8_t* base = out.data() + at + kHeader;
  for (size_t i = 0; i < kept_; ++i) {
    uint64_t h = hashes_[i];
    uint8_t* block = base + 32 * BlockOf(h, blocks);
    for (int k = 0; k < 8; ++k) SetBit(block, k, (static_cast<uint32_t>(h) * kSalt[k]) >> 27);
  }
  Reset();
  return true;
}

void TermFilterBuilder::Reset() {
  kept_ = 0;
  saturated_ = false;
  // The hashes of the block's terms are its plaintext's trace: not kept past it. A buffer grown
  // past kKeptBuffer by an unusual block (long lines of ids: up to 4M hashes, 32 MB) is given
  // back rather than kept in the flush scratch for good.
  std::fill(hashes_.begin(), hashes_.end(), 0);
  if (hashes_.size() > kKeptBuffer) std::vector<uint64_t>().swap(hashes_);
  ForgetRecent();
}

void TermFilterBuilder::ForgetRecent() {
  // Slot i starts at ~i, which no hash that maps to slot i (low bits i) can equal.
  for (size_t i = 0; i < recent_.size(); ++i) recent_[i] = ~uint64_t{i};
}

Result<bool> TermFilterMayHold(std::span<const uint8_t> filter, std::span<const uint64_t> hashes) {
  if (filter.size() < kHeader || filter[0] != kSplitBlock) return DataLoss("corrupt term filter");
  size_t blocks = Word(filter.data() + 1, 0);
  if (blocks == 0 || blocks > kMaxBlocks || filter.size() != kHeader + 32 * blocks) {
    return DataLoss("corrupt term filter");
  }
  const uint8_t* base = filter.data() + kHeader;
  for (uint64_t h : hashes) {
    const uint8_t* block = base + 32 * BlockOf(h, blocks);
    for (int k = 0; k < 8; ++k) {
      if ((Word(block, k) >> ((static_cast<uint32_t>(h) * kSalt[k]) >> 27) & 1) == 0) return false;
    }
  }
  return true;
}

}  // namespace cmk::engine
