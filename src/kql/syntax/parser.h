#pragma once
// KQL parser entry point: query text -> AST (ast.h). Syntax only; names, types and functions are
// checked later by the binder.

#include <string_view>

#include "base/status.h"
#include "kql/syntax/ast.h"
#include "kql/syntax/token.h"

namespace cmk::kql {

// Parses a query: `let` statements and tabular expression statements separated by ';'.
// On a syntax error returns kInvalidArgument with error code "SyntaxError" and a message that
// names the problem and ends with the position, e.g. "Expected ')' but found end of query at
// 1:17". When `error_position` is not null it receives the position (with byte offset) of the
// error. Thread-safe (no shared state).
Result<Query> ParseQuery(std::string_view text, Position* error_position = nullptr);

}  // namespace cmk::kql
