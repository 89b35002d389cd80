#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

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
            (V{"a12024-01-01T00:00:00.0000000Z"}));
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
  EXPECT_EQ(Fn("indexof", {Str("abcdefg"), Str("cde"), Long(-1)}), (V{"-1"}));  // from "g"
  EXPECT_EQ(Fn("indexof", {Str("abcdefg"), Str("cde"), Long(-5)}), (V{"2"}));
  EXPECT_EQ(Fn("indexof", {Str("abcdefg"), Str("cde"), Long(-8)}), (V{"<null>"}));
  EXPECT_EQ(Fn("indexof", {Str("abcdefgabcdefg"), Str("cde"), Long(1), Long(10), Long(2)}),
            (V{"9"}));
  EXPECT_EQ(Fn("indexof", {Str("abc"), Str("b"), Long(0), Long(-1), Long(-1)}), (V{"<null>"}));
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

}  // namespace
}  // namespace cmk::kql
