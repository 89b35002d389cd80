#include "engine/extent.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <tuple>

#include "base/mutex.h"
#include "base/encoding.h"
#include "engine/codec.h"
#include "engine/shape.h"
#include "engine/term_filter.h"

namespace cmk::engine {
namespace {

constexpr uint8_t kExtentMagic[4] = {'C', 'M', 'K', 'X'};
// Version 2 binds the clear header into the footer's AAD; version 1 objects are still read.
constexpr uint8_t kExtentVersion = 2;
constexpr uint8_t kVersionUnboundHeader = 1;
constexpr uint32_t kFooterIndex = 0xFFFFFFFFu;
constexpr char kFooterColumn[] = "#footer";
constexpr size_t kTrailerSize = 16;  // footer offset u64, footer size u32, magic
// A footer block entry's extremes byte.
constexpr uint8_t kNoExtremes = 0, kIntExtremes = 1, kRealExtremes = 2;
// A plain text block's entry: its term filter's offset and size where the extremes would be.
constexpr uint8_t kTermFilter = 3;
// A term filter block's index: its column block's with the top bit set (column blocks stay
// below it: an extent of 2^31 blocks would be over 10^12 rows).
constexpr uint32_t kTermFilterIndexBit = 0x80000000u;

Status CorruptExtent(const std::string& what) { return DataLoss("corrupt extent: " + what); }

struct Scratch {
  std::vector<uint8_t> raw;
  std::vector<uint8_t> terms;
  TermFilterBuilder term_builder;
};
Mutex scratch_mu;
std::vector<std::unique_ptr<Scratch>> scratch_pool;  // guarded by scratch_mu

std::unique_ptr<Scratch> TakeScratch() {
  MutexLock l(&scratch_mu);
  if (scratch_pool.empty()) return std::make_unique<Scratch>();
  auto s = std::move(scratch_pool.back());
  scratch_pool.pop_back();
  return s;
}

void GiveBackScratch(std::unique_ptr<Scratch> s) {
  // Pooled across accounts and kept: BuildExtent wipes each block's plaintext once it is sealed,
  // so only a block interrupted by an error can be left; wipe what the buffers hold.
  WipeBytes(s->raw);
  s->raw.clear();
  if (s->raw.capacity() > (size_t{128} << 20)) return;  // an outsized block grew it
  MutexLock l(&scratch_mu);
  if (scratch_pool.size() < 2) scratch_pool.push_back(std::move(s));
}

// Room in `out` for a block whose compressed frame takes at most `frame` bytes, sealed: the
// plaintext is compressed into `out` and encrypted there, so `out` must not reallocate in
// between (the old storage would be freed with plaintext in it). Grows geometrically.
void ReserveForBlock(std::vector<uint8_t>& out, size_t frame) {
  size_t need = out.size() + storage::kSealOverhead + frame;
  if (need > out.capacity()) out.reserve(std::max(need, 2 * out.capacity()));
}

bool SameAccount(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// A block's footer extremes: the least and greatest non-null value of an integer-like column
// (kIntExtremes), or of a real one whose values are all numbers (kRealExtremes: a NaN has no
// place in the order, so such a block records none). Scans prune row groups by them: by time,
// and for `top N by X` (docs/FORMAT.md §4).
struct Extremes {
  uint8_t kind = kNoExtremes;
  int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
  double dlo = std::numeric_limits<double>::infinity(), dhi = -std::numeric_limits<double>::infinity();
  bool nan = false;

  // Takes rows [b, e) of `col`; returns how many of them are null.
  uint32_t Add(const BatchColumn& col, size_t b, size_t e) {
    uint32_t nulls = 0;
    bool ints = kql::UsesInts(col.type), reals = kql::UsesReals(col.type);
    if (!ints && !reals) {
      for (size_t r = b; r < e; ++r) nulls += col.IsNull(r) ? 1 : 0;
      return nulls;
    }
    if (!col.HasNulls() && b < e) {  // the common case, in one tight pass
      if (ints) {
        auto [mn, mx] = std::minmax_element(col.ints.begin() + static_cast<std::ptrdiff_t>(b),
                                            col.ints.begin() + static_cast<std::ptrdiff_t>(e));
        kind = kIntExtremes;
        lo = std::min(lo, *mn);
        hi = std::max(hi, *mx);
        return 0;
      }
      double mn = dlo, mx = dhi;
      bool any_nan = false;
      for (size_t r = b; r < e; ++r) {
        double v = col.reals[r];
        any_nan |= v != v;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
      }
      kind = kRealExtremes;
      nan = nan || any_nan;
      dlo = mn;
      dhi = mx;
      return 0;
    }
    for (size_t r = b; r < e; ++r) {
      if (col.IsNull(r)) {
        ++nulls;
      } else if (ints) {
        kind = kIntExtremes;
        lo = std::min(lo, col.Int(r));
        hi = std::max(hi, col.Int(r));
      } else {
        double v = col.Real(r);
        nan = nan || std::isnan(v);
        kind = kRealExtremes;
        dlo = std::min(dlo, v);
        dhi = std::max(dhi, v);
      }
    }
    return nulls;
  }

  void Put(std::vector<uint8_t>& footer) const {
    uint8_t k = kind == kRealExtremes && nan ? kNoExtremes : kind;
    footer.push_back(k);
    if (k == kIntExtremes) {
      PutU64(footer, static_cast<uint64_t>(lo));
      PutU64(footer, static_cast<uint64_t>(hi));
    } else if (k == kRealExtremes) {
      PutU64(footer, std::bit_cast<uint64_t>(dlo));
      PutU64(footer, std::bit_cast<uint64_t>(dhi));
    }
  }
};

// The authenticated identity of an opened object against the catalogue's. The footer opened
// under the header's extent id, so that id, the footer's workspace and table, and (version 2)
// the header's account are what the key holder sealed.
Status CheckPlace(const ExtentHeader& h, const ExtentInfo& info, const ExtentPlace& want) {
  bool account_bound = h.version != kVersionUnboundHeader;
  if (h.id == want.id && info.workspace == want.workspace && info.table == want.table &&
      (!account_bound || SameAccount(h.account, want.account))) {
    return OkStatus();
  }
  return DataLoss("extent " + HexEncode(want.id) + " failed its integrity check: it belongs to account '" +
                  (account_bound ? h.account : std::string("(unbound)")) + "', workspace '" + info.workspace +
                  "', table '" + info.table + "' (extent " + HexEncode(h.id) + "), not to account '" + want.account +
                  "', workspace '" + want.workspace + "', table '" + want.table + "'");
}

}  // namespace

Result<ExtentSummary> BuildExtent(const ExtentHeader& header, const std::string& workspace, const std::string& table,
                                  const kql::Schema& schema, std::span<const Batch* const> chunks,
                                  const SecretBytes& aek, Codec codec, env::Random& random, std::vector<uint8_t>& out) {
  size_t time_col = schema.size();
  for (size_t c = 0; c < schema.size(); ++c) {
    if (schema[c].name == "TimeGenerated" && schema[c].type == kql::Type::kDateTime) time_col = c;
  }
  if (time_col == schema.size()) return InvalidArgument("an extent needs a datetime TimeGenerated column");
  // Each chunk's column for each schema column (nullptr: absent or of another type: nulls), as
  // every shaping matches them; read in place rather than shaped into a copy.
  std::vector<std::vector<const BatchColumn*>> source(chunks.size(), std::vector<const BatchColumn*>(schema.size()));
  uint64_t rows = 0;
  for (size_t k = 0; k < chunks.size(); ++k) {
    rows += chunks[k]->rows;
    ShapePlan plan = PlanShape(*chunks[k], schema, ShapeOptions());
    for (size_t c = 0; c < schema.size(); ++c) {
      const ShapedColumn& s = plan.columns[c];
      if (s.source == ShapedColumn::Source::kSame) source[k][c] = &chunks[k]->columns[s.input];
    }
  }
  const size_t base = out.size();  // offsets below are from the object's start
  out.insert(out.end(), kExtentMagic, kExtentMagic + 4);
  out.push_back(kExtentVersion);
  out.push_back(static_cast<uint8_t>(header.key_kind));
  out.push_back(0);
  out.push_back(0);
  PutU32(out, header.aek_generation);
  out.insert(out.end(), header.id.begin(), header.id.end());
  PutString(out, header.account);
  const size_t header_end = out.size();

  std::vector<uint8_t> footer;
  PutString(footer, workspace);
  PutString(footer, table);
  PutVarint(footer, rows);
  PutVarint(footer, schema.size());
  for (const auto& c : schema) {
    PutString(footer, c.name);
    footer.push_back(static_cast<uint8_t>(c.type));
  }
  int64_t tmin = std::numeric_limits<int64_t>::max(), tmax = std::numeric_limits<int64_t>::min();
  size_t groups = (rows + kRowsPerGroup - 1) / kRowsPerGroup;
  PutVarint(footer, groups);
  // The encoded and the compressed block, in scratch kept across extents and shared by the
  // threads that flush (a block of messages is ~10 MB each: fresh pages cost more than the
  // encoding). Blocks are sealed straight into `out`.
  struct Return {  // on every path out, errors included
    std::unique_ptr<Scratch> s;
    ~Return() { GiveBackScratch(std::move(s)); }
  } scratch{TakeScratch()};
  std::vector<uint8_t>& raw = scratch.s->raw;
  std::vector<BatchPiece> pieces;
  std::vector<std::tuple<size_t, size_t, size_t>> ranges;  // chunk, begin, end of one group
  size_t chunk = 0, chunk_row = 0;                          // where the next group starts
  for (size_t g = 0; g < groups; ++g) {
    size_t group_rows = std::min<uint64_t>(kRowsPerGroup, rows - g * kRowsPerGroup);
    PutVarint(footer, group_rows);
    ranges.clear();
    for (size_t left = group_rows; left > 0;) {
      size_t take = std::min(left, chunks[chunk]->rows - chunk_row);
      if (take > 0) ranges.emplace_back(chunk, chunk_row, chunk_row + take);
      chunk_row += take;
      left -= take;
      if (chunk_row == chunks[chunk]->rows) {
        ++chunk;
        chunk_row = 0;
      }
    }
    for (size_t c = 0; c < schema.size(); ++c) {
      pieces.clear();
      uint32_t nulls = 0;
      Extremes ext;
      for (const auto& [k, b, e] : ranges) {
        const BatchColumn* col = source[k][c];
        pieces.push_back({col, b, e});
        if (col == nullptr) {
          nulls += static_cast<uint32_t>(e - b);
          continue;
        }
        nulls += ext.Add(*col, b, e);
      }
      raw.clear();
      EncodeColumn(schema[c].type, pieces, raw);
      const std::array<uint8_t, 2> raw_kind{raw.size() > 0 ? raw[0] : uint8_t{0}, raw.size() > 1 ? raw[1] : uint8_t{0}};
      // Compressed straight into the object after room for the block's header, then sealed
      // there in place: no intermediate buffer, no copy.
      uint32_t index = static_cast<uint32_t>(g * schema.size() + c);
      storage::BlockAddress where{header.id, index, schema[c].name};
      size_t at = out.size();
      ReserveForBlock(out, CompressBound(codec, raw.size()));
      out.resize(at + storage::kBlockHeaderSize);
      // A plain text block in LZ4 pieces: a query's few rows of it (a sample, a top's, arg_max's)
      // decompress the pieces around them, not the block up to them.
      if (codec == Codec::kLz4 && IsPlainStringBlock(raw_kind)) CompressPiecesAppend(raw, out);
      else CompressAppend(codec, raw, 1, out);
      Status sealed = storage::SealBlockInPlace(aek, header.aek_generation, where, out, at, random);
      // A string block's terms' filter, sealed after it as a block of its own: a plain text
      // block's values' terms, a dictionary block's entries' (few: read from the encoded block).
      std::vector<uint8_t>& terms = scratch.s->terms;
      terms.clear();
      bool filter = false;
      if (sealed.ok() && schema[c].type == kql::Type::kString && (index & kTermFilterIndexBit) == 0) {
        TermFilterBuilder& builder = scratch.s->term_builder;
        if (IsPlainStringBlock(raw_kind)) {
          builder.Add(pieces);
          filter = true;
        } else {
          filter = ForEachDictEntry(raw, group_rows, [&](std::string_view entry, size_t readable) {
            builder.Add(entry, readable);
          });
        }
        if (filter) filter = builder.Finish(terms);
      }
      // No plaintext of this block stays in the kept buffer (each block wipes what it wrote, so
      // no earlier block's tail is left behind either; a failed seal wiped its own).
      WipeBytes(raw);
      RETURN_IF_ERROR(sealed);
      if (c == time_col && ext.kind == kIntExtremes) {
        tmin = std::min(tmin, ext.lo);
        tmax = std::max(tmax, ext.hi);
      }
      PutU64(footer, at - base);
      PutU32(footer, static_cast<uint32_t>(out.size() - at));
      PutU32(footer, nulls);
      if (!filter) {
        ext.Put(footer);
        continue;
      }
      storage::BlockAddress filter_where{header.id, index | kTermFilterIndexBit, schema[c].name};
      size_t filter_at = out.size();
      ReserveForBlock(out, CompressBound(Codec::kNone, terms.size()));
      out.resize(filter_at + storage::kBlockHeaderSize);
      CompressAppend(Codec::kNone, terms, 0, out);
      Status filter_sealed = storage::SealBlockInPlace(aek, header.aek_generation, filter_where, out, filter_at, random);
      WipeBytes(terms);  // what terms a block holds is its plaintext too
      RETURN_IF_ERROR(filter_sealed);
      footer.push_back(kTermFilter);
      PutU64(footer, filter_at - base);
      PutU64(footer, out.size() - filter_at);
    }
  }
  PutU64(footer, static_cast<uint64_t>(tmin));
  PutU64(footer, static_cast<uint64_t>(tmax));
  size_t footer_at = out.size();
  ReserveForBlock(out, CompressBound(Codec::kZstd, footer.size()));
  // The clear header is copied out first: `out` may not reallocate while the footer is sealed
  // in it (reserved above), but the AAD must not alias the bytes being encrypted either.
  std::vector<uint8_t> clear_header(out.begin() + static_cast<std::ptrdiff_t>(base),
                                    out.begin() + static_cast<std::ptrdiff_t>(header_end));
  storage::BlockAddress where{header.id, kFooterIndex, kFooterColumn, clear_header};
  out.resize(footer_at + storage::kBlockHeaderSize);
  CompressAppend(Codec::kZstd, footer, 1, out);
  RETURN_IF_ERROR(storage::SealBlockInPlace(aek, header.aek_generation, where, out, footer_at, random));
  uint32_t footer_size = static_cast<uint32_t>(out.size() - footer_at);
  footer_at -= base;
  PutU64(out, static_cast<uint64_t>(footer_at));
  PutU32(out, footer_size);
  out.insert(out.end(), kExtentMagic, kExtentMagic + 4);
  return ExtentSummary{rows, tmin, tmax};
}

Result<std::vector<uint8_t>> BuildExtent(const ExtentHeader& header, const std::string& workspace, const kql::Table& rows,
                                         const SecretBytes& aek, env::Random& random) {
  kql::Schema schema;
  for (size_t c = 0; c < rows.columns.size(); ++c) schema.push_back({rows.names[c], rows.columns[c].type});
  ASSIGN_OR_RETURN(Batch batch, Batch::FromTable(rows));
  const Batch* chunk = &batch;
  std::vector<uint8_t> out;
  RETURN_IF_ERROR(BuildExtent(header, workspace, rows.name, schema, std::span<const Batch* const>(&chunk, 1), aek,
                              Codec::kZstd, random, out)
                      .status());
  return out;
}

Result<ExtentHeader> ParseExtentHeader(std::span<const uint8_t> object) {
  if (object.size() < 28 + kTrailerSize || std::memcmp(object.data(), kExtentMagic, 4) != 0) return CorruptExtent("bad magic");
  if (object[4] != kExtentVersion && object[4] != kVersionUnboundHeader) {
    return CorruptExtent("unknown version " + std::to_string(object[4]));
  }
  ExtentHeader h;
  h.version = object[4];
  h.key_kind = static_cast<KeyKind>(object[5]);
  h.aek_generation = LoadU32(object.data() + 8);
  std::memcpy(h.id.data(), object.data() + 12, 16);
  std::span<const uint8_t> rest = object.subspan(28);
  if (!GetString(rest, h.account)) return CorruptExtent("account name");
  return h;
}

Result<ExtentReader> ExtentReader::Open(std::vector<uint8_t> object, const SecretBytes& aek, const ExtentPlace& expected) {
  return Open(std::make_shared<const MemoryObjectSource>(std::move(object)), aek, expected);
}

namespace {

// The object's clear header (magic .. account), read from its start: a first read that holds
// any account name a store writes, a second one for a longer name.
Result<std::vector<uint8_t>> ReadClearHeader(const ObjectSource& source) {
  const uint64_t size = source.size();
  if (size < 28 + kTrailerSize) return CorruptExtent("bad magic");
  ASSIGN_OR_RETURN(std::vector<uint8_t> head, source.Read(0, static_cast<size_t>(std::min<uint64_t>(size, 512))));
  if (std::memcmp(head.data(), kExtentMagic, 4) != 0) return CorruptExtent("bad magic");
  if (head[4] != kExtentVersion && head[4] != kVersionUnboundHeader) return CorruptExtent("unknown version " + std::to_string(head[4]));
  std::span<const uint8_t> rest = std::span<const uint8_t>(head).subspan(28);
  uint64_t n = 0;
  if (!GetVarint(rest, n) || n > size) return CorruptExtent("account name");
  uint64_t end = head.size() - rest.size() + n;
  if (end > size) return CorruptExtent("account name");
  if (end > head.size()) {
    ASSIGN_OR_RETURN(head, source.Read(0, static_cast<size_t>(end)));
  }
  head.resize(static_cast<size_t>(end));
  return head;
}

}  // namespace

Result<ExtentReader> ExtentReader::Open(std::shared_ptr<const ObjectSource> source, const SecretBytes& aek,
                                        const ExtentPlace& expected) {
  ExtentReader r;
  const uint64_t object_size = source->size();
  ASSIGN_OR_RETURN(std::vector<uint8_t> head, ReadClearHeader(*source));
  // The header is parsed from its own bytes (with a trailer's room after it, as the whole
  // object had): the checks are the whole object's.
  std::vector<uint8_t> parse = head;
  parse.resize(std::max<size_t>(parse.size(), 28 + kTrailerSize));
  ASSIGN_OR_RETURN(r.header_, ParseExtentHeader(parse));
  ASSIGN_OR_RETURN(std::vector<uint8_t> trailer, source->Read(object_size - kTrailerSize, kTrailerSize));
  const uint8_t* t = trailer.data();
  if (std::memcmp(t + 12, kExtentMagic, 4) != 0) return CorruptExtent("bad trailer");
  uint64_t at = LoadU64(t);
  uint32_t size = LoadU32(t + 8);
  if (at > object_size - kTrailerSize || size > object_size - kTrailerSize - at) return CorruptExtent("footer out of bounds");
  // Version 2: the clear header (magic .. account) is part of the footer's AAD.
  std::span<const uint8_t> clear_header;
  if (r.header_.version != kVersionUnboundHeader) clear_header = head;
  ASSIGN_OR_RETURN(std::vector<uint8_t> sealed_footer, source->Read(at, size));
  storage::BlockAddress where{r.header_.id, kFooterIndex, kFooterColumn, clear_header};
  ASSIGN_OR_RETURN(SecretBytes packed, storage::OpenBlock(aek, where, sealed_footer));
  ASSIGN_OR_RETURN(std::vector<uint8_t> footer, Decompress(packed.span()));
  std::span<const uint8_t> in(footer);
  uint64_t rows = 0, cols = 0, groups = 0;
  if (!GetString(in, r.info_.workspace) || !GetString(in, r.info_.table) || !GetVarint(in, rows) ||
      !GetVarint(in, cols) || cols > 4096) {
    return CorruptExtent("footer");
  }
  r.info_.rows = rows;
  for (uint64_t c = 0; c < cols; ++c) {
    kql::ColumnSchema s;
    if (!GetString(in, s.name) || in.empty() || in[0] > static_cast<uint8_t>(kql::Type::kDynamic)) return CorruptExtent("schema");
    s.type = static_cast<kql::Type>(in[0]);
    in = in.subspan(1);
    r.info_.schema.push_back(std::move(s));
  }
  if (!GetVarint(in, groups)) return CorruptExtent("groups");
  for (uint64_t g = 0; g < groups; ++g) {
    uint64_t n = 0;
    if (!GetVarint(in, n)) return CorruptExtent("group rows");
    r.group_rows_.push_back(static_cast<uint32_t>(n));
    for (uint64_t c = 0; c < cols; ++c) {
      if (in.size() < 17) return CorruptExtent("block entry");
      Block b;
      b.offset = LoadU64(in.data());
      b.size = LoadU32(in.data() + 8);
      b.nulls = LoadU32(in.data() + 12);
      b.extremes = in[16];
      in = in.subspan(17);
      if (b.extremes > kTermFilter || (b.extremes == kTermFilter && r.info_.schema[c].type != kql::Type::kString)) {
        return CorruptExtent("block extremes kind");
      }
      if (b.extremes != kNoExtremes) {
        if (in.size() < 16) return CorruptExtent("block min/max");
        b.min = LoadU64(in.data());
        b.max = LoadU64(in.data() + 8);
        in = in.subspan(16);
      }
      if (b.offset > at || b.size > at - b.offset) return CorruptExtent("block out of bounds");  // no wrapping sum
      if (b.extremes == kTermFilter && (b.min > at || b.max > at - b.min)) return CorruptExtent("term filter out of bounds");
      r.blocks_.push_back(b);
    }
  }
  if (in.size() != 16) return CorruptExtent("footer tail");
  r.info_.min_time = static_cast<int64_t>(LoadU64(in.data()));
  r.info_.max_time = static_cast<int64_t>(LoadU64(in.data() + 8));
  RETURN_IF_ERROR(CheckPlace(r.header_, r.info_, expected));
  r.source_ = std::move(source);
  return r;
}

Result<Codec> ExtentReader::BlockCodec(size_t group, size_t column, const SecretBytes& aek) const {
  const kql::Schema& schema = info_.schema;
  if (group >= group_rows_.size() || column >= schema.size()) return InvalidArgument("no such block");
  size_t index = group * schema.size() + column;
  const Block& b = blocks_[index];
  storage::BlockAddress where{header_.id, static_cast<uint32_t>(index), schema[column].name};
  ASSIGN_OR_RETURN(std::vector<uint8_t> sealed, source_->Read(b.offset, b.size));
  ASSIGN_OR_RETURN(SecretBytes frame, storage::OpenBlock(aek, where, sealed));
  std::optional<Codec> codec = FrameCodec(frame.span());
  if (!codec) return CorruptExtent("unknown codec");
  return *codec;
}

std::optional<std::pair<int64_t, int64_t>> ExtentReader::GroupTimeRange(size_t group) const {
  int time_col = ColumnIndex("TimeGenerated");
  if (time_col < 0 || group >= group_rows_.size()) return std::nullopt;
  const Block& tb = blocks_[group * info_.schema.size() + static_cast<size_t>(time_col)];
  if (tb.extremes != kIntExtremes) return std::nullopt;
  return std::make_pair(static_cast<int64_t>(tb.min), static_cast<int64_t>(tb.max));
}

std::optional<BlockExtremes> ExtentReader::Extremes(size_t group, size_t column) const {
  if (group >= group_rows_.size() || column >= info_.schema.size()) return std::nullopt;
  const Block& b = blocks_[group * info_.schema.size() + column];
  if (b.extremes != kIntExtremes && b.extremes != kRealExtremes) return std::nullopt;
  BlockExtremes x;
  x.real = b.extremes == kRealExtremes;
  x.nulls = b.nulls;
  if (x.real) {
    x.min_d = std::bit_cast<double>(b.min);
    x.max_d = std::bit_cast<double>(b.max);
  } else {
    x.min_i = static_cast<int64_t>(b.min);
    x.max_i = static_cast<int64_t>(b.max);
  }
  return x;
}

int ExtentReader::ColumnIndex(std::string_view name) const {
  // The last of equal names, as Read has always matched them.
  int found = -1;
  for (size_t c = 0; c < info_.schema.size(); ++c) {
    if (info_.schema[c].name == name) found = static_cast<int>(c);
  }
  return found;
}

namespace {

// This thread's buffers for block reads, reused block after block (fresh ones cost their
// zeroing, a pass over every byte): the sealed block, its opened (compressed) plaintext and
// the decompressed plaintext. Plaintexts are wiped once read, as the buffers they replace were.
struct ReadScratch {
  std::vector<uint8_t> sealed, packed, raw;
};
thread_local ReadScratch read_scratch;

std::span<uint8_t> Room(std::vector<uint8_t>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return std::span<uint8_t>(v.data(), n);
}

// Decompresses `packed` into this thread's buffer and decodes it with `decode`; the
// decompressed plaintext is wiped before returning.
Result<kql::Column> DecompressAndDecode(std::span<const uint8_t> packed,
                                        const std::function<Result<kql::Column>(std::span<const uint8_t>&)>& decode) {
  ASSIGN_OR_RETURN(std::span<uint8_t> raw, DecompressInto(packed, read_scratch.raw));
  std::span<const uint8_t> in(raw);
  auto decoded = decode(in);
  WipeBytes(raw);  // decompressed plaintext: wiped, not just freed
  return decoded;
}

}  // namespace

Result<std::span<uint8_t>> ExtentReader::ReadSealedInto(size_t group, size_t column,
                                                        storage::BlockAddress& where) const {
  const kql::Schema& schema = info_.schema;
  if (group >= group_rows_.size() || column >= schema.size())
    return InvalidArgument("no such block");
  uint32_t index = static_cast<uint32_t>(group * schema.size() + column);
  const Block& b = blocks_[index];
  where = storage::BlockAddress{header_.id, index, schema[column].name};
  std::span<uint8_t> sealed = Room(read_scratch.sealed, b.size);
  RETURN_IF_ERROR(source_->ReadInto(b.offset, sealed));
  return sealed;
}

Result<std::span<uint8_t>> ExtentReader::OpenPackedInto(size_t group, size_t column, const SecretBytes& aek) const {
  storage::BlockAddress where;
  ASSIGN_OR_RETURN(std::span<uint8_t> sealed, ReadSealedInto(group, column, where));
  std::span<uint8_t> packed = Room(read_scratch.packed, storage::OpenedSize(sealed));
  RETURN_IF_ERROR(storage::OpenBlockInto(aek, where, sealed, packed));
  return packed;
}

Result<kql::Column> ExtentReader::ReadBlock(size_t group, size_t column,
                                            const SecretBytes& aek) const {
  ASSIGN_OR_RETURN(std::span<uint8_t> packed, OpenPackedInto(group, column, aek));
  auto decoded = DecompressAndDecode(packed, [&](std::span<const uint8_t>& in) {
    return DecodeColumn(info_.schema[column].type, group_rows_[group], in);
  });
  WipeBytes(packed);
  return decoded;
}

Result<kql::Column> ExtentReader::ReadRows(size_t group, size_t column, const SecretBytes& aek,
                                           std::span<const uint32_t> wanted) const {
  ASSIGN_OR_RETURN(std::span<uint8_t> packed, OpenPackedInto(group, column, aek));
  auto decoded = DecodePackedRows(info_.schema[column].type, group_rows_[group], packed, wanted);
  WipeBytes(packed);
  return decoded;
}

Result<PackedBlock> ExtentReader::ReadPacked(size_t group, size_t column, const SecretBytes& aek) const {
  // Opened straight into the frame's own buffer: through the thread's buffer, a copy of each
  // frame (2.3 MB of messages a row group at 10M rows) was half of `sample 10`'s CPU.
  storage::BlockAddress where;
  ASSIGN_OR_RETURN(std::span<uint8_t> sealed, ReadSealedInto(group, column, where));
  auto frame = std::shared_ptr<std::vector<uint8_t>>(new std::vector<uint8_t>(storage::OpenedSize(sealed)),
                                                     [](std::vector<uint8_t>* v) {
                                                       WipeBytes(*v);
                                                       delete v;
                                                     });
  RETURN_IF_ERROR(storage::OpenBlockInto(aek, where, sealed, std::span<uint8_t>(*frame)));
  return PackedBlock(std::move(frame));
}

uint32_t ExtentReader::BlockStoredSize(size_t group, size_t column) const {
  if (group >= group_rows_.size() || column >= info_.schema.size()) return 0;
  return blocks_[group * info_.schema.size() + column].size;
}

bool ExtentReader::HasTermFilter(size_t group, size_t column) const {
  return group < group_rows_.size() && column < info_.schema.size() &&
         blocks_[group * info_.schema.size() + column].extremes == kTermFilter;
}

Result<PackedBlock> ExtentReader::ReadTermFilter(size_t group, size_t column, const SecretBytes& aek) const {
  if (!HasTermFilter(group, column)) return InvalidArgument("no such term filter");
  uint32_t index = static_cast<uint32_t>(group * info_.schema.size() + column);
  const Block& b = blocks_[index];
  storage::BlockAddress where{header_.id, index | kTermFilterIndexBit, info_.schema[column].name};
  ASSIGN_OR_RETURN(std::vector<uint8_t> sealed, source_->Read(b.min, static_cast<size_t>(b.max)));
  ASSIGN_OR_RETURN(SecretBytes framed, storage::OpenBlock(aek, where, sealed));
  auto filter = std::shared_ptr<std::vector<uint8_t>>(new std::vector<uint8_t>(), [](std::vector<uint8_t>* v) {
    WipeBytes(*v);
    delete v;
  });
  ASSIGN_OR_RETURN(std::span<uint8_t> raw, DecompressInto(framed.span(), *filter));
  filter->resize(raw.size());
  return PackedBlock(std::move(filter));
}

Result<kql::Column> DecodePackedStrings(kql::Type type, size_t rows, std::span<const uint8_t> packed,
                                        const std::function<bool(std::string_view)>& keep,
                                        const std::function<size_t(std::string_view, size_t)>& find,
                                        std::vector<uint32_t>& selected, bool& whole, bool any_kept_value) {
  return DecompressAndDecode(packed, [&](std::span<const uint8_t>& in) -> Result<kql::Column> {
    whole = whole || !IsPlainStringBlock(in);
    if (whole) return DecodeColumn(type, rows, in);
    return DecodeSelectedStrings(type, rows, in, keep, find, selected, any_kept_value);
  });
}

Result<kql::Column> DecodePackedRows(kql::Type type, size_t rows, std::span<const uint8_t> packed,
                                     std::span<const uint32_t> wanted) {
  // A top's few rows (the latest 100 fall in ~74 row groups at 10M rows, one or two each) need
  // the block only up to the last of them: decompressed that far, by the rows' share of the
  // block and a margin; a guess that falls short (values longer there than on average) is
  // retried on the whole block. The decompressed prefix is wiped as the whole block would be.
  if (IsPiecedFrame(packed)) {  // the pieces around each row (and the block's marks) alone
    ASSIGN_OR_RETURN(FrameRanges frame, FrameRanges::Open(packed, read_scratch.raw));
    auto decoded = DecodeFrameRows(type, rows, frame, wanted);
    frame.Wipe();
    return decoded;
  }
  std::optional<uint64_t> raw = FrameRawSize(packed);
  if (raw && !wanted.empty() && rows > 0 && wanted.back() < rows) {
    double share = static_cast<double>(wanted.back() + 1) / static_cast<double>(rows);
    // (+ the null bitmap ahead of the values, which is read whole: a bit a row.)
    size_t want = static_cast<size_t>(static_cast<double>(*raw) * std::min(1.0, share * 1.25)) + rows / 8 + 4096;
    if (want < *raw) {
      ASSIGN_OR_RETURN(std::span<uint8_t> prefix, DecompressPrefixInto(packed, want, read_scratch.raw));
      std::span<const uint8_t> in(prefix);
      // (A dictionary block is decoded whole: its codes follow its entries.)
      auto decoded = IsPlainStringBlock(in) ? DecodeStringRows(type, rows, in, wanted)
                                            : Result<kql::Column>(InvalidArgument("not a plain block"));
      WipeBytes(prefix);
      if (decoded.ok()) return decoded;
    }
  }
  return DecompressAndDecode(packed, [&](std::span<const uint8_t>& in) -> Result<kql::Column> {
    return DecodeStringRows(type, rows, in, wanted);
  });
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
  kql::Table out;
  out.name = info_.table;
  for (size_t c : want) out.AddColumn(schema[c].name, kql::Column(schema[c].type));
  for (size_t g = 0; g < group_rows_.size(); ++g) {
    if (auto range = GroupTimeRange(g); range && ((min_time && range->second < *min_time) ||
                                                  (max_time && range->first > *max_time))) {
      continue;
    }
    for (size_t k = 0; k < want.size(); ++k) {
      ASSIGN_OR_RETURN(kql::Column col, ReadBlock(g, want[k], aek));
      kql::Column& dst = out.columns[k];
      if (dst.stored() == 0 && !col.HasNulls() && dst.nulls.empty()) {
        dst = std::move(col);
        continue;
      }
      // A null mask once any group has nulls (earlier groups' rows then read as not null; the
      // first group's own mask is kept as is).
      size_t before = dst.stored();
      bool masked = col.HasNulls() || dst.HasNulls();
      if (masked) dst.nulls.resize(before, 0);
      dst.ints.insert(dst.ints.end(), col.ints.begin(), col.ints.end());
      dst.reals.insert(dst.reals.end(), col.reals.begin(), col.reals.end());
      if (col.packed() && dst.packed() && dst.chars.size() + col.chars.size() <= kql::kMaxPackedChars) {
        const uint32_t base = static_cast<uint32_t>(dst.chars.size());
        dst.chars.append(col.chars);
        for (size_t r = 1; r < col.offsets.size(); ++r) dst.offsets.push_back(base + col.offsets[r]);
      } else if (col.coded() || dst.coded() || col.packed() || dst.packed()) {  // each group has its own dictionary
        dst.Flatten();
        for (size_t r = 0; r < col.stored(); ++r) dst.strings.emplace_back(col.Str(r));
      } else {
        for (auto& s : col.strings) dst.strings.push_back(std::move(s));
      }
      if (masked) {
        if (col.HasNulls()) dst.nulls.insert(dst.nulls.end(), col.nulls.begin(), col.nulls.end());
        else dst.nulls.resize(before + group_rows_[g], 0);
      }
    }
    out.rows += group_rows_[g];
  }
  return out;
}

}  // namespace cmk::engine
