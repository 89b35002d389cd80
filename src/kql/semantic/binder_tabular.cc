// Tabular operators: the dispatch (BindOperator, with where, getschema, as, serialize and render),
// project/extend and the project-* variants, sort/top/take. The other operators have a file each:
// binder_summarize.cc, binder_join.cc, binder_union.cc (union, search), binder_mv_expand.cc,
// binder_parse.cc.
#include <algorithm>
#include <set>

#include "kql/exec/eval.h"
#include "kql/functions/aggregates.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {
namespace {

PlanPtr Node(NodeKind kind, PlanPtr in) {
  auto n = std::make_unique<PlanNode>();
  n->kind = kind;
  if (in) {
    n->schema = in->schema;
    n->inputs.push_back(std::move(in));
  }
  return n;
}

Result<int64_t> ConstantLong(const BoundExpr& b, const Position& pos, const char* what) {
  if (!b.IsConstant() || !UsesInts(b.type) || b.value.IsNull(0)) {
    return SemanticError(std::string(what) + " must be a constant integer", pos);
  }
  return b.value.Int(0);
}

}  // namespace

void Substitute(BoundExpr& e, const std::vector<BoundExpr>& defs) {
  if (e.kind == BoundExpr::Kind::kColumn) {
    e = defs[static_cast<size_t>(e.column)];
    return;
  }
  for (BoundExpr& a : e.args) Substitute(a, defs);
}

// Whether `e` depends on its row only through columns below `limit`: no window functions
// (row_number, prev, ...), whose rows change when the filter moves, and nothing random.
bool ReadsOnlyColumnsBelow(const BoundExpr& e, size_t limit) {
  switch (e.kind) {
    case BoundExpr::Kind::kColumn:
      return e.column >= 0 && static_cast<size_t>(e.column) < limit;
    case BoundExpr::Kind::kCall:
      if (e.fn == nullptr || IsNondeterministicName(std::string(e.fn->name))) return false;
      break;
    case BoundExpr::Kind::kConstant:
    case BoundExpr::Kind::kMember:
    case BoundExpr::Kind::kIndex:
      break;
    default:
      return false;
  }
  return std::all_of(e.args.begin(), e.args.end(), [&](const BoundExpr& a) { return ReadsOnlyColumnsBelow(a, limit); });
}

Result<PlanPtr> Binder::BindOperator(const Operator& op, PlanPtr in, const Scope* s) {
  pos_ = op.pos;
  if (!in && op.kind != OpKind::kSearch && op.kind != OpKind::kFind) return SemanticError("Operator needs an input table", op.pos);
  switch (op.kind) {
    case OpKind::kWhere: {
      ASSIGN_OR_RETURN(BoundExpr pred, BindExpr(*op.expr, in->schema, s));
      if (pred.type != Type::kBool) {
        return SemanticError("where: the predicate must be bool, not " + std::string(TypeName(pred.type)), op.expr->pos);
      }
      if (in->kind == NodeKind::kJoin && in->join_kind == JoinKind::kInnerUnique && !in->lookup &&
          ReadsOnlyColumnsBelow(pred, in->inputs[0]->schema.size())) {
        // Kusto pushes a filter on the left side's columns below an innerunique join, before the
        // left side is deduplicated by key (join-innerunique.md): which row survives depends on it.
        PlanPtr left = Node(NodeKind::kFilter, std::move(in->inputs[0]));
        left->predicate = std::move(pred);
        in->inputs[0] = std::move(left);
        in->height = 0;
        return in;
      }
      PlanPtr n = Node(NodeKind::kFilter, std::move(in));
      n->predicate = std::move(pred);
      return n;
    }
    case OpKind::kExtend:
    case OpKind::kProject:
    case OpKind::kProjectAway:
    case OpKind::kProjectKeep:
    case OpKind::kProjectRename:
    case OpKind::kProjectReorder:
      return BindProjectLike(op.kind, op.items, std::move(in), s);
    case OpKind::kSummarize:
    case OpKind::kDistinct:
    case OpKind::kCount:
      return BindSummarize(op, std::move(in), s);
    case OpKind::kSort:
    case OpKind::kTop:
    case OpKind::kTake:
      return BindSortLike(op, std::move(in), s);
    case OpKind::kJoin:
    case OpKind::kLookup:
      return BindJoin(op, std::move(in), s);
    case OpKind::kUnion: {
      bool fuzzy = OptionValue(op.options, "isfuzzy") == "true";
      ASSIGN_OR_RETURN(std::vector<PlanPtr> legs, BindLegs(op.tables, fuzzy, s));
      legs.insert(legs.begin(), std::move(in));
      return BindUnion(std::move(legs), op.options, op.pos);
    }
    case OpKind::kMvExpand: return BindMvExpand(op, std::move(in), s);
    case OpKind::kMvApply: return BindMvApply(op, std::move(in), s);
    case OpKind::kPartition: return BindPartition(op, std::move(in), s);
    case OpKind::kEvaluate: return BindEvaluate(op, std::move(in), s);
    case OpKind::kSample:
    case OpKind::kSampleDistinct: return BindSample(op, std::move(in), s);
    case OpKind::kProjectByNames: return BindProjectByNames(op, std::move(in), s);
    case OpKind::kInvoke: return BindInvoke(op, std::move(in), s);
    case OpKind::kTopNested: return BindTopNested(op, std::move(in), s);
    case OpKind::kScan: return BindScanOperator(*this, op, std::move(in), s);
    case OpKind::kReduce: return BindReduce(*this, op, std::move(in), s);
    case OpKind::kFork:
    case OpKind::kFacet:
      return SemanticError("fork and facet must end the query statement", op.pos);
    case OpKind::kConsume: {  // runs its input and returns no rows
      PlanPtr n = Node(NodeKind::kFilter, std::move(in));
      n->predicate = BoundExpr::Constant(IntConstant(Type::kBool, 0));
      return n;
    }
    case OpKind::kParse:
    case OpKind::kParseWhere:
    case OpKind::kParseKv: return BindParse(op, std::move(in), s);
    case OpKind::kSearch: return BindSearch(op, std::move(in), s);
    case OpKind::kFind: return BindFind(op, std::move(in), s);
    case OpKind::kMakeSeries: return BindMakeSeries(op, std::move(in), s);
    case OpKind::kGetSchema: {
      static const char* kDotNet[] = {"System.Boolean", "System.Int32", "System.Int64", "System.Double",
                                      "System.Data.SqlTypes.SqlDecimal", "System.String", "System.DateTime",
                                      "System.TimeSpan", "System.Guid", "System.Object"};
      auto n = std::make_unique<PlanNode>();
      n->kind = NodeKind::kValues;
      n->schema = {{"ColumnName", Type::kString}, {"ColumnOrdinal", Type::kInt},
                   {"DataType", Type::kString}, {"ColumnType", Type::kString}};
      n->values = EmptyTable(n->schema);
      for (size_t i = 0; i < in->schema.size(); ++i) {
        n->values.columns[0].AppendString(in->schema[i].name);
        n->values.columns[1].AppendInt(static_cast<int64_t>(i));
        n->values.columns[2].AppendString(kDotNet[static_cast<int>(in->schema[i].type)]);
        n->values.columns[3].AppendString(TypeName(in->schema[i].type));
      }
      n->values.rows = in->schema.size();
      n->inputs.push_back(std::move(in));  // kept (not run): the binder's push-down still points into it
      return n;
    }
    case OpKind::kAs:
      in->name = op.name;
      return in;
    case OpKind::kSerialize: {
      PlanPtr n = Node(NodeKind::kSerialize, std::move(in));
      if (op.items.empty()) return n;
      return BindProjectLike(OpKind::kExtend, op.items, std::move(n), s);
    }
    case OpKind::kRender: {
      std::map<std::string, std::string> props{{"visualization", op.name}};
      for (const Option& o : op.options) props[o.key] = o.value;
      render_ = std::move(props);
      return in;
    }
  }
  return SemanticError("Unsupported operator", op.pos);
}

namespace {

// pack_all() in extend/project packs the operator's input columns (the first `width`), not the
// columns of the operator's earlier items (the docs: `extend Packed = pack_all(),
// PackedIgnoreNullEmpty = pack_all(true)` packs no Packed).
void DropPackAllPairsBeyond(BoundExpr& e, size_t width) {
  if (e.kind == BoundExpr::Kind::kCall && e.member == "pack_all") {
    std::vector<BoundExpr> kept;
    for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
      const BoundExpr& v = e.args[i + 1];
      if (v.kind == BoundExpr::Kind::kColumn && static_cast<size_t>(v.column) >= width) continue;
      kept.push_back(std::move(e.args[i]));
      kept.push_back(std::move(e.args[i + 1]));
    }
    e.args = std::move(kept);
    return;
  }
  for (BoundExpr& a : e.args) DropPackAllPairsBeyond(a, width);
}

}  // namespace

size_t SortedArrayCount(const Expr& e, bool last_is_bool) {
  if (e.kind != ExprKind::kCall || (e.name != "array_sort_asc" && e.name != "array_sort_desc")) return 0;
  size_t arrays = e.args.size() - (last_is_bool && !e.args.empty() ? 1 : 0);
  return arrays >= 2 ? arrays : 0;
}

Result<PlanPtr> Binder::BindProjectLike(OpKind kind, const std::vector<NamedExpr>& items, PlanPtr in,
                                        const Scope* s) {
  const Schema& schema = in->schema;
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kProject;
  auto pass = [&](int c, const std::string& name) {
    n->schema.push_back({name, schema[static_cast<size_t>(c)].type});
    n->exprs.push_back(BoundExpr::ColumnRef(c, schema[static_cast<size_t>(c)].type));
  };
  int unnamed = 0;
  // Later items see earlier ones (extend A = x + 1, B = A * 2): they bind against `visible`
  // and references to earlier items are replaced by those items' expressions.
  Schema visible = schema;
  std::vector<BoundExpr> defs;
  for (size_t c = 0; c < schema.size(); ++c) defs.push_back(BoundExpr::ColumnRef(static_cast<int>(c), schema[c].type));
  auto place = [&](std::string name, BoundExpr v, const Position& pos) -> Status {
    int seen = FindColumn(visible, name);
    if (seen >= 0) {
      visible[static_cast<size_t>(seen)].type = v.type;
      defs[static_cast<size_t>(seen)] = v;
    } else {
      visible.push_back({name, v.type});
      defs.push_back(v);
    }
    int existing = FindColumn(n->schema, name);
    if (existing >= 0 && kind == OpKind::kExtend) {
      n->schema[static_cast<size_t>(existing)].type = v.type;
      n->exprs[static_cast<size_t>(existing)] = std::move(v);
      return OkStatus();
    }
    if (existing >= 0) return SemanticError("Duplicate column name '" + name + "'", pos);
    n->schema.push_back({name, v.type});
    n->exprs.push_back(std::move(v));
    return OkStatus();
  };
  // A function returning several values (series_fit_line, series_stats, ...) gives one column
  // per value: `(a, b) = f(x)` names the first ones (extend keeps only those, project names
  // the rest f_x_<value>), `f(x)` names them all so. The function answers a bag of the values.
  auto add_multi = [&](const NamedExpr& item, std::span<const OutputColumn> outs, BoundExpr bag) -> Status {
    const Expr& call = *item.expr;
    std::string prefix = call.name + "_" + (call.args.empty() ? "" : DefaultName(*call.args[0], false)) + "_";
    for (size_t k = 0; k < outs.size(); ++k) {
      if (k >= item.names.size() && !item.names.empty() && kind == OpKind::kExtend) break;
      BoundExpr member;
      member.kind = BoundExpr::Kind::kMember;
      member.type = Type::kDynamic;
      member.member = std::string(outs[k].name);
      member.args.push_back(bag);
      RETURN_IF_ERROR(Compose(member, call.pos));
      BoundExpr v = std::move(member);
      if (outs[k].type != Type::kDynamic) {
        const char* conv = outs[k].type == Type::kLong ? "tolong" : "todouble";
        std::vector<BoundExpr> args;
        args.push_back(std::move(v));
        ASSIGN_OR_RETURN(v, MakeCall(FindFunction(conv), std::move(args), conv, call.pos));
      }
      std::string name = k < item.names.size() ? item.names[k] : prefix + std::string(outs[k].name);
      RETURN_IF_ERROR(place(std::move(name), std::move(v), call.pos));
    }
    return OkStatus();
  };
  auto add = [&](const NamedExpr& item) -> Status {
    ASSIGN_OR_RETURN(BoundExpr v, BindExpr(*item.expr, visible, s));
    if (v.untyped_null) v = BoundExpr::Constant(NullConstant(Type::kDynamic));
    DropPackAllPairsBeyond(v, schema.size());
    Substitute(v, defs);
    const Expr& e = *item.expr;
    if (e.kind == ExprKind::kCall && e.args.size() >= 2 && s->Find(e.name) == nullptr && item.name.empty()) {
      ASSIGN_OR_RETURN(BoundExpr last, BindExpr(*e.args.back(), visible, s));
      size_t arrays = SortedArrayCount(e, last.type == Type::kBool);
      for (size_t k = 0; k < arrays; ++k) {
        BoundExpr at;
        at.kind = BoundExpr::Kind::kIndex;
        at.type = Type::kDynamic;
        at.args.push_back(v);
        at.args.push_back(BoundExpr::Constant(IntConstant(Type::kLong, static_cast<int64_t>(k))));
        RETURN_IF_ERROR(Compose(at, e.pos));
        std::string name = k < item.names.size() ? item.names[k] : DefaultName(*e.args[k], false);
        if (k >= item.names.size()) name = name.empty() ? "Column" + std::to_string(++unnamed) : name + "_sorted";
        RETURN_IF_ERROR(place(std::move(name), std::move(at), e.pos));
      }
      if (arrays > 0) return OkStatus();
    }
    std::span<const OutputColumn> outs;
    if (e.kind == ExprKind::kCall && s->Find(e.name) == nullptr) outs = MultiValueOutputs(e.name);
    if (!outs.empty() && item.name.empty()) return add_multi(item, outs, std::move(v));
    if (!item.names.empty()) {
      return SemanticError("Only a function returning several values can be assigned to (" +
                               item.names[0] + ", ...)", e.pos);
    }
    std::string name = !item.name.empty() ? item.name : DefaultName(e, false);
    if (name.empty()) name = "Column" + std::to_string(++unnamed);
    return place(std::move(name), std::move(v), e.pos);
  };
  switch (kind) {
    case OpKind::kExtend:
      for (size_t c = 0; c < schema.size(); ++c) pass(static_cast<int>(c), schema[c].name);
      for (const NamedExpr& item : items) RETURN_IF_ERROR(add(item));
      break;
    case OpKind::kProject:
      for (const NamedExpr& item : items) RETURN_IF_ERROR(add(item));
      break;
    case OpKind::kProjectAway:
    case OpKind::kProjectKeep: {
      bool keep = kind == OpKind::kProjectKeep;
      for (const NamedExpr& item : items) {
        bool any = false;
        for (const ColumnSchema& c : schema) any = any || WildcardMatch(item.name, c.name);
        if (!any && item.name.find('*') == std::string::npos) {
          return SemanticError("Failed to resolve column '" + item.name + "'", pos_);
        }
      }
      for (size_t c = 0; c < schema.size(); ++c) {
        bool match = false;
        for (const NamedExpr& item : items) match = match || WildcardMatch(item.name, schema[c].name);
        if (match == keep) pass(static_cast<int>(c), schema[c].name);
      }
      break;
    }
    case OpKind::kProjectRename: {
      std::vector<std::string> names;
      for (const ColumnSchema& c : schema) names.push_back(c.name);
      for (const NamedExpr& item : items) {
        int c = FindColumn(schema, item.expr->name);
        if (c < 0) return SemanticError("Failed to resolve column '" + item.expr->name + "'", item.expr->pos);
        names[static_cast<size_t>(c)] = item.name;
      }
      for (size_t c = 0; c < schema.size(); ++c) pass(static_cast<int>(c), names[c]);
      break;
    }
    default: {  // project-reorder
      std::vector<bool> used(schema.size(), false);
      for (const NamedExpr& item : items) {
        std::vector<int> hits;
        for (size_t c = 0; c < schema.size(); ++c) {
          if (!used[c] && WildcardMatch(item.name, schema[c].name)) hits.push_back(static_cast<int>(c));
        }
        if (item.type == "asc" || item.type == "desc") {
          std::sort(hits.begin(), hits.end(), [&](int a, int b) {
            return (schema[static_cast<size_t>(a)].name < schema[static_cast<size_t>(b)].name) == (item.type == "asc");
          });
        }
        for (int c : hits) {
          used[static_cast<size_t>(c)] = true;
          pass(c, schema[static_cast<size_t>(c)].name);
        }
      }
      for (size_t c = 0; c < schema.size(); ++c) {
        if (!used[c]) pass(static_cast<int>(c), schema[c].name);
      }
    }
  }
  n->inputs.push_back(std::move(in));
  return PlanPtr(std::move(n));
}

namespace {

// A projection that only selects, renames or reorders its input's columns.
bool SelectsColumns(const PlanNode& n) {
  if (n.kind != NodeKind::kProject || n.inputs.size() != 1 || n.exprs.size() != n.schema.size()) return false;
  return std::all_of(n.exprs.begin(), n.exprs.end(), [](const BoundExpr& e) { return e.kind == BoundExpr::Kind::kColumn; });
}

// `top` below a projection that only selects columns (`project A, B | top 5 by B`): the same
// rows, and the top then stands right over the scan, which it reads for its key alone first and
// then only for the blocks that can hold the N best rows (sort.cc TopBound), instead of
// projecting every row for a sort.
PlanPtr TopBelowSelection(PlanPtr top) {
  if (top->kind != NodeKind::kTop || !SelectsColumns(*top->inputs[0])) return top;
  PlanPtr projection = std::move(top->inputs[0]);
  for (BoundExpr& e : top->exprs) Substitute(e, projection->exprs);
  top->inputs[0] = std::move(projection->inputs[0]);
  top->schema = top->inputs[0]->schema;
  top->height = 0;
  projection->inputs[0] = TopBelowSelection(std::move(top));
  projection->height = 0;
  return projection;
}

}  // namespace

Result<PlanPtr> Binder::BindSortLike(const Operator& op, PlanPtr in, const Scope* s) {
  NodeKind kind = op.kind == OpKind::kSort ? NodeKind::kSort : op.kind == OpKind::kTop ? NodeKind::kTop : NodeKind::kTake;
  int64_t limit = -1;
  if (op.kind != OpKind::kSort) {
    ASSIGN_OR_RETURN(BoundExpr bound, BindExpr(*op.expr, Schema{}, s));
    ASSIGN_OR_RETURN(limit, ConstantLong(bound, op.expr->pos, "The row count"));
  }
  if (kind == NodeKind::kTake && in->kind == NodeKind::kSort) {
    // `sort by X | take N` is `top N by X` (the same rows in the same order, ties aside, which
    // neither orders): a top keeps N rows where a sort holds every row (and over a large table
    // ran out of memory for it), and a top over a scan reads only the blocks that can win.
    in->kind = NodeKind::kTop;
    in->limit = limit;
    return TopBelowSelection(std::move(in));
  }
  PlanPtr n = Node(kind, std::move(in));
  n->limit = limit;
  for (const SortKey& k : op.sort) {
    ASSIGN_OR_RETURN(BoundExpr e, BindExpr(*k.expr, n->schema, s));
    if (e.type == Type::kDynamic && !e.untyped_null) {
      return SemanticError("Cannot sort by a dynamic value", k.expr->pos);
    }
    n->exprs.push_back(std::move(e));
    n->ascending.push_back(k.ascending);
    n->nulls_first.push_back(k.nulls_first);
  }
  return TopBelowSelection(std::move(n));
}

}  // namespace cmk::kql::internal
