#include "engine/batch.h"

#include <gtest/gtest.h>

#include "base/testing.h"
#include "engine/codec.h"

namespace cmk::engine {
namespace {

using testing::IsOk;
using testing::StatusIs;

// Every kind of column, with nulls, empty strings and a null dynamic.
Batch Sample() {
  Batch b;
  b.name = "Logs";
  BatchColumn t(kql::Type::kDateTime), level(kql::Type::kString), dur(kql::Type::kReal), bag(kql::Type::kDynamic),
      ok(kql::Type::kBool);
  t.AppendInt(100);
  t.AppendInt(-7);
  t.AppendInt(int64_t{1} << 60);
  level.AppendString("Info");
  level.AppendString("");
  level.AppendString("Error with \xc3\xa9 and \0 inside");
  dur.AppendReal(1.5);
  dur.AppendNull();
  dur.AppendReal(-0.25);
  bag.AppendNull();
  bag.AppendString(R"({"a":[1,2]})");
  bag.AppendString("[]");
  ok.AppendInt(1);
  ok.AppendInt(0);
  ok.AppendNull();
  b.AddColumn("TimeGenerated", std::move(t));
  b.AddColumn("Level", std::move(level));
  b.AddColumn("DurationMs", std::move(dur));
  b.AddColumn("Bag", std::move(bag));
  b.AddColumn("Ok", std::move(ok));
  b.rows = 3;
  return b;
}

std::vector<uint8_t> Layout(const Batch& b) {
  std::vector<uint8_t> header, flat;
  std::vector<std::span<const uint8_t>> parts;
  BatchLayout(b, header, parts);
  for (auto p : parts) flat.insert(flat.end(), p.begin(), p.end());
  return flat;
}

void ExpectSame(const Batch& a, const Batch& b) {
  ASSERT_EQ(a.rows, b.rows);
  ASSERT_EQ(a.names, b.names);
  for (size_t c = 0; c < a.columns.size(); ++c) {
    const BatchColumn& x = a.columns[c];
    const BatchColumn& y = b.columns[c];
    ASSERT_EQ(x.type, y.type) << a.names[c];
    for (size_t r = 0; r < a.rows; ++r) {
      EXPECT_EQ(x.IsNull(r), y.IsNull(r)) << a.names[c] << " row " << r;
      if (kql::UsesInts(x.type)) EXPECT_EQ(x.Int(r), y.Int(r));
      else if (kql::UsesReals(x.type)) EXPECT_EQ(x.Real(r), y.Real(r));
      else EXPECT_EQ(x.Str(r), y.Str(r)) << a.names[c] << " row " << r;
    }
  }
}

TEST(BatchTest, StringsLiveInOneBufferWithEndOffsets) {
  Batch b = Sample();
  const BatchColumn& level = b.columns[1];
  EXPECT_EQ(level.Str(0), "Info");
  EXPECT_EQ(level.Str(1), "");
  EXPECT_EQ(level.Str(2).size(), std::string_view("Error with \xc3\xa9 and ").size());
  EXPECT_EQ(level.ends, (std::vector<uint32_t>{4, 4, 4 + static_cast<uint32_t>(level.Str(2).size())}));
  EXPECT_EQ(b.columns[3].Str(0), "null");  // a null dynamic reads as JSON null, as in kql::Column
  EXPECT_TRUE(b.columns[3].IsNull(0));
  EXPECT_FALSE(b.columns[0].HasNulls());
}

TEST(BatchTest, LayoutRoundTrips) {
  Batch b = Sample();
  std::vector<uint8_t> flat = Layout(b);
  ASSERT_EQ(flat[0], kBatchLayoutTag);
  auto back = ParseBatchLayout(flat);
  ASSERT_THAT(back, IsOk());
  ExpectSame(b, *back);
}

TEST(BatchTest, EmptyBatchRoundTrips) {
  Batch b;
  b.AddColumn("TimeGenerated", BatchColumn(kql::Type::kDateTime));
  b.AddColumn("Message", BatchColumn(kql::Type::kString));
  auto back = ParseBatchLayout(Layout(b));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->rows, 0u);
  EXPECT_EQ(back->names, b.names);
}

TEST(BatchTest, MalformedLayoutsAreDataLossNotCrashes) {
  std::vector<uint8_t> flat = Layout(Sample());
  // Every truncation, and a trailing byte.
  for (size_t n = 0; n < flat.size(); ++n) {
    EXPECT_THAT(ParseBatchLayout(std::span<const uint8_t>(flat.data(), n)), StatusIs(StatusCode::kDataLoss)) << n;
  }
  std::vector<uint8_t> longer = flat;
  longer.push_back(0);
  EXPECT_THAT(ParseBatchLayout(longer), StatusIs(StatusCode::kDataLoss));
  // An end offset past the column's bytes: the "Level" column's ends follow the TimeGenerated
  // values (3 x 8 bytes) after the header; corrupt the second one.
  Batch b = Sample();
  std::vector<uint8_t> header;
  std::vector<std::span<const uint8_t>> parts;
  BatchLayout(b, header, parts);
  std::vector<uint8_t> bad = flat;
  size_t ends_at = header.size() + 3 * 8;
  bad[ends_at + 4] = 0xFF;
  EXPECT_THAT(ParseBatchLayout(bad), StatusIs(StatusCode::kDataLoss));
  // A type beyond the known ones.
  bad = flat;
  size_t type_at = 3 + 1 + std::string("TimeGenerated").size();
  ASSERT_EQ(bad[type_at], static_cast<uint8_t>(kql::Type::kDateTime));
  bad[type_at] = 0x7F;
  EXPECT_THAT(ParseBatchLayout(bad), StatusIs(StatusCode::kDataLoss));
}

TEST(BatchTest, TableConversionsKeepValuesAndNulls) {
  Batch b = Sample();
  kql::Table t = b.ToTable();
  EXPECT_EQ(t.rows, 3u);
  EXPECT_EQ(t.columns[1].Str(2), std::string(b.columns[1].Str(2)));
  EXPECT_TRUE(t.columns[2].IsNull(1));
  auto again = Batch::FromTable(t);
  ASSERT_THAT(again, IsOk());
  ExpectSame(b, *again);

  // Constant columns (literals broadcast by the KQL engine) are expanded.
  kql::Table c;
  c.rows = 4;
  kql::Column k = kql::Column::Constant(kql::Type::kString);
  k.strings.push_back("same");
  kql::Column n = kql::Column::Constant(kql::Type::kLong);
  n.AppendNull();
  c.AddColumn("K", k);
  c.AddColumn("N", n);
  auto expanded = Batch::FromTable(c);
  ASSERT_THAT(expanded, IsOk());
  for (size_t r = 0; r < 4; ++r) {
    EXPECT_EQ(expanded->columns[0].Str(r), "same");
    EXPECT_TRUE(expanded->columns[1].IsNull(r));
  }
  EXPECT_EQ(expanded->columns[0].bytes, "samesamesamesame");
}

TEST(BatchTest, MalformedTablesAndBatchesAreRefused) {
  kql::Table t = Sample().ToTable();
  t.columns[2].reals.pop_back();  // shorter than the table
  EXPECT_THAT(Batch::FromTable(t), StatusIs(StatusCode::kInvalidArgument));
  t = Sample().ToTable();
  t.columns[2].nulls.push_back(0);  // a null mask of the wrong length
  EXPECT_THAT(Batch::FromTable(t), StatusIs(StatusCode::kInvalidArgument));
  kql::Table empty_constant;
  empty_constant.rows = 2;
  empty_constant.AddColumn("K", kql::Column::Constant(kql::Type::kString));  // no stored value
  EXPECT_THAT(Batch::FromTable(empty_constant), StatusIs(StatusCode::kInvalidArgument));

  EXPECT_THAT(Sample().Check(), IsOk());
  Batch b = Sample();
  b.columns[1].ends[1] = 2;  // falls back below ends[0] = 4
  EXPECT_THAT(b.Check(), StatusIs(StatusCode::kInvalidArgument));
  b = Sample();
  b.columns[1].bytes.push_back('x');  // text past the last offset
  EXPECT_THAT(b.Check(), StatusIs(StatusCode::kInvalidArgument));
  b = Sample();
  b.rows = 4;
  EXPECT_THAT(b.Check(), StatusIs(StatusCode::kInvalidArgument));

  // Rows without columns: a layout no batch can produce.
  std::vector<uint8_t> no_columns = {kBatchLayoutTag, 5, 0};
  EXPECT_THAT(ParseBatchLayout(no_columns), StatusIs(StatusCode::kDataLoss));
}

TEST(BatchTest, EncodingABatchColumnMatchesTheTableColumn) {
  // The flush encodes memtable batches; the extent must read back exactly as the same rows
  // encoded from a kql::Column would.
  Batch b = Sample();
  kql::Table t = b.ToTable();
  for (size_t c = 0; c < b.columns.size(); ++c) {
    std::vector<uint8_t> from_batch, from_table;
    BatchPiece bp{&b.columns[c], 0, b.rows};
    ColumnPiece cp{&t.columns[c], 0, t.rows};
    EncodeColumn(b.columns[c].type, std::span<const BatchPiece>(&bp, 1), from_batch);
    EncodeColumn(t.columns[c].type, std::span<const ColumnPiece>(&cp, 1), from_table);
    EXPECT_EQ(from_batch, from_table) << b.names[c];
  }
}

}  // namespace
}  // namespace cmk::engine
