#pragma once
// Test helpers shared by the engine's tests (coded_test.cc, exec/summarize_push_test.cc): coded
// columns built from strings and a table rendered as text for comparisons.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "kql/core/column.h"

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

}  // namespace cmk::kql::testing
