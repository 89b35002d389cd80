// The registry (functions.h) and the shared helpers of function_util.h.
#include <string>
#include <unordered_map>
#include <vector>

#include "kql/functions/function_util.h"
#include "kql/functions/functions.h"

namespace cmk::kql {
namespace fn {

Status ArgTypeError(std::string_view fn, size_t arg, Type got, std::string_view expected) {
  return InvalidArgument(std::string(fn) + ": argument " + std::to_string(arg + 1) + " has type " +
                             TypeName(got) + ", expected " + std::string(expected),
                         "SemanticError");
}

Type PromoteNumeric(Type a, Type b) {
  if (a == Type::kReal || b == Type::kReal) return Type::kReal;
  if (a == Type::kDecimal || b == Type::kDecimal) return Type::kDecimal;
  if (a == Type::kLong || b == Type::kLong) return Type::kLong;
  return Type::kInt;
}

std::optional<Type> CommonType(Type a, Type b) {
  if (a == b) return a;
  if (IsNumeric(a) && IsNumeric(b)) return PromoteNumeric(a, b);
  if ((a == Type::kString && b == Type::kGuid) || (a == Type::kGuid && b == Type::kString)) {
    return Type::kString;
  }
  if (a == Type::kDynamic) return b;  // the dynamic side converts to the scalar type
  if (b == Type::kDynamic) return a;
  return std::nullopt;
}

Shape ShapeOf(Args args, const FunctionContext& ctx) {
  bool constant = true;
  for (const Column* c : args) constant = constant && c->constant;
  return constant ? Shape{1, true} : Shape{ctx.rows, false};
}

Column MakeColumn(Type t, Shape s) {
  Column c(t);
  c.constant = s.constant;
  if (UsesInts(t)) c.ints.assign(s.rows, 0);
  else if (UsesReals(t)) c.reals.assign(s.rows, 0.0);
  else c.strings.assign(s.rows, t == Type::kDynamic ? "null" : "");
  return c;
}

void SetNull(Column& c, size_t i) {
  if (c.nulls.empty()) c.nulls.assign(c.stored(), 0);
  c.nulls[i] = 1;
  if (UsesInts(c.type)) c.ints[i] = 0;
  else if (UsesReals(c.type)) c.reals[i] = 0.0;
  else c.strings[i] = c.type == Type::kDynamic ? "null" : "";
}

void CopyValue(Column& out, size_t i, const Column& src, size_t row) {
  if (src.IsNull(row)) {
    SetNull(out, i);
    return;
  }
  if (!out.nulls.empty()) out.nulls[i] = 0;
  if (UsesInts(out.type)) out.ints[i] = src.Int(row);
  else if (UsesReals(out.type)) out.reals[i] = src.Real(row);
  else out.strings[i] = src.Str(row);
}

bool AnyNull(Args args, size_t row) {
  for (const Column* c : args) {
    if (c->IsNull(row)) return true;
  }
  return false;
}

Column ConstantNull(Type t) {
  Column c = MakeColumn(t, Shape{1, true});
  if (t != Type::kString && t != Type::kGuid) SetNull(c, 0);
  return c;
}

std::string LowerAsciiCopy(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = LowerAscii(ch);
  return out;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(a[i]) != LowerAscii(b[i])) return false;
  }
  return true;
}

// Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms), valid for
// any proleptic Gregorian year representable here, negative ones included.
Civil ToCivil(int64_t ticks) {
  int64_t days = FloorDiv(ticks, kTicksPerDay);
  Civil c;
  c.time_of_day = ticks - days * kTicksPerDay;
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  c.day = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  c.year = yoe + era * 400 + (c.month <= 2 ? 1 : 0);
  return c;
}

int64_t FromCivil(int64_t year, unsigned month, unsigned day) {
  year -= month <= 2 ? 1 : 0;
  int64_t era = (year >= 0 ? year : year - 399) / 400;
  int64_t yoe = year - era * 400;
  int64_t mp = month > 2 ? month - 3 : month + 9;
  int64_t doy = (153 * mp + 2) / 5 + day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return (era * 146097 + doe - 719468) * kTicksPerDay;
}

}  // namespace fn

namespace {

struct Index {
  std::unordered_map<std::string_view, const ScalarFunction*> functions;
  std::unordered_map<std::string_view, const ScalarFunction*> operators;
  fn::Registry registry;
  std::vector<std::string> duplicates;  // names registered twice (a bug: the last one wins)
};

const Index& GetIndex() {
  // Built once, on first use (thread-safe static initialization); immutable afterwards.
  static const Index* index = [] {
    auto* idx = new Index();
    fn::RegisterArithmetic(idx->registry);
    fn::RegisterComparisons(idx->registry);
    fn::RegisterLogic(idx->registry);
    fn::RegisterConversions(idx->registry);
    fn::RegisterConditionals(idx->registry);
    fn::RegisterStringOps(idx->registry);
    fn::RegisterInOps(idx->registry);
    fn::RegisterStrings(idx->registry);
    fn::RegisterRegex(idx->registry);
    fn::RegisterDateTime(idx->registry);
    fn::RegisterFormat(idx->registry);
    fn::RegisterMath(idx->registry);
    fn::RegisterDynamic(idx->registry);
    fn::RegisterHash(idx->registry);
    fn::RegisterIp(idx->registry);
    fn::RegisterEncoding(idx->registry);
    fn::RegisterUrl(idx->registry);
    fn::RegisterExtractJson(idx->registry);
    fn::RegisterPunycode(idx->registry);
    fn::RegisterSeries(idx->registry);
    fn::RegisterArrays(idx->registry);
    fn::RegisterGeo(idx->registry);
    fn::RegisterMisc(idx->registry);
    for (const ScalarFunction& f : idx->registry.functions) {
      if (!idx->functions.insert_or_assign(f.name, &f).second) idx->duplicates.emplace_back(f.name);
    }
    for (const ScalarFunction& f : idx->registry.operators) {
      if (!idx->operators.insert_or_assign(f.name, &f).second) idx->duplicates.emplace_back(f.name);
    }
    return idx;
  }();
  return *index;
}

}  // namespace

const ScalarFunction* FindFunction(std::string_view name) {
  const Index& idx = GetIndex();
  auto it = idx.functions.find(name);
  return it == idx.functions.end() ? nullptr : it->second;
}

std::vector<std::string> DuplicateRegistrationsForTest() { return GetIndex().duplicates; }

const ScalarFunction* FindOperator(std::string_view op) {
  const Index& idx = GetIndex();
  auto it = idx.operators.find(op);
  return it == idx.operators.end() ? nullptr : it->second;
}

}  // namespace cmk::kql
