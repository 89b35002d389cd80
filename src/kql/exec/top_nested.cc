// top-nested: the input is materialized; each level runs its aggregate per key (a summarize plan
// over the rows, exec/subquery.cc's RunOver), keeps the N best keys, gathers their rows and
// recurses into each one's. `with others` adds a row per level holding
// the aggregate over the rows of the keys not kept (deeper levels null).
#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {
namespace {

struct Cell {
  const Column* key = nullptr;
  size_t key_row = 0;
  const Column* agg = nullptr;
  size_t agg_row = 0;
};

class TopNested {
 public:
  TopNested(const PlanNode& node, const Table& t, const ExecContext& ctx, Table& out)
      : node_(node), t_(t), ctx_(ctx), out_(out), held_(ctx.budget, "top-nested") {}

  // `rows`: the input rows of this branch (null: every row).
  Status Level(size_t level, const std::vector<uint32_t>* rows) {
    RETURN_IF_ERROR(CheckBudget(ctx_));
    if (level == node_.levels.size()) return Emit();
    const PlanNode::TopLevel& spec = node_.levels[level];
    // The first level's rows are every row: the input itself, not a copy.
    Table gathered = rows == nullptr ? Table() : GatherTable(t_, *rows);
    const Table& part = rows == nullptr ? t_ : gathered;
    auto row_of = [&](size_t r) { return rows == nullptr ? static_cast<uint32_t>(r) : (*rows)[r]; };
    // The level's aggregate per key value (a summary over the rows), ranked; then, in one pass,
    // the rows of the values kept (and of the others, when asked for): a branch holds its own
    // rows, not every value's.
    MemoryReservation held(ctx_.budget, "top-nested");
    ASSIGN_OR_RETURN(Table aggs, RunOver(*node_.inputs[1 + 2 * level], part, ctx_, &held));
    std::vector<uint32_t> order = Ranked(aggs, spec.ascending);
    size_t keep = spec.n < 0 ? order.size() : std::min(order.size(), static_cast<size_t>(spec.n));
    const bool want_others = spec.others.has_value() && keep < order.size();
    std::unordered_map<std::string, size_t> kept;  // a kept value's key -> its rank
    std::string k;
    for (size_t i = 0; i < keep; ++i) {
      k.clear();
      EncodeKey(aggs.columns[0], order[i], k);
      kept.emplace(k, i);
    }
    FunctionContext fctx{part.rows, ctx_.now, ctx_.budget};
    ASSIGN_OR_RETURN(ColumnValue keys, Eval(spec.key, Chunk::View(part), fctx));
    const Column& kc = keys.get();
    constexpr size_t kUnknown = SIZE_MAX, kOther = SIZE_MAX - 1;
    std::vector<size_t> rank_of_code(kc.coded() && !kc.constant ? kc.dict->size() : 0, kUnknown);
    std::vector<std::vector<uint32_t>> kept_rows(keep);
    std::vector<uint32_t> others;
    for (size_t r = 0; r < part.rows; ++r) {
      if ((r & 0xFFFF) == 0xFFFF) RETURN_IF_ERROR(CheckBudget(ctx_));
      size_t* cached = !rank_of_code.empty() && !kc.IsNull(r) ? &rank_of_code[kc.codes[r]] : nullptr;
      size_t rank = cached != nullptr ? *cached : kUnknown;
      if (rank == kUnknown) {
        k.clear();
        EncodeKey(kc, r, k);
        auto it = kept.find(k);
        rank = it == kept.end() ? kOther : it->second;
        if (cached != nullptr) *cached = rank;
      }
      if (rank != kOther) kept_rows[rank].push_back(row_of(r));
      else if (want_others) others.push_back(row_of(r));
    }
    size_t held_rows = others.size();
    for (const auto& g : kept_rows) held_rows += g.size();
    RETURN_IF_ERROR(held.Grow(held_rows * sizeof(uint32_t)));
    for (size_t i = 0; i < keep; ++i) {
      path_.push_back({&aggs.columns[0], order[i], &aggs.columns[1], order[i]});
      Status s = Level(level + 1, &kept_rows[i]);
      path_.pop_back();
      RETURN_IF_ERROR(s);
      kept_rows[i] = {};
    }
    if (!want_others || others.empty()) return OkStatus();
    ASSIGN_OR_RETURN(Table total, RunOver(*node_.inputs[2 + 2 * level], GatherTable(t_, others), ctx_, &held));
    if (total.rows == 0) return OkStatus();
    path_.push_back({&*spec.others, 0, &total.columns[0], 0});
    Status s = Emit();
    path_.pop_back();
    return s;
  }

 private:
  // Row indexes of `aggs` by the aggregate (column 1), best first, nulls last.
  std::vector<uint32_t> Ranked(const Table& aggs, bool ascending) const {
    std::vector<uint32_t> order(aggs.rows);
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
    const Column& a = aggs.columns[1];
    std::stable_sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) {
      if (a.IsNull(x) || a.IsNull(y)) return !a.IsNull(x) && a.IsNull(y);
      int c = CompareValues(a, x, a, y);
      return ascending ? c < 0 : c > 0;
    });
    return order;
  }

  // One output row: the path's keys and aggregates, nulls for the levels below it.
  Status Emit() {
    for (size_t l = 0; l < node_.levels.size(); ++l) {
      Column& key = out_.columns[2 * l];
      Column& agg = out_.columns[2 * l + 1];
      if (l < path_.size()) {
        key.AppendFrom(*path_[l].key, path_[l].key_row);
        agg.AppendFrom(*path_[l].agg, path_[l].agg_row);
      } else {
        key.AppendNull();
        agg.AppendNull();
      }
    }
    ++out_.rows;
    bytes_ += 32 * node_.levels.size();
    return (out_.rows & 1023) == 0 ? held_.Resize(bytes_) : OkStatus();
  }

  const PlanNode& node_;
  const Table& t_;
  const ExecContext& ctx_;
  Table& out_;
  MemoryReservation held_;
  size_t bytes_ = 0;
  std::vector<Cell> path_;
};

}  // namespace

Status RunTopNested(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  MemoryReservation held(ctx.budget, "top-nested");
  // The columns the levels don't read come from the scans as null constants and stay so.
  ASSIGN_OR_RETURN(Table t, RunToTableUntil(*node.inputs[0], ctx, &held, nullptr, /*keep_constants=*/true));
  if (t.rows == 0) return OkStatus();
  Table out = EmptyTable(node.schema);
  TopNested run(node, t, ctx, out);
  RETURN_IF_ERROR(run.Level(0, nullptr));
  if (out.rows == 0) return OkStatus();
  for (Column& c : out.columns) DropStringNulls(c);
  return sink(Chunk::Own(std::move(out)));
}

}  // namespace cmk::kql
