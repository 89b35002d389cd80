// mv-expand: one output row per element of the expanded dynamic arrays (or bag properties).
#include <algorithm>
#include <boost/json.hpp>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"
#include "kql/functions/function_json.h"

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

}  // namespace cmk::kql
