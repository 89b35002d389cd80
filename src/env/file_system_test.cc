// The FileSystem contract, run on PosixFileSystem (in a temporary directory), MemFileSystem and
// a FileSystemWrapper that forwards to POSIX.
#include "env/file_system.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "base/encoding.h"
#include "base/testing.h"
#include "env/env.h"
#include "env/mem_fs.h"

namespace cmk::env {
namespace {

using testing::IsOk;
using testing::StatusIs;

enum class Kind { kPosix, kMem, kWrapper };

class FileSystemContractTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::kMem) {
      fs_ = &mem_;
      root_ = "/root";
    } else {
      fs_ = GetParam() == Kind::kPosix ? static_cast<FileSystem*>(&posix_) : &wrapper_;
      root_ = ::testing::TempDir() + "/fs_contract_" + SecureRandom().NewGuid();
    }
    ASSERT_THAT(fs_->CreateDirs(root_, 0700), IsOk());
  }
  void TearDown() override { fs_->RemoveAll(root_).IgnoreError(); }

  std::string Read(const std::string& path) {
    auto s = fs_->ReadFile(path);
    return s.ok() ? *s : "<" + s.status().ToString() + ">";
  }

  PosixFileSystem posix_;
  MemFileSystem mem_;
  FileSystemWrapper wrapper_{&posix_};
  FileSystem* fs_ = nullptr;
  std::string root_;
};

TEST_P(FileSystemContractTest, AppendsLandInOrderAndAppendableFilesContinueAtTheEnd) {
  std::string path = root_ + "/log";
  {
    auto f = fs_->NewWritableFile(path, 0600);
    ASSERT_THAT(f, IsOk());
    ASSERT_THAT((*f)->Append(AsBytes(std::string("ab"))), IsOk());
    std::string c = "c", de = "de";
    ASSERT_THAT((*f)->AppendParts({AsBytes(c), {}, AsBytes(de)}), IsOk());
    ASSERT_THAT((*f)->Flush(), IsOk());
    ASSERT_THAT((*f)->Sync(), IsOk());
    ASSERT_THAT((*f)->Close(), IsOk());
    EXPECT_THAT((*f)->Append(AsBytes(c)), StatusIs(StatusCode::kFailedPrecondition));
  }
  {
    auto f = fs_->NewAppendableFile(path, 0600);
    ASSERT_THAT(f, IsOk());
    ASSERT_THAT((*f)->Append(AsBytes(std::string("fg"))), IsOk());
  }
  EXPECT_EQ(Read(path), "abcdefg");
  EXPECT_EQ(*fs_->GetFileSize(path), 7u);
  {  // NewWritableFile empties an existing file
    auto f = fs_->NewWritableFile(path, 0600);
    ASSERT_THAT(f, IsOk());
  }
  EXPECT_EQ(Read(path), "");
}

TEST_P(FileSystemContractTest, ReadersSeeTheWholeFileSequentiallyAndAtOffsets) {
  std::string path = root_ + "/data";
  std::vector<uint8_t> data(200'000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + (i >> 8));
  ASSERT_THAT(fs_->WriteFileReplacing(path, {data}, 0600, /*sync=*/true), IsOk());
  auto seq = fs_->NewSequentialFile(path);
  ASSERT_THAT(seq, IsOk());
  std::vector<uint8_t> got, buf(4096);
  for (;;) {
    auto n = (*seq)->Read(buf);
    ASSERT_THAT(n, IsOk());
    if (*n == 0) break;
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<long>(*n));
  }
  EXPECT_EQ(got, data);
  auto ra = fs_->NewRandomAccessFile(path);
  ASSERT_THAT(ra, IsOk());
  EXPECT_EQ(*(*ra)->Size(), data.size());
  std::vector<uint8_t> part(10);
  ASSERT_EQ(*(*ra)->Read(1000, part), 10u);
  EXPECT_TRUE(std::equal(part.begin(), part.end(), data.begin() + 1000));
  EXPECT_EQ(*(*ra)->Read(data.size() - 4, part), 4u);  // short only at the end
  EXPECT_EQ(*(*ra)->Read(data.size() + 5, part), 0u);
}

TEST_P(FileSystemContractTest, MissingFilesAreNotFound) {
  EXPECT_THAT(fs_->ReadFile(root_ + "/nope"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(fs_->NewSequentialFile(root_ + "/nope"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(fs_->NewRandomAccessFile(root_ + "/nope"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(fs_->GetFileSize(root_ + "/nope"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(fs_->GetChildren(root_ + "/nope"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(fs_->NewWritableFile(root_ + "/no/dir", 0600), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(fs_->Remove(root_ + "/nope"), IsOk());
  EXPECT_THAT(fs_->RemoveAll(root_ + "/nope"), IsOk());
}

TEST_P(FileSystemContractTest, ChildrenRenameTruncateAndRemoveAll) {
  ASSERT_THAT(fs_->CreateDirs(root_ + "/a/b", 0700), IsOk());
  ASSERT_THAT(fs_->WriteFileAtomic(root_ + "/a/x", AsBytes(std::string("old")), 0600), IsOk());
  ASSERT_THAT(fs_->WriteFileAtomic(root_ + "/a/y", AsBytes(std::string("new!")), 0600), IsOk());
  auto kids = fs_->GetChildren(root_ + "/a");
  ASSERT_THAT(kids, IsOk());
  std::vector<std::string> names;
  for (const auto& k : *kids) names.push_back(k.name + (k.is_dir ? "/" : ""));
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"b/", "x", "y"}));
  ASSERT_THAT(fs_->Rename(root_ + "/a/y", root_ + "/a/x"), IsOk());  // replaces
  EXPECT_EQ(Read(root_ + "/a/x"), "new!");
  EXPECT_FALSE(fs_->Exists(root_ + "/a/y"));
  ASSERT_THAT(fs_->Truncate(root_ + "/a/x", 2), IsOk());
  EXPECT_EQ(Read(root_ + "/a/x"), "ne");
  ASSERT_THAT(fs_->SyncDir(root_ + "/a"), IsOk());
  ASSERT_THAT(fs_->RemoveAll(root_ + "/a"), IsOk());
  EXPECT_FALSE(fs_->Exists(root_ + "/a/x"));
  EXPECT_FALSE(fs_->Exists(root_ + "/a"));
  EXPECT_TRUE(fs_->Exists(root_));
}

TEST_P(FileSystemContractTest, WholeFileWritesReplaceAndLeaveNoTemporaryFiles) {
  std::string path = root_ + "/f";
  std::string one = "first", two = "second";
  ASSERT_THAT(fs_->WriteFileAtomic(path, AsBytes(one), 0600), IsOk());
  ASSERT_THAT(fs_->WriteFileAtomic(path, AsBytes(two), 0600), IsOk());
  EXPECT_EQ(Read(path), "second");
  auto secret = fs_->ReadSecretFile(path);
  ASSERT_THAT(secret, IsOk());
  EXPECT_EQ(secret->size(), 6u);
  ASSERT_THAT(fs_->WriteFileReplacing(path, {AsBytes(one), AsBytes(two)}, 0600, false), IsOk());
  EXPECT_EQ(Read(path), "firstsecond");
  auto kids = fs_->GetChildren(root_);
  ASSERT_THAT(kids, IsOk());
  ASSERT_EQ(kids->size(), 1u);
  EXPECT_EQ((*kids)[0].name, "f");
}

TEST_P(FileSystemContractTest, AnOpenFileKeepsItsContentAfterRemove) {
  std::string path = root_ + "/gone";
  ASSERT_THAT(fs_->WriteFileAtomic(path, AsBytes(std::string("still here")), 0600), IsOk());
  auto ra = fs_->NewRandomAccessFile(path);
  ASSERT_THAT(ra, IsOk());
  ASSERT_THAT(fs_->Remove(path), IsOk());
  std::vector<uint8_t> buf(10);
  EXPECT_EQ(*(*ra)->Read(0, buf), 10u);
  EXPECT_FALSE(fs_->Exists(path));
}

TEST_P(FileSystemContractTest, ConcurrentAppendersAndSyncsLoseNothing) {
  std::string path = root_ + "/shared";
  auto f = fs_->NewAppendableFile(path, 0600);
  ASSERT_THAT(f, IsOk());
  std::mutex mu;  // appends are serialized by the caller; Sync runs beside them
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        {
          std::lock_guard<std::mutex> l(mu);
          ASSERT_THAT((*f)->Append(AsBytes(std::string("0123456789"))), IsOk());
        }
        ASSERT_THAT((*f)->Sync(), IsOk());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(*fs_->GetFileSize(path), 4u * 200 * 10);
}

INSTANTIATE_TEST_SUITE_P(AllFileSystems, FileSystemContractTest,
                         ::testing::Values(Kind::kPosix, Kind::kMem, Kind::kWrapper),
                         [](const auto& info) {
                           switch (info.param) {
                             case Kind::kPosix:
                               return std::string("Posix");
                             case Kind::kMem:
                               return std::string("Mem");
                             default:
                               return std::string("Wrapper");
                           }
                         });

TEST(MemFileSystemTest, KeepsModesAndNormalisesPaths) {
  MemFileSystem fs;
  ASSERT_THAT(fs.CreateDirs("/d//e/", 0700), IsOk());
  ASSERT_THAT(fs.WriteFileAtomic("/d/e/./k", AsBytes(std::string("key")), 0600), IsOk());
  EXPECT_EQ(*fs.ReadFile("/d/e/k"), "key");
  EXPECT_EQ(*fs.ModeForTest("/d/e/k"), 0600);
  EXPECT_EQ(*fs.ModeForTest("/d/e"), 0700);
  EXPECT_THAT(fs.Rename("/d", "/z"), StatusIs(StatusCode::kUnimplemented));
}

TEST(AbsolutePathTest, NormalisesAgainstTheWorkingDirectory) {
  auto p = AbsolutePath("a/./b/../c/");
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->front(), '/');
  EXPECT_TRUE(p->ends_with("/a/c")) << *p;
  EXPECT_EQ(*AbsolutePath("/x//y/"), "/x/y");
  EXPECT_EQ(ParentDir("/x/y"), "/x");
  EXPECT_EQ(ParentDir("y"), ".");
  EXPECT_EQ(ParentDir("/y"), "/");
}

}  // namespace
}  // namespace cmk::env
