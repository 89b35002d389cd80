// Fuzzes the column block decoders (engine/codec.h, engine/extent.h, engine/batch.h):
// DecodeColumn for every type, DecodeSelectedStrings with and without a search (and with any
// kept value), DecodeStringRows
// (against the whole decode), DecodePackedStrings and DecodePackedRows (its prefix of an LZ4
// frame, and the pieces of a frame in LZ4 pieces, against the block itself; the input itself as
// a frame, of either kind)
// over a compression frame, ParseBatchLayout and DecodeTable. Blocks reach them only after AES-GCM has authenticated them, so this is
// defence in depth: no input may crash, read out of bounds or loop, and where a plain string
// block decodes both ways the selected rows must be the decoded column's rows that the test
// keeps (a differential check of the one-search path against decoding every value), and so
// must the block's term index select for tests its terms decide.
//
// Input: byte 0 picks the type (its top bit: the row count is the next 8 bytes, LE, any value),
// bytes 1-2 the row count (LE), the rest is the block; the same bytes also go to the WAL's
// batch-layout parser and to the table record decoder. Frames that
// declare more than 8 MiB of decompressed bytes are skipped (a real frame's size was written
// by the encoder and authenticated; here it would only make the fuzzer allocate).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "engine/batch.h"
#include "engine/codec.h"
#include "engine/extent.h"
#include "engine/term_index.h"
#include "kql/functions/functions.h"

namespace {

using cmk::engine::DecodeColumn;
using cmk::engine::DecodePackedStrings;
using cmk::engine::DecodeSelectedStrings;
using cmk::kql::Type;

constexpr Type kTypes[] = {Type::kString, Type::kLong,     Type::kInt,     Type::kReal,  Type::kBool,
                           Type::kDateTime, Type::kTimespan, Type::kDynamic, Type::kGuid, Type::kDecimal};

// Reads every value of a decoded column as a query would (ASan reports a read out of bounds).
void Touch(const cmk::kql::Column& c, size_t rows) {
  if (c.stored() != rows) std::abort();
  size_t sum = 0;
  for (size_t r = 0; r < rows; ++r) {
    if (c.IsNull(r)) continue;
    if (cmk::kql::UsesInts(c.type)) sum += static_cast<size_t>(c.Int(r));
    else if (cmk::kql::UsesReals(c.type)) sum += c.Real(r) > 0;
    else sum += c.Str(r).size();
  }
  volatile size_t sink = sum;
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const Type type = kTypes[(data[0] & 0x7f) % std::size(kTypes)];
  size_t rows = size_t{data[1]} | size_t{data[2]} << 8;
  size_t at = 3;
  if ((data[0] & 0x80) != 0 && size >= 11) {  // any count, up to 2^64 - 1
    rows = 0;
    for (size_t i = 0; i < 8; ++i) rows |= size_t{data[1 + i]} << (8 * i);
    at = 9;
  }
  const std::span<const uint8_t> block(data + at, size - at);

  // Whole records built of blocks: the WAL's batch layout and the older table record.
  if (auto batch = cmk::engine::ParseBatchLayout(block); batch.ok()) {
    size_t sum = 0;
    for (const auto& col : batch->columns) {
      if (col.size() != batch->rows || (col.HasNulls() && col.nulls.size() != batch->rows)) std::abort();
      for (size_t r = 0; r < batch->rows; ++r) {
        sum += col.IsNull(r);
        if (cmk::kql::UsesStrings(col.type)) sum += col.Str(r).size();
      }
    }
    volatile size_t sink = sum;
    (void)sink;
  }
  if (auto table = cmk::engine::DecodeTable(block); table.ok()) {
    for (const auto& col : table->columns) Touch(col, table->rows);
  }
  static const cmk::kql::ValueTest test = cmk::kql::StringValueTest("contains", "ab");

  std::span<const uint8_t> in = block;
  auto whole = DecodeColumn(type, rows, in);
  if (whole.ok()) Touch(*whole, rows);

  for (bool search : {false, true}) {
    std::span<const uint8_t> sin = block;
    std::vector<uint32_t> selected;
    auto some = DecodeSelectedStrings(Type::kString, rows, sin, test.keep, search ? test.find : nullptr, selected);
    if (some.ok()) Touch(*some, selected.size());
    if (!some.ok() || !whole.ok() || type != Type::kString || whole->coded()) continue;
    // Both decoded the same plain block: the selection is the kept rows, in order, with their values.
    std::vector<uint32_t> want;
    for (size_t r = 0; r < rows; ++r) {
      if (whole->IsNull(r) || test.keep(whole->Str(r))) want.push_back(static_cast<uint32_t>(r));
    }
    if (selected != want || some->stored() != want.size()) std::abort();
    for (size_t i = 0; i < want.size(); ++i) {
      if (some->Str(i) != whole->Str(want[i])) std::abort();
    }
    // Any kept value: the same rows, each with a value the test keeps (or its own null).
    std::span<const uint8_t> ain = block;
    std::vector<uint32_t> any_selected;
    auto any = DecodeSelectedStrings(Type::kString, rows, ain, test.keep, search ? test.find : nullptr, any_selected, true);
    if (!any.ok() || any_selected != want || any->stored() != want.size()) std::abort();
    for (size_t i = 0; i < want.size(); ++i) {
      if (any->IsNull(i) != whole->IsNull(want[i])) std::abort();
      if (!any->IsNull(i) && !test.keep(any->Str(i))) std::abort();
    }
  }

  // The block's term index (engine/term_index.h), where it decodes as plain strings: for tests
  // its terms decide, the rows it selects are the rows each value's test keeps (or null).
  if (whole.ok() && type == Type::kString && !whole->coded() && rows <= cmk::engine::kRowsPerGroup) {
    auto index = cmk::engine::TermIndex::Build(*whole, rows);
    static const std::vector<cmk::kql::ValueTest> term_tests = {
        cmk::kql::StringValueTest("contains", "ab"), cmk::kql::StringValueTest("has", "ab"),
        cmk::kql::StringValueTest("hasprefix_cs", "A1"), cmk::kql::StringValueTest("!hassuffix", "b"),
        cmk::kql::StringValueTest("startswith", "a"), cmk::kql::StringValueTest("endswith_cs", "b1")};
    for (const cmk::kql::ValueTest& t : term_tests) {
      if (!t.by_terms) std::abort();
      std::vector<uint32_t> got, want;
      index->Select(t.term_keep, t.term_find, got, nullptr, t.terms_negated, t.terms_first, t.terms_last);
      for (size_t r = 0; r < rows; ++r) {
        if (whole->IsNull(r) || t.keep(whole->Str(r))) want.push_back(static_cast<uint32_t>(r));
      }
      if (got != want) std::abort();
    }
    // A needle of several terms' candidates (ValueTest::term_candidates): every row its test
    // keeps (or null) is among them.
    static const std::vector<cmk::kql::ValueTest> candidate_tests = {
        cmk::kql::StringValueTest("has", "a.1"), cmk::kql::StringValueTest("contains_cs", "b c"),
        cmk::kql::StringValueTest("endswith", "a-b"), cmk::kql::StringValueTest("startswith", "A-")};
    for (const cmk::kql::ValueTest& t : candidate_tests) {
      if (t.by_terms || t.term_candidates.empty()) std::abort();
      std::vector<uint32_t> got;
      index->Candidates(t.term_candidates, got);
      for (size_t r = 0; r < rows; ++r) {
        if ((whole->IsNull(r) || t.keep(whole->Str(r))) &&
            !std::binary_search(got.begin(), got.end(), static_cast<uint32_t>(r))) {
          std::abort();
        }
      }
    }
  }

  // Every third row of a string block and the last: what decoding it whole and gathering them
  // gives (the rows after the last wanted one are not read, so the last is wanted: the whole
  // block is then walked and checked as DecodeColumn checks it).
  if (cmk::kql::UsesStrings(type) && rows <= block.size()) {
    std::vector<uint32_t> wanted;
    for (size_t r = 0; r < rows; r += 3) wanted.push_back(static_cast<uint32_t>(r));
    if (rows > 0 && wanted.back() != rows - 1) wanted.push_back(static_cast<uint32_t>(rows - 1));
    std::span<const uint8_t> rin = block;
    auto picked = cmk::engine::DecodeStringRows(type, rows, rin, wanted);
    if (picked.ok()) Touch(*picked, wanted.size());
    if (picked.ok() != whole.ok()) std::abort();
    if (picked.ok()) {
      for (size_t i = 0; i < wanted.size(); ++i) {
        if (picked->IsNull(i) != whole->IsNull(wanted[i]) || picked->Str(i) != whole->Str(wanted[i])) std::abort();
      }
    }
  }

  if (cmk::engine::FrameRawSize(block).value_or(SIZE_MAX) <= (size_t{8} << 20)) {
    std::vector<uint32_t> selected;
    bool decoded_whole = false;
    auto packed = DecodePackedStrings(type, rows, block, test.keep, test.find, selected, decoded_whole);
    if (packed.ok()) Touch(*packed, decoded_whole ? rows : selected.size());
    // The input as a frame, a few early rows wanted: decoded from a prefix of it when it is an
    // LZ4 frame (DecompressPrefixInto), or whole; never out of bounds.
    if (cmk::kql::UsesStrings(type) && rows > 0 && rows <= block.size()) {
      std::vector<uint32_t> early = {0};
      if (rows > 8) early.push_back(static_cast<uint32_t>(rows / 8));
      auto picked = cmk::engine::DecodePackedRows(type, rows, block, early);
      if (picked.ok()) Touch(*picked, early.size());
    }
  }
  // The block compressed as an extent's is: its early rows from a prefix of the frame (the
  // whole block when the guess falls short) are the rows the block itself gives.
  if (cmk::kql::UsesStrings(type) && rows > 0 && rows <= block.size()) {
    std::vector<uint8_t> frame;
    cmk::engine::CompressAppend(cmk::engine::Codec::kLz4, block, 1, frame);
    std::vector<uint32_t> early = {0};
    if (rows > 8) early.push_back(static_cast<uint32_t>(rows / 8));
    std::span<const uint8_t> in = block;
    auto direct = cmk::engine::DecodeStringRows(type, rows, in, early);
    auto framed = cmk::engine::DecodePackedRows(type, rows, frame, early);
    if (direct.ok() != framed.ok()) std::abort();
    if (direct.ok()) {
      for (size_t i = 0; i < early.size(); ++i) {
        if (direct->IsNull(i) != framed->IsNull(i) || direct->Str(i) != framed->Str(i)) std::abort();
      }
    }
    // In LZ4 pieces of 64 bytes (as a text block's, of 64 KiB): the rows read from the pieces
    // around them (a marked block jumps to the mark before each, which the direct walk checked
    // on its way) are the direct read's whenever that one succeeds.
    std::vector<uint8_t> pieces;
    cmk::engine::CompressPiecesAppend(block, pieces, 64);
    auto pieced = cmk::engine::DecodePackedRows(type, rows, pieces, early);
    if (pieced.ok()) Touch(*pieced, early.size());
    if (direct.ok()) {
      if (!pieced.ok()) std::abort();
      for (size_t i = 0; i < early.size(); ++i) {
        if (direct->IsNull(i) != pieced->IsNull(i) || direct->Str(i) != pieced->Str(i)) std::abort();
      }
    }
  }
  return 0;
}
