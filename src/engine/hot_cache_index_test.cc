#include "engine/hot_cache_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cmk::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;

// Admits and writes a copy, expecting it to drop `dropped`.
void Put(HotCacheIndex& index, const std::string& id, uint64_t bytes, int64_t used,
         std::vector<std::string> dropped = {}) {
  auto admitted = index.Admit(id, "/c/" + id, bytes, used, /*may_drop=*/true);
  ASSERT_THAT(admitted, Optional(dropped)) << id;
  ASSERT_TRUE(index.Written(id));
}

TEST(HotCacheIndexTest, NewCopiesDropTheLeastRecentlyUsedPastTheBound) {
  HotCacheIndex index(100);
  Put(index, "a", 40, 1);
  Put(index, "b", 40, 2);
  index.Touch("a", 3);  // a query read a: b is now the least recently used
  Put(index, "c", 30, 4, {"/c/b"});
  EXPECT_EQ(index.bytes(), 70u);
  EXPECT_EQ(index.files(), 2u);
  Put(index, "d", 60, 5, {"/c/a"});  // a (used at 3) before c (4); then 30 + 60 fit
  EXPECT_EQ(index.bytes(), 90u);
  Put(index, "e", 100, 6, {"/c/c", "/c/d"});
  EXPECT_EQ(index.bytes(), 100u);
  EXPECT_EQ(index.dropped(), 4u);
}

TEST(HotCacheIndexTest, CopiesReadBackForAQueryAreWrittenOnlyWhenTheyFit) {
  HotCacheIndex index(100);
  Put(index, "a", 60, 1);
  EXPECT_EQ(index.Admit("b", "/c/b", 50, 2, /*may_drop=*/false), std::nullopt);
  EXPECT_THAT(index.Admit("b", "/c/b", 40, 2, /*may_drop=*/false), Optional(IsEmpty()));
  EXPECT_TRUE(index.Written("b"));
  EXPECT_EQ(index.bytes(), 100u);
  EXPECT_EQ(index.dropped(), 0u);
}

TEST(HotCacheIndexTest, CopiesBeingWrittenAreNeverDropped) {
  HotCacheIndex index(100);
  ASSERT_THAT(index.Admit("a", "/c/a", 60, 1, true), Optional(IsEmpty()));  // not written yet
  // Room for b only by dropping a, which is being written: refused, a untouched.
  EXPECT_EQ(index.Admit("b", "/c/b", 50, 2, true), std::nullopt);
  // A second writer of a's copy is refused too.
  EXPECT_EQ(index.Admit("a", "/c/a", 60, 3, true), std::nullopt);
  index.Failed("a");  // its bytes come back
  EXPECT_EQ(index.bytes(), 0u);
  EXPECT_FALSE(index.Written("a"));
  EXPECT_THAT(index.Admit("b", "/c/b", 50, 2, true), Optional(IsEmpty()));
}

TEST(HotCacheIndexTest, ACopyLargerThanTheBoundIsNotAdmitted) {
  HotCacheIndex index(100);
  Put(index, "a", 30, 1);
  EXPECT_EQ(index.Admit("big", "/c/big", 101, 2, true), std::nullopt);
  EXPECT_EQ(index.bytes(), 30u);  // and nothing was dropped for it
  EXPECT_EQ(index.files(), 1u);
}

TEST(HotCacheIndexTest, ARewrittenCopyReplacesItsPreviousBytes) {
  HotCacheIndex index(100);
  Put(index, "a", 70, 1);
  Put(index, "a", 90, 2);  // the same extent's copy, rewritten: no room needed from others
  EXPECT_EQ(index.bytes(), 90u);
  EXPECT_EQ(index.files(), 1u);
  EXPECT_EQ(index.dropped(), 0u);
}

TEST(HotCacheIndexTest, ForgottenCopiesGiveTheirBytesBack) {
  HotCacheIndex index(0);  // no bound: counted only
  Put(index, "a", 10, 1);
  Put(index, "b", 20, 2);
  index.Found("x1", "/d/acct/x1", 5, 0);
  index.Found("x2", "/d/acct/x2", 7, 0);
  EXPECT_EQ(index.bytes(), 42u);
  index.Forget("a");
  index.ForgetUnder("/d/acct/");
  EXPECT_EQ(index.bytes(), 20u);
  EXPECT_EQ(index.files(), 1u);
  // A copy forgotten while being written (its extent expired meanwhile) is the writer's to remove.
  ASSERT_THAT(index.Admit("c", "/c/c", 5, 3, true), Optional(IsEmpty()));
  index.Forget("c");
  EXPECT_FALSE(index.Written("c"));
  EXPECT_EQ(index.bytes(), 20u);
}

TEST(HotCacheIndexTest, TrimDropsTheOldestFoundCopiesPastALoweredBound) {
  HotCacheIndex index(50);
  index.Found("old", "/c/old", 30, 1);
  index.Found("new", "/c/new", 30, 9);
  index.Found("mid", "/c/mid", 10, 5);
  EXPECT_THAT(index.Trim(), ElementsAre("/c/old"));
  EXPECT_EQ(index.bytes(), 40u);
  EXPECT_THAT(index.Trim(), IsEmpty());
}

}  // namespace
}  // namespace cmk::engine
