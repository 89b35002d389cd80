#include "kql/engine.h"

#include <gtest/gtest.h>

#include "base/testing.h"

namespace cmk::kql {
namespace {

TEST(KqlEngineTest, Smoke) {
  InMemoryCatalog cat;
  Result<QueryResult> r = Execute("print x = 1 + 2", cat, ExecOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

}  // namespace
}  // namespace cmk::kql
