#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(Regex, ExtractReturnsTheGroupOrEmpty) {
  EXPECT_EQ(Fn("extract", {Str("x=([0-9.]+)"), Long(1), Strs({"hello x=3.14 y", "none"})}, 2), (V{"3.14", ""}));
  EXPECT_EQ(Fn("extract", {Str("[a-z]+"), Long(0), Str("123abc")}), (V{"abc"}));
  EXPECT_EQ(Fn("extract", {Str("(a)"), Long(5), Str("a")}), (V{""}));
}

TEST(Regex, ExtractOverAPackedColumnAnswersAsOverAPlainOne) {
  // A packed column (text decoded from an extent) is searched once for the pattern's required
  // literal and only the values holding it are matched: the answers are the plain column's,
  // typed or not, with values that hold the literal but no match, in either case, and empty.
  const std::vector<std::string> values = {"took 12 ms", "TOOK 7 ms", "took x ms", "", "it took 3 ms, took 4 ms",
                                           "nothing", "took 99 ms", "shard 5) took 1 ms", "tookk 2 ms"};
  Column plain(Type::kString), packed(Type::kString);
  packed.StartPacked(values.size(), 0);
  for (const std::string& v : values) {
    plain.AppendString(v);
    packed.AppendPacked(v);
  }
  ASSERT_TRUE(packed.packed());
  const size_t n = values.size();
  for (const char* pattern : {"took ([0-9]+) ms", "(?i)took ([0-9]+)", "shard ([0-9]+)\\)", "([a-z]+) ms",
                                     "took"}) {
    for (int64_t group : {0, 1}) {
      V want = Fn("extract", {Str(pattern), Long(group), plain}, n);
      EXPECT_EQ(Fn("extract", {Str(pattern), Long(group), packed}, n), want) << pattern << " " << group;
      EXPECT_EQ(Fn("extract", {Str(pattern), Long(group), packed, Const(Longs({0}))}, n),
                Fn("extract", {Str(pattern), Long(group), plain, Const(Longs({0}))}, n))
          << pattern << " typed";
    }
  }
  EXPECT_EQ(Fn("extract", {Str("took ([0-9]+) ms"), Long(1), packed}, n),
            (V{"12", "", "", "", "3", "", "99", "1", ""}));
}

TEST(Regex, ExtractAllShapesByGroupCount) {
  EXPECT_EQ(Fn("extract_all", {Str("(\\d+)"), Str("a1b22c333")}), (V{"[\"1\",\"22\",\"333\"]"}));
  EXPECT_EQ(Fn("extract_all", {Str("(\\w)(\\d)"), Str("a1 b2")}), (V{"[[\"a\",\"1\"],[\"b\",\"2\"]]"}));
  EXPECT_EQ(Fn("extract_all", {Str("(\\w)(\\d)"), Const(Dyn({"[2]"})), Str("a1 b2")}), (V{"[\"1\",\"2\"]"}));
  EXPECT_EQ(Fn("extract_all", {Str("(\\d+)"), Str("none")}), (V{"<null>"}));
}

TEST(Regex, ReplaceRegexUsesBackslashGroups) {
  EXPECT_EQ(Fn("replace_regex", {Str("A magic trick"), Str("(\\w+) (\\w+)"), Str("\\2 \\1")}), (V{"magic A trick"}));
  EXPECT_EQ(Fn("replace_regex", {Str("a1b2"), Str("[0-9]"), Str("$")}), (V{"a$b$"}));
}

TEST(Regex, TrimRemovesRepeatedLeadingAndTrailingMatches) {
  EXPECT_EQ(Fn("trim", {Str("--"), Str("--https://bing.com--")}), (V{"https://bing.com"}));
  EXPECT_EQ(Fn("trim_start", {Str("[^\\w]+"), Str("- ab -")}), (V{"ab -"}));
  EXPECT_EQ(Fn("trim_end", {Str("[^\\w]+"), Str("- ab -")}), (V{"- ab"}));
  EXPECT_EQ(Fn("trim", {Str(" "), Str("   ")}), (V{""}));
}

TEST(Regex, CountOfNormalCountsOverlappingRegexDoesNot) {
  EXPECT_EQ(Fn("countof", {Str("aaa"), Str("a")}), (V{"3"}));
  EXPECT_EQ(Fn("countof", {Str("aaaa"), Str("aa")}), (V{"3"}));
  EXPECT_EQ(Fn("countof", {Str("aaaa"), Str("aa"), Str("regex")}), (V{"2"}));
  EXPECT_EQ(Fn("countof", {Str("ababa"), Str("ab"), Str("normal")}), (V{"2"}));
  EXPECT_EQ(Fn("countof", {Str("abcbc"), Str("b.*c"), Str("regex")}), (V{"1"}));
}

// Regexes run on RE2 (Kusto's dialect): linear time, no recursion per character.
TEST(Regex, NestedQuantifiersDoNotBacktrackExponentially) {
  // std::regex needed ~2^40 steps for this; RE2 answers in linear time.
  EXPECT_EQ(Op("matches regex", {Str(std::string(40, 'a')), Str("(a+)+b")}), (V{"false"}));
  EXPECT_EQ(Op("matches regex", {Str(std::string(40, 'a') + "b"), Str("(a+)+b")}), (V{"true"}));
}

TEST(Regex, LongInputsDoNotRecursePerCharacter) {
  // std::regex recursed once per character here and overflowed the stack.
  std::string text(100'000, 'a');
  EXPECT_EQ(Fn("extract", {Str("(a|b)*c"), Long(0), Str(text)}), (V{""}));
  EXPECT_EQ(Fn("extract", {Str("(a|b)*c"), Long(0), Str(text + "c")}), (V{text + "c"}));
  EXPECT_EQ(Fn("countof", {Str(text), Str("a"), Str("regex")}), (V{"100000"}));
}

TEST(Regex, Re2SyntaxWorksNatively) {
  EXPECT_EQ(Op("matches regex", {Str("A\nB"), Str("(?i)a\\nb")}), (V{"true"}));
  EXPECT_EQ(Op("matches regex", {Str("a\nb"), Str("a.b")}), (V{"false"}));
  EXPECT_EQ(Op("matches regex", {Str("a\nb"), Str("(?s)a.b")}), (V{"true"}));
  EXPECT_EQ(Fn("extract", {Str("(?P<year>\\d{4})-(?<month>\\d{2})"), Long(2), Str("on 2024-05-01")}), (V{"05"}));
  EXPECT_EQ(Fn("extract", {Str("\\p{Greek}+"), Long(0), Str("abc αβγ")}), (V{"αβγ"}));
  EXPECT_EQ(Fn("extract", {Str("x(y)?"), Long(1), Str("x")}), (V{""}));
  EXPECT_EQ(Fn("extract", {Str("(a)"), Long(5), Str("a")}), (V{""}));
}

TEST(Regex, ReplaceRegexRewriteForms) {
  EXPECT_EQ(Fn("replace_regex", {Str("ab"), Str("(a)(b)"), Str("\\0:\\2\\1\\7\\\\")}), (V{"ab:ba\\"}));
  // Empty matches insert between characters without splitting UTF-8 sequences.
  EXPECT_EQ(Fn("replace_regex", {Str("éa"), Str("x*"), Str("-")}), (V{"-é-a-"}));
}

TEST(Regex, InvalidOrOversizedPatternsAreSemanticErrors) {
  for (const char* pattern : {"(", "a{1001}", "(a{1000}){1000}", "[z-a]"}) {
    EXPECT_THAT(Call(FindFunction("extract"), "extract", {Str(pattern), Long(0), Str("a")}, 1),
                StatusIs(StatusCode::kInvalidArgument, "SemanticError"))
        << pattern;
  }
}

}  // namespace
}  // namespace cmk::kql
