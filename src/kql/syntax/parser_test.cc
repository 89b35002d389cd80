#include "kql/syntax/parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/testing.h"
#include "kql/syntax/lexer.h"

namespace cmk::kql {
namespace {

using ::cmk::testing::IsOk;
using ::cmk::testing::StatusIs;
using ::testing::HasSubstr;

// ---- A compact printer: KQL-shaped pipelines, S-expressions for scalars.
std::string P(const Tabular& t);
std::string P(const ExprPtr& e);
std::string P(const TabularPtr& t);
std::string P(const SortKey& k);
std::string P(const ColumnDecl& c);

std::string P(const Expr& e) {
  auto list = [&e](size_t from) {
    std::string s;
    for (size_t i = from; i < e.args.size(); ++i) s += " " + P(*e.args[i]);
    return s;
  };
  switch (e.kind) {
    case ExprKind::kLiteral: {
      const Literal& l = e.literal;
      switch (l.kind) {
        case LiteralKind::kString: return "\"" + l.text + "\"";
        case LiteralKind::kNull: return "(null " + l.type + ")";
        case LiteralKind::kDatetime: return "(datetime " + l.text + ")";
        case LiteralKind::kGuid: return "(guid " + l.text + ")";
        case LiteralKind::kDynamic: return "(dynamic " + l.text + ")";
        default: return l.type.empty() ? l.text : "(" + l.type + " " + l.text + ")";
      }
    }
    case ExprKind::kName: return e.name;
    case ExprKind::kUnary:
    case ExprKind::kBinary:
    case ExprKind::kIn:
    case ExprKind::kBetween: return "(" + e.name + list(0) + ")";
    case ExprKind::kCall: {
      std::string s = e.name + "(";
      for (size_t i = 0; i < e.args.size(); ++i) s += (i ? ", " : "") + P(*e.args[i]);
      return s + ")";
    }
    case ExprKind::kMember: return "(. " + P(*e.args[0]) + " " + e.name + ")";
    case ExprKind::kIndex: return "([] " + P(*e.args[0]) + " " + P(*e.args[1]) + ")";
    case ExprKind::kTabular: return "{" + P(*e.tabular) + "}";
  }
  return "?";
}

std::string P(const NamedExpr& n) {
  std::string s = n.name;
  if (n.expr) s += (s.empty() ? "" : "=") + P(*n.expr);
  if (!n.type.empty()) s += " to " + n.type;
  if (n.default_value) s += " default=" + P(*n.default_value);
  return s;
}

template <typename T>
std::string Join(const std::vector<T>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + P(*&v[i]);
  return s;
}
std::string P(const ExprPtr& e) { return P(*e); }
std::string P(const TabularPtr& t) {
  bool bare = t->ops.empty() && t->source.kind == SourceKind::kTable;
  return bare ? t->source.name : "(" + P(*t) + ")";
}
std::string P(const SortKey& k) {
  std::string s = P(*k.expr) + (k.ascending ? " asc" : " desc");
  if (k.nulls_first != k.ascending) s += k.nulls_first ? " nulls first" : " nulls last";
  return s;
}
std::string P(const ColumnDecl& c) {
  return c.name + ":" + c.type + (c.default_value ? "=" + P(*c.default_value) : "");
}
std::string Opts(const std::vector<Option>& options) {
  std::string s;
  for (const Option& o : options) s += " " + o.key + "=" + o.value;
  return s;
}

std::string P(const Operator& op) {
  auto by = [&op] { return op.by.empty() ? "" : " by " + Join(op.by); };
  switch (op.kind) {
    case OpKind::kWhere: return "where " + P(*op.expr);
    case OpKind::kExtend: return "extend " + Join(op.items);
    case OpKind::kProject: return "project " + Join(op.items);
    case OpKind::kSerialize: return "serialize" + (op.items.empty() ? "" : " " + Join(op.items));
    case OpKind::kProjectAway: return "project-away " + Join(op.items);
    case OpKind::kProjectKeep: return "project-keep " + Join(op.items);
    case OpKind::kProjectReorder: return "project-reorder " + Join(op.items);
    case OpKind::kProjectRename: return "project-rename " + Join(op.items);
    case OpKind::kSummarize:
      return "summarize" + Opts(op.options) + (op.items.empty() ? "" : " " + Join(op.items)) + by();
    case OpKind::kSort: return "sort by " + Join(op.sort);
    case OpKind::kTop: return "top " + P(*op.expr) + " by " + Join(op.sort);
    case OpKind::kTake: return "take " + P(*op.expr);
    case OpKind::kDistinct: return "distinct" + Opts(op.options) + " " + Join(op.items);
    case OpKind::kCount: return "count";
    case OpKind::kGetSchema: return "getschema";
    case OpKind::kJoin:
    case OpKind::kLookup:
      return std::string(op.kind == OpKind::kJoin ? "join" : "lookup") + Opts(op.options) + " " +
             P(op.tables[0]) + " on " + Join(op.by);
    case OpKind::kUnion: return "union" + Opts(op.options) + " " + Join(op.tables);
    case OpKind::kMvExpand:
      return "mv-expand" + Opts(op.options) + " " + Join(op.items) +
             (op.expr ? " limit " + P(*op.expr) : "");
    case OpKind::kMvApply:
      return "mv-apply" + Opts(op.options) + " " + Join(op.items) +
             (op.expr ? " limit " + P(*op.expr) : "") + " on " + P(op.tables[0]);
    case OpKind::kEvaluate: return "evaluate" + Opts(op.options) + " " + P(*op.expr) + (op.items.empty() ? "" : " : (" + Join(op.items) + ")");
    case OpKind::kSample: return "sample " + P(*op.expr);
    case OpKind::kSampleDistinct: return "sample-distinct " + P(*op.expr) + " of " + op.name;
    case OpKind::kInvoke: return "invoke " + P(*op.expr);
    case OpKind::kFork: return "fork " + Join(op.tables);
    case OpKind::kScan: {
      std::string s = "scan" + Opts(op.options) + (op.items.empty() ? "" : " declare (" + Join(op.items) + ")") + " with (";
      for (const ScanStep& st : op.steps) {
        s += "step " + st.name + " output=" + st.output + ": " + P(*st.condition);
        s += (st.assignments.empty() ? "" : " => " + Join(st.assignments)) + "; ";
      }
      return s + ")";
    }
    case OpKind::kReduce:
      return "reduce" + Opts(op.options) + " by " + P(*op.expr) + (op.items.empty() ? "" : " with " + Join(op.items));
    case OpKind::kFacet: return "facet by " + Join(op.by) + (op.tables.empty() ? "" : " with " + P(op.tables[0]));
    case OpKind::kTopNested: {
      std::string s = "top-nested";
      for (size_t i = 0; i + 1 < op.items.size(); i += 2) {
        const NamedExpr& agg = op.items[i + 1];
        s += std::string(i > 0 ? "," : "") + (agg.default_value ? " " + P(*agg.default_value) : "") + " of " +
             P(op.items[i]) +
             (op.items[i].default_value ? " with others=" + P(*op.items[i].default_value) : "") + " by " +
             P(agg) + " " + agg.type;
      }
      return s;
    }
    case OpKind::kPartition:
      return "partition" + Opts(op.options) + by() + " " + P(op.tables[0]);
    case OpKind::kParse:
    case OpKind::kParseWhere: {
      std::string s = (op.kind == OpKind::kParse ? "parse" : "parse-where") + Opts(op.options) + " " + P(*op.expr) + " with";
      for (const ParsePart& p : op.pattern) {
        s += p.kind == ParsePart::Kind::kWildcard  ? " *"
             : p.kind == ParsePart::Kind::kLiteral ? " \"" + p.text + "\""
                                                   : " " + p.text + (p.type.empty() ? "" : ":" + p.type);
      }
      return s;
    }
    case OpKind::kSearch:
      return "search" + Opts(op.options) +
             (op.tables.empty() ? "" : " in (" + Join(op.tables) + ")") + " " + P(*op.expr);
    case OpKind::kMakeSeries:
      return "make-series" + Opts(op.options) + " " + Join(op.items) + " on " + P(*op.expr) +
             (op.from ? " from " + P(*op.from) : "") + (op.to ? " to " + P(*op.to) : "") +
             " step " + P(*op.step) + by();
    case OpKind::kAs: return "as " + op.name;
    case OpKind::kRender: return "render " + op.name + Opts(op.options);
    default: break;  // operators printed by name only
  }
  return "?";
}

std::string P(const Source& s) {
  switch (s.kind) {
    case SourceKind::kNone: return "<all>";
    case SourceKind::kTable: return s.name;
    case SourceKind::kCall: return s.name + "(" + Join(s.args) + ")";
    case SourceKind::kSubquery: return "(" + P(*s.tables[0]) + ")";
    case SourceKind::kUnion: return "union" + Opts(s.options) + " " + Join(s.tables);
    case SourceKind::kDatatable: return "datatable(" + Join(s.columns) + ")[" + Join(s.args) + "]";
    case SourceKind::kPrint: return "print " + Join(s.items);
    case SourceKind::kRange:
      return "range " + s.name + " from " + P(*s.from) + " to " + P(*s.to) + " step " + P(*s.step);
  }
  return "?";
}

std::string P(const Tabular& t) {
  std::string s = P(t.source);
  for (const Operator& op : t.ops) s += " | " + P(op);
  return s;
}

std::string P(const Statement& st) {
  if (st.kind == StatementKind::kExpr) {
    return st.value->kind == ExprKind::kTabular ? P(*st.value->tabular) : P(*st.value);
  }
  if (!st.is_function) return "let " + st.name + " = " + P(*st.value);
  std::string s = "let " + st.name + " = (" + Join(st.params) + ") {";
  for (const Statement& b : st.body) s += " " + P(b) + ";";
  return s + " }";
}

// Parses and prints; errors print as "ERROR: message".
std::string Parse(std::string_view query) {
  Result<Query> q = ParseQuery(query);
  if (!q.ok()) return "ERROR: " + q.status().message();
  std::string s;
  for (const Statement& st : q->statements) s += (s.empty() ? "" : "; ") + P(st);
  return s;
}

std::vector<TokenKind> Kinds(std::string_view text) {
  Result<std::vector<Token>> toks = Tokenize(text);
  std::vector<TokenKind> kinds;
  if (!toks.ok()) return kinds;
  for (const Token& t : *toks) kinds.push_back(t.kind);
  return kinds;
}

const Token& First(const Result<std::vector<Token>>& toks) { return toks->front(); }

// ---- Lexer.
TEST(KqlLexerTest, ClassifiesTokens) {
  using K = TokenKind;
  EXPECT_EQ(Kinds("a_1 ['x y'] 'str' 42 1.5 1e3 2.5e-2 1d | =="),
            (std::vector<K>{K::kIdentifier, K::kPunct, K::kString, K::kPunct, K::kString, K::kLong,
                            K::kReal, K::kReal, K::kReal, K::kTimespan, K::kPunct, K::kPunct,
                            K::kEnd}));
}

TEST(KqlLexerTest, DecodesStringEscapesAndVerbatimStrings) {
  auto toks = Tokenize(R"('a\n\t\\\'\"b' "q'd" @'c:\dir' @"x""y" h'secret' '\u0041')");
  ASSERT_THAT(toks, IsOk());
  ASSERT_EQ(toks->size(), 7u);
  EXPECT_EQ((*toks)[0].text, "a\n\t\\'\"b");
  EXPECT_EQ((*toks)[1].text, "q'd");
  EXPECT_EQ((*toks)[2].text, "c:\\dir");
  EXPECT_EQ((*toks)[3].text, "x\"y");
  EXPECT_EQ((*toks)[4].text, "secret");
  EXPECT_EQ((*toks)[5].text, "A");
}

TEST(KqlLexerTest, ComputesTimespanTicks) {
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"1d", 864'000'000'000}, {"2h", 72'000'000'000}, {"30m", 18'000'000'000},
      {"10s", 100'000'000},    {"100ms", 1'000'000},   {"1.5h", 54'000'000'000},
      {"3min", 1'800'000'000}, {"5tick", 5},           {"2microseconds", 20}};
  for (const auto& [text, ticks] : cases) {
    auto toks = Tokenize(text);
    ASSERT_THAT(toks, IsOk()) << text;
    EXPECT_EQ(First(toks).kind, TokenKind::kTimespan) << text;
    EXPECT_EQ(First(toks).int_value, ticks) << text;
  }
}

TEST(KqlLexerTest, ParsesNumbers) {
  auto toks = Tokenize("9223372036854775807 0x1F 1.25e2");
  ASSERT_THAT(toks, IsOk());
  EXPECT_EQ((*toks)[0].int_value, INT64_MAX);
  EXPECT_EQ((*toks)[1].int_value, 31);
  EXPECT_DOUBLE_EQ((*toks)[2].real_value, 125.0);
  EXPECT_THAT(Tokenize("9223372036854775808"), StatusIs(StatusCode::kInvalidArgument, "SyntaxError"));
}

TEST(KqlLexerTest, SkipsCommentsAndTracksLinesAndColumns) {
  auto toks = Tokenize("T // all rows\n  // more\n  | where");
  ASSERT_THAT(toks, IsOk());
  ASSERT_EQ(toks->size(), 4u);
  EXPECT_EQ((*toks)[1].text, "|");
  EXPECT_EQ((*toks)[1].pos.line, 3);
  EXPECT_EQ((*toks)[1].pos.column, 3);
  EXPECT_EQ((*toks)[1].pos.offset, 26u);
  EXPECT_EQ((*toks)[2].pos.column, 5);
}

TEST(KqlLexerTest, LexesNegatedAndSuffixedWordOperators) {
  auto toks = Tokenize("!has !contains !in in~ !in~ !between !has_cs != !~ =~ <> .. ::");
  ASSERT_THAT(toks, IsOk());
  std::vector<std::string> texts;
  for (const Token& t : *toks) {
    if (t.kind == TokenKind::kPunct) texts.push_back(t.text);
  }
  EXPECT_EQ(texts, (std::vector<std::string>{"!has", "!contains", "!in", "in~", "!in~", "!between",
                                             "!has_cs", "!=", "!~", "=~", "<>", "..", "::"}));
}

TEST(KqlLexerTest, KeepsLiteralFunctionBodiesRaw) {
  auto toks = Tokenize("datetime(2024-01-01T10:00:00Z) dynamic({\"a\": [1, \")\"]}) guid(74be27de-1e4e-49d9-b579-fe0b331d3642)");
  ASSERT_THAT(toks, IsOk());
  ASSERT_EQ(toks->size(), 13u);
  EXPECT_EQ((*toks)[2].kind, TokenKind::kRaw);
  EXPECT_EQ((*toks)[2].text, "2024-01-01T10:00:00Z");
  EXPECT_EQ((*toks)[6].text, "{\"a\": [1, \")\"]}");
  EXPECT_EQ((*toks)[10].text, "74be27de-1e4e-49d9-b579-fe0b331d3642");
}

TEST(KqlLexerTest, ReportsUnterminatedStringAtItsStart) {
  Result<std::vector<Token>> toks = Tokenize("T | where a == 'abc");
  EXPECT_THAT(toks, StatusIs(StatusCode::kInvalidArgument, "SyntaxError"));
  EXPECT_EQ(toks.status().message(), "Unterminated string literal at 1:16");
}

TEST(KqlLexerTest, RejectsUnknownCharactersAndBadNumbers) {
  EXPECT_EQ(Parse("T | where a # 1"), "ERROR: Unexpected character '#' at 1:13");
  EXPECT_EQ(Parse("T | take 10xyz"), "ERROR: Invalid number literal '10xyz' at 1:10");
  EXPECT_EQ(Parse("print 'a\\qb'"), "ERROR: Invalid escape sequence '\\q' at 1:9");
}

TEST(KqlLexerTest, ParsesTimespanText) {
  EXPECT_EQ(ParseTimespanText("1.02:03:04"), 937'840'000'000);
  EXPECT_EQ(ParseTimespanText("00:30:00"), 18'000'000'000);
  EXPECT_EQ(ParseTimespanText("00:00:01.5"), 15'000'000);
  EXPECT_EQ(ParseTimespanText("2"), 1'728'000'000'000);
  EXPECT_EQ(ParseTimespanText("1.5h"), 54'000'000'000);
  EXPECT_EQ(ParseTimespanText("-1d"), -864'000'000'000);
  EXPECT_EQ(ParseTimespanText("25:00"), std::nullopt);
  EXPECT_EQ(ParseTimespanText("abc"), std::nullopt);
}

// ---- Tabular operators.
TEST(KqlParserTest, Where) {
  EXPECT_EQ(Parse("T | where a > 1 and b == 'x'"), "T | where (and (> a 1) (== b \"x\"))");
  EXPECT_EQ(Parse("T | filter a <> 1"), "T | where (!= a 1)");
}

TEST(KqlParserTest, ExtendAndProject) {
  EXPECT_EQ(Parse("T | extend d = DurationMs / 1000.0, strlen(Message)"),
            "T | extend d=(/ DurationMs 1000.0), strlen(Message)");
  EXPECT_EQ(Parse("T | project Computer, ['my col'] = Level, x = 1"),
            "T | project Computer, my col=Level, x=1");
}

TEST(KqlParserTest, ProjectAwayKeepReorderRename) {
  EXPECT_EQ(Parse("T | project-away Tenant*, ['a b'], c"), "T | project-away Tenant*, a b, c");
  EXPECT_EQ(Parse("T | project-keep Time*"), "T | project-keep Time*");
  EXPECT_EQ(Parse("T | project-reorder b asc, a*"), "T | project-reorder b to asc, a*");
  EXPECT_EQ(Parse("T | project-rename Host = Computer, ['n 2'] = Level"),
            "T | project-rename Host=Computer, n 2=Level");
}

TEST(KqlParserTest, HyphenatedOperatorNamesMustBeGlued) {
  EXPECT_EQ(Parse("T | project - away"), "T | project (- away)");
  EXPECT_EQ(Parse("T | project -away"), "T | project (- away)");
}

TEST(KqlParserTest, Summarize) {
  EXPECT_EQ(Parse("T | summarize count(), avg(DurationMs) by Computer"),
            "T | summarize count(), avg(DurationMs) by Computer");
  EXPECT_EQ(Parse("T | summarize n = count(), p = percentiles(d, 50, 95) by bin(TimeGenerated, 1h), Level"),
            "T | summarize n=count(), p=percentiles(d, 50, 95) by bin(TimeGenerated, 1h), Level");
  EXPECT_EQ(Parse("T | summarize by Computer, Hour = bin(TimeGenerated, 1h)"),
            "T | summarize by Computer, Hour=bin(TimeGenerated, 1h)");
  EXPECT_EQ(Parse("T | summarize hint.strategy=shuffle arg_max(TimeGenerated, *) by Computer"),
            "T | summarize hint.strategy=shuffle arg_max(TimeGenerated, *) by Computer");
}

TEST(KqlParserTest, SortAndOrder) {
  EXPECT_EQ(Parse("T | sort by a"), "T | sort by a desc");
  EXPECT_EQ(Parse("T | order by a asc, b desc nulls first, c asc nulls last"),
            "T | sort by a asc, b desc nulls first, c asc nulls last");
  Result<Query> q = ParseQuery("T | sort by a asc, b");
  ASSERT_THAT(q, IsOk());
  const Operator& sort = q->statements[0].value->tabular->ops[0];
  EXPECT_TRUE(sort.sort[0].nulls_first);
  EXPECT_FALSE(sort.sort[1].nulls_first);
}

TEST(KqlParserTest, TopTakeLimit) {
  EXPECT_EQ(Parse("T | top 10 by DurationMs"), "T | top 10 by DurationMs desc");
  EXPECT_EQ(Parse("T | top 5 by a asc nulls last"), "T | top 5 by a asc nulls last");
  EXPECT_EQ(Parse("T | take 10 | limit 2 * 3"), "T | take 10 | take (* 2 3)");
}

TEST(KqlParserTest, DistinctCountGetschema) {
  EXPECT_EQ(Parse("T | distinct Computer, Level"), "T | distinct Computer, Level");
  EXPECT_EQ(Parse("T | distinct *"), "T | distinct *");
  EXPECT_EQ(Parse("T | count"), "T | count");
  EXPECT_EQ(Parse("T | getschema"), "T | getschema");
}

TEST(KqlParserTest, JoinKinds) {
  for (const char* kind : {"inner", "innerunique", "leftouter", "rightouter", "fullouter",
                           "leftanti", "rightanti", "leftsemi", "rightsemi"}) {
    std::string q = std::string("A | join kind=") + kind + " (B | where x > 1) on Key";
    EXPECT_EQ(Parse(q), std::string("A | join kind=") + kind + " (B | where (> x 1)) on Key");
  }
}

TEST(KqlParserTest, JoinOnLeftRightAndHints) {
  EXPECT_EQ(Parse("A | join B on $left.Id == $right.Id2, Key"),
            "A | join B on (== (. $left Id) (. $right Id2)), Key");
  EXPECT_EQ(Parse("A | join hint.strategy=broadcast kind=leftouter (B) on K"),
            "A | join hint.strategy=broadcast kind=leftouter B on K");
  EXPECT_EQ(Parse("A | join kind=sideways B on K"), "ERROR: Unknown join kind 'sideways' at 1:10");
  EXPECT_EQ(Parse("A | join B"), "ERROR: Expected 'on' but found end of query at 1:11");
}

TEST(KqlParserTest, Lookup) {
  EXPECT_EQ(Parse("F | lookup kind=leftouter (D | project K, Name) on K"),
            "F | lookup kind=leftouter (D | project K, Name) on K");
  EXPECT_EQ(Parse("F | lookup kind=fullouter D on K"),
            "ERROR: Unknown lookup kind 'fullouter' at 1:12");
}

TEST(KqlParserTest, MvExpand) {
  EXPECT_EQ(Parse("T | mv-expand with_itemindex=i tags, v = d.values to typeof(long) limit 100"),
            "T | mv-expand with_itemindex=i tags, v=(. d values) to long limit 100");
  EXPECT_EQ(Parse("T | mv-expand bagexpansion=array props"),
            "T | mv-expand bagexpansion=array props");
}

TEST(KqlParserTest, SubqueryOperators) {
  EXPECT_EQ(Parse("T | mv-apply with_itemindex=i v = a to typeof(long) limit 3 on (top 1 by v | take 1)"),
            "T | mv-apply with_itemindex=i v=a to long limit 3 on (<all> | top 1 by v desc | take 1)");
  EXPECT_EQ(Parse("T | partition hint.strategy=native by K (| count)"),
            "T | partition hint.strategy=native by K (<all> | count)");
  EXPECT_EQ(Parse("T | partition by K { U | where x == K }"), "T | partition by K (U | where (== x K))");
  EXPECT_EQ(Parse("T | sample-distinct 10 of K | sample 3 | invoke f(1)"),
            "T | sample-distinct 10 of K | sample 3 | invoke f(1)");
  EXPECT_EQ(Parse("T | top-nested 2 of S with others='x' by n=sum(D), top-nested of E by max(1) asc"),
            "T | top-nested 2 of S default=\"x\" with others=\"x\" by n=sum(D) to desc default=2 desc, "
            "of E by max(1) to asc asc");
  EXPECT_EQ(Parse("T | fork (where x > 1) b=(count) | facet by A, B with (take 1)"),
            "T | fork (<all> | where (> x 1)), (<all> | count) | facet by A, B with (<all> | take 1)");
  EXPECT_EQ(Parse("T | mv-apply a on take 1"), "ERROR: Expected '(' but found 'take' at 1:19");
  EXPECT_EQ(Parse("T | parse-where kind=regex flags=i s with \"a\" v"),
            "T | parse-where kind=regex flags=i s with \"a\" v");
}

TEST(KqlParserTest, ScanAndReduce) {
  // Step.Column (a member access on a step's name) becomes the name "Step.Column"; other member
  // accesses stay.
  EXPECT_EQ(Parse("T | scan with_match_id=m declare (a:long=0, b:string) with (step s1 output=last: "
                  "x > s1.a and d.k == 1 => a = s1.a + 1, b = 'x'; step s2: s1.b == s2.b)"),
            "T | scan with_match_id=m declare (a to long default=0, b to string) with (step s1 output=last: "
            "(and (> x s1.a) (== (. d k) 1)) => a=(+ s1.a 1), b=\"x\"; step s2 output=all: (== s1.b s2.b); )");
  EXPECT_EQ(Parse("T | scan with (step a: true;)"), "T | scan with (step a output=all: true; )");
  EXPECT_EQ(Parse("T | scan with (step a output=first: true)"),
            "ERROR: Expected all, last or none but found 'first' at 1:30");
  EXPECT_EQ(Parse("T | scan with ()"), "ERROR: Expected 'step' but found ')' at 1:16");
  EXPECT_EQ(Parse("T | reduce kind=source by s with threshold=0.5, characters='-'"),
            "T | reduce kind=source by s with threshold=0.5, characters=\"-\"");
  EXPECT_EQ(Parse("T | reduce by s with depth=2"),
            "ERROR: Expected threshold or characters but found 'depth' at 1:22");
}

TEST(KqlParserTest, Parse) {
  EXPECT_EQ(Parse("T | parse Message with * \"user=\" User \" took \" Ms:long \"ms\" *"),
            "T | parse Message with * \"user=\" User \" took \" Ms:long \"ms\" *");
  EXPECT_EQ(Parse("T | parse kind=simple Message with 'id=' Id:int"),
            "T | parse kind=simple Message with \"id=\" Id:int");
  EXPECT_EQ(Parse("T | parse Message with"), "ERROR: Expected a parse pattern but found end of query at 1:23");
}

TEST(KqlParserTest, Search) {
  EXPECT_EQ(Parse("search \"error\""), "<all> | search \"error\"");
  EXPECT_EQ(Parse("search kind=case_sensitive in (Syslog, App*) Message has 'x' | take 1"),
            "<all> | search kind=case_sensitive in (Syslog, App*) (has Message \"x\") | take 1");
  EXPECT_EQ(Parse("T | search * has \"fail\""), "T | search (has * \"fail\")");
}

TEST(KqlParserTest, MakeSeries) {
  EXPECT_EQ(Parse("T | make-series n = count() default = 0, avg(d) on TimeGenerated "
                  "from ago(1d) to now() step 1h by Computer"),
            "T | make-series n=count() default=0, avg(d) on TimeGenerated from ago(1d) to now() "
            "step 1h by Computer");
  EXPECT_EQ(Parse("T | make-series kind=nonempty sum(x) on t step 5m"),
            "T | make-series kind=nonempty sum(x) on t step 5m");
}

TEST(KqlParserTest, AsSerializeRender) {
  EXPECT_EQ(Parse("T | as hint.materialized=true Saved | serialize rn = row_number() | serialize"),
            "T | as Saved | serialize rn=row_number() | serialize");
  EXPECT_EQ(Parse("T | render timechart with (title=\"Errors\", ycolumns=a, b, ymin=0)"),
            "T | render timechart title=Errors ycolumns=a, b ymin=0");
  EXPECT_EQ(Parse("T | render piechart"), "T | render piechart");
}

TEST(KqlParserTest, UnknownOperatorAfterPipe) {
  EXPECT_EQ(Parse("T | frobnicate x"), "ERROR: Unknown tabular operator 'frobnicate' at 1:5");
  EXPECT_EQ(Parse("T | 42"), "ERROR: Expected a tabular operator after '|' but found '42' at 1:5");
  EXPECT_EQ(Parse("T |"), "ERROR: Expected a tabular operator after '|' but found end of query at 1:4");
}

// ---- Sources.
TEST(KqlParserTest, Union) {
  EXPECT_EQ(Parse("union withsource=SourceTable App*, Syslog, (Heartbeat | take 1)"),
            "union withsource=SourceTable App*, Syslog, (Heartbeat | take 1)");
  EXPECT_EQ(Parse("T | union kind=outer U, V | count"), "T | union kind=outer U, V | count");
}

TEST(KqlParserTest, Datatable) {
  EXPECT_EQ(Parse("datatable(a:long, b:string) [1, 'x', -2, \"y\",] | where a > 0"),
            "datatable(a:long, b:string)[1, \"x\", (- 2), \"y\"] | where (> a 0)");
  EXPECT_EQ(Parse("datatable(a:long, b:string) [1, 'x', 2]"),
            "ERROR: datatable has 3 values, not a multiple of 2 columns at 1:29");
}

TEST(KqlParserTest, PrintAndRange) {
  EXPECT_EQ(Parse("print x = 1 + 2, 'hi'"), "print x=(+ 1 2), \"hi\"");
  EXPECT_EQ(Parse("range i from 1 to 10 step 2 | extend j = i * 2"),
            "range i from 1 to 10 step 2 | extend j=(* i 2)");
  EXPECT_EQ(Parse("range t from ago(1d) to now() step 1h"),
            "range t from ago(1d) to now() step 1h");
}

TEST(KqlParserTest, SubqueryAndFunctionCallSources) {
  EXPECT_EQ(Parse("(T | where a == 1) | count"), "(T | where (== a 1)) | count");
  EXPECT_EQ(Parse("MyFunc(10, 'x') | take 1"), "MyFunc(10, \"x\") | take 1");
  EXPECT_EQ(Parse("['My Table'] | count"), "My Table | count");
}

// ---- Statements.
TEST(KqlParserTest, LetScalarAndTabular) {
  EXPECT_EQ(Parse("let n = 10; let since = ago(1h); T | where t > since | take n"),
            "let n = 10; let since = ago(1h); T | where (> t since) | take n");
  EXPECT_EQ(Parse("let E = T | where Level == 'Error'; E | count"),
            "let E = {T | where (== Level \"Error\")}; E | count");
  EXPECT_EQ(Parse("let U = union A, B; let D = datatable(x:long)[1]; U"),
            "let U = {union A, B}; let D = {datatable(x:long)[1]}; U");
  EXPECT_EQ(Parse("let S = (T | take 1); S"), "let S = {(T | take 1)}; S");
}

TEST(KqlParserTest, LetBoundBareNameStaysScalar) {
  // Whether `Heartbeat` names a table is decided by the binder.
  EXPECT_EQ(Parse("let H = Heartbeat; H | count"), "let H = Heartbeat; H | count");
}

TEST(KqlParserTest, LetFunctions) {
  EXPECT_EQ(Parse("let f = (x:long, y:long = 2) { x * y }; print f(3)"),
            "let f = (x:long, y:long=2) { (* x y); }; print f(3)");
  EXPECT_EQ(Parse("let g = (T:(*), n:int) { let m = n + 1; T | take m }; g(Syslog, 5)"),
            "let g = (T:(*), n:int) { let m = (+ n 1); T | take m; }; g(Syslog, 5)");
  EXPECT_EQ(Parse("let h = () { Heartbeat | count }; h()"),
            "let h = () { Heartbeat | count; }; h()");
  EXPECT_EQ(Parse("let f = (x:long) { }; print 1"),
            "ERROR: Expected an expression ending the function body but found '}' at 1:20");
}

TEST(KqlParserTest, MultipleStatementsAndSemicolons) {
  EXPECT_EQ(Parse(";; T | count; U | take 1;"), "T | count; U | take 1");
  EXPECT_EQ(Parse("T | count U"), "ERROR: Expected ';' or end of query but found 'U' at 1:11");
}

// ---- Scalar expressions.
TEST(KqlParserTest, Precedence) {
  EXPECT_EQ(Parse("print a or b and c"), "print (or a (and b c))");
  EXPECT_EQ(Parse("print a and b or c and d"), "print (or (and a b) (and c d))");
  EXPECT_EQ(Parse("print a + b * c == d - e / f % g"),
            "print (== (+ a (* b c)) (- d (% (/ e f) g)))");
  EXPECT_EQ(Parse("print -a * b - -c"), "print (- (* (- a) b) (- c))");
  EXPECT_EQ(Parse("print (a + b) * c"), "print (* (+ a b) c)");
  EXPECT_EQ(Parse("print a - b - c"), "print (- (- a b) c)");
  EXPECT_EQ(Parse("print not(a == 1 or b) and c"), "print (and not((or (== a 1) b)) c)");
}

TEST(KqlParserTest, StringOperatorsBindTighterThanAndLooserThanArithmetic) {
  EXPECT_EQ(Parse("print a has 'x' and b + 1 !contains c"),
            "print (and (has a \"x\") (!contains (+ b 1) c))");
  EXPECT_EQ(Parse("print a =~ 'X' or b !~ 'y' or c has_cs 'Z' or d startswith 'p' or "
                  "e endswith 's' or f contains_cs 'c' or g !has 'h' or h has_any ('a', 'b')"),
            "print (or (or (or (or (or (or (or (=~ a \"X\") (!~ b \"y\")) (has_cs c \"Z\")) "
            "(startswith d \"p\")) (endswith e \"s\")) (contains_cs f \"c\")) (!has g \"h\")) "
            "(has_any h \"a\" \"b\"))");
}

TEST(KqlParserTest, InBetweenAndRegex) {
  EXPECT_EQ(Parse("print a in (1, 2, 3), b !in ('x'), c in~ ('A'), d !in~ ('b')"),
            "print (in a 1 2 3), (!in b \"x\"), (in~ c \"A\"), (!in~ d \"b\")");
  EXPECT_EQ(Parse("T | where Computer in ((Hot | distinct Computer))"),
            "T | where (in Computer {(Hot | distinct Computer)})");
  EXPECT_EQ(Parse("T | where Computer in (Hot | distinct Computer)"),
            "T | where (in Computer {Hot | distinct Computer})");
  EXPECT_EQ(Parse("print x between (1 .. 10), y !between (now() - 1d .. now())"),
            "print (between x 1 10), (!between y (- now() 1d) now())");
  EXPECT_EQ(Parse("print m matches regex '^a.*z$'"), "print (matches regex m \"^a.*z$\")");
}

TEST(KqlParserTest, PostfixAccess) {
  EXPECT_EQ(Parse("print d.a.b[0]['k'], pack('a', 1).a, $left.x"),
            "print ([] ([] (. (. d a) b) 0) \"k\"), (. pack(\"a\", 1) a), (. $left x)");
  EXPECT_EQ(Parse("print d['my key'], ['col x']"), "print ([] d \"my key\"), col x");
}

TEST(KqlParserTest, Literals) {
  EXPECT_EQ(Parse("print true, false, 1, 2.5, 1e3, 'a' \"b\", 1.5h, 100ms"),
            "print true, false, 1, 2.5, 1e3, \"ab\", 1.5h, 100ms");
  EXPECT_EQ(Parse("print long(null), int(5), real(nan), real(-inf), bool(true), datetime(null)"),
            "print (null long), (int 5), (real nan), (real -inf), (bool true), (null datetime)");
  EXPECT_EQ(Parse("print datetime(2024-01-01), date(2024-01-01 10:00:00.5), "
                  "guid(74be27de-1e4e-49d9-b579-fe0b331d3642), dynamic({\"a\": [1, 2]}), "
                  "dynamic(null), timespan(1.02:03:04)"),
            "print (datetime 2024-01-01), (datetime 2024-01-01 10:00:00.5), "
            "(guid 74be27de-1e4e-49d9-b579-fe0b331d3642), (dynamic {\"a\": [1, 2]}), "
            "(dynamic null), 1.02:03:04");
  Result<Query> q = ParseQuery("print timespan(2h), 1.5h");
  ASSERT_THAT(q, IsOk());
  const Source& src = q->statements[0].value->tabular->source;
  EXPECT_EQ(src.items[0].expr->literal.kind, LiteralKind::kTimespan);
  EXPECT_EQ(src.items[0].expr->literal.int_value, 72'000'000'000);
  EXPECT_EQ(src.items[1].expr->literal.int_value, 54'000'000'000);
  EXPECT_EQ(Parse("print timespan(xyz)"), "ERROR: Invalid timespan literal 'xyz' at 1:16");
  EXPECT_EQ(Parse("print long(abc)"), "ERROR: Expected a literal inside long(...) but found 'abc' at 1:12");
}

TEST(KqlParserTest, TabularArgumentsToFunctions) {
  EXPECT_EQ(Parse("let m = toscalar(T | summarize max(x)); T | where x == m"),
            "let m = toscalar({T | summarize max(x)}); T | where (== x m)");
  EXPECT_EQ(Parse("let M = materialize(T | take 10); M"), "let M = materialize({T | take 10}); M");
}

// ---- The eight benchmark queries of issue 6, and longer realistic ones.
TEST(KqlParserTest, BenchmarkQueries) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Logs | where Level == 'Error' and DurationMs > 500 | count",
       "Logs | where (and (== Level \"Error\") (> DurationMs 500)) | count"},
      {"Logs | summarize count(), avg(DurationMs) by Computer",
       "Logs | summarize count(), avg(DurationMs) by Computer"},
      {"Logs | where Message contains 'timeout' | count",
       "Logs | where (contains Message \"timeout\") | count"},
      {"Logs | summarize count() by bin(TimeGenerated, 1h)",
       "Logs | summarize count() by bin(TimeGenerated, 1h)"},
      {"Logs | top 10 by DurationMs", "Logs | top 10 by DurationMs desc"},
      {"Logs | distinct Computer", "Logs | distinct Computer"},
      {"Logs | summarize dcount(Computer)", "Logs | summarize dcount(Computer)"},
      {"Logs | summarize Errors = countif(Level == 'Error') by Computer"
       " | join kind=inner (Logs | summarize AvgMs = avg(DurationMs) by Computer) on Computer",
       "Logs | summarize Errors=countif((== Level \"Error\")) by Computer"
       " | join kind=inner (Logs | summarize AvgMs=avg(DurationMs) by Computer) on Computer"},
  };
  for (const auto& [query, expected] : cases) EXPECT_EQ(Parse(query), expected) << query;
}

TEST(KqlParserTest, LongRealisticQuery) {
  const char* query = R"(
    // Slow requests per computer, last day.
    let window = 1d;
    let threshold = toscalar(AppTraces | summarize percentile(DurationMs, 95));
    let Slow = AppTraces
      | where TimeGenerated > ago(window) and DurationMs >= threshold
      | extend Host = tolower(Computer), Sev = iff(Level in ('Error', 'Critical'), 2, 1);
    Slow
    | join kind=leftouter (Heartbeat | summarize LastSeen = max(TimeGenerated) by Host = tolower(Computer)) on Host
    | summarize Count = count(), P50 = percentile(DurationMs, 50), Worst = arg_max(DurationMs, *)
        by Host, bin(TimeGenerated, 15m)
    | where Count > 10
    | order by Count desc, Host asc
    | project-away Worst
    | take 100
    | render timechart
  )";
  EXPECT_EQ(
      Parse(query),
      "let window = 1d; let threshold = toscalar({AppTraces | summarize percentile(DurationMs, "
      "95)}); let Slow = {AppTraces | where (and (> TimeGenerated ago(window)) (>= DurationMs "
      "threshold)) | extend Host=tolower(Computer), Sev=iff((in Level \"Error\" \"Critical\"), "
      "2, 1)}; Slow | join kind=leftouter (Heartbeat | summarize LastSeen=max(TimeGenerated) by "
      "Host=tolower(Computer)) on Host | summarize Count=count(), P50=percentile(DurationMs, 50), "
      "Worst=arg_max(DurationMs, *) by Host, bin(TimeGenerated, 15m) | where (> Count 10) | sort "
      "by Count desc, Host asc | project-away Worst | take 100 | render timechart");
}

TEST(KqlParserTest, TransformKqlShape) {
  EXPECT_EQ(Parse("source | where Level != 'Debug' | extend TimeGenerated = todatetime(Time) "
                  "| project TimeGenerated, Computer, Message = tostring(parse_json(Raw).msg)"),
            "source | where (!= Level \"Debug\") | extend TimeGenerated=todatetime(Time) | project "
            "TimeGenerated, Computer, Message=tostring((. parse_json(Raw) msg))");
}

// ---- Errors.
TEST(KqlParserErrorTest, MissingCloseParen) {
  Position pos;
  Result<Query> q = ParseQuery("T | where (a > 1", &pos);
  EXPECT_THAT(q, StatusIs(StatusCode::kInvalidArgument, "SyntaxError"));
  EXPECT_EQ(q.status().message(), "Expected ')' but found end of query at 1:17");
  EXPECT_EQ(pos.line, 1);
  EXPECT_EQ(pos.column, 17);
  EXPECT_EQ(pos.offset, 16u);
  EXPECT_EQ(Parse("T | summarize count( by x"), "ERROR: Expected ',' but found 'x' at 1:25");
  EXPECT_EQ(Parse("print datetime(2024"), "ERROR: Expected ')' to close the literal opened at 1:15");
}

TEST(KqlParserErrorTest, UnterminatedStringReportsLineAndColumn) {
  Position pos;
  Result<Query> q = ParseQuery("T\n| where a == \"abc", &pos);
  EXPECT_EQ(q.status().message(), "Unterminated string literal at 2:14");
  EXPECT_EQ(pos.offset, 15u);
  EXPECT_EQ(q.status().error_code(), "SyntaxError");
}

TEST(KqlParserErrorTest, EmptyQuery) {
  EXPECT_EQ(Parse(""), "ERROR: Empty query at 1:1");
  EXPECT_EQ(Parse("  // only a comment\n ;"), "ERROR: Empty query at 2:3");
  EXPECT_EQ(Parse("let x = 1;"),
            "ERROR: Expected a tabular expression after the let statements at 1:11");
}

TEST(KqlParserErrorTest, MissingOperands) {
  EXPECT_EQ(Parse("T | where"), "ERROR: Expected an expression but found end of query at 1:10");
  EXPECT_EQ(Parse("T | where a =="), "ERROR: Expected an expression but found end of query at 1:15");
  EXPECT_EQ(Parse("T | sort a"), "ERROR: Expected 'by' but found 'a' at 1:10");
  EXPECT_EQ(Parse("1 + 2"),
            "ERROR: Expected a table name or tabular expression but found '1' at 1:1");
  EXPECT_EQ(Parse("let = 5; T"), "ERROR: Expected a name after 'let' but found '=' at 1:5");
  EXPECT_EQ(Parse("print 1 | where x) | count"),
            "ERROR: Expected ';' or end of query but found ')' at 1:18");
}

TEST(KqlParserErrorTest, DeepNestingFailsCleanly) {
  std::string deep = "print " + std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_THAT(Parse(deep), HasSubstr("ERROR: Query too deeply nested"));
  std::string minus = "print " + std::string(5000, '-') + "1";
  EXPECT_THAT(Parse(minus), HasSubstr("ERROR: Query too deeply nested"));
}

}  // namespace
}  // namespace cmk::kql

namespace cmk::kql {
namespace {

// Regression (found by kql_fuzz): a number followed only by exponent letters is a syntax error,
// not a crash.
TEST(KqlParserErrorTest, NumberWithDanglingExponentIsASyntaxError) {
  for (const char* q : {"T | where x > 1e", "T | take 1E", "print 1e+"}) {
    auto r = ParseQuery(q);
    EXPECT_FALSE(r.ok()) << q;
    EXPECT_EQ(r.status().error_code(), "SyntaxError") << q;
  }
}

}  // namespace
}  // namespace cmk::kql
