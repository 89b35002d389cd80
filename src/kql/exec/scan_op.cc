// The scan operator: a state machine over the input rows in order (Kusto's scan-operator page).
// Each row is checked against the steps from the last to the first. At step k, check 1: the
// state of step k-1 holds a sequence and the row meets k's condition -> that sequence moves to k
// (replacing k's) with the row as k's record; else check 2: k holds a sequence (or k is the
// first step) and the row meets the condition -> the row replaces k's record (on the first step
// with no sequence, a new sequence and match id begin). A match outputs the row extended with
// the step's assignments (output=all), holds it back until the step's run of matches ends
// (output=last) or outputs nothing (output=none).
//
// Cost: per row at most two condition checks and one set of assignments per step, so linear in
// rows x steps. Conditions and assignments that read only the row's input columns run a chunk at
// a time; the others run over one-row "slot" columns refilled from the row and the state (a few
// values, never whole rows). The state keeps, per step, only the record columns some expression
// reads. Output is built in chunks of at most kFlushRows rows or kFlushBytes bytes.
#include <algorithm>
#include <memory>
#include <optional>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {
namespace {

constexpr size_t kFlushRows = 4096;
constexpr size_t kFlushBytes = size_t{4} << 20;
// The state is measured again once this much text was copied into its cells: a value that grows
// per row (s = strcat(s1.s, s1.s)) or is held by many steps must not outgrow the budget between
// the per-1,024-row checks.
constexpr size_t kRechargeBytes = size_t{1} << 20;

using Cells = std::vector<Column>;  // one-value columns

// A one-value column of type `t` (a plain string column keeps no null mask: Kusto strings are
// never null).
Column Cell(Type t) {
  Column c(t);
  c.AppendNull();
  if (t == Type::kString) c.nulls.clear();
  return c;
}

// dst (a Cell) <- src[row], widening integers to reals where the types differ and narrowing
// a long stored in an int column to 32 bits as toint() does. Returns the bytes of text copied:
// what a string cell may have grown by.
size_t SetCell(Column& dst, const Column& src, size_t row) {
  bool null = src.IsNull(row);
  if (dst.type != Type::kString) dst.nulls.assign(1, null ? 1 : 0);
  if (dst.type == Type::kInt) {
    int64_t v = null ? 0 : src.Int(row);
    dst.ints[0] = static_cast<int32_t>(static_cast<uint32_t>(v));
  } else if (UsesInts(dst.type)) {
    dst.ints[0] = null ? 0 : src.Int(row);
  } else if (UsesReals(dst.type)) {
    dst.reals[0] = null                 ? 0.0
                   : UsesInts(src.type) ? static_cast<double>(src.Int(row))
                                        : src.Real(row);
  } else {
    dst.strings[0] = src.Str(row);
    return dst.strings[0].size();
  }
  return 0;
}

size_t CellBytes(const Column& c) { return 16 + (UsesStrings(c.type) ? c.Str(0).size() + 32 : 8); }

size_t CellBytes(const Cells& cells) {
  size_t n = 0;
  for (const Column& c : cells) n += CellBytes(c);
  return n;
}

// A sequence in the state of one step: its match id and the records of the steps it went
// through (records[j]: step j's record, the columns of ScanRun::refs_[j]).
struct Sequence {
  bool active = false;
  int64_t id = 0;
  std::vector<Cells> records;
};

// A row held back by an output=last step: the input values, the declared ones, the match id.
struct Held {
  uint64_t order = 0;  // input row number: held rows left at the end come out in input order
  Cells input, declared;
  int64_t id = 0;
};

class ScanRun {
 public:
  ScanRun(const PlanNode& node, const ExecContext& ctx, const Sink& sink)
      : spec_(*node.scan_spec),
        node_(node),
        ctx_(ctx),
        sink_(sink),
        held_(ctx.budget, "scan"),
        state_(spec_.steps.size()),
        last_(spec_.steps.size()) {
    out_ = EmptyTable(node.schema);
    declared_ = spec_.defaults;
    size_t width = static_cast<size_t>(spec_.input_width) + spec_.defaults.size();
    const Schema& in = node.inputs[0]->schema;
    for (size_t c = 0; c < width; ++c) {
      empty_.push_back(c < in.size() ? Cell(in[c].type) : spec_.defaults[c - in.size()]);
    }
    input_over_.assign(empty_.begin(), empty_.begin() + static_cast<std::ptrdiff_t>(in.size()));
    over_.assign(in.size(), 0);
    refs_.resize(spec_.steps.size());
    for (const ScanSpec::Slot& sl : spec_.slots) {
      auto cell = std::make_shared<Column>(empty_[static_cast<size_t>(sl.column)]);
      slot_chunk_.AddShared(cell);
      slots_.push_back(cell);
      if (sl.step < 0) continue;
      std::vector<int>& r = refs_[static_cast<size_t>(sl.step)];
      if (std::find(r.begin(), r.end(), sl.column) == r.end()) r.push_back(sl.column);
    }
    slot_chunk_.rows = 1;
  }

  Status Consume(const Chunk& chunk);
  Status Finish();

 private:
  Status ProcessStep(size_t k, const Chunk& chunk, size_t row);
  Result<bool> Condition(size_t k, const Sequence& seq, size_t row);
  Status Assign(size_t k, const Sequence& seq, size_t row);
  void FillState(const Sequence& seq);
  void FillRecord(size_t k, const Chunk& chunk, size_t row, Cells& rec);
  // SetCell, counting the text copied (see kRechargeBytes).
  void Set(Column& dst, const Column& src, size_t row) { copied_ += SetCell(dst, src, row); }
  Status Matched(size_t k, const Chunk& chunk, size_t row, int64_t id);
  Status Emit(const Chunk* chunk, size_t row, const Cells* input, const Cells& declared,
              int64_t id);
  Status EmitHeld(size_t k);
  Status Flush();
  Status Charge();

  const ScanSpec& spec_;
  const PlanNode& node_;
  const ExecContext& ctx_;
  const Sink& sink_;
  MemoryReservation held_;  // the state and the output being built
  std::vector<Sequence> state_;
  std::vector<std::optional<Held>> last_;  // per output=last step
  // The declared values of the row being matched, and the input values its step assigns
  // (over_[c]: input column c is replaced by input_over_[c]); refilled in place per match.
  Cells declared_;
  Cells input_over_;
  std::vector<uint8_t> over_;
  std::vector<int> over_list_;
  std::vector<std::optional<ColumnValue>> values_row_;
  Cells empty_;  // per record column: its value with no record (null or the default)
  std::vector<std::vector<int>> refs_;  // per step: the record columns expressions read
  std::vector<std::shared_ptr<Column>> slots_;
  Chunk slot_chunk_;
  // Per chunk: conditions and assignments evaluated a chunk at a time (empty when per row).
  std::vector<std::optional<ColumnValue>> conds_;
  std::vector<std::vector<std::optional<ColumnValue>>> values_;
  Table out_;
  size_t out_bytes_ = 0, state_bytes_ = 0;
  size_t copied_ = 0;  // bytes of text copied into cells since the last Charge()
  int64_t next_id_ = 0;
  uint64_t row_number_ = 0;
};

Status ScanRun::Consume(const Chunk& chunk) {
  FunctionContext fctx{chunk.rows, ctx_.now, ctx_.budget};
  conds_.assign(spec_.steps.size(), std::nullopt);
  values_.assign(spec_.steps.size(), {});
  for (size_t k = 0; k < spec_.steps.size(); ++k) {
    const ScanSpec::Step& st = spec_.steps[k];
    if (!st.per_row) {
      ASSIGN_OR_RETURN(conds_[k], Eval(st.condition, chunk, fctx));
    }
    values_[k].resize(st.assignments.size());
    for (size_t a = 0; a < st.assignments.size(); ++a) {
      if (st.assignments[a].per_row) continue;
      ASSIGN_OR_RETURN(values_[k][a], Eval(st.assignments[a].value, chunk, fctx));
    }
  }
  for (size_t row = 0; row < chunk.rows; ++row, ++row_number_) {
    RETURN_IF_ERROR(TickBudget(ctx_));
    for (size_t i = 0; i < slots_.size(); ++i) {
      const ScanSpec::Slot& sl = spec_.slots[i];
      if (sl.step < 0 && sl.column < spec_.input_width)
        Set(*slots_[i], chunk.col(static_cast<size_t>(sl.column)), row);
    }
    for (size_t k = spec_.steps.size(); k-- > 0;) {
      RETURN_IF_ERROR(ProcessStep(k, chunk, row));
      if (copied_ >= kRechargeBytes) RETURN_IF_ERROR(Charge());
    }
    if ((row_number_ & 1023) == 0) RETURN_IF_ERROR(Charge());
  }
  return OkStatus();
}

// The state is at most steps^2/2 records of the columns expressions read (plus the held rows
// and the row being matched), so measuring it every 1,024 rows, or once kRechargeBytes of text
// were copied, is cheap; the output being built is counted as it grows.
Status ScanRun::Charge() {
  copied_ = 0;
  state_bytes_ = CellBytes(declared_) + CellBytes(input_over_);
  for (const std::shared_ptr<Column>& slot : slots_) state_bytes_ += CellBytes(*slot);
  for (const std::optional<ColumnValue>& v : values_row_) {
    if (v) state_bytes_ += CellBytes(v->get());
  }
  for (const Sequence& s : state_) {
    for (const Cells& r : s.records) state_bytes_ += CellBytes(r);
  }
  for (const std::optional<Held>& h : last_) {
    if (h) state_bytes_ += CellBytes(h->input) + CellBytes(h->declared);
  }
  return held_.Resize(state_bytes_ + out_bytes_);
}

Status ScanRun::ProcessStep(size_t k, const Chunk& chunk, size_t row) {
  if (k > 0 && state_[k - 1].active) {
    ASSIGN_OR_RETURN(bool match, Condition(k, state_[k - 1], row));
    if (match) {  // check 1: k-1's sequence moves on to k
      RETURN_IF_ERROR(Assign(k, state_[k - 1], row));
      RETURN_IF_ERROR(EmitHeld(k - 1));  // k-1's run of matches ends here
      RETURN_IF_ERROR(EmitHeld(k));      // the sequence k held is dropped
      state_[k] = std::move(state_[k - 1]);
      state_[k - 1] = Sequence{};
      state_[k].records.resize(k + 1);
      FillRecord(k, chunk, row, state_[k].records[k]);
      return Matched(k, chunk, row, state_[k].id);
    }
  }
  if (k > 0 && !state_[k].active) return OkStatus();
  ASSIGN_OR_RETURN(bool match, Condition(k, state_[k], row));
  if (!match) return OkStatus();
  // check 2: the row replaces k's record (a new sequence on the first step with none).
  RETURN_IF_ERROR(Assign(k, state_[k], row));
  Sequence& seq = state_[k];
  if (!seq.active) {
    seq.active = true;
    seq.id = next_id_++;
    seq.records.resize(1);
  }
  FillRecord(k, chunk, row, seq.records[k]);
  return Matched(k, chunk, row, seq.id);
}

Result<bool> ScanRun::Condition(size_t k, const Sequence& seq, size_t row) {
  const ScanSpec::Step& st = spec_.steps[k];
  if (!st.per_row) return IsTrue(conds_[k]->get(), row);
  FillState(seq);
  ASSIGN_OR_RETURN(ColumnValue v,
                   Eval(st.condition, slot_chunk_, FunctionContext{1, ctx_.now, ctx_.budget}));
  return IsTrue(v.get(), 0);
}

// declared_ <- the defaults, then the step's assignments.
Status ScanRun::Assign(size_t k, const Sequence& seq, size_t row) {
  const ScanSpec::Step& st = spec_.steps[k];
  for (size_t d = 0; d < declared_.size(); ++d) Set(declared_[d], spec_.defaults[d], 0);
  for (int c : over_list_) over_[static_cast<size_t>(c)] = 0;
  over_list_.clear();
  bool filled = false;
  // Every value is computed before any is stored: an assignment reads the row before the step.
  std::vector<std::optional<ColumnValue>>& per_row = values_row_;
  per_row.assign(st.assignments.size(), std::nullopt);
  for (size_t a = 0; a < st.assignments.size(); ++a) {
    if (!st.assignments[a].per_row) continue;
    if (!filled) FillState(seq);
    filled = true;
    ASSIGN_OR_RETURN(per_row[a], Eval(st.assignments[a].value, slot_chunk_,
                                      FunctionContext{1, ctx_.now, ctx_.budget}));
  }
  for (size_t a = 0; a < st.assignments.size(); ++a) {
    int c = st.assignments[a].column;
    if (c < spec_.input_width && !over_[static_cast<size_t>(c)]) {
      over_[static_cast<size_t>(c)] = 1;
      over_list_.push_back(c);
    }
    Column& dst = c < spec_.input_width ? input_over_[static_cast<size_t>(c)]
                                        : declared_[static_cast<size_t>(c - spec_.input_width)];
    if (per_row[a]) {
      Set(dst, per_row[a]->get(), 0);
    } else {
      Set(dst, values_[k][a]->get(), row);
    }
  }
  return OkStatus();
}

// The slots of step records <- `seq`'s records (null or the default where it has none).
void ScanRun::FillState(const Sequence& seq) {
  for (size_t i = 0; i < slots_.size(); ++i) {
    const ScanSpec::Slot& sl = spec_.slots[i];
    if (sl.step < 0) continue;
    size_t j = static_cast<size_t>(sl.step);
    const Column* src = &empty_[static_cast<size_t>(sl.column)];
    if (seq.active && j < seq.records.size()) {
      const std::vector<int>& r = refs_[j];
      size_t at = static_cast<size_t>(std::find(r.begin(), r.end(), sl.column) - r.begin());
      src = &seq.records[j][at];
    }
    Set(*slots_[i], *src, 0);
  }
}

// Step k's record of the row (in place: a step matched again reuses its cells).
void ScanRun::FillRecord(size_t k, const Chunk& chunk, size_t row, Cells& rec) {
  const std::vector<int>& refs = refs_[k];
  if (rec.size() != refs.size()) {
    rec.clear();
    for (int c : refs) {
      rec.push_back(empty_[static_cast<size_t>(c)]);
      copied_ += CellBytes(rec.back());
    }
  }
  for (size_t i = 0; i < refs.size(); ++i) {
    int c = refs[i];
    if (c < spec_.input_width && over_[static_cast<size_t>(c)]) {
      Set(rec[i], input_over_[static_cast<size_t>(c)], 0);
    } else if (c < spec_.input_width) {
      Set(rec[i], chunk.col(static_cast<size_t>(c)), row);
    } else {
      Set(rec[i], declared_[static_cast<size_t>(c - spec_.input_width)], 0);
    }
  }
}

Status ScanRun::Matched(size_t k, const Chunk& chunk, size_t row, int64_t id) {
  switch (spec_.steps[k].output) {
    case ScanSpec::Output::kAll:
      return Emit(&chunk, row, nullptr, declared_, id);
    case ScanSpec::Output::kNone:
      return OkStatus();
    case ScanSpec::Output::kLast:
      break;
  }
  // Replaces the previous match of this run (never output); output when the run ends.
  Held h;
  h.order = row_number_;
  for (size_t c = 0; c < static_cast<size_t>(spec_.input_width); ++c) {
    h.input.push_back(empty_[c]);
    if (over_[c]) {
      Set(h.input.back(), input_over_[c], 0);
    } else {
      Set(h.input.back(), chunk.col(c), row);
    }
  }
  h.declared = declared_;
  copied_ += CellBytes(h.declared);
  h.id = id;
  last_[k] = std::move(h);
  return OkStatus();
}

Status ScanRun::EmitHeld(size_t k) {
  if (!last_[k]) return OkStatus();
  Held h = std::move(*last_[k]);
  last_[k].reset();
  return Emit(nullptr, 0, &h.input, h.declared, h.id);
}

Status ScanRun::Emit(const Chunk* chunk, size_t row, const Cells* input, const Cells& declared,
                     int64_t id) {
  size_t c = 0;
  for (; c < static_cast<size_t>(spec_.input_width); ++c) {
    bool live = chunk != nullptr && !over_[c];
    const Column& src = live ? chunk->col(c) : chunk != nullptr ? input_over_[c] : (*input)[c];
    size_t at = live ? row : 0;
    out_.columns[c].AppendFrom(src, at);
    out_bytes_ += UsesStrings(src.type) ? src.Str(at).size() + 32 : 8;
  }
  for (const Column& d : declared) {
    out_.columns[c++].AppendFrom(d, 0);
    out_bytes_ += UsesStrings(d.type) ? d.Str(0).size() + 32 : 8;
  }
  if (spec_.match_id) out_.columns[c].AppendInt(id);
  if (++out_.rows >= kFlushRows || out_bytes_ >= kFlushBytes) return Flush();
  return OkStatus();
}

Status ScanRun::Flush() {
  if (out_.rows == 0) return OkStatus();
  RETURN_IF_ERROR(Charge());
  for (Column& col : out_.columns) DropStringNulls(col);
  Table t = std::move(out_);
  out_ = EmptyTable(node_.schema);
  out_bytes_ = 0;
  RETURN_IF_ERROR(sink_(Chunk::Own(std::move(t))));
  return held_.Resize(state_bytes_);
}

Status ScanRun::Finish() {
  // Runs of output=last matches still open at the end: their last rows, in input order.
  std::vector<size_t> open;
  for (size_t k = 0; k < last_.size(); ++k) {
    if (last_[k]) open.push_back(k);
  }
  std::sort(open.begin(), open.end(),
            [&](size_t a, size_t b) { return last_[a]->order < last_[b]->order; });
  for (size_t k : open) RETURN_IF_ERROR(EmitHeld(k));
  return Flush();
}

}  // namespace

Status RunScanOperator(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  ScanRun run(node, ctx, sink);
  RETURN_IF_ERROR(Run(*node.inputs[0], ctx, [&](Chunk&& chunk) { return run.Consume(chunk); }));
  return run.Finish();
}

}  // namespace cmk::kql
