#include "kql/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

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

TEST(Between, InclusiveRangesOfNumbersDatetimesTimespans) {
  EXPECT_EQ(Op("between", {Longs({1, 2, 5, 6, std::nullopt}), Long(2), Long(5)}, 5),
            (V{"false", "true", "true", "false", "false"}));
  EXPECT_EQ(Op("!between", {Longs({1, 2, std::nullopt}), Long(2), Long(5)}, 3), (V{"true", "false", "false"}));
  EXPECT_EQ(Op("between", {Reals({1.5}), Long(1), Long(2)}), (V{"true"}));
  EXPECT_EQ(Op("between", {Dt("2024-01-01T12:00:00Z"), Dt("2024-01-01"), Ts("12h")}), (V{"true"}));
  EXPECT_EQ(Op("between", {Dt("2024-01-02T00:00:01Z"), Dt("2024-01-01"), Dt("2024-01-02")}), (V{"false"}));
  EXPECT_THAT(TypeOf(FindOperator("between"), {Type::kString, Type::kString, Type::kString}),
              StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
}

TEST(Strings, StrlenCountsCodePoints) {
  EXPECT_EQ(Fn("strlen", {Strs({"hello", "", "\xc3\xa9t\xc3\xa9"})}, 3), (V{"5", "0", "3"}));
}

TEST(Strings, SubstringClampsToTheText) {
  EXPECT_EQ(Fn("substring", {Str("123456"), Long(1), Long(2)}), (V{"23"}));
  EXPECT_EQ(Fn("substring", {Str("123456"), Long(2)}), (V{"3456"}));
  EXPECT_EQ(Fn("substring", {Str("ABCD"), Long(0), Long(2)}), (V{"AB"}));
  EXPECT_EQ(Fn("substring", {Str("ABCD"), Long(10), Long(2)}), (V{""}));
  EXPECT_EQ(Fn("substring", {Str("\xc3\xa9t\xc3\xa9"), Long(1), Long(2)}), (V{"t\xc3\xa9"}));
}

TEST(Strings, CaseConversionIsAsciiOnly) {
  EXPECT_EQ(Fn("tolower", {Str("Hello \xc3\x89")}), (V{"hello \xc3\x89"}));
  EXPECT_EQ(Fn("toupper", {Str("Hello")}), (V{"HELLO"}));
}

TEST(Strings, SplitReturnsDynamicArrays) {
  EXPECT_EQ(Fn("split", {Str("aa_bb"), Str("_")}), (V{"[\"aa\",\"bb\"]"}));
  EXPECT_EQ(Fn("split", {Str("aaa_bbb_ccc"), Str("_"), Long(1)}), (V{"[\"bbb\"]"}));
  EXPECT_EQ(Fn("split", {Str("aa_bb"), Str("_"), Long(5)}), (V{"[]"}));
  EXPECT_EQ(Fn("split", {Str(""), Str("_")}), (V{"[\"\"]"}));
  EXPECT_EQ(Fn("split", {Str("a__b"), Str("_")}), (V{"[\"a\",\"\",\"b\"]"}));
}

TEST(Strings, StrcatConvertsEveryArgument) {
  EXPECT_EQ(Fn("strcat", {Str("a"), Long(1), Null(Type::kLong), Dt("2024-01-01")}),
            (V{"a12024-01-01T00:00:00Z"}));
  EXPECT_EQ(Fn("strcat_delim", {Str("-"), Str("a"), Longs({1, 2}), Str("b")}, 2), (V{"a-1-b", "a-2-b"}));
}

TEST(Strings, ReplaceStringReplacesAllOccurrences) {
  EXPECT_EQ(Fn("replace_string", {Str("A magic trick can turn a cat into a dog"), Str("cat"), Str("hamster")}),
            (V{"A magic trick can turn a hamster into a dog"}));
  EXPECT_EQ(Fn("replace_string", {Str("aaa"), Str("aa"), Str("b")}), (V{"ba"}));
  EXPECT_EQ(Fn("replace_string", {Str("abc"), Str(""), Str("x")}), (V{"abc"}));
}

TEST(Strings, IndexOfFollowsDocsExamples) {
  EXPECT_EQ(Fn("indexof", {Str("abcdefg"), Str("cde")}), (V{"2"}));
  EXPECT_EQ(Fn("indexof", {Str("abcdefg"), Str("cde"), Long(1), Long(4)}), (V{"2"}));
  EXPECT_EQ(Fn("indexof", {Str("abcdefg"), Str("cde"), Long(1), Long(2)}), (V{"-1"}));
  EXPECT_EQ(Fn("indexof", {Str("abcdefg"), Str("cde"), Long(3)}), (V{"-1"}));
  EXPECT_EQ(Fn("indexof", {Str("abcdefg"), Str("cde"), Long(-1)}), (V{"<null>"}));
  EXPECT_EQ(Fn("indexof", {Str("abcabc"), Str("abc"), Long(0), Long(-1), Long(2)}), (V{"3"}));
  EXPECT_EQ(Fn("indexof", {Str("\xc3\xa9x"), Str("x")}), (V{"1"}));
}

TEST(Strings, ReverseKeepsCodePointsIntact) {
  EXPECT_EQ(Fn("reverse", {Str("ABC\xc3\xa9")}), (V{"\xc3\xa9" "CBA"}));
}

TEST(Strings, StrrepRepeatsWithDelimiter) {
  EXPECT_EQ(Fn("strrep", {Str("ABC"), Long(2)}), (V{"ABCABC"}));
  EXPECT_EQ(Fn("strrep", {Str("ABC"), Long(3), Str(",")}), (V{"ABC,ABC,ABC"}));
}

TEST(Regex, ExtractReturnsTheGroupOrEmpty) {
  EXPECT_EQ(Fn("extract", {Str("x=([0-9.]+)"), Long(1), Strs({"hello x=3.14 y", "none"})}, 2), (V{"3.14", ""}));
  EXPECT_EQ(Fn("extract", {Str("[a-z]+"), Long(0), Str("123abc")}), (V{"abc"}));
  EXPECT_EQ(Fn("extract", {Str("(a)"), Long(5), Str("a")}), (V{""}));
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
