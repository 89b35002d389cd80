// Scalar expressions: names, literals, operators, function calls, aggregates inside summarize.
#include <algorithm>
#include <cmath>
#include <set>
#include <string_view>

#include "kql/exec/eval.h"
#include "kql/functions/aggregates.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {
Result<BoundExpr> Binder::MakeCall(const ScalarFunction* fn, std::vector<BoundExpr> args,
                                   const std::string& name, const Position& pos) {
  int n = static_cast<int>(args.size());
  if (n < fn->min_args || (fn->max_args >= 0 && n > fn->max_args)) {
    return SemanticError("Function '" + name + "' does not take " + std::to_string(n) + " arguments", pos);
  }
  // A bare null takes the type of the nearest typed argument (x == null, iff(c, 1, null)).
  std::optional<Type> hint;
  for (const BoundExpr& a : args) {
    if (!a.untyped_null) hint = a.type;
  }
  std::vector<Type> types;
  for (BoundExpr& a : args) {
    if (a.untyped_null && hint) a = BoundExpr::Constant(NullConstant(*hint));
    types.push_back(a.type);
  }
  Result<Type> rt = fn->result_type(types);
  if (!rt.ok()) {
    std::string msg = rt.status().message();
    if (msg.find(" at ") == std::string::npos) msg += " at " + pos.ToString();
    return InvalidArgument(msg, "SemanticError");
  }
  BoundExpr call;
  call.kind = BoundExpr::Kind::kCall;
  call.type = *rt;
  call.fn = fn;
  bool constant = !IsNondeterministicName(name);
  for (const BoundExpr& a : args) constant = constant && a.IsConstant();
  call.args = std::move(args);
  RETURN_IF_ERROR(Compose(call, pos));
  if (!constant) return call;
  ASSIGN_OR_RETURN(Column v, EvalConstant(call, ctx_.now, ctx_.budget));
  BoundExpr folded = BoundExpr::Constant(std::move(v));
  folded.type = call.type;
  folded.value.type = call.type;
  return folded;
}

// BindExpr recurses once per level of the expression tree: each kind is bound in its own
// out-of-line function so that a level's frames hold only that kind's locals (~1.1 KB; the
// parser's kMaxHeight is sized on it).
Result<BoundExpr> Binder::BindExpr(const Expr& e, const Schema& schema, const Scope* s, AggContext* agg) {
  RETURN_IF_ERROR(Step(e.pos));
  switch (e.kind) {
    case ExprKind::kLiteral: return BindLiteral(e);
    case ExprKind::kName: return BindName(e, schema, s);
    case ExprKind::kUnary: return BindUnary(e, schema, s, agg);
    case ExprKind::kBinary:
    case ExprKind::kBetween: return BindOperands(e, schema, s, agg);
    case ExprKind::kIn: return BindIn(e, schema, s, agg);
    case ExprKind::kMember:
    case ExprKind::kIndex: return BindAccess(e, schema, s, agg);
    case ExprKind::kCall: return BindCall(e, schema, s, agg);
    case ExprKind::kTabular: return SemanticError("A tabular expression is not a scalar value", e.pos);
  }
  return SemanticError("Unsupported expression", e.pos);
}

static bool SameColumns(const Schema& a, const Schema& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](const ColumnSchema& x, const ColumnSchema& y) {
           return x.name == y.name && x.type == y.type;
         });
}

Result<BoundExpr> Binder::BindName(const Expr& e, const Schema& schema, const Scope* s) {
  for (size_t i = 0; i < schema.size(); ++i) {
    if (schema[i].name == e.name) return BoundExpr::ColumnRef(static_cast<int>(i), schema[i].type);
  }
  const Binding* b = s->Find(e.name);
  if (b != nullptr && b->kind == Binding::Kind::kScalar) {
    if (b->row_schema && !SameColumns(*b->row_schema, schema)) {
      // Kusto's wording (toscalar-function.md): the argument varies per calling row, and a
      // tabular expression in the body is computed once.
      return SemanticError("can't use '" + e.name + "' as it is defined outside its row-context scope " +
                               "(a function's row-dependent argument inside toscalar() or a subquery)",
                           e.pos);
    }
    RETURN_IF_ERROR(Step(e.pos, b->scalar.nodes));  // the copy
    return b->scalar;
  }
  if (b != nullptr && b->kind == Binding::Kind::kFunction && b->fn->params.empty()) {
    BoundExpr out;
    ASSIGN_OR_RETURN(PlanPtr unused, CallFunction(*b, {}, e.pos, s, &schema, &out));
    return out;
  }
  return SemanticError("Failed to resolve scalar expression named '" + e.name + "'", e.pos);
}

Result<BoundExpr> Binder::BindUnary(const Expr& e, const Schema& schema, const Scope* s, AggContext* agg) {
  ASSIGN_OR_RETURN(BoundExpr v, BindExpr(*e.args[0], schema, s, agg));
  if (e.name == "+") return v;
  const ScalarFunction* fn = FindOperator("neg");
  if (fn == nullptr) return SemanticError("Unary '-' is not available", e.pos);
  std::vector<BoundExpr> args;
  args.push_back(std::move(v));
  return MakeCall(fn, std::move(args), "-", e.pos);
}

Result<BoundExpr> Binder::BindOperands(const Expr& e, const Schema& schema, const Scope* s, AggContext* agg) {
  if (e.kind == ExprKind::kBinary && e.args.size() == 2 && e.args[0]->kind == ExprKind::kName &&
      e.args[0]->name == "*") {  // `* has "x"`: every column (binder_search.cc)
    ASSIGN_OR_RETURN(BoundExpr needle, BindExpr(*e.args[1], schema, s, agg));
    return BindEveryColumn(e.name, std::move(needle), schema, e.pos);
  }
  const ScalarFunction* fn = FindOperator(e.name);
  if (fn == nullptr) return SemanticError("Unknown operator '" + e.name + "'", e.pos);
  std::vector<BoundExpr> args;
  for (const ExprPtr& a : e.args) {
    ASSIGN_OR_RETURN(BoundExpr v, BindExpr(*a, schema, s, agg));
    args.push_back(std::move(v));
  }
  return MakeCall(fn, std::move(args), e.name, e.pos);
}

Result<BoundExpr> Binder::BindIn(const Expr& e, const Schema& schema, const Scope* s, AggContext* agg) {
  const ScalarFunction* fn = FindOperator(e.name);
  if (fn == nullptr) return SemanticError("Unknown operator '" + e.name + "'", e.pos);
  std::vector<BoundExpr> args;
  for (size_t i = 0; i < e.args.size(); ++i) {
    const Expr& a = *e.args[i];
    if (i > 0 && (a.kind == ExprKind::kTabular || DenotesTable(a, s))) {
      ASSIGN_OR_RETURN(std::vector<BoundExpr> values, ValuesOfTabular(a, s));
      for (BoundExpr& v : values) args.push_back(std::move(v));
      continue;
    }
    ASSIGN_OR_RETURN(BoundExpr v, BindExpr(a, schema, s, agg));
    args.push_back(std::move(v));
  }
  if (args.size() == 1) {  // `x in (empty table)`: nothing matches.
    return BoundExpr::Constant(IntConstant(Type::kBool, e.name[0] == '!' ? 1 : 0));
  }
  return MakeCall(fn, std::move(args), e.name, e.pos);
}

Result<BoundExpr> Binder::BindAccess(const Expr& e, const Schema& schema, const Scope* s, AggContext* agg) {
  ASSIGN_OR_RETURN(BoundExpr obj, BindExpr(*e.args[0], schema, s, agg));
  if (obj.type != Type::kDynamic) {
    return SemanticError("Member access needs a dynamic value, not " + std::string(TypeName(obj.type)), e.pos);
  }
  BoundExpr out;
  out.kind = e.kind == ExprKind::kMember ? BoundExpr::Kind::kMember : BoundExpr::Kind::kIndex;
  out.type = Type::kDynamic;
  out.member = e.kind == ExprKind::kMember ? e.name : "";
  bool constant = obj.IsConstant();
  out.args.push_back(std::move(obj));
  if (e.kind == ExprKind::kIndex) {
    ASSIGN_OR_RETURN(BoundExpr ix, BindExpr(*e.args[1], schema, s, agg));
    constant = constant && ix.IsConstant();
    // split(s, d)[i], i a constant >= 0: split(s, d, i)[0], whose array holds that part alone
    // (the whole array's JSON text was built and parsed again per row: `summarize count() by
    // tostring(split(Message, " ")[0])` over 2M rows 2.3 -> 0.9 s).
    BoundExpr& split = out.args[0];
    if (!constant && split.kind == BoundExpr::Kind::kCall && split.fn != nullptr && split.fn->name == "split" &&
        split.args.size() == 2 && ix.IsConstant() && UsesInts(ix.type) && ix.value.stored() == 1 &&
        !ix.value.IsNull(0) && ix.value.Int(0) >= 0) {
      std::vector<BoundExpr> args = std::move(split.args);
      args.push_back(ix);
      ASSIGN_OR_RETURN(split, MakeCall(split.fn, std::move(args), "split", e.pos));
      Column zero = Column::Constant(ix.type);
      zero.AppendInt(0);
      ix = BoundExpr::Constant(std::move(zero));
    }
    out.args.push_back(std::move(ix));
  }
  RETURN_IF_ERROR(Compose(out, e.pos));
  if (!constant) return out;
  ASSIGN_OR_RETURN(Column v, EvalConstant(out, ctx_.now, ctx_.budget));
  return BoundExpr::Constant(std::move(v));
}

Result<BoundExpr> Binder::BindCall(const Expr& e, const Schema& schema, const Scope* s, AggContext* agg) {
  const std::string& name = e.name;
  if (const Binding* b = s->Find(name); b != nullptr && b->kind == Binding::Kind::kFunction) {
    BoundExpr out;
    ASSIGN_OR_RETURN(PlanPtr unused, CallFunction(*b, e.args, e.pos, s, &schema, &out));
    return out;
  }
  if (name == "toscalar") {
    if (e.args.size() != 1) return SemanticError("toscalar() takes one argument", e.pos);
    // toscalar(x) of a scalar is x: partition's legacy subquery names its key so.
    if (e.args[0]->kind != ExprKind::kTabular && !DenotesTable(*e.args[0], s)) {
      return BindExpr(*e.args[0], schema, s, agg);
    }
    ASSIGN_OR_RETURN(Column v, ScalarOfTabular(*e.args[0], s));
    return BoundExpr::Constant(std::move(v));
  }
  if (name == "bin_auto") {  // bin_at(x, size, at) with the size and fixed point set by `set`
    auto size = request_properties_.find("query_bin_auto_size");
    if (e.args.size() != 1 || size == request_properties_.end()) {
      return SemanticError("bin_auto() takes one argument and needs `set query_bin_auto_size=...;`", e.pos);
    }
    std::vector<BoundExpr> args;
    ASSIGN_OR_RETURN(BoundExpr v, BindExpr(*e.args[0], schema, s, agg));
    args.push_back(std::move(v));
    args.push_back(BoundExpr::Constant(size->second));
    auto at = request_properties_.find("query_bin_auto_at");
    if (at == request_properties_.end()) return MakeCall(FindFunction("bin"), std::move(args), "bin", e.pos);
    args.push_back(BoundExpr::Constant(at->second));
    return MakeCall(FindFunction("bin_at"), std::move(args), "bin_at", e.pos);
  }
  if (name == "column_names_of") {  // column_names_of(T): T's column names, a dynamic array
    if (e.args.size() != 1 || (e.args[0]->kind != ExprKind::kTabular && !DenotesTable(*e.args[0], s))) {
      return SemanticError("column_names_of() takes one tabular expression", e.pos);
    }
    ASSIGN_OR_RETURN(PlanPtr plan, BindTabularExpr(*e.args[0], s));
    std::string json = "[";
    for (const auto& c : plan->schema) {
      if (json.size() > 1) json += ',';
      json += ValueToJson(StringConstant(Type::kString, c.name), 0);
    }
    json += ']';
    return BoundExpr::Constant(StringConstant(Type::kDynamic, std::move(json)));
  }
  if (name == "typeof") {  // typeof(T): a null of type T, read for its type (extract's 4th argument)
    std::optional<Type> t;
    if (e.args.size() == 1 && e.args[0]->kind == ExprKind::kName) t = ParseTypeName(e.args[0]->name);
    if (!t) return SemanticError("typeof() takes one scalar type name", e.pos);
    return BoundExpr::Constant(NullConstant(*t));
  }
  if (IsWindowFunction(name)) return BindWindowCall(e, schema, s, agg);
  if (agg != nullptr && FindAggregate(name) != nullptr) return BindAggregateRef(e, schema, s, agg, "");
  if (name == "pack_all" || name == "bag_pack_columns") return BindPackColumns(e, schema, s);
  const ScalarFunction* fn = FindFunction(name);
  if (fn == nullptr) {
    if (FindAggregate(name) != nullptr) {
      return SemanticError("Aggregate '" + name + "' is only allowed in summarize", e.pos);
    }
    return SemanticError("Unknown function: '" + name + "'", e.pos);
  }
  std::vector<BoundExpr> args;
  for (const ExprPtr& a : e.args) {
    if (a->kind == ExprKind::kTabular) return SemanticError("Function '" + name + "' does not take a table", a->pos);
    ASSIGN_OR_RETURN(BoundExpr v, BindExpr(*a, schema, s, agg));
    args.push_back(std::move(v));
  }
  return MakeCall(fn, std::move(args), name, e.pos);
}

// pack_all([ignore_null_empty]) and bag_pack_columns(c1, ...): bag_pack over the columns'
// names and values (every column of the row for pack_all); ignoring null and empty values is
// __pack_nonempty (dynamic.cc).
Result<BoundExpr> Binder::BindPackColumns(const Expr& e, const Schema& schema, const Scope* s) {
  std::vector<BoundExpr> args;
  auto add = [&](const std::string& key, BoundExpr v) {
    Column k = Column::Constant(Type::kString);
    k.AppendString(key);
    args.push_back(BoundExpr::Constant(std::move(k)));
    args.push_back(std::move(v));
  };
  bool skip_empty = false;
  if (e.name == "pack_all") {
    if (e.args.size() > 1) return SemanticError("pack_all() takes at most one argument", e.pos);
    if (!e.args.empty()) {
      ASSIGN_OR_RETURN(BoundExpr flag, BindConstant(*e.args[0], s));
      if (flag.type != Type::kBool) return SemanticError("pack_all(): expected a bool", e.pos);
      skip_empty = !flag.value.IsNull(0) && flag.value.Int(0) != 0;
    }
    for (size_t c = 0; c < schema.size() && c < 64; ++c) {
      add(schema[c].name, BoundExpr::ColumnRef(static_cast<int>(c), schema[c].type));
    }
  } else {
    for (const ExprPtr& a : e.args) {
      ASSIGN_OR_RETURN(BoundExpr v, BindExpr(*a, schema, s, nullptr));
      add(DefaultName(*a, false), std::move(v));
    }
  }
  const ScalarFunction* fn = FindFunction(skip_empty ? "__pack_nonempty" : "bag_pack");
  ASSIGN_OR_RETURN(BoundExpr call, MakeCall(fn, std::move(args), e.name, e.pos));
  // Marked for extend/project, whose later items see earlier items' columns, which pack_all
  // leaves out (BindProjectLike).
  if (e.name == "pack_all") call.member = "pack_all";
  return call;
}

namespace {

// The name an aggregate's argument lends its column (sum_x): Kusto passes a name through
// conversions and other functions that keep their first argument's meaning (sum(todouble(x))
// is sum_x, buildschema(todynamic(tostring(x))) schema_x) and prefixes a few with their own
// name (sum(strlen(x)): sum_strlen_x); other expressions lend none (countif(x > 1): countif_).
std::string AggregateArgName(const Expr& e, int depth = 0) {
  static const std::set<std::string_view> kFirstArgument = {
      "tostring", "todynamic", "toobject", "tolong", "toint", "toreal", "todouble", "todatetime",
      "totimespan", "totime", "tobool", "toboolean", "todecimal", "toguid", "tohex", "parse_json",
      "parsejson", "parse_xml", "parse_csv", "split", "format_datetime", "format_timespan",
      "startofday", "bin", "floor", "bin_at", "round", "ceiling", "pow", "sqrt", "log", "log2",
      "log10", "exp", "exp2", "exp10", "cos", "sin", "tan", "acos", "asin", "atan", "atan2", "abs",
      "gamma", "loggamma", "erf", "erfc", "binary_and", "binary_or", "binary_xor", "binary_not",
      "binary_shift_left", "binary_shift_right", "bitset_count_ones", "format_bytes"};
  static const std::set<std::string_view> kNameAndFirstArgument = {"strlen", "string_size"};
  if (e.kind != ExprKind::kCall || e.args.empty() || depth > 16) return DefaultName(e, false);
  if (kFirstArgument.count(e.name) > 0) return AggregateArgName(*e.args[0], depth + 1);
  if (kNameAndFirstArgument.count(e.name) > 0) return e.name + "_" + AggregateArgName(*e.args[0], depth + 1);
  return DefaultName(e, false);
}

}  // namespace

// An aggregate call inside a summarize item: adds a BoundAggregate and returns a reference to
// its (first) output column in the summarize output.
Result<BoundExpr> Binder::BindAggregateRef(const Expr& e, const Schema& schema, const Scope* s,
                                           AggContext* agg, const std::string& explicit_name) {
  const AggregateDef& def = *FindAggregate(e.name);
  int n = static_cast<int>(e.args.size());
  if (n < def.min_args || (def.max_args >= 0 && n > def.max_args)) {
    return SemanticError("Aggregate '" + e.name + "' does not take " + std::to_string(n) + " arguments", e.pos);
  }
  BoundAggregate a;
  a.def = &def;
  std::vector<Type> types;
  std::vector<std::string> arg_names;
  int value_args = def.value_args < 0 ? n : def.value_args;
  for (int i = 0; i < n; ++i) {
    const Expr& arg = *e.args[static_cast<size_t>(i)];
    if (i < value_args && arg.kind == ExprKind::kName && arg.name == "*") {
      if (i == 0) return SemanticError("'*' cannot be the first argument of " + e.name, arg.pos);
      for (size_t c = 0; c < schema.size(); ++c) {
        const std::string& cn = schema[c].name;
        bool is_key = std::find(agg->by_names.begin(), agg->by_names.end(), cn) != agg->by_names.end();
        if (is_key || cn == arg_names[0]) continue;
        a.args.push_back(BoundExpr::ColumnRef(static_cast<int>(c), schema[c].type));
        types.push_back(schema[c].type);
        arg_names.push_back(cn);
      }
      continue;
    }
    if (i < value_args) {
      ASSIGN_OR_RETURN(BoundExpr v, BindExpr(arg, schema, s, nullptr));
      if (v.untyped_null) v = BoundExpr::Constant(NullConstant(Type::kString));
      types.push_back(v.type);
      a.args.push_back(std::move(v));
      arg_names.push_back(AggregateArgName(arg));
      continue;
    }
    ASSIGN_OR_RETURN(BoundExpr p, BindConstant(arg, s));
    if (!IsNumeric(p.type) || p.value.IsNull(0)) return SemanticError(e.name + "(): expected a number", arg.pos);
    a.params.push_back(UsesReals(p.type) ? p.value.Real(0) : static_cast<double>(p.value.Int(0)));
  }
  Result<std::vector<Type>> out = AggregateTypes(def, types, a.params);
  if (!out.ok()) return SemanticError(out.status().message(), e.pos);
  a.types = *out;
  std::string base = !arg_names.empty() ? arg_names[0] : "";
  std::string_view dn = def.name;
  for (size_t i = 0; i < a.types.size(); ++i) {
    std::string name;
    if (dn == "percentile" || dn == "percentiles" || dn == "percentilew" || dn == "percentilesw") {
      std::string p = FormatReal(a.params[i]);
      std::replace(p.begin(), p.end(), '.', '_');
      name = std::string(def.prefix) + base + "_" + p;
    } else if (dn == "arg_min" || dn == "arg_max" || dn == "any" || dn == "take_any") {
      name = !arg_names[i].empty() ? arg_names[i] : std::string(def.prefix) + std::to_string(i);
      if (dn.starts_with("arg") && i == 0 && arg_names[0].empty()) name = std::string(def.prefix);
      if (!dn.starts_with("arg")) name = std::string(def.prefix) + arg_names[i];
    } else if (dn.starts_with("covariance") && arg_names.size() > 1) {  // covariance_x_y
      name = std::string(def.prefix) + base + "_" + arg_names[1];
    } else {
      name = std::string(def.prefix) + (dn == "countif" ? "" : base);  // count(y): count_y
    }
    if (i == 0 && !explicit_name.empty()) name = explicit_name;
    a.names.push_back(name);
  }
  size_t first = agg->first_output + agg->outputs;
  agg->outputs += a.types.size();
  BoundExpr ref = BoundExpr::ColumnRef(static_cast<int>(first), a.types[0]);
  agg->aggs->push_back(std::move(a));
  return ref;
}

namespace {

// toscalar() and a list of values read the first column of their subquery's rows.
std::vector<bool> FirstColumnOnly(size_t width) {
  std::vector<bool> need(width, false);
  if (width > 0) need[0] = true;
  return need;
}

}  // namespace

Result<Column> Binder::ScalarOfTabular(const Expr& e, const Scope* s) {
  ASSIGN_OR_RETURN(PlanPtr plan, BindTabularExpr(e, s));
  PruneColumns(*plan, FirstColumnOnly(plan->schema.size()));
  ASSIGN_OR_RETURN(Table t, RunToTable(*plan, ctx_));
  if (t.columns.empty()) return SemanticError("toscalar() needs a table with a column", e.pos);
  Column out = Column::Constant(t.columns[0].type);
  if (t.rows == 0) {
    out.AppendNull();
  } else {
    out.AppendFrom(t.columns[0], 0);
  }
  return out;
}

Result<std::vector<BoundExpr>> Binder::ValuesOfTabular(const Expr& e, const Scope* s) {
  ASSIGN_OR_RETURN(PlanPtr plan, BindTabularExpr(e, s));
  PruneColumns(*plan, FirstColumnOnly(plan->schema.size()));
  ASSIGN_OR_RETURN(Table t, RunToTable(*plan, ctx_));
  std::vector<BoundExpr> out;
  if (t.columns.empty()) return out;
  for (size_t r = 0; r < t.rows; ++r) {
    Column c = Column::Constant(t.columns[0].type);
    c.AppendFrom(t.columns[0], r);
    out.push_back(BoundExpr::Constant(std::move(c)));
  }
  return out;
}

}  // namespace cmk::kql::internal
