// format_datetime and format_timespan with Kusto's format specifiers: d dd, f..fffffff,
// F..FFFFFFF (trailing zeros trimmed), h hh (12-hour), H HH, m mm, M MM, s ss, y yy yyyy, tt t;
// any other character (the documented separators / - : , . _ [ ] and space) is copied.
#include <cstdio>

#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

std::string Padded(int64_t v, size_t width) {
  std::string s = std::to_string(v);
  if (s.size() < width) s.insert(0, width - s.size(), '0');
  return s;
}

// Fraction of a second (0..9999999 ticks) with `n` digits; F trims trailing zeros.
std::string FractionDigits(int64_t frac, size_t n, bool trim) {
  std::string s = Padded(frac, 7).substr(0, std::min<size_t>(n, 7));
  while (s.size() < n) s.push_back('0');
  if (trim) {
    while (!s.empty() && s.back() == '0') s.pop_back();
  }
  return s;
}

struct Fields {
  int64_t year = 0, month = 0, day = 0, days = 0, hour = 0, minute = 0, second = 0, frac = 0;
};

std::string Format(std::string_view fmt, const Fields& f, bool timespan) {
  std::string out;
  for (size_t i = 0; i < fmt.size();) {
    char c = fmt[i];
    size_t n = 1;
    while (i + n < fmt.size() && fmt[i + n] == c) ++n;
    i += n;
    switch (c) {
      case 'd': out += timespan ? Padded(f.days, n) : Padded(f.day, std::min<size_t>(n, 2)); break;
      case 'f': out += FractionDigits(f.frac, n, false); break;
      case 'F': out += FractionDigits(f.frac, n, true); break;
      case 'h':
        out += timespan ? Padded(f.hour, std::min<size_t>(n, 2))
                        : Padded(f.hour % 12 == 0 ? 12 : f.hour % 12, std::min<size_t>(n, 2));
        break;
      case 'H': out += Padded(f.hour, std::min<size_t>(n, 2)); break;
      case 'm': out += Padded(f.minute, std::min<size_t>(n, 2)); break;
      case 'M': out += timespan ? std::string(n, 'M') : Padded(f.month, std::min<size_t>(n, 2)); break;
      case 's': out += Padded(f.second, std::min<size_t>(n, 2)); break;
      case 'y':
        if (timespan) out += std::string(n, 'y');
        else out += n <= 2 ? Padded(f.year % 100, n) : Padded(f.year, n);
        break;
      case 't':
        if (timespan) out += std::string(n, 't');
        else out += std::string(f.hour < 12 ? "AM" : "PM").substr(0, std::min<size_t>(n, 2));
        break;
      default: out.append(n, c);
    }
  }
  return out;
}

Result<Column> EvalFormat(bool timespan, Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  for (size_t i = 0; i < s.rows; ++i) {
    if (a[0]->IsNull(i)) continue;  // strings are never null: empty
    int64_t t = a[0]->Int(i);
    Fields f;
    std::string sign;
    if (timespan) {
      uint64_t u = t < 0 ? 0 - static_cast<uint64_t>(t) : static_cast<uint64_t>(t);
      if (t < 0) sign = "-";
      uint64_t tps = kTicksPerSecond;
      f.days = static_cast<int64_t>(u / (86400 * tps));
      f.hour = static_cast<int64_t>(u / (3600 * tps) % 24);
      f.minute = static_cast<int64_t>(u / (60 * tps) % 60);
      f.second = static_cast<int64_t>(u / tps % 60);
      f.frac = static_cast<int64_t>(u % tps);
    } else {
      Civil c = ToCivil(t);
      f.year = c.year, f.month = c.month, f.day = c.day;
      f.hour = c.time_of_day / (3600 * kTicksPerSecond);
      f.minute = c.time_of_day / (60 * kTicksPerSecond) % 60;
      f.second = c.time_of_day / kTicksPerSecond % 60;
      f.frac = c.time_of_day % kTicksPerSecond;
    }
    out.strings[i] = sign + Format(ValueToString(*a[1], i), f, timespan);
  }
  return out;
}

Result<Type> FormatType(std::string_view fn, Type want, Types t) {
  if (t[0] != want) return ArgTypeError(fn, 0, t[0], TypeName(want));
  if (t[1] != Type::kString) return ArgTypeError(fn, 1, t[1], "string");
  return Type::kString;
}

}  // namespace

void RegisterFormat(Registry& r) {
  r.Function({"format_datetime", 2, 2,
              [](Types t) { return FormatType("format_datetime", Type::kDateTime, t); },
              [](Args a, const FunctionContext& c) { return EvalFormat(false, a, c); }});
  r.Function({"format_timespan", 2, 2,
              [](Types t) { return FormatType("format_timespan", Type::kTimespan, t); },
              [](Args a, const FunctionContext& c) { return EvalFormat(true, a, c); }});
}

}  // namespace cmk::kql::fn
