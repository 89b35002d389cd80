#include "engine/ingest.h"

#include <gtest/gtest.h>

#include "base/testing.h"
#include "engine/log_store_test_util.h"
#include "engine/topology_cache.h"

namespace cmk::engine {
namespace {

using testing::IsOk;
using testing::StatusIs;

const std::vector<StreamColumn> kDeclared = {
    {"TimeGenerated", "datetime"}, {"Msg", "string"}, {"N", "real"}};
constexpr char kStream[] = "Custom-App";

class IngestTest : public LogStoreTest {
 protected:
  void SetUp() override {
    LogStoreTest::SetUp();
    Open();
    ingestor_ = std::make_unique<Ingestor>(store_.get(), &topo_, &clock_);
    rule_.id =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Insights/dataCollectionRules/r1";
    rule_.destinations = {{"la", ws_.resource_id}};
    rule_.flows = {{{kStream}, {"la"}, "source", "Custom-App_CL"}};
  }
  Status Post(const std::string& body) {
    return ingestor_->Ingest(rule_, kStream, kDeclared, body, nullptr);
  }
  // Every stored row of App_CL, as one table in the schema's order.
  kql::Table Stored() {
    kql::Table all;
    auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
    EXPECT_THAT(cat->Scan(kql::ScanRequest{"App_CL", {}, {}, {}},
                          [&](std::shared_ptr<const kql::Table> t) {
                            if (all.columns.empty()) {
                              all.names = t->names;
                              for (const auto& c : t->columns) all.columns.emplace_back(c.type);
                            }
                            for (size_t c = 0; c < t->columns.size(); ++c) {
                              for (size_t r = 0; r < t->rows; ++r)
                                all.columns[c].AppendFrom(t->columns[c], r);
                            }
                            all.rows += t->rows;
                            return OkStatus();
                          }),
                IsOk());
    return all;
  }

  std::unique_ptr<Ingestor> ingestor_;
  IngestRule rule_;
};

TEST_F(IngestTest, RecordsAreShapedAsTheDestinationTable) {
  ASSERT_THAT(
      Post(R"([{"Msg":"a","N":2.7,"Extra":1},{"TimeGenerated":"2026-11-20T00:00:00Z","N":-1.5}])"),
      IsOk());
  kql::Table t = Stored();
  ASSERT_EQ(t.rows, 2u);
  EXPECT_EQ(t.names, (std::vector<std::string>{"TimeGenerated", "Msg", "N"}));
  EXPECT_EQ(t.columns[0].Int(0),
            clock_.Now().time_since_epoch().count() / 100);  // the time of ingestion
  EXPECT_EQ(t.columns[1].Str(0), "a");
  EXPECT_EQ(t.columns[2].type, kql::Type::kLong);
  EXPECT_EQ(t.columns[2].Int(0), 2);
  EXPECT_EQ(t.columns[2].Int(1), -1);
}

TEST_F(IngestTest, TransformRunsBeforeShaping) {
  rule_.flows[0].transform_kql = "source | extend N = N * 10, Msg = strcat(Msg, '!')";
  ASSERT_THAT(Post(R"([{"Msg":"a","N":1.25}])"), IsOk());
  kql::Table t = Stored();
  ASSERT_EQ(t.rows, 1u);
  EXPECT_EQ(t.columns[1].Str(0), "a!");
  EXPECT_EQ(t.columns[2].Int(0), 12);  // 12.5 as the table's long
}

TEST_F(IngestTest, TransformIsParsedOncePerRuleVersion) {
  rule_.flows[0].transform_kql = "source | where N > 0";
  ASSERT_THAT(Post(R"([{"Msg":"a","N":1}])"), IsOk());
  ASSERT_THAT(Post(R"([{"Msg":"b","N":2}])"), IsOk());
  EXPECT_EQ(ingestor_->transform_parses(), 1u);
  EXPECT_EQ(ingestor_->transform_hits(), 1u);
  // The rule is PUT again with another transform: parsed again, and the new one runs.
  rule_.flows[0].transform_kql = "source | where N > 5";
  ASSERT_THAT(Post(R"([{"Msg":"c","N":3}])"), IsOk());
  EXPECT_EQ(ingestor_->transform_parses(), 2u);
  EXPECT_EQ(Stored().rows, 2u);
  ASSERT_THAT(Post(R"([{"Msg":"d","N":6}])"), IsOk());
  EXPECT_EQ(ingestor_->transform_parses(), 2u);
  EXPECT_EQ(Stored().rows, 3u);
}

TEST_F(IngestTest, FailingFlowStoresNothing) {
  rule_.flows.push_back({{kStream}, {"la"}, "source | where", "Custom-App_CL"});
  Status s = Post(R"([{"Msg":"a","N":1}])");
  EXPECT_THAT(s, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(s.error_code(), "InvalidTransformOutput");
  EXPECT_NE(s.message().find("The rule's transformKql failed on this batch"), std::string::npos);
  EXPECT_EQ(Stored().rows, 0u);
}

TEST_F(IngestTest, SeveralDestinationsEachGetTheRows) {
  rule_.flows.push_back({{kStream}, {"la"}, "source", "Custom-App_CL"});
  ASSERT_THAT(Post(R"([{"Msg":"a","N":1},{"Msg":"b","N":2}])"), IsOk());
  kql::Table t = Stored();
  ASSERT_EQ(t.rows, 4u);
  EXPECT_EQ(t.columns[1].Str(3), "b");  // the last delivery took the parsed columns
}

TEST_F(IngestTest, UnknownTableAndWorkspaceAreRefusedWithTheirCodes) {
  rule_.flows[0].output_stream = "Custom-Other_CL";
  Status s = Post(R"([{"Msg":"a"}])");
  EXPECT_THAT(s, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(s.error_code(), "InvalidOutputTable");
  rule_.flows[0].output_stream = "Custom-App_CL";
  rule_.destinations[0].workspace_resource_id += "-gone";
  s = Post(R"([{"Msg":"a"}])");
  EXPECT_EQ(s.error_code(), "InvalidDestination");
  EXPECT_EQ(Post("not json").error_code(), "InvalidJson");
}

// A topology that counts its reads and can fail.
class CountingTopology : public FakeTopology {
 public:
  Result<std::vector<TableInfo>> Tables(const std::string& ws) const override {
    ++reads;
    if (fail) return Internal("store down");
    return FakeTopology::Tables(ws);
  }
  Result<WorkspaceInfo> WorkspaceByResourceId(const std::string& id) const override {
    ++reads;
    return FakeTopology::WorkspaceByResourceId(id);
  }
  mutable int reads = 0;
  bool fail = false;
};

TEST(TopologyCacheTest, AnswersFromTheCacheUntilTheVersionMoves) {
  CountingTopology base;
  base.workspaces = {WorkspaceInfo{"/ws/1", "c1", "w1", "eastus", "", 30}};
  base.tables = {TableInfo{"A_CL", {{"TimeGenerated", kql::Type::kDateTime}}, 30, "Analytics"}};
  TopologyCache cache(&base);
  ASSERT_THAT(cache.Tables("/ws/1"), IsOk());
  ASSERT_THAT(cache.Tables("/ws/1"), IsOk());
  ASSERT_THAT(cache.WorkspaceByResourceId("/ws/1"), IsOk());
  ASSERT_THAT(cache.WorkspaceByResourceId("/ws/1"), IsOk());
  EXPECT_EQ(base.reads, 2);
  EXPECT_EQ(cache.hits(), 2u);
  // A control-plane write: a column added to the table.
  base.tables[0].schema.push_back({"Msg", kql::Type::kString});
  ++base.version;
  auto t = cache.Tables("/ws/1");
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ((*t)[0].schema.size(), 2u);
  EXPECT_EQ(base.reads, 3);
}

TEST(TopologyCacheTest, KeepsNotFoundButNeverAFailure) {
  CountingTopology base;
  TopologyCache cache(&base);
  EXPECT_THAT(cache.WorkspaceByResourceId("/ws/none"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(cache.WorkspaceByResourceId("/ws/none"), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(base.reads, 1);
  base.workspaces = {WorkspaceInfo{"/ws/none", "c1", "w1", "eastus", "", 30}};
  ++base.version;  // created
  EXPECT_THAT(cache.WorkspaceByResourceId("/ws/none"), IsOk());
  base.fail = true;
  EXPECT_THAT(cache.Tables("/ws/none"), StatusIs(StatusCode::kInternal));
  base.fail = false;
  EXPECT_THAT(cache.Tables("/ws/none"), IsOk());  // read again
  EXPECT_EQ(base.reads, 4);
}

TEST(TopologyCacheTest, BoundedByMaxEntries) {
  CountingTopology base;
  TopologyCache cache(&base, /*max_entries=*/2);
  for (int i = 0; i < 3; ++i) (void)cache.WorkspaceByResourceId("/ws/" + std::to_string(i));
  EXPECT_EQ(base.reads, 3);
  (void)cache.WorkspaceByResourceId("/ws/2");  // kept after the map started over
  (void)cache.WorkspaceByResourceId("/ws/0");  // dropped
  EXPECT_EQ(base.reads, 4);
}

TEST_F(IngestTest, IngestionSeesATableChangedThroughTheCache) {
  TopologyCache cache(&topo_);
  Ingestor ingestor(store_.get(), &cache, &clock_);
  ASSERT_THAT(ingestor.Ingest(rule_, kStream, kDeclared, R"([{"Msg":"a"}])", nullptr), IsOk());
  rule_.flows[0].output_stream = "Custom-New_CL";
  EXPECT_EQ(ingestor.Ingest(rule_, kStream, kDeclared, R"([{"Msg":"a"}])", nullptr).error_code(),
            "InvalidOutputTable");
  topo_.tables.push_back(TableInfo{"New_CL", table_.schema, 30, "Analytics"});
  ++topo_.version;  // the table's PUT
  EXPECT_THAT(ingestor.Ingest(rule_, kStream, kDeclared, R"([{"Msg":"a"}])", nullptr), IsOk());
}

}  // namespace
}  // namespace cmk::engine
