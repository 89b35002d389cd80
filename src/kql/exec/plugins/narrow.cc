// narrow(): one row per cell of the input: Row (the row's index), Column (its name) and Value
// (its text, as tostring() gives it).
#include "kql/exec/eval.h"
#include "kql/exec/plugins/plugins.h"

namespace cmk::kql::plugins {

Result<Table> Narrow(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  if (!args.values.empty()) return InvalidArgument("narrow() takes no arguments", "SemanticError");
  Table out;
  out.AddColumn("Row", Column(Type::kLong));
  out.AddColumn("Column", Column(Type::kString));
  out.AddColumn("Value", Column(Type::kString));
  MemoryReservation held(ctx.budget, "narrow");
  size_t bytes = 0;
  for (size_t r = 0; r < input.rows; ++r) {
    for (size_t c = 0; c < input.columns.size(); ++c) {
      std::string text = ValueToText(input.columns[c], r);
      bytes += text.size() + input.names[c].size() + 80;
      out.columns[0].AppendInt(static_cast<int64_t>(r));
      out.columns[1].AppendString(input.names[c]);
      out.columns[2].AppendString(std::move(text));
    }
    if ((r & 1023) == 0) {
      RETURN_IF_ERROR(held.Resize(bytes));
      RETURN_IF_ERROR(CheckBudget(ctx));
    }
  }
  out.rows = out.columns[0].ints.size();
  return out;
}

}  // namespace cmk::kql::plugins
