#include "kql/functions/functions_test_util.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "kql/functions/function_regex.h"
#include "kql/functions/terms.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

// A seeded linear congruential generator (Knuth's MMIX constants): the random tests' texts.
struct Lcg {
  uint64_t seed;
  size_t operator()() {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<size_t>(seed >> 33);
  }
};

TEST(StringOps, EqualsTildeIgnoresCase) {
  EXPECT_EQ(Op("=~", {Strs({"ABC", "abd"}), Str("abc")}, 2), (V{"true", "false"}));
  EXPECT_EQ(Op("!~", {Strs({"ABC", "abd"}), Str("abc")}, 2), (V{"false", "true"}));
}

TEST(StringOps, HasMatchesWholeTermsCaseInsensitively) {
  Column hay = Strs({"North America", "Northern", "the NORTH-west", "", "x.north"});
  EXPECT_EQ(Op("has", {hay, Str("north")}, 5), (V{"true", "false", "true", "false", "true"}));
  EXPECT_EQ(Op("!has", {hay, Str("north")}, 5), (V{"false", "true", "false", "true", "false"}));
  EXPECT_EQ(Op("has_cs", {hay, Str("North")}, 5), (V{"true", "false", "false", "false", "false"}));
  EXPECT_EQ(Op("!has_cs", {hay, Str("North")}, 5), (V{"false", "true", "true", "true", "true"}));
}

TEST(StringOps, HasWithSeparatorsMatchesAPhraseOnTermBoundaries) {
  Column hay = Strs({"error: disk full", "xerror: disk fully", "ERROR:DISK"});
  EXPECT_EQ(Op("has", {hay, Str("error: disk")}, 3), (V{"true", "false", "false"}));
  EXPECT_EQ(Op("has", {Str("a/b/c"), Str("/b/")}), (V{"true"}));
}

TEST(StringOps, HasPrefixAndSuffixMatchTermStartsAndEnds) {
  Column hay = Strs({"North America", "America", "Americana"});
  EXPECT_EQ(Op("hasprefix", {hay, Str("amer")}, 3), (V{"true", "true", "true"}));
  EXPECT_EQ(Op("hasprefix", {Str("xamerica"), Str("amer")}), (V{"false"}));
  EXPECT_EQ(Op("hassuffix", {hay, Str("ica")}, 3), (V{"true", "true", "false"}));
  EXPECT_EQ(Op("!hassuffix", {hay, Str("ica")}, 3), (V{"false", "false", "true"}));
  EXPECT_EQ(Op("hasprefix_cs", {hay, Str("amer")}, 3), (V{"false", "false", "false"}));
}

TEST(StringOps, ContainsIsSubstringSearch) {
  Column hay = Strs({"FabriKam", "contoso", "", "kamkam"});
  EXPECT_EQ(Op("contains", {hay, Str("KAM")}, 4), (V{"true", "false", "false", "true"}));
  EXPECT_EQ(Op("!contains", {hay, Str("KAM")}, 4), (V{"false", "true", "true", "false"}));
  EXPECT_EQ(Op("contains_cs", {hay, Str("Kam")}, 4), (V{"true", "false", "false", "false"}));
  EXPECT_EQ(Op("!contains_cs", {hay, Str("Kam")}, 4), (V{"false", "true", "true", "true"}));
  EXPECT_EQ(Op("contains", {hay, Str("")}, 4), (V{"true", "true", "true", "true"}));
}

TEST(StringOps, ContainsFindsEveryPositionInLongStrings) {
  // Haystacks longer than the 16-byte steps of the case-insensitive scan: a match at every
  // offset, in either case, just before the end, and near misses (first letter only).
  std::string base(70, '.');
  for (size_t at = 0; at + 3 <= base.size(); ++at) {
    for (std::string word : {"kam", "KaM"}) {
      std::string h = base;
      h.replace(at, 3, word);
      EXPECT_EQ(Op("contains", {Str(h), Str("kAm")}), (V{"true"})) << at << " " << word;
      EXPECT_EQ(Op("contains_cs", {Str(h), Str("kam")}), (V{word == "kam" ? "true" : "false"})) << at;
    }
    std::string miss = base;
    miss[at] = 'K';
    miss[at + 1] = 'a';  // "Ka" without the "m"
    EXPECT_EQ(Op("contains", {Str(miss), Str("kam")}), (V{"false"})) << at;
  }
}

TEST(StringOps, ContainsAndHasAgreeWithAPlainSearchOnRandomText) {
  // Random haystacks over a small alphabet (both cases, a separator, bytes that fold onto
  // letters under | 0x20 such as '@' and '[') against needles of 1 to 5 bytes: every operator's
  // answer equals a naive byte-by-byte search, across the 16-byte steps and the tail.
  const std::string alphabet = "aAbB@[ `{";
  Lcg next{42};
  auto lower = [](std::string s) {
    for (char& c : s) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    return s;
  };
  for (int round = 0; round < 3000; ++round) {
    std::string hay, needle;
    for (size_t i = next() % 48; i > 0; --i) hay += alphabet[next() % alphabet.size()];
    for (size_t i = 1 + next() % 5; i > 0; --i) needle += alphabet[next() % alphabet.size()];
    bool cs = hay.find(needle) != std::string::npos;
    bool ci = lower(hay).find(lower(needle)) != std::string::npos;
    ASSERT_EQ(Op("contains_cs", {Str(hay), Str(needle)}), (V{cs ? "true" : "false"})) << hay << " / " << needle;
    ASSERT_EQ(Op("contains", {Str(hay), Str(needle)}), (V{ci ? "true" : "false"})) << hay << " / " << needle;
  }
}

TEST(StringOps, PackedAndCodedColumnsMatchAsPlainOnes) {
  // A packed column (an extent's text block, decoded) is searched whole and a coded one entry by
  // entry: every operator (and matches regex, for a packed column) answers as over the same
  // values in a plain column, row by row. The values: random words over a small alphabet with separators, empty values, nulls, needles
  // that straddle two values, occur twice in one, at either end, in either case.
  const std::string alphabet = "aAbB  -.";
  Lcg next{7};
  const std::vector<std::string> ops = {"contains", "!contains", "contains_cs", "!contains_cs", "has", "!has",
                                        "has_cs", "!has_cs", "hasprefix", "!hasprefix", "hassuffix_cs",
                                        "!hassuffix", "startswith", "endswith_cs", "=~", "!~"};
  for (int round = 0; round < 300; ++round) {
    const size_t rows = 1 + next() % 40;
    Column plain(Type::kString), packed(Type::kString), coded(Type::kString);
    packed.StartPacked(rows, 0);
    std::vector<std::string> dict;
    for (size_t r = 0; r < rows; ++r) {
      std::string v;
      for (size_t i = next() % 9; i > 0; --i) v += alphabet[next() % alphabet.size()];
      if (next() % 5 == 0) v = dict.empty() ? v : dict[next() % dict.size()];  // repeats for the dictionary
      bool null = next() % 11 == 0;
      if (null) v.clear();
      plain.AppendString(v);
      packed.AppendPacked(v);
      auto it = std::find(dict.begin(), dict.end(), v);
      coded.codes.push_back(static_cast<Code>(it - dict.begin()));
      if (it == dict.end()) dict.push_back(v);
      if (null) {
        for (Column* c : {&plain, &packed, &coded}) {
          c->nulls.resize(r, 0);
          c->nulls.push_back(1);
        }
      }
    }
    for (Column* c : {&plain, &packed, &coded}) {
      if (!c->nulls.empty()) c->nulls.resize(rows, 0);
    }
    coded.dict = std::make_shared<const std::vector<std::string>>(dict);
    ASSERT_TRUE(packed.packed());
    std::string needle;
    for (size_t i = next() % 4; i > 0; --i) needle += alphabet[next() % alphabet.size()];
    for (const std::string& op : ops) {
      V want = Op(op, {plain, Str(needle)}, rows);
      ASSERT_EQ(Op(op, {packed, Str(needle)}, rows), want) << op << " '" << needle << "' round " << round;
      ASSERT_EQ(Op(op, {coded, Str(needle)}, rows), want) << op << " '" << needle << "' round " << round;
    }
    // Patterns with a literal every match holds (searched for over the packed text), one without.
    std::string word;
    for (size_t i = 3 + next() % 2; i > 0; --i) word += "aAbB "[next() % 5];
    for (const std::string& pattern : {word, word + "[ab]", "^" + word, word + "$", "(?i)" + word, "a|" + word,
                                       "[ab]." + word + "( |$)"}) {
      V want = Op("matches regex", {plain, Str(pattern)}, rows);
      ASSERT_EQ(Op("matches regex", {packed, Str(pattern)}, rows), want) << pattern << " round " << round;
    }
  }
}

TEST(StringOps, NonConstantNeedleIsPerRow) {
  EXPECT_EQ(Op("contains", {Strs({"abc", "abc"}), Strs({"B", "x"})}, 2), (V{"true", "false"}));
  EXPECT_EQ(Op("has", {Strs({"a b", "a b"}), Strs({"B", "ab"})}, 2), (V{"true", "false"}));
}

TEST(StringOps, StartsAndEndsWith) {
  Column hay = Strs({"Fabrikam", "kamfab"});
  EXPECT_EQ(Op("startswith", {hay, Str("FAB")}, 2), (V{"true", "false"}));
  EXPECT_EQ(Op("!startswith", {hay, Str("FAB")}, 2), (V{"false", "true"}));
  EXPECT_EQ(Op("startswith_cs", {hay, Str("fab")}, 2), (V{"false", "false"}));
  EXPECT_EQ(Op("endswith", {hay, Str("KAM")}, 2), (V{"true", "false"}));
  EXPECT_EQ(Op("!endswith", {hay, Str("KAM")}, 2), (V{"false", "true"}));
  EXPECT_EQ(Op("endswith_cs", {hay, Str("kam")}, 2), (V{"true", "false"}));
  EXPECT_EQ(Op("endswith", {Str("a"), Str("abc")}), (V{"false"}));
}

TEST(StringOps, NonStringOperandsAreConvertedToText) {
  EXPECT_EQ(Op("contains", {Longs({1234}), Str("23")}), (V{"true"}));
  EXPECT_EQ(Op("has", {Dyn({"\"hello world\"", "null"}), Str("world")}, 2), (V{"true", "false"}));
}

TEST(StringOps, MatchesRegexSearchesAnywhere) {
  EXPECT_EQ(Op("matches regex", {Strs({"abc123", "abc"}), Str("[0-9]+")}, 2), (V{"true", "false"}));
  EXPECT_EQ(Op("matches regex", {Str("ABC"), Str("(?i)^abc$")}), (V{"true"}));
  EXPECT_THAT(Call(FindOperator("matches regex"), "matches regex", {Str("a"), Str("(")}, 1),
              StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
}

// StringValueTest (a scan's prefilter) answers what the operator's eval answers, row by row, for
// every match operator and == / !=, with needles of each case; other operators have none.
TEST(StringOps, ValueTestsAgreeWithTheOperators) {
  const std::vector<std::string> values = {"North America", "northern", "the NORTH-west", "", "x.north",
                                           "Timeout after 3 retries", "a (timeout)", "TIMEOUT", "time out",
                                           "kamkam", "FabriKam", "n", "North"};
  Column hay(Type::kString);
  for (const std::string& v : values) hay.AppendString(v);
  for (std::string op : {"=~", "!~", "has", "!has", "has_cs", "!has_cs", "hasprefix", "!hasprefix",
                         "hasprefix_cs", "!hasprefix_cs", "hassuffix", "!hassuffix", "hassuffix_cs",
                         "!hassuffix_cs", "contains", "!contains", "contains_cs", "!contains_cs",
                         "startswith", "!startswith", "startswith_cs", "!startswith_cs", "endswith",
                         "!endswith", "endswith_cs", "!endswith_cs", "==", "!="}) {
    for (std::string needle : {"north", "North", "NORTH", "timeout", "kam", "", "n", "a (timeout)", "aM"}) {
      ValueTest test = StringValueTest(op, needle);
      ASSERT_TRUE(test.keep) << op;
      std::vector<std::string> expected = Op(op, {hay, Str(needle)}, values.size());
      for (size_t i = 0; i < values.size(); ++i) {
        EXPECT_EQ(test.keep(values[i]) ? "true" : "false", expected[i]) << values[i] << " " << op << " " << needle;
      }
      // A finder for each positive match with a needle: every kept value holds an occurrence,
      // and in the values laid end to end it finds each first occurrence (ASCII case folded
      // unless the match is case-sensitive) at or after any position.
      // (startswith has none: its values are tested where they start.)
      bool positive = op[0] != '!' && !needle.empty() && !op.starts_with("startswith");
      ASSERT_EQ(static_cast<bool>(test.find), positive) << op << " " << needle;
      if (!positive) continue;
      bool cs = op == "==" || op.ends_with("_cs");
      auto fold = [cs](std::string s) {
        if (!cs) std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
        return s;
      };
      std::string text;
      for (size_t i = 0; i < values.size(); ++i) {
        if (expected[i] == "true") {
          EXPECT_NE(test.find(values[i], 0), std::string::npos) << values[i] << " " << op;
        }
        text += values[i] + "|";
      }
      for (size_t from = 0; from <= text.size(); ++from) {
        EXPECT_EQ(test.find(text, from), fold(text).find(fold(needle), from)) << op << " " << needle << " " << from;
      }
    }
  }
  for (std::string op : {"<", "in", "and", "has_any"}) EXPECT_FALSE(StringValueTest(op, "x").keep) << op;
  EXPECT_FALSE(StringValueTest("matches regex", "a(").keep);  // the operator reports the error
}

// A value test's terms (what a block's term filter is asked for) are whole terms of every value
// the test keeps, in any case: has and equality all of the needle's terms; prefix, suffix and
// contains matches only those the needle bounds on the side they leave open; negations none.
TEST(StringOps, ValueTestTermsAreTermsOfEveryKeptValue) {
  const std::vector<std::string> values = {
      "North America",  "northern", "the NORTH-west", "", "x.north", "Timeout after 3 retries", "a (timeout)",
      "TIMEOUT",        "time out", "north america", "North Americas", "a north b", "GET /api/v1 returned",
      "get /API/v1",    "1.2.3.4",  "caf\xc3\xa9 au lait", "northwest", "West north", "Norths"};
  auto terms_of = [](std::string_view v) {
    std::set<uint64_t> out;
    ForEachTerm(v, [&](std::string_view t) { out.insert(TermHash(t)); });
    return out;
  };
  size_t tested = 0;
  for (std::string op : {"=~", "!~", "has", "!has", "has_cs", "hasprefix", "hasprefix_cs", "hassuffix",
                         "hassuffix_cs", "contains", "contains_cs", "!contains", "startswith", "startswith_cs",
                         "endswith", "endswith_cs", "==", "!=", "matches regex"}) {
    for (std::string needle : {"north", "North America", "north ", " north", "a (timeout)", "Timeout after",
                               "GET /api/v1 ", "/api/", "1.2.3", "au lait", "caf\xc3\xa9 au", "th-we"}) {
      if (op == "matches regex") needle = "(" + needle + ")";
      ValueTest test = StringValueTest(op, needle);
      ASSERT_TRUE(test.keep) << op << " " << needle;
      EXPECT_TRUE(std::is_sorted(test.terms.begin(), test.terms.end()));
      if (op[0] == '!') {
        EXPECT_TRUE(test.terms.empty()) << op;
      }
      for (const std::string& v : values) {
        if (!test.keep(v)) continue;
        std::set<uint64_t> held = terms_of(v);
        for (uint64_t t : test.terms) EXPECT_TRUE(held.count(t)) << op << " '" << needle << "' '" << v << "'";
        tested += test.terms.size();
      }
    }
  }
  EXPECT_GT(tested, 50u);
  auto count = [](std::string op, std::string needle) { return StringValueTest(op, needle).terms.size(); };
  EXPECT_EQ(count("has", "North America"), 2u);
  EXPECT_EQ(count("has_cs", "GET /api/v1 "), 3u);
  EXPECT_EQ(count("==", "North America"), 2u);
  EXPECT_EQ(count("=~", "north"), 1u);
  EXPECT_EQ(count("hasprefix", "north"), 0u);    // "northern" has the prefix, not the term
  EXPECT_EQ(count("hasprefix", "north am"), 1u);  // "north" only
  EXPECT_EQ(count("hassuffix", "north"), 0u);
  EXPECT_EQ(count("hassuffix", "x.north"), 1u);   // "north" only
  EXPECT_EQ(count("startswith", "Timeout after"), 1u);
  EXPECT_EQ(count("endswith", "3 retries"), 1u);
  EXPECT_EQ(count("contains", "timeout"), 0u);
  EXPECT_EQ(count("contains", "a (timeout)"), 1u);
  EXPECT_EQ(count("contains", "/api/"), 1u);
  EXPECT_EQ(count("has", "a north a"), 2u);  // repeats once
  EXPECT_EQ(count("matches regex", "timeout after (\\d+)"), 1u);  // the literal's "after"
  EXPECT_EQ(count("!has", "north"), 0u);
  EXPECT_EQ(count("!=", "north"), 0u);
  // At most 8, the longest: a needle of many terms tests each block a bounded number of times.
  std::string many;
  for (int i = 0; i < 5000; ++i) many += "t" + std::to_string(i) + " ";
  ValueTest test = StringValueTest("has", many + "longestterm123");
  ASSERT_EQ(test.terms.size(), 8u);
  EXPECT_TRUE(std::binary_search(test.terms.begin(), test.terms.end(), TermHash("longestterm123")));
  EXPECT_FALSE(std::binary_search(test.terms.begin(), test.terms.end(), TermHash("t1")));
}

// matches regex: the test answers as the operator, row by row; when the pattern has a literal
// every match contains, each kept value holds it and the finder finds its first occurrence
// (ASCII case folded) in the values laid end to end; a pattern without one has no finder.
TEST(StringOps, RegexValueTestsAgreeWithTheOperatorAndFindTheirLiteral) {
  const std::vector<std::string> values = {
      "shard 97) done", "SHARD 97)", "shard 9)", "(shard 90)", "error: disk", "Error", "timeout after 3",
      "GET /api/v1/users", "get /API/v1", "", "caf\xc3\xa9 au lait", "CAF\xc3\x89", "abcXYZdef", "abc", "def",
      "foobaz", "BARBAZ", "k", "\xe2\x84\xaa"};  // the last: KELVIN SIGN, which (?i)k matches
  Column hay(Type::kString);
  for (const std::string& v : values) hay.AppendString(v);
  for (std::string pattern : {"shard 9[0-9]\\)", "^GET /api/", "error|warning", "(?i)error", "abc.*def",
                              "[0-9]+", "caf(\xc3\xa9|e) au", "a", "(?i:SHARD) 9", "timeout after (\\d+)",
                              "(foo|bar)baz", "(?i)k", "Error$", "x*"}) {
    ValueTest test = StringValueTest("matches regex", pattern);
    ASSERT_TRUE(test.keep) << pattern;
    std::vector<std::string> expected = Op("matches regex", {hay, Str(pattern)}, values.size());
    std::string text;
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(test.keep(values[i]) ? "true" : "false", expected[i]) << values[i] << " " << pattern;
      if (test.find && expected[i] == "true") {
        EXPECT_NE(test.find(values[i], 0), std::string::npos) << values[i];
      }
      text += values[i] + "|";
    }
    auto re = fn::CompileRegex("matches regex", pattern);
    ASSERT_THAT(re, ::cmk::testing::IsOk());
    std::string literal = fn::RequiredLiteral(**re);
    ASSERT_EQ(static_cast<bool>(test.find), !literal.empty()) << pattern;
    if (!test.find) continue;
    std::string folded = text;
    std::transform(folded.begin(), folded.end(), folded.begin(), [](unsigned char c) { return std::tolower(c); });
    for (size_t from = 0; from <= text.size(); ++from) {
      EXPECT_EQ(test.find(text, from), folded.find(literal, from)) << pattern << " " << from;
    }
  }
}

// The literals found: the longest candidate the prefilter requires; none for alternatives
// without a common part, for patterns that fold case, or for literals under 3 bytes.
TEST(StringOps, RequiredLiteralsOfPatterns) {
  auto literal = [](std::string pattern) {
    auto re = fn::CompileRegex("matches regex", pattern);
    return re.ok() ? fn::RequiredLiteral(**re) : std::string("(invalid)");
  };
  EXPECT_EQ(literal("shard 9[0-9]\\)"), "shard 9");
  EXPECT_EQ(literal("^GET /api/(\\w+)"), "get /api/");
  EXPECT_EQ(literal("timeout after (\\d+) ms"), "timeout after ");
  EXPECT_EQ(literal("abc.*defgh"), "defgh");
  EXPECT_EQ(literal("(foo|bar)baz"), "baz");
  EXPECT_EQ(literal("Error"), "error");
  EXPECT_EQ(literal("error|warning"), "");
  EXPECT_EQ(literal("(error|warning)?done"), "done");
  EXPECT_EQ(literal("(?i)timeout"), "");
  EXPECT_EQ(literal("(?i:a)bcdef"), "");
  EXPECT_EQ(literal("[0-9]+"), "");
  EXPECT_EQ(literal("ab"), "");
  EXPECT_EQ(literal(".*"), "");
  EXPECT_EQ(literal("x{0}abc"), "abc");
  // Long alternatives: each atom tried (none is required), no common-substring search.
  std::string alternatives;
  for (int i = 0; i < 40; ++i) alternatives += (i ? "|" : "") + std::string(200, static_cast<char>('a' + i % 26)) + "z";
  EXPECT_EQ(literal(alternatives), "");
}

}  // namespace
}  // namespace cmk::kql
