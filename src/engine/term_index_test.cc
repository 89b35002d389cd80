#include "engine/term_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <string>
#include <vector>

#include "kql/exec/eval.h"
#include "kql/functions/functions.h"

namespace cmk::engine {
namespace {

// Log-like values (a quarter starting with a separator): words in either case, hex ids, numbers, separators, UTF-8 (é, and a byte
// that folds to nothing), terms longer than 16 and than 64 bytes (across the term finder's
// 64-byte steps), empty values and, when `nulls`, a null in 50.
kql::Column RandomValues(std::mt19937_64& rng, size_t n, bool nulls) {
  const char* seps[] = {" ", "/", ":", "-", ".", "\xc3\xa9", "=", ", ", "\t", "_", "\xff"};
  const char* words[] = {"timeout", "Timeout", "TIMEOUT", "timeouts", "retimeout", "time", "out", "north", "North"};
  kql::Column c(kql::Type::kString);
  c.StartPacked(n, 0);
  for (size_t i = 0; i < n; ++i) {
    std::string v = rng() % 4 == 0 ? seps[rng() % std::size(seps)] : "";  // some start with no term
    int parts = static_cast<int>(rng() % 12);
    for (int p = 0; p < parts; ++p) {
      if (rng() % 3 == 0) {
        v += words[rng() % std::size(words)];
      } else {
        size_t len = rng() % 12 == 0 ? 17 + rng() % 120 : 1 + rng() % 8;
        for (size_t k = 0; k < len; ++k) {
          uint64_t x = rng() % 40;  // few letters: terms repeat, and share substrings
          v += static_cast<char>(x < 10 ? '0' + x : x < 25 ? 'a' + (x - 10) : 'A' + (x - 25));
        }
      }
      v += seps[rng() % std::size(seps)];
    }
    c.AppendPacked(v);
    if (nulls) {
      c.nulls.resize(i + 1, 0);
      if (rng() % 50 == 0) c.nulls[i] = 1;
    }
  }
  return c;
}

const char* const kByTerms[] = {"contains",  "contains_cs",  "has",       "has_cs",     "hasprefix",
                                "hasprefix_cs", "hassuffix", "hassuffix_cs", "startswith", "startswith_cs",
                                "endswith",  "endswith_cs"};

// The rows of `values` a test keeps (or whose value is null), as a scan must give them.
std::vector<uint32_t> Expected(const kql::Column& values, size_t rows, const kql::ValueTest& test) {
  std::vector<uint32_t> out;
  for (size_t r = 0; r < rows; ++r) {
    if (values.IsNull(r) || test.keep(values.Str(r))) out.push_back(static_cast<uint32_t>(r));
  }
  return out;
}

// For every operator whose test its terms decide, and needles that occur inside terms, whole,
// as prefixes and suffixes, in other cases and nowhere, the index selects exactly the rows the
// test keeps value by value (and the null rows), and names a term that passes the test.
TEST(TermIndexTest, SelectsTheRowsTheTestKeepsValueByValue) {
  std::mt19937_64 rng(11);
  for (bool nulls : {false, true}) {
    for (size_t rows : {size_t{0}, size_t{1}, size_t{700}, size_t{5000}}) {
      kql::Column values = RandomValues(rng, rows, nulls);
      auto index = TermIndex::Build(values, rows);
      ASSERT_EQ(index->rows(), rows);
      EXPECT_EQ(index->has_nulls(), nulls && std::count(values.nulls.begin(), values.nulls.end(), 1) > 0);
      for (std::string needle : {"timeout", "TimeOut", "out", "t", "T", "north", "orth", "nort", "zzzzqq", "0", "a1"}) {
        for (const char* positive : kByTerms) {
          for (std::string op : {std::string(positive), std::string("!") + positive}) {
            kql::ValueTest test = kql::StringValueTest(op, needle);
            ASSERT_TRUE(test.by_terms) << op << " " << needle;
            ASSERT_EQ(test.terms_negated, op[0] == '!');
            std::vector<uint32_t> got;
            std::string passing = "(none)";
            ASSERT_EQ(test.terms_first, std::string(positive).starts_with("startswith"));
            ASSERT_EQ(test.terms_last, std::string(positive).starts_with("endswith"));
            index->Select(test.term_keep, test.term_find, got, &passing, test.terms_negated, test.terms_first,
                          test.terms_last);
            std::vector<uint32_t> want = Expected(values, rows, test);
            ASSERT_EQ(got, want) << op << " '" << needle << "' over " << rows << " rows";
            if (test.terms_negated) continue;
            if (passing != "(none)") {
              EXPECT_TRUE(test.keep(passing)) << op << " " << needle << ": " << passing;
            }
            bool any_value = false;
            for (uint32_t r : want) any_value = any_value || !values.IsNull(r);
            // (A term may pass that no value starts or ends with: startswith and endswith then
            // select no row by it.)
            if (any_value || (!test.terms_first && !test.terms_last)) {
              EXPECT_EQ(passing != "(none)", any_value) << op << " " << needle;
            }
          }
        }
      }
    }
  }
}

// A group's most rows (65,536, numbered in 16 bits): a term in every row (a bitmap), one in
// every 17th (a list of over 1 in 16 rows: a bitmap too), one in every 20th (a list), one in
// the last row alone; the last rows are selected, and nothing is off by one at the edges.
TEST(TermIndexTest, ListsAndBitmapsCoverAWholeRowGroup) {
  const size_t rows = 65536;
  kql::Column values(kql::Type::kString);
  values.StartPacked(rows, 0);
  for (size_t r = 0; r < rows; ++r) {
    std::string v = "every";
    if (r % 17 == 0) v += " seventeenth";
    if (r % 20 == 0) v += " twentieth";
    if (r == rows - 1) v += " lastrow";
    values.AppendPacked(v + " id" + std::to_string(r));
  }
  auto index = TermIndex::Build(values, rows);
  EXPECT_EQ(index->terms(), 4 + rows);
  for (std::string needle : {"every", "seventeenth", "twentieth", "lastrow", "id65535", "id1", "d6553"}) {
    for (const char* op : {"has", "contains"}) {
      kql::ValueTest test = kql::StringValueTest(op, needle);
      std::vector<uint32_t> got;
      index->Select(test.term_keep, test.term_find, got);
      ASSERT_EQ(got, Expected(values, rows, test)) << op << " " << needle;
      kql::ValueTest negated = kql::StringValueTest(std::string("!") + op, needle);
      got.clear();
      index->Select(negated.term_keep, negated.term_find, got, nullptr, true);
      ASSERT_EQ(got, Expected(values, rows, negated)) << "!" << op << " " << needle;
    }
  }
  // The index takes less than the text it indexes (here the ids are most of it).
  EXPECT_LT(index->bytes(), values.chars.size() * 2);
}

// Only tests that a value's terms decide alone: contains, has, hasprefix, hassuffix,
// startswith or endswith (either case, or negated) of a needle made of letters and digits.
TEST(TermIndexTest, OnlyTermDecidedTestsAreMarked) {
  for (const char* op : kByTerms) {
    EXPECT_TRUE(kql::StringValueTest(op, "abc123").by_terms) << op;
    EXPECT_TRUE(kql::StringValueTest(std::string("!") + op, "abc123").by_terms) << op;
    EXPECT_FALSE(kql::StringValueTest(op, "time out").by_terms) << op;  // across terms
    EXPECT_FALSE(kql::StringValueTest(op, "a-b").by_terms) << op;
    EXPECT_FALSE(kql::StringValueTest(op, "caf\xc3\xa9").by_terms) << op;
    EXPECT_FALSE(kql::StringValueTest(op, "").by_terms) << op;
    EXPECT_FALSE(kql::StringValueTest(std::string("!") + op, "a b").by_terms) << op;
  }
  for (const char* op : {"==", "=~", "!=", "matches regex"}) {
    EXPECT_FALSE(kql::StringValueTest(op, "abc").by_terms) << op;
  }
}


// A test of a needle of several terms (or one its terms alone do not decide: endswith, =~, a
// regex's literal, has_any, has_all) lists term candidates: the rows the index gives for them
// hold every row the test keeps value by value, and the null rows; for needles drawn from the
// values (so that some rows pass), and fewer rows than all for most.
TEST(TermIndexTest, CandidatesHoldEveryRowTheTestKeeps) {
  std::mt19937_64 rng(17);
  const char* const ops[] = {"has",        "has_cs",        "hasprefix", "hasprefix_cs", "hassuffix",
                             "hassuffix_cs", "contains",    "contains_cs", "startswith", "startswith_cs",
                             "endswith",   "endswith_cs",   "=~"};
  size_t kept = 0, narrowed = 0, tests = 0;
  for (bool nulls : {false, true}) {
    const size_t rows = 3000;
    kql::Column values = RandomValues(rng, rows, nulls);
    auto index = TermIndex::Build(values, rows);
    std::vector<std::string> needles = {"timeout.north", "time out", "-north", "north-", "out:", ".", "Timeout/"};
    for (size_t r = 0; r < 4; ++r) {  // the index's first terms (no space before them)
      if (values.IsNull(r)) continue;
      needles.emplace_back(values.Str(r));
      needles.emplace_back(values.Str(r).substr(0, 10));
    }
    while (needles.size() < 40) {  // pieces of the values: whole values, across terms, inside terms
      std::string_view v = values.Str(rng() % rows);
      if (v.empty()) continue;
      size_t at = rng() % v.size(), len = 1 + rng() % 24;
      needles.emplace_back(rng() % 8 == 0 ? v : v.substr(at, len));
    }
    auto check = [&](const kql::ValueTest& test, const std::string& what) {
      if (test.by_terms || test.term_candidates.empty()) return;
      ++tests;
      std::vector<uint32_t> got;
      index->Candidates(test.term_candidates, got);
      ASSERT_TRUE(std::is_sorted(got.begin(), got.end())) << what;
      for (uint32_t r : Expected(values, rows, test)) {
        ASSERT_TRUE(std::binary_search(got.begin(), got.end(), r)) << what << " row " << r;
        ++kept;
      }
      if (got.size() < rows / 2) ++narrowed;
    };
    for (const std::string& needle : needles) {
      for (const char* op : ops) check(kql::StringValueTest(op, needle), std::string(op) + " " + needle);
      std::string lowered = needle;
      for (char& ch : lowered) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::string pattern;
      for (char ch : needle) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) pattern += '\\';
        pattern += ch;
      }
      check(kql::StringValueTest("matches regex", pattern), "regex " + pattern);
    }
    for (int k = 0; k < 30; ++k) {
      std::vector<kql::Column> items;
      for (size_t i = 0, n = 1 + rng() % 3; i < n; ++i) {
        items.push_back(kql::StringConstant(kql::Type::kString, needles[rng() % needles.size()]));
      }
      std::vector<const kql::Column*> ptrs;
      for (const kql::Column& c : items) ptrs.push_back(&c);
      for (const char* op : {"has_any", "has_all"}) check(kql::StringListValueTest(op, ptrs), op);
    }
  }
  EXPECT_GT(tests, 500u);
  EXPECT_GT(kept, 2000u);
  EXPECT_GT(narrowed, tests / 2);
  // What the tests list: a needle's terms where the match puts them.
  EXPECT_EQ(kql::StringValueTest("has", "10.1.2.3").term_candidates.at(0).size(), 4u);
  EXPECT_EQ(kql::StringValueTest("contains", "a b c d e f").term_candidates.at(0).size(), 4u);  // at most 4
  EXPECT_TRUE(kql::StringValueTest("!has", "10.1.2.3").term_candidates.empty());
  EXPECT_TRUE(kql::StringValueTest("has", "timeout").term_candidates.empty());  // by_terms instead
  EXPECT_TRUE(kql::StringValueTest("contains", "--").term_candidates.empty());
  EXPECT_TRUE(kql::StringValueTest("endswith", "timeout").term_candidates.empty());  // by_terms
  EXPECT_EQ(kql::StringValueTest("endswith", "out.now").term_candidates.at(0).size(), 2u);
}

}  // namespace
}  // namespace cmk::engine
