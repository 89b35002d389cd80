#pragma once
// KQL lexer: query text -> tokens. Keywords are contextual, so every word is a kIdentifier and
// the parser decides. The bodies of datetime(...), date(...), timespan(...), time(...), guid(...)
// and dynamic(...) are returned as one kRaw token between '(' and ')', because their contents
// (2024-01-01T10:00:00Z, GUIDs, JSON) are not KQL tokens.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kql/syntax/token.h"

namespace cmk::kql {

// Tokenizes `text`; the last token is kEnd. Fails with kInvalidArgument / "SyntaxError" and a
// message ending in " at line:column" (unterminated string, bad number, unknown character).
Result<std::vector<Token>> Tokenize(std::string_view text);

// Ticks (100 ns) per unit for timespan suffixes: d, day(s), h, hr(s), hour(s), m, min(s),
// minute(s), s, sec(s), second(s), ms, milli(s), millisecond(s), microsecond(s), tick(s).
std::optional<int64_t> TimespanUnitTicks(std::string_view unit);

// Parses the body of timespan(...): "1.5h", "2" (days), "[-][d.]hh:mm[:ss[.fffffff]]".
std::optional<int64_t> ParseTimespanText(std::string_view text);

namespace internal {
// Like Tokenize but throws SyntaxError; for the parser only (exceptions stay inside src/kql).
std::vector<Token> Lex(std::string_view text);
}  // namespace internal

}  // namespace cmk::kql
