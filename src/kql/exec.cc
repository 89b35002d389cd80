#include "kql/exec.h"

#include <algorithm>
#include <deque>
#include <string_view>
#include <unordered_map>

#include <boost/unordered/unordered_flat_map.hpp>

#include "kql/aggregates.h"
#include "kql/eval.h"

namespace cmk::kql {
namespace {

// Returned by a sink that has seen enough rows (take); the take node turns it back into OK.
constexpr char kEnoughRows[] = "KqlEnoughRows";

Status EnoughRows() { return Status(StatusCode::kCancelled, "enough rows", kEnoughRows); }
bool IsEnoughRows(const Status& s) { return s.code() == StatusCode::kCancelled && s.error_code() == kEnoughRows; }

Status RunScan(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  // Chunks are shared and immutable: the batch borrows their columns (aliasing pointers keep
  // the chunk alive) instead of copying them.
  std::vector<bool> wanted;
  for (const ColumnSchema& c : node.schema) {
    wanted.push_back(std::find(node.scan.columns.begin(), node.scan.columns.end(), c.name) != node.scan.columns.end());
  }
  return ctx.catalog->Scan(node.scan, [&](std::shared_ptr<const Table> chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    if (chunk->rows == 0) return OkStatus();
    Chunk out;
    out.rows = chunk->rows;
    for (size_t k = 0; k < node.schema.size(); ++k) {
      const ColumnSchema& c = node.schema[k];
      int i = chunk->Find(c.name);
      if (i >= 0 && wanted[k] && chunk->columns[static_cast<size_t>(i)].type == c.type) {
        out.AddShared(std::shared_ptr<const Column>(chunk, &chunk->columns[static_cast<size_t>(i)]));
      } else {
        out.Add(NullConstant(c.type));
      }
    }
    return sink(std::move(out));
  });
}

Status RunFilter(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  return Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    FunctionContext fctx{chunk.rows, ctx.now, ctx.budget};
    ASSIGN_OR_RETURN(ColumnValue pred, Eval(node.predicate, chunk, fctx));
    const Column& p = pred.get();
    if (p.constant) return IsTrue(p, 0) ? sink(std::move(chunk)) : OkStatus();
    std::vector<uint32_t> idx;
    idx.reserve(chunk.rows);
    for (size_t r = 0; r < chunk.rows; ++r) {
      if (IsTrue(p, r)) idx.push_back(static_cast<uint32_t>(r));
    }
    if (idx.empty()) return OkStatus();
    if (idx.size() == chunk.rows) return sink(std::move(chunk));
    return sink(GatherChunk(chunk, idx));  // only the survivors are copied
  });
}

Status RunProject(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  return Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    FunctionContext fctx{chunk.rows, ctx.now, ctx.budget};
    Chunk out;
    out.rows = chunk.rows;
    for (const BoundExpr& e : node.exprs) {
      if (e.kind == BoundExpr::Kind::kColumn) {  // shares the input column (no copy)
        out.AddShared(chunk.shared(static_cast<size_t>(e.column)));
        continue;
      }
      ASSIGN_OR_RETURN(ColumnValue v, Eval(e, chunk, fctx));
      out.Add(std::move(v).Take());
    }
    return sink(std::move(out));
  });
}

Status RunTake(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  size_t left = static_cast<size_t>(std::max<int64_t>(0, node.limit));
  if (left == 0) return OkStatus();
  Status s = Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    if (chunk.rows > left) {
      std::vector<uint32_t> idx(left);
      for (size_t i = 0; i < left; ++i) idx[i] = static_cast<uint32_t>(i);
      chunk = GatherChunk(chunk, idx);
    }
    left -= chunk.rows;
    RETURN_IF_ERROR(sink(std::move(chunk)));
    return left == 0 ? EnoughRows() : OkStatus();
  });
  return IsEnoughRows(s) ? OkStatus() : s;
}

Status RunSummarize(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  HashAggregation agg(node, node.exprs);
  RETURN_IF_ERROR(Run(*node.inputs[0], ctx, [&](Chunk&& chunk) { return agg.Consume(chunk, ctx); }));
  return sink(Chunk::Own(agg.Finish()));
}

// Sort keys evaluated over `t`: column references are borrowed, not copied.
Result<std::vector<ColumnValue>> EvalKeys(const std::vector<BoundExpr>& exprs, const Chunk& t,
                                          const ExecContext& ctx) {
  std::vector<ColumnValue> keys;
  FunctionContext fctx{t.rows, ctx.now, ctx.budget};
  for (const BoundExpr& e : exprs) {
    ASSIGN_OR_RETURN(ColumnValue v, Eval(e, t, fctx));
    keys.push_back(std::move(v));
  }
  return keys;
}

std::vector<const Column*> Pointers(const std::vector<ColumnValue>& cols) {
  std::vector<const Column*> out;
  for (const ColumnValue& c : cols) out.push_back(&c.get());
  return out;
}

Status RunSort(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  MemoryReservation held(ctx.budget, "sort");
  ASSIGN_OR_RETURN(Table t, RunToTable(*node.inputs[0], ctx, &held));
  if (t.rows == 0) return OkStatus();
  ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(node.exprs, Chunk::View(t), ctx));
  size_t limit = node.kind == NodeKind::kTop ? static_cast<size_t>(std::max<int64_t>(0, node.limit)) : t.rows;
  // The permutation, then the sorted copy of the rows.
  RETURN_IF_ERROR(held.Grow(t.rows * sizeof(uint32_t) + ApproxBytes(t)));
  ASSIGN_OR_RETURN(std::vector<uint32_t> perm, SortPermutation(Pointers(keys), node, t.rows, limit, ctx));
  return sink(Chunk::Own(GatherTable(t, perm)));
}

// top N: selects each chunk's best N row indices over the shared columns and gathers only
// those rows, then sorts what is left.
Status RunTop(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  size_t n = static_cast<size_t>(std::max<int64_t>(0, node.limit));
  Table acc = EmptyTable(node.schema);
  MemoryReservation held(ctx.budget, "top");
  RETURN_IF_ERROR(Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    if (n == 0) return OkStatus();
    if (chunk.rows > n) {
      ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(node.exprs, chunk, ctx));
      ASSIGN_OR_RETURN(std::vector<uint32_t> best, SortPermutation(Pointers(keys), node, chunk.rows, n, ctx));
      chunk = GatherChunk(chunk, best);
    }
    RETURN_IF_ERROR(held.Grow(ApproxBytes(chunk)));
    AppendTable(acc, std::move(chunk));
    return OkStatus();
  }));
  if (acc.rows == 0) return OkStatus();
  ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(node.exprs, Chunk::View(acc), ctx));
  ASSIGN_OR_RETURN(std::vector<uint32_t> perm, SortPermutation(Pointers(keys), node, acc.rows, n, ctx));
  return sink(Chunk::Own(GatherTable(acc, perm)));
}

Status RunSerialize(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  MemoryReservation held(ctx.budget, "serialize");
  ASSIGN_OR_RETURN(Table t, RunToTable(*node.inputs[0], ctx, &held));
  if (t.rows == 0) return OkStatus();
  return sink(Chunk::Own(std::move(t)));
}

// Case-insensitive `has`-like term search over the node's columns: the term must start and end
// at word boundaries (non-alphanumeric neighbours).
bool ContainsTerm(std::string_view hay, std::string_view term) {
  if (term.empty()) return true;
  auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  for (size_t i = 0; i + term.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < term.size() && lower(hay[i + k]) == lower(term[k])) ++k;
    if (k < term.size()) continue;
    bool start_ok = !word(term.front()) || i == 0 || !word(hay[i - 1]);
    bool end_ok = !word(term.back()) || i + k == hay.size() || !word(hay[i + k]);
    if (start_ok && end_ok) return true;
  }
  return false;
}

Status RunSearchFilter(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  return Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    std::vector<uint32_t> idx;
    for (size_t r = 0; r < chunk.rows; ++r) {
      for (int c : node.search_cols) {
        if (ContainsTerm(ValueToText(chunk.col(static_cast<size_t>(c)), r), node.term)) {
          idx.push_back(static_cast<uint32_t>(r));
          break;
        }
      }
    }
    if (idx.empty()) return OkStatus();
    return sink(GatherChunk(chunk, idx));
  });
}

}  // namespace

namespace {

// Rows per chunk when a large literal table (range) is handed out in slices.
constexpr size_t kValuesChunkRows = 64 * 1024;

// A large range (PlanNode::LazyRange), generated one slice at a time.
Status RunLazyRange(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  const PlanNode::LazyRange& r = *node.range;
  const Table& shape = node.values;
  for (uint64_t begin = 0; begin < r.rows; begin += kValuesChunkRows) {
    RETURN_IF_ERROR(CheckBudget(ctx));
    size_t n = static_cast<size_t>(std::min<uint64_t>(kValuesChunkRows, r.rows - begin));
    Column c(shape.columns[0].type);
    if (r.real) {
      c.reals.resize(n);
      for (size_t i = 0; i < n; ++i) c.reals[i] = r.rfrom + static_cast<double>(begin + i) * r.rstep;
    } else {
      c.ints.resize(n);
      // Two's-complement arithmetic: wrapping intermediate products are harmless, as in the
      // materialized form; every produced value lies between from and to.
      uint64_t x = static_cast<uint64_t>(r.from) + begin * static_cast<uint64_t>(r.step);
      for (size_t i = 0; i < n; ++i, x += static_cast<uint64_t>(r.step)) c.ints[i] = static_cast<int64_t>(x);
    }
    Table slice;
    slice.name = shape.name;
    slice.rows = n;
    slice.AddColumn(shape.names[0], std::move(c));
    RETURN_IF_ERROR(sink(Chunk::Own(std::move(slice))));
  }
  return OkStatus();
}

Status RunValues(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  if (node.range) return RunLazyRange(node, ctx, sink);
  const Table& t = node.values;
  if (t.rows == 0) return CheckBudget(ctx);
  // Small tables go out whole and uncopied (the plan outlives the run); a large range goes in
  // slices so that downstream operators see the deadline and `take` stops it early.
  if (t.rows <= kValuesChunkRows) {
    RETURN_IF_ERROR(CheckBudget(ctx));
    return sink(Chunk::View(t));
  }
  std::vector<uint32_t> idx;
  for (size_t begin = 0; begin < t.rows; begin += kValuesChunkRows) {
    RETURN_IF_ERROR(CheckBudget(ctx));
    size_t end = std::min(t.rows, begin + kValuesChunkRows);
    idx.resize(end - begin);
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<uint32_t>(begin + i);
    RETURN_IF_ERROR(sink(Chunk::Own(GatherTable(t, idx))));
  }
  return OkStatus();
}

// Thrown by a sort comparator whose query ran out of time; caught by SortPermutation.
struct SortAborted {};
}  // namespace

Result<std::vector<uint32_t>> SortPermutation(const std::vector<const Column*>& keys, const PlanNode& node,
                                              size_t rows, size_t limit, const ExecContext& ctx) {
  std::vector<uint32_t> perm(rows);
  for (size_t i = 0; i < rows; ++i) perm[i] = static_cast<uint32_t>(i);
  Status aborted;
  QueryBudget* budget = ctx.budget;
  uint32_t ticks = 0;  // a local counter stays in a register: the check costs ~nothing per compare
  auto less = [&](uint32_t a, uint32_t b) {
    // std::sort cannot be interrupted by a return value: the deadline check throws instead.
    if ((++ticks & 0xFFFF) == 0 && budget != nullptr) {
      if (Status s = budget->Check(); !s.ok()) {
        aborted = std::move(s);
        throw SortAborted{};
      }
    }
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
  try {
    if (limit < rows) {
      std::partial_sort(perm.begin(), perm.begin() + static_cast<ptrdiff_t>(limit), perm.end(), less);
      perm.resize(limit);
    } else {
      std::sort(perm.begin(), perm.end(), less);
    }
  } catch (const SortAborted&) {
    return aborted;
  }
  return perm;
}

Status Run(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  switch (node.kind) {
    case NodeKind::kScan: return RunScan(node, ctx, sink);
    case NodeKind::kValues: return RunValues(node, ctx, sink);
    case NodeKind::kFilter: return RunFilter(node, ctx, sink);
    case NodeKind::kProject: return RunProject(node, ctx, sink);
    case NodeKind::kSummarize: return RunSummarize(node, ctx, sink);
    case NodeKind::kSort: return RunSort(node, ctx, sink);
    case NodeKind::kTop: return RunTop(node, ctx, sink);
    case NodeKind::kTake: return RunTake(node, ctx, sink);
    case NodeKind::kJoin: return RunJoin(node, ctx, sink);
    case NodeKind::kUnion: return RunUnion(node, ctx, sink);
    case NodeKind::kMvExpand: return RunMvExpand(node, ctx, sink);
    case NodeKind::kParse: return RunParse(node, ctx, sink);
    case NodeKind::kMakeSeries: return RunMakeSeries(node, ctx, sink);
    case NodeKind::kSerialize: return RunSerialize(node, ctx, sink);
    case NodeKind::kSearchFilter: return RunSearchFilter(node, ctx, sink);
  }
  return Internal("unknown plan node");
}

Result<Table> RunToTable(const PlanNode& node, const ExecContext& ctx, MemoryReservation* held) {
  MemoryReservation local(ctx.budget, "materializing a table");
  if (held == nullptr) held = &local;
  Table out = EmptyTable(node.schema);
  RETURN_IF_ERROR(Run(node, ctx, [&](Chunk&& chunk) {
    RETURN_IF_ERROR(CheckBudget(ctx));
    RETURN_IF_ERROR(held->Grow(ApproxBytes(chunk)));
    AppendTable(out, std::move(chunk));
    return OkStatus();
  }));
  for (Column& c : out.columns) {
    c.Materialize(out.rows);
    DropStringNulls(c);
  }
  for (size_t i = 0; i < out.names.size() && i < node.schema.size(); ++i) out.names[i] = node.schema[i].name;
  out.name = node.name;
  return out;
}

// ---- Hash aggregation.

namespace {
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
}  // namespace

struct HashAggregation::State {
  const PlanNode* node = nullptr;
  const std::vector<BoundExpr>* keys = nullptr;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> groups;
  // The single-key maps are Boost's open-addressing flat maps: a group lookup per row, where
  // std::unordered_map's nodes cost a cache miss each.
  boost::unordered_flat_map<int64_t, uint32_t> int_groups;
  // Single string key: views of `key_values[0]`'s strings would move when it grows (short
  // strings live inside std::string), so the map's views point into `string_keys`, a deque
  // whose elements never move.
  boost::unordered_flat_map<std::string_view, uint32_t> string_groups;
  std::deque<std::string> string_keys;
  int64_t null_group = -1;
  std::vector<Column> key_values;
  std::vector<std::unique_ptr<Aggregator>> aggs;
  size_t num_groups = 0;
  std::vector<uint32_t> ids;
  std::string buf;
  size_t key_bytes = 0;  // strings held by the keys (key_values, string_keys, groups)
  std::unique_ptr<MemoryReservation> held;

  uint32_t NewGroup(const std::vector<const Column*>& k, size_t row) {
    for (size_t i = 0; i < k.size(); ++i) {
      key_values[i].AppendFrom(*k[i], row);
      if (UsesStrings(k[i]->type)) key_bytes += 2 * k[i]->Str(row).size();
    }
    return static_cast<uint32_t>(num_groups++);
  }
  void AssignStringIds(const std::vector<const Column*>& k, size_t rows) {
    const Column& c = *k[0];
    for (size_t r = 0; r < rows; ++r) {
      if (c.IsNull(r)) {  // dynamic null (strings are never null)
        if (null_group < 0) null_group = NewGroup(k, r);
        ids[r] = static_cast<uint32_t>(null_group);
        continue;
      }
      const std::string& v = c.Str(r);
      auto it = string_groups.find(std::string_view(v));
      if (it == string_groups.end()) {
        const std::string& stored = string_keys.emplace_back(v);
        it = string_groups.emplace(std::string_view(stored), NewGroup(k, r)).first;
      }
      ids[r] = it->second;
    }
  }
  void AssignIds(const std::vector<const Column*>& k, size_t rows) {
    ids.resize(rows);
    if (k.empty()) {
      std::fill(ids.begin(), ids.end(), 0);
      num_groups = 1;
      return;
    }
    if (k.size() == 1 && UsesStrings(k[0]->type)) return AssignStringIds(k, rows);
    if (k.size() == 1 && UsesInts(k[0]->type)) {
      const Column& c = *k[0];
      for (size_t r = 0; r < rows; ++r) {
        if (c.IsNull(r)) {
          if (null_group < 0) null_group = NewGroup(k, r);
          ids[r] = static_cast<uint32_t>(null_group);
          continue;
        }
        auto [it, inserted] = int_groups.try_emplace(c.Int(r), 0);
        if (inserted) it->second = NewGroup(k, r);
        ids[r] = it->second;
      }
      return;
    }
    for (size_t r = 0; r < rows; ++r) {
      buf.clear();
      for (const Column* c : k) EncodeKey(*c, r, buf);
      auto it = groups.find(std::string_view(buf));
      if (it == groups.end()) it = groups.emplace(buf, NewGroup(k, r)).first;
      ids[r] = it->second;
    }
  }
};

HashAggregation::HashAggregation(const PlanNode& node, const std::vector<BoundExpr>& keys)
    : s_(std::make_unique<State>()) {
  s_->node = &node;
  s_->keys = &keys;
  for (const BoundExpr& k : keys) s_->key_values.emplace_back(k.type);
  for (const BoundAggregate& a : node.aggs) s_->aggs.push_back(MakeAggregator(*a.def, a.types, a.params));
  if (keys.empty()) s_->num_groups = 1;
}

HashAggregation::~HashAggregation() = default;

Status HashAggregation::Consume(const Chunk& chunk, const ExecContext& ctx) {
  if (chunk.rows == 0) return OkStatus();
  ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(*s_->keys, chunk, ctx));
  s_->AssignIds(Pointers(keys), chunk.rows);
  FunctionContext fctx{chunk.rows, ctx.now, ctx.budget};
  for (size_t i = 0; i < s_->aggs.size(); ++i) {
    std::vector<ColumnValue> values;
    std::vector<const Column*> ptrs;
    for (const BoundExpr& a : s_->node->aggs[i].args) {
      ASSIGN_OR_RETURN(ColumnValue v, Eval(a, chunk, fctx));
      values.push_back(std::move(v));
    }
    for (ColumnValue& v : values) ptrs.push_back(&v.get());
    s_->aggs[i]->Update(ptrs, s_->ids, s_->num_groups);
  }
  // Per group: the hash entry and the key values (~64 bytes), and a few words per aggregate;
  // plus the strings and what grows with the values (lists, sets, percentiles).
  size_t bytes = s_->num_groups * (64 + 32 * (s_->keys->size() + s_->aggs.size())) + s_->key_bytes;
  for (const auto& a : s_->aggs) bytes += a->StateBytes();
  if (!s_->held) s_->held = std::make_unique<MemoryReservation>(ctx.budget, "summarize");
  RETURN_IF_ERROR(s_->held->Resize(bytes));
  return CheckBudget(ctx);
}

Table HashAggregation::Finish() {
  Table out;
  size_t n = s_->num_groups;
  out.rows = n;
  for (size_t i = 0; i < s_->key_values.size(); ++i) out.AddColumn("", std::move(s_->key_values[i]));
  for (auto& a : s_->aggs) {
    for (Column& c : a->Finish(n)) out.AddColumn("", std::move(c));
  }
  return out;
}

}  // namespace cmk::kql
