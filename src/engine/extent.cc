#include "engine/extent.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "engine/codec.h"

namespace cmk::engine {
namespace {

constexpr uint8_t kMagic[4] = {'C', 'M', 'K', 'X'};
constexpr uint8_t kVersion = 1;
constexpr uint32_t kFooterIndex = 0xFFFFFFFFu;
constexpr char kFooterColumn[] = "#footer";
constexpr size_t kTrailerSize = 16;  // footer offset u64, footer size u32, magic

Status Corrupt(const std::string& what) { return DataLoss("corrupt extent: " + what); }

Result<size_t> TimeColumn(const kql::Table& t) {
  int i = t.Find("TimeGenerated");
  if (i < 0 || t.columns[i].type != kql::Type::kDateTime) {
    return InvalidArgument("an extent needs a datetime TimeGenerated column");
  }
  return static_cast<size_t>(i);
}

}  // namespace

Result<std::vector<uint8_t>> BuildExtent(const ExtentHeader& header, const std::string& workspace, const kql::Table& rows,
                                         const SecretBytes& aek, env::Random& random) {
  ASSIGN_OR_RETURN(size_t time_col, TimeColumn(rows));
  std::vector<uint8_t> out(kMagic, kMagic + 4);
  out.push_back(kVersion);
  out.push_back(static_cast<uint8_t>(header.key_kind));
  out.push_back(0);
  out.push_back(0);
  PutU32(out, header.aek_generation);
  out.insert(out.end(), header.id.begin(), header.id.end());
  PutString(out, header.account);

  std::vector<uint8_t> footer;
  PutString(footer, workspace);
  PutString(footer, rows.name);
  PutVarint(footer, rows.rows);
  PutVarint(footer, rows.columns.size());
  for (size_t c = 0; c < rows.columns.size(); ++c) {
    PutString(footer, rows.names[c]);
    footer.push_back(static_cast<uint8_t>(rows.columns[c].type));
  }
  int64_t tmin = std::numeric_limits<int64_t>::max(), tmax = std::numeric_limits<int64_t>::min();
  size_t groups = (rows.rows + kRowsPerGroup - 1) / kRowsPerGroup;
  PutVarint(footer, groups);
  // Sealed blocks are kept apart and copied once into an object of the exact size: appending
  // them one by one re-copied the growing object at each reallocation.
  std::vector<std::vector<uint8_t>> blocks;
  blocks.reserve(groups * rows.columns.size());
  size_t object_size = out.size();
  std::vector<uint8_t> raw;
  for (size_t g = 0; g < groups; ++g) {
    size_t begin = g * kRowsPerGroup, end = std::min(rows.rows, begin + kRowsPerGroup);
    PutVarint(footer, end - begin);
    for (size_t c = 0; c < rows.columns.size(); ++c) {
      const kql::Column& col = rows.columns[c];
      raw.clear();
      EncodeColumn(col, begin, end, raw);
      std::vector<uint8_t> packed = Compress(Codec::kZstd, raw, 1);
      uint32_t index = static_cast<uint32_t>(g * rows.columns.size() + c);
      storage::BlockAddress where{header.id, index, rows.names[c]};
      ASSIGN_OR_RETURN(auto sealed, storage::SealBlock(aek, header.aek_generation, where, packed, random));
      uint32_t nulls = 0;
      bool minmax = false;
      int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
      for (size_t r = begin; r < end; ++r) {
        if (col.IsNull(r)) {
          ++nulls;
        } else if (kql::UsesInts(col.type)) {
          minmax = true;
          lo = std::min(lo, col.Int(r));
          hi = std::max(hi, col.Int(r));
        }
      }
      if (c == time_col && minmax) {
        tmin = std::min(tmin, lo);
        tmax = std::max(tmax, hi);
      }
      PutU64(footer, object_size);
      PutU32(footer, static_cast<uint32_t>(sealed.size()));
      PutU32(footer, nulls);
      footer.push_back(minmax ? 1 : 0);
      if (minmax) {
        PutU64(footer, static_cast<uint64_t>(lo));
        PutU64(footer, static_cast<uint64_t>(hi));
      }
      object_size += sealed.size();
      blocks.push_back(std::move(sealed));
    }
  }
  PutU64(footer, static_cast<uint64_t>(tmin));
  PutU64(footer, static_cast<uint64_t>(tmax));
  std::vector<uint8_t> packed = Compress(Codec::kZstd, footer, 1);
  storage::BlockAddress where{header.id, kFooterIndex, kFooterColumn};
  ASSIGN_OR_RETURN(auto sealed, storage::SealBlock(aek, header.aek_generation, where, packed, random));
  out.reserve(object_size + sealed.size() + kTrailerSize);
  for (auto& b : blocks) {
    out.insert(out.end(), b.begin(), b.end());
    std::vector<uint8_t>().swap(b);
  }
  uint64_t footer_at = out.size();
  out.insert(out.end(), sealed.begin(), sealed.end());
  PutU64(out, footer_at);
  PutU32(out, static_cast<uint32_t>(sealed.size()));
  out.insert(out.end(), kMagic, kMagic + 4);
  return out;
}

Result<ExtentHeader> ParseExtentHeader(std::span<const uint8_t> object) {
  if (object.size() < 28 + kTrailerSize || std::memcmp(object.data(), kMagic, 4) != 0) return Corrupt("bad magic");
  if (object[4] != kVersion) return Corrupt("unknown version " + std::to_string(object[4]));
  ExtentHeader h;
  h.key_kind = static_cast<KeyKind>(object[5]);
  h.aek_generation = LoadU32(object.data() + 8);
  std::memcpy(h.id.data(), object.data() + 12, 16);
  std::span<const uint8_t> rest = object.subspan(28);
  if (!GetString(rest, h.account)) return Corrupt("account name");
  return h;
}

Result<ExtentReader> ExtentReader::Open(std::vector<uint8_t> object, const SecretBytes& aek) {
  ExtentReader r;
  ASSIGN_OR_RETURN(r.header_, ParseExtentHeader(object));
  const uint8_t* t = object.data() + object.size() - kTrailerSize;
  if (std::memcmp(t + 12, kMagic, 4) != 0) return Corrupt("bad trailer");
  uint64_t at = LoadU64(t);
  uint32_t size = LoadU32(t + 8);
  if (at + size > object.size() - kTrailerSize) return Corrupt("footer out of bounds");
  storage::BlockAddress where{r.header_.id, kFooterIndex, kFooterColumn};
  ASSIGN_OR_RETURN(SecretBytes packed, storage::OpenBlock(aek, where, std::span(object).subspan(at, size)));
  ASSIGN_OR_RETURN(std::vector<uint8_t> footer, Decompress(packed.span()));
  std::span<const uint8_t> in(footer);
  uint64_t rows = 0, cols = 0, groups = 0;
  if (!GetString(in, r.info_.workspace) || !GetString(in, r.info_.table) || !GetVarint(in, rows) ||
      !GetVarint(in, cols) || cols > 4096) {
    return Corrupt("footer");
  }
  r.info_.rows = rows;
  for (uint64_t c = 0; c < cols; ++c) {
    kql::ColumnSchema s;
    if (!GetString(in, s.name) || in.empty() || in[0] > static_cast<uint8_t>(kql::Type::kDynamic)) return Corrupt("schema");
    s.type = static_cast<kql::Type>(in[0]);
    in = in.subspan(1);
    r.info_.schema.push_back(std::move(s));
  }
  if (!GetVarint(in, groups)) return Corrupt("groups");
  for (uint64_t g = 0; g < groups; ++g) {
    uint64_t n = 0;
    if (!GetVarint(in, n)) return Corrupt("group rows");
    r.group_rows_.push_back(static_cast<uint32_t>(n));
    for (uint64_t c = 0; c < cols; ++c) {
      if (in.size() < 17) return Corrupt("block entry");
      Block b;
      b.offset = LoadU64(in.data());
      b.size = LoadU32(in.data() + 8);
      b.nulls = LoadU32(in.data() + 12);
      b.has_minmax = in[16] != 0;
      in = in.subspan(17);
      if (b.has_minmax) {
        if (in.size() < 16) return Corrupt("block min/max");
        b.min_i = static_cast<int64_t>(LoadU64(in.data()));
        b.max_i = static_cast<int64_t>(LoadU64(in.data() + 8));
        in = in.subspan(16);
      }
      if (b.offset + b.size > at) return Corrupt("block out of bounds");
      r.blocks_.push_back(b);
    }
  }
  if (in.size() != 16) return Corrupt("footer tail");
  r.info_.min_time = static_cast<int64_t>(LoadU64(in.data()));
  r.info_.max_time = static_cast<int64_t>(LoadU64(in.data() + 8));
  r.object_ = std::move(object);
  return r;
}

Result<kql::Table> ExtentReader::Read(const std::vector<std::string>& columns, std::optional<int64_t> min_time,
                                      std::optional<int64_t> max_time, const SecretBytes& aek) const {
  const kql::Schema& schema = info_.schema;
  std::vector<size_t> want;
  if (columns.empty()) {
    for (size_t c = 0; c < schema.size(); ++c) want.push_back(c);
  } else {
    for (const auto& name : columns) {
      for (size_t c = 0; c < schema.size(); ++c) {
        if (schema[c].name == name) want.push_back(c);
      }
    }
  }
  int time_col = -1;
  for (size_t c = 0; c < schema.size(); ++c) {
    if (schema[c].name == "TimeGenerated") time_col = static_cast<int>(c);
  }
  kql::Table out;
  out.name = info_.table;
  for (size_t c : want) out.AddColumn(schema[c].name, kql::Column(schema[c].type));
  for (size_t g = 0; g < group_rows_.size(); ++g) {
    if (time_col >= 0) {
      const Block& tb = blocks_[g * schema.size() + static_cast<size_t>(time_col)];
      if (tb.has_minmax && ((min_time && tb.max_i < *min_time) || (max_time && tb.min_i > *max_time))) continue;
    }
    for (size_t k = 0; k < want.size(); ++k) {
      size_t c = want[k];
      const Block& b = blocks_[g * schema.size() + c];
      uint32_t index = static_cast<uint32_t>(g * schema.size() + c);
      storage::BlockAddress where{header_.id, index, schema[c].name};
      ASSIGN_OR_RETURN(SecretBytes packed, storage::OpenBlock(aek, where, std::span(object_).subspan(b.offset, b.size)));
      ASSIGN_OR_RETURN(std::vector<uint8_t> raw, Decompress(packed.span()));
      std::span<const uint8_t> in(raw);
      ASSIGN_OR_RETURN(kql::Column col, DecodeColumn(schema[c].type, group_rows_[g], in));
      kql::Column& dst = out.columns[k];
      if (dst.stored() == 0 && !col.HasNulls() && dst.nulls.empty()) {
        dst = std::move(col);
        continue;
      }
      if (col.HasNulls() && dst.nulls.empty()) dst.nulls.assign(dst.stored(), 0);
      size_t before = dst.stored();
      dst.ints.insert(dst.ints.end(), col.ints.begin(), col.ints.end());
      dst.reals.insert(dst.reals.end(), col.reals.begin(), col.reals.end());
      for (auto& s : col.strings) dst.strings.push_back(std::move(s));
      if (!dst.nulls.empty()) {
        if (col.HasNulls()) dst.nulls.insert(dst.nulls.end(), col.nulls.begin(), col.nulls.end());
        else dst.nulls.resize(before + group_rows_[g], 0);
      }
    }
    out.rows += group_rows_[g];
  }
  return out;
}

}  // namespace cmk::engine
