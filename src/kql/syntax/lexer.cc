#include "kql/syntax/lexer.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string>
#include <utility>

namespace cmk::kql {
namespace {

constexpr int64_t kSecond = 10'000'000;  // ticks (100 ns) in a second

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Literal functions whose parenthesized body is kept as raw text.
bool IsRawLiteralFunction(std::string_view w) {
  return w == "datetime" || w == "date" || w == "timespan" || w == "time" || w == "guid" ||
         w == "dynamic";
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  std::vector<Token> Run() {
    std::vector<Token> out;
    for (;;) {
      SkipSpaceAndComments();
      Position start = Here();
      char c = At();
      if (c == '\0' && i_ >= text_.size()) {
        out.push_back(Finish(Token{TokenKind::kEnd, "", start}));
        return out;
      }
      if (c == '\'' || c == '"') {
        out.push_back(LexString(start, false));
      } else if (c == '@' && (At(1) == '\'' || At(1) == '"')) {
        Advance();
        out.push_back(LexString(start, true));
      } else if (c == '`' && At(1) == '`' && At(2) == '`') {
        out.push_back(LexMultiLine(start));
      } else if ((c == 'h' || c == 'H') && (At(1) == '\'' || At(1) == '"' ||
                                            (At(1) == '@' && (At(2) == '\'' || At(2) == '"')))) {
        // Obfuscated strings (h'secret') are ordinary strings to the engine.
        Advance();
        bool verbatim = At() == '@';
        if (verbatim) Advance();
        out.push_back(LexString(start, verbatim));
        out.back().pos = start;
      } else if (IsDigit(c)) {
        out.push_back(LexNumber(start));
      } else if (IsIdentStart(c)) {
        LexWord(start, out);
      } else {
        out.push_back(LexPunct(start));
      }
    }
  }

 private:
  char At(size_t k = 0) const { return i_ + k < text_.size() ? text_[i_ + k] : '\0'; }
  Position Here() const { return {line_, static_cast<int>(i_ - line_start_) + 1, i_}; }
  void Advance(size_t n = 1) {
    for (; n > 0 && i_ < text_.size(); --n, ++i_) {
      if (text_[i_] == '\n') {
        ++line_;
        line_start_ = i_ + 1;
      }
    }
  }
  Token Finish(Token t) const {
    t.end = i_;
    return t;
  }
  [[noreturn]] void Fail(std::string message, Position pos) const {
    throw SyntaxError(std::move(message), pos);
  }

  void SkipSpaceAndComments() {
    for (;;) {
      if (std::isspace(static_cast<unsigned char>(At()))) {
        Advance();
      } else if (At() == '/' && At(1) == '/') {
        while (i_ < text_.size() && At() != '\n') Advance();
      } else {
        return;
      }
    }
  }

  Token LexString(Position start, bool verbatim) {
    const char quote = At();
    Advance();
    std::string value;
    for (;;) {
      if (i_ >= text_.size() || (!verbatim && At() == '\n')) Fail("Unterminated string literal", start);
      char c = At();
      if (c == quote) {
        if (verbatim && At(1) == quote) {  // Verbatim strings escape a quote by doubling it.
          value += quote;
          Advance(2);
          continue;
        }
        Advance();
        break;
      }
      if (c == '\\' && !verbatim) {
        value += Escape(start);
        continue;
      }
      value += c;
      Advance();
    }
    return Finish(Token{TokenKind::kString, std::move(value), start});
  }

  std::string Escape(Position string_start) {
    Position at = Here();
    char e = At(1);
    Advance(2);
    switch (e) {
      case 'n': return "\n";
      case 't': return "\t";
      case 'r': return "\r";
      case '0': return std::string(1, '\0');
      case '\\': return "\\";
      case '\'': return "'";
      case '"': return "\"";
      case 'u': {
        uint32_t cp = 0;
        for (int k = 0; k < 4; ++k, Advance()) {
          char h = At();
          if (!std::isxdigit(static_cast<unsigned char>(h))) Fail("Invalid \\u escape", at);
          cp = cp * 16 + static_cast<uint32_t>(IsDigit(h) ? h - '0' : (std::tolower(h) - 'a' + 10));
        }
        std::string s;
        AppendUtf8(s, cp);
        return s;
      }
      case '\0':
        Fail("Unterminated string literal", string_start);
      default:
        Fail(std::string("Invalid escape sequence '\\") + e + "'", at);
    }
  }

  Token LexMultiLine(Position start) {
    Advance(3);
    size_t close = text_.find("```", i_);
    if (close == std::string_view::npos) Fail("Unterminated string literal", start);
    std::string value(text_.substr(i_, close - i_));
    Advance(close - i_ + 3);
    return Finish(Token{TokenKind::kString, std::move(value), start});
  }

  Token LexNumber(Position start) {
    const size_t begin = i_;
    if (At() == '0' && (At(1) == 'x' || At(1) == 'X') && std::isxdigit(static_cast<unsigned char>(At(2)))) {
      Advance(2);
      while (std::isxdigit(static_cast<unsigned char>(At()))) Advance();
      Token t{TokenKind::kLong, std::string(text_.substr(begin, i_ - begin)), start};
      auto [p, ec] = std::from_chars(text_.data() + begin + 2, text_.data() + i_, t.int_value, 16);
      if (ec != std::errc()) Fail("Long literal out of range '" + t.text + "'", start);
      return Finish(std::move(t));
    }
    bool real = false;
    while (IsDigit(At())) Advance();
    if (At() == '.' && IsDigit(At(1))) {
      real = true;
      Advance();
      while (IsDigit(At())) Advance();
    }
    if ((At() == 'e' || At() == 'E') &&
        (IsDigit(At(1)) || ((At(1) == '+' || At(1) == '-') && IsDigit(At(2))))) {
      real = true;
      Advance(IsDigit(At(1)) ? 1 : 2);
      while (IsDigit(At())) Advance();
    }
    const std::string_view digits = text_.substr(begin, i_ - begin);
    const char* first = digits.data();
    const char* last = digits.data() + digits.size();
    double real_value = 0;
    int64_t long_value = 0;
    if (real) {
      auto [p, ec] = std::from_chars(first, last, real_value);
      if (ec != std::errc()) Fail("Invalid real literal '" + std::string(digits) + "'", start);
    } else {
      auto [p, ec] = std::from_chars(first, last, long_value);
      if (ec != std::errc()) Fail("Long literal out of range '" + std::string(digits) + "'", start);
    }
    if (std::isalpha(static_cast<unsigned char>(At()))) return LexTimespan(start, begin, real ? real_value : static_cast<double>(long_value), real, long_value);
    Token t{real ? TokenKind::kReal : TokenKind::kLong, std::string(digits), start};
    t.int_value = long_value;
    t.real_value = real ? real_value : static_cast<double>(long_value);
    return Finish(std::move(t));
  }

  Token LexTimespan(Position start, size_t begin, double value, bool real, int64_t long_value) {
    while (std::isalpha(static_cast<unsigned char>(At()))) Advance();
    std::string text(text_.substr(begin, i_ - begin));
    size_t unit_begin = text.find_first_not_of("0123456789.eE+-");
    // Regression (found by kql_fuzz): "1e" is all digits and exponent letters, with no unit.
    if (unit_begin == std::string::npos) Fail("Invalid number literal '" + text + "'", start);
    std::optional<int64_t> unit = TimespanUnitTicks(std::string_view(text).substr(unit_begin));
    if (!unit) Fail("Invalid number literal '" + text + "'", start);
    Token t{TokenKind::kTimespan, std::move(text), start};
    double ticks = value * static_cast<double>(*unit);
    if (!(std::fabs(ticks) < 9.2e18)) Fail("Timespan literal out of range '" + t.text + "'", start);
    t.int_value = real ? std::llround(ticks) : long_value * *unit;
    return Finish(std::move(t));
  }

  void LexWord(Position start, std::vector<Token>& out) {
    const size_t begin = i_;
    Advance();
    while (IsIdentChar(At())) Advance();
    std::string word(text_.substr(begin, i_ - begin));
    if (word == "in" && At() == '~') {
      Advance();
      out.push_back(Finish(Token{TokenKind::kPunct, "in~", start}));
      return;
    }
    out.push_back(Finish(Token{TokenKind::kIdentifier, word, start}));
    if (IsRawLiteralFunction(word)) LexRawBody(out);
  }

  // After datetime/timespan/guid/dynamic: if '(' follows, emit '(' raw ')'.
  void LexRawBody(std::vector<Token>& out) {
    SkipSpaceAndComments();
    if (At() != '(') return;
    Position open = Here();
    Advance();
    out.push_back(Finish(Token{TokenKind::kPunct, "(", open}));
    SkipSpaceAndComments();
    Position body = Here();
    const size_t begin = i_;
    int depth = 1;
    while (i_ < text_.size()) {
      char c = At();
      if (c == '\'' || c == '"') {
        Advance();
        while (i_ < text_.size() && At() != c) Advance(At() == '\\' ? 2 : 1);
        if (i_ >= text_.size()) Fail("Unterminated string literal", body);
      } else if (c == '(' || c == '[' || c == '{') {
        ++depth;
      } else if (c == ')' || c == ']' || c == '}') {
        if (--depth == 0) break;
      }
      Advance();
    }
    if (depth != 0) Fail("Expected ')' to close the literal opened", open);
    std::string_view raw = text_.substr(begin, i_ - begin);
    while (!raw.empty() && std::isspace(static_cast<unsigned char>(raw.back()))) raw.remove_suffix(1);
    Token t{TokenKind::kRaw, std::string(raw), body};
    t.end = begin + raw.size();
    out.push_back(std::move(t));
    Position close = Here();
    Advance();
    out.push_back(Finish(Token{TokenKind::kPunct, ")", close}));
  }

  Token LexPunct(Position start) {
    if (At() == '!' && IsIdentStart(At(1))) {  // !has, !contains, !in, !in~, !between, ...
      const size_t begin = i_;
      Advance();
      while (IsIdentChar(At())) Advance();
      if (text_.substr(begin, i_ - begin) == "!in" && At() == '~') Advance();
      return Finish(Token{TokenKind::kPunct, std::string(text_.substr(begin, i_ - begin)), start});
    }
    static constexpr std::array<std::string_view, 10> kTwo = {"..", "==", "!=", "<>", "<=",
                                                              ">=", "=~", "!~", "=>", "::"};
    for (std::string_view op : kTwo) {
      if (text_.substr(i_, 2) == op) {
        Advance(2);
        return Finish(Token{TokenKind::kPunct, std::string(op), start});
      }
    }
    static constexpr std::string_view kOne = "|,()[]{}.;=<>+-*/%:?";
    char c = At();
    if (kOne.find(c) == std::string_view::npos) {
      Fail(std::string("Unexpected character '") + c + "'", start);
    }
    Advance();
    return Finish(Token{TokenKind::kPunct, std::string(1, c), start});
  }

  std::string_view text_;
  size_t i_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
};

}  // namespace

std::optional<int64_t> TimespanUnitTicks(std::string_view u) {
  constexpr int64_t kMinute = 60 * kSecond;
  constexpr int64_t kHour = 60 * kMinute;
  if (u == "d" || u == "day" || u == "days") return 24 * kHour;
  if (u == "h" || u == "hr" || u == "hrs" || u == "hour" || u == "hours") return kHour;
  if (u == "m" || u == "min" || u == "mins" || u == "minute" || u == "minutes") return kMinute;
  if (u == "s" || u == "sec" || u == "secs" || u == "second" || u == "seconds") return kSecond;
  if (u == "ms" || u == "milli" || u == "millis" || u == "millisecond" || u == "milliseconds") {
    return kSecond / 1000;
  }
  if (u == "microsecond" || u == "microseconds") return 10;
  if (u == "tick" || u == "ticks") return 1;
  return std::nullopt;
}

std::optional<int64_t> ParseTimespanText(std::string_view text) {
  bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  int64_t sign = negative ? -1 : 1;
  if (text.find(':') == std::string_view::npos) {
    try {
      std::vector<Token> toks = internal::Lex(text);
      if (toks.size() == 3 && toks[0].kind == TokenKind::kLong &&
          toks[1].kind == TokenKind::kIdentifier) {  // timespan(15 seconds)
        std::optional<int64_t> unit = TimespanUnitTicks(toks[1].text);
        int64_t ticks = 0;
        if (!unit || __builtin_mul_overflow(toks[0].int_value, *unit, &ticks)) return std::nullopt;
        return sign * ticks;
      }
      if (toks.size() != 2) return std::nullopt;
      if (toks[0].kind == TokenKind::kTimespan) return sign * toks[0].int_value;
      if (toks[0].kind == TokenKind::kLong) return sign * toks[0].int_value * *TimespanUnitTicks("d");
      return std::nullopt;
    } catch (const SyntaxError&) {
      return std::nullopt;
    }
  }
  // [d.]hh:mm[:ss[.fffffff]]
  auto number = [&text](int64_t& out, size_t max_digits) {
    size_t n = 0;
    out = 0;
    while (n < text.size() && n < max_digits && IsDigit(text[n])) out = out * 10 + (text[n++] - '0');
    text.remove_prefix(n);
    return n;
  };
  int64_t days = 0, hours = 0, minutes = 0, seconds = 0, fraction = 0;
  size_t dot = text.find('.');
  if (dot != std::string_view::npos && dot < text.find(':')) {
    if (number(days, 9) == 0 || text.empty() || text[0] != '.') return std::nullopt;
    text.remove_prefix(1);
  }
  if (number(hours, 2) == 0 || text.empty() || text[0] != ':') return std::nullopt;
  text.remove_prefix(1);
  if (number(minutes, 2) == 0) return std::nullopt;
  if (!text.empty() && text[0] == ':') {
    text.remove_prefix(1);
    if (number(seconds, 2) == 0) return std::nullopt;
    if (!text.empty() && text[0] == '.') {
      text.remove_prefix(1);
      size_t digits = number(fraction, 7);
      if (digits == 0) return std::nullopt;
      for (; digits < 7; ++digits) fraction *= 10;
    }
  }
  if (!text.empty() || hours > 23 || minutes > 59 || seconds > 59) return std::nullopt;
  int64_t total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds;
  return sign * (total * kSecond + fraction);
}

namespace internal {
std::vector<Token> Lex(std::string_view text) { return Lexer(text).Run(); }
}  // namespace internal

Result<std::vector<Token>> Tokenize(std::string_view text) {
  try {
    return internal::Lex(text);
  } catch (const SyntaxError& e) {
    return Status(StatusCode::kInvalidArgument,
                  std::string(e.what()) + " at " + e.position().ToString(), "SyntaxError");
  }
}

}  // namespace cmk::kql
