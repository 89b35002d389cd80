// Dictionary-coded string columns (kql::Column::coded) and packed ones (Column::packed) answer
// every query exactly as the same rows held as plain strings: the per-entry evaluation of
// one-column functions, grouping by code, gathers, concatenation of chunks with different
// dictionaries, sorting and output.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "base/testing.h"
#include "kql/engine.h"
#include "kql/exec/eval.h"
#include "kql/test_columns.h"

namespace cmk::kql {
namespace {

using ::cmk::testing::IsOk;

// A catalog that hands out fixed chunks: each coded chunk has a dictionary of its own.
class ChunkCatalog : public Catalog {
 public:
  ChunkCatalog(Schema schema, std::vector<std::shared_ptr<const Table>> chunks)
      : schema_(std::move(schema)), chunks_(std::move(chunks)) {}
  std::vector<std::string> TableNames() const override { return {"T"}; }
  std::optional<Schema> TableSchema(const std::string& table) const override {
    if (table != "T") return std::nullopt;
    return schema_;
  }
  Status Scan(const ScanRequest&, const std::function<Status(std::shared_ptr<const Table>)>& sink) const override {
    for (const auto& c : chunks_) RETURN_IF_ERROR(sink(c));
    return OkStatus();
  }

 private:
  Schema schema_;
  std::vector<std::shared_ptr<const Table>> chunks_;
};

Column Plain(const std::vector<std::string>& values, Type type) {
  Column c(type);
  for (const std::string& v : values) c.AppendString(v);
  return c;
}

Column Packed(const std::vector<std::string>& values, Type type) {
  Column c(type);
  c.StartPacked(values.size(), 0);
  for (const std::string& v : values) c.AppendPacked(v);
  return c;
}

class CodedTest : public ::testing::Test {
 protected:
  CodedTest() {
    const char* hosts[] = {"web-01", "web-02", "db-01", "DB-01", "cache", ""};
    const char* levels[] = {"Error", "Info", "Warning"};
    std::mt19937 rng(7);
    for (int chunk = 0; chunk < 4; ++chunk) {
      size_t rows = 200 + 150 * static_cast<size_t>(chunk);
      std::vector<std::string> computer, level, props;
      Column time(Type::kDateTime), duration(Type::kReal);
      for (size_t r = 0; r < rows; ++r) {
        // Later chunks see fewer hosts, so their dictionaries differ.
        computer.push_back(hosts[rng() % (6 - static_cast<unsigned>(chunk))]);
        level.push_back(levels[rng() % 3]);
        props.push_back(R"({"k":)" + std::to_string(rng() % 4) + "}");
        time.AppendInt(kJan15 + static_cast<int64_t>(rng() % 86400) * kTicksPerSecond);
        duration.AppendReal(static_cast<double>(rng() % 1000) / 10);
      }
      coded_.push_back(MakeChunk(testing::CodedColumn(computer), testing::CodedColumn(level),
                                 testing::CodedColumn(props, Type::kDynamic), time, duration));
      plain_.push_back(MakeChunk(Plain(computer, Type::kString), Plain(level, Type::kString),
                                 Plain(props, Type::kDynamic), time, duration));
      packed_.push_back(MakeChunk(Packed(computer, Type::kString), Packed(level, Type::kString),
                                  Packed(props, Type::kDynamic), time, duration));
    }
  }

  static std::shared_ptr<const Table> MakeChunk(Column computer, Column level, Column props, Column time,
                                                Column duration) {
    auto t = std::make_shared<Table>();
    t->name = "T";
    t->rows = time.ints.size();
    t->AddColumn("TimeGenerated", std::move(time));
    t->AddColumn("Computer", std::move(computer));
    t->AddColumn("Level", std::move(level));
    t->AddColumn("Props", std::move(props));
    t->AddColumn("DurationMs", std::move(duration));
    return t;
  }

  // The query's answer over the coded chunks and over the plain ones (checked equal to the
  // answer over the packed ones).
  std::pair<std::string, std::string> Both(const std::string& q) {
    Schema schema = {{"TimeGenerated", Type::kDateTime}, {"Computer", Type::kString}, {"Level", Type::kString},
                     {"Props", Type::kDynamic}, {"DurationMs", Type::kReal}};
    ChunkCatalog coded(schema, coded_), plain(schema, plain_), packed(schema, packed_);
    ExecOptions o;
    auto a = Execute(q, coded, o);
    auto b = Execute(q, plain, o);
    auto c = Execute(q, packed, o);
    EXPECT_THAT(a, IsOk()) << q;
    EXPECT_THAT(b, IsOk()) << q;
    EXPECT_THAT(c, IsOk()) << q;
    if (!a.ok() || !b.ok() || !c.ok()) return {};
    std::string p = testing::RenderTable(b->tables[0]);
    EXPECT_EQ(testing::RenderTable(c->tables[0]), p) << "packed: " << q;
    return {testing::RenderTable(a->tables[0]), p};
  }

  std::vector<std::shared_ptr<const Table>> coded_, plain_, packed_;
};

// Chunks coded with dictionaries of their own concatenate coded: the second's entries are
// looked up in (or added to) the first's, its codes translated; past kMaxDictEntries the column
// becomes plain strings. Either way every value reads as before.
TEST(AppendRowsTest, CodedChunksWithOwnDictionariesConcatenateCoded) {
  Column dst = testing::CodedColumn({"a", "b", "a"});
  Column src = testing::CodedColumn({"c", "a", "d", "c"});
  AppendRows(dst, src, 3);
  ASSERT_TRUE(dst.coded());
  EXPECT_EQ(dst.dict->size(), 4u);  // a, b, c, d
  std::vector<std::string> want = {"a", "b", "a", "c", "a", "d"};
  ASSERT_EQ(dst.stored(), want.size());
  for (size_t r = 0; r < want.size(); ++r) EXPECT_EQ(dst.Str(r), want[r]) << r;
  EXPECT_EQ(src.dict->size(), 3u);  // the source's dictionary is untouched
  // A union past 65,536 entries: plain strings.
  auto many = std::make_shared<std::vector<std::string>>();
  Column big(Type::kString);
  for (size_t i = 0; i < kMaxDictEntries; ++i) {
    many->push_back("m" + std::to_string(i));
    big.codes.push_back(static_cast<Code>(i));
  }
  big.dict = many;
  Column add = testing::CodedColumn({"m7", "new"});
  AppendRows(big, add, 2);
  EXPECT_FALSE(big.coded());
  ASSERT_EQ(big.stored(), kMaxDictEntries + 2);
  EXPECT_EQ(big.Str(kMaxDictEntries), "m7");
  EXPECT_EQ(big.Str(kMaxDictEntries + 1), "new");
  EXPECT_EQ(big.Str(5), "m5");
}

TEST_F(CodedTest, EveryQueryAnswersAsOverPlainStrings) {
  const char* queries[] = {
      "T | where Level == 'Error' | count",
      "T | where Computer =~ 'db-01' | summarize count() by Computer | order by Computer asc",
      "T | where Computer has 'web' and Level != 'Info' | summarize n = count(), a = avg(DurationMs) by Computer, Level"
      " | order by Computer asc, Level asc",
      "T | where Computer in ('cache', 'web-02') | summarize count() by Computer | order by Computer asc",
      "T | where Computer startswith 'd' | project Computer, Level | order by Computer asc, Level asc | take 50",
      "T | extend h = toupper(Computer), n = strlen(Computer) | summarize count() by h, n | order by h asc",
      // A string function of a coded column is coded too, its equal results one entry (web-01
      // and WEB-01 both upper-case to WEB-01): sets, tests and sorts see one value.
      "T | extend h = toupper(Computer) | summarize make_set(h), dcount(h) by Level | order by Level asc",
      "T | extend h = toupper(Computer) | where h == 'WEB-01' | summarize count(), make_set(h)",
      "T | extend h = toupper(Computer) | distinct h | order by h asc",
      "T | extend h = tolower(Computer) | top 3 by h desc | project h",
      "T | extend k = tolong(Props.k) | summarize count() by k | order by k asc",
      "T | summarize count() by Computer | order by Computer asc",
      "T | summarize count() by Props | order by tostring(Props) asc",
      "T | distinct Level | order by Level asc",
      "T | summarize dcount(Computer), make_set(Level) by bin(TimeGenerated, 6h) | order by TimeGenerated asc",
      "T | top 7 by DurationMs desc, Computer asc | project Computer, DurationMs",
      "T | where isempty(Computer) | count",
      "T | where Level == 'Error' | join kind=inner (T | summarize Total = count() by Computer) on Computer"
      " | summarize count() by Computer, Total | order by Computer asc",
      // Joins probe a coded key once per dictionary entry (exec/join.cc), every kind.
      "T | join kind=leftanti (T | where Level == 'Error' and Computer startswith 'web' | distinct Computer) on Computer"
      " | summarize count() by Computer, Level | order by Computer asc, Level asc",
      "T | join kind=leftsemi (T | where Level == 'Error' and Computer startswith 'web' | distinct Computer) on Computer"
      " | summarize count() by Computer, Level | order by Computer asc, Level asc",
      "T | join kind=leftanti (datatable(Computer:string) ['nohost']) on Computer | summarize count() by Computer"
      " | order by Computer asc",
      "T | join (T | summarize n = count() by Computer) on Computer | project Computer, Level, TimeGenerated, n"
      " | order by Computer asc",
      "T | join kind=leftouter (T | where Level == 'Info' and Computer != 'cache' | summarize n = count() by Computer)"
      " on Computer | summarize count(), sum(n) by Computer, Computer1 | order by Computer asc",
      "T | join kind=fullouter (datatable(Computer:string, x:long) ['web-01', 1, 'nohost', 2, '', 3]) on Computer"
      " | summarize count() by Computer, Computer1, x | order by Computer asc, Computer1 asc",
      "T | join kind=rightanti (datatable(Computer:string) ['web-01', 'nohost', 'cache']) on Computer",
      "T | join kind=rightsemi (datatable(Computer:string) ['web-01', 'nohost', 'cache']) on Computer"
      " | order by Computer asc",
      "T | where Level == 'Error' | join kind=inner (T | where Level == 'Info' | project Computer, D2 = DurationMs)"
      " on Computer | summarize count(), sum(D2) by Computer | order by Computer asc",
      "T | union (T | where Level == 'Info') | summarize count() by Level | order by Level asc",
      "T | top-nested 2 of Computer by count(), top-nested 1 of Level with others = 'rest' by sum(DurationMs)",
      "T | top-nested of Level by dcount(Computer) asc, top-nested 2 of tolower(Computer) by max(DurationMs)",
      "T | extend c = strcat(Computer, '/', Level) | summarize count() by c | order by c asc",
      "T | where Computer == Level | count",
      "T | order by Computer asc, DurationMs asc | take 20",
      "T | summarize dcount(Computer), dcount(Level), count()",
      "T | summarize dcount(Computer), dcountif(Computer, DurationMs > 50) by Level | order by Level asc",
      "T | summarize dcount(Level) by bin(TimeGenerated, 1h), Computer | order by TimeGenerated asc, Computer asc",
      "T | summarize dcountif(Computer, Level == 'Error'), countif(Computer has 'web')",
      "T | summarize make_set(Computer), make_set(Props), make_set_if(Level, Computer == 'cache')",
      "T | summarize make_set(Computer, 2), make_list(Level, 3) by Level | order by Level asc",
      "T | summarize make_set(Computer) by bin(TimeGenerated, 1h) | order by TimeGenerated asc",
  };
  for (const char* q : queries) {
    auto [coded, plain] = Both(q);
    EXPECT_FALSE(plain.empty()) << q;
    EXPECT_EQ(coded, plain) << q;
  }
}

// dcount past the exact range (the registers then depend on each value's hash): the
// dictionary's entries are hashed as the plain strings are, so the estimates are the same, and
// the same as dcount_hll(hll()).
TEST_F(CodedTest, DcountOfManyValuesEstimatesAsOverPlainStrings) {
  std::vector<std::shared_ptr<const Table>> coded, plain, packed;
  for (int chunk = 0; chunk < 3; ++chunk) {
    std::vector<std::string> computer, level, props;
    Column time(Type::kDateTime), duration(Type::kReal);
    for (int r = 0; r < 4000; ++r) {
      computer.push_back("host-" + std::to_string((chunk * 1500 + r) % 5000));
      level.push_back(r % 7 == 0 ? "Error" : "Info");
      props.push_back("{}");
      time.AppendInt(kJan15 + r * kTicksPerSecond);
      duration.AppendReal(r);
    }
    coded.push_back(MakeChunk(testing::CodedColumn(computer), testing::CodedColumn(level),
                              testing::CodedColumn(props, Type::kDynamic), time, duration));
    plain.push_back(MakeChunk(Plain(computer, Type::kString), Plain(level, Type::kString),
                              Plain(props, Type::kDynamic), time, duration));
    packed.push_back(MakeChunk(Packed(computer, Type::kString), Packed(level, Type::kString),
                               Packed(props, Type::kDynamic), time, duration));
  }
  coded_ = std::move(coded);
  plain_ = std::move(plain);
  packed_ = std::move(packed);
  for (const char* q : {"T | summarize dcount(Computer)", "T | summarize dcount(Computer) by Level | order by Level asc",
                        "T | summarize dcountif(Computer, Level == 'Info')"}) {
    auto [c, p] = Both(q);
    EXPECT_EQ(c, p) << q;
  }
  auto [d, d_plain] = Both("T | summarize dcount(Computer)");
  auto [h, h_plain] = Both("T | summarize dcount_hll(hll(Computer))");
  EXPECT_EQ(d, h);
  EXPECT_NEAR(std::stod(d), 5000, 5000 * 0.03) << d;  // past the exact range: an estimate
}

TEST_F(CodedTest, GatherKeepsTheDictionaryAndFlattenCopiesTheValues) {
  const Column& c = coded_[0]->columns[1];
  ASSERT_TRUE(c.coded());
  Column copy = c;
  copy.AppendString("new-host");  // writing in place flattens first
  EXPECT_FALSE(copy.coded());
  ASSERT_EQ(copy.stored(), c.stored() + 1);
  for (size_t r = 0; r < c.stored(); ++r) EXPECT_EQ(copy.Str(r), c.Str(r));
  EXPECT_EQ(copy.Str(c.stored()), "new-host");
}

// A packed column reads, grows, gathers, concatenates and flattens as the same plain strings.
TEST(PackedColumnTest, ReadsGrowsGathersAndConcatenatesAsPlainStrings) {
  const std::vector<std::string> values = {"alpha", "", "a longer value than any short string", "b", ""};
  Column p = Packed(values, Type::kString);
  ASSERT_TRUE(p.packed());
  ASSERT_EQ(p.stored(), values.size());
  for (size_t r = 0; r < values.size(); ++r) EXPECT_EQ(p.Str(r), values[r]) << r;
  EXPECT_EQ(p.offsets.front(), 0u);
  EXPECT_EQ(p.chars.size(), p.offsets.back());
  // Nulls (dynamic's placeholder) and rows of other columns append in place.
  Column d = Packed({"[1]", "{}"}, Type::kDynamic);
  d.AppendNull();
  Column plain_src = Plain({"x", "yz"}, Type::kDynamic);
  d.AppendFrom(plain_src, 1);
  ASSERT_TRUE(d.packed());
  ASSERT_EQ(d.stored(), 4u);
  EXPECT_EQ(d.Str(2), "null");
  EXPECT_TRUE(d.IsNull(2));
  EXPECT_FALSE(d.IsNull(3));
  EXPECT_EQ(d.Str(3), "yz");
  d.AppendString("[2]");  // stays packed: no copy of the column as strings
  ASSERT_TRUE(d.packed());
  EXPECT_EQ(d.Str(4), "[2]");
  EXPECT_FALSE(d.IsNull(4));
  ASSERT_EQ(d.nulls.size(), 5u);
  // Gather keeps the form, repeats included.
  Column g = Gather(p, std::vector<uint32_t>{4, 2, 2, 0});
  ASSERT_TRUE(g.packed());
  ASSERT_EQ(g.stored(), 4u);
  EXPECT_EQ(g.Str(0), "");
  EXPECT_EQ(g.Str(1), values[2]);
  EXPECT_EQ(g.Str(2), values[2]);
  EXPECT_EQ(g.Str(3), "alpha");
  // Packed onto packed stays packed; onto plain (and plain onto packed) reads the same.
  Column cat = Packed({"q"}, Type::kString);
  AppendRows(cat, p, 3);
  ASSERT_TRUE(cat.packed());
  std::vector<std::string> want = {"q", "alpha", "", values[2]};
  ASSERT_EQ(cat.stored(), want.size());
  for (size_t r = 0; r < want.size(); ++r) EXPECT_EQ(cat.Str(r), want[r]) << r;
  Column mixed = Plain({"first"}, Type::kString);
  AppendRows(mixed, p, 2);
  AppendRows(p, Plain({"tail"}, Type::kString), 1);
  EXPECT_EQ(mixed.stored(), 3u);
  EXPECT_EQ(mixed.Str(1), "alpha");
  EXPECT_EQ(p.Str(values.size()), "tail");
  // An empty destination takes a coded source's dictionary and drops its packed form.
  Column empty = Packed({}, Type::kString);
  AppendRows(empty, testing::CodedColumn({"c1", "c2"}), 2);
  EXPECT_TRUE(empty.coded());
  EXPECT_FALSE(empty.packed());
  EXPECT_EQ(empty.Str(1), "c2");
  // Flatten and a constant's Materialize give plain strings.
  Column f = Packed(values, Type::kString);
  f.Flatten();
  EXPECT_FALSE(f.packed());
  EXPECT_EQ(f.strings, values);
  Column k = Column::Constant(Type::kString);
  k.StartPacked(1, 3);
  k.AppendPacked("abc");
  k.Materialize(3);
  EXPECT_EQ(k.strings, (std::vector<std::string>{"abc", "abc", "abc"}));
}

TEST(ColumnExtremeTest, SkipsNullsAndNaNAndReadsConstantsOnce) {
  Column r(Type::kReal);
  r.AppendReal(1.5);
  r.AppendNull();
  r.AppendReal(std::nan(""));
  r.AppendReal(-3);
  Extreme hi = ColumnExtreme(r, r.stored(), true), lo = ColumnExtreme(r, r.stored(), false);
  EXPECT_TRUE(hi.any && hi.nan);
  EXPECT_EQ(hi.d, 1.5);
  EXPECT_EQ(lo.d, -3);
  Column n(Type::kLong);
  n.AppendNull();
  EXPECT_FALSE(ColumnExtreme(n, 1, true).any);
  Column k = Column::Constant(Type::kDateTime);
  k.AppendInt(42);
  Extreme c = ColumnExtreme(k, 1000, false);
  EXPECT_TRUE(c.any);
  EXPECT_EQ(c.i, 42);
  EXPECT_FALSE(ColumnExtreme(Column(Type::kString), 0, true).any);
  // No nulls (the four-accumulator path), a NaN first, more than four values.
  Column plain(Type::kReal);
  for (double x : {std::nan(""), 2.0, 9.5, -1.0, 4.0, 9.0, 0.5}) plain.AppendReal(x);
  Extreme p = ColumnExtreme(plain, plain.stored(), true), q = ColumnExtreme(plain, plain.stored(), false);
  EXPECT_TRUE(p.any && p.nan);
  EXPECT_EQ(p.d, 9.5);
  EXPECT_EQ(q.d, -1.0);
  Column ints(Type::kLong);
  for (int64_t x : {5, -7, 3, 12, 0, 11, -2, 8, 1}) ints.AppendInt(x);
  EXPECT_EQ(ColumnExtreme(ints, ints.stored(), true).i, 12);
  EXPECT_EQ(ColumnExtreme(ints, ints.stored(), false).i, -7);
  EXPECT_EQ(ColumnExtreme(ints, 3, true).i, 5);  // only the first rows
}

}  // namespace
}  // namespace cmk::kql
