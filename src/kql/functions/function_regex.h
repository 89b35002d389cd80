#pragma once
// Private regex helper for the KQL functions (see function_util.h). Kusto's regex dialect is
// RE2, and so is ours: patterns compile with RE2 (UTF-8, inline flags such as (?i), (?s), (?m),
// named groups (?P<n>...)); the .NET-style spelling (?<n>...) that Kusto also accepts is
// rewritten to (?P<n>...), which this RE2 release (2022-06) does not know yet.
// RE2 matches in time linear in the input and never recurses per character, so no pattern can
// backtrack exponentially or exhaust the stack; compile memory is bounded by kRegexMaxMem
// (larger programs, e.g. a{1000}{1000}, fail to compile with kInvalidArgument).
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <re2/re2.h>

#include "base/status.h"
#include "kql/core/column.h"

namespace cmk::kql::fn {

// Bound on one compiled pattern's memory (RE2's program plus its lazily built DFAs; when a DFA
// outgrows its share RE2 falls back to the slower but still linear NFA). RE2's own default.
inline constexpr int64_t kRegexMaxMem = 8 << 20;

// Compiles a pattern once and reuses it while the pattern text stays the same (a constant
// pattern argument is compiled once per eval call). Not thread-safe; one per eval call.
class RegexCache {
 public:
  // The compiled pattern, or kInvalidArgument / "SemanticError" naming `fn`.
  Result<const RE2*> Get(std::string_view fn, std::string_view pattern);

 private:
  std::string pattern_;
  std::unique_ptr<RE2> regex_;
};

// Compiles `pattern` with the options above; kInvalidArgument / "SemanticError" naming `fn`.
Result<std::unique_ptr<RE2>> CompileRegex(std::string_view fn, std::string_view pattern);

// Calls `on_match` for each successive non-overlapping match of `re` in `text`: groups[0] is the
// whole match, groups[g] capture group g (an empty view, data() == nullptr, when it did not
// take part). An empty match steps over one UTF-8 character, as RE2's GlobalReplace does.
void ForEachMatch(const RE2& re, std::string_view text,
                  const std::function<void(std::span<const std::string_view> groups)>& on_match);

// A literal every match of `re` contains, in ASCII lower case, or "" when none is known: a
// text without it (ASCII case folded) cannot match, so a scan may search many values at once
// for it and test only those that hold it. Derived from RE2's prefilter (FilteredRE2's atoms
// and its AND-OR tree): a candidate (an atom, or the longest substring common to every atom)
// is required when the prefilter rejects the set of every atom that lacks it. Only for
// patterns matched case-sensitively throughout (no (?i)): the atoms are lower-cased with
// Unicode's folding, which an ASCII search would not undo. At least 3 bytes, ASCII only.
std::string RequiredLiteral(const RE2& re);

// The rows of a packed string column (Column::packed(): the values end to end) whose value holds
// `literal` (ASCII lower case, searched ignoring ASCII case), ascending: one search of the column's
// bytes (string_operators.cc), so a pattern with a RequiredLiteral runs on those values alone.
std::vector<uint32_t> PackedRowsHolding(const Column& packed, std::string_view literal);

// Rewrites .NET-style named groups (?<name>...) to RE2's (?P<name>...); the rest is unchanged.
std::string TranslateNamedGroups(std::string_view pattern);

}  // namespace cmk::kql::fn
