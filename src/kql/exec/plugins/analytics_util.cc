// Shared pieces of the user-analytics plugins (analytics_util.h).
#include "kql/exec/plugins/analytics_util.h"

#include <algorithm>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cmath>
#include <limits>

#include "kql/exec/eval.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::plugins::analytics {
namespace {

constexpr int64_t kSunday = 3 * kTicksPerDay;  // 1970-01-04, the first Sunday of the epoch

// Floor division of 128-bit values, clamped to half the int64 range (far beyond kMaxBinIndex).
int64_t FloorIndex(__int128 a, int64_t b) {
  __int128 q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  constexpr int64_t kLimit = std::numeric_limits<int64_t>::max() / 2;
  return q > kLimit ? kLimit : q < -kLimit ? -kLimit : static_cast<int64_t>(q);
}

struct Event {
  uint32_t dim;
  int64_t bin;
  int64_t dcount_delta;
  int64_t count_delta;
};

}  // namespace

Status ArgError(std::string_view plugin, const std::string& message) {
  return InvalidArgument(std::string(plugin) + "(): " + message, "SemanticError");
}

int64_t Saturate(__int128 v) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  return v > kMax ? kMax : v < kMin ? kMin : static_cast<int64_t>(v);
}

bool IsTimelineType(Type t) {
  return t == Type::kDateTime || t == Type::kTimespan || t == Type::kInt || t == Type::kLong;
}

Result<int> ColumnArg(std::string_view plugin, const PluginArgs& args, size_t i,
                      std::string_view what) {
  if (i >= args.values.size() || args.columns[i] < 0) {
    return ArgError(plugin, std::string(what) + " must be a column of the input");
  }
  return args.columns[i];
}

Result<int64_t> ConstInt(std::string_view plugin, const PluginArgs& args, size_t i,
                         std::string_view what) {
  if (i >= args.values.size()) return ArgError(plugin, "missing " + std::string(what));
  const Column& v = args.values[i];
  if (!v.constant || args.columns[i] >= 0)
    return ArgError(plugin, std::string(what) + " must be a constant");
  if (v.IsNull(0)) return ArgError(plugin, std::string(what) + " must not be null");
  if (UsesInts(v.type) && v.type != Type::kBool) return v.Int(0);
  if (UsesReals(v.type)) {
    double d = v.Real(0);
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18)
      return static_cast<int64_t>(d);
  }
  return ArgError(plugin, std::string(what) + " must be an integer, datetime or timespan, not " +
                              TypeName(v.type));
}

Result<int64_t> TimeArg(std::string_view plugin, const PluginArgs& args, size_t i,
                        std::string_view what, Type timeline) {
  ASSIGN_OR_RETURN(int64_t v, ConstInt(plugin, args, i, what));
  Type t = args.values[i].type;
  bool numeric = timeline == Type::kInt || timeline == Type::kLong;
  if (numeric ? !IsNumeric(t) : t != timeline) {
    return ArgError(plugin, std::string(what) + " must be a " + TypeName(timeline) +
                                " like the timeline, not " + TypeName(t));
  }
  return v;
}

Result<int64_t> SpanArg(std::string_view plugin, const PluginArgs& args, size_t i,
                        std::string_view what, Type timeline) {
  ASSIGN_OR_RETURN(int64_t v, ConstInt(plugin, args, i, what));
  bool numeric = timeline == Type::kInt || timeline == Type::kLong;
  if (numeric ? !IsNumeric(args.values[i].type) : args.values[i].type != Type::kTimespan) {
    return ArgError(plugin, std::string(what) + " must be a " + (numeric ? "number" : "timespan"));
  }
  if (v < 0) return ArgError(plugin, std::string(what) + " must not be negative");
  return v;
}

Result<double> ConstReal(std::string_view plugin, const PluginArgs& args, size_t i,
                         std::string_view what) {
  if (i >= args.values.size()) return ArgError(plugin, "missing " + std::string(what));
  const Column& v = args.values[i];
  if (!v.constant || args.columns[i] >= 0)
    return ArgError(plugin, std::string(what) + " must be a constant");
  if (!IsNumeric(v.type))
    return ArgError(plugin, std::string(what) + " must be a number, not " + TypeName(v.type));
  if (v.IsNull(0)) return ArgError(plugin, std::string(what) + " must not be null");
  return UsesReals(v.type) ? v.Real(0) : static_cast<double>(v.Int(0));
}

Result<Bins> Bins::Read(std::string_view plugin, const PluginArgs& args, size_t i, Type timeline,
                        int64_t origin) {
  if (i >= args.values.size()) return ArgError(plugin, "missing the bin (step) argument");
  Bins b;
  b.origin_ = origin;
  const Column& v = args.values[i];
  if (v.type == Type::kString && v.constant) {
    const std::string s(v.Str(0));
    if (timeline != Type::kDateTime)
      return ArgError(plugin, "a calendar bin ('" + s + "') needs a datetime timeline");
    if (s == "week")
      b.kind_ = Kind::kWeek, b.step_ = 7 * kTicksPerDay;
    else if (s == "month")
      b.kind_ = Kind::kMonth, b.step_ = 30 * kTicksPerDay;
    else if (s == "year")
      b.kind_ = Kind::kYear, b.step_ = 365 * kTicksPerDay;
    else
      return ArgError(plugin,
                      "the bin is a timespan or one of 'week', 'month', 'year', not '" + s + "'");
    return b;
  }
  bool ticks = timeline == Type::kDateTime || timeline == Type::kTimespan;
  if (ticks && v.type != Type::kTimespan)
    return ArgError(plugin, "the bin of a datetime timeline must be a timespan");
  if (!ticks && !IsNumeric(v.type))
    return ArgError(plugin, "the bin of a numeric timeline must be a number");
  ASSIGN_OR_RETURN(b.step_, ConstInt(plugin, args, i, "the bin"));
  if (b.step_ <= 0) return ArgError(plugin, "the bin must be positive");
  return b;
}

int64_t Bins::Index(int64_t t) const {
  switch (kind_) {
    case Kind::kFixed:
      return FloorIndex(static_cast<__int128>(t) - origin_, step_);
    case Kind::kWeek:
      return FloorIndex(static_cast<__int128>(t) - kSunday, 7 * kTicksPerDay);
    case Kind::kMonth: {
      fn::Civil c = fn::ToCivil(t);
      return c.year * 12 + static_cast<int64_t>(c.month) - 1;
    }
    case Kind::kYear:
      return fn::ToCivil(t).year;
  }
  return 0;
}

int64_t Bins::Start(int64_t index) const {
  switch (kind_) {
    case Kind::kFixed:
      return Saturate(static_cast<__int128>(origin_) + static_cast<__int128>(index) * step_);
    case Kind::kWeek:
      return Saturate(kSunday + static_cast<__int128>(index) * 7 * kTicksPerDay);
    case Kind::kMonth: {
      if (index > 12'000'000 || index < -12'000'000)
        return index < 0 ? std::numeric_limits<int64_t>::min()
                         : std::numeric_limits<int64_t>::max();
      int64_t year = fn::FloorDiv(index, 12);
      return fn::FromCivil(year, static_cast<unsigned>(index - year * 12 + 1), 1);
    }
    case Kind::kYear:
      if (index > 1'000'000 || index < -1'000'000)
        return index < 0 ? std::numeric_limits<int64_t>::min()
                         : std::numeric_limits<int64_t>::max();
      return fn::FromCivil(index, 1, 1);
  }
  return 0;
}

Result<BinRange> RangeOf(std::string_view plugin, const Bins& bins, int64_t start, int64_t end) {
  if (end < start) return ArgError(plugin, "End is before Start");
  BinRange r{bins.Index(start), bins.Index(end)};
  if (r.lo < -kMaxBinIndex || r.hi > kMaxBinIndex)
    return ArgError(plugin, "the analysis period has too many bins");
  return r;
}

Result<Keys> DenseKeys(const std::vector<const Column*>& columns, size_t rows,
                       const ExecContext& ctx) {
  Keys k;
  k.held = std::make_unique<MemoryReservation>(ctx.budget, "analytics keys");
  MemoryReservation& held = *k.held;
  RETURN_IF_ERROR(held.Grow(rows * sizeof(uint32_t)));
  k.of_row.resize(rows);
  if (columns.empty()) {
    if (rows > 0) k.first_row.push_back(0);
    return k;
  }
  boost::unordered_flat_map<std::string, uint32_t> numbers;
  std::string key;
  size_t bytes = 0;
  for (size_t r = 0; r < rows; ++r) {
    RETURN_IF_ERROR(TickBudget(ctx));
    key.clear();
    for (const Column* c : columns) EncodeKey(*c, r, key);
    auto [it, added] = numbers.try_emplace(key, static_cast<uint32_t>(k.first_row.size()));
    if (added) {
      k.first_row.push_back(static_cast<uint32_t>(r));
      bytes += key.size() + 48;
      if ((k.first_row.size() & 4095) == 0)
        RETURN_IF_ERROR(held.Resize(rows * sizeof(uint32_t) + bytes));
    }
    k.of_row[r] = it->second;
  }
  // The map goes with this frame; the Keys keep their two vectors.
  RETURN_IF_ERROR(held.Resize((rows + k.first_row.size()) * sizeof(uint32_t)));
  return k;
}

Result<std::vector<BinCounts>> WindowCounts(std::vector<Hit> hits, int64_t window, BinRange range,
                                            const ExecContext& ctx) {
  window = std::clamp<int64_t>(window, 1, range.hi - range.lo + 1);
  MemoryReservation held(ctx.budget, "analytics windows");
  RETURN_IF_ERROR(held.Grow(hits.size() * (sizeof(Hit) + 4 * sizeof(Event))));
  std::erase_if(hits,
                [&](const Hit& h) { return h.bin > range.hi || h.bin < range.lo - window + 1; });
  std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
    return std::tie(a.dim, a.id, a.bin) < std::tie(b.dim, b.id, b.bin);
  });
  // Each hit counts in bins [bin, bin + window); an id counts once in the union of its hits'.
  std::vector<Event> events;
  events.reserve(hits.size() * 2);
  for (size_t i = 0; i < hits.size();) {
    size_t j = i;
    int64_t from = hits[i].bin, to = hits[i].bin + window;  // the id's current run [from, to)
    for (; j < hits.size() && hits[j].dim == hits[i].dim && hits[j].id == hits[i].id; ++j) {
      const Hit& h = hits[j];
      events.push_back({h.dim, h.bin, 0, 1});
      events.push_back({h.dim, h.bin + window, 0, -1});
      if (h.bin > to) {
        events.push_back({h.dim, from, 1, 0});
        events.push_back({h.dim, to, -1, 0});
        from = h.bin;
      }
      to = h.bin + window;
    }
    events.push_back({hits[i].dim, from, 1, 0});
    events.push_back({hits[i].dim, to, -1, 0});
    i = j;
    RETURN_IF_ERROR(TickBudget(ctx));
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return std::tie(a.dim, a.bin) < std::tie(b.dim, b.bin);
  });
  std::vector<BinCounts> out;
  int64_t count = 0, dcount = 0;
  for (size_t i = 0; i < events.size();) {
    size_t j = i;
    for (; j < events.size() && events[j].dim == events[i].dim && events[j].bin == events[i].bin;
         ++j) {
      count += events[j].count_delta;
      dcount += events[j].dcount_delta;
    }
    bool same_dim = j < events.size() && events[j].dim == events[i].dim;
    int64_t first = std::max(events[i].bin, range.lo);
    int64_t last = std::min(same_dim ? events[j].bin - 1 : range.hi, range.hi);
    for (int64_t b = first; count > 0 && b <= last; ++b) {
      out.push_back({events[i].dim, b, count, dcount});
      if ((out.size() & 4095) == 0) {
        RETURN_IF_ERROR(held.Grow(4096 * sizeof(BinCounts)));
        RETURN_IF_ERROR(CheckBudget(ctx));
      }
    }
    i = j;
  }
  return out;
}

void AddDimColumns(Table& out, const Table& input, const std::vector<int>& dims, const Keys& keys,
                   const std::vector<uint32_t>& dim_of_row) {
  std::vector<uint32_t> rows(dim_of_row.size());
  for (size_t r = 0; r < rows.size(); ++r) rows[r] = keys.first_row[dim_of_row[r]];
  for (int d : dims) {
    Column c = Gather(input.columns[static_cast<size_t>(d)], rows);
    out.AddColumn(input.names[static_cast<size_t>(d)], std::move(c));
  }
}

Result<Activity> ReadActivity(std::string_view plugin, const Table& input, const PluginArgs& args,
                              size_t first_dim, const ExecContext& ctx, size_t end_dim) {
  Activity a;
  ASSIGN_OR_RETURN(a.id, ColumnArg(plugin, args, 0, "IdColumn"));
  ASSIGN_OR_RETURN(a.timeline, ColumnArg(plugin, args, 1, "TimelineColumn"));
  a.type = input.columns[static_cast<size_t>(a.timeline)].type;
  if (!IsTimelineType(a.type)) {
    return ArgError(plugin,
                    "TimelineColumn must be a datetime, timespan, int or long column, not " +
                        std::string(TypeName(a.type)));
  }
  std::vector<const Column*> dims;
  for (size_t i = first_dim; i < std::min(end_dim, args.values.size()); ++i) {
    ASSIGN_OR_RETURN(int c, ColumnArg(plugin, args, i, "a dimension"));
    a.dims.push_back(c);
    dims.push_back(&input.columns[static_cast<size_t>(c)]);
  }
  ASSIGN_OR_RETURN(a.ids, DenseKeys({&input.columns[static_cast<size_t>(a.id)]}, input.rows, ctx));
  ASSIGN_OR_RETURN(a.dim_keys, DenseKeys(dims, input.rows, ctx));
  return a;
}

}  // namespace cmk::kql::plugins::analytics
