#include "kql/functions/functions_test_util.h"

#include <random>

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(Strings, StrlenCountsCodePoints) {
  EXPECT_EQ(Fn("strlen", {Strs({"hello", "", "\xc3\xa9t\xc3\xa9"})}, 3), (V{"5", "0", "3"}));
}

// strlen over packed columns (an extent's plain text block) reads lengths from the offsets
// when every byte is ASCII, and over coded ones counts each dictionary entry once: the same
// answers as over plain strings, a non-ASCII byte anywhere (the first word, past the first
// 4 KiB, the last few bytes) included.
TEST(Strings, StrlenOfPackedAndCodedColumnsCountsCodePoints) {
  auto lengths = [](const Column& c) {
    auto out = Call(FindFunction("strlen"), "strlen", {c}, c.stored());
    EXPECT_TRUE(out.ok());
    std::vector<int64_t> v;
    if (out.ok()) v = out->ints;
    return v;
  };
  std::vector<std::string> values;
  for (int i = 0; i < 400; ++i) values.push_back(std::string(static_cast<size_t>(i % 37), 'a') + "x" + std::to_string(i));
  for (size_t at : {size_t{0}, size_t{150}, size_t{300}, size_t{399}}) {
    std::vector<std::string> mixed = values;
    mixed[at] += "\xc3\xa9\xe2\x82\xac";  // two code points in five bytes
    for (const auto* set : {&values, &mixed}) {
      Column plain(Type::kString), packed(Type::kString);
      packed.StartPacked(set->size(), 0);
      for (const std::string& v : *set) {
        plain.AppendString(v);
        packed.AppendPacked(v);
      }
      ASSERT_TRUE(packed.packed());
      std::vector<int64_t> want = lengths(plain);
      EXPECT_EQ(lengths(packed), want);
      if (set == &mixed) {
        EXPECT_EQ(want[at], static_cast<int64_t>((*set)[at].size()) - 3);
      }
    }
  }
  Column coded(Type::kString);
  coded.dict = std::make_shared<std::vector<std::string>>(std::vector<std::string>{"ab", "\xc3\xa9t\xc3\xa9", ""});
  coded.codes = {1, 0, 2, 1};
  EXPECT_EQ(lengths(coded), (std::vector<int64_t>{3, 2, 0, 3}));
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

// replace_strings with more than eight lookups (or a row's own long list over a long text)
// makes one automaton pass: the same answers as comparing each lookup at each byte, which it
// does for a few. Random texts and lists; the few-lookup answer is the reference, and the same
// lists padded with lookups never found (a rewrite each, so the others keep their places) go
// the other way.
TEST(Strings, ReplaceStringsWithManyLookupsAnswersAsWithFew) {
  std::mt19937 rng(5);
  const std::string alphabet = "abAB- ";
  auto text = [&](size_t max) {
    std::string t;
    for (size_t n = rng() % (max + 1); n > 0; --n) t.push_back(alphabet[rng() % alphabet.size()]);
    return t;
  };
  auto json = [](const std::vector<std::string>& items) {
    std::string j = "[";
    for (const std::string& i : items) j += (j.size() > 1 ? "," : "") + i;
    return j + "]";
  };
  auto quoted = [](const std::string& t) { return "\"" + t + "\""; };
  size_t changed = 0;
  for (int round = 0; round < 1500; ++round) {
    std::vector<std::string> texts;
    for (int r = 0; r < 3; ++r) texts.push_back(text(30));
    std::vector<std::string> lookups, rewrites;
    for (size_t k = 1 + rng() % 8; k > 0; --k) {
      const std::string& from = texts[rng() % texts.size()];
      std::string l = rng() % 4 != 0 && !from.empty() ? from.substr(rng() % from.size(), 1 + rng() % 4) : text(3);
      lookups.push_back(rng() % 9 == 0 ? "1" : quoted(l));  // a number: ignored
      rewrites.push_back(rng() % 5 == 0 ? "null" : quoted(text(3)));
    }
    if (rng() % 3 == 0) rewrites.pop_back();  // fewer rewrites: the last lookup is kept as is
    std::vector<std::string> padded_lookups = lookups, padded_rewrites = rewrites;
    padded_rewrites.resize(lookups.size(), "null");
    for (int p = 0; p < 4; ++p) {
      padded_lookups.push_back(quoted("zz" + std::to_string(p)));
      padded_rewrites.push_back(quoted("!"));
    }
    Column in(Type::kString);
    for (const std::string& t : texts) in.AppendString(t);
    V few = Fn("replace_strings", {in, Const(Dyn({json(lookups)})), Const(Dyn({json(rewrites)}))}, texts.size());
    V many = Fn("replace_strings", {in, Const(Dyn({json(padded_lookups)})), Const(Dyn({json(padded_rewrites)}))},
                texts.size());
    ASSERT_EQ(many, few) << json(lookups) << " " << json(rewrites);
    for (size_t r = 0; r < texts.size(); ++r) changed += few[r] != texts[r];
    // A row's own lists over texts of over 64 KB of lookups times bytes: an automaton per row.
    Column longs(Type::kString), own_lookups(Type::kDynamic), own_rewrites(Type::kDynamic);
    for (const std::string& t : texts) {
      longs.AppendString(std::string(8000, '.') + t);
      own_lookups.AppendString(json(padded_lookups));
      own_rewrites.AppendString(json(padded_rewrites));
    }
    V own = Fn("replace_strings", {longs, own_lookups, own_rewrites}, texts.size());
    for (size_t r = 0; r < texts.size(); ++r) ASSERT_EQ(own[r], std::string(8000, '.') + few[r]) << json(lookups);
  }
  EXPECT_GT(changed, 1500u);  // most lists replace something
}

}  // namespace
}  // namespace cmk::kql
