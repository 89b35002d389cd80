// Regex functions: extract, extract_all, replace_regex, trim, trim_start, trim_end, countof
// (normal and regex kinds). See function_regex.h for the supported syntax.
#include <cctype>

#include "kql/function_json.h"
#include "kql/function_regex.h"
#include "kql/function_util.h"

namespace cmk::kql::fn {

std::string TranslateRe2(std::string_view p, bool* icase) {
  *icase = false;
  if (p.substr(0, 4) == "(?i)") {
    *icase = true;
    p.remove_prefix(4);
  }
  std::string out;
  out.reserve(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\' && i + 1 < p.size()) {
      out.append(p.substr(i, 2));
      ++i;
      continue;
    }
    bool named = p.substr(i, 4) == "(?P<" ||
                 (p.substr(i, 3) == "(?<" && i + 3 < p.size() && std::isalpha(static_cast<unsigned char>(p[i + 3])));
    size_t close = named ? p.find('>', i) : std::string_view::npos;
    if (close != std::string_view::npos) {
      out.push_back('(');
      i = close;
      continue;
    }
    out.push_back(p[i]);
  }
  return out;
}

Result<const std::regex*> RegexCache::Get(std::string_view fn, std::string_view pattern) {
  if (regex_ && pattern == pattern_) return &*regex_;
  bool icase = false;
  std::string translated = TranslateRe2(pattern, &icase);
  auto flags = std::regex::ECMAScript | (icase ? std::regex::icase : std::regex::flag_type{});
  try {
    regex_.emplace(translated, flags);
  } catch (const std::regex_error& e) {
    regex_.reset();
    return InvalidArgument(std::string(fn) + ": invalid regular expression '" + std::string(pattern) +
                               "': " + e.what(),
                           "SemanticError");
  }
  pattern_ = std::string(pattern);
  return &*regex_;
}

namespace {

std::string_view TextAt(const Column& c, size_t i, std::string& scratch) {
  if (c.type == Type::kString || c.type == Type::kGuid) return c.Str(i);
  scratch = ValueToString(c, i);
  return scratch;
}

using SvMatch = std::match_results<std::string_view::const_iterator>;

// extract(regex, group, source [, typeof(T)]): the group of the first match, "" when none.
Result<Column> EvalExtract(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  RegexCache cache;
  std::string ps, ss;
  for (size_t i = 0; i < s.rows; ++i) {
    ASSIGN_OR_RETURN(const std::regex* re, cache.Get("extract", TextAt(*a[0], i, ps)));
    if (a[1]->IsNull(i)) continue;
    int64_t group = a[1]->Int(i);
    std::string_view text = TextAt(*a[2], i, ss);
    SvMatch m;
    if (group < 0 || !std::regex_search(text.begin(), text.end(), m, *re)) continue;
    if (static_cast<size_t>(group) < m.size() && m[group].matched) out.strings[i] = m[group].str();
  }
  // extract(..., typeof(T)): the text converted to T; no match or a failed conversion is null.
  if (a.size() == 4 && a[3]->type != Type::kString) return Convert(out, a[3]->type, ctx);
  return out;
}

// extract_all(regex, [groups,] source): one group -> ["a", "b"]; several -> [["a", "1"], ...];
// null when nothing matches.
Result<Column> EvalExtractAll(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kDynamic, s);
  RegexCache cache;
  std::string ps, ss;
  const Column& source = *a[a.size() - 1];
  for (size_t i = 0; i < s.rows; ++i) {
    ASSIGN_OR_RETURN(const std::regex* re, cache.Get("extract_all", TextAt(*a[0], i, ps)));
    std::vector<size_t> groups;
    if (a.size() == 3) {
      auto v = a[1]->IsNull(i) ? std::nullopt : ParseJson(a[1]->Str(i));
      if (v && v->is_array()) {
        for (const bj::value& g : v->get_array()) {
          if (g.is_int64() && g.get_int64() >= 0) groups.push_back(static_cast<size_t>(g.get_int64()));
        }
      }
    } else {
      for (size_t g = 1; g <= re->mark_count(); ++g) groups.push_back(g);
      if (groups.empty()) groups.push_back(0);
    }
    std::string_view text = TextAt(source, i, ss);
    bj::array result;
    for (std::regex_iterator<std::string_view::const_iterator> it(text.begin(), text.end(), *re), end; it != end; ++it) {
      const SvMatch& m = *it;
      auto group_text = [&](size_t g) { return g < m.size() ? bj::value(m[g].str()) : bj::value(""); };
      if (groups.size() == 1) {
        result.push_back(group_text(groups[0]));
      } else {
        bj::array row;
        for (size_t g : groups) row.push_back(group_text(g));
        result.push_back(std::move(row));
      }
    }
    if (result.empty()) SetNull(out, i);
    else out.strings[i] = WriteJson(result);
  }
  return out;
}

// RE2/Kusto rewrite (\1 for groups) to ECMAScript format ($1, literal $ as $$).
std::string RewriteFormat(std::string_view rewrite) {
  std::string out;
  for (size_t i = 0; i < rewrite.size(); ++i) {
    char c = rewrite[i];
    if (c == '\\' && i + 1 < rewrite.size() && std::isdigit(static_cast<unsigned char>(rewrite[i + 1]))) {
      out.push_back('$');
      out.push_back(rewrite[++i]);
    } else if (c == '$') {
      out += "$$";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<Column> EvalReplaceRegex(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  RegexCache cache;
  std::string ss, ps, rs;
  for (size_t i = 0; i < s.rows; ++i) {
    ASSIGN_OR_RETURN(const std::regex* re, cache.Get("replace_regex", TextAt(*a[1], i, ps)));
    std::string_view text = TextAt(*a[0], i, ss);
    std::string format = RewriteFormat(TextAt(*a[2], i, rs));
    std::regex_replace(std::back_inserter(out.strings[i]), text.begin(), text.end(), *re, format);
  }
  return out;
}

// trim(regex, source): removes repeated matches of regex anchored at the start and/or end.
Result<Column> EvalTrim(std::string_view fn, bool start, bool end, Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  RegexCache lead, trail;
  std::string ps, ss;
  for (size_t i = 0; i < s.rows; ++i) {
    std::string pattern(TextAt(*a[0], i, ps));
    std::string flags;
    if (pattern.rfind("(?i)", 0) == 0) {  // keep the flag in front of the anchored wrapper
      flags = "(?i)";
      pattern.erase(0, 4);
    }
    std::string text(TextAt(*a[1], i, ss));
    if (start) {
      ASSIGN_OR_RETURN(const std::regex* re, lead.Get(fn, flags + "^(?:" + pattern + ")+"));
      std::smatch m;
      if (std::regex_search(text, m, *re, std::regex_constants::match_continuous)) text.erase(0, m.length(0));
    }
    if (end) {
      ASSIGN_OR_RETURN(const std::regex* re, trail.Get(fn, flags + "(?:" + pattern + ")+$"));
      std::smatch m;
      if (std::regex_search(text, m, *re)) text.erase(static_cast<size_t>(m.position(0)));
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
    std::string_view text = TextAt(*a[0], i, ss);
    std::string_view needle = TextAt(*a[1], i, ns);
    std::string_view kind = a.size() > 2 ? TextAt(*a[2], i, ks) : "normal";
    int64_t n = 0;
    if (kind == "regex") {
      ASSIGN_OR_RETURN(const std::regex* re, cache.Get("countof", needle));
      n = std::distance(std::regex_iterator<std::string_view::const_iterator>(text.begin(), text.end(), *re),
                        std::regex_iterator<std::string_view::const_iterator>());
    } else if (kind == "normal") {
      if (needle.empty()) continue;
      for (size_t p = text.find(needle); p != std::string_view::npos; p = text.find(needle, p + 1)) ++n;
    } else {
      return InvalidArgument("countof: kind must be \"normal\" or \"regex\"", "SemanticError");
    }
    out.ints[i] = n;
  }
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
}

}  // namespace cmk::kql::fn
