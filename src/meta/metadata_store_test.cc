#include "meta/metadata_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "base/testing.h"
#include "env/env.h"

namespace cmk::meta {
namespace {

using testing::IsOk;
using testing::StatusIs;

class MetadataStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/meta_" + env::SecureRandom().NewGuid();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path() const { return dir_ + "/meta.db"; }
  std::string dir_;
};

TEST_F(MetadataStoreTest, PutGetIgnoresIdCaseAndKeepsOriginalId) {
  auto store = MetadataStore::Open(path());
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->Put("rg", "/subscriptions/S/resourceGroups/RG1", "{}"), IsOk());
  auto doc = (*store)->Get("rg", "/SUBSCRIPTIONS/s/resourcegroups/rg1");
  ASSERT_THAT(doc, IsOk());
  ASSERT_TRUE(doc->has_value());
  EXPECT_EQ((*doc)->id, "/subscriptions/S/resourceGroups/RG1");
  EXPECT_FALSE((*(*store)->Get("other", "/subscriptions/S/resourceGroups/RG1")).has_value());
}

TEST_F(MetadataStoreTest, ListByPrefixAndDelete) {
  auto store = std::move(*MetadataStore::Open(path()));
  ASSERT_THAT(store->Put("k", "/a/1", "1"), IsOk());
  ASSERT_THAT(store->Put("k", "/a/2", "2"), IsOk());
  ASSERT_THAT(store->Put("k", "/b/1", "3"), IsOk());
  auto list = store->List("k", "/A/");
  ASSERT_THAT(list, IsOk());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].body, "2");
  EXPECT_TRUE(*store->Delete("k", "/a/1"));
  EXPECT_FALSE(*store->Delete("k", "/a/1"));
  EXPECT_EQ(store->List("k", "")->size(), 2u);
}

TEST_F(MetadataStoreTest, SurvivesReopen) {
  {
    auto store = std::move(*MetadataStore::Open(path()));
    ASSERT_THAT(store->Put("k", "x", "persisted"), IsOk());
  }
  auto store = std::move(*MetadataStore::Open(path()));
  EXPECT_EQ((*store->Get("k", "x"))->body, "persisted");
}

TEST_F(MetadataStoreTest, FailedTransactionRollsBack) {
  auto store = std::move(*MetadataStore::Open(path()));
  Status s = store->Transaction([](DocumentOps& ops) {
    RETURN_IF_ERROR(ops.Put("k", "a", "1"));
    return Conflict("abort on purpose");
  });
  EXPECT_THAT(s, StatusIs(StatusCode::kConflict));
  EXPECT_FALSE(store->Get("k", "a")->has_value());
  ASSERT_THAT(store->Transaction([](DocumentOps& ops) { return ops.Put("k", "a", "1"); }), IsOk());
  EXPECT_TRUE(store->Get("k", "a")->has_value());
}

TEST_F(MetadataStoreTest, GenerationGrowsWithEveryWriteOfItsKind) {
  auto store = std::move(*MetadataStore::Open(path()));
  uint64_t g = store->Generation("arm");
  ASSERT_THAT(store->Put("arm", "a", "1"), IsOk());
  EXPECT_GT(store->Generation("arm"), g);
  g = store->Generation("arm");
  ASSERT_TRUE(store->Get("arm", "a").ok());
  ASSERT_TRUE(store->List("arm", "").ok());
  EXPECT_EQ(store->Generation("arm"), g);  // reads leave it
  ASSERT_TRUE(store->Delete("arm", "a").ok());
  EXPECT_GT(store->Generation("arm"), g);
  g = store->Generation("arm");
  ASSERT_THAT(store->Transaction([](DocumentOps& ops) { return ops.Put("arm", "b", "2"); }),
              IsOk());
  EXPECT_GT(store->Generation("arm"), g);
}

TEST_F(MetadataStoreTest, OpenFailsWithClearErrorForUnwritablePath) {
  auto store = MetadataStore::Open(dir_ + "/missing/dir/meta.db");
  EXPECT_THAT(store, StatusIs(StatusCode::kInternal));
}

TEST_F(MetadataStoreTest, DeletedDocumentsLeaveNoReadableCopyInTheFile) {
  const std::string marker = "saved-search-marker-7f3a9c";
  {
    auto store = std::move(*MetadataStore::Open(path()));
    for (int i = 0; i < 50; ++i) ASSERT_THAT(store->Put("k", "keep" + std::to_string(i), std::string(200, 'x')), IsOk());
    ASSERT_THAT(store->Put("k", "gone", "{\"query\":\"" + marker + "\"}"), IsOk());
    ASSERT_TRUE(*store->Delete("k", "gone"));
  }  // closed: the WAL is checkpointed into the file and removed
  std::ifstream in(path(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(bytes.find(marker), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path() + "-wal") &&
               std::filesystem::file_size(path() + "-wal") > 0 && [&] {
                 std::ifstream w(path() + "-wal", std::ios::binary);
                 std::string wal((std::istreambuf_iterator<char>(w)), std::istreambuf_iterator<char>());
                 return wal.find(marker) != std::string::npos;
               }());
}

}  // namespace
}  // namespace cmk::meta
