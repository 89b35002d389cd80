#pragma once
// The vectorized executor: runs a bound plan (plan.h) by pushing chunks (Tables) from the leaves
// (catalog scans, literal tables) through streaming operators (where, extend/project, take,
// parse, mv-expand) into pipeline breakers (summarize, sort, top, join, union, make-series), which
// emit one chunk when their input is exhausted. Expressions are evaluated a column at a time.
// Errors: from functions (eval) and from Catalog::Scan, passed through unchanged.
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "kql/core/budget.h"
#include "kql/core/chunk.h"
#include "kql/semantic/catalog.h"
#include "kql/semantic/plan.h"

namespace cmk::kql {

struct ExecContext {
  const Catalog* catalog = nullptr;
  TimePoint now{};
  // Memory, deadline and cancellation of this query (budget.h); null: ungoverned (tests).
  // Operators charge what they hold and check the deadline per chunk.
  QueryBudget* budget = nullptr;
  // The rows kSubInput hands out: set by mv-apply and partition for each run of their subquery
  // (a nested one runs with its own copy of the context).
  const Table* subquery_input = nullptr;
  // A summary of many groups over reader threads (PushSummarize) shares its groups among them
  // once one thread's aggregation holds more than this many: each group then held once.
  size_t share_groups_above = size_t{256} << 10;
};

// Deadline/cancellation check for the executor's loops (OK without a budget).
inline Status CheckBudget(const ExecContext& ctx) { return ctx.budget != nullptr ? ctx.budget->Check() : OkStatus(); }
// Per-row loops: `if (BudgetDue(ctx)) RETURN_IF_ERROR(CheckBudget(ctx));` (no Status on the fast path).
inline bool BudgetDue(const ExecContext& ctx) { return ctx.budget != nullptr && ctx.budget->Due(); }
inline Status TickBudget(const ExecContext& ctx) { return BudgetDue(ctx) ? ctx.budget->Check() : OkStatus(); }

// Receives one chunk (chunk.h): its columns may be shared with the catalog's immutable chunks,
// so a sink reads them and builds new columns for what it changes.
using Sink = std::function<Status(Chunk&&)>;

// Pushes the node's output chunks (each with the node's schema) into `sink`.
Status Run(const PlanNode& node, const ExecContext& ctx, const Sink& sink);
// Runs the node and concatenates its output into one table named after the node. The table's
// bytes are charged to `held` (which the caller keeps while it holds the table); without one
// they are checked against the budget while the table grows and released on return.
Result<Table> RunToTable(const PlanNode& node, const ExecContext& ctx, MemoryReservation* held = nullptr);
// RunToTable that stops the node's run once `enough` (when given; asked after each chunk is
// appended) says the table holds enough rows: the rest of the input is never computed. With
// `keep_constants`, columns constant in every chunk stay constant (AppendTable).
Result<Table> RunToTableUntil(const PlanNode& node, const ExecContext& ctx, MemoryReservation* held,
                              const std::function<bool(const Table&)>& enough, bool keep_constants = false);

// Hash aggregation over chunks (summarize.cc): group keys and aggregates of a kSummarize node
// (used by make-series too). Keys are encoded to bytes once per row; a single integer or string
// key takes a fast path (strings are looked up as string_views; only a new group copies its key).
class HashAggregation {
 public:
  // `one_chunk`: it will consume a single chunk (a partial aggregation, merged later): a coded
  // key's groups are then its dictionary entries as they first appear, without hashing their
  // strings (an extent's dictionary holds each string once).
  explicit HashAggregation(const PlanNode& node, const std::vector<BoundExpr>& keys, bool one_chunk = false);
  ~HashAggregation();
  // Reads the chunk's columns in place (no copies); string keys are hashed as views.
  // Charges the groups' keys and the aggregates' state to ctx's budget.
  Status Consume(const Chunk& chunk, const ExecContext& ctx);
  // Whether every aggregate can merge partial aggregations (Merge).
  bool Mergeable() const;
  // Folds `later`, an aggregation of the same node over rows that came after this one's, into
  // this one (partial aggregations built on several threads, merged in row order: the groups'
  // order and every aggregate's answer are the ones Consume over all the rows gives, except the
  // rounding of real sums). Charges as Consume does.
  Status Merge(const HashAggregation& later, const ExecContext& ctx);
  // Merge into an aggregation that holds no groups yet, without copying: this one takes
  // `other`'s groups and aggregates (an aggregation of the same node and keys), and `other` is
  // left as this one was. Charges as Consume does. FailedPrecondition when this one has groups.
  Status Adopt(HashAggregation& other, const ExecContext& ctx);
  size_t num_groups() const;
  // Keys then aggregate outputs; one row per group (one row when there are no keys), in the
  // order the groups were first seen, or of their tags when tagged. Adopted parts are finished
  // and gathered on `threads`' threads too (Catalog::RunAll) when given.
  Table Finish(const Catalog* threads = nullptr);
  // The same groups as Finish in no particular order, as several tables (each adopted part's
  // own, finished and handed to `each` one after the other): for a consumer whose answer does
  // not depend on the rows' order (a count of the groups), without ordering or gathering them
  // into one table. At 10M rows `count() by TimeGenerated | count` spent ~20% of its CPU there,
  // zero-filling and gathering two 78 MB columns on the query thread.
  Status FinishEach(const std::function<Status(Table)>& each);
  // Where groups were first seen, for aggregations that consume chunks out of scan order
  // (PushSummarize's, one per reader thread or share of the groups): from the first call on,
  // the chunks consumed start at place `seq` in the scan (row r is at seq + r: a catalog's seqs
  // leave room for their chunks' rows, ScanRequest::sequenced_filter), and each group keeps the
  // least place it was seen at; Merge keeps the lesser of two, and Finish orders the groups by
  // them, which is the order an aggregation of the chunks in scan order would give them. With
  // `rows`, the next chunk consumed is a share of the scan's chunk: its row i is rows[i] there.
  void SetSequence(uint64_t seq, std::span<const uint32_t> rows = {});
  // Shares of the groups, for summaries of many groups (PushSummarize): each row or group falls
  // in one of `parts` shares (a power of two, at most 256) by its keys' values, all of one
  // group's in the same, whatever aggregation of this node holds it. The chunk's rows by
  // share: order[offsets[p] .. offsets[p + 1]) are share p's, ascending.
  Status ShareChunk(const Chunk& chunk, const ExecContext& ctx, size_t parts, std::vector<uint32_t>& order,
                    std::vector<uint32_t>& offsets) const;
  // This aggregation's groups by share, likewise.
  void ShareGroups(size_t parts, std::vector<uint32_t>& order, std::vector<uint32_t>& offsets) const;
  // Merge of `later`'s groups `which` (ascending) only.
  Status MergeSome(const HashAggregation& later, std::span<const uint32_t> which, const ExecContext& ctx);
  // An aggregation with no groups takes `parts`, aggregations of this node over disjoint sets
  // of groups (shares, at most 256), each tagged (SetSequence): Finish gathers their groups in
  // the order they were first seen. Charges as Consume does.
  Status AdoptParts(std::vector<std::unique_ptr<HashAggregation>> parts, const ExecContext& ctx);
  // The bytes Consume charges (read on the thread that consumes).
  size_t HeldBytes() const;

 private:
  Status Charge(const ExecContext& ctx);
  Table FinishGroups();  // keys then outputs, in the order of the groups' ids
  struct State;
  std::unique_ptr<State> s_;
};

// Permutation (sort.cc) that sorts `keys` (columns of `rows` values) by the node's directions,
// keeping the first `limit`. Checks ctx's deadline every ~64K comparisons.
Result<std::vector<uint32_t>> SortPermutation(const std::vector<const Column*>& keys, const PlanNode& node,
                                              size_t rows, size_t limit, const ExecContext& ctx);

}  // namespace cmk::kql
