// parse and parse-where: kind=simple and relaxed match the pattern's literals in order, kind=regex compiles it
// into one RE2 regex; the captured text is converted to the columns' types.
#include <algorithm>
#include <cctype>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"
#include "kql/functions/function_regex.h"

namespace cmk::kql {

namespace {

// kind=simple: literals must appear in order; a column takes the text up to the next literal
// (or the rest of the string when it is last). Returns the captured text per column, or false.
bool MatchSimple(std::string_view text, const std::vector<ParsePart>& pattern,
                 std::vector<std::string_view>& captures) {
  captures.clear();
  std::vector<std::string> column_types;
  for (const ParsePart& p : pattern) {
    if (p.kind == ParsePart::Kind::kColumn) column_types.push_back(p.type);
  }
  size_t pos = 0;
  int pending = -1;  // -2: wildcard, >= 0: index of a column awaiting its end.
  for (const ParsePart& p : pattern) {
    if (p.kind == ParsePart::Kind::kLiteral) {
      size_t at = pending == -1 ? (text.substr(pos, p.text.size()) == p.text ? pos : std::string_view::npos)
                                : text.find(p.text, pos);
      if (at == std::string_view::npos) return false;
      if (pending >= 0) captures[static_cast<size_t>(pending)] = text.substr(pos, at - pos);
      pos = at + p.text.size();
      pending = -1;
    } else if (p.kind == ParsePart::Kind::kColumn) {
      captures.emplace_back();
      pending = static_cast<int>(captures.size()) - 1;
    } else {
      if (pending >= 0) {  // a column before '*': numbers take their digits, strings nothing
        std::string_view rest = text.substr(pos);
        size_t n = 0;
        bool numeric = p.kind == ParsePart::Kind::kWildcard && !column_types[static_cast<size_t>(pending)].empty() &&
                       column_types[static_cast<size_t>(pending)] != "string";
        while (numeric && n < rest.size() &&
               (std::isdigit(static_cast<unsigned char>(rest[n])) || (n == 0 && rest[n] == '-') || rest[n] == '.')) {
          ++n;
        }
        captures[static_cast<size_t>(pending)] = rest.substr(0, n);
        pos += n;
      }
      pending = -2;
    }
  }
  if (pending >= 0) captures[static_cast<size_t>(pending)] = text.substr(pos);
  return true;
}

std::string RegexOf(const std::vector<ParsePart>& pattern) {
  std::string re;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const ParsePart& p = pattern[i];
    bool last = i + 1 == pattern.size();
    if (p.kind == ParsePart::Kind::kLiteral) re += p.text;
    else if (p.kind == ParsePart::Kind::kColumn) re += last ? "(.*)" : "(.*?)";
    else re += ".*?";
  }
  return re;
}

// parse-where: only the rows in `keep` (those that matched and converted) go on.
Status SinkKept(const PlanNode& node, const std::vector<int>& targets, const Chunk& chunk,
                const std::vector<Column>& outs, const std::vector<uint32_t>& keep, const Sink& sink) {
  if (keep.empty()) return OkStatus();
  Chunk out;
  out.rows = keep.size();
  for (size_t c = 0; c < node.schema.size(); ++c) {
    auto it = std::find(targets.begin(), targets.end(), static_cast<int>(c));
    out.Add(Gather(it != targets.end() ? outs[static_cast<size_t>(it - targets.begin())] : chunk.col(c), keep));
  }
  return sink(std::move(out));
}

}  // namespace

Status RunParse(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  std::unique_ptr<RE2> re;
  if (node.regex) {
    std::string flags = node.regex_flags.empty() ? "" : "(?" + node.regex_flags + ")";
    ASSIGN_OR_RETURN(re, fn::CompileRegex("parse", flags + RegexOf(node.pattern)));
  }
  std::vector<int> targets;  // output column per pattern column
  for (const ParsePart& p : node.pattern) {
    if (p.kind != ParsePart::Kind::kColumn) continue;
    for (size_t c = 0; c < node.schema.size(); ++c) {
      if (node.schema[c].name == p.text) targets.push_back(static_cast<int>(c));
    }
  }
  return Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    FunctionContext fctx{chunk.rows, ctx.now, ctx.budget};
    ASSIGN_OR_RETURN(ColumnValue src, Eval(node.predicate, chunk, fctx));
    std::vector<Column> outs;
    for (int t : targets) outs.emplace_back(node.schema[static_cast<size_t>(t)].type);
    std::vector<std::string_view> caps;
    std::vector<uint32_t> keep;
    std::vector<re2::StringPiece> groups(re ? static_cast<size_t>(re->NumberOfCapturingGroups()) + 1 : 0);
    for (size_t r = 0; r < chunk.rows; ++r) {
      std::string text = ValueToText(src.get(), r);
      bool ok;
      if (re) {
        ok = re->Match(text, 0, text.size(), RE2::UNANCHORED, groups.data(), static_cast<int>(groups.size()));
        caps.clear();
        for (size_t i = 1; ok && i < groups.size(); ++i) caps.emplace_back(groups[i].data(), groups[i].size());
      } else {
        ok = MatchSimple(text, node.pattern, caps);
      }
      bool converted = ok;  // parse-where keeps the rows whose every column converts
      for (size_t i = 0; i < outs.size(); ++i) {
        if (ok && i < caps.size()) {
          AppendConverted(outs[i], caps[i], false);
          converted = converted && !outs[i].IsNull(r);
        } else {
          outs[i].AppendNull();
        }
      }
      if (converted) keep.push_back(static_cast<uint32_t>(r));
    }
    if (node.filter && keep.size() < chunk.rows) return SinkKept(node, targets, chunk, outs, keep, sink);
    // Input columns are shared; the parsed ones replace (or follow) them in the output.
    Chunk out;
    out.rows = chunk.rows;
    for (size_t c = 0; c < node.schema.size(); ++c) {
      auto it = std::find(targets.begin(), targets.end(), static_cast<int>(c));
      if (it != targets.end()) out.Add(std::move(outs[static_cast<size_t>(it - targets.begin())]));
      else out.AddShared(chunk.shared(c));
    }
    return sink(std::move(out));
  });
}

}  // namespace cmk::kql
