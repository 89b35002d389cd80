// schema_merge([PreserveOrder]): merges schemas in getschema's shape (ColumnName,
// ColumnOrdinal, DataType, ColumnType), one after the other (as `union` of getschema outputs
// gives them), the first schema holding a column first. The merged schema lists each column
// once, in order of first appearance (PreserveOrder) or by its last ordinal: int and
// long reduce to long, int/long and real to real; other differing types, and (PreserveOrder,
// the default) a column met at another ordinal than in the first schema holding it, are errors
// shown in the column's row, which then comes last with ordinal -1.
#include <algorithm>
#include <map>

#include "kql/exec/eval.h"
#include "kql/exec/plugins/analytics_util.h"
#include "kql/exec/plugins/plugins.h"

namespace cmk::kql::plugins {
namespace {

using analytics::ArgError;

constexpr std::string_view kSchemaMerge = "schema_merge";

struct Merged {
  std::string name, data_type, column_type, error;
  int64_t first_ordinal = 0, last_ordinal = 0;
  size_t appearance = 0;
};

// The .NET name of a type CommonType can widen to (long or real). Any other type keeps the
// first schema's DataType, so the fallback is only a guard: "System.Object" rather than a null.
std::string_view DotNetName(std::string_view type) {
  if (type == "long") return "System.Int64";
  if (type == "real") return "System.Double";
  return "System.Object";
}

// The type both `a` and `b` reduce to, or "" when there is none.
std::string CommonType(const std::string& a, const std::string& b) {
  if (a == b) return a;
  auto rank = [](const std::string& t) {
    return t == "int" ? 1 : t == "long" ? 2 : t == "real" ? 3 : 0;
  };
  int ra = rank(a), rb = rank(b);
  if (ra == 0 || rb == 0) return "";
  return ra > rb ? a : b;
}

Result<bool> PreserveOrder(const PluginArgs& args) {
  if (args.values.empty()) return true;
  if (args.values.size() > 1) return ArgError(kSchemaMerge, "takes at most one argument, PreserveOrder");
  if (!args.names[0].empty() && args.names[0] != "PreserveOrder")
    return ArgError(kSchemaMerge, "unknown argument '" + args.names[0] + "'");
  const Column& v = args.values[0];
  if (!v.constant || v.type != Type::kBool || v.IsNull(0))
    return ArgError(kSchemaMerge, "PreserveOrder must be a constant bool");
  return v.Int(0) != 0;
}

}  // namespace

Result<Table> SchemaMerge(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  ASSIGN_OR_RETURN(bool preserve, PreserveOrder(args));
  int name_c = input.Find("ColumnName"), ord_c = input.Find("ColumnOrdinal"),
      dt_c = input.Find("DataType"), ct_c = input.Find("ColumnType");
  if (name_c < 0 || ord_c < 0 || dt_c < 0 || ct_c < 0 ||
      !IsIntegral(input.columns[static_cast<size_t>(ord_c)].type) ||
      input.columns[static_cast<size_t>(name_c)].type != Type::kString) {
    return ArgError(kSchemaMerge,
                    "the input must be schemas as getschema returns them (ColumnName, "
                    "ColumnOrdinal, DataType, ColumnType)");
  }
  const Column& names = input.columns[static_cast<size_t>(name_c)];
  const Column& ords = input.columns[static_cast<size_t>(ord_c)];
  std::map<std::string, size_t> index;
  std::vector<Merged> cols;
  MemoryReservation held(ctx.budget, std::string(kSchemaMerge));
  for (size_t r = 0; r < input.rows; ++r) {
    RETURN_IF_ERROR(TickBudget(ctx));
    int64_t ord = ords.IsNull(r) ? 0 : ords.Int(r);
    std::string type = ValueToText(input.columns[static_cast<size_t>(ct_c)], r);
    auto [it, added] = index.emplace(names.Str(r), cols.size());
    if (added) {
      cols.push_back({std::string(names.Str(r)), ValueToText(input.columns[static_cast<size_t>(dt_c)], r), type,
                      "", ord, ord, r});
      RETURN_IF_ERROR(held.Grow(names.Str(r).size() * 2 + type.size() + 128));
      continue;
    }
    Merged& m = cols[it->second];
    m.last_ordinal = ord;
    if (!m.error.empty()) continue;
    if (preserve && ord != m.first_ordinal) {
      m.error = "columns are out of order";
      continue;
    }
    std::string common = CommonType(m.column_type, type);
    if (common.empty()) {
      m.error = "type mismatch: " + m.column_type + " and " + type;
    } else if (common != m.column_type) {
      m.column_type = common;
      m.data_type = DotNetName(common);
    }
  }
  std::vector<const Merged*> order;
  for (const Merged& m : cols) order.push_back(&m);
  if (!preserve) {
    std::stable_sort(order.begin(), order.end(), [](const Merged* a, const Merged* b) {
      return a->last_ordinal < b->last_ordinal;
    });
  }
  std::stable_partition(order.begin(), order.end(),
                        [](const Merged* m) { return m->error.empty(); });
  Table out;
  Column n(Type::kString), o(Type::kInt), d(Type::kString), t(Type::kString);
  int64_t next = 0;
  for (const Merged* m : order) {
    n.AppendString(m->name);
    o.AppendInt(m->error.empty() ? next++ : -1);
    d.AppendString(m->error.empty() ? m->data_type
                                    : "ERROR(unknown CSL type:ERROR(" + m->error + "))");
    t.AppendString(m->error.empty() ? m->column_type : "ERROR(" + m->error + ")");
  }
  out.AddColumn("ColumnName", std::move(n));
  out.AddColumn("ColumnOrdinal", std::move(o));
  out.AddColumn("DataType", std::move(d));
  out.AddColumn("ColumnType", std::move(t));
  out.rows = order.size();
  return out;
}

}  // namespace cmk::kql::plugins
