#include "kql/engine.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <limits>

#include "base/testing.h"
#include "kql/exec/eval.h"
#include "kql/functions/aggregates.h"
#include "kql/test_columns.h"

namespace cmk::kql {
namespace {

using ::cmk::testing::IsOk;
using ::cmk::testing::StatusIs;

constexpr int64_t kHour = 3600 * kTicksPerSecond;

Column Longs(std::vector<std::optional<int64_t>> v, Type t = Type::kLong) {
  Column c(t);
  for (auto x : v) {
    if (x) c.AppendInt(*x);
    else c.AppendNull();
  }
  return c;
}
Column Reals(std::vector<std::optional<double>> v) {
  Column c(Type::kReal);
  for (auto x : v) {
    if (x) c.AppendReal(*x);
    else c.AppendNull();
  }
  return c;
}
Column Strings(std::vector<std::string> v, Type t = Type::kString) {
  Column c(t);
  for (auto& s : v) c.AppendString(s);
  return c;
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() {
    Table logs;
    logs.name = "Logs";
    logs.AddColumn("TimeGenerated", Longs({kJan15 + 10 * kHour, kJan15 + 11 * kHour, kJan15 + 12 * kHour,
                                           kJan15 - 20 * kHour, kJan15 + 13 * kHour}, Type::kDateTime));
    logs.AddColumn("Computer", Strings({"h1", "h2", "h1", "h3", "h2"}));
    logs.AddColumn("Level", Strings({"Error", "Info", "Info", "Error", "Warning"}));
    logs.AddColumn("DurationMs", Reals({120.5, 30, std::nullopt, 900, 5}));
    logs.AddColumn("Count", Longs({1, 2, 3, std::nullopt, 5}));
    logs.AddColumn("Message", Strings({"login failed for alice", "login ok", "service started",
                                       "disk timeout", "user=bob took 42ms"}));
    logs.AddColumn("Props", Strings({R"({"user":"alice","tags":["a","b"]})", R"({"user":"bob"})", "{}",
                                     R"({"tags":[]})", "null"}, Type::kDynamic));
    logs.columns[6].nulls = {0, 0, 0, 0, 1};
    logs.rows = 5;
    catalog_.Add(std::move(logs));
    Table hosts;
    hosts.name = "Hosts";
    hosts.AddColumn("Computer", Strings({"h1", "h2", "h4"}));
    hosts.AddColumn("Region", Strings({"eu", "us", "ap"}));
    hosts.rows = 3;
    catalog_.Add(std::move(hosts));
    options_.now = TimePoint(std::chrono::nanoseconds((kJan15 + 14 * kHour) * 100));
  }

  Result<QueryResult> Run(const std::string& q) { return Execute(q, catalog_, options_); }

  // The primary result as "col:type,...\nv\tv\n..." (dynamic as JSON, datetimes RFC 3339).
  std::string Text(const std::string& q, bool with_header = false) {
    Result<QueryResult> r = Run(q);
    if (!r.ok()) return "ERROR: " + r.status().message();
    const Table& t = r->tables[0];
    std::string out;
    if (with_header) {
      for (size_t c = 0; c < t.names.size(); ++c) {
        out += (c ? "," : "") + t.names[c] + ":" + TypeName(t.columns[c].type);
      }
      out += "\n";
    }
    for (size_t row = 0; row < t.rows; ++row) {
      for (size_t c = 0; c < t.columns.size(); ++c) {
        const Column& col = t.columns[c];
        out += c ? "\t" : "";
        out += col.IsNull(row) ? "null" : ValueToText(col, row);
      }
      out += "\n";
    }
    return out;
  }

  InMemoryCatalog catalog_;
  ExecOptions options_;
};

TEST_F(EngineTest, PrintEvaluatesConstantsAndNamesColumns) {
  EXPECT_EQ(Text("print x = 1 + 2, 'hi'", true), "x:long,print_1:string\n3\thi\n");
}

TEST_F(EngineTest, ResultIsNamedPrimaryResult) {
  Result<QueryResult> r = Run("Logs | take 1");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->tables[0].name, "PrimaryResult");
}

TEST_F(EngineTest, WhereFiltersRowsAndDropsNullPredicates) {
  EXPECT_EQ(Text("Logs | where DurationMs > 20 | project Computer"), "h1\nh2\nh3\n");
  EXPECT_EQ(Text("Logs | where Level == 'Error' | count"), "2\n");
}

TEST_F(EngineTest, WhereRejectsNonBoolPredicate) {
  EXPECT_THAT(Run("Logs | where Count + 1"), StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
}

TEST_F(EngineTest, UnknownNamesAreSemanticErrorsWithPosition) {
  Result<QueryResult> r = Run("Logs | where Nope > 1");
  ASSERT_THAT(r, StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
  EXPECT_NE(r.status().message().find("'Nope'"), std::string::npos);
  EXPECT_NE(r.status().message().find("at 1:14"), std::string::npos);
  EXPECT_THAT(Run("Nope | count"), StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
  EXPECT_THAT(Run("Logs | extend x = frob(1)"), StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
}

TEST_F(EngineTest, SyntaxErrorsPassThrough) {
  EXPECT_THAT(Run("Logs | where"), StatusIs(StatusCode::kInvalidArgument, "SyntaxError"));
}

TEST_F(EngineTest, ExtendAppendsAndReplacesColumns) {
  EXPECT_EQ(Text("Logs | take 1 | extend d = DurationMs * 2, Computer = 'x' | project Computer, d"),
            "x\t241\n");
  EXPECT_EQ(Text("Logs | take 1 | project Count + 1", true), "Column1:long\n2\n");
}

TEST_F(EngineTest, ProjectAwayKeepRenameReorder) {
  EXPECT_EQ(Text("Hosts | project-away Reg*", true), "Computer:string\nh1\nh2\nh4\n");
  EXPECT_EQ(Text("Hosts | project-rename Host = Computer | take 1", true),
            "Host:string,Region:string\nh1\teu\n");
  EXPECT_EQ(Text("Hosts | project-reorder Region | take 1", true), "Region:string,Computer:string\neu\th1\n");
  EXPECT_EQ(Text("Hosts | project-keep Region | take 1"), "eu\n");
}

TEST_F(EngineTest, SummarizeNamesAggregatesAndGroupKeys) {
  EXPECT_EQ(Text("Logs | summarize count(), avg(DurationMs) by Computer | sort by Computer asc", true),
            "Computer:string,count_:long,avg_DurationMs:real\nh1\t2\t120.5\nh2\t2\t17.5\nh3\t1\t900\n");
  EXPECT_EQ(Text("Logs | summarize n = count() by bin(TimeGenerated, 1d) | sort by TimeGenerated asc", true),
            "TimeGenerated:datetime,n:long\n2024-01-14T00:00:00.0000000Z\t1\n"
            "2024-01-15T00:00:00.0000000Z\t4\n");
}

// Several keys group as their values do: a null apart from 0 and from '', -0.0 with 0.0, each
// string by its text; the same with two, four (packed keys) and five keys (bytes).
TEST_F(EngineTest, SummarizeBySeveralKeysGroupsNullsZerosAndStringsApart) {
  std::string rows =
      "datatable(a:long, b:string, c:real, d:bool, e:datetime)"
      "[0, 'x', 0.0, true, datetime(2024-01-01), long(null), 'x', -0.0, true, datetime(2024-01-01),"
      " 0, 'x', -0.0, true, datetime(2024-01-01), 1, '', real(null), false, datetime(null),"
      " 1, '', real(null), false, datetime(null), 1, 'y', 0.0, bool(null), datetime(2024-01-01)]";
  EXPECT_EQ(Text(rows + " | summarize n = count() by a, b | order by n desc, b asc, a asc"),
            "1\t\t2\n0\tx\t2\nnull\tx\t1\n1\ty\t1\n");
  EXPECT_EQ(Text(rows + " | summarize n = count() by b, c | order by n desc, b asc"),
            "x\t0\t3\n\tnull\t2\ny\t0\t1\n");
  EXPECT_EQ(Text(rows + " | summarize n = count() by a, b, c, d | order by n desc, b asc, a asc"),
            "1\t\tnull\tfalse\t2\n0\tx\t0\ttrue\t2\nnull\tx\t-0\ttrue\t1\n1\ty\t0\tnull\t1\n");
  EXPECT_EQ(Text(rows + " | summarize n = count() by a, b, c, d, e | order by n desc, b asc, a asc"),
            Text(rows + " | summarize n = count() by a, b, c, d | extend e = iff(b == '', datetime(null), "
                        "datetime(2024-01-01)) | project a, b, c, d, e, n | order by n desc, b asc, a asc"));
}

// Nearest-rank percentiles of a shuffled 0..1000, asked in any order, repeated, at the ends.
TEST_F(EngineTest, PercentilesAreTheNearestRanksInTheOrderAsked) {
  EXPECT_EQ(Text("range x from 1 to 1001 step 1 | extend v = (x * 7919) % 1001 "
                 "| summarize percentiles(v, 90, 10, 50, 50, 100, 0)"),
            "900\t100\t500\t500\t1000\t0\n");
  EXPECT_EQ(Text("range x from 1 to 1001 step 1 | extend v = (x * 7919) % 1001 "
                 "| summarize p = percentile(v, 25) by b = v % 2 | order by b asc"),
            "0\t250\n1\t249\n");
  EXPECT_EQ(Text("datatable(v:real)[3.0, real(nan), 1.0, 2.0] | summarize percentiles(v, 25, 75)"), "1\t3\n");
  // Percentages past 0..100 answer the ends (no cast of a huge rank).
  EXPECT_EQ(Text("range x from 1 to 10 step 1 | summarize percentiles(x, 1e300, -5, real(nan))"), "10\t1\t1\n");
}

// Past 8 MB of values, a group of more than 32,768 has its percentiles estimated by a t-digest:
// ranks within the documented 1%, the ends exact; a smaller group beside it stays exact. The
// big group's values are distinct, 2M of 1..2,000,002 (x * 7919 modulo the prime 2,000,003),
// so the value at rank k is k, give or take the two missing.
TEST_F(EngineTest, PercentilesOfManyValuesAreEstimatesWithinOnePercentOfRank) {
  std::string rows = "range x from 1 to 2000000 step 1 | extend v = (x * 7919) % 2000003, g = iff(x <= 1000, 'small', 'big')";
  Result<QueryResult> r = Run(rows + " | summarize percentiles(v, 0, 10, 50, 95, 99, 100), min(v), max(v), count() by g "
                                     "| order by g asc");
  ASSERT_THAT(r, IsOk());
  const Table& t = r->tables[0];
  ASSERT_EQ(t.rows, 2u);
  const double ps[] = {0, 10, 50, 95, 99, 100};
  double n = static_cast<double>(t.columns[9].Int(0));
  for (size_t i = 1; i < 5; ++i) {
    EXPECT_NEAR(static_cast<double>(t.columns[1 + i].Int(0)), ps[i] / 100 * n, 0.01 * n) << ps[i];
  }
  EXPECT_EQ(t.columns[1].Int(0), t.columns[7].Int(0));  // 0: the minimum
  EXPECT_EQ(t.columns[6].Int(0), t.columns[8].Int(0));  // 100: the maximum
  EXPECT_EQ(Text(rows + " | where g == 'small' | summarize percentiles(v, 50, 95)"),
            Text(rows + " | summarize percentiles(v, 50, 95) by g | where g == 'small' | project-away g"));
}

TEST_F(EngineTest, SummarizeOverNothingGivesOneRowWithoutKeysAndNoneWithKeys) {
  // sum over no values is 0: the summarize docs' default values of aggregations.
  EXPECT_EQ(Text("Logs | where Count > 100 | summarize count(), sum(Count), max(Count)"), "0\t0\tnull\n");
  EXPECT_EQ(Text("Logs | where Count > 100 | summarize count() by Computer"), "");
}

TEST_F(EngineTest, AggregatesIgnoreNulls) {
  EXPECT_EQ(Text("Logs | summarize sum(Count), min(Count), max(Count), dcount(Computer), countif(Count > 2)"),
            "11\t1\t5\t3\t2\n");
  EXPECT_EQ(Text("Logs | summarize sumif(Count, Level == 'Info'), avgif(Count, Level == 'Info')"), "5\t2.5\n");
}

TEST_F(EngineTest, ArgMaxReturnsTheRowOfTheMaximum) {
  EXPECT_EQ(Text("Logs | summarize arg_max(DurationMs, Computer)", true),
            "DurationMs:real,Computer:string\n900\th3\n");
  EXPECT_EQ(Text("Logs | summarize arg_min(TimeGenerated, *) by Computer | sort by Computer asc | project Computer, Level"),
            "h1\tError\nh2\tInfo\nh3\tError\n");
}

TEST_F(EngineTest, MakeListSetAndPercentiles) {
  EXPECT_EQ(Text("Logs | summarize make_list(Computer), make_set(Computer)", true),
            "list_Computer:dynamic,set_Computer:dynamic\n[\"h1\",\"h2\",\"h1\",\"h3\",\"h2\"]\t[\"h1\",\"h2\",\"h3\"]\n");
  EXPECT_EQ(Text("Logs | summarize percentiles(Count, 50, 100)", true),
            "percentile_Count_50:long,percentile_Count_100:long\n2\t5\n");
  EXPECT_EQ(Text("datatable(x:long)[1, 2, 3] | summarize stdev(x), variance(x)"), "1\t1\n");
}

// make_set keeps the first of each distinct item in the order the rows show them, make_list
// every item up to its cap: here items of up to 3 KB (past the arena's first blocks and larger
// than a quarter of one), each repeated six times.
TEST_F(EngineTest, MakeSetAndMakeListKeepLongItemsInTheirOrder) {
  auto item = [](int x) { return std::to_string(x % 500) + ":" + [&] {
    std::string r;
    for (int i = 0; i < (x % 500) + 1; ++i) r += "abcdef";
    return r;
  }(); };
  std::string set = "[", list = "[";
  for (int x = 1; x <= 3000; ++x) {
    std::string quoted = "\"" + item(x) + "\"";
    if (x <= 500) set += (x > 1 ? "," : "") + quoted;
    if (x <= 1500) list += (x > 1 ? "," : "") + quoted;
  }
  set += "]";
  list += "]";
  const std::string rows = "range x from 1 to 3000 step 1 | extend s = strcat(x % 500, ':', strrep('abcdef', x % 500 + 1))";
  EXPECT_EQ(Text(rows + " | summarize make_set(s)"), set + "\n");
  EXPECT_EQ(Text(rows + " | summarize make_list(s, 1500)"), list + "\n");
  // Long items first (each in a block of its own), then short ones between them.
  std::string mixed_list = "[", mixed_set = "[";
  for (int x = 1; x <= 40; ++x) {
    std::string r;
    for (int i = 0; i < (x % 2 ? 1001 - x * 20 : 1); ++i) r += "abcdef";
    mixed_list += (x > 1 ? ",\"" : "\"") + r + "\"";
    if (x % 2 == 1 || x == 2) mixed_set += (x > 1 ? ",\"" : "\"") + r + "\"";
  }
  EXPECT_EQ(Text("range x from 1 to 40 step 1 | extend s = strrep('abcdef', iff(x % 2 == 1, 1001 - x * 20, 1)) "
                 "| summarize make_list(s), make_set(s)"),
            mixed_list + "]\t" + mixed_set + "]\n");
  EXPECT_EQ(Text(rows + " | summarize make_set(x % 7), make_set_if(x, x < 4), make_list(x % 2, 3)"),
            "[1,2,3,4,5,6,0]\t[1,2,3]\t[1,0,1]\n");
}

// Numbers, bools, datetimes and timespans are kept as values and written in Finish: the same
// text and the same distinct items as their text gives (every NaN one item, 0 and -0 two).
TEST_F(EngineTest, MakeSetAndMakeListOfValuesAnswerAsOfTheirText) {
  const std::string rows =
      "datatable(r:real, t:datetime, s:timespan, b:bool, i:int)[1.5, datetime(2024-01-01), 1h, true, 1, "
      "real(nan), datetime(2024-01-01 10:00), 2h, false, 2, 0.0, datetime(2024-01-01), 1h, true, 1, "
      "-0.0, datetime(null), time(null), bool(null), int(null), real(+inf), datetime(2024-01-02), -1h, false, -5, "
      "1.5, datetime(2024-01-01), 0s, true, 3, real(nan), datetime(2024-01-01), 1h, true, 1, "
      "real(-inf), datetime(2024-01-03), 1d, true, 7]";
  EXPECT_EQ(Text(rows + " | summarize make_set(r), make_list(r), make_list_with_nulls(r), make_set_if(r, i > 1)"),
            "[1.5,\"NaN\",0,-0,\"Infinity\",\"-Infinity\"]\t[1.5,\"NaN\",0,-0,\"Infinity\",1.5,\"NaN\",\"-Infinity\"]\t"
            "[1.5,\"NaN\",0,-0,\"Infinity\",1.5,\"NaN\",\"-Infinity\"]\t[\"NaN\",1.5,\"-Infinity\"]\n");
  EXPECT_EQ(Text(rows + " | summarize make_set(t), make_list(t, 3)"),
            "[\"2024-01-01T00:00:00.0000000Z\",\"2024-01-01T10:00:00.0000000Z\",\"2024-01-02T00:00:00.0000000Z\","
            "\"2024-01-03T00:00:00.0000000Z\"]\t[\"2024-01-01T00:00:00.0000000Z\",\"2024-01-01T10:00:00.0000000Z\","
            "\"2024-01-01T00:00:00.0000000Z\"]\n");
  EXPECT_EQ(Text(rows + " | summarize make_set(s), make_set(b), make_list(b), make_set(i), make_list(i, 4)"),
            "[\"01:00:00\",\"02:00:00\",\"-01:00:00\",\"00:00:00\",\"1.00:00:00\"]\t[true,false]\t"
            "[true,false,true,false,true,true,true]\t[1,2,-5,3,7]\t[1,2,1,-5]\n");
}

// Should a chunk's argument differ in type from an earlier one's (a column has one type, so
// it does not), make_set's values become text and the set goes on in text, merges included.
TEST(ListAggTest, ValuesBecomeTextWhenTextComes) {
  const AggregateDef* def = FindAggregate("make_set");
  ASSERT_NE(def, nullptr);
  const Type out[] = {Type::kDynamic};
  auto run = [](Aggregator& a, const Column& c) {
    const Column* args[] = {&c};
    std::vector<uint32_t> groups(c.stored(), 0);
    a.Update(args, groups, 1);
  };
  Column longs = Longs({1, 2, 1, std::nullopt});
  Column dyn = Strings({"2", "[3,1]"}, Type::kDynamic);
  Column text = Strings({"x"});
  auto a = MakeAggregator(*def, out, {});
  run(*a, longs);
  run(*a, dyn);  // 2 held already; the array's 3 new, its 1 held
  auto b = MakeAggregator(*def, out, {});
  run(*b, text);
  const uint32_t to[] = {0};
  a->Merge(*b, to, 1);
  EXPECT_EQ(a->Finish(1)[0].Str(0), "[1,2,3,\"x\"]");
  auto c = MakeAggregator(*def, out, {});  // values merged into text
  run(*c, Longs({5, 5, 6}));
  auto d = MakeAggregator(*def, out, {});
  run(*d, text);
  d->Merge(*c, to, 1);
  EXPECT_EQ(d->Finish(1)[0].Str(0), "[\"x\",5,6]");
  auto e = MakeAggregator(*def, out, {});  // text merged into values
  run(*e, Longs({7}));
  e->Merge(*d, to, 1);
  EXPECT_EQ(e->Finish(1)[0].Str(0), "[7,\"x\",5,6]");
}

// make_set of integers close together: an aggregation's first chunk marks each group's values
// in a byte array and builds no sets; a later chunk, or a merge into it, builds them first, so
// a value seen in the first chunk is not taken again. Values spread wider take the sets.
TEST(ListAggTest, CloseIntegersStayDistinctAcrossChunksAndMerges) {
  const AggregateDef* def = FindAggregate("make_set");
  ASSERT_NE(def, nullptr);
  const Type out[] = {Type::kDynamic};
  auto run = [](Aggregator& a, const Column& c, std::vector<uint32_t> groups, size_t num_groups) {
    const Column* args[] = {&c};
    a.Update(args, groups, num_groups);
  };
  auto a = MakeAggregator(*def, out, {});
  run(*a, Longs({5, 6, 5, 7, 5}), {0, 1, 0, 1, 0}, 2);  // the marks
  run(*a, Longs({5, 8, 6, std::nullopt}), {0, 0, 1, 1}, 2);  // the sets, then 8 new
  auto b = MakeAggregator(*def, out, {});
  run(*b, Longs({7, 9, 7}), {1, 1, 1}, 2);
  const uint32_t same[] = {0, 1};
  a->Merge(*b, same, 2);  // 7 held, 9 new
  auto c = MakeAggregator(*def, out, {});
  run(*c, Longs({9, 1, 9}), {1, 1, 1}, 2);
  c->Merge(*b, same, 2);  // into marks: 9 held, 7 new
  auto wide = MakeAggregator(*def, out, {});
  run(*wide, Longs({1, 100000, 1, -100000}), {0, 0, 0, 0}, 1);
  run(*wide, Longs({100000, 2}), {0, 0}, 1);
  std::vector<Column> done = a->Finish(2);
  EXPECT_EQ(done[0].Str(0), "[5,8]");
  EXPECT_EQ(done[0].Str(1), "[6,7,9]");
  EXPECT_EQ(c->Finish(2)[0].Str(1), "[9,1,7]");
  EXPECT_EQ(wide->Finish(1)[0].Str(0), "[1,100000,-100000,2]");
}

// ValueToJson's text (make_list's and make_set's items, pack_array's elements) is Boost.JSON's
// serialization: strings escaped as it escapes them, every byte value tried.
TEST(ValueJsonTest, TextIsEscapedAsBoostJsonSerializesIt) {
  Column text(Type::kString);
  std::vector<std::string> values;
  for (int b = 0; b < 256; ++b) values.push_back(std::string("a") + static_cast<char>(b) + "z");
  uint64_t state = 12345;
  for (int i = 0; i < 500; ++i) {
    std::string v;
    for (int n = static_cast<int>(i % 40); n > 0; --n) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      v.push_back(static_cast<char>(state >> 56));
    }
    values.push_back(v);
  }
  for (const std::string& v : values) text.AppendString(v);
  for (size_t i = 0; i < values.size(); ++i) {
    std::string out = "x,";
    AppendValueJson(text, i, out);
    EXPECT_EQ(out, "x," + boost::json::serialize(boost::json::string_view(values[i]))) << i;
    EXPECT_EQ(ValueToJson(text, i), boost::json::serialize(boost::json::string_view(values[i]))) << i;
  }
  Column reals(Type::kReal);
  for (double d : {1.5, -0.25, std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::quiet_NaN()}) {
    reals.AppendReal(d);
  }
  reals.AppendNull();
  std::vector<std::string> want = {"1.5", "-0.25", "\"Infinity\"", "\"-Infinity\"", "\"NaN\"", "null"};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(ValueToJson(reals, i), want[i]) << i;
  Column longs(Type::kLong);
  longs.AppendInt(std::numeric_limits<int64_t>::min());
  longs.AppendInt(0);
  EXPECT_EQ(ValueToJson(longs, 0), "-9223372036854775808");
  EXPECT_EQ(ValueToJson(longs, 1), "0");
  Column times(Type::kDateTime);
  times.AppendInt(kJan15);
  EXPECT_EQ(ValueToJson(times, 0), "\"" + FormatDatetime(kJan15) + "\"");
}

TEST_F(EngineTest, AggregatesInsideExpressions) {
  EXPECT_EQ(Text("Logs | summarize r = count() * 10 by Computer | sort by Computer asc"), "h1\t20\nh2\t20\nh3\t10\n");
}

TEST_F(EngineTest, SortDefaultsToDescendingWithNullsLast) {
  EXPECT_EQ(Text("Logs | sort by Count | project Count"), "5\n3\n2\n1\nnull\n");
  EXPECT_EQ(Text("Logs | order by Count asc | project Count"), "null\n1\n2\n3\n5\n");
  EXPECT_EQ(Text("Logs | sort by Count asc nulls last | project Count"), "1\n2\n3\n5\nnull\n");
}

TEST_F(EngineTest, TopTakeAndDistinct) {
  EXPECT_EQ(Text("Logs | top 2 by DurationMs | project DurationMs"), "900\n120.5\n");
  EXPECT_EQ(Text("Logs | take 2 | count", true), "Count:long\n2\n");
  EXPECT_EQ(Text("Logs | distinct Computer | sort by Computer asc"), "h1\nh2\nh3\n");
}

TEST_F(EngineTest, JoinKinds) {
  const std::string q = "Logs | distinct Computer | join kind=";
  EXPECT_EQ(Text(q + "inner Hosts on Computer | sort by Computer asc", true),
            "Computer:string,Computer1:string,Region:string\nh1\th1\teu\nh2\th2\tus\n");
  EXPECT_EQ(Text(q + "leftouter Hosts on Computer | sort by Computer asc | project Computer, Region"),
            "h1\teu\nh2\tus\nh3\t\n");
  EXPECT_EQ(Text(q + "leftanti Hosts on Computer"), "h3\n");
  EXPECT_EQ(Text(q + "rightanti Hosts on Computer"), "h4\tap\n");
  EXPECT_EQ(Text(q + "leftsemi Hosts on Computer | sort by Computer asc"), "h1\nh2\n");
  EXPECT_EQ(Text(q + "fullouter Hosts on Computer | count"), "4\n");
  EXPECT_EQ(Text(q + "rightouter Hosts on $left.Computer == $right.Computer | count"), "3\n");
}

TEST_F(EngineTest, DefaultJoinDeduplicatesTheLeftSide) {
  EXPECT_EQ(Text("Logs | project Computer | join Hosts on Computer | count"), "2\n");
  EXPECT_EQ(Text("Logs | project Computer | join kind=inner Hosts on Computer | count"), "4\n");
}

TEST_F(EngineTest, LookupKeepsTheKeyOnce) {
  EXPECT_EQ(Text("Logs | distinct Computer | lookup Hosts on Computer | sort by Computer asc", true),
            "Computer:string,Region:string\nh1\teu\nh2\tus\nh3\t\n");
}

TEST_F(EngineTest, UnionOuterInnerWithSourceAndWildcards) {
  EXPECT_EQ(Text("union withsource=T Hosts, (Logs | take 1 | project Computer) | count"), "4\n");
  EXPECT_EQ(Text("union kind=inner Hosts, Logs | count", true), "Count:long\n8\n");
  EXPECT_EQ(Text("union H* | count"), "3\n");
  EXPECT_EQ(Text("union withsource=T Hosts, Logs | where T == 'Hosts' | count"), "3\n");
  EXPECT_EQ(Text("union isfuzzy=true Hosts, Missing | count"), "3\n");
}

TEST_F(EngineTest, LetScalarsTabularsAndFunctions) {
  EXPECT_EQ(Text("let n = 2; Logs | take n | count"), "2\n");
  EXPECT_EQ(Text("let E = Logs | where Level == 'Error'; E | count"), "2\n");
  EXPECT_EQ(Text("let H = Hosts; H | count"), "3\n");
  EXPECT_EQ(Text("let f = (x:long, y:long = 10) { x * y }; print f(3), f(3, 2)"), "30\t6\n");
  EXPECT_EQ(Text("let g = (T:(*), n:long) { T | take n }; g(Hosts, 2) | count"), "2\n");
  EXPECT_EQ(Text("let dbl = (x:long) { x * 2 }; Logs | where isnotnull(Count) | project dbl(Count) | take 1"), "2\n");
}

TEST_F(EngineTest, ToScalarAndInTabular) {
  EXPECT_EQ(Text("let m = toscalar(Logs | summarize max(Count)); print m"), "5\n");
  EXPECT_EQ(Text("Logs | where Computer in (Hosts | project Computer) | count"), "4\n");
}

TEST_F(EngineTest, RangeAndDatatable) {
  EXPECT_EQ(Text("range i from 1 to 7 step 3"), "1\n4\n7\n");
  EXPECT_EQ(Text("range x from 1.0 to 2.0 step 0.5 | count"), "3\n");
  EXPECT_EQ(Text("range t from datetime(2024-01-01) to datetime(2024-01-01 02:00) step 1h | count"), "3\n");
  EXPECT_EQ(Text("datatable(a:long, b:string) [1, 'x', 2, 'y'] | where a > 1", true), "a:long,b:string\n2\ty\n");
}

TEST_F(EngineTest, DynamicMemberAccess) {
  EXPECT_EQ(Text("Logs | take 2 | project u = Props.user, t = Props['tags'][0]"), "\"alice\"\t\"a\"\n\"bob\"\tnull\n");
}

TEST_F(EngineTest, MvExpandArraysWithIndexAndType) {
  EXPECT_EQ(Text("Logs | take 1 | mv-expand with_itemindex=i t = Props.tags to typeof(string) | project t, i"),
            "a\t0\nb\t1\n");
  EXPECT_EQ(Text("print d = dynamic({'a':1,'b':2}) | mv-expand d"), "{\"a\":1}\n{\"b\":2}\n");
}

TEST_F(EngineTest, ParseSimpleAndRegex) {
  EXPECT_EQ(Text("Logs | where Message startswith 'user' | parse Message with 'user=' U ' took ' Ms:long 'ms' | project U, Ms"),
            "bob\t42\n");
  EXPECT_EQ(Text("Logs | where Message startswith 'user' | parse kind=regex Message with 'took ' Ms:long 'ms' | project Ms"),
            "42\n");
}

// split(s, d)[i] with a constant i >= 0 binds as split(s, d, i)[0]: the same values, escapes,
// missing parts (null) and negative indexes (from the end) as the whole array indexed.
TEST_F(EngineTest, SplitIndexedAnswersAsTheWholeArray) {
  std::string rows = "datatable(s:string) ['a \"q\" b', 'x\\\\y z', 'one', ''] | extend d = ' '";
  for (std::string i : {"0", "1", "2", "9", "-1"}) {
    // d is a column: split(s, d) is not folded, the rewrite applies; parse_json of the array
    // indexed after is the unrewritten form.
    EXPECT_EQ(Text(rows + " | project p = tostring(split(s, d)[" + i + "]), n = isnull(split(s, d)[" + i + "])"),
              Text(rows + " | project p = tostring(parse_json(tostring(split(s, d)))[" + i + "]), n = isnull(parse_json(tostring(split(s, d)))[" + i + "])"))
        << i;
  }
  EXPECT_EQ(Text(rows + " | project p = tostring(split(s, d)[1])"), "\"q\"\nz\n\n\n");
  EXPECT_EQ(Text(rows + " | project p = tostring(split(s, d)[0])"), "a\nx\\y\none\n\n");
}

TEST_F(EngineTest, SearchAddsTableColumn) {
  EXPECT_EQ(Text("search 'alice' | project $table, Computer"), "Logs\th1\n");
  EXPECT_EQ(Text("search in (Hosts) 'eu' | count"), "1\n");
  EXPECT_EQ(Text("Logs | search Level has 'warn' | count"), "0\n");
  // A piped table's rows carry its name too; the predicate may read it.
  EXPECT_EQ(Text("Hosts | search 'eu' | project $table, Region"), "Hosts\teu\n");
  EXPECT_EQ(Text("Hosts | search Region:'us' | project $table, Computer"), "Hosts\th2\n");
  EXPECT_EQ(Text("Hosts | search $table == 'Hosts' and 'ap' | project Computer"), "h4\n");
  EXPECT_EQ(Text("Hosts | where Region != 'eu' | search 'us' | project $table, Computer"), "union_arg0\th2\n");
}

// search's predicate syntax (search-operator.md): each form answers as the `where` the page
// gives for it; `* op x` tests every column (a non-string one as its text).
TEST_F(EngineTest, SearchPredicatesAnswerAsTheirWhereForms) {
  auto rows = [&](const std::string& q) { return Text(q + " | project Message"); };
  for (const auto& [search, where] : std::vector<std::pair<std::string, std::string>>{
           {"search 'login'", "where Message has 'login' or Props has 'login'"},
           {"search 'LOGIN'", "where Message has 'login'"},
           {"search 'log*'", "where Message hasprefix 'log'"},
           {"search '*ed'", "where Message hassuffix 'ed'"},
           {"search '*ogi*'", "where Message contains 'ogi'"},
           {"search 'login*alice'", "where Message has 'alice'"},
           {"search 'l*n'", "where Message matches regex @'(?i)\\bl.*n\\b'"},
           {"search *", "where true"},
           {"search Message:'ok'", "where Message has 'ok'"},
           {"search Computer:'h*'", "where Computer hasprefix 'h'"},
           {"search Level=='error'", "where Level == 'error'"},
           {"search Level=~'error'", "where Level =~ 'error'"},
           {"search 'login' and ('alice' or 'ok')", "where Message has 'login'"},
           {"search 'timeout' or (Count > 4 and Count < 6)", "where Message has 'timeout' or Count == 5"},
           {"search not('login')", "where Message !has 'login'"},
           {"search kind=case_sensitive 'Info'", "where Level == 'Info'"},
           {"search kind=case_sensitive 'info'", "where false"},
           {"search kind=case_sensitive Level:'ERROR'", "where false"},
           {"search '12'", "where Count == 12 or Message has '12'"},  // none
           {"search '42ms'", "where Message has '42ms'"},
           {"search '900'", "where DurationMs == 900"},
           {"search '2024'", "where true"},  // every TimeGenerated's text
           {"search 'alice'", "where Props has 'alice'"},
           {"search * contains 'ogi'", "where Message contains 'ogi'"},
           {"search * hasprefix 'warn'", "where Level == 'Warning'"},
           {"where * has 'h1'", "where Computer == 'h1'"},
           {"where * == 'h2'", "where Computer == 'h2'"},
           {"where * startswith 'login' and * has 'ok'", "where Message == 'login ok'"},
           {"where * contains 'AIL'", "where Message contains 'ail'"}}) {
    std::string got = rows("Logs | " + search);
    EXPECT_EQ(got, rows("Logs | " + where)) << search;
    EXPECT_EQ(got.find("ERROR"), std::string::npos) << search << ": " << got;
  }
  EXPECT_EQ(Text("Logs | search 'login' | count"), "2\n");
  EXPECT_EQ(Text("search 'h4' | project $table, Computer"), "Hosts\th4\n");
  EXPECT_EQ(Text("search in (Logs, Hosts) 'h1' | summarize count() by $table | order by $table asc"), "Hosts\t1\nLogs\t2\n");
  // A predicate naming a column filters the union: a table without it has it null.
  EXPECT_EQ(Text("search in (Logs, Hosts) 'h1' and Region == 'eu' | project $table"), "Hosts\n");
  EXPECT_EQ(Text("find 'timeout' | project source_"), "Logs\n");
  EXPECT_EQ(Text("find where * has 'timeout' | project source_"), "Logs\n");
  // Errors, not crashes.
  EXPECT_EQ(Text("Logs | where * != 'x'").rfind("ERROR: '*' is tested only with", 0), 0u);
  EXPECT_EQ(Text("Logs | where * has 5").rfind("ERROR: '* has' takes a string", 0), 0u);
  EXPECT_EQ(Text("search kind=loud 'x'").rfind("ERROR: search: kind must be", 0), 0u);
  EXPECT_EQ(Text("Logs | search in (Hosts) 'x'").rfind("ERROR: search: a piped input", 0), 0u);
  EXPECT_EQ(Text("search Message:5").rfind("ERROR:", 0), 0u);
  // A term's wildcards are bounded (each inner one is a `.*` of its regex; runs of stars and
  // those at its ends are none); a run of stars alone is every row.
  EXPECT_EQ(Text("Logs | search '" + std::string(20, '*') + "l*o***g*i*n" + "' | count"), "2\n");
  EXPECT_EQ(Text("Logs | search '*l*o*g*i*n*a*b*c*d*e*f*g*h*i*j*k*l*m*n*' | count").rfind(
                "ERROR: search: a term holds at most 16 '*' wildcards", 0),
            0u);
  EXPECT_EQ(Text("Logs | search Message:'" + std::string(5000, '*') + "' | count"), "5\n");
}

TEST_F(EngineTest, MakeSeriesFillsMissingBinsWithDefault) {
  EXPECT_EQ(Text("Logs | make-series n = count() default = 0 on TimeGenerated from datetime(2024-01-15 10:00) "
                 "to datetime(2024-01-15 13:00) step 1h by Computer | sort by Computer asc | project Computer, n"),
            "h1\t[1,0,1]\nh2\t[0,1,0]\n");
}

TEST_F(EngineTest, GetSchemaListsColumns) {
  EXPECT_EQ(Text("Hosts | getschema", true),
            "ColumnName:string,ColumnOrdinal:int,DataType:string,ColumnType:string\n"
            "Computer\t0\tSystem.String\tstring\nRegion\t1\tSystem.String\tstring\n");
}

TEST_F(EngineTest, SerializeRowNumberPrevNext) {
  EXPECT_EQ(Text("range i from 1 to 3 step 1 | serialize rn = row_number(), p = prev(i), n = next(i)"),
            "1\t1\tnull\t2\n2\t2\t1\t3\n3\t3\t2\tnull\n");
}

TEST_F(EngineTest, RenderIsRecorded) {
  Result<QueryResult> r = Run("Logs | summarize count() by Computer | render piechart with (title='x')");
  ASSERT_THAT(r, IsOk());
  ASSERT_TRUE(r->render.has_value());
  EXPECT_EQ(r->render->at("visualization"), "piechart");
  EXPECT_EQ(r->render->at("title"), "x");
}

TEST_F(EngineTest, TruncationAddsWarning) {
  options_.max_result_rows = 2;
  Result<QueryResult> r = Run("Logs");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->tables[0].rows, 2u);
  EXPECT_EQ(r->warnings.size(), 1u);
}

TEST_F(EngineTest, AgoUsesInjectedClock) {
  EXPECT_EQ(Text("Logs | where TimeGenerated > ago(3h) | count"), "2\n");
}

TEST_F(EngineTest, ExtendItemsSeeEarlierItems) {
  EXPECT_EQ(Text("Logs | take 1 | extend A = Count + 1, B = A * 2 | project A, B"), "2\t4\n");
  EXPECT_EQ(Text("Logs | take 1 | project A = Count + 1, B = A * 10"), "2\t20\n");
}

TEST_F(EngineTest, GetSchemaAfterProjectThenCount) {
  EXPECT_EQ(Text("Logs | project Computer | getschema | count"), "1\n");
}

TEST_F(EngineTest, AggregateInsideArithmetic) {
  EXPECT_EQ(Text("Logs | summarize sum(Count) / 2.0", true), "Column1:real\n5.5\n");
}

TEST_F(EngineTest, ParseWildcardsAroundTypedColumn) {
  EXPECT_EQ(Text("Logs | parse Message with * 'took ' Ms:long * | where isnotnull(Ms) | project Ms"), "42\n");
  EXPECT_EQ(Text("Logs | take 1 | parse Message with 'user=' U ' took ' * | project U", true), "U:string\n\n");
}

TEST_F(EngineTest, MvExpandNullGivesOneRowAndEmptyArrayNone) {
  EXPECT_EQ(Text("Logs | mv-expand t = Props.tags | count"), "5\n");
  EXPECT_EQ(Text("print d = dynamic({'a':1}) | mv-expand kind=array d"), "[\"a\",1]\n");
}

TEST_F(EngineTest, StringColumnsAreNeverNull) {
  EXPECT_EQ(Text("Logs | distinct Computer | join kind=leftouter Hosts on Computer | where Computer == 'h3' "
                 "| project isempty(Region), isnull(Region)"), "true\tfalse\n");
}

// A catalog that records scan requests, to check the push-down.
// Query `q`'s rows as "v|v|...\n" per row (nulls as "null").
std::string RowsText(const Catalog& cat, const std::string& q, const ExecOptions& opts = ExecOptions{}) {
  Result<QueryResult> r = Execute(q, cat, opts);
  EXPECT_THAT(r, IsOk()) << q;
  std::string out;
  for (size_t row = 0; r.ok() && row < r->tables[0].rows; ++row) {
    for (const Column& c : r->tables[0].columns) out += (c.IsNull(row) ? "null" : ValueToText(c, row)) + "|";
    out += "\n";
  }
  return out;
}

class RecordingCatalog : public InMemoryCatalog {
 public:
  Status Scan(const ScanRequest& request,
              const std::function<Status(std::shared_ptr<const Table>)>& sink) const override {
    last = request;
    if (request.best) best = request.best;
    return InMemoryCatalog::Scan(request, sink);
  }
  mutable ScanRequest last;
  mutable std::optional<ScanRequest::Best> best;  // the last scan asked for the best values
};

TEST(KqlPushDownTest, ScanGetsNeededColumnsAndTimeBounds) {
  RecordingCatalog cat;
  Table t;
  t.name = "T";
  t.AddColumn("TimeGenerated", Longs({kJan15}, Type::kDateTime));
  t.AddColumn("A", Longs({1}));
  t.AddColumn("B", Strings({"x"}));
  t.rows = 1;
  cat.Add(std::move(t));
  ExecOptions opts;
  opts.now = TimePoint(std::chrono::nanoseconds((kJan15 + kHour) * 100));
  ASSERT_THAT(Execute("T | where TimeGenerated >= ago(2h) and TimeGenerated < now() | summarize sum(A)", cat, opts), IsOk());
  EXPECT_EQ(cat.last.columns, (std::vector<std::string>{"TimeGenerated", "A"}));
  EXPECT_EQ(cat.last.min_time, kJan15 - kHour);
  EXPECT_EQ(cat.last.max_time, kJan15 + kHour - 1);
  ASSERT_THAT(Execute("T | where A > 0", cat, opts), IsOk());
  EXPECT_EQ(cat.last.columns.size(), 3u);
  EXPECT_FALSE(cat.last.min_time.has_value());
  // make-series reads its axis, keys and arguments only.
  ASSERT_THAT(Execute("T | make-series sum(A) on TimeGenerated step 1h", cat, opts), IsOk());
  EXPECT_EQ(cat.last.columns, (std::vector<std::string>{"TimeGenerated", "A"}));
  ASSERT_THAT(Execute("T | make-series count() on TimeGenerated step 1h by B", cat, opts), IsOk());
  EXPECT_EQ(cat.last.columns, (std::vector<std::string>{"TimeGenerated", "B"}));
}

// A catalog whose scans keep only the rows within the request's TimeGenerated bounds
// (ExactTimeBounds): the binder drops the leading conjuncts the bounds come from, so that
// neither they nor their column are read; the answers stay those of the plain catalog.
class ExactTimeCatalog : public RecordingCatalog {
 public:
  Status Scan(const ScanRequest& request,
              const std::function<Status(std::shared_ptr<const Table>)>& sink) const override {
    return RecordingCatalog::Scan(request, [&](std::shared_ptr<const Table> t) -> Status {
      if (!request.min_time && !request.max_time) return sink(std::move(t));
      int tc = t->Find("TimeGenerated");
      std::vector<uint32_t> rows;
      for (size_t r = 0; r < t->rows; ++r) {
        const Column& c = t->columns[static_cast<size_t>(tc)];
        bool in = !c.IsNull(r) && (!request.min_time || c.Int(r) >= *request.min_time) &&
                  (!request.max_time || c.Int(r) <= *request.max_time);
        if (in) rows.push_back(static_cast<uint32_t>(r));
      }
      return sink(std::make_shared<Table>(GatherTable(*t, rows)));
    });
  }
  bool ExactTimeBounds() const override { return true; }
};

TEST(KqlPushDownTest, ExactTimeBoundsAnswerTheirConjunctsAtTheScan) {
  ExactTimeCatalog exact;
  InMemoryCatalog plain;
  for (Catalog* c : std::vector<Catalog*>{&exact, &plain}) {
    Table t;
    t.name = "T";
    t.AddColumn("TimeGenerated", Longs({kJan15 - kHour, kJan15, kJan15 + 1, std::nullopt, kJan15 + kHour,
                                        kJan15 + 2 * kHour, kJan15 + kHour - 1},
                                       Type::kDateTime));
    t.AddColumn("A", Longs({1, 2, 3, 4, 5, 6, 7}));
    t.rows = 7;
    static_cast<InMemoryCatalog*>(c)->Add(std::move(t));
  }
  ExecOptions opts;
  opts.now = TimePoint(std::chrono::nanoseconds((kJan15 + kHour) * 100));
  auto text = [&](const Catalog& cat, const std::string& q) { return RowsText(cat, q, opts); };
  ASSERT_THAT(Execute("T | where TimeGenerated >= ago(2h) and TimeGenerated < now() | summarize sum(A)", exact, opts),
              IsOk());
  EXPECT_EQ(exact.last.columns, (std::vector<std::string>{"A"}));
  ASSERT_THAT(Execute("T | where A > 0 and TimeGenerated > datetime(2024-01-15) | count", exact, opts), IsOk());
  EXPECT_EQ(exact.last.columns, (std::vector<std::string>{"A"}));
  EXPECT_EQ(exact.last.min_time, kJan15 + 1);
  // After an extend the where is no longer the scan's: its comparison stays and reads the column.
  ASSERT_THAT(Execute("T | extend B = A | where TimeGenerated > datetime(2024-01-15) | summarize sum(B)", exact, opts),
              IsOk());
  EXPECT_EQ(exact.last.columns, (std::vector<std::string>{"TimeGenerated", "A"}));
  for (const char* q : {
           "T | where TimeGenerated > datetime(2024-01-15) | summarize sum(A)",
           "T | where TimeGenerated >= datetime(2024-01-15) | summarize sum(A)",
           "T | where datetime(2024-01-15 01:00) > TimeGenerated | summarize sum(A)",
           "T | where TimeGenerated <= datetime(2024-01-15 01:00) | summarize sum(A), count()",
           "T | where TimeGenerated == datetime(2024-01-15) | project A",
           "T | where TimeGenerated between (datetime(2024-01-15) .. 1h) | project A",
           "T | where TimeGenerated between (datetime(2024-01-15) .. datetime(2024-01-15 01:00)) | project A",
           "T | where TimeGenerated > ago(1h) and A % 2 == 1 | project A",
           "T | where TimeGenerated > ago(1h) | where TimeGenerated < now() | where A > 2 | count",
           "T | where TimeGenerated > now() | count",
           "T | where TimeGenerated > datetime(2024-01-15) and TimeGenerated < datetime(2024-01-14) | count",
           "T | where TimeGenerated > datetime(2024-01-15) or A == 1 | count",
           "T | where isnull(TimeGenerated) | count",
           "T | where TimeGenerated !between (datetime(2024-01-15) .. 1h) | project A",
       }) {
    EXPECT_EQ(text(exact, q), text(plain, q)) << q;
  }
}

// ScanAsAsked completes what a catalog without capabilities leaves undone, so that a wrapper
// may claim every capability (the Lockbox view over the workspaces' catalog and its own
// tables): the answers are those of the plain catalog.
TEST(KqlPushDownTest, ScanAsAskedDoesWhatTheCatalogDoesNot) {
  class Bare : public testing::CatalogWrapper {  // no capability: hands out every row of every chunk
   public:
    using CatalogWrapper::CatalogWrapper;
    Status Scan(const ScanRequest& request,
                const std::function<Status(std::shared_ptr<const Table>)>& sink) const override {
      ScanRequest all = request;
      all.thin.reset();
      return inner().Scan(all, sink);
    }
  };
  class Claims : public testing::CatalogWrapper {  // every capability, through ScanAsAsked
   public:
    using CatalogWrapper::CatalogWrapper;
    Status Scan(const ScanRequest& request,
                const std::function<Status(std::shared_ptr<const Table>)>& sink) const override {
      return ScanAsAsked(inner(), request, sink);
    }
    bool AppliesFilters() const override { return true; }
    bool SequencesChunks() const override { return true; }
    bool Thins() const override { return true; }
    bool ExactTimeBounds() const override { return true; }
  };
  InMemoryCatalog plain;
  Table t;
  t.name = "T";
  std::vector<std::optional<int64_t>> times, a;
  std::vector<std::string> b;
  for (int r = 0; r < 200'000; ++r) {
    times.push_back(r % 97 == 0 ? std::nullopt : std::optional<int64_t>(kJan15 + (r * 7919 % 200'000) * kHour / 1000));
    a.push_back(r % 1000);
    b.push_back("v" + std::to_string(r % 13));
  }
  t.AddColumn("TimeGenerated", Longs(times, Type::kDateTime));
  t.AddColumn("A", Longs(a));
  t.AddColumn("B", Strings(b));
  t.rows = 200'000;
  plain.Add(std::move(t));
  Bare bare(plain);
  Claims claims(bare);
  ExecOptions opts;
  opts.now = TimePoint(std::chrono::nanoseconds((kJan15 + 300 * kHour) * 100));
  auto text = [&](const Catalog& cat, const std::string& q) { return RowsText(cat, q, opts); };
  for (const char* q : {
           "T | where TimeGenerated > datetime(2024-01-18) | count",
           "T | where TimeGenerated between (datetime(2024-01-16) .. 1d) and B == 'v3' | summarize count(), sum(A)",
           "T | where B has 'v1' | summarize count() by B, bin(A, 100) | order by B asc, A asc",
           "T | where A > 990 | summarize dcount(B), min(TimeGenerated) by A | order by A asc",
           "T | summarize arg_max(A, *) by B | order by B asc",
           "T | where TimeGenerated < datetime(2024-01-20) | sample 20 | count",
           "T | sample 7 | count",
       }) {
    EXPECT_EQ(text(claims, q), text(plain, q)) << q;
  }
  EXPECT_EQ(text(claims, "T | sample 7 | count"), "7|\n");
}

// `sort by X | take N` is a top: its scan is asked for the N best X first (ScanRequest::best),
// through a projection that only selects columns, which then applies to the N rows; any other
// projection stays where it is.
TEST(KqlPushDownTest, SortThenTakeIsATopOverTheScan) {
  RecordingCatalog cat;
  Table t;
  t.name = "T";
  t.AddColumn("A", Longs({5, 1, 9, 3, 7}));
  t.AddColumn("B", Strings({"e", "a", "i", "c", "g"}));
  t.AddColumn("C", Strings({"x", "x", "x", "x", "x"}));
  t.rows = 5;
  cat.Add(std::move(t));
  auto rows = [&](const std::string& q) { return RowsText(cat, q); };
  auto best = [&] {
    std::string b = cat.best ? cat.best->column + " " + std::to_string(cat.best->n) : "none";
    cat.best.reset();
    return b;
  };
  EXPECT_EQ(rows("T | sort by A desc | take 2"), rows("T | top 2 by A desc"));
  best();
  EXPECT_EQ(rows("T | sort by A desc | take 2"), "9|i|x|\n7|g|x|\n");
  EXPECT_EQ(best(), "A 2");
  EXPECT_EQ(rows("T | order by A asc nulls last | limit 3 | project B"), "a|\nc|\ne|\n");
  EXPECT_EQ(best(), "A 3");
  // Through a selection, renamed: the last scan reads the selected columns only.
  EXPECT_EQ(rows("T | project Key = A, B | sort by Key desc | take 1"), "9|i|\n");
  EXPECT_EQ(best(), "A 1");
  EXPECT_EQ(cat.last.columns, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(rows("T | project B, A | top 2 by A asc nulls last"), "a|1|\nc|3|\n");
  EXPECT_EQ(best(), "A 2");
  // A computed column stays above the top: the scan is not asked for a best.
  EXPECT_EQ(rows("T | extend D = A * 2 | sort by D desc | take 1 | project D"), "18|\n");
  EXPECT_EQ(best(), "none");
  EXPECT_EQ(rows("T | sort by A desc | take -1"), "");
  EXPECT_EQ(rows("T | sort by A desc | take 0"), "");
}

// A sort or top by one int or real key sorts (value, row) pairs (sort.cc), a coded string key
// by its entries' ranks: the same order as
// the comparison of columns a second key takes (nulls first or last, ties in input order, -0.0
// as 0.0), for every direction, null placement and limit; a NaN falls back to the comparison.
TEST(KqlSortTest, OneNumericKeySortsAsTheComparisonDoes) {
  InMemoryCatalog cat;
  std::vector<std::optional<int64_t>> ints, ids;
  std::vector<std::optional<double>> reals;
  uint64_t x = 12345;
  for (int64_t i = 0; i < 3000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    ids.push_back(i);
    ints.push_back(x % 11 == 0 ? std::nullopt : std::optional<int64_t>(static_cast<int64_t>(x >> 40) % 200 - 100));
    double r = static_cast<double>(static_cast<int64_t>(x >> 33) % 50) / 4 - 6;
    if (x % 13 == 0) reals.push_back(std::nullopt);
    else if (x % 17 == 0) reals.push_back(x % 2 ? -0.0 : 0.0);
    else if (x % 19 == 0) reals.push_back(x % 2 ? -1.0 / 0.0 : 1.0 / 0.0);
    else reals.push_back(r);
  }
  Table t;
  t.name = "T";
  t.AddColumn("i", Longs(ids));
  t.AddColumn("n", Longs(ints));
  t.AddColumn("d", Longs(ints, Type::kDateTime));
  t.AddColumn("r", Reals(reals));
  // A coded string key: its entries ranked once (SortOneCodedKey).
  std::vector<std::string> words;
  for (size_t i = 0; i < ids.size(); ++i) words.push_back(std::string(1, static_cast<char>('a' + (i * 7) % 5)) + std::to_string((i * 13) % 17));
  t.AddColumn("s", kql::testing::CodedColumn(words));
  t.rows = ids.size();
  cat.Add(std::move(t));
  for (std::string key : {"n", "d", "r", "s"}) {
    for (std::string dir : {" asc", " desc", " asc nulls last", " desc nulls first"}) {
      for (std::string op : {"sort by", "top 7 by", "top 500 by", "top 2900 by"}) {
        std::string fast = "T | " + op + " " + key + dir + " | project i";
        std::string slow = "T | extend z = 1 | " + op + " " + key + dir + ", z asc | project i";
        EXPECT_EQ(RowsText(cat, fast), RowsText(cat, slow)) << fast;
      }
    }
  }
  // A NaN: the comparison's order, whatever it is, on both paths.
  Table u;
  u.name = "U";
  u.AddColumn("r", Reals({3.0, std::nan(""), 1.0, 2.0}));
  u.rows = 4;
  cat.Add(std::move(u));
  EXPECT_EQ(RowsText(cat, "U | sort by r asc"), RowsText(cat, "U | extend z = 1 | sort by r asc, z asc | project r"));
}

// The columns a result is computed from reach the scans through joins, unions and subqueries:
// each table reads only those (the others come back as nulls), with the same answers.
TEST(KqlPushDownTest, JoinsUnionsAndSubqueriesReadOnlyTheColumnsAboveThem) {
  class ColumnsCatalog : public InMemoryCatalog {
   public:
    Status Scan(const ScanRequest& request,
                const std::function<Status(std::shared_ptr<const Table>)>& sink) const override {
      std::string& cols = read[request.table];
      if (!cols.empty()) cols += " / ";  // scanned twice in one query
      for (const std::string& c : request.columns) cols += c + ",";
      if (request.columns.empty()) cols += "*";
      return InMemoryCatalog::Scan(request, sink);
    }
    mutable std::map<std::string, std::string> read;
  } cat;
  Table t;
  t.name = "T";
  t.AddColumn("TimeGenerated", Longs({kJan15, kJan15, kJan15}, Type::kDateTime));
  t.AddColumn("A", Longs({1, 2, 3}));
  t.AddColumn("B", Strings({"x", "y", "z"}));
  t.AddColumn("C", Strings({"c1", "c2", "c3"}));
  t.rows = 3;
  cat.Add(std::move(t));
  Table u;
  u.name = "U";
  u.AddColumn("A", Longs({2, 3, 4}));
  u.AddColumn("D", Longs({1, 2, 3}));
  u.AddColumn("E", Strings({"e2", "e3", "e4"}));
  u.rows = 3;
  cat.Add(std::move(u));
  auto run = [&](const std::string& q) {
    cat.read.clear();
    std::string rows = RowsText(cat, q);
    std::string reads;
    for (const auto& [table, cols] : cat.read) reads += table + ":" + cols + " ";
    return rows + reads;
  };
  EXPECT_EQ(run("T | join kind=leftanti (U) on A | count"), "1|\nT:A, U:A, ");
  EXPECT_EQ(run("T | join kind=inner (U | where D > 1) on A | project B, E"), "z|e3|\nT:A,B, U:A,D,E, ");
  EXPECT_EQ(run("T | lookup (U) on A | project C, D"), "c1|null|\nc2|1|\nc3|2|\nT:A,C, U:A,D, ");
  EXPECT_EQ(run("T | join kind=rightsemi (U) on A | project E"), "e2|\ne3|\nT:A, U:A,E, ");
  // A where on the left's columns goes below an innerunique join (binder_tabular.cc).
  EXPECT_EQ(run("T | join (U) on A | where B == 'y' | project C"), "c2|\nT:A,B,C, U:A, ");
  EXPECT_EQ(run("T | project A, C | join (U) on A | project-away D"), "2|c2|2|e2|\n3|c3|3|e3|\nT:A,C, U:A,E, ");
  EXPECT_EQ(run("union T, U | summarize count() by A | sort by A asc"), "1|1|\n2|2|\n3|2|\n4|1|\nT:A, U:A, ");
  // withsource's column comes first: the legs' maps are offset by it.
  EXPECT_EQ(run("union withsource=S T, U | where D > 1 | project S, E"), "U|e3|\nU|e4|\nT:TimeGenerated, U:D,E, ");
  EXPECT_EQ(run("T | where A in ((U | project A, D, E)) | project B"), "y|\nz|\nT:A,B, U:A, ");
  EXPECT_EQ(run("print toscalar(U | project D, E)"), "1|\nU:D, ");
  // top-nested: its levels' keys and what their aggregates read.
  EXPECT_EQ(run("T | top-nested 1 of B by sum(A)"), "z|3|\nT:A,B, ");
  EXPECT_EQ(run("T | top-nested 1 of B by count(), top-nested of C by max(A) | project C"), "c1|\nT:A,B,C, ");
  // What the output shows is read, from both sides.
  EXPECT_EQ(run("T | project A, B | join kind=inner (U) on A | where D == 2"), "3|z|3|2|e3|\nT:A,B, U:A,D,E, ");
  EXPECT_EQ(run("T | join kind=inner (U) on A | where D == 2 | count"), "1|\nT:A, U:A,D, ");
}

// min and max of columns over a scan without keys are answered as `top 1` reads them (a best
// asked of the scan); a NaN, an empty or all-null column, or another aggregate: a plain scan,
// with the same answers as ever.
TEST(KqlPushDownTest, MinAndMaxOverAScanAreReadAsTopOne) {
  RecordingCatalog cat;
  Table t;
  t.name = "T";
  t.AddColumn("A", Longs({5, 1, 9, 3, 7}));
  t.AddColumn("R", Reals({0.5, std::nan(""), 2.5, 1.5, -1.0}));
  Column nulls(Type::kLong);
  for (int i = 0; i < 5; ++i) nulls.AppendNull();
  t.AddColumn("N", std::move(nulls));
  t.rows = 5;
  cat.Add(std::move(t));
  auto rows = [&](const std::string& q) {
    std::string text = RowsText(cat, q);
    std::erase(text, '\n');
    return text;
  };
  cat.best.reset();
  EXPECT_EQ(rows("T | summarize hi = max(A), lo = min(A)"), "9|1|");
  EXPECT_TRUE(cat.best.has_value());
  cat.best.reset();
  EXPECT_EQ(rows("T | summarize max(A), count()"), "9|5|");
  EXPECT_FALSE(cat.best.has_value());
  EXPECT_EQ(rows("T | summarize max(R), min(R)"), rows("T | where true | summarize max(R), min(R)"));
  EXPECT_EQ(rows("T | summarize max(N), min(A)"), "null|1|");
  EXPECT_EQ(rows("T | where A > 100 | summarize max(A)"), "null|");
}

TEST(KqlInMemoryCatalogTest, ScansInChunks) {
  InMemoryCatalog cat;
  Table t;
  t.name = "Big";
  Column c(Type::kLong);
  for (int64_t i = 0; i < 200'000; ++i) c.AppendInt(i);
  t.AddColumn("x", std::move(c));
  t.rows = 200'000;
  cat.Add(std::move(t));
  int chunks = 0;
  ASSERT_THAT(cat.Scan({"Big", {}, {}, {}}, [&](std::shared_ptr<const Table> chunk) {
    ++chunks;
    return OkStatus();
  }), IsOk());
  EXPECT_GT(chunks, 1);
  Result<QueryResult> r = Execute("Big | summarize sum(x), count() by bin(x, 100000) | count", cat, ExecOptions{});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->tables[0].columns[0].Int(0), 2);
}

// Hands out a fresh chunk on every scan and keeps no reference to it: the executor's borrowed
// columns must keep it alive themselves.
class FreshChunkCatalog : public Catalog {
 public:
  explicit FreshChunkCatalog(Table t) : t_(std::move(t)) {}
  std::vector<std::string> TableNames() const override { return {t_.name}; }
  std::optional<Schema> TableSchema(const std::string& table) const override {
    if (table != t_.name) return std::nullopt;
    Schema s;
    for (size_t i = 0; i < t_.names.size(); ++i) s.push_back({t_.names[i], t_.columns[i].type});
    return s;
  }
  Status Scan(const ScanRequest& request,
              const std::function<Status(std::shared_ptr<const Table>)>& sink) const override {
    if (request.table != t_.name) return NotFound("no table");
    return sink(std::make_shared<const Table>(t_));
  }
  const Table& table() const { return t_; }

 private:
  Table t_;
};

Table SharedChunkTable() {
  Table t;
  t.name = "S";
  Column s(Type::kString), n(Type::kLong), d(Type::kDynamic);
  for (int64_t i = 0; i < 3000; ++i) {
    s.AppendString("k" + std::to_string(i % 1000));  // short strings: views must survive growth
    n.AppendInt(i);
    d.AppendString("[" + std::to_string(i) + "]");
  }
  t.AddColumn("s", std::move(s));
  t.AddColumn("n", std::move(n));
  t.AddColumn("d", std::move(d));
  t.rows = 3000;
  return t;
}

std::string FirstCell(const Result<QueryResult>& r) {
  if (!r.ok()) return "ERROR: " + r.status().message();
  return ValueToText(r->tables[0].columns[0], 0);
}

TEST(KqlSharedChunksTest, QueriesLeaveTheSharedChunksUnchanged) {
  FreshChunkCatalog cat(SharedChunkTable());
  InMemoryCatalog mem;
  mem.Add(SharedChunkTable());
  for (const Catalog* c : {static_cast<const Catalog*>(&cat), static_cast<const Catalog*>(&mem)}) {
    for (const char* q : {"S | extend n = n * 2 | count", "S | project x = s, s | count",
                          "S | parse s with 'k' v:long | summarize sum(v)", "S | where n > 10 | top 3 by n",
                          "S | sort by n asc | take 2", "S | mv-expand d | count",
                          "union S, S | summarize count() by s | count"}) {
      ASSERT_THAT(Execute(q, *c, ExecOptions{}), IsOk()) << q;
    }
  }
  Result<QueryResult> r = Execute("S | summarize min(s), max(n), sum(n)", mem, ExecOptions{});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(ValueToText(r->tables[0].columns[0], 0), "k0");
  EXPECT_EQ(r->tables[0].columns[1].Int(0), 2999);
  EXPECT_EQ(r->tables[0].columns[2].Int(0), 2999 * 3000 / 2);
}

TEST(KqlSharedChunksTest, StringGroupsAndDcountSurviveManyShortKeys) {
  FreshChunkCatalog cat(SharedChunkTable());
  EXPECT_EQ(FirstCell(Execute("S | summarize c = count() by s | where c != 3 | count", cat, ExecOptions{})), "0");
  EXPECT_EQ(FirstCell(Execute("S | distinct s | count", cat, ExecOptions{})), "1000");
  EXPECT_EQ(FirstCell(Execute("S | summarize dcount(s)", cat, ExecOptions{})), "1000");
  EXPECT_EQ(FirstCell(Execute("S | summarize c = dcount(s) by b = n % 2 | summarize sum(c)", cat, ExecOptions{})),
            "1000");
  EXPECT_EQ(FirstCell(Execute("S | where s == 'k7' | top 1 by n desc | project n", cat, ExecOptions{})), "2007");
}

}  // namespace
}  // namespace cmk::kql
