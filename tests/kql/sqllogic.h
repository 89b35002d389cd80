#pragma once
// The runner of the data-driven KQL tests (format: tests/kql/README.md). RunFile parses one .test
// file, loads its `table` directives into an InMemoryCatalog, executes every record with
// kql::Execute at a fixed `now` and compares results with the expected rows.
// Thread safety: RunFile keeps no shared state.
#include <optional>
#include <string>
#include <vector>

#include "kql/core/column.h"

namespace cmk::kql::sqllogic {

struct FileReport {
  int records = 0;          // statement/query records executed
  int failures_count = 0;   // records that failed (not counting known engine bugs)
  std::vector<std::string> failures;  // file:line, query, expected vs actual
  // `# skip-bug:` records that still fail (counted, printed, not failures) ...
  std::vector<std::string> known_bugs;
  // ... and those that now pass (the marker should be removed).
  std::vector<std::string> fixed_bugs;
  // Set when a storage-level directive (advance-clock, vault-outage, restart) was reached: the
  // rest of the file needs the storage engine and was not run.
  std::string skipped_reason;
};

// One cell as the tests write it (README.md, "Values"), without the file format's escapes:
// strings and guids as they are, reals %.15g, datetimes with 7 fractional digits and Z,
// timespans [-][d.]hh:mm:ss[.fffffff], dynamic as compact JSON; nullopt for null (a dynamic null
// too). kql_doc_run (doc_examples/) prints results with it.
std::optional<std::string> RenderValue(const Column& column, size_t row);

// `display` names the file in messages (a path relative to tests/kql).
FileReport RunFile(const std::string& path, const std::string& display);

}  // namespace cmk::kql::sqllogic
