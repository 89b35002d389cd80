#include "engine/codec.h"

#include <lz4.h>
#include <zstd.h>

#include <array>
#include <cstring>
#include <string_view>
#include <unordered_map>

namespace cmk::engine {
namespace {

enum Encoding : uint8_t { kIntsDelta = 1, kIntsPlain = 2, kReals = 3, kStrings = 4, kDict = 5 };

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

Status Corrupt(const char* what) { return DataLoss(std::string("corrupt column block: ") + what); }

void EncodeInts(const kql::Column& c, size_t begin, size_t end, std::vector<uint8_t>& out) {
  size_t delta_size = 0;
  int64_t prev = 0;
  for (size_t i = begin; i < end; ++i) {
    int64_t v = c.Int(i);
    delta_size += VarintSize(ZigZag(static_cast<int64_t>(static_cast<uint64_t>(v) - static_cast<uint64_t>(prev))));
    prev = v;
  }
  if (delta_size <= (end - begin) * 8) {
    out.push_back(kIntsDelta);
    prev = 0;
    for (size_t i = begin; i < end; ++i) {
      int64_t v = c.Int(i);
      PutVarint(out, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(v) - static_cast<uint64_t>(prev))));
      prev = v;
    }
    return;
  }
  out.push_back(kIntsPlain);
  for (size_t i = begin; i < end; ++i) PutU64(out, static_cast<uint64_t>(c.Int(i)));
}

void EncodeStrings(const kql::Column& c, size_t begin, size_t end, std::vector<uint8_t>& out) {
  size_t rows = end - begin;
  std::unordered_map<std::string_view, uint32_t> dict;
  std::vector<std::string_view> order;
  std::vector<uint32_t> codes;
  codes.reserve(rows);
  bool use_dict = rows >= 16;
  for (size_t i = begin; i < end && use_dict; ++i) {
    auto [it, fresh] = dict.emplace(c.Str(i), static_cast<uint32_t>(order.size()));
    if (fresh) order.push_back(it->first);
    codes.push_back(it->second);
    if (order.size() > rows / 2) use_dict = false;
  }
  if (!use_dict) {
    out.push_back(kStrings);
    for (size_t i = begin; i < end; ++i) PutString(out, c.Str(i));
    return;
  }
  out.push_back(kDict);
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
// and not among our dependencies); a 256-entry table is all it takes.
uint32_t Crc32c(std::span<const uint8_t> data) {
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t b : data) c = kTable[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void EncodeColumn(const kql::Column& c, size_t begin, size_t end, std::vector<uint8_t>& out) {
  bool has_nulls = false;
  if (c.HasNulls()) {
    for (size_t i = begin; i < end && !has_nulls; ++i) has_nulls = c.IsNull(i);
  }
  size_t header = out.size();
  out.push_back(0);  // encoding, patched below
  out.push_back(has_nulls ? 1 : 0);
  if (has_nulls) {
    size_t at = out.size();
    out.resize(at + (end - begin + 7) / 8, 0);
    for (size_t i = begin; i < end; ++i) {
      if (c.IsNull(i)) out[at + (i - begin) / 8] |= static_cast<uint8_t>(1u << ((i - begin) % 8));
    }
  }
  std::vector<uint8_t> body;
  if (kql::UsesInts(c.type)) {
    EncodeInts(c, begin, end, body);
  } else if (kql::UsesReals(c.type)) {
    body.push_back(kReals);
    body.resize(1 + (end - begin) * 8);
    for (size_t i = begin; i < end; ++i) {
      double d = c.Real(i);
      std::memcpy(body.data() + 1 + (i - begin) * 8, &d, 8);
    }
  } else {
    EncodeStrings(c, begin, end, body);
  }
  out[header] = body[0];
  out.insert(out.end(), body.begin() + 1, body.end());
}

Result<kql::Column> DecodeColumn(kql::Type type, size_t rows, std::span<const uint8_t>& in) {
  if (in.size() < 2) return Corrupt("short header");
  uint8_t enc = in[0];
  bool has_nulls = in[1] != 0;
  in = in.subspan(2);
  kql::Column c(type);
  if (has_nulls) {
    size_t n = (rows + 7) / 8;
    if (in.size() < n) return Corrupt("short null bitmap");
    c.nulls.resize(rows);
    for (size_t i = 0; i < rows; ++i) c.nulls[i] = (in[i / 8] >> (i % 8)) & 1;
    in = in.subspan(n);
  }
  switch (enc) {
    case kIntsDelta: {
      c.ints.resize(rows);
      int64_t prev = 0;
      for (size_t i = 0; i < rows; ++i) {
        uint64_t z = 0;
        if (!GetVarint(in, z)) return Corrupt("varint");
        prev = static_cast<int64_t>(static_cast<uint64_t>(prev) + static_cast<uint64_t>(UnZigZag(z)));
        c.ints[i] = prev;
      }
      break;
    }
    case kIntsPlain:
      if (in.size() < rows * 8) return Corrupt("short ints");
      c.ints.resize(rows);
      for (size_t i = 0; i < rows; ++i) c.ints[i] = static_cast<int64_t>(LoadU64(in.data() + i * 8));
      in = in.subspan(rows * 8);
      break;
    case kReals:
      if (in.size() < rows * 8) return Corrupt("short reals");
      c.reals.resize(rows);
      std::memcpy(c.reals.data(), in.data(), rows * 8);
      in = in.subspan(rows * 8);
      break;
    case kStrings:
      c.strings.resize(rows);
      for (size_t i = 0; i < rows; ++i) {
        if (!GetString(in, c.strings[i])) return Corrupt("string");
      }
      break;
    case kDict: {
      uint64_t n = 0;
      if (!GetVarint(in, n) || n > in.size()) return Corrupt("dictionary size");
      std::vector<std::string> dict(n);
      for (auto& s : dict) {
        if (!GetString(in, s)) return Corrupt("dictionary entry");
      }
      if (in.empty()) return Corrupt("code width");
      uint8_t width = in[0];
      in = in.subspan(1);
      if ((width != 1 && width != 2 && width != 4) || in.size() < rows * width) return Corrupt("codes");
      c.strings.resize(rows);
      for (size_t i = 0; i < rows; ++i) {
        uint32_t code = 0;
        std::memcpy(&code, in.data() + i * width, width);
        if (code >= n) return Corrupt("code out of range");
        c.strings[i] = dict[code];
      }
      in = in.subspan(rows * width);
      break;
    }
    default:
      return Corrupt("unknown encoding");
  }
  if ((enc == kIntsDelta || enc == kIntsPlain) != kql::UsesInts(type) || (enc == kReals) != kql::UsesReals(type)) {
    return Corrupt("encoding does not match the column type");
  }
  if (!has_nulls) c.nulls.clear();
  return c;
}

std::vector<uint8_t> Compress(Codec codec, std::span<const uint8_t> raw, int level) {
  std::vector<uint8_t> out;
  out.push_back(static_cast<uint8_t>(codec));
  PutVarint(out, raw.size());
  size_t at = out.size();
  if (codec == Codec::kLz4) {
    int bound = LZ4_compressBound(static_cast<int>(raw.size()));
    out.resize(at + static_cast<size_t>(bound));
    int n = LZ4_compress_default(reinterpret_cast<const char*>(raw.data()), reinterpret_cast<char*>(out.data() + at),
                                 static_cast<int>(raw.size()), bound);
    if (n > 0) {
      out.resize(at + static_cast<size_t>(n));
      return out;
    }
  } else if (codec == Codec::kZstd) {
    size_t bound = ZSTD_compressBound(raw.size());
    out.resize(at + bound);
    size_t n = ZSTD_compress(out.data() + at, bound, raw.data(), raw.size(), level);
    if (!ZSTD_isError(n)) {
      out.resize(at + n);
      return out;
    }
  }
  out.resize(at);
  out[0] = static_cast<uint8_t>(Codec::kNone);
  out.insert(out.end(), raw.begin(), raw.end());
  return out;
}

Result<std::vector<uint8_t>> Decompress(std::span<const uint8_t> framed) {
  if (framed.empty()) return DataLoss("empty compressed block");
  uint8_t codec = framed[0];
  std::span<const uint8_t> in = framed.subspan(1);
  uint64_t raw = 0;
  if (!GetVarint(in, raw) || raw > (1ull << 32)) return DataLoss("corrupt compressed block size");
  std::vector<uint8_t> out(raw);
  switch (static_cast<Codec>(codec)) {
    case Codec::kNone:
      if (in.size() != raw) return DataLoss("corrupt stored block");
      std::memcpy(out.data(), in.data(), raw);
      return out;
    case Codec::kLz4: {
      int n = LZ4_decompress_safe(reinterpret_cast<const char*>(in.data()), reinterpret_cast<char*>(out.data()),
                                  static_cast<int>(in.size()), static_cast<int>(raw));
      if (n < 0 || static_cast<uint64_t>(n) != raw) return DataLoss("corrupt lz4 block");
      return out;
    }
    case Codec::kZstd: {
      size_t n = ZSTD_decompress(out.data(), raw, in.data(), in.size());
      if (ZSTD_isError(n) || n != raw) return DataLoss("corrupt zstd block");
      return out;
    }
  }
  return DataLoss("unknown compression codec " + std::to_string(codec));
}

void EncodeTable(const kql::Table& t, std::vector<uint8_t>& out) {
  PutVarint(out, t.rows);
  PutVarint(out, t.columns.size());
  for (size_t i = 0; i < t.columns.size(); ++i) {
    PutString(out, t.names[i]);
    out.push_back(static_cast<uint8_t>(t.columns[i].type));
    EncodeColumn(t.columns[i], 0, t.rows, out);
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
