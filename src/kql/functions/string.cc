// String functions: strlen, substring, tolower, toupper, split, strcat, strcat_delim,
// replace_string, replace_strings, translate, strcmp, parse_csv, parse_command_line, indexof,
// reverse, strrep.
// Positions and lengths count Unicode code points of the UTF-8 text (Kusto counts characters);
// tolower/toupper change ASCII letters only.
// Non-string arguments are converted with tostring() semantics.
#include <algorithm>
#include <cstring>
#include <memory>

#include "kql/core/budget.h"
#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"
#include "kql/functions/has_list.h"

namespace cmk::kql::fn {
namespace {

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Code points: the bytes less the continuation bytes (10xxxxxx), counted a word at a time (a
// loop over bytes was vectorized widening each byte to 64 bits: a third of the profile of
// `extend l = strlen(Message) | summarize avg(l)`).
size_t Utf8Length(std::string_view s) {
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  constexpr uint64_t kEven = 0x00FF00FF00FF00FFULL;
  const char* p = s.data();
  size_t left = s.size();
  size_t continuations = 0;
  while (left >= 8) {
    // Each byte lane counts its continuation bytes, at most 255 words before the lanes are summed.
    size_t words = std::min<size_t>(left / 8, 255);
    uint64_t lanes = 0;
    for (size_t k = 0; k < words; ++k) {
      uint64_t w;
      std::memcpy(&w, p + 8 * k, 8);
      lanes += (w & ~(w << 1) & kHigh) >> 7;  // bit 7 set, bit 6 clear
    }
    lanes = (lanes & kEven) + ((lanes >> 8) & kEven);         // four 16-bit lanes, each <= 510
    continuations += (lanes * 0x0001000100010001ULL) >> 48;  // their sum, <= 2040
    p += 8 * words;
    left -= 8 * words;
  }
  for (; left > 0; --left, ++p) continuations += IsContinuation(*p) ? 1 : 0;
  return s.size() - continuations;
}

// Bytes of the code point starting at `i` (REQUIRES: i < s.size()).
size_t CharBytes(std::string_view s, size_t i) {
  size_t n = 1;
  while (i + n < s.size() && IsContinuation(s[i + n])) ++n;
  return n;
}

// Byte offset of code point `cp` (s.size() when past the end).
size_t Utf8Offset(std::string_view s, size_t cp) {
  size_t seen = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (IsContinuation(s[i])) continue;
    if (seen++ == cp) return i;
  }
  return s.size();
}

// Whether every byte of `s` is ASCII (below 0x80): the bytes OR-ed 4 KiB at a time (a loop
// the compiler vectorizes), a text that isn't ASCII usually found in its first 4 KiB.
bool AllAscii(std::string_view s) {
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  constexpr size_t kStep = 4096;
  const char* p = s.data();
  size_t n = s.size(), i = 0;
  uint64_t any = 0;
  for (; i + kStep <= n; i += kStep) {
    for (size_t k = 0; k < kStep; k += 8) {
      uint64_t w;
      std::memcpy(&w, p + i + k, 8);
      any |= w;
    }
    if ((any & kHigh) != 0) return false;
  }
  for (; i < n; ++i) any |= static_cast<unsigned char>(p[i]);
  return (any & kHigh) == 0;
}

Result<Column> EvalStrlen(Args a, const FunctionContext& ctx) {
  const Column& text = *a[0];
  Shape s = ShapeOf(a, ctx);
  // A packed column (an extent's plain text block) of ASCII text: each length is the
  // difference of two offsets, without reading the values (a pass over its bytes to know
  // there is no other byte: 43% of `summarize sum(strlen(Message))` over 10M rows was
  // counting code points value by value). A coded column: each dictionary entry counted once.
  if (text.type == Type::kString && !text.constant && s.rows == text.stored()) {
    if (text.packed() && AllAscii(text.chars)) {
      Column out = MakeColumn(Type::kLong, s);
      for (size_t i = 0; i < s.rows; ++i) out.ints[i] = static_cast<int64_t>(text.offsets[i + 1] - text.offsets[i]);
      return out;
    }
    if (text.coded()) {
      std::vector<int64_t> lengths(text.dict->size());
      for (size_t k = 0; k < lengths.size(); ++k) lengths[k] = static_cast<int64_t>(Utf8Length((*text.dict)[k]));
      Column out = MakeColumn(Type::kLong, s);
      for (size_t i = 0; i < s.rows; ++i) out.ints[i] = lengths[text.codes[i]];
      return out;
    }
  }
  std::string sc;
  return MapRows(a, ctx, Type::kLong, [&](Column& out, size_t i) {
    out.ints[i] = static_cast<int64_t>(Utf8Length(TextOf(text, i, sc)));
  });
}

// substring(source, start[, length]): a negative start counts from the end (the docs' rule and
// example: substring("123456", -2, 2) is "56"); one before the text's start takes it from 0.
Result<Column> EvalSubstring(Args a, const FunctionContext& ctx) {
  std::string sc;
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    if (a[1]->IsNull(i) || (a.size() > 2 && a[2]->IsNull(i))) return;
    std::string_view text = TextOf(*a[0], i, sc);
    int64_t start = a[1]->Int(i);
    if (start < 0) start = std::max<int64_t>(0, static_cast<int64_t>(Utf8Length(text)) + start);
    size_t from = Utf8Offset(text, static_cast<size_t>(start));
    size_t to = text.size();
    if (a.size() > 2) {
      int64_t len = a[2]->Int(i);
      if (len <= 0) return;
      to = from + Utf8Offset(text.substr(from), static_cast<size_t>(len));
    }
    out.strings[i] = std::string(text.substr(from, to - from));
  });
}

Result<Column> EvalCase(bool upper, Args a, const FunctionContext& ctx) {
  std::string sc;
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    std::string s(TextOf(*a[0], i, sc));
    for (char& ch : s) ch = upper ? UpperAscii(ch) : LowerAscii(ch);
    out.strings[i] = std::move(s);
  });
}

std::vector<std::string_view> SplitAll(std::string_view s, std::string_view delim) {
  std::vector<std::string_view> parts;
  if (delim.empty()) return {s};
  size_t pos = 0;
  for (size_t hit = FindText(s, delim); hit != std::string_view::npos; hit = FindText(s, delim, pos)) {
    parts.push_back(s.substr(pos, hit - pos));
    pos = hit + delim.size();
  }
  parts.push_back(s.substr(pos));
  return parts;
}

// split(source, delimiter[, index]) -> dynamic array (with index: that element only, [] if out of range).
Result<Column> EvalSplit(Args a, const FunctionContext& ctx) {
  std::string s1, s2;
  return MapRows(a, ctx, Type::kDynamic, [&](Column& out, size_t i) {
    if (a.size() > 2 && (a[2]->IsNull(i) || a[2]->Int(i) < 0)) return SetNull(out, i);
    auto parts = SplitAll(TextOf(*a[0], i, s1), TextOf(*a[1], i, s2));
    // The array's JSON text written directly (a boost::json array built and serialized per row
    // was most of `summarize count() by tostring(split(Message, " ")[0])`).
    std::string& text = out.strings[i];
    text.clear();
    text.push_back('[');
    if (a.size() > 2) {
      size_t idx = static_cast<size_t>(a[2]->Int(i));
      if (idx < parts.size()) AppendJsonString(parts[idx], text);
    } else {
      for (size_t k = 0; k < parts.size(); ++k) {
        if (k > 0) text.push_back(',');
        AppendJsonString(parts[k], text);
      }
    }
    text.push_back(']');
  });
}

Result<Column> EvalStrcat(size_t first, Args a, const FunctionContext& ctx) {
  std::string sc;
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    std::string s;
    for (size_t k = first; k < a.size(); ++k) {
      if (first == 1 && k > 1) s += TextOf(*a[0], i, sc);
      s += TextOf(*a[k], i, sc);
    }
    out.strings[i] = std::move(s);
  });
}

Result<Column> EvalReplaceString(Args a, const FunctionContext& ctx) {
  std::string s0, s1, s2;
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    std::string_view text = TextOf(*a[0], i, s0), lookup = TextOf(*a[1], i, s1);
    std::string_view rewrite = TextOf(*a[2], i, s2);
    if (lookup.empty()) {
      out.strings[i] = std::string(text);
      return;
    }
    std::string r;
    size_t pos = 0;
    for (size_t hit = FindText(text, lookup); hit != std::string_view::npos; hit = FindText(text, lookup, pos)) {
      r.append(text.substr(pos, hit - pos)).append(rewrite);
      pos = hit + lookup.size();
    }
    out.strings[i] = r.append(text.substr(pos));
  });
}

// indexof(source, lookup[, start[, length[, occurrence]]]): code point index or -1. A negative
// start counts from the end (-5 in "abcdefg" is 2); null when that is still before the text,
// for length below -1 or occurrence below 0. Each occurrence searches `length` characters from
// just after the previous hit, as the docs' examples show (indexof("abcdefgabcdefg", "cde", 1,
// 10, 2) is 9 although 9..11 runs past the first window).
Result<Column> EvalIndexOf(Args a, const FunctionContext& ctx) {
  std::string s0, s1;
  return MapRows(a, ctx, Type::kLong, [&](Column& out, size_t i) {
    if (AnyNull(a, i)) return SetNull(out, i);
    std::string_view text = TextOf(*a[0], i, s0), lookup = TextOf(*a[1], i, s1);
    int64_t start = a.size() > 2 ? a[2]->Int(i) : 0;
    int64_t length = a.size() > 3 ? a[3]->Int(i) : -1;
    int64_t occurrence = a.size() > 4 ? std::max<int64_t>(a[4]->Int(i), 1) : 1;
    if (start < 0) start += static_cast<int64_t>(Utf8Length(text));
    if (start < 0 || length < -1 || (a.size() > 4 && a[4]->Int(i) < 0)) return SetNull(out, i);
    size_t from = Utf8Offset(text, static_cast<size_t>(start));
    size_t hit = std::string_view::npos;
    for (int64_t k = 0; k < occurrence && from <= text.size(); ++k) {
      size_t limit = length < 0 ? text.size()
                                : from + Utf8Offset(text.substr(from), static_cast<size_t>(length));
      hit = FindText(text.substr(0, limit), lookup, from);
      if (hit == std::string_view::npos) break;
      from = hit + (hit < text.size() ? CharBytes(text, hit) : 1);
    }
    out.ints[i] = hit == std::string_view::npos ? -1 : static_cast<int64_t>(Utf8Length(text.substr(0, hit)));
  });
}

Result<Column> EvalReverse(Args a, const FunctionContext& ctx) {
  std::string sc;
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    std::string_view text = TextOf(*a[0], i, sc);
    std::string r;
    r.reserve(text.size());
    size_t end = text.size();
    while (end > 0) {  // copy code points back to front, each in its byte order
      size_t begin = end - 1;
      while (begin > 0 && IsContinuation(text[begin])) --begin;
      r.append(text.substr(begin, end - begin));
      end = begin;
    }
    out.strings[i] = std::move(r);
  });
}

// strrep(value, multiplier[, delimiter]); the multiplier is capped at 1024 as in Kusto.
// The output is checked against the query's memory budget before it is built, since nested
// strrep calls multiply (1024^3 bytes from a one-character string).
Result<Column> EvalStrrep(Args a, const FunctionContext& ctx) {
  std::string s0, s2;
  size_t total = 0;
  size_t limit = ctx.budget != nullptr ? ctx.budget->remaining() : SIZE_MAX;
  bool too_big = false;
  ASSIGN_OR_RETURN(Column out, MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    if (a[1]->IsNull(i) || too_big) return;
    int64_t n = std::min<int64_t>(a[1]->Int(i), 1024);
    if (n <= 0) return;
    std::string_view v = TextOf(*a[0], i, s0);
    std::string_view d = a.size() > 2 ? TextOf(*a[2], i, s2) : "";
    size_t size = static_cast<size_t>(n) * (v.size() + d.size());
    total += size;
    if (total > limit) {
      too_big = true;
      return;
    }
    std::string r;
    r.reserve(size);
    for (int64_t k = 0; k < n; ++k) r.append(k ? d : "").append(v);
    out.strings[i] = std::move(r);
  }));
  if (too_big) RETURN_IF_ERROR(ctx.budget->Charge(total, "strrep()"));  // fails, naming the limit
  return out;
}

// replace_strings(text, lookups, rewrites): one left-to-right pass; at each position the match
// that ends first wins, ties going to the earlier lookup (the docs' "This"/"Thwas" example);
// matches don't overlap. Non-string lookups are ignored; a non-string (or missing) rewrite keeps
// the matched text.
// replace_strings(text, lookups, rewrites): scanning the text, at each byte the earliest listed
// lookup ending there (and starting after the last replacement) is replaced: the docs' order
// rule ("This" before "is" keeps "This"). Many lookups, or long texts, go through one
// NeedleAutomaton pass: each lookup compared at each byte cost text x lookups (a row's own
// lists too, when that product is large).
Result<Column> EvalReplaceStrings(Args a, const FunctionContext& ctx) {
  std::string s0;
  auto strings_of = [](const Column& c, size_t i) {
    std::vector<std::optional<std::string>> out;
    auto v = c.IsNull(i) ? std::nullopt : ParseJson(c.Str(i));
    if (!v || !v->is_array()) return out;
    for (const bj::value& e : v->get_array()) {
      out.push_back(e.is_string() ? std::optional<std::string>(std::string(e.get_string()))
                                  : std::nullopt);
    }
    return out;
  };
  constexpr size_t kComparedLookups = 8, kRowWork = size_t{1} << 16;
  const bool constant = a[1]->constant && a[2]->constant;
  auto lookups = strings_of(*a[1], 0), rewrites = strings_of(*a[2], 0);
  std::unique_ptr<NeedleAutomaton> automaton;  // (an optional drew GCC 12's -Wmaybe-uninitialized)
  MemoryReservation held(ctx.budget, "replace_strings()");
  auto build = [&]() -> Status {
    size_t bytes = 0;
    for (const auto& l : lookups) bytes += l ? l->size() : 0;
    RETURN_IF_ERROR(ReserveForNeedles("replace_strings()", lookups.size(), bytes, held));
    automaton = std::make_unique<NeedleAutomaton>(false);
    for (size_t k = 0; k < lookups.size(); ++k) {
      if (lookups[k] && !lookups[k]->empty()) automaton->Add(*lookups[k], static_cast<uint32_t>(k));
    }
    automaton->Link();
    return OkStatus();
  };
  if (constant && lookups.size() > kComparedLookups) RETURN_IF_ERROR(build());
  Status failed;  // a row's own list refused
  ASSIGN_OR_RETURN(Column result, MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    if (!failed.ok()) return;
    std::string_view text = TextOf(*a[0], i, s0);
    if (!constant) {
      lookups = strings_of(*a[1], i), rewrites = strings_of(*a[2], i);
      automaton.reset();
      if (lookups.size() > kComparedLookups && lookups.size() * text.size() > kRowWork) {
        failed = build();
        if (!failed.ok()) return;
      }
    }
    std::string r;
    size_t pos = 0;  // start of the text not yet copied
    auto replace = [&](size_t end, size_t k) {
      const std::string& l = *lookups[k];
      r.append(text.substr(pos, end - l.size() - pos));
      const std::optional<std::string>* w = k < rewrites.size() ? &rewrites[k] : nullptr;
      r.append(w != nullptr && *w ? std::string_view(**w) : std::string_view(l));
      pos = end;
    };
    if (automaton) {
      uint32_t state = NeedleAutomaton::kStart;
      for (size_t end = 1; end <= text.size(); ++end) {
        state = automaton->Step(state, text[end - 1]);
        uint32_t best = NeedleAutomaton::kNone;
        automaton->Ended(state, [&](uint32_t k, uint32_t length) {
          if (length <= end - pos) best = std::min(best, k);
          return false;
        });
        if (best != NeedleAutomaton::kNone) replace(end, best);
      }
    } else {
      for (size_t end = pos + 1; end <= text.size(); ++end) {
        for (size_t k = 0; k < lookups.size(); ++k) {
          const std::optional<std::string>& l = lookups[k];
          if (!l || l->empty() || l->size() > end - pos || text.compare(end - l->size(), l->size(), *l) != 0) {
            continue;
          }
          replace(end, k);
          break;
        }
      }
    }
    out.strings[i] = r.append(text.substr(pos));
  }));
  RETURN_IF_ERROR(failed);
  return result;
}

std::vector<std::string_view> CodePoints(std::string_view s) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < s.size(); i += CharBytes(s, i))
    out.push_back(s.substr(i, CharBytes(s, i)));
  return out;
}

// translate(searchList, replacementList, source): per character; a shorter replacement list
// repeats its last character, an empty one deletes.
Result<Column> EvalTranslate(Args a, const FunctionContext& ctx) {
  std::string s0, s1, s2;
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    std::vector<std::string_view> from = CodePoints(TextOf(*a[0], i, s0));
    std::vector<std::string_view> to = CodePoints(TextOf(*a[1], i, s1));
    std::string_view text = TextOf(*a[2], i, s2);
    std::string r;
    for (std::string_view c : CodePoints(text)) {
      auto it = std::find(from.begin(), from.end(), c);
      if (it == from.end()) {
        r.append(c);
      } else if (!to.empty()) {
        r.append(to[std::min(static_cast<size_t>(it - from.begin()), to.size() - 1)]);
      }
    }
    out.strings[i] = std::move(r);
  });
}

// strcmp(a, b): -1, 0 or 1 by ordinal (byte) order.
Result<Column> EvalStrcmp(Args a, const FunctionContext& ctx) {
  std::string s0, s1;
  return MapRows(a, ctx, Type::kInt, [&](Column& out, size_t i) {
    int c = TextOf(*a[0], i, s0).compare(TextOf(*a[1], i, s1));
    out.ints[i] = c < 0 ? -1 : c > 0 ? 1 : 0;
  });
}

// parse_csv(text): the fields of the first record; "" quotes a field, "" inside it is a quote,
// and a quoted field may hold commas and line breaks.
Result<Column> EvalParseCsv(Args a, const FunctionContext& ctx) {
  std::string s0;
  return MapRows(a, ctx, Type::kDynamic, [&](Column& out, size_t i) {
    std::string_view text = TextOf(*a[0], i, s0);
    bj::array fields;
    std::string field;
    bool quoted = false;
    size_t k = 0;
    for (; k < text.size(); ++k) {
      char c = text[k];
      if (quoted) {
        if (c != '"')
          field.push_back(c);
        else if (k + 1 < text.size() && text[k + 1] == '"')
          field.push_back(text[++k]);
        else
          quoted = false;
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        fields.emplace_back(bj::string(field));
        field.clear();
      } else if (c == '\n' || c == '\r') {
        break;  // one record only
      } else {
        field.push_back(c);
      }
    }
    fields.emplace_back(bj::string(field));
    out.strings[i] = WriteJson(fields);
  });
}

// parse_command_line(text, "windows"): CommandLineToArgvW's rules. The program name ends at
// white space or, when quoted, at the next quote. In later arguments 2n backslashes before a
// quote give n backslashes and toggle quoting, 2n+1 give n and a literal quote; other
// backslashes are literal; "" inside quotes is a literal quote. Another parser is null.
Result<Column> EvalParseCommandLine(Args a, const FunctionContext& ctx) {
  std::string s0, s1;
  return MapRows(a, ctx, Type::kDynamic, [&](Column& out, size_t i) {
    if (!EqualsNoCase(TextOf(*a[1], i, s1), "windows")) return SetNull(out, i);
    std::string_view t = TextOf(*a[0], i, s0);
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    bj::array args;
    size_t k = 0;
    while (k < t.size() && space(t[k])) ++k;
    if (k < t.size()) {  // the program name
      size_t end = t[k] == '"' ? t.find('"', k + 1) : k;
      if (t[k] == '"') {
        args.emplace_back(
            bj::string(t.substr(k + 1, (end == std::string_view::npos ? t.size() : end) - k - 1)));
        k = end == std::string_view::npos ? t.size() : end + 1;
      } else {
        while (end < t.size() && !space(t[end])) ++end;
        args.emplace_back(bj::string(t.substr(k, end - k)));
        k = end;
      }
    }
    while (true) {
      while (k < t.size() && space(t[k])) ++k;
      if (k >= t.size()) break;
      std::string arg;
      bool quoted = false;
      for (; k < t.size() && (quoted || !space(t[k])); ++k) {
        size_t slashes = 0;
        while (k < t.size() && t[k] == '\\') ++slashes, ++k;
        if (k < t.size() && t[k] == '"') {
          arg.append(slashes / 2, '\\');
          if (slashes % 2 == 1) {
            arg.push_back('"');
          } else if (quoted && k + 1 < t.size() && t[k + 1] == '"') {
            arg.push_back('"');
            ++k;
          } else {
            quoted = !quoted;
          }
        } else {
          arg.append(slashes, '\\');
          if (k >= t.size()) break;
          if (!quoted && space(t[k])) break;
          arg.push_back(t[k]);
        }
      }
      args.emplace_back(bj::string(arg));
    }
    out.strings[i] = WriteJson(args);
  });
}

// result_type that requires integral arguments at `positions`.
auto IntegralAt(std::string_view fn, std::vector<size_t> positions, Type result) {
  return [fn, positions, result](Types t) -> Result<Type> {
    for (size_t p : positions) {
      if (p < t.size() && !IsIntegral(t[p])) return ArgTypeError(fn, p, t[p], "int or long");
    }
    return result;
  };
}

}  // namespace

void RegisterStrings(Registry& r) {
  r.Function({"strlen", 1, 1, Returns(Type::kLong), EvalStrlen});
  r.Function({"substring", 2, 3, IntegralAt("substring", {1, 2}, Type::kString), EvalSubstring});
  r.Function({"tolower", 1, 1, Returns(Type::kString),
              [](Args a, const FunctionContext& c) { return EvalCase(false, a, c); }});
  r.Function({"toupper", 1, 1, Returns(Type::kString),
              [](Args a, const FunctionContext& c) { return EvalCase(true, a, c); }});
  r.Function({"split", 2, 3, IntegralAt("split", {2}, Type::kDynamic), EvalSplit});
  r.Function({"strcat", 1, 64, Returns(Type::kString),
              [](Args a, const FunctionContext& c) { return EvalStrcat(0, a, c); }});
  r.Function({"strcat_delim", 2, 65, Returns(Type::kString),
              [](Args a, const FunctionContext& c) { return EvalStrcat(1, a, c); }});
  r.Function({"replace_string", 3, 3, Returns(Type::kString), EvalReplaceString});
  r.Function({"indexof", 2, 5, IntegralAt("indexof", {2, 3, 4}, Type::kLong), EvalIndexOf});
  r.Function({"reverse", 1, 1, Returns(Type::kString), EvalReverse});
  r.Function({"strrep", 2, 3, IntegralAt("strrep", {1}, Type::kString), EvalStrrep});
  r.Function({"replace_strings", 3, 3,
              [](Types t) -> Result<Type> {
                for (size_t k : {1, 2}) {
                  if (t[k] != Type::kDynamic)
                    return ArgTypeError("replace_strings", k, t[k], "dynamic");
                }
                return Type::kString;
              },
              EvalReplaceStrings});
  r.Function({"translate", 3, 3, Returns(Type::kString), EvalTranslate});
  r.Function({"strcmp", 2, 2, Returns(Type::kInt), EvalStrcmp});
  r.Function({"parse_csv", 1, 1, Returns(Type::kDynamic), EvalParseCsv});
  r.Function({"parse_command_line", 2, 2, Returns(Type::kDynamic), EvalParseCommandLine});
}

}  // namespace cmk::kql::fn
