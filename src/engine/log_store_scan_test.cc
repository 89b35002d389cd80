// Scans read only what a query needs (issue 14): projected columns, row groups and extents
// pruned by time, the decoded-column cache under its byte budget, wiped on revocation.
#include "engine/extent.h"
#include "engine/log_store_internal.h"
#include "engine/log_store_test_util.h"
#include "kql/engine.h"
#include "kql/exec/eval.h"

#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <tuple>

namespace cmk::engine {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using testing::IsOk;

int64_t Ticks(TimePoint t) { return t.time_since_epoch().count() / 100; }

// A KQL datetime literal of `ticks`.
std::string DatetimeLiteral(int64_t ticks) {
  return "datetime(" + kql::ValueToText(kql::IntConstant(kql::Type::kDateTime, ticks), 0) + ")";
}

// Query `q`'s rows as "v|v|...\n" per row, run at `now`.
std::string RowsAt(const kql::Catalog& cat, const std::string& q, TimePoint now) {
  kql::ExecOptions o;
  o.now = now;
  auto r = kql::Execute(q, cat, o);
  EXPECT_THAT(r, IsOk()) << q;
  std::string out;
  for (size_t row = 0; r.ok() && row < r->tables[0].rows; ++row) {
    for (const kql::Column& c : r->tables[0].columns) out += kql::ValueToText(c, row) + "|";
    out += "\n";
  }
  return out;
}

// Every value of the scan as text, per column name, in the order delivered.
struct Scanned {
  size_t rows = 0;
  std::map<std::string, std::vector<std::string>> values;
};

class LogStoreScanTest : public LogStoreTest {
 protected:
  // Six flushed extents of ten rows: extent k holds N = 100k .. 100k + 9 and Msg "e<k> <i>", its
  // times `apart` after the previous extent's.
  void SixExtents(std::chrono::hours apart = std::chrono::hours(0)) {
    TimePoint now = clock_.Now();
    for (int k = 0; k < 6; ++k) {
      kql::Table t = Rows(10, "e" + std::to_string(k), now + apart * k);
      for (auto& v : t.columns[static_cast<size_t>(t.Find("N"))].ints) v += 100 * k;
      ASSERT_THAT(store_->Ingest(ws_, table_, std::move(t)), IsOk());
      ASSERT_THAT(store_->Flush(), IsOk());
    }
  }
  // Query `q`'s first table through `cat`, a row a string ("v|v|...|", nulls as "null").
  std::vector<std::string> Answer(const kql::Catalog& cat, const std::string& q) {
    auto r = kql::Execute(q, cat, kql::ExecOptions{});
    EXPECT_THAT(r, IsOk()) << q << ": " << r.status().message();
    std::vector<std::string> rows;
    if (!r.ok()) return rows;
    const kql::Table& t = r->tables[0];
    for (size_t i = 0; i < t.rows; ++i) {
      std::string row;
      for (const kql::Column& c : t.columns) {
        row += c.IsNull(i) ? "null" : kql::UsesInts(c.type) ? std::to_string(c.Int(i))
                                    : kql::UsesReals(c.type) ? std::to_string(c.Real(i)) : c.Str(i);
        row += "|";
      }
      rows.push_back(row);
    }
    return rows;
  }
  Result<Scanned> Scan(const kql::ScanRequest& request) {
    auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
    Scanned out;
    RETURN_IF_ERROR(cat->Scan(request, [&](std::shared_ptr<const kql::Table> t) {
      out.rows += t->rows;
      for (size_t c = 0; c < t->columns.size(); ++c) {
        const kql::Column& col = t->columns[c];
        auto& v = out.values[t->names[c]];
        for (size_t r = 0; r < t->rows; ++r) {
          if (col.IsNull(r))
            v.push_back("null");
          else if (kql::UsesInts(col.type))
            v.push_back(std::to_string(col.Int(r)));
          else if (kql::UsesReals(col.type))
            v.push_back(std::to_string(col.Real(r)));
          else
            v.emplace_back(col.Str(r));
        }
      }
      return OkStatus();
    }));
    return out;
  }
  // A scan of Msg tested for values ending in " 1", whose filter keeps every row and records
  // each table's row count in `seen`.
  kql::ScanRequest MsgEndingInOne(std::vector<size_t>& seen) {
    kql::ScanRequest request = Request({"Msg"});
    request.filter = [&seen](const std::shared_ptr<const kql::Table>& t) -> Result<std::shared_ptr<const kql::Table>> {
      seen.push_back(t->rows);
      return t;
    };
    request.prefilter = kql::ScanRequest::StringTest{"Msg", [](std::string_view v) { return v.ends_with(" 1"); }};
    return request;
  }
  // `extents` flushed extents of 40, 41, ... rows (Msg "x0", "x1", ...), then `memtable` rows
  // ("mem") left in the memtable.
  void IngestExtentsAndMemtable(int extents, int memtable) {
    TimePoint now = clock_.Now();
    for (int i = 0; i < extents; ++i) {
      ASSERT_THAT(store_->Ingest(ws_, table_, Rows(40 + i, "x" + std::to_string(i), now)), IsOk());
      ASSERT_THAT(store_->Flush(), IsOk());
    }
    if (memtable > 0) {
      ASSERT_THAT(store_->Ingest(ws_, table_, Rows(memtable, "mem", now)), IsOk());
    }
  }
  // The Msg column of query `q`'s answer, in order.
  std::vector<std::string> Messages(const kql::Catalog& cat, const std::string& q) {
    auto r = kql::Execute(q, cat, kql::ExecOptions{});
    EXPECT_THAT(r, IsOk()) << q;
    std::vector<std::string> out;
    if (!r.ok()) return out;
    const kql::Table& t = r->tables[0];
    int msg = t.Find("Msg");
    for (size_t i = 0; i < t.rows; ++i) out.emplace_back(t.columns[static_cast<size_t>(msg)].Str(i));
    return out;
  }
  // `extents` flushed extents of `rows` rows each, row r of extent i holding Msg
  // `message(i, r)` (nullopt: null).
  void IngestMessages(int extents, int rows, const std::function<std::optional<std::string>(int, int)>& message) {
    for (int i = 0; i < extents; ++i) {
      kql::Table t = Rows(rows, "", clock_.Now());
      kql::Column msg(kql::Type::kString);
      for (int r = 0; r < rows; ++r) {
        std::optional<std::string> m = message(i, r);
        if (m) msg.AppendString(std::move(*m));
        else msg.AppendNull();
      }
      t.columns[static_cast<size_t>(t.Find("Msg"))] = std::move(msg);
      ASSERT_THAT(store_->Ingest(ws_, table_, std::move(t)), IsOk());
      ASSERT_THAT(store_->Flush(), IsOk());
    }
  }
  kql::ScanRequest Request(std::vector<std::string> columns = {}) {
    return kql::ScanRequest{"App_CL", std::move(columns), std::nullopt, std::nullopt};
  }
};

TEST_F(LogStoreScanTest, AOneColumnQueryDecodesOnlyThatColumnOnce) {
  Open();
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(100, "m", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  auto n = Scan(Request({"N"}));
  ASSERT_THAT(n, IsOk());
  EXPECT_EQ(n->rows, 100u);
  EXPECT_EQ(n->values.size(), 1u);
  EXPECT_EQ(n->values["N"][99], "99");
  EXPECT_EQ(store_->BlocksDecodedForTest(), 1u);
  EXPECT_EQ(store_->ExtentsOpenedForTest(), 1u);
  // Cached: neither decoded nor read again.
  ASSERT_THAT(Scan(Request({"N"})), IsOk());
  EXPECT_EQ(store_->BlocksDecodedForTest(), 1u);
  EXPECT_EQ(store_->ExtentsOpenedForTest(), 1u);
  // The whole table decodes only the two others.
  auto all = Scan(Request());
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->values.size(), 3u);
  EXPECT_EQ(all->values["Msg"][7], "m 7");
  EXPECT_EQ(store_->BlocksDecodedForTest(), 3u);
  EXPECT_EQ(store_->ExtentsOpenedForTest(), 2u);
}

// ScanRequest::rows_only (`T | count`, sample's count): a row group the window leaves whole is
// counted from its footer, no block read; the cache's tables (other queries' columns) stay.
TEST_F(LogStoreScanTest, ARowsOnlyScanCountsFromFootersAndLeavesTheCacheAlone) {
  Open();
  TimePoint now = clock_.Now();
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(40, "old", now - hours(1))), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(50, "new", now)), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  ASSERT_THAT(Scan(Request({"TimeGenerated", "N"})), IsOk());
  const uint64_t decoded = store_->BlocksDecodedForTest();
  const size_t cached = store_->DecodedCacheBytesForTest();
  ASSERT_EQ(decoded, 4u);
  kql::ScanRequest count = Request({"Msg"});
  count.rows_only = true;
  auto all = Scan(count);
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->rows, 90u);
  EXPECT_EQ(all->values["Msg"], std::vector<std::string>(90, "null"));  // counted, not read
  EXPECT_EQ(store_->BlocksDecodedForTest(), decoded);
  EXPECT_EQ(store_->DecodedCacheBytesForTest(), cached);
  // The groups a window cuts are read (by their times): the rows inside it, exactly, whichever
  // column the count names (`where TimeGenerated > X | count` names TimeGenerated).
  count.min_time = Ticks(now) + 10;
  auto recent = Scan(count);
  ASSERT_THAT(recent, IsOk());
  EXPECT_EQ(recent->rows, 40u);
  count.columns = {"TimeGenerated"};
  recent = Scan(count);
  ASSERT_THAT(recent, IsOk());
  EXPECT_EQ(recent->rows, 40u);
  count.min_time = Ticks(now - hours(2));  // both extents whole: counted
  recent = Scan(count);
  ASSERT_THAT(recent, IsOk());
  EXPECT_EQ(recent->rows, 90u);
  count.min_time = Ticks(now) + 100;  // past every row
  recent = Scan(count);
  ASSERT_THAT(recent, IsOk());
  EXPECT_EQ(recent->rows, 0u);
  // Without the flag the same scan reads Msg (and its tables replace the cached ones).
  auto read = Scan(Request({"Msg"}));
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->rows, 90u);
  EXPECT_EQ(store_->BlocksDecodedForTest(), decoded + 2);
}

TEST_F(LogStoreScanTest, ATimeBoundedQuerySkipsRowGroupsAndExtentsOutsideIt) {
  flush_rows_ = 1'000'000;
  Open();
  TimePoint now = clock_.Now();
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(10, "ancient", now - hours(72))), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  // One extent of two row groups: a full one two hours old, then 100 recent rows.
  ASSERT_THAT(
      store_->Ingest(ws_, table_, Rows(static_cast<int>(kRowsPerGroup), "old", now - hours(2))),
      IsOk());
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(100, "new", now)), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  ASSERT_EQ(store_->Stats().extents, 2u);
  kql::ScanRequest recent = Request({"Msg"});
  recent.min_time = Ticks(now - hours(1));
  auto r = Scan(recent);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->rows, 100u);
  EXPECT_EQ(r->values["Msg"][0], "new 0");
  EXPECT_EQ(store_->BlocksDecodedForTest(), 1u);  // the recent group's Msg block alone
  EXPECT_EQ(store_->ExtentsOpenedForTest(), 1u);  // the ancient extent is not read
  auto all = Scan(Request({"Msg"}));
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->rows, 10u + kRowsPerGroup + 100u);
  EXPECT_EQ(store_->BlocksDecodedForTest(), 3u);
}

TEST_F(LogStoreScanTest, TheCacheKeepsToItsByteBudgetAndEvictsTheLeastRecentlyUsed) {
  cache_bytes_ = 3000;  // about one 40-row extent's three columns
  Open();
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(store_->Ingest(ws_, table_, Rows(40, "batch" + std::to_string(i), clock_.Now())),
                IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  ASSERT_EQ(store_->Stats().extents, 4u);
  EXPECT_EQ(*Count(ws_), 160);
  EXPECT_EQ(store_->BlocksDecodedForTest(), 12u);
  EXPECT_LE(store_->DecodedCacheBytesForTest(), 3000u);
  EXPECT_GT(store_->DecodedCacheBytesForTest(), 0u);
  // Each scan walks every extent, so the least recently used ones were evicted: decoded again.
  EXPECT_EQ(*Count(ws_), 160);
  EXPECT_GT(store_->BlocksDecodedForTest(), 12u);
  EXPECT_LE(store_->DecodedCacheBytesForTest(), 3000u);
  // A working set that fits stays: the N column of every extent (320 bytes each).
  ASSERT_THAT(Scan(Request({"N"})), IsOk());
  uint64_t decoded = store_->BlocksDecodedForTest();
  ASSERT_THAT(Scan(Request({"N"})), IsOk());
  EXPECT_EQ(store_->BlocksDecodedForTest(), decoded);
}

// Queries' memory (kql::MemoryPool's observer in the server): past a quarter of the cache's
// budget the cache's bound shrinks by it, down to a quarter, dropping what it held past that at
// once, and grows back when it is released.
TEST_F(LogStoreScanTest, TheCacheYieldsToQueriesMemoryPastAQuarterOfItsBudget) {
  cache_bytes_ = 8000;
  Open();
  for (int i = 0; i < 6; ++i) {
    ASSERT_THAT(store_->Ingest(ws_, table_, Rows(40, "batch" + std::to_string(i), clock_.Now())), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  EXPECT_EQ(*Count(ws_), 240);
  const size_t full = store_->DecodedCacheBytesForTest();
  ASSERT_GT(full, 5000u);
  EXPECT_EQ(store_->Stats().decoded_cache_capacity, 8000u);
  auto pool = std::make_shared<kql::MemoryPool>(SIZE_MAX);
  store_->WatchQueryMemory(pool);
  ASSERT_TRUE(pool->TryReserve(2000));  // a quarter of the cache's budget: nothing to give up yet
  store_->YieldCache();
  EXPECT_EQ(store_->Stats().decoded_cache_capacity, 8000u);
  EXPECT_EQ(store_->DecodedCacheBytesForTest(), full);
  EXPECT_EQ(store_->Stats().decoded_cache_yielded, 0u);
  ASSERT_TRUE(pool->TryReserve(3000));
  store_->YieldCache();
  EXPECT_EQ(store_->Stats().decoded_cache_capacity, 5000u);
  EXPECT_LE(store_->DecodedCacheBytesForTest(), 5000u);
  EXPECT_GT(store_->DecodedCacheBytesForTest(), 0u);
  EXPECT_EQ(store_->Stats().decoded_cache_yielded, full - store_->DecodedCacheBytesForTest());
  // Scans meanwhile keep to the smaller bound.
  EXPECT_EQ(*Count(ws_), 240);
  EXPECT_LE(store_->DecodedCacheBytesForTest(), 5000u);
  // Never under a quarter of the budget, however much queries hold.
  ASSERT_TRUE(pool->TryReserve(size_t{1} << 40));
  store_->YieldCache();
  EXPECT_EQ(store_->Stats().decoded_cache_capacity, 2000u);
  EXPECT_LE(store_->DecodedCacheBytesForTest(), 2000u);
  // Released: the whole budget again, and a scan refills it.
  pool->Release(pool->used());
  store_->YieldCache();
  EXPECT_EQ(store_->Stats().decoded_cache_capacity, 8000u);
  EXPECT_EQ(*Count(ws_), 240);
  EXPECT_EQ(store_->DecodedCacheBytesForTest(), full);
  uint64_t decoded = store_->BlocksDecodedForTest();
  EXPECT_EQ(*Count(ws_), 240);
  EXPECT_EQ(store_->BlocksDecodedForTest(), decoded);
}

TEST_F(LogStoreScanTest, ABudgetOfZeroCachesNothingAndStillAnswers) {
  cache_bytes_ = 0;
  Open();
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(40, "x", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  EXPECT_EQ(*Count(ws_), 40);
  EXPECT_EQ(*Count(ws_), 40);
  EXPECT_EQ(store_->DecodedCacheBytesForTest(), 0u);
  EXPECT_EQ(store_->BlocksDecodedForTest(), 6u);
}

TEST_F(LogStoreScanTest, RevocationDropsTheCachedColumnsAndSparesRunningReaders) {
  Open();
  WorkspaceInfo w = Linked();
  ws_ = w;
  ASSERT_THAT(store_->Ingest(w, table_, Rows(10, "secret", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  std::shared_ptr<const kql::Table> held;
  auto cat = store_->CatalogFor({w}, std::nullopt, std::nullopt);
  ASSERT_THAT(cat->Scan(Request({"Msg"}),
                        [&](std::shared_ptr<const kql::Table> t) {
                          held = t;
                          return OkStatus();
                        }),
              IsOk());
  ASSERT_NE(held, nullptr);
  EXPECT_GT(store_->DecodedCacheBytesForTest(), 0u);
  vault_.access_removed = true;
  clock_.Advance(seconds(10));
  EXPECT_EQ(Scan(Request({"Msg"})).status().error_code(), "KeyVaultAccessRevoked");
  EXPECT_EQ(store_->DecodedCacheBytesForTest(), 0u);
  // A reader holding a block keeps reading it: it is wiped when released, not under its feet.
  EXPECT_EQ(held->columns[0].Str(3), "secret 3");
  held.reset();
  vault_.access_removed = false;
  clock_.Advance(seconds(10));
  uint64_t decoded = store_->BlocksDecodedForTest();
  auto again = Scan(Request({"Msg"}));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->values["Msg"][3], "secret 3");
  EXPECT_EQ(store_->BlocksDecodedForTest(), decoded + 1);  // read again with the key
}

TEST_F(LogStoreScanTest, ProjectedAndBoundedScansMatchTheWholeTable) {
  flush_rows_ = 1'000'000;
  Open();
  TimePoint now = clock_.Now();
  // Extents of two row groups and of one, and rows still in the memtable.
  ASSERT_THAT(
      store_->Ingest(ws_, table_, Rows(static_cast<int>(kRowsPerGroup) + 50, "a", now - hours(3))),
      IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(70, "b", now - hours(1))), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(30, "c", now)), IsOk());
  auto whole = Scan(Request());
  ASSERT_THAT(whole, IsOk());
  ASSERT_EQ(whole->rows, kRowsPerGroup + 150);
  for (const char* name : {"TimeGenerated", "Msg", "N"}) {
    auto one = Scan(Request({name}));
    ASSERT_THAT(one, IsOk());
    EXPECT_EQ(one->values[name], whole->values[name]) << name;
  }
  auto two = Scan(Request({"N", "Msg"}));
  ASSERT_THAT(two, IsOk());
  EXPECT_EQ(two->values["Msg"], whole->values["Msg"]);
  EXPECT_EQ(two->values["N"], whole->values["N"]);
  // A bounded scan: every row of the whole table in the bounds is among its rows.
  kql::ScanRequest bounded = Request();
  bounded.min_time = Ticks(now - hours(2));
  auto b = Scan(bounded);
  ASSERT_THAT(b, IsOk());
  std::multiset<std::string> got(b->values["Msg"].begin(), b->values["Msg"].end());
  size_t inside = 0;
  for (size_t r = 0; r < whole->rows; ++r) {
    if (std::stoll(whole->values["TimeGenerated"][r]) < *bounded.min_time) continue;
    ++inside;
    EXPECT_EQ(got.count(whole->values["Msg"][r]), 1u) << whole->values["Msg"][r];
  }
  EXPECT_EQ(inside, 100u);
  // Repeated (from the cache now): the same again.
  auto cached = Scan(Request());
  ASSERT_THAT(cached, IsOk());
  EXPECT_EQ(cached->values, whole->values);
}

TEST_F(LogStoreScanTest, TopReadsTheOtherColumnsOnlyOfBlocksHoldingTopRows) {
  Open();
  TimePoint now = clock_.Now();
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(100, "low", now)), IsOk());  // N 0..99
  ASSERT_THAT(store_->Flush(), IsOk());
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(300, "high", now)), IsOk());  // N 0..299
  ASSERT_THAT(store_->Flush(), IsOk());
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  auto top = [&](const std::string& q) { return Messages(*cat, q); };
  EXPECT_EQ(top("App_CL | top 3 by N desc"), (std::vector<std::string>{"high 299", "high 298", "high 297"}));
  // N of both extents, then TimeGenerated and Msg of the second only.
  EXPECT_EQ(store_->BlocksDecodedForTest(), 4u);
  // Ascending, with ties across the extents (N 0..2 in both): both are read, the order as before.
  auto asc = top("App_CL | top 4 by N asc");
  ASSERT_EQ(asc.size(), 4u);
  EXPECT_EQ(asc[0].substr(asc[0].size() - 2), " 0");
  EXPECT_EQ(asc[3].substr(asc[3].size() - 2), " 1");
  EXPECT_EQ(store_->BlocksDecodedForTest(), 6u);
  // The same answers as without the bound (a filter between top and the scan disables it).
  EXPECT_EQ(top("App_CL | top 3 by N desc"), top("App_CL | where N >= 0 | top 3 by N desc"));
  EXPECT_EQ(top("App_CL | top 4 by N asc"), top("App_CL | where N >= 0 | top 4 by N asc"));
}

TEST_F(LogStoreScanTest, TopReadsTheKeyColumnOnlyOfGroupsWhoseFooterExtremeIsAmongTheBest) {
  Open();
  SixExtents();
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  auto top = [&](const std::string& q) { return Messages(*cat, q); };
  // First pass: the 3rd best extent maximum is 309, so only N of extents 3..5 is decoded; the
  // 3rd best value is 507, which only extent 5 holds: its TimeGenerated and Msg. 5 blocks, where
  // reading every N block first took 8.
  EXPECT_EQ(top("App_CL | top 3 by N desc"), (std::vector<std::string>{"e5 9", "e5 8", "e5 7"}));
  EXPECT_EQ(store_->BlocksDecodedForTest(), 5u);
  // Ascending with nulls last: N of extents 0..2 (3 more blocks), the other columns of extent 0
  // (2 more). (Plain `asc` puts nulls first, where any null row would win: no bound there.)
  EXPECT_EQ(top("App_CL | top 3 by N asc nulls last"), (std::vector<std::string>{"e0 0", "e0 1", "e0 2"}));
  EXPECT_EQ(store_->BlocksDecodedForTest(), 10u);
  // More rows asked for than groups have extremes: no pruning by the footer, same answers.
  auto many = top("App_CL | top 25 by N desc");
  ASSERT_EQ(many.size(), 25u);
  EXPECT_EQ(many[0], "e5 9");
  EXPECT_EQ(many[24], "e3 5");
  EXPECT_EQ(top("App_CL | top 3 by N desc"), top("App_CL | where N >= 0 | top 3 by N desc"));
  EXPECT_EQ(top("App_CL | top 25 by N desc"), top("App_CL | where N >= 0 | top 25 by N desc"));
}

// The most common log query, the latest rows (`sort by TimeGenerated desc | take N`), is a top:
// the same blocks as `top` are read (the sort read every block of every column), also through
// a projection that only selects columns, which reads just those.
TEST_F(LogStoreScanTest, SortThenTakeReadsOnlyTheBlocksThatCanHoldTheBestRows) {
  Open();
  SixExtents();
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  auto rows = [&](const std::string& q) { return Messages(*cat, q); };
  EXPECT_EQ(rows("App_CL | sort by N desc | take 3"), (std::vector<std::string>{"e5 9", "e5 8", "e5 7"}));
  EXPECT_EQ(store_->BlocksDecodedForTest(), 5u);  // as `top 3 by N desc` (test above)
  EXPECT_EQ(rows("App_CL | project Msg, N | order by N asc nulls last | limit 2"),
            (std::vector<std::string>{"e0 0", "e0 1"}));
  EXPECT_EQ(store_->BlocksDecodedForTest(), 5u + 2 + 1);  // N of extents 0 and 1, Msg of extent 0
}

// The first and last times, and a column's extremes: as `top 1` reads them (a block each), with
// the answers of a scan of every row.
// A top over text too large to cache decoded (a 16 KB cache here) builds the strings of the rows
// it may keep only: its answers are the ones a filtered scan gives, and the text it read stays
// undecoded in the cache (its frames; the next full read of Msg decodes every block).
TEST_F(LogStoreScanTest, TopBuildsTheStringsOfItsRowsOnlyWhenTheTextIsTooLargeToCache) {
  cache_bytes_ = 16 << 10;
  Open();
  TimePoint now = clock_.Now();
  for (int k = 0; k < 3; ++k) {
    // (Messages of ~40 bytes: too large to cache decoded, 4 bytes a value beside their text.)
    kql::Table t = Rows(200, "x" + std::to_string(k) + std::string(32, 'm'), now + std::chrono::minutes(k));
    for (auto& v : t.columns[static_cast<size_t>(t.Find("N"))].ints) v = (v * 37 + k * 11) % 200;
    ASSERT_THAT(store_->Ingest(ws_, table_, std::move(t)), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  std::unique_ptr<kql::Catalog> cat;
  for (const char* q : {"App_CL | top 7 by N desc", "App_CL | top 5 by N asc nulls last",
                        "App_CL | sort by TimeGenerated desc | take 9", "App_CL | top 4 by N desc, Msg asc"}) {
    Open();  // a fresh cache: the top decodes the text itself
    cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
    uint64_t before = store_->BlocksDecodedForTest();
    std::string bounded(q), plain = std::string("App_CL | where N >= 0 or isnull(N)") + (bounded.c_str() + 6);
    std::vector<std::string> got = Messages(*cat, bounded);
    EXPECT_GT(store_->BlocksDecodedForTest(), before) << q;
    EXPECT_EQ(got, Messages(*cat, plain)) << q;
  }
  Open();  // a fresh cache
  cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  EXPECT_EQ(Messages(*cat, "App_CL | top 3 by N desc").size(), 3u);
  uint64_t after_top = store_->BlocksDecodedForTest();
  auto all = Scan(Request({"Msg"}));
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->rows, 600u);
  EXPECT_EQ(store_->BlocksDecodedForTest() - after_top, 3u);  // every Msg block: none was cached
}

// Across row groups, a group's best row that an earlier-selected row group's beats outright is
// not built, and a group's first row beside its best is kept for its place alone (its Msg
// null, never an answer): `arg_max(TimeGenerated, *) by Host` over ten extents whose first holds
// every host's latest row builds those four messages only (80 before). Ties are kept (the earlier
// row in scan order answers), a first row that could answer is built (take_any; a row group
// without a non-null key), and the answers are those of the same summarize behind a filter,
// read one extent at a time and three at once.
TEST_F(LogStoreScanTest, ArgMaxSkipsTheRowsABestFromAnotherRowGroupBeats) {
  cache_bytes_ = 16 << 10;
  table_.schema.push_back({"Host", kql::Type::kString});
  topo_.tables = {table_};
  read_ahead_ = 1;
  Open();
  TimePoint now = clock_.Now();
  for (int k = 0; k < 10; ++k) {
    // Extent 0 the latest; messages too large to cache decoded.
    kql::Table t = Rows(200, "x" + std::to_string(k) + std::string(32, 'm'), now - std::chrono::minutes(k));
    kql::Column host(kql::Type::kString);
    for (int i = 0; i < 200; ++i) host.AppendString(k == 9 && i == 150 ? "late" : "h" + std::to_string(i % 4));
    auto& n = t.columns[static_cast<size_t>(t.Find("N"))];
    if (k == 5) n.nulls.assign(200, 1);  // no N in extent 5: arg_max(N, *) takes its groups' first rows there
    if (k == 9) {  // nor for host "late": its answer is its (only) row, built
      n.nulls.assign(200, 0);
      n.nulls[150] = 1;
    }
    t.AddColumn("Host", std::move(host));
    ASSERT_THAT(store_->Ingest(ws_, table_, std::move(t)), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  auto answer = [this](const kql::Catalog& cat, const std::string& q) { return Answer(cat, q); };
  struct Case {
    const char* q;
    uint64_t most;  // messages built, one extent at a time
  };
  for (const Case& c : {Case{" | summarize arg_max(TimeGenerated, *) by Host", 5},  // + late's, in extent 9
                        Case{" | summarize arg_max(N, *) by Host", 200},  // ties in every extent
                        Case{" | summarize arg_min(TimeGenerated, Msg), take_any(Msg) by Host", 200},
                        Case{" | summarize arg_max(TimeGenerated, *), max(N) by Host", 5}}) {
    for (size_t threads : {size_t{1}, size_t{3}}) {
      read_ahead_ = threads;
      Open();  // a fresh cache
      auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
      uint64_t before = store_->ValuesMaterializedForTest(), blocks = store_->BlocksDecodedForTest();
      std::vector<std::string> got = answer(*cat, std::string("App_CL") + c.q);
      uint64_t built = store_->ValuesMaterializedForTest() - before;
      if (threads == 1) {
        EXPECT_LE(built, c.most) << c.q;
        // A row group building no message reads no Msg block: TimeGenerated, N and Host of the
        // ten, Msg of extent 0 (every host's latest) and of extent 9 (late's).
        if (c.most == 5) {
          EXPECT_EQ(store_->BlocksDecodedForTest() - blocks, 3u * 10 + 2) << c.q;
        }
      }
      EXPECT_EQ(got, answer(*cat, std::string("App_CL | where N >= 0 or isnull(N)") + c.q)) << c.q;
      EXPECT_EQ(got.size(), 5u) << c.q;
    }
  }
  // Best keys of 100 KB each, 20 MB of them in one extent, each its group's answer: past the
  // bound on what is held (16 MB), groups go unpruned and held keys stay as they are (a row that
  // would have grown them is built, not dropped); the answers are the same.
  for (int k = 0; k < 1; ++k) {
    kql::Table t = Rows(200, "y", now + std::chrono::minutes(10 + k));
    auto& msg = t.columns[static_cast<size_t>(t.Find("Msg"))];
    kql::Column big(kql::Type::kString), host(kql::Type::kString);
    for (int i = 0; i < 200; ++i) {
      // (After "z": each one beats the small extents' "x<k>m..." of its group.)
      big.AppendString("z" + std::string(100 << 10, static_cast<char>('a' + (i * 7 + k) % 26)) + std::to_string(i));
      host.AppendString("b" + std::to_string(i % 4));  // (another host than the group's other rows')
    }
    msg = std::move(big);
    t.AddColumn("Host", std::move(host));
    ASSERT_THAT(store_->Ingest(ws_, table_, std::move(t)), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  for (size_t threads : {size_t{1}, size_t{3}}) {
    read_ahead_ = threads;
    Open();
    auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
    const std::string q = " | summarize arg_max(Msg, *) by N | extend Msg = strlen(Msg)";
    std::vector<std::string> got = answer(*cat, "App_CL" + q);
    EXPECT_EQ(got, answer(*cat, "App_CL | where N >= 0 or isnull(N)" + q));
    EXPECT_EQ(got.size(), 201u);  // N 0..199 and null
  }
  // The latest row of each host is extent 0's (x0), the one tie of N = 199 the first extent's.
  Open();
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  for (const std::string& row : answer(*cat, "App_CL | summarize arg_max(N, Msg) by Host | where Host startswith 'h'")) {
    EXPECT_NE(row.find("|x0"), std::string::npos) << row;
  }
}

// A summarize whose aggregates each take one row of a group (`arg_max(TimeGenerated, *) by
// Computer`, the latest row of each) over text too large to cache decoded builds the strings of
// each row group's first and best rows only, with the answers of the same summarize behind a
// filter (which reads every row).
TEST_F(LogStoreScanTest, ArgMaxBuildsTheStringsOfEachGroupsCandidateRowsOnly) {
  cache_bytes_ = 16 << 10;
  table_.schema.push_back({"Host", kql::Type::kString});
  topo_.tables = {table_};
  Open();
  TimePoint now = clock_.Now();
  for (int k = 0; k < 3; ++k) {
    // (Messages of ~40 bytes: too large to cache decoded, 4 bytes a value beside their text.)
    kql::Table t = Rows(200, "x" + std::to_string(k) + std::string(32, 'm'), now + std::chrono::minutes(k));
    auto& n = t.columns[static_cast<size_t>(t.Find("N"))].ints;
    for (auto& v : n) v = (v * 37 + k * 11) % 200;
    n[5] = n[6] = 500;  // ties: the first of them wins
    kql::Column host(kql::Type::kString);  // a few values: dictionary-coded in the extents
    // (the null rows hold "h1" underneath, as do rows 5 and 6, the best N: a null row's code is
    // that of "h1", and the nulls' group is not h1's)
    for (int i = 0; i < 200; ++i) {
      host.AppendString(i % 5 == 3 || i == 5 || i == 6 ? "h1" : i % 7 == 0 ? "" : "h" + std::to_string((i * 7 + k) % 4));
    }
    host.nulls.assign(200, 0);  // and nulls, a group of their own beside the empty values
    for (int i = 3; i < 200; i += 5) host.nulls[static_cast<size_t>(i)] = 1;
    t.AddColumn("Host", std::move(host));
    ASSERT_THAT(store_->Ingest(ws_, table_, std::move(t)), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  auto answer = [this](const kql::Catalog& cat, const std::string& q) { return Answer(cat, q); };
  for (const char* q : {" | summarize arg_max(TimeGenerated, *) by k = N % 7",
                        " | summarize arg_max(N, *) by k = N % 5",
                        " | summarize arg_min(N, Msg), take_any(Msg), max(TimeGenerated) by b = bin(TimeGenerated, 1m)",
                        " | summarize arg_max(N, Msg, TimeGenerated)",
                        " | summarize arg_max(TimeGenerated, *), arg_min(N, Msg) by Host",
                        " | summarize arg_max(N, *), arg_min(N, Msg) by Host"}) {
    Open();  // a fresh cache
    auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
    uint64_t before = store_->ValuesMaterializedForTest();
    std::vector<std::string> got = answer(*cat, std::string("App_CL") + q);
    uint64_t built = store_->ValuesMaterializedForTest() - before;
    EXPECT_GT(built, 0u) << q;
    EXPECT_LE(built, 3u * 7 * 2 * 2) << q;  // row groups x groups x (first, best) x string columns
    EXPECT_EQ(got, answer(*cat, std::string("App_CL | where N >= 0 or isnull(N)") + q)) << q;
    EXPECT_FALSE(got.empty()) << q;
  }
  // A time window through a row group: its best rows are chosen among the rows inside.
  Open();
  int64_t lo = Ticks(now + std::chrono::minutes(1)) + 50, hi = Ticks(now + std::chrono::minutes(2)) + 150;
  auto window = store_->CatalogFor({ws_}, lo, hi);
  for (const char* q : {" | summarize arg_max(N, *), take_any(Msg) by k = N % 3", " | summarize arg_min(TimeGenerated, *)"}) {
    std::vector<std::string> got = answer(*window, std::string("App_CL") + q);
    EXPECT_EQ(got, answer(*window, std::string("App_CL | where N >= 0 or isnull(N)") + q)) << q;
    EXPECT_FALSE(got.empty()) << q;
  }
  // Other aggregates need every row: nothing deferred.
  Open();
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  EXPECT_EQ(answer(*cat, "App_CL | summarize arg_max(N, Msg), count()").size(), 1u);
  EXPECT_EQ(store_->ValuesMaterializedForTest(), 0u);
  // A top over a filter: each row group's passing rows among its N best (ties: the first) get
  // their strings, the answers those of the same top over a filter run on the query's thread
  // (rand() keeps it there).
  for (const char* q : {" | top 4 by N desc", " | top 3 by TimeGenerated asc", " | sort by N asc | take 5",
                        " | top 2 by N desc, Msg asc", " | top 6 by tostring(N) desc"}) {
    for (const char* where : {"N > 20", "Host == 'h1'", "Host != 'h2' and N % 3 == 0", "isnull(Host)"}) {
      Open();  // a fresh cache
      auto c = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
      std::string filtered = std::string("App_CL | where ") + where;
      uint64_t before = store_->ValuesMaterializedForTest();
      std::vector<std::string> got = answer(*c, filtered + q);
      uint64_t built = store_->ValuesMaterializedForTest() - before;
      // (A key that reads Msg decodes it whole; Host alone may be deferred then.)
      if (std::string_view(q).find("Msg") == std::string_view::npos) {
        EXPECT_GT(built, 0u) << where << q;
      }
      EXPECT_LE(built, 3u * 6 * 2) << where << q;  // row groups x N x string columns
      EXPECT_EQ(got, answer(*c, filtered + " and rand() >= 0" + q)) << where << q;
      EXPECT_FALSE(got.empty()) << where << q;
    }
  }
  // One key of numbers: a first pass over the key's and the predicate's columns finds the 4th
  // best passing value (500, six rows tie at it), and only rows that good get their strings.
  Open();
  auto bounded = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  uint64_t before = store_->ValuesMaterializedForTest();
  EXPECT_EQ(answer(*bounded, "App_CL | where N > 20 | top 4 by N desc").size(), 4u);
  EXPECT_LE(store_->ValuesMaterializedForTest() - before, 6u * 2);  // not 3 groups x 4 rows x 2
}

// The messages of a sample of App_CL's rows, each row whole: its Msg ends with its N.
std::vector<std::string> SampledMessages(const kql::Table& t) {
  std::vector<std::string> out;
  int msg = t.Find("Msg"), n = t.Find("N");
  EXPECT_GE(msg, 0);
  EXPECT_GE(n, 0);
  if (msg < 0 || n < 0) return out;
  for (size_t row = 0; row < t.rows; ++row) {
    std::string m(t.columns[static_cast<size_t>(msg)].Str(row));
    EXPECT_EQ(m.substr(m.find(' ') + 1), std::to_string(t.columns[static_cast<size_t>(n)].Int(row))) << m;
    out.push_back(std::move(m));
  }
  return out;
}

// `sample N` over a table reads a Bernoulli sample of its rows (ScanRequest::thin): only the
// kept rows' strings are built (a few dozen, not 20,000), each picked row is whole, and the rows
// not yet flushed (the memtable's) are as likely to be picked as the stored ones.
TEST_F(LogStoreScanTest, SampleBuildsTheStringsOfTheRowsItKeepsOnly) {
  Open();
  TimePoint now = clock_.Now();
  for (int k = 0; k < 5; ++k) {
    ASSERT_THAT(store_->Ingest(ws_, table_, Rows(5000, "x" + std::to_string(k), now + std::chrono::minutes(k))),
                IsOk());
    if (k < 4) {
      ASSERT_THAT(store_->Flush(), IsOk());  // the last 5,000 rows stay in the memtable
    }
  }
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  std::vector<int> per_batch(5, 0);
  uint64_t built_in_all = 0;
  for (int seed = 0; seed < 40; ++seed) {
    kql::ExecOptions o;
    o.now = now + std::chrono::microseconds(seed * 7919);
    uint64_t before = store_->ValuesMaterializedForTest();
    auto r = kql::Execute("App_CL | sample 10", *cat, o);
    ASSERT_THAT(r, IsOk());
    uint64_t built = store_->ValuesMaterializedForTest() - before;
    EXPECT_LE(built, 100u);  // ~22 of the stored rows kept on average
    built_in_all += built;
    const kql::Table& t = r->tables[0];
    ASSERT_EQ(t.rows, 10u);
    for (const std::string& m : SampledMessages(t)) ++per_batch[static_cast<size_t>(m[1] - '0')];
  }
  EXPECT_GT(built_in_all, 0u);
  for (int c : per_batch) EXPECT_NEAR(c, 80, 30);  // 400 picks over 5 equal batches (sd ~8)
}

// Repeated samples leave the decoded cache as they found it. A row group whose entry (another
// query's columns) lacks some the sample reads keeps its entry: the kept rows' values are
// gathered from it beside the columns decoded for them (widening it copied every one of its
// columns for a row or two). And a text block whose frames, over the scan, would take more than
// a quarter of the cache is read for the kept rows from a frame opened into the thread's buffer,
// not cached: the next sample draws other row groups.
TEST_F(LogStoreScanTest, SamplesLeaveTheCacheAsTheyFoundIt) {
  cache_bytes_ = size_t{4} << 20;  // the scan's frames (~200 bytes a row): over 1/4, under 3/4
  Open();
  TimePoint now = clock_.Now();
  std::mt19937_64 rng(7);
  for (int k = 0; k < 4; ++k) {
    kql::Table t = Rows(2000, "", now + std::chrono::minutes(k));
    kql::Column& msg = t.columns[static_cast<size_t>(t.Find("Msg"))];
    msg = kql::Column(kql::Type::kString);
    for (int i = 0; i < 2000; ++i) {
      std::string m;
      while (m.size() < 200) m += std::to_string(rng());  // (LZ4 finds no repeats)
      msg.AppendString(m + " " + std::to_string(i));
    }
    ASSERT_THAT(store_->Ingest(ws_, table_, std::move(t)), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  kql::ExecOptions o;
  o.now = now;
  ASSERT_THAT(kql::Execute("App_CL | summarize sum(N)", *cat, o), IsOk());  // every group's N cached
  const size_t cached = store_->DecodedCacheBytesForTest();
  ASSERT_GT(cached, 0u);
  for (int seed = 0; seed < 20; ++seed) {
    o.now = now + std::chrono::microseconds(seed * 7919);
    auto r = kql::Execute("App_CL | sample 10", *cat, o);
    ASSERT_THAT(r, IsOk());
    const kql::Table& t = r->tables[0];
    ASSERT_EQ(t.rows, 10u);
    EXPECT_EQ(SampledMessages(t).size(), 10u);
    int tg = t.Find("TimeGenerated");
    ASSERT_GE(tg, 0);
    for (size_t row = 0; row < t.rows; ++row) EXPECT_FALSE(t.columns[static_cast<size_t>(tg)].IsNull(row));
  }
  EXPECT_EQ(store_->DecodedCacheBytesForTest(), cached);
  uint64_t before = store_->BlocksDecodedForTest();
  ASSERT_THAT(kql::Execute("App_CL | summarize sum(N)", *cat, o), IsOk());
  EXPECT_EQ(store_->BlocksDecodedForTest(), before);  // its entries all still there
}

// Rows(...) one second apart: an extent the tests below cut through with bounds
// of a second's precision.
kql::Table SecondsApart(kql::Table t) {
  auto& tg = t.columns[static_cast<size_t>(t.Find("TimeGenerated"))].ints;
  for (size_t i = 0; i < tg.size(); ++i) tg[i] = tg[0] + static_cast<int64_t>(i) * 10'000'000;
  return t;
}

// A scan's TimeGenerated bounds are exact (ExactTimeBounds): the where conjuncts they come from
// are answered by the scan alone (rows outside them dropped in row groups that straddle them,
// in the memtable, with the query's timespan too), as the same comparisons written so that they
// are evaluated row by row (`TimeGenerated + 0s`).
TEST_F(LogStoreScanTest, TimeBoundsFromTheQueryAreExact) {
  table_.schema.push_back({"Host", kql::Type::kString});
  topo_.tables = {table_};
  Open();
  TimePoint now = clock_.Now();
  const int64_t second = 10'000'000;
  std::vector<int64_t> starts;
  for (int k = 0; k < 4; ++k) {
    kql::Table t = SecondsApart(Rows(300, "x" + std::to_string(k), now - std::chrono::hours(3 - k)));
    const auto& tg = t.columns[static_cast<size_t>(t.Find("TimeGenerated"))].ints;
    kql::Column host(kql::Type::kString);  // a few values, each in a stretch of time: dictionary-coded
    for (size_t i = 0; i < tg.size(); ++i) host.AppendString("h" + std::to_string(k) + "-" + std::to_string(i / 50));
    t.AddColumn("Host", std::move(host));
    starts.push_back(tg[0]);
    ASSERT_THAT(store_->Ingest(ws_, table_, std::move(t)), IsOk());
    if (k < 3) {
      ASSERT_THAT(store_->Flush(), IsOk());  // the last 300 rows stay in the memtable
    }
  }
  auto at = DatetimeLiteral;
  auto text = [&](const kql::Catalog& cat, const std::string& q) { return RowsAt(cat, q, now); };
  auto whole = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  auto window = store_->CatalogFor({ws_}, starts[1] + 100 * second, starts[3] + 200 * second);
  std::vector<int64_t> bounds = {starts[1] + 150 * second, starts[2], starts[2] - 1, starts[3] + 17 * second,
                                 starts[0] + 299 * second, starts[3] + 400 * second, starts[0] - 5};
  int cut = 0;
  for (int64_t b : bounds) {
    for (const std::string& cond :
         {"TimeGenerated > " + at(b), "TimeGenerated >= " + at(b), at(b) + " > TimeGenerated",
          "TimeGenerated <= " + at(b), "TimeGenerated == " + at(b + second),
          "TimeGenerated between (" + at(b) + " .. " + at(b + 70 * second) + ")",
          "TimeGenerated > " + at(b) + " and N % 3 == 1", "TimeGenerated < " + at(b) + " and TimeGenerated > " +
              at(starts[1] + 20 * second)}) {
      std::string slow = cond;
      for (size_t p = slow.find("TimeGenerated"); p != std::string::npos; p = slow.find("TimeGenerated", p + 20)) {
        slow.replace(p, 13, "(TimeGenerated + 0s)");
      }
      for (const kql::Catalog* cat : {whole.get(), window.get()}) {
        std::string q = "App_CL | where " + cond + " | summarize count(), sum(N)";
        std::string got = text(*cat, q);
        EXPECT_EQ(got, text(*cat, "App_CL | where " + slow + " | summarize count(), sum(N)")) << q;
        if (got.rfind("0|", 0) != 0 && got.rfind("1200|", 0) != 0) ++cut;
        // A top by a block's extremes: only groups wholly inside the bounds vouch for theirs.
        for (const char* tail : {" | top 2 by N desc | project N, Msg", " | top 2 by N asc | project N, Msg",
                                 " | summarize max(N), min(N)", " | distinct Host | order by Host asc",
                                 " | summarize dcount(Host), make_set(Host), count() by Host | order by Host asc",
                                 " | sample 3 | count", " | summarize arg_max(N, Host, Msg)",
                                 // (rows-only scans: the groups the bounds leave whole counted
                                 // from their footers, the others read)
                                 " | count", " | summarize count()", " | project x = 1 | count"}) {
          EXPECT_EQ(text(*cat, "App_CL | where " + cond + tail), text(*cat, "App_CL | where " + slow + tail))
              << cond << tail;
        }
      }
    }
  }
  EXPECT_GT(cut, 40);  // most bounds cut through the rows
  // The timespan's window alone, over a query that reads no TimeGenerated.
  EXPECT_EQ(text(*window, "App_CL | summarize count(), sum(N)"),
            text(*window, "App_CL | where isnotnull(TimeGenerated + 0s) | summarize count(), sum(N)"));
  EXPECT_EQ(text(*window, "App_CL | summarize count(), sum(N)"), "700|104650|\n");  // rows 100-299, 0-299, 0-199
  // Bounds that leave no window read nothing at all (a fresh cache: every block would be read).
  window.reset();
  whole.reset();
  Open();
  whole = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  uint64_t blocks = store_->BlocksDecodedForTest();
  EXPECT_EQ(text(*whole, "App_CL | where TimeGenerated between (" + at(starts[1] + 200 * second) + " .. " +
                             at(starts[1] + 100 * second) + ") | summarize count(), sum(N)"),
            "0|0|\n");
  EXPECT_EQ(store_->BlocksDecodedForTest(), blocks);
}

// A top's first pass skips the row groups whose footer extreme is worse than the N-th best
// extreme (ScanRequest::best): only groups wholly inside the query's bounds may vouch for
// theirs. Here the two groups the bounds cut through hold their largest N outside them, and
// the answer is in the group between.
TEST_F(LogStoreScanTest, ATopsFirstPassTrustsOnlyTheGroupsInsideItsBounds) {
  Open();
  TimePoint now = clock_.Now();
  const int64_t second = 10'000'000;
  std::vector<int64_t> starts;
  for (int k = 0; k < 3; ++k) {
    kql::Table t = SecondsApart(Rows(300, "x" + std::to_string(k), now - std::chrono::hours(3 - k)));
    const auto& tg = t.columns[static_cast<size_t>(t.Find("TimeGenerated"))].ints;
    auto& n = t.columns[static_cast<size_t>(t.Find("N"))].ints;
    for (size_t i = 0; i < tg.size(); ++i) {
      bool before = i < 150;
      n[i] = k == 1 ? 5000 + static_cast<int64_t>(i)
             : k == 0 ? (before ? 10000 : 0) + static_cast<int64_t>(i)
                      : (before ? 0 : 20000) + static_cast<int64_t>(i);
    }
    starts.push_back(tg[0]);
    ASSERT_THAT(store_->Ingest(ws_, table_, std::move(t)), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  std::string q = "App_CL | where TimeGenerated between (" + DatetimeLiteral(starts[0] + 150 * second) + " .. " +
                  DatetimeLiteral(starts[2] + 149 * second) + ") | top 2 by N desc | project N";
  EXPECT_EQ(RowsAt(*cat, q, now), "5299|\n5298|\n");
  // The same over the query's timespan.
  auto window = store_->CatalogFor({ws_}, starts[0] + 150 * second, starts[2] + 150 * second);
  EXPECT_EQ(RowsAt(*window, "App_CL | top 2 by N desc | project N", now), "5299|\n5298|\n");
}

TEST_F(LogStoreScanTest, MinAndMaxWithoutKeysReadTheBlockThatHoldsEach) {
  Open();
  SixExtents(std::chrono::hours(1));
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  auto text = [&](const std::string& q) {
    Result<kql::QueryResult> r = kql::Execute(q, *cat, kql::ExecOptions{});
    EXPECT_THAT(r, IsOk()) << q;
    std::string out;
    for (const kql::Column& c : r->tables[0].columns) {
      out += (c.IsNull(0) ? "null" : kql::UsesReals(c.type) ? std::to_string(c.Real(0)) : std::to_string(c.Int(0))) + "|";
    }
    return out;
  };
  std::string q = "App_CL | summarize max(N), min(N), max(TimeGenerated), min(TimeGenerated)";
  std::string extremes = text(q);
  EXPECT_EQ(store_->BlocksDecodedForTest(), 4u);  // N of extents 5 and 0, TimeGenerated of both
  EXPECT_EQ(extremes, text("App_CL | where N >= 0 | summarize max(N), min(N), max(TimeGenerated), min(TimeGenerated)"));
  EXPECT_EQ(extremes.substr(0, 6), "509|0|");
}

TEST_F(LogStoreScanTest, AScanStoppedEarlyWaitsForItsReadAhead) {
  Open();
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(store_->Ingest(ws_, table_, Rows(50, "x" + std::to_string(i), clock_.Now())), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  int seen = 0;
  Status stopped = cat->Scan(Request({"Msg"}), [&](std::shared_ptr<const kql::Table>) {
    ++seen;
    return Status(StatusCode::kCancelled, "enough");
  });
  EXPECT_EQ(stopped.code(), StatusCode::kCancelled);
  EXPECT_EQ(seen, 1);
  // Every extent is still delivered, in order, by a scan that runs to the end.
  auto all = Scan(Request({"Msg"}));
  ASSERT_THAT(all, IsOk());
  ASSERT_EQ(all->rows, 200u);
  EXPECT_EQ(all->values["Msg"][0], "x0 0");
  EXPECT_EQ(all->values["Msg"][199], "x3 49");
}

// Several extents decode at once (one thread each); the query still gets them in order, and a
// scan stopped early waits for all of them.
TEST_F(LogStoreScanTest, ReadAheadOfSeveralExtentsKeepsTheirOrder) {
  read_ahead_ = 3;
  Open();
  for (int i = 0; i < 7; ++i) {
    ASSERT_THAT(store_->Ingest(ws_, table_, Rows(30, "x" + std::to_string(i), clock_.Now())), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  int seen = 0;
  Status stopped = cat->Scan(Request({"Msg"}), [&](std::shared_ptr<const kql::Table>) {
    return ++seen == 2 ? Status(StatusCode::kCancelled, "enough") : OkStatus();
  });
  EXPECT_EQ(stopped.code(), StatusCode::kCancelled);
  EXPECT_EQ(seen, 2);
  auto all = Scan(Request({"Msg"}));
  ASSERT_THAT(all, IsOk());
  ASSERT_EQ(all->rows, 210u);
  // The catalogue's extent order, as a scan reading one extent at a time delivers it.
  read_ahead_ = 1;
  Open();
  auto one = Scan(Request({"Msg"}));
  ASSERT_THAT(one, IsOk());
  EXPECT_EQ(all->values["Msg"], one->values["Msg"]);
  // Each extent's rows arrive together.
  for (size_t i = 0; i < 210; ++i) {
    const std::string& m = all->values["Msg"][i];
    EXPECT_EQ(m.substr(m.find(' ') + 1), std::to_string(i % 30)) << i;
  }
}

// A scan larger than the decoded-column cache keeps its first part cached for the next run,
// where least-recently-used admission evicted each group before the next run reached it; other
// scans' reads still replace what a scan read.
TEST_F(LogStoreScanTest, AScanLargerThanTheCacheKeepsItsFirstPartCached) {
  read_ahead_ = 1;
  Open();
  for (int i = 0; i < 8; ++i) {
    // Messages of ~50 bytes: a group's Msg takes several times its N (see the end).
    ASSERT_THAT(store_->Ingest(ws_, table_, Rows(50, "x" + std::to_string(i) + std::string(45, 'm'), clock_.Now())), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  Open();  // caches empty: every block is read from its extent
  ASSERT_THAT(Scan(Request({"Msg"})), IsOk());
  ASSERT_EQ(store_->BlocksDecodedForTest(), 8u);  // one row group per extent
  const size_t all = store_->DecodedCacheBytesForTest();
  cache_bytes_ = all / 2;  // room for about half the groups
  Open();
  auto first = Scan(Request({"Msg"}));
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(store_->BlocksDecodedForTest(), 8u);
  EXPECT_LE(store_->DecodedCacheBytesForTest(), cache_bytes_);
  EXPECT_GE(store_->DecodedCacheBytesForTest(), all / 4);
  auto second = Scan(Request({"Msg"}));
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->values["Msg"], first->values["Msg"]);
  size_t decoded = store_->BlocksDecodedForTest() - 8;
  EXPECT_GE(decoded, 4u);
  EXPECT_LE(decoded, 6u);  // at least two groups served from the cache (LRU: none)
  // Another scan (another column) evicts the first scan's groups as it needs room, and its
  // entries hold its own column only (a group's entry doesn't widen to Msg and N): every
  // group's N fits, so running it again decodes nothing.
  auto n = Scan(Request({"N"}));
  ASSERT_THAT(n, IsOk());
  EXPECT_EQ(n->rows, 400u);
  EXPECT_LE(store_->DecodedCacheBytesForTest(), cache_bytes_);
  size_t before = store_->BlocksDecodedForTest();
  auto again = Scan(Request({"N"}));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->values["N"], n->values["N"]);
  EXPECT_EQ(store_->BlocksDecodedForTest(), before);
}

// A scan's filter (ScanRequest::filter, set by `where` straight over a scan) runs on the reader
// threads for extents and on the caller's for memtable rows; a table it drops never reaches the
// sink. Queries answer as with the executor's own filter (`and rand() >= 0` is always true but
// not pushed down).
TEST_F(LogStoreScanTest, FiltersRunOnTheReaderThreadsWithTheSameAnswers) {
  read_ahead_ = 2;
  Open();
  IngestExtentsAndMemtable(4, 25);
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  ASSERT_TRUE(cat->AppliesFilters());
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::vector<size_t> seen;
  kql::ScanRequest request = Request({"Msg", "N"});
  request.filter = [&](const std::shared_ptr<const kql::Table>& t) -> Result<std::shared_ptr<const kql::Table>> {
    std::lock_guard<std::mutex> l(mu);
    threads.insert(std::this_thread::get_id());
    seen.push_back(t->rows);
    return t->rows % 2 == 0 ? t : std::shared_ptr<const kql::Table>();  // keeps 40 and 42
  };
  auto kept = Scan(request);
  ASSERT_THAT(kept, IsOk());
  EXPECT_EQ(kept->rows, 82u);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<size_t>{25, 40, 41, 42, 43}));
  EXPECT_TRUE(threads.count(std::this_thread::get_id()));  // the memtable's rows
  EXPECT_GE(threads.size(), 2u);                            // and the extents' elsewhere

  for (std::string p : {"Msg contains \"x2\"", "N between (5 .. 12) and Msg !startswith \"mem\"",
                               "N > 1000", "isnotnull(N) and N % 7 == 3", "Msg has \"mem\" or N == 41",
                               "tolower(Msg) startswith \"X3\"", "true", "false"}) {
    auto pushed = Messages(*cat, "App_CL | where " + p);
    auto own = Messages(*cat, "App_CL | where (" + p + ") and rand() >= 0");
    EXPECT_EQ(pushed, own) << p;
  }
  EXPECT_EQ(Messages(*cat, "App_CL | where Msg contains \"x2\"").size(), 42u);
  EXPECT_EQ(Messages(*cat, "App_CL | where N > 1000").size(), 0u);
  EXPECT_EQ(Messages(*cat, "App_CL | where true").size(), 40u + 41 + 42 + 43 + 25);
  // where, extend and parse stacked over the scan run there too (kql's PushScanChain), with the
  // answers of the query thread (a where calling rand() keeps the whole stack there).
  for (std::string chain : {"parse Msg with tag \" \" i:long | where i % 3 == 1 and tag != \"x1\"",
                            "parse-where Msg with \"x\" e:int \" \" i:long | where e == i % 4",
                            "extend L = strlen(Msg) | where L > 4",
                            "where N > 3 | parse kind=regex Msg with @\"[a-z]+\" e:int \" \" * | where isnotnull(e)",
                            "parse Msg with tag \" \" * | summarize count() by tag, Msg"}) {
    auto pushed = Messages(*cat, "App_CL | " + chain);
    auto own = Messages(*cat, "App_CL | where rand() >= 0 | " + chain);
    EXPECT_EQ(pushed, own) << chain;
    EXPECT_FALSE(pushed.empty()) << chain;
  }
}

// A string test among the filter's conjuncts (ScanRequest::prefilter) is applied to the encoded
// Msg blocks of extents when the cache can't keep them (here it keeps nothing): the filter sees
// only their passing rows (memtable rows as ever), and queries answer as with the executor's own
// filter, in the same order.
TEST_F(LogStoreScanTest, StringTestsNarrowWhatTheFilterSeesWithTheSameAnswers) {
  read_ahead_ = 2;
  cache_bytes_ = 0;
  Open();
  IngestExtentsAndMemtable(4, 25);
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  std::mutex mu;
  std::vector<size_t> seen;
  kql::ScanRequest request = Request({"Msg", "N"});
  request.filter = [&](const std::shared_ptr<const kql::Table>& t) -> Result<std::shared_ptr<const kql::Table>> {
    std::lock_guard<std::mutex> l(mu);
    seen.push_back(t->rows);
    return t;
  };
  request.prefilter = kql::ScanRequest::StringTest{"Msg", [](std::string_view v) { return v.ends_with(" 1"); }};
  auto kept = Scan(request);
  ASSERT_THAT(kept, IsOk());
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<size_t>{1, 1, 1, 1, 25}));  // "xK 1" of each extent; the memtable whole
  // Without a filter the test is not applied (it only narrows what a filter decides).
  request.filter = nullptr;
  auto all = Scan(request);
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->rows, 40u + 41 + 42 + 43 + 25);

  for (std::string p : {"Msg contains \"x2\"", "Msg !contains \"x2\"", "Msg has \"1\" and N < 30",
                        "N < 30 and Msg startswith_cs \"x3 1\"", "Msg == \"x1 7\"", "Msg != \"x1 7\"",
                        "Msg =~ \"X0 3\" or N == 41", "Msg endswith \"9\" and Msg !has \"x1\"",
                        "Msg hasprefix \"mem\"", "Msg contains \"\"", "Msg matches regex \"x2 1[0-9]\"",
                        "Msg matches regex \"x[12] 1\"", "Msg matches regex \"^mem\"",
                        "Msg matches regex \"(?i)X3 2\"", "Msg matches regex \"x3 1\" and N < 30",
                        "isnotempty(Msg)", "isnotempty(Msg) and N < 30", "isempty(Msg)", "notempty(Msg) or N == 3"}) {
    auto pushed = Messages(*cat, "App_CL | where " + p);
    auto own = Messages(*cat, "App_CL | where (" + p + ") and rand() >= 0");
    EXPECT_EQ(pushed, own) << p;
    auto count = Messages(*cat, "App_CL | where " + p + " | summarize c = count() | project Msg = tostring(c)");
    ASSERT_EQ(count.size(), 1u) << p;
    EXPECT_EQ(count[0], std::to_string(own.size())) << p;
  }
  EXPECT_EQ(Messages(*cat, "App_CL | where Msg contains \"x2\"").size(), 42u);
  EXPECT_EQ(Messages(*cat, "App_CL | where Msg == \"x1 7\"").size(), 1u);
}

// A string test beside cheap conjuncts (`N < 15`) runs on the rows they keep alone, when those
// are few (at most 1 in 32 of a group's): the text's other values are never built, and a group
// where they keep none reads no text at all. Past that the text is searched whole as before.
// The answers are the executor's own filter's either way.
TEST_F(LogStoreScanTest, StringTestsRunOnTheRowsTheCheapConjunctsKeep) {
  read_ahead_ = 2;
  cache_bytes_ = 0;  // every text block read as its frame, none decoded whole
  Open();
  TimePoint now = clock_.Now();
  std::mt19937 random(11);
  const int kExtents = 4, kRows = 600;
  for (int k = 0; k < kExtents; ++k) {
    kql::Table t = Rows(kRows, "", now);
    kql::Column msg(kql::Type::kString);
    for (int r = 0; r < kRows; ++r) {
      // ~200 bytes a value: the block's 120 KB lie in two LZ4 pieces.
      std::string text = "x" + std::to_string(k) + " " + std::to_string(r) + " ";
      for (int i = 0; i < 200; ++i) text.push_back("0123456789abcdef"[random() % 16]);
      msg.AppendString(text);
    }
    t.columns[static_cast<size_t>(t.Find("Msg"))] = std::move(msg);
    ASSERT_THAT(store_->Ingest(ws_, table_, std::move(t)), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(30, "mem", now)), IsOk());  // memtable rows too
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  for (std::string p : {"Msg contains \"x2\" and N < 100", "N < 15 and Msg contains \"ab\"",
                        "Msg has \"x1\" and N between (10 .. 20)", "Msg contains \"ff\" and N > 500 and N != 550",
                        "N == 7 and Msg startswith \"x3\"", "Msg contains \"x1\" and N < 400",
                        "Msg contains \"ab\" and N >= 600", "Msg contains \"mem\" and N < 5",
                        "Msg contains \"0\" and (N < 3 or N > 595)"}) {
    auto pushed = Messages(*cat, "App_CL | where " + p);
    auto own = Messages(*cat, "App_CL | where (" + p + ") and rand() >= 0");
    EXPECT_EQ(pushed, own) << p;
    EXPECT_FALSE(own.empty() && p.find("600") == std::string::npos) << p;
    auto count = Messages(*cat, "App_CL | where " + p + " | summarize c = count() | project Msg = tostring(c)");
    ASSERT_EQ(count.size(), 1u) << p;
    EXPECT_EQ(count[0], std::to_string(own.size())) << p;
  }
  // 15 of each extent's 600 rows: those values alone are built and tested.
  uint64_t built = store_->ValuesMaterializedForTest();
  uint64_t blocks = store_->BlocksDecodedForTest();
  auto c = Messages(*cat, "App_CL | where Msg contains \"x2\" and N < 15 | summarize c = count() | project Msg = tostring(c)");
  EXPECT_EQ(c, (std::vector<std::string>{"15"}));
  EXPECT_EQ(store_->ValuesMaterializedForTest() - built, static_cast<uint64_t>(kExtents * 15));
  EXPECT_EQ(store_->BlocksDecodedForTest() - blocks, static_cast<uint64_t>(2 * kExtents));  // N and Msg
  // No row with N >= 600: each extent reads its N block and none of its text.
  blocks = store_->BlocksDecodedForTest();
  c = Messages(*cat, "App_CL | where Msg contains \"x\" and N >= 600 | summarize c = count() | project Msg = tostring(c)");
  EXPECT_EQ(c, (std::vector<std::string>{"0"}));
  EXPECT_EQ(store_->BlocksDecodedForTest() - blocks, static_cast<uint64_t>(kExtents));
  // Past 1 in 32 of the rows (N < 100: one sixth) the text is searched whole: no value built but
  // the passing ones'.
  built = store_->ValuesMaterializedForTest();
  c = Messages(*cat, "App_CL | where Msg contains \"x1\" and N < 100 | summarize c = count() | project Msg = tostring(c)");
  EXPECT_EQ(c, (std::vector<std::string>{"100"}));
  EXPECT_EQ(store_->ValuesMaterializedForTest(), built);
}

// A test that needs whole terms (has, ==, a bounded phrase) skips the row groups whose text
// block's term filter lacks one, without reading the block; answers are the executor's own
// filter's, cached or not. Tests a filter can't serve (contains, negations) skip nothing.
TEST_F(LogStoreScanTest, TermFiltersSkipTheTextBlocksWithoutATermTheTestNeeds) {
  Open();
  IngestExtentsAndMemtable(4, 25);  // Msg "x0 0" .. "x3 42", every value distinct: plain blocks
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  struct Case {
    std::string predicate;
    uint64_t skips;  // of the four extents' one row group each
  };
  for (const Case& c : std::vector<Case>{{"Msg has \"x1\"", 3},
                                         {"Msg has \"X2\" and N < 30", 3},
                                         {"Msg == \"x1 7\"", 3},
                                         {"Msg =~ \"X3 41\"", 3},
                                         {"Msg has_cs \"X1\"", 3},  // none kept: "x1" is lower-case
                                         {"Msg has \"nowhere\"", 4},
                                         {"Msg hasprefix \"x2 \"", 3},
                                         {"Msg startswith \"x0 \"", 3},
                                         {"Msg has \"39\"", 0},  // in every extent
                                         {"Msg contains \"x1\"", 0},
                                         {"Msg !has \"x1\"", 0},
                                         {"Msg hasprefix \"x\"", 0},
                                         {"Msg has_any (\"x1\", \"nowhere\")", 3},
                                         {"Msg has_any (\"x1\", \"x2\")", 2},
                                         {"Msg has_any (dynamic([\"X3\", \"39\"]))", 0},  // "39" everywhere
                                         {"Msg has_any (\"x1\", \"-\")", 0},  // "-" needs no term
                                         {"Msg has_all (\"x1\", \"7\")", 3},
                                         {"Msg has_all (\"x2\", \"nowhere\")", 4},
                                         {"Msg has_any (dynamic([\"X3\", \"x0\"]))", 2},
                                         {"Msg in (\"x1 7\", \"x2 3\")", 2},
                                         {"Msg in~ (dynamic([\"X1 7\"]))", 3},
                                         {"Msg in (\"x1 7\", \"\")", 0},  // "" holds no term
                                         {"Msg !in (\"x1 7\")", 0},
                                         {"Msg has \"x1\" or Msg has \"x2\"", 2},
                                         {"Msg has \"x1\" or N == 3", 0},  // N holds no term
                                         {"Msg has \"x1\" or 1 == 2", 3},
                                         {"Msg has \"x1\" and (Msg has \"x2\" or Msg has \"x3\")", 3},
                                         {"(Msg has \"x1\" or Msg has \"x3\") and N > 2", 2},
                                         // Every column: N's and TimeGenerated's text can't hold "x1"
                                         {"* has \"x1\"", 3},
                                         {"* has \"nowhere\"", 4},
                                         {"* has \"39\"", 0},
                                         {"* contains \"x1\"", 0},
                                         {"Msg has \"mem\"", 4}}) {  // the memtable's rows only
    // Twice: the filters read, then from the cache.
    for (int run = 0; run < 2; ++run) {
      uint64_t before = store_->TermFilterSkipsForTest();
      auto pushed = Messages(*cat, "App_CL | where " + c.predicate);
      EXPECT_EQ(store_->TermFilterSkipsForTest() - before, c.skips) << c.predicate << " run " << run;
      auto own = Messages(*cat, "App_CL | where (" + c.predicate + ") and rand() >= 0");
      EXPECT_EQ(pushed, own) << c.predicate;
      before = store_->TermFilterSkipsForTest();  // a summarize's scan skips the same groups
      auto count = Messages(*cat, "App_CL | where " + c.predicate + " | summarize c = count() | project Msg = tostring(c)");
      EXPECT_EQ(store_->TermFilterSkipsForTest() - before, c.skips) << c.predicate << " counted, run " << run;
      ASSERT_EQ(count.size(), 1u) << c.predicate;
      EXPECT_EQ(count[0], std::to_string(own.size())) << c.predicate;
    }
  }
  EXPECT_EQ(Messages(*cat, "App_CL | where Msg has \"x1\"").size(), 41u);
  EXPECT_EQ(Messages(*cat, "App_CL | where Msg == \"x1 7\"").size(), 1u);
  EXPECT_EQ(Messages(*cat, "App_CL | where Msg has \"mem\"").size(), 25u);
  // search is a filter of the same tests: the same skips, the same rows.
  for (const auto& [search, where, skips] : std::vector<std::tuple<std::string, std::string, uint64_t>>{
           {"search \"x1\"", "* has \"x1\"", 3},
           {"search Msg:\"X2\"", "Msg has \"x2\"", 3},
           {"search \"x1\" or \"x3\"", "Msg has \"x1\" or Msg has \"x3\"", 2},
           {"search kind=case_sensitive \"X1\"", "Msg has_cs \"X1\"", 3},  // filters fold case
           {"search \"x1*\"", "* hasprefix \"x1\"", 0},  // x1 may begin a longer term
           {"search \"x2 *\"", "* hasprefix \"x2 \"", 3},
           {"search \"*x1*\"", "* contains \"x1\"", 0}}) {
    uint64_t before = store_->TermFilterSkipsForTest();
    auto found = Messages(*cat, "App_CL | " + search);
    EXPECT_EQ(store_->TermFilterSkipsForTest() - before, skips) << search;
    EXPECT_EQ(found, Messages(*cat, "App_CL | where (" + where + ") and rand() >= 0")) << search;
  }
  EXPECT_EQ(Messages(*cat, "App_CL | search \"x1\"").size(), 41u);
}

// A string test that is the filter's whole predicate, over a column nothing after it reads
// (`where Msg !contains "x2" | count`): the catalog hands the passing rows of a block without
// nulls one passing value, dictionary-coded, instead of a string each; a block with nulls its
// own values. Counts and groups by other columns answer as before; a query that reads the
// column, or a test among other conjuncts, gets the real values.
TEST_F(LogStoreScanTest, AStringTestThatDecidesAloneBuildsNoStringPerRow) {
  read_ahead_ = 2;
  cache_bytes_ = 0;
  Open();
  IngestExtentsAndMemtable(3, 0);
  kql::Table nulls = Rows(30, "n", clock_.Now());  // an extent whose Msg block has nulls
  auto& m = nulls.columns[static_cast<size_t>(nulls.Find("Msg"))];
  m.nulls.assign(30, 0);
  for (size_t r = 0; r < 30; r += 3) m.nulls[r] = 1;
  ASSERT_THAT(store_->Ingest(ws_, table_, std::move(nulls)), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(25, "mem", clock_.Now())), IsOk());  // memtable
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);

  std::mutex mu;
  std::vector<std::string> got;  // per extent table: rows, Msg's representation
  kql::ScanRequest request = Request({"Msg", "N"});
  request.filter = [&](const std::shared_ptr<const kql::Table>& t) -> Result<std::shared_ptr<const kql::Table>> {
    const kql::Column& c = t->columns[static_cast<size_t>(t->Find("Msg"))];
    std::lock_guard<std::mutex> l(mu);
    got.push_back(std::to_string(t->rows) + (c.coded() ? " coded " + std::to_string(c.dict->size()) + " " + std::string(c.Str(0))
                                                        : " plain"));
    return t;
  };
  request.prefilter = kql::ScanRequest::StringTest{"Msg", [](std::string_view v) { return !v.ends_with(" 1"); }};
  request.prefilter->any_passing_value = true;
  ASSERT_THAT(Scan(request), IsOk());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"25 plain", "29 plain", "39 coded 1 x0 0", "40 coded 1 x1 0",
                                           "41 coded 1 x2 0"}));

  for (std::string q : {"where Msg !contains \"x2\" | summarize c = count()",
                        "where Msg contains \"1\" | summarize c = count() by k = N % 3",
                        "where Msg !has \"n\" | summarize c = count(), s = sum(N) by k = N % 4",
                        "where Msg !contains \"x2\" | summarize c = count() by Msg",
                        "where Msg !contains \"1\" and strlen(Msg) > 4 | summarize c = count()",
                        "where Msg contains \"1\" and N > 3 | summarize c = count() by k = N % 3",
                        "where N < 30 and Msg !contains \"x2\" | summarize c = count(), s = sum(N)",
                        "where Msg matches regex \"x[02] 1\" and N != 7 | summarize c = count()",
                        "where Msg != \"x1 7\" | summarize c = count(), m = max(Msg)"}) {
    auto answer = [&](const std::string& query) {
      auto r = kql::Execute(query, *cat, kql::ExecOptions{});
      EXPECT_THAT(r, IsOk()) << query;
      std::multiset<std::string> rows;
      if (!r.ok()) return rows;
      const kql::Table& t = r->tables[0];
      for (size_t i = 0; i < t.rows; ++i) {
        std::string row;
        for (const kql::Column& c : t.columns) row += (c.IsNull(i) ? "null" : kql::UsesInts(c.type) ? std::to_string(c.Int(i)) : std::string(c.Str(i))) + "|";
        rows.insert(row);
      }
      return rows;
    };
    std::string own = q;
    own.insert(own.find(" | summarize"), " and rand() >= 0");
    EXPECT_EQ(answer("App_CL | " + q), answer("App_CL | " + own)) << q;
  }
}

// A string-tested column whose decoded strings over the whole scan take under half the cache is
// decoded whole and cached (the next run reads no block); the filter then sees whole row groups.
TEST_F(LogStoreScanTest, AStringTestedColumnThatFitsTheCacheIsDecodedWholeAndCached) {
  Open();
  IngestExtentsAndMemtable(3, 0);
  std::vector<size_t> seen;
  kql::ScanRequest request = MsgEndingInOne(seen);
  ASSERT_THAT(Scan(request), IsOk());
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<size_t>{40, 41, 42}));
  uint64_t decoded = store_->BlocksDecodedForTest();
  ASSERT_THAT(Scan(request), IsOk());
  EXPECT_EQ(store_->BlocksDecodedForTest(), decoded);  // all from the cache
}

// A larger one (here the cache is 4 KiB, the scan's decoded Msg ~6 KB) is cached as its opened,
// still compressed blocks (a few times smaller than their decoded strings) and read through the
// test from them: the filter sees only the passing rows, and the next run reads no block.
TEST_F(LogStoreScanTest, AStringTestedTextColumnIsCachedAsItsCompressedBlock) {
  Open();
  for (int i = 0; i < 3; ++i) {  // as IngestExtentsAndMemtable(3, 0), with messages of ~45 bytes
    ASSERT_THAT(store_->Ingest(ws_, table_, Rows(40 + i, "x" + std::to_string(i) + std::string(40, 'm'), clock_.Now())), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  ASSERT_THAT(Scan(Request({"Msg"})), IsOk());
  const size_t decoded_whole = store_->DecodedCacheBytesForTest();
  cache_bytes_ = 4096;
  Open();  // caches empty
  std::vector<size_t> seen;
  kql::ScanRequest request = MsgEndingInOne(seen);
  ASSERT_THAT(Scan(request), IsOk());
  EXPECT_EQ(seen, (std::vector<size_t>{1, 1, 1}));  // "xK 1" of each extent
  uint64_t decoded = store_->BlocksDecodedForTest();
  EXPECT_EQ(decoded, 3u);
  const size_t packed = store_->DecodedCacheBytesForTest();
  EXPECT_GT(packed, 0u);
  EXPECT_LT(packed, decoded_whole / 2);
  seen.clear();
  ASSERT_THAT(Scan(request), IsOk());
  EXPECT_EQ(seen, (std::vector<size_t>{1, 1, 1}));
  EXPECT_EQ(store_->BlocksDecodedForTest(), decoded);  // all from the cache
  // A query that needs the column whole decodes it (and caches it decoded) as ever.
  auto all = Scan(Request({"Msg"}));
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->rows, 40u + 41 + 42);
  EXPECT_EQ(store_->BlocksDecodedForTest(), decoded + 3);
}

// A string-tested scan whose frames would take over 3/4 of the cache caches none of them: it
// reads every block through the test on every run and leaves other queries' entries alone.
TEST_F(LogStoreScanTest, AStringTestedScanTooLargeForTheCacheEvenAsFramesCachesNone) {
  read_ahead_ = 1;
  cache_bytes_ = 8192;  // every frame fits; the 400 rows' decoded Msg (~20 KB) would not
  Open();
  for (int i = 0; i < 8; ++i) {
    ASSERT_THAT(store_->Ingest(ws_, table_, Rows(50, "x" + std::to_string(i) + std::string(40, 'm'), clock_.Now())), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  Open();
  std::vector<size_t> seen;
  kql::ScanRequest request = MsgEndingInOne(seen);
  ASSERT_THAT(Scan(request), IsOk());
  ASSERT_EQ(store_->BlocksDecodedForTest(), 8u);
  const size_t frames = store_->DecodedCacheBytesForTest();
  ASSERT_GT(frames, 0u);
  seen.clear();
  ASSERT_THAT(Scan(request), IsOk());
  EXPECT_EQ(store_->BlocksDecodedForTest(), 8u);  // all cached
  cache_bytes_ = frames;  // every frame would fit, but over 3/4 of it
  Open();
  ASSERT_THAT(Scan(Request({"N"})), IsOk());  // another query's entries
  const size_t other = store_->DecodedCacheBytesForTest();
  ASSERT_GT(other, 0u);
  for (int run = 0; run < 2; ++run) {
    seen.clear();
    uint64_t before = store_->BlocksDecodedForTest();
    ASSERT_THAT(Scan(request), IsOk());
    EXPECT_EQ(seen, std::vector<size_t>(8, 1)) << run;  // every group through the test
    EXPECT_EQ(store_->BlocksDecodedForTest() - before, 8u) << run;
    EXPECT_EQ(store_->DecodedCacheBytesForTest(), other) << run;
  }
}

// Text between half the cache decoded and 3/4 of it as frames: a share of its groups cached
// decoded (as many as the frames leave room for in 3/4 of the cache), the same ones every time.
TEST(KeepTextAsTest, DecodesTheShareOfGroupsTheFramesLeaveRoomFor) {
  const uint64_t cache = 1 << 20;
  EXPECT_EQ(KeepTextAs("k", 0, 10, 100, 50, cache), TextKept::kNone);
  EXPECT_EQ(KeepTextAs("k", 1000, 10, 100, 50, cache), TextKept::kDecoded);  // 100 KB <= half
  EXPECT_EQ(KeepTextAs("k", 10000, 100, 100, 80, cache), TextKept::kNone);   // 800 KB of frames > 3/4
  EXPECT_EQ(KeepTextAs("k", 10000, 100, 100, 100, cache), TextKept::kNone);
  // 10,000 rows: 1 MB decoded, 300 KB of frames; 3/4 of the cache leaves 486 KB, 69% of the
  // 700 KB that decoding every group would add.
  const double share = (cache / 4 * 3 - 300000.0) / 700000.0;
  size_t decoded = 0, frames = 0;
  for (int g = 0; g < 20000; ++g) {
    std::string key = "extent\n" + std::to_string(g) + "\nMsg";
    TextKept kept = KeepTextAs(key, 10000, 100, 100, 30, cache);
    ASSERT_NE(kept, TextKept::kNone);
    ASSERT_EQ(KeepTextAs(key, 10000, 100, 100, 30, cache), kept);  // the same block, the same answer
    (kept == TextKept::kDecoded ? decoded : frames) += 1;
  }
  EXPECT_NEAR(static_cast<double>(decoded) / 20000, share, 0.02);
  EXPECT_GT(frames, 0u);
  // More rows, a smaller share; frames that fill 3/4 of the cache leave none.
  size_t fewer = 0;
  for (int g = 0; g < 20000; ++g) {
    fewer += KeepTextAs("extent\n" + std::to_string(g) + "\nMsg", 20000, 100, 100, 30, cache) == TextKept::kDecoded;
  }
  EXPECT_NEAR(static_cast<double>(fewer) / 20000, (cache / 4 * 3 - 600000.0) / 1400000.0, 0.02);
  // A scan of fewer than 16 groups keeps them all as frames (a share of a few would be coarse).
  for (int g = 0; g < 1000; ++g) {
    EXPECT_EQ(KeepTextAs(std::to_string(g), 10000, 626, 100, 30, cache), TextKept::kFrame);
  }
  size_t at_sixteen = 0;  // exactly 16: shared
  for (int g = 0; g < 1000; ++g) at_sixteen += KeepTextAs(std::to_string(g), 10000, 625, 100, 30, cache) == TextKept::kDecoded;
  EXPECT_GT(at_sixteen, 500u);
  for (int g = 0; g < 1000; ++g) {  // 1,024 rows of 768-byte frames: 3/4 of the cache exactly
    EXPECT_EQ(KeepTextAs(std::to_string(g), 1024, 64, 1000, 768, cache), TextKept::kFrame);
  }
}

// Through a store: a string-tested column whose decoded strings fit the cache but take over
// half of it is cached decoded for some of its groups (their filter sees the whole group) and as
// frames for the others (only the passing row), the same groups each run, and the next runs
// read no block.
// A test its terms decide keeps the block as its index when the scan's indexes take at most
// 3/4 of the cache (even where its frames would not), decoded when the whole column fits in
// half, and as before (frames, a decoded share, nothing) when the indexes would not fit.
TEST(KeepTextAsTest, KeepsTermIndexesThatFitThreeQuartersOfTheCache) {
  const uint64_t cache = 1 << 20;
  EXPECT_EQ(KeepTextAs("k", 1000, 10, 100, 50, cache, 40), TextKept::kDecoded);     // 100 KB <= half
  EXPECT_EQ(KeepTextAs("k", 10000, 100, 100, 50, cache, 40), TextKept::kTerms);     // 400 KB <= 3/4
  EXPECT_EQ(KeepTextAs("k", 10000, 100, 100, 80, cache, 70), TextKept::kTerms);     // frames would not fit
  EXPECT_EQ(KeepTextAs("k", 10000, 100, 100, 80, cache, 80), TextKept::kNone);      // 800 KB > 3/4
  EXPECT_EQ(KeepTextAs("k", 10000, 626, 100, 30, cache, 80), TextKept::kFrame);     // indexes over, frames fit
  EXPECT_EQ(KeepTextAs("k", 10000, 626, 100, 30, cache, 0), TextKept::kFrame);      // not a term test
}

TEST_F(LogStoreScanTest, AStringTestedTextColumnOverHalfTheCacheKeepsAShareOfItDecoded) {
  read_ahead_ = 1;
  cache_bytes_ = 64 << 20;
  Open();
  std::mt19937 random(7);
  const int kExtents = 40, kRows = 50;
  // Half a repeated word, half random hex: frames about half the decoded size.
  IngestMessages(kExtents, kRows, [&](int i, int r) -> std::optional<std::string> {
    std::string text = "x" + std::to_string(i) + std::string(24, 'm') + " ";
    for (int k = 0; k < 24; ++k) text.push_back("0123456789abcdef"[random() % 16]);
    return text + " " + std::to_string(r);
  });
  ASSERT_THAT(Scan(Request({"Msg"})), IsOk());
  const size_t decoded_whole = store_->DecodedCacheBytesForTest();
  // Every group decoded would just fit; half of it would not.
  cache_bytes_ = decoded_whole + decoded_whole / 20;
  Open();
  std::vector<size_t> seen;
  kql::ScanRequest request = MsgEndingInOne(seen);
  ASSERT_THAT(Scan(request), IsOk());
  ASSERT_EQ(seen.size(), static_cast<size_t>(kExtents));
  const uint64_t decoded = store_->BlocksDecodedForTest();
  EXPECT_EQ(decoded, static_cast<uint64_t>(kExtents));
  std::vector<size_t> first = seen;
  std::sort(first.begin(), first.end());
  const auto whole = static_cast<size_t>(std::count(first.begin(), first.end(), static_cast<size_t>(kRows)));
  EXPECT_EQ(std::count(first.begin(), first.end(), 1u) + whole, static_cast<size_t>(kExtents)) << ::testing::PrintToString(first);
  EXPECT_GT(whole, 0u);  // some decoded
  EXPECT_LT(whole, static_cast<size_t>(kExtents));  // some as frames
  for (int run = 0; run < 2; ++run) {
    seen.clear();
    ASSERT_THAT(Scan(request), IsOk());
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, first) << run;
    EXPECT_EQ(store_->BlocksDecodedForTest(), decoded) << run;  // all from the cache
    EXPECT_LE(store_->DecodedCacheBytesForTest(), cache_bytes_);
  }
}

// Revocation drops the cached frames with the rest; once access returns the blocks are read
// again with the key.
TEST_F(LogStoreScanTest, RevocationDropsCachedFrames) {
  cache_bytes_ = 512;  // the 10 rows' decoded Msg would take over half
  Open();
  WorkspaceInfo w = Linked();
  ws_ = w;
  ASSERT_THAT(store_->Ingest(w, table_, Rows(10, "secret" + std::string(40, 's'), clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  std::vector<size_t> seen;
  kql::ScanRequest request = MsgEndingInOne(seen);
  ASSERT_THAT(Scan(request), IsOk());
  EXPECT_EQ(seen, (std::vector<size_t>{1}));
  EXPECT_GT(store_->DecodedCacheBytesForTest(), 0u);
  vault_.access_removed = true;
  clock_.Advance(seconds(10));
  EXPECT_EQ(Scan(request).status().error_code(), "KeyVaultAccessRevoked");
  EXPECT_EQ(store_->DecodedCacheBytesForTest(), 0u);
  vault_.access_removed = false;
  clock_.Advance(seconds(10));
  uint64_t decoded = store_->BlocksDecodedForTest();
  seen.clear();
  ASSERT_THAT(Scan(request), IsOk());
  EXPECT_EQ(seen, (std::vector<size_t>{1}));
  EXPECT_EQ(store_->BlocksDecodedForTest(), decoded + 1);  // read again with the key
}

// Many rows tied at the N-th best value (a capped value): the bounded scan stops once it holds
// enough of them instead of reading the other columns of every block holding one.
TEST_F(LogStoreScanTest, TopStopsReadingOnceItHoldsEnoughTiedRows) {
  read_ahead_ = 1;
  Open();
  TimePoint now = clock_.Now();
  for (int k = 0; k < 6; ++k) {
    kql::Table t = Rows(10, "e" + std::to_string(k), now);
    auto& n = t.columns[static_cast<size_t>(t.Find("N"))].ints;
    for (auto& v : n) v = std::min<int64_t>(v, 5) * 20;  // 5 rows of 100
    if (k == 4) n[7] = n[8] = n[9] = 200;
    ASSERT_THAT(store_->Ingest(ws_, table_, std::move(t)), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  auto top = [&](const std::string& q) { return Messages(*cat, q); };
  // Only ties: N = 0 is the least value of every extent; the first three scanned (catalogue
  // order) hold the answer. N of the six extents, then TimeGenerated and Msg of those three and
  // of the one read ahead: 14
  // blocks, where reading every extent holding a 0 took 6 + 12.
  auto zeros = top("App_CL | top 3 by N asc nulls last");
  ASSERT_EQ(zeros.size(), 3u);
  for (const auto& m : zeros) EXPECT_TRUE(m.ends_with(" 0")) << m;
  EXPECT_LE(store_->BlocksDecodedForTest(), 14u);
  // Better rows after ties: the scan goes on until it holds the three 200s of extent 4.
  auto best = top("App_CL | top 5 by N desc");
  ASSERT_EQ(best.size(), 5u);
  EXPECT_EQ(std::vector<std::string>(best.begin(), best.begin() + 3), (std::vector<std::string>{"e4 7", "e4 8", "e4 9"}));
  EXPECT_EQ(best, top("App_CL | where N >= 0 | top 5 by N desc"));
  EXPECT_EQ(top("App_CL | top 3 by N asc nulls last"), top("App_CL | where N >= 0 | top 3 by N asc nulls last"));
  EXPECT_EQ(top("App_CL | top 7 by N desc"), top("App_CL | where N >= 0 | top 7 by N desc"));
  EXPECT_EQ(top("App_CL | top 3 by N desc"), top("App_CL | where N >= 0 | top 3 by N desc"));
}

// A string test that a value's terms decide (`contains`, `has`, `hasprefix` of letters and
// digits) over text too large to cache decoded is answered from each block's term index, built
// from the block the second time it is searched and cached in place of its frame: every answer
// equals the one over the column decoded whole (with values, nulls, other conjuncts, no passing row, negated),
// the next run reads no block (nor does a negated test whose values nothing reads), a query that needs the passing rows' values reads them from the frames,
// and revocation drops the indexes, which are built again once access returns.
TEST_F(LogStoreScanTest, AStringTestItsTermsDecideIsAnsweredFromTheBlocksTermIndexes) {
  read_ahead_ = 1;
  Open();
  ws_ = Linked();
  const char* words[] = {"timeout", "Timeout", "retry", "loading", "from", "store", "shard", "took", "north", "west"};
  std::mt19937 random(5);
  const int kExtents = 8, kRows = 60;
  IngestMessages(kExtents, kRows, [&](int i, int r) -> std::optional<std::string> {
    if (r == 7 && i % 2 == 0) return std::nullopt;
    std::string text = r % 9 == 0 ? "- " : "";  // some start with no term
    if (r == 3) text += "timeout ";                // (in every group: see `few` below)
    for (int k = 0; k < 10; ++k) text += std::string(words[random() % std::size(words)]) + (k % 3 ? " " : ", ");
    return text + std::to_string(r % 13);
  });
  const std::vector<std::string> queries = {
      "App_CL | where Msg contains 'timeout' | count",
      "App_CL | where Msg has_cs 'Timeout' | project N, Msg",
      "App_CL | where Msg hasprefix 'TIME' and N > 30 | project N, Msg",
      "App_CL | where Msg hassuffix 'orth' | summarize count() by N",
      "App_CL | where Msg contains 'zzz' | count",
      "App_CL | where isnull(Msg) or Msg has 'loading' | count",
      "App_CL | where Msg !contains 'timeout' | count",
      "App_CL | where Msg !has 'loading' | project N, Msg",
      "App_CL | where Msg startswith 'time' | count",
      "App_CL | where Msg startswith_cs 'Timeout' and N < 20 | project N, Msg",
      "App_CL | where Msg !startswith 'ti' | count",
      "App_CL | where Msg endswith '12' | count",
      "App_CL | where Msg endswith_cs '1' and N > 20 | project N, Msg",
      "App_CL | where Msg !endswith '2' | count"};
  std::vector<std::vector<std::string>> expected;
  const std::string few = "App_CL | where N == 3 and Msg contains 'timeout' | count";
  std::vector<std::string> few_expected;
  {
    auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
    for (const std::string& q : queries) expected.push_back(Answer(*cat, q));
    few_expected = Answer(*cat, few);
  }
  ASSERT_THAT(Scan(Request({"Msg"})), IsOk());
  const size_t decoded_whole = store_->DecodedCacheBytesForTest();
  cache_bytes_ = decoded_whole * 3 / 2;  // over half of it decoded, its frames and indexes well under
  Open();
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  // Groups none of whose few rows (1 in 60, another conjunct's) pass keep the column that
  // conjunct read cached, and the frames they were tested from: the next run reads nothing.
  const std::string none = "App_CL | where N == 5 and Msg contains 'zzz' | count";
  EXPECT_EQ(Answer(*cat, none), std::vector<std::string>{"0|"});
  const uint64_t none_read = store_->BlocksDecodedForTest();
  EXPECT_EQ(none_read, static_cast<uint64_t>(2 * kExtents));  // N and Msg's frame
  EXPECT_EQ(Answer(*cat, none), std::vector<std::string>{"0|"});
  EXPECT_EQ(store_->BlocksDecodedForTest(), none_read);
  // Those with passing rows the same; no index is built for so few rows.
  EXPECT_EQ(Answer(*cat, few), few_expected);
  EXPECT_EQ(Answer(*cat, few), few_expected);
  EXPECT_EQ(store_->BlocksDecodedForTest(), none_read);
  EXPECT_EQ(store_->TermIndexesBuiltForTest(), 0u);
  EXPECT_EQ(Answer(*cat, queries[0]), expected[0]);
  EXPECT_EQ(store_->TermIndexesBuiltForTest(), static_cast<uint64_t>(kExtents));
  const uint64_t read = store_->BlocksDecodedForTest();
  EXPECT_EQ(read, none_read);  // built from the cached frames
  EXPECT_EQ(Answer(*cat, queries[0]), expected[0]);
  EXPECT_EQ(store_->BlocksDecodedForTest(), read);  // from the indexes alone
  EXPECT_EQ(Answer(*cat, queries[6]), expected[6]);  // !contains, counted: the rows without the term
  EXPECT_EQ(store_->BlocksDecodedForTest(), read);
  EXPECT_EQ(Answer(*cat, queries[8]), expected[8]);  // startswith, counted: the rows' first terms
  EXPECT_EQ(store_->BlocksDecodedForTest(), read);
  for (size_t i = 0; i < queries.size(); ++i) EXPECT_EQ(Answer(*cat, queries[i]), expected[i]) << queries[i];
  EXPECT_EQ(store_->TermIndexesBuiltForTest(), static_cast<uint64_t>(kExtents));  // built once
  EXPECT_GT(store_->BlocksDecodedForTest(), read);  // the values of `project`'s rows, from frames
  EXPECT_LE(store_->DecodedCacheBytesForTest(), cache_bytes_);

  vault_.access_removed = true;
  clock_.Advance(seconds(10));
  EXPECT_EQ(Scan(Request({"Msg"})).status().error_code(), "KeyVaultAccessRevoked");
  EXPECT_EQ(store_->DecodedCacheBytesForTest(), 0u);
  vault_.access_removed = false;
  clock_.Advance(seconds(10));
  auto again = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  EXPECT_EQ(Answer(*again, queries[0]), expected[0]);  // (the frames read again, searched)
  EXPECT_EQ(store_->TermIndexesBuiltForTest(), static_cast<uint64_t>(kExtents));
  EXPECT_EQ(Answer(*again, queries[0]), expected[0]);
  EXPECT_EQ(store_->TermIndexesBuiltForTest(), static_cast<uint64_t>(2 * kExtents));
}

// A block's index is built the second time a test searches it: the first search reads its
// frame (searched, cached), the second builds the index from the cached frame, later ones read
// the index alone; every run answers the same.
TEST_F(LogStoreScanTest, ATextBlocksIndexIsBuiltTheSecondTimeItIsSearched) {
  read_ahead_ = 1;
  Open();
  std::mt19937 random(3);
  const int kExtents = 6, kRows = 60;
  IngestMessages(kExtents, kRows, [&](int, int r) -> std::optional<std::string> {
    std::string text = r % 4 == 0 ? "took a timeout " : "fine ";
    for (int k = 0; k < 8; ++k) text += "w" + std::to_string(random() % 12) + " ";
    return text;
  });
  const std::string q = "App_CL | where Msg contains 'timeout' | count";
  const std::vector<std::string> want = {std::to_string(kExtents * kRows / 4) + "|"};
  ASSERT_THAT(Scan(Request({"Msg"})), IsOk());
  cache_bytes_ = store_->DecodedCacheBytesForTest() * 3 / 2;  // decoded whole: over half of it
  Open();
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  EXPECT_EQ(Answer(*cat, q), want);
  EXPECT_EQ(store_->TermIndexesBuiltForTest(), 0u);
  const uint64_t read = store_->BlocksDecodedForTest();
  EXPECT_EQ(read, static_cast<uint64_t>(kExtents));  // each block's frame, once
  EXPECT_EQ(Answer(*cat, q), want);
  EXPECT_EQ(store_->TermIndexesBuiltForTest(), static_cast<uint64_t>(kExtents));
  EXPECT_EQ(store_->BlocksDecodedForTest(), read);  // from the cached frames
  EXPECT_EQ(Answer(*cat, "App_CL | where Msg has 'timeout' | count"), want);
  EXPECT_EQ(store_->TermIndexesBuiltForTest(), static_cast<uint64_t>(kExtents));
  EXPECT_EQ(store_->BlocksDecodedForTest(), read);
  EXPECT_LE(store_->DecodedCacheBytesForTest(), cache_bytes_);
}

// A test of a needle of several terms (an address, a phrase, has_any's list, a regex's
// literal) over text kept as term indexes tests only the values of the rows the index shows
// holding its terms (or searches the block's frame when they are many): every answer equals
// the one over the column decoded whole; an address held by one row in 100 materializes a few
// values, not the block's; a block such a test searches a second time is indexed as one its
// terms decide is.
TEST_F(LogStoreScanTest, ANeedleOfSeveralTermsTestsOnlyTheRowsItsTermsShow) {
  read_ahead_ = 1;
  Open();
  std::mt19937 random(21);
  const int kExtents = 6, kRows = 640;
  IngestMessages(kExtents, kRows, [&](int i, int r) -> std::optional<std::string> {
    if (r == 11) return std::nullopt;
    std::string text = "from 10.0." + std::to_string(i) + "." + std::to_string(r % 100) + " took ";
    for (int k = 0; k < 6; ++k) text += "w" + std::to_string(random() % 9) + (k % 2 ? " " : "-");
    return text + (r % 7 == 0 ? "a timeout" : "fine");
  });
  const std::vector<std::string> queries = {
      "App_CL | where Msg has '10.0.3.7' | project N, Msg",
      "App_CL | where Msg contains '0.2.1' | count",
      "App_CL | where Msg contains 'took w1-w' | count",
      "App_CL | where Msg has_any ('10.0.1.1', 'nowhere.else') | project N",
      "App_CL | where Msg has_all ('w2-w3', 'timeout') | count",
      "App_CL | where Msg matches regex @'from 10\\.0\\.4\\.1[0-9] ' | count",
      "App_CL | where Msg endswith 'timeout' | count",
      "App_CL | where isnull(Msg) or Msg has '10.0.5.19' | count",
      "App_CL | where N > 30 and Msg startswith 'from 10.0.2.' | count"};
  std::vector<std::vector<std::string>> expected;
  {
    auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
    for (const std::string& q : queries) expected.push_back(Answer(*cat, q));
  }
  ASSERT_EQ(expected[0].size(), 7u);  // rows 7, 107, ..., 607 of extent 3
  ASSERT_THAT(Scan(Request({"Msg"})), IsOk());
  cache_bytes_ = store_->DecodedCacheBytesForTest() * 3 / 2;
  Open();
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  // Searched twice: indexed.
  EXPECT_EQ(Answer(*cat, queries[0]), expected[0]);
  EXPECT_EQ(store_->TermIndexesBuiltForTest(), 0u);
  EXPECT_EQ(Answer(*cat, queries[0]), expected[0]);
  EXPECT_EQ(store_->TermIndexesBuiltForTest(), static_cast<uint64_t>(kExtents));
  const uint64_t values = store_->ValuesMaterializedForTest();
  EXPECT_EQ(Answer(*cat, queries[0]), expected[0]);
  // From the indexes: the rows holding 10, 0, 3 and 7 (extent 3's rows 7, 107, ..., 607), not
  // its 640, and each block's null row (kept: the test speaks of values).
  EXPECT_EQ(store_->ValuesMaterializedForTest() - values, 7u + kExtents);
  for (size_t i = 0; i < queries.size(); ++i) EXPECT_EQ(Answer(*cat, queries[i]), expected[i]) << queries[i];
  EXPECT_EQ(store_->TermIndexesBuiltForTest(), static_cast<uint64_t>(kExtents));  // built once
  EXPECT_LE(store_->DecodedCacheBytesForTest(), cache_bytes_);
}

// Indexes the cache cannot hold together (here each is ~3 times its frame, and the scan's
// would take the whole cache) are not built, nor built again on every run to be refused: once
// the first ones show what an index takes, the other groups are searched through their frames,
// and each later run builds nothing and answers the same.
TEST_F(LogStoreScanTest, TermIndexesTheCacheWouldRefuseAreNotBuiltAgainOnEveryRun) {
  read_ahead_ = 1;
  Open();
  std::mt19937 random(9);
  const int kExtents = 12, kRows = 60;
  IngestMessages(kExtents, kRows, [&](int, int r) -> std::optional<std::string> {
    std::string text = r % 5 == 0 ? "a timeout " : "ok ";
    for (int k = 0; k < 6; ++k) text += "w" + std::to_string(random() % 400) + " ";
    return text;
  });
  const std::string q = "App_CL | where Msg contains 'timeout' | count";
  ASSERT_THAT(Scan(Request({"Msg"})), IsOk());
  const size_t decoded_whole = store_->DecodedCacheBytesForTest();
  cache_bytes_ = decoded_whole;
  Open();
  auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
  const std::vector<std::string> want = {std::to_string(kExtents * kRows / 5) + "|"};
  EXPECT_EQ(Answer(*cat, q), want);  // (the frames searched and cached: no index yet)
  EXPECT_EQ(store_->TermIndexesBuiltForTest(), 0u);
  EXPECT_EQ(Answer(*cat, q), want);
  const uint64_t built = store_->TermIndexesBuiltForTest();
  EXPECT_GT(built, 0u);
  EXPECT_LT(built, static_cast<uint64_t>(kExtents));  // not the others
  for (int run = 0; run < 3; ++run) {
    EXPECT_EQ(Answer(*cat, q), want) << run;
    EXPECT_EQ(store_->TermIndexesBuiltForTest(), built) << run;
    EXPECT_LE(store_->DecodedCacheBytesForTest(), cache_bytes_) << run;
  }
}

}  // namespace
}  // namespace cmk::engine
