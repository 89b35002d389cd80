#include "env/direct_write.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "base/testing.h"
#include "env/env.h"

namespace cmk::env {
namespace {

using testing::IsOk;

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 31 + (i >> 9));
  return v;
}

// Whether `dir`'s file system takes an aligned O_DIRECT write.
bool DirectIoWorks(const std::string& dir) {
  std::string probe = dir + "/probe";
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0600);
  if (fd < 0) return false;
  void* p = std::aligned_alloc(4096, 4096);
  bool ok = p != nullptr && ::write(fd, p, 4096) == 4096;
  std::free(p);
  ::close(fd);
  ::unlink(probe.c_str());
  return ok;
}

void CheckRoundTrip(const std::string& dir, DirectIo io, bool expect_direct) {
  // Parts crossing the 1 MiB staging buffer and block boundaries; sizes not multiples of 4 KiB.
  for (size_t body : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, (size_t{1} << 20) - 12, (size_t{9} << 20) + 7}) {
    auto head = Pattern(12, 1), mid = Pattern(body, 2), tail = Pattern(16, 3);
    std::string path = dir + "/f" + std::to_string(body);
    bool direct = !expect_direct;
    ASSERT_THAT(WriteFileReplacing(path, {head, mid, tail}, 0600, body % 2 == 0, io, &direct), IsOk());
    EXPECT_EQ(direct, expect_direct) << body;
    std::string want(head.begin(), head.end());
    want.append(mid.begin(), mid.end());
    want.append(tail.begin(), tail.end());
    std::string got = ReadAll(path);
    ASSERT_EQ(got.size(), want.size()) << body;
    EXPECT_TRUE(got == want) << body;
    auto perms = std::filesystem::status(path).permissions() & std::filesystem::perms::all;
    EXPECT_EQ(perms, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  // Replacing: the new content, never a mix; no temporary file left behind.
  std::string path = dir + "/f1";
  auto small = Pattern(3, 9);
  ASSERT_THAT(WriteFileReplacing(path, {small}, 0600, true, io), IsOk());
  EXPECT_EQ(ReadAll(path), std::string(small.begin(), small.end()));
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
}

class DirectWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/dw_" + SecureRandom().NewGuid();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(DirectWriteTest, PartsOfAnySizeReadBackExactlyAroundThePageCacheWhereTheFileSystemAllows) {
  CheckRoundTrip(dir_, DirectIo::kTry, DirectIoWorks(dir_));
}

TEST_F(DirectWriteTest, BufferedWritesReadBackTheSame) { CheckRoundTrip(dir_, DirectIo::kNever, false); }

TEST_F(DirectWriteTest, ADeviceRefusingDirectWritesAfterTheOpenFallsBackToBufferedWrites) {
  // The open with O_DIRECT succeeds (where the file system takes it) and the first write then
  // fails with EINVAL: the file is written again, buffered, complete, with no temporary left.
  if (!DirectIoWorks(dir_)) GTEST_SKIP() << "no O_DIRECT on " << dir_ << ": the open itself falls back";
  CheckRoundTrip(dir_, DirectIo::kTryRefusedForTest, false);
}

TEST(DirectWriteErrorTest, AnUnwritableDirectoryIsAnError) {
  std::vector<uint8_t> data = Pattern(10, 0);
  EXPECT_FALSE(WriteFileReplacing("/nonexistent-dir/x", {data}, 0600, true).ok());
}

}  // namespace
}  // namespace cmk::env
