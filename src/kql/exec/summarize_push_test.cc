// summarize over a catalog that applies filters on other threads (PushSummarize): each chunk is
// aggregated there and the partials merged in scan order, with the answers (groups' order
// included) of the aggregation on the query thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <future>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "base/testing.h"
#include "kql/engine.h"
#include "kql/exec/operators.h"
#include "kql/semantic/binder.h"
#include "kql/syntax/parser.h"
#include "kql/test_columns.h"

namespace cmk::kql {
namespace {

using ::cmk::testing::IsOk;

// Hands out fixed chunks; when it applies filters, each chunk's filter runs on a thread of its
// own, all at once, and the results go to the sink in chunk order.
class ThreadedCatalog : public Catalog {
 public:
  // `workers` > 0: that many threads filter the chunks instead, each its share (chunk i goes
  // to thread i % workers) from the last to the first: out of scan order.
  ThreadedCatalog(Schema schema, std::vector<std::shared_ptr<const Table>> chunks, bool applies, size_t workers = 0)
      : schema_(std::move(schema)), chunks_(std::move(chunks)), applies_(applies), workers_(workers) {
    uint64_t at = 3;
    for (const auto& c : chunks_) {
      places_.push_back(at);
      at += c->rows + 7;
    }
  }
  std::vector<std::string> TableNames() const override { return {"T"}; }
  std::optional<Schema> TableSchema(const std::string& table) const override {
    if (table != "T") return std::nullopt;
    return schema_;
  }
  bool AppliesFilters() const override { return applies_; }
  bool SequencesChunks() const override { return true; }
  // Each job on a thread of its own, all at once.
  void RunAll(std::span<const std::function<void()>> jobs) const override {
    std::vector<std::thread> threads;
    for (const auto& job : jobs) threads.emplace_back(job);
    for (std::thread& t : threads) t.join();
    ran_jobs_ += jobs.size();
  }
  size_t ran_jobs() const { return ran_jobs_.load(); }
  // Chunk i's rows are at places_[i] on in the scan (gaps of 7 between chunks).
  Result<std::shared_ptr<const Table>> Filter(const ScanRequest& request, size_t i) const {
    return request.sequenced_filter ? request.sequenced_filter(chunks_[i], places_[i]) : request.filter(chunks_[i]);
  }
  Status Scan(const ScanRequest& request,
              const std::function<Status(std::shared_ptr<const Table>)>& sink) const override {
    if (!request.filter) {
      for (const auto& c : chunks_) RETURN_IF_ERROR(sink(c));
      return OkStatus();
    }
    if (request.prefilter) {
      std::lock_guard<std::mutex> l(mu_);
      prefilters_.push_back(request.prefilter->column + (request.prefilter->any_passing_value ? " any" : " each"));
    }
    std::vector<Result<std::shared_ptr<const Table>>> results(chunks_.size(), Status());
    if (workers_ > 0) {
      std::vector<std::thread> threads;
      for (size_t w = 0; w < workers_; ++w) {
        threads.emplace_back([&, w] {
          for (size_t i = chunks_.size(); i-- > 0;) {
            if (i % workers_ == w) results[i] = Filter(request, i);
          }
        });
      }
      for (std::thread& t : threads) t.join();
    } else {
      std::vector<std::future<Result<std::shared_ptr<const Table>>>> jobs;
      for (size_t n = 0; n < chunks_.size(); ++n) {
        size_t i = jobs.size();
        jobs.push_back(std::async(std::launch::async, [this, &request, i] { return Filter(request, i); }));
      }
      for (size_t i = 0; i < jobs.size(); ++i) results[i] = jobs[i].get();
    }
    filtered_ += results.size();
    Status status;
    for (Result<std::shared_ptr<const Table>>& t : results) {
      if (!status.ok()) continue;
      if (!t.ok()) status = t.status();
      else if (*t != nullptr) {
        if ((*t)->rows == 0 && (*t)->columns.empty()) ++tokens_;  // a partial aggregation's
        status = sink(*t);
      }
    }
    return status;
  }
  size_t filtered() const { return filtered_; }
  // Row-less tokens handed back: chunks aggregated where they were filtered (PushSummarize).
  size_t tokens() const { return tokens_; }
  // The string tests scans were given: column, then "any" when one passing value may stand for
  // every passing row's, "each" when the rows' own values are read.
  std::vector<std::string> prefilters() const {
    std::lock_guard<std::mutex> l(mu_);
    return prefilters_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::vector<std::string> prefilters_;
  Schema schema_;
  std::vector<std::shared_ptr<const Table>> chunks_;
  std::vector<uint64_t> places_;
  bool applies_;
  size_t workers_;
  mutable std::atomic<size_t> filtered_{0};
  mutable std::atomic<size_t> ran_jobs_{0};
  mutable std::atomic<size_t> tokens_{0};
};

// Each `T | where p | summarize <summary>` answers, on the reader threads and on the query's,
// as `where (p) == true` does on the query's thread (the general path: Eval's bool column).
void ExpectFilterAnswersAsEval(const Schema& schema, const std::vector<std::shared_ptr<const Table>>& chunks,
                               const std::vector<std::string>& predicates, const std::string& summary) {
  ThreadedCatalog own(schema, chunks, false), pushed(schema, chunks, true, 2);
  auto answer = [&](const Catalog& c, const std::string& q) {
    auto r = Execute(q, c, ExecOptions{});
    EXPECT_THAT(r, IsOk()) << q;
    return r.ok() ? testing::RenderTable(r->tables[0]) : std::string();
  };
  for (const std::string& p : predicates) {
    std::string fast = "T | where " + p + " | summarize " + summary;
    std::string general = "T | where (" + p + ") == true | summarize " + summary;
    std::string want = answer(own, general);
    EXPECT_EQ(answer(pushed, fast), want) << p;
    EXPECT_EQ(answer(pushed, general), want) << p;
    EXPECT_EQ(answer(own, fast), want) << p;
  }
}

// A where comparing an int column with constants runs on the filtering threads as
// one pass over the column (scan_filter.cc's IntRange); its rows are those Eval's bool column
// keeps (`(...) == true` is not a column against constants: it takes the general path), on
// every comparison and bound, the extremes of long included, and on columns with nulls (a null
// passes != alone).
TEST(ScanFilterTest, ComparisonsOfAnIntColumnWithConstantsKeepWhatEvalKeeps) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min(), kMax = std::numeric_limits<int64_t>::max();
  const int64_t edges[] = {kMin, kMin + 1, -7, -1, 0, 1, 3, 7, kMax - 1, kMax};
  std::mt19937_64 rng(5);
  std::vector<std::shared_ptr<const Table>> chunks;
  for (int chunk = 0; chunk < 4; ++chunk) {
    auto t = std::make_shared<Table>();
    t->name = "T";
    Column x(Type::kLong), y(Type::kLong), when(Type::kDateTime), span(Type::kTimespan);
    t->rows = 200 + 50 * static_cast<size_t>(chunk);
    for (size_t r = 0; r < t->rows; ++r) {
      int64_t v = rng() % 3 == 0 ? edges[rng() % 10] : static_cast<int64_t>(rng() % 21) - 10;
      x.AppendInt(v);
      if (rng() % 7 == 0) y.AppendNull();
      else y.AppendInt(v);
      when.AppendInt(kJan15 + v % 1000 * kTicksPerSecond);
      span.AppendInt(v % 1000 * kTicksPerSecond);
    }
    t->AddColumn("X", std::move(x));
    t->AddColumn("Y", std::move(y));
    t->AddColumn("W", std::move(when));
    t->AddColumn("S", std::move(span));
    chunks.push_back(std::move(t));
  }
  Schema schema = {{"X", Type::kLong}, {"Y", Type::kLong}, {"W", Type::kDateTime}, {"S", Type::kTimespan}};
  std::vector<std::string> predicates;
  const char* constants[] = {"-9223372036854775807", "-7", "-1", "0", "3", "7", "9223372036854775806",
                             "9223372036854775807"};
  for (const char* col : {"X", "Y"}) {
    for (const char* op : {"==", "!=", "<", "<=", ">", ">="}) {
      for (const char* k : constants) predicates.push_back(std::string(col) + " " + op + " " + k);
    }
    for (const char* between : {"between", "!between"}) {
      for (auto [lo, hi] : {std::pair{"-7", "7"}, {"0", "0"}, {"3", "-3"}, {"-9223372036854775807", "9223372036854775807"},
                            {"1", "9223372036854775807"}}) {
        predicates.push_back(std::string(col) + " " + between + " (" + lo + " .. " + hi + ")");
      }
    }
  }
  predicates.push_back("W > datetime(2024-01-15T00:00:03Z)");
  predicates.push_back("W between (datetime(2024-01-15) .. datetime(2024-01-15T00:00:07Z))");
  predicates.push_back("W !between (datetime(2024-01-15) .. 7s)");  // relative: the general path
  predicates.push_back("S <= 3s");
  predicates.push_back("X > 2.5");  // a real constant: the general path
  ExpectFilterAnswersAsEval(schema, chunks, predicates, "count(), min(X), max(X), countif(X % 2 == 0)");
}

// A conjunction's cheap conjuncts (a column against constants) run first over the whole chunk,
// and its others only over the rows they keep, when those are at most a quarter of the chunk's:
// the same rows as Eval's bool column keeps, over coded and plain strings, nulls, and
// conjunctions nested in ands; more rows kept, a conjunct that isn't cheap or one that reads
// other rows: the whole predicate as ever.
TEST(ScanFilterTest, ConjunctionsTestTheRestOnTheRowsTheirCheapConjunctsKeep) {
  std::mt19937_64 rng(3);
  std::vector<std::shared_ptr<const Table>> chunks;
  for (int chunk = 0; chunk < 4; ++chunk) {
    auto t = std::make_shared<Table>();
    t->name = "T";
    Column x(Type::kLong), y(Type::kLong), msg(Type::kString);
    std::vector<std::string> hosts;
    t->rows = 400 + 30 * static_cast<size_t>(chunk);
    for (size_t r = 0; r < t->rows; ++r) {
      x.AppendInt(static_cast<int64_t>(rng() % 100));
      if (rng() % 9 == 0) y.AppendNull();
      else y.AppendInt(static_cast<int64_t>(rng() % 50));
      hosts.push_back("host-" + std::to_string(rng() % 20));
      msg.AppendString((rng() % 3 == 0 ? "Timeout after " : "done in ") + std::to_string(rng() % 1000) + " ms");
    }
    t->AddColumn("X", std::move(x));
    t->AddColumn("Y", std::move(y));
    t->AddColumn("H", testing::CodedColumn(hosts));
    t->AddColumn("M", std::move(msg));
    chunks.push_back(std::move(t));
  }
  Schema schema = {{"X", Type::kLong}, {"Y", Type::kLong}, {"H", Type::kString}, {"M", Type::kString}};
  const std::vector<std::string> narrowed = {
      "H == 'host-3' and M contains 'timeout'", "M contains 'timeout' and X < 10",
      "X < 20 and strlen(M) > 14 and M !has '7'", "Y == 4 and (M contains '5' or M startswith 'done')",
      "H in ('host-1', 'host-2') and X > 50 and M has 'after'", "Y < 3 and isnotempty(M)",
      "X == 1000 and M contains 'x'"};
  const std::vector<std::string> whole = {
      "X < 90 and M contains 'timeout'",           // most rows kept: evaluated whole
      "M contains 'a' and strlen(M) > 12",         // nothing cheap
      "H == 'host-3' and M contains tostring(X)"};  // narrowed: a needle from each kept row
  uint64_t before = NarrowedRowsForTest();
  ExpectFilterAnswersAsEval(schema, chunks, narrowed, "count(), min(X), max(X), countif(M has 'ms')");
  EXPECT_GT(NarrowedRowsForTest(), before);
  for (const std::string& p : whole) {
    ExpectFilterAnswersAsEval(schema, chunks, {p}, "count(), min(X), max(X)");
  }
  // Narrowed: the rows the cheap conjunct keeps, once per chunk and per run (three runs of the
  // pushed catalog's: fast, general; the own catalog's filter isn't run on threads).
  before = NarrowedRowsForTest();
  ThreadedCatalog pushed(schema, chunks, true, 2);
  auto r = Execute("T | where X < 10 and M contains 'timeout' | count", pushed, ExecOptions{});
  ASSERT_THAT(r, IsOk());
  auto kept = Execute("T | where X < 10 | count", pushed, ExecOptions{});
  ASSERT_THAT(kept, IsOk());
  EXPECT_EQ(NarrowedRowsForTest() - before, static_cast<uint64_t>(kept->tables[0].columns[0].Int(0)));
  before = NarrowedRowsForTest();
  ASSERT_THAT(Execute("T | where X < 90 and M contains 'timeout' | count", pushed, ExecOptions{}), IsOk());
  EXPECT_EQ(NarrowedRowsForTest(), before);
}

// The same for a column of reals: NaN, infinities and -0.0 among the values and the constants
// (a NaN passes != and !between only), integer constants, a column with nulls.
TEST(ScanFilterTest, ComparisonsOfARealColumnWithConstantsKeepWhatEvalKeeps) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const double edges[] = {nan, inf, -inf, -0.0, 0.0, 2.5, -1, 7, 1e300, -1e-300};
  std::mt19937_64 rng(9);
  std::vector<std::shared_ptr<const Table>> chunks;
  for (int chunk = 0; chunk < 4; ++chunk) {
    auto t = std::make_shared<Table>();
    t->name = "T";
    Column r(Type::kReal), z(Type::kReal), x(Type::kLong);
    t->rows = 200 + 50 * static_cast<size_t>(chunk);
    for (size_t i = 0; i < t->rows; ++i) {
      double v = rng() % 3 == 0 ? edges[rng() % 10] : static_cast<double>(static_cast<int64_t>(rng() % 41) - 20) / 4;
      r.AppendReal(v);
      if (rng() % 7 == 0) z.AppendNull();
      else z.AppendReal(v);
      x.AppendInt(static_cast<int64_t>(i));
    }
    t->AddColumn("R", std::move(r));
    t->AddColumn("Z", std::move(z));
    t->AddColumn("X", std::move(x));
    chunks.push_back(std::move(t));
  }
  Schema schema = {{"R", Type::kReal}, {"Z", Type::kReal}, {"X", Type::kLong}};
  std::vector<std::string> predicates;
  const char* constants[] = {"real(nan)", "real(+inf)", "real(-inf)", "-0.0", "0", "2.5", "-1", "7", "1e300"};
  for (const char* col : {"R", "Z"}) {
    for (const char* op : {"==", "!=", "<", "<=", ">", ">="}) {
      for (const char* k : constants) predicates.push_back(std::string(col) + " " + op + " " + k);
    }
    for (const char* between : {"between", "!between"}) {
      for (auto [lo, hi] : {std::pair{"-2.5", "2.5"}, {"0", "0"}, {"3", "-3"}, {"real(-inf)", "real(+inf)"},
                            {"real(nan)", "7"}, {"-1", "1e300"}}) {
        predicates.push_back(std::string(col) + " " + between + " (" + lo + " .. " + hi + ")");
      }
    }
  }
  ExpectFilterAnswersAsEval(schema, chunks, predicates, "count(), sum(X), countif(isnan(R))");
}

class SummarizePushTest : public ::testing::Test {
 protected:
  // A chunk of table T (the schema Run declares).
  static std::shared_ptr<const Table> MakeChunk(size_t rows, Column time, Column computer, Column level, Column n,
                                                Column d) {
    auto t = std::make_shared<Table>();
    t->name = "T";
    t->rows = rows;
    t->AddColumn("TimeGenerated", std::move(time));
    t->AddColumn("Computer", std::move(computer));
    t->AddColumn("Level", std::move(level));
    t->AddColumn("N", std::move(n));
    t->AddColumn("D", std::move(d));
    return t;
  }

  SummarizePushTest() {
    // "WEB-01": tolower(Computer) is coded with a dictionary holding "web-01" twice.
    const char* hosts[] = {"web-01", "web-02", "db-01", "cache", "", "WEB-01"};
    const char* levels[] = {"Error", "Info", "Warning"};
    std::mt19937 rng(11);
    for (int chunk = 0; chunk < 6; ++chunk) {
      size_t rows = 50 + 70 * static_cast<size_t>(chunk);
      std::vector<std::string> computer;
      Column level(Type::kString), time(Type::kDateTime), n(Type::kLong), d(Type::kReal);
      for (size_t r = 0; r < rows; ++r) {
        // Later chunks see other hosts first, so groups appear in a different order per chunk.
        computer.push_back(hosts[(rng() % 6 + static_cast<unsigned>(chunk)) % 6]);
        level.AppendString(levels[rng() % 3]);
        time.AppendInt(kJan15 + static_cast<int64_t>(chunk * 3600 + static_cast<int>(rng() % 7200)) * kTicksPerSecond);
        if (rng() % 9 == 0) n.AppendNull();
        else n.AppendInt(static_cast<int64_t>(rng() % 6));  // many ties
        d.AppendReal(static_cast<double>(rng() % 400) / 4);  // exact in binary: sums don't round
      }
      chunks_.push_back(MakeChunk(rows, std::move(time), testing::CodedColumn(computer), std::move(level),
                                  std::move(n), std::move(d)));
    }
  }

  // The query's answer aggregated on the query thread, and pushed to the catalog's threads
  // (with whether the catalog ran any filter for it).
  struct Answers {
    std::string own, pushed;
    bool ran_pushed = false;
  };
  Answers Run(const std::string& q, size_t workers = 0, size_t share_groups_above = ExecOptions{}.share_groups_above) {
    Schema schema = {{"TimeGenerated", Type::kDateTime}, {"Computer", Type::kString}, {"Level", Type::kString},
                     {"N", Type::kLong}, {"D", Type::kReal}};
    ThreadedCatalog own(schema, chunks_, false), pushed(schema, chunks_, true, workers);
    ExecOptions o;
    o.share_groups_above = share_groups_above;
    auto a = Execute(q, own, o);
    auto b = Execute(q, pushed, o);
    EXPECT_THAT(a, IsOk()) << q;
    EXPECT_THAT(b, IsOk()) << q;
    if (!a.ok() || !b.ok()) return {};
    return {testing::RenderTable(a->tables[0]), testing::RenderTable(b->tables[0]), pushed.filtered() > 0};
  }

  // Four chunks that each hold every one of `groups` groups of (Computer, minute): chunks_.
  void ManyGroupChunks(size_t groups) {
    chunks_.clear();
    for (int chunk = 0; chunk < 4; ++chunk) {
      Column time(Type::kDateTime), level(Type::kString), n(Type::kLong), d(Type::kReal);
      std::vector<std::string> computer;
      for (size_t r = 0; r < groups; ++r) {
        computer.push_back("web-" + std::to_string(r % 100));
        time.AppendInt(kJan15 + static_cast<int64_t>(r / 100) * 60 * kTicksPerSecond);
        level.AppendString("Info");
        n.AppendInt(chunk);
        d.AppendReal(1);
      }
      chunks_.push_back(MakeChunk(groups, std::move(time), testing::CodedColumn(computer), std::move(level),
                                  std::move(n), std::move(d)));
    }
  }
  inline static const Schema kSchema = {{"TimeGenerated", Type::kDateTime}, {"Computer", Type::kString},
                                        {"Level", Type::kString}, {"N", Type::kLong}, {"D", Type::kReal}};
  // Table T, empty, with kSchema's columns (for binding queries over it).
  static void AddEmptyT(InMemoryCatalog& catalog) {
    Table t;
    t.name = "T";
    for (const ColumnSchema& c : kSchema) t.AddColumn(c.name, Column(c.type));
    catalog.Add(std::move(t));
  }

  std::vector<std::shared_ptr<const Table>> chunks_;
};

// Several keys and order-free aggregates: each filtering thread aggregates the chunks it gets
// (out of scan order here) into one aggregation, merged at the end; the groups still come out
// in the order the query thread's aggregation first sees them, with the same answers.
TEST_F(SummarizePushTest, PerThreadAggregationsAnswerInTheOrderFirstSeen) {
  const char* queries[] = {
      "T | summarize count() by Computer, Level",
      "T | summarize count(), sum(N), min(D), max(Computer), dcount(Level) by Level, bin(TimeGenerated, 1h)",
      "T | where N > 2 | summarize countif(D > 50), sumif(N, Level == 'Info') by Computer, N",
      "T | summarize minif(N, true), maxif(D, Level != 'Error'), dcountif(N, D > 10) by tolower(Computer), Level",
      "T | distinct Computer, Level",
      "T | summarize count() by Computer, Level, N, bin(TimeGenerated, 30m), iff(D > 40, 'hi', 'lo')",
      // Not order-free (a real sum, a list): partials merged in scan order, as ever.
      "T | summarize sum(D), make_list(N, 3) by Computer, Level",
      "T | where N > 1000 | summarize count() by Computer, Level",
  };
  for (size_t workers : {1, 2, 3}) {
    for (const char* q : queries) {
      Answers a = Run(q, workers);
      EXPECT_EQ(a.own, a.pushed) << q << " (" << workers << " threads)";
      EXPECT_TRUE(a.ran_pushed) << q;
    }
  }
}

// Each filtering thread's aggregation holds the groups of its chunks; with a group in every
// chunk (keys of high cardinality: `count() by Computer, bin(TimeGenerated, 1m)` at 10M rows,
// 2.1M groups) each holds them all. At the end the first is taken as the aggregation and the
// other merged into it: two sets of groups under the memory limit, not a third copy on top.
TEST_F(SummarizePushTest, PerThreadAggregationsOfManyGroupsAreTakenNotCopied) {
  constexpr size_t kGroups = 20'000;
  ManyGroupChunks(kGroups);
  const Schema schema = kSchema;
  // Each thread's aggregation is charged its tables and vectors as allocated (HeldBytes), ~2.6
  // MB here: the query needs 5.0-5.5 MB in all so, and ~8 MB when the first was copied into a
  // third. (Never shared: 20,000 groups a thread is under share_groups_above.)
  ExecOptions o;
  o.memory_limit_bytes = 6'000'000;
  ThreadedCatalog pushed(schema, chunks_, true, 2);
  auto r = Execute("T | summarize n = count(), s = sum(N) by Computer, bin(TimeGenerated, 1m) "
                   "| summarize groups = count(), rows = sum(n), s = sum(s)", pushed, o);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(testing::RenderTable(r->tables[0]), "20000|80000|120000|\n");
  EXPECT_EQ(pushed.tokens(), 4u);  // aggregated on the catalog's two threads
}

// Past share_groups_above groups on a thread, the groups are shared among the threads by their
// keys' values (a share's rows consumed under its lock; what a thread had gathered merged into
// the shares): the same answers, in the order the query thread's aggregation first sees them.
// 0 shares from the first chunk on, 5 after a thread's first chunk (its groups merged into the
// shares), 40 later or never; threads one a chunk (all at once) or one to three out of order.
TEST_F(SummarizePushTest, SharedGroupsAnswerAsOneAggregationInTheOrderFirstSeen) {
  const char* queries[] = {
      "T | summarize count() by Computer, Level",
      "T | summarize count(), sum(N), min(D), max(Computer), dcount(Level) by Level, bin(TimeGenerated, 1m)",
      "T | where N > 2 | summarize countif(D > 50), sumif(N, Level == 'Info') by Computer, N",
      "T | summarize minif(N, true), maxif(D, Level != 'Error'), dcountif(N, D > 10) by tolower(Computer), Level",
      "T | distinct Computer, Level",
      "T | summarize count() by Computer, Level, N, bin(TimeGenerated, 1m), iff(D > 40, 'hi', 'lo')",
      "T | summarize count(), min(Level) by tostring(N), bin(TimeGenerated, 1m)",
      "T | summarize count(), sum(N) by split(Computer, '-')[1], Level",  // a dynamic key, null for some
      // One key of numbers (of nulls too, -0.0 with 0.0), and tostring of one.
      "T | summarize count(), max(Computer) by TimeGenerated",
      "T | summarize count(), sum(N) by N",
      "T | summarize count() by D * 0",
      "T | summarize count() by D",
      "T | summarize dcount(Computer) by tostring(N)",
      "T | distinct bin(TimeGenerated, 1m)",
      "T | where N > 1000 | summarize count() by TimeGenerated",
      // One computed string key (a chunk's values not a dictionary's entries).
      "T | summarize count(), max(N) by substring(Computer, 1)",
      "T | summarize count() by tolower(Level)",
  };
  for (size_t above : {0, 5, 40}) {
    for (size_t workers : {0, 1, 2, 3}) {
      for (const char* q : queries) {
        Answers a = Run(q, workers, above);
        EXPECT_EQ(a.own, a.pushed) << q << " (" << workers << " threads, shared past " << above << ")";
        EXPECT_TRUE(a.ran_pushed) << q;
      }
    }
  }
}

// Parts of one summary (AdoptParts: the shares) whose string key holds more values than a
// dictionary: each part's keys coded but too many between them for one dictionary (40,000 a
// part), or packed, past kMaxDictEntries strings in one part (70,000). Finish gathers them in
// the order first seen (the parts' rows interleaved in the scan), as one aggregation of the
// same rows in scan order answers.
TEST_F(SummarizePushTest, PartsOfManyKeyStringsGatherInTheOrderFirstSeen) {
  InMemoryCatalog catalog;
  AddEmptyT(catalog);
  ExecContext ctx;
  ctx.catalog = &catalog;
  auto query = ParseQuery("T | summarize c = count(), s = sum(N) by Computer, Level");
  ASSERT_THAT(query, IsOk());
  auto bound = Bind(*query, ctx);
  ASSERT_THAT(bound, IsOk());
  const PlanNode& node = *bound->results.at(0);
  ASSERT_EQ(node.kind, NodeKind::kSummarize);
  for (size_t per_part : {40'000, 70'000}) {
    // Part p's rows are at places 2i + p of the scan; its keys are its own.
    auto part_chunk = [&](size_t p) {
      Table t;
      t.rows = per_part;
      Column time(Type::kDateTime), computer(Type::kString), level(Type::kString), n(Type::kLong), d(Type::kReal);
      for (size_t i = 0; i < per_part; ++i) {
        time.AppendInt(kJan15);
        computer.AppendString("host-" + std::to_string(p) + "-" + std::to_string((i * 7919) % per_part));
        level.AppendString(i % 3 == 0 ? "Error" : "Info");
        n.AppendInt(static_cast<int64_t>(i));
        d.AppendReal(1);
      }
      for (Column* c : {&time, &computer, &level, &n, &d}) t.AddColumn("", std::move(*c));
      return t;
    };
    Table rows[2] = {part_chunk(0), part_chunk(1)};
    std::vector<std::unique_ptr<HashAggregation>> parts;
    for (size_t p = 0; p < 2; ++p) {
      std::vector<uint32_t> places(per_part);
      for (size_t i = 0; i < per_part; ++i) places[i] = static_cast<uint32_t>(2 * i + p);
      auto agg = std::make_unique<HashAggregation>(node, node.exprs);
      agg->SetSequence(100, places);
      ASSERT_THAT(agg->Consume(Chunk::Own(Table(rows[p])), ctx), IsOk());
      parts.push_back(std::move(agg));
    }
    HashAggregation shared(node, node.exprs);
    ASSERT_THAT(shared.AdoptParts(std::move(parts), ctx), IsOk());
    Table answer = shared.Finish();
    std::vector<uint32_t> interleaved;  // the scan's rows: the two parts' in turn
    for (size_t i = 0; i < per_part; ++i) {
      interleaved.push_back(static_cast<uint32_t>(i));
      interleaved.push_back(static_cast<uint32_t>(i + per_part));
    }
    Table all = rows[0];
    for (size_t c = 0; c < all.columns.size(); ++c) {
      for (size_t i = 0; i < per_part; ++i) all.columns[c].AppendFrom(rows[1].columns[c], i);
    }
    all.rows = 2 * per_part;
    HashAggregation own(node, node.exprs);
    ASSERT_THAT(own.Consume(Chunk::Own(GatherTable(all, interleaved)), ctx), IsOk());
    Table expected = own.Finish();
    ASSERT_EQ(answer.rows, 2 * per_part);
    // (Compared line by line: a failure names the first row that differs, not 140,000 of them.)
    std::istringstream got(testing::RenderTable(answer)), want(testing::RenderTable(expected));
    std::string got_line, want_line;
    for (size_t row = 0; std::getline(want, want_line); ++row) {
      std::getline(got, got_line);
      ASSERT_EQ(got_line, want_line) << "row " << row << ", " << per_part << " a part";
    }
  }
}

// With the groups shared, each is held once: 20,000 groups in every chunk fit a limit that
// the threads' own aggregations (each holding them all) exceed: shared, the query needs 2.5-3
// MB, the threads' own 5.0-5.5 MB.
constexpr size_t kSharedLimit = 4'000'000;
TEST_F(SummarizePushTest, SharedGroupsAreHeldOnce) {
  constexpr size_t kGroups = 20'000;
  ManyGroupChunks(kGroups);
  const Schema schema = kSchema;
  const std::string q = "T | summarize n = count(), s = sum(N) by Computer, bin(TimeGenerated, 1m) "
                        "| summarize groups = count(), rows = sum(n), s = sum(s)";
  ExecOptions o;
  o.memory_limit_bytes = kSharedLimit;
  o.share_groups_above = 1000;
  ThreadedCatalog pushed(schema, chunks_, true, 2);
  auto r = Execute(q, pushed, o);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(testing::RenderTable(r->tables[0]), "20000|80000|120000|\n");
  EXPECT_EQ(pushed.tokens(), 4u);
  EXPECT_GE(pushed.ran_jobs(), 32u);  // the shares finished through RunAll
  o.share_groups_above = kGroups;  // never shared: each thread holds every group
  ThreadedCatalog own(schema, chunks_, true, 2);
  auto over = Execute(q, own, o);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kResourceExhausted) << over.status().message();
}

TEST_F(SummarizePushTest, PartialAggregatesMergeToTheSameAnswersInTheSameOrder) {
  const char* queries[] = {
      "T | summarize count() by Computer",
      "T | summarize n = count(), a = avg(D), s = sum(N), mn = min(N), mx = max(D), ai = avg(N) by Computer",
      "T | where N > 2 | summarize count(), sum(D) by bin(TimeGenerated, 1h)",
      "T | count",
      "T | where Level == 'Error' | count",
      "T | where false | count",
      "T | where N > 1000 | summarize count() by Computer",
      "T | where N > 1000 | summarize count(), sum(N), avg(D), min(N)",
      "T | distinct Computer",
      "T | distinct Computer, Level",
      "T | where Computer has 'web' | distinct Level",
      "T | where Computer == 'cache' | count",
      "T | where Computer matches regex 'web-0[0-9]' | count",
      "T | where Computer matches regex '(?i)WEB' | summarize count() by Level",
      "T | where Computer matches regex '^c' and N > 2 | summarize count(), sum(N) by Computer",
      "T | where Computer in ('cache', 'web-01') | summarize count(), sum(N) by Level",
      "T | where Computer != '' | summarize count() by Computer",
      "T | summarize dcount(Computer), dcount(N), count_distinct(Level) by Level",
      "T | summarize dcount(Computer)",
      "T | summarize dcount(tolower(Computer))",
      "T | distinct tolower(Computer)",
      "T | summarize count(), sum(D), sum(N), avg(N) by tolower(Computer)",
      "T | where Level == 'Info' | summarize dcount(Computer), count() by Level",
      "T | summarize dcountif(Computer, N == 1)",
      "T | summarize arg_max(N, Computer), arg_min(D, *) by Level",
      "T | summarize arg_max(N, Computer) by Computer",
      "T | summarize take_any(Computer), any(N), take_anyif(Level, N == 5) by Level",
      "T | summarize make_list(N, 7), make_set(Computer), make_list_with_nulls(N, 3) by Level",
      "T | summarize make_set(N, 2) by Computer",
      "T | summarize percentiles(N, 50, 90), percentile(D, 25) by Computer",
      "T | summarize countif(N > 2), sumif(N, Level == 'Info'), avgif(D, N < 5) by Computer",
      "T | summarize minif(N, true), maxif(D, Level != 'Error') by Computer",
      "T | summarize count() by N",
      "T | summarize count(), max(TimeGenerated) by Computer, N",
      "T | summarize count() by tolower(Computer), iff(N > 2, 'hi', 'lo')",
      "T | summarize count() by startofday(TimeGenerated), hourofday(TimeGenerated)",
      // An extend's expressions go into the keys and arguments (each read once, per row).
      "T | extend x = N * 2 | summarize sum(x) by Computer",
      "T | extend h = hourofday(TimeGenerated), u = toupper(Computer) | summarize count(), max(N) by h, u",
      "T | extend k = tostring(N), unused = rand() | summarize count() by k",
      "T | project N2 = N * 2, C = Computer | extend N4 = N2 * 2 | summarize avg(N4) by C",
      // Pieces of text, one of the arguments, values of fixed size.
      "T | summarize count() by extract('([a-z]+)-', 1, Computer)",
      "T | summarize count(), sum(N) by extract('-([0-9]+)', 1, Computer, typeof(long)), Level",
      "T | where extract('^(web)', 1, Computer) == 'web' | summarize count() by substring(Level, 0, 2)",
      "T | summarize count() by trim_end('[0-9]+', Computer), trim('-', Computer)",
      "T | summarize max(coalesce(N, 7)), min(max_of(N, 2)) by reverse(Level), strcmp(Computer, 'db-01')",
      "T | summarize count() by datetime_diff('hour', TimeGenerated, datetime(2024-01-15)), sign(N - 3)",
      "T | summarize sum(sqrt(D)), max(pow(N, 2)), countif(isnan(log(D))) by tobool(N % 2)",
      "T | summarize count() by countof(Computer, '0'), indexof(Computer, '-'), countof(Level, 'r.', 'regex')",
      // Keys from parts of a dynamic value.
      "T | summarize count() by tostring(split(Computer, '-')[0])",
      "T | where tostring(split(Computer, '-')[1]) == '01' | summarize sum(N) by Level",
      "T | summarize count(), max(N) by tostring(split(Computer, '-')[-1]), Level",
      // A piped search: a one-table union (withsource=$table) over the filtered scan.
      "T | search 'web' | count",
      "T | search 'web' | summarize count(), sum(N) by $table, Level",
      "T | search Computer:'db' or 'error' | summarize max(D), dcount(Computer) by Computer",
      "T | search * | summarize count() by Level",
  };
  for (const char* q : queries) {
    Answers a = Run(q);
    EXPECT_EQ(a.own, a.pushed) << q;
    bool none = std::string_view(q).find("N > 1000 | summarize count() by") != std::string_view::npos;
    EXPECT_EQ(a.own.empty(), none) << q;
    EXPECT_TRUE(a.ran_pushed) << q;
  }
  // The searches' summaries are aggregated on the catalog's threads, not only filtered there.
  Schema schema = {{"TimeGenerated", Type::kDateTime}, {"Computer", Type::kString}, {"Level", Type::kString},
                   {"N", Type::kLong}, {"D", Type::kReal}};
  for (const char* q : {"T | search 'web' | count", "T | search 'web' | summarize count() by $table, Level"}) {
    ThreadedCatalog pushed(schema, chunks_, true);
    ASSERT_THAT(Execute(q, pushed, ExecOptions{}), IsOk()) << q;
    EXPECT_GT(pushed.tokens(), 0u) << q;
  }
}

// distinct and dcount of a coded column stop reading a chunk's codes once every dictionary
// entry has been seen. Chunks longer than dcount's stride (8192 rows) whose last new value comes
// late, in a later stride or on the last row; one whose dictionary holds an entry no row uses
// (never all seen: every row is read); one that sees every entry at once and then repeats them.
// Past 8 MB of values a percentile is a digest's; pushed, each chunk's values are sorted on the
// thread that read them and merged into the digest at once. The answers' ranks stay within the
// documented 1% (and the query thread's own aggregation within it too).
TEST_F(SummarizePushTest, PercentilesOverMillionsOfValuesMergeSortedPartialsWithinTheBound) {
  chunks_.clear();
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> dist(3.0, 1.2);
  std::vector<double> all;
  for (int chunk = 0; chunk < 24; ++chunk) {  // the digest from the 17th on
    size_t rows = 65'536;
    Column time(Type::kDateTime), level(Type::kString), n(Type::kLong), d(Type::kReal);
    std::vector<std::string> computer(rows, "web");
    for (size_t r = 0; r < rows; ++r) {
      time.AppendInt(kJan15 + static_cast<int64_t>(r) * kTicksPerSecond);
      level.AppendString("Info");
      n.AppendInt(1);
      double v = std::round(dist(rng) * 1000) / 1000;
      d.AppendReal(v);
      all.push_back(v);
    }
    chunks_.push_back(MakeChunk(rows, std::move(time), testing::CodedColumn(computer), std::move(level),
                                std::move(n), std::move(d)));
  }
  std::sort(all.begin(), all.end());
  Schema schema = {{"TimeGenerated", Type::kDateTime}, {"Computer", Type::kString}, {"Level", Type::kString},
                   {"N", Type::kLong}, {"D", Type::kReal}};
  for (bool push : {true, false}) {
    ThreadedCatalog catalog(schema, chunks_, push);
    auto r = Execute("T | summarize percentiles(D, 1, 50, 95, 99.9)", catalog, ExecOptions{});
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(catalog.filtered() > 0, push);
    const Table& t = r->tables[0];
    ASSERT_EQ(t.rows, 1u);
    double ps[] = {1, 50, 95, 99.9};
    for (size_t i = 0; i < 4; ++i) {
      double v = t.columns[i].Real(0);
      double rank = static_cast<double>(std::upper_bound(all.begin(), all.end(), v) - all.begin()) /
                    static_cast<double>(all.size());
      EXPECT_NEAR(rank, ps[i] / 100, 0.01) << "p" << ps[i] << " pushed " << push;
    }
  }
}

TEST_F(SummarizePushTest, DistinctValuesOfLongChunksCountEveryEntryHoweverLateItComes) {
  chunks_.clear();
  auto chunk = [&](size_t rows, const std::function<std::string(size_t)>& host, bool unused_entry) {
    std::vector<std::string> computer;
    Column level(Type::kString), time(Type::kDateTime), n(Type::kLong), d(Type::kReal);
    for (size_t r = 0; r < rows; ++r) {
      computer.push_back(host(r));
      level.AppendString(r % 2 == 0 ? "Info" : "Error");
      time.AppendInt(kJan15 + static_cast<int64_t>(r) * kTicksPerSecond);
      n.AppendInt(static_cast<int64_t>(r % 5));
      d.AppendReal(1.0);
    }
    Column coded = testing::CodedColumn(computer);
    if (unused_entry) {
      auto dict = std::make_shared<std::vector<std::string>>(*coded.dict);
      dict->push_back("unused");
      coded.dict = std::move(dict);
    }
    chunks_.push_back(MakeChunk(rows, std::move(time), std::move(coded), std::move(level), std::move(n), std::move(d)));
  };
  const char* few[] = {"a", "b", "c"};
  chunk(20000, [&](size_t r) { return r == 19999 ? std::string("last-row") : std::string(few[r % 3]); }, false);
  chunk(30000, [&](size_t r) { return r == 17000 ? std::string("third-stride") : std::string(few[r % 2]); }, false);
  chunk(12000, [&](size_t r) { return r == 9000 ? std::string("after-unused") : std::string(few[r % 3]); }, true);
  chunk(25000, [&](size_t r) { return std::string(few[r % 3]); }, false);
  const std::pair<const char*, const char*> queries[] = {
      {"T | summarize dcount(Computer)", "6|\n"},
      {"T | where N >= 0 | summarize dcount(Computer)", "6|\n"},
      {"T | summarize dcount(Computer) by Level", "Info|5|\nError|4|\n"},
      {"T | distinct Computer | count", "6|\n"},
      {"T | distinct Computer | where Computer !in ('a', 'b', 'c') | order by Computer asc",
       "after-unused|\nlast-row|\nthird-stride|\n"},
  };
  for (const auto& [q, want] : queries) {
    Answers a = Run(q);
    EXPECT_EQ(a.own, want) << q;
    EXPECT_EQ(a.pushed, want) << q;
    EXPECT_TRUE(a.ran_pushed) << q;
  }
}

// A single int key groups as its text does (the same groups, in the order they first appear),
// whether a chunk's values are close enough for the array of AssignDenseIntIds (with nulls,
// negative values, a range one short of its bound) or not (a range at the bound, the extremes
// of long, values far apart), chunk after chunk, on the query thread and pushed.
TEST_F(SummarizePushTest, IntKeysGroupAsTheirTextDoes) {
  std::vector<std::vector<std::optional<int64_t>>> keys(6);
  for (int i = 0; i < 40; ++i) keys[0].push_back(i % 7 == 0 ? std::nullopt : std::optional<int64_t>(i % 5 - 3));
  for (int64_t v : {5000, -5000, 2, 0, 123456789, 2, -3}) keys[1].push_back(v);
  for (int64_t i = 0; i < 5000; ++i) keys[2].push_back(1000 + (i * 7919) % 4096);  // range 4095: dense
  for (int64_t i = 0; i < 5000; ++i) keys[3].push_back(-10 + (i * 7919) % 4097);  // range 4096: not
  for (int64_t v : {INT64_MIN, INT64_MAX, int64_t{0}, INT64_MIN, int64_t{-1}}) keys[4].push_back(v);
  for (int i = 0; i < 300; ++i) keys[5].push_back(i % 3 == 0 ? std::nullopt : std::optional<int64_t>(4095 - i % 11));
  std::vector<std::shared_ptr<const Table>> chunks;
  for (const auto& k : keys) {
    Column time(Type::kDateTime), computer(Type::kString), level(Type::kString), n(Type::kLong), d(Type::kReal);
    for (size_t r = 0; r < k.size(); ++r) {
      time.AppendInt(kJan15);
      computer.AppendString("c");
      level.AppendString("l");
      if (k[r]) n.AppendInt(*k[r]);
      else n.AppendNull();
      d.AppendReal(static_cast<double>(r % 8) / 4);
    }
    chunks.push_back(MakeChunk(k.size(), std::move(time), std::move(computer), std::move(level), std::move(n),
                               std::move(d)));
  }
  Schema schema = {{"TimeGenerated", Type::kDateTime}, {"Computer", Type::kString}, {"Level", Type::kString},
                   {"N", Type::kLong}, {"D", Type::kReal}};
  for (bool applies : {false, true}) {
    ThreadedCatalog catalog(schema, chunks, applies);
    auto by_int = Execute("T | summarize c = count(), s = sum(D) by N | project k = tostring(N), c, s", catalog, {});
    auto by_text = Execute("T | summarize c = count(), s = sum(D) by k = tostring(N)", catalog, {});
    ASSERT_THAT(by_int, IsOk());
    ASSERT_THAT(by_text, IsOk());
    EXPECT_EQ(by_int->tables[0].rows, 5111u);  // distinct keys, null included
    EXPECT_EQ(testing::RenderTable(by_int->tables[0]), testing::RenderTable(by_text->tables[0])) << applies;
  }
}

// A string test whose column nothing else reads, neither another conjunct nor a key or an
// argument, lets one passing value stand for every passing row's; otherwise the rows' own values
// are read. The answers are the query thread's either way.
TEST_F(SummarizePushTest, OnePassingValueServesWhenOnlyTheTestReadsItsColumn) {
  Schema schema = {{"TimeGenerated", Type::kDateTime}, {"Computer", Type::kString}, {"Level", Type::kString},
                   {"N", Type::kLong}, {"D", Type::kReal}};
  const std::pair<const char*, const char*> cases[] = {
      {"T | where Computer has 'web' | count", "Computer any"},
      {"T | where Computer has 'web' and N > 2 | count", "Computer any"},
      // (A search is the test before a lookup, which runs first as one of its rows_first.)
      {"T | where N > 2 and Level == 'Info' and Computer contains '0' | summarize sum(D) by Level", "Computer any"},
      {"T | where N > 2 and Level == 'Info' | summarize sum(D) by Level", "Level each"},
      {"T | where N > 2 and Computer contains '0' | summarize sum(D) by Level", "Computer any"},
      {"T | where Computer has 'web' and strlen(Computer) > 5 | count", "Computer each"},
      {"T | where Computer has 'web' | summarize count() by Computer", "Computer each"},
      {"T | where Computer has 'web' and N > 2 | summarize make_set(Computer)", "Computer each"},
      {"T | where isnotempty(Computer) | summarize count() by Level", "Computer any"},
      {"T | where isempty(Computer) | count", "Computer any"},
  };
  for (const auto& [q, expected] : cases) {
    Answers a = Run(q);
    EXPECT_EQ(a.own, a.pushed) << q;
    EXPECT_TRUE(a.ran_pushed) << q;
    ThreadedCatalog catalog(schema, chunks_, true);
    ASSERT_THAT(Execute(q, catalog, {}), IsOk()) << q;
    EXPECT_EQ(catalog.prefilters(), std::vector<std::string>{expected}) << q;
  }
}

TEST_F(SummarizePushTest, WhatCannotMergeOrRunElsewhereStaysOnTheQueryThread) {
  const char* queries[] = {
      "T | summarize stdev(D) by Computer",          // Welford state: not merged
      "T | summarize make_bag(pack('k', N)) by Level",  // pack: not pushed
      "T | summarize count() by strcat(Computer, 'x')",  // not a pushed function
      "T | where Computer matches regex Level | count",  // a pattern from the rows: compiled per row
      "T | parse-kv Computer as (web:string) | summarize count() by web",  // parse-kv stays
      "T | summarize count() by extract(Level, 0, Computer)",  // a pattern from the rows
      "T | summarize count() by trim(Computer, Level)",
      "T | summarize count() by countof(Computer, Level, 'regex')",  // a regex from the rows
      "T | extend s = strcat(Computer, Level) | parse s with h '-' n:int * | summarize count() by n",
  };
  for (const char* q : queries) {
    Answers a = Run(q);
    EXPECT_EQ(a.own, a.pushed) << q;
    EXPECT_FALSE(a.ran_pushed) << q;
  }
  EXPECT_FALSE(Run("T | extend r = rand() | summarize max(r) by Computer").ran_pushed);  // random: the extend stays
  // Extends whose expressions, folded together, would be deeper than binding allows any
  // expression (the evaluator recurses by height): the deepest projection stays as a project,
  auto chain = [](const std::string& from) {
    std::string e = from;
    for (int i = 0; i < 400; ++i) e += " + 1";
    return e;
  };
  // stays, and runs on the catalog's threads below the summarize (PushScanChain).
  std::string deep = "T | extend a = " + chain("N") + " | extend b = " + chain("a") + " | extend c = " + chain("b") +
                     " | summarize count() by c";
  Answers d = Run(deep);
  EXPECT_EQ(d.own, d.pushed);
  EXPECT_FALSE(d.own.empty());
  Answers two = Run("T | extend b = " + chain("N") + " | extend c = " + chain("b") + " | summarize count() by c");
  EXPECT_EQ(two.own, two.pushed);
  EXPECT_TRUE(two.ran_pushed);
}

// where, extend and parse stacked over a scan run where its chunks are decoded, below a
// summarize or alone, with the answers (rows and their order) of the query thread.
TEST_F(SummarizePushTest, WhereExtendAndParseOverAScanRunWhereChunksAreDecoded) {
  const char* queries[] = {
      "T | parse Computer with h '-' n:int | summarize count() by h, n",
      "T | parse Computer with 'web-' n:int | summarize count(), sum(N) by n",
      "T | parse kind=regex Computer with @'([a-z]+)' h '-' n:long | summarize count(), max(D) by h",
      "T | parse kind=relaxed Computer with h '-' n:int | summarize count() by h, n",
      "T | parse-where Computer with h '-' n:int | summarize count() by Level",
      "T | where Level != 'Info' | parse Computer with h '-' n:int | where n > 1 | summarize count() by h, Level",
      "T | parse Computer with h '-' * | summarize count() by h | order by h asc",
      "T | extend x = N * 2 | summarize sum(x), max(x) by Computer",
      "T | extend u = toupper(Computer) | where u startswith 'WEB' | summarize count(), dcount(u) by Level",
      "T | extend x = N * 2 | summarize count() by x, Level",
      // Alone: the rows in scan order.
      "T | parse Computer with h '-' n:int | project h, n, N",
      "T | parse-where Computer with 'web-' n:int | project n, Level, TimeGenerated",
      "T | where N > 2 | parse Computer with h '-' rest | project h, rest, N, D",
      "T | extend u = toupper(Computer) | where u startswith 'WEB' | project u, N",
      "T | parse Computer with h '-' n:int | where n == 2",
      "T | parse-where Computer with h '-' n:int | take 7",
      "T | parse Computer with h '-' n:int | top 5 by n desc nulls last",
      "T | where false | parse Computer with h '-' n:int | summarize count() by n",
  };
  for (size_t workers : {0, 2}) {
    for (const char* q : queries) {
      Answers a = Run(q, workers);
      EXPECT_EQ(a.own, a.pushed) << q << " (" << workers << " threads)";
      EXPECT_TRUE(a.ran_pushed) << q;
      EXPECT_EQ(a.own.empty(), std::string_view(q).find("false") != std::string_view::npos) << q;
    }
  }
  // Seventeen computed columns stay on the query's thread (what waits there is charged to no
  // budget); sixteen go.
  auto extends = [](int n) {
    std::string q = "T | extend ";
    for (int i = 0; i < n; ++i) q += (i ? ", x" : "x") + std::to_string(i) + " = N + " + std::to_string(i);
    return q + " | where x3 > 4";
  };
  for (int n : {16, 17}) {
    Answers a = Run(extends(n));
    EXPECT_EQ(a.own, a.pushed) << n;
    EXPECT_FALSE(a.own.empty()) << n;
    EXPECT_EQ(a.ran_pushed, n == 16) << n;
  }
  // Renaming or passing columns on alone isn't pushed (nothing to compute there); nor is a
  // stack that keeps every row under a take, which stops the scan after its first chunks.
  EXPECT_FALSE(Run("T | project C = Computer, N | take 5").ran_pushed);
  for (const char* q : {"T | parse Computer with h '-' * | take 7", "T | extend k = tostring(N) | project k, Computer | take 300"}) {
    Answers a = Run(q);
    EXPECT_EQ(a.own, a.pushed) << q;
    EXPECT_FALSE(a.own.empty()) << q;
    EXPECT_FALSE(a.ran_pushed) << q;
  }
  // A parse over a where over a scan: the where's string test reaches the catalog.
  Schema schema = {{"TimeGenerated", Type::kDateTime}, {"Computer", Type::kString}, {"Level", Type::kString},
                   {"N", Type::kLong}, {"D", Type::kReal}};
  ThreadedCatalog catalog(schema, chunks_, true);
  const char* q = "T | where Computer startswith 'web' | parse Computer with 'web-' n:int | project n";
  ASSERT_THAT(Execute(q, catalog, {}), IsOk());
  EXPECT_EQ(catalog.prefilters(), std::vector<std::string>{"Computer each"});
  EXPECT_GT(catalog.tokens(), 0u);
}

// `top N by X` over a catalog that filters: its bounded scan drops the rows worse than the N-th
// best X where chunks are decoded (RowsMeetingBound), with the same rows, ties and order as on
// the query thread.
TEST_F(SummarizePushTest, TopDropsRowsWorseThanItsBoundWhereChunksAreDecoded) {
  const char* queries[] = {
      "T | top 5 by N",  "T | top 9 by D asc nulls last", "T | top 4 by TimeGenerated desc", "T | top 12 by N desc, D asc",
      "T | top 40 by N asc nulls last", "T | top 1 by D", "T | top 3 by N nulls last",
  };
  for (const char* q : queries) {
    Answers a = Run(q);
    EXPECT_EQ(a.own, a.pushed) << q;
    EXPECT_FALSE(a.own.empty()) << q;
    EXPECT_TRUE(a.ran_pushed) << q;
  }
}

// A count of a summary's groups (`| count`, `| summarize count()`, `distinct K | count`) reads how
// many rows the summary gives, not their order: the binder marks the summary any_order, and its
// parts (the shares of a summary of many groups) are handed over one by one as they are
// (HashAggregation::FinishEach), not ordered by where their groups were first seen and gathered
// into one table (~70% of `count() by TimeGenerated | count` at 10M rows).
TEST_F(SummarizePushTest, ACountOfASummarysGroupsTakesItsPartsAsTheyAre) {
  InMemoryCatalog catalog;
  AddEmptyT(catalog);
  ExecContext ctx;
  ctx.catalog = &catalog;
  using PlanPtr = std::unique_ptr<PlanNode>;
  auto plan = [&](const std::string& q) -> PlanPtr {
    auto query = ParseQuery(q);
    EXPECT_THAT(query, IsOk());
    auto bound = Bind(*query, ctx);
    EXPECT_THAT(bound, IsOk());
    return std::move(bound->results.at(0));
  };
  // The summary straight under the count is marked; under anything else it is not.
  for (const char* q : {"T | summarize count() by Computer | count", "T | distinct Computer | count",
                        "T | summarize c = count() by Computer, Level | summarize count()",
                        "T | summarize c = count() by Computer | where c > 1 | where c < 9 | count"}) {
    PlanPtr p = plan(q);
    ASSERT_EQ(p->kind, NodeKind::kSummarize) << q;
    const PlanNode* below = p->inputs.at(0).get();
    while (below->kind == NodeKind::kFilter) below = below->inputs.at(0).get();
    ASSERT_EQ(below->kind, NodeKind::kSummarize) << q;
    EXPECT_TRUE(below->any_order) << q;
  }
  for (const char* q : {"T | summarize c = count() by Computer | summarize sum(c)",
                        "T | summarize c = count() by Computer | summarize count() by c",
                        "T | summarize c = count() by Computer | take 3"}) {
    PlanPtr p = plan(q);
    ASSERT_FALSE(p->inputs.empty()) << q;
    EXPECT_FALSE(p->inputs[0]->any_order) << q;
  }
  // Two parts of disjoint groups: FinishEach hands over each part's groups, the same groups and
  // counts Finish gathers.
  PlanPtr node = plan("T | summarize c = count() by Computer");
  ASSERT_EQ(node->kind, NodeKind::kSummarize);
  auto parts_of = [&]() {
    std::vector<std::unique_ptr<HashAggregation>> parts;
    for (size_t p = 0; p < 2; ++p) {
      Table t;
      t.rows = 1000;
      Column time(Type::kDateTime), computer(Type::kString), level(Type::kString), n(Type::kLong), d(Type::kReal);
      for (size_t i = 0; i < t.rows; ++i) {
        time.AppendInt(kJan15);
        computer.AppendString("host-" + std::to_string(p) + "-" + std::to_string(i % (300 + p * 100)));
        level.AppendString("Info");
        n.AppendInt(static_cast<int64_t>(i));
        d.AppendReal(1);
      }
      for (Column* c : {&time, &computer, &level, &n, &d}) t.AddColumn("", std::move(*c));
      std::vector<uint32_t> places(t.rows);
      for (size_t i = 0; i < t.rows; ++i) places[i] = static_cast<uint32_t>(2 * i + p);
      auto agg = std::make_unique<HashAggregation>(*node, node->exprs);
      agg->SetSequence(100, places);
      EXPECT_THAT(agg->Consume(Chunk::Own(std::move(t)), ctx), IsOk());
      parts.push_back(std::move(agg));
    }
    return parts;
  };
  HashAggregation gathered(*node, node->exprs), each(*node, node->exprs);
  ASSERT_THAT(gathered.AdoptParts(parts_of(), ctx), IsOk());
  ASSERT_THAT(each.AdoptParts(parts_of(), ctx), IsOk());
  std::multiset<std::string> want, got;
  Table all = gathered.Finish();
  for (size_t r = 0; r < all.rows; ++r) want.insert(std::string(all.columns[0].Str(r)) + "=" + std::to_string(all.columns[1].Int(r)));
  std::vector<size_t> tables;
  ASSERT_THAT(each.FinishEach([&](Table t) {
    tables.push_back(t.rows);
    for (size_t r = 0; r < t.rows; ++r) got.insert(std::string(t.columns[0].Str(r)) + "=" + std::to_string(t.columns[1].Int(r)));
    return OkStatus();
  }), IsOk());
  EXPECT_EQ(tables, (std::vector<size_t>{300, 400}));  // each part's own table
  EXPECT_EQ(all.rows, 700u);
  EXPECT_EQ(got, want);
  // And through a query: the count of groups, as of the summary itself.
  InMemoryCatalog rows;
  {
    Table t;
    t.name = "T";
    t.rows = 5000;
    Column time(Type::kDateTime), computer(Type::kString), level(Type::kString), n(Type::kLong), d(Type::kReal);
    for (size_t i = 0; i < t.rows; ++i) {
      time.AppendInt(kJan15 + static_cast<int64_t>(i % 977));
      computer.AppendString("h" + std::to_string(i % 613));
      level.AppendString(i % 2 == 0 ? "Info" : "Error");
      n.AppendInt(static_cast<int64_t>(i % 89));
      d.AppendReal(1);
    }
    for (size_t c = 0; c < kSchema.size(); ++c) {
      Column* cols[] = {&time, &computer, &level, &n, &d};
      t.AddColumn(kSchema[c].name, std::move(*cols[c]));
    }
    rows.Add(std::move(t));
  }
  for (auto [q, want_count] : std::vector<std::pair<std::string, int64_t>>{
           {"T | summarize count() by TimeGenerated | count", 977},
           {"T | distinct Computer, Level | count", 1226},  // (i % 613, i % 2): i % 1226
           {"T | summarize c = count() by N | summarize count()", 89},
           {"T | summarize c = count() by Computer | where c > 8 | count", 5000 % 613}}) {  // 8 or 9 rows each
    ExecOptions o;
    auto r = Execute(q, rows, o);
    ASSERT_THAT(r, IsOk());
    ASSERT_EQ(r->tables[0].rows, 1u) << q;
    EXPECT_EQ(r->tables[0].columns[0].Int(0), want_count) << q;
  }
}

}  // namespace
}  // namespace cmk::kql
