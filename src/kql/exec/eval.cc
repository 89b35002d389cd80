#include "kql/exec/eval.h"

#include <boost/json.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <unordered_map>

#include "kql/exec/operators.h"
#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"
#include "kql/syntax/lexer.h"

namespace cmk::kql {
namespace {

namespace bj = boost::json;

// d.name / d[index] for one JSON text; nullopt when absent or not a container.
std::optional<std::string> Access(std::string_view json, const Column& index, size_t row,
                                  const std::string& member) {
  boost::system::error_code ec;
  bj::value v = bj::parse(json, ec);
  if (ec) return std::nullopt;
  const bj::value* found = nullptr;
  if (index.type == Type::kLong || index.type == Type::kInt) {
    if (!v.is_array() || index.IsNull(row)) return std::nullopt;
    int64_t i = index.Int(row);
    const bj::array& a = v.get_array();
    if (i < 0) i += static_cast<int64_t>(a.size());
    if (i < 0 || i >= static_cast<int64_t>(a.size())) return std::nullopt;
    found = &a[static_cast<size_t>(i)];
  } else {
    if (!v.is_object()) return std::nullopt;
    std::string_view key = member.empty() ? index.Str(row) : std::string_view(member);
    found = v.get_object().if_contains(key);
  }
  if (found == nullptr) return std::nullopt;
  return fn::WriteJson(*found);
}

Result<ColumnValue> EvalAccess(const BoundExpr& e, const Chunk& chunk, const FunctionContext& ctx) {
  ASSIGN_OR_RETURN(ColumnValue obj, Eval(e.args[0], chunk, ctx));
  Column key_holder = StringConstant(Type::kString, "");
  ColumnValue index(&key_holder);
  if (e.kind == BoundExpr::Kind::kIndex) {
    ASSIGN_OR_RETURN(index, Eval(e.args[1], chunk, ctx));
  }
  const Column& o = obj.get();
  const Column& ix = index.get();
  bool constant = o.constant && ix.constant;
  size_t n = constant ? 1 : ctx.rows;
  Column out(Type::kDynamic);
  out.constant = constant;
  out.Reserve(n);
  for (size_t r = 0; r < n; ++r) {
    std::optional<std::string> v;
    if (!o.IsNull(r)) v = Access(o.Str(r), ix, r, e.member);
    if (v && *v != "null") {
      out.AppendString(std::move(*v));
    } else {
      out.AppendNull();
    }
  }
  return ColumnValue(std::move(out));
}

// The argument that makes a call worth running per dictionary entry: the only non-constant one,
// coded, without nulls, with fewer entries than the chunk has rows. -1 when there is none.
int CodedArgument(const BoundExpr& e, std::span<const Column* const> args, size_t rows) {
  if (e.fn->name == "rand" || e.fn->name == "new_guid") return -1;
  int found = -1;
  for (size_t i = 0; i < args.size(); ++i) {
    const Column& a = *args[i];
    if (a.constant) continue;
    if (found >= 0 || !a.coded() || a.HasNulls() || a.dict->size() >= rows) return -1;
    found = static_cast<int>(i);
  }
  return found;
}

// e.fn over the dictionary of coded argument `k` (one row per entry), gathered by the codes:
// the same column as calling it row by row, since the function depends on the values alone.
Result<Column> EvalPerEntry(const BoundExpr& e, std::vector<const Column*> args, size_t k,
                            const FunctionContext& ctx) {
  const Column& coded = *args[k];
  Column entries(coded.type);
  entries.dict = coded.dict;
  entries.codes.resize(coded.dict->size());
  for (size_t i = 0; i < entries.codes.size(); ++i) entries.codes[i] = static_cast<Code>(i);
  args[k] = &entries;
  FunctionContext per_entry{entries.codes.size(), ctx.now, ctx.budget};
  ASSIGN_OR_RETURN(Column out, e.fn->eval(std::span<const Column* const>(args), per_entry));
  if (out.constant) return out;
  if (out.type == Type::kString && !out.coded() && !out.HasNulls() && out.strings.size() == entries.codes.size()) {
    // Strings stay coded: the entries' results, each distinct one once, are the dictionary
    // (tolower(Level) keeps Level's codes: grouped and compared per entry downstream too).
    std::unordered_map<std::string_view, Code> index;
    std::vector<Code> remap(out.strings.size());
    auto dict = std::make_shared<std::vector<std::string>>();
    for (size_t i = 0; i < out.strings.size(); ++i) {
      auto [it, inserted] = index.emplace(out.strings[i], static_cast<Code>(dict->size()));
      if (inserted) dict->push_back(out.strings[i]);
      remap[i] = it->second;
    }
    Column result(Type::kString);
    result.dict = std::move(dict);
    result.codes.resize(coded.codes.size());
    for (size_t r = 0; r < coded.codes.size(); ++r) result.codes[r] = remap[coded.codes[r]];
    return result;
  }
  return Gather(out, coded.codes);
}

}  // namespace

Result<std::optional<EntryTruth>> EvalPerEntryTruth(const BoundExpr& e, const Chunk& chunk,
                                                    const FunctionContext& ctx) {
  if (e.kind != BoundExpr::Kind::kCall || e.fn == nullptr) return std::optional<EntryTruth>();
  std::vector<const Column*> args;
  for (const BoundExpr& a : e.args) {
    if (a.kind == BoundExpr::Kind::kColumn) args.push_back(&chunk.col(static_cast<size_t>(a.column)));
    else if (a.kind == BoundExpr::Kind::kConstant) args.push_back(&a.value);
    else return std::optional<EntryTruth>();
  }
  int k = CodedArgument(e, args, chunk.rows);
  if (k < 0) return std::optional<EntryTruth>();
  const Column& coded = *args[static_cast<size_t>(k)];
  Column entries(coded.type);
  entries.dict = coded.dict;
  entries.codes.resize(coded.dict->size());
  for (size_t i = 0; i < entries.codes.size(); ++i) entries.codes[i] = static_cast<Code>(i);
  args[static_cast<size_t>(k)] = &entries;
  FunctionContext per_entry{entries.codes.size(), ctx.now, ctx.budget};
  ASSIGN_OR_RETURN(Column out, e.fn->eval(std::span<const Column* const>(args), per_entry));
  EntryTruth truth;
  truth.column = static_cast<size_t>(e.args[static_cast<size_t>(k)].column);
  truth.holds.resize(entries.codes.size());
  for (size_t i = 0; i < truth.holds.size(); ++i) truth.holds[i] = IsTrue(out, i) ? 1 : 0;
  return std::optional<EntryTruth>(std::move(truth));
}

Result<ColumnValue> Eval(const BoundExpr& e, const Chunk& chunk, const FunctionContext& ctx) {
  switch (e.kind) {
    case BoundExpr::Kind::kColumn:
      return ColumnValue(&chunk.col(static_cast<size_t>(e.column)));
    case BoundExpr::Kind::kConstant:
      return ColumnValue(&e.value);
    case BoundExpr::Kind::kMember:
    case BoundExpr::Kind::kIndex:
      return EvalAccess(e, chunk, ctx);
    case BoundExpr::Kind::kRowNumber:
      return EvalRowNumber(e, chunk, ctx);
    case BoundExpr::Kind::kPrev:
    case BoundExpr::Kind::kNext:
      return EvalShift(e, chunk, ctx);
    case BoundExpr::Kind::kWindow:
      return EvalWindow(e, chunk, ctx);
    case BoundExpr::Kind::kCall:
      break;
  }
  std::vector<ColumnValue> values;
  values.reserve(e.args.size());
  std::vector<const Column*> ptrs;
  ptrs.reserve(e.args.size());
  for (const BoundExpr& a : e.args) {
    ASSIGN_OR_RETURN(ColumnValue v, Eval(a, chunk, ctx));
    values.push_back(std::move(v));
  }
  for (const ColumnValue& v : values) ptrs.push_back(&v.get());
  Column out;
  if (int k = CodedArgument(e, ptrs, ctx.rows); k >= 0) {
    ASSIGN_OR_RETURN(out, EvalPerEntry(e, ptrs, static_cast<size_t>(k), ctx));
  } else {
    ASSIGN_OR_RETURN(out, e.fn->eval(std::span<const Column* const>(ptrs), ctx));
  }
  if (ctx.budget != nullptr && UsesStrings(out.type)) {
    // A string result can be far larger than its inputs (replace_string, strcat of strrep):
    // it must fit in what the query has left. Transient: charged and released at once.
    size_t bytes = ApproxBytes(out);
    RETURN_IF_ERROR(ctx.budget->Charge(bytes, "the result of " + std::string(e.fn->name) + "()"));
    ctx.budget->Release(bytes);
  }
  return ColumnValue(std::move(out));
}

Result<Column> EvalConstant(const BoundExpr& e, TimePoint now, QueryBudget* budget) {
  Chunk empty;
  empty.rows = 1;
  FunctionContext ctx{1, now, budget};
  ASSIGN_OR_RETURN(ColumnValue v, Eval(e, empty, ctx));
  Column c = std::move(v).Take();
  if (c.constant) return c;
  Column out = Column::Constant(c.type);
  out.AppendFrom(c, 0);
  return out;
}

Column NullConstant(Type t) {
  Column c = Column::Constant(t);
  if (t == Type::kString) {
    c.AppendString("");  // Kusto strings are never null: empty stands for null.
  } else {
    c.AppendNull();
  }
  return c;
}

void DropStringNulls(Column& c) {
  if (c.type == Type::kString) c.nulls.clear();
}

namespace {

// The end of the parenthesized text that starts at text[open] == '(' (quotes and nesting
// respected), or npos.
size_t MatchingParen(std::string_view text, size_t open) {
  int depth = 0;
  for (size_t i = open; i < text.size(); ++i) {
    char ch = text[i];
    if (ch == '"' || ch == '\'') {
      for (++i; i < text.size() && text[i] != ch; i += text[i] == '\\' ? 2 : 1) {
      }
      if (i >= text.size()) return std::string_view::npos;
    } else if (ch == '(') {
      ++depth;
    } else if (ch == ')' && --depth == 0) {
      return i;
    }
  }
  return std::string_view::npos;
}

std::string_view Trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string_view Unquoted(std::string_view s) {
  s = Trimmed(s);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    s = s.substr(1, s.size() - 2);
  }
  return s;
}

// long(...) and int(...)'s number as the lexer reads one: decimal or 0x hex, with a sign; an int
// must fit in 32 bits.
std::optional<int64_t> IntegerLiteral(std::string_view s, bool is_int) {
  bool negative = !s.empty() && s.front() == '-';
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  bool hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  if (hex) s.remove_prefix(2);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, hex ? 16 : 10);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  uint64_t limit = is_int ? uint64_t{INT32_MAX} : uint64_t{INT64_MAX};
  if (v > limit + (negative ? 1 : 0)) return std::nullopt;
  return negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
}

// guid(...)'s text: 32 hex digits, with hyphens after the 8th, 12th, 16th and 20th or none.
bool IsGuidText(std::string_view s) {
  if (s.size() != 32 && s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool hyphen = s.size() == 36 && (i == 8 || i == 13 || i == 18 || i == 23);
    if (hyphen ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

std::string JsonString(std::string_view s) { return bj::serialize(bj::value(bj::string_view(s))); }

// A typed literal other than dynamic inside a dynamic literal (`dynamic({'b':
// datetime(2020-01-01)})`) as JSON: datetime as its 7-digit text, timespan as its text
// (timespan(2m)), guid as its lower-case text, numbers and bools as their values, T(null) as null.
// nullopt when `inner` does not read as the type (long(1, 2), guid(garbage)): the literal is then
// invalid.
std::optional<std::string> ScalarLiteralJson(std::string_view word, std::string_view inner) {
  std::string_view text = Unquoted(inner);
  if (Trimmed(inner) == "null") return "null";
  if (word == "datetime" || word == "date") {
    std::optional<int64_t> t = ParseDatetimeTicks(text);
    if (!t) t = fn::ParseDateTime(text);  // the other forms datetime() takes
    if (!t) return std::nullopt;
    return JsonString(FormatDatetime(*t));
  }
  if (word == "timespan" || word == "time") {
    std::optional<int64_t> t = ParseTimespanText(text);
    if (!t) return std::nullopt;
    return JsonString(FormatTimespan(*t));
  }
  if (word == "guid") {
    if (!IsGuidText(text)) return std::nullopt;
    return JsonString(*fn::ParseGuid(text));
  }
  // Numbers and bools are written bare, as in scalar literals: long(5), real(-1.5), bool(true).
  text = Trimmed(inner);
  if (word == "bool" || word == "boolean") {
    std::optional<bool> b = fn::ParseBool(text);
    if (!b) return std::nullopt;
    return *b ? "true" : "false";
  }
  if (word == "long" || word == "int") {
    std::optional<int64_t> v = IntegerLiteral(text, word == "int");
    if (!v) return std::nullopt;
    return std::to_string(*v);
  }
  // real, double, decimal, read as the lexer reads a number (from_chars stays linear in a huge
  // one); JSON has no NaN or infinity.
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return bj::serialize(bj::value(v));
}

// A timespan literal written bare (1h, 1.5d, 100ms) starting at text[i]: its ticks, and in
// *end the index past it; nullopt for a plain number.
std::optional<int64_t> BareTimespanAt(std::string_view text, size_t i, size_t* end) {
  size_t j = i;
  while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
  size_t k = j;
  while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
  if (k == j) return std::nullopt;
  int64_t unit = TimespanUnitTicks(text.substr(j, k - j)).value_or(0);
  double amount = 0;
  auto [stop, ec] = std::from_chars(text.data() + i, text.data() + j, amount);
  if (unit == 0 || ec != std::errc() || stop != text.data() + j) return std::nullopt;
  double ticks = amount * static_cast<double>(unit);
  if (!(std::fabs(ticks) < 9.2e18)) return std::nullopt;
  *end = k;
  return static_cast<int64_t>(std::llround(ticks));
}

// Rewrites a dynamic literal's text as JSON into one output in a single pass: nested
// dynamic(...) is normalized in place (at most kMaxDepth deep) and ends at its own ')', and
// every other typed literal is scanned to its ')' once and then consumed, so each character is
// looked at a bounded number of times however the literals nest (a request body may hold
// megabytes of them, and binding has no deadline). The first typed literal that does not read
// as its type fails the whole text: its bare word would have made the JSON invalid anyway.
class DynamicNormalizer {
 public:
  explicit DynamicNormalizer(std::string_view text) : text_(text) { out_.reserve(text.size()); }

  std::optional<std::string> Run() {
    std::optional<size_t> end = Level(0, 0);
    if (!end) return std::nullopt;
    return std::move(out_);
  }

 private:
  static constexpr int kMaxDepth = 64;

  // Appends text_[i, ...) up to the ')' that closes this level (depth > 0) or the end; returns
  // that ')''s index (text_.size() at the end), nullopt when invalid.
  std::optional<size_t> Level(size_t i, int depth);
  // text_[i] starts a word: appends it, or the typed literal it starts; returns the index of
  // the last character consumed, nullopt when the typed literal is invalid.
  std::optional<size_t> Word(size_t i, int depth);
  // Appends the string that starts at text_[i] (a quote) as JSON; returns its closing quote.
  size_t Quoted(size_t i);
  // Appends the number or bare timespan that starts at text_[i]; returns its last index.
  size_t Number(size_t i);

  std::string_view text_;
  std::string out_;
};

std::optional<size_t> DynamicNormalizer::Level(size_t i, int depth) {
  int parens = 0;  // untyped parentheses open in this level
  for (; i < text_.size(); ++i) {
    char ch = text_[i];
    if (ch == '"' || ch == '\'') {
      i = Quoted(i);
    } else if (std::isalpha(static_cast<unsigned char>(ch)) && depth < kMaxDepth) {
      std::optional<size_t> last = Word(i, depth);
      if (!last) return std::nullopt;
      i = *last;
    } else if (std::isdigit(static_cast<unsigned char>(ch)) &&
               (i == 0 ||
                !(std::isalnum(static_cast<unsigned char>(text_[i - 1])) || text_[i - 1] == '.'))) {
      i = Number(i);
    } else if (ch == ')' && parens == 0 && depth > 0) {
      return i;
    } else {
      parens += ch == '(' ? 1 : ch == ')' && parens > 0 ? -1 : 0;
      out_ += ch;
    }
  }
  if (depth > 0) return std::nullopt;  // dynamic( without its ')'
  return i;
}

std::optional<size_t> DynamicNormalizer::Word(size_t i, int depth) {
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  size_t j = i;
  while (j < text_.size() && word_char(text_[j])) ++j;
  std::string_view word = text_.substr(i, j - i);
  size_t open = j;
  while (open < text_.size() && std::isspace(static_cast<unsigned char>(text_[open]))) ++open;
  static constexpr std::string_view kTyped[] = {"dynamic", "datetime", "date",   "guid", "long",
                                                "int",     "real",     "double", "bool", "boolean",
                                                "decimal", "timespan", "time"};
  bool typed = std::find(std::begin(kTyped), std::end(kTyped), word) != std::end(kTyped);
  if (!typed || open >= text_.size() || text_[open] != '(') {
    out_.append(word);  // left for the JSON parser (true, false, null; anything else fails)
    return j - 1;
  }
  if (word == "dynamic") {
    size_t mark = out_.size();
    std::optional<size_t> close = Level(open + 1, depth + 1);
    if (!close) return std::nullopt;
    if (Unquoted(text_.substr(open + 1, *close - open - 1)).empty()) {  // dynamic(), dynamic('')
      out_.resize(mark);
      out_ += "null";
    }
    return close;
  }
  size_t close = MatchingParen(text_, open);
  if (close == std::string_view::npos) return std::nullopt;
  std::optional<std::string> json =
      ScalarLiteralJson(word, text_.substr(open + 1, close - open - 1));
  if (!json) return std::nullopt;
  out_ += *json;
  return close;
}

size_t DynamicNormalizer::Quoted(size_t i) {
  size_t j = i + 1;
  if (text_[i] == '"') {  // copied verbatim
    while (j < text_.size() && text_[j] != '"') j += text_[j] == '\\' ? 2 : 1;
    out_.append(text_.substr(i, j + 1 - i));
    return j;
  }
  std::string inner;  // 'single quoted' -> "double quoted"
  for (; j < text_.size() && text_[j] != '\''; ++j) {
    if (text_[j] == '\\' && j + 1 < text_.size()) ++j;
    inner += text_[j];
  }
  out_ += JsonString(inner);
  return j;
}

size_t DynamicNormalizer::Number(size_t i) {
  size_t end = i;
  std::optional<int64_t> ticks = BareTimespanAt(text_, i, &end);
  if (!ticks) {
    out_ += text_[i];
    return i;
  }
  int64_t v = *ticks;
  if (!out_.empty() && out_.back() == '-') {  // -1h
    out_.pop_back();
    v = -v;
  }
  out_ += JsonString(FormatTimespan(v));
  return end - 1;
}

}  // namespace

// An invalid typed literal gives "", which no JSON parser accepts.
std::string NormalizeDynamicText(std::string_view text) {
  return DynamicNormalizer(text).Run().value_or("");
}

Column IntConstant(Type t, int64_t v) {
  Column c = Column::Constant(t);
  c.AppendInt(v);
  return c;
}
Column RealConstant(double v) {
  Column c = Column::Constant(Type::kReal);
  c.AppendReal(v);
  return c;
}
Column StringConstant(Type t, std::string v) {
  Column c = Column::Constant(t);
  c.AppendString(std::move(v));
  return c;
}

namespace {

// Appends `rows` codes of `src` to `dst`, both coded with different dictionaries: src's
// entries are looked up in dst's (the new ones appended to a copy of it) and its codes
// translated, so that chunks with dictionaries of their own concatenate without a string per
// row. False, nothing changed, when the union would pass kMaxDictEntries.
bool AppendMergingDictionaries(Column& dst, const Column& src, size_t rows) {
  const std::vector<std::string>& dd = *dst.dict;
  const std::vector<std::string>& sd = *src.dict;
  std::unordered_map<std::string_view, Code> index;
  index.reserve(dd.size());
  for (size_t i = 0; i < dd.size(); ++i) index.emplace(dd[i], static_cast<Code>(i));
  std::vector<Code> remap(sd.size());
  std::vector<size_t> added;
  for (size_t e = 0; e < sd.size(); ++e) {
    auto it = index.find(sd[e]);
    if (it != index.end()) {
      remap[e] = it->second;
      continue;
    }
    size_t code = dd.size() + added.size();
    if (code >= kMaxDictEntries) return false;
    remap[e] = static_cast<Code>(code);
    index.emplace(sd[e], remap[e]);
    added.push_back(e);
  }
  if (!added.empty()) {
    auto merged = std::make_shared<std::vector<std::string>>(dd);
    for (size_t e : added) merged->push_back(sd[e]);
    dst.dict = std::move(merged);
  }
  for (size_t r = 0; r < rows; ++r) dst.codes.push_back(remap[src.codes[r]]);
  return true;
}

}  // namespace

void AppendRows(Column& dst, const Column& src, size_t rows) {
  if (src.constant) {
    for (size_t r = 0; r < rows; ++r) dst.AppendFrom(src, 0);
    return;
  }
  size_t before = dst.stored();
  if (src.HasNulls() && !dst.HasNulls()) dst.nulls.assign(before, 0);
  if (UsesInts(dst.type)) {
    dst.ints.insert(dst.ints.end(), src.ints.begin(), src.ints.begin() + static_cast<ptrdiff_t>(rows));
  } else if (UsesReals(dst.type)) {
    dst.reals.insert(dst.reals.end(), src.reals.begin(), src.reals.begin() + static_cast<ptrdiff_t>(rows));
  } else if (src.coded() && (dst.dict == src.dict || (before == 0 && !dst.coded()))) {
    dst.dict = src.dict;  // same dictionary (or an empty destination): the codes suffice
    dst.strings.clear();
    dst.chars.clear();
    dst.offsets.clear();
    dst.codes.insert(dst.codes.end(), src.codes.begin(), src.codes.begin() + static_cast<ptrdiff_t>(rows));
  } else if (src.coded() && dst.coded() && AppendMergingDictionaries(dst, src, rows)) {
    // codes translated into dst's dictionary
  } else if (src.packed() && (dst.packed() || before == 0) && dst.chars.size() + src.offsets[rows] <= kMaxPackedChars) {
    // Packed onto packed (or an empty destination): the bytes in one copy, the offsets moved.
    if (!dst.packed()) dst.StartPacked(rows, src.offsets[rows]);
    const uint32_t base = static_cast<uint32_t>(dst.chars.size());
    dst.chars.append(src.chars.data(), src.offsets[rows]);
    for (size_t r = 1; r <= rows; ++r) dst.offsets.push_back(base + src.offsets[r]);
  } else if (src.coded() || dst.coded() || src.packed() || dst.packed()) {
    dst.Flatten();
    for (size_t r = 0; r < rows; ++r) dst.strings.emplace_back(src.Str(r));
  } else {
    dst.strings.insert(dst.strings.end(), src.strings.begin(), src.strings.begin() + static_cast<ptrdiff_t>(rows));
  }
  if (dst.HasNulls()) {
    if (src.HasNulls()) {
      dst.nulls.insert(dst.nulls.end(), src.nulls.begin(), src.nulls.begin() + static_cast<ptrdiff_t>(rows));
    } else {
      dst.nulls.resize(before + rows, 0);
    }
  }
}

namespace {

template <typename Index>
Column GatherBy(const Column& src, std::span<const Index> idx) {
  Column out(src.type);
  if (src.constant) {
    out = src;
    return out;
  }
  if (UsesInts(src.type)) {
    out.ints.resize(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) out.ints[i] = src.ints[idx[i]];
  } else if (UsesReals(src.type)) {
    out.reals.resize(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) out.reals[i] = src.reals[idx[i]];
  } else if (src.coded()) {
    out.dict = src.dict;
    out.codes.resize(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) out.codes[i] = src.codes[idx[i]];
  } else if (src.packed()) {
    size_t bytes = 0;
    for (Index i : idx) bytes += src.offsets[i + 1] - src.offsets[i];
    if (bytes <= kMaxPackedChars) {
      out.StartPacked(idx.size(), bytes);
      for (Index i : idx) {
        out.chars.append(src.chars.data() + src.offsets[i], src.offsets[i + 1] - src.offsets[i]);
        out.offsets.push_back(static_cast<uint32_t>(out.chars.size()));
      }
    } else {
      out.strings.reserve(idx.size());
      for (Index i : idx) out.strings.emplace_back(src.Str(i));
    }
  } else {
    out.strings.resize(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) out.strings[i] = src.strings[idx[i]];
  }
  if (src.HasNulls()) {
    out.nulls.resize(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) out.nulls[i] = src.nulls[idx[i]];
  }
  return out;
}

}  // namespace

Column Gather(const Column& src, const std::vector<uint32_t>& idx) {
  return GatherBy(src, std::span<const uint32_t>(idx));
}
Column Gather(const Column& src, const std::vector<Code>& idx) { return GatherBy(src, std::span<const Code>(idx)); }
Column Gather(const Column& src, std::span<const uint32_t> idx) { return GatherBy(src, idx); }

Table GatherTable(const Table& src, const std::vector<uint32_t>& idx) {
  Table out;
  out.name = src.name;
  out.names = src.names;
  out.rows = idx.size();
  out.columns.reserve(src.columns.size());
  for (const Column& c : src.columns) out.columns.push_back(Gather(c, idx));
  return out;
}

Table GatherTable(const Chunk& src, const std::vector<uint32_t>& idx) {
  Table out;
  out.rows = idx.size();
  out.columns.reserve(src.width());
  for (size_t i = 0; i < src.width(); ++i) out.columns.push_back(Gather(src.col(i), idx));
  out.names.resize(src.width());
  return out;
}

Chunk GatherChunk(const Chunk& src, const std::vector<uint32_t>& idx) {
  Chunk out;
  out.rows = idx.size();
  for (size_t i = 0; i < src.width(); ++i) {
    if (src.col(i).constant) out.AddShared(src.shared(i));
    else out.Add(Gather(src.col(i), idx));
  }
  return out;
}

namespace {

bool SameConstant(const Column& a, const Column& b) {
  if (!a.constant || !b.constant || a.type != b.type || a.stored() == 0 || b.stored() == 0) return false;
  if (a.IsNull(0) != b.IsNull(0)) return false;
  if (a.IsNull(0)) return true;
  if (UsesInts(a.type)) return a.Int(0) == b.Int(0);
  if (UsesReals(a.type)) return a.Real(0) == b.Real(0) || (std::isnan(a.Real(0)) && std::isnan(b.Real(0)));
  return a.Str(0) == b.Str(0);
}

}  // namespace

void AppendTable(Table& dst, Chunk&& src, bool keep_constants) {
  if (dst.rows == 0) {
    dst.rows = src.rows;
    dst.columns.resize(src.width());
    dst.names.resize(src.width());
    for (size_t i = 0; i < src.width(); ++i) {
      dst.columns[i] = src.Take(i);
      if (!keep_constants) dst.columns[i].Materialize(dst.rows);
    }
    return;
  }
  for (size_t i = 0; i < dst.columns.size(); ++i) {
    Column& d = dst.columns[i];
    if (d.constant) {
      if (SameConstant(d, src.col(i))) continue;
      d.Materialize(dst.rows);
    }
    AppendRows(d, src.col(i), src.rows);
  }
  dst.rows += src.rows;
}

Table EmptyTable(const Schema& schema) {
  Table t;
  for (const ColumnSchema& c : schema) t.AddColumn(c.name, Column(c.type));
  return t;
}

std::string FormatDatetime(int64_t ticks) {
  return FormatRfc3339(TimePoint(std::chrono::nanoseconds(ticks * 100)), 7);
}

std::string FormatReal(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

namespace {

// `s` quoted and escaped as Boost.JSON's serializer does (\b \t \n \f \r by name, the other
// controls as \u00xx, quote and backslash), so that ValueToJson's text is what it was when it
// called bj::serialize. Runs without an escape are copied whole.
void AppendQuoted(std::string_view s, std::string& out) {
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    size_t clean = i;
    while (clean < s.size()) {
      auto u = static_cast<unsigned char>(s[clean]);
      if (u < 0x20 || u == '"' || u == '\\') break;
      ++clean;
    }
    out.append(s.data() + i, clean - i);
    if (clean == s.size()) break;
    auto u = static_cast<unsigned char>(s[clean]);
    static constexpr char kNamed[] = "uuuuuuuubtnufruuuuuuuuuuuuuuuuuu";
    if (u == '"' || u == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(u));
    } else if (kNamed[u] != 'u') {
      out.push_back('\\');
      out.push_back(kNamed[u]);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out.append("\\u00");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
    i = clean + 1;
  }
  out.push_back('"');
}

}  // namespace

std::string ValueToJson(const Column& c, size_t row) {
  std::string out;
  AppendValueJson(c, row, out);
  return out;
}

void AppendValueJson(const Column& c, size_t row, std::string& out) {
  if (c.IsNull(row)) {
    out += "null";
    return;
  }
  switch (c.type) {
    case Type::kBool: out += c.Int(row) ? "true" : "false"; return;
    case Type::kInt:
    case Type::kLong: {
      char buf[24];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, c.Int(row));
      (void)ec;  // 24 bytes hold any int64
      out.append(buf, end);
      return;
    }
    case Type::kReal:
    case Type::kDecimal: {
      double v = c.Real(row);
      if (std::isfinite(v)) out += FormatReal(v);
      else AppendQuoted(FormatReal(v), out);
      return;
    }
    case Type::kDateTime: AppendQuoted(FormatDatetime(c.Int(row)), out); return;
    case Type::kTimespan: AppendQuoted(FormatTimespan(c.Int(row)), out); return;
    case Type::kString:
    case Type::kGuid: AppendQuoted(c.Str(row), out); return;
    case Type::kDynamic: out += c.Str(row); return;
  }
  out += "null";
}

std::string ValueToText(const Column& c, size_t row) {
  if (c.IsNull(row)) return "";
  switch (c.type) {
    case Type::kString:
    case Type::kGuid:
    case Type::kDynamic: return std::string(c.Str(row));
    case Type::kDateTime: return FormatDatetime(c.Int(row));
    case Type::kTimespan: return FormatTimespan(c.Int(row));
    default: return ValueToJson(c, row);
  }
}

std::optional<int64_t> ParseDatetimeTicks(std::string_view text) {
  std::string s(text);
  for (const std::string& suffix : {std::string(), std::string("Z"), std::string(":00Z"),
                                    std::string("T00:00:00Z")}) {
    Result<TimePoint> t = ParseRfc3339(s + suffix);
    if (t.ok()) return t->time_since_epoch().count() / 100;
  }
  return std::nullopt;
}

void AppendConverted(Column& dst, std::string_view text, bool text_is_json) {
  std::string plain(text);
  if (text_is_json) {
    boost::system::error_code ec;
    bj::value v = bj::parse(text, ec);
    if (!ec && v.is_string()) plain = std::string(v.get_string());
    if (!ec && v.is_null()) {
      dst.AppendNull();
      return;
    }
  }
  if (dst.type == Type::kDynamic) {
    dst.AppendString(text_is_json ? std::string(text) : bj::serialize(bj::value(bj::string_view(plain))));
    return;
  }
  if (dst.type == Type::kString || dst.type == Type::kGuid) {
    dst.AppendString(std::move(plain));
    return;
  }
  const char* b = plain.data();
  const char* e = plain.data() + plain.size();
  if (dst.type == Type::kBool) {
    if (plain == "true" || plain == "True" || plain == "1") return dst.AppendInt(1);
    if (plain == "false" || plain == "False" || plain == "0") return dst.AppendInt(0);
  } else if (dst.type == Type::kInt || dst.type == Type::kLong) {
    int64_t v = 0;
    auto r = std::from_chars(b, e, v);
    if (r.ec == std::errc() && r.ptr == e) return dst.AppendInt(v);
  } else if (UsesReals(dst.type)) {
    double v = 0;
    auto r = std::from_chars(b, e, v);
    if (r.ec == std::errc() && r.ptr == e) return dst.AppendReal(v);
  } else if (dst.type == Type::kDateTime) {
    if (auto t = ParseDatetimeTicks(plain)) return dst.AppendInt(*t);
  } else if (dst.type == Type::kTimespan) {
    if (auto t = ParseTimespanText(plain)) return dst.AppendInt(*t);
  }
  dst.AppendNull();
}

void EncodeKey(const Column& c, size_t row, std::string& out) {
  if (c.IsNull(row)) {
    out.push_back('\0');
    return;
  }
  if (UsesStrings(c.type)) {
    EncodeStringKey(c.Str(row), out);
    return;
  }
  out.push_back('\1');
  if (UsesInts(c.type)) {
    int64_t v = c.Int(row);
    out.append(reinterpret_cast<const char*>(&v), sizeof(v));
  } else {
    double v = c.Real(row);
    if (v == 0) v = 0;  // -0.0 and 0.0 group together.
    out.append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
}

void EncodeStringKey(std::string_view s, std::string& out) {
  out.push_back('\1');
  uint32_t n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof(n));
  out.append(s);
}

int CompareValues(const Column& a, size_t i, const Column& b, size_t j) {
  if (UsesInts(a.type)) {
    int64_t x = a.Int(i), y = b.Int(j);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (UsesReals(a.type)) {
    double x = a.Real(i), y = b.Real(j);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  int c = a.Str(i).compare(b.Str(j));
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

}  // namespace cmk::kql

