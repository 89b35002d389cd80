#include "kql/semantic/binder.h"

#include <algorithm>
#include <boost/json.hpp>
#include <climits>
#include <cmath>

#include "kql/exec/eval.h"
#include "kql/functions/aggregates.h"
#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql {
namespace internal {
namespace {
// Nesting of tabular lets, tabular and scalar function calls while binding.
constexpr int kMaxDepth = 64;
// Binding work (expression nodes bound or copied from lets, operators): lets and functions
// that use each other twice double the work per level, so this bounds the exponential cases.
constexpr size_t kMaxBindSteps = 200'000;
// A bound expression: its height bounds the evaluator's recursion (~1 KB of stack per level
// in Release, so ~1 MiB at the limit; the parser's kMaxHeight
// plus room for let values substituted into it), its node count the copies of let values.
constexpr uint32_t kMaxBoundHeight = 1000;
constexpr size_t kMaxBoundNodes = 100'000;
// Plan nodes on a path from the result to a leaf: the executor recurses (twice, with its sinks)
// per node. Chains of operators through tabular lets add up, e.g. 50,000 `| take 1`.
constexpr int kMaxPlanHeight = 1000;
}  // namespace

Status Binder::Step(const Position& pos, size_t units) {
  steps_ += units;
  // Binding is work too: the query's deadline and cancellation hold during it.
  // (A check reads a clock: cheap beside binding an operator or an expression.)
  if (ctx_.budget != nullptr) RETURN_IF_ERROR(ctx_.budget->Check());
  if (steps_ <= kMaxBindSteps) return OkStatus();
  return SemanticError("Query too complex: binding it needs more than " + std::to_string(kMaxBindSteps) +
                           " steps (let values and functions used many times multiply)",
                       pos);
}

Status Binder::Compose(BoundExpr& e, const Position& pos) {
  uint32_t height = 0;
  size_t nodes = 1;
  for (const BoundExpr& a : e.args) {
    height = std::max(height, a.height);
    nodes += a.nodes;
  }
  e.height = height + 1;
  e.nodes = nodes;
  if (e.height > kMaxBoundHeight) {
    return SemanticError("Query too deeply nested: an expression is more than " + std::to_string(kMaxBoundHeight) +
                             " levels deep once let values are substituted",
                         pos);
  }
  if (e.nodes > kMaxBoundNodes) {
    return SemanticError("Query too complex: an expression has more than " + std::to_string(kMaxBoundNodes) +
                             " terms once let values are substituted",
                         pos);
  }
  return OkStatus();
}

bool RefreshWithinLimits(BoundExpr& e) {
  uint32_t height = 0;
  size_t nodes = 1;
  for (BoundExpr& a : e.args) {
    if (!RefreshWithinLimits(a)) return false;
    height = std::max(height, a.height);
    nodes += a.nodes;
  }
  e.height = height + 1;
  e.nodes = nodes;
  return e.height <= kMaxBoundHeight && e.nodes <= kMaxBoundNodes;
}

Status Binder::SetPlanHeight(PlanNode& node, const Position& pos) {
  if (node.height == 0) {
    int h = 0;
    for (const auto& in : node.inputs) {
      // Inputs without a height are the few nodes one operator just created.
      RETURN_IF_ERROR(SetPlanHeight(*in, pos));
      h = std::max(h, in->height);
    }
    node.height = h + 1;
  }
  if (node.height <= kMaxPlanHeight) return OkStatus();
  return SemanticError("Query too deeply nested: more than " + std::to_string(kMaxPlanHeight) +
                           " tabular operators in a row",
                       pos);
}

PlanPtr ValuesNode(const Table& t) {
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kValues;
  for (size_t c = 0; c < t.columns.size(); ++c) n->schema.push_back({t.names[c], t.columns[c].type});
  n->values = t;
  return n;
}

bool ReadsRow(const BoundExpr& e) {
  if (e.kind != BoundExpr::Kind::kConstant && e.kind != BoundExpr::Kind::kCall &&
      e.kind != BoundExpr::Kind::kMember && e.kind != BoundExpr::Kind::kIndex) {
    return true;
  }
  return std::any_of(e.args.begin(), e.args.end(), [](const BoundExpr& a) { return ReadsRow(a); });
}

bool IsNondeterministicName(const std::string& name) { return name == "rand" || name == "new_guid"; }

Result<BoundExpr> BindLiteral(const Expr& e) {
  const Literal& l = e.literal;
  switch (l.kind) {
    case LiteralKind::kNull: {
      if (l.type.empty()) {
        BoundExpr b = BoundExpr::Constant(NullConstant(Type::kDynamic));
        b.untyped_null = true;
        return b;
      }
      std::optional<Type> t = ParseTypeName(l.type);
      if (!t) return SemanticError("Unknown type '" + l.type + "'", e.pos);
      return BoundExpr::Constant(NullConstant(*t));
    }
    case LiteralKind::kBool: return BoundExpr::Constant(IntConstant(Type::kBool, l.int_value));
    case LiteralKind::kLong:
      if (l.type == "int" && (l.int_value < INT32_MIN || l.int_value > INT32_MAX)) {
        return SemanticError("int literal out of range: " + std::to_string(l.int_value), e.pos);
      }
      return BoundExpr::Constant(IntConstant(l.type == "int" ? Type::kInt : Type::kLong, l.int_value));
    case LiteralKind::kReal:
      if (l.type == "decimal") {
        Column c = RealConstant(l.real_value);
        c.type = Type::kDecimal;
        return BoundExpr::Constant(std::move(c));
      }
      return BoundExpr::Constant(RealConstant(l.real_value));
    case LiteralKind::kString: return BoundExpr::Constant(StringConstant(Type::kString, l.text));
    case LiteralKind::kTimespan: return BoundExpr::Constant(IntConstant(Type::kTimespan, l.int_value));
    case LiteralKind::kDatetime: {
      // The documented forms (ISO 8601, RFC 822/850, sortable), bare or quoted:
      // datetime(2015-12-14), datetime("2015-12-14"), datetime(Sat, 8 Nov 14 15:05:02 GMT).
      std::string_view text = l.text;
      if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') &&
          text.back() == text.front()) {
        text = text.substr(1, text.size() - 2);
      }
      std::optional<int64_t> t = ParseDatetimeTicks(text);
      if (!t) t = fn::ParseDateTime(text);
      if (!t) return SemanticError("Invalid datetime literal '" + l.text + "'", e.pos);
      return BoundExpr::Constant(IntConstant(Type::kDateTime, *t));
    }
    case LiteralKind::kGuid: {
      // 32 hex digits, hyphenated 8-4-4-4-12 or not, optionally in braces (.NET's D, N and B
      // forms); anything else is no guid.
      std::string_view text = l.text;
      if (text.size() == 38 && text.front() == '{' && text.back() == '}') text = text.substr(1, 36);
      std::optional<std::string> g = text.size() == 32 || text.size() == 36 ? fn::ParseGuid(text) : std::nullopt;
      if (!g || (text.size() == 36 && (text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-'))) {
        return SemanticError("Invalid guid literal '" + l.text + "'", e.pos);
      }
      return BoundExpr::Constant(StringConstant(Type::kGuid, *g));
    }
    case LiteralKind::kDynamic: {
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(l.text.empty() ? "null" : NormalizeDynamicText(l.text), ec);
      if (ec) return SemanticError("Invalid dynamic literal '" + l.text + "'", e.pos);
      if (v.is_null()) return BoundExpr::Constant(NullConstant(Type::kDynamic));
      return BoundExpr::Constant(StringConstant(Type::kDynamic, fn::WriteJson(v)));
    }
  }
  return SemanticError("Unsupported literal", e.pos);
}

Status SemanticError(const std::string& message, const Position& pos) {
  return InvalidArgument(message + " at " + pos.ToString(), "SemanticError");
}

std::string DefaultName(const Expr& e, bool by_key) {
  if (e.kind == ExprKind::kName && e.name != "*") return e.name;
  if (e.kind == ExprKind::kMember && !e.args.empty()) {
    std::string base = DefaultName(*e.args[0], false);
    return base.empty() ? "" : base + "_" + e.name;
  }
  if (e.kind == ExprKind::kIndex && e.args.size() == 2 && e.args[1]->kind == ExprKind::kLiteral &&
      e.args[1]->literal.kind == LiteralKind::kString) {
    std::string base = DefaultName(*e.args[0], false);
    return base.empty() ? "" : base + "_" + e.args[1]->literal.text;
  }
  // Functions Kusto names after themselves and their argument (`project dcount_hll(merged)`:
  // dcount_hll_merged, as hll-merge-function.md shows).
  if (e.kind == ExprKind::kCall && e.args.size() == 1 &&
      (e.name == "dcount_hll" || e.name == "strlen" || e.name == "string_size")) {
    return e.name + "_" + DefaultName(*e.args[0], false);
  }
  if (by_key && e.kind == ExprKind::kCall && !e.args.empty() &&
      (e.name == "bin" || e.name == "floor" || e.name == "bin_at" || e.name == "bin_auto" || e.name == "startofday" ||
       e.name == "startofhour" || e.name == "startofweek" || e.name == "startofmonth")) {
    return DefaultName(*e.args[0], false);
  }
  return "";
}

std::string UniqueName(const std::string& name, const Schema& taken) {
  auto used = [&](const std::string& n) {
    for (const ColumnSchema& c : taken) {
      if (c.name == n) return true;
    }
    return false;
  };
  if (!used(name)) return name;
  for (int i = 1;; ++i) {
    std::string n = name + std::to_string(i);
    if (!used(n)) return n;
  }
}

bool WildcardMatch(std::string_view p, std::string_view n) {
  if (p.empty()) return n.empty();
  if (p[0] == '*') {
    for (size_t i = 0; i <= n.size(); ++i) {
      if (WildcardMatch(p.substr(1), n.substr(i))) return true;
    }
    return false;
  }
  return !n.empty() && p[0] == n[0] && WildcardMatch(p.substr(1), n.substr(1));
}

int FindColumn(const Schema& s, const std::string& name) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::string OptionValue(const std::vector<Option>& options, const std::string& key) {
  for (const Option& o : options) {
    if (o.key == key) return o.value;
  }
  return "";
}

const Scope* Binder::NewScope(const Scope* parent) {
  scopes_.emplace_back();
  scopes_.back().parent = parent;
  return &scopes_.back();
}

Result<BoundQuery> Binder::BindQuery(const Query& q) {
  BoundQuery out;
  const Scope* scope = NewScope(nullptr);
  for (const Statement& st : q.statements) {
    if (st.kind == StatementKind::kSet) {  // a request property for the statements after it
      if (st.value == nullptr) {
        request_properties_[st.name] = IntConstant(Type::kBool, 1);
        continue;
      }
      ASSIGN_OR_RETURN(BoundExpr v, BindConstant(*st.value, scope));
      request_properties_[st.name] = std::move(v.value);
      continue;
    }
    if (st.kind == StatementKind::kExpr) {
      const Expr& v = *st.value;
      if (v.kind == ExprKind::kTabular && !v.tabular->ops.empty() &&
          (v.tabular->ops.back().kind == OpKind::kFork || v.tabular->ops.back().kind == OpKind::kFacet)) {
        RETURN_IF_ERROR(BindForked(*v.tabular, scope, out.results));
        continue;
      }
      ASSIGN_OR_RETURN(PlanPtr plan, BindTabularExpr(*st.value, scope));
      out.results.push_back(std::move(plan));
      continue;
    }
    if (st.kind == StatementKind::kRestrict) {
      ASSIGN_OR_RETURN(scope, Restrict(st, scope));
      continue;
    }
    Binding b;
    b.scope = scope;
    if (st.kind == StatementKind::kPattern) {
      b.kind = Binding::Kind::kPattern;
      b.fn = &st;
    } else if (st.is_function) {
      b.kind = Binding::Kind::kFunction;
      b.fn = &st;
    } else if (st.value->kind == ExprKind::kTabular || DenotesTable(*st.value, scope)) {
      b.kind = Binding::Kind::kTabular;
      b.expr = st.value.get();
    } else {
      ASSIGN_OR_RETURN(b.scalar, BindExpr(*st.value, Schema{}, scope));
    }
    Scope* next = const_cast<Scope*>(NewScope(scope));
    next->names[st.name] = std::move(b);
    scope = next;
  }
  for (PlanPtr& plan : out.results) PruneColumns(*plan, std::vector<bool>(plan->schema.size(), true));
  out.render = render_;
  return out;
}

// Whether a let value that parsed as a scalar (a bare name or call) denotes a table.
bool Binder::DenotesTable(const Expr& e, const Scope* s) const {
  if (e.kind != ExprKind::kName && e.kind != ExprKind::kCall) return false;
  const Binding* b = s->Find(e.name);
  if (b != nullptr) {
    if (b->kind == Binding::Kind::kTabular) return true;
    if (b->kind == Binding::Kind::kFunction && !b->fn->body.empty()) {
      const Expr& body = *b->fn->body.back().value;
      return body.kind == ExprKind::kTabular;
    }
    return false;
  }
  if (e.kind == ExprKind::kCall) return e.name == "materialize";
  return ctx_.catalog->TableSchema(e.name).has_value();
}

Result<PlanPtr> Binder::BindTabularExpr(const Expr& e, const Scope* s) {
  if (++depth_ > kMaxDepth) return SemanticError("Query nests too deeply", e.pos);
  Result<PlanPtr> r = SemanticError("Expected a tabular expression", e.pos);
  if (e.kind == ExprKind::kTabular) {
    r = BindTabular(*e.tabular, s);
  } else if (e.kind == ExprKind::kName) {
    r = ResolveTable(e.name, e.pos, s);
  } else if (e.kind == ExprKind::kCall) {
    r = CallTabular(e.name, e.args, e.pos, s);
  }
  --depth_;
  return r;
}

Result<PlanPtr> Binder::ResolveTable(const std::string& name, const Position& pos, const Scope* s) {
  if (const Binding* b = s->Find(name)) {
    if (b->kind == Binding::Kind::kTabular && b->table) return ValuesNode(*b->table);
    if (b->kind == Binding::Kind::kTabular) return BindTabularExpr(*b->expr, b->scope);
    if (b->kind == Binding::Kind::kFunction) {
      ASSIGN_OR_RETURN(PlanPtr plan, CallFunction(*b, {}, pos, s, nullptr, nullptr));
      if (b->fn->is_view) plan->name = name;  // union withsource, search $table
      return plan;
    }
    if (b->kind == Binding::Kind::kPattern) {
      return SemanticError("'" + name + "' is a pattern: invoke it as " + name + "(arguments)", pos);
    }
    return SemanticError("'" + name + "' is a scalar, not a table", pos);
  }
  std::optional<Schema> schema = ctx_.catalog->TableSchema(name);
  if (!schema || !TableAllowed(name, s)) {
    return SemanticError("Failed to resolve table expression named '" + name + "'", pos);
  }
  auto node = std::make_unique<PlanNode>();
  node->kind = NodeKind::kScan;
  node->name = name;
  node->schema = *schema;
  node->scan.table = name;
  for (const ColumnSchema& c : *schema) node->scan.columns.push_back(c.name);
  return node;
}

Result<PlanPtr> Binder::CallTabular(const std::string& name, const std::vector<ExprPtr>& args,
                                    const Position& pos, const Scope* s) {
  if (name == "materialize" && args.size() == 1) return BindTabularExpr(*args[0], s);
  if (name == "cluster" || name == "database" || name == "adx" || name == "arg" || name == "workspace" ||
      name == "app" || name == "resource") {
    return SemanticError("'" + name + "()' is not supported in cmklogs: it refers to another cluster, " +
                             "database, workspace or service",
                         pos);
  }
  const Binding* b = s->Find(name);
  if (b == nullptr && name == "table") return BindTableFunction(args, pos, s);
  if (b == nullptr || b->kind != Binding::Kind::kFunction) {
    return SemanticError("Unknown function: '" + name + "'", pos);
  }
  return CallFunction(*b, args, pos, s, nullptr, nullptr);
}

// Binds a let function's body in a scope holding its parameters. Tabular parameters refer to
// the caller's expressions; scalar ones are bound in the caller's context (`schema`), so a
// scalar function may take columns. Returns a plan, or fills `scalar_out` when it is given.
Result<PlanPtr> Binder::CallFunction(const Binding& fn, const std::vector<ExprPtr>& args,
                                     const Position& pos, const Scope* caller,
                                     const Schema* schema, BoundExpr* scalar_out,
                                     std::shared_ptr<const Table> input) {
  const Statement& st = *fn.fn;
  size_t first = input ? 1 : 0;  // invoke's rows take the first parameter
  if (input && (st.params.empty() || st.params[0].type.empty() || st.params[0].type[0] != '(')) {
    return SemanticError("invoke: '" + st.name + "' has no tabular first parameter", pos);
  }
  if (args.size() + first > st.params.size()) {
    return SemanticError("Function '" + st.name + "' takes " + std::to_string(st.params.size()) +
                             " arguments, got " + std::to_string(args.size()), pos);
  }
  // Arguments by parameter: positional ones first, then `name=value` ones (f(12, c=7)).
  std::vector<const Expr*> by_param(st.params.size(), nullptr);
  for (size_t i = 0; i < args.size(); ++i) {
    size_t p = i + first;
    if (!args[i]->arg_name.empty()) {
      auto it = std::find_if(st.params.begin(), st.params.end(),
                             [&](const ColumnDecl& d) { return d.name == args[i]->arg_name; });
      if (it == st.params.end()) {
        return SemanticError(
            "Function '" + st.name + "' has no parameter '" + args[i]->arg_name + "'", pos);
      }
      p = static_cast<size_t>(it - st.params.begin());
    }
    if (by_param[p] != nullptr) {
      return SemanticError(
          "Parameter '" + st.params[p].name + "' of '" + st.name + "' is given twice", pos);
    }
    by_param[p] = args[i].get();
  }
  if (++depth_ > kMaxDepth) return SemanticError("Function calls nest too deeply", pos);
  Scope* scope = const_cast<Scope*>(NewScope(fn.scope));
  static const Schema kEmpty;
  const Schema& ctx_schema = schema != nullptr ? *schema : kEmpty;
  for (size_t i = 0; i < st.params.size(); ++i) {
    const ColumnDecl& p = st.params[i];
    Binding b;
    b.scope = caller;
    if (i == 0 && input) {
      b.kind = Binding::Kind::kTabular;
      b.table = input;
    } else if (!p.type.empty() && p.type[0] == '(') {
      if (by_param[i] == nullptr) {
        return SemanticError("Missing tabular argument '" + p.name + "'", pos);
      }
      b.kind = Binding::Kind::kTabular;
      b.expr = by_param[i];
    } else if (by_param[i] != nullptr) {
      ASSIGN_OR_RETURN(b.scalar, BindExpr(*by_param[i], ctx_schema, caller));
      if (ReadsRow(b.scalar)) b.row_schema = ctx_schema;
    } else if (p.default_value) {
      ASSIGN_OR_RETURN(b.scalar, BindExpr(*p.default_value, ctx_schema, fn.scope));
    } else {
      return SemanticError("Missing argument '" + p.name + "' of function '" + st.name + "'", pos);
    }
    if (b.kind == Binding::Kind::kScalar && b.scalar.untyped_null) {
      if (std::optional<Type> t = ParseTypeName(p.type)) b.scalar = BoundExpr::Constant(NullConstant(*t));
    }
    scope->names[p.name] = std::move(b);
  }
  const Scope* body_scope = scope;
  for (size_t i = 0; i + 1 < st.body.size(); ++i) {
    const Statement& let = st.body[i];
    Binding b;
    b.scope = body_scope;
    if (let.is_function) {
      b.kind = Binding::Kind::kFunction;
      b.fn = &let;
    } else if (let.value->kind == ExprKind::kTabular || DenotesTable(*let.value, body_scope)) {
      b.kind = Binding::Kind::kTabular;
      b.expr = let.value.get();
    } else {
      ASSIGN_OR_RETURN(b.scalar, BindExpr(*let.value, ctx_schema, body_scope));
      if (ReadsRow(b.scalar)) b.row_schema = ctx_schema;
    }
    Scope* next = const_cast<Scope*>(NewScope(body_scope));
    next->names[let.name] = std::move(b);
    body_scope = next;
  }
  const Expr& result = *st.body.back().value;
  Result<PlanPtr> r = PlanPtr();
  if (scalar_out != nullptr) {
    Result<BoundExpr> e = BindExpr(result, ctx_schema, body_scope);
    if (e.ok()) *scalar_out = std::move(*e);
    else r = e.status();
  } else {
    r = BindTabularExpr(result, body_scope);
  }
  --depth_;
  return r;
}

Result<PlanPtr> Binder::BindTabular(const Tabular& t, const Scope* s, PlanPtr input, size_t ops_end) {
  PlanPtr plan = std::move(input);
  if (plan && t.source.kind != SourceKind::kNone) {
    return SemanticError("A subquery here starts with an operator, not a source", t.pos);
  }
  if (t.source.kind != SourceKind::kNone) {
    ASSIGN_OR_RETURN(plan, BindSource(t.source, s));
  }
  PlanNode* scan = plan && plan->kind == NodeKind::kScan ? plan.get() : nullptr;
  std::vector<PlanNode*> chain;
  if (plan) RETURN_IF_ERROR(SetPlanHeight(*plan, t.pos));
  for (size_t i = 0; i < t.ops.size() && i < ops_end; ++i) {
    const Operator& op = t.ops[i];
    RETURN_IF_ERROR(Step(op.pos));
    ASSIGN_OR_RETURN(plan, BindOperator(op, std::move(plan), s));
    RETURN_IF_ERROR(SetPlanHeight(*plan, op.pos));
    chain.push_back(plan.get());
  }
  if (scan != nullptr) {
    // The nodes from the scan up, as the plan stands: an operator may rebuild the ones below it
    // (`sort | take` turns the sort into a top and may move it below a column selection).
    std::vector<PlanNode*> path;
    PlanNode* n = plan.get();
    for (; n != nullptr && n != scan; n = n->inputs.empty() ? nullptr : n->inputs[0].get()) path.push_back(n);
    if (n == scan) chain.assign(path.rbegin(), path.rend());
    PushDown(*scan, chain);
    // A where left with nothing to test (its time comparisons answered by the scan) goes: the
    // operators above it then stand straight over the scan (summarize, sample, another where
    // and its string tests on the reader threads). Its node takes its input's place in the
    // plan (the input moved out first: it is freed with the emptied node).
    for (PlanNode* node : chain) {
      const BoundExpr& p = node->predicate;
      if (node->kind != NodeKind::kFilter || !p.IsConstant() || p.value.type != Type::kBool || p.value.IsNull(0) ||
          p.value.Int(0) == 0 || node->inputs.size() != 1) {
        continue;
      }
      PlanPtr input = std::move(node->inputs[0]);
      *node = std::move(*input);
    }
  }
  return plan;
}

Result<BoundExpr> Binder::BindConstant(const Expr& e, const Scope* s) {
  ASSIGN_OR_RETURN(BoundExpr b, BindExpr(e, Schema{}, s));
  if (!b.IsConstant()) return SemanticError("Expected a constant expression", e.pos);
  return b;
}

Result<PlanPtr> Binder::BindSource(const Source& src, const Scope* s) {
  // Each source bound is a step: a let bound to a union of two earlier lets binds them again at
  // each use, which doubles per let (30 lets: 2^30 binds) with no operator to count.
  RETURN_IF_ERROR(Step(src.pos));
  switch (src.kind) {
    case SourceKind::kTable: return ResolveTable(src.name, src.pos, s);
    case SourceKind::kCall: {
      const Binding* b = s->Find(src.name);
      if (b != nullptr && b->kind == Binding::Kind::kPattern) return BindPattern(*b, src, s);
      if (src.has_path) return SemanticError("'" + src.name + "' is not a declared pattern", src.pos);
      return CallTabular(src.name, src.args, src.pos, s);
    }
    case SourceKind::kSubquery: return BindTabular(*src.tables[0], s);
    case SourceKind::kUnion: {
      bool fuzzy = false;
      for (const Option& o : src.options) fuzzy = fuzzy || (o.key == "isfuzzy" && o.value == "true");
      ASSIGN_OR_RETURN(std::vector<PlanPtr> legs, BindLegs(src.tables, fuzzy, s));
      return BindUnion(std::move(legs), src.options, src.pos);
    }
    case SourceKind::kNone: return SemanticError("Expected a table", src.pos);
    case SourceKind::kDatatable: return BindDatatable(src, s);
    case SourceKind::kPrint: return BindPrint(src, s);
    case SourceKind::kRange: return BindRange(src, s);
  }
  return SemanticError("Expected a table", src.pos);
}

Result<PlanPtr> Binder::BindDatatable(const Source& src, const Scope* s) {
  auto node = std::make_unique<PlanNode>();
  node->kind = NodeKind::kValues;
  Table& t = node->values;
  for (const ColumnDecl& c : src.columns) {
    std::optional<Type> type = ParseTypeName(c.type);
    if (!type) return SemanticError("Unknown type '" + c.type + "'", src.pos);
    node->schema.push_back({c.name, *type});
    t.AddColumn(c.name, Column(*type));
  }
  for (size_t i = 0; i < src.args.size(); ++i) {
    ASSIGN_OR_RETURN(BoundExpr v, BindConstant(*src.args[i], s));
    Column& col = t.columns[i % src.columns.size()];
    if (v.value.IsNull(0)) {
      col.AppendNull();
    } else if (v.type == col.type || (UsesInts(v.type) && UsesInts(col.type))) {
      col.AppendFrom(v.value, 0);
    } else if (UsesReals(col.type) && UsesInts(v.type) && v.type != Type::kDateTime) {
      col.AppendReal(static_cast<double>(v.value.Int(0)));
    } else if (col.type == Type::kDynamic || col.type == Type::kString || col.type == Type::kGuid) {
      AppendConverted(col, ValueToJson(v.value, 0), true);
    } else {
      return SemanticError("datatable value of type " + std::string(TypeName(v.type)) +
                               " does not fit column '" + t.names[i % src.columns.size()] + "' of type " +
                               TypeName(col.type), src.args[i]->pos);
    }
  }
  t.rows = src.columns.empty() ? 0 : src.args.size() / src.columns.size();
  return node;
}

Result<PlanPtr> Binder::BindPrint(const Source& src, const Scope* s) {
  auto node = std::make_unique<PlanNode>();
  node->kind = NodeKind::kValues;
  Table& t = node->values;
  int n = 0;
  for (const NamedExpr& item : src.items) {
    ASSIGN_OR_RETURN(BoundExpr v, BindConstant(*item.expr, s));
    const Expr& e = *item.expr;
    size_t arrays = 0;
    if (item.name.empty() && e.kind == ExprKind::kCall && e.args.size() >= 2 && s->Find(e.name) == nullptr) {
      ASSIGN_OR_RETURN(BoundExpr last, BindConstant(*e.args.back(), s));
      arrays = SortedArrayCount(e, last.type == Type::kBool);
    }
    if (arrays > 0) {  // a column per sorted array
      boost::system::error_code ec;
      boost::json::value all = v.value.IsNull(0) ? boost::json::value() : boost::json::parse(v.value.Str(0), ec);
      for (size_t k = 0; k < arrays; ++k) {
        std::string name = k < item.names.size() ? item.names[k] : DefaultName(*e.args[k], false);
        if (k >= item.names.size()) name = name.empty() ? "print_" + std::to_string(n) : name + "_sorted";
        ++n;
        name = UniqueName(name, node->schema);
        node->schema.push_back({name, Type::kDynamic});
        Column c(Type::kDynamic);
        const boost::json::value* a = !ec && all.is_array() && k < all.get_array().size() ? &all.get_array()[k] : nullptr;
        if (a == nullptr || a->is_null()) c.AppendNull();
        else c.AppendString(fn::WriteJson(*a));
        t.AddColumn(name, std::move(c));
      }
      continue;
    }
    // Kusto names every unnamed print expression print_<n>, even a bare name (`print d`).
    std::string name = !item.name.empty() ? item.name : "print_" + std::to_string(n);
    ++n;
    name = UniqueName(name, node->schema);
    node->schema.push_back({name, v.type});
    Column c(v.type);
    c.AppendFrom(v.value, 0);
    t.AddColumn(name, std::move(c));
  }
  t.rows = 1;
  return node;
}

// range x from a to b step c.
Result<PlanPtr> Binder::BindRange(const Source& src, const Scope* s) {
  auto node = std::make_unique<PlanNode>();
  node->kind = NodeKind::kValues;
  Table& t = node->values;
  ASSIGN_OR_RETURN(BoundExpr from, BindConstant(*src.from, s));
  ASSIGN_OR_RETURN(BoundExpr to, BindConstant(*src.to, s));
  ASSIGN_OR_RETURN(BoundExpr step, BindConstant(*src.step, s));
  Type type = UsesReals(from.type) || UsesReals(to.type) || UsesReals(step.type) ? Type::kReal
              : from.type == Type::kInt ? Type::kLong : from.type;
  node->schema.push_back({src.name, type});
  Column c(type);
  if (from.value.IsNull(0) || to.value.IsNull(0) || step.value.IsNull(0)) {
    return SemanticError("range bounds must not be null", src.pos);
  }
  // The row count is computed first, overflow-free.
  uint64_t rows = 0;
  double ra = 0, rst = 0;
  int64_t ia = 0, ist = 0;
  if (type == Type::kReal) {
    auto num = [](const BoundExpr& b) { return UsesReals(b.type) ? b.value.Real(0) : static_cast<double>(b.value.Int(0)); };
    ra = num(from);
    rst = num(step);
    double b = num(to);
    if (rst == 0 || std::isnan(rst)) return SemanticError("range step must not be zero", src.pos);
    // The epsilon keeps `0.1 to 1.0 step 0.1` at 10 rows despite 0.9/0.1 = 8.999999999999998.
    double n = std::floor((b - ra) / rst + 1e-9) + 1;
    if (!std::isfinite(ra) || !std::isfinite(b) || !std::isfinite(rst) || std::isnan(n)) {
      return SemanticError("range bounds and step must be finite", src.pos);
    }
    rows = n <= 0 ? 0 : n >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(n);
  } else {
    ia = from.value.Int(0);
    ist = step.value.Int(0);
    int64_t b = to.value.Int(0);
    if (ist == 0) return SemanticError("range step must not be zero", src.pos);
    if (ist > 0 ? b >= ia : b <= ia) {
      uint64_t span = ist > 0 ? static_cast<uint64_t>(b) - static_cast<uint64_t>(ia)
                              : static_cast<uint64_t>(ia) - static_cast<uint64_t>(b);
      uint64_t mag = ist > 0 ? static_cast<uint64_t>(ist) : 0 - static_cast<uint64_t>(ist);
      rows = span / mag + 1;
    }
  }
  // Small ranges are materialized now (the plan then hands them out without copies); larger
  // ones are generated in slices by the executor (PlanNode::LazyRange) and cost memory only for
  // the slice in flight. A count over 1e12 rows is then exact or out of time, never wrong.
  constexpr uint64_t kMaterializeRows = 64 * 1024;
  if (rows > kMaterializeRows) {
    PlanNode::LazyRange lazy;
    lazy.rows = rows;
    lazy.real = type == Type::kReal;
    lazy.from = ia;
    lazy.step = ist;
    lazy.rfrom = ra;
    lazy.rstep = rst;
    node->range = lazy;
    t.rows = 0;
    t.AddColumn(src.name, std::move(c));
    return node;
  }
  size_t n = static_cast<size_t>(rows);
  if (type == Type::kReal) {
    c.reals.resize(n);
    for (size_t i = 0; i < n; ++i) c.reals[i] = ra + static_cast<double>(i) * rst;
  } else {
    c.ints.resize(n);
    // Two's-complement steps: the last value never overflows, intermediate sums wrap harmlessly.
    uint64_t x = static_cast<uint64_t>(ia);
    for (size_t i = 0; i < n; ++i, x += static_cast<uint64_t>(ist)) c.ints[i] = static_cast<int64_t>(x);
  }
  t.rows = c.stored();
  t.AddColumn(src.name, std::move(c));
  return node;
}

}  // namespace internal

Result<BoundQuery> Bind(const Query& query, const ExecContext& ctx) {
  internal::Binder binder(ctx);
  return binder.BindQuery(query);
}

}  // namespace cmk::kql
