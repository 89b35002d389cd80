#include "kql/functions/functions_test_util.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "kql/functions/terms.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(InOps, InComparesExactlyAndFlattensDynamicArrays) {
  Column v = Strs({"a", "B", "c"});
  EXPECT_EQ(Op("in", {v, Str("a"), Str("b")}, 3), (V{"true", "false", "false"}));
  EXPECT_EQ(Op("!in", {v, Str("a"), Str("b")}, 3), (V{"false", "true", "true"}));
  EXPECT_EQ(Op("in~", {v, Str("a"), Str("b")}, 3), (V{"true", "true", "false"}));
  EXPECT_EQ(Op("!in~", {v, Str("a"), Str("b")}, 3), (V{"false", "false", "true"}));
  EXPECT_EQ(Op("in", {v, Const(Dyn({"[\"c\",\"x\"]"}))}, 3), (V{"false", "false", "true"}));
}

TEST(InOps, NumbersCompareByValueAcrossTypes) {
  EXPECT_EQ(Op("in", {Longs({1, 2, std::nullopt}), Real(1.0), Const(Dyn({"[2]"}))}, 3), (V{"true", "true", "false"}));
  EXPECT_EQ(Op("!in", {Longs({1, 3, std::nullopt}), Long(1)}, 3), (V{"false", "true", "false"}));
  EXPECT_EQ(Op("in", {Dt("2024-01-01"), Const(Dyn({"[\"2024-01-01T00:00:00Z\"]"}))}), (V{"true"}));
  EXPECT_THAT(TypeOf(FindOperator("in"), {Type::kLong, Type::kString}), StatusIs(StatusCode::kInvalidArgument));
}

// A number or a time against constant items is compared by value without a text per row; the
// answers are the ones the per-row comparison of key texts gives (the same items as columns):
// 1 in (1.0), -0.0 apart from 0 (as their texts), NaN in (NaN), infinities, nulls in nothing.
TEST(InOps, ConstantNumbersAnswerAsThePerRowComparison) {
  const double nan = std::nan(""), inf = 1.0 / 0.0;
  Column reals = Reals({1.0, -0.0, 0.0, nan, inf, -inf, 2.5, std::nullopt, 3.0, 1e300});
  Column longs = Longs({1, 0, 3, -7, std::nullopt, 9007199254740993, 2, 4, 5, 6});
  const size_t rows = 10;
  auto per_row = [&](const Column& item) {  // the item repeated as a column: not constant
    Column c(item.type);
    for (size_t r = 0; r < rows; ++r) c.AppendFrom(item, 0);
    return c;
  };
  std::vector<std::vector<Column>> lists = {
      {Real(1.0), Long(3)}, {Real(-0.0)}, {Real(0.0)}, {Real(nan)}, {Real(inf), Real(-inf)}, {Long(-7), Real(2.5)},
      {Long(9007199254740993)}, {Real(1), Real(2), Real(3), Real(4), Real(5), Real(6), Real(7), Real(8), Real(9), Real(1e300)},
      {Const(Dyn({"[1, 2.5, \"3\"]"}))}};
  for (const Column* v : {&reals, &longs}) {
    for (const std::vector<Column>& list : lists) {
      for (std::string op : {"in", "!in"}) {
        std::vector<Column> fast = {*v}, slow = {*v};
        for (const Column& item : list) {
          fast.push_back(item);
          slow.push_back(item.type == Type::kDynamic ? item : per_row(item));
        }
        if (list[0].type == Type::kDynamic) slow.push_back(per_row(Real(-12345)));  // one per-row item
        EXPECT_EQ(Op(op, fast, rows), Op(op, slow, rows)) << op << " list of " << list.size();
      }
    }
  }
  Column times = Ints(Type::kDateTime, {100, 200, std::nullopt, 300});
  EXPECT_EQ(Op("in", {times, Ticks(Type::kDateTime, 200), Ticks(Type::kDateTime, 300)}, 4),
            (V{"false", "true", "false", "true"}));
  EXPECT_EQ(Op("!in", {times, Ticks(Type::kDateTime, 200)}, 4), (V{"true", "false", "false", "true"}));
}

TEST(InOps, NonConstantItemsArePerRow) {
  EXPECT_EQ(Op("in", {Longs({1, 2}), Longs({1, 1}), Longs({5, 5})}, 2), (V{"true", "false"}));
}

TEST(InOps, HasAnyAndHasAllMatchTerms) {
  Column v = Strs({"the quick brown fox", "lazy dog", ""});
  EXPECT_EQ(Op("has_any", {v, Str("fox"), Str("dog")}, 3), (V{"true", "true", "false"}));
  EXPECT_EQ(Op("has_any", {v, Const(Dyn({"[\"QUICK\",\"cat\"]"}))}, 3), (V{"true", "false", "false"}));
  EXPECT_EQ(Op("has_all", {v, Str("quick"), Str("fox")}, 3), (V{"true", "false", "false"}));
  EXPECT_EQ(Op("has_all", {v, Str("qui")}, 3), (V{"false", "false", "false"}));
}

// has_any / has_all as a scan's value test (StringListValueTest) answer what the operators
// answer, row by row; their terms are whole terms of every kept value (has_all: all of them;
// has_any: every term of one of the lists), so a block's term filter never hides a kept row.
TEST(InOps, ListValueTestsAgreeWithTheOperatorsAndNeedTermsOfKeptValues) {
  const std::vector<std::string> values = {"the quick brown fox", "lazy dog", "", "Fox-trot at 10:30",
                                           "foxes", "a DOG and a fox", "quick.brown", "caf\xc3\xa9 fox"};
  Column hay(Type::kString);
  for (const std::string& v : values) hay.AppendString(v);
  auto terms_of = [](std::string_view v) {
    std::set<uint64_t> out;
    ForEachTerm(v, [&](std::string_view t) { out.insert(TermHash(t)); });
    return out;
  };
  std::vector<std::vector<Column>> lists = {
      {Str("fox"), Str("dog")}, {Const(Dyn({"[\"QUICK\",\"brown fox\"]"}))}, {Str("fox-trot")}, {Str("fox"), Str("")},
      {Str("qui")}, {Str("10:30"), Str("lazy")}, {}, {Str("-")},
      // in / in~: whole values
      {Str("lazy dog"), Str("foxes")}, {Const(Dyn({"[\"LAZY DOG\",\"a dog and a fox\"]"}))}, {Str(""), Str("foxes")},
      {Str("Fox-trot at 10:30")}, {Str("CAF\xc3\xa9 FOX")}};
  size_t checked = 0;
  for (std::string op : {"has_any", "has_all", "in", "in~"}) {
    for (const std::vector<Column>& items : lists) {
      if (items.empty() && op.starts_with("in")) continue;
      std::vector<const Column*> ptrs;
      std::vector<Column> args = {hay};
      for (const Column& c : items) {
        ptrs.push_back(&c);
        args.push_back(c);
      }
      ValueTest test = StringListValueTest(op, ptrs);
      ASSERT_TRUE(test.keep) << op;
      std::vector<std::string> expected = Op(op, args, values.size());
      for (size_t i = 0; i < values.size(); ++i) {
        bool kept = test.keep(values[i]);
        EXPECT_EQ(kept ? "true" : "false", expected[i]) << op << " " << values[i];
        if (!kept) continue;
        std::set<uint64_t> held = terms_of(values[i]);
        for (uint64_t t : test.terms) EXPECT_TRUE(held.count(t)) << op << " " << values[i];
        if (!test.any_terms.empty()) {
          bool one = std::any_of(test.any_terms.begin(), test.any_terms.end(), [&](const std::vector<uint64_t>& ts) {
            return std::all_of(ts.begin(), ts.end(), [&](uint64_t t) { return held.count(t) > 0; });
          });
          EXPECT_TRUE(one) << op << " " << values[i];
        }
        if (test.find) {
          EXPECT_NE(test.find(values[i], 0), std::string::npos) << op << " " << values[i];
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 10u);
  std::vector<const Column*> none;
  Column fox = Str("fox"), dog = Str("dog"), empty = Str(""), brown = Str("brown fox");
  std::vector<const Column*> fox_dog = {&fox, &dog}, fox_empty = {&fox, &empty}, brown_fox = {&brown, &dog};
  EXPECT_EQ(StringListValueTest("has_any", fox_dog).any_terms.size(), 2u);
  EXPECT_TRUE(StringListValueTest("has_any", fox_empty).any_terms.empty());  // "" is in every value
  EXPECT_TRUE(StringListValueTest("has_any", none).any_terms.empty());
  EXPECT_EQ(StringListValueTest("has_all", fox_dog).terms.size(), 2u);
  EXPECT_EQ(StringListValueTest("has_all", brown_fox).terms.size(), 3u);
  EXPECT_TRUE(StringListValueTest("has_all", fox_dog).any_terms.empty());
  EXPECT_EQ(StringListValueTest("in", fox_dog).any_terms.size(), 2u);
  EXPECT_TRUE(StringListValueTest("in~", fox_empty).any_terms.empty());  // "" holds no term
  EXPECT_FALSE(StringListValueTest("!in", fox_dog).keep);
  Column five(Type::kLong);
  five.constant = true;
  five.AppendInt(5);
  std::vector<const Column*> number = {&five};
  EXPECT_FALSE(StringListValueTest("in", number).keep);
  // Over 64 items an `in` list is left to the executor (the test would run on reader threads);
  // a has_any/has_all list of any length costs a value once (fn::HasList), the documented
  // 10,000 items too.
  std::vector<Column> many;
  for (int i = 0; i < 10'000; ++i) many.push_back(Str(i % 2 == 0 ? "t" + std::to_string(i) : "p-" + std::to_string(i)));
  std::vector<const Column*> many_ptrs;
  for (const Column& c : many) many_ptrs.push_back(&c);
  ValueTest any = StringListValueTest("has_any", many_ptrs);
  ASSERT_TRUE(any.keep);
  EXPECT_TRUE(any.keep("x T9998 y"));
  EXPECT_TRUE(any.keep("x p-9999"));
  EXPECT_FALSE(any.keep("x t9999 p-9998 t10000 tp-9999"));
  ValueTest every = StringListValueTest("has_all", many_ptrs);
  ASSERT_TRUE(every.keep);
  EXPECT_FALSE(every.keep("t0 p-1 t2"));
  std::vector<const Column*> twelve(many_ptrs.begin(), many_ptrs.begin() + 12);
  EXPECT_TRUE(StringListValueTest("has_all", twelve).keep("t0 p-1 t2 p-3 t4 p-5 t6 p-7 t8 p-9 t10 p-11"));
  EXPECT_FALSE(StringListValueTest("has_all", twelve).keep("t0 p-1 t2 p-3 t4 p-5 t6 p-7 t8 p-9 t10 p-111"));
  many_ptrs.resize(65);
  EXPECT_FALSE(StringListValueTest("in", many_ptrs).keep);
  many_ptrs.pop_back();
  EXPECT_TRUE(StringListValueTest("in", many_ptrs).keep);
  EXPECT_TRUE(StringListValueTest("has_any", many_ptrs).keep);
  Column rows = Strs({"fox", "dog"});  // not constant
  std::vector<const Column*> per_row = {&rows};
  EXPECT_FALSE(StringListValueTest("has_any", per_row).keep);
}

}  // namespace
}  // namespace cmk::kql
