// Documented functions that belong to no larger family: unicode_codepoints_from_string,
// unicode_codepoints_to_string, string_size, isascii, isutf8, regex_quote, format_bytes,
// parse_path, new_guid, assert, parse_xml (expat); parse_user_agent is in user_agent.cc.
// (dynamic_to_json is in arrays.cc.)
// Debian's expat is built with DTD support; XML_DTD declares its entity-amplification limits.
#ifndef XML_DTD
#define XML_DTD
#endif
#include <expat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>

#include <re2/re2.h>

#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"
#include "kql/functions/user_agent.h"

namespace cmk::kql::fn {
namespace {

// ---- UTF-8 -------------------------------------------------------------------------------------

// Decodes the code point at `i` and advances `i`; nullopt (and one byte skipped) for a byte
// sequence that is not well-formed UTF-8 (overlong forms, surrogates, > U+10FFFF, truncation).
std::optional<char32_t> DecodeUtf8(std::string_view s, size_t& i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    ++i;
    return std::nullopt;
  }
  char32_t cp = n == 1 ? c : c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) {
      ++i;
      return std::nullopt;
    }
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return std::nullopt;
  }
  i += n;
  return cp;
}

void AppendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsScalarValue(int64_t cp) { return cp >= 0 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF); }

// unicode_codepoints_from_string(s): the code points as a dynamic array (a byte that is not
// well-formed UTF-8 stands for U+FFFD, as decoders replace it).
Result<Column> EvalCodepointsFrom(Args a, const FunctionContext& ctx) {
  std::string sc;
  return MapRows(a, ctx, Type::kDynamic, [&](Column& out, size_t i) {
    std::string_view s = TextOf(*a[0], i, sc);
    bj::array arr;
    for (size_t k = 0; k < s.size();) arr.emplace_back(static_cast<int64_t>(DecodeUtf8(s, k).value_or(0xFFFD)));
    out.strings[i] = WriteJson(arr);
  });
}

// Appends the code points one argument holds (a number or an array of numbers); false when one
// is not a Unicode scalar value or not an integer.
bool AppendCodepoints(std::string& out, const Column& c, size_t row) {
  if (c.IsNull(row)) return false;
  if (c.type != Type::kDynamic) {
    int64_t v = c.Int(row);
    if (!IsScalarValue(v)) return false;
    AppendUtf8(out, static_cast<char32_t>(v));
    return true;
  }
  std::optional<bj::value> v = ParseJson(c.Str(row));
  if (!v) return false;
  auto one = [&](const bj::value& e) {
    if (!e.is_int64() && !e.is_uint64()) return false;
    int64_t cp = e.is_int64() ? e.as_int64() : static_cast<int64_t>(std::min<uint64_t>(e.as_uint64(), INT64_MAX));
    if (!IsScalarValue(cp)) return false;
    AppendUtf8(out, static_cast<char32_t>(cp));
    return true;
  };
  if (!v->is_array()) return one(*v);
  return std::all_of(v->as_array().begin(), v->as_array().end(), one);
}

Result<Column> EvalCodepointsTo(Args a, const FunctionContext& ctx) {
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    std::string s;
    for (const Column* c : a) {
      if (!AppendCodepoints(s, *c, i)) return;  // "" (strings are never null in Kusto)
    }
    out.strings[i] = std::move(s);
  });
}

Result<Type> CodepointsToType(Types t) {
  for (size_t k = 0; k < t.size(); ++k) {
    if (t[k] != Type::kInt && t[k] != Type::kLong && t[k] != Type::kDynamic) {
      return ArgTypeError("unicode_codepoints_to_string", k, t[k], "int, long or dynamic");
    }
  }
  return Type::kString;
}

// isascii / isutf8 / string_size over the text's bytes.
template <typename F>
ScalarFunction TextPredicate(std::string_view name, Type result, F f) {
  return {name, 1, 1, Returns(result), [f, result](Args a, const FunctionContext& ctx) {
            std::string sc;
            return MapRows(a, ctx, result, [&](Column& out, size_t i) {
              if (a[0]->IsNull(i)) return SetNull(out, i);
              out.ints[i] = f(TextOf(*a[0], i, sc));
            });
          }};
}

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool IsUtf8(std::string_view s) {
  for (size_t k = 0; k < s.size();) {
    if (!DecodeUtf8(s, k)) return false;
  }
  return true;
}

// ---- format_bytes ------------------------------------------------------------------------------

// format_bytes(size[, precision[, units]]): size in 1024-based units, rounded to `precision`
// decimals (default 0) and written without trailing zeros, as the docs' examples show
// ("10.1 KB", "19 MB", "19.08 MB"). Without units the largest unit not above the size is used.
Result<Column> EvalFormatBytes(Args a, const FunctionContext& ctx) {
  static constexpr std::string_view kUnits[] = {"Bytes", "KB", "MB", "GB", "TB", "PB", "EB"};
  std::string sc;
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    if (AnyNull(a, i)) return;
    double size = NumAt(*a[0], i);
    int64_t precision = a.size() > 1 ? std::clamp<int64_t>(a[1]->Int(i), 0, 15) : 0;
    std::string_view units = a.size() > 2 ? TextOf(*a[2], i, sc) : "";
    if (!std::isfinite(size)) return;
    size_t unit = 0;
    if (units.empty()) {
      while (unit + 1 < std::size(kUnits) && std::fabs(size) >= std::ldexp(1.0, 10 * static_cast<int>(unit + 1))) ++unit;
    } else {
      while (unit < std::size(kUnits) && !EqualsNoCase(kUnits[unit], units)) ++unit;
      if (unit == std::size(kUnits)) return;  // unknown units: ""
    }
    double scale = std::pow(10.0, static_cast<double>(precision));
    double v = std::round(size / std::ldexp(1.0, 10 * static_cast<int>(unit)) * scale) / scale;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(precision), v);
    std::string text = buf;
    if (text.find('.') != std::string::npos) {
      while (text.back() == '0') text.pop_back();
      if (text.back() == '.') text.pop_back();
    }
    if (text == "-0") text = "0";
    out.strings[i] = text + " " + std::string(kUnits[unit]);
  });
}

// ---- parse_path --------------------------------------------------------------------------------

bool IsSeparator(char c) { return c == '/' || c == '\\'; }

// parse_path(path): Scheme (before "://"), RootPath (a drive "C:"), DirectoryPath (up to the last
// separator; a root keeps its separator), DirectoryName (its last component), Filename,
// Extension (after the file name's last dot) and AlternateDataStreamName (after a ':' in the
// file name), as the docs' examples show for Windows, UNC, URI and POSIX paths.
bj::object ParsePath(std::string_view p) {
  std::string_view scheme;
  if (size_t sep = p.find("://"); sep != std::string_view::npos && sep > 0 &&
                                  std::all_of(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(sep), [](char c) {
                                    return IsAlnumAscii(c) || c == '+' || c == '-' || c == '.';
                                  })) {
    scheme = p.substr(0, sep);
    p.remove_prefix(sep + 3);
  }
  bool drive = p.size() >= 2 && p[1] == ':' && ((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z');
  size_t last = p.size();
  for (size_t k = p.size(); k-- > 0;) {
    if (IsSeparator(p[k])) {
      last = k;
      break;
    }
  }
  std::string_view dir = last == p.size() ? std::string_view() : p.substr(0, last);
  std::string_view file = last == p.size() ? p : p.substr(last + 1);
  if (last != p.size() && (dir.empty() || (drive && dir.size() == 2))) dir = p.substr(0, last + 1);  // a root
  std::string_view stream;
  if (size_t colon = file.find(':'); colon != std::string_view::npos && !(drive && last == p.size())) {
    stream = file.substr(colon + 1);
    file = file.substr(0, colon);
  }
  size_t dot = file.rfind('.');
  std::string_view ext = dot == std::string_view::npos ? std::string_view() : file.substr(dot + 1);
  std::string_view dir_name = dir;
  while (!dir_name.empty() && IsSeparator(dir_name.back())) dir_name.remove_suffix(1);
  for (size_t k = dir_name.size(); k-- > 0;) {
    if (IsSeparator(dir_name[k])) {
      dir_name.remove_prefix(k + 1);
      break;
    }
  }
  if (drive && dir_name.size() == 2 && dir_name[1] == ':') dir_name = {};
  bj::object o;
  o["Scheme"] = scheme;
  o["RootPath"] = drive ? p.substr(0, 2) : std::string_view();
  o["DirectoryPath"] = dir;
  o["DirectoryName"] = dir_name;
  o["Filename"] = file;
  o["Extension"] = ext;
  o["AlternateDataStreamName"] = stream;
  return o;
}

// ---- new_guid, assert --------------------------------------------------------------------------

// new_guid(): a random (version 4) GUID per row. The binder never folds it (binder.cc).
Result<Column> EvalNewGuid(Args, const FunctionContext& ctx) {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  Column out = MakeColumn(Type::kGuid, Shape{ctx.rows, false});
  for (size_t i = 0; i < ctx.rows; ++i) {
    uint64_t hi = (gen() & ~uint64_t{0xF000}) | 0x4000, lo = (gen() & ~(uint64_t{3} << 62)) | (uint64_t{2} << 62);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(hi >> 32),
                  static_cast<unsigned long long>((hi >> 16) & 0xFFFF), static_cast<unsigned long long>(hi & 0xFFFF),
                  static_cast<unsigned long long>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
    out.strings[i] = buf;
  }
  return out;
}

// assert(condition, message): true, or a SemanticError carrying the message when the condition
// is false (or null). A constant condition is checked when the query is bound (the binder folds
// constant calls), so the error comes even when no row reaches it, as the docs require.
Result<Column> EvalAssert(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  std::string sc;
  for (size_t i = 0; i < s.rows; ++i) {
    if (a[0]->IsNull(i) || a[0]->Int(i) == 0) {
      return InvalidArgument("assert() has failed with message: '" + std::string(TextOf(*a[1], i, sc)) + "'",
                             "SemanticError");
    }
  }
  Column out = MakeColumn(Type::kBool, s);
  std::fill(out.ints.begin(), out.ints.end(), 1);
  return out;
}

// ---- parse_xml ---------------------------------------------------------------------------------

// XML -> JSON as parse-xml-function.md tabulates: an element is null when empty, its text when it
// has only text, else an object of "@attribute" values, child elements (repeated names become an
// array) and "#text" (trimmed; several text runs become an array). Expat parses (a well-kept
// streaming parser with billion-laughs protection); nesting is capped at kMaxXmlDepth, one less
// than a dynamic value may nest (function_json.cc), and the document at the text's size, so
// hostile input stays bounded. Invalid XML is null.
constexpr size_t kMaxXmlDepth = 63;

struct XmlNode {
  std::string name;
  bj::object attrs;                                         // "@name" -> value
  std::vector<std::pair<std::string, bj::value>> children;  // in document order
  std::vector<std::string> texts;
};

struct XmlBuilder {
  XML_Parser parser = nullptr;
  std::vector<XmlNode> stack;
  std::optional<bj::object> root;
  std::string text;  // the current text run
  bool failed = false;

  void FlushText() {
    size_t b = text.find_first_not_of(" \t\r\n"), e = text.find_last_not_of(" \t\r\n");
    if (b != std::string::npos && !stack.empty()) stack.back().texts.push_back(text.substr(b, e - b + 1));
    text.clear();
  }

  static bj::value Finish(XmlNode& n) {
    if (n.attrs.empty() && n.children.empty()) {
      if (n.texts.empty()) return nullptr;
      if (n.texts.size() == 1) return bj::string(n.texts[0]);
    }
    bj::object o = std::move(n.attrs);
    if (n.texts.size() == 1) o["#text"] = n.texts[0];
    if (n.texts.size() > 1) o["#text"] = bj::array(n.texts.begin(), n.texts.end());
    std::vector<std::string_view> order;  // child names by first appearance
    std::map<std::string_view, bj::array> groups;
    for (auto& [name, v] : n.children) {
      bj::array& g = groups[name];
      if (g.empty()) order.push_back(name);
      g.push_back(std::move(v));
    }
    for (std::string_view name : order) {
      bj::array& g = groups[name];
      if (g.size() == 1) o[name] = std::move(g[0]);
      else o[name] = std::move(g);
    }
    return o;
  }

  static void Start(void* self, const XML_Char* name, const XML_Char** attrs) {
    auto* b = static_cast<XmlBuilder*>(self);
    b->FlushText();
    if (b->stack.size() >= kMaxXmlDepth) {
      b->failed = true;
      XML_StopParser(b->parser, XML_FALSE);
      return;
    }
    XmlNode n;
    n.name = name;
    for (size_t k = 0; attrs[k] != nullptr; k += 2) n.attrs[std::string("@") + attrs[k]] = attrs[k + 1];
    b->stack.push_back(std::move(n));
  }

  static void End(void* self, const XML_Char*) {
    auto* b = static_cast<XmlBuilder*>(self);
    b->FlushText();
    XmlNode n = std::move(b->stack.back());
    b->stack.pop_back();
    bj::value v = Finish(n);
    if (b->stack.empty()) {
      b->root.emplace();
      (*b->root)[n.name] = std::move(v);
    } else {
      b->stack.back().children.emplace_back(std::move(n.name), std::move(v));
    }
  }

  static void Text(void* self, const XML_Char* s, int len) {
    static_cast<XmlBuilder*>(self)->text.append(s, static_cast<size_t>(len));
  }
};

std::optional<bj::object> ParseXml(std::string_view xml) {
  if (xml.size() > static_cast<size_t>(INT32_MAX)) return std::nullopt;
  XmlBuilder b;
  b.parser = XML_ParserCreate("UTF-8");
  if (b.parser == nullptr) return std::nullopt;
  // Entities may expand a document at most 10 times over once it passes 1 MiB (expat's defaults
  // are 100 times past 8 MiB), so a small hostile text cannot make a huge value.
  XML_SetBillionLaughsAttackProtectionActivationThreshold(b.parser, 1 << 20);
  XML_SetBillionLaughsAttackProtectionMaximumAmplification(b.parser, 10.0f);
  XML_SetUserData(b.parser, &b);
  XML_SetElementHandler(b.parser, XmlBuilder::Start, XmlBuilder::End);
  XML_SetCharacterDataHandler(b.parser, XmlBuilder::Text);
  XML_Status st = XML_Parse(b.parser, xml.data(), static_cast<int>(xml.size()), XML_TRUE);
  XML_ParserFree(b.parser);
  if (st != XML_STATUS_OK || b.failed || !b.root) return std::nullopt;
  return std::move(b.root);
}

}  // namespace

void RegisterMisc(Registry& r) {
  RegisterUserAgent(r);
  r.Function({"parse_xml", 1, 1, Returns(Type::kDynamic), [](Args a, const FunctionContext& ctx) {
                std::string sc;
                return MapRows(a, ctx, Type::kDynamic, [&](Column& out, size_t i) {
                  std::optional<bj::object> o = ParseXml(TextOf(*a[0], i, sc));
                  if (!o) return SetNull(out, i);
                  out.strings[i] = WriteJson(*o);
                });
              }});
  r.Function({"unicode_codepoints_from_string", 1, 1, Returns(Type::kDynamic), EvalCodepointsFrom});
  r.Function({"unicode_codepoints_to_string", 1, 64, CodepointsToType, EvalCodepointsTo});
  r.Function(TextPredicate("string_size", Type::kLong, [](std::string_view s) { return static_cast<int64_t>(s.size()); }));
  r.Function(TextPredicate("isascii", Type::kBool, IsAscii));
  r.Function(TextPredicate("isutf8", Type::kBool, IsUtf8));
  r.Function({"regex_quote", 1, 1, Returns(Type::kString), [](Args a, const FunctionContext& ctx) {
                std::string sc;
                return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
                  out.strings[i] = RE2::QuoteMeta(TextOf(*a[0], i, sc));
                });
              }});
  r.Function({"format_bytes", 1, 3,
              [](Types t) -> Result<Type> {
                if (!IsNumeric(t[0])) return ArgTypeError("format_bytes", 0, t[0], "a number");
                if (t.size() > 1 && !IsIntegral(t[1])) return ArgTypeError("format_bytes", 1, t[1], "int or long");
                return Type::kString;
              },
              EvalFormatBytes});
  r.Function({"parse_path", 1, 1, Returns(Type::kDynamic), [](Args a, const FunctionContext& ctx) {
                std::string sc;
                return MapRows(a, ctx, Type::kDynamic, [&](Column& out, size_t i) {
                  out.strings[i] = WriteJson(ParsePath(TextOf(*a[0], i, sc)));
                });
              }});
  r.Function({"new_guid", 0, 0, Returns(Type::kGuid), EvalNewGuid});
  r.Function({"assert", 2, 2,
              [](Types t) -> Result<Type> {
                if (t[0] != Type::kBool) return ArgTypeError("assert", 0, t[0], "bool");
                return Type::kBool;
              },
              EvalAssert});
}

}  // namespace cmk::kql::fn
