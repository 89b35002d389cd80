// Binding of the scan operator (exec/scan_op.cc runs it) and of reduce (exec/reduce.cc).
//
// scan's conditions and assignments see the current row (its input columns, and its declared
// columns at their defaults) and, as `Step.Column`, each step's record in the state being
// matched. They bind against that wide schema; an expression reading only the current row's input
// columns keeps the input's column indexes (the executor evaluates it a chunk at a time), the
// others are renumbered to the few slots they read (filled per row: ScanSpec in plan.h).
#include <cmath>
#include <map>
#include <set>

#include "kql/exec/eval.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {
namespace {

// Whether a value of type `from` may be stored in a declared column of type `to`: the same type,
// or a number (or bool) widened to a number. A long stored in an int column is narrowed to 32
// bits as toint() does (OneValue here, SetCell in exec/scan_op.cc): `c = s.c + 1` on an int c
// is a long, as int arithmetic is in Kusto.
bool Fits(Type from, Type to) {
  if (from == to) return true;
  bool from_number = IsNumeric(from) || from == Type::kBool;
  if (!from_number || !IsNumeric(to)) return false;
  return !UsesReals(from) || UsesReals(to);  // no real -> integer truncation
}

// A one-value column of type `t` holding `v` (null when `v` is null or absent).
Column OneValue(Type t, const Column* v) {
  Column c(t);
  if (v == nullptr || v->IsNull(0)) {
    c.AppendNull();
    if (t == Type::kString) c.nulls.clear();
  } else if (UsesReals(t) && UsesInts(v->type)) {
    c.AppendReal(static_cast<double>(v->Int(0)));
  } else if (t == Type::kInt) {
    c.AppendInt(static_cast<int32_t>(static_cast<uint32_t>(v->Int(0))));
  } else {
    c.AppendFrom(*v, 0);
  }
  return c;
}

void CollectColumns(const BoundExpr& root, std::set<int>& out) {
  std::vector<const BoundExpr*> pending{&root};
  while (!pending.empty()) {
    const BoundExpr* e = pending.back();
    pending.pop_back();
    if (e->kind == BoundExpr::Kind::kColumn) out.insert(e->column);
    for (const BoundExpr& a : e->args) pending.push_back(&a);
  }
}

void Renumber(BoundExpr& root, const std::map<int, int>& slot_of) {
  std::vector<BoundExpr*> pending{&root};
  while (!pending.empty()) {
    BoundExpr* e = pending.back();
    pending.pop_back();
    if (e->kind == BoundExpr::Kind::kColumn) e->column = slot_of.at(e->column);
    for (BoundExpr& a : e->args) pending.push_back(&a);
  }
}

struct ScanBinding {
  Schema record;  // the input's columns, then the declared ones
  Schema wide;    // record, then record per step prefixed "Step."
};

// `declare (Name:type[=Default], ...)`: the declared columns and their defaults.
Status BindDeclared(Binder& b, const Operator& op, const Scope* s, ScanBinding& sb,
                    ScanSpec& spec) {
  for (const NamedExpr& d : op.items) {
    std::optional<Type> t = ParseTypeName(d.type);
    if (!t) return SemanticError("scan: unknown type '" + d.type + "'", op.pos);
    if (FindColumn(sb.record, d.name) >= 0) {
      return SemanticError("scan: declared column '" + d.name + "' already exists", op.pos);
    }
    std::optional<Column> value;
    if (d.default_value) {
      ASSIGN_OR_RETURN(BoundExpr v, b.BindConstant(*d.default_value, s));
      if (!v.untyped_null && !Fits(v.type, *t)) {
        return SemanticError(
            "scan: the default of '" + d.name + "' must be of type " + TypeName(*t),
            d.default_value->pos);
      }
      if (!v.untyped_null) value = std::move(v.value);
    }
    spec.defaults.push_back(OneValue(*t, value ? &*value : nullptr));
    sb.record.push_back({d.name, *t});
  }
  return OkStatus();
}

Status BindStep(Binder& b, const ScanStep& st, const Scope* s, const ScanBinding& sb,
                ScanSpec::Step& out) {
  out.name = st.name;
  out.output = st.output == "last"   ? ScanSpec::Output::kLast
               : st.output == "none" ? ScanSpec::Output::kNone
                                     : ScanSpec::Output::kAll;
  ASSIGN_OR_RETURN(out.condition, b.BindExpr(*st.condition, sb.wide, s));
  if (out.condition.untyped_null) out.condition = BoundExpr::Constant(IntConstant(Type::kBool, 0));
  if (out.condition.type != Type::kBool) {
    return SemanticError("scan: the condition of step '" + st.name + "' must be bool, not " +
                             TypeName(out.condition.type),
                         st.condition->pos);
  }
  for (const NamedExpr& a : st.assignments) {
    ScanSpec::Assignment asg;
    asg.column = FindColumn(sb.record, a.name);  // checked by CheckAssignments
    ASSIGN_OR_RETURN(asg.value, b.BindExpr(*a.expr, sb.wide, s));
    out.assignments.push_back(std::move(asg));
  }
  return OkStatus();
}

// Checks the assignments' targets (a declared column, or an input column whose value the step
// replaces, as the functions library's time_weighted_val_fl does) and types.
Status CheckAssignments(const Operator& op, const ScanBinding& sb, ScanSpec& spec) {
  for (size_t k = 0; k < spec.steps.size(); ++k) {
    for (size_t i = 0; i < spec.steps[k].assignments.size(); ++i) {
      ScanSpec::Assignment& a = spec.steps[k].assignments[i];
      const NamedExpr& src = op.steps[k].assignments[i];
      if (a.column < 0) {
        return SemanticError("scan: '" + src.name + "' is not a declared or input column",
                             src.expr->pos);
      }
      Type t = sb.record[static_cast<size_t>(a.column)].type;
      if (a.value.untyped_null) a.value = BoundExpr::Constant(NullConstant(t));
      if (!Fits(a.value.type, t)) {
        return SemanticError("scan: a value of type " + std::string(TypeName(a.value.type)) +
                                 " cannot be assigned to '" + src.name + "' of type " + TypeName(t),
                             src.expr->pos);
      }
    }
  }
  return OkStatus();
}

// Marks the expressions that read more than the current row's input columns and renumbers those
// to the slots they read.
void AssignSlots(ScanSpec& spec, size_t record_width) {
  std::vector<BoundExpr*> exprs;
  std::vector<bool*> flags;
  for (ScanSpec::Step& st : spec.steps) {
    exprs.push_back(&st.condition);
    flags.push_back(&st.per_row);
    for (ScanSpec::Assignment& a : st.assignments) {
      exprs.push_back(&a.value);
      flags.push_back(&a.per_row);
    }
  }
  std::set<int> used;
  std::vector<std::set<int>> reads(exprs.size());
  for (size_t i = 0; i < exprs.size(); ++i) {
    CollectColumns(*exprs[i], reads[i]);
    *flags[i] = !reads[i].empty() && *reads[i].rbegin() >= spec.input_width;
    if (*flags[i]) used.insert(reads[i].begin(), reads[i].end());
  }
  std::map<int, int> slot_of;
  for (int c : used) {
    slot_of[c] = static_cast<int>(spec.slots.size());
    int w = static_cast<int>(record_width);
    spec.slots.push_back({c / w - 1, c % w});
  }
  for (size_t i = 0; i < exprs.size(); ++i) {
    if (*flags[i]) Renumber(*exprs[i], slot_of);
  }
}

}  // namespace

Result<PlanPtr> BindScanOperator(Binder& b, const Operator& op, PlanPtr in, const Scope* s) {
  auto spec = std::make_shared<ScanSpec>();
  ScanBinding sb;
  sb.record = in->schema;
  spec->input_width = static_cast<int>(in->schema.size());
  RETURN_IF_ERROR(BindDeclared(b, op, s, sb, *spec));
  std::set<std::string> names;
  sb.wide = sb.record;
  for (const ScanStep& st : op.steps) {
    if (!names.insert(st.name).second) {
      return SemanticError("scan: step '" + st.name + "' is defined more than once", st.pos);
    }
    for (const ColumnSchema& c : sb.record) sb.wide.push_back({st.name + "." + c.name, c.type});
  }
  for (const ScanStep& st : op.steps) {
    RETURN_IF_ERROR(BindStep(b, st, s, sb, spec->steps.emplace_back()));
  }
  RETURN_IF_ERROR(CheckAssignments(op, sb, *spec));
  AssignSlots(*spec, sb.record.size());
  auto node = std::make_unique<PlanNode>();
  node->kind = NodeKind::kScanOp;
  node->schema = sb.record;
  std::string match_id = OptionValue(op.options, "with_match_id");
  if (!match_id.empty()) {
    if (FindColumn(node->schema, match_id) >= 0) {
      return SemanticError("scan: with_match_id column '" + match_id + "' already exists", op.pos);
    }
    node->schema.push_back({match_id, Type::kLong});
    spec->match_id = true;
  }
  node->scan_spec = std::move(spec);
  node->inputs.push_back(std::move(in));
  return node;
}

Result<PlanPtr> BindReduce(Binder& b, const Operator& op, PlanPtr in, const Scope* s) {
  auto node = std::make_unique<PlanNode>();
  node->kind = NodeKind::kReduce;
  ReduceSpec& spec = node->reduce_spec;
  for (const Option& o : op.options) {
    if (o.key == "kind" && o.value != "source") {
      return SemanticError("reduce: kind must be source, not '" + o.value + "'", op.pos);
    }
    if (o.key == "kind") spec.source = true;
  }
  ASSIGN_OR_RETURN(BoundExpr by, b.BindExpr(*op.expr, in->schema, s));
  if (by.untyped_null) by = BoundExpr::Constant(StringConstant(Type::kString, ""));
  if (by.type != Type::kString) {
    return SemanticError(
        "reduce: the value must be a string, not " + std::string(TypeName(by.type)), op.expr->pos);
  }
  for (const NamedExpr& item : op.items) {
    ASSIGN_OR_RETURN(BoundExpr v, b.BindConstant(*item.expr, s));
    if (item.name == "threshold") {
      if (!IsNumeric(v.type) || v.value.IsNull(0)) {
        return SemanticError("reduce: threshold must be a number between 0 and 1", item.expr->pos);
      }
      spec.threshold = UsesReals(v.type) ? v.value.Real(0) : static_cast<double>(v.value.Int(0));
      if (!(spec.threshold >= 0 && spec.threshold <= 1)) {
        return SemanticError("reduce: threshold must be between 0 and 1", item.expr->pos);
      }
    } else {
      if (v.type != Type::kString) {
        return SemanticError("reduce: characters must be a string", item.expr->pos);
      }
      spec.custom_breakers = true;
      spec.characters = v.value.Str(0);
    }
  }
  node->exprs.push_back(std::move(by));
  if (spec.source) {
    node->schema = in->schema;
    node->schema.push_back({UniqueName("Pattern", in->schema), Type::kString});
  } else {
    node->schema = {
        {"Pattern", Type::kString}, {"Count", Type::kLong}, {"Representative", Type::kString}};
  }
  node->inputs.push_back(std::move(in));
  return node;
}

}  // namespace cmk::kql::internal
