// make-series: aggregates by (keys, bin of the axis) with hash aggregation, then lays out the
// bins of each key as dynamic arrays.
#include <algorithm>
#include <unordered_map>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {

namespace {

std::string AxisJson(Type t, int64_t v) {
  Column c(t);
  c.AppendInt(v);
  return ValueToJson(c, 0);
}

// A bin's slot: a short JSON string (header and text) plus its share of the output array.
constexpr size_t kBytesPerSlot = 64;

std::string DefaultJson(const BoundAggregate& a) {
  if (a.default_value.stored() > 0) return ValueToJson(a.default_value, 0);
  return IsNumeric(a.types[0]) || a.types[0] == Type::kTimespan ? "0" : "null";
}

Status EmitSeries(const PlanNode& node, const Table& groups, size_t bins, int64_t from,
                  const ExecContext& ctx, MemoryReservation& held, const Sink& sink) {
  size_t k = node.exprs.size();
  size_t naggs = node.aggs.size();
  std::unordered_map<std::string, size_t> series_of;
  std::vector<std::vector<std::vector<std::string>>> slots;  // [series][aggregate][bin]
  Table out = EmptyTable(node.schema);
  std::string key;
  for (size_t r = 0; r < groups.rows; ++r) {
    key.clear();
    for (size_t i = 0; i < k; ++i) EncodeKey(groups.columns[i], r, key);
    auto [it, inserted] = series_of.try_emplace(key, slots.size());
    if (inserted) {
      // Each series holds a slot per bin and aggregate, then its JSON arrays: charged first.
      RETURN_IF_ERROR(held.Grow(bins * naggs * kBytesPerSlot));
      RETURN_IF_ERROR(CheckBudget(ctx));
      for (size_t i = 0; i < k; ++i) out.columns[i].AppendFrom(groups.columns[i], r);
      slots.emplace_back();
      for (const BoundAggregate& a : node.aggs) slots.back().emplace_back(bins, DefaultJson(a));
    }
    size_t b = static_cast<size_t>(groups.columns[k].Int(r));
    for (size_t a = 0; a < naggs; ++a) {
      const Column& v = groups.columns[k + 1 + a];
      if (!v.IsNull(r)) slots[it->second][a][b] = ValueToJson(v, r);
    }
  }
  std::string axis = "[";
  for (size_t b = 0; b < bins; ++b) {
    if (b > 0) axis += ',';
    axis += AxisJson(node.axis.type, from + static_cast<int64_t>(b) * node.step);
  }
  axis += ']';
  if (slots.empty() && node.nonempty) {  // kind=nonempty: one series of defaults, null keys
    for (size_t i = 0; i < k; ++i) out.columns[i].AppendNull();
    slots.emplace_back();
    for (const BoundAggregate& a : node.aggs) slots.back().emplace_back(bins, DefaultJson(a));
  }
  for (const auto& series : slots) {
    for (size_t a = 0; a < naggs; ++a) {
      std::string arr = "[";
      for (size_t b = 0; b < bins; ++b) arr += (b > 0 ? "," : "") + series[a][b];
      out.columns[k + a].AppendString(arr + "]");
    }
    out.columns[k + naggs].AppendString(axis);
    ++out.rows;
  }
  if (out.rows == 0) return OkStatus();
  return sink(Chunk::Own(std::move(out)));
}

}  // namespace

// make-series: aggregates by (keys, bin of the axis) with hash aggregation, then lays the bins
// of each key out as arrays of `step`-spaced slots filled with the default where empty.
Status RunMakeSeries(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  MemoryReservation input(ctx.budget, "make-series");
  ASSIGN_OR_RETURN(Table in, RunToTable(*node.inputs[0], ctx, &input));
  FunctionContext fctx{in.rows, ctx.now, ctx.budget};
  Chunk in_view = Chunk::View(in);
  ASSIGN_OR_RETURN(ColumnValue axis_v, Eval(node.axis, in_view, fctx));
  Column axis = std::move(axis_v).Take();
  axis.Materialize(in.rows);
  int64_t from = node.from.value_or(INT64_MAX), to = node.to.value_or(INT64_MIN);
  for (size_t r = 0; r < in.rows && (!node.from || !node.to); ++r) {
    if (axis.IsNull(r)) continue;
    if (!node.from) from = std::min(from, axis.Int(r));
    if (!node.to) to = std::max(to, axis.Int(r) + 1);
  }
  if (from >= to || node.step <= 0) from = to = 0;
  // Bins = ceil((to - from) / step), in unsigned arithmetic: to - from may not fit an int64.
  uint64_t span = static_cast<uint64_t>(to) - static_cast<uint64_t>(from);
  uint64_t step = node.step > 0 ? static_cast<uint64_t>(node.step) : 1;
  uint64_t bin_count = span / step + (span % step != 0 ? 1 : 0);
  // The bins are allocated per series (and the axis once): check the count before allocating.
  MemoryReservation held(ctx.budget, "make-series (" + std::to_string(bin_count) + " bins)");
  if (bin_count > SIZE_MAX / kBytesPerSlot / 4) {
    return Status(StatusCode::kResourceExhausted,
                  "Query execution has exceeded the allowed limits (80DA0001): make-series would create " +
                      std::to_string(bin_count) + " bins",
                  "E_RUNAWAY_QUERY");
  }
  size_t bins = static_cast<size_t>(bin_count);
  RETURN_IF_ERROR(held.Grow(bins * kBytesPerSlot * (1 + std::max<size_t>(1, node.aggs.size()))));
  // Keys: the by expressions, then the bin number; evaluated as extra columns of `in`.
  std::vector<BoundExpr> keys;
  std::vector<Column> key_cols;
  for (const BoundExpr& k : node.exprs) {
    ASSIGN_OR_RETURN(ColumnValue v, Eval(k, in_view, fctx));
    key_cols.push_back(std::move(v).Take());
  }
  Column bin(Type::kLong);
  std::vector<uint32_t> keep;
  for (size_t r = 0; r < in.rows; ++r) {
    if (axis.IsNull(r) || axis.Int(r) < from || axis.Int(r) >= to) continue;
    keep.push_back(static_cast<uint32_t>(r));
    bin.AppendInt(static_cast<int64_t>((static_cast<uint64_t>(axis.Int(r)) - static_cast<uint64_t>(from)) / step));
  }
  Table t = GatherTable(in, keep);
  size_t base = t.columns.size();
  for (size_t i = 0; i < key_cols.size(); ++i) {
    t.AddColumn("", Gather(key_cols[i], keep));
    keys.push_back(BoundExpr::ColumnRef(static_cast<int>(base + i), node.exprs[i].type));
  }
  t.AddColumn("", std::move(bin));
  keys.push_back(BoundExpr::ColumnRef(static_cast<int>(t.columns.size() - 1), Type::kLong));
  HashAggregation agg(node, keys);
  if (t.rows > 0) RETURN_IF_ERROR(agg.Consume(Chunk::View(t), ctx));
  Table groups = t.rows > 0 ? agg.Finish() : Table();
  return EmitSeries(node, groups, bins, from, ctx, held, sink);
}

}  // namespace cmk::kql
