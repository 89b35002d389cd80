#include "engine/extent.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "base/testing.h"
#include "engine/term_filter.h"
#include "kql/functions/terms.h"

namespace cmk::engine {
namespace {

using testing::IsOk;
using testing::StatusIs;

constexpr int64_t kBase = 17'000'000'000'000'000;

// A memtable chunk of `rows` rows starting at row `first` of the whole table.
kql::Table Chunk(size_t first, size_t rows, bool with_level, kql::Type id_type) {
  kql::Table t;
  t.name = "Logs";
  kql::Column time(kql::Type::kDateTime), level(kql::Type::kString), id(id_type);
  for (size_t r = first; r < first + rows; ++r) {
    time.AppendInt(kBase + static_cast<int64_t>(r) * 10'000'000);
    level.AppendString(r % 2 ? "Error" : "Info");
    if (id_type == kql::Type::kLong) id.AppendInt(static_cast<int64_t>(r));
    else id.AppendString("id" + std::to_string(r));
  }
  t.AddColumn("TimeGenerated", std::move(time));
  if (with_level) t.AddColumn("Level", std::move(level));
  t.AddColumn("Id", std::move(id));
  t.rows = rows;
  return t;
}

TEST(ExtentTest, ChunksAcrossRowGroupsBuildOneExtentWithMissingAndRetypedColumnsAsNulls) {
  // 3 chunks, 100,000 rows: the first row group ends inside the second chunk; the second chunk
  // lacks Level, the third holds Id as a string (the schema says long).
  std::vector<kql::Table> chunks;
  chunks.push_back(Chunk(0, 40'000, true, kql::Type::kLong));
  chunks.push_back(Chunk(40'000, 40'000, false, kql::Type::kLong));
  chunks.push_back(Chunk(80'000, 20'000, true, kql::Type::kString));
  std::vector<Batch> batches;
  for (const auto& c : chunks) batches.push_back(*Batch::FromTable(c));
  std::vector<const Batch*> ptrs;
  for (const auto& b : batches) ptrs.push_back(&b);
  kql::Schema schema = {{"TimeGenerated", kql::Type::kDateTime}, {"Level", kql::Type::kString}, {"Id", kql::Type::kLong}};
  env::SecureRandom random;
  SecretBytes aek = random.NewSecret(32);
  ExtentHeader h;
  random.Fill(h.id);
  h.account = "acct";
  std::vector<uint8_t> object = {1, 2, 3};  // room before the object (an outer layer's header)
  auto built = BuildExtent(h, "ws", "Logs", schema, ptrs, aek, Codec::kLz4, random, object);
  ASSERT_THAT(built, IsOk());
  ASSERT_EQ(object[0], 1);
  object.erase(object.begin(), object.begin() + 3);
  EXPECT_EQ(built->rows, 100'000u);
  EXPECT_EQ(built->min_time, kBase);
  EXPECT_EQ(built->max_time, kBase + 99'999LL * 10'000'000);

  auto reader = ExtentReader::Open(object, aek, ExtentPlace{h.id, "acct", "ws", "Logs"});
  ASSERT_THAT(reader, IsOk());
  EXPECT_EQ(reader->info().rows, 100'000u);
  EXPECT_EQ(reader->info().table, "Logs");
  auto t = reader->Read({}, std::nullopt, std::nullopt, aek);
  ASSERT_THAT(t, IsOk());
  ASSERT_EQ(t->rows, 100'000u);
  const kql::Column& time = t->columns[0];
  const kql::Column& level = t->columns[1];
  const kql::Column& id = t->columns[2];
  for (size_t r = 0; r < 100'000; r += 997) {
    EXPECT_EQ(time.Int(r), kBase + static_cast<int64_t>(r) * 10'000'000) << r;
    bool no_level = r >= 40'000 && r < 80'000;
    EXPECT_EQ(level.IsNull(r), no_level) << r;
    if (!no_level) {
      EXPECT_EQ(level.Str(r), r % 2 ? "Error" : "Info") << r;
    }
    EXPECT_EQ(id.IsNull(r), r >= 80'000) << r;
    if (r < 80'000) {
      EXPECT_EQ(id.Int(r), static_cast<int64_t>(r)) << r;
    }
  }
  // Row-group pruning by TimeGenerated still works: only the second group meets the range.
  auto late = reader->Read({"Id"}, kBase + 90'000LL * 10'000'000, std::nullopt, aek);
  ASSERT_THAT(late, IsOk());
  EXPECT_EQ(late->rows, 100'000u - 65'536u);
  // The same rows as one table build an extent that reads back the same.
  auto one = BuildExtent(h, "ws", chunks[0], aek, random);
  ASSERT_THAT(one, IsOk());
  auto r1 = ExtentReader::Open(*one, aek, ExtentPlace{h.id, "acct", "ws", "Logs"});
  ASSERT_THAT(r1, IsOk());
  EXPECT_EQ(r1->info().rows, 40'000u);
}

// `b` built into an extent of `schema` with `codec` (account "acct", workspace "ws", table
// "Logs") under `aek`, and opened.
std::optional<ExtentReader> BuildWithCodec(const Batch& b, const kql::Schema& schema, Codec codec, env::Random& random,
                                           const SecretBytes& aek) {
  const Batch* ptr = &b;
  ExtentHeader h;
  random.Fill(h.id);
  h.account = "acct";
  std::vector<uint8_t> object;
  Status built = BuildExtent(h, "ws", "Logs", schema, std::span<const Batch* const>(&ptr, 1), aek, codec, random, object).status();
  EXPECT_THAT(built, IsOk());
  if (!built.ok()) return std::nullopt;
  auto reader = ExtentReader::Open(object, aek, ExtentPlace{h.id, "acct", "ws", "Logs"});
  EXPECT_THAT(reader, IsOk());
  if (!reader.ok()) return std::nullopt;
  return std::move(*reader);
}

TEST(ExtentTest, BlocksUseTheRequestedCodec) {
  auto b = Batch::FromTable(Chunk(0, 5000, true, kql::Type::kString));
  ASSERT_THAT(b, IsOk());
  kql::Schema schema = {{"TimeGenerated", kql::Type::kDateTime}, {"Level", kql::Type::kString}, {"Id", kql::Type::kString}};
  env::SecureRandom random;
  SecretBytes aek = random.NewSecret(32);
  for (Codec codec : {Codec::kZstd, Codec::kLz4}) {
    std::optional<ExtentReader> reader = BuildWithCodec(*b, schema, codec, random, aek);
    ASSERT_TRUE(reader.has_value());
    for (size_t c = 0; c < schema.size(); ++c) {
      auto got = reader->BlockCodec(0, c, aek);
      ASSERT_THAT(got, IsOk());
      EXPECT_EQ(*got, codec) << schema[c].name;
    }
    EXPECT_THAT(reader->BlockCodec(1, 0, aek), StatusIs(StatusCode::kInvalidArgument));
  }
}

// `t` built into an extent of account "acct", workspace "ws" under `aek`, and opened.
std::optional<ExtentReader> BuildAndOpen(const kql::Table& t, env::Random& random, const SecretBytes& aek) {
  ExtentHeader h;
  random.Fill(h.id);
  h.account = "acct";
  auto object = BuildExtent(h, "ws", t, aek, random);
  EXPECT_THAT(object, IsOk());
  if (!object.ok()) return std::nullopt;
  auto reader = ExtentReader::Open(std::move(*object), aek, ExtentPlace{h.id, "acct", "ws", ""});
  EXPECT_THAT(reader, IsOk());
  if (!reader.ok()) return std::nullopt;
  return std::move(*reader);
}

// With LZ4, a plain text block past 64 KiB is stored in pieces (its codec still LZ4), and a few of
// its rows read from them are the block's; dictionary and numeric blocks, and every block under
// zstd, are single frames.
TEST(ExtentTest, APlainTextBlockIsStoredInPiecesItsRowsReadFromThem) {
  kql::Table t;
  kql::Column time(kql::Type::kDateTime), level(kql::Type::kString), msg(kql::Type::kString);
  for (int r = 0; r < 5000; ++r) {
    time.AppendInt(kBase + r);
    level.AppendString(r % 3 == 0 ? "Error" : "Info");
    msg.AppendString("request " + std::to_string(r * 7919 % 100003) + " took " + std::to_string(r % 977) +
                     " ms on the path /api/items/" + std::to_string(r) + " from the edge node");
  }
  t.AddColumn("TimeGenerated", std::move(time));
  t.AddColumn("Level", std::move(level));
  t.AddColumn("Message", std::move(msg));
  t.rows = 5000;
  auto b = Batch::FromTable(t);
  ASSERT_THAT(b, IsOk());
  kql::Schema schema = {{"TimeGenerated", kql::Type::kDateTime}, {"Level", kql::Type::kString}, {"Message", kql::Type::kString}};
  env::SecureRandom random;
  SecretBytes aek = random.NewSecret(32);
  for (Codec codec : {Codec::kLz4, Codec::kZstd}) {
    std::optional<ExtentReader> reader = BuildWithCodec(*b, schema, codec, random, aek);
    ASSERT_TRUE(reader.has_value());
    for (size_t c = 0; c < 3; ++c) {
      auto packed = reader->ReadPacked(0, c, aek);
      ASSERT_THAT(packed, IsOk());
      EXPECT_EQ(IsPiecedFrame(**packed), codec == Codec::kLz4 && c == 2) << c;
      auto named = reader->BlockCodec(0, c, aek);
      ASSERT_THAT(named, IsOk());
      EXPECT_EQ(*named, codec) << c;
    }
    auto packed = reader->ReadPacked(0, 2, aek);
    ASSERT_THAT(packed, IsOk());
    auto whole = reader->ReadBlock(0, 2, aek);
    ASSERT_THAT(whole, IsOk());
    std::vector<uint32_t> wanted = {0, 7, 2500, 4999};
    auto rows = DecodePackedRows(kql::Type::kString, 5000, **packed, wanted);
    ASSERT_THAT(rows, IsOk());
    ASSERT_EQ(rows->stored(), wanted.size());
    for (size_t i = 0; i < wanted.size(); ++i) EXPECT_EQ(rows->Str(i), whole->Str(wanted[i]));
  }
}

TEST(ExtentTest, TheFooterKeepsEachBlocksExtremesForIntegersAndNaNFreeReals) {
  // Two row groups of reals: the first with a null and negatives, the second with a NaN; a long
  // column with nulls only in the second group; strings have none.
  kql::Table t;
  kql::Column time(kql::Type::kDateTime), d(kql::Type::kReal), n(kql::Type::kLong), s(kql::Type::kString);
  size_t rows = kRowsPerGroup + 10;
  for (size_t r = 0; r < rows; ++r) {
    time.AppendInt(kBase + static_cast<int64_t>(r));
    if (r == 5) d.AppendNull();
    else if (r == kRowsPerGroup + 3) d.AppendReal(std::nan(""));
    else d.AppendReal(static_cast<double>(r % 1000) - 250.5);
    if (r >= kRowsPerGroup) n.AppendNull();
    else n.AppendInt(static_cast<int64_t>(r) * 3 - 7);
    s.AppendString("x");
  }
  t.AddColumn("TimeGenerated", std::move(time));
  t.AddColumn("D", std::move(d));
  t.AddColumn("N", std::move(n));
  t.AddColumn("S", std::move(s));
  t.rows = rows;
  env::SecureRandom random;
  SecretBytes aek = random.NewSecret(32);
  std::optional<ExtentReader> reader = BuildAndOpen(t, random, aek);
  ASSERT_TRUE(reader.has_value());
  ASSERT_EQ(reader->groups(), 2u);
  auto d0 = reader->Extremes(0, 1);
  ASSERT_TRUE(d0.has_value());
  EXPECT_TRUE(d0->real);
  EXPECT_EQ(d0->min_d, -250.5);
  EXPECT_EQ(d0->max_d, 748.5);
  EXPECT_EQ(d0->nulls, 1u);
  EXPECT_FALSE(reader->Extremes(1, 1).has_value());  // a NaN: no place in the order
  auto n0 = reader->Extremes(0, 2);
  ASSERT_TRUE(n0.has_value());
  EXPECT_FALSE(n0->real);
  EXPECT_EQ(n0->min_i, -7);
  EXPECT_EQ(n0->max_i, static_cast<int64_t>(kRowsPerGroup - 1) * 3 - 7);
  EXPECT_FALSE(reader->Extremes(1, 2).has_value());  // all null
  EXPECT_FALSE(reader->Extremes(0, 3).has_value());  // strings
  EXPECT_FALSE(reader->Extremes(2, 0).has_value());  // no such group
  auto t0 = reader->Extremes(1, 0);
  ASSERT_TRUE(t0.has_value());
  EXPECT_EQ(t0->min_i, kBase + static_cast<int64_t>(kRowsPerGroup));
}

// A string block gets a term filter sealed beside it, named in the footer where the extremes
// of numbers are: a plain text block (values mostly distinct) of its values' terms, a
// dictionary block of its entries'; numbers and times none.
TEST(ExtentTest, StringBlocksKeepATermFilter) {
  kql::Table t;
  kql::Column time(kql::Type::kDateTime), level(kql::Type::kString), msg(kql::Type::kString), n(kql::Type::kLong);
  size_t rows = kRowsPerGroup + 10;
  for (size_t r = 0; r < rows; ++r) {
    time.AppendInt(kBase + static_cast<int64_t>(r));
    level.AppendString(r % 2 ? "Error" : "Info");
    if (r == 3) msg.AppendNull();
    else msg.AppendString("request " + std::to_string(r) + " from Host" + std::to_string(r % 7));
    n.AppendInt(static_cast<int64_t>(r));
  }
  t.AddColumn("TimeGenerated", std::move(time));
  t.AddColumn("Level", std::move(level));
  t.AddColumn("Msg", std::move(msg));
  t.AddColumn("N", std::move(n));
  t.rows = rows;
  env::SecureRandom random;
  SecretBytes aek = random.NewSecret(32);
  std::optional<ExtentReader> reader = BuildAndOpen(t, random, aek);
  ASSERT_TRUE(reader.has_value());
  ASSERT_EQ(reader->groups(), 2u);
  for (size_t g = 0; g < 2; ++g) {
    EXPECT_FALSE(reader->HasTermFilter(g, 0));
    EXPECT_TRUE(reader->HasTermFilter(g, 1));  // a dictionary (group 1: plain, under 16 rows)
    EXPECT_TRUE(reader->HasTermFilter(g, 2));
    EXPECT_FALSE(reader->HasTermFilter(g, 3));
    EXPECT_FALSE(reader->Extremes(g, 2).has_value());
  }
  EXPECT_FALSE(reader->HasTermFilter(2, 2));
  EXPECT_THAT(reader->ReadTermFilter(0, 3, aek), StatusIs(StatusCode::kInvalidArgument));
  auto holds = [&](size_t g, std::vector<std::string> terms, size_t column = 2) {
    auto f = reader->ReadTermFilter(g, column, aek);
    EXPECT_THAT(f, IsOk());
    std::vector<uint64_t> hashes;
    for (const auto& term : terms) hashes.push_back(kql::TermHash(term));
    auto r = TermFilterMayHold(**f, hashes);
    EXPECT_THAT(r, IsOk());
    return r.ok() && *r;
  };
  EXPECT_TRUE(holds(0, {"request", "FROM", "host6", "0", "65535"}));
  EXPECT_FALSE(holds(0, {"65536"}));
  EXPECT_FALSE(holds(0, {"request", "nowhere"}));
  EXPECT_TRUE(holds(1, {"65545", "host0"}));
  EXPECT_FALSE(holds(1, {"12"}));
  for (size_t g = 0; g < 2; ++g) {  // the dictionary's entries, and the plain block's values
    EXPECT_TRUE(holds(g, {"error"}, 1));
    EXPECT_TRUE(holds(g, {"INFO"}, 1));
    EXPECT_FALSE(holds(g, {"warning"}, 1));
    EXPECT_FALSE(holds(g, {"request"}, 1));
  }
  // Another key opens no filter; the column's values read as ever.
  SecretBytes other = random.NewSecret(32);
  EXPECT_THAT(reader->ReadTermFilter(0, 2, other), StatusIs(StatusCode::kDataLoss));
  auto col = reader->ReadBlock(1, 2, aek);
  ASSERT_THAT(col, IsOk());
  EXPECT_EQ(col->Str(9), "request 65545 from Host" + std::to_string(65545 % 7));
}

TEST(ExtentTest, ASchemaWithoutADatetimeTimeGeneratedIsRefused) {
  auto c = Batch::FromTable(Chunk(0, 10, true, kql::Type::kLong));
  ASSERT_THAT(c, IsOk());
  const Batch* ptr = &*c;
  env::SecureRandom random;
  SecretBytes aek = random.NewSecret(32);
  std::vector<uint8_t> object;
  kql::Schema schema = {{"TimeGenerated", kql::Type::kString}};
  EXPECT_THAT(BuildExtent(ExtentHeader{}, "ws", "Logs", schema, std::span<const Batch* const>(&ptr, 1), aek,
                          Codec::kLz4, random, object),
              StatusIs(StatusCode::kInvalidArgument));
}

// An extent of table `table` of workspace `ws` in account `account`, built with `aek`.
std::vector<uint8_t> SmallExtent(const ExtentHeader& h, const std::string& ws, const std::string& table,
                                 const SecretBytes& aek, env::Random& random) {
  kql::Table rows = Chunk(0, 10, true, kql::Type::kLong);
  rows.name = table;
  auto built = BuildExtent(h, ws, rows, aek, random);
  EXPECT_THAT(built, IsOk());
  return built.ok() ? *built : std::vector<uint8_t>();
}

// The sealed footer of a SmallExtent whose account is "acct": where it lies (from the trailer),
// its address (the clear header in the AAD) and its opened frame.
struct Footer {
  uint64_t at = 0;
  uint32_t size = 0;
  storage::BlockAddress where;
  SecretBytes frame;
};
Footer OpenFooter(const std::vector<uint8_t>& object, const ExtentHeader& h, const SecretBytes& aek) {
  Footer f;
  const uint8_t* t = object.data() + object.size() - 16;
  f.at = LoadU64(t);
  f.size = LoadU32(t + 8);
  f.where = storage::BlockAddress{h.id, 0xFFFFFFFFu, "#footer", std::span<const uint8_t>(object).first(28 + 1 + 4)};
  auto opened = storage::OpenBlock(aek, f.where, std::span<const uint8_t>(object).subspan(f.at, f.size));
  EXPECT_THAT(opened, IsOk());
  if (opened.ok()) f.frame = std::move(*opened);
  return f;
}

// A SmallExtent of account "acct", workspace "ws-a", table "App_CL", with its key and randomness.
struct AcctExtent {
  explicit AcctExtent(uint64_t seed) : random(seed), aek(random.NewSecret(32)) {
    random.Fill(h.id);
    h.account = "acct";
    object = SmallExtent(h, "ws-a", "App_CL", aek, random);
  }
  env::SeededRandom random;
  SecretBytes aek;
  ExtentHeader h;
  std::vector<uint8_t> object;
};

TEST(ExtentTest, AnExtentOpensOnlyAsTheExtentItIs) {
  env::SeededRandom random(11);
  SecretBytes aek = random.NewSecret(32);
  ExtentHeader h;
  random.Fill(h.id);
  h.account = "shared/eastus";
  std::vector<uint8_t> object = SmallExtent(h, "ws-a", "App_CL", aek, random);
  EXPECT_EQ(object[4], 2);  // format version 2
  EXPECT_THAT(ExtentReader::Open(object, aek, ExtentPlace{h.id, "Shared/EastUS", "ws-a", "App_CL"}), IsOk());

  storage::ExtentId other = h.id;
  other[0] ^= 1;
  for (const ExtentPlace& wrong : {ExtentPlace{h.id, "shared/eastus", "ws-b", "App_CL"},
                                   ExtentPlace{h.id, "shared/eastus", "ws-a", "Other_CL"},
                                   ExtentPlace{h.id, "shared/westus", "ws-a", "App_CL"},
                                   ExtentPlace{other, "shared/eastus", "ws-a", "App_CL"}}) {
    auto r = ExtentReader::Open(object, aek, wrong);
    EXPECT_THAT(r, StatusIs(StatusCode::kDataLoss));
    EXPECT_NE(r.status().message().find("failed its integrity check: it belongs to account 'shared/eastus', workspace "
                                        "'ws-a', table 'App_CL'"),
              std::string::npos)
        << r.status().message();
  }
}

TEST(ExtentTest, TheClearHeaderIsAuthenticatedFromVersion2) {
  env::SeededRandom random(12);
  SecretBytes aek = random.NewSecret(32);
  ExtentHeader h;
  random.Fill(h.id);
  h.account = "shared/eastus";
  std::vector<uint8_t> object = SmallExtent(h, "ws-a", "App_CL", aek, random);
  // The account renamed in the clear header, to the catalogue's expectation: the footer's AAD
  // no longer holds.
  std::vector<uint8_t> renamed = object;
  renamed[29 + 7] = 'w';  // "shared/eastus" -> "shared/wastus"
  auto r = ExtentReader::Open(renamed, aek, ExtentPlace{h.id, "shared/wastus", "ws-a", "App_CL"});
  EXPECT_THAT(r, StatusIs(StatusCode::kDataLoss));
  // The key kind (clear, unused by readers) is bound too.
  std::vector<uint8_t> kind = object;
  kind[5] ^= 3;
  EXPECT_THAT(ExtentReader::Open(kind, aek, ExtentPlace{h.id, "shared/eastus", "ws-a", "App_CL"}),
              StatusIs(StatusCode::kDataLoss));
  // A version-1 object (the header outside the AAD) is still read, and still checked against
  // the workspace, table and extent id its sealed parts name.
  std::vector<uint8_t> v1 = object;
  v1[4] = 1;
  EXPECT_THAT(ExtentReader::Open(v1, aek, ExtentPlace{h.id, "shared/eastus", "ws-a", "App_CL"}),
              StatusIs(StatusCode::kDataLoss));  // its footer was sealed with the header in the AAD
}

TEST(ExtentTest, AVersion1ExtentIsReadAndCheckedAgainstItsSealedPlace) {
  // Built as version 1 was: the footer's AAD without the clear header.
  AcctExtent e(13);
  auto& [random, aek, h, object] = e;
  Footer footer = OpenFooter(object, h, aek);
  std::vector<uint8_t> resealed;
  storage::BlockAddress v1{h.id, 0xFFFFFFFFu, "#footer"};
  ASSERT_THAT(storage::SealBlockAppend(aek, 1, v1, footer.frame.span(), random, resealed), IsOk());
  ASSERT_EQ(resealed.size(), footer.size);
  std::vector<uint8_t> old = object;
  old[4] = 1;
  std::copy(resealed.begin(), resealed.end(), old.begin() + static_cast<std::ptrdiff_t>(footer.at));
  auto r = ExtentReader::Open(old, aek, ExtentPlace{h.id, "acct", "ws-a", "App_CL"});
  ASSERT_THAT(r, IsOk());
  auto rows = r->Read({}, std::nullopt, std::nullopt, aek);
  ASSERT_THAT(rows, IsOk());
  EXPECT_EQ(rows->rows, 10u);
  EXPECT_THAT(ExtentReader::Open(old, aek, ExtentPlace{h.id, "acct", "ws-b", "App_CL"}),
              StatusIs(StatusCode::kDataLoss));
}

// A footer whose block entry points past the footer's start is DataLoss at Open, however large
// its offset (an offset near 2^64 wrapped the bounds sum and opened; the block's read failed later).
TEST(ExtentTest, ABlockOffsetThatWrapsPastTheFooterIsRefusedAtOpen) {
  AcctExtent e(17);
  auto& [random, aek, h, object] = e;
  Footer sealed = OpenFooter(object, h, aek);
  const uint64_t at = sealed.at;
  auto plain = Decompress(sealed.frame.span());
  ASSERT_THAT(plain, IsOk());
  // Past the names, the counts and the schema to the first group's first block entry.
  std::span<const uint8_t> in(*plain);
  std::string text;
  uint64_t rows = 0, cols = 0, groups = 0, group_rows = 0;
  ASSERT_TRUE(GetString(in, text) && GetString(in, text) && GetVarint(in, rows) && GetVarint(in, cols));
  for (uint64_t c = 0; c < cols; ++c) {
    ASSERT_TRUE(GetString(in, text));
    in = in.subspan(1);
  }
  ASSERT_TRUE(GetVarint(in, groups) && GetVarint(in, group_rows));
  const size_t entry = plain->size() - in.size();
  for (uint64_t offset : {uint64_t{0} - 8, uint64_t{0} - 1, at}) {
    std::vector<uint8_t> footer = *plain;
    for (int b = 0; b < 8; ++b) footer[entry + b] = static_cast<uint8_t>(offset >> (8 * b));
    std::vector<uint8_t> resealed;
    ASSERT_THAT(
        storage::SealBlockAppend(aek, h.aek_generation, sealed.where, Compress(Codec::kZstd, footer), random, resealed),
        IsOk());
    std::vector<uint8_t> damaged(object.begin(), object.begin() + static_cast<std::ptrdiff_t>(at));
    damaged.insert(damaged.end(), resealed.begin(), resealed.end());
    PutU64(damaged, at);
    PutU32(damaged, static_cast<uint32_t>(resealed.size()));
    damaged.insert(damaged.end(), object.end() - 4, object.end());  // the magic
    EXPECT_THAT(ExtentReader::Open(damaged, aek, ExtentPlace{h.id, "acct", "ws-a", "App_CL"}),
                StatusIs(StatusCode::kDataLoss))
        << offset;
  }
}

}  // namespace
}  // namespace cmk::engine
