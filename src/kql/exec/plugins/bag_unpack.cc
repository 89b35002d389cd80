// bag_unpack(Column [, Prefix] [, columnsConflict] [, ignoredProperties]): one column per
// top-level slot of the bags in Column (sorted by name, as Kusto lists them), typed by the
// slot's values when they agree, dynamic when they don't. Null values are ignored.
#include <map>
#include <set>

#include "kql/exec/eval.h"
#include "kql/exec/plugins/plugins.h"
#include "kql/functions/function_json.h"

namespace cmk::kql::plugins {
namespace {

namespace bj = boost::json;

// More slots than this is an error: each becomes a column of every row.
constexpr size_t kMaxSlots = 10'000;

Status ArgError(const std::string& message) { return InvalidArgument("bag_unpack(): " + message, "SemanticError"); }

Type JsonType(const bj::value& v) {
  if (v.is_int64() || v.is_uint64()) return Type::kLong;
  if (v.is_double()) return Type::kReal;
  if (v.is_string()) return Type::kString;
  if (v.is_bool()) return Type::kBool;
  return Type::kDynamic;
}

struct Options {
  std::string prefix;
  std::string conflict = "error";
  std::set<std::string> ignored;
};

Result<Options> ReadOptions(const PluginArgs& args) {
  Options o;
  for (size_t i = 1; i < args.values.size(); ++i) {
    const Column& v = args.values[i];
    const std::string& name = args.names[i];
    std::string which = !name.empty() ? name : i == 1 ? "OutputColumnPrefix" : i == 2 ? "columnsConflict" : "ignoredProperties";
    if (!v.constant) return ArgError(which + " must be a constant");
    if (which == "OutputColumnPrefix" && v.type == Type::kString) {
      o.prefix = v.Str(0);
    } else if (which == "columnsConflict" && v.type == Type::kString) {
      o.conflict = v.Str(0);
      if (o.conflict != "error" && o.conflict != "replace_source" && o.conflict != "keep_source") {
        return ArgError("columnsConflict is error, replace_source or keep_source, not '" + o.conflict + "'");
      }
    } else if (which == "ignoredProperties" && v.type == Type::kDynamic) {
      std::optional<bj::value> list = v.IsNull(0) ? std::nullopt : fn::ParseJson(v.Str(0));
      if (!list || !list->is_array()) return ArgError("ignoredProperties must be an array of names");
      for (const bj::value& n : list->get_array()) {
        if (n.is_string()) o.ignored.insert(std::string(n.get_string()));
      }
    } else {
      return ArgError("unexpected argument '" + which + "'");
    }
  }
  return o;
}

}  // namespace

Result<Table> BagUnpack(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  if (args.values.empty() || args.values.size() > 4) return ArgError("takes 1 to 4 arguments");
  if (args.columns[0] < 0 || args.values[0].type != Type::kDynamic) return ArgError("the first argument must be a dynamic column");
  ASSIGN_OR_RETURN(Options opt, ReadOptions(args));
  const Column& bags = args.values[0];
  // Pass 1: the slots and their types.
  std::vector<std::optional<bj::object>> parsed(input.rows);
  std::map<std::string, std::optional<Type>> slots;  // nullopt type: only nulls so far
  for (size_t r = 0; r < input.rows; ++r) {
    RETURN_IF_ERROR(TickBudget(ctx));
    if (bags.IsNull(r)) continue;
    std::optional<bj::value> v = fn::ParseJson(bags.Str(r));
    if (!v || !v->is_object()) continue;
    for (const auto& kv : v->get_object()) {
      std::string key(kv.key());
      if (opt.ignored.count(key) > 0) continue;
      auto [it, added] = slots.emplace(key, std::nullopt);
      if (added && slots.size() > kMaxSlots) return ArgError("more than 10000 distinct slots");
      if (kv.value().is_null()) continue;
      Type t = JsonType(kv.value());
      if (!it->second) it->second = t;
      else if (*it->second != t) it->second = Type::kDynamic;
    }
    parsed[r] = std::move(v->get_object());
  }
  // The output columns: the input's (but the bag column), then the slots.
  Table out;
  std::vector<int> source;  // per output column: input column, or -1 - slot index
  std::vector<std::string> slot_names;
  for (const auto& [name, t] : slots) slot_names.push_back(name);
  std::map<std::string, size_t> by_output;  // prefixed slot name -> slot index
  for (size_t i = 0; i < slot_names.size(); ++i) by_output.emplace(opt.prefix + slot_names[i], i);
  std::vector<bool> slot_taken(slot_names.size(), false);
  for (size_t c = 0; c < input.columns.size(); ++c) {
    if (static_cast<int>(c) == args.columns[0]) continue;
    auto hit = by_output.find(input.names[c]);
    if (hit != by_output.end()) {
      if (opt.conflict == "error") {
        return ArgError("the slot '" + slot_names[hit->second] + "' conflicts with the column '" + input.names[c] +
                        "' (columnsConflict='replace_source' or 'keep_source')");
      }
      slot_taken[hit->second] = true;
      if (opt.conflict == "replace_source") {
        out.AddColumn(input.names[c], Column(slots[slot_names[hit->second]].value_or(Type::kDynamic)));
        source.push_back(-1 - static_cast<int>(hit->second));
        continue;
      }
    }
    out.AddColumn(input.names[c], input.columns[c]);
    source.push_back(static_cast<int>(c));
  }
  size_t s = 0;
  for (const auto& [name, t] : slots) {
    if (!slot_taken[s]) {
      out.AddColumn(opt.prefix + name, Column(t.value_or(Type::kDynamic)));
      source.push_back(-1 - static_cast<int>(s));
    }
    ++s;
  }
  // Pass 2: the slot columns' values.
  MemoryReservation held(ctx.budget, "bag_unpack");
  for (size_t c = 0; c < out.columns.size(); ++c) {
    if (source[c] >= 0) continue;
    const std::string& slot = slot_names[static_cast<size_t>(-1 - source[c])];
    Column& col = out.columns[c];
    col.Reserve(input.rows);
    for (size_t r = 0; r < input.rows; ++r) {
      const bj::value* v = parsed[r] ? parsed[r]->if_contains(slot) : nullptr;
      if (v == nullptr || v->is_null()) {
        col.AppendNull();
      } else {
        AppendConverted(col, fn::WriteJson(*v), true);
      }
    }
    DropStringNulls(col);
    RETURN_IF_ERROR(held.Grow(ApproxBytes(col)));
    RETURN_IF_ERROR(CheckBudget(ctx));
  }
  out.rows = input.rows;
  return out;
}

}  // namespace cmk::kql::plugins
