// mv-expand, parse and make-series.
#include <boost/json.hpp>
#include <unordered_map>

#include "kql/eval.h"
#include "kql/exec.h"
#include "kql/function_json.h"
#include "kql/function_regex.h"

namespace cmk::kql {
namespace {

namespace bj = boost::json;

// Elements of one dynamic value as JSON texts: array items, bag properties ({"k":v} or [k,v]),
// or the value itself for a scalar. Empty for null and empty containers.
std::vector<std::string> Elements(const Column& c, size_t row, bool bag_as_array) {
  std::vector<std::string> out;
  if (c.IsNull(row)) return out;
  if (c.type != Type::kDynamic) {
    out.push_back(ValueToJson(c, row));
    return out;
  }
  boost::system::error_code ec;
  bj::value v = bj::parse(c.Str(row), ec);
  if (ec || v.is_null()) return out;
  if (v.is_array()) {
    for (const bj::value& item : v.get_array()) out.push_back(fn::WriteJson(item));
  } else if (v.is_object()) {
    for (const auto& kv : v.get_object()) {
      if (bag_as_array) {
        out.push_back(fn::WriteJson(bj::array{bj::value(kv.key()), kv.value()}));
      } else {
        bj::object o;
        o[kv.key()] = kv.value();
        out.push_back(fn::WriteJson(o));
      }
    }
  } else {
    out.push_back(fn::WriteJson(v));
  }
  return out;
}

}  // namespace

// Output rows between two charges of mv-expand's output chunk.
constexpr size_t kExpandCheckRows = 4096;

Status RunMvExpand(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  return Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    // One input chunk may expand into far more rows (an array of millions of elements): the
    // output is charged as it grows, estimated from the copied values and expanded items.
    MemoryReservation held(ctx.budget, "mv-expand");
    size_t out_bytes = 0, next_check = kExpandCheckRows;
    Table out = EmptyTable(node.schema);
    size_t width = chunk.width();
    size_t row_bytes = 0;  // bytes of the non-expanded values copied per output row
    for (size_t c = 0; c < width; ++c) row_bytes += UsesStrings(chunk.col(c).type) ? 40 : 9;
    for (size_t r = 0; r < chunk.rows; ++r) {
      std::vector<std::vector<std::string>> parts;
      size_t n = 0;
      bool null_value = false;  // a null (not an empty array) still gives one row of nulls
      for (int c : node.expand_cols) {
        const Column& col = chunk.col(static_cast<size_t>(c));
        parts.push_back(Elements(col, r, node.bag_as_array));
        n = std::max(n, parts.back().size());
        null_value = null_value || col.IsNull(r) || (col.type == Type::kDynamic && col.Str(r) == "null");
      }
      if (n == 0 && null_value) n = 1;
      if (node.limit >= 0) n = std::min(n, static_cast<size_t>(node.limit));
      for (size_t i = 0; i < n; ++i) {
        for (size_t c = 0; c < width; ++c) {
          auto it = std::find(node.expand_cols.begin(), node.expand_cols.end(), static_cast<int>(c));
          if (it == node.expand_cols.end()) {
            out.columns[c].AppendFrom(chunk.col(c), r);
            continue;
          }
          const auto& items = parts[static_cast<size_t>(it - node.expand_cols.begin())];
          if (i < items.size()) {
            AppendConverted(out.columns[c], items[i], true);
            out_bytes += items[i].size();
          } else {
            out.columns[c].AppendNull();
          }
        }
        if (node.with_index) out.columns[width].AppendInt(static_cast<int64_t>(i));
        ++out.rows;
        out_bytes += row_bytes;
        if (out.rows >= next_check) {
          next_check += kExpandCheckRows;
          RETURN_IF_ERROR(held.Resize(out_bytes));
          RETURN_IF_ERROR(CheckBudget(ctx));
        }
      }
    }
    if (out.rows == 0) return OkStatus();
    return sink(Chunk::Own(std::move(out)));
  });
}

namespace {

// kind=simple: literals must appear in order; a column takes the text up to the next literal
// (or the rest of the string when it is last). Returns the captured text per column, or false.
bool MatchSimple(std::string_view text, const std::vector<ParsePart>& pattern,
                 std::vector<std::string_view>& captures) {
  captures.clear();
  std::vector<std::string> column_types;
  for (const ParsePart& p : pattern) {
    if (p.kind == ParsePart::Kind::kColumn) column_types.push_back(p.type);
  }
  size_t pos = 0;
  int pending = -1;  // -2: wildcard, >= 0: index of a column awaiting its end.
  for (const ParsePart& p : pattern) {
    if (p.kind == ParsePart::Kind::kLiteral) {
      size_t at = pending == -1 ? (text.substr(pos, p.text.size()) == p.text ? pos : std::string_view::npos)
                                : text.find(p.text, pos);
      if (at == std::string_view::npos) return false;
      if (pending >= 0) captures[static_cast<size_t>(pending)] = text.substr(pos, at - pos);
      pos = at + p.text.size();
      pending = -1;
    } else if (p.kind == ParsePart::Kind::kColumn) {
      captures.emplace_back();
      pending = static_cast<int>(captures.size()) - 1;
    } else {
      if (pending >= 0) {  // a column before '*': numbers take their digits, strings nothing
        std::string_view rest = text.substr(pos);
        size_t n = 0;
        bool numeric = p.kind == ParsePart::Kind::kWildcard && !column_types[static_cast<size_t>(pending)].empty() &&
                       column_types[static_cast<size_t>(pending)] != "string";
        while (numeric && n < rest.size() &&
               (std::isdigit(static_cast<unsigned char>(rest[n])) || (n == 0 && rest[n] == '-') || rest[n] == '.')) {
          ++n;
        }
        captures[static_cast<size_t>(pending)] = rest.substr(0, n);
        pos += n;
      }
      pending = -2;
    }
  }
  if (pending >= 0) captures[static_cast<size_t>(pending)] = text.substr(pos);
  return true;
}

std::string RegexOf(const std::vector<ParsePart>& pattern) {
  std::string re;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const ParsePart& p = pattern[i];
    bool last = i + 1 == pattern.size();
    if (p.kind == ParsePart::Kind::kLiteral) re += p.text;
    else if (p.kind == ParsePart::Kind::kColumn) re += last ? "(.*)" : "(.*?)";
    else re += ".*?";
  }
  return re;
}

}  // namespace

Status RunParse(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  std::unique_ptr<RE2> re;
  if (node.regex) {
    ASSIGN_OR_RETURN(re, fn::CompileRegex("parse", RegexOf(node.pattern)));
  }
  std::vector<int> targets;  // output column per pattern column
  for (const ParsePart& p : node.pattern) {
    if (p.kind != ParsePart::Kind::kColumn) continue;
    for (size_t c = 0; c < node.schema.size(); ++c) {
      if (node.schema[c].name == p.text) targets.push_back(static_cast<int>(c));
    }
  }
  return Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    FunctionContext fctx{chunk.rows, ctx.now, ctx.budget};
    ASSIGN_OR_RETURN(ColumnValue src, Eval(node.predicate, chunk, fctx));
    std::vector<Column> outs;
    for (int t : targets) outs.emplace_back(node.schema[static_cast<size_t>(t)].type);
    std::vector<std::string_view> caps;
    std::vector<re2::StringPiece> groups(re ? static_cast<size_t>(re->NumberOfCapturingGroups()) + 1 : 0);
    for (size_t r = 0; r < chunk.rows; ++r) {
      std::string text = ValueToText(src.get(), r);
      bool ok;
      if (re) {
        ok = re->Match(text, 0, text.size(), RE2::UNANCHORED, groups.data(), static_cast<int>(groups.size()));
        caps.clear();
        for (size_t i = 1; ok && i < groups.size(); ++i) caps.emplace_back(groups[i].data(), groups[i].size());
      } else {
        ok = MatchSimple(text, node.pattern, caps);
      }
      for (size_t i = 0; i < outs.size(); ++i) {
        if (ok && i < caps.size()) {
          AppendConverted(outs[i], caps[i], false);
        } else {
          outs[i].AppendNull();
        }
      }
    }
    // Input columns are shared; the parsed ones replace (or follow) them in the output.
    Chunk out;
    out.rows = chunk.rows;
    for (size_t c = 0; c < node.schema.size(); ++c) {
      auto it = std::find(targets.begin(), targets.end(), static_cast<int>(c));
      if (it != targets.end()) out.Add(std::move(outs[static_cast<size_t>(it - targets.begin())]));
      else out.AddShared(chunk.shared(c));
    }
    return sink(std::move(out));
  });
}

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
