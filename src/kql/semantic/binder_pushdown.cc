// Scan push-down: the columns the operators above a scan need and the TimeGenerated bounds of
// its leading where clauses (ScanRequest).
#include <algorithm>
#include <cstdint>
#include <set>

#include "kql/exec/eval.h"
#include "kql/functions/aggregates.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {

namespace {

void CollectRefs(const BoundExpr& e, std::set<int>& out) {
  if (e.kind == BoundExpr::Kind::kColumn) out.insert(e.column);
  for (const BoundExpr& a : e.args) CollectRefs(a, out);
}

// Adds the TimeGenerated bounds `e` implies (conjunctions of comparisons with constants) to
// `scan`; true when they imply `e` itself (every conjunct is such a comparison).
bool TimeBounds(const BoundExpr& e, int col, ScanRequest& scan) {
  if (e.kind != BoundExpr::Kind::kCall) return false;
  std::string_view op = e.fn->name;
  if (op == "and") {
    bool all = true;
    for (const BoundExpr& a : e.args) all = TimeBounds(a, col, scan) && all;
    return all;
  }
  auto is_col = [&](const BoundExpr& b) { return b.kind == BoundExpr::Kind::kColumn && b.column == col; };
  auto is_time = [](const BoundExpr& b) {
    return b.IsConstant() && b.type == Type::kDateTime && !b.value.IsNull(0);
  };
  auto lower = [&](int64_t v) { scan.min_time = scan.min_time ? std::max(*scan.min_time, v) : v; };
  auto upper = [&](int64_t v) { scan.max_time = scan.max_time ? std::min(*scan.max_time, v) : v; };
  if (op == "between" && e.args.size() == 3 && is_col(e.args[0]) && is_time(e.args[1]) && is_time(e.args[2])) {
    lower(e.args[1].value.Int(0));
    upper(e.args[2].value.Int(0));
    return true;
  }
  if (e.args.size() != 2) return false;
  bool flipped = false;
  const BoundExpr* c = &e.args[1];
  if (!is_col(e.args[0]) || !is_time(*c)) {
    if (!is_col(e.args[1]) || !is_time(e.args[0])) return false;
    flipped = true;
    c = &e.args[0];
  }
  int64_t v = c->value.Int(0);
  std::string o(op);
  if (flipped) o = o == ">" ? "<" : o == ">=" ? "<=" : o == "<" ? ">" : o == "<=" ? ">=" : o;
  if (o == ">" && v < INT64_MAX) {
    lower(v + 1);
  } else if (o == ">=") {
    lower(v);
  } else if (o == "<" && v > INT64_MIN) {
    upper(v - 1);
  } else if (o == "<=") {
    upper(v);
  } else if (o == "==") {
    lower(v);
    upper(v);
  } else {
    return false;
  }
  return true;
}

// Removes from `e` the conjuncts that TimeBounds turns into bounds; true when nothing is left
// (all of `e` was such conjuncts).
bool DropTimeConjuncts(BoundExpr& e, int col) {
  ScanRequest unused;
  if (e.kind == BoundExpr::Kind::kCall && std::string_view(e.fn->name) == "and") {
    std::vector<BoundExpr> kept;
    for (BoundExpr& a : e.args) {
      if (!DropTimeConjuncts(a, col)) kept.push_back(std::move(a));
    }
    if (kept.empty()) return true;
    if (kept.size() == 1) {
      BoundExpr only = std::move(kept[0]);
      e = std::move(only);
    } else {
      e.args = std::move(kept);
    }
    return false;
  }
  return TimeBounds(e, col, unused);
}

}  // namespace

// Walks the operators fed by `scan`: while they keep the scan's columns at their indexes
// (where, extend, sort, top, take, serialize, project-rename) their references are collected;
// a closing operator (project, summarize, make-series, distinct, count) ends the walk with exactly the
// columns needed. Leading where clauses contribute TimeGenerated bounds.
void Binder::PushDown(PlanNode& scan, const std::vector<PlanNode*>& chain) {
  size_t width = scan.schema.size();
  int time_col = FindColumn(scan.schema, "TimeGenerated");
  bool exact_time = time_col >= 0 && scan.schema[static_cast<size_t>(time_col)].type == Type::kDateTime &&
                    ctx_.catalog != nullptr && ctx_.catalog->ExactTimeBounds();
  std::set<int> refs;
  bool closed = false, filters = true;
  const PlanNode* prev = &scan;
  for (PlanNode* top : chain) {
    // The node fed by `prev` (summarize under its post-projection, ...), else give up.
    PlanNode* n = top;
    while (n != nullptr && !(n->inputs.size() == 1 && n->inputs[0].get() == prev)) {
      n = n->inputs.size() == 1 ? n->inputs[0].get() : nullptr;
    }
    if (n == nullptr) break;
    prev = top;
    if (n != top && n->kind != NodeKind::kSummarize) break;
    if (n->kind == NodeKind::kFilter) {
      if (filters && time_col >= 0) {
        TimeBounds(n->predicate, time_col, scan.scan);
        // A catalog whose scans keep only the rows within the bounds answers these conjuncts
        // itself (`where TimeGenerated > ago(1d)` costs no comparison per row): they go.
        if (exact_time && DropTimeConjuncts(n->predicate, time_col)) {
          n->predicate = BoundExpr::Constant(IntConstant(Type::kBool, 1));
        }
      }
      CollectRefs(n->predicate, refs);
      continue;
    }
    if (n->kind == NodeKind::kProject && n->inputs[0]->schema.size() <= n->schema.size() &&
        n->exprs.size() == n->schema.size()) {
      // extend/project-rename keep the prefix; other projections close the walk.
      bool prefix = true;
      for (size_t i = 0; i < n->inputs[0]->schema.size() && prefix; ++i) {
        prefix = n->exprs[i].kind == BoundExpr::Kind::kColumn && n->exprs[i].column == static_cast<int>(i);
      }
      for (size_t i = 0; i < n->exprs.size(); ++i) {
        bool pass = prefix && i < n->inputs[0]->schema.size();
        if (!pass) CollectRefs(n->exprs[i], refs);
      }
      filters = false;
      if (prefix) continue;
      closed = true;
      break;
    }
    filters = false;
    if (n->kind == NodeKind::kSort || n->kind == NodeKind::kTop || n->kind == NodeKind::kTake ||
        n->kind == NodeKind::kSerialize) {
      for (const BoundExpr& e : n->exprs) CollectRefs(e, refs);
      continue;
    }
    if (n->kind == NodeKind::kProject) {
      for (const BoundExpr& e : n->exprs) CollectRefs(e, refs);
      closed = true;
    } else if (n->kind == NodeKind::kSummarize || n->kind == NodeKind::kMakeSeries) {
      for (const BoundExpr& e : n->exprs) CollectRefs(e, refs);
      for (const BoundAggregate& a : n->aggs) {
        for (const BoundExpr& e : a.args) CollectRefs(e, refs);
      }
      if (n->kind == NodeKind::kMakeSeries) CollectRefs(n->axis, refs);
      closed = true;
    }
    break;
  }
  if (!closed) return;
  scan.scan.columns.clear();
  for (int c : refs) {
    if (c >= 0 && static_cast<size_t>(c) < width) scan.scan.columns.push_back(scan.schema[static_cast<size_t>(c)].name);
  }
  if (scan.scan.columns.empty() && width > 0) {
    scan.scan.columns.push_back(scan.schema[0].name);
    scan.scan.rows_only = true;  // (nothing reads it: its rows are counted)
  }
}

namespace {

// Marks the columns `e` reads.
void NeedRefs(const BoundExpr& e, std::vector<bool>& need) {
  if (e.kind == BoundExpr::Kind::kColumn && e.column >= 0 && static_cast<size_t>(e.column) < need.size()) {
    need[static_cast<size_t>(e.column)] = true;
  }
  for (const BoundExpr& a : e.args) NeedRefs(a, need);
}

// Narrows a scan's columns to those marked (they were all of the schema, or those PushDown
// chose, which the walk above it confirms or narrows further). One column stays read so that
// rows are still counted.
void NarrowScan(PlanNode& scan, const std::vector<bool>& need) {
  std::vector<std::string> cols;
  for (size_t c = 0; c < scan.schema.size() && c < need.size(); ++c) {
    if (!need[c]) continue;
    const std::string& name = scan.schema[c].name;
    bool listed = scan.scan.columns.empty() ||
                  std::find(scan.scan.columns.begin(), scan.scan.columns.end(), name) != scan.scan.columns.end();
    if (listed) cols.push_back(name);
  }
  if (cols.empty() && !scan.scan.columns.empty()) cols.push_back(scan.scan.columns[0]);
  if (cols.empty() && !scan.schema.empty()) cols.push_back(scan.schema[0].name);
  scan.scan.columns = std::move(cols);
}

}  // namespace

// Top down from a result (every column needed): each node's needed output columns give its
// inputs' needed columns, down to the scans, which then read only those. PushDown sees the
// chain of one tabular expression; this pass sees through joins, unions and nested sources
// (`T | join kind=leftanti (U) on Computer | count` reads Computer alone from T).
void PruneColumns(PlanNode& n, std::vector<bool> need_out, std::vector<bool>* sub_input) {
  auto passthrough = [&](size_t width) {
    std::vector<bool> need(width, false);
    for (size_t i = 0; i < width && i < need_out.size(); ++i) need[i] = need_out[i];
    return need;
  };
  std::vector<std::vector<bool>> need_in;
  switch (n.kind) {
    case NodeKind::kScan:
      NarrowScan(n, need_out);
      return;
    case NodeKind::kSubInput:
      if (sub_input != nullptr) {
        sub_input->resize(std::max(sub_input->size(), need_out.size()), false);
        for (size_t i = 0; i < need_out.size(); ++i) (*sub_input)[i] = (*sub_input)[i] || need_out[i];
      }
      return;
    case NodeKind::kTopNested: {
      // Its levels' keys, and what their aggregates (summaries over kSubInput, inputs[1...])
      // read of its input.
      std::vector<bool> need(n.inputs[0]->schema.size(), false);
      for (const PlanNode::TopLevel& level : n.levels) NeedRefs(level.key, need);
      for (size_t i = 1; i < n.inputs.size(); ++i) {
        PruneColumns(*n.inputs[i], std::vector<bool>(n.inputs[i]->schema.size(), true), &need);
      }
      need.resize(n.inputs[0]->schema.size());
      PruneColumns(*n.inputs[0], std::move(need), sub_input);
      return;
    }
    case NodeKind::kFilter: {
      need_in.push_back(passthrough(n.inputs[0]->schema.size()));
      NeedRefs(n.predicate, need_in[0]);
      break;
    }
    case NodeKind::kProject: {
      need_in.emplace_back(n.inputs[0]->schema.size(), false);
      for (size_t i = 0; i < n.exprs.size(); ++i) {
        BoundExpr& e = n.exprs[i];
        if (i >= need_out.size() || need_out[i]) {
          NeedRefs(e, need_in[0]);
        } else if (e.kind != BoundExpr::Kind::kColumn && !e.IsConstant()) {
          // Nothing after it reads this column (and the scans below no longer read what only
          // it reads): a null of its type, not computed row by row (`extend b = tolower(Message),
          // l = strlen(Message) | where l > 200 | count` computed b for every row).
          Column null = Column::Constant(e.type);
          null.AppendNull();
          e = BoundExpr::Constant(std::move(null));
        }
      }
      break;
    }
    case NodeKind::kParse: {
      // The input's columns pass through, but those a pattern column replaces; the source's
      // references. Pattern columns nobody reads are marked unread (not built; once unread,
      // always: the scans below were narrowed by the same walk).
      size_t width = n.inputs[0]->schema.size();
      need_in.push_back(passthrough(width));
      size_t column = 0;
      for (const ParsePart& p : n.pattern) {
        if (p.kind != ParsePart::Kind::kColumn) continue;
        int c = FindColumn(n.schema, p.text);
        bool read = c < 0 || static_cast<size_t>(c) >= need_out.size() || need_out[static_cast<size_t>(c)];
        if (!n.kv) {
          n.unread.resize(std::max(n.unread.size(), column + 1), false);
          n.unread[column] = n.unread[column] || !read;
          if (c >= 0 && static_cast<size_t>(c) < width) need_in[0][static_cast<size_t>(c)] = false;  // replaced
        }
        ++column;
      }
      NeedRefs(n.predicate, need_in[0]);
      break;
    }
    case NodeKind::kSample:
      if (!n.exprs.empty()) {  // sample-distinct: its one column is computed from exprs[0]
        need_in.emplace_back(n.inputs[0]->schema.size(), false);
        NeedRefs(n.exprs[0], need_in[0]);
        break;
      }
      [[fallthrough]];
    case NodeKind::kSort:
    case NodeKind::kTop:
    case NodeKind::kTake:
    case NodeKind::kSerialize: {
      need_in.push_back(passthrough(n.inputs[0]->schema.size()));
      // serialize may extend its rows (row_number()...): those outputs read their references.
      for (size_t i = n.inputs[0]->schema.size(); i < need_out.size(); ++i) {
        if (need_out[i]) std::fill(need_in[0].begin(), need_in[0].end(), true);
      }
      for (const BoundExpr& e : n.exprs) NeedRefs(e, need_in[0]);
      break;
    }
    case NodeKind::kSummarize:
    case NodeKind::kMakeSeries: {
      need_in.emplace_back(n.inputs[0]->schema.size(), false);
      for (const BoundExpr& e : n.exprs) NeedRefs(e, need_in[0]);
      for (const BoundAggregate& a : n.aggs) {
        for (const BoundExpr& e : a.args) NeedRefs(e, need_in[0]);
      }
      if (n.kind == NodeKind::kMakeSeries) NeedRefs(n.axis, need_in[0]);
      break;
    }
    case NodeKind::kJoin: {
      const Schema& ls = n.inputs[0]->schema;
      const Schema& rs = n.inputs[1]->schema;
      need_in.emplace_back(ls.size(), false);
      need_in.emplace_back(rs.size(), false);
      bool right_only = n.join_kind == JoinKind::kRightAnti || n.join_kind == JoinKind::kRightSemi;
      auto wanted = [&](size_t i) { return i >= need_out.size() || need_out[i]; };
      if (right_only) {
        for (size_t c = 0; c < rs.size(); ++c) need_in[1][c] = wanted(c);
      } else {
        for (size_t c = 0; c < ls.size(); ++c) need_in[0][c] = wanted(c);
        for (size_t j = 0; j < n.right_out.size(); ++j) {
          auto c = static_cast<size_t>(n.right_out[j]);
          if (c < rs.size() && wanted(ls.size() + j)) need_in[1][c] = true;
        }
      }
      for (int k : n.left_keys) need_in[0][static_cast<size_t>(k)] = true;
      for (int k : n.right_keys) need_in[1][static_cast<size_t>(k)] = true;
      break;
    }
    case NodeKind::kUnion: {
      for (size_t l = 0; l < n.inputs.size(); ++l) {
        need_in.emplace_back(n.inputs[l]->schema.size(), false);
        if (l >= n.leg_maps.size()) {
          std::fill(need_in[l].begin(), need_in[l].end(), true);
          continue;
        }
        // Output column `first + i` <- the leg's column map[i] (withsource's column comes first).
        const std::vector<int>& map = n.leg_maps[l];
        size_t first = n.with_source ? 1 : 0;
        for (size_t i = 0; i < map.size(); ++i) {
          bool wanted = first + i >= need_out.size() || need_out[first + i];
          if (wanted && map[i] >= 0 && static_cast<size_t>(map[i]) < need_in[l].size()) {
            need_in[l][static_cast<size_t>(map[i])] = true;
          }
        }
      }
      break;
    }
    default:
      break;
  }
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (n.inputs[i] == nullptr) continue;
    // A subquery's own kSubInput (mv-apply's, partition's) stands for other rows than the
    // caller's: the caller's `sub_input` is passed to inputs[0] alone.
    PruneColumns(*n.inputs[i],
                 i < need_in.size() ? std::move(need_in[i]) : std::vector<bool>(n.inputs[i]->schema.size(), true),
                 i == 0 ? sub_input : nullptr);
  }
}

}  // namespace cmk::kql::internal
