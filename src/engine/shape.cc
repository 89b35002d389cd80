#include "engine/shape.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "kql/exec/eval.h"

namespace cmk::engine {
namespace {

using Source = ShapedColumn::Source;

void AppendText(BatchColumn& c, std::string_view v) { c.AppendString(v); }
void AppendText(kql::Column& c, std::string_view v) { c.AppendString(std::string(v)); }

// Row `r` of `in` (of `out`'s type), as kql::Column::AppendFrom does for either column kind.
template <class In, class Out>
void AppendSame(const In& in, size_t r, Out& out) {
  if (in.IsNull(r))
    out.AppendNull();
  else if (kql::UsesInts(out.type))
    out.AppendInt(in.Int(r));
  else if (kql::UsesReals(out.type))
    out.AppendReal(in.Real(r));
  else
    AppendText(out, in.Str(r));
}

// Row `r` of `in` converted to `out`'s type. The rules of the Logs Ingestion front end since
// issue 4: numbers become their text, longs reals, reals longs (truncated toward zero; out of
// long's range or NaN is null); every other pairing (e.g. text to a number) is null rather than
// a guess.
template <class In, class Out>
void AppendConverted(const In& in, size_t r, Out& out) {
  kql::Type type = out.type;
  if (in.IsNull(r)) {
    out.AppendNull();
  } else if (kql::UsesStrings(type)) {
    if (kql::UsesStrings(in.type))
      AppendText(out, in.Str(r));
    else if (kql::UsesReals(in.type))
      AppendText(out, std::to_string(in.Real(r)));
    else
      AppendText(out, std::to_string(in.Int(r)));
  } else if (kql::UsesReals(type) && kql::UsesInts(in.type)) {
    out.AppendReal(static_cast<double>(in.Int(r)));
  } else if (kql::UsesInts(type) && kql::UsesReals(in.type)) {
    double d = in.Real(r);
    if (d >= -0x1p63 && d < 0x1p63)
      out.AppendInt(static_cast<int64_t>(d));
    else
      out.AppendNull();
  } else if (kql::UsesInts(type) && kql::UsesInts(in.type)) {
    out.AppendInt(in.Int(r));
  } else {
    out.AppendNull();
  }
}

// The output column `s` of `rows` row by row: rows `sel` (all when null), `count` of them.
template <class OutColumn, class Rows>
OutColumn BuildColumn(const Rows& rows, const ShapedColumn& s, const std::vector<uint32_t>* sel,
                      size_t count) {
  OutColumn out(s.schema->type);
  out.Reserve(count);
  auto row = [&](size_t k) -> size_t { return sel != nullptr ? (*sel)[k] : k; };
  if (s.source == Source::kNull) {
    for (size_t k = 0; k < count; ++k) out.AppendNull();
  } else if (s.source == Source::kSame) {
    for (size_t k = 0; k < count; ++k) AppendSame(rows.columns[s.input], row(k), out);
  } else {
    for (size_t k = 0; k < count; ++k) AppendConverted(rows.columns[s.input], row(k), out);
  }
  return out;
}

// The options' TimeGenerated bounds over `rows`' time column: whether a row is inside (its time
// not null and in [lo, end); with no end, INT64_MAX kept too). Tested without a branch: a window
// through rows of random times would mispredict half of the branches. Nullopt when the bounds
// can drop no row (none given, or no integer TimeGenerated column).
template <class Col>
struct TimeWindow {
  const Col* t = nullptr;
  int64_t lo = INT64_MIN, end = INT64_MAX;
  bool open_end = true;
  bool Holds(int64_t v) const { return (v >= lo) & ((v < end) | open_end); }
  bool Keeps(size_t r) const {
    const bool inside = Holds(t->Int(r)), known = !t->IsNull(r);  // (both read: no branch)
    return known & inside;
  }
};
template <class Rows>
auto WindowOf(const Rows& rows, const ShapeOptions& o)
    -> std::optional<TimeWindow<std::remove_cvref_t<decltype(rows.columns[0])>>> {
  int tc = rows.Find("TimeGenerated");
  if (tc < 0 || (!o.min_time && !o.end_time) || !kql::UsesInts(rows.columns[tc].type)) return std::nullopt;
  return TimeWindow<std::remove_cvref_t<decltype(rows.columns[0])>>{
      &rows.columns[tc], o.min_time.value_or(INT64_MIN), o.end_time.value_or(INT64_MAX), !o.end_time};
}

// How many rows the options' TimeGenerated bounds keep (as SelectRows would select).
size_t CountRows(const kql::Table& rows, const ShapeOptions& o) {
  auto w = WindowOf(rows, o);
  if (!w) return rows.rows;
  size_t n = 0;
  if (w->t->constant || w->t->HasNulls()) {
    for (size_t r = 0; r < rows.rows; ++r) n += static_cast<size_t>(w->Keeps(r));
    return n;
  }
  const int64_t* v = w->t->ints.data();  // (no nulls: the values alone, a loop the compiler vectorizes)
  for (size_t r = 0; r < rows.rows; ++r) n += static_cast<size_t>(w->Holds(v[r]));
  return n;
}

// The rows kept by the options' TimeGenerated bounds; nullopt when every row is kept.
template <class Rows>
std::optional<std::vector<uint32_t>> SelectRows(const Rows& rows, const ShapeOptions& o) {
  auto w = WindowOf(rows, o);
  if (!w) return std::nullopt;
  // Every row's index written, the count advanced by its test.
  std::vector<uint32_t> sel(rows.rows);
  size_t n = 0;
  for (size_t r = 0; r < rows.rows; ++r) {
    sel[n] = static_cast<uint32_t>(r);
    n += static_cast<size_t>(w->Keeps(r));
  }
  if (n == rows.rows) return std::nullopt;
  sel.resize(n);
  return sel;
}

// Ingestion's defaults: TimeGenerated is the time of ingestion where the rows gave none, Type
// the table's name where it is empty (as Azure fills them).
void FillDefaults(BatchColumn& col, const kql::ColumnSchema& c, size_t rows,
                  const ShapeOptions& o) {
  if (!o.now) return;
  if (c.name == "TimeGenerated" && col.HasNulls() && kql::UsesInts(col.type)) {
    for (size_t r = 0; r < rows; ++r) {
      if (col.IsNull(r)) col.ints[r] = *o.now;
    }
    col.nulls.clear();  // none left
  }
  if (c.name == "Type" && c.type == kql::Type::kString) {
    bool empty = false;
    for (size_t r = 0; r < rows && !empty; ++r) empty = col.Str(r).empty();
    if (!empty) return;
    BatchColumn named(c.type);
    named.Reserve(rows);
    for (size_t r = 0; r < rows; ++r) {
      std::string_view v = col.Str(r);
      named.AppendString(v.empty() ? std::string_view(o.table) : v);
    }
    col = std::move(named);
  }
}

BatchColumn WholeColumn(const Batch& rows, int i) { return rows.columns[i]; }
BatchColumn WholeColumn(const kql::Table& rows, int i) {
  return ToBatchColumn(rows.columns[i], rows.rows);
}

// The ingestion form of every shaping: a Batch of the schema. `movable`: `rows` itself, whose
// columns may be moved out (its last use).
template <class Rows>
Batch ShapeToBatch(const Rows& rows, Batch* movable, const kql::Schema& schema,
                   const ShapeOptions& o) {
  ShapePlan plan = PlanShape(rows, schema, o);
  auto sel = SelectRows(rows, o);
  Batch out;
  out.name = o.table.empty() ? rows.name : o.table;
  out.rows = sel ? sel->size() : rows.rows;
  for (const ShapedColumn& s : plan.columns) {
    BatchColumn col;
    if (s.source == Source::kSame && !sel) {
      col = movable != nullptr ? std::move(movable->columns[s.input]) : WholeColumn(rows, s.input);
    } else {
      col = BuildColumn<BatchColumn>(rows, s, sel ? &*sel : nullptr, out.rows);
    }
    FillDefaults(col, *s.schema, out.rows, o);
    out.AddColumn(s.schema->name, std::move(col));
  }
  return out;
}

}  // namespace

template <class Rows>
ShapePlan PlanShape(const Rows& rows, const kql::Schema& schema, const ShapeOptions& options) {
  ShapePlan plan;
  for (const kql::ColumnSchema& c : schema) {
    if (!options.only.empty() &&
        std::find(options.only.begin(), options.only.end(), c.name) == options.only.end()) {
      continue;
    }
    ShapedColumn s{&c, rows.Find(c.name), Source::kNull};
    if (s.input >= 0) {
      kql::Type t = rows.columns[s.input].type;
      s.source = t == c.type ? Source::kSame : options.convert ? Source::kConvert : Source::kNull;
    }
    plan.superset = plan.superset && s.source == Source::kSame;
    plan.columns.push_back(s);
  }
  plan.same = plan.superset && plan.columns.size() == rows.columns.size();
  for (size_t i = 0; plan.same && i < plan.columns.size(); ++i)
    plan.same = plan.columns[i].input == static_cast<int>(i);
  return plan;
}

template ShapePlan PlanShape<Batch>(const Batch&, const kql::Schema&, const ShapeOptions&);
template ShapePlan PlanShape<kql::Table>(const kql::Table&, const kql::Schema&,
                                         const ShapeOptions&);

Batch ShapeRows(const Batch& rows, const kql::Schema& schema, const ShapeOptions& options) {
  return ShapeToBatch(rows, nullptr, schema, options);
}

Batch ShapeRows(Batch&& rows, const kql::Schema& schema, const ShapeOptions& options) {
  return ShapeToBatch(rows, &rows, schema, options);
}

Result<Batch> ShapeRows(const kql::Table& rows, const kql::Schema& schema,
                        const ShapeOptions& options) {
  RETURN_IF_ERROR(CheckBatchable(rows));
  return ShapeToBatch(rows, nullptr, schema, options);
}

std::shared_ptr<const kql::Table> ShapeRows(const std::shared_ptr<const kql::Table>& rows,
                                            const kql::Schema& schema,
                                            const ShapeOptions& options) {
  const kql::Table& in = *rows;
  ShapePlan plan = PlanShape(in, schema, options);
  if (options.counted) {
    auto out = std::make_shared<kql::Table>();
    out->name = in.name;
    out->rows = CountRows(in, options);
    for (const ShapedColumn& s : plan.columns) {
      kql::Column nulls = kql::Column::Constant(s.schema->type);
      nulls.AppendNull();
      out->AddColumn(s.schema->name, std::move(nulls));
    }
    return out;
  }
  auto sel = SelectRows(in, options);
  if (!sel && (plan.same || (plan.superset && !options.only.empty()))) return rows;
  auto out = std::make_shared<kql::Table>();
  out->name = in.name;
  out->rows = sel ? sel->size() : in.rows;
  for (const ShapedColumn& s : plan.columns) {
    if (s.source == Source::kSame && !sel) {
      out->AddColumn(s.schema->name, in.columns[s.input]);
    } else if (s.source == Source::kSame) {
      // The window's rows of a row group it cuts through: gathered (a dictionary-coded column
      // stays coded), not appended value by value.
      out->AddColumn(s.schema->name, kql::Gather(in.columns[s.input], *sel));
    } else {
      out->AddColumn(s.schema->name,
                     BuildColumn<kql::Column>(in, s, sel ? &*sel : nullptr, out->rows));
    }
  }
  return out;
}

}  // namespace cmk::engine
