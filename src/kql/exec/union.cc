// union: the legs' chunks in turn, their columns mapped onto the output schema (missing ones
// as null constants, withsource as a constant column); nothing is copied.
#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {

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
