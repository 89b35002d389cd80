#pragma once
// Scalar functions and operators of KQL, vectorized over columns (column.h).
//
// The binder resolves a call or operator by name to a ScalarFunction, checks the argument count,
// asks `result_type` for the result type (a SemanticError naming the function and the offending
// argument when the types don't fit) and the executor calls `eval` once per batch of rows.
// Arguments may be constant columns (literals, now()); a result computed only from constant
// arguments should itself be constant. Nulls follow Kusto: most functions return null for a null
// argument; comparisons follow Kusto's null rules (null == null and null != null are null,
// null == x is false and null != x is true for a non-null x, < <= > >= with a null are null;
// between with a null is false, the docs being silent); `and`/`or`/`not` use three-valued logic;
// `where` keeps only rows that are true.
// Thread safety: the registry is immutable after static initialization.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time_format.h"
#include "kql/core/column.h"

namespace cmk::kql {

class QueryBudget;  // budget.h

struct FunctionContext {
  size_t rows = 0;    // rows in the batch (constant arguments stand for all of them)
  TimePoint now{};    // now(), ago()
  // The query's memory budget (may be null): functions whose output can dwarf their input
  // (strrep) check their result against it before building it.
  QueryBudget* budget = nullptr;
};

struct ScalarFunction {
  std::string_view name;
  int min_args = 0;
  int max_args = 0;  // -1: any number
  // Result type from the argument types, or kInvalidArgument/"SemanticError".
  std::function<Result<Type>(std::span<const Type> args)> result_type;
  std::function<Result<Column>(std::span<const Column* const> args, const FunctionContext& ctx)> eval;
};

// Named functions: strlen, substring, bin, ago, iff, tostring, bag_keys, ... (case-sensitive, as
// Kusto). nullptr when unknown.
const ScalarFunction* FindFunction(std::string_view name);

// Operators by their KQL spelling: unary "-" is "neg" and "not" is a function; binary "+", "-",
// "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or", "=~", "!~", "has", "!has",
// "has_cs", "!has_cs", "hasprefix", "hassuffix", "contains", "!contains", "contains_cs",
// "!contains_cs", "startswith", "!startswith", "startswith_cs", "endswith", "!endswith",
// "endswith_cs", "matches regex", "in", "!in", "in~", "!in~", "has_any", "has_all", "between",
// "!between" (the list operators take the value first, then every item).
const ScalarFunction* FindOperator(std::string_view op);
// The string match operator `op` (=~ !~ has contains startswith endswith hasprefix hassuffix,
// their _cs and negated forms, == != on strings, and `matches regex`, whose `find` looks for a
// literal every match contains, fn::RequiredLiteral, when it has one) with the constant right
// operand `needle`,
// as a test of one value: `keep` answers what the operator's eval answers for a string row
// holding it (empty for any other operator). Every positive match with a non-empty needle
// passes only values in which the needle occurs (case-folded as the match folds): for those,
// `find` gives the needle's first occurrence in a text at or after `from` (npos when none), so
// many values laid end to end can be searched at once and only those holding an occurrence
// tested; empty for the others (negations, !=, an empty needle) and for startswith, whose
// values are cheaper to test where they start than to search (a needle found mid-value, "for
// user x" for startswith "User", is a candidate to confirm and reject: 10% of the query at
// 10M rows). Scans use it to drop rows of an encoded block before building their strings
// (ScanRequest::prefilter).
// A test of one term taken alone (kql/functions/terms.h: a run of ASCII letters and digits):
// `keep` decides it; `find` gives, in a text of terms each followed by a space
// (engine/term_index.h), a place inside the first term at or after `from` (a term's start, or
// 0) that may pass (npos when none), so that only those terms are tested.
struct TermTest {
  std::function<bool(std::string_view)> keep;
  std::function<size_t(std::string_view text, size_t from)> find;
};
struct ValueTest {
  std::function<bool(std::string_view)> keep;
  std::function<size_t(std::string_view text, size_t from)> find;
  // The hashes (kql::TermHash, kql/functions/terms.h) of terms every kept value holds whole,
  // sorted: a block whose term filter lacks one keeps no value.
  std::vector<uint64_t> terms;
  // When not empty, a kept value also holds every term of one of these lists (has_any: the terms
  // of one of its needles), each sorted: a block whose filter lacks a term of each keeps none.
  std::vector<std::vector<uint64_t>> any_terms;
  // Set when a value's terms (kql/functions/terms.h) decide `keep`: it holds exactly when
  // `term_keep` holds for one of them taken alone (`term_find` finding where term_keep's needle
  // occurs in a text), or, with `terms_negated`, for none of them. contains, has, hasprefix,
  // hassuffix, their _cs and negated forms, with a needle of letters and digits only, which
  // can occur only inside one term (a term ends at every other byte, and case folding maps no
  // other byte to a letter). A block's distinct terms may then be tested instead of its values
  // (engine/term_index.h). With `terms_first`, only the term a value starts with counts
  // (startswith, whose needle of letters and digits is a prefix of the value exactly when the
  // value starts with a term that has it as prefix); with `terms_last`, only the term a value
  // ends with (endswith, the same at the value's end).
  bool by_terms = false;
  bool terms_negated = false;
  bool terms_first = false;
  bool terms_last = false;
  std::function<bool(std::string_view)> term_keep;
  std::function<size_t(std::string_view text, size_t from)> term_find;
  // When not by_terms: a kept value holds, for one of these lists (has_any: one a needle), a
  // term passing each of the list's tests: a needle's runs of letters and digits where the
  // match puts them (`has "10.1.2.3"`: terms equal to 10, 1, 2 and 3; `contains "n refused"`:
  // a term ending in n and one starting with refused). The values of rows holding no such
  // terms need not be tested (a block's term index gives the others: engine/term_index.h).
  // Empty: any value may pass.
  std::vector<std::vector<TermTest>> term_candidates;
};
ValueTest StringValueTest(std::string_view op, std::string_view needle);
// The same for has_any, has_all, in and in~ over constant item lists (`items`: the operator's
// arguments after the value, strings or dynamic arrays of them; at most 64 items); empty for
// another operator, items that are not constant, or a longer list.
ValueTest StringListValueTest(std::string_view op, std::span<const Column* const> items);
// Names that two families registered (the registry would keep the last silently): none.
std::vector<std::string> DuplicateRegistrationsForTest();

// Functions that return several values (series_fit_line, series_stats, series_decompose, ...).
// Their eval answers one dynamic property bag keyed by these names, in this order; the binder
// expands `extend (a, b) = f(x)` and `extend f(x)` into one column per value (f_x_<name>).
struct OutputColumn {
  std::string_view name;
  Type type;
};
// Empty for a function that returns one value.
std::span<const OutputColumn> MultiValueOutputs(std::string_view fn);

}  // namespace cmk::kql
