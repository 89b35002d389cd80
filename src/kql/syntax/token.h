#pragma once
// KQL tokens and source positions, shared by the lexer and the parser.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace cmk::kql {

// A place in the query text: 1-based line and column (in bytes), 0-based byte offset.
struct Position {
  int line = 1;
  int column = 1;
  size_t offset = 0;
  std::string ToString() const { return std::to_string(line) + ":" + std::to_string(column); }
};

enum class TokenKind {
  kEnd,         // End of the query text; always the last token.
  kIdentifier,  // Names and (contextual) keywords: where, by, has, and, $left, ...
  kString,      // text is the decoded value.
  kLong,        // int_value.
  kReal,        // real_value.
  kTimespan,    // 1d, 1.5h, 100ms: int_value in ticks (100 ns); text is the source text.
  kRaw,         // Trimmed source text inside datetime(...), timespan(...), guid(...), dynamic(...).
  kPunct,       // Symbols (| == ..) and negated/suffixed word operators (!has, !in, in~, !in~).
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;
  Position pos;
  size_t end = 0;  // Byte offset just past the token.
  int64_t int_value = 0;
  double real_value = 0;
};

// Thrown inside src/kql only; the public API turns it into a Status (see parser.h).
class SyntaxError : public std::runtime_error {
 public:
  SyntaxError(std::string message, Position pos)
      : std::runtime_error(std::move(message)), pos_(pos) {}
  const Position& position() const { return pos_; }

 private:
  Position pos_;
};

}  // namespace cmk::kql
