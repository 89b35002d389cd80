#include "kql/functions/has_list.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace cmk::kql::fn {

// string_operators.cc: `has` of one lower-cased needle, the meaning HasList must keep.
bool HasTermForList(std::string_view hay, std::string_view lowered_needle);

namespace {

bool AnyOneByOne(std::string_view hay, const std::vector<std::string>& needles) {
  for (const std::string& n : needles) {
    if (HasTermForList(hay, n)) return true;
  }
  return false;
}

bool AllOneByOne(std::string_view hay, const std::vector<std::string>& needles) {
  for (const std::string& n : needles) {
    if (!HasTermForList(hay, n)) return false;
  }
  return true;
}

size_t FirstOneByOne(std::string_view hay, const std::vector<std::string>& needles) {
  for (size_t i = 0; i < needles.size(); ++i) {
    if (!needles[i].empty() && HasTermForList(hay, needles[i])) return i;
  }
  return std::string_view::npos;
}

TEST(HasListTest, TermsAndPhrasesOnTheirBoundaries) {
  HasList list(std::vector<std::string>{"error", "a-b", "-x", "y-", "::", "k8s", "time out"});
  EXPECT_TRUE(list.Any("an ERROR here"));
  EXPECT_FALSE(list.Any("errors and terror"));
  EXPECT_TRUE(list.Any("(a-b)"));
  EXPECT_FALSE(list.Any("ca-b"));   // inside a term on the left
  EXPECT_FALSE(list.Any("a-bc"));   // and on the right
  EXPECT_TRUE(list.Any("q-x"));     // "-x": no left boundary to meet, x ends a term
  EXPECT_FALSE(list.Any("q-xy"));
  EXPECT_TRUE(list.Any("z y-q"));   // "y-": no right boundary to meet
  EXPECT_FALSE(list.Any("zy-q"));   // but y starts a term
  EXPECT_TRUE(list.Any("a::b"));
  EXPECT_TRUE(list.Any("K8S pod"));
  EXPECT_TRUE(list.Any("a Time Out!"));
  EXPECT_FALSE(list.Any("a timeout"));
  EXPECT_FALSE(list.Any(""));
  EXPECT_TRUE(HasList(std::vector<std::string>{"nope", ""}).Any("anything"));
  EXPECT_FALSE(HasList(std::vector<std::string>{}).Any("anything"));
  EXPECT_TRUE(HasList(std::vector<std::string>{}).All("anything"));

  HasList all(std::vector<std::string>{"a", "b-c", "a", "", "d"});
  EXPECT_TRUE(all.All("d, b-c and a"));
  EXPECT_FALSE(all.All("d, b-cc and a"));
  EXPECT_FALSE(all.All("a a a b-c"));
  EXPECT_EQ(all.First("x d b-c"), 1u);
  EXPECT_EQ(all.First("x d"), 4u);
  EXPECT_EQ(all.First("x y"), std::string_view::npos);
}

// Random texts and lists over a small alphabet (letters of both cases, digits, separators, a
// UTF-8 letter), needles cut from the texts or made up: the same answers as one `has` per needle.
TEST(HasListTest, AnswersAsOneSearchPerNeedle) {
  std::mt19937 rng(20261205);
  const std::string alphabet = "aAbB01-_ .:\xc3\xa9";
  auto text = [&](size_t max) {
    std::string s;
    size_t n = rng() % (max + 1);
    for (size_t i = 0; i < n; ++i) s.push_back(alphabet[rng() % alphabet.size()]);
    return s;
  };
  size_t found = 0, all_found = 0;
  for (int round = 0; round < 4000; ++round) {
    std::vector<std::string> hays;
    for (int h = 0; h < 4; ++h) hays.push_back(text(40));
    std::vector<std::string> needles;
    size_t k = 1 + rng() % 24;
    for (size_t i = 0; i < k; ++i) {
      std::string n;
      const std::string& from = hays[rng() % hays.size()];
      if (rng() % 3 != 0 && !from.empty()) {
        size_t at = rng() % from.size();
        n = from.substr(at, 1 + rng() % 6);
      } else {
        n = text(5);
      }
      for (char& c : n) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
      needles.push_back(n);
    }
    HasList list(needles);
    for (const std::string& hay : hays) {
      bool any = AnyOneByOne(hay, needles);
      ASSERT_EQ(list.Any(hay), any) << "hay '" << hay << "' round " << round;
      bool all = AllOneByOne(hay, needles);
      ASSERT_EQ(list.All(hay), all) << "hay '" << hay << "' round " << round;
      ASSERT_EQ(list.First(hay), FirstOneByOne(hay, needles)) << "hay '" << hay << "' round " << round;
      found += any;
      all_found += all;
    }
  }
  // Both answers came up often enough to mean something.
  EXPECT_GT(found, 4000u);
  EXPECT_GT(all_found, 200u);
}

// The memory a list takes is reserved in the query's budget and refused past 256 MiB without
// one: a list from a row (a make_list of a million messages) could take gigabytes to match.
TEST(HasListTest, ListsPastTheCapAreRefused) {
  MemoryReservation none(nullptr, "has_any()");
  EXPECT_TRUE(ReserveForNeedles("has_any()", 10'000, 1 << 20, none).ok());
  Status refused = ReserveForNeedles("has_any()", 10'000, 8 << 20, none);
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("has_any()"), std::string::npos) << refused.message();
  QueryBudget budget(BudgetLimits{4 << 20});
  MemoryReservation held(&budget, "has_any()");
  EXPECT_EQ(ReserveForNeedles("has_any()", 100, 100 << 10, held).code(), StatusCode::kResourceExhausted);
}

// Needles that are suffixes of one another and texts that hold them everywhere, inside terms:
// every occurrence fails a boundary, and each is looked at once.
TEST(HasListTest, NestedNeedlesInsideTerms) {
  std::vector<std::string> needles;
  for (int i = 1; i <= 40; ++i) needles.push_back("x-" + std::string(static_cast<size_t>(i), 'a'));
  for (int i = 1; i <= 40; ++i) needles.push_back(std::string(static_cast<size_t>(i), 'a'));
  HasList list(needles);
  std::string hay;
  for (int i = 0; i < 2000; ++i) hay += "yx-" + std::string(50, 'a');
  EXPECT_FALSE(list.Any(hay));
  EXPECT_EQ(list.Any(hay), AnyOneByOne(hay, needles));
  EXPECT_TRUE(list.Any(hay + " x-aaa"));
  EXPECT_EQ(list.First(hay + " x-aaa " + std::string(7, 'a')), 2u);
}

}  // namespace
}  // namespace cmk::kql::fn
