// Unit tests of the series_* family beyond tests/kql/functions/series_*.test: the FFT against a
// direct DFT, the multi-value table against what the functions answer, and the query budget.
#include <cmath>
#include <complex>
#include <numbers>

#include "kql/core/budget.h"
#include "kql/functions/function_json.h"
#include "kql/functions/functions_test_util.h"
#include "kql/functions/series_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(Series, DftMatchesTheDefinitionForEveryLength) {
  for (size_t n = 1; n <= 67; ++n) {
    std::vector<std::complex<double>> x(n);
    for (size_t t = 0; t < n; ++t) x[t] = {std::sin(0.7 * t) + 0.1 * t, std::cos(1.3 * t)};
    for (bool inverse : {false, true}) {
      std::vector<std::complex<double>> fast = x;
      fn::Dft(fast, inverse);
      for (size_t k = 0; k < n; ++k) {
        std::complex<double> direct;
        for (size_t t = 0; t < n; ++t) {
          double angle = (inverse ? 2 : -2) * std::numbers::pi * static_cast<double>(t * k % n) / n;
          direct += x[t] * std::polar(1.0, angle);
        }
        ASSERT_LT(std::abs(fast[k] - direct), 1e-9 * (1 + std::abs(direct))) << "n=" << n << " k=" << k;
      }
    }
  }
}

// Every multi-value function answers a bag holding exactly its listed values, in order, so
// that the binder's expansion and the function agree.
TEST(Series, MultiValueFunctionsAnswerTheirListedValues) {
  Column y = Dyn({"[1, 3, 2, 5, 4, 6, 5, 8, 7, 9, 8, 11, 10, 12, 11, 14]"});
  struct Case {
    std::string_view fn;
    std::vector<Column> extra;
  };
  std::vector<Case> cases;
  for (std::string_view fn : {"series_stats", "series_fit_line", "series_fit_2lines", "series_fit_poly",
                              "series_fft", "series_ifft", "series_decompose", "series_decompose_anomalies"}) {
    cases.push_back({fn, {}});
  }
  cases.push_back({"series_periods_detect", {Real(4), Real(8), Long(2)}});
  cases.push_back({"series_periods_validate", {Real(4)}});
  for (const Case& c : cases) {
    std::vector<Column> args = {Const(y)};
    for (const Column& e : c.extra) args.push_back(e);
    std::vector<std::string> out = Fn(c.fn, args);
    ASSERT_EQ(out.size(), 1u) << c.fn;
    std::optional<fn::bj::value> bag = fn::ParseJson(out[0]);
    ASSERT_TRUE(bag && bag->is_object()) << c.fn << ": " << out[0];
    std::vector<std::string> keys, listed;
    for (const auto& kv : bag->get_object()) keys.emplace_back(kv.key());
    for (const OutputColumn& o : MultiValueOutputs(c.fn)) listed.emplace_back(o.name);
    EXPECT_EQ(keys, listed) << c.fn;
  }
  EXPECT_TRUE(MultiValueOutputs("series_add").empty());
  EXPECT_TRUE(MultiValueOutputs("series_fit_line_dynamic").empty());
}

// A call whose output outgrows the query's budget fails with the budget's error, and a
// regression or filter over a large series stays within it.
TEST(Series, LargeOutputStopsAtTheQueryBudget) {
  std::string big = "[";
  for (int i = 0; i < 200000; ++i) big += (i ? ",1.5" : "1.5");
  big += "]";
  Column arg = Const(Dyn({big}));
  const ScalarFunction* add = FindFunction("series_multiply");
  ASSERT_NE(add, nullptr);
  Column three = Real(3);
  const Column* args[] = {&arg, &three};
  QueryBudget tight(BudgetLimits{256 << 10});
  EXPECT_THAT(add->eval(args, FunctionContext{1, {}, &tight}).status(),
              StatusIs(StatusCode::kResourceExhausted));
  QueryBudget roomy(BudgetLimits{64 << 20});
  Result<Column> r = add->eval(args, FunctionContext{1, {}, &roomy});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Str(0).substr(0, 12), "[4.5,4.5,4.5");
  const ScalarFunction* fft = FindFunction("series_fft");
  const Column* one[] = {&arg};
  EXPECT_THAT(fft->eval(one, FunctionContext{1, {}, &tight}).status(), StatusIs(StatusCode::kResourceExhausted));
}

TEST(Series, HostileArgumentsGiveNull) {
  Column y = Dyn({"[1, 2, 3, 4, 5, 6, 7, 8]"});
  EXPECT_EQ(Fn("series_fit_poly", {y, Null(Type::kDynamic), Long(1000000)}), (V{"<null>"}));
  EXPECT_EQ(Fn("series_periods_detect", {y, Real(0), Real(1e300), Long(1LL << 40)}), (V{"<null>"}));
  EXPECT_EQ(Fn("series_seasonal", {y, Long(-5)}), (V{"<null>"}));
  EXPECT_EQ(Fn("series_decompose", {y, Long(1LL << 50)}), (V{"<null>"}));
  EXPECT_EQ(Fn("series_decompose_forecast", {y, Long(-1)}), (V{"<null>"}));
  EXPECT_EQ(Fn("series_outliers", {y, Str("ctukey"), Null(Type::kReal), Real(NAN), Real(90)}), (V{"<null>"}));
  EXPECT_EQ(Fn("series_abs", {Dyn({"[[[[1]]]]"})}), (V{"[null]"}));
  EXPECT_EQ(Fn("series_add", {Dyn({"not json"}), y}), (V{"<null>"}));
}

}  // namespace
}  // namespace cmk::kql
