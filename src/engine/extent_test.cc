#include "engine/extent.h"

#include <gtest/gtest.h>

#include "base/testing.h"

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

  auto reader = ExtentReader::Open(object, aek);
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
  auto r1 = ExtentReader::Open(*one, aek);
  ASSERT_THAT(r1, IsOk());
  EXPECT_EQ(r1->info().rows, 40'000u);
}

TEST(ExtentTest, BlocksUseTheRequestedCodec) {
  auto b = Batch::FromTable(Chunk(0, 5000, true, kql::Type::kString));
  ASSERT_THAT(b, IsOk());
  const Batch* ptr = &*b;
  kql::Schema schema = {{"TimeGenerated", kql::Type::kDateTime}, {"Level", kql::Type::kString}, {"Id", kql::Type::kString}};
  env::SecureRandom random;
  SecretBytes aek = random.NewSecret(32);
  for (Codec codec : {Codec::kZstd, Codec::kLz4}) {
    ExtentHeader h;
    random.Fill(h.id);
    h.account = "acct";
    std::vector<uint8_t> object;
    ASSERT_THAT(BuildExtent(h, "ws", "Logs", schema, std::span<const Batch* const>(&ptr, 1), aek, codec, random, object),
                IsOk());
    auto reader = ExtentReader::Open(object, aek);
    ASSERT_THAT(reader, IsOk());
    for (size_t c = 0; c < schema.size(); ++c) {
      auto got = reader->BlockCodec(0, c, aek);
      ASSERT_THAT(got, IsOk());
      EXPECT_EQ(*got, codec) << schema[c].name;
    }
    EXPECT_THAT(reader->BlockCodec(1, 0, aek), StatusIs(StatusCode::kInvalidArgument));
  }
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

}  // namespace
}  // namespace cmk::engine
