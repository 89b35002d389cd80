#pragma once
// Test helpers shared by the engine's tests (coded_test.cc, exec/summarize_push_test.cc,
// engine_test.cc, governance_test.cc): coded columns built from strings, a table rendered as text
// for comparisons, and a catalog over another one.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "kql/core/column.h"
#include "kql/semantic/catalog.h"

namespace cmk::kql {

inline constexpr int64_t kJan15 = 19737LL * kTicksPerDay;  // 2024-01-15T00:00:00Z

}  // namespace cmk::kql

namespace cmk::kql::testing {

// Codes `values` into a dictionary ordered by first appearance.
inline Column CodedColumn(const std::vector<std::string>& values, Type type = Type::kString) {
  auto dict = std::make_shared<std::vector<std::string>>();
  Column c(type);
  for (const std::string& v : values) {
    auto it = std::find(dict->begin(), dict->end(), v);
    if (it == dict->end()) it = dict->insert(dict->end(), v);
    c.codes.push_back(static_cast<Code>(it - dict->begin()));
  }
  c.dict = std::move(dict);
  return c;
}

// One line per row, each value followed by '|' ("<null>" for nulls).
inline std::string RenderTable(const Table& t) {
  std::string out;
  for (size_t r = 0; r < t.rows; ++r) {
    for (const Column& c : t.columns) {
      if (c.IsNull(r)) out += "<null>";
      else if (UsesInts(c.type)) out += std::to_string(c.Int(r));
      else if (UsesReals(c.type)) out += std::to_string(c.Real(r));
      else out += c.Str(r);
      out += '|';
    }
    out += '\n';
  }
  return out;
}

// A Catalog over another one, for tests that change what a scan does: the tables and schemas
// are `inner`'s and Scan hands the request on as it is. It claims no capability (Catalog's
// defaults) until a subclass overrides one.
class CatalogWrapper : public Catalog {
 public:
  explicit CatalogWrapper(const Catalog& inner) : inner_(inner) {}
  std::vector<std::string> TableNames() const override { return inner_.TableNames(); }
  std::optional<Schema> TableSchema(const std::string& table) const override { return inner_.TableSchema(table); }
  Status Scan(const ScanRequest& request,
              const std::function<Status(std::shared_ptr<const Table>)>& sink) const override {
    return inner_.Scan(request, sink);
  }

 protected:
  const Catalog& inner() const { return inner_; }

 private:
  const Catalog& inner_;
};

}  // namespace cmk::kql::testing
