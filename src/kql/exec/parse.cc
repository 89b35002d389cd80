// parse and parse-where. kind=simple and relaxed match the pattern's literals in order; kind=regex
// compiles the pattern into one RE2 regex whose columns are named groups (the user's own groups
// keep their numbers). The captured text converts with to<type>() semantics: kind=simple and
// regex are strict (a column that doesn't convert voids the whole row), relaxed is per column.
#include <algorithm>
#include <cctype>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"
#include "kql/functions/function_regex.h"
#include "kql/functions/function_util.h"

namespace cmk::kql {

namespace {

// Output rows between two charges of the captured text.
constexpr size_t kParseCheckRows = 4096;

// kind=simple: literals must appear in order; a column takes the text up to the next literal
// (or the rest of the string when it is last). Returns the captured text per column, or false.
bool MatchSimple(std::string_view text, const std::vector<ParsePart>& pattern,
                 std::vector<std::string_view>& captures) {
  captures.clear();
  size_t pos = 0;
  int pending = -1;  // -2: wildcard, >= 0: index of a column awaiting its end.
  const ParsePart* pending_part = nullptr;  // that column's part
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
      pending_part = &p;
    } else {
      if (pending >= 0) {  // a column before '*': numbers take their digits, strings nothing
        std::string_view rest = text.substr(pos);
        size_t n = 0;
        bool numeric = p.kind == ParsePart::Kind::kWildcard && !pending_part->type.empty() && pending_part->type != "string";
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

std::string_view TrimWhite(std::string_view s) {
  auto white = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && white(s.front())) s.remove_prefix(1);
  while (!s.empty() && white(s.back())) s.remove_suffix(1);
  return s;
}

// kind=regex: what a column of type `t` matches. Numbers take their digits; text and the types
// converted from free text take any run. Greedy by default, as the reference's examples show
// (its `resourceName ',' *` runs to the last comma); flags=U makes them lazy.
std::string_view ColumnRegex(Type t) {
  switch (t) {
    case Type::kInt:
    case Type::kLong: return R"([-+]?\d+)";
    case Type::kReal:
    case Type::kDecimal: return R"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)";
    default: return ".*";
  }
}

// The pattern as one regex: literals verbatim, '*' as `.*?`, column i as the group cmkparse<i>.
// `groups[i]` receives column i's group number.
Result<std::unique_ptr<RE2>> CompileParseRegex(const PlanNode& node, const std::vector<Type>& types,
                                               std::vector<int>& groups) {
  std::string re = node.regex_flags.empty() ? "" : "(?" + node.regex_flags + ")";
  size_t column = 0;
  for (const ParsePart& p : node.pattern) {
    if (p.kind == ParsePart::Kind::kLiteral) {
      re += fn::TranslateNamedGroups(p.text);
    } else if (p.kind == ParsePart::Kind::kColumn) {
      re += "(?P<cmkparse" + std::to_string(column) + ">" + std::string(ColumnRegex(types[column])) + ")";
      ++column;
    } else {
      re += ".*?";
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<RE2> compiled, fn::CompileRegex("parse", re));
  const std::map<std::string, int>& named = compiled->NamedCapturingGroups();
  groups.clear();
  for (size_t i = 0; i < column; ++i) {
    auto it = named.find("cmkparse" + std::to_string(i));
    if (it == named.end()) return InvalidArgument("parse: the regex pattern hides a column's group", "SemanticError");
    groups.push_back(it->second);
  }
  return compiled;
}

// Converts the built columns' captured text (null where the row didn't match) to their types;
// an unbuilt one is a null constant. A row whose capture doesn't convert is `failed`; in strict
// modes all its columns are voided. An unset string is "" (Kusto's strings are never null), any
// other type null.
std::vector<Column> ConvertCaptures(std::vector<Column> caps, const std::vector<Type>& types, bool strict,
                                    const std::vector<bool>& build, const FunctionContext& fctx,
                                    std::vector<bool>& failed) {
  size_t rows = fctx.rows;
  failed.assign(rows, false);
  std::vector<Column> outs;
  for (size_t i = 0; i < caps.size(); ++i) {
    if (!build[i]) {
      outs.push_back(NullConstant(types[i]));
      continue;
    }
    if (types[i] == Type::kString) {
      outs.push_back(std::move(caps[i]));
      continue;
    }
    outs.push_back(fn::Convert(caps[i], types[i], fctx));
    for (size_t r = 0; r < rows; ++r) {
      if (!caps[i].IsNull(r) && outs.back().IsNull(r)) failed[r] = true;
    }
  }
  for (Column& col : outs) {
    if (col.constant) continue;  // not built
    bool text = col.type == Type::kString;
    auto unset = [&](size_t r) { return (strict && failed[r]) || (text && col.IsNull(r)); };
    size_t r = 0;
    while (r < rows && !unset(r)) ++r;
    if (r == rows) continue;
    Column fixed(col.type);
    for (r = 0; r < rows; ++r) {
      if (!unset(r)) fixed.AppendFrom(col, r);
      else if (text) fixed.AppendString("");
      else fixed.AppendNull();
    }
    col = std::move(fixed);
  }
  return outs;
}

// Matches each row's text and appends the built columns' captured text to `caps` (null where
// the row doesn't match; an unbuilt column gets nothing). The text is charged to `held` as it
// grows: greedy columns may each copy most of a row.
Status CaptureRows(const PlanNode& node, const RE2* re, const std::vector<int>& group_of,
                   const std::vector<Type>& types, const std::vector<bool>& build, const Column& src,
                   size_t rows, const ExecContext& ctx, MemoryReservation& held, std::vector<Column>& caps,
                   std::vector<bool>& matched) {
  size_t held_bytes = 0;
  matched.assign(rows, false);
  std::vector<std::string_view> simple_caps;
  std::vector<re2::StringPiece> groups(re ? static_cast<size_t>(re->NumberOfCapturingGroups()) + 1 : 0);
  for (size_t i = 0; i < caps.size(); ++i) {
    if (build[i]) caps[i].StartPacked(rows, 0);  // the captures end to end: no string per value
  }
  const bool strings = UsesStrings(src.type);
  std::string scratch;  // the text of a value of another type
  for (size_t r = 0; r < rows; ++r) {
    std::string_view text;
    if (!strings) {
      scratch = ValueToText(src, r);
      text = scratch;
    } else if (!src.IsNull(r)) {
      text = src.Str(r);  // read in place: a copy per row was a malloc and a free
    }
    bool ok = re ? re->Match(text, 0, text.size(), RE2::UNANCHORED, groups.data(), static_cast<int>(groups.size()))
                 : MatchSimple(text, node.pattern, simple_caps);
    matched[r] = ok;
    for (size_t i = 0; i < caps.size(); ++i) {
      if (!build[i]) continue;
      if (!ok) {
        caps[i].AppendNull();
        continue;
      }
      const re2::StringPiece* g = re ? &groups[static_cast<size_t>(group_of[i])] : nullptr;
      std::string_view cap = g ? std::string_view(g->data(), g->size()) : simple_caps[i];
      // .NET's parsers (Kusto's) skip white space, newlines included, around a number or date.
      if (types[i] != Type::kString) cap = TrimWhite(cap);
      held_bytes += cap.size() + sizeof(std::string);
      caps[i].AppendPacked(cap);  // (as AppendString, without a std::string per value)
      if (caps[i].HasNulls()) caps[i].nulls.push_back(0);
    }
    if ((r + 1) % kParseCheckRows == 0) {
      RETURN_IF_ERROR(held.Resize(held_bytes));
      RETURN_IF_ERROR(CheckBudget(ctx));
    }
  }
  return held.Resize(held_bytes);
}

}  // namespace

CompiledParse::CompiledParse(const PlanNode& node) : node_(node) {}
CompiledParse::~CompiledParse() = default;

Result<std::shared_ptr<const CompiledParse>> CompiledParse::Compile(const PlanNode& node) {
  auto p = std::shared_ptr<CompiledParse>(new CompiledParse(node));
  size_t column = 0;
  for (const ParsePart& part : node.pattern) {
    if (part.kind != ParsePart::Kind::kColumn) continue;
    for (size_t c = 0; c < node.schema.size(); ++c) {
      if (node.schema[c].name != part.text) continue;
      p->targets_.push_back(static_cast<int>(c));
      p->types_.push_back(node.schema[c].type);
      // A column nobody reads (PruneColumns) is built only when strict conversion needs it: a
      // typed capture that doesn't convert voids its row's other columns (and parse-where's row).
      bool unread = column < node.unread.size() && node.unread[column];
      bool needed = !unread || (!node.relaxed && node.schema[c].type != Type::kString);
      p->build_.push_back(needed);
      p->built_ += needed ? 1 : 0;
    }
    ++column;
  }
  if (node.regex) {
    ASSIGN_OR_RETURN(std::unique_ptr<RE2> re, CompileParseRegex(node, p->types_, p->group_of_));
    p->free_.push_back(std::move(re));
  }
  return std::shared_ptr<const CompiledParse>(std::move(p));
}

std::unique_ptr<RE2> CompiledParse::TakeRegex() const {
  if (!node_.regex) return nullptr;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!free_.empty()) {
      std::unique_ptr<RE2> re = std::move(free_.back());
      free_.pop_back();
      return re;
    }
  }
  std::vector<int> groups;
  Result<std::unique_ptr<RE2>> re = CompileParseRegex(node_, types_, groups);
  return re.ok() ? std::move(*re) : nullptr;  // compiled once already: it compiles again
}

void CompiledParse::GiveBack(std::unique_ptr<RE2> re) const {
  if (re == nullptr) return;
  std::lock_guard<std::mutex> l(mu_);
  free_.push_back(std::move(re));
}

Result<Chunk> CompiledParse::Apply(Chunk&& chunk, const ExecContext& ctx) const {
  const PlanNode& node = node_;
  FunctionContext fctx{chunk.rows, ctx.now, ctx.budget};
  std::vector<Column> outs;
  std::vector<uint32_t> keep;  // parse-where keeps the rows that matched and converted
  if (built_ > 0 || node.filter) {
    ASSIGN_OR_RETURN(ColumnValue src, Eval(node.predicate, chunk, fctx));
    std::vector<Column> caps(targets_.size(), Column(Type::kString));
    std::vector<bool> matched;
    MemoryReservation held(ctx.budget, "parse");
    std::unique_ptr<RE2> re = TakeRegex();
    if (node.regex && re == nullptr) return Internal("parse: its regex no longer compiles");
    Status captured =
        CaptureRows(node, re.get(), group_of_, types_, build_, src.get(), chunk.rows, ctx, held, caps, matched);
    GiveBack(std::move(re));
    RETURN_IF_ERROR(captured);
    std::vector<bool> failed;
    outs = ConvertCaptures(std::move(caps), types_, !node.relaxed, build_, fctx, failed);
    for (size_t r = 0; r < chunk.rows; ++r) {
      if (matched[r] && !failed[r]) keep.push_back(static_cast<uint32_t>(r));
    }
  } else {
    // Nothing to build and every row goes on: no row need be matched.
    for (Type t : types_) outs.push_back(NullConstant(t));
  }
  if (node.filter && keep.size() < chunk.rows) {
    Chunk out;
    out.rows = keep.size();
    for (size_t c = 0; c < node.schema.size(); ++c) {
      auto it = std::find(targets_.begin(), targets_.end(), static_cast<int>(c));
      const Column& col = it != targets_.end() ? outs[static_cast<size_t>(it - targets_.begin())] : chunk.col(c);
      out.Add(col.constant ? col : Gather(col, keep));
    }
    return out;
  }
  // Input columns are shared; the parsed ones replace (or follow) them in the output.
  Chunk out;
  out.rows = chunk.rows;
  for (size_t c = 0; c < node.schema.size(); ++c) {
    auto it = std::find(targets_.begin(), targets_.end(), static_cast<int>(c));
    if (it != targets_.end()) out.Add(std::move(outs[static_cast<size_t>(it - targets_.begin())]));
    else out.AddShared(chunk.shared(c));
  }
  return out;
}

Status RunParse(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  if (node.kv) return RunParseKv(node, ctx, sink);
  ASSIGN_OR_RETURN(bool pushed, PushScanChain(node, ctx, sink));
  if (pushed) return OkStatus();
  ASSIGN_OR_RETURN(std::shared_ptr<const CompiledParse> parse, CompiledParse::Compile(node));
  return Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    ASSIGN_OR_RETURN(Chunk out, parse->Apply(std::move(chunk), ctx));
    if (out.rows == 0 && node.filter) return OkStatus();
    return sink(std::move(out));
  });
}

}  // namespace cmk::kql
