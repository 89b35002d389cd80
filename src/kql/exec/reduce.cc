// reduce: groups strings by pattern (Kusto's reduce-operator page). A value is a sequence of
// terms. Default: a term is a run of ASCII letters and digits (non-ASCII bytes included, so UTF-8
// words stay whole) and every other character is kept in the pattern as written; with
// characters=C, the characters of C break terms and are dropped.
//
// The groups are built term position by term position, like a trie: at position p the rows of a
// group that have a term there either keep it (one subgroup per distinct term) or, when that
// position is too diverse -- more distinct terms than threshold x the group's rows -- all get a
// `*` there and stay together. A small threshold therefore gives few, general patterns and a
// large one many, specific patterns, as the page describes. Rows whose pattern keeps no term at
// all are counted under "others" (with an empty Representative). Groups with the same pattern
// are one group; Representative is its first value in input order; groups come out in the order
// of their first rows, "others" last. kind=source instead appends Pattern to every input row.
//
// Cost: each position of each value is looked at once (linear in the input's terms); the values,
// their terms, the group tree and kind=source's per-row copies of the patterns are charged to the
// query budget before they are built.
#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {
namespace {

struct Term {
  std::string_view sep;  // the breakers before the term
  std::string_view text;
};

struct Terms {
  std::vector<Term> all;
  std::vector<size_t> begin;  // per value: its first term in `all`; one more at the end
  std::vector<std::string_view> trailing;  // per value: separators after its last term
  size_t count(size_t v) const { return begin[v + 1] - begin[v]; }
  const Term& at(size_t v, size_t p) const { return all[begin[v] + p]; }
};

std::array<bool, 256> Breakers(const ReduceSpec& spec) {
  std::array<bool, 256> brk{};
  for (int c = 0; c < 256; ++c) {
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    brk[static_cast<size_t>(c)] = !spec.custom_breakers && c < 0x80 && !alnum;
  }
  if (spec.custom_breakers) {
    for (unsigned char c : spec.characters) brk[c] = true;
  }
  return brk;
}

// Splits `s` into out's terms; false (out left unfinished) once out holds `cap` terms.
bool Tokenize(std::string_view s, const std::array<bool, 256>& brk, size_t cap, Terms& out) {
  size_t i = 0, sep_start = 0;
  while (i < s.size()) {
    if (out.all.size() >= cap) return false;
    if (brk[static_cast<unsigned char>(s[i])]) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < s.size() && !brk[static_cast<unsigned char>(s[i])]) ++i;
    out.all.push_back({s.substr(sep_start, start - sep_start), s.substr(start, i - start)});
    sep_start = i;
  }
  out.trailing.push_back(s.substr(sep_start));
  out.begin.push_back(out.all.size());
  return true;
}

// A node of the group tree: a term position kept (wild false) or replaced by '*'.
struct Decision {
  int64_t parent = -1;
  bool wild = false;
};

struct Group {
  uint32_t first = 0;  // first row
  int64_t count = 0;
  int64_t decision = -1;  // the last position's decision (-1: no term)
};

class Reducer {
 public:
  Reducer(const ReduceSpec& spec, const ExecContext& ctx)
      : spec_(spec), ctx_(ctx), held_(ctx.budget, "reduce") {}

  // Groups `values`: groups[group_of[row]] is a row's group (in the order of their first rows),
  // patterns[g] its pattern ("others" where others[g]: no term kept).
  Status Build(const std::vector<std::string_view>& values);
  std::vector<std::string> patterns;
  std::vector<bool> others;
  std::vector<uint32_t> group_of;
  std::vector<Group> groups;

 private:
  Status Split(std::vector<uint32_t> rows, size_t pos, int64_t decision,
               std::vector<std::tuple<std::vector<uint32_t>, size_t, int64_t>>& work);
  std::string Render(const Group& g) const;

  const ReduceSpec& spec_;
  const ExecContext& ctx_;
  MemoryReservation held_;
  Terms terms_;
  std::vector<Decision> decisions_;
};

Status Reducer::Build(const std::vector<std::string_view>& values) {
  std::array<bool, 256> brk = Breakers(spec_);
  terms_.begin.push_back(0);
  // A term costs its Term and at most one Decision of the group tree: charged per value, and a
  // value is cut off where the budget ends (a huge value must not build its terms first).
  constexpr size_t kTermBytes = sizeof(Term) + sizeof(Decision);
  for (std::string_view v : values) {
    RETURN_IF_ERROR(TickBudget(ctx_));
    size_t before = terms_.all.size();
    size_t cap =
        ctx_.budget == nullptr ? SIZE_MAX : before + ctx_.budget->remaining() / kTermBytes + 1;
    bool done = Tokenize(v, brk, cap, terms_);
    RETURN_IF_ERROR(held_.Grow((terms_.all.size() - before) * kTermBytes + 48));
    if (!done) return held_.Grow(SIZE_MAX / 2);  // over the budget: its error
  }
  group_of.assign(values.size(), 0);
  std::vector<uint32_t> all(values.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint32_t>(i);
  std::vector<std::tuple<std::vector<uint32_t>, size_t, int64_t>> work;
  work.emplace_back(std::move(all), 0, -1);
  while (!work.empty()) {
    auto [rows, pos, decision] = std::move(work.back());
    work.pop_back();
    RETURN_IF_ERROR(Split(std::move(rows), pos, decision, work));
  }
  RETURN_IF_ERROR(held_.Grow(groups.size() * sizeof(Group)));
  // Groups with one pattern are one; the others keep the order of their first rows.
  std::vector<uint32_t> order(groups.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return groups[a].first < groups[b].first; });
  std::unordered_map<std::string, uint32_t> by_pattern;
  std::vector<uint32_t> merged_of(groups.size());
  std::vector<Group> merged;
  for (uint32_t g : order) {
    RETURN_IF_ERROR(TickBudget(ctx_));
    std::string p = Render(groups[g]);
    // "\1" keys the group without a term apart from a value that reads "others".
    auto [it, fresh] = by_pattern.emplace(std::string(1, p.empty() ? '\1' : '\0') + p,
                                          static_cast<uint32_t>(merged.size()));
    if (fresh) {
      merged.push_back(groups[g]);
      others.push_back(p.empty());
      patterns.push_back(p.empty() ? "others" : p);
      RETURN_IF_ERROR(held_.Grow(2 * p.size() + 96));  // the pattern and its key
    } else {
      merged[it->second].count += groups[g].count;
    }
    merged_of[g] = it->second;
  }
  for (uint32_t& g : group_of) g = merged_of[g];
  groups = std::move(merged);
  return OkStatus();
}

// Rows of one group at term position `pos`: those without a term there end the group; the others
// keep their term (a subgroup per distinct term) or share a '*' when the position is too diverse.
Status Reducer::Split(std::vector<uint32_t> rows, size_t pos, int64_t decision,
                      std::vector<std::tuple<std::vector<uint32_t>, size_t, int64_t>>& work) {
  std::vector<uint32_t> rest;
  Group ended;
  for (uint32_t r : rows) {
    if (terms_.count(r) > pos) {
      rest.push_back(r);
      continue;
    }
    if (ended.count++ == 0) ended.first = r;
    group_of[r] = static_cast<uint32_t>(groups.size());
  }
  if (ended.count > 0) {
    ended.decision = decision;
    groups.push_back(ended);
  }
  if (rest.empty()) return OkStatus();
  RETURN_IF_ERROR(TickBudget(ctx_));
  double limit = spec_.threshold * static_cast<double>(rest.size());
  std::unordered_map<std::string_view, uint32_t> index;
  std::vector<std::vector<uint32_t>> parts;
  bool wild = false;
  for (uint32_t r : rest) {
    auto [it, fresh] = index.emplace(terms_.at(r, pos).text, static_cast<uint32_t>(parts.size()));
    // A position where every row agrees is always kept: only differing terms become '*'.
    if (fresh && parts.size() + 1 >= 2 && static_cast<double>(parts.size() + 1) > limit) {
      wild = true;  // too diverse already: no need to index the rest
      break;
    }
    if (fresh) parts.emplace_back();
    parts[it->second].push_back(r);
  }
  if (wild) {
    decisions_.push_back({decision, true});
    work.emplace_back(std::move(rest), pos + 1, static_cast<int64_t>(decisions_.size()) - 1);
    return OkStatus();
  }
  for (size_t i = parts.size(); i-- > 0;) {  // reversed: the work stack pops the first part first
    decisions_.push_back({decision, false});
    work.emplace_back(std::move(parts[i]), pos + 1, static_cast<int64_t>(decisions_.size()) - 1);
  }
  return OkStatus();
}

std::string Reducer::Render(const Group& g) const {
  std::vector<bool> wild;
  for (int64_t d = g.decision; d >= 0; d = decisions_[static_cast<size_t>(d)].parent) {
    wild.push_back(decisions_[static_cast<size_t>(d)].wild);
  }
  std::reverse(wild.begin(), wild.end());
  if (std::find(wild.begin(), wild.end(), false) == wild.end()) return "";  // others
  // Default separators stay as written ("San *"); the breakers given by characters= are kept
  // between kept terms but taken into a '*' next to one ("fooZ1" -> "foo*"), so that one '*'
  // stands for a run of differing terms and the breakers around them.
  const bool absorb = spec_.custom_breakers;
  std::string out;
  bool after_wild = false;
  for (size_t p = 0; p < wild.size(); ++p) {
    const Term& t = terms_.at(g.first, p);
    if (!absorb || (!wild[p] && !after_wild)) out += t.sep;
    if (!wild[p]) {
      out += t.text;
    } else if (!absorb || !after_wild) {
      out += '*';
    }
    after_wild = wild[p];
  }
  if (!absorb || !after_wild) out += terms_.trailing[g.first];
  return out;
}

// kind=source's Pattern column: each row's group pattern. A pattern is its group's first value
// (separators included), so one long value can be copied to every row of its group: the copies
// are charged before they are made, so such a column fails with the memory limit instead of
// growing past it.
Result<Column> PatternColumn(const Reducer& reducer, size_t rows, const ExecContext& ctx,
                             MemoryReservation& held) {
  constexpr size_t kChargeBytes = size_t{64} << 10;  // charged in steps of at least this
  Column pattern(Type::kString);
  RETURN_IF_ERROR(held.Grow(rows * sizeof(std::string)));
  pattern.Reserve(rows);
  size_t pending = 0;
  for (size_t r = 0; r < rows; ++r) {
    RETURN_IF_ERROR(TickBudget(ctx));
    const std::string& p = reducer.patterns[reducer.group_of[r]];
    if (p.size() > 15) pending += p.size() + 1;  // as ApproxBytes counts it (SSO below 16)
    if (pending >= kChargeBytes) {
      RETURN_IF_ERROR(held.Grow(pending));
      pending = 0;
    }
    pattern.AppendString(p);
  }
  RETURN_IF_ERROR(held.Grow(pending));
  return pattern;
}

Status RunReduceSource(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  MemoryReservation held(ctx.budget, "reduce");
  ASSIGN_OR_RETURN(Table t, RunToTable(*node.inputs[0], ctx, &held));
  if (t.rows == 0) return OkStatus();
  if (t.rows > UINT32_MAX) return InvalidArgument("reduce: more than 2^32 rows");
  Chunk view = Chunk::View(t);
  ASSIGN_OR_RETURN(ColumnValue v,
                   Eval(node.exprs[0], view, FunctionContext{t.rows, ctx.now, ctx.budget}));
  // A computed value column is held next to the table; a column reference borrows it.
  size_t value_bytes = node.exprs[0].kind == BoundExpr::Kind::kColumn ? 0 : ApproxBytes(v.get());
  RETURN_IF_ERROR(held.Grow(value_bytes + t.rows * sizeof(std::string_view)));
  std::vector<std::string_view> values;
  values.reserve(t.rows);
  for (size_t r = 0; r < t.rows; ++r) values.emplace_back(v.get().Str(r));
  Reducer reducer(node.reduce_spec, ctx);
  RETURN_IF_ERROR(reducer.Build(values));
  ASSIGN_OR_RETURN(Column pattern, PatternColumn(reducer, t.rows, ctx, held));
  Chunk out = Chunk::Own(std::move(t));
  out.Add(std::move(pattern));
  return sink(std::move(out));
}

}  // namespace

Status RunReduce(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  if (node.reduce_spec.source) return RunReduceSource(node, ctx, sink);
  MemoryReservation held(ctx.budget, "reduce");
  std::vector<std::string> values;
  RETURN_IF_ERROR(Run(*node.inputs[0], ctx, [&](Chunk&& chunk) {
    ASSIGN_OR_RETURN(ColumnValue v,
                     Eval(node.exprs[0], chunk, FunctionContext{chunk.rows, ctx.now, ctx.budget}));
    RETURN_IF_ERROR(held.Grow(ApproxBytes(v.get())));
    for (size_t r = 0; r < chunk.rows; ++r) values.emplace_back(v.get().Str(r));
    return CheckBudget(ctx);
  }));
  if (values.size() > UINT32_MAX) return InvalidArgument("reduce: more than 2^32 rows");
  std::vector<std::string_view> views(values.begin(), values.end());
  Reducer reducer(node.reduce_spec, ctx);
  RETURN_IF_ERROR(reducer.Build(views));
  Table out = EmptyTable(node.schema);
  Group others;
  for (size_t g = 0; g < reducer.groups.size(); ++g) {
    const Group& grp = reducer.groups[g];
    if (reducer.others[g]) {
      others.count += grp.count;
      continue;
    }
    out.columns[0].AppendString(reducer.patterns[g]);
    out.columns[1].AppendInt(grp.count);
    out.columns[2].AppendString(values[grp.first]);
    ++out.rows;
  }
  if (others.count > 0) {
    out.columns[0].AppendString("others");
    out.columns[1].AppendInt(others.count);
    out.columns[2].AppendString("");
    ++out.rows;
  }
  if (out.rows == 0) return OkStatus();
  RETURN_IF_ERROR(held.Grow(ApproxBytes(out)));
  return sink(Chunk::Own(std::move(out)));
}

}  // namespace cmk::kql
