#pragma once
// The OData $filter subset that the Table SDKs build (azure-api-2.md §21.4): comparisons
// `<property> eq|ne|gt|ge|lt|le <literal>` (either side), `and`, `or`, `not`, parentheses;
// literals 'text' ('' for a quote), true/false, integers (Int32, or Int64 with an `L` suffix),
// doubles, datetime'...', guid'...', X'hex' / binary'hex'. Evaluated over an entity's typed
// properties: a comparison between different types, or with a missing property, is false.
// Bounds: 8 KiB of text, 100 comparisons, 32 levels of nesting (InvalidInput beyond).
// Thread safety: a parsed Filter is immutable.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "base/status.h"

namespace cmk::storage_account {

// One typed value: `type` is the Edm name ("Edm.String", "Edm.Int32", ...), `value` the JSON
// form entities are stored in (strings for Int64, DateTime, Guid and Binary).
struct EdmValue {
  std::string type;
  boost::json::value value;
};

class Filter {
 public:
  struct Node;
  static Result<Filter> Parse(std::string_view text);
  // `get(name)` returns the property's value, or nullptr when the entity has none.
  template <typename Get>
  bool Matches(const Get& get) const {
    return root_ == nullptr || Eval(*root_, [&](const std::string& n) -> const EdmValue* { return get(n); });
  }
  Filter();
  Filter(Filter&&) noexcept;
  Filter& operator=(Filter&&) noexcept;
  ~Filter();

 private:
  using Lookup = std::function<const EdmValue*(const std::string&)>;
  static bool Eval(const Node& n, const Lookup& get);
  std::unique_ptr<Node> root_;
};

// -1, 0, 1 comparing two values of the same Edm type; nullopt when they can't be compared.
std::optional<int> CompareEdm(const EdmValue& a, const EdmValue& b);

}  // namespace cmk::storage_account
