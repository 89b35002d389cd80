#include "storage_account/odata_filter.h"

#include <charconv>
#include <cmath>
#include <functional>

#include "base/encoding.h"
#include "base/time_format.h"

namespace cmk::storage_account {

namespace bj = boost::json;

struct Filter::Node {
  enum class Kind { kAnd, kOr, kNot, kCmp } kind = Kind::kCmp;
  std::vector<std::unique_ptr<Node>> children;
  std::string op;                       // eq ne gt ge lt le
  bool left_is_property = true;         // kCmp: which side names the property
  std::string property;
  EdmValue literal;
};

namespace {

constexpr size_t kMaxText = 8 * 1024;
constexpr int kMaxComparisons = 100;
constexpr int kMaxDepth = 32;

Status Invalid(std::string what) {
  return InvalidArgument("One of the request inputs is not valid: $filter " + what + ".", "InvalidInput");
}

bool IsIdentStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsIdent(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }

// Base64 of the bytes `hex` spells (binary literals compare with stored base64).
Result<std::string> HexToBase64(std::string_view hex) {
  if (hex.size() % 2 != 0) return Invalid("has an odd-length binary literal");
  std::vector<uint8_t> bytes;
  auto nib = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nib(hex[i]), lo = nib(hex[i + 1]);
    if (hi < 0 || lo < 0) return Invalid("has a bad binary literal");
    bytes.push_back(static_cast<uint8_t>(hi * 16 + lo));
  }
  return Base64Encode(bytes);
}

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}

  Result<std::unique_ptr<Filter::Node>> Or(int depth) {
    if (depth > kMaxDepth) return Invalid("is nested too deeply");
    ASSIGN_OR_RETURN(auto left, And(depth));
    while (Keyword("or")) {
      ASSIGN_OR_RETURN(auto right, And(depth));
      left = Combine(Filter::Node::Kind::kOr, std::move(left), std::move(right));
    }
    return left;
  }
  bool AtEnd() {
    Space();
    return i_ == t_.size();
  }

 private:
  static std::unique_ptr<Filter::Node> Combine(Filter::Node::Kind k, std::unique_ptr<Filter::Node> a,
                                               std::unique_ptr<Filter::Node> b) {
    auto n = std::make_unique<Filter::Node>();
    n->kind = k;
    n->children.push_back(std::move(a));
    n->children.push_back(std::move(b));
    return n;
  }
  Result<std::unique_ptr<Filter::Node>> And(int depth) {
    ASSIGN_OR_RETURN(auto left, Unary(depth));
    while (Keyword("and")) {
      ASSIGN_OR_RETURN(auto right, Unary(depth));
      left = Combine(Filter::Node::Kind::kAnd, std::move(left), std::move(right));
    }
    return left;
  }
  Result<std::unique_ptr<Filter::Node>> Unary(int depth) {
    if (depth > kMaxDepth) return Invalid("is nested too deeply");
    if (Keyword("not")) {
      ASSIGN_OR_RETURN(auto inner, Unary(depth + 1));
      auto n = std::make_unique<Filter::Node>();
      n->kind = Filter::Node::Kind::kNot;
      n->children.push_back(std::move(inner));
      return n;
    }
    Space();
    if (i_ < t_.size() && t_[i_] == '(') {
      ++i_;
      ASSIGN_OR_RETURN(auto inner, Or(depth + 1));
      Space();
      if (i_ >= t_.size() || t_[i_] != ')') return Invalid("has an unclosed parenthesis");
      ++i_;
      return inner;
    }
    return Comparison();
  }
  Result<std::unique_ptr<Filter::Node>> Comparison() {
    if (++comparisons_ > kMaxComparisons) return Invalid("has too many comparisons");
    auto n = std::make_unique<Filter::Node>();
    std::string name;
    ASSIGN_OR_RETURN(bool left_prop, Operand(name, n->literal));
    Space();
    size_t s = i_;
    while (i_ < t_.size() && IsIdent(t_[i_])) ++i_;
    n->op = ToLower(t_.substr(s, i_ - s));
    if (n->op != "eq" && n->op != "ne" && n->op != "gt" && n->op != "ge" && n->op != "lt" && n->op != "le") {
      return Invalid("has an unknown operator");
    }
    std::string name2;
    EdmValue lit2;
    ASSIGN_OR_RETURN(bool right_prop, Operand(name2, lit2));
    if (left_prop == right_prop) return Invalid("compares two properties or two literals");
    n->left_is_property = left_prop;
    n->property = left_prop ? name : name2;
    if (!left_prop) return n;
    n->literal = std::move(lit2);
    return n;
  }
  // A property name (true) or a literal (false).
  Result<bool> Operand(std::string& name, EdmValue& lit) {
    Space();
    if (i_ >= t_.size()) return Invalid("ends early");
    char c = t_[i_];
    if (c == '\'') {
      ASSIGN_OR_RETURN(std::string s, Quoted());
      lit = {"Edm.String", bj::value(s)};
      return false;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return Number(lit);
    if (!IsIdentStart(c)) return Invalid("has an unexpected character");
    size_t s = i_;
    while (i_ < t_.size() && IsIdent(t_[i_])) ++i_;
    std::string word(t_.substr(s, i_ - s));
    if (i_ < t_.size() && t_[i_] == '\'') return TypedLiteral(ToLower(word), lit);
    if (word == "true" || word == "false") {
      lit = {"Edm.Boolean", bj::value(word == "true")};
      return false;
    }
    if (word.size() > 255) return Invalid("names a property that is too long");
    name = std::move(word);
    return true;
  }
  Result<bool> TypedLiteral(const std::string& prefix, EdmValue& lit) {
    ASSIGN_OR_RETURN(std::string s, Quoted());
    if (prefix == "datetime") {
      if (!ParseRfc3339(s).ok()) return Invalid("has a bad datetime literal");
      lit = {"Edm.DateTime", bj::value(s)};
    } else if (prefix == "guid") {
      lit = {"Edm.Guid", bj::value(ToLower(s))};
    } else if (prefix == "x" || prefix == "binary") {
      ASSIGN_OR_RETURN(std::string b64, HexToBase64(s));
      lit = {"Edm.Binary", bj::value(b64)};
    } else {
      return Invalid("has an unknown literal type");
    }
    return false;
  }
  Result<bool> Number(EdmValue& lit) {
    size_t s = i_;
    if (t_[i_] == '-') ++i_;
    bool dbl = false;
    while (i_ < t_.size() && ((t_[i_] >= '0' && t_[i_] <= '9') || t_[i_] == '.' || t_[i_] == 'e' || t_[i_] == 'E' ||
                              ((t_[i_] == '+' || t_[i_] == '-') && (t_[i_ - 1] == 'e' || t_[i_ - 1] == 'E')))) {
      dbl |= !(t_[i_] >= '0' && t_[i_] <= '9') && t_[i_] != '-';
      ++i_;
    }
    std::string_view num = t_.substr(s, i_ - s);
    bool int64 = i_ < t_.size() && (t_[i_] == 'L' || t_[i_] == 'l');
    if (int64) ++i_;
    if (dbl) {
      double d = 0;
      auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), d);
      if (ec != std::errc() || p != num.data() + num.size()) return Invalid("has a bad number");
      lit = {"Edm.Double", bj::value(d)};
      return false;
    }
    int64_t v = 0;
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (ec != std::errc() || p != num.data() + num.size()) return Invalid("has a bad number");
    lit = int64 || v > INT32_MAX || v < INT32_MIN ? EdmValue{"Edm.Int64", bj::value(std::to_string(v))}
                                                    : EdmValue{"Edm.Int32", bj::value(v)};
    return false;
  }
  Result<std::string> Quoted() {
    std::string out;
    for (++i_; i_ < t_.size(); ++i_) {
      if (t_[i_] == '\'') {
        if (i_ + 1 < t_.size() && t_[i_ + 1] == '\'') {
          out.push_back('\'');
          ++i_;
          continue;
        }
        ++i_;
        return out;
      }
      out.push_back(t_[i_]);
    }
    return Invalid("has an unterminated string");
  }
  bool Keyword(std::string_view k) {
    Space();
    if (t_.size() - i_ < k.size() + 1 || !EqualsIgnoreCase(t_.substr(i_, k.size()), k)) return false;
    char after = t_[i_ + k.size()];
    if (after != ' ' && after != '(') return false;
    i_ += k.size();
    return true;
  }
  void Space() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t')) ++i_;
  }

  std::string_view t_;
  size_t i_ = 0;
  int comparisons_ = 0;
};

// Numbers of the three numeric types as doubles (Int64 arrives as a string).
std::optional<double> Numeric(const EdmValue& v) {
  if (v.type == "Edm.Int32" || v.type == "Edm.Double") {
    if (v.value.is_int64()) return static_cast<double>(v.value.as_int64());
    if (v.value.is_uint64()) return static_cast<double>(v.value.as_uint64());
    if (v.value.is_double()) return v.value.as_double();
    return std::nullopt;
  }
  if (v.type == "Edm.Int64" && v.value.is_string()) {
    int64_t n = 0;
    std::string_view s = v.value.as_string();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc() && p == s.data() + s.size()) return static_cast<double>(n);
  }
  return std::nullopt;
}

template <typename T>
int Cmp(const T& a, const T& b) {
  return a < b ? -1 : b < a ? 1 : 0;
}

}  // namespace

std::optional<int> CompareEdm(const EdmValue& a, const EdmValue& b) {
  auto na = Numeric(a), nb = Numeric(b);
  if (na && nb) return Cmp(*na, *nb);
  if (a.type != b.type) return std::nullopt;
  if (a.type == "Edm.Boolean" && a.value.is_bool() && b.value.is_bool()) return Cmp(a.value.as_bool(), b.value.as_bool());
  if (!a.value.is_string() || !b.value.is_string()) return std::nullopt;
  std::string_view x = a.value.as_string(), y = b.value.as_string();
  if (a.type == "Edm.DateTime") {
    auto tx = ParseRfc3339(x), ty = ParseRfc3339(y);
    if (!tx.ok() || !ty.ok()) return std::nullopt;
    return Cmp(*tx, *ty);
  }
  if (a.type == "Edm.Guid") return Cmp(ToLower(x), ToLower(y));
  return Cmp(x, y);
}

Filter::Filter() = default;
Filter::Filter(Filter&&) noexcept = default;
Filter& Filter::operator=(Filter&&) noexcept = default;
Filter::~Filter() = default;

Result<Filter> Filter::Parse(std::string_view text) {
  if (text.size() > kMaxText) return Invalid("is too long");
  Filter f;
  Parser p(text);
  if (p.AtEnd()) return f;
  ASSIGN_OR_RETURN(f.root_, p.Or(0));
  if (!p.AtEnd()) return Invalid("has text after its end");
  return f;
}

bool Filter::Eval(const Node& n, const Lookup& get) {
  switch (n.kind) {
    case Node::Kind::kAnd: return Eval(*n.children[0], get) && Eval(*n.children[1], get);
    case Node::Kind::kOr: return Eval(*n.children[0], get) || Eval(*n.children[1], get);
    case Node::Kind::kNot: return !Eval(*n.children[0], get);
    case Node::Kind::kCmp: break;
  }
  const EdmValue* v = get(n.property);
  if (v == nullptr) return false;
  auto c = n.left_is_property ? CompareEdm(*v, n.literal) : CompareEdm(n.literal, *v);
  if (!c) return false;
  const std::string& op = n.op;
  return op == "eq" ? *c == 0 : op == "ne" ? *c != 0 : op == "gt" ? *c > 0 : op == "ge" ? *c >= 0 : op == "lt" ? *c < 0 : *c <= 0;
}

}  // namespace cmk::storage_account
