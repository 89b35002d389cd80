#include "server/graph_filter.h"

#include <cstdio>

#include "base/encoding.h"

namespace cmk::server::graph {
namespace {

Status SyntaxError(std::string_view text, size_t pos, std::string_view what) {
  // The text is echoed only up to the bound, and through EscapeForLog so that control bytes
  // and quotes cannot forge structure in the message (it ends up in JSON and in logs).
  return InvalidArgument("Invalid filter clause: " + std::string(what) + " at position " +
                             std::to_string(pos) + " in '" + EscapeForLog(text, 256) + "'.",
                         "BadRequest");
}

bool IsIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '/';
}

std::string DescribeChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return std::string("character '") + c + "'";
  char buf[16];
  std::snprintf(buf, sizeof(buf), "byte 0x%02x", u);
  return buf;
}

// Recursive descent over the text itself (no token vector): each step consumes at least one
// character or fails, and nesting is bounded by kMaxFilterDepth.
class Parser {
 public:
  explicit Parser(std::string_view text) : t_(text) {}

  Result<Filter> Parse() {
    Filter f;
    RETURN_IF_ERROR(Conjunction(f, 0));
    SkipSpace();
    if (pos_ != t_.size()) return Error("unexpected " + DescribeChar(t_[pos_]));
    return f;
  }

 private:
  Status Error(std::string_view what) const { return SyntaxError(t_, pos_, what); }

  void SkipSpace() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\t')) ++pos_;
  }

  bool Peek(char c) {
    SkipSpace();
    return pos_ < t_.size() && t_[pos_] == c;
  }

  Status Expect(char c) {
    if (!Peek(c)) {
      if (pos_ >= t_.size()) return Error(std::string("expected '") + c + "' but the filter ended");
      return Error(std::string("expected '") + c + "', found " + DescribeChar(t_[pos_]));
    }
    ++pos_;
    return OkStatus();
  }

  Result<std::string> Identifier() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < t_.size() && IsIdentChar(t_[pos_])) ++pos_;
    if (pos_ == start) {
      if (pos_ >= t_.size()) return Error("expected a property name but the filter ended");
      return Error("expected a property name, found " + DescribeChar(t_[pos_]));
    }
    return std::string(t_.substr(start, pos_ - start));
  }

  // Consumes `word` (case-insensitive) when it stands alone at the current position.
  bool Keyword(std::string_view word) {
    SkipSpace();
    if (t_.size() - pos_ < word.size()) return false;
    if (!EqualsIgnoreCase(t_.substr(pos_, word.size()), word)) return false;
    size_t end = pos_ + word.size();
    if (end < t_.size() && IsIdentChar(t_[end])) return false;
    pos_ = end;
    return true;
  }

  Result<std::string> Literal() {
    SkipSpace();
    if (pos_ >= t_.size()) return Error("expected a literal but the filter ended");
    if (t_[pos_] != '\'') {
      for (std::string_view word : {"true", "false", "null"}) {
        if (Keyword(word)) return std::string(word);
      }
      return Error("expected a quoted string, found " + DescribeChar(t_[pos_]));
    }
    size_t open = pos_++;
    std::string value;
    while (pos_ < t_.size()) {
      char c = t_[pos_++];
      if (c != '\'') {
        value.push_back(c);
        continue;
      }
      if (pos_ < t_.size() && t_[pos_] == '\'') {  // '' is an escaped quote
        value.push_back('\'');
        ++pos_;
        continue;
      }
      return value;
    }
    pos_ = open;
    return Error("unterminated string literal");
  }

  Status Conjunction(Filter& f, int depth) {
    if (depth > kMaxFilterDepth) return Error("parentheses nested too deeply");
    RETURN_IF_ERROR(Primary(f, depth));
    while (true) {
      SkipSpace();
      if (pos_ >= t_.size() || t_[pos_] == ')') return OkStatus();
      if (Keyword("and")) {
        RETURN_IF_ERROR(Primary(f, depth));
        continue;
      }
      if (Keyword("or") || Keyword("not")) return Error("only 'and' may join clauses");
      return Error("expected 'and', found " + DescribeChar(t_[pos_]));
    }
  }

  Status Primary(Filter& f, int depth) {
    if (Peek('(')) {
      ++pos_;
      RETURN_IF_ERROR(Conjunction(f, depth + 1));
      return Expect(')');
    }
    if (f.clauses.size() >= kMaxFilterClauses) {
      return Error("more than " + std::to_string(kMaxFilterClauses) + " clauses");
    }
    return Clause(f);
  }

  Status Clause(Filter& f) {
    size_t start = pos_;
    ASSIGN_OR_RETURN(std::string name, Identifier());
    FilterClause c;
    if (EqualsIgnoreCase(name, "startswith")) {
      RETURN_IF_ERROR(Expect('('));
      ASSIGN_OR_RETURN(c.property, Identifier());
      RETURN_IF_ERROR(Expect(','));
      ASSIGN_OR_RETURN(c.value, Literal());
      RETURN_IF_ERROR(Expect(')'));
      c.op = FilterClause::Op::kStartsWith;
    } else if (size_t slash = name.rfind('/'); slash != std::string::npos) {
      // servicePrincipalNames/any(c:c eq '…'): a lambda over a string collection.
      if (!EqualsIgnoreCase(std::string_view(name).substr(slash + 1), "any") || slash == 0) {
        pos_ = start;
        return Error("unsupported path '" + EscapeForLog(name, 64) + "'");
      }
      c.property = name.substr(0, slash);
      RETURN_IF_ERROR(Expect('('));
      ASSIGN_OR_RETURN(std::string var, Identifier());
      RETURN_IF_ERROR(Expect(':'));
      ASSIGN_OR_RETURN(std::string used, Identifier());
      if (used != var) return Error("the lambda must compare its variable '" + var + "'");
      if (!Keyword("eq")) return Error("expected 'eq' in the lambda");
      ASSIGN_OR_RETURN(c.value, Literal());
      RETURN_IF_ERROR(Expect(')'));
      c.op = FilterClause::Op::kAnyEq;
    } else {
      c.property = std::move(name);
      if (!Keyword("eq")) {
        SkipSpace();
        return Error(pos_ >= t_.size() ? "expected 'eq' but the filter ended"
                                       : "expected 'eq' (the only comparison supported)");
      }
      ASSIGN_OR_RETURN(c.value, Literal());
      c.op = FilterClause::Op::kEq;
    }
    if (c.property.find('/') != std::string::npos) {
      pos_ = start;
      return Error("unsupported path '" + EscapeForLog(c.property, 64) + "'");
    }
    f.clauses.push_back(std::move(c));
    return OkStatus();
  }

  std::string_view t_;
  size_t pos_ = 0;
};

bool Listed(const std::vector<std::string_view>& names, std::string_view name) {
  for (std::string_view n : names) {
    if (EqualsIgnoreCase(n, name)) return true;
  }
  return false;
}

}  // namespace

Result<Filter> ParseFilter(std::string_view text) {
  if (text.size() > kMaxFilterLength) {
    return InvalidArgument("Invalid filter clause: the filter is " + std::to_string(text.size()) +
                               " characters long; at most " + std::to_string(kMaxFilterLength) +
                               " are accepted.",
                           "BadRequest");
  }
  bool blank = true;
  for (char c : text) blank = blank && (c == ' ' || c == '\t');
  if (blank) return InvalidArgument("Invalid filter clause: the filter is empty.", "BadRequest");
  return Parser(text).Parse();
}

Status CheckFilter(const Filter& f, std::string_view resource,
                   const std::vector<std::string_view>& eq_properties,
                   const std::vector<std::string_view>& startswith_properties,
                   const std::vector<std::string_view>& any_properties) {
  for (const FilterClause& c : f.clauses) {
    bool ok = false;
    switch (c.op) {
      case FilterClause::Op::kEq:
        ok = Listed(eq_properties, c.property);
        break;
      case FilterClause::Op::kStartsWith:
        ok = Listed(startswith_properties, c.property);
        break;
      case FilterClause::Op::kAnyEq:
        ok = Listed(any_properties, c.property);
        break;
    }
    if (!ok) {
      return InvalidArgument("Unsupported or invalid query filter clause specified for property '" +
                                 EscapeForLog(c.property, 64) + "' of resource '" +
                                 std::string(resource) + "'.",
                             "Request_UnsupportedQuery");
    }
  }
  return OkStatus();
}

}  // namespace cmk::server::graph
