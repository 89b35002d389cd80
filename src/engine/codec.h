#pragma once
// Column encodings and compression for extent blocks and WAL records (docs/FORMAT.md §4).
//
// A column slice is encoded as: u8 encoding, u8 has_nulls, [null bitmap], payload:
//   kIntsDelta   zigzag varint deltas (datetime columns, counters: small deltas pay)
//   kIntsPlain   u64 LE values (when deltas would be larger)
//   kReals       f64 LE values
//   kStrings     varint length + bytes per value
//   kStringsMarked  the same after marks: varint every, varint count, count x u32 LE offset of
//                value k * every from the first value (plain blocks of more than 128 rows)
//   kDict        varint dictionary size, the distinct strings (varint length + bytes), u8 code
//                width (1, 2 or 4), then one code per row
// then the whole block is compressed (u8 codec: 0 none, 1 lz4, 2 zstd; varint raw size; bytes),
// or an extent's plain string block in independent LZ4 pieces (frame byte 3:
// CompressPiecesAppend), so that a few rows decompress only the pieces around them.
// Thread safety: reentrant.
#include <cstdint>
#include <functional>
#include <string_view>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/batch.h"
#include "kql/core/column.h"
#include "kql/engine.h"

namespace cmk::engine {

enum class Codec : uint8_t { kNone = 0, kLz4 = 1, kZstd = 2 };

// Rows [begin, end) of a column; a null `column` stands for that many nulls (a chunk without
// the column, or with it under another type).
struct ColumnPiece {
  const kql::Column* column = nullptr;
  size_t begin = 0, end = 0;
};

// The same over a memtable batch's column.
struct BatchPiece {
  const BatchColumn* column = nullptr;
  size_t begin = 0, end = 0;
};

// Encodes the rows of `pieces`, in order, as one block of type `type` (a block can gather rows
// of several memtable chunks without copying them into one column first).
// Without `dictionaries`, strings are always stored plainly (cheaper to write, larger).
void EncodeColumn(kql::Type type, std::span<const ColumnPiece> pieces, std::vector<uint8_t>& out,
                  bool dictionaries = true);
void EncodeColumn(kql::Type type, std::span<const BatchPiece> pieces, std::vector<uint8_t>& out,
                  bool dictionaries = true);
// Encodes rows [begin, end) of `c` (constant columns are expanded).
void EncodeColumn(const kql::Column& c, size_t begin, size_t end, std::vector<uint8_t>& out);
// Decodes `rows` values of type `type` from `in`, advancing it.
Result<kql::Column> DecodeColumn(kql::Type type, size_t rows, std::span<const uint8_t>& in);

// The rows of a string block whose value passes `keep` (and those whose value is null), as
// Gather(DecodeColumn(...), selected) would give them, their row numbers in `selected`: a
// plain block's values are tested where they lie and only the kept ones are built; a
// dictionary's entries are tested once each. When `find` is given (every value `keep` passes
// holds a needle it finds: kql::ValueTest::find), a plain block's values are searched as one
// text and only those holding an occurrence are tested. Advances `in` as DecodeColumn does.
// With `any_kept_value`, a plain block without nulls gives its kept rows one kept value, the
// first, dictionary-coded (one entry, a code per row), instead of their own: for a caller that
// needs which rows pass and that they pass, not their values (no string built per row).
Result<kql::Column> DecodeSelectedStrings(kql::Type type, size_t rows, std::span<const uint8_t>& in,
                                          const std::function<bool(std::string_view)>& keep,
                                          const std::function<size_t(std::string_view, size_t)>& find,
                                          std::vector<uint32_t>& selected, bool any_kept_value = false);

// The values of rows `wanted` (ascending, each below `rows`) of a string block, as
// Gather(DecodeColumn(...), wanted) would give them: a plain block's other values are stepped
// over, not built, and those after the last wanted row not read at all (so `in` may end
// there: a block decompressed only that far, DecompressPrefixInto). Advances `in` past the last
// wanted row's value (a dictionary block: as DecodeColumn does).
Result<kql::Column> DecodeStringRows(kql::Type type, size_t rows, std::span<const uint8_t>& in,
                                     std::span<const uint32_t> wanted);

// Whether an encoded block (a column slice as DecodeColumn reads it) holds plain strings (each
// value's bytes after its length), not a dictionary or numbers.
bool IsPlainStringBlock(std::span<const uint8_t> block);
// Calls `each` with every entry of a dictionary-coded string block of `rows` rows (EncodeColumn's
// bytes) and how many bytes from the entry's first may be read (those left in `block`): false,
// calling none, for any other block.
bool ForEachDictEntry(std::span<const uint8_t> block, size_t rows,
                      const std::function<void(std::string_view entry, size_t readable)>& each);

std::vector<uint8_t> Compress(Codec codec, std::span<const uint8_t> raw, int level = 1);
// The same frame appended to `out` (callers reuse its capacity). kNone stores `raw` as is.
void CompressAppend(Codec codec, std::span<const uint8_t> raw, int level, std::vector<uint8_t>& out);
// `raw` as LZ4 in independent pieces of `piece_bytes` decompressed bytes each (the last fewer):
// u8 3 | varint raw size | varint piece_bytes | varint count | count x u32 LE compressed size |
// the pieces. LZ4's window is 64 KiB, so pieces of 64 KiB cost ~1% of the ratio of one frame;
// a few rows of a 5 MB block of messages then decompress 64 KiB each instead of the block up to
// them (FrameRanges). No larger than one piece: a plain LZ4 frame (CompressAppend).
inline constexpr size_t kPieceBytes = 64 * 1024;
void CompressPiecesAppend(std::span<const uint8_t> raw, std::vector<uint8_t>& out, size_t piece_bytes = kPieceBytes);
// The most bytes CompressAppend can append for `raw_size` bytes (frame header included); for
// kLz4, also CompressPiecesAppend with kPieceBytes.
size_t CompressBound(Codec codec, size_t raw_size);
// The decompressed size a frame declares (its header: codec byte, varint size), nullopt when the
// header can't be read. Unchecked against the body: DecompressInto checks it.
std::optional<uint64_t> FrameRawSize(std::span<const uint8_t> framed);
// The codec a frame names (LZ4 for one in pieces), nullopt for an unknown one.
std::optional<Codec> FrameCodec(std::span<const uint8_t> framed);
// Whether the frame is LZ4 in pieces (CompressPiecesAppend).
bool IsPiecedFrame(std::span<const uint8_t> framed);
Result<std::vector<uint8_t>> Decompress(std::span<const uint8_t> framed);
// The same into `buf` (grown when too small, never shrunk: a reused buffer costs no zeroing):
// the decompressed bytes are its first (returned) span.
Result<std::span<uint8_t>> DecompressInto(std::span<const uint8_t> framed, std::vector<uint8_t>& buf);
// At least the first `want` decompressed bytes of the frame (all of them when it has fewer), into
// `buf` as DecompressInto: an LZ4 frame stops decoding soon after them
// (LZ4_decompress_safe_partial), the other codecs decode the whole frame.
Result<std::span<uint8_t>> DecompressPrefixInto(std::span<const uint8_t> framed, size_t want, std::vector<uint8_t>& buf);

// A frame's decompressed bytes by range: a frame in pieces decompresses only the pieces a range
// overlaps (each once), any other frame the whole of it at the first Need. Decompresses into
// `buf` (grown, never shrunk), at the bytes' own offsets; `framed` and `buf` must outlive it.
class FrameRanges {
 public:
  static Result<FrameRanges> Open(std::span<const uint8_t> framed, std::vector<uint8_t>& buf);
  uint64_t size() const { return raw_; }
  // Bytes [begin, min(end, size())) decompressed, readable at data() + begin.
  Status Need(uint64_t begin, uint64_t end);
  const uint8_t* data() const { return buf_->data(); }
  // Wipes every byte it decompressed (plaintext).
  void Wipe();

 private:
  FrameRanges(std::span<const uint8_t> framed, std::vector<uint8_t>& buf) : framed_(framed), buf_(&buf) {}
  Status NeedPiece(size_t k);

  std::span<const uint8_t> framed_;
  std::vector<uint8_t>* buf_;
  uint64_t raw_ = 0;
  uint64_t piece_bytes_ = 0;                    // 0: not in pieces
  std::vector<std::span<const uint8_t>> pieces_;  // compressed
  std::vector<bool> done_;                      // per piece (one entry when not in pieces)
};

// The values of rows `wanted` (ascending, each below `rows`) of a string block read through
// `frame`, as DecodeStringRows over the whole block: a plain block with marks decompresses only
// the pieces from the mark before each wanted row to its value; any other block is read whole.
Result<kql::Column> DecodeFrameRows(kql::Type type, size_t rows, FrameRanges& frame, std::span<const uint32_t> wanted);

// A whole table (names, types, rows) as bytes: the WAL's record payload.
// The WAL writes without dictionaries: its records live until the next flush, and hashing every
// string of every request cost more than the bytes it saved.
void EncodeTable(const kql::Table& t, std::vector<uint8_t>& out, bool dictionaries = true);
Result<kql::Table> DecodeTable(std::span<const uint8_t> in);

// Varints and fixed-width little-endian helpers shared by the engine's formats.
void PutVarint(std::vector<uint8_t>& out, uint64_t v);
bool GetVarint(std::span<const uint8_t>& in, uint64_t& v);
void PutString(std::vector<uint8_t>& out, std::string_view s);
bool GetString(std::span<const uint8_t>& in, std::string& s);
void PutU32(std::vector<uint8_t>& out, uint32_t v);
void PutU64(std::vector<uint8_t>& out, uint64_t v);
uint32_t LoadU32(const uint8_t* p);
uint64_t LoadU64(const uint8_t* p);
// CRC-32C (Castagnoli), to find torn WAL records.
uint32_t Crc32c(std::span<const uint8_t> data);

}  // namespace cmk::engine
