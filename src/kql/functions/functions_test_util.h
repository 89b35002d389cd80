#pragma once
// Test helpers for kql/functions/*_test.cc: build small columns, call a function or operator, and
// show results as text ("<null>" for nulls) for compact expectations.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "base/testing.h"
#include "kql/functions/function_util.h"
#include "kql/functions/functions.h"

namespace cmk::kql::testing {

inline Column Ints(Type t, std::initializer_list<std::optional<int64_t>> values) {
  Column c(t);
  for (const auto& v : values) {
    if (v) c.AppendInt(*v);
    else c.AppendNull();
  }
  return c;
}
inline Column Longs(std::initializer_list<std::optional<int64_t>> v) { return Ints(Type::kLong, v); }
inline Column Bools(std::initializer_list<std::optional<int64_t>> v) { return Ints(Type::kBool, v); }
inline Column Reals(std::initializer_list<std::optional<double>> values) {
  Column c(Type::kReal);
  for (const auto& v : values) {
    if (v) c.AppendReal(*v);
    else c.AppendNull();
  }
  return c;
}
inline Column Strs(std::initializer_list<std::string> values, Type t = Type::kString) {
  Column c(t);
  for (const auto& v : values) c.AppendString(v);
  return c;
}
inline Column Dyn(std::initializer_list<std::string> values) { return Strs(values, Type::kDynamic); }
// A constant column from a one-value column.
inline Column Const(Column c) {
  c.constant = true;
  return c;
}
inline Column Str(std::string s) { return Const(Strs({std::move(s)})); }
inline Column Long(int64_t v) { return Const(Longs({v})); }
inline Column Real(double v) { return Const(Reals({v})); }
inline Column Null(Type t) { return fn::ConstantNull(t); }
inline Column Ticks(Type t, int64_t v) { return Const(Ints(t, {v})); }
// A datetime constant parsed from ISO text.
inline Column Dt(const std::string& text) { return Ticks(Type::kDateTime, *fn::ParseDateTime(text)); }
inline Column Ts(const std::string& text) { return Ticks(Type::kTimespan, *fn::ParseTimespan(text)); }

inline Result<Column> Call(const ScalarFunction* f, std::string_view name, std::vector<Column> args,
                           size_t rows, TimePoint now = {}) {
  if (f == nullptr) return NotFound("no function " + std::string(name));
  std::vector<const Column*> ptrs;
  std::vector<Type> types;
  for (const Column& c : args) {
    ptrs.push_back(&c);
    types.push_back(c.type);
  }
  int n = static_cast<int>(args.size());
  if (n < f->min_args || (f->max_args >= 0 && n > f->max_args)) return InvalidArgument("arity");
  auto t = f->result_type(types);
  if (!t.ok()) return t.status();
  FunctionContext ctx{rows, now};
  auto r = f->eval(ptrs, ctx);
  if (r.ok()) {
    EXPECT_EQ(r->type, *t) << name << ": eval type differs from result_type";
  }
  return r;
}

// Rows of `c` as text ("<null>" for nulls); `rows` rows even for a constant column.
inline std::vector<std::string> Show(const Column& c, size_t rows) {
  std::vector<std::string> out;
  for (size_t i = 0; i < rows; ++i) out.push_back(c.IsNull(i) ? "<null>" : fn::ValueToString(c, i));
  return out;
}

// Calls function `name` (operators when `op`) on args and shows `rows` results.
inline std::vector<std::string> Fn(std::string_view name, std::vector<Column> args, size_t rows = 1) {
  auto r = Call(FindFunction(name), name, std::move(args), rows);
  if (!r.ok()) return {"error: " + r.status().message()};
  return Show(*r, rows);
}
inline std::vector<std::string> Op(std::string_view name, std::vector<Column> args, size_t rows = 1) {
  auto r = Call(FindOperator(name), name, std::move(args), rows);
  if (!r.ok()) return {"error: " + r.status().message()};
  return Show(*r, rows);
}
// Result type of a function/operator call, or the error.
inline Result<Type> TypeOf(const ScalarFunction* f, std::vector<Type> types) {
  if (f == nullptr) return NotFound("no function");
  return f->result_type(types);
}

using V = std::vector<std::string>;

}  // namespace cmk::kql::testing
