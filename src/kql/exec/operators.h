#pragma once
// Private to kql/exec: the operators behind Run (exec.cc), one file per family, and the helpers
// they share. Each pushes the node's output chunks into `sink` (exec.h).
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "base/status.h"
#include "kql/exec/eval.h"
#include "kql/exec/exec.h"

namespace re2 {
class RE2;
}

namespace cmk::kql {

// Returned by a sink that has seen enough rows (take, a result past its limits); whoever asked
// for them turns it back into OK.
inline constexpr char kEnoughRows[] = "KqlEnoughRows";
inline Status EnoughRows() { return Status(StatusCode::kCancelled, "enough rows", kEnoughRows); }
inline bool IsEnoughRows(const Status& s) {
  return s.code() == StatusCode::kCancelled && s.error_code() == kEnoughRows;
}

// scan_filter.cc: leaves (catalog scans, literal tables and ranges) and row filters.
Status RunScan(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
// A scan with its request changed by `adjust` (sample's ScanRequest::thin).
Status RunScan(const PlanNode& node, const std::function<void(ScanRequest&)>& adjust, const ExecContext& ctx,
               const Sink& sink);
Status RunValues(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
Status RunFilter(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
// A top's input, run: a `where` over a scan gets ScanRequest::select (the rows each chunk could
// place; its other string columns built for those alone), anything else runs as it is.
Status RunTopInput(const PlanNode& top, const ExecContext& ctx, const Sink& sink);
// Whether `filter` is a where over a scan that the catalog applies on its reader threads; then
// RunFilteredScan runs it with the scan's request changed by `adjust` (columns, a bound), and
// for `top` (when given) the select of the rows each chunk could place.
bool PushableFilter(const PlanNode& filter, const ExecContext& ctx);
// The rows a conjunction's other conjuncts were evaluated on after its cheap ones (comparisons
// of a column with constants) kept them, since the process started (PassingRows): for tests.
uint64_t NarrowedRowsForTest();
Status RunFilteredScan(const PlanNode& filter, const std::function<void(ScanRequest&)>& adjust,
                       const ExecContext& ctx, const Sink& sink, const PlanNode* top = nullptr);
Status RunTake(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
// summarize straight over a scan (or a `where` over one) when the catalog applies filters, the
// predicate, keys and aggregate arguments are safe on other threads and every aggregate merges:
// each chunk is aggregated on the catalog's reader threads and the partials merged into `agg`
// in scan order. False, having run nothing, when that doesn't apply.
Result<bool> PushSummarize(const PlanNode& node, HashAggregation& agg, const ExecContext& ctx);
// where, project (extend...) and parse stacked over a scan, with at least a parse or a computed
// column among them, when the catalog applies filters and every expression is safe on other
// threads: the whole stack runs on the catalog's reader threads as each chunk is decoded, and
// its output goes to `sink` in scan order. False, having run nothing, when that doesn't apply.
Result<bool> PushScanChain(const PlanNode& top, const ExecContext& ctx, const Sink& sink);
// project.cc: project, extend and the project-* variants.
Status RunProject(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
// The node's output columns for `chunk`: computed ones evaluated, references shared.
Result<Chunk> ProjectChunk(const PlanNode& node, const Chunk& chunk, const FunctionContext& fctx);
// summarize.cc: summarize, distinct, count.
Status RunSummarize(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
// sort.cc
Status RunSort(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
Status RunTop(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
// The greatest (or least) value of a scan's int or real column, read as `top 1` reads it: that
// column alone, and only the blocks whose extreme can win. nullopt when the column holds no
// value, a NaN, or is of another type.
Result<std::optional<ScanRequest::ValueBound>> ScanExtreme(const PlanNode& scan, int column, bool greatest,
                                                           const ExecContext& ctx);
// join.cc: join and lookup.
Status RunJoin(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
// union.cc
Status RunUnion(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
// mv_expand.cc, parse.cc, make_series.cc
Status RunMvExpand(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
Status RunParse(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
// A parse or parse-where (not parse-kv) compiled once: Apply turns a chunk of its input into the
// node's output (parse-where's may hold no row). Apply is const and may run on several threads
// at once (RE2 matches are thread-safe). Each capture is a piece of its row's text, so without a
// budget in `ctx` (a catalog's reader threads) the output is bounded by the chunk's text plus a
// value per built column a row; with one, the captured text is charged while it is built.
class CompiledParse {
 public:
  static Result<std::shared_ptr<const CompiledParse>> Compile(const PlanNode& node);
  ~CompiledParse();
  Result<Chunk> Apply(Chunk&& chunk, const ExecContext& ctx) const;
  // Columns built per row: those read after the parse (PlanNode::unread), and the typed ones a
  // strict parse converts to decide its rows.
  size_t built() const { return built_; }

 private:
  explicit CompiledParse(const PlanNode& node);
  const PlanNode& node_;
  std::vector<int> targets_;  // output column of each pattern column
  std::vector<Type> types_;
  std::vector<bool> build_;
  size_t built_ = 0;
  // kind=regex: compiled regexes not in use. Each Apply takes one (compiling another when none
  // is free) and gives it back: an RE2 shared by threads serializes their DFA searches on its
  // cache's lock (a fifth of a pushed regex parse's time went to that lock).
  std::unique_ptr<re2::RE2> TakeRegex() const;
  void GiveBack(std::unique_ptr<re2::RE2> re) const;
  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<re2::RE2>> free_;  // GUARDED_BY(mu_)
  std::vector<int> group_of_;  // kind=regex: the regex group of each column
};
Status RunParseKv(const PlanNode& node, const ExecContext& ctx, const Sink& sink);  // parse_kv.cc
Status RunMakeSeries(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
// window.cc: serialize, and row_number() / prev() / next() for Eval (eval.cc).
Status RunSerialize(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
Result<ColumnValue> EvalRowNumber(const BoundExpr& e, const Chunk& chunk,
                                  const FunctionContext& ctx);
Result<ColumnValue> EvalShift(const BoundExpr& e, const Chunk& chunk, const FunctionContext& ctx);
// row_cumsum, row_rank_dense, row_rank_min, row_window_session (BoundExpr::Kind::kWindow).
Result<ColumnValue> EvalWindow(const BoundExpr& e, const Chunk& chunk, const FunctionContext& ctx);

// subquery.cc: the input of a subquery, mv-apply and partition; RunOver runs `sub` over
// `rows` (charged to `held`).
Result<Table> RunOver(const PlanNode& sub, const Table& rows, const ExecContext& ctx, MemoryReservation* held);
Status RunSubInput(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
Status RunMvApply(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
Status RunPartition(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
// top_nested.cc
Status RunTopNested(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
// sample.cc: sample and sample-distinct.
Status RunSample(const PlanNode& node, const ExecContext& ctx, const Sink& sink);

// scan_op.cc: the scan operator (NodeKind::kScanOp); reduce.cc: reduce.
Status RunScanOperator(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
Status RunReduce(const PlanNode& node, const ExecContext& ctx, const Sink& sink);

// exec.cc: sort and group keys evaluated over `t` (column references are borrowed, not
// copied), and pointers to their columns.
Result<std::vector<ColumnValue>> EvalKeys(const std::vector<BoundExpr>& exprs, const Chunk& t,
                                          const ExecContext& ctx);
std::vector<const Column*> Pointers(const std::vector<ColumnValue>& cols);

}  // namespace cmk::kql
