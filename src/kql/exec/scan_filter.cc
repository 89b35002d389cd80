// Leaves and row filters: catalog scans, literal tables and ranges (values), where (search's
// too: semantic/binder_search.cc) and take.
#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"
#include "kql/functions/aggregates.h"
#include "kql/functions/functions.h"

namespace cmk::kql {
namespace {

// The scan's chunk of a catalog chunk, in the node's schema: the requested columns shared (the
// batch borrows them; aliasing pointers keep the catalog chunk alive), null constants for the
// rest and for columns of another type.
Chunk ScanChunk(const PlanNode& node, const std::vector<bool>& wanted, const std::shared_ptr<const Table>& chunk) {
  Chunk out;
  out.rows = chunk->rows;
  for (size_t k = 0; k < node.schema.size(); ++k) {
    const ColumnSchema& c = node.schema[k];
    int i = chunk->Find(c.name);
    if (i >= 0 && wanted[k] && chunk->columns[static_cast<size_t>(i)].type == c.type) {
      out.AddShared(std::shared_ptr<const Column>(chunk, &chunk->columns[static_cast<size_t>(i)]));
    } else {
      out.Add(NullConstant(c.type));
    }
  }
  return out;
}

// Functions a predicate evaluated on the catalog's reader threads may call: pure, linear in
// their input and with results no larger than it, since those threads evaluate without the
// query's budget (a chunk is one row group, so each evaluation is bounded).
bool PushableCall(std::string_view name) {
  static const std::set<std::string_view, std::less<>> kNames = {
      "==", "!=", "<", "<=", ">", ">=", "=~", "!~", "and", "or", "not", "neg", "+", "-", "*", "/", "%",
      "between", "!between", "in", "!in", "in~", "!in~", "has_any", "has_all", "isnull", "isnotnull",
      "isempty", "isnotempty", "strlen", "tolower", "toupper",
      "has", "!has", "has_cs", "!has_cs", "hasprefix", "!hasprefix", "hasprefix_cs", "!hasprefix_cs",
      "hassuffix", "!hassuffix", "hassuffix_cs", "!hassuffix_cs", "contains", "!contains", "contains_cs",
      "!contains_cs", "startswith", "!startswith", "startswith_cs", "!startswith_cs", "endswith", "!endswith",
      "endswith_cs", "!endswith_cs",
      // RE2 matches in time linear in the text and compiles a pattern in memory bounded by
      // fn::kRegexMaxMem (function_regex.h); a bool a row.
      "matches regex",
      // Scalars of fixed size (group keys: summarize's keys run on the reader threads too).
      "bin", "floor", "bin_at", "round", "abs", "iff", "iif", "tolong", "toint", "todouble", "toreal",
      "hourofday", "dayofweek", "dayofmonth", "dayofyear", "getyear", "getmonth", "startofday",
      "startofweek", "startofmonth", "startofyear", "endofday", "endofweek", "endofmonth", "endofyear",
      "datetime_part", "ago", "now", "case",
      // Strings no longer than their argument's text (a few bytes more for a number's).
      "tostring",
      // Its parts as a JSON array: linear in the text (quotes, commas, escapes).
      "split",
      // A piece of the text, one of the arguments, or a value of fixed size. extract and trim
      // match a regex (see above) compiled once a chunk when it is a constant (RegexPattern).
      "extract", "substring", "trim", "trim_start", "trim_end", "reverse", "strcmp", "coalesce", "max_of",
      "min_of", "datetime_diff", "datetime_add", "todatetime", "totimespan", "tobool", "toboolean", "todecimal",
      "toguid", "isnan", "isfinite", "isinf", "sign", "sqrt", "exp", "log", "log2", "log10", "pow",
      // Linear searches for a needle (fn::FindText, fn::CountOverlapping); countof's may be a
      // regex (kind "regex"): a constant one only, as above.
      "indexof", "countof"};
  return kNames.count(name) > 0;
}

// Which argument of a pushable function is a regex pattern, if one is.
std::optional<size_t> RegexPattern(std::string_view name) {
  if (name == "matches regex") return 1;
  if (name == "extract" || name == "trim" || name == "trim_start" || name == "trim_end") return 0;
  if (name == "countof") return 1;
  return std::nullopt;
}

bool Pushable(const BoundExpr& e) {
  switch (e.kind) {
    case BoundExpr::Kind::kColumn:
    case BoundExpr::Kind::kConstant:
      return true;
    case BoundExpr::Kind::kCall:
      if (e.fn == nullptr || !PushableCall(e.fn->name)) return false;
      // A pattern that comes from the rows would be compiled row by row, on threads where the
      // query's time budget is not checked: only a constant one (compiled once a chunk).
      if (auto at = RegexPattern(e.fn->name); at && (e.args.size() <= *at || !e.args[*at].IsConstant())) return false;
      return std::all_of(e.args.begin(), e.args.end(), [](const BoundExpr& a) { return Pushable(a); });
    case BoundExpr::Kind::kMember:
    case BoundExpr::Kind::kIndex:
      // A part of a dynamic value's text (a parse linear in it, depth-bounded by the parser):
      // `summarize count() by tostring(Props.user)`, `tostring(split(Message, " ")[0])`.
      return std::all_of(e.args.begin(), e.args.end(), [](const BoundExpr& a) { return Pushable(a); });
    default:  // row_number, prev/next and windows read other rows
      return false;
  }
}

// A test of one string column of the scan against constants with a match operator
// (StringValueTest, StringListValueTest for has_any/has_all): the column's name and the test;
// nullopt when `e` is none.
std::optional<std::pair<std::string, ValueTest>> StringColumnTest(const BoundExpr& e, const PlanNode& scan) {
  if (e.kind != BoundExpr::Kind::kCall || e.fn == nullptr || e.args.empty()) return std::nullopt;
  const BoundExpr& col = e.args[0];
  if (col.kind != BoundExpr::Kind::kColumn || col.column < 0 || static_cast<size_t>(col.column) >= scan.schema.size() ||
      col.type != Type::kString || scan.schema[static_cast<size_t>(col.column)].type != Type::kString) {
    return std::nullopt;
  }
  const std::string& name = scan.schema[static_cast<size_t>(col.column)].name;
  if (e.fn->name == "has_any" || e.fn->name == "has_all" || e.fn->name == "in" || e.fn->name == "in~") {
    // `Message has_any ("a", "b")`, `Computer in ("a", "b")`: the items constant strings or
    // dynamic arrays of them.
    std::vector<const Column*> items;
    for (size_t k = 1; k < e.args.size(); ++k) {
      if (!e.args[k].IsConstant()) return std::nullopt;
      items.push_back(&e.args[k].value);
    }
    ValueTest test = StringListValueTest(e.fn->name, items);
    if (!test.keep) return std::nullopt;
    return std::make_pair(name, std::move(test));
  }
  if (e.args.size() == 1 && (e.fn->name == "isempty" || e.fn->name == "isnotempty" || e.fn->name == "notempty")) {
    // `where isnotempty(Message)`: a test of each value's length (a null string is empty, and
    // null rows are kept for the filter anyway).
    bool empty = e.fn->name == "isempty";
    ValueTest test;
    test.keep = [empty](std::string_view s) { return s.empty() == empty; };
    return std::make_pair(name, std::move(test));
  }
  if (e.args.size() != 2 || !e.args[1].IsConstant()) return std::nullopt;
  const Column& v = e.args[1].value;
  if (v.type != Type::kString || v.stored() != 1 || v.IsNull(0)) return std::nullopt;
  ValueTest test = StringValueTest(e.fn->name, v.Str(0));
  if (!test.keep) return std::nullopt;
  return std::make_pair(name, std::move(test));
}

Result<std::optional<std::vector<uint32_t>>> PassingRows(const BoundExpr& predicate, const Chunk& chunk,
                                                        TimePoint now);
std::vector<bool> WantedColumns(const PlanNode& node);
Result<std::optional<std::vector<uint32_t>>> PassingAll(const std::vector<const BoundExpr*>& conjuncts,
                                                       const Chunk& chunk, TimePoint now);

// The conjuncts of `e` (nested ands flattened), in order.
void Conjuncts(const BoundExpr& e, std::vector<const BoundExpr*>& out) {
  if (e.kind == BoundExpr::Kind::kCall && e.fn != nullptr && e.fn->name == "and") {
    for (const BoundExpr& a : e.args) Conjuncts(a, out);
    return;
  }
  out.push_back(&e);
}

// A lookup of a column's value rather than a search of its text (`Level == "Error"`,
// `Computer in (...)`): such columns are mostly dictionaries, tested once per entry.
bool IsLookup(const BoundExpr& e) {
  static const std::set<std::string_view, std::less<>> kNames = {"==", "!=", "=~", "!~", "in", "!in", "in~", "!in~"};
  return e.kind == BoundExpr::Kind::kCall && e.fn != nullptr && kNames.count(e.fn->name) > 0;
}

// A comparison of one column with constants (or and/or/not of such), cheap over any column:
// evaluated over a whole row group before its text is tested (ScanRequest::StringTest::rows_first).
bool CheapTest(const BoundExpr& e) {
  if (e.kind != BoundExpr::Kind::kCall || e.fn == nullptr || e.args.empty()) return false;
  const std::string_view name = e.fn->name;
  if (name == "and" || name == "or" || name == "not") {
    return std::all_of(e.args.begin(), e.args.end(), [](const BoundExpr& a) { return CheapTest(a); });
  }
  static const std::set<std::string_view, std::less<>> kNames = {
      "==", "!=", "<", "<=", ">", ">=", "=~", "!~", "between", "!between", "in", "!in", "in~", "!in~",
      "isnull", "isnotnull", "isempty", "isnotempty"};
  if (kNames.count(name) == 0 || e.args[0].kind != BoundExpr::Kind::kColumn) return false;
  return std::all_of(e.args.begin() + 1, e.args.end(), [](const BoundExpr& a) { return a.IsConstant(); });
}

// A conjunct of `predicate` that tests one string column (StringColumnTest), as the catalog's
// prefilter; nullopt when there is none. A search of text (contains, has, startswith, a regex)
// is preferred to a lookup (IsLookup), which the other conjuncts' test then runs first: with
// the text's test, a row group's other cheap conjuncts (CheapTest: `Level == "Error"`) are
// given as rows_first, so that only the rows they keep have their text tested.
std::optional<ScanRequest::StringTest> StringPrefilter(const BoundExpr& predicate, const PlanNode& scan,
                                                       TimePoint now) {
  std::vector<const BoundExpr*> conjuncts;
  Conjuncts(predicate, conjuncts);
  std::optional<std::pair<std::string, ValueTest>> test;
  size_t chosen = 0;
  for (bool lookups : {false, true}) {
    for (size_t i = 0; i < conjuncts.size() && !test; ++i) {
      if (IsLookup(*conjuncts[i]) != lookups) continue;
      test = StringColumnTest(*conjuncts[i], scan);
      chosen = i;
    }
  }
  if (!test) return std::nullopt;
  ScanRequest::StringTest out{std::move(test->first), std::move(test->second.keep), std::move(test->second.find)};
  out.by_terms = test->second.by_terms;
  out.terms_negated = test->second.terms_negated;
  out.terms_first = test->second.terms_first;
  out.terms_last = test->second.terms_last;
  out.term_keep = std::move(test->second.term_keep);
  out.term_find = std::move(test->second.term_find);
  out.term_candidates = std::move(test->second.term_candidates);
  std::vector<const BoundExpr*> first;
  std::vector<int> reads(scan.schema.size(), 0);
  for (size_t i = 0; i < conjuncts.size(); ++i) {
    if (i == chosen || !CheapTest(*conjuncts[i])) continue;
    std::vector<int> r(scan.schema.size(), 0);
    CountColumnReads(*conjuncts[i], r);
    bool reads_test = false;
    for (size_t k = 0; k < r.size(); ++k) {
      reads_test = reads_test || (r[k] > 0 && scan.schema[k].name == out.column);
      reads[k] += r[k];
    }
    if (reads_test) return out;  // (not expected: a second test of the same column)
    first.push_back(conjuncts[i]);
  }
  if (first.empty()) return out;
  for (size_t k = 0; k < reads.size(); ++k) {
    if (reads[k] > 0) out.first_reads.push_back(scan.schema[k].name);
  }
  out.rows_first = [node = &scan, first, wanted = WantedColumns(scan),
                    now](const std::shared_ptr<const Table>& t) -> Result<std::vector<uint32_t>> {
    ASSIGN_OR_RETURN(std::optional<std::vector<uint32_t>> rows, PassingAll(first, ScanChunk(*node, wanted, t), now));
    if (!rows) {
      rows.emplace(t->rows);
      for (size_t r = 0; r < t->rows; ++r) (*rows)[r] = static_cast<uint32_t>(r);
    }
    return std::move(*rows);
  };
  return out;
}

// ScanRequest::term_needs of a predicate: a conjunct's, the needs of every disjunct together
// (`* has "x"`: one a string column), a string test's terms. nullopt when a row may pass
// holding no known term; at most kMaxTermNeeds (a group is tested against each).
constexpr size_t kMaxTermNeeds = 64;

std::optional<std::vector<ScanRequest::TermNeed>> TermNeeds(const BoundExpr& e, const PlanNode& scan) {
  using Needs = std::vector<ScanRequest::TermNeed>;
  if (e.IsConstant()) {
    if (e.type == Type::kBool && e.value.stored() == 1 && !IsTrue(e.value, 0)) return Needs{};  // none passes
    return std::nullopt;
  }
  if (e.kind != BoundExpr::Kind::kCall || e.fn == nullptr) return std::nullopt;
  if (e.fn->name == "and") {
    std::optional<Needs> best;
    for (const BoundExpr& a : e.args) {
      auto n = TermNeeds(a, scan);
      if (n && (!best || n->size() < best->size())) best = std::move(n);
    }
    return best;
  }
  if (e.fn->name == "or") {
    Needs all;
    for (const BoundExpr& a : e.args) {
      auto n = TermNeeds(a, scan);
      if (!n || all.size() + n->size() > kMaxTermNeeds) return std::nullopt;
      for (ScanRequest::TermNeed& need : *n) all.push_back(std::move(need));
    }
    return all;
  }
  auto test = StringColumnTest(e, scan);
  if (!test || (test->second.terms.empty() && test->second.any_terms.empty())) return std::nullopt;
  return Needs{{std::move(test->first), std::move(test->second.terms), std::move(test->second.any_terms)}};
}

// Which of the scan node's columns the scan reads (the others are null constants).
std::vector<bool> WantedColumns(const PlanNode& node) {
  std::vector<bool> wanted;
  for (const ColumnSchema& c : node.schema) {
    wanted.push_back(std::find(node.scan.columns.begin(), node.scan.columns.end(), c.name) != node.scan.columns.end());
  }
  return wanted;
}

// `column op constants` over a column of ints (long, int, datetime, timespan) with constants of
// ints, op one of == != < <= > >= between !between: the rows whose value lies in [lo, hi]
// (`outside`: those whose value doesn't), as CompareAs and EvalBetween decide them. An empty
// range (lo > hi) holds no value. A null value passes `!=` alone (null != x is true; every other
// comparison with a null is false or null, and between/!between is false): `null_passes`.
struct IntRange {
  size_t column = 0;
  int64_t lo = 0, hi = 0;
  bool outside = false;
  bool null_passes = false;
};

// The column of `fn(column, constant[, constant])` (a call of two or three arguments, the first
// a column of `chunk` holding a value, and a null flag if any, for each of its rows, the others
// non-null constants), or null.
const Column* ColumnAgainstConstants(const BoundExpr& e, const Chunk& chunk) {
  if (e.kind != BoundExpr::Kind::kCall || e.fn == nullptr || e.args.size() < 2 || e.args.size() > 3) return nullptr;
  if (e.args[0].kind != BoundExpr::Kind::kColumn) return nullptr;
  for (size_t i = 1; i < e.args.size(); ++i) {
    if (e.args[i].kind != BoundExpr::Kind::kConstant || e.args[i].value.IsNull(0)) return nullptr;
  }
  const Column& c = chunk.col(static_cast<size_t>(e.args[0].column));
  if (c.constant || c.stored() < chunk.rows || (c.HasNulls() && c.nulls.size() < chunk.rows)) return nullptr;
  return &c;
}

std::optional<IntRange> IntRangeOf(const BoundExpr& e, const Chunk& chunk) {
  const Column* col_of = ColumnAgainstConstants(e, chunk);
  if (col_of == nullptr || !UsesInts(col_of->type) || col_of->type == Type::kBool) return std::nullopt;
  const Column& c = *col_of;
  int64_t k[2] = {0, 0};
  for (size_t i = 1; i < e.args.size(); ++i) {
    const BoundExpr& a = e.args[i];
    // Constants of the column's own type, or long/int against long/int (a datetime between
    // a datetime and a timespan is relative: left to EvalBetween).
    bool same = a.value.type == c.type || (IsNumeric(a.value.type) && IsNumeric(c.type));
    if (!UsesInts(a.value.type) || !same) return std::nullopt;
    k[i - 1] = a.value.Int(0);
  }
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min(), kMax = std::numeric_limits<int64_t>::max();
  const size_t col = static_cast<size_t>(e.args[0].column);
  std::string_view fn = e.fn->name;
  if (e.args.size() == 3) {
    if (fn == "between") return IntRange{col, k[0], k[1], false};
    if (fn == "!between") return IntRange{col, k[0], k[1], true};
    return std::nullopt;
  }
  const int64_t v = k[0];
  if (fn == "==") return IntRange{col, v, v, false};
  if (fn == "!=") return IntRange{col, v, v, true, true};
  if (fn == "<=") return IntRange{col, kMin, v, false};
  if (fn == ">=") return IntRange{col, v, kMax, false};
  if (fn == "<") return v == kMin ? IntRange{col, kMax, kMin, false} : IntRange{col, kMin, v - 1, false};
  if (fn == ">") return v == kMax ? IntRange{col, kMax, kMin, false} : IntRange{col, v + 1, kMax, false};
  return std::nullopt;
}

// `column op constant(s)` over a column of reals (real, decimal) with numeric constants, op one
// of == != < <= > >= between !between, decided as CompareAs and EvalBetween decide them: IEEE
// comparisons of doubles, so a NaN value (or constant) passes != and !between only; a null
// value passes != only (as for IntRange).
struct RealTest {
  enum Op : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kOut };
  size_t column = 0;
  Op op = kEq;
  double a = 0, b = 0;
};

std::optional<RealTest> RealTestOf(const BoundExpr& e, const Chunk& chunk) {
  const Column* c = ColumnAgainstConstants(e, chunk);
  if (c == nullptr || !UsesReals(c->type)) return std::nullopt;
  double k[2] = {0, 0};
  for (size_t i = 1; i < e.args.size(); ++i) {
    const BoundExpr& a = e.args[i];
    if (!IsNumeric(a.value.type)) return std::nullopt;
    k[i - 1] = UsesInts(a.value.type) ? static_cast<double>(a.value.Int(0)) : a.value.Real(0);
  }
  const size_t col = static_cast<size_t>(e.args[0].column);
  std::string_view fn = e.fn->name;
  if (e.args.size() == 3) {
    if (fn == "between") return RealTest{col, RealTest::kIn, k[0], k[1]};
    if (fn == "!between") return RealTest{col, RealTest::kOut, k[0], k[1]};
    return std::nullopt;
  }
  static constexpr std::pair<std::string_view, RealTest::Op> kOps[] = {
      {"==", RealTest::kEq}, {"!=", RealTest::kNe}, {"<", RealTest::kLt},
      {"<=", RealTest::kLe}, {">", RealTest::kGt},  {">=", RealTest::kGe}};
  for (const auto& [name, op] : kOps) {
    if (fn == name) return RealTest{col, op, k[0], 0};
  }
  return std::nullopt;
}

// The rows of `x` (n values; `nulls` one byte a row, or null) that pass `test`: each row's
// index written, the count advanced by its truth (no branch on the data).
size_t PassingReals(const RealTest& test, const double* x, const uint8_t* nulls, size_t rows, uint32_t* out) {
  size_t n = 0;
  const bool null_passes = test.op == RealTest::kNe;
  auto run = [&](auto pass) {
    if (nulls == nullptr) {
      for (size_t r = 0; r < rows; ++r) {
        out[n] = static_cast<uint32_t>(r);
        n += pass(x[r]) ? 1 : 0;
      }
      return;
    }
    for (size_t r = 0; r < rows; ++r) {
      out[n] = static_cast<uint32_t>(r);
      n += (nulls[r] != 0 ? null_passes : pass(x[r])) ? 1 : 0;
    }
  };
  const double a = test.a, b = test.b;
  switch (test.op) {
    case RealTest::kEq: run([a](double v) { return v == a; }); break;
    case RealTest::kNe: run([a](double v) { return v != a; }); break;
    case RealTest::kLt: run([a](double v) { return v < a; }); break;
    case RealTest::kLe: run([a](double v) { return v <= a; }); break;
    case RealTest::kGt: run([a](double v) { return v > a; }); break;
    case RealTest::kGe: run([a](double v) { return v >= a; }); break;
    case RealTest::kIn: run([a, b](double v) { return v >= a && v <= b; }); break;
    case RealTest::kOut: run([a, b](double v) { return !(v >= a && v <= b); }); break;
  }
  return n;
}

// The rows of `chunk` that pass every one of `conjuncts`, evaluated in turn over the whole
// chunk (nullopt when every row does); once none passes, the rest are not evaluated.
Result<std::optional<std::vector<uint32_t>>> PassingAll(const std::vector<const BoundExpr*>& conjuncts,
                                                       const Chunk& chunk, TimePoint now) {
  std::optional<std::vector<uint32_t>> rows;
  for (const BoundExpr* c : conjuncts) {
    ASSIGN_OR_RETURN(std::optional<std::vector<uint32_t>> passing, PassingRows(*c, chunk, now));
    if (!passing) continue;
    if (rows) {
      std::vector<uint32_t> both;
      std::set_intersection(rows->begin(), rows->end(), passing->begin(), passing->end(), std::back_inserter(both));
      passing = std::move(both);
    }
    rows = std::move(passing);
    if (rows->empty()) break;
  }
  return rows;
}

// A conjunction whose cheap conjuncts (CheapTest: `Computer == "web-385"`, `N < 10`) keep at most
// 1 in kNarrowShare of the chunk's rows: those first, over the whole chunk (a pass each, a
// dictionary column per entry), then the others (row by row alone: Pushable) over only the rows
// they keep, gathered (a cached group's `Message contains "timeout"` beside the host tests 1
// message in 500). nullopt when the conjunction is not of that kind or its cheap conjuncts keep
// more rows: PassingRows evaluates it whole.
constexpr size_t kNarrowShare = 4;
std::atomic<uint64_t> narrowed_rows{0};  // NarrowedRowsForTest

Result<std::optional<std::optional<std::vector<uint32_t>>>> PassingRowsNarrowed(const BoundExpr& predicate,
                                                                                const Chunk& chunk, TimePoint now) {
  using Rows = std::optional<std::vector<uint32_t>>;
  std::vector<const BoundExpr*> conjuncts, cheap, rest;
  Conjuncts(predicate, conjuncts);
  for (const BoundExpr* c : conjuncts) {
    if (CheapTest(*c)) cheap.push_back(c);
    else if (Pushable(*c)) rest.push_back(c);
    else return std::optional<Rows>();
  }
  if (cheap.empty() || rest.empty()) return std::optional<Rows>();
  ASSIGN_OR_RETURN(Rows rows, PassingAll(cheap, chunk, now));
  if (rows && rows->empty()) return std::optional<Rows>(std::move(rows));
  if (!rows || rows->size() > chunk.rows / kNarrowShare) return std::optional<Rows>();
  // The kept rows of the columns the other conjuncts read (the rest stand as null constants).
  std::vector<int> reads(chunk.width(), 0);
  for (const BoundExpr* c : rest) CountColumnReads(*c, reads);
  Chunk kept;
  kept.rows = rows->size();
  for (size_t c = 0; c < chunk.width(); ++c) {
    const Column& col = chunk.col(c);
    if (col.constant) kept.AddShared(chunk.shared(c));
    else if (reads[c] > 0) kept.Add(Gather(col, *rows));
    else kept.Add(NullConstant(col.type));
  }
  narrowed_rows.fetch_add(rows->size(), std::memory_order_relaxed);
  ASSIGN_OR_RETURN(Rows within, PassingAll(rest, kept, now));  // indexes into `kept`
  if (!within) return std::optional<Rows>(std::move(rows));
  std::vector<uint32_t> out;
  out.reserve(within->size());
  for (uint32_t i : *within) out.push_back((*rows)[i]);
  return std::optional<Rows>(Rows(std::move(out)));
}

// The rows of `chunk` that pass `predicate` (evaluated without a budget: on any thread):
// nullopt when every row does.
Result<std::optional<std::vector<uint32_t>>> PassingRows(const BoundExpr& predicate, const Chunk& chunk,
                                                        TimePoint now) {
  if (predicate.kind == BoundExpr::Kind::kCall && predicate.fn != nullptr && predicate.fn->name == "and") {
    ASSIGN_OR_RETURN(std::optional<std::optional<std::vector<uint32_t>>> narrowed, PassingRowsNarrowed(predicate, chunk, now));
    if (narrowed) return std::move(*narrowed);
  }
  FunctionContext fctx{chunk.rows, now, nullptr};
  std::vector<uint32_t> idx;
  // A numeric column against constants (`EventId between (1000 .. 1010)`): the passing rows'
  // indices in one pass, without the bool column (an int64 a row) Eval would build and this
  // would read back.
  if (std::optional<IntRange> range = IntRangeOf(predicate, chunk)) {
    const Column& c = chunk.col(range->column);
    const uint8_t* nulls = c.HasNulls() ? c.nulls.data() : nullptr;
    const bool empty = range->lo > range->hi;  // no value in range
    if (empty && nulls == nullptr) {
      if (range->outside) return std::optional<std::vector<uint32_t>>();
      return std::optional<std::vector<uint32_t>>(std::move(idx));
    }
    // x in [lo, hi] <=> x - lo <= hi - lo, in unsigned (wrapping) arithmetic.
    const uint64_t lo = static_cast<uint64_t>(range->lo);
    const uint64_t span = static_cast<uint64_t>(range->hi) - lo;
    const int64_t* x = c.ints.data();
    const bool outside = range->outside, null_passes = range->null_passes;
    idx.resize(chunk.rows);
    uint32_t* out = idx.data();
    size_t n = 0;
    if (nulls == nullptr) {
      for (size_t r = 0; r < chunk.rows; ++r) {
        out[n] = static_cast<uint32_t>(r);
        n += (static_cast<uint64_t>(x[r]) - lo <= span) != outside;
      }
    } else {
      for (size_t r = 0; r < chunk.rows; ++r) {
        out[n] = static_cast<uint32_t>(r);
        bool in = !empty && static_cast<uint64_t>(x[r]) - lo <= span;
        n += nulls[r] != 0 ? null_passes : in != outside;
      }
    }
    if (n == chunk.rows) return std::optional<std::vector<uint32_t>>();
    idx.resize(n);
    return std::optional<std::vector<uint32_t>>(std::move(idx));
  }
  if (std::optional<RealTest> test = RealTestOf(predicate, chunk)) {  // `DurationMs > 1000`: the same
    idx.resize(chunk.rows);
    const Column& c = chunk.col(test->column);
    size_t n = PassingReals(*test, c.reals.data(), c.HasNulls() ? c.nulls.data() : nullptr, chunk.rows, idx.data());
    if (n == chunk.rows) return std::optional<std::vector<uint32_t>>();
    idx.resize(n);
    return std::optional<std::vector<uint32_t>>(std::move(idx));
  }
  // fn(coded column, constants): decided per dictionary entry, rows picked by their codes.
  ASSIGN_OR_RETURN(std::optional<EntryTruth> entries, EvalPerEntryTruth(predicate, chunk, fctx));
  if (entries) {
    const Column& c = chunk.col(entries->column);
    const uint8_t* holds = entries->holds.data();
    idx.reserve(chunk.rows);
    for (size_t r = 0; r < chunk.rows; ++r) {
      if (holds[c.codes[r]] != 0) idx.push_back(static_cast<uint32_t>(r));
    }
    if (idx.size() == chunk.rows) return std::optional<std::vector<uint32_t>>();
    return std::optional<std::vector<uint32_t>>(std::move(idx));
  }
  ASSIGN_OR_RETURN(ColumnValue pred, Eval(predicate, chunk, fctx));
  const Column& p = pred.get();
  if (p.constant) {
    if (IsTrue(p, 0)) return std::optional<std::vector<uint32_t>>();
    return std::optional<std::vector<uint32_t>>(std::move(idx));
  }
  if (!p.HasNulls() && p.ints.size() >= chunk.rows) {
    // Without nulls: every row's index written, the count advanced by its truth (no branch).
    idx.resize(chunk.rows);
    const int64_t* truth = p.ints.data();
    uint32_t* out = idx.data();
    size_t n = 0;
    for (size_t r = 0; r < chunk.rows; ++r) {
      out[n] = static_cast<uint32_t>(r);
      n += truth[r] != 0;
    }
    idx.resize(n);
  } else {
    idx.reserve(chunk.rows);
    for (size_t r = 0; r < chunk.rows; ++r) {
      if (IsTrue(p, r)) idx.push_back(static_cast<uint32_t>(r));
    }
  }
  if (idx.size() == chunk.rows) return std::optional<std::vector<uint32_t>>();
  return std::optional<std::vector<uint32_t>>(std::move(idx));
}

// A scan, optionally with a `where` predicate the catalog applies on its reader threads.
Status ScanWith(const PlanNode& node, const BoundExpr* predicate, const ExecContext& ctx, const Sink& sink,
                std::optional<ScanRequest::Select> select = std::nullopt,
                const std::function<void(ScanRequest&)>* adjust = nullptr) {
  std::vector<bool> wanted = WantedColumns(node);
  ScanRequest request = node.scan;
  if (adjust != nullptr) (*adjust)(request);
  if (predicate != nullptr) {
    if (select) request.select = std::move(select);
    // Keeps only the wanted columns of the passing rows, named as the schema: ScanChunk then
    // finds them again. Runs on other threads: it reads the plan and `now`, nothing else.
    TimePoint now = ctx.now;
    request.filter = [&node, &wanted, predicate, now](const std::shared_ptr<const Table>& t)
        -> Result<std::shared_ptr<const Table>> {
      if (t->rows == 0) return std::shared_ptr<const Table>();
      Chunk chunk = ScanChunk(node, wanted, t);
      ASSIGN_OR_RETURN(std::optional<std::vector<uint32_t>> passing, PassingRows(*predicate, chunk, now));
      if (!passing) return t;
      const std::vector<uint32_t>& idx = *passing;
      if (idx.empty()) return std::shared_ptr<const Table>();
      auto out = std::make_shared<Table>();
      out->name = t->name;
      out->rows = idx.size();
      for (size_t k = 0; k < node.schema.size(); ++k) {
        const Column& c = chunk.col(k);  // constants (the absent columns' nulls) stay constants
        out->AddColumn(node.schema[k].name, c.constant ? c : Gather(c, idx));
      }
      return std::shared_ptr<const Table>(std::move(out));
    };
    request.prefilter = StringPrefilter(*predicate, node, now);
    request.term_needs = TermNeeds(*predicate, node);
  }
  return ctx.catalog->Scan(request, [&](std::shared_ptr<const Table> chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    if (chunk->rows == 0) return OkStatus();
    return sink(ScanChunk(node, wanted, chunk));
  });
}

// A stack of row-local operators over a scan (PushScanChain, PushSummarize): a where straight
// over the scan, whose predicate the catalog's string test and term filters also see, then the
// where, project and parse nodes above it, bottom first.
struct ScanChain {
  const PlanNode* scan = nullptr;
  const BoundExpr* predicate = nullptr;
  std::vector<const PlanNode*> stages;
  std::vector<std::shared_ptr<const CompiledParse>> parses;  // per stage: a parse's, else null
};

// Columns a stack on the reader threads may compute (a parse's built captures, an extend's
// computed columns): each is bounded by its chunk's rows (a capture is a piece of its row's
// text, but costs a string, 32 bytes, a row), and the chunks waiting for the query thread are
// charged to no budget: a thousand extended columns stay on the query's thread.
constexpr size_t kMaxPushedColumns = 16;

// The chain from `top` down to a scan when every node is a where, a project or a parse whose
// expressions may run on the catalog's reader threads; nullopt when one must run here.
Result<std::optional<ScanChain>> FindScanChain(const PlanNode& top, const ExecContext& ctx) {
  if (ctx.catalog == nullptr || !ctx.catalog->AppliesFilters()) return std::optional<ScanChain>();
  std::vector<const PlanNode*> nodes;
  const PlanNode* n = &top;
  while (n->kind != NodeKind::kScan) {
    if (n->inputs.size() != 1 || n->inputs[0] == nullptr) return std::optional<ScanChain>();
    bool pushable = false;
    if (n->kind == NodeKind::kFilter) pushable = Pushable(n->predicate);
    if (n->kind == NodeKind::kParse) pushable = !n->kv && Pushable(n->predicate);
    if (n->kind == NodeKind::kProject) {
      pushable = std::all_of(n->exprs.begin(), n->exprs.end(), [](const BoundExpr& e) { return Pushable(e); });
    }
    if (!pushable) return std::optional<ScanChain>();
    nodes.push_back(n);
    n = n->inputs[0].get();
  }
  ScanChain chain;
  chain.scan = n;
  std::reverse(nodes.begin(), nodes.end());
  size_t first = 0;
  if (!nodes.empty() && nodes[0]->kind == NodeKind::kFilter) {
    chain.predicate = &nodes[0]->predicate;
    first = 1;
  }
  size_t computed = 0;
  for (size_t i = first; i < nodes.size(); ++i) {
    std::shared_ptr<const CompiledParse> parse;
    if (nodes[i]->kind == NodeKind::kParse) {
      ASSIGN_OR_RETURN(parse, CompiledParse::Compile(*nodes[i]));
      computed += parse->built();
    }
    if (nodes[i]->kind == NodeKind::kProject) {
      computed += static_cast<size_t>(std::count_if(nodes[i]->exprs.begin(), nodes[i]->exprs.end(),
                                                    [](const BoundExpr& e) { return e.kind != BoundExpr::Kind::kColumn; }));
    }
    if (computed > kMaxPushedColumns) return std::optional<ScanChain>();
    chain.stages.push_back(nodes[i]);
    chain.parses.push_back(std::move(parse));
  }
  return std::optional<ScanChain>(std::move(chain));
}

// Keeps the rows of `chunk` that pass `predicate` (evaluated without a budget); false when none.
Result<bool> KeepPassing(const BoundExpr& predicate, Chunk& chunk, TimePoint now) {
  ASSIGN_OR_RETURN(std::optional<std::vector<uint32_t>> passing, PassingRows(predicate, chunk, now));
  if (passing && passing->empty()) return false;
  if (passing) chunk = GatherChunk(chunk, *passing);
  return true;
}

// The chain's stages over `chunk` (the output of the scan and its where), evaluated without a
// budget (on any thread): false when no row is left.
Result<bool> ApplyStages(const ScanChain& chain, Chunk& chunk, TimePoint now) {
  ExecContext local;
  local.now = now;
  for (size_t i = 0; i < chain.stages.size(); ++i) {
    const PlanNode& stage = *chain.stages[i];
    if (stage.kind == NodeKind::kFilter) {
      ASSIGN_OR_RETURN(bool any, KeepPassing(stage.predicate, chunk, now));
      if (!any) return false;
    } else if (stage.kind == NodeKind::kProject) {
      FunctionContext fctx{chunk.rows, now, nullptr};
      ASSIGN_OR_RETURN(chunk, ProjectChunk(stage, chunk, fctx));
    } else {
      ASSIGN_OR_RETURN(chunk, chain.parses[i]->Apply(std::move(chunk), local));
      if (chunk.rows == 0) return false;
    }
  }
  return true;
}

}  // namespace

Status RunScan(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  return ScanWith(node, nullptr, ctx, sink);
}

Status RunScan(const PlanNode& node, const std::function<void(ScanRequest&)>& adjust, const ExecContext& ctx,
               const Sink& sink) {
  return ScanWith(node, nullptr, ctx, sink, std::nullopt, &adjust);
}

namespace {

// A select's reads: the scan's columns `counts` marks as read; false when no other wanted
// string column would wait for the selected rows (then a select saves nothing).
bool SelectReads(const PlanNode& scan, const std::vector<int>& counts, const std::vector<bool>& wanted,
                 ScanRequest::Select& select) {
  bool defers = false;
  for (size_t k = 0; k < counts.size(); ++k) {
    if (counts[k] > 0) select.reads.push_back(scan.schema[k].name);
    else if (wanted[k] && UsesStrings(scan.schema[k].type)) defers = true;
  }
  return defers;
}

// ScanRequest::select for a summarize straight over a scan whose aggregates each take one row
// of a group: arg_max/arg_min (the first row with the best non-null key, else the group's
// first row), min/max (the best non-null value) and take_any (the first row). Of a chunk, the
// partial aggregation over each group's first row and best rows, in order, is the one over all
// its rows (same winners, same order of groups), so the rest need never be decoded. nullopt for
// any other summarize, or when the aggregates read every column anyway.
//
// Across chunks: each group's best keys so far (of the chunks selected before, on any thread)
// are kept, and a chunk's best row that one of them beats outright is dropped (the group's
// first row keeps its place; a tie is kept, the earlier row in scan order winning in the merge).
// A group's first row needs its other columns only when it could be an answer: with take_any,
// or when the chunk has no non-null key for one of its arg_max/arg_min; otherwise it is kept
// for its place alone (`whole` 0). `arg_max(TimeGenerated, *) by Computer` over 10M rows in 153
// row groups then builds the messages of a few thousand rows, not of 500 x 2 a group.
std::optional<ScanRequest::Select> WinnerSelect(const PlanNode& node, const PlanNode& scan, TimePoint now) {
  struct Best {
    const BoundExpr* key;
    int sign;
    bool arg;  // arg_max/arg_min: its winner's other columns are an answer
  };
  std::vector<Best> bests;
  bool take_any = false;
  if (node.aggs.empty()) return std::nullopt;
  for (const BoundAggregate& a : node.aggs) {
    std::string_view n = a.def->name;
    if (n == "any" || n == "take_any") {
      take_any = true;
      continue;
    }
    int sign = n == "arg_max" || n == "max" ? 1 : n == "arg_min" || n == "min" ? -1 : 0;
    if (sign == 0 || a.args.empty()) return std::nullopt;
    bests.push_back({&a.args[0], sign, n == "arg_max" || n == "arg_min"});
  }
  std::vector<int> counts(scan.schema.size(), 0);
  for (const BoundExpr& k : node.exprs) CountColumnReads(k, counts);
  for (const Best& b : bests) CountColumnReads(*b.key, counts);
  std::vector<bool> wanted = WantedColumns(scan);
  ScanRequest::Select select;
  if (!SelectReads(scan, counts, wanted, select)) return std::nullopt;
  std::vector<bool> reads(counts.size());
  for (size_t k = 0; k < counts.size(); ++k) reads[k] = counts[k] > 0 && wanted[k];
  // Each group's best key per Best so far, by the group's encoded keys. Bounded in bytes (keys
  // and values: a string key may be long, and the query's budget doesn't see this): past it, a
  // group not yet held is not pruned and a held key that would grow it stays as it is (a weaker
  // bound, still a row's that reaches the aggregation).
  struct Leaders {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<std::optional<Column>>> best;  // under mu
    size_t bytes = 0;                                                            // under mu
  };
  constexpr size_t kMaxLeaderBytes = size_t{16} << 20;
  auto leaders = std::make_shared<Leaders>();
  select.rows = [&node, &scan, reads, bests, take_any, now, leaders](const Table& t,
                                                                      std::vector<uint8_t>* whole) -> std::vector<uint32_t> {
    auto all = [&] {  // every row, whole
      std::vector<uint32_t> rows(t.rows);
      for (size_t r = 0; r < t.rows; ++r) rows[r] = static_cast<uint32_t>(r);
      if (whole != nullptr) whole->clear();
      return rows;
    };
    Chunk chunk = ScanChunk(scan, reads, std::shared_ptr<const Table>(std::shared_ptr<const Table>(), &t));
    FunctionContext fctx{chunk.rows, now, nullptr};
    // Each row's group: a single coded key by its code (nulls a group of their own, as the
    // aggregation groups them), else by the keys' encoded bytes. A partition finer than the
    // aggregation's would only keep more rows; a coarser one would lose a group's rows.
    std::vector<uint32_t> group(t.rows, 0);
    size_t groups = t.rows == 0 ? 0 : 1;
    std::vector<ColumnValue> keys;
    for (const BoundExpr& k : node.exprs) {
      Result<ColumnValue> v = Eval(k, chunk, fctx);
      if (!v.ok()) return all();  // the filter's aggregation reports it, over every row
      keys.push_back(std::move(*v));
    }
    if (keys.size() == 1 && keys[0].get().coded() && !keys[0].get().constant) {
      const Column& c = keys[0].get();
      std::vector<uint32_t> of(c.dict->size(), UINT32_MAX);
      uint32_t null_group = UINT32_MAX;
      groups = 0;
      for (size_t r = 0; r < t.rows; ++r) {
        uint32_t& g = c.IsNull(r) ? null_group : of[c.codes[r]];
        if (g == UINT32_MAX) g = static_cast<uint32_t>(groups++);
        group[r] = g;
      }
    } else if (!keys.empty()) {
      std::unordered_map<std::string, uint32_t> of;
      std::string key;
      for (size_t r = 0; r < t.rows; ++r) {
        key.clear();
        for (const ColumnValue& k : keys) EncodeKey(k.get(), r, key);
        group[r] = of.try_emplace(key, static_cast<uint32_t>(of.size())).first->second;
      }
      groups = of.size();
    }
    std::vector<uint32_t> first(groups, UINT32_MAX);
    for (size_t r = 0; r < t.rows; ++r) {
      if (first[group[r]] == UINT32_MAX) first[group[r]] = static_cast<uint32_t>(r);
    }
    std::vector<ColumnValue> values;
    std::vector<std::vector<uint32_t>> best(bests.size(), std::vector<uint32_t>(groups, UINT32_MAX));
    for (size_t b = 0; b < bests.size(); ++b) {
      Result<ColumnValue> v = Eval(*bests[b].key, chunk, fctx);
      if (!v.ok()) return all();
      const Column& c = v->get();
      std::vector<uint32_t>& at = best[b];
      if (UsesInts(c.type) && !c.constant && c.ints.size() >= t.rows) {
        // Integers (TimeGenerated above all) compared as such: CompareValues per row was 40% of
        // `arg_max(TimeGenerated, *) by Computer`.
        const int64_t* x = c.ints.data();
        const bool nulls = c.HasNulls();
        const bool most = bests[b].sign > 0;
        for (size_t r = 0; r < t.rows; ++r) {
          if (nulls && c.IsNull(r)) continue;
          uint32_t& a = at[group[r]];
          if (a == UINT32_MAX || (most ? x[r] > x[a] : x[r] < x[a])) a = static_cast<uint32_t>(r);
        }
      } else {
        for (size_t r = 0; r < t.rows; ++r) {
          if (c.IsNull(r)) continue;
          uint32_t& a = at[group[r]];
          if (a == UINT32_MAX || CompareValues(c, r, c, a) * bests[b].sign > 0) a = static_cast<uint32_t>(r);
        }
      }
      values.push_back(std::move(*v));
    }
    // Against (and into) the best keys of the chunks before.
    std::vector<uint8_t> beaten(bests.size() * groups, 0);
    {
      std::lock_guard<std::mutex> l(leaders->mu);
      std::string key;
      for (size_t g = 0; g < groups; ++g) {
        key.clear();
        for (const ColumnValue& k : keys) EncodeKey(k.get(), first[g], key);
        auto it = leaders->best.find(key);
        if (it == leaders->best.end()) {
          size_t entry = key.size() + 64 + bests.size() * sizeof(std::optional<Column>);
          if (leaders->bytes + entry > kMaxLeaderBytes) continue;
          leaders->bytes += entry;
          it = leaders->best.emplace(key, std::vector<std::optional<Column>>(bests.size())).first;
        }
        for (size_t b = 0; b < bests.size(); ++b) {
          uint32_t r = best[b][g];
          if (r == UINT32_MAX) continue;
          const Column& c = values[b].get();
          std::optional<Column>& held = it->second[b];
          if (held && CompareValues(*held, 0, c, r) * bests[b].sign > 0) {
            beaten[b * groups + g] = 1;
          } else if (!held || CompareValues(c, r, *held, 0) * bests[b].sign > 0) {
            Column next(c.type);
            next.AppendFrom(c, r);
            size_t was = held ? ApproxBytes(*held) : 0, will = ApproxBytes(next);
            if (leaders->bytes - was + will > kMaxLeaderBytes) continue;
            held = std::move(next);
            leaders->bytes = leaders->bytes - was + will;
          }
        }
      }
    }
    std::vector<uint8_t> keep(t.rows, 0);  // 1: kept for its place, 2: kept whole
    for (size_t g = 0; g < groups; ++g) {
      bool answers = take_any;  // the first row could be an answer
      for (size_t b = 0; b < bests.size(); ++b) answers = answers || (bests[b].arg && best[b][g] == UINT32_MAX);
      keep[first[g]] = answers ? 2 : 1;
      for (size_t b = 0; b < bests.size(); ++b) {
        uint32_t r = best[b][g];
        if (r == UINT32_MAX || beaten[b * groups + g] != 0) continue;
        keep[r] = std::max<uint8_t>(keep[r], bests[b].arg ? 2 : 1);
      }
    }
    std::vector<uint32_t> rows;
    if (whole != nullptr) whole->clear();
    for (size_t r = 0; r < t.rows; ++r) {
      if (keep[r] == 0) continue;
      rows.push_back(static_cast<uint32_t>(r));
      if (whole != nullptr) whole->push_back(keep[r] == 2 ? 1 : 0);
    }
    return rows;
  };
  return select;
}

}  // namespace

namespace {

// Whether every aggregate's answer is the same whatever order the rows and partials come in:
// counts, distinct counts (sets and HLL registers), extremes, and sums of integers (which
// wrap alike in any order; sums of reals round differently).
bool OrderFree(const PlanNode& node) {
  for (const BoundAggregate& a : node.aggs) {
    std::string_view n = a.def->name;
    if (n == "count" || n == "countif" || n == "dcount" || n == "dcountif" || n == "min" || n == "max" ||
        n == "minif" || n == "maxif") {
      continue;
    }
    bool ints = std::all_of(a.args.begin(), a.args.end(), [](const BoundExpr& e) { return UsesInts(e.type); });
    if ((n == "sum" || n == "sumif") && ints) continue;
    return false;
  }
  return true;
}

}  // namespace

Result<bool> PushSummarize(const PlanNode& node, HashAggregation& agg, const ExecContext& ctx) {
  // summarize over a scan, or over a `where` over one, whose predicate, keys and arguments may
  // run on other threads and whose aggregates merge; or over a one-table union of those (a
  // piped search's, withsource=$table), whose chunks are then built here as the union would.
  // The where, project and parse nodes between the scan and the summarize run there too
  // (FindScanChain).
  const PlanNode* in = node.inputs[0].get();
  const PlanNode* one_union = nullptr;
  if (in->kind == NodeKind::kUnion && in->inputs.size() == 1 && in->leg_maps.size() == 1) {
    one_union = in;
    in = in->inputs[0].get();
  }
  if (!agg.Mergeable()) return false;
  ASSIGN_OR_RETURN(std::optional<ScanChain> chain, FindScanChain(*in, ctx));
  if (!chain) return false;
  const PlanNode* scan = chain->scan;
  const BoundExpr* predicate = chain->predicate;
  const bool staged = !chain->stages.empty();
  for (const BoundExpr& k : node.exprs) {
    if (!Pushable(k)) return false;
  }
  for (const BoundAggregate& a : node.aggs) {
    for (const BoundExpr& e : a.args) {
      if (!Pushable(e)) return false;
    }
  }
  // Each catalog chunk is aggregated where it is decoded; the filter hands back a row-less
  // token table and leaves the partial aggregation here, for the sink to merge in scan order.
  // Of a filtered chunk only the columns the keys and arguments read are gathered (`count`
  // reads none).
  std::vector<bool> wanted = WantedColumns(*scan);
  std::vector<int> read_in(node.inputs[0]->schema.size(), 0);  // of the summarize's input
  for (const BoundExpr& k : node.exprs) CountColumnReads(k, read_in);
  for (const BoundAggregate& a : node.aggs) {
    for (const BoundExpr& e : a.args) CountColumnReads(e, read_in);
  }
  std::vector<int> read(scan->schema.size(), 0);  // of the scan's
  size_t source_cols = one_union != nullptr && one_union->with_source ? 1 : 0;
  for (size_t k = 0; k < read_in.size(); ++k) {
    int src = one_union == nullptr ? static_cast<int>(k)
              : k < source_cols    ? -1
                                   : one_union->leg_maps[0][k - source_cols];
    if (src >= 0 && static_cast<size_t>(src) < read.size()) read[static_cast<size_t>(src)] += read_in[k];
  }
  if (staged) std::fill(read.begin(), read.end(), 1);  // the stages read what the scan reads
  TimePoint now = ctx.now;
  std::mutex mu;
  std::map<const Table*, std::unique_ptr<HashAggregation>> partials;
  // Several keys and aggregates whose answers don't depend on the order rows come in, over a
  // catalog that tells each chunk's place in the scan: each reader thread aggregates every
  // chunk it filters into one aggregation of its own (a chunk's partial barely reduces when
  // its rows spread over many groups: `count() by Computer, Level, bin(TimeGenerated, 1h)`,
  // ~180K groups over 10M rows, had the query thread merge ~50K per 64K-row chunk); those few
  // are merged at the end. Each group keeps where it was first seen, so the groups come out in
  // the order of an aggregation in scan order, as ever.
  // A single key that is a column of numbers does too (TimeGenerated, a duration: often of
  // many values). A computed one (bin, hourofday: a few values a chunk) keeps its partials,
  // measured ~10% faster for `count() by bin(TimeGenerated, 1h)` at 10M rows, as does a string
  // column (its partials are a chunk's dictionary entries). A computed string key does not: its
  // values are a chunk's strings, not entries (`count() by substring(Message, 0, 20)`, 3.7M
  // groups at 10M rows, merged 60K a chunk on the query thread: 5.1 -> 3.7 s).
  //
  // Keys of many groups (`count() by Computer, bin(TimeGenerated, 1m)`, `count() by
  // TimeGenerated`: millions over 10M rows in no order) put most groups in every thread's
  // aggregation, each thread's memory as much as the answer's. Once one holds more than
  // ctx.share_groups_above, the groups are shared instead: each falls in one of kShares shares
  // by its keys' values (HashAggregation::ShareChunk), each share an aggregation of its own
  // under a lock, fed by every thread with its chunk's rows of that share; the threads'
  // aggregations are merged into the shares and dropped. Each group is held once, and the
  // shares are the answer (AdoptParts): no merge at the end.
  struct Worker {
    std::unique_ptr<HashAggregation> agg;
    std::atomic<size_t> bytes{0};
  };
  struct Share {
    std::mutex mu;
    std::unique_ptr<HashAggregation> agg;  // under mu
    std::atomic<size_t> bytes{0};
  };
  constexpr size_t kShares = 32;
  const bool numbers = node.exprs.size() == 1 && !UsesStrings(node.exprs[0].type) &&
                       node.exprs[0].kind == BoundExpr::Kind::kColumn;
  const bool computed_text = node.exprs.size() == 1 && node.exprs[0].type == Type::kString &&
                             node.exprs[0].kind == BoundExpr::Kind::kCall;
  const bool per_thread = one_union == nullptr && (node.exprs.size() >= 2 || numbers || computed_text) &&
                          OrderFree(node) && ctx.catalog->SequencesChunks();
  std::atomic<bool> shared{false};
  std::array<Share, kShares> shares;
  // ShareChunk's (const: any thread); only a summary that may share its groups builds one.
  std::optional<HashAggregation> router;
  if (per_thread) router.emplace(node, node.exprs);
  const size_t share_above = ctx.share_groups_above;
  // A thread's aggregation merged into the shares, and dropped (on its thread, or on this one
  // when the scan is over). ExecContext `local` carries no budget: the sink charges.
  auto to_shares = [&](Worker& w, const ExecContext& local) -> Status {
    if (w.agg == nullptr) return OkStatus();
    std::vector<uint32_t> order, offsets;
    w.agg->ShareGroups(kShares, order, offsets);
    for (size_t p = 0; p < kShares; ++p) {
      if (offsets[p] == offsets[p + 1]) continue;
      Share& sh = shares[p];
      std::lock_guard<std::mutex> l(sh.mu);
      if (sh.agg == nullptr) {
        sh.agg = std::make_unique<HashAggregation>(node, node.exprs);
        sh.agg->SetSequence(0);  // tagged from the start: places merged with the groups
      }
      std::span<const uint32_t> which(order.data() + offsets[p], offsets[p + 1] - offsets[p]);
      RETURN_IF_ERROR(sh.agg->MergeSome(*w.agg, which, local));
      sh.bytes.store(sh.agg->HeldBytes());
    }
    w.agg.reset();
    w.bytes.store(0);
    return OkStatus();
  };
  // A chunk's rows into the shares: each share's rows gathered, then consumed under its lock
  // (the shares free first, then waiting on the rest).
  auto into_shares = [&](const Chunk& chunk, uint64_t seq, const ExecContext& local) -> Status {
    std::vector<uint32_t> order, offsets;
    RETURN_IF_ERROR(router->ShareChunk(chunk, local, kShares, order, offsets));
    std::vector<size_t> pending;
    std::vector<Chunk> parts(kShares);
    for (size_t p = 0; p < kShares; ++p) {
      if (offsets[p] == offsets[p + 1]) continue;
      std::span<const uint32_t> rows(order.data() + offsets[p], offsets[p + 1] - offsets[p]);
      Chunk& part = parts[p];
      part.rows = rows.size();
      for (size_t c = 0; c < chunk.width(); ++c) {
        if (chunk.col(c).constant) part.AddShared(chunk.shared(c));
        else part.Add(Gather(chunk.col(c), rows));
      }
      pending.push_back(p);
    }
    auto consume = [&](size_t p) -> Status {
      Share& sh = shares[p];
      if (sh.agg == nullptr) {
        sh.agg = std::make_unique<HashAggregation>(node, node.exprs);
        sh.agg->SetSequence(0);
      }
      sh.agg->SetSequence(seq, std::span<const uint32_t>(order.data() + offsets[p], offsets[p + 1] - offsets[p]));
      RETURN_IF_ERROR(sh.agg->Consume(parts[p], local));
      sh.bytes.store(sh.agg->HeldBytes());
      parts[p] = Chunk();
      return OkStatus();
    };
    while (!pending.empty()) {
      std::vector<size_t> busy;
      for (size_t p : pending) {
        std::unique_lock<std::mutex> l(shares[p].mu, std::try_to_lock);
        if (!l.owns_lock()) {
          busy.push_back(p);
          continue;
        }
        RETURN_IF_ERROR(consume(p));
      }
      if (!busy.empty() && busy.size() == pending.size()) {  // every one taken: wait for the first
        std::lock_guard<std::mutex> l(shares[busy.front()].mu);
        RETURN_IF_ERROR(consume(busy.front()));
        busy.erase(busy.begin());
      }
      pending.swap(busy);
    }
    return OkStatus();
  };
  std::map<std::thread::id, std::unique_ptr<Worker>> workers;  // under mu
  std::set<const Table*> tokens;                               // under mu
  MemoryReservation workers_held(ctx.budget, "summarize");
  ScanRequest request = scan->scan;
  if (predicate != nullptr) {
    request.prefilter = StringPrefilter(*predicate, *scan, now);
    request.term_needs = TermNeeds(*predicate, *scan);
    // Nothing but the test reads its column (the predicate's other conjuncts don't, nor do the
    // keys and arguments): the passing rows' values needn't be built, any one passing value
    // answers the test as theirs would (`where Message !contains "x" | count`, `where Message
    // has_cs "Job" and Level == "Error" | count`).
    if (request.prefilter) {
      auto it = std::find_if(scan->schema.begin(), scan->schema.end(),
                             [&](const ColumnSchema& c) { return c.name == request.prefilter->column; });
      size_t k = static_cast<size_t>(it - scan->schema.begin());
      std::vector<int> in_predicate(scan->schema.size(), 0);
      CountColumnReads(*predicate, in_predicate);
      request.prefilter->any_passing_value =
          it != scan->schema.end() && k < read.size() && read[k] == 0 && in_predicate[k] == 1;
    }
  } else if (one_union == nullptr && !staged) {
    request.select = WinnerSelect(node, *scan, now);
  }
  const ScanChain& stages = *chain;
  auto aggregate = [&, scan, predicate, staged](const std::shared_ptr<const Table>& t,
                                                uint64_t seq) -> Result<std::shared_ptr<const Table>> {
    if (t->rows == 0) return std::shared_ptr<const Table>();
    Chunk chunk = ScanChunk(*scan, wanted, t);
    if (predicate != nullptr) {
      ASSIGN_OR_RETURN(std::optional<std::vector<uint32_t>> passing, PassingRows(*predicate, chunk, now));
      if (passing && passing->empty()) return std::shared_ptr<const Table>();
      if (passing) {
        Chunk kept;
        kept.rows = passing->size();
        for (size_t c = 0; c < chunk.width(); ++c) {
          const Column& col = chunk.col(c);
          if (col.constant) kept.AddShared(chunk.shared(c));
          else if (c < read.size() && read[c] > 0) kept.Add(Gather(col, *passing));
          else kept.Add(NullConstant(col.type));
        }
        chunk = std::move(kept);
      }
    }
    if (staged) {
      ASSIGN_OR_RETURN(bool any, ApplyStages(stages, chunk, now));
      if (!any) return std::shared_ptr<const Table>();
    }
    if (one_union != nullptr) {  // as RunUnion: the table's name, then the mapped columns
      Chunk out;
      out.rows = chunk.rows;
      if (one_union->with_source) out.Add(StringConstant(Type::kString, one_union->leg_names[0]));
      for (size_t k = source_cols; k < one_union->schema.size(); ++k) {
        int src = one_union->leg_maps[0][k - source_cols];
        if (src >= 0) out.AddShared(chunk.shared(static_cast<size_t>(src)));
        else out.Add(NullConstant(one_union->schema[k].type));
      }
      chunk = std::move(out);
    }
    ExecContext local;  // no budget here: the sink charges (a partial is bounded by its chunk's rows)
    local.now = now;
    auto token = std::make_shared<const Table>();
    if (per_thread) {
      Worker* w = nullptr;
      {
        std::lock_guard<std::mutex> l(mu);
        std::unique_ptr<Worker>& slot = workers[std::this_thread::get_id()];
        if (slot == nullptr) {
          slot = std::make_unique<Worker>();
          if (!shared.load()) slot->agg = std::make_unique<HashAggregation>(node, node.exprs);
        }
        w = slot.get();
      }
      if (!shared.load()) {
        w->agg->SetSequence(seq);
        RETURN_IF_ERROR(w->agg->Consume(chunk, local));
        w->bytes.store(w->agg->HeldBytes());
        if (w->agg->num_groups() > share_above) shared.store(true);
      } else {
        RETURN_IF_ERROR(into_shares(chunk, seq, local));
      }
      if (shared.load()) RETURN_IF_ERROR(to_shares(*w, local));
      std::lock_guard<std::mutex> l(mu);
      tokens.insert(token.get());
      return token;
    }
    auto part = std::make_unique<HashAggregation>(node, node.exprs, /*one_chunk=*/true);
    RETURN_IF_ERROR(part->Consume(chunk, local));
    std::lock_guard<std::mutex> l(mu);
    partials.emplace(token.get(), std::move(part));
    return token;
  };
  request.filter = [&aggregate](const std::shared_ptr<const Table>& t) { return aggregate(t, 0); };
  if (per_thread) request.sequenced_filter = aggregate;
  Status s = ctx.catalog->Scan(request, [&](std::shared_ptr<const Table> token) -> Status {
    if (per_thread) {
      size_t bytes = 0;
      {
        std::lock_guard<std::mutex> l(mu);
        if (tokens.erase(token.get()) == 0) return Internal("summarize: a scan chunk bypassed its aggregation");
        for (const auto& [id, w] : workers) bytes += w->bytes.load();
      }
      for (const Share& sh : shares) bytes += sh.bytes.load();
      RETURN_IF_ERROR(workers_held.Resize(bytes));
      return CheckBudget(ctx);
    }
    std::unique_ptr<HashAggregation> part;
    {
      std::lock_guard<std::mutex> l(mu);
      auto it = partials.find(token.get());
      if (it == partials.end()) return Internal("summarize: a scan chunk bypassed its partial aggregation");
      part = std::move(it->second);
      partials.erase(it);
    }
    return agg.Merge(*part, ctx);
  });
  RETURN_IF_ERROR(s);
  if (per_thread && shared.load()) {
    // The scan is over: what the threads still hold goes to the shares, which are the answer.
    ExecContext local;
    local.now = now;
    for (auto& [id, w] : workers) RETURN_IF_ERROR(to_shares(*w, local));
    std::vector<std::unique_ptr<HashAggregation>> parts;
    for (Share& sh : shares) parts.push_back(std::move(sh.agg));
    RETURN_IF_ERROR(workers_held.Resize(0));
    RETURN_IF_ERROR(agg.AdoptParts(std::move(parts), ctx));
  } else if (per_thread) {
    // The scan is over (its jobs done): the workers are this thread's now. The first becomes
    // the aggregation (taken, not copied: with millions of groups, each worker holds most of
    // them, and a copy was a third set on top of the two), the others are merged into it, each
    // released from the budget once merged.
    size_t left = 0;
    for (const auto& [id, w] : workers) left += w->bytes.load();
    for (auto& [id, w] : workers) {
      left -= std::min(left, w->bytes.load());
      if (agg.num_groups() == 0) {
        RETURN_IF_ERROR(workers_held.Resize(left));
        RETURN_IF_ERROR(agg.Adopt(*w->agg, ctx));
        agg.SetSequence(0);
      } else {
        agg.SetSequence(0);
        RETURN_IF_ERROR(agg.Merge(*w->agg, ctx));
        RETURN_IF_ERROR(workers_held.Resize(left));
      }
      w->agg.reset();
    }
  }
  return true;
}

Result<bool> PushScanChain(const PlanNode& top, const ExecContext& ctx, const Sink& sink) {
  ASSIGN_OR_RETURN(std::optional<ScanChain> found, FindScanChain(top, ctx));
  // Worth it with a parse or a computed column: a where alone has its own path (ScanWith), and
  // columns merely passed on or renamed cost nothing here.
  auto computes = [](const PlanNode* n) {
    return n->kind == NodeKind::kParse ||
           (n->kind == NodeKind::kProject && std::any_of(n->exprs.begin(), n->exprs.end(), [](const BoundExpr& e) {
              return e.kind != BoundExpr::Kind::kColumn;
            }));
  };
  if (!found || std::none_of(found->stages.begin(), found->stages.end(), computes)) return false;
  const ScanChain& chain = *found;
  std::vector<bool> wanted = WantedColumns(*chain.scan);
  ScanRequest request = chain.scan->scan;
  if (chain.predicate != nullptr) {
    request.prefilter = StringPrefilter(*chain.predicate, *chain.scan, ctx.now);
    request.term_needs = TermNeeds(*chain.predicate, *chain.scan);
  }
  // Each chunk's output waits for the query thread under the row-less token its filter hands
  // the catalog (held here too, so that no later token takes its address before the sink does).
  std::mutex mu;
  std::map<const Table*, std::pair<std::shared_ptr<const Table>, Chunk>> outs;
  TimePoint now = ctx.now;
  request.filter = [&chain, &wanted, &mu, &outs, now](const std::shared_ptr<const Table>& t)
      -> Result<std::shared_ptr<const Table>> {
    if (t->rows == 0) return std::shared_ptr<const Table>();
    Chunk chunk = ScanChunk(*chain.scan, wanted, t);
    bool any = true;
    if (chain.predicate != nullptr) {
      ASSIGN_OR_RETURN(any, KeepPassing(*chain.predicate, chunk, now));
    }
    if (any) {
      ASSIGN_OR_RETURN(any, ApplyStages(chain, chunk, now));
    }
    if (!any) return std::shared_ptr<const Table>();
    auto token = std::make_shared<const Table>();
    std::lock_guard<std::mutex> l(mu);
    outs.emplace(token.get(), std::make_pair(token, std::move(chunk)));
    return token;
  };
  RETURN_IF_ERROR(ctx.catalog->Scan(request, [&](std::shared_ptr<const Table> token) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    Chunk chunk;
    {
      std::lock_guard<std::mutex> l(mu);
      auto it = outs.find(token.get());
      if (it == outs.end()) return Internal("a scan chunk bypassed the operators over its scan");
      chunk = std::move(it->second.second);
      outs.erase(it);
    }
    return sink(std::move(chunk));
  }));
  return true;
}

namespace {

// Rows per chunk when a large literal table (range) is handed out in slices.
constexpr size_t kValuesChunkRows = 64 * 1024;

// A large range (PlanNode::LazyRange), generated one slice at a time.
Status RunLazyRange(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  const PlanNode::LazyRange& r = *node.range;
  const Table& shape = node.values;
  for (uint64_t begin = 0; begin < r.rows; begin += kValuesChunkRows) {
    RETURN_IF_ERROR(CheckBudget(ctx));
    size_t n = static_cast<size_t>(std::min<uint64_t>(kValuesChunkRows, r.rows - begin));
    Column c(shape.columns[0].type);
    if (r.real) {
      c.reals.resize(n);
      for (size_t i = 0; i < n; ++i) c.reals[i] = r.rfrom + static_cast<double>(begin + i) * r.rstep;
    } else {
      c.ints.resize(n);
      // Two's-complement arithmetic: wrapping intermediate products are harmless, as in the
      // materialized form; every produced value lies between from and to.
      uint64_t x = static_cast<uint64_t>(r.from) + begin * static_cast<uint64_t>(r.step);
      for (size_t i = 0; i < n; ++i, x += static_cast<uint64_t>(r.step)) c.ints[i] = static_cast<int64_t>(x);
    }
    Table slice;
    slice.name = shape.name;
    slice.rows = n;
    slice.AddColumn(shape.names[0], std::move(c));
    RETURN_IF_ERROR(sink(Chunk::Own(std::move(slice))));
  }
  return OkStatus();
}

}  // namespace

Status RunValues(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  if (node.range) return RunLazyRange(node, ctx, sink);
  const Table& t = node.values;
  if (t.rows == 0) return CheckBudget(ctx);
  // Small tables go out whole and uncopied (the plan outlives the run); a large range goes in
  // slices so that downstream operators see the deadline and `take` stops it early.
  if (t.rows <= kValuesChunkRows) {
    RETURN_IF_ERROR(CheckBudget(ctx));
    return sink(Chunk::View(t));
  }
  std::vector<uint32_t> idx;
  for (size_t begin = 0; begin < t.rows; begin += kValuesChunkRows) {
    RETURN_IF_ERROR(CheckBudget(ctx));
    size_t end = std::min(t.rows, begin + kValuesChunkRows);
    idx.resize(end - begin);
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<uint32_t>(begin + i);
    RETURN_IF_ERROR(sink(Chunk::Own(GatherTable(t, idx))));
  }
  return OkStatus();
}

Status RunFilter(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  // Straight over a scan: the catalog's reader threads filter as they decode (every core).
  const PlanNode& in = *node.inputs[0];
  if (in.kind == NodeKind::kScan && ctx.catalog != nullptr && ctx.catalog->AppliesFilters() &&
      Pushable(node.predicate)) {
    return ScanWith(in, &node.predicate, ctx, sink);
  }
  ASSIGN_OR_RETURN(bool pushed, PushScanChain(node, ctx, sink));  // over a parse or an extend
  if (pushed) return OkStatus();
  return Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    FunctionContext fctx{chunk.rows, ctx.now, ctx.budget};
    ASSIGN_OR_RETURN(ColumnValue pred, Eval(node.predicate, chunk, fctx));
    const Column& p = pred.get();
    if (p.constant) return IsTrue(p, 0) ? sink(std::move(chunk)) : OkStatus();
    std::vector<uint32_t> idx;
    idx.reserve(chunk.rows);
    for (size_t r = 0; r < chunk.rows; ++r) {
      if (IsTrue(p, r)) idx.push_back(static_cast<uint32_t>(r));
    }
    if (idx.empty()) return OkStatus();
    if (idx.size() == chunk.rows) return sink(std::move(chunk));
    return sink(GatherChunk(chunk, idx));  // only the survivors are copied
  });
}

namespace {

// ScanRequest::select for `top N by keys` over a `where` over a scan: of a chunk decoded with
// the predicate's and the keys' columns, its passing rows among its N best (the only rows the
// top could keep from it: ties go to the first, as the top's stable sort keeps them), so that
// the chunk's other string columns (a message) are built for those rows alone. nullopt when
// every string column is read anyway.
std::optional<ScanRequest::Select> TopSelect(const PlanNode& top, const BoundExpr& predicate, const PlanNode& scan,
                                             TimePoint now, std::optional<ScanRequest::ValueBound> bound) {
  std::vector<int> counts(scan.schema.size(), 0);
  CountColumnReads(predicate, counts);
  for (const BoundExpr& k : top.exprs) {
    if (!Pushable(k)) return std::nullopt;
    CountColumnReads(k, counts);
  }
  std::vector<bool> wanted = WantedColumns(scan);
  ScanRequest::Select select;
  if (!SelectReads(scan, counts, wanted, select) || top.limit < 0) return std::nullopt;
  size_t n = static_cast<size_t>(top.limit);
  if (bound) {  // its column is read
    auto it = std::find_if(scan.schema.begin(), scan.schema.end(), [&](const ColumnSchema& c) { return c.name == bound->column; });
    if (it == scan.schema.end() || !wanted[static_cast<size_t>(it - scan.schema.begin())]) return std::nullopt;
    size_t k = static_cast<size_t>(it - scan.schema.begin());
    if (counts[k] == 0) select.reads.push_back(bound->column);
    counts[k] = 1;
  }
  std::vector<bool> reads(counts.size());
  for (size_t k = 0; k < counts.size(); ++k) reads[k] = counts[k] > 0 && wanted[k];
  select.rows = [&top, &scan, &predicate, reads, n, now, bound](const Table& t, std::vector<uint8_t>*) -> std::vector<uint32_t> {
    std::vector<uint32_t> rows(t.rows);
    for (size_t r = 0; r < t.rows; ++r) rows[r] = static_cast<uint32_t>(r);
    const std::vector<uint32_t> all = rows;
    Chunk chunk = ScanChunk(scan, reads, std::shared_ptr<const Table>(std::shared_ptr<const Table>(), &t));
    Result<std::optional<std::vector<uint32_t>>> passing = PassingRows(predicate, chunk, now);
    if (!passing.ok()) return all;  // the filter reports it, over every row
    if (*passing) rows = std::move(**passing);
    if (bound) {  // only rows as good as the N-th best passing value can place
      int i = t.Find(bound->column);
      if (i < 0) return {};
      const Column& c = t.columns[static_cast<size_t>(i)];
      if (bound->real ? !UsesReals(c.type) : !UsesInts(c.type)) return {};
      std::erase_if(rows, [&](uint32_t r) {
        if (c.IsNull(r)) return true;
        return bound->real ? !(bound->lower ? c.Real(r) >= bound->d : c.Real(r) <= bound->d)
                           : !(bound->lower ? c.Int(r) >= bound->i : c.Int(r) <= bound->i);
      });
    }
    if (rows.size() <= n) return rows;
    Chunk kept = GatherChunk(chunk, rows);
    FunctionContext fctx{kept.rows, now, nullptr};
    std::vector<ColumnValue> keys;
    std::vector<const Column*> ptrs;
    for (const BoundExpr& k : top.exprs) {
      Result<ColumnValue> v = Eval(k, kept, fctx);
      if (!v.ok()) return all;
      keys.push_back(std::move(*v));
    }
    for (ColumnValue& k : keys) ptrs.push_back(&k.get());
    ExecContext local;  // no budget: bounded by the chunk's rows
    local.now = now;
    Result<std::vector<uint32_t>> best = SortPermutation(ptrs, top, kept.rows, n, local);
    if (!best.ok()) return all;
    std::vector<uint32_t> out;
    out.reserve(best->size());
    for (uint32_t i : *best) out.push_back(rows[i]);
    std::sort(out.begin(), out.end());
    return out;
  };
  return select;
}

}  // namespace

uint64_t NarrowedRowsForTest() { return narrowed_rows.load(); }

bool PushableFilter(const PlanNode& filter, const ExecContext& ctx) {
  return filter.kind == NodeKind::kFilter && filter.inputs.size() == 1 && filter.inputs[0]->kind == NodeKind::kScan &&
         ctx.catalog != nullptr && ctx.catalog->AppliesFilters() && Pushable(filter.predicate);
}

Status RunFilteredScan(const PlanNode& filter, const std::function<void(ScanRequest&)>& adjust,
                       const ExecContext& ctx, const Sink& sink, const PlanNode* top) {
  const PlanNode& in = *filter.inputs[0];
  PlanNode scan;
  scan.kind = in.kind;
  scan.schema = in.schema;
  scan.name = in.name;
  scan.height = in.height;
  scan.scan = in.scan;
  adjust(scan.scan);
  std::optional<ScanRequest::Select> select;
  if (top != nullptr) select = TopSelect(*top, filter.predicate, scan, ctx.now, scan.scan.bound);
  return ScanWith(scan, &filter.predicate, ctx, sink, std::move(select));
}

Status RunTopInput(const PlanNode& top, const ExecContext& ctx, const Sink& sink) {
  const PlanNode& in = *top.inputs[0];
  if (in.kind == NodeKind::kFilter && in.inputs[0]->kind == NodeKind::kScan && ctx.catalog != nullptr &&
      ctx.catalog->AppliesFilters() && Pushable(in.predicate)) {
    const PlanNode& scan = *in.inputs[0];
    if (auto select = TopSelect(top, in.predicate, scan, ctx.now, std::nullopt)) {
      return ScanWith(scan, &in.predicate, ctx, sink, std::move(select));
    }
  }
  return Run(in, ctx, sink);
}

namespace {

// A take's input: a stack that keeps every row (extend, parse: no where, no parse-where) over a
// scan runs here, chunk by chunk as the scan hands them out, so that the take stops it after
// the first chunk; on the reader threads each job would build whole extents' rows first.
Status RunTakeInput(const PlanNode& in, const ExecContext& ctx, const Sink& sink) {
  ASSIGN_OR_RETURN(std::optional<ScanChain> chain, FindScanChain(in, ctx));
  auto drops = [](const PlanNode* n) { return n->kind == NodeKind::kFilter || (n->kind == NodeKind::kParse && n->filter); };
  if (!chain || chain->predicate != nullptr || chain->stages.empty() ||
      std::any_of(chain->stages.begin(), chain->stages.end(), drops)) {
    return Run(in, ctx, sink);
  }
  return RunScan(*chain->scan, ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    ASSIGN_OR_RETURN(bool any, ApplyStages(*chain, chunk, ctx.now));
    return any ? sink(std::move(chunk)) : OkStatus();
  });
}

}  // namespace

Status RunTake(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  size_t left = static_cast<size_t>(std::max<int64_t>(0, node.limit));
  if (left == 0) return OkStatus();
  Status s = RunTakeInput(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    if (chunk.rows > left) {
      std::vector<uint32_t> idx(left);
      for (size_t i = 0; i < left; ++i) idx[i] = static_cast<uint32_t>(i);
      chunk = GatherChunk(chunk, idx);
    }
    left -= chunk.rows;
    RETURN_IF_ERROR(sink(std::move(chunk)));
    return left == 0 ? EnoughRows() : OkStatus();
  });
  return IsEnoughRows(s) ? OkStatus() : s;
}

}  // namespace cmk::kql
