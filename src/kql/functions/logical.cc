// Logical operators: and, or (three-valued) and not().
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

Result<Type> LogicType(std::string_view name, Types t) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] != Type::kBool && t[i] != Type::kDynamic) return ArgTypeError(name, i, t[i], "bool");
  }
  return Type::kBool;
}

// Three-valued and/or: `dominant` (false for and, true for or) wins over null.
Result<Column> EvalLogic(std::string_view name, bool dominant, Args args, const FunctionContext& ctx) {
  for (size_t i = 0; i < args.size(); ++i) {
    Type t = args[i]->type;
    if (t != Type::kBool && t != Type::kDynamic) return ArgTypeError(name, i, t, "bool");
  }
  Column ca, cb;
  const Column* a = args[0];
  const Column* b = args[1];
  if (a->type == Type::kDynamic) a = &(ca = Convert(*a, Type::kBool, ctx));
  if (b->type == Type::kDynamic) b = &(cb = Convert(*b, Type::kBool, ctx));
  Shape s = ShapeOf(args, ctx);
  Column out = MakeColumn(Type::kBool, s);
  int64_t dom = dominant ? 1 : 0;
  for (size_t i = 0; i < s.rows; ++i) {
    bool an = a->IsNull(i), bn = b->IsNull(i);
    int64_t av = a->Int(i) != 0, bv = b->Int(i) != 0;
    if ((!an && av == dom) || (!bn && bv == dom)) {
      out.ints[i] = dom;
    } else if (an || bn) {
      SetNull(out, i);
    } else {
      out.ints[i] = 1 - dom;
    }
  }
  return out;
}

Result<Column> EvalNot(Args args, const FunctionContext& ctx) {
  Column conv;
  const Column* a = args[0];
  if (a->type == Type::kDynamic) a = &(conv = Convert(*a, Type::kBool, ctx));
  if (a->type != Type::kBool) return ArgTypeError("not", 0, a->type, "bool");
  Shape s = ShapeOf(args, ctx);
  Column out = MakeColumn(Type::kBool, s);
  for (size_t i = 0; i < s.rows; ++i) {
    if (a->IsNull(i)) SetNull(out, i);
    else out.ints[i] = a->Int(i) == 0 ? 1 : 0;
  }
  return out;
}

}  // namespace

void RegisterLogic(Registry& r) {
  r.Operator({"and", 2, 2, [](Types t) { return LogicType("and", t); },
              [](Args a, const FunctionContext& c) { return EvalLogic("and", false, a, c); }});
  r.Operator({"or", 2, 2, [](Types t) { return LogicType("or", t); },
              [](Args a, const FunctionContext& c) { return EvalLogic("or", true, a, c); }});
  r.Function({"not", 1, 1, [](Types t) { return LogicType("not", t); }, EvalNot});
}

}  // namespace cmk::kql::fn
