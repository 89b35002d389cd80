// The log store on a FaultFileSystem over a MemFileSystem (the metadata store stays on disk and
// is durable at each commit): ingestion, flush and the catalogue under failed syncs, a full
// disk, torn writes and crashes that drop what was not synced. What must hold: rows whose
// Ingest returned OK are there after any crash and reopen; every I/O error fails the Ingest or
// Flush that met it with a clear Status; nothing crashes.
#include "engine/log_store_test_util.h"
#include "env/fault_fs.h"
#include "env/mem_fs.h"

namespace cmk::engine {
namespace {

using std::chrono::seconds;
using testing::IsOk;
using testing::StatusIs;

class LogStoreFaultTest : public LogStoreTest {
 protected:
  void SetUp() override {
    file_system_ = &fault_;
    LogStoreTest::SetUp();
    Open(false);
  }
  // A power cut: the store goes away without a word, the disk keeps what was synced.
  void CrashAndReopen() {
    store_.reset();
    ASSERT_THAT(fault_.SimulateCrash(), IsOk());
    fault_.FailAllSyncs(false);
    fault_.SetSpaceLeft(std::nullopt);
    Open(false);
  }

  env::MemFileSystem mem_;
  env::FaultFileSystem fault_{&mem_};
};

TEST_F(LogStoreFaultTest, AcknowledgedIngestSurvivesCrashThatDropsUnsyncedData) {
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(7, "acked", clock_.Now())), IsOk());
  fault_.FailAllSyncs(true);
  EXPECT_THAT(store_->Ingest(ws_, table_, Rows(5, "not acked", clock_.Now())),
              StatusIs(StatusCode::kInternal));
  CrashAndReopen();
  EXPECT_EQ(*Count(ws_), 7);
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(2, "after", clock_.Now())), IsOk());
  CrashAndReopen();
  EXPECT_EQ(*Count(ws_), 9);
}

TEST_F(LogStoreFaultTest, FailedFsyncFailsTheIngestAndLaterIngestsToo) {
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(3, "acked", clock_.Now())), IsOk());
  fault_.FailNthSync(1);
  Status failed = store_->Ingest(ws_, table_, Rows(4, "x", clock_.Now()));
  EXPECT_THAT(failed, StatusIs(StatusCode::kInternal));
  EXPECT_NE(failed.message().find("injected"), std::string::npos) << failed.ToString();
  // The disk works again, but the WAL can't vouch for what the failed sync covered.
  EXPECT_THAT(store_->Ingest(ws_, table_, Rows(1, "y", clock_.Now())),
              StatusIs(StatusCode::kInternal));
  CrashAndReopen();
  EXPECT_EQ(*Count(ws_), 3);
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(1, "z", clock_.Now())), IsOk());
}

TEST_F(LogStoreFaultTest, FullDiskFailsTheIngestAndIngestionResumesWhenSpaceReturns) {
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(3, "acked", clock_.Now())), IsOk());
  fault_.SetSpaceLeft(10);
  Status full = store_->Ingest(ws_, table_, Rows(50, "too much", clock_.Now()));
  EXPECT_THAT(full, StatusIs(StatusCode::kResourceExhausted));
  EXPECT_NE(full.message().find("no space left"), std::string::npos) << full.ToString();
  fault_.SetSpaceLeft(std::nullopt);
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(4, "later", clock_.Now())), IsOk());
  EXPECT_EQ(*Count(ws_), 7);
  CrashAndReopen();
  EXPECT_EQ(*Count(ws_), 7);
}

TEST_F(LogStoreFaultTest, ShortWriteFailsTheIngestAndLaterRowsReplay) {
  fault_.ShortNthWrite(1);
  EXPECT_THAT(store_->Ingest(ws_, table_, Rows(5, "torn", clock_.Now())),
              StatusIs(StatusCode::kInternal));
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(6, "whole", clock_.Now())), IsOk());
  CrashAndReopen();
  EXPECT_EQ(*Count(ws_), 6);
}

TEST_F(LogStoreFaultTest, FlushedRowsAndRowsAfterTheFlushSurviveACrash) {
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(10, "flushed", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(4, "in the wal", clock_.Now())), IsOk());
  CrashAndReopen();
  EXPECT_EQ(*Count(ws_), 14);
  EXPECT_EQ(store_->Stats().extents, 1u);
}

TEST_F(LogStoreFaultTest, FlushOnAFullDiskFailsKeepsTheRowsAndSucceedsOnceSpaceReturns) {
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(10, "rows", clock_.Now())), IsOk());
  // Room for the WAL's closing record, not for the extent.
  fault_.SetSpaceLeft(300);
  Status s = store_->Flush();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(store_->Stats().extents, 0u);
  EXPECT_EQ(*Count(ws_), 10);
  fault_.SetSpaceLeft(std::nullopt);
  clock_.Advance(seconds(31));  // the failed table's retry is due
  ASSERT_THAT(store_->Flush(), IsOk());
  EXPECT_EQ(store_->Stats().extents, 1u);
  CrashAndReopen();
  EXPECT_EQ(*Count(ws_), 10);
}

TEST_F(LogStoreFaultTest, FlushWhoseSyncsFailKeepsEveryRowAcrossACrash) {
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(8, "rows", clock_.Now())), IsOk());
  fault_.FailAllSyncs(true);
  EXPECT_FALSE(store_->Flush().ok());
  CrashAndReopen();
  EXPECT_EQ(*Count(ws_), 8);
  ASSERT_THAT(store_->Flush(), IsOk());
  CrashAndReopen();
  EXPECT_EQ(*Count(ws_), 8);
}

TEST_F(LogStoreFaultTest, RandomFaultsNeverLoseAnAcknowledgedRow) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    env::SeededRandom rnd(seed);
    int64_t acked = *Count(ws_), attempted = acked;  // the rows of the seeds before
    for (int op = 0; op < 40; ++op) {
      switch (rnd.NextU64() % 10) {
        case 0:
          fault_.FailNthWrite(1);
          break;
        case 1:
          fault_.ShortNthWrite(1);
          break;
        case 2:
          fault_.FailNthSync(1);
          break;
        case 3:
          fault_.SetSpaceLeft(rnd.NextU64() % 2000);
          break;
        default:
          fault_.SetSpaceLeft(std::nullopt);
          break;
      }
      uint64_t what = rnd.NextU64() % 10;
      if (what == 0) {
        store_->Flush().IgnoreError();  // may fail: its rows stay in the memtable and the WAL
        clock_.Advance(seconds(31));
      } else if (what == 1) {
        fault_.FailNthWrite(0);
        fault_.ShortNthWrite(0);
        fault_.FailNthSync(0);
        CrashAndReopen();
        auto n = Count(ws_);
        ASSERT_THAT(n, IsOk());
        ASSERT_GE(*n, acked) << "an acknowledged row is missing";
        ASSERT_LE(*n, attempted);
        acked = *n;  // what survived is durable now
        attempted = *n;
      } else {
        int rows = 1 + static_cast<int>(rnd.NextU64() % 5);
        attempted += rows;
        if (store_->Ingest(ws_, table_, Rows(rows, "r", clock_.Now())).ok()) acked += rows;
      }
    }
    fault_.FailNthWrite(0);
    fault_.ShortNthWrite(0);
    fault_.FailNthSync(0);
    CrashAndReopen();
    auto n = Count(ws_);
    ASSERT_THAT(n, IsOk());
    EXPECT_GE(*n, acked);
    EXPECT_LE(*n, attempted);
  }
}

}  // namespace
}  // namespace cmk::engine
