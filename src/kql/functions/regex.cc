// Regex functions: extract, extract_all, replace_regex, trim, trim_start, trim_end, countof
// (normal and regex kinds), indexof_regex. See function_regex.h for the supported syntax.
#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <span>
#include <vector>

#include <re2/filtered_re2.h>

#include "kql/functions/function_json.h"
#include "kql/functions/function_regex.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {

std::string TranslateNamedGroups(std::string_view p) {
  std::string out;
  out.reserve(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\' && i + 1 < p.size()) {
      out.append(p.substr(i, 2));
      ++i;
      continue;
    }
    if (p.substr(i, 3) == "(?<" && i + 3 < p.size() && std::isalpha(static_cast<unsigned char>(p[i + 3]))) {
      out += "(?P<";
      i += 2;
      continue;
    }
    out.push_back(p[i]);
  }
  return out;
}

Result<std::unique_ptr<RE2>> CompileRegex(std::string_view fn, std::string_view pattern) {
  RE2::Options options;
  options.set_max_mem(kRegexMaxMem);
  options.set_log_errors(false);  // the error goes back to the user, not to the server's log
  auto re = std::make_unique<RE2>(TranslateNamedGroups(pattern), options);
  if (!re->ok()) {
    return InvalidArgument(std::string(fn) + ": invalid regular expression '" + std::string(pattern) +
                               "': " + re->error(),
                           "SemanticError");
  }
  return re;
}

namespace {

// Whether an inline flag group of `pattern` turns on case folding: (?i), (?is), (?i:...), ...
// Conservative: any 'i' among a group's flags counts, as does "(?i" after a backslash.
bool FoldsCase(std::string_view pattern) {
  for (size_t at = pattern.find("(?"); at != std::string_view::npos; at = pattern.find("(?", at + 2)) {
    for (size_t i = at + 2; i < pattern.size() && (std::isalpha(static_cast<unsigned char>(pattern[i])) ||
                                                    pattern[i] == '-');
         ++i) {
      if (pattern[i] == 'i') return true;
    }
  }
  return false;
}

bool Ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// The longest substring of every string in `all` (the first longest when several); "" when
// they share none, or when the search would be long: a hostile pattern's atoms are what the
// user wrote, and the search tries each substring of the shortest against every string.
std::string CommonSubstring(const std::vector<std::string>& all) {
  const std::string& shortest = *std::min_element(
      all.begin(), all.end(), [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  size_t total = 0;
  for (const std::string& s : all) total += s.size();
  if (shortest.size() > 64 || total > 4096) return "";
  for (size_t len = shortest.size(); len > 0; --len) {
    for (size_t from = 0; from + len <= shortest.size(); ++from) {
      std::string_view sub(shortest.data() + from, len);
      if (std::all_of(all.begin(), all.end(), [&](const std::string& s) { return s.find(sub) != std::string::npos; })) {
        return std::string(sub);
      }
    }
  }
  return "";
}

constexpr size_t kMinLiteral = 3;
constexpr size_t kMaxAtoms = 64;  // past this many the candidates are not worth the checks

}  // namespace

std::string RequiredLiteral(const RE2& re) {
  if (!re.ok() || !re.options().case_sensitive() || FoldsCase(re.pattern())) return "";
  re2::FilteredRE2 filter(static_cast<int>(kMinLiteral));
  int id = 0;
  RE2::Options options = re.options();
  options.set_log_errors(false);
  if (filter.Add(re.pattern(), options, &id) != RE2::NoError) return "";
  std::vector<std::string> atoms;
  filter.Compile(&atoms);
  if (atoms.empty() || atoms.size() > kMaxAtoms) return "";
  std::vector<std::string> candidates = atoms;
  candidates.push_back(CommonSubstring(atoms));
  std::string best;
  for (const std::string& c : candidates) {
    if (c.size() < kMinLiteral || c.size() <= best.size() || !Ascii(c)) continue;
    // Required when even every atom without it leaves the pattern impossible (the filter is
    // monotone: any smaller set of atoms fails too).
    std::vector<int> without, potential;
    for (size_t i = 0; i < atoms.size(); ++i) {
      if (atoms[i].find(c) == std::string::npos) without.push_back(static_cast<int>(i));
    }
    filter.AllPotentials(without, &potential);
    if (potential.empty()) best = c;
  }
  return best;
}

Result<const RE2*> RegexCache::Get(std::string_view fn, std::string_view pattern) {
  if (regex_ && pattern == pattern_) return regex_.get();
  regex_.reset();
  ASSIGN_OR_RETURN(regex_, CompileRegex(fn, pattern));
  pattern_ = std::string(pattern);
  return regex_.get();
}

namespace {

// Length of the UTF-8 character at `pos` (1 for a stray byte), so that stepping past an empty
// match never splits a character.
size_t CharLength(std::string_view text, size_t pos) {
  auto b = static_cast<unsigned char>(text[pos]);
  size_t n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
  return std::min(n, text.size() - pos);
}

}  // namespace

void ForEachMatch(const RE2& re, std::string_view text,
                  const std::function<void(std::span<const std::string_view> groups)>& on_match) {
  int n = re.NumberOfCapturingGroups() + 1;
  std::vector<re2::StringPiece> pieces(static_cast<size_t>(n));
  std::vector<std::string_view> groups(static_cast<size_t>(n));
  size_t pos = 0;
  while (pos <= text.size() &&
         re.Match(text, pos, text.size(), RE2::UNANCHORED, pieces.data(), n)) {
    for (size_t g = 0; g < pieces.size(); ++g) {
      groups[g] = pieces[g].data() == nullptr ? std::string_view()
                                              : std::string_view(pieces[g].data(), pieces[g].size());
    }
    size_t start = static_cast<size_t>(pieces[0].data() - text.data());
    size_t end = start + pieces[0].size();
    on_match(groups);
    if (end > start) {
      pos = end;
    } else if (end < text.size()) {
      pos = end + CharLength(text, end);  // an empty match: step over one character
    } else {
      break;
    }
  }
}

namespace {

// extract(regex, group, source [, typeof(T)]): the group of the first match, "" when none.
Result<Column> EvalExtract(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  RegexCache cache;
  std::string ps, ss;
  std::vector<re2::StringPiece> groups;
  const Column& source = *a[2];
  std::vector<uint32_t> holding;  // with a constant pattern over a packed column: the rows to match
  bool prefiltered = false;
  if (a[0]->constant && !source.constant && source.type == Type::kString && source.packed() &&
      source.stored() == s.rows) {
    // A row without the literal every match holds has no match: "" (or null, converted), as
    // for a failed match below; the column's bytes are searched once for it.
    ASSIGN_OR_RETURN(const RE2* re, cache.Get("extract", TextOf(*a[0], 0, ps)));
    if (std::string literal = RequiredLiteral(*re); !literal.empty()) {
      holding = PackedRowsHolding(source, literal);
      prefiltered = true;
    }
  }
  for (size_t k = 0, rows = prefiltered ? holding.size() : s.rows; k < rows; ++k) {
    const size_t i = prefiltered ? holding[k] : k;
    ASSIGN_OR_RETURN(const RE2* re, cache.Get("extract", TextOf(*a[0], i, ps)));
    if (a[1]->IsNull(i)) continue;
    int64_t group = a[1]->Int(i);
    if (group < 0 || group > re->NumberOfCapturingGroups()) continue;
    std::string_view text = TextOf(*a[2], i, ss);
    groups.assign(static_cast<size_t>(group) + 1, re2::StringPiece());
    if (!re->Match(text, 0, text.size(), RE2::UNANCHORED, groups.data(), static_cast<int>(group) + 1)) continue;
    const re2::StringPiece& g = groups[static_cast<size_t>(group)];
    if (g.data() != nullptr) out.strings[i].assign(g.data(), g.size());
  }
  // extract(..., typeof(T)): the text converted to T; no match or a failed conversion is null.
  if (a.size() == 4 && a[3]->type != Type::kString) return Convert(out, a[3]->type, ctx);
  return out;
}

// extract_all(regex, [groups,] source): one group -> ["a", "b"]; several -> [["a", "1"], ...];
// groups are numbers or names; null when nothing matches.
Result<Column> EvalExtractAll(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kDynamic, s);
  RegexCache cache;
  std::string ps, ss;
  const Column& source = *a[a.size() - 1];
  for (size_t i = 0; i < s.rows; ++i) {
    ASSIGN_OR_RETURN(const RE2* re, cache.Get("extract_all", TextOf(*a[0], i, ps)));
    std::vector<size_t> groups;
    if (a.size() == 3) {
      auto v = a[1]->IsNull(i) ? std::nullopt : ParseJson(a[1]->Str(i));
      if (v && v->is_array()) {
        for (const bj::value& g : v->get_array()) {  // group numbers or (?P<name>) names
          if (g.is_int64() && g.get_int64() >= 0) groups.push_back(static_cast<size_t>(g.get_int64()));
          if (!g.is_string()) continue;
          const std::map<std::string, int>& names = re->NamedCapturingGroups();
          auto named = names.find(std::string(g.get_string()));
          if (named != names.end()) groups.push_back(static_cast<size_t>(named->second));
        }
      }
    } else {
      for (int g = 1; g <= re->NumberOfCapturingGroups(); ++g) groups.push_back(static_cast<size_t>(g));
      if (groups.empty()) groups.push_back(0);
    }
    std::string_view text = TextOf(source, i, ss);
    bj::array result;
    ForEachMatch(*re, text, [&](std::span<const std::string_view> m) {
      auto group_text = [&](size_t g) { return g < m.size() ? bj::value(bj::string_view(m[g].data(), m[g].size())) : bj::value(""); };
      if (groups.size() == 1) {
        result.push_back(group_text(groups[0]));
      } else {
        bj::array row;
        for (size_t g : groups) row.push_back(group_text(g));
        result.push_back(std::move(row));
      }
    });
    if (result.empty()) SetNull(out, i);
    else out.strings[i] = WriteJson(result);
  }
  return out;
}

// Appends Kusto's (RE2's) rewrite: \0..\9 name a group (a missing group is empty), \\ is a
// backslash; anything else is literal.
void AppendRewrite(std::string& out, std::string_view rewrite, std::span<const std::string_view> groups) {
  for (size_t i = 0; i < rewrite.size(); ++i) {
    char c = rewrite[i];
    if (c == '\\' && i + 1 < rewrite.size()) {
      char d = rewrite[i + 1];
      if (std::isdigit(static_cast<unsigned char>(d))) {
        size_t g = static_cast<size_t>(d - '0');
        if (g < groups.size()) out.append(groups[g]);
        ++i;
        continue;
      }
      if (d == '\\') {
        out.push_back('\\');
        ++i;
        continue;
      }
    }
    out.push_back(c);
  }
}

Result<Column> EvalReplaceRegex(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  RegexCache cache;
  std::string ss, ps, rs;
  for (size_t i = 0; i < s.rows; ++i) {
    ASSIGN_OR_RETURN(const RE2* re, cache.Get("replace_regex", TextOf(*a[1], i, ps)));
    std::string_view text = TextOf(*a[0], i, ss);
    std::string_view rewrite = TextOf(*a[2], i, rs);
    std::string& result = out.strings[i];
    size_t copied = 0;  // text before this offset is already in `result`
    ForEachMatch(*re, text, [&](std::span<const std::string_view> m) {
      size_t start = static_cast<size_t>(m[0].data() - text.data());
      result.append(text.substr(copied, start - copied));
      AppendRewrite(result, rewrite, m);
      copied = start + m[0].size();
    });
    result.append(text.substr(copied));
  }
  return out;
}

// trim(regex, source): removes repeated matches of regex anchored at the start and/or end.
Result<Column> EvalTrim(std::string_view fn, bool start, bool end, Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  RegexCache lead, trail;
  std::string ps, ss;
  re2::StringPiece m;
  for (size_t i = 0; i < s.rows; ++i) {
    std::string pattern(TextOf(*a[0], i, ps));
    std::string text(TextOf(*a[1], i, ss));
    // Inline flags such as (?i) inside the group apply to the group only, which is the pattern.
    if (start) {
      ASSIGN_OR_RETURN(const RE2* re, lead.Get(fn, "^(?:" + pattern + ")+"));
      if (re->Match(text, 0, text.size(), RE2::ANCHOR_START, &m, 1)) text.erase(0, m.size());
    }
    if (end) {
      ASSIGN_OR_RETURN(const RE2* re, trail.Get(fn, "(?:" + pattern + ")+$"));
      if (re->Match(text, 0, text.size(), RE2::UNANCHORED, &m, 1)) {
        text.erase(static_cast<size_t>(m.data() - text.data()));
      }
    }
    out.strings[i] = std::move(text);
  }
  return out;
}

// countof(source, search[, "normal"|"regex"]): normal counts overlapping occurrences.
Result<Column> EvalCountOf(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kLong, s);
  RegexCache cache;
  std::string ss, ns, ks;
  for (size_t i = 0; i < s.rows; ++i) {
    std::string_view text = TextOf(*a[0], i, ss);
    std::string_view needle = TextOf(*a[1], i, ns);
    std::string_view kind = a.size() > 2 ? TextOf(*a[2], i, ks) : "normal";
    int64_t n = 0;
    if (kind == "regex") {
      ASSIGN_OR_RETURN(const RE2* re, cache.Get("countof", needle));
      ForEachMatch(*re, text, [&](std::span<const std::string_view>) { ++n; });
    } else if (kind == "normal") {
      n = static_cast<int64_t>(CountOverlapping(text, needle));
    } else {
      return InvalidArgument("countof: kind must be \"normal\" or \"regex\"", "SemanticError");
    }
    out.ints[i] = n;
  }
  return out;
}

// indexof_regex(text, regex[, start[, length[, occurrence]]]): the code point index of the
// occurrence-th non-overlapping match within `length` characters (-1: to the end) from `start`,
// -1 when there is none; null for a negative start or occurrence or a length below -1 (the
// docs' rules; unlike indexof, a negative start does not count from the end).
Result<Column> EvalIndexOfRegex(Args a, const FunctionContext& ctx) {
  RegexCache cache;
  std::string ss, ps;
  Status error;
  ASSIGN_OR_RETURN(Column out, MapRows(a, ctx, Type::kLong, [&](Column& out, size_t i) {
    if (AnyNull(a, i) || !error.ok()) return SetNull(out, i);
    int64_t start = a.size() > 2 ? a[2]->Int(i) : 0;
    int64_t length = a.size() > 3 ? a[3]->Int(i) : -1;
    int64_t occurrence = a.size() > 4 ? a[4]->Int(i) : 1;
    if (start < 0 || length < -1 || occurrence < 0) return SetNull(out, i);
    Result<const RE2*> re = cache.Get("indexof_regex", TextOf(*a[1], i, ps));
    if (!re.ok()) return (void)(error = re.status());
    std::string_view text = TextOf(*a[0], i, ss);
    auto offset = [&](std::string_view s, int64_t cp) {  // byte offset of code point cp
      size_t b = 0;
      for (int64_t k = 0; k < cp && b < s.size(); ++k) b += CharLength(s, b);
      return b;
    };
    size_t from = offset(text, start);
    std::string_view window = text.substr(0, length < 0 ? text.size() : from + offset(text.substr(from), length));
    int64_t seen = 0, found = -1;
    ForEachMatch(**re, window.substr(from), [&](std::span<const std::string_view> m) {
      if (found >= 0 || ++seen < std::max<int64_t>(occurrence, 1)) return;
      found = static_cast<int64_t>(m[0].data() - text.data());
    });
    if (found < 0) return (void)(out.ints[i] = -1);
    int64_t cps = 0;
    for (size_t b = 0; b < static_cast<size_t>(found); b += CharLength(text, b)) ++cps;
    out.ints[i] = cps;
  }));
  RETURN_IF_ERROR(error);
  return out;
}

Result<Type> ExtractType(Types t) {
  if (!IsIntegral(t[1])) return ArgTypeError("extract", 1, t[1], "int or long");
  return t.size() == 4 ? t[3] : Type::kString;
}

}  // namespace

void RegisterRegex(Registry& r) {
  r.Function({"extract", 3, 4, ExtractType, EvalExtract});
  r.Function({"extract_all", 2, 3, Returns(Type::kDynamic), EvalExtractAll});
  r.Function({"replace_regex", 3, 3, Returns(Type::kString), EvalReplaceRegex});
  r.Function({"trim", 2, 2, Returns(Type::kString),
              [](Args a, const FunctionContext& c) { return EvalTrim("trim", true, true, a, c); }});
  r.Function({"trim_start", 2, 2, Returns(Type::kString),
              [](Args a, const FunctionContext& c) { return EvalTrim("trim_start", true, false, a, c); }});
  r.Function({"trim_end", 2, 2, Returns(Type::kString),
              [](Args a, const FunctionContext& c) { return EvalTrim("trim_end", false, true, a, c); }});
  r.Function({"countof", 2, 3, Returns(Type::kLong), EvalCountOf});
  r.Function({"indexof_regex", 2, 5,
              [](Types t) -> Result<Type> {
                for (size_t k = 2; k < t.size(); ++k) {
                  if (!IsIntegral(t[k])) return ArgTypeError("indexof_regex", k, t[k], "int or long");
                }
                return Type::kLong;
              },
              EvalIndexOfRegex});
}

}  // namespace cmk::kql::fn
