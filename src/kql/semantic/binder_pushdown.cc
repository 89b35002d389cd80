// Scan push-down: the columns the operators above a scan need and the TimeGenerated bounds of
// its leading where clauses (ScanRequest).
#include <algorithm>
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

// TimeGenerated bounds implied by `pred` (conjunctions of comparisons with constants).
void TimeBounds(const BoundExpr& e, int col, ScanRequest& scan) {
  if (e.kind != BoundExpr::Kind::kCall) return;
  std::string_view op = e.fn->name;
  if (op == "and") {
    for (const BoundExpr& a : e.args) TimeBounds(a, col, scan);
    return;
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
    return;
  }
  if (e.args.size() != 2) return;
  bool flipped = false;
  const BoundExpr* c = &e.args[1];
  if (!is_col(e.args[0]) || !is_time(*c)) {
    if (!is_col(e.args[1]) || !is_time(e.args[0])) return;
    flipped = true;
    c = &e.args[0];
  }
  int64_t v = c->value.Int(0);
  std::string o(op);
  if (flipped) o = o == ">" ? "<" : o == ">=" ? "<=" : o == "<" ? ">" : o == "<=" ? ">=" : o;
  if (o == ">") lower(v + 1);
  if (o == ">=") lower(v);
  if (o == "<") upper(v - 1);
  if (o == "<=") upper(v);
  if (o == "==") {
    lower(v);
    upper(v);
  }
}

}  // namespace

// Walks the operators fed by `scan`: while they keep the scan's columns at their indexes
// (where, extend, sort, top, take, serialize, project-rename) their references are collected;
// a closing operator (project, summarize, make-series, distinct, count) ends the walk with exactly the
// columns needed. Leading where clauses contribute TimeGenerated bounds.
void Binder::PushDown(PlanNode& scan, const std::vector<PlanNode*>& chain) {
  size_t width = scan.schema.size();
  int time_col = FindColumn(scan.schema, "TimeGenerated");
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
      CollectRefs(n->predicate, refs);
      if (filters && time_col >= 0) TimeBounds(n->predicate, time_col, scan.scan);
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
  if (scan.scan.columns.empty() && width > 0) scan.scan.columns.push_back(scan.schema[0].name);
}

}  // namespace cmk::kql::internal
