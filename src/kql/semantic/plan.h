#pragma once
// The bound form of a KQL query (binder.h produces it, exec.h runs it): expressions with
// resolved columns, functions and types, and a tree of plan nodes each knowing its output schema.
// Plain values; a plan is immutable once bound and may be executed from one thread at a time.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kql/core/column.h"
#include "kql/functions/functions.h"
#include "kql/semantic/catalog.h"
#include "kql/syntax/ast.h"

namespace cmk::kql {

struct AggregateDef;
class MemoryReservation;  // kql/core/budget.h

struct BoundExpr {
  enum class Kind {
    kColumn,     // column: index into the input chunk.
    kConstant,   // value: a constant column holding one value.
    kCall,       // fn(args).
    kMember,     // args[0] is dynamic; member: property name (d.name, d["name"]).
    kIndex,      // args[0] dynamic, args[1] long or string index.
    kRowNumber,  // row_number() after serialize/sort: offset-based row index in the batch;
                 // args[0]: the restart predicate, when given.
    kPrev,       // prev(args[0], offset[, args[1] default]); kNext likewise.
    kNext,
    kWindow,     // member: row_cumsum, row_rank_dense, row_rank_min or row_window_session over
                 // the batch's rows in order; args: the function's arguments (restart last).
  };
  Kind kind = Kind::kConstant;
  Type type = Type::kString;
  int column = -1;
  Column value;
  const ScalarFunction* fn = nullptr;
  std::vector<BoundExpr> args;
  std::string member;
  int64_t offset = 1;
  bool untyped_null = false;  // a bare `null`: takes its type from context.
  // Height and node count of this tree (1 for a leaf), kept by the binder so that let
  // substitution cannot build trees too deep to evaluate or too large to copy.
  uint32_t height = 1;
  size_t nodes = 1;

  bool IsConstant() const { return kind == Kind::kConstant; }
  static BoundExpr ColumnRef(int index, Type type) {
    BoundExpr e;
    e.kind = Kind::kColumn;
    e.column = index;
    e.type = type;
    return e;
  }
  static BoundExpr Constant(Column value) {
    BoundExpr e;
    e.type = value.type;
    e.value = std::move(value);
    return e;
  }
};

// Adds to reads[c] the number of references `e` makes to input column c (references past the
// vector's end are not counted): which columns an expression reads, and how often.
inline void CountColumnReads(const BoundExpr& e, std::vector<int>& reads) {
  if (e.kind == BoundExpr::Kind::kColumn && e.column >= 0 && static_cast<size_t>(e.column) < reads.size()) {
    ++reads[static_cast<size_t>(e.column)];
  }
  for (const BoundExpr& a : e.args) CountColumnReads(a, reads);
}

struct BoundAggregate {
  const AggregateDef* def = nullptr;
  std::vector<BoundExpr> args;
  std::vector<double> params;         // percentiles, make_list max size
  std::vector<std::string> names;     // output column names (several for percentiles, arg_max)
  std::vector<Type> types;            // output types
  Column default_value;               // make-series default (constant column), else empty
};

enum class NodeKind {
  kScan, kValues, kFilter, kProject, kSummarize, kSort, kTop, kTake, kJoin, kUnion,
  kMvExpand, kParse, kMakeSeries, kSerialize,
  kSubInput,   // the rows a subquery reads (ExecContext::subquery_input): mv-apply, partition
  kMvApply,    // inputs[0] rows, inputs[1] the subquery run per row (over kSubInput)
  kPartition,  // inputs[0] rows, inputs[1] the subquery run per value of exprs[0]
  kSample,     // `limit` rows picked at random; with exprs[0]: `limit` distinct values of it
  kTopNested,  // inputs[0] rows; per level i (levels[i]) inputs[1+2i] summarizes the level's
               // aggregate by its key and inputs[2+2i] without key (`others`), over kSubInput
  kScanOp,     // the scan operator: scan_spec (exec/scan_op.cc)
  kReduce,     // exprs[0] reduced by reduce_spec (exec/reduce.cc)
};

// The bound scan operator (NodeKind::kScanOp). A record is the input's columns then the declared
// ones. An expression that reads only the current row's input columns (per_row false) indexes
// the input chunk and is evaluated a chunk at a time; the others index `slots`: slot i holds
// record column slots[i].column of the current row (step -1: declared columns hold their
// defaults there) or of step slots[i].step's record in the state being matched.
struct ScanSpec {
  struct Slot {
    int step = -1;
    int column = 0;
  };
  struct Assignment {
    int column = 0;  // the record column assigned: an input (value replaced) or declared one
    BoundExpr value;
    bool per_row = false;
  };
  enum class Output { kAll, kLast, kNone };
  struct Step {
    std::string name;
    Output output = Output::kAll;
    BoundExpr condition;
    bool per_row = false;
    std::vector<Assignment> assignments;
  };
  int input_width = 0;
  std::vector<Column> defaults;  // per declared column: a one-value column of its type
  std::vector<Step> steps;
  std::vector<Slot> slots;
  bool match_id = false;  // with_match_id: a long column after the declared ones
};

// reduce [kind=source] by Expr with threshold=, characters= (NodeKind::kReduce).
struct ReduceSpec {
  double threshold = 0.1;
  bool custom_breakers = false;  // characters= given: those characters break terms
  std::string characters;
  bool source = false;  // kind=source: the input's rows with a Pattern column
};

enum class JoinKind {
  kInnerUnique, kInner, kLeftOuter, kRightOuter, kFullOuter, kLeftAnti, kRightAnti, kLeftSemi,
  kRightSemi,
};

struct PlanNode {
  NodeKind kind = NodeKind::kValues;
  Schema schema;      // output columns
  std::string name;   // table name (scan), `as` name
  std::vector<std::unique_ptr<PlanNode>> inputs;
  int height = 0;     // longest path to a leaf (1 for a leaf); 0 until the binder sets it

  ScanRequest scan;              // kScan (columns not requested come back as null constants)
  Table values;                  // kValues
  // kValues computed while binding (evaluate's output): its bytes, charged to the query's
  // budget for as long as the plan lives.
  std::shared_ptr<MemoryReservation> values_held;
  // kValues for a large `range`: its rows are generated slice by slice at run time (values
  // then holds the empty column), so a range costs memory only for the slice in flight and a
  // `count` or `take` over a huge one streams until it is done, stopped or out of time.
  struct LazyRange {
    uint64_t rows = 0;
    bool real = false;
    int64_t from = 0, step = 0;  // integer, datetime and timespan ranges (wrapping steps)
    double rfrom = 0, rstep = 0;  // real ranges: from + i * step
  };
  std::optional<LazyRange> range;
  BoundExpr predicate;           // kFilter; kParse: the source expression
  std::vector<BoundExpr> exprs;  // kProject outputs; kSummarize keys; kSort/kTop keys
  std::vector<BoundAggregate> aggs;
  std::vector<bool> ascending, nulls_first;
  int64_t limit = -1;            // kTake, kTop, mv-expand limit
  // kSummarize: its groups may come in any order, in several chunks (HashAggregation::
  // FinishEach): set under a count of them (`summarize ... by K | count`, `distinct K | count`).
  bool any_order = false;

  JoinKind join_kind = JoinKind::kInnerUnique;
  std::vector<int> left_keys, right_keys;
  std::vector<int> right_out;    // right columns appended to the output (join/lookup)
  bool lookup = false;

  std::vector<std::vector<int>> leg_maps;  // kUnion: output column i <- leg column (or -1)
  std::vector<std::string> leg_names;      // kUnion withsource values
  bool with_source = false;

  std::vector<int> expand_cols;            // kMvExpand
  std::vector<std::optional<Type>> expand_types;
  bool with_index = false;
  bool bag_as_array = false;

  std::vector<ParsePart> pattern;          // kParse
  bool regex = false;
  bool filter = false;                     // parse-where: rows that don't match are dropped
  std::string regex_flags;                 // kind=regex flags= (RE2's i, m, s, U)
  bool relaxed = false;                    // kind=relaxed: a column that doesn't convert is null alone
  bool kv = false;                         // parse-kv: pattern = the keys (columns), kv_options =
  std::vector<Option> kv_options;          //   its `with (...)` options, validated by the binder
  std::vector<bool> unread;                // kParse: per pattern column, whether nothing after the
                                           //   parse reads it (PruneColumns; then it isn't built)

  BoundExpr axis;                          // kMakeSeries
  std::optional<int64_t> from, to;
  int64_t step = 0;
  bool nonempty = false;                   // kind=nonempty: one row of defaults on empty input

  // kMvApply: output column i <- the subquery's column apply_cols[i], or (when -1) the outer
  // row's column outer_cols[i].
  std::vector<int> apply_cols, outer_cols;

  struct TopLevel {                        // kTopNested
    BoundExpr key;
    int64_t n = -1;                        // -1: every value
    bool ascending = false;
    std::optional<Column> others;          // `with others = v` (a constant of the key's type)
  };
  std::vector<TopLevel> levels;

  std::shared_ptr<const ScanSpec> scan_spec;  // kScanOp
  ReduceSpec reduce_spec;                     // kReduce
};

}  // namespace cmk::kql
