// union (kind=outer/inner, withsource, isfuzzy, wildcard table names); search's union of its
// tables is bound here too (binder_search.cc).
#include <algorithm>
#include <set>

#include "kql/exec/eval.h"
#include "kql/functions/aggregates.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {

std::vector<std::string> Binder::ViewNames(const Scope* s) const {
  std::vector<std::string> out;
  std::set<std::string> seen;  // an inner let hides an outer one of the same name
  for (; s != nullptr; s = s->parent) {
    for (const auto& [name, b] : s->names) {
      if (!seen.insert(name).second) continue;
      if (b.kind == Binding::Kind::kFunction && b.fn->is_view) out.push_back(name);
    }
  }
  std::reverse(out.begin(), out.end());  // in the order they were defined
  return out;
}

std::vector<std::string> Binder::TablesInScope(const Scope* s) const {
  std::vector<std::string> out;
  for (std::string& t : ctx_.catalog->TableNames()) {
    if (TableAllowed(t, s)) out.push_back(std::move(t));
  }
  for (std::string& v : ViewNames(s)) {
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(std::move(v));
  }
  return out;
}

namespace {

// Whether a leg failed only because the table or view `name` it reads does not resolve (it does
// not exist or restrict hides it): what isfuzzy tolerates (union-operator.md: "only applies to
// the union sources resolution phase"). Any other failure of a leg -- a type error, an unknown
// column, the budget -- fails the query.
bool IsUnresolvedLeg(const Status& status, const std::string& name) {
  return status.message().rfind("Failed to resolve table expression named '" + name + "'", 0) == 0;
}

}  // namespace

Result<std::vector<PlanPtr>> Binder::BindLegs(const std::vector<TabularPtr>& tables, bool fuzzy,
                                              const Scope* s) {
  // `set best_effort = true;` resolves every union fuzzily (union-operator.md).
  auto best_effort = request_properties_.find("best_effort");
  if (best_effort != request_properties_.end() && best_effort->second.type == Type::kBool &&
      !best_effort->second.IsNull(0) && best_effort->second.Int(0) != 0) {
    fuzzy = true;
  }
  std::vector<PlanPtr> legs;
  for (const TabularPtr& t : tables) {
    const std::string& name = t->source.name;
    if (t->source.kind == SourceKind::kTable && name.find('*') != std::string::npos) {
      for (const std::string& table : TablesInScope(s)) {
        if (!WildcardMatch(name, table)) continue;
        Result<PlanPtr> leg = ResolveTable(table, t->pos, s);
        if (!leg.ok() && fuzzy && IsUnresolvedLeg(leg.status(), table)) continue;
        if (!leg.ok()) return leg.status();
        legs.push_back(std::move(*leg));
      }
      continue;
    }
    Result<PlanPtr> leg = BindTabular(*t, s);
    if (!leg.ok() && fuzzy && t->source.kind == SourceKind::kTable &&
        IsUnresolvedLeg(leg.status(), name)) {
      continue;
    }
    if (!leg.ok()) return leg.status();
    legs.push_back(std::move(*leg));
  }
  // isfuzzy=true tolerates legs that do not resolve, but not all of them.
  if (legs.empty() && !tables.empty()) {
    return SemanticError("union: no table matches '" + tables[0]->source.name + "'", tables[0]->pos);
  }
  return legs;
}

// Output names of union kind=outer: a name seen with one type keeps it; one seen with several
// types becomes name_type per type, numbered (x_long1) when that collides with another name.
static std::map<std::pair<std::string, Type>, std::string> UnionNames(const std::vector<PlanPtr>& legs) {
  std::map<std::string, std::set<Type>> types;
  for (const PlanPtr& leg : legs) {
    for (const ColumnSchema& c : leg->schema) types[c.name].insert(c.type);
  }
  std::set<std::string> taken;
  for (const auto& [name, ts] : types) {
    if (ts.size() == 1) taken.insert(name);
  }
  std::map<std::pair<std::string, Type>, std::string> out;
  for (const PlanPtr& leg : legs) {
    for (const ColumnSchema& c : leg->schema) {
      auto key = std::make_pair(c.name, c.type);
      if (out.count(key) > 0) continue;
      if (types[c.name].size() == 1) {
        out[key] = c.name;
        continue;
      }
      std::string base = c.name + "_" + TypeName(c.type), name = base;
      for (int i = 1; taken.count(name) > 0; ++i) name = base + std::to_string(i);
      taken.insert(name);
      out[key] = name;
    }
  }
  return out;
}

// union kind=outer (default): every column by name; a name seen with different types becomes
// name_type for each type. kind=inner: columns (name and type) common to every leg.
Result<PlanPtr> Binder::BindUnion(std::vector<PlanPtr> legs, const std::vector<Option>& options,
                                  const Position& pos) {
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kUnion;
  std::string source = OptionValue(options, "withsource");
  std::string kind = OptionValue(options, "kind");
  if (!kind.empty() && kind != "inner" && kind != "outer") {
    return SemanticError("union: kind must be inner or outer, not '" + kind + "'", pos);
  }
  bool inner = kind == "inner";
  std::map<std::pair<std::string, Type>, std::string> names = UnionNames(legs);
  Schema out;
  auto out_name = [&](const ColumnSchema& c) { return names[{c.name, c.type}]; };
  for (const PlanPtr& leg : legs) {
    for (const ColumnSchema& c : leg->schema) {
      std::string name = out_name(c);
      if (FindColumn(out, name) >= 0) continue;
      if (inner) {
        bool everywhere = std::all_of(legs.begin(), legs.end(), [&](const PlanPtr& l) {
          int i = FindColumn(l->schema, c.name);
          return i >= 0 && l->schema[static_cast<size_t>(i)].type == c.type;
        });
        if (!everywhere) continue;
      }
      out.push_back({name, c.type});
    }
  }
  if (!source.empty()) {
    n->with_source = true;
    n->schema.push_back({source, Type::kString});
  }
  for (const ColumnSchema& c : out) n->schema.push_back(c);
  for (size_t i = 0; i < legs.size(); ++i) {
    std::vector<int> map;
    for (const ColumnSchema& c : out) {
      int found = -1;
      for (size_t j = 0; j < legs[i]->schema.size(); ++j) {
        const ColumnSchema& lc = legs[i]->schema[j];
        if (out_name(lc) == c.name && lc.type == c.type) found = static_cast<int>(j);
      }
      map.push_back(found);
    }
    n->leg_maps.push_back(std::move(map));
    n->leg_names.push_back(!legs[i]->name.empty() ? legs[i]->name : "union_arg" + std::to_string(i));
    n->inputs.push_back(std::move(legs[i]));
  }
  return PlanPtr(std::move(n));
}

}  // namespace cmk::kql::internal
