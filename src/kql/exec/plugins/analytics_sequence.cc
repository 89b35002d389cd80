// Sequence plugins: sequence_detect, funnel_sequence and funnel_sequence_completion. Events
// are ordered by time, then by input row (events at the same time keep the input's order).
// The funnels' Sequence and funnel_sequence_completion's periods are constant arrays; their
// sizes are capped (kMaxSequenceSteps, kMaxPeriods) since the output is windows x periods x
// steps rows and each event is matched against the sequence. Chains, spans and output rows are
// charged to the budget as they are made.
#include <algorithm>
#include <boost/json.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <limits>
#include <map>

#include "kql/exec/eval.h"
#include "kql/exec/plugins/analytics_util.h"
#include "kql/exec/plugins/plugins.h"
#include "kql/functions/function_json.h"

namespace cmk::kql::plugins {
namespace {

namespace bj = boost::json;
using analytics::ArgError;
using analytics::Gap;
using analytics::SpanArg;

// States in a Sequence and periods in MaxSequenceStepWindows at most. The pages' examples use
// three of each; 256 x 256 is already 65,536 output rows per window.
constexpr size_t kMaxSequenceSteps = 256;
constexpr size_t kMaxPeriods = 256;

// An event: its time and input row.
struct Event {
  int64_t t;
  uint32_t row;
  bool operator<(const Event& o) const { return std::tie(t, row) < std::tie(o.t, o.row); }
};

Type DurationType(Type timeline) {
  return timeline == Type::kDateTime || timeline == Type::kTimespan ? Type::kTimespan : Type::kLong;
}

// sequence_detect's search: every chain of events e1 < e2 < ... (one per step) of a
// dimensions' key with each gap <= step and the whole <= span. One Chains serves every key
// (Walk per key), so the chains of all keys are charged, 1024 at a time.
struct Chains {
  const std::vector<std::vector<Event>>* steps;  // per step, the current key's events, sorted
  int64_t step, span;
  MemoryReservation* held;
  const ExecContext* ctx;
  uint32_t key = 0;
  std::vector<Event> chain;
  std::vector<std::pair<uint32_t, std::vector<Event>>> found;  // (key, chain)
  size_t uncharged = 0;

  // A found chain's bytes: its events, the vector's header and heap block, the key.
  size_t ChainBytes() const { return steps->size() * sizeof(Event) + sizeof(found[0]) + 16; }
  // Charges the chains found since the last charge.
  Status Charge() {
    RETURN_IF_ERROR(held->Grow(uncharged * ChainBytes()));
    uncharged = 0;
    return CheckBudget(*ctx);
  }

  Status Walk(size_t s) {
    if (s == steps->size()) {
      found.emplace_back(key, chain);
      return ++uncharged == 1024 ? Charge() : OkStatus();
    }
    const std::vector<Event>& ev = (*steps)[s];
    auto it = s == 0 ? ev.begin() : std::upper_bound(ev.begin(), ev.end(), chain.back());
    for (; it != ev.end(); ++it) {
      RETURN_IF_ERROR(TickBudget(*ctx));
      if (s > 0 && (static_cast<__int128>(it->t) - chain.back().t > step ||
                    static_cast<__int128>(it->t) - chain.front().t > span)) {
        break;
      }
      chain.push_back(*it);
      RETURN_IF_ERROR(Walk(s + 1));
      chain.pop_back();
    }
    return OkStatus();
  }
};

// The sequence's states (a constant dynamic array of strings).
Result<std::vector<std::string>> Sequence(std::string_view plugin, const PluginArgs& args,
                                          size_t i) {
  const Column& v = args.values.size() > i ? args.values[i] : Column();
  std::optional<bj::value> parsed = v.type == Type::kDynamic && v.constant && !v.IsNull(0)
                                        ? fn::ParseJson(v.Str(0))
                                        : std::nullopt;
  if (!parsed || !parsed->is_array() || parsed->get_array().empty())
    return ArgError(plugin, "Sequence must be a non-empty dynamic array");
  if (parsed->get_array().size() > kMaxSequenceSteps) {
    return ArgError(plugin,
                    "Sequence holds more than " + std::to_string(kMaxSequenceSteps) + " states");
  }
  std::vector<std::string> out;
  for (const bj::value& s : parsed->get_array()) {
    out.push_back(s.is_string() ? std::string(s.get_string()) : fn::WriteJson(s));
  }
  return out;
}

// The funnels' shared arguments: Id, Timeline, Start, End (0..3), and the State column.
struct Funnel {
  int id = -1, timeline = -1, state = -1;
  Type type = Type::kDateTime;
  int64_t start = 0, end = 0;
  std::vector<std::string> sequence;
};
Result<Funnel> ReadFunnel(std::string_view plugin, const Table& input, const PluginArgs& args,
                          size_t state_arg, size_t sequence_arg) {
  Funnel f;
  ASSIGN_OR_RETURN(f.id, analytics::ColumnArg(plugin, args, 0, "IdColumn"));
  ASSIGN_OR_RETURN(f.timeline, analytics::ColumnArg(plugin, args, 1, "TimelineColumn"));
  ASSIGN_OR_RETURN(f.state, analytics::ColumnArg(plugin, args, state_arg, "StateColumn"));
  f.type = input.columns[static_cast<size_t>(f.timeline)].type;
  if (!analytics::IsTimelineType(f.type))
    return ArgError(plugin, "TimelineColumn must be a datetime, timespan or number");
  ASSIGN_OR_RETURN(f.start, analytics::TimeArg(plugin, args, 2, "Start", f.type));
  ASSIGN_OR_RETURN(f.end, analytics::TimeArg(plugin, args, 3, "End", f.type));
  if (f.end < f.start) return ArgError(plugin, "End is before Start");
  ASSIGN_OR_RETURN(f.sequence, Sequence(plugin, args, sequence_arg));
  return f;
}

// Per (window bin, id): the events in Start..End, sorted; with each event's state number in
// the sequence (-1: another state) and its state text.
struct Tracks {
  std::map<std::pair<int64_t, uint32_t>, std::vector<Event>> of;
  analytics::Keys ids;
};
Result<Tracks> ReadTracks(std::string_view plugin, const Table& input, const Funnel& f,
                          const analytics::Bins& bins, const ExecContext& ctx) {
  Tracks tr;
  ASSIGN_OR_RETURN(
      tr.ids, analytics::DenseKeys({&input.columns[static_cast<size_t>(f.id)]}, input.rows, ctx));
  const Column& tl = input.columns[static_cast<size_t>(f.timeline)];
  for (size_t r = 0; r < input.rows; ++r) {
    RETURN_IF_ERROR(TickBudget(ctx));
    if (tl.IsNull(r) || tl.Int(r) < f.start || tl.Int(r) > f.end) continue;
    tr.of[{bins.Index(tl.Int(r)), tr.ids.of_row[r]}].push_back(
        {tl.Int(r), static_cast<uint32_t>(r)});
  }
  for (auto& [key, events] : tr.of) std::sort(events.begin(), events.end());
  return tr;
}

// A step an id never reaches (distinct from any span: spans saturate one below).
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// funnel_sequence_completion's periods: a constant dynamic array of timespans (numbers for a
// numeric timeline).
Result<std::vector<int64_t>> Periods(const Column& v, Type timeline) {
  constexpr std::string_view kName = "funnel_sequence_completion";
  std::optional<bj::value> parsed = v.type == Type::kDynamic && v.constant && !v.IsNull(0)
                                        ? fn::ParseJson(v.Str(0))
                                        : std::nullopt;
  if (!parsed || !parsed->is_array())
    return ArgError(kName, "MaxSequenceStepWindows must be a dynamic array of periods");
  if (parsed->get_array().size() > kMaxPeriods) {
    return ArgError(kName, "MaxSequenceStepWindows holds more than " + std::to_string(kMaxPeriods) +
                               " periods");
  }
  std::vector<int64_t> periods;
  for (const bj::value& p : parsed->get_array()) {
    Column c(DurationType(timeline));
    AppendConverted(c, fn::WriteJson(p), true);
    if (c.IsNull(0) || c.Int(0) < 0)
      return ArgError(kName, "MaxSequenceStepWindows holds a value that is not a period");
    periods.push_back(c.Int(0));
  }
  return periods;
}

// Per state text: the steps of the sequence holding it (a state may repeat in a sequence).
using StepsOf = boost::unordered_flat_map<std::string, std::vector<size_t>>;
StepsOf StepIndex(const std::vector<std::string>& sequence) {
  StepsOf out;
  for (size_t k = 0; k < sequence.size(); ++k) out[sequence[k]].push_back(k);
  return out;
}

// Per step of the sequence (n steps): the shortest time from an event of the first step to
// reaching the step through events of the steps in order (kNever when never). For a given first
// event, taking the earliest event of each next step reaches every step soonest.
Result<std::vector<int64_t>> ShortestSpans(const std::vector<Event>& events, const Column& states,
                                           const StepsOf& steps_of, size_t n,
                                           const ExecContext& ctx) {
  // Each event's steps, then per step the positions of its events (charged: a repeated state
  // puts an event in several steps).
  std::vector<const std::vector<size_t>*> steps(events.size(), nullptr);
  size_t positions = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    RETURN_IF_ERROR(TickBudget(ctx));
    auto it = steps_of.find(ValueToText(states, events[i].row));
    if (it != steps_of.end()) steps[i] = &it->second, positions += it->second.size();
  }
  MemoryReservation held(ctx.budget, "funnel_sequence_completion");
  RETURN_IF_ERROR(held.Grow((positions + events.size()) * sizeof(size_t)));
  std::vector<std::vector<size_t>> at(n);
  for (size_t i = 0; i < events.size(); ++i) {
    if (steps[i] == nullptr) continue;
    for (size_t k : *steps[i]) at[k].push_back(i);
  }
  std::vector<int64_t> best(n, kNever);
  for (size_t first : at[0]) {
    size_t pos = first;
    best[0] = 0;
    for (size_t k = 1; k < n; ++k) {
      RETURN_IF_ERROR(TickBudget(ctx));
      auto it = std::upper_bound(at[k].begin(), at[k].end(), pos);
      if (it == at[k].end()) break;
      pos = *it;
      best[k] = std::min(best[k], std::min(Gap(events[pos].t, events[first].t), kNever - 1));
    }
  }
  return best;
}

// sequence_detect's arguments: the spans, the step predicates (arguments 3..first_dim-1) with
// their output columns' names, and the dimensions.
struct Detect {
  int timeline = -1;
  int64_t step = 0, span = 0;
  size_t first_dim = 3;
  std::vector<std::string> step_names, dim_names;
  std::vector<const Column*> dims;
};
Result<Detect> ReadDetect(std::string_view plugin, const Table& input, const PluginArgs& args) {
  Detect d;
  ASSIGN_OR_RETURN(d.timeline, analytics::ColumnArg(plugin, args, 0, "TimelineColumn"));
  Type type = input.columns[static_cast<size_t>(d.timeline)].type;
  if (!analytics::IsTimelineType(type))
    return ArgError(plugin, "TimelineColumn must be a datetime, timespan or number");
  ASSIGN_OR_RETURN(d.step, SpanArg(plugin, args, 1, "MaxSequenceStepWindow", type));
  ASSIGN_OR_RETURN(d.span, SpanArg(plugin, args, 2, "MaxSequenceSpan", type));
  while (d.first_dim < args.values.size() && args.values[d.first_dim].type == Type::kBool)
    ++d.first_dim;
  if (d.first_dim == 3)
    return ArgError(plugin, "expects at least one bool predicate after the spans");
  for (size_t i = 3; i < args.values.size(); ++i) {
    std::string name = !args.names[i].empty() ? args.names[i]
                       : args.columns[i] >= 0 ? input.names[static_cast<size_t>(args.columns[i])]
                       : i < d.first_dim      ? "e" + std::to_string(i - 2)
                                              : "";
    if (name.empty())
      return ArgError(plugin, "a dimension must be a column or named (Name = expression)");
    if (i < d.first_dim)
      d.step_names.push_back(name + "_" + input.names[static_cast<size_t>(d.timeline)]);
    else
      d.dim_names.push_back(name), d.dims.push_back(&args.values[i]);
  }
  return d;
}

// Every chain of every key, as (key, chain), ordered by the steps' times then key. `held`
// carries the per-step events and the chains.
Result<std::vector<std::pair<uint32_t, std::vector<Event>>>> FindChains(
    const Table& input, const PluginArgs& args, const Detect& d, const analytics::Keys& keys,
    MemoryReservation& held, const ExecContext& ctx) {
  const Column& tl = input.columns[static_cast<size_t>(d.timeline)];
  size_t steps = d.first_dim - 3;
  RETURN_IF_ERROR(held.Grow(input.rows * steps * (sizeof(Event) + 8) + keys.size() * steps * 24));
  // Per key and step, the events matching the step's predicate.
  std::vector<std::vector<std::vector<Event>>> events(keys.size(),
                                                      std::vector<std::vector<Event>>(steps));
  for (size_t s = 3; s < d.first_dim; ++s) {
    for (size_t r = 0; r < input.rows; ++r) {
      RETURN_IF_ERROR(TickBudget(ctx));
      if (!tl.IsNull(r) && IsTrue(args.values[s], r))
        events[keys.of_row[r]][s - 3].push_back({tl.Int(r), static_cast<uint32_t>(r)});
    }
  }
  Chains c{nullptr, d.step, d.span, &held, &ctx};
  for (uint32_t k = 0; k < keys.size(); ++k) {
    for (auto& v : events[k]) std::sort(v.begin(), v.end());
    c.steps = &events[k];
    c.key = k;
    RETURN_IF_ERROR(c.Walk(0));
  }
  RETURN_IF_ERROR(c.Charge());
  std::sort(c.found.begin(), c.found.end(), [](const auto& a, const auto& b) {
    for (size_t i = 0; i < a.second.size(); ++i) {
      if (a.second[i].t != b.second[i].t) return a.second[i].t < b.second[i].t;
    }
    return a.first < b.first;
  });
  return std::move(c.found);
}

// Per window and step: the shortest spans of the window's ids that reach the step, sorted (the
// ids reaching it within a period are then a binary search). Charged to `held`.
Result<std::map<int64_t, std::vector<std::vector<int64_t>>>> Reached(
    const Tracks& tr, const Column& states, const std::vector<std::string>& sequence,
    MemoryReservation& held, const ExecContext& ctx) {
  StepsOf steps_of = StepIndex(sequence);
  size_t n = sequence.size();
  std::map<int64_t, std::vector<std::vector<int64_t>>> out;
  for (const auto& [key, events] : tr.of) {
    ASSIGN_OR_RETURN(std::vector<int64_t> best, ShortestSpans(events, states, steps_of, n, ctx));
    std::vector<std::vector<int64_t>>& per_step = out[key.first];
    size_t bytes = per_step.empty() ? n * sizeof(per_step[0]) + 64 : 0;
    if (per_step.empty()) per_step.resize(n);
    for (size_t k = 0; k < n; ++k) {
      if (best[k] == kNever) continue;
      per_step[k].push_back(best[k]);
      bytes += sizeof(int64_t);
    }
    RETURN_IF_ERROR(held.Grow(bytes));
  }
  for (auto& [bin, per_step] : out) {
    for (std::vector<int64_t>& spans : per_step) std::sort(spans.begin(), spans.end());
    RETURN_IF_ERROR(CheckBudget(ctx));
  }
  return out;
}

}  // namespace

// sequence_detect(TimelineColumn, MaxSequenceStepWindow, MaxSequenceSpan, Expr1, Expr2, ...,
// Dim1, ...): the predicates are the bool arguments after the spans, the dimensions the rest.
// One row per chain: the dimensions, each step's time (<name>_<TimelineColumn>) and Duration.
Result<Table> SequenceDetect(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  constexpr std::string_view kName = "sequence_detect";
  ASSIGN_OR_RETURN(Detect d, ReadDetect(kName, input, args));
  ASSIGN_OR_RETURN(analytics::Keys keys, analytics::DenseKeys(d.dims, input.rows, ctx));
  MemoryReservation held(ctx.budget, std::string(kName));
  ASSIGN_OR_RETURN(auto rows, FindChains(input, args, d, keys, held, ctx));
  const Column& tl = input.columns[static_cast<size_t>(d.timeline)];
  Table out;
  auto add = [&](const std::string& name, Column c) {
    RETURN_IF_ERROR(held.Grow(ApproxBytes(c)));
    out.AddColumn(name, std::move(c));
    return CheckBudget(ctx);
  };
  std::vector<uint32_t> first_rows;
  RETURN_IF_ERROR(held.Grow(rows.size() * sizeof(uint32_t)));
  for (const auto& r : rows) first_rows.push_back(keys.first_row[r.first]);
  for (size_t i = 0; i < d.dims.size(); ++i)
    RETURN_IF_ERROR(add(d.dim_names[i], Gather(*d.dims[i], first_rows)));
  for (size_t s = 0; s < d.step_names.size(); ++s) {
    Column c(tl.type);
    for (const auto& r : rows) c.AppendInt(r.second[s].t);
    RETURN_IF_ERROR(add(d.step_names[s], std::move(c)));
  }
  Column duration(DurationType(tl.type));
  for (const auto& r : rows) duration.AppendInt(Gap(r.second.back().t, r.second.front().t));
  RETURN_IF_ERROR(add("Duration", std::move(duration)));
  out.rows = rows.size();
  return out;
}

// funnel_sequence_completion(IdColumn, TimelineColumn, Start, End, BinSize, StateColumn,
// Sequence, MaxSequenceStepWindows): per window, period and sequence step, the ids that reach
// the step: events of the sequence's states in order (each after the previous) with the step's
// event at most the period after the first step's. Rows by window, period, step.
Result<Table> FunnelSequenceCompletion(const Table& input, const PluginArgs& args,
                                       const ExecContext& ctx) {
  constexpr std::string_view kName = "funnel_sequence_completion";
  if (args.values.size() != 8) {
    return ArgError(kName,
                    "expects IdColumn, TimelineColumn, Start, End, BinSize, StateColumn, Sequence, "
                    "MaxSequenceStepWindows");
  }
  ASSIGN_OR_RETURN(Funnel f, ReadFunnel(kName, input, args, 5, 6));
  ASSIGN_OR_RETURN(analytics::Bins bins, analytics::Bins::Read(kName, args, 4, f.type, f.start));
  ASSIGN_OR_RETURN(std::vector<int64_t> periods, Periods(args.values[7], f.type));
  MemoryReservation held(ctx.budget, std::string(kName));
  RETURN_IF_ERROR(held.Grow(input.rows * 64));
  ASSIGN_OR_RETURN(Tracks tr, ReadTracks(kName, input, f, bins, ctx));
  ASSIGN_OR_RETURN(auto reached,
                   Reached(tr, input.columns[static_cast<size_t>(f.state)], f.sequence, held, ctx));
  // A window's rows: periods x steps, each its time, period, dcount and state text.
  size_t window_bytes = 0;
  for (const std::string& state : f.sequence)
    window_bytes += 3 * sizeof(int64_t) + sizeof(std::string) + state.size();
  window_bytes *= periods.size();
  Column tl(f.type), state(Type::kString), period(DurationType(f.type)), dcount(Type::kLong);
  for (const auto& [bin, per_step] : reached) {
    RETURN_IF_ERROR(held.Grow(window_bytes));
    for (int64_t p : periods) {
      for (size_t k = 0; k < f.sequence.size(); ++k) {
        RETURN_IF_ERROR(TickBudget(ctx));
        const std::vector<int64_t>& spans = per_step[k];
        tl.AppendInt(bins.Start(bin));
        state.AppendString(f.sequence[k]);
        period.AppendInt(p);
        dcount.AppendInt(std::upper_bound(spans.begin(), spans.end(), p) - spans.begin());
      }
    }
  }
  Table out;
  out.rows = dcount.ints.size();
  out.AddColumn(input.names[static_cast<size_t>(f.timeline)], std::move(tl));
  out.AddColumn(input.names[static_cast<size_t>(f.state)], std::move(state));
  out.AddColumn("Period", std::move(period));
  out.AddColumn("dcount", std::move(dcount));
  return out;
}

namespace {

// funnel_sequence's findings: (window, prev, next) -> ids, in order of first finding.
using FunnelFound = std::map<std::tuple<int64_t, std::string, std::string>, std::vector<uint32_t>>;

// funnel_sequence's table: per window, its (prev, next) rows by descending dcount.
Table FunnelSequenceTable(const Table& input, const Funnel& f, const analytics::Bins& bins,
                          const analytics::Keys& ids, const FunnelFound& found) {
  constexpr size_t kMaxSamples = 128;
  std::vector<const FunnelFound::value_type*> rows;
  for (const auto& e : found) rows.push_back(&e);
  std::stable_sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) {
    if (std::get<0>(a->first) != std::get<0>(b->first))
      return std::get<0>(a->first) < std::get<0>(b->first);
    return a->second.size() > b->second.size();
  });
  const Column& idc = input.columns[static_cast<size_t>(f.id)];
  Table out;
  Column tl(f.type), prev(Type::kString), next(Type::kString), dcount(Type::kLong),
      samples(Type::kDynamic);
  for (const auto* r : rows) {
    tl.AppendInt(bins.Start(std::get<0>(r->first)));
    prev.AppendString(std::get<1>(r->first));
    next.AppendString(std::get<2>(r->first));
    dcount.AppendInt(static_cast<int64_t>(r->second.size()));
    std::string json = "[";
    for (size_t i = 0; i < r->second.size() && i < kMaxSamples; ++i) {
      json += (i > 0 ? "," : "") + ValueToJson(idc, ids.first_row[r->second[i]]);
    }
    samples.AppendString(json + "]");
  }
  out.rows = rows.size();
  out.AddColumn(input.names[static_cast<size_t>(f.timeline)], std::move(tl));
  out.AddColumn("prev", std::move(prev));
  out.AddColumn("next", std::move(next));
  out.AddColumn("dcount", std::move(dcount));
  out.AddColumn("samples", std::move(samples));
  return out;
}

}  // namespace

// funnel_sequence(IdColumn, TimelineColumn, Start, End, MaxSequenceStepWindow, Step,
// StateColumn, Sequence): per window (Step bins), the ids whose events hold the sequence's
// states as consecutive events, each at most MaxSequenceStepWindow after the previous, by the
// state of the event just before (prev) and after (next) it, when within the step window ("" if
// none): Timeline, prev, next, dcount and up to 128 sample ids. Only this first of the three
// documented tables is returned (a query has one result table here).
Result<Table> FunnelSequence(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  constexpr std::string_view kName = "funnel_sequence";
  if (args.values.size() != 8) {
    return ArgError(kName,
                    "expects IdColumn, TimelineColumn, Start, End, MaxSequenceStepWindow, Step, "
                    "StateColumn, Sequence");
  }
  ASSIGN_OR_RETURN(Funnel f, ReadFunnel(kName, input, args, 6, 7));
  ASSIGN_OR_RETURN(int64_t step, SpanArg(kName, args, 4, "MaxSequenceStepWindow", f.type));
  ASSIGN_OR_RETURN(analytics::Bins bins, analytics::Bins::Read(kName, args, 5, f.type, f.start));
  MemoryReservation held(ctx.budget, std::string(kName));
  RETURN_IF_ERROR(held.Grow(input.rows * 64));
  ASSIGN_OR_RETURN(Tracks tr, ReadTracks(kName, input, f, bins, ctx));
  const Column& states = input.columns[static_cast<size_t>(f.state)];
  auto state_of = [&](const Event& e) { return ValueToText(states, e.row); };
  size_t n = f.sequence.size();
  FunnelFound found;
  for (const auto& [key, ev] : tr.of) {
    for (size_t i = 0; i + n <= ev.size(); ++i) {
      RETURN_IF_ERROR(TickBudget(ctx));
      size_t k = 0;
      while (k < n && state_of(ev[i + k]) == f.sequence[k] &&
             (k == 0 || Gap(ev[i + k].t, ev[i + k - 1].t) <= step))
        ++k;
      if (k < n) continue;
      std::string prev = i > 0 && Gap(ev[i].t, ev[i - 1].t) <= step ? state_of(ev[i - 1]) : "";
      std::string next =
          i + n < ev.size() && Gap(ev[i + n].t, ev[i + n - 1].t) <= step ? state_of(ev[i + n]) : "";
      std::vector<uint32_t>& ids = found[{key.first, prev, next}];
      if (ids.empty() || ids.back() != key.second) ids.push_back(key.second);
    }
  }
  return FunnelSequenceTable(input, f, bins, tr.ids, found);
}

}  // namespace cmk::kql::plugins
