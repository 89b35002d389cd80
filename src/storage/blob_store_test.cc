// LocalBlobStore on MemFileSystem and FaultFileSystem: Put is durable when it returns, and a
// failed Put (full disk, failed sync) says so and leaves the old object.
#include "storage/blob_store.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/testing.h"
#include "env/env.h"
#include "env/fault_fs.h"
#include "env/mem_fs.h"

namespace cmk::storage {
namespace {

using testing::IsOk;
using testing::StatusIs;

std::string Str(const Result<std::vector<uint8_t>>& r) {
  return r.ok() ? std::string(r->begin(), r->end()) : "<" + r.status().ToString() + ">";
}

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_THAT(mem_.CreateDirs("/data", 0700), IsOk()); }
  env::MemFileSystem mem_;
  env::FaultFileSystem fs_{&mem_};
  LocalBlobStore blobs_{&fs_, "/data/blobs"};
};

TEST_F(BlobStoreTest, PutGetListAndDelete) {
  ASSERT_THAT(blobs_.Put("c1/ws/t%2F1/e1", AsBytes("one")), IsOk());
  ASSERT_THAT(blobs_.Put("c1/ws/t2/e2", AsBytes("two")), IsOk());
  ASSERT_THAT(blobs_.Put("c2/x", AsBytes("three")), IsOk());
  EXPECT_EQ(Str(blobs_.Get("c1/ws/t2/e2")), "two");
  EXPECT_EQ(*blobs_.List("c1/"), (std::vector<std::string>{"c1/ws/t%2F1/e1", "c1/ws/t2/e2"}));
  EXPECT_EQ(blobs_.List("")->size(), 3u);
  ASSERT_THAT(blobs_.Delete("c1/ws/t2/e2"), IsOk());
  ASSERT_THAT(blobs_.Delete("c1/ws/t2/e2"), IsOk());  // already gone
  EXPECT_THAT(blobs_.Get("c1/ws/t2/e2"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(blobs_.Put("c1/../x", AsBytes("no")), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(BlobStoreTest, APutThatReturnedSurvivesACrash) {
  ASSERT_THAT(blobs_.Put("c1/ws/e1", AsBytes("durable")), IsOk());
  ASSERT_THAT(fs_.SimulateCrash(), IsOk());
  EXPECT_EQ(Str(blobs_.Get("c1/ws/e1")), "durable");
}

TEST_F(BlobStoreTest, PutOnAFullDiskFailsAndKeepsTheOldObject) {
  ASSERT_THAT(blobs_.Put("c1/e", AsBytes("old")), IsOk());
  fs_.SetSpaceLeft(2);
  EXPECT_THAT(blobs_.Put("c1/e", AsBytes("new content")), StatusIs(StatusCode::kResourceExhausted));
  fs_.SetSpaceLeft(std::nullopt);
  EXPECT_EQ(Str(blobs_.Get("c1/e")), "old");
  EXPECT_EQ(*blobs_.List(""), std::vector<std::string>{"c1/e"});  // no temporary file left
}

TEST_F(BlobStoreTest, PutWhoseSyncFailsFailsAndACrashKeepsTheOldObject) {
  ASSERT_THAT(blobs_.Put("c1/e", AsBytes("old")), IsOk());
  fs_.FailNthSync(1);
  EXPECT_THAT(blobs_.Put("c1/e", AsBytes("new")), StatusIs(StatusCode::kInternal));
  EXPECT_EQ(Str(blobs_.Get("c1/e")), "old");
  fs_.FailAllSyncs(true);  // the data syncs fail, then the directory's
  EXPECT_THAT(blobs_.Put("c1/e", AsBytes("newer")), StatusIs(StatusCode::kInternal));
  fs_.FailAllSyncs(false);
  ASSERT_THAT(fs_.SimulateCrash(), IsOk());
  EXPECT_EQ(Str(blobs_.Get("c1/e")), "old");
}

TEST_F(BlobStoreTest, WorksOnPosixWithTheSameContract) {
  env::PosixFileSystem posix;
  std::string root = ::testing::TempDir() + "/blobs_" + env::SecureRandom().NewGuid();
  LocalBlobStore blobs(&posix, root);
  ASSERT_THAT(blobs.Put("c/a/b", AsBytes("x")), IsOk());
  EXPECT_EQ(Str(blobs.Get("c/a/b")), "x");
  EXPECT_EQ(*blobs.List("c/"), std::vector<std::string>{"c/a/b"});
  EXPECT_THAT(blobs.Get("c/none"), StatusIs(StatusCode::kNotFound));
  ASSERT_THAT(posix.RemoveAll(root), IsOk());
}

}  // namespace
}  // namespace cmk::storage
