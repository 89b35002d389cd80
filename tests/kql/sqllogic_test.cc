// One GoogleTest per tests/kql/**/*.test file (found at start-up under KQL_TEST_DIR, or under
// $KQL_TEST_DIR when set), run by sqllogic.h's RunFile.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "sqllogic.h"

namespace cmk::kql::sqllogic {
namespace {

namespace fs = std::filesystem;

std::string TestDir() {
  const char* env = std::getenv("KQL_TEST_DIR");
  return env && *env ? env : KQL_TEST_DIR;
}

std::vector<std::string> TestFiles() {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(TestDir(), ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ".test") {
      files.push_back(fs::relative(it->path(), TestDir()).generic_string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param.substr(0, info.param.size() - 5);  // drop ".test"
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

class KqlSqlLogicTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KqlSqlLogicTest, File) {
  FileReport r = RunFile(TestDir() + "/" + GetParam(), GetParam());
  for (const std::string& b : r.known_bugs) std::cout << "[ KNOWN BUG ] " << b << "\n";
  for (const std::string& f : r.fixed_bugs) std::cout << "[ FIXED BUG ] " << f << "\n";
  for (const std::string& f : r.failures) ADD_FAILURE() << f;
  std::cout << "[   STATS   ] " << GetParam() << ": " << r.records << " records, " << r.failures_count
            << " failed, " << r.known_bugs.size() << " known engine bugs\n";
  if (std::getenv("KQL_STRICT") && !r.known_bugs.empty()) {
    ADD_FAILURE() << r.known_bugs.size() << " known engine bugs (KQL_STRICT is set)";
  }
  if (!r.skipped_reason.empty()) {
    if (r.records == 0 && r.failures.empty()) GTEST_SKIP() << r.skipped_reason;
    std::cout << "[  SKIPPED  ] " << r.skipped_reason << "\n";
  }
}

INSTANTIATE_TEST_SUITE_P(Files, KqlSqlLogicTest, ::testing::ValuesIn(TestFiles()), TestName);

TEST(KqlSqlLogicSuite, FindsTestFiles) { EXPECT_FALSE(TestFiles().empty()) << "no .test files under " << TestDir(); }

}  // namespace
}  // namespace cmk::kql::sqllogic
