// Tabular operators with their own shapes: join/lookup, union, search, make-series, mv-expand,
// parse; and the scan push-down of needed columns and TimeGenerated bounds.
#include <algorithm>
#include <set>

#include "kql/aggregates.h"
#include "kql/binder_internal.h"
#include "kql/eval.h"

namespace cmk::kql::internal {
namespace {

int FindCol(const Schema& s, const std::string& name) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::string Opt(const std::vector<Option>& options, const std::string& key) {
  for (const Option& o : options) {
    if (o.key == key) return o.value;
  }
  return "";
}

// `$left.a` / `$right.b`: the side ("$left"/"$right") and column, or empty.
std::pair<std::string, std::string> SideOf(const Expr& e) {
  if (e.kind == ExprKind::kMember && e.args.size() == 1 && e.args[0]->kind == ExprKind::kName &&
      (e.args[0]->name == "$left" || e.args[0]->name == "$right")) {
    return {e.args[0]->name, e.name};
  }
  return {};
}

}  // namespace

Result<PlanPtr> Binder::BindJoin(const Operator& op, PlanPtr in, const Scope* s) {
  ASSIGN_OR_RETURN(PlanPtr right, BindTabular(*op.tables[0], s));
  bool lookup = op.kind == OpKind::kLookup;
  std::string kind_text = Opt(op.options, "kind");
  if (kind_text.empty()) kind_text = lookup ? "leftouter" : "innerunique";
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kJoin;
  n->lookup = lookup;
  static const std::map<std::string, JoinKind> kKinds = {
      {"innerunique", JoinKind::kInnerUnique}, {"inner", JoinKind::kInner},
      {"leftouter", JoinKind::kLeftOuter},     {"rightouter", JoinKind::kRightOuter},
      {"fullouter", JoinKind::kFullOuter},     {"leftanti", JoinKind::kLeftAnti},
      {"anti", JoinKind::kLeftAnti},           {"leftantisemi", JoinKind::kLeftAnti},
      {"rightanti", JoinKind::kRightAnti},     {"rightantisemi", JoinKind::kRightAnti},
      {"leftsemi", JoinKind::kLeftSemi},       {"rightsemi", JoinKind::kRightSemi}};
  auto kit = kKinds.find(kind_text);
  if (kit == kKinds.end()) return SemanticError("Unknown join kind '" + kind_text + "'", op.pos);
  n->join_kind = kit->second;
  const Schema& ls = in->schema;
  const Schema& rs = right->schema;
  std::set<int> right_keys_same_name;
  for (const NamedExpr& cond : op.by) {
    const Expr& e = *cond.expr;
    std::string l, r;
    if (e.kind == ExprKind::kName) {
      l = r = e.name;
    } else if (e.kind == ExprKind::kBinary && e.name == "==") {
      auto a = SideOf(*e.args[0]);
      auto b = SideOf(*e.args[1]);
      if (a.first == "$right") std::swap(a, b);
      if (a.first != "$left" || b.first != "$right") {
        return SemanticError("join: expected $left.Column == $right.Column", e.pos);
      }
      l = a.second;
      r = b.second;
    } else {
      return SemanticError("join: expected a column name or $left.a == $right.b", e.pos);
    }
    int li = FindCol(ls, l), ri = FindCol(rs, r);
    if (li < 0) return SemanticError("join: unknown left column '" + l + "'", e.pos);
    if (ri < 0) return SemanticError("join: unknown right column '" + r + "'", e.pos);
    if (UsesInts(ls[static_cast<size_t>(li)].type) != UsesInts(rs[static_cast<size_t>(ri)].type) ||
        UsesStrings(ls[static_cast<size_t>(li)].type) != UsesStrings(rs[static_cast<size_t>(ri)].type)) {
      return SemanticError("join: key columns '" + l + "' and '" + r + "' have different types", e.pos);
    }
    n->left_keys.push_back(li);
    n->right_keys.push_back(ri);
    if (lookup) right_keys_same_name.insert(ri);
  }
  JoinKind k = n->join_kind;
  bool right_only = k == JoinKind::kRightAnti || k == JoinKind::kRightSemi;
  bool left_only = k == JoinKind::kLeftAnti || k == JoinKind::kLeftSemi;
  if (right_only) {
    n->schema = rs;
  } else {
    n->schema = ls;
    if (!left_only) {
      for (size_t c = 0; c < rs.size(); ++c) {
        if (right_keys_same_name.count(static_cast<int>(c)) > 0) continue;
        n->right_out.push_back(static_cast<int>(c));
        n->schema.push_back({UniqueName(rs[c].name, n->schema), rs[c].type});
      }
    }
  }
  n->inputs.push_back(std::move(in));
  n->inputs.push_back(std::move(right));
  return PlanPtr(std::move(n));
}

Result<std::vector<PlanPtr>> Binder::BindLegs(const std::vector<TabularPtr>& tables, bool fuzzy,
                                              const Scope* s) {
  std::vector<PlanPtr> legs;
  for (const TabularPtr& t : tables) {
    const std::string& name = t->source.name;
    if (t->source.kind == SourceKind::kTable && name.find('*') != std::string::npos) {
      for (const std::string& table : ctx_.catalog->TableNames()) {
        if (!WildcardMatch(name, table)) continue;
        ASSIGN_OR_RETURN(PlanPtr leg, ResolveTable(table, t->pos, s));
        legs.push_back(std::move(leg));
      }
      continue;
    }
    Result<PlanPtr> leg = BindTabular(*t, s);
    if (!leg.ok() && fuzzy) continue;
    if (!leg.ok()) return leg.status();
    legs.push_back(std::move(*leg));
  }
  if (legs.empty() && !tables.empty() && !fuzzy) {
    return SemanticError("union: no table matches '" + tables[0]->source.name + "'", tables[0]->pos);
  }
  return legs;
}

// union kind=outer (default): every column by name; a name seen with different types becomes
// name_type for each type. kind=inner: columns (name and type) common to every leg.
Result<PlanPtr> Binder::BindUnion(std::vector<PlanPtr> legs, const std::vector<Option>& options,
                                  const Position& pos) {
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kUnion;
  std::string source = Opt(options, "withsource");
  bool inner = Opt(options, "kind") == "inner";
  std::map<std::string, std::set<Type>> types;
  for (const PlanPtr& leg : legs) {
    for (const ColumnSchema& c : leg->schema) types[c.name].insert(c.type);
  }
  Schema out;
  auto out_name = [&](const ColumnSchema& c) {
    return types[c.name].size() > 1 ? c.name + "_" + TypeName(c.type) : c.name;
  };
  for (const PlanPtr& leg : legs) {
    for (const ColumnSchema& c : leg->schema) {
      std::string name = out_name(c);
      if (FindCol(out, name) >= 0) continue;
      if (inner) {
        bool everywhere = std::all_of(legs.begin(), legs.end(), [&](const PlanPtr& l) {
          int i = FindCol(l->schema, c.name);
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
  (void)pos;
  return PlanPtr(std::move(n));
}

// search "term" / search Col has "x" / search in (A, B) "x" / search * has "x".
Result<PlanPtr> Binder::BindSearch(const Operator& op, PlanPtr in, const Scope* s) {
  if (!in || !op.tables.empty()) {
    std::vector<PlanPtr> legs;
    if (in) legs.push_back(std::move(in));
    if (!op.tables.empty()) {
      ASSIGN_OR_RETURN(legs, BindLegs(op.tables, false, s));
    } else if (legs.empty()) {
      for (const std::string& t : ctx_.catalog->TableNames()) {
        ASSIGN_OR_RETURN(PlanPtr leg, ResolveTable(t, op.pos, s));
        legs.push_back(std::move(leg));
      }
    }
    ASSIGN_OR_RETURN(in, BindUnion(std::move(legs), {{"withsource", "$table"}}, op.pos));
  }
  const Expr& e = *op.expr;
  const Expr* term = nullptr;
  if (e.kind == ExprKind::kLiteral && e.literal.kind == LiteralKind::kString) {
    term = &e;
  } else if (e.kind == ExprKind::kBinary && e.args[0]->kind == ExprKind::kName && e.args[0]->name == "*" &&
             e.args[1]->kind == ExprKind::kLiteral && e.args[1]->literal.kind == LiteralKind::kString) {
    term = e.args[1].get();
  }
  auto n = std::make_unique<PlanNode>();
  n->schema = in->schema;
  if (term != nullptr) {
    n->kind = NodeKind::kSearchFilter;
    n->term = term->literal.text;
    for (size_t c = 0; c < n->schema.size(); ++c) {
      if (n->schema[c].name != "$table") n->search_cols.push_back(static_cast<int>(c));
    }
  } else {
    n->kind = NodeKind::kFilter;
    ASSIGN_OR_RETURN(n->predicate, BindExpr(e, in->schema, s));
    if (n->predicate.type != Type::kBool) return SemanticError("search: the predicate must be bool", e.pos);
  }
  n->inputs.push_back(std::move(in));
  return PlanPtr(std::move(n));
}

Result<PlanPtr> Binder::BindMakeSeries(const Operator& op, PlanPtr in, const Scope* s) {
  const Schema& schema = in->schema;
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kMakeSeries;
  AggContext agg;
  agg.input = &schema;
  agg.aggs = &n->aggs;
  for (const NamedExpr& item : op.by) {
    ASSIGN_OR_RETURN(BoundExpr k, BindExpr(*item.expr, schema, s));
    std::string name = !item.name.empty() ? item.name : DefaultName(*item.expr, true);
    if (name.empty()) name = "Column" + std::to_string(n->exprs.size() + 1);
    n->schema.push_back({UniqueName(name, n->schema), k.type});
    n->exprs.push_back(std::move(k));
  }
  for (const NamedExpr& item : op.items) {
    if (item.expr->kind != ExprKind::kCall || FindAggregate(item.expr->name) == nullptr) {
      return SemanticError("make-series needs an aggregate function", item.expr->pos);
    }
    ASSIGN_OR_RETURN(BoundExpr unused, BindAggregateRef(*item.expr, schema, s, &agg, item.name));
    if (item.default_value) {
      ASSIGN_OR_RETURN(BoundExpr d, BindConstant(*item.default_value, s));
      n->aggs.back().default_value = std::move(d.value);
    }
  }
  for (const BoundAggregate& a : n->aggs) n->schema.push_back({UniqueName(a.names[0], n->schema), Type::kDynamic});
  ASSIGN_OR_RETURN(n->axis, BindExpr(*op.expr, schema, s));
  if (!UsesInts(n->axis.type)) return SemanticError("make-series: the axis must be a datetime, timespan or long", op.expr->pos);
  std::string axis_name = DefaultName(*op.expr, true);
  n->schema.push_back({UniqueName(axis_name.empty() ? "Column1" : axis_name, n->schema), Type::kDynamic});
  auto constant_int = [&](const ExprPtr& e, const char* what) -> Result<std::optional<int64_t>> {
    if (!e) return std::optional<int64_t>();
    ASSIGN_OR_RETURN(BoundExpr b, BindConstant(*e, s));
    if (!UsesInts(b.type) || b.value.IsNull(0)) return SemanticError(std::string("make-series: bad ") + what, e->pos);
    return std::optional<int64_t>(b.value.Int(0));
  };
  ASSIGN_OR_RETURN(n->from, constant_int(op.from, "from"));
  ASSIGN_OR_RETURN(n->to, constant_int(op.to, "to"));
  ASSIGN_OR_RETURN(std::optional<int64_t> step, constant_int(op.step, "step"));
  if (!step || *step <= 0) return SemanticError("make-series: step must be positive", op.pos);
  n->step = *step;
  n->inputs.push_back(std::move(in));
  return PlanPtr(std::move(n));
}

Result<PlanPtr> Binder::BindMvExpand(const Operator& op, PlanPtr in, const Scope* s) {
  // Computed items (`v = d.values`) are extended first, then expanded like columns.
  std::vector<NamedExpr> computed;
  for (const NamedExpr& item : op.items) {
    if (item.expr->kind == ExprKind::kName && item.name.empty()) continue;
    NamedExpr copy;
    copy.name = !item.name.empty() ? item.name : DefaultName(*item.expr, false);
    copy.expr.reset(const_cast<Expr*>(item.expr.get()));
    computed.push_back(std::move(copy));
  }
  if (!computed.empty()) {
    Result<PlanPtr> ext = BindProjectLike(OpKind::kExtend, computed, std::move(in), s);
    for (NamedExpr& c : computed) (void)c.expr.release();  // borrowed from `op`
    if (!ext.ok()) return ext.status();
    in = std::move(*ext);
  }
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kMvExpand;
  n->schema = in->schema;
  for (const NamedExpr& item : op.items) {
    std::string name = !item.name.empty() ? item.name : DefaultName(*item.expr, false);
    int c = FindCol(n->schema, name);
    if (c < 0) return SemanticError("mv-expand: unknown column '" + name + "'", item.expr->pos);
    Type t = Type::kDynamic;
    if (!item.type.empty()) {
      std::optional<Type> parsed = ParseTypeName(item.type);
      if (!parsed) return SemanticError("Unknown type '" + item.type + "'", item.expr->pos);
      t = *parsed;
    }
    n->expand_cols.push_back(c);
    n->schema[static_cast<size_t>(c)].type = t;
  }
  n->bag_as_array = Opt(op.options, "bagexpansion") == "array" || Opt(op.options, "kind") == "array";
  std::string index = Opt(op.options, "with_itemindex");
  if (!index.empty()) {
    n->with_index = true;
    n->schema.push_back({index, Type::kLong});
  }
  if (op.expr) {
    ASSIGN_OR_RETURN(BoundExpr limit, BindConstant(*op.expr, s));
    if (!UsesInts(limit.type)) return SemanticError("mv-expand: limit must be a long", op.expr->pos);
    n->limit = limit.value.Int(0);
  }
  n->inputs.push_back(std::move(in));
  return PlanPtr(std::move(n));
}

Result<PlanPtr> Binder::BindParse(const Operator& op, PlanPtr in, const Scope* s) {
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kParse;
  n->schema = in->schema;
  ASSIGN_OR_RETURN(n->predicate, BindExpr(*op.expr, in->schema, s));
  n->pattern = op.pattern;
  std::string kind = Opt(op.options, "kind");
  if (!kind.empty() && kind != "simple" && kind != "regex" && kind != "relaxed") {
    return SemanticError("parse: unknown kind '" + kind + "'", op.pos);
  }
  n->regex = kind == "regex";
  for (const ParsePart& p : op.pattern) {
    if (p.kind != ParsePart::Kind::kColumn) continue;
    Type t = Type::kString;
    if (!p.type.empty()) {
      std::optional<Type> parsed = ParseTypeName(p.type);
      if (!parsed) return SemanticError("Unknown type '" + p.type + "'", op.pos);
      t = *parsed;
    }
    int c = FindCol(n->schema, p.text);
    if (c >= 0) {
      n->schema[static_cast<size_t>(c)].type = t;
    } else {
      n->schema.push_back({p.text, t});
    }
  }
  n->inputs.push_back(std::move(in));
  return PlanPtr(std::move(n));
}

namespace {

void CollectRefs(const BoundExpr& e, std::set<int>& out) {
  if (e.kind == BoundExpr::Kind::kColumn) out.insert(e.column);
  for (const BoundExpr& a : e.args) CollectRefs(a, out);
}

// TimeGenerated bounds implied by `pred` (conjunctions of comparisons with constants).
void TimeBounds(const BoundExpr& e, int col, ScanRequest& scan) {
  if (e.kind != BoundExpr::Kind::kCall) return;
  std::string_view op = e.fn->name;
  if (op == "and") {
    for (const BoundExpr& a : e.args) TimeBounds(a, col, scan);
    return;
  }
  auto is_col = [&](const BoundExpr& b) { return b.kind == BoundExpr::Kind::kColumn && b.column == col; };
  auto is_time = [](const BoundExpr& b) {
    return b.IsConstant() && b.type == Type::kDateTime && !b.value.IsNull(0);
  };
  auto lower = [&](int64_t v) { scan.min_time = scan.min_time ? std::max(*scan.min_time, v) : v; };
  auto upper = [&](int64_t v) { scan.max_time = scan.max_time ? std::min(*scan.max_time, v) : v; };
  if (op == "between" && e.args.size() == 3 && is_col(e.args[0]) && is_time(e.args[1]) && is_time(e.args[2])) {
    lower(e.args[1].value.Int(0));
    upper(e.args[2].value.Int(0));
    return;
  }
  if (e.args.size() != 2) return;
  bool flipped = false;
  const BoundExpr* c = &e.args[1];
  if (!is_col(e.args[0]) || !is_time(*c)) {
    if (!is_col(e.args[1]) || !is_time(e.args[0])) return;
    flipped = true;
    c = &e.args[0];
  }
  int64_t v = c->value.Int(0);
  std::string o(op);
  if (flipped) o = o == ">" ? "<" : o == ">=" ? "<=" : o == "<" ? ">" : o == "<=" ? ">=" : o;
  if (o == ">") lower(v + 1);
  if (o == ">=") lower(v);
  if (o == "<") upper(v - 1);
  if (o == "<=") upper(v);
  if (o == "==") {
    lower(v);
    upper(v);
  }
}

}  // namespace

// Walks the operators fed by `scan`: while they keep the scan's columns at their indexes
// (where, extend, sort, top, take, serialize, project-rename) their references are collected;
// a closing operator (project, summarize, distinct, count) ends the walk with exactly the
// columns needed. Leading where clauses contribute TimeGenerated bounds.
void Binder::PushDown(PlanNode& scan, const std::vector<PlanNode*>& chain) {
  size_t width = scan.schema.size();
  int time_col = FindCol(scan.schema, "TimeGenerated");
  std::set<int> refs;
  bool closed = false, filters = true;
  const PlanNode* prev = &scan;
  for (PlanNode* top : chain) {
    // The node fed by `prev` (summarize under its post-projection, ...), else give up.
    PlanNode* n = top;
    while (n != nullptr && !(n->inputs.size() == 1 && n->inputs[0].get() == prev)) {
      n = n->inputs.size() == 1 ? n->inputs[0].get() : nullptr;
    }
    if (n == nullptr) break;
    prev = top;
    if (n != top && n->kind != NodeKind::kSummarize) break;
    if (n->kind == NodeKind::kFilter) {
      CollectRefs(n->predicate, refs);
      if (filters && time_col >= 0) TimeBounds(n->predicate, time_col, scan.scan);
      continue;
    }
    if (n->kind == NodeKind::kProject && n->inputs[0]->schema.size() <= n->schema.size() &&
        n->exprs.size() == n->schema.size()) {
      // extend/project-rename keep the prefix; other projections close the walk.
      bool prefix = true;
      for (size_t i = 0; i < n->inputs[0]->schema.size() && prefix; ++i) {
        prefix = n->exprs[i].kind == BoundExpr::Kind::kColumn && n->exprs[i].column == static_cast<int>(i);
      }
      for (size_t i = 0; i < n->exprs.size(); ++i) {
        bool pass = prefix && i < n->inputs[0]->schema.size();
        if (!pass) CollectRefs(n->exprs[i], refs);
      }
      filters = false;
      if (prefix) continue;
      closed = true;
      break;
    }
    filters = false;
    if (n->kind == NodeKind::kSort || n->kind == NodeKind::kTop || n->kind == NodeKind::kTake ||
        n->kind == NodeKind::kSerialize) {
      for (const BoundExpr& e : n->exprs) CollectRefs(e, refs);
      continue;
    }
    if (n->kind == NodeKind::kProject) {
      for (const BoundExpr& e : n->exprs) CollectRefs(e, refs);
      closed = true;
    } else if (n->kind == NodeKind::kSummarize) {
      for (const BoundExpr& e : n->exprs) CollectRefs(e, refs);
      for (const BoundAggregate& a : n->aggs) {
        for (const BoundExpr& e : a.args) CollectRefs(e, refs);
      }
      closed = true;
    }
    break;
  }
  if (!closed) return;
  scan.scan.columns.clear();
  for (int c : refs) {
    if (c >= 0 && static_cast<size_t>(c) < width) scan.scan.columns.push_back(scan.schema[static_cast<size_t>(c)].name);
  }
  if (scan.scan.columns.empty() && width > 0) scan.scan.columns.push_back(scan.schema[0].name);
}

}  // namespace cmk::kql::internal
