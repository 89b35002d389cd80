// join, lookup and union.
#include <unordered_map>

#include "kql/eval.h"
#include "kql/exec.h"

namespace cmk::kql {
namespace {

// Rows of `src` by `idx`, where -1 stands for a null row (outer joins).
Column GatherOrNull(const Column& src, const std::vector<int64_t>& idx) {
  Column out(src.type);
  out.Reserve(idx.size());
  for (int64_t i : idx) {
    if (i < 0) {
      out.AppendNull();
    } else {
      out.AppendFrom(src, static_cast<size_t>(i));
    }
  }
  DropStringNulls(out);
  return out;
}

// Encoded key of `row`, or false when a key is null (null keys never match).
bool KeyOf(const Table& t, const std::vector<int>& cols, size_t row, std::string& out) {
  out.clear();
  for (int c : cols) {
    const Column& col = t.columns[static_cast<size_t>(c)];
    if (col.IsNull(row)) return false;
    EncodeKey(col, row, out);
  }
  return true;
}

struct Matches {
  std::vector<int64_t> left, right;
};

Matches Match(const PlanNode& node, const Table& left, const Table& right) {
  std::unordered_map<std::string, std::vector<uint32_t>> build;
  std::string key;
  for (size_t r = 0; r < right.rows; ++r) {
    if (KeyOf(right, node.right_keys, r, key)) build[key].push_back(static_cast<uint32_t>(r));
  }
  JoinKind kind = node.join_kind;
  std::vector<uint8_t> right_hit(right.rows, 0);
  std::unordered_map<std::string, bool> seen_left;  // innerunique: first left row per key
  Matches m;
  for (size_t r = 0; r < left.rows; ++r) {
    const std::vector<uint32_t>* hits = nullptr;
    if (KeyOf(left, node.left_keys, r, key)) {
      if (kind == JoinKind::kInnerUnique && !seen_left.emplace(key, true).second) continue;
      auto it = build.find(key);
      if (it != build.end()) hits = &it->second;
    } else if (kind == JoinKind::kInnerUnique) {
      continue;
    }
    if (hits != nullptr) {
      for (uint32_t h : *hits) right_hit[h] = 1;
    }
    switch (kind) {
      case JoinKind::kLeftAnti:
        if (hits == nullptr) m.left.push_back(static_cast<int64_t>(r));
        break;
      case JoinKind::kLeftSemi:
        if (hits != nullptr) m.left.push_back(static_cast<int64_t>(r));
        break;
      case JoinKind::kRightAnti:
      case JoinKind::kRightSemi:
        break;
      default:
        if (hits != nullptr) {
          for (uint32_t h : *hits) {
            m.left.push_back(static_cast<int64_t>(r));
            m.right.push_back(h);
          }
        } else if (kind == JoinKind::kLeftOuter || kind == JoinKind::kFullOuter) {
          m.left.push_back(static_cast<int64_t>(r));
          m.right.push_back(-1);
        }
    }
  }
  for (size_t r = 0; r < right.rows; ++r) {
    bool hit = right_hit[r] != 0;
    if ((kind == JoinKind::kRightAnti && !hit) || (kind == JoinKind::kRightSemi && hit)) {
      m.right.push_back(static_cast<int64_t>(r));
    } else if ((kind == JoinKind::kRightOuter || kind == JoinKind::kFullOuter) && !hit) {
      m.left.push_back(-1);
      m.right.push_back(static_cast<int64_t>(r));
    }
  }
  return m;
}

}  // namespace

Status RunJoin(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  ASSIGN_OR_RETURN(Table left, RunToTable(*node.inputs[0], ctx));
  ASSIGN_OR_RETURN(Table right, RunToTable(*node.inputs[1], ctx));
  Matches m = Match(node, left, right);
  bool right_only = node.join_kind == JoinKind::kRightAnti || node.join_kind == JoinKind::kRightSemi;
  bool left_only = node.join_kind == JoinKind::kLeftAnti || node.join_kind == JoinKind::kLeftSemi;
  Table out;
  out.rows = right_only ? m.right.size() : m.left.size();
  if (out.rows == 0) return OkStatus();
  size_t col = 0;
  if (!right_only) {
    for (const Column& c : left.columns) out.AddColumn(node.schema[col++].name, GatherOrNull(c, m.left));
  }
  if (right_only) {
    for (const Column& c : right.columns) out.AddColumn(node.schema[col++].name, GatherOrNull(c, m.right));
  } else if (!left_only) {
    for (int c : node.right_out) {
      out.AddColumn(node.schema[col++].name, GatherOrNull(right.columns[static_cast<size_t>(c)], m.right));
    }
  }
  return sink(Chunk::Own(std::move(out)));
}

Status RunUnion(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  for (size_t leg = 0; leg < node.inputs.size(); ++leg) {
    const std::vector<int>& map = node.leg_maps[leg];
    RETURN_IF_ERROR(Run(*node.inputs[leg], ctx, [&](Chunk&& chunk) -> Status {
      Chunk out;
      out.rows = chunk.rows;
      size_t col = 0;
      if (node.with_source) {
        ++col;
        out.Add(StringConstant(Type::kString, node.leg_names[leg]));
      }
      for (int src : map) {
        const ColumnSchema& s = node.schema[col++];
        if (src >= 0) out.AddShared(chunk.shared(static_cast<size_t>(src)));
        else out.Add(NullConstant(s.type));
      }
      return sink(std::move(out));
    }));
  }
  return OkStatus();
}

}  // namespace cmk::kql
