// parse_user_agent(ua, look_for): the browser, operating system and device of a User-Agent
// string, by the ua-parser project's shared rules (uap-core's regexes.yaml, Debian package
// uap-core, read once with yaml-cpp), as Kusto does. look_for is "browser", "os" or "device", or
// a dynamic array of them; the result holds Browser {Family, MajorVersion, MinorVersion, Patch},
// OperatingSystem {Family, MajorVersion, MinorVersion, Patch, PatchMinor} and Device {Family,
// Brand, Model}, "" for a part the rules don't give and "Other" for an unknown family.
// Rules whose pattern RE2 can't compile are skipped (none in uap-core 0.16). Without the rules
// file the function fails with a message naming it.
#include "kql/functions/user_agent.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <map>
#include <memory>
#include <mutex>

#include "env/env.h"
#include "kql/functions/function_json.h"
#include "kql/functions/function_regex.h"

namespace cmk::kql::fn {
namespace {

constexpr std::string_view kRulesPath = "/usr/share/uap-core/regexes.yaml";

// One rule: the pattern and the replacements of its output fields (none: the capture group; a
// rule may give an empty replacement to leave a field empty).
struct Rule {
  std::unique_ptr<RE2> regex;
  std::vector<std::optional<std::string>> replacements;
};

struct Rules {
  std::vector<Rule> browser, os, device;
};

// The replacement keys per section, in output order.
constexpr std::array<std::string_view, 4> kBrowserKeys = {"family_replacement", "v1_replacement", "v2_replacement",
                                                          "v3_replacement"};
constexpr std::array<std::string_view, 5> kOsKeys = {"os_replacement", "os_v1_replacement", "os_v2_replacement",
                                                     "os_v3_replacement", "os_v4_replacement"};
constexpr std::array<std::string_view, 3> kDeviceKeys = {"device_replacement", "brand_replacement",
                                                         "model_replacement"};

template <size_t N>
std::vector<Rule> ReadSection(const YAML::Node& list, const std::array<std::string_view, N>& keys) {
  std::vector<Rule> rules;
  for (const YAML::Node& item : list) {
    if (!item["regex"]) continue;
    RE2::Options options;
    options.set_max_mem(kRegexMaxMem);
    options.set_log_errors(false);
    options.set_case_sensitive(!(item["regex_flag"] && item["regex_flag"].as<std::string>() == "i"));
    Rule r{std::make_unique<RE2>(item["regex"].as<std::string>(), options), {}};
    if (!r.regex->ok()) continue;
    for (std::string_view k : keys) {
      YAML::Node v = item[std::string(k)];
      r.replacements.push_back(v ? std::optional<std::string>(v.as<std::string>()) : std::nullopt);
    }
    rules.push_back(std::move(r));
  }
  return rules;
}

// The rules, read on first use; the error (missing or unreadable file) is remembered too.
const Result<Rules>& LoadRules() {
  static const Result<Rules> rules = []() -> Result<Rules> {
    try {
      YAML::Node doc = YAML::LoadFile(std::string(kRulesPath));
      return Rules{ReadSection(doc["user_agent_parsers"], kBrowserKeys), ReadSection(doc["os_parsers"], kOsKeys),
                   ReadSection(doc["device_parsers"], kDeviceKeys)};
    } catch (...) {
      return InvalidArgument("parse_user_agent: cannot read the user agent rules " + std::string(kRulesPath) +
                                 " (Debian package uap-core): " + env::CurrentExceptionText(),
                             "SemanticError");
    }
  }();
  return rules;
}

// `replacement` with $1..$9 replaced by the groups (an absent group is ""), trimmed.
std::string Substitute(std::string_view replacement, const std::vector<re2::StringPiece>& groups) {
  std::string out;
  for (size_t i = 0; i < replacement.size(); ++i) {
    char d = i + 1 < replacement.size() ? replacement[i + 1] : '\0';
    if (replacement[i] == '$' && d >= '1' && d <= '9') {
      size_t g = static_cast<size_t>(d - '0');
      if (g < groups.size() && groups[g].data() != nullptr) out.append(groups[g].data(), groups[g].size());
      ++i;
    } else {
      out.push_back(replacement[i]);
    }
  }
  size_t b = out.find_first_not_of(' '), e = out.find_last_not_of(' ');
  return b == std::string::npos ? std::string() : out.substr(b, e - b + 1);
}

// The fields of the first rule that matches: field k is its replacement (substituted) or, for
// a rule without one, capture group `group_of(k)` (0: none).
template <typename GroupOf>
std::optional<std::vector<std::string>> Match(const std::vector<Rule>& rules, std::string_view ua, GroupOf group_of) {
  std::vector<re2::StringPiece> groups;
  for (const Rule& r : rules) {
    groups.assign(static_cast<size_t>(r.regex->NumberOfCapturingGroups()) + 1, re2::StringPiece());
    if (!r.regex->Match(ua, 0, ua.size(), RE2::UNANCHORED, groups.data(), static_cast<int>(groups.size()))) continue;
    std::vector<std::string> fields;
    for (size_t k = 0; k < r.replacements.size(); ++k) {
      if (r.replacements[k]) {
        fields.push_back(Substitute(*r.replacements[k], groups));
      } else {
        size_t g = group_of(k);
        bool has = g > 0 && g < groups.size() && groups[g].data() != nullptr;
        fields.push_back(has ? std::string(groups[g].data(), groups[g].size()) : std::string());
      }
    }
    return fields;
  }
  return std::nullopt;
}

bj::object Part(std::span<const std::string_view> names, std::optional<std::vector<std::string>> fields) {
  bj::object o;
  for (size_t k = 0; k < names.size(); ++k) o[names[k]] = fields ? (*fields)[k] : std::string();
  if (!fields || (*fields)[0].empty()) o[names[0]] = "Other";
  return o;
}

bj::object ParseUserAgent(const Rules& rules, std::string_view ua, bool browser, bool os, bool device) {
  static constexpr std::string_view kBrowser[] = {"Family", "MajorVersion", "MinorVersion", "Patch"};
  static constexpr std::string_view kOs[] = {"Family", "MajorVersion", "MinorVersion", "Patch", "PatchMinor"};
  static constexpr std::string_view kDevice[] = {"Family", "Brand", "Model"};
  bj::object out;
  auto in_order = [](size_t k) { return k + 1; };  // field k <- group k+1
  if (browser) out["Browser"] = Part(kBrowser, Match(rules.browser, ua, in_order));
  if (os) out["OperatingSystem"] = Part(kOs, Match(rules.os, ua, in_order));
  if (device) {
    // Device: family and model default to group 1, the brand has no default.
    auto fields = Match(rules.device, ua, [](size_t k) -> size_t { return k == 1 ? 0 : 1; });
    out["Device"] = Part(kDevice, std::move(fields));
  }
  return out;
}

// look_for: "browser" | "os" | "device", or an array of them; false for anything else.
bool LookFor(const Column& c, size_t row, bool& browser, bool& os, bool& device) {
  browser = os = device = false;
  auto one = [&](std::string_view s) {
    if (EqualsNoCase(s, "browser")) browser = true;
    else if (EqualsNoCase(s, "os")) os = true;
    else if (EqualsNoCase(s, "device")) device = true;
    else return false;
    return true;
  };
  if (c.IsNull(row)) return false;
  if (c.type == Type::kString) return one(c.Str(row));
  std::optional<bj::value> v = ParseJson(c.Str(row));
  if (!v) return false;
  if (v->is_string()) return one(v->as_string());
  if (!v->is_array() || v->as_array().empty()) return false;
  for (const bj::value& e : v->as_array()) {
    if (!e.is_string() || !one(e.as_string())) return false;
  }
  return true;
}

Result<Column> EvalParseUserAgent(Args a, const FunctionContext& ctx) {
  const Result<Rules>& rules = LoadRules();
  if (!rules.ok()) return rules.status();
  std::string sc;
  std::map<std::string, std::string, std::less<>> seen;  // repeated user agents in a batch
  return MapRows(a, ctx, Type::kDynamic, [&](Column& out, size_t i) {
    bool browser, os, device;
    if (!LookFor(*a[1], i, browser, os, device)) return SetNull(out, i);
    std::string_view ua = TextOf(*a[0], i, sc);
    std::string key = std::string(1, static_cast<char>('0' + browser + 2 * os + 4 * device)) + std::string(ua);
    auto it = seen.find(key);
    if (it == seen.end() && seen.size() < 4096) {
      it = seen.emplace(key, WriteJson(ParseUserAgent(*rules, ua, browser, os, device))).first;
    }
    out.strings[i] = it != seen.end() ? it->second : WriteJson(ParseUserAgent(*rules, ua, browser, os, device));
  });
}

}  // namespace

void RegisterUserAgent(Registry& r) {
  r.Function({"parse_user_agent", 2, 2,
              [](Types t) -> Result<Type> {
                if (t[1] != Type::kString && t[1] != Type::kDynamic) {
                  return ArgTypeError("parse_user_agent", 1, t[1], "string or dynamic");
                }
                return Type::kDynamic;
              },
              EvalParseUserAgent});
}

}  // namespace cmk::kql::fn
