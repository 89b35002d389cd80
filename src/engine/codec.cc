#include "engine/codec.h"

#include <boost/unordered/unordered_flat_map.hpp>
#include <lz4.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string_view>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace cmk::engine {
namespace {

enum Encoding : uint8_t { kIntsDelta = 1, kIntsPlain = 2, kReals = 3, kStrings = 4, kDict = 5, kStringsMarked = 6 };

// A plain string block of more rows than this marks where every kMarkEvery-th value starts
// (kStringsMarked), so that a reader of a few rows starts its walk over the values' lengths at
// most this many values before each: with a frame of LZ4 pieces (CompressPiecesAppend) only the
// pieces around them are decompressed (FrameRanges). 4 bytes a mark: 0.02% of a block of
// 140-byte messages.
constexpr uint64_t kMarkEvery = 128;

// The frame byte of LZ4 in independent pieces (CompressPiecesAppend), beside Codec's.
constexpr uint8_t kLz4PiecesFrame = 3;
// Pieces of fewer bytes are refused (a corrupt frame could otherwise declare billions of them).
constexpr uint64_t kMinPieceBytes = 64;

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

Status CorruptBlock(const char* what) { return DataLoss(std::string("corrupt column block: ") + what); }

// Room for `extra` more bytes, growing geometrically (columns are appended to one buffer).
void Grow(std::vector<uint8_t>& out, size_t extra) {
  if (out.size() + extra > out.capacity()) out.reserve(std::max(out.size() + extra, 2 * out.capacity()));
}

// Rows of the pieces in order: fn(column or nullptr for a null, row).
template <typename Piece, typename Fn>
void ForEachRow(std::span<const Piece> pieces, Fn&& fn) {
  for (const Piece& p : pieces) {
    for (size_t r = p.begin; r < p.end; ++r) fn(p.column, r);
  }
}

// Values of a piece's column (kql::Column or BatchColumn; nullptr: the column's null value).
template <typename Col>
int64_t IntAt(const Col* c, size_t r) {
  return c ? c->Int(r) : 0;
}
template <typename Col>
double RealAt(const Col* c, size_t r) {
  return c ? c->Real(r) : 0.0;
}
template <typename Col>
std::string_view StrAt(kql::Type type, const Col* c, size_t r) {
  if (c) return c->Str(r);
  return type == kql::Type::kDynamic ? std::string_view("null") : std::string_view();
}

// Writes `v` as a varint at `p` (room checked by the caller); returns the end.
uint8_t* WriteVarint(uint8_t* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
}

// `n` more bytes at the end of `out`, to be written through the returned pointer (the encoders
// size their output first, then write it without per-byte capacity checks).
uint8_t* Extend(std::vector<uint8_t>& out, size_t n) {
  Grow(out, n);
  size_t at = out.size();
  out.resize(at + n);
  return out.data() + at;
}

// The encoders append a block's body to `out` and return its encoding.
template <typename Piece>
uint8_t EncodeInts(std::span<const Piece> pieces, size_t rows, std::vector<uint8_t>& out) {
  size_t delta_size = 0;
  int64_t prev = 0;
  ForEachRow(pieces, [&](const auto* c, size_t r) {
    int64_t v = IntAt(c, r);
    delta_size += VarintSize(ZigZag(static_cast<int64_t>(static_cast<uint64_t>(v) - static_cast<uint64_t>(prev))));
    prev = v;
  });
  if (delta_size <= rows * 8) {
    uint8_t* p = Extend(out, delta_size);
    prev = 0;
    ForEachRow(pieces, [&](const auto* c, size_t r) {
      int64_t v = IntAt(c, r);
      p = WriteVarint(p, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(v) - static_cast<uint64_t>(prev))));
      prev = v;
    });
    return kIntsDelta;
  }
  uint8_t* p = Extend(out, rows * 8);
  ForEachRow(pieces, [&](const auto* c, size_t r) {
    uint64_t v = static_cast<uint64_t>(IntAt(c, r));
    for (int i = 0; i < 8; ++i) *p++ = static_cast<uint8_t>(v >> (8 * i));
  });
  return kIntsPlain;
}

template <typename Piece>
uint8_t EncodeReals(std::span<const Piece> pieces, size_t rows, std::vector<uint8_t>& out) {
  size_t at = out.size();
  out.resize(at + rows * 8);
  uint8_t* p = out.data() + at;
  ForEachRow(pieces, [&](const auto* c, size_t r) {
    double d = RealAt(c, r);
    std::memcpy(p, &d, 8);
    p += 8;
  });
  return kReals;
}

// Plain strings (kStrings), and past kMarkEvery rows with their marks first (kStringsMarked):
// varint kMarkEvery, varint count, count x u32 LE offset of value k * kMarkEvery's length from
// the first value's.
template <typename Piece>
uint8_t PutStrings(kql::Type type, std::span<const Piece> pieces, size_t rows, std::vector<uint8_t>& out) {
  size_t bytes = 0;
  ForEachRow(pieces, [&](const auto* c, size_t r) {
    size_t n = StrAt(type, c, r).size();
    bytes += VarintSize(n) + n;
  });
  const bool marked = rows > kMarkEvery && bytes <= UINT32_MAX;
  const size_t marks = marked ? (rows + kMarkEvery - 1) / kMarkEvery : 0;
  const size_t head = marked ? VarintSize(kMarkEvery) + VarintSize(marks) + 4 * marks : 0;
  uint8_t* p = Extend(out, head + bytes);
  uint8_t* mark = nullptr;
  if (marked) {
    p = WriteVarint(p, kMarkEvery);
    p = WriteVarint(p, marks);
    mark = p;
    p += 4 * marks;
  }
  const uint8_t* const values = p;
  size_t i = 0;
  ForEachRow(pieces, [&](const auto* c, size_t r) {
    if (marked && i++ % kMarkEvery == 0) {
      uint32_t at = static_cast<uint32_t>(p - values);
      std::memcpy(mark, &at, 4);  // little-endian hosts only (checked in codec_test)
      mark += 4;
    }
    std::string_view v = StrAt(type, c, r);
    p = WriteVarint(p, v.size());
    if (!v.empty()) std::memcpy(p, v.data(), v.size());
    p += v.size();
  });
  return marked ? kStringsMarked : kStrings;
}

// A dictionary when at most half the values are distinct. Mostly-distinct columns (messages)
// are recognised on a prefix: past kDictProbe rows with more than half of them distinct, the
// dictionary is abandoned instead of hashing half the block first.
constexpr size_t kDictProbe = 1024;

template <typename Piece>
uint8_t EncodeStrings(kql::Type type, std::span<const Piece> pieces, size_t rows, std::vector<uint8_t>& out,
                      bool dictionaries) {
  // Open addressing (Boost's flat map): the node-based std::unordered_map spent more time
  // chasing its nodes than hashing.
  boost::unordered_flat_map<std::string_view, uint32_t> dict;
  std::vector<std::string_view> order;
  std::vector<uint32_t> codes;
  bool use_dict = dictionaries && rows >= 16;
  if (use_dict) codes.reserve(rows);
  size_t seen = 0;
  for (const Piece& p : pieces) {
    for (size_t r = p.begin; r < p.end && use_dict; ++r) {
      auto [it, fresh] = dict.emplace(StrAt(type, p.column, r), static_cast<uint32_t>(order.size()));
      if (fresh) order.push_back(it->first);
      codes.push_back(it->second);
      ++seen;
      if (order.size() > rows / 2 || (seen == kDictProbe && order.size() > kDictProbe / 2)) use_dict = false;
    }
  }
  if (!use_dict) return PutStrings(type, pieces, rows, out);
  PutVarint(out, order.size());
  for (std::string_view s : order) PutString(out, s);
  uint8_t width = order.size() <= 0x100 ? 1 : order.size() <= 0x10000 ? 2 : 4;
  out.push_back(width);
  size_t at = out.size();
  out.resize(at + codes.size() * width);
  uint8_t* p = out.data() + at;
  for (uint32_t code : codes) {
    std::memcpy(p, &code, width);  // little-endian hosts only (checked in codec_test)
    p += width;
  }
  return kDict;
}

}  // namespace

void PutVarint(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

bool GetVarint(std::span<const uint8_t>& in, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    uint8_t b = in[0];
    in = in.subspan(1);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

void PutString(std::vector<uint8_t>& out, std::string_view s) {
  PutVarint(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

bool GetString(std::span<const uint8_t>& in, std::string& s) {
  uint64_t n = 0;
  if (!GetVarint(in, n) || n > in.size()) return false;
  s.assign(reinterpret_cast<const char*>(in.data()), n);
  in = in.subspan(n);
  return true;
}

void PutU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t LoadU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t LoadU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Hand-written: none of our libraries exports CRC-32C (zlib's crc32 is a different polynomial
// and not among our dependencies). x86-64 CPUs with SSE4.2 compute it in hardware, 8 bytes an
// instruction (the WAL checksums every record: the byte table cost 3% of ingestion); the
// 256-entry table is the portable fallback.
namespace {

uint32_t Crc32cTable(const uint8_t* p, size_t n, uint32_t c) {
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t v = i;
      for (int k = 0; k < 8; ++k) v = (v & 1) ? 0x82F63B78u ^ (v >> 1) : v >> 1;
      t[i] = v;
    }
    return t;
  }();
  for (size_t i = 0; i < n; ++i) c = kTable[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t Crc32cSse42(const uint8_t* p, size_t n, uint32_t c) {
  uint64_t c64 = c;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = _mm_crc32_u64(c64, v);
  }
  c = static_cast<uint32_t>(c64);
  for (; n > 0; ++p, --n) c = _mm_crc32_u8(c, *p);
  return c;
}
#endif

}  // namespace

uint32_t Crc32c(std::span<const uint8_t> data) {
#if defined(__x86_64__)
  static const bool kHardware = __builtin_cpu_supports("sse4.2");
  if (kHardware) return Crc32cSse42(data.data(), data.size(), 0xFFFFFFFFu) ^ 0xFFFFFFFFu;
#endif
  return Crc32cTable(data.data(), data.size(), 0xFFFFFFFFu) ^ 0xFFFFFFFFu;
}

namespace {

template <typename Piece>
void EncodePieces(kql::Type type, std::span<const Piece> pieces, std::vector<uint8_t>& out, bool dictionaries) {
  size_t rows = 0;
  bool has_nulls = false;
  for (const Piece& p : pieces) {
    rows += p.end - p.begin;
    if (p.column == nullptr) has_nulls = has_nulls || p.end > p.begin;
    else if (p.column->HasNulls()) {
      for (size_t r = p.begin; r < p.end && !has_nulls; ++r) has_nulls = p.column->IsNull(r);
    }
  }
  size_t header = out.size();
  out.push_back(0);  // encoding, patched below
  out.push_back(has_nulls ? 1 : 0);
  if (has_nulls) {
    size_t at = out.size();
    out.resize(at + (rows + 7) / 8, 0);
    size_t i = 0;
    ForEachRow(pieces, [&](const auto* c, size_t r) {
      if (c == nullptr || c->IsNull(r)) out[at + i / 8] |= static_cast<uint8_t>(1u << (i % 8));
      ++i;
    });
  }
  out[header] = kql::UsesInts(type)    ? EncodeInts(pieces, rows, out)
                : kql::UsesReals(type) ? EncodeReals(pieces, rows, out)
                                       : EncodeStrings(type, pieces, rows, out, dictionaries);
}

}  // namespace

void EncodeColumn(kql::Type type, std::span<const ColumnPiece> pieces, std::vector<uint8_t>& out, bool dictionaries) {
  EncodePieces(type, pieces, out, dictionaries);
}

void EncodeColumn(kql::Type type, std::span<const BatchPiece> pieces, std::vector<uint8_t>& out, bool dictionaries) {
  EncodePieces(type, pieces, out, dictionaries);
}

void EncodeColumn(const kql::Column& c, size_t begin, size_t end, std::vector<uint8_t>& out) {
  ColumnPiece piece{&c, begin, end};
  EncodeColumn(c.type, std::span<const ColumnPiece>(&piece, 1), out);
}

namespace {

// A kStringsMarked block's marks (PutStrings), none for kStrings.
struct Marks {
  uint64_t every = 0;  // 0: no marks
  std::span<const uint8_t> at;
  uint32_t operator[](size_t k) const { return LoadU32(at.data() + 4 * k); }
  // Whether value `row` of a walk, `offset` bytes after the first value, is where its mark says
  // (true for a row without a mark).
  bool Agree(size_t row, uint64_t offset) const { return every == 0 || row % every != 0 || (*this)[row / every] == offset; }
};

// The marks of a plain block of encoding `enc` starting `in` (after the null bitmap), `in`
// advanced past them to the first value.
Result<Marks> ReadMarks(uint8_t enc, size_t rows, std::span<const uint8_t>& in) {
  Marks m;
  if (enc != kStringsMarked) return m;
  uint64_t every = 0, count = 0;
  if (!GetVarint(in, every) || every == 0 || !GetVarint(in, count) ||
      count != rows / every + (rows % every != 0 ? 1 : 0) || count > in.size() / 4) {
    return CorruptBlock("string marks");
  }
  m.every = every;
  m.at = in.first(count * 4);
  in = in.subspan(count * 4);
  return m;
}

}  // namespace

Result<kql::Column> DecodeColumn(kql::Type type, size_t rows, std::span<const uint8_t>& in) {
  if (in.size() < 2) return CorruptBlock("short header");
  uint8_t enc = in[0];
  bool has_nulls = in[1] != 0;
  in = in.subspan(2);
  // Every encoding stores at least a byte per row (a null row too), so a row count past the
  // block's size is corrupt: refused before anything is sized by it (a count near 2^64 would
  // wrap the sizes computed from it below).
  if (rows > in.size()) return CorruptBlock("fewer bytes than rows");
  kql::Column c(type);
  if (has_nulls) {
    size_t n = (rows + 7) / 8;
    if (in.size() < n) return CorruptBlock("short null bitmap");
    c.nulls.resize(rows);
    for (size_t i = 0; i < rows; ++i) c.nulls[i] = (in[i / 8] >> (i % 8)) & 1;
    in = in.subspan(n);
  }
  switch (enc) {
    case kIntsDelta: {
      c.ints.resize(rows);
      // Varints read through a pointer (a span's subspan per byte costs twice as much); the
      // common one-byte delta takes the first branch.
      const uint8_t* p = in.data();
      const uint8_t* const end = p + in.size();
      uint64_t prev = 0;
      for (size_t i = 0; i < rows; ++i) {
        uint64_t z = 0;
        if (p != end && *p < 0x80) {
          z = *p++;
        } else {
          int shift = 0;
          for (;; shift += 7) {
            if (p == end || shift >= 64) return CorruptBlock("varint");
            uint8_t b = *p++;
            z |= static_cast<uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) break;
          }
        }
        prev += static_cast<uint64_t>(UnZigZag(z));
        c.ints[i] = static_cast<int64_t>(prev);
      }
      in = in.subspan(static_cast<size_t>(p - in.data()));
      break;
    }
    case kIntsPlain:
      if (in.size() < rows * 8) return CorruptBlock("short ints");
      c.ints.resize(rows);
      for (size_t i = 0; i < rows; ++i) c.ints[i] = static_cast<int64_t>(LoadU64(in.data() + i * 8));
      in = in.subspan(rows * 8);
      break;
    case kReals:
      if (in.size() < rows * 8) return CorruptBlock("short reals");
      c.reals.resize(rows);
      if (rows > 0) std::memcpy(c.reals.data(), in.data(), rows * 8);  // an empty vector's data() may be null
      in = in.subspan(rows * 8);
      break;
    case kStrings:
    case kStringsMarked: {
      // Packed (kql::Column's one buffer + offsets): the lengths walked once to size the buffer
      // and check the block (and its marks), then the values copied end to end.
      ASSIGN_OR_RETURN(Marks marks, ReadMarks(enc, rows, in));
      std::span<const uint8_t> walk = in;
      uint64_t total = 0;
      for (size_t i = 0; i < rows; ++i) {
        uint64_t n = 0;
        if (!marks.Agree(i, static_cast<uint64_t>(walk.data() - in.data()))) return CorruptBlock("string marks");
        if (!GetVarint(walk, n) || n > walk.size()) return CorruptBlock("string");
        walk = walk.subspan(n);
        total += n;
      }
      if (total > kql::kMaxPackedChars) return CorruptBlock("string block too large");
      c.StartPacked(rows, total);
      for (size_t i = 0; i < rows; ++i) {
        uint64_t n = 0;
        GetVarint(in, n);
        c.chars.append(reinterpret_cast<const char*>(in.data()), n);
        c.offsets.push_back(static_cast<uint32_t>(c.chars.size()));
        in = in.subspan(n);
      }
      break;
    }
    case kDict: {
      uint64_t n = 0;
      if (!GetVarint(in, n) || n > in.size()) return CorruptBlock("dictionary size");
      auto dict = std::make_shared<std::vector<std::string>>(n);
      for (auto& s : *dict) {
        if (!GetString(in, s)) return CorruptBlock("dictionary entry");
      }
      if (in.empty()) return CorruptBlock("code width");
      uint8_t width = in[0];
      in = in.subspan(1);
      if ((width != 1 && width != 2 && width != 4) || in.size() < rows * width) return CorruptBlock("codes");
      // Kept coded (kql::Column's dictionary form): queries filter and group by code. One loop
      // per width (a copy of `width` bytes into a word stalled on every row) and one range check
      // of the largest code.
      uint32_t largest = 0;
      auto each = [&]<typename T>(T, auto&& use) {
        const uint8_t* p = in.data();
        for (size_t i = 0; i < rows; ++i) {
          T code;
          std::memcpy(&code, p + i * sizeof(T), sizeof(T));
          use(i, code);
          largest = std::max<uint32_t>(largest, code);
        }
      };
      auto read = [&](auto&& use) {
        if (width == 1) each(uint8_t{}, use);
        else if (width == 2) each(uint16_t{}, use);
        else each(uint32_t{}, use);
      };
      if (n > kql::kMaxDictEntries) {
        // Codes wider than a Column's: read as plain strings (checked before any is looked up).
        read([](size_t, uint32_t) {});
        if (rows > 0 && largest >= n) return CorruptBlock("code out of range");
        size_t total = 0;
        read([&](size_t, uint32_t code) { total += (*dict)[code].size(); });
        if (total > kql::kMaxPackedChars) return CorruptBlock("string block too large");
        c.StartPacked(rows, total);
        read([&](size_t, uint32_t code) { c.AppendPacked((*dict)[code]); });
        in = in.subspan(rows * width);
        break;
      }
      c.codes.resize(rows);
      read([&](size_t i, uint32_t code) { c.codes[i] = static_cast<kql::Code>(code); });
      if (rows > 0 && largest >= n) return CorruptBlock("code out of range");
      c.dict = std::move(dict);
      in = in.subspan(rows * width);
      break;
    }
    default:
      return CorruptBlock("unknown encoding");
  }
  if ((enc == kIntsDelta || enc == kIntsPlain) != kql::UsesInts(type) || (enc == kReals) != kql::UsesReals(type)) {
    return CorruptBlock("encoding does not match the column type");
  }
  if (!has_nulls) c.nulls.clear();
  return c;
}

bool IsPlainStringBlock(std::span<const uint8_t> block) {
  return block.size() >= 2 && (block[0] == kStrings || block[0] == kStringsMarked);
}

bool ForEachDictEntry(std::span<const uint8_t> block, size_t rows,
                      const std::function<void(std::string_view entry, size_t readable)>& each) {
  if (block.size() < 2 || block[0] != kDict) return false;
  std::span<const uint8_t> in = block.subspan(2);
  if (block[1] != 0) {  // the null bitmap
    size_t n = (rows + 7) / 8;
    if (in.size() < n) return false;
    in = in.subspan(n);
  }
  // Checked whole first: `each` sees entries of a well-formed block only.
  std::span<const uint8_t> entries = in;
  uint64_t n = 0;
  if (!GetVarint(in, n) || n > in.size()) return false;
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t len = 0;
    if (!GetVarint(in, len) || len > in.size()) return false;
    in = in.subspan(len);
  }
  in = entries;
  GetVarint(in, n);
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t len = 0;
    GetVarint(in, len);
    each(std::string_view(reinterpret_cast<const char*>(in.data()), len), in.size());
    in = in.subspan(len);
  }
  return true;
}

namespace {

// A plain string block's header (its kind byte, the null flag, the null bitmap when the flag
// is set): the bitmap (empty without nulls), `in` left at the first value's length.
// A plain block's null bitmap (empty without nulls), `in` advanced past it and past the marks
// (into `marks`, when asked) to the first value.
Result<std::span<const uint8_t>> PlainStringsBitmap(std::span<const uint8_t>& in, size_t rows, Marks* marks = nullptr) {
  uint8_t enc = in[0];
  bool has_nulls = in[1] != 0;
  in = in.subspan(2);
  if (rows > in.size()) return CorruptBlock("fewer bytes than rows");  // as DecodeColumn
  std::span<const uint8_t> bitmap;
  if (has_nulls) {
    size_t n = (rows + 7) / 8;
    if (in.size() < n) return CorruptBlock("short null bitmap");
    bitmap = in.first(n);
    in = in.subspan(n);
  }
  ASSIGN_OR_RETURN(Marks m, ReadMarks(enc, rows, in));
  if (marks != nullptr) *marks = m;
  return bitmap;
}

}  // namespace

Result<kql::Column> DecodeStringRows(kql::Type type, size_t rows, std::span<const uint8_t>& in,
                                     std::span<const uint32_t> wanted) {
  for (size_t k = 0; k < wanted.size(); ++k) {
    if (wanted[k] >= rows || (k > 0 && wanted[k] <= wanted[k - 1])) return InvalidArgument("string rows: not ascending rows of the block");
  }
  kql::Column out(type);
  if (!kql::UsesStrings(type)) return InvalidArgument("string rows: not a string column");
  if (!IsPlainStringBlock(in)) {
    ASSIGN_OR_RETURN(kql::Column c, DecodeColumn(type, rows, in));
    if (c.coded()) {
      out.dict = c.dict;
      for (uint32_t r : wanted) out.codes.push_back(c.codes[c.Index(r)]);
    } else {
      out.StartPacked(wanted.size(), 0);
      for (uint32_t r : wanted) out.AppendPacked(c.Str(r));
    }
    if (c.HasNulls()) {
      for (uint32_t r : wanted) out.nulls.push_back(c.nulls[c.Index(r)]);
    }
    return out;
  }
  bool has_nulls = in[1] != 0;
  Marks marks;
  ASSIGN_OR_RETURN(std::span<const uint8_t> bitmap, PlainStringsBitmap(in, rows, &marks));
  out.StartPacked(wanted.size(), 0);
  size_t k = 0;
  const uint8_t* const values = in.data();
  for (size_t r = 0; r < rows && k < wanted.size(); ++r) {
    uint64_t n = 0;
    if (!marks.Agree(r, static_cast<uint64_t>(in.data() - values))) return CorruptBlock("string marks");
    if (!GetVarint(in, n) || n > in.size()) return CorruptBlock("string");
    if (wanted[k] == r) {
      out.AppendPacked(std::string_view(reinterpret_cast<const char*>(in.data()), n));
      if (has_nulls) out.nulls.push_back(((bitmap[r / 8] >> (r % 8)) & 1) != 0 ? 1 : 0);
      ++k;
    }
    in = in.subspan(n);
  }
  return out;
}

Result<kql::Column> DecodeSelectedStrings(kql::Type type, size_t rows, std::span<const uint8_t>& in,
                                          const std::function<bool(std::string_view)>& keep,
                                          const std::function<size_t(std::string_view, size_t)>& find,
                                          std::vector<uint32_t>& selected, bool any_kept_value) {
  selected.clear();
  if (type != kql::Type::kString) return InvalidArgument("selected strings: not a string column");
  kql::Column out(type);
  if (!IsPlainStringBlock(in)) {
    // Dictionary blocks decode without a string per row: decided per entry once decoded.
    ASSIGN_OR_RETURN(kql::Column c, DecodeColumn(type, rows, in));
    if (c.coded()) {
      std::vector<uint8_t> holds(c.dict->size());
      for (size_t k = 0; k < holds.size(); ++k) holds[k] = keep((*c.dict)[k]) ? 1 : 0;
      for (size_t r = 0; r < rows; ++r) {
        if (holds[c.codes[r]] != 0 || c.IsNull(r)) selected.push_back(static_cast<uint32_t>(r));
      }
      out.dict = c.dict;
      for (uint32_t r : selected) out.codes.push_back(c.codes[r]);
    } else {
      for (size_t r = 0; r < rows; ++r) {
        if (c.IsNull(r) || keep(c.Str(r))) selected.push_back(static_cast<uint32_t>(r));
      }
      out.StartPacked(selected.size(), 0);
      for (uint32_t r : selected) out.AppendPacked(c.Str(r));
    }
    if (c.HasNulls()) {
      for (uint32_t r : selected) out.nulls.push_back(c.nulls[r]);
    }
    return out;
  }
  // Plain strings: each value tested where it lies in the block; only the kept ones are built.
  bool has_nulls = in[1] != 0;
  ASSIGN_OR_RETURN(std::span<const uint8_t> bitmap, PlainStringsBitmap(in, rows));
  auto is_null = [&](size_t r) { return has_nulls && ((bitmap[r / 8] >> (r % 8)) & 1) != 0; };
  bool build = !any_kept_value || has_nulls;
  std::string first;  // without `build`: the first kept value
  out.StartPacked(0, 0);
  auto select = [&](size_t r, std::string_view v) {
    selected.push_back(static_cast<uint32_t>(r));
    if (!build) {
      if (selected.size() == 1) first = v;
      return;
    }
    out.AppendPacked(v);
    if (has_nulls) out.nulls.push_back(is_null(r) ? 1 : 0);
  };
  if (!find || rows == 0) {
    for (size_t r = 0; r < rows; ++r) {
      uint64_t n = 0;
      if (!GetVarint(in, n) || n > in.size()) return CorruptBlock("string");
      std::string_view v(reinterpret_cast<const char*>(in.data()), n);
      if (is_null(r) || keep(v)) select(r, v);
      in = in.subspan(n);
    }
  } else {
    // The values lie end to end, each after its length: one search of the whole run for the
    // needle (no per-value setup), and a walk over the lengths that trails it to the value an
    // occurrence starts in, which alone is tested (one straddling into the next length or value
    // fails the test). The walk reads lengths the search has just brought into the cache: a walk
    // ahead of the search waited on memory at every length (13% of the CPU of a contains over
    // 10M rows of frames, more than the search). Null values are kept as they come.
    if (rows > in.size()) return CorruptBlock("string");  // each value takes a length byte at least
    const char* base = reinterpret_cast<const char*>(in.data());
    const std::string_view text(base, in.size());
    std::string_view v;  // value r; `in` starts after it
    auto next = [&] {
      uint64_t n = 0;
      if (!GetVarint(in, n) || n > in.size()) return false;
      v = std::string_view(reinterpret_cast<const char*>(in.data()), n);
      in = in.subspan(n);
      return true;
    };
    if (!next()) return CorruptBlock("string");
    size_t r = 0, from = 0;
    while (r < rows) {
      size_t q = from < text.size() ? find(text, from) : std::string_view::npos;
      size_t begin = static_cast<size_t>(v.data() - base);
      // Values ending at or before the occurrence hold none.
      while (q == std::string_view::npos || begin + v.size() <= q) {
        if (is_null(r)) select(r, v);
        if (++r == rows) break;
        // Past the last occurrence the walk runs alone, over lines the search read long ago:
        // fetch ahead of it (no occurrence in 1M 264-byte lines: 55 -> 45 ms, search_bench).
        __builtin_prefetch(in.data() + 512);
        if (!next()) return CorruptBlock("string");
        begin = static_cast<size_t>(v.data() - base);
      }
      if (r == rows) break;
      if (q < begin) {  // in the length before value r: search again from its first byte
        from = begin;
        continue;
      }
      if (is_null(r) || keep(v)) select(r, v);
      from = begin + v.size();
      if (++r < rows && !next()) return CorruptBlock("string");
    }
  }
  if (!build && !selected.empty()) {  // the first kept value for every kept row
    out.chars.clear();
    out.offsets.clear();
    out.dict = std::make_shared<const std::vector<std::string>>(1, std::move(first));
    out.codes.assign(selected.size(), 0);
  }
  if (std::find(out.nulls.begin(), out.nulls.end(), uint8_t{1}) == out.nulls.end()) out.nulls.clear();
  return out;
}

void CompressAppend(Codec codec, std::span<const uint8_t> raw, int level, std::vector<uint8_t>& out) {
  size_t start = out.size();
  out.push_back(static_cast<uint8_t>(codec));
  PutVarint(out, raw.size());
  size_t at = out.size();
  // The codecs write straight into `out`, grown to the bound (callers reuse its capacity,
  // so no fresh pages per block), then cut to what they wrote.
  size_t n = 0;
  bool ok = false;
  if (codec == Codec::kLz4) {
    int bound = LZ4_compressBound(static_cast<int>(raw.size()));
    out.resize(at + static_cast<size_t>(bound));
    int r = LZ4_compress_default(reinterpret_cast<const char*>(raw.data()), reinterpret_cast<char*>(out.data() + at),
                                 static_cast<int>(raw.size()), bound);
    ok = r > 0;
    n = ok ? static_cast<size_t>(r) : 0;
  } else if (codec == Codec::kZstd) {
    size_t bound = ZSTD_compressBound(raw.size());
    out.resize(at + bound);
    // A context per thread, reused: ZSTD_compress would allocate and clear its tables per block.
    thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
    n = ZSTD_compressCCtx(cctx.get(), out.data() + at, bound, raw.data(), raw.size(), level);
    ok = !ZSTD_isError(n);
  }
  if (ok) {
    out.resize(at + n);
    return;
  }
  out.resize(at);
  out[start] = static_cast<uint8_t>(Codec::kNone);
  out.insert(out.end(), raw.begin(), raw.end());
}

void CompressPiecesAppend(std::span<const uint8_t> raw, std::vector<uint8_t>& out, size_t piece_bytes) {
  piece_bytes = std::max<size_t>(piece_bytes, kMinPieceBytes);
  if (raw.size() <= piece_bytes || raw.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) {
    CompressAppend(Codec::kLz4, raw, 1, out);
    return;
  }
  const size_t start = out.size();
  const size_t count = (raw.size() + piece_bytes - 1) / piece_bytes;
  out.push_back(kLz4PiecesFrame);
  PutVarint(out, raw.size());
  PutVarint(out, piece_bytes);
  PutVarint(out, count);
  const size_t sizes = out.size();
  out.resize(sizes + 4 * count);
  for (size_t k = 0; k < count; ++k) {
    std::span<const uint8_t> piece = raw.subspan(k * piece_bytes, std::min(piece_bytes, raw.size() - k * piece_bytes));
    int bound = LZ4_compressBound(static_cast<int>(piece.size()));
    size_t at = out.size();
    out.resize(at + static_cast<size_t>(bound));
    int n = LZ4_compress_default(reinterpret_cast<const char*>(piece.data()), reinterpret_cast<char*>(out.data() + at),
                                 static_cast<int>(piece.size()), bound);
    if (n <= 0) {  // (not with a bound's room) stored whole instead
      out.resize(start);
      CompressAppend(Codec::kNone, raw, 0, out);
      return;
    }
    out.resize(at + static_cast<size_t>(n));
    uint32_t size = static_cast<uint32_t>(n);
    std::memcpy(out.data() + sizes + 4 * k, &size, 4);  // little-endian hosts only (checked in codec_test)
  }
}

size_t CompressBound(Codec codec, size_t raw_size) {
  size_t body = raw_size;  // a stored frame, also the fallback of the codecs
  if (codec == Codec::kLz4 && raw_size <= static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) {
    body = std::max(body, static_cast<size_t>(LZ4_compressBound(static_cast<int>(raw_size))));
    // In pieces: each piece's bound and size, the piece size and count.
    size_t count = (raw_size + kPieceBytes - 1) / kPieceBytes;
    size_t pieces = raw_size + raw_size / 255 + 16 * count + 4 * count + 2 * VarintSize(raw_size);
    body = std::max(body, pieces);
  } else if (codec == Codec::kZstd) {
    body = std::max(body, ZSTD_compressBound(raw_size));
  }
  return 1 + VarintSize(raw_size) + body;
}

std::vector<uint8_t> Compress(Codec codec, std::span<const uint8_t> raw, int level) {
  std::vector<uint8_t> out;
  CompressAppend(codec, raw, level, out);
  return out;
}

Result<std::vector<uint8_t>> Decompress(std::span<const uint8_t> framed) {
  std::vector<uint8_t> out;
  ASSIGN_OR_RETURN(std::span<uint8_t> raw, DecompressInto(framed, out));
  out.resize(raw.size());
  return out;
}

namespace {

// A frame's header (codec byte, varint decompressed size): the size, and `body` set to the bytes
// after it. False when the header can't be read.
bool ParseFrameHeader(std::span<const uint8_t> framed, uint64_t& raw, std::span<const uint8_t>& body) {
  if (framed.empty()) return false;
  body = framed.subspan(1);
  return GetVarint(body, raw);
}

// A frame in pieces (after its header, `body`): the pieces' compressed bytes and their
// decompressed size (the last one's fewer). False when the frame is inconsistent: pieces smaller
// than kMinPieceBytes, a count that doesn't cover the size, sizes that don't add up to the body.
bool ParsePieces(uint64_t raw, std::span<const uint8_t> body, uint64_t& piece_bytes,
                 std::vector<std::span<const uint8_t>>& pieces) {
  uint64_t count = 0;
  if (!GetVarint(body, piece_bytes) || piece_bytes < kMinPieceBytes || piece_bytes > (1ull << 32) ||
      !GetVarint(body, count) || count != raw / piece_bytes + (raw % piece_bytes != 0 ? 1 : 0) ||
      count > body.size() / 4) {
    return false;
  }
  std::span<const uint8_t> sizes = body.first(count * 4);
  body = body.subspan(count * 4);
  pieces.clear();
  pieces.reserve(count);
  for (uint64_t k = 0; k < count; ++k) {
    uint32_t n = LoadU32(sizes.data() + 4 * k);
    if (n == 0 || n > body.size()) return false;
    pieces.push_back(body.first(n));
    body = body.subspan(n);
  }
  return body.empty();
}

// Piece `k` of `count` decompressed into `out` (its piece_bytes, fewer for the last).
bool DecompressPiece(std::span<const uint8_t> piece, std::span<uint8_t> out) {
  int n = LZ4_decompress_safe(reinterpret_cast<const char*>(piece.data()), reinterpret_cast<char*>(out.data()),
                              static_cast<int>(piece.size()), static_cast<int>(out.size()));
  return n >= 0 && static_cast<size_t>(n) == out.size();
}

}  // namespace

std::optional<uint64_t> FrameRawSize(std::span<const uint8_t> framed) {
  uint64_t raw = 0;
  std::span<const uint8_t> body;
  if (!ParseFrameHeader(framed, raw, body)) return std::nullopt;
  return raw;
}

std::optional<Codec> FrameCodec(std::span<const uint8_t> framed) {
  if (framed.empty() || framed[0] > kLz4PiecesFrame) return std::nullopt;
  return framed[0] == kLz4PiecesFrame ? Codec::kLz4 : static_cast<Codec>(framed[0]);
}

bool IsPiecedFrame(std::span<const uint8_t> framed) { return !framed.empty() && framed[0] == kLz4PiecesFrame; }

Result<std::span<uint8_t>> DecompressInto(std::span<const uint8_t> framed, std::vector<uint8_t>& buf) {
  if (framed.empty()) return DataLoss("empty compressed block");
  uint8_t codec = framed[0];
  uint64_t raw = 0;
  std::span<const uint8_t> in;
  if (!ParseFrameHeader(framed, raw, in) || raw > (1ull << 32)) return DataLoss("corrupt compressed block size");
  if (codec > kLz4PiecesFrame) return DataLoss("unknown compression codec " + std::to_string(codec));
  if (static_cast<Codec>(codec) == Codec::kNone && in.size() != raw) return DataLoss("corrupt stored block");
  uint64_t piece_bytes = 0;
  std::vector<std::span<const uint8_t>> pieces;
  if (codec == kLz4PiecesFrame && !ParsePieces(raw, in, piece_bytes, pieces)) return DataLoss("corrupt lz4 pieces");
  if (buf.size() < raw) buf.resize(raw);
  std::span<uint8_t> out(buf.data(), raw);
  if (codec == kLz4PiecesFrame) {
    for (size_t k = 0; k < pieces.size(); ++k) {
      if (!DecompressPiece(pieces[k], out.subspan(k * piece_bytes, std::min<uint64_t>(piece_bytes, raw - k * piece_bytes)))) {
        return DataLoss("corrupt lz4 piece");
      }
    }
    return out;
  }
  switch (static_cast<Codec>(codec)) {
    case Codec::kNone:
      if (raw > 0) std::memcpy(out.data(), in.data(), raw);
      return out;
    case Codec::kLz4: {
      int n = LZ4_decompress_safe(reinterpret_cast<const char*>(in.data()), reinterpret_cast<char*>(out.data()),
                                  static_cast<int>(in.size()), static_cast<int>(raw));
      if (n < 0 || static_cast<uint64_t>(n) != raw) return DataLoss("corrupt lz4 block");
      return out;
    }
    case Codec::kZstd: {
      thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
      size_t n = ZSTD_decompressDCtx(dctx.get(), out.data(), raw, in.data(), in.size());
      if (ZSTD_isError(n) || n != raw) return DataLoss("corrupt zstd block");
      return out;
    }
  }
  return DataLoss("unknown compression codec " + std::to_string(codec));
}

Result<std::span<uint8_t>> DecompressPrefixInto(std::span<const uint8_t> framed, size_t want, std::vector<uint8_t>& buf) {
  if (IsPiecedFrame(framed)) {
    ASSIGN_OR_RETURN(FrameRanges f, FrameRanges::Open(framed, buf));
    RETURN_IF_ERROR(f.Need(0, want));
    return std::span<uint8_t>(buf.data(), std::min<uint64_t>(want, f.size()));
  }
  uint64_t raw = 0;
  std::span<const uint8_t> in;
  if (framed.empty() || static_cast<Codec>(framed[0]) != Codec::kLz4 || !ParseFrameHeader(framed, raw, in) ||
      raw > (1ull << 31) || want >= raw) {
    return DecompressInto(framed, buf);  // and its checks
  }
  if (buf.size() < raw) buf.resize(raw);
  int n = LZ4_decompress_safe_partial(reinterpret_cast<const char*>(in.data()), reinterpret_cast<char*>(buf.data()),
                                      static_cast<int>(std::min<size_t>(in.size(), INT32_MAX)), static_cast<int>(want),
                                      static_cast<int>(raw));
  if (n < 0 || static_cast<size_t>(n) < want) return DataLoss("corrupt lz4 block");
  return std::span<uint8_t>(buf.data(), static_cast<size_t>(n));
}

Result<FrameRanges> FrameRanges::Open(std::span<const uint8_t> framed, std::vector<uint8_t>& buf) {
  FrameRanges f(framed, buf);
  std::span<const uint8_t> body;
  if (!ParseFrameHeader(framed, f.raw_, body) || f.raw_ > (1ull << 32)) return DataLoss("corrupt compressed block size");
  if (IsPiecedFrame(framed)) {
    if (!ParsePieces(f.raw_, body, f.piece_bytes_, f.pieces_)) return DataLoss("corrupt lz4 pieces");
    f.done_.assign(f.pieces_.size(), false);
  } else {
    f.done_.assign(1, false);
  }
  if (buf.size() < f.raw_) buf.resize(f.raw_);
  return f;
}

Status FrameRanges::NeedPiece(size_t k) {
  if (done_[k]) return OkStatus();
  if (piece_bytes_ == 0) {
    ASSIGN_OR_RETURN(std::span<uint8_t> whole, DecompressInto(framed_, *buf_));
    if (whole.size() != raw_) return DataLoss("corrupt compressed block size");
  } else {
    uint64_t at = k * piece_bytes_;
    if (!DecompressPiece(pieces_[k], std::span<uint8_t>(buf_->data() + at, std::min(piece_bytes_, raw_ - at)))) {
      return DataLoss("corrupt lz4 piece");
    }
  }
  done_[k] = true;
  return OkStatus();
}

Status FrameRanges::Need(uint64_t begin, uint64_t end) {
  end = std::min(end, raw_);
  if (begin >= end) return OkStatus();
  if (piece_bytes_ == 0) return NeedPiece(0);
  for (uint64_t k = begin / piece_bytes_; k <= (end - 1) / piece_bytes_; ++k) RETURN_IF_ERROR(NeedPiece(k));
  return OkStatus();
}

void FrameRanges::Wipe() {
  for (size_t k = 0; k < done_.size(); ++k) {
    if (!done_[k]) continue;
    uint64_t at = piece_bytes_ == 0 ? 0 : k * piece_bytes_;
    uint64_t n = piece_bytes_ == 0 ? raw_ : std::min(piece_bytes_, raw_ - at);
    WipeBytes(std::span<uint8_t>(buf_->data() + at, n));
    done_[k] = false;
  }
}

Result<kql::Column> DecodeFrameRows(kql::Type type, size_t rows, FrameRanges& frame, std::span<const uint32_t> wanted) {
  const uint64_t size = frame.size();
  RETURN_IF_ERROR(frame.Need(0, 2));
  std::span<const uint8_t> head(frame.data(), std::min<uint64_t>(size, 2));
  if (head.size() < 2 || head[0] != kStringsMarked || !kql::UsesStrings(type)) {
    RETURN_IF_ERROR(frame.Need(0, size));
    std::span<const uint8_t> in(frame.data(), size);
    return DecodeStringRows(type, rows, in, wanted);
  }
  for (size_t k = 0; k < wanted.size(); ++k) {
    if (wanted[k] >= rows || (k > 0 && wanted[k] <= wanted[k - 1])) return InvalidArgument("string rows: not ascending rows of the block");
  }
  // The header (the null bitmap, the marks' two varints, then the marks) decompressed, then read
  // as a whole block's would be (only those bytes are).
  const bool has_nulls = head[1] != 0;
  const uint64_t marks_at = 2 + (has_nulls ? (static_cast<uint64_t>(rows) + 7) / 8 : 0);
  if (marks_at > size) return CorruptBlock("short null bitmap");
  RETURN_IF_ERROR(frame.Need(0, marks_at + 20));
  std::span<const uint8_t> m(frame.data() + marks_at, std::min<uint64_t>(size - marks_at, 20));
  uint64_t every = 0, count = 0;
  if (!GetVarint(m, every) || !GetVarint(m, count) || count > size / 4) return CorruptBlock("string marks");
  RETURN_IF_ERROR(frame.Need(marks_at, static_cast<uint64_t>(m.data() - frame.data()) + 4 * count));
  std::span<const uint8_t> values(frame.data(), size);
  Marks marks;
  ASSIGN_OR_RETURN(std::span<const uint8_t> bitmap, PlainStringsBitmap(values, rows, &marks));
  if (marks.every == 0) return CorruptBlock("string marks");
  const uint64_t first = static_cast<uint64_t>(values.data() - frame.data());
  kql::Column out(type);
  out.StartPacked(wanted.size(), 0);
  uint64_t pos = first;  // of value `row`'s length
  size_t row = 0;
  for (uint32_t want : wanted) {
    if (uint64_t k = want / marks.every; k * marks.every > row) {  // jump to the mark before it
      row = static_cast<size_t>(k * marks.every);
      pos = first + marks[k];
      if (pos > size) return CorruptBlock("string marks");
    }
    // (A mark is not checked against the values before it, which aren't read: a wrong one, which
    // authenticated blocks can't hold but a writer's bug could, reads wrong values within the
    // frame; DecodeColumn, which every whole read goes through, checks them all.)
    for (;; ++row) {
      RETURN_IF_ERROR(frame.Need(pos, pos + 10));
      std::span<const uint8_t> v(frame.data() + pos, std::min<uint64_t>(size - pos, 10));
      uint64_t n = 0;
      if (!GetVarint(v, n) || n > size - pos) return CorruptBlock("string");
      uint64_t at = static_cast<uint64_t>(v.data() - frame.data());
      if (n > size - at) return CorruptBlock("string");
      pos = at + n;
      if (row < want) continue;
      RETURN_IF_ERROR(frame.Need(at, pos));
      out.AppendPacked(std::string_view(reinterpret_cast<const char*>(frame.data() + at), n));
      if (has_nulls) out.nulls.push_back(((bitmap[want / 8] >> (want % 8)) & 1) != 0 ? 1 : 0);
      ++row;
      break;
    }
  }
  return out;
}

void EncodeTable(const kql::Table& t, std::vector<uint8_t>& out, bool dictionaries) {
  PutVarint(out, t.rows);
  PutVarint(out, t.columns.size());
  for (size_t i = 0; i < t.columns.size(); ++i) {
    PutString(out, t.names[i]);
    out.push_back(static_cast<uint8_t>(t.columns[i].type));
    ColumnPiece piece{&t.columns[i], 0, t.rows};
    EncodeColumn(t.columns[i].type, std::span<const ColumnPiece>(&piece, 1), out, dictionaries);
  }
}

Result<kql::Table> DecodeTable(std::span<const uint8_t> in) {
  kql::Table t;
  uint64_t rows = 0, cols = 0;
  if (!GetVarint(in, rows) || !GetVarint(in, cols) || cols > 4096) return DataLoss("corrupt table record");
  t.rows = rows;
  for (uint64_t i = 0; i < cols; ++i) {
    std::string name;
    if (!GetString(in, name) || in.empty() || in[0] > static_cast<uint8_t>(kql::Type::kDynamic)) {
      return DataLoss("corrupt table record column");
    }
    auto type = static_cast<kql::Type>(in[0]);
    in = in.subspan(1);
    ASSIGN_OR_RETURN(kql::Column c, DecodeColumn(type, rows, in));
    t.AddColumn(std::move(name), std::move(c));
  }
  if (!in.empty()) return DataLoss("trailing bytes in table record");
  return t;
}

}  // namespace cmk::engine
