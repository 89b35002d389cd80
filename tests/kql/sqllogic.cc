#include "sqllogic.h"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "base/time_format.h"
#include "kql/core/column.h"
#include "kql/engine.h"
#include "kql/syntax/lexer.h"

namespace cmk::kql::sqllogic {
namespace {

constexpr std::string_view kDefaultNow = "2024-01-15T12:00:00Z";

// ---- Small string helpers.
std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return std::string(s.substr(b, e - b));
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    out.emplace_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

std::vector<std::string> Words(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string Join(const std::vector<std::string>& v, std::string_view sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? std::string(sep) : "") + v[i];
  return s;
}

// ---- Canonical rendering of values (README.md, "Values").
std::string EscapeText(std::string_view s) {
  if (s.empty()) return "(empty)";
  std::string out;
  for (char c : s) {
    if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else out.push_back(c);
  }
  return out;
}

std::string UnescapeText(std::string_view s) {
  if (s == "(empty)") return "";
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == 't' || s[i + 1] == 'n' || s[i + 1] == 'r')) {
      out.push_back(s[i + 1] == 't' ? '\t' : s[i + 1] == 'n' ? '\n' : '\r');
      ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::string RenderDateTime(int64_t ticks) {
  int64_t day = FloorDiv(ticks, kTicksPerDay);
  int64_t rem = ticks - day * kTicksPerDay;
  std::chrono::year_month_day ymd{std::chrono::sys_days(std::chrono::days(day))};
  int64_t secs = rem / kTicksPerSecond;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%07lldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                static_cast<long long>(secs % 60), static_cast<long long>(rem % kTicksPerSecond));
  return buf;
}

std::string RenderTimespan(int64_t ticks) {
  std::string out;
  uint64_t t = static_cast<uint64_t>(ticks);
  if (ticks < 0) {
    out = "-";
    t = 0 - t;
  }
  uint64_t days = t / kTicksPerDay, rem = t % kTicksPerDay;
  uint64_t secs = rem / kTicksPerSecond, frac = rem % kTicksPerSecond;
  char buf[64];
  if (days > 0) out += std::to_string(days) + ".";
  std::snprintf(buf, sizeof buf, "%02llu:%02llu:%02llu", static_cast<unsigned long long>(secs / 3600),
                static_cast<unsigned long long>(secs / 60 % 60), static_cast<unsigned long long>(secs % 60));
  out += buf;
  if (frac != 0) {
    std::snprintf(buf, sizeof buf, ".%07llu", static_cast<unsigned long long>(frac));
    out += buf;
  }
  return out;
}

std::string RenderReal(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return "0";  // also -0
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

std::optional<boost::json::value> ParseJson(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

std::string RenderDynamic(const std::string& text) {
  std::optional<boost::json::value> v = ParseJson(text);
  if (!v) return "<invalid JSON: " + text + ">";
  if (v->is_null()) return "NULL";
  return boost::json::serialize(*v);
}

std::optional<std::string> RenderValueImpl(const Column& c, size_t row) {
  if (c.IsNull(row)) return std::nullopt;
  switch (c.type) {
    case Type::kBool: return c.Int(row) ? "true" : "false";
    case Type::kInt:
    case Type::kLong: return std::to_string(c.Int(row));
    case Type::kReal:
    case Type::kDecimal: return RenderReal(c.Real(row));
    case Type::kDateTime: return RenderDateTime(c.Int(row));
    case Type::kTimespan: return RenderTimespan(c.Int(row));
    case Type::kDynamic: {
      std::string d = RenderDynamic(std::string(c.Str(row)));
      if (d == "NULL") return std::nullopt;
      return d;
    }
    case Type::kString:
    case Type::kGuid: return std::string(c.Str(row));
  }
  return "?";
}

std::string RenderCell(const Column& c, size_t row) {
  std::optional<std::string> v = RenderValueImpl(c, row);
  if (!v) return "NULL";
  return c.type == Type::kString || c.type == Type::kGuid ? EscapeText(*v) : *v;
}

// ---- Comparison of one expected cell with the rendered actual one.
bool RealsEqual(const std::string& expected, const std::string& actual) {
  if (expected == actual) return true;
  char* e1 = nullptr;
  char* e2 = nullptr;
  double a = std::strtod(expected.c_str(), &e1);
  double b = std::strtod(actual.c_str(), &e2);
  if (*e1 != '\0' || *e2 != '\0' || expected.empty() || actual.empty()) return false;
  if (!std::isfinite(a) || !std::isfinite(b)) return false;
  return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b));
}

bool JsonEqual(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_double() || b.is_double()) {
      double x = a.to_number<double>(), y = b.to_number<double>();
      return x == y || std::fabs(x - y) <= 1e-9 * std::max(std::fabs(x), std::fabs(y));
    }
    if (a.is_int64() && b.is_int64()) return a.as_int64() == b.as_int64();
    return a == b;
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto& x = a.as_array();
    const auto& y = b.as_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!JsonEqual(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto& x = a.as_object();
    const auto& y = b.as_object();
    if (x.size() != y.size()) return false;
    for (const auto& kv : x) {
      const boost::json::value* other = y.if_contains(kv.key());
      if (!other || !JsonEqual(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

bool CellEqual(Type type, const std::string& expected, const std::string& actual) {
  if (expected == actual) return true;
  if (UsesReals(type)) return RealsEqual(expected, actual);
  if (type == Type::kDynamic) {
    std::optional<boost::json::value> e = ParseJson(expected), a = ParseJson(actual);
    return e && a && JsonEqual(*e, *a);
  }
  return false;
}

bool TypeMatches(char letter, Type t) {
  switch (letter) {
    case 'I': return t == Type::kInt || t == Type::kLong;
    case 'R': return t == Type::kReal || t == Type::kDecimal;
    case 'T': return t == Type::kString;
    case 'D': return t == Type::kDateTime;
    case 'S': return t == Type::kTimespan;
    case 'B': return t == Type::kBool;
    case 'Y': return t == Type::kDynamic;
    case 'G': return t == Type::kGuid;
  }
  return false;
}

char LetterFor(Type t) {
  switch (t) {
    case Type::kInt:
    case Type::kLong: return 'I';
    case Type::kReal:
    case Type::kDecimal: return 'R';
    case Type::kString: return 'T';
    case Type::kDateTime: return 'D';
    case Type::kTimespan: return 'S';
    case Type::kBool: return 'B';
    case Type::kDynamic: return 'Y';
    case Type::kGuid: return 'G';
  }
  return '?';
}

// ---- Loading `table` data.
Result<Column> ParseColumnValues(Type type, const std::vector<std::string>& cells) {
  Column c(type);
  for (const std::string& cell : cells) {
    if (cell == "NULL" && type != Type::kString) {
      c.AppendNull();
      continue;
    }
    switch (type) {
      case Type::kBool:
        if (cell != "true" && cell != "false") return InvalidArgument("bad bool '" + cell + "'");
        c.AppendInt(cell == "true");
        break;
      case Type::kInt:
      case Type::kLong: {
        char* end = nullptr;
        long long v = std::strtoll(cell.c_str(), &end, 10);
        if (cell.empty() || *end) return InvalidArgument("bad integer '" + cell + "'");
        c.AppendInt(v);
        break;
      }
      case Type::kReal:
      case Type::kDecimal: {
        char* end = nullptr;
        double v = std::strtod(cell.c_str(), &end);
        if (cell.empty() || *end) return InvalidArgument("bad real '" + cell + "'");
        c.AppendReal(v);
        break;
      }
      case Type::kDateTime: {
        Result<TimePoint> t = ParseRfc3339(cell);
        if (!t.ok()) return t.status();
        c.AppendInt(std::chrono::duration_cast<std::chrono::nanoseconds>(t->time_since_epoch()).count() / 100);
        break;
      }
      case Type::kTimespan: {
        std::optional<int64_t> ticks = ParseTimespanText(cell);
        if (!ticks) return InvalidArgument("bad timespan '" + cell + "'");
        c.AppendInt(*ticks);
        break;
      }
      case Type::kDynamic: {
        std::optional<boost::json::value> v = ParseJson(cell);
        if (!v) return InvalidArgument("bad JSON '" + cell + "'");
        c.AppendString(boost::json::serialize(*v));
        break;
      }
      case Type::kString: c.AppendString(UnescapeText(cell)); break;
      case Type::kGuid: {
        std::string g = cell;
        std::transform(g.begin(), g.end(), g.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        c.AppendString(g);
        break;
      }
    }
  }
  return c;
}

// ---- The file and its records.
struct Line {
  int number;
  std::string text;
};

class Runner {
 public:
  Runner(std::vector<Line> lines, std::string display) : lines_(std::move(lines)), display_(std::move(display)) {
    now_ = *ParseRfc3339(kDefaultNow);
  }

  FileReport Run() {
    while (pos_ < lines_.size()) {
      const Line& line = lines_[pos_];
      std::string t = Trim(line.text);
      if (t.empty()) {
        ++pos_;
        continue;
      }
      if (StartsWith(t, "# skip-bug:") || StartsWith(t, "# skip-crash:")) {
        pending_crash_ = StartsWith(t, "# skip-crash:");
        pending_bug_ = Trim(t.substr(pending_crash_ ? 13 : 11));
        pending_bug_line_ = line.number;
        ++pos_;
        continue;
      }
      if (t[0] == '#') {
        ++pos_;
        continue;
      }
      std::vector<std::string> w = Words(t);
      const std::string& cmd = w[0];
      if (cmd == "advance-clock" || cmd == "vault-outage" || cmd == "restart") {
        report_.skipped_reason = display_ + ":" + std::to_string(line.number) + ": '" + t +
                                 "' skipped: needs the storage engine (rest of the file not run)";
        break;
      }
      if (cmd == "table") {
        Table(line);
      } else if (cmd == "set-now") {
        SetNow(line, w);
      } else if (cmd == "statement") {
        Statement(line, w);
      } else if (cmd == "query") {
        Query(line, w);
      } else {
        Fail(line.number, "", "unknown directive '" + cmd + "'");
        ++pos_;
      }
    }
    return std::move(report_);
  }

 private:
  // Lines from pos_ up to (not including) a blank line or, when `stop` is set, a line equal to it.
  std::vector<std::string> Block(std::string_view stop = {}) {
    std::vector<std::string> out;
    while (pos_ < lines_.size()) {
      const std::string& l = lines_[pos_].text;
      if (Trim(l).empty()) break;
      if (!stop.empty() && Trim(l) == stop) break;
      out.push_back(l);
      ++pos_;
    }
    return out;
  }

  void Fail(int line, const std::string& query, const std::string& what) {
    std::string msg = display_ + ":" + std::to_string(line) + ":";
    if (!query.empty()) msg += "\n  query:\n    " + Join(Split(query, '\n'), "\n    ") + "\n ";
    msg += " " + what;
    if (!pending_bug_.empty()) {
      report_.known_bugs.push_back(display_ + ":" + std::to_string(pending_bug_line_) +
                                   ": known engine bug: " + pending_bug_ + "\n" + msg);
    } else {
      report_.failures.push_back(msg);
      ++report_.failures_count;
    }
  }

  // Called when a record finished: passed == no Fail() was called for it.
  void Done(bool passed) {
    if (!pending_bug_.empty() && passed) {
      report_.fixed_bugs.push_back(display_ + ":" + std::to_string(pending_bug_line_) +
                                   ": '# skip-bug: " + pending_bug_ + "' now passes; remove the marker");
    }
    pending_bug_.clear();
    pending_crash_ = false;
  }

  // A `# skip-crash:` record is parsed but not run (it would take the whole binary down).
  bool SkipCrash(int line) {
    if (!pending_crash_) return false;
    report_.known_bugs.push_back(display_ + ":" + std::to_string(pending_bug_line_) + ": known engine bug (not run, crashes): " +
                                 pending_bug_ + "\n" + display_ + ":" + std::to_string(line));
    pending_bug_.clear();
    pending_crash_ = false;
    return true;
  }

  void Table(const Line& header) {
    // table Name (a:type, b:type)
    std::string t = Trim(header.text).substr(5);
    size_t open = t.find('('), close = t.rfind(')');
    ++pos_;
    std::vector<std::string> rows = Block();
    if (open == std::string::npos || close == std::string::npos || close < open) {
      Fail(header.number, "", "bad table directive: " + header.text);
      return;
    }
    kql::Table table;
    table.name = Trim(t.substr(0, open));
    std::vector<Type> types;
    for (const std::string& decl : Split(t.substr(open + 1, close - open - 1), ',')) {
      size_t colon = decl.find(':');
      std::optional<Type> type = colon == std::string::npos ? std::nullopt : ParseTypeName(Trim(decl.substr(colon + 1)));
      if (!type) {
        Fail(header.number, "", "bad column declaration '" + decl + "'");
        return;
      }
      table.names.push_back(Trim(decl.substr(0, colon)));
      types.push_back(*type);
    }
    std::vector<std::vector<std::string>> cells(types.size());
    for (size_t r = 0; r < rows.size(); ++r) {
      std::vector<std::string> v = Split(rows[r], '\t');
      if (v.size() != types.size()) {
        Fail(header.number + 1 + static_cast<int>(r), "",
             "row has " + std::to_string(v.size()) + " tab-separated values, table has " +
                 std::to_string(types.size()) + " columns");
        return;
      }
      for (size_t i = 0; i < v.size(); ++i) cells[i].push_back(v[i]);
    }
    for (size_t i = 0; i < types.size(); ++i) {
      Result<Column> c = ParseColumnValues(types[i], cells[i]);
      if (!c.ok()) {
        Fail(header.number, "", "table " + table.name + " column " + table.names[i] + ": " + c.status().message());
        return;
      }
      table.columns.push_back(std::move(*c));
    }
    table.rows = rows.size();
    tables_[table.name] = std::move(table);
  }

  void SetNow(const Line& line, const std::vector<std::string>& w) {
    ++pos_;
    Result<TimePoint> t = w.size() == 2 ? ParseRfc3339(w[1]) : Result<TimePoint>(InvalidArgument("usage: set-now <datetime>"));
    if (!t.ok()) {
      Fail(line.number, "", t.status().message());
      return;
    }
    now_ = *t;
  }

  Result<QueryResult> Execute(const std::string& query) {
    // KQL_TRACE=1 names each query before it runs (to find the record that crashes the engine).
    if (std::getenv("KQL_TRACE")) std::fprintf(stderr, "[ TRACE ] %s:%d\n", display_.c_str(), record_line_);
    InMemoryCatalog catalog;
    for (const auto& [name, table] : tables_) catalog.Add(table);
    ExecOptions options;
    options.now = now_;
    return kql::Execute(query, catalog, options);
  }

  // statement ok | statement error [Code] [message substring] | statement render <visualization>
  void Statement(const Line& line, const std::vector<std::string>& w) {
    record_line_ = line.number;
    ++pos_;
    std::string query = Join(Block(), "\n");
    if (SkipCrash(line.number)) return;
    ++report_.records;
    size_t failures = report_.failures.size() + report_.known_bugs.size();
    if (query.empty()) {
      Fail(line.number, "", "statement without a query");
    } else if (w.size() >= 2 && w[1] == "ok") {
      Result<QueryResult> r = Execute(query);
      if (!r.ok()) Fail(line.number, query, "expected success, got " + r.status().ToString());
    } else if (w.size() >= 2 && w[1] == "error") {
      std::string code, substring;
      size_t i = 2;
      if (i < w.size() && w[i].size() > 5 && w[i].ends_with("Error")) code = w[i++];
      std::string t = Trim(line.text);
      if (i < w.size()) substring = Trim(t.substr(t.find(w[i], t.find("error") + 5)));
      Result<QueryResult> r = Execute(query);
      if (r.ok()) {
        Fail(line.number, query, "expected an error" + (code.empty() ? "" : " " + code) + ", the query succeeded");
      } else if (!code.empty() && r.status().error_code() != code) {
        Fail(line.number, query, "expected error code " + code + ", got " + r.status().ToString());
      } else if (!substring.empty() && r.status().message().find(substring) == std::string::npos) {
        Fail(line.number, query, "expected the error message to contain '" + substring + "', got " + r.status().ToString());
      }
    } else if (w.size() >= 3 && w[1] == "render") {
      Result<QueryResult> r = Execute(query);
      if (!r.ok()) {
        Fail(line.number, query, "expected success, got " + r.status().ToString());
      } else if (!r->render || r->render->count("visualization") == 0 || r->render->at("visualization") != w[2]) {
        Fail(line.number, query, "expected render visualization '" + w[2] + "', got " +
                                     (r->render && r->render->count("visualization") ? r->render->at("visualization") : "none"));
      }
    } else {
      Fail(line.number, "", "usage: statement ok | statement error [Code] [text] | statement render <kind>");
    }
    Done(report_.failures.size() + report_.known_bugs.size() == failures);
  }

  // query <types> [rowsort|nosort] [colnames]
  void Query(const Line& line, const std::vector<std::string>& w) {
    record_line_ = line.number;
    ++pos_;
    std::string query = Join(Block("----"), "\n");
    std::vector<std::string> expected;
    bool has_separator = pos_ < lines_.size() && Trim(lines_[pos_].text) == "----";
    if (has_separator) {
      ++pos_;
      expected = Block();
    }
    if (SkipCrash(line.number)) return;
    ++report_.records;
    size_t failures = report_.failures.size() + report_.known_bugs.size();
    RunQuery(line, w, query, has_separator, expected);
    Done(report_.failures.size() + report_.known_bugs.size() == failures);
  }

  void RunQuery(const Line& line, const std::vector<std::string>& w, const std::string& query, bool has_separator,
                std::vector<std::string> expected) {
    if (w.size() < 2 || query.empty() || !has_separator) {
      Fail(line.number, query, "usage: query <types> [rowsort|nosort] [colnames], the query, '----', rows");
      return;
    }
    const std::string& letters = w[1];
    bool rowsort = false, colnames = false;
    for (size_t i = 2; i < w.size(); ++i) {
      if (w[i] == "rowsort") rowsort = true;
      else if (w[i] == "nosort") rowsort = false;
      else if (w[i] == "colnames") colnames = true;
      else {
        Fail(line.number, query, "unknown query option '" + w[i] + "'");
        return;
      }
    }
    Result<QueryResult> r = Execute(query);
    if (!r.ok()) {
      Fail(line.number, query, "query failed: " + r.status().ToString());
      return;
    }
    if (r->tables.empty()) {
      Fail(line.number, query, "query returned no tables");
      return;
    }
    const kql::Table& t = r->tables[0];
    std::string actual_letters;
    for (const Column& c : t.columns) actual_letters.push_back(LetterFor(c.type));
    std::vector<std::string> actual;
    std::string header = Join(t.names, "\t");
    for (size_t row = 0; row < t.rows; ++row) {
      std::vector<std::string> cells;
      for (const Column& c : t.columns) cells.push_back(RenderCell(c, row));
      actual.push_back(Join(cells, "\t"));
    }
    std::string expected_header;
    if (colnames && !expected.empty()) {
      expected_header = expected.front();
      expected.erase(expected.begin());
    }
    if (rowsort) {
      std::sort(expected.begin(), expected.end());
      std::sort(actual.begin(), actual.end());
    }
    std::string problem;
    if (letters.size() != t.columns.size()) {
      problem = "expected " + std::to_string(letters.size()) + " columns (" + letters + "), got " +
                std::to_string(t.columns.size()) + " (" + actual_letters + ")";
    } else {
      for (size_t i = 0; i < letters.size() && problem.empty(); ++i) {
        if (!TypeMatches(letters[i], t.columns[i].type)) {
          problem = "column " + std::to_string(i + 1) + " '" + t.names[i] + "' has type " + TypeName(t.columns[i].type) +
                    ", expected '" + letters[i] + "' (types " + letters + " vs actual " + actual_letters + ")";
        }
      }
    }
    if (problem.empty() && colnames && expected_header != header) problem = "column names differ";
    if (problem.empty() && expected.size() != actual.size()) {
      problem = "expected " + std::to_string(expected.size()) + " rows, got " + std::to_string(actual.size());
    }
    for (size_t row = 0; problem.empty() && row < expected.size(); ++row) {
      std::vector<std::string> e = Split(expected[row], '\t'), a = Split(actual[row], '\t');
      bool same = e.size() == a.size();
      for (size_t i = 0; same && i < e.size(); ++i) same = CellEqual(t.columns[i].type, e[i], a[i]);
      if (!same) problem = "row " + std::to_string(row + 1) + " differs";
    }
    if (problem.empty()) return;
    std::string msg = problem + "\n  expected" + (rowsort ? " (rowsort)" : "") + ":\n";
    if (colnames) msg += "    " + expected_header + "\n";
    for (const std::string& e : expected) msg += "    " + e + "\n";
    msg += "  actual (" + actual_letters + "):\n";
    if (colnames || problem == "column names differ" || letters.size() != t.columns.size()) msg += "    " + header + "\n";
    for (const std::string& a : actual) msg += "    " + a + "\n";
    if (actual.empty()) msg += "    (no rows)\n";
    Fail(line.number, query, msg);
  }

  std::vector<Line> lines_;
  std::string display_;
  size_t pos_ = 0;
  TimePoint now_;
  std::map<std::string, kql::Table> tables_;
  std::string pending_bug_;
  int pending_bug_line_ = 0;
  int record_line_ = 0;
  bool pending_crash_ = false;
  FileReport report_;
};

}  // namespace

std::optional<std::string> RenderValue(const Column& column, size_t row) { return RenderValueImpl(column, row); }

FileReport RunFile(const std::string& path, const std::string& display) {
  std::ifstream in(path);
  if (!in) {
    FileReport r;
    r.failures.push_back(display + ": cannot open " + path);
    r.failures_count = 1;
    return r;
  }
  std::vector<Line> lines;
  std::string text;
  int n = 0;
  while (std::getline(in, text)) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    lines.push_back({++n, text});
  }
  return Runner(std::move(lines), display).Run();
}

}  // namespace cmk::kql::sqllogic
