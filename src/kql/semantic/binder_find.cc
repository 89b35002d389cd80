// find: a union of tables (named, wildcards, views; every table and view in scope by default),
// each filtered by the predicate and projected onto find's output schema (find-operator.md):
// source_ (or withsource=), then project-smart's columns (those the predicate names and those
// common to every table, the rest packed into pack_) or the project list (with optional types
// and pack_all()).
#include <algorithm>
#include <set>

#include "kql/exec/eval.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {
namespace {

// The bare names the predicate mentions (not inside subqueries): its candidate columns.
void NamesIn(const Expr& e, std::set<std::string>& out) {
  std::vector<const Expr*> pending{&e};
  while (!pending.empty()) {
    const Expr* x = pending.back();
    pending.pop_back();
    if (x->kind == ExprKind::kName && x->name != "*") out.insert(x->name);
    for (const ExprPtr& a : x->args) pending.push_back(a.get());
  }
}

// `find "term"`: the term looked for in every column (`* has "term"`), else nullptr.
const Expr* SearchTerm(const Expr& e) {
  return e.kind == ExprKind::kLiteral && e.literal.kind == LiteralKind::kString ? &e : nullptr;
}

BoundExpr StringLiteral(const std::string& s) {
  Column k = Column::Constant(Type::kString);
  k.AppendString(s);
  return BoundExpr::Constant(std::move(k));
}

// The cast function of `project Col:type`.
const char* CastFunction(Type t) {
  switch (t) {
    case Type::kBool: return "tobool";
    case Type::kInt: return "toint";
    case Type::kLong: return "tolong";
    case Type::kReal: return "toreal";
    case Type::kDecimal: return "todecimal";
    case Type::kString: return "tostring";
    case Type::kDateTime: return "todatetime";
    case Type::kTimespan: return "totimespan";
    case Type::kGuid: return "toguid";
    case Type::kDynamic: return "todynamic";
  }
  return "tostring";
}

// The predicate's columns: each name that is a column of some table, with its first type.
Schema PredicateColumns(const std::set<std::string>& names, const std::vector<PlanPtr>& legs) {
  Schema out;
  for (const PlanPtr& leg : legs) {
    for (const ColumnSchema& c : leg->schema) {
      if (names.count(c.name) > 0 && FindColumn(out, c.name) < 0) out.push_back(c);
    }
  }
  return out;
}

// project-smart: the predicate's columns, then those every kept table has (same type). A term
// search names no column: everything goes into pack_.
Schema SmartColumns(const Schema& pred_cols, const std::vector<PlanPtr>& kept) {
  Schema out = pred_cols;
  if (pred_cols.empty() || kept.empty()) return out;
  for (const ColumnSchema& c : kept[0]->schema) {
    if (FindColumn(out, c.name) >= 0) continue;
    bool common = std::all_of(kept.begin(), kept.end(), [&](const PlanPtr& l) {
      int i = FindColumn(l->schema, c.name);
      return i >= 0 && l->schema[static_cast<size_t>(i)].type == c.type;
    });
    if (common) out.push_back(c);
  }
  return out;
}

// project's columns, one per item (pack_all() included): the declared type, else the type of
// the first table that has the column (string when none has it).
Result<Schema> ListedColumns(const Operator& op, const std::vector<PlanPtr>& kept) {
  Schema out;
  for (const NamedExpr& item : op.items) {
    ColumnSchema c{item.name, Type::kString};
    if (item.name == "pack_all()") {
      c = {"pack_", Type::kDynamic};
    } else if (!item.type.empty()) {
      std::optional<Type> t = ParseTypeName(item.type);
      if (!t) return SemanticError("find: unknown type '" + item.type + "'", op.pos);
      c.type = *t;
    } else {
      for (const PlanPtr& leg : kept) {
        int i = FindColumn(leg->schema, item.name);
        if (i < 0) continue;
        c.type = leg->schema[static_cast<size_t>(i)].type;
        break;
      }
    }
    out.push_back(c);
  }
  return out;
}

// No table to search: an empty table of the documented shape.
PlanPtr EmptyFindResult(const Operator& op, const std::string& source, const Schema& shown) {
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kValues;
  n->schema.push_back({source, Type::kString});
  if (op.name == "project") {
    for (const ColumnSchema& c : shown) n->schema.push_back(c);
  } else {
    n->schema.push_back({"pack_", Type::kDynamic});
  }
  n->values = EmptyTable(n->schema);
  return n;
}

}  // namespace

// bag_pack over the given columns of `schema`, 64 pairs per call (its limit), merged.
Result<BoundExpr> Binder::FindPack(const Schema& schema, const std::vector<int>& cols, const Position& pos) {
  std::vector<BoundExpr> bags, args;
  for (size_t i = 0; i <= cols.size(); ++i) {
    if ((i == cols.size() && (!args.empty() || bags.empty())) || args.size() == 128) {
      ASSIGN_OR_RETURN(BoundExpr bag, MakeCall(FindFunction("bag_pack"), std::move(args), "bag_pack", pos));
      bags.push_back(std::move(bag));
      args.clear();
    }
    if (i == cols.size()) break;
    const ColumnSchema& c = schema[static_cast<size_t>(cols[i])];
    args.push_back(StringLiteral(c.name));
    args.push_back(BoundExpr::ColumnRef(cols[i], c.type));
  }
  while (bags.size() > 1) {  // bag_merge takes at most 64 bags: merge them in groups
    std::vector<BoundExpr> next;
    for (size_t i = 0; i < bags.size(); i += 64) {
      std::vector<BoundExpr> group;
      for (size_t j = i; j < bags.size() && j < i + 64; ++j) group.push_back(std::move(bags[j]));
      if (group.size() == 1) {
        next.push_back(std::move(group[0]));
        continue;
      }
      ASSIGN_OR_RETURN(BoundExpr m, MakeCall(FindFunction("bag_merge"), std::move(group), "bag_merge", pos));
      next.push_back(std::move(m));
    }
    bags = std::move(next);
  }
  return std::move(bags[0]);
}

Result<PlanPtr> Binder::BindFind(const Operator& op, PlanPtr in, const Scope* s) {
  if (in) return SemanticError("find starts a query: it takes no input", op.pos);
  std::vector<PlanPtr> legs;
  if (!op.tables.empty()) {
    ASSIGN_OR_RETURN(legs, BindLegs(op.tables, false, s));
  } else {
    for (const std::string& t : TablesInScope(s)) {
      ASSIGN_OR_RETURN(PlanPtr leg, ResolveTable(t, op.pos, s));
      legs.push_back(std::move(leg));
    }
  }
  const Expr* term = SearchTerm(*op.expr);
  std::set<std::string> names;
  if (term == nullptr) NamesIn(*op.expr, names);
  Schema pred_cols = PredicateColumns(names, legs);
  // Tables that have none of the predicate's columns are left out (all of them when it names
  // no column of any table, only names that are not lets either).
  bool unknown = pred_cols.empty() && std::any_of(names.begin(), names.end(), [&](const std::string& n) {
                   return s->Find(n) == nullptr;
                 });
  std::vector<PlanPtr> kept;
  for (PlanPtr& leg : legs) {
    if (unknown) break;
    bool any = pred_cols.empty() || std::any_of(pred_cols.begin(), pred_cols.end(), [&](const ColumnSchema& c) {
                 return FindColumn(leg->schema, c.name) >= 0;
               });
    if (any) kept.push_back(std::move(leg));
  }
  Schema shown;
  if (op.name == "project") {
    ASSIGN_OR_RETURN(shown, ListedColumns(op, kept));
  } else {
    shown = SmartColumns(pred_cols, kept);
  }
  std::vector<PlanPtr> out_legs;
  for (size_t i = 0; i < kept.size(); ++i) {
    ASSIGN_OR_RETURN(PlanPtr leg, FindLeg(op, std::move(kept[i]), term, pred_cols, shown, s));
    out_legs.push_back(std::move(leg));
  }
  std::string source = OptionValue(op.options, "withsource");
  if (source.empty()) source = "source_";
  if (out_legs.empty()) return EmptyFindResult(op, source, shown);
  return BindUnion(std::move(out_legs), {{"withsource", source}}, op.pos);
}

// One table of find: missing predicate columns as nulls, the filter, then the projection
// (`smart`: project-smart's columns, or for project the listed columns with their types).
Result<PlanPtr> Binder::FindLeg(const Operator& op, PlanPtr leg, const Expr* term, const Schema& pred_cols,
                                const Schema& smart, const Scope* s) {
  std::string name = leg->name;
  size_t own = leg->schema.size();
  auto widen = std::make_unique<PlanNode>();
  widen->kind = NodeKind::kProject;
  for (size_t c = 0; c < own; ++c) {
    widen->schema.push_back(leg->schema[c]);
    widen->exprs.push_back(BoundExpr::ColumnRef(static_cast<int>(c), leg->schema[c].type));
  }
  for (const ColumnSchema& c : pred_cols) {
    if (FindColumn(widen->schema, c.name) >= 0) continue;
    widen->schema.push_back(c);
    widen->exprs.push_back(BoundExpr::Constant(NullConstant(c.type)));
  }
  widen->inputs.push_back(std::move(leg));
  auto filter = std::make_unique<PlanNode>();
  filter->schema = widen->schema;
  filter->kind = NodeKind::kFilter;
  if (term != nullptr) {  // no predicate column: widen added none, every column is the table's
    ASSIGN_OR_RETURN(filter->predicate, BindEveryColumn("has", StringLiteral(term->literal.text), widen->schema, term->pos));
  } else {
    ASSIGN_OR_RETURN(filter->predicate, BindExpr(*op.expr, widen->schema, s));
    if (filter->predicate.type != Type::kBool) return SemanticError("find: the predicate must be bool", op.expr->pos);
  }
  filter->inputs.push_back(std::move(widen));
  return FindProject(op, std::move(filter), own, smart, name);
}

// The projection of one table's filtered rows (its first `own` columns are its own): the listed
// or project-smart columns, then pack_ of the columns not shown.
Result<PlanPtr> Binder::FindProject(const Operator& op, PlanPtr filter, size_t own, const Schema& smart,
                                    const std::string& name) {
  const Schema& in = filter->schema;
  auto proj = std::make_unique<PlanNode>();
  proj->kind = NodeKind::kProject;
  proj->name = name;
  std::vector<bool> shown(own, false);
  bool pack = op.name != "project";
  if (op.name == "project") {
    for (size_t k = 0; k < op.items.size(); ++k) {
      const NamedExpr& item = op.items[k];
      if (item.name == "pack_all()") {
        pack = true;
        continue;
      }
      int c = FindColumn(in, item.name);
      if (c >= 0 && static_cast<size_t>(c) < own) shown[static_cast<size_t>(c)] = true;
      BoundExpr v = c >= 0 ? BoundExpr::ColumnRef(c, in[static_cast<size_t>(c)].type)
                           : BoundExpr::Constant(NullConstant(smart[k].type));
      if (!item.type.empty() && v.type != smart[k].type) {  // `Column:type`: converted
        std::vector<BoundExpr> args;
        args.push_back(std::move(v));
        const char* cast = CastFunction(smart[k].type);
        ASSIGN_OR_RETURN(v, MakeCall(FindFunction(cast), std::move(args), cast, op.pos));
      }
      proj->schema.push_back({item.name, v.type});
      proj->exprs.push_back(std::move(v));
    }
  } else {
    for (const ColumnSchema& c : smart) {
      int i = FindColumn(in, c.name);
      if (i < 0) continue;  // a predicate column of another type: that table's own column is used
      if (static_cast<size_t>(i) < own) shown[static_cast<size_t>(i)] = true;
      proj->schema.push_back(in[static_cast<size_t>(i)]);
      proj->exprs.push_back(BoundExpr::ColumnRef(i, in[static_cast<size_t>(i)].type));
    }
  }
  if (pack) {
    std::vector<int> rest;
    for (size_t c = 0; c < own; ++c) {
      if (!shown[c]) rest.push_back(static_cast<int>(c));
    }
    ASSIGN_OR_RETURN(BoundExpr bag, FindPack(in, rest, op.pos));
    proj->schema.push_back({"pack_", Type::kDynamic});
    proj->exprs.push_back(std::move(bag));
  }
  proj->inputs.push_back(std::move(filter));
  return PlanPtr(std::move(proj));
}

}  // namespace cmk::kql::internal
