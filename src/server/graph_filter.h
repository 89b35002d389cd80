#pragma once
// The OData `$filter` subset Microsoft Graph accepts on directory collections, as az and the
// SDKs send it (clients.md; az's role and keyvault modules):
//   appId eq '…'                                  id eq '…'   displayName eq '…'
//   servicePrincipalNames/any(c:c eq '…')          startswith(displayName,'…')
//   userPrincipalName eq '…'                       clauses joined by `and`, in parentheses
// Literals are single-quoted with '' for a quote (OData), or the bare words true, false, null.
// Anything else is rejected with a Status whose message says what and where, so the front end
// answers Graph's 400 (`BadRequest` for syntax, `Request_UnsupportedQuery` for a property or
// operator the collection cannot filter on). The parser never recurses past kMaxFilterDepth
// and refuses text longer than kMaxFilterLength or more than kMaxFilterClauses clauses, so a
// hostile `$filter` costs at most linear time and a bounded stack.
// Thread safety: pure functions.

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace cmk::server::graph {

// Graph documents no length limit of its own; the URL limit of its front door is ~2 KB for the
// query string in practice, so 2,048 characters of filter text is generous for any real client.
inline constexpr size_t kMaxFilterLength = 2048;
inline constexpr size_t kMaxFilterClauses = 16;
inline constexpr int kMaxFilterDepth = 8;

struct FilterClause {
  enum class Op { kEq, kStartsWith, kAnyEq };
  Op op = Op::kEq;
  std::string property;  // as written (Graph property names are case-insensitive)
  std::string value;     // the literal, unquoted
};

// A conjunction of clauses (`or` and `not` are not supported).
struct Filter {
  std::vector<FilterClause> clauses;
};

// Parses `text`. Errors are InvalidArgument with error_code "BadRequest" (syntax, length,
// depth) carrying Graph's "Invalid filter clause" message and the character position.
Result<Filter> ParseFilter(std::string_view text);

// Checks every clause against the properties a collection can filter on: `eq_properties` for
// eq (and startswith when listed in `startswith_properties`), `any_properties` for /any(…).
// Errors are InvalidArgument with error_code "Request_UnsupportedQuery", naming the property
// and `resource` (e.g. "ServicePrincipal").
Status CheckFilter(const Filter& f, std::string_view resource,
                   const std::vector<std::string_view>& eq_properties,
                   const std::vector<std::string_view>& startswith_properties,
                   const std::vector<std::string_view>& any_properties);

}  // namespace cmk::server::graph
