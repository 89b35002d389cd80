// List membership: in, !in, in~, !in~ (value first, then items; a dynamic array item is flattened
// one level) and has_any / has_all / has_any_index. Constant item lists become a hash set once per
// eval call. Values and items are compared through a canonical key text per domain (numbers by
// value, so 1 in (1.0) holds; datetimes and timespans by ticks; strings as is or lower-cased for
// in~).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <unordered_set>
#include <vector>

#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"
#include "kql/functions/functions.h"
#include "kql/functions/has_list.h"

namespace cmk::kql::fn {

// string_operators.cc
bool HasTermForList(std::string_view hay, std::string_view lowered_needle);
std::vector<uint64_t> HasTermsForList(std::string_view lowered_needle);
std::vector<TermTest> HasPiecesForList(std::string_view lowered_needle);
std::function<size_t(std::string_view, size_t)> HasFinderForList(std::string lowered_needle);

// Lists of more needles than this are matched by one HasList pass over a value, not by a search
// of it per needle (which is faster for a few: each search skips through the text by SIMD).
constexpr size_t kSearchedNeedles = 8;
// A row's own list (not constant) is built into a HasList for that row alone when its searches
// would compare more than this (needles times text bytes): building one costs more than a few
// searches of a short text.
constexpr size_t kRowListWork = size_t{1} << 16;

namespace {

enum class Domain { kNumber, kTicks, kString, kDynamic };

Domain DomainOf(Type t) {
  if (IsNumeric(t) || t == Type::kBool) return Domain::kNumber;
  if (t == Type::kDateTime || t == Type::kTimespan) return Domain::kTicks;
  if (t == Type::kDynamic) return Domain::kDynamic;
  return Domain::kString;
}

struct KeyMaker {
  Domain domain;
  Type type;  // the value's type (after conversion of a dynamic value)
  bool ci;

  std::optional<std::string> OfRow(const Column& c, size_t i) const {
    if (c.IsNull(i)) return std::nullopt;
    switch (domain) {
      case Domain::kNumber: return FormatReal(NumAt(c, i));
      case Domain::kTicks: return std::to_string(c.Int(i));
      case Domain::kString: return ci ? LowerAsciiCopy(c.Str(i)) : std::string(c.Str(i));
      case Domain::kDynamic: {
        auto v = ParseJson(c.Str(i));
        return v ? OfJson(*v) : std::nullopt;
      }
    }
    return std::nullopt;
  }

  std::optional<std::string> OfJson(const bj::value& v) const {
    if (v.is_null()) return std::nullopt;
    switch (domain) {
      case Domain::kNumber: {
        if (v.is_number()) return FormatReal(v.to_number<double>());
        if (v.is_bool()) return FormatReal(v.get_bool() ? 1 : 0);
        auto r = v.is_string() ? ParseReal(v.get_string()) : std::nullopt;
        return r ? std::optional<std::string>(FormatReal(*r)) : std::nullopt;
      }
      case Domain::kTicks: {
        if (v.is_number() && type == Type::kTimespan) return std::to_string(v.to_number<int64_t>());
        if (!v.is_string()) return std::nullopt;
        auto t = type == Type::kTimespan ? ParseTimespan(v.get_string()) : ParseDateTime(v.get_string());
        return t ? std::optional<std::string>(std::to_string(*t)) : std::nullopt;
      }
      case Domain::kString: {
        std::string s = JsonScalarToString(v);
        return ci ? LowerAsciiCopy(s) : s;
      }
      case Domain::kDynamic: return WriteJson(v);
    }
    return std::nullopt;
  }

  // Keys of item row `i`: dynamic arrays contribute each element.
  template <typename Sink>
  void Items(const Column& c, size_t i, Sink sink) const {
    if (c.type == Type::kDynamic) {
      auto v = c.IsNull(i) ? std::nullopt : ParseJson(c.Str(i));
      if (!v) return;
      if (v->is_array()) {
        for (const bj::value& e : v->get_array()) {
          if (auto k = OfJson(e)) sink(std::move(*k));
        }
      } else if (auto k = OfJson(*v)) {
        sink(std::move(*k));
      }
      return;
    }
    if (auto k = OfRow(c, i)) sink(std::move(*k));
  }
};

// A double's bits, every NaN as one (FormatReal writes every NaN alike).
uint64_t RealBits(double v) {
  if (std::isnan(v)) v = std::numeric_limits<double>::quiet_NaN();
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}

// The constant items' key texts (FormatReal's numbers, ticks' decimal text) as the values they
// stand for; nullopt when one doesn't read back.
std::optional<std::vector<uint64_t>> NumericItems(Domain domain, const std::unordered_set<std::string>& texts) {
  std::vector<uint64_t> out;
  for (const std::string& t : texts) {
    const char* end = t.data() + t.size();
    if (domain == Domain::kTicks) {
      int64_t v = 0;
      auto r = std::from_chars(t.data(), end, v);
      if (r.ec != std::errc() || r.ptr != end) return std::nullopt;
      out.push_back(static_cast<uint64_t>(v));
      continue;
    }
    double v = 0;
    if (t == "NaN") v = std::numeric_limits<double>::quiet_NaN();
    else if (t == "Infinity") v = std::numeric_limits<double>::infinity();
    else if (t == "-Infinity") v = -std::numeric_limits<double>::infinity();
    else {
      auto r = std::from_chars(t.data(), end, v);
      if (r.ec != std::errc() || r.ptr != end) return std::nullopt;
    }
    out.push_back(RealBits(v));
  }
  return out;
}

Result<Type> InType(std::string_view fn, Types t) {
  for (size_t i = 1; i < t.size(); ++i) {
    if (!CommonType(t[0], t[i])) return ArgTypeError(fn, i, t[i], TypeName(t[0]));
  }
  return Type::kBool;
}

Result<Column> EvalIn(std::string_view fn, bool ci, bool negate, Args a, const FunctionContext& ctx) {
  std::vector<Type> types;
  for (const Column* c : a) types.push_back(c->type);
  RETURN_IF_ERROR(InType(fn, types));
  const Column* value = a[0];
  Column converted;
  if (value->type == Type::kDynamic) {
    for (size_t k = 1; k < a.size(); ++k) {
      if (a[k]->type != Type::kDynamic) {
        value = CoerceTo(value, a[k]->type, converted, ctx);
        break;
      }
    }
  }
  KeyMaker keys{DomainOf(value->type), value->type, ci};
  bool all_constant = true;
  for (size_t k = 1; k < a.size(); ++k) all_constant = all_constant && a[k]->constant;
  std::unordered_set<std::string> fixed;
  if (all_constant) {
    for (size_t k = 1; k < a.size(); ++k) keys.Items(*a[k], 0, [&](std::string s) { fixed.insert(std::move(s)); });
  }
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kBool, s);
  if (all_constant && (keys.domain == Domain::kNumber || keys.domain == Domain::kTicks)) {
    // A number or a time against constants: compared as the key texts would compare them, by
    // value, without a text per row (a number by its double's bits, NaN as one, -0 apart from
    // 0 as FormatReal writes them; ticks as they are).
    std::optional<std::vector<uint64_t>> items = NumericItems(keys.domain, fixed);
    if (items) {
      std::sort(items->begin(), items->end());
      for (size_t i = 0; i < s.rows; ++i) {
        if (value->IsNull(i)) continue;
        uint64_t v = keys.domain == Domain::kTicks ? static_cast<uint64_t>(value->Int(i)) : RealBits(NumAt(*value, i));
        bool found = items->size() <= 8 ? std::find(items->begin(), items->end(), v) != items->end()
                                        : std::binary_search(items->begin(), items->end(), v);
        out.ints[i] = found != negate;
      }
      return out;
    }
  }
  for (size_t i = 0; i < s.rows; ++i) {
    auto key = keys.OfRow(*value, i);
    if (!key) continue;  // a null value is in no list, and !in is false too
    bool found = false;
    if (all_constant) {
      found = fixed.count(*key) > 0;
    } else {
      for (size_t k = 1; k < a.size() && !found; ++k) {
        keys.Items(*a[k], i, [&](const std::string& item) { found = found || item == *key; });
      }
    }
    out.ints[i] = found != negate;
  }
  return out;
}

void AddIn(Registry& r, std::string_view name, bool ci, bool negate) {
  r.Operator({name, 2, -1, [name](Types t) { return InType(name, t); },
              [name, ci, negate](Args a, const FunctionContext& ctx) { return EvalIn(name, ci, negate, a, ctx); }});
}

// has_any / has_all: items are lower-cased needles (strings or dynamic arrays of them).
Result<Column> EvalHasList(bool all, Args a, const FunctionContext& ctx) {
  KeyMaker keys{Domain::kString, Type::kString, true};
  bool all_constant = true;
  for (size_t k = 1; k < a.size(); ++k) all_constant = all_constant && a[k]->constant;
  std::vector<std::string> needles;
  auto collect = [&](size_t row) {
    needles.clear();
    for (size_t k = 1; k < a.size(); ++k) keys.Items(*a[k], row, [&](std::string s) { needles.push_back(std::move(s)); });
  };
  std::optional<HasList> list;
  MemoryReservation held(ctx.budget, all ? "has_all()" : "has_any()");
  auto make_list = [&]() -> Status {
    size_t text = 0;
    for (const std::string& n : needles) text += n.size();
    RETURN_IF_ERROR(ReserveForNeedles(all ? "has_all()" : "has_any()", needles.size(), text, held));
    list.emplace(needles);
    return OkStatus();
  };
  if (all_constant) {
    collect(0);
    if (needles.size() > kSearchedNeedles) RETURN_IF_ERROR(make_list());
  }
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kBool, s);
  std::string scratch;
  for (size_t i = 0; i < s.rows; ++i) {
    if (!all_constant) collect(i);
    const Column& v = *a[0];
    std::string_view hay = v.type == Type::kString ? std::string_view(v.Str(i)) : (scratch = ValueToString(v, i));
    if (!all_constant) {  // a row's own list: as one when searching it needle by needle costs much
      list.reset();
      if (needles.size() > kSearchedNeedles && needles.size() * hay.size() > kRowListWork) RETURN_IF_ERROR(make_list());
    }
    bool result = all;
    if (list) {
      result = all ? list->All(hay) : list->Any(hay);
    } else {
      for (const std::string& n : needles) {
        if (HasTermForList(hay, n) != all) {
          result = !all;
          break;
        }
      }
    }
    out.ints[i] = result;
  }
  return out;
}

// has_any_index(source, values): index of the first item of `values` that `has` finds, or -1.
Result<Column> EvalHasAnyIndex(Args a, const FunctionContext& ctx) {
  std::vector<std::optional<std::string>> needles;  // by position; nullopt never matches
  auto collect = [&](size_t row) {
    needles.clear();
    auto v = a[1]->IsNull(row) ? std::nullopt : ParseJson(a[1]->Str(row));
    if (!v || !v->is_array()) return;
    for (const bj::value& e : v->get_array()) {
      bool scalar = e.is_string() || e.is_number() || e.is_bool();
      needles.push_back(scalar ? std::optional(LowerAsciiCopy(JsonScalarToString(e)))
                               : std::nullopt);
    }
  };
  // A long list as one HasList (a null item, like an empty one, never found).
  std::optional<HasList> list;
  MemoryReservation held(ctx.budget, "has_any_index()");
  auto make_list = [&](bool constant, size_t text) -> Status {
    list.reset();
    if (needles.size() <= kSearchedNeedles || (!constant && needles.size() * text <= kRowListWork)) return OkStatus();
    std::vector<std::string> texts;
    texts.reserve(needles.size());
    size_t bytes = 0;
    for (const auto& n : needles) bytes += texts.emplace_back(n.value_or("")).size();
    RETURN_IF_ERROR(ReserveForNeedles("has_any_index()", texts.size(), bytes, held));
    list.emplace(texts);
    return OkStatus();
  };
  if (a[1]->constant) {
    collect(0);
    RETURN_IF_ERROR(make_list(true, 0));
  }
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kLong, s);
  std::string scratch;
  for (size_t i = 0; i < s.rows; ++i) {
    if (!a[1]->constant) collect(i);
    const Column& v = *a[0];
    std::string_view hay =
        v.type == Type::kString ? std::string_view(v.Str(i)) : (scratch = ValueToString(v, i));
    if (!a[1]->constant) RETURN_IF_ERROR(make_list(false, hay.size()));  // (as has_any's row lists)
    if (list) {
      size_t first = list->First(hay);
      out.ints[i] = first == std::string_view::npos ? -1 : static_cast<int64_t>(first);
      continue;
    }
    auto hit = std::find_if(needles.begin(), needles.end(), [&](const auto& n) {
      return n && !n->empty() && HasTermForList(hay, *n);
    });
    out.ints[i] = hit == needles.end() ? -1 : hit - needles.begin();
  }
  return out;
}

}  // namespace

void RegisterInOps(Registry& r) {
  r.Function({"has_any_index", 2, 2,
              [](Types t) -> Result<Type> {
                if (t[1] != Type::kDynamic)
                  return ArgTypeError("has_any_index", 1, t[1], "dynamic");
                return Type::kLong;
              },
              EvalHasAnyIndex});
  AddIn(r, "in", false, false);
  AddIn(r, "!in", false, true);
  AddIn(r, "in~", true, false);
  AddIn(r, "!in~", true, true);
  r.Operator({"has_any", 1, -1, Returns(Type::kBool),
              [](Args a, const FunctionContext& c) { return EvalHasList(false, a, c); }});
  r.Operator({"has_all", 1, -1, Returns(Type::kBool),
              [](Args a, const FunctionContext& c) { return EvalHasList(true, a, c); }});
}

}  // namespace cmk::kql::fn

namespace cmk::kql {

namespace {

// `in` / `in~` over strings: a kept value is one of the items (as EvalIn: `in~` lower-cases
// ASCII), so it holds every term of one item whole.
ValueTest StringInValueTest(bool ci, std::span<const Column* const> items, size_t max_items) {
  fn::KeyMaker keys{fn::Domain::kString, Type::kString, ci};
  std::vector<std::string> list;
  for (const Column* c : items) {
    if (!c->constant || c->stored() != 1 || (c->type != Type::kString && c->type != Type::kDynamic)) return {};
    keys.Items(*c, 0, [&](std::string s) { list.push_back(std::move(s)); });
    if (list.size() > max_items) return {};
  }
  std::sort(list.begin(), list.end());
  list.erase(std::unique(list.begin(), list.end()), list.end());
  ValueTest t;
  for (const std::string& item : list) {
    std::vector<uint64_t> terms = StringValueTest("==", item).terms;
    if (terms.empty()) {  // an item without terms ("", "-"): any block may hold it
      t.any_terms.clear();
      break;
    }
    t.any_terms.push_back(std::move(terms));
  }
  t.keep = [list = std::move(list), ci](std::string_view v) {
    if (!ci) return std::binary_search(list.begin(), list.end(), v, std::less<>());
    std::string lowered = fn::LowerAsciiCopy(v);
    return std::binary_search(list.begin(), list.end(), lowered);
  };
  return t;
}

}  // namespace

ValueTest StringListValueTest(std::string_view op, std::span<const Column* const> items) {
  // The test runs on the store's reader threads, value by value, outside the query's time
  // budget: an `in` list longer than kMaxNeedles is left to the executor. A has_any/has_all
  // list of any length costs a value's text once (fn::HasList past kSearchedNeedles).
  constexpr size_t kMaxNeedles = 64, kMaxTerms = 8;
  if (op == "in" || op == "in~") return StringInValueTest(op == "in~", items, kMaxNeedles);
  bool all = op == "has_all";
  if (!all && op != "has_any") return {};
  // As EvalHasList: items lower-cased, a dynamic array flattened one level.
  fn::KeyMaker keys{fn::Domain::kString, Type::kString, true};
  std::vector<std::string> needles;
  for (const Column* c : items) {
    if (!c->constant || c->stored() != 1) return {};
    keys.Items(*c, 0, [&](std::string s) { needles.push_back(std::move(s)); });
  }
  ValueTest t;
  if (needles.size() > fn::kSearchedNeedles) {
    size_t text = 0;
    for (const std::string& n : needles) text += n.size();
    if (fn::NeedleListBytes(needles.size(), text) > fn::kMaxListBytes) return {};  // (the executor refuses it)
    auto list = std::make_shared<const fn::HasList>(needles);
    t.keep = [list, all](std::string_view v) { return all ? list->All(v) : list->Any(v); };
  } else {
    t.keep = [needles, all](std::string_view v) {
      for (const std::string& n : needles) {
        if (fn::HasTermForList(v, n) != all) return !all;
      }
      return all;
    };
  }
  // A kept value passes the term tests (ValueTest::term_candidates) of every needle (has_all:
  // those of the longest needles, at most kMaxPieces) or of one (has_any, of up to
  // kMaxPieceNeedles needles, at most 2 tests each). Each test costs a search of a block's terms.
  constexpr size_t kMaxPieces = 4, kMaxPieceNeedles = 8;
  if (all) {
    std::vector<const std::string*> longest;
    for (const std::string& n : needles) longest.push_back(&n);
    std::stable_sort(longest.begin(), longest.end(),
                     [](const std::string* x, const std::string* y) { return x->size() > y->size(); });
    std::vector<TermTest> pieces;
    for (size_t k = 0; k < longest.size() && pieces.size() < kMaxPieces; ++k) {
      for (TermTest& p : fn::HasPiecesForList(*longest[k])) {
        if (pieces.size() < kMaxPieces) pieces.push_back(std::move(p));
      }
    }
    if (!pieces.empty()) t.term_candidates.push_back(std::move(pieces));
  } else if (!needles.empty() && needles.size() <= kMaxPieceNeedles) {
    for (const std::string& n : needles) {
      std::vector<TermTest> pieces = fn::HasPiecesForList(n);
      if (pieces.empty()) {  // a needle without terms: any value may hold it
        t.term_candidates.clear();
        break;
      }
      if (pieces.size() > 2) pieces.resize(2);
      t.term_candidates.push_back(std::move(pieces));
    }
  }
  // has_all: every needle occurs in a kept value; the longest is searched for, and the terms of
  // all are required (at most 8 of them). has_any: one needle's terms, whichever; no search.
  if (all) {
    const std::string* longest = nullptr;
    for (const std::string& n : needles) {
      if (!n.empty() && (longest == nullptr || n.size() > longest->size())) longest = &n;
      std::vector<uint64_t> terms = fn::HasTermsForList(n);
      t.terms.insert(t.terms.end(), terms.begin(), terms.end());
    }
    std::sort(t.terms.begin(), t.terms.end());
    t.terms.erase(std::unique(t.terms.begin(), t.terms.end()), t.terms.end());
    if (t.terms.size() > kMaxTerms) t.terms.resize(kMaxTerms);
    if (longest != nullptr) t.find = fn::HasFinderForList(*longest);
  } else if (!needles.empty()) {
    for (const std::string& n : needles) {
      std::vector<uint64_t> terms = fn::HasTermsForList(n);
      if (terms.empty()) {  // a needle without terms: any block may hold it
        t.any_terms.clear();
        break;
      }
      t.any_terms.push_back(std::move(terms));
    }
  }
  return t;
}

}  // namespace cmk::kql
