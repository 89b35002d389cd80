#include "engine/codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "base/encoding.h"
#include "base/testing.h"
#include "engine/extent.h"
#include "kql/functions/functions.h"

namespace cmk::engine {
namespace {

using testing::IsOk;
using testing::StatusIs;

// A string column's values, coded or not.
std::vector<std::string> Texts(const kql::Column& c) {
  std::vector<std::string> out;
  for (size_t r = 0; r < c.stored(); ++r) out.emplace_back(c.Str(r));
  return out;
}

kql::Column RoundTrip(const kql::Column& c, size_t rows) {
  std::vector<uint8_t> buf;
  EncodeColumn(c, 0, rows, buf);
  std::span<const uint8_t> in(buf);
  auto out = DecodeColumn(c.type, rows, in);
  EXPECT_THAT(out, IsOk());
  EXPECT_TRUE(in.empty());
  return out.ok() ? std::move(*out) : kql::Column();
}

TEST(CodecTest, Crc32cMatchesTheStandardCheckValue) { EXPECT_EQ(Crc32c(AsBytes("123456789")), 0xE3069283u); }

TEST(CodecTest, HostIsLittleEndianAsTheDictionaryCodesAssume) {
  uint32_t v = 1;
  uint8_t b;
  std::memcpy(&b, &v, 1);
  EXPECT_EQ(b, 1);
}

TEST(CodecTest, DatetimesRoundTripThroughDeltas) {
  kql::Column c(kql::Type::kDateTime);
  for (int i = 0; i < 1000; ++i) c.AppendInt(17'000'000'000'000'000 + i * 10'000'000LL);
  c.AppendInt(-5);
  kql::Column out = RoundTrip(c, c.ints.size());
  EXPECT_EQ(out.ints, c.ints);
  std::vector<uint8_t> buf;
  EncodeColumn(c, 0, c.ints.size(), buf);
  EXPECT_LT(buf.size(), c.ints.size() * 8 * 6 / 10);  // one-second deltas take 4 bytes, not 8
}

TEST(CodecTest, RandomIntsFallBackToPlainAndKeepNulls) {
  kql::Column c(kql::Type::kLong);
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 100; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    if (i % 7 == 0) c.AppendNull();
    else c.AppendInt(static_cast<int64_t>(x));
  }
  kql::Column out = RoundTrip(c, 100);
  EXPECT_EQ(out.ints, c.ints);
  EXPECT_EQ(out.nulls, c.nulls);
}

// A dictionary larger than a Column's 16-bit codes reach (a block of more than 131,072 rows with
// half of them distinct) reads back as plain strings; smaller ones stay coded, 2 bytes a row.
TEST(CodecTest, DictionariesPastSixteenBitCodesReadAsPlainStrings) {
  for (size_t distinct : {size_t{65536}, size_t{70000}}) {
    kql::Column c(kql::Type::kString);
    for (size_t i = 0; i < 2 * distinct; ++i) c.AppendString("v" + std::to_string(i / 2));  // each twice, in pairs
    kql::Column out = RoundTrip(c, 2 * distinct);
    EXPECT_EQ(out.coded(), distinct <= kql::kMaxDictEntries) << distinct;
    if (out.coded()) {
      EXPECT_EQ(out.dict->size(), distinct);
    }
    EXPECT_EQ(Texts(out), c.strings) << distinct;
  }
}

TEST(CodecTest, StringsUseADictionaryWhenValuesRepeat) {
  kql::Column c(kql::Type::kString);
  for (int i = 0; i < 300; ++i) c.AppendString("host" + std::to_string(i % 3));
  std::vector<uint8_t> buf;
  EncodeColumn(c, 0, 300, buf);
  EXPECT_LT(buf.size(), 400u);
  kql::Column coded = RoundTrip(c, 300);
  EXPECT_TRUE(coded.coded());  // decoded as codes into the block's dictionary
  ASSERT_EQ(coded.dict->size(), 3u);
  EXPECT_EQ(Texts(coded), c.strings);
  coded.Flatten();
  EXPECT_FALSE(coded.coded());
  EXPECT_EQ(coded.strings, c.strings);
  kql::Column u(kql::Type::kString);
  for (int i = 0; i < 300; ++i) u.AppendString("unique message " + std::to_string(i));
  kql::Column plain = RoundTrip(u, 300);
  EXPECT_FALSE(plain.coded());
  EXPECT_TRUE(plain.packed());
  EXPECT_EQ(Texts(plain), Texts(u));
}

// A dictionary block's entries are listed from its bytes (with nulls, whose bitmap comes
// first), each with the bytes readable after it; other blocks and cut ones list none.
TEST(CodecTest, DictionaryEntriesAreListedFromTheBlock) {
  kql::Column c(kql::Type::kString);
  for (int i = 0; i < 300; ++i) {
    if (i % 7 == 0) c.AppendNull();
    else c.AppendString("host" + std::to_string(i % 3));
  }
  std::vector<uint8_t> buf;
  EncodeColumn(c, 0, 300, buf);
  std::vector<std::string> entries;
  auto list = [&](std::span<const uint8_t> block) {
    entries.clear();
    return ForEachDictEntry(block, 300, [&](std::string_view e, size_t readable) {
      EXPECT_LE(e.size(), readable);
      EXPECT_LE(reinterpret_cast<const uint8_t*>(e.data()) + readable, block.data() + block.size());
      entries.emplace_back(e);
    });
  };
  ASSERT_TRUE(list(buf));
  std::sort(entries.begin(), entries.end());
  entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
  std::vector<std::string> hosts = {"host0", "host1", "host2"};
  for (const std::string& h : hosts) EXPECT_TRUE(std::binary_search(entries.begin(), entries.end(), h)) << h;
  for (const std::string& e : entries) EXPECT_TRUE(e.empty() || e.starts_with("host")) << e;  // a null's entry
  for (size_t cut : {size_t{0}, size_t{1}, size_t{2}, size_t{45}, size_t{48}, size_t{52}}) {
    EXPECT_FALSE(list(std::span<const uint8_t>(buf).first(cut))) << cut;
    EXPECT_TRUE(entries.empty()) << cut;
  }
  kql::Column u(kql::Type::kString);
  for (int i = 0; i < 300; ++i) u.AppendString("unique message " + std::to_string(i));
  std::vector<uint8_t> plain;
  EncodeColumn(u, 0, 300, plain);
  EXPECT_FALSE(list(plain));
  EXPECT_TRUE(entries.empty());
}

TEST(CodecTest, PiecesOfSeveralColumnsEncodeAsTheirConcatenationWithNullPiecesAsNulls) {
  kql::Column a(kql::Type::kString), b(kql::Type::kString);
  for (int i = 0; i < 40; ++i) a.AppendString("a" + std::to_string(i % 3));
  for (int i = 0; i < 30; ++i) b.AppendString("b" + std::to_string(i));
  std::vector<ColumnPiece> pieces = {{&a, 5, 40}, {nullptr, 0, 4}, {&b, 0, 30}};
  std::vector<uint8_t> buf;
  EncodeColumn(kql::Type::kString, pieces, buf);
  std::span<const uint8_t> in(buf);
  auto out = DecodeColumn(kql::Type::kString, 69, in);
  ASSERT_THAT(out, IsOk());
  ASSERT_EQ(out->stored(), 69u);
  ASSERT_EQ(out->nulls.size(), 69u);
  for (size_t r = 0; r < 69; ++r) {
    bool null = r >= 35 && r < 39;
    EXPECT_EQ(out->nulls[r] != 0, null) << r;
    std::string want = r < 35 ? "a" + std::to_string((r + 5) % 3) : null ? "" : "b" + std::to_string(r - 39);
    EXPECT_EQ(out->Str(r), want) << r;
  }
  // Numbers: a datetime piece with its own nulls, a missing piece, a constant.
  kql::Column t(kql::Type::kDateTime), k = kql::Column::Constant(kql::Type::kDateTime);
  t.AppendInt(100);
  t.AppendNull();
  t.AppendInt(300);
  k.AppendInt(7);
  std::vector<ColumnPiece> nums = {{&t, 0, 3}, {nullptr, 0, 2}, {&k, 0, 2}};
  buf.clear();
  EncodeColumn(kql::Type::kDateTime, nums, buf);
  in = buf;
  auto n = DecodeColumn(kql::Type::kDateTime, 7, in);
  ASSERT_THAT(n, IsOk());
  EXPECT_EQ(n->ints, (std::vector<int64_t>{100, 0, 300, 0, 0, 7, 7}));
  EXPECT_EQ(n->nulls, (std::vector<uint8_t>{0, 1, 0, 1, 1, 0, 0}));
}

TEST(CodecTest, CompressAppendKeepsWhatTheBufferHoldsAndStoresWhenAskedTo) {
  std::string text(5000, 'x');
  for (auto codec : {Codec::kNone, Codec::kLz4, Codec::kZstd}) {
    std::vector<uint8_t> buf = {9, 9};
    CompressAppend(codec, AsBytes(text), 1, buf);
    EXPECT_EQ(buf[0], 9);
    EXPECT_EQ(buf[2], static_cast<uint8_t>(codec));
    if (codec != Codec::kNone) {
      EXPECT_LT(buf.size(), 200u);
    }
    auto raw = Decompress(std::span<const uint8_t>(buf).subspan(2));
    ASSERT_THAT(raw, IsOk());
    EXPECT_EQ(std::string(raw->begin(), raw->end()), text);
  }
}

TEST(CodecTest, RealsAndConstantsRoundTrip) {
  kql::Column r(kql::Type::kReal);
  r.AppendReal(1.5);
  r.AppendNull();
  r.AppendReal(-0.25);
  kql::Column out = RoundTrip(r, 3);
  EXPECT_EQ(out.reals[0], 1.5);
  EXPECT_TRUE(out.IsNull(1));
  EXPECT_EQ(out.reals[2], -0.25);
  kql::Column k = kql::Column::Constant(kql::Type::kString);
  k.strings.push_back("same");
  EXPECT_EQ(Texts(RoundTrip(k, 20)), std::vector<std::string>(20, "same"));
}

// A block of no rows, of every type, decodes to an empty column (the reals' copy of no bytes
// from an empty vector was undefined behaviour, found by tests/fuzz/codec_fuzz under UBSan).
TEST(CodecTest, EveryTypeDecodesABlockOfNoRows) {
  for (kql::Type t : {kql::Type::kBool, kql::Type::kInt, kql::Type::kLong, kql::Type::kReal, kql::Type::kDecimal,
                      kql::Type::kString, kql::Type::kDateTime, kql::Type::kTimespan, kql::Type::kGuid,
                      kql::Type::kDynamic}) {
    kql::Column empty(t);
    std::vector<uint8_t> buf;
    EncodeColumn(empty, 0, 0, buf);
    std::span<const uint8_t> in(buf);
    auto c = DecodeColumn(t, 0, in);
    ASSERT_THAT(c, IsOk()) << static_cast<int>(t);
    EXPECT_EQ(c->stored(), 0u);
    EXPECT_TRUE(in.empty());
  }
}

// A row count larger than the block can hold (a damaged count, up to 2^64 - 1) is DataLoss
// before anything is sized by it, for every encoding, with and without a null bitmap.
TEST(CodecTest, ARowCountPastTheBlocksBytesIsRefusedBeforeAnyAllocation) {
  std::vector<std::pair<kql::Type, kql::Column>> columns;
  kql::Column ints(kql::Type::kLong), reals(kql::Type::kReal), plain(kql::Type::kString), coded(kql::Type::kString);
  for (int i = 0; i < 40; ++i) {
    ints.AppendInt(i * 1000003);
    reals.AppendReal(i * 0.5);
    plain.AppendString("value " + std::to_string(i));
    coded.AppendString(i % 2 == 0 ? "a" : "b");
    if (i == 7) ints.AppendNull(), reals.AppendNull(), plain.AppendNull(), coded.AppendNull();
  }
  for (const kql::Column* c : {&ints, &reals, &plain, &coded}) {
    std::vector<uint8_t> buf;
    EncodeColumn(*c, 0, c->stored(), buf);
    for (size_t rows : {buf.size(), size_t{1} << 40, SIZE_MAX - 6, SIZE_MAX}) {
      std::span<const uint8_t> in(buf);
      EXPECT_THAT(DecodeColumn(c->type, rows, in), StatusIs(StatusCode::kDataLoss)) << rows;
      if (c->type != kql::Type::kString) continue;
      std::span<const uint8_t> sin(buf);
      std::vector<uint32_t> selected;
      auto test = kql::StringValueTest("contains", "1");
      EXPECT_THAT(DecodeSelectedStrings(c->type, rows, sin, test.keep, nullptr, selected),
                  StatusIs(StatusCode::kDataLoss))
          << rows;
    }
  }
}

TEST(CodecTest, CompressionRoundTripsAndRejectsDamage) {
  std::string text(100000, 'a');
  for (Codec codec : {Codec::kNone, Codec::kLz4, Codec::kZstd}) {
    auto packed = Compress(codec, AsBytes(text));
    auto raw = Decompress(packed);
    ASSERT_THAT(raw, IsOk());
    EXPECT_EQ(std::string(raw->begin(), raw->end()), text);
  }
  for (Codec codec : {Codec::kNone, Codec::kLz4, Codec::kZstd}) {
    EXPECT_EQ(FrameRawSize(Compress(codec, AsBytes(text))), text.size());  // what the header declares
  }
  EXPECT_EQ(FrameRawSize({}), std::nullopt);
  const uint8_t cut[] = {static_cast<uint8_t>(Codec::kLz4), 0x80};  // the size's varint unfinished
  EXPECT_EQ(FrameRawSize(cut), std::nullopt);
  auto packed = Compress(Codec::kZstd, AsBytes(text));
  packed.resize(packed.size() / 2);
  EXPECT_THAT(Decompress(packed), StatusIs(StatusCode::kDataLoss));
}

TEST(CodecTest, CorruptColumnsAreDataLossNotCrashes) {
  kql::Column c(kql::Type::kString);
  for (int i = 0; i < 50; ++i) c.AppendString("v" + std::to_string(i % 5));
  std::vector<uint8_t> buf;
  EncodeColumn(c, 0, 50, buf);
  for (size_t cut = 0; cut < buf.size(); ++cut) {
    std::span<const uint8_t> in(buf.data(), cut);
    EXPECT_FALSE(DecodeColumn(kql::Type::kString, 50, in).ok());
  }
  std::span<const uint8_t> in(buf);
  EXPECT_THAT(DecodeColumn(kql::Type::kLong, 50, in), StatusIs(StatusCode::kDataLoss));
}

TEST(CodecTest, TablesRoundTrip) {
  kql::Table t;
  kql::Column a(kql::Type::kDateTime), b(kql::Type::kDynamic);
  a.AppendInt(1);
  a.AppendInt(2);
  b.AppendString("{\"x\":1}");
  b.AppendNull();
  t.AddColumn("TimeGenerated", std::move(a));
  t.AddColumn("Props", std::move(b));
  t.rows = 2;
  std::vector<uint8_t> buf;
  EncodeTable(t, buf);
  auto out = DecodeTable(buf);
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(out->names, t.names);
  EXPECT_EQ(Texts(out->columns[1]), t.columns[1].strings);
  EXPECT_TRUE(out->columns[1].IsNull(1));
}

// DecodeStringRows gives the wanted rows of a plain block, a dictionary block and a dynamic block
// with nulls as decoding it whole and gathering them does; it refuses rows out of order or out
// of the block, and a truncated block.
TEST(CodecTest, StringRowsEqualTheWholeBlockGathered) {
  kql::Column plain(kql::Type::kString), few(kql::Type::kString), dyn(kql::Type::kDynamic);
  for (int i = 0; i < 300; ++i) {
    plain.AppendString("value " + std::to_string(i) + std::string(static_cast<size_t>(i % 7) * 40, 'x'));
    few.AppendString(i % 3 == 0 ? "a" : "b");
    if (i % 5 == 0) dyn.AppendNull();
    else dyn.AppendString("{\"k\":" + std::to_string(i) + "}");
  }
  const std::vector<uint32_t> wanted = {0, 1, 17, 150, 298, 299};
  for (const kql::Column* c : {&plain, &few, &dyn}) {
    std::vector<uint8_t> buf;
    ColumnPiece piece{c, 0, 300};
    EncodeColumn(c->type, std::span<const ColumnPiece>(&piece, 1), buf);
    std::span<const uint8_t> whole_in(buf), in(buf);
    auto whole = DecodeColumn(c->type, 300, whole_in);
    ASSERT_THAT(whole, IsOk());
    auto got = DecodeStringRows(c->type, 300, in, wanted);
    ASSERT_THAT(got, IsOk());
    EXPECT_TRUE(in.empty());
    ASSERT_EQ(got->stored(), wanted.size());
    for (size_t i = 0; i < wanted.size(); ++i) {
      EXPECT_EQ(got->IsNull(i), whole->IsNull(wanted[i])) << i;
      EXPECT_EQ(got->Str(i), whole->Str(wanted[i])) << i;
    }
    std::span<const uint8_t> again(buf);
    EXPECT_THAT(DecodeStringRows(c->type, 300, again, std::vector<uint32_t>{5, 4}), ::testing::Not(IsOk()));
    again = buf;
    EXPECT_THAT(DecodeStringRows(c->type, 300, again, std::vector<uint32_t>{300}), ::testing::Not(IsOk()));
    std::span<const uint8_t> cut(buf.data(), buf.size() / 2);
    EXPECT_THAT(DecodeStringRows(c->type, 300, cut, wanted), ::testing::Not(IsOk()));
  }
  // A plain block's rows need the block only up to the last of them: a prefix that holds it
  // serves (the rows after are not read), one that doesn't is refused.
  {
    std::vector<uint8_t> buf;
    ColumnPiece piece{&plain, 0, 300};
    EncodeColumn(plain.type, std::span<const ColumnPiece>(&piece, 1), buf);
    std::span<const uint8_t> whole_in(buf);
    auto whole = DecodeColumn(plain.type, 300, whole_in);
    ASSERT_THAT(whole, IsOk());
    std::span<const uint8_t> half(buf.data(), buf.size() / 2);
    const std::vector<uint32_t> early = {0, 17, 100};
    auto got = DecodeStringRows(plain.type, 300, half, early);
    ASSERT_THAT(got, IsOk());
    for (size_t i = 0; i < early.size(); ++i) EXPECT_EQ(got->Str(i), whole->Str(early[i])) << i;
    std::span<const uint8_t> again(buf.data(), buf.size() / 2);
    EXPECT_THAT(DecodeStringRows(plain.type, 300, again, std::vector<uint32_t>{0, 250}), ::testing::Not(IsOk()));
  }
  EXPECT_TRUE(IsPlainStringBlock([&] {
    std::vector<uint8_t> buf;
    ColumnPiece piece{&plain, 0, 300};
    EncodeColumn(plain.type, std::span<const ColumnPiece>(&piece, 1), buf);
    return buf;
  }()));
}

// An LZ4 frame's first bytes alone (DecompressPrefixInto) are its first bytes; DecodePackedRows
// decompresses a plain block only as far as its rows' share and a margin, and when the guess
// falls short (the values are longer there than on average) decodes the whole block: the rows
// are those the whole block gathered gives, for plain, dictionary and skewed blocks.
TEST(CodecTest, PackedRowsNeedTheBlockOnlyUpToTheirLast) {
  kql::Column plain(kql::Type::kString), skewed(kql::Type::kString), front(kql::Type::kString),
      few(kql::Type::kString);
  for (int i = 0; i < 20000; ++i) {
    plain.AppendString("message " + std::to_string(i * 7919 % 100003) + " of the run");
    skewed.AppendString(i < 19000 ? std::string("s") : std::string(2000, static_cast<char>('a' + i % 26)));
    // Long values first: the rows' share of the block falls far short of where row 1500 is.
    front.AppendString(i < 1000 ? std::string(2000, static_cast<char>('a' + i % 26)) : "f" + std::to_string(i));
    few.AppendString(i % 3 == 0 ? "alpha" : "beta");
  }
  for (const kql::Column* c : {&plain, &skewed, &front, &few}) {
    std::vector<uint8_t> raw, frame;
    ColumnPiece piece{c, 0, 20000};
    EncodeColumn(c->type, std::span<const ColumnPiece>(&piece, 1), raw);
    CompressAppend(Codec::kLz4, raw, 1, frame);
    std::vector<uint8_t> scratch;
    auto prefix = DecompressPrefixInto(frame, 1000, scratch);
    ASSERT_THAT(prefix, IsOk());
    ASSERT_GE(prefix->size(), 1000u);
    EXPECT_TRUE(std::equal(prefix->begin(), prefix->begin() + 1000, raw.begin()));
    std::span<const uint8_t> whole_in(raw);
    auto whole = DecodeColumn(c->type, 20000, whole_in);
    ASSERT_THAT(whole, IsOk());
    for (std::vector<uint32_t> wanted : {std::vector<uint32_t>{3}, std::vector<uint32_t>{0, 5000, 9000},
                                         std::vector<uint32_t>{1500}, std::vector<uint32_t>{19500},
                                         std::vector<uint32_t>{18999, 19000}, std::vector<uint32_t>{19999}}) {
      auto got = DecodePackedRows(c->type, 20000, frame, wanted);
      ASSERT_THAT(got, IsOk());
      ASSERT_EQ(got->stored(), wanted.size());
      for (size_t i = 0; i < wanted.size(); ++i) EXPECT_EQ(got->Str(i), whole->Str(wanted[i])) << wanted[i];
    }
  }
}

// LZ4 in pieces (CompressPiecesAppend): the whole frame decompresses to its bytes; any range read
// through FrameRanges is those bytes, and only the pieces it overlaps are decompressed (the
// buffer's other bytes keep what they held); a block no larger than a piece is one LZ4 frame.
TEST(CodecTest, PiecedFramesDecompressOnlyThePiecesARangeNeeds) {
  std::string text;
  for (int i = 0; text.size() < 10500; ++i) text += "line " + std::to_string(i * 7919 % 100003) + " of the run\n";
  const std::span<const uint8_t> raw = AsBytes(text);
  for (size_t size : {size_t{0}, size_t{1}, size_t{999}, size_t{1000}, size_t{1001}, size_t{10500}}) {
    std::vector<uint8_t> frame;
    CompressPiecesAppend(raw.first(size), frame, 1000);
    EXPECT_EQ(IsPiecedFrame(frame), size > 1000) << size;
    EXPECT_EQ(FrameCodec(frame), Codec::kLz4);
    EXPECT_EQ(FrameRawSize(frame), size);
    EXPECT_LE(frame.size(), CompressBound(Codec::kLz4, size)) << size;  // (pieces of 1,000: more per piece than the bound's 64 KiB)
    auto whole = Decompress(frame);
    ASSERT_THAT(whole, IsOk()) << size;
    EXPECT_TRUE(std::equal(whole->begin(), whole->end(), raw.begin(), raw.begin() + static_cast<long>(size)));
  }
  std::vector<uint8_t> frame;
  CompressPiecesAppend(raw, frame, 1000);  // 11 pieces, the last of 500 bytes
  std::vector<uint8_t> buf(raw.size(), 0xAA);
  auto ranges = FrameRanges::Open(frame, buf);
  ASSERT_THAT(ranges, IsOk());
  EXPECT_EQ(ranges->size(), raw.size());
  ASSERT_THAT(ranges->Need(2500, 3500), IsOk());  // pieces 2 and 3
  EXPECT_TRUE(std::equal(buf.begin() + 2000, buf.begin() + 4000, raw.begin() + 2000));
  EXPECT_TRUE(std::all_of(buf.begin(), buf.begin() + 2000, [](uint8_t b) { return b == 0xAA; }));
  EXPECT_TRUE(std::all_of(buf.begin() + 4000, buf.end(), [](uint8_t b) { return b == 0xAA; }));
  ASSERT_THAT(ranges->Need(10400, 20000), IsOk());  // the last piece, the end clipped
  EXPECT_TRUE(std::equal(buf.begin() + 10000, buf.end(), raw.begin() + 10000));
  ASSERT_THAT(ranges->Need(0, 1), IsOk());
  EXPECT_TRUE(std::equal(buf.begin(), buf.begin() + 1000, raw.begin()));
  ranges->Wipe();  // what it decompressed, and nothing else
  EXPECT_TRUE(std::all_of(buf.begin(), buf.begin() + 1000, [](uint8_t b) { return b == 0; }));
  EXPECT_TRUE(std::all_of(buf.begin() + 1000, buf.begin() + 2000, [](uint8_t b) { return b == 0xAA; }));
  auto prefix = DecompressPrefixInto(frame, 1500, buf);
  ASSERT_THAT(prefix, IsOk());
  ASSERT_EQ(prefix->size(), 1500u);
  EXPECT_TRUE(std::equal(prefix->begin(), prefix->end(), raw.begin()));
}

// A frame in pieces that doesn't add up is DataLoss, never a read past it: pieces smaller than
// 64 bytes, a count that doesn't cover the size, sizes past the body or short of it, pieces cut
// at the wrong places.
TEST(CodecTest, DamagedPiecedFramesAreDataLoss) {
  std::string text;
  for (int i = 0; text.size() < 5500; ++i) text += "value " + std::to_string(i) + ";";
  text.resize(5500);
  std::vector<uint8_t> frame;
  CompressPiecesAppend(AsBytes(text), frame, 1000);
  ASSERT_TRUE(IsPiecedFrame(frame));
  auto fails = [&](std::vector<uint8_t> bad, const char* what) {
    std::vector<uint8_t> buf;
    EXPECT_THAT(Decompress(bad), StatusIs(StatusCode::kDataLoss)) << what;
    auto ranges = FrameRanges::Open(bad, buf);
    if (ranges.ok()) {
      EXPECT_THAT(ranges->Need(0, text.size()), StatusIs(StatusCode::kDataLoss)) << what;
    }
  };
  // Header: u8 3, varint size (2 bytes), varint 1000 (2 bytes), varint count, u32 sizes.
  ASSERT_EQ(frame[5], 6);  // 5,xxx bytes in pieces of 1,000
  auto at = [&](size_t i, uint8_t v) {
    std::vector<uint8_t> bad = frame;
    bad[i] = v;
    return bad;
  };
  ASSERT_EQ(text.size(), 5500u);
  fails(at(5, 5), "a count short of the size");
  fails(at(5, 0x7f), "a count past the size");
  fails(at(3, 0x20), "pieces of 32 bytes");  // varint 1000 = e8 07 -> a0 00 is not, 0x20 alone is 32
  std::vector<uint8_t> longer = frame;
  longer.push_back(0);
  fails(longer, "a byte past the last piece");
  std::vector<uint8_t> shorter(frame.begin(), frame.end() - 1);
  fails(shorter, "the last piece cut");
  std::vector<uint8_t> zero = frame;
  std::memset(zero.data() + 6, 0, 4);
  fails(zero, "an empty piece");
  std::vector<uint8_t> swapped = frame;  // the first two pieces' sizes swapped: each cut wrong
  ASSERT_NE(LoadU32(frame.data() + 6), LoadU32(frame.data() + 10));
  std::memcpy(swapped.data() + 6, frame.data() + 10, 4);
  std::memcpy(swapped.data() + 10, frame.data() + 6, 4);
  fails(swapped, "pieces cut at the wrong places");
}

// A plain block past 128 rows marks every 128th value; a mark that disagrees with the values is
// corrupt for DecodeColumn and for a walk past it (a read that starts at it stays within the
// frame); 128 rows or fewer carry none.
TEST(CodecTest, PlainBlocksMarkEveryHundredAndTwentyEighthValue) {
  kql::Column c(kql::Type::kString);
  for (int i = 0; i < 300; ++i) c.AppendString(std::string(static_cast<size_t>(i % 17), 'x') + std::to_string(i));
  std::vector<uint8_t> few, many;
  EncodeColumn(c, 0, 128, few);
  EncodeColumn(c, 0, 300, many);
  EXPECT_EQ(few[0], 4);   // kStrings
  EXPECT_EQ(many[0], 6);  // kStringsMarked
  EXPECT_TRUE(IsPlainStringBlock(many));
  EXPECT_EQ(Texts(RoundTrip(c, 300)), Texts(c));
  // u8 6, u8 0, varint 128, varint 3, then the marks: 0, then where value 128 starts.
  ASSERT_EQ(many[2], (128 & 0x7f) | 0x80);
  ASSERT_EQ(many[4], 3);
  EXPECT_EQ(LoadU32(many.data() + 5), 0u);
  std::vector<uint8_t> bad = many;
  bad[5 + 4] ^= 1;  // value 128's mark
  std::span<const uint8_t> in(bad);
  EXPECT_THAT(DecodeColumn(c.type, 300, in), StatusIs(StatusCode::kDataLoss));
  std::span<const uint8_t> rows_in(bad);
  std::vector<uint32_t> past = {200};
  EXPECT_THAT(DecodeStringRows(c.type, 300, rows_in, past), StatusIs(StatusCode::kDataLoss));
  std::vector<uint8_t> frame;
  CompressPiecesAppend(bad, frame, 256);
  std::vector<uint8_t> buf;
  auto ranges = FrameRanges::Open(frame, buf);
  ASSERT_THAT(ranges, IsOk());
  std::vector<uint32_t> jumps = {130};  // from mark 1, wrong by one byte: the length read is not value 128's
  auto jumped = DecodeFrameRows(c.type, 300, *ranges, jumps);
  if (jumped.ok()) {
    EXPECT_NE(jumped->Str(0), c.Str(130));  // (whatever it reads, it stays in the frame)
  }
  std::vector<uint32_t> before = {100, 127};  // before the bad mark: read from mark 0
  auto read = DecodeFrameRows(c.type, 300, *ranges, before);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->Str(1), c.Str(127));
}

// Rows read through a frame in pieces are those the whole block gathered gives, for plain
// blocks with and without nulls, values longer than a piece, empty values, and dictionary and
// small blocks (read whole); a few rows decompress the block's first piece (its header and
// marks) and the pieces from the mark before each row to its value, no others.
TEST(CodecTest, FrameRowsReadOnlyThePiecesAroundThem) {
  kql::Column plain(kql::Type::kString), nulls(kql::Type::kString), lengthy(kql::Type::kString),
      few(kql::Type::kString);
  for (int i = 0; i < 20000; ++i) {
    plain.AppendString("message " + std::to_string(i * 7919 % 100003) + " of the run");
    if (i % 5 == 0) nulls.AppendNull();
    else nulls.AppendString(i % 7 == 0 ? std::string() : "n" + std::to_string(i));
    lengthy.AppendString(i % 1000 == 3 ? std::string(5000, static_cast<char>('a' + i % 26)) : "l" + std::to_string(i));
    few.AppendString(i % 3 == 0 ? "alpha" : "beta");
  }
  for (const kql::Column* c : {&plain, &nulls, &lengthy, &few}) {
    std::vector<uint8_t> raw, frame;
    ColumnPiece piece{c, 0, 20000};
    EncodeColumn(c->type, std::span<const ColumnPiece>(&piece, 1), raw);
    CompressPiecesAppend(raw, frame, 4096);
    ASSERT_TRUE(IsPiecedFrame(frame));
    std::span<const uint8_t> whole_in(raw);
    auto whole = DecodeColumn(c->type, 20000, whole_in);
    ASSERT_THAT(whole, IsOk());
    for (std::vector<uint32_t> wanted :
         {std::vector<uint32_t>{3}, std::vector<uint32_t>{0, 5000, 9000}, std::vector<uint32_t>{127, 128, 129},
          std::vector<uint32_t>{3003, 3004}, std::vector<uint32_t>{19500}, std::vector<uint32_t>{19999},
          std::vector<uint32_t>{255, 256, 12003, 19998, 19999}}) {
      std::vector<uint8_t> buf(raw.size(), 0xAA);
      auto ranges = FrameRanges::Open(frame, buf);
      ASSERT_THAT(ranges, IsOk());
      auto got = DecodeFrameRows(c->type, 20000, *ranges, wanted);
      ASSERT_THAT(got, IsOk());
      ASSERT_EQ(got->stored(), wanted.size());
      for (size_t i = 0; i < wanted.size(); ++i) {
        EXPECT_EQ(got->IsNull(i), whole->IsNull(wanted[i])) << wanted[i];
        EXPECT_EQ(got->Str(i), whole->Str(wanted[i])) << wanted[i];
      }
      size_t untouched = static_cast<size_t>(std::count(buf.begin(), buf.end(), uint8_t{0xAA}));
      if (c == &few) {
        EXPECT_LT(untouched, raw.size() / 100);  // a dictionary block: read whole
      } else if (c == &plain && wanted.size() == 1) {
        EXPECT_GT(untouched, raw.size() - 4 * 4096);  // the first piece, the one or two around the row
      }
      auto again = DecodePackedRows(c->type, 20000, frame, wanted);  // the scan's entry point
      ASSERT_THAT(again, IsOk());
      for (size_t i = 0; i < wanted.size(); ++i) EXPECT_EQ(again->Str(i), whole->Str(wanted[i]));
    }
  }
}

// DecodeSelectedStrings gives what decoding the whole block and gathering the rows whose value
// passes (or is null) gives, for plain blocks, dictionary blocks and blocks with nulls, value by
// value and with the block searched as one text (a finder: every positive match operator).
TEST(CodecTest, SelectedStringsEqualTheWholeBlockGathered) {
  using Keep = std::function<bool(std::string_view)>;
  using Find = std::function<size_t(std::string_view, size_t)>;
  auto check = [&](const kql::Column& c, size_t rows, bool dictionaries, const Keep& keep, const Find& find,
                   const std::string& what) {
    std::vector<uint8_t> buf;
    ColumnPiece piece{&c, 0, rows};
    EncodeColumn(c.type, std::span<const ColumnPiece>(&piece, 1), buf, dictionaries);
    std::span<const uint8_t> whole_in(buf), in(buf);
    auto whole = DecodeColumn(c.type, rows, whole_in);
    ASSERT_THAT(whole, IsOk()) << what;
    std::vector<uint32_t> want;
    for (size_t r = 0; r < rows; ++r) {
      if (whole->IsNull(r) || keep(whole->Str(r))) want.push_back(static_cast<uint32_t>(r));
    }
    std::vector<uint32_t> selected;
    auto got = DecodeSelectedStrings(c.type, rows, in, keep, find, selected);
    ASSERT_THAT(got, IsOk()) << what;
    EXPECT_TRUE(in.empty()) << what;
    EXPECT_EQ(selected, want) << what;
    ASSERT_EQ(got->stored(), want.size()) << what;
    EXPECT_EQ(got->coded(), whole->coded()) << what;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got->Str(i), whole->Str(want[i])) << what << " " << i;
      EXPECT_EQ(got->IsNull(i), whole->IsNull(want[i])) << what << " " << i;
    }
    // Bytes after the last value (the search runs over the rest of the block) select nothing,
    // whatever they hold, and are left unread.
    const std::string after = "tTimeout 7 xtz";
    std::vector<uint8_t> more = buf;
    more.insert(more.end(), after.begin(), after.end());
    std::span<const uint8_t> more_in(more);
    std::vector<uint32_t> more_selected;
    auto again = DecodeSelectedStrings(c.type, rows, more_in, keep, find, more_selected);
    ASSERT_THAT(again, IsOk()) << what;
    EXPECT_EQ(more_selected, want) << what;
    EXPECT_EQ(more_in.size(), after.size()) << what;
    // Any kept value: the same rows; a plain block without nulls gives them its first kept
    // value, coded, others as above.
    std::span<const uint8_t> any_in(buf);
    std::vector<uint32_t> any_selected;
    auto any = DecodeSelectedStrings(c.type, rows, any_in, keep, find, any_selected, true);
    ASSERT_THAT(any, IsOk()) << what;
    EXPECT_TRUE(any_in.empty()) << what;
    EXPECT_EQ(any_selected, want) << what;
    bool one_value = !whole->coded() && !whole->HasNulls();
    if (one_value && !want.empty()) {
      ASSERT_TRUE(any->coded()) << what;
      EXPECT_EQ(*any->dict, std::vector<std::string>{std::string(whole->Str(want[0]))}) << what;
      EXPECT_EQ(any->codes, std::vector<kql::Code>(want.size(), 0)) << what;
    } else {
      ASSERT_EQ(any->stored(), want.size()) << what;
      for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(any->Str(i), whole->Str(want[i])) << what << " " << i;
    }
  };
  kql::Column unique(kql::Type::kString), repeated(kql::Type::kString);
  for (size_t r = 0; r < 300; ++r) {
    unique.AppendString("message " + std::to_string(r * 13));
    repeated.AppendString("host-" + std::to_string(r % 9));
  }
  kql::Column holes = unique;
  holes.nulls.assign(300, 0);
  for (size_t r = 0; r < 300; r += 11) holes.nulls[r] = 1;
  // Lengths whose varint byte is a letter of the needle ('t' is 116, 'X' 88), values ending in
  // the needle's first letters and starting with its last: occurrences that straddle a length
  // or two values must not select a row; nulls and empty values among them.
  kql::Column edges(kql::Type::kString);
  for (size_t r = 0; r < 50; ++r) {
    std::string v;
    switch (r % 10) {
      case 0: v = std::string(115, 'a') + "x"; break;         // ends "x", next length 't'
      case 1: v = std::string(115, 'z') + "t"; break;         // length byte 't', ends "t"
      case 2: v = "t" + std::string(87, 'b') + "Ti"; break;   // length 'Z' (90), ends "ti"
      case 3: v = "meout and timeout"; break;
      case 4: v = ""; break;
      case 5: v = std::string(116, 'q') + "xT"; break;        // holds "xt" case-insensitively
      case 6: v = "TIMEOUT"; break;
      case 7: v = "tzt"; break;
      case 8: v = "t" + std::string(115, 'a'); break;       // length 't', its one "t" first
      default: v = std::string(150, 'c') + " TimeOut " + std::string(100, 'x') + "t"; break;  // 2-byte length
    }
    edges.AppendString(v);
  }
  edges.nulls.assign(50, 0);
  for (size_t r = 6; r < 50; r += 16) edges.nulls[r] = 1;
  struct Test {
    std::string op, needle;
  };
  for (const Test& t : std::vector<Test>{{"contains", "7"}, {"contains", "t"}, {"contains", "xt"}, {"contains", "tz"},
                                         {"contains_cs", "xT"}, {"contains", "timeout"}, {"has", "timeout"},
                                         {"has", "meout"}, {"hasprefix", "time"}, {"startswith", "t"},
                                         {"endswith", "ti"}, {"=~", "timeout"}, {"==", "tzt"}, {"==", ""},
                                         {"!contains", "x"}, {"contains", ""}, {"contains", "zzzzzzzzzzzzzzzzzzzzzzzzz"}}) {
    kql::ValueTest test = kql::StringValueTest(t.op, t.needle);
    ASSERT_TRUE(test.keep) << t.op;
    EXPECT_EQ(static_cast<bool>(test.find), t.op[0] != '!' && !t.needle.empty() && t.op != "startswith")
        << t.op << " " << t.needle;
    for (const Find& find : {Find{}, test.find}) {
      std::string what = t.op + " " + t.needle + (find ? " (one search)" : " (each value)");
      check(unique, 300, true, test.keep, find, "plain: " + what);
      check(repeated, 300, true, test.keep, find, "dictionary: " + what);
      check(repeated, 300, false, test.keep, find, "plain, repeating: " + what);
      check(holes, 300, false, test.keep, find, "plain with nulls: " + what);
      check(holes, 300, true, test.keep, find, "with nulls: " + what);
      check(edges, 50, false, test.keep, find, "edges: " + what);
    }
  }
  auto keep = [](std::string_view v) { return v.find("7") != std::string_view::npos; };
  // A damaged block is DataLoss, as DecodeColumn's; other column types are refused.
  std::vector<uint8_t> buf;
  EncodeColumn(unique, 0, 300, buf);
  buf.resize(buf.size() / 2);
  std::span<const uint8_t> in(buf);
  std::vector<uint32_t> selected;
  EXPECT_THAT(DecodeSelectedStrings(kql::Type::kString, 300, in, keep, nullptr, selected),
              StatusIs(StatusCode::kDataLoss));
  std::span<const uint8_t> in1(buf);
  EXPECT_THAT(DecodeSelectedStrings(kql::Type::kString, 300, in1, keep, kql::StringValueTest("contains", "7").find,
                                    selected),
              StatusIs(StatusCode::kDataLoss));
  std::span<const uint8_t> in2(buf);
  EXPECT_THAT(DecodeSelectedStrings(kql::Type::kLong, 300, in2, keep, nullptr, selected),
              StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace cmk::engine
