// make-series: aggregates by (keys, bin of the axis) with hash aggregation, then lays out the
// bins of each key as dynamic arrays.
#include <algorithm>
#include <optional>
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
// of each key out as arrays of `step`-spaced slots filled with the default where empty. The
// input streams through the aggregation chunk by chunk when `from` and `to` are given; without
// them the range is the axis's, known at the end, and the chunks wait until then narrowed to
// the columns the axis, keys and aggregates read (copies: a chunk's other columns, a message
// text among them, are not kept; 10M rows of a log table were refused for memory whole).
Status RunMakeSeries(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  const Schema& schema = node.inputs[0]->schema;
  std::vector<int> reads(schema.size(), 0);
  CountColumnReads(node.axis, reads);
  for (const BoundExpr& k : node.exprs) CountColumnReads(k, reads);
  for (const BoundAggregate& a : node.aggs) {
    for (const BoundExpr& e : a.args) CountColumnReads(e, reads);
  }
  // The chunk's read columns, copied; null constants for the rest (indexes stay the schema's).
  auto narrow = [&](const Chunk& c) {
    Chunk out;
    out.rows = c.rows;
    for (size_t k = 0; k < c.width(); ++k) {
      if (k < reads.size() && reads[k] > 0) out.Add(Column(c.col(k)));
      else out.Add(NullConstant(c.col(k).type));
    }
    return out;
  };
  MemoryReservation waiting(ctx.budget, "make-series");
  std::vector<Chunk> chunks;
  int64_t from = node.from.value_or(INT64_MAX), to = node.to.value_or(INT64_MIN);
  bool ranged = node.from && node.to;
  uint64_t step = node.step > 0 ? static_cast<uint64_t>(node.step) : 1;
  std::optional<MemoryReservation> held;  // named by the bins' count once it is known
  size_t bins = 0;
  // The bins are allocated per series (and the axis once): the count is checked before.
  auto set_bins = [&]() -> Status {
    if (from >= to || node.step <= 0) from = to = 0;
    // Bins = ceil((to - from) / step), in unsigned arithmetic: to - from may not fit an int64.
    uint64_t span = static_cast<uint64_t>(to) - static_cast<uint64_t>(from);
    uint64_t bin_count = span / step + (span % step != 0 ? 1 : 0);
    if (bin_count > SIZE_MAX / kBytesPerSlot / 4) {
      return Status(StatusCode::kResourceExhausted,
                    "Query execution has exceeded the allowed limits (80DA0001): make-series would create " +
                        std::to_string(bin_count) + " bins",
                    "E_RUNAWAY_QUERY");
    }
    bins = static_cast<size_t>(bin_count);
    held.emplace(ctx.budget, "make-series (" + std::to_string(bin_count) + " bins)");
    return held->Grow(bins * kBytesPerSlot * (1 + std::max<size_t>(1, node.aggs.size())));
  };
  if (ranged) RETURN_IF_ERROR(set_bins());
  // Keys: the by expressions, then the bin number; evaluated as extra columns of the chunk.
  std::vector<BoundExpr> keys;
  for (size_t i = 0; i < node.exprs.size(); ++i) {
    keys.push_back(BoundExpr::ColumnRef(static_cast<int>(schema.size() + i), node.exprs[i].type));
  }
  keys.push_back(BoundExpr::ColumnRef(static_cast<int>(schema.size() + node.exprs.size()), Type::kLong));
  HashAggregation agg(node, keys);
  bool consumed = false;
  auto consume = [&](const Chunk& c) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    FunctionContext fctx{c.rows, ctx.now, ctx.budget};
    ASSIGN_OR_RETURN(ColumnValue axis_v, Eval(node.axis, c, fctx));
    const Column& axis = axis_v.get();
    std::vector<uint32_t> keep;
    Column bin(Type::kLong);
    for (size_t r = 0; r < c.rows; ++r) {
      size_t ar = axis.constant ? 0 : r;
      if (axis.IsNull(ar) || axis.Int(ar) < from || axis.Int(ar) >= to) continue;
      keep.push_back(static_cast<uint32_t>(r));
      bin.AppendInt(static_cast<int64_t>((static_cast<uint64_t>(axis.Int(ar)) - static_cast<uint64_t>(from)) / step));
    }
    if (keep.empty()) return OkStatus();
    Chunk t;
    t.rows = keep.size();
    for (size_t k = 0; k < c.width(); ++k) {
      const Column& col = c.col(k);
      if (col.constant) t.AddShared(c.shared(k));
      else t.Add(Gather(col, keep));
    }
    for (const BoundExpr& k : node.exprs) {
      ASSIGN_OR_RETURN(ColumnValue v, Eval(k, c, fctx));
      Column key = std::move(v).Take();
      key.Materialize(c.rows);
      t.Add(Gather(key, keep));
    }
    t.Add(std::move(bin));
    consumed = true;
    return agg.Consume(t, ctx);
  };
  RETURN_IF_ERROR(Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    if (chunk.rows == 0) return OkStatus();
    Chunk c = narrow(chunk);
    if (ranged) return consume(c);
    // The axis's range so far (its values evaluated again when the chunk is consumed).
    FunctionContext fctx{c.rows, ctx.now, ctx.budget};
    ASSIGN_OR_RETURN(ColumnValue axis_v, Eval(node.axis, c, fctx));
    const Column& axis = axis_v.get();
    for (size_t r = 0; r < (axis.constant ? std::min<size_t>(1, c.rows) : c.rows); ++r) {
      if (axis.IsNull(r)) continue;
      if (!node.from) from = std::min(from, axis.Int(r));
      if (!node.to) to = std::max(to, axis.Int(r) + 1);
    }
    size_t bytes = 0;
    for (size_t k = 0; k < c.width(); ++k) bytes += c.col(k).constant ? 0 : ApproxBytes(c.col(k));
    RETURN_IF_ERROR(waiting.Grow(bytes));
    chunks.push_back(std::move(c));
    return OkStatus();
  }));
  if (!ranged) {
    RETURN_IF_ERROR(set_bins());
    for (Chunk& c : chunks) {
      RETURN_IF_ERROR(consume(c));
      c = Chunk();
    }
  }
  Table groups = consumed ? agg.Finish() : Table();
  return EmitSeries(node, groups, bins, from, ctx, *held, sink);
}

}  // namespace cmk::kql
