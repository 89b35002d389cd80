#include "env/fault_fs.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/testing.h"
#include "env/env.h"
#include "env/mem_fs.h"

namespace cmk::env {
namespace {

using testing::IsOk;
using testing::StatusIs;

class FaultFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_THAT(mem_.CreateDirs("/d", 0700), IsOk()); }

  std::unique_ptr<WritableFile> Open(const std::string& path) {
    auto f = fs_.NewAppendableFile(path, 0600);
    EXPECT_THAT(f, IsOk());
    return f.ok() ? std::move(*f) : nullptr;
  }
  std::string Read(const std::string& path) {
    auto s = mem_.ReadFile(path);
    return s.ok() ? *s : "<" + s.status().ToString() + ">";
  }

  MemFileSystem mem_;
  FaultFileSystem fs_{&mem_};
};

TEST_F(FaultFileSystemTest, CrashKeepsSyncedBytesAndDropsTheRest) {
  auto f = Open("/d/log");
  ASSERT_THAT(fs_.SyncDir("/d"), IsOk());
  ASSERT_THAT(f->Append(AsBytes("synced;")), IsOk());
  ASSERT_THAT(f->Sync(), IsOk());
  ASSERT_THAT(f->Append(AsBytes("lost")), IsOk());
  ASSERT_THAT(f->Flush(), IsOk());  // in the OS, not durable
  EXPECT_EQ(Read("/d/log"), "synced;lost");
  ASSERT_THAT(fs_.SimulateCrash(), IsOk());
  EXPECT_EQ(Read("/d/log"), "synced;");
  // A file opened before the crash is dead.
  EXPECT_THAT(f->Append(AsBytes("x")), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(f->Sync(), StatusIs(StatusCode::kFailedPrecondition));
  // Reopened, it continues after what survived, and survives a second crash once synced.
  auto g = Open("/d/log");
  ASSERT_THAT(g->Append(AsBytes("again")), IsOk());
  ASSERT_THAT(g->Sync(), IsOk());
  ASSERT_THAT(fs_.SimulateCrash(), IsOk());
  EXPECT_EQ(Read("/d/log"), "synced;again");
}

TEST_F(FaultFileSystemTest, CrashRemovesAFileWhoseDirectoryWasNeverSynced) {
  auto f = Open("/d/new");
  ASSERT_THAT(f->Append(AsBytes("data")), IsOk());
  ASSERT_THAT(f->Sync(), IsOk());  // the data, but not the name
  ASSERT_THAT(fs_.SimulateCrash(), IsOk());
  EXPECT_FALSE(mem_.Exists("/d/new"));
}

TEST_F(FaultFileSystemTest, FilesFromBeforeTheWrapperAreDurable) {
  ASSERT_THAT(mem_.WriteFileAtomic("/d/old", AsBytes("old"), 0600), IsOk());
  auto f = Open("/d/old");
  ASSERT_THAT(f->Append(AsBytes("+unsynced")), IsOk());
  ASSERT_THAT(fs_.SimulateCrash(), IsOk());
  EXPECT_EQ(Read("/d/old"), "old");
}

TEST_F(FaultFileSystemTest, AnUnsyncedRenameComesBackAsTheOldFile) {
  ASSERT_THAT(fs_.WriteFileAtomic("/d/cfg", AsBytes("v1"), 0600), IsOk());  // durable
  {
    auto tmp = fs_.NewWritableFile("/d/cfg.tmp", 0600);
    ASSERT_THAT(tmp, IsOk());
    ASSERT_THAT((*tmp)->Append(AsBytes("v2")), IsOk());
    ASSERT_THAT((*tmp)->Sync(), IsOk());
  }
  ASSERT_THAT(fs_.Rename("/d/cfg.tmp", "/d/cfg"), IsOk());
  EXPECT_EQ(Read("/d/cfg"), "v2");
  ASSERT_THAT(fs_.SimulateCrash(), IsOk());  // before the directory sync
  EXPECT_EQ(Read("/d/cfg"), "v1");
  ASSERT_THAT(fs_.WriteFileAtomic("/d/cfg", AsBytes("v3"), 0600), IsOk());
  ASSERT_THAT(fs_.SimulateCrash(), IsOk());
  EXPECT_EQ(Read("/d/cfg"), "v3");
}

TEST_F(FaultFileSystemTest, TheNthWriteFailsAndWritesNothing) {
  auto f = Open("/d/f");
  fs_.FailNthWrite(2);
  ASSERT_THAT(f->Append(AsBytes("one")), IsOk());
  Status s = f->Append(AsBytes("two"));
  EXPECT_THAT(s, StatusIs(StatusCode::kInternal));
  EXPECT_NE(s.message().find("/d/f"), std::string::npos) << s.ToString();
  ASSERT_THAT(f->Append(AsBytes("three")), IsOk());
  EXPECT_EQ(Read("/d/f"), "onethree");
  EXPECT_EQ(fs_.writes(), 3u);
}

TEST_F(FaultFileSystemTest, AShortWriteStoresHalfAndFails) {
  auto f = Open("/d/f");
  fs_.ShortNthWrite(1);
  std::string a = "abcd", b = "efgh";
  EXPECT_THAT(f->AppendParts({AsBytes(a), AsBytes(b)}), StatusIs(StatusCode::kInternal));
  EXPECT_EQ(Read("/d/f"), "abcd");
}

TEST_F(FaultFileSystemTest, AFullDiskStoresWhatFitsThenIsResourceExhausted) {
  auto f = Open("/d/f");
  fs_.SetSpaceLeft(5);
  ASSERT_THAT(f->Append(AsBytes("abc")), IsOk());
  Status s = f->Append(AsBytes("defg"));
  EXPECT_THAT(s, StatusIs(StatusCode::kResourceExhausted));
  EXPECT_NE(s.message().find("no space left"), std::string::npos);
  EXPECT_THAT(f->Append(AsBytes("h")), StatusIs(StatusCode::kResourceExhausted));
  EXPECT_EQ(Read("/d/f"), "abcde");
  EXPECT_THAT(fs_.WriteFileAtomic("/d/g", AsBytes("x"), 0600),
              StatusIs(StatusCode::kResourceExhausted));
  EXPECT_FALSE(mem_.Exists("/d/g.tmp"));
  fs_.SetSpaceLeft(std::nullopt);
  EXPECT_THAT(f->Append(AsBytes("h")), IsOk());
}

TEST_F(FaultFileSystemTest, FailedSyncsFailAndLeaveTheDataUnsynced) {
  auto f = Open("/d/f");
  ASSERT_THAT(fs_.SyncDir("/d"), IsOk());
  ASSERT_THAT(f->Append(AsBytes("a")), IsOk());
  fs_.FailNthSync(1);
  EXPECT_THAT(f->Sync(), StatusIs(StatusCode::kInternal));
  ASSERT_THAT(fs_.SimulateCrash(), IsOk());
  EXPECT_EQ(Read("/d/f"), "");
  fs_.FailAllSyncs(true);
  auto g = Open("/d/f");
  ASSERT_THAT(g->Append(AsBytes("b")), IsOk());
  EXPECT_THAT(g->Sync(), StatusIs(StatusCode::kInternal));
  EXPECT_THAT(fs_.SyncDir("/d"), StatusIs(StatusCode::kInternal));
  EXPECT_THAT(fs_.WriteFileReplacing("/d/h", {AsBytes("x")}, 0600, /*sync=*/true),
              StatusIs(StatusCode::kInternal));
  EXPECT_FALSE(mem_.Exists("/d/h"));
  fs_.FailAllSyncs(false);
  EXPECT_THAT(g->Sync(), IsOk());
  EXPECT_EQ(fs_.syncs(), 4u);  // file syncs only: f, g, the replacing write's, g again
}

TEST_F(FaultFileSystemTest, TruncateAndRemoveAreTracked) {
  auto f = Open("/d/f");
  ASSERT_THAT(fs_.SyncDir("/d"), IsOk());
  ASSERT_THAT(f->Append(AsBytes("abcdef")), IsOk());
  ASSERT_THAT(f->Sync(), IsOk());
  ASSERT_THAT(fs_.Truncate("/d/f", 2), IsOk());
  ASSERT_THAT(f->Append(AsBytes("XY")), IsOk());
  ASSERT_THAT(fs_.SimulateCrash(), IsOk());
  EXPECT_EQ(Read("/d/f"), "ab");
  ASSERT_THAT(fs_.Remove("/d/f"), IsOk());
  ASSERT_THAT(fs_.SimulateCrash(), IsOk());
  EXPECT_FALSE(mem_.Exists("/d/f"));
}

TEST_F(FaultFileSystemTest, WorksOverPosixToo) {
  PosixFileSystem posix;
  FaultFileSystem fs(&posix);
  std::string dir = ::testing::TempDir() + "/fault_" + SecureRandom().NewGuid();
  ASSERT_THAT(fs.CreateDirs(dir, 0700), IsOk());
  {
    auto f = fs.NewAppendableFile(dir + "/f", 0600);
    ASSERT_THAT(f, IsOk());
    ASSERT_THAT(fs.SyncDir(dir), IsOk());
    ASSERT_THAT((*f)->Append(AsBytes("kept")), IsOk());
    ASSERT_THAT((*f)->Sync(), IsOk());
    ASSERT_THAT((*f)->Append(AsBytes("dropped")), IsOk());
  }
  ASSERT_THAT(fs.SimulateCrash(), IsOk());
  EXPECT_EQ(*posix.ReadFile(dir + "/f"), "kept");
  ASSERT_THAT(posix.RemoveAll(dir), IsOk());
}

}  // namespace
}  // namespace cmk::env
