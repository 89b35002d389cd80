#include "engine/shape.h"

#include <gtest/gtest.h>

#include <optional>
#include <tuple>

#include "base/testing.h"

namespace cmk::engine {
namespace {

using testing::IsOk;
using testing::StatusIs;

constexpr int64_t kNow = 17'954'163'670'000'000;

const kql::Schema kSchema = {{"TimeGenerated", kql::Type::kDateTime},
                             {"Msg", kql::Type::kString},
                             {"N", kql::Type::kLong},
                             {"D", kql::Type::kReal},
                             {"Type", kql::Type::kString}};

ShapeOptions Ingestion(std::string table = "App_CL") {
  ShapeOptions o;
  o.convert = true;
  o.now = kNow;
  o.table = std::move(table);
  return o;
}

// Rows as a request parses them: D and N swapped in type, an extra column, no Type.
Batch Parsed() {
  Batch b;
  b.rows = 3;
  BatchColumn tg(kql::Type::kDateTime), n(kql::Type::kReal), d(kql::Type::kLong),
      extra(kql::Type::kString);
  tg.AppendInt(100);
  tg.AppendNull();
  tg.AppendInt(300);
  n.AppendReal(1.9);
  n.AppendReal(-2.9);
  n.AppendReal(1e300);  // out of long's range
  d.AppendInt(7);
  d.AppendNull();
  d.AppendInt(-1);
  for (const char* s : {"x", "y", "z"}) extra.AppendString(s);
  b.AddColumn("Extra", std::move(extra));
  b.AddColumn("N", std::move(n));
  b.AddColumn("TimeGenerated", std::move(tg));
  b.AddColumn("D", std::move(d));
  return b;
}

TEST(ShapeTest, IngestionTakesTheSchemaOrderConvertsTypesAndDropsExtraColumns) {
  Batch out = ShapeRows(Parsed(), kSchema, Ingestion());
  ASSERT_THAT(out.Check(), IsOk());
  EXPECT_EQ(out.name, "App_CL");
  EXPECT_EQ(out.names, (std::vector<std::string>{"TimeGenerated", "Msg", "N", "D", "Type"}));
  const BatchColumn& n = out.columns[2];
  ASSERT_EQ(n.type, kql::Type::kLong);
  EXPECT_EQ(n.Int(0), 1);  // truncated toward zero
  EXPECT_EQ(n.Int(1), -2);
  EXPECT_TRUE(n.IsNull(2));  // out of range
  const BatchColumn& d = out.columns[3];
  ASSERT_EQ(d.type, kql::Type::kReal);
  EXPECT_EQ(d.Real(0), 7.0);
  EXPECT_TRUE(d.IsNull(1));
  EXPECT_EQ(d.Real(2), -1.0);
}

TEST(ShapeTest, IngestionFillsMissingColumnsWithNullsAndDefaultsTimeGeneratedAndType) {
  Batch out = ShapeRows(Parsed(), kSchema, Ingestion());
  const BatchColumn& msg = out.columns[1];
  for (size_t r = 0; r < 3; ++r) EXPECT_TRUE(msg.IsNull(r));
  const BatchColumn& tg = out.columns[0];
  EXPECT_FALSE(tg.HasNulls());
  EXPECT_EQ(tg.Int(0), 100);
  EXPECT_EQ(tg.Int(1), kNow);  // only the missing time is the time of ingestion
  EXPECT_EQ(tg.Int(2), 300);
  const BatchColumn& type = out.columns[4];
  for (size_t r = 0; r < 3; ++r) EXPECT_EQ(type.Str(r), "App_CL");
}

TEST(ShapeTest, IngestionKeepsAGivenTypeAndFillsOnlyEmptyOnes) {
  Batch b;
  b.rows = 2;
  BatchColumn type(kql::Type::kString);
  type.AppendString("Mine");
  type.AppendString("");
  b.AddColumn("Type", std::move(type));
  Batch out = ShapeRows(b, kSchema, Ingestion("T_CL"));
  EXPECT_EQ(out.columns[4].Str(0), "Mine");
  EXPECT_EQ(out.columns[4].Str(1), "T_CL");
}

TEST(ShapeTest, NumbersBecomeTextAndTextDoesNotBecomeANumber) {
  Batch b;
  b.rows = 1;
  BatchColumn msg(kql::Type::kLong), n(kql::Type::kString);
  msg.AppendInt(42);
  n.AppendString("17");
  b.AddColumn("Msg", std::move(msg));
  b.AddColumn("N", std::move(n));
  Batch out = ShapeRows(b, kSchema, Ingestion());
  EXPECT_EQ(out.columns[1].Str(0), "42");
  EXPECT_TRUE(out.columns[2].IsNull(0));
}

TEST(ShapeTest, MovingAndCopyingShapeTheSameRows) {
  Batch in = Parsed();
  Batch copied = ShapeRows(in, kSchema, Ingestion());
  EXPECT_EQ(in.columns[2].ints.size(), 3u);  // the input is left as it was
  Batch moved = ShapeRows(std::move(in), kSchema, Ingestion());
  ASSERT_EQ(copied.names, moved.names);
  for (size_t c = 0; c < copied.columns.size(); ++c) {
    EXPECT_EQ(copied.columns[c].ints, moved.columns[c].ints);
    EXPECT_EQ(copied.columns[c].reals, moved.columns[c].reals);
    EXPECT_EQ(copied.columns[c].bytes, moved.columns[c].bytes);
    EXPECT_EQ(copied.columns[c].nulls, moved.columns[c].nulls);
  }
}

TEST(ShapeTest, TransformOutputIsShapedStraightFromTheKqlTable) {
  kql::Table t;
  t.rows = 2;
  kql::Column n(kql::Type::kInt), msg = kql::Column::Constant(kql::Type::kString);
  n.AppendInt(5);
  n.AppendInt(6);
  msg.AppendString("same");
  t.AddColumn("N", std::move(n));
  t.AddColumn("Msg", std::move(msg));
  auto out = ShapeRows(t, kSchema, Ingestion());
  ASSERT_THAT(out, IsOk());
  ASSERT_THAT(out->Check(), IsOk());
  EXPECT_EQ(out->columns[1].Str(1), "same");  // the constant expanded
  EXPECT_EQ(out->columns[2].type, kql::Type::kLong);
  EXPECT_EQ(out->columns[2].Int(1), 6);
  EXPECT_EQ(out->columns[0].Int(0), kNow);
}

TEST(ShapeTest, MalformedTransformOutputIsRefused) {
  kql::Table t;
  t.rows = 2;
  kql::Column n(kql::Type::kLong);
  n.AppendInt(5);  // one value for two rows
  t.AddColumn("N", std::move(n));
  EXPECT_THAT(ShapeRows(t, kSchema, Ingestion()), StatusIs(StatusCode::kInvalidArgument));
}

std::shared_ptr<const kql::Table> Stored() {
  auto t = std::make_shared<kql::Table>();
  t->name = "App_CL";
  t->rows = 3;
  kql::Column tg(kql::Type::kDateTime), msg(kql::Type::kString), n(kql::Type::kLong),
      d(kql::Type::kReal), type(kql::Type::kString);
  for (int i = 0; i < 3; ++i) {
    tg.AppendInt(10 * (i + 1));
    msg.AppendString("m" + std::to_string(i));
    n.AppendInt(i);
    d.AppendReal(i / 2.0);
    type.AppendString("App_CL");
  }
  t->AddColumn("TimeGenerated", std::move(tg));
  t->AddColumn("Msg", std::move(msg));
  t->AddColumn("N", std::move(n));
  t->AddColumn("D", std::move(d));
  t->AddColumn("Type", std::move(type));
  return t;
}

TEST(ShapeTest, QueriesGetTheStoredChunkItselfWhenNothingChanges) {
  auto chunk = Stored();
  EXPECT_EQ(ShapeRows(chunk, kSchema, ShapeOptions()).get(), chunk.get());
  std::vector<std::string> only = {"N", "Msg"};
  ShapeOptions o;
  o.only = only;
  EXPECT_EQ(ShapeRows(chunk, kSchema, o).get(), chunk.get());  // a superset, with its types
  o.min_time = 0;
  o.end_time = 1000;
  EXPECT_EQ(ShapeRows(chunk, kSchema, o).get(), chunk.get());  // every row inside
}

TEST(ShapeTest, QueriesKeepRowsInsideTheTimeBoundsAndOnlyTheWantedColumns) {
  std::vector<std::string> only = {"N", "Msg"};
  ShapeOptions o;
  o.only = only;
  o.min_time = 20;
  o.end_time = 30;
  auto out = ShapeRows(Stored(), kSchema, o);
  ASSERT_EQ(out->rows, 1u);
  EXPECT_EQ(out->names, (std::vector<std::string>{"Msg", "N"}));  // the schema's order
  EXPECT_EQ(out->columns[0].Str(0), "m1");
  EXPECT_EQ(out->columns[1].Int(0), 1);
}

TEST(ShapeTest, QueriesKeepExactlyTheRowsInsideTheTimeBounds) {
  // Random times (with and without nulls, and a constant column) against random bounds, open
  // at either end or not: the rows kept are those a plain test keeps, in order, N telling which.
  uint64_t seed = 11;
  auto next = [&seed] {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int64_t>(seed >> 40);  // 0 .. 2^24
  };
  for (int round = 0; round < 200; ++round) {
    const size_t rows = static_cast<size_t>(next() % 300);
    const int kind = round % 3;  // 0: values alone, 1: with nulls, 2: one constant
    auto t = std::make_shared<kql::Table>();
    t->rows = rows;
    kql::Column tg(kql::Type::kDateTime), n(kql::Type::kLong);
    const int64_t constant = next() % 1000;
    for (size_t r = 0; r < rows; ++r) {
      if (kind == 1 && next() % 7 == 0) tg.AppendNull();
      else tg.AppendInt(kind == 2 ? constant : next() % 1000);
      n.AppendInt(static_cast<int64_t>(r));
    }
    if (kind == 2) {
      tg = kql::Column(kql::Type::kDateTime);
      tg.constant = true;
      tg.AppendInt(constant);
    }
    t->AddColumn("TimeGenerated", std::move(tg));
    t->AddColumn("N", std::move(n));
    ShapeOptions o;
    if (next() % 4 != 0) o.min_time = next() % 1000;
    if (next() % 4 != 0) o.end_time = next() % 1000;
    std::vector<int64_t> want;
    const kql::Column& times = t->columns[0];
    for (size_t r = 0; r < rows; ++r) {
      if (times.IsNull(r)) {
        if (!o.min_time && !o.end_time) want.push_back(static_cast<int64_t>(r));
        continue;
      }
      int64_t v = times.Int(r);
      if ((!o.min_time || v >= *o.min_time) && (!o.end_time || v < *o.end_time)) want.push_back(static_cast<int64_t>(r));
    }
    auto out = ShapeRows(t, {{"TimeGenerated", kql::Type::kDateTime}, {"N", kql::Type::kLong}}, o);
    std::vector<int64_t> got;
    int c = out->Find("N");
    ASSERT_GE(c, 0);
    for (size_t r = 0; r < out->rows; ++r) got.push_back(out->columns[static_cast<size_t>(c)].Int(r));
    ASSERT_EQ(got, want) << "round " << round;
  }
}

TEST(ShapeTest, QueriesReadARetypedColumnAsNullsAndANewOneAsNulls) {
  kql::Schema now = {{"TimeGenerated", kql::Type::kDateTime},
                     {"N", kql::Type::kString},  // retyped since the rows were stored
                     {"Added", kql::Type::kLong}};
  auto out = ShapeRows(Stored(), now, ShapeOptions());
  ASSERT_EQ(out->rows, 3u);
  EXPECT_EQ(out->names, (std::vector<std::string>{"TimeGenerated", "N", "Added"}));
  for (size_t r = 0; r < 3; ++r) {
    EXPECT_TRUE(out->columns[1].IsNull(r));
    EXPECT_TRUE(out->columns[2].IsNull(r));
  }
}

// A rows-only scan (ScanRequest::rows_only: `T | count`) hands out row groups counted from their
// footers, without columns, and the groups a time window cuts with their TimeGenerated: each
// wanted column is one constant null, not a null a row (10M nulls for sample's count of 10M
// rows), and the rows inside the window are counted, not gathered.
TEST(ShapeTest, CountedRowsGetAConstantNullForEachColumn) {
  auto counted = std::make_shared<kql::Table>();
  counted->name = "T";
  counted->rows = 100000;
  std::vector<std::string> only = {"N", "Msg"};
  ShapeOptions o;
  o.only = only;
  o.counted = true;
  auto out = ShapeRows(std::shared_ptr<const kql::Table>(counted), kSchema, o);
  ASSERT_EQ(out->rows, 100000u);
  ASSERT_EQ(out->names, (std::vector<std::string>{"Msg", "N"}));
  for (const kql::Column& c : out->columns) {
    EXPECT_TRUE(c.constant);
    EXPECT_EQ(c.stored(), 1u);
    EXPECT_TRUE(c.IsNull(99999));
  }
  EXPECT_EQ(out->columns[1].type, kql::Type::kLong);
  // The window's rows counted as SelectRows keeps them (times 10, 20, 30; with a null time and
  // a constant column).
  for (auto [lo, end, want] : std::vector<std::tuple<std::optional<int64_t>, std::optional<int64_t>, size_t>>{
           {20, 30, 1}, {20, std::nullopt, 2}, {std::nullopt, 21, 2}, {31, std::nullopt, 0}, {0, 1000, 3}}) {
    o.min_time = lo;
    o.end_time = end;
    auto kept = ShapeRows(Stored(), kSchema, o);
    EXPECT_EQ(kept->rows, want);
    for (const kql::Column& c : kept->columns) EXPECT_TRUE(c.constant);
    ShapeOptions rows = o;
    rows.counted = false;
    EXPECT_EQ(ShapeRows(Stored(), kSchema, rows)->rows, want);
    auto nulled = std::make_shared<kql::Table>(*Stored());
    nulled->columns[0].nulls = {0, 1, 0};  // the second row's time is null: never inside
    kql::Column same = kql::Column::Constant(kql::Type::kDateTime);
    same.AppendInt(20);
    EXPECT_EQ(ShapeRows(std::shared_ptr<const kql::Table>(nulled), kSchema, o)->rows,
              ShapeRows(std::shared_ptr<const kql::Table>(nulled), kSchema, rows)->rows);
    auto constant = std::make_shared<kql::Table>(*Stored());
    constant->columns[0] = same;
    EXPECT_EQ(ShapeRows(std::shared_ptr<const kql::Table>(constant), kSchema, o)->rows,
              ShapeRows(std::shared_ptr<const kql::Table>(constant), kSchema, rows)->rows);
  }
  // Without the option, a null a row (the columns other queries read).
  o = ShapeOptions();
  o.only = only;
  auto rowwise = ShapeRows(std::shared_ptr<const kql::Table>(counted), kSchema, o);
  EXPECT_FALSE(rowwise->columns[1].constant);
  EXPECT_EQ(rowwise->columns[1].stored(), 100000u);
}

TEST(ShapeTest, PlanMatchesByNameAndTypeForExtentBuilding) {
  Batch b = Parsed();  // N real, D long, TimeGenerated datetime, no Msg
  ShapePlan plan = PlanShape(b, kSchema, ShapeOptions());
  ASSERT_EQ(plan.columns.size(), kSchema.size());
  using S = ShapedColumn::Source;
  EXPECT_EQ(plan.columns[0].source, S::kSame);
  EXPECT_EQ(plan.columns[0].input, 2);
  EXPECT_EQ(plan.columns[1].source, S::kNull);  // missing
  EXPECT_EQ(plan.columns[2].source, S::kNull);  // another type, not converted
  EXPECT_FALSE(plan.superset);
  EXPECT_FALSE(plan.same);
  ShapeOptions convert;
  convert.convert = true;
  EXPECT_EQ(PlanShape(b, kSchema, convert).columns[2].source, S::kConvert);
}

}  // namespace
}  // namespace cmk::engine
