// Fuzzes the KQL lexer and parser: any input either parses or fails with a SyntaxError status.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kql/syntax/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)cmk::kql::ParseQuery(text);
  return 0;
}
