// The audit log on MemFileSystem and FaultFileSystem: failed writes and syncs, a full disk,
// torn writes and crashes. What must hold: entries a successful Flush covered survive a crash;
// every I/O failure is reported by Flush; the file stays one JSON object per line.
#include "keyvault/audit_log.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "base/testing.h"
#include "env/fault_fs.h"
#include "env/mem_fs.h"

namespace cmk::keyvault {
namespace {

using testing::IsOk;
using testing::StatusIs;

constexpr char kPath[] = "/data/audit/keyvault-audit.jsonl";

AuditEntry Entry(const std::string& key) {
  AuditEntry e;
  e.time = FromUnixSeconds(1'800'000'000);
  e.vault = "vault1";
  e.key = key;
  e.operation = "unwrapKey";
  e.status = 200;
  return e;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(mem_.CreateDirs("/data/audit", 0700), IsOk());
    ASSERT_THAT(fs_.SyncDir("/data/audit"), IsOk());
    Reopen();
  }
  void Reopen() {
    log_.reset();
    auto l = AuditLog::Open(&fs_, kPath);
    ASSERT_THAT(l, IsOk());
    log_ = std::move(*l);
  }
  // The keys of the entries in the file, in order; every line must be a JSON object.
  std::vector<std::string> Keys() {
    auto lines = log_->Read("", 1000);
    EXPECT_THAT(lines, IsOk());
    std::vector<std::string> keys;
    for (const auto& line : *lines) {
      boost::system::error_code ec;
      auto v = boost::json::parse(line, ec);
      EXPECT_FALSE(ec) << "not JSON: " << line;
      if (!ec && v.is_object()) keys.emplace_back(v.as_object().at("key").as_string());
    }
    return keys;
  }

  env::MemFileSystem mem_;
  env::FaultFileSystem fs_{&mem_};
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditLogTest, FlushedEntriesAreReadBackAndFilteredByVault) {
  log_->Record(Entry("a"));
  AuditEntry other = Entry("b");
  other.vault = "VAULT2";
  log_->Record(other);
  ASSERT_THAT(log_->Flush(), IsOk());
  EXPECT_EQ(Keys(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(log_->Read("vault2", 10)->size(), 1u);
  EXPECT_EQ(log_->Read("vault1", 10)->size(), 1u);
  Reopen();  // appends after what is there
  log_->Record(Entry("c"));
  ASSERT_THAT(log_->Flush(), IsOk());
  EXPECT_EQ(Keys(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(AuditLogTest, FlushedEntriesSurviveACrashAndAFailedSyncIsReported) {
  log_->Record(Entry("durable"));
  ASSERT_THAT(log_->Flush(), IsOk());
  fs_.FailAllSyncs(true);
  log_->Record(Entry("unsynced"));
  Status s = log_->Flush();
  EXPECT_THAT(s, StatusIs(StatusCode::kInternal));
  EXPECT_NE(s.message().find("audit log"), std::string::npos) << s.ToString();
  EXPECT_EQ(Keys(), (std::vector<std::string>{"durable", "unsynced"}));  // written, not durable
  EXPECT_THAT(log_->Flush(), IsOk());                                    // reported once
  fs_.FailAllSyncs(false);
  log_.reset();
  ASSERT_THAT(fs_.SimulateCrash(), IsOk());
  Reopen();
  EXPECT_EQ(Keys(), std::vector<std::string>{"durable"});
}

TEST_F(AuditLogTest, FailedWriteIsReportedAndItsEntriesAreWrittenLater) {
  fs_.FailNthWrite(1);
  log_->Record(Entry("a"));
  EXPECT_THAT(log_->Flush(), StatusIs(StatusCode::kInternal));
  log_->Record(Entry("b"));
  ASSERT_THAT(log_->Flush(), IsOk());
  EXPECT_EQ(Keys(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(AuditLogTest, ShortWriteLeavesNoTornLine) {
  log_->Record(Entry("a"));
  ASSERT_THAT(log_->Flush(), IsOk());
  fs_.ShortNthWrite(1);
  log_->Record(Entry("b"));
  EXPECT_THAT(log_->Flush(), StatusIs(StatusCode::kInternal));
  log_->Record(Entry("c"));  // "b" is written again before it (or was, by the Flush above)
  ASSERT_THAT(log_->Flush(), IsOk());
  EXPECT_EQ(Keys(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(AuditLogTest, FullDiskIsResourceExhaustedUntilSpaceReturns) {
  fs_.SetSpaceLeft(20);
  log_->Record(Entry("a"));
  Status s = log_->Flush();
  EXPECT_THAT(s, StatusIs(StatusCode::kResourceExhausted));
  EXPECT_NE(s.message().find("no space left"), std::string::npos) << s.ToString();
  EXPECT_TRUE(Keys().empty());
  fs_.SetSpaceLeft(std::nullopt);
  ASSERT_THAT(log_->Flush(), IsOk());
  EXPECT_EQ(Keys(), std::vector<std::string>{"a"});
  log_.reset();
  ASSERT_THAT(fs_.SimulateCrash(), IsOk());
  Reopen();
  EXPECT_EQ(Keys(), std::vector<std::string>{"a"});
}

TEST_F(AuditLogTest, OpenFailsWithAClearStatusWhenTheDirectoryIsMissing) {
  EXPECT_THAT(AuditLog::Open(&fs_, "/nowhere/audit.jsonl"), StatusIs(StatusCode::kNotFound));
}

}  // namespace
}  // namespace cmk::keyvault
