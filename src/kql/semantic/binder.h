#pragma once
// The binder: resolves an AST (ast.h) against a Catalog into executable plans (plan.h).
// Resolves table, column, let and function names (scalar and tabular lets, functions with
// parameters, defaults and tabular parameters), types every expression through the function
// registry (functions.h) and the aggregates (aggregates.h), folds constant expressions, names
// output columns the way Kusto does (count_, sum_X, Column1, print_0, Key1 for join clashes),
// and pushes needed columns and TimeGenerated bounds into the scans.
// toscalar() and `in (tabular)` run their subquery while binding (through exec.h).
// Errors: kInvalidArgument / "SemanticError" naming the problem and ending "at line:column".
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "kql/exec/exec.h"
#include "kql/semantic/plan.h"
#include "kql/syntax/ast.h"

namespace cmk::kql {

struct BoundQuery {
  std::vector<std::unique_ptr<PlanNode>> results;  // one per tabular expression statement
  std::optional<std::map<std::string, std::string>> render;
};

// `query` must outlive the returned plans only while binding (plans own their data).
Result<BoundQuery> Bind(const Query& query, const ExecContext& ctx);

}  // namespace cmk::kql
