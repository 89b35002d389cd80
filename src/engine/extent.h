#pragma once
// Extents: immutable columnar segments of one table of one workspace (design.md §4, byte
// layout in docs/FORMAT.md §4). Rows are cut into groups of up to kRowsPerGroup; each column
// of each group is one block: encoded and compressed (codec.h), then sealed with AES-256-GCM
// under its own DEK (storage/sealed_block.h; block index = group * columns + column, AAD binds
// extent, block and column name). A sealed footer holds the schema and, per block, its place,
// null count and min/max (numbers, datetimes) for pruning. The clear header names the account
// and the AEK generation, never data; from format version 2 the footer's AAD binds that clear
// header, so the account it names is authenticated too. With double encryption the whole object
// is sealed again by the store (storage::SealObject).
// Integrity: an object opens only as the extent the catalogue expects (ExtentPlace): its
// authenticated extent id, workspace, table and (version 2) account must match, so an object
// copied over another extent's blob never serves its rows there.
// Reading: an ExtentReader reads its object through an ObjectSource (engine/object_source.h):
// the trailer, header and footer at Open, then each block's bytes when it is read, so an object
// in a hot-cache file (engine/cache_file.h) is read and decrypted only where a query needs it.
// Thread safety: ExtentReader is immutable after Open; reads are safe from several threads.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "engine/codec.h"
#include "engine/object_source.h"
#include "env/env.h"
#include "kql/core/column.h"
#include "kql/engine.h"
#include "storage/sealed_block.h"

namespace cmk::engine {

inline constexpr size_t kRowsPerGroup = 65536;

enum class KeyKind : uint8_t { kCustomer = 1, kService = 2 };

struct ExtentHeader {
  storage::ExtentId id{};
  uint32_t aek_generation = 1;
  KeyKind key_kind = KeyKind::kCustomer;
  std::string account;
  uint8_t version = 2;  // as read; objects are always written in the current version (2)
};

// Where the catalogue says an extent belongs. ExtentReader::Open refuses (DataLoss) an object
// whose authenticated identity differs: extent id (bound into every block's AAD), workspace and
// table (in the sealed footer), account (in the clear header, bound into the footer's AAD from
// version 2; version-1 objects are bound to their account only by its AEK, each account's own).
struct ExtentPlace {
  storage::ExtentId id{};
  std::string account;  // compared case-insensitively, as account ids are
  std::string workspace;
  std::string table;
};

struct ExtentInfo {
  std::string workspace;  // customer id
  std::string table;
  uint64_t rows = 0;
  int64_t min_time = 0, max_time = 0;  // TimeGenerated, ticks
  kql::Schema schema;
};

// An opened block's codec frame (ExtentReader::ReadPacked), wiped when released.
using PackedBlock = std::shared_ptr<const std::vector<uint8_t>>;

// A string block's codec frame (`packed`, ExtentReader::ReadPacked) decompressed into this
// thread's buffer (wiped after) and decoded: a plain block's rows whose value passes `keep`,
// their row numbers in `selected` (codec.h DecodeSelectedStrings), or every row, decoded whole
// (`whole` set), when `whole` was set by the caller or the block is a dictionary (its coded form
// is compact already). `any_kept_value` as for DecodeSelectedStrings.
Result<kql::Column> DecodePackedStrings(kql::Type type, size_t rows, std::span<const uint8_t> packed,
                                        const std::function<bool(std::string_view)>& keep,
                                        const std::function<size_t(std::string_view, size_t)>& find,
                                        std::vector<uint32_t>& selected, bool& whole, bool any_kept_value = false);

// The same frame decoded for rows `wanted` only (codec.h DecodeStringRows): from a frame in pieces
// (a plain text block's, BuildExtent) only the pieces around them (DecodeFrameRows), from an
// LZ4 frame its prefix up to them.
Result<kql::Column> DecodePackedRows(kql::Type type, size_t rows, std::span<const uint8_t> packed,
                                     std::span<const uint32_t> wanted);

struct ExtentSummary {
  uint64_t rows = 0;
  int64_t min_time = 0, max_time = 0;  // TimeGenerated, ticks (max < min when every one is null)
};

// Builds the (single-layer) object of the rows of `chunks`, in order, its column blocks
// compressed with `codec` (the footer always with zstd), appended to `out`
// (callers reuse its capacity, and may leave room before the object for an outer layer). Columns are `schema`'s, which must hold a datetime
// TimeGenerated; a chunk's column is matched by name, and read as nulls when the chunk lacks it
// or holds it under another type. The chunks are read in place: no concatenated copy.
Result<ExtentSummary> BuildExtent(const ExtentHeader& header, const std::string& workspace, const std::string& table,
                                  const kql::Schema& schema, std::span<const Batch* const> chunks,
                                  const SecretBytes& aek, Codec codec, env::Random& random, std::vector<uint8_t>& out);
// The same for one table (blocks in zstd), which must have a datetime TimeGenerated column.
Result<std::vector<uint8_t>> BuildExtent(const ExtentHeader& header, const std::string& workspace, const kql::Table& rows,
                                         const SecretBytes& aek, env::Random& random);

Result<ExtentHeader> ParseExtentHeader(std::span<const uint8_t> object);

// A block's least and greatest non-null value: integers (int, long, bool, datetime, timespan)
// or reals (real, decimal).
struct BlockExtremes {
  bool real = false;
  int64_t min_i = 0, max_i = 0;
  double min_d = 0, max_d = 0;
  uint32_t nulls = 0;  // the block's null count
};

class ExtentReader {
 public:
  // Opens the footer and checks that the object is the extent `expected` names. DataLoss for a
  // wrong key, damaged bytes, or an object of another place ("extent X failed its integrity
  // check: it belongs to ...").
  // Reads through `source` (kept: every block is read from it later). Errors of the source
  // (DataLoss: a hot-cache file that does not authenticate) are returned as they are, here and
  // by the reads below.
  static Result<ExtentReader> Open(std::shared_ptr<const ObjectSource> source, const SecretBytes& aek,
                                   const ExtentPlace& expected);
  // The same over an object in memory.
  static Result<ExtentReader> Open(std::vector<uint8_t> object, const SecretBytes& aek, const ExtentPlace& expected);
  const ExtentHeader& header() const { return header_; }
  const ExtentInfo& info() const { return info_; }
  // The named columns (all when empty) of the row groups whose TimeGenerated range meets
  // [min_time, max_time]; rows outside it may remain (the caller filters).
  Result<kql::Table> Read(const std::vector<std::string>& columns, std::optional<int64_t> min_time,
                          std::optional<int64_t> max_time, const SecretBytes& aek) const;
  // The compression codec of row group `group`'s block of column `column` (opens the block).
  Result<Codec> BlockCodec(size_t group, size_t column, const SecretBytes& aek) const;
  // Row groups, their rows, and their TimeGenerated range from the footer (nullopt when the
  // extent has no TimeGenerated or the group's are all null): what a scan prunes with.
  size_t groups() const { return group_rows_.size(); }
  uint32_t group_rows(size_t group) const { return group_rows_[group]; }
  std::optional<std::pair<int64_t, int64_t>> GroupTimeRange(size_t group) const;
  // Block (group, column)'s least and greatest non-null value from the footer; nullopt when it
  // has none recorded (strings, dynamic, all null, a real block holding NaN, or no such block).
  std::optional<BlockExtremes> Extremes(size_t group, size_t column) const;
  // The schema index of column `name` (case-sensitive), or -1.
  int ColumnIndex(std::string_view name) const;
  // Decodes one block: row group `group`'s values of column `column` (group_rows(group) values).
  // InvalidArgument for a block that doesn't exist; DataLoss/Corrupt for damaged bytes.
  Result<kql::Column> ReadBlock(size_t group, size_t column, const SecretBytes& aek) const;
  // Block (group, column) opened (decrypted, authenticated) and still compressed: its codec
  // frame, for a cache that keeps a large string column compact (DecodePackedStrings reads
  // it). Plaintext: the buffer is wiped when its last holder releases it.
  Result<PackedBlock> ReadPacked(size_t group, size_t column, const SecretBytes& aek) const;
  // Block (group, column)'s values of rows `wanted` (ascending) only: the block opened into this
  // thread's buffer (wiped after) and decoded as DecodePackedRows does, for a frame no one keeps.
  // A fresh buffer a block cost its zeroing and a page fault a page: `sample 10` at 10M rows
  // opens ~27 groups' 2.3 MB frames of messages for a row or two each, and those were over half
  // its CPU.
  Result<kql::Column> ReadRows(size_t group, size_t column, const SecretBytes& aek,
                               std::span<const uint32_t> wanted) const;
  // Whether block (group, column) has a term filter (engine/term_filter.h: plain text blocks
  // written since the filters were), and the filter opened (its bytes, wiped when released).
  bool HasTermFilter(size_t group, size_t column) const;
  // The bytes block (group, column) takes in the object, sealed (0 for no such block): its
  // compressed size and the seal's few bytes.
  uint32_t BlockStoredSize(size_t group, size_t column) const;
  Result<PackedBlock> ReadTermFilter(size_t group, size_t column, const SecretBytes& aek) const;

 private:
  // Reads block (group, column) and opens it into this thread's buffer: its compressed
  // plaintext (the caller wipes it).
  Result<std::span<uint8_t>> OpenPackedInto(size_t group, size_t column, const SecretBytes& aek) const;
  // Block (group, column) as stored (sealed), read into this thread's buffer, and its address.
  Result<std::span<uint8_t>> ReadSealedInto(size_t group, size_t column, storage::BlockAddress& where) const;
  struct Block {
    uint64_t offset = 0;
    uint32_t size = 0;
    uint32_t nulls = 0;
    uint8_t extremes = 0;   // none, integers, reals, term filter (docs/FORMAT.md §4)
    uint64_t min = 0, max = 0;  // as stored: integers, IEEE doubles' bits, or a filter's offset and size
  };
  ExtentHeader header_;
  ExtentInfo info_;
  std::vector<uint32_t> group_rows_;
  std::vector<Block> blocks_;  // group-major
  std::shared_ptr<const ObjectSource> source_;
};

}  // namespace cmk::engine
