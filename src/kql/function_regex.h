#pragma once
// Private regex helper for the KQL functions (see function_util.h). Kusto uses RE2 syntax; we
// compile with std::regex (ECMAScript) after rewriting the common RE2-only spellings: a leading
// `(?i)` becomes the icase flag and named groups `(?P<n>...)` / `(?<n>...)` become plain groups.
// Not supported: other inline flags, possessive quantifiers, \p{...} classes, \z. std::regex
// recurses per character, so very long inputs with complex patterns cost stack depth.
#include <optional>
#include <regex>
#include <string>
#include <string_view>

#include "base/status.h"

namespace cmk::kql::fn {

// Compiles a pattern once and reuses it while the pattern text stays the same (a constant
// pattern argument is compiled once per eval call). Not thread-safe; one per eval call.
class RegexCache {
 public:
  // The compiled pattern, or kInvalidArgument / "SemanticError" naming `fn`.
  Result<const std::regex*> Get(std::string_view fn, std::string_view pattern);

 private:
  std::string pattern_;
  std::optional<std::regex> regex_;
};

// RE2 rewrite described above; `icase` is set when the pattern starts with (?i).
std::string TranslateRe2(std::string_view pattern, bool* icase);

}  // namespace cmk::kql::fn
