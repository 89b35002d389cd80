// sort and top, and SortPermutation (the comparison of sort keys under the query's deadline).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {
namespace {

// Thrown by a sort comparator whose query ran out of time; caught by SortUnderBudget.
struct SortAborted {};

// Sorts [first, last) by `less` (only its first `limit` elements in place when that is fewer),
// checking the query's deadline every ~64K comparisons: std::sort cannot be interrupted by a
// return value, so the check throws and this catches it.
template <typename It, typename Less>
Status SortUnderBudget(It first, It last, size_t limit, Less less, QueryBudget* budget) {
  Status aborted;
  uint32_t ticks = 0;  // a local counter stays in a register: the check costs ~nothing per compare
  auto checked = [&](const auto& a, const auto& b) {
    if ((++ticks & 0xFFFF) == 0 && budget != nullptr) {
      if (Status s = budget->Check(); !s.ok()) {
        aborted = std::move(s);
        throw SortAborted{};
      }
    }
    return less(a, b);
  };
  try {
    if (limit < static_cast<size_t>(last - first)) {
      std::partial_sort(first, first + static_cast<ptrdiff_t>(limit), last, checked);
    } else {
      std::sort(first, last, checked);
    }
  } catch (const SortAborted&) {
    return aborted;
  }
  return OkStatus();
}

// Sorts `keyed` (values whose unsigned order is the sort's, each carrying its row) and writes
// the first `limit` rows of the sort, nulls (`nulls`, in row order) first or last, into a
// permutation. Deadline checked as SortPermutation's comparator checks it.
template <typename Keyed, typename RowOf>
Result<std::vector<uint32_t>> SortKeyed(std::vector<Keyed>& keyed, const std::vector<uint32_t>& nulls, bool nulls_first,
                                        size_t rows, size_t limit, QueryBudget* budget, RowOf row_of) {
  size_t take = std::min(limit, rows);
  size_t from_keyed = nulls_first ? (take > nulls.size() ? take - nulls.size() : 0) : std::min(take, keyed.size());
  RETURN_IF_ERROR(SortUnderBudget(keyed.begin(), keyed.end(), from_keyed,
                                  [](const Keyed& a, const Keyed& b) { return a < b; }, budget));
  std::vector<uint32_t> perm;
  perm.reserve(take);
  auto add_nulls = [&] {
    for (size_t i = 0; i < nulls.size() && perm.size() < take; ++i) perm.push_back(nulls[i]);
  };
  if (nulls_first) add_nulls();
  for (size_t i = 0; i < from_keyed && perm.size() < take; ++i) perm.push_back(row_of(keyed[i]));
  if (!nulls_first) add_nulls();
  return perm;
}

// One int or real key (`sort by TimeGenerated`): each row's value as a uint64 whose unsigned
// order is the sort's (the direction folded in), paired with its row, the pairs sorted as plain
// integers (no column access or null test per comparison), nulls put first or last after. The
// row breaks ties, so the permutation is SortPermutation's own. nullopt (nothing done) for a
// real key holding a NaN, which compares equal to every value there. The pairs (16 bytes a
// row) are charged to the query's budget before they are made.
std::optional<Result<std::vector<uint32_t>>> SortOneNumericKey(const Column& c, bool ascending, bool nulls_first,
                                                               size_t rows, size_t limit, QueryBudget* budget) {
  const bool real = UsesReals(c.type);
  if (real) {
    for (size_t r = 0; r < rows; ++r) {
      if (!c.IsNull(r) && std::isnan(c.Real(r))) return std::nullopt;
    }
  }
  MemoryReservation held(budget, "sort");
  if (Status s = held.Grow(rows * sizeof(std::pair<uint64_t, uint32_t>)); !s.ok()) {
    return Result<std::vector<uint32_t>>(std::move(s));
  }
  std::vector<std::pair<uint64_t, uint32_t>> keyed;
  std::vector<uint32_t> nulls;
  keyed.reserve(rows);
  for (size_t r = 0; r < rows; ++r) {
    if (c.IsNull(r)) {
      nulls.push_back(static_cast<uint32_t>(r));
      continue;
    }
    uint64_t u;
    if (real) {
      double v = c.Real(r);
      if (v == 0) v = 0;  // -0.0 ties with 0.0
      std::memcpy(&u, &v, sizeof(u));
      u = (u >> 63) != 0 ? ~u : u | (uint64_t{1} << 63);
    } else {
      u = static_cast<uint64_t>(c.Int(r)) ^ (uint64_t{1} << 63);
    }
    keyed.emplace_back(ascending ? u : ~u, static_cast<uint32_t>(r));
  }
  return SortKeyed(keyed, nulls, nulls_first, rows, limit, budget,
                   [](const std::pair<uint64_t, uint32_t>& k) { return k.second; });
}

// One dictionary-coded string key: the entries are ranked once (their text compared as the
// comparison compares strings; a dictionary may hold a string twice: equal ranks), and each
// row sorted as its entry's rank and its row packed in one uint64 (8 bytes a row, charged).
Result<std::vector<uint32_t>> SortOneCodedKey(const Column& c, bool ascending, bool nulls_first, size_t rows,
                                              size_t limit, QueryBudget* budget) {
  const std::vector<std::string>& dict = *c.dict;
  std::vector<uint32_t> entries(dict.size());
  for (size_t e = 0; e < entries.size(); ++e) entries[e] = static_cast<uint32_t>(e);
  std::sort(entries.begin(), entries.end(), [&](uint32_t a, uint32_t b) { return dict[a] < dict[b]; });
  std::vector<uint64_t> rank(dict.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    bool same = i > 0 && dict[entries[i]] == dict[entries[i - 1]];
    rank[entries[i]] = same ? rank[entries[i - 1]] : i;
  }
  if (!ascending) {
    for (uint64_t& k : rank) k = kMaxDictEntries - k;
  }
  MemoryReservation held(budget, "sort");
  RETURN_IF_ERROR(held.Grow(rows * sizeof(uint64_t)));
  std::vector<uint64_t> keyed;
  std::vector<uint32_t> nulls;
  keyed.reserve(rows);
  for (size_t r = 0; r < rows; ++r) {
    if (c.IsNull(r)) nulls.push_back(static_cast<uint32_t>(r));
    else keyed.push_back(rank[c.codes[r]] << 32 | r);
  }
  return SortKeyed(keyed, nulls, nulls_first, rows, limit, budget,
                   [](uint64_t k) { return static_cast<uint32_t>(k & 0xFFFFFFFFu); });
}

}  // namespace

Result<std::vector<uint32_t>> SortPermutation(const std::vector<const Column*>& keys, const PlanNode& node,
                                              size_t rows, size_t limit, const ExecContext& ctx) {
  if (keys.size() == 1 && !keys[0]->constant && (UsesInts(keys[0]->type) || UsesReals(keys[0]->type))) {
    auto fast = SortOneNumericKey(*keys[0], node.ascending[0], node.nulls_first[0], rows, limit, ctx.budget);
    if (fast) return std::move(*fast);
  }
  if (keys.size() == 1 && !keys[0]->constant && keys[0]->coded() && keys[0]->type == Type::kString &&
      rows <= UINT32_MAX) {
    return SortOneCodedKey(*keys[0], node.ascending[0], node.nulls_first[0], rows, limit, ctx.budget);
  }
  std::vector<uint32_t> perm(rows);
  for (size_t i = 0; i < rows; ++i) perm[i] = static_cast<uint32_t>(i);
  auto less = [&](uint32_t a, uint32_t b) {
    for (size_t k = 0; k < keys.size(); ++k) {
      const Column& c = *keys[k];
      bool na = c.IsNull(a), nb = c.IsNull(b);
      if (na || nb) {
        if (na && nb) continue;
        return na ? static_cast<bool>(node.nulls_first[k]) : !node.nulls_first[k];
      }
      int r = CompareValues(c, a, c, b);
      if (r != 0) return node.ascending[k] ? r < 0 : r > 0;
    }
    return a < b;  // stable
  };
  RETURN_IF_ERROR(SortUnderBudget(perm.begin(), perm.end(), limit, less, ctx.budget));
  if (limit < rows) perm.resize(limit);
  return perm;
}

Status RunSort(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  MemoryReservation held(ctx.budget, "sort");
  // Columns no one above reads are null constants from the scans (PruneColumns): kept so.
  ASSIGN_OR_RETURN(Table t, RunToTableUntil(*node.inputs[0], ctx, &held, nullptr, /*keep_constants=*/true));
  if (t.rows == 0) return OkStatus();
  ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(node.exprs, Chunk::View(t), ctx));
  size_t limit = node.kind == NodeKind::kTop ? static_cast<size_t>(std::max<int64_t>(0, node.limit)) : t.rows;
  // The permutation, then the sorted copy of the rows.
  RETURN_IF_ERROR(held.Grow(t.rows * sizeof(uint32_t) + ApproxBytes(t)));
  ASSIGN_OR_RETURN(std::vector<uint32_t> perm, SortPermutation(Pointers(keys), node, t.rows, limit, ctx));
  return sink(Chunk::Own(GatherTable(t, perm)));
}

namespace {

// `top N by X` straight over a table scan, X a number or datetime column with nulls last: the
// N-th best X, from a scan of X alone, so that the full scan may skip every block without a row
// as good (late materialization: a wide table's other columns are read for a few blocks only).
// nullopt when the plan has another shape or fewer than N rows have a value.
using MaybeBound = std::optional<ScanRequest::ValueBound>;

// The bound, and how many of the N best values are strictly better than it (the others equal
// it): every row better than the bound is among those, since the bound is the N-th best.
struct TopBoundInfo {
  MaybeBound bound;
  size_t better = 0;
};

Result<TopBoundInfo> TopBound(const PlanNode& node, size_t n, const ExecContext& ctx) {
  // Over a where over a scan, the bound is the N-th best key among the passing rows: a first
  // pass reads the key's and the predicate's columns alone (filtered where they are decoded).
  const PlanNode* filter = PushableFilter(*node.inputs[0], ctx) ? node.inputs[0].get() : nullptr;
  const PlanNode& in = filter != nullptr ? *filter->inputs[0] : *node.inputs[0];
  if (in.kind != NodeKind::kScan || node.exprs.empty() || n == 0 || node.nulls_first[0]) return TopBoundInfo();
  const BoundExpr& key = node.exprs[0];
  if (key.kind != BoundExpr::Kind::kColumn) return TopBoundInfo();
  const ColumnSchema& col = in.schema[static_cast<size_t>(key.column)];
  bool real = UsesReals(col.type);
  if (!real && !UsesInts(col.type)) return TopBoundInfo();
  bool desc = !node.ascending[0];
  // The best n values seen: a heap whose top is the worst of them.
  std::vector<double> reals;
  std::vector<int64_t> ints;
  bool saw_nan = false;
  auto worse_d = [desc](double a, double b) { return desc ? a > b : a < b; };
  auto worse_i = [desc](int64_t a, int64_t b) { return desc ? a > b : a < b; };
  auto take = [&](const Column& c, size_t rows) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    Extreme best = ColumnExtreme(c, rows, desc);
    saw_nan = saw_nan || best.nan;
    if (!best.any) return OkStatus();
    // Full already, and nothing here beats the worst kept value: one pass was enough.
    if (real ? reals.size() == n && !worse_d(best.d, reals.front()) : ints.size() == n && !worse_i(best.i, ints.front())) {
      return OkStatus();
    }
    for (size_t r = 0; r < rows; ++r) {
      if (c.IsNull(r)) continue;
      if (real) {
        double v = c.Real(r);
        if (std::isnan(v)) {  // NaN has no place in the order: no bound (as before)
          saw_nan = true;
          continue;
        }
        if (reals.size() < n) {
          reals.push_back(v);
          std::push_heap(reals.begin(), reals.end(), worse_d);
        } else if (worse_d(v, reals.front())) {
          std::pop_heap(reals.begin(), reals.end(), worse_d);
          reals.back() = v;
          std::push_heap(reals.begin(), reals.end(), worse_d);
        }
      } else {
        int64_t v = c.Int(r);
        if (ints.size() < n) {
          ints.push_back(v);
          std::push_heap(ints.begin(), ints.end(), worse_i);
        } else if (worse_i(v, ints.front())) {
          std::pop_heap(ints.begin(), ints.end(), worse_i);
          ints.back() = v;
          std::push_heap(ints.begin(), ints.end(), worse_i);
        }
      }
    }
    return OkStatus();
  };
  if (filter != nullptr) {
    std::vector<int> reads(in.schema.size(), 0);
    CountColumnReads(filter->predicate, reads);
    reads[static_cast<size_t>(key.column)] = 1;
    RETURN_IF_ERROR(RunFilteredScan(
        *filter,
        [&](ScanRequest& r) {
          r.columns.clear();
          for (size_t k = 0; k < reads.size(); ++k) {
            if (reads[k] > 0) r.columns.push_back(in.schema[k].name);
          }
        },
        ctx, [&](Chunk&& chunk) -> Status {
          const Column& c = chunk.col(static_cast<size_t>(key.column));
          if (c.constant) return OkStatus();  // (a column the scan lacks: nulls)
          return take(c, chunk.rows);
        }));
  } else {
    ScanRequest narrow = in.scan;
    narrow.columns = {col.name};
    narrow.best = ScanRequest::Best{col.name, desc, real, n};
    RETURN_IF_ERROR(ctx.catalog->Scan(narrow, [&](std::shared_ptr<const Table> chunk) -> Status {
      int i = chunk->Find(col.name);
      if (i < 0 || chunk->columns[static_cast<size_t>(i)].type != col.type) return CheckBudget(ctx);
      return take(chunk->columns[static_cast<size_t>(i)], chunk->rows);
    }));
  }
  if (saw_nan || (real ? reals.size() : ints.size()) < n) return TopBoundInfo();
  ScanRequest::ValueBound b;
  b.column = col.name;
  b.lower = desc;
  b.real = real;
  TopBoundInfo info;
  if (real) {
    b.d = reals.front();
    info.better = static_cast<size_t>(std::count_if(reals.begin(), reals.end(), [&](double v) { return v != b.d; }));
  } else {
    b.i = ints.front();
    info.better = static_cast<size_t>(std::count_if(ints.begin(), ints.end(), [&](int64_t v) { return v != b.i; }));
  }
  info.bound = std::move(b);
  return info;
}

// How many of the chunk's key values are strictly better than the bound, and how many equal it.
std::pair<size_t, size_t> BetterAndEqual(const Column& c, size_t rows, const ScanRequest::ValueBound& b) {
  size_t better = 0, equal = 0;
  for (size_t r = 0; r < rows; ++r) {
    if (c.IsNull(r)) continue;
    if (b.real) {
      double v = c.Real(r);
      if (v == b.d) ++equal;
      else if (b.lower ? v > b.d : v < b.d) ++better;
    } else {
      int64_t v = c.Int(r);
      if (v == b.i) ++equal;
      else if (b.lower ? v > b.i : v < b.i) ++better;
    }
  }
  return {better, equal};
}

// The bounded scan's filter, run by the catalog's reader threads: a chunk's rows whose key is
// at least as good as the bound (only those can be among the N best: N rows are), or null when
// none is. A chunk without the key, or with it under another type, reads it as nulls, which
// sort last: none of its rows is wanted.
Result<std::shared_ptr<const Table>> RowsMeetingBound(const ScanRequest::ValueBound& b,
                                                      const std::shared_ptr<const Table>& t) {
  int i = t->Find(b.column);
  if (i < 0) return std::shared_ptr<const Table>();
  const Column& c = t->columns[static_cast<size_t>(i)];
  if (b.real ? !UsesReals(c.type) : !UsesInts(c.type)) return std::shared_ptr<const Table>();
  std::vector<uint32_t> idx;
  for (size_t r = 0; r < t->rows; ++r) {
    if (c.IsNull(r)) continue;
    bool meets = b.real ? (b.lower ? c.Real(r) >= b.d : c.Real(r) <= b.d) : (b.lower ? c.Int(r) >= b.i : c.Int(r) <= b.i);
    if (meets) idx.push_back(static_cast<uint32_t>(r));
  }
  if (idx.empty()) return std::shared_ptr<const Table>();
  if (idx.size() == t->rows) return t;
  Table kept = GatherTable(*t, idx);
  kept.name = t->name;
  return std::shared_ptr<const Table>(std::make_shared<Table>(std::move(kept)));
}

// Stops the bounded scan once it holds every row better than the bound and enough equal ones.
constexpr char kTopComplete[] = "KqlTopComplete";

}  // namespace

Result<std::optional<ScanRequest::ValueBound>> ScanExtreme(const PlanNode& scan, int column, bool greatest,
                                                           const ExecContext& ctx) {
  if (scan.kind != NodeKind::kScan || column < 0 || static_cast<size_t>(column) >= scan.schema.size()) {
    return std::optional<ScanRequest::ValueBound>();
  }
  PlanNode top;  // `top 1 by column` over a copy of the scan
  top.kind = NodeKind::kTop;
  top.schema = scan.schema;
  top.limit = 1;
  top.exprs.push_back(BoundExpr::ColumnRef(column, scan.schema[static_cast<size_t>(column)].type));
  top.ascending.push_back(!greatest);
  top.nulls_first.push_back(false);
  auto in = std::make_unique<PlanNode>();
  in->kind = scan.kind;
  in->schema = scan.schema;
  in->name = scan.name;
  in->height = scan.height;
  in->scan = scan.scan;
  top.inputs.push_back(std::move(in));
  ASSIGN_OR_RETURN(TopBoundInfo info, TopBound(top, 1, ctx));
  return info.bound;
}

// top N: selects each chunk's best N row indices over the shared columns and gathers only
// those rows, then sorts what is left. Over a scan, blocks that cannot hold a top row are
// skipped first (TopBound).
Status RunTop(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  // Rows held before they are cut to the best n (with 2n).
  constexpr size_t kCompactAt = 64 * 1024;
  size_t n = static_cast<size_t>(std::max<int64_t>(0, node.limit));
  Table acc = EmptyTable(node.schema);
  MemoryReservation held(ctx.budget, "top");
  ASSIGN_OR_RETURN(TopBoundInfo info, TopBound(node, n, ctx));
  MaybeBound& bound = info.bound;
  PlanNode bounded;  // the input scan with the bound
  bool use_bound = bound.has_value();
  // One key: once every row better than the bound and n - better rows equal to it are held,
  // the rest of the scan cannot change the answer (ties go to the first rows scanned, as the
  // stable sort below would pick them), so the scan stops there. With many rows tied at the
  // bound (a capped value), this spares reading every block that holds one.
  std::optional<ScanRequest::ValueBound> stop_at;
  if (use_bound && node.exprs.size() == 1) stop_at = *bound;
  size_t seen_better = 0, seen_equal = 0;
  // A bound over a where over a scan (TopBound's first pass filtered): the where runs with the
  // bound on its scan.
  bool filtered = use_bound && node.inputs[0]->kind == NodeKind::kFilter;
  std::optional<ScanRequest::ValueBound> filtered_bound;
  if (filtered) filtered_bound = *bound;
  if (use_bound && !filtered) {
    const PlanNode& in = *node.inputs[0];
    bounded.kind = in.kind;
    bounded.schema = in.schema;
    bounded.name = in.name;
    bounded.height = in.height;
    bounded.scan = in.scan;
    bounded.scan.bound = std::move(bound);
    // Rows worse than the bound are dropped where the blocks are decoded (every core), so this
    // thread selects among the few that may place instead of every row of each block kept.
    if (ctx.catalog != nullptr && ctx.catalog->AppliesFilters()) {
      const ScanRequest::ValueBound& b = *bounded.scan.bound;
      bounded.scan.filter = [&b](const std::shared_ptr<const Table>& t) { return RowsMeetingBound(b, t); };
    }
  }
  auto consume = [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    if (n == 0) return OkStatus();
    bool complete = false;
    if (stop_at) {
      const Column& key = chunk.col(static_cast<size_t>(node.exprs[0].column));
      auto [better, equal] = BetterAndEqual(key, chunk.rows, *stop_at);
      seen_better += better;
      seen_equal += equal;
      complete = seen_better >= info.better && seen_equal >= n - info.better;
    }
    if (chunk.rows > n) {
      ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(node.exprs, chunk, ctx));
      ASSIGN_OR_RETURN(std::vector<uint32_t> best, SortPermutation(Pointers(keys), node, chunk.rows, n, ctx));
      chunk = GatherChunk(chunk, best);
    }
    RETURN_IF_ERROR(held.Grow(ApproxBytes(chunk)));
    AppendTable(acc, std::move(chunk), /*keep_constants=*/true);
    if (acc.rows >= std::max<size_t>(n > SIZE_MAX / 2 ? SIZE_MAX : 2 * n, kCompactAt)) {
      // Without a bound every chunk's best n are kept: past 2n rows, only the best n of them
      // (stable, so ties still go to the rows scanned first), so a top of many rows over a
      // computed key holds at most 2n.
      ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(node.exprs, Chunk::View(acc), ctx));
      ASSIGN_OR_RETURN(std::vector<uint32_t> best, SortPermutation(Pointers(keys), node, acc.rows, n, ctx));
      keys.clear();
      acc = GatherTable(acc, best);
      RETURN_IF_ERROR(held.Resize(ApproxBytes(acc)));
    }
    return complete ? Status(StatusCode::kCancelled, "top has its rows", kTopComplete) : OkStatus();
  };
  Status ran = !use_bound ? RunTopInput(node, ctx, consume)
               : filtered ? RunFilteredScan(*node.inputs[0], [&](ScanRequest& r) { r.bound = filtered_bound; }, ctx, consume, &node)
                          : Run(bounded, ctx, consume);
  if (!ran.ok() && !(ran.code() == StatusCode::kCancelled && ran.error_code() == kTopComplete)) return ran;
  if (acc.rows == 0) return OkStatus();
  ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(node.exprs, Chunk::View(acc), ctx));
  ASSIGN_OR_RETURN(std::vector<uint32_t> perm, SortPermutation(Pointers(keys), node, acc.rows, n, ctx));
  return sink(Chunk::Own(GatherTable(acc, perm)));
}

}  // namespace cmk::kql
